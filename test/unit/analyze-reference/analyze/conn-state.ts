/**
 * Zeek's per-connection TCP tracking, reimplemented: endpoint states and transitions
 * (zeek/zeek src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc, `Update*State`), the history string
 * (`update_history`, Conn.h `CheckHistory` / `ScaledHistoryEntry`), sizes (TCP_Endpoint.cc `Size`) and the
 * conn_state decision (scripts/base/protocols/conn/main.zeek, `conn_state()`).
 *
 * Written from the behaviour described there; no code copied. Differences from Zeek: docs/conn-state.md.
 */

import { TCP } from '../packet/types.js';
import { seqDelta } from './seq.js';
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
const HIST_DATA = 0x10;
const HIST_ACK = 0x20;
const HIST_MULTI = 0x40;

/** Zeek ignores SYN/RST sequence jumps larger than this when advancing last_seq (TOO_LARGE_SEQ_DELTA). */
const TOO_LARGE_SEQ_DELTA = 1048576;

/**
 * One side of a connection: Zeek's endpoint state plus the per-side facts the reset classifier needs.
 * Plain numeric fields, all initialised here, so V8 keeps one hidden class and no per-packet allocation.
 */
export class TcpEndpoint {
  state: EpState = EP.INACTIVE;
  prevState: EpState = EP.INACTIVE;
  /** Zeek's start_seq / last_seq / ack_seq (unsigned 32-bit). */
  startSeq = 0;
  lastSeq = 0;
  ackSeq = 0;
  histLastSyn = 0;
  histLastFin = 0;
  histLastRst = 0;
  finCnt = 0;
  rstCnt = 0;
  didClose = false;
  /** Logarithmic history counters: next letter when cnt reaches thresh (1, 10, 100, …). */
  rxmtCnt = 0;
  rxmtThresh = 1;
  win0Cnt = 0;
  win0Thresh = 1;
  gapCnt = 0;
  gapThresh = 1;

  // ---- facts (kept here so that a role flip moves them with the host) ----
  packets = 0;
  /** Packets that were not RSTs. */
  nonRstPackets = 0;
  payloadBytes = 0;
  firstTime = -1;
  lastTime = -1;
  syns = 0;
  /** ISN of this side's first SYN / SYN-ACK (−1 none). */
  isn = -1;
  /** Highest sequence number this side is known to have reached (SND.NXT): own segments, or the peer's ACKs. */
  nextSeq = -1;
  /** Last advertised window field (unscaled) and whether it came on a SYN (never scaled). −1 = none. */
  rawWindow = -1;
  windowOnSyn = false;
  mss = -1;
  wscale = -1;
  sackPermitted = false;
  timestamps = false;
  ackedUnseen = 0;
  /**
   * Keepalive probes sent since this side's last other segment and since the peer's last packet (the
   * kernel's icsk_probes_out, which tcp_ack() clears on any answer). Read when this side sends a RST.
   */
  keepaliveProbes = 0;
  /** SYNs without ACK / SYN-ACKs repeated with the same ISN. */
  synRetx = 0;
  synAckRetx = 0;
  sentSyn = false;
  sentSynAck = false;
  /** TTL range of this side's non-RST packets (−1 none). */
  ttlMin = -1;
  ttlMax = -1;
  /** Fingerprint of the last non-RST packet. */
  lastTtl = -1;
  lastIpId = -1;
  lastTsVal = -1;
  lastHasTs = false;
}

