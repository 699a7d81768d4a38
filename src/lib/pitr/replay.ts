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
import type { Logger } from '../log.js';
import { AppError, ExitCode, throwIfAborted } from '../errors.js';
import { withClientOptions } from '../mysql/client-tools.js';
import type { MysqlConnector } from '../mysql/connection.js';
import type { Flavor } from '../mysql/flavor.js';
import type { ProcessRunner } from '../process.js';
import { parseBinlog, type BinlogTransaction } from './binlog-parser.js';
import { addToSet, describeHole, gapsBeyond, parseGtid, setHas, setRanges, subtractSets, unionSets, type GtidSet, type ParsedGtid } from './gtid-space.js';
import type { ArchivedBinlog } from './manifest.js';

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
}

interface Run {
  path: string;
  from: number;
  to: number;
}

/** Picks the transactions to apply and merges neighbours into byte runs per file. */
async function selectRuns(files: readonly ReplayFile[], options: ReplayOptions, signal?: AbortSignal): Promise<{ runs: Run[]; result: ReplayResult; held: GtidSet }> {
  const applied = unionSets(options.start);
  const result: ReplayResult = { applied: 0, alreadyApplied: 0, excluded: [], lastAppliedGtid: null, lastAppliedTime: null, stoppedBy: 'end' };
  const runs: Run[] = [];
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
      const last = runs[runs.length - 1];
      if (last && last.path === file.path && last.to === t.startPosition) last.to = t.endPosition;
      else runs.push({ path: file.path, from: t.startPosition, to: t.endPosition });
      result.applied++;
      result.lastAppliedGtid = t.gtid;
      result.lastAppliedTime = t.timestamp.toISOString();
    }
  }
  return { runs, result, held: applied };
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

export async function replayBinlogs(
  deps: { runner: ProcessRunner; connector: MysqlConnector; logger: Logger; flavor: Flavor },
  files: readonly ReplayFile[],
  options: ReplayOptions,
  signal?: AbortSignal,
): Promise<ReplayResult> {
  const { runs, result, held } = await selectRuns(files, options, signal);
  checkSelection(files, options, held);
  for (const g of options.exclude) {
    const found = result.excluded.some((x) => {
      const p = parseGtid(x);
      return p.space === g.space && p.seq === g.seq;
    });
    if (!found) deps.logger.warn('an excluded GTID is not among the transactions the replay went through', { space: g.space, seq: g.seq });
  }
  if (runs.length === 0) return result;
  await withClientOptions(deps.connector.options, async (connectArgs) => {
    const client = deps.runner.pipe(deps.flavor.clientTool, [...connectArgs, '--binary-mode'], signal ? { signal } : {});
    try {
      if (options.skipBinlog) client.stdin.write('SET SESSION sql_log_bin = 0;\n');
      for (const run of runs) {
        throwIfAborted(signal);
        // --no-defaults: the tool only reads a local file; nothing in a my.cnf should change how.
        const tool = deps.runner.pipe(deps.flavor.binlogTool, ['--no-defaults', `--start-position=${run.from}`, `--stop-position=${run.to}`, run.path], signal ? { signal } : {});
        tool.stdin.end();
        for await (const chunk of tool.stdout) {
          if (!client.stdin.write(chunk)) await new Promise<void>((resolve) => client.stdin.once('drain', () => resolve()));
        }
        await tool.done;
      }
      client.stdin.end();
      await client.done;
    } catch (err) {
      client.kill();
      await client.done.catch(() => undefined);
      throw err instanceof AppError ? err : new AppError('PITR_REPLAY_FAILED', `replaying the binlogs failed: ${(err as Error).message}`, ExitCode.failure, { cause: err });
    }
  });
  return result;
}
