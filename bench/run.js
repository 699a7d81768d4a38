#!/usr/bin/env node
/**
 * Backup and restore benchmark: `bloodraven backup now` (threads 1, 2, 4; without compression;
 * encrypted) against `mariadb-dump > /dev/null`, `mariadb-dump | zstd -3` and `mydumper -t 2 -c`,
 * and `bloodraven restore bootstrap` (threads 1, 2, 4) against `myloader -t 2` and `mariadb <
 * dump.sql` with the binary log off and on, on a throwaway MariaDB server filled by `sysbench
 * oltp_read_write prepare`; wall time, client and server CPU seconds and peak RSS of every run.
 * Then bloodraven -t 2 and its peers at 4x the rows (cost linear, memory flat?), and the
 * many-objects pass. Reports, never asserts: the exit code says whether the benchmark ran, not
 * whether the targets were met (it does fail when a restore leaves the wrong data behind).
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
import { purgeBinlogs, snapshotSchema } from './lib/db.js';
import { runPass } from './lib/measure.js';
import { parseOptions, usage } from './lib/options.js';
import { restoreCases } from './lib/restore-cases.js';
import { objectBackupCases, objectRestoreCases, snapshotObjects } from './lib/objects-cases.js';
import { objectSchemas, prepareObjects } from './lib/objects.js';
import { detectRssMethod, RunFailed } from './lib/proc.js';
import { formatBytes, formatMs, rates, renderCases, renderObjectsSummary, renderRestoreCases, targets } from './lib/report.js';
import { renderDataSets, renderIssueTargets, renderOtherRatios, renderScaling } from './lib/targets.js';
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

/** The big size is this many times the rows of the first. */
const scale = 4;

/**
 * The data sizes to run, each with its backup pass and its restore pass (either may be null):
 * 1x with every chosen case, 4x with the cases marked `at4x` (bloodraven -t 2 and its peers
 * mariadb-dump | zstd and mydumper; restores: bloodraven -t 2 and myloader -t 2, binary log off,
 * unless --skip-restore-4x).
 */
function planSizes(opts) {
  if (!opts.dump && !opts.restore) return [];
  const dump = opts.dump ? Object.values(cases).filter((c) => opts.tools.includes(c.tool ?? c.id)) : [];
  const restore = opts.restore ? Object.values(restoreCases).filter((c) => opts.tools.includes(c.tool)) : [];
  const pass = (runs, list) => (list.length ? { runs, cases: list } : null);
  const sizes = [{ id: '1x', rows: opts.rows, tables: opts.tables, dump: pass(opts.runs, dump), restore: pass(opts.runsRestore, restore) }];
  if (!opts.skip4x) {
    const dump4x = pass(opts.runs4x, dump.filter((c) => c.at4x));
    const restore4x = opts.restore4x ? pass(opts.runs4x, restore.filter((c) => c.at4x)) : null;
    if (dump4x || restore4x) sizes.push({ id: `${scale}x`, rows: opts.rows * scale, tables: opts.tables, dump: dump4x, restore: restore4x });
  }
  return sizes;
}

/** A pass with each case's rates over the data set's rows, for the results file. */
function withRates(pass) {
  return { ...pass, cases: pass.cases.map((c) => ({ ...c, ...rates(c, pass.rowBytes) })) };
}

