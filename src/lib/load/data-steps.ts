/**
 * The data phase of a load: every data file read from storage and handed to a load thread
 * (load-thread.ts), which checks its stored bytes against the record as they pass, decrypts and
 * decompresses them into LOAD DATA LOCAL, one transaction per file, `threads` threads in
 * parallel, biggest tables first; each table's held-back indexes built as
 * soon as its last file is in. Nothing is reported as loaded that was not:
 *
 * - a file whose bytes differ from the record fails before its transaction commits;
 * - a file whose line count differs from the rows the dumper wrote into it fails likewise;
 * - any warning on a data statement means the server changed a value: the file fails;
 * - once a table is complete, its row count is compared with the dump's.
 */
import type { Readable } from 'node:stream';
import { TamperedError } from '../crypto/segments.js';
import { AppError, ExitCode, abortError, errorMessage, throwIfAborted } from '../errors.js';
import { quoteId, type StatementSession } from '../mysql/connection.js';
import { WorkQueue } from '../dump/work-queue.js';
import { ObjectMismatchError } from '../storage/object-check.js';
import { batchDeferredIndexes } from './defer-indexes.js';
import { everyRowOf, tableRowKey, type DataFileRef, type TableManifest } from './dump-manifest.js';
import type { LoadContext } from './load-context.js';
import { readsWhole } from './file-input.js';
import { loadDataStatement } from './load-data.js';
import { FileInputFailure, type LoadThreadSession } from './load-thread-session.js';
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

