/**
 * Runs a pass: every case of the pass `runs` times, round-robin (a, b, c, a, b, c, …) so slow
 * drift of the machine does not favour whichever tool went first; each run in a fresh folder,
 * deleted once measured. The best (shortest) time counts.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { timedRun } from './proc.js';
import { formatMs, formatBytes } from './report.js';

const execFileP = promisify(execFile);

/**
 * @param {{ id: string, runs: number, cases: object[] }} pass
 * @param {{ ctx: object, workDir: string, rssMethod: 'gnu-time' | 'proc', timeoutMs: number, log: (line: string) => void }} env
 */
export async function runPass(pass, env) {
  const { ctx, log } = env;
  const results = pass.cases.map((c) => ({ id: c.id, label: c.label, detail: c.detail, runs: [] }));
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
          run.cpuSeconds === undefined ? '' : `CPU ${run.cpuSeconds.toFixed(2)} s`,
          run.serverCpuSeconds === undefined ? '' : `server CPU ${run.serverCpuSeconds.toFixed(2)} s`,
        ]
          .filter(Boolean)
          .join(', ');
        log(`  run ${i}/${pass.runs}  ${c.label.padEnd(28)} ${formatMs(run.ms).padStart(8)}  (${detail}${rss})`);
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

function safeName(id) {
  return id.replace(/[^a-z0-9-]/gi, '_');
}

function summarise(r) {
  const times = r.runs.map((x) => x.ms);
  const rss = r.runs.map((x) => x.peakRssBytes).filter((x) => x !== undefined);
  const last = r.runs.at(-1) ?? {};
  const best = r.runs.reduce((a, b) => (b.ms < a.ms ? b : a), r.runs[0] ?? {});
  return {
    ...r,
    bestMs: Math.min(...times),
    // CPU seconds of the best run: the client's (GNU time) and the server's (/proc), when measured.
    cpuSeconds: best.cpuSeconds,
    serverCpuSeconds: best.serverCpuSeconds,
    timesMs: times,
    peakRssBytes: rss.length ? Math.max(...rss) : undefined,
    outputBytes: last.outputBytes,
    files: last.files,
    inputBytes: last.inputBytes,
    binlogBytes: r.runs.some((x) => x.binlogBytes !== undefined) ? Math.max(...r.runs.map((x) => x.binlogBytes ?? 0)) : undefined,
  };
}
