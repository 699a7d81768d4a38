/**
 * The commands a Kubernetes Job's pod runs, as the pod runs them: the built CLI in a child
 * process with its whole config in BLOODRAVEN_CONFIG_YAML and no bloodraven.yaml around, against
 * a real MariaDB server, a folder (a PVC profile) and s3rver (an S3 profile); `--result-file`
 * standing for the termination message. `backup request` runs against the test API server with
 * the real client-node.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { takeReaderLease } from '../../src/lib/catalog/reader-lease.js';
import { createLogger } from '../../src/lib/log.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { createStore } from '../../src/lib/storage/create-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { cliBin, type CliResult } from '../support/cli.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { startS3Server, type S3TestServer } from '../support/s3.js';
import { startApiServer, type TestApiServer } from '../support/kube/api-server.js';
import { rbacAllows, rbacGrantsFor } from '../support/kube/rbac.js';
import { requesterName, requesterRole, requesterRoleBinding } from '../../src/lib/kube/objects.js';
import type { ParsedGroup } from '../../src/lib/kube/resources.js';

let server: TestServer;
let s3: S3TestServer;
let work: string;
/** Credentials as a pod gets them: files in a folder (a mounted Secret). */
let mysqlCreds: string;
let awsCreds: string;

/**
 * `bloodraven ...args` in `cwd` with `env` added (BLOODRAVEN_CONFIG_YAML, KUBECONFIG), as a Job's
 * container; `signal` is sent (`times` times, 200 ms apart) once stderr matches `when`, as the
 * kubelet does when a pod is stopped.
 */
function job(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; interrupt?: { when: RegExp; signal: NodeJS.Signals; times?: number } },
): Promise<CliResult & { signal?: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...options.env };
    // What the test runner's environment may carry must not stand in for what the test passes.
    if (!options.env?.BLOODRAVEN_CONFIG_YAML) delete env.BLOODRAVEN_CONFIG_YAML;
    if (!options.env?.KUBECONFIG) delete env.KUBECONFIG;
    if (!options.env?.KUBERNETES_SERVICE_HOST) delete env.KUBERNETES_SERVICE_HOST;
    const child = spawn(process.execPath, [cliBin, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      const interrupt = options.interrupt;
      if (interrupt && !sent && interrupt.when.test(stderr)) {
        sent = true;
        for (let i = 0; i < (interrupt.times ?? 1); i++) setTimeout(() => child.kill(interrupt.signal), i * 200);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, stdout, stderr, signal }));
  });
}

/** A Job's config: the one profile, credentials from folders, paths relative to the pod's working directory. */
function jobConfig(profile: 'pvc' | 'offsite', options: { credentialsDir?: string; schema?: string } = {}): string {
  const storage =
    profile === 'pvc'
      ? '{ type: PVC, pvc: { path: ./backups } }'
      : `{ type: S3, s3: { bucket: backups, prefix: team/shop, endpointURL: "${s3.endpoint}", credentialsDir: ${awsCreds}, partSize: 5242880 } }`;
  return `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, credentialsDir: ${options.credentialsDir ?? mysqlCreds} }
backup:
  profiles:
    - name: ${profile}
      storage: ${storage}
      dump: { threads: 2, bytesPerChunk: 128k, includeSchemas: [${options.schema ?? 'shop'}] }
`;
}

/** A pod's working directory: empty, no bloodraven.yaml. */
async function podDir(): Promise<string> {
  return mkdtemp(join(work, 'pod-'));
}

async function readResult(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8');
  expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
  // One compact line, as a termination message shows best.
  expect(text).not.toContain('\n');
  return JSON.parse(text) as Record<string, unknown>;
}