function loadText(l = loadavg()) {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

function describePass(p) {
  return `${p.tables} tables x ${p.rows.toLocaleString('en-US')} rows`;
}

function printHeader({ opts, versions, rssMethod, big }) {
  out(`bloodraven ${[opts.dump && 'backup', opts.restore && 'restore', opts.objects && 'many-objects'].filter(Boolean).join(', ')} benchmark`);
  out(`  machine     ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), ${formatBytes(totalmem())} RAM, load average ${loadText()}`);
  for (const [k, v] of Object.entries(versions)) out(`  ${k.padEnd(11)} ${v}`);
  out(`  peak RSS    ${rssMethod === 'gnu-time' ? 'GNU time %M (largest process of the command)' : 'VmHWM polled from /proc (the started process only)'}`);
  out(`  client CPU  ${rssMethod === 'gnu-time' ? 'GNU time %U + %S (the command and every process it waited for)' : 'utime + stime of every process of the command, polled from /proc every 50 ms'}`);
  out('  server CPU  utime + stime of mariadbd from /proc/<pid>/stat, before and after each run; each run');
  out('              first waits (untimed, up to 20 s) for the server to go idle');
  out('  method      each size: sysbench oltp_read_write prepare, then one untimed mariadb-dump | wc -c that');
  out('              warms the buffer pool, so every tool sees the same warm cache, and counts the rows: the');
  out("              size of that uncompressed output is the data set's \"bytes of rows\" (MB/s, CPU per GB).");
  out('              Timed runs go round-robin across the tools, wall-clock; the best run counts, and the');
  out('              lowest CPU seconds.');
  if (opts.dump) {
    out('              Backups: each run writes into a fresh folder deleted after measuring its size.');
  }
  if (opts.restore) {
    out(`              Restores${opts.dump ? ', after the backups' : ''}: each tool dumps the data once (untimed); every`);
    out('              run then starts from an empty sbtest (dropped and created, untimed) and is checked');
    out("              (untimed) for the source's exact row counts, CHECKSUM TABLE and indexes, and for what it");
    out('              wrote to the binary log. Binary log off on both sides: bloodraven --skip-binlog,');
    out("              myloader's default (no -e), SET sql_log_bin=0 first for the mariadb client; on on both");
    out('              sides: bloodraven without --skip-binlog, myloader -e, the mariadb client without the SET.');
  }
  if (big) {
    const what = [big.dump && `backups best of ${big.dump.runs}`, big.restore && `restores best of ${big.restore.runs}`].filter(Boolean).join(', ');
    out(`              The ${big.id} size (${describePass(big)}) runs bloodraven -t 2 and its peers only (${what}).`);
  }
  if (opts.restore && !opts.skip4x && !opts.restore4x) out(`              Restores are not timed at ${scale}x (--skip-restore-4x).`);
  if (opts.objects) {
    out(`              Many objects: ${describeObjects(opts)}; bloodraven backup now vs`);
    out('              mydumper -t 2 -c, then restore bootstrap vs myloader -t 2 (each restore into');
    out('              dropped schemas, checked like the others, views too).');
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
  // sysbench's inserts went to the binary log: a 4x data set's worth of disk, freed here.
  await purgeBinlogs(socket, signal);
  const data = await server.describeData(socket, signal);
  out(`prepared in ${formatMs(prepareMs)}: ${data.rows.toLocaleString('en-US')} rows, ${formatBytes(data.innodbBytes)} in InnoDB (data + indexes); buffer pool ${formatBytes(data.bufferPoolBytes)}${data.innodbBytes > data.bufferPoolBytes ? ' -- SMALLER than the data: reads will hit the disk' : ''}`);
  t = performance.now();
  const rowBytes = await server.warmBufferPool(socket, signal);
  out(`warmed the buffer pool in ${formatMs(performance.now() - t)} (untimed mariadb-dump | wc -c): ${formatBytes(rowBytes)} of rows, the figure rates are counted in`);
  const common = { id: size.id, label: describePass(size), rows: size.rows, tables: size.tables, prepareMs, data, rowBytes };

  if (size.dump) {
    out(`backups, best of ${size.dump.runs}:`);
    const loadBefore = loadavg();
    const results = await runPass(size.dump, env);
    const loadAfter = loadavg();
    out(`load average (1/5/15 min) ${loadText(loadBefore)} before the timed runs, ${loadText(loadAfter)} after (${cpus().length} CPUs: more means other work competed with the runs)`);
    out();
    out(renderCases([{ id: size.id, rowBytes, cases: results }]));
    done.push({ ...common, runs: size.dump.runs, loadBefore, loadAfter, cases: results });
  }

  if (size.restore) {
    if (size.dump) out();
    t = performance.now();
    const expected = await snapshotSchema(socket, server.database, signal);
    out(`restores, best of ${size.restore.runs}; the source, taken untimed in ${formatMs(performance.now() - t)}: ${Object.keys(expected.counts).length} tables, ${expected.rows.toLocaleString('en-US')} rows, ${expected.indexes.length} indexes, CHECKSUM TABLE of each`);
    const loadBefore = loadavg();
    const results = await runPass(size.restore, { ...env, ctx: { ...env.ctx, expected, rowBytes } });
    const loadAfter = loadavg();
    out(`load average (1/5/15 min) ${loadText(loadBefore)} before the timed runs, ${loadText(loadAfter)} after`);
    out(`the last restore left ${server.database} loaded, and checked: ${expected.rows.toLocaleString('en-US')} rows`);
    out();
    out(renderRestoreCases([{ id: size.id, rowBytes, cases: results }]));
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
  const ctx = { ...env.ctx, schemas, objectTables: opts.objectTables };
  const tools = (c) => opts.tools.includes(c.id === 'bloodraven' || c.id === 'bloodraven-restore' ? 'bloodraven' : 'mydumper');
  out(`backups, best of ${opts.runsObjects}:`);
  const backups = await runPass({ runs: opts.runsObjects, cases: Object.values(objectBackupCases).filter(tools) }, { ...env, ctx });
  out();
  out(renderCases([{ id: 'objects', cases: backups }]));
  t = performance.now();
  const expected = await snapshotObjects(socket, schemas, signal);
  out();
  out(`restores, best of ${opts.runsObjects}; the source, taken untimed in ${formatMs(performance.now() - t)}: ${expected.tables} tables, ${expected.views.length} views, ${expected.rows.toLocaleString('en-US')} rows`);
  const restores = await runPass({ runs: opts.runsObjects, cases: Object.values(objectRestoreCases).filter(tools) }, { ...env, ctx: { ...ctx, expected } });
  out();
  out(renderRestoreCases([{ id: 'objects', cases: restores }]));
  return { id: 'objects', label: describeObjects(opts), tables: expected.tables, views: expected.views.length, rows: expected.rows, backups, restores };
}

/**
 * The summary of the sysbench passes: the data sets, every case at every size, how cost grows
 * from 1x to 4x, the targets of issue 12 and the other ratios. Returns every comparison, for the
 * results file.
 */
function printSummary({ done, restored }) {
  const scaling = renderScaling(done, restored);
  const issue = renderIssueTargets(done, restored);
  const other = renderOtherRatios(done, restored);
  const sizes = [...done, ...restored.filter((r) => !done.some((d) => d.id === r.id))];
  out('data sets:');
  out(renderDataSets(sizes.map((s) => ({ ...s, cases: done.find((d) => d.id === s.id)?.cases }))));
  if (done.length) {
    out();
    out(renderCases(done));
    out('note: mydumper 0.10 -c compresses with gzip, so its output size is not comparable to zstd outputs.');
  }
  if (restored.length) {
    out();
    out(renderRestoreCases(restored));
    out('note: the mariadb client loads in one session, myloader and bloodraven -t 2 in 2.');
  }
  for (const part of [scaling, issue, other]) {
    if (!part.text) continue;
    out();
    out(part.text);
  }
  return [...issue.comparisons, ...other.comparisons, ...scaling.comparisons];
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
  const big = sizes.find((z) => z.id !== '1x');
  printHeader({ opts, versions, rssMethod, big });

  const workDir = await mkdtemp(join(opts.workDir ?? tmpdir(), 'bloodraven-bench-'));
  let sandbox;
  try {
    const t = performance.now();
    sandbox = await server.startBenchServer({ bufferPool: opts.bufferPool, baseDir: workDir, keep: opts.keep });
    out(`server: ${sandbox.socket} (buffer pool ${opts.bufferPool}), started in ${formatMs(performance.now() - t)}`);
    const serverCpuSeconds = await server.serverCpuMeter(sandbox.socket, signal);
    const ctx = { repoRoot, nodeBin, cli: await cliArgs(repoRoot), socket: sandbox.socket, database: server.database, signal, serverCpuSeconds };
    const env = { ctx, workDir, rssMethod, timeoutMs: opts.timeoutMs, log: out };
    const done = [];
    const restored = [];
    for (const size of sizes) await runSize(size, { server, env, done, restored });
    const objects = opts.objects ? await runObjects(opts, { server, env }) : null;
    out();
    out('== summary (targets are reported, not asserted) ==');
    const comparisons = done.length || restored.length ? printSummary({ done, restored }) : [];
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
      cpuMethod: { client: rssMethod === 'gnu-time' ? 'GNU time %U + %S' : '/proc utime+stime of every process of the command\'s process group, polled every 50 ms', server: 'mariadbd /proc/<pid>/stat utime+stime, before and after' },
      rowBytesMeasure: "rowBytes: size of the data set's uncompressed `mariadb-dump --single-transaction` output (untimed warm-up); rowsMBps, rowsMBperCpuSecond, cpuSecondsPerGB, serverCpuSecondsPerGB are counted in it",
      targets,
      // Each case with its rates over the data set's rows (report.js rates).
      passes: done.map(withRates),
      restorePasses: restored.map(withRates),
      objectsPass: objects,
      issue12Targets: comparisons.filter((c) => c.issue === 12),
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
