/**
 * Decoded TCP segments handed from the reading thread to the flow worker (flow-worker.ts) through a ring of
 * fixed-size records in shared memory: the reader/decoder fills records on one core while the flow table
 * runs on the other (docs/benchmarks.md, part 7).
 *
 * One producer, one consumer. Each side publishes its counter (records written / read) with Atomics every
 * BATCH records, and sleeps with Atomics.wait only when the ring is full (producer) or empty (consumer),
 * announcing it in a flag so that the other side notifies only then. Counters are int32 and wrap; fill
 * levels are computed with `| 0`. A side that waits re-checks every second, and the producer gives up with
 * an error when the consumer has stopped moving for STALL_SEC (a worker that died without a word).
 */

import type { DecodedTcp } from '../packet/types.js';

/** Records in the ring (a power of two): 2 MiB of 128-byte records. */
export const RING_RECORDS = 16_384;
const MASK = RING_RECORDS - 1;
/** int32 per record (128 bytes); the frame number is a double in the last 8 bytes. */
const REC = 32;
const BATCH = 256;
const STALL_SEC = 120;

const P_V = 0;
const P_SRC = 1; // 4 words
const P_DST = 5; // 4 words
const P_SPORT = 9;
const P_DPORT = 10;
const P_SEQ = 11;
const P_ACK = 12;
const P_FLAGS = 13;
const P_WINDOW = 14;
const P_LEN = 15;
const P_TTL = 16;
const P_IPID = 17;
const P_MSS = 18;
const P_WSCALE = 19;
const P_OPTS = 20; // bit 0: SACK permitted, bit 1: timestamps
const P_TSVAL = 21;
const P_TS_SEC = 22;
const P_TS_NSEC = 23;
/** The frame number as a double: Float64Array index = record * REC / 2 + P_FRAME_D. */
const P_FRAME_D = 13;

// Control words.
const C_HEAD = 0;
const C_TAIL = 1;
const C_DONE = 2;
/** Set by the consumer when it failed: the producer stops waiting. */
const C_FAILED = 3;
const C_PRODUCER_WAITS = 4;
const C_CONSUMER_WAITS = 5;
const CONTROL_INTS = 8;

