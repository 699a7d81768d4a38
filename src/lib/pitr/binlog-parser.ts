/**
 * A streaming reader of binary log files (format v4, MySQL ≥ 5.0 and MariaDB ≥ 5.3), just deep
 * enough to describe a file for the point-in-time-recovery archive: which server wrote it, the
 * first and last event times, the GTIDs it holds, where each transaction starts and ends, and
 * whether the file was sealed. Modification times lie (copies, restores, touch); the events do not.
 *
 * Memory stays bounded whatever the file size: row events and other bodies the summary does not
 * need are checksummed as they stream past and never held whole; only small metadata events
 * (format description, GTID, rotate, short query events) are buffered.
 *
 * Rules decided here (the formats leave them to the reader):
 *
 * - Checksums. The format description event (FDE) says whether every event ends in a CRC32. Each
 *   CRC is verified; a mismatch throws BINLOG_CORRUPT naming the event's offset. The FDE itself
 *   is checksummed with its "in use" flag cleared, because the server clears that flag in place
 *   when it closes the file without rewriting the CRC.
 * - Truncation. The active binlog is usually being appended to, so a last event cut short is not
 *   an error: the summary says `truncated: true`, `endedWith: 'eof'`, and `endPosition` is where
 *   the last whole event ends. A cut inside the FDE is an error: nothing can be said of the file.
 * - Transactions (event groups). A group starts at a GTID event (MariaDB GTID_EVENT, MySQL
 *   GTID_LOG_EVENT or ANONYMOUS_GTID_LOG_EVENT) or, in files without GTIDs, at the first event of
 *   content outside a group. It ends at the first of:
 *     - an XID event, or a query event `COMMIT`, `ROLLBACK`, `XA COMMIT …`, `XA ROLLBACK …`
 *       (MyISAM/Aria changes end with a COMMIT query, InnoDB ones with an XID), or an
 *       XA_PREPARE event, for a group that was opened as a multi-statement transaction;
 *     - the statement itself, for a single-statement group: MariaDB says so with the GTID event's
 *       FL_STANDALONE flag (DDL, XA COMMIT); MySQL does not, so there a group whose first query
 *       is not BEGIN/XA START is one statement (DDL), and a TRANSACTION_PAYLOAD event (8.0.20+
 *       compression) is a whole transaction by itself;
 *     - failing all that, the event before the next GTID event.
 *   A group still open at the end of the file (the server is mid-write, or the file is cut) is
 *   not a transaction of this file: it is reported as `incompleteTransaction` and left out of
 *   `transactions`, `gtids` and the event times, since replaying half of it is impossible.
 * - Event times. `firstEventTime`/`lastEventTime` are the header timestamps of the first and last
 *   events of complete transactions, in file order. They are not a min/max: `SET TIMESTAMP` and
 *   replicated events make timestamps go backwards, and point-in-time replay (mariadb-binlog
 *   --stop-datetime) goes by file order too. Format description, GTID list, checkpoint,
 *   previous-GTIDs, rotate and stop events do not count.
 * - GTID notation (`gtids`). MySQL: the standard GTID set syntax, `uuid:1-5:7,uuid2:1`, UUIDs
 *   sorted. MariaDB has no syntax for a set of GTIDs (gtid_binlog_pos names only the last one per
 *   domain), so this is bloodraven's own: one item per contiguous run of sequence numbers of one
 *   (domain, server), `domain-server-seq` for a single transaction and
 *   `domain-server-first..last` for a run, sorted by domain, server, first, comma-separated,
 *   e.g. `0-1-1..4,0-1-7,1-2-3..9`. `gtidRanges` gives the same runs as data.
 * - Numbers. Sequence numbers are u64 in the file; they are returned as JavaScript numbers and
 *   the parser refuses (BINLOG_UNSUPPORTED) any above 2^53, which no real server reaches.
 * - Encrypted MariaDB binlogs (START_ENCRYPTION_EVENT) and MySQL 8.3+ tagged GTIDs are refused
 *   with a clear error rather than misread.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { AppError, ExitCode, InternalError, throwIfAborted } from '../errors.js';

export type BinlogFlavor = 'mariadb' | 'mysql';

/** A contiguous run of one MariaDB (domain, server)'s sequence numbers, both ends included. */
export interface MariadbGtidRange {
  domain: number;
  server: number;
  first: number;
  last: number;
}

/** A contiguous run of one MySQL source UUID's transaction numbers, both ends included. */
export interface MysqlGtidRange {
  uuid: string;
  first: number;
  last: number;
}

/** One event group (transaction) of the file. */
export interface BinlogTransaction {
  /** MariaDB `domain-server-seq`, MySQL `uuid:gno`; null for anonymous (MySQL gtid_mode=OFF) or GTID-less groups. */
  gtid: string | null;
  /** Server id in the header of the group's first event: the server where it originated. */
  serverId: number;
  /** Byte offset of the group's first event (the GTID event when there is one). */
  startPosition: number;
  /** Byte offset just after its last event (the XID or COMMIT query event, or the DDL statement). */
  endPosition: number;
  /** Timestamp of its first event. */
  timestamp: Date;
  /**
   * The longest statement the binlog tool prints for this group, in bytes: what the client sends
   * as one packet, so the target's max_allowed_packet must take it. The tool prints each row
   * statement's events (its table maps and rows events) base64-encoded, in lines of 76, as one
   * `BINLOG '…'` statement (about 4/3 of the events); a query event is printed as its text.
   */
  largestStatementBytes: number;
}

