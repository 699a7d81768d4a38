/**
 * The binlog parser on small files built byte by byte from the v4 event format. No MySQL server
 * can run here, so the MySQL events (GTID_LOG, PREVIOUS_GTIDS, TRANSACTION_PAYLOAD) are covered
 * only by these; the MariaDB paths are also checked against real files in the integration test.
 */
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/lib/errors.js';
import {
  formatMariadbGtidRanges,
  mysqlGtidSetContains,
  parseBinlog,
  parseMariadbGtidPos,
  parseMysqlGtidSet,
  type BinlogTransaction,
} from '../../src/lib/pitr/binlog-parser.js';

// --- A tiny binlog writer --------------------------------------------------------------------

const T = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  FDE: 15,
  XID: 16,
  TABLE_MAP: 19,
  WRITE_ROWS: 30,
  MYSQL_GTID: 33,
  MYSQL_ANONYMOUS_GTID: 34,
  MYSQL_PREVIOUS_GTIDS: 35,
  MYSQL_PAYLOAD: 40,
  ANNOTATE_ROWS: 160,
  CHECKPOINT: 161,
  GTID: 162,
  GTID_LIST: 163,
  START_ENCRYPTION: 164,
} as const;

interface EventSpec {
  type: number;
  body: Buffer;
  timestamp?: number;
  serverId?: number;
  flags?: number;
}

const BASE_TIME = 1_700_000_000;

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function fdeBody(version: string, algorithm: 0 | 1 | null): Buffer {
  const v = Buffer.alloc(50);
  v.write(version, 'latin1');
  // One post-header length per event type; the parser reads those of QUERY (13) and ROTATE (8).
  const postHeaders = Buffer.alloc(164);
  postHeaders[T.QUERY - 1] = 13;
  postHeaders[T.ROTATE - 1] = 8;
  return Buffer.concat([u16(4), v, u32(0), Buffer.from([19]), postHeaders, ...(algorithm === null ? [] : [Buffer.from([algorithm])])]);
}

function queryBody(sql: string, db = 'd'): Buffer {
  const status = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x00]); // flags2 status var, as servers write
  return Buffer.concat([u32(5), u32(0), Buffer.from([db.length]), u16(0), u16(status.length), status, Buffer.from(db), Buffer.from([0]), Buffer.from(sql)]);
}

function mariadbGtid(seq: number, domain: number, flags: number): Buffer {
  return Buffer.concat([u64(seq), u32(domain), Buffer.from([flags]), Buffer.alloc(6)]);
}

const UUID_A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const UUID_B = 'a0a0a0a0-0000-1111-2222-333344445555';

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

function mysqlGtid(uuid: string | null, gno: number): Buffer {
  // flags, sid, gno, lt_type 2, last_committed, sequence_number.
  return Buffer.concat([Buffer.from([0]), uuid ? uuidBytes(uuid) : Buffer.alloc(16), u64(gno), Buffer.from([2]), u64(0), u64(1)]);
}

function previousGtids(sets: Array<[string, Array<[number, number]>]>): Buffer {
  const parts = [u64(sets.length)];
  for (const [uuid, intervals] of sets) {
    parts.push(uuidBytes(uuid), u64(intervals.length));
    for (const [start, endExclusive] of intervals) parts.push(u64(start), u64(endExclusive));
  }
  return Buffer.concat(parts);
}

function gtidList(entries: Array<[number, number, number]>): Buffer {
  return Buffer.concat([u32(entries.length), ...entries.flatMap(([d, s, n]) => [u32(d), u32(s), u64(n)])]);
}

const opaque = (n: number): Buffer => Buffer.alloc(n, 0xab);

function flip(file: Buffer, at: number): void {
  file.writeUInt8(file.readUInt8(at) ^ 0x01, at);
}

