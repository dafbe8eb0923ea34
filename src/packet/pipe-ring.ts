/**
 * The shared memory between the pipe reader (pipe-reader.ts, the reading thread) and its thread
 * (pipe-worker.ts): a byte ring and its control words. Counters are int32 and wrap; fill levels are computed
 * with `| 0`.
 */

/** Bytes in the ring (a power of two). */
export const PIPE_RING_BYTES = 16 * 1024 * 1024;

/** Bytes written by the worker (its counter). */
export const P_HEAD = 0;
/** Bytes taken by the reading thread. */
export const P_TAIL = 1;
/** 1: the input ended; 2: a read failed (the text in `message`). */
export const P_DONE = 2;
/** Set by the reading thread: the worker stops after its current read. */
export const P_STOP = 3;
export const PIPE_CONTROL_INTS = 4;
export const PIPE_MESSAGE_BYTES = 512;

export interface PipeWorkerData {
  fd: number;
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** A failed read's message, UTF-8, NUL-padded. */
  message: SharedArrayBuffer;
}
