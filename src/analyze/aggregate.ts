/**
 * Bounded, incremental tallies for the analyze report, so that memory does not grow with the capture:
 * a multi-GB capture with millions of resets (a scan, a flood, a refused-connect loop) is summarised in a few
 * tens of MB (docs/benchmarks.md, "Capture analysis (part 7)", limits).
 *
 * - `BoundedCounter`: counts by key with at most `maxKeys` keys; past that the lower half by count is dropped
 *   (so the top of the list stays right for any key that is frequent, and the list is marked approximate).
 * - `SecondsHistogram`: RSTs per second, merging neighbouring seconds when a capture spans too many of them.
 * - `ResetTally`: cause counts, examples, finding groups, ports and sides from classified resets, fed in
 *   batches (classifyResets output), with the same results as a single pass in connection order.
 */

import { AddressNames } from './addr-cache.js';
import {
  CAUSE_TITLE,
  CAUSE_TOPIC,
  CAUSES,
  type CauseId,
  type ClassifiedReset,
  type Confidence,
  fmtEp,
} from './causes.js';
import type { Connection } from './types.js';

export { AddressNames };

export interface Counted {
  key: string;
  count: number;
}

/** Counts per key, at most `maxKeys` keys. */
export class BoundedCounter {
  private readonly m = new Map<string, number>();
  /** Keys dropped to stay within maxKeys (0: every count is exact). */
  dropped = 0;

  constructor(readonly maxKeys: number) {}

  /**
   * A counter that holds `entries` as counted elsewhere under the same rules, `dropped` keys dropped there
   * (the native engine's tallies: native.ts).
   */
  static of(maxKeys: number, entries: Iterable<readonly [string, number]>, dropped: number): BoundedCounter {
    const c = new BoundedCounter(maxKeys);
    for (const [k, n] of entries) c.m.set(k, n);
    c.dropped = dropped;
    return c;
  }

  add(key: string, n = 1): void {
    const m = this.m;
    const v = m.get(key);
    if (v !== undefined) {
      m.set(key, v + n);
      return;
    }
    if (m.size >= this.maxKeys) this.prune();
    m.set(key, n);
  }

  get size(): number {
    return this.m.size;
  }

  /** Drops the keys at or below the median count (at least one key). */
  private prune(): void {
    const counts = [...this.m.values()].sort((a, b) => a - b);
    const median = counts[counts.length >> 1] ?? 0;
    const before = this.m.size;
    for (const [k, v] of this.m) if (v <= median) this.m.delete(k);
    if (this.m.size === before) {
      const firstKey = this.m.keys().next().value;
      if (firstKey !== undefined) this.m.delete(firstKey);
    }
    this.dropped += before - this.m.size;
  }

  /** The `n` largest counts, ties by key. */
  top(n: number): Counted[] {
    return [...this.m]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, n)
      .map(([key, count]) => ({ key, count }));
  }

  entries(): IterableIterator<[string, number]> {
    return this.m.entries();
  }
}

/** Distinct seconds a SecondsHistogram keeps before its buckets widen. */
export const DEFAULT_MAX_SECONDS = 1 << 17;

/** RSTs per second. Past `maxKeys` distinct buckets the bucket width doubles (neighbours merge). */
export class SecondsHistogram {
  private m = new Map<number, number>();
  private widthSec = 1;

  constructor(private readonly maxKeys = DEFAULT_MAX_SECONDS) {}

  /** A histogram of buckets (start second, count) `widthSec` wide, counted elsewhere under the same rules. */
  static of(
    maxKeys: number,
    buckets: Iterable<readonly [number, number]>,
    widthSec: number,
  ): SecondsHistogram {
    const h = new SecondsHistogram(maxKeys);
    for (const [s, n] of buckets) h.m.set(s, n);
    h.widthSec = widthSec;
    return h;
  }