interface BinlogSummaryBase {
  /** The server version string from the format description event, e.g. "10.11.6-MariaDB-log". */
  serverVersion: string;
  checksum: 'none' | 'crc32';
  /** Distinct server ids of all events, in order of first appearance. */
  serverIds: number[];
  /** Header time of the first event of the first complete transaction; null when there is none. */
  firstEventTime: Date | null;
  /** Header time of the last event of the last complete transaction; null when there is none. */
  lastEventTime: Date | null;
  /** The GTIDs of the file's complete transactions, in the notation described at the top of this file. */
  gtids: string;
  /**
   * The GTID state before this file. MariaDB: the GTID_LIST event's list as `d-s-n,…` (MariaDB's
   * own gtid_binlog_state notation, sorted). MySQL: the PREVIOUS_GTIDS event's set. Empty when absent.
   */
  previousGtids: string;
  /** Whole events read, format description included. */
  events: number;
  /** Bytes read, a cut-off final event included. */
  size: number;
  /** Offset just after the last whole event: what can be safely copied or replayed. */
  endPosition: number;
  /** How the file ends: sealed by rotation, closed by a clean shutdown, or neither (active, crashed, cut). */
  endedWith: 'rotate' | 'stop' | 'eof';
  /** The ROTATE event's next file name, when the file ended with one. */
  nextFile: string | null;
  /** The file ends inside an event (normal for the file the server is writing). */
  truncated: boolean;
  /** The server had the file open when it was read (FDE's LOG_EVENT_BINLOG_IN_USE_F): still active, or the server crashed. */
  inUse: boolean;
  /** Complete transactions. */
  transactions: number;
  /** A group that had begun but not ended at the end of the file. */
  incompleteTransaction: { gtid: string | null; startPosition: number } | null;
}

export interface MariadbBinlogSummary extends BinlogSummaryBase {
  flavor: 'mariadb';
  gtidRanges: MariadbGtidRange[];
}

export interface MysqlBinlogSummary extends BinlogSummaryBase {
  flavor: 'mysql';
  gtidRanges: MysqlGtidRange[];
}

export type BinlogSummary = MariadbBinlogSummary | MysqlBinlogSummary;

export interface ParseBinlogOptions {
  /** Called for each complete transaction, in file order, as soon as it ends. */
  onTransaction?: (t: BinlogTransaction) => void;
  signal?: AbortSignal;
}

// --- Event format constants ------------------------------------------------------------------

const MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]); // "\xfebin"
const COMMON_HEADER_LENGTH = 19;
const CHECKSUM_LENGTH = 4;
/** Metadata events are buffered whole up to this size; a query this long cannot be BEGIN/COMMIT. */
const QUERY_CAPTURE_LIMIT = 64 * 1024;
/** A metadata event larger than this is a corrupt size field, not a real event. */
const METADATA_LIMIT = 64 * 1024 * 1024;
const LOG_EVENT_BINLOG_IN_USE_F = 0x1;

const EventType = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  INTVAR: 5,
  TABLE_MAP: 19,
  RAND: 13,
  USER_VAR: 14,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  INCIDENT: 26,
  HEARTBEAT: 27,
  MYSQL_GTID: 33,
  MYSQL_ANONYMOUS_GTID: 34,
  MYSQL_PREVIOUS_GTIDS: 35,
  XA_PREPARE: 38,
  MYSQL_TRANSACTION_PAYLOAD: 40,
  MYSQL_HEARTBEAT_V2: 41,
  MYSQL_GTID_TAGGED: 42,
  MARIADB_ANNOTATE_ROWS: 160,
  MARIADB_BINLOG_CHECKPOINT: 161,
  MARIADB_GTID: 162,
  MARIADB_GTID_LIST: 163,
  MARIADB_START_ENCRYPTION: 164,
  MARIADB_QUERY_COMPRESSED: 165,
} as const;

/** Events that describe the file or the server rather than belonging to a transaction. */
const controlEvents = new Set<number>([
  EventType.STOP,
  EventType.ROTATE,
  EventType.FORMAT_DESCRIPTION,
  EventType.INCIDENT,
  EventType.HEARTBEAT,
  EventType.MYSQL_PREVIOUS_GTIDS,
  EventType.MYSQL_HEARTBEAT_V2,
  EventType.MARIADB_BINLOG_CHECKPOINT,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_START_ENCRYPTION,
]);

/** Events that precede a statement inside its group and say nothing about where the group ends. */
const statementContextEvents = new Set<number>([EventType.INTVAR, EventType.RAND, EventType.USER_VAR, EventType.MARIADB_ANNOTATE_ROWS]);

/** Event types whose body the summary reads; all others are only checksummed. */
const decodedEvents = new Set<number>([
  EventType.QUERY,
  EventType.ROTATE,
  EventType.FORMAT_DESCRIPTION,
  EventType.MYSQL_GTID,
  EventType.MYSQL_ANONYMOUS_GTID,
  EventType.MYSQL_PREVIOUS_GTIDS,
  EventType.MYSQL_GTID_TAGGED,
  EventType.MARIADB_GTID,
  EventType.MARIADB_GTID_LIST,
  EventType.MARIADB_START_ENCRYPTION,
]);

const MARIADB_FL_STANDALONE = 0x01;
const MARIADB_FL_COMPLETED_XA = 0x80;

const eventNames: Record<number, string> = {
  [EventType.QUERY]: 'QUERY',
  [EventType.ROTATE]: 'ROTATE',
  [EventType.FORMAT_DESCRIPTION]: 'FORMAT_DESCRIPTION',
  [EventType.MYSQL_GTID]: 'GTID_LOG',
  [EventType.MYSQL_ANONYMOUS_GTID]: 'ANONYMOUS_GTID_LOG',
  [EventType.MYSQL_PREVIOUS_GTIDS]: 'PREVIOUS_GTIDS_LOG',
  [EventType.MARIADB_GTID]: 'GTID',
  [EventType.MARIADB_GTID_LIST]: 'GTID_LIST',
};

function eventName(type: number): string {
  return eventNames[type] ?? `type ${type}`;
}

// --- Errors ----------------------------------------------------------------------------------

