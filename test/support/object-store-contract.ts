/**
 * The behaviour every ObjectStore adapter promises (see src/lib/storage/object-store.ts), as one
 * suite each adapter's integration test runs against a real backend.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, NotFoundError, StorageError } from '../../src/lib/errors.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';

export interface StoreHarness {
  /** The store's part size: bodies are sized in parts so that multipart paths are exercised. */
  partSize: number;
  /** A store over a fresh, empty root (a new folder, or a new prefix in the bucket). */
  newStore(): Promise<ObjectStore>;
  /** How many unfinished writes of `key` the backend holds: `.dumping` files, multipart uploads. */
  pendingWrites(store: ObjectStore, key: string): Promise<number>;
}

const seed = randomBytes(64 * 1024);

/**
 * `size` bytes generated on the fly, the same for the same size. Every 64 KiB chunk is stamped
 * with its index, so parts stored out of order or twice do not go unnoticed.
 */
export function patternBody(size: number, onProduce?: (producedBytes: number) => void): Readable {
  let produced = 0;
  let index = 0;
  return new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = Buffer.from(seed.subarray(0, Math.min(seed.length, size - produced)));
      if (chunk.length >= 8) {
        chunk.writeUInt32BE(index, 0);
        chunk.writeUInt32BE(index, chunk.length - 4);
      }
      index++;
      produced += chunk.length;
      onProduce?.(produced);
      this.push(chunk);
    },
  });
}

