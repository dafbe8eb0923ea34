/**
 * The analyze pipeline: readCapture → decodeFrame → FlowTable → classifyResets → AnalysisReport.
 *
 * One pass over the capture. Per packet: decode into one reused DecodedTcp and feed the flow table; per RST
 * packet only, count it by IP version, flags, direction, sender, receiver and second. Connections leaving
 * the table feed the context builder (scan / flood / backscatter aggregates); those with resets are kept for
 * classification at the end — up to a bound: past maxConnections + maxHeldConnections the older ones are
 * classified early and only counted, and every per-key tally is bounded (src/analyze/aggregate.ts), so
 * memory does not grow with the capture (limits: docs/benchmarks.md, "Capture analysis (part 4)").
 *
 * The report is plain data; src/report/json.ts and src/report/text.ts render it.
 */

import { setFlagsFromString } from 'node:v8';
import { readCapture } from '../../../../src/packet/reader.js';
import { decodeFrameAt } from '../packet/decode.js';
import { newDecodedTcp, type PacketRecord, type ReadProblem, TCP } from '../packet/types.js';
import { word } from './addr.js';
import {
  AddressNames,
  BoundedCounter,
  type CauseSummary,
  type Counted,
  type FindingGroup,
  ResetTally,
  SecondsHistogram,
} from './aggregate.js';
import {
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

export type { CauseSummary, Counted } from './aggregate.js';

/**
 * Connections with resets held for classification at the end, beyond the `maxConnections` listed in full.
 * Past this, the older half (by id) is classified at once against the capture-wide context known so far (the
 * newer half and everything before, refreshed every CONTEXT_REFRESH connections: see `classifiedEarly`) and
 * only its counts are kept. A held connection costs 1–3 KB (more while it waits in old space).
 */
export const DEFAULT_MAX_HELD_CONNECTIONS = 4096;
/** Connections between two rebuilds of the context used for early classification. */
const CONTEXT_REFRESH = 16_384;
/** Distinct keys kept per top-talker list (senders, receivers, pairs) before the smallest are dropped. */
export const DEFAULT_MAX_TALKERS = 50_000;

export interface AnalyzeOptions {
  maxFlows?: number;
  /** Length of the top-talker lists (default 10). */
  top?: number;
  /** Most connections listed in full (default 1000); the rest are counted. */
  maxConnections?: number;
  /** Connections with resets held for classification at the end (default DEFAULT_MAX_HELD_CONNECTIONS). */
  maxHeldConnections?: number;
  /** Distinct keys per top-talker list (default DEFAULT_MAX_TALKERS). */
  maxTalkers?: number;
  /** Most timeline buckets (default 600); the bucket width grows to fit. */
  maxBuckets?: number;
  /** Name of the source in the report (default: the path, or "-" for a stream). */
  name?: string;
  /** Bytes read from the source so far (compressed bytes for .gz), at most once per chunk (progress bar). */
  onProgress?: (bytesRead: number) => void;
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
    /**
     * Connections with resets classified before the end of the capture to bound memory (0 unless more than
     * maxConnections + maxHeldConnections had resets): their cause used the scan/flood/backscatter context
     * known at that point, which may still have grown (e.g. the first attempts of a scan counted as refused).
     */
    classifiedEarly: number;
    /** Top lists or findings dropped their smallest keys to stay bounded: counts below the top are partial. */
    topApproximate: boolean;
  };
  causes: CauseSummary[];
  /** `pairs`: who sent RSTs to whom, keyed "sender → receiver" (addresses). */
  top: { senders: Counted[]; receivers: Counted[]; ports: Counted[]; pairs: Counted[] };
  timeline: { startSec: number; bucketSec: number; counts: number[] };
  findings: Finding[];
  connections: ReportedConnection[];
  connectionsOmitted: number;
}

const byId = (a: Connection, b: Connection) => a.id - b.id;

let heapGrowthLimited = false;
/**
 * Caps how far V8 lets the heap grow past the live data between two full collections (×2, V8's own choice
 * went up to ×4): the analysis keeps ~100 MB live but promotes garbage steadily (reset records that wait in the
 * flow table, classified connections), so the default growth made peak RSS 290 MB on a 1 GB capture and
 * 207 MB with this, at the same CPU time (docs/benchmarks.md, part 4). Process-wide and set once; a V8 flag
 * read each time the heap limit is recomputed.
 */
function limitHeapGrowth(): void {
  if (heapGrowthLimited) return;
  heapGrowthLimited = true;
  try {
    setFlagsFromString('--heap-growing-percent=100');
  } catch {
    // an embedder that refuses V8 flags: only the peak RSS is higher
  }
}

