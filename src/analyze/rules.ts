/**
 * Pass 2 of the reset classification: every RST gets a cause, a confidence and — when it will be shown — the
 * facts behind it. The rules run in order and the first match wins (docs/analyze.md, "Causes"; patterns from
 * shared/design/tcp-resets-field-guide.md §6.1). A reset no rule explains is `unexplained` with its facts:
 * never a guess presented as certain.
 *
 * `decide` only picks the rule (no string, no closure: it runs for every reset of a capture); `evidence`
 * writes the sentences of the rule that fired, for the connections a report lists.
 */

import {
  CAUSE_TOPIC,
  type CauseId,
  type ClassifiedReset,
  type ClassifyContext,
  type Confidence,
  fmtEp,
  hasUnsolicitedSynAck,
  isFailedAttempt,
  isRstOnly,
  isRstProbe,
  type ScanSource,
  THRESHOLDS,
} from './causes.js';
import type { Connection, ResetInfo } from './types.js';

/** The rules, in the order they are tried (each `return` of decide). */
enum Rule {
  RstScan,
  RstFlood,
  RstOnlyBackscatter,
  RstOnlyUnexplained,
  SynAckBackscatter,
  InjectionStrong,
  RefusedScan,
  Refused,
  HalfOpenScanKnown,
  HalfOpenProbe,
  QueueRetransmissions,
  QueueAbortOnOverflow,
  TimeWaitAssassination,
  InjectionInexact,
  InjectionWeak,
  Keepalive,
  HalfOpen,
  Idle,
  Abort,
  Unexplained,
}

/** What decide() found, written into one reused object. */
interface Decision {
  rule: Rule;
  cause: CauseId;
  confidence: Confidence;
}

const decision: Decision = { rule: Rule.Unexplained, cause: 'unexplained', confidence: 'possible' };

function pick(rule: Rule, cause: CauseId, confidence: Confidence): Decision {
  decision.rule = rule;
  decision.cause = cause;
  decision.confidence = confidence;
  return decision;
}

/** The resets of the same side as `r` (RSTs from its sender). */
function sameSideOf(c: Connection, r: ResetInfo): ResetInfo[] {
  return c.resets.filter((x) => x.side === r.side);
}

function ttlUnlikePeer(r: ResetInfo): boolean {
  return r.prevPackets > 0 && r.prevTtlMin >= 0 && (r.ttl < r.prevTtlMin || r.ttl > r.prevTtlMax);
}

function stepped(sameSide: ResetInfo[]): boolean {
  return (
    sameSide.length >= 2 &&
    new Set(sameSide.map((x) => x.seq)).size >= 2 &&
    sameSide.some((x) => x.judgment !== 'exact')
  );
}

/** How many injection signals (challenge ACK, TTL, stepped seqs) the reset has. */
function injectionCount(c: Connection, r: ResetInfo): number {
  const steps = c.resets.length >= 2 && stepped(sameSideOf(c, r));
  return (r.challengeAck ? 1 : 0) + (ttlUnlikePeer(r) ? 1 : 0) + (steps ? 1 : 0);
}

function established(c: Connection, r: ResetInfo): boolean {
  return (
    c.handshakeCompleted ||
    r.senderStateBefore === 'ESTABLISHED' ||
    r.senderStateBefore === 'PARTIAL' ||
    r.senderStateBefore === 'CLOSED'
  );
}

