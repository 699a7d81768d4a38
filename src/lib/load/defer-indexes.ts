/**
 * Deferred secondary indexes: the loader creates a table without its secondary indexes, loads
 * the data, then adds the indexes back with ALTER TABLE, which builds each index in one sorted
 * pass instead of row by row (MySQL Shell's `deferTableIndexes`).
 *
 * The input is SHOW CREATE TABLE output (MySQL 5.7/8.x, MariaDB 10.x+), whose layout is fixed:
 * `CREATE TABLE name (` and a newline, one definition per entry indented by two spaces and
 * separated by `,` + newline, then a newline and `) table options`. Anything that does not
 * follow that layout exactly is returned unchanged: skipping the optimisation is always safe,
 * broken DDL never is.
 *
 * The goal is that `createSql` followed by the ALTER TABLE recreates the table so that SHOW
 * CREATE TABLE prints the original text again. The server keeps secondary indexes sorted: unique
 * keys first (NOT NULL before nullable, without prefix parts before with, long-hash last on
 * MariaDB), then ordinary and spatial keys (on MySQL, keys on virtual generated columns last
 * among them), then FULLTEXT keys, ties in creation order. An index added later therefore lands
 * behind every index of its group that was kept in the CREATE TABLE. To keep the printed order,
 * an index that precedes a kept index of its own group is kept as well (see `keepIndexOrder`).
 * The groups are only unique / ordinary / FULLTEXT: coarser than the server's, so sometimes an
 * index is kept that could have been deferred, but correct whatever finer rules a version has.
 */

export type DeferIndexesMode = 'all' | 'fulltext' | 'off';

export interface DeferIndexesOptions {
  /** `all`: every secondary index that may be deferred; `fulltext`: FULLTEXT only; `off`: none. Default `all`. */
  mode?: DeferIndexesMode;
  /**
   * Keep an index that the server would print in another position if it were added afterwards
   * (default true). With false more indexes are deferred, and SHOW CREATE TABLE may list them in
   * a different order; the indexes themselves are the same.
   */
  keepIndexOrder?: boolean;
  /**
   * Column lists of this table that foreign keys of other tables reference (see
   * {@link foreignKeyReferences}). The server refuses to create a child table whose foreign key
   * points at an existing table without a matching index, even with foreign_key_checks=0, so an
   * index these columns lead is kept. References from the table to itself are found without this.
   */
  referencedColumns?: ReadonlyArray<readonly string[]>;
}

/** The table and columns one foreign key points at. */
export interface ForeignKeyReference {
  /** Undefined when SHOW CREATE TABLE left it out: the referencing table's own schema. */
  schema: string | undefined;
  table: string;
  columns: string[];
}

export interface DeferredIndexes {
  /** The CREATE TABLE statement without the deferred indexes (the input itself when none are). */
  createSql: string;
  /** `ADD …` clauses for `ALTER TABLE t <clauses>`, in the order the indexes had. */
  deferred: string[];
}

type IndexType = 'unique' | 'key' | 'spatial' | 'fulltext';

interface KeyPart {
  column: string;
  prefix: boolean;
}

type Definition =
  | { kind: 'column'; name: string; autoIncrement: boolean; notNull: boolean }
  | { kind: 'primary'; columns: string[] }
  /** `parts` is undefined for key parts that are not plain columns (functional, WITHOUT OVERLAPS). */
  | { kind: 'index'; type: IndexType; parts: KeyPart[] | undefined }
  | { kind: 'foreign-key'; columns: string[]; references: ForeignKeyReference }
  /** Some other index kind (VECTOR, …): never deferred, and treated as a member of every group. */
  | { kind: 'other-index' }
  | { kind: 'constraint' };

interface TableLayout {
  /** The table's name, unquoted. */
  table: string;
  /** Everything up to and including `(` and its newline. */
  head: string;
  /** Each definition without its indentation, separator or newline. */
  definitions: string[];
  /** From the closing `)` to the end. */
  tail: string;
}

const INDENT = '  ';

/**
 * Splits SHOW CREATE TABLE output into the table without its deferrable secondary indexes and
 * the `ADD …` clauses that recreate them. Never defers the PRIMARY KEY, an index containing the
 * AUTO_INCREMENT column, an index led by the columns of a foreign key of this table or by
 * columns a foreign key references (`referencedColumns`, self-references), functional indexes,
 * the unique NOT NULL keys of a table without a primary key (InnoDB clusters the table on the
 * first of them), or index kinds it does not know.
 */
