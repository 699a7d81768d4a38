/**
 * No secret outlives its run: the option file with the MySQL password that the client tools read
 * lives in the run's private folder (0700, the file 0600). A run killed with SIGKILL while a tool
 * runs cannot remove it; the next bloodraven command sweeps it (and the folders older versions
 * left), never the folder of a run that is still alive.
 *
 * The same stalled replay shows the restore claim held for the whole restore, the replay
 * included: a second restore is refused naming the first one's process (from the progress file),
 * and a SIGKILL releases the claim with the killed run's connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrivateFolder } from '../../src/lib/private-temp.js';
import { rootConnection, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { cliBin, runCli } from '../support/cli.js';

const password = `pw-${Math.random().toString(36).slice(2)}`;
let source: TestServer;
let target: TestServer;
let work: string;
let cwd: string;
let t0: number;

const children: ChildProcess[] = [];
/** A CLI run the test started: killed at the end if a failed assertion left it running. */
function started<T extends ChildProcess>(child: T): T {
  children.push(child);
  return child;
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

async function createAccount(server: TestServer): Promise<void> {
  await sql(server, `CREATE USER keeper@'%' IDENTIFIED BY '${password}'; GRANT ALL ON *.* TO keeper@'%' WITH GRANT OPTION`);
}

/** Runs the CLI with its temporary folder in `tmp`; resolves with its exit code. */
function cliWithTmp(args: string[], tmp: string): Promise<number | null> {
  return new Promise((resolve) => spawn(process.execPath, [cliBin, ...args], { cwd, env: { ...process.env, TMPDIR: tmp }, stdio: 'ignore' }).on('close', (code) => resolve(code)));
}

/** The processes with an argument naming a file in `folder`, or holding one open. */
async function processesUsing(folder: string): Promise<Array<{ pid: number; cmd: string }>> {
  const found: Array<{ pid: number; cmd: string }> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => []);
    const open = await Promise.all(fds.map((fd) => readlink(`/proc/${entry}/fd/${fd}`).catch(() => '')));
    if (args.some((a) => a.includes(`${folder}/`)) || open.some((t) => t.startsWith(`${folder}/`))) found.push({ pid: Number(entry), cmd: args.join(' ') });
  }
  return found;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-private-temp-'));
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  await Promise.all([createAccount(source), createAccount(target)]);
  await sql(source, 'CREATE DATABASE app; CREATE TABLE app.events (id INT PRIMARY KEY, note VARCHAR(50)); INSERT INTO app.events SELECT seq, "base" FROM app.seq_1_to_10');
  cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(cwd, 'password'), password);
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: app
mysql: { host: 127.0.0.1, port: ${source.port}, user: keeper, passwordFile: ./password }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [app] }
  pitr: { enabled: true, profileName: p, site: here, source: { type: local } }
