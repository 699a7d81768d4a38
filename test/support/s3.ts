/**
 * An in-process S3 server for tests: s3rver on a free loopback port, storing into a temp folder.
 *
 * s3rver 3.7 has gaps this module fills itself, working on s3rver's own store, so that tests see
 * S3's behaviour rather than s3rver's:
 * - AbortMultipartUpload and ListMultipartUploads are not implemented (405 and 501). Without them a
 *   test could not tell an aborted upload from an abandoned one. They are answered here from
 *   s3rver's upload folders (`<directory>/<bucket>/._S3rver_uploads/<uploadId>/`).
 * - Requests naming an upload that does not exist (completed or aborted) get 404 NoSuchUpload, as
 *   from S3, rather than s3rver's 500 or a silently recreated upload.
 * - ListObjectsV2 fails with 500 as soon as a listing is truncated (over 1000 keys): its
 *   continuation tokens are DES-encrypted, and OpenSSL 3 (Node ≥ 17) no longer offers DES. Here
 *   the listing comes from s3rver's store and the token is the last key, base64url-encoded.
 * - PutObject ignores `If-None-Match: *` (S3's conditional write). Here a PUT carrying it gets 412
 *   PreconditionFailed when the key holds an object or another such PUT of it is in flight.
 *
 * s3rver only knows the access key S3RVER (it does not check v4 signatures, so any secret works);
 * other access keys get 403 InvalidAccessKeyId. Requests signed with another key are left to
 * s3rver, so that they are refused as before.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface S3TestServer {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Where s3rver keeps buckets and objects. */
  directory: string;
  createBucket(name: string): Promise<void>;
  /**
   * An outage: stops answering (the listener closes, every open connection is dropped, so
   * requests in flight fail and new ones are refused), keeping the folder. revive() ends it.
   */
  halt(): Promise<void>;
  /** Starts a new s3rver over the same folder on the same port, as a restarted server would be. */
  revive(): Promise<void>;
  stop(): Promise<void>;
}

/** The credentials s3rver accepts. */
export const s3rverCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

interface S3rverListing {
  objects: { key: string; size: number; lastModifiedDate: Date; metadata: { etag?: string } }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}

interface S3rverApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  configureBuckets(): Promise<unknown>;
  store: {
    putBucket(name: string): Promise<unknown>;
    getBucket(name: string): Promise<unknown>;
    existsObject(bucket: string, key: string): Promise<boolean>;
    listObjects(bucket: string, options: { prefix?: string; startAfter?: string; maxKeys?: number; delimiter?: string }): Promise<S3rverListing>;
  };
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;

