#!/usr/bin/env node
// Builds the dashboard (docs/dashboard.md): web/src/main.ts, with uPlot bundled in, becomes web/app.js (an ES
// module); src/model/explain.ts, a third of the code, goes to its own chunk in web/chunks/, loaded after the
// first chart is drawn. uPlot's stylesheet and licence are copied to web/vendor/. Everything the page loads
// comes from the agent itself: no CDN, no external font. Run by `npm run build`.

import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const uplotDir = dirname(require.resolve('uplot/package.json'));

const t0 = performance.now();
// Chunk names carry a hash: drop the previous build's so the folder holds only what app.js imports.
rmSync(join(WEB, 'chunks'), { recursive: true, force: true });
await build({
  entryPoints: { app: join(WEB, 'src/main.ts') },
  outdir: WEB,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  // Chromium, Firefox and Safari of the last few years; the page needs EventSource, fetch, ResizeObserver.
  target: ['es2020'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  banner: { js: '/* rstwatch dashboard. Bundles uPlot (MIT, see vendor/uPlot.LICENSE.txt). */' },
  logLevel: 'warning',
});
mkdirSync(join(WEB, 'vendor'), { recursive: true });
copyFileSync(join(uplotDir, 'dist/uPlot.min.css'), join(WEB, 'vendor/uPlot.min.css'));
copyFileSync(join(uplotDir, 'LICENSE'), join(WEB, 'vendor/uPlot.LICENSE.txt'));
const kib = (f) => (statSync(join(WEB, f)).size / 1024).toFixed(1);
const chunks = readdirSync(join(WEB, 'chunks')).filter((f) => f.endsWith('.js'));
process.stderr.write(
  `web: app.js ${kib('app.js')} KiB (+ ${chunks.map((c) => `${c} ${kib(`chunks/${c}`)} KiB`).join(', ')}) ` +
    `in ${(performance.now() - t0).toFixed(0)} ms\n`,
);
