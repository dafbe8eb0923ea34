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
import { EP, EP_NAMES, endpointSize, TcpEndpoint, TcpSession } from './conn-state.js';
import { judgeRst, MAX_WSCALE, seqDelta, seqGt } from './seq.js';
import type { Connection, EndpointFacts, ResetInfo } from './types.js';

/**
 * Default table size, for a peak RSS ≤ 256 MB on any capture (docs/benchmarks.md, part 4). A tracked flow is
 * ~2 KB live (flow + two endpoints ≈ 900 B, ~23 boxed doubles, history, its reset records: heap snapshot of a
 * full table on Node 20), and the garbage collector lets the heap grow to ~2× the live data between full
 * collections. Measured with this default: 207 MB peak on a 1 GB loopback capture (no flow evicted: finished
 * flows leave after Zeek's 5 s close delay when the table is full) and 222 MB on a synthetic SYN scan of 2 M
 * probes (1.98 M evictions counted). Raise --max-flows for captures with more live connections at once.
 */
export const DEFAULT_MAX_FLOWS = 20_000;
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
const SERVER_PORTS = new Uint8Array(65536);
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

const EMPTY_RESETS: ResetInfo[] = [];

/** One tracked connection. Address words are the canonical "A" (lower) and "B" endpoints. */
class Flow extends TcpSession {
  id = 0;
  slot = 0;
  hash = 0;
  v = 4;
  a0 = 0;
  a1 = 0;
  a2 = 0;
  a3 = 0;
  b0 = 0;
  b1 = 0;
  b2 = 0;
  b3 = 0;
  pa = 0;
  pb = 0;
  /** The originator is endpoint A. */
  origIsA = true;
  startTime = 0;
  lastTime = -1;
  firstFrame = 0;
  lastFrame = 0;
  handshake = false;
  resets: ResetInfo[] = EMPTY_RESETS;
  /** The endpoint that sent each reset (so a later role flip still names the right side). */
  resetSenders: TcpEndpoint[] | null = null;
  /** A RST whose receiver may still send a challenge ACK. */
  pending: ResetInfo | null = null;
  pendingReceiver: TcpEndpoint | null = null;
  pendingAck = 0;
  pendingDeadline = 0;
}

