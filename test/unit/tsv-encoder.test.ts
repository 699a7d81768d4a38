import { describe, expect, it } from 'vitest';
import { columnKind, TsvEncoder, type ColumnKind } from '../../src/lib/dump/tsv-encoder.js';

/** A text-protocol row packet payload: each field length-encoded, NULL as 0xFB. */
function rowPacket(fields: ReadonlyArray<Buffer | string | null>): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    if (f === null) {
      parts.push(Buffer.from([0xfb]));
      continue;
    }
    const b = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
    if (b.length < 0xfb) parts.push(Buffer.from([b.length]));
    else if (b.length < 0x10000) parts.push(Buffer.from([0xfc, b.length & 0xff, b.length >> 8]));
    else if (b.length < 0x1000000) parts.push(Buffer.from([0xfd, b.length & 0xff, (b.length >> 8) & 0xff, b.length >> 16]));
    else {
      const h = Buffer.alloc(9);
      h[0] = 0xfe;
      h.writeBigUInt64LE(BigInt(b.length), 1);
      parts.push(h);
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

function encode(kinds: ColumnKind[], rows: Array<Array<Buffer | string | null>>, blockSize?: number): { text: Buffer; encoder: TsvEncoder } {
  const encoder = new TsvEncoder(kinds, blockSize);
  const out: Buffer[] = [];
  for (const r of rows) {
    // Embed the payload in a larger buffer, as packets arrive inside socket chunks.
    const payload = rowPacket(r);
    const framed = Buffer.concat([Buffer.from('xxxx'), payload, Buffer.from('yy')]);
    encoder.encodeRow(framed, 4, 4 + payload.length);
    if (encoder.full) out.push(encoder.take()!);
  }
  const rest = encoder.take();
  if (rest) out.push(rest);
  return { text: Buffer.concat(out), encoder };
}

describe('columnKind', () => {
  it('sends binary, BIT and geometry through base64, numbers raw, the rest as escaped text', () => {
    for (const t of ['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'bit', 'point', 'geometry', 'multipolygon', 'geomcollection']) {
      expect(columnKind(t), t).toBe('base64');
    }
    for (const t of ['tinyint', 'int', 'bigint', 'decimal', 'float', 'double', 'year']) expect(columnKind(t), t).toBe('number');
    for (const t of ['varchar', 'text', 'json', 'enum', 'set', 'datetime', 'timestamp', 'time', 'date', 'char', 'uuid', 'inet6']) {
      expect(columnKind(t), t).toBe('text');
    }
  });
});

describe('TsvEncoder', () => {
  it('escapes exactly the seven special bytes and writes \\N for NULL', () => {
    const { text } = encode(['text', 'text', 'text'], [['a\tb\nc\rd\\e\0f\bg\x1ah', null, 'NULL'], ['\\N', '', 'plain ✓ 😀']]);
    expect(text.toString('utf8')).toBe('a\\tb\\nc\\rd\\\\e\\0f\\bg\\Zh\t\\N\tNULL\n\\\\N\t\tplain ✓ 😀\n');
  });

  it('leaves other control bytes and UTF-8 untouched', () => {
    const raw = Buffer.from([0x01, 0x07, 0x0b, 0x0c, 0x1b, 0x7f, 0xc3, 0xa9]);
    const { text } = encode(['text'], [[raw]]);
    expect(text).toEqual(Buffer.concat([raw, Buffer.from('\n')]));
  });

  it('writes numbers as they come and turns inf/nan into NULL', () => {
    const { text } = encode(['number', 'number', 'number', 'number'], [['-12.500', '1e+308', 'inf', '-inf'], ['nan', '0', null, '18446744073709551615']]);
    expect(text.toString()).toBe('-12.500\t1e+308\t\\N\t\\N\n\\N\t0\t\\N\t18446744073709551615\n');
  });

  it('writes binary values as base64 without line breaks', () => {
    const blob = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    const { text } = encode(['base64', 'base64', 'base64'], [[blob, Buffer.alloc(0), null]]);
    expect(text.toString()).toBe(`${blob.toString('base64')}\t\t\\N\n`);
    expect(text.toString()).not.toMatch(/[\r\n].*[\r\n]/);
  });

  it('reads 2-, 3- and 8-byte length prefixes', () => {
    const sizes = [300, 70_000, 17_000_000];
    const rows = sizes.map((n) => [Buffer.alloc(n, 0x61)]);
    const { text, encoder } = encode(['text'], rows);
    expect(text.length).toBe(sizes.reduce((a, n) => a + n + 1, 0));
    expect(encoder.rows).toBe(3);
    expect(encoder.bytes).toBe(text.length);
  });

  it('hands out blocks once the block size is reached, losing nothing', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => [String(i), 'x'.repeat(i % 50)]);
    const small = encode(['number', 'text'], rows, 1024);
    const big = encode(['number', 'text'], rows, 1 << 20);
    expect(small.text.equals(big.text)).toBe(true);
    expect(small.encoder.bytes).toBe(small.text.length);
  });

  it('grows its buffer as rows come: wide rows, escaped rows and rows after a short block all come out whole', () => {
    // Widths around the first buffer (16 KiB), the block and twice the block; `\t` doubles when escaped.
    const widths = [0, 10, 16 * 1024 - 3, 16 * 1024 + 5, 40_000, 200_000, 600_000, 7];
    const rows = widths.flatMap((w, i) => [[String(i), 'a'.repeat(w)], [String(-i), '\t'.repeat(w)], [null, null]]);
    const whole = encode(['number', 'text'], rows, 1 << 30).text;
    for (const blockSize of [1024, 16 * 1024, 256 * 1024]) {
      const encoder = new TsvEncoder(['number', 'text'], blockSize);
      const blocks: Buffer[] = [];
      rows.forEach((r, i) => {
        const payload = rowPacket(r);
        encoder.encodeRow(payload, 0, payload.length);
        // A short block taken early (as at the end of a file) must not be written over later.
        if (encoder.full || i % 5 === 0) blocks.push(encoder.take()!);
      });
      const rest = encoder.take();
      if (rest) blocks.push(rest);
      expect(Buffer.concat(blocks).equals(whole), `block size ${blockSize}`).toBe(true);
    }
  });

  it('records an .idx offset after each row that crosses another MiB, then the total', () => {
    const row = 'y'.repeat(299_999); // 300,000 bytes with the newline
    const { encoder } = encode(['text'], Array.from({ length: 8 }, () => [row]));
    const idx = encoder.idxFile();
    const values = Array.from({ length: idx.length / 8 }, (_, i) => Number(idx.readBigUInt64BE(i * 8)));
    // 2.4 MB in 300 kB rows: the 4th row passes 1 MiB (1,200,000), the 7th passes 2 MiB (2,100,000).
    expect(values).toEqual([1_200_000, 2_100_000, 2_400_000]);
  });

  it('gives an empty file an .idx holding a single 0', () => {
    const encoder = new TsvEncoder(['text']);
    expect(encoder.idxFile()).toEqual(Buffer.alloc(8));
  });

  it('rejects a packet that does not match the column count', () => {
    const encoder = new TsvEncoder(['text']);
    const p = rowPacket(['a', 'b']);
    expect(() => encoder.encodeRow(p, 0, p.length)).toThrow(/beyond its 1 columns/);
  });
});
