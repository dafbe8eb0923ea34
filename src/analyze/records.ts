/**
 * What leaves the flow table: `Connection` and `ResetInfo` objects built from a flow's record
 * (flow-record.ts), and the `QuietConnection` view of a connection without resets.
 *
 * They are built by class constructors, not object literals: V8 "pretenures" an object literal's allocation
 * site once many of its objects outlive a scavenge (the connections with resets held for classification),
 * after which every one of them was allocated straight into old space and had to be found by full
 * mark-compacts — ~300 MB of old-space garbage and +40 % peak RSS on a 1 GB capture (docs/benchmarks.md,
 * part 7). Instances of a class are not pretenured that way. Same own fields, in the same order, as the
 * interfaces in types.ts.
 */

import { TCP } from '../packet/types.js';
import type { AddressNames } from './addr-cache.js';
import { EP_NAMES, endpointSize, flowConnState, roleEp } from './conn-state.js';
import {
  D_FIRST_FRAME,
  D_ID,
  D_LAST,
  D_LAST_FRAME,
  D_START,
  D_STRIDE,
  DE_BASE,
  DE_FIRST_TIME,
  DE_LAST_TIME,
  DE_PACKETS,
  DE_PAYLOAD,
  DE_STRIDE,
  E_ACKED_UNSEEN,
  E_FIN_CNT,
  E_MSS,
  E_RST_CNT,
  E_RXMT_CNT,
  E_SACK,
  E_STATE,
  E_SYN_RETX,
  E_SYNACK_RETX,
  E_SYNS,
  E_TIMESTAMPS,
  E_TTL_MAX,
  E_TTL_MIN,
  E_WIN0_CNT,
  E_WSCALE,
  F_A0,
  F_A1,
  F_A2,
  F_A3,
  F_B0,
  F_B1,
  F_B2,
  F_B3,
  F_FLIPS,
  F_HANDSHAKE,
  F_ORIG_EP,
  F_ORIG_IS_A,
  F_PA,
  F_PB,
  F_RESET_HEAD,
  F_V,
  type FlowStore,
  I_STRIDE,
} from './flow-record.js';
import {
  JUDGMENTS,
  R_ACK,
  R_AFTER_FINS,
  R_CHALLENGE,
  R_EXPECTED,
  R_FLAGS,
  R_HAS_EXPECTED,
  R_HAS_TS,
  R_IPID,
  R_JUDGMENT,
  R_KEEPALIVE,
  R_NEXT,
  R_OFFSET,
  R_PAYLOAD,
  R_PREV_HAS_TS,
  R_PREV_IPID,
  R_PREV_TSVAL,
  R_PREV_TTL,
  R_PREV_TTL_MAX,
  R_PREV_TTL_MIN,
  R_RCV_STATE,
  R_SENDER,
  R_SEQ,
  R_SND_STATE,
  R_STRIDE,
  R_TSVAL,
  R_TTL,
  R_WINDOW,
  RD_CHALLENGE_FRAME,
  RD_FRAME,
  RD_IDLE,
  RD_PREV_PACKETS,
  RD_STRIDE,
  RD_TIME,
  type ResetPool,
} from './reset-pool.js';
import type {
  Connection,
  ConnState,
  EndpointFacts,
  EndpointStateName,
  ResetInfo,
  RstJudgment,
  Side,
} from './types.js';

class Facts implements EndpointFacts {
  state: EndpointStateName = 'INACTIVE';
  packets = 0;
  payloadBytes = 0;
  seqBytes = 0;
  retransmissions = 0;
  zeroWindows = 0;
  fins = 0;
  rsts = 0;
  syns = 0;
  ackedUnseen = 0;
  firstTime = 0;
  lastTime = 0;
  mss = 0;
  wscale = 0;
  sackPermitted = false;
  timestamps = false;
  ttlMin = 0;
  ttlMax = 0;

