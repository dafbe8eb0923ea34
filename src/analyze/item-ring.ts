/**
 * Variable-length items (int32 words) handed from the flow worker back to the reading thread through shared
 * memory: the connections leaving the worker's flow table, which the reading thread classifies
 * (flow-worker.ts, analyze.ts). One producer (the worker), one consumer (the reading thread).
 *
 * An item is [length, kind, ...payload] written word by word modulo the ring size. The producer publishes its
 * counter after each item; it sleeps (Atomics.wait) only when the item does not fit, after waking the
 * consumer through `wake` — the word the consumer sleeps on when it waits for the packet ring, so that a
 * consumer blocked on one ring still empties the other (no deadlock between the two rings). The consumer
 * never sleeps here: it drains what is there when it has time, and waits for the rest at the end.
 */

import { existsSync, readlinkSync, statSync } from 'node:fs';

/** Words in the ring (a power of two): 4 MiB. */
export const ITEM_RING_WORDS = 1 << 20;

/** The kinds of item (flow-worker.ts writes them, flow-sink.ts and native/classify.c read them). Here, not in
 * flow-worker.ts: importing that module loads node:worker_threads for its worker's side. */
export const ITEM_ATTEMPT = 1;
export const ITEM_HELD = 2;
export const ITEM_END = 3;

/*
 * The control words, in two cache lines: the producer's (head, and whether it waits for room) and the
 * consumer's (tail, closed, whether it sleeps). With all five in one line, every item moved that line from
 * one core to the other and back (the producer reading the tail, the consumer reading the head): ~40 ms of
 * the reading thread's time on the 1 GB benchmark capture with a busy consumer. The same indices in
 * native/engine.c.
 */
const C_HEAD = 0;
const C_PRODUCER_WAITS = 1;
const C_TAIL = 16;
/** Set by the consumer when it stopped (an error): a waiting producer gives up. */
const C_CLOSED = 17;
/** C_CLOSED, for tests that play a consumer by hand. */
export const CONTROL_CLOSED = C_CLOSED;
/** Set while a consumer sleeps for an item (ItemReader.wait): the producer then notifies C_HEAD. */
const C_CONSUMER_WAITS = 18;
/**
 * The consumer's kernel thread id (ItemReader.registerThread; 0: unknown). A consumer thread that ends
 * without closing the ring — a worker killed by its heap limit, or by `process.exit()` — leaves a producer
 * waiting for room with nobody to tell it: the producer's own thread cannot run the event loop that would
 * carry the worker's 'exit' event. It looks the thread up instead (consumerGone; engine.c ring_reserve).
 */
const C_CONSUMER_TID = 19;
/** C_CONSUMER_TID, for tests that play a consumer by hand. */
export const CONTROL_CONSUMER_TID = C_CONSUMER_TID;
const CONTROL_INTS = 32;

/**
 * This thread's kernel thread id: Linux names it in /proc/thread-self. 0 where there is no such link
 * (FreeBSD, /proc not mounted): the producer then cannot tell a dead consumer from a slow one.
 */
export function currentThreadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 && tid < 2 ** 31 ? tid : 0;
  } catch {
    return 0;
  }
}

/**
 * Whether the consumer registered in `ctl` has ended: its thread is no longer among this process's
 * (/proc/self/task). False when no thread was registered or /proc cannot say.
 */
export function consumerGone(ctl: Int32Array): boolean {
  return threadGone(Atomics.load(ctl, C_CONSUMER_TID));
}

/**
 * Whether thread `tid` of this process (currentThreadId) has ended: it is gone from /proc/self/task. False
 * for 0 (unknown) or when /proc cannot say.
 */
export function threadGone(tid: number): boolean {
  if (tid <= 0) return false;
  try {
    statSync(`/proc/self/task/${tid}`);
    return false;
  } catch (err) {
    // ENOENT for a thread that ended; anything else (no /proc at all) says nothing.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/task');
  }
}

/** How often (ms) a producer waiting for room looks whether the consumer's thread still exists. */
export const LIVENESS_CHECK_MS = 100;

