/**
 * Running the server's own client programs (the `mariadb`/`mysql` client, the binlog tools) with
 * the configured connection. The password goes into a temporary option file readable only by us,
 * never onto the command line, where every user of the machine could read it. The file is written
 * in the run's private folder (private-temp.ts) and removed at once, the program reading it
 * through an inherited descriptor; where that cannot be done, it stays there while the program
 * runs, and a run killed meanwhile leaves it where the next run sweeps it.
 */
import { existsSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { runFolder, type PrivateFolder } from '../private-temp.js';
import type { ConnectionOptions } from './connection.js';

/** Quotes a value for a MySQL option file. */
function optionValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** What connects a client program: its arguments, and the open files it must inherit as fds 3, 4, … */
export interface ClientConnection {
  args: string[];
  inheritFds: number[];
}

/**
 * Calls `work` with what connects a client program (`--defaults-extra-file` first, as the
 * programs require), then closes or removes the option file. `folder`: where the file is written
 * (default: this run's private folder).
 *
 * Where /proc/self/fd exists (Linux), the file is removed as soon as it is open: the program gets
 * the open file as its fd 3 and reads it as /dev/fd/3, so the password is on disk only between
 * the write and the removal, and nothing is left of it should the run be killed meanwhile. (A pipe
 * would keep it off the disk altogether, but Node hands its children sockets, not pipes, and the
 * programs cannot open a socket as a file.) Elsewhere the program is given the file's path.
 */
export async function withClientOptions<T>(options: ConnectionOptions, work: (connection: ClientConnection) => Promise<T>, folder?: PrivateFolder): Promise<T> {
  const lines = ['[client]', `user=${optionValue(options.user)}`];
  if (options.password !== undefined) lines.push(`password=${optionValue(options.password)}`);
  if (options.socket) lines.push(`socket=${optionValue(options.socket)}`);
  else lines.push(`host=${optionValue(options.host ?? '127.0.0.1')}`, `port=${options.port ?? 3306}`, 'protocol=TCP');
  const file = await (folder ?? (await runFolder())).writeFile('client', lines.join('\n') + '\n', '.cnf');
  if (!inheritable()) {
    try {
      return await work({ args: [`--defaults-extra-file=${file}`], inheritFds: [] });
    } finally {
      await rm(file, { force: true });
    }
  }
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } finally {
    await rm(file, { force: true });
  }
  try {
    return await work({ args: ['--defaults-extra-file=/dev/fd/3'], inheritFds: [handle.fd] });
  } finally {
    await handle.close();
  }
}

/** Whether a program can open an inherited, removed file as /dev/fd/N (Linux reopens it through /proc). */
function inheritable(): boolean {
  return existsSync('/proc/self/fd');
}
