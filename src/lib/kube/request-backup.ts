/**
 * Requesting a backup in Kubernetes mode: one MysqlBackup created through the API server, which
 * the daemon then runs. What a schedule's CronJob runs (`backup request --schedule S`), and what a
 * person may run for an ad-hoc backup; it needs exactly the `create` verb on `mysqlbackups` in the
 * namespace, nothing else (the CronJob's ServiceAccount `mysql-<group>-backup-requester` has that).
 */
import { AppError, ExitCode, errorMessage } from '../errors.js';
import { apiGroup, apiVersion, apiVersionName, backupKind, backupPlural, type MysqlBackup, type MysqlBackupSpecInput } from './resources.js';

/**
 * The one call this needs from client-node's CustomObjectsApi (so a test or another client can
 * stand in): POST `/apis/{group}/{version}/namespaces/{namespace}/{plural}`, resolving to the
 * created object, rejecting with client-node's ApiException (`code` = HTTP status, `body` = the
 * response text) or a network error.
 */
export interface CustomObjectCreator {
  createNamespacedCustomObject(request: { group: string; version: string; namespace: string; plural: string; body: object }): Promise<unknown>;
}

export interface BackupRequestInput {
  namespace: string;
  /** The MysqlFailoverGroup's name. */
  group: string;
  /** The profile of the group's spec.backup.profiles to back up to. */
  profile: string;
  /** The schedule that fired, for scheduled requests; absent for a manual one. */
  schedule?: string | undefined;
}

/** The MysqlBackup as sent: no name yet (the server generates it), no status. */
export interface MysqlBackupManifest extends Omit<MysqlBackup, 'metadata' | 'status'> {
  metadata: { generateName: string; namespace: string; labels: Record<string, string> };
  spec: MysqlBackupSpecInput & { triggeredBy: 'manual' | 'schedule' };
}

/** The created MysqlBackup, as the API server answered: its name is the one the server generated. */
export type CreatedMysqlBackup = MysqlBackup & { metadata: { name: string } };

/**
 * The MysqlBackup to create: generateName `<group>-<schedule or "manual">-` (the server appends
 * 5 characters), the labels every object of bloodraven carries (managed-by, group, profile, and
 * schedule when there is one), and the spec the daemon reads. Names must be DNS labels (the
 * command checks them), so the generated name and the label values are valid.
 */
export function mysqlBackupManifest(input: BackupRequestInput): MysqlBackupManifest {
  const scheduled = input.schedule !== undefined;
  return {
    apiVersion,
    kind: backupKind,
    metadata: {
      generateName: `${input.group}-${input.schedule ?? 'manual'}-`,
      namespace: input.namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'bloodraven',
        'shipstream.io/group': input.group,
        'shipstream.io/profile': input.profile,
        ...(scheduled ? { 'shipstream.io/schedule': input.schedule } : {}),
      },
    },
    spec: { failoverGroupRef: { name: input.group }, profileName: input.profile, triggeredBy: scheduled ? 'schedule' : 'manual' },
  };
}

/** How long the API server may take to answer before the request counts as failed. */
export const requestTimeoutMs = 30_000;

/**
 * Creates the MysqlBackup for `input` and returns it as created. Each failure is an AppError
 * saying what to do (exit 1): KUBE_API_UNREACHABLE (no answer from `server`, or none within
 * timeoutMs), KUBE_UNAUTHORIZED (401), KUBE_FORBIDDEN (403: the permission missing is `create`
 * on mysqlbackups in the namespace), KUBE_NAMESPACE_NOT_FOUND and KUBE_CRD_MISSING (404, told
 * apart by the Status the server sends), KUBE_INVALID (422), KUBE_API_ERROR (any other status;
 * retryable for 429 and 5xx).
 *
 * @param server the API server's URL, for messages
 */
export async function requestBackup(api: CustomObjectCreator, input: BackupRequestInput, options: { server: string; timeoutMs?: number }): Promise<CreatedMysqlBackup> {
  return (await createRequested(api, backupRequested, input, mysqlBackupManifest(input), options)) as CreatedMysqlBackup;
}

/**
 * POSTs `body`, a `what` in `input.namespace`, within the timeout, and returns the created object
 * (it has a name); failures as requestBackup says (explainApiFailure).
 */
