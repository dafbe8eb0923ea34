/**
 * Reset causes: give every RST a cause, a confidence and the facts behind it.
 *
 * Pure functions over `Connection` records (src/analyze/types.ts). Two passes:
 *   1. `ContextBuilder` (or `buildContext`) gathers capture-wide aggregates over all connections — failed
 *      connection attempts per source (scan fan-out), RST-only "connections" per receiver (RST flood),
 *      unsolicited SYN-ACKs / RSTs per receiver (SYN-flood backscatter);
 *   2. `classifyResets` (rules.ts) walks each connection's resets and applies the rules, first match wins.
 *
 * Rules, thresholds and confidences are documented in docs/analyze.md; patterns from
 * shared/design/tcp-resets-field-guide.md §6.1. A reset no rule explains is `unexplained` with its facts:
 * never a guess presented as certain.
 */

import { isLikelyServerPort } from './flows.js';
import type { QuietConnection } from './records.js';
import type { Connection, ResetInfo } from './types.js';

export type CauseId =
  | 'refused'
  | 'scan'
  | 'abort'
  | 'idle-timeout'
  | 'queue-overflow'
  | 'time-wait-assassination'
  | 'half-open'
  | 'backscatter'
  | 'injection'
  | 'rst-flood'
  | 'unexplained';

export type Confidence = 'certain' | 'likely' | 'possible';

/** Cause → `rstwatch explain <topic>` (ids of src/model/explain.ts). */
export const CAUSE_TOPIC: Readonly<Record<CauseId, string>> = {
  refused: 'refused',
  scan: 'scan',
  abort: 'abort',
  'idle-timeout': 'timeout',
  'queue-overflow': 'queue-full',
  'time-wait-assassination': 'time-wait-assassination',
  'half-open': 'half-open',
  backscatter: 'syn-flood',
  injection: 'rst-injection',
  'rst-flood': 'rst-injection',
  unexplained: 'reset',
};

export const CAUSE_TITLE: Readonly<Record<CauseId, string>> = {
  refused: 'connection refused (closed port)',
  scan: 'port scan (SYN or RST scan)',
  abort: 'application abort',
  'idle-timeout': 'reset after idle / keepalive timeout',
  'queue-overflow': 'listen/accept queue overflow',
  'time-wait-assassination': 'TIME-WAIT assassination (RST after both FINs)',
  'half-open': 'half-open connection (peer forgot it)',
  backscatter: 'SYN-flood backscatter',
  injection: 'RST injection or spoofing',
  'rst-flood': 'RST flood',
  unexplained: 'unexplained',
};

/** Every cause, in report order. */
export const CAUSES: readonly CauseId[] = Object.keys(CAUSE_TOPIC) as CauseId[];

/** Thresholds (documented in docs/analyze.md). */
export const THRESHOLDS = {
  /** Distinct (host, port) targets of failed attempts from one source within `scanWindowSec` → scan. */
  scanMinTargets: 10,
  scanWindowSec: 60,
  /** RST-only flows to one receiver → RST flood. */
  floodMinRsts: 50,
  /** Unsolicited SYN-ACK / lone RST+ACK to one receiver from one sender → backscatter. */
  backscatterMin: 5,
  /** Seconds of silence before a RST for the idle/keepalive rule. */
  idleSec: 60,
  /** Above this, the idle rule is 'likely' rather than 'possible'. */
  idleLikelySec: 300,
} as const;

export interface ScanSource {
  addr: string;
  /** Distinct targets (host:port) of failed attempts and of RST probes. */
  targets: number;
  /** How many of the attempts were lone RSTs (an RST scan) rather than SYNs. */
  rstProbes: number;
  ports: number;
  hosts: number;
  /** Most distinct targets seen inside one scanWindowSec window. */
  peakTargetsInWindow: number;
  firstTime: number;
  lastTime: number;
}

export interface FloodTarget {
  addr: string;
  rsts: number;
  sources: number;
  firstTime: number;
  lastTime: number;
}

