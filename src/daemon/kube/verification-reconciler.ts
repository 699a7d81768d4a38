/**
 * The MysqlBackupVerification reconciler: one CR, one verification run. Pending (the backup
 * resolved: spec.mysqlBackupRef, or the profile's newest Succeeded MysqlBackup not being deleted;
 * recorded in status.backupRef/backupName) → Running (the verification Job created: `bloodraven
 * verify --scratch sandbox` in a pod, job-spec.ts verificationJob) → Passed | Failed (from the
 * pod's termination message: the measured restore time, what was compared, the mismatches).
 *
 * A run that went to the end (passed, or found mismatches) is also written to the verified
 * MysqlBackup's status.verification, which retention's minKeepVerified reads; a run that could
 * not judge the backup (its Job deleted, its pod killed, a Secret missing) fails the CR without
 * branding the backup. The CR holds no finalizer: its Job is owned by it and goes with it.
 *
 * Idempotent like the backup reconciler: each pass reads the state and does the next missing
 * step, so a crash or a leader change between two steps is repaired by the next pass.
 */
import type { V1Job } from '@kubernetes/client-node';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import { verificationJob } from '../../lib/kube/job-spec.js';
import { verificationJobName } from '../../lib/kube/objects.js';
import type { KubernetesProfile, MysqlBackupVerificationStatus, ParsedGroup } from '../../lib/kube/resources.js';
import { parseVerificationJobResult, type VerificationJobResult } from '../../lib/kube/verification-result.js';
import type { EndedVerification, VerificationMetrics } from '../../lib/metrics/verification-metrics.js';
import type { ReconcileResult } from './backup-reconciler.js';
import { condition, jobFailureMessage, jobFailureReason, jobOutcome, terminationMessage, timeOf } from './job-state.js';
import type { KubeOps, ObjectRef, StoredBackup, StoredVerification } from './kube-ops.js';
import { parseGroup, type ValidGroup } from './parse-group.js';
import { missingStorageSecret } from './profile-secrets.js';

export interface VerificationReconcilerDeps {
  ops: KubeOps;
  clock: Clock;
  logger: Logger;
  metrics: VerificationMetrics;
}

const done: ReconcileResult = {};

type Terminal = 'Passed' | 'Failed';

function isTerminal(phase: string | undefined): phase is Terminal {
  return phase === 'Passed' || phase === 'Failed';
}

function refOf(v: StoredVerification): ObjectRef {
  return { namespace: v.metadata.namespace, name: v.metadata.name };
}

/** The backup a run verifies, or why there is none (a sentence for status.message). */
type Resolution = { ok: true; backup: StoredBackup; storedName: string } | { ok: false; reason: string; message: string };

/**
 * The MysqlBackup to verify: the one spec.mysqlBackupRef names (it must be a Succeeded backup of
 * the same group and profile), or else the profile's newest Succeeded one (by completion time)
 * that is not being deleted. Pure over the cached backups.
 */
export function resolveVerifiedBackup(verification: StoredVerification, backups: readonly StoredBackup[]): Resolution {
  const { failoverGroupRef, profileName, mysqlBackupRef } = verification.spec;
  const group = failoverGroupRef.name;
  const storedNameOf = (b: StoredBackup): Resolution =>
    b.status?.backupName ? { ok: true, backup: b, storedName: b.status.backupName } : { ok: false, reason: 'BackupNotVerifiable', message: `MysqlBackup "${b.metadata.name}" has no status.backupName: its stored backup is unknown` };
  if (mysqlBackupRef) {
    const named = backups.find((b) => b.metadata.name === mysqlBackupRef.name);
    if (!named) return { ok: false, reason: 'BackupNotFound', message: `spec.mysqlBackupRef.name: MysqlBackup "${mysqlBackupRef.name}" not found in namespace ${verification.metadata.namespace}` };
    if (named.spec.failoverGroupRef.name !== group || named.spec.profileName !== profileName) {
      return {
        ok: false,
        reason: 'BackupNotVerifiable',
        message: `spec.mysqlBackupRef.name: MysqlBackup "${named.metadata.name}" belongs to group "${named.spec.failoverGroupRef.name}" profile "${named.spec.profileName}", not to group "${group}" profile "${profileName}" (spec.failoverGroupRef, spec.profileName)`,
      };
    }
    if (named.status?.phase !== 'Succeeded' || named.metadata.deletionTimestamp) {
      const state = named.metadata.deletionTimestamp ? 'being deleted' : `${named.status?.phase ?? 'Pending'}, not Succeeded`;
      return { ok: false, reason: 'BackupNotVerifiable', message: `spec.mysqlBackupRef.name: MysqlBackup "${named.metadata.name}" is ${state}: only a Succeeded backup can be verified` };
    }
    return storedNameOf(named);
  }
  const newest = backups
    .filter((b) => b.spec.failoverGroupRef.name === group && b.spec.profileName === profileName && b.status?.phase === 'Succeeded' && !b.metadata.deletionTimestamp)
    .sort((a, b) => (b.status?.completionTime ?? '').localeCompare(a.status?.completionTime ?? '') || b.metadata.name.localeCompare(a.metadata.name))[0];
  if (!newest) {
    return {
      ok: false,
      reason: 'NoBackupToVerify',
      message: `MysqlFailoverGroup "${group}" has no Succeeded MysqlBackup of profile "${profileName}" to verify: take a backup first (or name one in spec.mysqlBackupRef)`,
    };
  }
  return storedNameOf(newest);
}

