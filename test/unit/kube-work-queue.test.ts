import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/log.js';
import { WorkQueue, type QueueTimer } from '../../src/daemon/kube/work-queue.js';

/** A timer that moves only when advanced. */
function fakeTimer(): QueueTimer & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      now += ms;
      const due = [...timers.entries()].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at);
      for (const [id, t] of due) {
        timers.delete(id);
        t.fn();
      }
    },
    pending: () => timers.size,
  };
}

/** A promise and its resolver. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('WorkQueue', () => {
  it('hands a key added several times while waiting out once', async () => {
    const q = new WorkQueue({ timer: fakeTimer() });
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.length).toBe(0);
  });

  it('never hands a key being processed to a second worker, and runs it again after when re-added', async () => {
    const q = new WorkQueue({ timer: fakeTimer() });
    q.add('ns/a');
    const first = await q.get();
    expect(first).toBe('ns/a');
    q.add('ns/a');
    q.add('ns/a');
    // Re-added during processing: not ready yet.
    expect(q.length).toBe(0);
    let second: string | undefined;
    const waiting = q.get().then((k) => (second = k));
    await tick();
    expect(second).toBeUndefined();
    q.done('ns/a');
    await waiting;
    expect(second).toBe('ns/a');
    q.done('ns/a');
    expect(q.length).toBe(0);
  });

  it('with several workers, runs different keys in parallel but one key at a time, and each add after a start is seen', async () => {
    const q = new WorkQueue({ timer: fakeTimer() });
    const running = new Map<string, number>();
    let maxSameKey = 0;
    let maxParallel = 0;
    const runs: string[] = [];
    const gates: Array<() => void> = [];
    const workers = q.run(
      3,
      async (key) => {
        running.set(key, (running.get(key) ?? 0) + 1);
        maxSameKey = Math.max(maxSameKey, running.get(key) ?? 0);
        maxParallel = Math.max(maxParallel, [...running.values()].reduce((a, b) => a + b, 0));
        runs.push(key);
        const gate = deferred();
        gates.push(gate.resolve);
        await gate.promise;
        running.set(key, (running.get(key) ?? 1) - 1);
      },
      silentLogger,
    );
    q.add('ns/a');
    q.add('ns/b');
    await tick();
    q.add('ns/a'); // while ns/a runs
    await tick();
    expect(runs).toEqual(['ns/a', 'ns/b']);
    while (gates.length > 0) {
      gates.shift()?.();
      await tick();
      await tick();
    }
    expect(runs).toEqual(['ns/a', 'ns/b', 'ns/a']);
    expect(maxSameKey).toBe(1);
    expect(maxParallel).toBe(2);
    await workers.stop();
  });

  it('addAfter adds the key once the delay has passed, and the earlier of two delays wins', async () => {
    const timer = fakeTimer();
    const q = new WorkQueue({ timer });
    q.addAfter('ns/a', 1000);
    q.addAfter('ns/a', 5000);
    q.addAfter('ns/b', 0);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('ns/b');
    timer.advance(999);
    expect(q.length).toBe(0);
    timer.advance(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('ns/a');
    q.done('ns/a');
    timer.advance(10_000);
    expect(q.length, 'the later addAfter was dropped').toBe(0);
  });

  it('backs a failing key off exponentially up to the cap, and forget resets it', async () => {
    const timer = fakeTimer();
    const q = new WorkQueue({ timer, backoff: { baseMs: 100, maxMs: 1000 } });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      q.addRateLimited('ns/a');
      let waited = 0;
      while (q.length === 0 && waited < 10_000) {
        timer.advance(1);
        waited++;
      }
      delays.push(waited);
      const key = await q.get();
      q.done(key ?? '');
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(q.numRequeues('ns/a')).toBe(6);
    q.forget('ns/a');
    expect(q.numRequeues('ns/a')).toBe(0);
  });

  it('run: a throwing reconcile is retried with backoff, a success forgets the failures, requeueAfterMs requeues', async () => {
    const timer = fakeTimer();
    const q = new WorkQueue({ timer, backoff: { baseMs: 100, maxMs: 1000 } });
    let calls = 0;
    const workers = q.run(
      1,
      (): Promise<{ requeueAfterMs: number } | undefined> => {
        calls++;
        if (calls <= 2) return Promise.reject(new Error('API down'));
        return Promise.resolve(calls === 3 ? { requeueAfterMs: 5000 } : undefined);
      },
      silentLogger,
    );
    q.add('ns/a');
    await tick();
    expect(calls).toBe(1);
    expect(q.numRequeues('ns/a')).toBe(1);
    timer.advance(99);
    await tick();
    expect(calls).toBe(1);
    timer.advance(1);
    await tick();
    expect(calls).toBe(2);
    timer.advance(200);
    await tick();
    expect(calls).toBe(3);
    expect(q.numRequeues('ns/a'), 'success forgets').toBe(0);
    timer.advance(4999);
    await tick();
    expect(calls).toBe(3);
    timer.advance(1);
    await tick();
    expect(calls).toBe(4);
    await workers.stop();
  });

  it('shutDown waits for keys being processed, hands out nothing more, and cancels delayed adds', async () => {
    const timer = fakeTimer();
    const q = new WorkQueue({ timer });
    q.add('ns/a');
    q.add('ns/b');
    q.addAfter('ns/c', 1000);
    const key = await q.get();
    let drained = false;
    const shut = q.shutDown().then(() => (drained = true));
    await tick();
    expect(drained, 'ns/a still being processed').toBe(false);
    expect(await q.get()).toBeUndefined();
    expect(timer.pending()).toBe(0);
    q.add('ns/d');
    expect(q.length).toBe(0);
    q.done(key ?? '');
    await shut;
    expect(drained).toBe(true);
  });

  it('stop() aborts the running reconciles and does not requeue the one it aborted', async () => {
    const q = new WorkQueue({ timer: fakeTimer() });
    let sawAbort = false;
    const workers = q.run(
      1,
      (_key, signal) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(new Error('aborted'));
          });
        }),
      silentLogger,
    );
    q.add('ns/a');
    await tick();
    await workers.stop();
    expect(sawAbort).toBe(true);
    expect(q.numRequeues('ns/a')).toBe(0);
  });
});
