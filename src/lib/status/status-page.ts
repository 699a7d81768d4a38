/**
 * The status page: a `Status` as one self-contained HTML5 document, for `status --html` and the
 * daemon's `/`. Server-rendered with no JavaScript and nothing fetched (the style sheet and the
 * timeline's SVG are inline, and a Content-Security-Policy forbids anything else), so it works
 * from a file, behind a proxy, and with scripts off. (The empty data: icon keeps browsers from
 * asking the daemon for /favicon.ico.) Every text from the status is escaped
 * (html.ts); only what `Status` holds is shown, and it holds no configuration or credentials.
 */
import { formatBytes, formatDuration } from '../sizes.js';
import type { BackupStatus, ProfileStatus, Status } from './describe-status.js';
import { html, rawHtml, type Html } from './html.js';
import { renderTimeline } from './window-timeline.js';

export interface StatusPageOptions {
  /** The time ages, "in …" and the timeline's end are measured from. */
  now: Date;
  /** The page's heading and <title>; default "bloodraven status" (with the group's name). */
  title?: string;
  /** Seconds after which the browser reloads the page (a meta refresh, not a script); none when unset (a page written to a file). */
  refreshSeconds?: number;
  /** Links to the other groups' pages (Kubernetes mode: one page per MysqlFailoverGroup), shown as `nav#groups`. */
  groups?: ReadonlyArray<{ name: string; href: string; current: boolean }>;
}

/** 2026-11-30T19:53:38.123Z → 2026-11-30 19:53:38 UTC. */
function when(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  return `${new Date(t).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function ago(iso: string, now: Date): string {
  const ms = now.getTime() - Date.parse(iso);
  return ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(-ms)}`;
}

/**
 * A restorable time to the millisecond when it has any (2026-11-30 20:30:00.225 UTC): a time
 * shown to the second only could be one the restore refuses (just before a snapshot).
 */
function exactTime(iso: string): Html {
  const t = Date.parse(iso);
  const ms = Number.isFinite(t) ? new Date(t).getUTCMilliseconds() : 0;
  const shown = ms === 0 ? when(iso) : `${new Date(t).toISOString().slice(0, 23).replace('T', ' ')} UTC`;
  return html`<time datetime="${iso}">${shown}</time>`;
}

/** A time as people read it, with the exact RFC 3339 value in a <time> element. */
function time(iso: string): Html {
  return html`<time datetime="${iso}">${when(iso)}</time>`;
}

function phaseBadge(phase: BackupStatus['phase']): Html {
  return html`<span class="phase ${phase.toLowerCase()}">${phase}</span>`;
}

function sizeOf(b: BackupStatus): string {
  // A failed backup has no size of its own; what it still holds in storage is what matters then.
  if (b.phase === 'Failed' || b.phase === 'Deleting') return `${formatBytes(b.heldBytes)} left`;
  return b.sizeBytes > 0 ? formatBytes(b.sizeBytes) : '–';
}

function verifiedCell(b: BackupStatus): Html {
  if (b.verification === 'passed') return html`<span class="verified passed" title="${b.verifiedAt ? `verified ${when(b.verifiedAt)}` : 'verified'}">yes</span>`;
  if (b.verification === 'failed') return html`<span class="verified failed">FAILED</span>`;
  return html`<span class="verified none">no</span>`;
}

function backupsTable(p: ProfileStatus, now: Date): Html {
  if (p.backups.length === 0) return html`<p class="empty">No backups yet.</p>`;
  const rows = p.backups.map(
    (b) => html`<tr data-backup="${b.name}" data-phase="${b.phase}">
<td>${phaseBadge(b.phase)}</td><td class="name">${b.name}</td><td class="num">${sizeOf(b)}</td><td class="num">${b.durationSeconds === null ? '–' : formatDuration(b.durationSeconds * 1000)}</td><td>${time(b.startedAt)}<br><span class="muted">${ago(b.startedAt, now)}</span></td><td>${verifiedCell(b)}</td><td class="failure">${b.failure ?? ''}</td>
</tr>`,
  );
  return html`<table class="backups">
<thead><tr><th>Phase</th><th>Name</th><th class="num">Size</th><th class="num">Duration</th><th>Started</th><th>Verified</th><th>Failure</th></tr></thead>
<tbody>${rows}</tbody>
</table>`;
}

