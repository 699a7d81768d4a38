/**
 * The init-restore reconciler (`spec.initFromBackup`): a one-shot restore of a backup into a new
 * group's target site, before the group is used. Keyed by group. Pending (the spec has problems,
 * the source does not resolve, the target is refused, the rollout gate holds) → Running (the
 * derived Secret and the restore Job made) → Succeeded | Failed (from the Job and its pod's
 * termination message). Succeeded is final: later spec changes do nothing. A Failed restore's Job
 * stays for inspection; deleting it rebuilds it (the load resumes, or the CLI refuses with a
 * reason of its own).
 *
 * Every status write changes only `status.initFromBackup`, computed from the latest group, and
 * the decision is written before the side effect it decides (Running before the Job is created),
 * so a daemon stopped between the two finishes on its next pass. Behaviour reference: the
 * seed's "Restore at bootstrap", "Dynamic target-site resolution", "Rolled-out Deployment gate",
 * "Direct S3 / PVC sources", "Per-schema bootstrap" and "Restore to a target timestamp".
 *
 * The Deployment gate is polled (a GET every few seconds while it holds) rather than watched:
 * the daemon needs no Deployment informer for a gate each group passes once.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../lib/clock.js';
import { AppError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { GroupFieldError, resolveGroupAccount, type MysqlAccount } from '../../lib/kube/group-credentials.js';
import { mountPaths } from '../../lib/kube/job-spec.js';
import { siteMysqlAddress } from '../../lib/kube/objects.js';
import type { InitFromBackupSpec, InitFromBackupStatus, KubernetesProfile, ParsedGroup } from '../../lib/kube/resources.js';
import { derivedRestoreSecret, pitrArchiveProfile, resolveRestoreSource, restoreJob, restoreJobName, restoreSecretName, sourceArgs, type ResolvedRestoreSource } from '../../lib/kube/restore-job.js';
import { parseRestoreJobResult } from '../../lib/kube/restore-result.js';
import { candidateTargetSite, decideRestoreTarget, rolloutGate, siteDeploymentName } from '../../lib/kube/restore-target.js';
import type { SiteState } from '../../lib/kube/source-selection.js';
import { parseTargetTime } from '../../lib/pitr/target-time.js';
import type { ReconcileResult } from './backup-reconciler.js';
import type { KubeOps, ObjectRef, StoredGroup } from './kube-ops.js';
import type { RestoreMetrics } from '../../lib/metrics/restore-metrics.js';
import { endedRestore } from './ended-restore.js';
import { parseGroup } from './parse-group.js';
import { jobOutcome, timeOf } from './job-state.js';

export interface InitRestoreReconcilerDeps {
  ops: KubeOps;
  clock: Clock;
  logger: Logger;
  /** Asks a site's server whether it answers and is writable (source-selection.ts probeSite). */
  probe(address: { host: string; port: number }, account: MysqlAccount): Promise<SiteState>;
  /** Counts each restore Job that ends. */
  restoreMetrics: RestoreMetrics;
}

const done: ReconcileResult = {};
/** How often a refused target is asked again. */
const targetRetryMs = 10_000;
/** How often a held rollout gate is looked at again (the Deployment is polled, not watched). */
const gatePollMs = 3_000;
const field = 'spec.initFromBackup';

interface Terminated {
  container: string;
  exitCode: number | undefined;
  reason: string | undefined;
  message: string | undefined;
}

/** The newest pod's failed init container, if one failed; else its container's end. */
function podEnd(pods: readonly V1Pod[]): { init: Terminated | undefined; main: Terminated | undefined } {
  for (const pod of pods) {
    const failedInit = (pod.status?.initContainerStatuses ?? []).find((s) => (s.state?.terminated?.exitCode ?? 0) !== 0);
    const init = failedInit?.state?.terminated
      ? { container: failedInit.name, exitCode: failedInit.state.terminated.exitCode, reason: failedInit.state.terminated.reason, message: failedInit.state.terminated.message }
      : undefined;
    const cs = (pod.status?.containerStatuses ?? [])[0];
    const t = cs?.state?.terminated ?? cs?.lastState?.terminated;
    const main = t ? { container: cs?.name ?? 'restore', exitCode: t.exitCode, reason: t.reason, message: t.message } : undefined;
    if (init || main) return { init, main };
  }
  return { init: undefined, main: undefined };
}

