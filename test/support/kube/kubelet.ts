/**
 * The node: runs each pod the Job controller creates as a local process (pod-config.ts,
 * pod-process.ts) and writes the pod's status as the kubelet does, through the API:
 * Pending (ContainerCreating, or waiting on a missing Secret or claim; then each init container
 * in order, to completion, in status.initContainerStatuses) → Running → Succeeded | Failed, with
 * the container's state, exit code, reason and termination message. A failing init container
 * fails the pod (Init:Error); the container then never starts.
 * The Job controller reads the same facts from the records kept here.
 */
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CoreV1Api } from '@kubernetes/client-node';
import { PodNotReady, PodStartError, podFolders, prepareContainer, unmountAll, type ContainerLaunch, type PodJson, type PodLookups, type LaunchOptions } from './pod-config.js';
import { PodLog, startContainerProcess, type ContainerProcess } from './pod-process.js';
import { rfc3339 } from './job-status.js';
import { mergePatch } from './kube-objects.js';

/** What the node knows of one pod. The Job controller reads it; only the kubelet changes it. */
export interface PodRecord {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** The owning Job's uid. */
  readonly jobUid: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ready: boolean;
  /** Asked to stop and not exited yet. */
  terminating: boolean;
  restartCount: number;
  finishedAt: Date | undefined;
  /** Stopped because its Job was suspended: not counted as failed. */
  discarded: boolean;
  /** The container's output. */
  readonly log: PodLog;
  /** Each init container's output, by name. */
  readonly initLogs: Map<string, PodLog>;
}

export interface KubeletOptions {
  core: CoreV1Api;
  lookups: PodLookups;
  launch: Omit<LaunchOptions, 'folders'>;
  workDir: string;
  /** Longest SIGTERM → SIGKILL delay (a pod's terminationGracePeriodSeconds is capped to it). */
  graceMs: number;
  /** How often a waiting pod looks again for its Secret or claim. */
  retryMs: number;
  /** First delay before restarting a failed container (restartPolicy OnFailure); doubles. */
  restartBackoffMs: number;
  /** Called after each change of a record, once the pod's status is written. */
  onChange(record: PodRecord): void;
}

interface PodRun {
  record: PodRecord;
  pod: PodJson;
  stop: AbortController;
  process: ContainerProcess | undefined;
  done: Promise<void>;
  deleted: boolean;
  readOnlyFolders: string[];
  /** Read-only bind mounts of claims, removed when the pod ends. */
  bindMounts: string[];
}

const terminationMessageLimit = 4096;

export class Kubelet {
  private readonly runs = new Map<string, PodRun>();
  private readonly options: KubeletOptions;

  constructor(options: KubeletOptions) {
    this.options = options;
  }

  /** Starts pod `pod` (already created through the API) of Job `jobUid`; returns at once. */
  run(pod: PodJson, jobUid: string): PodRecord {
    const record: PodRecord = {
      uid: pod.metadata.uid,
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      jobUid,
      phase: 'Pending',
      ready: false,
      terminating: false,
      restartCount: 0,
      finishedAt: undefined,
      discarded: false,
      log: new PodLog(),
      initLogs: new Map((pod.spec.initContainers ?? []).map((c) => [c.name, new PodLog()])),
    };
    const run: PodRun = { record, pod, stop: new AbortController(), process: undefined, done: Promise.resolve(), deleted: false, readOnlyFolders: [], bindMounts: [] };
    this.runs.set(record.uid, run);
    run.done = this.lifecycle(run).catch(() => undefined);
    return record;
  }

  /** The pods of Job `jobUid` this node ran or runs. */
  podsOfJob(jobUid: string): PodRecord[] {
    return [...this.runs.values()].filter((r) => r.record.jobUid === jobUid).map((r) => r.record);
  }

  /** Stops pod `uid` (SIGTERM, then SIGKILL); `discard`: its Job was suspended. Returns at once. */
  stopPod(uid: string, discard = false): void {
    const run = this.runs.get(uid);
    if (!run || run.record.phase === 'Succeeded' || run.record.phase === 'Failed') return;
    if (discard) run.record.discarded = true;
    if (run.stop.signal.aborted) return;
    run.record.terminating = true;
    run.stop.abort();
    void run.process?.stop(this.graceMs(run));
    this.options.onChange(run.record);
  }

