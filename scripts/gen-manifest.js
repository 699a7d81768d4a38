// Writes oclif.manifest.json: every command's id, description, flags and args, read from the
// built commands in dist/ (`npm run build` runs this after tsc). With it, oclif answers
// `--version`, `--help` and `<command> --help` without importing any command module, and finds a
// command to run without scanning dist/commands. Without it (after a bare `tsc`) oclif imports
// every command on each start; a stale one would hide or misdescribe commands, so the build
// deletes it before compiling, and test/integration/cli-startup.test.ts runs the check below.
//
//   node scripts/gen-manifest.js                 write oclif.manifest.json
//   node scripts/gen-manifest.js --check [FILE]  exit 1, naming the commands that differ, when
//                                                FILE (default oclif.manifest.json) is not what
//                                                the built commands give
import { readFile, writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import process from 'node:process';
import { Plugin } from '@oclif/core';

const root = join(import.meta.dirname, '..');
const manifestPath = join(root, 'oclif.manifest.json');

// The manifest oclif would build in memory from package.json's `oclif` section and dist/commands,
// ignoring any manifest file already there. A command module that fails to load throws (oclif
// would leave that command out with a warning). Flag defaults are computed now, except those
// marked noCacheDefault.
const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true });
await plugin.load();
// As JSON has it (keys whose value is undefined dropped), to compare with a file.
const fresh = JSON.parse(JSON.stringify(plugin.manifest));

/** Writes or checks the manifest as argv says; the exit code. */
async function main([mode, file = manifestPath]) {
  if (mode === undefined) {
    await writeFile(manifestPath, `${JSON.stringify(fresh, null, 2)}\n`);
    process.stdout.write(`wrote oclif.manifest.json (${Object.keys(fresh.commands).length} commands)\n`);
    return 0;
  }
  if (mode !== '--check') {
    process.stderr.write(`unknown argument ${mode}; usage: node scripts/gen-manifest.js [--check [FILE]]\n`);
    return 2;
  }
  let found;
  try {
    found = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}; run \`npm run build\`\n`);
    return 1;
  }
  const ids = new Set([...Object.keys(fresh.commands), ...Object.keys(found.commands ?? {})]);
  const problems = [...ids].sort().flatMap((id) => {
    if (!found.commands?.[id]) return [`${id}: missing`];
    if (!fresh.commands[id]) return [`${id}: no such command in dist/commands`];
    return isDeepStrictEqual(found.commands[id], fresh.commands[id]) ? [] : [`${id}: differs from the built command`];
  });
  if (found.version !== fresh.version) problems.push(`version ${found.version}, package.json says ${fresh.version}`);
  if (problems.length) {
    process.stderr.write(`${file} is stale:\n${problems.map((p) => `  ${p}\n`).join('')}run \`npm run build\` to write it again\n`);
    return 1;
  }
  process.stdout.write(`${file} matches the ${ids.size} built commands\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
