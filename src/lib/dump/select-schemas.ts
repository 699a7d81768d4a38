/**
 * Which schemas a dump takes: every user schema, narrowed by includeSchemas and excludeSchemas.
 * A selection that names a schema the server does not have (a typo), or that holds no table at
 * all, is refused as bad usage (ConfigError, exit 2) before anything is written: a backup of
 * nothing must never be recorded as a success, become `latest`, or count for retention.
 */
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { MysqlSession } from '../mysql/connection.js';
import { listSchemas } from '../mysql/introspect.js';

export interface SchemaSelection {
  includeSchemas: readonly string[];
  excludeSchemas: readonly string[];
}

/** How the user wrote a selection field: a flag (`--include-schema`) or a config path. */
export type SelectionFieldName = (field: keyof SchemaSelection) => string;

export const configFieldNames: SelectionFieldName = (field) => `dump.${field}`;

/**
 * The schemas to dump, in name order. Throws ConfigError naming the field when an included
 * schema does not exist or the selection holds no table; logs a warning for excluded schemas the
 * server does not have.
 */
export async function selectSchemas(
  session: MysqlSession,
  systemSchemas: readonly string[],
  selection: SchemaSelection,
  context: { target: string; logger: Logger; fieldName?: SelectionFieldName },
): Promise<string[]> {
  const fieldName = context.fieldName ?? configFieldNames;
  const all = await listSchemas(session, { include: [], exclude: [], system: systemSchemas });
  const missing = selection.includeSchemas.filter((s) => !all.includes(s));
  if (missing.length > 0) {
    throw new ConfigError(
      missing.map((s) => ({ path: fieldName('includeSchemas'), message: `"${s}" matches no schema on ${context.target}; it has: ${all.join(', ') || '(no user schemas)'}` })),
      { hint: 'check the spelling; schema names are case-sensitive' },
    );
  }
  const unknownExcludes = selection.excludeSchemas.filter((s) => !all.includes(s));
  if (unknownExcludes.length > 0) context.logger.warn('schemas named in excludeSchemas do not exist on the server', { schemas: unknownExcludes.join(', ') });
  const selected = await listSchemas(session, { include: selection.includeSchemas, exclude: selection.excludeSchemas, system: systemSchemas });
  const tables = selected.length === 0 ? 0 : await countTables(session, selected);
  if (tables === 0) {
    const field = selection.includeSchemas.length > 0 ? fieldName('includeSchemas') : selection.excludeSchemas.length > 0 ? fieldName('excludeSchemas') : '';
    const what = selected.length === 0 ? 'no schema' : `schemas without a single table (${selected.join(', ')})`;
    throw new ConfigError([{ path: field, message: `the backup would hold ${what}: there is nothing to back up on ${context.target}` }], {
      hint: field ? `change ${field} so that it selects the schemas to back up` : 'create the schemas to back up first',
    });
  }
  return selected;
}

async function countTables(session: MysqlSession, schemas: readonly string[]): Promise<number> {
  const [row] = await session.query<{ n: string | number }>(
    `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_TYPE <> 'VIEW' AND TABLE_SCHEMA IN (${schemas.map(() => '?').join(', ')})`,
    schemas,
  );
  return Number(row?.n ?? 0);
}
