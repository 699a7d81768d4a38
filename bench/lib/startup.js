/**
 * Start-up timings (issue 12): how long the built CLI takes to answer `--version`, `--help` and a
 * command's `--help`, and to start and finish a real command that does little (`backup list` of an
 * empty PVC profile, which loads the config and reads the storage but never connects to MySQL).
 * No server is needed. Each command runs once untimed first (it fills the OS page cache and
 * Node's compile cache, as any earlier run on the machine would have), then `runs` times; the
 * median counts. Wall time from spawn to exit, so Node's own start is included; and the CPU
 * seconds (user + system) of the run, the steadier figure when other work shares the machine.
 *
 * Run with `npm run bench -- --only startup [--runs N]`.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Seconds `--version` and `--help` must answer within (issue 12, deliver 4). */
export const startupTargetSeconds = 0.25;

/** Timed runs of each command unless --runs says otherwise. */
export const defaultStartupRuns = 10;

/**
 * The start-up pass's options when argv asks for it (`--only startup`, with an optional `--runs N`),
 * else null: the rest of the benchmark parses its own options.
 * @param {string[]} argv
 * @returns {{ runs: number } | null}
 * @throws {Error} when --runs is not a whole number ≥ 1, or an option other than those is given
 */
export function startupOptions(argv) {
  const only = argv.findIndex((a, i) => a === '--only=startup' || (a === '--only' && argv[i + 1] === 'startup'));
  if (only === -1) return null;
  const rest = argv.filter((_, i) => i !== only && !(argv[only] === '--only' && i === only + 1));
  let runs = defaultStartupRuns;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--runs' || arg?.startsWith('--runs=')) {
      const text = arg === '--runs' ? rest[++i] : arg.slice('--runs='.length);
      runs = Number(text);
      if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs wants a whole number ≥ 1, not "${text}"`);
    } else if (arg !== '--no-install') {
      throw new Error(`--only startup takes only --runs N, not "${arg}"`);
    }
  }
  return { runs };
}

/** The median of a non-empty list of numbers. */
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * CPU seconds (user + system) of this process's children that have exited and been waited for:
 * cutime + cstime of /proc/self/stat, in clock ticks of 10 ms. Null where /proc is missing.
 */
async function childrenCpuSeconds() {
  try {
    const stat = await readFile('/proc/self/stat', 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, cutime 16, cstime 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return null;
  }
}

/**
 * One run of `node ...cli ...args`: its wall seconds and CPU seconds (null without /proc);
 * throws with its stderr if it failed.
 */
async function timeOnce(nodeBin, args, cwd) {
  const cpuBefore = await childrenCpuSeconds();
  const wall = await new Promise((resolve, reject) => {
    const t = performance.now();
    execFile(nodeBin, args, { cwd, encoding: 'utf8' }, (err, _stdout, stderr) => {
      const seconds = (performance.now() - t) / 1000;
      if (err) reject(new Error(`${args.slice(-3).join(' ')} failed: ${err.message}\n${stderr.trim().split('\n').slice(-5).join('\n')}`));
      else resolve(seconds);
    });
  });
  const cpuAfter = await childrenCpuSeconds();
  return { wall, cpu: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore };
}

/**
 * Times the start-up cases, one after the other.
 * @param {{ nodeBin: string, cli: string[], runs: number, log?: (line: string) => void }} input
 *   cli: the arguments before the command (the launcher's Node flags and bin/run.js, launcher.js)
 * @returns {Promise<{ id: string, args: string[], target: number | null, first: number, median: number, min: number, max: number, cpu: number | null, runs: number }[]>}
 *   seconds: first, median, min and max of wall time, cpu the median CPU seconds (null without
 *   /proc); target is startupTargetSeconds for `--version` and `--help`, else null
 */
export async function runStartup({ nodeBin, cli, runs, log = () => {} }) {
  const dir = await mkdtemp(join(tmpdir(), 'bloodraven-startup-'));
  try {
    const storage = join(dir, 'backups');
    await mkdir(storage);
    const config = join(dir, 'bloodraven.yaml');
    await writeFile(
      config,
      ['name: startup', 'mysql: { host: 127.0.0.1, user: root }', 'backup:', '  profiles:', '    - name: startup', `      storage: { type: PVC, pvc: { path: ${JSON.stringify(storage)} } }`, ''].join('\n'),
    );
    const cases = [
      { id: '--version', args: ['--version'], target: startupTargetSeconds },
      { id: '--help', args: ['--help'], target: startupTargetSeconds },
      { id: 'backup list --help', args: ['backup', 'list', '--help'], target: null },
      { id: 'backup list (empty profile)', args: ['backup', 'list', '--config', config], target: null },
    ];
    const results = [];
    for (const c of cases) {
      const first = (await timeOnce(nodeBin, [...cli, ...c.args], dir)).wall;
      const timed = [];
      for (let i = 0; i < runs; i++) timed.push(await timeOnce(nodeBin, [...cli, ...c.args], dir));
      const times = timed.map((t) => t.wall);
      const cpu = timed.every((t) => t.cpu !== null) ? median(timed.map((t) => t.cpu)) : null;
      const result = { id: c.id, args: c.args, target: c.target, first, median: median(times), min: Math.min(...times), max: Math.max(...times), cpu, runs };
      log(renderStartupLine(result));
      results.push(result);
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One result as a report line: median, spread, first run, and the target when it has one. */
export function renderStartupLine(r) {
  const s = (x) => `${x.toFixed(3)} s`;
  const verdict = r.target === null ? '' : `   target ≤ ${s(r.target)}: ${r.median <= r.target ? 'met' : `MISSED (${(r.median / r.target).toFixed(2)}×)`}`;
  const cpu = r.cpu === null ? '' : `, CPU ${s(r.cpu)}`;
  return `  ${r.id.padEnd(28)} median ${s(r.median)} of ${r.runs} (${s(r.min)}–${s(r.max)})${cpu}, first ${s(r.first)}${verdict}`;
}
