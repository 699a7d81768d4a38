/**
 * The test Kubernetes API server (test/support/kube/api-server.ts) against the real clients:
 * @kubernetes/client-node 2.x (generated APIs, KubernetesObjectApi, Watch, makeInformer) and
 * kubectl 1.32 (`/usr/bin/kubectl`, its own HOME per test). Every behaviour asserted here is one
 * the daemon or its tests rely on, as K8S-TESTING.md describes the real kube-apiserver.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startApiServer, type TestApiServer } from '../support/kube/api-server.js';

/** A small CRD with everything the real ones use: printer columns, status, int-or-string, preserved fields. */
const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.test' },
  spec: {
    group: 'example.test',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Color', type: 'string', jsonPath: '.spec.color' },
          { name: 'Size', type: 'string', jsonPath: '.spec.size' },
          { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            required: ['spec'],
            properties: {
              spec: {
                type: 'object',
                required: ['color'],
                properties: {
                  color: { type: 'string', enum: ['red', 'blue'] },
                  size: { 'x-kubernetes-int-or-string': true },
                  count: { type: 'integer', minimum: 0 },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                  options: { type: 'object', properties: { retries: { type: 'integer', default: 3 } } },
                },
              },
              status: { type: 'object', properties: { phase: { type: 'string' }, observedGeneration: { type: 'integer' } } },
            },
          },
        },
      },
    ],
  },
};

/** client-node's names for JSON-schema keys its model renames (`x_kubernetes_int_or_string`, `_enum`). */
function modelKey(key: string): string {
  if (key.startsWith('x-kubernetes-')) return key.replace(/-/g, '_');
  return key === 'enum' || key === 'default' ? `_${key}` : key === '$ref' ? 'ref' : key;
}

function toModelSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toModelSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      modelKey(key),
      key === 'properties' ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, toModelSchema(v)])) : toModelSchema(value),
    ]),
  );
}

/**
 * The CRD as client-node's typed model: its serializer only knows the model's property names
 * (`x_kubernetes_preserve_unknown_fields`, `_enum`), so wire JSON passed as is would silently
 * lose those keys.
 */
function typedCrd(): k8s.V1CustomResourceDefinition {
  const versions = WIDGET_CRD.spec.versions.map((v) => ({ ...v, schema: { openAPIV3Schema: toModelSchema(v.schema.openAPIV3Schema) } }));
  return { ...WIDGET_CRD, spec: { ...WIDGET_CRD.spec, versions } } as k8s.V1CustomResourceDefinition;
}

const WIDGET = { group: 'example.test', version: 'v1', plural: 'widgets' };

interface Widget {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

function widget(name: string, spec: Record<string, unknown> = { color: 'red' }): Widget {
  return { apiVersion: 'example.test/v1', kind: 'Widget', metadata: { name }, spec };
}

/** The Status body of a client-node ApiException. */
function statusOf(err: unknown): { code: number; reason?: string; message?: string } {
  if (!(err instanceof k8s.ApiException)) throw err;
  const body = JSON.parse(String(err.body)) as { reason?: string; message?: string };
  return { code: err.code, ...body };
}

async function failure(promise: Promise<unknown>): Promise<{ code: number; reason?: string; message?: string }> {
  try {
    await promise;
  } catch (err) {
    return statusOf(err);
  }
  throw new Error('expected the request to fail');
}

/** Resolves once `check()` returns something truthy (polled every 20 ms; fails after 10 s). */
async function until<T>(check: () => T | Promise<T>, what = 'condition'): Promise<NonNullable<T>> {
  for (const end = Date.now() + 10_000; ; ) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let server: TestApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
let custom: k8s.CustomObjectsApi;

async function createNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } });
}