  /** Fills the facts from endpoint `ep` (peer `peer`, doubles at `dep`). */
  load(I: Int32Array, D: Float64Array, ep: number, peer: number, dep: number): this {
    this.state = EP_NAMES[I[ep + E_STATE]!]!;
    this.packets = D[dep + DE_PACKETS]!;
    this.payloadBytes = D[dep + DE_PAYLOAD]!;
    this.seqBytes = endpointSize(I, ep, peer);
    this.retransmissions = I[ep + E_RXMT_CNT]!;
    this.zeroWindows = I[ep + E_WIN0_CNT]!;
    this.fins = I[ep + E_FIN_CNT]!;
    this.rsts = I[ep + E_RST_CNT]!;
    this.syns = I[ep + E_SYNS]!;
    this.ackedUnseen = I[ep + E_ACKED_UNSEEN]!;
    this.firstTime = D[dep + DE_FIRST_TIME]!;
    this.lastTime = D[dep + DE_LAST_TIME]!;
    this.mss = I[ep + E_MSS]!;
    this.wscale = I[ep + E_WSCALE]!;
    this.sackPermitted = I[ep + E_SACK] !== 0;
    this.timestamps = I[ep + E_TIMESTAMPS] !== 0;
    this.ttlMin = I[ep + E_TTL_MIN]!;
    this.ttlMax = I[ep + E_TTL_MAX]!;
    return this;
  }
}

/**
 * A connection built from a flow record. `load` fills it, so that one instance can also serve as a reused
 * view (held.ts) of connections that are only classified and counted.
 */
export class ConnectionRecord implements Connection {
  id = 0;
  ipVersion: 4 | 6 = 4;
  origAddr = '';
  origPort = 0;
  respAddr = '';
  respPort = 0;
  startTime = 0;
  endTime = 0;
  durationSec = 0;
  firstFrame = 0;
  lastFrame = 0;
  history = '';
  connState: ConnState = 'OTH';
  flipped = false;
  origPackets = 0;
  respPackets = 0;
  origPayloadBytes = 0;
  respPayloadBytes = 0;
  orig: EndpointFacts = new Facts();
  resp: EndpointFacts = new Facts();
  synRetransmissions = 0;
  synAckRetransmissions = 0;
  handshakeCompleted = false;
  resets: ResetInfo[] = [];
  closedBy: Connection['closedBy'] = 'end';
  /** The originator is endpoint A of the canonical key (a private field: not part of the data). */
  #origIsA = true;

  /** Fills the connection from the flow in `slot` of `s` (addresses named by `names`). */
  load(
    s: FlowStore,
    slot: number,
    why: Connection['closedBy'],
    names: AddressNames,
    resets: ResetInfo[],
  ): this {
    const I = s.I;
    const D = s.D;
    const b = slot * I_STRIDE;
    const db = slot * D_STRIDE;
    const v = I[b + F_V]!;
    const addrA = names.name(v, I[b + F_A0]!, I[b + F_A1]!, I[b + F_A2]!, I[b + F_A3]!);
    const addrB = names.name(v, I[b + F_B0]!, I[b + F_B1]!, I[b + F_B2]!, I[b + F_B3]!);
    const origPhys = I[b + F_ORIG_EP]!;
    const o = s.ep(slot, origPhys);
    const r = s.ep(slot, origPhys ^ 1);
    const dO = db + DE_BASE + origPhys * DE_STRIDE;
    const dR = db + DE_BASE + (origPhys ^ 1) * DE_STRIDE;
    const origIsA = I[b + F_ORIG_IS_A] !== 0;
    const pa = I[b + F_PA]!;
    const pb = I[b + F_PB]!;
    const start = D[db + D_START]!;
    const last = D[db + D_LAST]!;
    this.id = D[db + D_ID]!;
    this.ipVersion = v === 6 ? 6 : 4;
    this.origAddr = origIsA ? addrA : addrB;
    this.origPort = origIsA ? pa : pb;
    this.respAddr = origIsA ? addrB : addrA;
    this.respPort = origIsA ? pb : pa;
    this.startTime = start;
    this.endTime = last;
    // A capture whose clock stepped back (merged files, NTP steps) can stamp the last packet before the
    // first: a duration is never negative (as the summary's durationSec).
    this.durationSec = Math.max(0, last - start);
    this.firstFrame = D[db + D_FIRST_FRAME]!;
    this.lastFrame = D[db + D_LAST_FRAME]!;
    this.history = s.history(slot);
    this.connState = flowConnState(s, slot);
    this.flipped = I[b + F_FLIPS]! % 2 === 1;
    this.origPackets = D[dO + DE_PACKETS]!;
    this.respPackets = D[dR + DE_PACKETS]!;
    this.origPayloadBytes = D[dO + DE_PAYLOAD]!;
    this.respPayloadBytes = D[dR + DE_PAYLOAD]!;
    (this.orig as Facts).load(I, D, o, r, dO);
    (this.resp as Facts).load(I, D, r, o, dR);
    this.synRetransmissions = I[o + E_SYN_RETX]!;
    this.synAckRetransmissions = I[r + E_SYNACK_RETX]!;
    this.handshakeCompleted = I[b + F_HANDSHAKE] !== 0;
    this.resets = resets;
    this.closedBy = why;
    this.#origIsA = origIsA;
    return this;
  }

