/**
 * Two real MariaDB servers in GTID replication: `primary` (site east) and `replica` (site west,
 * --log-slave-updates, read-only), with a password account `backup` for bloodraven (created on
 * the primary, replicated). Kubernetes tests use them as a group's two sites.
 */
import { sql, startTestServer, type TestServer } from './mariadb.js';

export interface ReplicatedSites {
  primary: TestServer;
  replica: TestServer;
  /** The account bloodraven connects with. */
  account: { user: string; password: string };
  /** Resolves once the replica has applied everything the primary has logged (polls, bounded). */
  caughtUp(): Promise<void>;
  stopReplication(): Promise<void>;
  startReplication(): Promise<void>;
  stop(): Promise<void>;
}

export async function startReplicatedSites(): Promise<ReplicatedSites> {
  const [primary, replica] = await Promise.all([startTestServer({ serverId: 101 }), startTestServer({ serverId: 102, extraArgs: ['--log-slave-updates'] })]);
  const account = { user: 'backup', password: 'b4ck:up@pw' };
  try {
    await sql(replica, `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='root', MASTER_USE_GTID=slave_pos; START SLAVE; SET GLOBAL read_only = 1`);
    await sql(primary, `CREATE USER '${account.user}'@'%' IDENTIFIED BY '${account.password}'; GRANT ALL ON *.* TO '${account.user}'@'%'`);
  } catch (err) {
    await Promise.all([primary.stop(), replica.stop()]);
    throw err;
  }
  const caughtUp = async (): Promise<void> => {
    const [p] = (await sql(primary, 'SELECT @@gtid_binlog_pos AS pos')) as Array<{ pos: string }>;
    for (let i = 0; i < 300; i++) {
      const [r] = (await sql(replica, 'SELECT @@gtid_slave_pos AS pos')) as Array<{ pos: string }>;
      if (r?.pos === p?.pos) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the replica did not catch up with the primary (${p?.pos})`);
  };
  await caughtUp();
  return {
    primary,
    replica,
    account,
    caughtUp,
    stopReplication: async () => {
      await sql(replica, 'STOP SLAVE');
    },
    startReplication: async () => {
      await sql(replica, 'START SLAVE');
    },
    stop: async () => {
      await Promise.all([primary.stop(), replica.stop()]);
    },
  };
}
