/**
 * Interrupts from the CLI on an encrypted S3 profile (s3rver), as a user sends them: SIGINT or
 * SIGTERM during `verify`, `restore bootstrap` and `restore in-place` ends the command within
 * seconds with exit 130, stops the scratch server and removes its folder, and records the
 * outcome (a failed verification, the load's progress, the in-place fence lifted). Each run is
 * bounded: a command that hangs is killed and the test fails, rather than the suite waiting.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { stripVTControlCharacters } from 'node:util';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumTable, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';
import { cliBin } from '../support/cli.js';


let source: TestServer;
let s3: S3TestServer;
let work: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The run did not end within the bound and was killed. */
  hung: boolean;
}

/**
 * `bloodraven ...args` in `cwd` with its own TMPDIR, sending `signal` once stderr matches `when`.
 * A run still going `boundMs` after the signal is killed and reported as hung.
 */
function interrupted(
  args: string[],
  cwd: string,
  { tmp, when, signal, boundMs = 30_000, againAfterMs }: { tmp: string; when: RegExp; signal: NodeJS.Signals; boundMs?: number; againAfterMs?: number },
): Promise<Run & { sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    let hung = false;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill(signal);
        // The impatient user: the same signal again.
        if (againAfterMs !== undefined) setTimeout(() => child.kill(signal), againAfterMs);
        timer = setTimeout(() => {
          hung = true;
          child.kill('SIGKILL');
        }, boundMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, stdout, stderr, hung, sent });
    });
  });
}

function run(args: string[], cwd: string): Promise<Run> {
  return interrupted(args, cwd, { tmp: tmpdir(), when: /(?!)/, signal: 'SIGINT' });
}

/** Processes whose command line mentions `path` (a scratch server left running, say). */
async function processesUsing(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmdline.includes(path)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function configFor(server: TestServer): Promise<string> {
  const dir = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'passphrase'), 'interrupt passphrase\n');
  await mkdir(join(dir, 'aws'));
  await writeFile(join(dir, 'aws', 'AWS_ACCESS_KEY_ID'), s3rverCredentials.accessKeyId);
  await writeFile(join(dir, 'aws', 'AWS_SECRET_ACCESS_KEY'), s3rverCredentials.secretAccessKey);
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root, passwordFile: ./empty }
backup:
  profiles:
    - name: p
      storage: { type: S3, s3: { bucket: backups, prefix: shop, endpointURL: "${s3.endpoint}", credentialsDir: ./aws, partSize: 5242880 } }
      dump: { threads: 2, bytesPerChunk: 8M, includeSchemas: [shop] }
      encryption: { passphraseFile: ./passphrase }
`,
  );
  return dir;
}

async function s3Json(key: string): Promise<unknown> {
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3rverCredentials });
  try {
    const body = await (await client.send(new GetObjectCommand({ Bucket: 'backups', Key: key }))).Body!.transformToString();
    return JSON.parse(body) as unknown;
  } finally {
    client.destroy();
  }
}

let backupName: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-interrupts-'));
  [source, s3] = await Promise.all([startTestServer(), startS3Server({ buckets: ['backups'] })]);
  // Data files big enough (8M chunks, as in the report) that a LOAD DATA is still reading one
  // when the signal comes.
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), note TEXT, KEY (name));
     INSERT INTO items SELECT seq, CONCAT('item-', seq), REPEAT(MD5(seq), 4) FROM seq_1_to_400000;
     CREATE TABLE heap (a INT, b VARCHAR(100));
     INSERT INTO heap SELECT seq, MD5(seq) FROM seq_1_to_400000;`,
  );
  const cfg = await configFor(source);
  const r = await run(['backup', 'now', '--json'], cfg);
  if (r.code !== 0) throw new Error(`backup now failed (${r.code}): ${r.stderr}`);
  backupName = (JSON.parse(r.stdout) as { name: string }).name;
}, 240_000);

