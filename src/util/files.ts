// Writing files so that a crash, a full disk or a read-only directory never leaves a broken file under
// its final name, and every failure says which path and why.
import * as fs from 'node:fs';
import { dirname } from 'node:path';

/**
 * The write call every file here goes through. Tests replace it to simulate a device that accepts
 * fewer bytes than asked (what a full disk does before it says ENOSPC).
 */
export const fileIO = {
  writeSync: fs.writeSync as (fd: number, buf: Uint8Array, offset: number, length: number) => number,
};

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a parent is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
};

/** An error that names the path, the action and the cause ("cannot write X: no space left on device (ENOSPC)"). */
export class FileError extends Error {
  constructor(
    readonly path: string,
    action: string,
    readonly code: string | undefined,
    detail: string,
  ) {
    super(`cannot ${action} ${path}: ${detail}`);
    this.name = 'FileError';
  }
}

function describe(e: unknown, action: string, path: string): FileError {
  if (e instanceof FileError) return e;
  const err = e as NodeJS.ErrnoException;
  const reason = err.code ? `${REASONS[err.code] ?? err.message} (${err.code})` : err.message;
  return new FileError(path, action, err.code, reason);
}

function writeAll(fd: number, data: Uint8Array, path: string): void {
  let offset = 0;
  while (offset < data.length) {
    const n = fileIO.writeSync(fd, data, offset, data.length - offset);
    if (!(n > 0)) {
      throw new FileError(
        path,
        'write',
        'ENOSPC',
        `short write: ${offset} of ${data.length} bytes written (disk full?)`,
      );
    }
    offset += n;
  }
}

/**
 * Writes data to a temporary file beside path, checks every write, syncs, reads it back and compares,
 * then renames it into place. On any failure the temporary file is removed, path is untouched, and a
 * FileError names the cause.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      writeAll(fd, bytes, path);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const back = fs.readFileSync(tmp);
    if (back.length !== bytes.length || !back.equals(bytes)) {
      throw new FileError(
        path,
        'write',
        'EIO',
        `read back ${back.length} bytes that differ from the ${bytes.length} written`,
      );
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw describe(e, 'write', path);
  }
}

/** Appends a line; a failure names the file and the cause. */
export function appendLine(path: string, line: string): void {
  appendBytes(path, `${line}\n`);
}

export function appendBytes(path: string, data: Uint8Array | string): void {
  try {
    fs.appendFileSync(path, data);
  } catch (e) {
    throw describe(e, 'append to', path);
  }
}

/**
 * Creates a directory (and its parents) and proves it writable. Node reports some permission failures
 * of a recursive mkdir as ENOENT; this finds the nearest existing parent and names the real cause.
 */
export function ensureWritableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = `${dir}/.write-probe-${process.pid}`;
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    let parent = dir;
    while (!fs.existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && parent !== dir) {
      try {
        fs.accessSync(parent, fs.constants.W_OK);
      } catch (ae) {
        throw describe(ae, 'create the directory', `${dir} (${parent} is not writable)`);
      }
    }
    throw describe(e, 'create the directory', dir);
  }
}

/** Reads a text file; a missing or unreadable file is a FileError that names it. */
export function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new FileError(path, 'read', 'ENOENT', 'it does not exist');
    throw describe(e, 'read', path);
  }
}
