/**
 * A MysqlSession that replays recorded server answers, for the flavor paths only a MySQL server
 * takes (no MySQL server can be installed here). Every statement it receives is kept in `log`;
 * a statement it has no answer for fails the test.
 */
import type { MysqlSession, Row } from '../../src/lib/mysql/connection.js';

export type Answer = Row[] | Error;

export function recordedSession(answers: Record<string, Answer>): MysqlSession & { log: string[] } {
  const log: string[] = [];
  const answer = (sql: string): Row[] => {
    log.push(sql);
    const a = answers[sql];
    if (a === undefined) throw new Error(`no recorded answer for: ${sql}`);
    if (a instanceof Error) throw a;
    return a;
  };
  return {
    log,
    threadId: 1,
    query: <T extends Row>(sql: string) => Promise.resolve().then(() => answer(sql) as T[]),
    exec: (sql: string) => Promise.resolve().then(() => void answer(sql)),
    raw: () => {
      throw new Error('raw queries are not recorded');
    },
    loadLocal: () => Promise.reject(new Error('LOAD DATA is not recorded')),
    close: () => Promise.resolve(),
    destroy: () => undefined,
  };
}
