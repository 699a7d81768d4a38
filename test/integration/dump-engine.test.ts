/**
 * The dump engine against a real MariaDB server: layout, metadata, chunking and naming, and the
 * data itself, judged by the server (every data file is loaded back with LOAD DATA and the
 * tables compared with CHECKSUM TABLE).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { fixedClock } from '../../src/lib/clock.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { RowChecksum } from '../../src/lib/dump/row-checksum.js';
import type { DumpOptions } from '../../src/lib/dump/options.js';
import { silentLogger } from '../../src/lib/log.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { dataFilesOf, listFiles, loadTsv, readDataFile, readJson, sha256File } from '../support/dump-reader.js';
import { rootConnection, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { awkwardDataSql } from '../support/sample-data.js';

const dumpOptions = (o: Partial<DumpOptions> = {}): DumpOptions => ({
  threads: 3,
  bytesPerChunk: 128_000,
  compression: 'zstd',
  consistent: true,
  includeSchemas: [],
  excludeSchemas: [],
  lockWaitTimeoutSeconds: 10,
  ...o,
});

/** Records the order objects become visible in, around a real store. */
function recordingStore(inner: ObjectStore): ObjectStore & { order: string[] } {
  const order: string[] = [];
  return {
    ...inner,
    location: inner.location,
    type: inner.type,
    order,
    async write(key, body, options) {
      const r = await inner.write(key, body, options);
      order.push(key);
      return r;
    },
    async put(key, data, options) {
      await inner.put(key, data, options);
      order.push(key);
    },
    async putIfAbsent(key, data, options) {
      const created = await inner.putIfAbsent(key, data, options);
      if (created) order.push(key);
      return created;
    },
  };
}

let server: TestServer;
let work: string;
let clockTime = Date.parse('2026-01-02T03:04:05Z');

