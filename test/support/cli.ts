/** Runs the built CLI as a user would: a child process in a folder of its own. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The CLI's entry point (needs `npm run build`, which `npm test` does first). */
export const cliBin = join(import.meta.dirname, '..', '..', 'bin', 'run.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `bloodraven ...args` in `cwd`; `onStderr` sees all stderr so far on each write (to act midway). */
export function runCli(args: string[], cwd: string, onStderr?: (text: string, child: ChildProcess) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
