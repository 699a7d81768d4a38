/**
 * A data set that exercises the dump format: awkward text, every encoding path (escaped text,
 * raw numbers, base64), tables with and without keys, stored objects, and hostile names.
 */

/** Schemas the awkward data set creates. */
export const awkwardSchemas = ['fidelity', 'latin1 db', 'wéird.schema/`x`'];

export const awkwardDataSql = `
CREATE DATABASE fidelity CHARACTER SET utf8mb4;
USE fidelity;

CREATE TABLE texts (
  id INT PRIMARY KEY,
  t TEXT,
  v VARCHAR(100),
  c CHAR(5),
  j JSON,
  e ENUM('a','b','c d'),
  s SET('x','y','z')
) DEFAULT CHARSET=utf8mb4;
INSERT INTO texts VALUES
  (1, 'tab\\there', 'new\\nline', 'cr\\r', '{"k": "v\\\\n", "n": [1, 2.5, null]}', 'a', 'x,z'),
  (2, NULL, 'NULL', '\\\\N', NULL, 'c d', ''),
  (3, 'back\\\\slash and \\\\N and \\\\t', CONCAT('nul', CHAR(0), 'byte'), CONCAT('z', CHAR(26)), '[]', NULL, NULL),
  (4, 'emoji 😀 and 中文 and ñ', '', '', '{"emoji": "🎉"}', 'b', 'y'),
  (5, CONCAT('bs', CHAR(8), 'ctl', CHAR(1), CHAR(127)), '  spaces  ', 'end ', 'null', 'a', 'x,y,z');

CREATE TABLE numbers (
  id BIGINT UNSIGNED PRIMARY KEY,
  i INT, ti TINYINT, d DECIMAL(65,30), f FLOAT, dbl DOUBLE, y YEAR,
  dt DATETIME(6), ts TIMESTAMP(6) NULL, dd DATE, tm TIME(3)
);
INSERT INTO numbers VALUES
  (18446744073709551615, -2147483648, -128, 12345678901234567890123456789012345.123456789012345678901234567890, 3.5, 1.7976931348623157e308, 2155,
   '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '1000-01-01', '-838:59:59.000'),
  (0, 2147483647, 127, -0.000000000000000000000000000001, -1.25, -2.2250738585072014e-308, 1901,
   '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '9999-12-31', '838:59:59.999'),
  (42, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE binaries (
  id INT PRIMARY KEY,
  b BINARY(4), vb VARBINARY(300), bl BLOB, lb LONGBLOB, bits BIT(10), one BIT(1), g GEOMETRY, p POINT
);
INSERT INTO binaries VALUES
  (1, X'00010203', X'00FF0A0D095C1A', X'DEADBEEF', REPEAT(X'00FF', 50000), b'1010101010', b'1',
   ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), ST_GeomFromText('POINT(1.5 -2.25)')),
  (2, NULL, '', '', '', b'0', b'0', NULL, NULL),
  (3, 'abc', 'plain text in binary', 'x', NULL, NULL, NULL, ST_GeomFromText('LINESTRING(0 0,1 1,2 4)'), ST_GeomFromText('POINT(0 0)'));

CREATE TABLE floats (id INT PRIMARY KEY, f FLOAT, d DOUBLE, fu FLOAT UNSIGNED);
INSERT INTO floats VALUES (1, 3.40282e38, 1.7976931348623157e308, 0), (2, -1.17549e-38, 2.2250738585072014e-308, 1.5),
  (3, 0.1, 0.1, 123456.7), (4, -0, -0.0000001234567890123, NULL), (5, 1e-10, 9007199254740993, 3);

CREATE TABLE big_values (id INT PRIMARY KEY, t LONGTEXT, j JSON, hidden INT INVISIBLE DEFAULT 7);
INSERT INTO big_values (id, t, j, hidden) VALUES
  (1, REPEAT('long text ✓ \\ \t ', 20000), JSON_OBJECT('k', REPEAT('x', 70000), 'arr', JSON_ARRAY(1, 'two', NULL, TRUE)), 8),
  (2, CONCAT(CHAR(0), CHAR(0), 'x', CHAR(0)), '{"deep": {"a": [[[]]], "u": "\\u00e9 é"}}', NULL);

CREATE TABLE generated_cols (
  id INT PRIMARY KEY,
  a INT,
  b INT AS (a * 2) VIRTUAL,
  c VARCHAR(20) AS (CONCAT('v', a)) STORED
);
INSERT INTO generated_cols (id, a) VALUES (1, 10), (2, NULL), (3, -7);

CREATE TABLE no_key (a INT, b VARCHAR(50));
INSERT INTO no_key VALUES (1, 'one'), (1, 'one'), (NULL, NULL), (2, 'two');

CREATE TABLE nullable_unique (a INT NULL UNIQUE, b TEXT);
INSERT INTO nullable_unique VALUES (NULL, 'n1'), (NULL, 'n2'), (5, 'five');

CREATE TABLE composite (tenant INT NOT NULL, name VARCHAR(30) NOT NULL, qty INT, PRIMARY KEY (tenant, name));
INSERT INTO composite VALUES (1, 'a', 1), (1, 'b', 2), (2, 'a', 3), (3, 'zz', NULL);

CREATE TABLE unique_key (code VARCHAR(10) NOT NULL, n INT, UNIQUE KEY uk (code));
INSERT INTO unique_key VALUES ('x', 1), ('y', 2), ('Ä', 3);

CREATE TABLE empty_table (id INT PRIMARY KEY, v TEXT);
CREATE TABLE empty_no_key (v TEXT);

CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20));
CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, FOREIGN KEY (parent_id) REFERENCES parent(id) ON DELETE CASCADE);
INSERT INTO parent VALUES (1, 'p1'), (2, 'p2');
INSERT INTO child VALUES (10, 1), (11, 2), (12, NULL);

CREATE TABLE fk_parent (id INT PRIMARY KEY, code VARCHAR(10), KEY code_idx (code), KEY other_idx (id, code));
CREATE TABLE fk_child (id INT PRIMARY KEY, code VARCHAR(10), KEY code_idx (code), FOREIGN KEY (code) REFERENCES fk_parent (code));
CREATE TABLE zz_child (id INT PRIMARY KEY, code VARCHAR(10), FOREIGN KEY (code) REFERENCES fk_parent (code));
INSERT INTO fk_parent VALUES (1, 'a'), (2, 'b');
INSERT INTO fk_child VALUES (1, 'a');
INSERT INTO zz_child VALUES (1, 'b');

CREATE TABLE parts (id INT NOT NULL, created DATE NOT NULL, PRIMARY KEY (id, created))
  PARTITION BY RANGE (YEAR(created)) (PARTITION p2020 VALUES LESS THAN (2021), PARTITION pmax VALUES LESS THAN MAXVALUE);
INSERT INTO parts VALUES (1, '2020-05-01'), (2, '2024-01-01');

CREATE VIEW v_texts AS SELECT id, v FROM texts WHERE id < 4;
CREATE VIEW v_on_v AS SELECT COUNT(*) AS n FROM v_texts;

CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100));
CREATE TRIGGER parent_ai AFTER INSERT ON parent FOR EACH ROW INSERT INTO audit (msg) VALUES (CONCAT('parent ', NEW.id));
CREATE TRIGGER parent_bu BEFORE UPDATE ON parent FOR EACH ROW SET NEW.name = UPPER(NEW.name);

CREATE FUNCTION add_one(x INT) RETURNS INT DETERMINISTIC RETURN x + 1;
CREATE PROCEDURE touch_audit(IN m VARCHAR(100))
BEGIN
  INSERT INTO audit (msg) VALUES (m); -- a comment; with a semicolon
  SELECT COUNT(*) FROM audit;
END;
CREATE EVENT nightly_cleanup ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < 0;
CREATE EVENT commented ON SCHEDULE EVERY 1 HOUR STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM audit WHERE id < -1 -- ends in a comment
;
CREATE PROCEDURE ends_in_comment() SELECT 1 -- trailing comment
;

CREATE DATABASE \`latin1 db\` CHARACTER SET latin1;
CREATE TABLE \`latin1 db\`.\`tâble with spaces\` (id INT PRIMARY KEY, name VARCHAR(50)) DEFAULT CHARSET=latin1;
INSERT INTO \`latin1 db\`.\`tâble with spaces\` VALUES (1, 'café'), (2, 'naïve'), (3, '£100');

CREATE DATABASE \`wéird.schema/\`\`x\`\`\`;
CREATE TABLE \`wéird.schema/\`\`x\`\`\`.\`it's a "table".with/dots\` (\`col 1\` INT PRIMARY KEY, \`c\`\`2\` VARCHAR(10));
INSERT INTO \`wéird.schema/\`\`x\`\`\`.\`it's a "table".with/dots\` VALUES (1, 'a'), (2, 'b');
`;

