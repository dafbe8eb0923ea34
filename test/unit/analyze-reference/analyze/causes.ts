/**
 * Reset causes: give every RST a cause, a confidence and the facts behind it.
 *
 * Pure functions over `Connection` records (src/analyze/types.ts). Two passes:
 *   1. `ContextBuilder` (or `buildContext`) gathers capture-wide aggregates over all connections — failed
 *      connection attempts per source (scan fan-out), RST-only "connections" per receiver (RST flood),
 *      unsolicited SYN-ACKs / RSTs per receiver (SYN-flood backscatter);
 *   2. `classifyResets` walks each connection's resets and applies the rules below, first match wins.
 *
 * Rules, thresholds and confidences are documented in docs/analyze.md; patterns from
 * shared/design/tcp-resets-field-guide.md §6.1. A reset no rule explains is `unexplained` with its facts:
 * never a guess presented as certain.
 */

import { isLikelyServerPort } from './flows.js';
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
export function isRstOnly(c: Connection): boolean {
  return c.orig.packets === c.orig.rsts && c.resp.packets === c.resp.rsts && c.resets.length > 0;
}

/** The responder sent a SYN-ACK the originator never asked for (no SYN from it in the capture). */
export function hasUnsolicitedSynAck(c: Connection): boolean {
  return c.orig.syns === 0 && c.resp.syns > 0 && c.history.replace('^', '').startsWith('h');
}

