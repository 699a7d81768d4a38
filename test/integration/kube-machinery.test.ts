/**
 * The controller machinery (src/daemon/kube) against the test API server, through the real
 * @kubernetes/client-node: leader election on a Lease, informers (watch resume, 410 relist,
 * restart after errors), the status writer (no-op skip, conflict retry, finalizers), events,
 * the controller's leadership terms, and the daemon's /readyz and /pitr-cutoff.
 */
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Job,
  type V1Lease,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type LogEntry } from '../../src/lib/log.js';
import { Controller, watch } from '../../src/daemon/kube/controller.js';
import { KubeApiError } from '../../src/daemon/kube/errors.js';
import { EventRecorder, referenceTo, reportingController } from '../../src/daemon/kube/events.js';
import { customResourceSource, Informer, jobSource, keyOf, type InformerEventType } from '../../src/daemon/kube/informer.js';
import { LeaderElector, type LeaderElectionConfig } from '../../src/daemon/kube/leader-election.js';
import { addFinalizer, removeFinalizer, updateStatus, type CustomObject, type CustomObjectRef } from '../../src/daemon/kube/status-writer.js';
import { startHttpServer } from '../../src/daemon/http.js';
import { startApiServer, type TestApiServer } from '../support/kube/api-server.js';

const group = 'test.shipstream.io';
const version = 'v1';
const plural = 'widgets';
const widgets = { group, version, plural };

let server: TestApiServer;
let kc: KubeConfig;
let custom: CustomObjectsApi;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  server = await startApiServer();
  kc = server.kubeConfig();
  custom = kc.makeApiClient(CustomObjectsApi);
  await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
    body: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind: 'Widget', listKind: 'WidgetList', plural, singular: 'widget' },
        versions: [
          {
            name: version,
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
                  status: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
                },
              },
            },
          },
        ],
      },
    },
  });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await server.stop();
});

/** Polls `check` until it returns true (fails the test after `timeoutMs`). */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

