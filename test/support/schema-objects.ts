/**
 * Every object of a schema with the definition text that must survive a round trip, as the
 * server shows it: tables, views, triggers (with sql_mode), routines, events.
 */
import { sql, type TestServer } from './mariadb.js';

function q(id: string): string {
  return '`' + id.replace(/`/g, '``') + '`';
}

export interface ObjectsOf {
  [kind: string]: Record<string, string>;
}


export async function definitions(server: TestServer, schema: string): Promise<ObjectsOf> {
  const rows = async (statement: string): Promise<Array<Record<string, string>>> => (await sql(server, statement)) as Array<Record<string, string>>;
  const out: ObjectsOf = { table: {}, view: {}, trigger: {}, function: {}, procedure: {}, event: {} };
  for (const t of await rows(`SELECT TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${JSON.stringify(schema)}`)) {
    if (t.t === 'VIEW') out.view![t.n!] = (await rows(`SHOW CREATE VIEW ${q(schema)}.${q(t.n!)}`))[0]!['Create View']!;
    else out.table![t.n!] = (await rows(`SHOW CREATE TABLE ${q(schema)}.${q(t.n!)}`))[0]!['Create Table']!;
  }
  for (const t of await rows(`SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${JSON.stringify(schema)}`)) {
    const r = (await rows(`SHOW CREATE TRIGGER ${q(schema)}.${q(t.n!)}`))[0]!;
    out.trigger![t.n!] = `${r.sql_mode} | ${r['SQL Original Statement']}`;
  }
  for (const r of await rows(`SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${JSON.stringify(schema)}`)) {
    const kind = r.t!.toLowerCase();
    const c = (await rows(`SHOW CREATE ${r.t!} ${q(schema)}.${q(r.n!)}`))[0]!;
    out[kind]![r.n!] = `${c.sql_mode} | ${c[kind === 'function' ? 'Create Function' : 'Create Procedure']}`;
  }
  for (const e of await rows(`SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${JSON.stringify(schema)}`)) {
    const c = (await rows(`SHOW CREATE EVENT ${q(schema)}.${q(e.n!)}`))[0]!;
    out.event![e.n!] = `${c.sql_mode} | ${c.time_zone} | ${c['Create Event']}`;
  }
  return out;
}
