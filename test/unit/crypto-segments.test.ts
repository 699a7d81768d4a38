/**
 * The segment format (crypto/segments.ts): round trips of any size and chunking, and each kind
 * of tampering caught, naming the file.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDecryptStream, createEncryptStream, decryptBuffer, encryptBuffer, TamperedError } from '../../src/lib/crypto/segments.js';

const key = randomBytes(32);
const segment = 64;
const header = 18;
const sealedSegment = segment + 16;

function run(t: NodeJS.ReadWriteStream, chunks: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    t.on('data', (b: Buffer) => out.push(b));
    t.on('end', () => resolve(Buffer.concat(out)));
    t.on('error', reject);
    for (const c of chunks) t.write(c);
    t.end();
  });
}

function split(data: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = sizes[i++ % sizes.length]!;
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

const encrypt = (data: Buffer, name = 'db@t@0.tsv.zst', chunks = [data]): Promise<Buffer> => run(createEncryptStream(key, name, segment), chunks);
const decrypt = (data: Buffer, name = 'db@t@0.tsv.zst', k = key): Promise<Buffer> => run(createDecryptStream(k, name), split(data, [7, 100, 33]));

async function expectTampered(promise: Promise<unknown>): Promise<TamperedError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TamperedError);
  expect((err as TamperedError).code).toBe('ENCRYPTED_FILE_TAMPERED');
  expect((err as Error).message).toContain('db@t@0.tsv.zst');
  return err as TamperedError;
}

describe('round trip', () => {
  it.each([0, 1, segment - 1, segment, segment + 1, segment * 10, segment * 10 + 5])('%i bytes, written and read in odd chunks', async (size) => {
    const plain = randomBytes(size);
    const sealed = await encrypt(plain, undefined, size === 0 ? [] : split(plain, [3, 61, 200, 1]));
    // The header, then whole segments, then the last one (never empty unless the file is).
    const segments = Math.max(1, Math.ceil(size / segment));
    expect(sealed.length).toBe(header + size + 16 * segments);
    expect(await decrypt(sealed)).toEqual(plain);
  });

  it('hides the plaintext and never repeats a ciphertext for the same input', async () => {
    const plain = Buffer.from('secret-row-value '.repeat(20));
    const a = await encrypt(plain);
    const b = await encrypt(plain);
    expect(a.includes(Buffer.from('secret-row-value'))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('streams: plaintext comes out before the whole file has gone in', async () => {
    const sealed = await encrypt(randomBytes(segment * 20));
    const d = createDecryptStream(key, 'db@t@0.tsv.zst');
    let out = 0;
    d.on('data', (b: Buffer) => (out += b.length));
    d.write(sealed.subarray(0, header + sealedSegment * 5));
    await new Promise((r) => setImmediate(r));
    expect(out).toBe(segment * 4);
    d.destroy();
  });

  it('buffers round-trip too', async () => {
    const plain = Buffer.from('{"dumper":"bloodraven"}');
    expect(await decryptBuffer(key, '@.json', await encryptBuffer(key, '@.json', plain))).toEqual(plain);
  });
});

describe('tampering', () => {
  const plain = randomBytes(segment * 5 + 10);

  it('a flipped byte, in any segment or in the tag', async () => {
    const sealed = await encrypt(plain);
    for (const at of [header, header + sealedSegment + 3, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      const err = await expectTampered(decrypt(bad));
      expect(err.message).toMatch(/segment \d+ does not authenticate/);
    }
  });

  it('a flipped byte in the header (nonce prefix or segment size)', async () => {
    const sealed = await encrypt(plain);
    for (const at of [7, 12]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x10;
      await expectTampered(decrypt(bad));
    }
  });

  it('a header claiming huge segments is refused at once, not buffered for', async () => {
    const sealed = await encrypt(plain);
    const bad = Buffer.from(sealed);
    bad.writeUInt32BE(0xffffffff, 6);
    const err = await expectTampered(decrypt(bad));
    expect(err.message).toContain('claims segments of 4294967295 bytes');
  });

  it('cut at a segment boundary (the last segment dropped)', async () => {
    const sealed = await encrypt(plain);
    await expectTampered(decrypt(sealed.subarray(0, header + sealedSegment * 5)));
  });

  it('cut inside a segment, or down to the header', async () => {
    const sealed = await encrypt(plain);
    await expectTampered(decrypt(sealed.subarray(0, sealed.length - 5)));
    await expectTampered(decrypt(sealed.subarray(0, header)));
    await expectTampered(decrypt(sealed.subarray(0, 10)));
    await expectTampered(decrypt(Buffer.alloc(0)));
  });

  it('two segments swapped', async () => {
    const sealed = await encrypt(plain);
    const s1 = sealed.subarray(header + sealedSegment, header + 2 * sealedSegment);
    const s2 = sealed.subarray(header + 2 * sealedSegment, header + 3 * sealedSegment);
    const bad = Buffer.concat([sealed.subarray(0, header + sealedSegment), s2, s1, sealed.subarray(header + 3 * sealedSegment)]);
    await expectTampered(decrypt(bad));
  });

  it('a segment repeated, or data appended after the last one', async () => {
    const sealed = await encrypt(plain);
    const first = sealed.subarray(header, header + sealedSegment);
    await expectTampered(decrypt(Buffer.concat([sealed.subarray(0, header + sealedSegment), first, sealed.subarray(header + sealedSegment)])));
    await expectTampered(decrypt(Buffer.concat([sealed, first])));
  });

  it('a file swapped for another file of the same backup (same key, other name)', async () => {
    const other = await encrypt(plain, 'db@t@1.tsv.zst');
    await expectTampered(decrypt(other, 'db@t@0.tsv.zst'));
  });

  it("a file of another backup (another data key)", async () => {
    const sealed = await encrypt(plain);
    await expectTampered(decrypt(sealed, 'db@t@0.tsv.zst', randomBytes(32)));
  });

  it('a plain file where an encrypted one belongs', async () => {
    const err = await expectTampered(decrypt(Buffer.from('1\tplain text row\n'.repeat(10))));
    expect(err.message).toContain('not an encrypted bloodraven file');
  });
});
