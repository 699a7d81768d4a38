#!/usr/bin/env -S node --max-semi-space-size=16
import { statSync } from 'node:fs';
import module from 'node:module';
import { userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import process from 'node:process';

// Start-up time: V8 keeps the code it compiles for each module in a cache folder, so later starts
// skip compiling oclif and the command's modules (a third of `--version`'s time). The folder is the
// user's own cache (XDG_CACHE_HOME, else ~/.cache), not Node's default under the shared /tmp,
// where another user could plant the folder first. NODE_COMPILE_CACHE, when set, wins. Only under
// a HOME (or XDG_CACHE_HOME) that is a folder already: Node would create a missing one, and under
// /proc its folder creation never returns (Node 24.21). On a read-only HOME, or one this user may
// not look into (a pod's uid under another user's folder), nothing is cached.
if (process.env.NODE_COMPILE_CACHE === undefined) {
  const { HOME, XDG_CACHE_HOME } = process.env;
  const [base, cacheHome] = XDG_CACHE_HOME && isAbsolute(XDG_CACHE_HOME) ? [XDG_CACHE_HOME, XDG_CACHE_HOME] : HOME ? [HOME, join(HOME, '.cache')] : [];
  if (base && cacheHome && !/^\/proc(\/|$)/.test(base) && isFolder(base)) {
    module.enableCompileCache?.(join(cacheHome, 'bloodraven', 'node-compile-cache'));
  }
}

/** Whether `path` is a folder; false when it cannot be looked at (a HOME this user may not search). */
function isFolder(path) {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false;
  }
}

// oclif reads the user's shell from SHELL, else from the passwd entry, before any command runs.
// A container may run as a uid that has no passwd entry (a pod's runAsUser, OpenShift's arbitrary
// uids), where that lookup throws and every command would fail: a plain shell is named instead.
if (process.env.SHELL === undefined) {
  try {
    userInfo();
  } catch {
    process.env.SHELL = '/bin/sh';
  }
}

// Only oclif's launcher, after the cache is on: @oclif/core's index loads all of oclif (and
// semver, for its own engine check), which `--version` and `--help` do without; a command that
// runs imports the rest itself. The commands come from oclif.manifest.json (`npm run build`).
const { execute } = await import('@oclif/core/execute');
await execute({ dir: import.meta.url });