function corrupt(offset: number, message: string): AppError {
  return new AppError('BINLOG_CORRUPT', `binlog corrupt at offset ${offset}: ${message}`, ExitCode.failure, {
    hint: 'the file is damaged or not a binary log; compare it with the server copy',
  });
}

function unsupported(offset: number, message: string): AppError {
  return new AppError('BINLOG_UNSUPPORTED', `binlog at offset ${offset}: ${message}`, ExitCode.failure);
}

// --- Chunked input ---------------------------------------------------------------------------

/**
 * Byte-exact reads over a stream of chunks. Reads that fit in one chunk return views (no copy);
 * chunks must not be reused by the producer once yielded, as with any Node stream.
 */
class ChunkReader {
  private readonly chunks: Buffer[] = [];
  /** Read offset inside chunks[0]. */
  private head = 0;
  private buffered = 0;
  private ended = false;
  /** Bytes consumed so far: the file offset of the next unread byte. */
  position = 0;

  constructor(private readonly iterator: AsyncIterator<unknown>) {}

  get available(): number {
    return this.buffered;
  }

  /** Buffers at least n bytes; false when the input ends first. */
  async ensure(n: number): Promise<boolean> {
    while (this.buffered < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = toBuffer(next.value);
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
    }
    return this.buffered >= n;
  }

  /** The next n buffered bytes without consuming them. */
  peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let head = this.head;
    for (const chunk of this.chunks) {
      const take = Math.min(n - filled, chunk.length - head);
      chunk.copy(out, filled, head, head + take);
      filled += take;
      head = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Consumes n buffered bytes. */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skipBuffered(n);
    return out;
  }

  /** Consumes up to n bytes, handing each piece to `sink` as it arrives; returns how many (fewer at end of input). */
  async stream(n: number, sink: (piece: Buffer) => void): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.ensure(1))) break;
      const first = this.chunks[0];
      if (!first) break;
      const piece = first.subarray(this.head, this.head + Math.min(left, first.length - this.head));
      sink(piece);
      this.skipBuffered(piece.length);
      left -= piece.length;
    }
    return n - left;
  }

  /** Consumes whatever is left in the buffer (the cut-off tail of a file). */
  drain(): number {
    const n = this.buffered;
    this.skipBuffered(n);
    return n;
  }

  private skipBuffered(n: number): void {
    let left = n;
    while (left > 0) {
      const first = this.chunks[0];
      if (!first) break;
      const inFirst = first.length - this.head;
      if (left < inFirst) {
        this.head += left;
        break;
      }
      left -= inFirst;
      this.chunks.shift();
      this.head = 0;
    }
    this.buffered -= n;
    this.position += n;
  }
}

function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new AppError('BINLOG_BAD_INPUT', 'the binlog stream yielded text, not bytes: open it without an encoding', ExitCode.failure);
}

// --- GTID sets -------------------------------------------------------------------------------

/** Sorted, merged, inclusive intervals of one GTID source; appends in order are O(1). */
class IntervalSet {
  readonly intervals: Array<[number, number]> = [];

  add(first: number, last = first): void {
    const list = this.intervals;
    const tail = list[list.length - 1];
    if (!tail || first > tail[1] + 1) {
      if (!tail || first > tail[0]) {
        list.push([first, last]);
        return;
      }
    } else if (first >= tail[0]) {
      tail[1] = Math.max(tail[1], last);
      return;
    }
    // Out of order (rare: e.g. a replica's file mixing sources): insert, then merge neighbours.
    let i = list.findIndex((iv) => iv[0] > first);
    if (i < 0) i = list.length;
    list.splice(i, 0, [first, last]);
    const merged: Array<[number, number]> = [];
    for (const iv of list) {
      const prev = merged[merged.length - 1];
      if (prev && iv[0] <= prev[1] + 1) prev[1] = Math.max(prev[1], iv[1]);
      else merged.push([iv[0], iv[1]]);
    }
    list.splice(0, list.length, ...merged);
  }

  contains(n: number): boolean {
    return this.intervals.some(([a, b]) => n >= a && n <= b);
  }
}

function compareNumbers(a: number, b: number): number {
  return a - b;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Renders MariaDB runs in bloodraven's notation: `d-s-n` or `d-s-first..last`, sorted. */
export function formatMariadbGtidRanges(ranges: readonly MariadbGtidRange[]): string {
  return [...ranges]
    .sort((a, b) => compareNumbers(a.domain, b.domain) || compareNumbers(a.server, b.server) || compareNumbers(a.first, b.first))
    .map((r) => (r.first === r.last ? `${r.domain}-${r.server}-${r.first}` : `${r.domain}-${r.server}-${r.first}..${r.last}`))
    .join(',');
}

/** One source UUID of a MySQL GTID set, with inclusive intervals sorted and merged. */
export interface MysqlGtidSetEntry {
  uuid: string;
  intervals: Array<[number, number]>;
}

/** Renders a MySQL GTID set in MySQL's syntax (`uuid:1-5:7,uuid2:1`), UUIDs sorted. */
export function formatMysqlGtidSet(set: readonly MysqlGtidSetEntry[]): string {
  return [...set]
    .filter((e) => e.intervals.length > 0)
    .sort((a, b) => compareStrings(a.uuid, b.uuid))
    .map((e) => [e.uuid, ...e.intervals.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))].join(':'))
    .join(',');
}

/** A MariaDB GTID as in `gtid_binlog_pos`/`gtid_slave_pos`: `domain-server-seq`. */
export interface MariadbGtid {
  domain: number;
  server: number;
  seq: number;
}

function invalidGtid(message: string): AppError {
  return new AppError('GTID_INVALID', message, ExitCode.failure);
}

