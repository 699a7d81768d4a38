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

/**
 * A store that retries a failing request for `forMs` (saying so through onRetry every 100 ms,
 * reading nothing of the body meanwhile), then succeeds, or fails with its own error.
 */
function retryingStore(forMs: number, outcome: 'succeeds' | 'fails'): ObjectStore {
  const retryFor = async (onRetry: ((what: string, err: unknown) => void) | undefined): Promise<void> => {
    const until = Date.now() + forMs;
    while (Date.now() < until) {
      onRetry?.('UploadPart 1 s3://b/k', new Error('connect ECONNREFUSED'));
      await sleep(100);
    }
    if (outcome === 'fails') throw new Error('cannot reach the S3 endpoint: connection refused (injected)');
  };
  return {
    ...fakeStore('drains'),
    async write(_key, body, o = {}) {
      await retryFor(o.onRetry);
      let bytes = 0;
      await pipeline(body, new Writable({ write: (chunk: Buffer, _e, done) => ((bytes += chunk.length), done()) }));
      return { bytes };
    },
    put: (_key, _data, o = {}) => retryFor(o.onRetry),
  };
}

describe('stallGuardedStore and a store retrying within its budget', () => {
  const guarded = (forMs: number, outcome: 'succeeds' | 'fails'): ObjectStore => stallGuardedStore(retryingStore(forMs, outcome), { stallTimeoutMs: 300, configField: 'dump.storageStallTimeout' });

  it('does not cancel a write whose requests are being retried for longer than the stall bound', async () => {
    const body = new PassThrough();
    body.end(Buffer.alloc(4 * 1024 * 1024));
    await expect(guarded(1200, 'succeeds').write('b/data', body)).resolves.toEqual({ bytes: 4 * 1024 * 1024 });
  });

  it('does not cancel a put being retried either', async () => {
    await expect(guarded(1200, 'succeeds').put('b/record', 'x')).resolves.toBeUndefined();
  });

  it('lets the store\'s own error end a call whose retries run out, rather than STORAGE_STALLED', async () => {
    const body = new PassThrough();
    body.end(Buffer.alloc(1024));
    await expect(guarded(1200, 'fails').write('b/data', body)).rejects.toThrow(/connection refused \(injected\)/);
    await expect(guarded(1200, 'fails').put('b/record', 'x')).rejects.toThrow(/connection refused \(injected\)/);
  });

  it('still passes each retry on to the caller\'s own onRetry', async () => {
    const heard: string[] = [];
    await guarded(250, 'succeeds').put('b/record', 'x', { onRetry: (what) => heard.push(what) });
    expect(heard.length).toBeGreaterThan(0);
    expect(heard[0]).toBe('UploadPart 1 s3://b/k');
  });
});
