/**
 * The only user of node:child_process. Everything that runs an external program (mariadbd,
 * mariadb-install-db, binlog tools) goes through a ProcessRunner, so tests can run real programs
 * and failures always carry the command and the tail of its stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ExternalCommandError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Bytes written to the program's stdin, then closed. */
  input?: string | Buffer;
  signal?: AbortSignal;
  /** Return instead of throwing when the program exits non-zero. */
  allowFailure?: boolean;
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
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  /** Resolves once the process has ended; rejects with ExternalCommandError (stderr's tail) when it failed. */
  readonly done: Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export interface ProcessRunner {
  /** Runs a program to completion, collecting its output. Throws ExternalCommandError on failure. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-running program (a server) and returns a handle to it. */
  start(command: string, args: readonly string[], options?: SpawnOptions): RunningProcess;
  /** Starts a program whose stdin and stdout the caller streams (binlog replay pipelines). */
  pipe(command: string, args: readonly string[], options?: { env?: NodeJS.ProcessEnv; signal?: AbortSignal }): PipedProcess;
}

const tailBytes = 4000;

function tail(text: string): string {
  return text.length > tailBytes ? text.slice(-tailBytes) : text;
}

export const nodeProcessRunner: ProcessRunner = {
  run(command, args, options = {}) {
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        signal: options.signal,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e: NodeJS.ErrnoException) => {
        const hint = e.code === 'ENOENT' ? `${command} is not installed or not on PATH` : undefined;
        reject(new ExternalCommandError(command, null, e.message, { cause: e, ...(hint ? { hint } : {}) }));
      });
      child.on('close', (code) => {
        const result = { exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
        if (code === 0 || options.allowFailure) resolve(result);
        else reject(new ExternalCommandError(`${command} ${args.join(' ')}`.slice(0, 300), code, tail(result.stderr || result.stdout)));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input ?? '');
    });
  },

  pipe(command, args, options = {}) {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], signal: options.signal });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr = tail(stderr + b.toString('utf8'));
    });
    // A consumer that stops reading (or a child that exits early) must not crash the process.
    child.stdin.on('error', () => undefined);
    const done = new Promise<void>((resolve, reject) => {
      child.on('error', (e: NodeJS.ErrnoException) => {
        const hint = e.code === 'ENOENT' ? `${command} is not installed or not on PATH` : undefined;
        reject(new ExternalCommandError(command, null, e.message, { cause: e, ...(hint ? { hint } : {}) }));
      });
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new ExternalCommandError(`${command} ${args.filter((a) => !a.startsWith('--defaults-extra-file')).join(' ')}`.slice(0, 300), code, stderr));
      });
    });
    done.catch(() => undefined);
    return { stdin: child.stdin, stdout: child.stdout, done, kill: (signal = 'SIGTERM') => child.kill(signal) };
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
      child.on('error', () => resolve(null));
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
