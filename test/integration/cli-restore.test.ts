/**
 * `bloodraven restore bootstrap` and `restore in-place` as a user runs them: the built CLI in a
 * child process, against real MariaDB servers, from a folder, from S3 (s3rver), and from MySQL
 * Shell's own dump; killed with SIGKILL midway and run again; and asked on a terminal.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import type { InPlaceResult } from '../../src/lib/restore/restore-in-place.js';
import { freePort } from '../../src/lib/mysql/sandbox.js';
import { checksumTable as checksum, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { startS3Server, type S3TestServer } from '../support/s3.js';
import { cliBin, runCli as cli } from '../support/cli.js';

const fixture = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'mysqlsh-dump-instance-8.0.21.tar.gz');

let source: TestServer;
let s3: S3TestServer;
let work: string;
const servers: TestServer[] = [];

async function target(): Promise<TestServer> {
  const t = await startTestServer();
  servers.push(t);
  return t;
}

/** A folder with bloodraven.yaml pointing at `server`, backups in `storage`. */
async function configFor(server: TestServer, storage: string, extra = ''): Promise<string> {
  const dir = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(dir, 'empty'), '');
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root, passwordFile: ./empty }
backup:
  profiles:
    - name: p
      storage: ${storage}
      dump: { threads: 2, bytesPerChunk: 128k, includeSchemas: [shop] }
${extra}`,
  );
  return dir;
}

async function count(server: TestServer, table: string): Promise<number> {
  const [row] = (await sql(server, `SELECT COUNT(*) AS n FROM ${table}`)) as Array<{ n: string }>;
  return Number(row!.n);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-restore-'));
  [source, s3] = await Promise.all([startTestServer(), startS3Server({ buckets: ['backups'] })]);
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), KEY name (name));
     CREATE TABLE log (at INT, msg VARCHAR(200));
     INSERT INTO items SELECT seq, CONCAT('item ', seq, REPEAT('z', 100)) FROM seq_1_to_150000;
     INSERT INTO log SELECT seq, REPEAT('m', 100) FROM seq_1_to_60000;
     ANALYZE TABLE items, log;`,
  );
});

