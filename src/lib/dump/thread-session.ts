/**
 * The coordinator's side of a dump thread (dump-thread.ts): a session of the snapshot whose
 * statements run in the thread, on the thread's own connection (threads/worker-session.ts), and
 * which runs chunk tasks there.
 */
import type { ConnectionOptions } from '../mysql/connection.js';
import { errorFromWire } from '../threads/wire-error.js';
import { WorkerSession, startSessionThread } from '../threads/worker-session.js';
import type { FromThread, ThreadFileEnd, ThreadTask, ToThread } from './thread-protocol.js';

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

export class ThreadSession extends WorkerSession<ToThread, FromThread> {
  private readonly tasks = new Map<number, PendingTask>();

  /**
   * Starts a dump thread and its session to the server `connection` describes. Rejects with the
   * connection's own error (a wrong password, an unreachable server) when it cannot connect.
   */
  static async open(connection: ConnectionOptions, target: string): Promise<ThreadSession> {
    return new ThreadSession(await startSessionThread(import.meta.url, './dump-thread.js', connection, 'a dump thread'), target, 'a dump thread');
  }

  /** Runs a chunk task in the thread. The session runs nothing else until `done` settles. */
  runTask(task: Omit<ThreadTask, 'id'>, handlers: TaskHandlers): RunningTask {
    const id = this.newId();
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

  protected failTasks(err: Error): void {
    for (const t of this.tasks.values()) t.reject(err);
    this.tasks.clear();
  }

  protected receiveTask(message: FromThread): void {
    switch (message.type) {
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
        pending?.reject(this.explained(errorFromWire(message.error)));
        return;
      }
    }
  }
}
