import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LoadProgress } from '../../src/lib/load/load-progress.js';
import { silentLogger } from '../../src/lib/log.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';

let dir: string;
let store: ObjectStore;
const open = (): Promise<LoadProgress> => LoadProgress.open(store, 'load-progress.t.json', { reset: false, logger: silentLogger, now: () => 1_790_000_000_000 });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bloodraven-progress-'));
  store = createFsStore({ root: dir });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the load progress log', () => {
  it('forgets steps whose work was undone, also in the file a later run reads', async () => {
    const p = await open();
    const a = { op: 'TABLE-DATA' as const, schema: 's', table: 'keyless', chunk: 's@keyless@0.tsv.zst' };
    const b = { op: 'TABLE-DATA' as const, schema: 's', table: 'other', chunk: 's@other@@0.tsv.zst' };
    p.markDone(a, { rows: 10 });
    p.markDone(b, { rows: 5 });
    await p.flush();
    p.forget([a]);
    await p.flush();
    const again = await open();
    expect(again.isDone(a)).toBe(false);
    expect(again.rowsOf(b)).toBe(5);
    expect(again.doneSteps()).toHaveLength(1);
  });

  it('names the run holding the restore claim, read back by a later run; a holder alone is no earlier progress', async () => {
    const p = await open();
    const holder = { pid: 4242, host: 'restorer-1', connectionId: 17, since: '2026-07-01T12:00:00.000Z' };
    p.recordHolder(holder);
    await p.flush();
    const only = await open();
    expect(only.holder).toEqual(holder);
    expect(only.resuming).toBe(false);
    p.markDone({ op: 'SCHEMA-DDL', schema: 's' });
    await p.flush();
    const again = await open();
    expect(again.holder).toEqual(holder);
    expect(again.isDone({ op: 'SCHEMA-DDL', schema: 's' })).toBe(true);
    expect(again.doneSteps()).toHaveLength(1);
  });

  it('knows a load complete per schema: another schema of the same dump is not complete', async () => {
    const p = await open();
    p.markDone({ op: 'SCHEMA-DDL', schema: 'app' });
    p.markDone({ op: 'LOAD-COMPLETE', schema: 'app' });
    await p.flush();
    const again = await open();
    expect(again.completedAt(['app'])).toEqual(new Date(1_790_000_000_000));
    expect(again.completedAt(['app', 'inventory'])).toBeNull();
    expect(again.completedAt(['inventory'])).toBeNull();
    expect(again.touched('app')).toBe(true);
    expect(again.touched('inventory')).toBe(false);
  });

  it('spaces its writes by how long the last one took, so a long log is not rewritten every second', async () => {
    vi.useFakeTimers();
    try {
      // A store whose writes take 500 ms (fake time): the file a long load rewrites. It keeps the
      // file in memory, so that no real I/O runs under the fake clock.
      const puts: number[] = [];
      const files = new Map<string, string>();
      const slow = {
        exists: (key: string) => Promise.resolve(files.has(key)),
        get: (key: string) => Promise.resolve(Buffer.from(files.get(key) ?? '')),
        put: async (key: string, data: string | Uint8Array) => {
          puts.push(Date.now());
          await new Promise((resolve) => setTimeout(resolve, 500));
          files.set(key, data.toString());
        },
      } as unknown as ObjectStore;
      const p = await LoadProgress.open(slow, 'load-progress.t.json', { reset: false, logger: silentLogger, now: () => Date.now() });
      const start = Date.now();
      p.markDone({ op: 'SCHEMA-DDL', schema: 's' });
      await vi.advanceTimersByTimeAsync(1000 + 500);
      expect(puts).toEqual([start + 1000]);

      // The next batch waits 20 x 500 ms, not a second.
      p.markDone({ op: 'TABLE-DDL', schema: 's', table: 't' });
      await vi.advanceTimersByTimeAsync(9_000);
      expect(puts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1_000 + 500);
      expect(puts).toHaveLength(2);

      // An explicit flush (the load's end) still writes at once, and the file holds every step.
      p.markDone({ op: 'TABLE-DATA', schema: 's', table: 't', chunk: 's@t.tsv.zst' });
      const flushed = p.flush();
      await vi.advanceTimersByTimeAsync(500);
      await flushed;
      expect(puts).toHaveLength(3);
      const again = await LoadProgress.open(slow, 'load-progress.t.json', { reset: false, logger: silentLogger, now: () => Date.now() });
      expect(again.doneSteps().map((d) => d.op)).toEqual(['SCHEMA-DDL', 'TABLE-DDL', 'TABLE-DATA']);
    } finally {
      vi.useRealTimers();
    }
  });
});