export function deferIndexes(createTableSql: string, options: DeferIndexesOptions = {}): DeferredIndexes {
  const unchanged: DeferredIndexes = { createSql: createTableSql, deferred: [] };
  const mode = options.mode ?? 'all';
  if (mode === 'off') return unchanged;
  const layout = splitCreateTable(createTableSql);
  if (!layout) return unchanged;
  const definitions = layout.definitions.map(classifyDefinition);
  if (!definitions.every((d) => d !== undefined)) return unchanged;
  const selfReferences = definitions.flatMap((d) => (d.kind === 'foreign-key' && lower(d.references.table) === lower(layout.table) ? [d.references.columns] : []));
  const referenced = [...(options.referencedColumns ?? []), ...selfReferences];
  const defer = chooseDeferred(definitions, { mode, keepIndexOrder: options.keepIndexOrder ?? true, referenced });
  if (defer.size === 0) return unchanged;
  const kept = layout.definitions.filter((_, i) => !defer.has(i));
  return {
    createSql: joinLayout({ ...layout, definitions: kept }),
    deferred: layout.definitions.filter((_, i) => defer.has(i)).map((d) => `ADD ${d.trimEnd()}`),
  };
}

/**
 * The tables and columns the foreign keys of a CREATE TABLE statement (SHOW CREATE TABLE output)
 * point at, so that a loader can pass each referenced table its `referencedColumns`. Empty when
 * the statement cannot be parsed.
 */
export function foreignKeyReferences(createTableSql: string): ForeignKeyReference[] {
  // Most tables have no foreign key, and every foreign key says REFERENCES: those need no parse.
  if (!/\bREFERENCES\b/i.test(createTableSql)) return [];
  const layout = splitCreateTable(createTableSql);
  if (!layout) return [];
  return layout.definitions.map(classifyDefinition).flatMap((d) => (d?.kind === 'foreign-key' ? [d.references] : []));
}

/**
 * Groups `ADD …` clauses into ALTER TABLE batches. InnoDB builds only one FULLTEXT index per
 * in-place ALTER and otherwise silently copies the whole table, so each further FULLTEXT index
 * gets its own batch; everything else goes with the first.
 */
export function batchDeferredIndexes(deferred: readonly string[]): string[][] {
  const first: string[] = [];
  const rest: string[][] = [];
  let fulltextSeen = false;
  for (const clause of deferred) {
    const fulltext = /^ADD FULLTEXT /i.test(clause);
    if (fulltext && fulltextSeen) rest.push([clause]);
    else first.push(clause);
    fulltextSeen ||= fulltext;
  }
  return first.length > 0 ? [first, ...rest] : rest;
}

interface Choice {
  mode: DeferIndexesMode;
  keepIndexOrder: boolean;
  referenced: ReadonlyArray<readonly string[]>;
}

function chooseDeferred(definitions: readonly Definition[], { mode, keepIndexOrder, referenced }: Choice): Set<number> {
  const columns = definitions.filter((d) => d.kind === 'column');
  const autoIncrement = new Set(columns.filter((c) => c.autoIncrement).map((c) => lower(c.name)));
  // Both ends of a foreign key need an index led by the key's columns.
  const needIndex = [...definitions.filter((d) => d.kind === 'foreign-key').map((d) => d.columns), ...referenced].map((cols) => cols.map(lower));
  const primary = definitions.find((d) => d.kind === 'primary');
  const notNull = new Set(columns.filter((c) => c.notNull).map((c) => lower(c.name)));
  for (const c of primary?.columns ?? []) notNull.add(lower(c));

  const defer = new Set<number>();
  definitions.forEach((d, i) => {
    if (d.kind !== 'index' || !d.parts) return;
    if (mode === 'fulltext' && d.type !== 'fulltext') return;
    const names = d.parts.map((p) => lower(p.column));
    if (names.some((n) => autoIncrement.has(n))) return;
    if (needIndex.some((cols) => cols.every((c, j) => names[j] === c))) return;
    // Without a primary key InnoDB clusters the table on a unique NOT NULL key; adding that key
    // later would rebuild the table instead of adding an index.
    if (!primary && d.type === 'unique' && names.every((n) => notNull.has(n))) return;
    defer.add(i);
  });
  if (keepIndexOrder) keepOrder(definitions, defer);
  return defer;
}

type IndexGroup = 'unique' | 'plain' | 'fulltext';

function indexGroup(d: Definition): IndexGroup | 'any' | undefined {
  if (d.kind === 'other-index') return 'any';
  if (d.kind !== 'index') return undefined;
  if (d.type === 'unique') return 'unique';
  return d.type === 'fulltext' ? 'fulltext' : 'plain';
}

/** Un-defers every index that appears before a kept index of the same group. */
function keepOrder(definitions: readonly Definition[], defer: Set<number>): void {
  const groups = definitions.map(indexGroup);
  const lastKept = new Map<IndexGroup | 'any', number>();
  groups.forEach((group, i) => {
    if (group && !defer.has(i)) lastKept.set(group, i);
  });
  const anyKept = lastKept.get('any') ?? -1;
  for (const i of [...defer]) {
    const group = groups[i];
    const limit = Math.max(group ? (lastKept.get(group) ?? -1) : -1, anyKept);
    if (i < limit) defer.delete(i);
  }
}