/** Last success and failure, and the verification summary, as a definition list. */
function facts(p: ProfileStatus, now: Date): Html {
  const v = p.verification;
  const success = p.lastSuccess ? html`${p.lastSuccess.name} <span class="muted">(${ago(p.lastSuccess.startedAt, now)})</span>` : html`<span class="muted">none</span>`;
  const failure = p.lastFailure
    ? html`${p.lastFailure.name} <span class="muted">(${ago(p.lastFailure.startedAt, now)})</span>${p.lastFailure.failure ? html`<div class="reason">${p.lastFailure.failure}</div>` : ''}`
    : html`<span class="muted">none</span>`;
  const newest = v.newestVerified
    ? html`${v.newestVerified.name}${v.newestVerified.verifiedAt ? html` <span class="muted">(verified ${ago(v.newestVerified.verifiedAt, now)})</span>` : ''}`
    : html`<span class="muted">none</span>`;
  const last = v.last
    ? html`<span class="verified ${v.last.result}">${v.last.result === 'passed' ? 'passed' : 'FAILED'}</span> ${v.last.backup}, ${time(v.last.verifiedAt)} <span class="muted">(${ago(v.last.verifiedAt, now)})</span>`
    : html`<span class="muted">none yet</span>`;
  const next = v.schedule
    ? html`${time(v.schedule.nextRun)} <span class="muted">(${ago(v.schedule.nextRun, now)}; <code>${v.schedule.schedule}</code> ${v.schedule.timeZone})</span>`
    : html`<span class="muted">not scheduled</span>`;
  return html`<dl class="facts">
<dt>Last success</dt><dd class="last-success">${success}</dd>
<dt>Last failure</dt><dd class="last-failure">${failure}</dd>
<dt>Newest verified</dt><dd>${newest}</dd>
<dt>Last verification</dt><dd>${last}</dd>
<dt>Next verification</dt><dd class="next-verification">${next}</dd>
</dl>`;
}

function profileSection(p: ProfileStatus, now: Date): Html {
  const storage = html`<span class="storage">${p.storageType} ${p.location ?? '(location unknown)'}</span>`;
  const body = p.error
    ? html`<div class="error" role="alert"><strong>Cannot read its storage:</strong> ${p.error}${p.errorHint ? html`<div class="hint">hint: ${p.errorHint}</div>` : ''}</div>`
    : html`${facts(p, now)}${backupsTable(p, now)}`;
  return html`<section class="profile" id="profile-${p.name}" data-profile="${p.name}">
<h2>Profile ${p.name} ${storage}</h2>
${body}
</section>`;
}

/** The window as text under the picture: each range and each gap, in time order. */
function windowText(status: Status): Html {
  const w = status.pitr;
  if (!w) {
    return html`<p class="notice" id="pitr-not-configured">Point-in-time recovery is not configured (<code>backup.pitr</code>): only the moments the backups were taken are restorable.</p>`;
  }
  if (w.error) return html`<div class="error" role="alert" id="pitr-error"><strong>Cannot read the binlog archive in profile ${w.profile}:</strong> ${w.error}</div>`;
  const sites = w.sites.length > 0 ? `from site ${w.sites.join(', ')}` : 'none archived yet';
  const summary = html`<p id="window-summary">Binlog archive in profile <strong>${w.profile}</strong>: ${w.files} archived binlog${w.files === 1 ? '' : 's'}, ${sites}. ${
    w.from && w.to ? html`Restorable from ${exactTime(w.from)} to ${exactTime(w.to)}${w.gaps.length > 0 ? html`, <strong class="bad">with ${w.gaps.length} gap${w.gaps.length === 1 ? '' : 's'}</strong>` : ''}.` : html`<strong class="bad">Nothing is restorable: ${w.reason ?? 'no backup yet'}.</strong>`
  }</p>`;
  const ranges = w.ranges.map(
    (r, i) =>
      html`<li class="range-text" data-range="${i}">${r.from === r.to ? html`${exactTime(r.from)}: the snapshot of backup ${r.backups.join(', ')}` : html`${exactTime(r.from)} to ${exactTime(r.to)}: from backup ${r.backups.join(', ')}`}</li>`,
  );
  const gaps = w.gaps.map(
    (g, i) =>
      html`<li class="gap-text" data-gap="${i}"><strong>Gap ${i + 1}</strong> ${g.to === null ? html`after ${exactTime(g.from)} (up to now)` : html`from ${exactTime(g.from)} to ${exactTime(g.to)}`}: <span class="reason">${g.reason}</span></li>`,
  );
  return html`${summary}
<div class="window-lists">
<div><h3>Restorable ranges</h3>${ranges.length > 0 ? html`<ul id="ranges">${ranges}</ul>` : html`<p class="muted">none</p>`}</div>
<div><h3>Gaps</h3>${gaps.length > 0 ? html`<ul id="gaps">${gaps}</ul>` : html`<p class="muted" id="no-gaps">none: every time in the ranges above is restorable</p>`}</div>
</div>`;
}