  add(sec: number): void {
    const k = this.widthSec === 1 ? sec : Math.floor(sec / this.widthSec) * this.widthSec;
    this.m.set(k, (this.m.get(k) ?? 0) + 1);
    if (this.m.size > this.maxKeys) {
      this.widthSec *= 2;
      const old = this.m;
      this.m = new Map();
      for (const [s, n] of old) {
        const k2 = Math.floor(s / this.widthSec) * this.widthSec;
        this.m.set(k2, (this.m.get(k2) ?? 0) + n);
      }
    }
  }

  /** At most `maxBuckets` buckets from the first to the last second with a RST. */
  timeline(maxBuckets: number): { startSec: number; bucketSec: number; counts: number[] } {
    if (this.m.size === 0) return { startSec: 0, bucketSec: 1, counts: [] };
    const w = this.widthSec;
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const k of this.m.keys()) {
      if (k < lo) lo = k;
      if (k > hi) hi = k;
    }
    const span = hi + w - lo;
    let bucketSec = Math.max(1, Math.ceil(span / Math.max(1, maxBuckets)));
    bucketSec = Math.ceil(bucketSec / w) * w;
    const counts = new Array<number>(Math.ceil(span / bucketSec)).fill(0);
    for (const [k, n] of this.m) {
      const i = Math.floor((k - lo) / bucketSec);
      counts[i] = (counts[i] ?? 0) + n;
    }
    return { startSec: lo, bucketSec, counts };
  }
}

/** Counts one RST by sender, receiver and second (analyze.ts): v, the two addresses as words, the second. */
export type RstTally = (
  v: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
  b0: number,
  b1: number,
  b2: number,
  b3: number,
  tsSec: number,
) => void;

/** The RST tallies of analyze.ts: top senders, receivers, pairs, and RSTs per second. */
export interface RstTallies {
  senders: BoundedCounter;
  receivers: BoundedCounter;
  pairs: BoundedCounter;
  perSecond: SecondsHistogram;
}

/**
 * The RST tallies kept in TypeScript (the TypeScript tracker's; the native engine keeps its own under the
 * same rules: native.ts): counted by `add`, one call per RST.
 */
export class RstTalkers implements RstTallies {
  readonly senders: BoundedCounter;
  readonly receivers: BoundedCounter;
  readonly pairs: BoundedCounter;
  readonly perSecond: SecondsHistogram;
  private readonly names = new AddressNames();
  private readonly pair = { from: '', to: '', key: '' };
  /**
   * Pair keys by sender, then receiver (the address cache's strings): each made once, not each time the
   * pair changes from one RST to the next (16 MB of strings on the 1 GB benchmark capture, where IPv4 and
   * IPv6 RSTs alternate). Forgotten now and then, like the counters it feeds, to stay bounded.
   */
  private readonly pairKeys = new Map<string, Map<string, string>>();
  private pairKeysMade = 0;

  constructor(
    private readonly maxTalkers: number,
    maxSeconds = DEFAULT_MAX_SECONDS,
  ) {
    this.perSecond = new SecondsHistogram(maxSeconds);
    this.senders = new BoundedCounter(maxTalkers);
    this.receivers = new BoundedCounter(maxTalkers);
    this.pairs = new BoundedCounter(maxTalkers);
  }

  readonly add: RstTally = (v, a0, a1, a2, a3, b0, b1, b2, b3, tsSec) => {
    const from = this.names.name(v, a0, a1, a2, a3);
    const to = this.names.name(v, b0, b1, b2, b3);
    this.senders.add(from);
    this.receivers.add(to);
    const pair = this.pair;
    if (from !== pair.from || to !== pair.to) {
      pair.from = from;
      pair.to = to;
      pair.key = this.pairKey(from, to);
    }
    this.pairs.add(pair.key);
    this.perSecond.add(tsSec);
  };

