/**
 * Reads `@.users.sql` (MySQL Shell's layout, also bloodraven's): the statements of each account,
 * by the `-- begin user|grants|default role <account>` markers they sit between. Markers name the
 * account as `'u'@'h'` (dump format 2.x) or `u@h` (1.x); both are read as `'u'@'h'`.
 */
import { accountName } from '../mysql/inventory.js';
import { splitSqlScript, type SqlStatement } from './sql-script.js';

export type UserSectionKind = 'user' | 'grants' | 'default role';

export interface AccountSection {
  kind: UserSectionKind;
  /** `'user'@'host'`. */
  account: string;
  statements: SqlStatement[];
}

/** `'u'@'h'`, `u@h` or `` `u`@`h` `` → `'u'@'h'`. */
export function normalizeAccountName(text: string): string {
  const t = text.trim();
  const quoted = /^(['`"])((?:[^\\]|\\.)*?)\1@(['`"])((?:[^\\]|\\.)*?)\3$/.exec(t);
  if (quoted) return accountName(unescape(quoted[2]!), unescape(quoted[4]!));
  const at = t.lastIndexOf('@');
  return at === -1 ? accountName(t, '%') : accountName(t.slice(0, at), t.slice(at + 1));
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1').replace(/''/g, "'");
}

/** The marked sections of the script, in script order; statements outside markers are dropped. */
export function accountSections(text: string): AccountSection[] {
  const statements = splitSqlScript(text);
  const ranges: Array<{ kind: UserSectionKind; account: string; from: number; to: number }> = [];
  let open: { kind: UserSectionKind; account: string; from: number } | undefined;
  text.split('\n').forEach((line, i) => {
    const m = /^-- (begin|end) (user|grants|default role) (.+)$/.exec(line.trimEnd());
    if (!m) return;
    if (m[1] === 'begin') open = { kind: m[2] as UserSectionKind, account: normalizeAccountName(m[3]!), from: i + 1 };
    else if (open) {
      ranges.push({ ...open, to: i + 1 });
      open = undefined;
    }
  });
  return ranges.map((r) => ({ kind: r.kind, account: r.account, statements: statements.filter((s) => s.line > r.from && s.line < r.to) }));
}