beforeEach(async () => {
  server = await startApiServer();
  kc = server.kubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  batch = kc.makeApiClient(k8s.BatchV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
});

afterEach(async () => {
  await server.stop();
});

describe('client-node: core semantics', () => {
  it('preseeds the default namespace and refuses writes to a missing one', async () => {
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toEqual(['default']);
    expect(namespaces.items[0]?.status?.phase).toBe('Active');
    // Every namespace gets its `default` ServiceAccount, as from the ServiceAccount controller.
    await createNamespace('other');
    const accounts = await core.listServiceAccountForAllNamespaces();
    expect(accounts.items.map((a) => `${a.metadata?.namespace ?? ''}/${a.metadata?.name ?? ''}`)).toEqual(['default/default', 'other/default']);
    expect(server.writes.map((w) => w.kind)).toEqual(['Namespace']);
    const refused = await failure(core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }));
    expect(refused).toMatchObject({ code: 404, reason: 'NotFound', message: 'namespaces "nowhere" not found' });
  });

  it('sets server-owned metadata, one global resourceVersion, and keeps it on no-op writes', async () => {
    const a = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a', uid: 'mine', generation: 7 }, data: { k: 'v' } } });
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata?.generation).toBe(1);
    expect(a.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const b = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'gen-' } } });
    expect(b.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(Number(b.metadata?.resourceVersion)).toBe(Number(a.metadata?.resourceVersion) + 1);
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    expect(list.metadata?.resourceVersion).toBe(b.metadata?.resourceVersion);

    const same = await core.replaceNamespacedConfigMap({ namespace: 'default', name: 'a', body: a });
    expect(same.metadata?.resourceVersion).toBe(a.metadata?.resourceVersion);
    const changed = await core.replaceNamespacedConfigMap({ namespace: 'default', name: 'a', body: { ...a, data: { k: 'w' } } });
    expect(Number(changed.metadata?.resourceVersion)).toBeGreaterThan(Number(b.metadata?.resourceVersion));

    const stale = await failure(core.replaceNamespacedConfigMap({ namespace: 'default', name: 'a', body: { ...a, data: { k: 'x' } } }));
    expect(stale).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(stale.message).toContain('the object has been modified; please apply your changes to the latest version and try again');
    const twice = await failure(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a' } } }));
    expect(twice).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'configmaps "a" already exists' });
    const missing = await failure(core.readNamespacedSecret({ namespace: 'default', name: 'nope' }));
    expect(missing).toMatchObject({ code: 404, reason: 'NotFound', message: 'secrets "nope" not found' });
  });

  it('applies merge, JSON and strategic patches, and apply patches that need a fieldManager', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'p', finalizers: ['a/one'] }, spec: { containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: '1' }] }] } },
    });
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const merged = await core.patchNamespacedPod({ namespace: 'default', name: 'p', body: { metadata: { labels: { x: 'y' } } } }, merge);
    expect(merged.metadata?.labels).toEqual({ x: 'y' });
    // Strategic merge keys containers by name and unions finalizers.
    const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
    const smp = await core.patchNamespacedPod(
      { namespace: 'default', name: 'p', body: { metadata: { finalizers: ['a/two'] }, spec: { containers: [{ name: 'c', image: 'j' }] } } },
      strategic,
    );
    expect(smp.spec?.containers).toHaveLength(1);
    expect(smp.spec?.containers[0]).toMatchObject({ name: 'c', image: 'j', env: [{ name: 'A', value: '1' }] });
    expect(smp.metadata?.finalizers).toEqual(['a/one', 'a/two']);
    // The default patch type is a JSON patch; an object body for it is a 400.
    const jsonPatched = await core.patchNamespacedPod({ namespace: 'default', name: 'p', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    expect(jsonPatched.metadata?.finalizers).toBeUndefined();
    expect(await failure(core.patchNamespacedPod({ namespace: 'default', name: 'p', body: { metadata: {} } }))).toMatchObject({ code: 400 });
    expect(await failure(core.patchNamespacedPod({ namespace: 'default', name: 'p', body: [{ op: 'test', path: '/spec/containers/0/image', value: 'nope' }] }))).toMatchObject({
      code: 422,
    });
    // A patch carrying a stale resourceVersion is refused.
    const stale = await failure(core.patchNamespacedPod({ namespace: 'default', name: 'p', body: { metadata: { resourceVersion: '1' } } }, merge));
    expect(stale).toMatchObject({ code: 409, reason: 'Conflict' });

    const apply = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: 'default' }, data: { a: '1' } };
    const noManager = await failure(core.patchNamespacedConfigMap({ namespace: 'default', name: 'applied', body }, apply));
    expect(noManager).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(noManager.message).toContain('fieldManager: Required value');
    const created = await core.patchNamespacedConfigMap({ namespace: 'default', name: 'applied', body, fieldManager: 'test' }, apply);
    expect(created.data).toEqual({ a: '1' });
    const updated = await core.patchNamespacedConfigMap({ namespace: 'default', name: 'applied', body: { ...body, data: { a: '2' } }, fieldManager: 'test' }, apply);
    expect(updated.data).toEqual({ a: '2' });
    const forced = await failure(core.patchNamespacedConfigMap({ namespace: 'default', name: 'applied', body: { data: {} }, force: true }, merge));
    expect(forced).toMatchObject({ code: 422 });
  });

  it('filters lists by label and field selectors, and answers 400 to unsupported ones', async () => {
    for (const [name, labels] of [
      ['a', { app: 'x', tier: 'db' }],
      ['b', { app: 'y' }],
      ['c', {}],
    ] as const) {
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name, labels } } });
    }
    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      (await core.listNamespacedConfigMap({ namespace: 'default', labelSelector, fieldSelector })).items.map((i) => i.metadata?.name ?? '');
    expect(await names('app=x')).toEqual(['a']);
    expect(await names('app!=x')).toEqual(['b', 'c']);
    expect(await names('app in (x,y),!tier')).toEqual(['b']);
    expect(await names('app notin (y)')).toEqual(['a', 'c']);
    expect(await names('tier')).toEqual(['a']);
    expect(await names(undefined, 'metadata.name=b')).toEqual(['b']);
    expect(await names(undefined, 'metadata.name!=b,metadata.namespace=default')).toEqual(['a', 'c']);
    expect(await failure(core.listNamespacedConfigMap({ namespace: 'default', fieldSelector: 'data.k=v' }))).toMatchObject({
      code: 400,
      message: 'field label not supported: data.k',
    });
    expect(await failure(core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'a b c' }))).toMatchObject({ code: 400 });
  });

  it('keeps an object with finalizers until the last one goes, and refuses new ones meanwhile', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'held', finalizers: ['example.test/hold'] } } });
    const deleting = await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'held' });
    expect(deleting).toBeDefined();
    const held = await core.readNamespacedConfigMap({ namespace: 'default', name: 'held' });
    expect(held.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(held.metadata?.generation).toBe(2);
    // A repeated DELETE changes nothing.
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'held' });
    expect((await core.readNamespacedConfigMap({ namespace: 'default', name: 'held' })).metadata?.resourceVersion).toBe(held.metadata?.resourceVersion);
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const more = await failure(
      core.patchNamespacedConfigMap({ namespace: 'default', name: 'held', body: { metadata: { finalizers: ['example.test/hold', 'example.test/more'] } } }, merge),
    );
    expect(more).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(more.message).toContain('metadata.finalizers: Forbidden');
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'held', body: { metadata: { finalizers: null } } }, merge);
    expect(await failure(core.readNamespacedConfigMap({ namespace: 'default', name: 'held' }))).toMatchObject({ code: 404 });
    // Delete preconditions.
    const c = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'pre' } } });
    const wrongUid = await failure(core.deleteNamespacedConfigMap({ namespace: 'default', name: 'pre', body: { preconditions: { uid: 'other' } } }));
    expect(wrongUid).toMatchObject({ code: 409, reason: 'Conflict' });
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'pre', body: { preconditions: { uid: c.metadata?.uid, resourceVersion: c.metadata?.resourceVersion } } });
  });

  it('records every request as RBAC sees it, and every write as stored', async () => {
    await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 's' }, stringData: { a: 'b' } } });
    await core.readNamespacedSecret({ namespace: 'default', name: 's' });
    await core.listSecretForAllNamespaces();
    await core.deleteNamespacedSecret({ namespace: 'default', name: 's' });
    await batch.listNamespacedJob({ namespace: 'default' });
    const seen = server.requests.map((r) => [r.verb, r.group, r.resource, r.namespace, r.name]);
    expect(seen).toEqual([
      ['create', '', 'secrets', 'default', undefined],
      ['get', '', 'secrets', 'default', 's'],
      ['list', '', 'secrets', undefined, undefined],
      ['delete', '', 'secrets', 'default', 's'],
      ['list', 'batch', 'jobs', 'default', undefined],
    ]);
    expect(server.requests[0]?.userAgent).toBeTruthy();
    const write = server.writes.find((w) => w.kind === 'Secret');
    expect(write).toMatchObject({ verb: 'create', apiVersion: 'v1', namespace: 'default', name: 's' });
    expect(server.get('v1', 'Secret', 'default', 's')).toBeUndefined();
  });

  it('serves pod logs from the hook the Job runner sets', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    expect(await failure(core.readNamespacedPodLog({ namespace: 'default', name: 'p' }))).toMatchObject({ code: 400 });
    server.setPodLogSource(({ namespace, name }) => `log of ${namespace}/${name}\n`);
    expect(await core.readNamespacedPodLog({ namespace: 'default', name: 'p' })).toBe('log of default/p\n');
  });
});