export interface BackscatterPair {
  /** The SYN-flood victim that sends the SYN-ACKs / RSTs. */
  sender: string;
  /** The innocent host whose address was spoofed. */
  receiver: string;
  packets: number;
  ports: number;
}

/** Capture-wide aggregates computed in a first pass. */
export interface ClassifyContext {
  scanners: Map<string, ScanSource>;
  floods: Map<string, FloodTarget>;
  /** Keyed by `${sender}|${receiver}`. */
  backscatter: Map<string, BackscatterPair>;
}

export interface ClassifiedReset {
  conn: Connection;
  reset: ResetInfo;
  /** Index of the reset within conn.resets. */
  index: number;
  cause: CauseId;
  topic: string;
  confidence: Confidence;
  /** Facts: frames, sequence numbers against what was expected, times. */
  evidence: string[];
  /** Address and port of the RST sender and receiver. */
  sender: string;
  senderPort: number;
  receiver: string;
  receiverPort: number;
}

// ---------------------------------------------------------------- connection shapes

/** No packet other than RSTs in either direction. */
/**
 * What the capture-wide context reads of a connection with resets (ContextBuilder.add and the predicates
 * below): a full Connection, or the lighter view of a held one (records.ts ContextView).
 */
export interface ContextConnection {
  readonly origAddr: string;
  readonly respAddr: string;
  readonly origPort: number;
  readonly respPort: number;
  readonly startTime: number;
  readonly connState: Connection['connState'];
  readonly history: string;
  readonly orig: Readonly<Pick<Connection['orig'], 'syns' | 'packets' | 'rsts' | 'payloadBytes'>>;
  readonly resp: Readonly<Pick<Connection['resp'], 'syns' | 'packets' | 'rsts' | 'payloadBytes'>>;
  readonly resets: readonly ResetInfo[];
}

export function isRstOnly(c: ContextConnection): boolean {
  return c.orig.packets === c.orig.rsts && c.resp.packets === c.resp.rsts && c.resets.length > 0;
}

/** The responder sent a SYN-ACK the originator never asked for (no SYN from it in the capture). */
export function hasUnsolicitedSynAck(c: ContextConnection): boolean {
  return c.orig.syns === 0 && c.resp.syns > 0 && c.history.replace('^', '').startsWith('h');
}

/** A connection attempt that failed in a way scanners produce: refused, unanswered, or SYN / SYN-ACK / RST. */
export function isFailedAttempt(c: ContextConnection): boolean {
  if (c.orig.syns === 0) return false;
  if (c.connState === 'REJ' || c.connState === 'S0' || c.connState === 'RSTOS0') return true;
  return (
    c.connState === 'RSTO' &&
    c.orig.payloadBytes === 0 &&
    c.resp.payloadBytes === 0 &&
    /^S+h[hR]*R/.test(c.history)
  );
}

// ---------------------------------------------------------------- pass 1: context

interface Attempt {
  target: string;
  host: string;
  port: number;
  time: number;
  /** A lone bare RST (RST scan) rather than a failed SYN. */
  rst: boolean;
}

/**
 * A lone bare RST from a port that is not a service port, in a connection of nothing but RSTs: the probe of
 * an RST scan (nmap-style "inverse mapping"; the target's kernel drops it in silence, RFC 9293 §3.10.7.1).
 * RSTs from a service port are left out: a server answering packets the capture missed (one-way capture,
 * a restart) or ACK-flood backscatter fan out to the clients' ephemeral ports the same way.
 */
export function isRstProbe(c: ContextConnection, r: ResetInfo): boolean {
  return r.flags === 'RST' && !isLikelyServerPort(r.side === 'orig' ? c.origPort : c.respPort);
}

/** Per-source failed attempts, with what build() derived from them the last time (while unchanged). */
interface SourceAttempts {
  list: Attempt[];
  /** Distinct targets of the attempts in `list` (grows with it). */
  targets: Set<string>;
  /** The list grew since `result` was computed. */
  dirty: boolean;
  result: ScanSource | undefined;
}

interface FloodTally {
  rsts: number;
  sources: Set<string>;
  first: number;
  last: number;
}

