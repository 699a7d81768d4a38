/**
 * The net under "waiting for something that can no longer happen". When the event loop runs dry
 * while a command is still awaiting a promise (a driver that never settles a statement, a stream
 * nobody ends), Node gives up on the top-level await and exits with code 13, saying nothing a user
 * can act on. Node emits 'beforeExit' just before that; here it rejects `stalled` instead, which
 * gives the loop work again, so the command fails through the usual error path with a named error.
 *
 * Kept free of imports (the error is made by the caller) so it can be run on its own.
 */

export interface StallWatch {
  /** Rejects with the caller's error if the event loop drains before dispose(); never resolves. */
  readonly stalled: Promise<never>;
  /** Stops watching (the command ended on its own). */
  dispose(): void;
}

export function watchForStall(makeError: () => Error): StallWatch {
  let reject!: (err: Error) => void;
  const stalled = new Promise<never>((_resolve, rej) => {
    reject = rej;
  });
  stalled.catch(() => undefined);
  const onDrained = (): void => {
    dispose();
    reject(makeError());
  };
  const dispose = (): void => {
    process.removeListener('beforeExit', onDrained);
  };
  process.on('beforeExit', onDrained);
  return { stalled, dispose };
}
