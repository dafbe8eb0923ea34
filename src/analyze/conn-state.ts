/**
 * Zeek's per-connection TCP tracking, reimplemented: endpoint states and transitions
 * (zeek/zeek src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc, `Update*State`), the history string
 * (`update_history`, Conn.h `CheckHistory` / `ScaledHistoryEntry`), sizes (TCP_Endpoint.cc `Size`) and the
 * conn_state decision (scripts/base/protocols/conn/main.zeek, `conn_state()`).
 *
 * Written from the behaviour described there; no code copied. Differences from Zeek: docs/conn-state.md.
 *
 * The state lives in the flow table's records (flow-record.ts): these functions take the store, the slot and
 * endpoint offsets, and keep sequence numbers as int32 (see flow-record.ts for why the answers are the same).
 */

import { TCP } from '../packet/types.js';
import {
  CH,
  E_ACK_SEQ,
  E_DID_CLOSE,
  E_FIN_CNT,
  E_GAP_CNT,
  E_GAP_THRESH,
  E_HIST_LAST_FIN,
  E_HIST_LAST_RST,
  E_HIST_LAST_SYN,
  E_KEEPALIVE,
  E_LAST_SEQ,
  E_PREV_STATE,
  E_RAW_WINDOW,
  E_RST_CNT,
  E_RXMT_CNT,
  E_RXMT_THRESH,
  E_START_SEQ,
  E_STATE,
  E_WIN0_CNT,
  E_WIN0_THRESH,
  F_FLIPS,
  F_ORIG_EP,
  type FlowStore,
  I_STRIDE,
} from './flow-record.js';
import type { ConnState, EndpointStateName } from './types.js';

/** Endpoint states, numbered as in Zeek's TCP_Endpoint.h. */
export const EP = {
  INACTIVE: 0,
  SYN_SENT: 1,
  SYN_ACK_SENT: 2,
  PARTIAL: 3,
  ESTABLISHED: 4,
  CLOSED: 5,
  RESET: 6,
} as const;
export type EpState = (typeof EP)[keyof typeof EP];

export const EP_NAMES: readonly EndpointStateName[] = [
  'INACTIVE',
  'SYN_SENT',
  'SYN_ACK_SENT',
  'PARTIAL',
  'ESTABLISHED',
  'CLOSED',
  'RESET',
];

/** History bits (per role; the responder's are shifted left by 16), as Zeek's HIST_* masks. */
const HIST_SYN = 0x1;
const HIST_FIN = 0x2;
const HIST_RST = 0x4;
const HIST_FIN_RST = 0x8;
export const HIST_DATA = 0x10;
export const HIST_ACK = 0x20;
const HIST_MULTI = 0x40;

/** Zeek ignores SYN/RST sequence jumps larger than this when advancing last_seq (TOO_LARGE_SEQ_DELTA). */
export const TOO_LARGE_SEQ_DELTA = 1048576;

/** Offset in I of the slot's current originator (0) or responder (1) endpoint. */
export function roleEp(s: FlowStore, slot: number, responder: boolean): number {
  const phys = s.I[slot * I_STRIDE + F_ORIG_EP]!;
  return s.ep(slot, responder ? phys ^ 1 : phys);
}

/** Zeek's endpoint Size(): payload bytes from sequence numbers (32-bit: connections under 4 GiB). */
export function endpointSize(I: Int32Array, ep: number, peer: number): number {
  if (
    I[ep + E_PREV_STATE] === EP.SYN_SENT &&
    I[ep + E_STATE] === EP.RESET &&
    I[peer + E_STATE] === EP.INACTIVE
  ) {
    const acked = (I[ep + E_ACK_SEQ]! - I[ep + E_START_SEQ]!) >>> 0;
    // A half-open connection discovered and aborted: its sequence numbers say nothing about data.
    if (acked !== 0 && acked !== 1) return 0;
  }
  const last = (I[ep + E_LAST_SEQ]! - I[ep + E_START_SEQ]!) >>> 0;
  const acked = (I[ep + E_ACK_SEQ]! - I[ep + E_START_SEQ]!) >>> 0;
  let size = Math.max(last, acked);
  if (size !== 0) size--; // the SYN octet
  if (I[ep + E_FIN_CNT]! > 0 && size !== 0) size--; // the FIN octet
  return size;
}

