import { existsSync, readdirSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/lib/errors.js';
import { createStore } from '../../src/lib/storage/create-store.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { nodeProcessRunner, type ProcessRunner } from '../../src/lib/process.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { digest, objectStoreContract, patternBody, type StoreHarness } from '../support/object-store-contract.js';

let base: string;
let roots = 0;

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'bloodraven-fs-store-'));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const newRoot = (): string => path.join(base, `root-${++roots}`);

/** Resolves once `done()` holds (polled every 10 ms; fails the test after 10 s). */
async function until(done: () => boolean): Promise<void> {
  for (const end = Date.now() + 10_000; !done(); ) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const harness: StoreHarness = {
  partSize: 5 * 1024 * 1024,
  newStore: () => Promise.resolve(createFsStore({ root: newRoot() })),
  async pendingWrites(store, key) {
    const target = path.join(store.location, ...key.split('/'));
    const names = await readdir(path.dirname(target)).catch(() => [] as string[]);
    return names.filter((n) => n.startsWith(path.basename(target)) && n.endsWith('.dumping')).length;
  },
};

describe('fs store', () => {
  objectStoreContract(() => harness);

  it('resolves a relative root and reports it as its location', () => {
    const relative = path.relative(process.cwd(), path.join(base, 'relative-root'));
    const store = createFsStore({ root: relative });

    expect(store.type).toBe('PVC');
    expect(store.location).toBe(path.join(base, 'relative-root'));
  });

  it('check() creates a missing root and leaves no probe behind', async () => {
    const root = path.join(newRoot(), 'deeper', 'still');
    const store = createFsStore({ root });

    await store.check();

    expect((await stat(root)).isDirectory()).toBe(true);
    expect(await readdir(root)).toEqual([]);
  });

  it('check() names the file standing where a folder is needed', async () => {
    const root = newRoot();
    await mkdir(root);
    await writeFile(path.join(root, 'plain-file'), 'x');
    const store = createFsStore({ root: path.join(root, 'plain-file', 'backups') });

    const err = await store.check().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'NOT_A_DIRECTORY' });
    expect((err as StorageError).message).toContain(`${path.join(root, 'plain-file')} is a file, not a folder`);
    expect((err as StorageError).hint).toContain('storage.pvc.path');
  });

  it('checkReadable() refuses a missing folder and a file, naming the path and the config field, and creates nothing', async () => {
    const missing = newRoot();
    const missingErr = await createFsStore({ root: missing, configField: 'backup.profiles[1].storage.pvc.path' })
      .checkReadable()
      .catch((e: unknown) => e);
    expect(missingErr).toBeInstanceOf(StorageError);
    expect(missingErr).toMatchObject({ code: 'STORAGE_NOT_FOUND', message: `the storage folder ${missing} does not exist` });
    expect((missingErr as StorageError).hint).toBe('check backup.profiles[1].storage.pvc.path; `bloodraven backup now` creates the folder when it takes the first backup');
    expect(existsSync(missing)).toBe(false);

    const file = newRoot();
    await writeFile(file, 'not a folder');
    const fileErr = await createFsStore({ root: file, configField: 'backup.profiles[0].storage.pvc.path' })
      .checkReadable()
      .catch((e: unknown) => e);
    expect(fileErr).toMatchObject({ code: 'NOT_A_DIRECTORY', message: `the storage path ${file} is a file, not a folder` });
    expect((fileErr as StorageError).hint).toBe('point backup.profiles[0].storage.pvc.path at the folder that holds the backups');
    await expect(createFsStore({ root: path.join(file, 'below') }).checkReadable()).rejects.toMatchObject({ code: 'NOT_A_DIRECTORY' });

    const present = newRoot();
    await mkdir(present);
    await createFsStore({ root: present }).checkReadable();
  });

  it('gives a clear StorageError when a write needs a folder where a file is', async () => {
    const store = createFsStore({ root: newRoot() });
    await store.put('taken', 'x');

    const err = await store.write('taken/data', patternBody(100)).catch((e: unknown) => e);

    expect(err).toMatchObject({ code: 'NOT_A_DIRECTORY' });
    expect((err as Error).message).toMatch(/^cannot write to .*taken\/data: .*taken is a file, not a folder$/);
    await expect(store.put('taken/record.json', '{}')).rejects.toMatchObject({ code: 'NOT_A_DIRECTORY' });
  });

  // Root ignores permission bits, so this can only be shown as an ordinary user.
  it.skipIf(process.getuid?.() === 0)('reports an unwritable folder as permission denied, with what to do', async () => {
    const root = newRoot();
    await mkdir(root);
    await chmod(root, 0o555);
    try {
      const store = createFsStore({ root });
      const checkErr = await store.check().catch((e: unknown) => e);
      expect(checkErr).toMatchObject({ code: 'PERMISSION_DENIED' });
      expect((checkErr as StorageError).message).toBe(`cannot write to ${root}: permission denied`);
      expect((checkErr as StorageError).hint).toContain('choose another storage.pvc.path');

      await expect(store.write('x/data', patternBody(10))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    } finally {
      await chmod(root, 0o755);
    }
  });

  it('writes through a temp file named <key>.dumping, renamed at the end', async () => {
    const store = createFsStore({ root: newRoot() });
    const seen: string[] = [];
    const body = patternBody(3 * 1024 * 1024, () => {
      // Sampled while the body is being read: the final name must not exist yet.
      seen.push(...readdirSync(path.join(store.location, 'b')));
    });

    await store.write('b/data', body);

    expect(seen).toContain('data.dumping');
    expect(seen).not.toContain('data');
    expect(await readdir(path.join(store.location, 'b'))).toEqual(['data']);
  });

  it('does not list leftovers of interrupted writes and refuses keys ending in .dumping', async () => {
    const store = createFsStore({ root: newRoot() });
    await store.put('b/data', 'x');
    await writeFile(path.join(store.location, 'b', 'other.dumping'), 'partial');

    expect((await store.list('')).map((o) => o.key)).toEqual(['b/data']);
    await expect(store.put('b/x.dumping', 'x')).rejects.toMatchObject({ code: 'UNSAFE_KEY' });
  });

  describe('symbolic links', () => {
    let root: string;
    let outside: string;
    let store: ObjectStore;

    beforeAll(async () => {
      root = newRoot();
      outside = path.join(base, `outside-${roots}`);
      await mkdir(path.join(root, 'dir'), { recursive: true });
      await mkdir(outside);
      await writeFile(path.join(outside, 'precious'), 'do not delete');
      await symlink(outside, path.join(root, 'escape'));
      await symlink(outside, path.join(root, 'dir', 'link'));
      await symlink(path.join(outside, 'not-yet'), path.join(root, 'dangling'));
      store = createFsStore({ root });
    });

    const outsideIsIntact = async (): Promise<void> => {
      expect((await readdir(outside)).sort()).toEqual(['precious']);
      expect(await readFile(path.join(outside, 'precious'), 'utf8')).toBe('do not delete');
    };

    it('refuses to delete a prefix that resolves outside the root', async () => {
      await expect(store.deletePrefix('escape/')).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await outsideIsIntact();
    });

    it('refuses to write, put or read through a link out of the root', async () => {
      await expect(store.write('escape/new', patternBody(10))).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await expect(store.put('escape/new', 'x')).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await expect(store.put('escape/deeper/new', 'x')).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await expect(store.put('dangling/new', 'x')).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await expect(store.get('escape/precious')).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await expect(store.list('escape/')).rejects.toMatchObject({ code: 'OUTSIDE_ROOT' });
      await outsideIsIntact();
      await expect(stat(path.join(outside, 'not-yet'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('does not list what links point to', async () => {
      await store.put('dir/own', 'x');

      expect((await store.list('')).map((o) => o.key)).toEqual(['dir/own']);
    });

    it('deletes a folder holding a link without touching the link’s target', async () => {
      await store.put('dir/own', 'x');

      expect(await store.deletePrefix('dir/')).toBe(1);

      await expect(stat(path.join(root, 'dir'))).rejects.toMatchObject({ code: 'ENOENT' });
      await outsideIsIntact();
    });
  });

  it('works when the root itself is a symbolic link', async () => {
    const real = newRoot();
    await mkdir(real);
    const link = path.join(base, `link-to-${path.basename(real)}`);
    await symlink(real, link);
    const store = createFsStore({ root: link });

    await store.write('b/data', patternBody(1000));
    await store.put('b/record.json', '{}');

    expect((await store.list('')).map((o) => o.key)).toEqual(['b/data', 'b/record.json']);
    expect(await store.deletePrefix('b/')).toBe(2);
    expect(await readdir(real)).toEqual([]);
  });

  describe('durability', () => {
    type Sync = { kind: 'folder' | 'file' | 'fs'; what: string; watchedVisible: boolean };
    /**
     * A store whose syncs are recorded, with whether `watched` (a key) existed at the time;
     * `fileSystemSync` says whether a file system sync succeeds (false: the tool is missing).
     */
    const recordingStore = (watched: string, fileSystemSync = true): { store: ObjectStore; root: string; syncs: Sync[] } => {
      const root = newRoot();
      const syncs: Sync[] = [];
      const note = (kind: Sync['kind'], what: string): void => {
        syncs.push({ kind, what, watchedVisible: existsSync(path.join(root, ...watched.split('/'))) });
      };
      const store = createFsStore({
        root,
        syncFolder: (dir) => Promise.resolve(note('folder', path.relative(root, dir))),
        syncFile: (file) => Promise.resolve(note('file', path.relative(root, file))),
        syncFileSystem: (folders) => {
          note('fs', folders.map((f) => path.relative(root, f)).join(' '));
          return Promise.resolve(fileSystemSync);
        },
      });
      return { store, root, syncs };
    };

    it('a durable write or put fsyncs its folder before it returns', async () => {
      const { store, syncs } = recordingStore('none');

      await store.put('a/record', 'x');
      await store.write('b/data', patternBody(100));
      expect(await store.putIfAbsent('c/claim', 'x')).toBe(true);

      expect(syncs.map((s) => `${s.kind} ${s.what}`)).toEqual(['folder a', 'folder b', 'folder c']);
    });

    it('syncLater leaves files and folders to the next durable write, which syncs their file system once before its own object appears', async () => {
      const { store, syncs } = recordingStore('done/marker');

      await store.put('dump/one.sql', 'x', { syncLater: true });
      await store.write('dump/one.tsv', patternBody(100), { syncLater: true });
      await store.put('dump/two.sql', 'x', { syncLater: true, inPlace: true });
      await store.put('other/two.sql', 'x', { syncLater: true });
      expect(syncs).toEqual([]);

      await store.put('done/marker', 'x');

      expect(syncs).toEqual([
        { kind: 'fs', what: 'dump other', watchedVisible: false },
        { kind: 'folder', what: 'done', watchedVisible: true },
      ]);
      // Synced once: the next durable write has nothing left to catch up on.
      await store.put('done/marker', 'y');
      expect(syncs.map((s) => `${s.kind} ${s.what}`)).toEqual(['fs dump other', 'folder done', 'folder done']);
    });

    it('where the file system cannot be synced as a whole, every file and folder left for later is synced before the durable object appears', async () => {
      const { store, syncs } = recordingStore('done/marker', false);

      await store.put('dump/one.sql', 'x', { syncLater: true });
      await store.write('dump/one.tsv', patternBody(100), { syncLater: true });
      await store.put('dump/two.sql', 'x', { syncLater: true, inPlace: true });
      await store.put('done/marker', 'x');

      expect(syncs.filter((s) => s.watchedVisible)).toEqual([{ kind: 'folder', what: 'done', watchedVisible: true }]);
      expect(syncs.map((s) => `${s.kind} ${s.what}`).sort()).toEqual(['file dump/one.sql', 'file dump/one.tsv', 'file dump/two.sql', 'folder done', 'folder dump', 'fs dump'].sort());
    });

    it('a claim (putIfAbsent) also makes what was left for later durable first', async () => {
      const { store, syncs } = recordingStore('run/record');

      await store.write('run/data', patternBody(100), { syncLater: true });
      expect(await store.putIfAbsent('run/record', 'x')).toBe(true);

      expect(syncs).toEqual([
        { kind: 'fs', what: 'run', watchedVisible: false },
        { kind: 'folder', what: 'run', watchedVisible: true },
      ]);
    });

    it('the real file system sync runs (sync --file-system), and a vanished folder left for later fails the durable write', async () => {
      const root = newRoot();
      const runs: Array<{ command: string; args: readonly string[]; exitCode: number | null }> = [];
      const runner: ProcessRunner = {
        ...nodeProcessRunner,
        async run(command, args, options) {
          const result = await nodeProcessRunner.run(command, args, options);
          runs.push({ command, args, exitCode: result.exitCode });
          return result;
        },
      };
      const store = createFsStore({ root, runner });
      await store.put('dump/one', 'x', { syncLater: true, inPlace: true });
      await store.put('dump/marker', 'y');
      expect(runs).toEqual([{ command: 'sync', args: ['--file-system', '--', path.join(root, 'dump')], exitCode: 0 }]);
      expect(await readFile(path.join(root, 'dump', 'one'), 'utf8')).toBe('x');

      await store.put('gone/one', 'x', { syncLater: true, inPlace: true });
      await rm(path.join(root, 'gone'), { recursive: true });
      const err = await store.put('done/marker', 'x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect(existsSync(path.join(root, 'done', 'marker'))).toBe(false);
    });
  });

  it('a folder removed behind the store’s back after a write is created again by the next write', async () => {
    const root = newRoot();
    const store = createFsStore({ root });
    await store.put('backup/one', 'x');

    await rm(path.join(root, 'backup'), { recursive: true });
    await store.put('backup/two', 'y');
    await store.write('gone/three', patternBody(10));
    await rm(path.join(root, 'gone'), { recursive: true });
    await store.write('gone/four', patternBody(10));

    expect((await store.list('')).map((o) => o.key)).toEqual(['backup/two', 'gone/four']);
  });

  it('with folderMustExist, a folder removed behind the store’s back fails the next put and write with FOLDER_VANISHED and is not made again', async () => {
    const root = newRoot();
    const store = createFsStore({ root });
    await store.put('dump/one', 'x', { folderMustExist: true });
    await rm(path.join(root, 'dump'), { recursive: true });

    const putErr = await store.put('dump/two', 'y', { folderMustExist: true }).catch((e: unknown) => e);
    const writeErr = await store.write('dump/three', patternBody(10), { folderMustExist: true }).catch((e: unknown) => e);

    for (const [err, key] of [[putErr, 'two'], [writeErr, 'three']] as const) {
      expect(err).toBeInstanceOf(StorageError);
      expect(err).toMatchObject({ code: 'FOLDER_VANISHED', message: `cannot write ${path.join(root, 'dump', key)}: its folder ${path.join(root, 'dump')} vanished while it was being written (something removed it)` });
    }
    expect(existsSync(path.join(root, 'dump'))).toBe(false);
    // A first write into a folder this store never made is not a vanishing: the folder is made.
    await store.put('fresh/one', 'z', { folderMustExist: true });
    expect((await store.list('')).map((o) => o.key)).toEqual(['fresh/one']);
  });

  it('an inPlace put writes the final name itself (no temp file and rename); a plain put replaces the name', async () => {
    const root = newRoot();
    const store = createFsStore({ root });
    await store.put('d/in-place', 'old');
    await store.put('d/renamed', 'old');
    // A second name for each file shows whether the put wrote into the file or replaced the name.
    await link(path.join(root, 'd', 'in-place'), path.join(root, 'd', 'in-place-link'));
    await link(path.join(root, 'd', 'renamed'), path.join(root, 'd', 'renamed-link'));

    await store.put('d/in-place', 'new', { inPlace: true, syncLater: true });
    await store.put('d/renamed', 'new', { syncLater: true });

    expect(await readFile(path.join(root, 'd', 'in-place-link'), 'utf8')).toBe('new');
    expect(await readFile(path.join(root, 'd', 'renamed-link'), 'utf8')).toBe('old');
    expect((await readdir(path.join(root, 'd'))).sort()).toEqual(['in-place', 'in-place-link', 'renamed', 'renamed-link']);
  });

  it('two writers of one object at once: the one whose temporary file the other took fails with TEMP_FILE_VANISHED, not FOLDER_VANISHED; the object holds the other’s bytes', async () => {
    const root = newRoot();
    const store = createFsStore({ root });
    const slow = new PassThrough();
    slow.write('first writer');
    const first = store.write('d/object', slow).then(
      () => null,
      (e: unknown) => e,
    );
    await until(() => existsSync(path.join(root, 'd', 'object.dumping')));
    await store.write('d/object', Readable.from([Buffer.from('second writer')]));
    slow.end();

    const err = await first;
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({
      code: 'TEMP_FILE_VANISHED',
      message: `cannot write ${path.join(root, 'd', 'object')}: its temporary file vanished while it was being written (something removed it, or another run wrote the same object at the same time)`,
    });
    expect((err as StorageError).hint).toMatch(/two `pitr archive` for one site/);
    expect(await readFile(path.join(root, 'd', 'object'), 'utf8')).toBe('second writer');
    expect(await readdir(path.join(root, 'd'))).toEqual(['object']);
  });

  it('a folder removed by deletePrefix is created again by the next write', async () => {
    const store = createFsStore({ root: newRoot() });
    await store.put('b/c/one', 'x');

    expect(await store.deletePrefix('b/')).toBe(1);
    await store.put('b/c/two', 'y');

    expect((await store.list('')).map((o) => o.key)).toEqual(['b/c/two']);
  });

  it('createStore builds a PVC store with the path relative to the config folder', async () => {
    const configDir = newRoot();
    const store = await createStore({ type: 'PVC', pvc: { path: 'backups' } }, { configDir });

    expect(store.type).toBe('PVC');
    expect(store.location).toBe(path.join(configDir, 'backups'));
    await store.check();
    await store.write('x', patternBody(5000));
    expect(await digest(await store.read('x'))).toEqual(await digest(patternBody(5000)));
    expect(await readdir(path.join(configDir, 'backups'))).toEqual(['x']);
  });
});