export interface ItemRingBuffers {
  words: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** `words`: the ring's size, a power of two (tests make small rings to wrap them often). */
export function newItemRingBuffers(words = ITEM_RING_WORDS): ItemRingBuffers {
  if (words < 16 || (words & (words - 1)) !== 0)
    throw new RangeError(`item ring of ${words} words: a power of two >= 16`);
  return {
    words: new SharedArrayBuffer(words * 4),
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
  };
}

const F64 = new Float64Array(1);
const F64_WORDS = new Int32Array(F64.buffer);

/** A growable item being built (or read): words, doubles as two words. */
export class Item {
  words = new Int32Array(256);
  length = 0;

  clear(): this {
    this.length = 0;
    return this;
  }

  private room(n: number): void {
    if (this.length + n <= this.words.length) return;
    const bigger = new Int32Array(Math.max(this.words.length * 2, this.length + n));
    bigger.set(this.words.subarray(0, this.length));
    this.words = bigger;
  }

  int(v: number): this {
    this.room(1);
    this.words[this.length++] = v;
    return this;
  }

  double(v: number): this {
    this.room(2);
    F64[0] = v;
    this.words[this.length++] = F64_WORDS[0]!;
    this.words[this.length++] = F64_WORDS[1]!;
    return this;
  }

  // One method per source array type: a shared one would see several element kinds and run slowly (the
  // connections handed back by the flow worker go through these, ~200 words each).

  /** Copies n words of `src` from `at`. */
  ints(src: Int32Array, at: number, n: number): this {
    this.room(n);
    const w = this.words;
    let o = this.length;
    for (let i = 0; i < n; i++) w[o++] = src[at + i]!;
    this.length = o;
    return this;
  }

  /** Copies n bytes of `src` from `at`, one word each. */
  bytes(src: Uint8Array, at: number, n: number): this {
    this.room(n);
    const w = this.words;
    let o = this.length;
    for (let i = 0; i < n; i++) w[o++] = src[at + i]!;
    this.length = o;
    return this;
  }

  doubles(src: Float64Array, at: number, n: number): this {
    this.room(2 * n);
    const w = this.words;
    let o = this.length;
    for (let i = 0; i < n; i++) {
      F64[0] = src[at + i]!;
      w[o++] = F64_WORDS[0]!;
      w[o++] = F64_WORDS[1]!;
    }
    this.length = o;
    return this;
  }
}

/** Where an item's words are read from, in order. */
export interface ItemSource {
  int(): number;
  double(): number;
  /** n words into dst from `to`. */
  ints(dst: Int32Array, to: number, n: number): void;
  /** n words into dst from `to`, the low byte of each (what Item.bytes wrote). */
  bytes(dst: Uint8Array, to: number, n: number): void;
  doubles(dst: Float64Array, to: number, n: number): void;
}

/** Reads an Item's words in order. */
export class ItemCursor implements ItemSource {
  private item: Item = new Item();
  private pos = 0;

  reset(item: Item): this {
    this.item = item;
    this.pos = 0;
    return this;
  }

  int(): number {
    return this.item.words[this.pos++]!;
  }

  double(): number {
    F64_WORDS[0] = this.item.words[this.pos++]!;
    F64_WORDS[1] = this.item.words[this.pos++]!;
    return F64[0]!;
  }

  ints(dst: Int32Array, to: number, n: number): void {
    const w = this.item.words;
    let p = this.pos;
    for (let i = 0; i < n; i++) dst[to + i] = w[p++]!;
    this.pos = p;
  }

  bytes(dst: Uint8Array, to: number, n: number): void {
    const w = this.item.words;
    let p = this.pos;
    for (let i = 0; i < n; i++) dst[to + i] = w[p++]!;
    this.pos = p;
  }

  doubles(dst: Float64Array, to: number, n: number): void {
    const w = this.item.words;
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      F64_WORDS[0] = w[p++]!;
      F64_WORDS[1] = w[p++]!;
      dst[to + i] = F64[0]!;
    }
    this.pos = p;
  }
}

