/**
 * The Job controller's decisions, as a pure function of the Job and its pods: which pods to
 * start or stop, and the status to write. It follows kube-controller-manager's job controller
 * (1.32) for one container per pod: K8S-TESTING.md §5 lists the fields and messages, and
 * KEP-4368 the order of conditions (SuccessCriteriaMet / FailureTarget first, Complete / Failed
 * only once no pod is active or terminating).
 */

/** A Job condition as the API carries it (times are RFC 3339 strings). */
export interface JobCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
}

/** `status` of a batch/v1 Job (JSON form). Zero `active`/`succeeded`/`failed` are left out, as the API does. */
export interface JobStatus {
  startTime?: string;
  completionTime?: string;
  active?: number;
  ready?: number;
  terminating?: number;
  succeeded?: number;
  failed?: number;
  uncountedTerminatedPods?: Record<string, string[]>;
  conditions?: JobCondition[];
}

/** The parts of a Job's spec the controller reads. */
export interface JobSpecFields {
  completions?: number;
  parallelism?: number;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  suspend?: boolean;
  ttlSecondsAfterFinished?: number;
  template?: { spec?: { restartPolicy?: string } };
}

/** One of the Job's pods, as the kubelet last reported it. Pods removed by a suspension are not passed. */
export interface PodSummary {
  name: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ready: boolean;
  /** Being stopped (SIGTERM sent), not exited yet. */
  terminating: boolean;
  /** Container restarts in this pod (restartPolicy OnFailure). */
  restartCount: number;
  /** When it reached Succeeded or Failed. */
  finishedAt?: Date;
}

/** Why the controller stops pods. */
export type KillReason = 'BackoffLimitExceeded' | 'DeadlineExceeded' | 'CompletionsReached' | 'Suspended';

/** An event the controller records on the Job. */
export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface JobPlan {
  /** The whole status to write (the caller writes it only when it differs). */
  status: JobStatus;
  /** Pods to create now. */
  createPods: number;
  /** Pods to stop now (names), and why. */
  killPods: string[];
  killReason: KillReason | undefined;
  events: JobEvent[];
  /** Time alone changes the plan at this instant (backoff over, deadline, TTL). */
  recheckAt: Date | undefined;
  /** ttlSecondsAfterFinished has passed: delete the Job. */
  deleteForTtl: boolean;
}

export interface JobPlanOptions {
  /** First delay before re-creating a failed pod; doubles per failure (real: 10 s). */
  backoffBaseMs: number;
  /** Cap of that delay (real: 6 min). */
  backoffMaxMs: number;
}

/** The default `backoffLimit` the API server writes (6). */
export const defaultBackoffLimit = 6;

