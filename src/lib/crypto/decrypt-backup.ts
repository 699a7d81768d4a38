/**
 * `backup decrypt`: writes an encrypted backup out as a plain dump in MySQL Shell's layout, so
 * stock `util.loadDump()` (or any other loader) can read it without bloodraven. Every file is
 * authenticated on the way; `@.done.json` is written last, so a folder left by a failed run is
 * never mistaken for a complete dump.
 */
import { readdir } from 'node:fs/promises';
import type { CatalogEntry } from '../catalog/catalog.js';
import { doneMarkerName, isBookkeepingFile } from '../catalog/names.js';
import { AppError, ExitCode, PreconditionError, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import { backupView } from '../storage/encrypted-store.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { KeyEncryptionKey } from './keys.js';

export interface DecryptResult {
  backup: string;
  destination: string;
  files: number;
  bytes: number;
}

export async function decryptBackup(
  deps: { store: ObjectStore; kek: KeyEncryptionKey | null; logger: Logger },
  entry: CatalogEntry,
  dest: { store: ObjectStore; path: string },
  run: { signal?: AbortSignal; onFile?: (name: string, bytes: number) => void } = {},
): Promise<DecryptResult> {
  if (!entry.complete || entry.phase !== 'Succeeded') {
    throw new PreconditionError('BACKUP_NOT_RESTORABLE', `backup ${entry.name} is not a complete, successful backup (phase ${entry.phase})`, {
      hint: 'decrypt a backup that succeeded (see `bloodraven backup list`)',
    });
  }
  if (!entry.record?.encryption) {
    throw new PreconditionError('BACKUP_NOT_ENCRYPTED', `backup ${entry.name} is not encrypted: its files are a plain dump already`, {
      hint: `copy the folder ${entry.record?.location ?? entry.prefix} as it is`,
    });
  }
  const existing = await readdir(dest.path).catch(() => []);
  if (existing.length > 0) {
    throw new PreconditionError('TARGET_NOT_EMPTY', `${dest.path} is not empty`, { hint: 'name a new or empty folder with --to' });
  }
  const view = backupView(deps.store, entry.prefix, entry.record, deps.kek);
  const options = run.signal ? { signal: run.signal } : {};
  const files = (await deps.store.list(entry.prefix, options))
    .map((o) => o.key.slice(entry.prefix.length))
    .filter((name) => !isBookkeepingFile(name))
    // The completion marker goes last.
    .sort((a, b) => Number(a === doneMarkerName) - Number(b === doneMarkerName) || a.localeCompare(b));
  if (!files.includes(doneMarkerName)) {
    throw new AppError('DUMP_INCOMPLETE', `backup ${entry.name} has no ${doneMarkerName}`, ExitCode.precondition);
  }
  let bytes = 0;
  const done: string[] = [];
  try {
    for (const name of files) {
      throwIfAborted(run.signal);
      const written = await dest.store.write(name, await view.read(entry.prefix + name, options), options);
      done.push(name);
      bytes += written.bytes;
      run.onFile?.(name, written.bytes);
    }
  } catch (err) {
    // The folder was empty: leave it so, rather than half a dump.
    await dest.store.deleteMany(done).catch(() => undefined);
    throw err;
  }
  deps.logger.info('backup decrypted', { backup: entry.name, destination: dest.path, files: files.length, bytes });
  return { backup: entry.name, destination: dest.path, files: files.length, bytes };
}
