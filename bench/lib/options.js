/** Command-line options of the benchmark harness. */
import { parseArgs } from 'node:util';

export const usage = `Usage: npm run bench -- [options]   (or: node bench/run.js [options] after npm run build)

Times \`bloodraven backup now\` against mariadb-dump | zstd and mydumper, and \`bloodraven restore
bootstrap\` against myloader and mariadb < dump.sql, on a throwaway MariaDB server filled by
sysbench; then bloodraven again (backup and restore) at twice the rows to show its memory
stays flat.

Options:
  --rows N          rows per table at 1x (default 500000)
  --tables N        sysbench tables (default 8)
  --runs N          timed runs per tool at 1x; the best counts (default 3)
  --runs-2x N       timed runs of bloodraven at 2x (default 2)
  --skip-2x         skip the 2x pass
  --tools LIST      comma-separated subset of bloodraven,mariadb-dump,mydumper (default: all);
                    also picks the restores: bloodraven restore bootstrap, mariadb < dump.sql
                    (with mariadb-dump), myloader (with mydumper)
  --only WHAT       dump, restore or objects: run only the backup timings, only the restore
                    timings, or only the many-objects pass (below); startup: only the
                    CLI's start-up times, no server (lib/startup.js; with --runs N only)
  --skip-restore    skip the restore timings (same as --only dump)
  --runs-restore N  timed runs per tool of the restore pass at 1x (default: --runs)
  --skip-restore-2x
                    do not time bloodraven's restore at 2x (best of --runs-2x, about 2 minutes)
  --skip-objects    skip the many-objects pass: small tables in several schemas plus views,
                    bloodraven backup now vs mydumper -t 2 and restore bootstrap vs myloader -t 2
  --objects-tables N  tables of the many-objects pass, over all schemas (default 5000)
  --objects-schemas N schemas they are spread over (default 10)
  --objects-views N   views of the many-objects pass (default 200)
  --objects-rows N    rows per table (default 3)
  --runs-objects N  timed runs per tool of the many-objects pass (default 2)
  --buffer-pool S   innodb-buffer-pool-size of the server (default 4G: holds the 2x data set)
  --timeout S       give up on one timed run after S seconds (default 1800)
  --work-dir DIR    parent folder for the server's datadir and the dump outputs (default: OS temp dir)
  --keep            keep the server running after the run (and its datadir after it stops),
                    for debugging: prints its socket and waits for Ctrl-C
  --no-install      do not run scripts/install-system-deps.sh --bench first
  -h, --help        show this help
`;

/** Case ids (cases.js) the --tools option may name. */
export const knownTools = ['bloodraven', 'mariadb-dump', 'mydumper'];

const positiveInt = (name, text) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} wants a whole number ≥ 1, not "${text}"`);
  return n;
};

/**
 * @param {string[]} argv
 * @returns {{ help: boolean, rows: number, tables: number, runs: number, runs2x: number, skip2x: boolean,
 *   tools: string[], dump: boolean, restore: boolean, objects: boolean, objectTables: number, objectSchemas: number, objectViews: number, objectRows: number, runsObjects: number, runsRestore: number, restore2x: boolean, bufferPool: string, timeoutMs: number, workDir: string | undefined, keep: boolean, install: boolean }}
 */
export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      rows: { type: 'string', default: '500000' },
      tables: { type: 'string', default: '8' },
      runs: { type: 'string', default: '3' },
      'runs-2x': { type: 'string', default: '2' },
      'skip-2x': { type: 'boolean', default: false },
      tools: { type: 'string', default: 'bloodraven,mariadb-dump,mydumper' },
      only: { type: 'string' },
      'skip-restore': { type: 'boolean', default: false },
      'runs-restore': { type: 'string' },
      'skip-restore-2x': { type: 'boolean', default: false },
      'skip-objects': { type: 'boolean', default: false },
      'objects-tables': { type: 'string', default: '5000' },
      'objects-schemas': { type: 'string', default: '10' },
      'objects-views': { type: 'string', default: '200' },
      'objects-rows': { type: 'string', default: '3' },
      'runs-objects': { type: 'string', default: '2' },
      'buffer-pool': { type: 'string', default: '4G' },
      timeout: { type: 'string', default: '1800' },
      'work-dir': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (!/^\d+[KMG]?$/i.test(values['buffer-pool'])) throw new Error(`--buffer-pool wants a size like 4G, not "${values['buffer-pool']}"`);
  const tools = values.tools.split(',').map((t) => t.trim()).filter(Boolean);
  const unknown = tools.filter((t) => !knownTools.includes(t));
  if (unknown.length || !tools.length) throw new Error(`--tools takes a comma-separated subset of ${knownTools.join(',')}`);
  if (values.only !== undefined && !['dump', 'restore', 'objects'].includes(values.only)) throw new Error(`--only takes dump, restore or objects, not "${values.only}"`);
  if (values.only === 'objects' && values['skip-objects']) throw new Error('--only objects and --skip-objects contradict each other');
  if (values.only === 'restore' && values['skip-restore']) throw new Error('--only restore and --skip-restore contradict each other');
  const only = values['skip-restore'] ? 'dump' : values.only;
  return {
    help: values.help,
    rows: positiveInt('rows', values.rows),
    tables: positiveInt('tables', values.tables),
    runs: positiveInt('runs', values.runs),
    runs2x: positiveInt('runs-2x', values['runs-2x']),
    skip2x: values['skip-2x'],
    tools,
    dump: only === undefined || only === 'dump',
    restore: only === undefined || only === 'restore',
    objects: (only === undefined && !values['skip-objects']) || only === 'objects',
    objectTables: positiveInt('objects-tables', values['objects-tables']),
    objectSchemas: positiveInt('objects-schemas', values['objects-schemas']),
    objectViews: Number.isSafeInteger(Number(values['objects-views'])) && Number(values['objects-views']) >= 0 ? Number(values['objects-views']) : positiveInt('objects-views', values['objects-views']),
    objectRows: positiveInt('objects-rows', values['objects-rows']),
    runsObjects: positiveInt('runs-objects', values['runs-objects']),
    runsRestore: values['runs-restore'] === undefined ? positiveInt('runs', values.runs) : positiveInt('runs-restore', values['runs-restore']),
    restore2x: !values['skip-restore-2x'],
    bufferPool: values['buffer-pool'],
    timeoutMs: positiveInt('timeout', values.timeout) * 1000,
    workDir: values['work-dir'],
    keep: values.keep,
    install: !values['no-install'],
  };
}
