/**
 * The checks a restore makes on its target before it changes anything: settings, privileges,
 * room for the largest value, objects in the way, the state of an earlier load. Each returns the
 * refusals it finds (nothing is thrown here), so that a plan can report every one at once.
 * Nothing here writes: the probes set session variables to a value and back, or a global one to
 * the value it has.
 */
import { errorMessage, MysqlError } from '../errors.js';
import { quoteId, type MysqlSession } from '../mysql/connection.js';
import type { Flavor } from '../mysql/flavor.js';
import type { Grants } from '../mysql/grants.js';
import { accountName, objectKey, readInventory } from '../mysql/inventory.js';
import { formatBytes } from '../sizes.js';
import type { BackupRecord } from '../catalog/record.js';
import { everyRowOf, type DumpManifest, type SchemaManifest } from '../load/dump-manifest.js';
import type { DoneStep, LoadProgress } from '../load/load-progress.js';

/** One reason to refuse: a code, what is wrong, and what to do. */
export interface Refusal {
  code: string;
  message: string;
  hint: string;
  /** The refusal is about the dump (damaged, incomplete), not about the target. */
  dump?: boolean;
}

export async function checkLocalInfile(session: MysqlSession): Promise<Refusal[]> {
  const [row] = await session.query<{ v: string | number }>('SELECT @@GLOBAL.local_infile AS v');
  if (Number(row?.v) === 1) return [];
  return [
    {
      code: 'LOCAL_INFILE_OFF',
      message: 'the target server refuses LOAD DATA LOCAL INFILE (local_infile is OFF)',
      hint: 'enable it with SET GLOBAL local_infile = 1 (or local_infile=1 in the server config) and run again',
    },
  ];
}

/**
 * Whether the target has room for the load's threads, one session each, on top of what is
 * connected now: the restore's own sessions (this one, which runs the DDL, the claim's and the
 * watch's) are among those already. A load that finds no room fails midway, after it has begun
 * changing the target.
 */
export async function checkConnectionRoom(session: MysqlSession, threads: number): Promise<Refusal[]> {
  const [row] = await session.query<{ max: string | number; used: string | number }>(
    "SELECT @@GLOBAL.max_connections AS max, (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED') AS used",
  );
  const max = Number(row?.max);
  const used = Number(row?.used);
  if (!Number.isFinite(max) || !Number.isFinite(used) || max - used >= threads) return [];
  const free = Math.max(0, max - used);
  return [
    {
      code: 'TARGET_CONNECTIONS_FULL',
      message: `the target allows ${free} more connection(s) (max_connections ${max}, ${used} connected, this restore's own among them), and a load with threads ${threads} opens ${threads} more`,
      hint: `lower --threads (its default is the profile's dump.threads) to at most ${Math.max(1, free)}, or raise max_connections on the target`,
    },
  ];
}

export async function checkWritable(session: MysqlSession, target: string): Promise<Refusal[]> {
  const [ro] = await session.query<{ ro: string | number }>('SELECT @@GLOBAL.read_only AS ro');
  if (Number(ro?.ro) === 0) return [];
  return [
    {
      code: 'TARGET_READ_ONLY',
      message: `the target ${target} is read-only (a replica, or fenced by someone else)`,
      hint: 'restore in place into the writable primary; if an in-place restore of this server was killed, its fence is still up: check nothing else set it, then SET GLOBAL read_only = 0',
    },
  ];
}

/** A privilege the restore needs on a schema (or globally, when schema is null), and why. */
export interface PrivilegeNeed {
  privilege: string;
  schema: string | null;
  why: string;
}

/** What loading `schemas` (and dropping `drop`) needs, per schema. */
export function privilegeNeeds(schemas: readonly SchemaManifest[], drop: readonly string[], loadUsers: boolean): PrivilegeNeed[] {
  const needs: PrivilegeNeed[] = [];
  const need = (privilege: string, schema: string | null, why: string): void => void needs.push({ privilege, schema, why });
  for (const s of schemas) {
    need('CREATE', s.name, 'to create the schema and its tables');
    need('SELECT', s.name, 'to check what was loaded');
    if (s.tables.some((t) => t.includesData && t.dataFiles.length > 0)) need('INSERT', s.name, 'to load the data');
    if (s.tables.length > 0) need('ALTER', s.name, 'to build the indexes held back during the load');
    if (s.views.length > 0) {
      need('CREATE VIEW', s.name, 'to create its views');
      need('DROP', s.name, 'to replace the view placeholders');
    }
    if (s.functions.length + s.procedures.length > 0) {
      need('CREATE ROUTINE', s.name, 'to create its routines');
      need('ALTER ROUTINE', s.name, 'to replace its routines');
    }
    if (s.tables.some((t) => t.triggers.length > 0)) need('TRIGGER', s.name, 'to create its triggers');
    if (s.events.length > 0) need('EVENT', s.name, 'to create its events');
  }
  for (const s of drop) need('DROP', s, 'to drop it before the restore');
  if (loadUsers) {
    need('CREATE USER', null, 'to create the accounts (--load-users)');
    need('GRANT OPTION', null, 'to grant the accounts their privileges (--load-users)');
  }
  return needs;
}