afterAll(async () => {
  await Promise.all([source?.stop(), s3?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bloodraven restore bootstrap', () => {
  it('restores the latest backup of an S3 profile, printing the result with --json', async () => {
    const storage = `{ type: S3, s3: { bucket: backups, prefix: shop, endpointURL: "${s3.endpoint}", credentialsDir: ./aws, partSize: 5242880 } }`;
    const from = await configFor(source, storage);
    await mkdir(join(from, 'aws'));
    await writeFile(join(from, 'aws', 'AWS_ACCESS_KEY_ID'), 'S3RVER');
    await writeFile(join(from, 'aws', 'AWS_SECRET_ACCESS_KEY'), 'S3RVER');
    expect((await cli(['backup', 'now', '--json'], from)).code).toBe(0);

    const t = await target();
    const to = await configFor(t, storage);
    await mkdir(join(to, 'aws'));
    await writeFile(join(to, 'aws', 'AWS_ACCESS_KEY_ID'), 'S3RVER');
    await writeFile(join(to, 'aws', 'AWS_SECRET_ACCESS_KEY'), 'S3RVER');
    const r = await cli(['restore', 'bootstrap', '--backup', 'latest', '--json'], to);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as RestoreResult;
    expect(result).toMatchObject({ schemas: ['shop'], rows: 210000 });
    expect(result.durationMs).toBeGreaterThan(0);
    expect(await checksum(t, 'shop.items')).toBe(await checksum(source, 'shop.items'));
    expect(r.stderr).toMatch(/progress: load table data and build indexes/);
  });

  it('refuses a named failed backup with exit 3 before touching any server, offering only restorable ones', async () => {
    const cwd = await configFor(source, '{ type: PVC, pvc: { path: ./backups } }');
    const good = await cli(['backup', 'now', '--json'], cwd);
    expect(good.code).toBe(0);
    const goodName = (JSON.parse(good.stdout) as { name: string }).name;
    const deadPort = String(await freePort());
    const failed = await cli(['backup', 'now', '--json', '--port', deadPort], cwd);
    expect(failed.code).toBe(1);
    const failedName = (JSON.parse(failed.stdout) as { record: { name: string } }).record.name;

    // Nothing listens on deadPort: reaching for the server would fail with exit 1 instead.
    const r = await cli(['restore', 'bootstrap', '--backup', failedName, '--port', deadPort], cwd);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: backup ${failedName} exists but cannot be restored: it is Failed (cannot reach the MySQL server`);
    expect(r.stderr).toContain('incomplete: it has no @.done.json');
    expect(r.stderr).toContain(`hint: restore a complete backup instead: the newest restorable backups are: ${goodName}; or use --backup latest`);
  });

  it('refuses a schema both included and excluded (exit 2) before reading storage or reaching a server', async () => {
    const cwd = await configFor(source, '{ type: PVC, pvc: { path: ./backups } }');
    const r = await cli(['restore', 'bootstrap', '--include-schema', 'shop', '--exclude-schema', 'shop', '--port', String(await freePort())], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--exclude-schema: "shop" is both included (--include-schema) and excluded (--exclude-schema)');
  });

  it('refuses with exit 3 when the target already has the tables, listing them', async () => {
    const t = await target();
    const cwd = await configFor(source, '{ type: PVC, pvc: { path: ./backups } }');
    expect((await cli(['backup', 'now'], cwd)).code).toBe(0);
    await sql(t, 'CREATE DATABASE shop; CREATE TABLE shop.items (x INT)');
    const r = await cli(['restore', 'bootstrap', '--backup', 'latest', '--port', String(t.port)], cwd);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('table `shop`.`items`');
    expect(r.stderr).toMatch(/hint: .*--ignore-existing-objects/);
  });

  it('pushes the restore metrics with --pushgateway: a refused run as a failure, then a restore as a success', async () => {
    const { createServer } = await import('node:http');
    const received: Array<{ url: string; body: string }> = [];
    const gateway = createServer((req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
    try {
      const t = await target();
      const cwd = await configFor(source, '{ type: PVC, pvc: { path: ./backups } }');
      expect((await cli(['backup', 'now'], cwd)).code).toBe(0);
      await sql(t, 'CREATE DATABASE shop; CREATE TABLE shop.items (x INT)');
      expect((await cli(['restore', 'bootstrap', '--port', String(t.port), '--pushgateway', url], cwd)).code).toBe(3);
      expect(received).toHaveLength(1);
      expect(received[0]!.url).toBe('/metrics/job/bloodraven_restore/group/shop/profile/p');
      expect(received[0]!.body).toMatch(/^bloodraven_restore_runs_total\{group="shop",profile="p",result="failure"\} 1$/m);
      expect(received[0]!.body).not.toMatch(/result="success"/);

      await sql(t, 'DROP DATABASE shop');
      const ok = await cli(['restore', 'bootstrap', '--port', String(t.port), '--pushgateway', url], cwd);
      expect(ok.code).toBe(0);
      expect(received).toHaveLength(2);
      expect(received[1]!.body).toMatch(/^bloodraven_restore_runs_total\{group="shop",profile="p",result="success"\} 1$/m);
      expect(received[1]!.body).toMatch(/^bloodraven_restore_duration_seconds_count\{group="shop",profile="p"\} 1$/m);
      expect(await count(t, 'shop.items')).toBe(150000);
    } finally {
      gateway.close();
    }
  });

  it('finishes after being killed with SIGKILL midway, without duplicates (also in a keyless table)', async () => {
    const t = await target();
    const cwd = await configFor(source, '{ type: PVC, pvc: { path: ./backups } }');
    expect((await cli(['backup', 'now'], cwd)).code).toBe(0);
    let killed = false;
    const first = await cli(['restore', 'bootstrap', '--backup', 'latest', '--port', String(t.port), '--threads', '1'], cwd, (text, child) => {
      // Kill once some data files are in: the figures line shows files done.
      if (!killed && /progress: .* [1-9]\d*\/\d+ files/.test(text)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    expect(killed).toBe(true);
    expect(first.code).toBeNull();
    const second = await cli(['restore', 'bootstrap', '--backup', 'latest', '--port', String(t.port), '--json'], cwd);
    expect(second.stderr).not.toMatch(/error:/);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.stdout) as RestoreResult).resumedSteps).toBeGreaterThan(0);
    expect(await count(t, 'shop.items')).toBe(150000);
    expect(await count(t, 'shop.log')).toBe(60000);
    expect(await checksum(t, 'shop.log')).toBe(await checksum(source, 'shop.log'));
    expect(await checksum(t, 'shop.items')).toBe(await checksum(source, 'shop.items'));
  });

  it("restores MySQL Shell's own dump from a folder, past the schema MariaDB cannot create", async () => {
    const dump = await mkdtemp(join(work, 'fixture-'));
    execFileSync('tar', ['xzf', fixture, '-C', dump]);
    const t = await target();
    const cwd = await configFor(t, '{ type: PVC, pvc: { path: ./backups } }');
    const from = join(dump, 'dump_instance_8.0.21');
    const refused = await cli(['restore', 'bootstrap', '--from', from], cwd);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot create table `mysqlaas_compat`\.`blackhole_tbl1`: Unknown storage engine 'BLACKHOLE'/);
    const t2 = await target();
    const r = await cli(['restore', 'bootstrap', '--from', from, '--exclude-schema', 'mysqlaas_compat', '--port', String(t2.port)], cwd);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Restored .* into 127\.0\.0\.1:\d+$/m);
    expect(await count(t2, 'world.City')).toBe(4079);
  });
});

describe('bloodraven restore in-place', () => {
  // The machine's own Node (20 on these machines) lacks zstd: it must be refused before anything.
  const systemNode = '/usr/bin/node';
  const oldNode = ((): boolean => {
    try {
      const [major = 0, minor = 0] = execFileSync(systemNode, ['-p', 'process.versions.node']).toString().trim().split('.').map(Number);
      return major < 22 || (major === 22 && minor < 15);
    } catch {
      return false;
    }
  })();
  it.skipIf(!oldNode)('refuses to run on a Node.js without zstd (exit 2), before touching the server', async () => {
    const t = await target();
    await sql(t, 'CREATE DATABASE keepme; CREATE TABLE keepme.t (id INT PRIMARY KEY); INSERT INTO keepme.t VALUES (1)');
    const cwd = await configFor(t, '{ type: PVC, pvc: { path: ./backups } }');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(systemNode, [cliBin, 'restore', 'in-place', '--backup', 'latest', '--confirm', 'now'], { cwd });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs Node\.js 22\.15 or later/);
    expect(await sql(t, 'SELECT id FROM keepme.t')).toEqual([{ id: 1 }]);
  });

  it('asks on a terminal, showing what will be dropped, and restores after a yes', async () => {
    const t = await target();
    await sql(t, 'CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(200)); INSERT INTO shop.items VALUES (1, "only one")');
    const cwd = await configFor(t, '{ type: PVC, pvc: { path: ./backups } }');
    // Take the backup from the source into this profile, then roll the target back to it.
    const backup = await cli(['backup', 'now', '--port', String(source.port)], cwd);
    expect(backup.code).toBe(0);
    await sql(t, 'CREATE DATABASE scratch');
    const child = spawn('script', ['-qfec', `stty cols 120 rows 40; ${process.execPath} ${cliBin} restore in-place --backup latest`, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let answered = false;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!answered && out.includes('Go ahead?')) {
        answered = true;
        child.stdin.write('y\r');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(answered).toBe(true);
    expect(out).toMatch(/drops +`scratch`, `shop`/);
    expect(out).toMatch(/This DROPS scratch, shop\. Go ahead\?/);
    expect(code).toBe(0);
    expect(out).toMatch(/Restored in place/);
    expect(await count(t, 'shop.items')).toBe(150000);
    expect(await sql(t, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'scratch'")).toEqual([{ n: '0' }]);
  });

  it('restores with --confirm now and --json, and refuses the same token again', async () => {
    const t = await target();
    const cwd = await configFor(t, '{ type: PVC, pvc: { path: ./backups } }');
    expect((await cli(['backup', 'now', '--port', String(source.port)], cwd)).code).toBe(0);
    const token = new Date(Date.now() + 60_000).toISOString();
    const r = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', token, '--json'], cwd);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout) as InPlaceResult).toMatchObject({ mode: 'instance', rows: 210000 });
    const again = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', token], cwd);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/not newer than the last one used/);
  });

  it('dry run and --result-file: the plan (bytes, fencing) in text, JSON and the result file; then Succeeded, and Failed for a used token', async () => {
    const t = await target();
    const cwd = await configFor(t, '{ type: PVC, pvc: { path: ./backups } }');
    expect((await cli(['backup', 'now', '--port', String(source.port)], cwd)).code).toBe(0);
    await sql(t, 'CREATE DATABASE scratch');
    const text = await cli(['restore', 'in-place', '--backup', 'latest', '--dry-run'], cwd);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}bytes {6}\d+ to read from storage$/m);
    expect(text.stdout).toMatch(/^ {4}- Set global read_only = 1 on 127\.0\.0\.1:\d+/m);
    expect(text.stdout).toMatch(/^ {4}- Put read_only back to 0 when the restore ends/m);
    const resultFile = join(cwd, 'result.json');
    const json = await cli(['restore', 'in-place', '--backup', 'latest', '--dry-run', '--json', '--result-file', resultFile], cwd);
    expect(json.code).toBe(0);
    const planned = JSON.parse(await readFile(resultFile, 'utf8')) as { phase: string; plan: { backup: string; mode: string; drop: string[]; load: string[]; binlogs: unknown[]; expectedBytes: number; fencing: string[] } };
    expect(planned).toMatchObject({ phase: 'Planned', plan: { mode: 'instance', drop: ['scratch'], load: ['shop'], binlogs: [] } });
    expect(planned.plan.backup).toMatch(/^shop-p-/);
    expect(planned.plan.expectedBytes).toBeGreaterThan(100_000);
    expect((JSON.parse(json.stdout) as { plan: unknown }).plan).toEqual(planned.plan);
    expect(await sql(t, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'scratch'")).toEqual([{ n: '1' }]);

    const token = new Date(Date.now() + 60_000).toISOString();
    const run = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', token, '--result-file', resultFile], cwd);
    expect(run.code).toBe(0);
    const succeeded = JSON.parse(await readFile(resultFile, 'utf8')) as Record<string, unknown>;
    expect(succeeded).toMatchObject({ phase: 'Succeeded', backup: planned.plan.backup, mode: 'instance', dropped: ['scratch'], rows: 210000 });
    expect(succeeded.bytes).toBeGreaterThan(0);
    expect(succeeded.fencedSeconds).toBeGreaterThanOrEqual(0);
    expect(typeof (succeeded.pointReached as { binlogFile?: unknown }).binlogFile).toBe('string');
    const again = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', token, '--result-file', resultFile], cwd);
    expect(again.code).toBe(3);
    const failed = JSON.parse(await readFile(resultFile, 'utf8')) as { phase: string; reason: string; message: string };
    expect(failed).toMatchObject({ phase: 'Failed', reason: 'CONFIRM_STALE' });
    expect(failed.message).toMatch(/not newer than the last one used/);
  });
});
