// dist/bundle/ (scripts/bundle.mjs): the files bin/rstwatch.js runs. The code finds its workers, its addon,
// package.json, the dashboard and the shipped health files by URLs relative to the module that builds them;
// tsc's files sit at dist/<folder>/, the bundle's at dist/bundle/ — each such URL must name the same thing
// from both, or the bundled CLI would miss it (a worker that does not start, an addon that does not load).

import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const BUNDLE = join(ROOT, 'dist/bundle');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

describe('the bundled CLI (dist/bundle)', () => {
  it('has the entry points bin/rstwatch.js and the workers load', () => {
    for (const f of ['main.js', 'classify-worker.js', 'flow-worker.js', 'pipe-worker.js'])
      expect(existsSync(join(BUNDLE, f)), `dist/bundle/${f} (npm run build makes it)`).toBe(true);
  });

  it('resolves every URL the code builds from import.meta.url to what tsc’s files resolve it to', () => {
    const seen: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new URL\(\s*'([^']+)',\s*import\.meta\.url\s*\)/g)) {
        const spec = m[1]!;
        const compiled = join(ROOT, 'dist', relative(join(ROOT, 'src'), dirname(file)), 'x.js');
        const fromDist = fileURLToPath(new URL(spec, pathToFileURL(compiled)));
        const fromBundle = fileURLToPath(new URL(spec, pathToFileURL(join(BUNDLE, 'x.js'))));
        seen.push(spec);
        expect(existsSync(fromBundle), `${relative(ROOT, file)}: ${spec} from dist/bundle/`).toBe(true);
        // A module of the same folder (a worker) is the bundle's own entry of that name; anything else the
        // same file or folder.
        if (spec.startsWith('./')) expect(fromBundle).toBe(join(BUNDLE, spec.slice(2)));
        else expect(fromBundle, `${relative(ROOT, file)}: ${spec}`).toBe(fromDist);
      }
    }
    // The scan found the URLs it is about (a changed pattern would make this test pass on nothing).
    expect(seen).toEqual(
      expect.arrayContaining([
        './classify-worker.js',
        './flow-worker.js',
        './pipe-worker.js',
        '../../package.json',
        '../../build/native/engine.node',
        '../../web',
        '../../defaults/health.d',
      ]),
    );
  });

  // Which of our modules a run of bin/rstwatch.js loads: a module resolve hook (node:module register) names them.
  function loaded(bin: string): { status: number | null; stdout: string; urls: string[] } {
    const hooks = `data:text/javascript,${encodeURIComponent(
      "export async function resolve(s, c, next) { const r = await next(s, c); if (r.url.includes('/dist/')) process.stderr.write('LOADED ' + r.url + '\\n'); return r; }",
    )}`;
    const register = `data:text/javascript,${encodeURIComponent(
      `import { register } from 'node:module'; register(${JSON.stringify(hooks)});`,
    )}`;
    const r = spawnSync(process.execPath, ['--import', register, bin, '--version'], { encoding: 'utf8' });
    const urls = [...r.stderr.matchAll(/^LOADED (\S+)$/gm)].map((m) => m[1]!);
    return { status: r.status, stdout: r.stdout, urls };
  }

  it('is what bin/rstwatch.js runs', () => {
    const r = loaded(join(ROOT, 'bin/rstwatch.js'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.urls).toContain(pathToFileURL(join(BUNDLE, 'main.js')).href);
    expect(r.urls.filter((u) => !u.includes('/dist/bundle/'))).toEqual([]);
  });

  it('falls back to tsc’s files when there is no bundle', () => {
    // bin/rstwatch.js in a copy of the tree whose dist/ has every folder but bundle/.
    const dir = mkdtempSync(join(tmpdir(), 'rstwatch-bundle-'));
    try {
      mkdirSync(join(dir, 'bin'));
      copyFileSync(join(ROOT, 'bin/rstwatch.js'), join(dir, 'bin/rstwatch.js'));
      copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
      mkdirSync(join(dir, 'dist'));
      for (const d of readdirSync(join(ROOT, 'dist')))
        if (d !== 'bundle') symlinkSync(join(ROOT, 'dist', d), join(dir, 'dist', d));
      const r = loaded(join(dir, 'bin/rstwatch.js'));
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+/);
      expect(r.urls).toContain(pathToFileURL(join(ROOT, 'dist/cli/main.js')).href);
      expect(r.urls.filter((u) => u.includes('/dist/bundle/'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
