/**
 * The load engine and `restore bootstrap` against real servers: every object and value restored
 * (SHOW CREATE and CHECKSUM TABLE compared with the source), existing objects refused, an
 * incomplete dump refused, and a load interrupted midway finished by a second run without
 * duplicated or missing rows.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import type { CatalogEntry } from '../../src/lib/catalog/catalog.js';
import { systemClock } from '../../src/lib/clock.js';
import type { LoadOptions } from '../../src/lib/load/loader.js';
import { silentLogger } from '../../src/lib/log.js';
import { restoreBootstrap, type RestoreResult } from '../../src/lib/restore/restore-bootstrap.js';
import { sourceFromCatalog, sourceFromStore, type RestoreSource } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { watchingDataReads } from '../support/interrupting-view.js';
import { awkwardDataSql, awkwardSchemas } from '../support/sample-data.js';
import { definitions } from '../support/schema-objects.js';
import { expectAppError as expectError } from '../support/expect-error.js';

const schemas = [...awkwardSchemas, 'bulk'];

const loadOptions = (o: Partial<LoadOptions> = {}): LoadOptions => ({
  threads: 3,
  includeSchemas: [],
  excludeSchemas: [],
  ignoreExistingObjects: false,
  skipBinlog: false,
  deferIndexes: 'all',
  resume: true,
  resetProgress: false,
  ...o,
});

let source: TestServer;
let work: string;
let store: ObjectStore;
let backup: RestoreSource & { entry: CatalogEntry };
const targets: TestServer[] = [];

async function newTarget(): Promise<TestServer> {
  const t = await startTestServer();
  targets.push(t);
  return t;
}

function restore(target: TestServer, from: RestoreSource, options: Partial<LoadOptions> = {}, signal = new AbortController().signal): Promise<RestoreResult> {
  return restoreBootstrap({ connector: rootConnector(target), logger: silentLogger, clock: systemClock }, from, loadOptions(options), { signal });
}

async function checksums(server: TestServer, names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const schema of names) {
    const tables = (await sql(server, `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${JSON.stringify(schema)} AND TABLE_TYPE = 'BASE TABLE'`)) as Array<{ t: string }>;
    for (const { t } of tables) {
      const q = (id: string): string => '`' + id.replace(/`/g, '``') + '`';
      const [row] = (await sql(server, `CHECKSUM TABLE ${q(schema)}.${q(t)}`)) as Array<{ Checksum: string }>;
      out[`${schema}.${t}`] = row!.Checksum;
    }
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-restore-'));
  source = await startTestServer();
  await sql(source, awkwardDataSql);
  await sql(
    source,
    `CREATE DATABASE bulk; USE bulk;
     CREATE TABLE keyed (id INT PRIMARY KEY, k INT NOT NULL, payload VARCHAR(200), KEY k (k), FULLTEXT KEY ft (payload));
     CREATE TABLE heap (a INT, payload VARCHAR(200), KEY a (a));
     INSERT INTO keyed SELECT seq, seq % 97, CONCAT('row ', seq, ' ', REPEAT('k', 90)) FROM seq_1_to_12000;
     INSERT INTO heap SELECT seq % 10, REPEAT('h', 100) FROM seq_1_to_12000;
     INSERT INTO heap SELECT seq % 10, REPEAT('h', 100) FROM seq_1_to_100;
     ANALYZE TABLE keyed, heap;`,
  );
  store = createFsStore({ root: join(work, 'backups') });
  await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'src',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
  backup = await sourceFromCatalog(store, 'latest', null);
});

afterAll(async () => {
  await Promise.all([source, ...targets].map((s) => s?.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore bootstrap', () => {
  it('restores every object and every value exactly', async () => {
    const target = await newTarget();
    const [before] = (await sql(target, 'SELECT @@log_bin AS b, @@log_bin_trust_function_creators AS t')) as Array<{ b: string; t: string }>;
    expect(Number(before!.b)).toBe(1);
    const result = await restore(target, backup);
    expect(result.schemas.sort()).toEqual([...schemas].sort());
    expect(result.rows).toBe(backup.record!.tables.reduce((n, t) => n + t.rows, 0));
    for (const schema of schemas) expect(await definitions(target, schema), schema).toEqual(await definitions(source, schema));
    expect(await checksums(target, schemas)).toEqual(await checksums(source, schemas));
    // Routines were created with binary logging on, and the setting that allowed it is back.
    const [after] = (await sql(target, 'SELECT @@log_bin_trust_function_creators AS t')) as Array<{ t: string }>;
    expect(after!.t).toBe(before!.t);
    expect(await sql(target, 'SELECT fidelity.add_one(41) AS v')).toEqual([{ v: 42 }]);
    // Triggers came after the data: loading fired none of them.
    expect(await sql(target, 'SELECT COUNT(*) AS n FROM fidelity.audit')).toEqual([{ n: '0' }]);
  });

  it('refuses a target that holds objects the dump creates, listing them (exit 3)', async () => {
    const target = await newTarget();
    await sql(target, 'CREATE DATABASE fidelity; CREATE TABLE fidelity.texts (x INT); CREATE TABLE fidelity.unrelated (y INT); CREATE FUNCTION fidelity.add_one(x INT) RETURNS INT DETERMINISTIC RETURN x');
    const err = await expectError(restore(target, backup), 'TARGET_HAS_OBJECTS');
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain('table `fidelity`.`texts`');
    expect(err.message).toContain('function `fidelity`.`add_one`');
    expect(err.message).not.toContain('unrelated');
    expect(err.hint).toMatch(/--ignore-existing-objects/);
    // Nothing was created.
    expect(await sql(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'bulk'")).toEqual([{ n: '0' }]);
  });

  it('loads into existing objects when told to, without duplicating keyed rows', async () => {
    const target = await newTarget();
    await restore(target, backup, { includeSchemas: ['latin1 db'] });
    await sql(target, "UPDATE `latin1 db`.`tâble with spaces` SET name = 'changed' WHERE id = 1");
    await expectError(restore(target, backup, { includeSchemas: ['latin1 db'], resetProgress: true }), 'TARGET_HAS_OBJECTS');
    await restore(target, backup, { includeSchemas: ['latin1 db'], resetProgress: true, ignoreExistingObjects: true });
    expect(await checksums(target, ['latin1 db'])).toEqual(await checksums(source, ['latin1 db']));
  });

  it('loads into an existing schema that has no clashing objects, keeping what is there', async () => {
    const target = await newTarget();
    await sql(target, 'CREATE DATABASE bulk; CREATE TABLE bulk.mine (v INT); INSERT INTO bulk.mine VALUES (7)');
    await restore(target, backup, { includeSchemas: ['bulk'] });
    expect(await sql(target, 'SELECT v FROM bulk.mine')).toEqual([{ v: 7 }]);
    expect(await checksums(target, ['bulk'])).toMatchObject(await checksums(source, ['bulk']));
  });

  it('with --ignore-existing-objects, never empties a keyless table that held rows of its own to resume it: refused, the rows kept', async () => {
    const target = await newTarget();
    await sql(target, 'CREATE DATABASE bulk; CREATE TABLE bulk.heap (a INT, payload VARCHAR(200), KEY a (a)); INSERT INTO bulk.heap VALUES (-1, \'mine\')');
    const controller = new AbortController();
    let heapFiles = 0;
    const interrupting = watchingDataReads(backup.store, (key) => {
      if (key.includes('bulk@heap@') && ++heapFiles === 2) controller.abort(new Error('SIGTERM'));
    });
    const options = { includeSchemas: ['bulk'], ignoreExistingObjects: true, threads: 1 };
    await expectError(restore(target, { ...backup, store: interrupting }, options, controller.signal), 'ABORTED');
    const err = await expectError(restore(target, backup, options), 'LOAD_RESUME_AMBIGUOUS');
    expect(err.message).toMatch(/`bulk`\.`heap`/);
    expect(err.hint).toMatch(/TRUNCATE TABLE/);
    expect(await sql(target, 'SELECT payload FROM bulk.heap WHERE a = -1')).toEqual([{ payload: 'mine' }]);
    // Emptied by hand (it held nothing the owner wants), the restore started over loads it whole.
    await sql(target, 'TRUNCATE TABLE bulk.heap');
    await restore(target, backup, { ...options, resetProgress: true });
    expect(await sql(target, 'SELECT COUNT(*) AS n FROM bulk.heap')).toEqual([{ n: '12100' }]);
    expect(await checksums(target, ['bulk'])).toEqual(await checksums(source, ['bulk']));
  });

  it('loads only the included schemas, or all but the excluded ones', async () => {
    const a = await newTarget();
    const r = await restore(a, backup, { includeSchemas: ['latin1 db'] });
    expect(r.schemas).toEqual(['latin1 db']);
    const have = (await sql(a, 'SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA')) as Array<{ s: string }>;
    expect(have.map((x) => x.s)).toContain('latin1 db');
    expect(have.map((x) => x.s)).not.toContain('bulk');
    const b = await newTarget();
    const r2 = await restore(b, backup, { excludeSchemas: ['bulk', 'fidelity'] });
    expect(r2.schemas.sort()).toEqual(['latin1 db', 'wéird.schema/`x`']);
  });

  it('refuses a dump without @.done.json (exit 3) and touches nothing', async () => {
    const copy = join(work, 'incomplete');
    await cp(join(store.location, backup.entry.name), copy, { recursive: true });
    await rm(join(copy, '@.done.json'));
    const target = await newTarget();
    const err = await expectError(restore(target, await sourceFromStore(createFsStore({ root: copy }), copy, null)), 'DUMP_INCOMPLETE');
    expect(err.exitCode).toBe(3);
    expect(await sql(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('bulk', 'fidelity')")).toEqual([{ n: '0' }]);
  });

  it('finishes an interrupted load on the next run, without duplicated or missing rows (also in tables without a key)', async () => {
    const target = await newTarget();
    // Interrupt while the keyless table is partly loaded: when its second file is opened.
    const controller = new AbortController();
    let heapFiles = 0;
    const interrupting = watchingDataReads(backup.store, (key) => {
      if (key.includes('bulk@heap@') && ++heapFiles === 2) controller.abort(new Error('SIGTERM'));
    });
    const from: RestoreSource = { ...backup, store: interrupting };
    await expectError(restore(target, from, { threads: 1 }, controller.signal), 'ABORTED');
    const [partial] = (await sql(target, 'SELECT COUNT(*) AS n FROM bulk.heap')) as Array<{ n: string }>;
    expect(Number(partial!.n)).toBeGreaterThan(0);
    expect(Number(partial!.n)).toBeLessThan(12100);

    const second = await restore(target, backup, { threads: 2 });
    expect(second.resumedSteps).toBeGreaterThan(0);
    expect(await checksums(target, schemas)).toEqual(await checksums(source, schemas));
    expect(await sql(target, 'SELECT COUNT(*) AS n FROM bulk.heap')).toEqual([{ n: '12100' }]);
    for (const schema of schemas) expect(await definitions(target, schema), schema).toEqual(await definitions(source, schema));

    // A third run finds the load complete: it is refused (not reported as a restore of 0 rows), changing nothing.
    const third = await expectError(restore(target, backup), 'LOAD_ALREADY_COMPLETE');
    expect(third.exitCode).toBe(3);
    expect(third.hint).toMatch(/--reset-progress/);
    expect(await checksums(target, ['bulk'])).toEqual(await checksums(source, ['bulk']));
  });

  it('a resumed load whose earlier run committed files it never recorded (killed between a commit and the save) ends exact', async () => {
    const target = await newTarget();
    await restore(target, backup, { threads: 2 });
    // As a SIGKILL leaves it: the tables' rows are in, but the log never heard of their files.
    // This target's log: the one just written (other tests' targets have their own).
    const [log] = (await store.list(backup.prefix)).filter((o) => o.key.includes('load-progress.')).sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime());
    const lines = (await store.get(log!.key)).toString().split('\n').filter((l) => l.trim() !== '');
    const forgotten = (l: string): boolean => {
      const step = JSON.parse(l) as { op: string; schema?: string; table?: string };
      return step.op === 'LOAD-COMPLETE' || (step.schema === 'bulk' && (step.op === 'TABLE-DATA' || step.op === 'TABLE-INDEX'));
    };
    expect(lines.filter(forgotten).length).toBeGreaterThan(2);
    await store.put(log!.key, lines.filter((l) => !forgotten(l)).join('\n') + '\n');

    // The keyless table is emptied and loaded whole (not doubled); the keyed one's files replace
    // their own rows, and its count is taken on the server (not summed from what this run added).
    const second = await restore(target, backup, { threads: 2 });
    expect(second.tables.find((t) => t.table === 'heap')?.rows).toBe(12100);
    expect(second.tables.find((t) => t.table === 'keyed')?.rows).toBe(12000);
    expect(await sql(target, 'SELECT COUNT(*) AS n FROM bulk.heap')).toEqual([{ n: '12100' }]);
    expect(await checksums(target, ['bulk'])).toEqual(await checksums(source, ['bulk']));
  });

  it('refuses, touching nothing, a load whose threads the target has no connections for, naming --threads', async () => {
    const target = await newTarget();
    await sql(target, 'SET GLOBAL max_connections = 12');
    const err = await expectError(restore(target, backup, { threads: 16 }), 'TARGET_CONNECTIONS_FULL');
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/max_connections 12/);
    expect(err.hint).toMatch(/lower --threads/);
    expect(await sql(target, "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'bulk'")).toEqual([{ n: '0' }]);
    // With room for them, the same load goes through.
    const done = await restore(target, backup, { threads: 4 });
    expect(done.rows).toBe(backup.record!.tables.reduce((n, t) => n + t.rows, 0));
  });

  it('says what to do when the target refuses LOAD DATA LOCAL', async () => {
    const target = await newTarget();
    await sql(target, 'SET GLOBAL local_infile = 0');
    const err = await expectError(restore(target, backup), 'LOCAL_INFILE_OFF');
    expect(err.exitCode).toBe(3);
    expect(err.hint).toMatch(/SET GLOBAL local_infile = 1/);
  });
});
