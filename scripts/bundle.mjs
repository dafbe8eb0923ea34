#!/usr/bin/env node
// Bundles the compiled CLI (dist/, tsc's output) into dist/bundle/: bin/rstwatch.js loads main.js from there,
// each command a chunk loaded on demand as before. Why: Node 20 loads an ES module graph file by file
// (resolve, read, compile, link) — `rstwatch analyze` imported 37 modules in ~70 ms before reading a byte;
// bundled, the same code loads in ~25 ms (docs/benchmarks.md, part 7, round 8). Run by `npm run build`.
//
// The workers are entry points too, so that every file lands in the one folder: the URLs the code builds
// from import.meta.url stay right — './classify-worker.js' beside the chunk that starts it, and
// '../../package.json', '../../build/native/engine.node', '../../web', '../../defaults' two levels up, as
// from dist/<folder>/. Packages (better-sqlite3, nodemailer) stay imports of node_modules.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DIST = join(ROOT, 'dist');
const OUT = join(DIST, 'bundle');

const t0 = performance.now();
// Chunk names carry a hash: drop the previous build's.
rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: {
    main: join(DIST, 'cli/main.js'),
    'classify-worker': join(DIST, 'analyze/classify-worker.js'),
    'flow-worker': join(DIST, 'analyze/flow-worker.js'),
    'pipe-worker': join(DIST, 'packet/pipe-worker.js'),
  },
  outdir: OUT,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: ['node20'],
  packages: 'external',
  // Stack traces of a bug report point into src/ (through tsc's maps) with node --enable-source-maps.
  sourcemap: 'linked',
  logLevel: 'warning',
});
const files = readdirSync(OUT).filter((f) => f.endsWith('.js'));
const kib = files.reduce((n, f) => n + statSync(join(OUT, f)).size, 0) / 1024;
console.log(
  `bundle: ${files.length} files, ${kib.toFixed(0)} KiB in ${(performance.now() - t0).toFixed(0)} ms (dist/bundle/)`,
);
