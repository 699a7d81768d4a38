/**
 * Every command, started by a Node too old for bloodraven (the machine's own Node 20, on the
 * machines this project is built on), is refused by name: exit 2 and the version guard's message,
 * never "command not found" because a module could not even load.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliBin } from '../support/cli.js';

const systemNode = '/usr/bin/node';
const systemVersion = (() => {
  try {
    return execFileSync(systemNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
})();
const [major = 0, minor = 0] = (systemVersion ?? '0.0').split('.').map(Number);
const tooOld = systemVersion !== null && (major < 22 || (major === 22 && minor < 15));

function commands(dir: string, root = dir): string[][] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commands(join(dir, e.name), root) : e.name.endsWith('.js') ? [relative(root, join(dir, e.name)).replace(/\.js$/, '').split('/')] : [],
  );
}

describe.runIf(tooOld)(`started by Node ${systemVersion ?? '(none)'}`, () => {
  const all = commands(join(cliBin, '..', '..', 'dist', 'commands'));
  it('finds the commands', () => expect(all.length).toBeGreaterThan(10));
  it('refuses every command with exit 2, naming the Node it needs', async () => {
    // All at once: each start loads the command's modules, a second or two apiece.
    const runs = await Promise.all(
      all.map(
        (command) =>
          new Promise<{ command: string; status: number | null; stderr: string }>((resolve) => {
            const child = execFile(systemNode, [cliBin, ...command], { encoding: 'utf8', cwd: '/' }, (_err, _stdout, stderr) => resolve({ command: command.join(' '), status: child.exitCode, stderr }));
          }),
      ),
    );
    for (const r of runs) {
      expect(r.stderr, r.command).toMatch(/^error: bloodraven needs Node\.js 22\.15 or later/m);
      expect(r.status, r.command).toBe(2);
    }
  });
});
