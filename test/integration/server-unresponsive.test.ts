/**
 * A server that stops answering but keeps its connections open (here: a mariadbd stopped with
 * SIGSTOP) must not hold a run for ever (issue 14, Deliver 1 and 2). The run watches the server
 * (server-watch.ts) and, once it has been silent for mysql.unresponsiveTimeout, fails with
 * SERVER_UNRESPONSIVE and drops its sessions, so that the server, once resumed, ends them and
 * releases their locks. Every test resumes the server in `finally`: none is left stopped.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { ServerUnresponsiveError, type AppError } from '../../src/lib/errors.js';
import { createMysqlConnector } from '../../src/lib/mysql/connection.js';
import { watchServer } from '../../src/lib/mysql/server-watch.js';
import { checksumTable, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { cliBin, runCli, type CliResult } from '../support/cli.js';

/** The bound on silence in the tests' config, seconds: short, so the tests are quick. */
const unresponsiveSeconds = 5;

let source: TestServer;
let work: string;
const servers: TestServer[] = [];
/** Servers stopped by a test and not yet resumed: resumed in afterAll at the latest. */
const stopped = new Set<number>();

async function pidOf(server: TestServer): Promise<number> {
  return Number((await readFile(join(dirname(server.datadir), 'mysqld.pid'), 'utf8')).trim());
}

function freeze(pid: number): void {
  stopped.add(pid);
  process.kill(pid, 'SIGSTOP');
}

function thaw(pid: number): void {
  if (!stopped.delete(pid)) return;
  process.kill(pid, 'SIGCONT');
}

/** Resolves with the value, or with 'timeout' once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs the CLI; once its stderr matches `when`, stops `server` with SIGSTOP. The CLI is killed if
 * it has not ended after `limitMs` (the broken behaviour: it never ends), and 'timeout' returned.
 */
async function freezeMidway(args: string[], cwd: string, server: TestServer, when: RegExp, limitMs = 90_000): Promise<{ cli: CliResult | 'timeout'; frozen: boolean }> {
  const pid = await pidOf(server);
  let child: ChildProcess | undefined;
  let frozen = false;
  const cli = runCli(args, cwd, (text, c) => {
    child = c;
    if (!frozen && when.test(text)) {
      frozen = true;
      freeze(pid);
    }
  });
  try {
    const ended = await within(cli, limitMs);
    if (ended === 'timeout') {
      child?.kill('SIGKILL');
      await cli;
    }
    return { cli: ended, frozen };
  } finally {
    thaw(pid);
  }
}

/** Sessions of the CLI on `server` (it connects over TCP; the tests' own sessions use the socket). */
async function cliSessions(server: TestServer): Promise<string[]> {
  const rows = (await sql(server, "SELECT CONCAT(ID, ' ', COMMAND, ' ', IFNULL(STATE, ''), ' ', IFNULL(INFO, '')) AS s FROM information_schema.PROCESSLIST WHERE HOST LIKE '127.0.0.1:%'")) as Array<{ s: string }>;
  return rows.map((r) => r.s);
}

/** Waits (up to 30 s) until the server has ended every session of the CLI; returns those left. */
async function sessionsGone(server: TestServer): Promise<string[]> {
  let left = await cliSessions(server);
  for (let i = 0; i < 60 && left.length > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    left = await cliSessions(server);
  }
  return left;
}

