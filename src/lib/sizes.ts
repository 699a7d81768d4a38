/**
 * Byte sizes as MySQL Shell writes them: k, M, G, T are decimal (×1000), so "64M" is 64,000,000.
 * A plain integer is a count of bytes.
 */
const units: Record<string, number> = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9, t: 1e12, T: 1e12 };

export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new Error(`${input} is not a whole number of bytes`);
    return input;
  }
  const m = /^\s*(\d+)\s*([kKmMgGtT]?)\s*$/.exec(input);
  if (!m) throw new Error(`"${input}" is not a size: write a whole number with an optional k, M, G or T (decimal), like 64M`);
  const value = Number(m[1]) * (units[m[2] ?? ''] ?? 1);
  if (!Number.isSafeInteger(value)) throw new Error(`"${input}" is too large`);
  return value;
}

/** A human-readable decimal size: 1.5 MB, 820 kB, 12 B. */
export function formatBytes(bytes: number): string {
  const steps = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < steps.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${steps[i]}`;
}

export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  if (m < 60) return `${m}m${String(rest).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