async function backup(options: Partial<DumpOptions> = {}, store?: ObjectStore): Promise<{ record: BackupRecord; dir: string; store: ObjectStore }> {
  const root = join(work, `store-${clockTime}`);
  const s = store ?? createFsStore({ root });
  const clock = fixedClock(new Date((clockTime += 1000)));
  const record = await runBackup(
    { connector: rootConnector(server), store: s, logger: silentLogger, clock },
    { group: 'test', profile: 'p', dump: dumpOptions(options), toolVersion: '0.0.0-test' },
    { signal: new AbortController().signal },
  );
  return { record, dir: join(s.location, record.name), store: s };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-engine-'));
  server = await startTestServer();
  await sql(server, awkwardDataSql);
  // Enough rows for many chunks at the minimum chunk size: ~2.6 MB of text.
  await sql(
    server,
    `CREATE DATABASE bulk; USE bulk;
     CREATE TABLE bulk.dense (id INT PRIMARY KEY, k INT NOT NULL, payload VARCHAR(200), KEY (k));
     CREATE TABLE bulk.sparse (id BIGINT PRIMARY KEY, payload VARCHAR(200));
     CREATE TABLE bulk.by_text (code VARCHAR(40) PRIMARY KEY, payload VARCHAR(200));
     CREATE TABLE bulk.heap (a INT, payload VARCHAR(200));
     INSERT INTO bulk.dense SELECT seq, seq % 97, REPEAT(CHAR(65 + seq % 26), 100) FROM seq_1_to_20000;
     INSERT INTO bulk.sparse SELECT seq * 1000003, REPEAT('s', 100) FROM seq_1_to_8000;
     INSERT INTO bulk.by_text SELECT CONCAT('key-', LPAD(seq, 8, '0')), REPEAT('t', 100) FROM seq_1_to_8000;
     INSERT INTO bulk.heap SELECT seq % 10, REPEAT('h', 100) FROM seq_1_to_8000;
     ANALYZE TABLE bulk.dense, bulk.sparse, bulk.by_text, bulk.heap;`,
  );
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a full dump', () => {
  let record: BackupRecord;
  let dir: string;
  let files: string[];
  let order: string[];

  beforeAll(async () => {
    const store = recordingStore(createFsStore({ root: join(work, 'full') }));
    ({ record, dir } = await backup({}, store));
    files = await listFiles(dir);
    order = store.order.map((k) => k.slice(record.name.length + 1));
  });

  it('writes the record first, @.json first among dump files and @.done.json last', () => {
    expect(order[0]).toBe('bloodraven.json');
    expect(order[1]).toBe('@.json');
    expect(order.at(-1)).toBe('@.done.json');
    expect(order.at(-2)).toBe('bloodraven.json');
    expect(files.some((f) => f.endsWith('.dumping'))).toBe(false);
  });

  it('describes the instance in @.json: schemas, basenames, coordinates', async () => {
    const meta = await readJson<Record<string, unknown>>(dir, '@.json');
    const schemas = meta.schemas as string[];
    expect(schemas).toEqual(expect.arrayContaining(['fidelity', 'latin1 db', 'wéird.schema/`x`', 'bulk']));
    expect(schemas).not.toEqual(expect.arrayContaining(['mysql']));
    expect(schemas.some((s) => ['information_schema', 'performance_schema', 'sys'].includes(s))).toBe(false);
    expect(meta.basenames).toMatchObject({ 'latin1 db': 'latin1%20db', 'wéird.schema/`x`': 'wéird.schema%2F%60x%60' });
    expect(meta).toMatchObject({ version: '2.0.1', tzUtc: true, defaultCharacterSet: 'utf8mb4', consistent: true, bytesPerChunk: 128_000 });
    const [status] = (await sql(server, 'SHOW MASTER STATUS')) as Array<{ File: string; Position: string }>;
    const [gtid] = (await sql(server, 'SELECT @@gtid_binlog_pos AS g')) as Array<{ g: string }>;
    expect(meta.binlogFile).toBe(status!.File);
    expect(meta.gtidExecuted).toBe(gtid!.g);
    expect(record).toMatchObject({ phase: 'Succeeded', binlogFile: status!.File, binlogPos: Number(status!.Position), gtidExecuted: gtid!.g, consistent: true });
    expect(await listFiles(dir)).toContain('@.sql');
    expect(await listFiles(dir)).toContain('@.post.sql');
  });

  it('writes table metadata: generated columns left out, binary/BIT/geometry decoded from base64', async () => {
    const gen = await readJson<{ options: { columns: string[] } }>(dir, 'fidelity@generated_cols.json');
    expect(gen.options.columns).toEqual(['id', 'a']);
    const bin = await readJson<{ options: { decodeColumns: Record<string, string> }; primaryIndex: string[]; extension: string; chunking: boolean }>(
      dir,
      'fidelity@binaries.json',
    );
    expect(bin.options.decodeColumns).toEqual({ b: 'FROM_BASE64', vb: 'FROM_BASE64', bl: 'FROM_BASE64', lb: 'FROM_BASE64', bits: 'FROM_BASE64', one: 'FROM_BASE64', g: 'FROM_BASE64', p: 'FROM_BASE64' });
    expect(bin).toMatchObject({ primaryIndex: ['id'], extension: 'tsv.zst', chunking: true });
    const texts = await readJson<{ options: Record<string, unknown> }>(dir, 'fidelity@texts.json');
    expect(texts.options).not.toHaveProperty('decodeColumns');
    expect(texts.options).toMatchObject({ fieldsTerminatedBy: '\t', fieldsEscapedBy: '\\', linesTerminatedBy: '\n', fieldsEnclosedBy: '' });
    const schema = await readJson<Record<string, unknown>>(dir, 'fidelity.json');
    expect(schema).toMatchObject({ functions: ['add_one'], procedures: ['ends_in_comment', 'touch_audit'], events: ['commented', 'nightly_cleanup'] });
    expect(schema.views).toEqual(['v_on_v', 'v_texts']);
  });

  it('names files after percent-encoded names and lists every one in the basenames maps', async () => {
    const weird = await readJson<{ basenames: Record<string, string> }>(dir, 'wéird.schema%2F%60x%60.json');
    const base = weird.basenames['it\'s a "table".with/dots'];
    expect(base).toBe('wéird.schema%2F%60x%60@it%27s%20a%20%22table%22.with%2Fdots');
    expect(files).toContain(`${base}.sql`);
    expect(files).toContain(`${base}@@0.tsv.zst`);
    expect(files).toContain('latin1%20db@t%C3%A2ble%20with%20spaces.json'.replace('%C3%A2', 'â'));
  });

  it('cuts keyed tables into contiguous @N chunks ending in @@N, and an empty table into @@0', () => {
    for (const t of ['dense', 'sparse', 'by_text']) {
      const chunks = dataFilesOf(files, `bulk@${t}`, 'tsv.zst');
      expect(chunks.length, t).toBeGreaterThan(3);
      chunks.forEach((f, i) => expect(f, t).toBe(`bulk@${t}@${i === chunks.length - 1 ? '@' : ''}${i}.tsv.zst`));
    }
    expect(dataFilesOf(files, 'fidelity@empty_table', 'tsv.zst')).toEqual(['fidelity@empty_table@@0.tsv.zst']);
  });

  it('splits a table without a usable key by size, always ending with an empty @@N', async () => {
    const heap = dataFilesOf(files, 'bulk@heap', 'tsv.zst');
    expect(heap.length).toBeGreaterThan(3);
    expect(heap.at(-1)).toBe(`bulk@heap@@${heap.length - 1}.tsv.zst`);
    expect((await readDataFile(dir, heap.at(-1)!)).length).toBe(0);
    for (const f of heap.slice(0, -2)) expect((await readDataFile(dir, f)).length).toBeGreaterThanOrEqual(128_000);
    expect(dataFilesOf(files, 'fidelity@empty_no_key', 'tsv.zst')).toEqual(['fidelity@empty_no_key@0.tsv.zst', 'fidelity@empty_no_key@@1.tsv.zst']);
    // A nullable unique key is not a usable chunk key either.
    expect(dataFilesOf(files, 'fidelity@nullable_unique', 'tsv.zst')).toEqual(['fidelity@nullable_unique@0.tsv.zst', 'fidelity@nullable_unique@@1.tsv.zst']);
  });

  it('writes @.done.json sizes of every data file, and no .idx beside files under 1 MiB (it would hold only that size)', async () => {
    const done = await readJson<{ chunkFileBytes: Record<string, number>; tableRows: Record<string, Record<string, number>>; dataBytes: number }>(dir, '@.done.json');
    const dataFiles = files.filter((f) => f.endsWith('.tsv.zst'));
    expect(Object.keys(done.chunkFileBytes).sort()).toEqual(dataFiles);
    for (const f of dataFiles) {
      const raw = await readDataFile(dir, f);
      expect(done.chunkFileBytes[f]).toBe(raw.length);
      expect(raw.length).toBeLessThan(1024 * 1024);
    }
    expect(files.filter((f) => f.endsWith('.idx'))).toEqual([]);
    expect(done.tableRows.bulk).toEqual({ dense: 20000, sparse: 8000, by_text: 8000, heap: 8000 });
    expect(done.dataBytes).toBe(record.dataBytes);
  });

  it('records every data file with its rows, raw bytes and the SHA-256 of the stored bytes', async () => {
    const dataFiles = files.filter((f) => f.endsWith('.tsv.zst'));
    expect(record.files.map((f) => f.name).sort()).toEqual(dataFiles);
    for (const f of record.files) {
      expect(f.sha256).toBe(await sha256File(dir, f.name));
      const raw = await readDataFile(dir, f.name);
      expect(f.rawBytes).toBe(raw.length);
      expect(f.rows).toBe(raw.length === 0 ? 0 : raw.toString('latin1').split('\n').length - 1);
    }
    // Each table's content checksum is the one its dumped rows give.
    for (const table of ['dense', 'sparse', 'by_text', 'heap']) {
      const sum = new RowChecksum();
      for (const f of dataFilesOf(files, `bulk@${table}`, 'tsv.zst')) {
        const data = await readDataFile(dir, f);
        let start = 0;
        for (let nl = data.indexOf(10); nl >= 0; start = nl + 1, nl = data.indexOf(10, start)) sum.add(data, start, nl);
      }
      expect(record.tables.find((t) => t.schema === 'bulk' && t.table === table)?.checksum, table).toBe(sum.digest());
    }
    const counts = (await sql(server, 'SELECT COUNT(*) AS n FROM fidelity.texts')) as Array<{ n: string }>;
    expect(record.tables.find((t) => t.schema === 'fidelity' && t.table === 'texts')?.rows).toBe(Number(counts[0]!.n));
    expect(record.sizeBytes).toBeGreaterThan(record.files.reduce((n, f) => n + f.storedBytes, 0));
    expect(record.source).toMatchObject({ flavor: 'mariadb', serverUuid: null, serverId: server.serverId });
  });

  it('produces data the server loads back identically (CHECKSUM TABLE of every table)', async () => {
    const conn = await rootConnection(server);
    try {
      await conn.query("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', SESSION time_zone = '+00:00', SESSION foreign_key_checks = 0");
      await conn.query('CREATE DATABASE scratch_check');
      const q = (id: string): string => '`' + id.replace(/`/g, '``') + '`';
      const checked: string[] = [];
      for (const schema of ['fidelity', 'latin1 db', 'wéird.schema/`x`', 'bulk']) {
        const schemaMeta = await readJson<{ tables: string[]; basenames: Record<string, string> }>(dir, `${(await readJson<{ basenames: Record<string, string> }>(dir, '@.json')).basenames[schema]}.json`);
        for (const table of schemaMeta.tables) {
          const base = schemaMeta.basenames[table]!;
          const meta = await readJson<{ options: { columns: string[]; decodeColumns?: Record<string, string> } }>(dir, `${base}.json`);
          const copy = `copy_${checked.length}`;
          await conn.query(`CREATE TABLE scratch_check.\`${copy}\` LIKE ${q(schema)}.${q(table)}`);
          await conn.query(`ALTER TABLE scratch_check.\`${copy}\` REMOVE PARTITIONING`).catch(() => undefined);
          let loaded = 0;
          for (const f of dataFilesOf(files, base, 'tsv.zst')) loaded += await loadTsv(conn, 'scratch_check', copy, meta.options, await readDataFile(dir, f));
          const [a] = (await conn.query(`CHECKSUM TABLE ${q(schema)}.${q(table)}`))[0] as Array<{ Checksum: string }>;
          const [b] = (await conn.query(`CHECKSUM TABLE scratch_check.\`${copy}\``))[0] as Array<{ Checksum: string }>;
          expect(b!.Checksum, `${schema}.${table}`).toBe(a!.Checksum);
          expect(loaded, `${schema}.${table}`).toBe(record.tables.find((t) => t.schema === schema && t.table === table)!.rows);
          checked.push(`${schema}.${table}`);
        }
      }
      expect(checked).toEqual(expect.arrayContaining(['fidelity.texts', 'fidelity.numbers', 'fidelity.binaries', 'fidelity.no_key', 'bulk.by_text', 'latin1 db.tâble with spaces']));
    } finally {
      await conn.query('DROP DATABASE IF EXISTS scratch_check');
      await conn.end();
    }
  });
});

