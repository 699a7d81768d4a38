/**
 * The whole suite proves it leaves no temporary file behind: every test run (unit and
 * integration) gets a temporary folder of its own, passed to the test workers and to every CLI
 * and server they start as TMPDIR, and whatever is still in it when the run ends fails the run,
 * each entry named. A folder of its own, rather than a look at /tmp before and after, so that
 * another run on the same machine (another checkout's tests) is never taken for a leftover.
 *
 * Tests that set a TMPDIR of their own (inside a work folder they remove) are checked by their
 * own assertions; this catches what nobody looked for.
 */
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set once the run's folder exists: a second setup (another project's) reuses it. */
const marker = 'BLOODRAVEN_TEST_TMPDIR';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[marker]) return undefined;
  const outer = process.env.TMPDIR;
  const folder = await mkdtemp(join(tmpdir(), 'bloodraven-test-run-'));
  // Searchable by others (not listable): tests that run the CLI as a pod's uid (27, 999) reach their own folders inside it.
  await chmod(folder, 0o711);
  process.env[marker] = folder;
  // Read by os.tmpdir() at each call, here and in the workers and programs started after this.
  process.env.TMPDIR = folder;
  return async () => {
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    delete process.env[marker];
    const left = await readdir(folder).catch(() => []);
    await rm(folder, { recursive: true, force: true });
    if (left.length === 0) return;
    process.exitCode = 1;
    throw new Error(`the tests left ${left.length} temporary file(s) or folder(s) behind (removed now): ${left.sort().join(', ')}`);
  };
}
