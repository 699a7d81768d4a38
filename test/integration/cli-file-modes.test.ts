/**
 * The modes of what the built CLI leaves on disk, against a real MariaDB server: an encrypted PVC
 * backup (dump files, record, completion marker, catalog, the keyring), the binlog archive after
 * `pitr archive --once`, binlogs fetched by `pitr download`, the plain copy `backup decrypt`
 * writes, and the `--result-file`. Each CLI runs under an explicit process umask (022, the usual
 * one, which gave 0755 folders and 0644 files before the config's `umask` existed; or 077).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { octal } from '../../src/lib/file-modes.js';
import { rootConnection, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { cliBin, type CliResult } from '../support/cli.js';

let server: TestServer;
let work: string;
/** Seconds since the epoch of the first batch of rows; each case writes its rows after it. */
let t0: number;

/** `bloodraven ...args` in `cwd`, started by a shell that sets the process umask to `mask` first. */
function cli(args: string[], cwd: string, mask: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `umask ${mask} && exec "$0" "$@"`, process.execPath, cliBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(args: string[], cwd: string, mask: string): Promise<CliResult> {
  const r = await cli(args, cwd, mask);
  expect(r.code, `bloodraven ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** Ten rows written as if at `at` (seconds), then the binlog sealed. */
async function batch(at: number, from: number): Promise<void> {
  const conn = await rootConnection(server, 'shop');
  try {
    await conn.query(`SET TIMESTAMP = ${at}`);
    for (let id = from; id < from + 10; id++) await conn.query('INSERT INTO events VALUES (?, ?)', [id, `row ${id}`]);
  } finally {
    await conn.end();
  }
  await sql(server, 'FLUSH BINARY LOGS');
}

/** Every folder and file under `root` (itself included, as '.') with its mode as four octal digits. */
async function modesUnder(root: string): Promise<Record<string, string>> {
  const modeOf = async (p: string): Promise<string> => octal((await stat(p)).mode & 0o7777);
  const out: Record<string, string> = { '.': await modeOf(root) };
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    out[relative(root, full)] = `${entry.isDirectory() ? 'dir ' : ''}${await modeOf(full)}`;
  }
  return out;
}

/** The names under `root` whose modes are not `folder` (folders) and `file` (the rest). */
async function wrongModes(root: string, folder: string, file: string): Promise<string[]> {
  const modes = await modesUnder(root);
  return Object.entries(modes)
    .filter(([name, mode]) => mode !== (name === '.' || mode.startsWith('dir ') ? `${name === '.' ? '' : 'dir '}${folder}` : file))
    .map(([name, mode]) => `${name} ${mode}`);
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-modes-'));
  server = await startTestServer();
  await sql(server, 'CREATE DATABASE shop; CREATE TABLE shop.events (id INT PRIMARY KEY, note VARCHAR(50)); INSERT INTO shop.events SELECT seq, "base" FROM shop.seq_1_to_2000');
  t0 = Math.floor(Date.now() / 1000) + 600;
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

let cases = 0;

/**
 * An encrypted backup, archived binlogs, a download, a decrypted copy and a result file, made
 * with `umaskLine` in the config under the process umask `mask`: every folder must be `folder`
 * and every file `file`.
 */
async function everythingIsCreatedWith(umaskLine: string, mask: string, folder: string, file: string): Promise<void> {
  const n = ++cases;
  const cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(cwd, 'passphrase'), 'a modes passphrase\n', { mode: 0o600 });
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: shop
${umaskLine}
mysql: { host: 127.0.0.1, port: ${server.port}, user: root }
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, bytesPerChunk: 128k, includeSchemas: [shop] }
      encryption: { passphraseFile: ./passphrase }
  pitr: { enabled: true, profileName: local, site: here, source: { type: local } }
`,
  );
  await ok(['backup', 'now', '--result-file', join(cwd, 'result.json')], cwd, mask);
  const at = t0 + n * 600;
  await batch(at, 10_000 * n);
  await batch(at + 60, 10_000 * n + 100);
  await ok(['pitr', 'archive', '--once'], cwd, mask);
  await ok(['pitr', 'download', '--stop-datetime', iso(at + 30), '--dest', './dl'], cwd, mask);
  await ok(['backup', 'decrypt', '--backup', 'latest', '--to', './plain'], cwd, mask);

  const stored = Object.keys(await modesUnder(join(cwd, 'backups')));
  // What the test means to look at is there: the keyring, a dump with its marker, the archive.
  expect(stored).toContain('encryption.json');
  expect(stored.some((name) => name.endsWith('/@.done.json'))).toBe(true);
  expect(stored.some((name) => name.endsWith('/bloodraven.json'))).toBe(true);
  expect(stored.some((name) => /^binlogs\/.*binlog\.\d+/.test(name))).toBe(true);
  expect(Object.keys(await modesUnder(join(cwd, 'dl'))).some((name) => /^here\/binlog\.\d+$/.test(name))).toBe(true);
  expect(Object.keys(await modesUnder(join(cwd, 'plain')))).toContain('@.done.json');

  expect(await wrongModes(join(cwd, 'backups'), folder, file)).toEqual([]);
  expect(await wrongModes(join(cwd, 'dl'), folder, file)).toEqual([]);
  expect(await wrongModes(join(cwd, 'plain'), folder, file)).toEqual([]);
  // The result file is 0600 whatever the umask: it may be written before the config is read.
  expect(octal((await stat(join(cwd, 'result.json'))).mode & 0o7777)).toBe('0600');
}

describe('the modes of what bloodraven creates', () => {
  it('are 0700 for folders and 0600 for files by default, under a process umask of 022', async () => {
    await everythingIsCreatedWith('', '022', '0700', '0600');
  });

  it('are 0750 and 0640 with umask: "0027", under a process umask of 022', async () => {
    await everythingIsCreatedWith('umask: "0027"', '022', '0750', '0640');
  });

  it('are 0750 and 0640 with umask: "0027" under a stricter process umask (077) too', async () => {
    await everythingIsCreatedWith('umask: "0027"', '077', '0750', '0640');
  });
});