export function checkPrivileges(grants: Grants, needs: readonly PrivilegeNeed[]): Refusal[] {
  const missing = needs.filter((n) => !grants.has(n.privilege, n.schema));
  if (missing.length === 0) return [];
  // One line per privilege and schema, with every reason it is needed.
  const reasons = new Map<string, string[]>();
  for (const n of missing) {
    const on = `${n.privilege} on ${n.schema === null ? '*.*' : `${quoteId(n.schema)}.*`}`;
    reasons.set(on, [...(reasons.get(on) ?? []), n.why]);
  }
  const lines = [...reasons].map(([on, why]) => `${on} (${why.join(', ')})`);
  const grant = [...new Set(missing.map((n) => n.privilege))].join(', ');
  return [
    {
      code: 'RESTORE_PRIVILEGE_MISSING',
      message: `the account ${grants.currentUser} lacks privileges the restore needs: ${lines.join('; ')}`,
      hint: `grant them, e.g. GRANT ${grant} ON *.* TO <the restoring account>, and run again`,
    },
  ];
}

/**
 * DEFINER=… clauses of the dump's views, routines, triggers and events that name another account
 * than the restoring one: creating those needs the flavor's definer privilege.
 */
export function checkDefinerPrivilege(grants: Grants, flavor: Flavor, definers: ReadonlySet<string>): Refusal[] {
  const current = normalizeUserHost(grants.currentUser);
  const others = [...definers].filter((d) => normalizeUserHost(d) !== current);
  if (others.length === 0 || flavor.definerPrivileges.some((p) => grants.has(p, null))) return [];
  return [
    {
      code: 'RESTORE_PRIVILEGE_MISSING',
      message: `the dump creates objects whose DEFINER is another account (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}), which ${grants.currentUser} may not do`,
      hint: `grant ${flavor.definerPrivileges.join(' or ')} to the restoring account, or restore as an account that has it`,
    },
  ];
}

/** `'u'@'h'`, `` `u`@`h` `` or `u@h` → `u@h`. */
export function normalizeUserHost(text: string): string {
  const m = /^(?:`((?:[^`]|``)*)`|'((?:[^']|'')*)'|([^@]*))@(?:`((?:[^`]|``)*)`|'((?:[^']|'')*)'|(.*))$/.exec(text.trim());
  if (!m) return text.trim();
  const user = m[1]?.replace(/``/g, '`') ?? m[2]?.replace(/''/g, "'") ?? m[3] ?? '';
  const host = m[4]?.replace(/``/g, '`') ?? m[5]?.replace(/''/g, "'") ?? m[6] ?? '';
  return `${user}@${host}`;
}

/** Every account named in a DEFINER clause of `text`. */
export function definersIn(text: string): string[] {
  const out: string[] = [];
  const re = /DEFINER\s*=\s*((?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s@]+)@(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s*/]+))/gi;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]!);
  return out;
}

/**
 * Setting changes the load makes on its sessions, tried on the plan's session and put back: the
 * binary log switched off (skipBinlog), history rows written (system-versioned tables), and
 * other clients fenced off with the global read_only (whole-instance in-place restores).
 */