/** Lays events out from offset 4 with correct sizes, end positions and (optionally) CRC32s. */
function binlog(events: EventSpec[], options: { checksum?: boolean; fdeFlags?: number } = {}): Buffer {
  const checksum = options.checksum ?? true;
  const parts: Buffer[] = [Buffer.from([0xfe, 0x62, 0x69, 0x6e])];
  let offset = 4;
  for (const e of events) {
    const isFde = e.type === T.FDE;
    const withCrc = checksum || isFde;
    const size = 19 + e.body.length + (withCrc ? 4 : 0);
    const header = Buffer.alloc(19);
    header.writeUInt32LE(e.timestamp ?? BASE_TIME, 0);
    header.writeUInt8(e.type, 4);
    header.writeUInt32LE(e.serverId ?? 1, 5);
    header.writeUInt32LE(size, 9);
    header.writeUInt32LE(offset + size, 13);
    header.writeUInt16LE(isFde ? (options.fdeFlags ?? 0) : (e.flags ?? 0), 17);
    const event = Buffer.concat([header, e.body, Buffer.alloc(withCrc ? 4 : 0)]);
    if (withCrc) {
      // Servers checksum the FDE as if its in-use flag were clear (they clear it in place on close).
      const summed = Buffer.from(event.subarray(0, size - 4));
      if (isFde) summed.writeUInt16LE(summed.readUInt16LE(17) & ~1, 17);
      event.writeUInt32LE(crc32(summed), size - 4);
    }
    parts.push(event);
    offset += size;
  }
  return Buffer.concat(parts);
}

/** Offsets of each event in a file built by binlog(). */
function offsets(file: Buffer): number[] {
  const out: number[] = [];
  for (let at = 4; at < file.length; at += file.readUInt32LE(at + 9)) out.push(at);
  return out;
}

async function parse(file: Buffer | Buffer[]): Promise<{ summary: Awaited<ReturnType<typeof parseBinlog>>; transactions: BinlogTransaction[] }> {
  const transactions: BinlogTransaction[] = [];
  const chunks = Array.isArray(file) ? file : [file];
  const summary = await parseBinlog(Readable.from(chunks), { onTransaction: (t) => transactions.push(t) });
  return { summary, transactions };
}

