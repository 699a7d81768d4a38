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

/** Every folder and file under `root` (itself included, as '.'): its mode as four octal digits, and whether it is a folder. */
async function modesUnder(root: string): Promise<Record<string, { mode: string; folder: boolean }>> {
  const of = async (p: string): Promise<{ mode: string; folder: boolean }> => {
    const info = await stat(p);
    return { mode: octal(info.mode & 0o7777), folder: info.isDirectory() };
  };
  const out: Record<string, { mode: string; folder: boolean }> = { '.': await of(root) };
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    out[relative(root, full)] = await of(full);
  }
  return out;
}

/** The folders under `root` (and itself) whose mode is not `folder`, and the files whose mode is not `file`: ['name 0755', …]. */
async function wrongModes(root: string, folder: string, file: string): Promise<string[]> {
  return Object.entries(await modesUnder(root))
    .filter(([, found]) => found.mode !== (found.folder ? folder : file))
    .map(([name, found]) => `${name}${found.folder ? '/' : ''} ${found.mode}`);
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

/** What is not as it should be after everythingCreatedWith: the names with other modes, and the result file's mode. */
interface Outcome {
  backups: string[];
  download: string[];
  decrypted: string[];
  resultFile: string;
}

/**
 * Makes an encrypted backup, archived binlogs, a download, a decrypted copy and a result file,
 * with `umaskLine` in the config under the process umask `mask`, and says which folders are not
 * `folder` and which files are not `file`.
 */
async function everythingCreatedWith(umaskLine: string, mask: string, folder: string, file: string): Promise<Outcome> {
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

  return {
    backups: await wrongModes(join(cwd, 'backups'), folder, file),
    download: await wrongModes(join(cwd, 'dl'), folder, file),
    decrypted: await wrongModes(join(cwd, 'plain'), folder, file),
    resultFile: octal((await stat(join(cwd, 'result.json'))).mode & 0o7777),
  };
}

// The result file is 0600 whatever the umask: it may be written before the config is read.
const allAsConfigured: Outcome = { backups: [], download: [], decrypted: [], resultFile: '0600' };

describe('the modes of what bloodraven creates', () => {
  it('are 0700 for folders and 0600 for files by default, under a process umask of 022', async () => {
    expect(await everythingCreatedWith('', '022', '0700', '0600')).toEqual(allAsConfigured);
  });

  it('are 0750 and 0640 with umask: "0027", under a process umask of 022', async () => {
    expect(await everythingCreatedWith('umask: "0027"', '022', '0750', '0640')).toEqual(allAsConfigured);
  });

  it('are 0750 and 0640 with umask: "0027" under a stricter process umask (077) too', async () => {
    expect(await everythingCreatedWith('umask: "0027"', '077', '0750', '0640')).toEqual(allAsConfigured);
  });
});
