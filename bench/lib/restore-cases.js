/**
 * The restores the benchmark times (same case shape as cases.js). Each restore case:
 *   prepare   takes its dump of the loaded sysbench schema once per pass, untimed, into a folder
 *             of its own (all three dumps are taken before the first run drops anything);
 *   before    drops the schema and creates it empty (untimed, out of the binary log), and notes
 *             the binary log's size;
 *   command   loads the dump: the timed part;
 *   after     checks, untimed, that the schema holds the source's tables with the same exact row
 *             counts, CHECKSUM TABLE and indexes (ctx.expected, taken before the dumps), and
 *             measures what the run wrote to the binary log. Any difference fails the benchmark.
 *
 * Binary logging: the sandbox logs (log-bin, ROW). myloader 0.10 does not write the binary log
 * unless -e, so bloodraven runs with --skip-binlog and the mariadb client's stream starts with
 * SET sql_log_bin=0; the binary-log growth of each run is reported to show it.
 *
 * `tool` names the backup case (cases.js) a restore pairs with, for --tools.
 */
import { join } from 'node:path';
import { bloodravenBackupSpec, mariadbDumpSpec, mydumperSpec, parseBackupRecord, shellQuote, writeBloodravenConfig } from './cases.js';
import { assertSameSchema, binlogBytes, recreateEmpty, snapshotSchema } from './db.js';
import { fileCount, sizeOf } from './files.js';
import { formatBytes } from './report.js';
import { RunFailed } from './proc.js';

/** Untimed, before each run: an empty schema, and where the binary log stands. */
async function emptyTarget(ctx, run) {
  await recreateEmpty(ctx.socket, ctx.database, ctx.signal);
  run.binlogBefore = await binlogBytes(ctx.socket, ctx.signal);
}

/** Untimed, after each run: the schema must match the source; what went to the binary log. */
async function checkTarget(ctx, run, what) {
  const binlog = (await binlogBytes(ctx.socket, ctx.signal)) - run.binlogBefore;
  const actual = await snapshotSchema(ctx.socket, ctx.database, ctx.signal);
  assertSameSchema(what, ctx.expected, actual);
  return { rows: actual.rows, binlogBytes: binlog, inputBytes: ctx.state.inputBytes };
}

/** @type {Record<string, object>} */
export const restoreCases = {
  bloodraven: {
    id: 'bloodraven-restore',
    tool: 'bloodraven',
    label: 'bloodraven restore bootstrap',
    detail: '--threads 2 --skip-binlog --reset-progress, from a bloodraven backup (2 threads, zstd, PVC)',
    measureRss: true,
    async prepare(ctx, input) {
      const storage = join(input.dir, 'storage');
      const config = await writeBloodravenConfig(join(input.dir, 'bloodraven.yaml'), ctx.socket, storage);
      const record = parseBackupRecord((await input.run(bloodravenBackupSpec(ctx, config))).stdout);
      Object.assign(ctx.state, { config, storage, backup: record.name, inputBytes: await sizeOf(storage), files: await fileCount(storage) });
      return `bloodraven backup now: ${record.name}, ${formatBytes(ctx.state.inputBytes)} in ${ctx.state.files} files`;
    },
    before: emptyTarget,
    command(ctx) {
      const args = [
        ...ctx.cli,
        'restore',
        'bootstrap',
        '--config',
        ctx.state.config,
        '--backup',
        ctx.state.backup,
        '--threads',
        '2',
        '--skip-binlog',
        '--reset-progress',
        '--json',
      ];
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
        ...(await checkTarget(ctx, run, 'bloodraven restore bootstrap')),
        reported: { rows: restored.rows, bytes: restored.bytes, durationMs: restored.durationMs, warnings: restored.warnings },
      };
    },
  },

  myloader: {
    id: 'myloader',
    tool: 'mydumper',
    label: 'myloader -t 2',
    detail: 'myloader 0.10, from a mydumper -t 2 -c dump (gzip); no binary log (no -e)',
    measureRss: true,
    async prepare(ctx, input) {
      const dir = join(input.dir, 'dump');
      await input.run(mydumperSpec(ctx, dir));
      Object.assign(ctx.state, { dir, inputBytes: await sizeOf(dir), files: await fileCount(dir) });
      return `mydumper -t 2 -c: ${formatBytes(ctx.state.inputBytes)} in ${ctx.state.files} files`;
    },
    before: emptyTarget,
    command(ctx) {
      const args = ['-S', ctx.socket, '-u', 'root', '-t', '2', '-d', ctx.state.dir];
      return { file: 'myloader', args, display: `myloader ${args.join(' ')}` };
    },
    after: (ctx, run) => checkTarget(ctx, run, 'myloader -t 2'),
  },

  mariadb: {
    id: 'mariadb',
    tool: 'mariadb-dump',
    label: 'mariadb < dump.sql',
    detail: "(echo 'SET sql_log_bin=0;'; zstdcat dump.sql.zst) | mariadb: one session, from mariadb-dump --single-transaction | zstd -3",
    measureRss: true,
    async prepare(ctx, input) {
      const file = join(input.dir, `${ctx.database}.sql.zst`);
      await input.run(mariadbDumpSpec(ctx, file));
      Object.assign(ctx.state, { file, inputBytes: await sizeOf(file) });
      return `mariadb-dump --single-transaction | zstd -3: ${formatBytes(ctx.state.inputBytes)}`;
    },
    before: emptyTarget,
    command(ctx) {
      const script = `(echo 'SET sql_log_bin=0;'; zstdcat -q ${shellQuote(ctx.state.file)}) | mariadb -S ${shellQuote(ctx.socket)} -uroot ${shellQuote(ctx.database)}`;
      return { file: 'bash', args: ['-o', 'pipefail', '-c', script], display: script };
    },
    after: (ctx, run) => checkTarget(ctx, run, 'mariadb < dump.sql'),
  },
};
