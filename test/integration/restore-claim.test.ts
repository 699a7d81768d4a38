/**
 * One restore at a time into a target server: two `restore bootstrap` runs of one backup into one
 * empty server, started together, must not both load (one would fail on an index the other made,
 * the other double a keyless table's rows). The second is refused with exit 3, naming the holder
 * of the target's claim, and touches nothing; so is a restore while any session holds the claim.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreLockName } from '../../src/lib/restore/target-claim.js';
import { checksumTable, rootConnection, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { runCli as cli } from '../support/cli.js';

let source: TestServer;
let work: string;
let cwd: string;
const servers: TestServer[] = [];

async function target(): Promise<TestServer> {
  const t = await startTestServer();
  servers.push(t);
  return t;
}

/** Everything a refused restore must leave as it was: the schemas, every table's content, read_only. */
async function fingerprint(server: TestServer): Promise<unknown> {
  const schemas = (await sql(server, "SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")) as Array<{ s: string }>;
  const tables = (await sql(server, "SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1")) as Array<{ t: string }>;
  const checksums: Record<string, string> = {};
  for (const { t } of tables) checksums[t] = await checksumTable(server, t);
  const [settings] = (await sql(server, 'SELECT @@GLOBAL.read_only AS ro')) as unknown[];
  return { schemas: schemas.map((r) => r.s), checksums, settings };
}

async function count(server: TestServer, table: string): Promise<number> {
  const [row] = (await sql(server, `SELECT COUNT(*) AS n FROM ${table}`)) as Array<{ n: string }>;
  return Number(row!.n);
}

/** A session of the test's own holding the restore claim of `server`; returns it and its connection id. */
async function holdClaim(server: TestServer): Promise<{ conn: Connection; id: number }> {
  const conn = await rootConnection(server);
  const [rows] = (await conn.query('SELECT GET_LOCK(?, 0) AS got, CONNECTION_ID() AS id', [restoreLockName])) as unknown as [Array<{ got: number; id: number }>];
  expect(rows[0]!.got).toBe(1);
  return { conn, id: Number(rows[0]!.id) };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-claim-'));
  source = await startTestServer();
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), KEY name (name));
     CREATE TABLE keyless (at INT, msg VARCHAR(200));
     INSERT INTO items SELECT seq, CONCAT('item ', seq, REPEAT('z', 80)) FROM seq_1_to_100000;
     INSERT INTO keyless SELECT seq, REPEAT('m', 80) FROM seq_1_to_200000;
     ANALYZE TABLE items, keyless;`,
  );
  cwd = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(cwd, 'empty'), '');
  await writeFile(
    join(cwd, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${source.port}, user: root, passwordFile: ./empty }
backup:
  profiles:
    - name: p
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, bytesPerChunk: 1M, includeSchemas: [shop] }
`,
  );
  const backup = await cli(['backup', 'now'], cwd);
  if (backup.code !== 0) throw new Error(`backup now failed: ${backup.stderr}`);
});

afterAll(async () => {
  await Promise.all([source?.stop(), ...servers.map((s) => s.stop())]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('one restore per target', () => {
  it('lets exactly one of two restores started together into one server load it; the other is refused (exit 3) naming the holder', async () => {
    const t = await target();
    const args = ['restore', 'bootstrap', '--backup', 'latest', '--port', String(t.port)];
    const results = await Promise.all([cli(args, cwd), cli(args, cwd)]);
    const codes = results.map((r) => r.code).sort();
    expect(codes, results.map((r) => r.stderr).join('\n----\n')).toEqual([0, 3]);
    const refused = results.find((r) => r.code === 3)!;
    expect(refused.stderr).toMatch(new RegExp(`error: another restore is running into 127\\.0\\.0\\.1:${t.port}: connection \\d+ of root@\\S+ .*holds the restore claim`));
    expect(refused.stderr).toContain('hint: wait for that restore to finish');
    // The winner's load is the only one: every row once, the tables as the source has them.
    expect(await count(t, 'shop.keyless')).toBe(200000);
    expect(await count(t, 'shop.items')).toBe(100000);
    expect(await checksumTable(t, 'shop.keyless')).toBe(await checksumTable(source, 'shop.keyless'));
    expect(await checksumTable(t, 'shop.items')).toBe(await checksumTable(source, 'shop.items'));
  });

  it('refuses a restore (bootstrap or in place) while another session holds the claim, touching nothing; runs once it is released', async () => {
    const t = await target();
    await sql(t, 'CREATE DATABASE other; CREATE TABLE other.kept (id INT PRIMARY KEY); INSERT INTO other.kept VALUES (1), (2)');
    const holder = await holdClaim(t);
    try {
      const before = await fingerprint(t);
      const boot = await cli(['restore', 'bootstrap', '--backup', 'latest', '--port', String(t.port)], cwd);
      expect(boot.code, boot.stderr).toBe(3);
      expect(boot.stderr).toContain(`error: another restore is running into 127.0.0.1:${t.port}: connection ${holder.id} of root@localhost`);
      expect(boot.stderr).toContain(`hint: wait for that restore to finish, then run this one again if it is still needed; or check that process (SHOW PROCESSLIST on the server; KILL ${holder.id}`);
      expect(await fingerprint(t)).toEqual(before);

      const inPlace = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', 'now', '--port', String(t.port)], cwd);
      expect(inPlace.code, inPlace.stderr).toBe(3);
      expect(inPlace.stderr).toContain(`connection ${holder.id} of root@localhost`);
      // Whole-instance in place would have dropped `other` and raised read_only first.
      expect(await fingerprint(t)).toEqual(before);
    } finally {
      await holder.conn.end();
    }
    const boot = await cli(['restore', 'bootstrap', '--backup', 'latest', '--port', String(t.port)], cwd);
    expect(boot.code, boot.stderr).toBe(0);
    expect(await count(t, 'shop.keyless')).toBe(200000);
    // The claim ends with the restore: a session may take it again at once.
    const again = await holdClaim(t);
    await again.conn.end();
  });
});