async function config(dir: string, port: number, dump: string): Promise<void> {
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${port}, user: root, unresponsiveTimeout: ${unresponsiveSeconds}s }
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { ${dump} }
`,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-frozen-'));
  source = await startTestServer();
  // About 45 MB of rows: the dump and the load are still at their data when the server stops.
  await sql(
    source,
    `CREATE DATABASE big; USE big;
     CREATE TABLE rows400k (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32));
     INSERT INTO rows400k SELECT seq, MD5(seq), MD5(seq * 7), MD5(seq * 13) FROM seq_1_to_400000;
     CREATE TABLE keyless (v VARCHAR(50));
     INSERT INTO keyless SELECT CONCAT('row ', seq) FROM seq_1_to_200000;
     ANALYZE TABLE rows400k, keyless;`,
  );
}, 120_000);

afterAll(async () => {
  for (const pid of [...stopped]) thaw(pid);
  await Promise.all([source?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the server watch', () => {
  it('lets a long statement run (a busy server is no silence), then stops the run once the server is silent: its signal fires with SERVER_UNRESPONSIVE, its sessions fail with it, new ones are refused', async () => {
    const watch = await watchServer(rootConnector(source), { signal: new AbortController().signal, timeoutMs: 2_000 });
    const pid = await pidOf(source);
    try {
      const session = await watch.connector.connect();
      // Twice the bound: the watch's pings are answered meanwhile, so it is no silence.
      expect(await session.query<{ slept: string | number }>('SELECT SLEEP(4) AS slept')).toEqual([{ slept: expect.anything() as unknown }]);
      expect(watch.signal.aborted).toBe(false);

      const running = session.query('SELECT COUNT(*) FROM big.rows400k').then(
        () => 'answered',
        (err: unknown) => err,
      );
      freeze(pid);
      const fired = await within(new Promise((resolve) => watch.signal.addEventListener('abort', resolve, { once: true })), 30_000);
      expect(fired).not.toBe('timeout');
      const reason = watch.signal.reason as ServerUnresponsiveError;
      expect(reason).toBeInstanceOf(ServerUnresponsiveError);
      expect(reason.message).toMatch(new RegExp(`^the MySQL server at 127\\.0\\.0\\.1:${source.port} has not answered for \\d+ s`));
      // The statement waiting on the stopped server ends with the verdict, at once.
      expect(await within(running, 5_000)).toBe(reason);
      await expect(watch.connector.connect()).rejects.toBe(reason);
      // Dropped sessions close at once, the server stopped or not.
      expect(await within(session.close(), 5_000)).not.toBe('timeout');
    } finally {
      thaw(pid);
      await watch.stop();
    }
    expect(await sessionsGone(source)).toEqual([]);
  }, 60_000);

  it('bounds the connection attempt to a stopped server by the connect timeout', async () => {
    const pid = await pidOf(source);
    freeze(pid);
    try {
      const connector = createMysqlConnector({ host: '127.0.0.1', port: source.port, user: 'root', connectTimeoutMs: 2_000 });
      const attempt = watchServer(connector, { signal: new AbortController().signal, timeoutMs: 2_000 }).then(
        (w) => w.stop().then(() => 'connected'),
        (err: unknown) => err,
      );
      const ended = await within(attempt, 30_000);
      expect(ended).not.toBe('timeout');
      expect(ended).toMatchObject({ code: 'MYSQL_UNREACHABLE' });
      // The bound that ended it is named, with the setting that sets it.
      expect((ended as AppError).message).toBe(`cannot reach the MySQL server at 127.0.0.1:${source.port}: it did not answer within 2 s (mysql.connectTimeoutSeconds)`);
      expect((ended as AppError).hint).toMatch(/raise mysql\.connectTimeoutSeconds$/);
    } finally {
      thaw(pid);
    }
    expect(await sessionsGone(source)).toEqual([]);
  }, 60_000);
});

describe('a source that stops answering mid-dump', () => {
  it('backup now fails with SERVER_UNRESPONSIVE (exit 1) within the bound; once resumed, the source has none of its sessions and DDL proceeds; the record is Failed', async () => {
    const cwd = await mkdtemp(join(work, 'backup-'));
    await config(cwd, source.port, 'threads: 2, bytesPerChunk: 8M, compression: none, includeSchemas: [big]');
    const r = await freezeMidway(['backup', 'now'], cwd, source, /progress: dump table data/);
    expect(r.frozen).toBe(true);
    expect(r.cli, 'backup now never ended while the source was stopped').not.toBe('timeout');
    const cli = r.cli as CliResult;
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^error: the MySQL server at 127\\.0\\.0\\.1:${source.port} has not answered for \\d+ s`, 'm'));
    expect(cli.stderr).toMatch(/^hint: check the server: a stopped or hung process.*then run again.*raise mysql\.unresponsiveTimeout \(now 5 s\)/m);
    expect(cli.stdout).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);

    // Resumed, the source finds the dump's sessions gone and ends them: the backup lock goes with them.
    expect(await sessionsGone(source)).toEqual([]);
    expect(await within(sql(source, 'CREATE TABLE big.after_freeze (id INT)'), 30_000)).not.toBe('timeout');
    await sql(source, 'DROP TABLE big.after_freeze');

    const [name] = await readdir(join(cwd, 'backups'));
    const files = await readdir(join(cwd, 'backups', name!));
    expect(files).not.toContain('@.done.json');
    const record = JSON.parse(await readFile(join(cwd, 'backups', name!, 'bloodraven.json'), 'utf8')) as BackupRecord;
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'SERVER_UNRESPONSIVE' } });
  }, 180_000);
});

