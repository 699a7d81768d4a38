/**
 * The ProcessRunner against real programs (sh, cat, head, sleep, yes): every way a program can end
 * early, hang on a pipe, or outlive an abort settles within a bound, names the program and its
 * stderr, and leaves no process behind.
 */
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { AbortedError, ExternalCommandError } from '../../src/lib/errors.js';
import { nodeProcessRunner as runner } from '../../src/lib/process.js';

/** Whether a process with this pid exists (and is not a zombie we have reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Rejects when `promise` has not settled within `ms`: the test then fails instead of hanging. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

async function settled(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => err,
  );
}

describe('ProcessRunner.run', () => {
  it('fails with ExternalCommandError naming the program and the tail of its stderr', async () => {
    const err = await settled(runner.run('sh', ['-c', 'echo "something broke" >&2; exit 4']));
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect((err as ExternalCommandError).commandExitCode).toBe(4);
    expect((err as Error).message).toMatch(/^sh -c .* exited with 4: something broke/);
  });

  it('an abort stops the program and rejects with the abort reason', async () => {
    const controller = new AbortController();
    const running = settled(runner.run('sleep', ['60'], { signal: controller.signal }));
    setTimeout(() => controller.abort(new AbortedError('SIGINT')), 200);
    const err = await within(20_000, running);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).message).toBe('interrupted: SIGINT');
  });

  it('a program that ignores SIGTERM is killed after a grace, and a grandchild holding its pipes does not keep the promise open', async () => {
    const controller = new AbortController();
    // The shell ignores SIGTERM; its `sleep` children keep stdout open after the shell is killed.
    const running = settled(runner.run('sh', ['-c', 'trap "" TERM; echo $$; while :; do sleep 1; done'], { signal: controller.signal }));
    setTimeout(() => controller.abort(new AbortedError('SIGTERM')), 200);
    const err = await within(30_000, running);
    expect(err).toBeInstanceOf(AbortedError);
  });
});

describe('ProcessRunner.pipe', () => {
  it('a consumer that stops reading early fails the copy at once, and the producer is stopped', async () => {
    const producer = runner.pipe('yes', ['binlog event']);
    producer.stdin.end();
    // `head` reads 100 kB and exits 0 while we still write: not a success.
    const consumer = runner.pipe('head', ['-c', '100000']);
    consumer.stdout.resume();
    const copy = settled(pipeline(producer.stdout, consumer.stdin));
    expect(await within(20_000, copy)).toBeInstanceOf(Error);
    const consumerErr = await within(20_000, settled(consumer.done));
    expect(consumerErr).toBeInstanceOf(ExternalCommandError);
    expect((consumerErr as Error).message).toMatch(/^head -c 100000 exited with 0.*ended before reading all its input/s);
    await within(20_000, producer.stop());
    expect(producer.exited).toBe(true);
    expect(alive(producer.pid)).toBe(false);
    expect(alive(consumer.pid)).toBe(false);
  });

  it('a consumer that fails names itself and its stderr', async () => {
    const consumer = runner.pipe('sh', ['-c', 'head -c 10 >/dev/null; echo "ERROR 1050 (42S01) at line 3: Table \'big\' already exists" >&2; exit 1']);
    const producer = runner.pipe('yes', ['x']);
    producer.stdin.end();
    const copy = settled(pipeline(producer.stdout, consumer.stdin));
    expect(await within(20_000, copy)).toBeInstanceOf(Error);
    const err = await within(20_000, settled(consumer.done));
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect((err as Error).message).toMatch(/exited with 1: ERROR 1050 \(42S01\) at line 3: Table 'big' already exists/);
    await within(20_000, producer.stop());
    expect(alive(producer.pid)).toBe(false);
  });

  it('succeeds when the consumer reads everything and the input was ended', async () => {
    const consumer = runner.pipe('cat', []);
    const chunks: Buffer[] = [];
    consumer.stdout.on('data', (b: Buffer) => chunks.push(b));
    consumer.stdin.end('all of it\n');
    await within(20_000, consumer.done);
    expect(Buffer.concat(chunks).toString()).toBe('all of it\n');
  });

  it('an abort stops both ends of a running copy, and every promise settles', async () => {
    const controller = new AbortController();
    const producer = runner.pipe('yes', ['y'], { signal: controller.signal });
    producer.stdin.end();
    // `sleep` never reads: the copy blocks on a full pipe until the abort.
    const consumer = runner.pipe('sh', ['-c', 'trap "" TERM; exec sleep 60'], { signal: controller.signal });
    const copy = settled(pipeline(producer.stdout, consumer.stdin, { signal: controller.signal }));
    setTimeout(() => controller.abort(new AbortedError('SIGINT')), 300);
    expect(await within(30_000, copy)).toBeInstanceOf(Error);
    expect(await within(30_000, settled(producer.done))).toBeInstanceOf(AbortedError);
    expect(await within(30_000, settled(consumer.done))).toBeInstanceOf(AbortedError);
    expect(alive(producer.pid)).toBe(false);
    expect(alive(consumer.pid)).toBe(false);
  });

  it('a program that does not exist fails with a hint', async () => {
    const p = runner.pipe('bloodraven-no-such-program', []);
    const err = await within(20_000, settled(p.done));
    expect(err).toBeInstanceOf(ExternalCommandError);
    expect((err as ExternalCommandError).hint).toMatch(/not installed or not on PATH/);
  });
});
