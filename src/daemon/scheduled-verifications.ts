/**
 * The standalone daemon's scheduled verifications: runs one scheduled time of a profile
 * (lib/verify/scheduled.ts: verify the newest Succeeded backup, or skip saying why), logs its
 * outcome (passed; or failed, naming the tables and files that did not match), keeps the
 * verification metrics, and remembers each profile's last outcome and next time for /healthz.
 *
 * A run in flight is interrupted when the daemon stops (a verification only reads the backup: there
 * is nothing to finish, and its scratch sandbox is stopped and removed); nothing is saved then, so
 * the last finished verification stays what the catalog shows.
 */
import type { Clock } from '../lib/clock.js';
import type { Config, Profile, VerificationConfig } from '../lib/config/schema.js';
import type { ProfileKeys } from '../lib/crypto/keys.js';
import { listBackups } from '../lib/catalog/catalog.js';
import { AppError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { EndedVerification, VerificationMetrics } from '../lib/metrics/verification-metrics.js';
import { readVerificationMemory, rememberRun, writeVerificationMemory } from '../lib/metrics/verification-memory.js';
import type { ObjectStore } from '../lib/storage/object-store.js';
import { latestPassedVerification, runScheduledVerification, verificationProblems } from '../lib/verify/scheduled.js';
import type { ScratchNeeds, ScratchServer, VerificationResult } from '../lib/verify/verify-backup.js';

export interface ScheduledVerificationsDeps {
  config: Config;
  storeFor(profile: Profile): Promise<ObjectStore>;
  keysFor(profile: Profile): Promise<ProfileKeys>;
  /** The scratch server a profile's verification restores into (the daemon's default: a throwaway sandbox). */
  scratchFor(profile: Profile): (needs: ScratchNeeds, signal: AbortSignal) => Promise<ScratchServer>;
  clock: Clock;
  logger: Logger;
  metrics: VerificationMetrics;
}

/** How a profile's last scheduled time ended, as /healthz shows it. */
export interface LastVerification {
  /** When the run ended (RFC 3339). */
  at: string;
  outcome: 'passed' | 'failed' | 'skipped' | 'error' | 'interrupted';
  backup: string | null;
  /** Why it was skipped, what did not match, or what went wrong; null for a pass. */
  detail: string | null;
}

/** One profile's verification, as /healthz shows it. */
export interface VerificationHealth {
  profile: string;
  schedule: string;
  timeZone: string;
  /** RFC 3339, UTC; null until the loop has computed it. */
  nextRun: string | null;
  running: { backup: string; since: string } | null;
  last: LastVerification | null;
}

export class ScheduledVerifications {
  private readonly state = new Map<string, { nextRun: string | null; running: VerificationHealth['running']; last: LastVerification | null }>();

  constructor(private readonly deps: ScheduledVerificationsDeps) {
    for (const p of deps.config.backup.profiles) if (p.verification) this.state.set(p.name, { nextRun: null, running: null, last: null });
  }

  private groupOf(result?: { group?: string } | null): string {
    return this.deps.config.name ?? result?.group ?? 'unknown';
  }

  /**
   * Seeds the gauges from each profile's most recent passing and most recent failing verification
   * saved in its storage (by `verify` or an earlier daemon), without counting a run. A profile whose storage cannot be
   * read is left out, with a warning.
   */
  async seed(): Promise<void> {
    const { deps } = this;
    for (const profile of deps.config.backup.profiles) {
      try {
        const store = await deps.storeFor(profile);
        // What an earlier daemon remembered, also of backups pruned since; the catalog may hold newer.
        const memory = await readVerificationMemory(store);
        for (const [run, passed] of [[memory.lastSuccess, true], [memory.lastFailure, false]] as const) {
          if (run) deps.metrics.observe({ ...run, profile: profile.name, passed }, { countRun: false });
        }
        const entries = await listBackups(store, { now: deps.clock.now(), missingStorageIsEmpty: true });
        // The newest failing verification too, so that a failure still unanswered by a pass stays
        // visible (bloodraven_verification_last_failure_timestamp_seconds) across a restart.
        const failed = entries.filter((e) => e.verification === 'failed' && e.verifiedAt !== null).sort((a, b) => Date.parse(b.verifiedAt ?? '') - Date.parse(a.verifiedAt ?? ''))[0];
        if (failed?.verifiedAt) {
          deps.metrics.observe({ name: `${failed.name}@${failed.verifiedAt}`, group: this.groupOf(failed.record), profile: profile.name, passed: false, completedAt: failed.verifiedAt }, { countRun: false });
        }
        const latest = await latestPassedVerification(store, entries);
        if (!latest) continue;
        deps.metrics.observe(
          {
            name: runName(latest.result),
            group: this.groupOf(latest.entry.record),
            profile: profile.name,
            passed: true,
            completedAt: latest.result.completedAt ?? latest.result.verifiedAt,
            restoreSeconds: restoreSecondsOf(latest.result),
          },
          { countRun: false },
        );
      } catch (err) {
        deps.logger.warn('cannot read the saved verifications of a profile to seed the metrics', { profile: profile.name, reason: errorMessage(err) });
      }
    }
  }

  /** The profiles that have a verification schedule. */
  scheduled(): Array<Profile & { verification: VerificationConfig }> {
    return this.deps.config.backup.profiles.flatMap((p) => (p.verification ? [{ ...p, verification: p.verification }] : []));
  }

  setNextRun(profile: Profile, at: Date): void {
    const s = this.state.get(profile.name);
    if (s) s.nextRun = at.toISOString();
  }

  /** Each profile with a verification schedule: its next time, the run going on, and the last outcome. */
  health(): VerificationHealth[] {
    return this.deps.config.backup.profiles.flatMap((p) => {
      const s = this.state.get(p.name);
      return p.verification && s ? [{ profile: p.name, schedule: p.verification.schedule, timeZone: p.verification.timeZone, nextRun: s.nextRun, running: s.running, last: s.last }] : [];
    });
  }

  /** Counts a run that ended, and remembers it in the profile's storage (verification-memory.ts) for the next start. */
  private async observe(profile: Profile, run: EndedVerification): Promise<void> {
    this.deps.metrics.observe(run);
    try {
      const store = await this.deps.storeFor(profile);
      const next = rememberRun(await readVerificationMemory(store), run);
      if (next) await writeVerificationMemory(store, next);
    } catch (err) {
      this.deps.logger.warn('cannot save the last verification for the metrics; a restart may not show it', { profile: profile.name, reason: errorMessage(err) });
    }
  }

  /** One scheduled time of `profile`, to its end: never throws; the outcome is logged, counted and kept. */
  async runOnce(profile: Profile, signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const { logger, clock } = deps;
    const state = this.state.get(profile.name);
    const startedAt = clock.now().toISOString();
    let backup: string | null = null;
    let group = this.groupOf(null);
    const finish = (last: Omit<LastVerification, 'at'>): void => {
      if (state) {
        state.running = null;
        state.last = { at: clock.now().toISOString(), ...last };
      }
    };
    try {
      const store = await deps.storeFor(profile);
      const kek = await (await deps.keysFor(profile)).forReading();
      const outcome = await runScheduledVerification(
        { store, kek, logger, clock, scratch: deps.scratchFor(profile) },
        { threads: profile.verification?.threads ?? profile.dump.threads },
        {
          signal,
          onStart: (entry, reason) => {
            backup = entry.name;
            group = this.groupOf(entry.record);
            if (state) state.running = { backup: entry.name, since: clock.now().toISOString() };
            logger.info('scheduled verification starting', { profile: profile.name, backup: entry.name, why: reason });
          },
        },
      );
      if (outcome.kind === 'skipped') {
        logger.info('scheduled verification skipped', { profile: profile.name, backup: outcome.backup, reason: outcome.reason });
        finish({ outcome: 'skipped', backup: outcome.backup, detail: outcome.reason });
        return;
      }
      const { result } = outcome;
      await this.observe(profile, { name: runName(result), group, profile: profile.name, passed: result.ok, completedAt: result.completedAt ?? clock.now().toISOString(), restoreSeconds: restoreSecondsOf(result) });
      if (result.ok) {
        logger.info('scheduled verification passed', {
          profile: profile.name,
          backup: result.backup,
          tables: result.tables.length,
          restoreSeconds: restoreSecondsOf(result) ?? null,
        });
        finish({ outcome: 'passed', backup: result.backup, detail: null });
      } else {
        const problems = verificationProblems(result);
        logger.error('scheduled verification failed', {
          profile: profile.name,
          backup: result.backup,
          tables: result.mismatches.join(', '),
          files: result.files.failed.map((f) => f.name).join(', '),
          problems: problems.join('; '),
        });
        finish({ outcome: 'failed', backup: result.backup, detail: problems.join('; ') });
      }
    } catch (err) {
      if (signal.aborted) {
        logger.warn('scheduled verification interrupted: the daemon is stopping (nothing was saved)', { profile: profile.name, backup });
        finish({ outcome: 'interrupted', backup, detail: 'the daemon stopped' });
        return;
      }
      // Removed by a prune or by hand while it was read: nothing to say about it.
      if (err instanceof AppError && err.code === 'BACKUP_GONE') {
        logger.warn('scheduled verification skipped: the backup was removed while it was verified', { profile: profile.name, backup });
        finish({ outcome: 'skipped', backup, detail: errorMessage(err) });
        return;
      }
      // It proved nothing: counted as a failure, so that an alert on failures sees a verifier that cannot run.
      await this.observe(profile, { name: `${backup ?? profile.name}@${startedAt}`, group, profile: profile.name, passed: false, completedAt: clock.now().toISOString() });
      const hint = err instanceof AppError && err.hint ? err.hint : null;
      logger.error('scheduled verification could not run', { profile: profile.name, backup, reason: errorMessage(err), ...(hint ? { hint } : {}) });
      finish({ outcome: 'error', backup, detail: errorMessage(err) });
    }
  }
}

/** A verification run's name for the metrics: the backup and when its verification began. */
function runName(result: VerificationResult): string {
  return `${result.backup}@${result.verifiedAt}`;
}

function restoreSecondsOf(result: VerificationResult): number | undefined {
  return result.restore ? result.restore.durationMs / 1000 : undefined;
}
