/**
 * When a failed scheduled backup is retried (the reference's "Retries for scheduled backups"):
 * each retry is a fresh MysqlBackup with the next attempt number; the Nth retry waits
 * initialBackoffSeconds × 2^(N−1) seconds after the failed run completed, capped at
 * maxBackoffSeconds; maxAttempts counts the first attempt. Ad-hoc (manual) backups are never retried.
 */
import type { RetryPolicy } from '../config/schema.js';

export interface FailedRun {
  triggeredBy: 'manual' | 'schedule' | 'retry';
  /** 1 for the first attempt. */
  attempt: number;
  completionTime: Date;
}

/** The next attempt and when it is due, or null when no retry follows. */
export function nextRetry(run: FailedRun, policy: RetryPolicy): { attempt: number; due: Date; backoffSeconds: number } | null {
  if (run.triggeredBy === 'manual') return null;
  const attempt = run.attempt + 1;
  if (attempt > policy.maxAttempts) return null;
  const backoffSeconds = Math.min(policy.initialBackoffSeconds * 2 ** (run.attempt - 1), policy.maxBackoffSeconds);
  return { attempt, due: new Date(run.completionTime.getTime() + backoffSeconds * 1000), backoffSeconds };
}
