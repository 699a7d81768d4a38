/**
 * Everything that differs between MySQL and MariaDB lives here: version parsing, GTID variables,
 * binlog status statements, backup locks, binlog tools. Nothing else branches on the flavor.
 */
import { MysqlError, PreconditionError } from '../errors.js';
import type { MysqlSession } from './connection.js';

export type FlavorName = 'mysql' | 'mariadb';

export interface ServerVersion {
  major: number;
  minor: number;
  patch: number;
}

export interface ServerInfo {
  flavor: FlavorName;
  /** `@@version` as the server reports it, e.g. `10.11.19-MariaDB-0+deb12u1-log`. */
  version: string;
  versionNumber: ServerVersion;
  hostname: string;
  serverId: number;
  /** `@@server_uuid` on MySQL; MariaDB has none. */
  serverUuid: string | null;
}

export interface BinlogPosition {
  file: string;
  position: number;
}

export interface Flavor {
  readonly info: ServerInfo;
  /** The program that reads binary logs for this server. */
  readonly binlogTool: 'mariadb-binlog' | 'mysqlbinlog';
  /** The command-line client that runs what the binlog tool prints. */
  readonly clientTool: 'mariadb' | 'mysql';
  /** The set of executed transactions, in the flavor's own notation ('' when GTIDs are off). */
  readGtidExecuted(session: MysqlSession): Promise<string>;
  /** The current binlog file and position, or null when binary logging is off. */
  readBinlogPosition(session: MysqlSession): Promise<BinlogPosition | null>;
  /**
   * Takes the global read lock that makes every session's snapshot start at the same point.
   * Throws PreconditionError naming the missing privilege or the lock wait.
   */
  lockForSnapshot(session: MysqlSession, options: { lockWaitTimeoutSeconds: number }): Promise<void>;
  /**
   * Blocks DDL (not DML) for as long as `session` stays open, so table definitions cannot change
   * under a running dump. Returns false when the server or the account cannot do it.
   */
  blockDdl(session: MysqlSession, options: { lockWaitTimeoutSeconds: number }): Promise<boolean>;
  /** Releases what blockDdl took. */
  unblockDdl(session: MysqlSession): Promise<void>;
  /** Schemas that are never dumped. */
  readonly systemSchemas: readonly string[];
}

