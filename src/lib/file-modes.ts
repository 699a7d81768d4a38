/**
 * The permissions of the folders and files bloodraven creates for backups and what describes them
 * (a PVC store's dumps, records, catalog, keyring, leases and progress files, the binlog archive,
 * `backup decrypt`'s plain copy, `pitr download`'s binlogs). They come from the configuration's
 * `umask` (default 0077: folders 0700, files 0600), never from the process umask: a pod or shell
 * with the usual 022 would otherwise make every backup readable by any local user.
 *
 * The mode is given when a folder or file is created, so it is never more open than configured,
 * not even for a moment. The kernel still narrows that mode by the process umask; where the
 * process umask takes away bits the configuration grants (a umask of 0027 in a process running
 * under 077), the new, still empty folder or file is widened to the configured mode through its
 * open descriptor before anything is written into it. Existing folders and files keep their modes.
 */
import { readFileSync } from 'node:fs';
import { constants, mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Modes for what bloodraven creates, derived from a umask (fileModes). */
export interface FileModes {
  /** The mask itself (0o077 by default): the permission bits left off. */
  readonly umask: number;
  /** A new folder's mode: 0o777 & ~umask (0o700 by default). */
  readonly folder: number;
  /** A new file's mode: 0o666 & ~umask (0o600 by default). */
  readonly file: number;
}

/** The default umask: only the owner reads and writes backups. */
export const defaultUmask = 0o077;

/** The modes for `umask` (0 to 0o777; bits beyond it are ignored). */
export function fileModes(umask: number): FileModes {
  const mask = umask & 0o777;
  return { umask: mask, folder: 0o777 & ~mask, file: 0o666 & ~mask };
}

/** Folders 0700, files 0600: the default, and what temporary and result files always get. */
export const privateModes: FileModes = fileModes(defaultUmask);

/** A mode as four octal digits, as `ls -l` users and the config write it: 0o640 → "0640". */
export function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/**
 * This process's umask, read from /proc/self/status (Linux 4.7 and later); null where it cannot be
 * read. Node's process.umask() with no argument is not used: it sets the umask to 0 and back,
 * and a file another thread creates in between would get mode 0666.
 */
export function processUmask(): number | null {
  try {
    const match = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? parseInt(match[1]!, 8) : null;
  } catch {
    return null;
  }
}

/**
 * Whether the process umask (`current`, default: read now) takes bits away from `modes`, so that
 * what is created must be widened to them afterwards. True when the umask cannot be read.
 */
export function umaskNarrows(modes: FileModes, current: number | null = processUmask()): boolean {
  return current === null || ((modes.folder | modes.file) & current) !== 0;
}

/** O_NOFOLLOW where the platform has it (not Windows). */
const noFollow = (constants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0;
const openFolderFlags = constants.O_RDONLY | ((constants as { O_DIRECTORY?: number }).O_DIRECTORY ?? 0) | noFollow;

/**
 * mkdir -p with `modes.folder` on every folder it creates (existing ones are left as they are).
 * `narrowed` (default: umaskNarrows) says whether the created folders must be widened to the mode
 * the process umask took bits from. Node's errors pass through unchanged.
 */
export async function makeFolders(dir: string, modes: FileModes, narrowed = umaskNarrows(modes)): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: modes.folder });
  if (first === undefined || !narrowed) return;
  // mkdir -p created `first` and every folder below it down to `dir`.
  const created: string[] = [];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    created.push(current);
    if (current === path.resolve(first) || path.dirname(current) === current) break;
  }
  for (const folder of created.reverse()) await widenFolder(folder, modes.folder);
}

/** mkdir of one folder (its parent exists) with `modes.folder`, widened if `narrowed`. */
export async function makeFolder(dir: string, modes: FileModes, narrowed = umaskNarrows(modes)): Promise<void> {
  await mkdir(dir, { mode: modes.folder });
  if (narrowed) await widenFolder(dir, modes.folder);
}

/** Gives a folder just created exactly `mode`, through a descriptor (fchmod): never through a symlink put in its place. */
async function widenFolder(folder: string, mode: number): Promise<void> {
  const handle = await open(folder, openFolderFlags);
  try {
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/**
 * Opens a file for writing, created with `modes.file`. `exclusive`: only a new file (EEXIST
 * otherwise); else an existing file is truncated and keeps its mode. A new file is widened to
 * `modes.file` when the process umask narrowed it (`narrowed`, default: umaskNarrows). Symlinks
 * are not followed (ELOOP).
 */
export async function createFile(file: string, modes: FileModes, options: { exclusive?: boolean; narrowed?: boolean } = {}): Promise<FileHandle> {
  const narrowed = options.narrowed ?? umaskNarrows(modes);
  const base = constants.O_WRONLY | constants.O_CREAT | noFollow;
  if (options.exclusive) return widened(await open(file, base | constants.O_EXCL, modes.file), modes.file, narrowed);
  if (!narrowed) return open(file, base | constants.O_TRUNC, modes.file);
  // Whether the file is new decides whether its mode is bloodraven's to set.
  try {
    return widened(await open(file, base | constants.O_EXCL, modes.file), modes.file, narrowed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // An existing file keeps its mode. Should it be removed before this open, it is made anew,
    // only narrowed by the umask: never wider than configured.
    return open(file, base | constants.O_TRUNC, modes.file);
  }
}

/** `handle` (a file just created) given exactly `mode` if the process umask narrowed it; closed if that fails. */
async function widened(handle: FileHandle, mode: number, narrowed: boolean): Promise<FileHandle> {
  if (!narrowed) return handle;
  try {
    await handle.chmod(mode);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  return handle;
}
