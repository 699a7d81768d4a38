/**
 * What retention deleted, labelled {group, profile} (and namespace in Kubernetes mode):
 *
 *   bloodraven_retention_deleted_backups_total   backups deleted by the retention policy
 *   bloodraven_retention_deleted_bytes_total     the bytes they held (their recorded size; a failed backup's, what its folder held)
 *
 * The standalone daemon counts its prune after each successful backup; Kubernetes mode counts the
 * MysqlBackups its retention deletes (their status.sizeBytes).
 */
import { scopeLabelNames, scopeLabels, type ScopeLabel } from './scope-labels.js';
import { Counter, type Registry } from 'prom-client';


export class RetentionMetrics {
  private readonly backups: Counter<ScopeLabel>;
  private readonly bytes: Counter<ScopeLabel>;
  private readonly namespaced: boolean;

  constructor(registry: Registry, options: { namespaced?: boolean } = {}) {
    this.namespaced = options.namespaced ?? false;
    const labelNames = scopeLabelNames(this.namespaced);
    this.backups = new Counter({ name: 'bloodraven_retention_deleted_backups_total', help: 'Backups deleted by the retention policy.', labelNames, registers: [registry] });
    this.bytes = new Counter({ name: 'bloodraven_retention_deleted_bytes_total', help: 'Bytes the backups deleted by the retention policy held.', labelNames, registers: [registry] });
  }

  /**
   * Counts deleted backups. With none deleted the series are still created (at 0), so that
   * `increase()` sees the first deletion.
   */
  observe(labels: { namespace?: string; group: string; profile: string }, deleted: ReadonlyArray<{ bytes: number }>): void {
    const l = scopeLabels(this.namespaced, labels);
    this.backups.inc(l, deleted.length);
    this.bytes.inc(l, deleted.reduce((sum, d) => sum + d.bytes, 0));
  }
}
