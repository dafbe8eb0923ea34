/**
 * The flow table: a bounded hash table of TCP connections keyed by the canonical 4-tuple, fed one decoded
 * segment at a time. Each connection runs Zeek's endpoint state machine (conn-state.ts) and records every RST
 * with its acceptability judgment (seq.ts). Connections leave the table when they have been finished or idle
 * for a while, when a SYN reuses their 4-tuple, or (least recently used first) when the table is full; each is
 * handed to `onConnection` as it leaves, so memory stays bounded on multi-GB captures.
 *
 * Per packet on an existing flow: no allocation, no string building (history letters are appended only when a
 * new letter is due, at most a few per connection). Bounds and measurements: docs/conn-state.md.
 */

import type { DecodedTcp } from '../packet/types.js';
import { TCP } from '../packet/types.js';
import { AddressNames } from './addr-cache.js';
import { flipRoles, isFinished, isReuse } from './conn-state.js';
import { flowKey, K_A, K_B, K_HASH, K_PA, K_PB, K_SRC_IS_A, K_V, KEY_INTS } from './flow-key.js';
import {
  CONTROL,
  D_FIRST_FRAME,
  D_ID,
  D_LAST,
  D_START,
  D_STRIDE,
  F_A0,
  F_A1,
  F_A2,
  F_A3,
  F_B0,
  F_B1,
  F_B2,
  F_B3,
  F_HANDSHAKE,
  F_HASH,
  F_NRESETS,
  F_ORIG_EP,
  F_ORIG_IS_A,
  F_PA,
  F_PB,
  F_PENDING,
  F_RESET_HEAD,
  F_RESET_TAIL,
  F_V,
  FlowStore,
  I_STRIDE,
} from './flow-record.js';
import { HeldConnections } from './held.js';
import { DEFAULT_MAX_FLOWS } from './limits.js';
import { buildConnection, type QuietConnection, QuietView, readResets } from './records.js';
import { ResetPool } from './reset-pool.js';
import { plainSegment, type SegmentContext, segment } from './segment.js';
import type { Connection } from './types.js';

export type { QuietConnection } from './records.js';

export { DEFAULT_MAX_FLOWS };
/** Zeek's tcp_inactivity_timeout (5 min): how long a connection without a completed handshake stays idle. */
export const DEFAULT_IDLE_TIMEOUT_SEC = 300;
/**
 * How long an established connection (handshake seen) stays idle. Longer than Zeek's 5 min on purpose: Linux
 * sends its keepalive RST after tcp_keepalive_time + probes × tcp_keepalive_intvl = 7200 + 9 × 75 = 7875 s by
 * default, and that RST must be judged against the connection it ends, not start a new one.
 */
export const DEFAULT_ESTABLISHED_IDLE_TIMEOUT_SEC = 3 * 3600;
/** How long a finished (FIN-FIN or RST) connection stays to collect late RSTs, retransmissions, challenge ACKs. */
export const DEFAULT_CLOSED_TIMEOUT_SEC = 60;
/** Zeek's tcp_close_delay: how long Zeek keeps a finished connection; ours may go then when the table is full. */
export const CLOSE_DELAY_SEC = 5;
/** How soon after a RST the receiver's challenge ACK must appear (Linux answers at once). */
export const DEFAULT_CHALLENGE_ACK_SEC = 1;

export interface FlowTableOptions {
  /** Most connections tracked at once (default DEFAULT_MAX_FLOWS). */
  maxFlows?: number;
  idleTimeoutSec?: number;
  establishedIdleTimeoutSec?: number;
  closedTimeoutSec?: number;
  challengeAckSec?: number;
  /** Receives each connection as it leaves the table. Without it, they are kept and returned by finish(). */
  onConnection?: (conn: Connection) => void;
  /**
   * When set, a connection without resets leaving the table comes here instead, as a view valid only during
   * the call (no Connection is built: most connections of a capture have no reset). finish() still builds
   * every remaining connection.
   */
  onQuietConnection?: (conn: QuietConnection) => void;
  /**
   * When set, a connection with resets leaving the table is copied into `table.held` and its index comes
   * here instead of a Connection to onConnection (see held.ts).
   */
  onHeldConnection?: (held: number) => void;
  /**
   * Lowest level: a connection with resets leaving the table comes here with its record still in place
   * (`store`, `slot`, its RSTs in `pool`), to be copied out (held.ts serializeFlow); the table then frees
   * the record and the RSTs. Takes precedence over onHeldConnection.
   */
  onResetFlow?: (store: FlowStore, slot: number, why: Connection['closedBy'], pool: ResetPool) => void;
}

