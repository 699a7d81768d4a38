/**
 * Bounded parallelism for per-object work (a script read, a file written, a table created): with
 * thousands of small objects, a round trip per object one after the other costs more than the
 * work itself, and an unbounded Promise.all would open thousands of files or queries at once.
 */

/**
 * Calls `work` for every item, at most `limit` at a time, each with its index. The first failure
 * stops new calls; the calls already running are awaited, then that failure is thrown, so nothing
 * is left running behind the caller's back.
 */
export async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (err) {
        if (!failed) {
          failed = true;
          failure = err;
        }
      }
    }
  };
  const lanes = Math.max(1, Math.min(Math.floor(limit), items.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  if (failed) throw failure;
}
