/**
 * The dump engine: a consistent, parallel, streamed dump of a whole instance in MySQL Shell's
 * instance-dump layout. `@.json` is written first and `@.done.json` last; a dump that stops
 * anywhere in between has no `@.done.json` and is never mistaken for a complete one.
 */
import type { Clock } from '../clock.js';
import { AppError, ExitCode, MysqlError, abortError, errorMessage, throwIfAborted } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlConnector, MysqlSession } from '../mysql/connection.js';
import { detectFlavor, type BinlogPosition, type Flavor, type ServerInfo } from '../mysql/flavor.js';
import { defaultUnresponsiveTimeoutMs } from '../mysql/server-watch.js';
import { describeSchema, type SchemaInfo } from '../mysql/introspect.js';
import { compareInventory, describeDifference, inventoryMatches, readInventory, type Inventory, type InventoryObject } from '../mysql/inventory.js';
import type { ObjectStore } from '../storage/object-store.js';
import { dataExtension } from './compression.js';
import { DataFileWriter, dumpFileWrite, type DataFileResult } from './data-file.js';
import { globalScript, schemaScript, tableScript, triggersScript, viewPlaceholderScript, viewScript, type DdlContext } from './ddl.js';
import { doneJson, instanceJson, schemaJson, tableJson } from './metadata.js';
import { BasenameAllocator } from './names.js';
import { defaultStorageStallTimeoutSeconds, type DumpOptions } from './options.js';
import { dumpSessionTimeoutSeconds, openSnapshot, prepareDumpSession, type Snapshot } from './snapshot.js';
import { planChunks, planTable, type DumpTask, type TablePlan } from './table-plan.js';
import { RowChecksum } from './row-checksum.js';
import { threadConnector } from '../threads/worker-session.js';
import { ThreadSession } from './thread-session.js';
import { WorkQueue } from './work-queue.js';
import { forEachBounded } from '../parallel.js';
import { selectSchemas, type SelectionFieldName } from './select-schemas.js';
import { nameOfAccount, usersScript, type DumpedAccount } from './users-script.js';
import { digestOf, inventoryFileContent, inventoryFileName, type ScriptDigest } from './inventory-file.js';

export interface DumpDeps {
  connector: MysqlConnector;
  store: ObjectStore;
  logger: Logger;
  clock: Clock;
}

export type DumpPhase = 'connecting' | 'snapshot' | 'ddl' | 'data' | 'finishing';

export interface DumpProgress {
  phase: DumpPhase;
  tablesTotal: number;
  tablesDone: number;
  /** Rows written so far, and the server's estimate of the total (statistics, not exact). */
  rows: number;
  rowsEstimate: number;
  /** Uncompressed bytes written so far, and the estimate of the total. */
  bytes: number;
  bytesEstimate: number;
  /** Bytes stored so far (compressed). */
  storedBytes: number;
}

export interface TableResult {
  schema: string;
  table: string;
  rows: number;
  /** Content checksum of all the table's rows (row-checksum.ts). */
  checksum: string;
  rawBytes: number;
  storedBytes: number;
  files: DataFileResult[];
  /** The largest value of a column loaded through FROM_BASE64 (binary), which must fit the target's max_allowed_packet; the column by its place in the table's dumped columns. */
  largestValue: { columnIndex: number; bytes: number } | null;
  /** The largest row, in bytes of its values: what a client reading it back must be able to receive. */
  largestRowBytes: number;
}

export interface DumpResult {
  server: ServerInfo;
  consistent: boolean;
  gtidExecuted: string;
  binlog: BinlogPosition | null;
  startedAt: Date;
  completedAt: Date;
  /** How long the global read lock was held, ms. */
  lockHeldMs: number;
  /** The point in time the dump shows (when the snapshot was taken). */
  snapshotAt: Date;
  schemas: string[];
  tables: TableResult[];
  /** Uncompressed data bytes. */
  dataBytes: number;
  /** Every byte the dump stored (data, indexes, metadata, DDL). */
  storedBytes: number;
  /** The source's objects in the dumped schemas, and its accounts (inventory.ts). */
  inventory: Inventory;
  /** The digest of `@.inventory.json` (inventory-file.ts), which holds the inventory and every script's digest. */
  inventoryFile: { bytes: number; sha256: string };
}

