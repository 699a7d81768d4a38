/**
 * A dump thread's entry point (a worker thread; see thread-protocol.ts). It opens its own
 * session to the source with the coordinator's connection settings, runs the statements the
 * coordinator sends on it (the snapshot's among them, so its transaction sees the same point in
 * time as every other thread's), and runs chunk tasks (thread-task.ts). It ends when asked to
 * close, or when the coordinator terminates it (which drops its connection).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InternalError } from '../errors.js';
import { createMysqlConnector, type MysqlSession } from '../mysql/connection.js';
import { errorToWire } from '../threads/wire-error.js';
import type { DumpThreadData, FromThread, ToThread } from './thread-protocol.js';
import { runThreadTask, type ThreadTaskHandle } from './thread-task.js';

if (!parentPort) throw new InternalError('dump-thread.js runs as a worker thread only');
const port = parentPort;
const post = (message: FromThread, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const { connection } = workerData as DumpThreadData;
const session: MysqlSession | null = await createMysqlConnector(connection)
  .connect()
  .catch((err: unknown) => {
    post({ type: 'connectFailed', error: errorToWire(err) });
    // Nothing else listens on the port: the thread ends here.
    port.close();
    return null;
  });
if (session) serve(session);

function serve(session: MysqlSession): void {
  post({ type: 'ready', threadId: session.threadId });

  const tasks = new Map<number, ThreadTaskHandle>();
  port.on('message', (message: ToThread) => {
    switch (message.type) {
      case 'statement':
        session.query(message.sql, message.values).then(
          (rows) => post({ type: 'reply', id: message.id, rows }),
          (err: unknown) => post({ type: 'failed', id: message.id, error: errorToWire(err) }),
        );
        return;
      case 'task': {
        const handle = runThreadTask(session, message.task, post);
        tasks.set(message.task.id, handle);
        handle.done.then(
          () => tasks.delete(message.task.id),
          (err: unknown) => {
            tasks.delete(message.task.id);
            post({ type: 'taskFailed', task: message.task.id, error: errorToWire(err) });
          },
        );
        return;
      }
      case 'pause':
        tasks.get(message.task)?.pause();
        return;
      case 'resume':
        tasks.get(message.task)?.resume();
        return;
      case 'taken':
        tasks.get(message.task)?.taken(message.bytes);
        return;
      case 'stored':
        tasks.get(message.task)?.stored(message.file);
        return;
      case 'close':
        void session.close().finally(() => {
          post({ type: 'reply', id: message.id, rows: [] });
          port.close();
        });
        return;
    }
  });
}