describe('client-node: RBAC for ServiceAccount credentials', () => {
  it('authorizes requests made with a ServiceAccount token against the stored roles and bindings (enforceRbac)', async () => {
    const enforcing = await startApiServer({ enforceRbac: true });
    try {
      const rbac = enforcing.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
      await rbac.createNamespacedRole({
        namespace: 'default',
        body: { metadata: { name: 'requester' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }, { apiGroups: [''], resources: ['configmaps'], resourceNames: ['mine'], verbs: ['get'] }] },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: 'default',
        body: { metadata: { name: 'requester' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'requester' }, subjects: [{ kind: 'ServiceAccount', name: 'robot' }] },
      });
      await rbac.createClusterRole({ body: { metadata: { name: 'ns-reader' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }] } });
      await rbac.createClusterRoleBinding({
        body: { metadata: { name: 'ns-reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ns-reader' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts' }] },
      });
      const robot = enforcing.kubeConfig({ serviceAccount: { namespace: 'default', name: 'robot' } }).makeApiClient(k8s.CoreV1Api);
      await robot.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'mine' } } });
      expect((await robot.readNamespacedConfigMap({ namespace: 'default', name: 'mine' })).metadata?.name).toBe('mine');
      expect((await robot.listNamespace()).items.length).toBeGreaterThan(0);
      const denied = await failure(robot.listNamespacedSecret({ namespace: 'default' }));
      expect(denied).toMatchObject({ code: 403, reason: 'Forbidden' });
      expect(denied.message).toBe('secrets is forbidden: User "system:serviceaccount:default:robot" cannot list resource "secrets" in API group "" in the namespace "default"');
      expect(await failure(robot.deleteNamespacedConfigMap({ namespace: 'default', name: 'mine' }))).toMatchObject({ code: 403 });
      expect(await failure(robot.readNamespacedConfigMap({ namespace: 'default', name: 'other' }))).toMatchObject({ code: 403 });
      expect(enforcing.requests.at(-1)).toMatchObject({ verb: 'get', resource: 'configmaps', name: 'other', user: 'system:serviceaccount:default:robot' });
      expect(enforcing.writes.find((w) => w.name === 'mine')?.user).toBe('system:serviceaccount:default:robot');

      const robotRef = { namespace: 'default', name: 'robot' };
      expect(enforcing.authorize(robotRef, { verb: 'create', group: '', resource: 'configmaps', namespace: 'default' })).toBe(true);
      expect(enforcing.authorize(robotRef, { verb: 'create', group: '', resource: 'configmaps', namespace: 'other' })).toBe(false);
      expect(enforcing.authorize({ namespace: 'default', name: 'someone' }, { verb: 'create', group: '', resource: 'configmaps', namespace: 'default' })).toBe(false);
    } finally {
      await enforcing.stop();
    }
  });

  it('records the bearer token as the requester without enforcing RBAC by default', async () => {
    const daemon = server.kubeConfig({ token: 'system:serviceaccount:default:bloodraven' }).makeApiClient(k8s.CoreV1Api);
    await daemon.listNamespacedSecret({ namespace: 'default' });
    expect(server.requests.at(-1)).toMatchObject({ verb: 'list', resource: 'secrets', user: 'system:serviceaccount:default:bloodraven' });
  });
});

