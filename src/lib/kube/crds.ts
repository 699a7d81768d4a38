/**
 * The CustomResourceDefinitions of `crds/`, built from the zod schemas of resources.ts (and so from
 * the schema that validates `bloodraven.yaml`). zod writes JSON Schema 2020-12; an API server takes
 * only a *structural* OpenAPI v3 schema, so toStructuralSchema rewrites it: every node typed, no
 * `$ref`, `const`, `propertyNames` or `additionalProperties: false`, unions of objects merged into
 * one object, string-or-number as `x-kubernetes-int-or-string`, open objects as
 * `x-kubernetes-preserve-unknown-fields`. `npm run crds` writes the files; a unit test fails when
 * they and the schemas drift apart.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  apiGroup,
  apiVersionName,
  backupKind,
  verificationKind,
  verificationPlural,
  verificationSpecSchema,
  verificationStatusSchema,
  backupPlural,
  backupSpecSchema,
  backupStatusSchema,
  failoverGroupKind,
  failoverGroupPlural,
  failoverGroupSpecSchema,
  failoverGroupStatusSchema,
} from './resources.js';

/** A JSON value as a schema's default or enum holds it (no null: no field here defaults to null). */
export type JsonValue = string | number | boolean | JsonValue[] | { [key: string]: JsonValue };

/** An OpenAPI v3 schema node as a CRD carries it (apiextensions.k8s.io/v1 JSONSchemaProps, JSON names). */
export interface JsonSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  default?: JsonValue;
  enum?: JsonValue[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  required?: string[];
  properties?: Record<string, JsonSchemaProps>;
  additionalProperties?: JsonSchemaProps;
  items?: JsonSchemaProps;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

/** The parts of an apiextensions.k8s.io/v1 CustomResourceDefinition these CRDs use. */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[] };
    scope: 'Namespaced';
    versions: Array<{
      name: string;
      served: true;
      storage: true;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: Array<{ name: string; type: string; jsonPath: string; description?: string; priority?: number }>;
      schema: { openAPIV3Schema: JsonSchemaProps };
    }>;
  };
}

type Json = Record<string, unknown>;

const scalarTypes = new Set(['string', 'number', 'integer', 'boolean']);
const maxSafe = Number.MAX_SAFE_INTEGER;

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fails the generation (a programming error: the schema uses something a CRD cannot say). */
function unsupported(path: string, what: string): never {
  throw new Error(`the CRD schema cannot express ${what} at ${path || '(root)'}: change the zod schema`);
}

/** The types a node allows: `type` as a string or a list, or the types of a scalar anyOf/oneOf. */
function typesOf(node: Json): string[] | null {
  if (typeof node.type === 'string') return [node.type];
  if (Array.isArray(node.type)) return node.type.map(String);
  const union = node.anyOf ?? node.oneOf;
  if (Array.isArray(union) && union.every((member) => isJson(member) && typeof member.type === 'string' && scalarTypes.has(member.type))) {
    return union.map((member) => String((member as Json).type));
  }
  return null;
}

/** The members of a union of objects (a discriminated union, say), or null. */
function objectMembers(node: Json): Json[] | null {
  const union = node.oneOf ?? node.anyOf;
  if (!Array.isArray(union) || union.length === 0) return null;
  return union.every((member) => isJson(member) && member.type === 'object') ? (union as Json[]) : null;
}

/**
 * Merges the members of a union of objects into one object node: every member's properties (the
 * same property in several members merged again, discriminators' enums joined), required only what
 * every member requires. Which combination is valid is left to the daemon's own validation, which
 * names the field: a structural schema cannot put a type inside oneOf.
 */
