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
 *
 * Prune also aborts the incomplete multipart uploads under the profile's root (S3), which a write
 * whose process died or whose abort failed leaves behind, billed, and invisible to listings. An
 * upload is aborted only when no write can still be under way in it (see planUploadPrune).
 */
import type { RetentionPolicy } from '../config/schema.js';
import { listBackups, type CatalogEntry } from '../catalog/catalog.js';
import { doneMarkerName, recordFileName } from '../catalog/names.js';
import { describeLease, leasePrefix, liveLeases } from '../catalog/reader-lease.js';
import { serializeRecord, type BackupRecord } from '../catalog/record.js';
import { errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import type { IncompleteUpload, ObjectStore } from '../storage/object-store.js';
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

/** An incomplete multipart upload under the profile's root, and what prune does with it. */
export interface UploadPruneDecision {
  /** The key it would have created, relative to the profile's root. */
  key: string;
  uploadId: string;
  /** When it was begun (RFC 3339). */
  initiated: string;
  action: 'abort' | 'keep';
  reason: string;
}

export interface PrunePlan {
  location: string;
  policy: RetentionPolicy | null;
  decisions: PruneDecision[];
  /** Archived binlogs to delete with the backups (point-in-time recovery). */
  binlogs: BinlogPruneDecision[];
  /** Incomplete multipart uploads found under the profile's root (S3; empty for PVC). */
  uploads: UploadPruneDecision[];
  /** Why the incomplete uploads could not be listed (the server does not offer it, access denied), or null. */
  uploadsError: string | null;
}

export interface PlanPruneOptions {
  signal?: AbortSignal;
  /** Uploads outside a finished backup's folder are aborted once this old (ms). Default: 24 h. */
  staleUploadAgeMs?: number;
}

/**
 * How old an upload outside any finished backup must be before prune aborts it. Such an upload
 * may belong to a write still under way that no record vouches for (a binlog archiver's, or a
 * run whose record cannot be read): one write stores one file, and no single file takes a day.
 */
export const defaultStaleUploadAgeMs = 24 * 3600_000;

export interface PruneResult {
  plan: PrunePlan;
  deleted: string[];
  /** Incomplete uploads aborted (`key (upload id)`). */
  abortedUploads: string[];
  /** Archived binlogs deleted (`site/file`). */
  deletedBinlogs: string[];
  /** Backups whose deletion failed, with the reason; the next prune takes them up again. */
  failed: Array<{ name: string; error: string }>;
  /** Backups the plan would delete that were found running when their turn came: left alone. */
  skipped: Array<{ name: string; reason: string }>;
}

export async function planPrune(store: ObjectStore, policy: RetentionPolicy | undefined, now: Date, signalOrOptions?: AbortSignal | PlanPruneOptions): Promise<PrunePlan> {
  const options: PlanPruneOptions = signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {});
  const { signal } = options;
  const entries = await listBackups(store, { now, ...(signal ? { signal } : {}) });
  const byName = new Map(entries.map((e) => [e.name, e]));
  const decisions = planRetention(
    entries.map((e) => ({ name: e.name, phase: e.phase, startedAt: e.startedAt, verification: e.verification })),
    policy,
    now,
  ).map((d) => ({ ...d, sizeBytes: byName.get(d.name)?.record?.sizeBytes ?? 0, heldBytes: byName.get(d.name)?.heldBytes ?? 0 }));
  const kept = new Set(decisions.filter((d) => d.action === 'keep').map((d) => d.name));
  const binlogs = policy ? planBinlogPrune(entries.filter((e) => kept.has(e.name)), await readAllManifests(store, signal)) : [];
  let uploads: UploadPruneDecision[] = [];
  let uploadsError: string | null = null;
  if (store.listIncompleteUploads) {
    try {
      uploads = planUploadPrune(await store.listIncompleteUploads(signal ? { signal } : {}), entries, now, options.staleUploadAgeMs ?? defaultStaleUploadAgeMs);
    } catch (err) {
      if (signal?.aborted) throw err;
      uploadsError = errorMessage(err);
    }
  }
  return { location: store.location, policy: policy ?? null, decisions, binlogs, uploads, uploadsError };
}