describe('client-node: built-in kinds', () => {
  it('defaults a Job as the real server does', async () => {
    const job = await batch.createNamespacedJob({
      namespace: 'default',
      body: { metadata: { name: 'j' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i', command: ['true'] }] } } } },
    });
    const uid = job.metadata?.uid ?? '';
    expect(job.spec).toMatchObject({ backoffLimit: 6, completions: 1, parallelism: 1, completionMode: 'NonIndexed', suspend: false, podReplacementPolicy: 'TerminatingOrFailed' });
    expect(job.spec?.selector?.matchLabels).toEqual({ 'batch.kubernetes.io/controller-uid': uid });
    const labels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'j', 'controller-uid': uid, 'job-name': 'j' };
    expect(job.spec?.template.metadata?.labels).toEqual(labels);
    expect(job.metadata?.labels).toEqual(labels);
    expect(job.status).toBeUndefined();
    // A Job PUT without resourceVersion is unconditional; the status subresource is separate.
    const { resourceVersion: _rv, ...metadata } = job.metadata ?? {};
    const replaced = await batch.replaceNamespacedJob({ namespace: 'default', name: 'j', body: { ...job, metadata: { ...metadata, labels: { ...labels, more: 'x' } }, status: { active: 5 } } });
    expect(replaced.status).toBeUndefined();
    const status = await batch.replaceNamespacedJobStatus({ namespace: 'default', name: 'j', body: { ...replaced, status: { active: 1, startTime: new Date('2026-01-02T03:04:05.678Z') } } });
    expect(status.status?.active).toBe(1);
    // metav1.Time is stored at whole seconds.
    expect(status.status?.startTime?.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(status.metadata?.generation).toBe(1);
    const immutable = await failure(batch.replaceNamespacedJob({ namespace: 'default', name: 'j', body: { ...status, spec: { ...status.spec, completions: 3 } as k8s.V1JobSpec } }));
    expect(immutable).toMatchObject({ code: 422 });
    expect(immutable.message).toContain('spec.completions');
  });

  it("checks a Job's status writes as the 1.32 server does", async () => {
    await batch.createNamespacedJob({
      namespace: 'default',
      body: { metadata: { name: 'j' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } },
    });
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const status = (body: k8s.V1JobStatus): Promise<k8s.V1Job> => batch.patchNamespacedJobStatus({ namespace: 'default', name: 'j', body: { status: body } }, merge);
    const start = new Date('2026-01-01T00:00:00Z');
    const end = new Date('2026-01-01T00:01:00Z');
    await status({ startTime: start, active: 1, ready: 1, terminating: 0, uncountedTerminatedPods: {} });
    const condition = (type: string): k8s.V1JobCondition => ({ type, status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: end, lastTransitionTime: end });
    const refusals: [string, k8s.V1JobStatus, string][] = [
      ['Complete without SuccessCriteriaMet', { active: 0, ready: 0, succeeded: 1, conditions: [condition('Complete')] }, 'without the SuccessCriteriaMet=true condition'],
      ['finished with an active pod', { ready: 0, succeeded: 1, conditions: [condition('SuccessCriteriaMet'), condition('Complete')] }, 'status.active'],
      ['completionTime without Complete', { completionTime: end }, 'status.completionTime'],
      ['completionTime before startTime', { active: 0, ready: 0, succeeded: 1, completionTime: new Date('2025-01-01T00:00:00Z'), conditions: [condition('SuccessCriteriaMet'), condition('Complete')] }, 'before startTime'],
      ['more ready than active', { ready: 2 }, 'status.ready'],
    ];
    for (const [what, body, message] of refusals) {
      const refused = await failure(status(body));
      expect(refused.code, what).toBe(422);
      expect(refused.message, what).toContain(message);
    }
    const done = await status({ active: 0, ready: 0, succeeded: 1, completionTime: end, conditions: [condition('SuccessCriteriaMet'), condition('Complete')] });
    expect(done.status?.conditions?.map((c) => c.type)).toEqual(['SuccessCriteriaMet', 'Complete']);
    const flipped = await failure(status({ conditions: [condition('SuccessCriteriaMet')] }));
    expect(flipped.message).toContain('cannot remove or flip the Complete=True condition');
    expect((await failure(status({ completionTime: new Date('2026-01-01T00:02:00Z') }))).message).toContain('status.completionTime');
  });

  it('validates built-in kinds with their published schemas and refuses bad restart policies', async () => {
    const bad = await failure(
      batch.createNamespacedJob({
        namespace: 'default',
        body: { metadata: { name: 'bad' }, spec: { backoffLimit: 'six' as unknown as number, template: { spec: { restartPolicy: 'Always', containers: [{ name: 'c' }] } } } },
      }),
    );
    expect(bad).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(bad.message).toContain('Job.batch "bad" is invalid');
    expect(bad.message).toContain('spec.backoffLimit');
    expect(bad.message).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always"');
  });

  it('rejects TZ in CronJob schedules and unknown time zones', async () => {
    const cronJob = (schedule: string, timeZone?: string): k8s.V1CronJob => ({
      metadata: { name: 'cj' },
      spec: { schedule, timeZone, jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } } },
    });
    const tz = await failure(batch.createNamespacedCronJob({ namespace: 'default', body: cronJob('CRON_TZ=UTC 0 * * * *') }));
    expect(tz).toMatchObject({ code: 422 });
    expect(tz.message).toContain('spec.schedule');
    const zone = await failure(batch.createNamespacedCronJob({ namespace: 'default', body: cronJob('0 * * * *', 'Mars/Olympus') }));
    expect(zone).toMatchObject({ code: 422 });
    expect(zone.message).toContain('spec.timeZone');
    const ok = await batch.createNamespacedCronJob({ namespace: 'default', body: cronJob('@hourly', 'Europe/Paris') });
    expect(ok.spec?.concurrencyPolicy).toBe('Allow');
  });

  it('needs exactly six fraction digits in MicroTime fields', async () => {
    const leases = kc.makeApiClient(k8s.CoordinationV1Api);
    const now = new k8s.V1MicroTime();
    const lease = await leases.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: now, renewTime: now } } });
    expect(lease.spec?.renewTime).toMatch(/\.\d{6}Z$/);
    const raw = await fetch(`${server.url}/apis/coordination.k8s.io/v1/namespaces/default/leases`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ metadata: { name: 'millis' }, spec: { renewTime: new Date().toISOString() } }),
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { message: string }).message).toContain('2006-01-02T15:04:05.000000Z07:00');
    // A Lease PUT without resourceVersion is unconditional.
    const { resourceVersion: _rv, ...metadata } = lease.metadata ?? {};
    const renewed = await leases.replaceNamespacedLease({ namespace: 'default', name: 'l', body: { ...lease, metadata, spec: { ...lease.spec, holderIdentity: 'other' } } });
    expect(renewed.spec?.holderIdentity).toBe('other');
  });

  it('checks events.k8s.io Events and core Events', async () => {
    const events = kc.makeApiClient(k8s.EventsV1Api);
    const missing = await failure(events.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'e' }, eventTime: new k8s.V1MicroTime() } }));
    expect(missing).toMatchObject({ code: 422 });
    expect(missing.message).toContain('reportingController: Required value');
    const event = await events.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'e' },
        eventTime: new k8s.V1MicroTime(),
        reportingController: 'shipstream.io/bloodraven',
        reportingInstance: 'pod-1',
        action: 'Backup',
        reason: 'Started',
        type: 'Normal',
        regarding: { kind: 'ConfigMap', name: 'x', namespace: 'default' },
      },
    });
    expect(typeof event.eventTime).toBe('string');
    const wrongNamespace = await failure(
      core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'c' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'other' } } }),
    );
    expect(wrongNamespace).toMatchObject({ code: 422 });
    const involved = await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'c2' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'X' } });
    expect(involved.reason).toBe('X');
    const byObject = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=p,involvedObject.kind=Pod' });
    expect(byObject.items.map((e) => e.metadata?.name)).toEqual(['c2']);
  });
});

