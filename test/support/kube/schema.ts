/**
 * Schema checks of written objects, as the kube-apiserver applies them on create, update and patch:
 * - Custom resources: the CRD version's structural schema. Unknown fields are pruned (kept under
 *   `x-kubernetes-preserve-unknown-fields`), then the object is validated with ajv (types, enums,
 *   required, `x-kubernetes-int-or-string`, `nullable`, bounds, patterns).
 * - Built-in kinds: the published Kubernetes OpenAPI schemas, through kubernetes-models' compiled
 *   validators; unknown fields are found (and pruned) from @kubernetes/client-node's generated
 *   models, whose attribute maps list every field of every built-in type. Those maps also tell
 *   `metav1.Time` fields (stored at whole seconds) from `MicroTime` ones (exactly 6 fraction
 *   digits on the wire, else 400).
 *
 * Causes use the real server's wording, so that messages name the field path:
 * `spec.triggeredBy: Unsupported value: "x": supported values: "schedule", "manual"`.
 */
import * as k8s from '@kubernetes/client-node';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { validate as validateNamespace } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace';
import { validate as validatePod } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Pod';
import { validate as validateSecret } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret';
import { validate as validateServiceAccount } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ServiceAccount';
import { validate as validatePvc } from 'kubernetes-models/_schemas/IoK8sApiCoreV1PersistentVolumeClaim';
import { validate as validateCoreEvent } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Event';
import { validate as validateConfigMap } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap';
import { validate as validateService } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service';
import { validate as validateJob } from 'kubernetes-models/_schemas/IoK8sApiBatchV1Job';
import { validate as validateCronJob } from 'kubernetes-models/_schemas/IoK8sApiBatchV1CronJob';
import { validate as validateLease } from 'kubernetes-models/_schemas/IoK8sApiCoordinationV1Lease';
import { validate as validateEvent } from 'kubernetes-models/_schemas/IoK8sApiEventsV1Event';
import { validate as validateRole } from 'kubernetes-models/_schemas/IoK8sApiRbacV1Role';
import { validate as validateRoleBinding } from 'kubernetes-models/_schemas/IoK8sApiRbacV1RoleBinding';
import { validate as validateClusterRole } from 'kubernetes-models/_schemas/IoK8sApiRbacV1ClusterRole';
import { validate as validateClusterRoleBinding } from 'kubernetes-models/_schemas/IoK8sApiRbacV1ClusterRoleBinding';
import { validate as validateDeployment } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment';
import { validate as validateCrd } from 'kubernetes-models/_schemas/IoK8sApiextensionsApiserverPkgApisApiextensionsV1CustomResourceDefinition';
import { fieldPath, type StatusCause } from './status.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** kubernetes-models' validators: ajv standalone code, errors in ajv's shape. */
interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

