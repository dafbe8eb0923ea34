#!/usr/bin/env node
// Builds the native analysis engine (native/engine.c → build/native/engine.node), part of `npm run build`.
//
// A plain C compiler call against Node's own headers (node_api.h), no node-gyp: the addon is one C file with
// no dependencies. When no compiler or no headers are found, or the compile fails, it says so and exits 0:
// `rstwatch analyze` then uses its TypeScript flow tracker (same report, slower; docs/analyze.md "Engine").
// Set RSTWATCH_NATIVE=0 to skip the build, RSTWATCH_NATIVE=1 to make a failure an error (CI).
//
// The addon is rebuilt only when native/engine.c (or a file it includes) is newer than it.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native', 'engine.c');
const out = join(root, 'build', 'native', 'engine.node');
const mode = process.env.RSTWATCH_NATIVE;

function give(reason) {
  if (mode === '1') {
    console.error(`build-native: ${reason}`);
    process.exit(1);
  }
  console.warn(`build-native: ${reason}; rstwatch analyze will use its TypeScript engine (slower)`);
  process.exit(0);
}

if (mode === '0') process.exit(0);
// (classify.c and readahead.c are part of the same translation unit: engine.c includes them)
const newest = Math.max(
  ...['engine.c', 'classify.c', 'readahead.c'].map((f) => statSync(join(root, 'native', f)).mtimeMs),
);
if (existsSync(out) && statSync(out).mtimeMs >= newest) process.exit(0);

// Node's headers: npm's nodedir setting, the ones next to this node binary, Debian's nodejs package.
const candidates = [
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  join(dirname(dirname(process.execPath)), 'include', 'node'),
  '/usr/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')));
if (include === undefined) give(`node_api.h not found (looked in ${candidates.join(', ')})`);

const cc = process.env.CC || 'cc';
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const args = [
  '-O2',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-fPIC',
  '-shared',
  '-fvisibility=hidden',
  '-DNODE_GYP_MODULE_NAME=rstwatch_engine',
  `-I${include}`,
  src,
  '-o',
  tmp,
];
// macOS resolves Node's symbols at load time only when told to.
if (process.platform === 'darwin') args.push('-undefined', 'dynamic_lookup');
const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.error) give(`${cc}: ${r.error.message}`);
if (r.status !== 0) give(`${cc} failed (status ${r.status})`);
renameSync(tmp, out);
console.log(`build-native: ${out}`);
