/**
 * The verification metrics, labelled {group, profile} (and namespace in Kubernetes mode), on the
 * same registry as the backup metrics:
 *
 *   bloodraven_verification_runs_total{result}                 verification runs that ended, passed or failed
 *   bloodraven_verification_last_success_timestamp_seconds     when the latest passing run ended
 *   bloodraven_verification_last_failure_timestamp_seconds     when the latest failing run ended
 *   bloodraven_verification_restore_seconds                    the scratch restore's duration (the measured RTO) of the latest passing run
 *
 * Like the backup metrics, each run is counted once, by name: a run seen again (a re-reconcile, a
 * restart that reads it back) only moves the gauges when it is the newest.
 */
import { scopeLabelNames, scopeLabels, type ScopeLabel } from './scope-labels.js';
import { Counter, Gauge, type Registry } from 'prom-client';

export interface EndedVerification {
  /** The run's name: a MysqlBackupVerification, or the standalone daemon's run id. */
  name: string;
  group: string;
  profile: string;
  /** The Kubernetes namespace (Kubernetes mode labels by it too). */
  namespace?: string;
  passed: boolean;
  /** When the run ended (RFC 3339). */
  completedAt: string;
  /** Seconds the scratch restore took; undefined when it never got that far. */
  restoreSeconds?: number | undefined;
}


export class VerificationMetrics {
  private readonly runs: Counter<ScopeLabel | 'result'>;
  private readonly lastSuccess: Gauge<ScopeLabel>;
  private readonly lastFailure: Gauge<ScopeLabel>;
  private readonly restoreSeconds: Gauge<ScopeLabel>;
  private readonly counted = new Set<string>();
  private readonly latestSuccess = new Map<string, number>();
  private readonly latestFailure = new Map<string, number>();
  private readonly namespaced: boolean;

  constructor(registry: Registry, options: { namespaced?: boolean } = {}) {
    this.namespaced = options.namespaced ?? false;
    const labelNames = scopeLabelNames(this.namespaced);
    this.runs = new Counter({ name: 'bloodraven_verification_runs_total', help: 'Verification runs that ended, by result (success or failure).', labelNames: [...labelNames, 'result'], registers: [registry] });
    this.lastSuccess = new Gauge({ name: 'bloodraven_verification_last_success_timestamp_seconds', help: 'Unix time the most recent passing verification ended.', labelNames, registers: [registry] });
    this.lastFailure = new Gauge({ name: 'bloodraven_verification_last_failure_timestamp_seconds', help: 'Unix time the most recent failing verification ended.', labelNames, registers: [registry] });
    this.restoreSeconds = new Gauge({
      name: 'bloodraven_verification_restore_seconds',
      help: 'Seconds the scratch restore of the most recent passing verification took (the measured recovery time).',
      labelNames,
      registers: [registry],
    });
  }

  /**
   * Takes a run that ended. `countRun: false` (a run this process did not see end) moves the
   * gauges only. Returns whether the run was new.
   */
  observe(run: EndedVerification, options: { countRun?: boolean } = {}): boolean {
    const key = `${run.namespace ?? ''}\u0000${run.group}\u0000${run.profile}\u0000${run.name}`;
    if (this.counted.has(key)) return false;
    this.counted.add(key);
    const labels = scopeLabels(this.namespaced, run);
    if (options.countRun ?? true) this.runs.inc({ ...labels, result: run.passed ? 'success' : 'failure' });
    const ended = Date.parse(run.completedAt);
    const series = `${run.namespace ?? ''}\u0000${run.group}\u0000${run.profile}`;
    if (!run.passed && Number.isFinite(ended) && ended >= (this.latestFailure.get(series) ?? -Infinity)) {
      this.latestFailure.set(series, ended);
      this.lastFailure.set(labels, ended / 1000);
    }
    if (run.passed) {
      if (Number.isFinite(ended) && ended >= (this.latestSuccess.get(series) ?? -Infinity)) {
        this.latestSuccess.set(series, ended);
        this.lastSuccess.set(labels, ended / 1000);
        if (run.restoreSeconds !== undefined) this.restoreSeconds.set(labels, run.restoreSeconds);
      }
    }
    return true;
  }

}
