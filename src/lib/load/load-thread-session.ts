/**
 * The coordinator's side of a load thread (load-thread.ts): a session to the target whose
 * statements run in the thread, on the thread's own connection (threads/worker-session.ts), and
 * which loads data files there. The coordinator only reads the stored bytes and hands them over,
 * at most `maxBytesInFlight` ahead of what the thread has taken, so memory stays bounded.
 */
import type { Readable } from 'node:stream';
import type { ConnectionOptions, LoadDataResult } from '../mysql/connection.js';
import { errorFromWire, errorToWire } from '../threads/wire-error.js';
import { WorkerSession, startSessionThread } from '../threads/worker-session.js';
import type { FromLoadThread, LoadFileTask, ToLoadThread } from './load-thread-protocol.js';

/** Stored bytes handed to a thread and not yet taken off its queue, per file. */
export const maxBytesInFlight = 4 * 1024 * 1024;

/** A file's load failed because of its bytes (see `inputFailed` in load-thread-protocol.ts), with why. */
export class FileInputFailure extends Error {
  constructor(readonly failure: Error) {
    super(failure.message, { cause: failure });
  }
}

interface PendingLoad {
  resolve(result: LoadDataResult): void;
  reject(err: Error): void;
  onSent(bytes: number): void;
  inFlight: number;
  /** Wakes the pump waiting for room in the window. */
  wake: (() => void) | null;
  settled: boolean;
  /** Why reading the stored bytes failed here (a storage error), when it did. */
  readFailure: Error | null;
}

/**
 * `bytes` in an ArrayBuffer that can be moved to the thread: their own when they fill it (a file
 * read's chunks do), else a copy. Structured cloning a view copies the whole buffer behind it, and
 * an S3 body's chunks are views on a larger pooled buffer. Moving instead of copying matters for
 * memory as much as for time: the copied chunks are garbage the main thread, which allocates
 * little else, collects only rarely, and a restore's peak held over 100 MB of them.
 */
function movable(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
}

export class LoadThreadSession extends WorkerSession<ToLoadThread, FromLoadThread> {
  private readonly loads = new Map<number, PendingLoad>();

  /**
   * Starts a load thread and its session to the server `connection` describes. Rejects with the
   * connection's own error (a wrong password, an unreachable server) when it cannot connect.
   */
  static async open(connection: ConnectionOptions, target: string): Promise<LoadThreadSession> {
    return new LoadThreadSession(await startSessionThread(import.meta.url, './load-thread.js', connection, 'a load thread'), target, 'a load thread');
  }

  /**
   * Runs `task`'s LOAD DATA in the thread, its stored bytes either whole in the task or read
   * from `stored`. Resolves with what the server reported; rejects with FileInputFailure when the
   * bytes failed (they differ from the record, fail authentication or decompression), with the
   * error of `stored` when reading it failed, and with the statement's error otherwise. `onSent` gets the uncompressed
   * bytes sent to the server as they go.
   */
  loadFile(task: Omit<LoadFileTask, 'id'>, stored: Readable | null, onSent: (bytes: number) => void): Promise<LoadDataResult> {
    const id = this.newId();
    let pending!: PendingLoad;
    const done = new Promise<LoadDataResult>((resolve, reject) => {
      pending = { resolve, reject, onSent, inFlight: 0, wake: null, settled: false, readFailure: null };
    });
    if (this.gone) {
      stored?.destroy();
      pending.reject(this.gone);
      return done;
    }
    // The pump reads `stored` through an iterator, which stops listening once the load has
    // settled; the stream may still fail after that (the read's signal fires when the run
    // stops), and an 'error' nobody hears would take the process down.
    stored?.on('error', () => undefined);
    this.loads.set(id, pending);
    this.send({ type: 'load', task: { ...task, id } }, task.whole ? [task.whole.buffer as ArrayBuffer] : []);
    if (stored) void this.pump(id, pending, stored);
    return done;
  }

  /** Hands `stored`'s bytes to the thread, staying within the window; stops once the load has settled. */
  private async pump(id: number, pending: PendingLoad, stored: Readable): Promise<void> {
    try {
      for await (const chunk of stored as AsyncIterable<Uint8Array>) {
        if (pending.settled) break;
        const data = movable(chunk);
        this.send({ type: 'block', task: id, data }, [data.buffer]);
        pending.inFlight += data.byteLength;
        while (pending.inFlight >= maxBytesInFlight && !pending.settled) await new Promise<void>((wake) => (pending.wake = wake));
        if (pending.settled) break;
      }
      if (pending.settled) stored.destroy();
      else this.send({ type: 'end', task: id });
    } catch (err) {
      pending.readFailure = err instanceof Error ? err : new Error(String(err));
      this.send({ type: 'stop', task: id, error: errorToWire(err) });
    }
  }

  protected failTasks(err: Error): void {
    for (const l of this.loads.values()) this.settle(l).reject(err);
    this.loads.clear();
  }

  private settle(pending: PendingLoad): PendingLoad {
    pending.settled = true;
    pending.wake?.();
    return pending;
  }

  protected receiveTask(message: FromLoadThread): void {
    const pending = this.loads.get(message.task);
    if (!pending) return;
    switch (message.type) {
      case 'taken':
        pending.inFlight -= message.bytes;
        if (pending.inFlight < maxBytesInFlight) {
          const wake = pending.wake;
          pending.wake = null;
          wake?.();
        }
        return;
      case 'sent':
        pending.onSent(message.bytes);
        return;
      case 'loaded':
        this.loads.delete(message.task);
        this.settle(pending).resolve(message.result);
        return;
      case 'loadFailed': {
        this.loads.delete(message.task);
        const error = errorFromWire(message.error);
        // A read that failed here is the storage's error, not damage to the file.
        if (pending.readFailure) this.settle(pending).reject(pending.readFailure);
        else this.settle(pending).reject(message.inputFailed ? new FileInputFailure(error) : this.explained(error));
        return;
      }
    }
  }
}
