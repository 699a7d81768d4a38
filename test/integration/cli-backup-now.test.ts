/**
 * `bloodraven backup now` as a user runs it: the built CLI in a child process, against a real
 * MariaDB server, writing to a folder or to S3 (s3rver).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { freePort } from '../../src/lib/mysql/sandbox.js';
import { sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { startS3Server, type S3TestServer } from '../support/s3.js';
import { cliBin, runCli, type CliResult } from '../support/cli.js';

const cli = (args: string[], options: { cwd: string; onStderr?: Parameters<typeof runCli>[2] }): Promise<CliResult> => runCli(args, options.cwd, options.onStderr);

const node = process.execPath;

let server: TestServer;
let work: string;

async function configDir(yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(work, 'cfg-'));
  await writeFile(join(dir, 'bloodraven.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

function localConfig(extra = ''): string {
  return `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root }
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ./backups } }
      dump: { threads: 2, bytesPerChunk: 128k, includeSchemas: [shop] }
${extra}`;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cli-'));
  server = await startTestServer();
  await sql(
    server,
    `CREATE DATABASE shop; USE shop;
     CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(200), price DECIMAL(10,2));
     INSERT INTO items SELECT seq, CONCAT('item ', seq, ' ', REPEAT('z', 100)), seq / 100 FROM seq_1_to_300000;
     CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 1;
     ANALYZE TABLE items;
     CREATE USER 'backup'@'%' IDENTIFIED BY 'pa ss\\'word';
     GRANT SELECT, SHOW VIEW, EVENT, TRIGGER, RELOAD, BINLOG MONITOR ON *.* TO 'backup'@'%';`,
  );
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bloodraven backup now', () => {
  it('backs up to a folder, prints a summary and the BLOODRAVEN_DUMP_COMPLETE line last', async () => {
    const cwd = await configDir(localConfig());
    const r = await cli(['backup', 'now'], { cwd });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Backup shop-local-\d{8}-\d{6} succeeded$/);
    const last = lines.at(-1)!;
    expect(last.startsWith('BLOODRAVEN_DUMP_COMPLETE ')).toBe(true);
    const sentinel = JSON.parse(last.slice('BLOODRAVEN_DUMP_COMPLETE '.length)) as Record<string, unknown>;
    expect(Object.keys(sentinel)).toEqual(['location', 'sizeBytes', 'gtidExecuted', 'binlogFile', 'binlogPos']);
    const location = sentinel.location as string;
    expect(location.startsWith(join(cwd, 'backups'))).toBe(true);
    const record = JSON.parse(await readFile(join(location, 'bloodraven.json'), 'utf8')) as BackupRecord;
    expect(record).toMatchObject({ phase: 'Succeeded', sizeBytes: sentinel.sizeBytes, binlogFile: sentinel.binlogFile, binlogPos: sentinel.binlogPos });
    expect(existsSync(join(location, '@.done.json'))).toBe(true);
    // Without a terminal, progress comes as plain lines on stderr.
    expect(r.stderr).toMatch(/progress: dump table data/);
    expect(r.stderr).toMatch(/progress: \d+\/\d+ tables · [\d,]+ rows/);
  });

  it('prints exactly the backup record on stdout with --json, the sentinel on stderr', async () => {
    const cwd = await configDir(localConfig());
    const r = await cli(['backup', 'now', '--json'], { cwd });
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout) as BackupRecord;
    expect(record).toMatchObject({ phase: 'Succeeded', group: 'shop', profile: 'local' });
    expect(record.tables).toEqual([expect.objectContaining({ schema: 'shop', table: 'items', rows: 300000 })]);
    expect(record.files.length).toBeGreaterThan(10);
    expect(r.stderr).toMatch(/^BLOODRAVEN_DUMP_COMPLETE \{"location":/m);
  });

  it('reads the account from credentialsDir files', async () => {
    const cwd = await configDir(localConfig().replace('user: root', 'credentialsDir: ./creds'), {
      'creds/MYSQL_USER': 'backup\n',
      'creds/MYSQL_PASSWORD': "pa ss'word\n",
    });
    const r = await cli(['backup', 'now', '--json'], { cwd });
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as BackupRecord).phase).toBe('Succeeded');
  });

  it('backs up to S3 with credentials from the profile credentialsDir', async () => {
    const s3: S3TestServer = await startS3Server({ buckets: ['backups'] });
    try {
      const cwd = await configDir(
        `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root }
backup:
  profiles:
    - name: offsite
      storage: { type: S3, s3: { bucket: backups, prefix: team/shop, endpointURL: "${s3.endpoint}", credentialsDir: ./aws, partSize: 5242880 } }
      dump: { threads: 2, includeSchemas: [shop] }
`,
        { 'aws/AWS_ACCESS_KEY_ID': 'S3RVER', 'aws/AWS_SECRET_ACCESS_KEY': 'S3RVER\n', 'aws/AWS_REGION': 'eu-west-1' },
      );
      const r = await cli(['backup', 'now', '--json'], { cwd });
      expect(r.stderr).not.toMatch(/error:/);
      expect(r.code).toBe(0);
      const record = JSON.parse(r.stdout) as BackupRecord;
      expect(record.location).toBe(`s3://backups/team/shop/${record.name}`);
      expect(record.storageType).toBe('S3');
      const objects = await readdir(join(s3.directory, 'backups', 'team', 'shop', record.name));
      expect(objects.join(' ')).toContain('@.done.json');
    } finally {
      await s3.stop();
    }
  });

  it('reports every configuration problem at once and exits 2', async () => {
    const cwd = await configDir(`mysql: { port: 0 }
backup:
  profiles:
    - name: UPPER
      storage: { type: PVC }
      dump: { compression: brotli }
`);
    const r = await cli(['backup', 'now'], { cwd });
    expect(r.code).toBe(2);
    for (const path of ['mysql.port', 'backup.profiles[0].name', 'backup.profiles[0].storage.pvc', 'backup.profiles[0].dump.compression']) {
      expect(r.stderr).toContain(path);
    }
    expect(r.stdout).toBe('');
  });

  it('blames a bad flag on the flag, not on the good config file (exit 2)', async () => {
    const cwd = await mkdtemp(join(work, 'cfg-'));
    await writeFile(join(cwd, 'good.yaml'), localConfig());
    const r = await cli(['backup', 'now', '--config', 'good.yaml', '--threads', '0'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ {2}--threads: must be a whole number from 1 to 64$/m);
    expect(r.stderr).not.toContain('backup.profiles[0].dump.threads');
    expect(r.stderr).not.toMatch(/fix .*good\.yaml/);
    expect(r.stderr).toContain('hint: fix the flags named above (see --help)');
  });

  it('lists every bad flag value at once, each under its flag (exit 2)', async () => {
    const cwd = await mkdtemp(join(work, 'cfg-'));
    await writeFile(join(cwd, 'good.yaml'), localConfig());
    const r = await cli(['backup', 'now', '--config', 'good.yaml', '--threads', 'abc', '--bytes-per-chunk', '1x', '--compression', 'lz4'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ {2}--threads: must be a whole number from 1 to 64$/m);
    expect(r.stderr).toMatch(/^ {2}--bytes-per-chunk: "1x" is not a size/m);
    expect(r.stderr).toMatch(/^ {2}--compression: .*"zstd"\|"gzip"\|"none"/m);
  });

  it('refuses a schema both included and excluded, before connecting to any server (exit 2)', async () => {
    // Nothing listens on this port: reaching the server would fail with exit 1 instead.
    const cwd = await configDir(localConfig().replace(`port: ${server.port}`, `port: ${await freePort()}`));
    const r = await cli(['backup', 'now', '--include-schema', 'shop', '--include-schema', 'crm', '--exclude-schema', 'shop'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--exclude-schema: "shop" is both included (--include-schema) and excluded (--exclude-schema)');
    expect(r.stderr).not.toMatch(/cannot reach/);
    expect(existsSync(join(cwd, 'backups'))).toBe(false);
  });

  it('fails with exit 1 and a JSON error document when the server is unreachable', async () => {
    const cwd = await configDir(localConfig().replace(`port: ${server.port}`, 'port: 1'));
    const r = await cli(['backup', 'now', '--json'], { cwd });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string }; record: BackupRecord };
    expect(doc.error).toMatchObject({ code: 'MYSQL_UNREACHABLE' });
    expect(doc.error.hint).toMatch(/server is running/);
    expect(doc.record).toMatchObject({ phase: 'Failed', failure: { code: 'MYSQL_UNREACHABLE' } });
    expect(r.stderr).toMatch(/^error: cannot reach the MySQL server at 127\.0\.0\.1:1/m);
    expect(r.stderr).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
  });

  it('names the flags the user gave in the hint of a connection failure', async () => {
    const cwd = await configDir(localConfig());
    const r = await cli(['backup', 'now', '--port', '1'], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hint: check that the server is running and that mysql\.host\/--port point at it$/m);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('stops on %s mid-dump: exit 130, "interrupted", the record says Failed, no @.done.json', async (signal) => {
    const cwd = await configDir(localConfig().replace('threads: 2', 'threads: 1'));
    let sent = false;
    const r = await cli(['backup', 'now'], {
      cwd,
      onStderr: (text, child) => {
        if (!sent && text.includes('progress: dump table data')) {
          sent = true;
          child.kill(signal);
        }
      },
    });
    expect(sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain(`error: interrupted: ${signal}`);
    expect(r.stdout).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
    const [name] = await readdir(join(cwd, 'backups'));
    const dir = join(cwd, 'backups', name!);
    const record = JSON.parse(await readFile(join(dir, 'bloodraven.json'), 'utf8')) as BackupRecord;
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'ABORTED', message: `interrupted: ${signal}` } });
    expect(existsSync(join(dir, '@.done.json'))).toBe(false);
  });

  it('draws listr2 progress on a terminal', async () => {
    // An explicit (empty) password file: on a terminal, a missing one would be asked for.
    const cwd = await configDir(localConfig().replace('user: root', 'user: root, passwordFile: ./empty'), { empty: '' });
    // `script` gives the CLI a pseudo-terminal, as a user's shell would.
    const child = spawn('script', ['-qfec', `stty cols 120 rows 40; ${node} ${cliBin} backup now`, '/dev/null'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(out).toMatch(/✔.*Dump table data/);
    expect(out).toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
  });

  it('pushes the metrics of the run to a Pushgateway with --pushgateway', async () => {
    const { createServer } = await import('node:http');
    const received: Array<{ method: string; url: string; body: string }> = [];
    const gateway = createServer((req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
    const port = (gateway.address() as { port: number }).port;
    try {
      const cwd = await configDir(localConfig());
      const r = await cli(['backup', 'now', '--pushgateway', `http://127.0.0.1:${port}`], { cwd });
      expect(r.code).toBe(0);
      expect(received).toHaveLength(1);
      expect(received[0]!.method).toBe('POST');
      expect(received[0]!.url).toBe('/metrics/job/bloodraven/group/shop/profile/local');
      expect(received[0]!.body).toMatch(/bloodraven_backup_runs_total\{group="shop",profile="local",result="success"\} 1/);
      expect(received[0]!.body).toMatch(/bloodraven_backup_last_size_bytes\{group="shop",profile="local"\} \d+/);
    } finally {
      gateway.close();
    }
  });

  it('explains itself in --help', async () => {
    const r = await cli(['backup', 'now', '--help'], { cwd: work });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
    expect(r.stdout).toMatch(/--profile/);
    expect(r.stdout).toMatch(/Exit codes/);
    expect(r.stdout).toMatch(/--lock-wait-timeout/);
    expect(r.stdout.replace(/\s+/g, ' ')).toMatch(/3 a precondition refused: .*the lock was not taken within dump\.lockWaitTimeout/);
  });
});