// ---------------------------------------------------------------------------------------------
// Layout

function splitCreateTable(sql: string): TableLayout | undefined {
  const prefix = /^CREATE (?:TEMPORARY )?TABLE (?:IF NOT EXISTS )?/i.exec(sql);
  if (!prefix) return undefined;
  const name = readQualifiedName(sql.slice(prefix[0].length));
  if (!name?.rest.startsWith(' (\n')) return undefined;
  const i = sql.length - name.rest.length;
  const bodyStart = i + 3;
  const split = splitTopLevel(sql, bodyStart);
  if (!split) return undefined;
  const { pieces, end } = split;
  const definitions = pieces.map((piece, n) => {
    const lead = n === 0 ? INDENT : `\n${INDENT}`;
    const trail = n === pieces.length - 1 ? '\n' : '';
    if (!piece.startsWith(lead) || !piece.endsWith(trail)) return undefined;
    const def = piece.slice(lead.length, piece.length - trail.length);
    return def === '' || /^\s/.test(def) ? undefined : def;
  });
  if (!definitions.every((d) => d !== undefined)) return undefined;
  const layout = { table: name.table, head: sql.slice(0, bodyStart), definitions, tail: sql.slice(end) };
  // The rebuilt text must be the input itself, or the layout was not what it seemed.
  if (!/^\)(\s|$)/.test(layout.tail) || joinLayout(layout) !== sql) return undefined;
  return layout;
}

function joinLayout(layout: TableLayout): string {
  return `${layout.head}${layout.definitions.map((d) => INDENT + d).join(',\n')}\n${layout.tail}`;
}

/**
 * Splits `text` from `start` at top-level commas up to the first unbalanced `)`, skipping quoted
 * text, comments and nested parentheses. Undefined if the text ends first.
 */
function splitTopLevel(text: string, start: number): { pieces: string[]; end: number } | undefined {
  const pieces: string[] = [];
  let depth = 0;
  let pieceStart = start;
  let i = start;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      const after = skipQuoted(text, i);
      if (after === undefined) return undefined;
      i = after;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) return undefined;
      i = close + 2;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && depth === 0) {
      pieces.push(text.slice(pieceStart, i));
      return { pieces, end: i };
    } else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      pieces.push(text.slice(pieceStart, i));
      pieceStart = i + 1;
    }
    i++;
  }
  return undefined;
}

/** Index after the quoted text starting at `i`; backslash escapes apply to strings, not identifiers. */
function skipQuoted(text: string, i: number): number | undefined {
  const quote = text[i];
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === quote) {
      if (text[j + 1] !== quote) return j + 1;
      j++;
    } else if (text[j] === '\\' && quote !== '`') {
      j++;
    }
  }
  return undefined;
}

const BARE_IDENTIFIER = /^[A-Za-z0-9_$\u0080-\uffff]+/;

/** Index after the identifier at `i` (quoted with backticks or ANSI double quotes, or bare). */
function skipIdentifier(text: string, i: number): number | undefined {
  const c = text[i];
  if (c === '`' || c === '"') return skipQuoted(text, i);
  const bare = BARE_IDENTIFIER.exec(text.slice(i, i + 256));
  return bare ? i + bare[0].length : undefined;
}

function unquoteIdentifier(raw: string): string {
  const quote = raw[0];
  if (quote !== '`' && quote !== '"') return raw;
  return raw.slice(1, -1).split(quote + quote).join(quote);
}

/** The identifier at the start of `text` and the rest after it. */
function readIdentifier(text: string): { name: string; rest: string } | undefined {
  const end = skipIdentifier(text, 0);
  return end === undefined ? undefined : { name: unquoteIdentifier(text.slice(0, end)), rest: text.slice(end) };
}

