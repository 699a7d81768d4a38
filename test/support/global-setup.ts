/**
 * Runs once before the integration tests: makes sure a local MariaDB server binary exists
 * (installing it with apt-get when missing) and that the CLI has been built.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findServerBinaries } from '../../src/lib/mysql/sandbox.js';

export default async function setup(): Promise<void> {
  const root = join(import.meta.dirname, '..', '..');
  if (!(await findServerBinaries()) || !existsSync('/usr/bin/prometheus') || !existsSync('/usr/bin/chromium')) {
    execFileSync(join(root, 'scripts', 'install-system-deps.sh'), ['--test'], { stdio: 'inherit' });
    if (!(await findServerBinaries())) throw new Error('MariaDB could not be installed: apt-get install -y mariadb-server');
  }
  if (!existsSync(join(root, 'dist', 'commands', 'backup', 'now.js'))) {
    throw new Error('the CLI is not built: run `npm run build` (npm test does it)');
  }
}