async function parseError(file: Buffer): Promise<AppError> {
  const err: unknown = await parseBinlog(Readable.from([file])).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

// --- Sample files ----------------------------------------------------------------------------

const MARIADB_VERSION = '10.11.6-MariaDB-log';

/** A sealed MariaDB file: DDL, InnoDB DML, MyISAM DML, a second domain, a gap, then ROTATE. */
function mariadbFile(): Buffer {
  const at = (s: number): number => BASE_TIME + s;
  return binlog([
    { type: T.FDE, body: fdeBody(MARIADB_VERSION, 1), timestamp: at(0) },
    { type: T.GTID_LIST, body: gtidList([[1, 2, 40], [0, 1, 0]]), timestamp: at(0) },
    { type: T.CHECKPOINT, body: Buffer.concat([u32(10), Buffer.from('binlog.000001')]), timestamp: at(0) },
    // 0-1-1: DDL, standalone (FL_STANDALONE | FL_ALLOW_PARALLEL | FL_DDL)
    { type: T.GTID, body: mariadbGtid(1, 0, 0x29), timestamp: at(10) },
    { type: T.QUERY, body: queryBody('CREATE TABLE t (id INT PRIMARY KEY)'), timestamp: at(10) },
    // 0-1-2: InnoDB insert (FL_TRANSACTIONAL | FL_ALLOW_PARALLEL), ends with XID
    { type: T.GTID, body: mariadbGtid(2, 0, 0x0c), timestamp: at(20) },
    { type: T.ANNOTATE_ROWS, body: Buffer.from('INSERT INTO t VALUES (1)'), timestamp: at(20) },
    { type: T.TABLE_MAP, body: opaque(30), timestamp: at(20) },
    { type: T.WRITE_ROWS, body: opaque(5000), timestamp: at(20) },
    { type: T.XID, body: u64(77), timestamp: at(21) },
    // 0-1-3: MyISAM insert (not transactional), ends with a COMMIT query
    { type: T.GTID, body: mariadbGtid(3, 0, 0x08), timestamp: at(30) },
    { type: T.TABLE_MAP, body: opaque(30), timestamp: at(30) },
    { type: T.WRITE_ROWS, body: opaque(40), timestamp: at(30) },
    { type: T.QUERY, body: queryBody('COMMIT'), timestamp: at(31) },
    // 1-2-41: another domain, replicated from server 2
    { type: T.GTID, body: mariadbGtid(41, 1, 0x0c), timestamp: at(40), serverId: 2 },
    { type: T.TABLE_MAP, body: opaque(30), timestamp: at(40), serverId: 2 },
    { type: T.WRITE_ROWS, body: opaque(40), timestamp: at(40), serverId: 2 },
    { type: T.XID, body: u64(78), timestamp: at(40), serverId: 2 },
    // 0-1-5 after a gap; SET TIMESTAMP made it older than the events before it
    { type: T.GTID, body: mariadbGtid(5, 0, 0x0c), timestamp: at(-1000) },
    { type: T.WRITE_ROWS, body: opaque(40), timestamp: at(-1000) },
    { type: T.XID, body: u64(79), timestamp: at(-1000) },
    { type: T.ROTATE, body: Buffer.concat([u64(4), Buffer.from('binlog.000002')]), timestamp: at(50) },
  ]);
}

// --- Tests -----------------------------------------------------------------------------------

describe('parseBinlog on MariaDB files', () => {
  it('summarises a sealed file: flavor, GTIDs, times, how it ended', async () => {
    const file = mariadbFile();
    const { summary } = await parse(file);
    expect(summary).toMatchObject({
      flavor: 'mariadb',
      serverVersion: MARIADB_VERSION,
      checksum: 'crc32',
      serverIds: [1, 2],
      gtids: '0-1-1..3,0-1-5,1-2-41',
      previousGtids: '0-1-0,1-2-40',
      events: 22,
      size: file.length,
      endPosition: file.length,
      endedWith: 'rotate',
      nextFile: 'binlog.000002',
      truncated: false,
      inUse: false,
      transactions: 5,
      incompleteTransaction: null,
    });
    expect(summary.gtidRanges).toEqual([
      { domain: 0, server: 1, first: 1, last: 3 },
      { domain: 0, server: 1, first: 5, last: 5 },
      { domain: 1, server: 2, first: 41, last: 41 },
    ]);
    // First and last in file order, not min and max: the last transaction's SET TIMESTAMP is older.
    expect(summary.firstEventTime).toEqual(new Date((BASE_TIME + 10) * 1000));
    expect(summary.lastEventTime).toEqual(new Date((BASE_TIME - 1000) * 1000));
  });

  it('finds each transaction boundary: DDL, XID, COMMIT query', async () => {
    const file = mariadbFile();
    const at = offsets(file);
    const { transactions } = await parse(file);
    const t = (gtid: string, first: number, last: number, serverId = 1) => ({ gtid, serverId, startPosition: at[first], endPosition: at[last + 1] });
    expect(transactions.map(({ timestamp: _, largestStatementBytes: __, ...rest }) => rest)).toEqual([
      t('0-1-1', 3, 4),
      t('0-1-2', 5, 9),
      t('0-1-3', 10, 13),
      t('1-2-41', 14, 17, 2),
      t('0-1-5', 18, 20),
    ]);
    expect(transactions[1]?.timestamp).toEqual(new Date((BASE_TIME + 20) * 1000));
  });

  it('reads the same from one-byte chunks as from one buffer', async () => {
    const file = mariadbFile();
    const whole = await parse(file);
    const bytes = [...file].map((b) => Buffer.from([b]));
    const split = await parse(bytes);
    expect(split).toEqual(whole);
  });

  it('accepts a plain async iterable of Uint8Array', async () => {
    const file = mariadbFile();
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < file.length; i += 100) {
        await tick(); // a producer that is slower than the parser
        yield new Uint8Array(file.subarray(i, i + 100));
      }
    }
    const summary = await parseBinlog(chunks());
    expect(summary.gtids).toBe('0-1-1..3,0-1-5,1-2-41');
  });

  it('closes a group with no recognisable end at the event before the next GTID', async () => {
    const file = binlog([
      { type: T.FDE, body: fdeBody(MARIADB_VERSION, 1) },
      { type: T.GTID, body: mariadbGtid(1, 0, 0x0c) },
      { type: T.WRITE_ROWS, body: opaque(10) },
      { type: T.GTID, body: mariadbGtid(2, 0, 0x29) },
      { type: T.QUERY, body: queryBody('DROP TABLE t') },
    ]);
    const at = offsets(file);
    const { summary, transactions } = await parse(file);
    expect(transactions.map((t) => [t.gtid, t.startPosition, t.endPosition])).toEqual([
      ['0-1-1', at[1], at[3]],
      ['0-1-2', at[3], file.length],
    ]);
    expect(summary.endedWith).toBe('eof');
  });

  it('does not end a transaction at ROLLBACK TO SAVEPOINT or XA END', async () => {
    const file = binlog([
      { type: T.FDE, body: fdeBody(MARIADB_VERSION, 1) },
      { type: T.GTID, body: mariadbGtid(1, 0, 0x08) },
      { type: T.QUERY, body: queryBody('SAVEPOINT `a`') },
      { type: T.QUERY, body: queryBody('ROLLBACK TO `a`') },
      { type: T.QUERY, body: queryBody("XA END X'31',X'',1") },
      { type: T.QUERY, body: queryBody('ROLLBACK') },
    ]);
    const { transactions } = await parse(file);
    expect(transactions.map((t) => t.endPosition)).toEqual([file.length]);
  });

  it('reports a file without transactions with null times', async () => {
    const file = binlog([
      { type: T.FDE, body: fdeBody(MARIADB_VERSION, 1) },
      { type: T.GTID_LIST, body: gtidList([[0, 1, 9]]) },
      { type: T.STOP, body: Buffer.alloc(0) },
    ]);
    const { summary } = await parse(file);
    expect(summary).toMatchObject({ gtids: '', previousGtids: '0-1-9', firstEventTime: null, lastEventTime: null, transactions: 0, endedWith: 'stop', nextFile: null });
  });

  it('reads files written without checksums', async () => {
    const file = binlog(
      [
        { type: T.FDE, body: fdeBody(MARIADB_VERSION, 0) },
        { type: T.GTID, body: mariadbGtid(7, 0, 0x0c) },
        { type: T.WRITE_ROWS, body: opaque(10) },
        { type: T.XID, body: u64(1) },
      ],
      { checksum: false },
    );
    const { summary } = await parse(file);
    expect(summary).toMatchObject({ checksum: 'none', gtids: '0-1-7', transactions: 1, size: file.length });
  });

  it('verifies the FDE checksum with the in-use flag cleared and reports the flag', async () => {
    const file = binlog([{ type: T.FDE, body: fdeBody(MARIADB_VERSION, 1) }], { fdeFlags: 1 });
    const { summary } = await parse(file);
    expect(summary.inUse).toBe(true);
  });
});

