/**
 * Throwaway MariaDB/MySQL servers started from the local binaries: a temporary datadir, a free
 * loopback port, binary logging on. Used by the tests, by the quick start, and (later) by
 * `verify --scratch sandbox`. A sandbox is stopped cleanly with stop(); crash() kills it hard,
 * for tests of what happens when a server dies.
 */
import { access, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection } from 'mysql2/promise';
import { AppError, ExitCode, throwIfAborted } from '../errors.js';
import type { ProcessRunner, RunningProcess } from '../process.js';
import { atLastResort, removeTreeSync, waitDeadSync } from '../last-resort.js';
import { sandboxFolderPrefix, sandboxServerPidFile, writeOwner } from '../private-temp.js';

export interface SandboxOptions {
  runner: ProcessRunner;
  /** Parent folder for the datadir; a new temp folder is made inside it. Default: the OS temp dir. */
  baseDir?: string;
  serverId?: number;
  /** Binary logging; on by default because backups record binlog coordinates. */
  binlog?: boolean;
  /** Extra mariadbd options, e.g. ['--gtid-strict-mode=1']. */
  extraArgs?: readonly string[];
  /** Keep the datadir after stop() (for debugging). */
  keepDatadir?: boolean;
  startTimeoutMs?: number;
  /** Stops the start-up: the server is killed, its files removed, and start fails with the signal's reason. */
  signal?: AbortSignal;
}

export interface Sandbox {
  readonly host: string;
  readonly port: number;
  readonly socket: string;
  readonly datadir: string;
  readonly serverId: number;
  /** Root has no password; connect over the socket or TCP as root. */
  readonly user: 'root';
  /**
   * Shuts the server down (SIGTERM; SIGKILL once `graceMs`, default 30 s, have passed) and
   * removes its files.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Kills the server with SIGKILL, as a crash would; files stay until stop(). */
  crash(): Promise<void>;
  /** Starts the server again on the same datadir and port (after crash() or a clean stop of the process). */
  restart(): Promise<void>;
}

const serverCandidates = ['mariadbd', 'mysqld'];
const installCandidates = ['mariadb-install-db', 'mysql_install_db'];
const searchDirs = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/local/mysql/bin'];