describe('dump options', () => {
  it('honours includeSchemas and excludeSchemas', async () => {
    const only = await backup({ includeSchemas: ['bulk'] });
    expect((await readJson<{ schemas: string[] }>(only.dir, '@.json')).schemas).toEqual(['bulk']);
    const without = await backup({ excludeSchemas: ['bulk', 'fidelity'] });
    expect((await readJson<{ schemas: string[] }>(without.dir, '@.json')).schemas).toEqual(['latin1 db', 'wéird.schema/`x`']);
  });

  it('writes gzip and uncompressed data files with matching extensions and the same rows', async () => {
    const zstd = await backup({ includeSchemas: ['fidelity'] });
    for (const compression of ['gzip', 'none'] as const) {
      const other = await backup({ includeSchemas: ['fidelity'], compression });
      const ext = compression === 'gzip' ? 'tsv.gz' : 'tsv';
      const meta = await readJson<{ extension: string; compression: string }>(other.dir, 'fidelity@texts.json');
      expect(meta).toMatchObject({ extension: ext, compression });
      const a = await readDataFile(zstd.dir, 'fidelity@texts@@0.tsv.zst');
      const b = await readDataFile(other.dir, `fidelity@texts@@0.${ext}`);
      expect(b.equals(a)).toBe(true);
    }
  });

  it('dumps with consistent: false, and says so', async () => {
    const { record, dir } = await backup({ consistent: false, includeSchemas: ['fidelity'] });
    expect(record.consistent).toBe(false);
    expect(await readJson(dir, '@.json')).toMatchObject({ consistent: false, gtidExecutedInconsistent: true });
  });
});