let nsSeq = 0;
/** A fresh namespace per test, so tests do not see each other's objects. */
async function namespace(): Promise<string> {
  const name = `t${process.pid}-${++nsSeq}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

async function createWidget(ns: string, name: string, spec: Record<string, unknown> = {}): Promise<CustomObject> {
  return (await custom.createNamespacedCustomObject({ ...widgets, namespace: ns, body: { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name }, spec } })) as CustomObject;
}

async function patchWidget(ns: string, name: string, body: Record<string, unknown>): Promise<void> {
  await custom.patchNamespacedCustomObject({ ...widgets, namespace: ns, name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

/**
 * A TCP pass-through to the API server that can be cut (every connection reset, new ones
 * refused) and restored: a network partition for one client.
 */
async function startCuttableProxy(target: string): Promise<{ kubeConfig: KubeConfig; cut(): void; restore(): void; stop(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let isCut = false;
  const proxy: Server = createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    upstream.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromClusterAndUser({ name: 'proxied', server: url, skipTLSVerify: true }, { name: 'nobody' });
  return {
    kubeConfig,
    cut() {
      isCut = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    restore() {
      isCut = false;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}

describe('leader election', () => {
  // Short, with client-go's proportions kept loose enough for a loaded 2-core machine: a leader
  // cut off gives up 1.5 s after its last renewal, a standby waits 3 s after seeing it.
  const short = { leaseDurationMs: 3000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

  interface Candidate {
    elector: LeaderElector;
    stop: AbortController;
    done: Promise<void>;
    /** Each term's signal, in order. */
    terms: AbortSignal[];
    log: string[];
  }

  function candidate(ns: string, identity: string, kubeConfig: KubeConfig = kc, log: string[] = []): Candidate {
    const terms: AbortSignal[] = [];
    const config: LeaderElectionConfig = {
      api: kubeConfig.makeApiClient(CoordinationV1Api),
      namespace: ns,
      name: 'bloodraven-controller',
      identity,
      ...short,
      logger: silentLogger,
      onStartedLeading: (signal) => {
        terms.push(signal);
        log.push(`${identity} started`);
        signal.addEventListener('abort', () => log.push(`${identity} stopped`));
      },
    };
    const elector = new LeaderElector(config);
    const stop = new AbortController();
    const done = elector.run(stop.signal);
    cleanups.push(async () => {
      stop.abort();
      await done;
    });
    return { elector, stop, done, terms, log };
  }

  async function readLease(ns: string): Promise<V1Lease> {
    return kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns, name: 'bloodraven-controller' });
  }

  it('of two candidates exactly one leads; stopping it releases the Lease and the other takes over', async () => {
    const ns = await namespace();
    const log: string[] = [];
    const a = candidate(ns, 'pod-a', kc, log);
    const b = candidate(ns, 'pod-b', kc, log);
    await eventually('a leader', () => a.elector.isLeader || b.elector.isLeader);
    // Several renew periods: never two leaders at once, and the same one throughout.
    const first = a.elector.isLeader ? a : b;
    const second = first === a ? b : a;
    for (let i = 0; i < 12; i++) {
      expect(a.elector.isLeader && b.elector.isLeader, 'two leaders at once').toBe(false);
      expect(first.elector.isLeader).toBe(true);
      await sleep(100);
    }
    const lease = await readLease(ns);
    const firstId = first === a ? 'pod-a' : 'pod-b';
    expect(lease.spec?.holderIdentity).toBe(firstId);
    expect(lease.spec?.leaseDurationSeconds).toBe(3);
    expect(lease.spec?.leaseTransitions).toBe(0);
    // MicroTime: exactly six fraction digits (client-node gives strings for these fields).
    expect(String(lease.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(String(lease.spec?.acquireTime)).toMatch(/\.\d{6}Z$/);
    expect(second.elector.leader).toBe(firstId);

    first.stop.abort();
    await first.done;
    expect(first.terms[0]?.aborted, "the old leader's term signal fired").toBe(true);
    await eventually('the standby leads', () => second.elector.isLeader);
    const after = await readLease(ns);
    expect(after.spec?.holderIdentity).toBe(first === a ? 'pod-b' : 'pod-a');
    expect(after.spec?.leaseTransitions).toBe(1);
    expect(after.spec?.leaseDurationSeconds).toBe(3);
    // The old leader stopped before the new one started.
    expect(log.indexOf(`${firstId} stopped`)).toBeLessThan(log.lastIndexOf(`${first === a ? 'pod-b' : 'pod-a'} started`));
  });

  it('a leader cut off from the API stops leading after the renew deadline, before the standby takes over', async () => {
    const ns = await namespace();
    const proxy = await startCuttableProxy(server.url);
    cleanups.push(() => proxy.stop());
    const log: string[] = [];
    const a = candidate(ns, 'pod-a', proxy.kubeConfig, log);
    await eventually('pod-a leads', () => a.elector.isLeader);
    const b = candidate(ns, 'pod-b', kc, log);
    await eventually('pod-b has seen the Lease', () => b.elector.leader === 'pod-a');
    proxy.cut();
    await eventually('pod-a stops leading', () => a.terms[0]?.aborted === true);
    expect(a.elector.isLeader).toBe(false);
    await eventually('pod-b leads', () => b.elector.isLeader);
    expect(log).toEqual(['pod-a started', 'pod-a stopped', 'pod-b started']);
    const lease = await readLease(ns);
    expect(lease.spec?.holderIdentity).toBe('pod-b');
    expect(lease.spec?.leaseTransitions).toBe(1);
    // Back on the network, pod-a respects pod-b's Lease.
    proxy.restore();
    await eventually('pod-a sees pod-b', () => a.elector.leader === 'pod-b');
    await sleep(short.leaseDurationMs);
    expect(a.elector.isLeader).toBe(false);
    expect(b.elector.isLeader).toBe(true);
  });

  it("respects a stranger's Lease while it is renewed, and takes it once it expires", async () => {
    const ns = await namespace();
    const leases = kc.makeApiClient(CoordinationV1Api);
    const now = (): string => new Date().toISOString().replace('Z', '000Z');
    await leases.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'bloodraven-controller' }, spec: { holderIdentity: 'stranger', leaseDurationSeconds: 2, renewTime: now() as never, acquireTime: now() as never, leaseTransitions: 4 } },
    });
    const a = candidate(ns, 'pod-a');
    // The stranger renews for longer than the lease duration; pod-a must not lead meanwhile.
    for (let i = 0; i < 8; i++) {
      await sleep(400);
      const lease = await readLease(ns);
      await leases.replaceNamespacedLease({ namespace: ns, name: 'bloodraven-controller', body: { ...lease, spec: { ...lease.spec, renewTime: now() as never } } });
      expect(a.elector.isLeader, 'led while the stranger renewed').toBe(false);
    }
    expect(a.elector.leader).toBe('stranger');
    await eventually('pod-a takes the expired Lease', () => a.elector.isLeader);
    const lease = await readLease(ns);
    expect(lease.spec?.holderIdentity).toBe('pod-a');
    expect(lease.spec?.leaseTransitions).toBe(5);
  });
});

describe('informer', () => {
  function recorder<T extends CustomObject>(informer: Informer<T>): Array<[InformerEventType, string, string]> {
    const seen: Array<[InformerEventType, string, string]> = [];
    informer.on((type, obj) => seen.push([type, obj.metadata?.name ?? '', String((obj.spec as { v?: number } | undefined)?.v ?? '')]));
    return seen;
  }

  function startInformer<T extends CustomObject>(ns: string, kubeConfig: KubeConfig = kc, logs: LogEntry[] = [], watchInactivityTimeoutMs?: number): Informer<T> {
    const informer = new Informer<T>(kubeConfig, customResourceSource<T>(kubeConfig, widgets, { namespace: ns }), {
      logger: createLogger((e) => logs.push(e), 'debug'),
      restartBackoff: { baseMs: 100, maxMs: 1000 },
      ...(watchInactivityTimeoutMs === undefined ? {} : { watchInactivityTimeoutMs }),
    });
    cleanups.push(() => informer.stop());
    return informer;
  }

  const listsOf = (ns: string): number => server.requests.filter((r) => r.verb === 'list' && r.resource === plural && r.namespace === ns).length;
  const watchesOf = (ns: string): number => server.requests.filter((r) => r.verb === 'watch' && r.resource === plural && r.namespace === ns).length;
  /** start() resolves once the list is in; the watch request follows just after. */
  const watching = (ns: string, n = 1): Promise<void> => eventually(`watch #${n} open`, () => watchesOf(ns) >= n);

  it('lists, then follows changes, and after dropped watches misses and repeats nothing', async () => {
    const ns = await namespace();
    await createWidget(ns, 'w1', { v: 1 });
    await createWidget(ns, 'w2', { v: 1 });
    const informer = startInformer(ns);
    const seen = recorder(informer);
    await informer.start();
    expect(informer.synced).toBe(true);
    expect(seen).toEqual([
      ['add', 'w1', '1'],
      ['add', 'w2', '1'],
    ]);
    await createWidget(ns, 'w3', { v: 1 });
    await patchWidget(ns, 'w1', { spec: { v: 2 } });
    await custom.deleteNamespacedCustomObject({ ...widgets, namespace: ns, name: 'w2' });
    await eventually('three events', () => seen.length === 5);
    expect(seen.slice(2)).toEqual([
      ['add', 'w3', '1'],
      ['update', 'w1', '2'],
      ['delete', 'w2', '1'],
    ]);

    const lists = listsOf(ns);
    server.dropWatches();
    // Written while no watch is open: the re-watch from the last resourceVersion replays them.
    await createWidget(ns, 'w4', { v: 1 });
    await patchWidget(ns, 'w3', { spec: { v: 2 } });
    await custom.deleteNamespacedCustomObject({ ...widgets, namespace: ns, name: 'w1' });
    await eventually('the replayed events', () => seen.length === 8);
    await sleep(300);
    expect(seen.slice(5)).toEqual([
      ['add', 'w4', '1'],
      ['update', 'w3', '2'],
      ['delete', 'w1', '2'],
    ]);
    expect(listsOf(ns), 'resumed without a relist').toBe(lists);
    expect(informer.list(ns).map((w) => w.metadata?.name).sort()).toEqual(['w3', 'w4']);
    expect(informer.get(ns, 'w3')?.spec).toEqual({ v: 2 });
  });

  it('relists after 410 Expired: vanished objects are deleted, new and changed ones seen once', async () => {
    const ns = await namespace();
    // Kept off the server while things change and the history is compacted, the informer comes
    // back with a resourceVersion older than the history: the server answers 410.
    const proxy = await startCuttableProxy(server.url);
    cleanups.push(() => proxy.stop());
    await createWidget(ns, 'keep', { v: 1 });
    await createWidget(ns, 'gone', { v: 1 });
    await createWidget(ns, 'changed', { v: 1 });
    const informer = startInformer(ns, proxy.kubeConfig);
    const seen = recorder(informer);
    await informer.start();
    seen.length = 0;
    const lists = listsOf(ns);
    const rvBefore = informer.resourceVersion;

    proxy.cut();
    await custom.deleteNamespacedCustomObject({ ...widgets, namespace: ns, name: 'gone' });
    await patchWidget(ns, 'changed', { spec: { v: 2 } });
    await createWidget(ns, 'new', { v: 1 });
    server.compactHistory();
    server.dropWatches();
    proxy.restore();
    await eventually('the relist', () => listsOf(ns) > lists);
    await eventually('three events', () => seen.length >= 3);
    await sleep(300);
    expect([...seen].sort()).toEqual([
      ['add', 'new', '1'],
      ['delete', 'gone', '1'],
      ['update', 'changed', '2'],
    ]);
    expect(informer.list(ns).map((w) => w.metadata?.name).sort()).toEqual(['changed', 'keep', 'new']);
    expect(Number(informer.resourceVersion)).toBeGreaterThan(Number(rvBefore));
    // And it watches again afterwards.
    await patchWidget(ns, 'keep', { spec: { v: 3 } });
    await eventually('the next change', () => seen.some(([t, n, v]) => t === 'update' && n === 'keep' && v === '3'));
    expect(seen).toHaveLength(4);
  });

  it('after dropped watches and a compacted history, still misses nothing', async () => {
    const ns = await namespace();
    await createWidget(ns, 'a', { v: 1 });
    const informer = startInformer(ns);
    const seen = recorder(informer);
    await informer.start();
    await watching(ns);
    // Compaction at the informer's own resourceVersion: resuming from it is still allowed.
    server.compactHistory();
    server.dropWatches();
    await watching(ns, 2);
    await createWidget(ns, 'b', { v: 1 });
    await patchWidget(ns, 'a', { spec: { v: 2 } });
    await eventually('both changes', () => seen.length === 3);
    await sleep(300);
    expect(seen).toEqual([
      ['add', 'a', '1'],
      ['add', 'b', '1'],
      ['update', 'a', '2'],
    ]);
  });

  it("through many client-side watch timeouts (client-node's 30 s, shortened) and dropped watches, sees every change exactly once", async () => {
    const ns = await namespace();
    const informer = startInformer(ns, kc, [], 150);
    const seen = recorder(informer);
    await informer.start();
    const expected: Array<[InformerEventType, string, string]> = [];
    for (let round = 1; round <= 8; round++) {
      const name = `w${round}`;
      await createWidget(ns, name, { v: 1 });
      expected.push(['add', name, '1']);
      if (round > 1) {
        await patchWidget(ns, `w${round - 1}`, { spec: { v: 2 } });
        expected.push(['update', `w${round - 1}`, '2']);
      }
      if (round % 3 === 0) server.dropWatches();
      // Quiet for longer than the timeout: the watch is ended client-side and opened again.
      await sleep(250);
    }
    await eventually('every change', () => seen.length >= expected.length);
    await sleep(300);
    expect(seen).toEqual(expected);
    expect(watchesOf(ns), 'the watch was opened again many times').toBeGreaterThanOrEqual(8);
  });

  it('opens no watch once stopped, even when stopped during the reconnect delay', async () => {
    const ns = await namespace();
    const informer = startInformer(ns);
    await informer.start();
    await watching(ns);
    // The first re-watch is immediate; the next one waits (client-node's 1 s while quiet).
    server.dropWatches();
    await watching(ns, 2);
    server.dropWatches();
    await sleep(100);
    await informer.stop();
    await sleep(1500);
    expect(watchesOf(ns)).toBe(2);
  });

  it('restarts itself after a connection error and resumes from its resourceVersion', async () => {
    const ns = await namespace();
    const proxy = await startCuttableProxy(server.url);
    cleanups.push(() => proxy.stop());
    await createWidget(ns, 'w1', { v: 1 });
    const logs: LogEntry[] = [];
    const informer = startInformer(ns, proxy.kubeConfig, logs);
    const seen = recorder(informer);
    await informer.start();
    const lists = listsOf(ns);

    proxy.cut();
    await eventually('the failure is logged', () => logs.some((e) => e.message === 'watch failed, restarting'));
    await createWidget(ns, 'w2', { v: 1 });
    await patchWidget(ns, 'w1', { spec: { v: 2 } });
    await sleep(500);
    proxy.restore();
    await eventually('the missed changes', () => seen.length === 3);
    await sleep(300);
    expect(seen).toEqual([
      ['add', 'w1', '1'],
      ['add', 'w2', '1'],
      ['update', 'w1', '2'],
    ]);
    expect(listsOf(ns), 'resumed from its resourceVersion, no relist').toBe(lists);
  });

  it('start() waits through a failing first list, and resolves once it is in', async () => {
    const ns = await namespace();
    const proxy = await startCuttableProxy(server.url);
    cleanups.push(() => proxy.stop());
    await createWidget(ns, 'w1');
    proxy.cut();
    const logs: LogEntry[] = [];
    const informer = startInformer(ns, proxy.kubeConfig, logs);
    let synced = false;
    const started = informer.start().then(() => (synced = true));
    await eventually('two failed attempts', () => logs.filter((e) => e.message === 'watch failed, restarting').length >= 2);
    expect(synced).toBe(false);
    proxy.restore();
    await started;
    expect(informer.list(ns).map((w) => w.metadata?.name)).toEqual(['w1']);
  });

  it('caches Jobs as model objects whether they came from the list or from the watch', async () => {
    const ns = await namespace();
    const batch = kc.makeApiClient(BatchV1Api);
    const job = (name: string): V1Job => ({
      metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'bloodraven' } },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
    });
    await batch.createNamespacedJob({ namespace: ns, body: job('listed') });
    await batch.createNamespacedJob({ namespace: ns, body: { ...job('other'), metadata: { name: 'other' } } });
    const informer = new Informer(kc, jobSource(kc, { namespace: ns, labelSelector: 'app.kubernetes.io/managed-by=bloodraven' }), { logger: silentLogger });
    cleanups.push(() => informer.stop());
    await informer.start();
    await batch.createNamespacedJob({ namespace: ns, body: job('watched') });
    await eventually('the watched Job', () => informer.get(ns, 'watched') !== undefined);
    expect(informer.list(ns).map((j) => j.metadata?.name).sort(), 'the label selector applies').toEqual(['listed', 'watched']);
    expect(informer.get(ns, 'listed')?.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(informer.get(ns, 'watched')?.metadata?.creationTimestamp).toBeInstanceOf(Date);
  });
});

