/**
 * The `PVC` adapter: objects are files under a root folder (usually a mounted volume). Keys map to
 * relative paths. A write goes to `<key>.dumping` and is renamed into place once synced, so a crash
 * never leaves a truncated file under the final name; `list()` ignores `*.dumping` leftovers.
 *
 * Durability: a file's bytes are fsynced before the rename, and the rename is made durable by an
 * fsync of its folder before write()/put() returns, unless the caller passes `syncLater` (a dump's
 * many small files): then neither is synced yet. The file and its folder join the sets of those
 * not synced, and the next write or put without `syncLater` makes them all durable before its own
 * object appears: with one syncfs(2) of their file system (`sync --file-system`), or, where that
 * cannot run, an fsync of each file and folder. A dump writes its completion marker without the
 * flag and last, so once the marker (and the record after it) exists, every file it vouches for is
 * on disk under its name; a crash before that loses at most files of a dump that never claimed to
 * be complete. One file system sync per dump instead of an fsync per file: each fsync of a new
 * file is a journal commit, and thousands of them in a row made a dump of small tables wait on
 * the disk for most of its time.
 *
 * Symlinks are never followed out of the root: every path is checked against the root's real path
 * before it is read or deleted, and every folder the first time this store writes into it,
 * because deletePrefix() with a symlinked folder pointing at (say) /var/lib/mysql must not become
 * a way to wipe it. A folder checked and created once is remembered for the store's life (a run),
 * so that thousands of files in one folder cost one check, not two realpath calls and a mkdir
 * each; a write that finds its folder gone checks and creates it again, unless it says the folder
 * must have lasted (StoreOptions.folderMustExist: a dump's files), and then fails FOLDER_VANISHED.
 *
 * Folders and files are created with the modes of FsStoreOptions.modes (0700 and 0600 unless the
 * config's `umask` says otherwise), whatever the process umask: see file-modes.ts.
 */
