/**
 * What runs leave behind for each other (issue 14 trial): a verify killed with SIGKILL leaves its
 * scratch server running, which the next command's start-up sweep must stop and remove (never a
 * live run's); a verify holds a lease on its backup that prune respects; and a verify whose backup
 * is removed under it fails with BACKUP_GONE and writes nothing where the backup was.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import { leasePrefix, liveLeases, takeReaderLease } from '../../src/lib/catalog/reader-lease.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { silentLogger } from '../../src/lib/log.js';
import { deleteBackup } from '../../src/lib/retention/prune.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { cliBin } from '../support/cli.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

let source: TestServer;
let work: string;
let cwd: string;
/** Two backups, older first: the retention policy (count 1) deletes the older. */
let older: string;
let newer: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `bloodraven ...args` in the profile's folder with its own TMPDIR; `act` is called once stderr
 * matches `when`. A run still going 120 s later is killed (then code is null).
 */
function cli(args: string[], tmp: string, when?: RegExp, act?: (pid: number) => unknown): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    let stdout = '';
    let stderr = '';
    let acted = false;
    const bound = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!acted && when && act && when.test(stderr)) {
        acted = true;
        void act(child.pid!);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(bound);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Processes whose command line names something inside `path` (a scratch server, say). */
async function processesUsing(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmdline.includes(`${path}/`)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const sandboxesIn = async (tmp: string): Promise<string[]> => (await readdir(tmp)).filter((n) => n.startsWith('bloodraven-sandbox-'));

async function backupNow(): Promise<string> {
  const r = await cli(['backup', 'now', '--json'], tmpdir());
  if (r.code !== 0) throw new Error(`backup now failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { name: string }).name;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-leftovers-'));
  source = await startTestServer();
  // Enough rows that the scratch load lasts a few seconds: time to act while it runs.
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), note TEXT, KEY (name));
     INSERT INTO items SELECT seq, CONCAT('item-', seq), REPEAT(MD5(seq), 4) FROM seq_1_to_200000;`,
  );
  cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${source.port}, user: root }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, bytesPerChunk: 4M, includeSchemas: [shop] }
      retentionPolicy: { count: 1, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 5 }
`,
  );
  older = await backupNow();
  await new Promise((resolve) => setTimeout(resolve, 1100));
  newer = await backupNow();
}, 240_000);

afterAll(async () => {
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a verify killed with SIGKILL', () => {
  it('leaves its scratch server running; the next command stops it and removes its folder, and never touches a live run\'s', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    // A scratch server of a run that is alive (this test process), in the same folder.
    const live = await startTestServer({ baseDir: tmp });
    try {
      let killed: string[] = [];
      const r = await cli(['verify', '--backup', newer], tmp, /progress: load table data/, async (pid) => {
        const [folder] = await sandboxesIn(tmp).then((names) => names.filter((n) => !live.datadir.includes(n)));
        killed = folder ? [folder] : [];
        process.kill(pid, 'SIGKILL');
      });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      expect(killed).toHaveLength(1);
      const orphan = join(tmp, killed[0]!);
      // Nothing runs in a process killed so: its server and its folder are still there.
      expect(await processesUsing(orphan)).not.toEqual([]);

      const next = await cli(['backup', 'list'], tmp);
      expect(next.code, next.stderr).toBe(0);
      expect(await processesUsing(orphan)).toEqual([]);
      expect(existsSync(orphan)).toBe(false);
      // The live run's server still answers, its folder is whole.
      expect(await sandboxesIn(tmp)).toEqual([live.datadir.slice(tmp.length + 1).split('/')[0]]);
      expect(await sql(live, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await live.stop();
      // Whatever the outcome, no server of this test runs on (the sweep may have failed).
      for (const p of await processesUsing(tmp)) process.kill(Number(p.split(':')[0]), 'SIGKILL');
    }
  }, 180_000);
});

describe('prune and a verify reading the backup', () => {
  it('prune --yes during a verify leaves the backup alone, naming the verify; the verify passes; the next prune deletes it', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    let prune: Promise<Run> | undefined;
    const r = await cli(['verify', '--backup', older], tmp, /progress: load table data/, () => {
      prune = cli(['prune', '--yes'], tmp);
    });
    expect(r.code, r.stderr).toBe(0);
    const pruned = await prune!;
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(new RegExp(`^Left alone: ${older}: it is being read by verify \\(pid \\d+ on ${hostname()}, since .*\\)\\.$`, 'm'));
    const store = createFsStore({ root: join(cwd, 'backups') });
    const entry = (await listBackups(store)).find((e) => e.name === older);
    expect(entry).toMatchObject({ phase: 'Succeeded', verification: 'passed' });
    // The lease went with the verify: now prune takes the backup.
    expect(await store.list(leasePrefix(older))).toEqual([]);
    const again = await cli(['prune', '--yes'], tmp);
    expect(again.code, again.stderr).toBe(0);
    expect((await listBackups(store)).map((e) => e.name)).toEqual([newer]);
    expect(existsSync(join(cwd, 'backups', leasePrefix(older)))).toBe(false);
  }, 180_000);

  it('a prune that marked the backup before it saw a reader\'s lease puts the record back; a reader of a backup being deleted is refused', async () => {
    const store = createFsStore({ root: join(cwd, 'backups') });
    // The lease the killed verify left (above) is not what this test is about.
    await store.deletePrefix(leasePrefix(newer));
    const entry = (await listBackups(store)).find((e) => e.name === newer)!;
    const before = await readFile(join(cwd, 'backups', newer, 'bloodraven.json'), 'utf8');
    const files = (await store.list(entry.prefix)).map((o) => o.key);
    // The reader wrote its lease as the prune marked the record: the prune sees it, and backs off.
    const outcome = await deleteBackup(store, entry, undefined, () => Promise.resolve('it is being read by a test'));
    expect(outcome).toBe('it is being read by a test');
    expect(await readFile(join(cwd, 'backups', newer, 'bloodraven.json'), 'utf8')).toBe(before);
    expect((await store.list(entry.prefix)).map((o) => o.key)).toEqual(files);

    // A record marked Deleting (a prune under way, or one that crashed): a reader is refused.
    const marked: BackupRecord = { ...(JSON.parse(before) as BackupRecord), phase: 'Deleting' };
    await writeFile(join(cwd, 'backups', newer, 'bloodraven.json'), JSON.stringify(marked));
    await expect(takeReaderLease(store, newer, { purpose: 'test', logger: silentLogger })).rejects.toMatchObject({ code: 'BACKUP_GONE', message: expect.stringMatching(/a prune is deleting it/) as unknown });
    expect(await store.list(leasePrefix(newer))).toEqual([]);
    await writeFile(join(cwd, 'backups', newer, 'bloodraven.json'), before);

    // A lease counts while its process runs; one of a process that is gone does not.
    const lease = await takeReaderLease(store, newer, { purpose: 'test', logger: silentLogger });
    expect((await liveLeases(store, newer, { now: new Date() })).map((l) => l.holder)).toEqual([expect.objectContaining({ purpose: 'test', pid: process.pid })]);
    const [key] = (await store.list(leasePrefix(newer))).map((o) => o.key);
    const dead = JSON.parse((await store.get(key!)).toString('utf8')) as { holder: { pid: number } };
    dead.holder.pid = 2 ** 22 + 1;
    await store.put(key!, JSON.stringify(dead));
    expect(await liveLeases(store, newer, { now: new Date() })).toEqual([]);
    await lease.release();
    expect(await store.list(leasePrefix(newer))).toEqual([]);
  });
});

describe('prune and a restore reading the backup', () => {
  it('prune --yes during a restore bootstrap leaves the backup alone, naming the restore; the restore finishes', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    // A newer backup, so that retention (count 1) would delete the one restored.
    const newest = await backupNow();
    const target = await startTestServer();
    try {
      let prune: Promise<Run> | undefined;
      const r = await cli(['restore', 'bootstrap', '--backup', newer, '--port', String(target.port)], tmp, /progress: load table data/, () => {
        prune = cli(['prune', '--yes'], tmp);
      });
      expect(r.code, r.stderr).toBe(0);
      const pruned = await prune!;
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(pruned.stdout).toMatch(new RegExp(`^Left alone: ${newer}: it is being read by restore bootstrap \\(pid \\d+ on ${hostname()}, since .*\\)\\.$`, 'm'));
      const store = createFsStore({ root: join(cwd, 'backups') });
      expect((await listBackups(store)).map((e) => [e.name, e.phase])).toEqual([
        [newest, 'Succeeded'],
        [newer, 'Succeeded'],
      ]);
      expect(await sql(target, 'SELECT COUNT(*) AS n FROM shop.items')).toEqual([{ n: '200000' }]);
      expect(await store.list(leasePrefix(newer))).toEqual([]);
    } finally {
      await target.stop();
    }
  }, 180_000);
});

describe('a verify whose backup is removed under it', () => {
  it('fails with BACKUP_GONE (exit 1), writes nothing where the backup was, and leaves no scratch server', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const victim = await backupNow();
    const folder = join(cwd, 'backups', victim);
    const r = await cli(['verify', '--backup', victim], tmp, /progress: load table data/, () => rm(folder, { recursive: true, force: true }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: backup ${victim} is gone from .* \\(its record no longer exists\\); nothing was written there$`, 'm'));
    expect(r.stderr).toMatch(/^hint: a prune or a person removed it/m);
    expect(existsSync(folder)).toBe(false);
    expect(await processesUsing(tmp)).toEqual([]);
    expect((await readdir(tmp)).filter((n) => n.startsWith('bloodraven-'))).toEqual([]);
    const store = createFsStore({ root: join(cwd, 'backups') });
    expect(await store.list(leasePrefix(victim))).toEqual([]);
  }, 180_000);
});
