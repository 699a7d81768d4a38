/**
 * Deleting one stored backup by name (`backup delete`, and the cleanup Job behind a MysqlBackup's
 * finalizer): every object under its folder, its record included, in prune's crash-safe order
 * (retention/prune.ts deleteBackup), under prune's rules: a backup that is running, or that a
 * reader (verify, a restore) holds a lease on, is left alone.
 *
 * Only a folder the catalog lists as a backup is touched, and only a plain name is taken: the
 * name cannot reach a folder outside the profile's root, nor one that is not a backup (archived
 * binlogs, readers' leases).
 */
import { AppError, ExitCode, PreconditionError } from '../errors.js';
import type { Logger } from '../log.js';
import { deleteBackup } from '../retention/prune.js';
import type { ObjectStore } from '../storage/object-store.js';
import { listBackups } from './catalog.js';
import { describeLease, liveLeases } from './reader-lease.js';
import type { BackupPhase } from './record.js';

/** What `backup delete` did. */
export interface DeleteBackupResult {
  name: string;
  /** Where the backup was (or would have been): its record's location, or the store's location and the name. */
  location: string;
  /** The backup's objects were deleted by this run. */
  deleted: boolean;
  /** There was no backup of that name: nothing to do, which counts as done. */
  alreadyGone: boolean;
  /** Its phase before the deletion (`Deleting`: an earlier deletion was interrupted and is finished now); null when gone. */
  phase: BackupPhase | null;
  /** Bytes its folder held, its record aside. */
  freedBytes: number;
}

/**
 * Refuses (exit 2, naming `argument`) a name that is not a plain backup name: empty, holding a
 * "/" or "\", "..", a control character, or starting with "." (the store's own folders, like
 * `.leases`). Backup names are `<group>-<profile>-<UTC time>` (catalog/names.ts); this takes any
 * single folder name that cannot reach outside the profile's root.
 */
export function assertPlainBackupName(name: string, argument = 'NAME'): void {
  let problem: string | null = null;
  if (name === '') problem = 'is empty';
  else if (name.includes('/') || name.includes('\\')) problem = 'holds a path separator';
  else if (name.includes('..')) problem = 'holds ".."';
  else if (name.startsWith('.')) problem = 'starts with "."';
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  else if (/[\u0000-\u001f\u007f]/.test(name)) problem = 'holds a control character';
  if (problem !== null) {
    throw new AppError('BACKUP_NAME_INVALID', `${argument} ${JSON.stringify(name)} ${problem}: it must be a plain backup name, like shop-local-20261130-064500`, ExitCode.usage, {
      hint: 'give the name of one backup, as `bloodraven backup list` shows it; nothing was deleted',
    });
  }
}

/**
 * Deletes the backup `name` from `store`. A name the catalog does not list is already gone
 * (`alreadyGone`, nothing touched), as is a storage folder that exists but holds no such backup.
 * Throws BACKUP_NAME_INVALID (exit 2) for a name that is not plain, PreconditionError (exit 3)
 * BACKUP_RUNNING for a backup whose run is alive (a fresh heartbeat) and BACKUP_IN_USE for one a
 * reader holds a live lease on (checked before and, against a lease taken meanwhile, after the
 * record is marked Deleting, as prune does); StorageError when the store cannot be read.
 */
export async function deleteStoredBackup(store: ObjectStore, name: string, options: { logger: Logger; signal?: AbortSignal; now?: () => Date }): Promise<DeleteBackupResult> {
  assertPlainBackupName(name);
  const now = options.now ?? (() => new Date());
  const signalOption = options.signal ? { signal: options.signal } : {};
  const entry = (await listBackups(store, { now: now(), ...signalOption })).find((e) => e.name === name);
  if (!entry) {
    options.logger.info('no such backup: nothing to delete', { name, location: store.location });
    return { name, location: `${store.location}/${name}`, deleted: false, alreadyGone: true, phase: null, freedBytes: 0 };
  }
  const location = entry.record?.location ?? `${store.location}/${name}`;
  if (entry.phase === 'Running') {
    throw new PreconditionError('BACKUP_RUNNING', `backup ${name} is still running (its heartbeat is fresh): it is not deleted while its run is alive`, {
      hint: 'wait for it to end (a run that died counts as failed once its heartbeat is 5 minutes old), then delete it',
    });
  }
  const readers = async (): Promise<string | null> => {
    const leases = await liveLeases(store, name, { now: now(), ...signalOption });
    return leases.length > 0 ? leases.map(describeLease).join(', ') : null;
  };
  const busy = (await readers()) ?? (await deleteBackup(store, entry, options.signal, readers));
  if (busy !== null) {
    throw new PreconditionError('BACKUP_IN_USE', `backup ${name} is being read by ${busy}: it is not deleted while a reader holds a lease on it`, {
      hint: 'run the deletion again once that verify or restore has ended (a lease of a reader that died expires within 5 minutes)',
    });
  }
  options.logger.info('backup deleted', { name, location });
  return { name, location, deleted: true, alreadyGone: false, phase: entry.phase, freedBytes: entry.heldBytes };
}
