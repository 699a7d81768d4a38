/**
 * A container's main process: started in a process group of its own (so that stopping the
 * container reaches everything it started), its stdout and stderr kept together as the pod's
 * log, stopped the way the kubelet stops a container (SIGTERM, then SIGKILL after the grace
 * period). `exited` resolves with the exit code as a container runtime reports it (128 + signal).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** The pod's log, kept in memory with a bound (the oldest output goes first); followable. */
export class PodLog {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Chunks dropped from the head so far (follower positions count from the first chunk ever). */
  private dropped = 0;
  private closed = false;
  private waiters: (() => void)[] = [];
  private readonly limit: number;

  constructor(limitBytes = 8 * 1024 * 1024) {
    this.limit = limitBytes;
  }

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
      this.dropped += 1;
    }
    this.wake();
  }

  /** No more output will come (the pod has finished): followers end. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** The output so far, then each new chunk as it comes, until close() (`kubectl logs -f`). */
  async *follow(): AsyncGenerator<Buffer> {
    let next = this.dropped;
    for (;;) {
      next = Math.max(next, this.dropped);
      while (next - this.dropped < this.chunks.length) {
        const chunk = this.chunks[next - this.dropped];
        next += 1;
        if (chunk) yield chunk;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export interface ContainerProcess {
  readonly pid: number | undefined;
  /** The exit code (128 + n when killed by signal n); rejects only if the process could not start. */
  readonly exited: Promise<number>;
  /** SIGTERM to the group, SIGKILL after `graceMs` if it is still running; resolves when it has exited. */
  stop(graceMs: number): Promise<void>;
}

/** Starts argv[0] with argv[1..] in `cwd` with exactly `env`, appending its output to `log`. */
export function startContainerProcess(argv: readonly string[], env: Record<string, string>, cwd: string, log: PodLog): ContainerProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('empty argv');
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.on('data', (b: Buffer) => log.append(b));
  child.stderr.on('data', (b: Buffer) => log.append(b));
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    // The container ends with its main process: nothing it started outlives it (and holds the
    // log pipes open). 'close' then comes once the output is all read.
    child.on('exit', () => signalGroup('SIGKILL'));
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 9)));
  });
  const settled = exited.then(
    () => undefined,
    () => undefined,
  );
  return {
    pid: child.pid,
    exited,
    async stop(graceMs) {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await settled;
      clearTimeout(timer);
    },
  };
}