export interface DumpRunOptions {
  signal: AbortSignal;
  onProgress?: (progress: DumpProgress) => void;
  /** Called once the server is known, before anything is written. */
  onServer?: (server: ServerInfo) => Promise<void> | void;
  /** Name of the dumping program, recorded in `@.json`. */
  dumper: string;
  /** How the user wrote includeSchemas/excludeSchemas, for errors about them. */
  fieldName?: SelectionFieldName;
}


/**
 * Dumps the instance behind `deps.connector` into `prefix` (a folder key ending in `/`) of
 * `deps.store`. The prefix must be empty; the caller checks. The caller also watches the server
 * (runBackup: a source that stops answering fails the run with SERVER_UNRESPONSIVE).
 */
export async function dumpInstance(deps: DumpDeps, prefix: string, options: DumpOptions, run: DumpRunOptions): Promise<DumpResult> {
  const { connector, store, logger, clock } = deps;
  const startedAt = clock.now();
  const progress: DumpProgress = { phase: 'connecting', tablesTotal: 0, tablesDone: 0, rows: 0, rowsEstimate: 0, bytes: 0, bytesEstimate: 0, storedBytes: 0 };
  const report = (): void => run.onProgress?.({ ...progress });
  report();

  let storedBytes = 0;
  const scripts: ScriptDigest[] = [];
  const put = async (name: string, text: string | Buffer): Promise<void> => {
    const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    // Durable once @.done.json vouches for them: one folder fsync instead of one per file.
    await store.put(prefix + name, data, { signal: run.signal, ...dumpFileWrite });
    // Scripts are written several at a time; their digests are listed by name (below).
    scripts.push(digestOf(name, data));
    storedBytes += data.length;
    progress.storedBytes += data.length;
  };

  const main = await connector.connect();
  let snapshot: Snapshot<ThreadSession> | undefined;
  const onAbort = (): void => {
    snapshot?.destroy();
    main.destroy();
  };
  run.signal.addEventListener('abort', onAbort, { once: true });
  try {
    throwIfAborted(run.signal);
    const flavor = await detectFlavor(main);
    await run.onServer?.(flavor.info);
    // The source's locks are held only while this client is alive: see dumpSessionTimeoutSeconds.
    const sessionTimeoutSeconds = dumpSessionTimeoutSeconds({
      storageStallTimeoutSeconds: options.storageStallTimeoutSeconds ?? defaultStorageStallTimeoutSeconds,
      unresponsiveTimeoutSeconds: (connector.options.unresponsiveTimeoutMs ?? defaultUnresponsiveTimeoutMs) / 1000,
    });
    await prepareDumpSession(main, sessionTimeoutSeconds);

    progress.phase = 'snapshot';
    report();
    snapshot = await openSnapshot({
      connector,
      // Each worker is a thread with its own session: the per-row work runs on every core.
      workerConnector: threadConnector(connector, (connection, target) => ThreadSession.open(connection, target)),
      flavor,
      main,
      threads: options.threads,
      consistent: options.consistent,
      lockWaitTimeoutSeconds: options.lockWaitTimeoutSeconds,
      logger,
      now: () => clock.now().getTime(),
      signal: run.signal,
      sessionTimeoutSeconds,
    });
    logger.info('snapshot taken', {
      consistent: snapshot.consistent,
      lockHeldMs: snapshot.lockHeldMs,
      gtidExecuted: snapshot.gtidExecuted,
      binlog: snapshot.binlog ? `${snapshot.binlog.file}:${snapshot.binlog.position}` : null,
    });

    progress.phase = 'ddl';
    report();
    const schemas = await describeSchemas(main, flavor, options, { target: connector.target, logger, ...(run.fieldName ? { fieldName: run.fieldName } : {}) });
    const accounts = options.users === false ? null : await dumpedAccounts(main, flavor);
    const inventory = await readInventory(
      main,
      schemas.map((s) => s.name),
      accounts ? accounts.map((a) => nameOfAccount(a.account)) : null,
    );
    assertDumpsInventory(schemas, inventory);
    const names = new BasenameAllocator();
    const schemaBasenames = new Map(schemas.map((s) => [s.name, names.schema(s.name)]));
    await put(
      '@.json',
      instanceJson({
        dumper: run.dumper,
        options,
        schemas: schemas.map((s) => s.name),
        basenames: Object.fromEntries(schemaBasenames),
        user: connector.user,
        server: flavor.info,
        gtidExecuted: snapshot.gtidExecuted,
        binlogFile: snapshot.binlog?.file ?? null,
        binlogPosition: snapshot.binlog?.position ?? null,
        consistent: snapshot.consistent,
        begin: startedAt,
        users: inventory.accounts,
      }),
    );
    const ddl: DdlContext = { session: main, server: flavor.info, dumper: run.dumper };
    await put('@.sql', globalScript(ddl));
    await put('@.post.sql', globalScript(ddl));
    if (accounts) await put('@.users.sql', usersScript(globalScript(ddl).trimEnd(), accounts));
    const plans: TablePlan[] = [];
    for (const schema of schemas) {
      throwIfAborted(run.signal);
      plans.push(...(await writeSchemaDdl({ ddl, names, options, put }, schema, schemaBasenames.get(schema.name)!)));
    }

    progress.phase = 'data';
    progress.tablesTotal = plans.length;
    progress.rowsEstimate = plans.reduce((n, p) => n + p.info.rowsEstimate, 0);
    progress.bytesEstimate = plans.reduce((n, p) => n + p.info.dataLength, 0);
    report();
    const tables = await dumpData(snapshot, main, plans, { store, prefix, options, progress, report }, run.signal);
    storedBytes += tables.reduce((n, t) => n + t.storedBytes, 0);

    progress.phase = 'finishing';
    report();
    scripts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const inventoryContent = inventoryFileContent({ inventory, scripts });
    await store.put(prefix + inventoryFileName, inventoryContent, { signal: run.signal, ...dumpFileWrite });
    storedBytes += inventoryContent.length;
    const completedAt = clock.now();
    const result: DumpResult = {
      server: flavor.info,
      consistent: snapshot.consistent,
      gtidExecuted: snapshot.gtidExecuted,
      binlog: snapshot.binlog,
      startedAt,
      completedAt,
      lockHeldMs: snapshot.lockHeldMs,
      snapshotAt: new Date(snapshot.takenAt),
      schemas: schemas.map((s) => s.name),
      tables,
      dataBytes: tables.reduce((n, t) => n + t.rawBytes, 0),
      storedBytes,
      inventory,
      inventoryFile: digestOf(inventoryFileName, inventoryContent),
    };
    await snapshot.release();
    snapshot = undefined;
    return result;
  } catch (err) {
    snapshot?.destroy();
    if (run.signal.aborted) throw abortError(run.signal);
    throw err;
  } finally {
    run.signal.removeEventListener('abort', onAbort);
    await main.close();
  }
}

