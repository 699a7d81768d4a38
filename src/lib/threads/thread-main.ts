/**
 * The part of a session thread's entry point that every kind shares: open the thread's own
 * session with the coordinator's connection settings (reporting `ready` or `connectFailed`), then
 * run the statements the coordinator sends and close when asked. The kind's own messages go to
 * `onTask`. Runs inside the worker thread only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InternalError } from '../errors.js';
import { createMysqlConnector, type MysqlSession } from '../mysql/connection.js';
import type { SessionThreadData, StatementFromThread, StatementToThread } from './statement-protocol.js';
import { errorToWire } from './wire-error.js';

/** Posts a message to the coordinator, moving (not copying) the buffers listed. */
export type PostFromThread<Out> = (message: Out | StatementFromThread, transfer?: ArrayBuffer[]) => void;

/**
 * Connects, then serves the coordinator until it says `close` (or terminates the thread, which
 * drops the connection). `onTask` gets every message that is not a statement or `close`.
 */
export async function serveSessionThread<In extends { type: string }, Out>(
  onTask: (session: MysqlSession, message: In, post: PostFromThread<Out>) => void,
): Promise<void> {
  if (!parentPort) throw new InternalError('a session thread runs as a worker thread only');
  const port = parentPort;
  const post: PostFromThread<Out> = (message, transfer = []) => port.postMessage(message, transfer);
  const { connection } = workerData as SessionThreadData;
  let session: MysqlSession;
  try {
    session = await createMysqlConnector(connection).connect();
  } catch (err) {
    post({ type: 'connectFailed', error: errorToWire(err) });
    // Nothing else listens on the port: the thread ends here.
    port.close();
    return;
  }
  post({ type: 'ready', threadId: session.threadId });
  port.on('message', (message: In | StatementToThread) => {
    if (message.type === 'statement') {
      const m = message as Extract<StatementToThread, { type: 'statement' }>;
      session.query(m.sql, m.values).then(
        (rows) => post({ type: 'reply', id: m.id, rows }),
        (err: unknown) => post({ type: 'failed', id: m.id, error: errorToWire(err) }),
      );
    } else if (message.type === 'close') {
      const { id } = message as Extract<StatementToThread, { type: 'close' }>;
      void session.close().finally(() => {
        post({ type: 'reply', id, rows: [] });
        port.close();
      });
    } else onTask(session, message as In, post);
  });
}
