import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrivateFolder, removeRunFolder, runFolder, sweepPrivateFolders, writeOwner } from '../../src/lib/private-temp.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'bloodraven-private-unit-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid!;
}

const names = async (): Promise<string[]> => (await readdir(root)).sort();
const base = (path: string): string => path.slice(root.length + 1);

describe('private temporary folders', () => {
  it('creates the folder 0700 and its files 0600, named after the pid', async () => {
    const folder = await createPrivateFolder({ root });
    expect(base(folder.path)).toMatch(new RegExp(`^bloodraven-run-${process.pid}-`));
    expect((await stat(folder.path)).mode & 0o777).toBe(0o700);
    const file = await folder.writeFile('client', 'password="x"\n', '.cnf');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(await folder.makeFolder('pitr'))).mode & 0o777).toBe(0o700);
    await folder.remove();
    expect(await names()).toEqual([]);
  });

  it('names the folder it cannot create in, and what to do', async () => {
    const missing = join(root, 'gone');
    await expect(createPrivateFolder({ root: missing })).rejects.toMatchObject({
      code: 'TEMP_FOLDER_FAILED',
      message: expect.stringContaining(`cannot create a private temporary folder in ${missing}: ENOENT`) as unknown,
      hint: 'make that folder writable, or point TMPDIR at a writable folder of this user',
    });
  });

  it("sweeps a dead run's folder and an old legacy one; keeps a live run's, a fresh legacy one and foreign names", async () => {
    const dead = await createPrivateFolder({ root, pid: await deadPid() });
    const live = await createPrivateFolder({ root, pid: process.ppid });
    const mine = await createPrivateFolder({ root });
    const oldLegacy = join(root, 'bloodraven-client-old');
    const newLegacy = join(root, 'bloodraven-client-new');
    for (const d of [oldLegacy, newLegacy]) {
      await mkdir(d);
      await writeFile(join(d, 'client.cnf'), 'password="x"\n');
    }
    const old = new Date(Date.now() - 3_600_000);
    await utimes(oldLegacy, old, old);
    await mkdir(join(root, 'bloodraven-sandbox-x'));
    const removed = await sweepPrivateFolders({ root });
    expect(removed.map(base).sort()).toEqual([base(dead.path), 'bloodraven-client-old'].sort());
    expect(await names()).toEqual([base(live.path), base(mine.path), 'bloodraven-client-new', 'bloodraven-sandbox-x'].sort());
  });

  it("stops a dead run's tools still writing into its folder before removing it; a live run's tools are left alone", async () => {
    const dead = await createPrivateFolder({ root, pid: await deadPid() });
    const live = await createPrivateFolder({ root, pid: process.ppid });
    // A binlog fetch the dead run left: it names its file as an option's value, as mariadb-binlog's --result-file.
    const keepRunning = 'setInterval(() => undefined, 1000)';
    const orphan = spawn(process.execPath, ['-e', keepRunning, '--', `--result-file=${dead.path}/binlog-x/`], { stdio: 'ignore' });
    const other = spawn(process.execPath, ['-e', keepRunning, '--', `${live.path}/pitr-x/binlog.000001`], { stdio: 'ignore' });
    const ended = (child: ChildProcess): Promise<NodeJS.Signals | null> => new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const orphanEnded = ended(orphan);
    try {
      const removed = await sweepPrivateFolders({ root });
      expect(removed).toEqual([dead.path]);
      expect(await orphanEnded).toBe('SIGKILL');
      expect(other.exitCode).toBeNull();
      expect(other.signalCode).toBeNull();
      expect(await names()).toEqual([base(live.path)]);
    } finally {
      for (const c of [orphan, other]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });

  it('sweeps the folder of a pid that was reused by another process (its start time differs)', async () => {
    const reused = await createPrivateFolder({ root, pid: process.ppid });
    const also = await createPrivateFolder({ root, pid: process.ppid });
    const removed = await sweepPrivateFolders({ root, startTicks: (pid) => Promise.resolve(pid === process.ppid ? 'another start' : null) });
    expect(removed.sort()).toEqual([reused.path, also.path].sort());
    // With the real start time, the live run's folder stays.
    const live = await createPrivateFolder({ root, pid: process.ppid });
    expect(await sweepPrivateFolders({ root })).toEqual([]);
    await live.remove();
  });

  it('keeps a live pid whose folder has no owner record until it is old', async () => {
    const path = join(root, `bloodraven-run-${process.ppid}-abcdef`);
    await mkdir(path, { mode: 0o700 });
    expect(await sweepPrivateFolders({ root })).toEqual([]);
    expect(await sweepPrivateFolders({ root, now: () => Date.now() + 3_600_000 })).toEqual([path]);
  });

  describe('scratch server folders', () => {
    /** A stand-in for a scratch server: a process whose arguments name files in `folder`, as mariadbd's do. */
    function fakeServer(folder: string): ChildProcess {
      return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', `--datadir=${folder}/data`, `--socket=${folder}/mysqld.sock`], { stdio: 'ignore' });
    }
    /** Running, and not a zombie waiting to be reaped (whose command line is empty). */
    const alive = (pid: number): boolean => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--datadir=');
      } catch {
        return false;
      }
    };
    async function sandboxFolder(owner: number, server: ChildProcess | null, serverPidFile = 'server.pid'): Promise<string> {
      const path = join(root, `bloodraven-sandbox-${Math.random().toString(36).slice(2, 8)}`);
      await mkdir(path, { mode: 0o700 });
      await writeOwner(path, owner);
      if (server) await writeFile(join(path, serverPidFile), `${server.pid}\n`);
      return path;
    }
    const servers: ChildProcess[] = [];
    afterEach(() => {
      for (const s of servers.splice(0)) s.kill('SIGKILL');
    });

    it("kills a dead run's scratch server (by its pid file or mariadbd's own) and removes its folder", async () => {
      const owner = await deadPid();
      const a = await sandboxFolder(owner, null);
      const serverA = fakeServer(a);
      const b = await sandboxFolder(owner, null);
      const serverB = fakeServer(b);
      servers.push(serverA, serverB);
      await writeFile(join(a, 'server.pid'), `${serverA.pid}\n`);
      await writeFile(join(b, 'mysqld.pid'), `${serverB.pid}\n`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect([alive(serverA.pid!), alive(serverB.pid!)]).toEqual([true, true]);
      expect(await sweepPrivateFolders({ root })).toEqual(expect.arrayContaining([a, b]));
      expect(alive(serverA.pid!)).toBe(false);
      expect(alive(serverB.pid!)).toBe(false);
      expect(await names()).toEqual([]);
    });

    it("never touches a live run's server or folder, nor one without an owner record; a pid that no longer runs that folder's server is not killed", async () => {
      const liveFolder = await sandboxFolder(process.ppid, null);
      const liveServer = fakeServer(liveFolder);
      await writeFile(join(liveFolder, 'server.pid'), `${liveServer.pid}\n`);
      const foreign = join(root, 'bloodraven-sandbox-older');
      await mkdir(foreign);
      const foreignServer = fakeServer(foreign);
      await writeFile(join(foreign, 'mysqld.pid'), `${foreignServer.pid}\n`);
      // A dead run's folder whose recorded pid now belongs to an unrelated process.
      const unrelated = fakeServer(join(root, 'elsewhere'));
      servers.push(liveServer, foreignServer, unrelated);
      const reused = await sandboxFolder(await deadPid(), unrelated);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await sweepPrivateFolders({ root })).toEqual([reused]);
      for (const p of [liveServer, foreignServer, unrelated]) expect(alive(p.pid!)).toBe(true);
      expect(await names()).toEqual([base(foreign), base(liveFolder)].sort());
    });
  });

  it('shares one folder across the run and removes it at the end', async () => {
    const [a, b] = await Promise.all([runFolder(), runFolder()]);
    expect(a.path).toBe(b.path);
    await removeRunFolder();
    await expect(stat(a.path)).rejects.toThrow(/ENOENT/);
    const c = await runFolder();
    expect(c.path).not.toBe(a.path);
    await removeRunFolder();
  });
});
