import { describe, expect, it } from 'vitest';
import { statementShape, withheld, withoutRowData } from '../../src/lib/mysql/row-data.js';

describe('withoutRowData', () => {
  it("withholds the values a server's messages quote, keeping the names and the line", () => {
    expect(withoutRowData("Duplicate entry 'alice@example.com' for key 'PRIMARY'")).toBe(`Duplicate entry '${withheld}' for key 'PRIMARY'`);
    // The value's own quotes are not escaped by the server: the match runs to the words after it.
    expect(withoutRowData("Duplicate entry 'o'brien-7' for key 'users.name'")).toBe(`Duplicate entry '${withheld}' for key 'users.name'`);
    expect(withoutRowData("Incorrect integer value: 'secret' for column `app`.`t`.`n` at row 3")).toBe(`Incorrect integer value: '${withheld}' for column \`app\`.\`t\`.\`n\` at row 3`);
    expect(withoutRowData("Truncated incorrect DOUBLE value: 'secret'")).toBe(`Truncated incorrect DOUBLE value: '${withheld}'`);
    expect(withoutRowData("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'BINLOG '\nAbCd' at line 12")).toBe(
      `You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '${withheld}' at line 12`,
    );
  });

  it('withholds a run of base64 longer than any name, and leaves messages without values alone', () => {
    const event = Buffer.from('a row with a secret in it, long enough to wrap a line of base64 output').toString('base64');
    expect(withoutRowData(`BINLOG '\n${event}\n'`)).toBe(`BINLOG '\n${withheld}\n'`);
    for (const plain of ["Table 'big' already exists", "Table 'app.a_table_with_a_rather_long_name_of_exactly_sixty_four_characters' doesn't exist", 'Lost connection to server during query']) {
      expect(withoutRowData(plain)).toBe(plain);
    }
  });
});

describe('statementShape', () => {
  it('replaces string and hex literals by ?, keeping names and numbers', () => {
    expect(statementShape("SELECT `id` FROM `app`.`users` WHERE (`email`) >= ('alice@example.com') AND note = \"it's\" AND b = X'0aff' AND c = 0xBEEF AND n > 5")).toBe(
      'SELECT `id` FROM `app`.`users` WHERE (`email`) >= (?) AND note = ? AND b = ? AND c = ? AND n > 5',
    );
    expect(statementShape("INSERT INTO t VALUES ('a\\'b', 'c''d')")).toBe('INSERT INTO t VALUES (?, ?)');
  });
});