export async function probeSettings(
  session: MysqlSession,
  flavor: Flavor,
  wants: { skipBinlog: false | 'asked' | 'whole-instance'; insertHistory: boolean; fence: boolean },
): Promise<Refusal[]> {
  const refusals: Refusal[] = [];
  const tryIt = async (sql: string, undo: string | null, refusal: Omit<Refusal, 'message'> & { what: string }): Promise<void> => {
    try {
      await session.exec(sql);
      if (undo) await session.exec(undo);
    } catch (err) {
      if (!(err instanceof MysqlError)) throw err;
      refusals.push({ code: refusal.code, message: `${refusal.what} was refused: ${errorMessage(err).replace(/ while running: .*$/s, '')}`, hint: refusal.hint });
    }
  };
  if (wants.skipBinlog) {
    await tryIt('SET SESSION sql_log_bin = 0', 'SET SESSION sql_log_bin = 1', {
      code: 'SKIP_BINLOG_REFUSED',
      what: `keeping the load out of the binary log (SET sql_log_bin = 0${wants.skipBinlog === 'whole-instance' ? ', as a whole-instance restore in place does' : ''})`,
      hint:
        wants.skipBinlog === 'asked'
          ? 'grant SUPER (MySQL) or BINLOG ADMIN (MariaDB) to the restoring user, or load without --skip-binlog'
          : 'grant SUPER (MySQL) or BINLOG ADMIN (MariaDB) to the restoring user, or restore one schema in place (--include-schema), which goes to the binary log',
    });
  }
  if (wants.insertHistory) {
    if (!flavor.insertHistoryStatement) {
      refusals.push({
        code: 'TARGET_CANNOT_HOLD_HISTORY',
        message: `the dump holds system-versioned tables with their history, which ${flavor.info.version} cannot take (MariaDB 10.11 or later can)`,
        hint: 'restore into MariaDB 10.11 or later, or exclude the schemas that hold them',
      });
    } else {
      await tryIt(flavor.insertHistoryStatement, flavor.insertHistoryStatement.replace(/= 1$/, '= 0'), {
        code: 'TARGET_CANNOT_HOLD_HISTORY',
        what: 'writing the history rows of system-versioned tables',
        hint: 'allow it for the restoring account (MariaDB: system_versioning_insert_history, with secure_timestamp = NO), then run again',
      });
    }
  }
  if (wants.fence) {
    // Sets the global to the value it has: the privilege is checked, nothing changes.
    await tryIt('SET GLOBAL read_only = @@GLOBAL.read_only', null, {
      code: 'FENCE_REFUSED',
      what: 'fencing off other clients (SET GLOBAL read_only)',
      hint: 'grant READ_ONLY ADMIN and SUPER (MariaDB) or SUPER / SYSTEM_VARIABLES_ADMIN (MySQL) to the restoring user',
    });
  }
  return refusals;
}

/**
 * Every table whose largest binary value (recorded at dump time) is more than the target's
 * max_allowed_packet: FROM_BASE64 would turn it into NULL (mydumper/mydumper#1426).
 */
export async function checkLargestValues(session: MysqlSession, record: BackupRecord | null, schemas: readonly SchemaManifest[]): Promise<Refusal[]> {
  if (!record) return [];
  const [row] = await session.query<{ v: string | number }>('SELECT @@GLOBAL.max_allowed_packet AS v');
  const limit = Number(row?.v ?? 0);
  const columnsOf = new Map(schemas.flatMap((s) => s.tables).map((t) => [`${t.schema}\u0000${t.name}`, t.columns]));
  const refusals: Refusal[] = [];
  for (const t of record.tables) {
    const columns = columnsOf.get(`${t.schema}\u0000${t.table}`);
    if (!columns || !t.largestValue || t.largestValue.bytes <= limit) continue;
    const { bytes, columnIndex } = t.largestValue;
    refusals.push({
      code: 'TARGET_PACKET_TOO_SMALL',
      message: `${quoteId(t.schema)}.${quoteId(t.table)} holds a value of ${bytes} bytes (${formatBytes(bytes)}) in column ${quoteId(columns[columnIndex] ?? `#${columnIndex + 1}`)}, more than the target's max_allowed_packet of ${limit} bytes`,
      hint: `raise it on the target (SET GLOBAL max_allowed_packet = ${nextPacketSize(bytes)}, and in the server config), then run again`,
    });
  }
  return refusals;
}

/** A max_allowed_packet that takes `bytes`: the next MiB boundary above it (the server rounds to 1 KiB), at most 1 GiB. */
export function nextPacketSize(bytes: number): number {
  const mib = 1024 * 1024;
  return Math.min(1024 * mib, Math.ceil((bytes + 1024) / mib) * mib);
}

