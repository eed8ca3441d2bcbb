// The house's shape (docs/architecture.md): imports point down the floors or along one, never up, and
// no module reaches itself through its imports (type-only imports count: they tie the files together
// for a reader as much as for the compiler).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

const SRC = resolve(import.meta.dirname, '..', 'src');

/** Bottom to top; a folder may import its own floor and the ones below. */
const FLOORS = [
  ['util'],
  ['torch'],
  ['nn'],
  ['optim'],
  ['train'],
  ['data'],
  ['features'],
  ['annotate'],
  ['diffusion'],
  ['eval', 'export'],
  ['pipelines'],
  ['experiments'],
  ['serve'],
  ['cli'],
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|js)$/.test(f) ? [p] : [];
  });
}

/** Every file's relative imports (static, re-exports, dynamic), resolved to source files. */
function importGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/(?:\bfrom|\bimport\(|^import)\s*'(\.[^']+)'/gm)].map((m) =>
      resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts'),
    );
    g.set(file, deps);
  }
  return g;
}

const folderOf = (file: string) => {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.split('/')[0]! : null;
};
const floorOf = (folder: string) => FLOORS.findIndex((f) => f.includes(folder));

/** The imports that run up a floor, as "from -> to". */
function upwardImports(graph: Map<string, string[]>): string[] {
  const up: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    if (from === null) continue; // src/index.ts, the front door, re-exports the floors
    for (const dep of deps) {
      const to = folderOf(dep);
      if (to !== null && floorOf(to) > floorOf(from)) up.push(`${relative(SRC, file)} -> ${relative(SRC, dep)}`);
    }
  }
  return up;
}

/** Every circle of imports found by a depth-first walk, as "a -> b -> a". */
function circles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const found: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      found.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const dep of graph.get(file) ?? []) if (graph.has(dep)) visit(dep, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return found;
}

describe('architecture', () => {
  const graph = importGraph();

  test('every folder of src has a floor', () => {
    for (const file of graph.keys()) {
      const folder = folderOf(file);
      if (folder !== null) assert.notEqual(floorOf(folder), -1, `${folder}/ is on no floor of FLOORS`);
    }
  });

  test('no import runs up a floor', () => {
    assert.deepEqual(upwardImports(graph), []);
  });

  test('no circle of imports', () => {
    assert.deepEqual(circles(graph), []);
  });

  test('the checks see a circle and an upward import when there is one', () => {
    const [a, b] = [join(SRC, 'torch/a.ts'), join(SRC, 'eval/b.ts')];
    const g = new Map([
      [a, [b]],
      [b, [a]],
    ]);
    assert.deepEqual(upwardImports(g), ['torch/a.ts -> eval/b.ts']);
    assert.deepEqual(circles(g), ['torch/a.ts -> eval/b.ts -> torch/a.ts']);
  });
});
