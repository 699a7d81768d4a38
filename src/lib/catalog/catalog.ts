/**
 * The backups in a profile's storage, read from the storage itself: one folder per backup, its
 * record `bloodraven.json`, and `@.done.json` when the dump is complete. Every attempt leaves a
 * record; what the catalog reports is the attempt's real state: a Running record whose process is
 * gone, or a dump folder that never got its `@.done.json`, counts as Failed.
 */
import { hostname } from 'node:os';
import { AppError, NotFoundError, PreconditionError, errorMessage } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { backupPrefix, doneMarkerName, recordFileName, verificationFileName } from './names.js';
import type { BackupPhase, BackupRecord } from './record.js';

/** How often a running backup rewrites its heartbeat, and how long one may go stale. */
export const heartbeatIntervalMs = 30_000;
export const heartbeatStaleMs = 5 * 60_000;

export interface CatalogEntry {
  name: string;
  /** Folder key of the backup, ending in `/`. */
  prefix: string;
  /** The record, or null when the folder has none (or it cannot be read). */
  record: BackupRecord | null;
  /** `@.done.json` exists: the dump is complete. */
  complete: boolean;
  /** What the attempt really is now (see effectivePhase). */
  phase: BackupPhase;
  /** Why it failed, when it did (the record's reason, or why the catalog counts it as failed). */
  failure: string | null;
  /**
   * Bytes the folder holds now, its record aside: what deleting it would free. For a failed
   * attempt, what it still occupies (0 once its data files were removed).
   */
  heldBytes: number;
  /** When it started, as far as anyone can tell (the record, or the folder's oldest file). */
  startedAt: Date;
  /** Whether its last verification (`verification.json`) passed. */
  verified: boolean;
  /** How its last verification ended: passed, failed, or none yet (or unreadable: failed). */
  verification: 'passed' | 'failed' | null;
  /** When its last verification ran (RFC 3339), or null: none yet, or the result is unreadable. */
  verifiedAt: string | null;
}

export interface CatalogOptions {
  signal?: AbortSignal;
  now?: Date;
  /** Whether a process of this machine is alive (injected for tests). */
  isAlive?: (pid: number) => boolean;
  /**
   * A storage folder that does not exist yet reads as an empty catalog instead of failing: for the
   * daemon, whose first backup creates it. Readers a user runs leave this off, so a mistyped path
   * is reported rather than shown as "no backups".
   */
  missingStorageIsEmpty?: boolean;
}

/** Whether a process with this pid runs on this host (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The phase an attempt really has, given its record, its done marker and whether its run lives. */
export function effectivePhase(
  record: BackupRecord | null,
  complete: boolean,
  now: Date,
  isAlive: (pid: number) => boolean,
): { phase: BackupPhase; failure: string | null } {
  if (!record) return complete ? { phase: 'Succeeded', failure: null } : { phase: 'Failed', failure: 'the dump has no record and no @.done.json: it never finished' };
  if (record.phase === 'Succeeded' && !complete) return { phase: 'Failed', failure: 'the record says Succeeded but @.done.json is missing' };
  // A backup of nothing (a selection that matched no table, before such backups were refused) is
  // never restorable, never `latest`, and never counts as a success for retention.
  if (record.phase === 'Succeeded' && record.tables.length === 0) return { phase: 'Failed', failure: 'it holds no table (its schema selection matched nothing)' };
  if (record.phase === 'Failed') return { phase: 'Failed', failure: record.failure?.message ?? 'failed' };
  if (record.phase !== 'Running') return { phase: record.phase, failure: null };
  const sameHost = record.runner.hostname === hostname();
  if (sameHost && !isAlive(record.runner.pid)) return { phase: 'Failed', failure: `its process (pid ${record.runner.pid}) is gone` };
  const beat = Date.parse(record.heartbeatAt ?? record.startedAt);
  if (now.getTime() - beat > heartbeatStaleMs) {
    return { phase: 'Failed', failure: `its run is gone: no heartbeat since ${new Date(beat).toISOString()}` };
  }
  return { phase: 'Running', failure: null };
}

/**
 * Every backup folder in the store, newest first. A storage path that is missing (see
 * missingStorageIsEmpty) or is not a folder is a StorageError naming the path and its config field.
 */
