/**
 * The MysqlBackup reconciler: one CR, one run. Pending → Running (a source site chosen, a Secret
 * derived for the run, the backup Job created) → Succeeded | Failed (from the Job and its pod's
 * termination message). After a success the profile's retention policy deletes the CRs it does
 * not keep; after a failure of a scheduled run a retry CR follows at its backoff. A CR being
 * deleted runs a cleanup Job through the `shipstream.io/mysqlbackup` finalizer.
 *
 * Every step is idempotent: the reconciler reads the state, does the next missing thing, and
 * returns; a crash between two steps is repaired by the next pass. Behaviour reference: the
 * seed's "Backup source selection", "Credential layout", "Artifact cleanup", "Retries for
 * scheduled backups" and "Metrics".
 */
import type { V1Job } from '@kubernetes/client-node';
import type { Clock } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { parseBackupJobResult, type BackupJobResult } from '../../lib/kube/backup-result.js';
import { GroupFieldError, credentialsSecretOf, resolveGroupAccount } from '../../lib/kube/group-credentials.js';
import { backupJob, cleanupJob } from '../../lib/kube/job-spec.js';
import { backupJobName, cleanupJobName, derivedMysqlSecret, derivedSecretName, labelKeys, profileClaimName, siteMysqlAddress } from '../../lib/kube/objects.js';
import type { KubernetesProfile, MysqlBackupStatus } from '../../lib/kube/resources.js';
import { nextRetry } from '../../lib/kube/retry-plan.js';
import { chooseBackupSource, type SiteState } from '../../lib/kube/source-selection.js';
import type { BackupMetrics, TerminalBackup } from '../../lib/metrics/backup-metrics.js';
import type { RetentionMetrics } from '../../lib/metrics/retention-metrics.js';
import { planRetention } from '../../lib/retention/plan.js';
import { parseGroup, type ValidGroup } from './parse-group.js';
import type { KubeOps, ObjectRef, StoredBackup, StoredGroup } from './kube-ops.js';
import { missingStorageSecret } from './profile-secrets.js';
import { condition, jobFailureMessage, jobFailureReason, jobOutcome, terminationMessage, timeOf } from './job-state.js';

/** The finalizer that runs the cleanup Job before a MysqlBackup goes (the reference's "Artifact cleanup"). */
export const backupFinalizer = 'shipstream.io/mysqlbackup';

/** Annotation on the backup Job: the group's status.activeSite when the run started. */
export const activeSiteAtStartAnnotation = 'shipstream.io/active-site-at-start';

export interface BackupReconcilerDeps {
  ops: KubeOps;
  clock: Clock;
  logger: Logger;
  metrics: BackupMetrics;
  /** Counts the MysqlBackups retention deletes. */
  retentionMetrics: RetentionMetrics;
  /** Asks a site's server what source selection needs (source-selection.ts probeSite). */
  probe(address: { host: string; port: number }, account: { user: string; password: string }): Promise<SiteState>;
}

/** What the work queue should do next with this key. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

const done: ReconcileResult = {};

function isTerminal(phase: string | undefined): phase is 'Succeeded' | 'Failed' {
  return phase === 'Succeeded' || phase === 'Failed';
}

function refOf(obj: { metadata?: { namespace?: string; name?: string } }): ObjectRef {
  return { namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
}

/** The first attempt's name: retries are named after it. */
function rootName(backup: StoredBackup): string {
  return backup.spec.retryOf ?? backup.metadata.name;
}

/** The retry CR's name: deterministic, so creating it twice (a crash, a second leader) is harmless. */
export function retryName(root: string, attempt: number): string {
  const suffix = `-retry-${attempt}`;
  return root.slice(0, 63 - suffix.length).replace(/-+$/, '') + suffix;
}

export class BackupReconciler {
  /**
   * The run this process last started per group and profile ("ns/group/profile" → CR name): the
   * informer cache shows a new run as Running only a moment after its Job is created, and two
   * workers must not both start one in that moment.
   */
  private readonly startedHere = new Map<string, string>();

