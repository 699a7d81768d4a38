/**
 * The PATCH media types of the kube-apiserver, applied to a stored object:
 * - `application/merge-patch+json`: RFC 7386 (json-merge-patch): null deletes, arrays replace.
 * - `application/json-patch+json`: RFC 6902 (fast-json-patch): a body that is not an operation
 *   array is a 400; a failing operation (including `test`) is a 422.
 * - `application/strategic-merge-patch+json`: built-in kinds only (415 on custom resources, as
 *   the real server answers). A merge patch that, like the real one, merges the lists whose Go
 *   types declare a patch merge key (containers by name, ownerReferences by uid, …) and unions
 *   `finalizers`.
 * - `application/apply-patch+yaml`: server-side apply, here create-or-merge without field
 *   ownership (the body is JSON or YAML).
 */
import { createRequire } from 'node:module';
import fastJsonPatch from 'fast-json-patch';
import { parse as parseYaml } from 'yaml';
import { badRequest, KubeStatusError } from './status.js';

type Json = unknown;
type JsonObject = Record<string, Json>;

const mergePatch = createRequire(import.meta.url)('json-merge-patch') as { apply(target: Json, patch: Json): Json };

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

/** The patch type a Content-Type names, or undefined for an unknown one (→ 415). */
export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  switch (media) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/json-patch+json':
      return 'json';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
    case 'application/apply-patch+cbor':
      return 'apply';
    default:
      return undefined;
  }
}

function isObject(value: Json): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Parses a patch body: JSON, or for apply patches YAML too. Garbage → 400. */
export function parsePatchBody(text: string, type: PatchType): Json {
  try {
    return type === 'apply' ? (parseYaml(text) as Json) : (JSON.parse(text) as Json);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
}

/** RFC 7386 merge patch onto a copy of `target`. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) throw badRequest('the merge patch must be a JSON object');
  return mergePatch.apply(clone(target), clone(patch));
}

/** RFC 6902 JSON patch onto a copy of `target`. */
export function applyJsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) {
    throw badRequest(`json: cannot unmarshal object into Go value of type jsonpatch.Patch`);
  }
  try {
    const error = fastJsonPatch.validate(patch as fastJsonPatch.Operation[], target);
    if (error) throw error;
    return fastJsonPatch.applyPatch(clone(target), patch as fastJsonPatch.Operation[], false, false).newDocument;
  } catch (err) {
    if (err instanceof KubeStatusError) throw err;
    const e = err as { name?: string; message?: string };
    if (e.name === 'TEST_OPERATION_FAILED') throw new KubeStatusError(422, 'Invalid', 'the server rejected our request due to an error in our request');
    throw new KubeStatusError(422, 'Invalid', `the server rejected our request due to an error in our request: ${e.message ?? String(err)}`);
  }
}

/** Lists merged by a key in strategic merge patches (their Go types' patchMergeKey). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  ownerReferences: 'uid',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  tolerations: 'key',
  topologySpreadConstraints: 'topologyKey',
  conditions: 'type',
};

/** Lists merged as sets of scalars. */
const SET_LISTS = new Set(['finalizers']);

function strategicMerge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = out[key];
    const mergeKey = MERGE_KEYS[key];
    if (Array.isArray(value) && Array.isArray(current) && mergeKey) {
      const merged: Json[] = [...(current as Json[])];
      for (const item of value) {
        const id = isObject(item) ? item[mergeKey] : undefined;
        const at = id === undefined ? -1 : merged.findIndex((m) => isObject(m) && m[mergeKey] === id);
        if (isObject(item) && item.$patch === 'delete') {
          if (at >= 0) merged.splice(at, 1);
        } else if (at >= 0) merged[at] = strategicMerge(merged[at], item);
        else merged.push(clone(item));
      }
      out[key] = merged;
    } else if (Array.isArray(value) && Array.isArray(current) && SET_LISTS.has(key)) {
      out[key] = [...(current as Json[]), ...(value as Json[]).filter((v) => !(current as Json[]).includes(v))];
    } else if (isObject(value) && isObject(current)) {
      out[key] = strategicMerge(current, value);
    } else {
      out[key] = clone(value);
    }
  }
  return out;
}

/** Strategic merge patch onto a copy of `target` (built-in kinds only; the caller checks). */
export function applyStrategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) throw badRequest('the strategic merge patch must be a JSON object');
  return strategicMerge(target, patch);
}
