/**
 * `verify --scratch sandbox` as a verification Job's pod runs it (issue 11): as the image's uid
 * 27, not root, with HOME and TMPDIR on folders of their own (the pod's emptyDirs), the config in
 * BLOODRAVEN_CONFIG_YAML and the result in --result-file. mariadb-install-db and mariadbd must run
 * as that user (no `--user=root`, which a non-root install refuses) with the datadir under TMPDIR.
 *
 * Needs root, to become uid 27 (setpriv): skipped otherwise. What it cannot show: a read-only root
 * filesystem (the process can still write outside HOME and TMPDIR here).
 */
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageUserId } from '../../src/lib/kube/security-context.js';
import { cliBin, type CliResult } from '../support/cli.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

const asRoot = process.getuid?.() === 0;

let server: TestServer;
let work: string;

function config(): string {
  return `name: shop
mysql: { socket: "${server.socket}", user: root }
backup:
  profiles:
    - { name: pvc, storage: { type: PVC, pvc: { path: "${join(work, 'backups')}" } }, dump: { threads: 1 } }
`;
}

/** The built CLI as `uid` (setpriv), with only the env given. */
function runAs(uid: number | null, args: string[], env: Record<string, string>): Promise<CliResult> {
  const argv = uid === null ? [process.execPath, cliBin, ...args] : ['setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', process.execPath, cliBin, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: work, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  if (!asRoot) return;
  work = await mkdtemp(join(tmpdir(), 'bloodraven-pod-user-'));
  // The pod's user must reach its folders (mkdtemp makes 0700 folders).
  await chmod(work, 0o755);
  server = await startTestServer();
  await sql(server, 'CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO app.t SELECT seq, CONCAT("v", seq) FROM app.seq_1_to_200');
  const backup = await runAs(null, ['backup', 'now', '--profile', 'pvc'], { HOME: join(work, 'root-home'), BLOODRAVEN_CONFIG_YAML: config() });
  if (backup.code !== 0) throw new Error(`backup now failed (${backup.code}):\n${backup.stderr}`);
  // The claim's files belong to the pod's user (fsGroup 27 on a real node).
  for (const dir of ['backups', 'home', 'tmp']) await mkdir(join(work, dir), { recursive: true });
  for (const entry of ['', ...(await readdir(join(work, 'backups'), { recursive: true }))]) await chown(join(work, 'backups', entry), imageUserId, imageUserId);
  for (const dir of ['home', 'tmp']) await chown(join(work, dir), imageUserId, imageUserId);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.skipIf(!asRoot)('verify as a verification Job’s pod runs it', () => {
  it('starts its scratch sandbox as uid 27 with the datadir under TMPDIR, and leaves a Passed result', async () => {
    const result = join(work, 'tmp', 'termination-log');
    const r = await runAs(imageUserId, ['verify', '--profile', 'pvc', '--scratch', 'sandbox', '--result-file', result], {
      HOME: join(work, 'home'),
      TMPDIR: join(work, 'tmp'),
      BLOODRAVEN_CONFIG_YAML: config(),
    });
    expect(r.code, r.stderr).toBe(0);
    const outcome = JSON.parse(await readFile(result, 'utf8')) as { phase: string; tables: number; rows: number; restoreSeconds: number; mismatches: unknown[] };
    expect(outcome).toMatchObject({ phase: 'Passed', tables: 1, rows: 200, mismatches: [] });
    expect(outcome.restoreSeconds).toBeGreaterThan(0);
    // The sandbox lived under TMPDIR and is gone.
    expect(r.stdout).toMatch(new RegExp(`sandbox \\(${join(work, 'tmp')}/bloodraven-sandbox-`));
    expect((await readdir(join(work, 'tmp'))).filter((f) => f.startsWith('bloodraven-sandbox-'))).toEqual([]);
  });
});
