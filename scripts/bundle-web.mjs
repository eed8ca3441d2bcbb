#!/usr/bin/env node
// npm run build's last step: the exported web page's script (src/export/web/page.ts with the library code it
// imports) bundled once into dist/export/web/page.bundle.js, which `selfguided export --format web` takes
// in an installed package (a checkout bundles the sources at export time instead).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePage } from '../dist/export/web-export.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/export/web/page.bundle.js');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, await bundlePage(join(root, 'src/export/web/page.ts')));
