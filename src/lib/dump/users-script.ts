/**
 * `@.users.sql` (FORMAT.md §1): the accounts and roles of the source, one statement per line,
 * grouped between MySQL Shell's markers `-- begin user 'u'@'h'`, `-- begin grants 'u'@'h'` and
 * `-- begin default role 'u'@'h'` (each closed by its `-- end` line). All accounts come first,
 * then all grants (a grant may name a role), then default roles.
 */
import type { AccountStatements, ServerAccount } from '../mysql/flavor.js';
import { accountName } from '../mysql/inventory.js';

export interface DumpedAccount {
  account: ServerAccount;
  statements: AccountStatements;
}

/** Names a role with the empty host, as MariaDB keeps it. */
export function nameOfAccount(a: ServerAccount): string {
  return accountName(a.user, a.role ? '' : a.host);
}

export function usersScript(header: string, accounts: readonly DumpedAccount[]): string {
  const block = (marker: string, name: string, statements: readonly string[]): string[] =>
    statements.length === 0 ? [] : [`-- begin ${marker} ${name}`, ...statements.map((s) => `${s.replace(/;\s*$/, '')};`), `-- end ${marker} ${name}`, ''];
  const lines: string[] = [header, '--', '-- Dumping user accounts', '--', ''];
  for (const a of accounts) lines.push(...block('user', nameOfAccount(a.account), [a.statements.create]));
  for (const a of accounts) lines.push(...block('grants', nameOfAccount(a.account), a.statements.grants));
  for (const a of accounts) lines.push(...block('default role', nameOfAccount(a.account), a.statements.defaultRoles));
  return lines.join('\n') + '\n';
}
