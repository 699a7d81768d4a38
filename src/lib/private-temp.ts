/**
 * One private temporary folder per run, for every temporary file that holds a credential or
 * data (the client tools' option file with the MySQL password, binlogs fetched from a server by
 * `pitr archive`, binlogs downloaded and decrypted for a PITR replay). It is created 0700 under the system's temporary folder, its files 0600, and
 * removed when the run ends. A run killed with SIGKILL cannot remove it, so every run first sweeps
 * the folders of runs that are gone, after killing the tools such a run left running on them
 * (a binlog fetch would go on writing the whole file).
 *
 * The folder's name carries the pid (`bloodraven-run-<pid>-XXXXXX`) and an owner file inside
 * records the process's start time: a pid alone could have been reused by an unrelated process,
 * which would keep a dead run's password on disk for ever.
 *
 * Scratch servers (`bloodraven-sandbox-XXXXXX`, mysql/sandbox.ts) are swept the same way: their
 * folder holds the same owner file and the server's pid, and a dead run's server is killed (only
 * if that pid still runs a server on that folder) before its folder goes.
 */
import { removeTreeSync } from './last-resort.js';
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, ExitCode, errorMessage } from './errors.js';

export const runFolderPrefix = 'bloodraven-run-';
/** A scratch server's folder (mysql/sandbox.ts), swept when the run that started it is gone. */
export const sandboxFolderPrefix = 'bloodraven-sandbox-';
/** The file in a sandbox folder that holds its server's pid, as the run that started it saw it. */
export const sandboxServerPidFile = 'server.pid';
/** How long the sweep waits for a dead run's scratch server to go after SIGKILL. */
const serverKillWaitMs = 10_000;
/** What bloodraven before the run folder left behind: a folder per client option file. */
const legacyClientPrefix = 'bloodraven-client-';
const ownerFile = 'owner.json';
/**
 * A folder without a readable owner file is left alone this long: its run may be between
 * creating it and writing the file (or, for the legacy folders, between writing the option file
 * and the client reading it; the client reads it once, at its start).
 */
const unverifiableGraceMs = 60_000;

export interface PrivateFolder {
  readonly path: string;
  /** Writes `content` to a new file (mode 0600) named `<prefix>-<random><suffix>`; returns its path. */
  writeFile(prefix: string, content: string | Buffer, suffix?: string): Promise<string>;
  /** A new folder (mode 0700) inside, for files a tool writes itself (downloads). */
  makeFolder(prefix: string): Promise<string>;
  /** Removes the folder and everything in it. */
  remove(): Promise<void>;
  /** The same, synchronously: for process 'exit', where nothing asynchronous runs any more. */
  removeSync(): void;
}

interface Owner {
  pid: number;
  /** The process's start time as the kernel counts it (/proc/<pid>/stat), or null where there is no /proc. */
  startTicks: string | null;
  createdAt: string;
}

/** Creates a private folder for process `pid` under `root`. */
export async function createPrivateFolder(options: { root?: string; pid?: number } = {}): Promise<PrivateFolder> {
  const pid = options.pid ?? process.pid;
  const root = options.root ?? tmpdir();
  let path: string;
  try {
    path = await mkdtemp(join(root, `${runFolderPrefix}${pid}-`));
    // mkdtemp makes it 0700 already; say so explicitly rather than rely on it (and on the umask).
    await mkdir(path, { recursive: true, mode: 0o700 });
    await writeOwner(path, pid);
  } catch (err) {
    throw new AppError('TEMP_FOLDER_FAILED', `cannot create a private temporary folder in ${root}: ${errorMessage(err)}`, ExitCode.failure, {
      cause: err,
      hint: 'make that folder writable, or point TMPDIR at a writable folder of this user',
    });
  }
  return {
    path,
    async writeFile(prefix, content, suffix = '') {
      const file = join(path, `${prefix}-${randomUUID()}${suffix}`);
      // 'wx': a new file only, created 0600 before any byte is written into it.
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return file;
    },
    async makeFolder(prefix) {
      return mkdtemp(join(path, `${prefix}-`));
    },
    remove: () => rm(path, { recursive: true, force: true }),
    removeSync: () => removeTreeSync(path, 3_000),
  };
}