/**
 * Writes `@.done.json`, the marker that the dump is complete. Call last: it is written without
 * `syncLater`, so every file the dump wrote is durable before the marker appears, and never into
 * a folder made again after the dump's was removed (`folderMustExist`).
 */
export async function writeDoneMarker(store: ObjectStore, prefix: string, result: DumpResult, signal: AbortSignal): Promise<void> {
  const tableDataBytes: Record<string, Record<string, number>> = {};
  const tableRows: Record<string, Record<string, number>> = {};
  const chunkFileBytes: Record<string, number> = {};
  for (const t of result.tables) {
    (tableDataBytes[t.schema] ??= {})[t.table] = t.rawBytes;
    (tableRows[t.schema] ??= {})[t.table] = t.rows;
    for (const f of t.files) chunkFileBytes[f.name] = f.rawBytes;
  }
  for (const s of result.schemas) {
    tableDataBytes[s] ??= {};
    tableRows[s] ??= {};
  }
  await store.put(prefix + '@.done.json', doneJson({ end: result.completedAt, dataBytes: result.dataBytes, tableDataBytes, tableRows, chunkFileBytes }), { signal, folderMustExist: true });
}

async function describeSchemas(
  session: MysqlSession,
  flavor: Flavor,
  options: DumpOptions,
  context: { target: string; logger: Logger; fieldName?: SelectionFieldName },
): Promise<SchemaInfo[]> {
  const names = await selectSchemas(session, flavor.systemSchemas, options, context);
  const schemas: SchemaInfo[] = [];
  for (const name of names) schemas.push(await describeSchema(session, name));
  const unsupported = schemas.flatMap((s) => s.unsupported.map((u) => `${s.name}.${u.name} (${u.type})`));
  if (unsupported.length > 0) {
    // Never a backup that quietly lacks tables: a kind of table the dumper does not know is an error.
    throw new AppError('DUMP_UNSUPPORTED_OBJECT', `the dump cannot take these objects, and will not leave them out: ${unsupported.join(', ')}`, ExitCode.failure, {
      hint: 'exclude their schemas (dump.excludeSchemas), or report the table type to bloodraven',
    });
  }
  return schemas;
}