export class ItemWriter {
  private readonly R: Int32Array;
  private readonly size: number;
  private readonly mask: number;
  private readonly ctl: Int32Array;
  private head = 0;
  /** The consumer's tail as last read: read again only when the ring looks full by it. */
  private tail = 0;

  /** `wake`/`wakeIndex`: the word the consumer may be sleeping on (notified when this writer must wait). */
  constructor(
    buffers: ItemRingBuffers,
    private readonly wake: Int32Array,
    private readonly wakeIndex: number,
  ) {
    this.R = new Int32Array(buffers.words);
    this.ctl = new Int32Array(buffers.control);
    this.size = this.R.length;
    this.mask = this.size - 1;
  }

  /**
   * Takes the ring's published head as its own: another writer of this thread wrote items in between (the
   * native engine, native.ts). One writer at a time still.
   */
  sync(): void {
    this.head = Atomics.load(this.ctl, C_HEAD);
  }

  /** Whether `n` words fit the ring now. */
  private room(n: number): boolean {
    if (((this.head - this.tail) | 0) <= this.size - n) return true;
    this.tail = Atomics.load(this.ctl, C_TAIL);
    return ((this.head - this.tail) | 0) <= this.size - n;
  }

  /** Whether `item` fits the ring now. */
  fits(item: Item): boolean {
    return this.room(item.length + 2);
  }

  /** Appends one item of `kind`; blocks while it does not fit. Throws when the consumer closed the ring. */
  push(kind: number, item: Item): void {
    const n = item.length + 2;
    if (n > this.size) throw new RangeError(`an item of ${n} words does not fit the ring`);
    const ctl = this.ctl;
    while (!this.room(n)) {
      if (Atomics.load(ctl, C_CLOSED) !== 0) throw new Error('the reading thread stopped taking connections');
      if (consumerGone(ctl))
        throw new Error('the thread taking connections ended without a word (it died: see its error above)');
      const tail = Atomics.load(ctl, C_TAIL);
      Atomics.store(ctl, C_PRODUCER_WAITS, 1);
      Atomics.notify(this.wake, this.wakeIndex);
      Atomics.wait(ctl, C_TAIL, tail, LIVENESS_CHECK_MS);
      Atomics.store(ctl, C_PRODUCER_WAITS, 0);
    }
    const R = this.R;
    let h = this.head;
    R[h & this.mask] = n;
    R[(h + 1) & this.mask] = kind;
    h += 2;
    const w = item.words;
    const mask = this.mask;
    for (let i = 0; i < item.length; i++) R[(h + i) & mask] = w[i]!;
    this.head = (h + item.length) | 0;
    Atomics.store(ctl, C_HEAD, this.head);
    if (Atomics.load(ctl, C_CONSUMER_WAITS) !== 0) Atomics.notify(ctl, C_HEAD);
  }
}

/**
 * Reads items where they lie in the ring (no copy): next() finds the next one and positions the reader on
 * its payload, the ItemSource methods read it, done() lets its words go.
 */
export class ItemReader implements ItemSource {
  private readonly R: Int32Array;
  private readonly mask: number;
  private readonly ctl: Int32Array;
  private tail = 0;
  private pos = 0;
  private end = 0;
  /** The producer's head as last read: read again only when every item up to it was taken. */
  private head = 0;
  /** The tail as the producer last saw it (publish), and how far it may lag behind. */
  private published = 0;
  private readonly publishEvery: number;

  constructor(buffers: ItemRingBuffers) {
    this.R = new Int32Array(buffers.words);
    this.ctl = new Int32Array(buffers.control);
    this.mask = this.R.length - 1;
    // A sixteenth of the ring: the producer finds room again, at the latest, once that much more was taken.
    this.publishEvery = this.R.length >> 4;
  }

