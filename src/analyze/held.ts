/**
 * Connections with resets that wait to be classified (analyze.ts keeps up to maxConnections + 4,096 of them),
 * kept as copies of their flow records rather than as objects: their RSTs stay in the reset pool, and a
 * `Connection` is made only for those a report lists (`materialize`). The others are classified through one
 * reused connection object (`view`) and dropped.
 *
 * Why (docs/benchmarks.md, part 7): on a 1 GB capture with 190,000 connections with resets, building a
 * `Connection` and its `ResetInfo`s for each was ~300 MB of allocation, and the held ones lived long enough to
 * be promoted and collected by full mark-compacts.
 */

import type { AddressNames } from './addr-cache.js';
import {
  D_ID,
  D_STRIDE,
  F_DROPPED0,
  F_NRESETS,
  F_ORIG_EP,
  F_PENDING,
  F_RESET_HEAD,
  F_RESET_TAIL,
  FlowStore,
  HIST_CAP,
  I_STRIDE,
} from './flow-record.js';
import type { Item, ItemSource } from './item-ring.js';
import { ConnectionRecord, ContextView, type ResetRecord, readResets } from './records.js';
import { R_NEXT, R_STRIDE, RD_STRIDE, type ResetPool } from './reset-pool.js';
import type { Connection } from './types.js';

/** Why a connection left the table, as a number in serialized connections. */
export const CLOSED_BY: readonly Connection['closedBy'][] = ['finished', 'idle', 'evicted', 'reused', 'end'];

export class HeldConnections {
  private store: FlowStore;
  private readonly why: Connection['closedBy'][] = [];
  private free: number[] = [];
  private used = 0;
  private readonly viewConn = new ConnectionRecord();
  private readonly viewResets: ResetRecord[] = [];
  private ctxView: ContextView | undefined;

  constructor(
    private readonly pool: ResetPool,
    private readonly names: AddressNames,
    initial = 256,
  ) {
    this.store = new FlowStore(initial);
  }

  /** How many are held. */
  get size(): number {
    return this.used - this.free.length;
  }

  /** A free index. */
  private alloc(): number {
    let h = this.free.pop();
    if (h === undefined) {
      if (this.used === this.store.slots) this.grow();
      h = this.used++;
    }
    return h;
  }

  /** Copies the flow in `slot` of `from` (its RSTs now belong here) and returns its index. */
  add(from: FlowStore, slot: number, why: Connection['closedBy']): number {
    const h = this.alloc();
    const s = this.store;
    // Plain loops, one per array type (a shared helper would see three element kinds and run slowly).
    const fi = from.I;
    const ti = s.I;
    for (let i = 0, a = slot * I_STRIDE, b = h * I_STRIDE; i < I_STRIDE; i++) ti[b + i] = fi[a + i]!;
    const fd = from.D;
    const td = s.D;
    for (let i = 0, a = slot * D_STRIDE, b = h * D_STRIDE; i < D_STRIDE; i++) td[b + i] = fd[a + i]!;
    const fh = from.H;
    const th = s.H;
    for (let i = 0, a = slot * HIST_CAP, b = h * HIST_CAP; i < HIST_CAP; i++) th[b + i] = fh[a + i]!;
    s.spill[h] = from.spill[slot];
    this.why[h] = why;
    return h;
  }

  /** Connection id of held connection `h`. */
  id(h: number): number {
    return this.store.D[h * D_STRIDE + D_ID]!;
  }

  /**
   * RSTs of held connection `h` counted but not recorded (past MAX_RESETS_PER_SIDE), from its originator
   * (`orig`) or its responder.
   */
  dropped(h: number, orig: boolean): number {
    const I = this.store.I;
    const b = h * I_STRIDE;
    const origPhys = I[b + F_ORIG_EP]!;
    return I[b + F_DROPPED0 + (orig ? origPhys : origPhys ^ 1)]!;
  }

  /** Resets of held connection `h`. */
  resets(h: number): number {
    return this.store.I[h * I_STRIDE + F_NRESETS]!;
  }

  /** Held connection `h` as the capture-wide context reads it (records.ts ContextView): until the next call. */
  contextView(h: number): ContextView {
    this.ctxView ??= new ContextView(this.pool, this.names);
    return this.ctxView.at(this.store, h);
  }

  /** Held connection `h` in one reused object: valid until the next view(). */
  view(h: number): Connection {
    const s = this.store;
    const I = s.I;
    const b = h * I_STRIDE;
    const resets = readResets(
      this.pool,
      I[b + F_RESET_HEAD]!,
      I[b + F_ORIG_EP]!,
      this.viewConn.resets,
      false,
      this.viewResets,
    );
    return this.viewConn.load(s, h, this.why[h]!, this.names, resets);
  }

  /** Held connection `h` as a Connection of its own (it stays held). */
  materialize(h: number): Connection {
    const s = this.store;
    const b = h * I_STRIDE;
    const resets = readResets(this.pool, s.I[b + F_RESET_HEAD]!, s.I[b + F_ORIG_EP]!, [], false);
    return new ConnectionRecord().load(s, h, this.why[h]!, this.names, resets);
  }

