/**
 * The restorable window's shape as metrics, labelled by the archive's profile ({group, profile},
 * and namespace in Kubernetes):
 *
 *   bloodraven_pitr_window_gaps                          gaps in the restorable window (0: one continuous span)
 *   bloodraven_pitr_window_start_timestamp_seconds       the earliest restorable time
 *   bloodraven_pitr_window_end_timestamp_seconds         the latest restorable time
 *
 * Set from a window computed from storage (pitr/window.ts), which is read at most every few
 * minutes, and after each backup or archived file: the computation reads the whole catalog and
 * every manifest.
 */
import { Gauge, type Registry } from 'prom-client';
import type { PitrWindow } from '../pitr/window.js';
import type { ArchiverLabels } from './archiver-metrics.js';

type Labels = 'namespace' | 'group' | 'profile';

export class PitrWindowMetrics {
  private readonly gaps: Gauge<Labels>;
  private readonly start: Gauge<Labels>;
  private readonly end: Gauge<Labels>;
  private readonly namespaced: boolean;

  constructor(registry: Registry, options: { namespaced?: boolean } = {}) {
    this.namespaced = options.namespaced ?? false;
    const labelNames: Labels[] = this.namespaced ? ['namespace', 'group', 'profile'] : ['group', 'profile'];
    this.gaps = new Gauge({ name: 'bloodraven_pitr_window_gaps', help: 'Gaps in the restorable window: spans between its earliest and latest time (or after it) that no backup and archive cover.', labelNames, registers: [registry] });
    this.start = new Gauge({ name: 'bloodraven_pitr_window_start_timestamp_seconds', help: 'Unix time of the earliest restorable time.', labelNames, registers: [registry] });
    this.end = new Gauge({ name: 'bloodraven_pitr_window_end_timestamp_seconds', help: 'Unix time of the latest restorable time.', labelNames, registers: [registry] });
  }

  /** Sets the three gauges from `window`; the start and end are removed while nothing is restorable. */
  set(labels: ArchiverLabels, window: Pick<PitrWindow, 'from' | 'to' | 'gaps'>): void {
    const l = this.namespaced ? { namespace: labels.namespace ?? '', group: labels.group, profile: labels.profile } : { group: labels.group, profile: labels.profile };
    this.gaps.set(l, window.gaps.length);
    if (window.from !== null) this.start.set(l, Date.parse(window.from) / 1000);
    else this.start.remove(l);
    if (window.to !== null) this.end.set(l, Date.parse(window.to) / 1000);
    else this.end.remove(l);
  }
}
