#!/usr/bin/env node
/**
 * Backup and restore benchmark: `bloodraven backup now` against `mariadb-dump | zstd -3` and
 * `mydumper -t 2 -c`, and `bloodraven restore bootstrap` against `myloader -t 2` and
 * `mariadb < dump.sql`, on a throwaway MariaDB server filled by `sysbench oltp_read_write
 * prepare`; then bloodraven alone at twice the rows, to show its memory stays flat. Reports, never
 * asserts: the exit code says whether the benchmark ran, not whether the targets were met.
 *
 * Run with `npm run bench` (builds first); `npm run bench -- --help` lists the options.
 */
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { promisify } from 'node:util';
import { cases } from './lib/cases.js';
import { snapshotSchema } from './lib/db.js';
import { runPass } from './lib/measure.js';
import { parseOptions, usage } from './lib/options.js';
import { restoreCases } from './lib/restore-cases.js';
import { objectBackupCases, objectRestoreCases, snapshotObjects } from './lib/objects-cases.js';
import { objectSchemas, prepareObjects } from './lib/objects.js';
import { detectRssMethod, RunFailed } from './lib/proc.js';
import { formatBytes, formatMs, renderCases, renderComparisons, renderObjectsSummary, renderRestoreCases, renderRestoreComparisons, targets } from './lib/report.js';
import { cliArgs } from './lib/launcher.js';
import { runStartup, startupOptions, startupTargetSeconds } from './lib/startup.js';

const execFileP = promisify(execFile);
const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = dirname(benchDir);
const resultsFile = join(benchDir, 'results', 'latest.json');

const out = (line = '') => process.stdout.write(`${line}\n`);