export interface FlowTableStats {
  /** Connections created. */
  flows: number;
  /** Connections currently in the table. */
  active: number;
  /** Connections pushed out because the table was full (their later packets start new connections). */
  evicted: number;
  /** Connections removed after idleTimeoutSec / closedTimeoutSec. */
  expired: number;
  /** Connections ended by a SYN reusing the 4-tuple. */
  reused: number;
  packets: number;
  resets: number;
}

/** Ports taken as "the server side" when no SYN tells (the spirit of Zeek's likely_server_ports). */
export const SERVER_PORTS = new Uint8Array(65536);
for (let p = 1; p < 1024; p++) SERVER_PORTS[p] = 1;
for (const p of [
  1080, 1194, 1433, 1521, 1883, 2049, 2181, 2375, 2376, 2379, 2380, 3000, 3128, 3268, 3269, 3306, 3389, 4369,
  5000, 5222, 5432, 5601, 5671, 5672, 5900, 5984, 6379, 6443, 6667, 7000, 7001, 8000, 8008, 8080, 8081, 8088,
  8443, 8883, 8888, 9000, 9042, 9090, 9092, 9093, 9200, 9300, 9418, 11211, 15672, 27017,
]) {
  SERVER_PORTS[p] = 1;
}

/** True when the port looks like a service port. */
export function isLikelyServerPort(port: number): boolean {
  return SERVER_PORTS[port] === 1;
}

export class FlowTable {
  readonly maxFlows: number;
  readonly stats: FlowTableStats = {
    flows: 0,
    active: 0,
    evicted: 0,
    expired: 0,
    reused: 0,
    packets: 0,
    resets: 0,
  };
  onConnection: ((conn: Connection) => void) | undefined;
  onQuietConnection: ((conn: QuietConnection) => void) | undefined;
  onHeldConnection: ((held: number) => void) | undefined;
  onResetFlow: FlowTableOptions['onResetFlow'];
  /** Connections with resets handed over by index (with onHeldConnection). */
  readonly held: HeldConnections;

  private readonly idleTimeout: number;
  private readonly establishedIdleTimeout: number;
  private readonly closedTimeout: number;
  /** The shortest of idleTimeout and closedTimeout: a tail idle for less cannot expire. */
  private readonly minTimeout: number;
  private readonly challengeSec: number;
  private readonly store: FlowStore;
  /** The flow key of the segment being observed (flow-key.ts; see observeKeyed). */
  readonly key = new Int32Array(KEY_INTS);
  /** The current packet's time (seconds): kept here, not passed, so that no call boxes a double. */
  private readonly now = new Float64Array(1);
  /** The slot whose last time tailLast holds (−1: none). */
  private tailSlot = -1;
  private readonly tailLast = new Float64Array(1);
  /** The RSTs of the flows in the table. */
  private readonly pool = new ResetPool();
  /**
   * Open-addressing index, two Int32 per bucket: slot + 1 (0 = empty) and the flow's hash, so a probe past
   * another flow compares the hash in this array instead of loading that flow's record (linear probing,
   * backward-shift deletion).
   */
  private readonly buckets: Int32Array;
  private readonly mask: number;
  /** LRU list over slots: head = most recent. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private readonly freeSlots: Int32Array;
  private freeTop: number;
  private readonly used: Uint8Array;
  private nextId = 0;
  private readonly kept: Connection[] = [];
  private readonly names = new AddressNames();
  private readonly quiet: QuietView;
  /** What the per-segment functions (segment.ts) work on. */
  private readonly cx: SegmentContext;