  /**
   * The next item's kind, the reader positioned on its payload (until done()), or −1 when none is waiting.
   * With `into`, the payload is also copied there and the item is done at once.
   */
  next(into?: Item): number {
    if (this.head === this.tail) {
      this.head = Atomics.load(this.ctl, C_HEAD);
      if (this.head === this.tail) {
        // Nothing waiting: the producer gets all the room there is before this thread turns elsewhere.
        this.publish();
        return -1;
      }
    }
    const R = this.R;
    const t = this.tail;
    const n = R[t & this.mask]!;
    const kind = R[(t + 1) & this.mask]!;
    this.pos = t + 2;
    this.end = t + n;
    if (into !== undefined) {
      into.clear();
      const len = n - 2;
      if (into.words.length < len) into.words = new Int32Array(Math.max(len, into.words.length * 2));
      this.ints(into.words, 0, len);
      into.length = len;
      this.done();
    }
    return kind;
  }

  /** The last word of the current item. */
  last(): number {
    return this.R[(this.end - 1) & this.mask]!;
  }

  int(): number {
    return this.R[this.pos++ & this.mask]!;
  }

  double(): number {
    F64_WORDS[0] = this.R[this.pos++ & this.mask]!;
    F64_WORDS[1] = this.R[this.pos++ & this.mask]!;
    return F64[0]!;
  }

  ints(dst: Int32Array, to: number, n: number): void {
    const R = this.R;
    let p = this.pos;
    const mask = this.mask;
    const at = p & mask;
    if (at + n <= R.length) {
      // Without the mask when the words do not wrap. A plain loop, not set(subarray()): the view made per
      // call was a third of the classification worker's allocations (37 MB on the 1 GB benchmark capture).
      for (let i = 0; i < n; i++) dst[to + i] = R[at + i]!;
      this.pos = p + n;
      return;
    }
    for (let i = 0; i < n; i++) dst[to + i] = R[p++ & mask]!;
    this.pos = p;
  }

  bytes(dst: Uint8Array, to: number, n: number): void {
    const R = this.R;
    let p = this.pos;
    const mask = this.mask;
    for (let i = 0; i < n; i++) dst[to + i] = R[p++ & mask]!;
    this.pos = p;
  }

  doubles(dst: Float64Array, to: number, n: number): void {
    const R = this.R;
    let p = this.pos;
    const mask = this.mask;
    for (let i = 0; i < n; i++) {
      F64_WORDS[0] = R[p++ & mask]!;
      F64_WORDS[1] = R[p++ & mask]!;
      dst[to + i] = F64[0]!;
    }
    this.pos = p;
  }

  /**
   * The current item's words may be overwritten now: the producer is told so once a sixteenth of the ring
   * was taken, or when no item is left (next()), not after each item.
   */
  done(): void {
    this.tail = this.end | 0;
    if (((this.tail - this.published) | 0) >= this.publishEvery) this.publish();
  }

  /** Tells the producer how far items were taken (and wakes it if it waits for room). */
  private publish(): void {
    if (this.published === this.tail) return; // a waiting producer has seen this tail already
    const ctl = this.ctl;
    this.published = this.tail;
    Atomics.store(ctl, C_TAIL, this.tail);
    if (Atomics.load(ctl, C_PRODUCER_WAITS) !== 0) Atomics.notify(ctl, C_TAIL);
  }

  /** Sleeps until an item is waiting or `ms` milliseconds pass (a consumer with nothing else to do). */
  wait(ms: number): void {
    this.publish();
    const ctl = this.ctl;
    Atomics.store(ctl, C_CONSUMER_WAITS, 1);
    if (Atomics.load(ctl, C_HEAD) === this.tail) Atomics.wait(ctl, C_HEAD, this.tail, ms);
    Atomics.store(ctl, C_CONSUMER_WAITS, 0);
  }

  /**
   * Names this thread as the consumer (C_CONSUMER_TID): a producer waiting for room then notices should it
   * end without close(). Called by a worker thread before it takes any item.
   */
  registerThread(): void {
    Atomics.store(this.ctl, C_CONSUMER_TID, currentThreadId());
  }

  /** No more items will be taken: a producer waiting for room gives up. */
  close(): void {
    Atomics.store(this.ctl, C_CLOSED, 1);
    Atomics.notify(this.ctl, C_TAIL);
  }
}
