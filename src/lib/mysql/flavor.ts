/**
 * Everything that differs between MySQL and MariaDB lives here: version parsing, GTID variables,
 * binlog status statements, backup locks, binlog tools. Nothing else branches on the flavor.
 */
import { InternalError, MysqlError, PreconditionError } from '../errors.js';
import { quoteId, quoteString, type MysqlSession } from './connection.js';

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

/** An account or role of the server, as information_schema and SHOW GRANTS name it. */
export interface ServerAccount {
  user: string;
  host: string;
  /** A role (MariaDB CREATE ROLE); MySQL roles are accounts. */
  role: boolean;
}

/** What recreates an account: its CREATE statement, its grants, and its default roles. */
export interface AccountStatements {
  create: string;
  grants: string[];
  defaultRoles: string[];
}

/** A statement in progress on some session, as information_schema.PROCESSLIST shows it. */
export interface RunningStatement {
  /** The connection (thread) id, as `KILL QUERY` takes it. */
  connectionId: number;
  user: string;
  /** The client's host (and port), as the process list shows it. */
  host: string;
  /** How long the statement has been running, in seconds (MariaDB: to the millisecond; MySQL: whole seconds). */
  seconds: number;
  /** The statement's text, cut to its first 1000 characters. */
  text: string;
}

/** How long a lock statement may wait. */
export interface LockWaitOptions {
  /**
   * How long the lock may wait, in seconds. The servers count `lock_wait_timeout` in whole
   * seconds (MySQL: at least 1), so the wait is this rounded up, and at least 1 s.
   */
  lockWaitTimeoutSeconds: number;
}

/**
 * A lock was not granted within its `lock_wait_timeout` and the statement gave up (nothing is
 * held). `lock` names the statement, e.g. "the global read lock (FLUSH TABLES WITH READ LOCK)".
 */
export class LockWaitTimeoutError extends PreconditionError {
  readonly lock: string;
  /** The lock_wait_timeout it waited, in whole seconds. */
  readonly waitedSeconds: number;

