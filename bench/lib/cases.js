/**
 * The things the benchmark times. A case describes one tool run; the harness (measure.js) gives
 * every run a fresh output folder, times `command` wall-clock (and its peak RSS), then calls
 * `after` untimed to check the result, and deletes the folder.
 *
 * Hooks, all optional except `command`:
 *   prepare(ctx)                once per pass, untimed, before the first run (e.g. take the
 *                               backup a restore case restores)
 *   before(ctx, run)            untimed, before each run (e.g. drop the database to restore into)
 *   command(ctx, run)           the timed command: a CommandSpec (see proc.js)
 *   after(ctx, run, result)     untimed; throws if the run did not do its job; returns
 *                               { outputBytes?, files?, note? } for the report
 *   cleanup(ctx)                once per pass, after the last run, also on failure
 *
 * ctx: { repoRoot, socket, database, signal, nodeBin, state }   (state: a per-case object)
 * run: { index, dir, out, scratch }   dir holds out (the tool's output) and scratch (harness files)
 *
 * Restore timings (bloodraven restore bootstrap, myloader -t 2, mariadb < dump.sql) fit the same
 * shape: prepare takes the dump once, before drops the database, command loads it, after checks
 * the row counts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileCount, sizeOf } from './files.js';
import { RunFailed } from './proc.js';

const shellQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/** @type {Record<string, object>} */
export const cases = {
  bloodraven: {
    id: 'bloodraven',
    label: 'bloodraven backup now',
    detail: '2 threads, zstd, PVC',
    measureRss: true,
    async command(ctx, run) {
      const config = join(run.scratch, 'bloodraven.yaml');
      await writeFile(
        config,
        [
          'name: bench',
          `mysql: { socket: ${JSON.stringify(ctx.socket)}, user: root }`,
          'backup:',
          '  profiles:',
          '    - name: bench',
          `      storage: { type: PVC, pvc: { path: ${JSON.stringify(run.out)} } }`,
          '      dump: { threads: 2, compression: zstd }',
          '',
        ].join('\n'),
      );
      const args = [join(ctx.repoRoot, 'bin', 'run.js'), 'backup', 'now', '--config', config, '--json'];
      return { file: ctx.nodeBin, args, cwd: ctx.repoRoot, stdout: 'pipe', display: `bloodraven ${args.slice(1).join(' ')}` };
    },
    async after(_ctx, run, result) {
      let record;
      try {
        record = JSON.parse(result.stdout);
      } catch {
        throw new RunFailed(`bloodraven backup now printed no backup record on stdout:\n${result.stdout.slice(-2000)}`);
      }
      if (record?.phase !== 'Succeeded') {
        throw new RunFailed(`bloodraven backup now did not succeed (phase ${String(record?.phase)}):\n${result.stdout.slice(-3000)}`);
      }
      return {
        outputBytes: await sizeOf(run.out),
        files: await fileCount(run.out),
        record: { name: record.name, dataBytes: record.dataBytes, sizeBytes: record.sizeBytes, tables: record.tables?.length },
      };
    },
  },

  mariadbDump: {
    id: 'mariadb-dump',
    label: 'mariadb-dump | zstd -3',
    detail: '--single-transaction, one session, zstd -3 single-threaded',
    measureRss: true,
    async command(ctx, run) {
      await mkdir(run.out, { recursive: true });
      const file = join(run.out, `${ctx.database}.sql.zst`);
      const script = `mariadb-dump --single-transaction -S ${shellQuote(ctx.socket)} -uroot ${shellQuote(ctx.database)} | zstd -3 -q -o ${shellQuote(file)}`;
      return { file: 'bash', args: ['-o', 'pipefail', '-c', script], display: script };
    },
    async after(_ctx, run) {
      const bytes = await sizeOf(run.out);
      if (bytes === 0) throw new RunFailed('mariadb-dump | zstd wrote nothing');
      return { outputBytes: bytes, files: await fileCount(run.out) };
    },
  },

  mydumper: {
    id: 'mydumper',
    label: 'mydumper -t 2 -c',
    detail: 'mydumper 0.10: -c compresses with gzip',
    measureRss: true,
    command(ctx, run) {
      const args = ['-S', ctx.socket, '-u', 'root', '-t', '2', '-c', '-B', ctx.database, '-o', run.out];
      return { file: 'mydumper', args, display: `mydumper ${args.join(' ')}` };
    },
    async after(_ctx, run) {
      const files = await fileCount(run.out);
      if (files === 0) throw new RunFailed('mydumper wrote nothing');
      return { outputBytes: await sizeOf(run.out), files };
    },
  },
};