/** The shared memory of one ring (structured-clonable: passed to the worker as workerData). */
export interface RingBuffers {
  records: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export function newRingBuffers(): RingBuffers {
  return {
    records: new SharedArrayBuffer(RING_RECORDS * REC * 4),
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
  };
}

function word(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

export class RingWriter {
  private readonly I: Int32Array;
  private readonly F: Float64Array;
  private readonly ctl: Int32Array;
  private head = 0;
  private published = 0;

  constructor(buffers: RingBuffers) {
    this.I = new Int32Array(buffers.records);
    this.F = new Float64Array(buffers.records);
    this.ctl = new Int32Array(buffers.control);
  }

  /** Appends one segment; blocks while the ring is full. */
  write(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    if (((this.head - this.published) | 0) >= BATCH) this.publish();
    if (((this.head - Atomics.load(this.ctl, C_TAIL)) | 0) >= RING_RECORDS) this.waitForRoom();
    const I = this.I;
    const k = this.head & MASK;
    const o = k * REC;
    const src = pkt.src;
    const dst = pkt.dst;
    I[o + P_V] = pkt.ipVersion;
    I[o + P_SRC] = word(src, 0);
    I[o + P_DST] = word(dst, 0);
    if (pkt.ipVersion === 6) {
      I[o + P_SRC + 1] = word(src, 4);
      I[o + P_SRC + 2] = word(src, 8);
      I[o + P_SRC + 3] = word(src, 12);
      I[o + P_DST + 1] = word(dst, 4);
      I[o + P_DST + 2] = word(dst, 8);
      I[o + P_DST + 3] = word(dst, 12);
    }
    I[o + P_SPORT] = pkt.srcPort;
    I[o + P_DPORT] = pkt.dstPort;
    I[o + P_SEQ] = pkt.seq;
    I[o + P_ACK] = pkt.ack;
    I[o + P_FLAGS] = pkt.flags;
    I[o + P_WINDOW] = pkt.window;
    I[o + P_LEN] = pkt.payloadLen;
    I[o + P_TTL] = pkt.ttl;
    I[o + P_IPID] = pkt.ipId;
    I[o + P_MSS] = pkt.mss;
    I[o + P_WSCALE] = pkt.wscale;
    I[o + P_OPTS] = (pkt.sackPermitted ? 1 : 0) | (pkt.hasTimestamps ? 2 : 0);
    I[o + P_TSVAL] = pkt.tsVal;
    I[o + P_TS_SEC] = tsSec;
    I[o + P_TS_NSEC] = tsNsec;
    this.F[k * (REC / 2) + P_FRAME_D] = frame;
    this.head = (this.head + 1) | 0;
  }

  /** Makes the records written so far visible to the consumer. */
  publish(): void {
    this.published = this.head;
    Atomics.store(this.ctl, C_HEAD, this.head);
    if (Atomics.load(this.ctl, C_CONSUMER_WAITS) !== 0) Atomics.notify(this.ctl, C_HEAD);
  }

  /** No more records: the consumer drains the ring and ends. */
  close(): void {
    this.publish();
    Atomics.store(this.ctl, C_DONE, 1);
    Atomics.notify(this.ctl, C_HEAD);
  }

  /** The consumer failed (it said so) or stopped moving for STALL_SEC. */
  private waitForRoom(): void {
    this.publish();
    const ctl = this.ctl;
    let lastTail = Atomics.load(ctl, C_TAIL);
    let stalled = 0;
    while (((this.head - lastTail) | 0) >= RING_RECORDS) {
      if (Atomics.load(ctl, C_FAILED) !== 0) throw new Error('the flow worker failed');
      Atomics.store(ctl, C_PRODUCER_WAITS, 1);
      if (Atomics.wait(ctl, C_TAIL, lastTail, 1000) === 'timed-out') {
        if (++stalled >= STALL_SEC) throw new Error(`the flow worker made no progress for ${STALL_SEC} s`);
      } else stalled = 0;
      Atomics.store(ctl, C_PRODUCER_WAITS, 0);
      lastTail = Atomics.load(ctl, C_TAIL);
    }
  }
}

export class RingReader {
  private readonly I: Int32Array;
  private readonly F: Float64Array;
  private readonly ctl: Int32Array;
  private tail = 0;

  constructor(buffers: RingBuffers) {
    this.I = new Int32Array(buffers.records);
    this.F = new Float64Array(buffers.records);
    this.ctl = new Int32Array(buffers.control);
  }

  /**
   * Calls `each` for every record until the producer closes the ring, filling `pkt` (reused) for each —
   * except its address bytes: the addresses go to `words` (source words 0–3, destination 4–7; IPv4 in 0 and
   * 4), as FlowTable.observeWords reads them. Sleeps while the ring is empty.
   */
  drain(
    pkt: DecodedTcp,
    words: Int32Array,
    each: (pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number) => void,
  ): void {
    const ctl = this.ctl;
    const I = this.I;
    const F = this.F;
    let tail = this.tail;
    for (;;) {
      const head = Atomics.load(ctl, C_HEAD);
      if (head === tail) {
        if (Atomics.load(ctl, C_DONE) !== 0 && Atomics.load(ctl, C_HEAD) === tail) break;
        Atomics.store(ctl, C_CONSUMER_WAITS, 1);
        if (Atomics.load(ctl, C_HEAD) === tail && Atomics.load(ctl, C_DONE) === 0)
          Atomics.wait(ctl, C_HEAD, tail, 1000);
        Atomics.store(ctl, C_CONSUMER_WAITS, 0);
        continue;
      }
      let done = 0;
      while (tail !== head) {
        const k = tail & MASK;
        const o = k * REC;
        const v = I[o + P_V]!;
        pkt.ipVersion = v;
        words[0] = I[o + P_SRC]!;
        words[4] = I[o + P_DST]!;
        if (v === 6) {
          words[1] = I[o + P_SRC + 1]!;
          words[2] = I[o + P_SRC + 2]!;
          words[3] = I[o + P_SRC + 3]!;
          words[5] = I[o + P_DST + 1]!;
          words[6] = I[o + P_DST + 2]!;
          words[7] = I[o + P_DST + 3]!;
        }
        pkt.srcPort = I[o + P_SPORT]!;
        pkt.dstPort = I[o + P_DPORT]!;
        pkt.seq = I[o + P_SEQ]! >>> 0;
        pkt.ack = I[o + P_ACK]! >>> 0;
        pkt.flags = I[o + P_FLAGS]!;
        pkt.window = I[o + P_WINDOW]!;
        pkt.payloadLen = I[o + P_LEN]!;
        pkt.ttl = I[o + P_TTL]!;
        pkt.ipId = I[o + P_IPID]!;
        pkt.mss = I[o + P_MSS]!;
        pkt.wscale = I[o + P_WSCALE]!;
        const opts = I[o + P_OPTS]!;
        pkt.sackPermitted = (opts & 1) !== 0;
        pkt.hasTimestamps = (opts & 2) !== 0;
        pkt.tsVal = I[o + P_TSVAL]! >>> 0;
        each(pkt, I[o + P_TS_SEC]! >>> 0, I[o + P_TS_NSEC]!, F[k * (REC / 2) + P_FRAME_D]!);
        tail = (tail + 1) | 0;
        if (++done === BATCH) {
          done = 0;
          this.release(tail);
        }
      }
      this.release(tail);
    }
    this.tail = tail;
  }

  private release(tail: number): void {
    Atomics.store(this.ctl, C_TAIL, tail);
    if (Atomics.load(this.ctl, C_PRODUCER_WAITS) !== 0) Atomics.notify(this.ctl, C_TAIL);
  }

  /** Tells the producer that no record will be read any more. */
  fail(): void {
    Atomics.store(this.ctl, C_FAILED, 1);
    Atomics.notify(this.ctl, C_TAIL);
  }
}
