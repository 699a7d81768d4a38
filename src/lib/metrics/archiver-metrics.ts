/**
 * The sidecar archiver's metrics, read from its status at each scrape (no labels: one archiver
 * per process, its site in `bloodraven_pitr_archiver_info`):
 *
 *   bloodraven_pitr_archiver_primary                       1 while its server is a writable primary, 0 when read-only (absent before the first scan)
 *   bloodraven_pitr_archiver_files_archived                binlogs archived since the process started
 *   bloodraven_pitr_archiver_files_pruned                  binlogs pruned by the cluster's cutoff since the process started
 *   bloodraven_pitr_archiver_last_scan_timestamp_seconds   the last scan, successful or not
 *   bloodraven_pitr_archiver_failing                       1 while the last scan failed
 *   bloodraven_pitr_archiver_info{site}                    always 1
 */
import { Gauge, Registry } from 'prom-client';
import type { SidecarStatus } from '../pitr/sidecar.js';

/** A registry whose series are computed from `status()` when scraped. */
export function archiverMetrics(status: () => SidecarStatus): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, value: (s: SidecarStatus) => number | null, labelNames: string[] = [], labels: (s: SidecarStatus) => Record<string, string> = () => ({})): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        const s = status();
        const v = value(s);
        if (v !== null) this.set(labels(s), v);
      },
    });
  };
  gauge('bloodraven_pitr_archiver_primary', 'Whether the server is a writable primary (1), so its binlogs are archived, or read-only (0).', (s) => (s.primary === null ? null : s.primary ? 1 : 0));
  gauge('bloodraven_pitr_archiver_files_archived', 'Binlogs archived since the process started.', (s) => s.filesArchived);
  gauge('bloodraven_pitr_archiver_files_pruned', "Binlogs pruned by the cluster's cutoff since the process started.", (s) => s.prune.filesPruned);
  gauge('bloodraven_pitr_archiver_last_scan_timestamp_seconds', 'Unix time of the last scan, successful or not.', (s) => (s.lastScanAt ? Date.parse(s.lastScanAt) / 1000 : null));
  gauge('bloodraven_pitr_archiver_failing', 'Whether the last scan failed (1) or not (0).', (s) => (s.lastError === null ? 0 : 1));
  gauge('bloodraven_pitr_archiver_info', 'The site the archiver archives under.', () => 1, ['site'], (s) => ({ site: s.site ?? '' }));
  return registry;
}
