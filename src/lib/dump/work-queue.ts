/**
 * A queue that workers wait on while producers (the chunk planner) are still adding work.
 * `next()` resolves with an item, or with undefined once the queue is closed and empty.
 */
export class WorkQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T | undefined) => void> = [];
  private closed = false;

  push(item: T): void {
    if (this.closed) throw new Error('push to a closed queue');
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }

  /** No more items will come; waiting workers get undefined once the rest is taken. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  next(): Promise<T | undefined> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get pending(): number {
    return this.items.length;
  }
}
