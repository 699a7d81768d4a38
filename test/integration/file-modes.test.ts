/**
 * The modes of what bloodraven creates on disk (file-modes.ts): the PVC store's folders and files
 * and `pitr download`'s binlogs come out 0700/0600 by default and as the configured umask says,
 * whatever the process umask (022, the usual one, would give 0755/0644), and existing folders and
 * files keep their modes. Real files; the process umask is set for each test and put back.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileModes, octal, privateModes, processUmask, umaskNarrows, type FileModes } from '../../src/lib/file-modes.js';
import type { ArchivedBinlog } from '../../src/lib/pitr/manifest.js';
import { downloadBinlogs } from '../../src/lib/pitr/download.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';

let base: string;
let roots = 0;
let savedUmask: number;

beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'bloodraven-file-modes-'));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

beforeEach(() => {
  savedUmask = process.umask(0o022);
});

afterEach(() => {
  process.umask(savedUmask);
});

const newRoot = (): string => path.join(base, `root-${++roots}`);

const modeOf = async (p: string): Promise<string> => octal((await stat(p)).mode & 0o7777);

/** Every folder (from `root` down) and file under `root`, with its mode: { 'a/b': '0700', … }. */
async function modesUnder(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = { '.': await modeOf(root) };
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(root, full)] = await modeOf(full);
  }
  return out;
}

/** Writes one object by each way the store has (put, write, putIfAbsent, in-place put, check). */
async function writeEveryWay(store: ObjectStore): Promise<void> {
  await store.check();
  await store.put('a/b/record.json', '{}');
  await store.write('a/b/c/data.tsv.zst', Readable.from([Buffer.from('rows')]));
  expect(await store.putIfAbsent('a/lock.json', '{"owner":1}')).toBe(true);
  await store.put('a/b/c/in-place.tsv', 'rows', { inPlace: true, syncLater: true });
  await store.put('top.json', '{}');
}

function expectEvery(modes: Record<string, string>, dirs: string[], folder: string, file: string): void {
  for (const [name, mode] of Object.entries(modes)) expect(mode, name).toBe(dirs.includes(name) ? folder : file);
}

const folders = ['.', 'a', 'a/b', 'a/b/c'];

describe('file modes', () => {
  it('reads the process umask without changing it', () => {
    process.umask(0o027);
    expect(processUmask()).toBe(0o027);
    expect(process.umask()).toBe(0o027);
    expect(umaskNarrows(privateModes, 0o022)).toBe(false);
    expect(umaskNarrows(fileModes(0o027), 0o077)).toBe(true);
  });

  it('derives folder and file modes from a umask', () => {
    expect(fileModes(0o077)).toEqual({ umask: 0o077, folder: 0o700, file: 0o600 });
    expect(fileModes(0o027)).toEqual({ umask: 0o027, folder: 0o750, file: 0o640 });
    expect(octal(0o640)).toBe('0640');
  });

  it('a PVC store makes its folders 0700 and files 0600 by default, under a process umask of 022', async () => {
    const root = path.join(newRoot(), 'backups');
    await writeEveryWay(createFsStore({ root }));
    const modes = await modesUnder(root);
    expect(Object.keys(modes).sort()).toEqual([...folders, 'a/b/c/data.tsv.zst', 'a/b/c/in-place.tsv', 'a/b/record.json', 'a/lock.json', 'top.json'].sort());
    expectEvery(modes, folders, '0700', '0600');
    // The parent of the root was created too, by the store, for the store.
    expect(await modeOf(path.dirname(root))).toBe('0700');
  });

  it('follows the configured umask: 0027 gives 0750 and 0640', async () => {
    const root = newRoot();
    await writeEveryWay(createFsStore({ root, modes: fileModes(0o027) }));
    expectEvery(await modesUnder(root), folders, '0750', '0640');
  });

  it('gives the configured modes exactly when the process umask is stricter (077 against a configured 0027)', async () => {
    process.umask(0o077);
    const root = newRoot();
    await writeEveryWay(createFsStore({ root, modes: fileModes(0o027) }));
    expectEvery(await modesUnder(root), folders, '0750', '0640');
  });

  it('leaves the modes of existing folders and files alone', async () => {
    const root = newRoot();
    await mkdir(path.join(root, 'a'), { recursive: true, mode: 0o755 });
    await chmod(root, 0o755);
    await chmod(path.join(root, 'a'), 0o755);
    await writeFile(path.join(root, 'a', 'in-place.tsv'), 'old');
    await chmod(path.join(root, 'a', 'in-place.tsv'), 0o644);
    process.umask(0o077);
    const store = createFsStore({ root, modes: fileModes(0o027) });
    await store.put('a/in-place.tsv', 'new', { inPlace: true });
    await store.put('a/new/file.json', '{}');
    expect(await modesUnder(root)).toEqual({ '.': '0755', a: '0755', 'a/in-place.tsv': '0644', 'a/new': '0750', 'a/new/file.json': '0640' });
  });

  describe('pitr download', () => {
    /** An archived binlog of `bytes` in `store` (what downloadBinlogs reads of a manifest entry). */
    async function archived(store: ObjectStore, file: string, bytes: Buffer): Promise<ArchivedBinlog> {
      const key = `binlogs/here/${file}`;
      await store.put(key, bytes);
      return { key, site: 'here', file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } as ArchivedBinlog;
    }

    async function download(modes: FileModes | undefined): Promise<Record<string, string>> {
      const store = createFsStore({ root: newRoot() });
      const entries = [await archived(store, 'binlog.000001', Buffer.from('one')), await archived(store, 'binlog.000002', Buffer.from('two'))];
      const dest = path.join(newRoot(), 'dl');
      const files = await downloadBinlogs(store, entries, dest, modes ? { modes } : {});
      expect(files.map((f) => path.relative(dest, f.path))).toEqual(['here/binlog.000001', 'here/binlog.000002']);
      return modesUnder(dest);
    }

    it('writes the binlogs 0600 in 0700 folders by default', async () => {
      expectEvery(await download(undefined), ['.', 'here'], '0700', '0600');
    });

    it('and as the configured umask says', async () => {
      process.umask(0o077);
      expectEvery(await download(fileModes(0o027)), ['.', 'here'], '0750', '0640');
    });
  });
});
