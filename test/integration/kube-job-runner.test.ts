/**
 * The test Job runner against the real fake API server, driven by the real clients
 * (@kubernetes/client-node and kubectl) and running the real CLI: Job and Pod status as the
 * controllers and the kubelet write them, volumes, deadlines, TTL, deletion, CronJobs on the
 * test clock, logs.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiException, BatchV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type V1CronJob, type V1Job, type V1JobSpec, type V1Pod } from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '../support/kube/cluster.js';
import { jobRunnerUserAgent } from '../support/kube/job-runner.js';
import { kubeSchemaProblems } from '../support/kube/validate.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

let cluster: TestCluster;
let core: CoreV1Api;
let batch: BatchV1Api;
const ns = 'default';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeAll(async () => {
  cluster = await startTestCluster({ backoffMs: 200, graceMs: 1000 });
  core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  batch = cluster.kubeConfig().makeApiClient(BatchV1Api);
});

afterAll(async () => {
  await cluster.stop();
});

/** Polls `read` until `done` holds: the runner works asynchronously, as a real cluster does. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value, null, 1)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const conditionOf = (job: V1Job, type: string): string | undefined => job.status?.conditions?.find((c) => c.type === type)?.status;
const finished = (job: V1Job): boolean => conditionOf(job, 'Complete') === 'True' || conditionOf(job, 'Failed') === 'True';
const readJob = (name: string) => (): Promise<V1Job> => batch.readNamespacedJob({ name, namespace: ns });
const podsOf = async (job: string): Promise<V1Pod[]> => (await core.listNamespacedPod({ namespace: ns, labelSelector: `batch.kubernetes.io/job-name=${job}` })).items;
const jobGone = (name: string) => async (): Promise<boolean> => {
  try {
    await batch.readNamespacedJob({ name, namespace: ns });
    return false;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return true;
    throw error;
  }
};

type Container = NonNullable<V1JobSpec['template']['spec']>['containers'][number];

/** A Job whose one container runs `bloodraven ...args`. */
function bloodravenJob(name: string, args: string[], spec: Partial<V1JobSpec> = {}, container: Partial<Container> = {}, podSpec: Partial<NonNullable<V1JobSpec['template']['spec']>> = {}): V1Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      ...spec,
      template: {
        metadata: { labels: { app: 'runner-test' } },
        spec: { restartPolicy: 'Never', ...podSpec, containers: [{ name: 'bloodraven', image: 'bloodraven:test', command: ['bloodraven'], args, ...container }] },
      },
    },
  };
}

/** `bloodraven daemon` runs until stopped (SIGTERM ends it with "daemon stopped" in its log). */
const longRunning = ['daemon', '--listen', '127.0.0.1:0'];

const podLog = (name: string): string => cluster.runner.podLog(ns, name) ?? '';

/** The Job's running pod, once the daemon in it has started (and so handles SIGTERM). */
async function runningDaemon(job: string): Promise<V1Pod> {
  const pods = await until(() => podsOf(job), (p) => p[0]?.status?.phase === 'Running', `a running pod of ${job}`);
  const pod = pods[0] as V1Pod;
  await until(() => Promise.resolve(podLog(pod.metadata?.name ?? '')), (log) => log.includes('daemon started'), `the daemon in ${job} to start`);
  return pod;
}

/** The Job's one pod: named, labelled and owned as the Job controller does, Succeeded, its log served. */
async function expectCompletedPod(job: V1Job): Promise<void> {
  const name = job.metadata?.name ?? '';
  const [pod, ...others] = await podsOf(name);
  expect(others).toEqual([]);
  const metadata = pod?.metadata ?? {};
  expect(metadata.name).toMatch(new RegExp(`^${name}-[a-z0-9]{5}$`));
  expect(metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name, uid: job.metadata?.uid, controller: true })]);
  expect(metadata.labels).toMatchObject({ app: 'runner-test', 'batch.kubernetes.io/controller-uid': job.metadata?.uid, 'job-name': name });
  expect(pod?.status?.phase).toBe('Succeeded');
  expect(pod?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  const log = await core.readNamespacedPodLog({ name: metadata.name ?? '', namespace: ns });
  expect(log).toMatch(/^bloodraven\/0\.1\.0 /);
}

