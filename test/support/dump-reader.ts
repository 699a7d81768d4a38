/**
 * Reading a dump back in tests: its JSON, its data files (decompressed), and loading a data file
 * into a table with LOAD DATA LOCAL INFILE, so that the server itself judges the TSV encoding.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Connection } from 'mysql2/promise';

export async function readJson<T = Record<string, unknown>>(dir: string, name: string): Promise<T> {
  return JSON.parse(await readFile(join(dir, name), 'utf8')) as T;
}

export async function listFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

export async function readDataFile(dir: string, name: string): Promise<Buffer> {
  const stored = await readFile(join(dir, name));
  if (name.endsWith('.zst')) return zlib.zstdDecompressSync(stored);
  if (name.endsWith('.gz')) return zlib.gunzipSync(stored);
  return stored;
}

export async function sha256File(dir: string, name: string): Promise<string> {
  return createHash('sha256').update(await readFile(join(dir, name))).digest('hex');
}

/** Data files of one table basename in chunk order: `b@0…`, `b@@N…`. */
export function dataFilesOf(files: readonly string[], basename: string, extension: string): string[] {
  const re = new RegExp(`^${basename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@(@?)(\\d+)\\.${extension.replace(/\./g, '\\.')}$`);
  return files
    .map((f) => ({ f, m: re.exec(f) }))
    .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
    .sort((a, b) => Number(a.m[2]) - Number(b.m[2]))
    .map((x) => x.f);
}

export interface TableOptions {
  columns: string[];
  decodeColumns?: Record<string, string>;
}

function quote(id: string): string {
  return '`' + id.replace(/`/g, '``') + '`';
}

/**
 * Loads TSV bytes into `schema.table` the way util.loadDump() does: the default dialect,
 * utf8mb4, base64 columns through variables and FROM_BASE64. Returns the rows loaded.
 */
export async function loadTsv(conn: Connection, schema: string, table: string, options: TableOptions, data: Buffer): Promise<number> {
  const decode = options.decodeColumns ?? {};
  const targets = options.columns.map((c, i) => (decode[c] ? `@v${i}` : quote(c)));
  const sets = options.columns.flatMap((c, i) => (decode[c] ? [`${quote(c)} = ${decode[c]}(@v${i})`] : []));
  const sqlText =
    `LOAD DATA LOCAL INFILE 'stream' INTO TABLE ${quote(schema)}.${quote(table)} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${targets.join(', ')})` +
    (sets.length > 0 ? ` SET ${sets.join(', ')}` : '');
  const [result] = await conn.query({ sql: sqlText, // An empty chunk would read as end-of-file to the server; an empty file sends none.
    infileStreamFactory: () => Readable.from(data.length > 0 ? [data] : []) });
  return (result as { affectedRows: number }).affectedRows;
}
