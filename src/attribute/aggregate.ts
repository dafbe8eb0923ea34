/**
 * Per-second aggregates of resets with bounded memory, and top-N over any window within the retention.
 *
 * Each second keeps, per dimension (peer, local port, remote port, reason, state, whole tuple) and per
 * direction, at most K keys once the second is closed; whatever does not fit is counted in that dimension's
 * "other" bucket, so totals stay exact. While a second is open, a direction of a dimension that reaches half
 * the working limit (8·K keys, at least 32) folds all but its 4·K largest into "other" (the "frequent items"
 * pruning of Misra & Gries): a key that is heavy within the second survives, a scan of distinct keys cannot
 * grow memory. Dimensions are kept separately — not only whole tuples — so that a scan from one peer over
 * many ports still shows that peer.
 *
 * A window's top-N is the sum of the per-second top-K lists: a key that is never in any second's top K is
 * under-counted (its events are in "other"); `other` says how many events that is for peers.
 */

import type { AttributionTop, RstDirection, RstEvent, TopEntry } from './types.js';

export const DIMENSIONS = ['peers', 'localPorts', 'remotePorts', 'reasons', 'states', 'tuples'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
const D_PEERS = 0;
const D_LPORT = 1;
const D_RPORT = 2;
const D_REASON = 3;
const D_STATE = 4;
const D_TUPLE = 5;
const NDIM = DIMENSIONS.length;

/** Seconds a second stays open for events read late (CPUs are read one after another). */
const OPEN_SECONDS = 3;

/** Direction index: 0 sent, 1 received. */
const DI = { sent: 0, received: 1 } as const;
/**
 * A key within one dimension and direction: peers, reasons, states and tuples are strings, ports numbers
 * (shown as decimal text by top()). Keys carry no direction prefix: each direction has its own map, so an
 * event makes no new key strings beyond the tuple's (a prefix concatenation per dimension was six new
 * strings to hash per event).
 */
export type Key = string | number;

/**
 * The k-th largest of `a[0, n)` (1 ≤ k ≤ n), reordering that part of `a` (Hoare's selection, middle pivot).
 */
export function kthLargest(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  const want = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return a[want]!;
  }
  return a[want]!;
}
interface Bucket {
  sec: number;
  open: boolean;
  totals: [number, number];
  /** other[dim][dir] */
  other: number[][];
  /** Open: one live map per dimension and direction, at `dim * 2 + dir`. */
  live: Map<Key, number>[] | undefined;
  /**
   * Closed: per dimension, parallel arrays of keys and counts, the sent keys first, then the received
   * ones from `split[dim]` on (one pair of arrays per dimension, not per direction: a closed second is
   * kept for an hour).
   */
  keys: Key[][] | undefined;
  counts: number[][] | undefined;
  split: number[] | undefined;
}

export interface AggregatorOptions {
  /** Keys kept per second, per dimension and direction. */
  topK: number;
  /** Seconds of per-second aggregates kept (≥ 3600 in the agent). */
  retentionSeconds: number;
}

export interface AggregatorStats {
  events: number;
  /** Events for a second no longer in the ring (clock jumped, or read more than the retention late). */
  dropped: number;
  /** Buckets made since the start (one per second that saw an event). */
  buckets: number;
  /** Buckets released when their second left the retention. */
  expired: number;
  /**
   * Times one direction of an open second's dimension was folded (its smaller keys into "other"): at most
   * one per quarter of the working limit of new keys.
   */
  folds: number;
}

function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** The key of a whole tuple, as shown to people. */
export function tupleKey(ev: RstEvent): string {
  const arrow = ev.direction === 'sent' ? '->' : '<-';
  return `${ev.direction} ${ev.family} ${hostPort(ev.localAddr, ev.localPort)} ${arrow} ${hostPort(ev.remoteAddr, ev.remotePort)} ${ev.reason} ${ev.state}`;
}

/** Up to this many entries, top() selects instead of sorting every key. */
const SELECT_LIMIT = 64;

/**
 * The `limit` first entries of `m` by count (descending), then key text (ascending) — what sorting every
 * entry and slicing gives — by insertion into a list of `limit`: an hour's window holds thousands of keys
 * per list and an alert's context asks for 5; sorting them all (and making every port's text) was most of
 * a top-N's CPU.
 */
