/**
 * SQL against the sandbox through the mariadb client, and the checks of a restore: what the
 * sysbench schema holds (tables, exact row counts, indexes, content checksums) before the dumps
 * are taken, compared with what it holds after each restore.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RunFailed } from './proc.js';

const execFileP = promisify(execFile);

/**
 * Runs SQL as root over the socket; returns the rows, tab-separated, one a line.
 * @param {string} socket
 * @param {string} query
 * @param {AbortSignal} [signal]
 * @returns {Promise<string>}
 */
export async function sql(socket, query, signal) {
  try {
    const { stdout } = await execFileP('mariadb', ['-S', socket, '-uroot', '-N', '-B', '-e', query], {
      maxBuffer: 64 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
    return stdout.trim();
  } catch (err) {
    const stderr = typeof err?.stderr === 'string' ? err.stderr.trim() : '';
    throw new RunFailed(`mariadb -e ${JSON.stringify(query.replace(/\s+/g, ' ').slice(0, 200))} failed: ${stderr || err.message}`, { cause: err });
  }
}

const rowsOf = (text) => (text ? text.split('\n').map((l) => l.split('\t')) : []);
const ident = (name) => `\`${name.replaceAll('`', '``')}\``;

/**
 * Drops the schema and creates it again, empty: the start of every timed restore. The statements
 * are kept out of the binary log, like the restores themselves.
 * @param {string} socket
 * @param {string} database
 * @param {AbortSignal} [signal]
 */
export async function recreateEmpty(socket, database, signal) {
  await sql(socket, `SET sql_log_bin = 0; DROP DATABASE IF EXISTS ${ident(database)}; CREATE DATABASE ${ident(database)}`, signal);
}

/**
 * Total bytes of the server's binary logs (0 when binary logging is off): the difference over a
 * run is what the run wrote to the binary log.
 * @param {string} socket
 * @param {AbortSignal} [signal]
 * @returns {Promise<number>}
 */
export async function binlogBytes(socket, signal) {
  const on = await sql(socket, 'SELECT @@log_bin', signal);
  if (on !== '1') return 0;
  return rowsOf(await sql(socket, 'SHOW BINARY LOGS', signal)).reduce((sum, r) => sum + Number(r[1] ?? 0), 0);
}

/**
 * Closes the current binary log and deletes every older one (no-op when binary logging is off),
 * so that the restores which do write to it (one pass writes the data set several times over) do
 * not fill the disk. Untimed, before a restore.
 * @param {string} socket
 * @param {AbortSignal} [signal]
 */
export async function purgeBinlogs(socket, signal) {
  if ((await sql(socket, 'SELECT @@log_bin', signal)) !== '1') return;
  await sql(socket, 'FLUSH BINARY LOGS', signal);
  const current = rowsOf(await sql(socket, 'SHOW MASTER STATUS', signal))[0]?.[0];
  if (current) await sql(socket, `PURGE BINARY LOGS TO '${current.replaceAll("'", "''")}'`, signal);
}

/**
 * @typedef {object} SchemaSnapshot
 * @property {Record<string, number>} counts     exact row count per base table
 * @property {Record<string, string>} checksums  CHECKSUM TABLE per base table
 * @property {string[]} indexes                  "table.index(col,col) unique|non-unique", sorted
 * @property {number} rows                       total rows
 */

/**
 * What the schema holds now: exact row counts, CHECKSUM TABLE and the index definitions of every
 * base table.
 * @param {string} socket
 * @param {string} database
 * @param {AbortSignal} [signal]
 * @returns {Promise<SchemaSnapshot>}
 */
export async function snapshotSchema(socket, database, signal) {
  const lit = `'${database.replaceAll("'", "''")}'`;
  const tables = rowsOf(
    await sql(socket, `SELECT table_name FROM information_schema.tables WHERE table_schema = ${lit} AND table_type = 'BASE TABLE' ORDER BY table_name`, signal),
  ).map((r) => r[0]);
  const counts = {};
  const checksums = {};
  if (tables.length) {
    const union = tables.map((t) => `SELECT ${`'${t.replaceAll("'", "''")}'`}, COUNT(*) FROM ${ident(database)}.${ident(t)}`).join(' UNION ALL ');
    for (const [t, n] of rowsOf(await sql(socket, union, signal))) counts[t] = Number(n);
    const list = tables.map((t) => `${ident(database)}.${ident(t)}`).join(', ');
    for (const [name, sum] of rowsOf(await sql(socket, `CHECKSUM TABLE ${list}`, signal))) checksums[name.slice(database.length + 1)] = sum;
  }
  const indexes = rowsOf(
    await sql(
      socket,
      `SELECT table_name, index_name, GROUP_CONCAT(column_name ORDER BY seq_in_index), MIN(non_unique)
         FROM information_schema.statistics WHERE table_schema = ${lit}
        GROUP BY table_name, index_name ORDER BY table_name, index_name`,
      signal,
    ),
  ).map(([t, i, cols, nonUnique]) => `${t}.${i}(${cols}) ${nonUnique === '0' ? 'unique' : 'non-unique'}`);
  const rows = Object.values(counts).reduce((a, b) => a + b, 0);
  return { counts, checksums, indexes, rows };
}

/**
 * Throws (loudly, with every difference) unless the schema holds what `expected` describes.
 * @param {string} what         the tool, for the message
 * @param {SchemaSnapshot} expected
 * @param {SchemaSnapshot} actual
 */
export function assertSameSchema(what, expected, actual) {
  const problems = [];
  const names = [...new Set([...Object.keys(expected.counts), ...Object.keys(actual.counts)])].sort();
  for (const t of names) {
    const e = expected.counts[t];
    const a = actual.counts[t];
    if (a === undefined) problems.push(`table ${t} is missing (expected ${e} rows)`);
    else if (e === undefined) problems.push(`table ${t} was not in the source (${a} rows)`);
    else if (a !== e) problems.push(`table ${t} holds ${a} rows, expected ${e} (${a > e ? '+' : ''}${a - e})`);
    else if (expected.checksums[t] !== actual.checksums[t]) problems.push(`table ${t}: CHECKSUM TABLE ${actual.checksums[t]}, expected ${expected.checksums[t]}`);
  }
  const missing = expected.indexes.filter((i) => !actual.indexes.includes(i));
  const extra = actual.indexes.filter((i) => !expected.indexes.includes(i));
  if (missing.length) problems.push(`indexes missing: ${missing.join(', ')}`);
  if (extra.length) problems.push(`indexes not in the source: ${extra.join(', ')}`);
  if (problems.length) {
    throw new RunFailed(`${what}: the restored schema does not match the source (${actual.rows} rows in total, expected ${expected.rows}):\n  ${problems.join('\n  ')}`);
  }
}
