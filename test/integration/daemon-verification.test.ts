/**
 * Scheduled verification in the standalone daemon, against a real MariaDB server, real backups in
 * a folder, and real scratch sandboxes: the newest backup is verified at the schedule's time and
 * the result saved beside it (so `backup list` and `status` show it), a passed backup is not
 * verified again, a tampered one fails naming the table (content changed, file digests fixed up)
 * or the file (bytes changed), the metrics count each run, and a stop interrupts a verification in
 * flight and removes its sandbox.
 *
 * The clock runs in real time (so the restore is measured) but jumps to the end of each wait, up
 * to a horizon past which waits last until the daemon is stopped: the schedule fires at once, a
 * few times, and the daemon then rests where the test can look at it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDaemon } from '../../src/daemon/daemon.js';
import type { VerificationHealth } from '../../src/daemon/scheduled-verifications.js';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { fixedClock } from '../../src/lib/clock.js';
import { profileKeys } from '../../src/lib/crypto/keys.js';
import { configSchema, type Config } from '../../src/lib/config/schema.js';
import { createLogger, silentLogger, type LogEntry } from '../../src/lib/log.js';
import { BackupMetrics } from '../../src/lib/metrics/backup-metrics.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { sandboxFolderPrefix } from '../../src/lib/private-temp.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import type { Status } from '../../src/lib/status/describe-status.js';
import type { VerificationResult } from '../../src/lib/verify/verify-backup.js';
import { runCli as cli } from '../support/cli.js';
import { jumpingClock } from '../support/jumping-clock.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

let server: TestServer;
let work: string;
/** The scratch sandboxes are made under the system's temporary folder: a private one here, to see them come and go. */
let sandboxes: string;
let savedTmpdir: string | undefined;

function config(root: string): Config {
  return configSchema.parse({
    name: 'shop',
    backup: { profiles: [{ name: 'p', storage: { type: 'PVC', pvc: { path: root } }, dump: { threads: 2 }, verification: { schedule: '0 * * * *', threads: 2 } }] },
  });
}

/** A folder with bloodraven.yaml for the same storage, for the CLI. */
async function cliFolder(root: string): Promise<string> {
  const cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: shop\nbackup:\n  profiles:\n    - name: p\n      storage: { type: PVC, pvc: { path: ${JSON.stringify(root)} } }\n      verification: { schedule: "0 3 * * *", timeZone: Europe/Berlin }\n`,
  );
  return cwd;
}

async function backupAt(store: ObjectStore, at: string): Promise<BackupRecord> {
  return runBackup(
    { connector: rootConnector(server), store, logger: silentLogger, clock: fixedClock(new Date(at)) },
    {
      group: 'shop',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['shop'], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
}

interface Running {
  done: Promise<void>;
  stop: AbortController;
  address: Promise<string>;
  logs: LogEntry[];
  metrics: BackupMetrics;
}

function start(cfg: Config, store: ObjectStore, options: { start?: string; horizon?: string } = {}): Running {
  const stop = new AbortController();
  const logs: LogEntry[] = [];
  let ready!: (address: string) => void;
  const address = new Promise<string>((r) => (ready = r));
  const metrics = new BackupMetrics();
  const done = runDaemon(
    {
      config: cfg,
      connector: rootConnector(server),
      storeFor: () => Promise.resolve(store),
      keysFor: () => Promise.resolve(profileKeys(store, undefined, 'encryption.passphraseFile')),
      clock: jumpingClock(options.start ?? '2026-03-01T02:30:00Z', options.horizon ?? '2026-03-01T04:30:00Z'),
      logger: createLogger((e) => logs.push(e)),
      metrics,
      toolVersion: 'test',
      runner: nodeProcessRunner,
    },
    { listen: '127.0.0.1:0', graceMs: 60_000 },
    stop.signal,
    { onReady: ({ address: a }) => ready(a ?? '') },
  );
  return { done, stop, address, logs, metrics };
}

/** Waits (polling) until `ready()` holds; fails after a generous bound, naming what it waited for. */
async function until(what: string, ready: () => boolean | Promise<boolean>, d?: Running): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; logs: ${JSON.stringify(d?.logs.map((l) => [l.message, l.fields]) ?? [])}`);
}

const logged = (d: Running, message: string): LogEntry[] => d.logs.filter((l) => l.message === message);

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function savedResult(root: string, backup: string): Promise<VerificationResult> {
  return JSON.parse(await readFile(join(root, backup, 'verification.json'), 'utf8')) as VerificationResult;
}