export function selectTop(m: Map<Key, number>, limit: number): TopEntry[] {
  const out: TopEntry[] = [];
  for (const [k, count] of m) {
    const full = out.length === limit;
    if (full && count < out[limit - 1]!.count) continue;
    const key = String(k);
    if (full) {
      const last = out[limit - 1]!;
      if (count === last.count && key >= last.key) continue;
      out[limit - 1] = { key, count };
    } else out.push({ key, count });
    for (let i = out.length - 1; i > 0; i--) {
      const a = out[i - 1]!;
      const b = out[i]!;
      if (a.count > b.count || (a.count === b.count && a.key < b.key)) break;
      out[i - 1] = b;
      out[i] = a;
    }
  }
  return out;
}

export class Aggregator {
  readonly topK: number;
  readonly retentionSeconds: number;
  private readonly ring: (Bucket | undefined)[];
  private readonly workLimit: number;
  private newest = 0;
  /** Every second up to this one is closed (0: none yet). Seconds close only in tick(), never in add(). */
  private closedThrough = 0;
  /** Every second up to this one has left the retention and its bucket is released (0: none yet). */
  private expiredThrough = 0;
  private readonly stats: AggregatorStats = { events: 0, dropped: 0, buckets: 0, expired: 0, folds: 0 };
  /** Counts of one direction while folding (fold). */
  private scratch = new Float64Array(256);

  constructor(opts: AggregatorOptions) {
    if (!Number.isInteger(opts.topK) || opts.topK < 1)
      throw new RangeError('topK must be a positive integer');
    this.topK = opts.topK;
    this.retentionSeconds = Math.max(60, Math.floor(opts.retentionSeconds));
    this.ring = new Array(this.retentionSeconds + OPEN_SECONDS + 1);
    this.workLimit = Math.max(64, 16 * this.topK);
  }

  get counters(): Readonly<AggregatorStats> {
    return this.stats;
  }

  private newBucket(sec: number): Bucket {
    this.stats.buckets++;
    return {
      sec,
      open: true,
      totals: [0, 0],
      other: Array.from({ length: NDIM }, () => [0, 0]),
      live: Array.from({ length: 2 * NDIM }, () => new Map<Key, number>()),
      keys: undefined,
      counts: undefined,
      split: undefined,
    };
  }

  /** Count one event in second `sec` (epoch seconds). */
  add(ev: RstEvent, sec: number): void {
    this.stats.events++;
    // Adding never closes a second: the per-CPU buffers are read one after another, so within one read pass
    // CPU 1's events of second t arrive after CPU 0's of t+5 when the reader was held up (a busy event loop);
    // closing on the newest event would push them into "other". The reader closes seconds with tick() once a
    // pass has drained every CPU.
    if (sec > this.newest) this.newest = sec;
    if (sec <= this.newest - this.retentionSeconds) {
      this.stats.dropped++;
      return;
    }
    const slot = sec % this.ring.length;
    let b = this.ring[slot];
    if (!b || b.sec !== sec) {
      if (b && b.sec > sec) {
        this.stats.dropped++;
        return;
      }
      b = this.newBucket(sec);
      this.ring[slot] = b;
    }
    const di = DI[ev.direction];
    b.totals[di] = b.totals[di]! + 1;
    if (!b.live) {
      // A closed second (the event was read late, e.g. while the event loop was busy): a key the second
      // kept is counted there, anything else in that dimension's "other". The total is exact either way.
      this.lateAdd(b, D_PEERS, ev.remoteAddr, di);
      this.lateAdd(b, D_LPORT, ev.localPort, di);
      this.lateAdd(b, D_RPORT, ev.remotePort, di);
      this.lateAdd(b, D_REASON, ev.reason, di);
      this.lateAdd(b, D_STATE, ev.state, di);
      this.lateAdd(b, D_TUPLE, tupleKey(ev), di);
      return;
    }
    this.bump(b, D_PEERS * 2 + di, ev.remoteAddr);
    this.bump(b, D_LPORT * 2 + di, ev.localPort);
    this.bump(b, D_RPORT * 2 + di, ev.remotePort);
    this.bump(b, D_REASON * 2 + di, ev.reason);
    this.bump(b, D_STATE * 2 + di, ev.state);
    this.bump(b, D_TUPLE * 2 + di, tupleKey(ev));
    // A second first seen after tick() closed its neighbours is closed at once, or nothing would close it.
    if (sec <= this.closedThrough) this.close(b);
  }