/** What failed, in words, and what to do: inspect the logs (of the failed container), fix it, delete the Job. */
function failureMessage(job: V1Job, outcome: 'Complete' | 'Failed', ended: ReturnType<typeof podEnd>, result: ReturnType<typeof parseRestoreJobResult>): string {
  const jobName = job.metadata?.name ?? '';
  const inspect = (container?: string): string =>
    `inspect kubectl logs job/${jobName}${container ? ` -c ${container}` : ''}, fix it, then delete the Job (kubectl delete job ${jobName}): it is rebuilt`;
  if (ended.init) {
    const why = ended.init.message ? `: ${ended.init.message.trim().split('\n').slice(-3).join(' ')}` : '';
    return `the ${ended.init.container} init container (downloading the binlogs) failed with exit code ${ended.init.exitCode ?? '?'}${why}; ${inspect(ended.init.container)}`;
  }
  if (result?.phase === 'Failed') return `the restore failed: ${result.reason}: ${result.message}; ${inspect()}`;
  if (outcome === 'Complete') return `the restore Job completed without reporting its result; ${inspect()}`;
  const c = job.status?.conditions?.find((x) => x.type === 'Failed' && x.status === 'True');
  const exit = ended.main?.exitCode === undefined ? '' : `; last exit code ${ended.main.exitCode}${ended.main.reason ? ` (${ended.main.reason})` : ''}`;
  return `the restore Job failed (${c?.reason ?? 'Failed'}${c?.message ? `: ${c.message}` : ''}${exit}); ${inspect()}`;
}

export class InitRestoreReconciler {
  /** Groups (by uid) whose "no Deployment" event this process has recorded: said once. */
  private readonly gateSkipNoted = new Set<string>();
  /** Groups (by uid and generation) whose "spec ignored after success" event was recorded. */
  private readonly ignoredNoted = new Set<string>();

  constructor(private readonly deps: InitRestoreReconcilerDeps) {}

  /** Brings one group's initFromBackup one step closer to done. */
  async reconcile(ref: ObjectRef): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const group = ops.getGroup(ref);
    if (!group || group.metadata.deletionTimestamp) return done;
    const status = group.status?.initFromBackup;
    if (status?.phase === 'Succeeded') return this.alreadyDone(group, status);
    if (!group.spec?.initFromBackup && !status?.jobName) return done;

