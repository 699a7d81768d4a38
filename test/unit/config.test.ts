import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/lib/config/load.js';
import { resolveMysqlCredentials } from '../../src/lib/config/mysql-credentials.js';
import { ConfigError } from '../../src/lib/errors.js';
import { formatPath } from '../../src/lib/config/schema.js';
import { validateGroupSpec } from '../../src/lib/kube/resources.js';

/** The folders dirWith made: removed when the file's tests end. */
const made: string[] = [];

afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bloodraven-config-'));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads a full config and fills the defaults', async () => {
    const dir = await dirWith({
      'bloodraven.yaml': `
name: orders
mysql: { host: db.internal, port: 3307, credentialsDir: ./creds }
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 8, bytesPerChunk: 128M, compression: gzip }
    - name: offsite
      storage: { type: S3, s3: { bucket: my-bucket, prefix: orders, endpointURL: "http://127.0.0.1:9000" } }
`,
    });
    const loaded = await loadConfig({ cwd: dir });
    expect(loaded.path).toBe(join(dir, 'bloodraven.yaml'));
    expect(loaded.config.name).toBe('orders');
    expect(loaded.profile.name).toBe('local');
    expect(loaded.profile.dump).toEqual({ threads: 8, bytesPerChunk: 128_000_000, compression: 'gzip', consistent: true, includeSchemas: [], excludeSchemas: [], users: true, lockWaitTimeout: 1, storageStallTimeout: 120 });
    const offsite = (await loadConfig({ cwd: dir, profile: 'offsite' })).profile;
    expect(offsite.storage).toMatchObject({ type: 'S3', s3: { bucket: 'my-bucket', prefix: 'orders', partSize: 16_000_000 } });
    expect(offsite.dump.threads).toBe(4);
    expect(offsite.dump.bytesPerChunk).toBe(64_000_000);
  });

  it('reports every problem at once, each with its field path (exit 2)', async () => {
    const dir = await dirWith({
      'bloodraven.yaml': `
mysql: { port: 99999, socket: /tmp/s, host: x }
backup:
  profiles:
    - name: Bad_Name
      storage: { type: FTP }
    - name: ok
      storage: { type: S3, s3: { prefix: x } }
      dump: { threads: 0, bytesPerChunk: 1k, compression: lz4, extra: 1 }
`,
    });
    const err = await configError(loadConfig({ cwd: dir }));
    expect(err.exitCode).toBe(2);
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'mysql.port',
        'backup.profiles[0].name',
        'backup.profiles[0].storage.type',
        'backup.profiles[1].storage.s3.bucket',
        'backup.profiles[1].dump.threads',
        'backup.profiles[1].dump.bytesPerChunk',
        'backup.profiles[1].dump.compression',
        'backup.profiles[1].dump',
      ]),
    );
    expect(err.message).toContain('backup.profiles[1].dump.bytesPerChunk: must be at least 128k');
    expect(err.message).toContain('backup.profiles[1].dump.threads: must be a whole number from 1 to 64');
  });

  it('says what a number out of range must be, in words (threads too big, a zero duration)', async () => {
    const dir = await dirWith({
      'bloodraven.yaml': `
backup:
  profiles:
    - name: ok
      storage: { type: S3, s3: { bucket: bkt, retryTimeout: 0 } }
      dump: { threads: 999 }
`,
    });
    const err = await configError(loadConfig({ cwd: dir }));
    expect(err.message).toContain('backup.profiles[0].dump.threads: must be a whole number from 1 to 64');
    expect(err.message).toContain('backup.profiles[0].storage.s3.retryTimeout: must be more than 0: seconds, or a duration like 30s or 2m');
    expect(err.message).not.toMatch(/Too (small|big)/);
  });

  it('reports the cross-field problems together with the field errors that used to hide them', async () => {
    const dir = await dirWith({
      'bloodraven.yaml': `
mysql: { socket: /run/mysqld.sock, host: db, passwordFile: ./pw, credentialsDir: ./creds }
backup:
  profiles:
    - name: a
      storage: { type: PVC, pvc: { path: ./a } }
      dump: { threads: 0, includeSchemas: [shop, crm], excludeSchemas: [crm] }
      retention: 3
      retentionPolicy: { count: 2 }
    - name: a
      storage: { type: PVC, pvc: { path: ./b } }
  schedules:
    - { name: nightly, profileName: nope, schedule: "0 2 * * *" }
    - { name: nightly, profileName: a, schedule: "61 * * * *" }
    - { name: weekly, profileName: a, schedule: "0 2 * * 9", timeZone: Mars/Olympus }
  retry: { maxAttempts: 0, initialBackoffSeconds: 600, maxBackoffSeconds: 60 }
  pitr: { profileName: missing }
`,
    });
    const err = await configError(loadConfig({ cwd: dir }));
    expect(err.exitCode).toBe(2);
    const byPath = new Map(err.issues.map((i) => [i.path, i.message]));
    // The field errors…
    expect(byPath.get('backup.profiles[0].dump.threads')).toBe('must be a whole number from 1 to 64');
    expect(byPath.get('backup.retry.maxAttempts')).toMatch(/>=1/);
    // …and every cross-field problem beside them.
    expect(Object.fromEntries([...byPath].filter(([path]) => !path.endsWith('threads') && !path.endsWith('maxAttempts')))).toEqual({
      'mysql.socket': 'use either mysql.socket or mysql.host, not both',
      'mysql.credentialsDir': 'use either mysql.credentialsDir or mysql.passwordFile, not both',
      'mysql.passwordFile': 'mysql.passwordFile needs a user as well: mysql.user is not set',
      'backup.profiles[0].retention': 'use either backup.profiles[0].retention or backup.profiles[0].retentionPolicy, not both',
      'backup.profiles[0].dump.excludeSchemas': expect.stringContaining('"crm" is both included (backup.profiles[0].dump.includeSchemas) and excluded (backup.profiles[0].dump.excludeSchemas)') as string,
      'backup.profiles[1].name': 'profile "a" is defined twice',
      'backup.schedules[0].profileName': 'no profile named "nope"',
      'backup.schedules[1].name': 'schedule "nightly" is defined twice',
      'backup.schedules[1].schedule': expect.stringContaining('"61 * * * *" is not a valid cron schedule') as string,
      // A wrong zone no longer hides a wrong schedule beside it.
      'backup.schedules[2].timeZone': '"Mars/Olympus" is not an IANA time zone (like Etc/UTC or America/Los_Angeles)',
      'backup.schedules[2].schedule': expect.stringContaining('"0 2 * * 9" is not a valid cron schedule') as string,
      'backup.retry.maxBackoffSeconds': 'must be at least backup.retry.initialBackoffSeconds (600)',
      'backup.pitr.profileName': 'no profile named "missing"',
    });
  });

  it('checks a profile\'s verification schedule and time zone as a schedule\'s, in the file and in a group\'s spec.backup', async () => {
    const dir = await dirWith({
      'bloodraven.yaml': `
backup:
  profiles:
    - name: a
      storage: { type: PVC, pvc: { path: ./a } }
      verification: { schedule: "0 3 * *", timeZone: Mars/Olympus }
    - name: b
      storage: { type: PVC, pvc: { path: ./b } }
      verification: { schedule: "0 25 * * *" }
    - name: c
      storage: { type: PVC, pvc: { path: ./c } }
      verification: { schedule: "30 4 * * 0", timeZone: Europe/Berlin, threads: 2 }
`,
    });
    const err = await configError(loadConfig({ cwd: dir }));
    expect(err.exitCode).toBe(2);
    expect(Object.fromEntries(err.issues.map((i) => [i.path, i.message]))).toEqual({
      'backup.profiles[0].verification.timeZone': '"Mars/Olympus" is not an IANA time zone (like Etc/UTC or America/Los_Angeles)',
      'backup.profiles[0].verification.schedule': '"0 3 * *" is not a five-field cron schedule (minute hour day-of-month month day-of-week)',
      'backup.profiles[1].verification.schedule': expect.stringContaining('"0 25 * * *" is not a valid cron schedule') as string,
    });
    // A good one loads, with its default zone.
    const good = await dirWith({ 'bloodraven.yaml': 'backup: { profiles: [ { name: p, storage: { type: PVC, pvc: { path: ./p } }, verification: { schedule: "15 5 * * *" } } ] }\n' });
    expect((await loadConfig({ cwd: good })).profile.verification).toEqual({ schedule: '15 5 * * *', timeZone: 'Etc/UTC' });

    const group = validateGroupSpec({
      credentials: { backupSecret: 's' },
      sites: [{ name: 'east' }],
      backup: { profiles: [{ name: 'p', storage: { type: 'PVC', pvc: { claimName: 'c' } }, verification: { schedule: 'every day', timeZone: 'Nowhere/Land' } }] },
    });
    expect(group.success).toBe(false);
    expect(group.success ? [] : group.issues.map((i) => [formatPath(i.path), i.message])).toEqual([
      ['spec.backup.profiles[0].verification.timeZone', '"Nowhere/Land" is not an IANA time zone (like Etc/UTC or America/Los_Angeles)'],
      ['spec.backup.profiles[0].verification.schedule', '"every day" is not a five-field cron schedule (minute hour day-of-month month day-of-week)'],
    ]);
  });

  it('names the flag, not the file, when a flag value is wrong', async () => {
    const dir = await dirWith({ 'good.yaml': 'backup: { profiles: [ { name: p, storage: { type: PVC, pvc: { path: b } }, dump: { excludeSchemas: [logs] } } ] }\n' });
    const file = join(dir, 'good.yaml');
    const onlyFlags = await configError(
      loadConfig({ cwd: dir, file: 'good.yaml', overrides: { mysql: { port: 0, passwordFile: 'pw' }, dump: { threads: 0, bytesPerChunk: '1k', includeSchemas: ['shop', ''] } } }),
    );
    expect(onlyFlags.issues).toEqual([
      { path: '--port', message: expect.stringMatching(/>=1/) as string },
      { path: '--threads', message: 'must be a whole number from 1 to 64' },
      { path: '--bytes-per-chunk', message: 'must be at least 128k' },
      { path: '--include-schema', message: expect.stringMatching(/>=1 characters/) as string },
      { path: '--password-file', message: '--password-file needs a user as well: mysql.user is not set' },
    ]);
    expect(onlyFlags.hint).toBe('fix the flags named above (see --help)');
    expect(onlyFlags.hint).not.toContain(file);

    // A flag contradicting the file: either may be what is wrong.
    const contradiction = await configError(loadConfig({ cwd: dir, file: 'good.yaml', overrides: { dump: { includeSchemas: ['logs'] } } }));
    expect(contradiction.issues).toEqual([
      { path: 'backup.profiles[0].dump.excludeSchemas', message: expect.stringContaining('"logs" is both included (--include-schema) and excluded (backup.profiles[0].dump.excludeSchemas)') as string },
    ]);
    expect(contradiction.hint).toBe(`fix ${file} and the flags named above`);
    const bothFlags = await configError(loadConfig({ cwd: dir, file: 'good.yaml', overrides: { dump: { includeSchemas: ['a', 'b'], excludeSchemas: ['b', 'a'] } } }));
    expect(bothFlags.issues).toEqual([{ path: '--exclude-schema', message: expect.stringContaining('"a", "b" are both included (--include-schema) and excluded (--exclude-schema)') as string }]);
    expect(bothFlags.hint).toBe('fix the flags named above (see --help)');

    const both = await configError(loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': 'backup: { profiles: [ { name: Bad, storage: { type: PVC, pvc: { path: b } } } ] }\n' }), overrides: { mysql: { socket: '/s', host: 'h' } } }));
    expect(both.issues.map((i) => i.path)).toEqual(['backup.profiles[0].name', '--socket']);
    expect(both.issues[1]!.message).toBe('use either --socket or --host, not both');
    expect(both.hint).toMatch(/^fix .*bloodraven\.yaml and the flags named above$/);
  });

  it('tells how the user wrote each field: the flag that set it, or the config path', async () => {
    const dir = await dirWith({
      'bloodraven.yaml': 'backup: { profiles: [ { name: a, storage: { type: PVC, pvc: { path: a } } }, { name: b, storage: { type: PVC, pvc: { path: b } } } ] }\n',
    });
    const loaded = await loadConfig({ cwd: dir, profile: 'b', overrides: { mysql: { user: 'u' }, dump: { includeSchemas: ['shop'], consistent: false } } });
    expect(loaded.fieldName('backup.profiles[1].dump.includeSchemas')).toBe('--include-schema');
    expect(loaded.fieldName('backup.profiles[1].dump.includeSchemas[0]')).toBe('--include-schema');
    expect(loaded.fieldName('backup.profiles[1].dump.consistent')).toBe('--no-consistent');
    expect(loaded.fieldName('mysql.user')).toBe('--user');
    expect(loaded.fieldName('backup.profiles[0].dump.includeSchemas')).toBe('backup.profiles[0].dump.includeSchemas');
    expect(loaded.fieldName('backup.profiles[1].dump.excludeSchemas')).toBe('backup.profiles[1].dump.excludeSchemas');
    expect(loaded.fieldName('mysql.host')).toBe('mysql.host');
  });

  it('uses local defaults without a file, and lets flags replace file values', async () => {
    const empty = await dirWith({});
    const defaults = await loadConfig({ cwd: empty, overrides: { mysql: { socket: '/run/mysqld.sock' }, dump: { threads: 2 } } });
    expect(defaults.path).toBeNull();
    expect(defaults.profile).toMatchObject({ name: 'local', storage: { type: 'PVC', pvc: { path: './backups' } }, dump: { threads: 2 } });
    expect(defaults.config.mysql.socket).toBe('/run/mysqld.sock');

    const dir = await dirWith({ 'bloodraven.yaml': 'mysql: { socket: /a }\nbackup: { profiles: [ { name: p, storage: { type: PVC, pvc: { path: b } } } ] }\n' });
    const loaded = await loadConfig({ cwd: dir, overrides: { mysql: { host: 'h', port: 1 }, dump: { compression: 'none', bytesPerChunk: '1M' } } });
    expect(loaded.config.mysql).toMatchObject({ host: 'h', port: 1 });
    expect(loaded.config.mysql.socket).toBeUndefined();
    expect(loaded.profile.dump).toMatchObject({ compression: 'none', bytesPerChunk: 1_000_000 });
  });

  it('reads dump.lockWaitTimeout as seconds or a duration (sub-second too), and lets --lock-wait-timeout replace it', async () => {
    const profiles = ['2', '1.5', '"500ms"', '"3s"', '"0s"', '"soon"', '-1']
      .map((value, i) => `    - { name: p${i}, storage: { type: PVC, pvc: { path: b${i} } }, dump: { lockWaitTimeout: ${value} } }`)
      .join('\n');
    const bad = await dirWith({ 'bloodraven.yaml': `backup:\n  profiles:\n${profiles}\n` });
    const err = await configError(loadConfig({ cwd: bad }));
    expect(err.issues.map((i) => i.path)).toEqual(['backup.profiles[4].dump.lockWaitTimeout', 'backup.profiles[5].dump.lockWaitTimeout', 'backup.profiles[6].dump.lockWaitTimeout']);
    expect(err.message).toContain('backup.profiles[4].dump.lockWaitTimeout: must be more than 0');

    const good = await dirWith({ 'bloodraven.yaml': `backup:\n  profiles:\n${profiles.split('\n').slice(0, 4).join('\n')}\n` });
    const seconds = await Promise.all(['p0', 'p1', 'p2', 'p3'].map(async (profile) => (await loadConfig({ cwd: good, profile })).profile.dump.lockWaitTimeout));
    expect(seconds).toEqual([2, 1.5, 0.5, 3]);
    const flagged = await loadConfig({ cwd: good, profile: 'p3', overrides: { dump: { lockWaitTimeout: '250ms' } } });
    expect(flagged.profile.dump.lockWaitTimeout).toBe(0.25);
    expect((await loadConfig({ cwd: await dirWith({}) })).profile.dump.lockWaitTimeout).toBe(1);
  });

  it('reads mysql.unresponsiveTimeout as seconds or a duration (60 s by default), and refuses less than a second', async () => {
    const profile = 'backup: { profiles: [ { name: a, storage: { type: PVC, pvc: { path: b } } } ] }';
    const read = async (value: string): Promise<number> => (await loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': `mysql: { unresponsiveTimeout: ${value} }\n${profile}\n` }) })).config.mysql.unresponsiveTimeout;
    expect(await read('"2m"')).toBe(120);
    expect(await read('5')).toBe(5);
    expect((await loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': `${profile}\n` }) })).config.mysql.unresponsiveTimeout).toBe(60);
    const err = await configError(loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': `mysql: { unresponsiveTimeout: "500ms" }\n${profile}\n` }) }));
    expect(err.issues).toEqual([{ path: 'mysql.unresponsiveTimeout', message: 'must be at least 1 second' }]);
  });

  it('reads storage.s3.retryTimeout as seconds or a duration (absent: the store\'s 2 min), and refuses less than a second or a word, naming the field', async () => {
    const withTimeout = (value: string): string => `backup: { profiles: [ { name: a, storage: { type: S3, s3: { bucket: bkt, ${value} } } } ] }\n`;
    const read = async (value: string): Promise<unknown> => {
      const { profile } = await loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': withTimeout(value) }) });
      return profile.storage.type === 'S3' ? profile.storage.s3.retryTimeout : 'not S3';
    };
    expect(await read('retryTimeout: "2m"')).toBe(120);
    expect(await read('retryTimeout: 30')).toBe(30);
    expect(await read('prefix: p')).toBeUndefined();
    const short = await configError(loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': withTimeout('retryTimeout: "500ms"') }) }));
    expect(short.issues).toEqual([{ path: 'backup.profiles[0].storage.s3.retryTimeout', message: 'must be at least 1 second (a duration like 30s or 2m)' }]);
    const word = await configError(loadConfig({ cwd: await dirWith({ 'bloodraven.yaml': withTimeout('retryTimeout: forever') }) }));
    expect(word.issues[0]).toMatchObject({ path: 'backup.profiles[0].storage.s3.retryTimeout', message: expect.stringMatching(/"forever" is not a duration/) as unknown });
  });

  it('refuses a named config file that does not exist, a broken YAML file and an unknown profile', async () => {
    const dir = await dirWith({ 'broken.yaml': 'backup: [unclosed', 'ok.yaml': 'backup: { profiles: [ { name: a, storage: { type: PVC, pvc: { path: b } } } ] }' });
    expect((await configError(loadConfig({ cwd: dir, file: 'missing.yaml' }))).message).toMatch(/missing\.yaml does not exist/);
    expect((await configError(loadConfig({ cwd: dir, file: 'broken.yaml' }))).message).toMatch(/broken\.yaml/);
    const unknownProfile = await configError(loadConfig({ cwd: dir, file: 'ok.yaml', profile: 'zzz' }));
    expect(unknownProfile.issues).toEqual([{ path: '--profile', message: 'no profile named "zzz"; the config has: a' }]);
  });
});

describe('paths given as flags', () => {
  it('are relative to the working folder, not to the config file, and a missing one is blamed on the flag', async () => {
    const dir = await dirWith({ 'etc/bloodraven.yaml': 'backup: { profiles: [ { name: p, storage: { type: PVC, pvc: { path: b } } } ] }\n', pw: 'secret\n' });
    const loaded = await loadConfig({ cwd: dir, file: 'etc/bloodraven.yaml', overrides: { mysql: { user: 'u', passwordFile: 'pw' } } });
    expect(loaded.config.mysql.passwordFile).toBe(join(dir, 'pw'));
    const credentials = await resolveMysqlCredentials(loaded.config.mysql, { baseDir: loaded.baseDir, fieldName: loaded.fieldName });
    expect(credentials).toMatchObject({ user: 'u', password: 'secret' });

    const missing = await loadConfig({ cwd: dir, file: 'etc/bloodraven.yaml', overrides: { mysql: { credentialsDir: 'nope' } } });
    const err = await configError(resolveMysqlCredentials(missing.config.mysql, { baseDir: missing.baseDir, fieldName: missing.fieldName }));
    expect(err.issues).toEqual([{ path: '--credentials-dir', message: `${join(dir, 'nope', 'MYSQL_USER')} does not exist` }]);
  });
});

describe('resolveMysqlCredentials', () => {
  it('reads MYSQL_USER and MYSQL_PASSWORD from credentialsDir, dropping a trailing newline', async () => {
    const dir = await dirWith({ 'creds/MYSQL_USER': 'backup\n', 'creds/MYSQL_PASSWORD': 's3cret pass\n' });
    const c = await resolveMysqlCredentials({ credentialsDir: './creds', connectTimeoutSeconds: 10, unresponsiveTimeout: 60 }, { baseDir: dir });
    expect(c).toMatchObject({ user: 'backup', password: 's3cret pass' });
    expect(c.passwordSource).toBe(join(dir, 'creds', 'MYSQL_PASSWORD'));
  });

  it('reads user + passwordFile, prompts on a TTY, and names a missing file', async () => {
    const dir = await dirWith({ pw: 'p\n' });
    expect(await resolveMysqlCredentials({ user: 'u', passwordFile: 'pw', connectTimeoutSeconds: 10, unresponsiveTimeout: 60 }, { baseDir: dir })).toMatchObject({ user: 'u', password: 'p' });
    const prompted = await resolveMysqlCredentials({ user: 'u', connectTimeoutSeconds: 10, unresponsiveTimeout: 60 }, { baseDir: dir, promptPassword: () => Promise.resolve('typed') });
    expect(prompted).toMatchObject({ password: 'typed', passwordSource: 'the prompt' });
    const err = await configError(resolveMysqlCredentials({ user: 'u', passwordFile: 'nope', connectTimeoutSeconds: 10, unresponsiveTimeout: 60 }, { baseDir: dir }));
    expect(err.issues[0]).toMatchObject({ path: 'mysql.passwordFile' });
    expect(err.message).toContain('does not exist');
  });
});
