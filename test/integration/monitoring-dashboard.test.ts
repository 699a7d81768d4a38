/**
 * The Grafana dashboard (deploy/monitoring/grafana-dashboard.json) against what bloodraven really
 * exports: a real Prometheus server (Debian's) scrapes a standalone daemon on loopback whose
 * storage holds backups (one profile's failed), which has verified on its schedule and archived
 * binlogs. Every
 * panel's query and every template variable's query is evaluated through Prometheus' HTTP API:
 * each must parse and return series.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDaemon } from '../../src/daemon/daemon.js';
import type { Clock } from '../../src/lib/clock.js';
import { configSchema } from '../../src/lib/config/schema.js';
import { profileKeys } from '../../src/lib/crypto/keys.js';
import { createLogger, silentLogger, type LogEntry } from '../../src/lib/log.js';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { BackupMetrics } from '../../src/lib/metrics/backup-metrics.js';
import { freePort } from '../../src/lib/mysql/sandbox.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { jumpingClock } from '../support/jumping-clock.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const prometheusBin = '/usr/bin/prometheus';

interface Target {
  refId: string;
  expr: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: { query: string } }> };
}

/** A clock at `start` that runs on in real time. */
function clockFrom(start: string): Clock {
  const realStart = Date.now();
  return {
    now: () => new Date(Date.parse(start) + (Date.now() - realStart)),
    sleepUntil: () => Promise.reject(new Error('a backup does not sleep')),
  };
}

/** Grafana's variables, as "All" selects them. */
function substitute(expr: string): string {
  return expr.replaceAll('$group', '.*').replaceAll('$profile', '.*').replaceAll('$__rate_interval', '5m').replaceAll('$__range', '1h').replaceAll('$__interval', '1m');
}

let server: TestServer;
let work: string;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;
let prometheusLog = '';
const stopDaemon = new AbortController();
let daemonDone: Promise<void> | undefined;
const logs: LogEntry[] = [];

async function query(expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: unknown[] } }> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown[] } };
}

