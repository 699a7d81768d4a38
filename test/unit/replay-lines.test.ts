import { describe, expect, it } from 'vitest';
import { ReplayLines } from '../../src/lib/pitr/replay-lines.js';

/** Output shaped as mariadb-binlog prints it: a header, then `# at <pos>` before each event. */
const output = [
  '/*!40019 SET @@session.max_delayed_threads=0*/;', // line 1 (2 with the SET before it)
  'DELIMITER /*!*/;',
  '# at 4',
  '#700101  0:00:00 server id 1  end_log_pos 256 CRC32 0x00000000 	Start: binlog v 4',
  '# at 256', // line 5: transaction A starts
  '#700101  0:00:00 server id 1  end_log_pos 298 CRC32 0x00000000 	GTID 0-1-7 trans',
  'BEGIN',
  '/*!*/;',
  '# at 298', // an event inside A: not a transaction start
  "BINLOG '",
  'AbCdEfGh',
  "'/*!*/;",
  '# at 420', // line 13: transaction B starts
  'BEGIN',
  "BINLOG '",
  'IjKlMnOp',
  "'/*!*/;",
  'COMMIT/*!*/;',
  '',
].join('\n');

describe('ReplayLines', () => {
  const starts = new Map<number, string | null>([
    [256, '0-1-7'],
    [420, '0-1-8'],
  ]);

  it.each([1, 3, 7, 64])('maps a line of the client to the transaction that holds it, with the output cut in pieces of %i bytes', (size) => {
    const lines = new ReplayLines(1);
    const bytes = Buffer.from(output);
    for (let i = 0; i < bytes.length; i += size) lines.feed(bytes.subarray(i, i + size), 'here/binlog.000002', starts);
    // With the SET statement before it, the tool's line n is the client's line n + 1.
    expect(lines.transactionAt(5)).toBeNull();
    expect(lines.transactionAt(6)).toEqual({ file: 'here/binlog.000002', position: 256, gtid: '0-1-7' });
    expect(lines.transactionAt(12)).toEqual({ file: 'here/binlog.000002', position: 256, gtid: '0-1-7' });
    expect(lines.transactionAt(14)).toEqual({ file: 'here/binlog.000002', position: 420, gtid: '0-1-8' });
    expect(lines.transactionAt(10_000)).toEqual({ file: 'here/binlog.000002', position: 420, gtid: '0-1-8' });
  });

  it('counts on across files, naming the file of each transaction', () => {
    const lines = new ReplayLines();
    lines.feed(Buffer.from('# at 256\nBEGIN\n'), 'here/binlog.000001', new Map([[256, '0-1-1']]));
    lines.feed(Buffer.from('header\n# at 300\nBEGIN\n'), 'here/binlog.000002', new Map([[300, null]]));
    expect(lines.transactionAt(2)).toEqual({ file: 'here/binlog.000001', position: 256, gtid: '0-1-1' });
    expect(lines.transactionAt(4)).toEqual({ file: 'here/binlog.000002', position: 300, gtid: null });
  });

  it('does not take a long line that begins like a mark for one', () => {
    const lines = new ReplayLines();
    lines.feed(Buffer.from(`# at 256${' '.repeat(100)}x\nBEGIN\n`), 'f', new Map([[256, 'g']]));
    expect(lines.transactionAt(2)).toBeNull();
  });
});