const BUILT_IN_VALIDATORS: Record<string, { validate: CompiledValidator; model: string }> = {
  'v1/Namespace': { validate: validateNamespace, model: 'V1Namespace' },
  'v1/Pod': { validate: validatePod, model: 'V1Pod' },
  'v1/Secret': { validate: validateSecret, model: 'V1Secret' },
  'v1/ServiceAccount': { validate: validateServiceAccount, model: 'V1ServiceAccount' },
  'v1/PersistentVolumeClaim': { validate: validatePvc, model: 'V1PersistentVolumeClaim' },
  'v1/Event': { validate: validateCoreEvent, model: 'CoreV1Event' },
  'v1/ConfigMap': { validate: validateConfigMap, model: 'V1ConfigMap' },
  'v1/Service': { validate: validateService, model: 'V1Service' },
  'batch/v1/Job': { validate: validateJob, model: 'V1Job' },
  'batch/v1/CronJob': { validate: validateCronJob, model: 'V1CronJob' },
  'coordination.k8s.io/v1/Lease': { validate: validateLease, model: 'V1Lease' },
  'events.k8s.io/v1/Event': { validate: validateEvent, model: 'EventsV1Event' },
  'rbac.authorization.k8s.io/v1/Role': { validate: validateRole, model: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { validate: validateRoleBinding, model: 'V1RoleBinding' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { validate: validateClusterRole, model: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { validate: validateClusterRoleBinding, model: 'V1ClusterRoleBinding' },
  'apps/v1/Deployment': { validate: validateDeployment, model: 'V1Deployment' },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': { validate: validateCrd, model: 'V1CustomResourceDefinition' },
};

/** Whether this module knows the built-in kind (`apiVersion` + `kind`). */
export function isKnownBuiltIn(apiVersion: unknown, kind: unknown): boolean {
  return typeof apiVersion === 'string' && typeof kind === 'string' && `${apiVersion}/${kind}` in BUILT_IN_VALIDATORS;
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    value = isObject(value) ? value[part] : Array.isArray(value) ? value[Number(part)] : undefined;
  }
  return value;
}

/** Go's %v-ish rendering the real server uses in "Invalid value: …". */
function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : value !== null && typeof value === 'object' ? `"${jsonTypeOf(value)}"` : String(value);
}

/** Turns ajv errors into causes worded like the kube-apiserver's. */
export function causesFromAjv(errors: readonly ErrorObject[], root: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    // Type errors inside an anyOf (int-or-string) are reported once, by the anyOf error.
    if (e.schemaPath.includes('/anyOf/') && anyOfPaths.has(e.instancePath)) continue;
    const path = fieldPath(e.instancePath);
    const value = valueAt(root, e.instancePath);
    const at = path === '' ? '<root>' : path;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required': {
        const missing = String(params.missingProperty);
        causes.push({ reason: 'FieldValueRequired', field: path ? `${path}.${missing}` : missing, message: 'Required value' });
        break;
      }
      case 'enum': {
        const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
        causes.push({ reason: 'FieldValueNotSupported', field: at, message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed}` });
        break;
      }
      case 'type': {
        const want = Array.isArray(params.type) ? (params.type as string[]).filter((t) => t !== 'null').join(',') : String(params.type);
        causes.push({ reason: 'FieldValueTypeInvalid', field: at, message: `Invalid value: "${jsonTypeOf(value)}": ${at} in body must be of type ${want}: ${show(value)}` });
        break;
      }
      case 'anyOf':
        causes.push({ reason: 'FieldValueTypeInvalid', field: at, message: `Invalid value: "${jsonTypeOf(value)}": ${at} in body must be of type integer,string: ${show(value)}` });
        break;
      default:
        causes.push({ reason: 'FieldValueInvalid', field: at, message: `Invalid value: ${show(value)}: ${at} in body ${wording(e)}` });
    }
  }
  return causes;
}

function wording(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'minimum':
      return `should be greater than or equal to ${String(p.limit)}`;
    case 'maximum':
      return `should be less than or equal to ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `should be greater than ${String(p.limit)}`;
    case 'exclusiveMaximum':
      return `should be less than ${String(p.limit)}`;
    case 'minLength':
      return `should be at least ${String(p.limit)} chars long`;
    case 'maxLength':
      return `may not be longer than ${String(p.limit)}`;
    case 'pattern':
      return `should match '${String(p.pattern)}'`;
    case 'minItems':
      return `should have at least ${String(p.limit)} items`;
    case 'maxItems':
      return `must have at most ${String(p.limit)} items`;
    case 'format':
      return `must be of type ${String(p.format)}`;
    default:
      return e.message ?? e.keyword;
  }
}

// ---------------------------------------------------------------- custom resources

/** Rewrites a structural schema's Kubernetes extensions into plain JSON Schema for ajv. */
function toAjvSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toAjvSchema);
  if (!isObject(schema)) return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'nullable' || key === 'default' || key === 'example' || key === 'description') continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toAjvSchema(v)]));
    } else out[key] = toAjvSchema(value);
  }
  if (schema['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (schema.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
// The formats the Kubernetes OpenAPI schemas use; the server checks date-time strictly.
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i);
for (const name of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'date', 'password', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'duration', 'quantity']) {
  ajv.addFormat(name, true);
}
const compiled = new WeakMap<object, ValidateFunction>();

function compile(schema: unknown): ValidateFunction {
  const key = isObject(schema) ? schema : {};
  let fn = compiled.get(key);
  if (!fn) {
    fn = ajv.compile(toAjvSchema(schema) as object);
    compiled.set(key, fn);
  }
  return fn;
}

function prune(value: unknown, schema: unknown, path: string, unknown: string[]): void {
  if (!isObject(schema)) return;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (Array.isArray(value)) {
    value.forEach((item, i) => prune(item, schema.items, `${path}[${i}]`, unknown));
    return;
  }
  if (!isObject(value)) return;
  if (schema['x-kubernetes-embedded-resource'] === true && preserve) return;
  const properties = isObject(schema.properties) ? schema.properties : undefined;
  const additional = isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
  for (const key of Object.keys(value)) {
    const child = path === '' ? key : `${path}.${key}`;
    if (properties && key in properties) prune(value[key], properties[key], child, unknown);
    else if (additional) prune(value[key], additional, child, unknown);
    else if (!preserve && schema.additionalProperties !== true) {
      delete value[key];
      unknown.push(child);
    }
  }
}

/**
 * Prunes a custom resource in place against its CRD version's schema and returns the dotted
 * paths of the unknown fields removed. `apiVersion`, `kind` and `metadata` are the server's.
 */
