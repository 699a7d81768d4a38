/**
 * The MySQL account, from files only (DESIGN §5): `credentialsDir` holding MYSQL_USER and
 * MYSQL_PASSWORD (a mounted Secret), or `user` + `passwordFile`, or a prompt on a TTY. Passwords
 * never come from argv or the environment.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { FieldNamer, MysqlConfig } from './schema.js';

export interface MysqlCredentials {
  user: string;
  password: string | undefined;
  /** Where the password came from, for error messages. */
  passwordSource: string | undefined;
}

export interface CredentialOptions {
  baseDir: string;
  /** Asks for a password on a terminal; absent when stdin is not a TTY. */
  promptPassword?: (question: string) => Promise<string>;
  /** Names a field as the user wrote it (LoadedConfig.fieldName): `--password-file` rather than `mysql.passwordFile`. */
  fieldName?: FieldNamer;
}

/** Reads a secret file, dropping one trailing newline (as `echo` and Secrets leave them). */
async function readSecretFile(path: string, field: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message;
    throw new ConfigError([{ path: field, message: `${path} ${reason}` }]);
  }
}

/**
 * The account to connect as: from `credentialsDir`, or `user` + `passwordFile`, or `user` and a
 * prompt. A missing or unreadable file is a ConfigError naming the field (or flag) that gave it.
 */
export async function resolveMysqlCredentials(mysql: MysqlConfig, options: CredentialOptions): Promise<MysqlCredentials> {
  const fieldName = options.fieldName ?? ((path: string) => path);
  if (mysql.credentialsDir) {
    const dir = resolve(options.baseDir, mysql.credentialsDir);
    const field = fieldName('mysql.credentialsDir');
    const user = await readSecretFile(join(dir, 'MYSQL_USER'), field);
    const password = await readSecretFile(join(dir, 'MYSQL_PASSWORD'), field);
    if (!user) throw new ConfigError([{ path: field, message: `${join(dir, 'MYSQL_USER')} is empty` }]);
    return { user, password, passwordSource: join(dir, 'MYSQL_PASSWORD') };
  }
  const user = mysql.user ?? 'root';
  if (mysql.passwordFile) {
    const path = resolve(options.baseDir, mysql.passwordFile);
    return { user, password: await readSecretFile(path, fieldName('mysql.passwordFile')), passwordSource: path };
  }
  if (options.promptPassword) {
    const password = await options.promptPassword(`Password for MySQL user '${user}' (empty for none): `);
    return { user, password: password === '' ? undefined : password, passwordSource: 'the prompt' };
  }
  // No password configured and no terminal: passwordless accounts (socket authentication) still work.
  return { user, password: undefined, passwordSource: undefined };
}
