/**
 * The `S3` adapter: objects live in a bucket under an optional key prefix. Works with AWS S3 and
 * S3-compatible stores (MinIO, Ceph, s3rver) through `endpointURL`.
 *
 * Large objects are streamed with a multipart upload this module drives itself, one part at a
 * time, so memory stays at one part whatever the object's size and a failed part is retried on its
 * own. The SDK's own retries are off: every request goes through retry() so that all retries are
 * classified, logged and bounded in one place.
 *
 * Retries are bounded by time, not by a count: a request that fails transiently (refused or
 * dropped connections, 5xx, throttling) is sent again with exponential backoff and full jitter
 * until it succeeds or `retry.budgetMs` (storage.s3.retryTimeout, 2 minutes by default) has passed
 * since its first attempt, so an endpoint that is down for a minute costs a minute, not the backup.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type _Object as S3Object,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { AppError, ConfigError, InternalError, NotFoundError, StorageError, abortError, errorMessage, throwIfAborted } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { retry } from '../retry.js';
import { assertSafeKey, type IncompleteUpload, type ObjectInfo, type ObjectStore, type StoreOptions, type WriteResult } from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket; leading and trailing slashes are ignored, empty means the bucket's top. */
  prefix: string;
  /** Default: us-east-1. */
  region?: string;
  /** An S3-compatible endpoint (MinIO, Ceph…); path-style addressing is used with it. */
  endpointURL?: string;
  /** Bytes per multipart part; also the memory a write() holds. At least 5 MiB, as S3 requires. */
  partSize: number;
  /** Static credentials. Without them, the AWS SDK's default chain is used (env, ~/.aws, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Where the credentials came from, for access-denied messages (e.g. "storage.s3.credentialsDir /secrets/s3"). */
  credentialsSource?: string;
  logger?: Logger;
  /**
   * Retries of transient failures, per request. Default: for 2 minutes from the first attempt
   * (budgetMs 120000, unbounded attempts), waits from 200 ms doubling to at most 10 s, with full
   * jitter. `attempts` adds a bound by count (tests).
   */
  retry?: { budgetMs?: number; attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** The config field that sets retry.budgetMs, for hints (default storage.s3.retryTimeout). */
  retryTimeoutField?: string;
  /** A ready client, used as is (its own retry and checksum settings included). */
  client?: S3Client;
}

/** The smallest part S3 accepts (except for an upload's last part). */
export const minPartSize = 5 * 1024 * 1024;

/** storage.s3.retryTimeout's default, seconds (config/schema.ts). */
export const defaultS3RetryTimeoutSeconds = 120;

const defaultRetry = { budgetMs: defaultS3RetryTimeoutSeconds * 1000, baseDelayMs: 200, maxDelayMs: 10_000 };

/** How long a failed write retries aborting its multipart upload before leaving it to `prune`. */
const abortUploadBudgetMs = 10_000;

/** The most keys one DeleteObjects request takes. */
const deleteBatchSize = 1000;