/**
 * MariaDB's other kinds of table, each with rows (and history, where it keeps one): other
 * engines, application-time periods, system versioning (with partitions by SYSTEM_TIME, with a
 * column left out of versioning, bitemporal), sequences used by a DEFAULT, CHECK constraints,
 * compressed rows, spatial indexes.
 */
export const tableKindsSchema = 'kinds';
export const tableKindsSql = `
CREATE DATABASE kinds; USE kinds;
CREATE TABLE aria_t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=Aria;
CREATE TABLE myisam_t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MyISAM;
CREATE TABLE memory_t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MEMORY;
INSERT INTO aria_t VALUES (1, 'aria'), (2, 'two');
INSERT INTO myisam_t VALUES (1, 'myisam'), (2, 'two');
INSERT INTO memory_t VALUES (1, 'memory'), (2, 'two');
CREATE TABLE app_period (id INT, s DATE, e DATE, price INT, PERIOD FOR valid (s, e), PRIMARY KEY (id, s));
INSERT INTO app_period VALUES (1, '2026-01-01', '2026-07-01', 10), (1, '2026-07-01', '2027-01-01', 12);
CREATE TABLE bitemporal (id INT, s DATE, e DATE, price INT, PERIOD FOR valid (s, e), PRIMARY KEY (id, s)) WITH SYSTEM VERSIONING;
INSERT INTO bitemporal VALUES (1, '2026-01-01', '2027-01-01', 5);
UPDATE bitemporal SET price = 6 WHERE id = 1;
CREATE TABLE versioned_parts (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING
  PARTITION BY SYSTEM_TIME (PARTITION p_hist HISTORY, PARTITION p_cur CURRENT);
INSERT INTO versioned_parts VALUES (1, 1), (2, 2);
UPDATE versioned_parts SET v = v + 10;
DELETE FROM versioned_parts WHERE id = 2;
CREATE TABLE partly_versioned (id INT PRIMARY KEY, v INT, hits INT WITHOUT SYSTEM VERSIONING) WITH SYSTEM VERSIONING;
INSERT INTO partly_versioned VALUES (1, 1, 0);
UPDATE partly_versioned SET v = 2;
UPDATE partly_versioned SET hits = 5;
CREATE TABLE compressed_t (id INT PRIMARY KEY, t TEXT) ROW_FORMAT=COMPRESSED;
INSERT INTO compressed_t VALUES (1, REPEAT('compressible ', 500));
CREATE SEQUENCE seq_a START WITH 100 INCREMENT BY 10;
CREATE TABLE uses_seq (id INT NOT NULL DEFAULT NEXTVAL(seq_a) PRIMARY KEY, v INT);
INSERT INTO uses_seq (v) VALUES (1), (2);
CREATE TABLE checked (id INT PRIMARY KEY, q INT CHECK (q > 0));
INSERT INTO checked VALUES (1, 1);
SET SESSION check_constraint_checks = 0;
INSERT INTO checked VALUES (2, -1);
SET SESSION check_constraint_checks = 1;
CREATE TABLE spatial_t (id INT PRIMARY KEY, g GEOMETRY NOT NULL, SPATIAL INDEX (g));
INSERT INTO spatial_t VALUES (1, ST_GeomFromText('POINT(1 2)')), (2, ST_GeomFromText('LINESTRING(0 0, 3 4)'));
`;