  constructor(lock: string, waitedSeconds: number, options: { cause?: unknown } = {}) {
    super('SNAPSHOT_LOCK_TIMEOUT', `${lock} was not granted within ${waitedSeconds}s`, {
      ...options,
      hint: 'find what holds it with SHOW PROCESSLIST, wait for it to end, and run again',
      retryable: true,
    });
    this.lock = lock;
    this.waitedSeconds = waitedSeconds;
  }
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
   * Takes the global read lock that makes every session's snapshot start at the same point,
   * waiting at most `lockWaitTimeoutSeconds` (rounded up to whole seconds) for it, since every
   * write on the server waits behind a lock request that waits. Throws PreconditionError
   * SNAPSHOT_PRIVILEGE_MISSING when the account may not take it, LockWaitTimeoutError when it was
   * not granted in time (then nothing is held).
   */
  lockForSnapshot(session: MysqlSession, options: LockWaitOptions): Promise<void>;
  /**
   * Blocks DDL (not DML) for as long as `session` stays open, so table definitions cannot change
   * under a running dump. Returns false when the server or the account cannot do it. Waits at
   * most `lockWaitTimeoutSeconds` (rounded up) for running DDL or another backup's lock, then
   * throws LockWaitTimeoutError; what it may have taken is released by unblockDdl.
   */
  blockDdl(session: MysqlSession, options: LockWaitOptions): Promise<boolean>;
  /** Releases what blockDdl took. */
  unblockDdl(session: MysqlSession): Promise<void>;
  /**
   * Statements in progress that FLUSH TABLES WITH READ LOCK would wait for, running for at
   * least `minSeconds`, the longest-running first; read from information_schema.PROCESSLIST.
   * Idle sessions, replication and other system threads, and the sessions in
   * `ignoreConnectionIds` (the backup's own) are left out. On MySQL, and MariaDB before 10.4,
   * every statement counts, reads too, because the lock must close every table in use; MariaDB
   * 10.4+ does not wait for plain reads, so SELECT, WITH, SHOW, EXPLAIN and DESCRIBE statements
   * (without FOR UPDATE) are left out there. Without the PROCESS privilege the server lists only
   * the account's own sessions.
   */
  readLockBlockers(session: MysqlSession, options: { minSeconds: number; ignoreConnectionIds: readonly number[] }): Promise<RunningStatement[]>;
  /** Schemas that are never dumped. */
  readonly systemSchemas: readonly string[];
  /**
   * The accounts and roles to dump, system accounts left out (MySQL Shell leaves out
   * mysql.infoschema, mysql.session and mysql.sys; MariaDB has mariadb.sys). Throws
   * PreconditionError when the account may not read them.
   */
  listAccounts(session: MysqlSession): Promise<ServerAccount[]>;
  /** The statements that recreate `account` on another server. */
  accountStatements(session: MysqlSession, account: ServerAccount): Promise<AccountStatements>;
  /**
   * Session settings a load needs so that rows the source holds arrive as they are: MariaDB's
   * CHECK constraints are not re-checked (rows that predate a constraint are kept by the source,
   * and foreign keys are not re-checked either).
   */
  readonly loadSessionStatements: readonly string[];
  /**
   * The session setting that lets a load write the history rows of a system-versioned table
   * (MariaDB 10.11: system_versioning_insert_history), or null when the server cannot.
   */
  readonly insertHistoryStatement: string | null;
  /** Privileges that let an account create objects with another account as DEFINER (any one suffices). */
  readonly definerPrivileges: readonly string[];
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

/**
 * `lock_wait_timeout` for a bound in seconds: the servers take whole seconds (MySQL at least 1;
 * MariaDB's 0 means "do not wait", which MySQL refuses), so a bound under a second waits 1 s.
 */
export function serverLockWaitTimeout(seconds: number): number {
  return Math.max(1, Math.ceil(seconds));
}

/**
 * Runs `take` (statements that take `lock`) on `session` with lock_wait_timeout bounded, then
 * puts the session's own setting back, so the rest of the dump on that session keeps the server's
 * default. A lock wait timeout becomes LockWaitTimeoutError.
 */
async function withBoundedLockWait(session: MysqlSession, lock: string, seconds: number, take: () => Promise<void>): Promise<void> {
  const timeout = serverLockWaitTimeout(seconds);
  await session.exec(`SET SESSION lock_wait_timeout = ${timeout}`);
  try {
    await take();
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_ER_LOCK_WAIT_TIMEOUT') throw new LockWaitTimeoutError(lock, timeout, { cause: err });
    throw err;
  }
  await session.exec('SET SESSION lock_wait_timeout = DEFAULT');
}

const globalReadLock = 'the global read lock (FLUSH TABLES WITH READ LOCK)';

async function flushTablesWithReadLock(session: MysqlSession, lockWaitTimeoutSeconds: number): Promise<void> {
  try {
    await withBoundedLockWait(session, globalReadLock, lockWaitTimeoutSeconds, async () => {
      // Closing idle tables first shortens the time FTWRL itself blocks writers.
      await session.exec('FLUSH NO_WRITE_TO_BINLOG TABLES');
      await session.exec('FLUSH TABLES WITH READ LOCK');
    });
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') {
      throw new PreconditionError('SNAPSHOT_PRIVILEGE_MISSING', `a consistent dump needs FLUSH TABLES WITH READ LOCK, which was refused: ${err.message}`, {
        cause: err,
        hint: "grant it with GRANT RELOAD ON *.* TO '<user>'@'<host>'; or set dump.consistent: false on the profile (the dump is then not a single point in time)",
      });
    }
    throw err;
  }
}

/** Runs a query that reads the account tables; a refusal becomes a PreconditionError with the fix. */
async function readAccounts<T extends Record<string, unknown>>(session: MysqlSession, sql: string): Promise<T[]> {
  try {
    return await session.query<T>(sql);
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') {
      throw new PreconditionError('ACCOUNTS_UNREADABLE', `the accounts cannot be dumped: reading them was refused (${err.message})`, {
        cause: err,
        hint: "grant SELECT ON mysql.* to the backup user, or set dump.users: false on the profile (the backup then holds no accounts)",
      });
    }
    throw err;
  }
}

/** `SHOW GRANTS FOR` output, one statement per row. */
async function showGrants(session: MysqlSession, account: ServerAccount): Promise<string[]> {
  const who = account.role ? quoteId(account.user) : `${quoteString(account.user)}@${quoteString(account.host)}`;
  const rows = await readAccounts<Record<string, string>>(session, `SHOW GRANTS FOR ${who}`);
  return rows.map((r) => Object.values(r)[0] ?? '').filter((g) => g !== '');
}

