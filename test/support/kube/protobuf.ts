/**
 * Decoding of the Kubernetes protobuf request bodies kubectl's typed clients send for a few
 * built-in kinds (`kubectl create namespace | secret | configmap | serviceaccount`, `kubectl auth
 * can-i`): the body is
 * the magic `k8s\0` then a `runtime.Unknown` message whose `raw` field holds the object's own
 * message. Field numbers are those of k8s.io/api/core/v1 and apimachinery's `generated.proto`.
 * Other kinds are not decoded (the caller answers 415); everything else kubectl and client-node
 * send is JSON.
 */

type Scalar = 'string' | 'bytes' | 'int' | 'bool' | 'time';

interface Field {
  name: string;
  type: Scalar | MessageSpec;
  repeated?: boolean;
  /** A `map<string, value>` field (entries: key = 1, value = 2). */
  map?: 'string' | 'bytes';
}

type MessageSpec = Record<number, Field>;

const TYPE_META: MessageSpec = { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } };

const UNKNOWN: MessageSpec = {
  1: { name: 'typeMeta', type: TYPE_META },
  2: { name: 'raw', type: 'bytes' },
  3: { name: 'contentEncoding', type: 'string' },
  4: { name: 'contentType', type: 'string' },
};

const OWNER_REFERENCE: MessageSpec = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' },
  7: { name: 'blockOwnerDeletion', type: 'bool' },
};

const OBJECT_META: MessageSpec = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int' },
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: { name: 'deletionGracePeriodSeconds', type: 'int' },
  11: { name: 'labels', type: 'string', map: 'string' },
  12: { name: 'annotations', type: 'string', map: 'string' },
  13: { name: 'ownerReferences', type: OWNER_REFERENCE, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
};

const OBJECT_REFERENCE: MessageSpec = {
  1: { name: 'kind', type: 'string' },
  2: { name: 'namespace', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'fieldPath', type: 'string' },
};

const RESOURCE_ATTRIBUTES: MessageSpec = {
  1: { name: 'namespace', type: 'string' },
  2: { name: 'verb', type: 'string' },
  3: { name: 'group', type: 'string' },
  4: { name: 'version', type: 'string' },
  5: { name: 'resource', type: 'string' },
  6: { name: 'subresource', type: 'string' },
  7: { name: 'name', type: 'string' },
};

/** The kinds decoded, by `<apiVersion>/<kind>`. */
const KINDS: Record<string, MessageSpec> = {
  'v1/Namespace': {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } },
  },
  'v1/Secret': {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'data', type: 'bytes', map: 'bytes' },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'string', map: 'string' },
    5: { name: 'immutable', type: 'bool' },
  },
  'v1/ConfigMap': {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'data', type: 'string', map: 'string' },
    3: { name: 'binaryData', type: 'bytes', map: 'bytes' },
    4: { name: 'immutable', type: 'bool' },
  },
  // `kubectl auth can-i`.
  'authorization.k8s.io/v1/SelfSubjectAccessReview': {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'spec', type: { 1: { name: 'resourceAttributes', type: RESOURCE_ATTRIBUTES }, 2: { name: 'nonResourceAttributes', type: { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } } } } },
  },
  'v1/ServiceAccount': {
    1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'secrets', type: OBJECT_REFERENCE, repeated: true },
    3: { name: 'imagePullSecrets', type: { 1: { name: 'name', type: 'string' } }, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool' },
  },
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Raised for a body that is not a decodable Kubernetes protobuf object. */
export class ProtobufDecodeError extends Error {}

class Reader {
  private at = 0;
  constructor(private readonly buffer: Buffer) {}

  get done(): boolean {
    return this.at >= this.buffer.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.buffer[this.at++];
      if (byte === undefined) throw new ProtobufDecodeError('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  bytes(length: number): Buffer {
    if (this.at + length > this.buffer.length) throw new ProtobufDecodeError('truncated field');
    const out = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  /** Skips a field of the given wire type (fields this decoder does not know). */
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.bytes(8);
    else if (wireType === 2) this.bytes(Number(this.varint()));
    else if (wireType === 5) this.bytes(4);
    else throw new ProtobufDecodeError(`unsupported wire type ${wireType}`);
  }
}

function decodeTime(buffer: Buffer): string {
  const fields = decodeMessage(buffer, { 1: { name: 'seconds', type: 'int' }, 2: { name: 'nanos', type: 'int' } });
  const seconds = typeof fields.seconds === 'number' ? fields.seconds : 0;
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function decodeScalar(type: Scalar, reader: Reader, wireType: number): unknown {
  if (type === 'int' || type === 'bool') {
    if (wireType !== 0) throw new ProtobufDecodeError('expected a varint');
    const value = reader.varint();
    return type === 'bool' ? value !== 0n : Number(BigInt.asIntN(64, value));
  }
  if (wireType !== 2) throw new ProtobufDecodeError('expected a length-delimited field');
  const bytes = reader.bytes(Number(reader.varint()));
  if (type === 'string') return bytes.toString('utf8');
  if (type === 'time') return decodeTime(bytes);
  return bytes.toString('base64');
}

function decodeMessage(buffer: Buffer, spec: MessageSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const reader = new Reader(buffer);
  while (!reader.done) {
    const key = Number(reader.varint());
    const field = spec[key >> 3];
    const wireType = key & 7;
    if (!field) {
      reader.skip(wireType);
      continue;
    }
    if (field.map) {
      if (wireType !== 2) throw new ProtobufDecodeError('expected a map entry');
      const entry = decodeMessage(reader.bytes(Number(reader.varint())), { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: field.map } });
      const map = (out[field.name] ??= {}) as Record<string, unknown>;
      map[typeof entry.key === 'string' ? entry.key : ''] = entry.value ?? '';
      continue;
    }
    const value = typeof field.type === 'string' ? decodeScalar(field.type, reader, wireType) : decodeMessage(reader.bytes(Number(reader.varint())), field.type);
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    // Go writes every non-pointer string, empty or not; JSON leaves empty ones out.
    else if (value !== '') out[field.name] = value;
  }
  return out;
}

/**
 * Decodes a `application/vnd.kubernetes.protobuf` body into the JSON object it stands for
 * (`apiVersion`, `kind` and the fields of the kinds above). Throws ProtobufDecodeError for
 * anything else.
 */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(MAGIC)) throw new ProtobufDecodeError('not a Kubernetes protobuf body (no k8s\\0 prefix)');
  const unknown = decodeMessage(body.subarray(4), UNKNOWN);
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const spec = KINDS[`${typeMeta.apiVersion ?? ''}/${typeMeta.kind ?? ''}`];
  if (!spec) throw new ProtobufDecodeError(`protobuf bodies of ${typeMeta.apiVersion ?? '?'}/${typeMeta.kind ?? '?'} are not decoded by the test API server: send JSON`);
  const raw = typeof unknown.raw === 'string' ? Buffer.from(unknown.raw, 'base64') : Buffer.alloc(0);
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...decodeMessage(raw, spec) };
}
