/**
 * What a restore Job runs, as the CLI: `pitr download --backup NAME` for the backup the Job loads,
 * `restore bootstrap --stop-datetime T --binlogs-dir DIR` replaying what it downloaded (each file
 * checked against the manifest first), `--result-file` on success and failure, and a restore
 * from a folder mounted read-only (a claim mounted read-only), which keeps no progress file.
 */
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootConnection, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { runCli as cli } from '../support/cli.js';

let source: TestServer;
let work: string;
let cwd: string;
let t0: number;
let firstBackup: string;
const servers: TestServer[] = [];
const mounts: string[] = [];

async function batch(at: number, from: number, to: number): Promise<void> {
  const conn = await rootConnection(source, 'app');
  try {
    await conn.query(`SET TIMESTAMP = ${at}`);
    for (let id = from; id <= to; id++) await conn.query('INSERT INTO events VALUES (?, ?)', [id, `row ${id}`]);
  } finally {
    await conn.end();
  }
}

async function target(): Promise<TestServer> {
  const t = await startTestServer();
  servers.push(t);
  return t;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-job-flags-'));
  source = await startTestServer();
  await sql(source, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(50)); INSERT INTO app.events SELECT seq, "base" FROM app.seq_1_to_10');
  cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: app
mysql: { host: 127.0.0.1, port: ${source.port}, user: root }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [app] }
  pitr: { enabled: true, profileName: p, site: here, source: { type: local } }