  constructor(private readonly deps: BackupReconcilerDeps) {}

  /** Brings one StoredBackup one step closer to where it should be. */
  async reconcile(ref: ObjectRef): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const backup = ops.getBackup(ref);
    if (!backup) return done;
    if (backup.metadata.deletionTimestamp) return this.finalize(backup);
    if (!(backup.metadata.finalizers ?? []).includes(backupFinalizer)) {
      await ops.setBackupFinalizer(ref, backupFinalizer, true);
    }
    const phase = backup.status?.phase;
    if (isTerminal(phase)) return phase === 'Failed' ? this.retryIfDue(backup) : done;

    const group = ops.getGroup({ namespace: ref.namespace, name: backup.spec.failoverGroupRef.name });
    if (!group) {
      return this.fail(backup, 'GroupNotFound', `spec.failoverGroupRef.name: MysqlFailoverGroup "${backup.spec.failoverGroupRef.name}" not found in namespace ${ref.namespace}`);
    }
    const parsed = parseGroup(group);
    if (!parsed.ok) {
      const first = parsed.problems[0];
      return this.fail(backup, 'InvalidGroup', `MysqlFailoverGroup "${group.metadata.name}" is invalid: ${first ? `${first.path}: ${first.message}` : 'see its conditions'}`);
    }
    const profile = parsed.spec.backup?.profiles.find((p) => p.name === backup.spec.profileName);
    if (!profile) {
      const names = parsed.spec.backup?.profiles.map((p) => p.name) ?? [];
      return this.fail(backup, 'ProfileNotFound', `spec.profileName: MysqlFailoverGroup "${group.metadata.name}" has no profile "${backup.spec.profileName}" (it has ${names.join(', ') || 'none'})`);
    }

