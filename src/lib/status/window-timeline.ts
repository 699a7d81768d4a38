/**
 * The restorable window as a picture: an inline SVG timeline (UTC) with one lane of backups per
 * profile (points at their start times) and, with point-in-time recovery, a lane for the binlog
 * archive's coverage: the window's ranges as bars and its gaps as hatched red spans. Every mark
 * carries a <title> (the browser's tooltip); the same facts are on the page as text too
 * (status-page.ts), since a tooltip is neither accessible nor printable.
 */
import type { Status, BackupStatus } from './describe-status.js';
import { html, type Html } from './html.js';

/** The SVG's coordinate system; it scales to the page's width. */
const width = 1200;
const left = 190;
const right = 30;
const top = 26;
const laneHeight = 46;
const axisHeight = 44;

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;
/** Tick spacings to choose from, fine to coarse. */
const steps = [1, 2, 5, 10, 15, 30].map((n) => n * second)
  .concat([1, 2, 5, 10, 15, 30].map((n) => n * minute))
  .concat([1, 2, 3, 6, 12].map((n) => n * hour))
  .concat([1, 2, 7, 14, 30, 91, 365].map((n) => n * day));
const maxTicks = 9;

interface Lane {
  label: string;
  sublabel: string;
  body: (x: (t: number) => number, y: number) => Html;
}

interface Span {
  from: number;
  to: number;
}

function utc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** The times the picture must show: every backup, every range and gap end, and now. */
function domain(status: Status, now: number): Span {
  const times = [now];
  for (const p of status.profiles) for (const b of p.backups) times.push(Date.parse(b.startedAt));
  for (const r of status.pitr?.ranges ?? []) times.push(Date.parse(r.from), Date.parse(r.to));
  for (const g of status.pitr?.gaps ?? []) times.push(Date.parse(g.from), g.to === null ? now : Date.parse(g.to));
  const finite = times.filter((t) => Number.isFinite(t));
  let from = Math.min(...finite);
  let to = Math.max(...finite);
  // A single time (an empty catalog, where now is all there is) still needs a span around it.
  if (to - from < second) {
    from -= hour;
    to += hour;
  }
  const pad = (to - from) * 0.05;
  return { from: from - pad, to: to + pad };
}

function tickStep(span: number): number {
  return steps.find((s) => span / s <= maxTicks) ?? steps[steps.length - 1]!;
}

/** Tick labels: the time of day (to the second when ticks are seconds apart), and the date where it changes. */
function axis(span: Span, x: (t: number) => number, y: number): Html {
  const step = tickStep(span.to - span.from);
  const ticks: Html[] = [];
  let lastDate = '';
  for (let t = Math.ceil(span.from / step) * step; t <= span.to; t += step) {
    const iso = new Date(t).toISOString();
    const date = iso.slice(0, 10);
    const time = step < minute ? iso.slice(11, 19) : iso.slice(11, 16);
    const first = step >= day ? date : time;
    const dateLine = step < day && date !== lastDate ? date : '';
    lastDate = date;
    ticks.push(html`<g class="tick"><line x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${y + 6}"/><text x="${x(t)}" y="${y + 20}">${first}</text>${dateLine ? html`<text class="date" x="${x(t)}" y="${y + 35}">${dateLine}</text>` : ''}</g>`);
  }
  return html`<g class="axis"><line class="baseline" x1="${left}" x2="${width - right}" y1="${y}" y2="${y}"/>${ticks}<text class="unit" x="${left - 12}" y="${y + 20}" text-anchor="end">UTC</text></g>`;
}

function backupTitle(profile: string, b: BackupStatus): string {
  const verified = b.verification === 'passed' ? ', verified' : b.verification === 'failed' ? ', verification FAILED' : '';
  return `${b.name} (profile ${profile}): ${b.phase}, started ${b.startedAt}${verified}${b.failure ? `: ${b.failure}` : ''}`;
}

/** A backup's mark: a circle when it succeeded (ringed once verified), a diamond when it failed. */
function backupMark(profile: string, b: BackupStatus, cx: number, cy: number): Html {
  const title = html`<title>${backupTitle(profile, b)}</title>`;
  const ring = b.verification ? html`<circle class="ring ${b.verification}" cx="${cx}" cy="${cy}" r="10"/>` : '';
  if (b.phase === 'Failed') {
    const r = 7;
    return html`<g class="backup failed" data-backup="${b.name}">${title}<path d="M${cx} ${cy - r}L${cx + r} ${cy}L${cx} ${cy + r}L${cx - r} ${cy}Z"/></g>`;
  }
  return html`<g class="backup ${b.phase.toLowerCase()}" data-backup="${b.name}">${title}${ring}<circle cx="${cx}" cy="${cy}" r="6"/></g>`;
}