    const jobRef = { namespace: ref.namespace, name: restoreJobName(ref.name, 'init') };
    const job = ops.getJob(jobRef);
    if (job) return this.follow(group, job, status);
    if (status?.phase === 'Running' && (await ops.jobExists(jobRef))) {
      // The cache has not seen the new Job yet: its watch brings the group back here.
      return { requeueAfterMs: 1000 };
    }
    if (!group.spec?.initFromBackup) return done;
    const parsed = parseGroup(group);
    if (!parsed.ok) {
      const problems = parsed.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      await this.pending(group, `waiting for the group's spec to be valid: ${problems}`);
      return done;
    }
    const init = parsed.spec.initFromBackup;
    if (!init) return done;
    // A Failed restore whose Job was deleted, a Running one whose Job is gone, or a new one: (re)build it.
    return this.start(group, { metadata: group.metadata, spec: parsed.spec }, init, status);
  }

  /** Succeeded is final; a later spec change is noted once. */
  private async alreadyDone(group: StoredGroup, status: InitFromBackupStatus): Promise<ReconcileResult> {
    const generation = group.metadata.generation ?? 0;
    const key = `${group.metadata.uid ?? group.metadata.name}/${generation}`;
    if (group.spec?.initFromBackup && status.observedGeneration !== undefined && generation > status.observedGeneration && !this.ignoredNoted.has(key)) {
      this.ignoredNoted.add(key);
      await this.deps.ops.event(
        this.regarding(group),
        'Normal',
        'InitFromBackupIgnored',
        `the group's spec changed (generation ${generation}); spec.initFromBackup is one-shot and already restored ${status.backup ?? 'its backup'} at ${status.completionTime ?? '?'}, so it is not run again, whatever it now says (spec.restoreInPlace rolls a live group back)`,
      );
    }
    return done;
  }

  /** Resolves the source and the target, checks the gate, then records Running and creates the Secret and the Job. */
  private async start(group: StoredGroup, parsed: ParsedGroup, init: InitFromBackupSpec, status: InitFromBackupStatus | undefined): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const ns = group.metadata.namespace;
    let source: ResolvedRestoreSource;
    let archive: KubernetesProfile | undefined;
    let account: MysqlAccount;
    try {
      source = resolveRestoreSource(parsed, init.source, `${field}.source`, (name) => ops.getBackup({ namespace: ns, name }));
      if (init.pointInTime) archive = this.pointInTimeArchive(parsed, init, source);
      account = await resolveGroupAccount(parsed.spec, (name) => ops.readSecret({ namespace: ns, name }));
    } catch (err) {
      if (!(err instanceof GroupFieldError)) throw err;
      const message = err.message;
      if (await this.pending(group, message)) await ops.event(this.regarding(group), 'Warning', err.reason ?? 'InvalidRestoreSource', message);
      // A MysqlBackup or the group changing brings it back; a Secret does not, so look again later.
      return { requeueAfterMs: 30_000 };
    }

    const candidate = candidateTargetSite(parsed, group.status?.activeSite);
    const state = candidate ? await this.deps.probe(siteMysqlAddress(parsed, candidate.site), account) : undefined;
    const decision = decideRestoreTarget(parsed, group.status?.activeSite, state);
    if (!decision.ok) {
      if (await this.pending(group, decision.message)) await ops.event(this.regarding(group), 'Warning', decision.reason, decision.message);
      return { requeueAfterMs: targetRetryMs };
    }
    const site = decision.site;

    const deploymentName = siteDeploymentName(parsed, site);
    const gate = rolloutGate(await ops.readDeployment({ namespace: ns, name: deploymentName }), deploymentName);
    if (!gate.passed) {
      await this.pending(group, `waiting for the rollout of site "${site.name}": ${gate.message}`);
      return { requeueAfterMs: gatePollMs };
    }
    if (gate.noDeployment && !this.gateSkipNoted.has(group.metadata.uid ?? group.metadata.name)) {
      this.gateSkipNoted.add(group.metadata.uid ?? group.metadata.name);
      await ops.event(this.regarding(group), 'Normal', 'RolloutGateSkipped', `site "${site.name}": ${gate.message}; the restore starts`);
    }

    const jobName = restoreJobName(group.metadata.name, 'init');
    const now = this.deps.clock.now();
    const backup = source.kind === 'catalog' ? source.backupName : source.description;
    const rebuilt = status?.phase === 'Failed' || status?.phase === 'Running';
    // The decision first: a daemon stopped before the Job exists makes it on its next pass.
    const written = await ops.updateGroupStatus({ namespace: ns, name: group.metadata.name }, (latest) => {
      const current = latest.status?.initFromBackup;
      if (current?.phase === 'Succeeded') return undefined;
      return {
        ...latest.status,
        initFromBackup: {
          phase: 'Running',
          backup,
          targetSite: site.name,
          jobName,
          startTime: timeOf(now),
          message: `restoring ${source.description} into site "${site.name}" (${decision.reason}) with Job ${jobName}`,
          observedGeneration: latest.metadata.generation ?? 0,
        },
      };
    });
    if (!written && status?.phase !== 'Running') return done;

    await ops.createSecret(derivedRestoreSecret(parsed, jobName, 'init', account));
    const job = restoreJob({
      group: parsed,
      kind: 'init',
      name: jobName,
      source,
      target: siteMysqlAddress(parsed, site),
      mysqlSecretName: restoreSecretName(jobName),
      args: this.restoreArgs(init, source),
      ...(init.pointInTime && archive ? { pointInTime: { archive, spec: init.pointInTime } } : {}),
    });
    await ops.createJob(job);
    await ops.event(
      this.regarding(group),
      'Normal',
      'RestoreStarted',
      `${rebuilt ? 'Rebuilt the restore Job' : 'Restoring'} ${source.description} into site "${site.name}" (${decision.reason}; ${gate.message})${init.pointInTime ? `, then replaying binlogs up to ${init.pointInTime.stopDatetime}` : ''}: Job ${jobName}`,
    );
    return done;
  }

  /**
   * The archive a point-in-time bootstrap replays from. The replay is planned from the catalog
   * and the archive together (they share spec.backup.pitr's storage), so the source must be a
   * MysqlBackup of that profile: a direct s3/pvc source is refused here, naming the field.
   */
  private pointInTimeArchive(parsed: ParsedGroup, init: InitFromBackupSpec, source: ResolvedRestoreSource): KubernetesProfile {
    const archive = pitrArchiveProfile(parsed, field);
    const at = `${field}.pointInTime`;
    try {
      parseTargetTime(init.pointInTime?.stopDatetime ?? '', `${at}.stopDatetime`);
    } catch (err) {
      throw new GroupFieldError(`${at}.stopDatetime`, err instanceof AppError ? err.message.replace(/^.*?: /, '') : errorMessage(err), 'InvalidPointInTime');
    }
    if (source.kind !== 'catalog') {
      throw new GroupFieldError(
        at,
        `a point-in-time bootstrap needs the backup in the binlog archive's catalog: set ${field}.source.mysqlBackupRef to a MysqlBackup of profile "${archive.name}" (spec.backup.pitr.profileName); a direct s3 or pvc source can only be restored as it is, without pointInTime`,
        'PointInTimeUnsupported',
      );
    }
    if (source.profile.name !== archive.name) {
      throw new GroupFieldError(
        at,
        `MysqlBackup "${source.mysqlBackup}" is of profile "${source.profile.name}", and the binlog archive is in profile "${archive.name}" (spec.backup.pitr.profileName): a point-in-time bootstrap starts from a backup of the archive's profile`,
        'PointInTimeUnsupported',
      );
    }
    return archive;
  }

  /** `restore bootstrap` with the source, the load options and the point in time. */
  private restoreArgs(init: InitFromBackupSpec, source: ResolvedRestoreSource): string[] {
    const load = init.loadOptions;
    const args = ['restore', 'bootstrap', ...sourceArgs(source)];
    for (const schema of load?.includeSchemas ?? []) args.push('--include-schema', schema);
    for (const schema of load?.excludeSchemas ?? []) args.push('--exclude-schema', schema);
    if (load?.threads !== undefined) args.push('--threads', String(load.threads));
    if (load?.loadUsers) args.push('--load-users');
    if (init.pointInTime) {
      args.push('--stop-datetime', init.pointInTime.stopDatetime);
      if (init.pointInTime.excludeGtids) args.push('--exclude-gtids', init.pointInTime.excludeGtids);
      args.push('--binlogs-dir', mountPaths.pitrBinlogs);
    }
    return args;
  }

  /** Follows the Job: Running while it runs, then Succeeded or Failed from its pod's termination message. */
  private async follow(group: StoredGroup, job: V1Job, status: InitFromBackupStatus | undefined): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const ns = group.metadata.namespace;
    const jobName = job.metadata?.name ?? '';
    const outcome = jobOutcome(job);
    if (outcome === undefined) {
      if (status?.phase !== 'Running') {
        // A crash came between the Job and the status, or the status was lost: say Running again.
        await ops.updateGroupStatus({ namespace: ns, name: group.metadata.name }, (latest) => {
          const current = latest.status?.initFromBackup;
          if (current?.phase === 'Running' || current?.phase === 'Succeeded') return undefined;
          return {
            ...latest.status,
            initFromBackup: {
              ...current,
              phase: 'Running',
              jobName,
              startTime: current?.startTime ?? timeOf(job.status?.startTime ? new Date(job.status.startTime) : this.deps.clock.now()),
              message: `restore Job ${jobName} is running`,
            },
          };
        });
      }
      return done;
    }
    if (status?.phase === 'Failed' && status.jobName === jobName) {
      // Reported already; the Job stays until the user deletes it (then it is rebuilt).
      await ops.deleteSecret({ namespace: ns, name: restoreSecretName(jobName) });
      return done;
    }
    const ended = podEnd(ops.podsOfJob({ namespace: ns, name: jobName }));
    const result = parseRestoreJobResult(ended.main?.message);
    const completion = job.status?.completionTime ?? job.status?.conditions?.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))?.lastTransitionTime;
    const at = completion ? new Date(completion) : this.deps.clock.now();

    if (outcome === 'Complete' && result?.phase === 'Succeeded') {
      const written = await this.finish(group, jobName, (current) => ({
        ...current,
        phase: 'Succeeded',
        jobName,
        ...(result.backup === undefined ? {} : { backup: result.backup }),
        completionTime: timeOf(at),
        rows: result.rows,
        bytes: result.bytes,
        pointReached: result.pointReached,
        message: `restored ${result.backup ?? current?.backup ?? 'the backup'} into site "${current?.targetSite ?? '?'}": ${result.tables} table(s), ${result.rows} row(s), ${result.bytes} byte(s)${result.pointReached.time ? `; point reached ${result.pointReached.time}` : ''}`,
      }));
      if (written) {
        this.deps.restoreMetrics.observe(endedRestore(ops, group, written, at));
        await ops.event(
          this.regarding(group),
          'Normal',
          'RestoreSucceeded',
          `Restored ${result.backup ?? '?'} into site "${written.targetSite ?? '?'}": ${result.rows} rows, ${result.bytes} bytes${result.pointReached.gtidExecuted ? `; GTID ${result.pointReached.gtidExecuted}` : ''}`,
        );
      }
      await ops.deleteSecret({ namespace: ns, name: restoreSecretName(jobName) });
      return done;
    }

    const message = failureMessage(job, outcome, ended, result);
    const written = await this.finish(group, jobName, (current) => ({ ...current, phase: 'Failed', jobName, completionTime: timeOf(at), message }));
    if (written) {
      this.deps.restoreMetrics.observe(endedRestore(ops, group, written, at));
      await ops.event(this.regarding(group), 'Warning', 'RestoreFailed', message);
    }
    await ops.deleteSecret({ namespace: ns, name: restoreSecretName(jobName) });
    return done;
  }

  /** Writes a terminal status.initFromBackup (once); returns it when this call wrote it. */
  private async finish(group: StoredGroup, jobName: string, next: (current: InitFromBackupStatus | undefined) => InitFromBackupStatus): Promise<InitFromBackupStatus | undefined> {
    const written = await this.deps.ops.updateGroupStatus({ namespace: group.metadata.namespace, name: group.metadata.name }, (latest) => {
      const current = latest.status?.initFromBackup;
      if (current?.phase === 'Succeeded' || (current?.phase === 'Failed' && current.jobName === jobName)) return undefined;
      return { ...latest.status, initFromBackup: next(current) };
    });
    return written?.initFromBackup;
  }

  /** Parks the restore in Pending with `message`; true when that changed the status (so an event is due). */
  private async pending(group: StoredGroup, message: string): Promise<boolean> {
    const written = await this.deps.ops.updateGroupStatus({ namespace: group.metadata.namespace, name: group.metadata.name }, (latest) => {
      const current = latest.status?.initFromBackup;
      // Called only while no restore Job exists: a Running or Failed status then is one whose Job is gone.
      if (current?.phase === 'Succeeded') return undefined;
      if (current?.phase === 'Pending' && current.message === message) return undefined;
      return { ...latest.status, initFromBackup: { phase: 'Pending', message, observedGeneration: latest.metadata.generation ?? 0 } };
    });
    if (written) this.deps.logger.info(`MysqlFailoverGroup ${group.metadata.namespace}/${group.metadata.name}: initFromBackup Pending: ${message}`);
    return written !== undefined;
  }

  private regarding(group: StoredGroup) {
    return { kind: 'MysqlFailoverGroup' as const, namespace: group.metadata.namespace, name: group.metadata.name, uid: group.metadata.uid };
  }
}