/** A connection attempt that failed in a way scanners produce: refused, unanswered, or SYN / SYN-ACK / RST. */
export function isFailedAttempt(c: Connection): boolean {
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
function isRstProbe(c: Connection, r: ResetInfo): boolean {
  return r.flags === 'RST' && !isLikelyServerPort(r.side === 'orig' ? c.origPort : c.respPort);
}

/** Incremental first pass: `add` every connection (with or without resets), then `build`. */
export class ContextBuilder {
  private readonly attempts = new Map<string, Attempt[]>();
  private readonly flood = new Map<
    string,
    { rsts: number; sources: Set<string>; first: number; last: number }
  >();
  private readonly scatter = new Map<
    string,
    { sender: string; receiver: string; packets: number; ports: Set<number> }
  >();
  /** Bounded memory: per source we keep at most this many attempts (enough to prove a scan). */
  private static readonly MAX_ATTEMPTS_PER_SOURCE = 10_000;

  private attempt(source: string, host: string, port: number, time: number, rst: boolean): void {
    let list = this.attempts.get(source);
    if (list === undefined) {
      list = [];
      this.attempts.set(source, list);
    }
    if (list.length < ContextBuilder.MAX_ATTEMPTS_PER_SOURCE)
      list.push({ target: `${host}|${port}`, host, port, time, rst });
  }

  add(c: Connection): void {
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

  private scatterAdd(sender: string, receiver: string, port: number): void {
    const k = `${sender}|${receiver}`;
    let s = this.scatter.get(k);
    if (s === undefined) {
      s = { sender, receiver, packets: 0, ports: new Set() };
      this.scatter.set(k, s);
    }
    s.packets++;
    if (s.ports.size < 65536) s.ports.add(port);
  }

  build(): ClassifyContext {
    const scanners = new Map<string, ScanSource>();
    for (const [addr, list] of this.attempts) {
      const targets = new Set(list.map((a) => a.target));
      if (targets.size < THRESHOLDS.scanMinTargets) continue;
      list.sort((a, b) => a.time - b.time);
      // Sliding window over time: distinct targets inside any scanWindowSec window.
      const inWin = new Map<string, number>();
      let peak = 0;
      let lo = 0;
      for (let hi = 0; hi < list.length; hi++) {
        const a = list[hi]!;
        inWin.set(a.target, (inWin.get(a.target) ?? 0) + 1);
        while (a.time - list[lo]!.time > THRESHOLDS.scanWindowSec) {
          const t = list[lo]!.target;
          const n = (inWin.get(t) ?? 1) - 1;
          if (n === 0) inWin.delete(t);
          else inWin.set(t, n);
          lo++;
        }
        peak = Math.max(peak, inWin.size);
      }
      if (peak < THRESHOLDS.scanMinTargets) continue;
      scanners.set(addr, {
        addr,
        targets: targets.size,
        rstProbes: list.filter((a) => a.rst).length,
        ports: new Set(list.map((a) => a.port)).size,
        hosts: new Set(list.map((a) => a.host)).size,
        peakTargetsInWindow: peak,
        firstTime: list[0]!.time,
        lastTime: list[list.length - 1]!.time,
      });
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

// ---------------------------------------------------------------- pass 2: rules

const ms = (sec: number) => `${(sec * 1000).toFixed(sec < 0.01 ? 2 : 0)} ms`;
const secs = (sec: number) => (sec < 1 ? ms(sec) : `${sec.toFixed(sec < 10 ? 1 : 0)} s`);

/** The facts every reset carries, whatever its cause. */
function baseFacts(c: Connection, r: ResetInfo, snd: string, rcv: string): string[] {
  const f = [
    `frame ${r.frame}: ${r.flags} from ${snd} to ${rcv}, seq ${r.seq}` +
      (r.receiverStateBefore === 'SYN_SENT' && c.resp.syns === 0 && r.side === 'resp'
        ? `, ack ${r.ack}: ${r.judgment === 'exact' ? 'acknowledges the SYN (exact)' : `does not acknowledge the SYN (${r.judgment})`}`
        : r.expectedSeq >= 0
          ? r.judgment === 'exact'
            ? ` = expected ${r.expectedSeq} (exact)`
            : ` vs expected ${r.expectedSeq} (offset ${r.seqOffset}, ${r.judgment}${r.receiverWindow >= 0 ? `, window ${r.receiverWindow}` : ''})`
          : ` (expected seq unknown: ${r.judgment})`),
    `connection ${c.connState}, history ${c.history}; sender ${r.senderStateBefore}, receiver ${r.receiverStateBefore} before the RST`,
  ];
  if (r.idleSec >= 0) f.push(`${secs(r.idleSec)} after the previous packet of the connection`);
  return f;
}

interface Verdict {
  cause: CauseId;
  confidence: Confidence;
  evidence: string[];
}

/** Injection signals on one reset: TTL unlike the sender's other packets, challenge ACK, stepped seqs. */
function injectionSignals(c: Connection, r: ResetInfo, sameSide: ResetInfo[]): string[] {
  const s: string[] = [];
  if (r.challengeAck)
    s.push(
      `the receiver answered with a challenge ACK (frame ${r.challengeAckFrame}, RFC 5961 §3.2): it did not accept this RST`,
    );
  if (r.prevPackets > 0 && r.prevTtlMin >= 0 && (r.ttl < r.prevTtlMin || r.ttl > r.prevTtlMax))
    s.push(
      `TTL ${r.ttl} unlike the sender's ${r.prevPackets} earlier packets (TTL ${r.prevTtlMin === r.prevTtlMax ? r.prevTtlMin : `${r.prevTtlMin}–${r.prevTtlMax}`})`,
    );
  const seqs = new Set(sameSide.map((x) => x.seq));
  if (sameSide.length >= 2 && seqs.size >= 2 && sameSide.some((x) => x.judgment !== 'exact'))
    s.push(
      `${sameSide.length} RSTs from the same side with ${seqs.size} different sequence numbers (stepped)`,
    );
  void c;
  return s;
}

function fingerprintNotes(r: ResetInfo): string[] {
  const n: string[] = [];
  if (r.prevIpId >= 0 && r.ipId >= 0) {
    const d = (r.ipId - r.prevIpId + 65536) % 65536;
    if (d > 1000 && r.ipId !== 0) n.push(`IP ID ${r.ipId} far from the sender's previous ${r.prevIpId}`);
  }
  if (r.prevHasTimestamps && !r.hasTimestamps)
    n.push('no TCP timestamp option while the sender used timestamps (normal for Linux-generated RSTs)');
  return n;
}

function decide(
  c: Connection,
  r: ResetInfo,
  ctx: ClassifyContext,
  snd: string,
  rcv: string,
  sndEp: string,
  rcvEp: string,
): Verdict {
  const sameSide = c.resets.filter((x) => x.side === r.side);
  const facts = baseFacts(c, r, sndEp, rcvEp);
  const v = (cause: CauseId, confidence: Confidence, ...why: string[]): Verdict => ({
    cause,
    confidence,
    evidence: [...why, ...facts],
  });

  const scanFact = (s: ScanSource) =>
    `${s.addr} made failed attempts to ${s.targets} targets (${s.ports} port(s) on ${s.hosts} host(s)), up to ${s.peakTargetsInWindow} within ${THRESHOLDS.scanWindowSec} s` +
    (s.rstProbes > 0 ? `; ${s.rstProbes} of them lone RSTs` : '');

  // RST flood: RST-only flows, many to one receiver. RST scan: lone RSTs from one source fanned out over many
  // targets, unless several sources flood the same receiver.
  if (isRstOnly(c)) {
    const fl = ctx.floods.get(rcv);
    const rs = ctx.scanners.get(snd);
    if (rs !== undefined && rs.rstProbes > 0 && isRstProbe(c, r) && (fl === undefined || fl.sources <= 1))
      return v(
        'scan',
        'likely',
        scanFact(rs),
        `a lone ${r.flags} with nothing before or after it in this connection: an RST scan probe (a closed or open port alike drops it without an answer)`,
      );
    if (fl !== undefined)
      return v(
        'rst-flood',
        'likely',
        `${fl.rsts} RSTs to ${rcv} from ${fl.sources} source(s) over ${secs(fl.lastTime - fl.firstTime)} with no other packet of their connections`,
      );
    const bs = ctx.backscatter.get(`${snd}|${rcv}`);
    if (bs !== undefined && r.flags === 'RST+ACK')
      return v(
        'backscatter',
        'possible',
        `${bs.packets} unsolicited RST+ACK / SYN-ACK packets from ${snd} to ${rcv} on ${bs.ports} port(s), none answering anything ${rcv} sent in the capture: ${snd} may be answering spoofed packets (SYN-flood backscatter)`,
      );
    return v(
      'unexplained',
      'possible',
      'no other packet of this connection is in the capture (it may have started before the capture, or the RST is unsolicited)',
    );
  }

  // Unsolicited SYN-ACK answered by a RST: backscatter of a SYN flood against the SYN-ACK's sender.
  if (hasUnsolicitedSynAck(c) && r.side === 'orig') {
    const bs = ctx.backscatter.get(`${c.respAddr}|${c.origAddr}`);
    return v(
      'backscatter',
      bs !== undefined ? 'likely' : 'possible',
      `${fmtEp(c.respAddr, c.respPort)} sent a SYN-ACK although ${c.origAddr} sent no SYN in the capture; the RST answers it`,
      ...(bs !== undefined
        ? [`${bs.packets} such SYN-ACKs/RSTs from ${c.respAddr} to ${c.origAddr} on ${bs.ports} port(s)`]
        : []),
    );
  }

  // Injection / spoofing: strong signals override the structural rules below.
  const inj = injectionSignals(c, r, sameSide);
  const strong = r.challengeAck || inj.some((s) => s.startsWith('TTL'));
  if (strong) {
    const conf: Confidence = r.challengeAck || inj.length >= 2 ? 'likely' : 'possible';
    return v('injection', conf, ...inj, ...fingerprintNotes(r));
  }

  const scanner = ctx.scanners.get(c.origAddr);

  // Refused: RST answering a SYN, no SYN-ACK.
  if (c.connState === 'REJ' && r.side === 'resp' && c.resp.syns === 0) {
    const answer = r.idleSec >= 0 ? ` ${ms(r.idleSec)} after the SYN` : '';
    if (scanner !== undefined) return v('scan', 'likely', scanFact(scanner), `the SYN was refused${answer}`);
    return v(
      'refused',
      r.judgment === 'exact' ? 'certain' : 'likely',
      `SYN to ${fmtEp(c.respAddr, c.respPort)} answered by ${r.flags}${answer}, no SYN-ACK: nothing listens there` +
        (r.judgment === 'exact' ? ' (the RST acknowledges the SYN)' : ''),
      ...(c.synRetransmissions > 0 ? [`${c.synRetransmissions} SYN retransmission(s) before`] : []),
    );
  }

  // Scan: SYN, SYN-ACK, then the originator resets without completing (half-open "SYN scan").
  if (r.side === 'orig' && isFailedAttempt(c) && c.connState !== 'REJ') {
    if (scanner !== undefined)
      return v('scan', 'likely', scanFact(scanner), 'the originator reset without completing the handshake');
    if (c.resp.syns > 0 && !c.handshakeCompleted)
      return v(
        'scan',
        'possible',
        `SYN, SYN-ACK, then a ${r.flags} from the originator instead of the final ACK: a single half-open probe (port check or SYN scan)`,
      );
  }

  // Queue overflow: SYN-ACK retransmissions, then the server resets.
  if (r.side === 'resp' && c.synAckRetransmissions > 0 && c.resp.payloadBytes === 0) {
    return v(
      'queue-overflow',
      c.handshakeCompleted ? 'likely' : 'possible',
      `${c.synAckRetransmissions} SYN-ACK retransmission(s) from ${fmtEp(c.respAddr, c.respPort)} before the RST` +
        (c.handshakeCompleted
          ? ': the client had completed the handshake, so the server dropped its ACK (accept queue full)'
          : ''),
      ...(c.orig.retransmissions > 0
        ? [`${c.orig.retransmissions} data retransmission(s) from the client`]
        : []),
    );
  }
  // Queue overflow with net.ipv4.tcp_abort_on_overflow=1: the server sent nothing but its SYN-ACK(s), the
  // client completed the handshake, and the ACK (or first data) that found the accept queue full is answered
  // at once with a bare RST at ISN + 1 = the client's ACK (tcp_check_req → listen_overflow → embryonic_reset
  // → tcp_v4_send_reset). A listener closed between SYN-ACK and ACK looks the same, hence 'likely'.
  if (
    r.side === 'resp' &&
    r.flags === 'RST' &&
    r.judgment === 'exact' &&
    c.handshakeCompleted &&
    c.resp.syns > 0 &&
    c.resp.packets - c.resp.rsts === c.resp.syns
  ) {
    return v(
      'queue-overflow',
      'likely',
      `${fmtEp(c.respAddr, c.respPort)} sent only its SYN-ACK, then answered the client's completed handshake with a bare RST at its ISN + 1: no socket took the connection; with net.ipv4.tcp_abort_on_overflow=1 this is how Linux refuses a connection that finds the accept queue full`,
      ...(c.orig.payloadBytes > 0
        ? [`the client had sent ${c.orig.payloadBytes} byte(s) of data, never acknowledged`]
        : []),
    );
  }

  // TIME-WAIT assassination: RST after both FINs.
  if (r.afterBothFins) {
    return v(
      'time-wait-assassination',
      r.judgment === 'exact' ? 'likely' : 'possible',
      `both sides had sent FIN before this RST (RFC 1337 shape)` +
        (r.judgment === 'exact' ? '; its sequence number is exact, so a TIME-WAIT socket accepts it' : ''),
    );
  }

  // Weak injection signals (inexact seq, stepped seqs) without a structural explanation.
  if (r.judgment === 'in-window' || (r.judgment === 'out-of-window' && r.prevPackets > 0)) {
    return v(
      'injection',
      'possible',
      `the sequence number is not the one the receiver expected (${r.judgment}): a real peer's RST is exact; a spoofer guesses`,
      ...inj,
      ...fingerprintNotes(r),
    );
  }
  if (inj.length > 0) return v('injection', 'possible', ...inj, ...fingerprintNotes(r));

  const established =
    c.handshakeCompleted ||
    r.senderStateBefore === 'ESTABLISHED' ||
    r.senderStateBefore === 'PARTIAL' ||
    r.senderStateBefore === 'CLOSED';

  // Keepalive timeout: unanswered keepalive probes from the sender, then its RST. Linux gives up after
  // tcp_keepalive_probes unanswered probes with a RST+ACK (tcp_keepalive_timer → tcp_send_active_reset,
  // reason TCP_KEEPALIVE_TIMEOUT); the probes are what tells it from an application abort.
  if (r.keepaliveProbes > 0 && established && r.judgment !== 'out-of-window') {
    return v(
      'idle-timeout',
      'likely',
      `${snd} sent ${r.keepaliveProbes} keepalive probe(s) (an ACK at SND.UNA − 1) that ${rcv} never answered in the capture, then reset the connection: a keepalive timeout (RFC 1122 §4.2.3.6)`,
    );
  }

  // Half-open: a bare RST (no ACK) on an established connection: the sender's kernel had no socket for it.
  if (r.flags === 'RST' && r.prevPackets > 0 && established && r.judgment !== 'out-of-window') {
    return v(
      'half-open',
      r.judgment === 'exact' ? 'likely' : 'possible',
      `bare RST (no ACK bit) from ${snd}, which had sent ${r.prevPackets} packet(s) on this connection: a kernel answers a segment for a connection it does not know this way (RFC 9293 §3.5.2)`,
    );
  }

  // Idle / keepalive timeout.
  if (r.idleSec >= THRESHOLDS.idleSec && established) {
    return v(
      'idle-timeout',
      r.idleSec >= THRESHOLDS.idleLikelySec ? 'likely' : 'possible',
      `the connection was silent for ${secs(r.idleSec)} before ${snd} reset it`,
    );
  }

  // Application abort: RST+ACK with the sender's current seq on a live connection, in place of a FIN.
  if (r.flags === 'RST+ACK' && established && r.prevPackets > 0 && r.judgment === 'exact') {
    const closing = r.senderStateBefore === 'CLOSED';
    return v(
      'abort',
      'likely',
      closing
        ? `${snd} had sent a FIN and then a RST+ACK with its current sequence number: data arrived after close`
        : `${snd} sent a RST+ACK with its current sequence number instead of a FIN: the application closed with unread data or with SO_LINGER 0`,
    );
  }

  return v('unexplained', 'possible', 'no rule matched; the facts are below');
}

function endpoint(c: Connection, side: 'orig' | 'resp'): [string, number] {
  return side === 'orig' ? [c.origAddr, c.origPort] : [c.respAddr, c.respPort];
}

export const fmtEp = (addr: string, port: number): string =>
  addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

/** Gives every reset of every connection a cause. Pure; order: connections as given, resets in order. */
export function classifyResets(connections: readonly Connection[], ctx: ClassifyContext): ClassifiedReset[] {
  const out: ClassifiedReset[] = [];
  for (const c of connections) {
    c.resets.forEach((r, index) => {
      const [sa, sp] = endpoint(c, r.side);
      const [ra, rp] = endpoint(c, r.side === 'orig' ? 'resp' : 'orig');
      const d = decide(c, r, ctx, sa, ra, fmtEp(sa, sp), fmtEp(ra, rp));
      const evidence = d.evidence;
      if (d.cause === 'unexplained') evidence.push(...fingerprintNotes(r));
      out.push({
        conn: c,
        reset: r,
        index,
        cause: d.cause,
        topic: CAUSE_TOPIC[d.cause],
        confidence: d.cause === 'unexplained' ? 'possible' : d.confidence,
        evidence,
        sender: sa,
        senderPort: sp,
        receiver: ra,
        receiverPort: rp,
      });
    });
  }
  return out;
}
