import { describe, expect, it } from 'vitest';
import { forEachBounded } from '../../src/lib/parallel.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('forEachBounded', () => {
  it('calls the work for every item once, never more than the limit at a time', async () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const seen: number[] = [];
    let running = 0;
    let most = 0;
    await forEachBounded(items, 4, async (item, index) => {
      expect(index).toBe(item);
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push(item);
      running--;
    });
    expect(seen.sort((a, b) => a - b)).toEqual(items);
    expect(most).toBe(4);
  });

  it('stops starting work after the first failure, waits for what runs, and throws that failure', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachBounded(
      Array.from({ length: 20 }, (_, i) => i),
      3,
      async (item) => {
        started.push(item);
        if (item === 1) throw new Error('item 1 failed');
        await tick();
        await tick();
        finished.push(item);
      },
    );
    await expect(run).rejects.toThrow('item 1 failed');
    // Items 0 and 2 were running when 1 failed: they finished before the failure was thrown.
    expect(finished).toEqual(expect.arrayContaining([0, 2]));
    expect(started.length).toBeLessThan(20);
    expect(finished.every((i) => started.includes(i))).toBe(true);
  });

  it('does nothing for no items', async () => {
    let calls = 0;
    await forEachBounded([], 8, () => {
      calls++;
      return Promise.resolve();
    });
    expect(calls).toBe(0);
  });
});
