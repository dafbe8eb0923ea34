/**
 * What the report says about the classified resets: one plain-language finding per group of resets with the
 * same cause and actors (with what to do next), and the listed connections with their resets and evidence.
 */

import type { FindingGroup, GroupFirst } from './aggregate.js';
import { type ClassifiedReset, type ClassifyContext, fmtEp } from './causes.js';
import type { Finding, ReportedConnection } from './report-types.js';
import type { Connection } from './types.js';

/**
 * 68793 → "68,793": what toLocaleString('en-US') gives for a count, without waking ICU's locale data
 * (~50 ms on the first call, for a handful of sentences).
 */
const n = (x: number) =>
  Number.isSafeInteger(x) && x >= 0
    ? String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
    : x.toLocaleString('en-US');
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

/** One plain-language sentence per finding group, with what to do next. */
function sentence(r: GroupFirst, count: number, conns: number, ctx: ClassifyContext): string {
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
      return `\`${svc}\` reset ${plural(conns, 'connection')} its listen/accept queue could not take (SYN-ACK retransmissions, or a bare RST to the handshake with tcp_abort_on_overflow=1): raise the backlog (\`net.core.somaxconn\`, the listen() backlog) and make the application accept faster ${see}`;
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

export function findings(groups: FindingGroup[], ctx: ClassifyContext): Finding[] {
  return groups.map((g) => ({
    cause: g.first.cause,
    topic: g.first.topic,
    confidence: g.conf,
    count: g.count,
    text: sentence(g.first, g.count, g.conns, ctx),
  }));
}

/** The listed connections (already at most maxConnections, in id order) with their classified resets. */
export function reportConnections(conns: Connection[], classified: ClassifiedReset[]): ReportedConnection[] {
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
