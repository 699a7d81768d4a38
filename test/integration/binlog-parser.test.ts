/**
 * The binlog parser on real MariaDB binlogs, judged by an independent oracle: the server's own
 * `@@gtid_binlog_pos`/`@@last_gtid`, and `mariadb-binlog`'s listing of the same files (its
 * `# at N` and `#YYMMDD HH:MM:SS server id S end_log_pos E … GTID d-s-n` lines give every event's
 * position, time and GTID).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBinlogFile, parseMariadbGtidPos, type BinlogSummary, type BinlogTransaction } from '../../src/lib/pitr/binlog-parser.js';
import { rootConnection, startTestServer, type TestServer } from '../support/mariadb.js';

const run = promisify(execFile);

// --- The oracle: mariadb-binlog's listing ----------------------------------------------------

interface OracleEvent {
  start: number;
  end: number;
  time: Date;
  serverId: number;
  description: string;
}

interface OracleGroup {
  gtid: string;
  start: number;
  end: number;
  time: Date;
  lastTime: Date;
}

interface Oracle {
  events: OracleEvent[];
  /** Every `# at N` line: where mariadb-binlog says events start. */
  atLines: number[];
  /** Event groups as the listing shows them: a GTID event and what follows up to the next GTID or file event. */
  groups: OracleGroup[];
}

const headerLine = /^#(\d{2})(\d{2})(\d{2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+server id (\d+)\s+end_log_pos (\d+)\s+(?:CRC32 0x[0-9a-f]+\s+)?(.*)$/;
const fileEvents = /^(Start:|Gtid list|Binlog checkpoint|Rotate to|Stop)/;

async function oracle(file: string): Promise<Oracle> {
  // TZ=UTC: the listing prints times in the local zone.
  const { stdout } = await run('mariadb-binlog', ['--no-defaults', file], { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 256 * 1024 * 1024 });
  const events: OracleEvent[] = [];
  const atLines: number[] = [];
  for (const line of stdout.split('\n')) {
    const at = /^# at (\d+)$/.exec(line);
    if (at) atLines.push(Number(at[1]));
    const m = headerLine.exec(line);
    if (!m) continue;
    const [, yy, mo, dd, hh, mi, ss, serverId, end, description] = m;
    events.push({
      start: events.at(-1)?.end ?? 4,
      end: Number(end),
      time: new Date(Date.UTC(2000 + Number(yy), Number(mo) - 1, Number(dd), Number(hh), Number(mi), Number(ss))),
      serverId: Number(serverId),
      description: (description ?? '').trim(),
    });
  }
  const groups: OracleGroup[] = [];
  let open: OracleGroup | undefined;
  for (const e of events) {
    const gtid = /^GTID (\d+-\d+-\d+)/.exec(e.description);
    if (gtid?.[1]) {
      open = { gtid: gtid[1], start: e.start, end: e.end, time: e.time, lastTime: e.time };
      groups.push(open);
    } else if (fileEvents.test(e.description)) {
      open = undefined;
    } else if (open) {
      open.end = e.end;
      open.lastTime = e.time;
    }
  }
  return { events, atLines, groups };
}

/** Checks a parsed file against the listing of the same file. */
function expectMatchesOracle(summary: BinlogSummary, transactions: BinlogTransaction[], listing: Oracle): void {
  // The listing's event chain is consistent with its own `# at` lines.
  expect([...new Set(listing.atLines)].sort((a, b) => a - b)).toEqual(listing.events.map((e) => e.start));
  expect(summary.events).toBe(listing.events.length);
  expect(summary.endPosition).toBe(listing.events.at(-1)?.end);
  expect(transactions.map((t) => ({ gtid: t.gtid, start: t.startPosition, end: t.endPosition, time: t.timestamp }))).toEqual(
    listing.groups.map((g) => ({ gtid: g.gtid, start: g.start, end: g.end, time: g.time })),
  );
  expect(summary.transactions).toBe(listing.groups.length);
  expect(summary.firstEventTime).toEqual(listing.groups[0]?.time ?? null);
  expect(summary.lastEventTime).toEqual(listing.groups.at(-1)?.lastTime ?? null);
  expect(summary.serverIds).toEqual([...new Set(listing.events.map((e) => e.serverId))]);
}

