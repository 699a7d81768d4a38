/**
 * The status page's model (lib/status/describe-status.ts `Status`) for a MysqlFailoverGroup in
 * Kubernetes mode, from what the daemon's informers hold: each profile's MysqlBackups (phase,
 * size, duration, verification, the failure's message), each schedule's next run computed in its
 * time zone, and each profile's verification schedule.
 *
 * The point-in-time window needs the archive's manifests, which live in storage: `readWindow`
 * reads them when it can (an S3 archive, through the credentials Secret its profile names), and
 * otherwise says why not. The backups are always drawn as points from the CRs.
 */
import { noWindow, scheduleStatuses, verificationStatus, type BackupStatus, type ProfileStatus, type Status } from '../../lib/status/describe-status.js';
import type { KubernetesProfile, MysqlFailoverGroupSpec } from '../../lib/kube/resources.js';
import type { PitrWindow } from '../../lib/pitr/window.js';
import type { StoredBackup, StoredGroup } from './kube-ops.js';
import { parseGroup } from './parse-group.js';

/** Reads the window of the group's archive profile; throws with the reason it cannot. */
export type WindowReader = (namespace: string, profile: KubernetesProfile) => Promise<PitrWindow>;

function location(profile: KubernetesProfile): string {
  const s = profile.storage;
  if (s.type === 'S3' && s.s3) return `s3://${s.s3.bucket}${s.s3.prefix ? `/${s.s3.prefix.replace(/^\/+|\/+$/g, '')}` : ''}`;
  if (s.type === 'PVC' && s.pvc) return `pvc://${s.pvc.claimName ?? '(provisioned)'}`;
  return s.type;
}

function failureOf(b: StoredBackup): string | null {
  if (b.status?.phase !== 'Failed') return null;
  const c = b.status.conditions?.find((x) => x.type === 'Failed' && x.status === 'True');
  return c?.message ?? c?.reason ?? 'failed';
}

function backupStatus(b: StoredBackup, now: Date): BackupStatus {
  const s = b.status;
  const started = s?.startTime ?? b.metadata.creationTimestamp;
  const startedAt = started ? new Date(started) : now;
  const v = s?.verification;
  const phase = s?.phase === 'Succeeded' || s?.phase === 'Failed' ? s.phase : 'Running';
  return {
    name: b.metadata.name,
    phase,
    startedAt: startedAt.toISOString(),
    ageSeconds: Math.round((now.getTime() - startedAt.getTime()) / 1000),
    durationSeconds: s?.startTime && s.completionTime ? (Date.parse(s.completionTime) - Date.parse(s.startTime)) / 1000 : null,
    sizeBytes: s?.sizeBytes ?? 0,
    heldBytes: s?.sizeBytes ?? 0,
    verified: v?.result === 'Passed',
    verification: v ? (v.result === 'Passed' ? 'passed' : 'failed') : null,
    verifiedAt: v?.time ?? null,
    failure: failureOf(b),
  };
}

/**
 * The group's Status. `backups` are the namespace's MysqlBackups (those of other groups are left
 * out). An invalid spec gives a Status without profiles whose `pitr` is null; the caller shows why.
 */
export async function describeGroupStatus(group: StoredGroup, backups: readonly StoredBackup[], now: Date, readWindow?: WindowReader): Promise<Status> {
  const ns = group.metadata.namespace;
  const parsed = parseGroup(group);
  const name = `${ns}/${group.metadata.name}`;
  if (!parsed.ok) return { group: name, generatedAt: now.toISOString(), profiles: [], schedules: [], pitr: null };
  const spec: MysqlFailoverGroupSpec = parsed.spec;
  const mine = backups
    .filter((b) => b.spec.failoverGroupRef.name === group.metadata.name && !b.metadata.deletionTimestamp)
    .map((b) => ({ profile: b.spec.profileName, status: backupStatus(b, now) }))
    .sort((a, b) => Date.parse(b.status.startedAt) - Date.parse(a.status.startedAt));
  const profiles: ProfileStatus[] = (spec.backup?.profiles ?? []).map((p) => {
    const list = mine.filter((b) => b.profile === p.name).map((b) => b.status);
    return {
      name: p.name,
      location: location(p),
      storageType: p.storage.type,
      backups: list,
      lastSuccess: list.find((b) => b.phase === 'Succeeded') ?? null,
      lastFailure: list.find((b) => b.phase === 'Failed') ?? null,
      verification: verificationStatus(list, p, now),
      error: null,
      errorHint: null,
    };
  });
  const schedules = scheduleStatuses(spec.backup?.schedules ?? [], now);
  let pitr: Status['pitr'] = null;
  const pitrSpec = spec.backup?.pitr;
  const archive = pitrSpec?.enabled ? spec.backup?.profiles.find((p) => p.name === pitrSpec.profileName) : undefined;
  if (archive) {
    try {
      if (!readWindow) throw new Error('the daemon cannot read the archive');
      pitr = { ...(await readWindow(ns, archive)), profile: archive.name, error: null };
    } catch (err) {
      pitr = { ...noWindow, profile: archive.name, error: err instanceof Error ? err.message : String(err) };
    }
  }
  return { group: name, generatedAt: now.toISOString(), profiles, schedules, pitr };
}
