/**
 * Where a restore reads from: a backup of the profile's catalog (`--backup NAME|latest`), or a
 * dump anywhere (`--from DIR|s3://bucket/prefix`), such as one MySQL Shell wrote.
 */
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { CatalogEntry } from '../catalog/catalog.js';
import { resolveBackup } from '../catalog/catalog.js';
import type { BackupRecord } from '../catalog/record.js';
import { recordFileName } from '../catalog/names.js';
import type { StorageConfig } from '../config/schema.js';
import type { KeyEncryptionKey } from '../crypto/keys.js';
import { backupView, type BackupView } from '../storage/encrypted-store.js';
import type { ObjectStore } from '../storage/object-store.js';

export interface RestoreSource {
  /** The dump's files (decrypted when the backup is encrypted), each checkable against the record. */
  store: BackupView;
  /** Folder key of the dump in `store`, ending in `/` (or '' for the store's root). */
  prefix: string;
  /** For messages: the backup name or the location. */
  description: string;
  /** The backup record, when the dump is a bloodraven backup. */
  record: BackupRecord | null;
  /** For a backup of the catalog: where a restore takes its reader lease (catalog/reader-lease.ts), so prune leaves it alone. */
  leaseOn?: { store: ObjectStore; backup: string };
}

export type FromLocation = { type: 'dir'; path: string } | { type: 's3'; bucket: string; prefix: string };

/** Parses `--from`: a folder path, or `s3://bucket/prefix`. */
export function parseFrom(from: string, cwd: string): FromLocation {
  if (from.startsWith('s3://')) {
    const rest = from.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ConfigError([{ path: '--from', message: `"${bucket}" is not an S3 bucket name (s3://bucket/prefix)` }]);
    }
    return { type: 's3', bucket, prefix };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from)) {
    throw new ConfigError([{ path: '--from', message: `only folders and s3:// locations can be restored from, not ${from}` }]);
  }
  return { type: 'dir', path: resolve(cwd, from) };
}

/**
 * A backup of the catalog; an encrypted one is read through its data key, unwrapped here so a
 * wrong or missing key is refused before anything is touched.
 */
export async function sourceFromCatalog(store: ObjectStore, nameOrLatest: string, kek: KeyEncryptionKey | null, signal?: AbortSignal): Promise<RestoreSource & { entry: CatalogEntry }> {
  const entry = await resolveBackup(store, nameOrLatest, signal ? { signal } : {});
  const view = backupView(store, entry.prefix, entry.record, kek);
  return { store: view, prefix: entry.prefix, description: `backup ${entry.name}`, record: entry.record, entry, leaseOn: { store, backup: entry.name } };
}

/**
 * The storage settings that reach a `--from` location: a folder as a PVC store, an S3 location
 * with the profile's S3 settings (endpoint, region, credentials) when the profile is on S3.
 */
export function storageForFrom(from: FromLocation, profile: StorageConfig): StorageConfig {
  if (from.type === 'dir') return { type: 'PVC', pvc: { path: from.path } };
  const base = profile.type === 'S3' ? profile.s3 : { partSize: 16_000_000 };
  return { type: 'S3', s3: { ...base, bucket: from.bucket, prefix: from.prefix } };
}

/**
 * A dump at the root of `store` (a `--from` location); its record is read when it has one. An
 * encrypted bloodraven backup there opens with the profile's key, if it was written under it.
 */
export async function sourceFromStore(store: ObjectStore, description: string, kek: KeyEncryptionKey | null): Promise<RestoreSource> {
  let record: BackupRecord | null = null;
  if (await store.exists(recordFileName)) {
    try {
      record = JSON.parse((await store.get(recordFileName)).toString('utf8')) as BackupRecord;
    } catch {
      record = null;
    }
  }
  return { store: backupView(store, '', record, kek), prefix: '', description, record };
}