  constructor(opts: FlowTableOptions = {}) {
    const max = Math.max(1, Math.floor(opts.maxFlows ?? DEFAULT_MAX_FLOWS));
    this.maxFlows = max;
    this.idleTimeout = opts.idleTimeoutSec ?? DEFAULT_IDLE_TIMEOUT_SEC;
    this.establishedIdleTimeout = Math.max(
      this.idleTimeout,
      opts.establishedIdleTimeoutSec ?? DEFAULT_ESTABLISHED_IDLE_TIMEOUT_SEC,
    );
    this.closedTimeout = opts.closedTimeoutSec ?? DEFAULT_CLOSED_TIMEOUT_SEC;
    this.minTimeout = Math.min(this.idleTimeout, this.closedTimeout);
    this.challengeSec = opts.challengeAckSec ?? DEFAULT_CHALLENGE_ACK_SEC;
    this.onConnection = opts.onConnection;
    this.onQuietConnection = opts.onQuietConnection;
    this.onHeldConnection = opts.onHeldConnection;
    this.onResetFlow = opts.onResetFlow;
    this.store = new FlowStore(max);
    let size = 16;
    while (size < max * 2) size *= 2;
    this.buckets = new Int32Array(size * 2);
    this.mask = size - 1;
    this.prev = new Int32Array(max).fill(-1);
    this.next = new Int32Array(max).fill(-1);
    this.freeSlots = new Int32Array(max);
    for (let i = 0; i < max; i++) this.freeSlots[i] = max - 1 - i;
    this.freeTop = max;
    this.used = new Uint8Array(max);
    this.quiet = new QuietView(this.store, this.names);
    this.held = new HeldConnections(this.pool, this.names);
    this.cx = { store: this.store, pool: this.pool, now: this.now, challengeSec: this.challengeSec };
  }

  /** Feeds one decoded TCP segment. `pkt` may be reused by the caller after this returns. */
  observe(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    flowKey(pkt.ipVersion, pkt.src, pkt.dst, pkt.srcPort, pkt.dstPort, this.key, 0);
    this.observeKeyed(pkt, tsSec, tsNsec, frame);
  }

  /**
   * observe() for a segment whose flow key (flow-key.ts) is already in `key`: the addresses and ports of
   * `pkt` are not read. The flow worker's path (the reading thread computes the key).
   */
  observeKeyed(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    const t = tsSec + tsNsec / 1e9;
    this.now[0] = t;
    const st = this.stats;
    const flags = pkt.flags;
    st.packets++;
    if ((flags & TCP.RST) !== 0) st.resets++;
    const D = this.store.D;
    // Nothing can expire before the least recently seen flow has been idle for the shortest timeout. The
    // tail's last time is remembered (tailSlot/tailLast) so that its record is not loaded for every packet.
    const tail = this.tail;
    if (tail >= 0) {
      if (tail !== this.tailSlot) {
        this.tailSlot = tail;
        this.tailLast[0] = D[tail * D_STRIDE + D_LAST]!;
      }
      if (t - this.tailLast[0]! > this.minTimeout) this.expire();
    }

    const k = this.key;
    const a0 = k[K_A]!;
    const a1 = k[K_A + 1]!;
    const a2 = k[K_A + 2]!;
    const a3 = k[K_A + 3]!;
    const b0 = k[K_B]!;
    const b1 = k[K_B + 1]!;
    const b2 = k[K_B + 2]!;
    const b3 = k[K_B + 3]!;
    const pa = k[K_PA]!;
    const pb = k[K_PB]!;
    const srcIsA = k[K_SRC_IS_A] !== 0;
    const h = k[K_HASH]!;
    const v = k[K_V]!;
    const sp = srcIsA ? pa : pb;
    const dp = srcIsA ? pb : pa;

    const I = this.store.I;
    const buckets = this.buckets;
    const mask = this.mask;
    let slot = -1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = buckets[2 * i]!;
      if (e === 0) break;
      if (buckets[2 * i + 1] !== h) continue;
      const b = (e - 1) * I_STRIDE;
      if (
        I[b + F_A0] === a0 &&
        I[b + F_B0] === b0 &&
        I[b + F_PA] === pa &&
        I[b + F_PB] === pb &&
        I[b + F_V] === v &&
        I[b + F_A1] === a1 &&
        I[b + F_A2] === a2 &&
        I[b + F_A3] === a3 &&
        I[b + F_B1] === b1 &&
        I[b + F_B2] === b2 &&
        I[b + F_B3] === b3
      ) {
        slot = e - 1;
        break;
      }
    }