/** The accounts and the statements that recreate them. */
async function dumpedAccounts(session: MysqlSession, flavor: Flavor): Promise<DumpedAccount[]> {
  const out: DumpedAccount[] = [];
  for (const account of await flavor.listAccounts(session)) out.push({ account, statements: await flavor.accountStatements(session, account) });
  return out;
}

/**
 * Checks that the dump takes every object the source's inventory lists in the dumped schemas, as
 * the kind it is. Both are read from information_schema, but by different code: this is where a
 * kind of object the dumper skips would show.
 */
function assertDumpsInventory(schemas: readonly SchemaInfo[], inventory: Inventory): void {
  const dumped: Inventory = { schemas: schemas.map((s) => s.name), accounts: inventory.accounts, objects: [] };
  for (const s of schemas) {
    const add = (o: InventoryObject): void => void dumped.objects.push(o);
    for (const t of s.tables) {
      if (t.type === 'sequence') add({ kind: 'sequence', schema: s.name, name: t.name });
      else add({ kind: 'table', schema: s.name, name: t.name, type: t.versioning ? 'SYSTEM VERSIONED' : 'BASE TABLE' });
      for (const trigger of t.triggers) add({ kind: 'trigger', schema: s.name, name: trigger });
    }
    for (const v of s.views) add({ kind: 'view', schema: s.name, name: v.name });
    for (const f of s.functions) add({ kind: 'function', schema: s.name, name: f });
    for (const p of s.procedures) add({ kind: 'procedure', schema: s.name, name: p });
    for (const e of s.events) add({ kind: 'event', schema: s.name, name: e });
  }
  const difference = compareInventory(inventory, dumped, { schemas: inventory.schemas, accounts: false });
  if (!inventoryMatches(difference)) {
    throw new AppError('DUMP_WOULD_SKIP', `the dump would not hold everything the source holds:\n${describeDifference(difference)}`, ExitCode.failure, {
      hint: 'this is a bug in bloodraven; exclude the schemas named to back up the rest meanwhile',
    });
  }
}

interface DdlWriter {
  ddl: DdlContext;
  names: BasenameAllocator;
  options: DumpOptions;
  put: (name: string, text: string) => Promise<void>;
}

/**
 * Tables whose scripts are written at a time. The SHOW CREATE statements queue on the one
 * session; what runs in parallel is the storage round trips, which with thousands of small tables
 * cost more than the statements.
 */
const ddlWrites = 8;