describe('status writer', () => {
  type Widget = CustomObject<{ v?: number }, { phase?: string; seen?: number }>;
  const ref = (ns: string, name: string): CustomObjectRef => ({ ...widgets, namespace: ns, name });
  const writesTo = (ns: string, name: string): number => server.writes.filter((w) => w.namespace === ns && w.name === name).length;

  it('writes a changed status, and writes nothing when it is unchanged', async () => {
    const ns = await namespace();
    await createWidget(ns, 'w', { v: 1 });
    const first = await updateStatus<Widget>(custom, ref(ns, 'w'), () => ({ phase: 'Running' }));
    expect(first.written).toBe(true);
    expect(first.object?.status).toEqual({ phase: 'Running' });
    const writes = writesTo(ns, 'w');
    const rv = first.object?.metadata?.resourceVersion;
    const again = await updateStatus<Widget>(custom, ref(ns, 'w'), (latest) => ({ ...latest.status, phase: 'Running' }));
    expect(again.written).toBe(false);
    expect(writesTo(ns, 'w'), 'no write at all').toBe(writes);
    expect(again.object?.metadata?.resourceVersion).toBe(rv);
    const none = await updateStatus<Widget>(custom, ref(ns, 'w'), () => undefined);
    expect(none.written).toBe(false);
    expect(writesTo(ns, 'w')).toBe(writes);
  });

  it('after a 409 Conflict computes again from the latest object and writes that', async () => {
    const ns = await namespace();
    await createWidget(ns, 'w', { v: 1 });
    let calls = 0;
    const outcome = await updateStatus<Widget>(custom, ref(ns, 'w'), async (latest) => {
      calls++;
      // Someone else writes between our read and our write, the first time only.
      if (calls === 1) await patchWidget(ns, 'w', { spec: { v: 2 } });
      return { phase: 'Seen', seen: latest.spec?.v ?? 0 };
    });
    expect(calls).toBe(2);
    expect(outcome.written).toBe(true);
    expect(outcome.object?.status).toEqual({ phase: 'Seen', seen: 2 });
    expect(outcome.object?.spec).toEqual({ v: 2 });
  });

  it('gives up after maxAttempts conflicts with a KUBE_CONFLICT error', async () => {
    const ns = await namespace();
    await createWidget(ns, 'w', { v: 1 });
    let calls = 0;
    const run = updateStatus<Widget>(
      custom,
      ref(ns, 'w'),
      async () => {
        calls++;
        await patchWidget(ns, 'w', { spec: { v: 100 + calls } });
        return { phase: 'Never' };
      },
      { maxAttempts: 3 },
    );
    await expect(run).rejects.toSatisfy((err: unknown) => err instanceof KubeApiError && err.status === 409 && err.code === 'KUBE_CONFLICT');
    expect(calls).toBe(3);
  });

  it('adds and removes a finalizer; removing the last one lets a deleted object go', async () => {
    const ns = await namespace();
    await createWidget(ns, 'w');
    const added = await addFinalizer<Widget>(custom, ref(ns, 'w'), 'shipstream.io/test');
    expect(added.written).toBe(true);
    expect(added.object?.metadata?.finalizers).toEqual(['shipstream.io/test']);
    const writes = writesTo(ns, 'w');
    expect((await addFinalizer<Widget>(custom, ref(ns, 'w'), 'shipstream.io/test')).written).toBe(false);
    expect(writesTo(ns, 'w')).toBe(writes);

    await custom.deleteNamespacedCustomObject({ ...widgets, namespace: ns, name: 'w' });
    const held = (await custom.getNamespacedCustomObject({ ...widgets, namespace: ns, name: 'w' })) as Widget;
    expect(held.metadata?.deletionTimestamp).toBeTruthy();
    // Being deleted: a finalizer may not be added any more, and is not tried.
    expect((await addFinalizer<Widget>(custom, ref(ns, 'w'), 'shipstream.io/other')).written).toBe(false);
    const removed = await removeFinalizer<Widget>(custom, ref(ns, 'w'), 'shipstream.io/test');
    expect(removed.written).toBe(true);
    await expect(custom.getNamespacedCustomObject({ ...widgets, namespace: ns, name: 'w' })).rejects.toMatchObject({ code: 404 });
    const gone = await removeFinalizer<Widget>(custom, ref(ns, 'w'), 'shipstream.io/test');
    expect(gone).toEqual({ written: false, object: undefined });
  });
});

