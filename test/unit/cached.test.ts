/** cachedFor, on a hand-turned clock: the daemon's status page is made at most once per period. */
import { describe, expect, it } from 'vitest';
import { cachedFor } from '../../src/daemon/cached.js';

describe('cachedFor', () => {
  it('makes the value once per period, shares an attempt under way, and forgets a failure', async () => {
    let clock = 0;
    let made = 0;
    let fail = false;
    let release: (() => void) | undefined;
    const get = cachedFor(
      10_000,
      async () => {
        made++;
        if (release === undefined) await new Promise<void>((r) => (release = r));
        if (fail) throw new Error('storage down');
        return `page ${made}`;
      },
      () => clock,
    );
    // Two callers while the first attempt is under way: one attempt.
    const both = Promise.all([get(), get()]);
    await Promise.resolve();
    release!();
    expect(await both).toEqual(['page 1', 'page 1']);
    clock += 9_999;
    expect(await get()).toBe('page 1');
    clock += 1;
    expect(await get()).toBe('page 2');
    clock += 10_000;
    fail = true;
    await expect(get()).rejects.toThrow('storage down');
    fail = false;
    // The failure is not kept: the next caller tries again at once.
    expect(await get()).toBe('page 4');
    expect(made).toBe(4);
  });
});
