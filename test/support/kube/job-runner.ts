/**
 * The test cluster's node and controllers: a kubelet that runs each Job's pod as a local
 * process (the `bloodraven` container = this repo's CLI), the Job controller and the CronJob
 * controller on a test clock. It talks to the API server only through @kubernetes/client-node
 * (informers, creates, status patches, deletes), as the real ones do. K8S-TESTING.md §5 is the
 * behaviour it follows; DESIGN.md §6 says why it exists.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  ServerConfiguration,
  createConfiguration,
  makeInformer,
  setHeaderMiddleware,
  type Configuration,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type RequestContext,
} from '@kubernetes/client-node';
import { CronJobController } from './cronjob-controller.js';
import { JobController } from './job-controller.js';
import { apiStatus, mergePatch, type CronJobJson, type JobJson } from './kube-objects.js';
import { Kubelet } from './kubelet.js';
import { claimFolder, type PodLookups } from './pod-config.js';
import type { Clock } from './test-clock.js';

export interface JobRunnerOptions {
  /** How to reach the API server: a KubeConfig, or the path of a kubeconfig file. */
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  /** Where pods' folders and PVC folders go (the caller creates and removes it). */
  workDir: string;
  /** The CronJob controller's clock. Jobs and pods keep real time. */
  clock: Clock;
  /** The repository whose `bin/run.js` is `bloodraven` (default: this one; it must be built). */
  repoRoot?: string;
  /** First delay before a failed Job's next pod, doubling per failure up to 32× (real: 10 s). Default 500 ms. */
  backoffMs?: number;
  /**
   * The kubeconfig pods with API access start from (default: the runner's own). Each such pod
   * gets a copy whose user carries its ServiceAccount's token, `system:serviceaccount:<ns>:<name>`
   * (what the test API server takes as that identity), and whose namespace is the pod's.
   */
  podKubeconfigPath?: string;
  /** SIGTERM → SIGKILL delay when a pod is stopped (real: 30 s). Default 2000 ms. */
  graceMs?: number;
  /** How often (real time) CronJobs are checked against the clock. Default 150 ms. */
  cronIntervalMs?: number;
  /** Env every pod process gets from the host (default: PATH only). */
  hostEnv?: Record<string, string>;
}

export interface JobRunner {
  /** The folder standing for PVC `claimName` in `namespace` (shared by every pod mounting it). */
  pvcPath(namespace: string, claimName: string): string;
  /** The folder of pod `namespace/name` (its volumes, termination-log, working directory). */
  podDir(namespace: string, podName: string): string;
  /** Pod `namespace/name`'s output (stdout and stderr together), if this runner ran it. */
  podLog(namespace: string, podName: string, container?: string): string | undefined;
  /** The same, then what it writes next, until the pod finishes (`kubectl logs -f`). */
  followPodLog(namespace: string, podName: string, container?: string): AsyncIterable<Buffer> | undefined;
  /** Syncs every CronJob now at the clock's time; resolves when the Jobs due are created. */
  checkCronJobs(): Promise<void>;
  /** Stops the controllers and every pod's process, and waits until all have exited. */
  stop(): Promise<void>;
}

const repoRootDefault = join(import.meta.dirname, '..', '..', '..');

/**
 * The User-Agent of every request the runner makes (API calls and watches), so that tests
 * looking at the API server's request log (RBAC checks of the daemon) can leave these out.
 */
export const jobRunnerUserAgent = 'bloodraven-test-job-runner';

/** A KubeConfig whose clients and watches say they are the runner. */
class RunnerKubeConfig extends KubeConfig {
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setHeaderParam('User-Agent', jobRunnerUserAgent);
  }

  /** Like makeApiClient, with the runner's User-Agent instead of client-node's. */
  client<T>(api: new (configuration: Configuration) => T): T {
    const server = this.getCurrentCluster()?.server;
    if (!server) throw new Error('the kubeconfig has no current cluster');
    return new api(
      createConfiguration({
        baseServer: new ServerConfiguration(server, {}),
        authMethods: { default: this },
        middleware: [setHeaderMiddleware('User-Agent', jobRunnerUserAgent)],
      }),
    );
  }
}

