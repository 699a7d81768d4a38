/**
 * Scratch servers for verification: a sandbox started from the local server binaries and thrown
 * away afterwards, or an existing server named by a mysql:// URL (its password from a file:
 * passwords never travel on the command line).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { createMysqlConnector } from '../mysql/connection.js';
import { startSandbox } from '../mysql/sandbox.js';
import type { ProcessRunner } from '../process.js';
import type { ScratchNeeds, ScratchServer } from './verify-backup.js';

/** The bound on the scratch server's silence (mysql.unresponsiveTimeout), and how the user set it. */
export interface ScratchWatchSettings {
  unresponsiveTimeoutMs: number;
  settingName: string;
}

function watchOptions(watch: ScratchWatchSettings | undefined): { unresponsiveTimeoutMs?: number; settingNames?: { address: string; account: string; unresponsiveTimeout: string } } {
  if (!watch) return {};
  return { unresponsiveTimeoutMs: watch.unresponsiveTimeoutMs, settingNames: { address: '--scratch', account: '--scratch and --scratch-password-file', unresponsiveTimeout: watch.settingName } };
}

/** A throwaway sandbox, sized for the backup: its max_allowed_packet takes the backup's largest row. */
export function sandboxScratch(runner: ProcessRunner, extraArgs: readonly string[] = [], watch?: ScratchWatchSettings): (needs: ScratchNeeds, signal: AbortSignal) => Promise<ScratchServer> {
  return async (needs, signal) => {
    const sandbox = await startSandbox({
      runner,
      extraArgs: ['--innodb-buffer-pool-size=512M', '--innodb-log-file-size=256M', `--max-allowed-packet=${needs.maxAllowedPacket}`, ...extraArgs],
      signal,
    });
    return {
      connector: createMysqlConnector({ socket: sandbox.socket, user: 'root', ...watchOptions(watch) }),
      description: `sandbox (${sandbox.datadir})`,
      // Its files are thrown away: a server slow to shut down (an interrupted load) is killed soon.
      release: () => sandbox.stop({ graceMs: 5000 }),
    };
  };
}

/** `mysql://user@host:port`; the password, if any, from `passwordFile`. */
export function urlScratch(url: string, passwordFile: string | undefined, watch?: ScratchWatchSettings): () => Promise<ScratchServer> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError([{ path: '--scratch', message: `"${url}" is neither "sandbox" nor a mysql://user@host:port URL` }]);
  }
  if (parsed.protocol !== 'mysql:' || !parsed.hostname) {
    throw new ConfigError([{ path: '--scratch', message: `"${url}" is neither "sandbox" nor a mysql://user@host:port URL` }]);
  }
  if (parsed.password) {
    throw new ConfigError([{ path: '--scratch', message: 'a password in the URL would be visible to every user of the machine; use --scratch-password-file' }]);
  }
  const user = decodeURIComponent(parsed.username || 'root');
  return async () => {
    const password = passwordFile ? (await readFile(passwordFile, 'utf8')).replace(/\r?\n$/, '') : undefined;
    return {
      connector: createMysqlConnector({ host: parsed.hostname, port: parsed.port ? Number(parsed.port) : 3306, user, password, passwordSource: passwordFile, ...watchOptions(watch) }),
      description: `${user}@${parsed.hostname}:${parsed.port || 3306}`,
      release: () => Promise.resolve(),
    };
  };
}