export function parseServerVersion(version: string): ServerVersion {
  // MariaDB 10.x–11.x may report a "5.5.5-" prefix over the wire for old clients.
  const cleaned = version.replace(/^5\.5\.5-/, '');
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(cleaned);
  if (!m) throw new MysqlError('MYSQL_VERSION_UNKNOWN', `cannot read the server version from "${version}"`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export function flavorOf(version: string, versionComment: string): FlavorName {
  return /mariadb/i.test(version) || /mariadb/i.test(versionComment) ? 'mariadb' : 'mysql';
}

function atLeast(v: ServerVersion, major: number, minor: number, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

const commonSystemSchemas = ['information_schema', 'mysql', 'performance_schema', 'sys'];

export async function detectFlavor(session: MysqlSession): Promise<Flavor> {
  const [row] = await session.query<{ version: string; comment: string; hostname: string; serverId: string | number }>(
    'SELECT @@version AS version, @@version_comment AS comment, @@hostname AS hostname, @@server_id AS serverId',
  );
  if (!row) throw new MysqlError('MYSQL_VERSION_UNKNOWN', 'the server did not report its version');
  const name = flavorOf(row.version, row.comment);
  let serverUuid: string | null = null;
  if (name === 'mysql') {
    const [u] = await session.query<{ uuid: string }>('SELECT @@server_uuid AS uuid');
    serverUuid = u?.uuid ?? null;
  }
  const info: ServerInfo = {
    flavor: name,
    version: row.version,
    versionNumber: parseServerVersion(row.version),
    hostname: row.hostname,
    serverId: Number(row.serverId),
    serverUuid,
  };
  return name === 'mariadb' ? mariadbFlavor(info) : mysqlFlavor(info);
}

async function readMasterStatus(session: MysqlSession, statement: string): Promise<BinlogPosition | null> {
  let rows: Array<{ File?: string; Position?: string | number }>;
  try {
    rows = await session.query(statement);
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') {
      throw new MysqlError('MYSQL_PRIVILEGE_MISSING', `${statement} was refused: ${err.message}`, {
        cause: err,
        hint: 'grant the privilege that reads binlog coordinates (MariaDB: BINLOG MONITOR; MySQL: REPLICATION CLIENT)',
      });
    }
    throw err;
  }
  const r = rows[0];
  if (!r?.File) return null;
  return { file: r.File, position: Number(r.Position) };
}

async function flushTablesWithReadLock(session: MysqlSession, lockWaitTimeoutSeconds: number): Promise<void> {
  await session.exec(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(lockWaitTimeoutSeconds))}`);
  try {
    // Closing idle tables first shortens the time FTWRL itself blocks writers.
    await session.exec('FLUSH NO_WRITE_TO_BINLOG TABLES');
    await session.exec('FLUSH TABLES WITH READ LOCK');
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') {
      throw new PreconditionError('SNAPSHOT_PRIVILEGE_MISSING', `a consistent dump needs FLUSH TABLES WITH READ LOCK, which was refused: ${err.message}`, {
        cause: err,
        hint: "grant it with GRANT RELOAD ON *.* TO '<user>'@'<host>'; or set dump.consistent: false on the profile (the dump is then not a single point in time)",
      });
    }
    if (err instanceof MysqlError && /lock wait timeout/i.test(err.message)) {
      throw new PreconditionError('SNAPSHOT_LOCK_TIMEOUT', `the global read lock could not be obtained within ${lockWaitTimeoutSeconds}s: a long-running statement or lock holds it`, {
        cause: err,
        hint: 'find the blocking statement with SHOW PROCESSLIST, wait for it to end, and run again',
      });
    }
    throw err;
  }
}

function mariadbFlavor(info: ServerInfo): Flavor {
  const hasBackupStages = atLeast(info.versionNumber, 10, 4);
  return {
    info,
    binlogTool: 'mariadb-binlog',
    clientTool: 'mariadb',
    systemSchemas: commonSystemSchemas,
    async readGtidExecuted(session) {
      const [r] = await session.query<{ gtid: string | null }>('SELECT @@global.gtid_binlog_pos AS gtid');
      return r?.gtid ?? '';
    },
    readBinlogPosition: (session) => readMasterStatus(session, 'SHOW MASTER STATUS'),
    lockForSnapshot: (session, o) => flushTablesWithReadLock(session, o.lockWaitTimeoutSeconds),
    async blockDdl(session, o) {
      if (!hasBackupStages) return false;
      try {
        await session.exec(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(o.lockWaitTimeoutSeconds))}`);
        await session.exec('BACKUP STAGE START');
        await session.exec('BACKUP STAGE BLOCK_DDL');
        return true;
      } catch (err) {
        if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') return false;
        throw err;
      }
    },
    async unblockDdl(session) {
      await session.exec('BACKUP STAGE END');
    },
  };
}

function mysqlFlavor(info: ServerInfo): Flavor {
  const v = info.versionNumber;
  const statusStatement = atLeast(v, 8, 2) ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS';
  return {
    info,
    binlogTool: 'mysqlbinlog',
    clientTool: 'mysql',
    systemSchemas: [...commonSystemSchemas, 'ndbinfo'],
    async readGtidExecuted(session) {
      const [r] = await session.query<{ gtid: string | null }>('SELECT @@global.gtid_executed AS gtid');
      return (r?.gtid ?? '').replace(/\s+/g, '');
    },
    readBinlogPosition: (session) => readMasterStatus(session, statusStatement),
    lockForSnapshot: (session, o) => flushTablesWithReadLock(session, o.lockWaitTimeoutSeconds),
    async blockDdl(session, o) {
      if (!atLeast(v, 8, 0)) return false;
      try {
        await session.exec(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(o.lockWaitTimeoutSeconds))}`);
        // Needs BACKUP_ADMIN; without it the dump still works, but DDL is not held off.
        await session.exec('LOCK INSTANCE FOR BACKUP');
        return true;
      } catch (err) {
        if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') return false;
        throw err;
      }
    },
    async unblockDdl(session) {
      await session.exec('UNLOCK INSTANCE');
    },
  };
}
