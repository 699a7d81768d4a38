import type { PitrWindow } from '../lib/pitr/window.js';

/**
 * The restorable window for a person, oldest first: each range of restorable times (a backup's
 * snapshot alone shows as one time) with the backups it starts from, and each gap with its reason.
 */
export function renderPitrWindow(w: PitrWindow, indent: string): string {
  if (w.ranges.length === 0) return `${indent}nothing is restorable: ${w.reason ?? 'unknown'}\n`;
  const sites = w.sites.length > 0 ? `from site ${w.sites.join(', ')}` : 'none archived';
  let out = `${indent}restorable times (${w.files} archived binlogs, ${sites}):\n`;
  for (const r of w.ranges) {
    const backups = r.backups.join(', ');
    out += r.from === r.to ? `${indent}  ${r.from}  the snapshot of backup ${backups}\n` : `${indent}  ${r.from} to ${r.to}  from backup ${backups}\n`;
    const gap = w.gaps.find((g) => g.from === r.to);
    if (gap) out += `${indent}  GAP ${gap.to ? `from ${gap.from} to ${gap.to}` : `after ${gap.from}`}: ${gap.reason}\n`;
  }
  return out;
}
