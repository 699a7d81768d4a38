/**
 * Point-in-time restores the trial found wanting, run as a user runs them:
 * - an in-place restore of one server cuts the point-in-time window of that server only, not of
 *   another server whose backups and binlogs share the profile's storage;
 * - a binlog statement bigger than the target's max_allowed_packet is refused before anything is
 *   loaded (it failed as "server has gone away" after the load and part of the replay);
 * - a replay interrupted part-way is resumed by running the same restore again, ending exactly
 *   where an uninterrupted restore ends (it was refused as a complete load).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliBin } from '../support/cli.js';
import { checksumTable, sql, startTestServer, type TestServer } from '../support/mariadb.js';

let source: TestServer;
let work: string;
let scratch: string;
let cwd: string;
let t0: number;
const targets: TestServer[] = [];
const started: ChildProcess[] = [];

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ended: Promise<number | null>;
}

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

async function cli(args: string[], dir = cwd): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, dir);
  const code = await run.ended;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

async function until(what: string, ms: number, test: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function config(dir: string, port: number): Promise<void> {
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: app
mysql: { host: 127.0.0.1, port: ${port}, user: root }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [app] }
  pitr: { enabled: true, profileName: p, archivePollInterval: 3600, site: here, source: { type: local } }
`,
  );
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

async function newTarget(): Promise<TestServer> {
  const target = await startTestServer();
  targets.push(target);
  return target;
}

async function count(server: TestServer, query: string): Promise<number> {
  const [row] = (await sql(server, query)) as Array<{ n: string | number }>;
  return Number(row!.n);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-pitr-resume-'));
  scratch = join(work, 'tmp');
  await mkdir(scratch);
  source = await startTestServer();
  await sql(
    source,
    `CREATE DATABASE app; USE app;
     CREATE TABLE events (id INT PRIMARY KEY, note VARCHAR(50));
     CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200));
     INSERT INTO events SELECT seq, 'base' FROM seq_1_to_10`,
  );
  cwd = await mkdtemp(join(work, 'cfg-'));
  await config(cwd, source.port);
  const backup = await cli(['backup', 'now']);
  if (backup.code !== 0) throw new Error(`backup now failed: ${backup.stderr}`);
  t0 = Math.floor(Date.now() / 1000) + 600;
  // Each big transaction is ~20 MB of rows in four statements, so that no BINLOG statement passes
  // the default 16 MB max_allowed_packet; the one at t0 + 30 is one statement of ~28 MB printed.
  const bigTransaction = (from: number): string =>
    `BEGIN; ${[0, 1, 2, 3].map((i) => `INSERT INTO app.big SELECT seq, REPEAT('x', 200) FROM app.seq_${from + i * 25000}_to_${from + i * 25000 + 24999};`).join(' ')} COMMIT;`;
  await sql(
    source,
    `USE app; FLUSH BINARY LOGS; SET TIMESTAMP = ${t0};
     INSERT INTO events VALUES (11, 'a'); INSERT INTO events VALUES (12, 'b'); INSERT INTO events VALUES (13, 'c');
     SET TIMESTAMP = ${t0 + 5}; ${bigTransaction(1)}
     INSERT INTO events VALUES (14, 'between');
     SET TIMESTAMP = ${t0 + 10}; ${bigTransaction(100001)}
     UPDATE events SET note = 'changed' WHERE id <= 5; DELETE FROM big WHERE id % 7 = 0;
     INSERT INTO events VALUES (15, 'd'), (16, 'e');
     SET TIMESTAMP = ${t0 + 30}; INSERT INTO big SELECT seq, REPEAT('y', 200) FROM app.seq_200001_to_300000;
     INSERT INTO events VALUES (17, 'after the big statement'); FLUSH BINARY LOGS`,
  );
  const archive = await cli(['pitr', 'archive', '--once']);
  if (archive.code !== 0) throw new Error(`pitr archive failed: ${archive.stderr}`);
});

afterEach(async () => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(targets.splice(0).map((t) => t.stop()));
});

afterAll(async () => {
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a binlog statement bigger than the target takes', () => {
  it('is refused before anything is loaded (exit 3), naming the binlog, the position, the size and the setting; with the setting raised the restore goes through', async () => {
    const target = await newTarget();
    const r = await cli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 30), '--port', String(target.port)]);
    // Before: exit 1, "Server has gone away", after the load and the replay of everything before it.
    expect(r.stderr).toMatch(
      /^error: the binlog here\/binlog\.\d+ holds at position \d+ \(GTID 0-\d+-\d+\) a transaction with a statement that mariadb-binlog prints as (\d+) bytes \(2\d\.\d MiB\), more than the target's max_allowed_packet of 16777216 bytes \(16\.0 MiB\): the replay would fail there with "server has gone away"; nothing was changed$/m,
    );
    expect(r.stderr).toMatch(/^hint: raise max_allowed_packet on the target to at least \d+ \(SET GLOBAL max_allowed_packet = \d+, and in its config/m);
    expect(r.code).toBe(3);
    expect(await count(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'")).toBe(0);

    const raise = /SET GLOBAL max_allowed_packet = (\d+)/.exec(r.stderr)![1]!;
    await sql(target, `SET GLOBAL max_allowed_packet = ${raise}`);
    const again = await cli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 30), '--port', String(target.port)]);
    expect(again.stdout + again.stderr).toMatch(/^BLOODRAVEN_PITR_COMPLETE /m);
    expect(again.code, again.stderr).toBe(0);
    expect(await count(target, 'SELECT COUNT(*) AS n FROM app.big WHERE id > 200000')).toBe(100000);
  });
});

describe('a point-in-time replay interrupted part-way', () => {
  it('is resumed by running the same restore again, ending exactly as a restore that was not interrupted', async () => {
    const target = await newTarget();
    const args = ['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(target.port), '--json'];
    const first = startCli(args, cwd);
    // Interrupted once the replay has committed its first transactions, while the big ones go through.
    await until('the first replayed transaction', 90_000, async () => first.child.exitCode !== null || (await count(target, 'SELECT COUNT(*) AS n FROM app.events WHERE id = 11').catch(() => 0)) > 0);
    first.child.kill('SIGINT');
    expect(await first.ended, first.stderr()).toBe(130);
    const partial = await count(target, 'SELECT COUNT(*) AS n FROM app.events');
    expect(partial).toBeGreaterThan(10);
    expect(partial).toBeLessThan(16);

    // Before: refused as a load already complete (exit 3), with the replay never finished.
    const second = await cli(args);
    expect(second.code, second.stderr).toBe(0);
    expect(first.stderr()).toMatch(/^hint: the target holds the backup and part of the binlogs: run the same restore again \(the same --stop-datetime\) to resume the replay/m);
    const result = JSON.parse(second.stdout) as { pitr: { applied: number; resumed: number } };
    expect(result.pitr.resumed).toBeGreaterThan(0);
    expect(result.pitr.resumed + result.pitr.applied).toBe(9);

    const reference = await newTarget();
    const whole = await cli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(reference.port)]);
    expect(whole.code, whole.stderr).toBe(0);
    for (const table of ['app.events', 'app.big']) expect(await checksumTable(target, table), table).toBe(await checksumTable(reference, table));
    expect(await count(target, 'SELECT COUNT(*) AS n FROM app.events')).toBe(16);

    // Finished now: a third run is refused, changing nothing.
    const third = await cli(args);
    expect(third.code).toBe(3);
    expect(third.stderr).toMatch(/was loaded completely into this server already/);
  });
});

describe('a point-in-time replay interrupted part-way, whose loaded schema was dropped since', () => {
  it('is refused when run again (exit 3, LOAD_PROGRESS_STALE), never resumed into what is left and reported restored', async () => {
    const target = await newTarget();
    const args = ['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(target.port)];
    const first = startCli(args, cwd);
    await until('the first replayed transaction', 90_000, async () => first.child.exitCode !== null || (await count(target, 'SELECT COUNT(*) AS n FROM app.events WHERE id = 11').catch(() => 0)) > 0);
    first.child.kill('SIGINT');
    expect(await first.ended, first.stderr()).toBe(130);
    // The loaded rows are gone: the table the backup filled is dropped and made again, empty.
    await sql(target, 'DROP TABLE app.events; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(50))');
    const big = await checksumTable(target, 'app.big');

    const second = await cli(args);
    expect(second.code, second.stderr).toBe(3);
    expect(second.stderr).toMatch(/^error: .*records an earlier load into this server that the server does not hold \(the rows of table `app`\.`events`/m);
    expect(second.stderr).toMatch(/^hint: start the load over with --reset-progress/m);
    expect(await checksumTable(target, 'app.big')).toBe(big);
    expect(await count(target, 'SELECT COUNT(*) AS n FROM app.events')).toBe(0);
  });
});

describe('a point-in-time replay interrupted part-way that cannot be traced', () => {
  it('is refused when run again (exit 3, nothing changed), never reported done: --skip-binlog leaves no GTID trace on the target', async () => {
    const target = await newTarget();
    const args = ['restore', 'bootstrap', '--stop-datetime', iso(t0 + 20), '--port', String(target.port), '--skip-binlog'];
    const first = startCli(args, cwd);
    await until('the first replayed transaction', 90_000, async () => first.child.exitCode !== null || (await count(target, 'SELECT COUNT(*) AS n FROM app.events WHERE id = 11').catch(() => 0)) > 0);
    first.child.kill('SIGINT');
    expect(await first.ended, first.stderr()).toBe(130);
    expect(first.stderr()).toMatch(/^hint: the target holds the backup and part of the binlogs, and which of them cannot be traced .*: drop the schemas this restore created and run it again with --reset-progress/m);
    const events = await checksumTable(target, 'app.events');
    const big = await checksumTable(target, 'app.big');

    const second = await cli(args);
    expect(second.stderr).toMatch(/^error: an earlier run of this restore began the point-in-time replay to \S+ at \S+ and stopped before it finished; the target's binary log was off \(or --skip-binlog was given\)/m);
    expect(second.code).toBe(3);
    expect(await checksumTable(target, 'app.events')).toBe(events);
    expect(await checksumTable(target, 'app.big')).toBe(big);
  });
});

describe('an in-place restore of another server that shares the profile', () => {
  it('leaves the window of the profile\'s server as it was, and is recorded under the server it restored', async () => {
    // A copy of the profile's storage: the restore's record must not reach the other tests here.
    const dir = await mkdtemp(join(work, 'shared-'));
    await cp(join(cwd, 'backups'), join(dir, 'backups'), { recursive: true });
    await config(dir, source.port);
    const before = await cli(['pitr', 'window', '--json'], dir);
    expect(before.code, before.stderr).toBe(0);
    const window = JSON.parse(before.stdout) as { from: string; to: string; gaps: unknown[] };
    expect(window.to).toBe(iso(t0 + 30));
    expect(window.gaps).toEqual([]);

    // Another server on this host, restored in place from the profile's backup: now, inside the window.
    const other = await newTarget();
    const restore = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', 'now', '--port', String(other.port)], dir);
    expect(restore.code, restore.stderr).toBe(0);
    // Before: a gap from the restore on ("the whole instance was restored in place"), in the window of the server that was not restored.
    const after = await cli(['pitr', 'window', '--json'], dir);
    expect(JSON.parse(after.stdout)).toEqual(window);

    const history = JSON.parse(await readFile(join(dir, 'backups', 'in-place-restores.json'), 'utf8')) as { events: Array<{ target: string; server: { serverId: number; port: number } }> };
    const [row] = (await sql(other, 'SELECT @@server_id AS id')) as Array<{ id: string | number }>;
    expect(history.events).toMatchObject([{ target: `127.0.0.1:${other.port}`, server: { serverId: Number(row!.id), port: other.port } }]);
  });
});