/** The rule, cause and confidence of one reset (the returned object is reused by the next call). */
function decide(c: Connection, r: ResetInfo, ctx: ClassifyContext, snd: string, rcv: string): Decision {
  // RST flood: RST-only flows, many to one receiver. RST scan: lone RSTs from one source fanned out over many
  // targets, unless several sources flood the same receiver.
  if (isRstOnly(c)) {
    const fl = ctx.floods.get(rcv);
    const rs = ctx.scanners.get(snd);
    if (rs !== undefined && rs.rstProbes > 0 && isRstProbe(c, r) && (fl === undefined || fl.sources <= 1))
      return pick(Rule.RstScan, 'scan', 'likely');
    if (fl !== undefined) return pick(Rule.RstFlood, 'rst-flood', 'likely');
    if (r.flags === 'RST+ACK' && ctx.backscatter.has(`${snd}|${rcv}`))
      return pick(Rule.RstOnlyBackscatter, 'backscatter', 'possible');
    return pick(Rule.RstOnlyUnexplained, 'unexplained', 'possible');
  }

  // Unsolicited SYN-ACK answered by a RST: backscatter of a SYN flood against the SYN-ACK's sender.
  if (hasUnsolicitedSynAck(c) && r.side === 'orig') {
    const known = ctx.backscatter.has(`${c.respAddr}|${c.origAddr}`);
    return pick(Rule.SynAckBackscatter, 'backscatter', known ? 'likely' : 'possible');
  }

  // Injection / spoofing: strong signals override the structural rules below.
  if (r.challengeAck || ttlUnlikePeer(r)) {
    const likely = r.challengeAck || injectionCount(c, r) >= 2;
    return pick(Rule.InjectionStrong, 'injection', likely ? 'likely' : 'possible');
  }

  const scanner = ctx.scanners.get(c.origAddr);

  // Refused: RST answering a SYN, no SYN-ACK.
  if (c.connState === 'REJ' && r.side === 'resp' && c.resp.syns === 0) {
    if (scanner !== undefined) return pick(Rule.RefusedScan, 'scan', 'likely');
    return pick(Rule.Refused, 'refused', r.judgment === 'exact' ? 'certain' : 'likely');
  }

  // Scan: SYN, SYN-ACK, then the originator resets without completing (half-open "SYN scan").
  if (r.side === 'orig' && isFailedAttempt(c) && c.connState !== 'REJ') {
    if (scanner !== undefined) return pick(Rule.HalfOpenScanKnown, 'scan', 'likely');
    if (c.resp.syns > 0 && !c.handshakeCompleted) return pick(Rule.HalfOpenProbe, 'scan', 'possible');
  }

  // Queue overflow: SYN-ACK retransmissions, then the server resets.
  if (r.side === 'resp' && c.synAckRetransmissions > 0 && c.resp.payloadBytes === 0)
    return pick(Rule.QueueRetransmissions, 'queue-overflow', c.handshakeCompleted ? 'likely' : 'possible');
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
  )
    return pick(Rule.QueueAbortOnOverflow, 'queue-overflow', 'likely');

  // TIME-WAIT assassination: RST after both FINs.
  if (r.afterBothFins)
    return pick(
      Rule.TimeWaitAssassination,
      'time-wait-assassination',
      r.judgment === 'exact' ? 'likely' : 'possible',
    );

  // Weak injection signals (inexact seq, stepped seqs) without a structural explanation.
  if (r.judgment === 'in-window' || (r.judgment === 'out-of-window' && r.prevPackets > 0))
    return pick(Rule.InjectionInexact, 'injection', 'possible');
  if (injectionCount(c, r) > 0) return pick(Rule.InjectionWeak, 'injection', 'possible');

  const est = established(c, r);

  // Keepalive timeout: unanswered keepalive probes from the sender, then its RST. Linux gives up after
  // tcp_keepalive_probes unanswered probes with a RST+ACK (tcp_keepalive_timer → tcp_send_active_reset,
  // reason TCP_KEEPALIVE_TIMEOUT); the probes are what tells it from an application abort.
  if (r.keepaliveProbes > 0 && est && r.judgment !== 'out-of-window')
    return pick(Rule.Keepalive, 'idle-timeout', 'likely');

  // Half-open: a bare RST (no ACK) on an established connection: the sender's kernel had no socket for it.
  if (r.flags === 'RST' && r.prevPackets > 0 && est && r.judgment !== 'out-of-window')
    return pick(Rule.HalfOpen, 'half-open', r.judgment === 'exact' ? 'likely' : 'possible');

  // Idle / keepalive timeout.
  if (r.idleSec >= THRESHOLDS.idleSec && est)
    return pick(Rule.Idle, 'idle-timeout', r.idleSec >= THRESHOLDS.idleLikelySec ? 'likely' : 'possible');

  // Application abort: RST+ACK with the sender's current seq on a live connection, in place of a FIN.
  if (r.flags === 'RST+ACK' && est && r.prevPackets > 0 && r.judgment === 'exact')
    return pick(Rule.Abort, 'abort', 'likely');

  return pick(Rule.Unexplained, 'unexplained', 'possible');
}

// ---------------------------------------------------------------- evidence

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