  private lateAdd(b: Bucket, dim: number, key: Key, di: number): void {
    const keys = b.keys![dim]!;
    const split = b.split![dim]!;
    const from = di === 0 ? 0 : split;
    const to = di === 0 ? split : keys.length;
    for (let i = from; i < to; i++) {
      if (keys[i] === key) {
        b.counts![dim]![i]! += 1;
        return;
      }
    }
    b.other[dim]![di] = b.other[dim]![di]! + 1;
  }

  /** Count `key` in live map `at` (= dim * 2 + direction). */
  private bump(b: Bucket, at: number, key: Key): void {
    const m = b.live![at]!;
    m.set(key, (m.get(key) ?? 0) + 1);
    // A dimension holds at most the working limit of keys, half per direction; a direction over its half
    // folds to a quarter, so a fold comes only after a quarter of the limit of new keys. (Folding to just
    // under the limit had every later event fold again: 100 µs of CPU per reset in the soak's storms.)
    if (m.size > this.workLimit >> 1) {
      this.stats.folds++;
      this.fold(b, at, this.workLimit >> 2);
    }
  }

  /**
   * Keep the `keep` largest keys per direction of one live dimension, the rest into "other"; among keys
   * with the same count the earlier ones stay (what a stable sort by count would keep). Without an array
   * of entries and a sort: the keep-th largest count is selected from a scratch array (quickselect), then
   * one pass deletes what is below it. In a storm of distinct ports this runs every ~40 new keys per
   * dimension, and the sort with its entry arrays was most of attribution's CPU and garbage there.
   */
  private fold(b: Bucket, at: number, keep: number): void {
    const m = b.live![at]!;
    const n = m.size;
    if (n <= keep) return;
    if (this.scratch.length < n) this.scratch = new Float64Array(Math.max(n, 2 * this.scratch.length));
    const counts = this.scratch;
    let i = 0;
    for (const c of m.values()) counts[i++] = c;
    const threshold = kthLargest(counts, n, keep);
    let above = 0;
    for (let j = 0; j < n; j++) if (counts[j]! > threshold) above++;
    let tiesKept = keep - above;
    let moved = 0;
    for (const [k, c] of m) {
      if (c > threshold) continue;
      if (c === threshold && tiesKept > 0) {
        tiesKept--;
        continue;
      }
      moved += c;
      m.delete(k);
    }
    const other = b.other[at >> 1]!;
    other[at & 1]! += moved;
  }

  private close(b: Bucket): void {
    if (!b.live) return;
    const keys: Key[][] = [];
    const counts: number[][] = [];
    const split: number[] = [];
    for (let dim = 0; dim < NDIM; dim++) {
      this.fold(b, dim * 2, this.topK);
      this.fold(b, dim * 2 + 1, this.topK);
      const s = b.live[dim * 2]!;
      const r = b.live[dim * 2 + 1]!;
      const k: Key[] = new Array(s.size + r.size);
      const c: number[] = new Array(s.size + r.size);
      let i = 0;
      for (const [key, n] of s) {
        k[i] = key;
        c[i++] = n;
      }
      for (const [key, n] of r) {
        k[i] = key;
        c[i++] = n;
      }
      keys.push(k);
      counts.push(c);
      split.push(s.size);
    }
    b.keys = keys;
    b.counts = counts;
    b.split = split;
    b.live = undefined;
    b.open = false;
  }

  /**
   * Close every second up to `nowSec - 3` (the reader calls it after draining every CPU; queries call it too),
   * so memory is bounded even when events stop.
   */
  tick(nowSec: number): void {
    if (nowSec > this.newest) this.newest = nowSec;
    const lastToClose = nowSec - OPEN_SECONDS;
    if (lastToClose <= this.closedThrough) return;
    const from = Math.max(this.closedThrough + 1, lastToClose - this.ring.length + 1);
    for (let s = from; s <= lastToClose; s++) {
      const b = this.ring[s % this.ring.length];
      if (b && b.sec === s && b.open) this.close(b);
    }
    this.closedThrough = lastToClose;
    this.expire();
  }

