/**
 * The status page as a person sees it, in a real browser (Debian's chromium, driven by
 * playwright-core), from real data: a MariaDB server, backups taken and verified by the built CLI,
 * binlogs archived by `pitr archive --once`, and a gap in the window made the way it happens in
 * life (a binlog purged before it was archived, so the next backup holds transactions the archive
 * lacks). The page is checked twice: written by `status --html` (file://) and served by the
 * daemon at / (http://): the backups' rows, the gap drawn and explained, the next scheduled run,
 * no console errors, and no request but the page itself. Also: a page written with a profile
 * unreadable (exit 1, the reason on the page), errors naming --html, and / answering 500 when the
 * page cannot be made. A full-page screenshot is left in test-artifacts/status-page.png.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/daemon/http.js';
import type { Status } from '../../src/lib/status/describe-status.js';
import { runCli as cli, cliBin } from '../support/cli.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';

const chromiumPath = '/usr/bin/chromium';
const artifacts = join(import.meta.dirname, '..', '..', 'test-artifacts');

let source: TestServer;
let work: string;
let cwd: string;
let browser: Browser;
/** What `status --json` said right after the page was written: the truth the page must show. */
let status: Status;

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function ok(args: string[]): Promise<string> {
  const r = await cli(args, cwd);
  if (r.code !== 0) throw new Error(`bloodraven ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function insert(from: number, to: number): Promise<void> {
  await sql(source, `INSERT INTO shop.orders SELECT seq, CONCAT('order ', seq) FROM shop.seq_${from}_to_${to}`);
}

/** PURGE BINARY LOGS TO `file`, again until it took: a file InnoDB's binlog checkpoint still needs is kept for a moment. */
async function purgeBinlogsBefore(file: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await sql(source, `PURGE BINARY LOGS TO '${file}'`);
    const [oldest] = (await sql(source, 'SHOW BINARY LOGS')) as Array<{ Log_name: string }>;
    if (oldest?.Log_name === file) return;
    await pause(200);
  }
  throw new Error(`the binlogs before ${file} could not be purged`);
}

beforeAll(async () => {
  // Not a skip: CI must have the browser (scripts/install-system-deps.sh installs it).
  if (!existsSync(chromiumPath)) throw new Error(`Chromium is not installed at ${chromiumPath}: run scripts/install-system-deps.sh (or apt-get install chromium)`);
  work = await mkdtemp(join(tmpdir(), 'bloodraven-status-page-'));
  cwd = work;
  source = await startTestServer();
  await sql(source, 'CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(50))');
  await insert(1, 100);
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${source.port}, user: root }
backup:
  profiles:
    - name: nightly
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, includeSchemas: [shop] }
      verification: { schedule: "30 4 * * 0" }
  schedules: [ { name: nightly, profileName: nightly, schedule: "15 3 * * *" } ]
  pitr: { enabled: true, profileName: nightly, site: db1, source: { type: local } }
`,
  );
  // The first backup, and the binlogs after it archived: a restorable range.
  await ok(['backup', 'now']);
  await pause(1500);
  await insert(101, 200);
  await sql(source, 'FLUSH BINARY LOGS');
  await ok(['pitr', 'archive', '--once']);
  // Transactions whose binlog is purged before the archiver saw it: a hole the next backup proves.
  await pause(3000);
  await insert(201, 300);
  await sql(source, 'FLUSH BINARY LOGS');
  const [current] = (await sql(source, 'SHOW MASTER STATUS')) as Array<{ File: string }>;
  await purgeBinlogsBefore(current!.File);
  await pause(3000);
  await ok(['backup', 'now']);
  await pause(1500);
  await insert(301, 400);
  await sql(source, 'FLUSH BINARY LOGS');
  await ok(['pitr', 'archive', '--once']);
  await ok(['verify']);
  // A backup that fails: the server cannot be reached on this port.
  const failed = await cli(['backup', 'now', '--port', '1'], cwd);
  if (failed.code !== 1) throw new Error(`backup now --port 1 should have failed with exit 1, not ${failed.code}: ${failed.stderr}`);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await source?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface Visit {
  page: Page;
  problems: string[];
  requests: string[];
}

/** Opens `url` at 1280 px wide, recording console errors, page errors and every request made. */
async function visit(url: string): Promise<Visit> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (r) => requests.push(r.url()));
  const response = await page.goto(url, { waitUntil: 'load' });
  if (url.startsWith('http')) expect(response?.status()).toBe(200);
  return { page, problems, requests };
}

