/**
 * S3 credentials from a folder of one-value files, the shape a mounted Kubernetes Secret takes:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and optionally AWS_SESSION_TOKEN and AWS_REGION.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';

export interface AwsCredentialsFromDir {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region?: string;
}

export interface ReadAwsCredentialsOptions {
  /** The config field the folder came from, for error messages. */
  configPath?: string;
}

/**
 * Reads the credential files in `dir`. Trailing newlines (as `echo` or an editor leaves them) are
 * removed. Throws ConfigError listing every missing or empty required file at once.
 */
export async function readAwsCredentialsDir(dir: string, options: ReadAwsCredentialsOptions = {}): Promise<AwsCredentialsFromDir> {
  const configPath = options.configPath ?? 'storage.s3.credentialsDir';
  const issues: ConfigIssue[] = [];

  const read = async (name: string, required: boolean): Promise<string | undefined> => {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (required) issues.push({ path: configPath, message: `${file} is missing; the folder must hold AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` });
        return undefined;
      }
      if (code === 'EACCES' || code === 'EPERM') {
        issues.push({ path: configPath, message: `cannot read ${file}: permission denied` });
        return undefined;
      }
      issues.push({ path: configPath, message: `cannot read ${file}: ${(err as Error).message}` });
      return undefined;
    }
    const value = text.replace(/[\r\n]+$/, '');
    if (value === '') {
      // An empty optional file (a Secret key set to "") means "not set".
      if (required) issues.push({ path: configPath, message: `${file} is empty` });
      return undefined;
    }
    return value;
  };

  // One after the other, so that the issues come out in the same order every time.
  const accessKeyId = await read('AWS_ACCESS_KEY_ID', true);
  const secretAccessKey = await read('AWS_SECRET_ACCESS_KEY', true);
  const sessionToken = await read('AWS_SESSION_TOKEN', false);
  const region = await read('AWS_REGION', false);
  if (issues.length > 0 || accessKeyId === undefined || secretAccessKey === undefined) {
    throw new ConfigError(issues, { hint: `mount the Secret with the S3 credentials at ${dir}, or fix ${configPath}` });
  }
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken === undefined ? {} : { sessionToken }),
    ...(region === undefined ? {} : { region }),
  };
}
