/**
 * Decoded TCP segments handed from the reading thread to the flow worker (flow-worker.ts) through a ring of
 * fixed-size records in shared memory: the reader/decoder fills records on one core while the flow table
 * runs on the other (docs/benchmarks.md, part 7).
 *
 * One producer, one consumer. Each side publishes its counter (records written / read) with Atomics every
 * BATCH records, and sleeps with Atomics.wait only when the ring is full (producer) or empty (consumer),
 * announcing it in a flag so that the other side wakes it — with hysteresis: a full producer sleeps until
 * half the ring is free, an idle consumer until an eighth of it waits (or the ring is closed), so that
 * the two threads do not wake each other every batch (a futex round trip per 256 records was a quarter of
 * the worker's time). Counters are int32 and wrap; fill levels are computed with `| 0`. A side that waits
 * re-checks every second, and the producer gives up with an error when the consumer's thread has ended
 * without a word (it names its thread: RingReader.registerThread; Linux), or has stopped moving for
 * STALL_SEC.
 */

import type { DecodedTcp } from '../packet/types.js';
import { flowKey, K_V, KEY_INTS } from './flow-key.js';
import { currentThreadId, threadGone } from './item-ring.js';

/**
 * Records in the ring by default (a power of two): 8 MiB of 128-byte records. A ring of 16,384 (2 MiB) left
 * each thread waiting for the other ~0.35 s on a 1 GB capture, bursts of one side (the reading thread
 * classifying a batch of held connections, the worker's first seconds before its code is optimized) being
 * longer than the ring could absorb; 65,536 halves the waits and took ~6 % off the wall time
 * (docs/benchmarks.md, part 7, round 3).
 */
export const RING_RECORDS = 65_536;
/** int32 per record (128 bytes); the frame number is a double in the last 8 bytes. */
const REC = 32;
const BATCH = 256;
// Per ring (its size, a power of two, is the records buffer's): a full producer resumes when half the ring is
// free again (`room`); an idle consumer is woken when an eighth of it waits (`wakeConsumer`).
const STALL_SEC = 120;

/** The flow key (flow-key.ts), computed here by the reading thread. */
const P_KEY = 0;
const P_SEQ = KEY_INTS;
const P_ACK = P_SEQ + 1;
const P_FLAGS = P_SEQ + 2;
const P_WINDOW = P_SEQ + 3;
const P_LEN = P_SEQ + 4;
const P_TTL = P_SEQ + 5;
const P_IPID = P_SEQ + 6;
const P_MSS = P_SEQ + 7;
const P_WSCALE = P_SEQ + 8;
const P_OPTS = P_SEQ + 9; // bit 0: SACK permitted, bit 1: timestamps
const P_TSVAL = P_SEQ + 10;
const P_TS_SEC = P_SEQ + 11;
const P_TS_NSEC = P_SEQ + 12;
/** The frame number as a double: Float64Array index = record * REC / 2 + P_FRAME_D. */
const P_FRAME_D = 14;
if (P_TS_NSEC >= 2 * P_FRAME_D) throw new Error('packet-ring: layout overlaps');

// Control words.
const C_HEAD = 0;
const C_TAIL = 1;
const C_DONE = 2;
/** Set by the consumer when it failed: the producer stops waiting. */
const C_FAILED = 3;
const C_PRODUCER_WAITS = 4;
const C_CONSUMER_WAITS = 5;
/** The consumer's kernel thread id (0: unknown): a producer waiting for room looks it up (threadGone). */
const C_CONSUMER_TID = 6;
/** C_CONSUMER_TID, for tests that play a consumer by hand. */
export const RING_CONSUMER_TID = C_CONSUMER_TID;
const CONTROL_INTS = 8;

/** The shared memory of one ring (structured-clonable: passed to the worker as workerData). */
export interface RingBuffers {
  records: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/**
 * The control word a producer sleeps on while the ring is full: another thread that needs the producer's
 * attention (the flow worker with connections to hand back, item-ring.ts) notifies it.
 */
export function wakeWord(buffers: RingBuffers): [Int32Array, number] {
  return [new Int32Array(buffers.control), C_TAIL];
}

/** A ring of `records` records (a power of two, at least 2 × BATCH; default RING_RECORDS). */
export function newRingBuffers(records = RING_RECORDS): RingBuffers {
  if (!Number.isInteger(records) || records < 2 * BATCH || (records & (records - 1)) !== 0)
    throw new RangeError(`packet ring: ${records} records is not a power of two of at least ${2 * BATCH}`);
  return {
    records: new SharedArrayBuffer(records * REC * 4),
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
  };
}

export class RingWriter {
  private readonly I: Int32Array;
  private readonly F: Float64Array;
  private readonly ctl: Int32Array;
  private head = 0;
  private published = 0;
  private readonly size: number;
  private readonly mask: number;
  private readonly room: number;
  private readonly wakeConsumer: number;