describe('a data file of 1 MiB or more', () => {
  it('gets an .idx as MySQL Shell writes it: the offset just past each row that crossed another MiB, then the file size', async () => {
    const { dir } = await backup({ includeSchemas: ['bulk'], bytesPerChunk: 8_000_000 });
    const files = await listFiles(dir);
    const sizes = new Map<string, Buffer>();
    for (const f of files.filter((n) => n.endsWith('.tsv.zst'))) sizes.set(f, await readDataFile(dir, f));
    const large = [...sizes].filter(([, raw]) => raw.length >= 1024 * 1024).map(([f]) => f);
    const small = [...sizes.keys()].filter((f) => !large.includes(f));
    expect(small.filter((f) => files.includes(`${f}.idx`))).toEqual([]);
    for (const f of large) {
      const raw = sizes.get(f)!;
      const idx = await readDataFile(dir, `${f}.idx`);
      expect(idx.length % 8).toBe(0);
      const offsets = Array.from({ length: idx.length / 8 }, (_, i) => Number(idx.readBigUInt64BE(i * 8)));
      expect(offsets.length).toBe(Math.floor(raw.length / (1024 * 1024)) + 1);
      expect(offsets.at(-1)).toBe(raw.length);
      for (const [i, o] of offsets.slice(0, -1).entries()) {
        expect(o).toBeGreaterThanOrEqual((i + 1) * 1024 * 1024);
        expect(raw[o - 1]).toBe(0x0a);
      }
    }
    // bulk.dense: 20,000 rows of about 110 bytes in one file.
    expect(large).toContain('bulk@dense@@0.tsv.zst');
  });
});
