/**
 * What a load checks once everything is in: that the target holds every object the dump's
 * inventory lists (in the loaded schemas), and which objects name a DEFINER account the target
 * does not have (such a view or routine fails when used, ERROR 1449).
 */
import { AppError, ExitCode, MysqlError } from '../errors.js';
import type { MysqlSession } from '../mysql/connection.js';
import type { Flavor } from '../mysql/flavor.js';
import { accountName, compareInventory, describeDifference, inventoryMatches, readInventory } from '../mysql/inventory.js';
import type { LoadPlan } from './load-plan.js';

/** Throws LOAD_INCOMPLETE naming every object of the plan's inventory the target lacks; returns how many objects were found. */
export async function checkInventory(session: MysqlSession, flavor: Flavor, plan: LoadPlan): Promise<number> {
  const schemas = plan.schemas.map((s) => s.name);
  const accounts = plan.users ? (await flavor.listAccounts(session)).map((a) => accountName(a.user, a.role ? '' : a.host)) : null;
  const actual = await readInventory(session, schemas, accounts);
  const difference = compareInventory(plan.inventory, actual, { schemas, accounts: plan.users !== null });
  if (!inventoryMatches(difference)) {
    throw new AppError('LOAD_INCOMPLETE', `the target does not hold everything the backup holds:\n${describeDifference(difference)}`, ExitCode.failure, {
      hint: 'the restore is incomplete; look at the log above for what failed, fix it and run the restore again',
    });
  }
  const loaded = new Set(schemas);
  return plan.inventory.objects.filter((o) => loaded.has(o.schema)).length;
}

/** An object whose definer the target lacks. */
export interface MissingDefiner {
  /** `view \`s\`.\`v\`` */
  object: string;
  /** `'user'@'host'` */
  definer: string;
}

/**
 * The views, routines, triggers and events of `schemas` whose DEFINER is not an account of the
 * target; null when the accounts cannot be read (the check is then skipped).
 */
export async function findMissingDefiners(session: MysqlSession, schemas: readonly string[]): Promise<MissingDefiner[] | null> {
  if (schemas.length === 0) return [];
  let accounts: Set<string>;
  try {
    const rows = await session.query<{ u: string; h: string }>('SELECT User AS u, Host AS h FROM mysql.user');
    accounts = new Set(rows.map((r) => `${r.u}@${r.h}`));
  } catch (err) {
    if (err instanceof MysqlError && err.code === 'MYSQL_PRIVILEGE_MISSING') return null;
    throw err;
  }
  const inList = schemas.map(() => '?').join(', ');
  const rows = await session.query<{ kind: string; s: string; n: string; d: string }>(
    `SELECT 'view' AS kind, TABLE_SCHEMA AS s, TABLE_NAME AS n, DEFINER AS d FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN (${inList})
     UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_SCHEMA, ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN (${inList})
     UNION ALL SELECT 'trigger', TRIGGER_SCHEMA, TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN (${inList})
     UNION ALL SELECT 'event', EVENT_SCHEMA, EVENT_NAME, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN (${inList})`,
    [...schemas, ...schemas, ...schemas, ...schemas],
  );
  const missing: MissingDefiner[] = [];
  for (const r of rows) {
    const at = r.d.lastIndexOf('@');
    // A role as definer has no host; CURRENT_USER-style definers always have one.
    if (at === -1 || accounts.has(r.d)) continue;
    missing.push({ object: `${r.kind} \`${r.s}\`.\`${r.n}\``, definer: accountName(r.d.slice(0, at), r.d.slice(at + 1)) });
  }
  return missing.sort((a, b) => a.object.localeCompare(b.object));
}
