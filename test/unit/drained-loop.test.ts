/**
 * The net under a command that waits for something that can no longer happen: the event loop
 * runs dry with the top-level await unsettled. Without it Node exits 13 and says nothing; with
 * it the wait fails with the caller's error, which the program handles as any other. Each case
 * runs in a node process of its own, since only a process whose loop is empty shows it.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const guard = join(import.meta.dirname, '..', '..', 'src', 'cli', 'drained-loop.ts');

/** Runs `body` as an ES module with `watchForStall` imported; returns its exit code and output. */
function script(body: string): Promise<{ code: number | null; out: string }> {
  const source = `import { watchForStall } from ${JSON.stringify(guard)};\n${body}`;
  return new Promise((resolve, reject) => {
    // The module is TypeScript without anything but erasable types: Node runs it as it is.
    const child = spawn(process.execPath, ['--experimental-strip-types', '--no-warnings', '--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('watchForStall', () => {
  it('turns a wait that can never end into the caller\'s error, instead of exit 13', async () => {
    const r = await script(`
      const watch = watchForStall(() => new Error('stopped waiting: loading t1'));
      try {
        await Promise.race([new Promise(() => {}), watch.stalled]);
      } catch (err) {
        console.log('failed: ' + err.message);
        process.exitCode = 1;
      }
    `);
    expect(r.out).toBe('failed: stopped waiting: loading t1\n');
    expect(r.code).toBe(1);
  });

  it('stays out of the way of work that ends, and of a process that ends after dispose()', async () => {
    const r = await script(`
      const watch = watchForStall(() => new Error('should not happen'));
      const value = await Promise.race([new Promise((resolve) => setTimeout(() => resolve('done'), 100)), watch.stalled]);
      watch.dispose();
      console.log(value);
      process.on('exit', (code) => console.log('exit ' + code));
    `);
    expect(r.out).toBe('done\nexit 0\n');
    expect(r.code).toBe(0);
  });

});