function parseUnsigned(text: string, what: string, whole: string): number {
  if (!/^\d+$/.test(text)) throw invalidGtid(`invalid ${what} "${text}" in GTID "${whole}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw invalidGtid(`${what} ${text} in GTID "${whole}" is too large`);
  return n;
}

/**
 * Parses MariaDB's GTID position notation (`@@gtid_binlog_pos`, `@@gtid_binlog_state`,
 * `@@gtid_slave_pos`): comma-separated `domain-server-seq`, whitespace allowed, empty → [].
 * Throws GTID_INVALID.
 */
export function parseMariadbGtidPos(pos: string): MariadbGtid[] {
  const out: MariadbGtid[] = [];
  for (const raw of pos.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const parts = item.split('-');
    if (parts.length !== 3) throw invalidGtid(`"${item}" is not a MariaDB GTID (domain-server-seq)`);
    const [domain, server, seq] = parts as [string, string, string];
    out.push({
      domain: parseUnsigned(domain, 'domain id', item),
      server: parseUnsigned(server, 'server id', item),
      seq: parseUnsigned(seq, 'sequence number', item),
    });
  }
  return out;
}

const uuidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function normalizeUuid(uuid: string): string {
  const hex = uuid.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Parses MySQL's GTID set syntax (`@@gtid_executed`, `@@gtid_purged`): `uuid:1-5:7,uuid2:1`,
 * whitespace and newlines allowed, a UUID may repeat; empty → []. Intervals come back inclusive,
 * sorted and merged, UUIDs lower-case and sorted. MySQL 8.3+ tags (`uuid:tag:1-5`) are refused.
 * Throws GTID_INVALID.
 */
export function parseMysqlGtidSet(set: string): MysqlGtidSetEntry[] {
  const byUuid = new Map<string, IntervalSet>();
  for (const raw of set.split(',')) {
    const item = raw.replace(/\s+/g, '');
    if (item === '') continue;
    const [uuidText = '', ...parts] = item.split(':');
    if (!uuidPattern.test(uuidText)) throw invalidGtid(`"${item}" does not start with a server UUID`);
    if (parts.length === 0) throw invalidGtid(`"${item}" has no transaction numbers`);
    const uuid = normalizeUuid(uuidText);
    let intervals = byUuid.get(uuid);
    if (!intervals) byUuid.set(uuid, (intervals = new IntervalSet()));
    for (const part of parts) {
      if (/^[a-z_]/i.test(part)) throw invalidGtid(`"${item}": tagged GTIDs (MySQL 8.3+) are not supported`);
      const [a = '', b, extra] = part.split('-');
      if (extra !== undefined) throw invalidGtid(`invalid interval "${part}" in "${item}"`);
      const first = parseUnsigned(a, 'transaction number', item);
      const last = b === undefined ? first : parseUnsigned(b, 'transaction number', item);
      if (first < 1 || last < first) throw invalidGtid(`invalid interval "${part}" in "${item}"`);
      intervals.add(first, last);
    }
  }
  return [...byUuid.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([uuid, intervals]) => ({ uuid, intervals: intervals.intervals }));
}

/** Whether a MySQL GTID set (text or parsed) contains `uuid:gno`. */
export function mysqlGtidSetContains(set: string | readonly MysqlGtidSetEntry[], uuid: string, gno: number): boolean {
  const entries = typeof set === 'string' ? parseMysqlGtidSet(set) : set;
  if (!uuidPattern.test(uuid)) return false;
  const wanted = normalizeUuid(uuid);
  return entries.some((e) => normalizeUuid(e.uuid) === wanted && e.intervals.some(([a, b]) => gno >= a && gno <= b));
}

// --- Parsing ---------------------------------------------------------------------------------

interface EventHeader {
  offset: number;
  timestamp: number;
  type: number;
  serverId: number;
  size: number;
  logPos: number;
  flags: number;
}

interface FormatDescription {
  flavor: BinlogFlavor;
  serverVersion: string;
  checksum: 'none' | 'crc32';
  headerLength: number;
  postHeaderLengths: Buffer;
  inUse: boolean;
}

/** How the open group is known to end; see the rules at the top of the file. */
type GroupMode = 'undecided' | 'single-statement' | 'until-commit';

interface OpenGroup {
  gtid: string | null;
  /** largestStatementBytes so far, and the row statement still being added up. */
  largestStatement: number;
  rowStatement: number;
  /** Whether the last event was a rows event: a table map after one begins a new statement. */
  afterRows: boolean;
  serverId: number;
  startPosition: number;
  timestamp: number;
  mode: GroupMode;
  pendingGtid: PendingGtid | null;
}

type PendingGtid = { kind: 'mariadb'; domain: number; server: number; seq: number } | { kind: 'mysql'; uuid: string; gno: number };

type QueryKind = 'begin' | 'end' | 'other';

function readHeader(buf: Buffer, offset: number): EventHeader {
  return {
    offset,
    timestamp: buf.readUInt32LE(0),
    type: buf.readUInt8(4),
    serverId: buf.readUInt32LE(5),
    size: buf.readUInt32LE(9),
    logPos: buf.readUInt32LE(13),
    flags: buf.readUInt16LE(17),
  };
}

function readU64(buf: Buffer, at: number, offset: number, what: string): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw unsupported(offset, `${what} ${value} is beyond 2^53`);
  return Number(value);
}

function requireLength(buf: Buffer, needed: number, header: EventHeader, what: string): void {
  if (buf.length < needed) throw corrupt(header.offset, `${eventName(header.type)} event too short for its ${what} (${buf.length} bytes, ${needed} needed)`);
}

/** Whether a server of this version writes the checksum-algorithm byte in its FDE (MariaDB 5.3+, MySQL 5.6.1+). */
function isChecksumAware(flavor: BinlogFlavor, version: string): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const v = Number(m[1]) * 10_000 + Number(m[2]) * 100 + Number(m[3]);
  return v >= (flavor === 'mariadb' ? 50_300 : 50_601);
}

function parseFormatDescription(event: Buffer, header: EventHeader): FormatDescription {
  const body = event.subarray(COMMON_HEADER_LENGTH);
  // binlog_version u16, server_version char[50], create_timestamp u32, header_length u8.
  requireLength(body, 57, header, 'fixed fields');
  const binlogVersion = body.readUInt16LE(0);
  if (binlogVersion !== 4) throw unsupported(header.offset, `binlog format version ${binlogVersion} (only version 4, MySQL 5.0+/MariaDB, is supported)`);
  const rawVersion = body.subarray(2, 52);
  const nul = rawVersion.indexOf(0);
  const serverVersion = rawVersion.toString('latin1', 0, nul < 0 ? rawVersion.length : nul);
  const headerLength = body.readUInt8(56);
  if (headerLength < COMMON_HEADER_LENGTH) throw corrupt(header.offset, `event header length ${headerLength} is below ${COMMON_HEADER_LENGTH}`);
  const flavor: BinlogFlavor = /mariadb/i.test(serverVersion) ? 'mariadb' : 'mysql';
  let checksum: 'none' | 'crc32' = 'none';
  let postHeaderEnd = event.length;
  if (isChecksumAware(flavor, serverVersion)) {
    // Checksum-aware servers end the FDE with the algorithm byte and a CRC32, whatever the algorithm.
    requireLength(body, 57 + 1 + CHECKSUM_LENGTH, header, 'checksum algorithm');
    const algorithm = event.readUInt8(event.length - CHECKSUM_LENGTH - 1);
    if (algorithm === 1) checksum = 'crc32';
    else if (algorithm !== 0) throw unsupported(header.offset, `unknown checksum algorithm ${algorithm}`);
    postHeaderEnd = event.length - CHECKSUM_LENGTH - 1;
  }
  return {
    flavor,
    serverVersion,
    checksum,
    headerLength,
    postHeaderLengths: event.subarray(COMMON_HEADER_LENGTH + 57, postHeaderEnd),
    inUse: (header.flags & LOG_EVENT_BINLOG_IN_USE_F) !== 0,
  };
}

function uuidFromBytes(bytes: Buffer): string {
  return normalizeUuid(bytes.toString('hex'));
}

/** Rows events (MySQL v1/v2 and partial updates, MariaDB compressed): the body of a `BINLOG` statement with their table maps. */
const rowsEvents = new Set<number>([23, 24, 25, 30, 31, 32, 39, 166, 167, 168, 169, 170, 171]);

/** `BINLOG '\n` and `\n'`, around a row statement's events. */
const binlogStatementOverhead = 16;

/** Bytes an event takes in a `BINLOG` statement: base64, a newline after every 76 characters and after the last. */
function base64Printed(size: number): number {
  const chars = 4 * Math.ceil(size / 3);
  return chars + Math.ceil(chars / 76);
}

function endRowStatement(group: OpenGroup): void {
  if (group.rowStatement > 0) group.largestStatement = Math.max(group.largestStatement, binlogStatementOverhead + group.rowStatement);
  group.rowStatement = 0;
  group.afterRows = false;
}

/** The summary being built, event by event. */
class BinlogScan {
  fde: FormatDescription | null = null;
  private readonly serverIds = new Set<number>();
  private readonly mariadbGtids = new Map<string, { domain: number; server: number; set: IntervalSet }>();
  private readonly mysqlGtids = new Map<string, IntervalSet>();
  private previousGtids = '';
  private firstEventTime: number | null = null;
  private lastEventTime: number | null = null;
  private events = 0;
  private transactions = 0;
  private lastType = -1;
  private nextFile: string | null = null;
  private group: OpenGroup | null = null;
  /** Timestamp and end of the last event of the open group, for closing it at the next GTID. */
  private groupLast: { timestamp: number; end: number } | null = null;

  constructor(private readonly onTransaction: ((t: BinlogTransaction) => void) | undefined) {}

  /** Accounts for a whole event; `event` is its bytes when its type is decoded, else null. */
  handle(header: EventHeader, event: Buffer | null): void {
    this.events++;
    this.lastType = header.type;
    this.serverIds.add(header.serverId);
    const end = header.offset + header.size;
    const fde = this.fde;
    if (!fde) throw new InternalError('binlog event handled before the format description');
    const body = event?.subarray(fde.headerLength, event.length - (fde.checksum === 'crc32' ? CHECKSUM_LENGTH : 0)) ?? null;

    switch (header.type) {
      case EventType.MARIADB_START_ENCRYPTION:
        throw new AppError('BINLOG_ENCRYPTED', `binlog at offset ${header.offset} is encrypted (START_ENCRYPTION event); encrypted binlogs are not supported`, ExitCode.failure, {
          hint: 'turn off encrypt_binlog for archived binlogs, or archive them with mariadb-binlog --read-from-remote-server',
        });
      case EventType.MYSQL_GTID_TAGGED:
        throw unsupported(header.offset, 'tagged GTIDs (MySQL 8.3+) are not supported');
      case EventType.ROTATE:
        this.nextFile = body ? this.rotateTarget(body, fde, header) : null;
        return;
      case EventType.MARIADB_GTID_LIST:
        if (body) this.previousGtids = this.parseGtidList(body, header);
        return;
      case EventType.MYSQL_PREVIOUS_GTIDS:
        if (body) this.previousGtids = this.parsePreviousGtids(body, header);
        return;
      case EventType.MARIADB_GTID:
      case EventType.MYSQL_GTID:
      case EventType.MYSQL_ANONYMOUS_GTID:
        this.startGtidGroup(header, body);
        this.noteGroupEvent(header, end);
        return;
    }
    if (controlEvents.has(header.type)) return;

    // Transaction content.
    if (!this.group) this.openGroup(header, null, null, 'undecided');
    this.noteGroupEvent(header, end);
    if (this.endsGroup(header, body, fde)) this.closeGroup();
  }

  /** Summary once the input has ended. */
  finish(size: number, endPosition: number, truncated: boolean): BinlogSummary {
    const fde = this.fde;
    if (!fde) throw new InternalError('binlog summary without a format description');
    const group = this.group;
    const base: BinlogSummaryBase = {
      serverVersion: fde.serverVersion,
      checksum: fde.checksum,
      serverIds: [...this.serverIds],
      firstEventTime: this.firstEventTime === null ? null : new Date(this.firstEventTime * 1000),
      lastEventTime: this.lastEventTime === null ? null : new Date(this.lastEventTime * 1000),
      gtids: '',
      previousGtids: this.previousGtids,
      events: this.events,
      size,
      endPosition,
      endedWith: truncated ? 'eof' : this.lastType === EventType.ROTATE ? 'rotate' : this.lastType === EventType.STOP ? 'stop' : 'eof',
      nextFile: !truncated && this.lastType === EventType.ROTATE ? this.nextFile : null,
      truncated,
      inUse: fde.inUse,
      transactions: this.transactions,
      incompleteTransaction: group ? { gtid: group.gtid, startPosition: group.startPosition } : null,
    };
    if (fde.flavor === 'mariadb') {
      const gtidRanges: MariadbGtidRange[] = [];
      for (const { domain, server, set } of this.mariadbGtids.values()) {
        for (const [first, last] of set.intervals) gtidRanges.push({ domain, server, first, last });
      }
      gtidRanges.sort((a, b) => compareNumbers(a.domain, b.domain) || compareNumbers(a.server, b.server) || compareNumbers(a.first, b.first));
      return { flavor: 'mariadb', ...base, gtids: formatMariadbGtidRanges(gtidRanges), gtidRanges };
    }
    const entries = [...this.mysqlGtids.entries()].map(([uuid, set]) => ({ uuid, intervals: set.intervals }));
    const gtidRanges: MysqlGtidRange[] = [...entries].sort((a, b) => compareStrings(a.uuid, b.uuid)).flatMap((e) => e.intervals.map(([first, last]) => ({ uuid: e.uuid, first, last })));
    return { flavor: 'mysql', ...base, gtids: formatMysqlGtidSet(entries), gtidRanges };
  }

  private startGtidGroup(header: EventHeader, body: Buffer | null): void {
    if (!body) throw new InternalError('GTID event without its body');
    // A group still open here had no recognisable end: it ends with the event before this one.
    if (this.group) this.closeGroup();
    if (header.type === EventType.MARIADB_GTID) {
      // seq_no u64, domain_id u32, flags u8, then fields this reader does not need.
      requireLength(body, 13, header, 'sequence number, domain and flags');
      const seq = readU64(body, 0, header.offset, 'GTID sequence number');
      const domain = body.readUInt32LE(8);
      const flags = body.readUInt8(12);
      const standalone = (flags & (MARIADB_FL_STANDALONE | MARIADB_FL_COMPLETED_XA)) !== 0;
      this.openGroup(header, `${domain}-${header.serverId}-${seq}`, { kind: 'mariadb', domain, server: header.serverId, seq }, standalone ? 'single-statement' : 'until-commit');
      return;
    }
    // MySQL: flags u8, sid 16 bytes, gno u64, then logical clocks and timestamps.
    requireLength(body, 25, header, 'UUID and transaction number');
    if (header.type === EventType.MYSQL_ANONYMOUS_GTID) {
      this.openGroup(header, null, null, 'undecided');
      return;
    }
    const uuid = uuidFromBytes(body.subarray(1, 17));
    const gno = readU64(body, 17, header.offset, 'GTID transaction number');
    this.openGroup(header, `${uuid}:${gno}`, { kind: 'mysql', uuid, gno }, 'undecided');
  }

  private openGroup(header: EventHeader, gtid: string | null, pendingGtid: PendingGtid | null, mode: GroupMode): void {
    this.group = { gtid, serverId: header.serverId, startPosition: header.offset, timestamp: header.timestamp, mode, pendingGtid, largestStatement: 0, rowStatement: 0, afterRows: false };
    this.groupLast = null;
  }

  private noteGroupEvent(header: EventHeader, end: number): void {
    this.groupLast = { timestamp: header.timestamp, end };
    const group = this.group;
    if (!group) return;
    const rows = rowsEvents.has(header.type);
    if (rows || header.type === EventType.TABLE_MAP) {
      if (!rows && group.afterRows) endRowStatement(group);
      group.rowStatement += base64Printed(header.size);
      group.afterRows = rows;
      return;
    }
    endRowStatement(group);
    if (header.type === EventType.QUERY || header.type === EventType.MARIADB_QUERY_COMPRESSED) group.largestStatement = Math.max(group.largestStatement, header.size);
  }

  /** Whether this content event is the last of the open group (rules at the top of the file). */
  private endsGroup(header: EventHeader, body: Buffer | null, fde: FormatDescription): boolean {
    const group = this.group;
    if (!group) return false;
    const type = header.type;
    if (statementContextEvents.has(type)) return false;
    const isQuery = type === EventType.QUERY || type === EventType.MARIADB_QUERY_COMPRESSED;
    // Compressed or long queries are never BEGIN/COMMIT: their text is not read.
    const query: QueryKind | null = isQuery ? (type === EventType.QUERY && body ? classifyQuery(body, fde, header) : 'other') : null;
    switch (group.mode) {
      case 'single-statement':
        return isQuery;
      case 'until-commit':
        return type === EventType.XID || type === EventType.XA_PREPARE || query === 'end';
      case 'undecided':
        if (type === EventType.MYSQL_TRANSACTION_PAYLOAD) return true;
        if (query === 'begin') {
          group.mode = 'until-commit';
          return false;
        }
        if (query !== null) return true;
        // Rows or other content with no BEGIN before it: wait for the commit.
        group.mode = 'until-commit';
        return type === EventType.XID;
    }
  }

  private closeGroup(): void {
    const group = this.group;
    const last = this.groupLast;
    this.group = null;
    this.groupLast = null;
    if (!group || !last) return;
    endRowStatement(group);
    this.transactions++;
    this.firstEventTime ??= group.timestamp;
    this.lastEventTime = last.timestamp;
    const pending = group.pendingGtid;
    if (pending?.kind === 'mariadb') {
      const key = `${pending.domain}-${pending.server}`;
      let entry = this.mariadbGtids.get(key);
      if (!entry) this.mariadbGtids.set(key, (entry = { domain: pending.domain, server: pending.server, set: new IntervalSet() }));
      entry.set.add(pending.seq);
    } else if (pending?.kind === 'mysql') {
      let set = this.mysqlGtids.get(pending.uuid);
      if (!set) this.mysqlGtids.set(pending.uuid, (set = new IntervalSet()));
      set.add(pending.gno);
    }
    this.onTransaction?.({
      gtid: group.gtid,
      serverId: group.serverId,
      startPosition: group.startPosition,
      endPosition: last.end,
      timestamp: new Date(group.timestamp * 1000),
      largestStatementBytes: group.largestStatement,
    });
  }

  private rotateTarget(body: Buffer, fde: FormatDescription, header: EventHeader): string {
    // position u64 (the post-header), then the next file's name up to the end of the body.
    const postHeader = fde.postHeaderLengths[EventType.ROTATE - 1] ?? 8;
    requireLength(body, postHeader, header, 'position');
    return body.toString('utf8', postHeader);
  }

  private parseGtidList(body: Buffer, header: EventHeader): string {
    // count u32 (top 4 bits are flags), then count × (domain u32, server u32, seq u64).
    requireLength(body, 4, header, 'count');
    const count = body.readUInt32LE(0) & 0x0fffffff;
    requireLength(body, 4 + count * 16, header, `${count} entries`);
    const list: MariadbGtid[] = [];
    for (let i = 0; i < count; i++) {
      const at = 4 + i * 16;
      list.push({ domain: body.readUInt32LE(at), server: body.readUInt32LE(at + 4), seq: readU64(body, at + 8, header.offset, 'GTID sequence number') });
    }
    list.sort((a, b) => compareNumbers(a.domain, b.domain) || compareNumbers(a.server, b.server));
    return list.map((g) => `${g.domain}-${g.server}-${g.seq}`).join(',');
  }

  private parsePreviousGtids(body: Buffer, header: EventHeader): string {
    // n_sids u64, then per source: uuid (16 bytes), n_intervals u64, n × (start u64, end u64 exclusive).
    requireLength(body, 8, header, 'source count');
    if (body.readUInt8(7) !== 0) throw unsupported(header.offset, 'tagged GTID sets (MySQL 8.3+) are not supported');
    const sources = readU64(body, 0, header.offset, 'source count');
    const entries: MysqlGtidSetEntry[] = [];
    let at = 8;
    for (let i = 0; i < sources; i++) {
      requireLength(body, at + 24, header, `source ${i + 1} of ${sources}`);
      const uuid = uuidFromBytes(body.subarray(at, at + 16));
      const n = readU64(body, at + 16, header.offset, 'interval count');
      at += 24;
      requireLength(body, at + n * 16, header, `${n} intervals of source ${uuid}`);
      const set = new IntervalSet();
      for (let j = 0; j < n; j++, at += 16) {
        const start = readU64(body, at, header.offset, 'interval start');
        const endExclusive = readU64(body, at + 8, header.offset, 'interval end');
        if (endExclusive <= start) throw corrupt(header.offset, `PREVIOUS_GTIDS interval [${start}, ${endExclusive}) is empty`);
        set.add(start, endExclusive - 1);
      }
      entries.push({ uuid, intervals: set.intervals });
    }
    return formatMysqlGtidSet(entries);
  }
}

/** Reads just enough of a query event's text to tell BEGIN and COMMIT from other statements. */
function classifyQuery(body: Buffer, fde: FormatDescription, header: EventHeader): QueryKind {
  // Post-header: thread_id u32, exec_time u32, db_len u8, error_code u16, status_vars_len u16.
  const postHeader = fde.postHeaderLengths[EventType.QUERY - 1] ?? 13;
  requireLength(body, Math.max(postHeader, 13), header, 'post-header');
  const dbLength = body.readUInt8(8);
  const statusLength = body.readUInt16LE(11);
  const start = postHeader + statusLength + dbLength + 1;
  if (start > body.length) throw corrupt(header.offset, `QUERY event's status and database (${statusLength + dbLength + 1} bytes) overrun its body`);
  if (body.length - start > 200) return 'other';
  const text = body.toString('latin1', start).trim().toUpperCase();
  if (text === 'BEGIN' || text.startsWith('XA START') || text.startsWith('XA BEGIN')) return 'begin';
  if (text === 'COMMIT' || text === 'ROLLBACK' || text.startsWith('XA COMMIT') || text.startsWith('XA ROLLBACK') || text.startsWith('XA PREPARE')) return 'end';
  return 'other';
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function verifyChecksum(stored: number, crc: number, header: EventHeader): void {
  if (stored !== crc) {
    throw corrupt(
      header.offset,
      `${eventName(header.type)} event of ${header.size} bytes fails its CRC32 check (stored ${hex32(stored)}, computed ${hex32(crc)})`,
    );
  }
}

/** CRC32 of a whole buffered event minus its checksum; the FDE is summed with its in-use flag clear. */
function eventCrc(event: Buffer, type: number): number {
  const covered = event.subarray(0, event.length - CHECKSUM_LENGTH);
  if (type !== EventType.FORMAT_DESCRIPTION || (event.readUInt16LE(17) & LOG_EVENT_BINLOG_IN_USE_F) === 0) return crc32(covered);
  const copy = Buffer.from(covered);
  copy.writeUInt16LE(copy.readUInt16LE(17) & ~LOG_EVENT_BINLOG_IN_USE_F, 17);
  return crc32(copy);
}

/**
 * Reads a binary log file from its first byte and summarises it. `source` yields the file's
 * bytes (a file read stream, an object store download…). Throws BINLOG_NOT_BINLOG (bad magic),
 * BINLOG_CORRUPT (checksum mismatch, impossible sizes; the message names the offset),
 * BINLOG_UNSUPPORTED, BINLOG_ENCRYPTED; a cut-off final event is reported, not thrown.
 */
export async function parseBinlog(source: AsyncIterable<Uint8Array> | Readable, options: ParseBinlogOptions = {}): Promise<BinlogSummary> {
  const iterable = source as AsyncIterable<unknown>;
  const iterator = iterable[Symbol.asyncIterator]();
  try {
    return await scan(new ChunkReader(iterator), options);
  } finally {
    // Stop the producer early on errors (closes a file stream).
    await iterator.return?.();
  }
}

async function scan(reader: ChunkReader, options: ParseBinlogOptions): Promise<BinlogSummary> {
  const haveMagic = await reader.ensure(MAGIC.length);
  if (!haveMagic || !reader.peek(MAGIC.length).equals(MAGIC)) {
    throw new AppError('BINLOG_NOT_BINLOG', haveMagic ? 'not a binary log: the file does not start with the binlog magic bytes' : `not a binary log: only ${reader.available} bytes long`, ExitCode.failure);
  }
  reader.take(MAGIC.length);

  const state = new BinlogScan(options.onTransaction);
  let truncated = false;
  let endPosition = reader.position;
  for (;;) {
    throwIfAborted(options.signal);
    if (!(await reader.ensure(COMMON_HEADER_LENGTH))) {
      truncated = reader.available > 0;
      break;
    }
    const header = checkHeader(readHeader(reader.peek(COMMON_HEADER_LENGTH), reader.position), state.fde);
    const whole = decodedEvents.has(header.type) && (header.type !== EventType.QUERY || header.size <= QUERY_CAPTURE_LIMIT);
    const complete = whole || !state.fde ? await readWholeEvent(reader, header, state) : await streamEvent(reader, header, state);
    if (!complete) {
      truncated = true;
      break;
    }
    endPosition = reader.position;
  }
  reader.drain();
  if (!state.fde) throw new AppError('BINLOG_TRUNCATED', `binlog ends at offset ${reader.position}, before its format description event is complete`, ExitCode.failure);
  return state.finish(reader.position, endPosition, truncated);
}

/** Sanity checks on a header before its body is read; returns the header. */
function checkHeader(header: EventHeader, fde: FormatDescription | null): EventHeader {
  const { offset } = header;
  if (!fde && header.type !== EventType.FORMAT_DESCRIPTION) {
    throw unsupported(offset, `the first event is ${eventName(header.type)}, not a format description (binlog versions 1–3 are not supported)`);
  }
  const checksumLength = fde?.checksum === 'crc32' ? CHECKSUM_LENGTH : 0;
  if (header.size < (fde?.headerLength ?? COMMON_HEADER_LENGTH) + checksumLength) {
    throw corrupt(offset, `event size ${header.size} is smaller than an event header`);
  }
  // Binlog files (unlike relay logs) record where each event ends; a mismatch means the size
  // field, or our position in the file, is wrong. u32 arithmetic: files can pass 4 GiB.
  if (header.logPos !== 0 && header.logPos !== (offset + header.size) % 2 ** 32) {
    throw corrupt(offset, `${eventName(header.type)} event of ${header.size} bytes says it ends at ${header.logPos}, not ${offset + header.size}`);
  }
  return header;
}

/** Buffers, verifies and handles an event whose body is decoded; false when the input ends inside it. */
async function readWholeEvent(reader: ChunkReader, header: EventHeader, state: BinlogScan): Promise<boolean> {
  if (header.size > METADATA_LIMIT) throw corrupt(header.offset, `${eventName(header.type)} event claims ${header.size} bytes`);
  if (!(await reader.ensure(header.size))) return false;
  const event = reader.take(header.size);
  // The first event is the FDE, which says whether the others (and itself) carry a checksum.
  state.fde ??= parseFormatDescription(event, header);
  if (state.fde.checksum === 'crc32') verifyChecksum(event.readUInt32LE(event.length - CHECKSUM_LENGTH), eventCrc(event, header.type), header);
  state.handle(header, event);
  return true;
}

/** Streams an event's body through the checksum without holding it; false when the input ends inside it. */
async function streamEvent(reader: ChunkReader, header: EventHeader, state: BinlogScan): Promise<boolean> {
  const checksumLength = state.fde?.checksum === 'crc32' ? CHECKSUM_LENGTH : 0;
  let crc = 0;
  const covered = header.size - checksumLength;
  const got = await reader.stream(covered, checksumLength > 0 ? (piece) => (crc = crc32(piece, crc)) : () => {});
  if (got < covered || !(await reader.ensure(checksumLength))) return false;
  if (checksumLength > 0) verifyChecksum(reader.take(checksumLength).readUInt32LE(0), crc, header);
  state.handle(header, null);
  return true;
}

/**
 * parseBinlog over a local file, with the file's path added to error messages.
 */
export async function parseBinlogFile(path: string, options: ParseBinlogOptions = {}): Promise<BinlogSummary> {
  try {
    return await parseBinlog(createReadStream(path, { highWaterMark: 1024 * 1024 }), options);
  } catch (err) {
    if (err instanceof AppError && err.code.startsWith('BINLOG_')) {
      throw new AppError(err.code, `${path}: ${err.message}`, err.exitCode, { hint: err.hint, cause: err });
    }
    throw err;
  }
}