  /** The pod object is gone from the API: stop its process and write nothing more. */
  podDeleted(uid: string): void {
    const run = this.runs.get(uid);
    if (!run) return;
    run.deleted = true;
    this.stopPod(uid);
  }

  /** A Job is gone: its pods' processes are stopped (their logs stay readable here). */
  jobGone(jobUid: string): void {
    for (const [uid, run] of this.runs) if (run.record.jobUid === jobUid) this.podDeleted(uid);
  }

  /**
   * Pod `namespace/name`'s log (stdout and stderr together) of `container` (default: the pod's
   * container; an init container by its name), if this node ran it.
   */
  log(namespace: string, name: string, container?: string): PodLog | undefined {
    for (const run of this.runs.values()) {
      if (run.record.namespace !== namespace || run.record.name !== name) continue;
      if (container === undefined || container === run.pod.spec.containers[0]?.name) return run.record.log;
      return run.record.initLogs.get(container);
    }
    return undefined;
  }

  /** The folder of pod `namespace/name` on this node. */
  podDir(namespace: string, name: string): string {
    return podFolders(this.options.workDir, namespace, name).dir;
  }

  /** Stops every pod and waits until every process has exited. */
  async stopAll(): Promise<void> {
    for (const run of this.runs.values()) {
      run.deleted = true;
      this.stopPod(run.record.uid);
    }
    await Promise.all([...this.runs.values()].map((r) => r.done));
    await unmountAll([...this.runs.values()].flatMap((r) => r.bindMounts));
  }

  /** Folders made read-only for Secret and ConfigMap volumes, to make writable before removal. */
  readOnlyFolders(): string[] {
    return [...this.runs.values()].flatMap((r) => r.readOnlyFolders);
  }

  /** The pod's terminationGracePeriodSeconds (default 30), capped by the runner's shortened grace. */
  private graceMs(run: PodRun): number {
    return Math.min(this.options.graceMs, (run.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000);
  }

  private async lifecycle(run: PodRun): Promise<void> {
    const { record, pod } = run;
    const container = pod.spec.containers[0];
    const status = new PodStatusWriter(this.options.core, run);
    await status.pending({ reason: 'ContainerCreating' });
    if (!(await this.runInitContainers(run, status))) return;
    const launch = await this.prepare(run, status);
    if (!launch) return;

    let lastState: object | undefined;
    for (;;) {
      const startedAt = rfc3339(new Date());
      let exitCode: number;
      try {
        run.process = startContainerProcess(launch.argv, launch.env, launch.cwd, record.log);
        if (run.stop.signal.aborted) void run.process.stop(this.graceMs(run));
        await status.running(startedAt, lastState);
        if (!record.terminating) {
          record.phase = 'Running';
          record.ready = true;
          this.options.onChange(record);
        }
        exitCode = await run.process.exited;
      } catch (error) {
        return this.finish(run, status, { exitCode: 128, reason: 'StartError', message: (error as Error).message, startedAt }, lastState);
      }
      const message = await terminationMessage(launch.terminationLog, exitCode, container?.terminationMessagePolicy, record.log);
      const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, startedAt };
      const restart = exitCode !== 0 && pod.spec.restartPolicy === 'OnFailure' && !run.stop.signal.aborted;
      if (!restart) return this.finish(run, status, terminated, lastState);
      // restartPolicy OnFailure: the same pod runs the container again, after a doubling back-off.
      lastState = { terminated: { ...terminated, finishedAt: rfc3339(new Date()), containerID: containerId(record) } };
      record.restartCount += 1;
      record.ready = false;
      await status.crashLoopBackOff(lastState);
      this.options.onChange(record);
      await sleep(this.options.restartBackoffMs * 2 ** (record.restartCount - 1), undefined, { signal: run.stop.signal }).catch(() => undefined);
      if (run.stop.signal.aborted) return this.finish(run, status, terminated, undefined);
    }
  }