  /** Canonical 4-tuple, built when asked for (no report shows it). */
  get key(): string {
    const a = this.#origIsA;
    const addrA = a ? this.origAddr : this.respAddr;
    const addrB = a ? this.respAddr : this.origAddr;
    const pa = a ? this.origPort : this.respPort;
    const pb = a ? this.respPort : this.origPort;
    return this.ipVersion === 6 ? `[${addrA}]:${pa}-[${addrB}]:${pb}` : `${addrA}:${pa}-${addrB}:${pb}`;
  }
}

/** Builds the Connection of the flow in `slot` (its reset list is handed over). */
export function buildConnection(
  s: FlowStore,
  slot: number,
  why: Connection['closedBy'],
  names: AddressNames,
  resets: ResetInfo[],
): Connection {
  return new ConnectionRecord().load(s, slot, why, names, resets);
}

/**
 * A connection without resets, as the analyzer's context needs it (failed attempts for scan detection),
 * without building a Connection: one reused view, valid only during the callback that receives it.
 */
export interface QuietConnection {
  readonly id: number;
  readonly ipVersion: 4 | 6;
  readonly startTime: number;
  readonly respPort: number;
  /** SYNs (or SYN-ACKs) the originator sent. */
  readonly origSyns: number;
  readonly connState: ConnState;
  readonly origAddr: string;
  readonly respAddr: string;
  /** The originator's (or the responder's) address as four 32-bit words into `out` from `at`. */
  addressWords(orig: boolean, out: Int32Array, at: number): void;
}

export class QuietView implements QuietConnection {
  private s: FlowStore;
  private slot = 0;

  constructor(
    store: FlowStore,
    private readonly names: AddressNames,
  ) {
    this.s = store;
  }

  /** Points the view at a slot (until the next call). */
  at(slot: number): this {
    this.slot = slot;
    return this;
  }

  private get b(): number {
    return this.slot * I_STRIDE;
  }
  get id(): number {
    return this.s.D[this.slot * D_STRIDE + D_ID]!;
  }
  get ipVersion(): 4 | 6 {
    return this.s.I[this.b + F_V] === 6 ? 6 : 4;
  }
  get startTime(): number {
    return this.s.D[this.slot * D_STRIDE + D_START]!;
  }
  private get origIsA(): boolean {
    return this.s.I[this.b + F_ORIG_IS_A] !== 0;
  }
  get respPort(): number {
    return this.s.I[this.b + (this.origIsA ? F_PB : F_PA)]!;
  }
  get origSyns(): number {
    return this.s.I[roleEp(this.s, this.slot, false) + E_SYNS]!;
  }
  get connState(): ConnState {
    return flowConnState(this.s, this.slot);
  }
  private addr(a: boolean): string {
    const I = this.s.I;
    const b = this.b;
    const w = a ? F_A0 : F_B0;
    return this.names.name(I[b + F_V]!, I[b + w]!, I[b + w + 1]!, I[b + w + 2]!, I[b + w + 3]!);
  }
  get origAddr(): string {
    return this.addr(this.origIsA);
  }
  addressWords(orig: boolean, out: Int32Array, at: number): void {
    const I = this.s.I;
    const w = this.b + (orig === this.origIsA ? F_A0 : F_B0);
    for (let i = 0; i < 4; i++) out[at + i] = I[w + i]!;
  }
  get respAddr(): string {
    return this.addr(!this.origIsA);
  }
}

