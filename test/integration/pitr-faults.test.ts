/**
 * Point-in-time recovery under faults, as a user runs it: a replay whose client stops early (the
 * target already holds a table the binlogs create, or the target server dies) fails at once with
 * the client's error, and an interrupt of a replay, of `pitr archive` (once and continuous) and of
 * `pitr download` ends the run with exit 130. Never a hang, never exit 13, and no binlog tool,
 * client or temporary folder left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import type { PitrConfig } from '../../src/lib/config/schema.js';
import { silentLogger } from '../../src/lib/log.js';
import { createMysqlConnector } from '../../src/lib/mysql/connection.js';
import { archiveOnce } from '../../src/lib/pitr/archiver.js';
import { removeRunFolder } from '../../src/lib/private-temp.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { cliBin } from '../support/cli.js';
import { expectAppError } from '../support/expect-error.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

let source: TestServer;
let work: string;
/** The TMPDIR of every CLI run here: what they leave behind is theirs alone. */
let scratch: string;
let cwd: string;
let t0: number;
/** A value in a row of the binlogs: no error output may show it, nor its base64. */
const marker = `Marker-${Math.random().toString(36).slice(2)}-in-a-row`;
const targets: TestServer[] = [];
const started: ChildProcess[] = [];

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ended: Promise<number | null>;
}

/** `bloodraven ...args` in `cwd`, with its temporary files in `scratch`. */
function startCli(args: string[], dir: string): Cli {
  const child = spawn(process.execPath, [cliBin, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: scratch } });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const ended = new Promise<number | null>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { child, stdout: () => out, stderr: () => err, ended };
}

/** Rejects when `promise` has not settled within `ms`: the test fails instead of hanging. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

async function until(what: string, ms: number, test: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Processes whose command line mentions the scratch folder: the binlog tools and clients of the runs here. */
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

/** What the runs left in the scratch folder. */
async function leftovers(): Promise<string[]> {
  return (await readdir(scratch)).filter((n) => n.startsWith('bloodraven-'));
}

/**
 * A TCP proxy to the server that forwards the server's answers on each connection up to
 * `stallAfter` bytes, then holds the rest back for good: a server or network that stops answering.
 */
