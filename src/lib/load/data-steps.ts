/**
 * The data phase of a load: every data file streamed from storage (its stored bytes checked
 * against the record as they pass), decompressed, into LOAD DATA LOCAL, one transaction per file,
 * `threads` sessions in parallel, biggest tables first; each table's held-back indexes built as
 * soon as its last file is in. Nothing is reported as loaded that was not:
 *
 * - a file whose bytes differ from the record fails before its transaction commits;
 * - a file whose line count differs from the rows the dumper wrote into it fails likewise;
 * - any warning on a data statement means the server changed a value: the file fails;
 * - once a table is complete, its row count is compared with the dump's.
 */
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
// Not named imports: a Node without zstd (before 22.15) must still load this module, so that the
// version guard can refuse it by name instead of the command failing to load.
import zlib from 'node:zlib';
import { TamperedError } from '../crypto/segments.js';
import { AppError, ExitCode, abortError, errorMessage, throwIfAborted } from '../errors.js';
import { quoteId, type MysqlSession } from '../mysql/connection.js';
import { createDecompressor } from '../dump/compression.js';
import { WorkQueue } from '../dump/work-queue.js';
import { ObjectMismatchError, type ExpectedObject } from '../storage/object-check.js';
import { batchDeferredIndexes } from './defer-indexes.js';
import { everyRowOf, tableRowKey, type DataFileRef, type TableManifest } from './dump-manifest.js';
import type { LoadContext } from './load-context.js';
import { loadDataStatement } from './load-data.js';
import type { Step } from './load-progress.js';

export interface LoadedTable {
  schema: string;
  table: string;
  /** Rows the table holds from the dump (counted, and compared with the dump's count where it has one). */
  rows: number;
  files: number;
}

type DataTask = { kind: 'file'; table: TableManifest; file: DataFileRef } | { kind: 'index'; table: TableManifest; clauses: string[] };

const dataStep = (table: TableManifest, file: DataFileRef): Step => ({ op: 'TABLE-DATA', schema: table.schema, table: table.name, chunk: file.name });

/** What a table's load did in this run, for its row count at the end. */
interface TableState {
  result: LoadedTable;
  remaining: number;
  /** Rows this run added. */
  added: number;
  /** The table started this run empty and every file was loaded in this run: its count is the sum of what was added. */
  loadedWhole: boolean;
}

export async function loadData(ctx: LoadContext, sessions: MysqlSession[], deferred: Map<TableManifest, string[]>): Promise<LoadedTable[]> {
  const { report, emit } = ctx;
  const progress = ctx.plan.progress;
  const tables = ctx.schemas.flatMap((s) => s.tables);
  const states = new Map<TableManifest, TableState>();
  const queue = new WorkQueue<DataTask>();
  let open = 0;

  const internal = new AbortController();
  const signal = AbortSignal.any([ctx.signal, internal.signal]);
  let firstError: unknown;
  const fail = (err: unknown): void => {
    firstError ??= err;
    internal.abort(err);
    sessions.forEach((s) => s.destroy());
    queue.close();
  };

  const finishTable = async (session: MysqlSession, table: TableManifest): Promise<void> => {
    await checkTableRows(ctx, session, table, states.get(table)!);
    const clauses = deferred.get(table);
    if (clauses && clauses.length > 0 && !progress.isDone({ op: 'TABLE-INDEX', schema: table.schema, table: table.name })) {
      open++;
      queue.push({ kind: 'index', table, clauses });
      return;
    }
    report.tablesDone++;
    emit();
  };

  // Biggest tables first; their files interleaved so sessions start on different tables.
  const ordered = [...tables].sort((a, b) => size(b) - size(a));
  const pending: DataTask[][] = [];
  for (const table of ordered) {
    const files = table.includesData ? table.dataFiles : [];
    const todo = await filesToLoad(ctx, sessions[0]!, table, files);
    const resumedRows = files.filter((f) => !todo.includes(f)).reduce((n, f) => n + (progress.rowsOf(dataStep(table, f)) ?? 0), 0);
    states.set(table, {
      result: { schema: table.schema, table: table.name, rows: resumedRows, files: table.dataFiles.length },
      remaining: todo.length,
      added: 0,
      loadedWhole: todo.length === files.length && !ctx.plan.preexisting.has(tableRowKey(table.schema, table.name)),
    });
    report.filesDone += files.length - todo.length;
    pending.push(todo.map((file) => ({ kind: 'file', table, file })));
  }
  try {
    for (const table of ordered) if (states.get(table)!.remaining === 0) await finishTable(sessions[0]!, table);
  } catch (err) {
    fail(err);
  }
  for (let i = 0; pending.some((p) => i < p.length); i++) {
    for (const p of pending) {
      const task = p[i];
      if (task) {
        open++;
        queue.push(task);
      }
    }
  }
  if (open === 0) queue.close();

  const workers = sessions.map(async (session) => {
    for (;;) {
      const task = await queue.next();
      if (!task || signal.aborted) return;
      try {
        if (task.kind === 'file') {
          const added = await loadFile(ctx, session, task.table, task.file, signal);
          const state = states.get(task.table)!;
          state.added += added;
          state.result.rows += added;
          progress.markDone(dataStep(task.table, task.file), { rows: added });
          report.filesDone++;
          emit();
          if (--state.remaining === 0) await finishTable(session, task.table);
        } else {
          await addIndexes(session, task.table, task.clauses);
          progress.markDone({ op: 'TABLE-INDEX', schema: task.table.schema, table: task.table.name });
          report.tablesDone++;
          emit();
        }
      } catch (err) {
        fail(err);
        return;
      }
      if (--open === 0) queue.close();
    }
  });
  await Promise.all(workers);
  if (firstError !== undefined) {
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    throw firstError instanceof Error ? firstError : new AppError('LOAD_FAILED', errorMessage(firstError));
  }
  return ordered.map((t) => states.get(t)!.result);
}

