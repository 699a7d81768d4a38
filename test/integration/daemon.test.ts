/**
 * The standalone daemon against a real MariaDB server and real storage, on a clock that jumps to
 * every wait's end (so hourly schedules and retry backoffs run in seconds): scheduled backups,
 * pruning after each success, retries as fresh attempts, /metrics counting each terminal backup
 * exactly once (also across a restart), /healthz, and stopping with a grace period.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDaemon } from '../../src/daemon/daemon.js';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import { fixedClock } from '../../src/lib/clock.js';
import { profileKeys, readKeyring, type ProfileKeys } from '../../src/lib/crypto/keys.js';
import { rotateKeys } from '../../src/lib/crypto/rotate.js';
import { configSchema, type Config, type ConfigInput } from '../../src/lib/config/schema.js';
import { createLogger, silentLogger, type LogEntry } from '../../src/lib/log.js';
import { BackupMetrics } from '../../src/lib/metrics/backup-metrics.js';
import { createMysqlConnector, type MysqlConnector } from '../../src/lib/mysql/connection.js';
import { freePort } from '../../src/lib/mysql/sandbox.js';
import { readAllManifests } from '../../src/lib/pitr/manifest.js';
import { windowFromStorage } from '../../src/lib/pitr/point-in-time.js';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { dumpOptionsOf } from '../../src/lib/dump/options.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

let server: TestServer;
let work: string;

function config(root: string, extra: Partial<ConfigInput['backup']> = {}): Config {
  return configSchema.parse({
    name: 'shop',
    backup: {
      profiles: [{ name: 'hourly', storage: { type: 'PVC', pvc: { path: root } }, dump: { threads: 2, includeSchemas: ['shop'] }, retentionPolicy: { count: 2, minKeep: 1, maxFailedKeep: 10 } }],
      schedules: [{ name: 'every-hour', profileName: 'hourly', schedule: '0 * * * *' }],
      retry: { maxAttempts: 3, initialBackoffSeconds: 60, maxBackoffSeconds: 600 },
      ...extra,
    },
  });
}

interface Running {
  done: Promise<void>;
  stop: AbortController;
  address: Promise<string>;
  logs: LogEntry[];
  /** What /metrics serves. */
  metrics: BackupMetrics;
}

/** Starts the daemon; `stopWhen` sees every log line and says when to stop it. */
function start(cfg: Config, connector: MysqlConnector, store: ObjectStore, options: { stopWhen?: (logs: LogEntry[]) => boolean; graceMs?: number; clockStart?: string; keys?: ProfileKeys } = {}): Running {
  const stop = new AbortController();
  const logs: LogEntry[] = [];
  let ready!: (address: string) => void;
  const address = new Promise<string>((r) => (ready = r));
  const logger = createLogger((e) => {
    logs.push(e);
    if (options.stopWhen?.(logs) && !stop.signal.aborted) stop.abort();
  });
  const metrics = new BackupMetrics();
  const done = runDaemon(
    {
      config: cfg,
      connector,
      storeFor: () => Promise.resolve(store),
      keysFor: () => Promise.resolve(options.keys ?? profileKeys(store, undefined, 'encryption.passphraseFile')),
      clock: fixedClock(new Date(options.clockStart ?? '2026-01-01T00:30:00Z')),
      logger,
      metrics,
      toolVersion: 'test',
      runner: nodeProcessRunner,
    },
    { listen: '127.0.0.1:0', graceMs: options.graceMs ?? 60_000 },
    stop.signal,
    { onReady: ({ address: a }) => ready(a ?? '') },
  );
  return { done, stop, address, logs, metrics };
}

