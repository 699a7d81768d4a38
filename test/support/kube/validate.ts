/**
 * Checks tests run on objects the daemon writes, without a server:
 * - {@link kubeSchemaProblems}: the schema check the kube-apiserver would make — kubernetes-models'
 *   published schemas (plus the server's kind rules and unknown-field detection) for built-in
 *   kinds, the CRD's structural schema (ajv) for custom resources;
 * - {@link restrictedPodSecurityProblems}: the `restricted` Pod Security Standard
 *   (kubernetes.io/docs/concepts/security/pod-security-standards, which includes `baseline`),
 *   rule by rule, as Pod Security Admission enforces it on a namespace labelled
 *   `pod-security.kubernetes.io/enforce: restricted`.
 * Both return one line per problem (`<field path>: <what is wrong>`), [] when clean.
 */
import { kindCauses } from './kinds.js';
import { resourcesFromCrd, splitApiVersion, type CrdObject } from './resources.js';
import { builtInCauses, customResourceCauses, decodeBuiltIn, defaultCustomResource, isKnownBuiltIn, pruneCustomResource } from './schema.js';
import type { StatusCause } from './status.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function lines(causes: readonly StatusCause[]): string[] {
  return causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
}

/**
 * Schema problems of an object as a client would send it (`apiVersion`, `kind`, …).
 * Built-in kinds (those the test API server serves) use kubernetes-models' validators, the
 * server's kind rules (Job restart policy, CronJob time zones, events.k8s.io required fields) and
 * flag unknown fields and malformed times; custom resources use the matching CRD among `crds`
 * (apiextensions.k8s.io/v1 objects, e.g. parsed from crds/*.yaml), flagging fields the server
 * would prune. A kind neither knows is itself a problem.
 */
export function kubeSchemaProblems(object: unknown, crds: readonly CrdObject[] = []): string[] {
  if (!isObject(object)) return ['<root>: must be an object'];
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['apiVersion, kind: Required value'];
  const { group, version } = splitApiVersion(apiVersion);
  if (isKnownBuiltIn(apiVersion, kind)) {
    const decoded = decodeBuiltIn(structuredClone(object));
    return [
      ...decoded.unknown.map((u) => `${u}: unknown field`),
      ...decoded.times.map((t) => `${t.path}: Invalid value: ${JSON.stringify(t.value)}: ${t.micro ? 'a MicroTime needs exactly 6 fraction digits' : 'not an RFC 3339 time'}`),
      ...lines(builtInCauses(object)),
      ...lines(kindCauses(group, kind, object, undefined)),
    ];
  }
  const type = crds.flatMap(resourcesFromCrd).find((t) => t.group === group && t.version === version && t.kind === kind);
  if (!type?.custom) return [`${apiVersion}, Kind=${kind}: no schema (not a served built-in kind, and no CRD given for it)`];
  const pruned = structuredClone(object);
  const unknown = pruneCustomResource(pruned, type.custom.schema);
  defaultCustomResource(pruned, type.custom.schema);
  return [...unknown.map((u) => `${u}: unknown field (the server prunes it)`), ...lines(customResourceCauses(pruned, type.custom.schema))];
}

// ---------------------------------------------------------------- Pod Security Standards

/** The sysctls the baseline profile allows (the "safe" set). */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

/** The volume types the restricted profile allows. */
const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

function objectAt(parent: unknown, key: string): JsonObject {
  return isObject(parent) && isObject(parent[key]) ? parent[key] : {};
}

function listAt(parent: unknown, key: string): unknown[] {
  return isObject(parent) && Array.isArray(parent[key]) ? parent[key] : [];
}

/** Problems a securityContext (pod- or container-level) has under the rules both levels share. */
function sharedContextProblems(context: JsonObject, at: string, problems: string[]): void {
  if (isObject(context.windowsOptions) && context.windowsOptions.hostProcess === true) problems.push(`${at}.windowsOptions.hostProcess: must be unset or false`);
  const seLinux = objectAt(context, 'seLinuxOptions');
  if (seLinux.type !== undefined && !(typeof seLinux.type === 'string' && SELINUX_TYPES.has(seLinux.type))) problems.push(`${at}.seLinuxOptions.type: must be unset or one of container_t, container_init_t, container_kvm_t, container_engine_t`);
  if (seLinux.user !== undefined && seLinux.user !== '') problems.push(`${at}.seLinuxOptions.user: must be unset`);
  if (seLinux.role !== undefined && seLinux.role !== '') problems.push(`${at}.seLinuxOptions.role: must be unset`);
  const appArmor = objectAt(context, 'appArmorProfile');
  if (appArmor.type !== undefined && appArmor.type !== 'RuntimeDefault' && appArmor.type !== 'Localhost') {
    problems.push(`${at}.appArmorProfile.type: must be unset, RuntimeDefault or Localhost`);
  }
  if (context.runAsNonRoot === false) problems.push(`${at}.runAsNonRoot: must not be false`);
  if (context.runAsUser === 0) problems.push(`${at}.runAsUser: must not be 0 (root)`);
  const seccomp = objectAt(context, 'seccompProfile');
  if (seccomp.type !== undefined && seccomp.type !== 'RuntimeDefault' && seccomp.type !== 'Localhost') {
    problems.push(`${at}.seccompProfile.type: must be RuntimeDefault or Localhost`);
  }
}

