/**
 * Encryption from the CLI, as a user runs it, on S3 (s3rver): `backup now` on an encrypted
 * profile, a restore with a wrong passphrase refused before the target is touched, `backup
 * decrypt`, and `keys rotate` after which only the new passphrase restores.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumTable as checksum, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { s3rverCredentials, startS3Server, type S3TestServer } from '../support/s3.js';
import { runCli as cli } from '../support/cli.js';


let source: TestServer;
let target: TestServer;
let s3: S3TestServer;
let work: string;

/** A config folder for `server`, on the shared S3 profile, with `passphrase` in ./passphrase. */
async function configFor(server: TestServer, passphrase: string): Promise<string> {
  const dir = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(dir, 'empty'), '');
  await writeFile(join(dir, 'passphrase'), passphrase + '\n');
  await mkdir(join(dir, 'aws'));
  await writeFile(join(dir, 'aws', 'AWS_ACCESS_KEY_ID'), s3rverCredentials.accessKeyId);
  await writeFile(join(dir, 'aws', 'AWS_SECRET_ACCESS_KEY'), s3rverCredentials.secretAccessKey);
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root, passwordFile: ./empty }
backup:
  profiles:
    - name: p
      storage: { type: S3, s3: { bucket: backups, prefix: shop, endpointURL: "${s3.endpoint}", credentialsDir: ./aws, partSize: 5242880 } }
      dump: { threads: 2, bytesPerChunk: 128k, includeSchemas: [shop] }
      encryption: { passphraseFile: ./passphrase }
`,
  );
  return dir;
}

async function hasSchema(server: TestServer, name: string): Promise<boolean> {
  return ((await sql(server, 'SHOW DATABASES')) as Array<{ Database: string }>).some((r) => r.Database === name);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-encryption-'));
  [source, target, s3] = await Promise.all([startTestServer(), startTestServer(), startS3Server({ buckets: ['backups'] })]);
  await sql(
    source,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200));
     INSERT INTO items SELECT seq, CONCAT('SECRET-ITEM-', seq) FROM seq_1_to_30000;`,
  );
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('an encrypted S3 profile from the CLI', () => {
  it('backs up with every object in the bucket encrypted', async () => {
    const cfg = await configFor(source, 'alpha passphrase');
    const r = await cli(['backup', 'now'], cfg);
    expect(r.stderr).not.toMatch(/error:/i);
    expect(r.code).toBe(0);

    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3rverCredentials });
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'shop/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys).toContain('shop/encryption.json');
    const dataKeys = keys.filter((k) => !/(bloodraven|encryption)\.json$/.test(k));
    expect(dataKeys.length).toBeGreaterThan(4);
    for (const key of dataKeys) {
      const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'backups', Key: key }))).Body!.transformToByteArray());
      expect(body.subarray(0, 6).toString(), key).toBe('BRSEG1');
      expect(body.includes(Buffer.from('SECRET-ITEM')), key).toBe(false);
    }
    client.destroy();
  });

  it('refuses a restore with a wrong passphrase before touching the target', async () => {
    const cfg = await configFor(target, 'not the passphrase');
    const r = await cli(['restore', 'bootstrap', '--backup', 'latest'], cfg);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/passphrase does not open/);
    expect(await hasSchema(target, 'shop')).toBe(false);
  });

  it('refuses an in-place restore with a wrong passphrase before dropping anything or using the token', async () => {
    await sql(target, 'CREATE DATABASE IF NOT EXISTS keepme; CREATE TABLE IF NOT EXISTS keepme.t (id INT PRIMARY KEY); INSERT IGNORE INTO keepme.t VALUES (1)');
    const cfg = await configFor(target, 'not the passphrase');
    const r = await cli(['restore', 'in-place', '--backup', 'latest', '--confirm', 'now'], cfg);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/passphrase does not open/);
    expect(await hasSchema(target, 'keepme')).toBe(true);
    expect(await sql(target, 'SELECT id FROM keepme.t')).toEqual([{ id: 1 }]);
    await sql(target, 'DROP DATABASE keepme');
  });

  it('decrypts a backup into a plain dump', async () => {
    const cfg = await configFor(target, 'alpha passphrase');
    const r = await cli(['backup', 'decrypt', '--backup', 'latest', '--to', join(work, 'plain'), '--json'], cfg);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { files: number };
    const files = await readdir(join(work, 'plain'));
    expect(files).toHaveLength(result.files);
    expect(files).toContain('@.done.json');
  });

  it('rotates the passphrase: the old one is refused, the new one restores', async () => {
    const cfg = await configFor(source, 'alpha passphrase');
    await writeFile(join(cfg, 'passphrase.new'), 'beta passphrase\n');
    const rotated = await cli(['keys', 'rotate', '--new-passphrase-file', './passphrase.new'], cfg);
    expect(rotated.stderr).not.toMatch(/error:/i);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/1 backup\(s\) and 0 binlog\(s\) now under key/);

    const old = await cli(['restore', 'bootstrap', '--backup', 'latest'], await configFor(target, 'alpha passphrase'));
    expect(old.code).toBe(3);
    expect(old.stderr).toMatch(/passphrase does not open/);
    expect(await hasSchema(target, 'shop')).toBe(false);

    const restored = await cli(['restore', 'bootstrap', '--backup', 'latest'], await configFor(target, 'beta passphrase'));
    expect(restored.stderr).not.toMatch(/error:/i);
    expect(restored.code).toBe(0);
    expect(await checksum(target, 'shop.items')).toBe(await checksum(source, 'shop.items'));
  });

  it('explains itself in --help', async () => {
    const help = await cli(['keys', 'rotate', '--help'], work);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--new-passphrase-file/);
    expect(help.stdout).toMatch(/re-wraps/);
  });
});
