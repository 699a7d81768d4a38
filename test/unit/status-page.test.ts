/**
 * The status page from hand-built `Status` documents: everything from outside escaped, the
 * window's gaps marked in the SVG and listed as text (also one open to now), backups as points
 * without PITR, an empty catalog, an unreadable profile, and no scripts or external references.
 */
import { describe, expect, it } from 'vitest';
import type { BackupStatus, ProfileStatus, Status } from '../../src/lib/status/describe-status.js';
import { escapeHtml, html } from '../../src/lib/status/html.js';
import { renderStatusPage } from '../../src/lib/status/status-page.js';

const now = new Date('2026-11-30T12:00:00Z');

function backup(name: string, startedAt: string, extra: Partial<BackupStatus> = {}): BackupStatus {
  return {
    name,
    phase: 'Succeeded',
    startedAt,
    ageSeconds: Math.round((now.getTime() - Date.parse(startedAt)) / 1000),
    durationSeconds: 42,
    sizeBytes: 12_345_678,
    heldBytes: 12_345_678,
    verified: false,
    verification: null,
    verifiedAt: null,
    failure: null,
    ...extra,
  };
}

function profile(name: string, backups: BackupStatus[], extra: Partial<ProfileStatus> = {}): ProfileStatus {
  return {
    name,
    location: `/var/backups/${name}`,
    storageType: 'PVC',
    backups,
    lastSuccess: backups.find((b) => b.phase === 'Succeeded') ?? null,
    lastFailure: backups.find((b) => b.phase === 'Failed') ?? null,
    verification: { newestVerified: null, last: null, schedule: null },
    error: null,
    errorHint: null,
    ...extra,
  };
}

const failure = 'cannot reach the server: <script>alert("pwned")</script> & more';

/** Three backups (one failed with a hostile message), a schedule, and a window with one gap between two ranges. */
function withGap(): Status {
  const backups = [
    backup('app-20261130-1000', '2026-11-30T10:00:00Z', { verification: 'passed', verified: true, verifiedAt: '2026-11-30T10:30:00Z' }),
    backup('app-20261130-0900', '2026-11-30T09:00:00Z', { phase: 'Failed', failure, durationSeconds: null, sizeBytes: 0, heldBytes: 2048 }),
    backup('app-20261130-0800', '2026-11-30T08:00:00Z'),
  ];
  return {
    group: 'shop',
    generatedAt: now.toISOString(),
    profiles: [
      profile('daily', backups, {
        verification: {
          newestVerified: { name: 'app-20261130-1000', verifiedAt: '2026-11-30T10:30:00Z' },
          last: { backup: 'app-20261130-1000', verifiedAt: '2026-11-30T10:30:00Z', result: 'passed' },
          schedule: { schedule: '0 4 * * *', timeZone: 'Etc/UTC', nextRun: '2026-12-01T04:00:00Z' },
        },
      }),
    ],
    schedules: [{ name: 'hourly', profileName: 'daily', schedule: '0 * * * *', timeZone: 'Etc/UTC', nextRun: '2026-11-30T13:00:00Z' }],
    pitr: {
      profile: 'daily',
      error: null,
      from: '2026-11-30T08:00:05Z',
      to: '2026-11-30T11:30:00Z',
      ranges: [
        { from: '2026-11-30T08:00:05Z', to: '2026-11-30T08:40:00Z', backups: ['app-20261130-0800'] },
        { from: '2026-11-30T10:00:05Z', to: '2026-11-30T11:30:00Z', backups: ['app-20261130-1000'] },
      ],
      gaps: [{ from: '2026-11-30T08:40:00Z', to: '2026-11-30T10:00:05Z', reason: 'transactions missing from the archive: domain 0, sequence numbers 31..40 <b>' }],
      reason: null,
      sites: ['here'],
      files: 7,
    },
  };
}

/** Every match of `pattern` in `page` (opening tags, mostly). */
function tags(page: string, pattern: RegExp): string[] {
  return page.match(new RegExp(pattern.source, 'g')) ?? [];
}

describe('escaping', () => {
  it('escapes text and attribute values, keeps what html made, and leaves out null', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${'"x"'}">${inner}${null}${['a', 1]}</p>`.text).toBe('<p title="&quot;x&quot;"><b>&lt;i&gt;</b>a1</p>');
  });
});