import { randomBytes } from 'node:crypto';
import { close as closeCallback, constants as fsConstants, fchmod as fchmodCallback, fsync as fsyncCallback, open as openCallback, write as writeCallback, type Dirent } from 'node:fs';
import { link, lstat, open, readdir, readFile, readlink, realpath, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { AppError, NotFoundError, StorageError, abortError, throwIfAborted } from '../errors.js';
import { createFile, makeFolder, makeFolders as makeFoldersWithMode, privateModes, umaskNarrows, type FileModes } from '../file-modes.js';
import { forEachBounded } from '../parallel.js';
import type { ProcessRunner } from '../process.js';
import { assertSafeKey, type ObjectInfo, type ObjectStore, type StoreOptions, type WriteResult } from './object-store.js';

export interface FsStoreOptions {
  /** The folder holding the objects; resolved against the working directory if relative. */
  root: string;
  /** The config field (or flag) that names the folder, for hints: `backup.profiles[0].storage.pvc.path`. */
  configField?: string;
  /** Makes a folder's entries durable (fsync of the folder); tests pass one that records the calls. */
  syncFolder?: (dir: string) => Promise<void>;
  /** Makes a file's bytes durable (fsync), for files written with `syncLater` when syncFileSystem cannot. */
  syncFile?: (file: string) => Promise<void>;
  /**
   * Makes everything written on the file systems holding `folders` durable (syncfs(2)); resolves
   * false when it cannot, and then every file and folder is synced one by one instead. Tests pass
   * one that records the calls. The default runs `sync --file-system` with `runner`.
   */
  syncFileSystem?: (folders: readonly string[]) => Promise<boolean>;
  /** Runs `sync --file-system` (Node has no syncfs binding); without one, files are synced one by one. */
  runner?: ProcessRunner;
  /**
   * The modes of the folders and files the store creates (the config's `umask`, file-modes.ts).
   * Default: folders 0700, files 0600. Existing folders and files keep theirs.
   */
  modes?: FileModes;
}

const tempSuffix = '.dumping';

const fdOpen = promisify(openCallback);
const fdWrite = promisify(writeCallback);
const fdSync = promisify(fsyncCallback);
const fdClose = promisify(closeCallback);
const fdChmod = promisify(fchmodCallback);
/** The read buffer of a file at least this large (Node's default for file streams). */
const readBufferBytes = 64 * 1024;

// O_NOFOLLOW: a symlink appearing under the temp file's name (between removing a leftover and
// opening) makes the open fail instead of writing wherever it points. Windows has no such flag.
const createTempFlags =
  fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | ((fsConstants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0);

export function createFsStore(options: FsStoreOptions): ObjectStore {
  const root = path.resolve(options.root);
  const configField = options.configField ?? 'storage.pvc.path';
  /** A Node file system error as a StorageError whose hint names the config field. */
  const storageError = (err: unknown, action: Action, target: string): Promise<unknown> => fsError(err, action, target, configField);

  const keyPath = (key: string): string => path.join(root, ...key.split('/'));
  const syncFolder = options.syncFolder ?? syncDirectory;
  const syncFile = options.syncFile ?? syncRegularFile;
  const runner = options.runner;
  const syncFileSystem = options.syncFileSystem ?? (runner ? (folders: readonly string[]) => syncFileSystems(runner, folders) : () => Promise.resolve(false));
  const modes = options.modes ?? privateModes;
  // Read once per store (a run): whether new folders and files must be widened to `modes` after
  // the process umask narrowed them. Usually not, and then a write costs no extra call.
  const narrowed = umaskNarrows(modes);
  const makeFolders = (dir: string): Promise<void> => makeFoldersReporting(dir, modes, narrowed);

  /** Folders checked to lie inside the root and created by this store. */
  const readyFolders = new Set<string>();
  /** Folders holding files written with `syncLater` whose folder has not been synced since. */
  const unsynced = new Set<string>();
  /** Files written with `syncLater` (under their final names) not synced since. */
  const unsyncedFiles = new Set<string>();

  /**
   * Temp file names of put(): random per store (two processes writing one lock or record must not
   * share a name), then a count (two puts of this store neither). Drawing random bytes per put
   * cost more CPU than the rest of a small put, with thousands of them in a dump.
   */
  const tempTag = randomBytes(6).toString('hex') + '-';
  let tempCount = 0;

  /** The folder fsyncs under way for syncBeforeVisible, in order. */
  let syncRound: Promise<void> = Promise.resolve();

  /**
   * Before a durable object becomes visible: makes every file and folder that `syncLater` writes
   * left unsynced durable, with one sync of their file systems or else one by one. A round started
   * by an earlier caller is waited for too, since what it took out of the sets may still be syncing.
   */
  const syncBeforeVisible = (): Promise<void> => {
    const folders = [...unsynced];
    const files = [...unsyncedFiles];
    unsynced.clear();
    unsyncedFiles.clear();
    const round = syncRound.then(async () => {
      if (folders.length === 0 || (await syncFileSystem(folders))) return;
      await forEachBounded(files, fallbackSyncs, (file) => syncFile(file));
      for (const dir of folders) await syncFolder(dir);
    });
    syncRound = round.catch(() => undefined);
    return round;
  };
  /**
   * After `target` got its name: fsyncs its folder now, or (`later`) leaves the file and its folder
   * for the next durable write.
   */
  const syncAfterRename = async (target: string, later: boolean | undefined): Promise<void> => {
    const dir = path.dirname(target);
    if (later) {
      unsynced.add(dir);
      unsyncedFiles.add(target);
      return;
    }
    unsynced.delete(dir);
    await syncFolder(dir);
  };

  const checkKey = (key: string): void => {
    assertSafeKey(key);
    // A key ending in .dumping would be stored but never listed: refuse it rather than lose it.
    if (key.endsWith(tempSuffix)) {
      throw new StorageError('UNSAFE_KEY', `refusing storage key ${JSON.stringify(key)}: names ending in ${tempSuffix} are reserved for writes in progress`);
    }
  };

  /** Throws OUTSIDE_ROOT unless `target`, with every symlink resolved, lies inside the root. */
  const assertInsideRoot = async (target: string, what: string): Promise<void> => {
    const [realRoot, realTarget] = await Promise.all([resolveExisting(root), resolveExisting(target)]);
    if (!isInside(realRoot, realTarget)) {
      throw new StorageError('OUTSIDE_ROOT', `refusing to ${what} ${target}: it resolves to ${realTarget}, outside the storage root ${realRoot}`, {
        hint: 'a symbolic link under the storage folder points elsewhere; remove it',
      });
    }
  };

  /**
   * Checks the key, makes sure its folder is inside the root and exists, and returns its path.
   * `recheck`: the folder was found missing, so it is checked and created again.
   */
  const prepareWrite = async (key: string, recheck = false): Promise<string> => {
    checkKey(key);
    const target = keyPath(key);
    const dir = path.dirname(target);
    if (recheck) readyFolders.delete(dir);
    if (readyFolders.has(dir)) return target;
    // Only the folder is resolved: an existing symlink under the final name is replaced by the
    // rename, not written through.
    await assertInsideRoot(dir, 'write to');
    try {
      await makeFolders(dir);
    } catch (err) {
      throw await storageError(err, 'write to', target);
    }
    readyFolders.add(dir);
    return target;
  };

  /**
   * Whether a write that found its folder missing makes it again: only for a folder this store
   * made before (so it was removed under the run) and a write that does not need it to have lasted.
   */
  const remakeFolder = (err: unknown, target: string, options: StoreOptions): boolean =>
    hasCode(err, 'ENOENT') && readyFolders.has(path.dirname(target)) && options.folderMustExist !== true;

  /**
   * Creates the file `<target>` is written through (`opening`: a temp file beside it, or the target
   * itself for an in-place put); a folder removed since it was checked is made again unless
   * `options.folderMustExist` (then the ENOENT surfaces, as FOLDER_VANISHED).
   */
  const createWritten = async <T>(key: string, target: string, options: StoreOptions, opening: () => Promise<T>): Promise<T> => {
    try {
      return await opening();
    } catch (err) {
      if (!remakeFolder(err, target, options)) throw err;
      await prepareWrite(key, true);
      return await opening();
    }
  };

  /** Checks the key and that the file (following symlinks) is inside the root. */
  const prepareRead = async (key: string): Promise<string> => {
    checkKey(key);
    const target = keyPath(key);
    await assertInsideRoot(target, 'read');
    return target;
  };

  /** Folders under `folder` (and itself) are to be checked and created again before a write. */
  const forgetFoldersUnder = (folder: string): void => {
    for (const dir of readyFolders) if (isInside(folder, dir)) readyFolders.delete(dir);
  };

  const notFound = (key: string, cause?: unknown): NotFoundError =>
    new NotFoundError('OBJECT_NOT_FOUND', `no object ${key} in ${root}`, cause === undefined ? {} : { cause });

  /**
   * A bare descriptor for writing `filePath`, created with the store's file mode. `fresh`: a temp
   * file of a unique name, whatever stands there is this store's, so its mode is set; otherwise
   * (an in-place put) a file that exists already is truncated and keeps its mode.
   */
  async function openWritten(filePath: string, fresh: boolean): Promise<number> {
    if (!narrowed) return fdOpen(filePath, createTempFlags, modes.file);
    let fd: number;
    if (fresh) {
      fd = await fdOpen(filePath, createTempFlags, modes.file);
    } else {
      try {
        fd = await fdOpen(filePath, createTempFlags | fsConstants.O_EXCL, modes.file);
      } catch (err) {
        if (!hasCode(err, 'EEXIST')) throw err;
        return fdOpen(filePath, createTempFlags, modes.file);
      }
    }
    try {
      await fdChmod(fd, modes.file);
    } catch (err) {
      await fdClose(fd).catch(() => undefined);
      throw err;
    }
    return fd;
  }

  /**
   * Writes `data` to a new temp file beside `target` (a unique name: two writers of the same small
   * object, a lock or a record, must not share one) and syncs it; returns its path. Nothing is left
   * behind on failure.
   */
  async function writeSyncedTemp(key: string, target: string, data: string | Uint8Array, options: StoreOptions): Promise<string> {
    const tempPath = `${target}.${tempTag}${(tempCount++).toString(36)}${tempSuffix}`;
    await writeSynced(key, target, tempPath, data, options);
    return tempPath;
  }

  /**
   * Writes `data` to `filePath` (a temp file beside `target`, or `target` itself for an in-place
   * put) and syncs it, unless `syncLater` leaves that to the next durable write. Nothing is left
   * behind on failure.
   */
  async function writeSynced(key: string, target: string, filePath: string, data: string | Uint8Array, options: StoreOptions): Promise<void> {
    // A bare descriptor rather than a FileHandle: a dump makes thousands of these small files, and
    // a FileHandle's own bookkeeping (its promises, close tracking) was a visible part of their cost.
    let fd: number | undefined;
    try {
      fd = await createWritten(key, target, options, () => openWritten(filePath, filePath !== target));
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let done = 0; done < bytes.length; ) done += (await fdWrite(fd, bytes, done, bytes.length - done)).bytesWritten;
      if (!options.syncLater) await fdSync(fd);
      const closing = fd;
      fd = undefined;
      await fdClose(closing);
    } catch (err) {
      if (fd !== undefined) await fdClose(fd).catch(() => undefined);
      await rm(filePath, { force: true }).catch(() => undefined);
      if (err instanceof AppError) throw err;
      throw await storageError(err, 'write to', target);
    }
  }

  return {
    location: root,
    type: 'PVC',

    async check(options: StoreOptions = {}) {
      throwIfAborted(options.signal);
      try {
        await makeFolders(root);
      } catch (err) {
        throw await storageError(err, 'create', root);
      }
      const info = await stat(root);
      if (!info.isDirectory()) {
        throw new StorageError('NOT_A_DIRECTORY', `the storage path ${root} is a file, not a folder`, { hint: `point ${configField} at a folder` });
      }
      // Permission bits do not tell the whole story (read-only mounts, ACLs, quotas): write a file.
      const probe = path.join(root, `.bloodraven-probe-${randomBytes(6).toString('hex')}${tempSuffix}`);
      try {
        const handle = await createFile(probe, modes, { exclusive: true, narrowed });
        try {
          await handle.writeFile('probe\n');
        } finally {
          await handle.close();
        }
        await unlink(probe);
      } catch (err) {
        await rm(probe, { force: true }).catch(() => undefined);
        throw await storageError(err, 'write to', root);
      }
    },

    async checkReadable(options: StoreOptions = {}) {
      throwIfAborted(options.signal);
      let info;
      try {
        info = await stat(root);
      } catch (err) {
        // Only a missing last folder: a file standing in the path is reported as such below.
        if (hasCode(err, 'ENOENT')) {
          throw new StorageError('STORAGE_NOT_FOUND', `the storage folder ${root} does not exist`, {
            cause: err,
            hint: `check ${configField}; \`bloodraven backup now\` creates the folder when it takes the first backup`,
          });
        }
        throw await storageError(err, 'read', root);
      }
      if (!info.isDirectory()) {
        throw new StorageError('NOT_A_DIRECTORY', `the storage path ${root} is a file, not a folder`, { hint: `point ${configField} at the folder that holds the backups` });
      }
    },

    async write(key: string, body: Readable, options: StoreOptions = {}): Promise<WriteResult> {
      const { signal } = options;
      throwIfAborted(signal);
      const target = await prepareWrite(key);
      const tempPath = target + tempSuffix;
      let bytes = 0;
      // Whichever stream fails first is where the failure came from: a failing body (a dump that
      // died) passes through unchanged; only the file system's own errors are translated.
      let firstFailure: { from: 'body' | 'file'; err: unknown } | undefined;
      const onBodyError = (err: unknown): void => {
        firstFailure ??= { from: 'body', err };
      };
      body.once('error', onBodyError);
      let handle: FileHandle;
      try {
        // A leftover of an interrupted write goes first; unlink removes a symlink, not its target.
        await unlink(tempPath).catch(() => undefined);
        // The leftover temp file was just removed: the file opened now is new, with the store's modes.
        handle = await createWritten(key, target, options, () => createFile(tempPath, modes, { narrowed }));
      } catch (err) {
        body.off('error', onBodyError);
        if (err instanceof AppError) throw err;
        throw await storageError(err, 'write to', target);
      }
      // flush: the data is fsynced before the file is closed, so the rename publishes complete data
      // (with syncLater, the next durable write syncs it).
      const out = handle.createWriteStream({ flush: options.syncLater !== true });
      out.once('error', (err) => {
        firstFailure ??= { from: 'file', err };
      });
      try {
        await pipeline(body, out, signal ? { signal } : {});
        bytes = out.bytesWritten;
        if (!options.syncLater) await syncBeforeVisible();
        await rename(tempPath, target);
        await syncAfterRename(target, options.syncLater);
      } catch (err) {
        await rm(tempPath, { force: true }).catch(() => undefined);
        if (signal?.aborted) throw abortError(signal);
        if (firstFailure?.from === 'body') throw firstFailure.err;
        const failure = firstFailure?.err ?? err;
        // The body's own diagnosis (a tampered file, a failed dump) can reach here by way of the
        // file stream; only the file system's errors are translated.
        if (failure instanceof AppError) throw failure;
        throw await storageError(failure, 'write to', target);
      } finally {
        body.off('error', onBodyError);
      }
      return { bytes };
    },

    async put(key: string, data: string | Uint8Array, options: StoreOptions = {}) {
      throwIfAborted(options.signal);
      const target = await prepareWrite(key);
      if (options.inPlace) {
        try {
          // A durable put still makes the names written for later durable before its own appears.
          if (!options.syncLater) await syncBeforeVisible();
        } catch (err) {
          throw await storageError(err, 'write to', target);
        }
        await writeSynced(key, target, target, data, options);
        await syncAfterRename(target, options.syncLater);
        return;
      }
      const tempPath = await writeSyncedTemp(key, target, data, options);
      try {
        if (!options.syncLater) await syncBeforeVisible();
        await rename(tempPath, target);
      } catch (err) {
        await rm(tempPath, { force: true }).catch(() => undefined);
        if (err instanceof AppError) throw err;
        throw await storageError(err, 'write to', target);
      }
      await syncAfterRename(target, options.syncLater);
    },

    async putIfAbsent(key: string, data: string | Uint8Array, options: StoreOptions = {}): Promise<boolean> {
      throwIfAborted(options.signal);
      const target = await prepareWrite(key);
      const tempPath = await writeSyncedTemp(key, target, data, options);
      try {
        // What claims a name is never left for later, and neither is anything written before it.
        await syncBeforeVisible();
        // link() fails if the name exists: the complete file appears under it, or nothing does.
        await link(tempPath, target);
      } catch (err) {
        if (hasCode(err, 'EEXIST')) return false;
        if (err instanceof AppError) throw err;
        throw await storageError(err, 'write to', target);
      } finally {
        await rm(tempPath, { force: true }).catch(() => undefined);
      }
      await syncAfterRename(target, false);
      return true;
    },

    async read(key: string, options: StoreOptions = {}): Promise<Readable> {
      throwIfAborted(options.signal);
      const target = await prepareRead(key);
      let handle: FileHandle;
      try {
        handle = await open(target, 'r');
      } catch (err) {
        if (isMissing(err)) throw notFound(key, err);
        throw await storageError(err, 'read', target);
      }
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        throw notFound(key);
      }
      // Every read allocates a fresh buffer of highWaterMark bytes (64 KiB by default); a restore
      // reads thousands of files of a few hundred bytes, so a buffer sized to the file saves
      // gigabytes of allocations that only a full garbage collection gives back.
      const stream = handle.createReadStream({ highWaterMark: Math.min(readBufferBytes, Math.max(info.size, 1024)) });
      return options.signal ? addAbortSignal(options.signal, stream) : stream;
    },

    async get(key: string, options: StoreOptions = {}): Promise<Buffer> {
      throwIfAborted(options.signal);
      const target = await prepareRead(key);
      try {
        return await readFile(target, options.signal ? { signal: options.signal } : {});
      } catch (err) {
        if (options.signal?.aborted) throw abortError(options.signal);
        if (isMissing(err) || hasCode(err, 'EISDIR')) throw notFound(key, err);
        throw await storageError(err, 'read', target);
      }
    },

    async exists(key: string, options: StoreOptions = {}): Promise<boolean> {
      throwIfAborted(options.signal);
      const target = await prepareRead(key);
      try {
        return (await stat(target)).isFile();
      } catch (err) {
        if (isMissing(err)) return false;
        throw await storageError(err, 'read', target);
      }
    },

    async list(prefix: string, options: StoreOptions = {}): Promise<ObjectInfo[]> {
      throwIfAborted(options.signal);
      if (prefix !== '') assertSafeKey(prefix);
      // Walk only the folder the prefix names; the rest of the prefix filters names inside it.
      const folderKey = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
      const folder = folderKey === '' ? root : keyPath(folderKey);
      await assertInsideRoot(folder, 'list');
      const found: ObjectInfo[] = [];
      try {
        await walk(folder, folderKey, found, options.signal);
      } catch (err) {
        if (options.signal?.aborted) throw abortError(options.signal);
        throw await storageError(err, 'list', folder);
      }
      return found.filter((o) => o.key.startsWith(prefix)).sort((a, b) => compareKeys(a.key, b.key));
    },

    async delete(key: string, options: StoreOptions = {}) {
      throwIfAborted(options.signal);
      checkKey(key);
      const target = keyPath(key);
      await assertInsideRoot(path.dirname(target), 'delete');
      try {
        await unlink(target);
      } catch (err) {
        if (isMissing(err)) return;
        throw await storageError(err, 'delete', target);
      }
    },

    async deleteMany(keys: readonly string[], options: StoreOptions = {}) {
      // Every key is checked before any is deleted: one bad key refuses the whole request.
      keys.forEach(checkKey);
      for (const key of keys) await this.delete(key, options);
    },

    async deletePrefix(prefix: string, options: StoreOptions = {}): Promise<number> {
      throwIfAborted(options.signal);
      if (!prefix.endsWith('/')) {
        throw new StorageError('UNSAFE_KEY', `refusing to delete prefix ${JSON.stringify(prefix)}: a folder prefix must be non-empty and end with "/"`);
      }
      assertSafeKey(prefix);
      const folder = keyPath(prefix);
      let entry;
      try {
        entry = await lstat(folder);
      } catch (err) {
        if (isMissing(err)) return 0;
        throw await storageError(err, 'delete', folder);
      }
      await assertInsideRoot(folder, 'delete');
      if (entry.isSymbolicLink()) {
        // A link to a folder inside the root: its objects are listed under the real folder's name,
        // so only the link itself goes.
        forgetFoldersUnder(folder);
        await unlink(folder).catch(async (err: unknown) => {
          if (!isMissing(err)) throw await storageError(err, 'delete', folder);
        });
        return 0;
      }
      if (!entry.isDirectory()) return 0;
      const objects: ObjectInfo[] = [];
      try {
        await walk(folder, prefix, objects, options.signal);
        throwIfAborted(options.signal);
        // rm does not follow symlinks: a link inside the folder is removed, its target is not touched.
        forgetFoldersUnder(folder);
        await rm(folder, { recursive: true, force: true });
      } catch (err) {
        if (options.signal?.aborted) throw abortError(options.signal);
        throw await storageError(err, 'delete', folder);
      }
      return objects.length;
    },
  };
}

