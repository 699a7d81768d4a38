/**
 * The catalog kept in storage, `backup list`, `prune` and `status`, against real backups in a
 * folder and in S3 (s3rver).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { listBackups, resolveBackup } from '../../src/lib/catalog/catalog.js';
import { serializeRecord, type BackupRecord } from '../../src/lib/catalog/record.js';
import { fixedClock } from '../../src/lib/clock.js';
import type { DumpOptions } from '../../src/lib/dump/options.js';
import { silentLogger } from '../../src/lib/log.js';
import { createMysqlConnector } from '../../src/lib/mysql/connection.js';
import { freePort } from '../../src/lib/mysql/sandbox.js';
import { applyPrune, deleteBackup, planPrune } from '../../src/lib/retention/prune.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { createS3Store } from '../../src/lib/storage/s3-store.js';
import type { Status } from '../../src/lib/status/describe-status.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';
import { runCli as cli } from '../support/cli.js';
import { expectAppError } from '../support/expect-error.js';
import { PreconditionError } from '../../src/lib/errors.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { sandboxScratch } from '../../src/lib/verify/scratch.js';
import { verifyBackup } from '../../src/lib/verify/verify-backup.js';

const dump: DumpOptions = { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['shop'], excludeSchemas: [], lockWaitTimeoutSeconds: 10 };

let server: TestServer;
let s3: S3TestServer;
let work: string;

/** A backup at `at` (ISO time): a good one, or a failed one (server unreachable). */
async function backupAt(store: ObjectStore, at: string, ok = true): Promise<string> {
  const connector = ok ? rootConnector(server) : createMysqlConnector({ host: '127.0.0.1', port: await freePort(), user: 'root', connectTimeoutMs: 500 });
  try {
    const r = await runBackup({ connector, store, logger: silentLogger, clock: fixedClock(new Date(at)) }, { group: 'shop', profile: 'p', dump, toolVersion: 'test' }, { signal: new AbortController().signal });
    return r.name;
  } catch (err) {
    return (err as { record?: BackupRecord }).record!.name;
  }
}

