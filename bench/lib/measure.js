/**
 * Runs a pass: every case of the pass `runs` times, round-robin (a, b, c, a, b, c, …) so slow
 * drift of the machine does not favour whichever tool went first; each run in a fresh folder,
 * deleted once measured. The best (shortest) time counts.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
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
  try {
    for (const c of pass.cases) {
      if (c.prepare) await c.prepare({ ...ctx, state: states.get(c.id) });
      prepared.push(c);
    }
    for (let i = 1; i <= pass.runs; i++) {
      for (const [k, c] of pass.cases.entries()) {
        const caseCtx = { ...ctx, state: states.get(c.id) };
        const run = await oneRun(c, caseCtx, i, env);
        results[k].runs.push(run);
        const rss = run.peakRssBytes === undefined ? '' : `, peak RSS ${formatBytes(run.peakRssBytes)}`;
        log(`  run ${i}/${pass.runs}  ${c.label.padEnd(24)} ${formatMs(run.ms).padStart(8)}  (${formatBytes(run.outputBytes ?? 0)}${rss})`);
      }
    }
  } finally {
    for (const c of prepared) if (c.cleanup) await c.cleanup({ ...ctx, state: states.get(c.id) });
  }
  return results.map(summarise);
}

async function oneRun(c, ctx, index, env) {
  const dir = await mkdtemp(join(env.workDir, `${safeName(c.id)}-run${index}-`));
  const run = { index, dir, out: join(dir, 'out'), scratch: join(dir, 'scratch') };
  try {
    await mkdir(run.scratch);
    if (c.before) await c.before(ctx, run);
    const spec = await c.command(ctx, run);
    const result = await timedRun(spec, {
      scratchDir: run.scratch,
      rss: c.measureRss ? env.rssMethod : 'none',
      timeoutMs: env.timeoutMs,
      signal: ctx.signal,
    });
    const checked = (c.after ? await c.after(ctx, run, result) : undefined) ?? {};
    return { ms: result.ms, peakRssBytes: result.peakRssBytes, ...checked };
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
  return {
    ...r,
    bestMs: Math.min(...times),
    timesMs: times,
    peakRssBytes: rss.length ? Math.max(...rss) : undefined,
    outputBytes: last.outputBytes,
    files: last.files,
  };
}