/** metav1.Time: RFC 3339 at whole seconds. */
export function rfc3339(t: Date): string {
  return new Date(Math.floor(t.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function isTrue(conditions: readonly JobCondition[], type: string): JobCondition | undefined {
  return conditions.find((c) => c.type === type && c.status === 'True');
}

/** The Job's terminal condition (Complete or Failed, True), if it has finished. */
export function finishedCondition(status: JobStatus | undefined): JobCondition | undefined {
  const conditions = status?.conditions ?? [];
  return isTrue(conditions, 'Complete') ?? isTrue(conditions, 'Failed');
}

const messages = {
  CompletionsReached: 'Reached expected number of succeeded pods',
  BackoffLimitExceeded: 'Job has reached the specified backoff limit',
  DeadlineExceeded: 'Job was active longer than specified deadline',
} as const;

/**
 * Plans one sync of a Job. Pure: `now` is the real time of the sync.
 * Counts come from `pods` (each pod counts once, whatever became of it later).
 */
export function planJob(spec: JobSpecFields, current: JobStatus | undefined, pods: readonly PodSummary[], now: Date, options: JobPlanOptions): JobPlan {
  const sync = new JobSync(spec, current, pods, now);
  const finished = finishedCondition(current);
  if (finished) return sync.afterFinish(finished);
  if (spec.suspend === true) return sync.suspend();
  sync.start();
  sync.setTarget();
  return sync.successMet || sync.failureTarget ? sync.finish() : sync.createPods(options);
}

/** One sync's working state: the status being built and the pods' counts. */
class JobSync {
  readonly plan: JobPlan;
  private readonly status: JobStatus;
  private readonly conditions: JobCondition[];
  private readonly stamp: string;
  private readonly succeeded: number;
  private readonly failedPods: readonly PodSummary[];
  private readonly active: readonly PodSummary[];
  private readonly terminating: number;

  private readonly spec: JobSpecFields;
  private readonly now: Date;

  constructor(spec: JobSpecFields, current: JobStatus | undefined, pods: readonly PodSummary[], now: Date) {
    this.spec = spec;
    this.now = now;
    this.status = structuredClone(current ?? {});
    this.conditions = this.status.conditions ?? [];
    this.plan = { status: this.status, createPods: 0, killPods: [], killReason: undefined, events: [], recheckAt: undefined, deleteForTtl: false };
    this.stamp = rfc3339(now);
    this.succeeded = pods.filter((p) => p.phase === 'Succeeded').length;
    this.failedPods = pods.filter((p) => p.phase === 'Failed');
    const running = pods.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed');
    this.active = running.filter((p) => !p.terminating);
    this.terminating = running.length - this.active.length;
  }

  get successMet(): JobCondition | undefined {
    return isTrue(this.conditions, 'SuccessCriteriaMet');
  }

  get failureTarget(): JobCondition | undefined {
    return isTrue(this.conditions, 'FailureTarget');
  }

  /** A finished Job: only ttlSecondsAfterFinished is left to do. */
  afterFinish(finished: JobCondition): JobPlan {
    const ttl = this.spec.ttlSecondsAfterFinished;
    if (ttl !== undefined) {
      const deleteAt = new Date(Date.parse(finished.lastTransitionTime ?? this.stamp) + ttl * 1000);
      if (deleteAt <= this.now) this.plan.deleteForTtl = true;
      else this.plan.recheckAt = deleteAt;
    }
    return this.plan;
  }

  /** Suspended: no pods (the running ones are stopped and not counted), no startTime. */
  suspend(): JobPlan {
    this.setCondition('Suspended', 'True', 'JobSuspended', 'Job suspended');
    delete this.status.startTime;
    this.stopActive('Suspended');
    return this.writeCounts(0, 0, this.terminating + this.plan.killPods.length);
  }

  start(): void {
    if (isTrue(this.conditions, 'Suspended')) this.setCondition('Suspended', 'False', 'JobResumed', 'Job resumed');
    this.status.startTime ??= this.stamp;
  }

  /** Adds SuccessCriteriaMet or FailureTarget when the Job's outcome is decided. */
  setTarget(): void {
    if (this.successMet || this.failureTarget) return;
    const { spec } = this;
    const deadline = spec.activeDeadlineSeconds === undefined ? undefined : new Date(Date.parse(this.status.startTime ?? this.stamp) + spec.activeDeadlineSeconds * 1000);
    const backoffLimit = spec.backoffLimit ?? defaultBackoffLimit;
    const restarts = this.active.reduce((sum, p) => sum + p.restartCount, 0);
    const tooManyRestarts = spec.template?.spec?.restartPolicy === 'OnFailure' && backoffLimit > 0 && restarts >= backoffLimit;
    let failure: 'BackoffLimitExceeded' | 'DeadlineExceeded' | undefined;
    if (this.failedPods.length > backoffLimit || tooManyRestarts) failure = 'BackoffLimitExceeded';
    else if (deadline !== undefined && deadline <= this.now) failure = 'DeadlineExceeded';
    if (this.succeeded >= (spec.completions ?? 1)) {
      this.setCondition('SuccessCriteriaMet', 'True', 'CompletionsReached', messages.CompletionsReached);
    } else if (failure) {
      this.setCondition('FailureTarget', 'True', failure, messages[failure]);
      this.plan.events.push({ type: 'Warning', reason: failure, message: messages[failure] });
    } else if (deadline) {
      this.plan.recheckAt = deadline;
    }
  }

  /** Outcome decided: stop what runs; once nothing runs, the terminal condition. */
  finish(): JobPlan {
    const { successMet, failureTarget } = this;
    this.stopActive(successMet ? 'CompletionsReached' : ((failureTarget?.reason as KillReason | undefined) ?? 'BackoffLimitExceeded'));
    const stillRunning = this.terminating + this.plan.killPods.length;
    if (stillRunning === 0) {
      if (successMet) {
        this.setCondition('Complete', 'True', 'CompletionsReached', messages.CompletionsReached);
        this.status.completionTime = this.stamp;
        this.plan.events.push({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
      } else if (failureTarget) {
        this.setCondition('Failed', 'True', failureTarget.reason ?? 'BackoffLimitExceeded', failureTarget.message ?? '');
      }
      this.plan.recheckAt = this.spec.ttlSecondsAfterFinished === undefined ? undefined : this.now;
    }
    return this.writeCounts(0, 0, stillRunning);
  }

  /** Pods wanted and not running, once the backoff after the last failure is over. */
  createPods(options: JobPlanOptions): JobPlan {
    const wanted = Math.min(this.spec.parallelism ?? 1, (this.spec.completions ?? 1) - this.succeeded) - this.active.length;
    if (wanted > 0) {
      const failures = this.failedPods.length;
      const lastFailure = Math.max(0, ...this.failedPods.map((p) => p.finishedAt?.getTime() ?? 0));
      const delay = failures === 0 ? 0 : Math.min(options.backoffBaseMs * 2 ** (failures - 1), options.backoffMaxMs);
      const retryAt = new Date(lastFailure + delay);
      if (retryAt <= this.now) this.plan.createPods = wanted;
      else if (this.plan.recheckAt === undefined || retryAt < this.plan.recheckAt) this.plan.recheckAt = retryAt;
    }
    return this.writeCounts(this.active.length + this.plan.createPods, this.active.filter((p) => p.ready).length, this.terminating);
  }

  private setCondition(type: string, value: 'True' | 'False', reason: string, message: string): void {
    const existing = this.conditions.find((c) => c.type === type);
    if (existing?.status === value && existing.reason === reason) return;
    const condition: JobCondition = { type, status: value, reason, message, lastProbeTime: this.stamp, lastTransitionTime: this.stamp };
    if (existing) this.conditions.splice(this.conditions.indexOf(existing), 1, condition);
    else this.conditions.push(condition);
  }

  private stopActive(reason: KillReason): void {
    this.plan.killPods = this.active.map((p) => p.name);
    this.plan.killReason = this.plan.killPods.length > 0 ? reason : undefined;
  }

  private writeCounts(active: number, ready: number, terminating: number): JobPlan {
    setCount(this.status, 'active', active);
    this.status.ready = ready;
    this.status.terminating = terminating;
    setCount(this.status, 'succeeded', this.succeeded);
    setCount(this.status, 'failed', this.failedPods.length);
    this.status.uncountedTerminatedPods = {};
    if (this.conditions.length > 0) this.status.conditions = this.conditions;
    return this.plan;
  }
}

function setCount(status: JobStatus, field: 'active' | 'succeeded' | 'failed', value: number): void {
  if (value > 0) status[field] = value;
  else delete status[field];
}