export async function listBackups(store: ObjectStore, options: CatalogOptions = {}): Promise<CatalogEntry[]> {
  const storeOptions = options.signal ? { signal: options.signal } : {};
  try {
    await store.checkReadable(storeOptions);
  } catch (err) {
    if (options.missingStorageIsEmpty && err instanceof AppError && err.code === 'STORAGE_NOT_FOUND') return [];
    throw err;
  }
  const objects = await store.list('', storeOptions);
  const folders = new Map<string, { files: Set<string>; oldest: number; bytes: number }>();
  for (const o of objects) {
    const slash = o.key.indexOf('/');
    if (slash <= 0) continue;
    const folder = o.key.slice(0, slash);
    let f = folders.get(folder);
    if (!f) folders.set(folder, (f = { files: new Set(), oldest: o.lastModified.getTime(), bytes: 0 }));
    const file = o.key.slice(slash + 1);
    f.files.add(file);
    f.oldest = Math.min(f.oldest, o.lastModified.getTime());
    if (file !== recordFileName) f.bytes += o.size;
  }
  const now = options.now ?? new Date();
  const entries: CatalogEntry[] = [];
  for (const [name, { files, oldest, bytes }] of folders) {
    if (!files.has('@.json') && !files.has(recordFileName)) continue;
    let record: BackupRecord | null = null;
    if (files.has(recordFileName)) {
      try {
        record = JSON.parse((await store.get(`${name}/${recordFileName}`, storeOptions)).toString('utf8')) as BackupRecord;
      } catch {
        record = null;
      }
    }
    const complete = files.has(doneMarkerName);
    const { phase, failure } = effectivePhase(record, complete, now, options.isAlive ?? processAlive);
    const started = record ? Date.parse(record.startedAt) : oldest;
    const last = files.has(verificationFileName) ? await verificationOutcome(store, `${name}/${verificationFileName}`, options.signal) : null;
    entries.push({
      name,
      prefix: backupPrefix(name),
      record,
      complete,
      phase,
      failure,
      heldBytes: bytes,
      startedAt: new Date(started),
      verified: last?.outcome === 'passed',
      verification: last?.outcome ?? null,
      verifiedAt: last?.at ?? null,
    });
  }
  entries.sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.name.localeCompare(a.name));
  return entries;
}

/** Whether a saved verification result passed, and when it ran; one that cannot be read counts as failed. */
async function verificationOutcome(store: ObjectStore, key: string, signal?: AbortSignal): Promise<{ outcome: 'passed' | 'failed'; at: string | null }> {
  try {
    const result = JSON.parse((await store.get(key, signal ? { signal } : {})).toString('utf8')) as { ok?: unknown; verifiedAt?: unknown };
    const at = typeof result.verifiedAt === 'string' && Number.isFinite(Date.parse(result.verifiedAt)) ? result.verifiedAt : null;
    return { outcome: result.ok === true ? 'passed' : 'failed', at };
  } catch (err) {
    if (signal?.aborted) throw err;
    return { outcome: 'failed', at: null };
  }
}

/** Whether a backup can be restored: complete and succeeded. */
export function isRestorable(entry: CatalogEntry): boolean {
  return entry.complete && entry.phase === 'Succeeded';
}

/**
 * The backup a user means by `NAME` or `latest` (the newest restorable one). Throws NotFoundError
 * when there is no such backup, and PreconditionError (exit 3) when the named one exists but
 * cannot be restored (failed, running, being deleted, incomplete); either way the hint offers the
 * newest restorable backups, never failed ones.
 */
export async function resolveBackup(store: ObjectStore, nameOrLatest: string, options: CatalogOptions = {}): Promise<CatalogEntry> {
  let entries: CatalogEntry[];
  try {
    entries = await listBackups(store, options);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('CATALOG_UNREADABLE', `cannot list the backups in ${store.location}: ${errorMessage(err)}`);
  }
  const restorable = entries.filter(isRestorable);
  if (nameOrLatest === 'latest') {
    const latest = restorable[0];
    if (!latest) {
      throw new NotFoundError('NO_BACKUP', `no complete backup in ${store.location}${entries.length > 0 ? ` (${entries.length} incomplete or failed)` : ''}`, {
        hint: 'take one with `bloodraven backup now`, or name a backup with --backup',
      });
    }
    return latest;
  }
  const offer = (): string => {
    const names = restorable.slice(0, 5).map((e) => e.name);
    if (names.length > 0) return `the newest restorable backups are: ${names.join(', ')}; or use --backup latest`;
    return entries.length > 0 ? `no backup in ${store.location} is restorable yet; take one with \`bloodraven backup now\`` : 'the profile holds no backups yet';
  };
  const entry = entries.find((e) => e.name === nameOrLatest);
  if (!entry) throw new NotFoundError('BACKUP_NOT_FOUND', `there is no backup named ${nameOrLatest} in ${store.location}`, { hint: offer() });
  if (!isRestorable(entry)) {
    const state = `${entry.phase}${entry.failure ? ` (${entry.failure})` : ''}${entry.complete ? '' : ', incomplete: it has no @.done.json'}`;
    throw new PreconditionError('BACKUP_NOT_RESTORABLE', `backup ${entry.name} exists but cannot be restored: it is ${state}`, {
      hint: entry.phase === 'Running' ? `wait for it to finish, or restore another: ${offer()}` : `restore a complete backup instead: ${offer()}`,
    });
  }
  return entry;
}
