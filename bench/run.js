#!/usr/bin/env node
/**
 * Backup benchmark: `bloodraven backup now` against `mariadb-dump | zstd -3` and `mydumper -t 2 -c`
 * on a throwaway MariaDB server filled by `sysbench oltp_read_write prepare`; then bloodraven
 * alone at twice the rows, to show its memory stays flat. Reports, never asserts: the exit code
 * says whether the benchmark ran, not whether the targets were met.
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
import { runPass } from './lib/measure.js';
import { parseOptions, usage } from './lib/options.js';
import { detectRssMethod, RunFailed } from './lib/proc.js';
import { formatBytes, formatMs, renderCases, renderComparisons, targets } from './lib/report.js';

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

/** The passes to run: 1x with every tool, 2x with bloodraven only. */
function planPasses(opts) {
  const chosen = Object.values(cases).filter((c) => opts.tools.includes(c.id));
  const passes = [{ id: '1x', rows: opts.rows, tables: opts.tables, runs: opts.runs, cases: chosen }];
  const bloodraven = chosen.filter((c) => c.id === 'bloodraven');
  if (!opts.skip2x && bloodraven.length) passes.push({ id: '2x', rows: opts.rows * 2, tables: opts.tables, runs: opts.runs2x, cases: bloodraven });
  return passes;
}

function loadText(l = loadavg()) {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

function describePass(p) {
  return `${p.tables} tables x ${p.rows.toLocaleString('en-US')} rows`;
}

async function main(opts, signal) {
  const server = await import('./lib/server.js').catch((err) => {
    throw new Error(`cannot load the built library (${err.message}); run \`npm run build\` first, or use \`npm run bench\``);
  });
  const nodeBin = (await exists(join(repoRoot, 'node_modules', '.bin', 'node'))) ? join(repoRoot, 'node_modules', '.bin', 'node') : process.execPath;
  const rssMethod = await detectRssMethod();
  const versions = await collectVersions(nodeBin);
  const passes = planPasses(opts);
  const startedAt = new Date();

  out('bloodraven backup benchmark');
  out(`  machine     ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), ${formatBytes(totalmem())} RAM, load average ${loadText()}`);
  for (const [k, v] of Object.entries(versions)) out(`  ${k.padEnd(11)} ${v}`);
  out(`  peak RSS    ${rssMethod === 'gnu-time' ? 'GNU time %M (largest process of the command)' : 'VmHWM polled from /proc (the started process only)'}`);
  out('  method      each pass: sysbench oltp_read_write prepare, then one untimed `mariadb-dump > /dev/null`');
  out('              to warm the buffer pool, so every tool sees the same warm cache; timed runs go');
  out('              round-robin across the tools, wall-clock, each into a fresh folder deleted after');
  out('              measuring its size; the best run counts.');
  if (passes[1]) out(`              The 2x pass (${describePass(passes[1])}) runs bloodraven only, best of ${opts.runs2x}, to keep the total time reasonable.`);
  out();

  const workDir = await mkdtemp(join(opts.workDir ?? tmpdir(), 'bloodraven-bench-'));
  let sandbox;
  try {
    let t = performance.now();
    sandbox = await server.startBenchServer({ bufferPool: opts.bufferPool, baseDir: workDir, keep: opts.keep });
    out(`server: ${sandbox.socket} (buffer pool ${opts.bufferPool}), started in ${formatMs(performance.now() - t)}`);
    const ctx = { repoRoot, nodeBin, socket: sandbox.socket, database: server.database, signal };
    const done = [];
    for (const pass of passes) {
      out();
      out(`== ${pass.id}: ${describePass(pass)} ==`);
      t = performance.now();
      await server.prepareSysbench(sandbox.socket, { tables: pass.tables, rows: pass.rows, signal });
      const prepareMs = performance.now() - t;
      const data = await server.describeData(sandbox.socket, signal);
      out(`prepared in ${formatMs(prepareMs)}: ${data.rows.toLocaleString('en-US')} rows, ${formatBytes(data.innodbBytes)} in InnoDB (data + indexes); buffer pool ${formatBytes(data.bufferPoolBytes)}${data.innodbBytes > data.bufferPoolBytes ? ' -- SMALLER than the data: reads will hit the disk' : ''}`);
      t = performance.now();
      await server.warmBufferPool(sandbox.socket, signal);
      out(`warmed the buffer pool (untimed mariadb-dump > /dev/null) in ${formatMs(performance.now() - t)}`);
      const loadBefore = loadavg();
      const results = await runPass(pass, { ctx, workDir, rssMethod, timeoutMs: opts.timeoutMs, log: out });
      const loadAfter = loadavg();
      out(`load average (1/5/15 min) ${loadText(loadBefore)} before the timed runs, ${loadText(loadAfter)} after (${cpus().length} CPUs: more means other work competed with the runs)`);
      out();
      out(renderCases(results));
      done.push({ id: pass.id, label: describePass(pass), rows: pass.rows, tables: pass.tables, runs: pass.runs, prepareMs, data, loadBefore, loadAfter, cases: results });
    }

    const { text, comparisons } = renderComparisons(done);
    out();
    out('== summary (targets are reported, not asserted) ==');
    out(text);
    for (const p of done) {
      const br = p.cases.find((c) => c.id === 'bloodraven');
      if (br) out(`bloodraven at ${p.id}: best ${formatMs(br.bestMs)}, peak RSS ${formatBytes(br.peakRssBytes)}`);
    }
    out('note: mydumper 0.10 -c compresses with gzip, so its output size is not comparable to zstd outputs.');

    await mkdir(dirname(resultsFile), { recursive: true });
    const doc = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      options: { ...opts, help: undefined },
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim(), totalMemBytes: totalmem() },
      versions: { ...versions, server: done[0]?.data.serverVersion },
      peakRssMethod: rssMethod,
      targets,
      passes: done,
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
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
  process.exitCode = 2;
}
if (opts?.help) {
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
