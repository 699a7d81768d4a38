/**
 * Envelope encryption for a profile. Every backup and every archived binlog gets its own random
 * 256-bit data key; data keys are stored wrapped (AES-256-GCM) with a key-encryption key derived
 * from the profile's passphrase with scrypt. The profile's storage keeps `encryption.json`: the
 * key id, the scrypt parameters and salt, and a check value that tells a wrong passphrase apart
 * before anything is read or touched. Rotating the passphrase re-wraps the data keys only.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID, scrypt, type ScryptOptions } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AppError, ConfigError, ExitCode } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJson, writeJson } from '../storage/json.js';

export const keyringFileName = 'encryption.json';

export interface KdfParams {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
}

export interface Keyring {
  version: 1;
  keyId: string;
  kdf: KdfParams;
  /** The constant "bloodraven" sealed with the key-encryption key (base64), to check a passphrase. */
  check: string;
  createdAt: string;
}

/** A data key as stored beside what it encrypts. */
export interface WrappedKey {
  keyId: string;
  /** base64: nonce (12) | ciphertext (32) | tag (16) */
  wrapped: string;
  cipher: 'AES-256-GCM';
  segmentSize: number;
}

/** A key-encryption key, derived and checked. */
export interface KeyEncryptionKey {
  keyId: string;
  key: Buffer;
}

const defaultKdf = { N: 2 ** 15, r: 8, p: 1 };
const checkText = Buffer.from('bloodraven');

function derive(passphrase: string, kdf: KdfParams): Promise<Buffer> {
  const options: ScryptOptions = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), 32, options, (err, key) => (err ? reject(err) : resolve(key))));
}

function seal(key: Buffer, plain: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

function open(key: Buffer, sealed: string, aad: string): Buffer | null {
  const data = Buffer.from(sealed, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
  } catch {
    return null;
  }
}

/** Reads a passphrase file (one trailing newline dropped); an empty passphrase is refused. */
export async function readPassphrase(path: string, field: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError([{ path: field, message: `cannot read ${path}: ${(err as Error).message}` }]);
  }
  if (!text) throw new ConfigError([{ path: field, message: `${path} is empty` }]);
  return text;
}

/** The profile's keyring (or, for a rotation, the one waiting under `fileName`). */
export function readKeyring(store: ObjectStore, fileName = keyringFileName): Promise<Keyring | null> {
  return readJson<Keyring>(store, fileName);
}

/** A new keyring for `passphrase` (a fresh salt and key id). */
export async function newKeyring(passphrase: string, kdf: Omit<KdfParams, 'name' | 'salt'> = defaultKdf): Promise<{ keyring: Keyring; kek: KeyEncryptionKey }> {
  const params: KdfParams = { name: 'scrypt', ...kdf, salt: randomBytes(16).toString('base64') };
  const key = await derive(passphrase, params);
  const keyId = randomUUID();
  return { keyring: { version: 1, keyId, kdf: params, check: seal(key, checkText, keyId), createdAt: new Date().toISOString() }, kek: { keyId, key } };
}

/** Derives the key-encryption key and checks the passphrase against the keyring. */
export async function unlockKeyring(keyring: Keyring, passphrase: string): Promise<KeyEncryptionKey> {
  const key = await derive(passphrase, keyring.kdf);
  const check = open(key, keyring.check, keyring.keyId);
  if (!check?.equals(checkText)) {
    throw new AppError('WRONG_PASSPHRASE', `the passphrase does not open this profile's encryption keys (key ${keyring.keyId})`, ExitCode.precondition, {
      hint: "check the profile's encryption.passphraseFile; after `keys rotate`, only the new passphrase works",
    });
  }
  return { keyId: keyring.keyId, key };
}

/**
 * The profile's key-encryption key: unlocks the keyring in storage, or creates one with this
 * passphrase when the profile has none yet.
 */
export async function profileKek(store: ObjectStore, passphrase: string): Promise<KeyEncryptionKey> {
  const existing = await readKeyring(store);
  if (existing) return unlockKeyring(existing, passphrase);
  const { keyring, kek } = await newKeyring(passphrase);
  await writeJson(store, keyringFileName, keyring);
  // Another process may have created one at the same moment: the one stored is the profile's.
  const stored = await readKeyring(store);
  if (stored && stored.keyId !== keyring.keyId) return unlockKeyring(stored, passphrase);
  return kek;
}