/** Starts the runner; resolves once its informers have listed what exists. */
export async function startJobRunner(options: JobRunnerOptions): Promise<JobRunner> {
  const kc = new RunnerKubeConfig();
  if (options.kubeConfig) kc.loadFromString(options.kubeConfig.exportConfig());
  else if (options.kubeconfigPath) kc.loadFromFile(options.kubeconfigPath);
  else throw new Error('startJobRunner needs kubeConfig or kubeconfigPath');
  const core = kc.client(CoreV1Api);
  const batch = kc.client(BatchV1Api);
  const custom = kc.client(CustomObjectsApi);
  const repoRoot = options.repoRoot ?? repoRootDefault;
  const localNode = join(repoRoot, 'node_modules', '.bin', 'node');
  await mkdir(options.workDir, { recursive: true });
  const podBase = new KubeConfig();
  podBase.loadFromString(options.podKubeconfigPath ? await readFile(options.podKubeconfigPath, 'utf8') : kc.exportConfig());
  const backoffMs = options.backoffMs ?? 500;

  const kubelet = new Kubelet({
    core,
    lookups: apiLookups(core),
    workDir: options.workDir,
    launch: {
      claimFolder: (namespace, claim) => claimFolder(options.workDir, namespace, claim),
      repoRoot,
      nodeBinary: existsSync(localNode) ? localNode : process.execPath,
      hostEnv: options.hostEnv ?? { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
      podKubeconfig: (namespace, serviceAccount, dir) => writePodKubeconfig(podBase, namespace, serviceAccount, dir),
    },
    graceMs: options.graceMs ?? 2000,
    retryMs: 200,
    restartBackoffMs: backoffMs,
    onChange: (record) => jobController.podChanged(record),
  });

  const jobList = firstList(() => custom.listClusterCustomObject({ group: 'batch', version: 'v1', plural: 'jobs' }));
  const cronJobList = firstList(() => custom.listClusterCustomObject({ group: 'batch', version: 'v1', plural: 'cronjobs' }));
  const podSelector = 'batch.kubernetes.io/controller-uid';
  const podList = firstList(() => core.listPodForAllNamespaces({ labelSelector: podSelector }));
  const jobs = makeInformer(kc, '/apis/batch/v1/jobs', jobList.list);
  const cronJobs = makeInformer(kc, '/apis/batch/v1/cronjobs', cronJobList.list);
  const pods = makeInformer(kc, '/api/v1/pods', podList.list, podSelector);
  const asJob = (o: KubernetesObject): JobJson => o as unknown as JobJson;
  const cachedJobs = (): JobJson[] => jobs.list().map(asJob);

  const jobController = new JobController({
    core,
    batch,
    kubelet,
    job: (namespace, name) => {
      const job = jobs.get(name, namespace);
      return job ? asJob(job) : undefined;
    },
    backoff: { backoffBaseMs: backoffMs, backoffMaxMs: backoffMs * 32 },
  });
  const listed = async <T>(plural: string): Promise<T[]> => ((await custom.listClusterCustomObject({ group: 'batch', version: 'v1', plural })) as { items: T[] }).items;
  const cron = new CronJobController({
    core,
    batch,
    clock: options.clock,
    cronJobs: async (fresh) => (fresh ? listed<CronJobJson>('cronjobs') : cronJobs.list().map((o) => o as unknown as CronJobJson)),
    jobs: async (fresh) => (fresh ? listed<JobJson>('jobs') : cachedJobs()),
  });
  let stopped = false;
  const checkCron = (): void => void cron.check().catch(() => undefined);
  const ownedByCronJob = (job: JobJson): boolean => job.metadata.ownerReferences?.some((o) => o.kind === 'CronJob') ?? false;

  for (const verb of ['add', 'update'] as const) {
    jobs.on(verb, (o) => {
      jobController.jobChanged(asJob(o));
      if (ownedByCronJob(asJob(o))) checkCron();
    });
  }
  jobs.on('delete', (o) => {
    jobController.jobDeleted(asJob(o));
    if (ownedByCronJob(asJob(o))) checkCron();
  });
  for (const verb of ['add', 'update'] as const) cronJobs.on(verb, checkCron);
  pods.on('update', (o) => {
    if (o.metadata?.deletionTimestamp && o.metadata.uid) kubelet.stopPod(o.metadata.uid);
  });
  pods.on('delete', (o) => {
    if (o.metadata?.uid) kubelet.podDeleted(o.metadata.uid);
  });
  const informers: Informer<KubernetesObject>[] = [jobs, cronJobs, pods];
  for (const informer of informers) {
    // An informer stops on any error but 410: start it again, as a controller's reflector would.
    informer.on('error', () => {
      setTimeout(() => {
        if (!stopped) informer.start().catch(() => undefined);
      }, 500);
    });
  }
  // Ready once each informer has listed: its watch then resumes from that list's
  // resourceVersion, so nothing written meanwhile is missed. (start() resolves only when the
  // watch's response headers arrive, which a server may hold back until the first event.)
  for (const informer of informers) informer.start().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 30_000)));
  const ready = await Promise.race([Promise.all([jobList.listed, cronJobList.listed, podList.listed]), gaveUp]);
  clearTimeout(timer);
  if (ready === 'timeout') {
    stopped = true;
    await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
    throw new Error(`the Job runner could not list Jobs, CronJobs and Pods from ${kc.getCurrentCluster()?.server ?? 'the API server'} within 30 s`);
  }
  const ticker = setInterval(checkCron, options.cronIntervalMs ?? 150);

  return {
    pvcPath: (namespace, claim) => claimFolder(options.workDir, namespace, claim),
    podDir: (namespace, name) => kubelet.podDir(namespace, name),
    podLog: (namespace, name, container) => kubelet.log(namespace, name, container)?.text(),
    followPodLog: (namespace, name, container) => kubelet.log(namespace, name, container)?.follow(),
    checkCronJobs: () => cron.check(true),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(ticker);
      await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
      await jobController.stop();
      await cron.idle();
      await kubelet.stopAll();
      for (const folder of kubelet.readOnlyFolders()) await chmod(folder, 0o755).catch(() => undefined);
    },
  };
}

