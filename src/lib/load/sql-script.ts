/**
 * Splits the SQL scripts of a dump into single statements, the way the `mysql`/`mariadb`
 * command-line client does when it runs a script: the server accepts one statement per query,
 * so the loader needs exactly the statements the client would have sent.
 *
 * Behaviour, and where it deliberately differs from the client:
 * - `DELIMITER x` changes the terminator. It is recognised only as the first word of a line
 *   outside quotes and comments (the client also accepts it mid-line, which only ever bites
 *   scripts by accident). A statement still pending when a DELIMITER line appears is returned
 *   as it stands, as the client flushes its buffer there.
 * - Comments and whitespace before a statement are dropped, so every statement starts at real
 *   SQL and `line` points at it; `-- begin …` markers and file headers therefore never reach the
 *   server. Comments after a statement has started are kept verbatim: routine bodies carry them.
 * - Executable comments (`/*!…*\/`, MariaDB's `/*M!…*\/`) and optimizer hints (`/*+…*\/`) are
 *   statement text. Quotes are tracked inside them, as the server lexes their content as SQL,
 *   but the delimiter is not: a terminator can only follow the closing `*\/`.
 * - Backslash escapes inside '' and "" strings follow the session's NO_BACKSLASH_ESCAPES, which
 *   the client learns from the server after every statement. Dumps switch sql_mode around each
 *   routine, trigger and event (`SET sql_mode = '…'`, later `SET sql_mode = @saved_sql_mode`),
 *   and a routine created under NO_BACKSLASH_ESCAPES can end in `'C:\'`; so the reader follows
 *   those SET statements itself. A caller that knows the session's real state can still set
 *   {@link SqlScriptReader.noBackslashEscapes} between statements.
 * - Client commands other than DELIMITER (`\g`, `source`, …) are not interpreted; dumps have none.
 * - A quote or block comment still open at the end of the text is an error: the script is
 *   truncated or corrupt, and sending the remainder would fail on the server less clearly.
 */
import { AppError, ExitCode } from '../errors.js';

export interface SqlStatement {
  /** The statement without its delimiter, trimmed. */
  sql: string;
  /** 1-based line of the statement's first character in the script. */
  line: number;
}

export interface SplitSqlScriptOptions {
  /** Treat backslashes in strings as ordinary characters (sql_mode NO_BACKSLASH_ESCAPES). */
  noBackslashEscapes?: boolean;
}

/** The script cannot be split reliably: an unterminated quote or comment, a bad DELIMITER line. */
export class SqlScriptError extends AppError {
  readonly line: number;

  constructor(message: string, line: number) {
    super('SQL_SCRIPT_INVALID', `line ${line}: ${message}`, ExitCode.failure, {
      hint: 'the dump file may be truncated or corrupt; compare it with the copy in the backup location',
    });
    this.line = line;
  }
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const BACKTICK = 0x60;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const BOM = 0xfeff;

const SESSION_SQL_MODE = String.raw`(?:SESSION\s+|@@(?:SESSION\.)?)?sql_mode`;
/**
 * `SET @v = @@sql_mode` (group 1), `SET sql_mode = '…'` (group 2) or `SET sql_mode = @v`
 * (group 3), optionally inside an executable comment.
 */
const SET_SQL_MODE = new RegExp(
  String.raw`^(?:/\*!\d*\s*)?SET\s+(?:@(\w+)\s*=\s*@@(?:SESSION\.)?sql_mode|${SESSION_SQL_MODE}\s*=\s*(?:'([^'\\]*)'|@(\w+)))\s*(?:\*/)?$`,
  'i',
);

function isBlank(c: number): boolean {
  // NaN (past the end of the text) counts as blank so that `--` at the very end is a comment.
  return c === SPACE || c === TAB || c === NEWLINE || c === CR || c === 0x0b || c === 0x0c || Number.isNaN(c);
}

/**
 * Hands out the statements of one script in order. Reading is lazy so that a caller can change
 * {@link noBackslashEscapes} between statements, as the session's sql_mode changes.
 */
export class SqlScriptReader {
  /** Applies to strings read from the next call of {@link next} on. */
  noBackslashEscapes: boolean;
  private readonly text: string;
  private pos: number;
  private line = 1;
  private delimiterText = ';';
  private readonly savedModes = new Map<string, boolean>();

  constructor(text: string, options: SplitSqlScriptOptions = {}) {
    this.text = text;
    this.pos = text.charCodeAt(0) === BOM ? 1 : 0;
    this.noBackslashEscapes = options.noBackslashEscapes ?? false;
  }

  /** The delimiter in force at the current position. */
  get delimiter(): string {
    return this.delimiterText;
  }

  /** The next statement, or undefined at the end of the script. */
  next(): SqlStatement | undefined {
    const { text } = this;
    let start = -1;
    let startLine = 0;
    while (this.pos < text.length) {
      if (this.atLineStart() && this.readDelimiterLine(start >= 0)) {
        if (start >= 0) {
          const flushed = this.statement(start, this.pos, startLine);
          if (flushed) return flushed;
          start = -1;
        }
        continue;
      }
      const c = text.charCodeAt(this.pos);
      if (c === this.delimiterText.charCodeAt(0) && text.startsWith(this.delimiterText, this.pos)) {
        const end = this.pos;
        this.pos += this.delimiterText.length;
        if (start >= 0) {
          const stmt = this.statement(start, end, startLine);
          if (stmt) return stmt;
          start = -1;
        }
        continue;
      }
      if (c === NEWLINE) {
        this.line++;
        this.pos++;
        continue;
      }
      if (isBlank(c)) {
        this.pos++;
        continue;
      }
      if (this.skipComment(c)) continue;
      if (start < 0) {
        start = this.pos;
        startLine = this.line;
      }
      if (c === SINGLE_QUOTE || c === DOUBLE_QUOTE || c === BACKTICK) this.skipQuoted(c);
      else if (c === SLASH && text.charCodeAt(this.pos + 1) === STAR) this.skipExecutableComment();
      else this.pos++;
    }
    return start >= 0 ? this.statement(start, text.length, startLine) : undefined;
  }