describe('a target that stops answering mid-load', () => {
  let cwd: string;

  beforeAll(async () => {
    cwd = await mkdtemp(join(work, 'restore-'));
    await config(cwd, source.port, 'threads: 2, bytesPerChunk: 4M, includeSchemas: [big]');
    const backup = await runCli(['backup', 'now'], cwd);
    if (backup.code !== 0) throw new Error(`backup now failed: ${backup.stderr}`);
  }, 120_000);

  it('restore bootstrap fails with SERVER_UNRESPONSIVE (exit 1) within the bound; run again after the target resumes, it finishes with the source checksums', async () => {
    const target = await startTestServer();
    servers.push(target);
    const args = ['restore', 'bootstrap', '--backup', 'latest', '--port', String(target.port)];
    const r = await freezeMidway(args, cwd, target, /progress: load table data/);
    expect(r.frozen).toBe(true);
    expect(r.cli, 'restore bootstrap never ended while the target was stopped').not.toBe('timeout');
    const cli = r.cli as CliResult;
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^error: the MySQL server at 127\\.0\\.0\\.1:${target.port} has not answered for \\d+ s`, 'm'));
    expect(cli.stderr).toMatch(/^hint: check the server/m);

    // The claim's session is among those the target ends once resumed: a new restore may run.
    expect(await sessionsGone(target)).toEqual([]);
    const again = await runCli(args, cwd);
    expect(again.code, again.stderr).toBe(0);
    expect(await checksumTable(target, 'big.rows400k')).toBe(await checksumTable(source, 'big.rows400k'));
    expect(await checksumTable(target, 'big.keyless')).toBe(await checksumTable(source, 'big.keyless'));
  }, 240_000);

  it('restore in-place fails with SERVER_UNRESPONSIVE (exit 1) within the bound; the fence it could not lower is taken over and lowered by the next in-place restore, which finishes', async () => {
    const target = await startTestServer();
    servers.push(target);
    const args = ['restore', 'in-place', '--backup', 'latest', '--confirm', 'now', '--port', String(target.port)];
    const r = await freezeMidway(args, cwd, target, /progress: load table data/);
    expect(r.frozen).toBe(true);
    expect(r.cli, 'restore in-place never ended while the target was stopped').not.toBe('timeout');
    const cli = r.cli as CliResult;
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^error: the MySQL server at 127\\.0\\.0\\.1:${target.port} has not answered for \\d+ s`, 'm'));

    expect(await sessionsGone(target)).toEqual([]);
    // The stopped server could not be asked to lower the fence: it is still up, and recorded.
    const [ro] = (await sql(target, 'SELECT @@GLOBAL.read_only AS ro')) as Array<{ ro: string | number }>;
    expect(Number(ro!.ro)).toBe(1);
    const again = await runCli(args, cwd);
    expect(again.code, again.stderr).toBe(0);
    const [after] = (await sql(target, 'SELECT @@GLOBAL.read_only AS ro')) as Array<{ ro: string | number }>;
    expect(Number(after!.ro)).toBe(0);
    expect(await checksumTable(target, 'big.rows400k')).toBe(await checksumTable(source, 'big.rows400k'));
  }, 240_000);

  it('verify into a --scratch server that stops answering fails with SERVER_UNRESPONSIVE (exit 1) within the bound, and saves no result', async () => {
    const scratchServer = await startTestServer();
    servers.push(scratchServer);
    const r = await freezeMidway(['verify', '--backup', 'latest', '--scratch', `mysql://root@127.0.0.1:${scratchServer.port}`], cwd, scratchServer, /progress: load table data/);
    expect(r.frozen).toBe(true);
    expect(r.cli, 'verify never ended while the scratch server was stopped').not.toBe('timeout');
    const cli = r.cli as CliResult;
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^error: the MySQL server at 127\\.0\\.0\\.1:${scratchServer.port} has not answered for \\d+ s`, 'm'));
    expect(cli.stderr).toMatch(/^hint: check the server.*raise mysql\.unresponsiveTimeout \(now 5 s\)/m);
    // A stopped scratch server says nothing about the backup.
    const name = (await readdir(join(cwd, 'backups'))).find((n) => n.startsWith('shop-local-'));
    expect(await readdir(join(cwd, 'backups', name!))).not.toContain('verification.json');
    expect(await sessionsGone(scratchServer)).toEqual([]);
  }, 240_000);
});

describe('a target that stops answering during a point-in-time replay', () => {
  let cwd: string;
  /** The TMPDIR of the runs here: the replay's programs name it on their command lines. */
  let scratch: string;
  let t0: number;

  /** Processes whose command line mentions the scratch folder: the replay's binlog tool and client. */
  async function scratchProcesses(name?: string): Promise<Array<{ pid: number; cmd: string }>> {
    const found: Array<{ pid: number; cmd: string }> = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
        const state = (await readFile(`/proc/${entry}/stat`, 'utf8')).split(') ')[1]?.[0];
        if (cmd.includes(scratch) && state !== 'Z' && (!name || cmd.includes(name))) found.push({ pid: Number(entry), cmd });
      } catch {
        // The process ended while we looked.
      }
    }
    return found;
  }

  beforeAll(async () => {
    cwd = await mkdtemp(join(work, 'pitr-'));
    scratch = join(work, 'pitr-tmp');
    await mkdir(scratch);
    await writeFile(
      join(cwd, 'bloodraven.yaml'),
      `name: app
mysql: { host: 127.0.0.1, port: ${source.port}, user: root, unresponsiveTimeout: ${unresponsiveSeconds}s }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [app] }
  pitr: { enabled: true, profileName: p, archivePollInterval: 3600, site: here, source: { type: local } }
`,
    );
    await sql(source, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(50)); INSERT INTO app.events VALUES (1, "base")');
    const backup = await runCli(['backup', 'now'], cwd);
    if (backup.code !== 0) throw new Error(`backup now failed: ${backup.stderr}`);
    t0 = Math.floor(Date.now() / 1000) + 600;
    // About 20 MB of row events to replay, in statements that each fit the default max_allowed_packet.
    await sql(
      source,
      `FLUSH BINARY LOGS; SET TIMESTAMP = ${t0}; CREATE TABLE app.rows (id INT PRIMARY KEY, pad VARCHAR(200));
       INSERT INTO app.rows SELECT seq, REPEAT('p', 200) FROM app.seq_1_to_30000;
       INSERT INTO app.rows SELECT seq, REPEAT('p', 200) FROM app.seq_30001_to_60000;
       INSERT INTO app.rows SELECT seq, REPEAT('p', 200) FROM app.seq_60001_to_90000;
       SET TIMESTAMP = ${t0 + 30}; INSERT INTO app.events VALUES (2, 'after'); FLUSH BINARY LOGS`,
    );
    const archive = await runCli(['pitr', 'archive', '--once'], cwd);
    if (archive.code !== 0) throw new Error(`pitr archive failed: ${archive.stderr}`);
  }, 180_000);

  it('restore bootstrap --stop-datetime fails with SERVER_UNRESPONSIVE (exit 1) within the bound, stopping the binlog tool and the client, leaving no temporary folder', async () => {
    const target = await startTestServer();
    servers.push(target);
    const pid = await pidOf(target);
    const stopAt = new Date((t0 + 20) * 1000).toISOString();
    const child = spawn(process.execPath, [cliBin, 'restore', 'bootstrap', '--stop-datetime', stopAt, '--port', String(target.port)], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: scratch },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.resume();
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let programs: Array<{ pid: number; cmd: string }> = [];
    try {
      for (let i = 0; i < 9_000 && child.exitCode === null && programs.length === 0; i++) {
        programs = await scratchProcesses('mariadb-binlog');
        if (programs.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(programs, stderr).not.toEqual([]);
      programs = await scratchProcesses();
      freeze(pid);
      const code = await within(ended, 90_000);
      if (code === 'timeout') child.kill('SIGKILL');
      expect(code, 'the replay never ended while the target was stopped').not.toBe('timeout');
      expect(stderr).toMatch(new RegExp(`^error: the MySQL server at 127\\.0\\.0\\.1:${target.port} has not answered for \\d+ s`, 'm'));
      expect(code).toBe(1);
      // Stopped while the target was still stopped: the programs did not wait for it.
      for (const p of programs) expect(existsSync(`/proc/${p.pid}`), p.cmd).toBe(false);
      expect(await scratchProcesses()).toEqual([]);
      expect((await readdir(scratch)).filter((n) => n.startsWith('bloodraven-'))).toEqual([]);
    } finally {
      thaw(pid);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(await sessionsGone(target)).toEqual([]);
  }, 240_000);
});