/**
 * Records in `folder` that process `pid` (default: this one) owns it, with its start time, so
 * that a later sweep can tell when that process is gone. For folders other than run folders
 * (a scratch server's); written 0600, never over an existing record.
 */
export async function writeOwner(folder: string, pid = process.pid): Promise<void> {
  const owner: Owner = { pid, startTicks: await processStartTicks(pid), createdAt: new Date().toISOString() };
  await writeFile(join(folder, ownerFile), JSON.stringify(owner) + '\n', { mode: 0o600, flag: 'wx' });
}

let current: Promise<PrivateFolder> | undefined;
let onExit: (() => void) | undefined;

/**
 * This run's private folder, created on first use. It is removed by removeRunFolder (the CLI
 * calls it when a command ends, however it ends) and, as a last resort, when the process exits.
 */
export function runFolder(): Promise<PrivateFolder> {
  if (current) return current;
  current = createPrivateFolder();
  current.then(
    (folder) => {
      onExit = () => folder.removeSync();
      process.once('exit', onExit);
    },
    () => {
      // A failed creation is reported to the caller that asked; the next caller tries again.
      current = undefined;
    },
  );
  return current;
}

/** Removes this run's folder, if it was created. */
export async function removeRunFolder(): Promise<void> {
  const folder = current;
  current = undefined;
  if (onExit) process.removeListener('exit', onExit);
  onExit = undefined;
  if (!folder) return;
  await (await folder.catch(() => null))?.remove();
}

/**
 * Removes this run's folder at once, synchronously: for a process about to end by a signal's
 * default action (a second Ctrl-C), where neither finally blocks nor 'exit' listeners run.
 */
export function removeRunFolderSync(): void {
  onExit?.();
}

export interface SweepOptions {
  root?: string;
  /** Whether process `pid` is running (default: signal 0). */
  isAlive?: (pid: number) => boolean;
  /** The start time of process `pid` (default: /proc), or null when it cannot be told. */
  startTicks?: (pid: number) => Promise<string | null>;
  now?: () => number;
}

/**
 * Removes the private folders of runs that are gone (and the legacy client-option folders older
 * than a minute), and the scratch servers of runs that are gone with their folders. Never a live
 * run's folder or server; never one of another user; never a sandbox folder without an owner
 * record (an older bloodraven's, or one not started by a run). Returns what it removed.
 */
export async function sweepPrivateFolders(options: SweepOptions = {}): Promise<string[]> {
  const root = options.root ?? tmpdir();
  const isAlive = options.isAlive ?? pidAlive;
  const startTicks = options.startTicks ?? processStartTicks;
  const now = options.now ?? Date.now;
  const uid = process.getuid?.();
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const legacy = name.startsWith(legacyClientPrefix);
    const sandbox = name.startsWith(sandboxFolderPrefix);
    if (!legacy && !sandbox && !name.startsWith(runFolderPrefix)) continue;
    const path = join(root, name);
    try {
      const info = await lstat(path);
      if (!info.isDirectory() || (uid !== undefined && info.uid !== uid)) continue;
      const old = now() - info.mtimeMs > unverifiableGraceMs;
      const stale = legacy ? old : sandbox ? await sandboxIsOrphaned(path, { isAlive, startTicks }) : await runIsGone(path, name, { isAlive, startTicks, old });
      if (!stale) continue;
      // A dead run's tools outlive it (a binlog fetch writes into this folder until its file is
      // whole): stopped first, or one would go on writing a binlog no one will ever remove.
      if (!legacy && !sandbox && !(await stopProcessesNaming(path))) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Another run sweeping at the same time, or a folder that vanished: nothing to do.
    }
  }
  return removed;
}

