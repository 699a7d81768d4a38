import { describe, expect, it } from 'vitest';
import { MysqlError, PreconditionError } from '../../src/lib/errors.js';
import { detectFlavor, flavorOf, LockWaitTimeoutError, parseServerVersion, serverLockWaitTimeout } from '../../src/lib/mysql/flavor.js';
import { recordedSession } from '../support/recorded-session.js';

const versionQuery = 'SELECT @@version AS version, @@version_comment AS comment, @@hostname AS hostname, @@server_id AS serverId';

function privilegeError(message: string): MysqlError {
  return new MysqlError('MYSQL_PRIVILEGE_MISSING', message);
}

/** What the connection layer makes of ER_LOCK_WAIT_TIMEOUT (1205). */
function lockWaitTimeout(statement: string): MysqlError {
  return new MysqlError('MYSQL_ER_LOCK_WAIT_TIMEOUT', `Lock wait timeout exceeded; try restarting transaction while running: ${statement}`);
}

const processList = /FROM information_schema\.PROCESSLIST/;

describe('server versions', () => {
  it('reads MySQL and MariaDB version strings', () => {
    expect(parseServerVersion('8.4.3')).toEqual({ major: 8, minor: 4, patch: 3 });
    expect(parseServerVersion('10.11.19-MariaDB-0+deb12u1-log')).toEqual({ major: 10, minor: 11, patch: 19 });
    expect(parseServerVersion('5.5.5-10.6.4-MariaDB')).toEqual({ major: 10, minor: 6, patch: 4 });
    expect(flavorOf('8.0.36', 'MySQL Community Server - GPL')).toBe('mysql');
    expect(flavorOf('11.4.2-MariaDB', 'mariadb.org binary distribution')).toBe('mariadb');
    expect(() => parseServerVersion('garbage')).toThrow(/cannot read the server version/);
  });
});

