/**
 * The coordinator's side of a session thread (thread-main.ts): a session whose statements run in
 * the thread, on the thread's own connection. Kinds of thread (the dump's, the load's) extend it
 * with their tasks. Destroying it terminates the thread, which drops its connection at once (the
 * server then ends its transaction), even in the middle of a statement.
 */
import type { Worker } from 'node:worker_threads';
import { InternalError, MysqlError, errorMessage } from '../errors.js';
import type { ConnectionOptions, MysqlConnector, Row, StatementSession, WatchableSession } from '../mysql/connection.js';
import { startWorker } from './start-worker.js';
import type { SessionThreadData, StatementFromThread, StatementToThread } from './statement-protocol.js';
import { errorFromWire } from './wire-error.js';

/**
 * The young generation of each thread's heap, in MB. A thread allocates fast and briefly (a
 * buffer per chunk of rows or bytes), and V8 grows the young generation of a busy heap to tens of
 * MB, per thread. Capped at 2 MB, peak RSS with 4 threads measured about 60 MB lower for a backup
 * and 80 MB lower for a restore, for no measurable CPU (bench: 8 tables × 125,000 rows).
 */
const youngGenerationMb = 2;

/** A started thread whose session is connected. */
export interface ConnectedThread {
  worker: Worker;
  threadId: number;
}

/**
 * Starts the thread module `relativePath` (resolved against `callerUrl`, see start-worker.ts) and
 * waits for its session to the server `connection` describes. Rejects with the connection's own
 * error (a wrong password, an unreachable server) when it cannot connect. `what` names the kind
 * of thread in messages ("a dump thread").
 */
export async function startSessionThread(callerUrl: string, relativePath: string, connection: ConnectionOptions, what: string): Promise<ConnectedThread> {
  const data: SessionThreadData = { connection };
  const worker = startWorker(callerUrl, relativePath, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb } });
  let onMessage: (m: StatementFromThread) => void = () => undefined;
  let onError: (err: Error) => void = () => undefined;
  let onExit: (code: number) => void = () => undefined;
  const first = await new Promise<StatementFromThread>((resolve, reject) => {
    onMessage = resolve;
    onError = reject;
    onExit = (code) => reject(new InternalError(`${what} ended (exit code ${code}) before it connected`));
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  })
    .catch((err: unknown) => {
      void worker.terminate();
      throw err instanceof InternalError ? err : new InternalError(`${what} could not start: ${errorMessage(err)}`, { cause: err });
    })
    .finally(() => {
      // Only these: the Worker keeps listeners of its own (message port referencing).
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    });
  if (first.type !== 'ready') {
    void worker.terminate();
    throw first.type === 'connectFailed' ? errorFromWire(first.error) : new InternalError(`${what} sent ${first.type} before it connected`);
  }
  return { worker, threadId: first.threadId };
}

export abstract class WorkerSession<ToTask, FromTask extends { type: string }> implements StatementSession, WatchableSession {
  private readonly statements = new Map<number, { resolve(rows: Row[]): void; reject(err: Error): void }>();
  private nextId = 1;
  /** Set once the thread is gone (or going): every later call fails with it. */
  protected gone: Error | null = null;
  private explain: (err: Error) => Error = (err) => err;
  private terminating: Promise<number> | null = null;
  readonly threadId: number;
  private readonly worker: Worker;

  protected constructor(
    thread: ConnectedThread,
    private readonly target: string,
    /** The kind of thread, for messages ("a dump thread"). */
    private readonly what: string,
  ) {
    this.worker = thread.worker;
    this.threadId = thread.threadId;
    this.worker.on('message', (message: FromTask | StatementFromThread) => this.receive(message));
    this.worker.on('error', (err: Error) => this.fail(new InternalError(`${what} failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', () => this.fail(this.droppedError()));
  }

  /** Handles the kind's own messages. */
  protected abstract receiveTask(message: FromTask): void;
  /** Fails every task of the kind still running with `err` (the thread is gone). */
  protected abstract failTasks(err: Error): void;

  query<T extends Row = Row>(sql: string, values?: readonly unknown[]): Promise<T[]> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.newId();
    return new Promise<T[]>((resolve, reject) => {
      this.statements.set(id, { resolve: (rows) => resolve(rows as T[]), reject });
      this.send({ type: 'statement', id, sql, values });
    });
  }

  async exec(sql: string, values?: readonly unknown[]): Promise<void> {
    await this.query(sql, values);
  }

  /** Ends the session (the thread rolls back nothing: call ROLLBACK first) and the thread. */
  async close(): Promise<void> {
    if (this.gone) return;
    const id = this.newId();
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

  explainErrorsWith(explain: (err: unknown) => unknown): void {
    this.explain = (err) => {
      const explained = explain(err);
      return explained instanceof Error ? explained : err;
    };
  }

  /** An id for a statement or a task, unique in this session. */
  protected newId(): number {
    return this.nextId++;
  }

  /** `err` as the session reports it (through the watch's explanation, if any). */
  protected explained(err: Error): Error {
    return this.explain(err);
  }

  protected send(message: ToTask | StatementToThread, transfer: ArrayBuffer[] = []): void {
    if (!this.gone) this.worker.postMessage(message, transfer);
  }

  protected unexpected(type: string): void {
    this.fail(new InternalError(`${this.what} sent ${type} after it connected`));
  }

  /**
   * Ends the thread, once: a failing run destroys its sessions from several places, and every
   * Worker.terminate() call adds a listener to the worker.
   */
  private terminate(): Promise<number> {
    this.terminating ??= this.worker.terminate();
    return this.terminating;
  }

  private droppedError(): Error {
    return new MysqlError('MYSQL_SESSION_DROPPED', `the connection to ${this.target} was dropped while a statement was running`, {
      hint: 'the work was stopped (interrupted, or another part of it failed)',
    });
  }

  private fail(err: Error): void {
    this.gone ??= err;
    for (const s of this.statements.values()) s.reject(this.gone);
    this.statements.clear();
    this.failTasks(this.gone);
  }

  private receive(message: FromTask | StatementFromThread): void {
    switch (message.type) {
      case 'reply': {
        const m = message as Extract<StatementFromThread, { type: 'reply' }>;
        this.settleStatement(m.id)?.resolve(m.rows);
        return;
      }
      case 'failed': {
        const m = message as Extract<StatementFromThread, { type: 'failed' }>;
        this.settleStatement(m.id)?.reject(this.explain(errorFromWire(m.error)));
        return;
      }
      case 'ready':
      case 'connectFailed':
        this.unexpected(message.type);
        return;
      default:
        this.receiveTask(message as FromTask);
    }
  }

  private settleStatement(id: number): { resolve(rows: Row[]): void; reject(err: Error): void } | undefined {
    const s = this.statements.get(id);
    this.statements.delete(id);
    return s;
  }
}

/**
 * Opens session threads (`open`: a kind's constructor, such as ThreadSession.open), one session
 * each, on the server `connector` reaches, with its settings; each is put under the connector's
 * watch, if it has one.
 */
export function threadConnector<S extends WatchableSession>(
  connector: MysqlConnector,
  open: (connection: ConnectionOptions, target: string) => Promise<S>,
): { connect(): Promise<S> } {
  return {
    async connect() {
      const session = await open(connector.options, connector.target);
      connector.watch?.(session);
      return session;
    },
  };
}
