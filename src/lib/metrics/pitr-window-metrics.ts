/**
 * The restorable window's shape as metrics, labelled by the archive's profile ({group, profile},
 * and namespace in Kubernetes):
 *
 *   bloodraven_pitr_window_gaps                          gaps in the restorable window the archive has moved past (0: none)
 *   bloodraven_pitr_window_start_timestamp_seconds       the earliest restorable time
 *   bloodraven_pitr_window_end_timestamp_seconds         the latest restorable time
 *
 * Set from a window computed from storage (pitr/window.ts), which is read at most every few
 * minutes, and after each backup, prune or archived file: the computation reads the whole catalog
 * and every manifest.
 *
 * A gap counts once the archive holds an event after it. A new backup holds transactions still in
 * the binlog the server is writing, so until that file is sealed and archived the window shows a
 * gap up to the backup; on a quiet server that can last days, and it closes by itself. A gap the
 * archive has moved past (a binlog lost or never archived) stays, and so does one with no end (the
 * archive goes on past a hole no backup bridges).
 */
import { scopeLabelNames, scopeLabels, type ScopeLabel } from './scope-labels.js';
import { Gauge, type Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { windowWithArchiveEnd } from '../pitr/point-in-time.js';
import type { PitrWindow } from '../pitr/window.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ArchiverLabels } from './archiver-metrics.js';


export class PitrWindowMetrics {
  private readonly gaps: Gauge<ScopeLabel>;
  private readonly start: Gauge<ScopeLabel>;
  private readonly end: Gauge<ScopeLabel>;
  private readonly namespaced: boolean;

  constructor(registry: Registry, options: { namespaced?: boolean } = {}) {
    this.namespaced = options.namespaced ?? false;
    const labelNames = scopeLabelNames(this.namespaced);
    this.gaps = new Gauge({ name: 'bloodraven_pitr_window_gaps', help: 'Gaps in the restorable window: spans between its earliest and latest time (or after it) that no backup and archive cover.', labelNames, registers: [registry] });
    this.start = new Gauge({ name: 'bloodraven_pitr_window_start_timestamp_seconds', help: 'Unix time of the earliest restorable time.', labelNames, registers: [registry] });
    this.end = new Gauge({ name: 'bloodraven_pitr_window_end_timestamp_seconds', help: 'Unix time of the latest restorable time.', labelNames, registers: [registry] });
  }

  /**
   * Sets the three gauges from `window`; the start and end are removed while nothing is
   * restorable. `archivedUntil` is the newest event in the archive (RFC 3339), null when it holds none.
   */
  set(labels: ArchiverLabels, window: Pick<PitrWindow, 'from' | 'to' | 'gaps'>, archivedUntil: string | null): void {
    const l = scopeLabels(this.namespaced, labels);
    const until = archivedUntil === null ? -Infinity : Date.parse(archivedUntil);
    this.gaps.set(l, window.gaps.filter((g) => g.to === null || until > Date.parse(g.to)).length);
    if (window.from !== null) this.start.set(l, Date.parse(window.from) / 1000);
    else this.start.remove(l);
    if (window.to !== null) this.end.set(l, Date.parse(window.to) / 1000);
    else this.end.remove(l);
  }
}


/** How often the window is read from storage when nothing else moved it. */
const windowRefreshMs = 5 * 60_000;

export interface WindowRefresher {
  /** Reads the window now (after a backup or a prune); a failure is logged and the old values stay. */
  refresh(signal: AbortSignal): Promise<void>;
  /** After an archive scan: reads it when a file was archived since the last reading, or every few minutes. */
  afterScan(filesArchived: number, signal: AbortSignal): Promise<void>;
}

/** Keeps `metrics` in step with the archive in `store`; no series while `labels()` is null. */
export function windowRefresher(o: { metrics: PitrWindowMetrics; store: ObjectStore; clock: Clock; logger: Logger; labels: () => ArchiverLabels | null }): WindowRefresher {
  let readAt = -Infinity;
  let filesAtLastReading = -1;
  const refresh = async (signal: AbortSignal): Promise<void> => {
    const labels = o.labels();
    if (labels === null) return;
    readAt = o.clock.now().getTime();
    try {
      const { window, archivedUntil } = await windowWithArchiveEnd(o.store, { now: o.clock.now(), signal });
      o.metrics.set(labels, window, archivedUntil);
    } catch (err) {
      if (!signal.aborted) o.logger.warn('cannot read the point-in-time window for its metrics', { profile: labels.profile, reason: errorMessage(err) });
    }
  };
  return {
    refresh,
    afterScan: async (filesArchived, signal) => {
      if (filesArchived === filesAtLastReading && o.clock.now().getTime() - readAt < windowRefreshMs) return;
      filesAtLastReading = filesArchived;
      await refresh(signal);
    },
  };
}