// --- The server and its files ----------------------------------------------------------------

let server: TestServer;
let conn: Connection;

async function query<T = Record<string, unknown>>(statement: string): Promise<T[]> {
  const [rows] = await conn.query(statement);
  return rows as T[];
}

/** Runs one statement (or transaction) and returns the GTID the server gave it. */
async function logged(statements: string): Promise<string> {
  await conn.query(statements);
  const [row] = await query<{ gtid: string }>('SELECT @@last_gtid AS gtid');
  return row?.gtid ?? '';
}

async function binlogPos(): Promise<string> {
  const [row] = await query<{ pos: string }>('SELECT @@gtid_binlog_pos AS pos');
  return row?.pos ?? '';
}

async function binlogFiles(): Promise<string[]> {
  const index = await readFile(resolve(server.datadir, 'binlog.index'), 'utf8');
  return index
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => resolve(server.datadir, l.trim()));
}

async function parseWithTransactions(file: string): Promise<{ summary: BinlogSummary; transactions: BinlogTransaction[] }> {
  const transactions: BinlogTransaction[] = [];
  const summary = await parseBinlogFile(file, { onTransaction: (t) => transactions.push(t) });
  return { summary, transactions };
}

/** GTIDs of one (domain, server), first..last, in bloodraven notation. */
function gtidRun(d: number, s: number, first: number, last: number): string {
  return first === last ? `${d}-${s}-${first}` : `${d}-${s}-${first}..${last}`;
}

const FIXED_TIME = 1_600_000_000; // 2020-09-13T12:26:40Z

const gtid: Record<string, string> = {};
const posAfter: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  conn = await rootConnection(server);

  // File 1: DDL, InnoDB DML (single and multi-statement), a transaction at a fixed time, MyISAM and Aria DML.
  gtid.createDb = await logged('CREATE DATABASE pitr');
  gtid.createInnodb = await logged('CREATE TABLE pitr.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB');
  gtid.insert1 = await logged("INSERT INTO pitr.t VALUES (1, 'a')");
  gtid.multi = await logged("BEGIN; INSERT INTO pitr.t VALUES (2, 'b'); INSERT INTO pitr.t VALUES (3, 'c'); COMMIT");
  gtid.fixedTime = await logged(`SET TIMESTAMP = ${FIXED_TIME}; UPDATE pitr.t SET v = 'x' WHERE id = 1; SET TIMESTAMP = DEFAULT`);
  gtid.alter = await logged('ALTER TABLE pitr.t ADD COLUMN w INT');
  gtid.createMyisam = await logged('CREATE TABLE pitr.m (id INT) ENGINE=MyISAM');
  gtid.insertMyisam = await logged('INSERT INTO pitr.m VALUES (1)');
  gtid.createAria = await logged('CREATE TABLE pitr.a (id INT) ENGINE=Aria');
  gtid.insertAria = await logged('INSERT INTO pitr.a VALUES (1)');
  posAfter.push(await binlogPos());
  await conn.query('FLUSH BINARY LOGS');

  // File 2: XA (prepare and commit are two groups), a rolled-back MyISAM change, a bulk insert
  // (the file outgrows one 1 MiB read, so events straddle chunks); sealed by changing the checksum
  // setting, which rotates.
  gtid.xaPrepare = await logged("XA START 'x1'; INSERT INTO pitr.t VALUES (10, 'xa', NULL); XA END 'x1'; XA PREPARE 'x1'");
  gtid.xaCommit = await logged("XA COMMIT 'x1'");
  gtid.myisamRollback = await logged('BEGIN; INSERT INTO pitr.m VALUES (2); ROLLBACK');
  gtid.bulk = await logged(`INSERT INTO pitr.t (id, v) SELECT seq, REPEAT('z', 20) FROM pitr.seq_100_to_100099`);
  posAfter.push(await binlogPos());
  await conn.query('SET GLOBAL binlog_checksum = NONE');

  // File 3: written without checksums.
  gtid.noChecksum = await logged("INSERT INTO pitr.t VALUES (20, 'n', NULL)");
  posAfter.push(await binlogPos());
  await conn.query('SET GLOBAL binlog_checksum = CRC32');
});

