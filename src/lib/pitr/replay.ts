/**
 * Replays archived binlogs into a server, up to a point in time, through the flavor's binlog tool
 * and client. bloodraven decides which transactions go, from its own reading of each file
 * (binlog-parser.ts), and hands the tool only their byte ranges:
 *
 * - a transaction the dump (or an earlier file) already holds is not applied again: files from
 *   two sites overlap after a failover, and the dump's GTID position cuts into the first file;
 * - an excluded GTID is left out;
 * - replay stops at the first transaction stamped after the target time.
 *
 * Before anything is applied, the selection is checked against what the plan requires: a replay
 * that would leave out a transaction the archive holds before the target, or apply one past a
 * hole, fails instead of reporting success.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.js';
import { abortError, AppError, errorMessage, ExitCode, ExternalCommandError, PreconditionError, throwIfAborted } from '../errors.js';
import { nextPacketSize } from '../restore/target-checks.js';
import { withClientOptions, type ClientConnection } from '../mysql/client-tools.js';
import type { MysqlConnector } from '../mysql/connection.js';
import type { Flavor } from '../mysql/flavor.js';
import type { PipedProcess, ProcessRunner } from '../process.js';
import { parseBinlog, type BinlogTransaction } from './binlog-parser.js';
import { addToSet, describeHole, gapsBeyond, parseGtid, setHas, setRanges, subtractSets, unionSets, type GtidSet, type ParsedGtid } from './gtid-space.js';
import type { ArchivedBinlog } from './manifest.js';
import { ReplayLines } from './replay-lines.js';
import { withoutRowData } from '../mysql/row-data.js';

export interface ReplayFile {
  /** A local copy of the archived file. */
  path: string;
  entry: ArchivedBinlog;
}

export interface ReplayOptions {
  /** What the target already holds (the dump's executed set). */
  start: GtidSet;
  stopAt: Date;
  exclude: ParsedGtid[];
  /** Keep the replay out of the target's own binary log. */
  skipBinlog: boolean;
  /** Transactions the server must hold after the replay (the plan's `required`). */
  required: GtidSet;
}

export interface ReplayResult {
  applied: number;
  /** Transactions skipped because the target already held them. */
  alreadyApplied: number;
  excluded: string[];
  lastAppliedGtid: string | null;
  lastAppliedTime: string | null;
  /** Whether replay ended at the target time (a later transaction exists) or ran out of archive. */
  stoppedBy: 'target' | 'end';
  /** Transactions an earlier, stopped run of this replay had committed (left out of `applied`). */
  resumed?: number;
  /** Where the last applied transaction ends in the archive: its site, file and end position (bytes). */
  lastAppliedAt?: { site: string; file: string; position: number };
}

/** A transaction the replay gives the client, in the order it does. */
export interface PlannedTransaction {
  gtid: string | null;
  /** `<site>/<file>`. */
  file: string;
  position: number;
}

/** The longest statement the binlog tool will print for the selected transactions (binlog-parser.ts largestStatementBytes). */
export interface LargestStatement extends PlannedTransaction {
  bytes: number;
}

/** What a replay will apply: checked against the plan, not applied yet. */
export interface ReplaySelection {
  runs: Run[];
  result: ReplayResult;
  planned: PlannedTransaction[];
  largest: LargestStatement | null;
}

interface Run {
  path: string;
  /** `<site>/<file>`, for messages. */
  name: string;
  from: number;
  to: number;
  firstGtid: string | null;
  lastGtid: string | null;
  /** Where each of its transactions starts (offset → GTID), to name the one a failure is in. */
  starts: Map<number, string | null>;
}

