/**
 * Encodes rows, straight from the text protocol's row packets, into MySQL Shell's default TSV
 * dialect (FORMAT.md §3): TAB between fields, LF after each row, `\N` for NULL, the bytes
 * 0x00 0x08 LF CR TAB 0x1A and `\` escaped as `\0 \b \n \r \t \Z \\`, numbers written as they
 * come (a value starting with a letter, such as `inf`, becomes NULL), and binary, BIT and
 * geometry values written as base64 (loaded back with FROM_BASE64).
 *
 * It works on bytes only and never builds JavaScript strings for text values: this loop runs
 * once per byte dumped and is the engine's hot path.
 */

import { RowChecksum } from './row-checksum.js';

export type ColumnKind = 'text' | 'number' | 'base64';

const numericTypes = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'float', 'double', 'real', 'year']);
const geometryTypes = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
]);

/** How a column is written, from its information_schema DATA_TYPE. */
export function columnKind(dataType: string): ColumnKind {
  const t = dataType.toLowerCase();
  if (t.endsWith('binary') || t.endsWith('blob') || t === 'bit' || geometryTypes.has(t)) return 'base64';
  if (numericTypes.has(t)) return 'number';
  return 'text';
}

const KIND_TEXT = 0;
const KIND_NUMBER = 1;
const KIND_BASE64 = 2;

