import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDumpManifest } from '../../src/lib/load/dump-manifest.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';

/** A dump folder with metadata for `tables` of schema `s` and the given (empty) data files. */
async function writeDump(dir: string, tables: string[], dataFiles: string[]): Promise<void> {
  const basenames = Object.fromEntries(tables.map((t) => [t, `s@${t}`]));
  await writeFile(join(dir, '@.json'), JSON.stringify({ version: '2.0.1', schemas: ['s'], basenames: { s: 's' } }));
  await writeFile(join(dir, '@.done.json'), '{}');
  await writeFile(join(dir, 's.json'), JSON.stringify({ tables, basenames }));
  for (const t of tables) await writeFile(join(dir, `s@${t}.json`), JSON.stringify({ extension: 'tsv.zst' }));
  for (const f of dataFiles) await writeFile(join(dir, f), '');
}

describe('readDumpManifest: the data files of each table', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bloodraven-manifest-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds each table its own files, plain or chunked, also where a name reads two ways', async () => {
    // s@1.tsv.zst is table "1"'s file, though it also reads as chunk 1 of a table based "s";
    // s@t@1.tsv.zst is chunk 1 of t, though it also reads as the file of a table based "s@t@1".
    await writeDump(
      dir,
      ['1', 't', 'u', 'tt'],
      ['s@1.tsv.zst', 's@t@0.tsv.zst', 's@t@1.tsv.zst', 's@t@@2.tsv.zst', 's@u.tsv.zst', 's@tt@@0.tsv.zst', 's@u.tsv', 's@t@@2.tsv.zst.idx'],
    );
    const manifest = await readDumpManifest(createFsStore({ root: dir }), '');
    const files = Object.fromEntries(manifest.schemas[0]!.tables.map((t) => [t.name, t.dataFiles.map((f) => [f.name, f.chunk])]));
    expect(files).toEqual({
      '1': [['s@1.tsv.zst', null]],
      t: [
        ['s@t@0.tsv.zst', 0],
        ['s@t@1.tsv.zst', 1],
        ['s@t@@2.tsv.zst', 2],
      ],
      u: [['s@u.tsv.zst', null]],
      tt: [['s@tt@@0.tsv.zst', 0]],
    });
  });

  it('still refuses a chunked table with a chunk missing, or without its final chunk', async () => {
    await writeDump(dir, ['t'], ['s@t@0.tsv.zst', 's@t@@2.tsv.zst']);
    await expect(readDumpManifest(createFsStore({ root: dir }), '')).rejects.toThrow('the data of s.t is incomplete: chunk 1 is missing');
    await rm(join(dir, 's@t@@2.tsv.zst'));
    await expect(readDumpManifest(createFsStore({ root: dir }), '')).rejects.toThrow('its final chunk (@@N) is missing');
  });
});
