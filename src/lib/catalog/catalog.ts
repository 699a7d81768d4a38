/**
 * The backups in a profile's storage, read from the storage itself: one folder per backup, its
 * record `bloodraven.json`, and `@.done.json` when the dump is complete.
 */
import { AppError, NotFoundError, errorMessage } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { backupPrefix, doneMarkerName, recordFileName } from './names.js';
import type { BackupRecord } from './record.js';

export interface CatalogEntry {
  name: string;
  /** Folder key of the backup, ending in `/`. */
  prefix: string;
  /** The record, or null when the folder has none (or it cannot be read). */
  record: BackupRecord | null;
  /** `@.done.json` exists: the dump is complete. */
  complete: boolean;
}

/** Every backup folder in the store, newest first (by start time, then name). */
export async function listBackups(store: ObjectStore, options: { signal?: AbortSignal } = {}): Promise<CatalogEntry[]> {
  const objects = await store.list('', options);
  const folders = new Map<string, Set<string>>();
  for (const o of objects) {
    const slash = o.key.indexOf('/');
    if (slash <= 0) continue;
    const folder = o.key.slice(0, slash);
    const rest = o.key.slice(slash + 1);
    let files = folders.get(folder);
    if (!files) folders.set(folder, (files = new Set()));
    files.add(rest);
  }
  const entries: CatalogEntry[] = [];
  for (const [name, files] of folders) {
    if (!files.has('@.json') && !files.has(recordFileName)) continue;
    let record: BackupRecord | null = null;
    if (files.has(recordFileName)) {
      try {
        record = JSON.parse((await store.get(`${name}/${recordFileName}`, options)).toString('utf8')) as BackupRecord;
      } catch {
        record = null;
      }
    }
    entries.push({ name, prefix: backupPrefix(name), record, complete: files.has(doneMarkerName) });
  }
  entries.sort((a, b) => (b.record?.startedAt ?? '').localeCompare(a.record?.startedAt ?? '') || b.name.localeCompare(a.name));
  return entries;
}

/** Whether a backup can be restored: complete, and (when it has a record) recorded as Succeeded. */
export function isRestorable(entry: CatalogEntry): boolean {
  return entry.complete && (entry.record === null || entry.record.phase === 'Succeeded');
}

/**
 * The backup a user means by `NAME` or `latest` (the newest restorable one). Throws NotFoundError
 * naming what exists when there is no such backup, and refuses an incomplete one.
 */
export async function resolveBackup(store: ObjectStore, nameOrLatest: string, options: { signal?: AbortSignal } = {}): Promise<CatalogEntry> {
  let entries: CatalogEntry[];
  try {
    entries = await listBackups(store, options);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('CATALOG_UNREADABLE', `cannot list the backups in ${store.location}: ${errorMessage(err)}`);
  }
  if (nameOrLatest === 'latest') {
    const latest = entries.find(isRestorable);
    if (!latest) {
      throw new NotFoundError('NO_BACKUP', `no complete backup in ${store.location}${entries.length > 0 ? ` (${entries.length} incomplete or failed)` : ''}`, {
        hint: 'take one with `bloodraven backup now`, or name a backup with --backup',
      });
    }
    return latest;
  }
  const entry = entries.find((e) => e.name === nameOrLatest);
  if (!entry) {
    const names = entries.slice(0, 5).map((e) => e.name);
    throw new NotFoundError('BACKUP_NOT_FOUND', `there is no backup named ${nameOrLatest} in ${store.location}`, {
      hint: names.length > 0 ? `the newest are: ${names.join(', ')}; or use --backup latest` : 'the profile holds no backups yet',
    });
  }
  return entry;
}