function mergeObjects(members: Json[], path: string): Json {
  const properties: Record<string, Json[]> = {};
  const requiredBy = members.map((member) => new Set(Array.isArray(member.required) ? member.required.map(String) : []));
  let open = false;
  for (const member of members) {
    for (const [key, value] of Object.entries(isJson(member.properties) ? member.properties : {})) {
      (properties[key] ??= []).push(value as Json);
    }
    if (member.additionalProperties !== undefined && member.additionalProperties !== false) open = true;
  }
  const merged: Json = { type: 'object', properties: Object.fromEntries(Object.entries(properties).map(([key, nodes]) => [key, mergeSame(nodes, `${path}.${key}`)])) };
  const required = [...(requiredBy[0] ?? [])].filter((key) => requiredBy.every((own) => own.has(key)));
  if (required.length > 0) merged.required = required;
  if (open) merged.additionalProperties = {};
  return merged;
}

/** One property as several union members define it: identical, enums to join, or objects to merge. */
function mergeSame(nodes: Json[], path: string): Json {
  const [first] = nodes;
  if (!first) return unsupported(path, 'an empty union');
  if (nodes.every((node) => JSON.stringify(node) === JSON.stringify(first))) return first;
  if (nodes.every((node) => node.type === first.type && (Array.isArray(node.enum) || 'const' in node))) {
    const values = nodes.flatMap((node): unknown[] => (Array.isArray(node.enum) ? (node.enum as unknown[]) : [node.const]));
    return { type: first.type, enum: [...new Set(values)] };
  }
  if (nodes.every((node) => node.type === 'object')) return mergeObjects(nodes, path);
  return unsupported(path, 'a property with different types in different union members');
}

/**
 * Rewrites zod's JSON Schema (draft 2020-12, `io: 'input'`) into a structural OpenAPI v3 schema a
 * CRD accepts (Kubernetes' rules for structural schemas, and the JSONSchemaProps fields it knows).
 * Throws for anything it cannot express, so a schema change that a CRD cannot carry fails loudly.
 */
