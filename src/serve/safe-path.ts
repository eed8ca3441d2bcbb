// Only files under the served root are reachable: a request path is resolved against the root and
// refused if it (or what a symbolic link in it points at) lands outside.
import { existsSync, realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Whether the path p is root or lies under it (plain strings: resolve or realpath both first). */
export function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The absolute path of rel under root; 400 for a malformed path, 403 outside the root, 404 if missing. */
export function resolveUnder(root: string, rel: string): string {
  if (rel.includes('\0')) throw new HttpError(400, 'bad path');
  const base = resolve(root);
  const abs = resolve(base, rel.replace(/^\/+/, ''));
  if (!inside(base, abs)) throw new HttpError(403, 'outside the served folder');
  if (!existsSync(abs)) throw new HttpError(404, `not found: ${rel}`);
  if (!inside(realpathSync(base), realpathSync(abs))) throw new HttpError(403, 'outside the served folder');
  return abs;
}