/** `table` or `schema`.`table` at the start of `text`. */
function readQualifiedName(text: string): { schema: string | undefined; table: string; rest: string } | undefined {
  const first = readIdentifier(text);
  if (!first) return undefined;
  if (!first.rest.startsWith('.')) return { schema: undefined, table: first.name, rest: first.rest };
  const second = readIdentifier(first.rest.slice(1));
  return second ? { schema: first.name, table: second.name, rest: second.rest } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Definitions

const INDEX_PREFIX = /^(?:(UNIQUE|FULLTEXT|SPATIAL) )?KEY /;
const OTHER_INDEX_PREFIX = /^(?:(?:[A-Z]+ )?(?:KEY|INDEX)\b|INDEX\b)/;
const CONSTRAINT_PREFIX = /^(?:CONSTRAINT\b|CHECK\b|FOREIGN KEY\b|PERIOD FOR\b)/;

function classifyDefinition(def: string): Definition | undefined {
  if (def.startsWith('PRIMARY KEY ')) {
    // The columns only widen the NOT NULL set, which matters only without a primary key, so an
    // unusual key part (MariaDB's WITHOUT OVERLAPS) need not stop the whole table.
    return { kind: 'primary', columns: readColumnList(def.slice('PRIMARY KEY '.length))?.columns ?? [] };
  }
  const index = INDEX_PREFIX.exec(def);
  if (index) return parseIndex(def.slice(index[0].length), indexType(index[1]));
  if (CONSTRAINT_PREFIX.test(def)) return parseConstraint(def);
  if (OTHER_INDEX_PREFIX.test(def)) return { kind: 'other-index' };
  return parseColumn(def);
}

function indexType(word: string | undefined): IndexType {
  if (word === 'UNIQUE') return 'unique';
  if (word === 'FULLTEXT') return 'fulltext';
  return word === 'SPATIAL' ? 'spatial' : 'key';
}

/** `name (parts) options` after the index keyword. */
function parseIndex(text: string, type: IndexType): Definition | undefined {
  const name = readIdentifier(text);
  if (!name?.rest.startsWith(' (')) return undefined;
  const list = splitTopLevel(name.rest, 2);
  if (!list) return undefined;
  const options = name.rest.slice(list.end + 1);
  if (options !== '' && !options.startsWith(' ')) return undefined;
  const parts = list.pieces.map(parseKeyPart);
  return { kind: 'index', type, parts: parts.every((p) => p !== undefined) ? parts : undefined };
}

/** A plain key part: column, optional prefix length, optional direction. */
function parseKeyPart(text: string): KeyPart | undefined {
  const id = readIdentifier(text.trim());
  if (!id) return undefined;
  const match = /^(\(\d+\))?(?: (?:ASC|DESC))?$/.exec(id.rest);
  return match ? { column: id.name, prefix: match[1] !== undefined } : undefined;
}

/** `(a,b)` or `(a, b)`, possibly followed by options; plain column names only. */
function readColumnList(text: string): { columns: string[]; rest: string } | undefined {
  if (!text.startsWith('(')) return undefined;
  const list = splitTopLevel(text, 1);
  if (!list) return undefined;
  const parts = list.pieces.map(parseKeyPart);
  return parts.every((p) => p !== undefined) ? { columns: parts.map((p) => p.column), rest: text.slice(list.end + 1) } : undefined;
}

function parseConstraint(def: string): Definition | undefined {
  let rest = def;
  if (rest.startsWith('CONSTRAINT ')) {
    const name = readIdentifier(rest.slice('CONSTRAINT '.length));
    if (!name) return undefined;
    rest = name.rest.trimStart();
  }
  if (!rest.startsWith('FOREIGN KEY ')) return { kind: 'constraint' };
  // MySQL names the FK's index after FOREIGN KEY only in CREATE statements, never in SHOW output.
  const own = readColumnList(rest.slice('FOREIGN KEY '.length));
  if (!own?.rest.startsWith(' REFERENCES ')) return undefined;
  const target = readQualifiedName(own.rest.slice(' REFERENCES '.length));
  if (!target?.rest.startsWith(' ')) return undefined;
  const theirs = readColumnList(target.rest.slice(1));
  if (!theirs) return undefined;
  return { kind: 'foreign-key', columns: own.columns, references: { schema: target.schema, table: target.table, columns: theirs.columns } };
}

function parseColumn(def: string): Definition | undefined {
  const id = readIdentifier(def);
  if (!id?.rest.startsWith(' ')) return undefined;
  const words = topLevelWords(id.rest);
  if (words === undefined) return undefined;
  return {
    kind: 'column',
    name: id.name,
    autoIncrement: words.includes('AUTO_INCREMENT'),
    notNull: / NOT NULL /.test(` ${words.join(' ')} `),
  };
}

/**
 * The upper-cased bare words of a column definition outside quotes, comments and parentheses,
 * so that `COMMENT 'AUTO_INCREMENT'` or `CHECK (a IS NOT NULL)` are not mistaken for attributes.
 */
function topLevelWords(text: string): string[] | undefined {
  let flat = '';
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "'" || c === '"' || c === '`') {
      const after = skipQuoted(text, i);
      if (after === undefined) return undefined;
      flat += ' ';
      i = after;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) return undefined;
      flat += ' ';
      i = close + 2;
    } else {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      else flat += depth === 0 ? c : '';
      if (c === '(' || c === ')') flat += ' ';
      i++;
    }
  }
  return flat.toUpperCase().split(/\s+/).filter(Boolean);
}

function lower(name: string): string {
  return name.toLowerCase();
}