  private pairKey(from: string, to: string): string {
    let byTo = this.pairKeys.get(from);
    if (byTo === undefined) {
      byTo = new Map();
      this.pairKeys.set(from, byTo);
    }
    let key = byTo.get(to);
    if (key === undefined) {
      if (++this.pairKeysMade > this.maxTalkers) {
        this.pairKeys.clear();
        this.pairKeysMade = 0;
        byTo = new Map();
        this.pairKeys.set(from, byTo);
      }
      key = `${from} → ${to}`;
      byTo.set(to, key);
    }
    return key;
  }
}

export interface CauseSummary {
  cause: CauseId;
  title: string;
  topic: string;
  count: number;
  byConfidence: Record<Confidence, number>;
  /** Up to 3 example connections (their 4-tuple keys as "orig → resp"). */
  examples: string[];
}

/** What a finding reads of its group's first reset (findings.ts), and what orders the groups (topGroups). */
export interface GroupFirst {
  cause: CauseId;
  topic: string;
  /** Index of the reset within its connection's resets. */
  index: number;
  sender: string;
  receiver: string;
  conn: Pick<Connection, 'id' | 'origAddr' | 'respAddr' | 'respPort'>;
}

/** A group of resets with the same cause and the same actors (one finding sentence). */
export interface FindingGroup {
  /** The group's reset of the lowest connection id: its connection names the actors. */
  first: GroupFirst;
  count: number;
  /** Distinct connections. */
  conns: number;
  /** The weakest confidence of the members: never overstated. */
  conf: Confidence;
}

const CONF_RANK: Record<Confidence, number> = { certain: 0, likely: 1, possible: 2 };

export const connLabel = (c: Connection): string =>
  `${fmtEp(c.origAddr, c.origPort)} → ${fmtEp(c.respAddr, c.respPort)}`;

/** The actors that make a finding group (findingKey), with how many of them count: 0 to 3. */
interface FindingParts {
  a: string;
  b: string;
  port: number;
  n: number;
}

/** Fills `out` with the actors of `r`'s finding group per cause: who has to act. */
function findingParts(r: ClassifiedReset, out: FindingParts): FindingParts {
  const c = r.conn;
  out.a = '';
  out.b = '';
  out.port = 0;
  switch (r.cause) {
    case 'refused':
      out.a = c.origAddr;
      out.b = c.respAddr;
      out.port = c.respPort;
      out.n = 3;
      break;
    case 'scan':
      out.a = c.origAddr;
      out.n = 1;
      break;
    case 'queue-overflow':
    case 'abort':
    case 'idle-timeout':
    case 'time-wait-assassination':
    case 'half-open':
      out.a = r.sender;
      out.b = c.respAddr;
      out.port = c.respPort;
      out.n = 3;
      break;
    case 'backscatter':
    case 'injection':
      out.a = r.sender;
      out.b = r.receiver;
      out.n = 2;
      break;
    case 'rst-flood':
      out.a = r.receiver;
      out.n = 1;
      break;
    case 'unexplained':
      out.n = 0;
      break;
  }
  return out;
}

/** Finding group key per cause: who has to act (the actors of findingParts, joined by `|`). */
export function findingKey(r: ClassifiedReset): string {
  const p = findingParts(r, { a: '', b: '', port: 0, n: 0 });
  return p.n === 3 ? `${p.a}|${p.b}|${p.port}` : p.n === 2 ? `${p.a}|${p.b}` : p.a;
}

interface CauseTally {
  summary: CauseSummary;
  /** Connection id of each example (the examples are those of the lowest ids). */
  exampleIds: number[];
}

interface GroupTally extends FindingGroup {
  first: ClassifiedReset;
  lastConnId: number;
}

/** Causes by count, then in CAUSES order (the report's order). */
export function byCauseOrder(a: CauseSummary, b: CauseSummary): number {
  return b.count - a.count || CAUSES.indexOf(a.cause) - CAUSES.indexOf(b.cause);
}

/**
 * The `n` largest finding groups; equal counts in the order of their first reset (connection id, then the
 * reset's index): the order a single pass in connection order meets them, however the batches came.
 */