/** Picks the transactions to apply and merges neighbours into byte runs per file. */
async function selectRuns(files: readonly ReplayFile[], options: ReplayOptions, signal?: AbortSignal): Promise<ReplaySelection & { held: GtidSet }> {
  const applied = unionSets(options.start);
  const result: ReplayResult = { applied: 0, alreadyApplied: 0, excluded: [], lastAppliedGtid: null, lastAppliedTime: null, stoppedBy: 'end' };
  const runs: Run[] = [];
  const planned: PlannedTransaction[] = [];
  let largest: LargestStatement | null = null;
  const excluded = (g: ParsedGtid): boolean => options.exclude.some((x) => x.space === g.space && x.seq === g.seq);
  for (const file of files) {
    if (result.stoppedBy === 'target') break;
    const transactions: BinlogTransaction[] = [];
    await parseBinlog(createReadStream(file.path), { onTransaction: (t) => transactions.push(t), ...(signal ? { signal } : {}) });
    for (const t of transactions) {
      if (t.timestamp.getTime() > options.stopAt.getTime()) {
        result.stoppedBy = 'target';
        break;
      }
      const g = t.gtid ? parseGtid(t.gtid) : null;
      if (g && setHas(applied, g)) {
        result.alreadyApplied++;
        continue;
      }
      if (g && excluded(g)) {
        result.excluded.push(t.gtid!);
        addToSet(applied, g.space, [g.seq, g.seq]);
        continue;
      }
      if (g) addToSet(applied, g.space, [g.seq, g.seq]);
      const name = `${file.entry.site}/${file.entry.file}`;
      planned.push({ gtid: t.gtid, file: name, position: t.startPosition });
      if (t.largestStatementBytes > (largest?.bytes ?? 0)) largest = { gtid: t.gtid, file: name, position: t.startPosition, bytes: t.largestStatementBytes };
      const last = runs[runs.length - 1];
      if (last && last.path === file.path && last.to === t.startPosition) {
        last.to = t.endPosition;
        last.lastGtid = t.gtid ?? last.lastGtid;
        last.starts.set(t.startPosition, t.gtid);
      } else {
        runs.push({ path: file.path, name, from: t.startPosition, to: t.endPosition, firstGtid: t.gtid, lastGtid: t.gtid, starts: new Map([[t.startPosition, t.gtid]]) });
      }
      result.applied++;
      result.lastAppliedGtid = t.gtid;
      result.lastAppliedTime = t.timestamp.toISOString();
      result.lastAppliedAt = { site: file.entry.site, file: file.entry.file, position: t.endPosition };
    }
  }
  return { runs, result, held: applied, planned, largest };
}

/**
 * Refuses a selection that would leave the server short of the required transactions (files read
 * out of order, a file that does not hold what its manifest says) or holding one past a hole.
 * `held` is what the server would hold after the replay: the start set, the applied and the
 * excluded transactions.
 */
function checkSelection(files: readonly ReplayFile[], options: ReplayOptions, held: GtidSet): void {
  const flavor = files[0]?.entry.flavor ?? 'mariadb';
  const target = options.stopAt.toISOString();
  const short = setRanges(subtractSets(options.required, held));
  if (short.length > 0) {
    throw new AppError(
      'PITR_REPLAY_INCOMPLETE',
      `the replay to ${target} would leave out transactions the archive holds before it (${short.map((r) => describeHole(flavor, r)).join('; ')}); no binlog was applied`,
      ExitCode.failure,
      { hint: 'check the archive (bloodraven pitr window) and the files of every site; restore again once it is whole' },
    );
  }
  const holes = gapsBeyond(options.start, held);
  if (holes.length > 0) {
    throw new AppError(
      'PITR_REPLAY_INCOMPLETE',
      `the replay to ${target} would apply transactions past ones the archive lacks (${holes.map((r) => describeHole(flavor, r)).join('; ')}); no binlog was applied`,
      ExitCode.failure,
      { hint: 'pick a target before the missing transactions (bloodraven pitr window)' },
    );
  }
}

/**
 * Reads the files and works out what the replay will apply, refusing (before anything is
 * applied) a selection that falls short of the plan's required transactions or runs past a hole.
 */
export async function selectReplay(deps: { logger: Logger }, files: readonly ReplayFile[], options: ReplayOptions, signal?: AbortSignal): Promise<ReplaySelection> {
  const { held, ...selection } = await selectRuns(files, options, signal);
  checkSelection(files, options, held);
  for (const g of options.exclude) {
    const found = selection.result.excluded.some((x) => {
      const p = parseGtid(x);
      return p.space === g.space && p.seq === g.seq;
    });
    if (!found) deps.logger.warn('an excluded GTID is not among the transactions the replay went through', { space: g.space, seq: g.seq });
  }
  return selection;
}

