/** Sizes of dump outputs. */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Total size in bytes of the regular files under a path (the path itself may be a file).
 * @param {string} path
 * @returns {Promise<number>}
 */
export async function sizeOf(path) {
  const st = await lstat(path);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

/**
 * Number of regular files under a directory.
 * @param {string} path
 * @returns {Promise<number>}
 */
export async function fileCount(path) {
  const st = await lstat(path);
  if (!st.isDirectory()) return st.isFile() ? 1 : 0;
  let n = 0;
  for (const entry of await readdir(path)) n += await fileCount(join(path, entry));
  return n;
}