export function topGroupsOf(groups: Iterable<FindingGroup>, n: number): FindingGroup[] {
  return [...groups]
    .sort((a, b) => b.count - a.count || a.first.conn.id - b.first.conn.id || a.first.index - b.first.index)
    .slice(0, Math.max(1, n));
}

/** The `n` responder ports with the most resets (as text), ties by their text. */
export function topPortsOf(ports: Iterable<[number, number]>, n: number): Counted[] {
  return [...ports]
    .map(([port, count]): [string, number] => [String(port), count])
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([key, count]) => ({ key, count }));
}

/**
 * Everything the report derives from classified resets. `add` takes one classifyResets() result: the resets
 * of a connection must come in one call (they are consecutive there), connections in any order across calls.
 * Fed once with every connection in id order, it gives exactly what a single pass over them gives.
 */
export class ResetTally {
  private readonly causes = new Map<CauseId, CauseTally>();
  private readonly groups = new Map<string, GroupTally>();
  private readonly ports = new Map<number, number>();
  /** The last group's key and the fields it was made of: consecutive resets mostly share a group. */
  private lastKey = '';
  private lastCause: CauseId | undefined;
  private lastOrig = '';
  private lastResp = '';
  private lastPort = -1;
  private lastSender = '';
  private lastReceiver = '';
  /** Group keys by cause, then by their actors (indexedKey); how many were made since it was last cleared. */
  private readonly keyIndex = new Map<CauseId, Map<string, Map<string, Map<number, string>>>>();
  private keysIndexed = 0;
  private readonly parts: FindingParts = { a: '', b: '', port: 0, n: 0 };
  /** Finding groups dropped (the smallest) to stay within maxGroups. */
  groupsDropped = 0;
  resets = 0;
  fromOrig = 0;

  constructor(private readonly maxGroups = 4096) {}

  add(classified: readonly ClassifiedReset[]): void {
    for (const r of classified) this.addOne(r);
  }

  /**
   * One classified reset. `keep` turns it into an object that may be kept (the finding group's first reset):
   * for a reused scratch object, a copy; by default the reset itself.
   */
  addOne(r: ClassifiedReset, keep?: (r: ClassifiedReset) => ClassifiedReset): void {
    this.addCount(r, 1, keep);
  }

  /**
   * `n` resets like `r` (same connection, side, cause and confidence): the RSTs of a side past what a
   * connection records (reset-pool.ts MAX_RESETS_PER_SIDE) are counted with the side's last recorded one.
   */
  addCount(r: ClassifiedReset, n: number, keep?: (r: ClassifiedReset) => ClassifiedReset): void {
    this.resets += n;
    if (r.reset.side === 'orig') this.fromOrig += n;
    const port = r.conn.respPort;
    this.ports.set(port, (this.ports.get(port) ?? 0) + n);
    this.cause(r, n);
    this.group(r, keep, n);
  }

  private cause(r: ClassifiedReset, n: number): void {
    let t = this.causes.get(r.cause);
    if (t === undefined) {
      t = {
        summary: {
          cause: r.cause,
          title: CAUSE_TITLE[r.cause],
          topic: CAUSE_TOPIC[r.cause],
          count: 0,
          byConfidence: { certain: 0, likely: 0, possible: 0 },
          examples: [],
        },
        exampleIds: [],
      };
      this.causes.set(r.cause, t);
    }
    const s = t.summary;
    s.count += n;
    s.byConfidence[r.confidence] += n;
    const id = r.conn.id;
    const ids = t.exampleIds;
    if (ids.length === 3 && id >= ids[2]!) return;
    const label = connLabel(r.conn);
    const at = s.examples.indexOf(label);
    if (at >= 0) {
      if (ids[at]! <= id) return;
      s.examples.splice(at, 1);
      ids.splice(at, 1);
    }
    let i = ids.length;
    while (i > 0 && ids[i - 1]! > id) i--;
    ids.splice(i, 0, id);
    s.examples.splice(i, 0, label);
    if (ids.length > 3) {
      ids.pop();
      s.examples.pop();
    }
  }

