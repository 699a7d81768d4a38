/**
 * S3 outages ridden through, as a user meets them: `bloodraven backup now` (the built CLI) on an
 * S3 profile whose server (s3rver) stops in the middle of the dump and comes back on the same
 * port over the same folder. Within storage.s3.retryTimeout the backup waits and succeeds, and a
 * restore of it is the source's data; past it the backup fails naming the storage error, and its
 * record says Failed.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { runCli as cli } from '../support/cli.js';
import { checksumTable, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';

let source: TestServer;
let target: TestServer;
let s3: S3TestServer;
let work: string;

/** A config folder whose profile `p` stores under s3://backups/<prefix>, for `server`. */
async function configFor(server: TestServer, prefix: string, retryTimeout?: string): Promise<string> {
  const dir = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(dir, 'empty'), '');
  await mkdir(join(dir, 'aws'));
  await writeFile(join(dir, 'aws', 'AWS_ACCESS_KEY_ID'), s3rverCredentials.accessKeyId);
  await writeFile(join(dir, 'aws', 'AWS_SECRET_ACCESS_KEY'), s3rverCredentials.secretAccessKey);
  const retry = retryTimeout === undefined ? '' : `, retryTimeout: ${retryTimeout}`;
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root, passwordFile: ./empty }
backup:
  profiles:
    - name: p
      storage: { type: S3, s3: { bucket: backups, prefix: ${prefix}, endpointURL: "${s3.endpoint}", credentialsDir: ./aws, partSize: 5242880${retry} } }
      dump: { threads: 2, bytesPerChunk: 16M, compression: none, includeSchemas: [shop] }
