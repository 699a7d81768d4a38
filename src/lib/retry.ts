import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, InternalError, abortError } from './errors.js';

/**
 * How retry() bounds its attempts: by their number (`attempts`), by time (`budgetMs`), or both,
 * whichever runs out first. At least one must be given.
 */
export interface RetryOptions {
  /** Total attempts, including the first. Absent: as many as `budgetMs` allows. */
  attempts?: number;
  /**
   * Time, in ms from the start of the first attempt, within which new attempts may start. The
   * last wait is shortened so that one attempt starts at the end of the budget (an outage just
   * shorter than the budget is ridden through); an attempt already running is never cut short.
   */
  budgetMs?: number;
  /** Delay before the first retry; doubles each time, capped at maxDelayMs, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  signal?: AbortSignal;
  /** Whether an error is worth another attempt. Defaults to AppError.retryable. */
  isRetryable?: (err: unknown) => boolean;
  /** Hears of each failed attempt that will be tried again, and the wait before it (ms). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Source of randomness for the jitter, in [0, 1). */
  random?: () => number;
  /** The clock the budget is measured on, in ms (default Date.now). */
  now?: () => number;
  /** Waits `ms` (default: a timer; tests pass one that moves their clock). */
  wait?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
}

const timerWait = (ms: number, signal: AbortSignal | undefined): Promise<void> => sleep(ms, undefined, signal ? { signal } : undefined);

export function defaultIsRetryable(err: unknown): boolean {
  return err instanceof AppError && err.retryable;
}

/** The delay before retry number `retry` (1-based): a random point in [0, min(max, base × 2^(retry−1))]. */
export function backoffDelay(retry: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return Math.round(random() * ceiling);
}

/**
 * Runs `fn` until it succeeds, fails with a non-retryable error, or runs out of attempts or of
 * time; then throws the last attempt's own error (never a generic "gave up"). Throws an abort
 * error when the signal fires, at once, even during a wait.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  if (options.attempts === undefined && options.budgetMs === undefined) throw new InternalError('retry() needs attempts or budgetMs');
  const isRetryable = options.isRetryable ?? defaultIsRetryable;
  const now = options.now ?? Date.now;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw abortError(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if ((options.attempts !== undefined && attempt >= options.attempts) || !isRetryable(err) || options.signal?.aborted) throw err;
      let delay = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs, options.random);
      if (options.budgetMs !== undefined) {
        const left = started + options.budgetMs - now();
        if (left <= 0) throw err;
        delay = Math.min(delay, left);
      }
      options.onRetry?.(err, attempt, delay);
      await (options.wait ?? timerWait)(delay, options.signal).catch(() => {
        if (options.signal?.aborted) throw abortError(options.signal);
      });
    }
  }
}
