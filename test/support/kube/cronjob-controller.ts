/**
 * The CronJob controller on a test clock: creates each CronJob's Job when its schedule comes
 * due (cron-schedule.ts: the zone, the most recent missed time only, startingDeadlineSeconds),
 * applies concurrencyPolicy (Allow / Forbid / Replace) and suspend, keeps `status.active`,
 * `lastScheduleTime` and `lastSuccessfulTime`, and deletes finished Jobs past the history
 * limits. It follows kube-controller-manager's cronjob_controllerv2.
 */
import type { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { controllerTimeZone, cronJobJobName, dueSchedule, parseCronSchedule, scheduledTimestamp, ScheduleError, tooManyMissed } from './cron-schedule.js';
import { finishedCondition, rfc3339 } from './job-status.js';
import { apiStatus, mergePatch, recordEvent, topLevelMergePatch, type CronJobJson, type JobJson, type ObjectReference } from './kube-objects.js';
import type { Clock } from './test-clock.js';

export interface CronJobControllerOptions {
  core: CoreV1Api;
  batch: BatchV1Api;
  clock: Clock;
  /** The CronJobs and Jobs: from the informers' caches, or (`fresh`) listed from the API now. */
  cronJobs(fresh: boolean): Promise<CronJobJson[]>;
  jobs(fresh: boolean): Promise<JobJson[]>;
}

type CronJobStatus = NonNullable<CronJobJson['status']>;

export class CronJobController {
  private readonly options: CronJobControllerOptions;
  /** Status last written per CronJob uid (fresher than the informer's copy right after a write). */
  private readonly written = new Map<string, CronJobStatus>();
  /** Jobs created per CronJob uid and not yet seen in the Job cache. */
  private readonly created = new Map<string, Map<string, ObjectReference>>();
  /** Warnings already recorded (one per CronJob and cause, not one per check). */
  private readonly warned = new Set<string>();
  private checking: Promise<void> = Promise.resolve();

  constructor(options: CronJobControllerOptions) {
    this.options = options;
  }

  /**
   * Syncs every CronJob once at the clock's now; concurrent calls run one after the other.
   * `fresh`: read CronJobs and Jobs from the API rather than the informers' caches, which may
   * not have seen a CronJob created a moment ago (what a test expects of an explicit check).
   */
  check(fresh = false): Promise<void> {
    const next = this.checking.then(() => this.checkAll(fresh));
    this.checking = next.catch(() => undefined);
    return next;
  }

  /** Waits for the check under way, if any. */
  async idle(): Promise<void> {
    await this.checking;
  }

  private async checkAll(fresh: boolean): Promise<void> {
    const live = new Set<string>();
    const errors: unknown[] = [];
    const jobs = await this.options.jobs(fresh);
    for (const cronJob of await this.options.cronJobs(fresh)) {
      live.add(cronJob.metadata.uid);
      try {
        await this.sync(cronJob, jobs);
      } catch (error) {
        errors.push(error);
      }
    }
    for (const uid of this.written.keys()) if (!live.has(uid)) this.forget(uid);
    if (errors.length > 0) throw new AggregateError(errors, 'CronJob sync failed');
  }

  private forget(uid: string): void {
    this.written.delete(uid);
    this.created.delete(uid);
  }

  private async sync(cronJob: CronJobJson, jobs: readonly JobJson[]): Promise<void> {
    const { uid, namespace, name } = cronJob.metadata;
    const now = this.options.clock.now();
    const current: CronJobStatus = structuredClone(this.written.get(uid) ?? cronJob.status ?? {});
    const status: CronJobStatus = structuredClone(current);
    const children = jobs.filter((j) => j.metadata.namespace === namespace && j.metadata.ownerReferences?.some((o) => o.controller === true && o.uid === uid));
    const recent = this.created.get(uid) ?? new Map<string, ObjectReference>();
    this.created.set(uid, recent);
    for (const child of children) recent.delete(child.metadata.uid);

    // status.active: the running children, those just created, none that finished or vanished.
    const active: ObjectReference[] = [];
    for (const child of children) {
      const finished = finishedCondition(child.status);
      if (!finished && !child.metadata.deletionTimestamp) {
        // An entry keeps the reference taken when it was added, as the real controller's does.
        active.push(current.active?.find((a) => a.uid === child.metadata.uid) ?? reference(child));
        continue;
      }
      if (finished?.type === 'Complete' && child.status?.completionTime) {
        const completed = child.status.completionTime;
        if (!status.lastSuccessfulTime || Date.parse(completed) > Date.parse(status.lastSuccessfulTime)) status.lastSuccessfulTime = completed;
        if (current.active?.some((a) => a.uid === child.metadata.uid)) {
          await this.event(cronJob, 'Normal', 'SawCompletedJob', `Saw completed job: ${child.metadata.name}, condition: Complete`);
        }
      }
    }
    active.push(...recent.values());
    status.active = active;

    if (!cronJob.metadata.deletionTimestamp && cronJob.spec.suspend !== true) await this.schedule(cronJob, status, now, recent);
    if (status.active.length === 0) delete status.active;
    if (JSON.stringify(status) !== JSON.stringify(current)) {
      try {
        await this.options.batch.patchNamespacedCronJobStatus({ name, namespace, body: { status: topLevelMergePatch(current, status) } }, mergePatch);
      } catch (error) {
        if (apiStatus(error) === 404) return this.forget(uid);
        throw error;
      }
      this.written.set(uid, status);
    }
    await this.trimHistory(cronJob, children);
  }

  /** Creates the Job for the most recent due schedule time, if the policies allow. */
  private async schedule(cronJob: CronJobJson, status: CronJobStatus, now: Date, recent: Map<string, ObjectReference>): Promise<void> {
    const { uid, name } = cronJob.metadata;
    let schedule;
    try {
      schedule = parseCronSchedule(cronJob.spec.schedule, cronJob.spec.timeZone);
    } catch (error) {
      if (error instanceof ScheduleError) return this.warnOnce(cronJob, error.reason, error.message);
      throw error;
    }
    const since = new Date(status.lastScheduleTime ?? cronJob.metadata.creationTimestamp ?? now);
    const due = dueSchedule(schedule, since, now, cronJob.spec.startingDeadlineSeconds);
    if (!due.scheduled) return;
    const scheduledKey = `${uid}:${due.scheduled.getTime()}`;
    if (due.missed > tooManyMissed) {
      await this.warnOnce(cronJob, 'TooManyMissedTimes', `too many missed start times: ${due.missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew`, scheduledKey);
    }
    if (due.tooLate) return this.warnOnce(cronJob, 'MissSchedule', `Missed scheduled time to start a job: ${due.scheduled.toISOString()}`, scheduledKey);
    const jobName = cronJobJobName(name, due.scheduled);
    if (status.active?.some((a) => a.name === jobName)) return;

    const policy = cronJob.spec.concurrencyPolicy ?? 'Allow';
    if (policy === 'Forbid' && (status.active?.length ?? 0) > 0) {
      // Real controller: the time is not taken (lastScheduleTime stays) and it looks again later.
      return this.warnOnce(cronJob, 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid', scheduledKey, 'Normal');
    }
    if (policy === 'Replace') await this.replaceActive(cronJob, status, recent);
    await this.createJob(cronJob, jobName, due.scheduled, status, recent);
  }

  /** concurrencyPolicy Replace: the running Jobs go (Background propagation) before the new one. */
  private async replaceActive(cronJob: CronJobJson, status: CronJobStatus, recent: Map<string, ObjectReference>): Promise<void> {
    for (const old of status.active ?? []) {
      try {
        await this.options.batch.deleteNamespacedJob({ name: old.name, namespace: cronJob.metadata.namespace, propagationPolicy: 'Background' });
      } catch (error) {
        if (apiStatus(error) !== 404) throw error;
      }
      recent.delete(old.uid);
      await this.event(cronJob, 'Normal', 'SuccessfulDelete', `Deleted job ${old.name}`);
    }
    status.active = [];
  }

  /** The Job for `scheduled`, from the jobTemplate, owned by the CronJob; recorded in `status`. */
  private async createJob(cronJob: CronJobJson, jobName: string, scheduled: Date, status: CronJobStatus, recent: Map<string, ObjectReference>): Promise<void> {
    const { uid, name, namespace } = cronJob.metadata;
    const template = cronJob.spec.jobTemplate;
    const body = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: jobName,
        namespace,
        labels: { ...template.metadata?.labels },
        annotations: { ...template.metadata?.annotations, 'batch.kubernetes.io/cronjob-scheduled-timestamp': scheduledTimestamp(scheduled, cronJob.spec.timeZone ?? controllerTimeZone) },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name, uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: template.spec,
    };
    let created;
    try {
      created = await this.options.batch.createNamespacedJob({ namespace, body });
    } catch (error) {
      // Already created for this time (by an earlier run of this controller): nothing more to do.
      if (apiStatus(error) === 409) return;
      await this.event(cronJob, 'Warning', 'FailedCreate', `Error creating job: ${error instanceof Error ? error.message : String(error)}`);
      throw error;
    }
    const ref: ObjectReference = { apiVersion: 'batch/v1', kind: 'Job', name: jobName, namespace, uid: created.metadata?.uid ?? '', resourceVersion: created.metadata?.resourceVersion };
    recent.set(ref.uid, ref);
    status.active = [...(status.active ?? []), ref];
    status.lastScheduleTime = rfc3339(scheduled);
    await this.event(cronJob, 'Normal', 'SuccessfulCreate', `Created job ${jobName}`);
  }

  /** Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit (3) and failedJobsHistoryLimit (1). */
  private async trimHistory(cronJob: CronJobJson, children: JobJson[]): Promise<void> {
    const limits = { Complete: cronJob.spec.successfulJobsHistoryLimit ?? 3, Failed: cronJob.spec.failedJobsHistoryLimit ?? 1 };
    for (const type of ['Complete', 'Failed'] as const) {
      const finished = children
        .filter((j) => !j.metadata.deletionTimestamp && finishedCondition(j.status)?.type === type)
        .sort((a, b) => Date.parse(a.status?.startTime ?? a.metadata.creationTimestamp ?? '') - Date.parse(b.status?.startTime ?? b.metadata.creationTimestamp ?? ''));
      for (const job of finished.slice(0, Math.max(0, finished.length - limits[type]))) {
        try {
          await this.options.batch.deleteNamespacedJob({ name: job.metadata.name, namespace: job.metadata.namespace, propagationPolicy: 'Background' });
          await this.event(cronJob, 'Normal', 'SuccessfulDelete', `Deleted job ${job.metadata.name}`);
        } catch (error) {
          if (apiStatus(error) !== 404) throw error;
        }
      }
    }
  }

  private async warnOnce(cronJob: CronJobJson, reason: string, message: string, key = '', type: 'Normal' | 'Warning' = 'Warning'): Promise<void> {
    const id = `${cronJob.metadata.uid}:${cronJob.metadata.resourceVersion ?? ''}:${reason}:${key}`;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    await this.event(cronJob, type, reason, message);
  }

  private event(cronJob: CronJobJson, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return recordEvent(this.options.core, { apiVersion: 'batch/v1', kind: 'CronJob', metadata: cronJob.metadata }, { type, reason, message }, 'cronjob-controller');
  }
}

function reference(job: JobJson): ObjectReference {
  return { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, namespace: job.metadata.namespace, uid: job.metadata.uid, resourceVersion: job.metadata.resourceVersion };
}
