// The app's walk over the runs folder: folders down to a depth, skipping hidden ones, those named in
// `skip` and symbolic links that lead outside the root (the pages refuse those, so lists must not name
// them); entries that vanish while listing (a run being removed) are passed over.
import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { inside } from './safe-path.js';

export interface WalkOptions {
  maxDepth: number;
  skip: ReadonlySet<string>;
  /** each folder (root included) */
  dir?: (path: string) => void;
  /** each file */
  file?: (path: string, name: string) => void;
}

export function walkFolder(root: string, o: WalkOptions): void {
  let rootReal: string;
  try {
    rootReal = realpathSync(root);
  } catch {
    return;
  }
  const walk = (dir: string, depth: number) => {
    o.dir?.(dir);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || o.skip.has(e.name)) continue;
      const p = join(dir, e.name);
      try {
        // Only a link can lead out: everything else below a folder the walk entered is inside the root.
        let isDir = e.isDirectory();
        if (e.isSymbolicLink()) {
          if (!inside(rootReal, realpathSync(p))) continue;
          isDir = statSync(p).isDirectory();
        }
        if (isDir) {
          if (depth < o.maxDepth) walk(p, depth + 1);
        } else o.file?.(p, e.name);
      } catch {
        // vanished while listing, or a dangling link
      }
    }
  };
  walk(root, 0);
}
