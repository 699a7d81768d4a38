/**
 * The DDL scripts of a dump, judged by the stock `mariadb` client: run in the loader's order on
 * an empty server, they recreate every schema object exactly (SHOW CREATE compared one by one).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/log.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import { readJson } from '../support/dump-reader.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { awkwardDataSql, awkwardSchemas } from '../support/sample-data.js';
import { definitions } from '../support/schema-objects.js';

let source: TestServer;
let target: TestServer;
let work: string;
let dir: string;

function q(id: string): string {
  return '`' + id.replace(/`/g, '``') + '`';
}

/** Runs a script with the mariadb command-line client (which understands DELIMITER), keeping comments in routine bodies. */
function mariadbClient(server: TestServer, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', ['--no-defaults', '-uroot', `--socket=${server.socket}`, '--default-character-set=utf8mb4', '--binary-mode', '--comments'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mariadb exited ${code}: ${stderr}`))));
    child.stdin.end(script);
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-ddl-'));
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  await sql(source, awkwardDataSql);
  const store = createFsStore({ root: work });
  const record = await runBackup(
    { connector: rootConnector(source), store, logger: silentLogger, clock: systemClock },
    {
      group: 'g',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 64_000_000, compression: 'zstd', consistent: true, includeSchemas: [], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
    },
    { signal: new AbortController().signal },
  );
  dir = join(work, record.name);
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the DDL scripts of a dump', () => {
  it('recreate every table, view, trigger, routine and event exactly', async () => {
    const instance = await readJson<{ schemas: string[]; basenames: Record<string, string> }>(dir, '@.json');
    expect(instance.schemas).toEqual(expect.arrayContaining(awkwardSchemas));
    const script = async (name: string): Promise<string> => readFile(join(dir, name), 'utf8');
    const plans = await Promise.all(
      instance.schemas.map(async (schema) => ({ schema, meta: await readJson<{ tables: string[]; views: string[]; basenames: Record<string, string> }>(dir, `${instance.basenames[schema]}.json`) })),
    );
    // The loader's order (FORMAT.md §5): schemas, tables, view placeholders, views, triggers.
    await mariadbClient(target, await script('@.sql'));
    for (const { schema } of plans) await mariadbClient(target, await script(`${instance.basenames[schema]}.sql`));
    for (const { schema, meta } of plans) {
      for (const t of meta.tables) await mariadbClient(target, `SET foreign_key_checks = 0; USE ${q(schema)};\n${await script(`${meta.basenames[t]}.sql`)}`);
    }
    for (const { schema, meta } of plans) for (const v of meta.views) await mariadbClient(target, `USE ${q(schema)};\n${await script(`${meta.basenames[v]}.pre.sql`)}`);
    for (const { schema, meta } of plans) for (const v of meta.views) await mariadbClient(target, `USE ${q(schema)};\n${await script(`${meta.basenames[v]}.sql`)}`);
    for (const { schema, meta } of plans) {
      for (const t of meta.tables) {
        const triggers = `${meta.basenames[t]}.triggers.sql`;
        const exists = await readFile(join(dir, triggers)).then(
          () => true,
          () => false,
        );
        if (exists) await mariadbClient(target, `USE ${q(schema)};\n${await script(triggers)}`);
      }
    }
    await mariadbClient(target, await script('@.post.sql'));

    for (const schema of instance.schemas) {
      const expected = await definitions(source, schema);
      const actual = await definitions(target, schema);
      expect(actual, schema).toEqual(expected);
    }
    const fidelity = await definitions(target, 'fidelity');
    expect(Object.keys(fidelity.view!).sort()).toEqual(['v_on_v', 'v_texts']);
    expect(Object.keys(fidelity.trigger!).sort()).toEqual(['parent_ai', 'parent_bu']);
    expect(Object.keys(fidelity.procedure!).sort()).toEqual(['ends_in_comment', 'touch_audit']);
    expect(Object.keys(fidelity.event!).sort()).toEqual(['commented', 'nightly_cleanup']);
  });
});