export async function loadData(ctx: LoadContext, sessions: LoadThreadSession[], deferred: Map<TableManifest, string[]>): Promise<LoadedTable[]> {
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

  const finishTable = async (session: StatementSession, table: TableManifest): Promise<void> => {
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
    const { todo, emptyAtStart } = await filesToLoad(ctx, sessions[0]!, table, files);
    const resumedRows = files.filter((f) => !todo.includes(f)).reduce((n, f) => n + (progress.rowsOf(dataStep(table, f)) ?? 0), 0);
    states.set(table, {
      result: { schema: table.schema, table: table.name, rows: resumedRows, files: table.dataFiles.length },
      remaining: todo.length,
      added: 0,
      loadedWhole: todo.length === files.length && emptyAtStart,
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
async function checkTableRows(ctx: LoadContext, session: StatementSession, table: TableManifest, state: TableState): Promise<void> {
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
 * done (REPLACE makes a redone file harmless); a table without one that was partly loaded (files
 * marked done, or rows an earlier run committed without marking them) is emptied and loaded whole
 * again, since its rows cannot be told apart. So is a system-versioned
 * table, whose history rows REPLACE cannot address. A sequence (no key, one row) is never emptied
 * (TRUNCATE is refused on it); REPLACE sets its row.
 */
async function filesToLoad(
  ctx: LoadContext,
  session: StatementSession,
  table: TableManifest,
  files: DataFileRef[],
): Promise<{ todo: DataFileRef[]; emptyAtStart: boolean }> {
  const preexisting = ctx.plan.preexisting.has(tableRowKey(table.schema, table.name));
  const done = files.filter((f) => ctx.plan.progress.isDone(dataStep(table, f)));
  ctx.resumedSteps += done.length;
  if (done.length === files.length) return { todo: [], emptyAtStart: false };
  const unrecorded = done.length === 0 && (await holdsUnrecordedRows(ctx, session, table, preexisting));
  // A sequence holds one row, which REPLACE sets whole: what is done stays done.
  if (!table.sequence && (table.primaryIndex.length === 0 || table.systemVersioning) && (done.length > 0 || unrecorded)) {
    const ignoring = ctx.plan.options.ignoreExistingObjects;
    if (ignoring && (await session.query(`SELECT 1 FROM ${everyRowOf(table)} LIMIT 1`)).length > 0) {
      // The table may have held rows of its own before the first run: emptying it would lose
      // them, and loading the rest would leave the interrupted file's rows twice.
      throw new AppError(
        'LOAD_RESUME_AMBIGUOUS',
        `${quoteId(table.schema)}.${quoteId(table.name)} was partly loaded by an interrupted run, has no primary key, and the load runs with --ignore-existing-objects: the rows it loaded cannot be told from rows the table held before, so it is neither emptied nor loaded again`,
        ExitCode.failure,
        { hint: 'if the table held no rows of its own before the restore, empty it (TRUNCATE TABLE) and run the restore again with --reset-progress: the load starts over, and the table is loaded whole' },
      );
    }
    ctx.deps.logger.info('emptying a partly loaded table, to load it whole', { table: `${table.schema}.${table.name}` });
    // Its files are no longer loaded: a later resume must not take their rows as there.
    ctx.plan.progress.forget(done.map((f) => dataStep(table, f)));
    await ctx.plan.progress.flush();
    const name = `${quoteId(table.schema)}.${quoteId(table.name)}`;
    if (ignoring) {
      // Emptied already (checked above).
    } else if (table.systemVersioning) {
      // Deleting makes history rows of the current ones; DELETE HISTORY then removes all history.
      await session.exec(`DELETE FROM ${name}`);
      await session.exec(`DELETE HISTORY FROM ${name}`);
    } else await session.exec(`TRUNCATE TABLE ${name}`);
    ctx.resumedSteps -= done.length;
    return { todo: files, emptyAtStart: !preexisting };
  }
  // Rows an earlier run committed unrecorded are replaced, not added: the count is then the server's.
  return { todo: files.filter((f) => !done.includes(f)), emptyAtStart: !preexisting && !unrecorded };
}

/**
 * Whether a table this load created holds rows although none of its files is recorded done: an
 * earlier run was killed after committing a file and before its progress was saved (progress is
 * saved every few seconds, not per file). Only a resumed load can leave that.
 */
async function holdsUnrecordedRows(ctx: LoadContext, session: StatementSession, table: TableManifest, preexisting: boolean): Promise<boolean> {
  // With --ignore-existing-objects a table may have held rows of its own before the first run
  // (a resumed schema's tables are not told apart): those must never be emptied.
  if (!ctx.plan.progress.resuming || preexisting || ctx.plan.options.ignoreExistingObjects) return false;
  const rows = await session.query(`SELECT 1 FROM ${everyRowOf(table)} LIMIT 1`);
  return rows.length > 0;
}

/**
 * Loads one data file (read whole when small, else streamed; checked against the record either
 * way) with LOAD DATA LOCAL, in a transaction of its own. Returns the rows it added; throws,
 * rolling the file back, when the file differs from the record, holds another number of rows, or
 * the server warned.
 */
async function loadFile(ctx: LoadContext, session: LoadThreadSession, table: TableManifest, file: DataFileRef, signal: AbortSignal): Promise<number> {
  throwIfAborted(signal);
  const expected = ctx.plan.files.get(file.name) ?? { bytes: file.storedBytes, sha256: null, rows: null };
  const key = ctx.plan.prefix + file.name;
  // The bytes as stored: the thread checks, decrypts and decompresses them.
  const { store } = ctx.deps;
  const sealing = store.sealing && store.sealing.sealedName(key) !== null ? store.sealing : undefined;
  const reader = sealing?.inner ?? store;
  const whole = readsWhole(file) ? ownBytes(await reader.get(key, { signal })) : null;
  let stored: Readable | null = null;
  const where = `${quoteId(table.schema)}.${quoteId(table.name)}`;
  let added: number;
  // One transaction per file: a file that fails midway, or whose result is wrong, leaves none of its rows behind.
  try {
    await session.exec('START TRANSACTION');
    // Opened only now, and handed over at once: a stream that fails while nothing listens to it
    // would take the process down.
    if (!whole) stored = await reader.read(key, { signal });
    const result = await session.loadFile(
      {
        sql: loadDataStatement(table, file.partition),
        name: file.name,
        expected: { bytes: expected.bytes, sha256: expected.sha256 },
        compression: file.compression,
        rawBytes: file.rawBytes,
        sealKey: sealing ? new Uint8Array(sealing.key) : null,
        whole,
      },
      stored,
      (n) => {
        ctx.report.bytes += n;
      },
    );
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
    stored?.destroy();
    await session.exec('ROLLBACK').catch(() => undefined);
    // A file that differs from the record, or fails authentication, says so itself, naming the file.
    const failure = err instanceof FileInputFailure ? err.failure : undefined;
    const own = failure ?? err;
    if (own instanceof ObjectMismatchError || own instanceof TamperedError) throw own;
    if (err instanceof AppError && (err.code === 'LOAD_ROWS_MISMATCH' || err.code === 'LOAD_VALUE_CHANGED')) throw err;
    const reason = failure ? `${file.name} is damaged (${failure.message})` : errorMessage(err);
    if (failure) {
      // A damaged file fails the same way on every run: resuming cannot help, another backup can.
      throw new AppError('DUMP_FILE_DAMAGED', `loading ${file.name} into ${where} failed: ${reason}`, ExitCode.failure, {
        cause: failure,
        hint: 'the stored file is damaged (changed or cut since the backup was taken; bloodraven verify checks a whole backup)',
      });
    }
    throw new AppError('LOAD_DATA_FAILED', `loading ${file.name} into ${where} failed: ${reason}`, ExitCode.failure, {
      cause: err,
      ...(err instanceof AppError && err.hint ? { hint: err.hint } : {}),
    });
  }
  ctx.report.rows += added;
  return added;
}

/** `bytes` in an ArrayBuffer of their own (a read may hand a view on a larger, pooled one), to be moved to a thread. */
function ownBytes(bytes: Buffer): Uint8Array<ArrayBuffer> {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
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
async function refuseChangedValues(ctx: LoadContext, session: StatementSession, where: string, file: string): Promise<void> {
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

async function addIndexes(session: StatementSession, table: TableManifest, clauses: string[]): Promise<void> {
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
