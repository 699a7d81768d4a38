/**
 * The binlog archiver's metrics, read from its status at each scrape, labelled like every other
 * series: {group, profile} in the standalone daemon, {namespace, group, profile} in the Kubernetes
 * sidecar (the profile is the archive's, `backup.pitr.profileName`):
 *
 *   bloodraven_pitr_archiver_archived_files_total                   binlogs archived since the process started
 *   bloodraven_pitr_archiver_archived_bytes_total                   bytes stored for them
 *   bloodraven_pitr_archiver_last_archived_event_timestamp_seconds  the newest event in the site's archive (absent while it holds none)
 *   bloodraven_pitr_archiver_errors_total                           scans that failed
 *   bloodraven_pitr_archiver_lag_seconds                            seconds since the archive last held every sealed binlog
 *   bloodraven_pitr_archiver_primary                                1 while its server is a writable primary, 0 when read-only (absent before the first scan)
 *   bloodraven_pitr_archiver_last_scan_timestamp_seconds            the last scan, successful or not
 *   bloodraven_pitr_archiver_files_pruned_total                     binlogs pruned by the cluster's cutoff (sidecar only)
 *   bloodraven_pitr_archiver_info{site}                             always 1
 *
 * The lag is what puts the RPO at risk: a successful scan archives every sealed binlog, so the lag
 * stays under the poll interval while all is well, and grows while scans fail or take long. Before
 * the first successful scan it counts from the process's start, so an archiver that never
 * succeeds is seen too.
 */
import { scopeLabelNames, scopeLabels, type Scope, type ScopeLabel } from './scope-labels.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ArchiverStatus } from '../pitr/archiver.js';
import type { Clock } from '../clock.js';

/** The labels of the archiver's series; null while they are not known yet (no series then). */
export type ArchiverLabels = Scope;

export interface ArchiverMetricsSource {
  status: () => ArchiverStatus & { prune?: { filesPruned: number } };
  labels: (status: ArchiverStatus) => ArchiverLabels | null;
  clock: Clock;
  /** When the archiver started (the lag's floor before the first successful scan). */
  startedAt: Date;
  /** Label by namespace too (Kubernetes). */
  namespaced?: boolean;
}


/** Registers the archiver's series on `registry`; their values are computed when scraped. */
export function registerArchiverMetrics(registry: Registry, source: ArchiverMetricsSource): void {
  const namespaced = source.namespaced ?? false;
  const labelNames = scopeLabelNames(namespaced);
  const labelsNow = (s: ArchiverStatus): Partial<Record<ScopeLabel, string>> | null => {
    const l = source.labels(s);
    return l ? scopeLabels(namespaced, l) : null;
  };
  const series = (kind: 'counter' | 'gauge', name: string, help: string, value: (s: ReturnType<ArchiverMetricsSource['status']>) => number | null): void => {
    const Metric = kind === 'counter' ? Counter : Gauge;
    new Metric({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Counter<ScopeLabel> | Gauge<ScopeLabel>) {
        this.reset();
        const s = source.status();
        const labels = labelsNow(s);
        const v = value(s);
        if (!labels || v === null) return;
        if (this instanceof Gauge) this.set(labels, v);
        else this.inc(labels, v);
      },
    });
  };
  const seconds = (at: string | null): number | null => (at === null ? null : Date.parse(at) / 1000);
  series('counter', 'bloodraven_pitr_archiver_archived_files_total', 'Binlogs archived since the process started.', (s) => s.filesArchived);
  series('counter', 'bloodraven_pitr_archiver_archived_bytes_total', 'Bytes stored for the binlogs archived since the process started.', (s) => s.bytesArchived);
  series('gauge', 'bloodraven_pitr_archiver_last_archived_event_timestamp_seconds', "Unix time of the newest event in the site's archive.", (s) => seconds(s.lastArchivedEventTime));
  series('counter', 'bloodraven_pitr_archiver_errors_total', 'Archive scans that failed since the process started.', (s) => s.failedScans);
  series('gauge', 'bloodraven_pitr_archiver_lag_seconds', 'Seconds since the archive last held every sealed binlog (the start of the last successful scan, or of the process before one).', (s) =>
    Math.max(0, (source.clock.now().getTime() - Date.parse(s.caughtUpAt ?? source.startedAt.toISOString())) / 1000),
  );
  series('gauge', 'bloodraven_pitr_archiver_primary', 'Whether the server is a writable primary (1), so its binlogs are archived, or read-only (0).', (s) => (s.primary === null ? null : s.primary ? 1 : 0));
  series('gauge', 'bloodraven_pitr_archiver_last_scan_timestamp_seconds', 'Unix time of the last scan, successful or not.', (s) => seconds(s.lastScanAt));
  series('counter', 'bloodraven_pitr_archiver_files_pruned_total', "Binlogs pruned by the cluster's cutoff since the process started.", (s) => s.prune?.filesPruned ?? null);
  new Gauge({
    name: 'bloodraven_pitr_archiver_info',
    help: 'The site the archiver archives under (always 1).',
    labelNames: [...labelNames, 'site'],
    registers: [registry],
    collect() {
      this.reset();
      const s = source.status();
      const labels = labelsNow(s);
      if (labels) this.set({ ...labels, site: s.site ?? '' }, 1);
    },
  });
}