`,
  );
  const backup = await runCli(['backup', 'now'], cwd);
  if (backup.code !== 0) throw new Error(`backup now failed: ${backup.stderr}`);
  // A transaction whose replay waits for a named lock the test holds on the target: the client
  // tool is then caught in the act for as long as the test needs (statement-based, so the
  // GET_LOCK is run again by the replay; on the source it was free and took no time).
  t0 = Math.floor(Date.now() / 1000) + 600;
  const conn = await rootConnection(source, 'app');
  try {
    await conn.query("SET SESSION binlog_format = 'STATEMENT'");
    await conn.query(`SET TIMESTAMP = ${t0}`);
    await conn.query("INSERT INTO events VALUES (11, IF(GET_LOCK('held-by-test', 600), 'got', 'not'))");
    await conn.query(`SET TIMESTAMP = ${t0 + 60}`);
    await conn.query("INSERT INTO events VALUES (12, 'later')");
  } finally {
    await conn.end();
  }
  await sql(source, 'FLUSH BINARY LOGS');
  const archive = await runCli(['pitr', 'archive', '--once'], cwd);
  if (archive.code !== 0) throw new Error(`pitr archive failed: ${archive.stderr}`);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([source?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('temporary files with secrets', () => {
  it('gives the client its option file (0600, in a 0700 folder) by an inherited descriptor, under no name; a SIGKILL leaves the folder and the client, the next command stops the client and sweeps the folder', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const env = { ...process.env, TMPDIR: tmp };
    const lock = await rootConnection(target);
    await lock.query("SELECT GET_LOCK('held-by-test', 0)");
    let released = false;
    try {
      const child = started(spawn(process.execPath, [cliBin, 'restore', 'bootstrap', '--stop-datetime', iso(t0 + 30), '--port', String(target.port)], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // Caught in the act: the replaying client waits for the test's lock on the target.
      await until(`the replay to wait for the test's lock (stderr: ${stderr})`, async () => {
        const rows = (await sql(target, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%GET_LOCK(''held-by-test''%' AND USER = 'keeper'")) as unknown[];
        return rows.length > 0 ? true : undefined;
      });
      const [folder] = (await readdir(tmp)).filter((n) => n.startsWith(`bloodraven-run-${child.pid}-`));
      expect(folder, `run folder of pid ${child.pid} in ${(await readdir(tmp)).join(', ')}`).toBeDefined();
      const dir = join(tmp, folder!);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      // The option file was removed once open: the client reads it as /dev/fd/3, nobody else can.
      expect((await readdir(dir)).filter((n) => n.endsWith('.cnf'))).toEqual([]);
      const [client] = (await processesUsing(dir)).filter((p) => p.cmd.includes('--defaults-extra-file=/dev/fd/3'));
      expect(client, 'the replaying client').toBeDefined();
      expect(await readlink(`/proc/${client!.pid}/fd/3`)).toMatch(new RegExp(`^${dir}/client-[^/]+\\.cnf \\(deleted\\)$`));
      expect((await stat(`/proc/${client!.pid}/fd/3`)).mode & 0o777).toBe(0o600);
      expect(await readFile(`/proc/${client!.pid}/fd/3`, 'utf8')).toContain(`password="${password}"`);
      // The downloaded binlogs (data) are in the same private folder, not in a folder of their own.
      const downloads = (await readdir(dir)).filter((n) => n.startsWith('pitr-'));
      expect(downloads).toHaveLength(1);
      const binlogs = await readdir(join(dir, downloads[0]!, 'here'));
      expect(binlogs.length).toBeGreaterThan(0);
      expect(binlogs.every((n) => /^binlog\.\d+$/.test(n))).toBe(true);
      expect((await readdir(tmp)).filter((n) => n.startsWith('bloodraven-'))).toEqual([folder]);

      child.kill('SIGKILL');
      expect(await exited).toBeNull();
      // Nothing can run in a process killed so: the folder and the binlogs are still there, and so
      // is its client, waiting on the test's lock, holding the option file (on disk under no name).
      expect(await readdir(join(dir, downloads[0]!, 'here'))).toEqual(binlogs);
      expect((await processesUsing(dir)).map((p) => p.pid)).toContain(client!.pid);

      // What an older bloodraven left (a minute old), and the folder of a run still alive (this one).
      const legacy = join(tmp, 'bloodraven-client-AbC123');
      await mkdir(legacy, { mode: 0o700 });
      await writeFile(join(legacy, 'client.cnf'), `[client]\npassword="${password}"\n`, { mode: 0o600 });
      const old = new Date(Date.now() - 10 * 60_000);
      await utimes(legacy, old, old);
      const live = await createPrivateFolder({ root: tmp });
      await utimes(live.path, old, old);

      expect(await cliWithTmp(['backup', 'list'], tmp)).toBe(0);
      // The sweep stopped the dead run's client (still waiting on the test's lock) before it
      // removed the folder.
      expect(await processesUsing(dir)).toEqual([]);
      await lock.query("SELECT RELEASE_LOCK('held-by-test')");
      released = true;
      const left = await readdir(tmp);
      expect(left).not.toContain(folder);
      expect(left).not.toContain('bloodraven-client-AbC123');
      expect(left).toContain(live.path.slice(tmp.length + 1));
      expect(left.filter((n) => n.startsWith('bloodraven-'))).toEqual([live.path.slice(tmp.length + 1)]);
      await live.remove();
    } finally {
      if (!released) await lock.query("SELECT RELEASE_LOCK('held-by-test')").catch(() => undefined);
      await lock.end();
    }
  });

  it('removes the run folder when a run is interrupted (SIGINT) while a tool runs', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    const fresh = await startTestServer();
    try {
      await createAccount(fresh);
      const lock = await rootConnection(fresh);
      await lock.query("SELECT GET_LOCK('held-by-test', 0)");
      try {
        const child = started(spawn(process.execPath, [cliBin, 'restore', 'bootstrap', '--stop-datetime', iso(t0 + 30), '--port', String(fresh.port)], { cwd, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] }));
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        await until('the replay to wait for the lock', async () => {
          const rows = (await sql(fresh, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%GET_LOCK(''held-by-test''%' AND USER = 'keeper'")) as unknown[];
          return rows.length > 0 ? true : undefined;
        });
        expect((await readdir(tmp)).filter((n) => n.startsWith(`bloodraven-run-${child.pid}-`))).toHaveLength(1);
        child.kill('SIGINT');
        const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000))]);
        expect(code, stderr).not.toBe('hung');
        expect(code, stderr).not.toBe(0);
        expect((await readdir(tmp)).filter((n) => n.startsWith('bloodraven-run-'))).toEqual([]);
      } finally {
          await lock.end();
      }
    } finally {
      await fresh.stop();
    }
  });

  it('holds the restore claim through the replay, names its process to a second restore, and loses it with a SIGKILL', async () => {
    const fresh = await startTestServer();
    try {
      await createAccount(fresh);
      const lock = await rootConnection(fresh);
      await lock.query("SELECT GET_LOCK('held-by-test', 0)");
      try {
        const args = ['restore', 'bootstrap', '--stop-datetime', iso(t0 + 30), '--port', String(fresh.port)];
        // Its run folder, which the SIGKILL below leaves, goes into the test's folder.
        const tmp = await mkdtemp(join(work, 'tmp-'));
        const child = started(spawn(process.execPath, [cliBin, ...args], { cwd, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'ignore'] }));
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        await until('the replay to wait for the lock', async () => {
          const rows = (await sql(fresh, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%GET_LOCK(''held-by-test''%' AND USER = 'keeper'")) as unknown[];
          return rows.length > 0 ? true : undefined;
        });
        const second = await runCli(args, cwd);
        expect(second.code, second.stderr).toBe(3);
        expect(second.stderr).toMatch(new RegExp(`error: another restore is running into 127\\.0\\.0\\.1:${fresh.port}: connection \\d+ of keeper@\\S+ .*names it as process ${child.pid} on ${hostname()}, restoring since `));
        child.kill('SIGKILL');
        await exited;
        // The server ends the killed run's connections, and with its claim.
        await until('the claim to be released', async () => {
          const [row] = (await sql(fresh, "SELECT IS_USED_LOCK('bloodraven.restore') AS id")) as Array<{ id: number | null }>;
          return row!.id === null ? true : undefined;
        });
      } finally {
        await lock.end();
      }
    } finally {
      await fresh.stop();
    }
  });

  it('removes the run folder when a command ends', async () => {
    const tmp = await mkdtemp(join(work, 'tmp-'));
    // The archive reads binlogs over the replication protocol with the client option file.
    await writeFile(join(cwd, 'remote.yaml'), (await readFile(join(cwd, 'bloodraven.yaml'), 'utf8')).replace('site: here, source: { type: local }', 'site: far, source: { type: remote }'));
    expect(await cliWithTmp(['pitr', 'archive', '--once', '--config', 'remote.yaml'], tmp)).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
  });
});
