/**
 * Reads a dump's metadata (FORMAT.md §2) into one typed manifest: what schemas, tables, views and
 * stored objects it holds, how each table's data is encoded, and which data files exist. Accepts
 * MySQL Shell's dump versions 1.x and 2.0.x, and refuses a dump that is incomplete (no
 * `@.done.json`) or whose data files are missing.
 */
import { NotFoundError, PreconditionError, AppError, ExitCode } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { compressionOfFile } from '../dump/compression.js';
import type { Compression } from '../config/schema.js';
import { quoteId } from '../mysql/connection.js';
import { forEachBounded } from '../parallel.js';

/** How many table metadata files are read at a time. */
const metadataReads = 8;

export interface DataFileRef {
  /** File name inside the dump folder. */
  name: string;
  /** Chunk number, or null for an unchunked file. */
  chunk: number | null;
  /** Stored (compressed) size. */
  storedBytes: number;
  /** Uncompressed size, when the dump says (`chunkFileBytes`). */
  rawBytes: number | null;
  compression: Compression;
  /** The partition the file holds (partition-aware dumps), loaded with PARTITION (p). */
  partition: string | null;
}

export interface TableManifest {
  schema: string;
  name: string;
  basename: string;
  columns: string[];
  /** Column → FROM_BASE64 or UNHEX. */
  decodeColumns: Record<string, 'FROM_BASE64' | 'UNHEX'>;
  primaryIndex: string[];
  triggers: string[];
  includesData: boolean;
  includesDdl: boolean;
  characterSet: string;
  dialect: { fieldsTerminatedBy: string; fieldsEnclosedBy: string; fieldsOptionallyEnclosed: boolean; fieldsEscapedBy: string; linesTerminatedBy: string };
  dataFiles: DataFileRef[];
  /** A MariaDB sequence (bloodraven marks it; otherwise read from its DDL by the loader). */
  sequence: boolean;
  /** The period columns of a system-versioned table whose data holds its history. */
  systemVersioning: { rowStart: string; rowEnd: string } | null;
}

export interface ViewManifest {
  schema: string;
  name: string;
  basename: string;
}

export interface SchemaManifest {
  name: string;
  basename: string;
  includesDdl: boolean;
  includesViewsDdl: boolean;
  includesData: boolean;
  tables: TableManifest[];
  views: ViewManifest[];
  functions: string[];
  procedures: string[];
  events: string[];
}

export interface DumpManifest {
  version: string;
  serverVersion: string;
  tzUtc: boolean;
  defaultCharacterSet: string;
  bytesPerChunk: number;
  gtidExecuted: string;
  binlogFile: string | null;
  binlogPosition: number | null;
  /** Uncompressed data bytes (from `@.done.json`). */
  dataBytes: number;
  /** Rows per table as the dumper counted them (`@.done.json` tableRows), by `schema\0table`. */
  tableRows: Map<string, number>;
  /** The accounts `@.users.sql` holds (`@.json` users), or null when the dump has none. */
  users: string[] | null;
  schemas: SchemaManifest[];
  /** Every object key under the dump's prefix, by name. */
  files: Map<string, number>;
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** MySQL Shell 1.0 wrote routine and event names quoted when they needed it: `` `a'b` `` → a'b. */
export function unquoteName(name: string): string {
  return name.length >= 2 && name.startsWith('`') && name.endsWith('`') ? name.slice(1, -1).replace(/``/g, '`') : name;
}

function corrupt(message: string): AppError {
  return new AppError('DUMP_CORRUPT', message, ExitCode.failure, { hint: 'the dump is damaged or incomplete; take a new backup or restore another one' });
}

async function readJson(store: ObjectStore, key: string, what: string): Promise<Json> {
  let text: string;
  try {
    text = (await store.get(key)).toString('utf8');
  } catch (err) {
    if (err instanceof NotFoundError) throw corrupt(`${what} is missing: ${store.location}/${key}`);
    throw err;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (!isRecord(value)) throw new Error('not an object');
    return value;
  } catch (err) {
    throw corrupt(`${what} is not valid JSON (${store.location}/${key}): ${(err as Error).message}`);
  }
}

/** Whether MySQL Shell's loader would accept this dump version: major < 2, or 2.0.x. */
export function supportedVersion(version: string): boolean {
  const m = /^(\d+)\.(\d+)\./.exec(version);
  if (!m) return true;
  const major = Number(m[1]);
  return major < 2 || (major === 2 && Number(m[2]) === 0);
}

/** The data files of one table: `<base>.<ext>` or `<base>@N.<ext>` … `<base>@@N.<ext>`. */
type FoundFile = DataFileRef & { last: boolean };

function dataFilesFor(base: string, extension: string, index: DataFileIndex, chunkFileBytes: Json, partition: string | null): FoundFile[] {
  const found: FoundFile[] = index.filesOf(base, extension).map(({ name, size, chunk, last }) => {
    const raw = chunkFileBytes[name];
    return { name, chunk, last, storedBytes: size, rawBytes: typeof raw === 'number' ? raw : null, compression: compressionOfFile(name), partition };
  });
  found.sort((a, b) => (a.chunk ?? -1) - (b.chunk ?? -1));
  return found;
}

interface IndexedFile {
  name: string;
  size: number;
  chunk: number | null;
  last: boolean;
}

/**
 * The dump's files by the basename they would be data files of: `<base>.<ext>`, `<base>@N.<ext>`
 * or `<base>@@N.<ext>`, so each table finds its files in one lookup instead of matching every
 * file of the dump (with thousands of tables, that scan was most of reading the manifest). A name
 * that can be read more than one way (`s@1.tsv` is table `1`'s file, or chunk 1 of a table whose
 * basename is `s`) is filed under each reading, as the pattern it replaces would match either.
 */
class DataFileIndex {
  private readonly byExtension = new Map<string, Map<string, IndexedFile[]>>();

