/**
 * An order-independent checksum of a table's content, computed from its encoded TSV rows: every
 * row is hashed to 64 bits (two 32-bit MurmurHash3-style lanes) and the hashes are summed, lane
 * by lane, modulo 2^32. Summing (not XOR) keeps duplicate rows of keyless tables from cancelling
 * out, and makes the checksum of a table the sum of its chunks' checksums, whichever worker
 * dumped them and in whatever order.
 *
 * `verify` computes the same checksum over a restored table by encoding it the same way; equal
 * checksums and row counts mean the same multiset of rows, byte for byte as encoded.
 */

export class RowChecksum {
  private lane1 = 0;
  private lane2 = 0;
  rows = 0;

  /** Adds the row held in buf[start, end) (without its line terminator). */
  add(buf: Uint8Array, start: number, end: number): void {
    const len = end - start;
    let h1 = 0x9747b28c ^ len;
    let h2 = 0x3c6ef372 ^ Math.imul(len, 0x27d4eb2d);
    let i = start;
    const whole = start + (len & ~3);
    for (; i < whole; i += 4) {
      let k = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h1 ^= k;
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      h2 ^= Math.imul(k, 0x85ebca6b);
      h2 = (h2 << 17) | (h2 >>> 15);
      h2 = (Math.imul(h2, 9) + 0x52dce729) | 0;
    }
    const rest = end - i;
    if (rest > 0) {
      let tail = buf[i]!;
      if (rest > 1) tail |= buf[i + 1]! << 8;
      if (rest > 2) tail |= buf[i + 2]! << 16;
      tail = Math.imul(tail, 0xcc9e2d51);
      tail = (tail << 15) | (tail >>> 17);
      tail = Math.imul(tail, 0x1b873593);
      h1 ^= tail;
      h2 ^= Math.imul(tail, 0x85ebca6b);
    }
    this.lane1 = (this.lane1 + fmix(h1)) >>> 0;
    this.lane2 = (this.lane2 + fmix(h2 ^ 0x5bd1e995)) >>> 0;
    this.rows++;
  }

  /** Adds another checksum's rows (for chunks of the same table). */
  merge(other: RowChecksum): void {
    this.lane1 = (this.lane1 + other.lane1) >>> 0;
    this.lane2 = (this.lane2 + other.lane2) >>> 0;
    this.rows += other.rows;
  }

  /** 16 hex digits. */
  digest(): string {
    return this.lane1.toString(16).padStart(8, '0') + this.lane2.toString(16).padStart(8, '0');
  }

  static fromDigest(digest: string, rows: number): RowChecksum {
    const c = new RowChecksum();
    c.lane1 = Number.parseInt(digest.slice(0, 8), 16) >>> 0;
    c.lane2 = Number.parseInt(digest.slice(8, 16), 16) >>> 0;
    c.rows = rows;
    return c;
  }
}

/** MurmurHash3's finalizer: spreads every input bit over the whole word. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
