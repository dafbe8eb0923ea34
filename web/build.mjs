#!/usr/bin/env node
// Builds the dashboard (docs/dashboard.md): web/src/main.ts, with uPlot and src/model/explain.ts bundled in,
// becomes web/app.js; uPlot's stylesheet and licence are copied to web/vendor/. Everything the page loads
// comes from the agent itself: no CDN, no external font. Run by `npm run build`.

import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const uplotDir = dirname(require.resolve('uplot/package.json'));

const t0 = performance.now();
await build({
  entryPoints: [join(WEB, 'src/main.ts')],
  outfile: join(WEB, 'app.js'),
  bundle: true,
  format: 'iife',
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
const kib = (statSync(join(WEB, 'app.js')).size / 1024).toFixed(1);
process.stderr.write(`web: app.js ${kib} KiB in ${(performance.now() - t0).toFixed(0)} ms\n`);
