/** Command-line options of the benchmark harness. */
import { parseArgs } from 'node:util';

export const usage = `Usage: npm run bench -- [options]   (or: node bench/run.js [options] after npm run build)

Times \`bloodraven backup now\` (threads 1, 2, 4; without compression; encrypted) against
mariadb-dump > /dev/null, mariadb-dump | zstd -3 and mydumper -t 2 -c, and \`bloodraven restore
bootstrap\` (threads 1, 2, 4) against myloader -t 2 and mariadb < dump.sql with the binary log off
and on, on a throwaway MariaDB server filled by sysbench: wall time, client and server CPU
seconds, peak RSS. Then bloodraven threads 2 and its peers again at 4x the rows, to show cost
grows linearly and memory stays flat; then the many-objects pass.

Options:
  --rows N          rows per table at 1x (default 500000)
  --tables N        sysbench tables (default 8)
  --runs N          timed runs per tool at 1x; the best counts (default 2)
  --runs-4x N       timed runs per tool at 4x (default 1)
  --skip-4x         skip the 4x pass
  --tools LIST      comma-separated subset of bloodraven,mariadb-dump,mydumper (default: all);
                    also picks the restores: bloodraven restore bootstrap, mariadb < dump.sql
                    (with mariadb-dump), myloader (with mydumper)
  --only WHAT       dump, restore or objects: run only the backup timings, only the restore
                    timings, or only the many-objects pass (below); startup: only the
                    CLI's start-up times, no server (lib/startup.js; with --runs N only)
  --skip-restore    skip the restore timings (same as --only dump)
  --runs-restore N  timed runs per tool of the restore pass at 1x (default 1)
  --skip-restore-4x
                    do not time the restores at 4x (bloodraven -t 2 and myloader -t 2, about
                    8 minutes with their untimed dumps)
  --skip-objects    skip the many-objects pass: small tables in several schemas plus views,
                    bloodraven backup now vs mydumper -t 2 and restore bootstrap vs myloader -t 2
  --objects-tables N  tables of the many-objects pass, over all schemas (default 5000)
  --objects-schemas N schemas they are spread over (default 10)
  --objects-views N   views of the many-objects pass (default 200)
  --objects-rows N    rows per table (default 3)
  --runs-objects N  timed runs per tool of the many-objects pass (default 1)
  --buffer-pool S   innodb-buffer-pool-size of the server (default 6G: holds the 4x data set)
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
 * @returns {{ help: boolean, rows: number, tables: number, runs: number, runs4x: number, skip4x: boolean,
 *   tools: string[], dump: boolean, restore: boolean, objects: boolean, objectTables: number, objectSchemas: number, objectViews: number, objectRows: number, runsObjects: number, runsRestore: number, restore4x: boolean, bufferPool: string, timeoutMs: number, workDir: string | undefined, keep: boolean, install: boolean }}
 */
export function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      rows: { type: 'string', default: '500000' },
      tables: { type: 'string', default: '8' },
      runs: { type: 'string', default: '2' },
      'runs-4x': { type: 'string', default: '1' },
      'skip-4x': { type: 'boolean', default: false },
      tools: { type: 'string', default: 'bloodraven,mariadb-dump,mydumper' },
      only: { type: 'string' },
      'skip-restore': { type: 'boolean', default: false },
      'runs-restore': { type: 'string', default: '1' },
      'skip-restore-4x': { type: 'boolean', default: false },
      'skip-objects': { type: 'boolean', default: false },
      'objects-tables': { type: 'string', default: '5000' },
      'objects-schemas': { type: 'string', default: '10' },
      'objects-views': { type: 'string', default: '200' },
      'objects-rows': { type: 'string', default: '3' },
      'runs-objects': { type: 'string', default: '1' },
      'buffer-pool': { type: 'string', default: '6G' },
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
    runs4x: positiveInt('runs-4x', values['runs-4x']),
    skip4x: values['skip-4x'],
    tools,
    dump: only === undefined || only === 'dump',
    restore: only === undefined || only === 'restore',
    objects: (only === undefined && !values['skip-objects']) || only === 'objects',
    objectTables: positiveInt('objects-tables', values['objects-tables']),
    objectSchemas: positiveInt('objects-schemas', values['objects-schemas']),
    objectViews: Number.isSafeInteger(Number(values['objects-views'])) && Number(values['objects-views']) >= 0 ? Number(values['objects-views']) : positiveInt('objects-views', values['objects-views']),
    objectRows: positiveInt('objects-rows', values['objects-rows']),
    runsObjects: positiveInt('runs-objects', values['runs-objects']),
    runsRestore: positiveInt('runs-restore', values['runs-restore']),
    restore4x: !values['skip-restore-4x'],
    bufferPool: values['buffer-pool'],
    timeoutMs: positiveInt('timeout', values.timeout) * 1000,
    workDir: values['work-dir'],
    keep: values.keep,
    install: !values['no-install'],
  };
}
