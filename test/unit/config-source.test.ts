/**
 * Where the config comes from: --config, else BLOODRAVEN_CONFIG_YAML's text, else
 * ./bloodraven.yaml; and errors that name the source the config came from.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configSource } from '../../src/cli/config-source.js';
import { loadConfig } from '../../src/lib/config/load.js';
import type { ConfigError } from '../../src/lib/errors.js';
import { expectAppError } from '../support/expect-error.js';

const yamlOf = (profile: string, path: string): string => `name: shop
mysql: { host: db, port: 3306, credentialsDir: ./creds }
backup:
  profiles:
    - name: ${profile}
      storage: { type: PVC, pvc: { path: ${path} } }
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bloodraven-config-source-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configSource + loadConfig', () => {
  it('takes BLOODRAVEN_CONFIG_YAML over ./bloodraven.yaml, with relative paths from the working directory', async () => {
    await writeFile(join(dir, 'bloodraven.yaml'), yamlOf('from-file', './file-backups'));
    const loaded = await loadConfig(configSource(undefined, { BLOODRAVEN_CONFIG_YAML: yamlOf('from-env', './env-backups') }, dir));
    expect(loaded.profile.name).toBe('from-env');
    expect(loaded.source).toBe('BLOODRAVEN_CONFIG_YAML');
    expect(loaded.path).toBeNull();
    expect(loaded.baseDir).toBe(dir);
  });

  it('takes --config over BLOODRAVEN_CONFIG_YAML', async () => {
    await writeFile(join(dir, 'other.yaml'), yamlOf('from-flag', './b'));
    const loaded = await loadConfig(configSource('other.yaml', { BLOODRAVEN_CONFIG_YAML: yamlOf('from-env', './b') }, dir));
    expect(loaded.profile.name).toBe('from-flag');
    expect(loaded.source).toBe(join(dir, 'other.yaml'));
  });

  it('reads ./bloodraven.yaml when neither is given, and local defaults without it', async () => {
    expect((await loadConfig(configSource(undefined, {}, dir))).source).toBeNull();
    await writeFile(join(dir, 'bloodraven.yaml'), yamlOf('from-file', './b'));
    expect((await loadConfig(configSource(undefined, {}, dir))).profile.name).toBe('from-file');
  });

  it('names BLOODRAVEN_CONFIG_YAML in YAML syntax errors, and in the hint of invalid fields', async () => {
    const syntax = (await expectAppError(loadConfig(configSource(undefined, { BLOODRAVEN_CONFIG_YAML: 'backup: [unclosed' }, dir)), 'CONFIG_INVALID')) as ConfigError;
    expect(syntax.exitCode).toBe(2);
    expect(syntax.issues[0]?.message).toMatch(/^BLOODRAVEN_CONFIG_YAML: /);
    const invalid = (await expectAppError(loadConfig(configSource(undefined, { BLOODRAVEN_CONFIG_YAML: yamlOf('Bad_Name', './b') }, dir)), 'CONFIG_INVALID')) as ConfigError;
    expect(invalid.issues.map((i) => i.path)).toEqual(['backup.profiles[0].name']);
    expect(invalid.hint).toBe('fix BLOODRAVEN_CONFIG_YAML');
  });

  it('refuses a BLOODRAVEN_CONFIG_YAML that is set but empty, rather than falling back to another config', async () => {
    await writeFile(join(dir, 'bloodraven.yaml'), yamlOf('from-file', './b'));
    const err = (await expectAppError(loadConfig(configSource(undefined, { BLOODRAVEN_CONFIG_YAML: '  \n' }, dir)), 'CONFIG_INVALID')) as ConfigError;
    expect(err.message).toContain('BLOODRAVEN_CONFIG_YAML is set but empty');
  });
});
