/**
 * Runs a pass: every case of the pass `runs` times, round-robin (a, b, c, a, b, c, …) so slow
 * drift of the machine does not favour whichever tool went first; each run in a fresh folder,
 * deleted once measured. The best (shortest) time counts; so does the lowest CPU.
 *
 * Every timed run measures the client's CPU seconds (proc.js) and the server's (utime + stime of
 * mariadbd from /proc, before and after: ctx.serverCpuSeconds). Before each run the harness waits
 * (untimed, at most `settleMs`) for the server to go idle, so that background work an earlier
 * run left behind (page flushing, purge) is not charged to this one.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { timedRun } from './proc.js';
import { formatMs, formatBytes } from './report.js';

const execFileP = promisify(execFile);

/** At most this long (ms) is spent waiting for the server to go idle before a timed run. */
const settleMs = 20_000;
/** The server counts as idle when it used less than this share of one core over `idleWindowMs`. */
const idleShare = 0.05;
const idleWindowMs = 500;

/**
 * @param {{ id: string, runs: number, cases: object[] }} pass
 * @param {{ ctx: object, workDir: string, rssMethod: 'gnu-time' | 'proc', timeoutMs: number, log: (line: string) => void }} env
 *   ctx.serverCpuSeconds: () => Promise<number>, the server's CPU seconds so far (server.js)
 */
export async function runPass(pass, env) {
  const { log } = env;
  // `shared`: one object for the whole pass, where cases that need the same input (restores of
  // one dump at several thread counts) keep it, so it is taken once.
  const ctx = { ...env.ctx, shared: new Map() };
  const results = pass.cases.map((c) => ({ id: c.id, label: c.label, detail: c.detail, tool: c.tool ?? c.id, ...(c.meta ?? {}), runs: [] }));
  const states = new Map(pass.cases.map((c) => [c.id, {}]));
  const prepared = [];
  const inputDirs = [];
  try {
    for (const c of pass.cases) {
      if (c.prepare) {
        const dir = await mkdtemp(join(env.workDir, `${safeName(c.id)}-input-`));
        inputDirs.push(dir);
        const input = { dir, run: (spec) => untimedRun(spec, dir, env, ctx.signal) };
        prepared.push(c);
        const start = performance.now();
        const note = await c.prepare({ ...ctx, state: states.get(c.id) }, input);
        if (note) log(`  ${c.label}: ${note} (untimed, ${formatMs(performance.now() - start)})`);
      }
    }
    for (let i = 1; i <= pass.runs; i++) {
      for (const [k, c] of pass.cases.entries()) {
        const caseCtx = { ...ctx, state: states.get(c.id) };
        const run = await oneRun(c, caseCtx, i, env);
        results[k].runs.push(run);
        const rss = run.peakRssBytes === undefined ? '' : `, peak RSS ${formatBytes(run.peakRssBytes)}`;
        const detail = [
          run.outputBytes === undefined ? '' : formatBytes(run.outputBytes),
          run.rows === undefined ? '' : `${run.rows.toLocaleString('en-US')} rows checked`,
          run.binlogBytes === undefined ? '' : `binlog +${formatBytes(run.binlogBytes)}`,
          run.cpuSeconds === undefined ? '' : `client CPU ${run.cpuSeconds.toFixed(2)} s`,
          run.serverCpuSeconds === undefined ? '' : `server CPU ${run.serverCpuSeconds.toFixed(2)} s`,
        ]
          .filter(Boolean)
          .join(', ');
        log(`  run ${i}/${pass.runs}  ${c.label.padEnd(40)} ${formatMs(run.ms).padStart(8)}  (${detail}${rss})`);
      }
    }
  } finally {
    for (const c of prepared) if (c.cleanup) await c.cleanup({ ...ctx, state: states.get(c.id) });
    for (const dir of inputDirs) await rm(dir, { recursive: true, force: true });
  }
  return results.map(summarise);
}

/** Runs a command untimed for a case's prepare; its stderr goes to a scratch folder under `dir`. */
async function untimedRun(spec, dir, env, signal) {
  const scratchDir = await mkdtemp(join(dir, '.scratch-'));
  try {
    return await timedRun(spec, { scratchDir, rss: 'none', timeoutMs: env.timeoutMs, signal });
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}

async function oneRun(c, ctx, index, env) {
  const dir = await mkdtemp(join(env.workDir, `${safeName(c.id)}-run${index}-`));
  const run = { index, dir, out: join(dir, 'out'), scratch: join(dir, 'scratch') };
  try {
    await mkdir(run.scratch);
    if (c.before) await c.before(ctx, run);
    const spec = await c.command(ctx, run);
    if (ctx.serverCpuSeconds) await settle(ctx.serverCpuSeconds, ctx.signal);
    const serverCpuBefore = ctx.serverCpuSeconds ? await ctx.serverCpuSeconds() : undefined;
    const result = await timedRun(spec, {
      scratchDir: run.scratch,
      rss: c.measureRss ? env.rssMethod : 'none',
      timeoutMs: env.timeoutMs,
      signal: ctx.signal,
    });
    const serverCpu = serverCpuBefore === undefined ? undefined : (await ctx.serverCpuSeconds()) - serverCpuBefore;
    const checked = (c.after ? await c.after(ctx, run, result) : undefined) ?? {};
    return { ms: result.ms, peakRssBytes: result.peakRssBytes, cpuSeconds: result.cpuSeconds, serverCpuSeconds: serverCpu, ...checked };
  } finally {
    await rm(dir, { recursive: true, force: true });
    // Write-back of one run's output must not slow the next run down.
    await execFileP('sync').catch(() => undefined);
  }
}

/** Waits, up to settleMs, until the server uses less than idleShare of a core over idleWindowMs. */
async function settle(serverCpuSeconds, signal) {
  const deadline = performance.now() + settleMs;
  let before = await serverCpuSeconds();
  while (performance.now() < deadline) {
    await sleep(idleWindowMs, undefined, { signal });
    const now = await serverCpuSeconds();
    if (now - before < (idleShare * idleWindowMs) / 1000) return;
    before = now;
  }
}

function safeName(id) {
  return id.replace(/[^a-z0-9-]/gi, '_');
}

/** The lowest of the defined values, or undefined. */
function lowest(values) {
  const defined = values.filter((x) => x !== undefined && x !== null);
  return defined.length ? Math.min(...defined) : undefined;
}

function summarise(r) {
  const times = r.runs.map((x) => x.ms);
  const rss = r.runs.map((x) => x.peakRssBytes).filter((x) => x !== undefined);
  const last = r.runs.at(-1) ?? {};
  return {
    ...r,
    bestMs: Math.min(...times),
    // CPU seconds, the lowest over the runs like the time (contention only ever adds to them): the
    // client's (GNU time or /proc) and the server's (/proc), when measured.
    cpuSeconds: lowest(r.runs.map((x) => x.cpuSeconds)),
    serverCpuSeconds: lowest(r.runs.map((x) => x.serverCpuSeconds)),
    timesMs: times,
    peakRssBytes: rss.length ? Math.max(...rss) : undefined,
    outputBytes: last.outputBytes,
    files: last.files,
    inputBytes: last.inputBytes,
    binlogBytes: r.runs.some((x) => x.binlogBytes !== undefined) ? Math.max(...r.runs.map((x) => x.binlogBytes ?? 0)) : undefined,
  };
}
