// The app's walk over the runs folder: folders down to a depth, skipping hidden ones, those named in
// `skip` and symbolic links that lead outside the root (the pages refuse those, so lists must not name
// them); entries that vanish while listing (a run being removed) are passed over.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolvesInside } from './safe-path.js';

export interface WalkOptions {
  maxDepth: number;
  skip: ReadonlySet<string>;
  /** each folder (root included) */
  dir?: (path: string) => void;
  /** each file */
  file?: (path: string, name: string) => void;
}

export function walkFolder(root: string, o: WalkOptions): void {
  const walk = (dir: string, depth: number) => {
    o.dir?.(dir);
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.startsWith('.') || o.skip.has(e)) continue;
      const p = join(dir, e);
      if (!resolvesInside(root, p)) continue;
      try {
        if (statSync(p).isDirectory()) {
          if (depth < o.maxDepth) walk(p, depth + 1);
        } else o.file?.(p, e);
      } catch {
        // vanished while listing
      }
    }
  };
  walk(root, 0);
}