function size(t: TableManifest): number {
  return t.dataFiles.reduce((n, f) => n + (f.rawBytes ?? f.storedBytes), 0);
}

/**
 * Compares a finished table's rows with the dump's count. A table loaded whole in this run, into
 * a table that started empty, counts what its files added; one that an earlier run began is
 * counted on the server. Tables that existed before the load (--ignore-existing-objects) hold
 * other rows too and are not compared.
 */
async function checkTableRows(ctx: LoadContext, session: MysqlSession, table: TableManifest, state: TableState): Promise<void> {
  const key = tableRowKey(table.schema, table.name);
  if (ctx.plan.preexisting.has(key) || !table.includesData) return;
  if (!state.loadedWhole) {
    const [row] = await session.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${everyRowOf(table)}`);
    state.result.rows = Number(row?.n ?? 0);
  }
  const expected = ctx.plan.tableRows.get(key);
  if (expected !== undefined) ctx.verified.tablesCounted++;
  if (expected !== undefined && state.result.rows !== expected) {
    throw new AppError(
      'LOAD_ROWS_MISMATCH',
      `${quoteId(table.schema)}.${quoteId(table.name)} holds ${state.result.rows} rows after the load, but the dump holds ${expected}`,
      ExitCode.failure,
      { hint: 'the backup does not load as it was taken (rows replaced or lost on the way); verify it (bloodraven verify) and restore another backup' },
    );
  }
}

/**
 * The files of a table still to load. A table with a primary key reloads only what is not marked
 * done (REPLACE makes a redone file harmless); a table without one that was partly loaded is
 * emptied and loaded whole again, since its rows cannot be told apart. So is a system-versioned
 * table, whose history rows REPLACE cannot address. A sequence (no key, one row) is never emptied
 * (TRUNCATE is refused on it); REPLACE sets its row.
 */
async function filesToLoad(ctx: LoadContext, session: MysqlSession, table: TableManifest, files: DataFileRef[]): Promise<DataFileRef[]> {
  const done = files.filter((f) => ctx.plan.progress.isDone(dataStep(table, f)));
  ctx.resumedSteps += done.length;
  if (done.length === files.length) return [];
  // A sequence holds one row, which REPLACE sets whole: what is done stays done.
  if (done.length > 0 && !table.sequence && (table.primaryIndex.length === 0 || table.systemVersioning)) {
    ctx.deps.logger.info('emptying a partly loaded table, to load it whole', { table: `${table.schema}.${table.name}` });
    // Its files are no longer loaded: a later resume must not take their rows as there.
    ctx.plan.progress.forget(done.map((f) => dataStep(table, f)));
    await ctx.plan.progress.flush();
    const name = `${quoteId(table.schema)}.${quoteId(table.name)}`;
    if (table.systemVersioning) {
      // Deleting makes history rows of the current ones; DELETE HISTORY then removes all history.
      await session.exec(`DELETE FROM ${name}`);
      await session.exec(`DELETE HISTORY FROM ${name}`);
    } else await session.exec(`TRUNCATE TABLE ${name}`);
    ctx.resumedSteps -= done.length;
    return files;
  }
  return files.filter((f) => !done.includes(f));
}

/** Counts the uncompressed bytes on their way to the server. */
class ByteCounter extends Transform {
  constructor(private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.onBytes(chunk.length);
    cb(null, chunk);
  }
}

/**
 * Files up to this size (stored, and uncompressed as the dump records it) are read whole and
 * decompressed at once instead of streamed: for thousands of small tables, a chain of streams per
 * file (storage, decompressor, byte counter, the driver's) allocates far more than the file holds,
 * and that churn, not the data, is what grew the restore's heap.
 */
export const wholeFileBytes = 256 * 1024;
/** A whole-read file that decompresses to more than this is damaged (its record says at most wholeFileBytes). */
const wholeFileMaxOutput = 32 * wholeFileBytes;

/** A data file on its way into LOAD DATA. */
interface FileInput {
  /** The stream the driver reads (created when the server asks for the data). */
  source: () => Readable;
  /** Settles, never rejecting, once reading the file has ended, however. */
  ended: Promise<void>;
  /** Why reading the file failed; undefined while it has not. */
  failure: () => Error | undefined;
  /** Stops reading, however far it got. */
  stop: () => void;
}

/** Whether a data file is read whole (wholeFileBytes) rather than streamed. */
export function readsWhole(file: DataFileRef): boolean {
  return file.rawBytes !== null && file.rawBytes <= wholeFileBytes && file.storedBytes <= wholeFileBytes;
}

/** Reads a small file whole (its stored bytes checked on the way), then decompresses it at once. */
async function wholeInput(ctx: LoadContext, file: DataFileRef, expected: ExpectedObject, signal: AbortSignal): Promise<FileInput> {
  const body = await ctx.deps.store.readChecked(ctx.plan.prefix + file.name, expected, { signal });
  let data: Buffer = Buffer.alloc(0);
  let failure: Error | undefined;
  try {
    data = decompressWhole(file.compression, await buffer(body), file.rawBytes ?? 0);
  } catch (err) {
    throwIfAborted(signal);
    failure = err instanceof Error ? err : new Error(String(err));
  }
  return {
    source: () => {
      const out = new PassThrough();
      // Like a stream that fails before the server reads it: the LOAD DATA sees the failure.
      if (failure) process.nextTick(() => out.destroy(failure));
      else {
        ctx.report.bytes += data.length;
        out.end(data);
      }
      return out;
    },
    ended: Promise.resolve(),
    failure: () => failure,
    stop: () => undefined,
  };
}

/** `stored` decompressed, into a buffer the size the dump records (zlib's default is 16 KiB, per file). */
function decompressWhole(kind: DataFileRef['compression'], stored: Buffer, rawBytes: number): Buffer {
  const options = { maxOutputLength: wholeFileMaxOutput, chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, rawBytes) };
  try {
    switch (kind) {
      case 'zstd':
        return zlib.zstdDecompressSync(stored, options);
      case 'gzip':
        return zlib.gunzipSync(stored, options);
      case 'none':
        return stored;
    }
  } catch (err) {
    if (err instanceof RangeError) throw new Error(`it decompresses to more than ${wholeFileMaxOutput} bytes, though the dump records at most ${wholeFileBytes}`);
    throw err;
  }
}

/** Streams a file from storage (its stored bytes checked on the way), decompressing, counting the bytes that pass. */
async function streamedInput(ctx: LoadContext, file: DataFileRef, expected: ExpectedObject, signal: AbortSignal): Promise<FileInput> {
  const body = await ctx.deps.store.readChecked(ctx.plan.prefix + file.name, expected, { signal });
  const counter = new ByteCounter((n) => {
    ctx.report.bytes += n;
  });
  // A damaged file may fail before the server asks for the data or while it reads it; either
  // way the LOAD DATA must see the failure, never a quiet end of file.
  let failure: Error | undefined;
  // Ends the stream however far it got, so that waiting for it never outlasts a failed load
  // (a stream whose reader went away would otherwise wait for it forever).
  const stop = new AbortController();
  const flowing = pipeline(body, createDecompressor(file.compression, file.rawBytes), counter, { signal: stop.signal }).catch((err: unknown) => {
    if (stop.signal.aborted) return;
    failure = err instanceof Error ? err : new Error(String(err));
  });
  return {
    source: () => {
      const out = new PassThrough();
      if (failure) process.nextTick(() => out.destroy(failure));
      else {
        counter.pipe(out);
        void flowing.then(() => {
          if (failure) out.destroy(failure);
        });
      }
      return out;
    },
    ended: flowing,
    failure: () => failure,
    stop: () => stop.abort(),
  };
}

/**
 * Loads one data file (read whole when small, else streamed; checked against the record either
 * way) with LOAD DATA LOCAL, in a transaction of its own. Returns the rows it added; throws,
 * rolling the file back, when the file differs from the record, holds another number of rows, or
 * the server warned.
 */
async function loadFile(ctx: LoadContext, session: MysqlSession, table: TableManifest, file: DataFileRef, signal: AbortSignal): Promise<number> {
  throwIfAborted(signal);
  const expected = ctx.plan.files.get(file.name) ?? { bytes: file.storedBytes, sha256: null, rows: null };
  const input = readsWhole(file) ? await wholeInput(ctx, file, expected, signal) : await streamedInput(ctx, file, expected, signal);
  const where = `${quoteId(table.schema)}.${quoteId(table.name)}`;
  let added: number;
  // One transaction per file: a file that fails midway, or whose result is wrong, leaves none of its rows behind.
  await session.exec('START TRANSACTION');
  try {
    const result = await session.loadLocal(loadDataStatement(table, file.partition), input.source);
    await input.ended;
    const failure = input.failure();
    if (failure) throw failure;
    if (result.warnings > 0) await refuseChangedValues(ctx, session, where, file.name);
    if (expected.rows !== null && result.records !== expected.rows) {
      throw new AppError('LOAD_ROWS_MISMATCH', `${file.name} gave ${result.records} rows to ${where}, but the dump wrote ${expected.rows} into it`, ExitCode.failure, {
        hint: 'the file does not load as it was written; verify the backup (bloodraven verify) and restore another one',
      });
    }
    await session.exec('COMMIT');
    added = result.added;
    ctx.verified.filesLoaded++;
    if (expected.sha256 !== null) ctx.verified.filesBySha256++;
  } catch (err) {
    input.stop();
    await session.exec('ROLLBACK').catch(() => undefined);
    // A file that differs from the record, or fails authentication, says so itself, naming the file.
    const failure = input.failure();
    const own = failure ?? err;
    if (own instanceof ObjectMismatchError || own instanceof TamperedError) throw own;
    if (err instanceof AppError && (err.code === 'LOAD_ROWS_MISMATCH' || err.code === 'LOAD_VALUE_CHANGED')) throw err;
    const reason = failure ? `${file.name} is damaged (${failure.message})` : errorMessage(err);
    throw new AppError('LOAD_DATA_FAILED', `loading ${file.name} into ${where} failed: ${reason}`, ExitCode.failure, {
      cause: err,
      ...(err instanceof AppError && err.hint ? { hint: err.hint } : {}),
    });
  } finally {
    await input.ended;
  }
  ctx.report.rows += added;
  return added;
}

/**
 * Server notes that say nothing about the values loaded: deprecated syntax (1287, 1681) and a
 * statement marked unsafe for statement-based replication (1592).
 */
const harmlessNotes = new Set([1287, 1592, 1681]);

/**
 * A warning on a data statement means the server stored something other than what the file
 * holds (a value truncated, rounded, adjusted, or made NULL): the file fails, naming the table and
 * the warnings. Even a Note can mean that (rounding a DECIMAL is Note 1265), so only the notes
 * known to say nothing about values pass.
 */
async function refuseChangedValues(ctx: LoadContext, session: MysqlSession, where: string, file: string): Promise<void> {
  const shown = await session.query<{ Level: string; Code: number | string; Message: string }>('SHOW WARNINGS');
  const serious = shown.filter((w) => !(w.Level === 'Note' && harmlessNotes.has(Number(w.Code))));
  ctx.warnings += shown.length;
  if (serious.length === 0) {
    ctx.deps.logger.info('the server noted something while loading data', { file, notes: shown.map((w) => `${w.Code}: ${w.Message}`).join('; ') });
    return;
  }
  throw new AppError(
    'LOAD_VALUE_CHANGED',
    `loading ${file} into ${where} changed values, so the restore stops (${serious.length} warning(s)): ${serious
      .slice(0, 3)
      .map((w) => `${w.Level} ${w.Code}: ${w.Message}`)
      .join('; ')}`,
    ExitCode.failure,
    { hint: 'the target cannot hold these values as the source held them (check its settings: max_allowed_packet, sql_mode, character sets, or the definition of a table that existed before), then run again' },
  );
}

async function addIndexes(session: MysqlSession, table: TableManifest, clauses: string[]): Promise<void> {
  // A resumed load may have built some of them already.
  const existing = new Set(
    (
      await session.query<{ n: string }>('SELECT DISTINCT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [table.schema, table.name])
    ).map((r) => r.n),
  );
  const missing = clauses.filter((c) => {
    const name = /KEY\s+(`(?:[^`]|``)+`)/i.exec(c)?.[1];
    return !name || !existing.has(name.slice(1, -1).replace(/``/g, '`'));
  });
  // One statement builds them all in one pass, except FULLTEXT indexes: InnoDB builds one per ALTER.
  for (const batch of batchDeferredIndexes(missing)) {
    try {
      await session.exec(`ALTER TABLE ${quoteId(table.schema)}.${quoteId(table.name)} ${batch.join(', ')}`);
    } catch (err) {
      throw new AppError('LOAD_INDEX_FAILED', `building the indexes of ${quoteId(table.schema)}.${quoteId(table.name)} failed: ${errorMessage(err)}`, ExitCode.failure, { cause: err });
    }
  }
}