describe('Jobs', () => {
  it('runs `bloodraven --version` to completion with the Job and Pod status the controllers write', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('version', ['--version']) });
    const job = await until(readJob('version'), finished, 'job version to finish');
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.active ?? 0).toBe(0);
    expect(job.status?.failed ?? 0).toBe(0);
    expect(job.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods'],
      ['Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods'],
    ]);
    expect(job.status?.completionTime?.getTime()).toBeGreaterThanOrEqual(job.status?.startTime?.getTime() ?? Infinity);
    await expectCompletedPod(job);
    // The runner's requests say who made them (tests of the daemon's requests leave them out).
    const runners = cluster.api.requests.filter((r) => (r.resource === 'pods' && r.verb === 'create') || (r.resource === 'jobs' && r.verb === 'watch'));
    expect(runners.length).toBeGreaterThan(0);
    expect(new Set(runners.map((r) => r.userAgent))).toEqual(new Set([jobRunnerUserAgent]));
  });

  it('retries a failing command up to backoffLimit, then fails with BackoffLimitExceeded and the termination message', async () => {
    // A credentials folder that does not exist: a configuration error, exit 2.
    const args = ['backup', 'now', '--credentials-dir', '/run/bloodraven/absent'];
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('failing', args, { backoffLimit: 2 }, { terminationMessagePolicy: 'FallbackToLogsOnError' }) });
    const job = await until(readJob('failing'), finished, 'job failing to finish');
    expect(job.status?.failed).toBe(3);
    expect(job.status?.succeeded ?? 0).toBe(0);
    expect(job.status?.completionTime).toBeUndefined();
    expect(job.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['FailureTarget', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
      ['Failed', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
    ]);
    const pods = await podsOf('failing');
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.status?.phase).toBe('Failed');
      const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
      expect(terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
      expect(terminated?.message).toContain('/run/bloodraven/absent/MYSQL_USER does not exist');
    }
  });

  it('mounts Secrets as 0400 files, waits while one is missing, and rewrites mountPaths in env and args', async () => {
    const body = bloodravenJob(
      'secrets',
      // $(CREDS) is expanded from the env, whose value names the mountPath.
      ['backup', 'now', '--credentials-dir', '$(CREDS)', '--host', '127.0.0.1', '--port', '1'],
      { backoffLimit: 0 },
      { env: [{ name: 'CREDS', value: '/run/bloodraven/mysql-creds' }], volumeMounts: [{ name: 'mysql-creds', mountPath: '/run/bloodraven/mysql-creds', readOnly: true }] },
      { volumes: [{ name: 'mysql-creds', secret: { secretName: 'late-creds', defaultMode: 0o400 } }] },
    );
    await batch.createNamespacedJob({ namespace: ns, body });
    const [waiting] = await until(
      () => podsOf('secrets'),
      (p) => p[0]?.status?.containerStatuses?.[0]?.state?.waiting?.message?.includes('late-creds') === true,
      'the pod to wait for its Secret',
    );
    expect(waiting?.status?.phase).toBe('Pending');
    expect(waiting?.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');

    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'late-creds' }, stringData: { MYSQL_USER: 'backup', MYSQL_PASSWORD: 's3cret' } } });
    const job = await until(readJob('secrets'), finished, 'job secrets to finish');
    // It got as far as connecting: the credentials were read from the mounted folder.
    expect(job.status?.failed).toBe(1);
    const pod = (await podsOf('secrets'))[0];
    const podName = pod?.metadata?.name ?? '';
    expect(pod?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(1);
    expect(podLog(podName)).toContain('cannot reach the MySQL server at 127.0.0.1:1');
    const folder = join(cluster.runner.podDir(ns, podName), 'volumes', 'mysql-creds');
    expect(await readFile(join(folder, 'MYSQL_USER'), 'utf8')).toBe('backup');
    expect(await readFile(join(folder, 'MYSQL_PASSWORD'), 'utf8')).toBe('s3cret');
    expect((await stat(join(folder, 'MYSQL_PASSWORD'))).mode & 0o777).toBe(0o400);
  });

  it('gives every pod mounting a claim the same folder', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: 'shared' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    });
    const claimFolder = cluster.runner.pvcPath(ns, 'shared');
    await mkdir(join(claimFolder, 'backups'), { recursive: true });
    for (const name of ['claim-a', 'claim-b']) {
      // With no config, backups go to ./backups: the working directory is the claim's folder.
      const body = bloodravenJob(name, ['backup', 'list'], {}, { workingDir: '/data', volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'shared' } }] });
      await batch.createNamespacedJob({ namespace: ns, body });
    }
    for (const name of ['claim-a', 'claim-b']) {
      const job = await until(readJob(name), finished, `job ${name} to finish`);
      expect((await core.readNamespacedPersistentVolumeClaim({ name: 'shared', namespace: ns })).status?.phase).toBe('Bound');
      expect(job.status?.succeeded, name).toBe(1);
      const pod = (await podsOf(name))[0];
      expect(podLog(pod?.metadata?.name ?? '')).toContain(`No backups in ${join(claimFolder, 'backups')}`);
    }
  });

  it('keeps a pod whose claim is missing Pending, unschedulable', async () => {
    const body = bloodravenJob('no-claim', ['--version'], {}, { volumeMounts: [{ name: 'data', mountPath: '/data' }] }, { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'absent' } }] });
    await batch.createNamespacedJob({ namespace: ns, body });
    const [pod] = await until(
      () => podsOf('no-claim'),
      (p) => p[0]?.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') === true,
      'the pod to be unschedulable',
    );
    expect(pod?.status?.phase).toBe('Pending');
    expect(pod?.status?.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({ reason: 'Unschedulable', message: 'persistentvolumeclaim "absent" not found' });
    expect((await batch.readNamespacedJob({ name: 'no-claim', namespace: ns })).status?.active).toBe(1);
    await batch.deleteNamespacedJob({ name: 'no-claim', namespace: ns, propagationPolicy: 'Background' });
  });

  it('fails a Job past activeDeadlineSeconds: the process is stopped, then DeadlineExceeded', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('deadline', longRunning, { activeDeadlineSeconds: 4 }) });
    await until(() => podsOf('deadline'), (p) => p[0]?.status?.phase === 'Running', 'a running pod of deadline');
    const job = await until(readJob('deadline'), finished, 'job deadline to finish');
    expect(job.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['FailureTarget', 'True', 'DeadlineExceeded', 'Job was active longer than specified deadline'],
      ['Failed', 'True', 'DeadlineExceeded', 'Job was active longer than specified deadline'],
    ]);
    expect(job.status?.active ?? 0).toBe(0);
    expect(job.status?.terminating).toBe(0);
    expect(job.status?.completionTime).toBeUndefined();
    // SIGTERM: the daemon stops cleanly (0), or dies of it (143) if it came before its handler.
    const [pod] = await podsOf('deadline');
    const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
    expect([0, 143]).toContain(terminated?.exitCode);
    expect(terminated?.exitCode === 143 || podLog(pod?.metadata?.name ?? '').includes('SIGTERM received'), 'stopped by SIGTERM').toBe(true);
  });

  it('deletes a finished Job ttlSecondsAfterFinished later, with its pods', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('ttl', ['--version'], { ttlSecondsAfterFinished: 1 }) });
    await until(jobGone('ttl'), (gone) => gone, 'job ttl to be deleted');
    const completed = cluster.api.writes.some(
      (w) => w.kind === 'Job' && w.name === 'ttl' && (w.object as V1Job).status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'),
    );
    expect(completed, 'deleted after it completed').toBe(true);
    await until(() => podsOf('ttl'), (p) => p.length === 0, 'the pods of job ttl to be deleted');
    expect(cluster.api.requests.some((r) => r.verb === 'delete' && r.resource === 'jobs' && r.name === 'ttl')).toBe(true);
  });

  it('stops the process of a running pod when its Job is deleted', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('deleted', longRunning) });
    const pod = await runningDaemon('deleted');
    const name = pod.metadata?.name ?? '';
    expect(podLog(name)).not.toContain('daemon stopped');
    const following = cluster.kubectl(['logs', '--follow', name]);
    const isFollowing = () => cluster.api.requests.some((r) => r.resource === 'pods' && r.subresource === 'log' && r.name === name);
    await until(() => Promise.resolve(isFollowing()), (yes) => yes, 'kubectl logs --follow to connect');
    const deleted = await cluster.kubectl(['delete', 'job', 'deleted']);
    expect(deleted.stderr).toBe('');
    expect(deleted.stdout).toContain('job.batch "deleted" deleted');
    await until(() => Promise.resolve(podLog(name)), (log) => log.includes('daemon stopped'), 'the daemon in the pod to stop');
    expect(podLog(name)).toContain('SIGTERM received');
    // `kubectl logs --follow` saw the output as it came, and ended with the container.
    const followed = await following;
    expect(followed.stdout).toContain('daemon started');
    expect(followed.stdout).toContain('daemon stopped');
  });
});

