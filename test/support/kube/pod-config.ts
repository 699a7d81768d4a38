/**
 * What the kubelet resolves before it starts a container, done for a local process: the
 * volumes as folders (Secret and ConfigMap files, a PVC's shared folder, emptyDirs: one folder
 * per pod, shared by its init containers and its container; a claim mounted read-only is a
 * read-only bind mount of the claim's folder, so that even a root process cannot write it), the
 * environment (`env`, `envFrom`, `valueFrom`), and the command line, with every mountPath
 * rewritten to its folder (pod-paths.ts). Missing Secrets, ConfigMaps and claims keep the pod
 * waiting, as on a real node; what this runner cannot do fails the pod with a clear message.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { expandVariables, replaceContainerPaths, type PathMapping } from './pod-paths.js';

/** The folders standing for one pod on the node. */
export interface PodFolders {
  /** The pod's folder: everything below is this pod's. */
  dir: string;
  /** The process's working directory (the container's `/`). */
  root: string;
  /** HOME when the container's env sets none. */
  home: string;
  /** One sub-folder per volume that is not a PVC. */
  volumes: string;
  /** The file standing for the container's terminationMessagePath. */
  terminationLog: string;
}

/** The folders of pod `namespace/name` under the runner's `workDir`. */
export function podFolders(workDir: string, namespace: string, name: string): PodFolders {
  const dir = join(workDir, 'pods', namespace, name);
  return { dir, root: join(dir, 'root'), home: join(dir, 'home'), volumes: join(dir, 'volumes'), terminationLog: join(dir, 'termination-log') };
}

/** The folder standing for PVC `claimName` in `namespace`: one per claim, shared by every pod. */
export function claimFolder(workDir: string, namespace: string, claimName: string): string {
  return join(workDir, 'pvcs', namespace, claimName);
}

/** The container cannot start yet: the kubelet retries (a missing Secret, ConfigMap or claim). */
export class PodNotReady extends Error {
  /** Unschedulable: the pod's PodScheduled condition; the others: the container's waiting reason. */
  readonly reason: 'Unschedulable' | 'ContainerCreating' | 'CreateContainerConfigError';

