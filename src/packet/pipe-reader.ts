/**
 * Reading a pipe or a FIFO (`cat x.pcap | rstwatch analyze -`, `zstd -dc x.pcap.zst | …`) with a thread of
 * its own (pipe-worker.ts) that fills a 16 MiB ring of shared memory with blocking reads; the reading thread
 * takes what has accumulated, as views into the ring. Measured on a 1 GB capture (docs/benchmarks.md,
 * part 7): through `cat |`, 5.4–6.3 s when read as Node's process.stdin stream, ~4 s with reads in libuv's
 * thread pool one at a time (a pipe hands over at most 64 KiB a read, each read a round trip through the
 * event loop), and about the time of the file itself this way.
 *
 * The reading thread waits for data with Atomics.waitAsync, so its event loop keeps running (Ctrl-C is
 * handled while the pipe is quiet), and an abort signal ends the reading at once even when the worker is
 * blocked in a read that may never return (a live capture nobody stops); the worker then ends after that
 * read, or with the process.
 */

import type { Worker } from 'node:worker_threads';
import { workerThreads } from '../internal/builtins.js';
import {
  P_DONE,
  P_HEAD,
  P_STOP,
  P_TAIL,
  PIPE_CONTROL_INTS,
  PIPE_MESSAGE_BYTES,
  PIPE_RING_BYTES,
  type PipeWorkerData,
} from './pipe-ring.js';

/** The worker's file next to this one — only in the compiled build (from the TypeScript sources: none). */
const WORKER_URL = import.meta.url.endsWith('.js') ? new URL('./pipe-worker.js', import.meta.url) : undefined;

/** Atomics.waitAsync (ES2024; in Node since 16), which the project's `lib` setting predates. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
      timeoutMs: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/** While data keeps coming, the event loop is let run at least this often (signals, timers). */
const YIELD_EVERY_MS = 50;

/**
 * The chunks of descriptor `fd`, in order, as views into the ring: each is valid until the next one is asked
 * for; `ended` resolves when the thread has stopped reading the descriptor (only then may it be closed).
 * Undefined when no reader thread can be started (the caller reads the descriptor itself). `ringBytes`: for
 * tests (a power of two).
 */
export function pipeChunks(
  fd: number,
  signal?: AbortSignal,
  ringBytes = PIPE_RING_BYTES,
): { chunks: AsyncGenerator<Uint8Array>; ended: Promise<void> } | undefined {
  if (WORKER_URL === undefined) return undefined;
  const data: PipeWorkerData = {
    fd,
    ring: new SharedArrayBuffer(ringBytes),
    control: new SharedArrayBuffer(PIPE_CONTROL_INTS * 4),
    message: new SharedArrayBuffer(PIPE_MESSAGE_BYTES),
  };
  let worker: Worker;
  try {
    worker = new (workerThreads().Worker)(WORKER_URL, { workerData: data });
  } catch {
    return undefined;
  }
  // A worker blocked in a read of a pipe nobody closes must not keep the process alive.
  worker.unref();
  let failure: string | undefined;
  const C = new Int32Array(data.control);
  const gone = (why: string) => {
    failure ??= why;
    Atomics.notify(C, P_HEAD);
  };
  worker.once('error', (err) => gone(`the pipe reader failed: ${err.message}`));
  const ended = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      if (Atomics.load(C, P_DONE) === 0 && Atomics.load(C, P_STOP) === 0)
        gone(`the pipe reader stopped (exit code ${code})`);
      resolve();
    }),
  );
  return { chunks: chunks(data, C, signal, () => failure), ended };
}

async function* chunks(
  data: PipeWorkerData,
  C: Int32Array,
  signal: AbortSignal | undefined,
  failure: () => string | undefined,
): AsyncGenerator<Uint8Array> {
  const ring = new Uint8Array(data.ring);
  const size = ring.length;
  const aborted = new Promise<void>((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let tail = 0;
  let lastYield = performance.now();
  try {
    for (;;) {
      if (signal?.aborted === true) return;
      const head = Atomics.load(C, P_HEAD);
      if (head !== tail) {
        const avail = (head - tail) | 0;
        const at = tail & (size - 1);
        const first = Math.min(avail, size - at);
        yield ring.subarray(at, at + first);
        if (avail > first) yield ring.subarray(0, avail - first);
        tail = (tail + avail) | 0;
        Atomics.store(C, P_TAIL, tail);
        Atomics.notify(C, P_TAIL);
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
        continue;
      }
      const done = Atomics.load(C, P_DONE);
      if (done !== 0) {
        if (Atomics.load(C, P_HEAD) !== tail) continue; // written just before DONE
        if (done === 1) return;
        // A copy: TextDecoder may refuse a view of shared memory.
        const text = new TextDecoder().decode(new Uint8Array(data.message).slice()).replace(/\0+$/, '');
        throw new Error(text || 'a read failed');
      }
      const why = failure();
      if (why !== undefined) throw new Error(why);
      const w = waitAsync(C, P_HEAD, head, 250);
      if (w.async) {
        // A timer keeps the event loop alive while it waits (the worker is unref'd).
        const keepAlive = setTimeout(() => undefined, 1000);
        await (signal === undefined ? w.value : Promise.race([w.value, aborted]));
        clearTimeout(keepAlive);
      }
      lastYield = performance.now();
    }
  } finally {
    Atomics.store(C, P_STOP, 1);
    Atomics.notify(C, P_TAIL);
  }
}
