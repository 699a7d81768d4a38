/**
 * The backup tools the benchmark times (the restores are in restore-cases.js): bloodraven at
 * threads 1, 2 and 4 (zstd), at threads 2 without compression and encrypted; mariadb-dump to
 * /dev/null (the floor: the cheapest any dump can be), mariadb-dump | zstd -3, mydumper -t 2 -c.
 * Cases marked `at4x` run at 4x the data too. A case describes
 * one tool run; the harness (measure.js) gives every run a fresh output folder, times `command`
 * wall-clock (and its peak RSS), then calls `after` untimed to check the result, and deletes the
 * folder.
 *
 * Hooks, all optional except `command`:
 *   prepare(ctx, input)         once per pass, untimed, before the first run of any case (e.g.
 *                               take the dump a restore case restores); may return a line for
 *                               the log. input: { dir, run(spec) }: a folder of its own, kept
 *                               until cleanup, and runs a CommandSpec untimed (throws on failure)
 *   before(ctx, run)            untimed, before each run (e.g. drop the database to restore into)
 *   command(ctx, run)           the timed command: a CommandSpec (see proc.js)
 *   after(ctx, run, result)     untimed; throws if the run did not do its job; returns
 *                               { outputBytes?, files?, ... } for the report
 *   cleanup(ctx)                once per pass, after the last run, also on failure
 *
 * Other fields: tool (what --tools calls it; default: id), at4x (runs at 4x too), meta (copied into
 * the results: { threads?, compression?, binlog? } for the report).
 *
 * ctx: { repoRoot, socket, database, signal, nodeBin, state, shared, serverCpuSeconds, expected? }
 *      (state: a per-case object; shared: one Map for the whole pass; expected: what a restore
 *      must reproduce, in restore passes)
 * run: { index, dir, out, scratch }   dir holds out (the tool's output) and scratch (harness files)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileCount, sizeOf } from './files.js';
import { RunFailed } from './proc.js';

export const shellQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Writes the bloodraven config every bloodraven case uses (backup and restore): the sandbox as
 * root over its socket, one profile with 2 threads, zstd, PVC storage at `storagePath`.
 * @returns {Promise<string>} the config's path
 */
export async function writeBloodravenConfig(path, socket, storagePath, passphraseFile) {
  await writeFile(
    path,
    [
      'name: bench',
      `mysql: { socket: ${JSON.stringify(socket)}, user: root }`,
      'backup:',
      '  profiles:',
      '    - name: bench',
      `      storage: { type: PVC, pvc: { path: ${JSON.stringify(storagePath)} } }`,
      '      dump: { threads: 2, compression: zstd }',
      ...(passphraseFile ? [`      encryption: { passphraseFile: ${JSON.stringify(passphraseFile)} }`] : []),
      '',
    ].join('\n'),
  );
  return path;
}

/**
 * The record `bloodraven backup now --json` prints; throws unless it says the backup succeeded.
 * @param {string} stdout
 */
export function parseBackupRecord(stdout) {
  let record;
  try {
    record = JSON.parse(stdout);
  } catch {
    throw new RunFailed(`bloodraven backup now printed no backup record on stdout:\n${stdout.slice(-2000)}`);
  }
  if (record?.phase !== 'Succeeded') {
    throw new RunFailed(`bloodraven backup now did not succeed (phase ${String(record?.phase)}):\n${stdout.slice(-3000)}`);
  }
  return record;
}

/**
 * The command of a bloodraven backup with the config at `config`.
 * @param {object} ctx
 * @param {string} config
 * @param {string[]} [flags]  more flags for `backup now` (--threads N, --compression none)
 */
export function bloodravenBackupSpec(ctx, config, flags = []) {
  const args = [...ctx.cli, 'backup', 'now', '--config', config, ...flags, '--json'];
  return { file: ctx.nodeBin, args, cwd: ctx.repoRoot, stdout: 'pipe', display: `bloodraven ${args.slice(ctx.cli.length).join(' ')}` };
}

/** `mariadb-dump --single-transaction | zstd -3` of the sysbench schema into `file`. */
export function mariadbDumpSpec(ctx, file) {
  const script = `mariadb-dump --single-transaction -S ${shellQuote(ctx.socket)} -uroot ${shellQuote(ctx.database)} | zstd -3 -q -o ${shellQuote(file)}`;
  return { file: 'bash', args: ['-o', 'pipefail', '-c', script], display: script };
}

/** `mariadb-dump --single-transaction > /dev/null`: the floor, what reading the rows out costs. */
export function mariadbDumpNullSpec(ctx) {
  const args = ['--single-transaction', '-S', ctx.socket, '-uroot', ctx.database, '-r', '/dev/null'];
  return { file: 'mariadb-dump', args, display: `mariadb-dump ${args.join(' ')}` };
}