  /**
   * Runs the init containers in order, each to completion; false when one failed (the pod is
   * then Failed, its container never started) or the pod was stopped meanwhile.
   */
  private async runInitContainers(run: PodRun, status: PodStatusWriter): Promise<boolean> {
    const inits = run.pod.spec.initContainers ?? [];
    for (const [index, init] of inits.entries()) {
      const launch = await this.prepare(run, status, init.name);
      if (!launch) return false;
      const log = run.record.initLogs.get(init.name) ?? new PodLog();
      const startedAt = rfc3339(new Date());
      let terminated: Terminated;
      try {
        run.process = startContainerProcess(launch.argv, launch.env, launch.cwd, log);
        if (run.stop.signal.aborted) void run.process.stop(this.graceMs(run));
        await status.initRunning(index, startedAt);
        const exitCode = await run.process.exited;
        const message = await terminationMessage(launch.terminationLog, exitCode, init.terminationMessagePolicy, log);
        terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message, startedAt };
      } catch (error) {
        terminated = { exitCode: 128, reason: 'StartError', message: (error as Error).message, startedAt };
      }
      log.close();
      run.process = undefined;
      status.initTerminated(index, terminated, new Date());
      if (terminated.exitCode !== 0 || run.stop.signal.aborted) {
        await this.finishBeforeStart(run, status);
        return false;
      }
    }
    return true;
  }

  /** An init container failed (or the pod was stopped during one): the pod fails with its container never started. */
  private async finishBeforeStart(run: PodRun, status: PodStatusWriter): Promise<void> {
    const finishedAt = new Date();
    await status.failedBeforeStart();
    run.record.log.close();
    for (const log of run.record.initLogs.values()) log.close();
    Object.assign(run.record, { phase: 'Failed', ready: false, terminating: false, finishedAt });
    await unmountAll(run.bindMounts);
    this.options.onChange(run.record);
  }

  /** Resolves the container's volumes and env, waiting while something is missing; undefined = the pod ended. */
  private async prepare(run: PodRun, status: PodStatusWriter, initContainer?: string): Promise<ContainerLaunch | undefined> {
    const folders = podFolders(this.options.workDir, run.record.namespace, run.record.name);
    let lastWaiting = '';
    for (;;) {
      if (run.stop.signal.aborted) {
        await this.finish(run, status, { exitCode: 137, reason: 'Error', message: undefined, startedAt: undefined }, undefined);
        return undefined;
      }
      try {
        const launch = await prepareContainer(run.pod, this.options.lookups, { ...this.options.launch, folders }, initContainer);
        run.readOnlyFolders = launch.readOnlyFolders;
        run.bindMounts = launch.bindMounts;
        return launch;
      } catch (error) {
        if (error instanceof PodStartError) {
          await this.finish(run, status, { exitCode: 128, reason: 'StartError', message: error.message, startedAt: undefined }, undefined);
          return undefined;
        }
        const waiting = error instanceof PodNotReady ? error : new PodNotReady('ContainerCreating', (error as Error).message);
        const key = `${waiting.reason}:${waiting.message}`;
        if (key !== lastWaiting) {
          lastWaiting = key;
          if (waiting.reason === 'Unschedulable') await status.pending({ reason: 'ContainerCreating' }, { status: 'False', reason: 'Unschedulable', message: waiting.message });
          else await status.pending({ reason: waiting.reason, message: waiting.message });
        }
        await sleep(this.options.retryMs, undefined, { signal: run.stop.signal }).catch(() => undefined);
      }
    }
  }

  /** Writes the terminal status, then tells the Job controller (which may then read the pod). */
  private async finish(run: PodRun, status: PodStatusWriter, terminated: Terminated, lastState: object | undefined): Promise<void> {
    const finishedAt = new Date();
    const phase = terminated.exitCode === 0 ? 'Succeeded' : 'Failed';
    await status.terminated(phase, terminated, finishedAt, lastState);
    run.record.log.close();
    for (const log of run.record.initLogs.values()) log.close();
    Object.assign(run.record, { phase, ready: false, terminating: false, finishedAt });
    await unmountAll(run.bindMounts);
    this.options.onChange(run.record);
  }
}

interface Terminated {
  exitCode: number;
  reason: string;
  message: string | undefined;
  startedAt: string | undefined;
}

function containerId(record: PodRecord): string {
  return `bloodraven-test://${record.uid}-${record.restartCount}`;
}