function containerProblems(container: unknown, at: string, pod: JsonObject, problems: string[]): void {
  const context = objectAt(container, 'securityContext');
  const sc = `${at}.securityContext`;
  sharedContextProblems(context, sc, problems);
  if (context.privileged === true) problems.push(`${sc}.privileged: must be unset or false`);
  if (context.procMount !== undefined && context.procMount !== 'Default') problems.push(`${sc}.procMount: must be unset or Default`);
  if (context.allowPrivilegeEscalation !== false) problems.push(`${sc}.allowPrivilegeEscalation: must be false`);
  const podContext = objectAt(pod, 'securityContext');
  if (context.runAsNonRoot !== true && podContext.runAsNonRoot !== true) problems.push(`${sc}.runAsNonRoot: must be true (here or in the pod's securityContext)`);
  const seccompType = objectAt(context, 'seccompProfile').type ?? objectAt(podContext, 'seccompProfile').type;
  if (seccompType === undefined) problems.push(`${sc}.seccompProfile.type: must be RuntimeDefault or Localhost (here or in the pod's securityContext)`);
  const capabilities = objectAt(context, 'capabilities');
  const drop = listAt(capabilities, 'drop');
  if (!drop.includes('ALL')) problems.push(`${sc}.capabilities.drop: must include ALL`);
  for (const [i, added] of listAt(capabilities, 'add').entries()) {
    if (added !== 'NET_BIND_SERVICE') problems.push(`${sc}.capabilities.add[${i}]: only NET_BIND_SERVICE may be added, not ${JSON.stringify(added)}`);
  }
  for (const [i, port] of listAt(container, 'ports').entries()) {
    const hostPort = isObject(port) ? port.hostPort : undefined;
    if (hostPort !== undefined && hostPort !== 0) problems.push(`${at}.ports[${i}].hostPort: must be unset or 0`);
  }
}

/**
 * Problems a pod spec has under the restricted Pod Security Standard (baseline included):
 * host namespaces, privileged and hostProcess containers, capabilities (drop ALL, add only
 * NET_BIND_SERVICE), hostPath and other non-allowed volume types, host ports, AppArmor, SELinux,
 * procMount, seccomp (RuntimeDefault or Localhost, on the pod or every container), sysctls,
 * allowPrivilegeEscalation false, runAsNonRoot true, runAsUser not 0. Paths are relative to the
 * pod spec (`containers[0].securityContext.allowPrivilegeEscalation`).
 */
export function restrictedPodSecurityProblems(podSpec: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(podSpec)) return ['<root>: must be a pod spec object'];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (podSpec[field] === true) problems.push(`${field}: must be unset or false`);
  }
  const podContext = objectAt(podSpec, 'securityContext');
  sharedContextProblems(podContext, 'securityContext', problems);
  for (const [i, sysctl] of listAt(podContext, 'sysctls').entries()) {
    const name = isObject(sysctl) ? String(sysctl.name) : '';
    if (!SAFE_SYSCTLS.has(name)) problems.push(`securityContext.sysctls[${i}].name: ${JSON.stringify(name)} is not a safe sysctl`);
  }
  for (const [i, volume] of listAt(podSpec, 'volumes').entries()) {
    const types = isObject(volume) ? Object.keys(volume).filter((k) => k !== 'name') : [];
    for (const type of types) {
      if (!RESTRICTED_VOLUME_TYPES.has(type)) problems.push(`volumes[${i}].${type}: volume type ${type} is not allowed (only ${[...RESTRICTED_VOLUME_TYPES].join(', ')})`);
    }
  }
  for (const list of ['initContainers', 'containers', 'ephemeralContainers'] as const) {
    for (const [i, container] of listAt(podSpec, list).entries()) containerProblems(container, `${list}[${i}]`, podSpec, problems);
  }
  return problems;
}
