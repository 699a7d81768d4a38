/**
 * deploy/ as `kubectl apply -k deploy/` would send it: rendered by the real kubectl (its built-in
 * kustomize, offline), every object checked against Kubernetes' published schema
 * (kubernetes-models, with unknown fields flagged), the daemon's pod against the restricted Pod
 * Security Standard, the RBAC rules against what the daemon needs and no more; then applied with
 * the real kubectl to the test API server.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { V1ClusterRole, V1Container, V1Deployment, V1PodSpec, V1Role, V1Service } from '@kubernetes/client-node';
import { defaultImage } from '../../src/lib/kube/objects.js';
import { startApiServer } from '../support/kube/api-server.js';
import { rbacAllows, rbacGrantsFor, type RbacRequest } from '../support/kube/rbac.js';
import { kubeSchemaProblems, restrictedPodSecurityProblems } from '../support/kube/validate.js';

const root = join(import.meta.dirname, '..', '..');
const deployDir = join(root, 'deploy');
const kubectl = '/usr/bin/kubectl';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

let home: string;

/** `kubectl <args>` with a HOME (and discovery cache) of its own; stdout. */
async function runKubectl(args: string[], kubeconfig = join(home, 'no-kubeconfig')): Promise<string> {
  const { stdout } = await promisify(execFile)(kubectl, args, { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig } });
  return stdout;
}

/** `kubectl kustomize <dir>`, parsed into objects. */
async function render(dir: string): Promise<KubeObject[]> {
  return parseAllDocuments(await runKubectl(['kustomize', dir])).map((doc) => doc.toJS() as KubeObject);
}

function only<T>(objects: readonly KubeObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0] as unknown as T;
}

/** Each (group, resource) a role's rules name, with the verbs it gets. */
function permissions(rules: V1ClusterRole['rules']): Record<string, string[]> {
  const table: Record<string, Set<string>> = {};
  for (const rule of rules ?? []) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const key = `${group || 'core'} ${resource}${rule.resourceNames?.length ? ` [${rule.resourceNames.join(',')}]` : ''}`;
        for (const verb of rule.verbs) (table[key] ??= new Set()).add(verb);
      }
    }
  }
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, [...v].sort()]));
}

