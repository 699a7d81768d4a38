/**
 * Replacing a file whole: the new content goes to a temporary file in the same folder, which is
 * then renamed over the target. A reader (a web server publishing the file, a browser reloading
 * it) sees the old file or the new one, never a half-written one; a failure leaves the old file.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { AppError, ExitCode, errorMessage } from './errors.js';
import { createFile, type FileModes } from './file-modes.js';

/** Why `file` could not be written, in words that name what to fix. */
function reasonOf(file: string, err: unknown): string {
  const folder = path.dirname(path.resolve(file));
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      // Some file systems (/proc, /sys) refuse a new file with ENOENT although the folder exists.
      return existsSync(folder) ? `files cannot be created in ${folder}` : `its folder ${folder} does not exist`;
    case 'ENOTDIR':
      return `${folder} is not a folder`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied: its folder ${folder} is not writable`;
    case 'EISDIR':
      return `${file} is a folder`;
    case 'EROFS':
      return `${folder} is on a read-only file system`;
    default:
      return errorMessage(err);
  }
}

/**
 * Writes `text` (UTF-8) to `file`, replacing it whole. A new file gets `modes.file`; a file
 * replaced gets it too (it is a new file under the old name). Throws FILE_UNWRITABLE (exit 1)
 * saying why (a missing folder, no permission, a folder in the way), after removing the
 * temporary file. An existing FILE that is not a regular file (a folder, a device, a symbolic
 * link) is refused, never replaced; so are an empty path and one ending in a slash.
 */
export async function writeFileAtomically(file: string, text: string, modes: FileModes): Promise<void> {
  if (file === '' || file.endsWith('/') || file.endsWith(path.sep)) {
    throw new AppError('FILE_UNWRITABLE', `cannot write "${file}": give the path of a file${file === '' ? '' : ', not a folder'}`, ExitCode.failure);
  }
  // The rename would replace whatever is there: only a regular file may be (not a device, a link or a pipe).
  const existing = await lstat(file).catch(() => null);
  if (existing && !existing.isFile()) {
    const what = existing.isDirectory() ? 'a folder' : existing.isSymbolicLink() ? 'a symbolic link' : 'not a regular file (a device, a pipe or a socket)';
    throw new AppError('FILE_UNWRITABLE', `cannot write ${file}: it is ${what}, which is never replaced: give the path of a regular file`, ExitCode.failure);
  }
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const handle = await createFile(temp, modes, { exclusive: true });
    created = true;
    try {
      await handle.writeFile(text, 'utf8');
      // On disk before the rename makes it the file: a crash then leaves the old content, not an empty file.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    if (created) await rm(temp, { force: true }).catch(() => undefined);
    throw new AppError('FILE_UNWRITABLE', `cannot write ${file}: ${reasonOf(file, err)}`, ExitCode.failure, { cause: err });
  }
}