async function writeSchemaDdl({ ddl, names, options, put }: DdlWriter, schema: SchemaInfo, schemaBasename: string): Promise<TablePlan[]> {
  const basenames: Record<string, string> = {};
  // Names are given out in the schema's order, before anything runs in parallel: they must not
  // depend on which write finishes first.
  const plans = schema.tables.map((t) => {
    const basename = names.table(schemaBasename, t.name);
    basenames[t.name] = basename;
    return planTable(t, basename, options.encoderBlockBytes);
  });
  await forEachBounded(plans, ddlWrites, async (plan) => {
    const t = plan.info;
    const basename = plan.basename;
    await put(`${basename}.sql`, await tableScript(ddl, schema.name, t.name));
    if (t.triggers.length > 0) await put(`${basename}.triggers.sql`, await triggersScript(ddl, schema.name, t.name, t.triggers));
    await put(
      `${basename}.json`,
      tableJson({
        schema: schema.name,
        table: t.name,
        columns: plan.columns,
        decodeColumns: Object.fromEntries(plan.columns.filter((_, i) => plan.kinds[i] === 'base64').map((c) => [c, 'FROM_BASE64' as const])),
        primaryIndex: t.indexes.find((ix) => ix.name === 'PRIMARY')?.columns ?? [],
        triggers: t.triggers,
        extension: dataExtension[options.compression],
        compression: options.compression,
        sequence: t.type === 'sequence',
        systemVersioning: t.versioning ? { rowStart: t.versioning.rowStart, rowEnd: t.versioning.rowEnd } : null,
      }),
    );
  });
  const views = schema.views.map((v) => {
    const basename = names.table(schemaBasename, v.name);
    basenames[v.name] = basename;
    return { view: v, basename };
  });
  await forEachBounded(views, ddlWrites, async ({ view: v, basename }) => {
    await put(`${basename}.pre.sql`, viewPlaceholderScript(ddl, schema.name, v.name, v.columns));
    await put(`${basename}.sql`, await viewScript(ddl, schema.name, v.name));
  });
  await put(`${schemaBasename}.sql`, await schemaScript(ddl, schema.name, schema));
  await put(
    `${schemaBasename}.json`,
    schemaJson({
      schema: schema.name,
      tables: schema.tables.map((t) => t.name),
      views: schema.views.map((v) => v.name),
      events: schema.events,
      functions: schema.functions,
      procedures: schema.procedures,
      basenames,
    }),
  );
  return plans;
}

/**
 * Runs the workers over every table's chunks. The planner fills the queue (biggest tables first)
 * while the workers drain it; the first failure stops everything.
 */
