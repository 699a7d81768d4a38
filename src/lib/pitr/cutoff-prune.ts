/**
 * Pruning one site's binlog archive by the cluster's cutoff (what a sidecar archiver does).
 *
 * The daemon's cutoff is the oldest completionTime among the retained MysqlBackups; but a backup's
 * snapshot is taken before it completes, so a binlog whose last event is before the cutoff may
 * still hold transactions the oldest retained backup lacks. So the cutoff alone never deletes a
 * file: a file goes only when `prune`'s own rule (planBinlogPrune: every transaction it holds is
 * in the oldest restorable backup in storage, and its last event is before that backup's
 * snapshot) lets it go too, and its last event is before the cutoff. In the cluster the storage
 * holds the retained backups (the others' cleanup Jobs remove them), so both agree; where they
 * differ (a cleanup not done yet, a backup made outside the cluster), the file stays.
 */
import { listBackups } from '../catalog/catalog.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { deleteBinlogs, planBinlogPrune, type BinlogPruneDecision } from '../retention/prune.js';
import type { CatalogEntry } from '../catalog/catalog.js';
import { readSiteManifest, type SiteManifest } from './manifest.js';

/**
 * The files of `manifest` to delete for `cutoff` (pure): those planBinlogPrune lets go with every
 * backup in `catalog` counted as kept, whose last event (or upload time, for a file without
 * events) is before `cutoff`. None when `cutoff` is null.
 */
export function planCutoffPrune(catalog: readonly CatalogEntry[], manifest: SiteManifest, cutoff: Date | null): BinlogPruneDecision[] {
  if (cutoff === null) return [];
  const at = cutoff.toISOString();
  const byFile = new Map(manifest.entries.map((e) => [e.file, e]));
  return planBinlogPrune(catalog, [manifest])
    .filter((d) => {
      const entry = byFile.get(d.file);
      return entry !== undefined && (entry.lastEventTime ?? entry.uploadedAt) < at;
    })
    .map((d) => ({ ...d, reason: `${d.reason}, and before the cluster's cutoff ${at}` }));
}

export interface CutoffPruneResult {
  /** `site/file` of each binlog deleted, oldest first. */
  deleted: string[];
}

/**
 * Deletes from `site`'s manifest and storage the binlogs planCutoffPrune names (the manifest
 * first, with tombstones so that the archiver does not upload them again; then the files). The
 * caller must not run an archive scan of the same site at the same time: both write its manifest.
 */
export async function pruneSiteToCutoff(store: ObjectStore, site: string, cutoff: Date | null, options: { logger: Logger; signal?: AbortSignal }): Promise<CutoffPruneResult> {
  if (cutoff === null) return { deleted: [] };
  const signal = options.signal ? { signal: options.signal } : {};
  const [catalog, manifest] = await Promise.all([listBackups(store, { ...signal, missingStorageIsEmpty: true }), readSiteManifest(store, site, options.signal)]);
  const plan = planCutoffPrune(catalog, manifest, cutoff);
  if (plan.length === 0) return { deleted: [] };
  const deleted = await deleteBinlogs(store, plan, options.signal);
  options.logger.info('archived binlogs pruned to the cluster cutoff', { site, cutoff: cutoff.toISOString(), files: deleted.length, first: deleted[0], last: deleted.at(-1) });
  return { deleted };
}
