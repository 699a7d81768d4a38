/**
 * A session dropped while a statement runs (an interrupt, or another worker's failure) fails
 * that statement at once with a named error. With mysql2 alone, a LOAD DATA LOCAL whose session
 * was dropped while the server read its data never settled: the server closes the connection
 * without an answer, which mysql2 ignores once it is closing, and whatever awaited the load
 * waited forever (a hang, or exit 13 once nothing else was pending).
 */
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { expectAppError } from '../support/expect-error.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await sql(server, 'CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))');
});

afterAll(async () => {
  await server?.stop();
});

/** `work`, or a "still waiting" rejection after `ms`. */
function bounded<T>(work: Promise<T>, ms = 30_000): Promise<T> {
  const controller = new AbortController();
  const late = sleep(ms, undefined, { signal: controller.signal }).then(() => Promise.reject(new Error(`still waiting after ${ms} ms`)));
  late.catch(() => undefined);
  return Promise.race([work, late]).finally(() => controller.abort());
}

describe('a session dropped mid-statement', () => {
  it('fails a LOAD DATA LOCAL still reading its data with MYSQL_SESSION_DROPPED', async () => {
    const session = await rootConnector(server).connect();
    // Data that never ends: the server keeps reading until the connection goes.
    const input = new PassThrough();
    let asked = false;
    const running = session.loadLocal("LOAD DATA LOCAL INFILE 'x' INTO TABLE d.t", () => {
      asked = true;
      input.write('1\tone\n');
      return input;
    });
    for (let i = 0; !asked && i < 200; i++) await sleep(50);
    expect(asked).toBe(true);
    await sleep(200);
    session.destroy();
    const err = await expectAppError(bounded(running), 'MYSQL_SESSION_DROPPED');
    expect(err.message).toMatch(/dropped while a statement was running/);
    input.destroy();
  });

});
