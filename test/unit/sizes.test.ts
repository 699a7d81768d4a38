import { describe, expect, it } from 'vitest';
import { formatBytes, parseSize } from '../../src/lib/sizes.js';

describe('parseSize', () => {
  it('reads k/M/G/T as decimal, as MySQL Shell does', () => {
    expect(parseSize('64M')).toBe(64_000_000);
    expect(parseSize('128k')).toBe(128_000);
    expect(parseSize('2G')).toBe(2_000_000_000);
    expect(parseSize('1000')).toBe(1000);
    expect(parseSize(5)).toBe(5);
  });

  it('rejects what is not a size, saying how to write one', () => {
    expect(() => parseSize('64MB')).toThrow(/like 64M/);
    expect(() => parseSize('-1')).toThrow();
    expect(() => parseSize(1.5)).toThrow();
  });
});

describe('formatBytes', () => {
  it('prints decimal units', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(161.29)).toBe('161 B');
    expect(formatBytes(1_500_000)).toBe('1.50 MB');
    expect(formatBytes(64_000_000)).toBe('64.0 MB');
  });
});
