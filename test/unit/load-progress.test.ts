import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
});