/**
 * Throws unless `kek` is still the profile's key. Checked before a backup or an archived binlog
 * is declared done, so that data keys wrapped with a key the profile no longer has (a keyring
 * replaced by a concurrent first write, or a rotation) fail loudly instead of being unreadable.
 */
export async function assertKeyIsCurrent(store: ObjectStore, kek: KeyEncryptionKey): Promise<void> {
  const keyring = await readKeyring(store);
  if (keyring?.keyId !== kek.keyId) {
    throw new AppError('KEYRING_CHANGED', `the profile's keyring changed while this ran (key ${kek.keyId} is now ${keyring?.keyId ?? 'gone'})`, ExitCode.failure, {
      hint: 'a key rotation or another first encrypted write happened meanwhile; run it again',
      retryable: true,
    });
  }
}

export function newDataKey(kek: KeyEncryptionKey, segmentSize: number): { key: Buffer; wrapped: WrappedKey } {
  const key = randomBytes(32);
  return { key, wrapped: { keyId: kek.keyId, wrapped: seal(kek.key, key, kek.keyId), cipher: 'AES-256-GCM', segmentSize } };
}

export function unwrapDataKey(kek: KeyEncryptionKey, wrapped: WrappedKey, what: string): Buffer {
  const key = wrapped.keyId === kek.keyId ? open(kek.key, wrapped.wrapped, kek.keyId) : null;
  if (!key) {
    throw new AppError('DATA_KEY_UNREADABLE', `the data key of ${what} does not open with the profile's key (${kek.keyId}; it was wrapped with ${wrapped.keyId})`, ExitCode.failure, {
      hint: 'the record was changed, or a key rotation did not finish: run `bloodraven keys rotate` again with the same passphrases',
    });
  }
  return key;
}

/** The same data key, wrapped with another key-encryption key (key rotation). */
export function rewrap(from: KeyEncryptionKey, to: KeyEncryptionKey, wrapped: WrappedKey, what: string): WrappedKey {
  const key = unwrapDataKey(from, wrapped, what);
  return { ...wrapped, keyId: to.keyId, wrapped: seal(to.key, key, to.keyId) };
}

/**
 * The key-encryption key of one profile, read afresh on every call (the passphrase file and the
 * keyring may change under a long-running daemon: a rotation), derived once per passphrase and
 * keyring.
 */
export interface ProfileKeys {
  /** Whether the profile encrypts (it names a passphrase file). */
  readonly enabled: boolean;
  /** For writing: creates the profile's keyring the first time. Null when the profile does not encrypt. */
  forWriting(): Promise<KeyEncryptionKey | null>;
  /** For reading: null when the profile does not encrypt or has no keyring yet. */
  forReading(): Promise<KeyEncryptionKey | null>;
}

export function profileKeys(store: ObjectStore, passphraseFile: string | undefined, field: string): ProfileKeys {
  let cached: { id: string; kek: KeyEncryptionKey } | undefined;
  // One at a time: a backup and the archiver starting together must not both create a keyring.
  let writing: Promise<unknown> = Promise.resolve();
  const unlock = async (keyring: Keyring, passphrase: string): Promise<KeyEncryptionKey> => {
    const id = `${keyring.keyId}\u0000${keyring.kdf.salt}\u0000${passphrase}`;
    if (cached?.id === id) return cached.kek;
    const kek = await unlockKeyring(keyring, passphrase);
    cached = { id, kek };
    return kek;
  };
  return {
    enabled: passphraseFile !== undefined,
    forWriting() {
      const next = writing.then(async () => {
        if (passphraseFile === undefined) return null;
        const passphrase = await readPassphrase(passphraseFile, field);
        const keyring = await readKeyring(store);
        if (keyring) return unlock(keyring, passphrase);
        return profileKek(store, passphrase);
      });
      writing = next.catch(() => undefined);
      return next;
    },
    async forReading() {
      if (passphraseFile === undefined) return null;
      const passphrase = await readPassphrase(passphraseFile, field);
      const keyring = await readKeyring(store);
      return keyring ? unlock(keyring, passphrase) : null;
    },
  };
}
