/**
 * What a session keeps of the statements it ran: nothing. A load of many small tables runs tens of
 * thousands of statements on a few sessions; when each call raced one promise that lived as long
 * as the session (the way a dropped session fails its running statement), every race left a
 * reaction on that promise, and with it the statement's result, reachable until the session
 * closed: about 10 MB of results at 5,000 tables, and V8 grows its heap by a multiple of what
 * stays reachable.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MysqlSession } from '../../src/lib/mysql/connection.js';
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

/** A full garbage collection (the flag makes `gc` available to new contexts). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** How many of the objects `refs` point at are still reachable after a full collection. */
async function stillReachable(refs: WeakRef<object>[]): Promise<number> {
  // A WeakRef made in this turn keeps its object until the turn ends.
  await nextTurn();
  collectGarbage();
  await nextTurn();
  return refs.filter((r) => r.deref() !== undefined).length;
}

describe('a session', () => {
  it('keeps no result of a statement that has finished, while it stays open', async () => {
    const session: MysqlSession = await rootConnector(server).connect();
    try {
      const refs: WeakRef<object>[] = [];
      for (let i = 0; i < 200; i++) {
        refs.push(new WeakRef(await session.query('SELECT ? AS n', [i])));
        await session.exec('DO 1');
      }
      // Before the fix all 200 stayed reachable until the session closed.
      expect(await stillReachable(refs)).toBeLessThan(10);
    } finally {
      await session.close();
    }
  });

  it('fails every call made after it was dropped at once, as dropped (MYSQL_SESSION_DROPPED)', async () => {
    const session = await rootConnector(server).connect();
    session.destroy();
    await expectAppError(session.query('SELECT 1'), 'MYSQL_SESSION_DROPPED');
    await expectAppError(session.exec('SELECT 1'), 'MYSQL_SESSION_DROPPED');
  });
});