async function findBinary(names: readonly string[]): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...searchDirs];
  for (const name of names) {
    for (const dir of dirs) {
      const path = join(dir, name);
      try {
        await access(path, fsConstants.X_OK);
        return path;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

export async function findServerBinaries(): Promise<{ server: string; install: string } | undefined> {
  const server = await findBinary(serverCandidates);
  const install = await findBinary(installCandidates);
  return server && install ? { server, install } : undefined;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The longest Unix socket path that can be bound (sun_path is 108 bytes, its NUL included). */
const maxSocketPathBytes = 107;

let nextServerId = 1000 + (process.pid % 1000) * 10;

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const binaries = await findServerBinaries();
  if (!binaries) {
    throw new AppError('SANDBOX_NO_SERVER', 'no local MariaDB or MySQL server binary (mariadbd/mysqld and mariadb-install-db) was found', ExitCode.precondition, {
      hint: 'install one: apt-get install -y mariadb-server',
    });
  }
  const base = options.baseDir ?? tmpdir();
  await mkdir(base, { recursive: true });
  const root = await mkdtemp(join(base, sandboxFolderPrefix));
  // Should this process be killed outright, the next run's sweep knows whose server this was.
  await writeOwner(root);
  const datadir = join(root, 'data');
  // A Unix socket's path must fit sun_path (108 bytes with its NUL): under a deep TMPDIR (a test
  // cluster's pod folder, say) the socket goes into a short folder of its own under /tmp instead.
  let socket = join(root, 'mysqld.sock');
  let socketDir: string | undefined;
  if (Buffer.byteLength(socket) > maxSocketPathBytes) {
    socketDir = await mkdtemp(join('/tmp', 'bloodraven-sock-'));
    socket = join(socketDir, 'mysqld.sock');
  }
  const serverId = options.serverId ?? nextServerId++;
  // A private tmpdir: the server's temporary tables never meet another server's (or a cleaner's).
  const tmp = join(root, 'tmp');
  await mkdir(tmp);
  const common = ['--no-defaults', `--tmpdir=${tmp}`];
  // Small redo log and buffer pool: sandboxes are many and short-lived.
  const sizing = ['--innodb-log-file-size=16M', '--innodb-buffer-pool-size=128M'];
  const { signal } = options;
  const errorLog = join(root, 'error.log');
  // --user=root lets a server run by root start (it refuses otherwise); any other user (a pod's
  // uid 27) runs the server as itself, and must not pass it: mariadb-install-db would try to
  // chown the datadir to root, and fail.
  const asUser = process.getuid?.() === 0 ? ['--user=root'] : [];
  const args = [
    ...common,
    `--datadir=${datadir}`,
    `--socket=${socket}`,
    '--bind-address=127.0.0.1',
    ...asUser,
    `--server-id=${serverId}`,
    `--pid-file=${join(root, 'mysqld.pid')}`,
    `--log-error=${errorLog}`,
    '--local-infile=1',
    ...(options.binlog === false ? [] : [`--log-bin=${join(datadir, 'binlog')}`, '--binlog-format=ROW']),
    ...sizing,
    ...(options.extraArgs ?? []),
  ];

  let port = 0;
  let proc: RunningProcess | undefined;
  const launch = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      if (port === 0 || attempt > 1) port = await freePort();
      proc = options.runner.start(binaries.server, [...args, `--port=${port}`]);
      await recordServerPid(root, proc.pid);
      try {
        await waitReady(socket, proc, errorLog, options.startTimeoutMs ?? 60_000, signal);
        return;
      } catch (err) {
        proc.kill('SIGKILL');
        await proc.exited;
        // Another process may have taken the port between freePort() and the bind.
        if (attempt < 3 && err instanceof AppError && err.code === 'SANDBOX_PORT_IN_USE') continue;
        throw err;
      }
    }
  };
  const relaunch = async (): Promise<void> => {
    proc = options.runner.start(binaries.server, [...args, `--port=${port}`]);
    await recordServerPid(root, proc.pid);
    await waitReady(socket, proc, errorLog, options.startTimeoutMs ?? 60_000, undefined);
  };

  // Should the process end without stopping it (a second Ctrl-C), the server must not run on.
  const dropLastResort = atLastResort(() => {
    const killed = proc;
    killed?.kill('SIGKILL');
    // The killed server may still be writing for a moment (its shutdown, begun by the first
    // Ctrl-C, creates files), and stop()'s own removal may be under way: wait for the server to
    // be dead, then remove until the folder is gone.
    if (killed) waitDeadSync(killed.pid, 3_000);
    if (!options.keepDatadir) removeTreeSync(root, 3_000);
    if (socketDir) removeTreeSync(socketDir, 3_000);
  });
  try {
    await options.runner.run(
      binaries.install,
      [...common, `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...asUser, ...sizing],
      signal ? { signal } : {},
    );
    throwIfAborted(signal);
    await launch();
  } catch (err) {
    if (!options.keepDatadir) await rm(root, { recursive: true, force: true });
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
    dropLastResort();
    throwIfAborted(signal);
    throw err;
  }

  let stopped = false;
  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    socket,
    datadir,
    serverId,
    user: 'root',
    async stop(stopOptions = {}) {
      if (stopped) return;
      stopped = true;
      const p = proc;
      if (p) {
        p.kill('SIGTERM');
        // The timer must not outlive a quick shutdown: it would keep the caller's process alive.
        const timer = new AbortController();
        const exited = await Promise.race([
          p.exited.then(() => true),
          sleep(stopOptions.graceMs ?? 30_000, false, { signal: timer.signal }).catch(() => true),
        ]);
        timer.abort();
        if (!exited) {
          p.kill('SIGKILL');
          await p.exited;
        }
      }
      if (!options.keepDatadir) await rm(root, { recursive: true, force: true });
      if (socketDir) await rm(socketDir, { recursive: true, force: true });
      dropLastResort();
    },
    async crash() {
      const p = proc;
      if (!p) return;
      p.kill('SIGKILL');
      await p.exited;
    },
    async restart() {
      if (proc) {
        proc.kill('SIGTERM');
        await proc.exited;
      }
      await relaunch();
    },
  };
}

/** Where the sweep of a dead run's sandbox finds the server to stop (private-temp.ts). */
async function recordServerPid(root: string, pid: number): Promise<void> {
  await writeFile(join(root, sandboxServerPidFile), `${pid}\n`, { mode: 0o600 });
}

async function waitReady(socket: string, proc: RunningProcess, errorLog: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void proc.exited.then((code) => {
    exitCode = code;
  });
  for (;;) {
    throwIfAborted(signal);
    if (exitCode !== undefined) {
      const log = await readTail(errorLog);
      const inUse = /Address already in use|Can't start server: Bind on TCP\/IP port/.test(log);
      throw new AppError(inUse ? 'SANDBOX_PORT_IN_USE' : 'SANDBOX_START_FAILED', `the sandbox server exited during start-up (code ${exitCode}):\n${log}`);
    }
    try {
      const conn = await createConnection({ socketPath: socket, user: 'root', connectTimeout: 1000 });
      await conn.end();
      return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      throw new AppError('SANDBOX_START_TIMEOUT', `the sandbox server did not accept connections within ${timeoutMs} ms:\n${await readTail(errorLog)}`);
    }
    await sleep(50);
  }
}

async function readTail(path: string): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.split('\n').slice(-15).join('\n');
  } catch {
    return '(no error log)';
  }
}

