/**
 * Kubernetes `Status` answers for the test API server: the `{kind: "Status", status: "Failure",
 * reason, code, details}` bodies the real kube-apiserver sends with every error, and the reasons
 * client-node callers branch on (`JSON.parse(err.body).reason`).
 */

/** One field-level cause of an `Invalid` Status (`details.causes[]`); the message does not repeat the field. */
export interface StatusCause {
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueForbidden' | 'FieldValueDuplicate' | 'FieldValueTypeInvalid';
  message: string;
  field: string;
}

/** An error the server answers with a Status body and the given HTTP code. */
export class KubeStatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  /** The wire body, as the real server writes it. */
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** What names an object in error messages: `jobs.batch "x"`, `MysqlBackup.shipstream.io "x"`. */
export interface ObjectRef {
  group: string;
  kind: string;
  plural: string;
  name: string;
}

function qualified(word: string, group: string): string {
  return group === '' ? word : `${word}.${group}`;
}

export function notFound(ref: Omit<ObjectRef, 'kind'> & { kind?: string }): KubeStatusError {
  return new KubeStatusError(404, 'NotFound', `${qualified(ref.plural, ref.group)} "${ref.name}" not found`, {
    name: ref.name,
    group: ref.group,
    kind: ref.plural,
  });
}

export function alreadyExists(ref: ObjectRef): KubeStatusError {
  return new KubeStatusError(409, 'AlreadyExists', `${qualified(ref.plural, ref.group)} "${ref.name}" already exists`, {
    name: ref.name,
    group: ref.group,
    kind: ref.plural,
  });
}

export function conflict(ref: ObjectRef, why = 'the object has been modified; please apply your changes to the latest version and try again'): KubeStatusError {
  return new KubeStatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref.plural, ref.group)} "${ref.name}": ${why}`, {
    name: ref.name,
    group: ref.group,
    kind: ref.plural,
  });
}

/**
 * 422 Invalid with one cause per problem; the message lists them as the real server does:
 * `Kind.group "name" is invalid: <cause>` or `... is invalid: [<cause>, <cause>]`.
 */
export function invalid(ref: ObjectRef, causes: StatusCause[]): KubeStatusError {
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const joined = list.length === 1 ? (list[0] ?? '') : `[${list.join(', ')}]`;
  return new KubeStatusError(422, 'Invalid', `${qualified(ref.kind, ref.group)} "${ref.name}" is invalid: ${joined}`, {
    name: ref.name,
    group: ref.group,
    kind: ref.kind,
    causes,
  });
}

export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError(400, 'BadRequest', message);
}

export function methodNotAllowed(message: string): KubeStatusError {
  return new KubeStatusError(405, 'MethodNotAllowed', message);
}

export function unsupportedMediaType(contentType: string): KubeStatusError {
  return new KubeStatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got ${contentType})`);
}

export function expired(message: string): KubeStatusError {
  return new KubeStatusError(410, 'Expired', message);
}

export function forbidden(ref: ObjectRef, why: string): KubeStatusError {
  return new KubeStatusError(403, 'Forbidden', `${qualified(ref.plural, ref.group)} "${ref.name}" is forbidden: ${why}`, {
    name: ref.name,
    group: ref.group,
    kind: ref.plural,
  });
}

/** A dotted field path with list indices (`spec.containers[0].name`) from a JSON pointer. */
export function fieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}