describe('MySQL flavor (recorded answers from MySQL 8.4)', () => {
  const base = {
    [versionQuery]: [{ version: '8.4.3', comment: 'MySQL Community Server - GPL', hostname: 'db1', serverId: '7' }],
    'SELECT @@server_uuid AS uuid': [{ uuid: '3e11fa47-71ca-11e1-9e33-c80aa9429562' }],
  };

  it('reads the server UUID, gtid_executed and SHOW BINARY LOG STATUS', async () => {
    const session = recordedSession({
      ...base,
      'SELECT @@global.gtid_executed AS gtid': [{ gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4f22fb58-71ca-11e1-9e33-c80aa9429562:1-2' }],
      'SHOW BINARY LOG STATUS': [{ File: 'binlog.000012', Position: '4711', Executed_Gtid_Set: 'x' }],
    });
    const flavor = await detectFlavor(session);
    expect(flavor.info).toMatchObject({ flavor: 'mysql', serverUuid: '3e11fa47-71ca-11e1-9e33-c80aa9429562', serverId: 7, hostname: 'db1' });
    expect(flavor.binlogTool).toBe('mysqlbinlog');
    expect(await flavor.readGtidExecuted(session)).toBe('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4f22fb58-71ca-11e1-9e33-c80aa9429562:1-2');
    expect(await flavor.readBinlogPosition(session)).toEqual({ file: 'binlog.000012', position: 4711 });
    expect(flavor.systemSchemas).toContain('ndbinfo');
  });

  it('uses SHOW MASTER STATUS before 8.2 and reports binary logging off as null', async () => {
    const session = recordedSession({
      [versionQuery]: [{ version: '8.0.36', comment: 'MySQL Community Server - GPL', hostname: 'db1', serverId: '1' }],
      'SELECT @@server_uuid AS uuid': [{ uuid: 'u' }],
      'SHOW MASTER STATUS': [],
    });
    const flavor = await detectFlavor(session);
    expect(await flavor.readBinlogPosition(session)).toBeNull();
  });

  it('blocks DDL with LOCK INSTANCE FOR BACKUP, and carries on without BACKUP_ADMIN', async () => {
    const granted = recordedSession({
      ...base,
      'SET SESSION lock_wait_timeout = 30': [],
      'LOCK INSTANCE FOR BACKUP': [],
      'SET SESSION lock_wait_timeout = DEFAULT': [],
      'UNLOCK INSTANCE': [],
    });
    const flavor = await detectFlavor(granted);
    expect(await flavor.blockDdl(granted, { lockWaitTimeoutSeconds: 30 })).toBe(true);
    await flavor.unblockDdl(granted);
    // The bound is for the lock only: the session gets the server's default back for the rest of the dump.
    expect(granted.log.slice(-4)).toEqual(['SET SESSION lock_wait_timeout = 30', 'LOCK INSTANCE FOR BACKUP', 'SET SESSION lock_wait_timeout = DEFAULT', 'UNLOCK INSTANCE']);

    const denied = recordedSession({
      ...base,
      'SET SESSION lock_wait_timeout = 30': [],
      'LOCK INSTANCE FOR BACKUP': privilegeError('Access denied; you need (at least one of) the BACKUP_ADMIN privilege(s) for this operation'),
    });
    expect(await (await detectFlavor(denied)).blockDdl(denied, { lockWaitTimeoutSeconds: 30 })).toBe(false);
  });

  it('waits for the locks at most lock_wait_timeout, in whole seconds and at least 1, then gives up (exit 3)', async () => {
    expect([0.5, 1, 1.2, 3].map(serverLockWaitTimeout)).toEqual([1, 1, 2, 3]);
    const session = recordedSession({
      ...base,
      'SET SESSION lock_wait_timeout = 1': [],
      'LOCK INSTANCE FOR BACKUP': lockWaitTimeout('LOCK INSTANCE FOR BACKUP'),
      'SET SESSION lock_wait_timeout = 2': [],
      'FLUSH NO_WRITE_TO_BINLOG TABLES': [],
      'FLUSH TABLES WITH READ LOCK': lockWaitTimeout('FLUSH TABLES WITH READ LOCK'),
    });
    const flavor = await detectFlavor(session);

    const ddl = await flavor.blockDdl(session, { lockWaitTimeoutSeconds: 0.5 }).catch((e: unknown) => e);
    expect(ddl).toBeInstanceOf(LockWaitTimeoutError);
    expect((ddl as LockWaitTimeoutError).exitCode).toBe(3);
    expect((ddl as LockWaitTimeoutError).message).toBe('the backup lock (LOCK INSTANCE FOR BACKUP) was not granted within 1s');

    const read = await flavor.lockForSnapshot(session, { lockWaitTimeoutSeconds: 1.2 }).catch((e: unknown) => e);
    expect(read).toBeInstanceOf(LockWaitTimeoutError);
    expect((read as LockWaitTimeoutError).message).toBe('the global read lock (FLUSH TABLES WITH READ LOCK) was not granted within 2s');
    expect(session.log).toContain('SET SESSION lock_wait_timeout = 2');
  });

  it('counts every statement in progress as holding up the read lock, reads too, in whole seconds', async () => {
    const session = recordedSession(base, [
      [processList, [{ id: '17', user: 'app', host: '10.0.0.5:41234', seconds: '12', text: 'SELECT COUNT(*) FROM orders' }]],
    ]);
    const flavor = await detectFlavor(session);
    const found = await flavor.readLockBlockers(session, { minSeconds: 1.5, ignoreConnectionIds: [5, 6] });
    expect(found).toEqual([{ connectionId: 17, user: 'app', host: '10.0.0.5:41234', seconds: 12, text: 'SELECT COUNT(*) FROM orders' }]);
    const asked = session.log.at(-1)!;
    // PROCESSLIST.TIME is whole seconds: 1.5 s rounds up, and the lock's own timeout catches younger ones.
    expect(asked).toContain('TIME >= 2');
    expect(asked).toContain('ID NOT IN (0, 5, 6)');
    expect(asked).toContain("COMMAND NOT IN ('Sleep'");
    expect(asked).toContain("USER NOT IN ('system user'");
    // FLUSH TABLES WITH READ LOCK on MySQL waits for reads as well: none is filtered out.
    expect(asked).not.toContain('REGEXP');
  });

  it('names RELOAD and the way out when FLUSH TABLES WITH READ LOCK is refused', async () => {
    const session = recordedSession({
      ...base,
      'SET SESSION lock_wait_timeout = 1': [],
      'FLUSH NO_WRITE_TO_BINLOG TABLES': privilegeError('Access denied; you need (at least one of) the RELOAD or FLUSH_TABLES privilege(s) for this operation'),
    });
    const flavor = await detectFlavor(session);
    const err = await flavor.lockForSnapshot(session, { lockWaitTimeoutSeconds: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionError);
    expect((err as PreconditionError).exitCode).toBe(3);
    expect((err as PreconditionError).hint).toMatch(/GRANT RELOAD ON \*\.\*.*dump\.consistent: false/);
  });
});

describe('MariaDB flavor (recorded answers)', () => {
  it('has no server UUID, reads gtid_binlog_pos and uses BACKUP STAGE from 10.4', async () => {
    const session = recordedSession({
      [versionQuery]: [{ version: '10.11.19-MariaDB-0+deb12u1-log', comment: 'Debian 12', hostname: 'm1', serverId: '3' }],
      'SELECT @@global.gtid_binlog_pos AS gtid': [{ gtid: '0-3-42' }],
      'SET SESSION lock_wait_timeout = 5': [],
      'BACKUP STAGE START': [],
      'BACKUP STAGE BLOCK_DDL': [],
      'SET SESSION lock_wait_timeout = DEFAULT': [],
    });
    const flavor = await detectFlavor(session);
    expect(flavor.info).toMatchObject({ flavor: 'mariadb', serverUuid: null, serverId: 3 });
    expect(flavor.binlogTool).toBe('mariadb-binlog');
    expect(await flavor.readGtidExecuted(session)).toBe('0-3-42');
    expect(await flavor.blockDdl(session, { lockWaitTimeoutSeconds: 5 })).toBe(true);
    expect(session.log).not.toContain('SELECT @@server_uuid AS uuid');
  });

  it('reads the process list to the millisecond, leaving plain reads out from 10.4 (FTWRL does not wait for them there)', async () => {
    const answers = (version: string) =>
      recordedSession({ [versionQuery]: [{ version, comment: 'mariadb.org binary distribution', hostname: 'm1', serverId: '3' }] }, [
        [processList, [{ id: 9, user: 'app', host: 'localhost', seconds: '2.5000', text: 'UPDATE t SET v = 1' }]],
      ]);
    const current = answers('10.11.19-MariaDB');
    const found = await (await detectFlavor(current)).readLockBlockers(current, { minSeconds: 0.5, ignoreConnectionIds: [4] });
    expect(found).toEqual([{ connectionId: 9, user: 'app', host: 'localhost', seconds: 2.5, text: 'UPDATE t SET v = 1' }]);
    expect(current.log.at(-1)).toContain('TIME_MS >= 500');
    expect(current.log.at(-1)).toContain('AND NOT (INFO REGEXP');
    // The pattern must not reach the driver as a placeholder.
    expect(current.log.at(-1)).not.toContain('?');

    const old = answers('10.3.39-MariaDB');
    const oldFlavor = await detectFlavor(old);
    await oldFlavor.readLockBlockers(old, { minSeconds: 1, ignoreConnectionIds: [] });
    expect(old.log.at(-1)).not.toContain('REGEXP');
    expect(old.log.at(-1)).toContain('ID NOT IN (0)');
    expect(await oldFlavor.blockDdl(old, { lockWaitTimeoutSeconds: 1 })).toBe(false);
  });
});