  constructor(reason: PodNotReady['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The container can never start here (an executable other than bloodraven, an unsupported volume). */
export class PodStartError extends Error {}

/** Reads what a pod refers to through the API; undefined = not found. */
export interface PodLookups {
  secret(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
  claimExists(namespace: string, name: string): Promise<boolean>;
  /** The ServiceAccount's `automountServiceAccountToken`, or `missing`. */
  serviceAccount(namespace: string, name: string): Promise<{ automountServiceAccountToken?: boolean } | 'missing'>;
}

export interface ContainerLaunch {
  /** argv after the `bloodraven` mapping: [executable, ...args]. */
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** The local file standing for terminationMessagePath. */
  terminationLog: string;
  /** Folders made read-only (Secret volumes), to make writable again before removal. */
  readOnlyFolders: string[];
  /** Read-only bind mounts made for claims mounted read-only: unmount them when the pod ends. */
  bindMounts: string[];
}

export interface LaunchOptions {
  folders: PodFolders;
  claimFolder(namespace: string, claimName: string): string;
  /** Where `bloodraven` lives: `<repoRoot>/bin/run.js`, run by `node`. */
  repoRoot: string;
  nodeBinary: string;
  /** Env every process gets from the host (PATH and little else). */
  hostEnv: Record<string, string>;
  /**
   * Writes the kubeconfig given as KUBECONFIG to a pod whose ServiceAccount has API access
   * (standing for the token the kubelet mounts) into `dir`, and returns its path.
   */
  podKubeconfig(namespace: string, serviceAccount: string, dir: string): Promise<string>;
}

/** Pod and container fields this runner reads (JSON form of a v1 Pod). */
export interface PodJson {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: ContainerJson[];
    /** Run to completion, in order, before the container. */
    initContainers?: ContainerJson[];
    volumes?: VolumeJson[];
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    restartPolicy?: string;
    nodeName?: string;
    terminationGracePeriodSeconds?: number;
  };
}

interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

interface VolumeJson {
  name: string;
  secret?: { secretName?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  configMap?: { name?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  emptyDir?: object;
  [other: string]: unknown;
}

interface KeyRef {
  name?: string;
  key: string;
  optional?: boolean;
}

export interface ContainerJson {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef; fieldRef?: { fieldPath: string } } }[];
  envFrom?: { prefix?: string; secretRef?: { name: string; optional?: boolean }; configMapRef?: { name: string; optional?: boolean } }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
}

/** The Kubernetes default for a container's terminationMessagePath. */
export const defaultTerminationMessagePath = '/dev/termination-log';

interface ResolvedVolume {
  name: string;
  localPath: string;
  /** Files to write (path inside the volume → content, mode), for Secret and ConfigMap volumes. */
  files?: { path: string; content: Buffer; mode: number }[];
  readOnly?: boolean;
  /** A claim mounted read-only: `localPath` is a read-only bind mount of this folder. */
  bindFrom?: string;
}

/** The local file standing for an init container's terminationMessagePath (the container's is PodFolders.terminationLog). */
export function initTerminationLog(folders: PodFolders, containerName: string): string {
  return join(folders.dir, `termination-log.init.${containerName}`);
}

/**
 * Resolves everything one container of the pod needs (the pod's only container, or the init
 * container `initContainer` names) and materializes the pod's volumes (once: a second call finds
 * them made).
 * @throws PodNotReady while a referenced object is missing (retry later), PodStartError when
 *   the container can never run here.
 */
export async function prepareContainer(pod: PodJson, lookups: PodLookups, options: LaunchOptions, initContainer?: string): Promise<ContainerLaunch> {
  const { namespace } = pod.metadata;
  if (pod.spec.containers.length !== 1) throw new PodStartError('the test Job runner runs pods with exactly one container (and any init containers)');
  const container = initContainer === undefined ? pod.spec.containers[0] : pod.spec.initContainers?.find((c) => c.name === initContainer);
  if (!container) throw new PodStartError(`no init container "${initContainer ?? ''}"`);
  const volumes = new Map<string, ResolvedVolume>();
  for (const volume of pod.spec.volumes ?? []) {
    // A claim any container mounts read-only is mounted read-only for the pod (the runner keeps one folder per volume).
    const readOnlyMount = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some((c) => (c.volumeMounts ?? []).some((m) => m.name === volume.name && m.readOnly === true));
    volumes.set(volume.name, await resolveVolume(volume, namespace, lookups, options, readOnlyMount));
  }
  const apiAccess = await hasApiAccess(pod, lookups);
  const serviceAccount = pod.spec.serviceAccountName ?? 'default';

  const mappings: PathMapping[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.get(mount.name);
    if (!volume) throw new PodStartError(`volumeMount ${mount.name}: no volume of that name`);
    mappings.push({ containerPath: mount.mountPath, localPath: mount.subPath ? join(volume.localPath, mount.subPath) : volume.localPath });
  }
  const terminationPath = container.terminationMessagePath ?? defaultTerminationMessagePath;
  const terminationLog = initContainer === undefined ? options.folders.terminationLog : initTerminationLog(options.folders, initContainer);
  mappings.push({ containerPath: terminationPath, localPath: terminationLog });

  const env = await containerEnv(container, pod, lookups);
  // $(VAR) expands to the value as the container sees it; paths are rewritten once, after.
  const expand = (text: string): string => replaceContainerPaths(expandVariables(text, env), mappings);
  // No `command` = the image's ENTRYPOINT, which is bloodraven in the project's image.
  const command = (container.command ?? ['bloodraven']).map(expand);
  const args = (container.args ?? []).map(expand);
  if (command[0] !== 'bloodraven') {
    throw new PodStartError(
      `exec: "${command[0] ?? ''}": executable file not found in $PATH (the test Job runner runs only "bloodraven", the project's CLI)`,
    );
  }

  await materialize([...volumes.values()], options.folders);
  // A workingDir inside a volume is that folder; anywhere else stands for the container's `/`.
  const workingDir = container.workingDir ? expand(container.workingDir) : undefined;
  const cwd = workingDir !== undefined && workingDir !== container.workingDir ? workingDir : options.folders.root;
  await mkdir(cwd, { recursive: true });
  await writeFile(terminationLog, '');

  const processEnv: Record<string, string> = { ...options.hostEnv, HOSTNAME: pod.metadata.name, HOME: options.folders.home };
  if (apiAccess) processEnv.KUBECONFIG = await options.podKubeconfig(namespace, serviceAccount, options.folders.dir);
  for (const [name, value] of env) processEnv[name] = replaceContainerPaths(value, mappings);
  return {
    argv: [options.nodeBinary, join(options.repoRoot, 'bin', 'run.js'), ...command.slice(1), ...args],
    env: processEnv,
    cwd,
    terminationLog,
    readOnlyFolders: [...volumes.values()].filter((v) => v.readOnly && !v.bindFrom).map((v) => v.localPath),
    bindMounts: [...volumes.values()].filter((v) => v.bindFrom).map((v) => v.localPath),
  };
}

/** `envFrom` then `env`, as the container sees them (container paths, `$(VAR)` expanded). */
async function containerEnv(container: ContainerJson, pod: PodJson, lookups: PodLookups): Promise<Map<string, string>> {
  const { namespace } = pod.metadata;
  const env = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const ref = source.secretRef ?? source.configMapRef;
    if (!ref) continue;
    const data = source.secretRef ? await lookups.secret(namespace, ref.name) : await lookups.configMap(namespace, ref.name);
    if (!data) {
      if (ref.optional === true) continue;
      throw new PodNotReady('CreateContainerConfigError', `${source.secretRef ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(data)) env.set(`${source.prefix ?? ''}${key}`, value.toString('utf8'));
  }
  for (const variable of container.env ?? []) {
    const value = variable.valueFrom ? await valueFrom(variable.valueFrom, pod, lookups) : expandVariables(variable.value ?? '', env);
    if (value !== undefined) env.set(variable.name, value);
  }
  return env;
}

/** API access as the ServiceAccount admission and kubelet grant it: the pod's field wins, then the SA's, default yes. */
async function hasApiAccess(pod: PodJson, lookups: PodLookups): Promise<boolean> {
  const name = pod.spec.serviceAccountName ?? 'default';
  const account = await lookups.serviceAccount(pod.metadata.namespace, name);
  if (account === 'missing' && name !== 'default') {
    // The real admission would refuse the pod; waiting until it exists is the closest here.
    throw new PodNotReady('CreateContainerConfigError', `serviceaccount "${name}" not found`);
  }
  if (pod.spec.automountServiceAccountToken !== undefined) return pod.spec.automountServiceAccountToken;
  return account === 'missing' ? true : account.automountServiceAccountToken !== false;
}

async function valueFrom(source: NonNullable<NonNullable<ContainerJson['env']>[number]['valueFrom']>, pod: PodJson, lookups: PodLookups): Promise<string | undefined> {
  const keyRef = source.secretKeyRef ?? source.configMapKeyRef;
  if (keyRef) {
    const kind = source.secretKeyRef ? 'secret' : 'configmap';
    const data = source.secretKeyRef ? await lookups.secret(pod.metadata.namespace, keyRef.name ?? '') : await lookups.configMap(pod.metadata.namespace, keyRef.name ?? '');
    const value = data?.[keyRef.key];
    if (value !== undefined) return value.toString('utf8');
    if (keyRef.optional === true) return undefined;
    if (!data) throw new PodNotReady('CreateContainerConfigError', `${kind} "${keyRef.name ?? ''}" not found`);
    throw new PodNotReady('CreateContainerConfigError', `couldn't find key ${keyRef.key} in ${kind === 'secret' ? 'Secret' : 'ConfigMap'} ${pod.metadata.namespace}/${keyRef.name ?? ''}`);
  }
  const path = source.fieldRef?.fieldPath;
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'metadata.uid': pod.metadata.uid,
    'spec.serviceAccountName': pod.spec.serviceAccountName ?? 'default',
    'spec.nodeName': pod.spec.nodeName,
    'status.podIP': '127.0.0.1',
    'status.hostIP': '127.0.0.1',
  };
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path ?? '');
  if (label) return (label[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[label[2] ?? ''] ?? '';
  if (path === undefined || !(path in fields)) throw new PodStartError(`env valueFrom: ${JSON.stringify(source)} is not supported by the test Job runner`);
  return fields[path] ?? '';
}

async function resolveVolume(volume: VolumeJson, namespace: string, lookups: PodLookups, options: LaunchOptions, readOnlyMount: boolean): Promise<ResolvedVolume> {
  const localPath = join(options.folders.volumes, volume.name);
  if (volume.persistentVolumeClaim) {
    const claim = volume.persistentVolumeClaim.claimName;
    if (!(await lookups.claimExists(namespace, claim))) throw new PodNotReady('Unschedulable', `persistentvolumeclaim "${claim}" not found`);
    const shared = options.claimFolder(namespace, claim);
    // The shared folder stays writable for other pods: this pod sees it through a read-only bind mount.
    if (volume.persistentVolumeClaim.readOnly === true || readOnlyMount) return { name: volume.name, localPath, readOnly: true, bindFrom: shared };
    return { name: volume.name, localPath: shared };
  }
  if (volume.emptyDir) return { name: volume.name, localPath };
  const source = volume.secret ?? volume.configMap;
  if (source) {
    const isSecret = volume.secret !== undefined;
    const objectName = volume.secret?.secretName ?? volume.configMap?.name ?? '';
    const data = isSecret ? await lookups.secret(namespace, objectName) : await lookups.configMap(namespace, objectName);
    if (!data && source.optional !== true) {
      throw new PodNotReady('ContainerCreating', `MountVolume.SetUp failed for volume "${volume.name}" : ${isSecret ? 'secret' : 'configmap'} "${objectName}" not found`);
    }
    const defaultMode = source.defaultMode ?? 0o644;
    const items: KeyToPath[] = source.items ?? Object.keys(data ?? {}).map((key) => ({ key, path: key }));
    const files = [];
    for (const item of items) {
      const content = data?.[item.key];
      if (content === undefined) {
        if (!data || source.optional === true) continue;
        throw new PodNotReady('ContainerCreating', `MountVolume.SetUp failed for volume "${volume.name}" : configmap references non-existent config key: ${item.key}`);
      }
      files.push({ path: item.path, content, mode: item.mode ?? defaultMode });
    }
    return { name: volume.name, localPath, files, readOnly: true };
  }
  const kind = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
  throw new PodStartError(`volume ${volume.name}: ${kind} volumes are not supported by the test Job runner (secret, configMap, persistentVolumeClaim and emptyDir are)`);
}

const run = promisify(execFile);

/** Whether `path` is a mount point (listed in /proc/self/mountinfo). */
async function isMountPoint(path: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return info.split('\n').some((line) => line.split(' ')[4] === path);
}

/** Mounts `from` at `at` read-only (a bind mount, then a read-only remount: two steps on Linux). */
async function bindReadOnly(volume: string, from: string, at: string): Promise<void> {
  if (await isMountPoint(at)) return;
  await mkdir(from, { recursive: true });
  await mkdir(at, { recursive: true });
  try {
    await run('mount', ['--bind', from, at]);
    await run('mount', ['-o', 'remount,bind,ro', at]);
  } catch (error) {
    await run('umount', [at]).catch(() => undefined);
    throw new PodStartError(`volume ${volume}: the test Job runner mounts a claim read-only as a read-only bind mount, which failed here (it needs root or CAP_SYS_ADMIN): ${(error as Error).message}`);
  }
}

/** Removes the read-only bind mounts a pod's claims got (its folder can be removed afterwards). */
export async function unmountAll(paths: readonly string[]): Promise<void> {
  for (const path of paths) if (await isMountPoint(path)) await run('umount', [path]).catch(() => undefined);
}

async function materialize(volumes: readonly ResolvedVolume[], folders: PodFolders): Promise<void> {
  await mkdir(folders.home, { recursive: true });
  for (const volume of volumes) {
    if (volume.bindFrom) {
      await bindReadOnly(volume.name, volume.bindFrom, volume.localPath);
      continue;
    }
    await mkdir(volume.localPath, { recursive: true });
    for (const file of volume.files ?? []) {
      const target = resolve(volume.localPath, file.path);
      if (!target.startsWith(volume.localPath + '/')) throw new PodStartError(`volume ${volume.name}: item path ${file.path} leaves the volume`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content, { mode: file.mode });
      await chmod(target, file.mode);
    }
    // The kubelet mounts these read-only.
    if (volume.readOnly) await chmod(volume.localPath, 0o555);
  }
}