/** What the timeline's marks mean; the archive's marks only when there is an archive. */
function legend(pitr: boolean): Html {
  const item = (icon: Html, text: string): Html => html`<li>${icon}${text}</li>`;
  const point = (marks: Html): Html => html`<svg width="22" height="22" viewBox="-11 -11 22 22" aria-hidden="true">${marks}</svg>`;
  const bar = (swatch: string): Html => html`<svg width="30" height="16" viewBox="0 0 30 16" aria-hidden="true"><rect class="${swatch}" width="30" height="16" rx="2"/></svg>`;
  return html`<ul class="legend" aria-label="legend">
${item(point(html`<g class="backup succeeded"><circle r="6"/></g>`), 'backup succeeded')}
${item(point(html`<g class="backup succeeded"><circle class="ring passed" r="10"/><circle r="6"/></g>`), 'verified')}
${item(point(html`<g class="backup failed"><path d="M0 -7L7 0L0 7L-7 0Z"/></g>`), 'backup failed')}
${item(point(html`<g class="backup running"><circle r="6"/></g>`), 'running')}
${pitr ? [item(bar('range-swatch'), 'restorable (a snapshot, and archived binlogs after it)'), item(bar('gap-swatch'), 'gap: not restorable')] : ''}
${item(html`<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true"><line class="now-swatch" x1="8" x2="8" y1="0" y2="16"/></svg>`, 'now')}
</ul>`;
}

function windowSection(status: Status, now: Date): Html {
  return html`<section id="window">
<h2>${status.pitr ? 'Restorable window' : 'Backups over time'}</h2>
<div class="timeline-box">${renderTimeline(status, now)}</div>
${legend(status.pitr !== null)}
${windowText(status)}
</section>`;
}

function schedulesSection(status: Status, now: Date): Html {
  const backups = status.schedules.map(
    (s) =>
      html`<tr data-schedule="${s.name}" data-kind="backup"><td>backup</td><td class="name">${s.name}</td><td>${s.profileName}</td><td><code>${s.schedule}</code></td><td>${s.timeZone}</td><td class="next-run">${time(s.nextRun)}</td><td>${ago(s.nextRun, now)}</td></tr>`,
  );
  const verifications = status.profiles.flatMap((p) =>
    p.verification.schedule
      ? [
          html`<tr data-schedule="verify ${p.name}" data-kind="verification"><td>verification</td><td class="name">verify ${p.name}</td><td>${p.name}</td><td><code>${p.verification.schedule.schedule}</code></td><td>${p.verification.schedule.timeZone}</td><td class="next-run">${time(p.verification.schedule.nextRun)}</td><td>${ago(p.verification.schedule.nextRun, now)}</td></tr>`,
        ]
      : [],
  );
  const rows = [...backups, ...verifications];
  return html`<section id="schedules">
<h2>Next scheduled runs</h2>
${
  rows.length > 0
    ? html`<table class="schedules"><thead><tr><th>Kind</th><th>Name</th><th>Profile</th><th>Schedule</th><th>Time zone</th><th>Next run (UTC)</th><th>In</th></tr></thead><tbody>${rows}</tbody></table>`
    : html`<p class="empty">No schedules: backups run only when started by hand.</p>`
}
</section>`;
}

const styleSheet = rawHtml(`
:root { color-scheme: light; --ok: #1a7f37; --bad: #cf222e; --busy: #bf8700; --idle: #6e7781; --range: #3574d4; --ink: #1f2328; --muted: #636c76; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #f6f8fa; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 4px 24px; border-bottom: 1px solid var(--line); margin-bottom: 16px; padding-bottom: 8px; }
h1 { font-size: 24px; margin: 0; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 8px 0 4px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 0 0 18px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3; padding: 1px 4px; border-radius: 4px; }
.muted, .meta { color: var(--muted); }
.storage { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: normal; color: var(--muted); margin-left: 8px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin-top: 8px; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e6e9ec; vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; color: #424a53; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.name { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
td time { white-space: nowrap; }
td.failure { color: var(--bad); max-width: 360px; overflow-wrap: anywhere; }
.phase { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.phase.succeeded { background: var(--ok); }
.phase.failed { background: var(--bad); }
.phase.running { background: var(--busy); }
.phase.deleting { background: var(--idle); }
.verified.passed { color: var(--ok); font-weight: 600; }
.verified.failed, .bad { color: var(--bad); font-weight: 600; }
.verified.none { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0 0 6px; }
dt { font-weight: 600; color: #424a53; }
dd { margin: 0; }
.reason { color: var(--bad); overflow-wrap: anywhere; }
.error { border-left: 4px solid var(--bad); background: #fff5f5; padding: 8px 12px; overflow-wrap: anywhere; }
.hint { color: var(--muted); margin-top: 4px; }
.notice { border-left: 4px solid var(--idle); background: #f6f8fa; padding: 8px 12px; }
.empty { color: var(--muted); font-style: italic; }
.timeline-box { overflow-x: auto; }
svg.timeline { display: block; width: 100%; height: auto; font-family: inherit; }
svg.timeline .lane-bg { fill: #fbfcfd; }
svg.timeline .lane-bg.odd { fill: #f3f6f9; }
svg.timeline .lane-label { font-size: 14px; font-weight: 600; fill: var(--ink); }
svg.timeline .lane-sublabel, svg.timeline .note { font-size: 12px; fill: var(--muted); }
svg.timeline .axis line { stroke: #8c959f; }
svg.timeline .tick line { stroke: #d8dee4; stroke-dasharray: 2 3; }
svg.timeline .axis text { font-size: 12px; fill: #424a53; text-anchor: middle; }
svg.timeline .axis text.date { fill: var(--muted); font-size: 11px; }
svg.timeline .axis text.unit { text-anchor: end; font-weight: 600; }
svg.timeline .now line, svg .now-swatch { stroke: #8250df; stroke-width: 1.5; stroke-dasharray: 5 4; }
svg.timeline .now text { font-size: 12px; fill: #8250df; text-anchor: middle; font-weight: 600; }
svg .backup circle, svg .backup path { stroke: #fff; stroke-width: 1.5; }
svg .backup.succeeded circle { fill: var(--ok); }
svg .backup.failed path { fill: var(--bad); }
svg .backup.running circle { fill: var(--busy); }
svg .backup.deleting circle { fill: var(--idle); }
svg .backup circle.ring { fill: none; stroke-width: 2.5; }
svg .backup circle.ring.passed { stroke: var(--ok); }
svg .backup circle.ring.failed { stroke: var(--bad); stroke-dasharray: 3 2; }
svg .range, svg .range-swatch { fill: var(--range); fill-opacity: 0.85; }
svg .gap, svg .gap-swatch { fill: url(#hatch); stroke: var(--bad); stroke-width: 1.5; }
svg .gap-label { font-size: 11px; fill: var(--bad); font-weight: 600; text-anchor: middle; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 6px 20px; padding: 0; margin: 8px 0 4px; font-size: 13px; color: #424a53; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
.window-lists { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; }
.window-lists ul { margin: 0; padding-left: 20px; }
li.gap-text { color: var(--ink); }
li.gap-text .reason { color: var(--bad); }
footer { color: var(--muted); font-size: 13px; text-align: center; }
@media (max-width: 800px) { .window-lists { grid-template-columns: 1fr; } }
`);

/**
 * The page for `status`: a complete HTML5 document (UTF-8). Sections, with ids for links and
 * tests: `#window` (the timeline; `#ranges` and `#gaps` as text, or `#pitr-not-configured`), one
 * `section.profile[data-profile]` per profile (its backups as `tr[data-backup][data-phase]`),
 * and `#schedules` (`tr[data-schedule]`). Times are shown in UTC; ages and "in …" count from
 * `options.now`. Never throws for any `Status`.
 */
export function renderStatusPage(status: Status, options: StatusPageOptions): string {
  const { now } = options;
  const title = options.title ?? `bloodraven status${status.group ? `: ${status.group}` : ''}`;
  const refresh = options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}">` : '';
  const problems = status.profiles.filter((p) => p.error !== null).length + (status.pitr?.error ? 1 : 0);
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
${refresh}
<title>${title}</title>
<style>${styleSheet}</style>
</head>
<body>
<main>
<header>
<h1>${title}</h1>
${options.groups && options.groups.length > 0 ? html`<nav id="groups" class="meta">Groups: ${options.groups.map((g, i) => html`${i > 0 ? ' · ' : ''}${g.current ? html`<strong aria-current="page">${g.name}</strong>` : html`<a href="${g.href}">${g.name}</a>`}`)}</nav>` : ''}
<p class="meta" id="generated">Generated ${time(status.generatedAt)}${options.refreshSeconds ? html`, refreshed every ${options.refreshSeconds} s` : ''}${problems > 0 ? html` · <strong class="bad">${problems} part${problems === 1 ? '' : 's'} could not be read</strong>` : ''}</p>
</header>
${windowSection(status, now)}
${status.profiles.map((p) => profileSection(p, now))}
${schedulesSection(status, now)}
<footer>bloodraven · read-only status · all times UTC</footer>
</main>
</body>
</html>
`;
  return page.text;
}
