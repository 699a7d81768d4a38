/**
 * A loopback HTTP proxy in front of an S3 endpoint that records every request and can be told to
 * fail the next few: with an S3-style error response (503 SlowDown, 403 AccessDenied…) or by
 * resetting the connection. Retry tests point a store at it and check what reached the wire.
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'error'; status: number; code: string; message: string }
  /** The connection is reset as soon as the request arrives: the server never sees it. */
  | { kind: 'reset' }
  /** The request reaches the server, which acts on it; then the connection is reset before the answer. */
  | { kind: 'lose-response' };

export const slowDown: Fault = { kind: 'error', status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };
export const internalError: Fault = { kind: 'error', status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
export const accessDenied: Fault = { kind: 'error', status: 403, code: 'AccessDenied', message: 'Access Denied' };
export const connectionReset: Fault = { kind: 'reset' };
export const lostResponse: Fault = { kind: 'lose-response' };

/** The S3 operation a request is, as far as method and query tell. */
export type Operation =
  | 'HeadBucket'
  | 'ListObjectsV2'
  | 'ListMultipartUploads'
  | 'DeleteObjects'
  | 'HeadObject'
  | 'GetObject'
  | 'PutObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'Other';

export interface ProxiedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  operation: Operation;
  /** The fault injected instead of forwarding, if any. */
  fault?: Fault['kind'];
  /** Request body bytes received so far. */
  bodyBytes: number;
  /** The status sent back to the client, once the whole response has been sent. */
  status?: number;
}

export interface FaultyProxy {
  /** `http://127.0.0.1:<port>`: use as the store's endpointURL. */
  endpoint: string;
  /** Every request received, in order. */
  readonly requests: readonly ProxiedRequest[];
  /** Fails the next `count` requests (of `operation` only, if given) with `fault` instead of forwarding them. */
  failNext(count: number, fault: Fault, operation?: Operation): void;
  /** Requests of `operation` received so far. */
  count(operation?: Operation): number;
  /** Forgets recorded requests and pending faults. */
  reset(): void;
  stop(): Promise<void>;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  let pending: { remaining: number; fault: Fault; operation: Operation | undefined }[] = [];

  const takeFault = (operation: Operation): Fault | undefined => {
    const rule = pending.find((p) => p.remaining > 0 && (p.operation === undefined || p.operation === operation));
    if (!rule) return undefined;
    rule.remaining--;
    pending = pending.filter((p) => p.remaining > 0);
    return rule.fault;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const record: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', operation: operationOf(req.method ?? 'GET', url), bodyBytes: 0 };
    requests.push(record);
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length;
    });

    const fault = takeFault(record.operation);
    if (fault?.kind === 'reset') {
      record.fault = 'reset';
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'error') {
      record.fault = 'error';
      // Read the whole request first, as S3 does: answering mid-upload would turn the error
      // response into a broken pipe on the client's side.
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>${fault.message}</Message><RequestId>faulty-proxy</RequestId></Error>`;
        res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        record.status = fault.status;
      });
      return;
    }

    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (response: IncomingMessage) => {
        if (fault?.kind === 'lose-response') {
          record.fault = 'lose-response';
          response.resume();
          response.on('end', () => req.socket.resetAndDestroy());
          return;
        }
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
        res.on('finish', () => {
          record.status = response.statusCode;
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    failNext(count, fault, operation) {
      pending.push({ remaining: count, fault, operation });
    },
    count(operation) {
      return operation === undefined ? requests.length : requests.filter((r) => r.operation === operation).length;
    },
    reset() {
      requests.length = 0;
      pending = [];
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function operationOf(method: string, url: URL): Operation {
  const q = url.searchParams;
  const hasKey = url.pathname.replace(/^\/[^/]*\/?/, '') !== '';
  if (!hasKey) {
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'GET') return q.has('uploads') ? 'ListMultipartUploads' : 'ListObjectsV2';
    if (method === 'POST' && q.has('delete')) return 'DeleteObjects';
    return 'Other';
  }
  switch (method) {
    case 'HEAD':
      return 'HeadObject';
    case 'GET':
      return 'GetObject';
    case 'PUT':
      return q.has('uploadId') ? 'UploadPart' : 'PutObject';
    case 'POST':
      return q.has('uploads') ? 'CreateMultipartUpload' : q.has('uploadId') ? 'CompleteMultipartUpload' : 'Other';
    case 'DELETE':
      return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return 'Other';
  }
}
