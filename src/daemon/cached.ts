/**
 * A value that is expensive to make (the status page reads every profile's storage), made at
 * most once per period however often it is asked for: callers within the period share the last
 * value, and callers while it is being made share that one attempt. A failure is not kept, so
 * the next caller tries again.
 */

/**
 * `produce`, cached for `ttlMs` milliseconds as measured by `elapsedMs` (a monotonic clock in ms,
 * default performance.now: real time, which the daemon's schedule clock need not be).
 */
export function cachedFor<T>(ttlMs: number, produce: () => Promise<T>, elapsedMs: () => number = () => performance.now()): () => Promise<T> {
  let last: { value: T; at: number } | undefined;
  let pending: Promise<T> | undefined;
  return () => {
    if (last && elapsedMs() - last.at < ttlMs) return Promise.resolve(last.value);
    pending ??= produce().then(
      (value) => {
        last = { value, at: elapsedMs() };
        pending = undefined;
        return value;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
}
