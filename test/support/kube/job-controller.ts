/**
 * The Job controller: for each Job it creates pods (`<job>-<5 random>`, labelled and owned
 * like the real controller's) and hands them to the kubelet, then writes the Job's status from
 * what the pods did (job-status.ts decides), records its Events, and deletes finished Jobs
 * after ttlSecondsAfterFinished (Foreground, with a uid precondition, like the TTL controller).
 */
import type { BatchV1Api, CoreV1Api } from '@kubernetes/client-node';
import { planJob, type JobPlanOptions, type JobStatus, type PodSummary } from './job-status.js';
import { apiStatus, mergePatch, recordEvent, topLevelMergePatch, type JobJson } from './kube-objects.js';
import type { Kubelet, PodRecord } from './kubelet.js';
import type { PodJson } from './pod-config.js';
import { WorkQueue } from './work-queue.js';

export interface JobControllerOptions {
  core: CoreV1Api;
  batch: BatchV1Api;
  kubelet: Kubelet;
  /** The informer's cache of Jobs. */
  job(namespace: string, name: string): JobJson | undefined;
  backoff: JobPlanOptions;
}

interface JobState {
  key: string;
  /** The status last written (fresher than the informer's copy right after a write). */
  status: JobStatus | undefined;
}

/** `spec.managedBy` of Jobs this controller handles (unset means the same). */
const builtInController = 'kubernetes.io/job-controller';

export class JobController {
  private readonly states = new Map<string, JobState>();
  private readonly queue: WorkQueue;
  private readonly options: JobControllerOptions;

  constructor(options: JobControllerOptions) {
    this.options = options;
    this.queue = new WorkQueue((key) => this.sync(key));
  }

  /** A Job was added or changed. */
  jobChanged(job: JobJson): void {
    if (job.metadata.deletionTimestamp) this.stopPodsOf(job.metadata.uid);
    this.queue.add(`${job.metadata.namespace}/${job.metadata.name}`);
  }

  /** A Job is gone: its pods' processes are stopped. */
  jobDeleted(job: JobJson): void {
    this.options.kubelet.jobGone(job.metadata.uid);
    this.states.delete(job.metadata.uid);
  }

  /** The kubelet changed a pod of one of our Jobs. */
  podChanged(record: PodRecord): void {
    const state = this.states.get(record.jobUid);
    if (state) this.queue.add(state.key);
  }

  /** Resolves once no sync is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  stop(): Promise<void> {
    return this.queue.stop();
  }

  private stopPodsOf(jobUid: string): void {
    for (const pod of this.options.kubelet.podsOfJob(jobUid)) this.options.kubelet.stopPod(pod.uid);
  }

  private summaries(jobUid: string): PodSummary[] {
    return this.options.kubelet
      .podsOfJob(jobUid)
      .filter((p) => !p.discarded)
      .map((p) => ({ name: p.name, phase: p.phase, ready: p.ready, terminating: p.terminating, restartCount: p.restartCount, finishedAt: p.finishedAt }));
  }

  private async sync(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const job = this.options.job(namespace, name);
    if (!job || job.metadata.deletionTimestamp) return;
    if (job.spec.managedBy !== undefined && job.spec.managedBy !== builtInController) return;
    const { uid } = job.metadata;
    let state = this.states.get(uid);
    if (!state) {
      state = { key, status: undefined };
      this.states.set(uid, state);
    }
    const current = state.status ?? job.status;
    let plan = planJob(job.spec, current, this.summaries(uid), new Date(), this.options.backoff);

    for (const podName of plan.killPods) {
      const record = this.options.kubelet.podsOfJob(uid).find((p) => p.name === podName);
      if (record) this.options.kubelet.stopPod(record.uid, plan.killReason === 'Suspended');
    }
    if (plan.createPods > 0) {
      for (let i = 0; i < plan.createPods; i++) await this.createPod(job);
      plan = planJob(job.spec, current, this.summaries(uid), new Date(), this.options.backoff);
    }

    if (JSON.stringify(plan.status) !== JSON.stringify(current ?? {})) {
      try {
        await this.options.batch.patchNamespacedJobStatus({ name, namespace, body: { status: topLevelMergePatch(current, plan.status) } }, mergePatch);
      } catch (error) {
        if (apiStatus(error) === 404) return;
        throw error;
      }
      state.status = plan.status;
    }
    for (const event of plan.events) await recordEvent(this.options.core, { apiVersion: 'batch/v1', kind: 'Job', metadata: job.metadata }, event, 'job-controller');

    if (plan.deleteForTtl) {
      try {
        await this.options.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Foreground', body: { preconditions: { uid } } });
      } catch (error) {
        // Gone already, or a new Job of the same name (the precondition failed): nothing to do.
        if (apiStatus(error) !== 404 && apiStatus(error) !== 409) throw error;
      }
    } else if (plan.recheckAt) {
      this.queue.addAfter(key, plan.recheckAt.getTime() - Date.now());
    }
  }

  private async createPod(job: JobJson): Promise<void> {
    const { name, namespace, uid } = job.metadata;
    const template = job.spec.template;
    const labels = {
      ...template.metadata?.labels,
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    };
    const metadata = {
      generateName: `${name}-`,
      namespace,
      labels,
      ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true }],
    };
    const spec = { ...template.spec, nodeName: 'bloodraven-test-node' };
    let created;
    try {
      created = await this.options.core.createNamespacedPod({ namespace, body: { metadata, spec } });
    } catch (error) {
      await recordEvent(
        this.options.core,
        { apiVersion: 'batch/v1', kind: 'Job', metadata: job.metadata },
        { type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${error instanceof Error ? error.message : String(error)}` },
        'job-controller',
      );
      throw error;
    }
    const podName = created.metadata?.name ?? '';
    const pod: PodJson = { metadata: { ...metadata, name: podName, uid: created.metadata?.uid ?? '' }, spec };
    this.options.kubelet.run(pod, uid);
    await recordEvent(this.options.core, { apiVersion: 'batch/v1', kind: 'Job', metadata: job.metadata }, { type: 'Normal', reason: 'SuccessfulCreate', message: `Created pod: ${podName}` }, 'job-controller');
  }
}
