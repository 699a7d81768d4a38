import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, abortError } from './errors.js';

export interface RetryOptions {
  /** Total attempts, including the first. */
  attempts: number;
  /** Delay before the first retry; doubles each time, capped at maxDelayMs, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  signal?: AbortSignal;
  /** Whether an error is worth another attempt. Defaults to AppError.retryable. */
  isRetryable?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Source of randomness for the jitter, in [0, 1). */
  random?: () => number;
}

export function defaultIsRetryable(err: unknown): boolean {
  return err instanceof AppError && err.retryable;
}

/** The delay before retry number `retry` (1-based): a random point in [0, min(max, base × 2^(retry−1))]. */
export function backoffDelay(retry: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return Math.round(random() * ceiling);
}

/** Runs `fn` until it succeeds, fails with a non-retryable error, or runs out of attempts. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const isRetryable = options.isRetryable ?? defaultIsRetryable;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw abortError(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= options.attempts || !isRetryable(err) || options.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs, options.random);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined).catch(() => {
        if (options.signal?.aborted) throw abortError(options.signal);
      });
    }
  }
}