async function startStallingProxy(port: number, stallAfter: number): Promise<{ port: number; readonly stalled: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let stalled = 0;
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    let passed = 0;
    upstream.on('data', (b: Buffer) => {
      if (passed > stallAfter) return;
      passed += b.length;
      if (passed <= stallAfter) {
        client.write(b);
      } else {
        stalled++;
        upstream.pause();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get stalled() {
      return stalled;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function config(dir: string, pitr: string, port = source.port): Promise<void> {
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: app
mysql: { host: 127.0.0.1, port: ${port}, user: root }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [app] }
  pitr: { enabled: true, profileName: p, archivePollInterval: 3600, ${pitr} }
`,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-pitr-faults-'));
  scratch = join(work, 'tmp');
  await mkdir(scratch);
  source = await startTestServer();
  await sql(source, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(50)); INSERT INTO app.events SELECT seq, "base" FROM app.seq_1_to_10');
  cwd = await mkdtemp(join(work, 'cfg-'));
  await config(cwd, 'site: here, source: { type: local }');
  const backup = startCli(['backup', 'now'], cwd);
  if ((await backup.ended) !== 0) throw new Error(`backup now failed: ${backup.stderr()}`);
  t0 = Math.floor(Date.now() / 1000) + 600;
  // The marker row goes as a row event (mariadb-binlog prints it as base64); its table is created
  // only when missing, so a target that holds it already fails on the row, not on the table.
  await sql(
    source,
    `FLUSH BINARY LOGS; SET TIMESTAMP = ${t0}; INSERT INTO app.events VALUES (11, 'small');
     CREATE DATABASE IF NOT EXISTS vault; CREATE TABLE IF NOT EXISTS vault.secrets (k VARCHAR(64) PRIMARY KEY, v VARCHAR(200));
     INSERT INTO vault.secrets VALUES ('${marker}', '${marker} again'); FLUSH BINARY LOGS`,
  );
  // About 20 MB of row events in one transaction: far more than a pipe holds. In four
  // statements, since mariadb-binlog prints each statement's row events as one BINLOG statement,
  // which must fit the target's max_allowed_packet (16 MB by default; one 20 MB statement would
  // fail every replay as soon as it reaches it, whatever the test does meanwhile).
  await sql(
    source,
    `SET TIMESTAMP = ${t0 + 10}; CREATE DATABASE IF NOT EXISTS other; CREATE TABLE other.big (id INT PRIMARY KEY, pad VARCHAR(200));
     BEGIN;
     INSERT INTO other.big SELECT seq, REPEAT('x', 200) FROM app.seq_1_to_25000;
     INSERT INTO other.big SELECT seq, REPEAT('x', 200) FROM app.seq_25001_to_50000;
     INSERT INTO other.big SELECT seq, REPEAT('x', 200) FROM app.seq_50001_to_75000;
     INSERT INTO other.big SELECT seq, REPEAT('x', 200) FROM app.seq_75001_to_100000;
     COMMIT;
     INSERT INTO app.events VALUES (12, 'after big');
     SET TIMESTAMP = ${t0 + 30}; INSERT INTO app.events VALUES (13, 'after the target'); FLUSH BINARY LOGS`,
  );
  const archive = startCli(['pitr', 'archive', '--once'], cwd);
  if ((await archive.ended) !== 0) throw new Error(`pitr archive failed: ${archive.stderr()}`);
});

afterEach(async () => {
  // A run a failed test left going, and what it started, must not outlive the test.
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const p of await scratchProcesses()) process.kill(p.pid, 'SIGKILL');
  for (const name of await leftovers()) await rm(join(scratch, name), { recursive: true, force: true });
  await Promise.all(targets.splice(0).map((t) => t.stop()));
});

afterAll(async () => {
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/** What base64 of a text holds at each of the three alignments the text may have in a longer encoded run. */
function base64Forms(text: string): string[] {
  return [0, 1, 2].map((pad) => Buffer.from('x'.repeat(pad) + text).toString('base64').slice(4, -4));
}

async function newTarget(): Promise<TestServer> {
  const target = await startTestServer();
  targets.push(target);
  return target;
}

describe('a point-in-time replay that cannot go on', () => {
  it('fails at once with the client\'s error when the target already holds a table the binlogs create: exit 1, no tool left', async () => {
    const target = await newTarget();
    await sql(target, 'CREATE DATABASE other; CREATE TABLE other.big (id INT PRIMARY KEY, pad VARCHAR(200))');
    const run = startCli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(target.port), '--json'], cwd);
    // Before the fix: the binlog tool blocked on a pipe nobody read, and the CLI ended with 13 after minutes.
    const code = await within(90_000, 'restore bootstrap', run.ended);
    expect(run.stderr()).toMatch(
      /^error: replaying the binlogs into the target failed \(in the transaction at binlog here\/binlog\.\d+ position \d+ \(GTID \d+-\d+-\d+\); the last range given to mariadb: binlog here\/binlog\.\d+ from position \d+ to \d+, GTIDs \S+ to \S+\): mariadb --connect-timeout=30 --binary-mode exited with 1: ERROR 1050 \(42S01\) at line \d+: Table 'big' already exists$/m,
    );
    // The replay's mark was saved: once the table is out of the way, the same restore resumes the replay.
    expect(run.stderr()).toMatch(/^hint: the target holds the backup and part of the binlogs: fix what the error names .*, then run the same restore again \(the same --stop-datetime\) to resume the replay/m);
    expect(run.stderr()).toMatch(/^BLOODRAVEN_PITR_FAILED \{.*Table 'big' already exists/m);
    expect(code).toBe(1);
    expect(await scratchProcesses()).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('names the binlog file, offset and GTID of the failing transaction, and no value of its row, in any output', async () => {
    const target = await newTarget();
    // The target holds the marker row already: replaying it fails with a duplicate key, whose
    // message the server writes with the key's value.
    await sql(target, `CREATE DATABASE vault; CREATE TABLE vault.secrets (k VARCHAR(64) PRIMARY KEY, v VARCHAR(200)); INSERT INTO vault.secrets VALUES ('${marker}', 'here')`);
    const run = startCli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 5), '--port', String(target.port), '--json'], cwd);
    const code = await within(90_000, 'restore bootstrap', run.ended);
    expect(code, run.stderr()).toBe(1);
    // Where it failed, as the archive's manifest names the transaction: its file, offset and GTID.
    const manifest = JSON.parse(await readFile(join(cwd, 'backups', 'binlogs', 'manifest-here.json'), 'utf8')) as { entries: Array<{ file: string }> };
    const failing = /^error: replaying the binlogs into the target failed \(in the transaction at binlog here\/(binlog\.\d+) position (\d+) \(GTID (\d+-\d+-\d+)\); the last range given to mariadb: [^)]*\): mariadb --connect-timeout=30 --binary-mode exited with 1: ERROR 1062 \(23000\) at line \d+: Duplicate entry '<row data withheld>' for key 'PRIMARY'$/m.exec(run.stderr());
    expect(failing, run.stderr()).not.toBeNull();
    expect(manifest.entries.map((e) => e.file)).toContain(failing![1]);
    // The transaction named is the marker's, the one the target's own row collides with: it
    // starts with its GTID there, and writes to vault.secrets.
    const events = (await sql(source, `SHOW BINLOG EVENTS IN '${failing![1]}' FROM ${failing![2]} LIMIT 4`)) as Array<{ Event_type: string; Info: string }>;
    expect(events[0]!.Event_type).toBe('Gtid');
    expect(events[0]!.Info).toContain(failing![3]);
    expect(events.slice(1).some((e) => e.Info.includes('vault') && e.Info.includes('secrets')), JSON.stringify(events)).toBe(true);
    const output = run.stdout() + run.stderr();
    expect(output).toMatch(/^BLOODRAVEN_PITR_FAILED \{.*Duplicate entry '<row data withheld>'/m);
    expect(output).not.toContain(marker);
    for (const encoded of base64Forms(marker)) expect(output).not.toContain(encoded);
    expect(output).not.toMatch(/[A-Za-z0-9+/]{65,}/);
    expect(await leftovers()).toEqual([]);
  });

  it('fails with a named error when the target server dies during the replay and comes back', async () => {
    const target = await newTarget();
    const run = startCli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(target.port), '--json'], cwd);
    // The binlog tool or the client: the tool may have written all it has into the pipe while the
    // client still applies it, and either one running means the replay is under way.
    await until('the replay to run', 90_000, async () => run.child.exitCode !== null || (await scratchProcesses()).length > 0);
    expect(run.child.exitCode, run.stderr()).toBeNull();
    await target.crash();
    await target.restart();
    const code = await within(90_000, 'restore bootstrap', run.ended);
    expect(run.stderr()).toMatch(/^error: replaying the binlogs into the target failed \((in the transaction at binlog here\/binlog\.\d+ position \d+ \(GTID \S+\); )?the last range given to mariadb: binlog here\/binlog\.\d+ .*\): mariadb --connect-timeout=30 --binary-mode exited with 1: ERROR 20(02|03|06|13) \(HY000\)/m);
    expect(run.stderr()).toMatch(/^BLOODRAVEN_PITR_FAILED /m);
    expect(code).toBe(1);
    expect(await scratchProcesses()).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });
});

describe('a remote binlog fetch that stalls', () => {
  it('is stopped after the bound with BINLOG_FETCH_STALLED, leaving no tool and no folder', async () => {
    const proxy = await startStallingProxy(source.port, 1_000_000);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    try {
      const store = createFsStore({ root: join(work, 'stalled') });
      const deps = { connector: createMysqlConnector({ host: '127.0.0.1', port: proxy.port, user: 'root' }), store, runner: nodeProcessRunner, logger: silentLogger, clock: systemClock, fetchStallMs: 3000 };
      const config: PitrConfig = { enabled: true, profileName: 'p', archivePollInterval: 60, site: 'stalled', source: { type: 'remote' } };
      const archiving = expectAppError(archiveOnce(deps, config), 'BINLOG_FETCH_STALLED');
      // The file being fetched holds row data: only this user may read it, while it is fetched.
      let fetched: string | undefined;
      await until('the fetched binlog to show', 30_000, async () => {
        for (const own of (await readdir(scratch)).filter((n) => n.startsWith(`bloodraven-run-${process.pid}-`))) {
          for (const dir of (await readdir(join(scratch, own))).filter((n) => n.startsWith('binlog-'))) {
            const [file] = await readdir(join(scratch, own, dir)).catch(() => []);
            if (file) fetched = join(scratch, own, dir, file);
          }
        }
        return fetched !== undefined && (await stat(fetched).catch(() => null))?.size !== 0;
      });
      expect(((await stat(fetched!)).mode & 0o777).toString(8)).toBe('600');
      // Before the bound: mariadb-binlog waited for ever on the stalled connection.
      const err = await within(60_000, 'archiveOnce', archiving);
      expect(err.message).toMatch(/^mariadb-binlog received nothing of binlog\.\d+ from the server for 3 s; it was stopped$/);
      expect(err.hint).toMatch(/mysql\.host/);
      expect(proxy.stalled).toBeGreaterThan(0);
      expect(await scratchProcesses()).toEqual([]);
      // The fetch ran in this process: its folder was inside this process's run folder, and is gone.
      for (const own of (await readdir(scratch)).filter((n) => n.startsWith(`bloodraven-run-${process.pid}-`))) {
        expect(await readdir(join(scratch, own))).toEqual(['owner.json']);
      }
      await removeRunFolder();
      expect(await leftovers()).toEqual([]);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      await proxy.close();
    }
  });
});

describe('an interrupt', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s during a point-in-time replay stops the binlog tool and the client, removes the downloaded binlogs, and exits 130', async (sig) => {
    const target = await newTarget();
    const run = startCli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(target.port), '--json'], cwd);
    // The binlog tool or the client: the tool may have written all it has into the pipe while the
    // client still applies it, and either one running means the replay is under way.
    await until('the replay to run', 90_000, async () => run.child.exitCode !== null || (await scratchProcesses()).length > 0);
    expect(run.child.exitCode, run.stderr()).toBeNull();
    const children = await scratchProcesses();
    run.child.kill(sig);
    const code = await within(30_000, 'restore bootstrap', run.ended);
    expect(run.stderr()).toMatch(new RegExp(`^BLOODRAVEN_PITR_FAILED \\{.*"reason":"interrupted: ${sig}"`, 'm'));
    expect(run.stderr()).toMatch(new RegExp(`^error: interrupted: ${sig}`, 'm'));
    expect(code).toBe(130);
    for (const c of children) expect(existsSync(`/proc/${c.pid}`), c.cmd).toBe(false);
    expect(await scratchProcesses()).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it.each([
    // A one-shot run stopped before its end is interrupted; a continuous one is stopped so.
    ['--once', 130, ['--once'], /^error: interrupted: SIGTERM/m, /^(?![\s\S]*Stopped)/],
    ['continuous', 0, [], /^(?![\s\S]*(?:^|\n)error:)/, /^Stopped \(SIGTERM\): archived \d+ binlog\(s\) for site far while running.*; a file not archived yet is taken by the next run$/m],
  ] as const)('during pitr archive (%s, remote source) stuck on a stalled connection stops mariadb-binlog, removes its folder, and exits %i', async (_mode, exitCode, extra, stderr, stdout) => {
    // The server's answers stop after 1 MB on each connection: mariadb-binlog waits for ever on the big file.
    const proxy = await startStallingProxy(source.port, 1_000_000);
    try {
      const dir = await mkdtemp(join(work, 'remote-'));
      await config(dir, 'site: far, source: { type: remote }', proxy.port);
      const run = startCli(['pitr', 'archive', ...extra], dir);
      await until('the fetch to stall', 90_000, () => proxy.stalled > 0);
      let tools: Array<{ pid: number; cmd: string }> = [];
      await until('mariadb-binlog to show', 30_000, async () => (tools = await scratchProcesses('mariadb-binlog')).length > 0);
      expect(tools).toHaveLength(1);
      run.child.kill('SIGTERM');
      const code = await within(30_000, 'pitr archive', run.ended);
      expect(run.stderr()).toMatch(stderr);
      expect(run.stdout()).toMatch(stdout);
      expect(code, run.stderr()).toBe(exitCode);
      expect(existsSync(`/proc/${tools[0]!.pid}`)).toBe(false);
      expect(await scratchProcesses()).toEqual([]);
      expect(await leftovers()).toEqual([]);
      // What was uploaded is in the manifest with its checksum; the file being fetched is not.
      const fetching = /\s(\S+)$/.exec(tools[0]!.cmd.trim())?.[1];
      expect(fetching).toMatch(/^binlog\.\d+$/);
      const manifestPath = join(dir, 'backups', 'binlogs', 'manifest-far.json');
      const entries = existsSync(manifestPath) ? (JSON.parse(await readFile(manifestPath, 'utf8')) as { entries: Array<{ file: string }> }).entries : [];
      expect(entries.map((e) => e.file)).not.toContain(fetching);
    } finally {
      await proxy.close();
    }
  });

  it('SIGKILL during pitr archive (remote source) leaves the binlog it held only in its private folder, and the next command stops its tool and sweeps it', async () => {
    const proxy = await startStallingProxy(source.port, 1_000_000);
    try {
      const dir = await mkdtemp(join(work, 'killed-'));
      await config(dir, 'site: far, source: { type: remote }', proxy.port);
      const run = startCli(['pitr', 'archive', '--once'], dir);
      await until('the fetch to stall', 90_000, () => proxy.stalled > 0);
      let tools: Array<{ pid: number; cmd: string }> = [];
      await until('mariadb-binlog to show', 30_000, async () => (tools = await scratchProcesses('mariadb-binlog')).length > 0);
      expect(tools).toHaveLength(1);
      // The file it fetches (--result-file=<folder>/ <file>): rows in plaintext, in the run's
      // private folder, readable by this user alone.
      const [, into, name] = /--result-file=(\S+)\/ (\S+)$/.exec(tools[0]!.cmd.trim()) ?? [];
      const fetched = join(into!, name!);
      await until('the fetched binlog to hold bytes', 30_000, async () => ((await stat(fetched).catch(() => null))?.size ?? 0) > 0);
      const folder = fetched.slice(0, fetched.indexOf('/', scratch.length + 1));
      expect(folder).toMatch(new RegExp(`/bloodraven-run-${run.child.pid}-[^/]+$`));
      expect(((await stat(folder)).mode & 0o777).toString(8)).toBe('700');
      expect(((await stat(fetched)).mode & 0o777).toString(8)).toBe('600');
      expect(await leftovers()).toEqual([folder.slice(scratch.length + 1)]);

      run.child.kill('SIGKILL');
      await within(30_000, 'pitr archive', run.ended);
      // Nothing runs in a process killed so: the binlog is still there, and its tool still fetches it.
      expect((await stat(fetched)).size).toBeGreaterThan(0);
      expect(existsSync(`/proc/${tools[0]!.pid}`)).toBe(true);

      // The next command, whatever it is, stops the dead run's tool and removes its folder first.
      const next = startCli(['backup', 'list'], cwd);
      expect(await within(60_000, 'backup list', next.ended), next.stderr()).toBe(0);
      expect(await leftovers()).toEqual([]);
      expect(await scratchProcesses()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a continuous pitr archive stopped while every scan failed exits 1 naming the last failure, not 0', async () => {
    // A port nothing listens on: each scan fails to connect.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const dir = await mkdtemp(join(work, 'failing-'));
    await config(dir, 'site: down, source: { type: remote }', port);
    const run = startCli(['pitr', 'archive'], dir);
    await until('a scan to fail', 60_000, () => run.stderr().includes('binlog archiving failed'));
    run.child.kill('SIGTERM');
    const code = await within(30_000, 'pitr archive', run.ended);
    expect(code, run.stderr()).toBe(1);
    expect(run.stdout()).toMatch(/^Stopped \(SIGTERM\): archived 0 binlog\(s\)/m);
    expect(run.stderr()).toMatch(new RegExp(`^error: stopped \\(SIGTERM\\) while archiving was failing; the last scan said: cannot reach the MySQL server at 127\\.0\\.0\\.1:${port}`, 'm'));
    expect(run.stderr()).toMatch(/^hint: fix what that names/m);
  });

  it('during pitr download stops the copy, leaves no partial file, and exits 130', async () => {
    const dest = join(work, 'dl');
    const run = startCli(['pitr', 'download', '--stop-datetime', iso(t0 + 20), '--dest', dest], cwd);
    // The small file comes first; the interrupt lands while the big one is copied.
    await until('the first file', 90_000, () => run.stdout().includes('\n'));
    run.child.kill('SIGSTOP');
    run.child.kill('SIGINT');
    run.child.kill('SIGCONT');
    const code = await within(30_000, 'pitr download', run.ended);
    expect(run.stderr()).toMatch(/^error: interrupted: SIGINT/m);
    expect(code).toBe(130);
    const files = (await readdir(join(dest, 'here'))).sort();
    expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);
    // Every file left is whole and announced; the big one, being copied, is not there.
    const lines = run.stdout().trim().split('\n').map((l) => JSON.parse(l) as { file: string; lastEventTime: string });
    expect(files).toEqual(lines.map((l) => l.file).sort());
    expect(lines.map((l) => l.lastEventTime)).not.toContain(iso(t0 + 30));
    expect(await leftovers()).toEqual([]);
  });
});
