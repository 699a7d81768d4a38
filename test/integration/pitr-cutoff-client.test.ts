/**
 * The sidecar's side of `/pitr-cutoff`: fetchPitrCutoff against the daemon's own HTTP server
 * (src/daemon/http.ts, with a lookup standing in for the informers), each answer it may give and
 * a daemon that is not there; and `pitr archive --sidecar`'s usage errors, from the CLI.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type PitrCutoffQuery, type RunningHttpServer } from '../../src/daemon/http.js';
import { AppError } from '../../src/lib/errors.js';
import { fetchPitrCutoff } from '../../src/lib/pitr/cutoff.js';
import { runCli } from '../support/cli.js';
import { freePort } from '../support/kube/daemon-process.js';

let server: RunningHttpServer;
let base: string;
let work: string;

beforeAll(async () => {
  const cutoffs: Record<string, Date | null> = { 'shop/orders/offsite': new Date('2026-01-01T03:00:00Z'), 'shop/fresh/offsite': null };
  server = await startHttpServer('127.0.0.1:0', {
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
    health: () => ({ status: 'ok' }),
    pitrCutoff: ({ namespace, group, profile }: PitrCutoffQuery) => {
      const key = `${namespace}/${group}/${profile}`;
      return Promise.resolve(key in cutoffs ? { known: true, cutoff: cutoffs[key] ?? null } : { known: false, message: `no MysqlFailoverGroup "${group}" in namespace "${namespace}"` });
    },
  });
  base = `http://${server.address}`;
  work = await mkdtemp(join(tmpdir(), 'bloodraven-cutoff-'));
});

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function failure(url: string): Promise<AppError> {
  const err = await fetchPitrCutoff(url).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('PITR_CUTOFF_UNAVAILABLE');
  expect((err as AppError).retryable).toBe(true);
  return err as AppError;
}

describe('fetchPitrCutoff', () => {
  it('reads the cutoff, and null while the group has no retained backup', async () => {
    expect(await fetchPitrCutoff(`${base}/pitr-cutoff?namespace=shop&group=orders&profile=offsite`)).toEqual(new Date('2026-01-01T03:00:00Z'));
    expect(await fetchPitrCutoff(`${base}/pitr-cutoff?namespace=shop&group=fresh&profile=offsite`)).toBeNull();
  });

  it('fails, quoting the daemon, on an unknown group or a missing parameter', async () => {
    expect((await failure(`${base}/pitr-cutoff?namespace=shop&group=nope&profile=offsite`)).message).toMatch(/HTTP 404: no MysqlFailoverGroup "nope" in namespace "shop"; nothing is pruned/);
    expect((await failure(`${base}/pitr-cutoff?namespace=shop`)).message).toMatch(/HTTP 400: missing query parameters group, profile/);
  });

  it('fails on something that is not a cutoff, and on a daemon that is not there', async () => {
    expect((await failure(`${base}/healthz`)).message).toMatch(/the answer is not \{"cutoff"/);
    const port = await freePort();
    expect((await failure(`http://127.0.0.1:${port}/pitr-cutoff?namespace=a&group=b&profile=c`)).message).toMatch(/ECONNREFUSED/);
  });
});

describe('pitr archive --sidecar, usage', () => {
  beforeAll(async () => {
    await writeFile(join(work, 'bloodraven.yaml'), 'mysql: { host: 127.0.0.1, port: 1, user: root }\nbackup:\n  profiles:\n    - { name: p, storage: { type: PVC, pvc: { path: ./backups } } }\n  pitr: { enabled: true, profileName: p }\n');
  });

  it('requires a site, naming --site and BLOODRAVEN_SITE, and checks the other flags, all at once (exit 2)', async () => {
    const r = await runCli(['pitr', 'archive', '--sidecar', '--cutoff-interval', 'soon', '--pitr-cutoff-url', 'ftp://x'], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--site: required with --sidecar \(or the environment variable BLOODRAVEN_SITE/);
    expect(r.stderr).toMatch(/--cutoff-interval: "soon" is not a duration/);
    expect(r.stderr).toMatch(/--pitr-cutoff-url: "ftp:\/\/x" is not an http\(s\) URL/);
  });

  it('refuses --once with --sidecar, and sidecar flags without it', async () => {
    expect((await runCli(['pitr', 'archive', '--sidecar', '--once', '--site', 'east'], work)).code).toBe(2);
    const r = await runCli(['pitr', 'archive', '--listen', ':8080'], work);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--sidecar/);
  });
});
