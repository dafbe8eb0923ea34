// Module hooks that load .ts files through esbuild's transform (types stripped, nothing bundled), so that the
// fuzzer runs src/ as it is in the working tree and V8 coverage names the real files. A relative import of
// `x.js` from a .ts file resolves to `x.ts` when there is no `x.js` (the NodeNext convention of the sources).
// TypeScript 7 has no compiler API to do this with; esbuild is a dev dependency.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

export async function resolve(specifier, context, next) {
  const fromTs = context.parentURL?.endsWith('.ts');
  if (fromTs && specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:'))) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(fileURLToPath(url))) {
      const ts = new URL(`${url.href.slice(0, -3)}.ts`);
      if (existsSync(fileURLToPath(ts))) return { url: ts.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const file = fileURLToPath(url);
  const out = transformSync(readFileSync(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcefile: file,
    sourcemap: 'inline',
  });
  return { format: 'module', source: out.code, shortCircuit: true };
}