/**
 * Refuses (exit 3, nothing applied) a replay with a statement the target cannot take: the client
 * sends each printed statement as one packet, and a server whose max_allowed_packet is smaller
 * drops the connection there ("server has gone away"), after everything before it was applied.
 * The client's session takes the global value when it connects, after this check.
 */
export function checkStatementFits(selection: ReplaySelection, flavor: Flavor, maxAllowedPacket: number): void {
  const largest = selection.largest;
  // The client adds a command byte to the statement; a little room for it.
  if (!largest || largest.bytes + 1024 <= maxAllowedPacket) return;
  const raise = nextPacketSize(largest.bytes + 1024);
  const gtid = largest.gtid ? ` (GTID ${largest.gtid})` : '';
  throw new PreconditionError(
    'PITR_PACKET_TOO_SMALL',
    `the binlog ${largest.file} holds at position ${largest.position}${gtid} a transaction with a statement that ${flavor.binlogTool} prints as ${largest.bytes} bytes (${formatMiB(largest.bytes)}), more than the target's max_allowed_packet of ${maxAllowedPacket} bytes (${formatMiB(maxAllowedPacket)}): the replay would fail there with "server has gone away"; nothing was changed`,
    { hint: `raise max_allowed_packet on the target to at least ${raise} (SET GLOBAL max_allowed_packet = ${raise}, and in its config so that a restart keeps it), then run the restore again` },
  );
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Applies a selection made by selectReplay to the server. */
export async function applyReplay(
  deps: { runner: ProcessRunner; connector: MysqlConnector; flavor: Flavor },
  selection: ReplaySelection,
  options: { skipBinlog: boolean },
  signal?: AbortSignal,
): Promise<ReplayResult> {
  if (selection.runs.length === 0) return selection.result;
  await withClientOptions(deps.connector.options, (connection) => streamRuns(deps, selection.runs, connection, options.skipBinlog, signal));
  return selection.result;
}

export async function replayBinlogs(
  deps: { runner: ProcessRunner; connector: MysqlConnector; logger: Logger; flavor: Flavor },
  files: readonly ReplayFile[],
  options: ReplayOptions,
  signal?: AbortSignal,
): Promise<ReplayResult> {
  const selection = await selectReplay(deps, files, options, signal);
  return applyReplay(deps, selection, options, signal);
}

/**
 * Feeds each run, through the binlog tool, into one client session. Whichever end stops first
 * (the client on an SQL error or a lost server, the tool on a bad file, an abort) ends the other
 * at once: the client's pipe is closed when it exits, so the copy fails instead of waiting on a
 * full pipe, and the tool is stopped instead of being left blocked on its own.
 */
const connectTimeoutSeconds = 30;

/** How long a client whose pipe broke gets to exit on its own. */
const clientExitGraceMs = 2000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

async function streamRuns(
  deps: { runner: ProcessRunner; flavor: Flavor },
  runs: readonly Run[],
  connection: ClientConnection,
  skipBinlog: boolean,
  signal?: AbortSignal,
): Promise<void> {
  const withSignal = signal ? { signal } : {};
  // A target that accepts the connection but never answers must not hold the replay at its start.
  const client = deps.runner.pipe(deps.flavor.clientTool, [...connection.args, `--connect-timeout=${connectTimeoutSeconds}`, '--binary-mode'], { ...withSignal, inheritFds: connection.inheritFds });
  // Its output is not used; left unread, it could fill the pipe and stall the client.
  client.stdout.resume();
  let tool: PipedProcess | undefined;
  let lastGiven: Run | undefined;
  // The client's errors name a line of its input: this maps it back to a binlog transaction.
  const lines = new ReplayLines(skipBinlog ? 1 : 0);
  try {
    if (skipBinlog) client.stdin.write('SET SESSION sql_log_bin = 0;\n');
    // One pipeline from every range's output in turn into the client (one per range, with
    // `end: false`, left listeners on the client's stdin: a resumed replay of many ranges warned
    // of a listener leak).
    const output = async function* (): AsyncGenerator<Buffer> {
      for (const run of runs) {
        throwIfAborted(signal);
        lastGiven = run;
        // --no-defaults: the tool only reads a local file; nothing in a my.cnf should change how.
        tool = deps.runner.pipe(deps.flavor.binlogTool, ['--no-defaults', `--start-position=${run.from}`, `--stop-position=${run.to}`, run.path], withSignal);
        tool.stdin.end();
        for await (const chunk of tool.stdout) {
          lines.feed(chunk as Buffer, run.name, run.starts);
          yield chunk as Buffer;
        }
        await tool.done;
        tool = undefined;
      }
    };
    await pipeline(output, client.stdin, withSignal);
    await client.done;
  } catch (err) {
    // A broken pipe may be seen before the client's exit is: give it a moment to end on its own,
    // so its own error (an SQL error, a lost connection) is reported, not the pipe's.
    if (!signal?.aborted && !client.exited) await Promise.race([client.done.catch(() => undefined), delay(clientExitGraceMs)]);
    const clientGaveUp = client.exited;
    await Promise.all([tool?.stop(), client.stop()]);
    if (signal?.aborted) throw abortError(signal);
    const clientFailure = clientGaveUp
      ? await client.done.then(
          () => undefined,
          (e: unknown) => e,
        )
      : undefined;
    throw replayFailure(deps.flavor, lastGiven, clientFailure ?? err, lines);
  }
}

/** Both restores replay; this hint fits either (a bootstrap's target must be emptied first). A restore that can resume the replay says so instead. */
export const replayFailureHint =
  'fix what the error names (is the target server up? does it hold objects the binlogs create?); the target now holds the backup and part of the binlogs, so run the restore again from the start: in place, or into an emptied target';

/**
 * The error of a replay that stopped: the binlog file, offset and GTID of the transaction the
 * client failed in (from the line its error names), and the last range it was given. Never the
 * statement, nor a value the server's message quotes: those are row data (row-data.ts).
 */
function replayFailure(flavor: Flavor, run: Run | undefined, err: unknown, lines: ReplayLines): AppError {
  const gtids = run?.firstGtid ? `, GTIDs ${run.firstGtid} to ${run.lastGtid ?? run.firstGtid}` : '';
  const range = run ? `the last range given to ${flavor.clientTool}: binlog ${run.name} from position ${run.from} to ${run.to}${gtids}` : '';
  const line = err instanceof ExternalCommandError ? /^ERROR \d+ \([0-9A-Z]+\) at line (\d+)/m.exec(err.stderrTail)?.[1] : undefined;
  const failed = line === undefined ? null : lines.transactionAt(Number(line));
  const at = failed ? `in the transaction at binlog ${failed.file} position ${failed.position}${failed.gtid ? ` (GTID ${failed.gtid})` : ''}` : '';
  const where = [at, range].filter(Boolean).join('; ');
  return new AppError('PITR_REPLAY_FAILED', `replaying the binlogs into the target failed${where ? ` (${where})` : ''}: ${clientMessage(err)}`, ExitCode.failure, {
    // The cause's message holds the tool's own output: kept out of the chain, so that nothing
    // that prints or stores a cause can show it.
    hint: replayFailureHint,
  });
}

/** The lines of a tool's stderr worth showing: at most this many, each at most this long. */
const shownLines = 3;
const shownLineChars = 300;

/**
 * What a tool said when it failed: the client's error lines (`ERROR 1050 (42S01) at line 110: …`)
 * without the statement it may echo before them, which for a row event is a screenful of base64;
 * or the first lines of another tool's stderr. Values the messages quote are withheld.
 */
function clientMessage(err: unknown): string {
  if (!(err instanceof ExternalCommandError)) return withoutRowData(errorMessage(err));
  const all = err.stderrTail.split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = all.filter((l) => /^ERROR\b/.test(l));
  const shown = (errors.length > 0 ? errors : all).slice(0, shownLines).map((l) => withoutRowData(l).slice(0, shownLineChars));
  return `${err.command} exited with ${err.commandExitCode ?? 'a signal'}${shown.length > 0 ? `: ${shown.join('; ')}` : ''}`;
}
