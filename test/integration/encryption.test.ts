/**
 * Encryption at rest on real servers: an encrypted backup and binlog archive hold no row data or
 * DDL in clear; restore, verify and point-in-time replay decrypt them transparently; a missing or
 * wrong key is refused before the target is touched; every kind of tampering with a stored file
 * fails naming the file; `backup decrypt` writes a plain dump that loads without any key; and
 * `keys rotate` re-wraps every data key without touching data, also when interrupted.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import { listBackups, resolveBackup, type CatalogEntry } from '../../src/lib/catalog/catalog.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { systemClock } from '../../src/lib/clock.js';
import type { PitrConfig } from '../../src/lib/config/schema.js';
import { decryptBackup } from '../../src/lib/crypto/decrypt-backup.js';
import { keyringFileName, profileKeys, readKeyring, type KeyEncryptionKey, type ProfileKeys } from '../../src/lib/crypto/keys.js';
import { nextKeyringFileName, rotateKeys } from '../../src/lib/crypto/rotate.js';
import { silentLogger } from '../../src/lib/log.js';
import { archiveOnce } from '../../src/lib/pitr/archiver.js';
import { downloadBinlogs } from '../../src/lib/pitr/download.js';
import { readAllManifests } from '../../src/lib/pitr/manifest.js';
import { planFromStorage } from '../../src/lib/pitr/point-in-time.js';
import { nodeProcessRunner } from '../../src/lib/process.js';
import { restoreBootstrap } from '../../src/lib/restore/restore-bootstrap.js';
import { planRestoreInPlace, restoreInPlace } from '../../src/lib/restore/restore-in-place.js';
import { sourceFromCatalog, sourceFromStore, type RestoreSource } from '../../src/lib/restore/source.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { verifyBackup, type ScratchServer } from '../../src/lib/verify/verify-backup.js';
import { checksumTable as checksum, rootConnection, rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { expectAppError as expectCode } from '../support/expect-error.js';

// Strings that occur in the data and the DDL, and must occur in no stored byte.
const canaryValue = 'PLAINTEXT-CANARY-7f3a';
const canaryColumn = 'canary_column_q8z';
const laterCanary = 'LATER-CANARY-b41c';

let work: string;
let source: TestServer;
let target: TestServer;
let storeRoot: string;
let store: ObjectStore;
let kek: KeyEncryptionKey;
let entry: CatalogEntry;
let t0: number;

async function keysFor(root: string, passphrase: string): Promise<ProfileKeys> {
  const file = join(await mkdtemp(join(work, 'pass-')), 'passphrase');
  await writeFile(file, passphrase + '\n');
  return profileKeys(createFsStore({ root }), file, 'encryption.passphraseFile');
}

async function takeBackup(s: ObjectStore, key: KeyEncryptionKey | null): Promise<BackupRecord> {
  return runBackup(
    { connector: rootConnector(source), store: s, logger: silentLogger, clock: systemClock },
    {
      group: 'g',
      profile: 'p',
      toolVersion: 'test',
      dump: { threads: 2, bytesPerChunk: 64_000, compression: 'zstd', consistent: true, includeSchemas: ['vault'], excludeSchemas: [], lockWaitTimeoutSeconds: 10 },
      encryption: key,
    },
    { signal: new AbortController().signal },
  );
}

async function restoreInto(t: TestServer, from: RestoreSource): Promise<void> {
  await sql(t, 'DROP DATABASE IF EXISTS vault');
  await restoreBootstrap(
    { connector: rootConnector(t), logger: silentLogger, clock: systemClock },
    from,
    { threads: 2, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: true, deferIndexes: 'all', resume: false, resetProgress: true },
    { signal: new AbortController().signal },
  );
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(root, join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** A copy of the whole profile storage (keyring, backups, archive), to damage without harm. */
async function copyOfStore(): Promise<string> {
  const root = await mkdtemp(join(work, 'copy-'));
  await cp(storeRoot, root, { recursive: true });
  return root;
}

