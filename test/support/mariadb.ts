/**
 * Throwaway MariaDB servers for tests: each test file starts its own (temporary datadir, free
 * port, binary log on) and stops it afterwards.
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { createMysqlConnector, type MysqlConnector } from '../../src/lib/mysql/connection.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/lib/mysql/sandbox.js';

export type TestServer = Sandbox;

export function startTestServer(options: Partial<Omit<SandboxOptions, 'runner'>> = {}): Promise<TestServer> {
  return startSandbox({ runner: nodeProcessRunner, ...options });
}

/** A root connection for setting up data, with multiple statements allowed. */
export async function rootConnection(server: TestServer, database?: string): Promise<Connection> {
  return createConnection({
    socketPath: server.socket,
    user: 'root',
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    ...(database ? { database } : {}),
  });
}

/** Runs SQL (several statements allowed) as root. */
export async function sql(server: TestServer, statements: string, database?: string): Promise<unknown> {
  const conn = await rootConnection(server, database);
  try {
    const [result] = await conn.query(statements);
    return result;
  } finally {
    await conn.end();
  }
}

export function rootConnector(server: TestServer, overrides: { user?: string; password?: string } = {}): MysqlConnector {
  return createMysqlConnector({ host: '127.0.0.1', port: server.port, user: overrides.user ?? 'root', password: overrides.password });
}

/** CHECKSUM TABLE of `table` (`schema.table`), as text. */
export async function checksumTable(server: TestServer, table: string): Promise<string> {
  const [row] = (await sql(server, `CHECKSUM TABLE ${table}`)) as Array<{ Checksum: string | number | null }>;
  return String(row!.Checksum);
}