export function toStructuralSchema(input: unknown, path = ''): JsonSchemaProps {
  if (!isJson(input)) return unsupported(path, 'a schema that is not an object');
  if ('$ref' in input || '$defs' in input || 'definitions' in input) unsupported(path, 'a $ref (a schema registered with an id)');
  const { $schema: _dialect, ...node } = input;
  const members = objectMembers(node);
  const flat: Json = members ? { ...withoutUnions(node), ...mergeObjects(members, path) } : node;
  const out: JsonSchemaProps = { ...typeOf(flat, path), ...annotations(flat) };
  numberBounds(flat, out);
  if (out.type === 'string' && typeof flat.pattern === 'string') out.pattern = flat.pattern;
  for (const key of ['minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
    if (typeof flat[key] === 'number') out[key] = flat[key];
  }
  if (out.type === 'object') Object.assign(out, objectParts(flat, path));
  if (out.type === 'array') {
    if (!isJson(flat.items)) unsupported(path, 'an array without one item schema');
    out.items = toStructuralSchema(flat.items, `${path}[]`);
  }
  return out;
}

function withoutUnions(node: Json): Json {
  const { oneOf: _one, anyOf: _any, ...rest } = node;
  return rest;
}

/** The node's type: one type, or int-or-string for a string-or-number (a size like "64M" or 67108864, a duration like "30s" or 30). */
function typeOf(node: Json, path: string): JsonSchemaProps {
  const types = typesOf(node);
  if (!types) {
    if (['anyOf', 'oneOf', 'allOf', 'not'].some((key) => key in node)) unsupported(path, 'a union of different kinds of values');
    return unsupported(path, 'a value of no type');
  }
  const kinds = new Set(types);
  if (kinds.size === 1) return { type: types[0] as JsonSchemaProps['type'] };
  if (kinds.size === 2 && kinds.has('string') && (kinds.has('number') || kinds.has('integer'))) return { 'x-kubernetes-int-or-string': true };
  return unsupported(path, `a value of the types ${types.join(', ')}`);
}

/** description, format, default and the allowed values (a literal becomes a one-value enum: CRDs have no const). */
function annotations(node: Json): JsonSchemaProps {
  const out: JsonSchemaProps = {};
  if (typeof node.description === 'string') out.description = node.description;
  if (typeof node.format === 'string') out.format = node.format;
  // zod's JSON Schema holds JSON values only (its defaults and literals come from the schema).
  if ('default' in node) out.default = node.default as JsonValue;
  if ('const' in node) out.enum = [node.const as JsonValue];
  if (Array.isArray(node.enum)) out.enum = node.enum as JsonValue[];
  return out;
}

/** properties, required, and what the object does with fields it does not declare. */
function objectParts(node: Json, path: string): JsonSchemaProps {
  const out: JsonSchemaProps = {};
  const properties = isJson(node.properties) ? node.properties : {};
  const names = Object.keys(properties);
  if (names.length > 0) out.properties = Object.fromEntries(names.map((key) => [key, toStructuralSchema(properties[key], `${path}.${key}`)]));
  if (Array.isArray(node.required) && node.required.length > 0) out.required = node.required.map(String);
  const extra = node.additionalProperties;
  if (isJson(extra) && Object.keys(extra).length > 0) {
    // A map (z.record): only without properties, as Kubernetes requires.
    if (names.length > 0) unsupported(path, 'both properties and typed additionalProperties');
    out.additionalProperties = toStructuralSchema(extra, `${path}.*`);
  } else if (extra === true || (isJson(extra) && Object.keys(extra).length === 0)) {
    // An open object (z.looseObject): the fields nobody declares here are someone else's, kept as written.
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  // additionalProperties: false (z.strictObject) is what pruning does anyway; Kubernetes forbids writing it.
  return out;
}

/** zod's bounds (2020-12: exclusive bounds are numbers) as OpenAPI v3's (a bound plus a flag). */
function numberBounds(node: Json, out: JsonSchemaProps): void {
  if (out.type !== 'integer' && out.type !== 'number') return;
  // z.number().int() bounds integers to the safe range; a CRD's integers are int64 already.
  if (typeof node.minimum === 'number' && node.minimum > -maxSafe) out.minimum = node.minimum;
  if (typeof node.maximum === 'number' && node.maximum < maxSafe) out.maximum = node.maximum;
  if (typeof node.exclusiveMinimum === 'number') {
    out.minimum = node.exclusiveMinimum;
    out.exclusiveMinimum = true;
  }
  if (typeof node.exclusiveMaximum === 'number') {
    out.maximum = node.exclusiveMaximum;
    out.exclusiveMaximum = true;
  }
}

/** The structural schema of one zod schema (its input side: what a user writes, before defaults apply). */
export function crdSchemaOf(schema: z.ZodType): JsonSchemaProps {
  return toStructuralSchema(z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }));
}

/** Conditions are a map keyed by type, as metav1.Condition lists are everywhere. */
function withConditionsMap(status: JsonSchemaProps): JsonSchemaProps {
  const conditions = status.properties?.conditions;
  if (conditions) {
    conditions['x-kubernetes-list-type'] = 'map';
    conditions['x-kubernetes-list-map-keys'] = ['type'];
  }
  return status;
}

interface KindSpec {
  kind: string;
  plural: string;
  shortName: string;
  description: string;
  spec: JsonSchemaProps;
  status: JsonSchemaProps;
  specRequired: boolean;
  columns: CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns'];
}

