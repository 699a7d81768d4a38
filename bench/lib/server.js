/**
 * The throwaway MariaDB server the benchmark runs against, and the sysbench data set in it.
 */
import { readFile } from 'node:fs/promises';
import { startSandbox } from '../../dist/lib/mysql/sandbox.js';
import { nodeProcessRunner } from '../../dist/lib/process.js';

export const database = 'sbtest';

/**
 * Starts a sandbox sized for a benchmark: a buffer pool that holds the data set, a large redo log
 * and no flushing at commit (the load is faster; neither matters to a dump, which only reads).
 * @param {{ bufferPool: string, baseDir?: string, keep: boolean }} options
 */
export async function startBenchServer(options) {
  return startSandbox({
    runner: nodeProcessRunner,
    ...(options.baseDir ? { baseDir: options.baseDir } : {}),
    keepDatadir: options.keep,
    startTimeoutMs: 180_000,
    extraArgs: [
      `--innodb-buffer-pool-size=${options.bufferPool}`,
      '--innodb-log-file-size=512M',
      '--innodb-flush-log-at-trx-commit=0',
      '--sync-binlog=0',
      '--max-connections=200',
    ],
  });
}

/**
 * Runs SQL through the mariadb client as root over the socket; returns the rows, tab-separated.
 * @param {string} socket
 * @param {string} query
 * @param {AbortSignal} [signal]
 */
export async function sql(socket, query, signal) {
  const { stdout } = await nodeProcessRunner.run('mariadb', ['-S', socket, '-uroot', '-N', '-B', '-e', query], signal ? { signal } : {});
  return stdout.trim();
}

/**
 * (Re)creates the sysbench database and fills it: `sysbench oltp_read_write prepare`.
 * @param {string} socket
 * @param {{ tables: number, rows: number, signal: AbortSignal }} options
 */
export async function prepareSysbench(socket, options) {
  await sql(socket, `DROP DATABASE IF EXISTS ${database}; CREATE DATABASE ${database}`, options.signal);
  await nodeProcessRunner.run(
    'sysbench',
    [
      'oltp_read_write',
      `--mysql-socket=${socket}`,
      '--mysql-user=root',
      `--mysql-db=${database}`,
      `--tables=${options.tables}`,
      `--table-size=${options.rows}`,
      '--threads=2',
      'prepare',
    ],
    { signal: options.signal },
  );
}

/**
 * Reads every table once (an untimed `mariadb-dump --single-transaction | wc -c`), so that every
 * tool then finds the same warm buffer pool, whichever runs first; and measures the data set on
 * the way: the size of that uncompressed SQL dump is the "bytes of rows" every rate of the report
 * is counted in (one number per data set, the same for every tool; its DDL is a few kB of it).
 * @param {string} socket
 * @param {AbortSignal} signal
 * @returns {Promise<number>} bytes of mariadb-dump's output
 */
export async function warmBufferPool(socket, signal) {
  const { stdout } = await nodeProcessRunner.run(
    'bash',
    ['-o', 'pipefail', '-c', 'mariadb-dump --single-transaction -S "$1" -uroot "$2" | wc -c', 'warm', socket, database],
    { signal },
  );
  const bytes = Number(stdout.trim());
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`the warm-up mariadb-dump | wc -c printed ${JSON.stringify(stdout.trim())}, not a byte count`);
  return bytes;
}

/**
 * Rows and InnoDB bytes (data + indexes) of the sysbench tables, and the buffer pool size.
 * @param {string} socket
 * @param {AbortSignal} signal
 */
export async function describeData(socket, signal) {
  const row = await sql(
    socket,
    `SELECT COUNT(*), COALESCE(SUM(data_length + index_length), 0), @@innodb_buffer_pool_size, VERSION()
       FROM information_schema.tables WHERE table_schema = '${database}'`,
    signal,
  );
  const [tables, bytes, pool, version] = row.split('\t');
  const rows = Number(await sql(socket, `SELECT SUM(n) FROM (${tableCounts(Number(tables))}) t`, signal));
  return { tables: Number(tables), rows, innodbBytes: Number(bytes), bufferPoolBytes: Number(pool), serverVersion: version ?? '' };
}

function tableCounts(tables) {
  const parts = [];
  for (let i = 1; i <= tables; i++) parts.push(`SELECT COUNT(*) AS n FROM ${database}.sbtest${i}`);
  return parts.join(' UNION ALL ');
}

/**
 * A function that returns the CPU seconds (user + system) the server process has used so far,
 * from /proc/<pid>/stat; the difference over a run is what the run cost the server.
 * @param {string} socket
 * @param {AbortSignal} signal
 * @returns {Promise<() => Promise<number>>}
 */
export async function serverCpuMeter(socket, signal) {
  const pidFile = await sql(socket, 'SELECT @@pid_file', signal);
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  const ticks = 100; // USER_HZ: 100 on Linux
  return async () => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  };
}