    const jobRef = { namespace: ref.namespace, name: backupJobName(backup.metadata.name) };
    const job = ops.getJob(jobRef);
    if (!job) {
      if (phase === 'Running') {
        // The Job may be new and the cache behind (a relist after a 410, a slow watch): only the
        // API server can say it is gone. The watch brings it back here when it shows up.
        if (await ops.jobExists(jobRef)) return { requeueAfterMs: 1000 };
        return this.fail(backup, 'JobMissing', `the backup Job ${jobRef.name} was deleted before it finished`);
      }
      return this.start(backup, group, parsed, profile);
    }
    await this.noticeFailover(backup, group, job);
    const outcome = jobOutcome(job);
    if (outcome === undefined) {
      // The Job runs: make sure the CR says so (a crash may have come between the Job and the status).
      await this.markRunning(backup, job);
      return done;
    }
    const pods = ops.podsOfJob(jobRef);
    const term = terminationMessage(pods);
    const result = parseBackupJobResult(term.message);
    if (outcome === 'Complete') {
      if (result?.phase === 'Succeeded') return this.succeed(backup, group, parsed, profile, job, result);
      return this.fail(backup, 'NoResult', `the backup Job ${jobRef.name} completed without reporting its result (termination message: ${JSON.stringify(term.message ?? '')})`);
    }
    const accountFrom = credentialsSecretOf(parsed.spec);
    const why =
      result?.phase === 'Failed'
        ? {
            reason: result.reason,
            // The message speaks of the pod's files; the user wrote a Secret.
            message:
              result.reason === 'MYSQL_ACCESS_DENIED' && accountFrom
                ? `${result.message} (the account comes from ${accountFrom.field}: Secret "${accountFrom.name}")`
                : result.message,
            ...(result.name === undefined ? {} : { storedName: result.name }),
          }
        : {
            reason: jobFailureReason(job),
            message: `the backup Job ${jobRef.name} failed (${jobFailureMessage(job)}${term.exitCode === undefined ? '' : `; last exit code ${term.exitCode}${term.reason ? `, ${term.reason}` : ''}`}); see kubectl logs job/${jobRef.name}`,
          };
    return this.fail(backup, why.reason, why.message, job, 'storedName' in why ? why.storedName : undefined);
  }

  /**
   * Backups are named by the second they start: a run started in the second the profile's last
   * run ended could be given that run's name (BACKUP_NAME_TAKEN). Milliseconds to wait for the
   * next second when a sibling ended in this one; null when none did.
   */
  private untilNextSecondAfterSibling(ns: string, sibling: (b: StoredBackup) => boolean): number | null {
    const nowMs = this.deps.clock.now().getTime();
    const endedThisSecond = this.deps.ops
      .listBackups(ns)
      .some((b) => sibling(b) && b.status?.completionTime !== undefined && Math.floor(Date.parse(b.status.completionTime) / 1000) >= Math.floor(nowMs / 1000));
    return endedThisSecond ? 1000 - (nowMs % 1000) + 50 : null;
  }

  /**
   * One dump of a profile at a time: a requeue (the run stays Pending, saying which run it waits
   * for) while another run of the profile is running or has just been started here, or ended in
   * this very second; null when the run may start.
   */
  private async waitForSiblings(backup: StoredBackup, group: StoredGroup, profile: KubernetesProfile, profileKey: string): Promise<ReconcileResult | null> {
    const { ops, clock } = this.deps;
    const ns = backup.metadata.namespace;
    // One dump of a profile at a time: two would load the same server twice over, and could
    // claim the same backup name in the same second. The later one waits, Pending.
    const sibling = (b: StoredBackup): boolean => b.metadata.name !== backup.metadata.name && b.spec.failoverGroupRef.name === group.metadata.name && b.spec.profileName === profile.name;
    const justStarted = this.startedHere.get(profileKey);
    const justStartedRun = justStarted === undefined || justStarted === backup.metadata.name ? undefined : ops.getBackup({ namespace: ns, name: justStarted });
    const running =
      ops.listBackups(ns).find((b) => sibling(b) && b.status?.phase === 'Running') ??
      (justStartedRun && !isTerminal(justStartedRun.status?.phase) && !justStartedRun.metadata.deletionTimestamp ? justStartedRun : undefined);
    if (running) {
      const note = `waiting for MysqlBackup ${running.metadata.name} of the same profile to finish (one backup of a profile runs at a time)`;
      const now = clock.now();
      await ops.updateBackupStatus(refOf(backup), (latest) => {
        if (latest.status?.phase && latest.status.phase !== 'Pending') return undefined;
        if (latest.status?.conditions?.some((c) => c.type === 'Waiting' && c.message === note)) return undefined;
        return {
          ...latest.status,
          phase: 'Pending',
          conditions: [...(latest.status?.conditions ?? []).filter((c) => c.type !== 'Waiting'), condition('Waiting', 'True', 'ProfileBusy', note, now, latest.metadata.generation)],
        };
      });
      return { requeueAfterMs: 2000 };
    }
    const untilNextSecond = this.untilNextSecondAfterSibling(ns, sibling);
    return untilNextSecond === null ? null : { requeueAfterMs: untilNextSecond };
  }

  /** Chooses the source, derives the run's Secret, and creates the Job. */
  private async start(backup: StoredBackup, group: StoredGroup, parsed: ValidGroup, profile: KubernetesProfile): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const ns = backup.metadata.namespace;
    const profileKey = `${ns}/${group.metadata.name}/${profile.name}`;
    const wait = await this.waitForSiblings(backup, group, profile, profileKey);
    if (wait) return wait;
    // Claimed before the next await, so that no other worker starts a run of this profile meanwhile.
    this.startedHere.set(profileKey, backup.metadata.name);
    let account;
    try {
      account = await resolveGroupAccount(parsed.spec, (name) => ops.readSecret({ namespace: ns, name }));
    } catch (err) {
      if (err instanceof GroupFieldError) return this.fail(backup, err.reason, `MysqlFailoverGroup "${group.metadata.name}": ${err.message}`);
      throw err;
    }
    const missing = await missingStorageSecret(this.deps.ops, ns, parsed, profile);
    if (missing) return this.fail(backup, 'SecretNotFound', `MysqlFailoverGroup "${group.metadata.name}": ${missing}`);

    const sites = (parsed.spec.sites ?? []).map((s) => s.name);
    const override = backup.spec.sourceSiteOverride;
    const states = new Map<string, SiteState>();
    if (!override) {
      await Promise.all(
        (parsed.spec.sites ?? []).map(async (site) => {
          states.set(site.name, await this.deps.probe(siteMysqlAddress({ metadata: group.metadata, spec: parsed.spec }, site), account));
        }),
      );
    }
    let choice;
    try {
      choice = chooseBackupSource({ sites, activeSite: group.status?.activeSite, override, maxLagSeconds: parsed.spec.backup?.maxLagSecondsForSource ?? 300, states });
    } catch (err) {
      return this.fail(backup, 'InvalidSource', errorMessage(err));
    }
    const site = (parsed.spec.sites ?? []).find((s) => s.name === choice.site);
    if (!site) return this.fail(backup, 'InvalidSource', `site "${choice.site}" is not in spec.sites`);

    await ops.createSecret(derivedMysqlSecret(backup, account));
    const job = backupJob({ group: { metadata: group.metadata, spec: parsed.spec }, profile, backup, source: siteMysqlAddress({ metadata: group.metadata, spec: parsed.spec }, site) });
    job.metadata = { ...job.metadata, annotations: { ...job.metadata?.annotations, [activeSiteAtStartAnnotation]: group.status?.activeSite ?? '' } };
    await ops.createJob(job);
    const now = clock.now();
    const written = await ops.updateBackupStatus(refOf(backup), (latest) => {
      if (latest.status?.phase && latest.status.phase !== 'Pending') return undefined;
      return {
        ...latest.status,
        phase: 'Running',
        startTime: timeOf(now),
        sourceSite: choice.site,
        attempt: latest.spec.attempt ?? 1,
        jobName: backupJobName(latest.metadata.name),
        observedGeneration: latest.metadata.generation ?? 0,
        conditions: [condition('Started', 'True', 'JobCreated', choice.reason, now, latest.metadata.generation)],
      };
    });
    if (written) await ops.event(this.regarding(backup), 'Normal', 'BackupStarted', `Backing up ${profile.name} from site ${choice.site}: ${choice.reason}`);
    return done;
  }

  private async markRunning(backup: StoredBackup, job: V1Job): Promise<void> {
    if (backup.status?.phase === 'Running') return;
    const now = this.deps.clock.now();
    await this.deps.ops.updateBackupStatus(refOf(backup), (latest) => {
      if (latest.status?.phase === 'Running' || isTerminal(latest.status?.phase)) return undefined;
      return {
        ...latest.status,
        phase: 'Running',
        startTime: latest.status?.startTime ?? (job.status?.startTime ? timeOf(new Date(job.status.startTime)) : timeOf(now)),
        attempt: latest.spec.attempt ?? 1,
        jobName: job.metadata?.name ?? '',
      };
    });
  }

  /** An InFlightFailover warning, once, when the group's active site moved while the Job runs. */
  private async noticeFailover(backup: StoredBackup, group: StoredGroup, job: V1Job): Promise<void> {
    const atStart = job.metadata?.annotations?.[activeSiteAtStartAnnotation];
    const now = group.status?.activeSite ?? '';
    if (atStart === undefined || atStart === now) return;
    if ((backup.status?.conditions ?? []).some((c) => c.type === 'InFlightFailover')) return;
    const at = this.deps.clock.now();
    const written = await this.deps.ops.updateBackupStatus(refOf(backup), (latest) => {
      if ((latest.status?.conditions ?? []).some((c) => c.type === 'InFlightFailover')) return undefined;
      return {
        ...latest.status,
        conditions: [
          ...(latest.status?.conditions ?? []),
          condition('InFlightFailover', 'True', 'ActiveSiteChanged', `status.activeSite changed from "${atStart}" to "${now}" while the backup ran`, at, latest.metadata.generation),
        ],
      };
    });
    if (written) {
      await this.deps.ops.event(
        this.regarding(backup),
        'Warning',
        'InFlightFailover',
        `The group's active site changed from "${atStart || '(none)'}" to "${now || '(none)'}" while this backup ran; the backup is still a consistent snapshot of site ${backup.status?.sourceSite ?? '?'}`,
      );
    }
  }

  private async succeed(backup: StoredBackup, group: StoredGroup, parsed: ValidGroup, profile: KubernetesProfile, job: V1Job, result: Extract<BackupJobResult, { phase: 'Succeeded' }>): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const now = clock.now();
    const completion = job.status?.completionTime ? new Date(job.status.completionTime) : now;
    const start = backup.status?.startTime ?? (job.status?.startTime ? timeOf(new Date(job.status.startTime)) : timeOf(completion));
    // A PVC backup's path inside the pod (/backups/...) means nothing outside it: name the claim.
    const claim = profileClaimName(group.metadata.name, profile);
    const location = claim ? `pvc://${claim}/${result.name}` : result.location;
    const status: MysqlBackupStatus = {
      ...backup.status,
      phase: 'Succeeded',
      startTime: start,
      completionTime: timeOf(completion),
      location,
      sizeBytes: result.sizeBytes,
      gtidExecuted: result.gtidExecuted,
      binlogFile: result.binlogFile,
      binlogPos: result.binlogPos,
      backupName: result.name,
      attempt: backup.spec.attempt ?? 1,
      jobName: job.metadata?.name ?? '',
      observedGeneration: backup.metadata.generation ?? 0,
      conditions: [
        ...(backup.status?.conditions ?? []).filter((c) => c.type !== 'Succeeded' && c.type !== 'Failed'),
        condition('Succeeded', 'True', 'BackupComplete', `stored at ${location} (${result.sizeBytes} bytes)`, completion, backup.metadata.generation),
      ],
    };
    // Counted before the write: the watch may report the terminal CR before the write returns,
    // and a CR seen terminal is only seeded, never counted.
    this.deps.metrics.observe(this.terminal(backup, status));
    const written = await ops.updateBackupStatus(refOf(backup), (latest) => (isTerminal(latest.status?.phase) ? undefined : status));
    if (!written) return done;
    await ops.event(this.regarding(backup), 'Normal', 'BackupSucceeded', `Stored at ${location} (${result.sizeBytes} bytes) from site ${status.sourceSite ?? '?'}; GTID set ${result.gtidExecuted || '(empty)'}, binlog ${result.binlogFile}:${result.binlogPos}`);
    await ops.deleteSecret({ namespace: backup.metadata.namespace, name: derivedSecretName(backup.metadata.name) });
    await this.applyRetention(group, profile, { ...backup, status });
    return done;
  }

  /** `storedName`: the backup the failed run named in storage (its partial files and Failed record), for the cleanup. */
  private async fail(backup: StoredBackup, reason: string, message: string, job?: V1Job, storedName?: string): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const now = clock.now();
    const completion = job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')?.lastTransitionTime;
    const at = completion ? new Date(completion) : now;
    const status: MysqlBackupStatus = {
      ...backup.status,
      phase: 'Failed',
      startTime: backup.status?.startTime ?? timeOf(at),
      completionTime: timeOf(at),
      ...(storedName === undefined ? {} : { backupName: storedName }),
      attempt: backup.spec.attempt ?? 1,
      observedGeneration: backup.metadata.generation ?? 0,
      conditions: [...(backup.status?.conditions ?? []).filter((c) => c.type !== 'Succeeded' && c.type !== 'Failed'), condition('Failed', 'True', reason, message, at, backup.metadata.generation)],
    };
    this.deps.metrics.observe(this.terminal(backup, status));
    const written = await ops.updateBackupStatus(refOf(backup), (latest) => (isTerminal(latest.status?.phase) ? undefined : status));
    if (!written) return done;
    await ops.event(this.regarding(backup), 'Warning', 'BackupFailed', `${reason}: ${message}`);
    await ops.deleteSecret({ namespace: backup.metadata.namespace, name: derivedSecretName(backup.metadata.name) });
    const group = ops.getGroup({ namespace: backup.metadata.namespace, name: backup.spec.failoverGroupRef.name });
    const parsed = group ? parseGroup(group) : undefined;
    const retry = parsed?.ok && parsed.spec.backup ? nextRetry({ triggeredBy: backup.spec.triggeredBy ?? 'manual', attempt: backup.spec.attempt ?? 1, completionTime: at }, parsed.spec.backup.retry) : null;
    if (group && retry) {
      await ops.event(
        { kind: 'MysqlFailoverGroup', namespace: group.metadata.namespace, name: group.metadata.name, uid: group.metadata.uid },
        'Normal',
        'BackupRetryScheduled',
        `MysqlBackup ${backup.metadata.name} failed (${reason}); attempt ${retry.attempt} of ${parsed?.ok ? parsed.spec.backup?.retry.maxAttempts : '?'} at ${timeOf(retry.due)} (after ${retry.backoffSeconds} s)`,
      );
      return { requeueAfterMs: Math.max(0, retry.due.getTime() - now.getTime()) };
    }
    return done;
  }

  /** Creates the retry CR of a failed scheduled run once its backoff has passed. */
  private async retryIfDue(backup: StoredBackup): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const group = ops.getGroup({ namespace: backup.metadata.namespace, name: backup.spec.failoverGroupRef.name });
    if (!group || !backup.status?.completionTime) return done;
    const parsed = parseGroup(group);
    if (!parsed.ok || !parsed.spec.backup) return done;
    const retry = nextRetry({ triggeredBy: backup.spec.triggeredBy ?? 'manual', attempt: backup.spec.attempt ?? 1, completionTime: new Date(backup.status.completionTime) }, parsed.spec.backup.retry);
    if (!retry) return done;
    const name = retryName(rootName(backup), retry.attempt);
    if (ops.getBackup({ namespace: backup.metadata.namespace, name })) return done;
    const wait = retry.due.getTime() - clock.now().getTime();
    if (wait > 0) return { requeueAfterMs: wait };
    const labels = Object.fromEntries(
      Object.entries(backup.metadata.labels ?? {}).filter(([k]) => k === labelKeys.group || k === labelKeys.profile || k === labelKeys.schedule || k === labelKeys.managedBy),
    );
    await ops.createBackup({
      apiVersion: 'shipstream.io/v1alpha1',
      kind: 'MysqlBackup',
      metadata: { name, namespace: backup.metadata.namespace, labels },
      spec: {
        failoverGroupRef: { name: backup.spec.failoverGroupRef.name },
        profileName: backup.spec.profileName,
        triggeredBy: 'retry',
        attempt: retry.attempt,
        retryOf: rootName(backup),
        ...(backup.spec.sourceSiteOverride ? { sourceSiteOverride: backup.spec.sourceSiteOverride } : {}),
      },
    });
    return done;
  }

  /**
   * Deletes the profile's CRs its retention policy does not keep (the same planner as `prune`).
   * Only terminal CRs are candidates; each deletion goes through the finalizer's cleanup Job.
   */
  private async applyRetention(group: StoredGroup, profile: KubernetesProfile, justFinished: StoredBackup): Promise<void> {
    const { ops, clock, logger } = this.deps;
    const ns = group.metadata.namespace;
    // The cache may not show the run that just finished as terminal yet: it counts as it is now.
    const mine = [justFinished, ...ops.listBackups(ns).filter((b) => b.metadata.name !== justFinished.metadata.name)].filter(
      (b) => b.spec.failoverGroupRef.name === group.metadata.name && b.spec.profileName === profile.name && !b.metadata.deletionTimestamp && isTerminal(b.status?.phase),
    );
    // minKeepVerified reads each CR's status.verification (the storage side reads verification.json).
    const decisions = planRetention(
      mine.map((b) => ({
        name: b.metadata.name,
        phase: b.status?.phase as 'Succeeded' | 'Failed',
        startedAt: new Date(b.status?.startTime ?? b.metadata.creationTimestamp ?? 0),
        verification: b.status?.verification ? (b.status.verification.result === 'Passed' ? ('passed' as const) : ('failed' as const)) : null,
      })),
      profile.retentionPolicy,
      clock.now(),
    );
    const deleted: Array<{ bytes: number }> = [];
    for (const d of decisions) {
      if (d.action !== 'delete') continue;
      logger.info(`retention: deleting MysqlBackup ${ns}/${d.name} (${d.reasons.join('; ')})`);
      await ops.deleteBackup({ namespace: ns, name: d.name });
      deleted.push({ bytes: mine.find((b) => b.metadata.name === d.name)?.status?.sizeBytes ?? 0 });
    }
    this.deps.retentionMetrics.observe({ namespace: ns, group: group.metadata.name, profile: profile.name }, deleted);
  }

  /**
   * The finalizer: removes the stored backup through a cleanup Job, then lets the CR go. The
   * cleanup is skipped (and the CR released) when its group or profile is gone or the namespace is
   * being deleted, since nothing could run it; a failed cleanup keeps the CR and is retried.
   */
  private async finalize(backup: StoredBackup): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const ref = refOf(backup);
    if (!(backup.metadata.finalizers ?? []).includes(backupFinalizer)) return done;
    const release = async (type: 'Normal' | 'Warning', reason: string, note: string): Promise<ReconcileResult> => {
      await ops.event(this.regarding(backup), type, reason, note);
      await ops.setBackupFinalizer(ref, backupFinalizer, false);
      return done;
    };
    // A running backup Job goes first, so that nothing writes while the cleanup removes.
    const runJob = ops.getJob({ namespace: ref.namespace, name: backupJobName(backup.metadata.name) });
    if (runJob && jobOutcome(runJob) === undefined) {
      await ops.deleteJob({ namespace: ref.namespace, name: backupJobName(backup.metadata.name) });
      await ops.deleteSecret({ namespace: ref.namespace, name: derivedSecretName(backup.metadata.name) });
    }
    const stored = backup.status?.backupName;
    if (!stored && !backup.status?.jobName) return release('Normal', 'ArtifactCleanupSucceeded', 'No backup Job ever ran for this MysqlBackup: nothing was stored');
    if (!stored) {
      // The Job ended without reporting its backup's name (killed, out of memory): what it wrote,
      // a partial backup with a record left Running, cannot be named from here.
      const at = backup.status?.startTime ?? '?';
      return release(
        'Warning',
        'ArtifactCleanupSkipped',
        `The backup Job ended without reporting its stored backup's name, so bloodraven cannot remove what it wrote: look in the profile's storage for a backup named ${backup.spec.failoverGroupRef.name}-${backup.spec.profileName}-<time> from about ${at}, and remove it with bloodraven backup delete NAME --profile ${backup.spec.profileName} (or bloodraven prune, which removes failed backups beyond maxFailedKeep)`,
      );
    }
    const group = ops.getGroup({ namespace: ref.namespace, name: backup.spec.failoverGroupRef.name });
    const parsed = group ? parseGroup(group) : undefined;
    const profile = parsed?.ok ? parsed.spec.backup?.profiles.find((p) => p.name === backup.spec.profileName) : undefined;
    if (!group || !parsed?.ok || !profile) {
      const what = !group ? `MysqlFailoverGroup "${backup.spec.failoverGroupRef.name}" is gone` : !parsed?.ok ? `MysqlFailoverGroup "${group.metadata.name}" is invalid` : `profile "${backup.spec.profileName}" is gone from MysqlFailoverGroup "${group.metadata.name}"`;
      return release('Warning', 'ArtifactCleanupSkipped', `${what}, so ${stored} at ${backup.status?.location ?? '?'} cannot be removed by bloodraven: remove it by hand if it is not wanted`);
    }
    const jobRef = { namespace: ref.namespace, name: cleanupJobName(backup.metadata.name) };
    const job = ops.getJob(jobRef);
    if (!job) {
      const missing = await missingStorageSecret(this.deps.ops, ref.namespace, parsed, profile);
      if (missing) {
        if (await ops.namespaceTerminating(ref.namespace)) {
          return release('Warning', 'ArtifactCleanupSkipped', `namespace ${ref.namespace} is being deleted and ${missing}; ${stored} at ${backup.status?.location ?? '?'} stays in storage`);
        }
        await ops.event(this.regarding(backup), 'Warning', 'ArtifactCleanupFailed', `cannot start the cleanup: ${missing}`);
        return { requeueAfterMs: 30_000 };
      }
      await ops.createJob(cleanupJob({ group: { metadata: group.metadata, spec: parsed.spec }, profile, backup, storedBackupName: stored }));
      await ops.event(this.regarding(backup), 'Normal', 'ArtifactCleanupStarted', `Removing ${stored} from ${backup.status?.location ?? 'storage'} (Job ${jobRef.name})`);
      return done;
    }
    const outcome = jobOutcome(job);
    if (outcome === 'Complete') {
      const term = terminationMessage(ops.podsOfJob(jobRef));
      const alreadyGone = /"alreadyGone"\s*:\s*true/.test(term.message ?? '');
      return release('Normal', 'ArtifactCleanupSucceeded', alreadyGone ? `${stored} was already gone from storage` : `Removed ${stored} from ${backup.status?.location ?? 'storage'}`);
    }
    if (outcome === 'Failed') {
      const term = terminationMessage(ops.podsOfJob(jobRef));
      const result = parseBackupJobResult(term.message);
      const why = result?.phase === 'Failed' ? `${result.reason}: ${result.message}` : (term.message ?? jobFailureMessage(job));
      await ops.event(this.regarding(backup), 'Warning', 'ArtifactCleanupFailed', `Cleanup Job ${jobRef.name} failed (${why}); the finalizer stays and the cleanup is retried. To give up, remove the finalizer ${backupFinalizer} by hand.`);
      // A fresh Job next time: the failed one is deleted now, and the retry waits.
      await ops.deleteJob(jobRef);
      return { requeueAfterMs: 30_000 };
    }
    if (await ops.namespaceTerminating(ref.namespace)) {
      // Its pod may never start (its Secret may be gone first): the namespace must not hang on it.
      const pods = ops.podsOfJob(jobRef);
      const stuck = pods.length === 0 || pods.every((p) => (p.status?.phase ?? 'Pending') === 'Pending');
      if (stuck) {
        await ops.deleteJob(jobRef);
        return release('Warning', 'ArtifactCleanupSkipped', `namespace ${ref.namespace} is being deleted and the cleanup Job cannot start; ${stored} stays in storage`);
      }
    }
    return { requeueAfterMs: 10_000 };
  }

  private regarding(backup: StoredBackup) {
    return { kind: 'MysqlBackup' as const, namespace: backup.metadata.namespace, name: backup.metadata.name, uid: backup.metadata.uid };
  }

  private terminal(backup: StoredBackup, status: MysqlBackupStatus): TerminalBackup {
    return {
      namespace: backup.metadata.namespace,
      group: backup.spec.failoverGroupRef.name,
      profile: backup.spec.profileName,
      name: backup.metadata.name,
      phase: status.phase === 'Succeeded' ? 'Succeeded' : 'Failed',
      startedAt: status.startTime ?? status.completionTime ?? new Date(0).toISOString(),
      completedAt: status.completionTime ?? null,
      sizeBytes: status.sizeBytes ?? 0,
    };
  }

  /** Seeds the metrics with a terminal CR this process did not finish (see BackupMetrics.seed). */
  seedMetrics(backup: StoredBackup): void {
    if (!isTerminal(backup.status?.phase) || !backup.status) return;
    this.deps.metrics.seed(this.terminal(backup, backup.status));
  }
}
