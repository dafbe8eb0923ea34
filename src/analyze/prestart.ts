/**
 * The classification worker started before the analyzer's own modules load (`rstwatch analyze`).
 *
 * A worker thread takes ~0.11 s to start on the benchmark machine (its isolate, then the classification's
 * module graph), and the reading thread used to start it only once its own modules were loaded, ~50 ms
 * into the run: the worker then took connections ~0.28 s after the process started, and was still behind at
 * the end of the 1 GB benchmark capture, so the reading thread waited for it. Started here, from the CLI
 * right after its arguments are checked, the worker boots while the reading thread loads the analyzer; it
 * then waits for its options (a message) before it claims the ring (classify-worker.ts).
 *
 * Since the classification runs in C (native/classify.c), one thread is as fast as two with the native
 * engine, so the worker is started only for `--threads 2` (docs/benchmarks.md, part 7, round 7).
 *
 * This module is light on purpose (no analyzer imports): the point is to run before they load. A worker
 * started here that the analysis does not take — the TypeScript tracker, no native engine — is stopped
 * (discardPrestarted); unref'ed meanwhile, it never keeps the process alive.
 */

import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../internal/builtins.js';
import { type ItemRingBuffers, newItemRingBuffers } from './item-ring.js';

/**
 * Inputs from this size on are analysed with the worker (when `parallel` is 'auto'): starting it costs
 * ~40 ms, which a small capture does not win back.
 */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;

/**
 * 'auto': is the worker worth starting for an input of `bytes` (undefined: a stream, size unknown) with
 * `cpus` CPUs available to the process? Not below PARALLEL_MIN_BYTES (starting it costs more than it
 * wins), and not on one CPU: the two threads would take turns on it, and splitting the work costs ~15–25 %
 * more CPU (the ring, the connections handed back, a second V8 heap: docs/benchmarks.md, part 7).
 */
export function autoParallel(bytes: number | undefined, cpus: number): boolean {
  if (cpus < 2) return false;
  return bytes === undefined || bytes >= PARALLEL_MIN_BYTES;
}

/**
 * The classification ring: 16 MiB (4 Mi words, ~20,000 connections with resets). The worker is ready
 * ~0.23 s after the process started (~0.28 s before it was started ahead), and its code is still being
 * optimized for a while after that:
 * with the flow worker's 4 MiB ring the reading thread waited for room ~0.07–0.1 s of the 1 GB benchmark
 * capture (counted in the engine); with this one it did not wait at all. Its pages are all touched once
 * it has wrapped: ~12 MB more resident than the 4 MiB ring.
 */
export const CLASSIFY_RING_WORDS = 1 << 22;

/** The worker's file next to this one — only when this is the compiled build (a .js file). */
export const CLASSIFY_URL = import.meta.url.endsWith('.js')
  ? new URL('./classify-worker.js', import.meta.url)
  : undefined;

/** A classification worker started ahead, waiting for its options. */
export interface Prestarted {
  worker: Worker;
  buffers: ItemRingBuffers;
  claim: SharedArrayBuffer;
  /** Why it ended before it was taken (an error, or its exit code), if it did. */
  ended: Error | undefined;
}

let waiting: Prestarted | undefined;
/** What became of the last worker started ahead (tests). */
let fate: 'taken' | 'discarded' | undefined;

/**
 * Starts the classification worker ahead of the analysis when it will want one: the compiled build and
 * `parallel: true` (`--threads 2`; with the native engine `auto` classifies in the reading thread). Never
 * throws: without it, the analysis starts its worker itself. `test.workerUrl`: another worker file (tests).
 */
export function prestartClassifyWorker(parallel: boolean | 'auto', test: { workerUrl?: URL } = {}): void {
  const url = test.workerUrl ?? CLASSIFY_URL;
  if (waiting !== undefined || url === undefined || parallel !== true) return;
  fate = undefined;
  try {
    const buffers = newItemRingBuffers(CLASSIFY_RING_WORDS);
    const claim = new SharedArrayBuffer(4);
    // No options in workerData: the worker waits for them (a message) before it claims anything.
    const worker = new (workerThreads().Worker)(url, {
      workerData: { classifyItems: buffers, claim },
      // As native.ts starts it (docs/benchmarks.md, part 7, round 4).
      resourceLimits: { maxYoungGenerationSizeMb: 48 },
    });
    const pre: Prestarted = { worker, buffers, claim, ended: undefined };
    // Listeners from the start: an 'error' event with none would throw in this thread.
    worker.once('error', (err) => {
      pre.ended ??= err;
    });
    worker.once('exit', (code) => {
      pre.ended ??= new Error(`the classification worker exited (code ${code}) early`);
    });
    worker.unref();
    waiting = pre;
  } catch {
    waiting = undefined;
  }
}

/**
 * Whether a worker started ahead waits to be taken or has ended before it was; else what became of the last
 * one (tests).
 */
export function prestartState(): 'none' | 'waiting' | 'ended' | 'taken' | 'discarded' {
  if (waiting === undefined) return fate ?? 'none';
  return waiting.ended === undefined ? 'waiting' : 'ended';
}

/** The worker started ahead, if any (taken once: the caller owns it now). */
export function takePrestarted(): Prestarted | undefined {
  const p = waiting;
  waiting = undefined;
  if (p !== undefined) fate = 'taken';
  if (p !== undefined && p.ended === undefined) p.worker.ref();
  return p;
}

/** Stops a worker started ahead that the analysis did not take. */
export function discardPrestarted(): void {
  const p = waiting;
  waiting = undefined;
  if (p === undefined) return;
  fate = 'discarded';
  void p.worker.terminate();
}