`,
  );
  return dir;
}

/** s3rver's multipart uploads in progress (or left behind by an earlier test's failed run). */
async function uploadsInProgress(): Promise<string[]> {
  return readdir(join(s3.directory, 'backups', '._S3rver_uploads')).catch(() => []);
}

/** Whether s3rver holds a data file of a backup under `prefix`, or an upload begun since `earlier` was listed. */
async function storing(prefix: string, earlier: ReadonlySet<string>): Promise<boolean> {
  const uploads = await uploadsInProgress();
  if (uploads.some((u) => !earlier.has(u))) return true;
  const folders = await readdir(join(s3.directory, 'backups', prefix)).catch(() => []);
  for (const folder of folders) {
    const files = await readdir(join(s3.directory, 'backups', prefix, folder)).catch(() => []);
    if (files.some((f) => f.includes('.tsv'))) return true;
  }
  return false;
}

/** Whether any backup under `prefix` has its @.done.json. */
async function anyDone(prefix: string): Promise<boolean> {
  const folders = await readdir(join(s3.directory, 'backups', prefix)).catch(() => []);
  for (const folder of folders) {
    const files = await readdir(join(s3.directory, 'backups', prefix, folder)).catch(() => []);
    if (files.some((f) => f.startsWith('@.done.json'))) return true;
  }
  return false;
}

/** The stored record of the only backup under `prefix`, read through the S3 API (the server is up). */
async function storedRecord(cfg: string, prefix: string): Promise<BackupRecord> {
  const r = await cli(['backup', 'list', '--json'], cfg);
  expect(r.code, r.stderr).toBe(0);
  const [entry] = JSON.parse(r.stdout) as Array<{ name: string }>;
  expect(entry).toBeDefined();
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3rverCredentials });
  const out = await client.send(new GetObjectCommand({ Bucket: 'backups', Key: `${prefix}/${entry!.name}/bloodraven.json` }));
  return JSON.parse(await out.Body!.transformToString()) as BackupRecord;
}

/**
 * Starts `backup now` and halts S3 once the dump is storing data; `onHalted` ends the outage,
 * seeing the run's stderr so far. Returns the run's result and when S3 went down.
 */
async function backupWithOutage(
  cfg: string,
  prefix: string,
  onHalted: (stderr: () => string, exited: Promise<unknown>) => Promise<void>,
): Promise<{ result: Awaited<ReturnType<typeof cli>>; haltedAt: number; doneBeforeHalt: boolean }> {
  let haltedAt = 0;
  let doneBeforeHalt = false;
  let watching = true;
  let stderr = '';
  // An earlier test's failed run may have left its upload behind: only this run's count.
  const earlier = new Set(await uploadsInProgress());
  const run = cli(['backup', 'now'], cfg, (text) => (stderr = text));
  const watcher = (async () => {
    while (watching && !(await storing(prefix, earlier))) await sleep(20);
    if (!watching) return;
    doneBeforeHalt = await anyDone(prefix);
    await s3.halt();
    haltedAt = Date.now();
    await onHalted(() => stderr, run);
  })();
  const result = await run;
  watching = false;
  await watcher;
  return { result, haltedAt, doneBeforeHalt };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-s3-outage-'));
  [source, target, s3] = await Promise.all([startTestServer(), startTestServer(), startS3Server({ buckets: ['backups'] })]);
  // About 80 MB of rows that do not compress: the dump is still storing for a while after it starts.
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, payload VARCHAR(600));
     INSERT INTO items SELECT seq, CONCAT(SHA2(seq, 512), SHA2(seq + 1, 512), SHA2(seq + 2, 512), SHA2(seq + 3, 512)) FROM seq_1_to_150000;
     ANALYZE TABLE items;`,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('an S3 outage during backup now', () => {
  it('of 10 s, within the retry budget (default 2m): the backup waits, succeeds, and restores to the same data', async () => {
    const cfg = await configFor(source, 'shop-outage');
    let revivedAt = 0;
    const { result, haltedAt, doneBeforeHalt } = await backupWithOutage(cfg, 'shop-outage', async () => {
      await sleep(10_000);
      await s3.revive();
      revivedAt = Date.now();
    });
    expect(haltedAt).toBeGreaterThan(0);
    // The outage hit the dump while it was storing, not after it had finished.
    expect(doneBeforeHalt).toBe(false);
    expect(revivedAt).toBeGreaterThan(haltedAt);
    expect(result.stderr).toMatch(/S3 \S+( \d+)? failed, retrying/);
    expect(result.stderr).toMatch(/ECONNREFUSED|ECONNRESET|connection refused|socket hang up/i);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
    expect(await anyDone('shop-outage')).toBe(true);

    // Restored into another server, it is the source's data.
    const to = await configFor(target, 'shop-outage');
    const restored = await cli(['restore', 'bootstrap', '--backup', 'latest', '--json'], to);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await checksumTable(target, 'shop.items')).toBe(await checksumTable(source, 'shop.items'));
    const [count] = (await sql(target, 'SELECT COUNT(*) AS n FROM shop.items')) as Array<{ n: number }>;
    expect(Number(count!.n)).toBe(150_000);
  }, 300_000);

  it('beyond the budget (retryTimeout 3s): fails naming the storage error, and the record says Failed', async () => {
    const cfg = await configFor(source, 'shop-outage-fail', '3s');
    const { result, haltedAt } = await backupWithOutage(cfg, 'shop-outage-fail', async (stderr) => {
      // Down for longer than the budget: every call of the dump in flight gives up. S3 comes back
      // while the run retries writing its Failed record, which must then be written.
      const recordRetries = (): number => stderr().match(/S3 PutObject failed, retrying object=\S+\/bloodraven\.json/g)?.length ?? 0;
      await sleep(4_000);
      const before = recordRetries();
      const started = Date.now();
      while (recordRetries() === before && Date.now() - started < 60_000) await sleep(50);
      await s3.revive();
    });
    expect(haltedAt).toBeGreaterThan(0);
    expect(result.code).toBe(1);
    // The final message (the error line, not only the warnings before it) names the storage error.
    const final = result.stderr.split('\n').filter((l) => /^\W*error\b/i.test(l)).join('\n');
    expect(final).toMatch(/cannot reach the S3 endpoint .*127\.0\.0\.1/);
    expect(final).not.toMatch(/^\s*(Error: )?The operation was aborted\.?\s*$/m);
    expect(result.stderr).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);

    const record = await storedRecord(cfg, 'shop-outage-fail');
    expect(record.phase).toBe('Failed');
    expect(record.failure?.message).toMatch(/cannot reach the S3 endpoint/);
    const listed = await cli(['backup', 'list', '--json'], cfg);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ phase: 'Failed' }]);
  }, 300_000);

  it('down until the run has ended (retryTimeout 2s): the record cannot be written, and the catalog still says Failed', async () => {
    const cfg = await configFor(source, 'shop-outage-gone', '2s');
    const { result } = await backupWithOutage(cfg, 'shop-outage-gone', async (_stderr, exited) => {
      // S3 comes back only after the run has given up and exited.
      await exited;
      await s3.revive();
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/could not record the failure in storage/);
    const final = result.stderr.split('\n').filter((l) => /^\W*error\b/i.test(l) && !/could not record/.test(l)).join('\n');
    expect(final).toMatch(/cannot reach the S3 endpoint .*connection refused/);
    // What the storage holds says Running (the last write that got through); what every reader is told is Failed.
    const listed = await cli(['backup', 'list', '--json'], cfg);
    expect(listed.code, listed.stderr).toBe(0);
    const [entry] = JSON.parse(listed.stdout) as Array<{ phase: string; failureReason: string | null }>;
    expect(entry?.phase).toBe('Failed');
    expect(entry?.failureReason).toMatch(/its process \(pid \d+\) is gone/);
    expect((await storedRecord(cfg, 'shop-outage-gone')).phase).toBe('Running');
  }, 300_000);
});