describe('API access from a pod', () => {
  it('gives a pod whose ServiceAccount may reach the API a kubeconfig acting as that ServiceAccount', async () => {
    const crds = await cluster.kubectl(['apply', '-f', join(import.meta.dirname, '..', '..', 'crds', 'mysqlbackups.shipstream.io.yaml')]);
    expect(crds.code, crds.stderr).toBe(0);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'requester' } } });
    const args = ['backup', 'request', '--namespace', ns, '--group', 'orders', '--profile', 'local', '--schedule', 'nightly'];
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('request', args, {}, {}, { serviceAccountName: 'requester' }) });
    const job = await until(readJob('request'), finished, 'job request to finish');
    const pod = (await podsOf('request'))[0]?.metadata?.name ?? '';
    expect(job.status?.succeeded, podLog(pod)).toBe(1);
    const created = cluster.api.writes.filter((w) => w.kind === 'MysqlBackup' && w.verb === 'create');
    expect(created).toHaveLength(1);
    expect(created[0]?.user).toBe(`system:serviceaccount:${ns}:requester`);
  });
});

describe('kubectl', () => {
  it('waits for a Job to complete and shows its logs', async () => {
    await batch.createNamespacedJob({ namespace: ns, body: bloodravenJob('help', ['backup', '--help']) });
    const wait = await cluster.kubectl(['wait', '--for=condition=complete', 'job/help', '--timeout=60s']);
    expect(wait).toMatchObject({ code: 0, stdout: 'job.batch/help condition met\n' });
    const logs = await cluster.kubectl(['logs', 'job/help']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('backup now');
    const pod = (await podsOf('help'))[0]?.metadata?.name ?? '';
    const podLogs = await cluster.kubectl(['logs', pod]);
    expect(podLogs.stdout).toBe(logs.stdout);
  });
});

describe('CronJobs on the test clock', () => {
  function cronJob(name: string, schedule: string, spec: Partial<V1CronJob['spec']> & { args?: string[] } = {}): V1CronJob {
    const { args = ['--version'], ...rest } = spec;
    const template = bloodravenJob(name, args).spec as V1JobSpec;
    return {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name },
      spec: { schedule, ...rest, jobTemplate: { metadata: { labels: { 'shipstream.io/schedule': name }, annotations: { note: 'from-template' } }, spec: template } },
    };
  }
  const childJobs = async (cronJobName: string): Promise<V1Job[]> =>
    (await batch.listNamespacedJob({ namespace: ns })).items
      .filter((j) => j.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && o.name === cronJobName))
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const minutes = (iso: string): number => Date.parse(iso) / 60_000;

  it('fires in its time zone, across a DST change, and only the most recent missed time', async () => {
    // Created now (2026); the clock jumps months ahead: only the latest missed 09:00 fires.
    await batch.createNamespacedCronJob({ namespace: ns, body: cronJob('ny', '0 9 * * *', { timeZone: 'America/New_York' }) });
    cluster.clock.set('2027-03-13T13:59:00Z');
    await cluster.runner.checkCronJobs();
    let jobs = await childJobs('ny');
    expect(jobs.map((j) => j.metadata?.name)).toEqual([`ny-${minutes('2027-03-12T14:00:00Z')}`]);
    const first = jobs[0];
    expect(first?.metadata?.annotations).toMatchObject({ note: 'from-template', 'batch.kubernetes.io/cronjob-scheduled-timestamp': '2027-03-12T09:00:00-05:00' });
    expect(first?.metadata?.labels).toMatchObject({ 'shipstream.io/schedule': 'ny' });
    expect(first?.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', name: 'ny', controller: true });

    cluster.clock.set('2027-03-13T14:00:00Z'); // 09:00 EST
    await cluster.runner.checkCronJobs();
    cluster.clock.set('2027-03-14T12:59:59Z'); // 08:59:59 EDT, the DST day: not yet
    await cluster.runner.checkCronJobs();
    expect((await childJobs('ny')).map((j) => j.metadata?.name)).toEqual([`ny-${minutes('2027-03-12T14:00:00Z')}`, `ny-${minutes('2027-03-13T14:00:00Z')}`]);
    cluster.clock.set('2027-03-14T13:00:00Z'); // 09:00 EDT, an hour earlier in UTC than the day before
    await cluster.runner.checkCronJobs();
    jobs = await childJobs('ny');
    expect(jobs.map((j) => j.metadata?.name)).toHaveLength(3);
    expect(jobs.at(-1)?.metadata?.name).toBe(`ny-${minutes('2027-03-14T13:00:00Z')}`);
    expect(jobs.at(-1)?.metadata?.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe('2027-03-14T09:00:00-04:00');
    cluster.clock.set('2027-03-15T13:00:00Z');
    await cluster.runner.checkCronJobs();

    await until(() => childJobs('ny'), (js) => js.every(finished), 'the ny Jobs to finish');
    await cluster.runner.checkCronJobs();
    const status = (await batch.readNamespacedCronJob({ name: 'ny', namespace: ns })).status;
    expect(status?.lastScheduleTime?.toISOString()).toBe('2027-03-15T13:00:00.000Z');
    expect(status?.active ?? []).toEqual([]);
    expect(status?.lastSuccessfulTime).toBeInstanceOf(Date);
    // successfulJobsHistoryLimit 3 (the default): the oldest of the four is deleted.
    await until(() => childJobs('ny'), (js) => js.length === 3, 'the oldest ny Job to be deleted');
    await batch.deleteNamespacedCronJob({ name: 'ny', namespace: ns, propagationPolicy: 'Background' });
  });

  it('Forbid skips a due time while its Job runs; Replace deletes the running Job and starts the new one', async () => {
    cluster.clock.set('2027-06-01T00:00:00Z');
    for (const policy of ['Forbid', 'Replace'] as const) {
      await batch.createNamespacedCronJob({ namespace: ns, body: cronJob(policy.toLowerCase(), '*/5 * * * *', { concurrencyPolicy: policy, args: longRunning }) });
    }
    await cluster.runner.checkCronJobs();
    const [forbidFirst] = await childJobs('forbid');
    const [replaceFirst] = await childJobs('replace');
    expect(forbidFirst?.metadata?.name).toBe(`forbid-${minutes('2027-06-01T00:00:00Z')}`);
    expect(replaceFirst?.metadata?.name).toBe(`replace-${minutes('2027-06-01T00:00:00Z')}`);
    const replacedPod = await runningDaemon(replaceFirst?.metadata?.name ?? '');
    await runningDaemon(forbidFirst?.metadata?.name ?? '');

    cluster.clock.advance(5 * 60_000);
    await cluster.runner.checkCronJobs();
    expect((await childJobs('forbid')).map((j) => j.metadata?.name)).toEqual([forbidFirst?.metadata?.name]);
    const forbid = (await batch.readNamespacedCronJob({ name: 'forbid', namespace: ns })).status;
    expect(forbid?.active?.map((a) => a.name)).toEqual([forbidFirst?.metadata?.name]);
    expect(forbid?.lastScheduleTime?.toISOString()).toBe('2027-06-01T00:00:00.000Z');
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=forbid' });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['SuccessfulCreate', 'JobAlreadyActive']));

    const replaced = `replace-${minutes('2027-06-01T00:05:00Z')}`;
    await until(() => childJobs('replace'), (js) => js.map((j) => j.metadata?.name).join() === replaced, 'the first replace Job to be replaced');
    const replace = (await batch.readNamespacedCronJob({ name: 'replace', namespace: ns })).status;
    expect(replace?.active?.map((a) => a.name)).toEqual([replaced]);
    expect(replace?.lastScheduleTime?.toISOString()).toBe('2027-06-01T00:05:00.000Z');
    await until(() => Promise.resolve(podLog(replacedPod.metadata?.name ?? '')), (log) => log.includes('daemon stopped'), 'the replaced Job\'s daemon to stop');

    for (const name of ['forbid', 'replace']) await batch.deleteNamespacedCronJob({ name, namespace: ns, propagationPolicy: 'Background' });
  });

  it('starts nothing while suspended or past startingDeadlineSeconds', async () => {
    cluster.clock.set('2027-07-01T00:00:30Z');
    await batch.createNamespacedCronJob({ namespace: ns, body: cronJob('late', '0 * * * *', { startingDeadlineSeconds: 10 }) });
    await batch.createNamespacedCronJob({ namespace: ns, body: cronJob('paused', '0 * * * *', { suspend: true }) });
    await cluster.runner.checkCronJobs();
    // 00:00 is 30 s ago, beyond the 10 s allowed; 'paused' is suspended.
    expect(await childJobs('late')).toEqual([]);
    expect(await childJobs('paused')).toEqual([]);

    cluster.clock.set('2027-07-01T01:00:05Z');
    await batch.patchNamespacedCronJob({ name: 'paused', namespace: ns, body: { spec: { suspend: false } } }, mergePatch);
    await until(
      async () => {
        await cluster.runner.checkCronJobs();
        return (await childJobs('paused')).map((j) => j.metadata?.name);
      },
      (names) => names.length > 0,
      'the resumed CronJob to start its Job',
    );
    expect((await childJobs('late')).map((j) => j.metadata?.name)).toEqual([`late-${minutes('2027-07-01T01:00:00Z')}`]);
    expect((await childJobs('paused')).map((j) => j.metadata?.name)).toEqual([`paused-${minutes('2027-07-01T01:00:00Z')}`]);
    for (const name of ['late', 'paused']) await batch.deleteNamespacedCronJob({ name, namespace: ns, propagationPolicy: 'Background' });
  });
});

describe('init containers, emptyDir and read-only claims', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    await sql(server, 'CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1), (2)');
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** A bloodraven.yaml for the pod: the test server, backups in `storagePath` (a container path). */
  const configEnv = (storagePath: string) => [
    {
      name: 'BLOODRAVEN_CONFIG_YAML',
      value: `name: shop\nmysql: { host: 127.0.0.1, port: ${server.port}, user: root }\nbackup:\n  profiles:\n    - name: p\n      storage: { type: PVC, pvc: { path: ${storagePath} } }\n      dump: { threads: 1, includeSchemas: [shop] }\n`,
    },
  ];

  it('runs init containers in order, each to completion, before the container, sharing an emptyDir; their statuses and logs are kept', async () => {
    const mount = [{ name: 'scratch', mountPath: '/shared' }];
    const body = bloodravenJob(
      'with-inits',
      ['backup', 'list'],
      { backoffLimit: 0 },
      { env: configEnv('/shared/backups'), volumeMounts: mount },
      {
        volumes: [{ name: 'scratch', emptyDir: {} }],
        initContainers: [
          { name: 'first', image: 'bloodraven:test', command: ['bloodraven'], args: ['--version'] },
          // Writes a backup into the emptyDir, which the container then lists.
          { name: 'second', image: 'bloodraven:test', command: ['bloodraven'], args: ['backup', 'now'], env: configEnv('/shared/backups'), volumeMounts: mount },
        ],
      },
    );
    await batch.createNamespacedJob({ namespace: ns, body });
    const job = await until(readJob('with-inits'), finished, 'job with-inits to finish', 120_000);
    expect(job.status?.succeeded).toBe(1);
    const pod = (await podsOf('with-inits'))[0]!;
    const name = pod.metadata?.name ?? '';
    const inits = pod.status?.initContainerStatuses ?? [];
    expect(inits.map((i) => [i.name, i.state?.terminated?.exitCode, i.state?.terminated?.reason])).toEqual([
      ['first', 0, 'Completed'],
      ['second', 0, 'Completed'],
    ]);
    // In order: the second started after the first ended, the container after the second.
    expect(inits[1]!.state!.terminated!.startedAt!.getTime()).toBeGreaterThanOrEqual(inits[0]!.state!.terminated!.finishedAt!.getTime());
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.startedAt?.getTime()).toBeGreaterThanOrEqual(inits[1]!.state!.terminated!.finishedAt!.getTime());
    expect(pod.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
    const backupLine = /Backup (shop-p-\d{8}-\d{6}) succeeded/.exec(cluster.runner.podLog(ns, name, 'second') ?? '');
    expect(backupLine, cluster.runner.podLog(ns, name, 'second')).not.toBeNull();
    expect(podLog(name)).toContain(backupLine![1]);
    const first = await cluster.kubectl(['logs', 'job/with-inits', '-c', 'first']);
    expect(first.stdout).toMatch(/^bloodraven\/0\.1\.0 /);
    const main = await cluster.kubectl(['logs', 'job/with-inits']);
    expect(main.stdout).toContain(backupLine![1]);
  });

  it('fails the pod when an init container fails: Init:Error, the container never started, the init log and exit code visible', async () => {
    const body = bloodravenJob(
      'init-fails',
      ['--version'],
      { backoffLimit: 0 },
      {},
      { initContainers: [{ name: 'pitr-download', image: 'bloodraven:test', command: ['bloodraven'], args: ['backup', 'now', '--credentials-dir', '/run/bloodraven/absent'] }] },
    );
    await batch.createNamespacedJob({ namespace: ns, body });
    const job = await until(readJob('init-fails'), finished, 'job init-fails to finish');
    expect(conditionOf(job, 'Failed')).toBe('True');
    const pod = (await podsOf('init-fails'))[0]!;
    expect(pod.status?.phase).toBe('Failed');
    expect(pod.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(podLog(pod.metadata?.name ?? '')).toBe('');
    const logs = await cluster.kubectl(['logs', 'job/init-fails', '-c', 'pitr-download']);
    expect(logs.stdout).toContain('/run/bloodraven/absent/MYSQL_USER does not exist');
    const get = await cluster.kubectl(['get', 'pods', '-l', 'job-name=init-fails']);
    expect(get.stdout).toMatch(/Init:Error/);
  });

  it('mounts a claim read-only when the volume or the mount says so: nothing in the pod can write it, while the claim stays writable for others', async () => {
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: { metadata: { name: 'read-only-source' }, spec: { accessModes: ['ReadOnlyMany'], resources: { requests: { storage: '1Gi' } } } },
    });
    const claimFolder = cluster.runner.pvcPath(ns, 'read-only-source');
    await mkdir(join(claimFolder, 'backups'), { recursive: true });
    const body = bloodravenJob(
      'ro-claim',
      ['backup', 'now'],
      { backoffLimit: 0 },
      { env: configEnv('/source/backups'), volumeMounts: [{ name: 'source', mountPath: '/source', readOnly: true }] },
      { volumes: [{ name: 'source', persistentVolumeClaim: { claimName: 'read-only-source', readOnly: true } }] },
    );
    await batch.createNamespacedJob({ namespace: ns, body });
    const job = await until(readJob('ro-claim'), finished, 'job ro-claim to finish', 120_000);
    expect(conditionOf(job, 'Failed')).toBe('True');
    const pod = (await podsOf('ro-claim'))[0]!;
    expect(podLog(pod.metadata?.name ?? '')).toMatch(/read-only/i);
    expect(await readdir(join(claimFolder, 'backups'))).toEqual([]);
    // The claim's own folder is not made read-only: another pod (or the test) still writes it.
    await writeFile(join(claimFolder, 'backups', 'probe'), 'x');
    // And the pod's mount is gone with the pod.
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(join(cluster.runner.podDir(ns, pod.metadata?.name ?? ''), 'volumes', 'source'));
  });
});

