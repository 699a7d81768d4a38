import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventIfNotExists, schemaScript, tableScript, triggersScript, viewPlaceholderScript, viewScript, type DdlContext } from '../../src/lib/dump/ddl.js';
import type { MysqlSession, Row } from '../../src/lib/mysql/connection.js';
import { splitSqlScript, SqlScriptError, SqlScriptReader, type SqlStatement } from '../../src/lib/load/sql-script.js';

const sqls = (text: string): string[] => splitSqlScript(text).map((s) => s.sql);
const lines = (...parts: string[]): string => parts.join('\n');

describe('splitSqlScript: statements and delimiters', () => {
  it('splits at ; and trims, with the 1-based line each statement starts on', () => {
    expect(splitSqlScript('SELECT 1;\n  SELECT 2 ;\n\nSELECT\n  3;')).toEqual([
      { sql: 'SELECT 1', line: 1 },
      { sql: 'SELECT 2', line: 2 },
      { sql: 'SELECT\n  3', line: 4 },
    ]);
  });

  it('returns a final statement that has no delimiter', () => {
    expect(splitSqlScript('SELECT 1;\nSELECT 2\n')).toEqual([
      { sql: 'SELECT 1', line: 1 },
      { sql: 'SELECT 2', line: 2 },
    ]);
  });

  it('drops empty statements and returns nothing for empty or comment-only text', () => {
    expect(sqls(';;  ;\nSELECT 1;;\n;')).toEqual(['SELECT 1']);
    expect(sqls('')).toEqual([]);
    expect(sqls('  \n\t\n')).toEqual([]);
    expect(sqls('-- header\n# more\n/* a block; comment */\n--\n')).toEqual([]);
  });

  it('puts several statements on one line apart', () => {
    expect(splitSqlScript('SET @a = 1; SET @b = 2;SELECT @a')).toEqual([
      { sql: 'SET @a = 1', line: 1 },
      { sql: 'SET @b = 2', line: 1 },
      { sql: 'SELECT @a', line: 1 },
    ]);
  });

  it('ignores the delimiter inside strings and quoted identifiers', () => {
    expect(sqls(`SELECT 'a;b', "c;d", \`e;f\`; SELECT 2;`)).toEqual([`SELECT 'a;b', "c;d", \`e;f\``, 'SELECT 2']);
  });

  it('honours backslash escapes in strings but not in identifiers', () => {
    expect(sqls(String.raw`SELECT 'it\'s;', "say \";\"", 'C:\\'; SELECT 2;`)).toEqual([String.raw`SELECT 'it\'s;', "say \";\"", 'C:\\'`, 'SELECT 2']);
    expect(sqls('SELECT 1 AS `back\\`; SELECT 2;')).toEqual(['SELECT 1 AS `back\\`', 'SELECT 2']);
  });

  it('treats doubled quotes as escaped quotes', () => {
    expect(sqls("SELECT 'it''s;'; SELECT \"a\"\";b\"; SELECT 1 AS `x``;y`; SELECT 4")).toEqual([
      "SELECT 'it''s;'",
      'SELECT "a"";b"',
      'SELECT 1 AS `x``;y`',
      'SELECT 4',
    ]);
  });

  it('keeps strings and identifiers that span lines, counting their lines', () => {
    const stmts = splitSqlScript("INSERT INTO t VALUES ('a\nb;\nc');\nSELECT `x\ny`;\nSELECT 3;");
    expect(stmts).toEqual([
      { sql: "INSERT INTO t VALUES ('a\nb;\nc')", line: 1 },
      { sql: 'SELECT `x\ny`', line: 4 },
      { sql: 'SELECT 3', line: 6 },
    ]);
  });

  it('handles CRLF line endings', () => {
    const text = 'SELECT 1;\r\n-- note\r\nDELIMITER ;;\r\nCREATE PROCEDURE p()\r\nBEGIN SELECT 1; END ;;\r\nDELIMITER ;\r\nSELECT 2;\r\n';
    expect(splitSqlScript(text)).toEqual([
      { sql: 'SELECT 1', line: 1 },
      { sql: 'CREATE PROCEDURE p()\r\nBEGIN SELECT 1; END', line: 4 },
      { sql: 'SELECT 2', line: 7 },
    ]);
  });

  it('skips a UTF-8 byte order mark', () => {
    expect(splitSqlScript('\uFEFFDELIMITER //\nSELECT 1//\n')).toEqual([{ sql: 'SELECT 1', line: 2 }]);
  });
});

