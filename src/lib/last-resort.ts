/**
 * What must not outlive the process even when it ends at once (a second Ctrl-C): a scratch server
 * left running, a folder with its data. Whoever starts such a thing registers a synchronous undo
 * here and drops it once it has cleaned up normally; the CLI runs what is left just before it
 * ends the process without waiting. Synchronous only: nothing asynchronous runs after that point.
 */

import { existsSync, readFileSync, rmSync } from 'node:fs';

const undos = new Set<() => void>();

/** Registers `undo`; call the returned function once the thing is gone by the normal path. */
export function atLastResort(undo: () => void): () => void {
  undos.add(undo);
  return () => {
    undos.delete(undo);
  };
}

/** Runs every registered undo once, in registration order; one that throws does not stop the others. */
export function runLastResort(): void {
  const pending = [...undos];
  undos.clear();
  for (const undo of pending) {
    try {
      undo();
    } catch {
      // The process is ending: nothing is left to report to.
    }
  }
}

/** Blocks the thread for `ms` (no event loop runs at last resort). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Waits, blocking, up to `timeoutMs` for process `pid` (a child sent SIGKILL) to be dead: gone, or
 * a zombie nobody will reap before this process ends. A killed process finishes the system calls
 * it is in first, and a server in the middle of its shutdown may create a file in its folder then.
 * Where there is no /proc, returns at once.
 */
export function waitDeadSync(pid: number, timeoutMs: number): void {
  for (const end = Date.now() + timeoutMs; Date.now() < end; sleepSync(10)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    // The state letter follows the command name in parentheses.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
  }
}

/**
 * Removes the tree at `path`, blocking, trying again for up to `timeoutMs` whatever the error (a
 * file appearing while the tree is removed, another removal of the same tree under way), until
 * it is gone.
 */
export function removeTreeSync(path: string, timeoutMs: number): void {
  for (const end = Date.now() + timeoutMs; ; sleepSync(25)) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Tried again below, while time is left.
    }
    if (!existsSync(path) || Date.now() >= end) return;
  }
}
