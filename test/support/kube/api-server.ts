/**
 * An in-process fake kube-apiserver for tests (plain `node:http` on a loopback port) that both
 * @kubernetes/client-node 2.x and kubectl 1.32 accept. What it implements, and why, follows
 * /work/shared/K8S-TESTING.md §1, §2 and §6:
 * - discovery (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`, legacy forms only),
 *   `/openapi/v3` documents, Table answers for `kubectl get`;
 * - CRUD, `/status` subresources, merge / JSON / strategic / apply patches, label and field
 *   selectors, one global resourceVersion, no-op writes, generation, finalizers, namespaces;
 * - watches with history replay, 410 Expired and selector transitions;
 * - CRDs registered by POSTing them, served at once; custom resources pruned and validated
 *   against the CRD schema; built-in kinds validated with kubernetes-models;
 * - garbage collection by ownerReferences (Background, Foreground, Orphan) and namespace deletion;
 * - Job defaults, CronJob time-zone rules, MicroTime's 6 fraction digits.
 *
 * There is no real authentication and no admission: a bearer token is taken as the user name.
 * `requests` records every resource request as RBAC would see it (verb, group, resource,
 * subresource, namespace, name, user) so tests can hold them against the RBAC rules they deploy;
 * with `enforceRbac` requests made as a ServiceAccount are authorized with the stored RBAC
 * objects (rbac.ts), and access reviews (`kubectl auth can-i`) are answered from them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { applyDefaults, kindCauses, nameCauses } from './kinds.js';
import { groupVersionDocument, openApiIndex } from './openapi.js';
import { decodeKubernetesProtobuf, ProtobufDecodeError } from './protobuf.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, parsePatchBody, patchTypeOf, type PatchType } from './patch.js';
import { apiVersionOf, BUILT_IN_RESOURCES, resourcesFromCrd, splitApiVersion, type ResourceType } from './resources.js';
import { builtInCauses, customResourceCauses, decodeBuiltIn, defaultCustomResource, pruneCustomResource } from './schema.js';
import { rbacAllows, rbacGrantsFor, type RbacRequest, type ServiceAccountRef } from './rbac.js';
import { parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from './selectors.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  forbidden,
  invalid,
  KubeStatusError,
  methodNotAllowed,
  notFound,
  unsupportedMediaType,
  type ObjectRef,
  type StatusCause,
} from './status.js';
import { metadataOf, ObjectStore, resourceKeyOf, type JsonObject, type ObjectMetadata, type StoredEvent } from './store.js';
import { toTable } from './table.js';

export type RequestVerb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** One resource request, as RBAC sees it. */
export interface ApiRequest {
  verb: RequestVerb;
  group: string;
  version: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  userAgent?: string;
  /**
   * Who asked: the bearer token of the request, which stands for the identity as a ServiceAccount
   * token would (kubeconfigs written with `writeKubeconfig(path, {token})` or `{serviceAccount}`
   * send one), or the user kubectl's `--as` impersonates.
   */
  user?: string;
}

/** One successful create, update or patch, with the object as stored. */
export interface ApiWrite {
  verb: 'create' | 'update' | 'patch';
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  subresource?: string;
  object: JsonObject;
  userAgent?: string;
  /** The requester's bearer token (see ApiRequest.user). */
  user?: string;
}

/** What `GET pods/<name>/log` asks the log source for. */
export interface PodLogRequest {
  namespace: string;
  name: string;
  container?: string;
  follow: boolean;
}

/**
 * Supplies a pod's log (the Job runner sets it): the text so far, or an async iterable streamed
 * as it comes (for `follow=true`); undefined answers 400 as for a container not started.
 */
export type PodLogSource = (request: PodLogRequest) => string | AsyncIterable<string | Uint8Array> | undefined | Promise<string | undefined>;

export interface ApiServerOptions {
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Watch events kept for replay (default 10 000). */
  historyLimit?: number;
  /**
   * Authorize requests made as a ServiceAccount (token `system:serviceaccount:<ns>:<name>`, or
   * kubectl `--as`) with the stored Roles, ClusterRoles and bindings, answering 403 as the real
   * server does. Off by default: identities are then only recorded.
   */
  enforceRbac?: boolean;
}

/** Whose credentials a kubeconfig carries; none = an unrestricted client (like cluster-admin). */
export interface KubeconfigOptions {
  /** A bearer token, taken as the user name (e.g. `system:serviceaccount:default:bloodraven`). */
  token?: string;
  /** Shorthand for the token of this ServiceAccount. */
  serviceAccount?: ServiceAccountRef;
}

export interface TestApiServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /**
   * Writes a kubeconfig (current context pointing here, namespace `default`) for kubectl and
   * KUBECONFIG. Without options it carries no credentials and every request is allowed; with a
   * ServiceAccount it carries a token standing for it, and RBAC applies.
   */
  writeKubeconfig(path: string, options?: KubeconfigOptions): Promise<void>;
  /** A client-node KubeConfig pointing here (same options as writeKubeconfig). */
  kubeConfig(options?: KubeconfigOptions): KubeConfig;
  /**
   * Whether the Roles/ClusterRoles and bindings stored now allow a ServiceAccount a request, as
   * the RBAC authorizer decides (rbac.ts).
   */
  authorize(serviceAccount: ServiceAccountRef, request: RbacRequest): boolean;
  /** Forgets the watch history: watches from any earlier resourceVersion get 410 Expired. */
  compactHistory(): void;
  /** Ends every open watch (clients re-watch from their last resourceVersion). */
  dropWatches(): void;
  /** Every successful create/update/patch, in order. */
  readonly writes: ReadonlyArray<ApiWrite>;
  /** Every resource request, in order. */
  readonly requests: ReadonlyArray<ApiRequest>;
  /** The stored object, or undefined. */
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): JsonObject | undefined;
  /** Stored objects of a kind, in one namespace or all. */
  list(apiVersion: string, kind: string, namespace?: string): JsonObject[];
  setPodLogSource(source: PodLogSource | undefined): void;
  stop(): Promise<void>;
}

type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

interface WriteContext {
  /** A write of the server's own controllers: not in `writes`. */
  internal?: boolean;
  userAgent: string | undefined;
  user?: string | undefined;
  fieldValidation: FieldValidation;
  warnings: string[];
}

type StoredEntry = { resourceKey: string; object: JsonObject };

interface ResourcePath {
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const JSON_TYPE = 'application/json';

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A JSON scalar as text; '' for anything else. */
function scalarText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** metav1.Time: RFC 3339 at whole seconds. */
function timeNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const GENERATE_NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++) out += GENERATE_NAME_CHARS[Math.floor(Math.random() * GENERATE_NAME_CHARS.length)];
  return out;
}

