/**
 * The restore metrics, labelled {group, profile} (and namespace in Kubernetes mode):
 *
 *   bloodraven_restore_runs_total{result}       restores that ended, success or failure
 *   bloodraven_restore_duration_seconds         histogram of their durations
 *
 * Kubernetes mode counts the restore Jobs it sees end (initFromBackup and restoreInPlace); a
 * restore run from the command line counts itself and pushes to a Pushgateway (`--pushgateway`).
 * Each restore is counted once, by name.
 */
import { scopeLabelNames, scopeLabels, type ScopeLabel } from './scope-labels.js';
import { Counter, Histogram, Pushgateway, Registry } from 'prom-client';
import { durationBuckets } from './backup-metrics.js';

export interface EndedRestore {
  /** A name unique to the run (a restore Job's name, or the target and start time). */
  name: string;
  group: string;
  profile: string;
  namespace?: string;
  succeeded: boolean;
  /** RFC 3339; null when the start is unknown (no duration is observed then). */
  startedAt: string | null;
  completedAt: string;
}


export class RestoreMetrics {
  readonly registry: Registry;
  private readonly runs: Counter<ScopeLabel | 'result'>;
  private readonly duration: Histogram<ScopeLabel>;
  private readonly counted = new Set<string>();
  private readonly namespaced: boolean;

  constructor(registry: Registry = new Registry(), options: { namespaced?: boolean } = {}) {
    this.registry = registry;
    this.namespaced = options.namespaced ?? false;
    const labelNames = scopeLabelNames(this.namespaced);
    this.runs = new Counter({ name: 'bloodraven_restore_runs_total', help: 'Restores that ended, by result (success or failure).', labelNames: [...labelNames, 'result'], registers: [registry] });
    this.duration = new Histogram({ name: 'bloodraven_restore_duration_seconds', help: 'Wall-clock duration of restores that ended, from start to completion.', labelNames, buckets: durationBuckets, registers: [registry] });
  }

  /** Counts a restore that ended; returns false (and does nothing) when it was counted before. */
  observe(run: EndedRestore): boolean {
    const key = `${run.namespace ?? ''}\u0000${run.group}\u0000${run.profile}\u0000${run.name}`;
    if (this.counted.has(key)) return false;
    this.counted.add(key);
    const labels = scopeLabels(this.namespaced, run);
    this.runs.inc({ ...labels, result: run.succeeded ? 'success' : 'failure' });
    const started = run.startedAt === null ? NaN : Date.parse(run.startedAt);
    if (Number.isFinite(started)) this.duration.observe(labels, Math.max(0, (Date.parse(run.completedAt) - started) / 1000));
    return true;
  }

  /** Pushes to a Prometheus Pushgateway (a restore run from the command line). */
  async push(url: string, grouping: { group: string; profile: string }): Promise<void> {
    await new Pushgateway(url, { timeout: 10_000 }, this.registry).pushAdd({ jobName: 'bloodraven_restore', groupings: grouping });
  }
}