const mariadbSystemAccounts = new Set(["'mariadb.sys'@'localhost'"]);
const mysqlSystemAccounts = new Set(["'mysql.infoschema'@'localhost'", "'mysql.session'@'localhost'", "'mysql.sys'@'localhost'"]);

/**
 * The process-list conditions every flavor shares: a statement in progress, not on an idle
 * session, not on the server's own threads (replication, event scheduler), not on `ignore`.
 */
function inProgressElsewhere(ignore: readonly number[]): string {
  const ids = [0, ...ignore].map((id) => {
    if (!Number.isSafeInteger(id)) throw new InternalError(`not a connection id: ${id}`);
    return id;
  });
  return `INFO IS NOT NULL AND COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID') AND USER NOT IN ('system user', 'event_scheduler') AND ID <> CONNECTION_ID() AND ID NOT IN (${ids.join(', ')})`;
}

/**
 * Plain reads, which MariaDB 10.4+'s FLUSH TABLES WITH READ LOCK does not wait for: the text
 * starts (after blanks, parentheses and comments) with a reading verb and has no FOR UPDATE.
 * REGEXP on PROCESSLIST.INFO (a _ci column) ignores case. The pattern holds no backslash and no
 * question mark, so the SQL literal needs no escaping and the driver sees no placeholder.
 */
const mariadbPlainRead =
  "INFO REGEXP '^([[:space:](]|/[*]([^*]|[*]+[^*/])*[*]+/)*(SELECT|WITH|SHOW|EXPLAIN|DESCRIBE|DESC)([^[:alnum:]_]|$)' AND NOT INFO REGEXP 'FOR[[:space:]]+UPDATE'";

async function readRunningStatements(session: MysqlSession, sql: string): Promise<RunningStatement[]> {
  const rows = await session.query<{ id: string | number; user: string | null; host: string | null; seconds: string | number; text: string | null }>(sql);
  return rows.map((r) => ({ connectionId: Number(r.id), user: r.user ?? '', host: r.host ?? '', seconds: Number(r.seconds), text: r.text ?? '' }));
}