function refOf(type: ResourceType, name: string): ObjectRef {
  return { group: type.group, kind: type.kind, plural: type.plural, name };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const PROTOBUF_TYPE = 'application/vnd.kubernetes.protobuf';

/**
 * Decodes a request body: JSON, YAML, or the protobuf kubectl's typed clients send for a few
 * core kinds (protobuf.ts). Other media types, and protobuf of other kinds, get 415 (client-go
 * falls back to JSON only from CBOR).
 */
function parseBody(body: Buffer, contentType?: string): unknown {
  const media = (contentType ?? JSON_TYPE).split(';')[0]?.trim().toLowerCase();
  const text = media === PROTOBUF_TYPE ? '' : body.toString('utf8');
  if (body.length === 0 || (media !== PROTOBUF_TYPE && text.trim() === '')) return undefined;
  try {
    if (media === PROTOBUF_TYPE) return decodeKubernetesProtobuf(body);
    if (media === 'application/yaml') return parseYaml(text) as unknown;
    if (media === JSON_TYPE || media === '*/*') return JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof ProtobufDecodeError) throw new KubeStatusError(415, 'UnsupportedMediaType', err.message);
    throw badRequest(`the body of the request could not be decoded: ${(err as Error).message}`);
  }
  throw new KubeStatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, ${PROTOBUF_TYPE}`);
}

function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

/** A copy of `current` with the status of `incoming` (a status subresource write). */
function withStatusOf(current: JsonObject, incoming: JsonObject): JsonObject {
  const next = clone(current);
  if (incoming.status === undefined) delete next.status;
  else next.status = incoming.status;
  return next;
}

/**
 * The PatchOptions rules: apply patches need a fieldManager, `force` is for apply patches only
 * (422 Invalid, as the real server answers).
 */
function checkPatchOptions(patchType: PatchType, query: URLSearchParams): void {
  const options = { group: 'meta.k8s.io', kind: 'PatchOptions', plural: 'patchoptions', name: '' };
  if (patchType === 'apply' && !query.get('fieldManager')) {
    throw invalid(options, [{ reason: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' }]);
  }
  if (patchType !== 'apply' && query.get('force') !== null) {
    throw invalid(options, [{ reason: 'FieldValueForbidden', field: 'force', message: 'Forbidden: may not be specified for non-apply patch' }]);
  }
}

/** Everything outside metadata (and status, for kinds with a status subresource). */
function specPart(object: JsonObject, withStatus: boolean): JsonObject {
  const { metadata: _m, status, ...rest } = object;
  return withStatus ? { ...rest, status } : rest;
}

class FakeApiServer {
  readonly store: ObjectStore;
  readonly writes: ApiWrite[] = [];
  readonly requests: ApiRequest[] = [];
  /** apiVersion → plural → type. */
  private readonly served = new Map<string, Map<string, ResourceType>>();
  private readonly watches = new Set<ServerResponse>();
  private podLogSource: PodLogSource | undefined;
  private controllersScheduled = false;
  private stopped = false;

  constructor(
    historyLimit: number,
    private readonly enforceRbac: boolean,
  ) {
    this.store = new ObjectStore(historyLimit);
    for (const type of BUILT_IN_RESOURCES) this.register(type);
    this.createInternal(this.typeOf('v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  }

  setPodLogSource(source: PodLogSource | undefined): void {
    this.podLogSource = source;
  }

  // ------------------------------------------------------------------ registry

  private register(type: ResourceType): void {
    const apiVersion = apiVersionOf(type);
    let byPlural = this.served.get(apiVersion);
    if (!byPlural) {
      byPlural = new Map();
      this.served.set(apiVersion, byPlural);
    }
    byPlural.set(type.plural, type);
  }

  private unregisterCrd(crdName: string): void {
    for (const [apiVersion, byPlural] of this.served) {
      for (const [plural, type] of byPlural) if (type.custom?.crdName === crdName) byPlural.delete(plural);
      if (byPlural.size === 0) this.served.delete(apiVersion);
    }
  }

  private typeOf(apiVersion: string, plural: string): ResourceType {
    const type = this.served.get(apiVersion)?.get(plural);
    if (!type) throw new Error(`not served: ${apiVersion} ${plural}`);
    return type;
  }

  typeByKind(apiVersion: string, kind: string): ResourceType | undefined {
    return [...(this.served.get(apiVersion)?.values() ?? [])].find((t) => t.kind === kind);
  }

  private typeByResourceKey(resourceKey: string): ResourceType | undefined {
    for (const byPlural of this.served.values()) {
      for (const type of byPlural.values()) if (resourceKeyOf(type.group, type.plural) === resourceKey) return type;
    }
    return undefined;
  }

  // ------------------------------------------------------------------ HTTP

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (this.handleNonResource(req, res, url)) return;
      const path = this.parseResourcePath(url.pathname);
      if (!path) throw new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource');
      await this.handleResource(req, res, url, path, identify(req));
    } catch (err) {
      if (err instanceof KubeStatusError) this.send(res, err.code, err.toStatus());
      else this.send(res, 500, new KubeStatusError(500, 'InternalError', `Internal error occurred: ${(err as Error).stack ?? String(err)}`).toStatus());
    }
  }

  private send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const headers: Record<string, string | string[]> = { 'Content-Type': JSON_TYPE };
    if (warnings.length > 0) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
    res.writeHead(code, headers);
    res.end(JSON.stringify(body));
  }

  private handleNonResource(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET' && (p === '/version' || p === '/api' || p === '/apis' || p.startsWith('/openapi'))) {
      throw methodNotAllowed('the server does not allow this method on the requested resource');
    }
    if (p === '/version') {
      this.send(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.0',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2024-12-11T00:00:00Z',
        goVersion: 'go1.23.3',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    } else if (p === '/healthz' || p === '/readyz' || p === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    } else if (p === '/api') {
      this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }] });
    } else if (p === '/apis') {
      this.send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: this.groups() });
    } else if (/^\/apis\/[^/]+$/.test(p)) {
      const group = this.groups().find((g) => g.name === p.slice('/apis/'.length));
      if (!group) return false;
      this.send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...group });
    } else if (p === '/api/v1' || /^\/apis\/[^/]+\/[^/]+$/.test(p)) {
      const apiVersion = p === '/api/v1' ? 'v1' : p.slice('/apis/'.length);
      const types = this.served.get(apiVersion);
      if (!types) return false;
      this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersion, resources: [...types.values()].flatMap(discoveryEntries) });
    } else if (p === '/openapi/v3') {
      this.send(res, 200, openApiIndex(this.groupVersions()));
    } else if (p.startsWith('/openapi/v3/')) {
      const key = p.slice('/openapi/v3/'.length);
      const apiVersion = key.startsWith('api/') ? key.slice('api/'.length) : key.slice('apis/'.length);
      const types = this.served.get(apiVersion);
      if (!types) throw new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource');
      this.send(res, 200, groupVersionDocument([...types.values()]));
    } else if (p.startsWith('/openapi/')) {
      throw new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource');
    } else return false;
    return true;
  }

  private groupVersions(): Map<string, ResourceType[]> {
    return new Map([...this.served].map(([apiVersion, types]) => [apiVersion, [...types.values()]]));
  }

  private groups(): { name: string; versions: { groupVersion: string; version: string }[]; preferredVersion: { groupVersion: string; version: string } }[] {
    const byGroup = new Map<string, { groupVersion: string; version: string }[]>();
    for (const apiVersion of this.served.keys()) {
      const { group, version } = splitApiVersion(apiVersion);
      if (group === '') continue;
      const versions = byGroup.get(group) ?? [];
      versions.push({ groupVersion: apiVersion, version });
      byGroup.set(group, versions);
    }
    return [...byGroup].map(([name, versions]) => ({ name, versions, preferredVersion: versions[0] ?? { groupVersion: '', version: '' } }));
  }

  /** `/api/v1/...` or `/apis/<g>/<v>/...` → resource, namespace, name, subresource. */
  private parseResourcePath(pathname: string): ResourcePath | undefined {
    const parts = pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    let apiVersion: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1] === 'v1') {
      apiVersion = 'v1';
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      apiVersion = `${parts[1]}/${parts[2]}`;
      rest = parts.slice(3);
    } else return undefined;
    const types = this.served.get(apiVersion);
    if (!types) return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    const type = plural === undefined ? undefined : types.get(plural);
    if (!type || extra.length > 0) return undefined;
    if (namespace !== undefined && !type.namespaced) return undefined;
    if (subresource !== undefined && !(subresource === 'status' && type.statusSubresource) && !type.getSubresources.includes(subresource)) return undefined;
    return { type, ...(namespace !== undefined ? { namespace } : {}), ...(name !== undefined ? { name } : {}), ...(subresource !== undefined ? { subresource } : {}) };
  }

  private async handleResource(req: IncomingMessage, res: ServerResponse, url: URL, path: ResourcePath, user: string | undefined): Promise<void> {
    const { type, namespace, name, subresource } = path;
    const query = url.searchParams;
    const verb = verbOf(req.method ?? 'GET', name !== undefined, query);
    const userAgent = req.headers['user-agent'];
    if (verb) this.recordRequest(verb, path, userAgent, user);
    if (verb === 'create' && type.group === 'authorization.k8s.io') {
      this.send(res, 201, this.accessReview(type, parseBody(await readBody(req), req.headers['content-type']), user));
      return;
    }
    if (query.get('dryRun')) throw badRequest('dryRun is not supported by the test API server');
    if (!verb || (verb !== 'watch' && (name === undefined) !== ['list', 'create', 'deletecollection'].includes(verb))) {
      throw methodNotAllowed('the server does not allow this method on the requested resource');
    }
    this.checkAccess(verb, path, user);
    const context: WriteContext = { userAgent, user, fieldValidation: this.fieldValidation(query.get('fieldValidation')), warnings: [] };
    const item = name ?? '';
    switch (verb) {
      case 'watch':
        this.watch(req, res, url, { type, namespace, name });
        return;
      case 'list':
        this.sendList(req, res, type, namespace, query);
        return;
      case 'get':
        if (subresource === 'log') await this.podLog(res, type, namespace ?? '', item, query);
        else this.sendObject(req, res, this.mustGet(type, namespace, item), type, query);
        return;
      case 'create': {
        const created = this.create(type, namespace, parseBody(await readBody(req), req.headers['content-type']), context);
        this.send(res, 201, created, context.warnings);
        return;
      }
      case 'update': {
        const body = parseBody(await readBody(req), req.headers['content-type']);
        this.send(res, 200, this.update(type, namespace, item, body, { context, subresource, verb: 'update' }), context.warnings);
        return;
      }
      case 'patch': {
        const text = (await readBody(req)).toString('utf8');
        const { object, created } = this.patch(type, namespace, item, text, { context, subresource, contentType: req.headers['content-type'], query });
        this.send(res, created ? 201 : 200, object, context.warnings);
        return;
      }
      case 'delete': {
        if (subresource) throw methodNotAllowed('the server does not allow this method on the requested resource');
        const options = this.deleteOptions(parseBody(await readBody(req), req.headers['content-type']), query);
        const answer = this.delete(type, namespace, item, options, context.warnings);
        this.send(res, 200, answer, context.warnings);
        return;
      }
      case 'deletecollection': {
        const options = this.deleteOptions(parseBody(await readBody(req), req.headers['content-type']), query);
        for (const object of this.select(type, namespace, query.get('labelSelector'), query.get('fieldSelector'))) {
          this.delete(type, metadataOf(object).namespace, metadataOf(object).name ?? '', options, context.warnings);
        }
        this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' }, context.warnings);
        return;
      }
    }
  }

  /** Under `enforceRbac`, 403 Forbidden unless RBAC allows the requesting ServiceAccount the request. */
  private checkAccess(verb: RequestVerb, { type, namespace, name, subresource }: ResourcePath, user: string | undefined): void {
    const serviceAccount = serviceAccountOf(user);
    if (!this.enforceRbac || !serviceAccount) return;
    const request: RbacRequest = {
      verb,
      group: type.group,
      resource: type.plural,
      ...(subresource ? { subresource } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
    };
    if (!this.authorize(serviceAccount, request)) {
      throw new KubeStatusError(403, 'Forbidden', forbiddenMessage(user ?? '', request), { ...(name !== undefined ? { name } : {}), group: type.group, kind: type.plural });
    }
  }

  /** Whether the stored RBAC objects allow a ServiceAccount a request (rbac.ts). */
  authorize(serviceAccount: ServiceAccountRef, request: RbacRequest): boolean {
    const group = 'rbac.authorization.k8s.io';
    const objects = ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'].flatMap((plural) => this.store.list(resourceKeyOf(group, plural)));
    return rbacAllows(rbacGrantsFor(objects, serviceAccount), request);
  }

  /**
   * SelfSubjectAccessReview (`kubectl auth can-i`, with `--as` for a ServiceAccount) and
   * SubjectAccessReview: the review back with `status.allowed` decided by RBAC for ServiceAccount
   * users; any other requester is unrestricted (allowed), any other reviewed user is not.
   */
  private accessReview(type: ResourceType, body: unknown, requester: string | undefined): JsonObject {
    const review = isObject(body) ? clone(body) : {};
    const spec = isObject(review.spec) ? review.spec : {};
    const attributes = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    if (!attributes) {
      throw invalid(refOf(type, ''), [{ reason: 'FieldValueRequired', field: 'spec.resourceAttributes', message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified' }]);
    }
    const user = type.kind === 'SubjectAccessReview' ? scalarText(spec.user) : requester;
    const request: RbacRequest = {
      verb: scalarText(attributes.verb),
      group: scalarText(attributes.group),
      resource: scalarText(attributes.resource),
      ...(attributes.subresource ? { subresource: scalarText(attributes.subresource) } : {}),
      ...(attributes.namespace ? { namespace: scalarText(attributes.namespace) } : {}),
      ...(attributes.name ? { name: scalarText(attributes.name) } : {}),
    };
    const serviceAccount = serviceAccountOf(user);
    const allowed = serviceAccount ? this.authorize(serviceAccount, request) : user === undefined;
    return { ...review, apiVersion: apiVersionOf(type), kind: type.kind, metadata: { creationTimestamp: null }, status: { allowed } };
  }

  private recordRequest(verb: RequestVerb, { type, namespace, name, subresource }: ResourcePath, userAgent: string | undefined, user: string | undefined): void {
    this.requests.push({
      verb,
      group: type.group,
      version: type.version,
      resource: type.plural,
      ...(subresource ? { subresource } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(userAgent ? { userAgent } : {}),
      ...(user ? { user } : {}),
    });
  }

  private sendList(req: IncomingMessage, res: ServerResponse, type: ResourceType, namespace: string | undefined, query: URLSearchParams): void {
    const items = this.select(type, namespace, query.get('labelSelector'), query.get('fieldSelector'));
    const resourceVersion = String(this.store.resourceVersion);
    if (wantsTable(req)) this.send(res, 200, toTable(type, items, { resourceVersion, includeObject: query.get('includeObject') }));
    else this.send(res, 200, this.listBody(type, items, resourceVersion));
  }

  private sendObject(req: IncomingMessage, res: ServerResponse, object: JsonObject, type: ResourceType, query: URLSearchParams): void {
    if (wantsTable(req)) this.send(res, 200, toTable(type, [object], { resourceVersion: String(this.store.resourceVersion), includeObject: query.get('includeObject') }));
    else this.send(res, 200, object);
  }

  private fieldValidation(value: string | null): FieldValidation {
    if (value === null || value === '') return 'Warn';
    if (value === 'Ignore' || value === 'Warn' || value === 'Strict') return value;
    throw badRequest(`fieldValidation must be one of "Ignore", "Warn" or "Strict", got ${value}`);
  }

  private listBody(type: ResourceType, items: JsonObject[], resourceVersion: string): JsonObject {
    // Built-in list items carry no apiVersion/kind on the wire; custom resources' do.
    const wire = type.custom ? items : items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
    return { kind: type.listKind, apiVersion: apiVersionOf(type), metadata: { resourceVersion }, items: wire };
  }

  private selectors(type: ResourceType, labelSelector: string | null, fieldSelector: string | null): { labels: LabelSelector; fields: FieldSelector } {
    const allowed = ['metadata.name', 'metadata.namespace', ...type.fieldLabels];
    return { labels: parseLabelSelector(labelSelector), fields: parseFieldSelector(fieldSelector, allowed) };
  }

  private select(type: ResourceType, namespace: string | undefined, labelSelector: string | null, fieldSelector: string | null): JsonObject[] {
    const { labels, fields } = this.selectors(type, labelSelector, fieldSelector);
    return this.store
      .list(resourceKeyOf(type.group, type.plural), type.namespaced ? namespace : undefined)
      .filter((o) => labels.matches(metadataOf(o).labels) && fields.matches(o));
  }

  private mustGet(type: ResourceType, namespace: string | undefined, name: string): JsonObject {
    const object = this.store.get(resourceKeyOf(type.group, type.plural), type.namespaced ? namespace : undefined, name);
    if (!object) throw notFound(refOf(type, name));
    return object;
  }

  // ------------------------------------------------------------------ pod logs

  private async podLog(res: ServerResponse, type: ResourceType, namespace: string, name: string, query: URLSearchParams): Promise<void> {
    this.mustGet(type, namespace, name);
    const container = query.get('container') ?? undefined;
    const source = this.podLogSource?.({ namespace, name, ...(container ? { container } : {}), follow: query.get('follow') === 'true' });
    const log = await source;
    if (log === undefined) {
      throw badRequest(`container "${container ?? name}" in pod "${name}" is waiting to start: ContainerCreating`);
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    if (typeof log === 'string') {
      res.end(log);
      return;
    }
    for await (const chunk of log) {
      if (res.destroyed) break;
      res.write(chunk);
    }
    res.end();
  }

  // ------------------------------------------------------------------ decoding and validation

  /**
   * Checks the body's apiVersion/kind, then decodes it as the server's Go types or the CRD schema
   * would: unknown fields are dropped (400 under fieldValidation=Strict, else a warning), time
   * strings checked.
   */
  private decode(type: ResourceType, body: unknown, context: WriteContext): JsonObject {
    if (!isObject(body)) throw badRequest('the body of the request was in an unknown format - accepted media types include: application/json, application/yaml');
    const object = clone(body);
    const apiVersion = apiVersionOf(type);
    if (object.apiVersion === undefined) object.apiVersion = apiVersion;
    if (object.kind === undefined) object.kind = type.kind;
    if (object.apiVersion !== apiVersion || object.kind !== type.kind) {
      throw badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${apiVersion})`);
    }
    if (object.metadata !== undefined && !isObject(object.metadata)) throw badRequest('metadata must be an object');
    let decoded: JsonObject;
    let unknown: string[];
    if (type.custom) {
      unknown = pruneCustomResource(object, type.custom.schema);
      defaultCustomResource(object, type.custom.schema);
      decoded = object;
    } else {
      const result = decodeBuiltIn(object);
      if (result.times.length > 0) {
        const t = result.times[0];
        throw badRequest(
          `${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: parsing time ${JSON.stringify(t?.value)} as "${t?.micro ? '2006-01-02T15:04:05.000000Z07:00' : '2006-01-02T15:04:05Z07:00'}": cannot parse ${JSON.stringify(t?.value)}`,
        );
      }
      unknown = result.unknown;
      decoded = result.object;
    }
    if (unknown.length > 0 && context.fieldValidation === 'Strict') {
      throw badRequest(`${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    if (context.fieldValidation === 'Warn') context.warnings.push(...unknown.map((u) => `unknown field "${u}"`));
    return decoded;
  }

  private validate(type: ResourceType, object: JsonObject, previous: JsonObject | undefined): void {
    const metadata = metadataOf(object);
    const name = metadata.name ?? '';
    const causes: StatusCause[] = [...nameCauses(type.kind, name)];
    if (type.custom) causes.push(...customResourceCauses(object, type.custom.schema));
    else causes.push(...builtInCauses(object));
    causes.push(...kindCauses(type.group, type.kind, object, previous));
    if (type.group === 'apiextensions.k8s.io' && type.kind === 'CustomResourceDefinition') causes.push(...crdCauses(object));
    if (previous) {
      const before = metadataOf(previous);
      if (before.deletionTimestamp) {
        const added = (metadata.finalizers ?? []).filter((f) => !(before.finalizers ?? []).includes(f));
        if (added.length > 0) {
          causes.push({
            reason: 'FieldValueForbidden',
            field: 'metadata.finalizers',
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
          });
        }
      }
    }
    if (causes.length > 0) throw invalid(refOf(type, name), causes);
  }

  private checkNamespace(type: ResourceType, urlNamespace: string | undefined, object: JsonObject, creating: boolean): string | undefined {
    const metadata = metadataOf(object);
    if (!type.namespaced) {
      delete metadata.namespace;
      return undefined;
    }
    if (urlNamespace === undefined) throw badRequest('the namespace of the object must be given in the request path');
    if (metadata.namespace !== undefined && metadata.namespace !== '' && metadata.namespace !== urlNamespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const ns = this.store.get(resourceKeyOf('', 'namespaces'), undefined, urlNamespace);
    if (!ns) throw notFound({ group: '', plural: 'namespaces', name: urlNamespace });
    if (creating && metadataOf(ns).deletionTimestamp) {
      throw forbidden(refOf(type, metadata.name ?? ''), `unable to create new content in namespace ${urlNamespace} because it is being terminated`);
    }
    return urlNamespace;
  }

  // ------------------------------------------------------------------ writes

  private recordWrite(type: ResourceType, verb: ApiWrite['verb'], object: JsonObject, context: WriteContext, subresource?: string): void {
    const metadata = metadataOf(object);
    this.writes.push({
      verb,
      apiVersion: apiVersionOf(type),
      kind: type.kind,
      ...(metadata.namespace !== undefined ? { namespace: metadata.namespace } : {}),
      name: metadata.name ?? '',
      ...(subresource ? { subresource } : {}),
      object: clone(object),
      ...(context.userAgent ? { userAgent: context.userAgent } : {}),
      ...(context.user ? { user: context.user } : {}),
    });
  }

  create(type: ResourceType, urlNamespace: string | undefined, body: unknown, context: WriteContext, verb: ApiWrite['verb'] = 'create'): JsonObject {
    const object = this.decode(type, body, context);
    const metadata = (object.metadata ??= {}) as ObjectMetadata;
    const namespace = this.checkNamespace(type, urlNamespace, object, true);
    if (!metadata.name) {
      if (!metadata.generateName) {
        throw invalid(refOf(type, ''), [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
      }
      metadata.name = `${metadata.generateName}${randomSuffix()}`;
    }
    if (this.store.get(resourceKeyOf(type.group, type.plural), namespace, metadata.name)) throw alreadyExists(refOf(type, metadata.name));
    if (type.statusSubresource) delete object.status;
    for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink', 'managedFields'] as const) {
      delete metadata[key as keyof ObjectMetadata];
    }
    if (namespace !== undefined) metadata.namespace = namespace;
    metadata.uid = randomUUID();
    metadata.creationTimestamp = timeNow();
    metadata.generation = 1;
    applyDefaults(type.group, type.kind, object);
    this.validate(type, object, undefined);
    if (type.group === 'apiextensions.k8s.io' && type.kind === 'CustomResourceDefinition') this.establishCrd(object);
    metadata.resourceVersion = String(this.store.nextResourceVersion());
    const stored = orderKeys(object);
    this.store.put(resourceKeyOf(type.group, type.plural), stored, 'ADDED');
    if (!context.internal) this.recordWrite(type, verb, stored, context);
    if (type.group === '' && type.kind === 'Namespace') {
      // The ServiceAccount controller's part: every namespace gets a `default` ServiceAccount.
      this.createInternal(this.typeOf('v1', 'serviceaccounts'), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: metadata.name } });
    }
    this.scheduleControllers();
    return stored;
  }

  private createInternal(type: ResourceType, body: JsonObject): JsonObject {
    return this.create(type, metadataOf(body).namespace, body, { internal: true, userAgent: undefined, fieldValidation: 'Strict', warnings: [] });
  }

  /**
   * PUT semantics: the body replaces the object (the main resource keeps the stored status; the
   * status subresource takes only the status). Enforces the resourceVersion precondition,
   * server-owned metadata, generation, finalizer rules and no-op detection.
   */
  update(
    type: ResourceType,
    urlNamespace: string | undefined,
    name: string,
    body: unknown,
    options: { context: WriteContext; subresource?: string | undefined; verb: ApiWrite['verb']; patched?: boolean },
  ): JsonObject {
    const current = this.mustGet(type, urlNamespace, name);
    const before = metadataOf(current);
    const incoming = this.decode(type, body, options.context);
    const inMeta = (incoming.metadata ??= {}) as ObjectMetadata;
    if (inMeta.name !== undefined && inMeta.name !== name) {
      throw badRequest(`the name of the object (${inMeta.name}) does not match the name on the URL (${name})`);
    }
    this.checkNamespace(type, urlNamespace, incoming, false);
    if (inMeta.resourceVersion !== undefined && inMeta.resourceVersion !== '' && inMeta.resourceVersion !== before.resourceVersion) {
      throw conflict(refOf(type, name));
    }
    if ((inMeta.resourceVersion === undefined || inMeta.resourceVersion === '') && !options.patched && type.custom) {
      throw invalid(refOf(type, name), [
        { reason: 'FieldValueInvalid', field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' },
      ]);
    }
    const next = options.subresource === 'status' ? withStatusOf(current, incoming) : this.mainResourceUpdate(type, current, incoming);
    const meta = metadataOf(next);
    if (meta.finalizers?.length === 0) delete meta.finalizers;
    meta.resourceVersion = before.resourceVersion;
    this.validate(type, next, current);
    if (type.group === 'apiextensions.k8s.io' && type.kind === 'CustomResourceDefinition') this.establishCrd(next);
    const ordered = orderKeys(next);
    if (isDeepStrictEqual(ordered, current)) return current;
    return this.storeUpdate(type, ordered, current, { context: options.context, verb: options.verb, subresource: options.subresource });
  }

  /**
   * The object a main-resource write stores: the body, with the stored status (when the kind has
   * a status subresource), the server-owned metadata kept, defaults, and generation bumped when
   * anything outside metadata (and status) changed.
   */
  private mainResourceUpdate(type: ResourceType, current: JsonObject, incoming: JsonObject): JsonObject {
    const before = metadataOf(current);
    const next = incoming;
    if (type.statusSubresource) {
      if (current.status === undefined) delete next.status;
      else next.status = clone(current.status);
    }
    const meta = metadataOf(next);
    for (const key of ['name', 'uid', 'creationTimestamp', 'generation', 'namespace', 'generateName', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
      if (before[key] === undefined) delete meta[key];
      else (meta as Record<string, unknown>)[key] = before[key];
    }
    delete meta.managedFields;
    applyDefaults(type.group, type.kind, next);
    const withStatus = !type.statusSubresource;
    if (!isDeepStrictEqual(specPart(next, withStatus), specPart(current, withStatus))) meta.generation = (before.generation ?? 1) + 1;
    return next;
  }

  /** Stores an updated object with the next resourceVersion, or removes it when its last finalizer went. */
  private storeUpdate(type: ResourceType, next: JsonObject, previous: JsonObject, write?: { context: WriteContext; verb: ApiWrite['verb']; subresource?: string | undefined }): JsonObject {
    const meta = metadataOf(next);
    meta.resourceVersion = String(this.store.nextResourceVersion());
    const resourceKey = resourceKeyOf(type.group, type.plural);
    if (meta.deletionTimestamp && (meta.finalizers ?? []).length === 0 && !(type.group === '' && type.kind === 'Namespace')) {
      this.store.remove(resourceKey, next);
      this.afterRemove(type, next);
    } else {
      this.store.put(resourceKey, next, 'MODIFIED', previous);
    }
    if (write) this.recordWrite(type, write.verb, next, write.context, write.subresource);
    this.scheduleControllers();
    return next;
  }

  patch(
    type: ResourceType,
    urlNamespace: string | undefined,
    name: string,
    text: string,
    options: { context: WriteContext; subresource?: string | undefined; contentType: string | undefined; query: URLSearchParams },
  ): { object: JsonObject; created: boolean } {
    const patchType = patchTypeOf(options.contentType);
    if (!patchType) throw unsupportedMediaType(options.contentType ?? '');
    if (patchType === 'strategic' && type.custom) throw unsupportedMediaType(options.contentType ?? '');
    checkPatchOptions(patchType, options.query);
    const body = parsePatchBody(text, patchType);
    const current = this.store.get(resourceKeyOf(type.group, type.plural), type.namespaced ? urlNamespace : undefined, name);
    if (!current) {
      if (patchType === 'apply' && !options.subresource) {
        if (isObject(body) && isObject(body.metadata) && body.metadata.name !== undefined && body.metadata.name !== name) {
          throw badRequest(`the name of the object (${scalarText(body.metadata.name)}) does not match the name on the URL (${name})`);
        }
        const withName = isObject(body) ? { ...body, metadata: { ...(isObject(body.metadata) ? body.metadata : {}), name } } : body;
        return { object: this.create(type, urlNamespace, withName, options.context, 'patch'), created: true };
      }
      throw notFound(refOf(type, name));
    }
    let patched: unknown;
    const currentRv = metadataOf(current).resourceVersion;
    switch (patchType) {
      case 'json':
        patched = applyJsonPatch(current, body);
        break;
      case 'strategic':
        patched = applyStrategicMergePatch(current, body);
        break;
      default:
        patched = applyMergePatch(current, body);
    }
    if (isObject(patched) && !isObject(patched.metadata)) patched.metadata = {};
    const patchedMeta = isObject(patched) ? metadataOf(patched) : {};
    // A resourceVersion the patch carries is a precondition; otherwise the patch is unconditional.
    if (patchedMeta.resourceVersion === undefined || patchedMeta.resourceVersion === '') patchedMeta.resourceVersion = currentRv;
    return { object: this.update(type, urlNamespace, name, patched, { context: options.context, subresource: options.subresource, verb: 'patch', patched: true }), created: false };
  }

  // ------------------------------------------------------------------ deletes

  private deleteOptions(body: unknown, query: URLSearchParams): { propagationPolicy?: string; preconditions?: { uid?: string; resourceVersion?: string } } {
    const options = isObject(body) ? body : {};
    const policy = (typeof options.propagationPolicy === 'string' ? options.propagationPolicy : undefined) ?? query.get('propagationPolicy') ?? undefined;
    if (options.orphanDependents === true && policy === undefined) return { propagationPolicy: 'Orphan' };
    if (policy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
      throw invalid({ group: 'meta.k8s.io', kind: 'DeleteOptions', plural: 'deleteoptions', name: '' }, [
        { reason: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan", "nil"` },
      ]);
    }
    const preconditions = isObject(options.preconditions) ? (options.preconditions as { uid?: string; resourceVersion?: string }) : undefined;
    return { ...(policy !== undefined ? { propagationPolicy: policy } : {}), ...(preconditions ? { preconditions } : {}) };
  }

  /**
   * DELETE: with finalizers (or a Foreground/Orphan policy, which add theirs) the object gets a
   * deletionTimestamp and stays; without, it goes at once. Answers the object (deleting) or a
   * Success Status (gone), as the real server does for most kinds.
   */
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: { propagationPolicy?: string; preconditions?: { uid?: string; resourceVersion?: string } },
    warnings: string[],
  ): JsonObject {
    const current = this.mustGet(type, namespace, name);
    const before = metadataOf(current);
    if (options.preconditions?.uid && options.preconditions.uid !== before.uid) {
      throw conflict(refOf(type, name), `Precondition failed: UID in precondition: ${options.preconditions.uid}, UID in object meta: ${before.uid ?? ''}`);
    }
    if (options.preconditions?.resourceVersion && options.preconditions.resourceVersion !== before.resourceVersion) {
      throw conflict(refOf(type, name), `Precondition failed: ResourceVersion in precondition: ${options.preconditions.resourceVersion}, ResourceVersion in object meta: ${before.resourceVersion ?? ''}`);
    }
    if (before.deletionTimestamp) return current;
    const next = clone(current);
    const meta = metadataOf(next);
    if (type.group === '' && type.kind === 'Namespace') {
      meta.deletionTimestamp = timeNow();
      meta.deletionGracePeriodSeconds = 0;
      next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
      return this.storeUpdate(type, next, current);
    }
    let policy = options.propagationPolicy;
    if (policy === undefined && type.group === 'batch' && type.kind === 'Job') {
      policy = 'Orphan';
      warnings.push('child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning');
    }
    const finalizers = [...(meta.finalizers ?? [])];
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (finalizers.length > 0) {
      meta.finalizers = finalizers;
      meta.deletionTimestamp = timeNow();
      meta.deletionGracePeriodSeconds = 0;
      meta.generation = (meta.generation ?? 1) + 1;
      return this.storeUpdate(type, next, current);
    }
    meta.resourceVersion = String(this.store.nextResourceVersion());
    this.store.remove(resourceKeyOf(type.group, type.plural), next);
    this.afterRemove(type, next);
    this.scheduleControllers();
    if (type.group === '' && type.kind === 'Pod') return next;
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: type.group, kind: type.plural, uid: meta.uid } };
  }

  private afterRemove(type: ResourceType, last: JsonObject): void {
    if (type.group === 'apiextensions.k8s.io' && type.kind === 'CustomResourceDefinition') {
      const crdName = metadataOf(last).name ?? '';
      for (const served of resourcesFromCrd(last)) {
        const key = resourceKeyOf(served.group, served.plural);
        for (const object of this.store.list(key)) {
          const gone = clone(object);
          metadataOf(gone).resourceVersion = String(this.store.nextResourceVersion());
          this.store.remove(key, gone);
        }
      }
      this.unregisterCrd(crdName);
    }
  }

  // ------------------------------------------------------------------ CRDs

  private establishCrd(crd: JsonObject): void {
    const spec = isObject(crd.spec) ? crd.spec : {};
    const names = isObject(spec.names) ? spec.names : {};
    const now = timeNow();
    const condition = (type: string, reason: string, message: string): JsonObject => ({ type, status: 'True', lastTransitionTime: now, reason, message });
    const previous = isObject(crd.status) && Array.isArray(crd.status.conditions) ? (crd.status.conditions as JsonObject[]) : [];
    const keep = (c: JsonObject): JsonObject => previous.find((p) => p.type === c.type && p.status === 'True') ?? c;
    crd.status = {
      acceptedNames: { ...names, singular: names.singular ?? scalarText(names.kind).toLowerCase(), listKind: names.listKind ?? `${scalarText(names.kind)}List` },
      conditions: [keep(condition('NamesAccepted', 'NoConflicts', 'no conflicts found')), keep(condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'))],
      storedVersions: (Array.isArray(spec.versions) ? (spec.versions as JsonObject[]) : []).filter((v) => v.storage === true).map((v) => String(v.name)),
    };
    this.unregisterCrd(metadataOf(crd).name ?? '');
    for (const served of resourcesFromCrd(crd)) this.register(served);
  }

  // ------------------------------------------------------------------ watch

  /**
   * A watch: events after `resourceVersion` replayed from history (or an ADDED per object when it
   * is unset or "0"), then live ones, filtered by namespace, selectors and (the legacy
   * `.../<name>?watch=true` form) name; 410 Expired as an ERROR event when history is gone.
   */
  private watch(req: IncomingMessage, res: ServerResponse, url: URL, target: Omit<ResourcePath, 'subresource'>): void {
    const { type, namespace, name } = target;
    const query = url.searchParams;
    const { labels, fields } = this.selectors(type, query.get('labelSelector'), query.get('fieldSelector'));
    const resourceKey = resourceKeyOf(type.group, type.plural);
    const table = wantsTable(req);
    const includeObject = query.get('includeObject');
    const matches = (o: JsonObject): boolean =>
      (!type.namespaced || namespace === undefined || metadataOf(o).namespace === namespace) &&
      (name === undefined || metadataOf(o).name === name) &&
      labels.matches(metadataOf(o).labels) &&
      fields.matches(o);
    const rvParam = query.get('resourceVersion');
    let replay: StoredEvent[] | undefined = [];
    if (rvParam && rvParam !== '0') {
      if (!/^\d+$/.test(rvParam)) throw badRequest(`invalid resource version: ${rvParam}`);
      replay = this.store.eventsSince(Number(rvParam));
    }
    res.writeHead(200, { 'Content-Type': JSON_TYPE, 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
    // Send the headers now: clients wait for them before streaming, even when no event is due.
    res.flushHeaders();
    const write = (eventType: string, object: JsonObject): void => {
      if (res.writableEnded || res.destroyed) return;
      const wire = table ? toTable(type, [object], { resourceVersion: metadataOf(object).resourceVersion ?? '', includeObject }) : object;
      res.write(`${JSON.stringify({ type: eventType, object: wire })}\n`);
    };
    if (replay === undefined) {
      const gone = expired(`too old resource version: ${rvParam ?? ''} (${this.store.oldestWatchable + 1})`);
      res.end(`${JSON.stringify({ type: 'ERROR', object: gone.toStatus() })}\n`);
      return;
    }
    const deliver = (event: StoredEvent): void => {
      if (event.resourceKey !== resourceKey) return;
      const now = matches(event.object);
      if (event.type === 'MODIFIED') {
        const was = event.previous !== undefined && matches(event.previous);
        if (was && now) write('MODIFIED', event.object);
        else if (!was && now) write('ADDED', event.object);
        else if (was && !now) write('DELETED', event.object);
      } else if (now) write(event.type, event.object);
    };
    if (!rvParam || rvParam === '0') {
      for (const object of this.store.list(resourceKey)) if (matches(object)) write('ADDED', object);
    } else {
      for (const event of replay) deliver(event);
    }
    const unsubscribe = this.store.subscribe(deliver);
    this.watches.add(res);
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    const timer = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
    const cleanup = (): void => {
      unsubscribe();
      this.watches.delete(res);
      if (timer) clearTimeout(timer);
    };
    res.on('close', cleanup);
    res.on('finish', cleanup);
  }

  dropWatches(): void {
    for (const res of [...this.watches]) res.end();
  }

  // ------------------------------------------------------------------ controllers

  /** Runs the garbage collector and namespace controller after the current request. */
  private scheduleControllers(): void {
    if (this.controllersScheduled || this.stopped) return;
    this.controllersScheduled = true;
    setImmediate(() => {
      this.controllersScheduled = false;
      if (this.stopped) return;
      try {
        for (let round = 0; round < 100 && this.runControllers(); round++);
      } catch (err) {
        // A controller bug must not take the process down; tests see it in the state.
        process.emitWarning(`test API server controllers: ${(err as Error).stack ?? String(err)}`);
      }
    });
  }

  private internalDelete(resourceKey: string, object: JsonObject, propagationPolicy: string): void {
    const type = this.typeByResourceKey(resourceKey);
    if (!type) return;
    const metadata = metadataOf(object);
    this.delete(type, metadata.namespace, metadata.name ?? '', { propagationPolicy }, []);
  }

  private internalUpdate(resourceKey: string, next: JsonObject, previous: JsonObject): void {
    const type = this.typeByResourceKey(resourceKey);
    if (!type) return;
    this.storeUpdate(type, orderKeys(next), previous);
  }

  /** One pass of garbage collection and namespace cleanup; true when it changed anything. */
  private runControllers(): boolean {
    const all = [...this.store.all()];
    return this.finalizeOwners(all) || this.collectDependents(all) || this.cleanNamespaces(all);
  }

  /**
   * Owners deleted with propagationPolicy Orphan (finalizer `orphan`): their dependents lose the
   * ownerReference, then the finalizer goes. Foreground (`foregroundDeletion`): dependents are
   * deleted first; the finalizer goes once no dependent with blockOwnerDeletion remains.
   */
  private finalizeOwners(all: StoredEntry[]): boolean {
    const dependentsOf = (uid: string | undefined): StoredEntry[] => all.filter((e) => (metadataOf(e.object).ownerReferences ?? []).some((r) => r.uid === uid));
    const dropFinalizer = ({ resourceKey, object }: StoredEntry, finalizer: string): void => {
      const next = clone(object);
      metadataOf(next).finalizers = (metadataOf(object).finalizers ?? []).filter((f) => f !== finalizer);
      this.internalUpdate(resourceKey, next, object);
    };
    for (const entry of all) {
      const meta = metadataOf(entry.object);
      const finalizers = meta.deletionTimestamp ? (meta.finalizers ?? []) : [];
      if (finalizers.includes('orphan')) {
        for (const dependent of dependentsOf(meta.uid)) {
          const next = clone(dependent.object);
          const refs = (metadataOf(next).ownerReferences ?? []).filter((r) => r.uid !== meta.uid);
          if (refs.length > 0) metadataOf(next).ownerReferences = refs;
          else delete metadataOf(next).ownerReferences;
          this.internalUpdate(dependent.resourceKey, next, dependent.object);
        }
        dropFinalizer(entry, 'orphan');
        return true;
      }
      if (finalizers.includes('foregroundDeletion')) {
        const dependents = dependentsOf(meta.uid);
        const waiting = dependents.filter((d) => !metadataOf(d.object).deletionTimestamp);
        for (const dependent of waiting) this.internalDelete(dependent.resourceKey, dependent.object, 'Foreground');
        const blocking = dependents.some((d) => (metadataOf(d.object).ownerReferences ?? []).some((r) => r.uid === meta.uid && r.blockOwnerDeletion === true));
        if (!blocking) dropFinalizer(entry, 'foregroundDeletion');
        if (!blocking || waiting.length > 0) return true;
      }
    }
    return false;
  }

  /** Background collection: an object whose owners are all gone is deleted. */
  private collectDependents(all: StoredEntry[]): boolean {
    const uids = new Set(all.map((e) => metadataOf(e.object).uid));
    for (const { resourceKey, object } of all) {
      const meta = metadataOf(object);
      const refs = meta.ownerReferences ?? [];
      if (refs.length > 0 && !meta.deletionTimestamp && refs.every((r) => !uids.has(r.uid))) {
        this.internalDelete(resourceKey, object, 'Background');
        return true;
      }
    }
    return false;
  }

  /** A Terminating namespace: delete everything in it; once empty, the namespace goes. */
  private cleanNamespaces(all: StoredEntry[]): boolean {
    const namespacesKey = resourceKeyOf('', 'namespaces');
    for (const ns of this.store.list(namespacesKey)) {
      const nsMeta = metadataOf(ns);
      if (!nsMeta.deletionTimestamp) continue;
      const inside = all.filter((e) => e.resourceKey !== namespacesKey && metadataOf(e.object).namespace === nsMeta.name);
      const live = inside.filter((e) => !metadataOf(e.object).deletionTimestamp);
      for (const entry of live) this.internalDelete(entry.resourceKey, entry.object, 'Background');
      if (live.length > 0) return true;
      if (inside.length === 0) {
        const last = clone(ns);
        metadataOf(last).resourceVersion = String(this.store.nextResourceVersion());
        last.spec = { ...(isObject(last.spec) ? last.spec : {}), finalizers: [] };
        this.store.remove(namespacesKey, last);
        return true;
      }
    }
    return false;
  }

  // ------------------------------------------------------------------ lifecycle

  stop(): void {
    this.stopped = true;
    this.dropWatches();
  }
}

/**
 * Who a request comes from: the user kubectl's `--as` impersonates, else the bearer token, which
 * stands for the user name (a ServiceAccount token would say `system:serviceaccount:<ns>:<name>`);
 * undefined for a request without credentials.
 */
function identify(req: IncomingMessage): string | undefined {
  const impersonated = req.headers['impersonate-user'];
  if (typeof impersonated === 'string' && impersonated !== '') return impersonated;
  return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
}

/** The ServiceAccount a user name stands for (`system:serviceaccount:<ns>:<name>`), if any. */
function serviceAccountOf(user: string | undefined): ServiceAccountRef | undefined {
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user ?? '');
  return match ? { namespace: match[1] ?? '', name: match[2] ?? '' } : undefined;
}

/** The real server's 403 message for a denied request. */
function forbiddenMessage(user: string, request: RbacRequest): string {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const qualified = `${resource}${request.group ? `.${request.group}` : ''}`;
  const what = request.name ? `${qualified} "${request.name}"` : qualified;
  const where = request.namespace !== undefined ? ` in the namespace "${request.namespace}"` : ' at the cluster scope';
  return `${what} is forbidden: User "${user}" cannot ${request.verb} resource "${resource}" in API group "${request.group}"${where}`;
}

/** The RBAC verb of a resource request. */
function verbOf(method: string, named: boolean, query: URLSearchParams): RequestVerb | undefined {
  switch (method) {
    case 'GET':
      if (query.get('watch') === 'true' || query.get('watch') === '1') return 'watch';
      return named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

/** APIResourceList entries of a type: the resource plus its subresources. */
function discoveryEntries(type: ResourceType): JsonObject[] {
  const verbs = type.verbs ?? ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  const entries: JsonObject[] = [
    {
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs,
      ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
      ...(type.categories.length > 0 ? { categories: type.categories } : {}),
      storageVersionHash: type.kind,
    },
  ];
  if (type.statusSubresource) entries.push({ name: `${type.plural}/status`, singularName: '', namespaced: type.namespaced, kind: type.kind, verbs: ['get', 'patch', 'update'] });
  for (const sub of type.getSubresources) entries.push({ name: `${type.plural}/${sub}`, singularName: '', namespaced: type.namespaced, kind: sub === 'log' ? 'Pod' : type.kind, verbs: ['get'] });
  return entries;
}

/** apiVersion, kind, metadata, spec first, status last (as the real server serializes). */
function orderKeys(object: JsonObject): JsonObject {
  const { apiVersion, kind, metadata, ...rest } = object;
  const { status, ...others } = rest;
  return { apiVersion, kind, metadata, ...others, ...(status !== undefined ? { status } : {}) };
}

function crdCauses(crd: JsonObject): StatusCause[] {
  const spec = isObject(crd.spec) ? crd.spec : {};
  const names = isObject(spec.names) ? spec.names : {};
  const expected = `${scalarText(names.plural)}.${scalarText(spec.group)}`;
  const name = metadataOf(crd).name ?? '';
  if (name !== expected) return [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: must be spec.names.plural+"."+spec.group` }];
  return [];
}

function tokenFor(options: KubeconfigOptions): string | undefined {
  const sa = options.serviceAccount;
  return options.token ?? (sa ? `system:serviceaccount:${sa.namespace}:${sa.name}` : undefined);
}

/** The client-node kubeconfig objects for a server URL (plain http needs skipTLSVerify). */
function kubeConfigFor(url: string, options: KubeconfigOptions = {}): KubeConfig {
  const config = new KubeConfig();
  const token = tokenFor(options);
  config.loadFromOptions({
    clusters: [{ name: 'test', server: url, skipTLSVerify: true }],
    users: [{ name: 'test', ...(token ? { token } : {}) }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test', namespace: 'default' }],
    currentContext: 'test',
  });
  return config;
}

/** Starts the fake API server on 127.0.0.1; `stop()` it when done. */
export async function startApiServer(options: ApiServerOptions = {}): Promise<TestApiServer> {
  const fake = new FakeApiServer(options.historyLimit ?? 10_000, options.enforceRbac ?? false);
  const server = createServer((req, res) => {
    void fake.handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async writeKubeconfig(path: string, kubeconfigOptions: KubeconfigOptions = {}): Promise<void> {
      const token = tokenFor(kubeconfigOptions);
      const yaml = toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'test', user: token ? { token } : {} }],
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
        'current-context': 'test',
        preferences: {},
      });
      await writeFile(path, yaml, { mode: 0o600 });
    },
    kubeConfig: (kubeconfigOptions) => kubeConfigFor(url, kubeconfigOptions),
    authorize: (serviceAccount, request) => fake.authorize(serviceAccount, request),
    compactHistory: () => fake.store.compact(),
    dropWatches: () => fake.dropWatches(),
    writes: fake.writes,
    requests: fake.requests,
    get(apiVersion, kind, namespace, name) {
      const type = fake.typeByKind(apiVersion, kind);
      if (!type) return undefined;
      const object = fake.store.get(resourceKeyOf(type.group, type.plural), type.namespaced ? namespace : undefined, name);
      return object === undefined ? undefined : clone(object);
    },
    list(apiVersion, kind, namespace) {
      const type = fake.typeByKind(apiVersion, kind);
      if (!type) return [];
      return fake.store.list(resourceKeyOf(type.group, type.plural), type.namespaced ? namespace : undefined).map(clone);
    },
    setPodLogSource: (source) => fake.setPodLogSource(source),
    async stop(): Promise<void> {
      fake.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
