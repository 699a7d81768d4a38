/**
 * Stopping a throwaway server that does not shut down (stuck, or busy past its grace): SIGTERM,
 * then SIGKILL once the grace has passed, and its folder removed either way. verify stops its
 * scratch sandbox so after an interrupt, with a short grace: its files are thrown away anyway.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../support/mariadb.js';

describe('a sandbox that ignores SIGTERM', () => {
  it('is killed once the grace given to stop() has passed, and its folder removed', async () => {
    const server = await startTestServer({ binlog: false });
    const root = dirname(server.datadir);
    const pid = Number((await readFile(join(root, 'mysqld.pid'), 'utf8')).trim());
    // A stopped process leaves SIGTERM pending: the server cannot shut down, as if stuck.
    process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    await server.stop({ graceMs: 1000 });
    // The default grace is 30 s; well under it means the given one was used.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(root)).toBe(false);
  });
});
