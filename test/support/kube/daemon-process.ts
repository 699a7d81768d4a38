/**
 * `bloodraven daemon --kubernetes` as a real process against the test cluster, as a user runs it:
 * the built CLI, KUBECONFIG in its environment, a free loopback port for its HTTP endpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { cliBin } from '../cli.js';

export interface DaemonProcess {
  readonly url: string;
  readonly identity: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** GET a path of its HTTP server; the body as text. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** The value of one series in /metrics (undefined when absent). */
  metric(series: string): Promise<number | undefined>;
  /** SIGTERM, then wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crashed pod: the Lease is not released. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startDaemon(options: { kubeconfig: string; identity: string; home: string; leaseNamespace?: string; leaseSeconds?: number; extraArgs?: string[] }): Promise<DaemonProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    process.execPath,
    [cliBin, 'daemon', '--kubernetes', '--listen', `127.0.0.1:${port}`, '--lease-duration-seconds', String(options.leaseSeconds ?? 3), ...(options.extraArgs ?? [])],
    {
      env: {
        PATH: process.env.PATH,
        HOME: options.home,
        KUBECONFIG: options.kubeconfig,
        POD_NAME: options.identity,
        POD_NAMESPACE: options.leaseNamespace ?? 'default',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(url + path);
    return { status: res.status, body: await res.text() };
  };
  // Up once /healthz answers.
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the daemon exited (${child.exitCode}) before serving:\n${out}`);
    try {
      if ((await get('/healthz')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 300) {
      child.kill('SIGKILL');
      throw new Error(`the daemon did not serve /healthz within 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    identity: options.identity,
    output: () => out,
    get,
    async metric(series) {
      const { body } = await get('/metrics');
      const line = body.split('\n').find((l) => l.startsWith(series + ' '));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    exited,
  };
}
