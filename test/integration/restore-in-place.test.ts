/**
 * `restore in-place` against a live server: the confirm gate, the fence (other writers held off,
 * the previous setting back even when the restore fails), dropping and reloading the whole
 * instance or one schema while the others keep working.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { readConfirmToken } from '../../src/lib/catalog/confirm-token.js';
import { fixedClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/log.js';
import { planRestoreInPlace, restoreInPlace, type InPlaceResult } from '../../src/lib/restore/restore-in-place.js';
import { sourceFromCatalog } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import type { LoadProgressReport } from '../../src/lib/load/loader.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { expectAppError as expectError } from '../support/expect-error.js';

let server: TestServer;
let work: string;
let store: ObjectStore;
// After every confirm time the tests use: a confirm time ahead of the clock is refused.
const clock = fixedClock(new Date('2026-06-01T15:00:00Z'));

async function rows(statement: string): Promise<unknown> {
  return sql(server, statement);
}

function inPlace(
  options: { confirm: Date; includeSchema?: string; catalog?: ObjectStore; source?: ObjectStore; onProgress?: (p: LoadProgressReport) => void },
): Promise<InPlaceResult> {
  return (async () => {
    const from = await sourceFromCatalog(options.source ?? store, 'latest', null);
    const deps = { connector: rootConnector(server), catalog: options.catalog ?? store, logger: silentLogger, clock };
    const plan = await planRestoreInPlace(deps, from, { includeSchema: options.includeSchema, threads: 2 });
    return restoreInPlace(deps, from, plan, { confirm: options.confirm }, { signal: new AbortController().signal, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
  })();
}

async function readOnly(): Promise<number> {
  const [row] = (await rows('SELECT @@GLOBAL.read_only AS ro')) as Array<{ ro: string }>;
  return Number(row!.ro);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-inplace-'));
  server = await startTestServer();
  await rows(
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE orders (id INT PRIMARY KEY, amount INT, KEY amount (amount));
     INSERT INTO orders SELECT seq, seq * 10 FROM seq_1_to_20000;
     CREATE DATABASE tenant_a; CREATE TABLE tenant_a.notes (id INT PRIMARY KEY, body TEXT);
     INSERT INTO tenant_a.notes VALUES (1, 'original');
     CREATE USER 'app'@'%' IDENTIFIED BY 'app'; GRANT ALL ON shop.* TO 'app'@'%'; GRANT ALL ON tenant_a.* TO 'app'@'%';`,
  );
  store = createFsStore({ root: join(work, 'backups') });
  await runBackup(
    { connector: rootConnector(server), store, logger: silentLogger, clock },
    {
      group: 'g',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore in-place', () => {
  it('rolls the whole instance back, fencing other writers meanwhile, and lifts the fence', async () => {
    // Changes after the backup: to be rolled back.
    await rows("UPDATE shop.orders SET amount = 0; CREATE DATABASE later; CREATE TABLE later.t (x INT); UPDATE tenant_a.notes SET body = 'changed'");
    const app = await createConnection({ host: '127.0.0.1', port: server.port, user: 'app', password: 'app' });
    let blocked: string | undefined;
    const result = await inPlace({
      confirm: new Date('2026-06-01T10:00:00Z'),
      onProgress: (p) => {
        if (p.phase === 'data' && blocked === undefined) {
          blocked = 'pending';
          // A writer without SUPER is held off while the restore runs.
          app.query('INSERT INTO tenant_a.notes VALUES (99, "during")').then(
            () => (blocked = 'no'),
            (e: unknown) => (blocked = String(e)),
          );
        }
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(blocked).toMatch(/read-only|read_only/i);
    expect(result.mode).toBe('instance');
    expect(result.dropped.sort()).toEqual(['later', 'shop', 'tenant_a']);
    expect(await rows('SELECT SUM(amount) AS s FROM shop.orders')).toEqual([{ s: String((20000 * 20001 * 10) / 2) }]);
    expect(await rows("SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'later'")).toEqual([{ n: '0' }]);
    expect(await rows('SELECT body FROM tenant_a.notes')).toEqual([{ body: 'original' }]);
    // The fence is lifted: the application writes again.
    expect(await readOnly()).toBe(0);
    await app.query('INSERT INTO tenant_a.notes VALUES (2, "after")');
    await app.end();
    expect((await readConfirmToken(store))?.confirmTokenUsed).toBe('2026-06-01T10:00:00.000Z');
  });

  it('refuses a confirm token that is not newer than the last one used (exit 3), changing nothing', async () => {
    await rows("UPDATE tenant_a.notes SET body = 'keep me' WHERE id = 1");
    const err = await expectError(inPlace({ confirm: new Date('2026-06-01T10:00:00Z') }), 'CONFIRM_STALE');
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('2026-06-01T10:00:00.000Z');
    expect(await rows('SELECT body FROM tenant_a.notes WHERE id = 1')).toEqual([{ body: 'keep me' }]);
  });

  it('refuses a read-only target (exit 3)', async () => {
    await rows('SET GLOBAL read_only = 1');
    try {
      const err = await expectError(inPlace({ confirm: new Date('2026-06-01T11:00:00Z') }), 'TARGET_READ_ONLY');
      expect(err.exitCode).toBe(3);
    } finally {
      await rows('SET GLOBAL read_only = 0');
    }
  });

  it('restores one schema only: the others keep their changes and stay writable', async () => {
    await rows("UPDATE shop.orders SET amount = -1 WHERE id <= 10; UPDATE tenant_a.notes SET body = 'tenant change' WHERE id = 1");
    const result = await inPlace({
      confirm: new Date('2026-06-01T12:00:00Z'),
      includeSchema: 'tenant_a',
      onProgress: () => undefined,
    });
    expect(result).toMatchObject({ mode: 'schema', dropped: ['tenant_a'], fencedMs: 0 });
    expect(await rows('SELECT body FROM tenant_a.notes ORDER BY id')).toEqual([{ body: 'original' }]);
    expect(await rows('SELECT COUNT(*) AS n FROM shop.orders WHERE amount = -1')).toEqual([{ n: '10' }]);
    expect(await readOnly()).toBe(0);
  });

  it('is refused without --confirm when there is no terminal (exit 3)', async () => {
    const { execFile } = await import('node:child_process');
    const cwd = await mkdtemp(join(work, 'cli-'));
    await writeFile(
      join(cwd, 'bloodraven.yaml'),
      `mysql: { host: 127.0.0.1, port: ${server.port}, user: root }\nbackup: { profiles: [ { name: p, storage: { type: PVC, pvc: { path: ${JSON.stringify(store.location)} } } } ] }\n`,
    );
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'run.js'), 'restore', 'in-place', '--backup', 'latest'], { cwd }, () => undefined);
      let stderr = '';
      child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/needs --confirm/);
    expect(await rows('SELECT COUNT(*) AS n FROM shop.orders')).toEqual([{ n: '20000' }]);
  });
  it('refuses a damaged backup before dropping anything (exit 3): schemas, data and the confirm token stay as they were', async () => {
    // A copy of the backup whose data files are damaged.
    const broken = createFsStore({ root: join(work, 'broken') });
    const entry = (await sourceFromCatalog(store, 'latest', null)).entry;
    for (const o of await store.list(entry.prefix)) {
      let data = await store.get(o.key);
      if (o.key.includes('shop@orders@') && o.key.endsWith('.tsv.zst')) data = Buffer.from('not zstd at all');
      await broken.put(o.key, data);
    }
    await sql(server, "INSERT INTO shop.orders (id, amount) VALUES (990001, 7)");
    const before = await rows('SELECT COUNT(*) AS n, MAX(id) AS m FROM shop.orders');
    const tokenBefore = await store.get('restore-in-place.json').catch(() => null);
    const err = await expectError(inPlace({ confirm: new Date('2026-06-01T13:00:00Z'), source: broken }), 'DUMP_FILE_MISMATCH');
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/shop@orders@/);
    expect(await rows('SELECT COUNT(*) AS n, MAX(id) AS m FROM shop.orders')).toEqual(before);
    expect(await store.get('restore-in-place.json').catch(() => null)).toEqual(tokenBefore);
    expect(await readOnly()).toBe(0);
  });

  it('puts the fence back down even when the restore fails midway', async () => {
    const controller = new AbortController();
    const from = await sourceFromCatalog(store, 'latest', null);
    const deps = { connector: rootConnector(server), catalog: store, logger: silentLogger, clock };
    const plan = await planRestoreInPlace(deps, from, { threads: 2 });
    // Interrupted once the data is loading: the schemas are gone, the fence is up.
    const failing = restoreInPlace(deps, from, plan, { confirm: new Date('2026-06-01T14:00:00Z') }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'data' && p.filesDone > 0) controller.abort(new Error('stop'));
      },
    });
    await expectError(failing, 'ABORTED');
    expect(await readOnly()).toBe(0);
  });

});
