/**
 * Where the daemon's Kubernetes client points: the kubeconfig file named by `KUBECONFIG`, else the
 * in-cluster config (the ServiceAccount token the kubelet mounts), else a clear error.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { AppError } from '../../lib/errors.js';

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
 * Loads the client configuration: `env.KUBECONFIG` (one path; a colon-separated list uses its
 * first entry) when set, else the in-cluster config when `KUBERNETES_SERVICE_HOST`/`_PORT` are set
 * and the token file exists under `serviceAccountDir` (overridable for tests).
 *
 * @throws AppError `KUBE_CONFIG_MISSING` (exit 2) when neither source is usable, naming KUBECONFIG;
 *   `KUBE_CONFIG_INVALID` when the KUBECONFIG file cannot be read or parsed, or has no current
 *   cluster.
 */
export function loadKubeConfig(env: KubeConfigEnv, options: { serviceAccountDir?: string } = {}): LoadedKubeConfig {
  void env;
  void options;
  void KubeConfig;
  throw new AppError('INTERNAL', 'not yet');
}
