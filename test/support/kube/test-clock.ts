/**
 * The clock the test CronJob controller reads. A real controller reads the wall clock; tests
 * set and advance this one so that a schedule fires at an instant the test chooses, without
 * waiting for it. Jobs and Pods keep real time (their processes run in real time).
 */

/** What the CronJob controller needs from a clock. */
export interface Clock {
  now(): Date;
}

/** A clock tests move by hand. It never moves on its own. */
export interface TestClock extends Clock {
  /** Jumps to `instant` (backwards too, though a real clock would not). */
  set(instant: Date | string): void;
  /** Moves forward by `ms` milliseconds. */
  advance(ms: number): void;
}

/** The wall clock (what `scripts/test-cluster.js` uses). */
export const realClock: Clock = { now: () => new Date() };

/** A clock standing at `start` (default: the real now) until a test moves it. */
export function createTestClock(start: Date | string = new Date()): TestClock {
  let current = new Date(start).getTime();
  if (Number.isNaN(current)) throw new Error(`not a date: ${String(start)}`);
  return {
    now: () => new Date(current),
    set(instant) {
      const t = new Date(instant).getTime();
      if (Number.isNaN(t)) throw new Error(`not a date: ${String(instant)}`);
      current = t;
    },
    advance(ms) {
      current += ms;
    },
  };
}
