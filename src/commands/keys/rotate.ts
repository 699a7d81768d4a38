import { resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { systemClock } from '../../lib/clock.js';
import { loadConfig } from '../../lib/config/load.js';
import { configSource } from '../../cli/config-source.js';
import { readPassphrase } from '../../lib/crypto/keys.js';
import { rotateKeys, type RotateResult } from '../../lib/crypto/rotate.js';
import { createProfileStore } from '../../lib/deps.js';
import { ConfigError } from '../../lib/errors.js';

export default class KeysRotate extends BaseCommand {
  static override summary = "Move a profile's encryption to a new passphrase, without rewriting data.";

  static override description = `Every backup and archived binlog of an encrypted profile has a data key of its own, stored wrapped with a key derived from the profile's passphrase. This re-wraps every one of them with a key derived from the new passphrase (scrypt, a fresh salt), then replaces the profile's keyring (encryption.json in its storage). No data file is read or rewritten. Afterwards the old passphrase opens nothing: point encryption.passphraseFile at the new file (a running daemon fails its backups until you do).

The current passphrase comes from the profile's encryption.passphraseFile. A backup running meanwhile is refused (exit 3): rotate between backups. An interrupted rotation is finished by running the same command again (the new keyring waits in encryption.next.json until the end).

Exit codes: 0 rotated, 1 failed (run it again), 2 bad usage or configuration, 3 refused (wrong passphrase, backup running, no keyring), 130 interrupted (Ctrl-C or SIGTERM; run it again to finish).`;

  static override examples = ['<%= config.bin %> <%= command.id %> --new-passphrase-file ./passphrase.new', '<%= config.bin %> <%= command.id %> --profile offsite --new-passphrase-file /run/secrets/bloodraven-2026'];

  static override enableJsonFlag = true;

  static override flags = {
    'new-passphrase-file': Flags.string({ description: 'File holding the new passphrase (one trailing newline is ignored).', required: true }),
  };

  async run(): Promise<RotateResult> {
    const { flags } = await this.parse(KeysRotate);
    this.setLogLevel(flags['log-level']);
    const loaded = await loadConfig({ ...configSource(flags.config), profile: flags.profile });
    const { profile } = loaded;
    const file = profile.encryption?.passphraseFile;
    if (file === undefined) {
      throw new ConfigError([{ path: `profile ${profile.name}`, message: 'has no encryption.passphraseFile: it is not encrypted, so there is nothing to rotate' }]);
    }
    const current = await readPassphrase(resolve(loaded.baseDir, file), 'encryption.passphraseFile');
    const next = await readPassphrase(resolve(flags['new-passphrase-file']), '--new-passphrase-file');
    const store = await createProfileStore(loaded, profile, this.logger);
    const result = await rotateKeys({ store, logger: this.logger, clock: systemClock }, { current, next }, this.interrupt.signal);
    if (!this.jsonEnabled()) {
      process.stdout.write(
        [
          `Rotated the keys of profile ${profile.name}${result.resumed ? ' (finished an interrupted rotation)' : ''}: ${result.backups} backup(s) and ${result.binlogs} binlog(s) now under key ${result.newKeyId}.`,
          `The old passphrase no longer opens them: set encryption.passphraseFile to ${flags['new-passphrase-file']}.`,
          '',
        ].join('\n'),
      );
    }
    return result;
  }
}