describe('parseBinlog on MySQL files (hand-built events)', () => {
  function mysqlFile(): Buffer {
    return binlog([
      { type: T.FDE, body: fdeBody('8.0.36', 1) },
      { type: T.MYSQL_PREVIOUS_GTIDS, body: previousGtids([[UUID_B, [[1, 4]]], [UUID_A, [[1, 11], [20, 21]]]]) },
      // UUID_A:11 InnoDB: BEGIN … XID
      { type: T.MYSQL_GTID, body: mysqlGtid(UUID_A, 11) },
      { type: T.QUERY, body: queryBody('BEGIN') },
      { type: T.TABLE_MAP, body: opaque(30) },
      { type: T.WRITE_ROWS, body: opaque(40) },
      { type: T.XID, body: u64(5) },
      // UUID_A:12 DDL: one query, no BEGIN
      { type: T.MYSQL_GTID, body: mysqlGtid(UUID_A, 12) },
      { type: T.QUERY, body: queryBody('CREATE TABLE t2 (id INT)') },
      // UUID_A:13 MyISAM: BEGIN … COMMIT
      { type: T.MYSQL_GTID, body: mysqlGtid(UUID_A, 13) },
      { type: T.QUERY, body: queryBody('BEGIN') },
      { type: T.WRITE_ROWS, body: opaque(40) },
      { type: T.QUERY, body: queryBody('COMMIT') },
      // UUID_B:5 compressed (8.0.20+): the payload is the whole transaction
      { type: T.MYSQL_GTID, body: mysqlGtid(UUID_B, 5) },
      { type: T.MYSQL_PAYLOAD, body: opaque(300) },
      // anonymous (gtid_mode=OFF)
      { type: T.MYSQL_ANONYMOUS_GTID, body: mysqlGtid(null, 0) },
      { type: T.QUERY, body: queryBody('BEGIN') },
      { type: T.WRITE_ROWS, body: opaque(40) },
      { type: T.XID, body: u64(6) },
      { type: T.STOP, body: Buffer.alloc(0) },
    ]);
  }

  it('summarises GTIDs in MySQL set syntax, previous GTIDs included', async () => {
    const { summary } = await parse(mysqlFile());
    expect(summary).toMatchObject({
      flavor: 'mysql',
      serverVersion: '8.0.36',
      checksum: 'crc32',
      gtids: `${UUID_A}:11-13,${UUID_B}:5`,
      previousGtids: `${UUID_A}:1-10:20,${UUID_B}:1-3`,
      transactions: 5,
      endedWith: 'stop',
    });
    expect(summary.gtidRanges).toEqual([
      { uuid: UUID_A, first: 11, last: 13 },
      { uuid: UUID_B, first: 5, last: 5 },
    ]);
  });

  it('finds BEGIN…XID, DDL, BEGIN…COMMIT, payload and anonymous boundaries', async () => {
    const file = mysqlFile();
    const at = offsets(file);
    const { transactions } = await parse(file);
    expect(transactions.map((t) => [t.gtid, t.startPosition, t.endPosition])).toEqual([
      [`${UUID_A}:11`, at[2], at[7]],
      [`${UUID_A}:12`, at[7], at[9]],
      [`${UUID_A}:13`, at[9], at[13]],
      [`${UUID_B}:5`, at[13], at[15]],
      [null, at[15], at[19]],
    ]);
  });

  it('reads MySQL 5.5 files, without the checksum algorithm byte, and GTID-less groups', async () => {
    const file = binlog(
      [
        { type: T.FDE, body: fdeBody('5.5.62-log', null) },
        { type: T.QUERY, body: queryBody('BEGIN') },
        { type: T.WRITE_ROWS, body: opaque(40) },
        { type: T.XID, body: u64(6) },
        { type: T.QUERY, body: queryBody('DROP TABLE x') },
      ],
      { checksum: false },
    );
    // The FDE of a pre-checksum server has no checksum trailer: drop the 4 bytes binlog() added.
    const fdeSize = file.readUInt32LE(4 + 9);
    const fixed = Buffer.concat([file.subarray(0, 4 + fdeSize - 4), file.subarray(4 + fdeSize)]);
    fixed.writeUInt32LE(fdeSize - 4, 4 + 9);
    fixed.writeUInt32LE(4 + fdeSize - 4, 4 + 13);
    for (let at = 4 + fdeSize - 4; at < fixed.length; at += fixed.readUInt32LE(at + 9)) fixed.writeUInt32LE(at + fixed.readUInt32LE(at + 9), at + 13);
    const { summary, transactions } = await parse(fixed);
    expect(summary).toMatchObject({ flavor: 'mysql', checksum: 'none', transactions: 2, gtids: '' });
    expect(transactions.map((t) => t.gtid)).toEqual([null, null]);
  });

  it('refuses tagged GTID sets (MySQL 8.3+)', async () => {
    const body = previousGtids([]);
    body.writeUInt8(1, 7);
    const err = await parseError(binlog([{ type: T.FDE, body: fdeBody('8.4.0', 1) }, { type: T.MYSQL_PREVIOUS_GTIDS, body }]));
    expect(err.code).toBe('BINLOG_UNSUPPORTED');
  });
});

