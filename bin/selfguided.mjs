#!/usr/bin/env node
// The selfguided command line. In a checkout it runs the TypeScript sources through tsx; an installed
// package (which ships dist/ and no src/) runs the compiled JavaScript with plain node.
import { existsSync } from 'node:fs';

const fromSource = existsSync(new URL('../src/cli/main.ts', import.meta.url));
if (fromSource) (await import('tsx/esm/api')).register();
const { main } = await import(fromSource ? '../src/cli/main.ts' : '../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