/** Objects of `schemas` the target already has, as `table \`s\`.\`t\`` labels, and the tables among them. */
export async function existingObjects(session: MysqlSession, schemas: readonly SchemaManifest[]): Promise<{ labels: string[]; tables: Array<{ schema: string; table: string }> }> {
  const actual = await readInventory(
    session,
    schemas.map((s) => s.name),
    null,
  );
  const have = new Set(actual.objects.map((o) => heldKey(o.kind, o.schema, o.name)));
  const labels: string[] = [];
  const tables: Array<{ schema: string; table: string }> = [];
  const q = (schema: string, name: string): string => `${quoteId(schema)}.${quoteId(name)}`;
  for (const s of schemas) {
    for (const t of s.tables) {
      if (have.has(heldKey('table', s.name, t.name))) {
        labels.push(`table ${q(s.name, t.name)}`);
        tables.push({ schema: s.name, table: t.name });
      }
      for (const trigger of t.triggers) if (have.has(heldKey('trigger', s.name, trigger))) labels.push(`trigger ${q(s.name, trigger)}`);
    }
    for (const v of s.views) if (have.has(heldKey('table', s.name, v.name))) labels.push(`view ${q(s.name, v.name)}`);
    for (const f of s.functions) if (have.has(heldKey('function', s.name, f))) labels.push(`function ${q(s.name, f)}`);
    for (const p of s.procedures) if (have.has(heldKey('procedure', s.name, p))) labels.push(`procedure ${q(s.name, p)}`);
    for (const e of s.events) if (have.has(heldKey('event', s.name, e))) labels.push(`event ${q(s.name, e)}`);
  }
  return { labels, tables };
}

export function existingObjectsRefusal(labels: readonly string[]): Refusal {
  const shown = labels.slice(0, 50).map((c) => `  ${c}`);
  if (labels.length > 50) shown.push(`  … and ${labels.length - 50} more`);
  return {
    code: 'TARGET_HAS_OBJECTS',
    message: `the target already holds ${labels.length} object(s) the dump would create:\n${shown.join('\n')}`,
    hint: 'drop them, exclude their schemas (--exclude-schema), or load into them anyway with --ignore-existing-objects',
  };
}

/**
 * Whether an earlier load's resume log may be continued on this target: a load it records as
 * finished is refused (run again, it would do nothing and report success), and so is one whose
 * finished steps the target does not hold (the schemas were dropped, or the server rebuilt at the
 * same address): resuming would skip work that is not there.
 */
export async function checkResumable(session: MysqlSession, progress: LoadProgress, manifest: DumpManifest, selected: readonly string[], pointInTime?: string): Promise<Refusal[]> {
  const completedAt = progress.completedAt(selected);
  const replay = progress.replay;
  if (completedAt && replay && !replay.completedAt) {
    // The load is done; the replay after it stopped: the same point-in-time restore resumes it,
    // provided the server still holds what that load made (a resumed replay into schemas dropped
    // since would end "restored" with the backup's rows gone).
    if (pointInTime === replay.target) return staleLoad(session, progress, manifest, selected);
    return [
      {
        code: 'PITR_REPLAY_INTERRUPTED',
        message: `this dump was loaded into this server (${completedAt.toISOString()}), and the point-in-time replay to ${replay.target} that followed began at ${replay.since} but did not finish (${progress.file}): the server holds the backup and part of the binlogs`,
        hint: `run the restore again with --stop-datetime ${replay.target} to resume the replay where it stopped; or drop the schemas it created and run with --reset-progress`,
      },
    ];
  }
  if (completedAt) {
    // A server rebuilt at the same address holds none of it: that log is stale, not a finished load here.
    const stale = await staleLoad(session, progress, manifest, selected);
    if (stale.length > 0) return stale;
    return [
      {
        code: 'LOAD_ALREADY_COMPLETE',
        message: `this dump (${selected.join(', ')}) was loaded completely into this server already (${completedAt.toISOString()}, ${progress.file})`,
        hint: 'to load it again, drop the schemas it created, then run with --reset-progress',
      },
    ];
  }
  return staleLoad(session, progress, manifest, selected);
}

/**
 * LOAD_PROGRESS_STALE when the progress file records finished steps (of the selected schemas)
 * whose objects or rows the server no longer holds: it was rebuilt, or the schemas dropped.
 */
