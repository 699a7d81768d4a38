/**
 * A clock for daemon tests: real time from `start`, but a wait ends at once (the clock jumps to
 * its end), unless it ends after `horizon`: then it lasts until aborted, and the daemon idles.
 */
import type { Clock } from '../../src/lib/clock.js';
import { abortError } from '../../src/lib/errors.js';

export function jumpingClock(start: string, horizon: string): Clock {
  const realStart = Date.now();
  let jumped = 0;
  const now = (): Date => new Date(Date.parse(start) + (Date.now() - realStart) + jumped);
  return {
    now,
    async sleepUntil(at, signal) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw abortError(signal);
      if (at.getTime() > Date.parse(horizon)) {
        await new Promise<void>((_resolve, reject) => signal?.addEventListener('abort', () => reject(abortError(signal)), { once: true }));
      }
      jumped += Math.max(0, at.getTime() - now().getTime());
    },
  };
}
