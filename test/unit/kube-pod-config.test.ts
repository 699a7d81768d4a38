import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimFolder, podFolders, PodNotReady, PodStartError, prepareContainer, type PodJson, type PodLookups } from '../support/kube/pod-config.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'pod-config-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What the API holds, in memory: the lookups the kubelet makes through the API. */
function objects(content: { secrets?: Record<string, Record<string, string>>; claims?: string[]; accounts?: Record<string, boolean | undefined> } = {}): PodLookups {
  const toBuffers = (data: Record<string, string> | undefined) => data && Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)]));
  return {
    secret: (_ns, name) => Promise.resolve(toBuffers(content.secrets?.[name])),
    configMap: () => Promise.resolve(undefined),
    claimExists: (_ns, name) => Promise.resolve(content.claims?.includes(name) ?? false),
    serviceAccount: (_ns, name) =>
      Promise.resolve(content.accounts && name in content.accounts ? { automountServiceAccountToken: content.accounts[name] } : ('missing' as const)),
  };
}

function pod(spec: Partial<PodJson['spec']> & { container?: Partial<PodJson['spec']['containers'][number]> } = {}): PodJson {
  const { container, ...rest } = spec;
  return {
    metadata: { name: 'p-abcde', namespace: 'ns', uid: 'u1' },
    spec: { ...rest, containers: [{ name: 'c', command: ['bloodraven'], ...container }] },
  };
}

const options = () => ({
  folders: podFolders(work, 'ns', 'p-abcde'),
  claimFolder: (ns: string, claim: string) => claimFolder(work, ns, claim),
  repoRoot: '/repo',
  nodeBinary: '/repo/node_modules/.bin/node',
  hostEnv: { PATH: '/usr/bin' },
  podKubeconfig: (namespace: string, serviceAccount: string) => Promise.resolve(`/cluster/${namespace}/${serviceAccount}/kubeconfig`),
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('prepareContainer', () => {
  it('maps bloodraven to the repo CLI and rewrites mountPaths in env (YAML text) and args', async () => {
    const launch = await prepareContainer(
      pod({
        volumes: [
          { name: 'creds', secret: { secretName: 's', defaultMode: 0o400 } },
          { name: 'backups', persistentVolumeClaim: { claimName: 'data' } },
          { name: 'tmp', emptyDir: {} },
        ],
        container: {
          args: ['backup', 'now', '--result-file', '/dev/termination-log', '--out=$(DIR)'],
          env: [
            { name: 'BLOODRAVEN_CONFIG_YAML', value: 'mysql:\n  credentialsDir: /run/bloodraven/mysql-creds\nbackup: {path: "/backups"}\n' },
            { name: 'DIR', value: '/tmp/x' },
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
          volumeMounts: [
            { name: 'creds', mountPath: '/run/bloodraven/mysql-creds' },
            { name: 'backups', mountPath: '/backups' },
            { name: 'tmp', mountPath: '/tmp' },
          ],
        },
      }),
      objects({ secrets: { s: { MYSQL_USER: 'u', MYSQL_PASSWORD: 'pw' } }, claims: ['data'] }),
      options(),
    );
    const folders = podFolders(work, 'ns', 'p-abcde');
    const creds = join(folders.volumes, 'creds');
    expect(launch.argv).toEqual([
      '/repo/node_modules/.bin/node',
      '/repo/bin/run.js',
      'backup',
      'now',
      '--result-file',
      folders.terminationLog,
      `--out=${join(folders.volumes, 'tmp')}/x`,
    ]);
    expect(launch.env.BLOODRAVEN_CONFIG_YAML).toBe(`mysql:\n  credentialsDir: ${creds}\nbackup: {path: "${claimFolder(work, 'ns', 'data')}"}\n`);
    expect(launch.env).toMatchObject({ PATH: '/usr/bin', POD: 'p-abcde', HOSTNAME: 'p-abcde', HOME: folders.home });
    expect(await readFile(join(creds, 'MYSQL_PASSWORD'), 'utf8')).toBe('pw');
    expect((await stat(join(creds, 'MYSQL_USER'))).mode & 0o777).toBe(0o400);
    expect(launch.cwd).toBe(folders.root);
  });

  it('gives KUBECONFIG only when the pod and its ServiceAccount allow API access', async () => {
    const cases: [Partial<PodJson['spec']>, Record<string, boolean | undefined>, string | undefined][] = [
      [{}, {}, '/cluster/ns/default/kubeconfig'], // the default ServiceAccount, not stored: automount
      [{ serviceAccountName: 'requester' }, { requester: undefined }, '/cluster/ns/requester/kubeconfig'],
      [{ serviceAccountName: 'quiet' }, { quiet: false }, undefined],
      [{ serviceAccountName: 'quiet', automountServiceAccountToken: true }, { quiet: false }, '/cluster/ns/quiet/kubeconfig'],
      [{ automountServiceAccountToken: false }, {}, undefined],
    ];
    for (const [spec, accounts, expected] of cases) {
      const launch = await prepareContainer(pod(spec), objects({ accounts }), options());
      expect(launch.env.KUBECONFIG, JSON.stringify(spec)).toBe(expected);
    }
  });

  it('waits for a missing Secret, key, claim or ServiceAccount; refuses what cannot run here', async () => {
    const withSecret = pod({ volumes: [{ name: 'v', secret: { secretName: 'absent' } }] });
    const secretError = await rejection(prepareContainer(withSecret, objects(), options()));
    expect(secretError).toMatchObject({ reason: 'ContainerCreating' });
    expect((secretError as Error).message).toContain('secret "absent" not found');
    const withKey = pod({ container: { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'nope' } } }] } });
    const keyError = await rejection(prepareContainer(withKey, objects({ secrets: { s: {} } }), options()));
    expect(keyError).toBeInstanceOf(PodNotReady);
    expect(keyError).toMatchObject({ reason: 'CreateContainerConfigError', message: "couldn't find key nope in Secret ns/s" });
    const withClaim = pod({ volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'gone' } }] });
    expect(await rejection(prepareContainer(withClaim, objects(), options()))).toMatchObject({ reason: 'Unschedulable' });
    expect(await rejection(prepareContainer(pod({ serviceAccountName: 'who' }), objects(), options()))).toBeInstanceOf(PodNotReady);

    expect(await rejection(prepareContainer(pod({ container: { command: ['sh', '-c', 'true'] } }), objects(), options()))).toBeInstanceOf(PodStartError);
    expect(await rejection(prepareContainer(pod({ volumes: [{ name: 'h', hostPath: { path: '/' } }] }), objects(), options()))).toBeInstanceOf(PodStartError);
  });

  it('takes the image entrypoint (bloodraven) when the container has no command, and honours items and their modes', async () => {
    const launch = await prepareContainer(
      pod({
        volumes: [{ name: 'k', secret: { secretName: 's', items: [{ key: 'passphrase', path: 'sub/pass', mode: 0o440 }] } }],
        container: { command: undefined, args: ['--version'], volumeMounts: [{ name: 'k', mountPath: '/k' }] },
      }),
      objects({ secrets: { s: { passphrase: 'x', other: 'y' } } }),
      options(),
    );
    expect(launch.argv.slice(1)).toEqual(['/repo/bin/run.js', '--version']);
    const folder = join(podFolders(work, 'ns', 'p-abcde').volumes, 'k');
    expect((await stat(join(folder, 'sub', 'pass'))).mode & 0o777).toBe(0o440);
    await expect(stat(join(folder, 'other'))).rejects.toThrow();
  });
});
