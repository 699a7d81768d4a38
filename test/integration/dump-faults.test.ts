/**
 * `backup now` under faults (issue 14): a full disk, a stalled store, an interrupt, two runs racing
 * for one name, and prune racing a running backup. Every run must end within a bound with a named
 * error and exit code, and the source's locks must be released as soon as the dump cannot go on.
 */
import { execFile } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/lib/backup/run-backup.js';
import type { BackupRecord } from '../../src/lib/catalog/record.js';
import { fixedClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/log.js';
import { listBackups } from '../../src/lib/catalog/catalog.js';
import { applyPrune, deleteBackup, planPrune } from '../../src/lib/retention/prune.js';
import { createFsStore } from '../../src/lib/storage/fs-store.js';
import type { ObjectStore } from '../../src/lib/storage/object-store.js';
import { createS3Store } from '../../src/lib/storage/s3-store.js';
import { rootConnector, sql, startTestServer, type TestServer } from '../support/mariadb.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startS3Server } from '../support/s3.js';

const run = promisify(execFile);

/** Whether this process may mount a tmpfs (root): checked once, on a probe folder. */
async function probeMount(): Promise<string> {
  const probe = await mkdtemp(join(tmpdir(), 'bloodraven-mount-probe-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]);
    await run('umount', [probe]);
    return '';
  } catch (err) {
    return `cannot mount a tmpfs here (needs root): ${(err as Error).message}`;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}
const mountRefused = await probeMount();

let server: TestServer;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bloodraven-dumpfaults-'));
  server = await startTestServer();
  // About 45 MB of rows that do not compress: more than the 20 MB volume below holds.
  await sql(
    server,
    `CREATE DATABASE big; USE big;
     CREATE TABLE rows400k (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32));
     INSERT INTO rows400k SELECT seq, MD5(seq), MD5(seq * 7), MD5(seq * 13) FROM seq_1_to_400000;
     ANALYZE TABLE rows400k;
     CREATE DATABASE small; USE small;
     CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50));
     INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_2000;
     CREATE TABLE keyless (v VARCHAR(50));
     INSERT INTO keyless SELECT CONCAT('row ', seq) FROM seq_1_to_2000;`,
  );
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * One thread: a file that fails in the middle (rather than as it is finished) used to leave its
 * worker paused for good, and with one worker nothing else ended the dump.
 */
async function configDir(storagePath: string, dumpExtra = '', extra = ''): Promise<string> {
  const dir = await mkdtemp(join(work, 'cfg-'));
  await writeFile(
    join(dir, 'bloodraven.yaml'),
    `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root }
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ${JSON.stringify(storagePath)} } }
      dump: { threads: 1, bytesPerChunk: 8M, compression: none, includeSchemas: [big]${dumpExtra} }
${extra}`,
  );
  return dir;
}

/** Resolves with the value, or with 'timeout' once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `backup now` in `cwd`; once the data phase starts, issues `ddl` on the source. Kills the CLI
 * if it has not ended after `limitMs` (the broken behaviour: it never ends).
 */
async function backupWithDdl(cwd: string, ddl: string, limitMs = 90_000): Promise<{ cli: CliResult | 'timeout'; ddl: unknown }> {
  let ddlDone: Promise<unknown> | undefined;
  let child: { kill(signal?: NodeJS.Signals): boolean } | undefined;
  const cli = runCli(['backup', 'now'], cwd, (text, c) => {
    child = c;
    if (!ddlDone && text.includes('progress: dump table data')) {
      ddlDone = within(sql(server, ddl), 30_000).catch((err: unknown) => err);
    }
  });
  const ended = await within(cli, limitMs);
  if (ended === 'timeout') {
    child?.kill('SIGKILL');
    await cli;
  }
  return { cli: ended, ddl: ddlDone ? await ddlDone : 'never issued' };
}

describe('backup now on a full disk (finding 1)', () => {
  let volume: string;
  let mounted = false;

  beforeAll(async () => {
    if (mountRefused) return;
    volume = join(work, 'small-volume');
    await mkdir(volume);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', volume]);
    mounted = true;
  });

  afterAll(async () => {
    if (mounted) await run('umount', ['-l', volume]).catch(() => undefined);
  });

  if (mountRefused) it.todo(`a full disk: skipped, ${mountRefused}`);
  it.skipIf(mountRefused !== '')('fails within seconds with DISK_FULL naming the folder, exit 1; DDL on the source proceeds; nothing claims to be a backup', async () => {
    const cwd = await configDir(volume);
    const r = await backupWithDdl(cwd, 'CREATE TABLE big.after_fault (id INT)');
    // The backup lock (BACKUP STAGE BLOCK_DDL) is gone once the dump cannot go on.
    expect(r.ddl).not.toBe('timeout');
    expect(r.ddl).not.toBeInstanceOf(Error);
    expect(r.cli).not.toBe('timeout');
    const cli = r.cli as CliResult;
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^error: .*disk.* full.*${volume}`, 'im'));
    expect(cli.stderr).toMatch(/^hint: /m);
    expect(cli.stdout).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
    const [name] = await readdir(volume);
    const files = await readdir(join(volume, name!));
    expect(files).not.toContain('@.done.json');
    expect(files.filter((f) => f.endsWith('.dumping'))).toEqual([]);
    const record = JSON.parse(await readFile(join(volume, name!, 'bloodraven.json'), 'utf8')) as BackupRecord;
    expect(record).toMatchObject({ phase: 'Failed', failure: { code: 'DISK_FULL' } });
    // The chunks that filled the volume went with the failure; the record stays as its history.
    expect(files).toEqual(['bloodraven.json']);
    expect(record.leftover).toEqual({ files: 0, bytes: 0, error: null });
    const list = await runCli(['backup', 'list'], cwd);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${name!}\\s+Failed\\s+.*\\s0 B left\\s`));
    const listed = JSON.parse((await runCli(['backup', 'list', '--json'], cwd)).stdout) as Array<{ name: string; heldBytes: number }>;
    expect(listed.find((b) => b.name === name)?.heldBytes).toBe(0);
    // The space is free again: a backup that fits the volume succeeds on it.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const next = await runCli(['backup', 'now', '--include-schema', 'small'], cwd);
    expect(next.stderr).not.toMatch(/^error:/m);
    expect(next.code).toBe(0);
    await sql(server, 'DROP TABLE big.after_fault');
  }, 180_000);
});


/**
 * An S3 endpoint that stops answering uploads: a proxy in front of s3rver that, once told to,
 * takes every PUT and never reads its body nor answers (what a dead load balancer looks like).
 */
async function startStallingProxy(target: string): Promise<{ endpoint: string; stallPuts(): void; stop(): Promise<void> }> {
  const upstream = new URL(target);
  let stalling = false;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    if (stalling && req.method === 'PUT') {
      req.pause();
      return;
    }
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stallPuts: () => (stalling = true),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('backup now against storage that stops answering', () => {
  it('fails with STORAGE_STALLED after dump.storageStallTimeout, exit 1, and DDL on the source proceeds', async () => {
    const s3 = await startS3Server({ buckets: ['backups'] });
    const proxy = await startStallingProxy(s3.endpoint);
    try {
      const dir = await mkdtemp(join(work, 'cfg-'));
      await mkdir(join(dir, 'aws'));
      for (const [name, value] of Object.entries({ AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'eu-west-1' })) {
        await writeFile(join(dir, 'aws', name), value);
      }
      await writeFile(
        join(dir, 'bloodraven.yaml'),
        `name: shop
mysql: { host: 127.0.0.1, port: ${server.port}, user: root }
backup:
  profiles:
    - name: remote
      storage: { type: S3, s3: { bucket: backups, prefix: shop, endpointURL: "${proxy.endpoint}", credentialsDir: ./aws, partSize: 5242880 } }
      dump: { threads: 2, bytesPerChunk: 8M, compression: none, includeSchemas: [big], storageStallTimeout: 3s }
`,
      );
      let ddlDone: Promise<unknown> | undefined;
      let child: { kill(signal?: NodeJS.Signals): boolean } | undefined;
      let stalledAt = 0;
      const cli = runCli(['backup', 'now'], dir, (text, c) => {
        child = c;
        if (!ddlDone && text.includes('progress: dump table data')) {
          stalledAt = Date.now();
          proxy.stallPuts();
          ddlDone = within(sql(server, 'CREATE TABLE big.after_stall (id INT)'), 60_000).catch((err: unknown) => err);
        }
      });
      // Without the bound, the upload waits for the client's socket timeout (120 s) and retries.
      const ended = await within(cli, 90_000);
      const tookMs = Date.now() - stalledAt;
      if (ended === 'timeout') child?.kill('SIGKILL');
      expect(ended).not.toBe('timeout');
      const r = ended as CliResult;
      expect(r.code).toBe(1);
      // The stall, then one record write bounded by it, and no removal: on a storage that answers
      // nothing at all (the trial stopped s3rver) the removal waited its whole 30 s budget and
      // the second record write another stall. Generous for a loaded machine.
      expect(tookMs, r.stderr).toBeLessThan(30_000);
      expect(r.stderr).toMatch(/the failed backup's data is left in storage, which stopped answering/);
      expect(r.stderr).toMatch(/^error: storage stopped responding: writing .* made no progress for 3s/m);
      expect(r.stderr).toMatch(/^hint: .*dump\.storageStallTimeout/m);
      expect(r.stdout).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
      const ddl = await ddlDone;
      expect(ddl).not.toBe('timeout');
      expect(ddl).not.toBeInstanceOf(Error);
      await sql(server, 'DROP TABLE big.after_stall');
    } finally {
      await proxy.stop();
      await s3.stop();
    }
  }, 180_000);
});

/** The backups under `root`, by folder: the record and the files. */
async function backupsIn(root: string): Promise<Map<string, { record: BackupRecord; files: string[] }>> {
  const out = new Map<string, { record: BackupRecord; files: string[] }>();
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const files = await readdir(join(root, name));
    out.set(name, { record: JSON.parse(await readFile(join(root, name, 'bloodraven.json'), 'utf8')) as BackupRecord, files });
  }
  return out;
}

describe('two backup now runs of one profile at once', () => {
  it('never share a backup name: both succeed under different names, or one is refused with exit 3 naming the other, having written nothing', async () => {
    const storage = join(work, 'race');
    const cwd = await configDir(storage);
    await writeFile(join(cwd, 'bloodraven.yaml'), (await readFile(join(cwd, 'bloodraven.yaml'), 'utf8')).replace('includeSchemas: [big]', 'includeSchemas: [small]'));
    // Names have second precision; runs started together usually fall in the same second. Try
    // until a pair does (each pair is checked either way).
    let collided = 0;
    for (let pair = 0; pair < 6 && collided === 0; pair++) {
      await rm(storage, { recursive: true, force: true });
      const [a, b] = await Promise.all([runCli(['backup', 'now'], cwd), runCli(['backup', 'now'], cwd)]);
      const results = [a, b];
      const backups = await backupsIn(storage);
      const ok = results.filter((r) => r.code === 0);
      const refused = results.filter((r) => r.code === 3);
      expect(ok.length + refused.length, results.map((r) => r.stderr).join('\n---\n')).toBe(2);
      expect(ok.length).toBeGreaterThanOrEqual(1);
      const loserNamesTheWinner = refused.every(
        (r) =>
          /^error: another run \(pid \d+ on .*\) has already claimed the backup name shop-local-\d{8}-\d{6} at .*; nothing was written$/m.test(r.stderr) &&
          /^hint: backups are named by the second they start/m.test(r.stderr),
      );
      // One refused, having written nothing (one folder), or two backups under two names.
      expect([
        { refused: 1, folders: 1, loserNamesTheWinner: true },
        { refused: 0, folders: 2, loserNamesTheWinner: true },
      ]).toContainEqual({ refused: refused.length, folders: backups.size, loserNamesTheWinner });
      collided += refused.length;
      // Every backup left is whole: Succeeded, complete, every file its record names as recorded.
      for (const [name, { record, files }] of backups) {
        expect(record).toMatchObject({ name, phase: 'Succeeded' });
        expect(files).toContain('@.done.json');
        expect(record.files.length).toBeGreaterThan(0);
        for (const f of record.files) expect(files).toContain(f.name);
      }
    }
    expect(collided).toBeGreaterThan(0);
  }, 300_000);
});

describe('two backups claiming one name at the same moment', () => {
  /** Two runs whose clocks read the same second, started together on one store. */
  async function race(store: ObjectStore): Promise<PromiseSettledResult<BackupRecord>[]> {
    const startedAt = new Date('2026-11-29T12:00:00Z');
    const attempt = (): Promise<BackupRecord> =>
      runBackup(
        { connector: rootConnector(server), store, logger: silentLogger, clock: fixedClock(startedAt) },
        {
          group: 'shop',
          profile: 'p',
          dump: { threads: 1, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['small'], excludeSchemas: [], lockWaitTimeoutSeconds: 5 },
          toolVersion: 'test',
        },
        { signal: new AbortController().signal },
      );
    return Promise.allSettled([attempt(), attempt()]);
  }

  function expectOneRefused(results: PromiseSettledResult<BackupRecord>[]): BackupRecord {
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: 'BACKUP_NAME_TAKEN', exitCode: 3 });
    expect((lost[0]!.reason as Error).message).toMatch(/another run \(pid \d+ on .*\) has already claimed the backup name shop-p-20261129-120000/);
    return won[0]!.value;
  }

  it('on a folder: one is refused (exit 3) before writing; the other is whole', async () => {
    const root = join(work, 'same-second');
    const winner = expectOneRefused(await race(createFsStore({ root })));
    const { record, files } = (await backupsIn(root)).get(winner.name)!;
    expect(record).toMatchObject({ phase: 'Succeeded', runner: { pid: process.pid } });
    expect(files).toContain('@.done.json');
    for (const f of record.files) expect(files).toContain(f.name);
  });

  it('on S3 (a conditional PUT): one is refused (exit 3) before writing; the other is whole', async () => {
    const s3 = await startS3Server({ buckets: ['backups'] });
    try {
      const store = createS3Store({ bucket: 'backups', prefix: 'race', endpointURL: s3.endpoint, partSize: 5 * 1024 * 1024, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
      const winner = expectOneRefused(await race(store));
      const keys = (await store.list(`${winner.name}/`)).map((o) => o.key.slice(winner.name.length + 1));
      expect(keys).toContain('@.done.json');
      for (const f of winner.files) expect(keys).toContain(f.name);
    } finally {
      await s3.stop();
    }
  });
});

describe('backup now interrupted', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('on %s mid-dump: ends with exit 130, DDL on the source proceeds, the record says Failed, no partial file left', async (signal) => {
    const storage = join(work, `interrupted-${signal}`);
    const cwd = await configDir(storage);
    let ddlDone: Promise<unknown> | undefined;
    let child: { kill(signal?: NodeJS.Signals): boolean } | undefined;
    const cli = runCli(['backup', 'now'], cwd, (text, c) => {
      child = c;
      // Once rows are flowing: a worker is in the middle of a result set and a file.
      if (!ddlDone && /progress: 0\/1 tables · [\d,]+ rows/.test(text)) {
        c.kill(signal);
        ddlDone = within(sql(server, `CREATE TABLE big.after_${signal} (id INT)`), 30_000).catch((err: unknown) => err);
      }
    });
    const ended = await within(cli, 60_000);
    if (ended === 'timeout') child?.kill('SIGKILL');
    expect(ended).not.toBe('timeout');
    const r = ended as CliResult;
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(new RegExp(`^error: interrupted: ${signal}$`, 'm'));
    expect(r.stdout).not.toMatch(/BLOODRAVEN_DUMP_COMPLETE/);
    const ddl = await ddlDone;
    expect(ddl).not.toBe('timeout');
    expect(ddl).not.toBeInstanceOf(Error);
    const [entry] = (await backupsIn(storage)).values();
    expect(entry!.record).toMatchObject({ phase: 'Failed', failure: { code: 'ABORTED', message: `interrupted: ${signal}` } });
    expect(entry!.files).not.toContain('@.done.json');
    expect(entry!.files.filter((f) => f.endsWith('.dumping'))).toEqual([]);
    await sql(server, `DROP TABLE big.after_${signal}`);
  }, 120_000);
});

describe('prune racing a running backup', () => {
  it('a prune run while a backup runs leaves it alone, and the backup succeeds whole (CLI)', async () => {
    const storage = join(work, 'prune-race');
    const cwd = await configDir(storage, '', '      retentionPolicy: { count: 1, minKeep: 0, maxFailedKeep: 0, minKeepVerified: 0 }\n');
    // A failed attempt and an old success for prune to delete meanwhile.
    const failed = await runCli(['backup', 'now', '--port', '1'], cwd);
    expect(failed.code).toBe(1);
    // Backup names go by the second: a backup started within the failed one's second would be refused (exit 3) as its namesake.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    let prune: Promise<CliResult> | undefined;
    const backup = runCli(['backup', 'now'], cwd, (text, child) => {
      // The data phase has begun (a line with rows comes only every 5 s, and the dump threads
      // may finish sooner): the backup is held mid-dump (stopped) for as long as the prune runs.
      if (prune || !text.includes('progress: dump table data')) return;
      child.kill('SIGSTOP');
      prune = runCli(['prune', '--yes'], cwd).finally(() => child.kill('SIGCONT'));
    });
    const b = await within(backup, 120_000);
    expect(b).not.toBe('timeout');
    expect((b as CliResult).code).toBe(0);
    const p = await prune!;
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/still running/);
    const left = await listBackups(createFsStore({ root: storage }));
    expect(left.map((e) => e.phase)).toEqual(['Succeeded']);
    const { record, files } = (await backupsIn(storage)).get(left[0]!.name)!;
    for (const f of record.files) expect(files).toContain(f.name);
    expect(files).toContain('@.done.json');
  }, 180_000);

  it('prune leaves alone a backup its plan counted as dead once its heartbeat is back', async () => {
    const root = join(work, 'stale-then-alive');
    const store = createFsStore({ root });
    const now = new Date();
    const long = new Date(now.getTime() - 10 * 60_000).toISOString();
    const record = {
      recordVersion: 1, name: 'shop-p-20261129-100000', group: 'shop', profile: 'p', phase: 'Running', location: `${root}/shop-p-20261129-100000`, storageType: 'PVC',
      source: { target: 'x:3306', hostname: null, serverUuid: null, serverId: null, flavor: null, version: null },
      consistent: null, gtidExecuted: null, binlogFile: null, binlogPos: null, startedAt: long, completedAt: null, dataBytes: 0, sizeBytes: 0,
      compression: 'zstd', threads: 1, bytesPerChunk: 1, tables: [], files: [], tool: { name: 'bloodraven', version: 't' },
      runner: { hostname: 'another-host', pid: 1 }, heartbeatAt: long,
    };
    await store.put('shop-p-20261129-100000/bloodraven.json', JSON.stringify(record));
    await store.put('shop-p-20261129-100000/@.json', '{}');
    const plan = await planPrune(store, { count: 1, maxAgeDays: 0, minKeep: 0, maxFailedKeep: 0, minKeepVerified: 0 }, now);
    expect(plan.decisions).toMatchObject([{ name: 'shop-p-20261129-100000', phase: 'Failed', action: 'delete' }]);
    // The run on the other host writes its heartbeat again (it was only late).
    await store.put('shop-p-20261129-100000/bloodraven.json', JSON.stringify({ ...record, heartbeatAt: new Date().toISOString() }));
    const result = await applyPrune(store, plan, { logger: silentLogger });
    expect(result.deleted).toEqual([]);
    expect(result.skipped).toMatchObject([{ name: 'shop-p-20261129-100000', reason: expect.stringMatching(/running/) as unknown }]);
    expect(await store.exists('shop-p-20261129-100000/@.json')).toBe(true);
  });

  it('a backup whose folder a prune deleted while it ran fails instead of claiming files that are gone', async () => {
    const root = join(work, 'deleted-under');
    const inner = createFsStore({ root });
    // A prune that took the run for dead deletes its folder just before the dump finishes.
    const store: ObjectStore = {
      ...inner,
      put: async (key, data, o) => {
        if (key.endsWith('/@.inventory.json')) {
          const prefix = key.slice(0, key.indexOf('/') + 1);
          await deleteBackup(inner, { name: prefix.slice(0, -1), prefix, record: null });
        }
        return inner.put(key, data, o);
      },
    };
    const outcome = await runBackup(
      { connector: rootConnector(server), store, logger: silentLogger, clock: fixedClock(new Date('2026-11-29T13:00:00Z')) },
      {
        group: 'shop',
        profile: 'p',
        dump: { threads: 1, bytesPerChunk: 128_000, compression: 'zstd', consistent: true, includeSchemas: ['small'], excludeSchemas: [], lockWaitTimeoutSeconds: 5 },
        toolVersion: 'test',
      },
      { signal: new AbortController().signal },
    ).catch((err: unknown) => err);
    expect(outcome).toMatchObject({ code: 'BACKUP_REMOVED_WHILE_RUNNING', exitCode: 1 });
    expect((outcome as Error).message).toMatch(/files are gone/);
    const entries = await listBackups(inner);
    expect(entries.filter((e) => e.phase === 'Succeeded')).toEqual([]);
    expect(await inner.exists('shop-p-20261129-130000/@.done.json')).toBe(false);
  });
});