/** Every file under `dir`, relative to it. */
async function treeOf(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The S3 profile's storage, read with the real S3 client. */
function s3Store(): Promise<ObjectStore> {
  return createStore(
    { type: 'S3', s3: { bucket: 'backups', prefix: 'team/shop', endpointURL: s3.endpoint, credentialsDir: awsCreds, partSize: 5242880 } },
    { configDir: work },
  );
}

async function secretDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(work, 'secret-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { mode: 0o400 });
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-jobcli-'));
  [server, s3] = await Promise.all([startTestServer(), startS3Server({ buckets: ['backups'] })]);
  await sql(
    server,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200));
     INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_20000;
     CREATE USER 'backup'@'%' IDENTIFIED BY 's3cret-pw';
     GRANT SELECT, SHOW VIEW, EVENT, TRIGGER, RELOAD, BINLOG MONITOR ON *.* TO 'backup'@'%';`,
  );
  mysqlCreds = await secretDir({ MYSQL_USER: 'backup', MYSQL_PASSWORD: 's3cret-pw' });
  awsCreds = await secretDir({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'eu-west-1' });
});

afterAll(async () => {
  await Promise.all([server?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('backup now in a Job: config from BLOODRAVEN_CONFIG_YAML, --result-file', () => {
  it('backs up to the PVC profile and leaves the record summary in the result file; the sentinel line stays', async () => {
    const cwd = await podDir();
    const resultFile = join(cwd, 'termination-log');
    const r = await job(['backup', 'now', '--profile', 'pvc', '--result-file', resultFile], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc') } });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const result = await readResult(resultFile);
    expect(Object.keys(result)).toEqual(['phase', 'name', 'location', 'sizeBytes', 'gtidExecuted', 'binlogFile', 'binlogPos', 'startTime', 'completionTime']);
    // ./backups is relative to the working directory: the config has no folder of its own.
    expect(result.location).toBe(join(cwd, 'backups', result.name as string));
    const record = JSON.parse(await readFile(join(result.location as string, 'bloodraven.json'), 'utf8')) as BackupRecord;
    expect(result).toEqual({
      phase: 'Succeeded',
      name: record.name,
      location: record.location,
      sizeBytes: record.sizeBytes,
      gtidExecuted: record.gtidExecuted,
      binlogFile: record.binlogFile,
      binlogPos: record.binlogPos,
      startTime: record.startedAt,
      completionTime: record.completedAt,
    });
    expect(record).toMatchObject({ phase: 'Succeeded', group: 'shop', profile: 'pvc' });
    expect(record.sizeBytes).toBeGreaterThan(0);
    expect(record.binlogFile).toMatch(/\.0+\d+$/);
    const sentinel = r.stdout.trimEnd().split('\n').at(-1)!;
    expect(sentinel.startsWith('BLOODRAVEN_DUMP_COMPLETE ')).toBe(true);
    expect(JSON.parse(sentinel.slice('BLOODRAVEN_DUMP_COMPLETE '.length))).toMatchObject({ location: result.location, sizeBytes: result.sizeBytes });
  });

  it('backs up to the S3 profile: the location is the s3:// URL of the stored backup', async () => {
    const cwd = await podDir();
    const resultFile = join(cwd, 'termination-log');
    const r = await job(['backup', 'now', '--profile', 'offsite', '--result-file', resultFile], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('offsite') } });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const result = await readResult(resultFile);
    const name = result.name as string;
    expect(result.location).toBe(`s3://backups/team/shop/${name}`);
    const store = await s3Store();
    const record = JSON.parse((await store.get(`${name}/bloodraven.json`)).toString('utf8')) as BackupRecord;
    expect(result).toMatchObject({ phase: 'Succeeded', sizeBytes: record.sizeBytes, binlogPos: record.binlogPos, startTime: record.startedAt });
  });

  it('leaves phase Failed with the reason when the server refuses the account, naming the backup and never the password', async () => {
    const cwd = await podDir();
    const resultFile = join(cwd, 'termination-log');
    const wrong = await secretDir({ MYSQL_USER: 'backup', MYSQL_PASSWORD: 'not-the-password' });
    const r = await job(['backup', 'now', '--profile', 'pvc', '--result-file', resultFile], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc', { credentialsDir: wrong }) } });
    expect(r.code).toBe(1);
    const result = await readResult(resultFile);
    expect(Object.keys(result)).toEqual(['phase', 'name', 'reason', 'message']);
    expect(result).toMatchObject({ phase: 'Failed', reason: 'MYSQL_ACCESS_DENIED', name: expect.stringMatching(/^shop-pvc-\d{8}-\d{6}$/) as string });
    expect(result.message).toMatch(/refused user 'backup'/);
    expect(JSON.stringify(result)).not.toContain('not-the-password');
    // The name is the backup whose record says Failed.
    const record = JSON.parse(await readFile(join(cwd, 'backups', result.name as string, 'bloodraven.json'), 'utf8')) as BackupRecord;
    expect(record.phase).toBe('Failed');
  });

  it('leaves phase Failed with CONFIG_INVALID and exits 2 when BLOODRAVEN_CONFIG_YAML is invalid, naming it', async () => {
    const cwd = await podDir();
    const resultFile = join(cwd, 'termination-log');
    const r = await job(['backup', 'now', '--result-file', resultFile], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc').replace('threads: 2', 'threads: 0') } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('backup.profiles[0].dump.threads');
    expect(r.stderr).toContain('hint: fix BLOODRAVEN_CONFIG_YAML');
    const result = await readResult(resultFile);
    expect(result).toMatchObject({ phase: 'Failed', reason: 'CONFIG_INVALID', message: expect.stringContaining('backup.profiles[0].dump.threads') as string });
    expect('name' in result).toBe(false);
    expect(existsSync(join(cwd, 'backups'))).toBe(false);
  });

  /** `backup now` of a schema big enough to be stopped mid-dump by `times` SIGTERMs. */
  async function stoppedBackup(times: number): Promise<{ run: CliResult & { signal?: NodeJS.Signals | null }; result: Record<string, unknown> }> {
    await sql(server, `CREATE DATABASE IF NOT EXISTS big; USE big; CREATE TABLE IF NOT EXISTS big.rows_ (id INT PRIMARY KEY, v VARCHAR(200)); INSERT IGNORE INTO big.rows_ SELECT seq, REPEAT('x', 200) FROM seq_1_to_400000;`);
    const cwd = await podDir();
    const resultFile = join(cwd, 'termination-log');
    const run = await job(['backup', 'now', '--profile', 'pvc', '--result-file', resultFile], {
      cwd,
      env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc', { schema: 'big' }) },
      interrupt: { when: /progress: /, signal: 'SIGTERM', times },
    });
    return { run, result: await readResult(resultFile) };
  }

  it('leaves phase Failed, ABORTED, when stopped by SIGTERM mid-dump (exit 130)', async () => {
    const { run, result } = await stoppedBackup(1);
    expect(run.code, run.stderr).toBe(130);
    expect(result).toMatchObject({ phase: 'Failed', reason: 'ABORTED', name: expect.stringMatching(/^shop-pvc-/) as string });
  });

  it('leaves phase Failed, ABORTED, when a second SIGTERM ends it at once', async () => {
    const { run, result } = await stoppedBackup(2);
    expect(run.code === 130 || run.signal === 'SIGTERM', run.stderr).toBe(true);
    expect(result).toMatchObject({ phase: 'Failed', reason: 'ABORTED', name: expect.stringMatching(/^shop-pvc-/) as string });
  });

  it('leaves phase Failed (USAGE, exit 2) for a flag it does not know, found in the raw arguments', async () => {
    const cwd = await podDir();
    const resultFile = join(cwd, 'termination-log');
    const r = await job(['backup', 'now', '--from-a-newer-daemon', '--result-file', resultFile], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc') } });
    expect(r.code).toBe(2);
    expect(await readResult(resultFile)).toMatchObject({ phase: 'Failed', reason: 'USAGE', message: expect.stringContaining('--from-a-newer-daemon') as string });
  });
});

describe('backup delete in a Job', () => {
  let cwd: string;
  let names: string[];

  beforeAll(async () => {
    // Two backups in the PVC profile of one pod folder, a second apart (names are by the second).
    cwd = await podDir();
    names = [];
    for (let i = 0; i < 2; i++) {
      const r = await job(['backup', 'now', '--profile', 'pvc', '--json'], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc') } });
      if (r.code !== 0) throw new Error(`backup now failed: ${r.stderr}`);
      names.push((JSON.parse(r.stdout) as BackupRecord).name);
    }
    if (new Set(names).size !== 2) throw new Error(`two backups were expected: ${names.join(', ')}`);
  });

  const del = (args: string[], resultFile: string): Promise<CliResult> =>
    job(['backup', 'delete', ...args, '--profile', 'pvc', '--result-file', resultFile], { cwd, env: { BLOODRAVEN_CONFIG_YAML: jobConfig('pvc') } });

  it('refuses a name that is not a plain backup name (exit 2, naming NAME) and touches nothing', async () => {
    // What "../x" and "a/b" would reach if they were used as folder names.
    await mkdir(join(cwd, 'x'), { recursive: true });
    await writeFile(join(cwd, 'x', 'bloodraven.json'), '{}');
    await mkdir(join(cwd, 'backups', 'a', 'b'), { recursive: true });
    await writeFile(join(cwd, 'backups', 'a', 'b', 'bloodraven.json'), '{}');
    const before = await treeOf(cwd);
    for (const name of ['../x', 'a/b', '..', '']) {
      const resultFile = join(work, `result-${names.length}-${Buffer.from(name).toString('hex')}`);
      const r = await del([name, '--yes'], resultFile);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`NAME ${JSON.stringify(name)}`);
      expect(await readResult(resultFile)).toMatchObject({ phase: 'Failed', name, deleted: false, alreadyGone: false, reason: 'BACKUP_NAME_INVALID' });
    }
    expect(await treeOf(cwd)).toEqual(before);
  });

  it('asks for --yes without a terminal, deleting nothing', async () => {
    const before = await treeOf(cwd);
    const resultFile = join(work, 'result-no-yes');
    const r = await del([names[0]!], resultFile);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--yes');
    expect(await readResult(resultFile)).toMatchObject({ phase: 'Failed', reason: 'CONFIRMATION_REQUIRED' });
    expect(await treeOf(cwd)).toEqual(before);
  });

  it('refuses a backup a reader holds a lease on (exit 3), and one whose run is alive', async () => {
    const store = await createStore({ type: 'PVC', pvc: { path: join(cwd, 'backups') } }, { configDir: cwd, logger: createLogger(() => undefined), configPath: 'test', runner: nodeProcessRunner });
    const lease = await takeReaderLease(store, names[0]!, { purpose: 'verify (test)', logger: createLogger(() => undefined) });
    try {
      const resultFile = join(work, 'result-leased');
      const r = await del([names[0]!, '--yes'], resultFile);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('being read by verify (test)');
      expect(await readResult(resultFile)).toMatchObject({ phase: 'Failed', name: names[0], reason: 'BACKUP_IN_USE', deleted: false });
      expect(existsSync(join(cwd, 'backups', names[0]!, '@.done.json'))).toBe(true);
    } finally {
      await lease.release();
    }
    // A Running record whose process (this test's) lives and whose heartbeat is fresh.
    const running = join(cwd, 'backups', 'shop-pvc-20990101-000000');
    await mkdir(running);
    const record = JSON.parse(await readFile(join(cwd, 'backups', names[0]!, 'bloodraven.json'), 'utf8')) as BackupRecord;
    const now = new Date().toISOString();
    await writeFile(join(running, 'bloodraven.json'), JSON.stringify({ ...record, name: 'shop-pvc-20990101-000000', phase: 'Running', completedAt: null, heartbeatAt: now, runner: { hostname: hostname(), pid: process.pid } }));
    try {
      const resultFile = join(work, 'result-running');
      const r = await del(['shop-pvc-20990101-000000', '--yes'], resultFile);
      expect(r.code).toBe(3);
      expect(await readResult(resultFile)).toMatchObject({ phase: 'Failed', reason: 'BACKUP_RUNNING' });
      expect(existsSync(join(running, 'bloodraven.json'))).toBe(true);
    } finally {
      await rm(running, { recursive: true });
    }
  });

  it('deletes one backup: all its files go, record included; the other backup stays whole', async () => {
    const other = await treeOf(join(cwd, 'backups', names[1]!));
    const resultFile = join(work, 'result-delete');
    const r = await del([names[0]!, '--yes'], resultFile);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Deleted backup ${names[0]}`);
    expect(existsSync(join(cwd, 'backups', names[0]!))).toBe(false);
    expect(await treeOf(join(cwd, 'backups', names[1]!))).toEqual(other);
    expect(await readResult(resultFile)).toEqual({ phase: 'Succeeded', name: names[0], location: join(cwd, 'backups', names[0]!), deleted: true, alreadyGone: false });
  });

  it('counts a backup that is not there as done: exit 0, alreadyGone', async () => {
    const resultFile = join(work, 'result-gone');
    const r = await del([names[0]!, '--yes'], resultFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('already gone');
    expect(await readResult(resultFile)).toEqual({ phase: 'Succeeded', name: names[0], location: join(cwd, 'backups', names[0]!), deleted: false, alreadyGone: true });
  });

  it('deletes a backup from the S3 profile', async () => {
    const pod = await podDir();
    const env = { BLOODRAVEN_CONFIG_YAML: jobConfig('offsite') };
    const made = await job(['backup', 'now', '--profile', 'offsite', '--json'], { cwd: pod, env });
    expect(made.stderr).not.toMatch(/error:/);
    const name = (JSON.parse(made.stdout) as BackupRecord).name;
    expect(existsSync(join(s3.directory, 'backups', 'team', 'shop', name))).toBe(true);
    const resultFile = join(pod, 'termination-log');
    const r = await job(['backup', 'delete', name, '--profile', 'offsite', '--yes', '--result-file', resultFile], { cwd: pod, env });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect(await readResult(resultFile)).toMatchObject({ phase: 'Succeeded', deleted: true, location: `s3://backups/team/shop/${name}` });
    expect(await (await s3Store()).list(`${name}/`)).toEqual([]);
    expect((await (await s3Store()).list('')).length).toBeGreaterThan(0);
  });
});

describe('backup request in a CronJob', () => {
  let api: TestApiServer;
  let kubeconfig: string;
  let cwd: string;

  beforeAll(async () => {
    api = await startApiServer();
    cwd = await podDir();
    kubeconfig = join(cwd, 'kubeconfig');
    await api.writeKubeconfig(kubeconfig);
    const kc = api.kubeConfig();
    const crd = parseYaml(await readFile(join(import.meta.dirname, '..', '..', 'crds', 'mysqlbackups.shipstream.io.yaml'), 'utf8')) as V1CustomResourceDefinition;
    await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: crd });
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'shop' } } });
  });

  afterAll(async () => {
    await api?.stop();
  });

  const request = (args: string[], env: Record<string, string> = { KUBECONFIG: kubeconfig }): Promise<CliResult> => job(['backup', 'request', ...args], { cwd, env });

  it('creates one MysqlBackup for the schedule, and nothing else; the created object reads back with the real client', async () => {
    const before = api.requests.length;
    const r = await request(['--namespace', 'shop', '--group', 'orders', '--profile', 'offsite', '--schedule', 'nightly']);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const name = r.stdout.trim();
    expect(name).toMatch(/^orders-nightly-[a-z0-9]{5}$/);
    // One create of mysqlbackups, which the Role the daemon gives the schedule's requester allows.
    const sent = api.requests.slice(before);
    expect(sent.map((q) => [q.verb, q.group, q.resource, q.namespace])).toEqual([['create', 'shipstream.io', 'mysqlbackups', 'shop']]);
    const group = { metadata: { name: 'orders', namespace: 'shop', uid: 'u-1' }, spec: {} } as unknown as ParsedGroup;
    const grants = rbacGrantsFor([requesterRole(group), requesterRoleBinding(group)], { namespace: 'shop', name: requesterName('orders') });
    for (const request of sent) expect(rbacAllows(grants, request), JSON.stringify(request)).toBe(true);
    const read = (await api.kubeConfig().makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: 'shipstream.io', version: 'v1alpha1', namespace: 'shop', plural: 'mysqlbackups', name })) as {
      metadata: { generateName: string; labels: Record<string, string> };
      spec: unknown;
    };
    expect(read.metadata.generateName).toBe('orders-nightly-');
    expect(read.metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'bloodraven',
      'shipstream.io/group': 'orders',
      'shipstream.io/profile': 'offsite',
      'shipstream.io/schedule': 'nightly',
    });
    expect(read.spec).toEqual({ failoverGroupRef: { name: 'orders' }, profileName: 'offsite', triggeredBy: 'schedule' });
  });

  it('makes a manual request without --schedule, printing the created object with --json', async () => {
    const r = await request(['--namespace', 'shop', '--group', 'orders', '--profile', 'offsite', '--json']);
    expect(r.code).toBe(0);
    const created = JSON.parse(r.stdout) as { metadata: { name: string; labels: Record<string, string> }; spec: unknown };
    expect(created.metadata.name).toMatch(/^orders-manual-[a-z0-9]{5}$/);
    expect(created.metadata.labels['shipstream.io/schedule']).toBeUndefined();
    expect(created.spec).toEqual({ failoverGroupRef: { name: 'orders' }, profileName: 'offsite', triggeredBy: 'manual' });
    expect(api.get('shipstream.io/v1alpha1', 'MysqlBackup', 'shop', created.metadata.name)).toBeDefined();
  });

  it('says the namespace is missing (404)', async () => {
    const r = await request(['--namespace', 'nowhere', '--group', 'orders', '--profile', 'offsite']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('namespace nowhere does not exist');
  });

  it('says to install the CRDs when the API server does not serve mysqlbackups (404)', async () => {
    const bare = await startApiServer();
    try {
      const config = join(cwd, 'kubeconfig-bare');
      await bare.writeKubeconfig(config);
      const r = await request(['--namespace', 'default', '--group', 'orders', '--profile', 'offsite'], { KUBECONFIG: config });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('does not serve mysqlbackups.shipstream.io');
      expect(r.stderr).toContain('hint: install');
      expect(r.stderr).toContain('kubectl apply -f crds/');
    } finally {
      await bare.stop();
    }
  });

  it('names the missing permission when the API server forbids the create (403)', async () => {
    // The test API server has no RBAC: this one stands for an API server denying the ServiceAccount.
    const denying: Server = createServer((req, res) => {
      req.resume();
      const body = JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'mysqlbackups.shipstream.io is forbidden: User "system:serviceaccount:shop:default" cannot create resource "mysqlbackups" in API group "shipstream.io" in the namespace "shop"',
        reason: 'Forbidden',
        details: { group: 'shipstream.io', kind: 'mysqlbackups' },
        code: 403,
      });
      res.writeHead(403, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => denying.listen(0, '127.0.0.1', resolve));
    try {
      const config = join(cwd, 'kubeconfig-denying');
      await writeFile(
        config,
        `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "http://127.0.0.1:${(denying.address() as AddressInfo).port}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: {} }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`,
      );
      const r = await request(['--namespace', 'shop', '--group', 'orders', '--profile', 'offsite', '--schedule', 'nightly'], { KUBECONFIG: config });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('not allowed to create mysqlbackups.shipstream.io in namespace shop (403)');
      expect(r.stderr).toMatch(/hint: grant the verb create on mysqlbackups .* mysql-orders-backup-requester/);
    } finally {
      denying.closeAllConnections();
      await new Promise<void>((resolve) => denying.close(() => resolve()));
    }
  });

  it('fails clearly when the API server cannot be reached, and without any kubeconfig outside a cluster', async () => {
    const gone = await startApiServer();
    const config = join(cwd, 'kubeconfig-gone');
    await gone.writeKubeconfig(config);
    await gone.stop();
    const unreachable = await request(['--namespace', 'shop', '--group', 'orders', '--profile', 'offsite'], { KUBECONFIG: config });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the Kubernetes API server at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    const none = await request(['--namespace', 'shop', '--group', 'orders', '--profile', 'offsite'], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('KUBECONFIG is not set');
  });

  it('refuses a name that is not a Kubernetes name (exit 2), creating nothing', async () => {
    const before = api.writes.length;
    const r = await request(['--namespace', 'shop', '--group', 'Orders', '--profile', 'offsite']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--group: "Orders" is not a Kubernetes name');
    expect(api.writes.length).toBe(before);
  });
});
