/**
 * The only user of node:child_process. Everything that runs an external program (mariadbd,
 * mariadb-install-db, binlog tools) goes through a ProcessRunner, so tests can run real programs
 * and failures always carry the command and the tail of its stderr.
 *
 * Every wait here is bounded: an abort stops the program (SIGTERM, then SIGKILL after a grace),
 * a program that has exited settles its promise even when its pipes stay open (a grandchild may
 * hold them), and a program that exits while we still write to it fails the write at once. A
 * promise that never settles would let the event loop run dry, and Node would exit with 13.
 */
import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { abortError, ExternalCommandError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to the program's stdin, then closed. */
  input?: string | Buffer;
  /** Stops the program (SIGTERM, then SIGKILL) and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Return instead of throwing when the program exits non-zero. */
  allowFailure?: boolean;
  /** Open file descriptors the program gets as its fds 3, 4, … (an option file it reads as /dev/fd/3). */
  inheritFds?: readonly number[];
}

export interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the program's stdout and stderr go: a file descriptor, or 'ignore'. */
  stdio?: { stdout: number | 'ignore' | 'pipe'; stderr: number | 'ignore' | 'pipe' };
}

export interface RunningProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once the process has ended. */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export interface PipedProcess {
  readonly pid: number;
  /**
   * Destroyed as soon as the program exits, so a writer waiting on it (a pipeline) fails at once
   * instead of waiting for a 'drain' that cannot come.
   */
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /**
   * Settles once the program has ended: rejects with ExternalCommandError (the tail of its stderr)
   * when it exited non-zero, by a signal, or with 0 before its stdin was ended; with the abort's
   * reason when the signal fired.
   */
  readonly done: Promise<void>;
  /** Whether the program has exited. */
  readonly exited: boolean;
  kill(signal?: NodeJS.Signals): void;
  /**
   * Stops the program for good: closes both pipes (a producer blocked on a full pipe is released),
   * sends SIGTERM, then SIGKILL after a grace. Resolves once it has exited (or the wait's bound passed).
   */
  stop(): Promise<void>;
}

export interface ProcessRunner {
  /** Runs a program to completion, collecting its output. Throws ExternalCommandError on failure. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-running program (a server) and returns a handle to it. */
  start(command: string, args: readonly string[], options?: SpawnOptions): RunningProcess;
  /** Starts a program whose stdin and stdout the caller streams (binlog replay pipelines). */
  pipe(command: string, args: readonly string[], options?: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; inheritFds?: readonly number[] }): PipedProcess;
}

const tailBytes = 4000;
/** How long a program gets to end after SIGTERM before SIGKILL. */
const killGraceMs = 3000;
/** How long to wait for a program's pipes to close once it has exited (a grandchild may hold them). */
const closeGraceMs = 2000;

function tail(text: string): string {
  return text.length > tailBytes ? text.slice(-tailBytes) : text;
}

/** The command as errors show it: never the option file's path, never endless arguments. */
function describeCommand(command: string, args: readonly string[]): string {
  return [command, ...args.filter((a) => !a.startsWith('--defaults-extra-file'))].join(' ').slice(0, 300);
}

function spawnError(command: string, e: NodeJS.ErrnoException): ExternalCommandError {
  const hint = e.code === 'ENOENT' ? `${command} is not installed or not on PATH` : undefined;
  return new ExternalCommandError(command, null, e.message, { cause: e, ...(hint ? { hint } : {}) });
}

/** SIGTERM now, SIGKILL after the grace unless the program has ended by then. */
function terminate(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, killGraceMs);
  child.once('exit', () => clearTimeout(timer));
}

/**
 * Calls `onEnd(code)` once: on 'close' (all output read), or `closeGraceMs` after 'exit' when the
 * pipes stay open, or on a spawn error.
 */
