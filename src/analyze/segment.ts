/**
 * What one TCP segment does to its flow's record: Zeek's processing (conn-state.ts), the facts the reset
 * classifier needs (packet and byte counts, SND.NXT, windows, TTLs, options, keepalive probes), and one
 * reset-pool entry per RST with its acceptability judgment (seq.ts) and the challenge-ACK watch.
 *
 * `plainSegment` is the path of most packets (no SYN, FIN or RST): the same updates as `segment` for that
 * case, in one function with the control-flag branches taken out.
 */

import type { DecodedTcp } from '../packet/types.js';
import { TCP } from '../packet/types.js';
import {
  EP,
  gap,
  HIST_ACK,
  HIST_DATA,
  processSegment,
  retransmission,
  TOO_LARGE_SEQ_DELTA,
  zeroWindow,
} from './conn-state.js';
import {
  CH,
  D_LAST,
  D_LAST_FRAME,
  D_PENDING_DEADLINE,
  D_STRIDE,
  DE_BASE,
  DE_FIRST_TIME,
  DE_LAST_TIME,
  DE_NON_RST,
  DE_PACKETS,
  DE_PAYLOAD,
  DE_STRIDE,
  E_ACK_SEQ,
  E_ACKED_UNSEEN,
  E_BASE,
  E_FIN_CNT,
  E_HAS_NEXT,
  E_ISN,
  E_KEEPALIVE,
  E_LAST_HAS_TS,
  E_LAST_IPID,
  E_LAST_SEQ,
  E_LAST_TSVAL,
  E_LAST_TTL,
  E_MSS,
  E_NEXT_SEQ,
  E_RAW_WINDOW,
  E_SACK,
  E_SENT_SYN,
  E_SENT_SYNACK,
  E_START_SEQ,
  E_STATE,
  E_STRIDE,
  E_SYN_RETX,
  E_SYNACK_RETX,
  E_SYNS,
  E_TIMESTAMPS,
  E_TTL_MAX,
  E_TTL_MIN,
  E_WINDOW_ON_SYN,
  E_WSCALE,
  F_DROPPED0,
  F_FLIPS,
  F_HANDSHAKE,
  F_KEPT0,
  F_NRESETS,
  F_ORIG_EP,
  F_ORIG_IS_A,
  F_PENDING,
  F_PENDING_ACK,
  F_PENDING_RCV,
  F_RESET_HEAD,
  F_RESET_TAIL,
  type FlowStore,
  I_STRIDE,
} from './flow-record.js';
import {
  JUDGMENT_CODE,
  MAX_RESETS_PER_SIDE,
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
import { judgeRst, MAX_WSCALE, type RstContext } from './seq.js';

/** The flow table's parts that the per-segment functions use. */
export interface SegmentContext {
  store: FlowStore;
  pool: ResetPool;
  /** The current packet's time in seconds (index 0): kept in an array so that no call boxes a double. */
  now: Float64Array;
  /** How soon after a RST its receiver's challenge ACK must come. */
  challengeSec: number;
}

/** One RST's judgment inputs; judgeRst's context object, reused (RSTs only, but there may be millions). */
const rstContext: RstContext = { rcvNxt: -1, rawWindow: -1, windowShift: -1, synSentSndNxt: -1 };

/** Effective window shift of endpoint `rcv` (RFC 7323 §2.2: only when both SYNs carried the option); −1 unknown. */
function windowShift(I: Int32Array, rcv: number, snd: number): number {
  if (I[rcv + E_WINDOW_ON_SYN] !== 0) return 0;
  if (I[rcv + E_SENT_SYN] === 0 && I[rcv + E_SENT_SYNACK] === 0) return -1;
  const rs = I[rcv + E_WSCALE]!;
  if (rs < 0) return 0;
  if (I[snd + E_SENT_SYN] === 0 && I[snd + E_SENT_SYNACK] === 0) return -1;
  if (I[snd + E_WSCALE]! < 0) return 0;
  return Math.min(rs, MAX_WSCALE);
}

/** An endpoint's SND.NXT as the old unsigned form: the value, or −1 when unknown. */
function nextSeqOf(I: Int32Array, ep: number): number {
  return I[ep + E_HAS_NEXT] !== 0 ? I[ep + E_NEXT_SEQ]! >>> 0 : -1;
}

/**
 * A segment without SYN, FIN or RST — most of any capture: the same as segment() (and processSegment) for
 * that case, in one function with the control-flag branches taken out. The state machine does nothing
 * for such a segment unless the sender is INACTIVE, which goes the general way.
 */
export function plainSegment(
  cx: SegmentContext,
  slot: number,
  pkt: DecodedTcp,
  isOrig: boolean,
  frame: number,
): void {
  const s = cx.store;
  const I = s.I;
  const b = slot * I_STRIDE;
  const origPhys = I[b + F_ORIG_EP]!;
  const epPhys = isOrig ? origPhys : origPhys ^ 1;
  const ep = b + E_BASE + epPhys * E_STRIDE;
  const epState = I[ep + E_STATE]!;
  if (epState === EP.INACTIVE) {
    segment(cx, slot, pkt, isOrig, frame);
    return;
  }
  const D = s.D;
  const t = cx.now[0]!;
  const db = slot * D_STRIDE;
  const peer = b + E_BASE + (epPhys ^ 1) * E_STRIDE;
  const dep = db + DE_BASE + epPhys * DE_STRIDE;
  const flags = pkt.flags;
  const seq = pkt.seq | 0;
  const ack = pkt.ack | 0;
  const len = pkt.payloadLen;
  const hasAck = (flags & TCP.ACK) !== 0;

  const pending = I[b + F_PENDING]!;
  if (pending >= 0) {
    if (t > D[db + D_PENDING_DEADLINE]!) I[b + F_PENDING] = -1;
    else if (epPhys === I[b + F_PENDING_RCV] && hasAck && len === 0 && ack === I[b + F_PENDING_ACK]) {
      cx.pool.I[pending * R_STRIDE + R_CHALLENGE] = 1;
      cx.pool.D[pending * RD_STRIDE + RD_CHALLENGE_FRAME] = frame;
      I[b + F_PENDING] = -1;
    }
  }

  // Zeek's processing (conn-state.ts processSegment) without SYN/FIN/RST: history, keepalive count, zero
  // window, ACK bookkeeping, last_seq.
  if (len > 0) s.seen(slot, isOrig, HIST_DATA, CH.D);
  else if (hasAck) s.seen(slot, isOrig, HIST_ACK, CH.A);
  const peerState = I[peer + E_STATE]!;
  const last = I[ep + E_LAST_SEQ]!;
  I[peer + E_KEEPALIVE] = 0;
  const probe =
    hasAck &&
    len <= 1 &&
    (epState === EP.ESTABLISHED || epState === EP.PARTIAL) &&
    seq === ((last - 1) | 0) &&
    I[peer + E_RAW_WINDOW] !== 0;
  I[ep + E_KEEPALIVE] = probe ? I[ep + E_KEEPALIVE]! + 1 : 0;
  if (pkt.window === 0 && peerState !== EP.CLOSED && epState !== EP.RESET) zeroWindow(s, slot, isOrig, ep);
  if (hasAck) {
    if (peerState === EP.INACTIVE) {
      const base = (ack - 1) | 0;
      I[peer + E_START_SEQ] = base;
      I[peer + E_ACK_SEQ] = base;
      I[peer + E_LAST_SEQ] = base;
    } else if (((ack - I[peer + E_START_SEQ]!) | 0) >= 0) {
      const d = (ack - I[peer + E_ACK_SEQ]!) | 0;
      if (!(ack === 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) I[peer + E_ACK_SEQ] = ack;
    }
  }
  const end = (seq + len) | 0;
  if (epState !== EP.RESET) {
    if (((end - last) | 0) > 0) I[ep + E_LAST_SEQ] = end;
    else if (len > 0) retransmission(s, slot, isOrig, ep);
  }

  // Facts (as segment()).
  D[dep + DE_PACKETS] = D[dep + DE_PACKETS]! + 1;
  D[dep + DE_PAYLOAD] = D[dep + DE_PAYLOAD]! + len;
  if (D[dep + DE_FIRST_TIME]! < 0) D[dep + DE_FIRST_TIME] = t;
  D[dep + DE_LAST_TIME] = t;
  const hasTs = pkt.hasTimestamps;
  if (hasTs) I[ep + E_TIMESTAMPS] = 1;
  D[dep + DE_NON_RST] = D[dep + DE_NON_RST]! + 1;
  if (I[ep + E_HAS_NEXT] === 0 || ((end - I[ep + E_NEXT_SEQ]!) | 0) > 0) {
    I[ep + E_NEXT_SEQ] = end;
    I[ep + E_HAS_NEXT] = 1;
  }
  I[ep + E_RAW_WINDOW] = pkt.window;
  I[ep + E_WINDOW_ON_SYN] = 0;
  const ttl = pkt.ttl;
  I[ep + E_LAST_TTL] = ttl;
  I[ep + E_LAST_IPID] = pkt.ipId;
  I[ep + E_LAST_HAS_TS] = hasTs ? 1 : 0;
  I[ep + E_LAST_TSVAL] = hasTs ? pkt.tsVal | 0 : -1;
  const ttlMin = I[ep + E_TTL_MIN]!;
  if (ttlMin < 0 || ttl < ttlMin) I[ep + E_TTL_MIN] = ttl;
  if (ttl > I[ep + E_TTL_MAX]!) I[ep + E_TTL_MAX] = ttl;
  if (hasAck) {
    const peerNext = I[peer + E_NEXT_SEQ]!;
    const d = (ack - peerNext) | 0;
    if (!(ack === 0 && d > TOO_LARGE_SEQ_DELTA)) {
      if (I[peer + E_HAS_NEXT] === 0) {
        I[peer + E_NEXT_SEQ] = ack;
        I[peer + E_HAS_NEXT] = 1;
      } else if (d > 0) {
        if (D[db + DE_BASE + (epPhys ^ 1) * DE_STRIDE + DE_NON_RST]! > 0) {
          I[peer + E_ACKED_UNSEEN] = I[peer + E_ACKED_UNSEEN]! + 1;
          gap(s, slot, (epPhys ^ 1) === origPhys, peer);
        }
        I[peer + E_NEXT_SEQ] = ack;
      }
    }
    if (epPhys === origPhys && I[ep + E_SENT_SYN] !== 0 && I[peer + E_SENT_SYNACK] !== 0)
      I[b + F_HANDSHAKE] = 1;
  }
  D[db + D_LAST] = t;
  D[db + D_LAST_FRAME] = frame;
}

/** Per-connection processing of one segment (the hot path). */
export function segment(
  cx: SegmentContext,
  slot: number,
  pkt: DecodedTcp,
  isOrig: boolean,
  frame: number,
): void {
  const s = cx.store;
  const I = s.I;
  const D = s.D;
  const t = cx.now[0]!;
  const b = slot * I_STRIDE;
  const db = slot * D_STRIDE;
  const epPhys = isOrig ? I[b + F_ORIG_EP]! : I[b + F_ORIG_EP]! ^ 1;
  const ep = b + E_BASE + epPhys * E_STRIDE;
  const peer = b + E_BASE + (epPhys ^ 1) * E_STRIDE;
  const dep = db + DE_BASE + epPhys * DE_STRIDE;
  const flags = pkt.flags;
  const seq = pkt.seq | 0;
  const ack = pkt.ack | 0;
  const len = pkt.payloadLen;
  const syn = (flags & TCP.SYN) !== 0;
  const fin = (flags & TCP.FIN) !== 0;
  const rst = (flags & TCP.RST) !== 0;
  const hasAck = (flags & TCP.ACK) !== 0;

  const pending = I[b + F_PENDING]!;
  if (pending >= 0) {
    if (t > D[db + D_PENDING_DEADLINE]!) I[b + F_PENDING] = -1;
    else if (
      epPhys === I[b + F_PENDING_RCV] &&
      hasAck &&
      (flags & 7) === 0 &&
      len === 0 &&
      ack === I[b + F_PENDING_ACK]
    ) {
      cx.pool.I[pending * R_STRIDE + R_CHALLENGE] = 1;
      cx.pool.D[pending * RD_STRIDE + RD_CHALLENGE_FRAME] = frame;
      I[b + F_PENDING] = -1;
    }
  }
  if (rst) recordReset(cx, slot, pkt, epPhys, frame);

  const flips = I[b + F_FLIPS];
  processSegment(s, slot, isOrig, seq, ack, flags, len, pkt.window);
  if (I[b + F_FLIPS] !== flips) I[b + F_ORIG_IS_A] = I[b + F_ORIG_IS_A]! ^ 1;

  // Facts.
  D[dep + DE_PACKETS] = D[dep + DE_PACKETS]! + 1;
  D[dep + DE_PAYLOAD] = D[dep + DE_PAYLOAD]! + len;
  if (D[dep + DE_FIRST_TIME]! < 0) D[dep + DE_FIRST_TIME] = t;
  D[dep + DE_LAST_TIME] = t;
  const hasTs = pkt.hasTimestamps;
  if (hasTs) I[ep + E_TIMESTAMPS] = 1;
  if (syn) {
    if (hasAck) {
      if (I[ep + E_SENT_SYNACK] !== 0 && seq === I[ep + E_ISN])
        I[ep + E_SYNACK_RETX] = I[ep + E_SYNACK_RETX]! + 1;
      I[ep + E_SENT_SYNACK] = 1;
    } else {
      if (I[ep + E_SENT_SYN] !== 0 && seq === I[ep + E_ISN]) I[ep + E_SYN_RETX] = I[ep + E_SYN_RETX]! + 1;
      I[ep + E_SENT_SYN] = 1;
    }
    if (I[ep + E_SYNS] === 0 || seq !== I[ep + E_ISN]) I[ep + E_ISN] = seq;
    I[ep + E_SYNS] = I[ep + E_SYNS]! + 1;
    if (pkt.mss >= 0) I[ep + E_MSS] = pkt.mss;
    if (pkt.wscale >= 0) I[ep + E_WSCALE] = pkt.wscale;
    if (pkt.sackPermitted) I[ep + E_SACK] = 1;
  }
  if (!rst) {
    D[dep + DE_NON_RST] = D[dep + DE_NON_RST]! + 1;
    const end = (seq + len + (syn ? 1 : 0) + (fin ? 1 : 0)) | 0;
    if (I[ep + E_HAS_NEXT] === 0 || ((end - I[ep + E_NEXT_SEQ]!) | 0) > 0) {
      I[ep + E_NEXT_SEQ] = end;
      I[ep + E_HAS_NEXT] = 1;
    }
    I[ep + E_RAW_WINDOW] = pkt.window;
    I[ep + E_WINDOW_ON_SYN] = syn ? 1 : 0;
    const ttl = pkt.ttl;
    I[ep + E_LAST_TTL] = ttl;
    I[ep + E_LAST_IPID] = pkt.ipId;
    I[ep + E_LAST_HAS_TS] = hasTs ? 1 : 0;
    I[ep + E_LAST_TSVAL] = hasTs ? pkt.tsVal | 0 : -1;
    const ttlMin = I[ep + E_TTL_MIN]!;
    if (ttlMin < 0 || ttl < ttlMin) I[ep + E_TTL_MIN] = ttl;
    if (ttl > I[ep + E_TTL_MAX]!) I[ep + E_TTL_MAX] = ttl;
    if (hasAck) {
      // While unknown, the peer's value is −1: the sanity check reads it as the unsigned code did.
      const peerNext = I[peer + E_NEXT_SEQ]!;
      const d = (ack - peerNext) | 0;
      if (!(ack === 0 && d > 1048576)) {
        if (I[peer + E_HAS_NEXT] === 0) {
          I[peer + E_NEXT_SEQ] = ack;
          I[peer + E_HAS_NEXT] = 1;
        } else if (d > 0) {
          // Wireshark's "ACKed unseen segment": the peer sent data the capture did not show (Zeek's gap).
          if (!syn && !fin && D[db + DE_BASE + (epPhys ^ 1) * DE_STRIDE + DE_NON_RST]! > 0) {
            I[peer + E_ACKED_UNSEEN] = I[peer + E_ACKED_UNSEEN]! + 1;
            gap(s, slot, (epPhys ^ 1) === I[b + F_ORIG_EP], peer);
          }
          I[peer + E_NEXT_SEQ] = ack;
        }
      }
      if (!syn && epPhys === I[b + F_ORIG_EP] && I[ep + E_SENT_SYN] !== 0 && I[peer + E_SENT_SYNACK] !== 0)
        I[b + F_HANDSHAKE] = 1;
    }
  }
  D[db + D_LAST] = t;
  D[db + D_LAST_FRAME] = frame;
}

function recordReset(
  cx: SegmentContext,
  slot: number,
  pkt: DecodedTcp,
  sndPhys: number,
  frame: number,
): void {
  const s = cx.store;
  const I = s.I;
  const D = s.D;
  const t = cx.now[0]!;
  const b = slot * I_STRIDE;
  const db = slot * D_STRIDE;
  // Past MAX_RESETS_PER_SIDE (or with the pool full, past the side's first) a RST is only counted.
  const kept = I[b + F_KEPT0 + sndPhys]!;
  if (kept >= MAX_RESETS_PER_SIDE || (kept > 0 && cx.pool.full())) {
    I[b + F_DROPPED0 + sndPhys] = I[b + F_DROPPED0 + sndPhys]! + 1;
    I[b + F_PENDING] = -1;
    return;
  }
  I[b + F_KEPT0 + sndPhys] = kept + 1;
  const snd = s.ep(slot, sndPhys);
  const rcv = s.ep(slot, sndPhys ^ 1);
  const sndNonRst = D[s.dep(slot, sndPhys) + DE_NON_RST]!;
  const flags = pkt.flags;
  const hasAck = (flags & TCP.ACK) !== 0;
  const rcvNext = nextSeqOf(I, rcv);
  const sndNext = nextSeqOf(I, snd);
  const synSent = I[rcv + E_STATE] === EP.SYN_SENT && sndNonRst === 0 && rcvNext >= 0;
  rstContext.rcvNxt = sndNext;
  rstContext.rawWindow = I[rcv + E_RAW_WINDOW]!;
  rstContext.windowShift = windowShift(I, rcv, snd);
  rstContext.synSentSndNxt = synSent ? rcvNext : -1;
  const verdict = judgeRst(pkt.seq, pkt.ack, hasAck, rstContext);
  const prev = sndNonRst > 0;
  const hasTs = pkt.hasTimestamps;
  const last = D[db + D_LAST]!;
  const pool = cx.pool;
  const e = pool.take();
  const R = pool.I;
  const RD = pool.D;
  const r = e * R_STRIDE;
  const rd = e * RD_STRIDE;
  R[r + R_SENDER] = sndPhys;
  R[r + R_SEQ] = pkt.seq;
  R[r + R_ACK] = pkt.ack;
  R[r + R_FLAGS] = flags;
  R[r + R_PAYLOAD] = pkt.payloadLen;
  R[r + R_JUDGMENT] = JUDGMENT_CODE[verdict.judgment];
  const expected = synSent ? rcvNext : sndNext;
  R[r + R_EXPECTED] = expected;
  R[r + R_HAS_EXPECTED] = expected >= 0 ? 1 : 0;
  R[r + R_OFFSET] = verdict.offset;
  R[r + R_WINDOW] = verdict.window;
  R[r + R_CHALLENGE] = 0;
  R[r + R_SND_STATE] = I[snd + E_STATE]!;
  R[r + R_RCV_STATE] = I[rcv + E_STATE]!;
  R[r + R_AFTER_FINS] = I[s.ep(slot, 0) + E_FIN_CNT]! > 0 && I[s.ep(slot, 1) + E_FIN_CNT]! > 0 ? 1 : 0;
  R[r + R_TTL] = pkt.ttl;
  R[r + R_IPID] = pkt.ipId;
  R[r + R_HAS_TS] = hasTs ? 1 : 0;
  R[r + R_TSVAL] = pkt.tsVal;
  R[r + R_PREV_TTL] = prev ? I[snd + E_LAST_TTL]! : -1;
  R[r + R_PREV_IPID] = prev ? I[snd + E_LAST_IPID]! : -1;
  R[r + R_PREV_HAS_TS] = prev && I[snd + E_LAST_HAS_TS] !== 0 ? 1 : 0;
  R[r + R_PREV_TSVAL] = I[snd + E_LAST_TSVAL]!;
  R[r + R_PREV_TTL_MIN] = I[snd + E_TTL_MIN]!;
  R[r + R_PREV_TTL_MAX] = I[snd + E_TTL_MAX]!;
  R[r + R_KEEPALIVE] = I[snd + E_KEEPALIVE]!;
  RD[rd + RD_FRAME] = frame;
  RD[rd + RD_TIME] = t;
  RD[rd + RD_CHALLENGE_FRAME] = -1;
  RD[rd + RD_IDLE] = last < 0 ? -1 : t - last;
  RD[rd + RD_PREV_PACKETS] = sndNonRst;
  const tail = I[b + F_RESET_TAIL]!;
  if (tail < 0) I[b + F_RESET_HEAD] = e;
  else R[tail * R_STRIDE + R_NEXT] = e;
  I[b + F_RESET_TAIL] = e;
  I[b + F_NRESETS] = I[b + F_NRESETS]! + 1;
  if (!synSent && sndNext >= 0) {
    I[b + F_PENDING] = e;
    I[b + F_PENDING_RCV] = sndPhys ^ 1;
    I[b + F_PENDING_ACK] = I[snd + E_NEXT_SEQ]!;
    D[db + D_PENDING_DEADLINE] = t + cx.challengeSec;
  } else {
    I[b + F_PENDING] = -1;
  }
}
