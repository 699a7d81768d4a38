/**
 * What must not outlive the process even when it ends at once (a second Ctrl-C): a scratch server
 * left running, a folder with its data. Whoever starts such a thing registers a synchronous undo
 * here and drops it once it has cleaned up normally; the CLI runs what is left just before it
 * ends the process without waiting. Synchronous only: nothing asynchronous runs after that point.
 */

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
