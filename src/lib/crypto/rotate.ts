/**
 * `keys rotate`: moves a profile to a new passphrase by re-wrapping every data key (in backup
 * records and binlog manifests) with the new key-encryption key. No data file is rewritten.
 *
 * Crash-safe in three steps, each of which can be run again:
 * 1. the new keyring is written beside the old one as `encryption.next.json`;
 * 2. every wrapped key still under the old key id is re-wrapped (already re-wrapped ones are
 *    left alone), record by record and manifest by manifest;
 * 3. the new keyring replaces `encryption.json`, and `encryption.next.json` is removed.
 * An interrupted rotation is finished by running it again with the same two passphrases; until
 * then the old passphrase still opens the keyring, and readers may meet keys of either id.
 */
import { recordFileName } from '../catalog/names.js';
import { listBackups } from '../catalog/catalog.js';
import type { Clock } from '../clock.js';
import { AppError, ExitCode, PreconditionError } from '../errors.js';
import type { Logger } from '../log.js';
import { readAllManifests, writeSiteManifest } from '../pitr/manifest.js';
import { writeJson } from '../storage/json.js';
import type { ObjectStore } from '../storage/object-store.js';
import { keyringFileName, newKeyring, readKeyring, rewrap, unlockKeyring, type KeyEncryptionKey, type WrappedKey } from './keys.js';

export const nextKeyringFileName = 'encryption.next.json';

export interface RotateResult {
  /** Null when only the last step of an interrupted rotation was left. */
  oldKeyId: string | null;
  newKeyId: string;
  backups: number;
  binlogs: number;
  /** True when an interrupted rotation was found and finished. */
  resumed: boolean;
}

export async function rotateKeys(
  deps: { store: ObjectStore; logger: Logger; clock: Clock },
  passphrases: { current: string; next: string },
  signal?: AbortSignal,
): Promise<RotateResult> {
  const { store, logger } = deps;
  const options = signal ? { signal } : {};
  const keyring = await readKeyring(store);
  if (!keyring) {
    throw new PreconditionError('NO_KEYRING', `${store.location} has no ${keyringFileName}: nothing is encrypted with this profile's key yet`, {
      hint: 'set encryption.passphraseFile on the profile and take a backup first; rotation re-wraps existing keys',
    });
  }
  if (passphrases.current === passphrases.next) {
    throw new AppError('SAME_PASSPHRASE', 'the new passphrase is the same as the current one', ExitCode.usage, { hint: 'choose a new passphrase' });
  }
  const pending = await readKeyring(store, nextKeyringFileName);
  if (pending?.keyId === keyring.keyId) {
    // Stopped between its last two steps: the new keyring is in place already.
    const to = await unlockKeyring(pending, passphrases.next);
    await store.delete(nextKeyringFileName, options);
    return { oldKeyId: null, newKeyId: to.keyId, backups: 0, binlogs: 0, resumed: true };
  }
  // The current passphrase is checked before anything is written.
  const from = await unlockKeyring(keyring, passphrases.current);
  const running = (await listBackups(store, { ...options, now: deps.clock.now() })).filter((e) => e.phase === 'Running');
  if (running.length > 0) {
    throw new PreconditionError('BACKUP_RUNNING', `backup ${running.map((e) => e.name).join(', ')} is running: its key would be wrapped with the old passphrase after the rotation`, {
      hint: 'rotate once it has finished (stop the daemon meanwhile, or pick a time between schedules)',
    });
  }

  let to: KeyEncryptionKey;
  let resumed = false;
  if (pending) {
    // An earlier rotation stopped half-way: finish it, with the passphrase it was started with.
    to = await unlockKeyring(pending, passphrases.next).catch(() => {
      throw new PreconditionError('ROTATION_PENDING', `an unfinished rotation to another passphrase is recorded in ${nextKeyringFileName} (key ${pending.keyId})`, {
        hint: 'run keys rotate again with the new passphrase it was started with; or, if that one is lost, delete that file and start over',
      });
    });
    resumed = true;
    logger.info('finishing an interrupted key rotation', { from: from.keyId, to: to.keyId });
  } else {
    const made = await newKeyring(passphrases.next, { N: keyring.kdf.N, r: keyring.kdf.r, p: keyring.kdf.p });
    await writeJson(store, nextKeyringFileName, made.keyring, options);
    to = made.kek;
  }

  const moved = (wrapped: WrappedKey, what: string): WrappedKey | null => {
    if (wrapped.keyId === to.keyId) return null;
    return rewrap(from, to, wrapped, what);
  };

  let backups = 0;
  for (const entry of await listBackups(store, options)) {
    // The record as stored (the catalog parses it and nothing more), so only its key changes.
    const record = entry.record;
    if (!record?.encryption) continue;
    const next = moved(record.encryption, `backup ${entry.name}`);
    if (next) await writeJson(store, entry.prefix + recordFileName, { ...record, encryption: next }, options);
    backups++;
  }

  let binlogs = 0;
  for (const manifest of await readAllManifests(store, signal)) {
    let changed = false;
    for (const entry of manifest.entries) {
      if (!entry.encryption) continue;
      const next = moved(entry.encryption, `archived binlog ${entry.key}`);
      if (next) {
        entry.encryption = next;
        changed = true;
      }
      binlogs++;
    }
    if (changed) await writeSiteManifest(store, manifest, signal);
  }

  const finished = (await readKeyring(store, nextKeyringFileName)) ?? pending;
  if (!finished) throw new AppError('ROTATION_LOST', `${nextKeyringFileName} disappeared during the rotation`, ExitCode.failure, { hint: 'run keys rotate again' });
  await writeJson(store, keyringFileName, finished, options);
  await store.delete(nextKeyringFileName, options);
  logger.info('keys rotated', { from: from.keyId, to: to.keyId, backups, binlogs });
  return { oldKeyId: from.keyId, newKeyId: to.keyId, backups, binlogs, resumed };
}
