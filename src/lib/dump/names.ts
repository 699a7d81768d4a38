/**
 * File names in MySQL Shell's dump layout (FORMAT.md §1): schema, table and partition names are
 * percent-encoded per byte (ASCII except A-Z a-z 0-9 - . _ ~ becomes %XX; UTF-8 bytes stay raw),
 * and an encoded basename longer than 225 code points is cut and given an ordinal. Readers use
 * the `basenames` maps in the JSON metadata, so writers must record every name they produce.
 */

const maxBasenameCodePoints = 225;

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x7e // ~
  );
}

/** Percent-encodes one name the way MySQL Shell does. */
export function encodeName(name: string): string {
  const bytes = Buffer.from(name, 'utf8');
  const out: number[] = [];
  for (const b of bytes) {
    if (b >= 0x80 || isUnreserved(b)) {
      out.push(b);
    } else {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      out.push(0x25, hex.charCodeAt(0), hex.charCodeAt(1));
    }
  }
  return Buffer.from(out).toString('utf8');
}

/**
 * Hands out basenames for one dump, remembering how many times each cut prefix has been used so
 * that long names that share their first 225 code points still get distinct files.
 */
export class BasenameAllocator {
  private readonly ordinals = new Map<string, number>();

  private fit(encoded: string): string {
    const codePoints = Array.from(encoded);
    if (codePoints.length <= maxBasenameCodePoints) return encoded;
    const cut = codePoints.slice(0, maxBasenameCodePoints).join('');
    const ordinal = this.ordinals.get(cut) ?? 0;
    this.ordinals.set(cut, ordinal + 1);
    return `${cut}${ordinal}`;
  }

  schema(schema: string): string {
    return this.fit(encodeName(schema));
  }

  table(schemaBasename: string, table: string): string {
    return this.fit(`${schemaBasename}@${encodeName(table)}`);
  }
}

/** `s@t@3.tsv.zst`, or `s@t@@3.tsv.zst` for the final chunk; `s@t.tsv.zst` when not chunked. */
export function dataFileName(tableBasename: string, extension: string, chunk: number | null, last: boolean): string {
  if (chunk === null) return `${tableBasename}.${extension}`;
  return `${tableBasename}@${last ? '@' : ''}${chunk}.${extension}`;
}
