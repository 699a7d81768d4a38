/**
 * Fetches archived binlogs to a local folder (`<dest>/<site>/<file>`), checking each against the
 * size and SHA-256 its manifest entry recorded (of the stored bytes), and decrypting an encrypted
 * one with its data key.
 */
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createFile, makeFolders, privateModes, umaskNarrows, type FileModes } from '../file-modes.js';
import { HashCounter } from '../storage/hash-counter.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { abortError, AppError, ExitCode, throwIfAborted } from '../errors.js';
import { unwrapDataKey, type KeyEncryptionKey } from '../crypto/keys.js';
import { createDecryptStream } from '../crypto/segments.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ArchivedBinlog } from './manifest.js';
import type { ReplayFile } from './replay.js';

export async function downloadBinlogs(
  store: ObjectStore,
  files: readonly ArchivedBinlog[],
  dest: string,
  options: {
    kek?: KeyEncryptionKey | null;
    signal?: AbortSignal;
    onFile?: (entry: ArchivedBinlog, path: string) => void;
    /** Modes of the folders and files created (the config's `umask`); default 0700/0600: binlogs hold row data. */
    modes?: FileModes;
  } = {},
): Promise<ReplayFile[]> {
  const out: ReplayFile[] = [];
  const modes = options.modes ?? privateModes;
  const narrowed = umaskNarrows(modes);
  for (const entry of files) {
    throwIfAborted(options.signal);
    const folder = join(dest, entry.site);
    await makeFolders(folder, modes, narrowed);
    const path = join(folder, entry.file);
    const partial = `${path}.part`;
    const hashing = new HashCounter();
    try {
      let key: Buffer | null = null;
      if (entry.encryption) {
        if (!options.kek) {
          throw new AppError('ENCRYPTION_KEY_REQUIRED', `archived binlog ${entry.key} is encrypted, and no passphrase that opens it is configured`, ExitCode.precondition, {
            hint: "set encryption.passphraseFile on the archive's profile",
          });
        }
        key = unwrapDataKey(options.kek, entry.encryption, `archived binlog ${entry.key}`);
      }
      const withSignal = options.signal ? { signal: options.signal } : {};
      // A leftover .part of an interrupted run is replaced, not written through: it is made anew with the modes.
      await rm(partial, { force: true });
      const handle = await createFile(partial, modes, { exclusive: true, narrowed });
      let stored: Readable;
      try {
        stored = await store.read(entry.key, withSignal);
      } catch (err) {
        await handle.close();
        throw err;
      }
      const written = handle.createWriteStream();
      // The signal goes to the pipeline too: a store whose stream ignores it must not keep copying.
      if (key) {
        await pipeline(stored, hashing, createDecryptStream(key, entry.key), written, withSignal);
      } else {
        await pipeline(stored, hashing, written, withSignal);
      }
      const sha256 = hashing.digest();
      const size = hashing.bytes;
      if (sha256 !== entry.sha256 || size !== entry.size) {
        throw new AppError('BINLOG_TAMPERED', `archived binlog ${entry.key} does not match its manifest (size ${size}, SHA-256 ${sha256}; recorded ${entry.size}, ${entry.sha256})`, ExitCode.failure, {
          hint: 'the archive is damaged; restore to a time before this file',
        });
      }
      await rename(partial, path);
    } catch (err) {
      await rm(partial, { force: true });
      // The pipeline's own AbortError says less than the interrupt's reason.
      if (options.signal?.aborted) throw abortError(options.signal);
      throw err;
    }
    out.push({ path, entry });
    options.onFile?.(entry, path);
  }
  return out;
}
