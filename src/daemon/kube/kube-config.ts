/**
 * Where the daemon's Kubernetes client points: the kubeconfig file named by `KUBECONFIG`, else the
 * in-cluster config (the ServiceAccount token the kubelet mounts), else a clear error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { AppError, ExitCode, errorMessage } from '../../lib/errors.js';

/** The variables this reads; passed in (never read from process.env here) so tests can set them. */
export interface KubeConfigEnv {
  KUBECONFIG?: string | undefined;
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBERNETES_SERVICE_PORT?: string | undefined;
}

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  /** Which source was used, for the start-up log line. */
  source: 'kubeconfig' | 'in-cluster';
  /**
   * The namespace the daemon itself runs in, when known: the in-cluster ServiceAccount's namespace
   * file, or the kubeconfig's current context's namespace. The Lease lives there.
   */
  namespace: string | undefined;
}

/** Where the kubelet mounts a pod's ServiceAccount token, CA and namespace. */
export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Loads the client configuration: `env.KUBECONFIG` (one path; of a colon-separated list the first)
 * when set, else the in-cluster config when `KUBERNETES_SERVICE_HOST`/`_PORT` are set and the token
 * file exists under `serviceAccountDir` (overridable for tests).
 *
 * @throws AppError `KUBE_CONFIG_MISSING` (exit 2) when neither source is usable, naming KUBECONFIG;
 *   `KUBE_CONFIG_INVALID` (exit 2) when the KUBECONFIG file cannot be read or parsed, or names no
 *   current cluster.
 */
export function loadKubeConfig(env: KubeConfigEnv, options: { serviceAccountDir?: string } = {}): LoadedKubeConfig {
  const saDir = options.serviceAccountDir ?? serviceAccountDir;
  const path = env.KUBECONFIG?.split(delimiter).find((p) => p !== '');
  if (path) return fromFile(path);
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(saDir, 'token');
  if (host && port && existsSync(tokenFile)) return inCluster(host, port, saDir);
  const why = host && port ? `KUBERNETES_SERVICE_HOST is set but there is no ServiceAccount token at ${tokenFile}` : 'not running in a cluster (KUBERNETES_SERVICE_HOST is not set)';
  throw new AppError('KUBE_CONFIG_MISSING', `no Kubernetes API to talk to: KUBECONFIG is not set and ${why}`, ExitCode.usage, {
    hint: 'set KUBECONFIG to a kubeconfig file, or run the daemon in a pod whose ServiceAccount token is mounted (automountServiceAccountToken not false)',
  });
}

function fromFile(path: string): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromFile(path);
  } catch (err) {
    throw new AppError('KUBE_CONFIG_INVALID', `cannot load the kubeconfig ${path} (from KUBECONFIG): ${errorMessage(err)}`, ExitCode.usage, {
      cause: err,
      hint: 'point KUBECONFIG at a readable kubeconfig file',
    });
  }
  if (!kubeConfig.getCurrentCluster()) {
    const ctx = kubeConfig.getCurrentContext();
    throw new AppError('KUBE_CONFIG_INVALID', `the kubeconfig ${path} (from KUBECONFIG) has no usable current context${ctx ? ` ("${ctx}" names no known cluster)` : ''}`, ExitCode.usage, {
      hint: 'set current-context in the file, or run: kubectl config use-context NAME',
    });
  }
  const namespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  return { kubeConfig, source: 'kubeconfig', namespace: namespace || undefined };
}

/** The config client-node's loadFromCluster builds, without it reading process.env itself. */
function inCluster(host: string, port: string, saDir: string): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'inCluster', server, caFile: join(saDir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } } }],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
    currentContext: 'inClusterContext',
  });
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(saDir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    // Older or unusual mounts lack it: the caller falls back to its own setting.
  }
  return { kubeConfig, source: 'in-cluster', namespace };
}