/** The endpoint facts the capture-wide context reads (causes.ts ContextConnection). */
class ContextFacts {
  syns = 0;
  packets = 0;
  rsts = 0;
  payloadBytes = 0;

  load(I: Int32Array, D: Float64Array, ep: number, dep: number): void {
    this.syns = I[ep + E_SYNS]!;
    this.packets = D[dep + DE_PACKETS]!;
    this.rsts = I[ep + E_RST_CNT]!;
    this.payloadBytes = D[dep + DE_PAYLOAD]!;
  }
}

/**
 * A held connection as the capture-wide context reads it (ContextBuilder.add): the few counters at once,
 * the rest — addresses, history, conn_state, the RSTs — only when asked, which for most connections they are
 * not (a refused connection needs its addresses, an aborted one only its counters). One reused object: valid
 * until the next at(). The full view (ConnectionRecord) cost twice as much, and every held connection was
 * loaded twice: here, then for its classification (docs/benchmarks.md, part 7, round 4).
 */
export class ContextView {
  private s!: FlowStore;
  private slot = 0;
  readonly orig = new ContextFacts();
  readonly resp = new ContextFacts();
  origPort = 0;
  respPort = 0;
  startTime = 0;
  private origIsA = true;
  private state: ConnState | undefined;
  private hist: string | undefined;
  private rsts: ResetInfo[] | undefined;
  private readonly resetList: ResetInfo[] = [];
  private readonly resetRecords: ResetRecord[] = [];

  constructor(
    private readonly pool: ResetPool,
    private readonly names: AddressNames,
  ) {}

  /** Points the view at `slot` of `s`. */
  at(s: FlowStore, slot: number): this {
    this.s = s;
    this.slot = slot;
    const I = s.I;
    const D = s.D;
    const b = slot * I_STRIDE;
    const db = slot * D_STRIDE;
    const origPhys = I[b + F_ORIG_EP]!;
    this.orig.load(I, D, s.ep(slot, origPhys), db + DE_BASE + origPhys * DE_STRIDE);
    this.resp.load(I, D, s.ep(slot, origPhys ^ 1), db + DE_BASE + (origPhys ^ 1) * DE_STRIDE);
    const origIsA = I[b + F_ORIG_IS_A] !== 0;
    this.origIsA = origIsA;
    this.origPort = I[b + (origIsA ? F_PA : F_PB)]!;
    this.respPort = I[b + (origIsA ? F_PB : F_PA)]!;
    this.startTime = D[db + D_START]!;
    this.state = undefined;
    this.hist = undefined;
    this.rsts = undefined;
    return this;
  }

  private addr(a: boolean): string {
    const I = this.s.I;
    const b = this.slot * I_STRIDE;
    const w = a ? F_A0 : F_B0;
    return this.names.name(I[b + F_V]!, I[b + w]!, I[b + w + 1]!, I[b + w + 2]!, I[b + w + 3]!);
  }
  get origAddr(): string {
    return this.addr(this.origIsA);
  }
  get respAddr(): string {
    return this.addr(!this.origIsA);
  }
  get connState(): ConnState {
    this.state ??= flowConnState(this.s, this.slot);
    return this.state;
  }
  get history(): string {
    this.hist ??= this.s.history(this.slot);
    return this.hist;
  }
  get resets(): readonly ResetInfo[] {
    if (this.rsts === undefined) {
      const I = this.s.I;
      const b = this.slot * I_STRIDE;
      this.rsts = readResets(
        this.pool,
        I[b + F_RESET_HEAD]!,
        I[b + F_ORIG_EP]!,
        this.resetList,
        false,
        this.resetRecords,
      );
    }
    return this.rsts;
  }
}