export function pruneCustomResource(object: JsonObject, schema: unknown): string[] {
  const unknown: string[] = [];
  if (!isObject(schema)) return unknown;
  const properties = isObject(schema.properties) ? schema.properties : {};
  for (const key of Object.keys(object)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
    if (key in properties) prune(object[key], properties[key], key, unknown);
    else if (schema['x-kubernetes-preserve-unknown-fields'] !== true) {
      delete object[key];
      unknown.push(key);
    }
  }
  return unknown;
}

function applyDefaults(value: unknown, schema: unknown): void {
  if (!isObject(schema)) return;
  if (Array.isArray(value)) {
    for (const item of value) applyDefaults(item, schema.items);
    return;
  }
  if (!isObject(value)) return;
  const properties = isObject(schema.properties) ? schema.properties : {};
  for (const [key, child] of Object.entries(properties)) {
    if (value[key] === undefined && isObject(child) && child.default !== undefined) value[key] = structuredClone(child.default);
    if (value[key] !== undefined) applyDefaults(value[key], child);
  }
  if (isObject(schema.additionalProperties)) {
    for (const key of Object.keys(value)) if (!(key in properties)) applyDefaults(value[key], schema.additionalProperties);
  }
}

/**
 * Sets the structural schema's `default`s on a (pruned) custom resource, in place, as the server
 * does on every write (missing fields only; `metadata` is the server's).
 */
export function defaultCustomResource(object: JsonObject, schema: unknown): void {
  if (!isObject(schema)) return;
  const { metadata } = object;
  delete object.metadata;
  applyDefaults(object, schema);
  if (metadata !== undefined) object.metadata = metadata;
}

/** Validates a (pruned) custom resource against its schema; [] when valid. */
export function customResourceCauses(object: JsonObject, schema: unknown): StatusCause[] {
  if (!isObject(schema)) return [];
  const { metadata: _metadata, ...rest } = object;
  const properties = isObject(schema.properties) ? { ...schema.properties } : {};
  delete properties.metadata;
  const validate = compile({ ...schema, properties });
  return validate(rest) ? [] : causesFromAjv(validate.errors ?? [], rest);
}

// ---------------------------------------------------------------- built-in kinds

type AttributeMap = { baseName: string; type: string; format: string }[];

function modelAttributes(typeName: string): AttributeMap | undefined {
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>)[typeName];
  return typeof model?.getAttributeTypeMap === 'function' ? model.getAttributeTypeMap() : undefined;
}

/** Problems with `metav1.Time`/`MicroTime` strings, found while walking. */
export interface TimeProblem {
  path: string;
  value: string;
  micro: boolean;
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function walkModel(value: unknown, type: string, format: string, path: string, found: { unknown: string[]; times: TimeProblem[] }): unknown {
  if (value === null || value === undefined) return value;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    return Array.isArray(value) ? value.map((item, i) => walkModel(item, array[1] ?? 'any', format, `${path}[${i}]`, found)) : value;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walkModel(v, map[1] ?? 'any', format, `${path}.${k}`, found)]));
  }
  if (format === 'date-time' || format === 'date-time-micro' || type === 'V1MicroTime') {
    if (typeof value !== 'string') return value;
    const micro = format === 'date-time-micro' || type === 'V1MicroTime';
    if (micro ? !MICRO_TIME.test(value) : !TIME.test(value)) {
      found.times.push({ path, value, micro });
      return value;
    }
    // metav1.Time is stored (and served) at whole seconds.
    return micro ? value : new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  const attributes = modelAttributes(type);
  if (!attributes || !isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === key);
    const childPath = path === '' ? key : `${path}.${key}`;
    if (!attribute) found.unknown.push(childPath);
    else out[key] = walkModel(child, attribute.type, attribute.format, childPath, found);
  }
  return out;
}

/**
 * Normalizes a built-in object the way decoding into the server's Go types does: drops unknown
 * fields (returned as dotted paths), stores `metav1.Time` at whole seconds, and reports time
 * strings that do not parse (MicroTime needs exactly 6 fraction digits).
 */
export function decodeBuiltIn(object: JsonObject): { object: JsonObject; unknown: string[]; times: TimeProblem[] } {
  const entry = BUILT_IN_VALIDATORS[`${String(object.apiVersion)}/${String(object.kind)}`];
  const found = { unknown: [] as string[], times: [] as TimeProblem[] };
  if (!entry) return { object, ...found };
  const decoded = walkModel(object, entry.model, '', '', found) as JsonObject;
  return { object: decoded, ...found };
}

/** kubernetes-models' validation of a built-in kind; [] when valid or the kind is unknown. */
export function builtInCauses(object: JsonObject): StatusCause[] {
  const entry = BUILT_IN_VALIDATORS[`${String(object.apiVersion)}/${String(object.kind)}`];
  if (!entry) return [];
  return entry.validate(object) ? [] : causesFromAjv(entry.validate.errors ?? [], object);
}
