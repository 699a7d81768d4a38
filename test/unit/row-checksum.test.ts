import { describe, expect, it } from 'vitest';
import { RowChecksum } from '../../src/lib/dump/row-checksum.js';

function checksumOf(rows: string[]): RowChecksum {
  const c = new RowChecksum();
  for (const r of rows) {
    const b = Buffer.from(r);
    c.add(b, 0, b.length);
  }
  return c;
}

describe('RowChecksum', () => {
  const rows = ['1\talpha', '2\tbeta', '3\t\\N', '4\tgamma with more bytes', ''];

  it('does not depend on row order', () => {
    expect(checksumOf([...rows].reverse()).digest()).toBe(checksumOf(rows).digest());
  });

  it('counts duplicate rows instead of cancelling them', () => {
    const once = checksumOf(['x\ty']);
    const twice = checksumOf(['x\ty', 'x\ty']);
    const none = checksumOf([]);
    expect(twice.digest()).not.toBe(once.digest());
    expect(twice.digest()).not.toBe(none.digest());
    expect(twice.rows).toBe(2);
  });

  it('changes when any single byte of any row changes, or a byte moves between fields', () => {
    const base = checksumOf(rows).digest();
    for (let r = 0; r < rows.length; r++) {
      for (let i = 0; i < rows[r]!.length; i++) {
        const changed = [...rows];
        const bytes = Buffer.from(changed[r]!);
        bytes[i] = bytes[i]! ^ 1;
        changed[r] = bytes.toString('latin1');
        expect(checksumOf(changed).digest(), `row ${r} byte ${i}`).not.toBe(base);
      }
    }
    expect(checksumOf(['ab\tc']).digest()).not.toBe(checksumOf(['a\tbc']).digest());
  });

  it('adds up chunk checksums to the table checksum, also through its digest', () => {
    const whole = checksumOf(rows);
    const a = checksumOf(rows.slice(0, 2));
    const b = checksumOf(rows.slice(2));
    const merged = new RowChecksum();
    merged.merge(RowChecksum.fromDigest(a.digest(), a.rows));
    merged.merge(b);
    expect(merged.digest()).toBe(whole.digest());
    expect(merged.rows).toBe(rows.length);
    expect(whole.digest()).toMatch(/^[0-9a-f]{16}$/);
  });
});