export async function createRequested(api: CustomObjectCreator, what: RequestedKind, input: BackupRequestInput, body: object, options: { server: string; timeoutMs?: number }): Promise<{ metadata: { name: string } }> {
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = options.timeoutMs ?? requestTimeoutMs;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('KUBE_API_UNREACHABLE', `the Kubernetes API server at ${options.server} did not answer within ${timeoutMs / 1000} s`, ExitCode.failure, { retryable: true })), timeoutMs);
    timer.unref();
  });
  let created: unknown;
  try {
    created = await Promise.race([api.createNamespacedCustomObject({ group: apiGroup, version: apiVersionName, namespace: input.namespace, plural: what.plural, body }), timeout]);
  } catch (err) {
    throw explainApiFailure(err, input, options.server, what);
  } finally {
    clearTimeout(timer);
  }
  const metadata = (created as { metadata?: { name?: unknown } } | null)?.metadata;
  if (typeof metadata?.name !== 'string') {
    throw new AppError('KUBE_API_ERROR', `the Kubernetes API server at ${options.server} answered the creation of a ${what.kind} without a name: ${JSON.stringify(created).slice(0, 200)}`);
  }
  return created as { metadata: { name: string } };
}

/** The Status object of a failed API call, when its body is one. */
interface ApiStatus {
  message?: string;
  reason?: string;
  details?: { name?: string; kind?: string; group?: string };
}

function statusOf(body: unknown): ApiStatus {
  if (typeof body === 'object' && body !== null) return body;
  if (typeof body !== 'string') return {};
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return { message: body.slice(0, 300) };
  }
}

/** The custom resource a request creates: a MysqlBackup, or (verify request) a MysqlBackupVerification. */
export interface RequestedKind {
  kind: string;
  plural: string;
}

const backupRequested: RequestedKind = { kind: backupKind, plural: backupPlural };

/** An API failure as the AppError a person can act on (see requestBackup); `what` is the kind being created. */
export function explainApiFailure(err: unknown, input: BackupRequestInput, server: string, what: RequestedKind = backupRequested): AppError {
  if (err instanceof AppError) return err;
  const status = typeof (err as { code?: unknown } | null)?.code === 'number' && 'body' in (err as object) ? (err as { code: number }).code : null;
  const resource = `${what.plural}.${apiGroup}`;
  if (status === null) {
    // fetch's own failure ("fetch failed") carries the reason in its cause (ECONNREFUSED, ENOTFOUND, a TLS error).
    const cause = (err as { cause?: unknown } | null)?.cause;
    const reason = cause instanceof Error ? cause.message : errorMessage(err);
    return new AppError('KUBE_API_UNREACHABLE', `cannot reach the Kubernetes API server at ${server}: ${reason}`, ExitCode.failure, {
      cause: err,
      retryable: true,
      hint: 'check KUBECONFIG (its current context\'s server), or, inside a cluster, that the pod can reach the API server',
    });
  }
  const said = statusOf((err as { body?: unknown }).body);
  const detail = said.message ? ` (the server said: ${said.message})` : '';
  const options = { cause: err };
  switch (status) {
    case 401:
      return new AppError('KUBE_UNAUTHORIZED', `the Kubernetes API server at ${server} did not accept the credentials (401)${detail}`, ExitCode.failure, {
        ...options,
        hint: 'renew the token or certificate of the kubeconfig user, or the ServiceAccount token',
      });
    case 403:
      return new AppError('KUBE_FORBIDDEN', `not allowed to create ${resource} in namespace ${input.namespace} (403)${detail}`, ExitCode.failure, {
        ...options,
        hint: `grant the verb create on ${what.plural} (API group ${apiGroup}) in namespace ${input.namespace} to the user or ServiceAccount (for a schedule: mysql-${input.group}-backup-requester)`,
      });
    case 404:
      if (said.details?.kind === 'namespaces') {
        return new AppError('KUBE_NAMESPACE_NOT_FOUND', `namespace ${input.namespace} does not exist (404)${detail}`, ExitCode.failure, { ...options, hint: 'check --namespace' });
      }
      return new AppError('KUBE_CRD_MISSING', `the API server at ${server} does not serve ${resource}/${apiVersionName} (404)${detail}`, ExitCode.failure, {
        ...options,
        hint: "install bloodraven's CRDs: kubectl apply -f crds/ (or kubectl apply -k deploy/)",
      });
    case 422:
      return new AppError('KUBE_INVALID', `the API server refused the ${what.kind} as invalid (422)${detail}`, ExitCode.failure, {
        ...options,
        hint: "check --group, --profile and --schedule, and that the CRDs installed match this bloodraven's version",
      });
    default:
      return new AppError('KUBE_API_ERROR', `creating a ${what.kind} in namespace ${input.namespace} failed with HTTP ${status}${detail}`, ExitCode.failure, {
        ...options,
        retryable: status === 429 || status >= 500,
        hint: status === 429 || status >= 500 ? 'the API server is busy or failing: try again' : 'see the server\'s message above',
      });
  }
}
