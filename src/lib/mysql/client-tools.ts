/**
 * Running the server's own client programs (the `mariadb`/`mysql` client, the binlog tools) with
 * the configured connection. The password goes into a temporary option file readable only by us,
 * never onto the command line, where every user of the machine could read it.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from './connection.js';

/** Quotes a value for a MySQL option file. */
function optionValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Calls `work` with the arguments that connect a client program (`--defaults-extra-file` first,
 * as the programs require), then removes the option file.
 */
export async function withClientOptions<T>(options: ConnectionOptions, work: (args: string[]) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'bloodraven-client-'));
  const file = join(dir, 'client.cnf');
  try {
    const lines = ['[client]', `user=${optionValue(options.user)}`];
    if (options.password !== undefined) lines.push(`password=${optionValue(options.password)}`);
    if (options.socket) lines.push(`socket=${optionValue(options.socket)}`);
    else lines.push(`host=${optionValue(options.host ?? '127.0.0.1')}`, `port=${options.port ?? 3306}`, 'protocol=TCP');
    await writeFile(file, lines.join('\n') + '\n', { mode: 0o600 });
    await chmod(file, 0o600);
    return await work([`--defaults-extra-file=${file}`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
