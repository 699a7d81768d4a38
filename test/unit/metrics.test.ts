import { describe, expect, it } from 'vitest';
import { BackupMetrics, type TerminalBackup } from '../../src/lib/metrics/backup-metrics.js';
import { countsOf, emptyTally, foldGone } from '../../src/lib/metrics/tally.js';

function backup(name: string, phase: TerminalBackup['phase'], completedAt: string, sizeBytes = 100): TerminalBackup {
  return { name, group: 'g', profile: 'p', phase, startedAt: new Date(Date.parse(completedAt) - 90_000).toISOString(), completedAt, sizeBytes };
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('BackupMetrics', () => {
  it('counts each terminal backup once, and ignores running ones', async () => {
    const m = new BackupMetrics();
    expect(m.observe(backup('a', 'Succeeded', '2026-01-01T00:00:00Z'))).toBe(true);
    expect(m.observe(backup('a', 'Succeeded', '2026-01-01T00:00:00Z'))).toBe(false);
    expect(m.observe(backup('b', 'Failed', '2026-01-02T00:00:00Z'))).toBe(true);
    expect(m.observe(backup('c', 'Running', '2026-01-03T00:00:00Z'))).toBe(false);
    const text = await m.metrics();
    expect(value(text, 'bloodraven_backup_runs_total{group="g",profile="p",result="success"}')).toBe(1);
    expect(value(text, 'bloodraven_backup_runs_total{group="g",profile="p",result="failure"}')).toBe(1);
    expect(value(text, 'bloodraven_backup_duration_seconds_count{group="g",profile="p"}')).toBe(2);
    expect(value(text, 'bloodraven_backup_duration_seconds_sum{group="g",profile="p"}')).toBe(180);
  });

  it('keeps the gauges on the latest backup whatever the order they are seen in', async () => {
    const m = new BackupMetrics();
    m.observe(backup('new', 'Succeeded', '2026-01-05T00:00:00Z', 500));
    m.observe(backup('old', 'Succeeded', '2026-01-01T00:00:00Z', 100));
    m.observe(backup('failed', 'Failed', '2026-01-06T00:00:00Z'));
    const text = await m.metrics();
    expect(value(text, 'bloodraven_backup_last_success_timestamp_seconds{group="g",profile="p"}')).toBe(Date.parse('2026-01-05T00:00:00Z') / 1000);
    expect(value(text, 'bloodraven_backup_last_attempt_timestamp_seconds{group="g",profile="p"}')).toBe(Date.parse('2026-01-06T00:00:00Z') / 1000);
    expect(value(text, 'bloodraven_backup_last_size_bytes{group="g",profile="p"}')).toBe(500);
  });

  it('labels by namespace in Kubernetes mode, and a seeded backup sets gauges without counting a run', async () => {
    const m = new BackupMetrics(undefined, { namespaced: true });
    m.seed({ ...backup('old', 'Succeeded', '2026-01-01T00:00:00Z', 300), namespace: 'orders' });
    expect(m.observe({ ...backup('old', 'Succeeded', '2026-01-01T00:00:00Z', 300), namespace: 'orders' })).toBe(false);
    expect(m.observe({ ...backup('new', 'Failed', '2026-01-02T00:00:00Z'), namespace: 'orders' })).toBe(true);
    const text = await m.metrics();
    const labels = 'namespace="orders",group="g",profile="p"';
    expect(value(text, `bloodraven_backup_runs_total{${labels},result="success"}`)).toBeUndefined();
    expect(value(text, `bloodraven_backup_runs_total{${labels},result="failure"}`)).toBe(1);
    expect(value(text, `bloodraven_backup_duration_seconds_count{${labels}}`)).toBe(1);
    expect(value(text, `bloodraven_backup_last_success_timestamp_seconds{${labels}}`)).toBe(Date.parse('2026-01-01T00:00:00Z') / 1000);
    expect(value(text, `bloodraven_backup_last_size_bytes{${labels}}`)).toBe(300);
  });

  it('starts from seeded counts and does not count again what was counted before', async () => {
    const m = new BackupMetrics();
    m.seedRuns({ group: 'g', profile: 'p' }, { success: 5, failure: 2 });
    m.observe(backup('old', 'Succeeded', '2026-01-01T00:00:00Z'), { countRun: false });
    m.observe(backup('new', 'Succeeded', '2026-01-02T00:00:00Z'));
    const text = await m.metrics();
    expect(value(text, 'bloodraven_backup_runs_total{group="g",profile="p",result="success"}')).toBe(6);
    expect(value(text, 'bloodraven_backup_runs_total{group="g",profile="p",result="failure"}')).toBe(2);
  });
});

describe('the tally', () => {
  it('keeps pruned backups counted in the totals', () => {
    const t = { ...emptyTally(), counted: { a: 'success', b: 'failure', c: 'success' } as const };
    const folded = foldGone({ ...t, counted: { ...t.counted } }, new Set(['c']));
    expect(folded.counted).toEqual({ c: 'success' });
    expect(folded.totals).toEqual({ success: 1, failure: 1 });
    expect(countsOf(folded)).toEqual({ success: 2, failure: 1 });
  });
});
