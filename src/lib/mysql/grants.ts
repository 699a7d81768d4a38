/**
 * The privileges of the connected account, read from `SHOW GRANTS` (which lists the account's
 * grants and those of its active role), so that a restore can refuse before it touches anything
 * when the account could not finish it. Only global (`*.*`) and schema-level (`db`.*) grants are
 * read: they are what creating and dropping schemas needs. Schema names in grants may hold the
 * LIKE wildcards `%` and `_` (with `\` escaping them), as the server reads them.
 */
import type { MysqlSession } from './connection.js';

export interface Grants {
  /** `CURRENT_USER()`: the account the server matched, `user@host`. */
  readonly currentUser: string;
  /** Whether the account holds `privilege` (upper case, e.g. `CREATE VIEW`) on `schema`, or globally when schema is null. */
  has(privilege: string, schema: string | null): boolean;
}

interface Grant {
  privileges: Set<string>;
  /** null: `*.*`; otherwise the schema pattern. */
  schema: string | null;
}

/** Reads the account's grants. */
export async function readGrants(session: MysqlSession): Promise<Grants> {
  const rows = await session.query<Record<string, string>>('SHOW GRANTS');
  const [who] = await session.query<{ u: string }>('SELECT CURRENT_USER() AS u');
  return parseGrants(
    rows.map((r) => Object.values(r)[0] ?? ''),
    who?.u ?? '',
  );
}

/** Parses SHOW GRANTS lines (exported for unit tests on recorded answers). */
export function parseGrants(lines: readonly string[], currentUser: string): Grants {
  const grants: Grant[] = [];
  for (const line of lines) {
    const m = /^GRANT\s+(.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?: BODY)?)\s+)?(\S+)\s+TO\s/i.exec(line);
    if (!m) continue;
    const target = parseTarget(m[2]!);
    if (target === undefined) continue;
    grants.push({ privileges: new Set(splitPrivileges(m[1]!)), schema: target });
  }
  return {
    currentUser,
    has(privilege, schema) {
      const wanted = privilege.toUpperCase();
      return grants.some(
        (g) => (g.privileges.has(wanted) || g.privileges.has('ALL PRIVILEGES') || g.privileges.has('ALL')) && (g.schema === null || (schema !== null && likeMatch(g.schema, schema))),
      );
    },
  };
}

/** `*.*` → null; `` `db`.* `` → db; a table or routine grant → undefined (not used here). */
function parseTarget(text: string): string | null | undefined {
  if (text === '*.*') return null;
  const m = /^`((?:[^`]|``)*)`\.\*$/.exec(text) ?? /^([^`.]+)\.\*$/.exec(text);
  return m ? m[1]!.replace(/``/g, '`') : undefined;
}

/** `SELECT, INSERT (col), CREATE VIEW` → ['SELECT', 'INSERT', 'CREATE VIEW'] (column lists dropped). */
function splitPrivileges(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else if (depth === 0) current += ch;
  }
  out.push(current);
  return out.map((p) => p.trim().replace(/\s+/g, ' ').toUpperCase()).filter(Boolean);
}

/** The server's match of a schema-level grant: LIKE wildcards, `\` escapes. */
function likeMatch(pattern: string, name: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\' && i + 1 < pattern.length) re += escapeRegExp(pattern[++i]!);
    else if (ch === '%') re += '.*';
    else if (ch === '_') re += '.';
    else re += escapeRegExp(ch);
  }
  return new RegExp(`^${re}$`, 's').test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