export function createS3Store(options: S3StoreOptions): ObjectStore {
  const { bucket, partSize } = options;
  if (!Number.isSafeInteger(partSize) || partSize < minPartSize) {
    throw new ConfigError([{ path: 'storage.s3.partSize', message: `must be a whole number of bytes, at least ${minPartSize} (5 MiB); got ${partSize}` }]);
  }
  const prefix = normalizePrefix(options.prefix);
  const region = options.region ?? 'us-east-1';
  const endpoint = options.endpointURL ?? `https://s3.${region}.amazonaws.com`;
  const logger = options.logger ?? silentLogger;
  const retryPolicy = { ...defaultRetry, ...options.retry };
  const retryTimeoutField = options.retryTimeoutField ?? 'storage.s3.retryTimeout';
  const credentialsSource =
    options.credentialsSource ??
    (options.credentials
      ? `access key ${options.credentials.accessKeyId}`
      : 'the AWS SDK default credentials (AWS_* environment variables, ~/.aws, web identity or instance role)');
  const location = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;

  const client =
    options.client ??
    new S3Client({
      region,
      ...(options.endpointURL === undefined ? {} : { endpoint: options.endpointURL, forcePathStyle: true }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: 1,
      // The SDK's default flexible checksums (streaming CRC32 trailers) are refused by several
      // S3-compatible servers; S3 itself does not need them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Without a socket timeout a silently dropped connection would hang a backup forever; the
      // resulting TimeoutError is retried.
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    });

  const objectKey = (key: string): string => {
    assertSafeKey(key);
    return prefix ? `${prefix}/${key}` : key;
  };
  const listPrefix = (p: string): string => {
    if (p !== '') assertSafeKey(p);
    return prefix ? `${prefix}/${p}` : p;
  };
  const relativeKey = (fullKey: string): string => (prefix ? fullKey.slice(prefix.length + 1) : fullKey);
  const describe = (key: string | undefined): string => (key === undefined ? location : `${location}/${key}`);

  const bucketNotFound = (cause: unknown): StorageError =>
    new StorageError('BUCKET_NOT_FOUND', `bucket ${bucket} does not exist at ${endpoint}`, {
      cause,
      hint: 'create the bucket or fix storage.s3.bucket',
    });

  /** Translates an SDK or network failure of `operation` into an AppError. */
  const translate = (err: unknown, operation: string, key: string | undefined, signal: AbortSignal | undefined): unknown => {
    if (signal?.aborted) return abortError(signal);
    if (err instanceof AppError || !(err instanceof Error)) return err;
    const status = httpStatus(err);
    const code = s3Code(err);
    if (code === 'NoSuchBucket' || (operation === 'HeadBucket' && status === 404)) return bucketNotFound(err);
    // HEAD answers carry no error code, only the status.
    if (code === 'NoSuchKey' || (status === 404 && objectOperations.has(operation))) {
      return new NotFoundError('OBJECT_NOT_FOUND', `no object ${describe(key)}`, { cause: err });
    }
    if (status === 403 || accessCodes.has(code)) {
      return new StorageError('S3_ACCESS_DENIED', `access denied to ${describe(key)} (${operation}) at ${endpoint} using ${credentialsSource}${code ? `: ${code}` : ''}`, {
        cause: err,
        hint: 'check that these credentials are valid and allowed to list, read, write and delete objects in the bucket (s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload)',
      });
    }
    if (status === 301 || code === 'PermanentRedirect') {
      const actual = bucketRegion(err);
      return new StorageError('S3_WRONG_REGION', `bucket ${bucket} is not in region ${region}${actual ? ` but in ${actual}` : ''}`, {
        cause: err,
        hint: 'set storage.s3.region (or AWS_REGION in the credentials folder) to the bucket’s region',
      });
    }
    if (err.name === 'CredentialsProviderError') {
      return new StorageError('S3_NO_CREDENTIALS', `no S3 credentials: ${err.message}`, {
        cause: err,
        hint: 'set storage.s3.credentialsDir to a folder holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or provide AWS credentials to the process',
      });
    }
    if (isNetworkError(err)) {
      return new StorageError('S3_UNREACHABLE', `cannot reach the S3 endpoint ${endpoint} (${operation} ${describe(key)}): ${networkDetail(err)}`, {
        cause: err,
        retryable: true,
        hint: `${options.endpointURL === undefined ? 'check the network path to AWS S3 and storage.s3.region' : 'check storage.s3.endpointURL and that the server is running and reachable'}; to ride through longer outages, raise ${retryTimeoutField}`,
      });
    }
    const detail = [code, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean).join(', ');
    return new StorageError('S3_REQUEST_FAILED', `S3 ${operation} of ${describe(key)} failed${detail ? ` (${detail})` : ''}: ${err.message}`, {
      cause: err,
      retryable: isTransient(err),
    });
  };

  /**
   * Runs one request (one attempt = one call of `request`) with retries of transient failures
   * within the time budget. `onRetry` (StoreOptions.onRetry) hears of each failed attempt.
   */
  const call = async <T>(
    operation: string,
    key: string | undefined,
    o: StoreOptions,
    request: (attempt: number) => Promise<T>,
    budgetMs = retryPolicy.budgetMs,
  ): Promise<T> => {
    const { signal, onRetry } = o;
    const started = Date.now();
    let attempts = 1;
    try {
      return await retry(request, {
        ...retryPolicy,
        budgetMs,
        ...(signal ? { signal } : {}),
        isRetryable: isTransient,
        onRetry: (err, attempt, delayMs) => {
          attempts = attempt + 1;
          logger.warn(`S3 ${operation} failed, retrying`, { object: describe(key), attempt, delayMs, error: errorMessage(err) });
          onRetry?.(`${operation} ${describe(key)}`, err);
        },
      });
    } catch (err) {
      const translated = translate(err, operation, key, signal);
      // The last attempt's own error, saying how long it was tried (so "give up" is never a mystery).
      if (attempts > 1 && translated instanceof StorageError && translated.retryable) {
        const seconds = Math.round((Date.now() - started) / 1000);
        throw new StorageError(translated.code, `${translated.message} (tried ${attempts} times over ${seconds} s)`, {
          cause: translated.cause,
          retryable: true,
          hint: translated.hint ?? `if the storage only needs longer to come back, raise ${retryTimeoutField}`,
        });
      }
      throw translated;
    }
  };

  const sendOptions = (signal: AbortSignal | undefined): { abortSignal?: AbortSignal } => (signal ? { abortSignal: signal } : {});

  /** Every object whose key starts with `keyPrefix` (relative to the store), a page (≤ 1000 keys) at a time. */
  async function* listPages(keyPrefix: string, o: StoreOptions): AsyncGenerator<S3Object[]> {
    const { signal } = o;
    const fullPrefix = listPrefix(keyPrefix);
    let token: string | undefined;
    do {
      const page = await call('ListObjectsV2', keyPrefix, o, () =>
        client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: fullPrefix, ...(token ? { ContinuationToken: token } : {}) }), sendOptions(signal)),
      );
      yield page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The size of the object at full key `Key`, or undefined if there is none. */
  const storedSize = async (Key: string, signal: AbortSignal | undefined): Promise<number | undefined> => {
    try {
      return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key }), sendOptions(signal))).ContentLength;
    } catch {
      return undefined;
    }
  };

  const abortUpload = async (key: string, uploadId: string): Promise<void> => {
    try {
      // No signal: this cleanup must run precisely when the caller's signal has fired. A short
      // budget: the write's failure waits for it, and `prune` aborts what is left here later.
      await call(
        'AbortMultipartUpload',
        key,
        {},
        () => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey(key), UploadId: uploadId })),
        Math.min(retryPolicy.budgetMs, abortUploadBudgetMs),
      );
    } catch (err) {
      logger.warn('could not abort the multipart upload; its parts stay billed until `prune` (or a bucket lifecycle rule) aborts incomplete uploads', {
        object: describe(key),
        uploadId,
        error: errorMessage(err),
      });
    }
  };

  /** One DeleteObjects request; keys already missing count as deleted. Returns how many went. */
  const deleteBatch = async (batch: string[], what: string, o: StoreOptions): Promise<number> => {
    const { signal } = o;
    if (batch.length === 0) return 0;
    const out = await call('DeleteObjects', what, o, () =>
      client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }), sendOptions(signal)),
    );
    const failures = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    const first = failures[0];
    if (first) {
      throw new StorageError(
        'S3_DELETE_FAILED',
        `could not delete ${failures.length} of ${batch.length} objects under ${describe(what)}; first: ${first.Key ?? '?'}: ${first.Code ?? '?'} ${first.Message ?? ''}`.trim(),
        { hint: first.Code === 'AccessDenied' ? `allow s3:DeleteObject to ${credentialsSource}` : 'run the deletion again', retryable: first.Code !== 'AccessDenied' },
      );
    }
    return batch.length - (out.Errors?.length ?? 0);
  };

  return {
    location,
    type: 'S3',

    async check(options: StoreOptions = {}) {
      const { signal } = options;
      await call('HeadBucket', undefined, options, () => client.send(new HeadBucketCommand({ Bucket: bucket }), sendOptions(signal)));
    },

    // Nothing to check before a listing: a missing bucket or refused credentials fail the listing itself.
    checkReadable: () => Promise.resolve(),

    async write(key: string, body: Readable, options: StoreOptions = {}): Promise<WriteResult> {
      const { signal } = options;
      throwIfAborted(signal);
      const Key = objectKey(key);
      // One buffer, reused for every part: it is only refilled after the previous part is stored.
      let part: Buffer | undefined;
      let filled = 0;
      let bytes = 0;
      let uploadId: string | undefined;
      const parts: CompletedPart[] = [];

      const uploadPart = async (data: Buffer): Promise<void> => {
        if (uploadId === undefined) {
          const created = await call('CreateMultipartUpload', key, options, () =>
            client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }), sendOptions(signal)),
          );
          if (!created.UploadId) throw new StorageError('S3_REQUEST_FAILED', `S3 CreateMultipartUpload of ${describe(key)} returned no upload id`);
          uploadId = created.UploadId;
        }
        const UploadId = uploadId;
        const PartNumber = parts.length + 1;
        const uploaded = await call(`UploadPart ${PartNumber}`, key, options, () =>
          client.send(new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber, Body: data, ContentLength: data.length }), sendOptions(signal)),
        );
        parts.push({ PartNumber, ETag: uploaded.ETag });
      };

      // The body is destroyed with an error on abort or failure, and Node emits that 'error' a
      // tick later, when the loop's own listener may already be gone: without a listener of our
      // own until the body closes, a producer that does not listen would crash the process.
      const heard = (): void => undefined;
      body.on('error', heard);
      body.once('close', () => body.off('error', heard));
      // A read waiting for the body's next chunk does not see the signal; destroying the body ends it.
      const onAbort = (): void => {
        if (signal) body.destroy(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        // for await pulls one chunk at a time, so the body is paused while a part uploads.
        // Not destroyed when the loop ends early: on a failure the body is destroyed below with
        // the failure itself, so that whoever produces it sees the storage's error (not a bare
        // "premature close" or "operation was aborted" that would race it to the caller).
        for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<unknown>) {
          let data = toBuffer(chunk);
          bytes += data.length;
          while (data.length > 0) {
            part ??= Buffer.allocUnsafe(partSize);
            const copied = data.copy(part, filled);
            filled += copied;
            data = data.subarray(copied);
            if (filled === partSize) {
              await uploadPart(part);
              filled = 0;
            }
          }
        }
        throwIfAborted(signal);
        if (uploadId === undefined) {
          const data = part === undefined ? Buffer.alloc(0) : part.subarray(0, filled);
          await call('PutObject', key, options, () =>
            client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: data, ContentLength: data.length }), sendOptions(signal)),
          );
          return { bytes };
        }
        if (filled > 0 && part !== undefined) await uploadPart(part.subarray(0, filled));
        const UploadId = uploadId;
        await call('CompleteMultipartUpload', key, options, async (attempt) => {
          try {
            await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: parts } }), sendOptions(signal));
          } catch (err) {
            // A completion that succeeded but whose answer was lost leaves nothing to complete on
            // the retry: the object is there, whole, and the write has succeeded.
            if (attempt > 1 && err instanceof Error && s3Code(err) === 'NoSuchUpload' && (await storedSize(Key, signal)) === bytes) return;
            throw err;
          }
        });
        return { bytes };
      } catch (err) {
        const failure = signal?.aborted ? abortError(signal) : err;
        body.destroy(failure instanceof Error ? failure : new Error(String(failure)));
        if (uploadId !== undefined) await abortUpload(key, uploadId);
        throw failure;
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },

    async put(key: string, data: string | Uint8Array, options: StoreOptions = {}) {
      const { signal } = options;
      const Body = typeof data === 'string' ? Buffer.from(data) : data;
      const Key = objectKey(key);
      await call('PutObject', key, options, () =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ContentLength: Body.length }), sendOptions(signal)),
      );
    },

    async putIfAbsent(key: string, data: string | Uint8Array, options: StoreOptions = {}): Promise<boolean> {
      const { signal } = options;
      const Body = typeof data === 'string' ? Buffer.from(data) : data;
      const Key = objectKey(key);
      // S3's conditional write: the object is created only if the key holds none.
      return call('PutObject', key, options, async (attempt) => {
        try {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ContentLength: Body.length, IfNoneMatch: '*' }), sendOptions(signal));
          return true;
        } catch (err) {
          if (!(err instanceof Error && (httpStatus(err) === 412 || s3Code(err) === 'PreconditionFailed'))) throw err;
          // A retry whose first attempt was stored but whose answer was lost finds its own object.
          if (attempt > 1) {
            const stored = await client.send(new GetObjectCommand({ Bucket: bucket, Key }), sendOptions(signal));
            return Buffer.from((await stored.Body?.transformToByteArray()) ?? []).equals(Buffer.from(Body));
          }
          return false;
        }
      });
    },

    async read(key: string, options: StoreOptions = {}): Promise<Readable> {
      const { signal } = options;
      const Key = objectKey(key);
      const first = await call('GetObject', key, options, () => client.send(new GetObjectCommand({ Bucket: bucket, Key }), sendOptions(signal)));
      if (!(first.Body instanceof Readable)) throw new InternalError(`S3 GetObject of ${describe(key)} did not return a Node stream`);
      const firstBody = first.Body;
      /** The body being read now (the first, or a resumed one). */
      let current: Readable = firstBody;
      const size = first.ContentLength;
      const etag = first.ETag;
      // A body whose connection drops midway (an endpoint restarting, a reset) is resumed where it
      // broke off, with a ranged GetObject retried like any request (within the retry budget),
      // and only of the same object (If-Match its ETag): reads ride through outages as writes do.
      async function* bytes(): AsyncGenerator<Buffer> {
        let offset = 0;
        for (;;) {
          try {
            for await (const chunk of current as AsyncIterable<unknown>) {
              const data = toBuffer(chunk);
              offset += data.length;
              yield data;
            }
            if (size === undefined || offset >= size) return;
            throw Object.assign(new Error(`the body ended after ${offset} of ${size} bytes`), { code: 'ECONNRESET' });
          } catch (err) {
            if (signal?.aborted) throw abortError(signal);
            if (!isTransient(err)) throw translate(err, 'GetObject', key, signal);
            logger.warn('S3 GetObject broke off, resuming', { object: describe(key), offset, error: errorMessage(err) });
            options.onRetry?.(`GetObject ${describe(key)}`, err);
            const from = offset;
            const next = await call('GetObject', key, options, () =>
              client.send(new GetObjectCommand({ Bucket: bucket, Key, Range: `bytes=${from}-`, ...(etag === undefined ? {} : { IfMatch: etag }) }), sendOptions(signal)),
            );
            if (!(next.Body instanceof Readable)) throw new InternalError(`S3 GetObject of ${describe(key)} did not return a Node stream`);
            current = next.Body;
          }
        }
      }
      const stream = Readable.from(bytes(), { objectMode: false, highWaterMark: firstBody.readableHighWaterMark });
      if (signal) {
        // Once the headers are in, the SDK no longer watches the signal: a reader waiting for the
        // next chunk of a stalled body would wait for ever. Destroying the bodies ends that wait.
        const onAbort = (): void => {
          current.destroy(abortError(signal));
          stream.destroy(abortError(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        stream.once('close', () => signal.removeEventListener('abort', onAbort));
        if (signal.aborted) onAbort();
      }
      return stream;
    },

    async get(key: string, options: StoreOptions = {}): Promise<Buffer> {
      const { signal } = options;
      const Key = objectKey(key);
      // Small objects: the download is part of the attempt, so a connection dropped mid-body is retried too.
      return call('GetObject', key, options, async () => {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key }), sendOptions(signal));
        if (!out.Body) return Buffer.alloc(0);
        return Buffer.from(await out.Body.transformToByteArray());
      });
    },

    async exists(key: string, options: StoreOptions = {}): Promise<boolean> {
      const { signal } = options;
      const Key = objectKey(key);
      try {
        await call('HeadObject', key, options, () => client.send(new HeadObjectCommand({ Bucket: bucket, Key }), sendOptions(signal)));
        return true;
      } catch (err) {
        // HEAD responses have no body, so a missing bucket looks like a missing object here.
        if (err instanceof NotFoundError) return false;
        throw err;
      }
    },

    async list(listFor: string, options: StoreOptions = {}): Promise<ObjectInfo[]> {
      const found: ObjectInfo[] = [];
      for await (const page of listPages(listFor, options)) {
        for (const object of page) {
          if (object.Key === undefined) continue;
          const key = relativeKey(object.Key);
          // Zero-byte "folder" markers made by consoles and some tools are not objects of ours.
          if (key === '' || key.endsWith('/')) continue;
          found.push({ key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) });
        }
      }
      // S3 already returns UTF-8 byte order; S3-compatible servers do not all do so.
      return found.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    },

    async delete(key: string, options: StoreOptions = {}) {
      const { signal } = options;
      const Key = objectKey(key);
      try {
        await call('DeleteObject', key, options, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }), sendOptions(signal)));
      } catch (err) {
        if (err instanceof NotFoundError) return;
        throw err;
      }
    },

    async deleteMany(keys: readonly string[], options: StoreOptions = {}) {
      const full = keys.map((k) => {
        assertSafeKey(k);
        return objectKey(k);
      });
      for (let i = 0; i < full.length; i += deleteBatchSize) await deleteBatch(full.slice(i, i + deleteBatchSize), keys[i] ?? '', options);
    },

    async deletePrefix(deleteFor: string, options: StoreOptions = {}): Promise<number> {
      if (!deleteFor.endsWith('/')) {
        throw new StorageError('UNSAFE_KEY', `refusing to delete prefix ${JSON.stringify(deleteFor)}: a folder prefix must be non-empty and end with "/"`);
      }
      let deleted = 0;
      // Deleting page by page keeps memory flat; continuation tokens stay valid as keys go.
      for await (const page of listPages(deleteFor, options)) {
        const keys = page.flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
        for (let i = 0; i < keys.length; i += deleteBatchSize) deleted += await deleteBatch(keys.slice(i, i + deleteBatchSize), deleteFor, options);
      }
      return deleted;
    },

    async listIncompleteUploads(options: StoreOptions = {}): Promise<IncompleteUpload[]> {
      const { signal } = options;
      // The prefix with its slash: `orders/` must not match the uploads of `orders-old/`.
      const Prefix = prefix ? `${prefix}/` : '';
      const found: IncompleteUpload[] = [];
      let KeyMarker: string | undefined;
      let UploadIdMarker: string | undefined;
      for (;;) {
        const page = await call('ListMultipartUploads', undefined, options, () =>
          client.send(
            new ListMultipartUploadsCommand({ Bucket: bucket, Prefix, ...(KeyMarker === undefined ? {} : { KeyMarker }), ...(UploadIdMarker === undefined ? {} : { UploadIdMarker }) }),
            sendOptions(signal),
          ),
        );
        for (const upload of page.Uploads ?? []) {
          if (upload.Key === undefined || upload.UploadId === undefined || !upload.Key.startsWith(Prefix)) continue;
          found.push({ key: relativeKey(upload.Key), uploadId: upload.UploadId, initiated: upload.Initiated ?? new Date(0) });
        }
        if (!page.IsTruncated || (page.NextKeyMarker === undefined && page.NextUploadIdMarker === undefined)) break;
        KeyMarker = page.NextKeyMarker;
        UploadIdMarker = page.NextUploadIdMarker;
      }
      return found;
    },

    async abortIncompleteUpload(upload: IncompleteUpload, options: StoreOptions = {}): Promise<void> {
      const { signal } = options;
      const Key = objectKey(upload.key);
      try {
        await call('AbortMultipartUpload', upload.key, options, () =>
          client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId: upload.uploadId }), sendOptions(signal)),
        );
      } catch (err) {
        if (err instanceof AppError && err.cause instanceof Error && s3Code(err.cause) === 'NoSuchUpload') return;
        throw err;
      }
    },
  };
}