function crd(kind: KindSpec): CustomResourceDefinition {
  const properties: Record<string, JsonSchemaProps> = {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: kind.spec,
    status: withConditionsMap(kind.status),
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.plural}.${apiGroup}`, labels: { 'app.kubernetes.io/part-of': 'bloodraven' } },
    spec: {
      group: apiGroup,
      names: { kind: kind.kind, listKind: `${kind.kind}List`, plural: kind.plural, singular: kind.kind.toLowerCase(), shortNames: [kind.shortName] },
      scope: 'Namespaced',
      versions: [
        {
          name: apiVersionName,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: kind.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: kind.description,
              properties,
              ...(kind.specRequired ? { required: ['spec'] } : {}),
            },
          },
        },
      ],
    },
  };
}

/**
 * The MysqlFailoverGroup CRD. spec and status keep unknown fields
 * (`x-kubernetes-preserve-unknown-fields`): the group's own operator owns everything but
 * `spec.backup` and the status fields bloodraven writes.
 */
export function failoverGroupCrd(): CustomResourceDefinition {
  return crd({
    kind: failoverGroupKind,
    plural: failoverGroupPlural,
    shortName: 'mfg',
    description: 'A MySQL failover group: its sites, and (spec.backup) what bloodraven backs up, where and when.',
    spec: crdSchemaOf(failoverGroupSpecSchema),
    status: crdSchemaOf(failoverGroupStatusSchema),
    specRequired: false,
    columns: [
      { name: 'Active Site', type: 'string', jsonPath: '.status.activeSite' },
      { name: 'Last Backup', type: 'date', jsonPath: '.status.lastBackupTime' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

/** The MysqlBackup CRD: one object per backup run, with the printer columns `kubectl get mysqlbackups` shows. */
export function backupCrd(): CustomResourceDefinition {
  return crd({
    kind: backupKind,
    plural: backupPlural,
    shortName: 'mbk',
    description: "One backup run of a MysqlFailoverGroup's profile: bloodraven takes it in a Job and records the result in status.",
    spec: crdSchemaOf(backupSpecSchema),
    status: crdSchemaOf(backupStatusSchema),
    specRequired: true,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Source', type: 'string', jsonPath: '.status.sourceSite' },
      { name: 'Location', type: 'string', jsonPath: '.status.location' },
      { name: 'Size', type: 'integer', jsonPath: '.status.sizeBytes' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Verified', type: 'string', jsonPath: '.status.verification.result', description: 'The latest verification run of the backup: Passed or Failed.', priority: 1 },
    ],
  });
}

/** The MysqlBackupVerification CRD: one object per verification run, with what it proved and the measured restore time. */
export function verificationCrd(): CustomResourceDefinition {
  return crd({
    kind: verificationKind,
    plural: verificationPlural,
    shortName: 'mbv',
    description: "One verification run of a MysqlFailoverGroup's profile: a backup restored into a throwaway server in a Job and its contents compared with its record.",
    spec: crdSchemaOf(verificationSpecSchema),
    status: crdSchemaOf(verificationStatusSchema),
    specRequired: true,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Backup', type: 'string', jsonPath: '.status.backupRef' },
      { name: 'Tables', type: 'integer', jsonPath: '.status.tables' },
      { name: 'RTO', type: 'number', jsonPath: '.status.restoreSeconds', description: 'Seconds the scratch restore took.' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
    ],
  });
}

const generatedHeader = '# Generated by `npm run crds` from src/lib/kube/resources.ts (and src/lib/config/schema.ts). Do not edit.\n';

function toYaml(value: unknown): string {
  return generatedHeader + stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/**
 * The files of `crds/` (name → content): both CRDs, and the kustomization listing them (for
 * `resources: [../crds]` in deploy/). It is named `Kustomization`, a name kustomize looks for,
 * because `kubectl apply -f crds/` reads every .yaml file in the folder and fails on a
 * kustomization.yaml ("no matches for kind Kustomization"), while it skips a file without extension.
 */
export function crdFiles(): Record<string, string> {
  const crds = [failoverGroupCrd(), backupCrd(), verificationCrd()];
  const files: Record<string, string> = {};
  for (const definition of crds) files[`${definition.metadata.name}.yaml`] = toYaml(definition);
  files.Kustomization = toYaml({
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: crds.map((definition) => `${definition.metadata.name}.yaml`),
  });
  return files;
}