/** The first difference, for the VerificationFailed event: `schema.table: check differs (expected …, found …), and N more`. */
function firstMismatch(result: Extract<VerificationJobResult, { kind: 'ended' }>): string {
  const first = result.mismatches[0];
  if (!first) return result.message;
  const values = first.expected === undefined ? '' : ` (expected ${first.expected}${first.actual === undefined ? '' : `, found ${first.actual}`})`;
  const more = result.mismatches.length + result.mismatchesOmitted - 1;
  return `${first.object}: ${first.check} differs${values}${more > 0 ? `, and ${more} more` : ''}`;
}

export class VerificationReconciler {
  constructor(private readonly deps: VerificationReconcilerDeps) {}

  /** Brings one MysqlBackupVerification one step closer to where it should be. */
  async reconcile(ref: ObjectRef): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const verification = ops.getVerification(ref);
    if (!verification || verification.metadata.deletionTimestamp) return done;
    const phase = verification.status?.phase;
    if (isTerminal(phase)) {
      // The backup's record of this run may be missing (a crash after the CR's write).
      await this.recordOnBackup(verification);
      return done;
    }

    const groupName = verification.spec.failoverGroupRef.name;
    const group = ops.getGroup({ namespace: ref.namespace, name: groupName });
    if (!group) return this.fail(verification, 'GroupNotFound', `spec.failoverGroupRef.name: MysqlFailoverGroup "${groupName}" not found in namespace ${ref.namespace}`);
    const parsed = parseGroup(group);
    if (!parsed.ok) {
      const first = parsed.problems[0];
      return this.fail(verification, 'InvalidGroup', `MysqlFailoverGroup "${groupName}" is invalid: ${first ? `${first.path}: ${first.message}` : 'see its conditions'}`);
    }
    const profile = parsed.spec.backup?.profiles.find((p) => p.name === verification.spec.profileName);
    if (!profile) {
      const names = parsed.spec.backup?.profiles.map((p) => p.name) ?? [];
      return this.fail(verification, 'ProfileNotFound', `spec.profileName: MysqlFailoverGroup "${groupName}" has no profile "${verification.spec.profileName}" (it has ${names.join(', ') || 'none'})`);
    }