  /** `${cause}#${findingKey(r)}`, reusing the previous reset's key when its actors are the same. */
  private groupKey(r: ClassifiedReset): string {
    const c = r.conn;
    if (
      r.cause !== this.lastCause ||
      c.origAddr !== this.lastOrig ||
      c.respAddr !== this.lastResp ||
      c.respPort !== this.lastPort ||
      r.sender !== this.lastSender ||
      r.receiver !== this.lastReceiver
    ) {
      this.lastKey = this.indexedKey(r);
      this.lastCause = r.cause;
      this.lastOrig = c.origAddr;
      this.lastResp = c.respAddr;
      this.lastPort = c.respPort;
      this.lastSender = r.sender;
      this.lastReceiver = r.receiver;
    }
    return this.lastKey;
  }

  /**
   * `${cause}#${findingKey(r)}`, made once per group and then looked up by its actors (addresses are the
   * address cache's strings, so the lookups hash nothing new). Making the string each time the actors
   * changed from one reset to the next was a quarter of the classification worker's allocations (28 MB on
   * the 1 GB benchmark capture, where IPv4 and IPv6 connections alternate).
   */
  private indexedKey(r: ClassifiedReset): string {
    const p = findingParts(r, this.parts);
    let byA = this.keyIndex.get(r.cause);
    if (byA === undefined) {
      byA = new Map();
      this.keyIndex.set(r.cause, byA);
    }
    let byB = byA.get(p.a);
    if (byB === undefined) {
      byB = new Map();
      byA.set(p.a, byB);
    }
    let byPort = byB.get(p.b);
    if (byPort === undefined) {
      byPort = new Map();
      byB.set(p.b, byPort);
    }
    let key = byPort.get(p.port);
    if (key === undefined) {
      // Bounded like the groups: forgotten now and then (a key is made again when needed).
      if (++this.keysIndexed > 4 * this.maxGroups) {
        this.keyIndex.clear();
        this.keysIndexed = 0;
      }
      key = `${r.cause}#${findingKey(r)}`;
      byPort.set(p.port, key);
    }
    return key;
  }

  private group(
    r: ClassifiedReset,
    keep: ((r: ClassifiedReset) => ClassifiedReset) | undefined,
    n: number,
  ): void {
    const k = this.groupKey(r);
    let g = this.groups.get(k);
    if (g === undefined) {
      if (this.groups.size >= this.maxGroups) this.pruneGroups();
      g = { first: keep ? keep(r) : r, count: 0, conns: 0, conf: r.confidence, lastConnId: -1 };
      this.groups.set(k, g);
    } else if (r.conn.id < g.first.conn.id) {
      g.first = keep ? keep(r) : r;
    }
    g.count += n;
    if (g.lastConnId !== r.conn.id) {
      g.conns++;
      g.lastConnId = r.conn.id;
    }
    if (CONF_RANK[r.confidence] > CONF_RANK[g.conf]) g.conf = r.confidence;
  }

  /** Drops the groups at or below the median count (they cannot be among the top findings). */
  private pruneGroups(): void {
    const counts = [...this.groups.values()].map((g) => g.count).sort((a, b) => a - b);
    const median = counts[counts.length >> 1] ?? 0;
    const before = this.groups.size;
    for (const [k, g] of this.groups) if (g.count <= median) this.groups.delete(k);
    if (this.groups.size === before) {
      const firstKey = this.groups.keys().next().value;
      if (firstKey !== undefined) this.groups.delete(firstKey);
    }
    this.groupsDropped += before - this.groups.size;
  }

  /** Causes by count (then in CAUSES order). */
  causeSummaries(): CauseSummary[] {
    return [...this.causes.values()].map((t) => t.summary).sort(byCauseOrder);
  }

  /** The `n` largest finding groups (topGroupsOf). */
  topGroups(n: number): FindingGroup[] {
    return topGroupsOf(this.groups.values(), n);
  }

  topPorts(n: number): Counted[] {
    return topPortsOf(this.ports, n);
  }
}
