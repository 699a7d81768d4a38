/**
 * A view of one backup's folder through its data key: every file written is encrypted
 * (crypto/segments.ts) and every file read is decrypted, transparently for the dump engine and
 * the loader. The backup record stays readable (it holds names, sizes and times, never row data),
 * and so do the files bloodraven keeps about a backup (verification result, load progress).
 */
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { HashCounter } from './hash-counter.js';
import { isBookkeepingFile } from '../catalog/names.js';
import type { BackupRecord } from '../catalog/record.js';
import { unwrapDataKey, type KeyEncryptionKey } from '../crypto/keys.js';
import { createDecryptStream, createEncryptStream, decryptBuffer, encryptBuffer } from '../crypto/segments.js';
import { PreconditionError } from '../errors.js';
import type { ObjectStore, StoreOptions, WriteResult } from './object-store.js';
import { ObjectCheck, type ExpectedObject } from './object-check.js';

/** How a restore reads a backup: its files as the dump wrote them, each checkable against its record. */
export interface BackupView extends ObjectStore {
  /**
   * The plain bytes of `key`, with its STORED bytes (before decryption) checked against
   * `expected`: the stream fails with ObjectMismatchError, instead of ending, when they differ.
   */
  readChecked(key: string, expected: ExpectedObject, options?: StoreOptions): Promise<Readable>;
}

/** `stored` through `stages`, as one readable that fails whenever any stage fails. */
function through(stored: Readable, ...stages: NodeJS.ReadWriteStream[]): Readable {
  const out = new PassThrough();
  pipeline([stored, ...stages, out], (err) => {
    if (err) out.destroy(err);
  });
  return out;
}

export function encryptedBackupStore(inner: ObjectStore, prefix: string, key: Buffer, segmentSize: number): BackupView {
  /** The file's name inside the backup, or null when it is kept plain (or outside the backup). */
  const sealedName = (k: string): string | null => {
    if (!k.startsWith(prefix)) return null;
    const name = k.slice(prefix.length);
    return isBookkeepingFile(name) ? null : name;
  };
  return {
    ...forwarding(inner),
    hashesWrites: true,
    sealing: { key, segmentSize, sealedName, inner },
    async write(k: string, body: Readable, options?: StoreOptions): Promise<WriteResult> {
      const name = sealedName(k);
      if (name === null) return inner.write(k, body, options);
      const encrypt = createEncryptStream(key, name, segmentSize);
      // The record keeps the SHA-256 of what is stored: the ciphertext.
      const hashing = new HashCounter();
      // A failure anywhere reaches the inner store as a failing body: it then stores nothing.
      pipeline(body, encrypt, hashing, (err) => {
        if (err) hashing.destroy(err);
      });
      const result = await inner.write(k, hashing, options);
      return { bytes: result.bytes, sha256: hashing.digest()! };
    },
    async put(k: string, data: string | Uint8Array, options?: StoreOptions): Promise<void> {
      const name = sealedName(k);
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
      await inner.put(k, name === null ? bytes : await encryptBuffer(key, name, bytes), options);
    },
    async read(k: string, options?: StoreOptions): Promise<Readable> {
      const name = sealedName(k);
      const stored = await inner.read(k, options);
      // A file that fails authentication fails its reader, never ends quietly.
      return name === null ? stored : through(stored, createDecryptStream(key, name));
    },
    async readChecked(k: string, expected: ExpectedObject, options?: StoreOptions): Promise<Readable> {
      const name = sealedName(k);
      const stored = await inner.read(k, options);
      const check = new ObjectCheck(k.slice(prefix.length), expected);
      return name === null ? through(stored, check) : through(stored, check, createDecryptStream(key, name));
    },
    async get(k: string, options?: StoreOptions): Promise<Buffer> {
      const name = sealedName(k);
      const stored = await inner.get(k, options);
      return name === null ? stored : decryptBuffer(key, name, stored);
    },
  };
}

/**
 * How a backup's files are read: through its data key when its record says it is encrypted
 * (which needs the profile's key), as they are otherwise.
 */
export function backupView(store: ObjectStore, prefix: string, record: Pick<BackupRecord, 'name' | 'encryption'> | null, kek: KeyEncryptionKey | null): BackupView {
  const wrapped = record?.encryption;
  if (!wrapped) return plainBackupView(store, prefix);
  if (!kek) {
    throw new PreconditionError('ENCRYPTION_KEY_REQUIRED', `backup ${record.name} is encrypted, and no passphrase that opens it is configured`, {
      hint: "set encryption.passphraseFile on the profile whose storage holds it (its encryption.json is the profile's keyring)",
    });
  }
  return encryptedBackupStore(store, prefix, unwrapDataKey(kek, wrapped, `backup ${record.name}`), wrapped.segmentSize);
}

/** A store that passes every call to `store` (adapters may be class instances: methods are bound here). */
function forwarding(store: ObjectStore): ObjectStore {
  return {
    location: store.location,
    type: store.type,
    ...(store.hashesWrites ? { hashesWrites: store.hashesWrites } : {}),
    check: (options) => store.check(options),
    checkReadable: (options) => store.checkReadable(options),
    exists: (k, options) => store.exists(k, options),
    list: (p, options) => store.list(p, options),
    delete: (k, options) => store.delete(k, options),
    deleteMany: (keys, options) => store.deleteMany(keys, options),
    deletePrefix: (p, options) => store.deletePrefix(p, options),
    write: (k, body, options) => store.write(k, body, options),
    put: (k, data, options) => store.put(k, data, options),
    putIfAbsent: (k, data, options) => store.putIfAbsent(k, data, options),
    read: (k, options) => store.read(k, options),
    get: (k, options) => store.get(k, options),
  };
}

/** The files of an unencrypted backup as they are, with checked reads. */
function plainBackupView(store: ObjectStore, prefix: string): BackupView {
  return {
    ...forwarding(store),
    async readChecked(k, expected, options) {
      return through(await store.read(k, options), new ObjectCheck(k.startsWith(prefix) ? k.slice(prefix.length) : k, expected));
    },
  };
}