async function exists(path) {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function installSystemDeps() {
  const script = join(repoRoot, 'scripts', 'install-system-deps.sh');
  const code = await new Promise((resolve) => {
    const child = spawn('bash', [script, '--bench'], { stdio: 'inherit' });
    child.on('error', () => resolve(-1));
    child.on('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`${relative(repoRoot, script)} --bench failed (exit ${code})`);
}

async function versionOf(cmd, args = ['--version']) {
  try {
    const { stdout, stderr } = await execFileP(cmd, args);
    const first = (stdout || stderr).trim().split('\n')[0] ?? '';
    return first.replace(/^\*+\s*|\s*\*+$/g, '');
  } catch {
    return 'not found';
  }
}

async function gitRevision() {
  try {
    const { stdout: rev } = await execFileP('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot });
    const { stdout: status } = await execFileP('git', ['status', '--porcelain', '--', 'src', 'bin'], { cwd: repoRoot });
    return `${rev.trim()}${status.trim() ? ' (with uncommitted changes in src/bin)' : ''}`;
  } catch {
    return 'unknown';
  }
}

async function collectVersions(nodeBin) {
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
  return {
    bloodraven: `${pkg.version} @ ${await gitRevision()}`,
    node: await versionOf(nodeBin),
    mariadbDump: await versionOf('mariadb-dump'),
    mydumper: await versionOf('mydumper'),
    zstd: await versionOf('zstd', ['-V']),
    sysbench: await versionOf('sysbench'),
  };
}

/**
 * The data sizes to run, each with its backup pass and its restore pass (either may be null):
 * 1x with every chosen tool, 2x with bloodraven only (its restore too, unless --skip-restore-2x).
 */
function planSizes(opts) {
  if (!opts.dump && !opts.restore) return [];
  const dump = opts.dump ? Object.values(cases).filter((c) => opts.tools.includes(c.tool ?? c.id)) : [];
  const restore = opts.restore ? Object.values(restoreCases).filter((c) => opts.tools.includes(c.tool)) : [];
  const pass = (runs, list) => (list.length ? { runs, cases: list } : null);
  const sizes = [{ id: '1x', rows: opts.rows, tables: opts.tables, dump: pass(opts.runs, dump), restore: pass(opts.runsRestore, restore) }];
  if (!opts.skip2x) {
    const dump2x = pass(opts.runs2x, dump.filter((c) => c.id === 'bloodraven'));
    const restore2x = opts.restore2x ? pass(opts.runs2x, restore.filter((c) => c.id === 'bloodraven-restore')) : null;
    if (dump2x || restore2x) sizes.push({ id: '2x', rows: opts.rows * 2, tables: opts.tables, dump: dump2x, restore: restore2x });
  }
  return sizes;
}

function loadText(l = loadavg()) {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

function describePass(p) {
  return `${p.tables} tables x ${p.rows.toLocaleString('en-US')} rows`;
}

function printHeader({ opts, versions, rssMethod, twoX }) {
  out(`bloodraven ${[opts.dump && 'backup', opts.restore && 'restore', opts.objects && 'many-objects'].filter(Boolean).join(', ')} benchmark`);
  out(`  machine     ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), ${formatBytes(totalmem())} RAM, load average ${loadText()}`);
  for (const [k, v] of Object.entries(versions)) out(`  ${k.padEnd(11)} ${v}`);
  out(`  peak RSS    ${rssMethod === 'gnu-time' ? 'GNU time %M (largest process of the command)' : 'VmHWM polled from /proc (the started process only)'}`);
  out('  method      each size: sysbench oltp_read_write prepare; timed runs go round-robin across the');
  out('              tools, wall-clock; the best run counts.');
  if (opts.dump) {
    out('              Backups: one untimed `mariadb-dump > /dev/null` first warms the buffer pool, so');
    out('              every tool sees the same warm cache; each run writes into a fresh folder deleted');
    out('              after measuring its size.');
  }
  if (opts.restore) {
    out(`              Restores${opts.dump ? ', after the backups' : ''}: each tool dumps the data once (untimed); every`);
    out('              run then starts from an empty sbtest (dropped and created, untimed) and is checked');
    out("              (untimed) for the source's exact row counts, CHECKSUM TABLE and indexes. The");
    out('              server writes a binary log; none of the restores write to it: myloader 0.10 does');
    out("              not unless -e, bloodraven runs with --skip-binlog, the mariadb client's stream");
    out('              starts with SET sql_log_bin=0. Threads: bloodraven 2, myloader 2, mariadb 1.');
  }
  if (twoX) {
    const what = [twoX.dump && `backup best of ${twoX.dump.runs}`, twoX.restore && `restore best of ${twoX.restore.runs}`].filter(Boolean).join(', ');
    out(`              The 2x size (${describePass(twoX)}) runs bloodraven only (${what}), to keep the total time reasonable.`);
  }
  if (opts.restore && !opts.skip2x && !opts.restore2x) out('              Restores are not timed at 2x (--skip-restore-2x).');
  if (opts.objects) {
    out(`              Many objects: ${describeObjects(opts)}; bloodraven backup now vs`);
    out('              mydumper -t 2 -c, then restore bootstrap vs myloader -t 2 (each restore into');
    out('              dropped schemas, checked like the others, views too); CPU seconds of the tool');
    out('              (GNU time) and of the server (/proc) for each run.');
  }
  out();
}

/** One size: the data set, then its backup pass and its restore pass. */
async function runSize(size, { server, env, done, restored }) {
  const { socket, signal } = env.ctx;
  out();
  out(`== ${size.id}: ${describePass(size)} ==`);
  let t = performance.now();
  await server.prepareSysbench(socket, { tables: size.tables, rows: size.rows, signal });
  const prepareMs = performance.now() - t;
  const data = await server.describeData(socket, signal);
  out(`prepared in ${formatMs(prepareMs)}: ${data.rows.toLocaleString('en-US')} rows, ${formatBytes(data.innodbBytes)} in InnoDB (data + indexes); buffer pool ${formatBytes(data.bufferPoolBytes)}${data.innodbBytes > data.bufferPoolBytes ? ' -- SMALLER than the data: reads will hit the disk' : ''}`);
  const common = { id: size.id, label: describePass(size), rows: size.rows, tables: size.tables, prepareMs, data };

  if (size.dump) {
    t = performance.now();
    await server.warmBufferPool(socket, signal);
    out(`warmed the buffer pool (untimed mariadb-dump > /dev/null) in ${formatMs(performance.now() - t)}`);
    out(`backups, best of ${size.dump.runs}:`);
    const loadBefore = loadavg();
    const results = await runPass(size.dump, env);
    const loadAfter = loadavg();
    out(`load average (1/5/15 min) ${loadText(loadBefore)} before the timed runs, ${loadText(loadAfter)} after (${cpus().length} CPUs: more means other work competed with the runs)`);
    out();
    out(renderCases(results));
    done.push({ ...common, runs: size.dump.runs, loadBefore, loadAfter, cases: results });
  }

  if (size.restore) {
    if (size.dump) out();
    t = performance.now();
    const expected = await snapshotSchema(socket, server.database, signal);
    out(`restores, best of ${size.restore.runs}; the source, taken untimed in ${formatMs(performance.now() - t)}: ${Object.keys(expected.counts).length} tables, ${expected.rows.toLocaleString('en-US')} rows, ${expected.indexes.length} indexes, CHECKSUM TABLE of each`);
    const loadBefore = loadavg();
    const results = await runPass(size.restore, { ...env, ctx: { ...env.ctx, expected } });
    const loadAfter = loadavg();
    out(`load average (1/5/15 min) ${loadText(loadBefore)} before the timed runs, ${loadText(loadAfter)} after`);
    out(`the last restore left ${server.database} loaded, and checked: ${expected.rows.toLocaleString('en-US')} rows`);
    out();
    out(renderRestoreCases(results));
    const source = { rows: expected.rows, counts: expected.counts, indexes: expected.indexes };
    restored.push({ ...common, runs: size.restore.runs, source, loadBefore, loadAfter, cases: results });
  }
}

function describeObjects(opts) {
  return `${opts.objectTables.toLocaleString('en-US')} tables x ${opts.objectRows} rows in ${opts.objectSchemas} schemas, ${opts.objectViews} views`;
}

/**
 * The many-objects pass (issue 14, finding 6): thousands of small tables, so what each tool pays
 * per object shows. Other schemas of the sandbox (sbtest) are dropped first: bloodraven dumps
 * every schema of the server.
 */
async function runObjects(opts, { server, env }) {
  const { socket, signal } = env.ctx;
  out();
  out(`== many objects: ${describeObjects(opts)} ==`);
  await server.sql(socket, `DROP DATABASE IF EXISTS ${server.database}`, signal);
  const schemas = objectSchemas(opts.objectSchemas);
  let t = performance.now();
  await prepareObjects(socket, { schemas: opts.objectSchemas, tables: opts.objectTables, views: opts.objectViews, rows: opts.objectRows, signal });
  out(`prepared in ${formatMs(performance.now() - t)}`);
  const serverCpuSeconds = await server.serverCpuMeter(socket, signal);
  const ctx = { ...env.ctx, schemas, objectTables: opts.objectTables, serverCpuSeconds };
  const tools = (c) => opts.tools.includes(c.id === 'bloodraven' || c.id === 'bloodraven-restore' ? 'bloodraven' : 'mydumper');
  out(`backups, best of ${opts.runsObjects}:`);
  const backups = await runPass({ runs: opts.runsObjects, cases: Object.values(objectBackupCases).filter(tools) }, { ...env, ctx });
  out();
  out(renderCases(backups));
  t = performance.now();
  const expected = await snapshotObjects(socket, schemas, signal);
  out();
  out(`restores, best of ${opts.runsObjects}; the source, taken untimed in ${formatMs(performance.now() - t)}: ${expected.tables} tables, ${expected.views.length} views, ${expected.rows.toLocaleString('en-US')} rows`);
  const restores = await runPass({ runs: opts.runsObjects, cases: Object.values(objectRestoreCases).filter(tools) }, { ...env, ctx: { ...ctx, expected } });
  out();
  out(renderRestoreCases(restores));
  return { id: 'objects', label: describeObjects(opts), tables: expected.tables, views: expected.views.length, rows: expected.rows, backups, restores };
}

/** The summary: ratios beside the targets. Returns every comparison, for the results file. */
function printSummary({ opts, done, restored, twoX }) {
  const dumpSummary = renderComparisons(done);
  const restoreSummary = renderRestoreComparisons(restored);
  out();
  out('== summary (targets are reported, not asserted) ==');
  if (done.length) {
    out(dumpSummary.text);
    for (const p of done) {
      const br = p.cases.find((c) => c.id === 'bloodraven');
      if (br) out(`bloodraven backup at ${p.id}: best ${formatMs(br.bestMs)}, peak RSS ${formatBytes(br.peakRssBytes)}`);
    }
    out('note: mydumper 0.10 -c compresses with gzip, so its output size is not comparable to zstd outputs.');
  }
  if (restored.length) {
    if (done.length) out();
    out(restoreSummary.text);
    for (const p of restored) {
      const br = p.cases.find((c) => c.id === 'bloodraven-restore');
      if (br) out(`bloodraven restore at ${p.id}: best ${formatMs(br.bestMs)}, peak RSS ${formatBytes(br.peakRssBytes)}`);
    }
    out('note: restores run without binary logging (bloodraven --skip-binlog, myloader without -e, SET sql_log_bin=0');
    out('      for the mariadb client); mariadb < dump.sql loads in one session, the others in 2.');
    if (!twoX?.restore && !opts.skip2x) out('note: restores were not timed at 2x (--skip-restore-2x).');
  }
  return [...dumpSummary.comparisons, ...restoreSummary.comparisons];
}

async function main(opts, signal) {
  const server = await import('./lib/server.js').catch((err) => {
    throw new Error(`cannot load the built library (${err.message}); run \`npm run build\` first, or use \`npm run bench\``);
  });
  const nodeBin = (await exists(join(repoRoot, 'node_modules', '.bin', 'node'))) ? join(repoRoot, 'node_modules', '.bin', 'node') : process.execPath;
  const rssMethod = await detectRssMethod();
  const versions = await collectVersions(nodeBin);
  const sizes = planSizes(opts);
  const startedAt = new Date();
  const twoX = sizes.find((z) => z.id === '2x');
  printHeader({ opts, versions, rssMethod, twoX });

  const workDir = await mkdtemp(join(opts.workDir ?? tmpdir(), 'bloodraven-bench-'));
  let sandbox;
  try {
    const t = performance.now();
    sandbox = await server.startBenchServer({ bufferPool: opts.bufferPool, baseDir: workDir, keep: opts.keep });
    out(`server: ${sandbox.socket} (buffer pool ${opts.bufferPool}), started in ${formatMs(performance.now() - t)}`);
    const ctx = { repoRoot, nodeBin, cli: await cliArgs(repoRoot), socket: sandbox.socket, database: server.database, signal };
    const env = { ctx, workDir, rssMethod, timeoutMs: opts.timeoutMs, log: out };
    const done = [];
    const restored = [];
    for (const size of sizes) await runSize(size, { server, env, done, restored });
    const objects = opts.objects ? await runObjects(opts, { server, env }) : null;
    const comparisons = printSummary({ opts, done, restored, twoX });
    if (objects) {
      const summary = renderObjectsSummary(objects);
      out();
      out(summary.text);
      comparisons.push(...summary.comparisons);
    }

    await mkdir(dirname(resultsFile), { recursive: true });
    const doc = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      options: { ...opts, help: undefined },
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim(), totalMemBytes: totalmem() },
      versions: { ...versions, server: (done[0] ?? restored[0])?.data.serverVersion },
      peakRssMethod: rssMethod,
      targets,
      passes: done,
      restorePasses: restored,
      objectsPass: objects,
      comparisons,
    };
    await writeFile(resultsFile, `${JSON.stringify(doc, null, 2)}\n`);
    out(`results written to ${relative(process.cwd(), resultsFile) || resultsFile}`);

    if (opts.keep && !signal.aborted) {
      out();
      out(`--keep: the server is still running: mariadb -S ${sandbox.socket} -uroot ${server.database}`);
      out('press Ctrl-C to stop it (its datadir stays)');
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    }
  } finally {
    if (sandbox) {
      out('stopping the server');
      await sandbox.stop();
    }
    if (opts.keep) out(`kept: ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

let opts;
let startup;
try {
  // `--only startup`: the CLI's start-up timings alone (lib/startup.js), with no server.
  startup = startupOptions(process.argv.slice(2));
  if (!startup) opts = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
  process.exitCode = 2;
}
if (startup) {
  const nodeBin = (await exists(join(repoRoot, 'node_modules', '.bin', 'node'))) ? join(repoRoot, 'node_modules', '.bin', 'node') : process.execPath;
  out(`start-up of the built CLI (${await versionOf(nodeBin)}), median of ${startup.runs} runs each after one untimed; target for --version and --help ≤ ${startupTargetSeconds} s`);
  try {
    await runStartup({ nodeBin, cli: await cliArgs(repoRoot), runs: startup.runs, log: out });
  } catch (err) {
    process.stderr.write(`\nbenchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
} else if (opts?.help) {
  out(usage);
} else if (opts) {
  const controller = new globalThis.AbortController();
  const onSignal = (sig) => {
    process.stderr.write(`\n${sig}: stopping the current run and the server (again to force)\n`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (opts.install) await installSystemDeps();
    await main(opts, controller.signal);
  } catch (err) {
    // A tool that failed is explained by its message (command, exit, stderr tail); anything else
    // is a bug of the harness, where the stack helps.
    const text = err instanceof RunFailed ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`\nbenchmark failed: ${text}\n`);
    if (err instanceof Error && err.cause instanceof Error) process.stderr.write(`caused by: ${err.cause.message}\n`);
    process.exitCode = controller.signal.aborted ? 130 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
