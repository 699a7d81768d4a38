import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Compression } from '../../src/lib/config/schema.js';
import { decryptBuffer } from '../../src/lib/crypto/segments.js';
import { DataFileWriter } from '../../src/lib/dump/data-file.js';
import type { FromThread, ThreadFileEnd } from '../../src/lib/dump/thread-protocol.js';
import { OutgoingFile } from '../../src/lib/dump/thread-task.js';
import { TsvEncoder } from '../../src/lib/dump/tsv-encoder.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';

/** A folder store that counts how its objects arrive: streamed (write) or whole (put). */
function countingStore(root: string): { store: ObjectStore; calls: { write: number; put: number } } {
  const inner = createFsStore({ root });
  const calls = { write: 0, put: 0 };
  const store: ObjectStore = {
    ...inner,
    write: (key, body, o) => {
      calls.write++;
      return inner.write(key, body, o);
    },
    put: (key, data, o) => {
      calls.put++;
      return inner.put(key, data, o);
    },
  };
  return { store, calls };
}

const decompress: Record<Compression, (b: Buffer) => Buffer> = {
  zstd: (b) => zlib.zstdDecompressSync(b),
  gzip: (b) => zlib.gunzipSync(b),
  none: (b) => b,
};

describe('a data file from its dump thread to storage: small files stored whole, large ones streamed', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bloodraven-datafile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Encodes `rows` (one single-column row each) in a thread's OutgoingFile and stores what it
   * posts through a DataFileWriter, as dump-instance.ts does; returns the result, the stored bytes
   * and how they were stored.
   */
  async function store(compression: Compression, rows: Buffer[], seal: { key: Buffer; segmentSize: number } | null = null) {
    const { store, calls } = countingStore(dir);
    const writer = new DataFileWriter({ store, key: 'd/f', name: 'f', signal: new AbortController().signal, onDrain: () => undefined });
    let end: ThreadFileEnd | undefined;
    const post = (m: FromThread): void => {
      if (m.type === 'open') writer.open();
      else if (m.type === 'block') writer.push(Buffer.from(m.data));
      else if (m.type === 'file') {
        const { type: _t, task: _k, file: _f, name: _n, ...rest } = m;
        end = rest;
      }
    };
    const task = { id: 1, sql: '', kinds: ['text' as const], encoderBlock: 64 * 1024, compression, kind: 'range' as const, bytesPerChunk: 1e9, storeHashes: false, naming: { basename: 's@t', extension: 'tsv.zst', rangeChunk: 0, rangeLast: true }, seal };
    const file = new OutgoingFile(task, 0, true, post, () => undefined);
    const encoder = new TsvEncoder(['text'], 64 * 1024);
    for (const row of rows) {
      // A text-protocol row packet of one column: a length byte (< 251) or 0xfc + 2 bytes, then the value.
      const header = row.length < 251 ? Buffer.from([row.length]) : Buffer.from([0xfc, row.length & 0xff, row.length >> 8]);
      const packet = Buffer.concat([header, row]);
      encoder.encodeRow(packet, 0, packet.length);
      if (encoder.full) file.push(encoder.take()!);
    }
    const last = encoder.take();
    if (last) file.push(last);
    await file.finish(encoder);
    const result = await writer.finish(end!);
    return { result, stored: await readFile(join(dir, 'd', 'f')), calls, checksum: encoder.checksum.digest() };
  }

  for (const compression of ['zstd', 'gzip', 'none'] as const) {
    it(`a file of a few rows is one put, and reads back (${compression})`, async () => {
      const rows = [Buffer.from('a'), Buffer.from('b\tc')];
      const { result, stored, calls, checksum } = await store(compression, rows);
      expect(calls).toEqual({ write: 0, put: 1 });
      expect(decompress[compression](stored).toString()).toBe('a\nb\\tc\n');
      expect(result).toMatchObject({ name: 'f', rows: 2, rawBytes: 7, storedBytes: stored.length, checksum });
      expect(result.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    });
  }

  it('an empty file is a valid empty frame', async () => {
    const { stored, calls } = await store('zstd', []);
    expect(calls.put).toBe(1);
    expect(decompress.zstd(stored).length).toBe(0);
  });

  it('a file past the bound streams, keeping every byte in order', async () => {
    // 640 rows of 1,000 hex characters: 640 KB encoded, past the 256 KB bound.
    const rows = Array.from({ length: 640 }, () => Buffer.from(randomBytes(500).toString('hex')));
    const { result, stored, calls } = await store('zstd', rows);
    expect(calls).toEqual({ write: 1, put: 0 });
    expect(decompress.zstd(stored).toString()).toBe(rows.map((r) => `${r.toString()}\n`).join(''));
    expect(result.storedBytes).toBe(stored.length);
    expect(result.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
  });

  for (const size of ['small', 'large'] as const) {
    it(`a ${size} file sealed in the thread is stored as sealed, hashed as stored, and opens with the key for its name`, async () => {
      const key = randomBytes(32);
      const rows = Array.from({ length: size === 'small' ? 3 : 640 }, () => Buffer.from(randomBytes(500).toString('hex')));
      const { result, stored, calls } = await store('zstd', rows, { key, segmentSize: 64 * 1024 });
      expect(calls).toEqual(size === 'small' ? { write: 0, put: 1 } : { write: 1, put: 0 });
      expect(result.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
      expect(result.storedBytes).toBe(stored.length);
      const plain = decompress.zstd(await decryptBuffer(key, 's@t@@0.tsv.zst', stored));
      expect(plain.toString()).toBe(rows.map((r) => `${r.toString()}\n`).join(''));
      // Sealed for its own name only: another file's name does not open it.
      await expect(decryptBuffer(key, 's@t@@1.tsv.zst', stored)).rejects.toThrow();
    });
  }

  it('an abandoned streaming file leaves nothing in storage', async () => {
    const { store, calls } = countingStore(dir);
    const writer = new DataFileWriter({ store, key: 'd/f', name: 'f', signal: new AbortController().signal, onDrain: () => undefined });
    writer.open();
    writer.push(Buffer.from('partial'));
    await writer.abort(new Error('stop'));
    expect(calls).toEqual({ write: 1, put: 0 });
    expect(await store.list('')).toEqual([]);
  });
});
