/**
 * The coordinator's side of a dump thread (dump-thread.ts): a session of the snapshot whose
 * statements run in the thread, on the thread's own connection, and which runs chunk tasks there.
 * Destroying it terminates the thread, which drops its connection at once (the server then ends
 * its transaction), even in the middle of a result set.
 */
import type { Worker } from 'node:worker_threads';
import { InternalError, MysqlError, errorMessage } from '../errors.js';
import type { ConnectionOptions, MysqlConnector, Row, StatementSession, WatchableSession } from '../mysql/connection.js';
import { startWorker } from '../threads/start-worker.js';
import { errorFromWire } from '../threads/wire-error.js';
import type { DumpThreadData, FromThread, ThreadFileEnd, ThreadTask, ToThread } from './thread-protocol.js';

/** What the coordinator does with a task's output, as it arrives. */
export interface TaskHandlers {
  /** File `file`, named `name` in the dump, streams; its blocks follow. */
  onOpen(file: number, name: string): void;
  onBlock(file: number, data: Buffer): void;
  /** File `file` is complete (for a small one, `end.whole` holds it all). */
  onFile(file: number, name: string, end: ThreadFileEnd): void;
  onProgress(rows: number, bytes: number): void;
}

export interface TaskEnd {
  /** The largest value per column, and the largest row, in bytes (TsvEncoder). */
  largestValues: number[];
  largestRow: number;
}

export interface RunningTask {
  /** Storage is behind: the thread stops reading rows. */
  pause(): void;
  resume(): void;
  /** A 'stream' task's file is stored; the next may begin. */
  stored(file: number): void;
  /** Resolves once the query has ended and every file has been handed over. */
  readonly done: Promise<TaskEnd>;
}

interface PendingTask {
  handlers: TaskHandlers;
  resolve(end: TaskEnd): void;
  reject(err: Error): void;
}

