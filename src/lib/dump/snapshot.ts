/**
 * The consistent snapshot (DESIGN §2, FORMAT.md §4): DDL is blocked for the rest of the dump
 * where the flavor can, then a brief global read lock, every worker session starts `START
 * TRANSACTION WITH CONSISTENT SNAPSHOT`, the GTID set and binlog coordinates are read, and the
 * read lock is released. Connections are opened before the lock so it is held only for the
 * statements that need it.
 *
 * The application must never stall behind the backup: while FLUSH TABLES WITH READ LOCK waits
 * for a running write, every other write on the server queues behind it. So the lock is not
 * requested while a statement it would wait for has already run longer than the bound
 * (`lockWaitTimeoutSeconds`), a request waits at most that long and then gives up (releasing
 * the queue), and after SNAPSHOT_LOCK_ATTEMPTS attempts the backup fails with exit 3, naming the
 * statement that held it up. The DDL lock is taken first because its waits hold up only DDL,
 * never writes (checked on MariaDB 10.11; MySQL documents LOCK INSTANCE FOR BACKUP as permitting
 * DML), whereas a DDL lock waiting while the read lock is held would stall every write.
 */
import { PreconditionError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector, MysqlSession, StatementSession } from '../mysql/connection.js';
import { LockWaitTimeoutError, serverLockWaitTimeout, type BinlogPosition, type Flavor, type RunningStatement } from '../mysql/flavor.js';
import { retry } from '../retry.js';

/** How many times the snapshot locks are tried before the backup gives up (exit 3). */
export const SNAPSHOT_LOCK_ATTEMPTS = 3;
/**
 * The pause before a new attempt is drawn at random below 2 s, then below 4 s (retry()'s
 * backoff): long enough for a statement that is about to end to end.
 */
const lockRetryBaseDelayMs = 2_000;
const lockRetryMaxDelayMs = 4_000;

