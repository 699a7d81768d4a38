/**
 * What retention deleted, labelled {group, profile} (and namespace in Kubernetes mode):
 *
 *   bloodraven_retention_deleted_backups_total   backups deleted by the retention policy
 *   bloodraven_retention_deleted_bytes_total     the bytes they held (their recorded size; a failed backup's, what its folder held)
 *
 * The standalone daemon counts its prune after each successful backup; Kubernetes mode counts the
 * MysqlBackups its retention deletes (their status.sizeBytes).
 */
import { Counter, type Registry } from 'prom-client';

type Labels = 'namespace' | 'group' | 'profile';

export class RetentionMetrics {
  private readonly backups: Counter<Labels>;
  private readonly bytes: Counter<Labels>;
  private readonly namespaced: boolean;

  constructor(registry: Registry, options: { namespaced?: boolean } = {}) {
    this.namespaced = options.namespaced ?? false;
    const labelNames: Labels[] = this.namespaced ? ['namespace', 'group', 'profile'] : ['group', 'profile'];
    this.backups = new Counter({ name: 'bloodraven_retention_deleted_backups_total', help: 'Backups deleted by the retention policy.', labelNames, registers: [registry] });
    this.bytes = new Counter({ name: 'bloodraven_retention_deleted_bytes_total', help: 'Bytes the backups deleted by the retention policy held.', labelNames, registers: [registry] });
  }

  /**
   * Counts deleted backups. With none deleted the series are still created (at 0), so that
   * `increase()` sees the first deletion.
   */
  observe(labels: { namespace?: string; group: string; profile: string }, deleted: ReadonlyArray<{ bytes: number }>): void {
    const l = this.namespaced ? { namespace: labels.namespace ?? '', group: labels.group, profile: labels.profile } : { group: labels.group, profile: labels.profile };
    this.backups.inc(l, deleted.length);
    this.bytes.inc(l, deleted.reduce((sum, d) => sum + d.bytes, 0));
  }
}
