/**
 * The consistent snapshot (DESIGN §2, FORMAT.md §4): a brief global read lock, every worker
 * session starts `START TRANSACTION WITH CONSISTENT SNAPSHOT`, the GTID set and binlog
 * coordinates are read, DDL is blocked for the rest of the dump where the flavor can, and the
 * read lock is released. Connections are opened before the lock so it is held only for the
 * statements that need it.
 */
import type { Logger } from '../log.js';
import type { MysqlConnector, MysqlSession } from '../mysql/connection.js';
import type { BinlogPosition, Flavor } from '../mysql/flavor.js';

export interface Snapshot {
  /** One session per thread, each inside a transaction that sees the same point in time. */
  workers: MysqlSession[];
  consistent: boolean;
  gtidExecuted: string;
  binlog: BinlogPosition | null;
  /** How long the global read lock was held, in ms (0 when not consistent). */
  lockHeldMs: number;
  /** When the snapshot was taken (ms since the epoch): the point in time the dump shows. */
  takenAt: number;
  /** Whether DDL is held off for the whole dump. */
  ddlBlocked: boolean;
  /** Ends the transactions and closes every session this snapshot opened. */
  release(): Promise<void>;
  /** Drops every session at once (on failure or interrupt). */
  destroy(): void;
}

export interface SnapshotOptions {
  connector: MysqlConnector;
  flavor: Flavor;
  /** The session that takes the global lock and reads coordinates. */
  main: MysqlSession;
  threads: number;
  consistent: boolean;
  lockWaitTimeoutSeconds: number;
  logger: Logger;
  now: () => number;
}

/** Session settings every dump session uses (FORMAT.md §3). */
export async function prepareDumpSession(session: MysqlSession): Promise<void> {
  await session.exec("SET SESSION sql_mode = ''");
  await session.exec("SET SESSION time_zone = '+00:00'");
  await session.exec('SET NAMES utf8mb4');
  // A paused result stream (slow storage) must not make the server drop the connection.
  await session.exec('SET SESSION net_write_timeout = 86400');
  await session.exec('SET SESSION wait_timeout = 86400');
}

export async function openSnapshot(options: SnapshotOptions): Promise<Snapshot> {
  const { connector, flavor, main, logger } = options;
  const opened: MysqlSession[] = [];
  const destroy = (): void => {
    for (const s of opened) s.destroy();
  };
  try {
    const workers = await Promise.all(
      Array.from({ length: options.threads }, async () => {
        const s = await connector.connect();
        opened.push(s);
        await prepareDumpSession(s);
        await s.exec('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        return s;
      }),
    );
    const ddlSession = options.consistent ? await connector.connect() : undefined;
    if (ddlSession) opened.push(ddlSession);

    let lockHeldMs = 0;
    let takenAt = options.now();
    let ddlBlocked = false;
    let gtidExecuted: string;
    let binlog: BinlogPosition | null;
    if (options.consistent) {
      await flavor.lockForSnapshot(main, { lockWaitTimeoutSeconds: options.lockWaitTimeoutSeconds });
      const lockedAt = options.now();
      takenAt = lockedAt;
      try {
        await Promise.all(workers.map((w) => w.exec('START TRANSACTION WITH CONSISTENT SNAPSHOT')));
        gtidExecuted = await flavor.readGtidExecuted(main);
        binlog = await readBinlogOrWarn(flavor, main, logger);
        ddlBlocked = ddlSession ? await flavor.blockDdl(ddlSession, { lockWaitTimeoutSeconds: options.lockWaitTimeoutSeconds }) : false;
      } finally {
        await main.exec('UNLOCK TABLES');
        lockHeldMs = options.now() - lockedAt;
      }
      if (!ddlBlocked) {
        logger.warn('DDL is not blocked during the dump (the account cannot take the backup lock); a table altered meanwhile fails the dump', {
          flavor: flavor.info.flavor,
        });
      }
    } else {
      // Each session sees its own moment: the dump is not a single point in time.
      await Promise.all(workers.map((w) => w.exec('START TRANSACTION WITH CONSISTENT SNAPSHOT')));
      gtidExecuted = await flavor.readGtidExecuted(main);
      binlog = await readBinlogOrWarn(flavor, main, logger);
    }

    return {
      workers,
      consistent: options.consistent,
      gtidExecuted,
      binlog,
      lockHeldMs,
      takenAt,
      ddlBlocked,
      async release() {
        if (ddlSession && ddlBlocked) await flavor.unblockDdl(ddlSession).catch(() => undefined);
        await Promise.all(
          opened.map(async (s) => {
            await s.exec('ROLLBACK').catch(() => undefined);
            await s.close();
          }),
        );
      },
      destroy,
    };
  } catch (err) {
    destroy();
    throw err;
  }
}

async function readBinlogOrWarn(flavor: Flavor, session: MysqlSession, logger: Logger): Promise<BinlogPosition | null> {
  try {
    const position = await flavor.readBinlogPosition(session);
    if (!position) logger.warn('binary logging is off on the server: the backup has no binlog coordinates for point-in-time recovery');
    return position;
  } catch (err) {
    logger.warn('cannot read the binlog coordinates; the backup cannot anchor point-in-time recovery', {
      reason: err instanceof Error ? err.message : String(err),
    });
    return null;
  }
}
