/**
 * The daemon's HTTP endpoints: `/metrics` (Prometheus text format), `/healthz`, the status page
 * at `/` when the daemon has one, `/archiver/status` when it archives binlogs, and in Kubernetes
 * mode `/readyz` and `/pitr-cutoff`. Every endpoint is read-only (GET).
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, errorMessage } from '../lib/errors.js';

export interface HttpEndpoints {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): Record<string, unknown>;
  /** `/archiver/status`, when binlog archiving runs in this daemon. */
  archiverStatus?: () => Record<string, unknown>;
  /**
   * `/readyz` (Kubernetes mode): 200 when ready (the informers have synced; a standby replica is
   * ready too), else 503; the body is the returned object as JSON.
   */
  readiness?: () => { ready: boolean } & Record<string, unknown>;
  /** `/pitr-cutoff?namespace=&group=&profile=` (Kubernetes mode); see PitrCutoffLookup. */
  pitrCutoff?: PitrCutoffLookup;
  /**
   * `/`: the status page, a complete HTML document (served as text/html, never cached by the
   * browser). A rejection is answered 500 with its message as plain text.
   */
  statusPage?: (query: URLSearchParams) => Promise<string>;
}

export interface PitrCutoffQuery {
  namespace: string;
  group: string;
  profile: string;
}

/**
 * The oldest completionTime among the retained Succeeded backups of a group's profile: the point
 * before which binlogs are no longer needed. `cutoff` null = no such backup yet. `known: false`
 * (404) when the group or the profile does not exist, with a message saying which.
 */
export type PitrCutoffLookup = (query: PitrCutoffQuery) => Promise<{ known: true; cutoff: Date | null } | { known: false; message: string }>;

export interface RunningHttpServer {
  /** `host:port` actually bound (the port is known even when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/** `HOST:PORT`, `:PORT` (all interfaces) or `[v6]:PORT`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError([{ path: '--listen', message: `"${listen}" is not HOST:PORT (like 127.0.0.1:9464 or :9464)` }]);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** `/pitr-cutoff?namespace=&group=&profile=`: 400 naming missing parameters, 404 unknown, else `{"cutoff": RFC3339|null}`. */
function servePitrCutoff(lookup: PitrCutoffLookup, url: string, res: ServerResponse): void {
  const params = new URL(url, 'http://localhost').searchParams;
  const query = { namespace: params.get('namespace') ?? '', group: params.get('group') ?? '', profile: params.get('profile') ?? '' };
  const missing = Object.entries(query)
    .filter(([, v]) => v === '')
    .map(([k]) => k);
  if (missing.length > 0) {
    sendJson(res, 400, { error: `missing query parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: use /pitr-cutoff?namespace=NS&group=GROUP&profile=PROFILE` });
    return;
  }
  lookup(query).then(
    (answer) => {
      if (!answer.known) sendJson(res, 404, { error: answer.message });
      else sendJson(res, 200, { cutoff: answer.cutoff ? answer.cutoff.toISOString().replace(/\.000Z$/, 'Z') : null });
    },
    (err: unknown) => sendJson(res, 500, { error: errorMessage(err) }),
  );
}

export async function startHttpServer(listen: string, endpoints: HttpEndpoints): Promise<RunningHttpServer> {
  const { host, port } = parseListen(listen);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      endpoints.metrics().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
      );
      return;
    }
    if (path === '/archiver/status' && endpoints.archiverStatus) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(endpoints.archiverStatus()));
      return;
    }
    if (path === '/readyz' && endpoints.readiness) {
      const readiness = endpoints.readiness();
      res.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(readiness));
      return;
    }
    if (path === '/pitr-cutoff' && endpoints.pitrCutoff) {
      servePitrCutoff(endpoints.pitrCutoff, req.url ?? '/', res);
      return;
    }
    if (path === '/' && endpoints.statusPage) {
      endpoints.statusPage(new URL(req.url ?? '/', 'http://localhost').searchParams).then(
        (page) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(`cannot show the status page: ${errorMessage(err)}\n`),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(endpoints.health()));
      return;
    }
    const paths = [...(endpoints.statusPage ? ['/'] : []), '/metrics', '/healthz', ...(endpoints.readiness ? ['/readyz'] : []), ...(endpoints.pitrCutoff ? ['/pitr-cutoff'] : []), ...(endpoints.archiverStatus ? ['/archiver/status'] : [])];
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${paths.join(', ')}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new ConfigError([{ path: '--listen', message: `${listen} is already in use` }]) : err),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
