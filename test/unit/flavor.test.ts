import { describe, expect, it } from 'vitest';
import { MysqlError, PreconditionError } from '../../src/lib/errors.js';
import { detectFlavor, flavorOf, parseServerVersion } from '../../src/lib/mysql/flavor.js';
import { recordedSession } from '../support/recorded-session.js';

const versionQuery = 'SELECT @@version AS version, @@version_comment AS comment, @@hostname AS hostname, @@server_id AS serverId';

function privilegeError(message: string): MysqlError {
  return new MysqlError('MYSQL_PRIVILEGE_MISSING', message);
}

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
    const granted = recordedSession({ ...base, 'SET SESSION lock_wait_timeout = 30': [], 'LOCK INSTANCE FOR BACKUP': [], 'UNLOCK INSTANCE': [] });
    const flavor = await detectFlavor(granted);
    expect(await flavor.blockDdl(granted, { lockWaitTimeoutSeconds: 30 })).toBe(true);
    await flavor.unblockDdl(granted);
    expect(granted.log).toContain('UNLOCK INSTANCE');

    const denied = recordedSession({
      ...base,
      'SET SESSION lock_wait_timeout = 30': [],
      'LOCK INSTANCE FOR BACKUP': privilegeError('Access denied; you need (at least one of) the BACKUP_ADMIN privilege(s) for this operation'),
    });
    expect(await (await detectFlavor(denied)).blockDdl(denied, { lockWaitTimeoutSeconds: 30 })).toBe(false);
  });

  it('names RELOAD and the way out when FLUSH TABLES WITH READ LOCK is refused', async () => {
    const session = recordedSession({
      ...base,
      'SET SESSION lock_wait_timeout = 60': [],
      'FLUSH NO_WRITE_TO_BINLOG TABLES': privilegeError('Access denied; you need (at least one of) the RELOAD or FLUSH_TABLES privilege(s) for this operation'),
    });
    const flavor = await detectFlavor(session);
    const err = await flavor.lockForSnapshot(session, { lockWaitTimeoutSeconds: 60 }).catch((e: unknown) => e);
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
    });
    const flavor = await detectFlavor(session);
    expect(flavor.info).toMatchObject({ flavor: 'mariadb', serverUuid: null, serverId: 3 });
    expect(flavor.binlogTool).toBe('mariadb-binlog');
    expect(await flavor.readGtidExecuted(session)).toBe('0-3-42');
    expect(await flavor.blockDdl(session, { lockWaitTimeoutSeconds: 5 })).toBe(true);
    expect(session.log).not.toContain('SELECT @@server_uuid AS uuid');
  });
});