/** Injection signals on one reset: challenge ACK, TTL unlike the sender's other packets, stepped seqs. */
function injectionSignals(r: ResetInfo, sameSide: ResetInfo[]): string[] {
  const s: string[] = [];
  if (r.challengeAck)
    s.push(
      `the receiver answered with a challenge ACK (frame ${r.challengeAckFrame}, RFC 5961 §3.2): it did not accept this RST`,
    );
  if (ttlUnlikePeer(r))
    s.push(
      `TTL ${r.ttl} unlike the sender's ${r.prevPackets} earlier packets (TTL ${r.prevTtlMin === r.prevTtlMax ? r.prevTtlMin : `${r.prevTtlMin}–${r.prevTtlMax}`})`,
    );
  if (stepped(sameSide))
    s.push(
      `${sameSide.length} RSTs from the same side with ${new Set(sameSide.map((x) => x.seq)).size} different sequence numbers (stepped)`,
    );
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

function scanFact(s: ScanSource): string {
  return (
    `${s.addr} made failed attempts to ${s.targets} targets (${s.ports} port(s) on ${s.hosts} host(s)), up to ${s.peakTargetsInWindow} within ${THRESHOLDS.scanWindowSec} s` +
    (s.rstProbes > 0 ? `; ${s.rstProbes} of them lone RSTs` : '')
  );
}

/** Why the rule fired: its own sentences (before the base facts). */
function why(
  rule: Rule,
  c: Connection,
  r: ResetInfo,
  ctx: ClassifyContext,
  snd: string,
  rcv: string,
): string[] {
  const inj = () => injectionSignals(r, sameSideOf(c, r));
  const answer = r.idleSec >= 0 ? ` ${ms(r.idleSec)} after the SYN` : '';
  switch (rule) {
    case Rule.RstScan:
      return [
        scanFact(ctx.scanners.get(snd)!),
        `a lone ${r.flags} with nothing before or after it in this connection: an RST scan probe (a closed or open port alike drops it without an answer)`,
      ];
    case Rule.RstFlood: {
      const fl = ctx.floods.get(rcv)!;
      return [
        `${fl.rsts} RSTs to ${rcv} from ${fl.sources} source(s) over ${secs(fl.lastTime - fl.firstTime)} with no other packet of their connections`,
      ];
    }
    case Rule.RstOnlyBackscatter: {
      const bs = ctx.backscatter.get(`${snd}|${rcv}`)!;
      return [
        `${bs.packets} unsolicited RST+ACK / SYN-ACK packets from ${snd} to ${rcv} on ${bs.ports} port(s), none answering anything ${rcv} sent in the capture: ${snd} may be answering spoofed packets (SYN-flood backscatter)`,
      ];
    }
    case Rule.RstOnlyUnexplained:
      return [
        'no other packet of this connection is in the capture (it may have started before the capture, or the RST is unsolicited)',
      ];
    case Rule.SynAckBackscatter: {
      const bs = ctx.backscatter.get(`${c.respAddr}|${c.origAddr}`);
      return [
        `${fmtEp(c.respAddr, c.respPort)} sent a SYN-ACK although ${c.origAddr} sent no SYN in the capture; the RST answers it`,
        ...(bs !== undefined
          ? [`${bs.packets} such SYN-ACKs/RSTs from ${c.respAddr} to ${c.origAddr} on ${bs.ports} port(s)`]
          : []),
      ];
    }
    case Rule.InjectionStrong:
    case Rule.InjectionWeak:
      return [...inj(), ...fingerprintNotes(r)];
    case Rule.RefusedScan:
      return [scanFact(ctx.scanners.get(c.origAddr)!), `the SYN was refused${answer}`];
    case Rule.Refused:
      return [
        `SYN to ${fmtEp(c.respAddr, c.respPort)} answered by ${r.flags}${answer}, no SYN-ACK: nothing listens there` +
          (r.judgment === 'exact' ? ' (the RST acknowledges the SYN)' : ''),
        ...(c.synRetransmissions > 0 ? [`${c.synRetransmissions} SYN retransmission(s) before`] : []),
      ];
    case Rule.HalfOpenScanKnown:
      return [
        scanFact(ctx.scanners.get(c.origAddr)!),
        'the originator reset without completing the handshake',
      ];
    case Rule.HalfOpenProbe:
      return [
        `SYN, SYN-ACK, then a ${r.flags} from the originator instead of the final ACK: a single half-open probe (port check or SYN scan)`,
      ];
    case Rule.QueueRetransmissions:
      return [
        `${c.synAckRetransmissions} SYN-ACK retransmission(s) from ${fmtEp(c.respAddr, c.respPort)} before the RST` +
          (c.handshakeCompleted
            ? ': the client had completed the handshake, so the server dropped its ACK (accept queue full)'
            : ''),
        ...(c.orig.retransmissions > 0
          ? [`${c.orig.retransmissions} data retransmission(s) from the client`]
          : []),
      ];
    case Rule.QueueAbortOnOverflow:
      return [
        `${fmtEp(c.respAddr, c.respPort)} sent only its SYN-ACK, then answered the client's completed handshake with a bare RST at its ISN + 1: no socket took the connection; with net.ipv4.tcp_abort_on_overflow=1 this is how Linux refuses a connection that finds the accept queue full`,
        ...(c.orig.payloadBytes > 0
          ? [`the client had sent ${c.orig.payloadBytes} byte(s) of data, never acknowledged`]
          : []),
      ];
    case Rule.TimeWaitAssassination:
      return [
        `both sides had sent FIN before this RST (RFC 1337 shape)` +
          (r.judgment === 'exact' ? '; its sequence number is exact, so a TIME-WAIT socket accepts it' : ''),
      ];
    case Rule.InjectionInexact:
      return [
        `the sequence number is not the one the receiver expected (${r.judgment}): a real peer's RST is exact; a spoofer guesses`,
        ...inj(),
        ...fingerprintNotes(r),
      ];
    case Rule.Keepalive:
      return [
        `${snd} sent ${r.keepaliveProbes} keepalive probe(s) (an ACK at SND.UNA − 1) that ${rcv} never answered in the capture, then reset the connection: a keepalive timeout (RFC 1122 §4.2.3.6)`,
      ];
    case Rule.HalfOpen:
      return [
        `bare RST (no ACK bit) from ${snd}, which had sent ${r.prevPackets} packet(s) on this connection: a kernel answers a segment for a connection it does not know this way (RFC 9293 §3.5.2)`,
      ];
    case Rule.Idle:
      return [`the connection was silent for ${secs(r.idleSec)} before ${snd} reset it`];
    case Rule.Abort:
      return [
        r.senderStateBefore === 'CLOSED'
          ? `${snd} had sent a FIN and then a RST+ACK with its current sequence number: data arrived after close`
          : `${snd} sent a RST+ACK with its current sequence number instead of a FIN: the application closed with unread data or with SO_LINGER 0`,
      ];
    case Rule.Unexplained:
      return ['no rule matched; the facts are below'];
  }
}

/** The evidence of a reset classified without it (counted only, never shown). */
const NO_EVIDENCE: string[] = [];
Object.freeze(NO_EVIDENCE);

/**
 * Classifies the resets of one connection and hands each result to `sink`. With `explain: false` the
 * results carry no evidence (the frozen empty array). `out` is filled and passed for each reset: a sink that
 * keeps it must copy it (classifyResets does).
 */
export function classifyConnection(
  c: Connection,
  ctx: ClassifyContext,
  explain: boolean,
  out: ClassifiedReset,
  sink: (r: ClassifiedReset) => void,
): void {
  const resets = c.resets;
  for (let index = 0; index < resets.length; index++) {
    const r = resets[index]!;
    const fromOrig = r.side === 'orig';
    const sa = fromOrig ? c.origAddr : c.respAddr;
    const sp = fromOrig ? c.origPort : c.respPort;
    const ra = fromOrig ? c.respAddr : c.origAddr;
    const rp = fromOrig ? c.respPort : c.origPort;
    const d = decide(c, r, ctx, sa, ra);
    const cause = d.cause;
    out.conn = c;
    out.reset = r;
    out.index = index;
    out.cause = cause;
    out.topic = CAUSE_TOPIC[cause];
    out.confidence = cause === 'unexplained' ? 'possible' : d.confidence;
    if (explain) {
      const evidence = [...why(d.rule, c, r, ctx, sa, ra), ...baseFacts(c, r, fmtEp(sa, sp), fmtEp(ra, rp))];
      if (cause === 'unexplained') evidence.push(...fingerprintNotes(r));
      out.evidence = evidence;
    } else {
      out.evidence = NO_EVIDENCE;
    }
    out.sender = sa;
    out.senderPort = sp;
    out.receiver = ra;
    out.receiverPort = rp;
    sink(out);
  }
}

/** A ClassifiedReset to be filled by classifyConnection. */
export function newClassifiedReset(): ClassifiedReset {
  return {
    conn: undefined as unknown as Connection,
    reset: undefined as unknown as ResetInfo,
    index: 0,
    cause: 'unexplained',
    topic: CAUSE_TOPIC.unexplained,
    confidence: 'possible',
    evidence: NO_EVIDENCE,
    sender: '',
    senderPort: 0,
    receiver: '',
    receiverPort: 0,
  };
}

/**
 * Gives every reset of every connection a cause. Pure; order: connections as given, resets in order.
 * With `explain: false` the resets carry no evidence (an empty array): for resets that are only counted.
 */
export function classifyResets(
  connections: readonly Connection[],
  ctx: ClassifyContext,
  opts: { explain?: boolean } = {},
): ClassifiedReset[] {
  const explain = opts.explain ?? true;
  const out: ClassifiedReset[] = [];
  const scratch = newClassifiedReset();
  const keep = (r: ClassifiedReset) => out.push({ ...r });
  for (const c of connections) classifyConnection(c, ctx, explain, scratch, keep);
  return out;
}