async function get(address: string, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${address}${path}`);
  return { status: res.status, body: await res.text() };
}

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

const count = (logs: LogEntry[], message: string): number => logs.filter((l) => l.message === message).length;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-daemon-'));
  server = await startTestServer();
  await sql(server, 'CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v TEXT); INSERT INTO shop.t SELECT seq, "v" FROM shop.seq_1_to_1000');
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bloodraven daemon', () => {
  it('runs the schedule, prunes after each success, and counts each backup once, also after a restart', async () => {
    const root = join(work, 'scheduled');
    const store = createFsStore({ root });
    const cfg = config(root);
    const first = start(cfg, rootConnector(server), store, { stopWhen: (logs) => count(logs, 'backup succeeded') >= 3 && count(logs, 'pruned') >= 1 });
    const address = await first.address;
    const health = JSON.parse((await get(address, '/healthz')).body) as { status: string; schedules: Array<{ name: string; nextRun: string | null }> };
    expect(health.schedules[0]?.name).toBe('every-hour');
    await first.done;
    const metricsText = await first.metrics.metrics();

    const entries = await listBackups(store);
    expect(entries.map((e) => e.phase)).toEqual(['Succeeded', 'Succeeded']);
    // Hourly at :00 from 00:30: the 01:00 backup was pruned (count 2), 02:00 and 03:00 remain.
    expect(entries.map((e) => e.startedAt.toISOString())).toEqual(['2026-01-01T03:00:00.000Z', '2026-01-01T02:00:00.000Z']);
    expect(entries[0]!.record?.trigger).toEqual({ kind: 'schedule', schedule: 'every-hour', attempt: 1 });
    expect(metric(metricsText, 'bloodraven_backup_runs_total', 'group="shop",profile="hourly",result="success"')).toBe(3);
    // Retention deleted one backup: counted with the size its record gave.
    const pruned = first.logs.find((l) => l.message === 'pruned');
    expect(pruned?.fields.deleted).toBe(first.logs.find((l) => l.message === 'backup succeeded')?.fields.name);
    expect(metric(metricsText, 'bloodraven_retention_deleted_backups_total', 'group="shop",profile="hourly"')).toBe(1);
    expect(metric(metricsText, 'bloodraven_retention_deleted_bytes_total', 'group="shop",profile="hourly"')).toBe(Number(first.logs.find((l) => l.message === 'backup succeeded')?.fields.sizeBytes));

    // A restart seeds from the catalog and the tally: three backups, counted once each.
    const second = start(cfg, rootConnector(server), store);
    const address2 = await second.address;
    const text = (await get(address2, '/metrics')).body;
    second.stop.abort();
    await second.done;
    expect(metric(text, 'bloodraven_backup_runs_total', 'group="shop",profile="hourly",result="success"')).toBe(3);
    expect(metric(text, 'bloodraven_backup_last_success_timestamp_seconds', 'group="shop",profile="hourly"')).toBeGreaterThanOrEqual(Date.parse('2026-01-01T03:00:00Z') / 1000);
    expect(metric(text, 'bloodraven_backup_last_size_bytes', 'group="shop",profile="hourly"')).toBe(entries[0]!.record!.sizeBytes);
    // The durations were observed by the process that counted the runs; the restarted one starts
    // its histogram empty (a plain reset), never with fewer observations than before.
    expect(metricsText).toMatch(/bloodraven_backup_duration_seconds_count\{group="shop",profile="hourly"\} 3/);
    expect(text).not.toMatch(/bloodraven_backup_duration_seconds_count\{group="shop",profile="hourly"\}/);
  });

  it('retries a failed scheduled backup as fresh attempts, with backoff from each failure', async () => {
    const root = join(work, 'retries');
    const store = createFsStore({ root });
    const port = await freePort();
    const unreachable = createMysqlConnector({ host: '127.0.0.1', port, user: 'root', connectTimeoutMs: 1000 });
    const d = start(config(root), unreachable, store, { stopWhen: (logs) => count(logs, 'scheduled backup failed on every attempt') >= 1 });
    const address = await d.address;
    await d.done;
    expect(address).not.toBe('');
    expect(metric(await d.metrics.metrics(), 'bloodraven_backup_runs_total', 'group="shop",profile="hourly",result="failure"')).toBe(3);
    const entries = (await listBackups(store)).reverse();
    expect(entries.map((e) => [e.phase, e.record?.trigger])).toEqual([
      ['Failed', { kind: 'schedule', schedule: 'every-hour', attempt: 1 }],
      ['Failed', { kind: 'schedule', schedule: 'every-hour', attempt: 2 }],
      ['Failed', { kind: 'schedule', schedule: 'every-hour', attempt: 3 }],
    ]);
    // 60 s after the first failure, then 120 s after the second.
    const started = entries.map((e) => e.startedAt.getTime());
    const completed = entries.map((e) => Date.parse(e.record!.completedAt!));
    expect(started[1]! - completed[0]!).toBe(60_000);
    expect(started[2]! - completed[1]!).toBe(120_000);
    expect(entries.every((e) => e.record?.failure?.code === 'MYSQL_UNREACHABLE')).toBe(true);
  });

  it('on stop, lets a running backup end within the grace period, or interrupts it (Failed) after', async () => {
    const root = join(work, 'grace');
    const store = createFsStore({ root });
    // Stop as soon as the first backup has started; no grace: it is interrupted.
    const abrupt = start(config(root), rootConnector(server), store, { graceMs: 0, stopWhen: (logs) => count(logs, 'backup started') >= 1 });
    await abrupt.done;
    const [interrupted] = await listBackups(store);
    expect(interrupted).toMatchObject({ phase: 'Failed' });
    expect(interrupted!.record?.failure?.code).toBe('ABORTED');

    // With grace, the running one finishes and no further one starts.
    const graceful = start(config(root), rootConnector(server), store, { graceMs: 60_000, stopWhen: (logs) => count(logs, 'backup started') >= 1, clockStart: '2026-02-01T00:30:00Z' });
    await graceful.done;
    const entries = await listBackups(store);
    expect(entries[0]).toMatchObject({ phase: 'Succeeded' });
    expect(count(graceful.logs, 'backup started')).toBe(1);
  });

  it('archives binlogs when PITR is enabled, and reports on /archiver/status', async () => {
    const root = join(work, 'archiver');
    const store = createFsStore({ root });
    await sql(server, 'INSERT INTO shop.t VALUES (100001, "x"); FLUSH BINARY LOGS');
    const cfg = config(root, { schedules: [], pitr: { enabled: true, profileName: 'hourly', site: 'main' } });
    const d = start(cfg, rootConnector(server), store);
    const address = await d.address;
    let status: Record<string, unknown> = {};
    let metricsText = '';
    for (let i = 0; i < 100; i++) {
      status = JSON.parse((await get(address, '/archiver/status')).body) as Record<string, unknown>;
      metricsText = (await get(address, '/metrics')).body;
      // The window's metrics are read after the scan that archived.
      if (Number(status.filesArchived) > 0 && metric(metricsText, 'bloodraven_pitr_window_gaps', 'group="shop",profile="hourly"') !== undefined) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    d.stop.abort();
    await d.done;
    expect(status).toMatchObject({ enabled: true, primary: true, site: 'main', storageType: 'PVC', lastError: null, manifestPrefix: `${root}/binlogs/` });
    expect(Number(status.filesArchived)).toBeGreaterThan(0);
    expect(typeof status.lastScanAt).toBe('string');
    const [manifest] = await readAllManifests(store);
    expect(manifest!.entries.length).toBe(status.filesArchived);

    // The archiver's metrics, labelled like the backups', agree with the manifest.
    const l = 'group="shop",profile="hourly"';
    expect(metric(metricsText, 'bloodraven_pitr_archiver_archived_files_total', l)).toBe(manifest!.entries.length);
    expect(metric(metricsText, 'bloodraven_pitr_archiver_archived_bytes_total', l)).toBe(manifest!.entries.reduce((sum, e) => sum + e.size, 0));
    const newest = Math.max(...manifest!.entries.map((e) => Date.parse(e.lastEventTime ?? '')).filter(Number.isFinite));
    expect(metric(metricsText, 'bloodraven_pitr_archiver_last_archived_event_timestamp_seconds', l)).toBe(newest / 1000);
    expect(metric(metricsText, 'bloodraven_pitr_archiver_errors_total', l)).toBe(0);
    expect(metric(metricsText, 'bloodraven_pitr_archiver_primary', l)).toBe(1);
    expect(metric(metricsText, 'bloodraven_pitr_archiver_lag_seconds', l)).toBeGreaterThanOrEqual(0);
    // No backup in this folder: nothing is restorable, so no gaps and no ends.
    expect(metric(metricsText, 'bloodraven_pitr_window_gaps', l)).toBe(0);
    expect(metricsText).not.toMatch(/^bloodraven_pitr_window_end_timestamp_seconds\{/m);
  });

  it('does not count as a window gap the transactions of the newest backup still in the open binlog, until the archive moves past them', async () => {
    const root = join(work, 'open-binlog');
    const store = createFsStore({ root });
    const backupNow = () => runBackup({ connector: rootConnector(server), store, logger: silentLogger, clock: fixedClock(new Date()) }, { group: 'shop', profile: 'hourly', toolVersion: 'test', dump: dumpOptionsOf(config(root).backup.profiles[0]!.dump) }, { signal: new AbortController().signal });
    await backupNow();
    await sql(server, 'INSERT INTO shop.t VALUES (200001, "sealed"); FLUSH BINARY LOGS');
    // Written after the last flush: in the binlog the server is writing when the second backup is taken.
    await sql(server, 'INSERT INTO shop.t VALUES (200002, "open")');
    await new Promise((r) => setTimeout(r, 1100));
    await backupNow();
    const cfg = config(root, { schedules: [], pitr: { enabled: true, profileName: 'hourly', site: 'main', archivePollInterval: 1 } });
    const d = start(cfg, rootConnector(server), store, { clockStart: new Date().toISOString() });
    const address = await d.address;
    const l = 'group="shop",profile="hourly"';
    const gaps = async (): Promise<number | undefined> => metric((await get(address, '/metrics')).body, 'bloodraven_pitr_window_gaps', l);
    try {
      let seen: number | undefined;
      for (let i = 0; i < 100 && seen === undefined; i++) {
        seen = await gaps();
        if (seen === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      // pitr window shows a gap up to the backup; the metric does not count it: nothing is lost.
      const pending = await windowFromStorage(store);
      expect(pending.gaps).toHaveLength(1);
      expect(pending.gaps[0]!.reason).toMatch(/holds them/);
      expect(seen).toBe(0);
      // Sealed and archived, the gap is gone from the window itself.
      await sql(server, 'FLUSH BINARY LOGS');
      for (let i = 0; i < 100 && (await windowFromStorage(store)).gaps.length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect((await windowFromStorage(store)).gaps).toEqual([]);
      expect(await gaps()).toBe(0);
    } finally {
      d.stop.abort();
      await d.done;
    }
  });

  it('encrypts scheduled backups and archived binlogs, and picks up a rotated passphrase', async () => {
    const root = join(work, 'encrypted');
    const store = createFsStore({ root });
    const passphraseFile = join(work, 'daemon-passphrase');
    await writeFile(passphraseFile, 'first\n');
    const keys = profileKeys(store, passphraseFile, 'encryption.passphraseFile');
    await sql(server, 'INSERT INTO shop.t VALUES (100002, "y"); FLUSH BINARY LOGS');
    const cfg = config(root, { pitr: { enabled: true, profileName: 'hourly', site: 'enc' } });
    const first = start(cfg, rootConnector(server), store, { keys, stopWhen: (logs) => count(logs, 'backup succeeded') >= 1 && count(logs, 'binlog archived') >= 1 });
    await first.done;
    const keyring = (await readKeyring(store))!;
    const [entry] = await listBackups(store);
    expect(entry!.record!.encryption?.keyId).toBe(keyring.keyId);
    const [manifest] = await readAllManifests(store);
    expect(manifest!.entries.length).toBeGreaterThan(0);
    for (const e of manifest!.entries) expect(e.encryption?.keyId).toBe(keyring.keyId);

    // Rotated while the daemon is down; the same keys object must not keep the old key.
    const rotated = await rotateKeys({ store, logger: createLogger(() => undefined), clock: fixedClock(new Date()) }, { current: 'first', next: 'second' });
    await writeFile(passphraseFile, 'second\n');
    const second = start(cfg, rootConnector(server), store, { keys, clockStart: '2026-01-05T00:30:00Z', stopWhen: (logs) => count(logs, 'backup succeeded') >= 1 });
    await second.done;
    const [newest] = await listBackups(store);
    expect(newest!.name).not.toBe(entry!.name);
    expect(newest!.record!.encryption?.keyId).toBe(rotated.newKeyId);
  });

  it('runs as a command: serves /healthz and /metrics, and exits 0 on SIGTERM', async () => {
    const cwd = await mkdtemp(join(work, 'cli-'));
    const port = await freePort();
    await writeFile(
      join(cwd, 'bloodraven.yaml'),
      `name: shop\nmysql: { host: 127.0.0.1, port: ${server.port}, user: root }\nbackup:\n  profiles: [ { name: p, storage: { type: PVC, pvc: { path: ./backups } }, verification: { schedule: "30 6 1 7 *", timeZone: Asia/Tokyo } } ]\n  schedules: [ { name: yearly, profileName: p, schedule: "0 0 1 1 *", timeZone: Europe/Berlin } ]\n`,
    );
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'run.js'), 'daemon', '--listen', `127.0.0.1:${port}`], { cwd });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    for (let i = 0; i < 100 && !stderr.includes('daemon started'); i++) await new Promise((r) => setTimeout(r, 100));
    const health = JSON.parse((await get(`127.0.0.1:${port}`, '/healthz')).body) as { schedules: Array<{ nextRun: string }>; verifications: Array<{ profile: string; nextRun: string }> };
    expect(health.schedules[0]!.nextRun).toMatch(/^\d{4}-12-31T23:00:00\.000Z$/);
    // The verification's next time beside the schedules': 1 July 06:30 in Tokyo.
    expect(health.verifications).toEqual([expect.objectContaining({ profile: 'p', nextRun: expect.stringMatching(/^\d{4}-06-30T21:30:00\.000Z$/) as unknown, last: null })]);
    const metrics = await get(`127.0.0.1:${port}`, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('# TYPE bloodraven_backup_runs_total counter');
    expect(metrics.body).toContain('# TYPE bloodraven_verification_runs_total counter');
    expect((await get(`127.0.0.1:${port}`, '/nope')).status).toBe(404);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/daemon stopped/);
  });
});
