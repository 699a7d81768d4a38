import { describe, expect, it } from 'vitest';
import { BasenameAllocator, dataFileName, encodeName } from '../../src/lib/dump/names.js';
import { backupName, groupFromHostname, nameTimestamp } from '../../src/lib/catalog/names.js';

describe('encodeName', () => {
  it('encodes names the way the MySQL Shell fixture does', () => {
    // Basenames taken from the MySQL Shell 8.0.21 dump in shared/fixtures.
    expect(encodeName('foo`bar(')).toBe('foo%60bar%28');
    expect(encodeName('new\nline')).toBe('new%0Aline');
    expect(encodeName('\'"')).toBe('%27%22');
    expect(encodeName('`')).toBe('%60');
  });

  it('keeps unreserved ASCII and UTF-8 bytes, encodes the rest in uppercase hex', () => {
    expect(encodeName('a.b-c_d~E9')).toBe('a.b-c_d~E9');
    expect(encodeName('a b/c@d%e')).toBe('a%20b%2Fc%40d%25e');
    expect(encodeName('naïve 😀')).toBe('naïve%20😀');
    expect(encodeName('\x7f\x01')).toBe('%7F%01');
  });
});

describe('BasenameAllocator', () => {
  it('cuts encoded basenames at 225 code points and numbers names that share the cut', () => {
    const names = new BasenameAllocator();
    const schema = names.schema('s');
    const long = 'é'.repeat(300);
    const first = names.table(schema, long + 'x');
    const second = names.table(schema, long + 'y');
    expect(Array.from(first).length).toBe(226);
    expect(first.endsWith('0')).toBe(true);
    expect(second.endsWith('1')).toBe(true);
    expect(first.slice(0, -1)).toBe(second.slice(0, -1));
    expect(names.table(schema, 'short')).toBe('s@short');
  });
});

describe('dataFileName', () => {
  it('names chunks @N, the final one @@N, unchunked files without a number', () => {
    expect(dataFileName('s@t', 'tsv.zst', 0, false)).toBe('s@t@0.tsv.zst');
    expect(dataFileName('s@t', 'tsv.zst', 7, true)).toBe('s@t@@7.tsv.zst');
    expect(dataFileName('s@t', 'tsv', null, false)).toBe('s@t.tsv');
  });
});

describe('backup names', () => {
  it('are <group>-<profile>-<UTC time to the second>, lowercase-safe', () => {
    const d = new Date('2026-03-04T05:06:07.890Z');
    expect(nameTimestamp(d)).toBe('20260304-050607');
    expect(backupName('orders', 'nightly', d)).toBe('orders-nightly-20260304-050607');
  });

  it('make a group name out of any host name', () => {
    expect(groupFromHostname('DB-01.Example.com')).toBe('db-01-example-com');
    expect(groupFromHostname('__')).toBe('mysql');
    expect(groupFromHostname('a'.repeat(80)).length).toBe(63);
  });
});
