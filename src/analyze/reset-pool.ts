/**
 * The RSTs of the flows in the table, kept in typed arrays until their flow leaves: one entry per RST,
 * linked per flow, entries reused through a free list; the `ResetInfo` objects are built only when the
 * connection is handed out (records.ts).
 *
 * Why (docs/benchmarks.md, part 7): a finished flow stays in a full table for seconds of capture time, and
 * its reset objects with it; on a 1 GB capture ~10,000 of them were alive at every scavenge, copied, promoted
 * and collected again by full mark-compacts — most of the garbage collector's time. Entries here cost nothing
 * to the collector. The pool grows by doubling; it holds as many RSTs as the flows in the table have (the
 * same bound as before, at a fifth of the bytes).
 */

import type { RstJudgment } from './types.js';

// ---- int32 fields ----
/** Next entry of the same flow (or of the free list); −1 ends. */
export const R_NEXT = 0;
/** Physical endpoint (0/1) that sent the RST. */
export const R_SENDER = 1;
export const R_SEQ = 2;
export const R_ACK = 3;
export const R_FLAGS = 4;
export const R_PAYLOAD = 5;
export const R_JUDGMENT = 6;
/** Expected sequence number (int32) and whether there was one (else −1 in the record). */
export const R_EXPECTED = 7;
export const R_HAS_EXPECTED = 8;
export const R_OFFSET = 9;
export const R_WINDOW = 10;
export const R_CHALLENGE = 11;
export const R_SND_STATE = 12;
export const R_RCV_STATE = 13;
export const R_AFTER_FINS = 14;
export const R_TTL = 15;
export const R_IPID = 16;
export const R_HAS_TS = 17;
export const R_TSVAL = 18;
export const R_PREV_TTL = 19;
export const R_PREV_IPID = 20;
export const R_PREV_HAS_TS = 21;
/** The sender's previous TSval (int32), valid when R_PREV_HAS_TS. */
export const R_PREV_TSVAL = 22;
export const R_PREV_TTL_MIN = 23;
export const R_PREV_TTL_MAX = 24;
export const R_KEEPALIVE = 25;
export const R_STRIDE = 26;

// ---- doubles ----
export const RD_FRAME = 0;
export const RD_TIME = 1;
export const RD_CHALLENGE_FRAME = 2;
export const RD_IDLE = 3;
export const RD_PREV_PACKETS = 4;
export const RD_STRIDE = 5;

/**
 * RSTs recorded per side of a connection; later ones are only counted, with the cause of the side's last
 * recorded one (flow-analysis.ts). A blind RST-injection attack sends thousands on one 4-tuple: recording
 * each made the analysis of a 238 KB gzip take 3.2 GB (docs/security.md). The scenario captures and the
 * corpus have at most 4.
 */
export const MAX_RESETS_PER_SIDE = 32;
/**
 * Entries the pool grows to (~37 MB): past it, a side's RSTs after its first are only counted. With the
 * first always recorded, the pool can pass this by at most two entries per flow.
 */
export const MAX_POOL_ENTRIES = 262_144;

export const JUDGMENTS: readonly RstJudgment[] = ['exact', 'in-window', 'out-of-window', 'unknown'];
export const JUDGMENT_CODE: Readonly<Record<RstJudgment, number>> = {
  exact: 0,
  'in-window': 1,
  'out-of-window': 2,
  unknown: 3,
};

export class ResetPool {
  I: Int32Array;
  D: Float64Array;
  private free = -1;
  private used = 0;
  /** Entries ever allocated (the arrays' capacity). */
  capacity: number;

  constructor(initial = 1024) {
    this.capacity = Math.max(1, initial);
    this.I = new Int32Array(this.capacity * R_STRIDE);
    this.D = new Float64Array(this.capacity * RD_STRIDE);
  }

  /** No entry is free and the pool is at MAX_POOL_ENTRIES. */
  full(): boolean {
    return this.free < 0 && this.used >= MAX_POOL_ENTRIES;
  }

  /** A new entry (fields to be written by the caller; R_NEXT is −1). */
  take(): number {
    let e = this.free;
    if (e >= 0) {
      this.free = this.I[e * R_STRIDE + R_NEXT]!;
    } else {
      if (this.used === this.capacity) this.grow();
      e = this.used++;
    }
    this.I[e * R_STRIDE + R_NEXT] = -1;
    return e;
  }

  /** The entry after `e` in its list (−1: the last). */
  next(e: number): number {
    return this.I[e * R_STRIDE + R_NEXT]!;
  }

  /** Returns an entry (and only it) to the free list. */
  release(e: number): void {
    this.I[e * R_STRIDE + R_NEXT] = this.free;
    this.free = e;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const I = new Int32Array(cap * R_STRIDE);
    I.set(this.I);
    const D = new Float64Array(cap * RD_STRIDE);
    D.set(this.D);
    this.I = I;
    this.D = D;
    this.capacity = cap;
  }
}