let objects: KubeObject[];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'bloodraven-deploy-'));
  objects = await render(deployDir);
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('kubectl kustomize deploy/', () => {
  it('renders the daemon, its RBAC and its metrics Service, with no namespace of their own', () => {
    const own = objects.filter((o) => o.kind !== 'CustomResourceDefinition').map((o) => `${o.kind}/${o.metadata.name}`);
    expect(own.sort()).toEqual(
      [
        'ClusterRole/bloodraven',
        'ClusterRoleBinding/bloodraven',
        'Deployment/bloodraven',
        'Role/bloodraven-leader-election',
        'RoleBinding/bloodraven-leader-election',
        'Service/bloodraven-metrics',
        'ServiceAccount/bloodraven',
      ].sort(),
    );
    // The installer's namespace (or an overlay's) decides.
    expect(objects.filter((o) => o.metadata.namespace !== undefined).map((o) => o.metadata.name)).toEqual([]);
  });

  it('gives only objects that match Kubernetes’ published schema for their kind', () => {
    for (const object of objects) expect(kubeSchemaProblems(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
  });

  it('runs two replicas of `bloodraven daemon --kubernetes` on :9464, of this version’s image', async () => {
    const deployment = only<V1Deployment>(objects, 'Deployment', 'bloodraven');
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(deployment.spec?.replicas).toBe(2);
    const pod = deployment.spec?.template.spec as V1PodSpec;
    expect(pod.serviceAccountName).toBe('bloodraven');
    expect(pod.containers).toHaveLength(1);
    const [container] = pod.containers as [V1Container];
    expect(container.image).toBe(`ghcr.io/shipstream/bloodraven:${pkg.version}`);
    // The Jobs run the daemon's own release unless the group names an image.
    expect(container.image).toBe(defaultImage);
    expect(container.command).toEqual(['bloodraven']);
    expect(container.args).toEqual(['daemon', '--kubernetes', '--listen', ':9464']);
    // Leader election and Events name the pod and its namespace through the downward API.
    const fieldRefs = Object.fromEntries((container.env ?? []).filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(fieldRefs).toEqual({ POD_NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    for (const bound of ['requests', 'limits'] as const) {
      expect(Object.keys(container.resources?.[bound] ?? {}).sort(), bound).toEqual(['cpu', 'memory']);
    }
    expect(deployment.spec?.selector.matchLabels).toEqual(deployment.spec?.template.metadata?.labels);
  });

  it('runs the daemon’s pod under the restricted Pod Security Standard, non-root, on a read-only root', () => {
    const pod = only<V1Deployment>(objects, 'Deployment', 'bloodraven').spec?.template.spec as V1PodSpec;
    expect(restrictedPodSecurityProblems(pod)).toEqual([]);
    const [container] = pod.containers as [V1Container];
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 27, runAsGroup: 27, fsGroup: 27 });
    // HOME and TMPDIR are where the writable emptyDirs are.
    const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    const mounted = new Map((container.volumeMounts ?? []).map((m) => [m.mountPath, pod.volumes?.find((v) => v.name === m.name)]));
    for (const path of [env.HOME, env.TMPDIR]) expect(mounted.get(path ?? '')?.emptyDir, path).toBeDefined();
  });

  it('serves the metrics port as `metrics` on a Service that selects the daemon’s pods', () => {
    const service = only<V1Service>(objects, 'Service', 'bloodraven-metrics');
    const deployment = only<V1Deployment>(objects, 'Deployment', 'bloodraven');
    expect(service.spec?.ports).toEqual([{ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' }]);
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    expect(Object.entries(service.spec?.selector ?? {}).length).toBeGreaterThan(0);
    for (const [key, value] of Object.entries(service.spec?.selector ?? {})) expect(podLabels[key], key).toBe(value);
  });
});

describe('RBAC in deploy/', () => {
  const daemon = { namespace: 'default', name: 'bloodraven' };

  it('uses no wildcard anywhere', () => {
    for (const role of objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role') as unknown as V1Role[]) {
      for (const rule of role.rules ?? []) {
        const words = [...rule.verbs, ...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...(rule.resourceNames ?? [])];
        expect(words.filter((w) => w.includes('*')), role.metadata?.name).toEqual([]);
        expect(rule.nonResourceURLs, role.metadata?.name).toBeUndefined();
      }
    }
  });

  it('grants cluster-wide exactly the verbs the daemon needs, per resource', () => {
    // What src/daemon/kube/ calls (informers, kube-ops-client.ts, status-writer.ts, events.ts).
    expect(permissions(only<V1ClusterRole>(objects, 'ClusterRole', 'bloodraven').rules)).toEqual({
      'shipstream.io mysqlfailovergroups': ['get', 'list', 'patch', 'watch'],
      'shipstream.io mysqlfailovergroups/status': ['update'],
      'shipstream.io mysqlfailovergroups/finalizers': ['update'],
      'shipstream.io mysqlbackups': ['create', 'delete', 'get', 'list', 'patch', 'watch'],
      'shipstream.io mysqlbackups/status': ['update'],
      'shipstream.io mysqlbackups/finalizers': ['update'],
      'shipstream.io mysqlbackupverifications': ['create', 'get', 'list', 'watch'],
      'shipstream.io mysqlbackupverifications/status': ['update'],
      'shipstream.io mysqlbackupverifications/finalizers': ['update'],
      'batch jobs': ['create', 'delete', 'get', 'list', 'watch'],
      'batch cronjobs': ['create', 'delete', 'get', 'list', 'update', 'watch'],
      'core pods': ['list', 'patch', 'watch'],
      'core secrets': ['create', 'delete', 'get'],
      'core persistentvolumeclaims': ['create', 'get'],
      'core namespaces': ['get'],
      'core serviceaccounts': ['create'],
      'rbac.authorization.k8s.io roles': ['create', 'update'],
      'rbac.authorization.k8s.io rolebindings': ['create'],
      'events.k8s.io events': ['create', 'patch'],
      // initFromBackup: the rollout gate's Deployment read.
      'apps deployments': ['get'],
    });
  });

  it('covers exactly the custom resources deploy/ installs, with their status and finalizers subresources', () => {
    interface Crd {
      spec: { group: string; names: { plural: string }; versions: { subresources?: { status?: object } }[] };
    }
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition') as unknown as Crd[];
    // The status subresource where the CRD serves one; finalizers (for blockOwnerDeletion) always.
    const served = crds.flatMap((crd) => {
      const resource = `${crd.spec.group} ${crd.spec.names.plural}`;
      return [resource, `${resource}/finalizers`, ...(crd.spec.versions.some((v) => v.subresources?.status) ? [`${resource}/status`] : [])];
    });
    expect(crds.length).toBeGreaterThan(0);
    const granted = Object.keys(permissions(only<V1ClusterRole>(objects, 'ClusterRole', 'bloodraven').rules)).filter((key) => key.startsWith('shipstream.io '));
    expect(granted.sort()).toEqual(served.sort());
  });

  it('grants Leases only in the daemon’s namespace, and get/update only on bloodraven-leader', () => {
    expect(permissions(only<V1Role>(objects, 'Role', 'bloodraven-leader-election').rules)).toEqual({
      'coordination.k8s.io leases [bloodraven-leader]': ['get', 'update'],
      'coordination.k8s.io leases': ['create'],
    });
  });

  it('binds every role to the Deployment’s ServiceAccount, and lets it do its work and nothing beside', () => {
    const deployment = only<V1Deployment>(objects, 'Deployment', 'bloodraven');
    only(objects, 'ServiceAccount', deployment.spec?.template.spec?.serviceAccountName ?? '');
    const grants = rbacGrantsFor(objects, daemon);
    // Every role rendered reaches the daemon, and nothing else is bound.
    expect(grants.map((g) => g.source).sort()).toEqual(['ClusterRole/bloodraven via ClusterRoleBinding/bloodraven', 'Role/bloodraven-leader-election via RoleBinding/bloodraven-leader-election']);
    const allowed: RbacRequest[] = [
      { verb: 'watch', group: 'shipstream.io', resource: 'mysqlfailovergroups' },
      { verb: 'list', group: 'shipstream.io', resource: 'mysqlbackups' },
      { verb: 'update', group: 'shipstream.io', resource: 'mysqlbackups', subresource: 'status', namespace: 'db', name: 'b' },
      { verb: 'update', group: 'shipstream.io', resource: 'mysqlfailovergroups', subresource: 'status', namespace: 'db', name: 'g' },
      { verb: 'get', group: '', resource: 'namespaces', name: 'db' },
      { verb: 'create', group: 'batch', resource: 'jobs', namespace: 'db' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: 'db' },
      { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: 'db' },
      { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: 'bloodraven-leader' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: 'bloodraven-leader' },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default' },
    ];
    for (const request of allowed) expect(rbacAllows(grants, request), JSON.stringify(request)).toBe(true);
    const refused: RbacRequest[] = [
      // The group's spec is its owner's.
      { verb: 'update', group: 'shipstream.io', resource: 'mysqlfailovergroups', namespace: 'db', name: 'g' },
      { verb: 'get', group: '', resource: 'pods', subresource: 'log', namespace: 'db', name: 'p' },
      { verb: 'list', group: '', resource: 'secrets' },
      { verb: 'update', group: '', resource: 'secrets', namespace: 'db', name: 's' },
      { verb: 'delete', group: '', resource: 'persistentvolumeclaims', namespace: 'db', name: 'c' },
      { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'db', name: 'r' },
      { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace: 'db', name: 'r' },
      { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'create', group: '', resource: 'namespaces' },
      { verb: 'delete', group: '', resource: 'namespaces', name: 'db' },
      { verb: 'update', group: '', resource: 'serviceaccounts', namespace: 'db', name: 'mysql-g-backup-requester' },
      { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: 'db', name: 'p' },
      { verb: 'update', group: 'batch', resource: 'jobs', namespace: 'db', name: 'j' },
      // Leases: not in other namespaces, not other Leases.
      { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'db', name: 'bloodraven-leader' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: 'another-leader' },
      { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: 'bloodraven-leader' },
    ];
    for (const request of refused) expect(rbacAllows(grants, request), JSON.stringify(request)).toBe(false);
  });

  it('moves with an overlay’s namespace: the ServiceAccount, the Lease Role and both bindings together', async () => {
    const overlay = join(home, 'overlay');
    await mkdir(overlay);
    await writeFile(join(overlay, 'kustomization.yaml'), `namespace: bloodraven-system\nresources:\n  - ${relative(overlay, deployDir)}\n`);
    const moved = await render(overlay);
    const grants = rbacGrantsFor(moved, { namespace: 'bloodraven-system', name: 'bloodraven' });
    expect(grants.map((g) => g.namespace ?? 'cluster-wide').sort()).toEqual(['bloodraven-system', 'cluster-wide']);
    expect(rbacAllows(grants, { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: 'bloodraven-system', name: 'bloodraven-leader' })).toBe(true);
    // Nothing is left bound to the account the plain base would have used.
    expect(rbacGrantsFor(moved, daemon, 'bloodraven-system')).toEqual([]);
  });
});

describe('kubectl apply -k deploy/', () => {
  it('installs every object into the current namespace through the API server’s strict field validation, and again as unchanged', async () => {
    const server = await startApiServer();
    try {
      const kubeconfig = join(home, 'kubeconfig');
      await server.writeKubeconfig(kubeconfig);
      const lines = (text: string): string[] => text.trim().split('\n').sort();
      const expected = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      // kubectl prints a line per object ("<resource>.<group>/<name> created"); the server is asked which objects it holds.
      const created = lines(await runKubectl(['apply', '-k', deployDir], kubeconfig));
      expect(created).toHaveLength(expected.length);
      expect(created.every((line) => line.endsWith(' created')), created.join('\n')).toBe(true);
      for (const object of objects) {
        const namespace = object.kind === 'CustomResourceDefinition' || object.kind.startsWith('Cluster') ? undefined : 'default';
        expect(server.get(object.apiVersion, object.kind, namespace, object.metadata.name), `${object.kind}/${object.metadata.name}`).toBeDefined();
      }
      const again = lines(await runKubectl(['apply', '-k', deployDir], kubeconfig));
      expect(again.every((line) => line.endsWith(' unchanged')), again.join('\n')).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