/** Appends every stored object under `dir` (whose key prefix is `keyPrefix`) to `out`. */
async function walk(dir: string, keyPrefix: string, out: ObjectInfo[], signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal);
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    // A missing folder simply holds nothing; so does a file where the prefix expected a folder.
    if (isMissing(err)) return;
    throw err;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    const key = keyPrefix + entry.name;
    // Dirent types come from lstat: symlinked folders are not descended into, symlinked files are
    // not objects this store wrote.
    if (entry.isDirectory()) {
      await walk(full, `${key}/`, out, signal);
    } else if (entry.isFile() && !entry.name.endsWith(tempSuffix)) {
      try {
        const info = await stat(full);
        out.push({ key, size: info.size, lastModified: info.mtime });
      } catch (err) {
        // Deleted between readdir and stat: it is gone, so it is not listed.
        if (!isMissing(err)) throw err;
      }
    }
  }
}

/** mkdir -p with `modes` (file-modes.ts), reporting the real reason when it fails. */
async function makeFoldersReporting(dir: string, modes: FileModes, narrowed: boolean): Promise<void> {
  try {
    await makeFoldersWithMode(dir, modes, narrowed);
  } catch (err) {
    // Node's recursive mkdir reports ENOENT for what is really EROFS, EACCES…; creating the first
    // missing folder alone surfaces the actual error.
    if (!hasCode(err, 'ENOENT')) throw err;
    let first = dir;
    while ((await lstat(path.dirname(first)).catch(() => undefined)) === undefined && path.dirname(first) !== first) {
      first = path.dirname(first);
    }
    await makeFolder(first, modes, narrowed);
    await makeFoldersWithMode(dir, modes, narrowed);
  }
}

