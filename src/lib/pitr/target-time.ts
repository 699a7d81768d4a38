/**
 * Target times for point-in-time recovery: RFC 3339 with or without a zone, or MySQL's
 * `YYYY-MM-DD HH:MM:SS`. A time without a zone is read as UTC (the archive's times are UTC).
 */
import { ConfigError } from '../errors.js';

export function parseTargetTime(value: string, flag = '--stop-datetime'): Date {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|z|[+-]\d{2}:?\d{2})?$/.exec(value.trim());
  if (!m) {
    throw new ConfigError([{ path: flag, message: `"${value}" is not a time: write RFC 3339 (2026-04-15T09:30:00Z, or with an offset) or YYYY-MM-DD HH:MM:SS (UTC)` }]);
  }
  const zone = m[3] === undefined ? 'Z' : m[3].length === 5 ? `${m[3].slice(0, 3)}:${m[3].slice(3)}` : m[3].toUpperCase();
  const d = new Date(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(d.getTime())) throw new ConfigError([{ path: flag, message: `"${value}" is not a valid time` }]);
  return d;
}