async function configIn(storage: string, extra = ''): Promise<string> {
  const cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: shop\nmysql: { host: 127.0.0.1, port: ${server.port}, user: root }\nbackup:\n  profiles:\n    - name: p\n      storage: ${storage}\n      retentionPolicy: { count: 2, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 1, minKeepVerified: 0 }\n${extra}`,
  );
  return cwd;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-catalog-'));
  [server, s3] = await Promise.all([startTestServer(), startS3Server({ buckets: ['bk'] })]);
  await sql(server, 'CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t SELECT seq FROM shop.seq_1_to_100');
});

afterAll(async () => {
  await Promise.all([server?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the catalog', () => {
  it('tells what every attempt really is: a Running record whose run is gone, or a dump that never finished, is Failed', async () => {
    const root = join(work, 'phases');
    const store = createFsStore({ root });
    const good = await backupAt(store, '2026-03-01T00:00:00Z');
    const failed = await backupAt(store, '2026-03-02T00:00:00Z', false);
    // A Running record of a process of this machine that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const record = JSON.parse(await readFile(join(root, good, 'bloodraven.json'), 'utf8')) as BackupRecord;
    const running = (name: string, r: Partial<BackupRecord>): Promise<void> =>
      store.put(`${name}/bloodraven.json`, serializeRecord({ ...record, name, phase: 'Running', completedAt: null, ...r }));
    await running('shop-p-20260303-000000', { startedAt: '2026-03-03T00:00:00Z', runner: { hostname: hostname(), pid: dead } });
    // Running on another machine: heartbeat a day old, gone; heartbeat a minute old, alive.
    await running('shop-p-20260304-000000', { startedAt: '2026-03-04T00:00:00Z', runner: { hostname: 'elsewhere', pid: 1 }, heartbeatAt: '2026-03-04T00:09:00Z' });
    await running('shop-p-20260305-000000', { startedAt: '2026-03-05T00:00:00Z', runner: { hostname: 'elsewhere', pid: 1 }, heartbeatAt: '2026-03-05T00:09:00Z' });
    // A dump folder without a record or @.done.json.
    await store.put('shop-p-20260306-000000/@.json', '{}');

    const entries = await listBackups(store, { now: new Date('2026-03-05T00:10:00Z') });
    expect(entries.map((e) => [e.name, e.phase])).toEqual([
      ['shop-p-20260306-000000', 'Failed'],
      ['shop-p-20260305-000000', 'Running'],
      ['shop-p-20260304-000000', 'Failed'],
      ['shop-p-20260303-000000', 'Failed'],
      [failed, 'Failed'],
      [good, 'Succeeded'],
    ]);
    expect(entries[2]!.failure).toMatch(/no heartbeat since 2026-03-04T00:09:00/);
    expect(entries[3]!.failure).toMatch(new RegExp(`process \\(pid ${dead}\\) is gone`));
    expect(entries[4]!.failure).toMatch(/cannot reach the MySQL server/);
    expect((await resolveBackup(store, 'latest')).name).toBe(good);
  });
});

describe('backups of nothing', () => {
  it('a selection that matches no table is refused before anything is written (exit 2), naming the field', async () => {
    const root = join(work, 'nothing');
    const store = createFsStore({ root });
    const attempt = (selection: Partial<DumpOptions>): Promise<unknown> =>
      runBackup(
        { connector: rootConnector(server), store, logger: silentLogger, clock: fixedClock(new Date('2026-05-01T00:00:00Z')) },
        { group: 'shop', profile: 'p', dump: { ...dump, ...selection }, toolVersion: 'test', fieldName: (f) => `--${f === 'includeSchemas' ? 'include' : 'exclude'}-schema` },
        { signal: new AbortController().signal },
      );
    const typo = await expectAppError(attempt({ includeSchemas: ['nosuchdb'] }), 'CONFIG_INVALID');
    expect(typo.exitCode).toBe(2);
    expect(typo.message).toMatch(/--include-schema: "nosuchdb" matches no schema on .*; it has: shop/);
    await sql(server, 'CREATE DATABASE IF NOT EXISTS empty_one');
    const empty = await expectAppError(attempt({ includeSchemas: ['empty_one'] }), 'CONFIG_INVALID');
    expect(empty.message).toMatch(/--include-schema: the backup would hold schemas without a single table \(empty_one\)/);
    const everything = await expectAppError(attempt({ includeSchemas: [], excludeSchemas: ['shop', 'empty_one'] }), 'CONFIG_INVALID');
    expect(everything.message).toMatch(/--exclude-schema: the backup would hold no schema/);
    await sql(server, 'DROP DATABASE empty_one');
    expect(await listBackups(store)).toEqual([]);
  });

  it('an empty backup left by an older version is Failed: never latest, never counted by retention', async () => {
    const root = join(work, 'empty-left');
    const store = createFsStore({ root });
    const older = await backupAt(store, '2026-05-01T00:00:00Z');
    const newer = await backupAt(store, '2026-05-02T00:00:00Z');
    // Two "successful" backups of nothing, newer than the real ones (as the old version wrote them).
    const record = JSON.parse(await readFile(join(root, newer, 'bloodraven.json'), 'utf8')) as BackupRecord;
    for (const name of ['shop-p-20260503-000000', 'shop-p-20260504-000000']) {
      const startedAt = `${name.slice(7, 11)}-${name.slice(11, 13)}-${name.slice(13, 15)}T00:00:00Z`;
      await store.put(`${name}/bloodraven.json`, serializeRecord({ ...record, name, startedAt, tables: [], files: [] }));
      await store.put(`${name}/@.json`, '{}');
      await store.put(`${name}/@.done.json`, '{}');
    }
    const entries = await listBackups(store);
    expect(entries.filter((e) => e.phase === 'Failed').map((e) => e.failure)).toEqual(['it holds no table (its schema selection matched nothing)', 'it holds no table (its schema selection matched nothing)']);
    expect((await resolveBackup(store, 'latest')).name).toBe(newer);
    const plan = await planPrune(store, { count: 2, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 0, minKeepVerified: 0 }, new Date('2026-05-05T00:00:00Z'));
    expect(plan.decisions.filter((d) => d.action === 'keep').map((d) => d.name).sort()).toEqual([older, newer].sort());
  });
});

describe('resolving a backup by name', () => {
  it('refuses a failed backup with exit 3, saying it is incomplete, and offers only restorable ones', async () => {
    const store = createFsStore({ root: join(work, 'resolve') });
    const older = await backupAt(store, '2026-03-01T00:00:00Z');
    const good = await backupAt(store, '2026-03-02T00:00:00Z');
    // Never reached the server: a Failed record and no @.json.
    const failed = await backupAt(store, '2026-03-03T00:00:00Z', false);

    const refused = await expectAppError(resolveBackup(store, failed), 'BACKUP_NOT_RESTORABLE');
    expect(refused).toBeInstanceOf(PreconditionError);
    expect(refused.exitCode).toBe(3);
    expect(refused.message).toMatch(new RegExp(`^backup ${failed} exists but cannot be restored: it is Failed \\(cannot reach the MySQL server.*\\), incomplete: it has no @\\.done\\.json$`));
    expect(refused.hint).toBe(`restore a complete backup instead: the newest restorable backups are: ${good}, ${older}; or use --backup latest`);

    const missing = await expectAppError(resolveBackup(store, 'shop-p-20260309-000000'), 'BACKUP_NOT_FOUND');
    expect(missing.hint).toBe(`the newest restorable backups are: ${good}, ${older}; or use --backup latest`);
    expect(missing.hint).not.toContain(failed);

    const onlyFailed = createFsStore({ root: join(work, 'resolve-failed') });
    const lone = await backupAt(onlyFailed, '2026-03-04T00:00:00Z', false);
    const none = await expectAppError(resolveBackup(onlyFailed, 'shop-p-20260309-000000'), 'BACKUP_NOT_FOUND');
    expect(none.hint).toMatch(/is restorable yet; take one with `bloodraven backup now`$/);
    expect(none.hint).not.toContain(lone);
  });
});

describe('backup list', () => {
  it('prints the records newest first, as a table or as a JSON array', async () => {
    const cwd = await configIn('{ type: PVC, pvc: { path: ./backups } }');
    const store = createFsStore({ root: join(cwd, 'backups') });
    const a = await backupAt(store, '2026-04-01T00:00:00Z');
    const b = await backupAt(store, '2026-04-02T00:00:00Z', false);
    const json = await cli(['backup', 'list', '--json'], cwd);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as Array<{ name: string; phase: string; failureReason: string | null; verified: boolean }>;
    expect(list.map((x) => [x.name, x.phase, x.verified])).toEqual([
      [b, 'Failed', false],
      [a, 'Succeeded', false],
    ]);
    expect(list[0]!.failureReason).toMatch(/cannot reach/);
    const table = await cli(['backup', 'list'], cwd);
    expect(table.stdout).toMatch(new RegExp(`${b}\\s+Failed`));
    expect(table.stdout).toMatch(/NAME\s+PHASE\s+STARTED\s+DURATION\s+SIZE\s+VERIFIED/);
  });

  it('shows what a failed backup still holds: 0 B once its data is removed, the bytes a killed run left', async () => {
    const cwd = await configIn('{ type: PVC, pvc: { path: ./backups } }');
    const root = join(cwd, 'backups');
    const store = createFsStore({ root });
    const good = await backupAt(store, '2026-05-01T00:00:00Z');
    const unreachable = await backupAt(store, '2026-05-02T00:00:00Z', false);
    // A run killed with SIGKILL: its record says Running, its process is gone, a chunk is left.
    const killed = 'shop-p-20260503-000000';
    const record = JSON.parse(await readFile(join(root, good, 'bloodraven.json'), 'utf8')) as BackupRecord;
    await mkdir(join(root, killed));
    await writeFile(join(root, killed, 'bloodraven.json'), serializeRecord({ ...record, name: killed, phase: 'Running', startedAt: '2026-05-03T00:00:00.000Z', runner: { hostname: hostname(), pid: 2 ** 22 + 1 } }));
    await writeFile(join(root, killed, 'shop@t@0.tsv.zst'), Buffer.alloc(12_345));
    const list = JSON.parse((await cli(['backup', 'list', '--json'], cwd)).stdout) as Array<{ name: string; phase: string; heldBytes: number }>;
    expect(list.map((x) => [x.name, x.phase, x.heldBytes])).toEqual([
      [killed, 'Failed', 12_345],
      [unreachable, 'Failed', 0],
      [good, 'Succeeded', expect.any(Number) as unknown],
    ]);
    const table = (await cli(['backup', 'list'], cwd)).stdout;
    expect(table).toMatch(new RegExp(`${killed}\\s+Failed\\s.*\\s12.3 kB left\\s`));
    expect(table).toMatch(new RegExp(`${unreachable}\\s+Failed\\s.*\\s0 B left\\s`));
    // prune's plan and status show the same sizes.
    const plan = (await cli(['prune', '--dry-run'], cwd)).stdout;
    expect(plan).toMatch(new RegExp(`${killed}\\s+Failed\\s+12.3 kB left\\s`));
    const status = (await cli(['status'], cwd)).stdout;
    expect(status).toMatch(new RegExp(`Failed\\s+${killed}\\s+12.3 kB left\\s`));
    expect(status).toMatch(new RegExp(`Failed\\s+${unreachable}\\s+0 B left\\s`));
  });
});

describe('prune', () => {
  it('shows the plan and deletes only with --yes', async () => {
    const cwd = await configIn('{ type: PVC, pvc: { path: ./backups } }');
    const store = createFsStore({ root: join(cwd, 'backups') });
    const names = [];
    for (const [day, ok] of [
      ['01', true],
      ['02', false],
      ['03', true],
      ['04', false],
      ['05', true],
    ] as const)
      names.push(await backupAt(store, `2026-05-${day}T00:00:00Z`, ok));
    const dry = await cli(['prune'], cwd);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`delete\\s+${names[0]}\\s+Succeeded.*beyond the newest 2 successful \\(count\\)`));
    expect(dry.stdout).toMatch(new RegExp(`delete\\s+${names[1]}\\s+Failed.*maxFailedKeep`));
    expect(dry.stdout).toMatch(new RegExp(`keep\\s+${names[3]}\\s+Failed`));
    expect(dry.stdout).toContain('Nothing deleted: pass --yes to delete.');
    expect((await readdir(join(cwd, 'backups'))).sort()).toEqual([...names].sort());
    const explicit = await cli(['prune', '--dry-run'], cwd);
    expect(explicit.code).toBe(0);
    expect(explicit.stdout).toMatch(new RegExp(`delete\\s+${names[0]}\\s+Succeeded`));
    expect(explicit.stdout).toContain('Nothing deleted (--dry-run).');
    const both = await cli(['prune', '--dry-run', '--yes'], cwd);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--yes.*cannot also be provided when using --dry-run|--dry-run.*cannot also be provided when using --yes/);
    expect((await readdir(join(cwd, 'backups'))).sort()).toEqual([...names].sort());

    const done = await cli(['prune', '--yes', '--json'], cwd);
    expect(done.code).toBe(0);
    const out = JSON.parse(done.stdout) as { applied: boolean; deleted: string[] };
    expect(out.applied).toBe(true);
    expect(out.deleted.sort()).toEqual([names[0], names[1]].sort());
    expect((await readdir(join(cwd, 'backups'))).sort()).toEqual([names[2], names[3], names[4]].sort());
  });

  it('minKeepVerified keeps the newest verified backup that count would delete, but not one whose verification failed', async () => {
    const cwd = await configIn('{ type: PVC, pvc: { path: ./backups } }');
    const root = join(cwd, 'backups');
    await writeFile(join(cwd, 'bloodraven.yaml'), (await readFile(join(cwd, 'bloodraven.yaml'), 'utf8')).replace('minKeepVerified: 0', 'minKeepVerified: 1'));
    const store = createFsStore({ root });
    const proven = await backupAt(store, '2026-06-10T00:00:00Z');
    const tampered = await backupAt(store, '2026-06-11T00:00:00Z');
    const newer = [await backupAt(store, '2026-06-12T00:00:00Z'), await backupAt(store, '2026-06-13T00:00:00Z')];
    const verify = async (name: string): Promise<boolean> =>
      (
        await verifyBackup(
          { store, logger: silentLogger, clock: fixedClock(new Date('2026-06-14T00:00:00Z')), scratch: sandboxScratch(nodeProcessRunner) },
          await resolveBackup(store, name),
          { threads: 2 },
          { signal: new AbortController().signal },
        )
      ).ok;
    expect(await verify(proven)).toBe(true);
    // A damaged data file: its verification fails, so it is no verified backup.
    const victim = (await readdir(join(root, tampered))).find((f) => f.endsWith('.tsv.zst'))!;
    await writeFile(join(root, tampered, victim), 'garbage');
    expect(await verify(tampered)).toBe(false);

    const dry = await cli(['prune'], cwd);
    expect(dry.stdout).toMatch(new RegExp(`keep\\s+${proven}\\s+Succeeded.*among the newest 1 verified, always kept \\(minKeepVerified\\)`));
    const done = await cli(['prune', '--yes', '--json'], cwd);
    expect(done.code).toBe(0);
    expect((JSON.parse(done.stdout) as { deleted: string[] }).deleted).toEqual([tampered]);
    expect((await listBackups(store)).map((e) => [e.name, e.verification])).toEqual([
      [newer[1], null],
      [newer[0], null],
      [proven, 'passed'],
    ]);
  });

  it('never leaves a listed backup half deleted: a crash after the marker shows Deleting, and the next prune finishes', async () => {
    const root = join(work, 'crash');
    const inner = createFsStore({ root });
    const old = await backupAt(inner, '2026-06-01T00:00:00Z');
    await backupAt(inner, '2026-06-02T00:00:00Z');
    await backupAt(inner, '2026-06-03T00:00:00Z');
    let calls = 0;
    const crashing: ObjectStore = {
      ...inner,
      location: inner.location,
      type: inner.type,
      async deleteMany(keys, options) {
        // The first batch (@.done.json) goes through; the crash hits the data.
        if (++calls === 2) throw new Error('power cut');
        await inner.deleteMany(keys, options);
      },
    };
    const entry = (await listBackups(inner)).find((e) => e.name === old)!;
    await expect(deleteBackup(crashing, entry)).rejects.toThrow('power cut');
    const after = (await listBackups(inner)).find((e) => e.name === old)!;
    expect(after.phase).toBe('Deleting');
    expect(after.complete).toBe(false);
    const plan = await planPrune(inner, { count: 5, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 0 }, new Date());
    expect(plan.decisions.find((d) => d.name === old)).toMatchObject({ action: 'delete', reasons: ['an earlier prune began deleting it'] });
    const result = await applyPrune(inner, plan, { logger: silentLogger });
    expect(result.deleted).toEqual([old]);
    expect((await listBackups(inner)).map((e) => e.name)).not.toContain(old);
  });

  it('prunes S3 storage, counting objects already gone as deleted', async () => {
    const store = createS3Store({ bucket: 'bk', prefix: 'team', endpointURL: s3.endpoint, partSize: 5 * 1024 * 1024, credentials: s3rverCredentials });
    const a = await backupAt(store, '2026-07-01T00:00:00Z');
    await backupAt(store, '2026-07-02T00:00:00Z');
    await backupAt(store, '2026-07-03T00:00:00Z');
    // Someone deleted part of the oldest by hand already.
    const victims = (await store.list(`${a}/`)).filter((o) => o.key.endsWith('.tsv.zst')).map((o) => o.key);
    await store.deleteMany(victims);
    const plan = await planPrune(store, { count: 2, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 10, minKeepVerified: 0 }, new Date());
    const result = await applyPrune(store, plan, { logger: silentLogger });
    expect(result).toMatchObject({ deleted: [a], failed: [] });
    expect(await store.list(`${a}/`)).toEqual([]);
    expect((await listBackups(store)).length).toBe(2);
  });

  it('never follows a symlink out of a PVC profile root', async () => {
    const root = join(work, 'links');
    const outside = join(work, 'outside-data');
    await mkdir(join(outside, 'shop-p-20200101-000000'), { recursive: true });
    await writeFile(join(outside, 'shop-p-20200101-000000', 'precious'), 'keep me');
    const store = createFsStore({ root });
    await backupAt(store, '2026-08-01T00:00:00Z');
    await symlink(join(outside, 'shop-p-20200101-000000'), join(root, 'shop-p-20200101-000000'));
    await expect(deleteBackup(store, { name: '..', prefix: '../', record: null })).rejects.toMatchObject({ code: 'UNSAFE_KEY' });
    await expect(deleteBackup(store, { name: 'x', prefix: `${outside}/`, record: null })).rejects.toMatchObject({ code: 'UNSAFE_KEY' });
    const plan = await planPrune(store, { count: 1, maxAgeDays: 0, minKeep: 0, maxFailedKeep: 0, minKeepVerified: 0 }, new Date());
    await applyPrune(store, plan, { logger: silentLogger });
    await deleteBackup(store, { name: 'shop-p-20200101-000000', prefix: 'shop-p-20200101-000000/', record: null }).catch(() => undefined);
    expect(await readFile(join(outside, 'shop-p-20200101-000000', 'precious'), 'utf8')).toBe('keep me');
  });
});

describe('prune and incomplete multipart uploads (S3)', () => {
  // s3rver 3.7 has neither ListMultipartUploads nor AbortMultipartUpload; test/support/s3.ts
  // answers both from s3rver's own upload folders, which the real UploadPart requests below fill.
  const client = (): S3Client => new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3rverCredentials });

  /** Begins an upload of `key` (full key in bucket bk) and stores one part of it, as a dying write would leave it. */
  async function leaveUpload(key: string): Promise<string> {
    const c = client();
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'uploads-bk', Key: key }));
    await c.send(new UploadPartCommand({ Bucket: 'uploads-bk', Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 7) }));
    return UploadId!;
  }

  async function uploadsLeft(prefix: string): Promise<string[]> {
    const out = await client().send(new ListMultipartUploadsCommand({ Bucket: 'uploads-bk', Prefix: prefix }));
    return (out.Uploads ?? []).map((u) => u.Key!).sort();
  }

  /** A record of a backup in `phase` (Running: this process, heartbeat now). */
  async function recordIn(store: ObjectStore, name: string, phase: 'Running' | 'Failed'): Promise<void> {
    const now = new Date().toISOString();
    const record = { recordVersion: 1, name, group: 'shop', profile: 'p', phase, startedAt: now, heartbeatAt: now, runner: { hostname: hostname(), pid: process.pid }, tables: [], files: [], failure: phase === 'Failed' ? { code: 'S3_UNREACHABLE', message: 'cannot reach the S3 endpoint' } : undefined };
    await store.put(`${name}/bloodraven.json`, serializeRecord(record as unknown as BackupRecord));
  }

  it('aborts those of finished backups and old strays under the prefix, reports them, and leaves running backups\' and other prefixes\' alone', async () => {
    await s3.createBucket('uploads-bk');
    const store = createS3Store({ bucket: 'uploads-bk', prefix: 'up', endpointURL: s3.endpoint, partSize: 5 * 1024 * 1024, credentials: s3rverCredentials });
    const running = 'shop-p-20261101-000000';
    const failed = 'shop-p-20261102-000000';
    await recordIn(store, running, 'Running');
    await recordIn(store, failed, 'Failed');
    await leaveUpload(`up/${running}/shop@t@0.tsv.zst`);
    const failedUpload = await leaveUpload(`up/${failed}/shop@t@0.tsv.zst`);
    await leaveUpload('up/binlogs/east/mysql-bin.000007');
    // Another profile's prefix, a longer name starting the same: never this prune's.
    await leaveUpload('up-other/shop-p-20261102-000000/shop@t@0.tsv.zst');
    await leaveUpload('other/x.tsv');

    const cwd = await configIn(`{ type: S3, s3: { bucket: uploads-bk, prefix: up, endpointURL: "${s3.endpoint}", credentialsDir: ./aws } }`);
    await mkdir(join(cwd, 'aws'));
    await writeFile(join(cwd, 'aws', 'AWS_ACCESS_KEY_ID'), s3rverCredentials.accessKeyId);
    await writeFile(join(cwd, 'aws', 'AWS_SECRET_ACCESS_KEY'), s3rverCredentials.secretAccessKey);

    const dry = await cli(['prune', '--dry-run'], cwd);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Incomplete uploads under the profile's prefix \(3\)/);
    expect(dry.stdout).toMatch(new RegExp(`abort +${failed}/shop@t@0\\.tsv\\.zst .*backup ${failed} is Failed: its run has ended`));

    const r = await cli(['prune', '--yes', '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { plan: { uploads: Array<{ key: string; action: string; reason: string }>; uploadsError: string | null }; abortedUploads: string[] };
    expect(out.plan.uploadsError).toBeNull();
    const byKey = Object.fromEntries(out.plan.uploads.map((u) => [u.key, u]));
    expect(Object.keys(byKey).sort()).toEqual([`${failed}/shop@t@0.tsv.zst`, 'binlogs/east/mysql-bin.000007', `${running}/shop@t@0.tsv.zst`].sort());
    expect(byKey[`${running}/shop@t@0.tsv.zst`]).toMatchObject({ action: 'keep', reason: expect.stringMatching(/is running/) as unknown });
    // A stray upload no record vouches for is kept while it is young: a write may still be under way.
    expect(byKey['binlogs/east/mysql-bin.000007']).toMatchObject({ action: 'keep', reason: expect.stringMatching(/under 24 h/) as unknown });
    expect(out.abortedUploads).toEqual([`${failed}/shop@t@0.tsv.zst (upload ${failedUpload})`]);
    expect(await uploadsLeft('up/')).toEqual(['up/binlogs/east/mysql-bin.000007', `up/${running}/shop@t@0.tsv.zst`]);

    // Once old enough (here: any age), the stray goes too; the running backup's upload still stays.
    const plan = await planPrune(store, undefined, new Date(), { staleUploadAgeMs: 0 });
    expect(plan.uploads.find((u) => u.key.startsWith('binlogs/'))).toMatchObject({ action: 'abort', reason: expect.stringMatching(/no running backup owns it/) as unknown });
    const result = await applyPrune(store, plan, { logger: silentLogger });
    expect(result.abortedUploads).toHaveLength(1);
    expect(await uploadsLeft('up/')).toEqual([`up/${running}/shop@t@0.tsv.zst`]);
    expect(await uploadsLeft('up-other/')).toHaveLength(1);
    expect(await uploadsLeft('other/')).toHaveLength(1);
  });

  it('names a server that cannot list uploads (s3rver on its own: 501 NotImplemented), and prunes the rest', async () => {
    // s3rver as shipped, without test/support's gap filling.
    const S3rver = createRequire(import.meta.url)('s3rver') as new (o: Record<string, unknown>) => { run(): Promise<{ port: number }>; close(): Promise<void> };
    const directory = await mkdtemp(join(work, 'plain-s3rver-'));
    const plain = new S3rver({ silent: true, directory, address: '127.0.0.1', port: 0, configureBuckets: [{ name: 'bk' }] });
    const { port } = await plain.run();
    try {
      const store = createS3Store({ bucket: 'bk', prefix: 'up2', endpointURL: `http://127.0.0.1:${port}`, partSize: 5 * 1024 * 1024, credentials: s3rverCredentials });
      await recordIn(store, 'shop-p-20260801-000000', 'Failed');
      const plan = await planPrune(store, { count: 1, maxAgeDays: 0, minKeep: 1, maxFailedKeep: 0, minKeepVerified: 0 }, new Date());
      expect(plan.uploadsError).toMatch(/ListMultipartUploads .*(NotImplemented|501)/);
      expect(plan.uploads).toEqual([]);
      const result = await applyPrune(store, plan, { logger: silentLogger });
      expect(result).toMatchObject({ deleted: ['shop-p-20260801-000000'], failed: [], abortedUploads: [] });
    } finally {
      await plain.close();
    }
  });
});

