// Shared helpers of the benchmark: statistics, tables, and one cleanup registry that runs on a normal end,
// on an error, and on Ctrl-C / SIGTERM / SIGHUP, so nothing the bench started outlives it.

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { descendants } from './proc-tree.mjs';

/** Nearest-rank percentile of an already sorted numeric array (p in 0..100). */
export function percentileSorted(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values) {
  const s = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function round(v, digits = 2) {
  if (!Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Format a number for a table cell ('–' when absent). */
export function fmt(v, digits = 2) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toFixed(digits);
}

/** A plain-text table: rows of strings, first row the header; numeric-looking cells right-aligned. */
export function table(rows) {
  const widths = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, String(r[i]).length);
  }
  const num = /^[-+]?[\d.,]+( ?[%×a-zA-Zµ/]+)?$|^–$/;
  const line = (r) =>
    r
      .map((c, i) => {
        const s = String(c);
        return i > 0 && num.test(s) ? s.padStart(widths[i]) : s.padEnd(widths[i]);
      })
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of rows.slice(1)) out.push(line(r));
  return out.join('\n');
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Synchronous sleep, for the exit path where no event loop turn is left. */
export function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cleanup registry
// ---------------------------------------------------------------------------------------------------------

/** Things to undo, newest first: { kind: 'proc', pid, label } | { kind: 'netns', name } | { kind: 'dir', path }. */
const resources = [];
let cleaned = false;

export function trackProcess(pid, label) {
  const r = { kind: 'proc', pid, label };
  resources.push(r);
  return r;
}

export function trackNetns(name) {
  const r = { kind: 'netns', name };
  resources.push(r);
  return r;
}

export function trackDir(path) {
  const r = { kind: 'dir', path };
  resources.push(r);
  return r;
}

/** Undo one resource now (and forget it). */
export function release(r) {
  untrack(r);
  if (r.kind === 'proc') {
    if (alive(r.pid)) killTree(r.pid, 'SIGKILL');
  } else if (r.kind === 'netns') {
    spawnSync('ip', ['netns', 'del', r.name], { stdio: 'ignore', timeout: 10_000 });
  } else if (r.kind === 'dir') {
    rmSync(r.path, { recursive: true, force: true, maxRetries: 3 });
  }
}

export function untrack(r) {
  const i = resources.indexOf(r);
  if (i >= 0) resources.splice(i, 1);
}

/** Kill one started process and everything below it: its process group, then any descendant left. */
export function killTree(pid, signal) {
  const pids = descendants(pid);
  try {
    process.kill(-pid, signal); // started with detached: true, so pid is its own group leader
  } catch {
    // group already gone
  }
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // gone
    }
  }
}

/**
 * Undo everything, synchronously (usable from the 'exit' handler): SIGTERM to every process tree, up to
 * `graceMs` for them to go, SIGKILL to what is left, then namespaces, then folders.
 */
export function cleanupSync(graceMs = 3000) {
  if (cleaned) return;
  cleaned = true;
  const procs = resources.filter((r) => r.kind === 'proc');
  for (const r of procs) if (alive(r.pid)) killTree(r.pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until && procs.some((r) => alive(r.pid))) sleepSync(50);
  for (const r of procs) if (alive(r.pid)) killTree(r.pid, 'SIGKILL');
  for (const r of [...resources].reverse()) {
    if (r.kind === 'netns') spawnSync('ip', ['netns', 'del', r.name], { stdio: 'ignore', timeout: 10_000 });
  }
  for (const r of [...resources].reverse()) {
    if (r.kind === 'dir') {
      try {
        rmSync(r.path, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // best effort
      }
    }
  }
  resources.length = 0;
}

export function installSignalCleanup() {
  const onSignal = (sig, code) => {
    process.stderr.write(`\nbench: ${sig}, cleaning up…\n`);
    cleanupSync();
    process.exit(code);
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('SIGHUP', () => onSignal('SIGHUP', 129));
  process.once('exit', () => cleanupSync(1000));
}