async function staleLoad(session: MysqlSession, progress: LoadProgress, manifest: DumpManifest, selected: readonly string[]): Promise<Refusal[]> {
  // Only what this load would resume matters: steps of other schemas are another load's.
  const inSelection = new Set(selected);
  const steps = progress.doneSteps().filter((s) => s.schema !== undefined && inSelection.has(s.schema) && s.op !== 'LOAD-COMPLETE');
  if (steps.length === 0) return [];
  const schemaNames = [...new Set(steps.map((s) => s.schema).filter((s): s is string => s !== undefined))];
  const held = await readInventory(session, schemaNames, null);
  const schemaRows = await session.query<{ n: string }>('SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA');
  const target: HeldObjects = { schemas: new Set(schemaRows.map((r) => r.n)), objects: new Set(held.objects.map((o) => heldKey(o.kind, o.schema, o.name))) };
  const bySchema = new Map(manifest.schemas.map((s) => [s.name, s]));
  const lacking = steps.flatMap((step) => lackedBy(step, target, bySchema.get(step.schema ?? '')));
  lacking.push(...(await emptiedTables(session, steps, target, bySchema)));
  if (lacking.length === 0) return [];
  const shown = [...new Set(lacking)].slice(0, 10);
  return [
    {
      code: 'LOAD_PROGRESS_STALE',
      message: `${progress.file} records an earlier load into this server that the server does not hold (${shown.join(', ')}${lacking.length > shown.length ? ', …' : ''}): the server was rebuilt or changed since`,
      hint: 'start the load over with --reset-progress',
    },
  ];
}

/** What the target holds, by heldKey. */
interface HeldObjects {
  schemas: Set<string>;
  objects: Set<string>;
}

function heldKey(kind: string, schema: string, name: string): string {
  return objectKey({ kind, schema, name });
}

/** The objects a finished DDL step made that the target does not hold, as labels. */
function lackedBy(step: DoneStep, target: HeldObjects, schema: SchemaManifest | undefined): string[] {
  const name = step.schema ?? '';
  const missing = (kind: string, objects: readonly string[]): string[] =>
    objects.filter((o) => !target.objects.has(heldKey(kind, name, o))).map((o) => `${kind} ${quoteId(name)}.${quoteId(o)}`);
  switch (step.op) {
    case 'SCHEMA-DDL':
      return target.schemas.has(name) ? [] : [`schema ${quoteId(name)}`];
    case 'TABLE-DDL':
    case 'VIEW-DDL':
      return step.table ? missing(step.op === 'VIEW-DDL' ? 'view' : 'table', [step.table]) : [];
    case 'ROUTINES-DDL':
      return [...missing('function', schema?.functions ?? []), ...missing('procedure', schema?.procedures ?? [])];
    case 'TRIGGERS-DDL':
      return missing('trigger', schema?.tables.find((t) => t.name === step.table)?.triggers ?? []);
    case 'EVENTS-DDL':
      return missing('event', schema?.events ?? []);
    default:
      return [];
  }
}

/** Tables an earlier run loaded rows into (that still exist) which hold none now. */
async function emptiedTables(session: MysqlSession, steps: readonly DoneStep[], target: HeldObjects, bySchema: ReadonlyMap<string, SchemaManifest>): Promise<string[]> {
  const loaded = new Map<string, { schema: string; table: string }>();
  for (const step of steps) {
    if (step.op !== 'TABLE-DATA' || !step.table || !step.schema || (step.rows ?? 0) === 0) continue;
    if (target.objects.has(heldKey('table', step.schema, step.table))) loaded.set(`${quoteId(step.schema)}.${quoteId(step.table)}`, { schema: step.schema, table: step.table });
  }
  const emptied: string[] = [];
  for (const [label, t] of loaded) {
    const table = bySchema.get(t.schema)?.tables.find((x) => x.name === t.table) ?? { schema: t.schema, name: t.table, systemVersioning: null };
    const rows = await session.query(`SELECT 1 FROM ${everyRowOf(table)} LIMIT 1`);
    if (rows.length === 0) emptied.push(`the rows of table ${label}`);
  }
  return emptied;
}

/** The accounts of the dump the target lacks (to create) and has (left alone); the restoring account is never touched. */
export async function splitAccounts(session: MysqlSession, flavor: Flavor, dumped: readonly string[], currentUser: string): Promise<{ create: string[]; kept: string[] }> {
  const existing = new Set((await flavor.listAccounts(session)).map((a) => accountName(a.user, a.role ? '' : a.host)));
  const at = currentUser.lastIndexOf('@');
  const me = at === -1 ? currentUser : accountName(currentUser.slice(0, at), currentUser.slice(at + 1));
  return { create: dumped.filter((a) => !existing.has(a) && a !== me), kept: dumped.filter((a) => existing.has(a) || a === me) };
}
