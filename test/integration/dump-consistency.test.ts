/**
 * Consistency proven: while several connections keep moving money between accounts (the total
 * never changes), a multi-threaded dump with many small chunks runs. The dumped rows must add
 * up to the same total, and the dump's GTID position must match what it holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection } from 'mysql2/promise';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/log.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { dataFilesOf, listFiles, readDataFile } from '../support/dump-reader.js';
import { rootConnection, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

const accounts = 60_000;
const initialBalance = 1000;

let server: TestServer;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-consistency-'));
  server = await startTestServer();
  await sql(
    server,
    `CREATE DATABASE bank; USE bank;
     CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(64) NOT NULL);
     INSERT INTO accounts SELECT seq, ${initialBalance}, REPEAT('n', 60) FROM seq_1_to_${accounts};
     CREATE TABLE transfers (id INT AUTO_INCREMENT PRIMARY KEY, src INT, dst INT, amount INT);
     ANALYZE TABLE accounts;`,
  );
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Moves money between random accounts in transactions until stopped; returns how many it made. */
async function mover(conn: Connection, stop: { done: boolean }): Promise<number> {
  let n = 0;
  while (!stop.done) {
    const a = 1 + Math.floor(Math.random() * accounts);
    const b = 1 + Math.floor(Math.random() * accounts);
    const amount = 1 + Math.floor(Math.random() * 50);
    await conn.query('START TRANSACTION');
    await conn.query('UPDATE accounts SET balance = balance - ? WHERE id = ?', [amount, a]);
    await conn.query('UPDATE accounts SET balance = balance + ? WHERE id = ?', [amount, b]);
    await conn.query('INSERT INTO transfers (src, dst, amount) VALUES (?, ?, ?)', [a, b, amount]);
    await conn.query('COMMIT');
    n++;
  }
  return n;
}

describe('a consistent dump under concurrent writes', () => {
  it('keeps the invariant: dumped balances add up to the constant total', async () => {
    const movers = await Promise.all(Array.from({ length: 4 }, () => rootConnection(server, 'bank')));
    const stop = { done: false };
    const running = movers.map((c) => mover(c, stop));
    // Let the movers get going before the dump starts.
    await new Promise((r) => setTimeout(r, 300));
    const [before] = (await sql(server, 'SELECT COUNT(*) AS n FROM bank.transfers')) as Array<{ n: string }>;

    const store = createFsStore({ root: join(work, 'backups') });
    const record = await runBackup(
      { connector: rootConnector(server), store, logger: silentLogger, clock: systemClock },
      {
        group: 'bank',
        profile: 'p',
        toolVersion: 'test',
        dump: { threads: 4, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['bank'], excludeSchemas: [], lockWaitTimeoutSeconds: 30 },
      },
      { signal: new AbortController().signal },
    );
    const [after] = (await sql(server, 'SELECT COUNT(*) AS n FROM bank.transfers')) as Array<{ n: string }>;
    stop.done = true;
    const moved = (await Promise.all(running)).reduce((a, b) => a + b, 0);
    await Promise.all(movers.map((c) => c.end()));

    // The movers really were writing while the dump ran.
    expect(Number(after!.n)).toBeGreaterThan(Number(before!.n));
    expect(moved).toBeGreaterThan(0);

    const dir = join(store.location, record.name);
    const files = await listFiles(dir);
    const chunks = dataFilesOf(files, 'bank@accounts', 'tsv.zst');
    expect(chunks.length).toBeGreaterThan(8);
    let total = 0n;
    let rows = 0;
    for (const f of chunks) {
      const text = (await readDataFile(dir, f)).toString('utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        total += BigInt(line.split('\t')[1]!);
        rows++;
      }
    }
    expect(rows).toBe(accounts);
    expect(total).toBe(BigInt(accounts * initialBalance));

    // The transfers log is dumped from the same point in time: every transfer in it, and no
    // other, is reflected in the balances. Replaying the dumped log on the initial balances must
    // give the dumped balances.
    const balances = new Map<number, bigint>();
    for (const f of chunks) {
      for (const line of (await readDataFile(dir, f)).toString('utf8').split('\n')) {
        if (!line) continue;
        const [id, balance] = line.split('\t');
        balances.set(Number(id), BigInt(balance!));
      }
    }
    const replayed = new Map<number, bigint>();
    for (const f of dataFilesOf(files, 'bank@transfers', 'tsv.zst')) {
      for (const line of (await readDataFile(dir, f)).toString('utf8').split('\n')) {
        if (!line) continue;
        const [, src, dst, amount] = line.split('\t').map(Number);
        replayed.set(src!, (replayed.get(src!) ?? BigInt(initialBalance)) - BigInt(amount!));
        replayed.set(dst!, (replayed.get(dst!) ?? BigInt(initialBalance)) + BigInt(amount!));
      }
    }
    expect(replayed.size).toBeGreaterThan(0);
    for (const [id, balance] of replayed) expect(balances.get(id), `account ${id}`).toBe(balance);
  });
});