describe('events', () => {
  it('writes events.k8s.io/v1 Events, and a repeat joins the first one as a series', async () => {
    const ns = await namespace();
    const widget = await createWidget(ns, 'w');
    const events = kc.makeApiClient(EventsV1Api);
    const recorder = new EventRecorder({ api: events, reportingInstance: 'bloodraven-7d9f-abcde', logger: silentLogger });
    const regarding = referenceTo(widget);
    await recorder.record({ regarding, type: 'Warning', reason: 'BackupFailed', action: 'Backup', note: 'dump failed: access denied' });
    await recorder.record({ regarding, type: 'Warning', reason: 'BackupFailed', action: 'Backup', note: 'dump failed: access denied' });
    await recorder.record({ regarding, type: 'Warning', reason: 'BackupFailed', action: 'Backup', note: 'dump failed: access denied' });
    await recorder.record({ regarding, type: 'Normal', reason: 'BackupStarted', action: 'Backup', note: 'from site b' });
    const list = await events.listNamespacedEvent({ namespace: ns });
    expect(list.items).toHaveLength(2);
    const failed = list.items.find((e) => e.reason === 'BackupFailed');
    expect(failed?.series?.count).toBe(3);
    expect(String(failed?.series?.lastObservedTime)).toMatch(/\.\d{6}Z$/);
    expect(String(failed?.eventTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(failed).toMatchObject({
      reportingController,
      reportingInstance: 'bloodraven-7d9f-abcde',
      type: 'Warning',
      action: 'Backup',
      note: 'dump failed: access denied',
      regarding: { kind: 'Widget', apiVersion: `${group}/${version}`, namespace: ns, name: 'w', uid: widget.metadata?.uid },
    });
    expect(list.items.find((e) => e.reason === 'BackupStarted')?.series).toBeUndefined();
  });

  it('starts a new Event once the series window has passed', async () => {
    const ns = await namespace();
    const widget = await createWidget(ns, 'w');
    const events = kc.makeApiClient(EventsV1Api);
    let now = new Date('2026-11-30T06:00:00Z');
    const recorder = new EventRecorder({ api: events, reportingInstance: 'pod-x', logger: silentLogger, now: () => now, seriesWindowMs: 60_000 });
    const event = { regarding: referenceTo(widget), type: 'Normal' as const, reason: 'BackupStarted', action: 'Backup', note: 'again' };
    await recorder.record(event);
    now = new Date(now.getTime() + 59_000);
    await recorder.record(event);
    now = new Date(now.getTime() + 61_000);
    await recorder.record(event);
    const items = (await events.listNamespacedEvent({ namespace: ns })).items.sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)));
    expect(items.map((e) => [String(e.eventTime), e.series?.count])).toEqual([
      ['2026-11-30T06:00:00.000000Z', 2],
      ['2026-11-30T06:02:00.000000Z', undefined],
    ]);
  });

  it('never throws: a failed write is logged', async () => {
    const logs: LogEntry[] = [];
    const recorder = new EventRecorder({ api: kc.makeApiClient(EventsV1Api), reportingInstance: 'x', logger: createLogger((e) => logs.push(e)) });
    await recorder.record({ regarding: { kind: 'Widget', namespace: 'no-such-namespace', name: 'w' }, type: 'Normal', reason: 'R', action: 'A', note: 'n' });
    expect(logs.map((e) => e.message)).toEqual(['could not record an event']);
  });
});

