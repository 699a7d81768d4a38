/**
 * MySQL Shell compatibility: the dump in ../shared/fixtures (MySQL Shell 8.0.21 against MySQL
 * 5.7) restores into MariaDB with every value intact. What MariaDB cannot create (a BLACKHOLE
 * table: the engine is not loaded) fails naming the object and the reason, and excluding that
 * schema gets past it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import { prepareDumpSession } from '../../src/lib/dump/snapshot.js';
import { RowChecksum } from '../../src/lib/dump/row-checksum.js';
import { AppError } from '../../src/lib/errors.js';
import { readDumpManifest, type TableManifest } from '../../src/lib/load/dump-manifest.js';
import type { LoadOptions } from '../../src/lib/load/loader.js';
import { restoreBootstrap, type RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import { sourceFromStore } from '../../src/lib/restore/source.js';
import { silentLogger } from '../../src/lib/log.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { tableChecksum } from '../../src/lib/verify/table-checksum.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';

const fixture = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'mysqlsh-dump-instance-8.0.21.tar.gz');

let work: string;
let dir: string;
const servers: TestServer[] = [];

const options = (o: Partial<LoadOptions> = {}): LoadOptions => ({
  threads: 2,
  includeSchemas: [],
  excludeSchemas: [],
  ignoreExistingObjects: false,
  skipBinlog: false,
  deferIndexes: 'all',
  resume: false,
  resetProgress: false,
  ...o,
});

async function load(server: TestServer, o: Partial<LoadOptions>): Promise<RestoreResult> {
  const source = await sourceFromStore(createFsStore({ root: dir }), dir, null);
  return restoreBootstrap({ connector: rootConnector(server), logger: silentLogger, clock: systemClock }, source, options(o), { signal: new AbortController().signal });
}

/**
 * The checksum the file's rows give, as MySQL Shell wrote them. Shell 8.0.21 kept the line
 * breaks MySQL puts into base64 every 76 characters (written escaped, as `\n`); FROM_BASE64
 * skips them, so they are dropped here to compare values, not line breaks.
 */
async function fileChecksum(table: TableManifest): Promise<RowChecksum> {
  const decoded = new Set(table.columns.flatMap((c, i) => (table.decodeColumns[c] ? [i] : [])));
  const sum = new RowChecksum();
  for (const f of table.dataFiles) {
    const text = zlib.zstdDecompressSync(await readFile(join(dir, f.name))).toString('latin1');
    for (const line of text.split('\n').slice(0, -1)) {
      const fields = line.split('\t').map((v, i) => (decoded.has(i) ? v.replaceAll('\\n', '') : v));
      const row = Buffer.from(fields.join('\t'), 'latin1');
      sum.add(row, 0, row.length);
    }
  }
  return sum;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-fixture-'));
  execFileSync('tar', ['xzf', fixture, '-C', work]);
  dir = join(work, 'dump_instance_8.0.21');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe("MySQL Shell's own dump", () => {
  it('fails on what the target cannot create, naming the object and why, and how to get past it', async () => {
    const server = await startTestServer();
    servers.push(server);
    const err = await load(server, {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    expect(e.code).toBe('LOAD_DDL_FAILED');
    expect(e.message).toMatch(/`mysqlaas_compat`\.`blackhole_tbl1`.*Unknown storage engine 'BLACKHOLE'/);
    expect(e.hint).toContain('--exclude-schema "mysqlaas_compat"');
  });

  it('restores into MariaDB with every value and object intact once that schema is excluded', async () => {
    const server = await startTestServer();
    servers.push(server);
    const result = await load(server, { excludeSchemas: ['mysqlaas_compat'] });
    const manifest = await readDumpManifest(createFsStore({ root: dir }), '');
    const schemas = manifest.schemas.filter((s) => s.name !== 'mysqlaas_compat');
    expect(result.schemas.sort()).toEqual(schemas.map((s) => s.name).sort());

    const session = await rootConnector(server).connect();
    try {
      await prepareDumpSession(session);
      let tables = 0;
      for (const table of schemas.flatMap((s) => s.tables)) {
        const expected = await fileChecksum(table);
        const actual = await tableChecksum(session, table, { exactFloats: false });
        expect({ table: `${table.schema}.${table.name}`, rows: actual.rows, checksum: actual.checksum }).toEqual({
          table: `${table.schema}.${table.name}`,
          rows: expected.rows,
          checksum: expected.digest(),
        });
        tables++;
      }
      expect(tables).toBeGreaterThan(40);
    } finally {
      await session.close();
    }

    // Every stored object of the dump exists, routines included (created with binary logging on).
    for (const schema of schemas) {
      const q = JSON.stringify(schema.name);
      const names = async (statement: string): Promise<string[]> => ((await sql(server, statement)) as Array<{ n: string }>).map((r) => r.n).sort();
      expect(await names(`SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${q} AND ROUTINE_TYPE = 'FUNCTION'`), schema.name).toEqual([...schema.functions].sort());
      expect(await names(`SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${q} AND ROUTINE_TYPE = 'PROCEDURE'`), schema.name).toEqual([...schema.procedures].sort());
      expect(await names(`SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${q}`), schema.name).toEqual([...schema.events].sort());
      expect(await names(`SELECT TABLE_NAME AS n FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${q}`), schema.name).toEqual(schema.views.map((v) => v.name).sort());
      expect(await names(`SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${q}`), schema.name).toEqual(schema.tables.flatMap((t) => t.triggers).sort());
    }
    const [binlog] = (await sql(server, 'SELECT @@log_bin AS b')) as Array<{ b: string }>;
    expect(Number(binlog!.b)).toBe(1);
    expect(await sql(server, 'SELECT mysqldump_test_db.bug9056_func1(2, 3) AS v')).toEqual([{ v: 5 }]);
  });
});