    if (slot >= 0 && (flags & TCP.SYN) !== 0 && isReuse(this.store, slot, flags, pkt.seq | 0)) {
      st.reused++;
      this.remove(slot, 'reused');
      slot = -1;
    }
    if (slot < 0) {
      if (this.freeTop === 0) {
        // Table full: the least recently seen flow goes. A finished one quiet for longer than Zeek's
        // tcp_close_delay (5 s) would have left Zeek's table already: it expires, it is not "evicted"
        // (only the late-RST watch of closedTimeoutSec is cut short).
        const lru = this.tail;
        if (isFinished(this.store, lru) && t - D[lru * D_STRIDE + D_LAST]! > CLOSE_DELAY_SEC) {
          st.expired++;
          this.remove(lru, 'finished');
        } else {
          st.evicted++;
          this.remove(lru, 'evicted');
        }
      }
      slot = this.freeSlots[--this.freeTop]!;
      this.store.clear(slot);
      const b = slot * I_STRIDE;
      I[b + F_HASH] = h;
      I[b + F_V] = v;
      I[b + F_A0] = a0;
      I[b + F_A1] = a1;
      I[b + F_A2] = a2;
      I[b + F_A3] = a3;
      I[b + F_B0] = b0;
      I[b + F_B1] = b1;
      I[b + F_B2] = b2;
      I[b + F_B3] = b3;
      I[b + F_PA] = pa;
      I[b + F_PB] = pb;
      const db = slot * D_STRIDE;
      D[db + D_ID] = this.nextId++;
      D[db + D_START] = t;
      D[db + D_FIRST_FRAME] = frame;
      this.insert(slot, h);
      st.flows++;
      // Originator: the SYN sender; else the SYN-ACK receiver; else the side not on a likely server port.
      let flip: boolean;
      if ((flags & TCP.SYN) !== 0) flip = (flags & TCP.ACK) !== 0;
      else if (isLikelyServerPort(sp)) flip = isLikelyServerPort(dp) ? sp < dp : true;
      else flip = false;
      I[b + F_ORIG_IS_A] = (flip ? !srcIsA : srcIsA) ? 1 : 0;
      if (flip) flipRoles(this.store, slot);
    } else if (this.head !== slot) {
      this.touch(slot);
    }
    const isOrig = srcIsA === (I[slot * I_STRIDE + F_ORIG_IS_A] !== 0);
    if ((flags & CONTROL) === 0) plainSegment(this.cx, slot, pkt, isOrig, frame);
    else segment(this.cx, slot, pkt, isOrig, frame);
    // The flow's last time changed: forget the remembered tail time if it was this flow's.
    if (slot === this.tailSlot) this.tailSlot = -1;
  }

  /** Ends tracking: returns the connections still in the table (plus any kept ones), in start order. */
  finish(): Connection[] {
    const out = this.kept.splice(0);
    const D = this.store.D;
    const rest: number[] = [];
    for (let slot = 0; slot < this.maxFlows; slot++) if (this.used[slot] !== 0) rest.push(slot);
    rest.sort((x, y) => D[x * D_STRIDE + D_ID]! - D[y * D_STRIDE + D_ID]!);
    for (const slot of rest) {
      const c = this.build(slot, 'end');
      this.unlink(slot);
      out.push(c);
    }
    this.stats.active = 0;
    out.sort((x, y) => x.id - y.id);
    return out;
  }

  /** Removes flows from the LRU end that are finished or idle for long enough. */
  private expire(): void {
    const now = this.now[0]!;
    const D = this.store.D;
    // An established connection idle longer than the short limit but within its own is moved to the head
    // (at most once per flow and call, so the loop ends) and the flows behind it are looked at.
    let bumps = this.stats.active;
    while (this.tail >= 0) {
      const slot = this.tail;
      const idle = now - D[slot * D_STRIDE + D_LAST]!;
      const finished = isFinished(this.store, slot);
      if (idle <= (finished ? this.closedTimeout : this.idleTimeout)) return;
      if (
        !finished &&
        this.store.I[slot * I_STRIDE + F_HANDSHAKE] !== 0 &&
        idle <= this.establishedIdleTimeout
      ) {
        if (bumps-- <= 0) return;
        this.touch(slot);
        continue;
      }
      this.stats.expired++;
      this.remove(slot, finished ? 'finished' : 'idle');
    }
  }

  private insert(slot: number, h: number): void {
    if (slot === this.tailSlot) this.tailSlot = -1;
    const buckets = this.buckets;
    let i = h & this.mask;
    while (buckets[2 * i] !== 0) i = (i + 1) & this.mask;
    buckets[2 * i] = slot + 1;
    buckets[2 * i + 1] = h;
    this.used[slot] = 1;
    // Link at the head.
    this.prev[slot] = -1;
    this.next[slot] = this.head;
    if (this.head >= 0) this.prev[this.head] = slot;
    this.head = slot;
    if (this.tail < 0) this.tail = slot;
    this.stats.active++;
  }

  private touch(slot: number): void {
    // Already the head (e.g. expire() bumping the only flow of the list): unlinking and relinking it would
    // point it at itself and lose the tail (test/fixtures/fuzz/analyze/lru-touch-of-the-only-flow.bin).
    if (slot === this.head) return;
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p >= 0) this.next[p] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[slot] = -1;
    this.next[slot] = this.head;
    if (this.head >= 0) this.prev[this.head] = slot;
    this.head = slot;
  }

  private remove(slot: number, why: Connection['closedBy']): void {
    this.stats.active--;
    this.leave(slot, why);
  }

  /** Hands the flow in `slot` to the callbacks and frees its slot. */
  private leave(slot: number, why: Connection['closedBy']): void {
    const I = this.store.I;
    const b = slot * I_STRIDE;
    const quiet = this.onQuietConnection;
    if (quiet !== undefined && I[b + F_NRESETS] === 0) {
      quiet(this.quiet.at(slot));
      this.unlink(slot);
      return;
    }
    const out = this.onResetFlow;
    if (out !== undefined && I[b + F_NRESETS] !== 0) {
      out(this.store, slot, why, this.pool);
      const pool = this.pool;
      for (let e = I[b + F_RESET_HEAD]!; e >= 0; ) {
        const next = pool.next(e);
        pool.release(e);
        e = next;
      }
      I[b + F_RESET_HEAD] = -1;
      I[b + F_RESET_TAIL] = -1;
      I[b + F_NRESETS] = 0;
      I[b + F_PENDING] = -1;
      this.unlink(slot);
      return;
    }
    const hold = this.onHeldConnection;
    if (hold !== undefined && I[b + F_NRESETS] !== 0) {
      const h = this.held.add(this.store, slot, why);
      // The RSTs belong to the held copy now.
      I[b + F_RESET_HEAD] = -1;
      I[b + F_RESET_TAIL] = -1;
      I[b + F_NRESETS] = 0;
      I[b + F_PENDING] = -1;
      this.unlink(slot);
      hold(h);
      return;
    }
    const conn = this.build(slot, why);
    this.unlink(slot);
    if (this.onConnection) this.onConnection(conn);
    else this.kept.push(conn);
  }

  /**
   * Ends tracking like finish(), but hands the remaining connections to the callbacks (onQuietConnection,
   * onHeldConnection, onConnection), in start order, instead of returning them.
   */
  drain(): void {
    const D = this.store.D;
    const rest: number[] = [];
    for (let slot = 0; slot < this.maxFlows; slot++) if (this.used[slot] !== 0) rest.push(slot);
    rest.sort((x, y) => D[x * D_STRIDE + D_ID]! - D[y * D_STRIDE + D_ID]!);
    for (const slot of rest) this.leave(slot, 'end');
    this.stats.active = 0;
  }

  /** The Connection of a flow; its RSTs leave the pool (their senders named as the roles are now). */
  private build(slot: number, why: Connection['closedBy']): Connection {
    const b = slot * I_STRIDE;
    const I = this.store.I;
    const resets = readResets(this.pool, I[b + F_RESET_HEAD]!, I[b + F_ORIG_EP]!, [], true);
    I[b + F_RESET_HEAD] = -1;
    I[b + F_RESET_TAIL] = -1;
    I[b + F_NRESETS] = 0;
    I[b + F_PENDING] = -1;
    return buildConnection(this.store, slot, why, this.names, resets);
  }

  /** Takes the flow out of the index, the LRU list and its slot. */
  private unlink(slot: number): void {
    if (slot === this.tailSlot) this.tailSlot = -1;
    const mask = this.mask;
    const buckets = this.buckets;
    let i = this.store.I[slot * I_STRIDE + F_HASH]! & mask;
    while (buckets[2 * i] !== slot + 1) i = (i + 1) & mask;
    // Backward-shift deletion keeps every probe chain unbroken.
    buckets[2 * i] = 0;
    for (let j = (i + 1) & mask; buckets[2 * j] !== 0; j = (j + 1) & mask) {
      const home = buckets[2 * j + 1]! & mask;
      const between = i <= j ? i < home && home <= j : i < home || home <= j;
      if (!between) {
        buckets[2 * i] = buckets[2 * j]!;
        buckets[2 * i + 1] = buckets[2 * j + 1]!;
        buckets[2 * j] = 0;
        i = j;
      }
    }
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[slot] = -1;
    this.next[slot] = -1;
    this.used[slot] = 0;
    this.freeSlots[this.freeTop++] = slot;
  }
}
