/**
 * Connections to the MySQL/MariaDB server, over mysql2. Every error from the driver is turned
 * into a MysqlError that says what went wrong and what to do (unreachable, wrong password,
 * missing privilege), so nothing above this layer sees raw driver errors.
 */
import type { Connection as CoreConnection } from 'mysql2';
import { createConnection, type Connection, type ConnectionOptions as Mysql2Options } from 'mysql2/promise';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { AppError, MysqlError } from '../errors.js';
import { rawQuery, type RawQueryHandle, type RawRowHandler } from './raw-query.js';
import { statementShape, withoutRowData } from './row-data.js';

export interface ConnectionOptions {
  host?: string;
  port?: number;
  socket?: string;
  user: string;
  password?: string;
  connectTimeoutMs?: number;
  /**
   * How long the server may answer nothing before a run that watches it (server-watch.ts) is
   * stopped with SERVER_UNRESPONSIVE (default 60 s).
   */
  unresponsiveTimeoutMs?: number;
  /** Where the password came from, for error messages ("passwordFile /x", "a prompt"). */
  passwordSource?: string;
  /** How the user named the settings, for hints: flags or config fields (default: the config fields). */
  settingNames?: { address: string; account: string; unresponsiveTimeout?: string; connectTimeout?: string };
}

export type Row = Record<string, unknown>;