  /**
   * `whileWaiting`: called when the ring is full, before each sleep (and after each wake-up); it returns
   * true when it got something done (the consumer is alive then).
   */
  constructor(
    buffers: RingBuffers,
    private readonly whileWaiting?: () => boolean,
  ) {
    this.I = new Int32Array(buffers.records);
    this.F = new Float64Array(buffers.records);
    this.ctl = new Int32Array(buffers.control);
    this.size = this.I.length / REC;
    this.mask = this.size - 1;
    this.room = this.size >> 1;
    this.wakeConsumer = this.size >> 3;
  }

  /** The consumer said it failed. */
  failed(): boolean {
    return Atomics.load(this.ctl, C_FAILED) !== 0;
  }

  /** Appends one segment; blocks while the ring is full. */
  write(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    if (((this.head - this.published) | 0) >= BATCH) this.publish();
    if (((this.head - Atomics.load(this.ctl, C_TAIL)) | 0) >= this.size) this.waitForRoom();
    const I = this.I;
    const k = this.head & this.mask;
    const o = k * REC;
    flowKey(pkt.ipVersion, pkt.src, pkt.dst, pkt.srcPort, pkt.dstPort, I, o + P_KEY);
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
    const ctl = this.ctl;
    Atomics.store(ctl, C_HEAD, this.head);
    if (
      Atomics.load(ctl, C_CONSUMER_WAITS) !== 0 &&
      ((this.head - Atomics.load(ctl, C_TAIL)) | 0) >= this.wakeConsumer
    )
      Atomics.notify(ctl, C_HEAD);
  }

  /** No more records: the consumer drains the ring and ends. */
  close(): void {
    this.publish();
    Atomics.store(this.ctl, C_DONE, 1);
    Atomics.notify(this.ctl, C_HEAD);
  }

  /**
   * Sleeps until half the ring is free. Throws when the consumer failed (it said so) or stopped moving for
   * STALL_SEC.
   */
  private waitForRoom(): void {
    this.publish();
    const ctl = this.ctl;
    // The consumer may be asleep below its wake-up level (less than wakeConsumer records were published
    // when it looked): the ring is full now, wake it.
    Atomics.notify(ctl, C_HEAD);
    let lastTail = Atomics.load(ctl, C_TAIL);
    let lastProgress = Date.now();
    while (((this.head - lastTail) | 0) > this.size - this.room) {
      if (Atomics.load(ctl, C_FAILED) !== 0) throw new Error('the flow worker failed');
      // A worker killed by its heap limit says nothing, and this thread, blocked here, cannot run the event
      // loop that would deliver its 'exit': its thread is looked up instead.
      if (threadGone(Atomics.load(ctl, C_CONSUMER_TID)))
        throw new Error('the flow worker ended without a word (it died: see its error above)');
      if (this.whileWaiting?.() === true) lastProgress = Date.now();
      Atomics.store(ctl, C_PRODUCER_WAITS, 1);
      Atomics.wait(ctl, C_TAIL, lastTail, 1000);
      Atomics.store(ctl, C_PRODUCER_WAITS, 0);
      const tail = Atomics.load(ctl, C_TAIL);
      if (tail !== lastTail) lastProgress = Date.now();
      else if (Date.now() - lastProgress > STALL_SEC * 1000)
        throw new Error(`the flow worker made no progress for ${STALL_SEC} s`);
      lastTail = tail;
    }
  }
}

export class RingReader {
  private readonly I: Int32Array;
  private readonly F: Float64Array;
  private readonly ctl: Int32Array;
  private tail = 0;
  private readonly size: number;
  private readonly mask: number;
  private readonly room: number;

  constructor(buffers: RingBuffers) {
    this.I = new Int32Array(buffers.records);
    this.F = new Float64Array(buffers.records);
    this.ctl = new Int32Array(buffers.control);
    this.size = this.I.length / REC;
    this.mask = this.size - 1;
    this.room = this.size >> 1;
  }

  /**
   * Calls `each` for every record until the producer closes the ring, filling `pkt` (reused) for each —
   * except its addresses and ports: the segment's flow key goes to `key` (flow-key.ts), as
   * FlowTable.observeKeyed reads it. Sleeps while the ring is empty.
   */
  drain(
    pkt: DecodedTcp,
    key: Int32Array,
    each: (pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number) => void,
  ): void {
    const ctl = this.ctl;
    const I = this.I;
    const F = this.F;
    const mask = this.mask;
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
        const k = tail & mask;
        const o = k * REC;
        for (let i = 0; i < KEY_INTS; i++) key[i] = I[o + P_KEY + i]!;
        pkt.ipVersion = key[K_V]!;
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
    const ctl = this.ctl;
    Atomics.store(ctl, C_TAIL, tail);
    if (
      Atomics.load(ctl, C_PRODUCER_WAITS) !== 0 &&
      ((Atomics.load(ctl, C_HEAD) - tail) | 0) <= this.size - this.room
    )
      Atomics.notify(ctl, C_TAIL);
  }

  /** Names this thread as the consumer: a producer waiting for room notices should it end without fail(). */
  registerThread(): void {
    Atomics.store(this.ctl, C_CONSUMER_TID, currentThreadId());
  }

  /** Tells the producer that no record will be read any more. */
  fail(): void {
    Atomics.store(this.ctl, C_FAILED, 1);
    Atomics.notify(this.ctl, C_TAIL);
  }
}
