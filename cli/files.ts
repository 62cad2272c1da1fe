// Files for the CLI's commands: outputs checked for writability before any work is done (so a bad
// --out is refused with a clear message, not a raw ENOENT/EEXIST after a GPU solve), every output
// written atomically (a temporary file, fsync, rename, then the directory fsync'd: a crash or a
// kill -9 leaves the old file or the new one, never a torn one).
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './args.ts';

/** A file-system error code in words (what a user can act on). */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT': return 'no such file or directory';
    case 'ENOTDIR': return 'a part of the path is a file, not a directory';
    case 'EISDIR': return 'it is a directory';
    case 'EEXIST': return 'a file of that name is in the way';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EROFS': return 'the file system is read-only';
    case 'ENOSPC': return 'no space left on the device';
    default: return err.code ? `${err.code}: ${err.message}` : String((e as Error)?.message ?? e);
  }
}

/** Creates and removes a file in `dir`: the one reliable writability test (access(W_OK) says yes to root on a read-only mount). */
function probe(dir: string): void {
  const p = join(dir, `.mira-write-test-${process.pid}`);
  closeSync(openSync(p, 'wx'));
  unlinkSync(p);
}

/** `--flag <dir>`: exists as a directory we can write into, or is created. Throws a CliError naming the flag. */
export function ensureWritableDir(path: string, flag: string, command: string): void {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) throw new CliError(`${command}: --${flag} ${path} is a file; give a directory (it is created if missing)`);
    if (!st) mkdirSync(path, { recursive: true });
    probe(path);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${command}: cannot write into --${flag} ${path}: ${fsReason(e)}`);
  }
}

/** `--flag <file>`: its directory exists and is writable, and the path is not a directory. Throws a CliError naming the flag. */
export function checkWritableFile(path: string, flag: string, command: string): void {
  const dir = dirname(resolve(path));
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined; // ENOTDIR: a part of the path is a file, said below
  }
  if (st?.isDirectory()) throw new CliError(`${command}: --${flag} ${path} is a directory; give a file name`);
  let d;
  try {
    d = statSync(dir, { throwIfNoEntry: false });
  } catch (e) {
    throw new CliError(`${command}: cannot write --${flag} ${path}: ${fsReason(e)}`);
  }
  if (!d) throw new CliError(`${command}: cannot write --${flag} ${path}: the directory ${dir} does not exist (create it first)`);
  if (!d.isDirectory()) throw new CliError(`${command}: cannot write --${flag} ${path}: ${dir} is a file, not a directory`);
  try {
    probe(dir);
  } catch (e) {
    throw new CliError(`${command}: cannot write --${flag} ${path}: ${fsReason(e)} in ${dir}`);
  }
}

/** Writes `path` atomically: `path.tmp`, fsync, rename over `path`, fsync of the directory (best effort). */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = path + '.tmp';
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(tmp, 'w');
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(resolve(path)), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  }
}


/**
 * Parses a user's .npy file: a reader's plain Error (its message names the file) becomes a
 * CliError, so that it counts as bad input (exit 2); the readers' own error classes already do.
 */
export function npyInput<T>(parse: () => T, command: string): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof Error && e.name === 'Error') throw new CliError(`${command}: ${e.message}`);
    throw e;
  }
}
