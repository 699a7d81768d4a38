/**
 * The JSON metadata of a dump (FORMAT.md §2): `@.json`, `<S>.json`, `<S>@<T>.json` and
 * `@.done.json`, shaped so that MySQL Shell's util.loadDump() (dump format 2.0.x) accepts them.
 * All JSON is written with a 4-space indent, as MySQL Shell writes it.
 */
import type { ServerInfo } from '../mysql/flavor.js';
import type { DumpOptions } from './options.js';

export const dumpFormatVersion = '2.0.1';

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 4);
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, the form MySQL Shell uses for begin/end. */
export function shellTimestamp(d: Date): string {
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
}

export interface InstanceMetadata {
  dumper: string;
  options: DumpOptions;
  schemas: string[];
  basenames: Record<string, string>;
  user: string;
  server: ServerInfo;
  gtidExecuted: string;
  binlogFile: string | null;
  binlogPosition: number | null;
  consistent: boolean;
  begin: Date;
  /** The dumped accounts (`'u'@'h'`), or null when accounts are not dumped. */
  users: string[] | null;
}

export function instanceJson(m: InstanceMetadata): string {
  return toJson({
    dumper: m.dumper,
    version: dumpFormatVersion,
    origin: 'dumpInstance',
    options: {
      threads: m.options.threads,
      bytesPerChunk: m.options.bytesPerChunk,
      compression: m.options.compression,
      consistent: m.options.consistent,
      includeSchemas: m.options.includeSchemas,
      excludeSchemas: m.options.excludeSchemas,
      users: m.users !== null,
    },
    schemas: m.schemas,
    // Its presence tells a loader that @.users.sql exists (FORMAT.md §2).
    ...(m.users !== null ? { users: m.users } : {}),
    basenames: m.basenames,
    defaultCharacterSet: 'utf8mb4',
    tzUtc: true,
    bytesPerChunk: m.options.bytesPerChunk,
    user: m.user,
    hostname: m.server.hostname,
    server: m.server.hostname,
    serverVersion: m.server.version,
    ...(m.binlogFile ? { binlogFile: m.binlogFile, binlogPosition: m.binlogPosition } : {}),
    gtidExecuted: m.gtidExecuted,
    gtidExecutedInconsistent: !m.consistent,
    consistent: m.consistent,
    mdsCompatibility: false,
    partialRevokes: false,
    compatibilityOptions: [],
    capabilities: [],
    begin: shellTimestamp(m.begin),
  });
}

export interface SchemaMetadata {
  schema: string;
  tables: string[];
  views: string[];
  events: string[];
  functions: string[];
  procedures: string[];
  basenames: Record<string, string>;
}

export function schemaJson(m: SchemaMetadata): string {
  return toJson({
    schema: m.schema,
    includesDdl: true,
    includesViewsDdl: true,
    includesData: true,
    tables: m.tables,
    views: m.views,
    events: m.events,
    functions: m.functions,
    procedures: m.procedures,
    basenames: m.basenames,
  });
}

export interface TableMetadata {
  schema: string;
  table: string;
  columns: string[];
  decodeColumns: Record<string, 'FROM_BASE64'>;
  primaryIndex: string[];
  triggers: string[];
  extension: string;
  compression: string;
  /** A MariaDB sequence: created before the tables (whose DEFAULT may use it). */
  sequence: boolean;
  /** The period columns of a system-versioned table, whose history rows the data holds. */
  systemVersioning: { rowStart: string; rowEnd: string } | null;
}

export function tableJson(m: TableMetadata): string {
  return toJson({
    options: {
      schema: m.schema,
      table: m.table,
      columns: m.columns,
      ...(Object.keys(m.decodeColumns).length > 0 ? { decodeColumns: m.decodeColumns } : {}),
      defaultCharacterSet: 'utf8mb4',
      fieldsTerminatedBy: '\t',
      fieldsEnclosedBy: '',
      fieldsOptionallyEnclosed: false,
      fieldsEscapedBy: '\\',
      linesTerminatedBy: '\n',
    },
    triggers: m.triggers,
    includesData: true,
    includesDdl: true,
    extension: m.extension,
    chunking: true,
    compression: m.compression,
    primaryIndex: m.primaryIndex,
    histograms: [],
    // bloodraven's own keys; MySQL Shell's loader reads only the keys it knows.
    ...(m.sequence ? { sequence: true } : {}),
    ...(m.systemVersioning ? { systemVersioning: m.systemVersioning } : {}),
  });
}

export interface DoneMetadata {
  end: Date;
  dataBytes: number;
  tableDataBytes: Record<string, Record<string, number>>;
  tableRows: Record<string, Record<string, number>>;
  chunkFileBytes: Record<string, number>;
}

export function doneJson(m: DoneMetadata): string {
  return toJson({
    end: shellTimestamp(m.end),
    dataBytes: m.dataBytes,
    tableDataBytes: m.tableDataBytes,
    tableRows: m.tableRows,
    chunkFileBytes: m.chunkFileBytes,
  });
}