/**
 * What to do with each incomplete upload. One in the folder of a backup whose run is alive
 * (Running, its heartbeat fresh) is kept: it is that run's file being written. One in the folder
 * of a backup whose run has ended (Succeeded, Failed, Deleting) is aborted: nothing writes there
 * any more. Any other (binlogs, a folder without a readable record) is aborted only once older
 * than `staleAgeMs`, as a write may still be under way there that no record vouches for.
 */
export function planUploadPrune(uploads: readonly IncompleteUpload[], entries: readonly Pick<CatalogEntry, 'name' | 'phase'>[], now: Date, staleAgeMs: number): UploadPruneDecision[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  return uploads.map((u) => {
    const base = { key: u.key, uploadId: u.uploadId, initiated: u.initiated.toISOString() };
    const slash = u.key.indexOf('/');
    const owner = slash > 0 ? byName.get(u.key.slice(0, slash)) : undefined;
    if (owner?.phase === 'Running') return { ...base, action: 'keep', reason: `backup ${owner.name} is running and may be writing it` };
    if (owner) return { ...base, action: 'abort', reason: `backup ${owner.name} is ${owner.phase}: its run has ended` };
    const age = now.getTime() - u.initiated.getTime();
    if (age < staleAgeMs) return { ...base, action: 'keep', reason: `begun ${formatAge(age)} ago, under ${formatAge(staleAgeMs)}: a write may still be under way` };
    return { ...base, action: 'abort', reason: `begun ${formatAge(age)} ago, over ${formatAge(staleAgeMs)}, and no running backup owns it` };
  });
}

function formatAge(ms: number): string {
  if (ms >= 3600_000) return `${Math.floor(ms / 3600_000)} h`;
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)} min`;
  return `${Math.max(0, Math.floor(ms / 1000))} s`;
}

/**
 * Aborts the uploads the plan would abort, after reading the catalog again: a backup that is
 * running now (a plan shown to a person a while ago) keeps its uploads. Failures are returned
 * with the upload, never thrown (but an interrupt is).
 */
async function abortUploads(store: ObjectStore, plan: PrunePlan, options: { signal?: AbortSignal; logger: Logger }): Promise<{ aborted: string[]; failed: Array<{ name: string; error: string }> }> {
  const doomed = plan.uploads.filter((u) => u.action === 'abort');
  const aborted: string[] = [];
  const failed: Array<{ name: string; error: string }> = [];
  if (doomed.length === 0 || !store.abortIncompleteUpload) return { aborted, failed };
  const so = options.signal ? { signal: options.signal } : {};
  const running = new Set((await listBackups(store, so)).filter((e) => e.phase === 'Running').map((e) => e.name));
  for (const u of doomed) {
    throwIfAborted(options.signal);
    const name = `${u.key} (upload ${u.uploadId})`;
    const slash = u.key.indexOf('/');
    if (slash > 0 && running.has(u.key.slice(0, slash))) continue;
    try {
      await store.abortIncompleteUpload({ key: u.key, uploadId: u.uploadId, initiated: new Date(u.initiated) }, so);
      aborted.push(name);
      options.logger.info('incomplete upload aborted', { key: u.key, uploadId: u.uploadId, why: u.reason });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      failed.push({ name: `incomplete upload ${name}`, error: errorMessage(err) });
    }
  }
  return { aborted, failed };
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
  const result: PruneResult = { plan, deleted: [], abortedUploads: [], deletedBinlogs: [], failed: [], skipped: [] };
  const uploads = await abortUploads(store, plan, options);
  result.abortedUploads = uploads.aborted;
  result.failed.push(...uploads.failed);
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