/** Reads and analyzes a capture (a path, or a binary stream such as process.stdin). Never throws on bad input. */
export async function analyzeCapture(
  source: string | NodeJS.ReadableStream,
  opts: AnalyzeOptions = {},
): Promise<AnalysisReport> {
  limitHeapGrowth();
  const top = opts.top ?? 10;
  const maxListed = Math.max(0, opts.maxConnections ?? 1000);
  const maxHeld = Math.max(1, opts.maxHeldConnections ?? DEFAULT_MAX_HELD_CONNECTIONS);
  const ctxb = new ContextBuilder();
  const tally = new ResetTally();
  // Connections with resets: the `maxListed` of lowest id (listed in full, sorted), and the others held
  // until the end or until `maxHeld` of them make the older half be classified early (bounded memory).
  const listed: Connection[] = [];
  let held: Connection[] = [];
  let withResets = 0;
  let classifiedEarly = 0;
  let connections = 0;
  // The context for early classification is rebuilt only after CONTEXT_REFRESH more connections (building it
  // walks every recorded attempt: rebuilding it per batch cost seconds on a scan of millions of probes).
  let early: ClassifyContext | undefined;
  let earlyAt = 0;
  const hold = (c: Connection) => {
    held.push(c);
    if (held.length < maxHeld) return;
    held.sort(byId);
    const older = held.slice(0, held.length >> 1);
    held = held.slice(older.length);
    if (early === undefined || connections - earlyAt >= CONTEXT_REFRESH) {
      early = ctxb.build();
      earlyAt = connections;
    }
    tally.add(classifyResets(older, early));
    classifiedEarly += older.length;
  };
  const onConnection = (c: Connection) => {
    connections++;
    ctxb.add(c);
    if (c.resets.length === 0) return;
    withResets++;
    const lastListed = listed[listed.length - 1];
    if (listed.length < maxListed || (lastListed !== undefined && c.id < lastListed.id)) {
      let i = listed.length;
      while (i > 0 && listed[i - 1]!.id > c.id) i--;
      listed.splice(i, 0, c);
      if (listed.length > maxListed) hold(listed.pop()!);
    } else {
      hold(c);
    }
  };
  const table = new FlowTable({ maxFlows: opts.maxFlows ?? DEFAULT_MAX_FLOWS, onConnection });
  const pkt = newDecodedTcp();
  const skips: Record<string, number> = {};
  const maxTalkers = Math.max(1, opts.maxTalkers ?? DEFAULT_MAX_TALKERS);
  const senders = new BoundedCounter(maxTalkers);
  const receivers = new BoundedCounter(maxTalkers);
  const pairs = new BoundedCounter(maxTalkers);
  const names = new AddressNames();
  const perSecond = new SecondsHistogram();
  let tcp = 0;
  // First and last packet time in an object, not in two `let`s: a double stored in a closure's variable is a
  // new heap number per packet, a double field of an object is updated in place.
  const span = { first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY };
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
    if (t < span.first) span.first = t;
    if (t > span.last) span.last = t;
    const skip = decodeFrameAt(rec.linkType, rec.buf, rec.dataOffset, rec.dataOffset + rec.caplen, pkt);
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
    const v = pkt.ipVersion;
    const a = pkt.src;
    const b = pkt.dst;
    const from = names.name(v, word(a, 0), word(a, 4), word(a, 8), word(a, 12));
    const to = names.name(v, word(b, 0), word(b, 4), word(b, 8), word(b, 12));
    senders.add(from);
    receivers.add(to);
    pairs.add(`${from} → ${to}`);
    perSecond.add(rec.tsSec);
  };
  const summary = await readCapture(source, onPacket, { onProgress: opts.onProgress });
  for (const c of table.finish()) onConnection(c);

  const ctx = ctxb.build();
  // The listed connections and those still held, in id order, against the capture-wide context.
  const remaining = listed.concat(held).sort(byId);
  held = [];
  const classified = classifyResets(remaining, ctx);
  tally.add(classified);

  let drops: number | null = null;
  for (const i of summary.interfaces) {
    if (i.ifDrop !== undefined || i.osDrop !== undefined)
      drops = (drops ?? 0) + (i.ifDrop ?? 0) + (i.osDrop ?? 0);
  }

  const { first, last } = span;
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
      connectionsWithResets: withResets,
      flowsEvicted: table.stats.evicted,
      ...s,
      rstFromOrig: tally.fromOrig,
      rstFromResp: tally.resets - tally.fromOrig,
      classifiedEarly,
      topApproximate: senders.dropped + receivers.dropped + pairs.dropped + tally.groupsDropped > 0,
    },
    causes: tally.causeSummaries(),
    top: {
      senders: senders.top(top),
      receivers: receivers.top(top),
      ports: tally.topPorts(top),
      pairs: pairs.top(top),
    },
    timeline: perSecond.timeline(opts.maxBuckets ?? 600),
    findings: findings(tally.topGroups(top), ctx),
    connections: reportConnections(listed, classified),
    connectionsOmitted: withResets - listed.length,
  };
}

const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

/** One plain-language sentence per finding group, with what to do next. */
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

function findings(groups: FindingGroup[], ctx: ClassifyContext): Finding[] {
  return groups.map((g) => ({
    cause: g.first.cause,
    topic: g.first.topic,
    confidence: g.conf,
    count: g.count,
    text: sentence(g.first, g.count, g.conns, ctx),
  }));
}

/** The listed connections (already at most maxConnections, in id order) with their classified resets. */
function reportConnections(conns: Connection[], classified: ClassifiedReset[]): ReportedConnection[] {
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
  for (const c of conns) {
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
  return out;
}