  private statement(start: number, end: number, line: number): SqlStatement | undefined {
    const sql = this.text.slice(start, end).trim();
    if (!sql) return undefined;
    this.followSqlMode(sql);
    return { sql, line };
  }

  /**
   * Tracks NO_BACKSLASH_ESCAPES through the sql_mode statements dumps use: a literal mode, and
   * saving to / restoring from a user variable. Other ways of changing sql_mode are not followed.
   */
  private followSqlMode(sql: string): void {
    const m = SET_SQL_MODE.exec(sql);
    if (!m) return;
    const [, savedTo, literal, restoredFrom] = m;
    if (savedTo !== undefined) this.savedModes.set(savedTo.toLowerCase(), this.noBackslashEscapes);
    else if (literal !== undefined) this.noBackslashEscapes = /\bNO_BACKSLASH_ESCAPES\b/i.test(literal);
    else if (restoredFrom !== undefined) this.noBackslashEscapes = this.savedModes.get(restoredFrom.toLowerCase()) ?? this.noBackslashEscapes;
  }

  private atLineStart(): boolean {
    return this.pos === 0 || this.text.charCodeAt(this.pos - 1) === NEWLINE || (this.pos === 1 && this.text.charCodeAt(0) === BOM);
  }

  /**
   * Handles a `DELIMITER x` line at the current line start. With a statement pending it only
   * reports the line (the caller flushes first and comes back); otherwise it applies the new
   * delimiter and moves past the line.
   */
  private readDelimiterLine(pending: boolean): boolean {
    const { text } = this;
    let i = this.pos;
    while (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB) i++;
    if (text.slice(i, i + 9).toLowerCase() !== 'delimiter') return false;
    i += 9;
    if (text.charCodeAt(i) !== SPACE && text.charCodeAt(i) !== TAB) return false;
    if (pending) return true;
    while (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB) i++;
    let end = i;
    while (end < text.length && !isBlank(text.charCodeAt(end))) end++;
    if (end === i) throw new SqlScriptError('DELIMITER must be followed by the new delimiter', this.line);
    this.delimiterText = text.slice(i, end);
    // The client ignores the rest of the line; so do we.
    const eol = text.indexOf('\n', end);
    if (eol < 0) {
      this.pos = text.length;
    } else {
      this.pos = eol + 1;
      this.line++;
    }
    return true;
  }

  /** Skips a `#`, `-- ` or plain `/* *\/` comment starting here; executable comments are not skipped. */
  private skipComment(c: number): boolean {
    const { text } = this;
    if (c === HASH || (c === DASH && text.charCodeAt(this.pos + 1) === DASH && isBlank(text.charCodeAt(this.pos + 2)))) {
      const eol = text.indexOf('\n', this.pos);
      this.pos = eol < 0 ? text.length : eol;
      return true;
    }
    if (c !== SLASH || text.charCodeAt(this.pos + 1) !== STAR) return false;
    const marker = text.charCodeAt(this.pos + 2);
    const executable = marker === 0x21 /* ! */ || marker === 0x2b /* + */ || (marker === 0x4d /* M */ && text.charCodeAt(this.pos + 3) === 0x21);
    if (executable) return false;
    const close = text.indexOf('*/', this.pos + 2);
    if (close < 0) throw new SqlScriptError('unterminated /* comment', this.line);
    this.countLines(this.pos, close);
    this.pos = close + 2;
    return true;
  }

  /** Moves past an executable comment or optimizer hint, honouring quotes inside it. */
  private skipExecutableComment(): void {
    const { text } = this;
    const openLine = this.line;
    this.pos += 2;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c === STAR && text.charCodeAt(this.pos + 1) === SLASH) {
        this.pos += 2;
        return;
      }
      if (c === SINGLE_QUOTE || c === DOUBLE_QUOTE || c === BACKTICK) {
        this.skipQuoted(c);
        continue;
      }
      if (c === NEWLINE) this.line++;
      this.pos++;
    }
    throw new SqlScriptError('unterminated /*! comment', openLine);
  }

  /**
   * Moves past a quoted string or identifier. A doubled quote needs no special case: it closes
   * the quote and opens it again at once, which ends in the same state.
   */
  private skipQuoted(quote: number): void {
    const { text } = this;
    const openLine = this.line;
    const escapes = quote !== BACKTICK && !this.noBackslashEscapes;
    let i = this.pos + 1;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === quote) {
        this.pos = i + 1;
        return;
      }
      if (c === NEWLINE) this.line++;
      else if (c === BACKSLASH && escapes) {
        if (text.charCodeAt(i + 1) === NEWLINE) this.line++;
        i++;
      }
      i++;
    }
    const what = quote === BACKTICK ? 'identifier' : 'string';
    throw new SqlScriptError(`unterminated quoted ${what} (${String.fromCharCode(quote)})`, openLine);
  }

  private countLines(from: number, to: number): void {
    for (let i = this.text.indexOf('\n', from); i >= 0 && i < to; i = this.text.indexOf('\n', i + 1)) this.line++;
  }
}

/** All statements of a script, in order. */
export function splitSqlScript(text: string, options: SplitSqlScriptOptions = {}): SqlStatement[] {
  const reader = new SqlScriptReader(text, options);
  const statements: SqlStatement[] = [];
  for (let stmt = reader.next(); stmt; stmt = reader.next()) statements.push(stmt);
  return statements;
}