async function sandboxFolders(): Promise<string[]> {
  return (await readdir(sandboxes)).filter((f) => f.startsWith(sandboxFolderPrefix));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-daemon-verify-'));
  sandboxes = join(work, 'tmp');
  await mkdir(sandboxes);
  server = await startTestServer();
  savedTmpdir = process.env.TMPDIR;
  process.env.TMPDIR = sandboxes;
  await sql(server, 'CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO shop.t SELECT seq, "v" FROM shop.seq_1_to_5000');
  await sql(server, 'CREATE TABLE shop.u (id INT PRIMARY KEY, w TEXT); INSERT INTO shop.u SELECT seq, REPEAT("u", 50) FROM shop.seq_1_to_500');
});

afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('scheduled verification in the standalone daemon', () => {
  it('verifies the newest backup at its time, saves and counts the pass, then skips it as already verified', async () => {
    const root = join(work, 'good');
    const store = createFsStore({ root });
    const older = await backupAt(store, '2026-03-01T00:00:00Z');
    const newest = await backupAt(store, '2026-03-01T01:00:00Z');
    const d = start(config(root), store);
    const address = await d.address;
    await until('a verification and then a skip', () => logged(d, 'scheduled verification skipped').length >= 1, d);

    const health = (await (await fetch(`http://${address}/healthz`)).json()) as { verifications: VerificationHealth[] };
    const metricsText = await (await fetch(`http://${address}/metrics`)).text();
    d.stop.abort();
    await d.done;

    // 03:00 verified the newest backup; 04:00 found it verified already; 05:00 is next.
    expect(logged(d, 'scheduled verification passed').map((l) => l.fields)).toEqual([expect.objectContaining({ profile: 'p', backup: newest.name, tables: 2 })]);
    expect(logged(d, 'scheduled verification skipped')[0]!.fields.reason).toMatch(new RegExp(`^the newest Succeeded backup, ${newest.name}, already passed verification at 2026-03-01T03:00`));
    expect(health.verifications).toEqual([
      expect.objectContaining({ profile: 'p', schedule: '0 * * * *', timeZone: 'Etc/UTC', nextRun: '2026-03-01T05:00:00.000Z', running: null, last: expect.objectContaining({ outcome: 'skipped', backup: newest.name }) as unknown }),
    ]);
    const saved = await savedResult(root, newest.name);
    expect(saved).toMatchObject({ ok: true, backup: newest.name, mismatches: [], files: { failed: [] } });
    expect(saved.tables.map((t) => `${t.schema}.${t.table}`).sort()).toEqual(['shop.t', 'shop.u']);
    expect(existsSync(join(root, older.name, 'verification.json'))).toBe(false);

    expect(metric(metricsText, 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="success"')).toBe(1);
    expect(metric(metricsText, 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="failure"')).toBeUndefined();
    expect(metric(metricsText, 'bloodraven_verification_restore_seconds', 'group="shop",profile="p"')).toBe(saved.restore!.durationMs / 1000);
    expect(saved.restore!.durationMs).toBeGreaterThan(0);
    expect(metric(metricsText, 'bloodraven_verification_last_success_timestamp_seconds', 'group="shop",profile="p"')).toBe(Date.parse(saved.completedAt!) / 1000);
    // The sandbox is gone with the run.
    expect(await sandboxFolders()).toEqual([]);

    // backup list and status show it.
    const cwd = await cliFolder(root);
    const list = JSON.parse((await cli(['backup', 'list', '--json'], cwd)).stdout) as Array<{ name: string; verified: boolean; verification: string | null; verifiedAt: string | null }>;
    expect(list.map((b) => [b.name, b.verified, b.verification, b.verifiedAt])).toEqual([
      [newest.name, true, 'passed', saved.verifiedAt],
      [older.name, false, null, null],
    ]);
    const table = (await cli(['backup', 'list'], cwd)).stdout;
    expect(table).toMatch(new RegExp(`${newest.name}\\s+Succeeded\\s.*\\syes\\n`));
    expect(table).toMatch(new RegExp(`${older.name}\\s+Succeeded\\s.*\\sno\\n`));
    const before = Date.now();
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout) as Status;
    expect(status.profiles[0]!.verification).toMatchObject({
      newestVerified: { name: newest.name, verifiedAt: saved.verifiedAt },
      last: { backup: newest.name, verifiedAt: saved.verifiedAt, result: 'passed' },
      schedule: { schedule: '0 3 * * *', timeZone: 'Europe/Berlin' },
    });
    // 03:00 in Berlin is 01:00 or 02:00 UTC, within a day.
    const next = status.profiles[0]!.verification.schedule!.nextRun;
    expect(next).toMatch(/T0[12]:00:00\.000Z$/);
    expect(Date.parse(next) - before).toBeLessThanOrEqual(24 * 3600 * 1000);
    const text = (await cli(['status'], cwd)).stdout;
    expect(text).toContain(`  newest verified: ${newest.name} (verified `);
    expect(text).toContain(`  last verification: passed, ${newest.name}, ${saved.verifiedAt} (`);
    expect(text).toMatch(/ {2}next verification: \S+T0[12]:00:00\.000Z \(in .*; "0 3 \* \* \*" Europe\/Berlin\)/);

    // A restart seeds the gauges from the saved result, counting no run.
    const again = start(config(root), store, { start: '2026-03-01T10:30:00Z', horizon: '2026-03-01T10:45:00Z' });
    const text2 = await (await fetch(`http://${await again.address}/metrics`)).text();
    again.stop.abort();
    await again.done;
    expect(metric(text2, 'bloodraven_verification_last_success_timestamp_seconds', 'group="shop",profile="p"')).toBe(Date.parse(saved.completedAt!) / 1000);
    expect(metric(text2, 'bloodraven_verification_restore_seconds', 'group="shop",profile="p"')).toBe(saved.restore!.durationMs / 1000);
    expect(metric(text2, 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="success"')).toBeUndefined();

    // Once retention has deleted the verified backup (its verification.json with it), a restart
    // still seeds the gauges, from what the daemon remembered in the profile's storage.
    await rm(join(root, newest.name), { recursive: true });
    const third = start(config(root), store, { start: '2026-03-01T10:30:00Z', horizon: '2026-03-01T10:45:00Z' });
    const text3 = await (await fetch(`http://${await third.address}/metrics`)).text();
    third.stop.abort();
    await third.done;
    expect(metric(text3, 'bloodraven_verification_last_success_timestamp_seconds', 'group="shop",profile="p"')).toBe(Date.parse(saved.completedAt!) / 1000);
    expect(metric(text3, 'bloodraven_verification_restore_seconds', 'group="shop",profile="p"')).toBe(saved.restore!.durationMs / 1000);
  });

  it('fails naming the table when a data file\'s rows were changed and its size and SHA-256 in the record fixed up to match', async () => {
    const root = join(work, 'content');
    const store = createFsStore({ root });
    const record = await backupAt(store, '2026-03-01T01:00:00Z');
    // Rewrite one row of shop.t in its data file, then make the record agree with the new bytes:
    // the file check passes, and only the table's content checksum can tell.
    const file = record.files.find((f) => f.name.startsWith('shop@t@'))!;
    const path = join(root, record.name, file.name);
    const rows = zstdDecompressSync(await readFile(path)).toString('utf8');
    expect(rows).toMatch(/\tv\n/);
    const changed = zstdCompressSync(Buffer.from(rows.replace(/\tv\n/, '\tX\n')));
    await writeFile(path, changed);
    const fixed: BackupRecord = {
      ...record,
      files: record.files.map((f) => (f.name === file.name ? { ...f, storedBytes: changed.length, sha256: createHash('sha256').update(changed).digest('hex') } : f)),
    };
    await writeFile(join(root, record.name, 'bloodraven.json'), JSON.stringify(fixed));

    const d = start(config(root), store, { horizon: '2026-03-01T03:30:00Z' });
    const address = await d.address;
    await until('the verification to end', () => logged(d, 'scheduled verification failed').length >= 1, d);
    const metricsText = await (await fetch(`http://${address}/metrics`)).text();
    d.stop.abort();
    await d.done;

    expect(logged(d, 'scheduled verification failed')[0]!.fields).toMatchObject({ profile: 'p', backup: record.name, tables: 'shop.t', files: '' });
    expect(logged(d, 'scheduled verification failed')[0]!.fields.problems).toMatch(/^table shop\.t: 5000 rows \(expected 5000\), checksum \S+ \(expected \S+\)$/);
    const saved = await savedResult(root, record.name);
    expect(saved).toMatchObject({ ok: false, mismatches: ['shop.t'], files: { failed: [] } });
    expect(saved.tables.find((t) => t.table === 'u')).toMatchObject({ ok: true });
    expect(metric(metricsText, 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="failure"')).toBe(1);
    expect(metric(metricsText, 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="success"')).toBeUndefined();
    expect(metric(metricsText, 'bloodraven_verification_last_success_timestamp_seconds', 'group="shop",profile="p"')).toBeUndefined();
    const failedAt = metric(metricsText, 'bloodraven_verification_last_failure_timestamp_seconds', 'group="shop",profile="p"');
    expect(failedAt).toBeGreaterThan(Date.parse('2026-03-01T02:00:00Z') / 1000);

    // A restart (before the next verification time) keeps the failure in the gauge, counting no run.
    const again = start(config(root), store, { start: '2026-03-01T03:40:00Z', horizon: '2026-03-01T03:40:00Z' });
    const text2 = await (await fetch(`http://${await again.address}/metrics`)).text();
    again.stop.abort();
    await again.done;
    // The same value as before the restart: the run remembered in the profile's storage.
    expect(metric(text2, 'bloodraven_verification_last_failure_timestamp_seconds', 'group="shop",profile="p"')).toBe(failedAt);
    expect(metric(text2, 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="failure"')).toBeUndefined();

    const cwd = await cliFolder(root);
    expect((await cli(['backup', 'list'], cwd)).stdout).toMatch(new RegExp(`${record.name}\\s+Succeeded\\s.*\\sFAILED\\n`));
    const status = JSON.parse((await cli(['status', '--json'], cwd)).stdout) as Status;
    expect(status.profiles[0]!.verification).toMatchObject({ newestVerified: null, last: { backup: record.name, result: 'failed' } });
    expect((await cli(['status'], cwd)).stdout).toContain(`  last verification: FAILED, ${record.name}, `);
  });

  it('fails naming the file when a data file\'s bytes differ from its record, without restoring', async () => {
    const root = join(work, 'bytes');
    const store = createFsStore({ root });
    const record = await backupAt(store, '2026-03-01T01:00:00Z');
    const file = record.files.find((f) => f.name.startsWith('shop@u@'))!;
    const path = join(root, record.name, file.name);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(path, bytes);

    const d = start(config(root), store, { horizon: '2026-03-01T03:30:00Z' });
    await d.address;
    await until('the verification to end', () => logged(d, 'scheduled verification failed').length >= 1, d);
    d.stop.abort();
    await d.done;

    expect(logged(d, 'scheduled verification failed')[0]!.fields).toMatchObject({ backup: record.name, tables: '', files: file.name });
    expect(logged(d, 'scheduled verification failed')[0]!.fields.problems).toMatch(new RegExp(`^file ${file.name.replace(/[.@]/g, '\\$&')}: .*SHA-256`));
    const saved = await savedResult(root, record.name);
    expect(saved).toMatchObject({ ok: false, restore: null, files: { failed: [expect.objectContaining({ name: file.name })] } });
    expect((await listBackups(store))[0]).toMatchObject({ verification: 'failed' });
  });

  it('skips, saying so, when there is no Succeeded backup', async () => {
    const root = join(work, 'empty');
    const d = start(config(root), createFsStore({ root }), { horizon: '2026-03-01T03:30:00Z' });
    await d.address;
    await until('a skip', () => logged(d, 'scheduled verification skipped').length >= 1, d);
    d.stop.abort();
    await d.done;
    expect(logged(d, 'scheduled verification skipped')[0]!.fields).toMatchObject({ profile: 'p', backup: null, reason: 'there is no Succeeded backup to verify yet' });
  });

  it('on stop, interrupts a verification in flight: its sandbox is removed and nothing is saved', async () => {
    const root = join(work, 'stopped');
    const store = createFsStore({ root });
    const record = await backupAt(store, '2026-03-01T01:00:00Z');
    const d = start(config(root), store, { horizon: '2026-03-01T03:30:00Z' });
    await d.address;
    await until('the scratch sandbox to start', async () => (await sandboxFolders()).length > 0, d);
    d.stop.abort();
    await d.done;
    expect(logged(d, 'scheduled verification interrupted: the daemon is stopping (nothing was saved)').map((l) => l.fields)).toEqual([{ profile: 'p', backup: record.name }]);
    expect(logged(d, 'scheduled verification passed')).toEqual([]);
    expect(await sandboxFolders()).toEqual([]);
    expect(existsSync(join(root, record.name, 'verification.json'))).toBe(false);
    expect(metric(await d.metrics.metrics(), 'bloodraven_verification_runs_total', 'group="shop",profile="p",result="failure"')).toBeUndefined();
  });
});
