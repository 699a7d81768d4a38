/**
 * The Dockerfile, checked without building it (nothing here can build images): the Node major,
 * the non-root user the Jobs and the daemon run as, `bloodraven` on PATH as the entrypoint, the
 * files the CLI needs at run time, and the mount points of the Job contract.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { V1Deployment } from '@kubernetes/client-node';
import Daemon from '../../src/commands/daemon.js';
import { parseListen } from '../../src/daemon/http.js';
import { mountPaths, verificationJob } from '../../src/lib/kube/job-spec.js';
import { validateGroupSpec } from '../../src/lib/kube/resources.js';
import { imageUserId } from '../../src/lib/kube/security-context.js';
import { envPairs, execForm, inBuildContext, parseDockerfile, type DockerInstruction, type DockerStage } from '../support/dockerfile.js';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

const dockerfile = parseDockerfile(read('Dockerfile'));
const dockerignore = read('.dockerignore');
const packageJson = JSON.parse(read('package.json')) as {
  bin: Record<string, string>;
  oclif: { commands: string };
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};
const deployment = parse(read('deploy/deployment.yaml')) as V1Deployment;
const daemonPod = deployment.spec?.template.spec;
const daemonContainer = daemonPod?.containers[0];

const runtime = dockerfile.stages.at(-1) as DockerStage;
const all = (stage: DockerStage, keyword: string): DockerInstruction[] => stage.instructions.filter((i) => i.keyword === keyword);
const last = (stage: DockerStage, keyword: string): DockerInstruction | undefined => all(stage, keyword).at(-1);
const runs = (stage: DockerStage): string[] => all(stage, 'RUN').map((i) => i.args);

/** The stage's WORKDIR in force at `instruction` (absolute paths only, as ours are). */
function workdirAt(stage: DockerStage, instruction: DockerInstruction): string {
  const before = stage.instructions.filter((i) => i.keyword === 'WORKDIR' && i.line < instruction.line);
  return before.at(-1)?.args ?? '/';
}

/** COPY instructions as {from?, sources, destination (absolute)}. */
function copies(stage: DockerStage): { from?: string; sources: string[]; destination: string }[] {
  return all(stage, 'COPY').map((instruction) => {
    const words = instruction.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    const destination = posix.resolve(workdirAt(stage, instruction), paths.at(-1) ?? '');
    return { ...(from ? { from } : {}), sources: paths.slice(0, -1), destination };
  });
}