/** What a person must see on the page, whoever made it. */
async function expectPageShowsStatus({ page, problems, requests }: Visit, url: string): Promise<void> {
  const [profile] = status.profiles;
  const backups = profile!.backups;
  expect(backups.map((b) => b.phase)).toEqual(['Failed', 'Succeeded', 'Succeeded']);

  // One row per backup, newest first, each showing its phase.
  const rows = page.locator('section.profile[data-profile="nightly"] tr[data-backup]');
  await expect.poll(() => rows.count()).toBe(backups.length);
  for (const [i, b] of backups.entries()) {
    const row = rows.nth(i);
    expect(await row.getAttribute('data-backup')).toBe(b.name);
    expect(await row.locator('.phase').innerText()).toBe(b.phase);
    expect(await row.locator('.phase').isVisible()).toBe(true);
  }
  // Phases look different: the failed badge is not the colour of a succeeded one.
  // Runs in the page; this project's types have no DOM, so the browser's global is described here.
  const colour = (phase: string): Promise<string> =>
    page
      .locator(`tr[data-phase="${phase}"] .phase`)
      .first()
      .evaluate((e) => (globalThis as unknown as { getComputedStyle(el: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor);
  expect(await colour('Failed')).not.toBe(await colour('Succeeded'));
  // The failure's reason, and the verified backup.
  await expect.poll(() => page.locator('dd.last-failure .reason').innerText()).toMatch(/cannot reach the MySQL server at 127\.0\.0\.1:1/);
  expect(await page.locator(`tr[data-backup="${backups[1]!.name}"] .verified`).innerText()).toBe('yes');
  // Every backup is a point on the timeline.
  expect(await page.locator('svg.timeline g.backup').count()).toBe(backups.length);

  // The gap: drawn (visible, with a width) and explained in words.
  const gaps = status.pitr!.gaps;
  expect(gaps).toHaveLength(1);
  const mark = page.locator('svg.timeline rect.gap');
  expect(await mark.count()).toBe(1);
  expect(await mark.isVisible()).toBe(true);
  const box = await mark.boundingBox();
  expect(box!.width).toBeGreaterThan(5);
  expect(await mark.locator('title').textContent()).toContain(gaps[0]!.reason);
  const gapText = page.locator('#gaps li.gap-text');
  expect(await gapText.isVisible()).toBe(true);
  expect(await gapText.innerText()).toContain(gaps[0]!.reason);
  expect(gaps[0]!.reason).toMatch(/transactions missing from the archive/);
  // The gap lies between the two ranges of bars, as the window says.
  const bars = page.locator('svg.timeline rect.range');
  expect(await bars.count()).toBe(status.pitr!.ranges.length);
  const first = (await bars.nth(0).boundingBox())!;
  const last = (await bars.nth(status.pitr!.ranges.length - 1).boundingBox())!;
  expect(first.x).toBeLessThan(box!.x + 1);
  expect(last.x + last.width).toBeGreaterThan(box!.x + box!.width - 1);

  // The next scheduled backup, and the next verification.
  const next = page.locator('tr[data-schedule="nightly"] td.next-run time');
  expect(await next.isVisible()).toBe(true);
  expect(await next.getAttribute('datetime')).toBe(status.schedules[0]!.nextRun);
  expect(await next.innerText()).toMatch(/^\d{4}-\d\d-\d\d 03:15:00 UTC$/);
  expect(await page.locator('dd.next-verification time').getAttribute('datetime')).toBe(profile!.verification.schedule!.nextRun);

  expect(problems).toEqual([]);
  expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);
}

describe('the status page in a browser', () => {
  it('status --html writes a page that shows the backups, the gap and the next run (file://)', async () => {
    const file = join(work, 'www', 'status.html');
    await mkdir(join(work, 'www'));
    const r = await cli(['status', '--html', file], cwd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The text is still printed.
    expect(r.stdout).toMatch(/^Group shop/);
    expect(r.stdout).toContain('GAP from');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    status = JSON.parse(await ok(['status', '--json'])) as Status;

    const url = pathToFileURL(file).href;
    const visit1 = await visit(url);
    await expectPageShowsStatus(visit1, url);
    await mkdir(artifacts, { recursive: true });
    await visit1.page.screenshot({ path: join(artifacts, 'status-page.png'), fullPage: true });
    await visit1.page.close();
  });

  it('status --html names the flag when the folder is missing, and still prints the status', async () => {
    const r = await cli(['status', '--html', join(work, 'no-such-folder', 'status.html')], cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--html: cannot write ${join(work, 'no-such-folder', 'status.html')}: its folder ${join(work, 'no-such-folder')} does not exist`);
    expect(r.stdout).toMatch(/^Group shop/);
  });

  it('the daemon serves the same page at / (http://), read-only and not cached', async () => {
    const child = spawn(process.execPath, [cliBin, 'daemon', '--listen', '127.0.0.1:0'], { cwd });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      for (let i = 0; i < 150 && !/daemon started/.test(stderr); i++) await pause(100);
      const address = /serving the status page at \/.* address=(\S+)/.exec(stderr)?.[1];
      expect(address, stderr).toBeDefined();
      const url = `http://${address}/`;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toContain('<meta http-equiv="refresh" content="60">');
      expect((await fetch(url, { method: 'POST' })).status).toBe(405);
      expect(await (await fetch(`http://${address}/nope`)).text()).toBe('not found: try /, /metrics, /healthz, /archiver/status\n');

      const daemonVisit = await visit(url);
      await expectPageShowsStatus(daemonVisit, url);
      await daemonVisit.page.close();
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('status --html with a profile it cannot read: the page is written, showing why, and the exit code stays 1', async () => {
    const other = await mkdtemp(join(work, 'unreadable-'));
    // The same backups, and a second profile whose folder does not exist; no point-in-time recovery here.
    await writeFile(
      join(other, 'bloodraven.yaml'),
      `name: shop
mysql: { host: 127.0.0.1, port: ${source.port}, user: root }
backup:
  profiles:
    - { name: nightly, storage: { type: PVC, pvc: { path: ${join(cwd, 'backups')} } } }
    - { name: offsite, storage: { type: PVC, pvc: { path: ./no-such-folder } } }
`,
    );
    const file = join(other, 'status.html');
    const r = await cli(['status', '--html', file], other);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/status is incomplete/);
    const url = pathToFileURL(file).href;
    const { page, problems, requests } = await visit(url);
    const error = page.locator('section[data-profile="offsite"] .error');
    expect(await error.isVisible()).toBe(true);
    expect(await error.innerText()).toMatch(/Cannot read its storage:.*no-such-folder/s);
    // The readable profile is there as usual; without backup.pitr, backups are points and the page says why.
    expect(await page.locator('section[data-profile="nightly"] tr[data-backup]').count()).toBe(3);
    expect(await page.locator('#pitr-not-configured').isVisible()).toBe(true);
    expect(await page.locator('svg.timeline g.backup').count()).toBe(3);
    expect(await page.locator('svg.timeline rect.range, svg.timeline rect.gap').count()).toBe(0);
    expect(await page.locator('header .bad').innerText()).toBe('1 part could not be read');
    expect(problems).toEqual([]);
    expect(requests.filter((u) => u !== url && !u.startsWith('data:'))).toEqual([]);
    await page.close();
  });

  it('/ answers 500 with the reason when the page cannot be made, and is not offered without a page', async () => {
    const failing = await startHttpServer('127.0.0.1:0', {
      metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
      health: () => ({ status: 'ok' }),
      statusPage: () => Promise.reject(new Error('bucket <b> unreachable')),
    });
    const plain = await startHttpServer('127.0.0.1:0', { metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }), health: () => ({ status: 'ok' }) });
    try {
      const res = await fetch(`http://${failing.address}/`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await res.text()).toBe('cannot show the status page: bucket <b> unreachable\n');
      const none = await fetch(`http://${plain.address}/`);
      expect(none.status).toBe(404);
      expect(await none.text()).toBe('not found: try /metrics, /healthz\n');
    } finally {
      await Promise.all([failing.close(), plain.close()]);
    }
  });

  it('with --json too: the JSON printed, the page replaced whole, no temporary file left', async () => {
    const file = join(work, 'www', 'status.html');
    const before = await readFile(file, 'utf8');
    expect(before).toContain('<!DOCTYPE html>');
    const again = await cli(['status', '--html', file, '--json'], cwd);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ group: 'shop' });
    const after = await readFile(file, 'utf8');
    expect(after).toMatch(/^<!DOCTYPE html>[\s\S]*<\/html>\n$/);
    expect(after).not.toBe(before);
    expect(await readdir(join(work, 'www'))).toEqual(['status.html']);
  });
});
