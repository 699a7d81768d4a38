/**
 * The in-place restore reconciler (`spec.restoreInPlace`), keyed by group: the reference's state
 * machine Preflight → Fencing → Restoring → Resuming → Succeeded | Failed, recorded in
 * `status.restoreInPlace` (and only there: the group reconciler and the init restore reconciler
 * write the rest of the status).
 *
 * - A new `confirm` (RFC 3339, strictly newer than confirmTokenUsed, not ahead of the daemon's
 *   clock) starts a run and is consumed at once; an old one does nothing (StaleConfirm), a garbage
 *   one is refused (InvalidConfirm).
 * - Preflight resolves the backup and the target (the writable active site); a refusal is Failed
 *   with nothing touched. A dry run then runs `restore in-place --dry-run` and writes the plan.
 * - Fencing (whole instance only) records the pods and annotations first, then strips the primary
 *   role label from the target site's pods and sets the topology freeze on the group.
 * - Restoring runs the restore Job (its CLI fences the server with read_only itself).
 * - Resuming puts the labels back, lifts the freeze and marks the peer sites for re-cloning.
 * - Failed puts back what Fencing changed and says what to fix; a newer confirm re-arms it.
 *
 * Every step reads the status, does the next missing thing and returns; a daemon restarted midway
 * continues from the status, and every side effect is safe to repeat.
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import { GroupFieldError, resolveGroupAccount } from '../../lib/kube/group-credentials.js';
import {
  clusterFencingSteps,
  inPlaceJobArgs,
  inPlaceMode,
  judgeConfirmToken,
  parseInPlaceJobResult,
  peerSites,
  podsToFence,
  sitePodSelector,
} from '../../lib/kube/in-place-restore.js';
import { annotationKeys, labelKeys, primaryRole, siteMysqlAddress } from '../../lib/kube/objects.js';
import type { ParsedGroup, RestoreInPlaceSpec, RestoreInPlaceStatus } from '../../lib/kube/resources.js';
import { derivedRestoreSecret, pitrArchiveProfile, resolveRestoreSource, restoreJob, restoreJobName, restoreSecretName, type ResolvedRestoreSource } from '../../lib/kube/restore-job.js';
import { candidateTargetSite, decideRestoreTarget, type TargetDecision } from '../../lib/kube/restore-target.js';
import type { SiteState } from '../../lib/kube/source-selection.js';
import type { ReconcileResult } from './backup-reconciler.js';
import type { KubeOps, ObjectRef, StoredGroup } from './kube-ops.js';
import { parseGroup } from './parse-group.js';
import type { RestoreMetrics } from '../../lib/metrics/restore-metrics.js';
import { endedRestore } from './ended-restore.js';
import { jobOutcome, terminationMessage, timeOf } from './job-state.js';

export interface InPlaceRestoreReconcilerDeps {
  ops: KubeOps;
  clock: Clock;
  logger: Logger;
  /** Asks a site's server whether it is reachable and writable (source-selection.ts probeSite). */
  probe(address: { host: string; port: number }, account: { user: string; password: string }): Promise<SiteState>;
  /** Counts each restore that ends (dry runs aside). */
  restoreMetrics: RestoreMetrics;
}

const done: ReconcileResult = {};
const sourceField = 'spec.restoreInPlace.source';

function inFlight(phase: RestoreInPlaceStatus['phase']): boolean {
  return phase === 'Preflight' || phase === 'Fencing' || phase === 'Restoring' || phase === 'Resuming';
}

export class InPlaceRestoreReconciler {
  /** The generation last told about a stale or invalid confirm, per group: one event per generation. */
  private readonly warned = new Map<string, string>();

  constructor(private readonly deps: InPlaceRestoreReconcilerDeps) {}

