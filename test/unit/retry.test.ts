import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/lib/errors.js';
import { retry } from '../../src/lib/retry.js';

const transient = (n: number): StorageError => new StorageError('S3_UNREACHABLE', `down (attempt ${n})`, { retryable: true });

describe('retry bounded by time', () => {
  it('keeps trying past any fixed count while the budget lasts, then throws the last error', async () => {
    let clock = 0;
    const delays: number[] = [];
    const attemptsAt: number[] = [];
    const err = await retry(
      (attempt) => {
        attemptsAt.push(clock);
        return Promise.reject(transient(attempt));
      },
      {
        budgetMs: 60_000,
        baseDelayMs: 200,
        maxDelayMs: 10_000,
        random: () => 0.999,
        now: () => clock,
        onRetry: (_err, _attempt, delayMs) => delays.push(delayMs),
        // The waits are simulated: the clock jumps by them.
        wait: (ms) => {
          clock += ms;
          return Promise.resolve();
        },
      },
    ).catch((e: unknown) => e);
    // Reached: the last attempt's own error, not a generic one.
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toBe(`down (attempt ${attemptsAt.length})`);
    expect(attemptsAt.length).toBeGreaterThan(5);
    // Exponential, capped at 10 s; the last wait is cut so that one attempt starts at the budget's end.
    expect(delays.slice(0, 4)).toEqual([200, 400, 799, 1598]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10_000);
    expect(attemptsAt.at(-1)).toBe(60_000);
  });

  it('rides through an outage shorter than the budget', async () => {
    let clock = 0;
    const value = await retry((attempt) => (clock < 30_000 ? Promise.reject(transient(attempt)) : Promise.resolve('stored')), {
      budgetMs: 120_000,
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      random: () => 0.5,
      now: () => clock,
      wait: (ms) => {
        clock += ms;
        return Promise.resolve();
      },
    });
    expect(value).toBe('stored');
  });

  it('draws each wait at random below its ceiling (full jitter)', async () => {
    const delays: number[] = [];
    const draws = [0, 0.25, 0.5];
    await retry((attempt) => (attempt < 4 ? Promise.reject(transient(attempt)) : Promise.resolve()), {
      budgetMs: 60_000,
      baseDelayMs: 100,
      maxDelayMs: 10_000,
      random: () => draws.shift() ?? 0,
      onRetry: (_e, _a, d) => delays.push(d),
      wait: () => Promise.resolve(),
    });
    expect(delays).toEqual([0, 50, 200]);
  });

  it('does not retry an error that is not transient', async () => {
    let calls = 0;
    const err = await retry(
      () => {
        calls++;
        return Promise.reject(new StorageError('S3_ACCESS_DENIED', 'denied'));
      },
      { budgetMs: 60_000, baseDelayMs: 1, maxDelayMs: 1 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect((err as StorageError).code).toBe('S3_ACCESS_DENIED');
  });

  it('stops waiting at once when the signal fires', async () => {
    const controller = new AbortController();
    const pending = retry((attempt) => Promise.reject(transient(attempt)), { budgetMs: 600_000, baseDelayMs: 60_000, maxDelayMs: 60_000, random: () => 1, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(pending).rejects.toThrow();
    expect(controller.signal.aborted).toBe(true);
  });
});
