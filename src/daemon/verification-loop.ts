/**
 * One profile's verification schedule in the standalone daemon: wait for its next time, run one
 * scheduled verification, and again. It never overlaps itself: the next time is computed once the
 * run is over, and times that passed meanwhile are skipped, and said so.
 */
import type { Clock } from '../lib/clock.js';
import type { Profile, VerificationConfig } from '../lib/config/schema.js';
import type { Logger } from '../lib/log.js';
import { nextRun, nextRunAfter } from '../lib/schedule/cron.js';

export interface VerificationLoopDeps {
  clock: Clock;
  logger: Logger;
  /** Runs one scheduled time to its end (it logs and counts its own outcome); never throws. */
  runOnce(profile: Profile, signal: AbortSignal): Promise<void>;
  /** Told when the next time is known (for /healthz). */
  onNextRun?(profile: Profile, at: Date): void;
}

/** Runs until `stop` fires; a run in flight is handed `stop` too, so it is interrupted. */
export async function runVerificationLoop(profile: Profile & { verification: VerificationConfig }, deps: VerificationLoopDeps, stop: AbortSignal): Promise<void> {
  const { clock, logger } = deps;
  const { schedule, timeZone } = profile.verification;
  let next = nextRun(schedule, timeZone, clock.now());
  while (!stop.aborted) {
    deps.onNextRun?.(profile, next);
    try {
      await clock.sleepUntil(next, stop);
    } catch {
      return;
    }
    if (stop.aborted) return;
    const firedAt = next;
    await deps.runOnce(profile, stop);
    const after = nextRunAfter(schedule, timeZone, firedAt, clock.now());
    next = after.next;
    if (after.skipped > 0) logger.warn('the verification schedule came round while its previous run was still going; those times were skipped', { profile: profile.name, skipped: after.skipped });
  }
}
