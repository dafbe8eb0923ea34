/**
 * The pipe reader's thread (pipe-reader.ts): reads one descriptor — a pipe, a FIFO — with blocking reads into
 * a ring of shared memory, as fast as the writer fills the pipe, whatever the reading thread is busy with.
 *
 * A pipe hands over at most 64 KiB a read; done from the reading thread, each read was a round trip through
 * libuv's thread pool and the event loop, which made `cat 1GB.pcap | rstwatch analyze -` 1.5× slower than
 * reading the file (docs/benchmarks.md, part 7). Here the reads are plain system calls in a loop, and the
 * reading thread takes whatever has accumulated, megabytes at a time.
 *
 * Started with workerData { fd, ring, control, message } (pipe-reader.ts PipeWorkerData). Ends at the end of
 * the input (DONE = 1), on an error (DONE = 2, its text in `message`), or when the reading thread says STOP.
 */

import { readSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { P_DONE, P_HEAD, P_STOP, P_TAIL, type PipeWorkerData } from './pipe-ring.js';

function run(data: PipeWorkerData): void {
  const ring = new Uint8Array(data.ring);
  const C = new Int32Array(data.control);
  const size = ring.length;
  let head = 0;
  for (;;) {
    if (Atomics.load(C, P_STOP) !== 0) return;
    const tail = Atomics.load(C, P_TAIL);
    const free = size - ((head - tail) | 0);
    if (free === 0) {
      // Full: wait for the reading thread to take some (it notifies P_TAIL), re-checking STOP each second.
      Atomics.wait(C, P_TAIL, tail, 1000);
      continue;
    }
    const at = head & (size - 1);
    let got: number;
    try {
      got = readSync(data.fd, ring, at, Math.min(free, size - at), null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EINTR') {
        // A descriptor left non-blocking by whoever shares it: nothing to read yet.
        Atomics.wait(C, P_STOP, 0, 5);
        continue;
      }
      const text = new TextEncoder().encode(err instanceof Error ? err.message : String(err));
      new Uint8Array(data.message).set(text.subarray(0, data.message.byteLength - 1));
      Atomics.store(C, P_DONE, 2);
      Atomics.notify(C, P_HEAD);
      return;
    }
    if (got === 0) {
      Atomics.store(C, P_DONE, 1);
      Atomics.notify(C, P_HEAD);
      return;
    }
    head = (head + got) | 0;
    Atomics.store(C, P_HEAD, head);
    Atomics.notify(C, P_HEAD);
  }
}

const started = workerData as Partial<PipeWorkerData> | null | undefined;
if (started?.ring !== undefined && started.control !== undefined) run(started as PipeWorkerData);
