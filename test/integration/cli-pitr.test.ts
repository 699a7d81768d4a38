/**
 * Point-in-time recovery as a user runs it: `pitr archive --once` (local and remote sources),
 * `pitr window`, `status`, `pitr download`, `restore bootstrap --stop-datetime`, and `prune`
 * taking archived binlogs along with the backups; and a time between two backups refused while no
 * archive covers it, restored once the binlogs are archived.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import type { Status } from '../../src/lib/status/describe-status.js';
import type { ArchiveScan } from '../../src/lib/pitr/archiver.js';
import type { PitrWindow } from '../../src/lib/pitr/window.js';
import { rootConnection, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { runCli as cli } from '../support/cli.js';
import { takeReaderLease } from '../../src/lib/catalog/reader-lease.js';
import { silentLogger } from '../../src/lib/log.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';


let source: TestServer;
let work: string;
let cwd: string;
let t0: number;
const servers: TestServer[] = [];

async function batch(at: number | null, from: number, to: number): Promise<void> {
  const conn = await rootConnection(source, 'app');
  try {
    if (at !== null) await conn.query(`SET TIMESTAMP = ${at}`);
    for (let id = from; id <= to; id++) await conn.query('INSERT INTO events VALUES (?, ?)', [id, `row ${id}`]);
  } finally {
    await conn.end();
  }
}

async function config(dir: string, extra: string): Promise<void> {
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: app
mysql: { host: 127.0.0.1, port: ${source.port}, user: root }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [app] }
      retentionPolicy: { count: 1, minKeep: 1, maxFailedKeep: 5 }
  pitr: { enabled: true, profileName: p, ${extra} }
`,
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-pitr-'));
  source = await startTestServer();
  await sql(source, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(50)); INSERT INTO app.events SELECT seq, "base" FROM app.seq_1_to_10');
  cwd = await mkdtemp(join(work, 'cfg-'));
  await config(cwd, 'site: here, source: { type: local }');
  const first = await cli(['backup', 'now'], cwd);
  if (first.code !== 0) throw new Error(`backup now failed: ${first.stderr}`);
  t0 = Math.floor(Date.now() / 1000) + 600;
  await batch(t0, 11, 20);
  await sql(source, 'FLUSH BINARY LOGS');
  await batch(t0 + 60, 21, 30);
  await sql(source, 'FLUSH BINARY LOGS');
});

afterAll(async () => {
  await Promise.all([source?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
});

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

describe('bloodraven pitr', () => {
  it('archives once, and shows the window (pitr window, status)', async () => {
    const r = await cli(['pitr', 'archive', '--once', '--json'], cwd);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const scan = JSON.parse(r.stdout) as ArchiveScan;
    expect(scan).toMatchObject({ site: 'here', primary: true });
    expect(scan.archived.length).toBeGreaterThanOrEqual(2);
    const w = await cli(['pitr', 'window', '--json'], cwd);
    const window = JSON.parse(w.stdout) as PitrWindow;
    expect(window).toMatchObject({ to: iso(t0 + 60), gaps: [], sites: ['here'] });
    const text = await cli(['pitr', 'window'], cwd);
    expect(text.stdout).toContain(`to ${iso(t0 + 60)}`);
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout) as Status;
    expect(status.pitr).toMatchObject({ profile: 'p', to: iso(t0 + 60), gaps: [] });
  });

  it('archives over the replication protocol too, the same bytes', async () => {
    const remote = await mkdtemp(join(work, 'remote-'));
    await config(remote, 'site: far, source: { type: remote }');
    const r = await cli(['pitr', 'archive', '--once', '--json'], remote);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const far = JSON.parse(r.stdout) as ArchiveScan;
    const local = JSON.parse(await readFile(join(cwd, 'backups', 'binlogs', 'manifest-here.json'), 'utf8')) as { entries: Array<{ file: string; sha256: string }> };
    const shared = far.archived.filter((e) => local.entries.some((l) => l.file === e.file));
    expect(shared.length).toBeGreaterThan(0);
    for (const e of shared) expect(e.sha256, e.file).toBe(local.entries.find((l) => l.file === e.file)!.sha256);
  });

  it('names a binlog folder it cannot read at once (exit 2, the setting named), before any binlog is sealed or uploaded', async () => {
    const wrong = await mkdtemp(join(work, 'wrongdir-'));
    await config(wrong, `site: wrong, source: { type: local, binlogDir: ${join(wrong, 'no-such-folder')} }`);
    const r = await cli(['pitr', 'archive', '--once'], wrong);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read the binlog folder .*no-such-folder \(from backup\.pitr\.source\.binlogDir\)/);
    await expect(readFile(join(wrong, 'backups', 'binlogs', 'manifest-wrong.json'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('downloads exactly the binlogs a restore to a time needs, with a JSON line each', async () => {
    const dest = join(work, 'dl');
    // MySQL's native form, read as UTC.
    const at = iso(t0 + 30).replace('T', ' ').replace('.000Z', '');
    const r = await cli(['pitr', 'download', '--stop-datetime', at, '--dest', dest], cwd);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256: string; lastEventTime: string; site: string });
    expect(lines.length).toBeGreaterThan(0);
    // The file with the second batch (after the target) is not needed.
    expect(lines.every((l) => l.lastEventTime <= iso(t0 + 30) || l.lastEventTime === null)).toBe(true);
    for (const l of lines) expect(createHash('sha256').update(await readFile(l.path)).digest('hex')).toBe(l.sha256);
  });

  it('restores a new server to a point, announcing it with BLOODRAVEN_PITR lines', async () => {
    const target = await startTestServer();
    servers.push(target);
    const r = await cli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 30), '--port', String(target.port), '--json'], cwd);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^BLOODRAVEN_PITR_START \{.*"target":"/m);
    expect(r.stderr).toMatch(/^BLOODRAVEN_PITR_COMPLETE \{.*"applied":10/m);
    expect((JSON.parse(r.stdout) as RestoreResult).pitr).toMatchObject({ applied: 10 });
    expect(await sql(target, 'SELECT COUNT(*) AS n, MAX(id) AS m FROM app.events')).toEqual([{ n: '20', m: 20 }]);
  });

  it('refuses a target outside the window with exit 3, touching nothing', async () => {
    const target = await startTestServer();
    servers.push(target);
    const r = await cli(['restore', 'bootstrap', '--stop-datetime', iso(t0 + 3600), '--port', String(target.port)], cwd);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/after the last restorable time/);
    expect(r.stderr).toContain(`the nearest restorable times are ${iso(t0 + 60)} before it and none after it`);
    expect(r.stderr).not.toMatch(/BLOODRAVEN_PITR_START/);
    expect(await sql(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'")).toEqual([{ n: '0' }]);
  });

  it('prunes the binlogs no kept backup needs, along with the backups', async () => {
    const own = await mkdtemp(join(work, 'prune-'));
    await config(own, 'site: mine, source: { type: local }');
    expect((await cli(['backup', 'now'], own)).code).toBe(0);
    await batch(null, 1001, 1005);
    await sql(source, 'FLUSH BINARY LOGS');
    expect((await cli(['pitr', 'archive', '--once'], own)).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await cli(['backup', 'now'], own)).code).toBe(0);
    const before = JSON.parse(await readFile(join(own, 'backups', 'binlogs', 'manifest-mine.json'), 'utf8')) as { entries: Array<{ file: string; lastEventTime: string | null }> };
    const dry = await cli(['prune'], own);
    expect(dry.stdout).toMatch(/Archived binlogs no kept backup needs \(\d+/);
    const r = await cli(['prune', '--yes', '--json'], own);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { deleted: string[]; deletedBinlogs: string[] };
    expect(out.deleted).toHaveLength(1);
    expect(out.deletedBinlogs.length).toBeGreaterThan(0);
    const after = JSON.parse(await readFile(join(own, 'backups', 'binlogs', 'manifest-mine.json'), 'utf8')) as { entries: Array<{ file: string }> };
    expect(after.entries.length).toBe(before.entries.length - out.deletedBinlogs.length);
    // The server still has the pruned files: the archiver does not upload them again.
    const again = await cli(['pitr', 'archive', '--once', '--json'], own);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { archived: unknown[] }).archived).toEqual([]);
    const afterArchive = JSON.parse(await readFile(join(own, 'backups', 'binlogs', 'manifest-mine.json'), 'utf8')) as { entries: Array<{ file: string }> };
    expect(afterArchive.entries.map((e) => e.file)).toEqual(after.entries.map((e) => e.file));
    // Binlogs stamped after the kept backup (the future batches) are still there.
    const w = JSON.parse((await cli(['pitr', 'window', '--json'], own)).stdout) as PitrWindow;
    expect(w.to).toBe(iso(t0 + 60));
    expect(w.gaps).toEqual([]);
  });

  it('refuses a time between two backups that no archive covers (exit 3, nothing touched), and restores it once the binlogs are archived', async () => {
    const own = await mkdtemp(join(work, 'between-'));
    await config(own, 'site: between, source: { type: local }');
    expect((await cli(['backup', 'now'], own)).code).toBe(0);
    // Three transactions, committed now (no SET TIMESTAMP), then a second backup.
    await batch(null, 2001, 2003);
    const target = new Date(Date.now() + 500).toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await cli(['backup', 'now'], own)).code).toBe(0);
    const backups = (JSON.parse((await cli(['backup', 'list', '--json'], own)).stdout) as Array<{ name: string; snapshotAt: string }>).reverse();
    expect(backups).toHaveLength(2);
    const [first, second] = backups as [{ name: string; snapshotAt: string }, { name: string; snapshotAt: string }];
    expect(first.snapshotAt < target && target < second.snapshotAt).toBe(true);

    // No archive: each backup is a point, and the span between them is a gap.
    const window = JSON.parse((await cli(['pitr', 'window', '--json'], own)).stdout) as PitrWindow;
    expect(window.ranges).toEqual([
      { from: first.snapshotAt, to: first.snapshotAt, backups: [first.name] },
      { from: second.snapshotAt, to: second.snapshotAt, backups: [second.name] },
    ]);
    expect(window.gaps).toEqual([{ from: first.snapshotAt, to: second.snapshotAt, reason: expect.stringMatching(new RegExp(`transactions missing from the archive: domain 0, sequence numbers \\d+\\.\\.\\d+ \\(backup ${second.name} holds them\\)`)) as unknown }]);
    expect((await cli(['pitr', 'window'], own)).stdout).toContain(`GAP from ${first.snapshotAt} to ${second.snapshotAt}`);

    const server = await startTestServer();
    servers.push(server);
    const schemasBefore = await sql(server, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1');
    const refused = await cli(['restore', 'bootstrap', '--stop-datetime', target, '--port', String(server.port)], own);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`the nearest restorable times are ${first.snapshotAt} before it and ${second.snapshotAt} after it`);
    expect(refused.stderr).toMatch(/pitr archive/);
    expect(refused.stdout + refused.stderr).not.toMatch(/BLOODRAVEN_PITR_(START|NOOP)/);
    expect(await sql(server, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1')).toEqual(schemasBefore);

    // With the binlogs that hold the three transactions archived, the same time restores them all.
    await sql(source, 'FLUSH BINARY LOGS');
    expect((await cli(['pitr', 'archive', '--once'], own)).code).toBe(0);
    const covered = JSON.parse((await cli(['pitr', 'window', '--json'], own)).stdout) as PitrWindow;
    expect(covered.ranges).toHaveLength(1);
    expect(covered.ranges[0]!.backups).toEqual([first.name, second.name]);
    const restored = await cli(['restore', 'bootstrap', '--stop-datetime', target, '--port', String(server.port)], own);
    expect(restored.stderr).not.toMatch(/error:/);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^BLOODRAVEN_PITR_COMPLETE \{.*"applied":3[,}]/m);
    expect(restored.stdout).toContain(`"backup":"${first.name}"`);
    expect(await sql(server, 'SELECT id FROM app.events WHERE id > 2000 ORDER BY id')).toEqual([{ id: 2001 }, { id: 2002 }, { id: 2003 }]);
  });

  it('keeps the binlogs a backup being read needs: prune leaves that backup and them alone, and takes both once the reader is done', async () => {
    const own = await mkdtemp(join(work, 'prune-read-'));
    await config(own, 'site: read, source: { type: local }');
    const first = JSON.parse((await cli(['backup', 'now', '--json'], own)).stdout) as { name: string };
    await batch(null, 3001, 3005);
    await sql(source, 'FLUSH BINARY LOGS');
    expect((await cli(['pitr', 'archive', '--once'], own)).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await cli(['backup', 'now'], own)).code).toBe(0);
    const manifest = async (): Promise<string[]> =>
      (JSON.parse(await readFile(join(own, 'backups', 'binlogs', 'manifest-read.json'), 'utf8')) as { entries: Array<{ file: string }> }).entries.map((e) => e.file);
    // The batch above went into the last file archived: what a point-in-time restore of the
    // first backup replays (the files before it are older than both backups).
    const needed = `read/${(await manifest()).at(-1)}`;
    // A point-in-time restore of the first backup is under way (this process holds its lease).
    const lease = await takeReaderLease(createFsStore({ root: join(own, 'backups') }), first.name, { purpose: 'restore bootstrap', logger: silentLogger });
    try {
      const r = await cli(['prune', '--yes', '--json'], own);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { deleted: string[]; deletedBinlogs: string[]; skipped: Array<{ name: string }> };
      expect(out.skipped.map((x) => x.name)).toEqual([first.name]);
      // Before: the binlogs older than the second backup went, the one the first one's restore replays among them.
      expect(out.deletedBinlogs).not.toContain(needed);
      expect((await manifest()).map((f) => `read/${f}`)).toContain(needed);
    } finally {
      await lease.release();
    }
    const after = JSON.parse((await cli(['prune', '--yes', '--json'], own)).stdout) as { deleted: string[]; deletedBinlogs: string[] };
    expect(after.deleted).toEqual([first.name]);
    expect(after.deletedBinlogs).toContain(needed);
  });
});