  constructor(private readonly files: ReadonlyMap<string, number>) {}

  filesOf(base: string, extension: string): IndexedFile[] {
    let byBase = this.byExtension.get(extension);
    if (!byBase) {
      byBase = this.build(extension);
      this.byExtension.set(extension, byBase);
    }
    return byBase.get(base) ?? [];
  }

  private build(extension: string): Map<string, IndexedFile[]> {
    const byBase = new Map<string, IndexedFile[]>();
    const add = (base: string, file: IndexedFile): void => {
      const list = byBase.get(base);
      if (list) list.push(file);
      else byBase.set(base, [file]);
    };
    const suffix = `.${extension}`;
    for (const [name, size] of this.files) {
      if (!name.endsWith(suffix) || name.length === suffix.length) continue;
      const stem = name.slice(0, -suffix.length);
      add(stem, { name, size, chunk: null, last: false });
      const m = /@(\d+)$/.exec(stem);
      if (!m) continue;
      const chunk = Number(m[1]);
      const before = stem.slice(0, m.index);
      add(before, { name, size, chunk, last: false });
      if (before.endsWith('@')) add(before.slice(0, -1), { name, size, chunk, last: true });
    }
    return byBase;
  }
}

/** Checks that a chunked table has chunks 0…N with @@N last, or one plain file. */
function checkDataFiles(table: string, files: FoundFile[]): void {
  const chunked = files.filter((f) => f.chunk !== null);
  if (chunked.length === 0) {
    if (files.length === 0) throw corrupt(`the data of ${table} is missing: no data file was found`);
    return;
  }
  const lastIndex = chunked.findIndex((f) => f.last);
  if (lastIndex === -1) throw corrupt(`the data of ${table} is incomplete: its final chunk (@@N) is missing`);
  chunked.forEach((f, i) => {
    if (f.chunk !== i) throw corrupt(`the data of ${table} is incomplete: chunk ${i} is missing`);
  });
  if (lastIndex !== chunked.length - 1) throw corrupt(`the data of ${table} has chunks after its final chunk`);
}

/**
 * Reads the manifest of the dump under `prefix` (a folder key ending in `/`, or '' for the
 * store's root). Throws PreconditionError DUMP_INCOMPLETE when `@.done.json` is missing.
 */
export async function readDumpManifest(store: ObjectStore, prefix: string): Promise<DumpManifest> {
  const listing = await store.list(prefix);
  const files = new Map(listing.map((o) => [o.key.slice(prefix.length), o.size]));
  if (!files.has('@.json')) {
    throw new NotFoundError('DUMP_NOT_FOUND', `no dump at ${store.location}${prefix ? `/${prefix.replace(/\/$/, '')}` : ''}: @.json is missing`, {
      hint: 'check the backup name or the --from location',
    });
  }
  if (!files.has('@.done.json')) {
    throw new PreconditionError('DUMP_INCOMPLETE', `the dump at ${store.location}/${prefix} is incomplete: it has no @.done.json (the backup failed or is still running)`, {
      hint: 'restore a complete backup instead',
    });
  }
  const instance = await readJson(store, `${prefix}@.json`, 'the dump metadata @.json');
  const done = await readJson(store, `${prefix}@.done.json`, '@.done.json');
  const version = typeof instance.version === 'string' ? instance.version : '0.0.0';
  if (!supportedVersion(version)) {
    throw new AppError('DUMP_VERSION_UNSUPPORTED', `the dump's format version ${version} is newer than this loader understands (2.0.x)`, ExitCode.failure);
  }
  const capabilities = Array.isArray(instance.capabilities) ? instance.capabilities : [];
  const unknown = capabilities.filter((c) => isRecord(c) && c.id !== 'partition_awareness');
  if (unknown.length > 0) {
    throw new AppError('DUMP_CAPABILITY_UNSUPPORTED', `the dump needs capabilities this loader lacks: ${unknown.map((c) => JSON.stringify(c)).join(', ')}`);
  }
  const basenames = isRecord(instance.basenames) ? instance.basenames : {};
  const chunkFileBytes = isRecord(done.chunkFileBytes) ? done.chunkFileBytes : {};
  const defaultCharacterSet = typeof instance.defaultCharacterSet === 'string' ? instance.defaultCharacterSet : 'utf8mb4';

  const dataFiles = new DataFileIndex(files);
  const schemas: SchemaManifest[] = [];
  for (const schemaName of strings(instance.schemas)) {
    const schemaBase = typeof basenames[schemaName] === 'string' ? basenames[schemaName] : schemaName;
    const meta = await readJson(store, `${prefix}${schemaBase}.json`, `the metadata of schema ${schemaName}`);
    const schemaBasenames = isRecord(meta.basenames) ? meta.basenames : {};
    const baseOf = (object: string): string => (typeof schemaBasenames[object] === 'string' ? schemaBasenames[object] : `${schemaBase}@${object}`);
    const includesDdl = meta.includesDdl !== false;
    const tableNames = strings(meta.tables);
    const tables: TableManifest[] = new Array<TableManifest>(tableNames.length);
    // One small metadata file per table: several are read at a time, kept in the schema's order.
    await forEachBounded(tableNames, metadataReads, async (tableName, i) => {
      tables[i] = await readTableManifest({ store, prefix, dataFiles, chunkFileBytes, defaultCharacterSet }, schemaName, tableName, baseOf(tableName));
    });
    schemas.push({
      name: schemaName,
      basename: schemaBase,
      includesDdl,
      includesViewsDdl: meta.includesViewsDdl === undefined ? includesDdl : meta.includesViewsDdl !== false,
      includesData: meta.includesData !== false,
      tables,
      views: strings(meta.views).map((v) => ({ schema: schemaName, name: v, basename: baseOf(v) })),
      functions: strings(meta.functions).map(unquoteName),
      procedures: strings(meta.procedures).map(unquoteName),
      events: strings(meta.events).map(unquoteName),
    });
  }
  return {
    version,
    serverVersion: typeof instance.serverVersion === 'string' ? instance.serverVersion : '',
    tzUtc: instance.tzUtc !== false,
    defaultCharacterSet,
    bytesPerChunk: typeof instance.bytesPerChunk === 'number' ? instance.bytesPerChunk : 0,
    gtidExecuted: typeof instance.gtidExecuted === 'string' ? instance.gtidExecuted : '',
    binlogFile: typeof instance.binlogFile === 'string' ? instance.binlogFile : null,
    binlogPosition: typeof instance.binlogPosition === 'number' ? instance.binlogPosition : null,
    dataBytes: typeof done.dataBytes === 'number' ? done.dataBytes : 0,
    tableRows: tableRowsOf(done.tableRows),
    users: Array.isArray(instance.users) && files.has('@.users.sql') ? strings(instance.users) : null,
    schemas,
    files,
  };
}

/** The table as a FROM clause reading every row the dump holds of it: its history too, when it is system-versioned. */
export function everyRowOf(table: Pick<TableManifest, 'schema' | 'name' | 'systemVersioning'>): string {
  return `${quoteId(table.schema)}.${quoteId(table.name)}${table.systemVersioning ? ' FOR SYSTEM_TIME ALL' : ''}`;
}

/** `schema\0table` → rows, from `@.done.json` tableRows. */
export function tableRowKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}