export async function digest(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

export async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** How a call failed (class name and code), or undefined if it succeeded. */
async function failureOf(call: Promise<unknown>): Promise<{ type: string; code: unknown } | undefined> {
  try {
    await call;
    return undefined;
  } catch (err) {
    return { type: err instanceof StorageError ? 'StorageError' : String((err as Error).name), code: (err as { code?: unknown }).code };
  }
}

/** A write whose body the test feeds by hand; `done` never counts as an unhandled rejection. */
function startWrite(store: ObjectStore, key: string, signal?: AbortSignal): { body: PassThrough; done: Promise<unknown> } {
  const body = new PassThrough();
  const done = store.write(key, body, signal ? { signal } : {});
  done.catch(() => undefined);
  return { body, done };
}

export function objectStoreContract(getHarness: () => StoreHarness): void {
  describe('ObjectStore contract', () => {
    let harness: StoreHarness;
    let store: ObjectStore;

    beforeEach(async () => {
      harness = getHarness();
      store = await harness.newStore();
    });

    /** Feeds 1.5 parts and waits until the backend shows the write in progress. */
    const feedUntilPending = async (body: PassThrough, key: string): Promise<void> => {
      body.write(Buffer.alloc(Math.floor(1.5 * harness.partSize), 7));
      await waitFor(async () => (await harness.pendingWrites(store, key)) > 0, `the write of ${key} to show as in progress`);
    };

    it('round-trips a multi-part body byte for byte', async () => {
      const size = Math.floor(3.5 * harness.partSize);
      const result = await store.write('b1/data.zst', patternBody(size));

      expect(result.bytes).toBe(size);
      expect(await digest(await store.read('b1/data.zst'))).toEqual(await digest(patternBody(size)));
      expect(await store.list('b1/')).toMatchObject([{ key: 'b1/data.zst', size }]);
      expect(await harness.pendingWrites(store, 'b1/data.zst')).toBe(0);
    });

    it('stores bodies of exactly two parts, one byte and none', async () => {
      for (const size of [2 * harness.partSize, 1, 0]) {
        const key = `sizes/${size}`;
        expect((await store.write(key, patternBody(size))).bytes).toBe(size);
        const stored = await store.get(key);
        expect(stored.length).toBe(size);
        expect(createHash('sha256').update(stored).digest('hex')).toBe((await digest(patternBody(size))).sha256);
      }
    });

    it('does not show an object until its write has finished', async () => {
      const { body, done } = startWrite(store, 'b2/data');
      await feedUntilPending(body, 'b2/data');

      expect(await store.exists('b2/data')).toBe(false);
      expect(await store.list('')).toEqual([]);

      body.end(Buffer.from('tail'));
      await done;
      expect(await store.exists('b2/data')).toBe(true);
      expect(await store.list('')).toMatchObject([{ key: 'b2/data', size: Math.floor(1.5 * harness.partSize) + 4 }]);
      expect(await harness.pendingWrites(store, 'b2/data')).toBe(0);
    });

    it('leaves nothing behind when the body fails midway, and passes its error on', async () => {
      const { body, done } = startWrite(store, 'b3/data');
      await feedUntilPending(body, 'b3/data');

      const failure = new Error('mysqldump died');
      body.destroy(failure);

      await expect(done).rejects.toBe(failure);
      expect(await harness.pendingWrites(store, 'b3/data')).toBe(0);
      expect(await store.exists('b3/data')).toBe(false);
      expect(await store.list('')).toEqual([]);
    });

    it('leaves nothing behind when the write is aborted', async () => {
      const controller = new AbortController();
      const { body, done } = startWrite(store, 'b4/data', controller.signal);
      await feedUntilPending(body, 'b4/data');

      const reason = new AbortedError('SIGTERM');
      controller.abort(reason);

      await expect(done).rejects.toBe(reason);
      expect(await harness.pendingWrites(store, 'b4/data')).toBe(0);
      expect(await store.exists('b4/data')).toBe(false);
      expect(await store.list('')).toEqual([]);
    });

    it('does not start a write whose signal has already fired', async () => {
      const controller = new AbortController();
      controller.abort();

      await expect(store.write('b5/data', patternBody(10), { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await store.list('')).toEqual([]);
    });

    it('puts small objects, replacing an existing one, and gets them back', async () => {
      await store.put('records/b6.json', '{"v":1}');
      await store.put('records/b6.json', new TextEncoder().encode('{"v":2}'));

      expect((await store.get('records/b6.json')).toString()).toBe('{"v":2}');
      expect(await store.list('records/')).toMatchObject([{ key: 'records/b6.json', size: 7 }]);
    });

    it('creates an object only where none is (putIfAbsent): of racing writers exactly one wins, and its object stays', async () => {
      const racers = Array.from({ length: 5 }, (_, i) => store.putIfAbsent('claims/name.json', `{"racer":${i}}`));
      const won = await Promise.all(racers);
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = won.indexOf(true);
      expect((await store.get('claims/name.json')).toString()).toBe(`{"racer":${winner}}`);
      expect(await store.putIfAbsent('claims/name.json', '{"late":true}')).toBe(false);
      expect((await store.get('claims/name.json')).toString()).toBe(`{"racer":${winner}}`);
      expect(await store.list('claims/')).toMatchObject([{ key: 'claims/name.json' }]);
    });

    it('lists objects in key order, filtered by prefix, with size and time', async () => {
      const before = Date.now() - 5_000;
      const keys = ['b/2', 'a/sub/x', 'a/2', 'ab', 'a/10', 'a/sub-y', 'a/1', 'a/Z', 'a/é'];
      for (const key of keys) await store.put(key, key);

      const all = await store.list('');
      // UTF-8 byte order, as S3 returns keys: "-" sorts before "/", "Z" before "é".
      expect(all.map((o) => o.key)).toEqual(['a/1', 'a/10', 'a/2', 'a/Z', 'a/sub-y', 'a/sub/x', 'a/é', 'ab', 'b/2']);
      expect(all.find((o) => o.key === 'a/é')?.size).toBe(Buffer.byteLength('a/é'));
      for (const object of all) {
        expect(object.lastModified.getTime()).toBeGreaterThan(before);
        expect(object.lastModified.getTime()).toBeLessThan(Date.now() + 5_000);
      }

      expect((await store.list('a/')).map((o) => o.key)).toEqual(['a/1', 'a/10', 'a/2', 'a/Z', 'a/sub-y', 'a/sub/x', 'a/é']);
      expect((await store.list('a')).map((o) => o.key)).toContain('ab');
      expect((await store.list('a/sub')).map((o) => o.key)).toEqual(['a/sub-y', 'a/sub/x']);
      expect((await store.list('a/1')).map((o) => o.key)).toEqual(['a/1', 'a/10']);
      expect(await store.list('missing/')).toEqual([]);
    });

    it('deletes everything under a prefix and nothing else', async () => {
      for (const key of ['a/1', 'a/sub/2', 'a/sub/deeper/3', 'ab/4', 'b/5']) await store.put(key, 'x');

      expect(await store.deletePrefix('a/')).toBe(3);
      expect((await store.list('')).map((o) => o.key)).toEqual(['ab/4', 'b/5']);
      expect(await store.deletePrefix('a/')).toBe(0);
      expect(await store.deletePrefix('never-written/')).toBe(0);
    });

    it('refuses to delete prefixes that are empty, not folders, or escape the root', async () => {
      await store.put('keep/1', 'x');
      for (const prefix of ['', 'keep', '../', '/etc/', 'a/../../', './']) {
        const failure = await failureOf(store.deletePrefix(prefix));
        // The prefix is part of the compared value so that a failure names it.
        expect({ prefix, failure }).toEqual({ prefix, failure: { type: 'StorageError', code: 'UNSAFE_KEY' } });
      }
      expect(await store.exists('keep/1')).toBe(true);
    });

    it('deletes one object, and counts a missing one as deleted', async () => {
      await store.put('d/1', 'x');
      await store.put('d/2', 'x');

      await store.delete('d/1');
      await store.delete('d/1');
      await store.delete('never/written');

      expect((await store.list('')).map((o) => o.key)).toEqual(['d/2']);
    });

    it('deletes many objects at once, counting missing ones as deleted, and refuses unsafe keys', async () => {
      const keys = Array.from({ length: 1205 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
      for (const key of keys.slice(0, 1203)) await store.put(key, 'x');
      await store.put('many-other/keep', 'x');

      await store.deleteMany(keys);
      expect((await store.list('')).map((o) => o.key)).toEqual(['many-other/keep']);
      const failure = await failureOf(store.deleteMany(['many-other/keep', '../outside']));
      expect(failure).toEqual({ type: 'StorageError', code: 'UNSAFE_KEY' });
      expect(await store.exists('many-other/keep')).toBe(true);
    });

    it('reports a missing object as OBJECT_NOT_FOUND', async () => {
      await expect(store.read('missing/object')).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.read('missing/object')).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
      await expect(store.get('missing/object')).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
      expect(await store.exists('missing/object')).toBe(false);
    });

    it('refuses keys that would escape the root', async () => {
      const refused = { type: 'StorageError', code: 'UNSAFE_KEY' };
      for (const key of ['../x', '/etc/passwd', 'a/../../x', 'a/./b', '']) {
        const failures = {
          put: await failureOf(store.put(key, 'x')),
          write: await failureOf(store.write(key, patternBody(1))),
          read: await failureOf(store.read(key)),
          get: await failureOf(store.get(key)),
          exists: await failureOf(store.exists(key)),
          delete: await failureOf(store.delete(key)),
        };
        expect({ key, failures }).toEqual({ key, failures: { put: refused, write: refused, read: refused, get: refused, exists: refused, delete: refused } });
      }
      expect(await store.list('')).toEqual([]);
    });
  });
}