/** Writes one pod's status through the API (merge patch on pods/status), as the kubelet reports it. */
class PodStatusWriter {
  private readonly core: CoreV1Api;
  private readonly run: PodRun;
  private readonly times = new ConditionTimes();
  private readonly base: object;
  private readonly container: { name: string; image: string; imageID: string };
  /** status.initContainerStatuses as they stand (empty without init containers). */
  private readonly inits: Array<{ name: string; image: string; imageID: string; ready: boolean; restartCount: number; started: boolean; state: object; containerID?: string }>;

  constructor(core: CoreV1Api, run: PodRun) {
    this.core = core;
    this.run = run;
    this.base = { hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }], startTime: rfc3339(new Date()), qosClass: 'BestEffort' };
    const container = run.pod.spec.containers[0];
    this.container = { name: container?.name ?? '', image: container?.image ?? '', imageID: container?.image ?? '' };
    this.inits = (run.pod.spec.initContainers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: c.image ?? '',
      ready: false,
      restartCount: 0,
      started: false,
      state: { waiting: { reason: 'PodInitializing' } },
    }));
  }

  /** Whether every init container has completed (true without any). */
  private initialized(): boolean {
    return this.inits.every((i) => 'terminated' in i.state && (i.state as { terminated: { exitCode: number } }).terminated.exitCode === 0);
  }

  /** The initContainerStatuses field, when the pod has init containers. */
  private initField(): object {
    return this.inits.length === 0 ? {} : { initContainerStatuses: this.inits.map((i) => ({ ...i })) };
  }

  pending(waiting: { reason: string; message?: string }, scheduled: { status: 'True' | 'False'; reason?: string; message?: string } = { status: 'True' }): Promise<void> {
    const unready = { reason: 'ContainersNotReady', message: `containers with unready status: [${this.container.name}]` };
    const initialized = this.initialized();
    // While init containers run, the container waits with reason PodInitializing.
    const mainWaiting = initialized ? waiting : { reason: 'PodInitializing' };
    const conditions: Record<string, 'True' | 'False'> = { PodReadyToStartContainers: 'False', Initialized: initialized ? 'True' : 'False', Ready: 'False', ContainersReady: 'False', PodScheduled: scheduled.status };
    const pendingInit = this.inits.find((i) => !('terminated' in i.state));
    const details: Record<string, { reason?: string; message?: string }> = { PodScheduled: scheduled, Ready: unready, ContainersReady: unready };
    if (!initialized) details.Initialized = { reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${pendingInit?.name ?? ''}]` };
    if (!initialized && pendingInit && waiting.reason !== 'ContainerCreating') pendingInit.state = { waiting };
    return this.write({
      phase: 'Pending',
      ...this.base,
      conditions: this.times.conditions(conditions, details),
      ...this.initField(),
      containerStatuses: [{ ...this.container, ready: false, restartCount: 0, started: false, state: { waiting: mainWaiting } }],
    });
  }

  /** Init container `index` started. */
  initRunning(index: number, startedAt: string): Promise<void> {
    const init = this.inits[index];
    if (init) Object.assign(init, { started: true, containerID: `${containerId(this.run.record)}-init-${index}`, state: { running: { startedAt } } });
    return this.pending({ reason: 'PodInitializing' });
  }

  /** Init container `index` ended (written with the next status). */
  initTerminated(index: number, terminated: Terminated, finishedAt: Date): void {
    const init = this.inits[index];
    if (!init) return;
    const { message, startedAt, ...rest } = terminated;
    Object.assign(init, {
      started: false,
      state: { terminated: { ...rest, ...(message ? { message } : {}), startedAt: startedAt ?? rfc3339(finishedAt), finishedAt: rfc3339(finishedAt), containerID: init.containerID ?? `${containerId(this.run.record)}-init-${index}` } },
    });
  }

  /** An init container failed: the pod is Failed, its container never started. */
  failedBeforeStart(): Promise<void> {
    const reason = { reason: 'PodFailed' };
    const failed = this.inits.find((i) => 'terminated' in i.state && (i.state as { terminated: { exitCode: number } }).terminated.exitCode !== 0);
    return this.write({
      phase: 'Failed',
      ...this.base,
      conditions: this.times.conditions(
        { PodReadyToStartContainers: 'False', Initialized: 'False', Ready: 'False', ContainersReady: 'False', PodScheduled: 'True' },
        { Initialized: { reason: 'ContainersNotInitialized', message: `containers with incomplete status: [${failed?.name ?? ''}]` }, Ready: reason, ContainersReady: reason },
      ),
      ...this.initField(),
      containerStatuses: [{ ...this.container, ready: false, restartCount: 0, started: false, state: { waiting: { reason: 'PodInitializing' } } }],
    });
  }

  running(startedAt: string, lastState: object | undefined): Promise<void> {
    const { record } = this.run;
    return this.write({
      phase: 'Running',
      ...this.base,
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      conditions: this.times.conditions({ PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'True', ContainersReady: 'True', PodScheduled: 'True' }),
      ...this.initField(),
      containerStatuses: [
        { ...this.container, containerID: containerId(record), ready: true, started: true, restartCount: record.restartCount, state: { running: { startedAt } }, ...(lastState ? { lastState } : {}) },
      ],
    });
  }

  crashLoopBackOff(lastState: object): Promise<void> {
    const waiting = { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${this.container.name}` };
    return this.write({
      phase: 'Running',
      ...this.base,
      conditions: this.times.conditions({ PodReadyToStartContainers: 'True', Initialized: 'True', Ready: 'False', ContainersReady: 'False', PodScheduled: 'True' }),
      ...this.initField(),
      containerStatuses: [{ ...this.container, ready: false, started: false, restartCount: this.run.record.restartCount, state: { waiting }, lastState }],
    });
  }

  terminated(phase: 'Succeeded' | 'Failed', terminated: Terminated, finishedAt: Date, lastState: object | undefined): Promise<void> {
    const reason = { reason: phase === 'Succeeded' ? 'PodCompleted' : 'PodFailed' };
    const { message, startedAt, ...rest } = terminated;
    const state = {
      terminated: { ...rest, ...(message ? { message } : {}), startedAt: startedAt ?? rfc3339(finishedAt), finishedAt: rfc3339(finishedAt), containerID: containerId(this.run.record) },
    };
    return this.write({
      phase,
      ...this.base,
      conditions: this.times.conditions(
        { PodReadyToStartContainers: 'False', Initialized: 'True', Ready: 'False', ContainersReady: 'False', PodScheduled: 'True' },
        { Ready: reason, ContainersReady: reason },
      ),
      ...this.initField(),
      containerStatuses: [{ ...this.container, ready: false, started: false, restartCount: this.run.record.restartCount, state, ...(lastState ? { lastState } : {}) }],
    });
  }

  private async write(status: object): Promise<void> {
    if (this.run.deleted) return;
    const { name, namespace } = this.run.record;
    try {
      await this.core.patchNamespacedPodStatus({ name, namespace, body: { status } }, mergePatch);
    } catch {
      // Gone, or the API server stopped: the next write (if any) tells the truth again.
    }
  }
}

