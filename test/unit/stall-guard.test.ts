/**
 * The stall bound on storage writes (src/lib/storage/stall-guard.ts): a store that stops taking
 * bytes fails the write; a body that is only slow to produce does not.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { stallGuardedStore } from '../../src/lib/storage/stall-guard.js';

/** A store whose writes drain their body into memory, or (hung) never read it and never end. */
function fakeStore(mode: 'drains' | 'hangs'): ObjectStore {
  const unused = (): never => {
    throw new Error('not used by this test');
  };
  return {
    location: '/fake',
    type: 'PVC',
    check: unused,
    checkReadable: unused,
    read: unused,
    get: unused,
    exists: unused,
    list: unused,
    delete: unused,
    deleteMany: unused,
    deletePrefix: unused,
    putIfAbsent: unused,
    async write(_key, body) {
      if (mode === 'hangs') return new Promise(() => undefined);
      let bytes = 0;
      await pipeline(body, new Writable({ write: (chunk: Buffer, _e, done) => ((bytes += chunk.length), done()) }));
      return { bytes };
    },
    put: (): Promise<void> => (mode === 'hangs' ? new Promise(() => undefined) : Promise.resolve()),
  };
}

const guard = (mode: 'drains' | 'hangs'): ObjectStore => stallGuardedStore(fakeStore(mode), { stallTimeoutMs: 300, configField: 'dump.storageStallTimeout' });

describe('stallGuardedStore', () => {
  it('fails a write the store stops taking with STORAGE_STALLED, naming the bound and the field', async () => {
    const body = new PassThrough();
    body.write(Buffer.alloc(4 * 1024 * 1024));
    await expect(guard('hangs').write('b/data', body)).rejects.toMatchObject({
      code: 'STORAGE_STALLED',
      message: expect.stringMatching(/writing b\/data in \/fake made no progress for 0\.3s/) as unknown,
      hint: expect.stringMatching(/dump\.storageStallTimeout/) as unknown,
    });
    // The producer's side is ended too (on the next tick), even though this store ignores its signal.
    await sleep(20);
    expect(body.destroyed).toBe(true);
  });

  it('does not count a body that is slow to produce as a stall', async () => {
    const body = new PassThrough();
    const written = guard('drains').write('b/data', body);
    for (let i = 0; i < 3; i++) {
      body.write(Buffer.alloc(1000));
      // Longer than the bound, with nothing waiting for the store.
      await sleep(600);
    }
    body.end();
    await expect(written).resolves.toEqual({ bytes: 3000 });
  });

  it('fails a put that does not finish within the bound', async () => {
    await expect(guard('hangs').put('b/bloodraven.json', '{}')).rejects.toMatchObject({ code: 'STORAGE_STALLED' });
  });

  it('does not count time this process was not running (its event loop held, as under SIGSTOP) as the storage stalling', async () => {
    const slowPut: ObjectStore = { ...fakeStore('drains'), put: () => sleep(6_100).then(() => undefined) };
    const put = stallGuardedStore(slowPut, { stallTimeoutMs: 300, configField: 'dump.storageStallTimeout' }).put('b/bloodraven.json', '{}');
    // Nothing of this process runs for 6 s: no tick, no progress, no storage callback.
    let spins = 0;
    for (const end = Date.now() + 6_000; Date.now() < end; ) spins++;
    expect(spins).toBeGreaterThan(0);
    await expect(put).resolves.toBeUndefined();
  }, 20_000);

  it('passes an interrupt through as the caller\'s abort', async () => {
    const controller = new AbortController();
    const written = guard('hangs').write('b/data', Readable.from([Buffer.alloc(10)]), { signal: controller.signal });
    controller.abort(new Error('SIGINT'));
    await expect(written).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