/** `mydumper -t 2 -c` of the sysbench schema into the folder `dir`. */
export function mydumperSpec(ctx, dir) {
  const args = ['-S', ctx.socket, '-u', 'root', '-t', '2', '-c', '-B', ctx.database, '-o', dir];
  return { file: 'mydumper', args, display: `mydumper ${args.join(' ')}` };
}

/**
 * A bloodraven backup case: `backup now --threads N`, zstd unless `compression` says otherwise.
 * @param {{ id: string, threads: number, compression?: 'none', at4x?: boolean }} o
 */
function bloodravenCase({ id, threads, compression, at4x }) {
  const flags = ['--threads', String(threads), ...(compression ? ['--compression', compression] : [])];
  return {
    id,
    tool: 'bloodraven',
    label: `bloodraven backup now -t ${threads}${compression ? ` --compression ${compression}` : ''}`,
    detail: `--threads ${threads}, ${compression ?? 'zstd'}, PVC`,
    meta: { threads, compression: compression ?? 'zstd' },
    at4x,
    measureRss: true,
    async command(ctx, run) {
      const config = await writeBloodravenConfig(join(run.scratch, 'bloodraven.yaml'), ctx.socket, run.out);
      return bloodravenBackupSpec(ctx, config, flags);
    },
    async after(_ctx, run, result) {
      const record = parseBackupRecord(result.stdout);
      return {
        outputBytes: await sizeOf(run.out),
        files: await fileCount(run.out),
        record: { name: record.name, dataBytes: record.dataBytes, sizeBytes: record.sizeBytes, tables: record.tables?.length },
      };
    },
  };
}

/** @type {Record<string, object>} */
export const cases = {
  mariadbDumpNull: {
    id: 'mariadb-dump-null',
    tool: 'mariadb-dump',
    label: 'mariadb-dump > /dev/null',
    detail: '--single-transaction, one session, no compression: the floor',
    meta: { compression: 'none' },
    measureRss: true,
    command: (ctx) => mariadbDumpNullSpec(ctx),
  },

  mariadbDump: {
    id: 'mariadb-dump',
    label: 'mariadb-dump | zstd -3',
    detail: '--single-transaction, one session, zstd -3 single-threaded',
    meta: { compression: 'zstd' },
    at4x: true,
    measureRss: true,
    async command(ctx, run) {
      await mkdir(run.out, { recursive: true });
      return mariadbDumpSpec(ctx, join(run.out, `${ctx.database}.sql.zst`));
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
    meta: { threads: 2, compression: 'gzip' },
    at4x: true,
    measureRss: true,
    command(ctx, run) {
      return mydumperSpec(ctx, run.out);
    },
    async after(_ctx, run) {
      const files = await fileCount(run.out);
      if (files === 0) throw new RunFailed('mydumper wrote nothing');
      return { outputBytes: await sizeOf(run.out), files };
    },
  },

  bloodravenT1: bloodravenCase({ id: 'bloodraven-t1', threads: 1 }),
  // The id of threads 2, the profile's default, stays `bloodraven`: the headline case.
  bloodraven: bloodravenCase({ id: 'bloodraven', threads: 2, at4x: true }),
  bloodravenT4: bloodravenCase({ id: 'bloodraven-t4', threads: 4 }),
  bloodravenNone: bloodravenCase({ id: 'bloodraven-none', threads: 2, compression: 'none' }),

  bloodravenEncrypted: {
    id: 'bloodraven-encrypted',
    // Runs whenever bloodraven does: it measures the cost of encryption beside the plain run.
    tool: 'bloodraven',
    label: 'bloodraven backup now -t 2, encrypted',
    detail: 'the same as -t 2, with encryption.passphraseFile (AES-256-GCM segments)',
    meta: { threads: 2, compression: 'zstd', encrypted: true },
    measureRss: true,
    async command(ctx, run) {
      const passphrase = join(run.scratch, 'passphrase');
      await writeFile(passphrase, 'bench passphrase\n');
      const config = await writeBloodravenConfig(join(run.scratch, 'bloodraven.yaml'), ctx.socket, run.out, passphrase);
      return bloodravenBackupSpec(ctx, config, ['--threads', '2']);
    },
    async after(_ctx, run, result) {
      const record = parseBackupRecord(result.stdout);
      if (!record.encryption) throw new RunFailed('the encrypted run wrote a record without a data key');
      return { outputBytes: await sizeOf(run.out), files: await fileCount(run.out) };
    },
  },
};
