/**
 * The retention planner (pure): which backups of a profile to keep and which to delete, and why.
 * Semantics of the reference's structured retention:
 *
 * - a successful backup is kept if any enabled check keeps it: among the newest `count`, or
 *   younger than `maxAgeDays`; with neither enabled, every successful backup is kept;
 * - the newest `minKeep` successful backups are always kept (after a long outage in which every
 *   attempt failed, the last good backup survives whatever its age);
 * - the newest `minKeepVerified` successful backups whose last verification passed are always
 *   kept, whatever the other checks say (retention never leaves only unproven backups); a backup
 *   whose last verification failed, or that was never verified, does not count among them;
 * - at most `maxFailedKeep` failed attempts are kept, the newest;
 * - a running backup is never touched; one an earlier prune began deleting is finished off.
 */
import type { RetentionPolicy } from '../config/schema.js';
import type { BackupPhase } from '../catalog/record.js';

export interface RetentionCandidate {
  name: string;
  phase: BackupPhase;
  startedAt: Date;
  /**
   * How its last verification ended: `passed` counts it for minKeepVerified; `failed`, null or
   * absent (never verified, or not known to the caller) does not.
   */
  verification?: 'passed' | 'failed' | null;
}

export type RetentionAction = 'keep' | 'delete';

export interface RetentionDecision {
  name: string;
  phase: BackupPhase;
  startedAt: Date;
  action: RetentionAction;
  /** Every reason that applies, in words. */
  reasons: string[];
}

const dayMs = 24 * 60 * 60 * 1000;

export function planRetention(candidates: readonly RetentionCandidate[], policy: RetentionPolicy | undefined, now: Date): RetentionDecision[] {
  const newestFirst = [...candidates].sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.name.localeCompare(a.name));
  let succeeded = 0;
  let verified = 0;
  let failed = 0;
  return newestFirst.map((c) => {
    const decide = (action: RetentionAction, reasons: string[]): RetentionDecision => ({ name: c.name, phase: c.phase, startedAt: c.startedAt, action, reasons });
    if (c.phase === 'Running') return decide('keep', ['still running']);
    if (c.phase === 'Deleting') return decide('delete', ['an earlier prune began deleting it']);
    if (!policy) return decide('keep', ['the profile has no retention policy']);
    if (c.phase === 'Failed') {
      failed++;
      return failed <= policy.maxFailedKeep
        ? decide('keep', [`failed, among the newest ${policy.maxFailedKeep} failed (maxFailedKeep)`])
        : decide('delete', [`failed, beyond the newest ${policy.maxFailedKeep} failed (maxFailedKeep)`]);
    }
    succeeded++;
    const keep: string[] = [];
    const gone: string[] = [];
    if (policy.count > 0) {
      if (succeeded <= policy.count) keep.push(`among the newest ${policy.count} successful (count)`);
      else gone.push(`beyond the newest ${policy.count} successful (count)`);
    }
    if (policy.maxAgeDays > 0) {
      const ageDays = (now.getTime() - c.startedAt.getTime()) / dayMs;
      if (ageDays < policy.maxAgeDays) keep.push(`younger than ${policy.maxAgeDays} days (maxAgeDays)`);
      else gone.push(`older than ${policy.maxAgeDays} days (maxAgeDays)`);
    }
    if (succeeded <= policy.minKeep) keep.push(`among the newest ${policy.minKeep} successful, always kept (minKeep)`);
    if (c.verification === 'passed' && ++verified <= policy.minKeepVerified) keep.push(`among the newest ${policy.minKeepVerified} verified, always kept (minKeepVerified)`);
    if (policy.count === 0 && policy.maxAgeDays === 0) keep.push('no count or age limit is set');
    return keep.length > 0 ? decide('keep', keep) : decide('delete', gone);
  });
}
