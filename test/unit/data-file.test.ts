import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Compression } from '../../src/lib/config/schema.js';
import { DataFileSink } from '../../src/lib/dump/data-file.js';
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

describe('DataFileSink: small files stored whole, large ones streamed', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bloodraven-datafile-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Stores `blocks` as one file; returns the result, the stored bytes and how they were stored. */
  async function store(compression: Compression, blocks: Buffer[]) {
    const { store, calls } = countingStore(dir);
    const sink = new DataFileSink({ store, key: 'd/f', name: 'f', compression, signal: new AbortController().signal, onDrain: () => undefined });
    for (const b of blocks) sink.push(b);
    sink.setContent(blocks.length, 'sum');
    const result = await sink.finish();
    return { result, stored: await readFile(join(dir, 'd', 'f')), calls };
  }

  for (const compression of ['zstd', 'gzip', 'none'] as const) {
    it(`a file of a few rows is one put, and reads back (${compression})`, async () => {
      const rows = [Buffer.from('1\ta\n'), Buffer.from('2\tb\n')];
      const { result, stored, calls } = await store(compression, rows);
      expect(calls).toEqual({ write: 0, put: 1 });
      expect(decompress[compression](stored).toString()).toBe('1\ta\n2\tb\n');
      expect(result).toMatchObject({ name: 'f', rows: 2, rawBytes: 8, storedBytes: stored.length, checksum: 'sum' });
      expect(result.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    });
  }

  it('an empty file is a valid empty frame', async () => {
    const { stored, calls } = await store('zstd', []);
    expect(calls.put).toBe(1);
    expect(decompress.zstd(stored).length).toBe(0);
  });

  it('a file past the bound streams, keeping every byte in order', async () => {
    const blocks = Array.from({ length: 6 }, () => randomBytes(100 * 1024));
    const { result, stored, calls } = await store('zstd', blocks);
    expect(calls).toEqual({ write: 1, put: 0 });
    expect(decompress.zstd(stored).equals(Buffer.concat(blocks))).toBe(true);
    expect(result.storedBytes).toBe(stored.length);
    expect(result.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
  });

  it('an abandoned small file leaves nothing in storage', async () => {
    const { store, calls } = countingStore(dir);
    const sink = new DataFileSink({ store, key: 'd/f', name: 'f', compression: 'zstd', signal: new AbortController().signal, onDrain: () => undefined });
    sink.push(Buffer.from('1\ta\n'));
    await sink.abort(new Error('stop'));
    expect(calls).toEqual({ write: 0, put: 0 });
    expect(await store.list('')).toEqual([]);
  });
});