describe('Dockerfile', () => {
  it('builds on Node 24, the major package.json pins for development', () => {
    const image = dockerfile.globalArgs.get('NODE_IMAGE');
    const pinned = /^\D*(\d+)\./.exec(packageJson.devDependencies.node ?? '')?.[1];
    expect(pinned).toBe('24');
    expect(image).toMatch(new RegExp(`^node:${pinned}-`));
    // Every stage starts from that image (none from a stray `node:latest`).
    expect(dockerfile.stages.map((s) => s.from)).toEqual(dockerfile.stages.map(() => '${NODE_IMAGE}'));
  });

  it('runs as the non-root user 27:27, the uid of the daemon Deployment and of the Jobs, with HOME /home/bloodraven', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user, 'numeric, so the kubelet can verify runAsNonRoot').toMatch(/^\d+:\d+$/);
    const [uid, gid] = (user ?? '').split(':').map(Number);
    expect(uid).not.toBe(0);
    // The Jobs' pods run as the image's user by default (the reference's 27).
    expect([uid, gid]).toEqual([imageUserId, imageUserId]);
    expect([daemonPod?.securityContext?.runAsUser, daemonPod?.securityContext?.runAsGroup]).toEqual([uid, gid]);
    const useradd = runs(runtime).find((r) => r.includes('useradd'));
    expect(useradd).toContain(`--uid ${uid} --gid ${gid} --home-dir /home/bloodraven --create-home`);
    const env = new Map(all(runtime, 'ENV').flatMap((i) => [...envPairs(i.args)]));
    expect(env.get('HOME')).toBe('/home/bloodraven');
    expect(daemonContainer?.env?.find((e) => e.name === 'HOME')?.value).toBe('/home/bloodraven');
  });

  it('puts `bloodraven` on PATH, linked to the package bin, and makes it the entrypoint', () => {
    expect(execForm(last(runtime, 'ENTRYPOINT')?.args ?? '')).toEqual(['bloodraven']);
    const bin = posix.normalize(packageJson.bin.bloodraven ?? '');
    expect(bin).toBe('bin/run.js');
    const link = runs(runtime)
      .map((r) => /ln -s (\S+) \/usr\/local\/bin\/bloodraven\b/.exec(r)?.[1])
      .find((target) => target !== undefined);
    // The link's target is the bin file the runtime stage copied into its app folder.
    const binCopy = copies(runtime).find((c) => !c.from && c.sources.includes('bin'));
    expect(binCopy).toBeDefined();
    expect(link).toBe(posix.join(binCopy?.destination ?? '', posix.basename(bin)));
    // The target runs through its shebang: it must be executable and find node on PATH.
    expect(execFileSync('git', ['ls-files', '-s', bin], { cwd: root, encoding: 'utf8' })).toMatch(/^100755 /);
    expect(read(bin).split('\n')[0]).toMatch(/^#!\/usr\/bin\/env -S node\b/);
  });

  it('installs the runtime dependencies without dev ones or lifecycle scripts, beside package.json, bin and the built dist', () => {
    const app = copies(runtime).find((c) => c.sources.includes('package.json'))?.destination;
    expect(app).toBe('/opt/bloodraven');
    expect(copies(runtime).find((c) => c.sources.includes('package.json'))?.sources).toContain('package-lock.json');
    const ci = runs(runtime).find((r) => r.includes('npm ci'));
    expect(ci).toMatch(/npm ci --omit=dev --ignore-scripts/);
    // oclif loads its commands from dist/commands; dist comes from the build stage's tsc outDir.
    const tsconfigBuild = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string } };
    const build = dockerfile.stages.find((s) => s.name === 'build') as DockerStage;
    expect(runs(build).some((r) => r.includes('tsc -p tsconfig.build.json'))).toBe(true);
    const buildWorkdir = last(build, 'WORKDIR')?.args ?? '/';
    const distCopy = copies(runtime).find((c) => c.from === 'build');
    expect(distCopy?.sources).toEqual([posix.join(buildWorkdir, tsconfigBuild.compilerOptions.outDir)]);
    expect(posix.relative(app ?? '', distCopy?.destination ?? '')).toBe(posix.normalize(packageJson.oclif.commands).split('/')[0]);
    expect(copies(build).flatMap((c) => c.sources)).toEqual(expect.arrayContaining(['src', 'tsconfig.json', 'tsconfig.build.json']));
  });

  it('ships the oclif.manifest.json the build stage writes from the compiled commands, as `npm run build` does', () => {
    const build = dockerfile.stages.find((s) => s.name === 'build') as DockerStage;
    // Written from dist/ after the compile (scripts/gen-manifest.js imports the built commands).
    expect(runs(build).some((r) => /tsc -p tsconfig\.build\.json && node scripts\/gen-manifest\.js$/.test(r))).toBe(true);
    expect(packageJson.scripts.build).toMatch(/tsc -p tsconfig\.build\.json && node scripts\/gen-manifest\.js$/);
    expect(copies(build).flatMap((c) => c.sources)).toContain('scripts/gen-manifest.js');
    // oclif reads it from the package root, beside package.json.
    const manifestCopy = copies(runtime).find((c) => c.from === 'build' && c.sources.some((s) => posix.basename(s) === 'oclif.manifest.json'));
    expect(manifestCopy?.sources).toEqual([posix.join(last(build, 'WORKDIR')?.args ?? '/', 'oclif.manifest.json')]);
    expect(manifestCopy?.destination).toBe(copies(runtime).find((c) => c.sources.includes('package.json'))?.destination);
  });

  it('sends the builder every file a COPY names, and not the local node_modules or dist', () => {
    const sources = dockerfile.stages.flatMap((stage) => copies(stage).filter((c) => !c.from).flatMap((c) => c.sources));
    for (const source of sources) expect(inBuildContext(dockerignore, source), source).toBe(true);
    for (const local of ['node_modules', 'dist', '.git', 'test']) expect(inBuildContext(dockerignore, local), local).toBe(false);
  });

  it('has the mount points of the Job contract and the MariaDB client tools', () => {
    const mkdir = runs(runtime).find((r) => r.startsWith('mkdir -p '));
    // HOME and /tmp are emptyDirs (HOME is also useradd's); the rest are the Secrets' and the claim's.
    const { home, tmp, ...mounted } = mountPaths;
    expect([home, tmp]).toEqual(['/home/bloodraven', '/tmp']);
    for (const path of Object.values(mounted)) expect(mkdir?.split(/\s+/), path).toContain(path);
    expect(runs(runtime).some((r) => /apt-get install .*\bmariadb-client\b/.test(r))).toBe(true);
  });

  // Verification in the cluster (issue 11).
  it('has the scratch server verification Jobs start (mariadbd and mariadb-install-db from mariadb-server), with its datadir on the pod’s /tmp emptyDir', () => {
    expect(runs(runtime).some((r) => /apt-get install .*\bmariadb-server\b/.test(r))).toBe(true);
    const parsed = validateGroupSpec(verifyingGroupSpec);
    if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
    const group = { metadata: { name: 'orders', namespace: 'shop', uid: 'g-1' }, spec: parsed.data };
    const profile = group.spec.backup?.profiles[0];
    const job = verificationJob({
      group,
      profile: profile!,
      verification: { apiVersion: 'shipstream.io/v1alpha1', kind: 'MysqlBackupVerification', metadata: { name: 'v1', namespace: 'shop', uid: 'v-1' }, spec: { failoverGroupRef: { name: 'orders' }, profileName: 'offsite' } },
      storedBackupName: 'orders-offsite-20261201-100000',
    });
    const pod = job.spec?.template.spec;
    const container = pod?.containers[0];
    expect(container?.command).toEqual(execForm(last(runtime, 'ENTRYPOINT')?.args ?? ''));
    expect(container?.args).toEqual(['verify', '--backup', 'orders-offsite-20261201-100000', '--profile', 'offsite', '--scratch', 'sandbox', '--result-file', '/dev/termination-log']);
    // The sandbox's datadir goes under os.tmpdir(), which is TMPDIR: /tmp, an emptyDir on a read-only root.
    expect(container?.env?.find((e) => e.name === 'TMPDIR')?.value).toBe(mountPaths.tmp);
    const tmpVolume = container?.volumeMounts?.find((m) => m.mountPath === mountPaths.tmp)?.name;
    expect(pod?.volumes?.find((v) => v.name === tmpVolume)?.emptyDir).toBeDefined();
    expect(container?.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(pod?.securityContext?.runAsUser).toBe(imageUserId);
    // No MySQL account: nothing of the source is mounted.
    expect(container?.volumeMounts?.map((m) => m.mountPath)).not.toContain(mountPaths.mysqlCredentials);
  });
});