async function dumpData(
  snapshot: Snapshot<ThreadSession>,
  planner: MysqlSession,
  plans: TablePlan[],
  base: Omit<DataContext, 'signal' | 'stop'>,
  outerSignal: AbortSignal,
): Promise<TableResult[]> {
  const { options, progress, report } = base;
  const queue = new WorkQueue<DumpTask>();
  const results = new Map<TablePlan, TableResult>();
  const remainingChunks = new Map<TablePlan, { planned: number; done: number; complete: boolean }>();
  for (const p of plans) {
    results.set(p, { schema: p.schema, table: p.table, rows: 0, checksum: '', rawBytes: 0, storedBytes: 0, files: [], largestValue: null, largestRowBytes: 0 });
    remainingChunks.set(p, { planned: 0, done: 0, complete: false });
  }
  const internal = new AbortController();
  const signal = AbortSignal.any([outerSignal, internal.signal]);
  let firstError: unknown;
  const fail = (err: unknown): void => {
    if (firstError === undefined) firstError = err;
    // Dropping the sessions ends the snapshot transactions and releases the backup lock at once,
    // even where a worker is paused in the middle of a result set.
    snapshot.destroy();
    internal.abort(err);
  };
  const context: DataContext = { ...base, signal, stop: fail };
  const tableDone = (plan: TablePlan): void => {
    const state = remainingChunks.get(plan)!;
    if (state.complete && state.done === state.planned) {
      progress.tablesDone++;
      report();
    }
  };

  const planning = (async () => {
    const ordered = [...plans].sort((a, b) => b.info.dataLength - a.info.dataLength);
    for (const plan of ordered) {
      if (signal.aborted) return;
      const state = remainingChunks.get(plan)!;
      await planChunks(planner, plan, options.bytesPerChunk, (task) => {
        state.planned++;
        queue.push(task);
      });
      state.complete = true;
      tableDone(plan);
    }
  })()
    .catch(fail)
    .finally(() => queue.close());

  const record = (task: DumpTask, { files, indexBytes, largestValues, largestRow }: TaskResult): void => {
    const r = results.get(task.plan)!;
        r.storedBytes += indexBytes;
        r.largestRowBytes = Math.max(r.largestRowBytes, largestRow);
        task.plan.kinds.forEach((kind, columnIndex) => {
          const bytes = largestValues[columnIndex] ?? 0;
          if (kind === 'base64' && bytes > (r.largestValue?.bytes ?? 0)) r.largestValue = { columnIndex, bytes };
        });
    for (const f of files) {
      r.files.push(f);
      r.rows += f.rows;
      r.rawBytes += f.rawBytes;
      r.storedBytes += f.storedBytes;
    }
    remainingChunks.get(task.plan)!.done++;
    tableDone(task.plan);
  };

  // A worker reads the next task as soon as its session has sent the last row of the one before;
  // the files of up to storingPerWorker tasks may still be on their way to storage meanwhile.
  // With thousands of small tables, storing a file is most of a task's time.
  const workers = snapshot.workers.map(async (session) => {
    const storing = new Set<Promise<void>>();
    for (;;) {
      const task = await queue.next();
      if (!task || signal.aborted) break;
      while (storing.size >= storingPerWorker) await Promise.race(storing);
      if (signal.aborted) break;
      let sessionFree: () => void = () => undefined;
      const free = new Promise<void>((resolve) => {
        sessionFree = resolve;
      });
      const stored: Promise<void> = runTask(session, task, context, sessionFree)
        .then((result) => record(task, result), fail)
        .finally(() => storing.delete(stored));
      storing.add(stored);
      await Promise.race([free, stored]);
    }
    await Promise.all(storing);
  });
  await Promise.all([planning, ...workers]);
  if (firstError !== undefined) {
    if (outerSignal.aborted) throw abortError(outerSignal);
    throw firstError instanceof AppError ? firstError : new MysqlError('DUMP_FAILED', `the dump failed: ${errorMessage(firstError)}`, { cause: firstError });
  }
  for (const r of results.values()) {
    r.files.sort((a, b) => compareFileNames(a.name, b.name));
    const sum = new RowChecksum();
    for (const f of r.files) sum.merge(RowChecksum.fromDigest(f.checksum, f.rows));
    r.checksum = sum.digest();
  }
  return plans.map((p) => results.get(p)!);
}

/** Orders `t@2`, `t@10`, `t@@11` by chunk number rather than as text. */
function compareFileNames(a: string, b: string): number {
  const num = (n: string): number => Number(/@@?(\d+)\.[^@]*$/.exec(n)?.[1] ?? -1);
  return num(a) - num(b) || a.localeCompare(b);
}

/** Tasks per worker whose files may still be on their way to storage while it runs the next query. */
const storingPerWorker = 4;

/** What the data phase's workers share. */
interface DataContext {
  store: ObjectStore;
  /** Folder key of the dump, ending in `/`. */
  prefix: string;
  options: DumpOptions;
  /** Fires on interrupt or on the first failure. */
  signal: AbortSignal;
  /** Ends the whole dump at once (every worker, and the snapshot's sessions and locks). */
  stop: (err: unknown) => void;
  progress: DumpProgress;
  report: () => void;
}

interface TaskResult {
  files: DataFileResult[];
  /** Bytes of the `.idx` files written beside the data files. */
  indexBytes: number;
  /** The largest value per column of the plan, and the largest row (TsvEncoder). */
  largestValues: number[];
  largestRow: number;
}