async function runIsGone(
  path: string,
  name: string,
  how: { isAlive: (pid: number) => boolean; startTicks: (pid: number) => Promise<string | null>; old: boolean },
): Promise<boolean> {
  const pid = Number(/^bloodraven-run-(\d+)-/.exec(name)?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return how.old;
  if (pid === process.pid) return false;
  if (!how.isAlive(pid)) return true;
  const owner = await readOwner(path);
  // Alive, but is it still the run that made the folder? Without a record of it, only age tells.
  if (!owner || owner.pid !== pid) return how.old;
  if (owner.startTicks === null) return false;
  const ticks = await how.startTicks(pid);
  return ticks !== null && ticks !== owner.startTicks;
}

/**
 * Whether a sandbox folder belongs to a run that is gone and its server no longer runs (killed
 * here if it did). A folder without an owner record is never taken: a server may live for hours,
 * so age says nothing about it.
 */
async function sandboxIsOrphaned(path: string, how: { isAlive: (pid: number) => boolean; startTicks: (pid: number) => Promise<string | null> }): Promise<boolean> {
  const owner = await readOwner(path);
  if (!owner || owner.pid === process.pid) return false;
  if (how.isAlive(owner.pid)) {
    if (owner.startTicks === null) return false;
    const ticks = await how.startTicks(owner.pid);
    if (ticks === null || ticks === owner.startTicks) return false;
  }
  return stopServerOf(path);
}

/**
 * Kills the server running on sandbox folder `path`, if any: the pids its run and the server
 * itself recorded, each only while its command line still names that folder (a pid may have been
 * reused since). True once no such process is left.
 */
async function stopServerOf(path: string): Promise<boolean> {
  const pids = new Set<number>();
  for (const file of [sandboxServerPidFile, 'mysqld.pid']) {
    const pid = Number((await readFile(join(path, file), 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid) pids.add(pid);
  }
  const running = async (): Promise<number[]> => {
    const out: number[] = [];
    for (const pid of pids) if (await commandNamesFolder(pid, path)) out.push(pid);
    return out;
  };
  return killAll(running);
}

/**
 * Whether process `pid` runs with an argument inside `folder`: an option's value (a server's
 * --datadir, a tool's --result-file or --defaults-extra-file) or a file argument.
 */
async function commandNamesFolder(pid: number, folder: string): Promise<boolean> {
  try {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return args.some((a) => a.includes(`=${folder}/`) || a.startsWith(`${folder}/`));
  } catch {
    return false;
  }
}

/**
 * Whether process `pid` names a file in `folder` in its arguments or holds one open (a client
 * reading its option file through an inherited descriptor, removed from the folder already).
 */
async function processUsesFolder(pid: number, folder: string): Promise<boolean> {
  if (await commandNamesFolder(pid, folder)) return true;
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith(`${folder}/`)) return true;
  }
  return false;
}

/**
 * Kills (SIGKILL) this user's processes that name or hold open a file in `folder` (a dead run's
 * folder) and waits for them to go. True once none is left (also where there is no /proc).
 */
async function stopProcessesNaming(folder: string): Promise<boolean> {
  const uid = process.getuid?.();
  const naming = async (): Promise<number[]> => {
    let entries: string[];
    try {
      entries = await readdir('/proc');
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      if (pid === process.pid) continue;
      if (uid !== undefined && (await lstat(`/proc/${entry}`).catch(() => null))?.uid !== uid) continue;
      if (await processUsesFolder(pid, folder)) out.push(pid);
    }
    return out;
  };
  // A killed process not reaped yet has an empty command line: it no longer counts.
  return killAll(naming);
}

/**
 * SIGKILLs the processes `find` lists, then waits (at most serverKillWaitMs) until it lists none.
 * True once none is left.
 */
async function killAll(find: () => Promise<number[]>): Promise<boolean> {
  let left = await find();
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  const deadline = Date.now() + serverKillWaitMs;
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = await find();
  }
  return left.length === 0;
}


async function readOwner(path: string): Promise<Owner | null> {
  try {
    const owner = JSON.parse(await readFile(join(path, ownerFile), 'utf8')) as Partial<Owner>;
    if (typeof owner.pid !== 'number') return null;
    return { pid: owner.pid, startTicks: typeof owner.startTicks === 'string' ? owner.startTicks : null, createdAt: String(owner.createdAt) };
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists, as another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks after boot); null without /proc. */
async function processStartTicks(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