function tableRowsOf(value: unknown): Map<string, number> {
  const out = new Map<string, number>();
  if (!isRecord(value)) return out;
  for (const [schema, tables] of Object.entries(value)) {
    if (!isRecord(tables)) continue;
    for (const [table, rows] of Object.entries(tables)) if (typeof rows === 'number') out.set(tableRowKey(schema, table), rows);
  }
  return out;
}

interface ManifestReader {
  store: ObjectStore;
  prefix: string;
  dataFiles: DataFileIndex;
  chunkFileBytes: Json;
  defaultCharacterSet: string;
}

async function readTableManifest(r: ManifestReader, schemaName: string, tableName: string, base: string): Promise<TableManifest> {
  const t = await readJson(r.store, `${r.prefix}${base}.json`, `the metadata of table ${schemaName}.${tableName}`);
  const options = isRecord(t.options) ? t.options : {};
  const extension = typeof t.extension === 'string' ? t.extension : 'tsv';
  const includesData = t.includesData !== false;
  // A partition-aware dump (MySQL Shell 8.0.27+) has one stream per partition.
  const partitionBasenames = isRecord(t.basenames) ? Object.entries(t.basenames).filter((e): e is [string, string] => typeof e[1] === 'string') : [];
  const found: FoundFile[] = [];
  if (includesData && partitionBasenames.length > 0) {
    for (const [partition, partitionBase] of partitionBasenames) {
      const partitionFiles = dataFilesFor(partitionBase, extension, r.dataFiles, r.chunkFileBytes, partition);
      checkDataFiles(`${schemaName}.${tableName} partition ${partition}`, partitionFiles);
      found.push(...partitionFiles);
    }
  } else if (includesData) {
    found.push(...dataFilesFor(base, extension, r.dataFiles, r.chunkFileBytes, null));
    checkDataFiles(`${schemaName}.${tableName}`, found);
  }
  const decode: Record<string, 'FROM_BASE64' | 'UNHEX'> = {};
  if (isRecord(options.decodeColumns)) {
    for (const [col, fn] of Object.entries(options.decodeColumns)) {
      if (fn !== 'FROM_BASE64' && fn !== 'UNHEX') throw corrupt(`table ${schemaName}.${tableName} decodes column ${col} with an unknown function ${String(fn)}`);
      decode[col] = fn;
    }
  }
  // Dump 1.0 kept primaryIndex (a string) in options; 2.x has an array beside them.
  const primary = Array.isArray(t.primaryIndex) ? strings(t.primaryIndex) : typeof options.primaryIndex === 'string' && options.primaryIndex ? [options.primaryIndex] : [];
  const text = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);
  return {
    schema: schemaName,
    name: tableName,
    basename: base,
    columns: strings(options.columns),
    decodeColumns: decode,
    primaryIndex: primary,
    triggers: strings(t.triggers),
    includesData,
    includesDdl: t.includesDdl !== false,
    characterSet: text(options.characterSet, text(options.defaultCharacterSet, r.defaultCharacterSet)),
    dialect: {
      fieldsTerminatedBy: text(options.fieldsTerminatedBy, '\t'),
      fieldsEnclosedBy: text(options.fieldsEnclosedBy, ''),
      fieldsOptionallyEnclosed: options.fieldsOptionallyEnclosed === true,
      fieldsEscapedBy: text(options.fieldsEscapedBy, '\\'),
      linesTerminatedBy: text(options.linesTerminatedBy, '\n'),
    },
    dataFiles: found.map(({ last: _last, ...f }) => f),
    sequence: t.sequence === true,
    systemVersioning: isRecord(t.systemVersioning) && typeof t.systemVersioning.rowStart === 'string' && typeof t.systemVersioning.rowEnd === 'string'
      ? { rowStart: t.systemVersioning.rowStart, rowEnd: t.systemVersioning.rowEnd }
      : null,
  };
}