/** A view on a Uint8Array's bytes as a Buffer, without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class ThreadSession implements StatementSession, WatchableSession {
  private readonly statements = new Map<number, { resolve(rows: Row[]): void; reject(err: Error): void }>();
  private readonly tasks = new Map<number, PendingTask>();
  private nextId = 1;
  /** Set once the thread is gone (or going): every later call fails with it. */
  private gone: Error | null = null;
  private explain: (err: Error) => Error = (err) => err;
  private terminating: Promise<number> | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly threadId: number,
    private readonly target: string,
  ) {
    worker.on('message', (message: FromThread) => this.receive(message));
    worker.on('error', (err: Error) => this.fail(new InternalError(`a dump thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', () => this.fail(this.droppedError()));
  }

  /**
   * Starts a dump thread and its session to the server `connection` describes. Rejects with the
   * connection's own error (a wrong password, an unreachable server) when it cannot connect.
   */
  static async open(connection: ConnectionOptions, target: string): Promise<ThreadSession> {
    const data: DumpThreadData = { connection };
    const worker = startWorker(import.meta.url, './dump-thread.js', { workerData: data });
    let onMessage: (m: FromThread) => void = () => undefined;
    let onError: (err: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    const first = await new Promise<FromThread>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new InternalError(`a dump thread ended (exit code ${code}) before it connected`));
      worker.once('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    })
      .catch((err: unknown) => {
        void worker.terminate();
        throw err instanceof InternalError ? err : new InternalError(`a dump thread could not start: ${errorMessage(err)}`, { cause: err });
      })
      .finally(() => {
        // Only these: the Worker keeps listeners of its own (message port referencing).
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      });
    if (first.type !== 'ready') {
      void worker.terminate();
      throw first.type === 'connectFailed' ? errorFromWire(first.error) : new InternalError(`a dump thread sent ${first.type} before it connected`);
    }
    return new ThreadSession(worker, first.threadId, target);
  }

  query<T extends Row = Row>(sql: string, values?: readonly unknown[]): Promise<T[]> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise<T[]>((resolve, reject) => {
      this.statements.set(id, { resolve: (rows) => resolve(rows as T[]), reject });
      this.send({ type: 'statement', id, sql, values });
    });
  }

  async exec(sql: string, values?: readonly unknown[]): Promise<void> {
    await this.query(sql, values);
  }

  /** Runs a chunk task in the thread. The session runs nothing else until `done` settles. */
  runTask(task: Omit<ThreadTask, 'id'>, handlers: TaskHandlers): RunningTask {
    const id = this.nextId++;
    const done = new Promise<TaskEnd>((resolve, reject) => {
      if (this.gone) {
        reject(this.gone);
        return;
      }
      this.tasks.set(id, { handlers, resolve, reject });
      this.send({ type: 'task', task: { ...task, id } });
    });
    return {
      pause: () => this.send({ type: 'pause', task: id }),
      resume: () => this.send({ type: 'resume', task: id }),
      stored: (file) => this.send({ type: 'stored', task: id, file }),
      done,
    };
  }

  /** Ends the session (the thread rolls back nothing: call ROLLBACK first) and the thread. */
  async close(): Promise<void> {
    if (this.gone) return;
    const id = this.nextId++;
    await new Promise<void>((resolve) => {
      this.statements.set(id, { resolve: () => resolve(), reject: () => resolve() });
      this.send({ type: 'close', id });
    });
    await this.terminate();
  }

  /** Drops the session at once: the thread is terminated and its connection with it. */
  destroy(reason?: Error): void {
    this.fail(reason ?? this.droppedError());
    void this.terminate();
  }

  /**
   * Ends the thread, once: a failing dump destroys its sessions from several places, and every
   * Worker.terminate() call adds a listener to the worker.
   */
  private terminate(): Promise<number> {
    this.terminating ??= this.worker.terminate();
    return this.terminating;
  }

  explainErrorsWith(explain: (err: unknown) => unknown): void {
    this.explain = (err) => {
      const explained = explain(err);
      return explained instanceof Error ? explained : err;
    };
  }

  private droppedError(): Error {
    return new MysqlError('MYSQL_SESSION_DROPPED', `the connection to ${this.target} was dropped while a statement was running`, {
      hint: 'the work was stopped (interrupted, or another part of it failed)',
    });
  }

  private send(message: ToThread): void {
    if (!this.gone) this.worker.postMessage(message);
  }

  private fail(err: Error): void {
    this.gone ??= err;
    for (const s of this.statements.values()) s.reject(this.gone);
    this.statements.clear();
    for (const t of this.tasks.values()) t.reject(this.gone);
    this.tasks.clear();
  }

  private receive(message: FromThread): void {
    switch (message.type) {
      case 'reply':
        this.settleStatement(message.id)?.resolve(message.rows);
        return;
      case 'failed':
        this.settleStatement(message.id)?.reject(this.explain(errorFromWire(message.error)));
        return;
      case 'open':
        this.tasks.get(message.task)?.handlers.onOpen(message.file, message.name);
        return;
      case 'block':
        this.tasks.get(message.task)?.handlers.onBlock(message.file, asBuffer(message.data));
        // Handed on: the thread may post that much more.
        this.send({ type: 'taken', task: message.task, bytes: message.data.byteLength });
        return;
      case 'file': {
        const { type: _type, task, file, name, ...end } = message;
        this.tasks.get(task)?.handlers.onFile(file, name, end);
        return;
      }
      case 'progress':
        this.tasks.get(message.task)?.handlers.onProgress(message.rows, message.bytes);
        return;
      case 'done': {
        const pending = this.tasks.get(message.task);
        this.tasks.delete(message.task);
        pending?.resolve({ largestValues: message.largestValues, largestRow: message.largestRow });
        return;
      }
      case 'taskFailed': {
        const pending = this.tasks.get(message.task);
        this.tasks.delete(message.task);
        pending?.reject(this.explain(errorFromWire(message.error)));
        return;
      }
      case 'ready':
      case 'connectFailed':
        this.fail(new InternalError(`a dump thread sent ${message.type} after it connected`));
        return;
    }
  }

  private settleStatement(id: number): { resolve(rows: Row[]): void; reject(err: Error): void } | undefined {
    const s = this.statements.get(id);
    this.statements.delete(id);
    return s;
  }
}

/**
 * Opens dump threads, one session each, on the server `connector` reaches, with its settings;
 * each is put under the connector's watch, if it has one.
 */
export function threadConnector(connector: MysqlConnector): { connect(): Promise<ThreadSession> } {
  return {
    async connect() {
      const session = await ThreadSession.open(connector.options, connector.target);
      connector.watch?.(session);
      return session;
    },
  };
}
