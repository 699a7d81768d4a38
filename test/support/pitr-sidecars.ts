/**
 * PITR archiving as it runs in a cluster, for tests: two MariaDB servers in GTID replication
 * (replication.ts: east the primary, west the read-only replica), and beside each a sidecar
 * archiver (`bloodraven pitr archive --sidecar`, the built CLI) as its own process, the way the
 * pod runs it:
 *
 * - as a non-root user (uid 65534, group 0: the group that may read the server's files, as a
 *   pod's fsGroup does) that cannot write the binlog folder, which is made read-only (0555), as
 *   the test cluster mounts read-only volumes;
 * - its config in BLOODRAVEN_CONFIG_YAML, the MySQL account and S3 credentials as 0400 files;
 * - its endpoints on a free loopback port.
 *
 * `failover()` promotes west the way a failover operator does (replication stopped, west made
 * writable, east read-only). Tests of the in-cluster restore reuse this set-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliBin } from './cli.js';
import { freePort } from './kube/daemon-process.js';
import { sql, type TestServer } from './mariadb.js';
import { startReplicatedSites, type ReplicatedSites } from './replication.js';
import { s3rverCredentials } from './s3.js';
import type { SidecarStatus } from '../../src/lib/pitr/sidecar.js';

/** The user the sidecars run as: not root, in root's group (which owns the servers' files). */
export const sidecarUser = { uid: 65534, gid: 0 };

/** Where the archive lives: an S3 profile on s3rver. */
export interface ArchiveStorage {
  /** s3rver's endpoint. */
  endpoint: string;
  bucket: string;
  prefix: string;
  /** The profile's name (backup.pitr.profileName). */
  profile: string;
}

export interface SidecarProcess {
  readonly site: string;
  /** `http://127.0.0.1:<port>` of its endpoints. */
  readonly url: string;
  /** The read-only folder it reads binlogs from (the server's datadir). */
  readonly binlogDir: string;
  /** GET /archiver/status. */
  status(): Promise<SidecarStatus>;
  get(path: string): Promise<{ status: number; body: string }>;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export interface SidecarSettings {
  /** The daemon's /pitr-cutoff URL with its query; none: no pruning. */
  cutoffUrl?: string;
  /** --cutoff-interval (default 1s). */
  cutoffInterval?: string;
  /** backup.pitr.archivePollInterval in seconds (default 1). */
  pollSeconds?: number;
}

/** The bloodraven.yaml of a sidecar: the pod's server, the archive profile, pitr on. */
export function sidecarConfigYaml(server: TestServer, storage: ArchiveStorage, dirs: { mysqlCreds: string; awsCreds: string }, pollSeconds = 1): string {
  return `name: orders
mysql: { host: 127.0.0.1, port: ${server.port}, credentialsDir: ${dirs.mysqlCreds} }
backup:
  profiles:
    - name: ${storage.profile}
      storage: { type: S3, s3: { bucket: ${storage.bucket}, prefix: ${storage.prefix}, region: us-east-1, endpointURL: "${storage.endpoint}", credentialsDir: ${dirs.awsCreds} } }
  pitr: { enabled: true, profileName: ${storage.profile}, archivePollInterval: ${pollSeconds} }
`;
}

/** A folder of one-value files owned by the sidecar's user, 0400 like a mounted Secret. */
async function secretFolder(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o500 });
  for (const [name, value] of Object.entries(files)) {
    await writeFile(join(dir, name), value, { mode: 0o400 });
    await chown(join(dir, name), sidecarUser.uid, sidecarUser.gid);
  }
  await chown(dir, sidecarUser.uid, sidecarUser.gid);
  return dir;
}

/**
 * Makes `server`'s binlog folder (its datadir) read-only for everyone, and its parent passable by
 * the sidecar's group. The server itself runs as root and writes on.
 */
export async function makeBinlogFolderReadOnly(server: TestServer): Promise<void> {
  await chmod(join(server.datadir, '..'), 0o750);
  await chmod(server.datadir, 0o555);
}

