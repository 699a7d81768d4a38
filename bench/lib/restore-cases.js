/**
 * The restores the benchmark times (same case shape as cases.js), under both binary-log settings:
 *   off on both sides (as myloader 0.10 does by default): bloodraven --skip-binlog at threads 1,
 *       2 and 4, myloader -t 2, and the mariadb client with SET sql_log_bin=0 first;
 *   on on both sides: bloodraven without --skip-binlog (threads 2), myloader -t 2 -e
 *       (--enable-binlog), and the mariadb client without the SET.
 * Each restore case:
 *   prepare   takes its tool's dump of the loaded sysbench schema once per pass, untimed (the
 *             cases of one tool share it: ctx.shared), before the first run drops anything;
 *   before    drops the schema and creates it empty (untimed, out of the binary log), purges the
 *             binary logs so the runs that write them do not fill the disk, and notes their size;
 *   command   loads the dump: the timed part;
 *   after     checks, untimed, that the schema holds the source's tables with the same exact row
 *             counts, CHECKSUM TABLE and indexes (ctx.expected, taken before the dumps), and
 *             measures what the run wrote to the binary log. Any difference fails the benchmark,
 *             and so does a run that wrote the binary log when it should not have, or did not
 *             when it should.
 *
 * `tool` names the backup tool (cases.js) a restore pairs with, for --tools; `at4x` marks the
 * cases that run at 4x the data too.
 */
import { join } from 'node:path';
import { bloodravenBackupSpec, mariadbDumpSpec, mydumperSpec, parseBackupRecord, shellQuote, writeBloodravenConfig } from './cases.js';
import { assertSameSchema, binlogBytes, purgeBinlogs, recreateEmpty, snapshotSchema, sql } from './db.js';
import { fileCount, sizeOf } from './files.js';
import { formatBytes } from './report.js';
import { RunFailed } from './proc.js';

/** Untimed, before each run: an empty schema, old binary logs purged, where the log stands. */
async function emptyTarget(ctx, run) {
  await recreateEmpty(ctx.socket, ctx.database, ctx.signal);
  await purgeBinlogs(ctx.socket, ctx.signal);
  run.binlogBefore = await binlogBytes(ctx.socket, ctx.signal);
}

/**
 * Untimed, after each run: the schema must match the source, and the binary log must have grown
 * by at least the rows' size when the case logs, and by less than a tenth of it when it does not.
 */
async function checkTarget(ctx, run, what, binlog) {
  const written = (await binlogBytes(ctx.socket, ctx.signal)) - run.binlogBefore;
  const actual = await snapshotSchema(ctx.socket, ctx.database, ctx.signal);
  assertSameSchema(what, ctx.expected, actual);
  const logging = (await sql(ctx.socket, 'SELECT @@log_bin', ctx.signal)) === '1';
  if (logging && ctx.rowBytes) {
    // ROW events hold every row once at least; a tool that skips the log writes only DDL.
    if (binlog === 'on' && written < ctx.rowBytes / 2) throw new RunFailed(`${what}: wrote ${formatBytes(written)} to the binary log, expected about the rows' ${formatBytes(ctx.rowBytes)}: it did not log the load`);
    if (binlog === 'off' && written > ctx.rowBytes / 10) throw new RunFailed(`${what}: wrote ${formatBytes(written)} to the binary log, which it should have skipped`);
  }
  return { rows: actual.rows, binlogBytes: written, inputBytes: ctx.state.inputBytes };
}

/**
 * Takes a tool's dump once per pass (the first case of that tool to prepare takes it; the others
 * reuse it) and copies what it produced into the case's state.
 * @returns {Promise<string | undefined>} the log line of the case that took it
 */
async function sharedDump(ctx, input, key, take) {
  let note;
  if (!ctx.shared.has(key)) {
    ctx.shared.set(key, await take(ctx, input));
    note = ctx.shared.get(key).note;
  }
  Object.assign(ctx.state, ctx.shared.get(key));
  return note ?? `reuses the ${key} dump above`;
}

async function takeBloodravenDump(ctx, input) {
  const storage = join(input.dir, 'storage');
  const config = await writeBloodravenConfig(join(input.dir, 'bloodraven.yaml'), ctx.socket, storage);
  const record = parseBackupRecord((await input.run(bloodravenBackupSpec(ctx, config))).stdout);
  const inputBytes = await sizeOf(storage);
  const files = await fileCount(storage);
  return { config, storage, backup: record.name, inputBytes, files, note: `bloodraven backup now: ${record.name}, ${formatBytes(inputBytes)} in ${files} files` };
}

async function takeMydumperDump(ctx, input) {
  const dir = join(input.dir, 'dump');
  await input.run(mydumperSpec(ctx, dir));
  const inputBytes = await sizeOf(dir);
  const files = await fileCount(dir);
  return { dir, inputBytes, files, note: `mydumper -t 2 -c: ${formatBytes(inputBytes)} in ${files} files` };
}

async function takeMariadbDump(ctx, input) {
  const file = join(input.dir, `${ctx.database}.sql.zst`);
  await input.run(mariadbDumpSpec(ctx, file));
  const inputBytes = await sizeOf(file);
  return { file, inputBytes, note: `mariadb-dump --single-transaction | zstd -3: ${formatBytes(inputBytes)}` };
}

/**
 * `bloodraven restore bootstrap --threads N`, with --skip-binlog when `binlog` is 'off'.
 * @param {{ id: string, threads: number, binlog: 'on' | 'off', at4x?: boolean }} o
 */
