/**
 * A schema script (`<S>.sql`) holds the schema's own DDL and, between `-- begin …` / `-- end …`
 * marker lines, its events and routines. The loader runs those at different times (routines
 * before the data, events after it, so no scheduled event runs against half-loaded tables), so
 * it sorts the script's statements by the section they sit in.
 */
import type { SqlStatement } from './sql-script.js';

export type SectionKind = 'schema' | 'routine' | 'event';

interface Range {
  kind: SectionKind;
  from: number;
  to: number;
}

/** Line ranges of the marked sections, from the script text. */
function markedRanges(text: string): Range[] {
  const ranges: Range[] = [];
  let open: { kind: SectionKind; from: number } | undefined;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const m = /^-- (begin|end) (function|procedure|event) /.exec(line);
    if (!m) return;
    const kind: SectionKind = m[2] === 'event' ? 'event' : 'routine';
    if (m[1] === 'begin') open = { kind, from: i + 1 };
    else if (open) {
      ranges.push({ kind: open.kind, from: open.from, to: i + 1 });
      open = undefined;
    }
  });
  if (open) ranges.push({ kind: open.kind, from: open.from, to: lines.length });
  return ranges;
}

/** Statements of a schema script grouped by section, each group in script order. */
export function sectionsOf(text: string, statements: readonly SqlStatement[]): Record<SectionKind, SqlStatement[]> {
  const ranges = markedRanges(text);
  const out: Record<SectionKind, SqlStatement[]> = { schema: [], routine: [], event: [] };
  for (const s of statements) {
    const range = ranges.find((r) => s.line > r.from && s.line < r.to);
    out[range?.kind ?? 'schema'].push(s);
  }
  return out;
}