  async reconcile(ref: ObjectRef): Promise<ReconcileResult> {
    const group = this.deps.ops.getGroup(ref);
    if (!group || group.metadata.deletionTimestamp) return done;
    const status = group.status?.restoreInPlace;
    const parsed = parseGroup(group);
    if (!parsed.ok) {
      // The group reconciler names the problem; a run under way cannot go on without the spec.
      if (status && inFlight(status.phase)) return this.fail(group, status, `the group's spec became invalid during the restore (${parsed.problems[0]?.path ?? 'spec'}: ${parsed.problems[0]?.message ?? 'see its Ready condition'})`);
      return done;
    }
    const pg: ParsedGroup = { metadata: group.metadata, spec: parsed.spec };
    const spec = parsed.spec.restoreInPlace;
    if (status && inFlight(status.phase)) {
      if (!spec) return this.fail(group, status, 'spec.restoreInPlace was removed during the restore');
      return this.advance(group, pg, spec, status);
    }
    if (!spec) return done;
    return this.judge(group, pg, spec, status);
  }

  /** A terminal (or absent) status and a confirm: start a run for a new token, else say why not once per generation. */
  private async judge(group: StoredGroup, pg: ParsedGroup, spec: RestoreInPlaceSpec, status: RestoreInPlaceStatus | undefined): Promise<ReconcileResult> {
    const { ops, clock } = this.deps;
    const now = clock.now();
    const verdict = judgeConfirmToken(spec.confirm, status?.confirmTokenUsed, now);
    const generation = group.metadata.generation ?? 0;
    const key = `${group.metadata.namespace}/${group.metadata.name}`;
    if (verdict.kind !== 'new') {
      // The run that consumed this very generation's token is not an old manifest applied again.
      if (verdict.kind === 'stale' && status?.observedGeneration === generation && status.confirmTokenUsed === spec.confirm) return done;
      const mark = `${generation}/${spec.confirm}`;
      if (this.warned.get(key) === mark) return done;
      this.warned.set(key, mark);
      await ops.event(this.regarding(group), 'Warning', verdict.kind === 'stale' ? 'StaleConfirm' : 'InvalidConfirm', verdict.message);
      return done;
    }
    this.warned.delete(key);
    const mode = inPlaceMode(spec);
    // A whole-instance run killed while restoring leaves the server's read_only fence up.
    const leftFence = status?.phase === 'Failed' && status.mode === 'instance' && status.fencedPods !== undefined && status.targetSite ? { site: status.targetSite, confirm: status.confirmTokenUsed ?? '' } : status?.phase === 'Failed' ? status.takeOverFence : undefined;
    const next: RestoreInPlaceStatus = {
      phase: 'Preflight',
      confirmTokenUsed: spec.confirm,
      mode,
      dryRun: spec.dryRun,
      startTime: timeOf(now),
      observedGeneration: generation,
      ...(leftFence && mode === 'instance' ? { takeOverFence: leftFence } : {}),
      message: `checking the backup and the target for confirm ${spec.confirm}`,
    };
    const written = await this.write(group, (current) => (judgeConfirmToken(spec.confirm, current?.confirmTokenUsed, now).kind === 'new' && !inFlight(current?.phase) ? next : undefined));
    if (!written) return done;
    await ops.event(this.regarding(group), 'Normal', 'RestoreInPlacePreflight', `${spec.dryRun ? 'Dry run' : mode === 'instance' ? 'Whole-instance restore' : `Restore of schema ${spec.loadOptions?.includeSchemas[0] ?? '?'}`} confirmed by ${spec.confirm}: checking the backup and the target`);
    return this.preflight(group, pg, spec, { ...next });
  }

  private advance(group: StoredGroup, pg: ParsedGroup, spec: RestoreInPlaceSpec, status: RestoreInPlaceStatus): Promise<ReconcileResult> {
    switch (status.phase) {
      case 'Preflight':
        return status.jobName && status.dryRun ? this.watchJob(group, pg, spec, status) : this.preflight(group, pg, spec, status);
      case 'Fencing':
        return this.fence(group, pg, spec, status);
      case 'Restoring':
        return this.watchJob(group, pg, spec, status);
      case 'Resuming':
        return this.resume(group, pg, status);
      default:
        return Promise.resolve(done);
    }
  }

