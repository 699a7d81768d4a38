/**
 * Tests that call the library in their own process (a replay, an archive scan, a restore) use
 * that process's run folder (src/lib/private-temp.ts), as a command does. A command removes it
 * when it ends; this does so when each test file ends, so a test worker that is stopped without
 * running its 'exit' listeners leaves nothing behind either.
 */
import { afterAll } from 'vitest';
import { removeRunFolder } from '../../src/lib/private-temp.js';

afterAll(async () => {
  await removeRunFolder();
});