const verifyingGroupSpec = {
  sites: [{ name: 'east' }],
  credentials: { backupSecret: 'mysql-backup' },
  backup: {
    profiles: [{ name: 'offsite', storage: { type: 'S3', s3: { bucket: 'backups', prefix: 'orders', credentialsSecret: 's3' } }, verification: { schedule: '0 5 * * *' } }],
  },
};

describe('the daemon Deployment against the image', () => {
  it('runs the entrypoint with the daemon subcommand, HOME and /tmp writable on a read-only root', () => {
    expect(daemonContainer?.command).toEqual(execForm(last(runtime, 'ENTRYPOINT')?.args ?? ''));
    expect(daemonContainer?.args?.[0]).toBe('daemon');
    // It serves on every interface, on the port the probes and the Service use.
    const args = daemonContainer?.args ?? [];
    const listen = parseListen(args[args.indexOf('--listen') + 1] ?? '');
    expect(listen).toEqual({ host: '0.0.0.0', port: daemonContainer?.ports?.find((p) => p.name === 'metrics')?.containerPort });
    expect(daemonContainer?.securityContext?.readOnlyRootFilesystem).toBe(true);
    const mounts = new Map(daemonContainer?.volumeMounts?.map((m) => [m.mountPath, m.name]));
    for (const path of ['/home/bloodraven', '/tmp']) {
      const volume = daemonPod?.volumes?.find((v) => v.name === mounts.get(path));
      expect(volume?.emptyDir, path).toBeDefined();
    }
  });

  it('passes only flags the daemon command declares', () => {
    const declared = new Set([...Object.keys(Daemon.baseFlags), ...Object.keys(Daemon.flags)]);
    const used = (daemonContainer?.args ?? []).filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0] ?? '');
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((flag) => !declared.has(flag)), 'flags of deploy/deployment.yaml missing from src/commands/daemon.ts').toEqual([]);
  });
});

describe('the Dockerfile reader used above', () => {
  it('joins continuations, drops comments inside them, and splits stages', () => {
    const parsed = parseDockerfile(['# syntax=docker/dockerfile:1', 'ARG BASE=img:1', 'FROM ${BASE} AS one', 'RUN a \\', '  # a comment', '  && b', 'from one', 'ENTRYPOINT ["x", "y"]'].join('\n'));
    expect([...parsed.globalArgs]).toEqual([['BASE', 'img:1']]);
    expect(parsed.stages.map((s) => [s.from, s.name])).toEqual([
      ['${BASE}', 'one'],
      ['one', undefined],
    ]);
    expect(parsed.stages[0]?.instructions).toEqual([{ keyword: 'RUN', args: 'a && b', line: 4 }]);
    expect(execForm(parsed.stages[1]?.instructions[0]?.args ?? '')).toEqual(['x', 'y']);
    expect(execForm('x y')).toBeUndefined();
  });

  it('reads .dockerignore with the last matching line deciding, and refuses globs it cannot match', () => {
    expect(inBuildContext('*\n!src\n', 'src/a.ts')).toBe(true);
    expect(inBuildContext('*\n!src\n', 'srcx')).toBe(false);
    expect(inBuildContext('node_modules\n', 'node_modules/x')).toBe(false);
    expect(inBuildContext('node_modules\n', 'package.json')).toBe(true);
    expect(() => inBuildContext('**/*.md\n', 'README.md')).toThrow(/not supported/);
  });
});