function bloodravenRestoreCase({ id, threads, binlog, at4x }) {
  const flags = ['--threads', String(threads), ...(binlog === 'off' ? ['--skip-binlog'] : []), '--reset-progress', '--json'];
  const label = `bloodraven restore bootstrap -t ${threads}${binlog === 'off' ? ' --skip-binlog' : ''}`;
  return {
    id,
    tool: 'bloodraven',
    label,
    detail: `${flags.filter((f) => f !== '--json').join(' ')}, from a bloodraven backup (2 threads, zstd, PVC)`,
    meta: { threads, binlog },
    at4x,
    measureRss: true,
    prepare: (ctx, input) => sharedDump(ctx, input, 'bloodraven', takeBloodravenDump),
    before: emptyTarget,
    command(ctx) {
      const args = [...ctx.cli, 'restore', 'bootstrap', '--config', ctx.state.config, '--backup', ctx.state.backup, ...flags];
      return { file: ctx.nodeBin, args, cwd: ctx.repoRoot, stdout: 'pipe', display: `bloodraven ${args.slice(ctx.cli.length).join(' ')}` };
    },
    async after(ctx, run, result) {
      let restored;
      try {
        restored = JSON.parse(result.stdout);
      } catch {
        throw new RunFailed(`bloodraven restore bootstrap printed no result on stdout:\n${result.stdout.slice(-2000)}`);
      }
      if (restored?.rows !== ctx.expected.rows) {
        throw new RunFailed(`bloodraven restore bootstrap reports ${String(restored?.rows)} rows loaded, expected ${ctx.expected.rows}:\n${result.stdout.slice(-3000)}`);
      }
      if (restored.resumedSteps !== 0) {
        throw new RunFailed(`bloodraven restore bootstrap --reset-progress still resumed ${String(restored.resumedSteps)} steps of an earlier run:\n${result.stdout.slice(-3000)}`);
      }
      return {
        ...(await checkTarget(ctx, run, label, binlog)),
        reported: { rows: restored.rows, bytes: restored.bytes, durationMs: restored.durationMs, warnings: restored.warnings },
      };
    },
  };
}

/**
 * `myloader -t 2`, with -e (--enable-binlog: myloader 0.10 logs nothing without it) when `binlog`
 * is 'on'.
 * @param {{ id: string, binlog: 'on' | 'off', at4x?: boolean }} o
 */
function myloaderCase({ id, binlog, at4x }) {
  const flags = ['-t', '2', ...(binlog === 'on' ? ['-e'] : [])];
  const label = `myloader ${flags.join(' ')}`;
  return {
    id,
    tool: 'mydumper',
    label,
    detail: `myloader 0.10, from a mydumper -t 2 -c dump (gzip); binary log ${binlog}${binlog === 'on' ? ' (-e)' : ' (its default)'}`,
    meta: { threads: 2, binlog },
    at4x,
    measureRss: true,
    prepare: (ctx, input) => sharedDump(ctx, input, 'mydumper', takeMydumperDump),
    before: emptyTarget,
    command(ctx) {
      const args = ['-S', ctx.socket, '-u', 'root', ...flags, '-d', ctx.state.dir];
      return { file: 'myloader', args, display: `myloader ${args.join(' ')}` };
    },
    after: (ctx, run) => checkTarget(ctx, run, label, binlog),
  };
}

/**
 * The mariadb client in one session, from `mariadb-dump | zstd -3`; the stream starts with
 * SET sql_log_bin=0 when `binlog` is 'off'.
 * @param {{ id: string, binlog: 'on' | 'off' }} o
 */
function mariadbCase({ id, binlog }) {
  const label = `mariadb < dump.sql${binlog === 'off' ? ', sql_log_bin=0' : ''}`;
  return {
    id,
    tool: 'mariadb-dump',
    label,
    detail: `${binlog === 'off' ? "(echo 'SET sql_log_bin=0;'; zstdcat dump.sql.zst)" : 'zstdcat dump.sql.zst'} | mariadb: one session, from mariadb-dump --single-transaction | zstd -3`,
    meta: { threads: 1, binlog },
    measureRss: true,
    prepare: (ctx, input) => sharedDump(ctx, input, 'mariadb-dump', takeMariadbDump),
    before: emptyTarget,
    command(ctx) {
      const stream = binlog === 'off' ? `(echo 'SET sql_log_bin=0;'; zstdcat -q ${shellQuote(ctx.state.file)})` : `zstdcat -q ${shellQuote(ctx.state.file)}`;
      const script = `${stream} | mariadb -S ${shellQuote(ctx.socket)} -uroot ${shellQuote(ctx.database)}`;
      return { file: 'bash', args: ['-o', 'pipefail', '-c', script], display: script };
    },
    after: (ctx, run) => checkTarget(ctx, run, label, binlog),
  };
}

/** @type {Record<string, object>} */
export const restoreCases = {
  // Binary log off on both sides.
  bloodravenT1: bloodravenRestoreCase({ id: 'bloodraven-restore-t1', threads: 1, binlog: 'off' }),
  // The id of threads 2 with the log off stays `bloodraven-restore`: the headline case.
  bloodraven: bloodravenRestoreCase({ id: 'bloodraven-restore', threads: 2, binlog: 'off', at4x: true }),
  bloodravenT4: bloodravenRestoreCase({ id: 'bloodraven-restore-t4', threads: 4, binlog: 'off' }),
  myloader: myloaderCase({ id: 'myloader', binlog: 'off', at4x: true }),
  mariadb: mariadbCase({ id: 'mariadb', binlog: 'off' }),
  // Binary log on on both sides.
  bloodravenBinlog: bloodravenRestoreCase({ id: 'bloodraven-restore-binlog', threads: 2, binlog: 'on' }),
  myloaderBinlog: myloaderCase({ id: 'myloader-binlog', binlog: 'on' }),
  mariadbBinlog: mariadbCase({ id: 'mariadb-binlog', binlog: 'on' }),
};

