/**
 * One schedule of the daemon: wait for its next time, run a backup, retry a failed one with
 * backoff, prune after a success, and again. A schedule never overlaps itself: the next time is
 * only computed once the previous run (and its retries) are over, and times that passed meanwhile
 * are skipped, and said so.
 */
import type { Clock } from '../lib/clock.js';
import type { RetryPolicy, Schedule } from '../lib/config/schema.js';
import type { BackupRecord } from '../lib/catalog/record.js';
import type { Logger } from '../lib/log.js';
import { nextRun, nextRunAfter } from '../lib/schedule/cron.js';

/** Seconds before retry number `retry` (1-based): initial × 2^(retry−1), capped at the maximum. */
export function retryDelaySeconds(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.maxBackoffSeconds, policy.initialBackoffSeconds * 2 ** (retry - 1));
}

export interface ScheduleLoopDeps {
  clock: Clock;
  logger: Logger;
  /**
   * Runs one attempt and returns its record, whatever the outcome (a Failed record for a failed
   * attempt), or null when the attempt left no record (storage unreachable).
   */
  backup(schedule: Schedule, attempt: number, signal: AbortSignal): Promise<BackupRecord | null>;
  /** Called after a successful attempt (the daemon prunes the profile). */
  afterSuccess(schedule: Schedule, record: BackupRecord): Promise<void>;
  /** Told when the next time of the schedule is known (for /healthz). */
  onNextRun?(schedule: Schedule, at: Date): void;
}

export interface ScheduleLoopSignals {
  /** Fires when the daemon stops taking work: waits end, no new attempt starts. */
  stop: AbortSignal;
  /** Fires when running attempts must end (after the grace period). */
  work: AbortSignal;
}

/** Waits until `at`; false if the daemon was told to stop first. */
async function waitUntil(clock: Clock, at: Date, stop: AbortSignal): Promise<boolean> {
  try {
    await clock.sleepUntil(at, stop);
    return !stop.aborted;
  } catch {
    return false;
  }
}

export async function runScheduleLoop(schedule: Schedule, retry: RetryPolicy, deps: ScheduleLoopDeps, signals: ScheduleLoopSignals): Promise<void> {
  const { clock, logger } = deps;
  let next = nextRun(schedule.schedule, schedule.timeZone, clock.now());
  while (!signals.stop.aborted) {
    deps.onNextRun?.(schedule, next);
    if (!(await waitUntil(clock, next, signals.stop))) return;
    const firedAt = next;
    for (let attempt = 1; ; attempt++) {
      logger.info('scheduled backup starting', { schedule: schedule.name, profile: schedule.profileName, attempt });
      const record = await deps.backup(schedule, attempt, signals.work);
      if (record?.phase === 'Succeeded') {
        try {
          await deps.afterSuccess(schedule, record);
        } catch (err) {
          logger.error('after-backup work failed', { schedule: schedule.name, reason: err instanceof Error ? err.message : String(err) });
        }
        break;
      }
      if (signals.stop.aborted || attempt >= retry.maxAttempts) {
        if (attempt >= retry.maxAttempts && retry.maxAttempts > 1) logger.error('scheduled backup failed on every attempt', { schedule: schedule.name, attempts: attempt });
        break;
      }
      const failedAt = record?.completedAt ? new Date(record.completedAt) : clock.now();
      const delay = retryDelaySeconds(retry, attempt);
      const retryAt = new Date(failedAt.getTime() + delay * 1000);
      logger.warn('scheduled backup failed; retrying', { schedule: schedule.name, attempt, retryAt: retryAt.toISOString(), reason: record?.failure?.message ?? 'no record' });
      if (!(await waitUntil(clock, retryAt, signals.stop))) return;
    }
    // Times that passed while the run went on are skipped, never run late or in parallel.
    const after = nextRunAfter(schedule.schedule, schedule.timeZone, firedAt, clock.now());
    next = after.next;
    const skipped = after.skipped;
    if (skipped > 0) logger.warn('the schedule came round while its previous run was still going; those times were skipped', { schedule: schedule.name, skipped });
  }
}