`,
  );
  const first = await cli(['backup', 'now', '--json'], cwd);
  if (first.code !== 0) throw new Error(`backup now failed: ${first.stderr}`);
  firstBackup = (JSON.parse(first.stdout) as { name: string }).name;
  t0 = Math.floor(Date.now() / 1000) + 600;
  await batch(t0, 11, 20);
  await sql(source, 'FLUSH BINARY LOGS');
  await batch(t0 + 60, 21, 30);
  await sql(source, 'FLUSH BINARY LOGS');
  // A second, newer backup: without --backup, download would pick it for a later time.
  await new Promise((r) => setTimeout(r, 1100));
  const second = await cli(['backup', 'now'], cwd);
  if (second.code !== 0) throw new Error(`backup now failed: ${second.stderr}`);
  const archived = await cli(['pitr', 'archive', '--once'], cwd);
  if (archived.code !== 0) throw new Error(`pitr archive failed: ${archived.stderr}`);
});

afterAll(async () => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {
      // already gone
    }
  }
  await Promise.all([source?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore bootstrap as a restore Job runs it', () => {
  it('pitr download --backup fetches what a replay on top of that backup needs, and the restore replays them from --binlogs-dir', async () => {
    const dest = join(work, 'pitr-binlogs');
    const dl = await cli(['pitr', 'download', '--backup', firstBackup, '--stop-datetime', iso(t0 + 30), '--dest', dest], cwd);
    expect(dl.stderr).not.toMatch(/error:/);
    expect(dl.code).toBe(0);
    expect(dl.stderr).toContain(`backup=${firstBackup}`);
    const lines = dl.stdout.trim().split('\n').map((l) => JSON.parse(l) as { site: string; file: string });
    expect(lines.length).toBeGreaterThan(0);

    const server = await target();
    const resultFile = join(work, 'result-pitr.json');
    const r = await cli(
      ['restore', 'bootstrap', '--backup', firstBackup, '--stop-datetime', iso(t0 + 30), '--binlogs-dir', dest, '--port', String(server.port), '--result-file', resultFile],
      cwd,
    );
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^BLOODRAVEN_PITR_START \{/m);
    expect(r.stdout).toMatch(/^BLOODRAVEN_PITR_COMPLETE \{.*"applied":10/m);
    expect(await sql(server, 'SELECT COUNT(*) AS n, MAX(id) AS m FROM app.events')).toEqual([{ n: '20', m: 20 }]);
    const result = JSON.parse(await readFile(resultFile, 'utf8')) as Record<string, unknown>;
    expect(result).toMatchObject({ phase: 'Succeeded', backup: firstBackup, rows: 10, tables: 1 });
    expect(result.pointReached).toMatchObject({ time: iso(t0), gtidExecuted: expect.stringMatching(/^0-\d+-\d+$/) as unknown, binlogFile: expect.stringMatching(/\.\d+$/) as unknown });
    // The downloaded files are left where they were: the folder is the caller's.
    expect((await readdir(join(dest, 'here'))).length).toBe(lines.length);
  });

  it('refuses (exit 3) a binlog in --binlogs-dir that differs from its manifest entry, naming it, with the target untouched', async () => {
    const dest = join(work, 'pitr-tampered');
    expect((await cli(['pitr', 'download', '--backup', firstBackup, '--stop-datetime', iso(t0 + 30), '--dest', dest], cwd)).code).toBe(0);
    const [file] = await readdir(join(dest, 'here'));
    await appendFile(join(dest, 'here', file!), Buffer.from([0]));
    const server = await target();
    const resultFile = join(work, 'result-tampered.json');
    const r = await cli(['restore', 'bootstrap', '--backup', firstBackup, '--stop-datetime', iso(t0 + 30), '--binlogs-dir', dest, '--port', String(server.port), '--result-file', resultFile], cwd);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(join(dest, 'here', file!));
    expect(r.stdout).toMatch(/^BLOODRAVEN_PITR_FAILED \{/m);
    expect(await sql(server, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'")).toEqual([{ n: '0' }]);
    expect(JSON.parse(await readFile(resultFile, 'utf8'))).toMatchObject({ phase: 'Failed', reason: 'PITR_BINLOG_MISMATCH' });

    await rm(join(dest, 'here', file!));
    const missing = await cli(['restore', 'bootstrap', '--backup', firstBackup, '--stop-datetime', iso(t0 + 30), '--binlogs-dir', dest, '--port', String(server.port)], cwd);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`here/${file!}`);
    expect(missing.stderr).toMatch(/PITR_BINLOG_MISSING|is not in/);
  });

  it('restores from a folder mounted read-only, keeping no progress file and saying so', async () => {
    const copy = join(work, 'ro-src');
    const mountPoint = join(work, 'ro');
    await mkdir(mountPoint);
    execFileSync('cp', ['-a', join(cwd, 'backups', firstBackup), copy]);
    execFileSync('mount', ['--bind', copy, mountPoint]);
    mounts.push(mountPoint);
    execFileSync('mount', ['-o', 'remount,bind,ro', mountPoint]);
    await expect(writeFile(join(mountPoint, 'probe'), '')).rejects.toThrow(/EROFS|read-only/i);

    const server = await target();
    const resultFile = join(work, 'result-ro.json');
    const r = await cli(['restore', 'bootstrap', '--from', mountPoint, '--port', String(server.port), '--result-file', resultFile], cwd);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/cannot write the load progress file; an interrupted load cannot be resumed.*read-only/);
    expect(await sql(server, 'SELECT COUNT(*) AS n FROM app.events')).toEqual([{ n: '10' }]);
    expect(JSON.parse(await readFile(resultFile, 'utf8'))).toMatchObject({ phase: 'Succeeded', backup: firstBackup, rows: 10 });
  });

  it('leaves a Failed result for a run refused before it started', async () => {
    const server = await target();
    const resultFile = join(work, 'result-failed.json');
    const r = await cli(['restore', 'bootstrap', '--backup', 'no-such-backup', '--port', String(server.port), '--result-file', resultFile], cwd);
    expect(r.code).not.toBe(0);
    const result = JSON.parse(await readFile(resultFile, 'utf8')) as { phase: string; reason: string; message: string };
    expect(result.phase).toBe('Failed');
    expect(result.message).toContain('no-such-backup');
  });
});
