/**
 * The MysqlFailoverGroup reconciler: checks the group's backup spec and everything it refers to
 * (Secrets, claims), then makes the cluster match it: one CronJob per schedule (created, updated,
 * deleted with the spec), the requester account the CronJobs' pods use, and the PVCs bloodraven
 * provisions. It writes only the status fields bloodraven owns (a Ready condition,
 * backupSchedules[], lastBackupTime, observedGeneration); the rest belongs to the group's operator.
 *
 * A group with a problem gets Ready=False naming the field, a Warning event, and no new CronJob
 * or Job (existing CronJobs stay: a Secret being rotated should not drop schedules).
 */
import type { Clock } from '../../lib/clock.js';
import { GroupFieldError, resolveGroupAccount } from '../../lib/kube/group-credentials.js';
import { scheduleCronJob, verificationCronJob } from '../../lib/kube/job-spec.js';
import { labelKeys, provisionedPvc, requesterRole, requesterRoleBinding, requesterServiceAccount } from '../../lib/kube/objects.js';
import type { MysqlFailoverGroupSpec, MysqlFailoverGroupStatus } from '../../lib/kube/resources.js';
import { nextRetry } from '../../lib/kube/retry-plan.js';
import type { Logger } from '../../lib/log.js';
import type { ReconcileResult } from './backup-reconciler.js';
import { parseGroup } from './parse-group.js';
import type { KubeOps, ObjectRef, StoredBackup, StoredGroup } from './kube-ops.js';
import { timeOf } from './job-state.js';

export interface GroupReconcilerDeps {
  ops: KubeOps;
  clock: Clock;
  logger: Logger;
}

/** A problem with the group, at the field the user wrote. */
export interface GroupProblem {
  path: string;
  message: string;
  /** CamelCase, for the condition's reason. */
  reason: string;
}

/**
 * What the group's spec refers to and the namespace lacks: the credentials Secret (and its keys),
 * each S3 profile's credentialsSecret, each encryption passphraseSecret, each user-managed claim.
 */
export async function referenceProblems(ops: KubeOps, namespace: string, spec: MysqlFailoverGroupSpec): Promise<GroupProblem[]> {
  const problems: GroupProblem[] = [];
  try {
    await resolveGroupAccount(spec, (name) => ops.readSecret({ namespace, name }));
  } catch (err) {
    if (!(err instanceof GroupFieldError)) throw err;
    problems.push({ path: err.field, message: err.message.slice(err.field.length + 2), reason: err.reason });
  }
  for (const [i, profile] of (spec.backup?.profiles ?? []).entries()) {
    const at = `spec.backup.profiles[${i}]`;
    if (profile.storage.type === 'S3' && profile.storage.s3.credentialsSecret) {
      const name = profile.storage.s3.credentialsSecret;
      if (!(await ops.readSecret({ namespace, name }))) problems.push({ path: `${at}.storage.s3.credentialsSecret`, message: `Secret "${name}" not found in namespace ${namespace}`, reason: 'SecretNotFound' });
    }
    if (profile.encryption) {
      const name = profile.encryption.passphraseSecret;
      const data = await ops.readSecret({ namespace, name });
      if (!data) problems.push({ path: `${at}.encryption.passphraseSecret`, message: `Secret "${name}" not found in namespace ${namespace}`, reason: 'SecretNotFound' });
      else if (!data.passphrase) problems.push({ path: `${at}.encryption.passphraseSecret`, message: `Secret "${name}" has no key "passphrase"`, reason: 'InvalidSpec' });
    }
    if (profile.storage.type === 'PVC' && profile.storage.pvc.claimName) {
      const name = profile.storage.pvc.claimName;
      if (!(await ops.pvcExists({ namespace, name }))) problems.push({ path: `${at}.storage.pvc.claimName`, message: `PersistentVolumeClaim "${name}" not found in namespace ${namespace}`, reason: 'ClaimNotFound' });
    }
  }
  return problems;
}

export class GroupReconciler {
  constructor(private readonly deps: GroupReconcilerDeps) {}