/** Zeek's endpoint Size(): payload bytes from sequence numbers (32-bit: connections under 4 GiB). */
export function endpointSize(ep: TcpEndpoint, peer: TcpEndpoint): number {
  if (ep.prevState === EP.SYN_SENT && ep.state === EP.RESET && peer.state === EP.INACTIVE) {
    const acked = (ep.ackSeq - ep.startSeq) >>> 0;
    // A half-open connection discovered and aborted: its sequence numbers say nothing about data.
    if (acked !== 0 && acked !== 1) return 0;
  }
  const last = (ep.lastSeq - ep.startSeq) >>> 0;
  const acked = (ep.ackSeq - ep.startSeq) >>> 0;
  let size = Math.max(last, acked);
  if (size !== 0) size--; // the SYN octet
  if (ep.finCnt > 0 && size !== 0) size--; // the FIN octet
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

function setState(ep: TcpEndpoint, s: EpState): void {
  if (s !== ep.state) {
    ep.prevState = ep.state;
    ep.state = s;
  }
}

/**
 * Both endpoints of one connection, the history string and Zeek's per-packet processing order:
 * init endpoint → history → zero window → (SYN options) → ACK bookkeeping → last_seq (retransmission) →
 * state machine → ACKed-unseen gap.
 */
export class TcpSession {
  orig = new TcpEndpoint();
  resp = new TcpEndpoint();
  history = '';
  histSeen = 0;
  /** Number of role flips (each appends '^'). */
  flips = 0;

  /** Appends `code` (upper case) for the role, once per role (Zeek CheckHistory). Returns true if seen before. */
  private seen(isOrig: boolean, mask: number, code: string): boolean {
    const m = isOrig ? mask : mask << 16;
    if ((this.histSeen & m) === 0) {
      this.histSeen |= m;
      this.history += isOrig ? code : code.toLowerCase();
      return false;
    }
    return true;
  }

  private add(isOrig: boolean, code: string): void {
    this.history += isOrig ? code : code.toLowerCase();
  }

  /** Swaps the roles (Zeek FlipRoles): the endpoints change places and '^' is appended. */
  flipRoles(): void {
    const t = this.orig;
    this.orig = this.resp;
    this.resp = t;
    this.flips++;
    this.history += '^';
  }

  /** Processes one segment from the originator (isOrig) or the responder. */
  process(isOrig: boolean, seq: number, ack: number, flags: number, len: number, window: number): void {
    const ep = isOrig ? this.orig : this.resp;
    const peer = isOrig ? this.resp : this.orig;
    const syn = (flags & TCP.SYN) !== 0;
    const fin = (flags & TCP.FIN) !== 0;
    const rst = (flags & TCP.RST) !== 0;
    const hasAck = (flags & TCP.ACK) !== 0;
    // SYN and FIN take one sequence number each; a RST's payload is not part of the stream.
    const segLen = (rst ? 0 : len) + (syn ? 1 : 0) + (fin ? 1 : 0);
    const seqEnd = (seq + segLen) >>> 0;

    this.initEndpoint(ep, syn, seq, seqEnd);
    this.updateHistory(isOrig, ep, syn, fin, rst, hasAck, seq, len);
    this.countKeepalive(ep, peer, syn, fin, rst, hasAck, seq, len);

    // Zeek update_window(): a zero window is interesting unless on/after a RST or after the peer's FIN.
    if (window === 0 && !rst && peer.state !== EP.CLOSED && ep.state !== EP.RESET)
      this.zeroWindow(isOrig, ep);
    if (fin) ep.finCnt++;
    if (rst) ep.rstCnt++;

    if (hasAck) {
      if (peer.state === EP.INACTIVE) {
        // init_peer(): number the silent peer as if its SYN had been seen.
        const base = (ack - 1) >>> 0;
        peer.startSeq = base;
        peer.ackSeq = base;
        peer.lastSeq = base;
      } else if (!rst && seqDelta(ack, peer.startSeq) >= 0) {
        // update_ack_seq(); acks in RSTs are not trusted.
        const d = seqDelta(ack, peer.ackSeq);
        if (!(ack === 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) peer.ackSeq = ack;
      }
    }

    this.updateLastSeq(isOrig, ep, seqEnd, syn, fin, rst, len);
    this.updateStateMachine(isOrig, ep, peer, syn, fin, rst, hasAck, seq, len);
  }

  /**
   * A keepalive probe (RFC 1122 §4.2.3.6; Linux tcp_keepalive_timer → tcp_write_wakeup →
   * tcp_xmit_probe_skb(sk, 0)) is an ACK at SND.UNA − 1 with no data (some stacks send one old byte), sent
   * only when everything was acknowledged, so its seq is one below the highest seen (Zeek's last_seq).
   * Zero-window probes (tcp_probe_timer) look the same but never end in a RST: not counted when the peer's
   * last window was 0. Any packet from the peer answers the probes (tcp_ack clears icsk_probes_out).
   * Runs before updateLastSeq: the comparison is with last_seq before this segment.
   */
  private countKeepalive(
    ep: TcpEndpoint,
    peer: TcpEndpoint,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    hasAck: boolean,
    seq: number,
    len: number,
  ): void {
    peer.keepaliveProbes = 0;
    if (rst) return; // the RST's own record reads the count (flows.ts recordReset runs first)
    const probe =
      hasAck &&
      !syn &&
      !fin &&
      len <= 1 &&
      (ep.state === EP.ESTABLISHED || ep.state === EP.PARTIAL) &&
      seq === (ep.lastSeq - 1) >>> 0 &&
      peer.rawWindow !== 0;
    ep.keepaliveProbes = probe ? ep.keepaliveProbes + 1 : 0;
  }

  private initEndpoint(ep: TcpEndpoint, syn: boolean, seq: number, seqEnd: number): void {
    switch (ep.state) {
      case EP.INACTIVE:
        if (syn) {
          ep.startSeq = seq;
          ep.ackSeq = seq;
          ep.lastSeq = seqEnd;
        } else {
          // Partial connection: number as though a SYN had been seen; the first packet is not a duplicate.
          ep.startSeq = (seq - 1) >>> 0;
          ep.ackSeq = ep.startSeq;
          ep.lastSeq = seq;
        }
        break;
      case EP.SYN_SENT:
      case EP.SYN_ACK_SENT:
        if (syn && seq !== ep.startSeq) this.reinit(ep, seq, seqEnd);
        break;
      case EP.ESTABLISHED:
      case EP.PARTIAL:
        if (syn) this.reinit(ep, seq, seqEnd);
        break;
      case EP.RESET:
        // Sequence numbers set up by a (possibly injected) RST: trust a later SYN instead.
        if (syn && ep.prevState === EP.INACTIVE) this.reinit(ep, seq, seqEnd);
        break;
      default:
        break;
    }
  }

  private reinit(ep: TcpEndpoint, seq: number, seqEnd: number): void {
    ep.startSeq = seq;
    ep.ackSeq = seq;
    ep.lastSeq = seqEnd;
  }

  private updateHistory(
    isOrig: boolean,
    ep: TcpEndpoint,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    hasAck: boolean,
    seq: number,
    len: number,
  ): void {
    const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    const relSeq = (seq - ep.startSeq) >>> 0;
    if (bits > 1) {
      if (fin && rst) this.seen(isOrig, HIST_FIN_RST, 'I');
      else this.seen(isOrig, HIST_MULTI, 'Q');
    } else if (bits === 1) {
      if (syn) {
        const code = hasAck ? 'H' : 'S';
        if (this.seen(isOrig, HIST_SYN, code) && relSeq !== ep.histLastSyn) this.add(isOrig, code);
        ep.histLastSyn = relSeq;
      } else if (fin) {
        // A FIN's sequence number is at the end of its data.
        const finSeq = (relSeq + len) >>> 0;
        if (this.seen(isOrig, HIST_FIN, 'F') && finSeq !== ep.histLastFin) this.add(isOrig, 'F');
        ep.histLastFin = finSeq;
      } else {
        if (this.seen(isOrig, HIST_RST, 'R') && relSeq !== ep.histLastRst) this.add(isOrig, 'R');
        ep.histLastRst = relSeq;
      }
    } else if (len > 0) {
      this.seen(isOrig, HIST_DATA, 'D');
    } else if (hasAck) {
      this.seen(isOrig, HIST_ACK, 'A');
    }
  }

  private updateLastSeq(
    isOrig: boolean,
    ep: TcpEndpoint,
    seqEnd: number,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    len: number,
  ): void {
    const d = seqDelta(seqEnd, ep.lastSeq);
    if ((syn || rst) && (d > TOO_LARGE_SEQ_DELTA || d < -TOO_LARGE_SEQ_DELTA)) {
      // Implausible jump on a SYN/RST: keep the old value.
    } else if (fin && ep.lastSeq === (ep.startSeq + 1) >>> 0) {
      ep.lastSeq = seqEnd; // only SYN and FIN seen: accept the FIN even if it looks backwards (> 2 GB)
    } else if (ep.state === EP.RESET) {
      // After a RST, sequence numbers are not trusted.
    } else if (d > 0) {
      ep.lastSeq = seqEnd;
    } else if (len > 0) {
      this.retransmission(isOrig, ep);
    }
  }

  /** Zeek's logarithmic letters (Connection::ScaledHistoryEntry, base 10). */
  private scaled(isOrig: boolean, code: string, cnt: number, thresh: number): number {
    if (cnt === thresh) {
      this.add(isOrig, code);
      const next = thresh * 10;
      return next > 0xffffffff ? thresh : next;
    }
    return thresh;
  }

  retransmission(isOrig: boolean, ep: TcpEndpoint): void {
    ep.rxmtThresh = this.scaled(isOrig, 'T', ++ep.rxmtCnt, ep.rxmtThresh);
  }

  zeroWindow(isOrig: boolean, ep: TcpEndpoint): void {
    ep.win0Thresh = this.scaled(isOrig, 'W', ++ep.win0Cnt, ep.win0Thresh);
  }

  /** A content gap in `ep`'s stream (letter in ep's role). */
  gap(isOrig: boolean, ep: TcpEndpoint): void {
    ep.gapThresh = this.scaled(isOrig, 'G', ++ep.gapCnt, ep.gapThresh);
  }

  private updateStateMachine(
    isOrig: boolean,
    ep: TcpEndpoint,
    peer: TcpEndpoint,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    hasAck: boolean,
    seq: number,
    len: number,
  ): void {
    switch (ep.state) {
      case EP.INACTIVE:
        this.inactive(isOrig, ep, peer, syn, fin, rst, hasAck, seq, len);
        break;
      case EP.SYN_SENT:
      case EP.SYN_ACK_SENT:
        if (fin) {
          setState(ep, EP.CLOSED);
          ep.didClose = true;
        }
        if (rst) {
          setState(ep, EP.RESET);
          ep.didClose = true;
        }
        break;
      case EP.ESTABLISHED:
      case EP.PARTIAL:
        if (syn && ep.state === EP.PARTIAL && peer.state === EP.INACTIVE && !hasAck)
          setState(ep, EP.SYN_SENT);
        if (fin && !rst) {
          setState(ep, EP.CLOSED);
          // The peer sent FIN then RST: that was a normal close after all.
          if (peer.state === EP.RESET && peer.prevState === EP.CLOSED) setState(peer, EP.CLOSED);
          ep.didClose = true;
        }
        if (rst) {
          setState(ep, EP.RESET);
          ep.didClose = true;
        }
        break;
      case EP.CLOSED:
        // After a FIN exchange a RST does not count (the connection stays SF).
        if (rst && peer.state !== EP.CLOSED) {
          setState(ep, EP.RESET);
          ep.didClose = true;
        }
        break;
      default:
        break; // RESET: nothing changes any more
    }
  }

  private inactive(
    isOrig: boolean,
    ep: TcpEndpoint,
    peer: TcpEndpoint,
    syn: boolean,
    fin: boolean,
    rst: boolean,
    hasAck: boolean,
    seq: number,
    len: number,
  ): void {
    if (syn) {
      if (isOrig) {
        setState(ep, hasAck ? EP.SYN_ACK_SENT : EP.SYN_SENT);
      } else {
        if (!hasAck && peer.state === EP.SYN_ACK_SENT && seq === ep.startSeq) {
          // SYN and SYN-ACK seen in reverse order: the roles were wrong.
          this.flipRoles();
          setState(peer, EP.ESTABLISHED);
        }
        if (peer.state === EP.SYN_SENT) setState(peer, EP.ESTABLISHED);
        setState(ep, EP.ESTABLISHED);
      }
    }
    if (fin) {
      setState(ep, EP.CLOSED);
      ep.didClose = true;
    }
    if (rst) {
      setState(ep, EP.RESET);
      ep.didClose = true;
    }
    if (ep.state === EP.INACTIVE) {
      if (!isOrig && len === 0 && this.orig.state === EP.SYN_SENT) {
        // Some stacks ACK a SYN before answering it: not a partial connection.
      } else if (hasAck && peer.state === EP.ESTABLISHED) {
        setState(ep, EP.ESTABLISHED); // SYN-ACK seen, SYN missed, now the ACK
      } else {
        setState(ep, EP.PARTIAL);
      }
    }
  }

  /** Zeek's TCPSessionAdapter::IsReuse: does this SYN start a new connection on the same 4-tuple? */
  isReuse(flags: number, seq: number): boolean {
    if ((flags & TCP.SYN) === 0) return false;
    let connOrig = this.orig;
    if ((flags & TCP.ACK) !== 0) {
      if (this.orig.state !== EP.INACTIVE) return false; // only half connections are reused by a SYN-ACK
      connOrig = this.resp;
    }
    if (!this.isClosed()) {
      if (seq === connOrig.startSeq) return false;
      if (
        (flags & TCP.ACK) === 0 &&
        connOrig.state === EP.SYN_ACK_SENT &&
        this.resp.state === EP.INACTIVE &&
        seq === this.resp.startSeq
      )
        return false;
    }
    return true;
  }

  /** Either side closed (FIN or RST) in Zeek's sense (did_close). */
  isClosed(): boolean {
    return this.orig.didClose || this.resp.didClose;
  }

  /** Done: both sides closed, or a RST ended it. */
  isFinished(): boolean {
    return (
      (this.orig.didClose && this.resp.didClose) ||
      this.orig.state === EP.RESET ||
      this.resp.state === EP.RESET
    );
  }

  connState(): ConnState {
    return connState(
      this.orig.state,
      this.resp.state,
      endpointSize(this.orig, this.resp),
      endpointSize(this.resp, this.orig),
      this.history,
    );
  }
}