/** Murmur3-style finaliser over the canonical key words. */
function mix(h: number, k: number): number {
  let x = Math.imul(k, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x, 0x1b873593);
  h ^= x;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rd(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * Flow objects are reused (a pool of at most maxFlows), so that a multi-GB capture does not allocate, promote
 * and collect a flow and its two endpoints per connection: on a 1 GB loopback capture that churn was most of
 * the garbage collector's time (docs/benchmarks.md, part 4). A flow leaving the table is copied out by
 * toConnection() first; reuse then resets every field to its initial value with a function compiled once from
 * a fresh object's own fields — so a field added to TcpEndpoint/TcpSession later is reset too. Should a field
 * ever start out as an object (other than the known ones below), pooling is switched off rather than risk
 * sharing it between connections.
 */
type Reset<T> = (target: T, fresh: T) => void;

function compileReset<T extends object>(fresh: T, own: ReadonlySet<string>): Reset<T> | undefined {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(fresh)) {
    if (own.has(k)) continue;
    if (v !== null && typeof v === 'object' && v !== EMPTY_RESETS) return undefined;
    if (typeof v === 'function') return undefined;
    const key = JSON.stringify(k);
    lines.push(`o[${key}] = f[${key}];`);
  }
  // Straight-line stores with constant keys: V8 compiles them like `o.x = f.x` (a loop over the keys would be
  // a keyed, megamorphic store per field).
  return new Function('o', 'f', lines.join('\n')) as Reset<T>;
}

const FRESH_ENDPOINT = new TcpEndpoint();
const FRESH_FLOW = new Flow();
const resetEndpoint = compileReset(FRESH_ENDPOINT, new Set());
/** orig/resp are the two endpoints (reset by resetEndpoint); every other field of a flow is a plain value. */
const resetFlow = resetEndpoint && compileReset(FRESH_FLOW, new Set(['orig', 'resp']));

/** A flow as new: one from the pool, reset, or a new one. */
function takeFlow(pool: Flow[]): Flow {
  const f = pool.pop();
  if (f === undefined || resetFlow === undefined || resetEndpoint === undefined) return new Flow();
  resetFlow(f, FRESH_FLOW);
  resetEndpoint(f.orig, FRESH_ENDPOINT);
  resetEndpoint(f.resp, FRESH_ENDPOINT);
  return f;
}

/** Effective window shift of `rcv` (RFC 7323 §2.2: only when both SYNs carried the option); −1 unknown. */
function windowShift(rcv: TcpEndpoint, snd: TcpEndpoint): number {
  if (rcv.windowOnSyn) return 0;
  if (!rcv.sentSyn && !rcv.sentSynAck) return -1;
  if (rcv.wscale < 0) return 0;
  if (!snd.sentSyn && !snd.sentSynAck) return -1;
  if (snd.wscale < 0) return 0;
  return Math.min(rcv.wscale, MAX_WSCALE);
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

  private readonly idleTimeout: number;
  private readonly establishedIdleTimeout: number;
  private readonly closedTimeout: number;
  private readonly challengeSec: number;
  private readonly flows: (Flow | undefined)[];
  /** Flows that left the table, for reuse (see takeFlow). */
  private readonly pool: Flow[] = [];
  /**
   * Open-addressing index, two Int32 per bucket: slot + 1 (0 = empty) and the flow's hash, so a probe past
   * another flow compares the hash in this array instead of loading that flow from memory (linear probing,
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
  private nextId = 0;
  private readonly kept: Connection[] = [];
  private readonly names = new AddressNames();

  constructor(opts: FlowTableOptions = {}) {
    const max = Math.max(1, Math.floor(opts.maxFlows ?? DEFAULT_MAX_FLOWS));
    this.maxFlows = max;
    this.idleTimeout = opts.idleTimeoutSec ?? DEFAULT_IDLE_TIMEOUT_SEC;
    this.establishedIdleTimeout = Math.max(
      this.idleTimeout,
      opts.establishedIdleTimeoutSec ?? DEFAULT_ESTABLISHED_IDLE_TIMEOUT_SEC,
    );
    this.closedTimeout = opts.closedTimeoutSec ?? DEFAULT_CLOSED_TIMEOUT_SEC;
    this.challengeSec = opts.challengeAckSec ?? DEFAULT_CHALLENGE_ACK_SEC;
    this.onConnection = opts.onConnection;
    this.flows = new Array<Flow | undefined>(max).fill(undefined);
    let size = 16;
    while (size < max * 2) size *= 2;
    this.buckets = new Int32Array(size * 2);
    this.mask = size - 1;
    this.prev = new Int32Array(max).fill(-1);
    this.next = new Int32Array(max).fill(-1);
    this.freeSlots = new Int32Array(max);
    for (let i = 0; i < max; i++) this.freeSlots[i] = max - 1 - i;
    this.freeTop = max;
  }

  /** Feeds one decoded TCP segment. `pkt` may be reused by the caller after this returns. */
  observe(pkt: DecodedTcp, tsSec: number, tsNsec: number, frame: number): void {
    const t = tsSec + tsNsec / 1e9;
    const st = this.stats;
    st.packets++;
    if ((pkt.flags & TCP.RST) !== 0) st.resets++;
    if (this.tail >= 0) this.expire(t);

    const v6 = pkt.ipVersion === 6;
    const src = pkt.src;
    const dst = pkt.dst;
    const s0 = rd(src, 0);
    const d0 = rd(dst, 0);
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    if (v6) {
      s1 = rd(src, 4);
      s2 = rd(src, 8);
      s3 = rd(src, 12);
      d1 = rd(dst, 4);
      d2 = rd(dst, 8);
      d3 = rd(dst, 12);
    }
    const sp = pkt.srcPort;
    const dp = pkt.dstPort;
    // Canonical order: (address, port) of A <= B.
    let srcIsA: boolean;
    if (s0 !== d0) srcIsA = s0 < d0;
    else if (s1 !== d1) srcIsA = s1 < d1;
    else if (s2 !== d2) srcIsA = s2 < d2;
    else if (s3 !== d3) srcIsA = s3 < d3;
    else srcIsA = sp <= dp;

    let a0: number;
    let a1: number;
    let a2: number;
    let a3: number;
    let b0: number;
    let b1: number;
    let b2: number;
    let b3: number;
    let pa: number;
    let pb: number;
    if (srcIsA) {
      a0 = s0;
      a1 = s1;
      a2 = s2;
      a3 = s3;
      pa = sp;
      b0 = d0;
      b1 = d1;
      b2 = d2;
      b3 = d3;
      pb = dp;
    } else {
      a0 = d0;
      a1 = d1;
      a2 = d2;
      a3 = d3;
      pa = dp;
      b0 = s0;
      b1 = s1;
      b2 = s2;
      b3 = s3;
      pb = sp;
    }
    const v = v6 ? 6 : 4;
    let h = mix(v, a0);
    h = mix(h, a1);
    h = mix(h, a2);
    h = mix(h, a3);
    h = mix(h, b0);
    h = mix(h, b1);
    h = mix(h, b2);
    h = mix(h, b3);
    h = fmix(mix(h, (pa << 16) | pb));

    let flow: Flow | undefined;
    const buckets = this.buckets;
    const h32 = h | 0;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e = buckets[2 * i]!;
      if (e === 0) break;
      if (buckets[2 * i + 1] !== h32) continue;
      const f = this.flows[e - 1]!;
      if (
        f.a0 === a0 &&
        f.b0 === b0 &&
        f.pa === pa &&
        f.pb === pb &&
        f.v === v &&
        f.a1 === a1 &&
        f.a2 === a2 &&
        f.a3 === a3 &&
        f.b1 === b1 &&
        f.b2 === b2 &&
        f.b3 === b3
      ) {
        flow = f;
        break;
      }
    }

    if (flow !== undefined && (pkt.flags & TCP.SYN) !== 0 && flow.isReuse(pkt.flags, pkt.seq)) {
      st.reused++;
      this.remove(flow, 'reused');
      flow = undefined;
    }
    if (flow === undefined) {
      if (this.freeTop === 0) {
        // Table full: the least recently seen flow goes. A finished one quiet for longer than Zeek's
        // tcp_close_delay (5 s) would have left Zeek's table already: it expires, it is not "evicted"
        // (only the late-RST watch of closedTimeoutSec is cut short).
        const lru = this.flows[this.tail]!;
        if (lru.isFinished() && t - lru.lastTime > CLOSE_DELAY_SEC) {
          st.expired++;
          this.remove(lru, 'finished');
        } else {
          st.evicted++;
          this.remove(lru, 'evicted');
        }
      }
      flow = takeFlow(this.pool);
      flow.v = v;
      flow.a0 = a0;
      flow.a1 = a1;
      flow.a2 = a2;
      flow.a3 = a3;
      flow.b0 = b0;
      flow.b1 = b1;
      flow.b2 = b2;
      flow.b3 = b3;
      flow.pa = pa;
      flow.pb = pb;
      flow.hash = h;
      flow.id = this.nextId++;
      flow.startTime = t;
      flow.firstFrame = frame;
      this.insert(flow);
      st.flows++;
      // Originator: the SYN sender; else the SYN-ACK receiver; else the side not on a likely server port.
      const f = pkt.flags;
      let flip: boolean;
      if ((f & TCP.SYN) !== 0) flip = (f & TCP.ACK) !== 0;
      else if (isLikelyServerPort(sp)) flip = isLikelyServerPort(dp) ? sp < dp : true;
      else flip = false;
      flow.origIsA = flip ? !srcIsA : srcIsA;
      if (flip) flow.flipRoles();
    } else if (this.head !== flow.slot) {
      this.touch(flow.slot);
    }
    this.segment(flow, pkt, srcIsA === flow.origIsA, t, frame);
  }

  /** Ends tracking: returns the connections still in the table (plus any kept ones), in start order. */
  finish(): Connection[] {
    const out = this.kept.splice(0);
    const rest: Flow[] = [];
    for (const f of this.flows) if (f !== undefined) rest.push(f);
    rest.sort((x, y) => x.id - y.id);
    for (const f of rest) {
      this.unlink(f);
      out.push(toConnection(f, 'end', this.names));
    }
    this.stats.active = 0;
    out.sort((x, y) => x.id - y.id);
    return out;
  }

  /** Per-connection processing of one segment (the hot path). */
  private segment(flow: Flow, pkt: DecodedTcp, isOrig: boolean, t: number, frame: number): void {
    const ep = isOrig ? flow.orig : flow.resp;
    const peer = isOrig ? flow.resp : flow.orig;
    const flags = pkt.flags;
    const seq = pkt.seq;
    const ack = pkt.ack;
    const len = pkt.payloadLen;
    const syn = (flags & TCP.SYN) !== 0;
    const fin = (flags & TCP.FIN) !== 0;
    const rst = (flags & TCP.RST) !== 0;
    const hasAck = (flags & TCP.ACK) !== 0;

    if (flow.pending !== null) {
      if (t > flow.pendingDeadline) flow.pending = null;
      else if (
        ep === flow.pendingReceiver &&
        hasAck &&
        (flags & 7) === 0 &&
        len === 0 &&
        ack === flow.pendingAck
      ) {
        flow.pending.challengeAck = true;
        flow.pending.challengeAckFrame = frame;
        flow.pending = null;
      }
    }
    if (rst) this.recordReset(flow, pkt, isOrig, ep, peer, t, frame);

    const flips = flow.flips;
    flow.process(isOrig, seq, ack, flags, len, pkt.window);
    if (flow.flips !== flips) flow.origIsA = !flow.origIsA;

    // Facts.
    ep.packets++;
    ep.payloadBytes += len;
    if (ep.firstTime < 0) ep.firstTime = t;
    ep.lastTime = t;
    if (pkt.hasTimestamps) ep.timestamps = true;
    if (syn) {
      if (hasAck) {
        if (ep.sentSynAck && seq === ep.isn) ep.synAckRetx++;
        ep.sentSynAck = true;
      } else {
        if (ep.sentSyn && seq === ep.isn) ep.synRetx++;
        ep.sentSyn = true;
      }
      if (ep.syns === 0 || seq !== ep.isn) ep.isn = seq;
      ep.syns++;
      if (pkt.mss >= 0) ep.mss = pkt.mss;
      if (pkt.wscale >= 0) ep.wscale = pkt.wscale;
      if (pkt.sackPermitted) ep.sackPermitted = true;
    }
    if (!rst) {
      ep.nonRstPackets++;
      const end = (seq + len + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
      if (ep.nextSeq < 0 || seqGt(end, ep.nextSeq)) ep.nextSeq = end;
      ep.rawWindow = pkt.window;
      ep.windowOnSyn = syn;
      const ttl = pkt.ttl;
      ep.lastTtl = ttl;
      ep.lastIpId = pkt.ipId;
      ep.lastHasTs = pkt.hasTimestamps;
      ep.lastTsVal = pkt.hasTimestamps ? pkt.tsVal : -1;
      if (ep.ttlMin < 0 || ttl < ep.ttlMin) ep.ttlMin = ttl;
      if (ttl > ep.ttlMax) ep.ttlMax = ttl;
      if (hasAck && !(ack === 0 && seqDelta(ack, peer.nextSeq) > 1048576)) {
        if (peer.nextSeq < 0) peer.nextSeq = ack;
        else if (seqGt(ack, peer.nextSeq)) {
          // Wireshark's "ACKed unseen segment": the peer sent data the capture did not show (Zeek's gap).
          if (!syn && !fin && peer.nonRstPackets > 0) {
            peer.ackedUnseen++;
            flow.gap(peer === flow.orig, peer);
          }
          peer.nextSeq = ack;
        }
      }
      if (hasAck && !syn && ep === flow.orig && ep.sentSyn && peer.sentSynAck) flow.handshake = true;
    }
    flow.lastTime = t;
    flow.lastFrame = frame;
  }

  private recordReset(
    flow: Flow,
    pkt: DecodedTcp,
    isOrig: boolean,
    snd: TcpEndpoint,
    rcv: TcpEndpoint,
    t: number,
    frame: number,
  ): void {
    const flags = pkt.flags;
    const hasAck = (flags & TCP.ACK) !== 0;
    const synSent = rcv.state === EP.SYN_SENT && snd.nonRstPackets === 0 && rcv.nextSeq >= 0;
    const verdict = judgeRst(pkt.seq, pkt.ack, hasAck, {
      rcvNxt: snd.nextSeq,
      rawWindow: rcv.rawWindow,
      windowShift: windowShift(rcv, snd),
      synSentSndNxt: synSent ? rcv.nextSeq : -1,
    });
    const prev = snd.nonRstPackets > 0;
    const info: ResetInfo = {
      frame,
      time: t,
      side: isOrig ? 'orig' : 'resp',
      seq: pkt.seq,
      ack: pkt.ack,
      flags: hasAck ? 'RST+ACK' : 'RST',
      flagBits: flags,
      payloadLen: pkt.payloadLen,
      judgment: verdict.judgment,
      expectedSeq: synSent ? rcv.nextSeq : snd.nextSeq,
      seqOffset: verdict.offset,
      receiverWindow: verdict.window,
      challengeAck: false,
      challengeAckFrame: -1,
      senderStateBefore: EP_NAMES[snd.state]!,
      receiverStateBefore: EP_NAMES[rcv.state]!,
      afterBothFins: flow.orig.finCnt > 0 && flow.resp.finCnt > 0,
      idleSec: flow.lastTime < 0 ? -1 : t - flow.lastTime,
      ttl: pkt.ttl,
      ipId: pkt.ipId,
      hasTimestamps: pkt.hasTimestamps,
      tsVal: pkt.hasTimestamps ? pkt.tsVal : -1,
      prevTtl: prev ? snd.lastTtl : -1,
      prevIpId: prev ? snd.lastIpId : -1,
      prevHasTimestamps: prev && snd.lastHasTs,
      prevTsVal: prev ? snd.lastTsVal : -1,
      prevTtlMin: snd.ttlMin,
      prevTtlMax: snd.ttlMax,
      prevPackets: snd.nonRstPackets,
      keepaliveProbes: snd.keepaliveProbes,
    };
    if (flow.resets === EMPTY_RESETS) {
      flow.resets = [];
      flow.resetSenders = [];
    }
    flow.resets.push(info);
    flow.resetSenders!.push(snd);
    if (!synSent && snd.nextSeq >= 0) {
      flow.pending = info;
      flow.pendingReceiver = rcv;
      flow.pendingAck = snd.nextSeq;
      flow.pendingDeadline = t + this.challengeSec;
    } else {
      flow.pending = null;
    }
  }

  /** Removes flows from the LRU end that are finished or idle for long enough. */
  private expire(now: number): void {
    // An established connection idle longer than the short limit but within its own is moved to the head
    // (at most once per flow and call, so the loop ends) and the flows behind it are looked at.
    let bumps = this.stats.active;
    while (this.tail >= 0) {
      const f = this.flows[this.tail]!;
      const idle = now - f.lastTime;
      const finished = f.isFinished();
      if (idle <= (finished ? this.closedTimeout : this.idleTimeout)) return;
      if (!finished && f.handshake && idle <= this.establishedIdleTimeout) {
        if (bumps-- <= 0) return;
        this.touch(f.slot);
        continue;
      }
      this.stats.expired++;
      this.remove(f, finished ? 'finished' : 'idle');
    }
  }

  private insert(flow: Flow): void {
    const slot = this.freeSlots[--this.freeTop]!;
    flow.slot = slot;
    this.flows[slot] = flow;
    let i = flow.hash & this.mask;
    while (this.buckets[2 * i] !== 0) i = (i + 1) & this.mask;
    this.buckets[2 * i] = slot + 1;
    this.buckets[2 * i + 1] = flow.hash | 0;
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

  private remove(flow: Flow, why: Connection['closedBy']): void {
    this.unlink(flow);
    this.stats.active--;
    const conn = toConnection(flow, why, this.names);
    // Everything the connection needs was copied out (its resets array is handed over): reuse the flow.
    this.pool.push(flow);
    if (this.onConnection) this.onConnection(conn);
    else this.kept.push(conn);
  }

  /** Takes the flow out of the index, the LRU list and its slot. */
  private unlink(flow: Flow): void {
    const slot = flow.slot;
    const mask = this.mask;
    const buckets = this.buckets;
    let i = flow.hash & mask;
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
    this.flows[slot] = undefined;
    this.freeSlots[this.freeTop++] = slot;
  }
}

/*
 * What leaves the table is built by class constructors, not object literals: V8 "pretenures" an object
 * literal's allocation site once many of its objects outlive a scavenge (here: the connections with resets
 * held for classification), after which every connection of the capture was allocated straight into old
 * space and had to be found by full mark-compacts — ~300 MB of old-space garbage and +40 % peak RSS on a
 * 1 GB capture. Instances of a class are not pretenured that way. Same own fields, in the same order, as the
 * interfaces (and as the literals they replace).
 */
class Facts implements EndpointFacts {
  state: EndpointFacts['state'];
  packets: number;
  payloadBytes: number;
  seqBytes: number;
  retransmissions: number;
  zeroWindows: number;
  fins: number;
  rsts: number;
  syns: number;
  ackedUnseen: number;
  firstTime: number;
  lastTime: number;
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  timestamps: boolean;
  ttlMin: number;
  ttlMax: number;

  constructor(ep: TcpEndpoint, peer: TcpEndpoint) {
    this.state = EP_NAMES[ep.state]!;
    this.packets = ep.packets;
    this.payloadBytes = ep.payloadBytes;
    this.seqBytes = endpointSize(ep, peer);
    this.retransmissions = ep.rxmtCnt;
    this.zeroWindows = ep.win0Cnt;
    this.fins = ep.finCnt;
    this.rsts = ep.rstCnt;
    this.syns = ep.syns;
    this.ackedUnseen = ep.ackedUnseen;
    this.firstTime = ep.firstTime;
    this.lastTime = ep.lastTime;
    this.mss = ep.mss;
    this.wscale = ep.wscale;
    this.sackPermitted = ep.sackPermitted;
    this.timestamps = ep.timestamps;
    this.ttlMin = ep.ttlMin;
    this.ttlMax = ep.ttlMax;
  }
}

class ConnectionRecord implements Connection {
  id: number;
  key: string;
  ipVersion: 4 | 6;
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
  startTime: number;
  endTime: number;
  durationSec: number;
  firstFrame: number;
  lastFrame: number;
  history: string;
  connState: Connection['connState'];
  flipped: boolean;
  origPackets: number;
  respPackets: number;
  origPayloadBytes: number;
  respPayloadBytes: number;
  orig: EndpointFacts;
  resp: EndpointFacts;
  synRetransmissions: number;
  synAckRetransmissions: number;
  handshakeCompleted: boolean;
  resets: ResetInfo[];
  closedBy: Connection['closedBy'];

  constructor(f: Flow, why: Connection['closedBy'], addrA: string, addrB: string, resets: ResetInfo[]) {
    const o = f.orig;
    const r = f.resp;
    const v6 = f.v === 6;
    this.id = f.id;
    this.key = v6 ? `[${addrA}]:${f.pa}-[${addrB}]:${f.pb}` : `${addrA}:${f.pa}-${addrB}:${f.pb}`;
    this.ipVersion = v6 ? 6 : 4;
    this.origAddr = f.origIsA ? addrA : addrB;
    this.origPort = f.origIsA ? f.pa : f.pb;
    this.respAddr = f.origIsA ? addrB : addrA;
    this.respPort = f.origIsA ? f.pb : f.pa;
    this.startTime = f.startTime;
    this.endTime = f.lastTime;
    // A capture whose clock stepped back (merged files, NTP steps) can stamp the last packet before the
    // first: a duration is never negative (as the summary's durationSec).
    this.durationSec = Math.max(0, f.lastTime - f.startTime);
    this.firstFrame = f.firstFrame;
    this.lastFrame = f.lastFrame;
    this.history = f.history;
    this.connState = f.connState();
    this.flipped = f.flips % 2 === 1;
    this.origPackets = o.packets;
    this.respPackets = r.packets;
    this.origPayloadBytes = o.payloadBytes;
    this.respPayloadBytes = r.payloadBytes;
    this.orig = new Facts(o, r);
    this.resp = new Facts(r, o);
    this.synRetransmissions = o.synRetx;
    this.synAckRetransmissions = r.synAckRetx;
    this.handshakeCompleted = f.handshake;
    this.resets = resets;
    this.closedBy = why;
  }
}

function toConnection(f: Flow, why: Connection['closedBy'], names: AddressNames): Connection {
  const addrA = names.name(f.v, f.a0, f.a1, f.a2, f.a3);
  const addrB = names.name(f.v, f.b0, f.b1, f.b2, f.b3);
  const resets = f.resets === EMPTY_RESETS ? [] : f.resets;
  if (f.resetSenders !== null) {
    for (let i = 0; i < resets.length; i++) resets[i]!.side = f.resetSenders[i] === f.orig ? 'orig' : 'resp';
  }
  return new ConnectionRecord(f, why, addrA, addrB, resets);
}