describe('a PVC storage path that is missing or is a file', () => {
  it.each([
    { what: 'missing', prepare: (_path: string) => Promise.resolve(), says: 'the storage folder PATH does not exist', hint: 'creates the folder when it takes the first backup' },
    { what: 'a file', prepare: (path: string) => writeFile(path, 'x'), says: 'the storage path PATH is a file, not a folder', hint: 'at the folder that holds the backups' },
  ])('makes backup list, prune and status fail (exit 1) naming the path and its config field, not say "No backups", when it is $what', async ({ what, prepare, says, hint }) => {
    const cwd = await configIn('{ type: PVC, pvc: { path: ./nowhere } }');
    const path = join(cwd, 'nowhere');
    await prepare(path);
    for (const args of [['backup', 'list'], ['prune'], ['status'], ['backup', 'list', '--json']]) {
      const r = await cli(args, cwd);
      const command = args.join(' ');
      expect(r.code, command).toBe(1);
      expect(r.stdout, command).not.toMatch(/no backups/i);
      expect(r.stderr, command).toContain(says.replace('PATH', path));
      expect(r.stderr, command).toContain(`hint: ${hint.startsWith('at') ? 'point ' : 'check '}backup.profiles[0].storage.pvc.path`);
      expect(r.stderr, command).toContain(hint);
    }
    // Reading creates nothing.
    expect(existsSync(path)).toBe(what === 'a file');
  });

  it('status still shows every readable profile, then exits 1; with --json the whole document', async () => {
    const cwd = await mkdtemp(join(work, 'cfg-'));
    await writeFile(
      join(cwd, 'bloodraven.yaml'),
      `name: shop\nmysql: { host: 127.0.0.1, port: ${server.port}, user: root }\nbackup:\n  profiles:\n    - name: p\n      storage: { type: PVC, pvc: { path: ./backups } }\n    - name: typo\n      storage: { type: PVC, pvc: { path: ./backusp } }\n`,
    );
    const good = await backupAt(createFsStore({ root: join(cwd, 'backups') }), '2026-10-01T00:00:00Z');

    const json = await cli(['status', '--json'], cwd);
    expect(json.code).toBe(1);
    const status = JSON.parse(json.stdout) as Status;
    expect(status.profiles[0]).toMatchObject({ name: 'p', error: null, lastSuccess: { name: good } });
    expect(status.profiles[1]).toMatchObject({ name: 'typo', error: `the storage folder ${join(cwd, 'backusp')} does not exist`, backups: [] });
    expect(status.profiles[1]!.errorHint).toContain('check backup.profiles[1].storage.pvc.path');
    expect(json.stderr).toContain(`error: status is incomplete: some storage could not be read:\n  profile typo: the storage folder ${join(cwd, 'backusp')} does not exist`);

    const text = await cli(['status'], cwd);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`Profile p \\(PVC [^\\n]*\\)\\n.*${good}`, 's'));
    expect(text.stdout).toContain(`Profile typo (PVC ${join(cwd, 'backusp')})\n  cannot read its storage: the storage folder ${join(cwd, 'backusp')} does not exist\n  hint: check backup.profiles[1].storage.pvc.path`);
  });
});

