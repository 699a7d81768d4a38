import { describe, expect, it } from 'vitest';
import { parseGrants } from '../../src/lib/mysql/grants.js';
import { definersIn, normalizeUserHost } from '../../src/lib/restore/target-checks.js';

describe('reading SHOW GRANTS', () => {
  it('takes global, schema (with LIKE wildcards) and active-role grants; ignores table, routine and role-membership lines', () => {
    const g = parseGrants(
      [
        'GRANT `dba` TO `r`@`%`',
        "GRANT USAGE ON *.* TO `r`@`%` IDENTIFIED BY PASSWORD '*D82'",
        'GRANT SELECT, INSERT (a, b), CREATE VIEW ON `shop`.* TO `r`@`%`',
        'GRANT DROP ON `tenant\\_%`.* TO `r`@`%`',
        'GRANT ALTER ON `crm`.`people` TO `r`@`%`',
        'GRANT EXECUTE ON PROCEDURE `crm`.`p` TO `r`@`%`',
        'GRANT EVENT ON *.* TO `dba`',
      ],
      'r@%',
    );
    expect(g.currentUser).toBe('r@%');
    expect(g.has('SELECT', 'shop')).toBe(true);
    expect(g.has('INSERT', 'shop')).toBe(true);
    expect(g.has('CREATE VIEW', 'shop')).toBe(true);
    expect(g.has('SELECT', 'crm')).toBe(false);
    // A table-level grant does not let the account create or drop the schema's tables.
    expect(g.has('ALTER', 'crm')).toBe(false);
    expect(g.has('DROP', 'tenant_1')).toBe(true);
    expect(g.has('DROP', 'tenantX1')).toBe(false);
    expect(g.has('EVENT', 'anything')).toBe(true);
    expect(g.has('EVENT', null)).toBe(true);
    expect(g.has('CREATE', null)).toBe(false);
  });

  it('reads ALL PRIVILEGES as every privilege', () => {
    const g = parseGrants(['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION'], 'root@localhost');
    for (const p of ['CREATE', 'DROP', 'SET USER', 'CREATE ROUTINE']) expect(g.has(p, 'x'), p).toBe(true);
  });
});

describe('definers in dump scripts', () => {
  it('finds every DEFINER clause, quoted or not, and names accounts alike however they are quoted', () => {
    const text = "CREATE DEFINER=`app`@`%` SQL SECURITY DEFINER VIEW v AS SELECT 1;\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\nCREATE DEFINER='o''k'@'h' PROCEDURE p() SELECT 1";
    expect(definersIn(text)).toEqual(['`app`@`%`', '`root`@`localhost`', "'o''k'@'h'"]);
    expect(definersIn(text).map(normalizeUserHost)).toEqual(['app@%', 'root@localhost', "o'k@h"]);
    expect(normalizeUserHost('root@localhost')).toBe('root@localhost');
  });
});
