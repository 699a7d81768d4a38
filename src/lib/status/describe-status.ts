/**
 * `status`: per profile, its backups, the last success and failure, and its verification (the
 * newest verified backup, the last verification run, the next scheduled one); every schedule with
 * its next run (computed in the schedule's time zone, reported in UTC).
 */
import type { Config, Profile } from '../config/schema.js';
import { listBackups, type CatalogEntry } from '../catalog/catalog.js';
import type { BackupPhase } from '../catalog/record.js';
import { AppError, errorMessage } from '../errors.js';
import { nextRun } from '../schedule/cron.js';
import type { ObjectStore } from '../storage/object-store.js';
import { windowFromStorage } from '../pitr/point-in-time.js';
import type { PitrWindow } from '../pitr/window.js';

export interface BackupStatus {
  name: string;
  phase: BackupPhase;
  startedAt: string;
  ageSeconds: number;
  durationSeconds: number | null;
  sizeBytes: number;
  /** The bytes its folder holds now, its record aside (for a failed backup, what it still costs). */
  heldBytes: number;
  verified: boolean;
  verification: 'passed' | 'failed' | null;
  /** When its last verification ran (RFC 3339), or null. */
  verifiedAt: string | null;
  failure: string | null;
}

/** A profile's verification at a glance. */
export interface ProfileVerificationStatus {
  /** The newest backup whose last verification passed, and when that verification ran. */
  newestVerified: { name: string; verifiedAt: string | null } | null;
  /** The most recent verification among the profile's backups, whichever backup it was of. */
  last: { backup: string; verifiedAt: string; result: 'passed' | 'failed' } | null;
  /** The profile's `verification` schedule and its next time (RFC 3339, UTC); null without one. */
  schedule: { schedule: string; timeZone: string; nextRun: string } | null;
}

export interface ProfileStatus {
  name: string;
  location: string | null;
  storageType: 'PVC' | 'S3';
  backups: BackupStatus[];
  lastSuccess: BackupStatus | null;
  lastFailure: BackupStatus | null;
  verification: ProfileVerificationStatus;
  /** Why the profile's storage could not be read, if it could not. */
  error: string | null;
  /** What to do about `error`, when there is advice. */
  errorHint: string | null;
}

export interface ScheduleStatus {
  name: string;
  profileName: string;
  schedule: string;
  timeZone: string;
  /** RFC 3339, UTC. */
  nextRun: string;
}

export interface Status {
  group: string | null;
  generatedAt: string;
  profiles: ProfileStatus[];
  schedules: ScheduleStatus[];
  /** The point-in-time window (restorable ranges and the gaps between them), when PITR is configured. */
  pitr: (PitrWindow & { profile: string; error: string | null }) | null;
}

function backupStatus(e: CatalogEntry, now: Date): BackupStatus {
  const r = e.record;
  return {
    name: e.name,
    phase: e.phase,
    startedAt: e.startedAt.toISOString(),
    ageSeconds: Math.round((now.getTime() - e.startedAt.getTime()) / 1000),
    durationSeconds: r?.completedAt ? (Date.parse(r.completedAt) - Date.parse(r.startedAt)) / 1000 : null,
    sizeBytes: r?.sizeBytes ?? 0,
    heldBytes: e.heldBytes,
    verified: e.verified,
    verification: e.verification,
    verifiedAt: e.verifiedAt,
    failure: e.failure,
  };
}

/**
 * The newest verified backup and the latest verification run among `backups` (newest first), and
 * with a verification schedule its next time. Shared by Kubernetes mode's page (group-status.ts).
 */
export function verificationStatus(backups: readonly BackupStatus[], profile: { verification?: { schedule: string; timeZone: string } | undefined }, now: Date): ProfileVerificationStatus {
  const newest = backups.find((b) => b.verification === 'passed' && b.phase === 'Succeeded');
  let last: ProfileVerificationStatus['last'] = null;
  for (const b of backups) {
    if (b.verification === null || b.verifiedAt === null) continue;
    if (!last || Date.parse(b.verifiedAt) > Date.parse(last.verifiedAt)) last = { backup: b.name, verifiedAt: b.verifiedAt, result: b.verification };
  }
  const v = profile.verification;
  return {
    newestVerified: newest ? { name: newest.name, verifiedAt: newest.verifiedAt } : null,
    last,
    schedule: v ? { schedule: v.schedule, timeZone: v.timeZone, nextRun: nextRun(v.schedule, v.timeZone, now).toISOString() } : null,
  };
}

/** Each schedule with its next run after `now`, computed in its time zone (RFC 3339, UTC). */
export function scheduleStatuses(schedules: ReadonlyArray<{ name: string; profileName: string; schedule: string; timeZone: string }>, now: Date): ScheduleStatus[] {
  return schedules.map((s) => ({ name: s.name, profileName: s.profileName, schedule: s.schedule, timeZone: s.timeZone, nextRun: nextRun(s.schedule, s.timeZone, now).toISOString() }));
}

/** The window of an archive that could not be read (with the reason beside it). */
export const noWindow: PitrWindow = { from: null, to: null, ranges: [], gaps: [], reason: null, sites: [], files: 0 };

/**
 * Everything `status` shows. A profile whose storage cannot be read is described with its error
 * (and so is the archive), never left out: callers decide what an unreadable profile means.
 */
export async function describeStatus(config: Config, openStore: (profile: Profile) => Promise<ObjectStore>, now: Date, signal?: AbortSignal): Promise<Status> {
  const profiles: ProfileStatus[] = [];
  for (const profile of config.backup.profiles) {
    const status: ProfileStatus = {
      name: profile.name,
      location: null,
      storageType: profile.storage.type,
      backups: [],
      lastSuccess: null,
      lastFailure: null,
      verification: verificationStatus([], profile, now),
      error: null,
      errorHint: null,
    };
    try {
      const store = await openStore(profile);
      status.location = store.location;
      const entries = await listBackups(store, { now, ...(signal ? { signal } : {}) });
      status.backups = entries.map((e) => backupStatus(e, now));
      status.lastSuccess = status.backups.find((b) => b.phase === 'Succeeded') ?? null;
      status.lastFailure = status.backups.find((b) => b.phase === 'Failed') ?? null;
      status.verification = verificationStatus(status.backups, profile, now);
    } catch (err) {
      if (signal?.aborted) throw err;
      status.error = errorMessage(err);
      status.errorHint = err instanceof AppError ? (err.hint ?? null) : null;
    }
    profiles.push(status);
  }
  const schedules = scheduleStatuses(config.backup.schedules, now);
  let pitr: Status['pitr'] = null;
  const pitrConfig = config.backup.pitr;
  const pitrProfile = pitrConfig ? config.backup.profiles.find((p) => p.name === pitrConfig.profileName) : undefined;
  if (pitrProfile) {
    try {
      const store = await openStore(pitrProfile);
      pitr = { ...(await windowFromStorage(store, { now, ...(signal ? { signal } : {}) })), profile: pitrProfile.name, error: null };
    } catch (err) {
      if (signal?.aborted) throw err;
      pitr = { ...noWindow, profile: pitrProfile.name, error: errorMessage(err) };
    }
  }
  return { group: config.name ?? null, generatedAt: now.toISOString(), profiles, schedules, pitr };
}
