/**
 * A download whose body stalls (the endpoint sent the headers and part of the object, then
 * nothing) ends as soon as the caller's signal fires, and the reader waiting for the next chunk
 * gets the interrupt's own error (ABORTED, naming the signal) rather than a bare socket error
 * (ECONNRESET "aborted") that reads as a network fault. Verify and restore read data files so.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '../../src/lib/storage/s3-store.js';

let server: Server;
let endpoint: string;

beforeAll(async () => {
  // An S3 endpoint whose every GetObject announces 1 MiB, sends 1 KiB, and stalls.
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(1024 * 1024), ETag: '"stall"' });
    res.write(Buffer.alloc(1024, 7));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Everything `body` gives, or its error; a "still waiting" error after `ms`. */
async function drain(body: Readable, ms: number): Promise<unknown> {
  const reading = (async () => {
    for await (const chunk of body) void chunk;
  })().then(
    () => new Error('the body ended'),
    (err: unknown) => err,
  );
  const controller = new AbortController();
  const late = sleep(ms, new Error(`still waiting after ${ms} ms`), { signal: controller.signal }).catch(() => undefined);
  const outcome = await Promise.race([reading, late]);
  controller.abort();
  return outcome;
}

describe('an S3 download whose body stalls', () => {
  it('fails with ABORTED once the signal fires', async () => {
    const store = createS3Store({
      bucket: 'b',
      prefix: 'p',
      endpointURL: endpoint,
      partSize: 5 * 1024 * 1024,
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    });
    const controller = new AbortController();
    const body = await store.read('stalled', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('SIGINT')), 300);
    const outcome = await drain(body, 20_000);
    expect(outcome).toMatchObject({ code: 'ABORTED', message: 'interrupted: SIGINT' });
  });
});