/** `a/b`, from `/a/b/`, `a//b` or `a/b`; empty stays empty. */
function normalizePrefix(prefix: string): string {
  return prefix.split('/').filter(Boolean).join('/');
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new InternalError(`write() needs a byte stream, got a chunk of type ${typeof chunk}`);
}

interface SdkErrorShape {
  Code?: unknown;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
  $retryable?: unknown;
}

function httpStatus(err: Error): number | undefined {
  return (err as SdkErrorShape).$metadata?.httpStatusCode;
}

/** The S3 error code (`NoSuchKey`, `SlowDown`…): the SDK puts it in `name`, and sometimes in `Code`. */
function s3Code(err: Error): string {
  const code = (err as SdkErrorShape).Code;
  return typeof code === 'string' ? code : err.name;
}

function bucketRegion(err: Error): string | undefined {
  return (err as SdkErrorShape).$response?.headers?.['x-amz-bucket-region'];
}

/** Operations on one object, where a bare 404 means the object is missing. */
const objectOperations = new Set(['GetObject', 'HeadObject', 'DeleteObject']);

const accessCodes = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled']);

const transientCodes = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
]);

const networkCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENOTFOUND']);

/** Whether a failed S3 request may succeed if sent again: throttling, server errors, dropped connections. */
function isTransient(err: unknown): boolean {
  if (!(err instanceof Error) || err.name === 'AbortError') return false;
  const status = httpStatus(err);
  // 501 Not Implemented is a permanent answer, unlike the rest of the 5xx.
  if (status !== undefined && (status === 429 || (status >= 500 && status !== 501))) return true;
  const code = s3Code(err);
  if (transientCodes.has(code) || code.startsWith('Throttl')) return true;
  if ((err as SdkErrorShape).$retryable) return true;
  // A DNS name that does not resolve is almost always a typo in the endpoint, not a blip.
  return isNetworkError(err) && networkCode(err) !== 'ENOTFOUND';
}

function isNetworkError(err: Error): boolean {
  return networkCode(err) !== undefined || err.name === 'TimeoutError' || /socket hang up/i.test(err.message);
}

function networkCode(err: unknown, depth = 0): string | undefined {
  if (!(err instanceof Error) || depth > 3) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && networkCodes.has(code)) return code;
  // AggregateError (happy eyeballs tried several addresses) and wrapped causes hide the code.
  const nested = err instanceof AggregateError ? (err.errors as unknown[]) : [err.cause];
  for (const inner of nested) {
    const found = networkCode(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function networkDetail(err: Error): string {
  const code = networkCode(err);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'host name not found';
  return code ?? err.message;
}
