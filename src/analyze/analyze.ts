/**
 * The analyze pipeline: readCapture → decodeFrame → FlowTable → classifyResets → AnalysisReport.
 *
 * One pass over the capture. Per packet: decode into one reused DecodedTcp and feed the flow table; per RST
 * packet only, count it by IP version, flags, direction, sender, receiver and second. Connections leaving
 * the table feed the context builder (scan / flood / backscatter aggregates); those with resets are kept for
 * classification at the end (memory: docs/analyze.md, "Limits").
 *
 * The report is plain data; src/report/json.ts and src/report/text.ts render it.
 */

import { decodeFrame } from '../packet/decode.js';
import { readCapture } from '../packet/reader.js';
import { newDecodedTcp, type PacketRecord, type ReadProblem, TCP } from '../packet/types.js';
import { formatIpv4, formatIpv6, word } from './addr.js';
import {
  CAUSE_TITLE,
  CAUSE_TOPIC,
  CAUSES,
  type CauseId,
  type ClassifiedReset,
  type ClassifyContext,
  type Confidence,
  ContextBuilder,
  classifyResets,
  fmtEp,
} from './causes.js';
import { DEFAULT_MAX_FLOWS, FlowTable } from './flows.js';
import type { Connection } from './types.js';

export interface AnalyzeOptions {
  maxFlows?: number;
  /** Length of the top-talker lists (default 10). */
  top?: number;
  /** Most connections listed in full (default 1000); the rest are counted. */
  maxConnections?: number;
  /** Most timeline buckets (default 600); the bucket width grows to fit. */
  maxBuckets?: number;
  /** Name of the source in the report (default: the path, or "-" for a stream). */
  name?: string;
  /** Bytes read from the source so far (compressed bytes for .gz), at most once per chunk (progress bar). */
  onProgress?: (bytesRead: number) => void;
}

