/**
 * A MysqlSession that replays recorded server answers, for the flavor paths only a MySQL server
 * takes (no MySQL server can be installed here). Every statement it receives is kept in `log`;
 * a statement it has no answer for fails the test. `patterns` answer statements whose text is
 * built from arguments (checked in order, after the exact answers).
 */
import type { MysqlSession, Row } from '../../src/lib/mysql/connection.js';

export type Answer = Row[] | Error;

export function recordedSession(answers: Record<string, Answer>, patterns: ReadonlyArray<readonly [RegExp, Answer]> = []): MysqlSession & { log: string[] } {
  const log: string[] = [];
  const answer = (sql: string): Row[] => {
    log.push(sql);
    const a = answers[sql] ?? patterns.find(([pattern]) => pattern.test(sql))?.[1];
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
