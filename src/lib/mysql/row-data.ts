/**
 * Keeps row data out of what bloodraven says. An error message, a log line or a stored record may
 * be read by more people, and kept longer, than the backups themselves (an encrypted archive's
 * rows must not come back in plaintext through a failure), so the parts of a server's or a tool's
 * message that quote a row are replaced by a placeholder. Which object, file, offset or GTID
 * failed is what a user acts on; the value itself is in the data, where it is protected.
 */

/** What stands where a value was. */
export const withheld = '<row data withheld>';

/**
 * The server's messages that quote a value (MySQL and MariaDB share these texts): the value is
 * the quoted part between the fixed words. The quotes are not escaped, so each match runs up to
 * the words that follow the value, not to the next quote.
 */
const valuePatterns: ReadonlyArray<[RegExp, string]> = [
  // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME: Duplicate entry '%s' for key '%s'
  [/Duplicate entry '.*?' for key/gs, `Duplicate entry '${withheld}' for key`],
  // Incorrect %s value: '%s' for column … / Truncated incorrect %s value: '%s'
  [/value: '.*?' for (column|function)/gs, `value: '${withheld}' for $1`],
  [/value: '.*?'(?=\s*(;|$|\n))/g, `value: '${withheld}'`],
  // ER_PARSE_ERROR: … near '%s' at line %d (the statement's text: for a BINLOG statement, row events)
  [/near '.*?' at line (\d+)/gs, `near '${withheld}' at line $1`],
];

/**
 * A run of base64 longer than any identifier (64 characters) is a row event, as mysqlbinlog
 * prints them (lines of 76), never a name or a message.
 */
const base64Run = /[A-Za-z0-9+/]{65,}={0,2}/g;

/** `message` with the values a server's error quotes (and any long base64 run) replaced by a placeholder. */
export function withoutRowData(message: string): string {
  let out = message;
  for (const [pattern, replacement] of valuePatterns) out = out.replace(pattern, replacement);
  return out.replace(base64Run, withheld);
}

/** A backquoted name (kept), a string literal in either quote, a hex literal (X'…' or 0x…). */
const literalOrName = /`(?:[^`]|``)*`|\b[xX]'[0-9a-fA-F]*'|\b0x[0-9a-fA-F]+\b|'(?:[^'\\]|\\[\s\S]|'')*'|"(?:[^"\\]|\\[\s\S]|"")*"/g;

/**
 * A statement as an error shows it: string and hex literals (a chunk's bounds, a row's key) are
 * replaced by `?`, so that names and the statement's shape stay and values go.
 */
export function statementShape(sql: string): string {
  // One pass, left to right: a quote inside an identifier or another literal starts nothing.
  return sql
    .replace(literalOrName, (token) => (token.startsWith('`') ? token : '?'))
    .replace(base64Run, withheld);
}
