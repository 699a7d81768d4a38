/**
 * Field case 14b (long write): a backup must never stall the application. While a long UPDATE
 * runs, FLUSH TABLES WITH READ LOCK would queue behind it and every write on the server behind
 * the lock (an INSERT once waited 60 s). Each test keeps inserting into h14.w every 0.2 s from
 * its own connection during the backup and measures the longest INSERT.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupFailedError, runBackup } from '../../src/lib/backup/run-backup.js';
import { systemClock } from '../../src/lib/clock.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { AppError } from '../../src/lib/errors.js';
import { createLogger, type LogEntry } from '../../src/lib/log.js';
import { detectFlavor } from '../../src/lib/mysql/flavor.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { runCli } from '../support/cli.js';
import { rootConnection, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

/** Well below the 60 s writes waited before, and far enough above the 1–3 s bounds that CI noise cannot fail it. */
const longestWriteLimitMs = 10_000;

let server: TestServer;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-lock-'));
  server = await startTestServer();
  // The case's schema (/work/shared/cases/14b-long-write.sql).
  await sql(
    server,
    `CREATE DATABASE h14; USE h14;
     CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE = InnoDB;
     INSERT INTO t VALUES (1, 'committed');
     CREATE TABLE w (id INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6)) ENGINE = InnoDB;`,
  );
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface Writer {
  /** Stops after the INSERT in flight; the longest INSERT in ms, and how many ran. */
  stop(): Promise<{ longestMs: number; inserts: number }>;
}

/** The application: an INSERT into h14.w every 0.2 s on its own connection. */
async function startWriter(): Promise<Writer> {
  const conn = await rootConnection(server);
  let stopped = false;
  let longestMs = 0;
  let inserts = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      await conn.query('INSERT INTO h14.w (at) VALUES (NOW(6))');
      longestMs = Math.max(longestMs, performance.now() - started);
      inserts++;
      await sleep(200);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await conn.end();
      return { longestMs, inserts };
    },
  };
}

interface LongStatement {
  /** Its connection id. */
  id: number;
  /** Ends it with KILL QUERY (instead of waiting for it) and closes its connection; once. */
  kill(): Promise<void>;
}

/** Runs `statement` on a connection of its own without waiting for it. */
async function startStatement(statement: string): Promise<LongStatement> {
  const conn: Connection = await rootConnection(server);
  const id = conn.threadId;
  const done = conn.query(statement).catch((err: unknown) => err);
  let killed: Promise<void> | undefined;
  return {
    id,
    kill() {
      killed ??= (async () => {
        await sql(server, `KILL QUERY ${id}`);
        await done;
        await conn.end();
      })();
      return killed;
    },
  };
}

const longUpdate = (seconds: number): string => `UPDATE h14.t SET v = IF(SLEEP(${seconds}) = 0, v, v) WHERE id = 1`;

async function backup(lockWaitTimeoutSeconds: number, logs: LogEntry[] = []): Promise<BackupRecord> {
  return runBackup(
    { connector: rootConnector(server), store: createFsStore({ root: await mkdtemp(join(work, 'backups-')) }), logger: createLogger((e) => logs.push(e), 'debug'), clock: systemClock },
    {
      group: 'g',
      profile: 'p',
      dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['h14'], excludeSchemas: [], lockWaitTimeoutSeconds },
      toolVersion: 'test',
    },
    { signal: new AbortController().signal },
  );
}

async function failure(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the backup should have failed').toBeInstanceOf(AppError);
  return err as AppError;
}

async function committedValue(): Promise<string> {
  const [row] = (await sql(server, 'SELECT v FROM h14.t WHERE id = 1')) as Array<{ v: string }>;
  return row!.v;
}