function whenEnded(child: ChildProcess, onEnd: (code: number | null, error?: NodeJS.ErrnoException) => void): void {
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  const end = (code: number | null, error?: NodeJS.ErrnoException): void => {
    if (ended) return;
    ended = true;
    if (timer) clearTimeout(timer);
    onEnd(code, error);
  };
  child.on('error', (e: NodeJS.ErrnoException) => {
    // An error after the program started (a failed kill) does not end it; 'exit' will.
    if (child.pid === undefined) end(null, e);
  });
  child.on('exit', (code) => {
    timer = setTimeout(() => {
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      end(code);
    }, closeGraceMs);
  });
  child.on('close', (code: number | null) => end(code));
}

/** Stops `child` when `signal` fires; returns the function that stops listening. */
function stopOnAbort(child: ChildProcess, signal: AbortSignal | undefined): () => void {
  if (!signal) return () => undefined;
  const onAbort = (): void => terminate(child);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

export const nodeProcessRunner: ProcessRunner = {
  run(command, args, options = {}) {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe', ...(options.inheritFds ?? [])] }) as ChildProcessWithoutNullStreams;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      for (const s of [child.stdin, child.stdout, child.stderr]) s.on('error', () => undefined);
      const unlisten = stopOnAbort(child, signal);
      whenEnded(child, (code, error) => {
        unlisten();
        if (error) return reject(spawnError(command, error));
        if (signal?.aborted) return reject(abortError(signal));
        const result = { exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
        if (code === 0 || options.allowFailure) resolve(result);
        else reject(new ExternalCommandError(describeCommand(command, args), code, tail(result.stderr || result.stdout)));
      });
      child.stdin.end(options.input ?? '');
    });
  },

  pipe(command, args, options = {}) {
    const { signal } = options;
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe', ...(options.inheritFds ?? [])] }) as ChildProcessWithoutNullStreams;
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr = tail(stderr + b.toString('utf8'));
    });
    // A consumer that stops reading (or a program that exits early) must not crash the process.
    for (const s of [child.stdin, child.stdout, child.stderr]) s.on('error', () => undefined);
    let exited = false;
    let leftInput = false;
    child.on('exit', () => {
      exited = true;
      // Input not ended, or not all handed over: the program stopped before reading it all.
      leftInput = !child.stdin.writableEnded || child.stdin.writableLength > 0;
      // Whoever still writes must fail now: the program will never read it.
      if (!child.stdin.writableFinished) child.stdin.destroy();
    });
    const unlisten = stopOnAbort(child, signal);
    const done = new Promise<void>((resolve, reject) => {
      whenEnded(child, (code, error) => {
        unlisten();
        if (error) return reject(spawnError(command, error));
        if (signal?.aborted) return reject(abortError(signal));
        if (code !== 0) return reject(new ExternalCommandError(describeCommand(command, args), code, stderr));
        if (leftInput) return reject(new ExternalCommandError(describeCommand(command, args), code, `${stderr}\n(it ended before reading all its input)`));
        resolve();
      });
    });
    done.catch(() => undefined);
    if (signal?.aborted) terminate(child);
    return {
      pid: child.pid ?? -1,
      stdin: child.stdin,
      stdout: child.stdout,
      done,
      get exited() {
        return exited;
      },
      kill: (sig = 'SIGTERM') => {
        child.kill(sig);
      },
      stop: async () => {
        child.stdin.destroy();
        child.stdout.destroy();
        terminate(child);
        await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, killGraceMs + closeGraceMs + 1000).unref())]);
      },
    };
  },

  start(command, args, options = {}) {
    const stdio = options.stdio ?? { stdout: 'ignore', stderr: 'ignore' };
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', stdio.stdout, stdio.stderr],
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => resolve(code));
      child.on('error', () => {
        if (child.pid === undefined) resolve(null);
      });
    });
    return {
      pid: child.pid ?? -1,
      child,
      exited,
      kill: (signal = 'SIGTERM') => {
        child.kill(signal);
      },
    };
  },
};
