/**
 * The test Job runner against the real fake API server, driven by the real clients
 * (@kubernetes/client-node and kubectl) and running the real CLI: Job and Pod status as the
 * controllers and the kubelet write them, volumes, deadlines, TTL, deletion, CronJobs on the
 * test clock, logs.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchV1Api, CoreV1Api, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';

let cluster: TestCluster;
let core: CoreV1Api;
let batch: BatchV1Api;

beforeAll(async () => {
  cluster = await startTestCluster({ backoffMs: 200, graceMs: 1000 });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  batch = cluster.kubeConfig().makeApiClient(BatchV1Api);
});

afterAll(async () => {
  await cluster.stop();
});

/** Polls `read` until `done` holds (the runner works asynchronously, as a real cluster does). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value, null, 1)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const condition = (job: V1Job, type: string): string | undefined => job.status?.conditions?.find((c) => c.type === type)?.status;
const finished = (job: V1Job): boolean => condition(job, 'Complete') === 'True' || condition(job, 'Failed') === 'True';

function jobSpec(name: string, args: string[], extra: { backoffLimit?: number; activeDeadlineSeconds?: number; ttlSecondsAfterFinished?: number } = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      ...extra,
      template: { spec: { restartPolicy: 'Never', containers: [{ name: 'bloodraven', image: 'bloodraven:test', command: ['bloodraven'], args }] } },
    },
  };
}

async function podsOf(namespace: string, job: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/job-name=${job}` })).items;
}

describe('Jobs', () => {
  it('runs `bloodraven --version` to completion with the Job and Pod status the controllers write', async () => {
    await batch.createNamespacedJob({ namespace: 'default', body: jobSpec('version', ['--version']) });
    const job = await until(() => batch.readNamespacedJob({ name: 'version', namespace: 'default' }), finished, 'job version to finish');
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.active ?? 0).toBe(0);
    expect(job.status?.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['SuccessCriteriaMet', 'True', 'CompletionsReached'],
      ['Complete', 'True', 'CompletionsReached'],
    ]);
    expect(job.status?.completionTime?.getTime()).toBeGreaterThanOrEqual(job.status?.startTime?.getTime() ?? Infinity);
    const [pod, ...others] = await podsOf('default', 'version');
    expect(others).toEqual([]);
    expect(pod?.metadata?.name).toMatch(/^version-[a-z0-9]{5}$/);
    expect(pod?.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: 'version', uid: job.metadata?.uid, controller: true })]);
    expect(pod?.metadata?.labels?.['batch.kubernetes.io/controller-uid']).toBe(job.metadata?.uid);
    expect(pod?.status?.phase).toBe('Succeeded');
    const state = pod?.status?.containerStatuses?.[0]?.state?.terminated;
    expect(state).toMatchObject({ exitCode: 0, reason: 'Completed' });
    const log = await core.readNamespacedPodLog({ name: pod?.metadata?.name ?? '', namespace: 'default' });
    expect(log).toMatch(/^bloodraven\/0\.1\.0 /);
  });
});