  async reconcile(ref: ObjectRef): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const group = ops.getGroup(ref);
    // Deleted: the API server's garbage collector removes what the group owns.
    if (!group || group.metadata.deletionTimestamp) return {};
    const parsed = parseGroup(group);
    const problems: GroupProblem[] = parsed.ok ? await referenceProblems(ops, ref.namespace, parsed.spec) : parsed.problems.map((p) => ({ ...p, reason: 'InvalidSpec' }));
    if (problems.length > 0 || !parsed.ok) return this.refuse(group, problems);

    const spec = parsed.spec;
    const built = { metadata: group.metadata, spec };
    const schedules = spec.backup?.schedules ?? [];
    // Verification in the cluster (issue 11): a profile's verification schedule is a CronJob too.
    const verificationCronJobs = (spec.backup?.profiles ?? []).flatMap((p) => {
      const cronJob = verificationCronJob(built, p);
      return cronJob ? [{ cronJob, profile: p.name, schedule: p.verification?.schedule ?? '', timeZone: p.verification?.timeZone ?? '' }] : [];
    });
    if (schedules.length > 0 || verificationCronJobs.length > 0) {
      await ops.applyRequesterAccess({ serviceAccount: requesterServiceAccount(built), role: requesterRole(built), roleBinding: requesterRoleBinding(built) });
    }
    for (const profile of spec.backup?.profiles ?? []) {
      const pvc = provisionedPvc(built, profile);
      if (pvc) {
        if (await ops.createPvc(pvc)) {
          await ops.event(this.regarding(group), 'Normal', 'PvcProvisioned', `Created PersistentVolumeClaim for profile ${profile.name}`);
        }
      }
    }
    const wanted = new Set<string>();
    for (const schedule of schedules) {
      const cronJob = scheduleCronJob(built, schedule);
      wanted.add(cronJob.metadata?.name ?? '');
      const what = await ops.applyCronJob(cronJob);
      if (what !== 'unchanged') {
        await ops.event(this.regarding(group), 'Normal', what === 'created' ? 'ScheduleCreated' : 'ScheduleUpdated', `CronJob ${cronJob.metadata?.name} runs "${schedule.schedule}" in ${schedule.timeZone} for profile ${schedule.profileName}`);
      }
    }
    for (const { cronJob, profile, schedule, timeZone } of verificationCronJobs) {
      wanted.add(cronJob.metadata?.name ?? '');
      const what = await ops.applyCronJob(cronJob);
      if (what !== 'unchanged') {
        await ops.event(this.regarding(group), 'Normal', what === 'created' ? 'ScheduleCreated' : 'ScheduleUpdated', `CronJob ${cronJob.metadata?.name} verifies the latest backup of profile ${profile} at "${schedule}" in ${timeZone}`);
      }
    }
    for (const existing of ops.cronJobsOfGroup(ref)) {
      const name = existing.metadata?.name ?? '';
      if (wanted.has(name)) continue;
      await ops.deleteCronJob({ namespace: ref.namespace, name });
      await ops.event(this.regarding(group), 'Normal', 'ScheduleDeleted', `CronJob ${name} deleted: its schedule is gone from spec.backup.schedules (or the profile's verification)`);
    }
    const nextRetryAt = await this.writeStatus(group, spec);
    return nextRetryAt === undefined ? {} : { requeueAfterMs: Math.max(1000, nextRetryAt - this.deps.clock.now().getTime()) };
  }

  /** Ready=False naming every problem, and one Warning event when the problems change. */
  private async refuse(group: StoredGroup, problems: GroupProblem[]): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const message = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    const reason = problems[0]?.reason ?? 'InvalidSpec';
    const now = clock.now();
    const written = await ops.updateGroupStatus({ namespace: group.metadata.namespace, name: group.metadata.name }, (latest) => {
      const ready = (latest.status?.conditions ?? []).find((c) => c.type === 'Ready');
      if (ready?.status === 'False' && ready.reason === reason && ready.message === message && ready.observedGeneration === (latest.metadata.generation ?? 0)) return undefined;
      return {
        ...latest.status,
        observedGeneration: latest.metadata.generation ?? 0,
        conditions: [
          ...(latest.status?.conditions ?? []).filter((c) => c.type !== 'Ready'),
          { type: 'Ready', status: 'False' as const, reason, message, lastTransitionTime: timeOf(now), observedGeneration: latest.metadata.generation ?? 0 },
        ],
      };
    });
    if (written) await ops.event(this.regarding(group), 'Warning', reason, `Backups are not scheduled or started: ${message}`);
    // Secrets appear without an event on the group: look again in a while.
    return { requeueAfterMs: 30_000 };
  }

  /** The status rollup; returns when the next retry is due (ms since epoch), if one is pending. */
  private async writeStatus(group: StoredGroup, spec: MysqlFailoverGroupSpec): Promise<number | undefined> {
    const { ops, clock } = this.deps;
    const mine = ops.listBackups(group.metadata.namespace).filter((b) => b.spec.failoverGroupRef.name === group.metadata.name);
    let nextDue: number | undefined;
    const schedules = (spec.backup?.schedules ?? []).map((s) => {
      const runs = mine.filter((b) => b.metadata.labels?.[labelKeys.schedule] === s.name);
      const succeeded = runs.filter((b) => b.status?.phase === 'Succeeded' && b.status.completionTime).sort((a, b) => (b.status?.completionTime ?? '').localeCompare(a.status?.completionTime ?? ''));
      const last = succeeded[0];
      const newest = [...runs].sort((a, b) => String(b.metadata.creationTimestamp ?? '').localeCompare(String(a.metadata.creationTimestamp ?? '')) || (b.spec.attempt ?? 1) - (a.spec.attempt ?? 1))[0];
      let lastRetryAttempt = 0;
      let nextRetryTime: string | undefined;
      if (newest) {
        const root = newest.spec.retryOf ?? newest.metadata.name;
        lastRetryAttempt = Math.max(0, ...runs.filter((b) => b.spec.retryOf === root).map((b) => b.spec.attempt ?? 0));
        if (newest.status?.phase === 'Failed' && newest.status.completionTime && spec.backup) {
          const retry = nextRetry({ triggeredBy: newest.spec.triggeredBy ?? 'manual', attempt: newest.spec.attempt ?? 1, completionTime: new Date(newest.status.completionTime) }, spec.backup.retry);
          if (retry) {
            nextRetryTime = timeOf(retry.due);
            nextDue = Math.min(nextDue ?? Infinity, retry.due.getTime());
          }
        }
      }
      return {
        name: s.name,
        profileName: s.profileName,
        ...(last ? { lastSuccessfulBackupName: last.metadata.name, lastBackupTime: last.status?.completionTime } : {}),
        lastRetryAttempt,
        ...(nextRetryTime ? { nextRetryTime } : {}),
      };
    });
    const lastBackupTime = mine
      .filter((b: StoredBackup) => b.status?.phase === 'Succeeded' && b.status.completionTime)
      .map((b) => b.status?.completionTime ?? '')
      .sort()
      .at(-1);
    const now = clock.now();
    await ops.updateGroupStatus({ namespace: group.metadata.namespace, name: group.metadata.name }, (latest) => {
      const ready = (latest.status?.conditions ?? []).find((c) => c.type === 'Ready');
      const readyNow =
        ready?.status === 'True' && ready.observedGeneration === (latest.metadata.generation ?? 0)
          ? ready
          : { type: 'Ready', status: 'True' as const, reason: 'Reconciled', message: `${schedules.length} schedule(s), ${spec.backup?.profiles.length ?? 0} profile(s)`, lastTransitionTime: timeOf(now), observedGeneration: latest.metadata.generation ?? 0 };
      const next: MysqlFailoverGroupStatus = {
        ...latest.status,
        observedGeneration: latest.metadata.generation ?? 0,
        backupSchedules: schedules,
        conditions: [...(latest.status?.conditions ?? []).filter((c) => c.type !== 'Ready'), readyNow],
      };
      if (lastBackupTime) next.lastBackupTime = lastBackupTime;
      return next;
    });
    return nextDue;
  }

  private regarding(group: StoredGroup) {
    return { kind: 'MysqlFailoverGroup' as const, namespace: group.metadata.namespace, name: group.metadata.name, uid: group.metadata.uid };
  }
}