afterAll(async () => {
  await Promise.all([source?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('verify, interrupted', () => {
  /** What an earlier, finished verification saved (a pass, marked so it can be told apart). */
  const earlier = { backup: 'placeholder', ok: true, verifiedAt: '2026-01-01T00:00:00.000Z', note: 'an earlier pass' };
  beforeAll(async () => {
    earlier.backup = backupName;
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3rverCredentials });
    try {
      await client.send(new PutObjectCommand({ Bucket: 'backups', Key: `shop/${backupName}/verification.json`, Body: JSON.stringify(earlier) }));
    } finally {
      client.destroy();
    }
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s during the scratch restore: ends within seconds, exit 130, scratch server stopped and removed, the earlier result kept', async (signal) => {
    const cfg = await configFor(source);
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const r = await interrupted(['verify', '--backup', backupName], cfg, { tmp, when: /progress: load table data/, signal });
    expect(r.sent).toBe(true);
    expect(r.hung, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`^error: interrupted: ${signal}$`, 'm'));
    expect(await processesUsing(tmp)).toEqual([]);
    expect((await readdir(tmp)).filter((f) => f.startsWith('bloodraven-'))).toEqual([]);
    // An earlier verification's result stays: an interrupted one proves nothing either way.
    expect(await s3Json(`shop/${backupName}/verification.json`)).toEqual(earlier);
  });

  it('a second SIGINT ends it at once, and still leaves no scratch server or folder behind', async () => {
    const cfg = await configFor(source);
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const r = await interrupted(['verify', '--backup', backupName], cfg, { tmp, when: /progress: load table data/, signal: 'SIGINT', againAfterMs: 200 });
    expect(r.sent).toBe(true);
    expect(r.hung, r.stderr).toBe(false);
    expect(r.signal ?? r.code, r.stderr).toBe(r.code === 130 ? 130 : 'SIGINT');
    expect(await processesUsing(tmp)).toEqual([]);
    expect((await readdir(tmp)).filter((f) => f.startsWith('bloodraven-'))).toEqual([]);
  });

  it('SIGINT while comparing the tables: ends within seconds, exit 130, nothing saved (the earlier result kept)', async () => {
    const cfg = await configFor(source);
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const r = await interrupted(['verify', '--backup', backupName], cfg, { tmp, when: /comparing every table/, signal: 'SIGINT' });
    expect(r.sent).toBe(true);
    expect(r.hung, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).not.toMatch(/verified/);
    expect(await processesUsing(tmp)).toEqual([]);
    expect((await readdir(tmp)).filter((f) => f.startsWith('bloodraven-'))).toEqual([]);
    // Neither "verified" nor a failure is saved: the earlier result stays.
    expect(await s3Json(`shop/${backupName}/verification.json`)).toEqual(earlier);
  });
});

describe('restore bootstrap, interrupted', () => {
  it('SIGINT mid-load: ends within seconds, exit 130, and a second run resumes to the same data', async () => {
    const target = await startTestServer();
    try {
      const cfg = await configFor(target);
      const tmp = await mkdtemp(join(work, 'tmp-'));
      const r = await interrupted(['restore', 'bootstrap', '--backup', backupName], cfg, { tmp, when: /progress: \d+\/\d+ tables/, signal: 'SIGINT' });
      expect(r.sent).toBe(true);
      expect(r.hung, r.stderr).toBe(false);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/^error: interrupted: SIGINT$/m);
      expect(r.stderr).toMatch(/^hint: .*again.*resume/m);
      expect((await readdir(tmp)).filter((f) => f.startsWith('bloodraven-'))).toEqual([]);

      const again = await run(['restore', 'bootstrap', '--backup', backupName], cfg);
      expect(again.stderr).not.toMatch(/error:/);
      expect(again.code).toBe(0);
      expect(await checksumTable(target, 'shop.items')).toBe(await checksumTable(source, 'shop.items'));
      expect(await checksumTable(target, 'shop.heap')).toBe(await checksumTable(source, 'shop.heap'));
    } finally {
      await target.stop();
    }
  });
});

describe('restore bootstrap on a terminal, interrupted', () => {
  it('Ctrl-C mid-load: exit 130, and the output ends with the error and its hint, not a half-drawn display', async () => {
    const target = await startTestServer();
    try {
      const cfg = await configFor(target);
      // `script` gives the CLI a pseudo-terminal; Ctrl-C is typed into it, as a user would. The
      // shell execs the CLI, so no shell shares the terminal's SIGINT (a shell that gets it too
      // may die before reporting), and `script -e` exits with the CLI's own code.
      const child = spawn('script', ['-qfec', `stty cols 120 rows 40; exec ${process.execPath} ${cliBin} restore bootstrap --backup ${backupName}`, '/dev/null'], {
        cwd: cfg,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let typed = false;
      let hung = false;
      const bound = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, 90_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        // Once the load shows its figures, a second on: LOAD DATA statements are reading files.
        if (!typed && /\d+\/\d+ files/.test(out)) {
          typed = true;
          setTimeout(() => child.stdin.write('\x03'), 1000);
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(bound);
      expect(typed).toBe(true);
      expect(hung, out.slice(-500)).toBe(false);
      expect(code, out.slice(-500)).toBe(130);
      // Without colours and cursor moves, the last lines a user reads.
      const lines = stripVTControlCharacters(out).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      expect(lines.slice(-2)).toEqual(['error: interrupted: SIGINT', 'hint: the target now holds part of the backup: run the same restore again to resume where it stopped']);
    } finally {
      await target.stop();
    }
  });
});

describe('restore in-place, interrupted', () => {
  it('SIGTERM mid-load: ends within seconds, exit 130, the fence is lifted and the restore is in the history', async () => {
    const target = await startTestServer();
    try {
      await sql(target, 'CREATE DATABASE old; CREATE TABLE old.t (id INT PRIMARY KEY)');
      const cfg = await configFor(target);
      const tmp = await mkdtemp(join(work, 'tmp-'));
      const r = await interrupted(['restore', 'in-place', '--backup', backupName, '--confirm', 'now'], cfg, { tmp, when: /progress: \d+\/\d+ tables/, signal: 'SIGTERM' });
      expect(r.sent).toBe(true);
      expect(r.hung, r.stderr).toBe(false);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/^error: interrupted: SIGTERM$/m);
      expect(r.stderr).toMatch(/^hint: the server now holds part of the backup/m);
      expect(await sql(target, 'SELECT @@GLOBAL.read_only AS ro')).toEqual([{ ro: '0' }]);
      const token = (await s3Json('shop/restore-in-place.json')) as { fence: unknown; backup: string };
      // The fence is down, but the catalog says the server holds part of the backup.
      expect(token).toMatchObject({ fence: null, backup: `backup ${backupName}`, unfinished: { target: `127.0.0.1:${target.port}`, reason: 'interrupted (interrupted: SIGTERM)' } });
      const history = (await s3Json('shop/in-place-restores.json')) as { events: Array<{ backup: string; outcome?: string }> };
      expect(history.events.at(-1)).toMatchObject({ backup: `backup ${backupName}`, outcome: 'Interrupted' });
      // So a backup of the half-restored server is refused, touching nothing, as after a kill.
      const backup = await run(['backup', 'now'], cfg);
      expect(backup.code, backup.stderr).toBe(3);
      expect(backup.stderr).toMatch(/^error: 127\.0\.0\.1:\d+ holds a partly finished in-place restore \(begun .*, stopped: interrupted \(interrupted: SIGTERM\)\)/m);
    } finally {
      await target.stop();
    }
  });
});
