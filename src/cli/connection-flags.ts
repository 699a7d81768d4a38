/**
 * Flags shared by commands that talk to the configured server: each replaces one field of the
 * config file's `mysql:` block.
 */
import { Flags } from '@oclif/core';
import type { ConfigOverrides } from '../lib/config/load.js';

export const connectionFlags = {
  host: Flags.string({ description: 'Server host (replaces mysql.host).', helpGroup: 'CONNECTION' }),
  port: Flags.integer({ description: 'Server port (replaces mysql.port).', helpGroup: 'CONNECTION' }),
  socket: Flags.string({ description: 'Unix socket (replaces mysql.socket).', helpGroup: 'CONNECTION' }),
  user: Flags.string({ description: 'MySQL user (replaces mysql.user).', helpGroup: 'CONNECTION' }),
  'password-file': Flags.string({ description: 'File holding the password (replaces mysql.passwordFile).', helpGroup: 'CONNECTION' }),
  'credentials-dir': Flags.string({ description: 'Folder with MYSQL_USER and MYSQL_PASSWORD files (replaces mysql.credentialsDir).', helpGroup: 'CONNECTION' }),
};

export interface ConnectionFlagValues {
  host?: string | undefined;
  port?: number | undefined;
  socket?: string | undefined;
  user?: string | undefined;
  'password-file'?: string | undefined;
  'credentials-dir'?: string | undefined;
}

export function connectionOverrides(flags: ConnectionFlagValues): NonNullable<ConfigOverrides['mysql']> {
  return {
    host: flags.host,
    port: flags.port,
    socket: flags.socket,
    user: flags.user,
    passwordFile: flags['password-file'],
    credentialsDir: flags['credentials-dir'],
  };
}