interface ScatterTally {
  sender: string;
  receiver: string;
  packets: number;
  ports: Set<number>;
}

/**
 * Drops the entries whose weight is at or below the median (at least one) from a map that reached its bound,
 * and returns how many went: the same policy as the report's top lists (aggregate.ts BoundedCounter), so that
 * the heavy hitters — scanners, flood targets — stay.
 */
function pruneByWeight<V>(m: Map<string, V>, weight: (v: V) => number): number {
  const ws = [...m.values()].map(weight).sort((a, b) => a - b);
  const median = ws[ws.length >> 1] ?? 0;
  const before = m.size;
  for (const [k, v] of m) if (weight(v) <= median) m.delete(k);
  if (m.size === before) {
    const first = m.keys().next().value;
    if (first !== undefined) m.delete(first);
  }
  return before - m.size;
}

/** Incremental first pass: `add` every connection (with or without resets), then `build`. */
export class ContextBuilder {
  private readonly attempts = new Map<string, SourceAttempts>();
  private readonly flood = new Map<string, FloodTally>();
  private readonly scatter = new Map<string, ScatterTally>();
  /** Bounded memory: per source we keep at most this many attempts (enough to prove a scan). */
  private static readonly MAX_ATTEMPTS_PER_SOURCE = 10_000;
  /**
   * Sources with attempts, flood receivers and backscatter pairs kept (each): a spoofed SYN flood or its
   * backscatter from millions of addresses would otherwise grow these maps without bound. Past it, the
   * lighter half is dropped (`evicted` counts them; the report is then marked approximate).
   */
  static readonly MAX_KEYS = 50_000;
  /** Sources, receivers and pairs dropped to stay within MAX_KEYS (0: the context is exact). */
  evicted = 0;

  constructor(private readonly maxKeys = ContextBuilder.MAX_KEYS) {}

  private attempt(source: string, host: string, port: number, time: number, rst: boolean): void {
    let a = this.attempts.get(source);
    if (a === undefined) {
      if (this.attempts.size >= this.maxKeys)
        this.evicted += pruneByWeight(this.attempts, (x) => x.list.length);
      a = { list: [], targets: new Set(), dirty: true, result: undefined };
      this.attempts.set(source, a);
    }
    if (a.list.length < ContextBuilder.MAX_ATTEMPTS_PER_SOURCE) {
      const target = `${host}|${port}`;
      a.list.push({ target, host, port, time, rst });
      a.targets.add(target);
      a.dirty = true;
    }
  }

  add(c: ContextConnection): void {
    if (isFailedAttempt(c)) this.attempt(c.origAddr, c.respAddr, c.respPort, c.startTime, false);
    if (c.resets.length === 0) return;
    if (isRstOnly(c)) {
      for (const r of c.resets) {
        const recv = r.side === 'orig' ? c.respAddr : c.origAddr;
        const send = r.side === 'orig' ? c.origAddr : c.respAddr;
        if (isRstProbe(c, r))
          this.attempt(send, recv, r.side === 'orig' ? c.respPort : c.origPort, r.time, true);
        let f = this.flood.get(recv);
        if (f === undefined) {
          if (this.flood.size >= this.maxKeys) this.evicted += pruneByWeight(this.flood, (x) => x.rsts);
          f = { rsts: 0, sources: new Set(), first: r.time, last: r.time };
          this.flood.set(recv, f);
        }
        f.rsts++;
        if (f.sources.size < 100_000) f.sources.add(send);
        f.first = Math.min(f.first, r.time);
        f.last = Math.max(f.last, r.time);
        if (r.flags === 'RST+ACK') this.scatterAdd(send, recv, r.side === 'orig' ? c.respPort : c.origPort);
      }
    } else if (hasUnsolicitedSynAck(c)) {
      this.scatterAdd(c.respAddr, c.origAddr, c.origPort);
    }
  }