describe('parseBinlog on damaged, active and unsupported files', () => {
  it('names the offset of an event whose CRC does not match (streamed body)', async () => {
    const file = mariadbFile();
    const rowsAt = offsets(file)[8] ?? 0; // the 5000-byte WRITE_ROWS event
    flip(file, rowsAt + 100);
    const err = await parseError(file);
    expect(err.code).toBe('BINLOG_CORRUPT');
    expect(err.message).toContain(`offset ${rowsAt}`);
    expect(err.message).toMatch(/CRC32/);
  });

  it('names the offset of an event whose CRC does not match (decoded body)', async () => {
    const file = mariadbFile();
    const gtidAt = offsets(file)[5] ?? 0;
    flip(file, gtidAt + 19);
    const err = await parseError(file);
    expect(err.code).toBe('BINLOG_CORRUPT');
    expect(err.message).toContain(`offset ${gtidAt}`);
  });

  it('checks the format description event CRC too', async () => {
    const file = mariadbFile();
    flip(file, 4 + 30); // inside the server version
    const err = await parseError(file);
    expect(err.message).toContain('offset 4');
  });

  it('refuses an event whose size disagrees with its end position', async () => {
    const file = mariadbFile();
    const at = offsets(file)[2] ?? 0;
    file.writeUInt32LE(file.readUInt32LE(at + 13) + 1, at + 13);
    const err = await parseError(file);
    expect(err.code).toBe('BINLOG_CORRUPT');
    expect(err.message).toContain(`offset ${at}`);
  });

  it('reports a cut-off final event as truncated, leaving the open transaction out', async () => {
    const file = mariadbFile();
    const at = offsets(file);
    const rowsAt = at[8] ?? 0;
    const cut = file.subarray(0, rowsAt + 1000);
    const { summary, transactions } = await parse(cut);
    expect(summary).toMatchObject({
      truncated: true,
      endedWith: 'eof',
      nextFile: null,
      size: cut.length,
      endPosition: rowsAt,
      gtids: '0-1-1',
      transactions: 1,
      incompleteTransaction: { gtid: '0-1-2', startPosition: at[5] },
    });
    expect(transactions).toHaveLength(1);
  });

  it('reports a file cut inside an event header as truncated', async () => {
    const file = mariadbFile();
    const at = offsets(file)[10] ?? 0;
    const { summary } = await parse(file.subarray(0, at + 7));
    expect(summary).toMatchObject({ truncated: true, endPosition: at, transactions: 2, gtids: '0-1-1..2', incompleteTransaction: null });
  });

  it('keeps an incomplete transaction out even when the file ends on an event boundary', async () => {
    const file = mariadbFile();
    const at = offsets(file)[7] ?? 0;
    const { summary } = await parse(file.subarray(0, at));
    expect(summary).toMatchObject({ truncated: false, endedWith: 'eof', transactions: 1, incompleteTransaction: { gtid: '0-1-2' } });
  });

  it('refuses encrypted binlogs', async () => {
    const file = binlog([
      { type: T.FDE, body: fdeBody(MARIADB_VERSION, 1) },
      { type: T.START_ENCRYPTION, body: Buffer.concat([Buffer.from([1]), u32(1), Buffer.alloc(12)]) },
      { type: T.GTID_LIST, body: opaque(40) },
    ]);
    const err = await parseError(file);
    expect(err.code).toBe('BINLOG_ENCRYPTED');
    expect(err.message).toMatch(/encrypted/);
  });

  it('refuses what is not a binlog', async () => {
    expect((await parseError(Buffer.from('-- MySQL dump 10.13\n'))).code).toBe('BINLOG_NOT_BINLOG');
    expect((await parseError(Buffer.alloc(0))).code).toBe('BINLOG_NOT_BINLOG');
    const onlyMagic = mariadbFile().subarray(0, 20);
    expect((await parseError(onlyMagic)).code).toBe('BINLOG_TRUNCATED');
  });

  it('refuses a file whose first event is not a format description', async () => {
    const file = binlog([{ type: T.GTID, body: mariadbGtid(1, 0, 0) }]);
    expect((await parseError(file)).code).toBe('BINLOG_UNSUPPORTED');
  });

  it('stops when the signal fires', async () => {
    const controller = new AbortController();
    controller.abort(new Error('test over'));
    await expect(parseBinlog(Readable.from([mariadbFile()]), { signal: controller.signal })).rejects.toThrow(/test over/);
  });
});