/** Fills `r` from pool entry `e`; `origPhys` is the physical endpoint that is the originator now. */
export function loadReset(r: ResetRecord, pool: ResetPool, e: number, origPhys: number): ResetRecord {
  const R = pool.I;
  const RD = pool.D;
  const i = e * R_STRIDE;
  const d = e * RD_STRIDE;
  const hasTs = R[i + R_HAS_TS] !== 0;
  const prevHasTs = R[i + R_PREV_HAS_TS] !== 0;
  const flags = R[i + R_FLAGS]!;
  r.frame = RD[d + RD_FRAME]!;
  r.time = RD[d + RD_TIME]!;
  r.side = R[i + R_SENDER] === origPhys ? 'orig' : 'resp';
  r.seq = R[i + R_SEQ]! >>> 0;
  r.ack = R[i + R_ACK]! >>> 0;
  r.flags = (flags & TCP.ACK) !== 0 ? 'RST+ACK' : 'RST';
  r.flagBits = flags;
  r.payloadLen = R[i + R_PAYLOAD]!;
  r.judgment = JUDGMENTS[R[i + R_JUDGMENT]!]!;
  r.expectedSeq = R[i + R_HAS_EXPECTED] !== 0 ? R[i + R_EXPECTED]! >>> 0 : -1;
  r.seqOffset = R[i + R_OFFSET]!;
  r.receiverWindow = R[i + R_WINDOW]!;
  r.challengeAck = R[i + R_CHALLENGE] !== 0;
  r.challengeAckFrame = RD[d + RD_CHALLENGE_FRAME]!;
  r.senderStateBefore = EP_NAMES[R[i + R_SND_STATE]!]!;
  r.receiverStateBefore = EP_NAMES[R[i + R_RCV_STATE]!]!;
  r.afterBothFins = R[i + R_AFTER_FINS] !== 0;
  r.idleSec = RD[d + RD_IDLE]!;
  r.ttl = R[i + R_TTL]!;
  r.ipId = R[i + R_IPID]!;
  r.hasTimestamps = hasTs;
  r.tsVal = hasTs ? R[i + R_TSVAL]! >>> 0 : -1;
  r.prevTtl = R[i + R_PREV_TTL]!;
  r.prevIpId = R[i + R_PREV_IPID]!;
  r.prevHasTimestamps = prevHasTs;
  r.prevTsVal = prevHasTs ? R[i + R_PREV_TSVAL]! >>> 0 : -1;
  r.prevTtlMin = R[i + R_PREV_TTL_MIN]!;
  r.prevTtlMax = R[i + R_PREV_TTL_MAX]!;
  r.prevPackets = RD[d + RD_PREV_PACKETS]!;
  r.keepaliveProbes = R[i + R_KEEPALIVE]!;
  return r;
}

/**
 * The ResetInfo records of the pool entries linked from `head`, into `out` (new records unless `reuse`
 * gives ones to refill); with `release`, the entries go back to the pool.
 */
export function readResets(
  pool: ResetPool,
  head: number,
  origPhys: number,
  out: ResetInfo[],
  release: boolean,
  reuse?: ResetRecord[],
): ResetInfo[] {
  let n = 0;
  for (let e = head; e >= 0; n++) {
    let r: ResetRecord;
    if (reuse === undefined) r = new ResetRecord();
    else {
      r = reuse[n] ?? new ResetRecord();
      reuse[n] = r;
    }
    out[n] = loadReset(r, pool, e, origPhys);
    const next = pool.I[e * R_STRIDE + R_NEXT]!;
    if (release) pool.release(e);
    e = next;
  }
  out.length = n;
  return out;
}

/** One RST as recorded when it is seen (fields as ResetInfo, in its order). */
export class ResetRecord implements ResetInfo {
  frame = 0;
  time = 0;
  side: Side = 'orig';
  seq = 0;
  ack = 0;
  flags: 'RST' | 'RST+ACK' = 'RST';
  flagBits = 0;
  payloadLen = 0;
  judgment: RstJudgment = 'unknown';
  expectedSeq = -1;
  seqOffset = 0;
  receiverWindow = -1;
  challengeAck = false;
  challengeAckFrame = -1;
  senderStateBefore: EndpointStateName = 'INACTIVE';
  receiverStateBefore: EndpointStateName = 'INACTIVE';
  afterBothFins = false;
  idleSec = -1;
  ttl = 0;
  ipId = -1;
  hasTimestamps = false;
  tsVal = -1;
  prevTtl = -1;
  prevIpId = -1;
  prevHasTimestamps = false;
  prevTsVal = -1;
  prevTtlMin = -1;
  prevTtlMax = -1;
  prevPackets = 0;
  keepaliveProbes = 0;
}
