/**
 * The messages every session thread (a dump thread, a load thread) shares with its coordinator:
 * connecting, running statements on the thread's own session, and closing it. Each kind of
 * thread adds its own task messages (dump/thread-protocol.ts, load/load-thread-protocol.ts).
 */
import type { ConnectionOptions, Row } from '../mysql/connection.js';
import type { WireError } from './wire-error.js';

/** A session thread's workerData. */
export interface SessionThreadData {
  connection: ConnectionOptions;
}

export type StatementToThread = { type: 'statement'; id: number; sql: string; values: readonly unknown[] | undefined } | { type: 'close'; id: number };

export type StatementFromThread =
  | { type: 'ready'; threadId: number }
  | { type: 'connectFailed'; error: WireError }
  | { type: 'reply'; id: number; rows: Row[] }
  | { type: 'failed'; id: number; error: WireError };