  /** Resolves the backup and the target; a refusal is Failed with nothing touched. */
  private async preflight(group: StoredGroup, pg: ParsedGroup, spec: RestoreInPlaceSpec, status: RestoreInPlaceStatus): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const ns = group.metadata.namespace;
    let inputs: { source: ResolvedRestoreSource; account: { user: string; password: string } };
    try {
      inputs = await this.inputs(pg, spec, ns);
    } catch (err) {
      if (err instanceof GroupFieldError) return this.fail(group, status, `${err.message}; nothing was touched`);
      throw err;
    }
    const { source, account } = inputs;
    const target = await this.target(group, pg, spec, status, account);
    if (!target.ok) return this.fail(group, status, `${target.reason}: ${target.message}; nothing was touched`);
    const jobName = restoreJobName(group.metadata.name, 'in-place', spec.confirm);
    const mode = status.mode ?? inPlaceMode(spec);
    const nextPhase = spec.dryRun ? 'Preflight' : mode === 'instance' ? 'Fencing' : 'Restoring';
    const decided: RestoreInPlaceStatus = {
      ...status,
      phase: nextPhase,
      backup: source.description,
      targetSite: target.site.name,
      jobName,
      message: spec.dryRun
        ? `planning against site ${target.site.name} (${target.reason}) with Job ${jobName}: nothing is fenced or changed`
        : mode === 'instance'
          ? `fencing site ${target.site.name} (${target.reason}) before restoring ${source.description}`
          : `restoring schema ${spec.loadOptions?.includeSchemas[0] ?? '?'} of site ${target.site.name} from ${source.description} (no fencing)`,
    };
    // The decision (target, Job) is written before the Job is made, so a restarted daemon finds it.
    const written = await this.write(group, (current) => (current?.phase === 'Preflight' && current.confirmTokenUsed === status.confirmTokenUsed && !current.jobName ? decided : undefined));
    if (!written) return done;
    if (nextPhase === 'Fencing') {
      await ops.event(this.regarding(group), 'Normal', 'RestoreInPlaceFencing', decided.message ?? '');
      return this.fence(group, pg, spec, decided);
    }
    if (nextPhase === 'Restoring') await ops.event(this.regarding(group), 'Normal', 'RestoreInPlaceRestoring', decided.message ?? '');
    await this.startJob({ pg, spec, source, account, siteName: target.site.name, jobName });
    return done;
  }

  /**
   * The backup (a MysqlBackup only), the archive for a point in time, and the account. Throws
   * GroupFieldError naming the field.
   */
  private async inputs(pg: ParsedGroup, spec: RestoreInPlaceSpec, ns: string): Promise<{ source: ResolvedRestoreSource; account: { user: string; password: string } }> {
    const { ops } = this.deps;
    const source = resolveRestoreSource(pg, spec.source, sourceField, (name) => ops.getBackup({ namespace: ns, name }));
    if (source.kind === 'catalog' && source.claimName !== undefined) {
      // The token and fence would go into another group's catalog.
      throw new GroupFieldError(
        `${sourceField}.mysqlBackupRef.name`,
        `MysqlBackup "${source.mysqlBackup}" is on claim ${source.claimName}, another group's: an in-place restore keeps its confirm token and fence in this group's own catalog, so it restores only this group's backups (initFromBackup can read another group's)`,
        'UnsupportedSource',
      );
    }
    if (source.kind !== 'catalog') {
      // The CLI keeps an in-place restore's confirm token and fence in the profile's catalog,
      // which a bare S3 prefix or a read-only claim does not give it.
      throw new GroupFieldError(
        sourceField,
        `an in-place restore reads its backup through a profile of the group (its catalog keeps the restore's confirm token and fence): name a MysqlBackup with ${sourceField}.mysqlBackupRef instead of ${source.kind}`,
        'UnsupportedSource',
      );
    }
    if (spec.pointInTime) pitrArchiveProfile(pg, 'spec.restoreInPlace');
    const account = await resolveGroupAccount(pg.spec, (name) => ops.readSecret({ namespace: ns, name }));
    return { source, account };
  }

  /**
   * The target (restore-target.ts), its server asked. A site left read-only by the fence of a
   * killed whole-instance run (status.takeOverFence) is accepted for a whole-instance run: whether
   * the read_only is that fence is for the CLI to say, which takes over its own and refuses any other.
   */
  private async target(group: StoredGroup, pg: ParsedGroup, spec: RestoreInPlaceSpec, status: RestoreInPlaceStatus, account: { user: string; password: string }): Promise<TargetDecision> {
    const candidate = candidateTargetSite(pg, group.status?.activeSite);
    const state = candidate ? await this.deps.probe(siteMysqlAddress(pg, candidate.site), account) : undefined;
    const target = decideRestoreTarget(pg, group.status?.activeSite, state);
    const left = status.takeOverFence;
    if (target.ok || !candidate || !state?.reachable || !state.readOnly || left?.site !== candidate.site.name || (status.mode ?? inPlaceMode(spec)) !== 'instance') return target;
    return { ok: true, site: candidate.site, reason: `${candidate.why}, read-only by the fence the failed restore confirmed by ${left.confirm} may have left up, which this restore takes over if it is its own` };
  }

  /** Records the pods and annotations, then strips the role label and freezes the topology. */
  private async fence(group: StoredGroup, pg: ParsedGroup, spec: RestoreInPlaceSpec, status: RestoreInPlaceStatus): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const ref = this.refOf(group);
    const site = (pg.spec.sites ?? []).find((s) => s.name === status.targetSite);
    if (!site) return this.fail(group, status, `site "${status.targetSite ?? '?'}" is gone from spec.sites during the restore`);
    const selector = sitePodSelector(pg, site);
    let recorded = status;
    if (status.fencedPods === undefined) {
      const pods = podsToFence(await ops.listPodsBySelector(ref.namespace, selector));
      const annotations = group.metadata.annotations ?? {};
      const before: Record<string, string> = {};
      for (const key of [annotationKeys.topologyFreeze, annotationKeys.recloneSite]) if (annotations[key] !== undefined) before[key] = annotations[key];
      recorded = {
        ...status,
        fencedPods: pods,
        annotationsBefore: before,
        message:
          pods.length === 0
            ? `no pod matches ${selector} with ${labelKeys.role}=${primaryRole}: fencing is at the server alone (read_only during the restore); topology frozen`
            : `removing ${labelKeys.role}=${primaryRole} from ${pods.join(', ')} so the -primary Service sheds its endpoints; topology frozen`,
      };
      // What is about to change is recorded first: a failure (or a restarted daemon) puts it back.
      const written = await this.write(group, (current) => (current?.phase === 'Fencing' && current.fencedPods === undefined ? recorded : undefined));
      if (!written) return done;
    }
    for (const pod of recorded.fencedPods ?? []) await ops.patchPodLabels({ namespace: ref.namespace, name: pod }, { [labelKeys.role]: null });
    await ops.patchGroupAnnotations(ref, { [annotationKeys.topologyFreeze]: status.confirmTokenUsed ?? spec.confirm });
    const restoring: RestoreInPlaceStatus = { ...recorded, phase: 'Restoring', message: `${recorded.message ?? ''}; restoring ${recorded.backup ?? '?'} into site ${recorded.targetSite ?? '?'} (Job ${recorded.jobName ?? '?'})` };
    const written = await this.write(group, (current) => (current?.phase === 'Fencing' ? restoring : undefined));
    if (!written) return done;
    await ops.event(this.regarding(group), 'Normal', 'RestoreInPlaceRestoring', restoring.message ?? '');
    const account = await resolveGroupAccount(pg.spec, (name) => ops.readSecret({ namespace: ref.namespace, name }));
    const source = resolveRestoreSource(pg, spec.source, sourceField, (name) => ops.getBackup({ namespace: ref.namespace, name }));
    await this.startJob({ pg, spec, source, account, siteName: recorded.targetSite ?? site.name, jobName: recorded.jobName ?? restoreJobName(group.metadata.name, 'in-place', spec.confirm) });
    return done;
  }

  /** The derived Secret and the restore Job (both left as they are when they exist). */
  private async startJob(run: { pg: ParsedGroup; spec: RestoreInPlaceSpec; source: ResolvedRestoreSource; account: { user: string; password: string }; siteName: string; jobName: string }): Promise<void> {
    const { ops } = this.deps;
    const { pg, spec, source, account, siteName, jobName } = run;
    const site = (pg.spec.sites ?? []).find((s) => s.name === siteName);
    if (!site) throw new GroupFieldError('spec.sites', `site "${siteName}" is gone`);
    await ops.createSecret(derivedRestoreSecret(pg, jobName, 'in-place', account));
    const pointInTime = spec.pointInTime ? { archive: pitrArchiveProfile(pg, 'spec.restoreInPlace'), spec: spec.pointInTime } : undefined;
    await ops.createJob(
      restoreJob({
        group: pg,
        kind: 'in-place',
        name: jobName,
        source,
        target: siteMysqlAddress(pg, site),
        mysqlSecretName: restoreSecretName(jobName),
        args: inPlaceJobArgs(spec, source),
        ...(pointInTime ? { pointInTime } : {}),
      }),
    );
  }

  /** Follows the restore (or dry run) Job to its end. */
  private async watchJob(group: StoredGroup, pg: ParsedGroup, spec: RestoreInPlaceSpec, status: RestoreInPlaceStatus): Promise<ReconcileResult> {
    const { ops } = this.deps;
    const ns = group.metadata.namespace;
    const jobRef = { namespace: ns, name: status.jobName ?? '' };
    const job = ops.getJob(jobRef);
    if (!job) {
      // The cache may be behind; only the API server can say it is missing. A Job created again
      // for a token already used is refused by the CLI (its catalog keeps the token).
      if (await ops.jobExists(jobRef)) return { requeueAfterMs: 1000 };
      const account = await resolveGroupAccount(pg.spec, (name) => ops.readSecret({ namespace: ns, name }));
      const source = resolveRestoreSource(pg, spec.source, sourceField, (name) => ops.getBackup({ namespace: ns, name }));
      await this.startJob({ pg, spec, source, account, siteName: status.targetSite ?? '', jobName: jobRef.name });
      return done;
    }
    const outcome = jobOutcome(job);
    if (outcome === undefined) return done;
    const message = terminationMessage(ops.podsOfJob(jobRef)).message;
    const result = parseInPlaceJobResult(message);
    if (outcome === 'Complete' && result?.phase === 'Planned' && status.dryRun) return this.planned(group, pg, status, result.plan);
    if (outcome === 'Complete' && result?.phase === 'Succeeded' && !status.dryRun) {
      const resuming: RestoreInPlaceStatus = {
        ...status,
        phase: 'Resuming',
        rows: result.rows,
        bytes: result.bytes,
        pointReached: result.pointReached,
        message: `restored ${result.backup} (${result.rows} rows, ${result.bytes} bytes${result.mode === 'instance' ? `, writes fenced ${result.fencedSeconds} s` : ''}); resuming`,
      };
      const written = await this.write(group, (current) => (current !== undefined && current.phase === status.phase && current.jobName === status.jobName ? resuming : undefined));
      if (!written) return done;
      await ops.event(this.regarding(group), 'Normal', 'RestoreInPlaceResuming', resuming.message ?? '');
      return this.resume(group, pg, resuming);
    }
    // A pod deleted midway may be replaced before the Job gives up: the replacement is refused by
    // the confirm token this run's first pod consumed (as it must be), and its message is not why
    // the run failed. The refusal names the last token used: this run's own.
    const lastUsed = result?.phase === 'Failed' && result.reason === 'CONFIRM_STALE' ? /last one used \(([^,)]+)/.exec(result.message)?.[1] : undefined;
    const replaced = lastUsed !== undefined && Date.parse(lastUsed) === Date.parse(status.confirmTokenUsed ?? '');
    const why = replaced
      ? `the restore Job ${jobRef.name} failed: its pod was killed or deleted midway (a replacement pod was refused, since this confirm was already used)`
      : result?.phase === 'Failed'
        ? `the restore Job ${jobRef.name} failed: ${result.reason}: ${result.message}`
        : `the restore Job ${jobRef.name} ${outcome === 'Complete' ? 'completed without a result' : 'failed without a result (its pod was killed or deleted midway)'}`;
    const serverFence =
      status.mode === 'instance'
        ? "If the restore had begun dropping schemas, the server holds part of the backup and its writes stay fenced (read_only = 1): write a newer confirm to finish the restore (it takes the fence over), or SET GLOBAL read_only = 0 by hand to accept writes into the partial data"
        : 'The schema may hold part of the backup: write a newer confirm to restore it again';
    return this.fail(group, status, `${why}; see kubectl logs job/${jobRef.name} (while its pod exists). ${serverFence}`);
  }

  /** A dry run's end: the CLI's plan, with the cluster's fencing steps around the server's, and Succeeded. */
  private async planned(group: StoredGroup, pg: ParsedGroup, status: RestoreInPlaceStatus, cliPlan: NonNullable<RestoreInPlaceStatus['plan']>): Promise<ReconcileResult> {
    const ns = group.metadata.namespace;
    const site = (pg.spec.sites ?? []).find((s) => s.name === status.targetSite);
    const selector = site ? sitePodSelector(pg, site) : '?';
    const pods = site && cliPlan.mode === 'instance' ? podsToFence(await this.deps.ops.listPodsBySelector(ns, selector)) : [];
    const steps = clusterFencingSteps({ group: pg, mode: cliPlan.mode, selector, pods, token: '<confirm>', peers: peerSites(pg, status.targetSite ?? '') });
    const plan = { ...cliPlan, fencing: [...steps.before, ...cliPlan.fencing, ...steps.after] };
    return this.finish(group, status, {
      phase: 'Succeeded',
      plan,
      completionTime: timeOf(this.deps.clock.now()),
      message: `dry run: planned ${plan.mode === 'instance' ? 'a whole-instance' : 'a one-schema'} restore of ${plan.backup} into site ${status.targetSite ?? '?'}; nothing was fenced or changed. The confirm ${status.confirmTokenUsed ?? ''} is used: to run it, set spec.restoreInPlace.dryRun to false and write a newer confirm`,
    });
  }

  /** Puts the labels back, lifts the freeze, marks the peers for re-cloning (whole instance), then Succeeded. */
  private async resume(group: StoredGroup, pg: ParsedGroup, status: RestoreInPlaceStatus): Promise<ReconcileResult> {
    const ref = this.refOf(group);
    await this.unfence(group, status);
    const peers = status.mode === 'instance' ? peerSites(pg, status.targetSite ?? '') : [];
    if (peers.length > 0) await this.deps.ops.patchGroupAnnotations(ref, { [annotationKeys.recloneSite]: peers.join(',') });
    const fenced = status.fencedPods ?? [];
    return this.finish(group, status, {
      phase: 'Succeeded',
      completionTime: timeOf(this.deps.clock.now()),
      message: `${status.message?.replace(/; resuming$/, '') ?? 'restored'}${status.mode === 'instance' ? `; ${fenced.length > 0 ? `${labelKeys.role}=${primaryRole} put back on ${fenced.join(', ')}, ` : ''}topology freeze lifted${peers.length > 0 ? `, ${annotationKeys.recloneSite}=${peers.join(',')} set for re-cloning` : ''}` : ''}`,
    });
  }

  /** The role label back on the fenced pods; the freeze (and reclone) annotations as they were before Fencing. */
  private async unfence(group: StoredGroup, status: RestoreInPlaceStatus): Promise<void> {
    if (status.fencedPods === undefined) return;
    const { ops, logger } = this.deps;
    const ref = this.refOf(group);
    for (const pod of status.fencedPods) {
      if (!(await ops.patchPodLabels({ namespace: ref.namespace, name: pod }, { [labelKeys.role]: primaryRole }))) logger.warn(`pod ${ref.namespace}/${pod} is gone: its ${labelKeys.role} label cannot be put back`);
    }
    const before = status.annotationsBefore ?? {};
    await ops.patchGroupAnnotations(ref, { [annotationKeys.topologyFreeze]: before[annotationKeys.topologyFreeze] ?? null });
  }

  /** Failed: what Fencing changed is put back first, then the status says what failed and what to do. */
  private async fail(group: StoredGroup, status: RestoreInPlaceStatus, why: string): Promise<ReconcileResult> {
    if (status.jobName) {
      // A run given up while its Job still runs (its spec removed or made invalid): the Job goes
      // first (its CLI is stopped and lowers its own fence), so nothing restores behind the undo.
      const jobRef = { namespace: group.metadata.namespace, name: status.jobName };
      const job = this.deps.ops.getJob(jobRef);
      if (job && jobOutcome(job) === undefined) await this.deps.ops.deleteJob(jobRef);
    }
    await this.unfence(group, status);
    const fenced = status.fencedPods;
    const undone = fenced !== undefined ? `; ${fenced.length > 0 ? `${labelKeys.role}=${primaryRole} put back on ${fenced.join(', ')} and ` : ''}the topology freeze lifted` : '';
    return this.finish(group, status, {
      phase: 'Failed',
      completionTime: timeOf(this.deps.clock.now()),
      message: `${why}${undone}. Fix the cause, then write a newer spec.restoreInPlace.confirm to run it again`,
    });
  }

  /** Writes the terminal status of `status`'s run (once), its event, and removes the run's derived Secret. */
  private async finish(group: StoredGroup, status: RestoreInPlaceStatus, changes: Partial<RestoreInPlaceStatus>): Promise<ReconcileResult> {
    const { ops } = this.deps;
    let terminal: RestoreInPlaceStatus | undefined;
    const written = await this.write(group, (current) => {
      if (!current || !inFlight(current.phase) || current.confirmTokenUsed !== status.confirmTokenUsed) return undefined;
      terminal = { ...current, ...changes };
      return terminal;
    });
    if (!written || !terminal) return done;
    // A dry run restores nothing: it is not a restore the metrics count.
    if (!terminal.dryRun) this.deps.restoreMetrics.observe(endedRestore(ops, group, terminal, this.deps.clock.now()));
    await ops.event(this.regarding(group), terminal.phase === 'Failed' ? 'Warning' : 'Normal', terminal.phase === 'Failed' ? 'RestoreInPlaceFailed' : 'RestoreInPlaceSucceeded', terminal.message ?? '');
    if (terminal.jobName) await ops.deleteSecret({ namespace: group.metadata.namespace, name: restoreSecretName(terminal.jobName) });
    return done;
  }

  /** Writes status.restoreInPlace from the latest group (undefined from `compute`: no write); true when written. */
  private async write(group: StoredGroup, compute: (current: RestoreInPlaceStatus | undefined) => RestoreInPlaceStatus | undefined): Promise<boolean> {
    const written = await this.deps.ops.updateGroupStatus(this.refOf(group), (latest) => {
      const next = compute(latest.status?.restoreInPlace);
      return next === undefined ? undefined : { ...latest.status, restoreInPlace: next };
    });
    return written !== undefined;
  }

  private refOf(group: StoredGroup): ObjectRef {
    return { namespace: group.metadata.namespace, name: group.metadata.name };
  }

  private regarding(group: StoredGroup) {
    return { kind: 'MysqlFailoverGroup' as const, namespace: group.metadata.namespace, name: group.metadata.name, uid: group.metadata.uid };
  }
}