describe('the snapshot lock never stalls the application (case 14b)', () => {
  it('a long UPDATE already running: the lock is never requested; exit 3 names the UPDATE (through the CLI)', async () => {
    const update = await startStatement(longUpdate(30));
    try {
      await sleep(1_500); // older than the 1 s bound when the backup looks
      const writer = await startWriter();
      const cwd = await mkdtemp(join(work, 'cli-'));
      const started = performance.now();
      const r = await runCli(['backup', 'now', '--host', '127.0.0.1', '--port', String(server.port), '--user', 'root', '--lock-wait-timeout', '1s', '--json'], cwd);
      const tookMs = performance.now() - started;
      const { longestMs, inserts } = await writer.stop();
      console.log(`case 14b, UPDATE running before the backup: longest INSERT ${longestMs.toFixed(0)} ms over ${inserts} inserts; backup failed after ${(tookMs / 1000).toFixed(1)} s`);

      expect(r.code, r.stderr).toBe(3);
      const { error } = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string; exitCode: number } };
      expect(error.code).toBe('SNAPSHOT_LOCK_BLOCKED');
      expect(error.exitCode).toBe(3);
      expect(error.message).toContain(`connection ${update.id} (root@localhost), running for `);
      expect(error.message).toContain(longUpdate(30));
      expect(error.message).toContain('attempt 3 of 3');
      expect(error.hint).toContain(`KILL QUERY ${update.id}`);
      expect(error.hint).toContain('dump.lockWaitTimeout');
      expect(longestMs).toBeLessThan(longestWriteLimitMs);
      expect(inserts).toBeGreaterThan(3);
    } finally {
      await update.kill();
    }
    expect(await committedValue()).toBe('committed');
  });

  it('a long UPDATE younger than the bound: the lock request times out, is given up and retried; exit 3 names the UPDATE', async () => {
    const writer = await startWriter();
    const update = await startStatement(longUpdate(30));
    const logs: LogEntry[] = [];
    try {
      // A 3 s bound: the UPDATE, started just now, is surely younger than that when the backup first looks.
      const err = await failure(backup(3, logs));
      const { longestMs, inserts } = await writer.stop();
      console.log(`case 14b, UPDATE starting with the backup (3 s bound): longest INSERT ${longestMs.toFixed(0)} ms over ${inserts} inserts`);

      expect(err).toBeInstanceOf(BackupFailedError);
      expect(err.exitCode).toBe(3);
      expect(['SNAPSHOT_LOCK_BLOCKED', 'SNAPSHOT_LOCK_TIMEOUT']).toContain(err.code);
      expect(err.message).toContain(`connection ${update.id} (root@localhost)`);
      expect(err.message).toContain(longUpdate(30));
      expect((err as BackupFailedError).record?.phase).toBe('Failed');
      // The first attempt did request the lock, and gave it up after the bound, naming the UPDATE.
      const retries = logs.filter((e) => e.message === 'the snapshot lock was not taken; trying again');
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries[0]!.fields.reason).toMatch(/^the global read lock \(FLUSH TABLES WITH READ LOCK\) was not granted within 3s and was given up/);
      expect(retries[0]!.fields.reason).toContain(`connection ${update.id} (root@localhost)`);
      expect(longestMs).toBeLessThan(longestWriteLimitMs);
    } finally {
      await writer.stop();
      await update.kill();
    }
    expect(await committedValue()).toBe('committed');
  });

  it('long plain reads and idle sessions do not count on MariaDB (its read lock does not wait for them), writes and SELECT … FOR UPDATE do', async () => {
    const read = await startStatement('/* monthly report */\n  select count(*), sleep(30) from h14.t');
    // Locks the row the UPDATE then waits for: both are statements in progress.
    const locking = await startStatement('SELECT v, SLEEP(30) FROM h14.t WHERE id = 1 FOR UPDATE');
    const update = await startStatement(longUpdate(30));
    // Idle, with a write not yet committed: the read lock does not wait for it, so it does not count.
    const idle = await rootConnection(server);
    await idle.query('START TRANSACTION; INSERT INTO h14.w (at) VALUES (NOW(6))');
    const main = await rootConnector(server).connect();
    try {
      await sleep(1_200);
      const flavor = await detectFlavor(main);
      const blockers = await flavor.readLockBlockers(main, { minSeconds: 1, ignoreConnectionIds: [main.threadId] });
      expect(blockers.map((b) => b.connectionId).sort()).toEqual([locking.id, update.id].sort());
      const found = blockers.find((b) => b.connectionId === update.id)!;
      expect(found).toMatchObject({ user: 'root', host: 'localhost', text: longUpdate(30) });
      expect(found.seconds).toBeGreaterThanOrEqual(1);
      expect(found.seconds).toBeLessThan(30);
      // Younger than the bound: not counted before the lock is requested.
      expect(await flavor.readLockBlockers(main, { minSeconds: 60, ignoreConnectionIds: [main.threadId] })).toEqual([]);
      await locking.kill();
      await update.kill();

      // With only the long read left, the backup takes its consistent snapshot.
      const record = await backup(1);
      expect(record).toMatchObject({ phase: 'Succeeded', consistent: true });
    } finally {
      main.destroy();
      await idle.end();
      await Promise.all([read.kill(), locking.kill(), update.kill()]);
    }
  });

  it('the DDL backup lock is bounded too, and its wait never holds up writes (another backup holds BACKUP STAGE)', async () => {
    const other = await rootConnection(server);
    await other.query('BACKUP STAGE START'); // what mariadb-backup holds while it copies
    const writer = await startWriter();
    try {
      const started = performance.now();
      const err = await failure(backup(1));
      const tookMs = performance.now() - started;
      const { longestMs, inserts } = await writer.stop();
      console.log(`case 14b, another backup holding BACKUP STAGE: longest INSERT ${longestMs.toFixed(0)} ms over ${inserts} inserts; backup failed after ${(tookMs / 1000).toFixed(1)} s`);

      expect(err.exitCode, err.message).toBe(3);
      expect(err.code, err.message).toBe('SNAPSHOT_LOCK_TIMEOUT');
      expect(err.message).toMatch(/^the backup lock \(BACKUP STAGE BLOCK_DDL\) was not granted within 1s and was given up so that writes could go on \(attempt 3 of 3\)/);
      // The session that holds BACKUP STAGE is named, idle as it is.
      expect(err.message).toContain(`which no statement shows (it may be idle, or running something else meanwhile); sessions older than the wait: connection ${other.threadId} (root@localhost), Sleep (idle) for `);
      expect(err.hint).toContain(`KILL ${other.threadId}`);
      expect(longestMs).toBeLessThan(longestWriteLimitMs);
    } finally {
      await writer.stop();
      await other.query('BACKUP STAGE END');
      await other.end();
    }
    // Nothing of the backup's is left holding a lock: the next one goes through.
    expect(await backup(1)).toMatchObject({ phase: 'Succeeded', consistent: true });
  });

  it('a session holding LOCK TABLES … WRITE while it runs SELECT SLEEP: the refusal names that session, its statement and what it holds', async () => {
    const holder = await rootConnection(server);
    await holder.query('LOCK TABLES h14.t WRITE');
    const sleeping = holder.query('SELECT SLEEP(60)').catch((e: unknown) => e);
    try {
      await sleep(1_200); // older than the 1 s bound
      const err = await failure(backup(1));
      expect(err.code, err.message).toBe('SNAPSHOT_LOCK_TIMEOUT');
      expect(err.exitCode).toBe(3);
      // Before: "no statement it waits for was in progress, so an idle session most likely holds a lock", naming none.
      expect(err.message).not.toContain('idle session');
      expect(err.message).toMatch(new RegExp(`connection ${holder.threadId} \\(root@localhost\\), Query for \\d+s: SELECT SLEEP\\(60\\)`));
      expect(err.message).toContain('tables locked at that moment: `h14`.`t`');
      expect(err.hint).toContain(`KILL ${holder.threadId}`);
    } finally {
      await sql(server, `KILL ${holder.threadId}`);
      await sleeping;
      holder.destroy();
    }
    expect(await backup(1)).toMatchObject({ phase: 'Succeeded', consistent: true });
  });
});
