/**
 * What the reconcilers read from a Job and its pods, and how they write times and conditions:
 * the Job's terminal condition, the container's termination message (where the CLI's
 * `--result-file` lands), the failure's reason, and metav1 times at whole seconds.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';

/** The Job's terminal condition, if it has one. */
export function jobOutcome(job: V1Job): 'Complete' | 'Failed' | undefined {
  for (const c of job.status?.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return 'Complete';
    if (c.type === 'Failed') return 'Failed';
  }
  return undefined;
}

/** The termination message of the pod's container, from the newest pod (pods newest first) whose container ended. */
export function terminationMessage(pods: readonly V1Pod[]): { message: string | undefined; exitCode: number | undefined; reason: string | undefined } {
  for (const pod of pods) {
    for (const cs of pod.status?.containerStatuses ?? []) {
      const t = cs.state?.terminated ?? cs.lastState?.terminated;
      if (t) return { message: t.message, exitCode: t.exitCode, reason: t.reason };
    }
  }
  return { message: undefined, exitCode: undefined, reason: undefined };
}

/** A metav1.Condition at `at`, for the object's `generation`. */
export function condition(type: string, status: 'True' | 'False', reason: string, message: string, at: Date, generation: number | undefined) {
  return { type, status, reason, message, lastTransitionTime: timeOf(at), observedGeneration: generation ?? 0 };
}

/** metav1.Time: RFC 3339 at whole seconds, as the API server writes it. */
export function timeOf(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The reason of the Job's Failed condition (BackoffLimitExceeded, DeadlineExceeded, …). */
export function jobFailureReason(job: V1Job): string {
  return job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True')?.reason ?? 'JobFailed';
}

/** The Job's Failed condition as `reason: message`. */
export function jobFailureMessage(job: V1Job): string {
  const c = job.status?.conditions?.find((x) => x.type === 'Failed' && x.status === 'True');
  return c ? `${c.reason ?? 'Failed'}: ${c.message ?? ''}` : 'failed';
}
