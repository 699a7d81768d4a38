/**
 * How the bench starts the CLI: with the Node the project installs and the same Node flags the
 * launcher's shebang gives it (bin/run.js), so a timed run uses memory as a user's run does.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * @param {string} repoRoot
 * @returns {Promise<string[]>} the arguments before the command: the shebang's Node flags, then bin/run.js
 */
export async function cliArgs(repoRoot) {
  const bin = join(repoRoot, 'bin', 'run.js');
  const firstLine = (await readFile(bin, 'utf8')).split('\n', 1)[0] ?? '';
  const shebang = /^#!\/usr\/bin\/env -S node((?: +--[\w-]+(?:=\S+)?)*)\s*$/.exec(firstLine);
  const flags = shebang?.[1]?.trim().split(/ +/).filter(Boolean) ?? [];
  return [...flags, bin];
}
