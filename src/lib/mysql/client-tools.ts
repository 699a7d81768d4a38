/**
 * Running the server's own client programs (the `mariadb`/`mysql` client, the binlog tools) with
 * the configured connection. The password goes into a temporary option file readable only by us,
 * never onto the command line, where every user of the machine could read it. The file lives in
 * the run's private folder (private-temp.ts), so a run killed before it could remove the file
 * leaves it where the next run sweeps it.
 */
import { rm } from 'node:fs/promises';
import { runFolder, type PrivateFolder } from '../private-temp.js';
import type { ConnectionOptions } from './connection.js';

/** Quotes a value for a MySQL option file. */
function optionValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Calls `work` with the arguments that connect a client program (`--defaults-extra-file` first,
 * as the programs require), then removes the option file. `folder`: where the file goes (default:
 * this run's private folder).
 */
export async function withClientOptions<T>(options: ConnectionOptions, work: (args: string[]) => Promise<T>, folder?: PrivateFolder): Promise<T> {
  const lines = ['[client]', `user=${optionValue(options.user)}`];
  if (options.password !== undefined) lines.push(`password=${optionValue(options.password)}`);
  if (options.socket) lines.push(`socket=${optionValue(options.socket)}`);
  else lines.push(`host=${optionValue(options.host ?? '127.0.0.1')}`, `port=${options.port ?? 3306}`, 'protocol=TCP');
  const file = await (folder ?? (await runFolder())).writeFile('client', lines.join('\n') + '\n', '.cnf');
  try {
    return await work([`--defaults-extra-file=${file}`]);
  } finally {
    await rm(file, { force: true });
  }
}
