/**
 * Node's built-in modules that most runs never need, loaded when first used rather than when the module that
 * uses them is: each is compiled from JavaScript on first load (not in Node's startup snapshot), and
 * `rstwatch analyze` paid ~4 ms apiece for node:worker_threads (a worker is started only with --threads 2, a
 * pipe, or the TypeScript engine), node:v8 (the TypeScript engine's heap limit), node:tty (reading `-`) and
 * node:crypto (an --html file's temporary name) — docs/benchmarks.md, part 7, round 8.
 */

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function workerThreads(): typeof import('node:worker_threads') {
  return require('node:worker_threads');
}

export function v8(): typeof import('node:v8') {
  return require('node:v8');
}

export function tty(): typeof import('node:tty') {
  return require('node:tty');
}

export function crypto(): typeof import('node:crypto') {
  return require('node:crypto');
}
