/**
 * RBAC authorization over the Roles, ClusterRoles and bindings stored in the test API server,
 * following the rules of Kubernetes' RBAC authorizer: a RoleBinding grants its Role's (or
 * ClusterRole's) rules inside its namespace, a ClusterRoleBinding grants a ClusterRole's rules
 * everywhere; a rule matches on verbs, apiGroups, resources (`<resource>/<subresource>` for
 * subresources) and, when set, resourceNames (only for requests that name an object). `*`
 * matches anything. ServiceAccounts are users `system:serviceaccount:<ns>:<name>` in groups
 * `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.
 * Not modelled: ClusterRole aggregation, non-resource URL rules (discovery is open to all, as
 * the bootstrap `system:discovery` role makes it).
 */
import type { JsonObject } from './store.js';

/** Who makes a request. */
export interface UserInfo {
  user: string;
  groups: string[];
}

/** What RBAC looks at in a resource request. */
export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

interface Binding {
  metadata?: { namespace?: string };
  roleRef?: { kind?: string; name?: string };
  subjects?: Subject[];
}

/** The identity of a ServiceAccount. */
export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return { user: `system:serviceaccount:${namespace}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
}

/** Parses `system:serviceaccount:<ns>:<name>` (as kubectl's `--as` sends it) into a full identity. */
export function userFromName(name: string, groups: string[] = []): UserInfo {
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(name);
  if (sa) {
    const base = serviceAccountUser(sa[1] ?? '', sa[2] ?? '');
    return { user: base.user, groups: [...new Set([...base.groups, ...groups])] };
  }
  return { user: name, groups: [...new Set([...groups, 'system:authenticated'])] };
}

function subjectMatches(subject: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (subject.kind) {
    case 'ServiceAccount':
      return user.user === `system:serviceaccount:${subject.namespace ?? bindingNamespace ?? ''}:${subject.name ?? ''}`;
    case 'User':
      return subject.name === user.user;
    case 'Group':
      return subject.name !== undefined && user.groups.includes(subject.name);
    default:
      return false;
  }
}

function has(list: string[] | undefined, value: string): boolean {
  return (list ?? []).some((v) => v === '*' || v === value);
}

function ruleAllows(rule: PolicyRule, request: ResourceAttributes): boolean {
  if (!has(rule.verbs, request.verb) || !has(rule.apiGroups, request.group)) return false;
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const resources = rule.resources ?? [];
  const resourceOk = resources.some((r) => r === '*' || r === resource || (request.subresource !== undefined && r === `*/${request.subresource}`));
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (request.name !== undefined && names.includes(request.name));
}

/** The stored RBAC objects the authorizer reads. */
export interface RbacObjects {
  roles: JsonObject[];
  clusterRoles: JsonObject[];
  roleBindings: JsonObject[];
  clusterRoleBindings: JsonObject[];
}

function rulesOf(role: JsonObject | undefined): PolicyRule[] {
  return role && Array.isArray(role.rules) ? (role.rules as PolicyRule[]) : [];
}

function named(objects: JsonObject[], name: string | undefined, namespace?: string): JsonObject | undefined {
  return objects.find((o) => {
    const meta = (o.metadata ?? {}) as { name?: string; namespace?: string };
    return meta.name === name && (namespace === undefined || meta.namespace === namespace);
  });
}

/** Whether RBAC allows `user` the request, given the stored roles and bindings. */
export function rbacAllows(objects: RbacObjects, user: UserInfo, request: ResourceAttributes): boolean {
  for (const raw of objects.clusterRoleBindings) {
    const binding = raw as Binding;
    if (binding.roleRef?.kind !== 'ClusterRole' || !(binding.subjects ?? []).some((s) => subjectMatches(s, user, undefined))) continue;
    if (rulesOf(named(objects.clusterRoles, binding.roleRef.name)).some((r) => ruleAllows(r, request))) return true;
  }
  if (request.namespace === undefined) return false;
  for (const raw of objects.roleBindings) {
    const binding = raw as Binding;
    const namespace = binding.metadata?.namespace;
    if (namespace !== request.namespace || !(binding.subjects ?? []).some((s) => subjectMatches(s, user, namespace))) continue;
    const role = binding.roleRef?.kind === 'Role' ? named(objects.roles, binding.roleRef.name, namespace) : named(objects.clusterRoles, binding.roleRef?.name);
    if (rulesOf(role).some((r) => ruleAllows(r, request))) return true;
  }
  return false;
}

/** The real server's 403 message for a denied request. */
export function forbiddenMessage(user: UserInfo, request: ResourceAttributes): string {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const what = request.name ? `${resource}${request.group ? `.${request.group}` : ''} "${request.name}"` : `${resource}${request.group ? `.${request.group}` : ''}`;
  const where = request.namespace !== undefined ? ` in the namespace "${request.namespace}"` : ' at the cluster scope';
  return `${what} is forbidden: User "${user.user}" cannot ${request.verb} resource "${resource}" in API group "${request.group}"${where}`;
}