describe('splitSqlScript: comments', () => {
  it('drops comments before a statement so that it starts at real SQL', () => {
    const text = lines('-- header', '#  another', '/* block', '   comment; */', '', '-- begin function s.f', 'SELECT 1;', '-- end function s.f', '');
    expect(splitSqlScript(text)).toEqual([{ sql: 'SELECT 1', line: 7 }]);
    expect(sqls('/* lead; */ SELECT 1; -- trailing; comment\nSELECT 2;')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('keeps comments inside a statement, and a delimiter inside them does not end it', () => {
    const body = lines('CREATE PROCEDURE p()', 'BEGIN', '  -- a comment; with ;', '  # hash; comment', '  /* block; comment */', '  SELECT 1 /* ; */ + 1;', 'END');
    expect(sqls(`DELIMITER ;;\n${body} ;;\nDELIMITER ;\n`)).toEqual([body]);
    expect(sqls('SELECT 1 -- one;\n + 1;')).toEqual(['SELECT 1 -- one;\n + 1']);
    expect(sqls('SELECT 1 # one;\n + 1;')).toEqual(['SELECT 1 # one;\n + 1']);
  });

  it('needs a blank after -- for a comment, as the server does', () => {
    expect(sqls('SELECT 1--1;\nSELECT 2--\tx;\n3;')).toEqual(['SELECT 1--1', 'SELECT 2--\tx;\n3']);
    expect(sqls('SELECT 1;\n--')).toEqual(['SELECT 1']);
  });

  it('keeps executable comments and optimizer hints as statement text', () => {
    expect(sqls('/*!40101 SET @saved_cs_client = @@character_set_client */;\n/*!50503 SET character_set_client = utf8mb4 */;')).toEqual([
      '/*!40101 SET @saved_cs_client = @@character_set_client */',
      '/*!50503 SET character_set_client = utf8mb4 */',
    ]);
    expect(sqls('SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1;')).toEqual(['SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1']);
    expect(sqls('/*M!100101 SET STATEMENT max_statement_time=1 FOR */ SELECT 1;')).toEqual(['/*M!100101 SET STATEMENT max_statement_time=1 FOR */ SELECT 1']);
    expect(sqls('/*!*/;')).toEqual(['/*!*/']);
  });

  it('does not end a statement at a delimiter inside an executable comment', () => {
    const trigger = lines('/*!50003 CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW', 'begin', '  set @x = 1;', 'end */');
    expect(sqls(`/*!50003 SET x=1 */; ${trigger};\nSELECT 2;`)).toEqual(['/*!50003 SET x=1 */', trigger, 'SELECT 2']);
  });

  it('tracks quotes inside executable comments, so a quoted */ does not close them', () => {
    const view = "/*!50001 CREATE VIEW `v` AS select '*/;' AS `x`, `a*/` AS `y` from `t` */";
    expect(sqls(`${view};\nSELECT 2;`)).toEqual([view, 'SELECT 2']);
  });

  it('drops a comment-only region between statements, including plain comments that contain SQL', () => {
    const text = lines(
      "CREATE USER IF NOT EXISTS 'u'@'%' IDENTIFIED BY 'x';",
      "/* ALTER USER 'u'@'%' IDENTIFIED BY 'x'; */",
      "-- end user 'u'@'%'",
      "GRANT USAGE ON *.* TO 'u'@'%';",
    );
    expect(splitSqlScript(text)).toEqual([
      { sql: "CREATE USER IF NOT EXISTS 'u'@'%' IDENTIFIED BY 'x'", line: 1 },
      { sql: "GRANT USAGE ON *.* TO 'u'@'%'", line: 4 },
    ]);
  });
});

describe('splitSqlScript: DELIMITER', () => {
  it('switches the delimiter; the DELIMITER lines are not statements', () => {
    const text = lines('SELECT 1;', 'DELIMITER $$', 'CREATE FUNCTION f() RETURNS INT', 'BEGIN', '  RETURN 1;', 'END $$', 'delimiter //', 'SELECT 2//', '  Delimiter ;', 'SELECT 3;');
    expect(splitSqlScript(text)).toEqual([
      { sql: 'SELECT 1', line: 1 },
      { sql: 'CREATE FUNCTION f() RETURNS INT\nBEGIN\n  RETURN 1;\nEND', line: 3 },
      { sql: 'SELECT 2', line: 8 },
      { sql: 'SELECT 3', line: 10 },
    ]);
  });

  it('does not end a statement at a prefix of a longer delimiter', () => {
    const text = lines('DELIMITER ;;', 'BEGIN NOT ATOMIC SELECT 1; SELECT 2; END;;', 'SELECT 3 ;;', 'DELIMITER ;');
    expect(sqls(text)).toEqual(['BEGIN NOT ATOMIC SELECT 1; SELECT 2; END', 'SELECT 3']);
  });

  it('ignores the rest of the DELIMITER line', () => {
    expect(sqls('DELIMITER ;; -- routines follow\nSELECT 1; SELECT 2;;\n')).toEqual(['SELECT 1; SELECT 2']);
  });

  it('recognises DELIMITER only as the first word of a line outside quotes and comments', () => {
    expect(sqls("SELECT 'x\nDELIMITER $$\n';\nSELECT 2;")).toEqual(["SELECT 'x\nDELIMITER $$\n'", 'SELECT 2']);
    expect(sqls('/*\nDELIMITER $$\n*/ SELECT 1;\nSELECT 2;')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(sqls('SELECT 1 AS x, 2 AS delimiter ;\nSELECT 3;')).toEqual(['SELECT 1 AS x, 2 AS delimiter', 'SELECT 3']);
    expect(sqls('DELIMITERS $$\nSELECT 1;')).toEqual(['DELIMITERS $$\nSELECT 1']);
  });

  it('flushes a pending statement at a DELIMITER line, as the client does', () => {
    // A routine body may end in a line comment, which then hides the ` ;;` written after it;
    // the DELIMITER line that follows still ends the statement.
    const text = lines('DELIMITER ;;', 'CREATE PROCEDURE p() SELECT 1 -- trailing comment ;;', 'DELIMITER ;', 'SELECT 2;');
    expect(splitSqlScript(text)).toEqual([
      { sql: 'CREATE PROCEDURE p() SELECT 1 -- trailing comment ;;', line: 2 },
      { sql: 'SELECT 2', line: 4 },
    ]);
  });

  it('rejects DELIMITER without a new delimiter', () => {
    expect(() => splitSqlScript('SELECT 1;\nDELIMITER \n')).toThrow(SqlScriptError);
    expect(() => splitSqlScript('SELECT 1;\nDELIMITER \n')).toThrow(/line 2: DELIMITER must be followed/);
  });
});

describe('splitSqlScript: broken scripts and sql_mode', () => {
  it('reports an unterminated quote or comment with the line it opened on', () => {
    expect(() => splitSqlScript("SELECT 1;\nSELECT 'abc;\n")).toThrow(/line 2: unterminated quoted string/);
    expect(() => splitSqlScript('SELECT `abc;')).toThrow(/line 1: unterminated quoted identifier/);
    expect(() => splitSqlScript('SELECT 1;\n\n/* open')).toThrow(/line 3: unterminated \/\* comment/);
    expect(() => splitSqlScript('/*!50001 CREATE VIEW v AS SELECT 1;')).toThrow(/line 1: unterminated \/\*! comment/);
    const err = (() => {
      try {
        splitSqlScript('\n\n"x');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SqlScriptError);
    expect(err).toMatchObject({ code: 'SQL_SCRIPT_INVALID', line: 3 });
  });

  it('follows NO_BACKSLASH_ESCAPES through the sql_mode SET statements of a dump', () => {
    // SHOW CREATE FUNCTION of `RETURN 'C:\'` created under NO_BACKSLASH_ESCAPES (MariaDB 10.11).
    const create = "CREATE DEFINER=`root`@`localhost` FUNCTION `nbe`() RETURNS varchar(20) CHARSET latin1 COLLATE latin1_swedish_ci\n    DETERMINISTIC\nRETURN 'C:\\'";
    const text = lines(
      '/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;',
      "/*!50003 SET sql_mode              = 'NO_BACKSLASH_ESCAPES' */ ;",
      'DELIMITER ;;',
      `${create} ;;`,
      'DELIMITER ;',
      '/*!50003 SET sql_mode              = @saved_sql_mode */ ;',
      String.raw`SELECT 'it\'s';`,
    );
    expect(sqls(text)).toEqual([
      '/*!50003 SET @saved_sql_mode       = @@sql_mode */',
      "/*!50003 SET sql_mode              = 'NO_BACKSLASH_ESCAPES' */",
      create,
      '/*!50003 SET sql_mode              = @saved_sql_mode */',
      String.raw`SELECT 'it\'s'`,
    ]);
    expect(sqls("SET SESSION sql_mode = 'ANSI,NO_BACKSLASH_ESCAPES';\nSELECT 'C:\\';\nSET @@sql_mode = '';\nSELECT 'it\\'s';")).toEqual([
      "SET SESSION sql_mode = 'ANSI,NO_BACKSLASH_ESCAPES'",
      "SELECT 'C:\\'",
      "SET @@sql_mode = ''",
      "SELECT 'it\\'s'",
    ]);
  });

  it('lets the caller set NO_BACKSLASH_ESCAPES between statements', () => {
    const reader = new SqlScriptReader("SELECT 'C:\\';\nSELECT 'a\\';b';", { noBackslashEscapes: true });
    expect(reader.next()).toEqual({ sql: "SELECT 'C:\\'", line: 1 });
    reader.noBackslashEscapes = false;
    expect(reader.next()).toEqual({ sql: "SELECT 'a\\';b'", line: 2 });
    expect(reader.next()).toBeUndefined();
    // Without the flag the same backslash escapes the closing quote.
    expect(() => splitSqlScript("SELECT 'C:\\';")).toThrow(SqlScriptError);
  });

  it('reports the delimiter in force', () => {
    const reader = new SqlScriptReader('SELECT 1;\nDELIMITER $$\nSELECT 2$$\n');
    expect(reader.delimiter).toBe(';');
    reader.next();
    reader.next();
    expect(reader.delimiter).toBe('$$');
  });

  it('splits a large script in linear time', () => {
    const routine = (i: number): string =>
      lines(
        `-- begin procedure s.p${i}`,
        `/*!50003 DROP PROCEDURE IF EXISTS \`p${i}\` */;`,
        'DELIMITER ;;',
        `CREATE DEFINER=\`root\`@\`localhost\` PROCEDURE \`p${i}\`(IN a INT)`,
        'BEGIN',
        "  -- keep 'this' comment; it is part of the body",
        `  SELECT a, 'text; with ;; delimiters', "and \\"quotes\\"" FROM t${i} WHERE x = ${i};`,
        'END ;;',
        'DELIMITER ;',
        `-- end procedure s.p${i}`,
        '',
      );
    const text = Array.from({ length: 20_000 }, (_, i) => routine(i)).join('\n');
    const started = performance.now();
    const stmts = splitSqlScript(text);
    const elapsed = performance.now() - started;
    expect(stmts).toHaveLength(40_000);
    expect(stmts[3]?.sql.startsWith('CREATE DEFINER=`root`@`localhost` PROCEDURE `p1`(IN a INT)\nBEGIN\n  -- keep')).toBe(true);
    // About 5 MB; a quadratic scan would take minutes.
    expect(elapsed).toBeLessThan(5000);
  });
});

const FIXTURE = resolve(import.meta.dirname, '../../../shared/fixtures/mysqlsh-dump-instance-8.0.21.tar.gz');

describe('splitSqlScript on the MySQL Shell 8.0.21 dump (shared/fixtures)', () => {
  let root = '';
  let dir = '';
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  const split = (name: string): SqlStatement[] => splitSqlScript(read(name));
  const sqlOf = (name: string): string[] => split(name).map((s) => s.sql);

  beforeAll(() => {
    if (!existsSync(FIXTURE)) throw new Error(`fixture missing: ${FIXTURE}`);
    root = mkdtempSync(join(tmpdir(), 'bloodraven-sql-script-'));
    execFileSync('tar', ['xzf', FIXTURE, '-C', root]);
    dir = join(root, 'dump_instance_8.0.21');
  });

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('splits the schema script with events and routines: mysqldump_test_db.sql', () => {
    const stmts = split('mysqldump_test_db.sql');
    // CREATE DATABASE, USE, save time zone; 2 events of 17 statements; restore time zone;
    // 5 routines of 14 statements (DROP, 8 SETs, CREATE, 4 SETs).
    expect(stmts).toHaveLength(3 + 2 * 17 + 1 + 5 * 14);
    expect(stmts.slice(0, 4)).toEqual([
      { sql: 'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `mysqldump_test_db` /*!40100 DEFAULT CHARACTER SET latin1 */', line: 11 },
      { sql: 'USE mysqldump_test_db', line: 13 },
      { sql: '/*!50106 SET @save_time_zone= @@TIME_ZONE */', line: 18 },
      { sql: '/*!50106 DROP EVENT IF EXISTS ee1 */', line: 21 },
    ]);
    const sql = stmts.map((s) => s.sql);
    // Written with `;;` while DELIMITER ;; was still in force from the previous event.
    expect(sql).toContain('/*!50106 DROP EVENT IF EXISTS ee2 */');
    expect(sql).toContain(
      "/*!50106 CREATE DEFINER=`root`@`localhost` EVENT IF NOT EXISTS `ee2` ON SCHEDULE AT '2029-12-31 21:01:23' ON COMPLETION NOT PRESERVE ENABLE DO set @a=5 */",
    );
    expect(sql).toContain('CREATE DEFINER=`root`@`localhost` FUNCTION `bug9056_func1`(a INT, b INT) RETURNS int(11)\nRETURN a+b');
    expect(sql).toContain(
      lines('CREATE DEFINER=`root`@`localhost` FUNCTION `bug9056_func2`(f1 char binary) RETURNS char(1) CHARSET latin1', 'begin', "  set f1= concat( 'hello', f1 );", '  return f1;', 'end'),
    );
    expect(sql).toContain('CREATE DEFINER="root"@"localhost" PROCEDURE "a\'b"()\nselect 1');
    expect(sql).toContain("/*!50003 DROP PROCEDURE IF EXISTS `a'b` */");
    expect(sql).toContain('CREATE DEFINER=`root`@`localhost` PROCEDURE `bug9056_proc1`(IN a INT, IN b INT, OUT c INT)\nBEGIN SELECT a+b INTO c; end');
    expect(sql).toContain('/*!50106 SET TIME_ZONE= @save_time_zone */');
    expect(sql.at(-1)).toBe('/*!50003 SET collation_connection  = @saved_col_connection */');
    const func2 = stmts.find((s) => s.sql.includes('FUNCTION `bug9056_func2`'));
    expect(func2?.line).toBe(read('mysqldump_test_db.sql').split('\n').indexOf('CREATE DEFINER=`root`@`localhost` FUNCTION `bug9056_func2`(f1 char binary) RETURNS char(1) CHARSET latin1') + 1);
  });

  it('splits a trigger script: mysqldump_test_db@t2.triggers.sql', () => {
    const sql = sqlOf('mysqldump_test_db@t2.triggers.sql');
    expect(sql).toHaveLength(14);
    expect(sql[7]).toBe(
      "/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,TRADITIONAL,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */",
    );
    expect(sql[8]).toBe('/*!50032 DROP TRIGGER IF EXISTS trg4 */');
    expect(sql[9]).toBe(
      lines('/*!50003 CREATE DEFINER=`root`@`localhost` trigger trg4 before insert on t2 for each row', 'begin', '  if new.a > 10 then', '    set @fired:= "No";', '  end if;', 'end */'),
    );
    expect(sql[13]).toBe('/*!50003 SET collation_connection  = @saved_col_connection */');
  });

  it('splits names with backticks, quotes and newlines: crazy_names_db.sql', () => {
    const stmts = split('crazy_names_db.sql');
    // 3 + 4 events × 17 + 1 + 8 routines × 14.
    expect(stmts).toHaveLength(3 + 4 * 17 + 1 + 8 * 14);
    const sql = stmts.map((s) => s.sql);
    expect(sql).toContain('/*!50106 DROP EVENT IF EXISTS `\'"` */');
    expect(sql).toContain('/*!50106 DROP EVENT IF EXISTS `foo``bar(` */');
    expect(sql).toContain('/*!50106 DROP EVENT IF EXISTS `new\nline` */');
    expect(sql).toContain('/*!50106 DROP EVENT IF EXISTS ```` */');
    expect(sql).toContain(
      "/*!50106 CREATE DEFINER=`root`@`localhost` EVENT IF NOT EXISTS `new\nline` ON SCHEDULE AT '2035-12-31 20:01:23' ON COMPLETION NOT PRESERVE ENABLE DO set @a=5 */",
    );
    expect(sql).toContain('CREATE DEFINER=`root`@`localhost` FUNCTION `\'"`() RETURNS int(11)\nRETURN 0');
    expect(sql).toContain('CREATE DEFINER=`root`@`localhost` FUNCTION `foo``bar(`() RETURNS int(11)\nRETURN 0');
    expect(sql).toContain('CREATE DEFINER=`root`@`localhost` FUNCTION `new\nline`() RETURNS int(11)\nRETURN 0');
    expect(sql).toContain('CREATE DEFINER=`root`@`localhost` PROCEDURE ````()\nBEGIN END');
    // The marker comment of `new\nline` spans two comment lines; neither leaks into a statement.
    expect(sql.filter((s) => s.includes('-- '))).toEqual([]);
  });

  it('splits a view placeholder and its view: mysqldump_test_db@v3.pre.sql and .sql', () => {
    expect(split('mysqldump_test_db@v3.pre.sql')).toEqual([
      { sql: 'DROP TABLE IF EXISTS v3', line: 11 },
      { sql: '/*!50001 DROP VIEW IF EXISTS v3*/', line: 12 },
      { sql: 'SET @saved_cs_client     = @@character_set_client', line: 13 },
      { sql: '/*!50503 SET character_set_client = utf8mb4 */', line: 14 },
      { sql: '/*!50001 CREATE VIEW `v3` AS SELECT \n 1 AS a,\n 1 AS b,\n 1 AS c */', line: 15 },
      { sql: 'SET character_set_client = @saved_cs_client', line: 19 },
    ]);
    expect(sqlOf('mysqldump_test_db@v3.sql')).toEqual([
      '/*!50001 DROP VIEW IF EXISTS v3*/',
      '/*!50001 SET @saved_cs_client          = @@character_set_client */',
      '/*!50001 SET @saved_cs_results         = @@character_set_results */',
      '/*!50001 SET @saved_col_connection     = @@collation_connection */',
      '/*!50001 SET character_set_client      = utf8mb4 */',
      '/*!50001 SET character_set_results     = utf8mb4 */',
      '/*!50001 SET collation_connection      = utf8mb4_general_ci */',
      '/*!50001 CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v3` AS select `tv1`.`a` AS `a`,`tv1`.`b` AS `b`,`tv1`.`c` AS `c` from `tv1` */',
      '/*!50001 SET character_set_client      = @saved_cs_client */',
      '/*!50001 SET character_set_results     = @saved_cs_results */',
      '/*!50001 SET collation_connection      = @saved_col_connection */',
    ]);
  });

  it('splits a table script: world@City.sql', () => {
    expect(split('world@City.sql')).toEqual([
      { sql: '/*!40101 SET @saved_cs_client     = @@character_set_client */', line: 11 },
      { sql: '/*!50503 SET character_set_client = utf8mb4 */', line: 12 },
      {
        sql: lines(
          'CREATE TABLE IF NOT EXISTS `City` (',
          '  `ID` int(11) NOT NULL AUTO_INCREMENT,',
          "  `Name` char(35) NOT NULL DEFAULT '',",
          "  `CountryCode` char(3) NOT NULL DEFAULT '',",
          "  `District` char(20) NOT NULL DEFAULT '',",
          "  `Population` int(11) NOT NULL DEFAULT '0',",
          '  PRIMARY KEY (`ID`)',
          ') ENGINE=InnoDB AUTO_INCREMENT=4080 DEFAULT CHARSET=latin1',
        ),
        line: 13,
      },
      { sql: '/*!40101 SET character_set_client = @saved_cs_client */', line: 21 },
    ]);
  });

  it('splits the users script, dropping the commented-out ALTER USER lines: @.users.sql', () => {
    const sql = sqlOf('@.users.sql');
    expect(sql).toHaveLength(23);
    expect(sql[0]).toBe("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED WITH 'mysql_native_password' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK");
    expect(sql.filter((s) => s.startsWith('/*'))).toEqual([]);
  });

  it('keeps a multi-statement routine body whole: mysqlaas_compat.sql', () => {
    const sql = sqlOf('mysqlaas_compat.sql');
    expect(sql).toHaveLength(91);
    expect(sql).toContain(
      lines(
        'CREATE DEFINER=`root`@`localhost` PROCEDURE `labeled`()',
        'wholeblock:BEGIN',
        '  DECLARE x INT;',
        '  DECLARE str VARCHAR(255);',
        '  SET x = -5;',
        "  SET str = '';",
        '',
        '  loop_label: LOOP',
        '    IF x > 0 THEN',
        '      LEAVE loop_label;',
        '    END IF;',
        "    SET str = CONCAT(str,x,',');",
        '    SET x = x + 1;',
        '    ITERATE loop_label;',
        '  END LOOP;',
        '',
        '  SELECT str;',
        '',
        'END',
      ),
    );
    expect(sql).toContain("/*!50106 CREATE DEFINER=`root`@`localhost` EVENT IF NOT EXISTS `event2` ON SCHEDULE EVERY 1 DAY STARTS '2021-12-07 18:15:19' ON COMPLETION NOT PRESERVE ENABLE DO BEGIN\nEND */");
  });

  it('splits every script of the dump, with the expected number of statements and no DELIMITER lines', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql'));
    expect(files).toHaveLength(106);
    const schemaAndTriggerScripts: Record<string, number> = {
      '@.sql': 0,
      '@.post.sql': 0,
      '@.users.sql': 23,
      'all_features.sql': 21,
      'all_features2.sql': 2,
      'crazy_names_db.sql': 184,
      'mysqlaas_compat.sql': 91,
      'mysqldump_test_db.sql': 108,
      'test.sql': 2,
      'world.sql': 2,
      'xtest.sql': 2,
      'all_features@plaintable.triggers.sql': 14,
      'mysqlaas_compat@myisam_tbl1.triggers.sql': 14,
      'mysqldump_test_db@t1.triggers.sql': 42,
      'mysqldump_test_db@t2.triggers.sql': 14,
      'test@test.triggers.sql': 154,
    };
    for (const file of files) {
      const stmts = split(file);
      const view = files.includes(file.replace(/\.sql$/, '.pre.sql'));
      // Tables: 2 SETs, CREATE TABLE, 1 SET. View placeholders: 6 statements. Views: 11.
      const expected = schemaAndTriggerScripts[file] ?? (file.endsWith('.pre.sql') ? 6 : view ? 11 : 4);
      expect(stmts, file).toHaveLength(expected);
      for (const s of stmts) {
        expect(s.sql, file).not.toMatch(/^\s*DELIMITER\s/im);
        expect(s.sql, file).not.toMatch(/^(--\s|#|\/\*[^!+])/);
        expect(s.sql, file).toBe(s.sql.trim());
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Scripts in the format bloodraven writes (src/lib/dump/ddl.ts)

/** SHOW CREATE output of MariaDB 10.11 for objects whose bodies carry delimiters and comments. */
const SHOW_CREATE: Record<string, Record<string, string>> = {
  'SHOW CREATE DATABASE IF NOT EXISTS `d`': { 'Create Database': 'CREATE DATABASE IF NOT EXISTS `d` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_swedish_ci */' },
  'SHOW CREATE FUNCTION `d`.`tricky`': {
    sql_mode: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
    'Create Function':
      "CREATE DEFINER=`root`@`localhost` FUNCTION `tricky`(x INT) RETURNS varchar(200) CHARSET latin1 COLLATE latin1_swedish_ci\n    DETERMINISTIC\nBEGIN\n  -- a comment with a ; and a ;; in it\n  DECLARE s VARCHAR(200) DEFAULT 'semi; colons;; and */ and /* and '' quote';\n  # hash comment ;;\n  /* block comment ;; */\n  SET s = CONCAT(s, \"dq ; \\\" ;;\", x);\n  SET s = CONCAT(s, '\nDELIMITER $$\n');\n  RETURN s;\nEND",
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE FUNCTION `d`.`nbe`': {
    sql_mode: 'NO_BACKSLASH_ESCAPES',
    'Create Function': "CREATE DEFINER=`root`@`localhost` FUNCTION `nbe`() RETURNS varchar(20) CHARSET latin1 COLLATE latin1_swedish_ci\n    DETERMINISTIC\nRETURN 'C:\\'",
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE PROCEDURE `d`.`we``ird;proc`': {
    sql_mode: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
    'Create Procedure': "CREATE DEFINER=`root`@`localhost` PROCEDURE `we``ird;proc`(IN p INT)\n    COMMENT 'proc; comment'\nBEGIN\n  SELECT p; SELECT 'x;;y';\nEND",
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE PROCEDURE `d`.`trailing_c`': {
    sql_mode: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
    'Create Procedure': 'CREATE DEFINER=`root`@`localhost` PROCEDURE `trailing_c`()\nSELECT 1 -- trailing comment',
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE EVENT `d`.`ev_tricky`': {
    sql_mode: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
    time_zone: 'SYSTEM',
    'Create Event':
      "CREATE DEFINER=`root`@`localhost` EVENT `ev_tricky` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' ON COMPLETION NOT PRESERVE ENABLE DO BEGIN\n  INSERT INTO fkonly (id, p, q) VALUES (1, NULL, 2); /* ; */\n  DELETE FROM fkonly WHERE id = 1;\nEND",
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE TRIGGER `d`.`trg_bi`': {
    sql_mode: 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION',
    'SQL Original Statement': 'CREATE DEFINER=`root`@`localhost` TRIGGER trg_bi BEFORE INSERT ON fkonly FOR EACH ROW\nBEGIN\n  IF NEW.q IS NULL THEN SET NEW.q = 0; END IF; -- defaults ;;\nEND',
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE VIEW `d`.`v;1`': {
    'Create View': "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v;1` AS select 'a;b */' AS `x;y`",
    character_set_client: 'utf8mb3',
    collation_connection: 'utf8mb3_general_ci',
  },
  'SHOW CREATE TABLE `d`.`t;1`': {
    'Create Table': "CREATE TABLE `t;1` (\n  `id` int(11) NOT NULL COMMENT 'a; b',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci",
  },
};

function fakeContext(): DdlContext {
  const unsupported = (): never => {
    throw new Error('not used by the DDL scripts');
  };
  const session: MysqlSession = {
    threadId: 1,
    query: <T extends Row = Row>(sql: string): Promise<T[]> => {
      const row = SHOW_CREATE[sql];
      if (!row) throw new Error(`unexpected query: ${sql}`);
      return Promise.resolve([row as T]);
    },
    exec: unsupported,
    raw: unsupported,
    loadLocal: unsupported,
    close: unsupported,
    destroy: unsupported,
  };
  return {
    session,
    dumper: 'bloodraven test',
    server: { flavor: 'mariadb', version: '10.11.19-MariaDB', versionNumber: { major: 10, minor: 11, patch: 19 }, hostname: 'db', serverId: 1, serverUuid: null },
  };
}

const showCreate = (key: string, column: string): string => SHOW_CREATE[key]?.[column] ?? '';

describe('splitSqlScript on scripts in the format bloodraven writes', () => {
  it('recovers every routine and event definition from a schema script', async () => {
    const text = await schemaScript(fakeContext(), 'd', { events: ['ev_tricky'], functions: ['tricky', 'nbe'], procedures: ['we`ird;proc', 'trailing_c'] });
    const sql = sqls(text);
    // CREATE DATABASE, USE; one event of 17 statements; 4 routines of 14.
    expect(sql).toHaveLength(2 + 17 + 4 * 14);
    expect(sql.slice(0, 2)).toEqual([showCreate('SHOW CREATE DATABASE IF NOT EXISTS `d`', 'Create Database'), 'USE `d`']);
    expect(sql).toContain(createEventIfNotExists(showCreate('SHOW CREATE EVENT `d`.`ev_tricky`', 'Create Event')));
    expect(sql).toContain(showCreate('SHOW CREATE FUNCTION `d`.`tricky`', 'Create Function'));
    expect(sql).toContain(showCreate('SHOW CREATE FUNCTION `d`.`nbe`', 'Create Function'));
    expect(sql).toContain(showCreate('SHOW CREATE PROCEDURE `d`.`we``ird;proc`', 'Create Procedure'));
    // The body ends in a line comment; the delimiter stands on a line of its own, so it is not swallowed.
    expect(sql).toContain(showCreate('SHOW CREATE PROCEDURE `d`.`trailing_c`', 'Create Procedure'));
    expect(sql).toContain('/*!50003 DROP PROCEDURE IF EXISTS `we``ird;proc` */');
    expect(sql.at(-1)).toBe('/*!50003 SET collation_connection  = @saved_col_connection */');
  });

  it('recovers a trigger whose body ends a line with a commented-out delimiter', async () => {
    const sql = sqls(await triggersScript(fakeContext(), 'd', 'fkonly', ['trg_bi']));
    expect(sql).toHaveLength(14);
    expect(sql[8]).toBe('/*!50032 DROP TRIGGER IF EXISTS `trg_bi` */');
    expect(sql[9]).toBe(showCreate('SHOW CREATE TRIGGER `d`.`trg_bi`', 'SQL Original Statement'));
  });

  it('splits table, view placeholder and view scripts with delimiters in names and strings', async () => {
    const ctx = fakeContext();
    expect(sqls(await tableScript(ctx, 'd', 't;1'))).toEqual([
      '/*!40101 SET @saved_cs_client     = @@character_set_client */',
      '/*!50503 SET character_set_client = utf8mb4 */',
      "CREATE TABLE IF NOT EXISTS `t;1` (\n  `id` int(11) NOT NULL COMMENT 'a; b',\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci",
      '/*!40101 SET character_set_client = @saved_cs_client */',
    ]);
    const placeholder = sqls(viewPlaceholderScript(ctx, 'd', 'v;1', ['x;y']));
    expect(placeholder).toHaveLength(6);
    expect(placeholder[4]).toBe('/*!50001 CREATE VIEW `v;1` AS SELECT\n 1 AS `x;y` */');
    const view = sqls(await viewScript(ctx, 'd', 'v;1'));
    expect(view).toHaveLength(11);
    expect(view[7]).toBe(`/*!50001 ${showCreate('SHOW CREATE VIEW `d`.`v;1`', 'Create View')} */`);
  });

  it('splits a hand-written script in the same layout', () => {
    const text = lines(
      '-- bloodraven 0.1.0 (MySQL Shell dump format 2.0.1)',
      '--',
      '-- Host: db    Database: s',
      '',
      'CREATE DATABASE IF NOT EXISTS `s`;',
      '',
      'USE `s`;',
      '',
      '-- begin event `s`.`e`',
      '/*!50106 DROP EVENT IF EXISTS `e` */;',
      'DELIMITER ;;',
      "/*!50003 SET sql_mode              = '' */ ;;",
      'CREATE DEFINER=`root`@`%` EVENT IF NOT EXISTS `e` ON SCHEDULE EVERY 1 HOUR DO BEGIN',
      '  DELETE FROM t WHERE x < NOW(); -- purge;',
      'END ;;',
      '/*!50003 SET sql_mode              = @saved_sql_mode */ ;;',
      'DELIMITER ;',
      '-- end event `s`.`e`',
      '',
      '-- begin procedure `s`.`p`',
      '/*!50003 DROP PROCEDURE IF EXISTS `p` */;',
      "/*!50003 SET sql_mode              = 'ANSI_QUOTES' */ ;",
      'DELIMITER ;;',
      'CREATE DEFINER="root"@"%" PROCEDURE "p"()',
      'BEGIN',
      '  SELECT "col;umn" FROM "t;"; SELECT 2;',
      'END ;;',
      'DELIMITER ;',
      '/*!50003 SET sql_mode              = @saved_sql_mode */ ;',
      '-- end procedure `s`.`p`',
      '',
    );
    expect(splitSqlScript(text)).toEqual([
      { sql: 'CREATE DATABASE IF NOT EXISTS `s`', line: 5 },
      { sql: 'USE `s`', line: 7 },
      { sql: '/*!50106 DROP EVENT IF EXISTS `e` */', line: 10 },
      { sql: "/*!50003 SET sql_mode              = '' */", line: 12 },
      { sql: 'CREATE DEFINER=`root`@`%` EVENT IF NOT EXISTS `e` ON SCHEDULE EVERY 1 HOUR DO BEGIN\n  DELETE FROM t WHERE x < NOW(); -- purge;\nEND', line: 13 },
      { sql: '/*!50003 SET sql_mode              = @saved_sql_mode */', line: 16 },
      { sql: '/*!50003 DROP PROCEDURE IF EXISTS `p` */', line: 21 },
      { sql: "/*!50003 SET sql_mode              = 'ANSI_QUOTES' */", line: 22 },
      { sql: 'CREATE DEFINER="root"@"%" PROCEDURE "p"()\nBEGIN\n  SELECT "col;umn" FROM "t;"; SELECT 2;\nEND', line: 24 },
      { sql: '/*!50003 SET sql_mode              = @saved_sql_mode */', line: 29 },
    ]);
  });
});
