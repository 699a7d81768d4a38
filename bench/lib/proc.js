/**
 * Timed runs of the tools under test: wall-clock time and peak resident set size.
 *
 * Each command runs in its own process group so that an interrupt or a timeout can end the
 * whole of it (GNU time and its child, or every member of a shell pipeline) at once.
 */
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';

const gnuTime = '/usr/bin/time';

/** A timed command failed, timed out or was interrupted; the message says which, with its stderr. */
export class RunFailed extends Error {
  name = 'RunFailed';
}

/**
 * How peak RSS is measured on this machine: 'gnu-time' (GNU time's %M: the largest resident set
 * of the command or any process it waited for), else 'proc' (polling VmHWM of the started
 * process in /proc; covers that one process only).
 * @returns {Promise<'gnu-time' | 'proc'>}
 */
export async function detectRssMethod() {
  try {
    await access(gnuTime, fsConstants.X_OK);
  } catch {
    return 'proc';
  }
  // BusyBox time has no -o; make sure this one writes a number where we expect it.
  const dir = await mkdtemp(join(tmpdir(), 'bloodraven-bench-time-'));
  try {
    const file = join(dir, 'rss');
    const code = await new Promise((resolve) => {
      const child = spawn(gnuTime, ['-f', '%M', '-o', file, 'true'], { stdio: 'ignore' });
      child.on('error', () => resolve(-1));
      child.on('exit', (c) => resolve(c));
    });
    if (code !== 0) return 'proc';
    return parseLastInt(await readFile(file, 'utf8')) === undefined ? 'proc' : 'gnu-time';
  } catch {
    return 'proc';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function parseLastInt(text) {
  const last = text.trim().split('\n').pop() ?? '';
  return /^\d+$/.test(last.trim()) ? Number(last.trim()) : undefined;
}

/**
 * Samples the CPU seconds (utime + stime, own only) of every live process in the process group
 * `pgid` (the timed command and everything it started: the command runs detached, as a group's
 * leader) into `seen` (pid -> seconds). Summed over `seen`, that is the command's CPU so far,
 * short of what each process used after its last sample.
 * @param {number} pgid
 * @param {Map<number, number>} seen
 */
async function sampleGroupCpu(pgid, seen) {
  let pids;
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        // The fields after the command name (which may hold spaces) start after its closing parenthesis.
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(f[2]) !== pgid) return;
        seen.set(Number(pid), (Number(f[11]) + Number(f[12])) / 100); // USER_HZ is 100 on Linux
      } catch {
        // gone meanwhile
      }
    }),
  );
}

