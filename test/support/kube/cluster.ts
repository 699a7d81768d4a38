/**
 * A whole test cluster in this process: the fake API server (api-server.ts), the Job runner
 * standing in for the node and the Job and CronJob controllers (job-runner.ts), a kubeconfig
 * file for KUBECONFIG, and `kubectl` run against it with a HOME of its own (so its discovery
 * cache never mixes clusters). `stop()` ends everything and removes its folders.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type TestApiServer } from './api-server.js';
import { startJobRunner, type JobRunner } from './job-runner.js';
import { createTestClock, type Clock, type TestClock } from './test-clock.js';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface TestCluster<C extends Clock = TestClock> {
  api: TestApiServer;
  runner: JobRunner;
  /** The CronJob controller's clock. */
  clock: C;
  /** A kubeconfig file for this cluster (KUBECONFIG for the daemon, kubectl, pods with API access). */
  kubeconfigPath: string;
  /** A client-node KubeConfig for this cluster. */
  kubeConfig(): KubeConfig;
  /** `kubectl ...args` against this cluster; `input` goes to its stdin, `env` adds to its env. */
  kubectl(args: readonly string[], options?: { input?: string; env?: Record<string, string> }): Promise<KubectlResult>;
  /** Stops the runner (and every pod's process), then the API server, and removes the cluster's folders. */
  stop(): Promise<void>;
}

export interface TestClusterOptions<C extends Clock> {
  /** Default: a test clock standing at the real now. */
  clock?: C;
  /** API server port (default: a free one). */
  port?: number;
  /** Write the kubeconfig here instead of inside the cluster's temporary folder. */
  kubeconfigPath?: string;
  /** Passed to the runner (see JobRunnerOptions). */
  repoRoot?: string;
  backoffMs?: number;
  graceMs?: number;
}

/** The kubectl on the machine image (1.32). */
export const kubectlBinary = '/usr/bin/kubectl';

/** Starts the API server and the Job runner; `stop()` the result when done. */
export async function startTestCluster<C extends Clock = TestClock>(options: TestClusterOptions<C> = {}): Promise<TestCluster<C>> {
  const dir = await mkdtemp(join(tmpdir(), 'bloodraven-cluster-'));
  const clock = options.clock ?? (createTestClock() as unknown as C);
  let api: TestApiServer | undefined;
  let runner: JobRunner | undefined;
  try {
    api = await startApiServer(options.port === undefined ? {} : { port: options.port });
    const kubeconfigPath = options.kubeconfigPath ?? join(dir, 'kubeconfig.yaml');
    await api.writeKubeconfig(kubeconfigPath);
    runner = await startJobRunner({
      kubeConfig: api.kubeConfig(),
      workDir: join(dir, 'node'),
      clock,
      podKubeconfigPath: kubeconfigPath,
      ...(options.repoRoot === undefined ? {} : { repoRoot: options.repoRoot }),
      ...(options.backoffMs === undefined ? {} : { backoffMs: options.backoffMs }),
      ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
    });
    const jobRunner = runner;
    api.setPodLogSource(({ namespace, name, container, follow }) => (follow ? jobRunner.followPodLog(namespace, name, container) : jobRunner.podLog(namespace, name, container)));
    const home = join(dir, 'kubectl-home');
    await mkdir(home, { recursive: true });
    const server = api;
    let stopped = false;
    return {
      api: server,
      runner: jobRunner,
      clock,
      kubeconfigPath,
      kubeConfig: () => server.kubeConfig(),
      kubectl: (args, kubectlOptions = {}) =>
        runKubectl(args, { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfigPath, ...kubectlOptions.env }, kubectlOptions.input),
      async stop() {
        if (stopped) return;
        stopped = true;
        await jobRunner.stop();
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await runner?.stop();
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function runKubectl(args: readonly string[], env: Record<string, string>, input: string | undefined): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlBinary, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
