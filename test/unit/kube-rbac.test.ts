import { describe, expect, it } from 'vitest';
import { rbacAllows, rbacGrantsFor, ruleAllows, type RbacGrant } from '../support/kube/rbac.js';

const get = { verb: 'get', group: 'batch', resource: 'jobs', namespace: 'db', name: 'j' };

describe('ruleAllows', () => {
  it('needs the verb, the group and the resource to match', () => {
    const rule = { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list'] };
    expect(ruleAllows(rule, get)).toBe(true);
    expect(ruleAllows(rule, { ...get, verb: 'delete' })).toBe(false);
    expect(ruleAllows(rule, { ...get, group: '' })).toBe(false);
    expect(ruleAllows(rule, { ...get, resource: 'cronjobs' })).toBe(false);
    // The core group is "", not a missing apiGroups.
    expect(ruleAllows({ resources: ['pods'], verbs: ['get'] }, { ...get, group: '', resource: 'pods' })).toBe(false);
    expect(ruleAllows({ apiGroups: [''], resources: ['pods'], verbs: ['get'] }, { ...get, group: '', resource: 'pods' })).toBe(true);
  });

  it('matches "*" for verbs, groups and resources', () => {
    expect(ruleAllows({ apiGroups: ['*'], resources: ['jobs'], verbs: ['get'] }, get)).toBe(true);
    expect(ruleAllows({ apiGroups: ['batch'], resources: ['*'], verbs: ['get'] }, get)).toBe(true);
    expect(ruleAllows({ apiGroups: ['batch'], resources: ['jobs'], verbs: ['*'] }, { ...get, verb: 'deletecollection' })).toBe(true);
    // "*" covers subresources too.
    expect(ruleAllows({ apiGroups: ['batch'], resources: ['*'], verbs: ['get'] }, { ...get, subresource: 'status' })).toBe(true);
  });

  it('keeps a resource and its subresources apart', () => {
    const status = { ...get, group: 'shipstream.io', resource: 'mysqlbackups', subresource: 'status', verb: 'update' };
    const main = { apiGroups: ['shipstream.io'], resources: ['mysqlbackups'], verbs: ['update'] };
    expect(ruleAllows(main, status)).toBe(false);
    expect(ruleAllows({ ...main, resources: ['mysqlbackups/status'] }, status)).toBe(true);
    expect(ruleAllows({ ...main, resources: ['mysqlbackups/status'] }, { ...status, subresource: undefined })).toBe(false);
    expect(ruleAllows({ ...main, resources: ['*/status'] }, status)).toBe(true);
    expect(ruleAllows({ ...main, resources: ['*/status'] }, { ...status, subresource: 'scale' })).toBe(false);
    // "res/*" is not a pattern RBAC knows: it matches only a subresource literally named "*".
    expect(ruleAllows({ ...main, resources: ['mysqlbackups/*'] }, status)).toBe(false);
  });

  it('limits a rule with resourceNames to requests naming one of them', () => {
    const rule = { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['leader'], verbs: ['get', 'update', 'create', 'list'] };
    const lease = { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'ops' };
    expect(ruleAllows(rule, { ...lease, name: 'leader' })).toBe(true);
    expect(ruleAllows(rule, { ...lease, name: 'other' })).toBe(false);
    // create, list and watch carry no name: a named rule never allows them.
    expect(ruleAllows(rule, { ...lease, verb: 'create' })).toBe(false);
    expect(ruleAllows(rule, { ...lease, verb: 'list' })).toBe(false);
  });
});

describe('rbacAllows', () => {
  const jobs = { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get'] };

  it('applies a cluster-wide grant in every namespace and to all-namespace requests', () => {
    const grants: RbacGrant[] = [{ rules: [jobs] }];
    expect(rbacAllows(grants, get)).toBe(true);
    expect(rbacAllows(grants, { ...get, namespace: 'other' })).toBe(true);
    expect(rbacAllows(grants, { ...get, namespace: undefined })).toBe(true);
  });

  it('applies a namespaced grant only in its namespace, never across namespaces', () => {
    const grants: RbacGrant[] = [{ namespace: 'db', rules: [jobs] }];
    expect(rbacAllows(grants, get)).toBe(true);
    expect(rbacAllows(grants, { ...get, namespace: 'other' })).toBe(false);
    expect(rbacAllows(grants, { ...get, namespace: undefined })).toBe(false);
  });

  it('allows when any rule of any grant does, and nothing without one', () => {
    const grants: RbacGrant[] = [{ namespace: 'other', rules: [jobs] }, { rules: [{ ...jobs, verbs: ['list'] }, jobs] }];
    expect(rbacAllows(grants, get)).toBe(true);
    expect(rbacAllows([], get)).toBe(false);
    expect(rbacAllows([{ rules: [] }], get)).toBe(false);
  });
});

describe('rbacGrantsFor', () => {
  const sa = { namespace: 'ops', name: 'bot' };
  const rbac = (kind: string, name: string, rest: object, namespace?: string): object => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: namespace ? { name, namespace } : { name },
    ...rest,
  });
  const clusterRole = rbac('ClusterRole', 'reader', { rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] });
  const role = rbac('Role', 'leases', { rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get'] }] }, 'ops');
  const pod = { verb: 'get', group: '', resource: 'pods', namespace: 'anywhere', name: 'p' };
  const lease = { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'ops', name: 'l' };

  it('gives a ClusterRole cluster-wide through a ClusterRoleBinding naming the ServiceAccount', () => {
    const binding = rbac('ClusterRoleBinding', 'b', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ops' }] });
    const grants = rbacGrantsFor([clusterRole, binding, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'bot' } }], sa);
    expect(grants).toHaveLength(1);
    expect(grants[0]?.namespace).toBeUndefined();
    expect(rbacAllows(grants, pod)).toBe(true);
    // The same name in another namespace is another account.
    expect(rbacGrantsFor([clusterRole, binding], { ...sa, namespace: 'default' })).toEqual([]);
  });

  it('gives a Role, or a ClusterRole, only in the namespace of the RoleBinding', () => {
    const toRole = rbac('RoleBinding', 'b1', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' }, subjects: [{ kind: 'ServiceAccount', name: 'bot' }] }, 'ops');
    const toClusterRole = rbac('RoleBinding', 'b2', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ops' }] }, 'db');
    const grants = rbacGrantsFor([clusterRole, role, toRole, toClusterRole], sa);
    expect(grants.map((g) => g.namespace).sort()).toEqual(['db', 'ops']);
    expect(rbacAllows(grants, lease)).toBe(true);
    expect(rbacAllows(grants, { ...lease, namespace: 'db' })).toBe(false);
    expect(rbacAllows(grants, { ...pod, namespace: 'db' })).toBe(true);
    expect(rbacAllows(grants, pod)).toBe(false);
  });

  it('takes objects without a namespace to be in the default one, and a RoleBinding subject without one to be in the binding’s', () => {
    const unplacedRole = rbac('Role', 'leases', { rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get'] }] });
    const unplacedBinding = rbac('RoleBinding', 'b', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' }, subjects: [{ kind: 'ServiceAccount', name: 'bot' }] });
    expect(rbacAllows(rbacGrantsFor([unplacedRole, unplacedBinding], sa), lease)).toBe(true);
    expect(rbacGrantsFor([unplacedRole, unplacedBinding], sa, 'elsewhere')).toEqual([]);
  });

  it('counts the groups every ServiceAccount is in, and ignores other subjects and missing roles', () => {
    const toGroup = (group: string) => rbac('ClusterRoleBinding', group, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: group }] });
    expect(rbacGrantsFor([clusterRole, toGroup('system:serviceaccounts:ops')], sa)).toHaveLength(1);
    expect(rbacGrantsFor([clusterRole, toGroup('system:serviceaccounts')], sa)).toHaveLength(1);
    expect(rbacGrantsFor([clusterRole, toGroup('system:serviceaccounts:db')], sa)).toEqual([]);
    const toUser = rbac('ClusterRoleBinding', 'u', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'User', name: 'bot' }] });
    expect(rbacGrantsFor([clusterRole, toUser], sa)).toEqual([]);
    const dangling = rbac('ClusterRoleBinding', 'd', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'gone' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ops' }] });
    expect(rbacGrantsFor([clusterRole, dangling], sa)).toEqual([]);
    // A ClusterRoleBinding cannot reach a Role.
    const clusterToRole = rbac('ClusterRoleBinding', 'r', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leases' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'ops' }] });
    expect(rbacGrantsFor([role, clusterToRole], sa)).toEqual([]);
  });
});
