import { describe, expect, it } from 'vitest';
import { planJob, type JobSpecFields, type PodSummary } from '../support/kube/job-status.js';

const options = { backoffBaseMs: 1000, backoffMaxMs: 8000 };
const t0 = new Date('2027-01-01T10:00:00Z');
const at = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);
const pod = (name: string, phase: PodSummary['phase'], extra: Partial<PodSummary> = {}): PodSummary => ({
  name,
  phase,
  ready: phase === 'Running',
  terminating: false,
  restartCount: 0,
  ...extra,
});

describe('planJob', () => {
  it('starts a new Job: startTime, one pod, active 1, ready 0', () => {
    const plan = planJob({}, undefined, [], t0, options);
    expect(plan.createPods).toBe(1);
    expect(plan.status).toEqual({ startTime: '2027-01-01T10:00:00Z', active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} });
  });

  it('completes after the pod succeeds: SuccessCriteriaMet then Complete, completionTime', () => {
    const running = planJob({}, undefined, [pod('a', 'Running')], t0, options);
    expect(running.status.ready).toBe(1);
    const done = planJob({}, running.status, [pod('a', 'Succeeded', { finishedAt: at(5) })], at(5), options);
    expect(done.createPods).toBe(0);
    expect(done.status.succeeded).toBe(1);
    expect(done.status.active).toBeUndefined();
    expect(done.status.completionTime).toBe('2027-01-01T10:00:05Z');
    expect(done.status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['SuccessCriteriaMet', 'True', 'CompletionsReached'],
      ['Complete', 'True', 'CompletionsReached'],
    ]);
    expect(done.status.conditions?.[1]?.message).toBe('Reached expected number of succeeded pods');
    expect(done.events).toEqual([{ type: 'Normal', reason: 'Completed', message: 'Job completed' }]);
  });

  it('retries a failed pod after a doubling backoff, then fails past backoffLimit', () => {
    const spec: JobSpecFields = { backoffLimit: 1 };
    const first = planJob(spec, undefined, [], t0, options);
    const failedOnce = [pod('a', 'Failed', { finishedAt: at(2) })];
    const waiting = planJob(spec, first.status, failedOnce, at(2.5), options);
    expect(waiting.createPods).toBe(0);
    expect(waiting.recheckAt).toEqual(at(3));
    expect(waiting.status.failed).toBe(1);
    const retry = planJob(spec, waiting.status, failedOnce, at(3), options);
    expect(retry.createPods).toBe(1);
    const failed = planJob(spec, retry.status, [...failedOnce, pod('b', 'Failed', { finishedAt: at(4) })], at(4), options);
    expect(failed.createPods).toBe(0);
    expect(failed.status.failed).toBe(2);
    expect(failed.status.completionTime).toBeUndefined();
    expect(failed.status.conditions?.map((c) => [c.type, c.reason, c.message])).toEqual([
      ['FailureTarget', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
      ['Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
    ]);
  });

  it('past activeDeadlineSeconds: stops the pod, FailureTarget first, Failed once it is gone', () => {
    const spec: JobSpecFields = { activeDeadlineSeconds: 10 };
    const started = planJob(spec, undefined, [], t0, options);
    const running = planJob(spec, started.status, [pod('a', 'Running')], at(5), options);
    expect(running.recheckAt).toEqual(at(10));
    const over = planJob(spec, running.status, [pod('a', 'Running')], at(10), options);
    expect(over.killPods).toEqual(['a']);
    expect(over.killReason).toBe('DeadlineExceeded');
    expect(over.status.terminating).toBe(1);
    expect(over.status.conditions?.map((c) => c.type)).toEqual(['FailureTarget']);
    const stopping = planJob(spec, over.status, [pod('a', 'Running', { terminating: true })], at(11), options);
    expect(stopping.killPods).toEqual([]);
    expect(stopping.status.conditions?.map((c) => c.type)).toEqual(['FailureTarget']);
    const gone = planJob(spec, stopping.status, [pod('a', 'Failed', { finishedAt: at(12) })], at(12), options);
    expect(gone.status.conditions?.map((c) => [c.type, c.reason])).toEqual([
      ['FailureTarget', 'DeadlineExceeded'],
      ['Failed', 'DeadlineExceeded'],
    ]);
    expect(gone.status.terminating).toBe(0);
    expect(gone.status.failed).toBe(1);
  });

  it('asks for deletion ttlSecondsAfterFinished after the terminal condition', () => {
    const spec: JobSpecFields = { ttlSecondsAfterFinished: 30 };
    const done = planJob(spec, undefined, [pod('a', 'Succeeded', { finishedAt: t0 })], t0, options);
    expect(planJob(spec, done.status, [], at(29), options)).toMatchObject({ deleteForTtl: false, recheckAt: at(30) });
    expect(planJob(spec, done.status, [], at(30), options).deleteForTtl).toBe(true);
    expect(planJob({}, done.status, [], at(3000), options)).toMatchObject({ deleteForTtl: false, recheckAt: undefined });
  });

  it('suspends: no pods, startTime cleared, Suspended True; resumes with Suspended False', () => {
    const suspended = planJob({ suspend: true }, undefined, [], t0, options);
    expect(suspended.createPods).toBe(0);
    expect(suspended.status.startTime).toBeUndefined();
    expect(suspended.status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([['Suspended', 'True', 'JobSuspended']]);
    const resumed = planJob({}, suspended.status, [], at(5), options);
    expect(resumed.createPods).toBe(1);
    expect(resumed.status.startTime).toBe('2027-01-01T10:00:05Z');
    expect(resumed.status.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([['Suspended', 'False', 'JobResumed']]);
  });

  it('restartPolicy OnFailure: container restarts count against backoffLimit', () => {
    const spec: JobSpecFields = { backoffLimit: 2, template: { spec: { restartPolicy: 'OnFailure' } } };
    expect(planJob(spec, undefined, [pod('a', 'Running', { restartCount: 1 })], t0, options).killPods).toEqual([]);
    const over = planJob(spec, undefined, [pod('a', 'Running', { restartCount: 2 })], t0, options);
    expect(over.killPods).toEqual(['a']);
    expect(over.killReason).toBe('BackoffLimitExceeded');
  });
});
