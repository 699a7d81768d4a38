/**
 * The MySQL account a group's backups use, from its Secrets (the reference's "Credential layout"):
 * `spec.credentials.backupSecret`, else `spec.credentials.operatorSecret`, holding `username` and
 * `password` or `MYSQL_USER` and `MYSQL_PASSWORD`; or, in the legacy mode, `spec.secretName`
 * holding a DSN. The daemon derives a per-run Secret from the result (MYSQL_USER/MYSQL_PASSWORD),
 * so the Job never sees which layout the group used.
 */

/** A Secret's data, decoded (key → text); null when the Secret does not exist. */
export type SecretReader = (name: string) => Promise<Record<string, string> | null>;

/** A problem with a field of the group's spec (or what it refers to), named as the user wrote it. */
export class GroupFieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
    /** A short CamelCase reason for conditions and events. */
    readonly reason = 'InvalidSpec',
  ) {
    super(`${field}: ${message}`);
    this.name = 'GroupFieldError';
  }
}

export interface GroupCredentialsSpec {
  secretName?: string | undefined;
  credentials?: { backupSecret?: string | undefined; operatorSecret?: string | undefined } | undefined;
}

export interface MysqlAccount {
  user: string;
  password: string;
  /** Which field the account came from, for messages. */
  field: string;
}

/** The Secret and the field naming it, by the reference's precedence; null when none is set. */
export function credentialsSecretOf(spec: GroupCredentialsSpec): { field: string; name: string } | null {
  if (spec.credentials?.backupSecret) return { field: 'spec.credentials.backupSecret', name: spec.credentials.backupSecret };
  if (spec.credentials?.operatorSecret) return { field: 'spec.credentials.operatorSecret', name: spec.credentials.operatorSecret };
  if (spec.secretName) return { field: 'spec.secretName', name: spec.secretName };
  return null;
}

/**
 * Parses a DSN: `mysql://user:password@host:port/db` (URL-encoded parts) or Go's
 * `user:password@tcp(host:port)/db`. Only the account is used: the address comes from spec.sites.
 */
export function parseDsn(dsn: string): { user: string; password: string } | null {
  const text = dsn.trim();
  if (/^mysql(x)?:\/\//.test(text)) {
    try {
      const url = new URL(text);
      if (!url.username) return null;
      return { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    } catch {
      return null;
    }
  }
  // Go driver form: the password may contain ':' and '@'; the last '@' before the protocol splits.
  const m = /^([^:@/]+)(?::(.*))?@(?:tcp|unix)?(?:\([^)]*\))?\/.*$/s.exec(text);
  if (!m?.[1]) return null;
  return { user: m[1], password: m[2] ?? '' };
}

/** The DSN in a legacy Secret: key `dsn` or `DSN`, or the only key. */
function dsnOf(data: Record<string, string>): string | undefined {
  const keys = Object.keys(data);
  return data.dsn ?? data.DSN ?? (keys.length === 1 && keys[0] !== undefined ? data[keys[0]] : undefined);
}

/**
 * Reads the account. Throws GroupFieldError naming the field when no credentials are set, the
 * Secret is missing (reason SecretNotFound), or it lacks the keys.
 */
export async function resolveGroupAccount(spec: GroupCredentialsSpec, readSecret: SecretReader): Promise<MysqlAccount> {
  const ref = credentialsSecretOf(spec);
  if (!ref) throw new GroupFieldError('spec.credentials', 'no MySQL credentials: set spec.credentials.backupSecret (or operatorSecret), or the legacy spec.secretName');
  const data = await readSecret(ref.name);
  if (!data) throw new GroupFieldError(ref.field, `Secret "${ref.name}" not found in the group's namespace`, 'SecretNotFound');
  if (ref.field === 'spec.secretName') {
    const dsn = dsnOf(data);
    const account = dsn === undefined ? null : parseDsn(dsn);
    if (!account) throw new GroupFieldError(ref.field, `Secret "${ref.name}" holds no DSN (key "dsn", like mysql://user:password@host:3306/)`);
    return { ...account, field: ref.field };
  }
  const user = data.username ?? data.MYSQL_USER;
  const password = data.password ?? data.MYSQL_PASSWORD;
  if (!user || password === undefined) {
    throw new GroupFieldError(ref.field, `Secret "${ref.name}" must hold "username" and "password" (or MYSQL_USER and MYSQL_PASSWORD); it has ${Object.keys(data).join(', ') || 'no keys'}`);
  }
  return { user, password, field: ref.field };
}