/** Starts a sidecar beside `server`; resolves once /healthz answers. */
export async function startSidecar(server: TestServer, options: { site: string; work: string; storage: ArchiveStorage; account: { user: string; password: string } } & SidecarSettings): Promise<SidecarProcess> {
  const home = join(options.work, `sidecar-${options.site}`);
  await mkdir(home, { recursive: true });
  await chown(home, sidecarUser.uid, sidecarUser.gid);
  const tmp = join(home, 'tmp');
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  await chown(tmp, sidecarUser.uid, sidecarUser.gid);
  const mysqlCreds = await secretFolder(join(home, 'mysql-creds'), { MYSQL_USER: options.account.user, MYSQL_PASSWORD: options.account.password });
  const awsCreds = await secretFolder(join(home, 'aws-creds'), { AWS_ACCESS_KEY_ID: s3rverCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3rverCredentials.secretAccessKey });
  await makeBinlogFolderReadOnly(server);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [cliBin, 'pitr', 'archive', '--sidecar', '--listen', `127.0.0.1:${port}`, '--cutoff-interval', options.cutoffInterval ?? '1s'];
  if (options.cutoffUrl) args.push('--pitr-cutoff-url', options.cutoffUrl);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: home,
    uid: sidecarUser.uid,
    gid: sidecarUser.gid,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      TMPDIR: tmp,
      BLOODRAVEN_SITE: options.site,
      BLOODRAVEN_CONFIG_YAML: sidecarConfigYaml(server, options.storage, { mysqlCreds, awsCreds }, options.pollSeconds),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(url + path);
    return { status: res.status, body: await res.text() };
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the ${options.site} sidecar exited (${child.exitCode}) before serving:\n${out}`);
    try {
      if ((await get('/healthz')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 600) {
      child.kill('SIGKILL');
      throw new Error(`the ${options.site} sidecar did not serve /healthz within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    site: options.site,
    url,
    binlogDir: server.datadir,
    status: async () => JSON.parse((await get('/archiver/status')).body) as SidecarStatus,
    get,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    exited,
  };
}

/** The `spec.sites` of a MysqlFailoverGroup over these servers (east, then west). */
export function groupSites(sites: ReplicatedSites): Array<{ name: 'east' | 'west'; mysql: { host: string; port: number } }> {
  return [
    { name: 'east', mysql: { host: '127.0.0.1', port: sites.primary.port } },
    { name: 'west', mysql: { host: '127.0.0.1', port: sites.replica.port } },
  ];
}

export interface PitrSidecarSites {
  sites: ReplicatedSites;
  /** The sidecar beside each server, by site. */
  sidecars: { east: SidecarProcess; west: SidecarProcess };
  /** Promotes west: replication stopped once caught up (and its source forgotten), west writable, east read-only. */
  failover(): Promise<void>;
  /** Stops the sidecars, then the servers. */
  stop(): Promise<void>;
}

/**
 * Replicated sites (east primary, west replica) with a sidecar beside each. `settings` per site
 * (cutoff URL, intervals). `prepare` runs on the sites before the sidecars start (schemas, data).
 */
export async function startPitrSidecarSites(options: {
  work: string;
  storage: ArchiveStorage;
  settings?: { east?: SidecarSettings; west?: SidecarSettings };
  prepare?: (sites: ReplicatedSites) => Promise<void>;
}): Promise<PitrSidecarSites> {
  const work = await mkdtemp(join(options.work, 'sidecars-'));
  // The sidecars' user passes through (and only through) the folders above their own.
  await chmod(options.work, 0o711);
  await chmod(work, 0o711);
  const sites = await startReplicatedSites();
  const started: SidecarProcess[] = [];
  try {
    await options.prepare?.(sites);
    const common = { work, storage: options.storage, account: sites.account };
    const east = await startSidecar(sites.primary, { ...common, site: 'east', ...options.settings?.east });
    started.push(east);
    const west = await startSidecar(sites.replica, { ...common, site: 'west', ...options.settings?.west });
    started.push(west);
    return {
      sites,
      sidecars: { east, west },
      async failover() {
        await sites.caughtUp();
        // A promoted replica forgets its source: a restart must not resume replication.
        await sql(sites.replica, 'STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0');
        await sql(sites.primary, 'SET GLOBAL read_only = 1');
      },
      async stop() {
        await Promise.all([east.stop(), west.stop()]);
        await sites.stop();
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    await sites.stop();
    throw err;
  }
}
