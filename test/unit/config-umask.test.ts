/**
 * The top-level `umask` setting: parsed from a quoted octal string, default 0077, and every wrong
 * value refused with a message naming the field and saying what to write instead. The config is
 * given inline (as a Job's pod gets it), so no file is written.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/lib/config/load.js';
import { ConfigError } from '../../src/lib/errors.js';

const base = `
backup:
  profiles:
    - name: local
      storage: { type: PVC, pvc: { path: ./backups } }
`;

const load = (umaskLine: string): ReturnType<typeof loadConfig> =>
  loadConfig({ cwd: '/nonexistent', inline: { text: umaskLine + base, source: 'BLOODRAVEN_CONFIG_YAML' } });

async function problem(umaskLine: string): Promise<string> {
  const err = await load(umaskLine).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  const config = err as ConfigError;
  expect(config.exitCode).toBe(2);
  expect(config.issues).toHaveLength(1);
  expect(config.issues[0]!.path).toBe('umask');
  return config.message;
}

describe('umask', () => {
  it('defaults to 0077', async () => {
    expect((await load('')).config.umask).toBe(0o077);
  });

  it('reads a quoted octal string, with or without the leading 0', async () => {
    expect((await load('umask: "0027"\n')).config.umask).toBe(0o027);
    expect((await load("umask: '007'\n")).config.umask).toBe(0o007);
  });

  it('refuses an unquoted number, which YAML reads as decimal', async () => {
    expect(await problem('umask: 0027\n')).toBe(
      'invalid configuration:\n  umask: write the umask as a quoted octal string such as "0027" (YAML reads an unquoted 27 as a decimal number)',
    );
  });

  it('refuses what is not 3 or 4 octal digits', async () => {
    for (const bad of ['"0089"', '"27"', '"00027"', '"u=rwx,g=rx"', '""']) {
      expect(await problem(`umask: ${bad}\n`), bad).toMatch(/^invalid configuration:\n {2}umask: ".*" is not a umask: write 3 or 4 octal digits in quotes, such as "0077" \(the default: only the owner\) or "0027" \(the group may read\)$/);
    }
  });

  it("refuses a mask that takes the owner's own permissions", async () => {
    expect(await problem('umask: "0277"\n')).toBe(
      'invalid configuration:\n  umask: "0277" takes permissions from the owner, and bloodraven could not write its own backups: leave the owner\'s digit 0, as in "0077" or "0027"',
    );
  });

  it('refuses a mask that lets every user write into the backups', async () => {
    for (const bad of ['0000', '0020', '0070']) {
      expect(await problem(`umask: "${bad}"\n`), bad).toBe(
        `invalid configuration:\n  umask: "${bad}" lets every user of the machine write into the backups: keep the last digit at least 2, as in "0077" or "0027" ("0002" shares with the group, writes included)`,
      );
    }
    expect((await load('umask: "0002"\n')).config.umask).toBe(0o002);
  });

  it('is reported with the other problems of the file at once', async () => {
    const err = (await loadConfig({ cwd: '/nonexistent', inline: { text: 'umask: "9"\nbackup: { profiles: [] }\nbogus: 1\n', source: 'BLOODRAVEN_CONFIG_YAML' } }).catch(
      (e: unknown) => e,
    )) as ConfigError;
    expect(err.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['umask', 'backup.profiles']));
  });
});