    const jobRef = { namespace: ref.namespace, name: verificationJobName(verification.metadata.name) };
    const job = ops.getJob(jobRef);
    if (!job) {
      if (phase === 'Running') {
        // The cache may be behind the API server (a new Job, a relist): only the server can say it is gone.
        if (await ops.jobExists(jobRef)) return { requeueAfterMs: 1000 };
        return this.fail(verification, 'JobMissing', `the verification Job ${jobRef.name} was deleted before it finished`);
      }
      return this.start(verification, { metadata: group.metadata, spec: parsed.spec }, parsed, profile);
    }
    const outcome = jobOutcome(job);
    if (outcome === undefined) {
      await this.markRunning(verification, job);
      return done;
    }
    const term = terminationMessage(ops.podsOfJob(jobRef));
    const result = parseVerificationJobResult(term.message);
    if (result?.kind === 'ended') return this.finish(verification, job, result);
    if (result?.kind === 'error') return this.fail(verification, result.reason, result.message, job);
    if (outcome === 'Complete') {
      return this.fail(verification, 'NoResult', `the verification Job ${jobRef.name} completed without reporting its result (termination message: ${JSON.stringify(term.message ?? '')})`, job);
    }
    return this.fail(
      verification,
      jobFailureReason(job),
      `the verification Job ${jobRef.name} failed without a result (${jobFailureMessage(job)}${term.exitCode === undefined ? '' : `; last exit code ${term.exitCode}${term.reason ? `, ${term.reason}` : ''}`}); see kubectl logs job/${jobRef.name}`,
      job,
    );
  }

  /** Resolves the backup (recorded first, so a later pass verifies the same one), then creates the Job. */
  private async start(verification: StoredVerification, group: ParsedGroup, parsed: ValidGroup, profile: KubernetesProfile): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const ns = verification.metadata.namespace;
    let backupRef = verification.status?.backupRef;
    let storedName = verification.status?.backupName;
    if (!backupRef || !storedName) {
      const resolved = resolveVerifiedBackup(verification, ops.listBackups(ns));
      if (!resolved.ok) return this.fail(verification, resolved.reason, resolved.message);
      backupRef = resolved.backup.metadata.name;
      storedName = resolved.storedName;
      const chosen = { backupRef, backupName: storedName };
      await ops.updateVerificationStatus(refOf(verification), (latest) => {
        if (latest.status?.backupRef || isTerminal(latest.status?.phase)) return undefined;
        return { ...latest.status, phase: 'Pending', ...chosen, observedGeneration: latest.metadata.generation ?? 0 };
      });
    }
    const missing = await missingStorageSecret(this.deps.ops, ns, parsed, profile);
    if (missing) return this.fail(verification, 'SecretNotFound', `MysqlFailoverGroup "${group.metadata.name}": ${missing}`);

    const jobName = verificationJobName(verification.metadata.name);
    await ops.createJob(verificationJob({ group, profile, verification, storedBackupName: storedName }));
    const now = clock.now();
    const note = `Verifying MysqlBackup ${backupRef} (stored as ${storedName}) of profile ${profile.name} in a scratch server (Job ${jobName})`;
    const written = await ops.updateVerificationStatus(refOf(verification), (latest) => {
      if (latest.status?.phase === 'Running' || isTerminal(latest.status?.phase)) return undefined;
      return {
        ...latest.status,
        phase: 'Running',
        backupRef,
        backupName: storedName,
        jobName,
        startTime: timeOf(now),
        observedGeneration: latest.metadata.generation ?? 0,
        conditions: [condition('Started', 'True', 'JobCreated', note, now, latest.metadata.generation)],
      };
    });
    if (written) await ops.event(this.regarding(verification), 'Normal', 'VerificationStarted', note);
    return done;
  }

  private async markRunning(verification: StoredVerification, job: V1Job): Promise<void> {
    if (verification.status?.phase === 'Running') return;
    const now = this.deps.clock.now();
    await this.deps.ops.updateVerificationStatus(refOf(verification), (latest) => {
      if (latest.status?.phase === 'Running' || isTerminal(latest.status?.phase)) return undefined;
      return {
        ...latest.status,
        phase: 'Running',
        jobName: job.metadata?.name ?? '',
        startTime: latest.status?.startTime ?? (job.status?.startTime ? timeOf(new Date(job.status.startTime)) : timeOf(now)),
      };
    });
  }

  /** A run that went to the end: its result on the CR, an Event, the metrics, and the backup's status.verification. */
  private async finish(verification: StoredVerification, job: V1Job, result: Extract<VerificationJobResult, { kind: 'ended' }>): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const finished = job.status?.completionTime ?? job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')?.lastTransitionTime;
    const at = finished ? new Date(finished) : clock.now();
    const passed = result.phase === 'Passed';
    const omitted = result.mismatchesOmitted > 0 ? ` (${result.mismatchesOmitted} more differences are in the Job's log)` : '';
    const status: MysqlBackupVerificationStatus = {
      ...verification.status,
      phase: result.phase,
      backupName: verification.status?.backupName ?? result.backup,
      startTime: verification.status?.startTime ?? timeOf(at),
      completionTime: timeOf(at),
      restoreSeconds: result.restoreSeconds,
      tables: result.tables,
      rows: result.rows,
      objects: result.objects,
      bytes: result.bytes,
      mismatches: result.mismatches,
      message: result.message + omitted,
      observedGeneration: verification.metadata.generation ?? 0,
      conditions: [
        ...(verification.status?.conditions ?? []).filter((c) => c.type !== 'Passed' && c.type !== 'Failed'),
        passed
          ? condition('Passed', 'True', 'ContentsMatch', result.message, at, verification.metadata.generation)
          : condition('Failed', 'True', result.mismatches.length > 0 ? 'Mismatch' : 'NotRestorable', result.message + omitted, at, verification.metadata.generation),
      ],
    };
    // Counted before the write: the watch may bring the terminal CR back before the write returns,
    // and a CR seen terminal is only seeded, never counted.
    this.deps.metrics.observe(this.ended(verification, status));
    const written = await ops.updateVerificationStatus(refOf(verification), (latest) => (isTerminal(latest.status?.phase) ? undefined : status));
    if (written) {
      const backup = `MysqlBackup ${status.backupRef ?? '?'} (${status.backupName ?? result.backup})`;
      if (passed) {
        await ops.event(this.regarding(verification), 'Normal', 'VerificationPassed', `${backup} verified: ${result.tables} tables, ${result.rows} rows, ${result.objects} objects match; restored in ${result.restoreSeconds} s`);
      } else {
        await ops.event(this.regarding(verification), 'Warning', 'VerificationFailed', `${backup} failed verification: ${firstMismatch(result)}`);
      }
    }
    await this.recordOnBackup({ ...verification, status: written ?? status });
    return done;
  }

  /** A run that could not judge the backup: Failed with the reason; the backup's status is left alone. */
  private async fail(verification: StoredVerification, reason: string, message: string, job?: V1Job): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const failedAt = job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')?.lastTransitionTime ?? job?.status?.completionTime;
    const at = failedAt ? new Date(failedAt) : clock.now();
    const status: MysqlBackupVerificationStatus = {
      ...verification.status,
      phase: 'Failed',
      startTime: verification.status?.startTime ?? timeOf(at),
      completionTime: timeOf(at),
      message: `${reason}: ${message}`,
      observedGeneration: verification.metadata.generation ?? 0,
      conditions: [...(verification.status?.conditions ?? []).filter((c) => c.type !== 'Passed' && c.type !== 'Failed'), condition('Failed', 'True', reason, message, at, verification.metadata.generation)],
    };
    this.deps.metrics.observe(this.ended(verification, status));
    const written = await ops.updateVerificationStatus(refOf(verification), (latest) => (isTerminal(latest.status?.phase) ? undefined : status));
    if (written) await ops.event(this.regarding(verification), 'Warning', 'VerificationFailed', `${reason}: ${message}`);
    return done;
  }

  /**
   * Writes the run to the verified MysqlBackup's status.verification when it judged the backup
   * (it has a completion time and compared tables, or found mismatches) and is not older than the
   * run recorded there already. A backup gone meanwhile is no error.
   */
  private async recordOnBackup(verification: StoredVerification): Promise<void> {
    const status = verification.status;
    if (!status?.backupRef || !status.completionTime || !isTerminal(status.phase)) return;
    const judged = status.phase === 'Passed' || (status.mismatches?.length ?? 0) > 0 || status.tables !== undefined;
    if (!judged) return;
    const ref = { namespace: verification.metadata.namespace, name: status.backupRef };
    if (!this.deps.ops.getBackup(ref)) return;
    const record = { result: status.phase, name: verification.metadata.name, time: status.completionTime };
    await this.deps.ops.updateBackupStatus(ref, (latest) => {
      const current = latest.status?.verification;
      if (current && (current.time > record.time || (current.time === record.time && current.name >= record.name))) return undefined;
      return { ...latest.status, verification: record };
    });
  }

  private regarding(v: StoredVerification) {
    return { kind: 'MysqlBackupVerification' as const, namespace: v.metadata.namespace, name: v.metadata.name, uid: v.metadata.uid };
  }

  private ended(v: StoredVerification, status: MysqlBackupVerificationStatus): EndedVerification {
    return {
      name: v.metadata.name,
      namespace: v.metadata.namespace,
      group: v.spec.failoverGroupRef.name,
      profile: v.spec.profileName,
      passed: status.phase === 'Passed',
      completedAt: status.completionTime ?? status.startTime ?? new Date(0).toISOString(),
      restoreSeconds: status.restoreSeconds,
    };
  }

  /**
   * Takes a terminal CR this process did not finish (there at start, or finished by another
   * replica) into the gauges without counting its run, so that restarts and leader changes never
   * count a run twice (as BackupMetrics.seed).
   */
  seedMetrics(v: StoredVerification): void {
    if (!v.status || !isTerminal(v.status.phase)) return;
    this.deps.metrics.observe(this.ended(v, v.status), { countRun: false });
  }
}
