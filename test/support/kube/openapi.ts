/**
 * `/openapi/v3`: the index of group-versions and one OpenAPI 3 document per group-version.
 *
 * kubectl reads these before `create -f`/`apply -f`: when a resource's PATCH operation (tagged
 * with `x-kubernetes-group-version-kind`) declares the `fieldValidation` query parameter, kubectl
 * leaves validation to the server (`?fieldValidation=Strict`), which this server does. `kubectl
 * apply` picks strategic merge only when the PATCH operation lists that media type; built-in kinds
 * here do not (there is no published JSON schema to go with it), so kubectl falls back to its own
 * compiled-in types for them, and to a JSON merge patch for custom resources, as with CRDs.
 * Custom resources also get their schema (from the CRD) under `components.schemas`.
 */
import { createHash } from 'node:crypto';
import { apiVersionOf, type ResourceType } from './resources.js';
import type { JsonObject } from './store.js';

function reversedGroup(group: string): string {
  return group === '' ? 'io.k8s.api.core' : group.split('.').reverse().join('.');
}

/** The `components.schemas` key of a kind, as the real server names CRD schemas. */
export function schemaName(type: ResourceType): string {
  return `${reversedGroup(type.group)}.${type.version}.${type.kind}`;
}

function queryParameter(name: string, description: string): JsonObject {
  return { name, in: 'query', description, schema: { type: name === 'force' ? 'boolean' : 'string' } };
}

const WRITE_PARAMETERS = [
  queryParameter('dryRun', 'When present, indicates that modifications should not be persisted.'),
  queryParameter('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  queryParameter('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.'),
];

function operations(type: ResourceType, item: boolean): JsonObject {
  const gvk = { group: type.group, version: type.version, kind: type.kind };
  const ref = { $ref: `#/components/schemas/${schemaName(type)}` };
  const body = { content: { '*/*': { schema: ref } }, required: true };
  const ok = { responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } } };
  const common = { 'x-kubernetes-group-version-kind': gvk, tags: [apiVersionOf(type)] };
  if (!item) {
    return {
      get: { ...common, operationId: `list${type.kind}`, 'x-kubernetes-action': 'list', ...ok },
      post: { ...common, operationId: `create${type.kind}`, 'x-kubernetes-action': 'post', parameters: WRITE_PARAMETERS, requestBody: body, ...ok },
      delete: { ...common, operationId: `deletecollection${type.kind}`, 'x-kubernetes-action': 'deletecollection', ...ok },
    };
  }
  return {
    get: { ...common, operationId: `read${type.kind}`, 'x-kubernetes-action': 'get', ...ok },
    put: { ...common, operationId: `replace${type.kind}`, 'x-kubernetes-action': 'put', parameters: WRITE_PARAMETERS, requestBody: body, ...ok },
    patch: {
      ...common,
      operationId: `patch${type.kind}`,
      'x-kubernetes-action': 'patch',
      parameters: [...WRITE_PARAMETERS, queryParameter('force', 'Force is going to "force" Apply requests.')],
      requestBody: {
        content: {
          'application/json-patch+json': { schema: { type: 'object' } },
          'application/merge-patch+json': { schema: { type: 'object' } },
          'application/apply-patch+yaml': { schema: { type: 'object' } },
        },
        required: true,
      },
      ...ok,
    },
    delete: { ...common, operationId: `delete${type.kind}`, 'x-kubernetes-action': 'delete', ...ok },
  };
}

function basePath(type: ResourceType): string {
  return type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
}

/** The OpenAPI document of one group-version. */
export function groupVersionDocument(types: readonly ResourceType[]): JsonObject {
  const paths: JsonObject = {};
  const schemas: JsonObject = {
    'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta': { type: 'object', description: 'ObjectMeta is metadata that all persisted resources must have.' },
  };
  for (const type of types) {
    const scope = type.namespaced ? '/namespaces/{namespace}' : '';
    paths[`${basePath(type)}${scope}/${type.plural}`] = operations(type, false);
    paths[`${basePath(type)}${scope}/${type.plural}/{name}`] = operations(type, true);
    const gvk = [{ group: type.group, version: type.version, kind: type.kind }];
    const custom = type.custom?.schema;
    const base = custom !== null && typeof custom === 'object' ? (custom as JsonObject) : { type: 'object' };
    const properties = (base.properties as JsonObject | undefined) ?? {};
    schemas[schemaName(type)] = {
      ...base,
      type: 'object',
      properties: {
        ...properties,
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { allOf: [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' }] },
      },
      'x-kubernetes-group-version-kind': gvk,
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.0' }, paths, components: { schemas } };
}

/** `/openapi/v3`: each group-version's document URL, with a content hash so clients refetch on change. */
export function openApiIndex(groupVersions: ReadonlyMap<string, readonly ResourceType[]>): JsonObject {
  const paths: JsonObject = {};
  for (const [apiVersion, types] of groupVersions) {
    const key = apiVersion.includes('/') ? `apis/${apiVersion}` : `api/${apiVersion}`;
    const hash = createHash('sha512').update(JSON.stringify(groupVersionDocument(types))).digest('hex').slice(0, 128).toUpperCase();
    paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
  }
  return { paths };
}