function mariadbFlavor(info: ServerInfo): Flavor {
  const hasBackupStages = atLeast(info.versionNumber, 10, 4);
  return {
    info,
    binlogTool: 'mariadb-binlog',
    clientTool: 'mariadb',
    systemSchemas: commonSystemSchemas,
    loadSessionStatements: ['SET SESSION check_constraint_checks = 0'],
    definerPrivileges: ['SUPER', 'SET USER'],
    insertHistoryStatement: atLeast(info.versionNumber, 10, 11) ? 'SET SESSION system_versioning_insert_history = 1' : null,
    async listAccounts(session) {
      const rows = await readAccounts<{ user: string; host: string; role: string }>(
        session,
        'SELECT User AS user, Host AS host, is_role AS role FROM mysql.user ORDER BY User, Host',
      );
      return rows
        .map((r) => ({ user: r.user, host: r.host, role: r.role === 'Y' }))
        .filter((a) => !mariadbSystemAccounts.has(`${quoteString(a.user)}@${quoteString(a.host)}`) && !(a.role && a.user === 'PUBLIC'));
    },
    async accountStatements(session, account) {
      const grants = await showGrants(session, account);
      let create: string;
      if (account.role) create = `CREATE ROLE IF NOT EXISTS ${quoteId(account.user)}`;
      else {
        const [row] = await readAccounts<Record<string, string>>(session, `SHOW CREATE USER ${quoteString(account.user)}@${quoteString(account.host)}`);
        create = (Object.values(row ?? {})[0] ?? '').replace(/^CREATE USER (?!IF NOT EXISTS)/i, 'CREATE USER IF NOT EXISTS ');
      }
      return {
        create,
        grants: grants.filter((g) => !/^SET DEFAULT ROLE/i.test(g)),
        defaultRoles: grants.filter((g) => /^SET DEFAULT ROLE/i.test(g)),
      };
    },
    async readGtidExecuted(session) {
      const [r] = await session.query<{ gtid: string | null }>('SELECT @@global.gtid_binlog_pos AS gtid');
      return r?.gtid ?? '';
    },
    readBinlogPosition: (session) => readMasterStatus(session, 'SHOW MASTER STATUS'),
    lockForSnapshot: (session, o) => flushTablesWithReadLock(session, o.lockWaitTimeoutSeconds),
    async blockDdl(session, o) {
      if (!hasBackupStages) return false;
      try {
        // BACKUP STAGE START waits for another session's backup stage (mariadb-backup), BLOCK_DDL for running DDL.
        await withBoundedLockWait(session, 'the backup lock (BACKUP STAGE BLOCK_DDL)', o.lockWaitTimeoutSeconds, async () => {
          await session.exec('BACKUP STAGE START');
          await session.exec('BACKUP STAGE BLOCK_DDL');
        });
        return true;
      } catch (err) {
        if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') return false;
        throw err;
      }
    },
    async unblockDdl(session) {
      await session.exec('BACKUP STAGE END');
    },
    readLockBlockers: (session, o) =>
      readRunningStatements(
        session,
        `SELECT ID AS id, USER AS user, HOST AS host, TIME_MS / 1000 AS seconds, LEFT(INFO, 1000) AS text FROM information_schema.PROCESSLIST WHERE ${inProgressElsewhere(o.ignoreConnectionIds)} AND TIME_MS >= ${Math.round(o.minSeconds * 1000)}${hasBackupStages ? ` AND NOT (${mariadbPlainRead})` : ''} ORDER BY TIME_MS DESC`,
      ),
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
    loadSessionStatements: [],
    insertHistoryStatement: null,
    definerPrivileges: ['SUPER', 'SET_USER_ID', 'SET_ANY_DEFINER'],
    async listAccounts(session) {
      const rows = await readAccounts<{ user: string; host: string }>(session, 'SELECT User AS user, Host AS host FROM mysql.user ORDER BY User, Host');
      return rows.map((r) => ({ user: r.user, host: r.host, role: false })).filter((a) => !mysqlSystemAccounts.has(`${quoteString(a.user)}@${quoteString(a.host)}`));
    },
    async accountStatements(session, account) {
      // MySQL's SHOW CREATE USER carries DEFAULT ROLE; roles are accounts there.
      const [row] = await readAccounts<Record<string, string>>(session, `SHOW CREATE USER ${quoteString(account.user)}@${quoteString(account.host)}`);
      const create = (Object.values(row ?? {})[0] ?? '').replace(/^CREATE USER (?!IF NOT EXISTS)/i, 'CREATE USER IF NOT EXISTS ');
      return { create, grants: await showGrants(session, account), defaultRoles: [] };
    },
    async readGtidExecuted(session) {
      const [r] = await session.query<{ gtid: string | null }>('SELECT @@global.gtid_executed AS gtid');
      return (r?.gtid ?? '').replace(/\s+/g, '');
    },
    readBinlogPosition: (session) => readMasterStatus(session, statusStatement),
    lockForSnapshot: (session, o) => flushTablesWithReadLock(session, o.lockWaitTimeoutSeconds),
    async blockDdl(session, o) {
      if (!atLeast(v, 8, 0)) return false;
      try {
        // Needs BACKUP_ADMIN; without it the dump still works, but DDL is not held off.
        await withBoundedLockWait(session, 'the backup lock (LOCK INSTANCE FOR BACKUP)', o.lockWaitTimeoutSeconds, () => session.exec('LOCK INSTANCE FOR BACKUP'));
        return true;
      } catch (err) {
        if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') return false;
        throw err;
      }
    },
    async unblockDdl(session) {
      await session.exec('UNLOCK INSTANCE');
    },
    // information_schema.PROCESSLIST shows whole seconds only; a statement younger than the
    // bound that holds the lock up is caught by the lock's own timeout instead.
    readLockBlockers: (session, o) =>
      readRunningStatements(
        session,
        `SELECT ID AS id, USER AS user, HOST AS host, TIME AS seconds, LEFT(INFO, 1000) AS text FROM information_schema.PROCESSLIST WHERE ${inProgressElsewhere(o.ignoreConnectionIds)} AND TIME >= ${Math.ceil(o.minSeconds)} ORDER BY TIME DESC`,
      ),
  };
}
