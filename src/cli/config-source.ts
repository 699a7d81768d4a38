/**
 * Where a command's config comes from, as the user gave it: --config, else the YAML text in the
 * environment variable BLOODRAVEN_CONFIG_YAML (how a Kubernetes Job's pod gets its whole config),
 * else ./bloodraven.yaml in the working directory. Commands read the environment; the library is
 * handed the text (src/lib/config/load.ts).
 */
import type { LoadConfigInput } from '../lib/config/load.js';

/** The environment variable holding a whole bloodraven.yaml as text. */
export const configYamlEnv = 'BLOODRAVEN_CONFIG_YAML';

/**
 * The source part of loadConfig's input for `--config` (undefined when not given): the file, the
 * inline text of BLOODRAVEN_CONFIG_YAML, and the working directory relative paths resolve from.
 */
export function configSource(
  configFlag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Pick<LoadConfigInput, 'file' | 'inline' | 'cwd'> {
  const text = env[configYamlEnv];
  return { file: configFlag, cwd, ...(configFlag === undefined && text !== undefined ? { inline: { text, source: configYamlEnv } } : {}) };
}
