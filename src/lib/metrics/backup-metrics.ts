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
}

type Labels = 'group' | 'profile';

export class BackupMetrics {
  readonly registry: Registry;
  private readonly runs: Counter<Labels | 'result'>;
  private readonly duration: Histogram<Labels>;
  private readonly lastSuccess: Gauge<Labels>;
  private readonly lastAttempt: Gauge<Labels>;
  private readonly lastSize: Gauge<Labels>;
  private readonly counted = new Set<string>();
  /** Latest timestamps seen per label set, so observations in any order set the right gauges. */
  private readonly latest = new Map<string, { success: number; attempt: number }>();

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.runs = new Counter({ name: 'bloodraven_backup_runs_total', help: 'Terminal backups, by result (success or failure).', labelNames: ['group', 'profile', 'result'], registers: [registry] });
    this.duration = new Histogram({
      name: 'bloodraven_backup_duration_seconds',
      help: 'Wall-clock duration of terminal backups, from start to completion.',
      labelNames: ['group', 'profile'],
      buckets: [10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200],
      registers: [registry],
    });
    this.lastSuccess = new Gauge({ name: 'bloodraven_backup_last_success_timestamp_seconds', help: 'Unix time of the most recent successful backup.', labelNames: ['group', 'profile'], registers: [registry] });
    this.lastAttempt = new Gauge({ name: 'bloodraven_backup_last_attempt_timestamp_seconds', help: 'Unix time of the most recent terminal attempt, any result.', labelNames: ['group', 'profile'], registers: [registry] });
    this.lastSize = new Gauge({ name: 'bloodraven_backup_last_size_bytes', help: 'Stored size in bytes of the last successful backup.', labelNames: ['group', 'profile'], registers: [registry] });
  }

  /**
   * Counts a backup that has ended; does nothing for one still running or already counted.
   * Returns whether it was counted now. With `countRun: false` only the gauges and the histogram
   * take it (its run was counted before, in a tally the counters were seeded from).
   */
  observe(b: TerminalBackup, options: { countRun?: boolean } = {}): boolean {
    if (b.phase !== 'Succeeded' && b.phase !== 'Failed') return false;
    const key = `${b.group}\u0000${b.profile}\u0000${b.name}`;
    if (this.counted.has(key)) return false;
    this.counted.add(key);
    const labels = { group: b.group, profile: b.profile };
    const ok = b.phase === 'Succeeded';
    if (options.countRun ?? true) this.runs.inc({ ...labels, result: ok ? 'success' : 'failure' });
    const started = Date.parse(b.startedAt);
    const ended = b.completedAt ? Date.parse(b.completedAt) : started;
    this.duration.observe(labels, Math.max(0, (ended - started) / 1000));
    const state = this.latest.get(`${b.group}\u0000${b.profile}`) ?? { success: -Infinity, attempt: -Infinity };
    this.latest.set(`${b.group}\u0000${b.profile}`, state);
    if (ended >= state.attempt) {
      state.attempt = ended;
      this.lastAttempt.set(labels, ended / 1000);
    }
    if (ok && ended >= state.success) {
      state.success = ended;
      this.lastSuccess.set(labels, ended / 1000);
      this.lastSize.set(labels, b.sizeBytes);
    }
    return true;
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
