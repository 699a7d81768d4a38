/**
 * Fidelity proven by an independent oracle: an awkward data set (unicode and emoji, latin1 and
 * utf8mb4, NULL beside 'NULL' and '\N', control bytes, binary, BIT, JSON, spatial, extreme
 * DECIMAL, DATETIME(6) and floating-point values, ENUM/SET, generated and invisible columns,
 * keyless tables, composite and foreign keys, partitions, views on views, triggers, routines,
 * events, hostile names) goes through backup now → restore bootstrap, and the stock tools judge
 * the result: `mariadb-dump` images of source and target are identical, and so is CHECKSUM
 * TABLE of every table.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/log.js';
import { restoreBootstrap } from '../../src/lib/restore/restore-bootstrap.js';
import { sourceFromCatalog } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { awkwardDataSql, awkwardSchemas, tableKindsSchema, tableKindsSql } from '../support/sample-data.js';

const schemas = [...awkwardSchemas, tableKindsSchema];

let source: TestServer;
let target: TestServer;
let work: string;

/** `mariadb-dump` of the schemas, one row per INSERT, with everything that differs by design taken out. */
function image(server: TestServer, schemas: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'mariadb-dump',
      [
        '--no-defaults',
        '-uroot',
        `--socket=${server.socket}`,
        '--order-by-primary',
        '--hex-blob',
        '--routines',
        '--events',
        // System-versioned tables with every row version, so history is compared too.
        '--dump-history',
        '--triggers',
        '--skip-extended-insert',
        '--skip-dump-date',
        '--skip-comments',
        '--default-character-set=utf8mb4',
        '--databases',
        ...schemas,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`mariadb-dump exited ${code}: ${err}`))));
  });
}

async function checksums(server: TestServer, schemas: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const q = (id: string): string => '`' + id.replace(/`/g, '``') + '`';
  for (const schema of schemas) {
    const tables = (await sql(server, `SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${JSON.stringify(schema)} AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')`)) as Array<{ t: string }>;
    for (const { t } of tables) {
      const [row] = (await sql(server, `CHECKSUM TABLE ${q(schema)}.${q(t)} EXTENDED`)) as Array<{ Checksum: string }>;
      out[`${schema}.${t}`] = row!.Checksum;
    }
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-fidelity-'));
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  await sql(source, awkwardDataSql);
  await sql(source, tableKindsSql);
  const store = createFsStore({ root: join(work, 'backups') });
  await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'g',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 3, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: schemas, excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
  await restoreBootstrap(
    { connector: rootConnector(target), logger: silentLogger, clock: systemClock },
    await sourceFromCatalog(store, 'latest', null),
    { threads: 3, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: false, deferIndexes: 'all', resume: true, resetProgress: false },
    { signal: new AbortController().signal },
  );
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a round trip through backup and restore', () => {
  it('gives a mariadb-dump image identical to the source, line for line', async () => {
    const [a, b] = await Promise.all([image(source, schemas), image(target, schemas)]);
    // The image holds every row and every definition; a few spot checks that it is not empty.
    expect(a).toContain("INSERT INTO `texts` VALUES (4,'emoji 😀 and 中文 and ñ'");
    expect(a).toMatch(/TRIGGER parent_ai AFTER INSERT ON parent FOR EACH ROW/);
    expect(a).toMatch(/EVENT `nightly_cleanup` ON SCHEDULE EVERY 1 DAY/);
    expect(a).toContain("INSERT INTO `tâble with spaces` VALUES (1,'café');");
    // History rows of the versioned tables are in the image (with their row_start and row_end).
    expect(a.match(/INSERT INTO `versioned_parts` \(`id`, `v`, row_start, row_end\) VALUES/g)?.length).toBe(4);
    // An update of a column left out of versioning makes no history row: two versions, not three.
    expect(a.match(/INSERT INTO `partly_versioned` /g)?.length).toBe(2);
    const linesA = a.split('\n');
    const linesB = b.split('\n');
    const differing = linesA.flatMap((line, i) => (line === linesB[i] ? [] : [`line ${i + 1}: ${line.slice(0, 200)} <> ${(linesB[i] ?? '(missing)').slice(0, 200)}`]));
    expect(differing).toEqual([]);
    expect(linesB.length).toBe(linesA.length);
  });

  it('gives the same CHECKSUM TABLE for every table', async () => {
    const [a, b] = await Promise.all([checksums(source, schemas), checksums(target, schemas)]);
    expect(Object.keys(a).length).toBeGreaterThan(20);
    const differing = Object.keys(a).filter((k) => a[k] !== b[k]);
    expect(differing).toEqual([]);
  });
});
