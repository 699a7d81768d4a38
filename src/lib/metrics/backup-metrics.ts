/**
 * The backup metrics of the reference, labelled {group, profile}:
 *
 *   bloodraven_backup_runs_total{result}                  terminal backups, success or failure
 *   bloodraven_backup_duration_seconds                    histogram of their durations
 *   bloodraven_backup_last_success_timestamp_seconds
 *   bloodraven_backup_last_attempt_timestamp_seconds      the latest terminal attempt, any result
 *   bloodraven_backup_last_size_bytes                     size of the latest successful backup
 *
 * Each terminal backup is counted exactly once: by name, whether it is seen finishing or found
 * in the catalog when the daemon starts (a restart seeds from the catalog instead of re-counting).
 */
import { scopeLabelNames, scopeLabels, type ScopeLabel } from './scope-labels.js';
import { Counter, Gauge, Histogram, Pushgateway, Registry } from 'prom-client';
import type { BackupPhase } from '../catalog/record.js';

export interface TerminalBackup {
  name: string;
  group: string;
  profile: string;
  phase: BackupPhase;
  startedAt: string;
  completedAt: string | null;
  sizeBytes: number;
  /** The Kubernetes namespace of the group (Kubernetes mode labels by it too). */
  namespace?: string;
}


/** Histogram buckets for backup and restore durations, in seconds (1 s to 12 h). */
export const durationBuckets = [1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200];

export interface BackupMetricsOptions {
  /** Label every series with `namespace` too, as Kubernetes mode does ({namespace, group, profile}). */
  namespaced?: boolean;
}

export class BackupMetrics {
  readonly registry: Registry;
  private readonly runs: Counter<ScopeLabel | 'result'>;
  private readonly duration: Histogram<ScopeLabel>;
  private readonly lastSuccess: Gauge<ScopeLabel>;
  private readonly lastAttempt: Gauge<ScopeLabel>;
  private readonly lastSize: Gauge<ScopeLabel>;
  private readonly counted = new Set<string>();
  /** Latest timestamps seen per label set, so observations in any order set the right gauges. */
  private readonly latest = new Map<string, { success: number; attempt: number }>();

  private readonly namespaced: boolean;

  constructor(registry: Registry = new Registry(), options: BackupMetricsOptions = {}) {
    this.registry = registry;
    this.namespaced = options.namespaced ?? false;
    const labelNames = scopeLabelNames(this.namespaced);
    this.runs = new Counter({ name: 'bloodraven_backup_runs_total', help: 'Terminal backups, by result (success or failure).', labelNames: [...labelNames, 'result'], registers: [registry] });
    this.duration = new Histogram({
      name: 'bloodraven_backup_duration_seconds',
      help: 'Wall-clock duration of terminal backups, from start to completion.',
      labelNames,
      buckets: durationBuckets,
      registers: [registry],
    });
    this.lastSuccess = new Gauge({ name: 'bloodraven_backup_last_success_timestamp_seconds', help: 'Unix time of the most recent successful backup.', labelNames, registers: [registry] });
    this.lastAttempt = new Gauge({ name: 'bloodraven_backup_last_attempt_timestamp_seconds', help: 'Unix time of the most recent terminal attempt, any result.', labelNames, registers: [registry] });
    this.lastSize = new Gauge({ name: 'bloodraven_backup_last_size_bytes', help: 'Stored size in bytes of the last successful backup.', labelNames, registers: [registry] });
  }

  /**
   * Counts a backup that has ended; does nothing for one still running or already counted.
   * Returns whether it was counted now. With `countRun: false` only the gauges take it (its run
   * was counted before, in a tally the counters were seeded from; its duration was observed then).
   */
  observe(b: TerminalBackup, options: { countRun?: boolean } = {}): boolean {
    if (b.phase !== 'Succeeded' && b.phase !== 'Failed') return false;
    const key = `${b.namespace ?? ''}\u0000${b.group}\u0000${b.profile}\u0000${b.name}`;
    if (this.counted.has(key)) return false;
    this.counted.add(key);
    const labels = scopeLabels(this.namespaced, b);
    const ok = b.phase === 'Succeeded';
    // The histogram takes only runs counted now: one rebuilt from the catalog at a restart would
    // hold fewer observations than before (pruned backups are gone), which Prometheus would read
    // as a reset followed by an increase. Starting empty is a plain reset.
    if (options.countRun ?? true) {
      this.runs.inc({ ...labels, result: ok ? 'success' : 'failure' });
      const started = Date.parse(b.startedAt);
      const ended = b.completedAt ? Date.parse(b.completedAt) : started;
      this.duration.observe(labels, Math.max(0, (ended - started) / 1000));
    }
    this.setGauges(b);
    return true;
  }

  /** Moves the last-attempt, last-success and size gauges to `b` when it is the latest seen. */
  private setGauges(b: TerminalBackup): void {
    const labels = scopeLabels(this.namespaced, b);
    const started = Date.parse(b.startedAt);
    const ended = b.completedAt ? Date.parse(b.completedAt) : started;
    const series = `${b.namespace ?? ''}\u0000${b.group}\u0000${b.profile}`;
    const state = this.latest.get(series) ?? { success: -Infinity, attempt: -Infinity };
    this.latest.set(series, state);
    if (ended >= state.attempt) {
      state.attempt = ended;
      this.lastAttempt.set(labels, ended / 1000);
    }
    if (b.phase === 'Succeeded' && ended >= state.success) {
      state.success = ended;
      this.lastSuccess.set(labels, ended / 1000);
      this.lastSize.set(labels, b.sizeBytes);
    }
  }

  /**
   * Takes a terminal backup this process did not see finish (it was there at start, or another
   * replica finished it): it sets the gauges if it is the latest, but counts no run and observes
   * no duration, so that restarts and leader changes never count a backup twice.
   */
  seed(b: TerminalBackup): void {
    if (b.phase !== 'Succeeded' && b.phase !== 'Failed') return;
    const key = `${b.namespace ?? ''}\u0000${b.group}\u0000${b.profile}\u0000${b.name}`;
    if (this.counted.has(key)) return;
    this.counted.add(key);
    this.setGauges(b);
  }


  /** Starts the run counters at counts made before (by an earlier daemon, from its tally). */
  seedRuns(labels: { group: string; profile: string }, counts: Record<'success' | 'failure', number>): void {
    if (counts.success > 0) this.runs.inc({ ...labels, result: 'success' }, counts.success);
    if (counts.failure > 0) this.runs.inc({ ...labels, result: 'failure' }, counts.failure);
  }

  /** Pushes the metrics to a Prometheus Pushgateway (for CI runs of `backup now`). */
  async push(url: string, grouping: { group: string; profile: string }): Promise<void> {
    await new Pushgateway(url, { timeout: 10_000 }, this.registry).pushAdd({ jobName: 'bloodraven', groupings: grouping });
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