export interface Snapshot<W extends StatementSession = MysqlSession> {
  /** One session per thread, each inside a transaction that sees the same point in time. */
  workers: W[];
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

export interface SnapshotOptions<W extends StatementSession = MysqlSession> {
  /** Opens the session that holds the backup stage (DDL blocked) for the whole dump. */
  connector: MysqlConnector;
  /** Opens the worker sessions (the dump threads'). */
  workerConnector: { connect(): Promise<W> };
  flavor: Flavor;
  /** The session that takes the global lock and reads coordinates. */
  main: MysqlSession;
  threads: number;
  consistent: boolean;
  /**
   * The bound on how long the backup may hold up the application, in seconds (fractions
   * allowed): statements running longer keep the lock from being requested, and a lock request
   * waits at most this long (rounded up to whole seconds, at least 1 s: see LockWaitOptions).
   */
  lockWaitTimeoutSeconds: number;
  logger: Logger;
  now: () => number;
  /** Stops the lock attempts (and the pauses between them) at once. */
  signal?: AbortSignal;
  /**
   * The server-side bound on every session of the snapshot, `main` included
   * (dumpSessionTimeoutSeconds); they are kept alive until release() or destroy(). Without it,
   * a day and no keepalive.
   */
  sessionTimeoutSeconds?: number;
}

/** The server-side bound of a session that is not given one (a day): reads that hold no lock. */
const unboundedSessionSeconds = 86_400;

/**
 * How long the server lets a dump session sit silent (idle, or with a result stream the client
 * does not read) before it drops it, in whole seconds. A frozen client (a stopped process, a
 * paused container) must not hold the backup lock and the snapshots' table locks for a day: with
 * this bound the server drops its sessions and releases them. A healthy dump never waits that
 * long: a paused result stream waits at most the storage stall timeout before the stall guard
 * fails the run, a silent server at most the server watch's bound before the run is stopped, and
 * idle sessions are kept alive (keepSessionsAlive). The margin is the larger of the two, so it
 * scales with them: the defaults (120 s and 60 s) give 300 s.
 */
export function dumpSessionTimeoutSeconds(bounds: { storageStallTimeoutSeconds: number; unresponsiveTimeoutSeconds: number }): number {
  const { storageStallTimeoutSeconds: stall, unresponsiveTimeoutSeconds: silence } = bounds;
  return Math.ceil(stall + silence + Math.max(stall, silence));
}

/**
 * Session settings every dump session uses (FORMAT.md §3). `timeoutSeconds` bounds how long the
 * server keeps the session while the client is silent (dumpSessionTimeoutSeconds); without it, a
 * day, for sessions that hold no lock on the source.
 */
export async function prepareDumpSession(session: Pick<StatementSession, 'exec'>, timeoutSeconds = unboundedSessionSeconds): Promise<void> {
  const seconds = Math.max(1, Math.ceil(timeoutSeconds));
  await session.exec("SET SESSION sql_mode = ''");
  await session.exec("SET SESSION time_zone = '+00:00'");
  await session.exec('SET NAMES utf8mb4');
  // A result stream paused by slow storage must outlast the pause; a frozen client must not.
  await session.exec(`SET SESSION net_write_timeout = ${seconds}`);
  await session.exec(`SET SESSION wait_timeout = ${seconds}`);
}

/** Keeps sessions alive on the server while the dump is healthy; see keepSessionsAlive. */
export interface SessionKeepalive {
  add(session: StatementSession): void;
  stop(): void;
}

/**
 * Sends `SELECT 1` on each session every quarter of `timeoutSeconds`, so that one idle for the
 * whole dump (the session holding the backup stage, the planner once planning is done, a worker
 * with nothing left to take) is not dropped by its wait_timeout. The statements queue behind
 * whatever the session runs (mysql2 runs one command at a time, raw result streams included), so
 * at most one waits per session. Its failures are not reported here: a dropped session fails the
 * dump's own next use of it. The timer never keeps the process alive, and it stops with the
 * process: a frozen client sends nothing, so the server's bound applies.
 */
export function keepSessionsAlive(sessions: readonly StatementSession[], timeoutSeconds: number): SessionKeepalive {
  const all = new Set(sessions);
  const waiting = new Set<StatementSession>();
  const timer = setInterval(
    () => {
      for (const s of all) {
        if (waiting.has(s)) continue;
        waiting.add(s);
        s.query('SELECT 1')
          .catch(() => undefined)
          .finally(() => waiting.delete(s))
          .catch(() => undefined);
      }
    },
    Math.max(250, (timeoutSeconds * 1000) / 4),
  );
  timer.unref();
  return {
    add: (session) => void all.add(session),
    stop: () => {
      clearInterval(timer);
      all.clear();
    },
  };
}

/**
 * Opens `threads` worker sessions and starts their transactions at one point in time (or each at
 * its own when not `consistent`). Throws PreconditionError (exit 3) SNAPSHOT_LOCK_BLOCKED or
 * SNAPSHOT_LOCK_TIMEOUT naming the statement that kept the locks from being taken within the
 * bound, SNAPSHOT_PRIVILEGE_MISSING when the account may not take the read lock; on any failure
 * every session it opened is dropped.
 */
export async function openSnapshot<W extends StatementSession>(options: SnapshotOptions<W>): Promise<Snapshot<W>> {
  const { connector, flavor, main, logger } = options;
  const opened: StatementSession[] = [];
  const timeoutSeconds = options.sessionTimeoutSeconds;
  // From the first session on: workers wait idle while the locks are tried.
  const keepalive = timeoutSeconds === undefined ? undefined : keepSessionsAlive([main], timeoutSeconds);
  const destroy = (): void => {
    keepalive?.stop();
    for (const s of opened) s.destroy();
  };
  try {
    const workers = await Promise.all(
      Array.from({ length: options.threads }, async () => {
        const s = await options.workerConnector.connect();
        opened.push(s);
        await prepareDumpSession(s, timeoutSeconds);
        await s.exec('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
        keepalive?.add(s);
        return s;
      }),
    );
    const ddlSession = options.consistent ? await connector.connect() : undefined;
    if (ddlSession) {
      opened.push(ddlSession);
      // It holds the backup stage (DDL blocked) for the whole dump and runs nothing meanwhile.
      if (timeoutSeconds !== undefined) await prepareDumpSession(ddlSession, timeoutSeconds);
      keepalive?.add(ddlSession);
    }

    let state: LockedSnapshot;
    if (ddlSession) {
      const ownSessions = [main, ddlSession, ...workers].map((s) => s.threadId);
      state = await retry((attempt) => lockedSnapshot({ ...options, ddlSession, workers, ownSessions, attempt }), {
        attempts: SNAPSHOT_LOCK_ATTEMPTS,
        baseDelayMs: lockRetryBaseDelayMs,
        maxDelayMs: lockRetryMaxDelayMs,
        ...(options.signal ? { signal: options.signal } : {}),
        onRetry: (err, attempt, delayMs) => logger.warn('the snapshot lock was not taken; trying again', { attempt, delayMs, reason: errorMessage(err) }),
      });
      if (!state.ddlBlocked) {
        logger.warn('DDL is not blocked during the dump (the account cannot take the backup lock); a table altered meanwhile fails the dump', {
          flavor: flavor.info.flavor,
        });
      }
    } else {
      // Each session sees its own moment: the dump is not a single point in time.
      const takenAt = options.now();
      await Promise.all(workers.map((w) => w.exec('START TRANSACTION WITH CONSISTENT SNAPSHOT')));
      const gtidExecuted = await flavor.readGtidExecuted(main);
      const binlog = await readBinlogOrWarn(flavor, main, logger);
      state = { lockHeldMs: 0, takenAt, ddlBlocked: false, gtidExecuted, binlog };
    }
    const { ddlBlocked } = state;

    return {
      workers,
      consistent: options.consistent,
      gtidExecuted: state.gtidExecuted,
      binlog: state.binlog,
      lockHeldMs: state.lockHeldMs,
      takenAt: state.takenAt,
      ddlBlocked,
      async release() {
        keepalive?.stop();
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

interface LockAttempt extends SnapshotOptions<StatementSession> {
  ddlSession: MysqlSession;
  workers: StatementSession[];
  /** Connection ids of this backup's sessions, which never count as blockers. */
  ownSessions: number[];
  /** 1-based. */
  attempt: number;
}

interface LockedSnapshot {
  lockHeldMs: number;
  takenAt: number;
  ddlBlocked: boolean;
  gtidExecuted: string;
  binlog: BinlogPosition | null;
}

/**
 * One attempt: refuse if a statement the read lock would wait for has run longer than the bound;
 * block DDL; take the read lock; start every worker's transaction and read the coordinates under
 * it; release it. A lock not granted in time is given up, the DDL lock released, and the
 * statements holding it up named in a retryable PreconditionError.
 */
async function lockedSnapshot(a: LockAttempt): Promise<LockedSnapshot> {
  const { flavor, main, ddlSession, logger } = a;
  const bound = a.lockWaitTimeoutSeconds;
  const longRunning = await flavor.readLockBlockers(main, { minSeconds: bound, ignoreConnectionIds: a.ownSessions });
  if (longRunning.length > 0) throw lockBlocked(longRunning, bound, a.attempt);

  let ddlBlocked = false;
  try {
    ddlBlocked = await flavor.blockDdl(ddlSession, { lockWaitTimeoutSeconds: bound });
    await flavor.lockForSnapshot(main, { lockWaitTimeoutSeconds: bound });
  } catch (err) {
    if (!(err instanceof LockWaitTimeoutError)) throw err;
    // The backup stage may be half taken; the next attempt starts from nothing.
    await flavor.unblockDdl(ddlSession).catch(() => undefined);
    // What held the lock up started before the request and was still running when it gave up;
    // younger statements (writes that queued behind it) are not named.
    const holders = await flavor.readLockBlockers(main, { minSeconds: err.waitedSeconds, ignoreConnectionIds: a.ownSessions });
    // No statement the lock waits for: a session holds a lock while idle or while running
    // something the lock does not wait for (LOCK TABLES, then SELECT SLEEP(…)); name it.
    const sessions = holders.length > 0 ? null : await readOlderSessions(main, err.waitedSeconds, a.ownSessions).catch(() => null);
    throw lockTimedOut(err, holders, bound, a.attempt, sessions);
  }

  const lockedAt = a.now();
  let gtidExecuted: string;
  let binlog: BinlogPosition | null;
  try {
    await Promise.all(a.workers.map((w) => w.exec('START TRANSACTION WITH CONSISTENT SNAPSHOT')));
    gtidExecuted = await flavor.readGtidExecuted(main);
    binlog = await readBinlogOrWarn(flavor, main, logger);
  } finally {
    await main.exec('UNLOCK TABLES');
  }
  return { lockHeldMs: a.now() - lockedAt, takenAt: lockedAt, ddlBlocked, gtidExecuted, binlog };
}

/** At most this many characters of a statement's text go into a message. */
const statementChars = 160;

/** `connection 17 (app@10.0.0.5:41234), running for 12.3s: UPDATE …` */
function describeStatement(s: RunningStatement): string {
  const text = s.text.replace(/\s+/g, ' ').trim();
  const cut = text.length > statementChars ? `${text.slice(0, statementChars - 1)}…` : text;
  return `connection ${s.connectionId} (${s.user}@${s.host}), running for ${Number(s.seconds.toFixed(1))}s: ${cut}`;
}

function describeStatements(statements: readonly RunningStatement[]): string {
  const [first, ...rest] = statements;
  if (!first) return '';
  return rest.length === 0 ? describeStatement(first) : `${describeStatement(first)} (and ${rest.length} more)`;
}

function waitOrKill(s: RunningStatement): string {
  return `let it finish and run the backup again, or end it with KILL QUERY ${s.connectionId}; or raise dump.lockWaitTimeout (--lock-wait-timeout), which lets the backup hold up writes for that long`;
}

/** A statement the read lock would wait for has run longer than the bound: the lock is not requested. */
function lockBlocked(statements: readonly RunningStatement[], boundSeconds: number, attempt: number): PreconditionError {
  return new PreconditionError(
    'SNAPSHOT_LOCK_BLOCKED',
    `the global read lock was not requested (attempt ${attempt} of ${SNAPSHOT_LOCK_ATTEMPTS}): it would wait for a statement running longer than dump.lockWaitTimeout (${boundSeconds}s), and every write on the server would wait behind it: ${describeStatements(statements)}`,
    { hint: waitOrKill(statements[0]!), retryable: true },
  );
}

/** The lock was requested, not granted in time, and given up: names what was running then. */
function lockTimedOut(
  err: LockWaitTimeoutError,
  running: readonly RunningStatement[],
  boundSeconds: number,
  attempt: number,
  sessions: (OtherSession[] & { lockedTables: string[] }) | null,
): PreconditionError {
  const [first] = running;
  const bound = serverLockWaitTimeout(boundSeconds) === boundSeconds ? '' : ` (dump.lockWaitTimeout ${boundSeconds}s, rounded up to the whole seconds the server counts)`;
  const base = `${err.message}${bound} and was given up so that writes could go on (attempt ${attempt} of ${SNAPSHOT_LOCK_ATTEMPTS})`;
  if (first) {
    return new PreconditionError('SNAPSHOT_LOCK_TIMEOUT', `${base}; in progress at that moment: ${describeStatements(running)}`, { cause: err, hint: waitOrKill(first), retryable: true });
  }
  const kinds = 'LOCK TABLES … WRITE, FLUSH TABLES WITH READ LOCK, or another backup\'s lock (BACKUP STAGE, LOCK INSTANCE FOR BACKUP)';
  const holders = sessions?.filter((s) => s.holds.length > 0) ?? [];
  // With lock information (MariaDB's METADATA_LOCK_INFO), only the sessions that hold locks are named;
  // without it, every session that was there before the request, oldest first.
  const named = holders.length > 0 ? holders : (sessions ?? []);
  if (named.length > 0) {
    const which = holders.length > 0 ? 'held by' : `a session holds a lock (${kinds}), which no statement shows (it may be idle, or running something else meanwhile); sessions older than the wait`;
    const lockedTables = sessions?.lockedTables.length ? `; tables locked at that moment: ${sessions.lockedTables.join(', ')}` : '';
    return new PreconditionError('SNAPSHOT_LOCK_TIMEOUT', `${base}; ${which}: ${describeSessions(named)}${lockedTables}`, {
      cause: err,
      hint: `let it release its lock (UNLOCK TABLES, BACKUP STAGE END, UNLOCK INSTANCE) or end it with KILL ${named[0]!.connectionId}, and run again`,
      retryable: true,
    });
  }
  return new PreconditionError(
    'SNAPSHOT_LOCK_TIMEOUT',
    `${base}; no statement it waits for was in progress, and no other session was visible, so a session this account cannot see most likely holds a lock: ${kinds}`,
    { cause: err, hint: 'find that session with SHOW PROCESSLIST as an account with PROCESS (it sees other accounts\' sessions), let it release its lock or end it with KILL, and run again', retryable: true },
  );
}

/** A session of another client and the locks it is known to hold. */
interface OtherSession {
  connectionId: number;
  user: string;
  host: string;
  command: string;
  seconds: number;
  /** Its statement (empty when idle). */
  text: string;
  /** `MDL_SHARED_NO_READ_WRITE on \`s\`.\`t\``…; empty when the server does not say (no METADATA_LOCK_INFO). */
  holds: string[];
}

/**
 * The sessions of other clients that are at least `minSeconds` into their current command (so
 * were there when the lock was requested), oldest first, with the locks each holds where the
 * server says (MariaDB's metadata_lock_info plugin), and the tables in use under a lock.
 */
async function readOlderSessions(main: MysqlSession, minSeconds: number, own: readonly number[]): Promise<OtherSession[] & { lockedTables: string[] }> {
  const ids = [0, ...own].filter((id) => Number.isSafeInteger(id));
  const rows = await main.query<{ id: string | number; user: string | null; host: string | null; command: string | null; seconds: string | number; text: string | null }>(
    `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS seconds, LEFT(INFO, 1000) AS text FROM information_schema.PROCESSLIST
     WHERE ID <> CONNECTION_ID() AND ID NOT IN (${ids.join(', ')}) AND USER NOT IN ('system user', 'event_scheduler') AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID')
       AND TIME >= ${Math.floor(minSeconds)} ORDER BY TIME DESC LIMIT 20`,
  );
  const locks = new Map<number, string[]>();
  try {
    const held = await main.query<{ id: string | number; mode: string | null; schema: string | null; name: string | null }>(
      'SELECT THREAD_ID AS id, LOCK_MODE AS mode, TABLE_SCHEMA AS `schema`, TABLE_NAME AS name FROM information_schema.METADATA_LOCK_INFO',
    );
    for (const l of held) {
      const on = l.schema ? ` on \`${l.schema}\`${l.name ? `.\`${l.name}\`` : ''}` : '';
      const list = locks.get(Number(l.id)) ?? [];
      list.push(`${l.mode ?? 'a lock'}${on}`);
      locks.set(Number(l.id), list);
    }
  } catch {
    // The plugin is not installed: the sessions are named without their locks.
  }
  let lockedTables: string[] = [];
  try {
    const open = await main.query<{ Database: string; Table: string }>('SHOW OPEN TABLES WHERE In_use > 0');
    lockedTables = open.map((t) => `\`${t.Database}\`.\`${t.Table}\``);
  } catch {
    // Not essential to the message.
  }
  const sessions = rows.map((r) => ({
    connectionId: Number(r.id),
    user: r.user ?? '',
    host: r.host ?? '',
    command: r.command ?? '',
    seconds: Number(r.seconds),
    text: r.text ?? '',
    holds: locks.get(Number(r.id)) ?? [],
  }));
  return Object.assign(sessions, { lockedTables });
}

/** `connection 17 (app@10.0.0.5:41234), Query for 12s: SELECT SLEEP(60), holding …` */
function describeSession(s: OtherSession): string {
  const text = s.text.replace(/\s+/g, ' ').trim();
  const cut = text.length > statementChars ? `${text.slice(0, statementChars - 1)}…` : text;
  const doing = cut ? `${s.command} for ${s.seconds}s: ${cut}` : `${s.command} (idle) for ${s.seconds}s`;
  return `connection ${s.connectionId} (${s.user}@${s.host}), ${doing}${s.holds.length > 0 ? `, holding ${s.holds.join(', ')}` : ''}`;
}

function describeSessions(sessions: readonly OtherSession[]): string {
  const shown = sessions.slice(0, 3).map(describeSession).join('; ');
  return sessions.length > 3 ? `${shown} (and ${sessions.length - 3} more)` : shown;
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
