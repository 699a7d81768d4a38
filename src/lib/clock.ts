/**
 * Time, passed in so that names, records and schedules can be tested at a fixed instant, and
 * waits can be made to pass at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError } from './errors.js';

export interface Clock {
  now(): Date;
  /** Resolves once `at` has come (rejects with the signal's reason if it fires first). */
  sleepUntil(at: Date, signal?: AbortSignal): Promise<void>;
}

/** Waits in steps of at most an hour, so a wall clock that jumps is noticed within the hour. */
const maxStepMs = 60 * 60 * 1000;

export const systemClock: Clock = {
  now: () => new Date(),
  async sleepUntil(at, signal) {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      const left = at.getTime() - Date.now();
      if (left <= 0) return;
      try {
        await sleep(Math.min(left, maxStepMs), undefined, signal ? { signal } : undefined);
      } catch {
        if (signal?.aborted) throw abortError(signal);
      }
    }
  },
};

/**
 * A clock fixed at `start` that moves only when told to, or when something sleeps on it: a sleep
 * jumps the clock to its end at once, so schedules and backoffs run through in no time.
 */
export function fixedClock(start: Date): Clock & { advance(ms: number): void; set(d: Date): void } {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms;
    },
    set: (d) => {
      t = d.getTime();
    },
    async sleepUntil(at, signal) {
      // Let other work run first, as a real wait would.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw abortError(signal);
      t = Math.max(t, at.getTime());
    },
  };
}