  /**
   * Release the buckets of seconds that left the retention. A slot is otherwise reused only when a later
   * event falls on it, so after a quiet second the previous hour's bucket stayed in the ring: with storms on
   * and off, the ring filled with stale seconds long after the first hour (the main part of the second
   * soak's 9.5 MB of RSS growth over its measured hour; issue 8, docs/reliability.md). `add` already drops
   * events of these seconds and `secondSize` already called them gone; only a `top` ending more than the
   * retention before the newest second could still meet one, by chance of which slot a later event had
   * reused — now it meets none.
   */
  private expire(): void {
    const lastExpired = this.newest - this.retentionSeconds;
    if (lastExpired <= this.expiredThrough) return;
    // At most one pass over the ring, however far the clock moved.
    const from = Math.max(this.expiredThrough + 1, lastExpired - this.ring.length + 1);
    for (let s = from; s <= lastExpired; s++) {
      const slot = s % this.ring.length;
      const b = this.ring[slot];
      if (b && b.sec <= lastExpired) {
        this.ring[slot] = undefined;
        this.stats.expired++;
      }
    }
    this.expiredThrough = lastExpired;
  }

  /** Seconds whose bucket the ring holds (tests and status: bounded by the retention, not by uptime). */
  get heldSeconds(): number {
    let n = 0;
    for (const b of this.ring) if (b) n++;
    return n;
  }

  /** Top `limit` per dimension over the seconds (nowSec − windowSeconds, nowSec]. */
  top(opts: {
    nowSec: number;
    windowSeconds: number;
    direction?: RstDirection;
    limit?: number;
    only?: readonly Dimension[];
  }): AttributionTop & { tuples: TopEntry[] } {
    const limit = Math.max(1, Math.floor(opts.limit ?? 10));
    const windowSeconds = Math.max(1, Math.min(Math.floor(opts.windowSeconds), this.retentionSeconds));
    const want = opts.direction === undefined ? undefined : DI[opts.direction];
    const wanted = DIMENSIONS.map((d) => opts.only === undefined || opts.only.includes(d));
    const sums: Map<Key, number>[] = wanted.map(() => new Map());
    let total = 0;
    let other = 0;
    const from = opts.nowSec - windowSeconds + 1;
    for (let s = from; s <= opts.nowSec; s++) {
      const b = this.ring[((s % this.ring.length) + this.ring.length) % this.ring.length];
      if (!b || b.sec !== s) continue;
      for (let di = 0; di < 2; di++) {
        if (want !== undefined && want !== di) continue;
        total += b.totals[di]!;
        other += b.other[D_PEERS]![di]!;
      }
      for (let dim = 0; dim < NDIM; dim++) {
        if (!wanted[dim]) continue;
        const into = sums[dim]!;
        if (b.live) {
          for (let di = 0; di < 2; di++) {
            if (want !== undefined && want !== di) continue;
            for (const [k, c] of b.live[dim * 2 + di]!) into.set(k, (into.get(k) ?? 0) + c);
          }
        } else {
          const keys = b.keys![dim]!;
          const counts = b.counts![dim]!;
          const from = want === 1 ? b.split![dim]! : 0;
          const to = want === 0 ? b.split![dim]! : keys.length;
          for (let i = from; i < to; i++) {
            const k = keys[i]!;
            into.set(k, (into.get(k) ?? 0) + counts[i]!);
          }
        }
      }
    }
    // Keys as text (ports are numbers until here), ordered by count, then by text; a long list (a caller
    // asking for everything) is sorted once instead of selected by insertion.
    const best = (m: Map<Key, number>): TopEntry[] =>
      limit <= SELECT_LIMIT
        ? selectTop(m, limit)
        : [...m]
            .map(([k, c]): [string, number] => [String(k), c])
            .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
            .slice(0, limit)
            .map(([key, count]) => ({ key, count }));
    return {
      windowSeconds,
      total,
      other,
      peers: best(sums[D_PEERS]!),
      localPorts: best(sums[D_LPORT]!),
      remotePorts: best(sums[D_RPORT]!),
      reasons: best(sums[D_REASON]!),
      states: best(sums[D_STATE]!),
      tuples: best(sums[D_TUPLE]!),
      scope: 'all-namespaces',
    };
  }

  /** For tests and status: keys held by one second (all dimensions), or undefined if not in the ring. */
  secondSize(
    sec: number,
  ): { open: boolean; keys: number[]; other: number[][]; totals: number[] } | undefined {
    const b = this.ring[sec % this.ring.length];
    if (!b || b.sec !== sec || sec <= this.newest - this.retentionSeconds) return undefined;
    const keys = b.live
      ? DIMENSIONS.map((_, dim) => b.live![dim * 2]!.size + b.live![dim * 2 + 1]!.size)
      : b.keys!.map((k) => k.length);
    return { open: b.open, keys, other: b.other.map((o) => [...o]), totals: [...b.totals] };
  }
}