describe('GTID helpers', () => {
  it('parses MariaDB GTID positions', () => {
    expect(parseMariadbGtidPos('0-1-1513, 1-2-7')).toEqual([
      { domain: 0, server: 1, seq: 1513 },
      { domain: 1, server: 2, seq: 7 },
    ]);
    expect(parseMariadbGtidPos('')).toEqual([]);
    expect(() => parseMariadbGtidPos('0-1')).toThrow(/domain-server-seq/);
    expect(() => parseMariadbGtidPos('0-x-1')).toThrow(/server id/);
  });

  it('renders MariaDB runs in bloodraven notation', () => {
    expect(
      formatMariadbGtidRanges([
        { domain: 1, server: 2, first: 3, last: 3 },
        { domain: 0, server: 1, first: 7, last: 9 },
        { domain: 0, server: 1, first: 1, last: 4 },
      ]),
    ).toBe('0-1-1..4,0-1-7..9,1-2-3');
  });

  it('parses MySQL GTID sets, merging and sorting', () => {
    const set = `${UUID_B.toUpperCase()}:1-3,\n${UUID_A}:7:1-5:6, ${UUID_B}:4-9:20`;
    expect(parseMysqlGtidSet(set)).toEqual([
      { uuid: UUID_A, intervals: [[1, 7]] },
      {
        uuid: UUID_B,
        intervals: [
          [1, 9],
          [20, 20],
        ],
      },
    ]);
    expect(parseMysqlGtidSet(' ')).toEqual([]);
    expect(() => parseMysqlGtidSet('nope:1')).toThrow(/UUID/);
    expect(() => parseMysqlGtidSet(`${UUID_A}:5-2`)).toThrow(/invalid interval/);
    expect(() => parseMysqlGtidSet(`${UUID_A}:mytag:1`)).toThrow(/tagged/);
  });

  it('answers whether a MySQL GTID set contains a GTID', () => {
    const set = `${UUID_A}:1-5:7`;
    expect(mysqlGtidSetContains(set, UUID_A, 5)).toBe(true);
    expect(mysqlGtidSetContains(set, UUID_A.toUpperCase(), 7)).toBe(true);
    expect(mysqlGtidSetContains(set, UUID_A, 6)).toBe(false);
    expect(mysqlGtidSetContains(parseMysqlGtidSet(set), UUID_B, 1)).toBe(false);
  });
});