/**
 * Dumps one task into one data file (a key range) or several (a table without a usable key,
 * split by size and always ending with an empty `@@N` file, as MySQL Shell does). The rows are
 * read, encoded, compressed and hashed in the session's dump thread; here its files are stored.
 */
async function runTask(session: ThreadSession, task: DumpTask, context: DataContext, sessionFree: () => void): Promise<TaskResult> {
  const { store, prefix, options, signal, progress, report } = context;
  const plan = task.plan;
  const extension = dataExtension[options.compression];
  const sql = task.kind === 'range' ? `${plan.selectFrom}${task.where ? ` WHERE ${task.where}` : ''}${plan.orderBy}` : plan.selectFrom;

  // Any failure of a file on its way to storage, or an interrupt, ends the task at once.
  let rejectFailure: (err: unknown) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    rejectFailure = reject;
  });
  failure.catch(() => undefined);
  const onAbort = (): void => rejectFailure(abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });

  // Whether the thread is paused because a file's storage is behind.
  let paused = false;
  // An encrypting store lets the thread seal the files: they are stored as they come, under it.
  const sealing = store.sealing;
  const fileStore = sealing?.inner ?? store;
  const writers = new Map<number, DataFileWriter>();
  const writerOf = (file: number, name: string): DataFileWriter => {
    let writer = writers.get(file);
    if (!writer) {
      writer = new DataFileWriter({ store: fileStore, key: prefix + name, name, signal, onDrain: resume, onError: rejectFailure });
      writers.set(file, writer);
    }
    return writer;
  };
  let indexBytes = 0;
  const finished: Array<Promise<DataFileResult>> = [];
  const running = session.runTask(
    {
      sql,
      kinds: plan.kinds,
      encoderBlock: plan.encoderBlock,
      compression: options.compression,
      kind: task.kind,
      bytesPerChunk: options.bytesPerChunk,
      naming: { basename: plan.basename, extension, rangeChunk: task.kind === 'range' ? task.chunk : 0, rangeLast: task.kind === 'range' && task.last },
      seal: sealing ? { key: sealing.key, segmentSize: sealing.segmentSize } : null,
      storeHashes: fileStore.hashesWrites === true,
    },
    {
      onOpen: (file, name) => writerOf(file, name).open(),
      onBlock: (file, data) => {
        if (!writers.get(file)?.push(data)) pause();
      },
      onFile: (file, name, end) => {
        const writer = writerOf(file, name);
        const done = writer.finish(end).then(async (result) => {
          writers.delete(file);
          if (end.idx) {
            const idx = Buffer.from(end.idx.buffer, end.idx.byteOffset, end.idx.byteLength);
            await store.put(`${prefix}${result.name}.idx`, idx, { signal, ...dumpFileWrite });
            indexBytes += idx.length;
          }
          progress.storedBytes += result.storedBytes + (end.idx?.length ?? 0);
          if (task.kind === 'stream') running.stored(file);
          return result;
        });
        done.catch(rejectFailure);
        finished.push(done);
      },
      onProgress: (rows, bytes) => {
        progress.rows += rows;
        progress.bytes += bytes;
        report();
      },
    },
  );
  function pause(): void {
    if (!paused) {
      paused = true;
      running.pause();
    }
  }
  function resume(): void {
    if (paused) {
      paused = false;
      running.resume();
    }
  }

  try {
    const { largestValues, largestRow } = await Promise.race([running.done, failure]);
    // The session has read every row: it may take the next task while these files are stored.
    sessionFree();
    const files = await Promise.race([Promise.all(finished), failure]);
    report();
    return { files, indexBytes, largestValues, largestRow };
  } catch (err) {
    // The source's locks and snapshots go before any cleanup of storage, which may be slow.
    context.stop(err);
    const reason = err instanceof Error ? err : new Error(String(err));
    await Promise.all([...writers.values()].map((w) => w.abort(reason)));
    await Promise.allSettled(finished);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