async function readVmHwmKib(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

async function tailOf(path, bytes = 3000) {
  try {
    const text = await readFile(path, 'utf8');
    return text.length > bytes ? `…${text.slice(-bytes)}` : text;
  } catch {
    return '';
  }
}

/**
 * @typedef {object} CommandSpec
 * @property {string} file            program to run
 * @property {string[]} args
 * @property {string} [cwd]
 * @property {NodeJS.ProcessEnv} [env]
 * @property {'pipe' | 'ignore'} [stdout]  'pipe' collects stdout into the result (default 'ignore')
 * @property {string} [display]       how to show the command in messages
 */

/**
 * @typedef {object} TimedResult
 * @property {number} ms                       wall-clock time from spawn to exit, in milliseconds
 * @property {string} stdout                   collected stdout ('' unless spec.stdout is 'pipe')
 * @property {string} stderrPath               file holding the command's stderr
 * @property {number | undefined} peakRssBytes
 * @property {number | undefined} cpuSeconds   user + system CPU seconds of the command and every process it
 *                                             waited for (GNU time %U + %S); with 'proc', the sum of /proc samples
 *                                             of every process of its process group, each short of its last 50 ms
 */

/**
 * Runs one command to completion and measures it. Throws when it fails, times out or is aborted.
 * @param {CommandSpec} spec
 * @param {{ scratchDir: string, rss: 'gnu-time' | 'proc' | 'none', timeoutMs: number, signal: AbortSignal }} opts
 * @returns {Promise<TimedResult>}
 */
export async function timedRun(spec, opts) {
  opts.signal.throwIfAborted();
  const stderrPath = join(opts.scratchDir, 'stderr.log');
  const rssPath = join(opts.scratchDir, 'time-rss');
  const [file, args] =
    opts.rss === 'gnu-time' ? [gnuTime, ['-f', '%M %U %S', '-o', rssPath, spec.file, ...spec.args]] : [spec.file, spec.args];
  const display = spec.display ?? [spec.file, ...spec.args].join(' ');

  const errFile = await open(stderrPath, 'w');
  let child;
  const start = performance.now();
  try {
    child = spawn(file, args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', spec.stdout === 'pipe' ? 'pipe' : 'ignore', errFile.fd],
    });
  } finally {
    await errFile.close();
  }

  const out = [];
  child.stdout?.on('data', (b) => out.push(b));

  let peakKib;
  let cpuSeconds;
  /** @type {Map<number, number>} */
  const groupCpu = new Map();
  let sampling = false;
  let poller;
  if (opts.rss === 'proc' && child.pid) {
    const pid = child.pid;
    poller = setInterval(() => {
      void readVmHwmKib(pid).then((k) => {
        if (k !== undefined && (peakKib === undefined || k > peakKib)) peakKib = k;
      });
      if (!sampling) {
        sampling = true;
        void sampleGroupCpu(pid, groupCpu).finally(() => {
          sampling = false;
        });
      }
    }, 50);
  }

  let stopReason;
  const stop = (reason) => {
    if (stopReason || !child.pid) return;
    stopReason = reason;
    killGroup(child.pid, 'SIGTERM');
    setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000).unref();
  };
  const onAbort = () => stop('interrupted');
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop(`timed out after ${Math.round(opts.timeoutMs / 1000)} s`), opts.timeoutMs);

  /** @type {{ code: number | null, sig: string | null, error?: Error }} */
  const ended = await new Promise((resolve) => {
    child.on('error', (error) => resolve({ code: null, sig: null, error }));
    child.on('close', (code, sig) => resolve({ code, sig }));
  });
  const ms = Math.round(performance.now() - start);
  clearTimeout(timer);
  if (poller) clearInterval(poller);
  opts.signal.removeEventListener('abort', onAbort);
  // The process group may hold stragglers (a pipeline member that outlived its shell).
  if (child.pid) killGroup(child.pid, 'SIGKILL');

  const stdout = Buffer.concat(out).toString('utf8');
  if (ended.error) throw new RunFailed(`${display}: could not start: ${ended.error.message}`, { cause: ended.error });
  if (stopReason) throw new RunFailed(`${display}: ${stopReason}\n${await tailOf(stderrPath)}`);
  if (ended.code !== 0) {
    const how = ended.sig ? `was killed by ${ended.sig}` : `exited with code ${ended.code}`;
    const detail = [await tailOf(stderrPath), spec.stdout === 'pipe' ? stdout.slice(-2000) : ''].filter(Boolean).join('\n');
    throw new RunFailed(`${display} ${how}:\n${detail}`);
  }
  if (opts.rss === 'proc' && groupCpu.size) cpuSeconds = [...groupCpu.values()].reduce((x, y) => x + y, 0);
  if (opts.rss === 'gnu-time') {
    // "%M %U %S": peak RSS in KiB, then user and system CPU seconds of the command and its children.
    const m = /^(\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)\s*$/.exec((await readFile(rssPath, 'utf8').catch(() => '')).trim().split('\n').pop() ?? '');
    peakKib = m ? Number(m[1]) : undefined;
    cpuSeconds = m ? Number(m[2]) + Number(m[3]) : undefined;
  }
  return { ms, stdout, stderrPath, peakRssBytes: peakKib === undefined ? undefined : peakKib * 1024, cpuSeconds };
}