describe('status', () => {
  it('shows each profile and every schedule with its next run in its time zone', async () => {
    const cwd = await configIn(
      '{ type: PVC, pvc: { path: ./backups } }',
      `  schedules:\n    - { name: nightly, profileName: p, schedule: "0 2 * * *", timeZone: America/Los_Angeles }\n    - { name: utc, profileName: p, schedule: "15 * * * *" }\n`,
    );
    const store = createFsStore({ root: join(cwd, 'backups') });
    const good = await backupAt(store, '2026-09-01T00:00:00Z');
    const bad = await backupAt(store, '2026-09-02T00:00:00Z', false);
    const before = Date.now();
    const r = await cli(['status', '--json'], cwd);
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout) as Status;
    expect(status.profiles[0]).toMatchObject({ name: 'p', lastSuccess: { name: good }, lastFailure: { name: bad } });
    expect(status.profiles[0]!.backups.map((b) => b.name)).toEqual([bad, good]);
    const [nightly, utc] = status.schedules;
    expect(nightly).toMatchObject({ name: 'nightly', schedule: '0 2 * * *', timeZone: 'America/Los_Angeles' });
    expect(utc).toMatchObject({ name: 'utc', timeZone: 'Etc/UTC' });
    // 02:00 in Los Angeles is 09:00 or 10:00 UTC; the next one is within a day.
    expect(nightly!.nextRun).toMatch(/^\d{4}-\d{2}-\d{2}T(09|10):00:00\.000Z$/);
    expect(Date.parse(nightly!.nextRun) - before).toBeLessThanOrEqual(24 * 3600 * 1000);
    expect(utc!.nextRun).toMatch(/T\d{2}:15:00\.000Z$/);
    const table = await cli(['status'], cwd);
    expect(table.stdout).toMatch(/Profile p \(PVC /);
    expect(table.stdout).toMatch(/nightly\s+p\s+0 2 \* \* \*\s+America\/Los_Angeles/);
    expect(table.stdout).toMatch(new RegExp(`last success: ${good}`));
  });
});
