/**
 * A pod's container process (test/support/kube/pod-process.ts) with real processes: the log
 * keeps stdout and stderr, a process that ignores SIGTERM is killed after the grace period, and
 * nothing the container started outlives it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PodLog, startContainerProcess } from '../support/kube/pod-process.js';

const node = process.execPath;
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** Running (a zombie waiting for init to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('container process', () => {
  it('keeps stdout and stderr as the log and reports the exit code', async () => {
    const log = new PodLog();
    const child = startContainerProcess([node, '-e', 'console.log("out"); console.error("err"); process.exitCode = 3'], env, process.cwd(), log);
    expect(await child.exited).toBe(3);
    expect(log.text()).toContain('out\n');
    expect(log.text()).toContain('err\n');
  });

  it('kills a process that ignores SIGTERM after the grace period (exit 137)', async () => {
    const log = new PodLog();
    const script = 'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("ready"); setInterval(() => {}, 1000)';
    const child = startContainerProcess([node, '-e', script], env, process.cwd(), log);
    while (!log.text().includes('ready')) await new Promise((r) => setTimeout(r, 20));
    await child.stop(300);
    expect(await child.exited).toBe(137);
    expect(log.text()).toContain('ignoring SIGTERM');
  });

  it('ends whatever the main process started when it exits', { timeout: 20_000 }, async () => {
    const log = new PodLog();
    // The main process starts a sleeper and exits at once without waiting for it.
    const script = 'const c = require("node:child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }); c.unref(); console.log(c.pid);';
    const child = startContainerProcess([node, '-e', script], env, process.cwd(), log);
    expect(await child.exited).toBe(0);
    const grandchild = Number(log.text().trim());
    try {
      for (let i = 0; i < 50 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 20));
      expect(alive(grandchild), 'the grandchild is gone').toBe(false);
    } finally {
      if (alive(grandchild)) process.kill(grandchild, 'SIGKILL');
    }
  });

  it('follows the log until it is closed', async () => {
    const log = new PodLog();
    log.append(Buffer.from('a'));
    const seen: string[] = [];
    const reading = (async () => {
      for await (const chunk of log.follow()) seen.push(chunk.toString());
    })();
    log.append(Buffer.from('b'));
    await new Promise((r) => setTimeout(r, 10));
    log.append(Buffer.from('c'));
    log.close();
    await reading;
    expect(seen.join('')).toBe('abc');
  });
});