describe('renderStatusPage', () => {
  it('is a self-contained HTML5 document: no script, nothing external, a strict CSP', () => {
    const page = renderStatusPage(withGap(), { now });
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:`);
    expect(page).not.toMatch(/<script/i);
    // The one reference is the empty icon, inline, so that browsers ask for no /favicon.ico.
    expect(page.match(/\b(src|href)="[^"]*"/g)).toEqual(['href="data:,"']);
    expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    // A file written once has nothing to refresh; the daemon's page does.
    expect(page).not.toContain('http-equiv="refresh"');
    expect(renderStatusPage(withGap(), { now, refreshSeconds: 60 })).toContain('<meta http-equiv="refresh" content="60">');
  });

  it('escapes a failure message and a gap reason wherever they are shown', () => {
    const page = renderStatusPage(withGap(), { now });
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('sequence numbers 31..40 <b>');
    // In the table, the last-failure line and the point's tooltip.
    expect(page.split('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; more').length - 1).toBe(3);
    expect(page).toContain('sequence numbers 31..40 &lt;b&gt;');
  });

  it('shows each backup as a table row with its phase, and the last failure with its reason', () => {
    const page = renderStatusPage(withGap(), { now });
    const rows = tags(page, /<tr data-backup="[^"]*" data-phase="[^"]*">/);
    expect(rows).toEqual([
      '<tr data-backup="app-20261130-1000" data-phase="Succeeded">',
      '<tr data-backup="app-20261130-0900" data-phase="Failed">',
      '<tr data-backup="app-20261130-0800" data-phase="Succeeded">',
    ]);
    expect(page).toMatch(/<dd class="last-failure">app-20261130-0900 <span class="muted">\(3h00m ago\)<\/span><div class="reason">cannot reach the server: &lt;script&gt;/);
    expect(page).toContain('2.05 kB left');
    expect(page).toContain('<span class="storage">PVC /var/backups/daily</span>');
    // The points: a diamond for the failed one, a ring for the verified one.
    expect(page).toMatch(/<g class="backup failed" data-backup="app-20261130-0900">/);
    expect(page).toMatch(/<g class="backup succeeded" data-backup="app-20261130-1000"><title>[^<]*verified<\/title><circle class="ring passed"/);
  });

  it('marks the gap in the SVG (with its reason as a tooltip) and lists ranges and gaps as text', () => {
    const page = renderStatusPage(withGap(), { now });
    const marks = tags(page, /<rect class="gap" [^>]*>/);
    expect(marks).toHaveLength(1);
    const width = Number(/width="([\d.]+)"/.exec(marks[0]!)![1]);
    // 80 minutes of a span of about 4 hours on some 980 pixels.
    expect(width).toBeGreaterThan(250);
    expect(page).toContain('<title>GAP from 2026-11-30T08:40:00Z to 2026-11-30T10:00:05Z: transactions missing from the archive');
    expect(tags(page, /<rect class="range" /)).toHaveLength(2);
    expect(page).toMatch(/<li class="gap-text" data-gap="0"><strong>Gap 1<\/strong> from <time datetime="2026-11-30T08:40:00Z">2026-11-30 08:40:00 UTC<\/time> to <time[^>]*>2026-11-30 10:00:05 UTC<\/time>: <span class="reason">transactions missing/);
    expect(tags(page, /<li class="range-text"/)).toHaveLength(2);
    expect(page).toContain('with 1 gap</strong>');
  });

  it('shows restorable times to the millisecond when they have one (a time cut to the second may be refused)', () => {
    const status = withGap();
    status.pitr = { ...status.pitr!, from: '2026-11-30T08:00:05.225Z', ranges: [{ ...status.pitr!.ranges[0]!, from: '2026-11-30T08:00:05.225Z' }, status.pitr!.ranges[1]!] };
    const page = renderStatusPage(status, { now });
    expect(page).toContain('Restorable from <time datetime="2026-11-30T08:00:05.225Z">2026-11-30 08:00:05.225 UTC</time>');
    expect(page).toMatch(/<li class="range-text" data-range="0"><time datetime="2026-11-30T08:00:05.225Z">2026-11-30 08:00:05.225 UTC<\/time>/);
    // Whole seconds stay as they were.
    expect(page).toContain('<time datetime="2026-11-30T11:30:00Z">2026-11-30 11:30:00 UTC</time>');
  });

  it('draws a gap open to the end up to now', () => {
    const status = withGap();
    status.pitr!.gaps = [{ from: '2026-11-30T11:30:00Z', to: null, reason: 'the archive goes on past a hole' }];
    const page = renderStatusPage(status, { now });
    const mark = tags(page, /<rect class="gap" [^>]*>/)[0]!;
    const x = Number(/ x="([\d.]+)"/.exec(mark)![1]);
    const width = Number(/width="([\d.]+)"/.exec(mark)![1]);
    const nowX = Number(/<g class="now"><line x1="([\d.]+)"/.exec(page)![1]);
    expect(x + width).toBeCloseTo(nowX, 0);
    expect(width).toBeGreaterThan(50);
    expect(page).toMatch(/<strong>Gap 1<\/strong> after <time[^>]*>2026-11-30 11:30:00 UTC<\/time> \(up to now\): <span class="reason">the archive goes on past a hole/);
  });

  it('without PITR: backups as points only, and says PITR is not configured', () => {
    const status = withGap();
    status.pitr = null;
    const page = renderStatusPage(status, { now });
    expect(page).toContain('id="pitr-not-configured"');
    expect(page).toContain('Point-in-time recovery is not configured');
    expect(page).not.toMatch(/<rect class="(range|gap)"/);
    expect(tags(page, /<g class="backup [a-z]+" data-backup=/)).toHaveLength(3);
  });

  it('an empty catalog and no schedules: said in words, the timeline still drawn around now', () => {
    const status: Status = { group: null, generatedAt: now.toISOString(), profiles: [profile('empty', [])], schedules: [], pitr: null };
    const page = renderStatusPage(status, { now });
    expect(page).toContain('<p class="empty">No backups yet.</p>');
    expect(page).toContain('no backups yet</text>');
    expect(page).toContain('No schedules');
    expect(page).toMatch(/<g class="now"><line x1="[\d.]+"/);
    expect(page).toContain('<h1>bloodraven status</h1>');
    expect(page).not.toContain('NaN');
  });

  it('a single backup (one snapshot, no archive yet): a point and a narrow range, no NaN', () => {
    const status = withGap();
    status.profiles[0]!.backups = [backup('only', '2026-11-30T12:00:00Z')];
    status.pitr = { ...status.pitr!, from: '2026-11-30T12:00:00Z', to: '2026-11-30T12:00:00Z', ranges: [{ from: '2026-11-30T12:00:00Z', to: '2026-11-30T12:00:00Z', backups: ['only'] }], gaps: [] };
    const page = renderStatusPage(status, { now });
    expect(page).not.toContain('NaN');
    expect(tags(page, /<rect class="range" [^>]*width="4"/)).toHaveLength(1);
    expect(page).toContain('the snapshot of backup only');
    expect(page).toContain('id="no-gaps"');
  });

  it('shows an unreadable profile with its reason and hint, never its settings', () => {
    const status = withGap();
    status.profiles.push(profile('s3', [], { storageType: 'S3', location: null, error: 'bucket <nope> does not exist', errorHint: 'create it' }));
    const page = renderStatusPage(status, { now });
    expect(page).toContain('<section class="profile" id="profile-s3" data-profile="s3">');
    expect(page).toMatch(/Cannot read its storage:<\/strong> bucket &lt;nope&gt; does not exist<div class="hint">hint: create it/);
    expect(page).toContain('1 part could not be read');
  });

  it('lists the next backup and verification runs, with "in …"', () => {
    const page = renderStatusPage(withGap(), { now });
    expect(page).toMatch(/<tr data-schedule="hourly" data-kind="backup">.*<td class="next-run"><time datetime="2026-11-30T13:00:00Z">2026-11-30 13:00:00 UTC<\/time><\/td><td>in 1h00m<\/td>/);
    expect(page).toMatch(/<tr data-schedule="verify daily" data-kind="verification">.*in 16h00m/);
    expect(page).toMatch(/<dd class="next-verification"><time datetime="2026-12-01T04:00:00Z">/);
  });
});