// s3rver is CommonJS without type declarations.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export async function startS3Server(options: { buckets?: string[] } = {}): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'bloodraven-s3rver-'));
  // Keys with a conditional PUT in flight: of two racing, the second is refused, as by S3.
  const claims = new Set<string>();

  /** A new s3rver over `directory`, listening on `port` (0: a free one). */
  const listen = async (port: number): Promise<{ app: S3rverApp; server: Server }> => {
    const app = new S3rver({
      silent: true,
      directory,
      configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
    });
    await app.configureBuckets();
    const s3rverHandler = app.callback();
    const server = createServer((req, res) => {
      fillGaps(app, directory, claims, req, res)
        .then((handled) => {
          if (!handled) s3rverHandler(req, res);
        })
        .catch((err: unknown) => {
          sendXml(res, 500, xmlError('InternalError', String(err)));
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return { app, server };
  };
  const close = async (server: Server): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  let current: { app: S3rverApp; server: Server } | undefined = await listen(0);
  const { port } = current.server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    createBucket: async (name) => {
      if (!current) throw new Error('the S3 test server is halted');
      await current.app.store.putBucket(name);
    },
    halt: async () => {
      const running = current;
      current = undefined;
      if (running) await close(running.server);
    },
    revive: async () => {
      current ??= await listen(port);
    },
    stop: async () => {
      if (current) await close(current.server);
      current = undefined;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Answers the requests s3rver gets wrong (see the top of this file); returns false for the rest. */
async function fillGaps(app: S3rverApp, directory: string, claims: Set<string>, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (!/Credential=S3RVER\//.test(req.headers.authorization ?? '')) return false;
  const url = new URL(req.url ?? '/', 'http://localhost');
  const [bucket, ...keyParts] = url.pathname.slice(1).split('/');
  if (!bucket || !(await app.store.getBucket(bucket))) return false;
  const q = url.searchParams;
  const onBucket = keyParts.every((p) => p === '');

  if (req.method === 'PUT' && !onBucket && !q.has('uploadId') && req.headers['if-none-match'] === '*') {
    const key = decodeURIComponent(keyParts.join('/'));
    const id = `${bucket}/${key}`;
    const refuse = (): boolean => {
      req.resume();
      sendXml(res, 412, xmlError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'));
      return true;
    };
    if (claims.has(id)) return refuse();
    claims.add(id);
    if (await app.store.existsObject(bucket, key)) {
      claims.delete(id);
      return refuse();
    }
    res.once('close', () => claims.delete(id));
    return false;
  }
  if (q.has('uploadId') && !onBucket) {
    const uploadDir = path.join(directory, bucket, '._S3rver_uploads', path.basename(q.get('uploadId') ?? ''));
    // The key file is what marks a live upload: a part written after an abort recreates the folder.
    const live = await stat(path.join(uploadDir, 'key')).then(
      () => true,
      () => false,
    );
    if (!live) {
      req.resume();
      sendXml(res, 404, xmlError('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.'));
      return true;
    }
    if (req.method === 'DELETE') {
      await rm(uploadDir, { recursive: true, force: true });
      res.writeHead(204).end();
      return true;
    }
    return false;
  }
  if (req.method === 'GET' && onBucket && q.has('uploads')) {
    await listMultipartUploads(directory, bucket, q.get('prefix') ?? '', res);
    return true;
  }
  if (req.method === 'GET' && onBucket && q.get('list-type') === '2') {
    await listObjectsV2(app, bucket, q, res);
    return true;
  }
  return false;
}

async function listMultipartUploads(directory: string, bucket: string, prefix: string, res: ServerResponse): Promise<void> {
  const uploadsDir = path.join(directory, bucket, '._S3rver_uploads');
  const ids = await readdir(uploadsDir).catch(() => [] as string[]);
  const uploads: string[] = [];
  for (const id of ids.sort()) {
    // A part still being written after its upload was aborted recreates the folder without a key.
    const key = await readFile(path.join(uploadsDir, id, 'key'), 'utf8').catch(() => undefined);
    if (key === undefined || !key.startsWith(prefix)) continue;
    const { birthtime } = await stat(path.join(uploadsDir, id));
    uploads.push(`<Upload><Key>${escapeXml(key)}</Key><UploadId>${id}</UploadId><Initiated>${birthtime.toISOString()}</Initiated></Upload>`);
  }
  sendXml(
    res,
    200,
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${escapeXml(bucket)}</Bucket><Prefix>${escapeXml(prefix)}</Prefix><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
      `<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`,
  );
}

async function listObjectsV2(app: S3rverApp, bucket: string, q: URLSearchParams, res: ServerResponse): Promise<void> {
  const token = q.get('continuation-token');
  const startAfter = token === null ? q.get('start-after') : Buffer.from(token, 'base64url').toString();
  const maxKeys = Math.min(1000, Number(q.get('max-keys') ?? 1000));
  const delimiter = q.get('delimiter');
  const prefix = q.get('prefix') ?? '';
  const result = await app.store.listObjects(bucket, {
    prefix,
    maxKeys,
    ...(startAfter === null ? {} : { startAfter }),
    ...(delimiter === null ? {} : { delimiter }),
  });
  const last = result.objects.at(-1);
  const contents = result.objects.map(
    (o) =>
      `<Contents><Key>${escapeXml(o.key)}</Key><LastModified>${o.lastModifiedDate.toISOString()}</LastModified>` +
      `<ETag>${escapeXml(o.metadata.etag ?? '')}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
  );
  const prefixes = result.commonPrefixes.map((p) => `<CommonPrefixes><Prefix>${escapeXml(p)}</Prefix></CommonPrefixes>`);
  sendXml(
    res,
    200,
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Name>${escapeXml(bucket)}</Name><Prefix>${escapeXml(prefix)}</Prefix><KeyCount>${result.objects.length}</KeyCount>` +
      `<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${result.isTruncated}</IsTruncated>` +
      (token === null ? '' : `<ContinuationToken>${escapeXml(token)}</ContinuationToken>`) +
      (result.isTruncated && last ? `<NextContinuationToken>${Buffer.from(last.key).toString('base64url')}</NextContinuationToken>` : '') +
      `${contents.join('')}${prefixes.join('')}</ListBucketResult>`,
  );
}

function sendXml(res: ServerResponse, status: number, xml: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body);
}

function xmlError(code: string, message: string): string {
  return `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
