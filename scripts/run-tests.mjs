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
// `--except DIR` leaves out the tests under DIR (the LTS run leaves out the experiment runners' smoke runs:
// orchestration over modules the rest of the suite tests on both Nodes, and a third of the suite's time).
const args = process.argv.slice(2);
const except = [];
for (let i = args.indexOf('--except'); i >= 0; i = args.indexOf('--except')) {
  if (!args[i + 1]) {
    console.error('run-tests: --except needs a folder');
    process.exit(2);
  }
  except.push(resolve(args[i + 1]));
  args.splice(i, 2);
}
const files = (args.length ? args.map((f) => resolve(f)) : find(join(root, 'test')))
  .filter((f) => !except.some((d) => f === d || f.startsWith(`${d}/`)))
  .map((f) => relative(root, f));
if (files.length === 0) {
  console.error('run-tests: no test file left to run');
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--test', ...files], {
  stdio: 'inherit',
  cwd: root,
  // The commands' stderr must not depend on how busy the machine is while the tests run.
  env: { ...process.env, SELFGUIDED_BUSY_NOTE: '0' },
});
process.exit(r.status ?? 1);