/** A session that runs statements: what the snapshot needs of every session it opens (dump threads' included). */
export interface StatementSession {
  /** The server's connection (thread) id, for KILL. */
  readonly threadId: number;
  query<T extends Row = Row>(sql: string, values?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement that returns no rows. */
  exec(sql: string, values?: readonly unknown[]): Promise<void>;
  close(): Promise<void>;
  /**
   * Drops the connection at once, without waiting for a running statement; that statement (and a
   * close() under way) fails with `reason`, by default MYSQL_SESSION_DROPPED.
   */
  destroy(reason?: Error): void;
}

export interface MysqlSession extends StatementSession {
  /** Streams a result set's raw row packets (see raw-query.ts). */
  raw(sql: string, onRow: RawRowHandler): RawQueryHandle;
  /**
   * Runs LOAD DATA LOCAL INFILE `sql`, feeding the server from `source` instead of a local file.
   * Returns what the server reported (see LoadDataResult).
   */
  loadLocal(sql: string, source: () => Readable): Promise<LoadDataResult>;
}

/** What the server reports for a LOAD DATA: `Records: N  Deleted: D  Skipped: S  Warnings: W`. */
export interface LoadDataResult {
  /** Lines read from the input. */
  records: number;
  /** Existing rows replaced (REPLACE), each counted once. */
  deleted: number;
  /** Lines not loaded (IGNORE, or duplicates without REPLACE). */
  skipped: number;
  warnings: number;
  /** Rows added to the table: records − deleted − skipped. */
  added: number;
}

/** Reads the OK packet's info text of a LOAD DATA; without one, the affected rows stand for the records. */
export function parseLoadDataInfo(info: string | undefined, affectedRows: number, warningStatus: number): LoadDataResult {
  const field = (name: string): number | undefined => {
    const m = new RegExp(`${name}:\\s*(\\d+)`).exec(info ?? '');
    return m ? Number(m[1]) : undefined;
  };
  const records = field('Records') ?? affectedRows;
  const deleted = field('Deleted') ?? 0;
  const skipped = field('Skipped') ?? 0;
  return { records, deleted, skipped, warnings: field('Warnings') ?? warningStatus, added: records - deleted - skipped };
}

export interface MysqlConnector {
  /** `host:port` or the socket path, for messages. */
  readonly target: string;
  readonly user: string;
  /** How to reach the server, for the client programs (binlog replay) that need it too. */
  readonly options: ConnectionOptions;
  connect(): Promise<MysqlSession>;
  /**
   * Puts a session to the same server that was opened elsewhere (a dump thread's, with these
   * options) under this connector's watch, where it has one (server-watch.ts): the session is
   * dropped with the others when the server stops answering, and its errors are explained the
   * same way. Connectors without a watch leave it out.
   */
  watch?(session: WatchableSession): void;
}

/** What a connector's watch needs of a session it did not open itself. */
export interface WatchableSession {
  destroy(reason?: Error): void;
  /** Every error the session reports from now on goes through `explain` first. */
  explainErrorsWith(explain: (err: unknown) => unknown): void;
}

export function describeTarget(options: Pick<ConnectionOptions, 'host' | 'port' | 'socket'>): string {
  return options.socket ? `socket ${options.socket}` : `${options.host ?? '127.0.0.1'}:${options.port ?? 3306}`;
}

export function createMysqlConnector(options: ConnectionOptions): MysqlConnector {
  const target = describeTarget(options);
  return {
    target,
    user: options.user,
    options,
    async connect() {
      const driverOptions: Mysql2Options = {
        user: options.user,
        password: options.password ?? '',
        connectTimeout: options.connectTimeoutMs ?? 10_000,
        ...(options.socket ? { socketPath: options.socket } : { host: options.host ?? '127.0.0.1', port: options.port ?? 3306 }),
        charset: 'UTF8MB4_GENERAL_CI',
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
        decimalNumbers: false,
        multipleStatements: false,
        // No stack captured per query (mysql2's default): a load runs tens of thousands of
        // statements, and every error is translated with its statement anyway.
        trace: false,
        flags: ['+LOCAL_FILES'],
        // LOAD DATA LOCAL only ever reads from streams the loader hands over, never from disk.
        infileStreamFactory: () => {
          throw new Error('LOAD DATA LOCAL without a source stream');
        },
      };
      let conn: Connection;
      try {
        conn = await createConnection(driverOptions);
      } catch (err) {
        throw translateMysqlError(err, {
          target,
          user: options.user,
          passwordSource: options.passwordSource,
          settingNames: options.settingNames,
          connectTimeoutMs: driverOptions.connectTimeout,
        });
      }
      // Keep an error listener so a dropped connection never becomes an uncaught exception.
      coreOf(conn).on('error', () => undefined);
      return wrapConnection(conn, target, options.user);
    },
  };
}

/** The callback-style connection under mysql2's promise wrapper (not in its type declarations). */
function coreOf(conn: Connection): CoreConnection {
  return (conn as unknown as { connection: CoreConnection }).connection;
}

/**
 * Ends the connection without a goodbye. mysql2's destroy() only half-closes the socket, which
 * then stays open (and keeps the process alive) until the server closes its side: a server that
 * stopped answering never does. Closing the socket outright also tells a server that resumes
 * that the session is gone, so it ends it and releases its locks.
 */
function dropSocket(conn: Connection): void {
  conn.destroy();
  (coreOf(conn) as unknown as { stream?: { destroy(): void } }).stream?.destroy();
}

/** How long the server has to end a connection after our goodbye before the socket is closed here. */
const goodbyeGraceMs = 5_000;

/**
 * The server ends the connection when it reads the goodbye; one that has stopped answering never
 * does, and the open socket would keep the process alive after the run has ended.
 */
function closeSocketSoon(conn: Connection): void {
  const stream = (coreOf(conn) as unknown as { stream?: { destroyed?: boolean; destroy(): void; once(event: 'close', listener: () => void): void } }).stream;
  if (!stream || stream.destroyed) return;
  const timer = setTimeout(() => stream.destroy(), goodbyeGraceMs);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
}

function wrapConnection(conn: Connection, target: string, user: string): MysqlSession {
  const context = { target, user };
  // mysql2's destroy() marks the connection closing and never settles the statement it was
  // running, so whatever awaited that statement would wait forever (the process then exits 13
  // once nothing else is pending). Every running call leaves here how to fail it, and destroy()
  // fails them all. (Not a race against one promise that destroy() rejects: each race would
  // leave a reaction on it, keeping every statement's result reachable until the session ends,
  // tens of thousands of them in a load of many small tables.)
  const running = new Set<(err: Error) => void>();
  let droppedError: Error | undefined;
  const unlessDropped = <T>(work: Promise<T>): Promise<T> => {
    if (droppedError) {
      work.catch(() => undefined);
      return Promise.reject(droppedError);
    }
    return new Promise<T>((resolve, reject) => {
      running.add(reject);
      work.finally(() => running.delete(reject)).then(resolve, reject);
    });
  };
  return {
    threadId: conn.threadId,
    async query<T extends Row>(sql: string, values?: readonly unknown[]): Promise<T[]> {
      try {
        const [rows] = await unlessDropped(conn.query({ sql, values: values as unknown[] | undefined }));
        return rows as T[];
      } catch (err) {
        throw translateMysqlError(err, { ...context, sql });
      }
    },
    async exec(sql, values) {
      try {
        await unlessDropped(conn.query({ sql, values: values as unknown[] | undefined }));
      } catch (err) {
        throw translateMysqlError(err, { ...context, sql });
      }
    },
    raw(sql, onRow) {
      const handle = rawQuery(coreOf(conn), sql, onRow);
      return {
        pause: () => handle.pause(),
        resume: () => handle.resume(),
        done: unlessDropped(handle.done).catch((err: unknown) => {
          throw translateMysqlError(err, { ...context, sql });
        }),
      };
    },
    async loadLocal(sql, source) {
      try {
        // mysql2 sends each chunk as a packet, and an empty packet means end-of-file to the
        // server, so empty chunks must never reach it.
        const [result] = await unlessDropped(
          conn.query({
            sql,
            infileStreamFactory: () => {
              const input = source();
              const output = new DropEmptyChunks();
              input.once('error', (err) => output.destroy(err));
              const socket = (coreOf(conn) as unknown as { stream?: Writable }).stream;
              if (socket) holdWhileSocketFull(output, socket);
              return input.pipe(output);
            },
          }),
        );
        const header = result as { affectedRows: number; warningStatus?: number; info?: string };
        return parseLoadDataInfo(header.info, header.affectedRows, header.warningStatus ?? 0);
      } catch (err) {
        throw translateMysqlError(err, { ...context, sql });
      }
    },
    async close() {
      try {
        // The goodbye queues behind a running statement: on a server that stopped answering it
        // would wait for ever, so a destroy() meanwhile ends the wait.
        await unlessDropped(conn.end());
        closeSocketSoon(conn);
      } catch {
        dropSocket(conn);
      }
    },
    destroy(reason?: Error) {
      droppedError ??= reason ?? new MysqlError('MYSQL_SESSION_DROPPED', `the connection to ${target} was dropped while a statement was running`, { hint: 'the work was stopped (interrupted, or another part of it failed)' });
      for (const fail of running) fail(droppedError);
      running.clear();
      dropSocket(conn);
    },
  };
}

interface ErrorContext {
  target: string;
  user: string;
  passwordSource?: string | undefined;
  settingNames?: { address: string; account: string; connectTimeout?: string } | undefined;
  /** Set while connecting: the bound a timeout hit, named with its setting in the hint. */
  connectTimeoutMs?: number | undefined;
  sql?: string;
}

interface DriverError {
  code?: string;
  errno?: number;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
}

const networkCodes = new Set(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);
/** ER_SPECIFIC_ACCESS_DENIED, ER_DBACCESS_DENIED, ER_TABLEACCESS_DENIED, ER_COLUMNACCESS_DENIED, ER_PROCACCESS_DENIED. */
const privilegeErrnos = new Set([1227, 1044, 1142, 1143, 1370]);
const lostCodes = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED']);

/** Turns a mysql2 error into a MysqlError with a message and hint a user can act on. */
export function translateMysqlError(err: unknown, context: ErrorContext): AppError {
  // Already named (by this layer, or the reason a session was dropped for: SERVER_UNRESPONSIVE).
  if (err instanceof AppError) return err;
  const e = (err ?? {}) as DriverError;
  // A server's message may quote a row (a duplicate key's value): never shown (row-data.ts).
  const message = withoutRowData(e.sqlMessage ?? e.message ?? String(err));
  const code = e.code ?? '';
  const statement = context.sql ? ` while running: ${truncate(context.sql)}` : '';
  if (code === 'ETIMEDOUT' && context.connectTimeoutMs !== undefined) return connectTimedOut(err, context, context.connectTimeoutMs);
  if (networkCodes.has(code)) {
    return new MysqlError('MYSQL_UNREACHABLE', `cannot reach the MySQL server at ${context.target}: ${message}`, {
      cause: err,
      hint: `check that the server is running and that ${context.settingNames?.address ?? 'mysql.host/mysql.port (or mysql.socket)'} point at it`,
    });
  }
  if (code === 'ER_ACCESS_DENIED_ERROR' || e.errno === 1045 || code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR') {
    const source = context.passwordSource ? ` (password from ${context.passwordSource})` : '';
    return new MysqlError('MYSQL_ACCESS_DENIED', `the server at ${context.target} refused user '${context.user}'${source}: ${message}`, {
      cause: err,
      hint: `check the user and password (${context.settingNames?.account ?? 'mysql.credentialsDir, or mysql.user + mysql.passwordFile'})`,
    });
  }
  if (lostCodes.has(code) || e.fatal) {
    return new MysqlError('MYSQL_CONNECTION_LOST', `lost the connection to the MySQL server at ${context.target}${statement}: ${message}`, {
      cause: err,
      hint: 'the server stopped, restarted or killed the session; check its error log, then run again',
    });
  }
  if (e.errno !== undefined && privilegeErrnos.has(e.errno)) {
    return new MysqlError('MYSQL_PRIVILEGE_MISSING', `user '${context.user}' lacks a privilege${statement}: ${message}`, { cause: err });
  }
  return new MysqlError(code ? `MYSQL_${code}` : 'MYSQL_ERROR', `${message}${statement}`, { cause: err });
}

/** A connection attempt that hit its bound: says so, with the setting that sets it. */
function connectTimedOut(err: unknown, context: ErrorContext, timeoutMs: number): MysqlError {
  const setting = context.settingNames?.connectTimeout ?? 'mysql.connectTimeoutSeconds';
  return new MysqlError('MYSQL_UNREACHABLE', `cannot reach the MySQL server at ${context.target}: it did not answer within ${timeoutMs / 1000} s (${setting})`, {
    cause: err,
    hint: `check that the server is running and answering, and that ${context.settingNames?.address ?? 'mysql.host/mysql.port (or mysql.socket)'} point at it; over a slow network, raise ${setting}`,
  });
}

/** The statement an error names: its shape, without its literals (a chunk's bounds are row data), cut short. */
function truncate(sql: string): string {
  const oneLine = statementShape(sql).replace(/\s+/g, ' ');
  return oneLine.length > 160 ? `${oneLine.slice(0, 157)}...` : oneLine;
}

/** Quotes an identifier with backticks. */
export function quoteId(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** Quotes a string literal for SQL text (the dump sessions use sql_mode=''). */
export function quoteString(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\0/g, '\\0') + "'";
}

/**
 * A value as an SQL literal, exactly: integers (also beyond 2^53, as bigint or digit strings)
 * unquoted, binary values as X'…', text quoted. Used for chunk boundaries in streamed queries.
 */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as an SQL literal`);
    return String(value);
  }
  if (Buffer.isBuffer(value)) return value.length === 0 ? "''" : `X'${value.toString('hex')}'`;
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  throw new Error(`cannot write a ${typeof value} as an SQL literal`);
}


/**
 * Bytes a LOAD DATA LOCAL stream may queue on the socket before it is held: mysql2 writes the
 * stream's chunks to the socket as they come (it only follows the socket's read 'pause'), so a
 * source faster than the server would queue the whole data file in memory, per session.
 */
const socketQueueBytes = 1024 * 1024;

/** Pauses `source` while `socket` holds more than socketQueueBytes unsent, until it drains. */
function holdWhileSocketFull(source: Readable, socket: Writable): void {
  source.on('data', () => {
    if (socket.writableLength <= socketQueueBytes || source.isPaused()) return;
    source.pause();
    // Past the socket's high-water mark its last write returned false: 'drain' will come (or the
    // socket closes, and the statement fails with it).
    socket.once('drain', () => source.resume());
  });
}

class DropEmptyChunks extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, chunk.length > 0 ? chunk : undefined);
  }
}