  /**
   * The same as add() for a connection without resets, from the flow table's lean view: only a failed
   * attempt matters then, and without a RST the only failed attempt is Zeek's S0 (REJ, RSTO and RSTOS0 need
   * a RST).
   */
  addQuiet(q: QuietConnection): void {
    if (q.origSyns > 0 && q.connState === 'S0')
      this.addAttempt(q.origAddr, q.respAddr, q.respPort, q.startTime);
  }

  /** A failed connection attempt (an unanswered SYN) from `source` to respAddr:respPort, as addQuiet adds. */
  addAttempt(source: string, respAddr: string, respPort: number, startTime: number): void {
    this.attempt(source, respAddr, respPort, startTime, false);
  }

  private scatterAdd(sender: string, receiver: string, port: number): void {
    const k = `${sender}|${receiver}`;
    let s = this.scatter.get(k);
    if (s === undefined) {
      if (this.scatter.size >= this.maxKeys) this.evicted += pruneByWeight(this.scatter, (x) => x.packets);
      s = { sender, receiver, packets: 0, ports: new Set() };
      this.scatter.set(k, s);
    }
    s.packets++;
    if (s.ports.size < 65536) s.ports.add(port);
  }

  /** What one source's attempts say (undefined: not a scanner). */
  private static scanSource(addr: string, a: SourceAttempts): ScanSource | undefined {
    const list = a.list;
    if (a.targets.size < THRESHOLDS.scanMinTargets) return undefined;
    list.sort((x, y) => x.time - y.time);
    // Sliding window over time: distinct targets inside any scanWindowSec window.
    const inWin = new Map<string, number>();
    let peak = 0;
    let lo = 0;
    for (let hi = 0; hi < list.length; hi++) {
      const at = list[hi]!;
      inWin.set(at.target, (inWin.get(at.target) ?? 0) + 1);
      while (at.time - list[lo]!.time > THRESHOLDS.scanWindowSec) {
        const t = list[lo]!.target;
        const n = (inWin.get(t) ?? 1) - 1;
        if (n === 0) inWin.delete(t);
        else inWin.set(t, n);
        lo++;
      }
      peak = Math.max(peak, inWin.size);
    }
    if (peak < THRESHOLDS.scanMinTargets) return undefined;
    return {
      addr,
      targets: a.targets.size,
      rstProbes: list.filter((x) => x.rst).length,
      ports: new Set(list.map((x) => x.port)).size,
      hosts: new Set(list.map((x) => x.host)).size,
      peakTargetsInWindow: peak,
      firstTime: list[0]!.time,
      lastTime: list[list.length - 1]!.time,
    };
  }

  /**
   * The context so far. A source whose attempts did not change since the last build keeps its result
   * (the sort is stable, so sorting again would give the same order): building it again and again while
   * early classification runs costs only the sources that moved.
   */
  build(): ClassifyContext {
    const scanners = new Map<string, ScanSource>();
    for (const [addr, a] of this.attempts) {
      if (a.dirty) {
        a.result = ContextBuilder.scanSource(addr, a);
        a.dirty = false;
      }
      if (a.result !== undefined) scanners.set(addr, { ...a.result });
    }
    const floods = new Map<string, FloodTarget>();
    for (const [addr, f] of this.flood) {
      if (f.rsts >= THRESHOLDS.floodMinRsts)
        floods.set(addr, {
          addr,
          rsts: f.rsts,
          sources: f.sources.size,
          firstTime: f.first,
          lastTime: f.last,
        });
    }
    const backscatter = new Map<string, BackscatterPair>();
    for (const [k, s] of this.scatter) {
      if (s.packets >= THRESHOLDS.backscatterMin)
        backscatter.set(k, {
          sender: s.sender,
          receiver: s.receiver,
          packets: s.packets,
          ports: s.ports.size,
        });
    }
    return { scanners, floods, backscatter };
  }
}

export function buildContext(connections: Iterable<Connection>): ClassifyContext {
  const b = new ContextBuilder();
  for (const c of connections) b.add(c);
  return b.build();
}

export function emptyContext(): ClassifyContext {
  return { scanners: new Map(), floods: new Map(), backscatter: new Map() };
}

export const fmtEp = (addr: string, port: number): string =>
  addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
