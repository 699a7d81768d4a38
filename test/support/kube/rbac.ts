/**
 * Kubernetes RBAC authorization, as the API server's RBAC authorizer decides it, for tests that
 * check a ServiceAccount's rules (deploy/) against the requests a client really sends.
 *
 * The matching rules are those of the published RBAC documentation and the authorizer's
 * behaviour: a request is allowed when any one rule of any one applicable binding allows it
 * (there are no deny rules); "*" matches every verb, group or resource; a rule's `resources`
 * entry "res/sub" matches only that subresource of that resource, and one with "*" before the
 * slash that subresource of every resource ("res" alone never covers "res/sub"); a non-empty `resourceNames` allows only requests naming one of
 * those objects (so never a create, list or watch, which carry no name); rules reached through a
 * RoleBinding apply only in that binding's namespace. Non-resource URLs (/healthz, /version) are
 * not modelled.
 */
import type { RbacV1Subject, V1ClusterRole, V1ClusterRoleBinding, V1PolicyRule, V1Role, V1RoleBinding } from '@kubernetes/client-node';

/** Rules and where they apply: `namespace` unset = cluster-wide (a ClusterRole bound by a ClusterRoleBinding). */
export interface RbacGrant {
  /** The namespace a RoleBinding gives these rules in; unset for a ClusterRoleBinding. */
  readonly namespace?: string;
  readonly rules: readonly V1PolicyRule[];
  /** Where the rules came from ("ClusterRole/x via ClusterRoleBinding/y"), for messages. */
  readonly source?: string;
}

/**
 * A resource request as the authorizer sees it (the shape the test API server logs).
 * `group` is "" for the core group. `namespace` unset = a cluster-scoped resource, or a list or
 * watch across all namespaces. `name` is unset for create, list and watch.
 */
export interface RbacRequest {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** The RBAC objects of a manifest (anything else in `objects` is ignored). */
type RbacObject =
  | (V1ClusterRole & { kind: 'ClusterRole' })
  | (V1Role & { kind: 'Role' })
  | (V1ClusterRoleBinding & { kind: 'ClusterRoleBinding' })
  | (V1RoleBinding & { kind: 'RoleBinding' });

/** A ServiceAccount by namespace and name. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** Whether `rule` (no namespace considered) allows `request`. */
export function ruleAllows(rule: V1PolicyRule, request: RbacRequest): boolean {
  if (!matchesAny(rule.verbs, request.verb)) return false;
  if (!matchesAny(rule.apiGroups ?? [], request.group)) return false;
  if (!resourceMatches(rule.resources ?? [], request.resource, request.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (request.name !== undefined && names.includes(request.name));
}

/**
 * Whether any of `grants` allows `request`. A namespaced grant applies only to requests in its
 * namespace, so it never allows a cluster-scoped request or one across all namespaces.
 */
export function rbacAllows(grants: readonly RbacGrant[], request: RbacRequest): boolean {
  return grants.some((grant) => (grant.namespace === undefined || grant.namespace === request.namespace) && grant.rules.some((rule) => ruleAllows(rule, request)));
}

/**
 * The grants that `objects` (a rendered manifest: ClusterRoles, Roles and their bindings, any
 * other kind ignored) give `serviceAccount`. Bound subjects count when they are that
 * ServiceAccount (in a RoleBinding an empty subject namespace means the binding's), or the
 * groups every ServiceAccount is in (system:serviceaccounts, system:serviceaccounts:<ns>,
 * system:authenticated). A binding whose role is missing from `objects` gives nothing, as on a
 * real server. Objects without a namespace are taken to be in `defaultNamespace` (where
 * `kubectl apply` would put them).
 */
export function rbacGrantsFor(objects: readonly unknown[], serviceAccount: ServiceAccountRef, defaultNamespace = serviceAccount.namespace): RbacGrant[] {
  const rbac = objects.filter(isRbacObject);
  const namespaceOf = (o: RbacObject): string => o.metadata?.namespace ?? defaultNamespace;
  const clusterRole = (name: string) => rbac.find((o) => o.kind === 'ClusterRole' && o.metadata?.name === name);
  const role = (namespace: string, name: string) => rbac.find((o) => o.kind === 'Role' && o.metadata?.name === name && namespaceOf(o) === namespace);
  const grants: RbacGrant[] = [];
  for (const binding of rbac) {
    if (binding.kind !== 'ClusterRoleBinding' && binding.kind !== 'RoleBinding') continue;
    const bindingNamespace = binding.kind === 'RoleBinding' ? namespaceOf(binding) : undefined;
    if (!(binding.subjects ?? []).some((s) => subjectIs(s, serviceAccount, bindingNamespace))) continue;
    const ref = binding.roleRef;
    const target = ref.kind === 'ClusterRole' ? clusterRole(ref.name) : bindingNamespace !== undefined ? role(bindingNamespace, ref.name) : undefined;
    if (!target) continue;
    const rules = (target as V1ClusterRole | V1Role).rules ?? [];
    const source = `${ref.kind}/${ref.name} via ${binding.kind}/${binding.metadata?.name ?? '?'}`;
    grants.push(bindingNamespace === undefined ? { rules, source } : { namespace: bindingNamespace, rules, source });
  }
  return grants;
}

function isRbacObject(o: unknown): o is RbacObject {
  if (typeof o !== 'object' || o === null) return false;
  const { apiVersion, kind } = o as { apiVersion?: unknown; kind?: unknown };
  return apiVersion === 'rbac.authorization.k8s.io/v1' && (kind === 'ClusterRole' || kind === 'Role' || kind === 'ClusterRoleBinding' || kind === 'RoleBinding');
}

/** `bindingNamespace` is the RoleBinding's namespace, unset for a ClusterRoleBinding. */
function subjectIs(subject: RbacV1Subject, sa: ServiceAccountRef, bindingNamespace: string | undefined): boolean {
  if (subject.kind === 'ServiceAccount') {
    // A ClusterRoleBinding's ServiceAccount subject must name its namespace (the server refuses
    // one without); a RoleBinding's defaults to the binding's own.
    const namespace = subject.namespace || bindingNamespace;
    return subject.name === sa.name && namespace === sa.namespace;
  }
  if (subject.kind === 'Group') return ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'].includes(subject.name);
  return false;
}

function matchesAny(allowed: readonly string[], value: string): boolean {
  return allowed.includes('*') || allowed.includes(value);
}

function resourceMatches(allowed: readonly string[], resource: string, subresource: string | undefined): boolean {
  const requested = subresource ? `${resource}/${subresource}` : resource;
  return allowed.some((entry) => entry === '*' || entry === requested || (subresource !== undefined && subresource !== '' && entry === `*/${subresource}`));
}

/**
 * The kinds of request in `requests` that `grants` do not allow, each once, in words
 * (`get core/namespaces (cluster-wide)`); [] when every request is allowed.
 */
export function deniedRequests(grants: readonly RbacGrant[], requests: readonly RbacRequest[]): string[] {
  const words = (r: RbacRequest): string => `${r.verb} ${r.group || 'core'}/${r.resource}${r.subresource ? `/${r.subresource}` : ''}${r.namespace ? ` in ${r.namespace}` : ' (cluster-wide)'}`;
  return [...new Set(requests.filter((r) => !rbacAllows(grants, r)).map(words))];
}