describe('what the runner wrote', () => {
  it('is valid for its kind (Kubernetes schemas)', () => {
    const written = cluster.api.writes.filter((w) => w.userAgent === jobRunnerUserAgent);
    expect(new Set(written.map((w) => `${w.kind}${w.subresource ? `/${w.subresource}` : ''}`))).toEqual(
      new Set(['Pod', 'Pod/status', 'Job/status', 'Job', 'CronJob/status', 'Event', 'PersistentVolumeClaim/status']),
    );
    for (const write of written) expect(kubeSchemaProblems(write.object), `${write.kind} ${write.name}`).toEqual([]);
  });
});

describe('a pod process', () => {
  /** Processes whose environment holds HOSTNAME=<pod>: the pod's container, found from outside. */
  async function processesOf(pod: string): Promise<Map<number, string[]>> {
    const found = new Map<number, string[]>();
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const environ = await readFile(`/proc/${entry}/environ`, 'utf8').catch(() => '');
      const vars = environ.split('\0').filter(Boolean);
      if (vars.includes(`HOSTNAME=${pod}`)) found.set(Number(entry), vars);
    }
    return found;
  }

  it('gets only the container env, with mountPaths rewritten, and is gone after stop()', async () => {
    const own = await startTestCluster();
    try {
      const api = own.kubeConfig().makeApiClient(BatchV1Api);
      const body = bloodravenJob(
        'env',
        longRunning,
        {},
        { env: [{ name: 'BLOODRAVEN_CONFIG_YAML', value: 'storage:\n  path: "/backups"\n' }], volumeMounts: [{ name: 'data', mountPath: '/backups' }] },
        { volumes: [{ name: 'data', emptyDir: {} }], automountServiceAccountToken: false },
      );
      await api.createNamespacedJob({ namespace: ns, body });
      const coreApi = own.kubeConfig().makeApiClient(CoreV1Api);
      const [pod] = await until(
        async () => (await coreApi.listNamespacedPod({ namespace: ns, labelSelector: 'job-name=env' })).items,
        (p) => p[0]?.status?.phase === 'Running',
        'the env pod to run',
      );
      const name = pod?.metadata?.name ?? '';
      const processes = await until(() => processesOf(name), (found) => found.size > 0, 'the pod process');
      const env = [...processes.values()][0] ?? [];
      const volume = join(own.runner.podDir(ns, name), 'volumes', 'data');
      expect(env.map((v) => v.split('=')[0]).sort()).toEqual(['BLOODRAVEN_CONFIG_YAML', 'HOME', 'HOSTNAME', 'PATH']);
      expect(env).toContain(`BLOODRAVEN_CONFIG_YAML=storage:\n  path: "${volume}"\n`);
      await own.stop();
      expect((await processesOf(name)).size, 'processes left after stop()').toBe(0);
    } finally {
      await own.stop();
    }
  });
});