afterAll(async () => {
  await conn?.end().catch(() => {});
  await server?.stop();
});

describe('parseBinlog on sealed MariaDB binlogs', () => {
  it('reads the server, checksum and GTIDs of each sealed file, as the server states them', async () => {
    const files = await binlogFiles();
    expect(files.length).toBeGreaterThanOrEqual(4);
    const s = server.serverId;
    const [end1, end2, end3] = posAfter.map((p) => parseMariadbGtidPos(p)[0]?.seq ?? 0);

    const one = await parseBinlogFile(files[0] ?? '');
    expect(one).toMatchObject({
      flavor: 'mariadb',
      checksum: 'crc32',
      serverIds: [s],
      previousGtids: '',
      gtids: gtidRun(0, s, 1, end1 ?? 0),
      endedWith: 'rotate',
      nextFile: 'binlog.000002',
      truncated: false,
      inUse: false,
      transactions: 10,
      incompleteTransaction: null,
    });
    expect(one.serverVersion).toMatch(/MariaDB/);
    expect(one.gtidRanges).toEqual([{ domain: 0, server: s, first: 1, last: end1 }]);
    // The file's last GTID is the server's gtid_binlog_pos when it was sealed.
    expect(posAfter[0]).toBe(`0-${s}-${end1}`);

    const two = await parseBinlogFile(files[1] ?? '');
    expect(two.size, 'file 2 spans several 1 MiB reads').toBeGreaterThan(1024 * 1024);
    expect(two).toMatchObject({ checksum: 'crc32', previousGtids: posAfter[0], gtids: gtidRun(0, s, (end1 ?? 0) + 1, end2 ?? 0), endedWith: 'rotate', nextFile: 'binlog.000003' });

    const three = await parseBinlogFile(files[2] ?? '');
    expect(three).toMatchObject({ checksum: 'none', previousGtids: posAfter[1], gtids: gtidRun(0, s, end3 ?? 0, end3 ?? 0), endedWith: 'rotate', nextFile: 'binlog.000004' });
    expect(posAfter[2]).toBe(`0-${s}-${end3}`);
  });

  it('agrees with mariadb-binlog on every event group: GTID, positions, times', async () => {
    const files = (await binlogFiles()).slice(0, 3);
    for (const file of files) {
      const { summary, transactions } = await parseWithTransactions(file);
      expectMatchesOracle(summary, transactions, await oracle(file));
    }
  });

  it('ends each kind of transaction where it ends: DDL, InnoDB XID, MyISAM/Aria COMMIT, XA', async () => {
    const files = (await binlogFiles()).slice(0, 2);
    // The description mariadb-binlog gives the last event of each group, by GTID.
    const lastEvents = new Map<string | null, string>();
    for (const file of files) {
      const { transactions } = await parseWithTransactions(file);
      const listing = await oracle(file);
      for (const t of transactions) lastEvents.set(t.gtid, listing.events.find((e) => e.end === t.endPosition)?.description ?? '(none)');
    }
    expect([...lastEvents.keys()]).toEqual(Object.values(gtid).slice(0, lastEvents.size));
    const lastEvent = (name: string): string => lastEvents.get(gtid[name] ?? '') ?? '(missing)';
    expect(lastEvent('createDb')).toMatch(/^Query/);
    expect(lastEvent('alter')).toMatch(/^Query/);
    expect(lastEvent('insert1')).toMatch(/^Xid/);
    expect(lastEvent('multi')).toMatch(/^Xid/);
    expect(lastEvent('insertMyisam')).toMatch(/^Query/); // COMMIT
    expect(lastEvent('insertAria')).toMatch(/^Query/); // COMMIT
    expect(lastEvent('xaPrepare')).toMatch(/^XID = X'/); // XA_PREPARE_LOG_EVENT
    expect(lastEvent('xaCommit')).toMatch(/^Query/);
    expect(lastEvent('myisamRollback')).toMatch(/^Query/); // ROLLBACK
  });

  it('reads event times from the events: SET TIMESTAMP shows in its transaction', async () => {
    const files = await binlogFiles();
    const { summary, transactions } = await parseWithTransactions(files[0] ?? '');
    const fixed = transactions.find((t) => t.gtid === gtid.fixedTime);
    expect(fixed?.timestamp).toEqual(new Date(FIXED_TIME * 1000));
    // The others are recent; the first and last event times are in file order, not a min/max.
    expect(summary.firstEventTime?.getTime()).toBeGreaterThan(Date.now() - 3_600_000);
    expect(summary.lastEventTime?.getTime()).toBeGreaterThan(FIXED_TIME * 1000);
  });
});

describe('parseBinlog on the active binlog, after shutdown and after a crash', () => {
  it('reads the file being written: in use, no end event, every transaction complete', async () => {
    const active = (await binlogFiles()).at(-1) ?? '';
    const expectComplete = async (name: string, statement: string): Promise<void> => {
      gtid[name] = await logged(statement);
      const summary = await parseBinlogFile(active);
      expect(summary, name).toMatchObject({ inUse: true, endedWith: 'eof', nextFile: null, truncated: false, incompleteTransaction: null });
      expect(summary.gtidRanges.at(-1)?.last, name).toBe(parseMariadbGtidPos(gtid[name] ?? '')[0]?.seq);
    };
    // The last group of the file has nothing after it: only the explicit end rules can close it.
    await expectComplete('activeDdl', 'CREATE TABLE pitr.act (id INT) ENGINE=InnoDB');
    await expectComplete('activeInnodb', 'INSERT INTO pitr.act VALUES (1)');
    await expectComplete('activeMyisam', 'INSERT INTO pitr.m VALUES (3)');
    const { summary, transactions } = await parseWithTransactions(active);
    expectMatchesOracle(summary, transactions, await oracle(active));
  });

  it('knows the longest statement mariadb-binlog prints for a transaction (the packet the replay sends), to within 1%', async () => {
    const [, bulkFile] = await binlogFiles();
    const { stdout } = await run('mariadb-binlog', ['--no-defaults', bulkFile!], { maxBuffer: 256 * 1024 * 1024 });
    // The row statements as the client sends them: from BINLOG ' to the closing quote.
    let longest = 0;
    let open = -1;
    let at = 0;
    for (const line of stdout.split('\n')) {
      if (line === "BINLOG '") open = at;
      if (open >= 0 && line === "'/*!*/;") {
        longest = Math.max(longest, at + 1 - open);
        open = -1;
      }
      at += line.length + 1;
    }
    const { transactions } = await parseWithTransactions(bulkFile!);
    const estimate = Math.max(...transactions.map((t) => t.largestStatementBytes));
    expect(longest).toBeGreaterThan(3_000_000); // the 100,000-row INSERT
    expect(estimate).toBeGreaterThanOrEqual(longest);
    expect(estimate).toBeLessThanOrEqual(longest * 1.01 + 64);
    expect(transactions.find((t) => t.gtid === gtid.bulk)?.largestStatementBytes).toBe(estimate);
  });

  it('sees the STOP event a clean shutdown writes', async () => {
    const before = await binlogFiles();
    await conn.end();
    await server.restart();
    conn = await rootConnection(server);
    const after = await binlogFiles();
    expect(after.length).toBe(before.length + 1);
    const stopped = await parseBinlogFile(before.at(-1) ?? '');
    expect(stopped).toMatchObject({ endedWith: 'stop', inUse: false, nextFile: null, incompleteTransaction: null });
    const fresh = await parseBinlogFile(after.at(-1) ?? '');
    expect(fresh).toMatchObject({ transactions: 0, gtids: '', firstEventTime: null, previousGtids: await binlogPos() });
  });

  it('sees a crashed file as still in use and unended, even after recovery', async () => {
    gtid.beforeCrash = await logged('INSERT INTO pitr.act VALUES (2)');
    const file = (await binlogFiles()).at(-1) ?? '';
    await conn.end();
    await server.crash();
    const crashed = await parseBinlogFile(file);
    expect(crashed).toMatchObject({ inUse: true, endedWith: 'eof', truncated: false, incompleteTransaction: null, gtids: gtid.beforeCrash });
    await server.restart();
    conn = await rootConnection(server);
    // Recovery starts a new file and leaves the crashed one as it was.
    expect(await parseBinlogFile(file)).toEqual(crashed);
  });
});
