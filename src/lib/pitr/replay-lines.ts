/**
 * Where in the binlogs a replay failed. The client names the failing statement only by its line
 * in what it was given (`ERROR 1062 (23000) at line 57: …`); the binlog tool prints `# at <pos>`
 * before every event. Counting the lines given to the client, and noting the line of each
 * transaction's first event, turns the client's line into the binlog file, the offset and the
 * GTID of the transaction that failed: what the error names instead of the statement's row data.
 *
 * Memory: one mark per transaction given, as the replay's plan already holds; the output itself
 * is only scanned for line ends.
 */

/** A transaction the replay gives the client: its file (`<site>/<file>`), start offset (bytes) and GTID. */
export interface GivenTransaction {
  file: string;
  position: number;
  gtid: string | null;
}

interface Mark extends GivenTransaction {
  /** The line (from 1) of the client's input where the transaction's first event begins. */
  line: number;
}

/** The longest `# at <pos>` line worth reading; anything longer is not one. */
const headLimit = 32;
const newline = 0x0a;

export class ReplayLines {
  private line: number;
  /** The start of the current line, while it may still be a `# at <pos>` line. */
  private head = '';
  private collecting = true;
  private readonly marks: Mark[] = [];

  /** `linesBefore`: lines the client was given before the binlog tool's output (a SET statement). */
  constructor(linesBefore = 0) {
    this.line = linesBefore + 1;
  }

  /**
   * Reads a chunk of the binlog tool's output for the file `file`, whose transactions start at
   * the offsets `starts` (offset → GTID), as it goes to the client.
   */
  feed(chunk: Buffer, file: string, starts: ReadonlyMap<number, string | null>): void {
    let i = 0;
    while (i < chunk.length) {
      const nl = chunk.indexOf(newline, i);
      const end = nl < 0 ? chunk.length : nl;
      if (this.collecting) {
        this.head += chunk.toString('latin1', i, Math.min(end, i + headLimit - this.head.length + 1));
        if (this.head.length > headLimit || (this.head.length > 0 && this.head[0] !== '#')) this.collecting = false;
      }
      if (nl < 0) return;
      if (this.collecting) {
        const at = /^# at (\d+)\s*$/.exec(this.head);
        if (at) {
          const position = Number(at[1]);
          if (starts.has(position)) this.marks.push({ line: this.line, file, position, gtid: starts.get(position) ?? null });
        }
      }
      this.line++;
      this.head = '';
      this.collecting = true;
      i = nl + 1;
    }
  }

  /** The transaction that holds line `line` of the client's input, or null before the first one. */
  transactionAt(line: number): GivenTransaction | null {
    // Marks are in line order: the last one at or before the line.
    let lo = 0;
    let hi = this.marks.length - 1;
    let found: Mark | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const mark = this.marks[mid]!;
      if (mark.line <= line) {
        found = mark;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found ? { file: found.file, position: found.position, gtid: found.gtid } : null;
  }
}