describe('client-node: custom resources', () => {
  beforeEach(async () => {
    const crds = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await crds.createCustomResourceDefinition({ body: typedCrd() });
  });

  it('marks a created CRD Established and NamesAccepted', async () => {
    const crds = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = await crds.readCustomResourceDefinition({ name: 'widgets.example.test' });
    expect(crd.status?.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['NamesAccepted', 'True'],
      ['Established', 'True'],
    ]);
    expect(crd.status?.acceptedNames?.kind).toBe('Widget');
    const discovery = (await (await fetch(`${server.url}/apis/example.test/v1`)).json()) as { resources: { name: string; namespaced: boolean; shortNames?: string[] }[] };
    expect(discovery.resources.map((r) => r.name)).toEqual(['widgets', 'widgets/status']);
    expect(discovery.resources[0]).toMatchObject({ namespaced: true, shortNames: ['wd'] });
  });

  it('serves a CRD at once, with status, generation and list kinds', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...WIDGET, namespace: 'default', body: { ...widget('w'), status: { phase: 'ignored' } } })) as Widget;
    expect(w.metadata.generation).toBe(1);
    expect(w.status).toBeUndefined();
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const withStatus = (await custom.patchNamespacedCustomObjectStatus({ ...WIDGET, namespace: 'default', name: 'w', body: { status: { phase: 'Ready' }, spec: { color: 'blue' } } }, merge)) as Widget;
    expect(withStatus.status).toEqual({ phase: 'Ready' });
    expect(withStatus.spec.color).toBe('red');
    expect(withStatus.metadata.generation).toBe(1);
    const respec = (await custom.patchNamespacedCustomObject({ ...WIDGET, namespace: 'default', name: 'w', body: { spec: { color: 'blue' }, status: { phase: 'x' } } }, merge)) as Widget;
    expect(respec.metadata.generation).toBe(2);
    expect(respec.status).toEqual({ phase: 'Ready' });
    const labelOnly = (await custom.patchNamespacedCustomObject({ ...WIDGET, namespace: 'default', name: 'w', body: { metadata: { labels: { a: 'b' } } } }, merge)) as Widget;
    expect(labelOnly.metadata.generation).toBe(2);

    const list = (await custom.listCustomObjectForAllNamespaces({ group: WIDGET.group, version: WIDGET.version, resourcePlural: WIDGET.plural })) as { kind: string; items: Widget[] };
    expect(list.kind).toBe('WidgetList');
    expect(list.items[0]).toMatchObject({ apiVersion: 'example.test/v1', kind: 'Widget' });
    const noRv = await failure(custom.replaceNamespacedCustomObject({ ...WIDGET, namespace: 'default', name: 'w', body: widget('w', { color: 'red' }) }));
    expect(noRv).toMatchObject({ code: 422 });
    expect(noRv.message).toContain('metadata.resourceVersion');
    const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
    expect(await failure(custom.patchNamespacedCustomObject({ ...WIDGET, namespace: 'default', name: 'w', body: { spec: {} } }, strategic))).toMatchObject({ code: 415 });
  });

  it('prunes unknown fields, keeps preserved ones, and validates against the schema', async () => {
    const w = (await custom.createNamespacedCustomObject({
      ...WIDGET,
      namespace: 'default',
      body: { ...widget('w', { color: 'red', size: '10Gi', bogus: 1, extra: { free: { form: [1] } }, options: {} }), top: true },
    })) as Widget & { top?: boolean };
    // Unknown fields pruned, preserved ones kept, schema defaults set.
    expect(w.spec).toEqual({ color: 'red', size: '10Gi', extra: { free: { form: [1] } }, options: { retries: 3 } });
    expect(w.top).toBeUndefined();
    const invalid = await failure(
      custom.createNamespacedCustomObject({ ...WIDGET, namespace: 'default', body: widget('bad', { color: 'green', size: 1.5, count: -1 }) }),
    );
    expect(invalid).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(invalid.message).toContain('Widget.example.test "bad" is invalid: [');
    expect(invalid.message).toContain('spec.color: Unsupported value: "green": supported values: "red", "blue"');
    expect(invalid.message).toContain('spec.size: Invalid value: "number"');
    expect(invalid.message).toContain('spec.count: Invalid value: -1: spec.count in body should be greater than or equal to 0');
    const required = await failure(custom.createNamespacedCustomObject({ ...WIDGET, namespace: 'default', body: widget('req', {}) }));
    expect(required.message).toContain('spec.color: Required value');
    const strict = await fetch(`${server.url}/apis/example.test/v1/namespaces/default/widgets?fieldValidation=Strict`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(widget('strict', { color: 'red', bogus: 1 })),
    });
    expect(strict.status).toBe(400);
    expect(((await strict.json()) as { message: string }).message).toContain('strict decoding error: unknown field "spec.bogus"');
  });

  it('works through KubernetesObjectApi, which reads discovery first', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    await objects.create({ ...widget('o'), metadata: { name: 'o', namespace: 'default' } });
    const read = await objects.read<Widget>({ apiVersion: 'example.test/v1', kind: 'Widget', metadata: { name: 'o', namespace: 'default' } });
    expect(read.spec.color).toBe('red');
    const patched = (await objects.patch(
      { apiVersion: 'example.test/v1', kind: 'Widget', metadata: { name: 'o', namespace: 'default' }, spec: { color: 'blue' } },
      undefined,
      undefined,
      undefined,
      undefined,
      k8s.PatchStrategy.MergePatch,
    )) as Widget;
    expect(patched.spec.color).toBe('blue');
    const cm = await objects.create<k8s.V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, data: { a: 'b' } });
    expect(cm.metadata?.uid).toBeTruthy();
    await objects.delete({ apiVersion: 'example.test/v1', kind: 'Widget', metadata: { name: 'o', namespace: 'default' } });
    expect(server.get('example.test/v1', 'Widget', 'default', 'o')).toBeUndefined();
    expect(server.requests.some((r) => r.verb === 'get' && r.resource === 'widgets')).toBe(true);
  });

  it('removes the custom resources with their CRD', async () => {
    await custom.createNamespacedCustomObject({ ...WIDGET, namespace: 'default', body: widget('w') });
    const crds = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await crds.deleteCustomResourceDefinition({ name: 'widgets.example.test' });
    expect(await failure(custom.listNamespacedCustomObject({ ...WIDGET, namespace: 'default' }))).toMatchObject({ code: 404 });
    expect(server.list('example.test/v1', 'Widget')).toEqual([]);
  });
});

