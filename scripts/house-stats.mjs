#!/usr/bin/env node
// Line counts per layer (src/<folder>), the longest functions, and the imports that run up a floor or
// close a circle: the figures the architecture notes quote. `node scripts/house-stats.mjs [--top N]`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 12;
const files = (function find(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return find(p);
    return /\.(ts|js)$/.test(f) ? [p] : [];
  });
})(join(root, 'src'));

const perLayer = new Map();
const functions = [];
for (const file of files) {
  const rel = relative(join(root, 'src'), file);
  const layer = rel.includes('/') ? rel.split('/')[0] : '(root)';
  const text = readFileSync(file, 'utf8');
  perLayer.set(layer, (perLayer.get(layer) ?? 0) + text.split('\n').length);
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node)
    ) {
      const a = sf.getLineAndCharacterOfPosition(node.getStart()).line;
      const b = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      let name = node.name?.getText() ?? '';
      if (!name && ts.isVariableDeclaration(node.parent)) name = node.parent.name.getText();
      if (name) functions.push({ where: `${rel}:${a + 1}`, name, lines: b - a + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
console.log('lines per layer');
for (const [layer, n] of [...perLayer].sort((x, y) => y[1] - x[1])) console.log(`  ${layer.padEnd(12)} ${n}`);
console.log(`  ${'total'.padEnd(12)} ${[...perLayer.values()].reduce((s, n) => s + n, 0)}`);
console.log(`longest functions (top ${top})`);
for (const f of functions.sort((x, y) => y.lines - x.lines).slice(0, top))
  console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.where}`);