function backupLane(profile: Status['profiles'][number]): Lane {
  return {
    label: 'Backups',
    sublabel: `profile ${profile.name}`,
    body: (x, y) => {
      if (profile.error) return html`<text class="note" x="${left + 10}" y="${y + 4}">storage not readable</text>`;
      if (profile.backups.length === 0) return html`<text class="note" x="${left + 10}" y="${y + 4}">no backups yet</text>`;
      // Oldest last in the catalog: drawn first so the newest lies on top.
      return html`${[...profile.backups].reverse().map((b) => backupMark(profile.name, b, x(Date.parse(b.startedAt)), y))}`;
    },
  };
}

function archiveLane(pitr: NonNullable<Status['pitr']>, now: number): Lane {
  return {
    label: 'Restorable',
    sublabel: `binlog archive, profile ${pitr.profile}`,
    body: (x, y) => {
      if (pitr.error) return html`<text class="note" x="${left + 10}" y="${y + 4}">archive not readable</text>`;
      if (pitr.ranges.length === 0) return html`<text class="note" x="${left + 10}" y="${y + 4}">nothing is restorable</text>`;
      const bar = 18;
      const ranges = pitr.ranges.map((r, i) => {
        // A snapshot alone (from == to) is one restorable instant: a narrow bar still shows it.
        const x1 = x(Date.parse(r.from));
        const w = Math.max(4, x(Date.parse(r.to)) - x1);
        const x0 = r.from === r.to ? x1 - w / 2 : x1;
        const what = r.from === r.to ? `the snapshot of ${r.backups.join(', ')} at ${r.from}` : `${r.from} to ${r.to}, from ${r.backups.join(', ')}`;
        return html`<rect class="range" data-range="${i}" x="${x0}" y="${y - bar / 2}" width="${w}" height="${bar}" rx="2"><title>restorable: ${what}</title></rect>`;
      });
      const gaps = pitr.gaps.map((g, i) => {
        const x1 = x(Date.parse(g.from));
        const x2 = x(g.to === null ? now : Date.parse(g.to));
        // Never thinner than a few pixels: a short gap is still a gap.
        const w = Math.max(6, x2 - x1);
        const x0 = x2 - x1 < 6 ? (x1 + x2) / 2 - 3 : x1;
        const when = g.to === null ? `after ${g.from} (to now)` : `from ${g.from} to ${g.to}`;
        return html`<g class="gap-mark"><rect class="gap" data-gap="${i}" x="${x0}" y="${y - bar / 2 - 3}" width="${w}" height="${bar + 6}"><title>GAP ${when}: ${g.reason}</title></rect><text class="gap-label" x="${x0 + w / 2}" y="${y - bar / 2 - 8}">gap ${i + 1}</text></g>`;
      });
      return html`${ranges}${gaps}`;
    },
  };
}

/**
 * The timeline of `status` as an inline SVG element (no scripts, no external references), scaled
 * to its container's width. Lanes: each profile's backups, then the archive's coverage when
 * `status.pitr` is set. The time axis runs from the oldest time shown to `now` (a gap open to
 * the end is drawn up to now), with ticks labelled in UTC.
 */
export function renderTimeline(status: Status, now: Date): Html {
  const lanes: Lane[] = [];
  for (const p of status.profiles) {
    lanes.push(backupLane(p));
    if (status.pitr && status.pitr.profile === p.name) lanes.push(archiveLane(status.pitr, now.getTime()));
  }
  if (status.pitr && !status.profiles.some((p) => p.name === status.pitr?.profile)) lanes.push(archiveLane(status.pitr, now.getTime()));
  const span = domain(status, now.getTime());
  const x = (t: number): number => Math.round((left + ((t - span.from) / (span.to - span.from)) * (width - left - right)) * 10) / 10;
  const axisY = top + lanes.length * laneHeight + 4;
  const height = axisY + axisHeight;
  const rows = lanes.map((lane, i) => {
    const y = top + i * laneHeight + laneHeight / 2;
    return html`<g class="lane"><rect class="lane-bg${i % 2 ? ' odd' : ''}" x="${left}" y="${y - laneHeight / 2}" width="${width - left - right}" height="${laneHeight}"/><text class="lane-label" x="${left - 12}" y="${y - 2}" text-anchor="end">${lane.label}</text><text class="lane-sublabel" x="${left - 12}" y="${y + 13}" text-anchor="end">${lane.sublabel}</text>${lane.body(x, y)}</g>`;
  });
  const nowX = x(now.getTime());
  return html`<svg class="timeline" role="img" aria-labelledby="timeline-title" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
<title id="timeline-title">Backups${status.pitr ? ' and the restorable window' : ''} from ${utc(span.from)} to ${utc(span.to)}</title>
<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#fde2e2"/><line x1="0" y1="0" x2="0" y2="8" stroke="#d33" stroke-width="4"/></pattern></defs>
${rows}
${axis(span, x, axisY)}
<g class="now"><line x1="${nowX}" x2="${nowX}" y1="${top - 6}" y2="${axisY}"/><text x="${nowX}" y="${top - 10}">now</text><title>now: ${utc(now.getTime())}</title></g>
</svg>`;
}
