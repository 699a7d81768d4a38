/**
 * The MySQL account, from files only (DESIGN §5): `credentialsDir` holding MYSQL_USER and
 * MYSQL_PASSWORD (a mounted Secret), or `user` + `passwordFile`, or a prompt on a TTY. Passwords
 * never come from argv or the environment.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { MysqlConfig } from './schema.js';

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

export async function resolveMysqlCredentials(mysql: MysqlConfig, options: CredentialOptions): Promise<MysqlCredentials> {
  if (mysql.credentialsDir) {
    const dir = resolve(options.baseDir, mysql.credentialsDir);
    const user = await readSecretFile(join(dir, 'MYSQL_USER'), 'mysql.credentialsDir');
    const password = await readSecretFile(join(dir, 'MYSQL_PASSWORD'), 'mysql.credentialsDir');
    if (!user) throw new ConfigError([{ path: 'mysql.credentialsDir', message: `${join(dir, 'MYSQL_USER')} is empty` }]);
    return { user, password, passwordSource: join(dir, 'MYSQL_PASSWORD') };
  }
  const user = mysql.user ?? 'root';
  if (mysql.passwordFile) {
    const path = resolve(options.baseDir, mysql.passwordFile);
    return { user, password: await readSecretFile(path, 'mysql.passwordFile'), passwordSource: path };
  }
  if (options.promptPassword) {
    const password = await options.promptPassword(`Password for MySQL user '${user}' (empty for none): `);
    return { user, password: password === '' ? undefined : password, passwordSource: 'the prompt' };
  }
  // No password configured and no terminal: passwordless accounts (socket authentication) still work.
  return { user, password: undefined, passwordSource: undefined };
}