const RSTOS0_RE = /^\^?S[^HAFGIQ]*R.*$/;

/**
 * Zeek's conn_state() for TCP, in its decision order (field guide §1.2).
 *
 * @example connState(EP.SYN_SENT, EP.RESET, 0, 0, 'Sr') // 'REJ'
 */
export function connState(
  os: EpState,
  rs: EpState,
  origSize: number,
  respSize: number,
  history: string,
): ConnState {
  const oInactive = os === EP.INACTIVE || os === EP.PARTIAL;
  const rInactive = rs === EP.INACTIVE || rs === EP.PARTIAL;
  if (rs === EP.RESET) {
    if (os === EP.SYN_SENT || os === EP.SYN_ACK_SENT || (os === EP.RESET && origSize === 0 && respSize === 0))
      return 'REJ';
    return oInactive ? 'RSTRH' : 'RSTR';
  }
  if (os === EP.RESET) {
    if (rInactive) return RSTOS0_RE.test(history) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (rs === EP.CLOSED && os === EP.CLOSED) return 'SF';
  if (os === EP.CLOSED) return rInactive ? 'SH' : 'S2';
  if (rs === EP.CLOSED) return oInactive ? 'SHR' : 'S3';
  if (os === EP.SYN_SENT && rs === EP.INACTIVE) return 'S0';
  if (os === EP.ESTABLISHED && rs === EP.ESTABLISHED) return 'S1';
  return 'OTH';
}

/** conn_state of the flow in `slot` (its history is read only for the RSTOS0 decision). */
export function flowConnState(s: FlowStore, slot: number): ConnState {
  const I = s.I;
  const o = roleEp(s, slot, false);
  const r = roleEp(s, slot, true);
  const os = I[o + E_STATE] as EpState;
  const rs = I[r + E_STATE] as EpState;
  const rInactive = rs === EP.INACTIVE || rs === EP.PARTIAL;
  if (os === EP.RESET && rs !== EP.RESET && rInactive)
    return RSTOS0_RE.test(s.history(slot)) ? 'RSTOS0' : 'OTH';
  return connState(os, rs, endpointSize(I, o, r), endpointSize(I, r, o), '');
}

function setState(I: Int32Array, ep: number, st: EpState): void {
  const cur = I[ep + E_STATE]!;
  if (st !== cur) {
    I[ep + E_PREV_STATE] = cur;
    I[ep + E_STATE] = st;
  }
}

/** Swaps the roles (Zeek FlipRoles): the other endpoint becomes the originator and '^' is appended. */
export function flipRoles(s: FlowStore, slot: number): void {
  const b = slot * I_STRIDE;
  s.I[b + F_ORIG_EP] = s.I[b + F_ORIG_EP]! ^ 1;
  s.I[b + F_FLIPS] = s.I[b + F_FLIPS]! + 1;
  s.addLetter(slot, CH.FLIP, true, true);
}

/** Zeek's logarithmic letters (Connection::ScaledHistoryEntry, base 10): returns the next threshold. */
function scaled(
  s: FlowStore,
  slot: number,
  isOrig: boolean,
  code: number,
  cnt: number,
  thresh: number,
): number {
  if (cnt === thresh) {
    s.addLetter(slot, code, isOrig);
    const next = thresh * 10;
    return next > 0xffffffff ? thresh : next;
  }
  return thresh;
}

export function retransmission(s: FlowStore, slot: number, isOrig: boolean, ep: number): void {
  const I = s.I;
  const cnt = I[ep + E_RXMT_CNT]! + 1;
  I[ep + E_RXMT_CNT] = cnt;
  I[ep + E_RXMT_THRESH] = scaled(s, slot, isOrig, CH.T, cnt, I[ep + E_RXMT_THRESH]!);
}

export function zeroWindow(s: FlowStore, slot: number, isOrig: boolean, ep: number): void {
  const I = s.I;
  const cnt = I[ep + E_WIN0_CNT]! + 1;
  I[ep + E_WIN0_CNT] = cnt;
  I[ep + E_WIN0_THRESH] = scaled(s, slot, isOrig, CH.W, cnt, I[ep + E_WIN0_THRESH]!);
}

/** A content gap in the stream of endpoint `ep` (letter in that endpoint's role). */
export function gap(s: FlowStore, slot: number, isOrig: boolean, ep: number): void {
  const I = s.I;
  const cnt = I[ep + E_GAP_CNT]! + 1;
  I[ep + E_GAP_CNT] = cnt;
  I[ep + E_GAP_THRESH] = scaled(s, slot, isOrig, CH.G, cnt, I[ep + E_GAP_THRESH]!);
}

/**
 * Processes one segment from the originator (isOrig) or the responder, in Zeek's order: init endpoint →
 * history → keepalive count → zero window → FIN/RST counts → ACK bookkeeping → last_seq (retransmission) →
 * state machine. `seq` and `ack` are int32 (`x | 0`).
 */
export function processSegment(
  s: FlowStore,
  slot: number,
  isOrig: boolean,
  seq: number,
  ack: number,
  flags: number,
  len: number,
  window: number,
): void {
  const I = s.I;
  const ep = roleEp(s, slot, !isOrig);
  const peer = roleEp(s, slot, isOrig);
  const syn = (flags & TCP.SYN) !== 0;
  const fin = (flags & TCP.FIN) !== 0;
  const rst = (flags & TCP.RST) !== 0;
  const hasAck = (flags & TCP.ACK) !== 0;
  // SYN and FIN take one sequence number each; a RST's payload is not part of the stream.
  const segLen = (rst ? 0 : len) + (syn ? 1 : 0) + (fin ? 1 : 0);
  const seqEnd = (seq + segLen) | 0;

  initEndpoint(I, ep, syn, seq, seqEnd);
  updateHistory(s, slot, isOrig, ep, syn, fin, rst, hasAck, seq, len);
  countKeepalive(I, ep, peer, syn, fin, rst, hasAck, seq, len);

  // Zeek update_window(): a zero window is interesting unless on/after a RST or after the peer's FIN.
  if (window === 0 && !rst && I[peer + E_STATE] !== EP.CLOSED && I[ep + E_STATE] !== EP.RESET)
    zeroWindow(s, slot, isOrig, ep);
  if (fin) I[ep + E_FIN_CNT] = I[ep + E_FIN_CNT]! + 1;
  if (rst) I[ep + E_RST_CNT] = I[ep + E_RST_CNT]! + 1;

  if (hasAck) {
    if (I[peer + E_STATE] === EP.INACTIVE) {
      // init_peer(): number the silent peer as if its SYN had been seen.
      const base = (ack - 1) | 0;
      I[peer + E_START_SEQ] = base;
      I[peer + E_ACK_SEQ] = base;
      I[peer + E_LAST_SEQ] = base;
    } else if (!rst && ((ack - I[peer + E_START_SEQ]!) | 0) >= 0) {
      // update_ack_seq(); acks in RSTs are not trusted.
      const d = (ack - I[peer + E_ACK_SEQ]!) | 0;
      if (!(ack === 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) I[peer + E_ACK_SEQ] = ack;
    }
  }

  updateLastSeq(s, slot, isOrig, ep, seqEnd, syn, fin, rst, len);
  if (syn || fin || rst || I[ep + E_STATE] === EP.INACTIVE)
    updateStateMachine(s, slot, isOrig, ep, peer, syn, fin, rst, hasAck, seq, len);
}

/**
 * A keepalive probe (RFC 1122 §4.2.3.6; Linux tcp_keepalive_timer → tcp_write_wakeup →
 * tcp_xmit_probe_skb(sk, 0)) is an ACK at SND.UNA − 1 with no data (some stacks send one old byte), sent
 * only when everything was acknowledged, so its seq is one below the highest seen (Zeek's last_seq).
 * Zero-window probes (tcp_probe_timer) look the same but never end in a RST: not counted when the peer's
 * last window was 0. Any packet from the peer answers the probes (tcp_ack clears icsk_probes_out).
 * Runs before updateLastSeq: the comparison is with last_seq before this segment.
 */
function countKeepalive(
  I: Int32Array,
  ep: number,
  peer: number,
  syn: boolean,
  fin: boolean,
  rst: boolean,
  hasAck: boolean,
  seq: number,
  len: number,
): void {
  I[peer + E_KEEPALIVE] = 0;
  if (rst) return; // the RST's own record reads the count (flows.ts recordReset runs first)
  const st = I[ep + E_STATE];
  const probe =
    hasAck &&
    !syn &&
    !fin &&
    len <= 1 &&
    (st === EP.ESTABLISHED || st === EP.PARTIAL) &&
    seq === ((I[ep + E_LAST_SEQ]! - 1) | 0) &&
    I[peer + E_RAW_WINDOW] !== 0;
  I[ep + E_KEEPALIVE] = probe ? I[ep + E_KEEPALIVE]! + 1 : 0;
}

function reinit(I: Int32Array, ep: number, seq: number, seqEnd: number): void {
  I[ep + E_START_SEQ] = seq;
  I[ep + E_ACK_SEQ] = seq;
  I[ep + E_LAST_SEQ] = seqEnd;
}

function initEndpoint(I: Int32Array, ep: number, syn: boolean, seq: number, seqEnd: number): void {
  switch (I[ep + E_STATE]) {
    case EP.INACTIVE:
      if (syn) reinit(I, ep, seq, seqEnd);
      else {
        // Partial connection: number as though a SYN had been seen; the first packet is not a duplicate.
        const start = (seq - 1) | 0;
        I[ep + E_START_SEQ] = start;
        I[ep + E_ACK_SEQ] = start;
        I[ep + E_LAST_SEQ] = seq;
      }
      break;
    case EP.SYN_SENT:
    case EP.SYN_ACK_SENT:
      if (syn && seq !== I[ep + E_START_SEQ]) reinit(I, ep, seq, seqEnd);
      break;
    case EP.ESTABLISHED:
    case EP.PARTIAL:
      if (syn) reinit(I, ep, seq, seqEnd);
      break;
    case EP.RESET:
      // Sequence numbers set up by a (possibly injected) RST: trust a later SYN instead.
      if (syn && I[ep + E_PREV_STATE] === EP.INACTIVE) reinit(I, ep, seq, seqEnd);
      break;
    default:
      break;
  }
}

function updateHistory(
  s: FlowStore,
  slot: number,
  isOrig: boolean,
  ep: number,
  syn: boolean,
  fin: boolean,
  rst: boolean,
  hasAck: boolean,
  seq: number,
  len: number,
): void {
  const I = s.I;
  const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
  if (bits === 0) {
    if (len > 0) s.seen(slot, isOrig, HIST_DATA, CH.D);
    else if (hasAck) s.seen(slot, isOrig, HIST_ACK, CH.A);
    return;
  }
  const relSeq = (seq - I[ep + E_START_SEQ]!) | 0;
  if (bits > 1) {
    if (fin && rst) s.seen(slot, isOrig, HIST_FIN_RST, CH.I);
    else s.seen(slot, isOrig, HIST_MULTI, CH.Q);
  } else if (syn) {
    const code = hasAck ? CH.H : CH.S;
    if (s.seen(slot, isOrig, HIST_SYN, code) && relSeq !== I[ep + E_HIST_LAST_SYN])
      s.addLetter(slot, code, isOrig);
    I[ep + E_HIST_LAST_SYN] = relSeq;
  } else if (fin) {
    // A FIN's sequence number is at the end of its data.
    const finSeq = (relSeq + len) | 0;
    if (s.seen(slot, isOrig, HIST_FIN, CH.F) && finSeq !== I[ep + E_HIST_LAST_FIN])
      s.addLetter(slot, CH.F, isOrig);
    I[ep + E_HIST_LAST_FIN] = finSeq;
  } else {
    if (s.seen(slot, isOrig, HIST_RST, CH.R) && relSeq !== I[ep + E_HIST_LAST_RST])
      s.addLetter(slot, CH.R, isOrig);
    I[ep + E_HIST_LAST_RST] = relSeq;
  }
}

function updateLastSeq(
  s: FlowStore,
  slot: number,
  isOrig: boolean,
  ep: number,
  seqEnd: number,
  syn: boolean,
  fin: boolean,
  rst: boolean,
  len: number,
): void {
  const I = s.I;
  const last = I[ep + E_LAST_SEQ]!;
  const d = (seqEnd - last) | 0;
  if ((syn || rst) && (d > TOO_LARGE_SEQ_DELTA || d < -TOO_LARGE_SEQ_DELTA)) {
    // Implausible jump on a SYN/RST: keep the old value.
  } else if (fin && last === ((I[ep + E_START_SEQ]! + 1) | 0)) {
    I[ep + E_LAST_SEQ] = seqEnd; // only SYN and FIN seen: accept the FIN even if it looks backwards (> 2 GB)
  } else if (I[ep + E_STATE] === EP.RESET) {
    // After a RST, sequence numbers are not trusted.
  } else if (d > 0) {
    I[ep + E_LAST_SEQ] = seqEnd;
  } else if (len > 0) {
    retransmission(s, slot, isOrig, ep);
  }
}

/** Only called for a SYN, FIN or RST, or from an INACTIVE sender: for anything else nothing changes. */
function updateStateMachine(
  s: FlowStore,
  slot: number,
  isOrig: boolean,
  ep: number,
  peer: number,
  syn: boolean,
  fin: boolean,
  rst: boolean,
  hasAck: boolean,
  seq: number,
  len: number,
): void {
  const I = s.I;
  switch (I[ep + E_STATE]) {
    case EP.INACTIVE:
      inactive(s, slot, isOrig, ep, peer, syn, fin, rst, hasAck, seq, len);
      break;
    case EP.SYN_SENT:
    case EP.SYN_ACK_SENT:
      if (fin) {
        setState(I, ep, EP.CLOSED);
        I[ep + E_DID_CLOSE] = 1;
      }
      if (rst) {
        setState(I, ep, EP.RESET);
        I[ep + E_DID_CLOSE] = 1;
      }
      break;
    case EP.ESTABLISHED:
    case EP.PARTIAL:
      if (syn && I[ep + E_STATE] === EP.PARTIAL && I[peer + E_STATE] === EP.INACTIVE && !hasAck)
        setState(I, ep, EP.SYN_SENT);
      if (fin && !rst) {
        setState(I, ep, EP.CLOSED);
        // The peer sent FIN then RST: that was a normal close after all.
        if (I[peer + E_STATE] === EP.RESET && I[peer + E_PREV_STATE] === EP.CLOSED)
          setState(I, peer, EP.CLOSED);
        I[ep + E_DID_CLOSE] = 1;
      }
      if (rst) {
        setState(I, ep, EP.RESET);
        I[ep + E_DID_CLOSE] = 1;
      }
      break;
    case EP.CLOSED:
      // After a FIN exchange a RST does not count (the connection stays SF).
      if (rst && I[peer + E_STATE] !== EP.CLOSED) {
        setState(I, ep, EP.RESET);
        I[ep + E_DID_CLOSE] = 1;
      }
      break;
    default:
      break; // RESET: nothing changes any more
  }
}

function inactive(
  s: FlowStore,
  slot: number,
  isOrig: boolean,
  ep: number,
  peer: number,
  syn: boolean,
  fin: boolean,
  rst: boolean,
  hasAck: boolean,
  seq: number,
  len: number,
): void {
  const I = s.I;
  if (syn) {
    if (isOrig) {
      setState(I, ep, hasAck ? EP.SYN_ACK_SENT : EP.SYN_SENT);
    } else {
      if (!hasAck && I[peer + E_STATE] === EP.SYN_ACK_SENT && seq === I[ep + E_START_SEQ]) {
        // SYN and SYN-ACK seen in reverse order: the roles were wrong.
        flipRoles(s, slot);
        setState(I, peer, EP.ESTABLISHED);
      }
      if (I[peer + E_STATE] === EP.SYN_SENT) setState(I, peer, EP.ESTABLISHED);
      setState(I, ep, EP.ESTABLISHED);
    }
  }
  if (fin) {
    setState(I, ep, EP.CLOSED);
    I[ep + E_DID_CLOSE] = 1;
  }
  if (rst) {
    setState(I, ep, EP.RESET);
    I[ep + E_DID_CLOSE] = 1;
  }
  if (I[ep + E_STATE] === EP.INACTIVE) {
    if (!isOrig && len === 0 && I[roleEp(s, slot, false) + E_STATE] === EP.SYN_SENT) {
      // Some stacks ACK a SYN before answering it: not a partial connection.
    } else if (hasAck && I[peer + E_STATE] === EP.ESTABLISHED) {
      setState(I, ep, EP.ESTABLISHED); // SYN-ACK seen, SYN missed, now the ACK
    } else {
      setState(I, ep, EP.PARTIAL);
    }
  }
}

/** Zeek's TCPSessionAdapter::IsReuse: does this SYN (seq int32) start a new connection on the same 4-tuple? */
export function isReuse(s: FlowStore, slot: number, flags: number, seq: number): boolean {
  if ((flags & TCP.SYN) === 0) return false;
  const I = s.I;
  const orig = roleEp(s, slot, false);
  const resp = roleEp(s, slot, true);
  let connOrig = orig;
  if ((flags & TCP.ACK) !== 0) {
    if (I[orig + E_STATE] !== EP.INACTIVE) return false; // only half connections are reused by a SYN-ACK
    connOrig = resp;
  }
  if (!isClosed(s, slot)) {
    if (seq === I[connOrig + E_START_SEQ]) return false;
    if (
      (flags & TCP.ACK) === 0 &&
      I[connOrig + E_STATE] === EP.SYN_ACK_SENT &&
      I[resp + E_STATE] === EP.INACTIVE &&
      seq === I[resp + E_START_SEQ]
    )
      return false;
  }
  return true;
}

/** Either side closed (FIN or RST) in Zeek's sense (did_close). */
export function isClosed(s: FlowStore, slot: number): boolean {
  return s.I[s.ep(slot, 0) + E_DID_CLOSE] !== 0 || s.I[s.ep(slot, 1) + E_DID_CLOSE] !== 0;
}

/** Done: both sides closed, or a RST ended it. */
export function isFinished(s: FlowStore, slot: number): boolean {
  const I = s.I;
  const a = s.ep(slot, 0);
  const b = s.ep(slot, 1);
  return (
    (I[a + E_DID_CLOSE] !== 0 && I[b + E_DID_CLOSE] !== 0) ||
    I[a + E_STATE] === EP.RESET ||
    I[b + E_STATE] === EP.RESET
  );
}
