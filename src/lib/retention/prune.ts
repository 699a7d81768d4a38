/**
 * Prune: the retention plan of a profile (planPrune, which changes nothing) and carrying it out
 * (applyPrune). A backup is deleted in an order that a crash at any point cannot turn into a
 * listed backup whose data is half gone:
 *
 *   1. its record is rewritten as `Deleting` (the catalog no longer offers it for restores, and
 *      the next prune finishes the job);
 *   2. every other object of the backup is deleted (`@.done.json` first, so the dump stops being
 *      complete before anything else goes);
 *   3. the record itself, and the folder.
 *
 * Objects already gone count as deleted.
 */
import type { RetentionPolicy } from '../config/schema.js';
import { listBackups, type CatalogEntry } from '../catalog/catalog.js';
import { doneMarkerName, recordFileName } from '../catalog/names.js';
import { describeLease, leasePrefix, liveLeases } from '../catalog/reader-lease.js';
import { serializeRecord, type BackupRecord } from '../catalog/record.js';
import { errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { planRetention, type RetentionDecision } from './plan.js';
import { extendsBeyond, rangesSet } from '../pitr/gtid-space.js';
import { readAllManifests, readSiteManifest, writeSiteManifest, type SiteManifest } from '../pitr/manifest.js';
import { restorableDumps } from '../pitr/window.js';

export interface PruneDecision extends RetentionDecision {
  sizeBytes: number;
  /** The bytes its folder holds now, its record aside (for a failed backup, what deleting it frees). */
  heldBytes: number;
}

/** An archived binlog that no kept backup needs any more. */
export interface BinlogPruneDecision {
  site: string;
  file: string;
  key: string;
  size: number;
  reason: string;
}

export interface PrunePlan {
  location: string;
  policy: RetentionPolicy | null;
  decisions: PruneDecision[];
  /** Archived binlogs to delete with the backups (point-in-time recovery). */
  binlogs: BinlogPruneDecision[];
}

export interface PruneResult {
  plan: PrunePlan;
  deleted: string[];
  /** Archived binlogs deleted (`site/file`). */
  deletedBinlogs: string[];
  /** Backups whose deletion failed, with the reason; the next prune takes them up again. */
  failed: Array<{ name: string; error: string }>;
  /** Backups the plan would delete that were found running when their turn came: left alone. */
  skipped: Array<{ name: string; reason: string }>;
}

export async function planPrune(store: ObjectStore, policy: RetentionPolicy | undefined, now: Date, signal?: AbortSignal): Promise<PrunePlan> {
  const entries = await listBackups(store, { now, ...(signal ? { signal } : {}) });
  const byName = new Map(entries.map((e) => [e.name, e]));
  const decisions = planRetention(
    entries.map((e) => ({ name: e.name, phase: e.phase, startedAt: e.startedAt, verification: e.verification })),
    policy,
    now,
  ).map((d) => ({ ...d, sizeBytes: byName.get(d.name)?.record?.sizeBytes ?? 0, heldBytes: byName.get(d.name)?.heldBytes ?? 0 }));
  const kept = new Set(decisions.filter((d) => d.action === 'keep').map((d) => d.name));
  const binlogs = policy ? planBinlogPrune(entries.filter((e) => kept.has(e.name)), await readAllManifests(store, signal)) : [];
  return { location: store.location, policy: policy ?? null, decisions, binlogs };
}

/**
 * Archived binlogs older than what the oldest kept backup needs: every transaction they hold is
 * in that backup already, and their last event is before its snapshot. Without a kept backup to
 * restore from, no binlog is deleted.
 */
export function planBinlogPrune(kept: readonly CatalogEntry[], manifests: readonly SiteManifest[]): BinlogPruneDecision[] {
  const oldest = restorableDumps(kept)[0];
  if (!oldest) return [];
  const cutoff = oldest.snapshotAt.toISOString();
  return manifests.flatMap((m) =>
    m.entries
      .filter((f) => !extendsBeyond(rangesSet(f.gtidRanges), oldest.executed) && (f.lastEventTime ?? f.uploadedAt) < cutoff)
      .map((f) => ({ site: f.site, file: f.file, key: f.key, size: f.size, reason: `older than ${oldest.entry.name}, the oldest backup kept (${cutoff})` })),
  );
}

/**
 * Deletes archived binlogs: each site's manifest first (read again just before, to keep what its
 * archiver added meanwhile), then the files, so a crash never leaves a manifest naming a file
 * that is gone.
 */
export async function deleteBinlogs(store: ObjectStore, binlogs: readonly BinlogPruneDecision[], signal?: AbortSignal): Promise<string[]> {
  const bySite = new Map<string, BinlogPruneDecision[]>();
  for (const b of binlogs) bySite.set(b.site, [...(bySite.get(b.site) ?? []), b]);
  const deleted: string[] = [];
  for (const [site, files] of bySite) {
    const manifest = await readSiteManifest(store, site, signal);
    const gone = new Set(files.map((f) => f.file));
    // Tombstones, so that the archiver does not upload them again while the server still has them.
    const pruned = [...(manifest.pruned ?? []), ...manifest.entries.filter((e) => gone.has(e.file)).map((e) => ({ file: e.file, size: e.binlogBytes ?? e.size }))];
    await writeSiteManifest(store, { ...manifest, entries: manifest.entries.filter((e) => !gone.has(e.file)), pruned }, signal);
    await store.deleteMany(
      files.map((f) => f.key),
      signal ? { signal } : {},
    );
    deleted.push(...files.map((f) => `${site}/${f.file}`));
  }
  return deleted;
}

/**
 * Deletes one backup in the crash-safe order above. `stillFree`, when given, is asked once the
 * record is marked: a reason (a reader took a lease meanwhile) puts the record back as it was and
 * leaves the backup alone; the reason is returned. Null when the backup was deleted.
 */
export async function deleteBackup(
  store: ObjectStore,
  entry: Pick<CatalogEntry, 'name' | 'prefix' | 'record'>,
  signal?: AbortSignal,
  stillFree?: () => Promise<string | null>,
): Promise<string | null> {
  const options = signal ? { signal } : {};
  const marker: BackupRecord | Record<string, unknown> = entry.record ? { ...entry.record, phase: 'Deleting' } : { name: entry.name, phase: 'Deleting' };
  await store.put(entry.prefix + recordFileName, serializeRecord(marker as BackupRecord), options);
  const busy = stillFree ? await stillFree() : null;
  if (busy !== null) {
    if (entry.record) await store.put(entry.prefix + recordFileName, serializeRecord(entry.record), options);
    else await store.delete(entry.prefix + recordFileName, options);
    return busy;
  }
  const keys = (await store.list(entry.prefix, options)).map((o) => o.key).filter((k) => k !== entry.prefix + recordFileName);
  const done = keys.filter((k) => k === entry.prefix + doneMarkerName);
  await store.deleteMany(done, options);
  await store.deleteMany(
    keys.filter((k) => !done.includes(k)),
    options,
  );
  throwIfAborted(signal);
  await store.deletePrefix(entry.prefix, options);
  // Leases of readers that are gone (a live one stopped the deletion above).
  await store.deletePrefix(leasePrefix(entry.name), options);
  return null;
}

/** Why a backup must not be deleted now: the readers holding live leases on it; null if none. */
async function readersOf(store: ObjectStore, name: string, signal?: AbortSignal): Promise<string | null> {
  const leases = await liveLeases(store, name, { now: new Date(), ...(signal ? { signal } : {}) });
  return leases.length > 0 ? `it is being read by ${leases.map(describeLease).join(', ')}` : null;
}

/**
 * The planned binlog deletions that are still safe now: a backup the plan would delete that a
 * verify or a restore is reading stays (see applyPrune), and so do the binlogs that extend it to
 * later points in time, which a point-in-time restore of it is about to replay or may resume.
 */
async function binlogsStillUnneeded(store: ObjectStore, plan: PrunePlan, signal?: AbortSignal): Promise<BinlogPruneDecision[]> {
  const read: string[] = [];
  for (const d of plan.decisions) if (d.action === 'delete' && (await readersOf(store, d.name, signal)) !== null) read.push(d.name);
  if (read.length === 0) return plan.binlogs;
  const stay = new Set([...plan.decisions.filter((d) => d.action === 'keep').map((d) => d.name), ...read]);
  const entries = (await listBackups(store, signal ? { signal } : {})).filter((e) => stay.has(e.name));
  const safe = new Set(planBinlogPrune(entries, await readAllManifests(store, signal)).map((b) => b.key));
  return plan.binlogs.filter((b) => safe.has(b.key));
}

export async function applyPrune(store: ObjectStore, plan: PrunePlan, options: { signal?: AbortSignal; logger: Logger }): Promise<PruneResult> {
  const result: PruneResult = { plan, deleted: [], deletedBinlogs: [], failed: [], skipped: [] };
  if (plan.binlogs.length > 0) {
    try {
      result.deletedBinlogs = await deleteBinlogs(store, await binlogsStillUnneeded(store, plan, options.signal), options.signal);
      options.logger.info('archived binlogs deleted', { files: result.deletedBinlogs.length });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      result.failed.push({ name: 'archived binlogs', error: errorMessage(err) });
    }
  }
  const toDelete = plan.decisions.filter((d) => d.action === 'delete');
  if (toDelete.length === 0) return result;
  // Read the records again: a plan may have been shown to a person a while ago.
  const entries = new Map((await listBackups(store, options.signal ? { signal: options.signal } : {})).map((e) => [e.name, e]));
  for (const d of toDelete) {
    throwIfAborted(options.signal);
    const entry = entries.get(d.name);
    if (!entry) {
      result.deleted.push(d.name);
      continue;
    }
    // The plan may be older than the run it saw as dead: a heartbeat that came back (a run on
    // another host, a storage hiccup) means it is alive, and its files are not prune's to take.
    if (entry.phase === 'Running') {
      const reason = `it is running again (its heartbeat is fresh) although the plan counted it as ${d.phase}`;
      result.skipped.push({ name: d.name, reason });
      options.logger.warn('a backup the plan would delete is running: left alone', { name: d.name, reason });
      continue;
    }
    try {
      // A backup a verify or a restore is reading stays until they are done (catalog/reader-lease.ts).
      const busy = (await readersOf(store, d.name, options.signal)) ?? (await deleteBackup(store, entry, options.signal, () => readersOf(store, d.name, options.signal)));
      if (busy !== null) {
        result.skipped.push({ name: d.name, reason: busy });
        options.logger.warn('a backup the plan would delete is being read: left alone', { name: d.name, reason: busy });
        continue;
      }
      result.deleted.push(d.name);
      options.logger.info('backup deleted', { name: d.name, why: d.reasons.join('; ') });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      result.failed.push({ name: d.name, error: errorMessage(err) });
      options.logger.error('could not delete a backup; the next prune tries again', { name: d.name, reason: errorMessage(err) });
    }
  }
  return result;
}