describe('client-node: watches and informers', () => {
  it('replays history from a resourceVersion, follows selector transitions, and answers 410 when compacted', async () => {
    const first = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a', labels: { app: 'x' } } } });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'b', labels: { app: 'y' } } } });
    const events: [string, string, string][] = [];
    let ended: unknown = 'open';
    const watch = new k8s.Watch(kc);
    const abort = await watch.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: first.metadata?.resourceVersion, labelSelector: 'app=x' },
      (type: string, object: k8s.V1ConfigMap) => {
        events.push([type, object.metadata?.name ?? '', object.metadata?.resourceVersion ?? '']);
      },
      (err: unknown) => {
        ended = err;
      },
    );
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'b', body: { metadata: { labels: { app: 'x' } } } }, merge);
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'a', body: { metadata: { labels: { app: 'z' } } } }, merge);
    const deleted = await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'b' });
    expect(deleted).toBeDefined();
    await until(() => events.length >= 3, 'three events');
    expect(events.map(([t, n]) => [t, n])).toEqual([
      ['ADDED', 'b'],
      ['DELETED', 'a'],
      ['DELETED', 'b'],
    ]);
    const rvs = events.map(([, , rv]) => Number(rv));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
    expect(ended).toBe('open');
    abort.abort();

    // From an RV the history no longer holds: 200, one ERROR event with code 410, then close.
    server.compactHistory();
    const expired: unknown[] = [];
    let closed = false;
    await watch.watch(
      '/api/v1/namespaces/default/configmaps',
      { resourceVersion: first.metadata?.resourceVersion },
      (type, object: { code?: number; reason?: string }) => expired.push([type, object.code, object.reason]),
      () => (closed = true),
    );
    await until(() => closed, 'the expired watch to close');
    expect(expired).toEqual([['ERROR', 410, 'Expired']]);
  });

  it('honours timeoutSeconds and dropWatches() by ending the stream', async () => {
    const watch = new k8s.Watch(kc);
    let done = 0;
    await watch.watch('/api/v1/namespaces', { timeoutSeconds: 1 }, () => undefined, () => done++);
    await until(() => done === 1, 'the timeout');
    await watch.watch('/api/v1/namespaces', {}, () => undefined, () => done++);
    await until(() => server.requests.filter((r) => r.verb === 'watch').length === 2, 'the second watch');
    server.dropWatches();
    await until(() => done === 2, 'the drop');
    expect(server.requests.filter((r) => r.verb === 'watch')).toHaveLength(2);
  });

  it("keeps makeInformer's cache right, relisting after 410", async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'a', labels: { watched: 'yes' } } } });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'watched=yes' }), 'watched=yes');
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name ?? ''}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name ?? ''}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name ?? ''}`));
    informer.on('error', (err) => errors.push(err));
    await informer.start();
    try {
      await until(() => seen.includes('add a'), 'the listed object');
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'b', labels: { watched: 'yes' } } } });
      const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
      await core.patchNamespacedConfigMap({ namespace: 'default', name: 'a', body: { data: { k: 'v' } } }, merge);
      await until(() => seen.includes('update a') && seen.includes('add b'), 'watch events');

      // Writes the informer's selector does not see move the global RV past it; after
      // compaction its re-watch is too old, gets 410, and it relists.
      for (let i = 0; i < 3; i++) await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `other-${i}` } } });
      server.compactHistory();
      const listsBefore = server.requests.filter((r) => r.verb === 'list').length;
      server.dropWatches();
      await until(() => server.requests.filter((r) => r.verb === 'list').length > listsBefore, 'the relist');
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c', labels: { watched: 'yes' } } } });
      await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'b' });
      await until(() => seen.includes('add c') && seen.includes('delete b'), 'events after the relist');
      expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(['a', 'c']);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});

describe('client-node: garbage collection and namespaces', () => {
  async function jobWithPod(name: string): Promise<k8s.V1Job> {
    const job = await batch.createNamespacedJob({
      namespace: 'default',
      body: { metadata: { name }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } },
    });
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: {
          name: `${name}-pod`,
          ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
        },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] },
      },
    });
    return job;
  }

  it('deletes dependents in the background, orphans them, or deletes them first (foreground)', async () => {
    await jobWithPod('bg');
    await batch.deleteNamespacedJob({ namespace: 'default', name: 'bg', propagationPolicy: 'Background' });
    await until(() => server.get('v1', 'Pod', 'default', 'bg-pod') === undefined, 'the background deletion');

    await jobWithPod('orphan');
    // A Job deleted without a policy orphans its pods (the legacy default).
    await batch.deleteNamespacedJob({ namespace: 'default', name: 'orphan' });
    await until(() => server.get('batch/v1', 'Job', 'default', 'orphan') === undefined, 'the job to go');
    const orphan = await core.readNamespacedPod({ namespace: 'default', name: 'orphan-pod' });
    expect(orphan.metadata?.ownerReferences).toBeUndefined();

    await jobWithPod('fg');
    await batch.deleteNamespacedJob({ namespace: 'default', name: 'fg', propagationPolicy: 'Foreground' });
    await until(() => server.get('batch/v1', 'Job', 'default', 'fg') === undefined, 'the foreground deletion');
    expect(server.get('v1', 'Pod', 'default', 'fg-pod')).toBeUndefined();
    const order = server.requests.length; // GC is the server's own: no client requests needed.
    expect(order).toBeGreaterThan(0);
  });

  it('deletes a namespace: Terminating, then its objects (waiting on finalizers), then itself', async () => {
    const crds = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await crds.createCustomResourceDefinition({ body: typedCrd() });
    await createNamespace('doomed');
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } });
    await custom.createNamespacedCustomObject({ ...WIDGET, namespace: 'doomed', body: { ...widget('held'), metadata: { name: 'held', finalizers: ['example.test/hold'] } } });
    await core.deleteNamespace({ name: 'doomed' });
    const terminating = await core.readNamespace({ name: 'doomed' });
    expect(terminating.status?.phase).toBe('Terminating');
    const refused = await failure(core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }));
    expect(refused).toMatchObject({ code: 403, reason: 'Forbidden' });
    await until(() => server.get('v1', 'ConfigMap', 'doomed', 'c') === undefined, 'the config map to go');
    const held = (await custom.getNamespacedCustomObject({ ...WIDGET, namespace: 'doomed', name: 'held' })) as Widget;
    expect(held.metadata.deletionTimestamp).toBeTruthy();
    expect((await core.readNamespace({ name: 'doomed' })).metadata?.name).toBe('doomed');
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    await custom.patchNamespacedCustomObject({ ...WIDGET, namespace: 'doomed', name: 'held', body: { metadata: { finalizers: null } } }, merge);
    await until(() => server.get('v1', 'Namespace', undefined, 'doomed') === undefined, 'the namespace to go');
  });
});

// ---------------------------------------------------------------- kubectl

const KUBECTL = '/usr/bin/kubectl';

describe('kubectl', () => {
  let home: string;
  let kubeconfig: string;

  beforeAll(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'bloodraven-kubectl-'));
  });

  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  beforeEach(async (context) => {
    // Each test its own HOME, so kubectl's discovery cache never outlives a server.
    const dir = path.join(home, context.task.id);
    await mkdir(dir, { recursive: true });
    kubeconfig = path.join(dir, 'kubeconfig');
    await server.writeKubeconfig(kubeconfig);
  });

  function kubectl(args: string[], options: { timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const dir = path.dirname(kubeconfig);
    return new Promise((resolve) => {
      execFile(
        KUBECTL,
        args,
        { env: { HOME: dir, KUBECONFIG: kubeconfig, PATH: process.env.PATH ?? '/usr/bin' }, cwd: dir, timeout: options.timeoutMs ?? 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async function ok(args: string[]): Promise<string> {
    const result = await kubectl(args);
    expect(result.stderr, `kubectl ${args.join(' ')}`).toBe('');
    expect(result.code, `kubectl ${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  }

  async function file(name: string, content: unknown): Promise<string> {
    const target = path.join(path.dirname(kubeconfig), name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, typeof content === 'string' ? content : JSON.stringify(content));
    return target;
  }

  it('applies a CRD, creates a CR and lists it with the printer columns', async () => {
    expect(await ok(['apply', '-f', await file('crd.json', WIDGET_CRD)])).toContain('customresourcedefinition.apiextensions.k8s.io/widgets.example.test created');
    expect(await ok(['create', '-f', await file('w.json', widget('w1', { color: 'blue', size: 3 }))])).toContain('widget.example.test/w1 created');
    const table = await ok(['get', 'widgets']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'COLOR', 'SIZE', 'PHASE', 'AGE']);
    expect(row).toMatch(/^w1\s+blue\s+3\s+\d+s$/);
    expect(await ok(['get', 'wd', 'w1', '-o', 'jsonpath={.spec.color}'])).toBe('blue');
    // Client-side apply of a CR: a merge patch carrying last-applied-configuration.
    await ok(['apply', '-f', await file('w2.json', widget('w2'))]);
    expect(await ok(['apply', '-f', await file('w2.json', widget('w2', { color: 'blue' }))])).toContain('widget.example.test/w2 configured');
    const stored = server.get('example.test/v1', 'Widget', 'default', 'w2');
    expect(stored?.spec).toEqual({ color: 'blue' });
    expect(JSON.stringify(stored?.metadata)).toContain('kubectl.kubernetes.io/last-applied-configuration');
  });

  it('refuses an invalid CR naming the field, and unknown fields under strict validation', async () => {
    await ok(['apply', '-f', await file('crd.json', WIDGET_CRD)]);
    const invalid = await kubectl(['create', '-f', await file('bad.json', widget('bad', { color: 'green' }))]);
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain('The Widget "bad" is invalid');
    expect(invalid.stderr).toContain('spec.color: Unsupported value: "green"');
    const unknown = await kubectl(['create', '-f', await file('unknown.json', widget('unk', { color: 'red', bogus: true }))]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown field "spec.bogus"');
    const unknownBuiltIn = await kubectl(['create', '-f', await file('cm.json', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, dataa: {} })]);
    expect(unknownBuiltIn.stderr).toContain('unknown field "dataa"');
    expect(server.list('example.test/v1', 'Widget')).toEqual([]);
  });

  it('waits on a jsonpath condition and streams changes with get -w', async () => {
    await ok(['apply', '-f', await file('crd.json', WIDGET_CRD)]);
    await ok(['create', '-f', await file('w.json', widget('w'))]);
    const waiting = kubectl(['wait', '--for=jsonpath={.status.phase}=Done', 'widget/w', '--timeout=30s']);
    const watching = kubectl(['get', 'widgets', '-w', '--request-timeout=4s'], { timeoutMs: 30_000 });
    await until(() => server.requests.filter((r) => r.verb === 'watch' && r.resource === 'widgets').length >= 2, 'both watches');
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    await custom.patchNamespacedCustomObjectStatus({ ...WIDGET, namespace: 'default', name: 'w', body: { status: { phase: 'Done' } } }, merge);
    const waited = await waiting;
    expect(waited.stdout).toContain('widget.example.test/w condition met');
    expect(waited.code).toBe(0);
    const watched = await watching;
    const rows = watched.stdout.trim().split('\n');
    expect(rows[0]?.split(/\s+/)).toEqual(['NAME', 'COLOR', 'SIZE', 'PHASE', 'AGE']);
    expect(rows.at(-1)).toMatch(/^w\s+red\s+Done\s+\d+s$/);
  });

  it('delete waits for a finalizer the test then removes', async () => {
    await ok(['apply', '-f', await file('crd.json', WIDGET_CRD)]);
    await ok(['create', '-f', await file('w.json', { ...widget('held'), metadata: { name: 'held', finalizers: ['example.test/hold'] } })]);
    const deleting = kubectl(['delete', 'widget', 'held', '--timeout=30s']);
    const held = await until(() => {
      const object = server.get('example.test/v1', 'Widget', 'default', 'held');
      return (object?.metadata as { deletionTimestamp?: string } | undefined)?.deletionTimestamp ? object : undefined;
    }, 'the deletionTimestamp');
    expect(held).toBeTruthy();
    await until(() => server.requests.some((r) => r.verb === 'watch' && r.resource === 'widgets'), 'kubectl to watch');
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    await custom.patchNamespacedCustomObject({ ...WIDGET, namespace: 'default', name: 'held', body: { metadata: { finalizers: null } } }, merge);
    const deleted = await deleting;
    expect(deleted.stdout).toContain('widget.example.test "held" deleted');
    expect(deleted.code).toBe(0);
    expect(server.get('example.test/v1', 'Widget', 'default', 'held')).toBeUndefined();
  });

  it('creates namespaces, secrets, config maps and service accounts imperatively (protobuf bodies)', async () => {
    expect(await ok(['create', 'namespace', 'imp'])).toContain('namespace/imp created');
    await ok(['-n', 'imp', 'create', 'secret', 'generic', 'creds', '--from-literal=MYSQL_USER=backup', '--from-literal=MYSQL_PASSWORD=s3cr3t']);
    await ok(['-n', 'imp', 'create', 'configmap', 'settings', '--from-literal=a=b', '--save-config']);
    await ok(['-n', 'imp', 'create', 'serviceaccount', 'robot']);
    const secret = server.get('v1', 'Secret', 'imp', 'creds');
    expect(secret).toMatchObject({ type: 'Opaque', data: { MYSQL_USER: Buffer.from('backup').toString('base64'), MYSQL_PASSWORD: Buffer.from('s3cr3t').toString('base64') } });
    const configMap = server.get('v1', 'ConfigMap', 'imp', 'settings');
    expect(configMap?.data).toEqual({ a: 'b' });
    expect(JSON.stringify(configMap?.metadata)).toContain('last-applied-configuration');
    expect(server.get('v1', 'ServiceAccount', 'imp', 'robot')).toBeDefined();
    expect(server.get('v1', 'Namespace', undefined, 'imp')).toMatchObject({ spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  });

  it('answers auth can-i from the stored RBAC objects', async () => {
    await file('rbac.yaml', [
      'apiVersion: rbac.authorization.k8s.io/v1',
      'kind: Role',
      'metadata: {name: requester}',
      'rules: [{apiGroups: ["example.test"], resources: [widgets], verbs: [create]}]',
      '---',
      'apiVersion: rbac.authorization.k8s.io/v1',
      'kind: RoleBinding',
      'metadata: {name: requester}',
      'roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: requester}',
      'subjects: [{kind: ServiceAccount, name: requester, namespace: default}]',
      '',
    ].join('\n'));
    await ok(['apply', '-f', await file('crd.json', WIDGET_CRD)]);
    await ok(['apply', '-f', path.join(path.dirname(kubeconfig), 'rbac.yaml')]);
    const as = '--as=system:serviceaccount:default:requester';
    expect((await ok(['auth', 'can-i', 'create', 'widgets.example.test', as])).trim()).toBe('yes');
    const no = await kubectl(['auth', 'can-i', 'delete', 'widgets.example.test', as]);
    expect([no.code, no.stdout.trim()]).toEqual([1, 'no']);
  });

  it('applies a kustomization with a namespace, a generated ConfigMap and a CR, and re-applies it', async () => {
    await ok(['apply', '-f', await file('crd.json', WIDGET_CRD)]);
    await file('kz/kustomization.yaml', 'namespace: kz\nresources: [ns.yaml, widget.yaml]\nconfigMapGenerator:\n  - name: settings\n    literals: [a=b]\n');
    await file('kz/ns.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kz\n');
    await file('kz/widget.yaml', 'apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: kw\nspec:\n  color: blue\n  size: 10Gi\n');
    const dir = path.join(path.dirname(kubeconfig), 'kz');
    const first = await ok(['apply', '-k', dir]);
    expect(first).toContain('namespace/kz created');
    expect(first).toMatch(/configmap\/settings-\w+ created/);
    expect(first).toContain('widget.example.test/kw created');
    expect(await ok(['apply', '-k', dir])).toContain('widget.example.test/kw unchanged');
    await file('kz/widget.yaml', 'apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: kw\nspec:\n  color: red\n');
    expect(await ok(['apply', '-k', dir])).toContain('widget.example.test/kw configured');
    expect(server.get('example.test/v1', 'Widget', 'kz', 'kw')?.spec).toEqual({ color: 'red' });
    const cms = server.list('v1', 'ConfigMap', 'kz');
    expect(cms).toHaveLength(1);
    expect(cms[0]?.data).toEqual({ a: 'b' });
  });
});
