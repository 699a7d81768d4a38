// Writes crds/ from the zod schemas (src/lib/kube/crds.ts), through the build in dist/:
// `npm run crds` builds first. test/unit/crds.test.ts fails when the files are out of date.
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { crdFiles } from '../dist/lib/kube/crds.js';

const dir = join(import.meta.dirname, '..', 'crds');
const files = crdFiles();
// Generated files that are no longer generated go; README.md is written by hand.
for (const name of await readdir(dir)) {
  if (name !== 'README.md' && !(name in files)) await rm(join(dir, name));
}
for (const [name, text] of Object.entries(files)) {
  await writeFile(join(dir, name), text);
  process.stdout.write(`wrote crds/${name}\n`);
}