/** Pod conditions with their lastTransitionTime kept until their status changes. */
class ConditionTimes {
  private readonly seen = new Map<string, { status: string; time: string }>();

  conditions(statuses: Record<string, 'True' | 'False'>, details: Record<string, { reason?: string; message?: string }> = {}): object[] {
    const now = rfc3339(new Date());
    return Object.entries(statuses).map(([type, status]) => {
      const previous = this.seen.get(type);
      const time = previous?.status === status ? previous.time : now;
      this.seen.set(type, { status, time });
      const { reason, message } = details[type] ?? {};
      return { type, status, lastProbeTime: null, lastTransitionTime: time, ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
    });
  }
}

/** The file's first 4096 bytes; with FallbackToLogsOnError and an empty file after a failure, the log's tail. */
async function terminationMessage(path: string, exitCode: number, policy: string | undefined, log: PodLog): Promise<string | undefined> {
  let text = '';
  try {
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(terminationMessageLimit);
      const { bytesRead } = await file.read(buffer, 0, terminationMessageLimit, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await file.close();
    }
  } catch {
    // No file: no message.
  }
  if (text === '' && exitCode !== 0 && policy === 'FallbackToLogsOnError') {
    const tail = log.text().split('\n').slice(-80).join('\n');
    text = Buffer.from(tail).subarray(-2048).toString('utf8');
  }
  return text === '' ? undefined : text;
}
