/**
 * A streaming text-protocol query that hands each row packet's raw bytes to a callback, without
 * turning fields into JavaScript values. The dump engine encodes rows straight from these bytes
 * into TSV, which is what makes it faster than parsing rows into objects and re-encoding them.
 *
 * This plugs a command into mysql2's connection (mysql2 handles the handshake, authentication,
 * TLS and packet framing). It uses mysql2's internal Command/Packet classes, so mysql2 is pinned
 * to an exact version in package.json; the raw-query tests fail loudly if an upgrade breaks it.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Connection as CoreConnection } from 'mysql2';

const require = createRequire(import.meta.url);
// mysql2's package exports hide lib/; its files are loaded by path from the package folder.
const mysql2Dir = dirname(require.resolve('mysql2'));

interface Packet {
  buffer: Buffer;
  start: number;
  end: number;
  offset: number;
  isEOF(): boolean;
}

interface CommandBase {
  execute(packet: Packet, connection: InternalConnection): boolean;
}

interface InternalConnection {
  config: { charsetNumber: number; clientFlags: number };
  serverCapabilityFlags?: number;
  writePacket(packet: unknown): void;
  addCommand(command: CommandBase): void;
  pause(): void;
  resume(): void;
}

interface QueryPacketCtor {
  new (sql: string, charsetNumber: number, attributes: undefined, clientFlags: number): { toPacket(seq: number): unknown };
}
interface ResultSetHeaderCtor {
  new (packet: Packet, connection: InternalConnection): { fieldCount: number | null };
}

const Command = require(join(mysql2Dir, 'lib/commands/command.js')) as new () => CommandBase;
const Packets = require(join(mysql2Dir, 'lib/packets/index.js')) as { Query: QueryPacketCtor; ResultSetHeader: ResultSetHeaderCtor };

/** Receives one row: the row packet's payload is buffer[start, end). The buffer is reused afterwards. */
export type RawRowHandler = (buffer: Buffer, start: number, end: number) => void;

export interface RawQueryHandle {
  /**
   * Stops delivering packets (backpressure); the server waits once the socket buffers fill.
   * Once `done` has settled, pause() and resume() do nothing: the connection is no longer this
   * query's, and a pause would hold the next statement on it.
   */
  pause(): void;
  resume(): void;
  /** Resolves with the number of rows once the result set has ended; rejects on a server error. */
  readonly done: Promise<number>;
}

type State = (packet: Packet, connection: InternalConnection) => State | null;

class RawQueryCommand extends Command {
  private fieldCount = 0;
  private fieldsSeen = 0;
  rows = 0;
  next: State | null = null;
  // Command.execute() routes server errors here.
  onResult: ((err: Error | null) => void) | undefined;

  constructor(
    private readonly sql: string,
    private readonly onRow: RawRowHandler,
    onDone: (err: Error | null) => void,
  ) {
    super();
    this.onResult = onDone;
  }

  start: State = (_packet, connection) => {
    const flags = connection.config.clientFlags & (connection.serverCapabilityFlags ?? 0);
    connection.writePacket(new Packets.Query(this.sql, connection.config.charsetNumber, undefined, flags).toPacket(1));
    return this.header;
  };

  private header: State = (packet, connection) => {
    const header = new Packets.ResultSetHeader(packet, connection);
    if (!header.fieldCount) {
      // A statement without a result set (or LOCAL INFILE, which raw queries never send).
      this.finish(null);
      return null;
    }
    this.fieldCount = header.fieldCount;
    return this.field;
  };

  private field: State = () => {
    this.fieldsSeen++;
    return this.fieldsSeen === this.fieldCount ? this.fieldsEof : this.field;
  };

  private fieldsEof: State = () => this.row;

  private row: State = (packet) => {
    if (packet.isEOF()) {
      this.finish(null);
      return null;
    }
    this.rows++;
    this.onRow(packet.buffer, packet.start + 4, packet.end);
    return this.row;
  };

  private finish(err: Error | null): void {
    const cb = this.onResult;
    this.onResult = undefined;
    if (cb) process.nextTick(() => cb(err));
  }
}

/**
 * Runs `sql` on `connection` and streams raw rows to `onRow`. The connection must not be used for
 * anything else until `done` settles.
 */
export function rawQuery(connection: CoreConnection, sql: string, onRow: RawRowHandler): RawQueryHandle {
  const internal = connection as unknown as InternalConnection;
  let ended = false;
  let onConnectionError: ((err: Error) => void) | undefined;
  const done = new Promise<number>((resolve, reject) => {
    const command: RawQueryCommand = new RawQueryCommand(sql, onRow, (err) => {
      ended = true;
      if (err) reject(err);
      else resolve(command.rows);
    });
    // mysql2 reports a dead socket to the running command, but be sure the promise settles.
    onConnectionError = (err: Error): void => {
      if (command.onResult) {
        command.onResult = undefined;
        ended = true;
        reject(err);
      }
    };
    connection.once('error', onConnectionError);
    internal.addCommand(command);
  }).finally(() => {
    if (onConnectionError) connection.removeListener('error', onConnectionError);
  });
  return {
    pause: () => {
      if (!ended) internal.pause();
    },
    resume: () => {
      if (!ended) internal.resume();
    },
    done,
  };
}
