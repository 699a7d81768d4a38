/**
 * The timed runs of the "many objects" pass (objects.js builds its data set): `bloodraven backup
 * now` against `mydumper -t 2`, then `bloodraven restore bootstrap` against `myloader -t 2`, same
 * case shape as cases.js and restore-cases.js. Every restore starts with the data set's schemas
 * dropped (untimed) and is checked afterwards (untimed): every schema must hold the source's
 * tables with their exact row counts, CHECKSUM TABLE and indexes, and the source's views.
 *
 * ctx.schemas lists the data set's schemas; ctx.expected (restore pass) holds, per schema, the
 * snapshot taken before the dumps, and the views.
 */
import { join } from 'node:path';
import { bloodravenBackupSpec, parseBackupRecord, writeBloodravenConfig } from './cases.js';
import { assertSameSchema, snapshotSchema, sql } from './db.js';
import { fileCount, sizeOf } from './files.js';
import { formatBytes } from './report.js';
import { RunFailed } from './proc.js';

const ident = (name) => `\`${name.replaceAll('`', '``')}\``;
const literal = (text) => `'${text.replaceAll("'", "''")}'`;

/** `mydumper -t 2 -c` of the data set's schemas only (mydumper 0.10 takes them as a regex on `schema.table`). */
function mydumperObjectsSpec(ctx, dir) {
  const args = ['-S', ctx.socket, '-u', 'root', '-t', '2', '-c', '--regex', `^(${ctx.schemas.join('|')})\\.`, '-o', dir];
  return { file: 'mydumper', args, display: `mydumper ${args.join(' ')}` };
}

/**
 * What the data set holds now: per schema, the tables' exact row counts, checksums and indexes
 * (db.js snapshotSchema), and the views' names.
 */
export async function snapshotObjects(socket, schemas, signal) {
  const perSchema = {};
  for (const schema of schemas) perSchema[schema] = await snapshotSchema(socket, schema, signal);
  const list = schemas.map(literal).join(', ');
  const views = (await sql(socket, `SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.views WHERE table_schema IN (${list}) ORDER BY 1`, signal))
    .split('\n')
    .filter(Boolean);
  const rows = Object.values(perSchema).reduce((n, s) => n + s.rows, 0);
  const tables = Object.values(perSchema).reduce((n, s) => n + Object.keys(s.counts).length, 0);
  return { perSchema, views, rows, tables };
}

/** Untimed, before each restore: the data set's schemas are gone, out of the binary log. */
async function dropObjects(ctx) {
  await sql(ctx.socket, `SET sql_log_bin = 0; ${ctx.schemas.map((s) => `DROP DATABASE IF EXISTS ${ident(s)};`).join(' ')}`, ctx.signal);
}

/** Untimed, after each restore: every schema and view as in the source. */
async function checkObjects(ctx, what) {
  const actual = await snapshotObjects(ctx.socket, ctx.schemas, ctx.signal);
  for (const schema of ctx.schemas) assertSameSchema(`${what}, schema ${schema}`, ctx.expected.perSchema[schema], actual.perSchema[schema]);
  const missing = ctx.expected.views.filter((v) => !actual.views.includes(v));
  if (missing.length || actual.views.length !== ctx.expected.views.length) {
    throw new RunFailed(`${what}: ${actual.views.length} views restored, expected ${ctx.expected.views.length}${missing.length ? `; missing: ${missing.slice(0, 10).join(', ')}` : ''}`);
  }
  return { rows: actual.rows, inputBytes: ctx.state.inputBytes };
}

/** @type {Record<string, object>} */
export const objectBackupCases = {
  bloodraven: {
    id: 'bloodraven',
    label: 'bloodraven backup now',
    detail: '2 threads, zstd, PVC',
    measureRss: true,
    async command(ctx, run) {
      const config = await writeBloodravenConfig(join(run.scratch, 'bloodraven.yaml'), ctx.socket, run.out);
      return bloodravenBackupSpec(ctx, config);
    },
    async after(ctx, run, result) {
      const record = parseBackupRecord(result.stdout);
      const tables = record.tables?.length;
      if (tables !== undefined && tables < ctx.objectTables) throw new RunFailed(`bloodraven backup now recorded ${tables} tables, expected ${ctx.objectTables}`);
      return { outputBytes: await sizeOf(run.out), files: await fileCount(run.out) };
    },
  },
  mydumper: {
    id: 'mydumper',
    label: 'mydumper -t 2 -c',
    detail: 'mydumper 0.10, the data set\'s schemas (--regex)',
    measureRss: true,
    command: (ctx, run) => mydumperObjectsSpec(ctx, run.out),
    async after(_ctx, run) {
      const files = await fileCount(run.out);
      if (files === 0) throw new RunFailed('mydumper wrote nothing');
      return { outputBytes: await sizeOf(run.out), files };
    },
  },
};

/** @type {Record<string, object>} */
export const objectRestoreCases = {
  bloodraven: {
    id: 'bloodraven-restore',
    label: 'bloodraven restore bootstrap',
    detail: '--threads 2 --skip-binlog --reset-progress, from a bloodraven backup (2 threads, zstd, PVC)',
    measureRss: true,
    async prepare(ctx, input) {
      const storage = join(input.dir, 'storage');
      const config = await writeBloodravenConfig(join(input.dir, 'bloodraven.yaml'), ctx.socket, storage);
      const record = parseBackupRecord((await input.run(bloodravenBackupSpec(ctx, config))).stdout);
      Object.assign(ctx.state, { config, backup: record.name, inputBytes: await sizeOf(storage), files: await fileCount(storage) });
      return `bloodraven backup now: ${record.name}, ${formatBytes(ctx.state.inputBytes)} in ${ctx.state.files} files`;
    },
    before: dropObjects,
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
      return checkObjects(ctx, 'bloodraven restore bootstrap');
    },
  },
  myloader: {
    id: 'myloader',
    label: 'myloader -t 2',
    detail: 'myloader 0.10, from a mydumper -t 2 -c dump (gzip); no binary log (no -e)',
    measureRss: true,
    async prepare(ctx, input) {
      const dir = join(input.dir, 'dump');
      await input.run(mydumperObjectsSpec(ctx, dir));
      Object.assign(ctx.state, { dir, inputBytes: await sizeOf(dir), files: await fileCount(dir) });
      return `mydumper -t 2 -c: ${formatBytes(ctx.state.inputBytes)} in ${ctx.state.files} files`;
    },
    before: dropObjects,
    command(ctx) {
      const args = ['-S', ctx.socket, '-u', 'root', '-t', '2', '-d', ctx.state.dir];
      return { file: 'myloader', args, display: `myloader ${args.join(' ')}` };
    },
    after: (ctx) => checkObjects(ctx, 'myloader -t 2'),
  },
};
