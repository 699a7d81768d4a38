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
  const status: JobStatus = structuredClone(current ?? {});
  const conditions: JobCondition[] = status.conditions ?? [];
  const plan: JobPlan = { status, createPods: 0, killPods: [], killReason: undefined, events: [], recheckAt: undefined, deleteForTtl: false };
  const stamp = rfc3339(now);
  const setCondition = (type: string, value: 'True' | 'False', reason: string, message: string): void => {
    const existing = conditions.find((c) => c.type === type);
    if (existing?.status === value && existing.reason === reason) return;
    const condition: JobCondition = { type, status: value, reason, message, lastProbeTime: stamp, lastTransitionTime: stamp };
    if (existing) conditions.splice(conditions.indexOf(existing), 1, condition);
    else conditions.push(condition);
  };

  const finished = finishedCondition(current);
  if (finished) {
    if (spec.ttlSecondsAfterFinished !== undefined) {
      const finishedAt = Date.parse(finished.lastTransitionTime ?? stamp);
      const deleteAt = new Date(finishedAt + spec.ttlSecondsAfterFinished * 1000);
      if (deleteAt <= now) plan.deleteForTtl = true;
      else plan.recheckAt = deleteAt;
    }
    return plan;
  }

  const succeeded = pods.filter((p) => p.phase === 'Succeeded').length;
  const failedPods = pods.filter((p) => p.phase === 'Failed');
  const running = pods.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed');
  const active = running.filter((p) => !p.terminating);
  const terminating = running.filter((p) => p.terminating);
  const completions = spec.completions ?? 1;
  const parallelism = spec.parallelism ?? 1;
  const backoffLimit = spec.backoffLimit ?? defaultBackoffLimit;
  const onFailure = spec.template?.spec?.restartPolicy === 'OnFailure';
  const restarts = active.reduce((sum, p) => sum + p.restartCount, 0);

  const writeCounts = (activeCount: number, readyCount: number, terminatingCount: number): void => {
    setCount(status, 'active', activeCount);
    status.ready = readyCount;
    status.terminating = terminatingCount;
    setCount(status, 'succeeded', succeeded);
    setCount(status, 'failed', failedPods.length);
    status.uncountedTerminatedPods = {};
    if (conditions.length > 0) status.conditions = conditions;
  };
  const stopActive = (reason: KillReason): void => {
    plan.killPods = active.map((p) => p.name);
    plan.killReason = plan.killPods.length > 0 ? reason : undefined;
  };

  if (spec.suspend === true) {
    setCondition('Suspended', 'True', 'JobSuspended', 'Job suspended');
    delete status.startTime;
    stopActive('Suspended');
    writeCounts(0, 0, terminating.length + plan.killPods.length);
    return plan;
  }
  if (isTrue(conditions, 'Suspended')) setCondition('Suspended', 'False', 'JobResumed', 'Job resumed');
  status.startTime ??= stamp;

  if (!isTrue(conditions, 'SuccessCriteriaMet') && !isTrue(conditions, 'FailureTarget')) {
    const deadline = spec.activeDeadlineSeconds === undefined ? undefined : new Date(Date.parse(status.startTime) + spec.activeDeadlineSeconds * 1000);
    const failureReason =
      failedPods.length > backoffLimit || (onFailure && backoffLimit > 0 && restarts >= backoffLimit)
        ? 'BackoffLimitExceeded'
        : deadline !== undefined && deadline <= now
          ? 'DeadlineExceeded'
          : undefined;
    if (succeeded >= completions) {
      setCondition('SuccessCriteriaMet', 'True', 'CompletionsReached', messages.CompletionsReached);
    } else if (failureReason) {
      setCondition('FailureTarget', 'True', failureReason, messages[failureReason]);
      plan.events.push({ type: 'Warning', reason: failureReason, message: messages[failureReason] });
    } else if (deadline) {
      plan.recheckAt = deadline;
    }
  }

  const successMet = isTrue(conditions, 'SuccessCriteriaMet');
  const failureTarget = isTrue(conditions, 'FailureTarget');
  if (successMet || failureTarget) {
    stopActive(successMet ? 'CompletionsReached' : ((failureTarget?.reason as KillReason | undefined) ?? 'BackoffLimitExceeded'));
    const stillRunning = terminating.length + plan.killPods.length;
    if (stillRunning === 0) {
      if (successMet) {
        setCondition('Complete', 'True', 'CompletionsReached', messages.CompletionsReached);
        status.completionTime = stamp;
        plan.events.push({ type: 'Normal', reason: 'Completed', message: 'Job completed' });
      } else if (failureTarget) {
        setCondition('Failed', 'True', failureTarget.reason ?? 'BackoffLimitExceeded', failureTarget.message ?? '');
      }
      plan.recheckAt = spec.ttlSecondsAfterFinished === undefined ? undefined : now;
    }
    writeCounts(0, 0, stillRunning);
    return plan;
  }

  const wanted = Math.min(parallelism, completions - succeeded) - active.length;
  if (wanted > 0) {
    const lastFailure = Math.max(0, ...failedPods.map((p) => p.finishedAt?.getTime() ?? 0));
    const delay = failedPods.length === 0 ? 0 : Math.min(options.backoffBaseMs * 2 ** (failedPods.length - 1), options.backoffMaxMs);
    const retryAt = new Date(lastFailure + delay);
    if (retryAt <= now) plan.createPods = wanted;
    else if (plan.recheckAt === undefined || retryAt < plan.recheckAt) plan.recheckAt = retryAt;
  }
  writeCounts(active.length + plan.createPods, active.filter((p) => p.ready).length, terminating.length);
  return plan;
}

function setCount(status: JobStatus, field: 'active' | 'succeeded' | 'failed', value: number): void {
  if (value > 0) status[field] = value;
  else delete status[field];
}