const pitrConfig: PitrConfig = { enabled: true, profileName: 'p', archivePollInterval: 60, site: 'a', source: { type: 'local' } };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-encryption-'));
  [source, target] = await Promise.all([startTestServer(), startTestServer()]);
  await sql(
    source,
    `CREATE DATABASE vault; USE vault;
     CREATE TABLE secrets (id INT PRIMARY KEY, ${canaryColumn} VARCHAR(100), note TEXT, KEY c (${canaryColumn}));
     CREATE TABLE other (id INT PRIMARY KEY, v VARCHAR(50));
     INSERT INTO secrets SELECT seq, CONCAT('${canaryValue}-', seq), REPEAT(MD5(seq), 6) FROM seq_1_to_20000;
     INSERT INTO other SELECT seq, CONCAT('${canaryValue}', seq) FROM seq_1_to_500;
     CREATE VIEW v_${canaryColumn} AS SELECT id, ${canaryColumn} FROM secrets;
     -- Statistics now, not whenever the background thread gets to it: they decide the chunks.
     ANALYZE TABLE secrets, other;`,
  );
  storeRoot = join(work, 'store');
  store = createFsStore({ root: storeRoot });
  kek = (await (await keysFor(storeRoot, 'first passphrase')).forWriting())!;
  await takeBackup(store, kek);
  entry = await resolveBackup(store, 'latest');
  for (const t of ['vault.secrets', 'vault.other']) backupChecksums.set(t, await checksum(source, t));

  // Later writes, stamped well after the backup, archived under the same profile key.
  t0 = Math.floor(Date.now() / 1000) + 600;
  const conn = await rootConnection(source, 'vault');
  await conn.query(`SET TIMESTAMP = ${t0}`);
  await conn.query(`INSERT INTO other VALUES (100001, '${laterCanary}-1')`);
  await conn.query(`SET TIMESTAMP = ${t0 + 60}`);
  await conn.query(`INSERT INTO other VALUES (100002, '${laterCanary}-2')`);
  await conn.end();
  await sql(source, 'FLUSH BINARY LOGS');
  await archiveOnce(
    { connector: rootConnector(source), store, keys: await keysFor(storeRoot, 'first passphrase'), runner: nodeProcessRunner, logger: silentLogger, clock: systemClock },
    pitrConfig,
  );
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('what storage holds', () => {
  it('every stored file of the backup and the archive is ciphertext; no row data or DDL is readable anywhere', async () => {
    const files = await filesUnder(storeRoot);
    const backupFiles = files.filter((f) => f.startsWith(entry.name + '/'));
    const binlogFiles = files.filter((f) => /^binlogs\/a\//.test(f));
    expect(backupFiles.length).toBeGreaterThan(6);
    expect(binlogFiles.length).toBeGreaterThanOrEqual(1);
    for (const f of files) {
      const bytes = await readFile(join(storeRoot, f));
      for (const secret of [canaryValue, canaryColumn, laterCanary, 'CREATE TABLE']) {
        expect(bytes.includes(Buffer.from(secret)), `${f} holds "${secret}" in clear`).toBe(false);
      }
      const plainAllowed = f === keyringFileName || f.endsWith('/bloodraven.json') || /^binlogs\/manifest-/.test(f);
      expect(plainAllowed || bytes.subarray(0, 6).toString() === 'BRSEG1', `${f} is not encrypted`).toBe(true);
    }
  });

  it('the record stays readable and names the key; the keyring holds the KDF, never a key', async () => {
    const record = entry.record!;
    const keyring = (await readKeyring(store))!;
    expect(record.phase).toBe('Succeeded');
    expect(record.tables.map((t) => t.table).sort()).toEqual(['other', 'secrets']);
    expect(record.encryption).toMatchObject({ keyId: keyring.keyId, cipher: 'AES-256-GCM', segmentSize: 1048576 });
    expect(keyring.kdf).toMatchObject({ name: 'scrypt', N: 32768, r: 8, p: 1 });
    expect(JSON.stringify(keyring)).not.toContain(kek.key.toString('base64'));
    const [manifest] = await readAllManifests(store);
    expect(manifest!.entries.length).toBeGreaterThan(0);
    for (const e of manifest!.entries) expect(e.encryption?.keyId).toBe(keyring.keyId);
    // Each backup and each binlog has a data key of its own.
    const wrapped = [record.encryption!.wrapped, ...manifest!.entries.map((e) => e.encryption!.wrapped)];
    expect(new Set(wrapped).size).toBe(wrapped.length);
  });
});

describe('restore, verify and point-in-time recovery decrypt transparently', () => {
  it('restores the encrypted backup exactly', async () => {
    await restoreInto(target, await sourceFromCatalog(store, 'latest', kek));
    for (const t of ['vault.secrets', 'vault.other']) expect(await checksum(target, t), t).toBe(checksumAtBackup(t));
  });

  it('verifies it: stored files against their SHA-256, then a restore and content comparison', async () => {
    const scratchServer = await startTestServer({ binlog: false });
    const scratch = (): Promise<ScratchServer> => Promise.resolve({ connector: rootConnector(scratchServer), description: 'scratch', release: () => scratchServer.stop() });
    const result = await verifyBackup({ store, kek, logger: silentLogger, clock: systemClock, scratch }, entry, { threads: 2 }, { signal: new AbortController().signal });
    expect(result.error).toBeNull();
    expect(result.files.failed).toEqual([]);
    expect(result.files.checked).toBeGreaterThan(2);
    expect(result.mismatches).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('rolls a server back in place from the encrypted backup', async () => {
    await restoreInto(target, await sourceFromCatalog(store, 'latest', kek));
    await sql(target, 'DELETE FROM vault.secrets WHERE id % 3 = 0; UPDATE vault.other SET v = NULL');
    const catalog = createFsStore({ root: await copyOfStore() });
    const deps = { connector: rootConnector(target), catalog, logger: silentLogger, clock: systemClock };
    const from = await sourceFromCatalog(catalog, 'latest', kek);
    const plan = await planRestoreInPlace(deps, from, { includeSchema: 'vault', threads: 2 });
    await restoreInPlace(deps, from, plan, { confirm: new Date() }, { signal: new AbortController().signal });
    for (const t of ['vault.secrets', 'vault.other']) expect(await checksum(target, t), t).toBe(checksumAtBackup(t));
  });

  it('replays the encrypted binlogs to a point in time', async () => {
    const at = new Date((t0 + 30) * 1000);
    const plan = await planFromStorage(store, at);
    await sql(target, 'DROP DATABASE IF EXISTS vault');
    await restoreBootstrap(
      { connector: rootConnector(target), logger: silentLogger, clock: systemClock },
      await sourceFromCatalog(store, plan.dump.entry.name, kek),
      { threads: 2, includeSchemas: [], excludeSchemas: [], ignoreExistingObjects: false, skipBinlog: true, deferIndexes: 'all', resume: false, resetProgress: true },
      { signal: new AbortController().signal },
      { target: at, exclude: [], store, kek, runner: nodeProcessRunner, plan, onLine: () => undefined },
    );
    const rows = (await sql(target, 'SELECT v FROM vault.other WHERE id > 100000 ORDER BY id')) as Array<{ v: string }>;
    expect(rows.map((r) => r.v)).toEqual([`${laterCanary}-1`]);
  });
});

/** The source's checksums at the backup, before the later writes. */
const backupChecksums = new Map<string, string>();
function checksumAtBackup(table: string): string {
  const known = backupChecksums.get(table);
  if (!known) throw new Error(`no checksum taken for ${table}`);
  return known;
}

describe('a missing or wrong key is refused before anything is touched', () => {
  it('no key configured', async () => {
    const err = await expectCode(sourceFromCatalog(store, 'latest', null), 'ENCRYPTION_KEY_REQUIRED');
    expect(err.message).toContain(entry.name);
    expect(err.hint).toMatch(/passphraseFile/);
  });

  it('a wrong passphrase', async () => {
    const err = await expectCode((await keysFor(storeRoot, 'not the passphrase')).forReading(), 'WRONG_PASSPHRASE');
    expect(err.message).toMatch(/passphrase does not open/);
  });

  it("another profile's key", async () => {
    const otherRoot = join(work, 'other-profile');
    const otherKek = (await (await keysFor(otherRoot, 'first passphrase')).forWriting())!;
    await expectCode(sourceFromCatalog(store, 'latest', otherKek), 'DATA_KEY_UNREADABLE');
  });

  it('a changed wrapped key in the record', async () => {
    const root = await copyOfStore();
    const path = join(root, entry.name, 'bloodraven.json');
    const record = JSON.parse(await readFile(path, 'utf8')) as BackupRecord;
    const bytes = Buffer.from(record.encryption!.wrapped, 'base64');
    bytes[14]! ^= 1;
    record.encryption!.wrapped = bytes.toString('base64');
    await writeFile(path, JSON.stringify(record));
    await expectCode(sourceFromCatalog(createFsStore({ root }), 'latest', kek), 'DATA_KEY_UNREADABLE');
  });
});

describe('the keyring is one per profile', () => {
  it('a backup and the archiver starting together share one new keyring', async () => {
    const root = join(work, 'fresh-profile');
    const keys = await keysFor(root, 'shared');
    const [a, b] = await Promise.all([keys.forWriting(), keys.forWriting()]);
    const stored = (await readKeyring(createFsStore({ root })))!;
    expect(a!.keyId).toBe(stored.keyId);
    expect(b!.keyId).toBe(stored.keyId);
  });

  it('a backup whose key is no longer the profile one fails instead of succeeding unreadable', async () => {
    const root = await copyOfStore();
    const s = createFsStore({ root });
    const stale = (await (await keysFor(join(work, 'elsewhere'), 'first passphrase')).forWriting())!;
    const err = await expectCode(takeBackup(s, stale), 'KEYRING_CHANGED');
    expect(err.message).toMatch(/keyring changed/);
    const [newest] = await listBackups(s);
    expect(newest!.phase).toBe('Failed');
    expect(newest!.complete).toBe(false);
  });
});

describe('tampering with a stored file fails, naming the file', () => {
  const dataFiles = async (root: string): Promise<string[]> => (await readdir(join(root, entry.name))).filter((f) => /^vault@secrets@\d+\.tsv\.zst$/.test(f)).sort();

  /**
   * Two layers each catch it, naming the file: the record's size and SHA-256 of the stored bytes,
   * and, with the record rewritten to match the damaged files, the encryption's authentication.
   */
  async function expectTamperedRestore(root: string, ...files: string[]): Promise<void> {
    const damaged = createFsStore({ root });
    const name = (await sourceFromCatalog(damaged, backupName(), kek)).entry.name;
    const byRecord = await expectCode(restoreInto(target, await sourceFromCatalog(damaged, name, kek)), 'DUMP_FILE_MISMATCH');
    expect(byRecord.message).toMatch(new RegExp(files.join('|').replace(/\./g, '\\.')));
    const recordPath = join(root, name, 'bloodraven.json');
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as BackupRecord;
    for (const f of record.files.filter((x) => files.includes(x.name))) {
      const bytes = await readFile(join(root, name, f.name));
      f.storedBytes = bytes.length;
      f.sha256 = createHash('sha256').update(bytes).digest('hex');
    }
    await writeFile(recordPath, JSON.stringify(record));
    const byKey = await expectCode(restoreInto(target, await sourceFromCatalog(damaged, name, kek)), 'ENCRYPTED_FILE_TAMPERED');
    expect(byKey.message).toMatch(new RegExp(files.join('|').replace(/\./g, '\\.')));
  }
  let tamperedBackup: string | undefined;
  const backupName = (): string => tamperedBackup ?? 'latest';

  it('a flipped byte in a data file', async () => {
    const root = await copyOfStore();
    const [file] = await dataFiles(root);
    const path = join(root, entry.name, file!);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1]! ^= 0x20;
    await writeFile(path, bytes);
    await expectTamperedRestore(root, file!);
  });

  it('a data file cut short', async () => {
    const root = await copyOfStore();
    const [file] = await dataFiles(root);
    const path = join(root, entry.name, file!);
    await truncate(path, (await readFile(path)).length - 40);
    await expectTamperedRestore(root, file!);
  });

  it('two data files of the same table swapped', async () => {
    const root = await copyOfStore();
    const [a, b] = await dataFiles(root);
    expect(b, 'the table is dumped in several chunks').toBeDefined();
    const dir = join(root, entry.name);
    await rename(join(dir, a!), join(dir, 'swap'));
    await rename(join(dir, b!), join(dir, a!));
    await rename(join(dir, 'swap'), join(dir, b!));
    await expectTamperedRestore(root, a!, b!);
  });

  it('a data file replaced by the same file of another backup', async () => {
    const root = await copyOfStore();
    const s = createFsStore({ root });
    const other = await takeBackup(s, kek);
    const [file] = await dataFiles(root);
    await cp(join(root, other.name, file!), join(root, entry.name, file!));
    tamperedBackup = entry.name;
    try {
      await expectTamperedRestore(root, file!);
    } finally {
      tamperedBackup = undefined;
    }
  });

  it('a flipped byte in a DDL file', async () => {
    const root = await copyOfStore();
    const path = join(root, entry.name, 'vault@secrets.sql');
    const bytes = await readFile(path);
    bytes[30]! ^= 0x01;
    await writeFile(path, bytes);
    // Every script is read before anything is touched; it fails authentication, naming the file.
    const err = await expectCode(restoreInto(target, await sourceFromCatalog(createFsStore({ root }), 'latest', kek)), 'DUMP_FILE_MISMATCH');
    expect(err.exitCode).toBe(3);
    expect(err.message).toMatch(/vault@secrets\.sql: .*(tampered|authentic)/i);
  });

  it('verify reports the tampered file by name', async () => {
    const root = await copyOfStore();
    const [file] = await dataFiles(root);
    const path = join(root, entry.name, file!);
    const bytes = await readFile(path);
    bytes[20]! ^= 0x01;
    await writeFile(path, bytes);
    const damaged = createFsStore({ root });
    const result = await verifyBackup(
      { store: damaged, kek, logger: silentLogger, clock: systemClock, scratch: () => Promise.reject(new Error('no restore once a file fails')) },
      await resolveBackup(damaged, 'latest'),
      { threads: 2 },
      { signal: new AbortController().signal },
    );
    expect(result.ok).toBe(false);
    expect(result.files.failed.map((f) => f.name)).toEqual([file]);
  });

  it('a tampered archived binlog fails the replay, naming it', async () => {
    const root = await copyOfStore();
    const damaged = createFsStore({ root });
    const [manifest] = await readAllManifests(damaged);
    const last = manifest!.entries.at(-1)!;
    const path = join(root, last.key);
    const bytes = await readFile(path);
    bytes[bytes.length - 30]! ^= 0x01;
    await writeFile(path, bytes);
    const err = await expectCode(downloadBinlogs(damaged, [last], await mkdtemp(join(work, 'dl-')), { kek }), 'ENCRYPTED_FILE_TAMPERED');
    expect(err.message).toContain(last.key);
  });
});

describe('backup decrypt', () => {
  it('writes a plain MySQL Shell dump that loads with no key at all', async () => {
    const dest = join(work, 'plain');
    const result = await decryptBackup({ store, kek, logger: silentLogger }, entry, { store: createFsStore({ root: dest }), path: dest });
    const files = await readdir(dest);
    expect(result.files).toBe(files.length);
    expect(files).toContain('@.json');
    expect(files).toContain('@.done.json');
    expect(files).not.toContain('bloodraven.json');
    expect(JSON.parse(await readFile(join(dest, '@.json'), 'utf8'))).toMatchObject({ dumper: expect.stringMatching(/bloodraven/) as unknown });
    expect(await readFile(join(dest, 'vault@secrets.sql'), 'utf8')).toContain(canaryColumn);
    for (const f of files.filter((x) => x.endsWith('.zst'))) expect((await readFile(join(dest, f))).readUInt32LE(0), f).toBe(0xfd2fb528);

    const plain = createFsStore({ root: dest });
    await restoreInto(target, await sourceFromStore(plain, dest, null));
    for (const t of ['vault.secrets', 'vault.other']) expect(await checksum(target, t), t).toBe(checksumAtBackup(t));
  });

  it('refuses a folder that is not empty, and leaves nothing behind when a file fails', async () => {
    const dest = await mkdtemp(join(work, 'occupied-'));
    await writeFile(join(dest, 'keep.txt'), 'mine');
    await expectCode(decryptBackup({ store, kek, logger: silentLogger }, entry, { store: createFsStore({ root: dest }), path: dest }), 'TARGET_NOT_EMPTY');
    expect(await readdir(dest)).toEqual(['keep.txt']);

    const root = await copyOfStore();
    const dir = join(root, entry.name);
    const last = (await readdir(dir)).filter((f) => f.endsWith('.tsv.zst')).sort().at(-1)!;
    const bytes = await readFile(join(dir, last));
    bytes[25]! ^= 1;
    await writeFile(join(dir, last), bytes);
    const damaged = createFsStore({ root });
    const out = join(work, 'plain-failed');
    const err = await expectCode(decryptBackup({ store: damaged, kek, logger: silentLogger }, await resolveBackup(damaged, 'latest'), { store: createFsStore({ root: out }), path: out }), 'ENCRYPTED_FILE_TAMPERED');
    expect(err.message).toContain(last);
    expect(await filesUnder(out).catch(() => [])).toEqual([]);
  });
});

describe('keys rotate', () => {
  const dataHashes = async (root: string): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const f of await filesUnder(root)) {
      if (f === keyringFileName || f.endsWith('bloodraven.json') || f.startsWith('binlogs/manifest-')) continue;
      out.set(f, createHash('sha256').update(await readFile(join(root, f))).digest('hex'));
    }
    return out;
  };

  it('re-wraps every data key without touching data; the old passphrase stops working, the new one restores', async () => {
    const root = await copyOfStore();
    const s = createFsStore({ root });
    const before = await dataHashes(root);
    const result = await rotateKeys({ store: s, logger: silentLogger, clock: systemClock }, { current: 'first passphrase', next: 'second passphrase' });
    expect(result).toMatchObject({ backups: 1, resumed: false });
    expect(result.binlogs).toBeGreaterThan(0);
    expect(result.newKeyId).not.toBe(result.oldKeyId);
    expect(await dataHashes(root)).toEqual(before);

    await expectCode((await keysFor(root, 'first passphrase')).forReading(), 'WRONG_PASSPHRASE');
    const newKek = (await (await keysFor(root, 'second passphrase')).forReading())!;
    // The old key, kept from before, opens nothing any more either.
    await expectCode(sourceFromCatalog(s, 'latest', kek), 'DATA_KEY_UNREADABLE');
    await restoreInto(target, await sourceFromCatalog(s, 'latest', newKek));
    expect(await checksum(target, 'vault.secrets')).toBe(checksumAtBackup('vault.secrets'));
    const [manifest] = await readAllManifests(s);
    const files = await downloadBinlogs(s, manifest!.entries, await mkdtemp(join(work, 'dl-')), { kek: newKek });
    const [original] = await readAllManifests(store);
    const originals = await downloadBinlogs(store, original!.entries, await mkdtemp(join(work, 'dl-')), { kek });
    for (const [i, f] of files.entries()) expect((await readFile(f.path)).equals(await readFile(originals[i]!.path))).toBe(true);
  });

  it('an interrupted rotation is finished by running it again', async () => {
    const root = await copyOfStore();
    const plainStore = createFsStore({ root });
    // A second backup, so that the rotation can stop between two records.
    await takeBackup(plainStore, kek);
    let recordPuts = 0;
    const failing: ObjectStore = {
      ...plainStore,
      put: async (key, data, options) => {
        if (key.endsWith('/bloodraven.json') && ++recordPuts === 2) throw new Error('connection reset');
        return plainStore.put(key, data, options);
      },
    };
    await expect(rotateKeys({ store: failing, logger: silentLogger, clock: systemClock }, { current: 'first passphrase', next: 'second passphrase' })).rejects.toThrow(/connection reset/);
    // Half-way: the old keyring is still the profile's, the new one waits beside it.
    expect(await plainStore.exists(nextKeyringFileName)).toBe(true);
    const oldKeyring = (await readKeyring(plainStore))!;
    expect(oldKeyring.keyId).toBe(kek.keyId);
    const ids = (await listBackups(plainStore)).map((e) => e.record!.encryption!.keyId);
    expect(new Set(ids).size).toBe(2);

    const result = await rotateKeys({ store: plainStore, logger: silentLogger, clock: systemClock }, { current: 'first passphrase', next: 'second passphrase' });
    expect(result.resumed).toBe(true);
    expect(await plainStore.exists(nextKeyringFileName)).toBe(false);
    const keyring = (await readKeyring(plainStore))!;
    expect(keyring.keyId).toBe(result.newKeyId);
    for (const e of await listBackups(plainStore)) expect(e.record!.encryption!.keyId).toBe(keyring.keyId);
    for (const e of (await readAllManifests(plainStore)).flatMap((m) => m.entries)) expect(e.encryption!.keyId).toBe(keyring.keyId);
    await expectCode((await keysFor(root, 'first passphrase')).forReading(), 'WRONG_PASSPHRASE');
  });

  it('refuses while a backup is running, and with a wrong current passphrase, changing nothing', async () => {
    const root = await copyOfStore();
    const s = createFsStore({ root });
    const before = await readFile(join(root, keyringFileName));
    await expectCode(rotateKeys({ store: s, logger: silentLogger, clock: systemClock }, { current: 'wrong', next: 'second passphrase' }), 'WRONG_PASSPHRASE');
    const running: Partial<BackupRecord> = { name: 'g-p-running', phase: 'Running', startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString(), runner: { hostname: hostname(), pid: process.pid } };
    await s.put('g-p-running/bloodraven.json', JSON.stringify(running));
    await expectCode(rotateKeys({ store: s, logger: silentLogger, clock: systemClock }, { current: 'first passphrase', next: 'second passphrase' }), 'BACKUP_RUNNING');
    expect((await readFile(join(root, keyringFileName))).equals(before)).toBe(true);
    expect(await s.exists(nextKeyringFileName)).toBe(false);
  });
});