describe('controller', () => {
  function controllerFor(ns: string, identity: string, reconciled: string[]): { controller: Controller; stop: AbortController; done: Promise<void> } {
    const informer = new Informer<CustomObject>(kc, customResourceSource<CustomObject>(kc, widgets, { namespace: ns }), { logger: silentLogger });
    const controller = new Controller({
      informers: [informer],
      reconcilers: [
        {
          name: 'widget',
          reconcile: (key) => {
            reconciled.push(`${identity} ${key}`);
            return Promise.resolve();
          },
          watches: [watch(informer, (obj) => [keyOf(obj)])],
        },
      ],
      leaderElection: { api: kc.makeApiClient(CoordinationV1Api), namespace: ns, name: 'bloodraven-controller', identity, leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      logger: silentLogger,
    });
    const stop = new AbortController();
    const done = controller.run(stop.signal);
    cleanups.push(async () => {
      stop.abort();
      await done;
    });
    return { controller, stop, done };
  }

  it('reconciles only on the leader; the standby is ready, and on taking over resyncs every object', async () => {
    const ns = await namespace();
    await createWidget(ns, 'w1');
    const reconciled: string[] = [];
    const a = controllerFor(ns, 'pod-a', reconciled);
    await eventually('pod-a leads', () => a.controller.leading);
    const b = controllerFor(ns, 'pod-b', reconciled);
    await eventually('pod-b ready', () => b.controller.ready);
    await eventually('w1 reconciled', () => reconciled.includes(`pod-a ${ns}/w1`));
    await createWidget(ns, 'w2');
    await eventually('w2 reconciled', () => reconciled.includes(`pod-a ${ns}/w2`));
    expect(b.controller.leading).toBe(false);
    expect(reconciled.filter((r) => r.startsWith('pod-b'))).toEqual([]);

    a.stop.abort();
    await a.done;
    await eventually('pod-b leads', () => b.controller.leading);
    await eventually('pod-b resynced', () => reconciled.includes(`pod-b ${ns}/w1`) && reconciled.includes(`pod-b ${ns}/w2`));
    await createWidget(ns, 'w3');
    await eventually('w3 reconciled by pod-b', () => reconciled.includes(`pod-b ${ns}/w3`));
    expect(reconciled).not.toContain(`pod-a ${ns}/w3`);
  });
});

describe('daemon HTTP endpoints for Kubernetes mode', () => {
  it('/readyz follows readiness; /pitr-cutoff answers 400, 404 and 200 as documented', async () => {
    let ready = false;
    const http = await startHttpServer('127.0.0.1:0', {
      metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
      health: () => ({ status: 'ok' }),
      readiness: () => ({ ready, informersSynced: ready }),
      pitrCutoff: (q) =>
        Promise.resolve(
          q.group !== 'shop'
            ? { known: false as const, message: `MysqlFailoverGroup ${q.namespace}/${q.group} not found` }
            : { known: true as const, cutoff: q.profile === 'nightly' ? new Date('2026-11-29T03:00:05Z') : null },
        ),
    });
    cleanups.push(() => http.close());
    const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`http://${http.address}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await get('/readyz')).toEqual({ status: 503, body: { ready: false, informersSynced: false } });
    ready = true;
    expect((await get('/readyz')).status).toBe(200);
    const missing = await get('/pitr-cutoff?namespace=db&group=shop');
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/missing query parameter profile/);
    expect((await get('/pitr-cutoff?group=shop')).body.error).toMatch(/namespace, profile/);
    expect(await get('/pitr-cutoff?namespace=db&group=nope&profile=nightly')).toEqual({ status: 404, body: { error: 'MysqlFailoverGroup db/nope not found' } });
    expect(await get('/pitr-cutoff?namespace=db&group=shop&profile=nightly')).toEqual({ status: 200, body: { cutoff: '2026-11-29T03:00:05Z' } });
    expect(await get('/pitr-cutoff?namespace=db&group=shop&profile=hourly')).toEqual({ status: 200, body: { cutoff: null } });
  });
});
