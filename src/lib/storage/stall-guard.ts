/**
 * A bound on storage writes that stop making progress. A hung NFS mount, a volume that vanished
 * under a mount point or an S3 endpoint that accepts a connection and then says nothing would
 * otherwise keep a backup waiting forever, and with it the source's backup lock and snapshots.
 *
 * A write stalls when the store has taken no byte for the bound while bytes are waiting for it
 * (or the body has ended and the store is still finishing). A body that is merely slow to produce
 * (a slow query) is not a stall. A small put stalls when it has not finished within the bound.
 * A stalled operation is cancelled through its signal and fails with StorageError
 * STORAGE_STALLED; its promise settles then even if the store ignores the cancellation.
 *
 * A store that retries a failing request (S3, within storage.s3.retryTimeout) says so through
 * StoreOptions.onRetry, and each retry counts as progress: the storage is answering, with errors,
 * and the store's own retry budget bounds that wait. So a call retried inside its budget is never
 * cancelled as a stall, and when the budget runs out the failure names the storage's own error.
 * Silence (requests that get no answer at all) is still a stall.
 *
 * Time is measured by this process's own ticks: a tick far too late means this process was not
 * running (stopped with SIGSTOP, its machine suspended), and that time is not the storage's.
 */
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, abortError } from '../errors.js';
import { PauseDetector } from '../pause-detector.js';
import type { ObjectStore, StoreOptions, WriteResult } from './object-store.js';

export interface StallGuardOptions {
  /** No progress for this long fails the operation. */
  stallTimeoutMs: number;
  /** The config field that sets the bound, for the hint. */
  configField: string;
}

/** `store`, with writes and puts that stall failing with STORAGE_STALLED. */
export function stallGuardedStore(store: ObjectStore, options: StallGuardOptions): ObjectStore {
  const { stallTimeoutMs } = options;
  const stalled = (key: string, what: string): StorageError =>
    new StorageError('STORAGE_STALLED', `storage stopped responding: ${what} ${key} in ${store.location} made no progress for ${formatSeconds(stallTimeoutMs)}`, {
      hint: `check that ${store.type === 'S3' ? 'the S3 endpoint is reachable and answering' : 'the volume is mounted, reachable and not full'}; if it is just slow, raise ${options.configField}`,
    });

  const tickMs = Math.max(50, Math.min(1000, stallTimeoutMs / 4));

  /**
   * Runs `operation` with a signal that fires on `outer.signal` or when `isStalled` reports a
   * stall; `hooks.onPaused` hears of time this process was not running (to take it out of its
   * own measure), `hooks.onRetried` of a retry by the store (the `onRetry` given to `operation`,
   * chained to the caller's `outer.onRetry`), which restarts the measure.
   */
  const guarded = async <T>(
    outer: StoreOptions,
    error: () => StorageError,
    operation: (signal: AbortSignal, onRetry: NonNullable<StoreOptions['onRetry']>) => Promise<T>,
    isStalled: (sinceProgressMs: number) => boolean,
    hooks: { onPaused?: (gapMs: number) => void; onRetried?: () => void } = {},
  ): Promise<T> => {
    const outerSignal = outer.signal;
    const controller = new AbortController();
    const signal = outerSignal ? AbortSignal.any([outerSignal, controller.signal]) : controller.signal;
    let rejectStall: (err: unknown) => void = () => undefined;
    const stall = new Promise<never>((_, reject) => (rejectStall = reject));
    stall.catch(() => undefined);
    let started = Date.now();
    const pauses = new PauseDetector(tickMs, started);
    const onRetry = (what: string, err: unknown): void => {
      started = Date.now();
      hooks.onRetried?.();
      outer.onRetry?.(what, err);
    };
    const timer = setInterval(() => {
      const now = Date.now();
      const gap = pauses.tick(now);
      if (gap > 0) {
        started += gap;
        hooks.onPaused?.(gap);
        return;
      }
      if (!isStalled(now - started)) return;
      const err = error();
      controller.abort(err);
      rejectStall(err);
    }, tickMs);
    timer.unref();
    try {
      return await Promise.race([operation(signal, onRetry), stall]);
    } catch (err) {
      if (outerSignal?.aborted) throw abortError(outerSignal);
      if (controller.signal.aborted) throw controller.signal.reason;
      throw err;
    } finally {
      clearInterval(timer);
    }
  };

  return {
    location: store.location,
    type: store.type,
    ...(store.hashesWrites === undefined ? {} : { hashesWrites: store.hashesWrites }),
    check: (o) => store.check(o),
    checkReadable: (o) => store.checkReadable(o),
    read: (key, o) => store.read(key, o),
    get: (key, o) => store.get(key, o),
    exists: (key, o) => store.exists(key, o),
    list: (prefix, o) => store.list(prefix, o),
    delete: (key, o) => store.delete(key, o),
    deleteMany: (keys, o) => store.deleteMany(keys, o),
    deletePrefix: (prefix, o) => store.deletePrefix(prefix, o),

    put(key: string, data: string | Uint8Array, o: StoreOptions = {}): Promise<void> {
      return guarded(
        o,
        () => stalled(key, 'writing'),
        (signal, onRetry) => store.put(key, data, { ...o, signal, onRetry }),
        (elapsed) => elapsed >= stallTimeoutMs,
      );
    },

    putIfAbsent(key: string, data: string | Uint8Array, o: StoreOptions = {}): Promise<boolean> {
      return guarded(
        o,
        () => stalled(key, 'writing'),
        (signal, onRetry) => store.putIfAbsent(key, data, { ...o, signal, onRetry }),
        (elapsed) => elapsed >= stallTimeoutMs,
      );
    },

    write(key: string, body: Readable, o: StoreOptions = {}): Promise<WriteResult> {
      // The store reads from `relay`. Bytes enter it only as the store takes bytes out (its
      // buffer is bounded), so a chunk entering is progress; a full relay that takes nothing is not.
      let lastProgress = Date.now();
      const relay = new Transform({
        highWaterMark: body.readableHighWaterMark,
        transform(chunk: Buffer, _encoding, done) {
          lastProgress = Date.now();
          done(null, chunk);
        },
      });
      // The failure is reported by the write's promise; once the pipeline below has ended, an
      // error from the destroy() in the catch below would have no listener and crash the process.
      relay.on('error', () => undefined);
      let bodyEnded = false;
      // A failure on either side destroys both; the store's write reports it.
      void pipeline(body, relay).then(
        () => (bodyEnded = true),
        () => undefined,
      );
      const waiting = (): boolean => bodyEnded || relay.readableLength > 0 || relay.writableLength > 0;
      // A store that ignores its signal must not leave the body's producer waiting either.
      return guarded(
        o,
        () => stalled(key, 'writing'),
        (signal, onRetry) => store.write(key, relay, { ...o, signal, onRetry }),
        () => waiting() && Date.now() - lastProgress >= stallTimeoutMs,
        { onPaused: (gap) => (lastProgress += gap), onRetried: () => (lastProgress = Date.now()) },
      ).catch((err: unknown) => {
        relay.destroy(err instanceof Error ? err : new Error(String(err)));
        throw err;
      });
    },
  };
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}
