#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner through tsx (Node 20 has no --test globs).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
function find(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) return find(p);
      return f.endsWith('.test.ts') ? [p] : [];
    });
}
const only = process.argv.slice(2);
const files = (only.length ? only.map((f) => resolve(f)) : find(join(root, 'test'))).map((f) => relative(root, f));
const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--test', ...files], {
  stdio: 'inherit',
  cwd: root,
  // The commands' stderr must not depend on how busy the machine is while the tests run.
  env: { ...process.env, SELFGUIDED_BUSY_NOTE: '0' },
});
process.exit(r.status ?? 1);
