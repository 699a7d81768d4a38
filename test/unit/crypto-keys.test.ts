/** The envelope (crypto/keys.ts): passphrase check, data-key wrapping and re-wrapping. */
import { describe, expect, it } from 'vitest';
import { newDataKey, newKeyring, rewrap, unlockKeyring, unwrapDataKey } from '../../src/lib/crypto/keys.js';
import { AppError } from '../../src/lib/errors.js';

// Cheap scrypt parameters: these tests are about the envelope, not the cost.
const kdf = { N: 1024, r: 8, p: 1 };

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return err instanceof AppError ? err.code : 'not an AppError';
  }
  return undefined;
}

describe('keyring', () => {
  it('records the KDF and salt, and only the right passphrase unlocks it', async () => {
    const { keyring, kek } = await newKeyring('correct horse', kdf);
    expect(keyring.kdf).toMatchObject({ name: 'scrypt', N: 1024, r: 8, p: 1 });
    expect(Buffer.from(keyring.kdf.salt, 'base64')).toHaveLength(16);
    expect((await unlockKeyring(keyring, 'correct horse')).key.equals(kek.key)).toBe(true);
    expect(await codeOf(() => unlockKeyring(keyring, 'correct horse '))).toBe('WRONG_PASSPHRASE');
  });

  it('gives two profiles with the same passphrase different keys (salted)', async () => {
    const a = await newKeyring('same', kdf);
    const b = await newKeyring('same', kdf);
    expect(a.kek.key.equals(b.kek.key)).toBe(false);
    expect(a.keyring.keyId).not.toBe(b.keyring.keyId);
  });
});

describe('data keys', () => {
  it('are random 256-bit keys, stored only wrapped', async () => {
    const { kek } = await newKeyring('p', kdf);
    const one = newDataKey(kek, 4096);
    const two = newDataKey(kek, 4096);
    expect(one.key).toHaveLength(32);
    expect(one.key.equals(two.key)).toBe(false);
    expect(JSON.stringify(one.wrapped)).not.toContain(one.key.toString('base64'));
    expect(one.wrapped).toMatchObject({ keyId: kek.keyId, cipher: 'AES-256-GCM', segmentSize: 4096 });
    expect(unwrapDataKey(kek, one.wrapped, 'backup x').equals(one.key)).toBe(true);
  });

  it('do not open with another profile key, or when the wrapped value is changed', async () => {
    const { kek } = await newKeyring('p', kdf);
    const other = (await newKeyring('p', kdf)).kek;
    const { wrapped } = newDataKey(kek, 4096);
    expect(await codeOf(() => unwrapDataKey(other, wrapped, 'backup x'))).toBe('DATA_KEY_UNREADABLE');
    const bytes = Buffer.from(wrapped.wrapped, 'base64');
    bytes[20]! ^= 1;
    expect(await codeOf(() => unwrapDataKey(kek, { ...wrapped, wrapped: bytes.toString('base64') }, 'backup x'))).toBe('DATA_KEY_UNREADABLE');
  });

  it('re-wrap to a new key: the same data key, no longer opened by the old one', async () => {
    const old = (await newKeyring('old', kdf)).kek;
    const next = (await newKeyring('new', kdf)).kek;
    const { key, wrapped } = newDataKey(old, 4096);
    const moved = rewrap(old, next, wrapped, 'backup x');
    expect(moved.keyId).toBe(next.keyId);
    expect(unwrapDataKey(next, moved, 'backup x').equals(key)).toBe(true);
    expect(await codeOf(() => unwrapDataKey(old, moved, 'backup x'))).toBe('DATA_KEY_UNREADABLE');
  });
});