async function until(what: string, ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; daemon logs: ${JSON.stringify(logs.map((l) => [l.message, l.fields]))}\nprometheus: ${prometheusLog.slice(-3000)}`);
}

const count = (message: string): number => logs.filter((l) => l.message === message).length;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-dashboard-'));
  server = await startTestServer();
  await sql(server, 'CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v TEXT); INSERT INTO shop.t SELECT seq, "v" FROM shop.seq_1_to_2000; FLUSH BINARY LOGS');
  const root = join(work, 'backups');
  const store = createFsStore({ root });
  // Three backups an hour apart and one of another profile that fails (interrupted), taken before the
  // daemon starts: it counts them from the catalog, as after a restart.
  const brokenRoot = join(work, 'broken');
  const brokenStore = createFsStore({ root: brokenRoot });
  const backupAt = (profile: string, at: string, includeSchemas: string[], interrupt = new AbortController()) =>
    runBackup(
      { connector: rootConnector(server), store: profile === 'broken' ? brokenStore : store, logger: silentLogger, clock: clockFrom(at) },
      { group: 'shop', profile, toolVersion: 'test', dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas, excludeSchemas: [], lockWaitTimeoutSeconds: 10 } },
      // An interrupt as soon as it starts: a Failed record.
      { signal: interrupt.signal, ...(profile === 'broken' ? { onStart: () => interrupt.abort(new Error('stopped by the test')) } : {}) },
    );
  for (const at of ['2026-01-01T01:00:00Z', '2026-01-01T02:00:00Z', '2026-01-01T03:00:00Z']) {
    await backupAt('hourly', at, ['shop']);
    await sql(server, `INSERT INTO shop.t VALUES (${Date.parse(at) / 1000}, "later"); FLUSH BINARY LOGS`);
  }
  const interrupted = await backupAt('broken', '2026-01-01T03:05:00Z', ['shop']).then(
    () => null,
    (err: unknown) => err,
  );
  if (!(interrupted instanceof Error)) throw new Error('the interrupted backup succeeded');
  const config = configSchema.parse({
    name: 'shop',
    backup: {
      profiles: [
        {
          name: 'hourly',
          storage: { type: 'PVC', pvc: { path: root } },
          dump: { threads: 2, includeSchemas: ['shop'] },
          retentionPolicy: { count: 5, minKeep: 1, maxFailedKeep: 10 },
          verification: { schedule: '30 * * * *', threads: 2 },
        },
        { name: 'broken', storage: { type: 'PVC', pvc: { path: brokenRoot } }, dump: { includeSchemas: ['shop'] } },
      ],
      pitr: { enabled: true, profileName: 'hourly', site: 'main' },
    },
  });
  let ready!: (address: string) => void;
  const address = new Promise<string>((r) => (ready = r));
  daemonDone = runDaemon(
    {
      config,
      connector: rootConnector(server),
      storeFor: (profile) => Promise.resolve(profile.name === 'broken' ? brokenStore : store),
      keysFor: () => Promise.resolve(profileKeys(store, undefined, 'encryption.passphraseFile')),
      // The verification at 03:30 (later ones skip the backup it passed); then the daemon idles, serving /metrics.
      clock: jumpingClock('2026-01-01T03:10:00Z', '2026-01-01T05:40:00Z'),
      logger: createLogger((e) => logs.push(e)),
      metrics: new BackupMetrics(),
      toolVersion: 'test',
      runner: nodeProcessRunner,
    },
    { listen: '127.0.0.1:0', graceMs: 60_000 },
    stopDaemon.signal,
    { onReady: ({ address: a }) => ready(a ?? '') },
  );
  const daemonAddress = await address;
  await until('the scheduled verifications and the archiving', () => count('scheduled verification passed') >= 1 && count('binlog archived') >= 3);

  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  const configFile = join(work, 'prometheus.yml');
  await writeFile(configFile, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${join(repoRoot, 'deploy/monitoring/bloodraven-rules.yaml')}\nscrape_configs:\n  - job_name: bloodraven\n    static_configs:\n      - targets: ['${daemonAddress}']\n`);
  prometheus = spawn(prometheusBin, [`--config.file=${configFile}`, `--storage.tsdb.path=${join(work, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.stdout?.on('data', (b: Buffer) => (prometheusLog += b.toString()));
  prometheus.stderr?.on('data', (b: Buffer) => (prometheusLog += b.toString()));
  const exited = new Promise<number | null>((resolve) => prometheus?.once('exit', resolve));
  await until('Prometheus to answer', async () => {
    if (prometheus?.exitCode !== null) throw new Error(`prometheus exited (${String(await exited)}): ${prometheusLog.slice(-2000)}`);
    return fetch(`${prometheusUrl}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
  });
  // Enough scrapes that rate() and increase() have samples to work on.
  await until('five scrapes of the daemon', async () => {
    const r = await query('count_over_time(up{job="bloodraven"}[1m]) >= 5 and up{job="bloodraven"} == 1');
    return (r.data?.result.length ?? 0) > 0;
  });
}, 300_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  stopDaemon.abort();
  await daemonDone;
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the alert rules in a real Prometheus', () => {
  it('load, and evaluate against the daemon\'s series without error', async () => {
    let rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }> = [];
    await until('every rule evaluated', async () => {
      const body = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: typeof rules }> } };
      rules = body.data.groups.flatMap((g) => g.rules);
      return rules.length > 0 && rules.every((r) => !r.lastEvaluation.startsWith('0001'));
    });
    expect(rules.map((r) => r.name)).toEqual(expect.arrayContaining(['BloodravenBackupStale', 'BloodravenArchiverLagging', 'BloodravenPitrWindowGap', 'BloodravenVerificationFailing']));
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? r.health}`)).toEqual([]);
  });
});

describe('the Grafana dashboard', () => {
  it('has every panel the issue lists, each with a query', async () => {
    const dashboard = JSON.parse(await readFile(join(repoRoot, 'deploy/monitoring/grafana-dashboard.json'), 'utf8')) as Dashboard;
    const titles = dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining(['Backup results', 'Backup duration', 'Backup size', 'Time since the last successful backup', 'Verification results', 'Measured recovery time (RTO)', 'Archiver lag', 'Profiles']),
    );
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) expect(p.targets?.length, p.title).toBeGreaterThan(0);
  });

  it('every panel query parses and returns series from a Prometheus scraping a daemon that has worked', async () => {
    const dashboard = JSON.parse(await readFile(join(repoRoot, 'deploy/monitoring/grafana-dashboard.json'), 'utf8')) as Dashboard;
    const failures: string[] = [];
    let evaluated = 0;
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr);
        const r = await query(expr);
        evaluated++;
        if (r.status !== 'success') failures.push(`${panel.title} ${target.refId}: ${r.error ?? r.status}\n    ${expr}`);
        else if ((r.data?.result.length ?? 0) === 0) failures.push(`${panel.title} ${target.refId}: no series\n    ${expr}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(evaluated).toBeGreaterThanOrEqual(15);
  });

  it('its template variables find the group and the profiles', async () => {
    const dashboard = JSON.parse(await readFile(join(repoRoot, 'deploy/monitoring/grafana-dashboard.json'), 'utf8')) as Dashboard;
    const values: Record<string, string[]> = {};
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const m = /^label_values\((.+), (\w+)\)$/.exec(v.query?.query ?? '');
      expect(m, v.name).not.toBeNull();
      const res = await fetch(`${prometheusUrl}/api/v1/label/${m![2]}/values?match[]=${encodeURIComponent(substitute(m![1]!))}`);
      values[v.name] = ((await res.json()) as { data: string[] }).data;
    }
    expect(values).toEqual({ group: ['shop'], profile: ['broken', 'hourly'] });
  });

  it('the series behind it carry what the daemon did', async () => {
    const value = async (expr: string): Promise<number> => {
      const r = (await query(expr)) as { data?: { result: Array<{ value: [number, string] }> } };
      expect(r.data?.result, `${expr}: ${JSON.stringify((await query('{__name__=~"bloodraven_backup_runs_total"}')).data?.result)}`).toHaveLength(1);
      return Number(r.data?.result[0]?.value[1]);
    };
    expect(await value('bloodraven_backup_runs_total{group="shop",profile="hourly",result="success"}')).toBe(3);
    expect(await value('bloodraven_backup_runs_total{group="shop",profile="broken",result="failure"}')).toBe(1);
    expect(await value('bloodraven_retention_deleted_backups_total{group="shop",profile="hourly"}')).toBe(0);
    expect(await value('bloodraven_verification_runs_total{group="shop",profile="hourly",result="success"}')).toBe(1);
    expect(await value('bloodraven_verification_restore_seconds{group="shop",profile="hourly"}')).toBeGreaterThan(0);
    expect(await value('bloodraven_pitr_archiver_archived_files_total{group="shop",profile="hourly"}')).toBeGreaterThanOrEqual(1);
    expect(await value('bloodraven_pitr_window_end_timestamp_seconds{group="shop",profile="hourly"}')).toBeGreaterThan(Date.parse('2026-01-01T00:00:00Z') / 1000);
  });
});
