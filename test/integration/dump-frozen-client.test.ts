/**
 * A frozen `backup now` (issue 14, Deliver 2: locks on the source are held only while work
 * progresses). A stopped process, a paused container or VM sends nothing, so nothing on the client
 * side can release what its sessions hold: the backup stage that blocks DDL, and the snapshot
 * transactions' locks on the tables they read. The server must drop those sessions on its own,
 * within a bound derived from the profile's settings (dump.storageStallTimeout and
 * mysql.unresponsiveTimeout), and DDL on the source must then go on.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { dumpInstance } from '../../src/lib/dump/dump-instance.js';
import { dumpSessionTimeoutSeconds } from '../../src/lib/dump/snapshot.js';
import { silentLogger } from '../../src/lib/log.js';
import { createMysqlConnector } from '../../src/lib/mysql/connection.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { runCli } from '../support/cli.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

let server: TestServer;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-frozen-'));
  server = await startTestServer();
  // Tens of MB of rows: the dump is still reading them when the client is stopped.
  await sql(
    server,
    `CREATE DATABASE big; USE big;
     CREATE TABLE rows400k (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32));
     INSERT INTO rows400k SELECT seq, MD5(seq), MD5(seq * 7), MD5(seq * 13) FROM seq_1_to_400000;
     ANALYZE TABLE rows400k;`,
  );
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Resolves with the value, or with 'timeout' once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('a frozen backup now', () => {
  it('the bound scales with the settings that bound legitimate pauses', () => {
    // The defaults: 120 s stall, 60 s silence, and a margin of the larger.
    expect(dumpSessionTimeoutSeconds({ storageStallTimeoutSeconds: 120, unresponsiveTimeoutSeconds: 60 })).toBe(300);
    expect(dumpSessionTimeoutSeconds({ storageStallTimeoutSeconds: 2, unresponsiveTimeoutSeconds: 2 })).toBe(6);
  });

  it('a healthy dump whose sessions sit idle for twice the bound keeps them (and DDL blocked) and completes', async () => {
    // 1 s each: the server-side bound is 3 s.
    const connector = createMysqlConnector({ host: '127.0.0.1', port: server.port, user: 'root', unresponsiveTimeoutMs: 1_000 });
    const fsStore = createFsStore({ root: join(work, 'healthy') });
    // The first index file's write is held until the test lets it go: meanwhile the workers
    // have nothing left to read, the planner is done, and the backup stage is held by a session
    // that runs nothing.
    let reached: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (reached = resolve));
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let gated = false;
    const store = new Proxy(fsStore, {
      get(target, name, receiver) {
        if (name !== 'put') return Reflect.get(target, name, receiver) as unknown;
        const put: ObjectStore['put'] = async (key, data, options) => {
          if (!gated && key.endsWith('.idx')) {
            gated = true;
            reached?.();
            await gate;
          }
          return target.put(key, data, options);
        };
        return put;
      },
    });
    const dump = dumpInstance(
      { connector, store, logger: silentLogger, clock: fixedClock(new Date('2026-01-02T03:04:05Z')) },
      'healthy/',
      { threads: 2, bytesPerChunk: 4_000_000, compression: 'none', consistent: true, includeSchemas: ['big'], excludeSchemas: [], lockWaitTimeoutSeconds: 5, storageStallTimeoutSeconds: 1 },
      { signal: new AbortController().signal, dumper: 'bloodraven test' },
    );
    dump.catch(() => undefined);
    try {
      expect(await within(held, 60_000)).toBeUndefined();
      // Twice the bound, idle.
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      // DDL is still held off: the session holding the backup stage was not dropped.
      const ddl = await sql(server, 'SET SESSION lock_wait_timeout = 1; CREATE TABLE big.during_dump (id INT)').catch((err: unknown) => err);
      expect(ddl).toBeInstanceOf(Error);
      expect(String(ddl)).toMatch(/lock wait timeout/i);
    } finally {
      release?.();
    }
    const result = await within(dump, 60_000);
    expect(result).not.toBe('timeout');
    if (result === 'timeout') return;
    expect(result.tables.map((t) => [t.table, t.rows])).toEqual([['rows400k', 400_000]]);
  }, 120_000);

  it('SIGSTOP mid-dump: the server drops its sessions, and DDL on the source (new table, and the table being read) proceeds while it is still stopped', async () => {
    const cwd = await mkdtemp(join(work, 'cfg-'));
    const storage = join(work, 'backups');
    // Bounds of 2 s each make the server-side bound 6 s (dumpSessionTimeoutSeconds).
    await writeFile(
      join(cwd, 'bloodraven.yaml'),
      `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root, unresponsiveTimeout: 2 }
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ${JSON.stringify(storage)} } }
      dump: { threads: 2, bytesPerChunk: 4M, compression: none, includeSchemas: [big], storageStallTimeout: 2 }
`,
    );
    let stopped: (() => void) | undefined;
    const stoppedNow = new Promise<void>((resolve) => (stopped = resolve));
    let pid: number | undefined;
    let cliChild: { kill(signal?: NodeJS.Signals): boolean } | undefined;
    const cli = runCli(['backup', 'now'], cwd, (text, child) => {
      cliChild = child;
      if (pid === undefined && text.includes('progress: dump table data') && child.pid !== undefined) {
        pid = child.pid;
        process.kill(pid, 'SIGSTOP');
        stopped?.();
      }
    });
    try {
      const began = await within(
        Promise.race([stoppedNow, cli.then(() => 'ended' as const)]),
        90_000,
      );
      expect(began, 'the CLI was stopped in the data phase').toBeUndefined();

      // While the client is stopped: a table created (held up by the backup stage), then the
      // table the workers read altered (held up by their snapshot transactions' metadata locks).
      const create = await within(
        sql(server, 'CREATE TABLE big.after_freeze (id INT)').catch((err: unknown) => err),
        60_000,
      );
      expect(create).not.toBe('timeout');
      expect(create).not.toBeInstanceOf(Error);
      const alter = await within(
        sql(server, "ALTER TABLE big.rows400k COMMENT = 'after freeze'").catch((err: unknown) => err),
        60_000,
      );
      expect(alter).not.toBe('timeout');
      expect(alter).not.toBeInstanceOf(Error);

      // Still stopped: the locks went because the server dropped the sessions, not because the
      // client ended them.
      const state = await processState(pid!);
      expect(state).toBe('T');

      // Resumed, it fails, and says it was the one paused: not that the server stopped answering.
      process.kill(pid!, 'SIGCONT');
      const result = await within(cli, 60_000);
      expect(result).not.toBe('timeout');
      const { code, stderr } = result as { code: number | null; stderr: string };
      expect(code, stderr).toBe(1);
      expect(stderr).not.toMatch(/SERVER_UNRESPONSIVE|has not answered for/);
      expect(stderr).toMatch(/^hint: this process was paused for \d+ s \(stopped with SIGSTOP/m);
      expect(stderr).toMatch(/^error: lost the connection .* \(after this process was paused for \d+ s\)$/m);
    } finally {
      // SIGKILL ends a stopped process (and one that already ended ignores it).
      cliChild?.kill('SIGCONT');
      cliChild?.kill('SIGKILL');
      await within(cli, 30_000);
    }
  }, 240_000);
});

/** The process's state letter from /proc (T: stopped). */
async function processState(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Field 3, after the command name in parentheses (which may hold spaces).
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
}