/**
 * `p` with symlinks resolved as far as it exists; the components that do not exist yet are
 * appended unchanged. A dangling symlink is followed to where it points, since creating folders
 * through it would land there.
 */
async function resolveExisting(p: string, depth = 0): Promise<string> {
  const missing: string[] = [];
  let current = p;
  for (;;) {
    try {
      return path.join(await realpath(current), ...missing.reverse());
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    const link = await lstat(current).catch(() => undefined);
    if (link?.isSymbolicLink() && depth < 40) {
      const target = path.resolve(path.dirname(current), await readlink(current));
      return path.join(await resolveExisting(target, depth + 1), ...missing.reverse());
    }
    const parent = path.dirname(current);
    if (parent === current) return path.join(current, ...missing.reverse());
    missing.push(path.basename(current));
    current = parent;
  }
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** S3 lists keys in UTF-8 byte order; sorting the same way keeps both adapters' listings alike. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** fsyncs calls at a time when files left for later are synced one by one. */
const fallbackSyncs = 8;

/** fsync of a regular file; its errors (a failed writeback, a vanished file) are the caller's. */
async function syncRegularFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * syncfs(2) of the file systems holding `folders`, through coreutils' `sync --file-system` (Node
 * has no binding). False when it cannot: no such tool (not Linux, a minimal image), or it failed
 * (a folder gone, a writeback error); the caller then syncs file by file and meets the error itself.
 */
async function syncFileSystems(runner: ProcessRunner, folders: readonly string[]): Promise<boolean> {
  try {
    const result = await runner.run('sync', ['--file-system', '--', ...folders], { allowFailure: true });
    return result.exitCode === 0;
  } catch {
    return false;
  }
}

/** Makes a rename durable: the new directory entry is only on disk once the folder is synced. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms and file systems cannot sync a directory; the data itself is already synced.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Whether `dir` exists and is a folder (no error: a path that cannot be looked at is not one). */
async function isFolder(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}

/** Whether `err` is a Node system error, with one of `codes` if any are given. */
function hasCode(err: unknown, ...codes: string[]): err is NodeJS.ErrnoException & { code: string } {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && (codes.length === 0 || codes.includes(code));
}

function isMissing(err: unknown): boolean {
  return hasCode(err, 'ENOENT', 'ENOTDIR');
}

type Action = 'write to' | 'read' | 'list' | 'delete' | 'create';

/** Translates a Node file system error into a StorageError saying what failed and what to do. */
async function fsError(err: unknown, action: Action, target: string, configField: string): Promise<unknown> {
  if (err instanceof StorageError || !hasCode(err)) return err;
  const options = { cause: err };
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return new StorageError('PERMISSION_DENIED', `cannot ${action} ${target}: permission denied`, {
        ...options,
        hint: `make the folder writable by this user (uid ${process.getuid?.() ?? '?'}) or choose another ${configField}`,
      });
    case 'EROFS':
      return new StorageError('PERMISSION_DENIED', `cannot ${action} ${target}: permission denied (the file system is read-only)`, {
        ...options,
        hint: `mount the volume read-write or choose another ${configField}`,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError('DISK_FULL', `the disk of the storage folder is full: cannot ${action} ${target}`, {
        ...options,
        hint: `free space on the volume (\`bloodraven prune\` removes old backups), give it more capacity, or choose another ${configField}`,
      });
    // mkdir -p reports a file in the way as EEXIST, open() as ENOTDIR.
    case 'EEXIST':
    case 'ENOTDIR': {
      const file = await firstFileAncestor(target);
      return new StorageError('NOT_A_DIRECTORY', `cannot ${action} ${target}: ${file ?? 'part of the path'} is a file, not a folder`, {
        ...options,
        hint: `remove that file or choose another ${configField}`,
      });
    }
    case 'EISDIR':
      return new StorageError('IS_A_DIRECTORY', `cannot ${action} ${target}: a folder has that name`, {
        ...options,
        hint: 'remove or rename the folder',
      });
    // A write's own folder checked (and made) before the write began: gone now, removed under it;
    // or, with the folder still there, its temporary file removed under it: by something deleting
    // files there (a removal of the folder still under way), or by a second run writing the same
    // object (each write starts by clearing `<key>.dumping`). Which one cannot be told from here.
    case 'ENOENT':
      if (action !== 'write to') return new StorageError('FS_ERROR', `cannot ${action} ${target}: ${err.message}`, options);
      if (await isFolder(path.dirname(target))) {
        return new StorageError('TEMP_FILE_VANISHED', `cannot write ${target}: its temporary file vanished while it was being written (something removed it, or another run wrote the same object at the same time)`, {
          ...options,
          hint: 'find what removes files in the storage folder (a person, a cleanup job, a prune from a host whose clock is far off), or whether two runs write the same object (two `pitr archive` for one site); then run again',
        });
      }
      return new StorageError('FOLDER_VANISHED', `cannot write ${target}: its folder ${path.dirname(target)} vanished while it was being written (something removed it)`, {
        ...options,
        hint: 'a person or job removing files from the storage folder, or a prune on a host whose clock is far off; find what removes it, then run again',
      });
    case 'ENAMETOOLONG':
      return new StorageError('NAME_TOO_LONG', `cannot ${action} ${target}: the name is too long for the file system`, options);
    case 'ELOOP':
      return new StorageError('SYMLINK_LOOP', `cannot ${action} ${target}: too many levels of symbolic links`, {
        ...options,
        hint: 'remove the symbolic link loop under the storage folder',
      });
    case 'EMFILE':
    case 'ENFILE':
      return new StorageError('TOO_MANY_OPEN_FILES', `cannot ${action} ${target}: too many open files`, { ...options, retryable: true });
    case 'EIO':
      return new StorageError('IO_ERROR', `cannot ${action} ${target}: input/output error`, {
        ...options,
        hint: 'the volume may be failing or disconnected; check the kernel log and the volume',
      });
    default:
      return new StorageError('FS_ERROR', `cannot ${action} ${target}: ${err.message}`, options);
  }
}

/** The nearest ancestor of `p` that exists and is not a folder, for ENOTDIR messages. */
async function firstFileAncestor(p: string): Promise<string | undefined> {
  for (let current = path.dirname(p); current !== path.dirname(current); current = path.dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info?.isDirectory()) return undefined;
    if (info) return current;
  }
  return undefined;
}