  /** Takes a connection written by serializeFlow() (in any thread), read from `c`; returns its index here. */
  deserialize(c: ItemSource): number {
    const h = this.alloc();
    const s = this.store;
    const b = h * I_STRIDE;
    this.why[h] = CLOSED_BY[c.int()]!;
    c.ints(s.I, b, I_STRIDE);
    c.doubles(s.D, h * D_STRIDE, D_STRIDE);
    c.bytes(s.H, h * HIST_CAP, HIST_CAP);
    const spillLength = c.int();
    let spill = '';
    for (let i = 0; i < spillLength; i++) spill += String.fromCharCode(c.int());
    s.spill[h] = spillLength > 0 ? spill : undefined;
    const n = c.int();
    const pool = this.pool;
    let head = -1;
    let tail = -1;
    for (let i = 0; i < n; i++) {
      const e = pool.take();
      c.ints(pool.I, e * R_STRIDE, R_STRIDE);
      c.doubles(pool.D, e * RD_STRIDE, RD_STRIDE);
      pool.I[e * R_STRIDE + R_NEXT] = -1;
      if (tail < 0) head = e;
      else pool.I[tail * R_STRIDE + R_NEXT] = e;
      tail = e;
    }
    s.I[b + F_RESET_HEAD] = head;
    s.I[b + F_RESET_TAIL] = tail;
    s.I[b + F_NRESETS] = n;
    s.I[b + F_PENDING] = -1;
    return h;
  }

  /**
   * Copies the flow in `slot` of `from` whose RSTs are the first `n` entries of `ri`/`rd` (the native
   * engine's exchange area, native.ts, in the reset-pool layout) and returns its index here: deserialize()
   * from memory instead of an item.
   */
  addFrom(
    from: FlowStore,
    slot: number,
    why: Connection['closedBy'],
    ri: Int32Array,
    rd: Float64Array,
    n: number,
  ): number {
    const h = this.add(from, slot, why);
    const s = this.store;
    const pool = this.pool;
    let head = -1;
    let tail = -1;
    for (let i = 0; i < n; i++) {
      const e = pool.take();
      const PI = pool.I;
      const PD = pool.D;
      for (let k = 0, a = i * R_STRIDE, b = e * R_STRIDE; k < R_STRIDE; k++) PI[b + k] = ri[a + k]!;
      for (let k = 0, a = i * RD_STRIDE, b = e * RD_STRIDE; k < RD_STRIDE; k++) PD[b + k] = rd[a + k]!;
      PI[e * R_STRIDE + R_NEXT] = -1;
      if (tail < 0) head = e;
      else PI[tail * R_STRIDE + R_NEXT] = e;
      tail = e;
    }
    const b = h * I_STRIDE;
    s.I[b + F_RESET_HEAD] = head;
    s.I[b + F_RESET_TAIL] = tail;
    s.I[b + F_NRESETS] = n;
    s.I[b + F_PENDING] = -1;
    return h;
  }

  /** Lets held connection `h` go (its RSTs back to the pool). */
  release(h: number): void {
    const s = this.store;
    const b = h * I_STRIDE;
    for (let e = s.I[b + F_RESET_HEAD]!; e >= 0; ) {
      const next = this.pool.next(e);
      this.pool.release(e);
      e = next;
    }
    s.I[b + F_RESET_HEAD] = -1;
    s.I[b + F_RESET_TAIL] = -1;
    s.I[b + F_NRESETS] = 0;
    s.spill[h] = undefined;
    this.free.push(h);
  }

  private grow(): void {
    const old = this.store;
    const s = new FlowStore(old.slots * 2);
    s.I.set(old.I);
    s.D.set(old.D);
    s.H.set(old.H);
    for (let i = 0; i < old.slots; i++) s.spill[i] = old.spill[i];
    this.store = s;
  }
}

/**
 * Writes the flow in `slot` of `s` (its RSTs in `pool`) into `out`, for HeldConnections.deserialize in
 * another thread. Layout: closedBy, the int and double record, the history letters and spill, then each
 * RST's pool entry. The flow and its RSTs are left as they are.
 */
export function serializeFlow(
  s: FlowStore,
  slot: number,
  why: Connection['closedBy'],
  pool: ResetPool,
  out: Item,
): void {
  const b = slot * I_STRIDE;
  out.clear();
  out.int(CLOSED_BY.indexOf(why));
  out.ints(s.I, b, I_STRIDE);
  out.doubles(s.D, slot * D_STRIDE, D_STRIDE);
  out.bytes(s.H, slot * HIST_CAP, HIST_CAP);
  const spill = s.spill[slot] ?? '';
  out.int(spill.length);
  for (let i = 0; i < spill.length; i++) out.int(spill.charCodeAt(i));
  out.int(s.I[b + F_NRESETS]!);
  for (let e = s.I[b + F_RESET_HEAD]!; e >= 0; e = pool.next(e)) {
    out.ints(pool.I, e * R_STRIDE, R_STRIDE);
    out.doubles(pool.D, e * RD_STRIDE, RD_STRIDE);
  }
}

/**
 * serializeFlow() for a flow whose RSTs are the first `n` entries of `ri`/`rd` (the native engine's exchange
 * area, native.ts) instead of a reset-pool chain; `why` as an index of CLOSED_BY.
 */
export function serializeFlowFrom(
  s: FlowStore,
  slot: number,
  why: number,
  ri: Int32Array,
  rd: Float64Array,
  n: number,
  out: Item,
): void {
  out.clear();
  out.int(why);
  out.ints(s.I, slot * I_STRIDE, I_STRIDE);
  out.doubles(s.D, slot * D_STRIDE, D_STRIDE);
  out.bytes(s.H, slot * HIST_CAP, HIST_CAP);
  const spill = s.spill[slot] ?? '';
  out.int(spill.length);
  for (let i = 0; i < spill.length; i++) out.int(spill.charCodeAt(i));
  out.int(n);
  for (let i = 0; i < n; i++) {
    out.ints(ri, i * R_STRIDE, R_STRIDE);
    out.doubles(rd, i * RD_STRIDE, RD_STRIDE);
  }
}