export interface Counted {
  key: string;
  count: number;
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

export interface Finding {
  cause: CauseId;
  topic: string;
  confidence: Confidence;
  count: number;
  /** One plain-language sentence with what to do next. */
  text: string;
}

export interface ReportedReset {
  frame: number;
  time: number;
  side: 'orig' | 'resp';
  flags: 'RST' | 'RST+ACK';
  seq: number;
  expectedSeq: number;
  judgment: string;
  challengeAckFrame: number;
  cause: CauseId;
  topic: string;
  confidence: Confidence;
  evidence: string[];
}

export interface ReportedConnection {
  id: number;
  orig: string;
  resp: string;
  ipVersion: 4 | 6;
  startTime: number;
  durationSec: number;
  connState: string;
  history: string;
  origPackets: number;
  respPackets: number;
  /** Cause of the connection's first reset (each reset's own cause is in `resets`). */
  cause: CauseId;
  confidence: Confidence;
  evidence: string[];
  resets: ReportedReset[];
}

export interface AnalysisReport {
  source: string;
  capture: {
    format: string;
    variant: string;
    partial: boolean;
    bytes: number;
    problems: ReadProblem[];
    interfaces: number;
    drops: number | null;
  };
  summary: {
    packets: number;
    tcpSegments: number;
    decodeSkips: Record<string, number>;
    firstTime: number | null;
    lastTime: number | null;
    durationSec: number;
    connections: number;
    connectionsWithResets: number;
    flowsEvicted: number;
    rsts: number;
    rstIpv4: number;
    rstIpv6: number;
    rstAck: number;
    rstBare: number;
    rstInbound: number;
    rstOutbound: number;
    rstDirectionUnknown: number;
    /** RSTs sent by the connection's originator (client) and by its responder (server). */
    rstFromOrig: number;
    rstFromResp: number;
  };
  causes: CauseSummary[];
  /** `pairs`: who sent RSTs to whom, keyed "sender → receiver" (addresses). */
  top: { senders: Counted[]; receivers: Counted[]; ports: Counted[]; pairs: Counted[] };
  timeline: { startSec: number; bucketSec: number; counts: number[] };
  findings: Finding[];
  connections: ReportedConnection[];
  connectionsOmitted: number;
}

function addrText(v: number, b: Uint8Array): string {
  return v === 6 ? formatIpv6(word(b, 0), word(b, 4), word(b, 8), word(b, 12)) : formatIpv4(word(b, 0));
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

function topOf(m: Map<string, number>, n: number): Counted[] {
  return [...m]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([key, count]) => ({ key, count }));
}

/** Reads and analyzes a capture (a path, or a binary stream such as process.stdin). Never throws on bad input. */
export async function analyzeCapture(
  source: string | NodeJS.ReadableStream,
  opts: AnalyzeOptions = {},
): Promise<AnalysisReport> {
  const top = opts.top ?? 10;
  const withResets: Connection[] = [];
  const ctxb = new ContextBuilder();
  let connections = 0;
  const onConnection = (c: Connection) => {
    connections++;
    ctxb.add(c);
    if (c.resets.length > 0) withResets.push(c);
  };
  const table = new FlowTable({ maxFlows: opts.maxFlows ?? DEFAULT_MAX_FLOWS, onConnection });
  const pkt = newDecodedTcp();
  const skips: Record<string, number> = {};
  const senders = new Map<string, number>();
  const receivers = new Map<string, number>();
  const pairs = new Map<string, number>();
  const perSecond = new Map<number, number>();
  let tcp = 0;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  const s = {
    rsts: 0,
    rstIpv4: 0,
    rstIpv6: 0,
    rstAck: 0,
    rstBare: 0,
    rstInbound: 0,
    rstOutbound: 0,
    rstDirectionUnknown: 0,
  };

  const onPacket = (rec: PacketRecord): void => {
    const t = rec.tsSec + rec.tsNsec / 1e9;
    if (t < first) first = t;
    if (t > last) last = t;
    const skip = decodeFrame(rec.linkType, rec.data, pkt);
    if (skip !== undefined) {
      skips[skip] = (skips[skip] ?? 0) + 1;
      return;
    }
    tcp++;
    table.observe(pkt, rec.tsSec, rec.tsNsec, rec.frame);
    if ((pkt.flags & TCP.RST) === 0) return;
    s.rsts++;
    if (pkt.ipVersion === 6) s.rstIpv6++;
    else s.rstIpv4++;
    if ((pkt.flags & TCP.ACK) !== 0) s.rstAck++;
    else s.rstBare++;
    const dir = pkt.direction || rec.direction;
    if (dir === 1) s.rstInbound++;
    else if (dir === 2) s.rstOutbound++;
    else s.rstDirectionUnknown++;
    const from = addrText(pkt.ipVersion, pkt.src);
    const to = addrText(pkt.ipVersion, pkt.dst);
    bump(senders, from);
    bump(receivers, to);
    bump(pairs, `${from} → ${to}`);
    perSecond.set(rec.tsSec, (perSecond.get(rec.tsSec) ?? 0) + 1);
  };
  const summary = await readCapture(source, onPacket, { onProgress: opts.onProgress });
  for (const c of table.finish()) onConnection(c);
  withResets.sort((a, b) => a.id - b.id);

  const ctx = ctxb.build();
  const classified = classifyResets(withResets, ctx);

  // Ports: the responder's (service) port of connections with resets, per reset.
  const ports = new Map<string, number>();
  let rstFromOrig = 0;
  for (const r of classified) {
    bump(ports, String(r.conn.respPort));
    if (r.reset.side === 'orig') rstFromOrig++;
  }

  let drops: number | null = null;
  for (const i of summary.interfaces) {
    if (i.ifDrop !== undefined || i.osDrop !== undefined)
      drops = (drops ?? 0) + (i.ifDrop ?? 0) + (i.osDrop ?? 0);
  }

  const hasTime = Number.isFinite(first);
  return {
    source: opts.name ?? (typeof source === 'string' ? source : '-'),
    capture: {
      format: summary.format,
      variant: summary.variant,
      partial: summary.partial,
      bytes: summary.bytes,
      problems: summary.problems,
      interfaces: summary.interfaces.length,
      drops,
    },
    summary: {
      packets: summary.packets,
      tcpSegments: tcp,
      decodeSkips: Object.fromEntries(Object.entries(skips).sort()),
      firstTime: hasTime ? first : null,
      lastTime: hasTime ? last : null,
      durationSec: hasTime ? Math.max(0, last - first) : 0,
      connections,
      connectionsWithResets: withResets.length,
      flowsEvicted: table.stats.evicted,
      ...s,
      rstFromOrig,
      rstFromResp: classified.length - rstFromOrig,
    },
    causes: summarizeCauses(classified),
    top: {
      senders: topOf(senders, top),
      receivers: topOf(receivers, top),
      ports: topOf(ports, top),
      pairs: topOf(pairs, top),
    },
    timeline: timeline(perSecond, opts.maxBuckets ?? 600),
    findings: findings(classified, ctx, top),
    ...reportConnections(withResets, classified, opts.maxConnections ?? 1000),
  };
}

function timeline(perSecond: Map<number, number>, maxBuckets: number): AnalysisReport['timeline'] {
  if (perSecond.size === 0) return { startSec: 0, bucketSec: 1, counts: [] };
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const k of perSecond.keys()) {
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  const span = hi - lo + 1;
  const bucketSec = Math.max(1, Math.ceil(span / Math.max(1, maxBuckets)));
  const counts = new Array<number>(Math.ceil(span / bucketSec)).fill(0);
  for (const [k, n] of perSecond) {
    const i = Math.floor((k - lo) / bucketSec);
    counts[i] = (counts[i] ?? 0) + n;
  }
  return { startSec: lo, bucketSec, counts };
}

const connLabel = (c: Connection) => `${fmtEp(c.origAddr, c.origPort)} → ${fmtEp(c.respAddr, c.respPort)}`;

function summarizeCauses(classified: ClassifiedReset[]): CauseSummary[] {
  const by = new Map<CauseId, CauseSummary>();
  for (const r of classified) {
    let cs = by.get(r.cause);
    if (cs === undefined) {
      cs = {
        cause: r.cause,
        title: CAUSE_TITLE[r.cause],
        topic: CAUSE_TOPIC[r.cause],
        count: 0,
        byConfidence: { certain: 0, likely: 0, possible: 0 },
        examples: [],
      };
      by.set(r.cause, cs);
    }
    cs.count++;
    cs.byConfidence[r.confidence]++;
    const label = connLabel(r.conn);
    if (cs.examples.length < 3 && !cs.examples.includes(label)) cs.examples.push(label);
  }
  return [...by.values()].sort(
    (a, b) => b.count - a.count || CAUSES.indexOf(a.cause) - CAUSES.indexOf(b.cause),
  );
}

const CONF_RANK: Record<Confidence, number> = { certain: 0, likely: 1, possible: 2 };
const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

/** Group key and sentence per cause. */
function findingKey(r: ClassifiedReset): string {
  const c = r.conn;
  switch (r.cause) {
    case 'refused':
      return `${c.origAddr}|${c.respAddr}|${c.respPort}`;
    case 'scan':
      return c.origAddr;
    case 'queue-overflow':
    case 'abort':
    case 'idle-timeout':
    case 'time-wait-assassination':
    case 'half-open':
      return `${r.sender}|${c.respAddr}|${c.respPort}`;
    case 'backscatter':
    case 'injection':
      return `${r.sender}|${r.receiver}`;
    case 'rst-flood':
      return r.receiver;
    case 'unexplained':
      return '';
  }
}

function sentence(r: ClassifiedReset, count: number, conns: number, ctx: ClassifyContext): string {
  const c = r.conn;
  const svc = fmtEp(c.respAddr, c.respPort);
  const see = `(rstwatch explain ${r.topic})`;
  switch (r.cause) {
    case 'refused':
      return `\`${c.origAddr}\` tried port ${c.respPort} on \`${c.respAddr}\` ${plural(count, 'time')} where nothing listens: start the service or fix the client's configuration ${see}`;
    case 'scan': {
      const sc = ctx.scanners.get(c.origAddr);
      const what = sc
        ? `${plural(sc.ports, 'port')} on ${plural(sc.hosts, 'host')}`
        : `a port on \`${c.respAddr}\``;
      return `\`${c.origAddr}\` probed ${what} (${plural(count, 'reset')}): a port scan or a port check; if it is not yours, block the source ${see}`;
    }
    case 'queue-overflow':
      return `\`${svc}\` retransmitted SYN-ACKs and then reset ${plural(conns, 'connection')}: its listen/accept queue overflowed; raise the backlog (\`net.core.somaxconn\`, the listen() backlog) and make the application accept faster ${see}`;
    case 'abort':
      return `\`${r.sender}\` aborted ${plural(conns, 'connection')} of \`${svc}\` with RST instead of FIN: the application closed with unread data or with SO_LINGER 0; check its error paths and logs ${see}`;
    case 'idle-timeout':
      return `\`${r.sender}\` reset ${plural(conns, 'connection')} of \`${svc}\` after they were idle: an idle or keepalive timeout (in the application or a NAT/firewall); make keepalives shorter than the shortest idle timeout on the path ${see}`;
    case 'time-wait-assassination':
      return `${plural(count, 'RST')} from \`${r.sender}\` arrived after both FINs on connections of \`${svc}\`: TIME-WAIT assassination shape; consider \`net.ipv4.tcp_rfc1337=1\` ${see}`;
    case 'half-open':
      return `\`${r.sender}\` answered ${plural(conns, 'connection')} of \`${svc}\` with a bare RST: it no longer knew them (restart, closed socket, or a NAT/load balancer lost state); check restarts and state timeouts on the path ${see}`;
    case 'backscatter':
      return `\`${r.receiver}\` got ${plural(count, 'RST')} answering SYN-ACKs/packets it never solicited from \`${r.sender}\`: backscatter of a spoofed SYN flood against \`${r.sender}\`; nothing to fix on \`${r.receiver}\` ${see}`;
    case 'injection':
      return `${plural(count, 'RST')} from \`${r.sender}\` to \`${r.receiver}\` look injected or spoofed (see the evidence); look for a middlebox or on-path attacker, compare TTLs, enable RFC 5961 protections ${see}`;
    case 'rst-flood': {
      const f = ctx.floods.get(r.receiver);
      return `\`${r.receiver}\` received ${plural(f?.rsts ?? count, 'RST')} from ${plural(f?.sources ?? 1, 'source')} with no matching connection: an RST flood; most are dropped as out-of-window, watch TCPChallengeACK ${see}`;
    }
    case 'unexplained':
      return `${plural(count, 'reset')} could not be explained from the capture alone; the facts are listed per connection (use --json for all of them) ${see}`;
  }
}

function findings(classified: ClassifiedReset[], ctx: ClassifyContext, top: number): Finding[] {
  const groups = new Map<
    string,
    { first: ClassifiedReset; count: number; conns: Set<number>; conf: Confidence }
  >();
  for (const r of classified) {
    const k = `${r.cause}#${findingKey(r)}`;
    let g = groups.get(k);
    if (g === undefined) {
      g = { first: r, count: 0, conns: new Set(), conf: r.confidence };
      groups.set(k, g);
    }
    g.count++;
    g.conns.add(r.conn.id);
    // The group's confidence is the weakest of its members: never overstated.
    if (CONF_RANK[r.confidence] > CONF_RANK[g.conf]) g.conf = r.confidence;
  }
  return [...groups.values()]
    .sort((a, b) => b.count - a.count)
    .slice(0, Math.max(1, top))
    .map((g) => ({
      cause: g.first.cause,
      topic: g.first.topic,
      confidence: g.conf,
      count: g.count,
      text: sentence(g.first, g.count, g.conns.size, ctx),
    }));
}

function reportConnections(
  conns: Connection[],
  classified: ClassifiedReset[],
  max: number,
): { connections: ReportedConnection[]; connectionsOmitted: number } {
  const byConn = new Map<number, ClassifiedReset[]>();
  for (const r of classified) {
    let l = byConn.get(r.conn.id);
    if (l === undefined) {
      l = [];
      byConn.set(r.conn.id, l);
    }
    l.push(r);
  }
  const out: ReportedConnection[] = [];
  for (const c of conns.slice(0, Math.max(0, max))) {
    const rs = byConn.get(c.id) ?? [];
    const head = rs[0];
    if (head === undefined) continue;
    out.push({
      id: c.id,
      orig: fmtEp(c.origAddr, c.origPort),
      resp: fmtEp(c.respAddr, c.respPort),
      ipVersion: c.ipVersion,
      startTime: c.startTime,
      durationSec: c.durationSec,
      connState: c.connState,
      history: c.history,
      origPackets: c.origPackets,
      respPackets: c.respPackets,
      cause: head.cause,
      confidence: head.confidence,
      evidence: head.evidence,
      resets: rs.map((r) => ({
        frame: r.reset.frame,
        time: r.reset.time,
        side: r.reset.side,
        flags: r.reset.flags,
        seq: r.reset.seq,
        expectedSeq: r.reset.expectedSeq,
        judgment: r.reset.judgment,
        challengeAckFrame: r.reset.challengeAckFrame,
        cause: r.cause,
        topic: r.topic,
        confidence: r.confidence,
        evidence: r.evidence,
      })),
    });
  }
  return { connections: out, connectionsOmitted: Math.max(0, conns.length - out.length) };
}
