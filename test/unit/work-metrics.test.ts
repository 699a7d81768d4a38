/**
 * The metrics of the work other than backups: the archiver's (read from its status at scrape),
 * the restorable window's, restores', retention's, and a verification's last failure.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { registerArchiverMetrics } from '../../src/lib/metrics/archiver-metrics.js';
import { PitrWindowMetrics } from '../../src/lib/metrics/pitr-window-metrics.js';
import { RestoreMetrics } from '../../src/lib/metrics/restore-metrics.js';
import { RetentionMetrics } from '../../src/lib/metrics/retention-metrics.js';
import { VerificationMetrics } from '../../src/lib/metrics/verification-metrics.js';
import { initialArchiverStatus } from '../../src/lib/pitr/archiver.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('the archiver metrics', () => {
  it('are read from the status at each scrape, and the lag counts from the last caught-up scan', async () => {
    const registry = new Registry();
    const clock = fixedClock(new Date('2026-03-01T10:00:00Z'));
    const status = initialArchiverStatus({ enabled: true, profileName: 'arch', site: 'east' } as never, createFsStore({ root: '/nonexistent' }));
    registerArchiverMetrics(registry, { status: () => status, labels: () => ({ group: 'shop', profile: 'arch' }), clock, startedAt: clock.now() });
    const l = '{group="shop",profile="arch"}';

    // Before any scan: no primary series, no event time; the lag counts from the start.
    clock.advance(30_000);
    let text = await registry.metrics();
    expect(value(text, `bloodraven_pitr_archiver_lag_seconds${l}`)).toBe(30);
    expect(value(text, `bloodraven_pitr_archiver_archived_files_total${l}`)).toBe(0);
    expect(text).not.toMatch(/^bloodraven_pitr_archiver_primary\{/m);
    expect(text).not.toMatch(/^bloodraven_pitr_archiver_last_archived_event_timestamp_seconds\{/m);

    Object.assign(status, { primary: true, filesArchived: 3, bytesArchived: 3000, caughtUpAt: '2026-03-01T10:00:20Z', lastArchivedEventTime: '2026-03-01T09:59:00Z', lastScanAt: '2026-03-01T10:00:25Z', site: 'east' });
    text = await registry.metrics();
    expect(value(text, `bloodraven_pitr_archiver_archived_files_total${l}`)).toBe(3);
    expect(value(text, `bloodraven_pitr_archiver_archived_bytes_total${l}`)).toBe(3000);
    expect(value(text, `bloodraven_pitr_archiver_lag_seconds${l}`)).toBe(10);
    expect(value(text, `bloodraven_pitr_archiver_last_archived_event_timestamp_seconds${l}`)).toBe(Date.parse('2026-03-01T09:59:00Z') / 1000);
    expect(value(text, `bloodraven_pitr_archiver_primary${l}`)).toBe(1);
    expect(value(text, `bloodraven_pitr_archiver_info{group="shop",profile="arch",site="east"}`)).toBe(1);

    // Failing scans: the errors count and the lag keeps growing from the last good scan.
    Object.assign(status, { failedScans: 2, lastError: 'cannot reach the server' });
    clock.advance(600_000);
    text = await registry.metrics();
    expect(value(text, `bloodraven_pitr_archiver_errors_total${l}`)).toBe(2);
    expect(value(text, `bloodraven_pitr_archiver_lag_seconds${l}`)).toBe(610);
  });

  it('label by namespace in Kubernetes, and make no series while the labels are unknown', async () => {
    const registry = new Registry();
    const clock = fixedClock(new Date('2026-03-01T10:00:00Z'));
    const status = initialArchiverStatus(undefined, createFsStore({ root: '/nonexistent' }));
    registerArchiverMetrics(registry, { status: () => status, labels: (s) => (s.hostGroup ? { namespace: 'prod', group: s.hostGroup, profile: 'arch' } : null), clock, startedAt: clock.now(), namespaced: true });
    expect(await registry.metrics()).not.toMatch(/^bloodraven_pitr_archiver_\w+\{/m);
    status.hostGroup = 'orders';
    expect(value(await registry.metrics(), 'bloodraven_pitr_archiver_archived_files_total{namespace="prod",group="orders",profile="arch"}')).toBe(0);
  });
});

describe('the window metrics', () => {
  it('count the gaps the archive has moved past, give the ends, and remove the ends while nothing is restorable', async () => {
    const registry = new Registry();
    const m = new PitrWindowMetrics(registry);
    const labels = { group: 'shop', profile: 'arch' };
    const window = {
      from: '2026-03-01T00:00:00Z',
      to: '2026-03-02T00:00:00Z',
      gaps: [
        { from: '2026-03-01T06:00:00Z', to: '2026-03-01T07:00:00Z', reason: 'a binlog never archived' },
        // Up to the newest backup: its transactions are in the binlog the server still writes.
        { from: '2026-03-01T20:00:00Z', to: '2026-03-02T00:00:00Z', reason: 'backup b holds them' },
      ],
    };
    const gaps = async (): Promise<number | undefined> => value(await registry.metrics(), 'bloodraven_pitr_window_gaps{group="shop",profile="arch"}');
    m.set(labels, window, '2026-03-01T20:00:00Z');
    expect(await gaps()).toBe(1);
    let text = await registry.metrics();
    expect(value(text, 'bloodraven_pitr_window_start_timestamp_seconds{group="shop",profile="arch"}')).toBe(Date.parse('2026-03-01T00:00:00Z') / 1000);
    expect(value(text, 'bloodraven_pitr_window_end_timestamp_seconds{group="shop",profile="arch"}')).toBe(Date.parse('2026-03-02T00:00:00Z') / 1000);
    // Once the archive holds an event after the newest backup and the gap is still there, it counts.
    m.set(labels, window, '2026-03-02T00:05:00Z');
    expect(await gaps()).toBe(2);
    // A gap with no end (the archive goes on past a hole) counts at once.
    m.set(labels, { ...window, gaps: [{ from: '2026-03-01T06:00:00Z', to: null, reason: 'a hole' }] }, '2026-03-01T06:00:00Z');
    expect(await gaps()).toBe(1);
    m.set(labels, { from: null, to: null, gaps: [] }, null);
    text = await registry.metrics();
    expect(value(text, 'bloodraven_pitr_window_gaps{group="shop",profile="arch"}')).toBe(0);
    expect(text).not.toMatch(/^bloodraven_pitr_window_end_timestamp_seconds\{/m);
  });
});

describe('the restore metrics', () => {
  it('count each restore once by name, with its duration', async () => {
    const m = new RestoreMetrics(new Registry(), { namespaced: true });
    const run = { name: 'job-1', namespace: 'prod', group: 'orders', profile: 'nightly', succeeded: true, startedAt: '2026-03-01T10:00:00Z', completedAt: '2026-03-01T10:05:00Z' };
    expect(m.observe(run)).toBe(true);
    expect(m.observe(run)).toBe(false);
    expect(m.observe({ ...run, name: 'job-2', succeeded: false, startedAt: null })).toBe(true);
    const text = await m.registry.metrics();
    const l = 'namespace="prod",group="orders",profile="nightly"';
    expect(value(text, `bloodraven_restore_runs_total{${l},result="success"}`)).toBe(1);
    expect(value(text, `bloodraven_restore_runs_total{${l},result="failure"}`)).toBe(1);
    // The failed run had no known start: no duration observed for it.
    expect(value(text, `bloodraven_restore_duration_seconds_count{${l}}`)).toBe(1);
    expect(value(text, `bloodraven_restore_duration_seconds_sum{${l}}`)).toBe(300);
  });
});

describe('the retention metrics', () => {
  it('add up the deleted backups and their bytes, from 0', async () => {
    const registry = new Registry();
    const m = new RetentionMetrics(registry);
    const labels = { group: 'shop', profile: 'hourly' };
    m.observe(labels, []);
    expect(value(await registry.metrics(), 'bloodraven_retention_deleted_backups_total{group="shop",profile="hourly"}')).toBe(0);
    m.observe(labels, [{ bytes: 100 }, { bytes: 250 }]);
    m.observe(labels, [{ bytes: 50 }]);
    const text = await registry.metrics();
    expect(value(text, 'bloodraven_retention_deleted_backups_total{group="shop",profile="hourly"}')).toBe(3);
    expect(value(text, 'bloodraven_retention_deleted_bytes_total{group="shop",profile="hourly"}')).toBe(400);
  });
});

describe('the verification metrics', () => {
  it('keep the latest failure and the latest success apart', async () => {
    const registry = new Registry();
    const m = new VerificationMetrics(registry);
    const base = { group: 'shop', profile: 'hourly' };
    m.observe({ ...base, name: 'a', passed: false, completedAt: '2026-03-01T00:00:00Z' });
    m.observe({ ...base, name: 'b', passed: true, completedAt: '2026-03-02T00:00:00Z', restoreSeconds: 42 });
    m.observe({ ...base, name: 'c', passed: false, completedAt: '2026-02-01T00:00:00Z' });
    const text = await registry.metrics();
    expect(value(text, 'bloodraven_verification_last_failure_timestamp_seconds{group="shop",profile="hourly"}')).toBe(Date.parse('2026-03-01T00:00:00Z') / 1000);
    expect(value(text, 'bloodraven_verification_last_success_timestamp_seconds{group="shop",profile="hourly"}')).toBe(Date.parse('2026-03-02T00:00:00Z') / 1000);
    expect(value(text, 'bloodraven_verification_restore_seconds{group="shop",profile="hourly"}')).toBe(42);
    expect(value(text, 'bloodraven_verification_runs_total{group="shop",profile="hourly",result="failure"}')).toBe(2);
  });
});