/** The kubeconfig of a pod running as `serviceAccount` (what its mounted token would give it). */
async function writePodKubeconfig(base: KubeConfig, namespace: string, serviceAccount: string, dir: string): Promise<string> {
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('the pods\' kubeconfig has no current cluster');
  const pod = new KubeConfig();
  pod.loadFromOptions({
    clusters: [cluster],
    users: [{ name: serviceAccount, token: `system:serviceaccount:${namespace}:${serviceAccount}` }],
    contexts: [{ name: 'pod', cluster: cluster.name, user: serviceAccount, namespace }],
    currentContext: 'pod',
  });
  const path = join(dir, 'kubeconfig.json');
  await writeFile(path, pod.exportConfig(), { mode: 0o600 });
  return path;
}

/**
 * An informer's list function (CustomObjectsApi lists are plain JSON, like watch events) and a
 * promise settled by its first successful call.
 */
function firstList(list: () => Promise<unknown>): { list: () => Promise<KubernetesListObject<KubernetesObject>>; listed: Promise<void> } {
  let done: () => void = () => undefined;
  const listed = new Promise<void>((resolve) => (done = resolve));
  return {
    listed,
    list: async () => {
      const result = (await list()) as KubernetesListObject<KubernetesObject>;
      done();
      return result;
    },
  };
}

function decode(data: Record<string, string> | undefined, encoding: 'base64' | 'utf8'): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, encoding)]));
}

async function orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}

/** What pods refer to, read through the API as the kubelet does. */
function apiLookups(core: CoreV1Api): PodLookups {
  return {
    async secret(namespace, name) {
      const secret = await orUndefined(() => core.readNamespacedSecret({ name, namespace }));
      return secret && { ...decode(secret.data, 'base64'), ...decode(secret.stringData, 'utf8') };
    },
    async configMap(namespace, name) {
      const map = await orUndefined(() => core.readNamespacedConfigMap({ name, namespace }));
      return map && { ...decode(map.data, 'utf8'), ...decode(map.binaryData, 'base64') };
    },
    async claimExists(namespace, name) {
      const claim = await orUndefined(() => core.readNamespacedPersistentVolumeClaim({ name, namespace }));
      if (!claim) return false;
      // The volume binder's part: a claim a pod uses is Bound (to its folder here).
      if (claim.status?.phase !== 'Bound') {
        const status = { phase: 'Bound', accessModes: claim.spec?.accessModes, capacity: claim.spec?.resources?.requests };
        await core.patchNamespacedPersistentVolumeClaimStatus({ name, namespace, body: { status } }, mergePatch).catch(() => undefined);
      }
      return true;
    },
    async serviceAccount(namespace, name) {
      const account = await orUndefined(() => core.readNamespacedServiceAccount({ name, namespace }));
      return account ? { automountServiceAccountToken: account.automountServiceAccountToken } : 'missing';
    },
  };
}
