/**
 * The inventory of a server's objects: every schema, table (of every type), sequence, view,
 * routine, trigger and event of the given schemas, and the accounts. It is read from
 * information_schema at dump time, independently of what the dumper chooses to write, and kept in
 * the backup record; restore and verify read the target's inventory the same way and compare. So
 * an object the dumper left out, or the loader failed to create, is found by name.
 */
import { quoteId, quoteString, type MysqlSession } from './connection.js';

export type InventoryKind = 'table' | 'sequence' | 'view' | 'function' | 'procedure' | 'trigger' | 'event';

export interface InventoryObject {
  kind: InventoryKind;
  schema: string;
  name: string;
  /** information_schema's TABLE_TYPE for tables (BASE TABLE, SYSTEM VERSIONED, …). */
  type?: string;
}

/** An account as MySQL Shell names it in `@.users.sql`: `'user'@'host'`. */
export type AccountName = string;

export interface Inventory {
  schemas: string[];
  objects: InventoryObject[];
  /** Accounts and roles; null when they were not inventoried (not dumped). */
  accounts: AccountName[] | null;
}

/** `'user'@'host'`, quoted as MySQL Shell writes account names. */
export function accountName(user: string, host: string): AccountName {
  return `${quoteString(user)}@${quoteString(host)}`;
}

/** `schema.name` with backticks, for messages. */
export function objectLabel(o: Pick<InventoryObject, 'kind' | 'schema' | 'name'>): string {
  return `${o.kind} ${quoteId(o.schema)}.${quoteId(o.name)}`;
}

/**
 * Reads the inventory of `schemas` (which must exist) from information_schema. `accounts` are
 * passed in (the flavor lists them) or null when not wanted.
 */
export async function readInventory(session: MysqlSession, schemas: readonly string[], accounts: AccountName[] | null): Promise<Inventory> {
  const objects: InventoryObject[] = [];
  if (schemas.length > 0) {
    const inList = schemas.map(() => '?').join(', ');
    const tables = await session.query<{ s: string; n: string; t: string }>(
      `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (${inList})`,
      schemas,
    );
    for (const t of tables) {
      if (t.t === 'VIEW') objects.push({ kind: 'view', schema: t.s, name: t.n });
      else if (t.t === 'SEQUENCE') objects.push({ kind: 'sequence', schema: t.s, name: t.n });
      else objects.push({ kind: 'table', schema: t.s, name: t.n, type: t.t });
    }
    const routines = await session.query<{ s: string; n: string; t: string }>(
      `SELECT ROUTINE_SCHEMA AS s, ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (${inList})`,
      schemas,
    );
    for (const r of routines) objects.push({ kind: r.t === 'FUNCTION' ? 'function' : 'procedure', schema: r.s, name: r.n });
    const triggers = await session.query<{ s: string; n: string }>(
      `SELECT TRIGGER_SCHEMA AS s, TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN (${inList})`,
      schemas,
    );
    for (const t of triggers) objects.push({ kind: 'trigger', schema: t.s, name: t.n });
    const events = await session.query<{ s: string; n: string }>(
      `SELECT EVENT_SCHEMA AS s, EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (${inList})`,
      schemas,
    );
    for (const e of events) objects.push({ kind: 'event', schema: e.s, name: e.n });
  }
  objects.sort(compareObjects);
  return { schemas: [...schemas].sort(), objects, accounts: accounts ? [...accounts].sort() : null };
}

/** A key that is the same for objects the server would take for one another (tables, views and sequences share a namespace). */
export function objectKey(o: { kind: string; schema: string; name: string }): string {
  // Triggers, routines and events are named per schema; tables, views and sequences share a namespace.
  const space = o.kind === 'view' || o.kind === 'sequence' ? 'table' : o.kind;
  return `${space}\u0000${o.schema}\u0000${o.name}`;
}

function compareObjects(a: InventoryObject, b: InventoryObject): number {
  return a.schema.localeCompare(b.schema) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name);
}

/** What `actual` lacks of `expected`, or holds as something else. */
export interface InventoryDifference {
  missingSchemas: string[];
  /** Objects of `expected` that `actual` does not hold, as labels (`table \`s\`.\`t\``). */
  missing: string[];
  /** Objects `actual` holds as another kind or table type, as `label: expected X, found Y`. */
  changed: string[];
  missingAccounts: AccountName[];
}

/** True when nothing expected is missing or changed. */
export function inventoryMatches(d: InventoryDifference): boolean {
  return d.missingSchemas.length + d.missing.length + d.changed.length + d.missingAccounts.length === 0;
}

/**
 * Compares the inventory a dump recorded with a server's, within `schemas` (those restored);
 * accounts only when `accounts` is true. Objects the server holds beyond the expected ones are not
 * differences (a restore may go into a server that holds more).
 */
export function compareInventory(expected: Inventory, actual: Inventory, scope: { schemas: readonly string[]; accounts: boolean }): InventoryDifference {
  const inScope = new Set(scope.schemas);
  const have = new Map(actual.objects.map((o) => [objectKey(o), o]));
  const haveSchemas = new Set(actual.schemas);
  const missing: string[] = [];
  const changed: string[] = [];
  for (const o of expected.objects) {
    if (!inScope.has(o.schema)) continue;
    const found = have.get(objectKey(o));
    if (!found) missing.push(objectLabel(o));
    else if (found.kind !== o.kind || (found.type ?? '') !== (o.type ?? '')) {
      changed.push(`${objectLabel(o)}: the source held ${describeKind(o)}, the target holds ${describeKind(found)}`);
    }
  }
  const haveAccounts = new Set(actual.accounts ?? []);
  return {
    missingSchemas: expected.schemas.filter((s) => inScope.has(s) && !haveSchemas.has(s)),
    missing,
    changed,
    missingAccounts: scope.accounts ? (expected.accounts ?? []).filter((a) => !haveAccounts.has(a)) : [],
  };
}

function describeKind(o: InventoryObject): string {
  return o.type ? `a ${o.kind} (${o.type})` : `a ${o.kind}`;
}

/** The differences in words, one per line, at most `limit` lines. */
export function describeDifference(d: InventoryDifference, limit = 20): string {
  const lines = [
    ...d.missingSchemas.map((s) => `schema ${quoteId(s)} is missing`),
    ...d.missing.map((m) => `${m} is missing`),
    ...d.changed,
    ...d.missingAccounts.map((a) => `account ${a} is missing`),
  ];
  const shown = lines.slice(0, limit);
  if (lines.length > limit) shown.push(`… and ${lines.length - limit} more`);
  return shown.map((l) => `  ${l}`).join('\n');
}