const BACKSLASH = 0x5c;
const TAB = 0x09;
const LF = 0x0a;
const MiB = 1024 * 1024;
/** Room past the block for the row that crosses it, so a block rarely needs a bigger buffer. */
const SLACK = 64 * 1024;
/** The buffer a table starts with; it grows to the full block only as the table proves big. */
const FIRST_BUFFER = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** ESCAPE[b] is the letter written after `\` for byte b, or 0 when b goes out as is. */
const ESCAPE = new Uint8Array(256);
ESCAPE[0x00] = 0x30; // \0
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x1a] = 0x5a; // \Z
ESCAPE[0x5c] = 0x5c; // \\

export class TsvEncoder {
  /** Rows encoded so far. */
  rows = 0;
  /** Uncompressed bytes produced so far. */
  bytes = 0;
  /** `.idx` offsets: the stream size after each row that crossed another MiB (the total is added by idxFile()). */
  readonly idxOffsets: number[] = [];
  /** Checksum of the rows encoded so far (see row-checksum.ts). */
  readonly checksum = new RowChecksum();
  /**
   * The largest value seen per column, in bytes as the server sent them (before escaping or
   * base64): a restore target must be able to take it (max_allowed_packet for decoded columns).
   */
  readonly largestValues: Float64Array;
  /** The largest row seen, in bytes of its values (what a client reading it back must receive). */
  largestRow = 0;

  private readonly kinds: Uint8Array;
  private readonly blockSize: number;
  private out: Buffer;
  private pos = 0;
  private nextIdxMark = MiB;

  constructor(kinds: readonly ColumnKind[], blockSize = 256 * 1024) {
    this.kinds = Uint8Array.from(kinds, (k) => (k === 'text' ? KIND_TEXT : k === 'number' ? KIND_NUMBER : KIND_BASE64));
    this.largestValues = new Float64Array(kinds.length);
    this.blockSize = blockSize;
    // Most of the tables of a schema with thousands of them hold a few rows: a full block each
    // would be most of what such a dump allocates. The buffer grows as rows come (reserve()).
    this.out = Buffer.allocUnsafe(Math.min(FIRST_BUFFER, blockSize + SLACK));
  }

  /** Whether enough output has gathered to be handed on with take(). */
  get full(): boolean {
    return this.pos >= this.blockSize;
  }

  /** Encodes one row packet's payload, buffer[start, end). */
  encodeRow(buf: Buffer, start: number, end: number): void {
    const kinds = this.kinds;
    const n = kinds.length;
    const rowStart = this.pos;
    const largest = this.largestValues;
    let rowBytes = 0;
    let p = start;
    for (let col = 0; col < n; col++) {
      const first = buf[p++]!;
      let len: number;
      if (first < 0xfb) {
        len = first;
      } else if (first === 0xfb) {
        this.reserve(3);
        const out = this.out;
        out[this.pos++] = BACKSLASH;
        out[this.pos++] = 0x4e; // N
        out[this.pos++] = col === n - 1 ? LF : TAB;
        continue;
      } else if (first === 0xfc) {
        len = buf[p]! | (buf[p + 1]! << 8);
        p += 2;
      } else if (first === 0xfd) {
        len = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16);
        p += 3;
      } else {
        len = buf.readUInt32LE(p) + buf.readUInt32LE(p + 4) * 0x1_0000_0000;
        p += 8;
      }
      const e = p + len;
      rowBytes += len;
      if (len > largest[col]!) largest[col] = len;
      const kind = kinds[col]!;
      if (kind === KIND_TEXT) {
        this.reserve(len * 2 + 1);
        this.writeEscaped(buf, p, e);
      } else if (kind === KIND_NUMBER) {
        this.reserve(len + 3);
        // Skip a sign: `-inf` is as unloadable as `inf`.
        const lead = len > 1 && (buf[p] === 0x2d || buf[p] === 0x2b) ? p + 1 : p;
        const c = len > 0 ? buf[lead]! | 0x20 : 0;
        if (c >= 0x61 && c <= 0x7a) {
          // inf, -inf and nan have no literal LOAD DATA accepts; MySQL Shell writes NULL.
          this.out[this.pos++] = BACKSLASH;
          this.out[this.pos++] = 0x4e;
        } else {
          const out = this.out;
          let pos = this.pos;
          for (let i = p; i < e; i++) out[pos++] = buf[i]!;
          this.pos = pos;
        }
      } else {
        this.reserve(Math.ceil(len / 3) * 4 + 1);
        this.pos += this.out.write(buf.toString('base64', p, e), this.pos, 'latin1');
      }
      this.out[this.pos++] = col === n - 1 ? LF : TAB;
      p = e;
    }
    this.rows++;
    if (rowBytes > this.largestRow) this.largestRow = rowBytes;
    this.checksum.add(this.out, rowStart, this.pos - 1);
    this.bytes += this.pos - rowStart;
    if (this.bytes >= this.nextIdxMark) {
      this.idxOffsets.push(this.bytes);
      this.nextIdxMark = (Math.floor(this.bytes / MiB) + 1) * MiB;
    }
    if (end !== p) throw new Error(`row packet has ${end - p} bytes beyond its ${n} columns`);
  }

  /** Hands over the bytes encoded since the last call (null when there are none). */
  take(): Buffer | null {
    if (this.pos === 0) return null;
    const block = this.out.subarray(0, this.pos);
    // After a full block more rows are likely: the next buffer is a full one. After the last
    // (short) block of a file none may come, so nothing is allocated until a row needs it.
    this.out = this.pos >= this.blockSize ? Buffer.allocUnsafe(this.blockSize + SLACK) : EMPTY;
    this.pos = 0;
    return block;
  }

  /**
   * Whether the `.idx` file would say more than the total size: the stream crossed 1 MiB. Below
   * that it holds only the total, which `@.done.json`'s `chunkFileBytes` gives too.
   */
  get idxHasOffsets(): boolean {
    return this.idxOffsets.length > 0 && this.idxOffsets[0] !== this.bytes;
  }

  /** The `.idx` file for the bytes encoded so far: big-endian uint64 offsets, the total last. */
  idxFile(): Buffer {
    const offsets = [...this.idxOffsets];
    if (offsets[offsets.length - 1] !== this.bytes) offsets.push(this.bytes);
    const file = Buffer.alloc(offsets.length * 8);
    offsets.forEach((o, i) => file.writeBigUInt64BE(BigInt(o), i * 8));
    return file;
  }

  private writeEscaped(buf: Buffer, p: number, e: number): void {
    // One plain loop: Buffer#copy costs more than it saves on fields of typical length.
    const out = this.out;
    let pos = this.pos;
    for (let i = p; i < e; i++) {
      const c = buf[i]!;
      const esc = ESCAPE[c]!;
      if (esc === 0) {
        out[pos++] = c;
      } else {
        out[pos++] = BACKSLASH;
        out[pos++] = esc;
      }
    }
    this.pos = pos;
  }

  /** Makes room for `n` more bytes in the current block. */
  private reserve(n: number): void {
    if (this.pos + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + n + 1, Math.min(FIRST_BUFFER, this.blockSize + SLACK)));
    this.out.copy(bigger, 0, 0, this.pos);
    this.out = bigger;
  }
}
