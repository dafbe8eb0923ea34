/**
 * Charts like Netdata's, so that Netdata health configurations bind to rstwatch unchanged.
 *
 * Ids, dimension ids and names, units and algorithms follow Netdata's proc.plugin (proc_net_netstat.c) and
 * freebsd.plugin (freebsd_sysctl.c) as described in shared/design/netdata-health-semantics.md §1.3; the
 * `rstwatch.*` charts are ours. A dimension names the collector counter(s) it is built from; a dimension
 * whose counters this kernel does not report is simply absent from the chart.
 *
 * Namespaces: the host's charts have Netdata's ids (`ip.tcphandshake`). Another namespace gets the same
 * charts under the type `netns_<label>` (`netns_web.tcphandshake`) with the same context
 * (`ip.tcphandshake`) and a `netns` chart label, the way Netdata gives each cgroup its own charts: `alarm:`
 * lines bind to the host chart by id, `template:` lines bind to every namespace by context.
 */

export type Os = 'linux' | 'freebsd';
export type Algorithm = 'incremental' | 'absolute';

export interface DimensionDef {
  id: string;
  name: string;
  /** Counter name(s) in CollectResult.counters; several are summed (FreeBSD's InErrs). */
  counters: readonly string[];
  algorithm: Algorithm;
  multiplier: number;
  divisor: number;
}

export interface ChartDef {
  /** Netdata's `type.id` split: type `ip`, id `tcphandshake`. */
  type: string;
  id: string;
  /** Other full ids that `on:` lines may use for this chart (older Netdata names). */
  aliases: readonly string[];
  family: string;
  context: string;
  title: string;
  units: string;
  priority: number;
  plugin: string;
  module: string;
  chartType: 'line' | 'area' | 'stacked';
  dimensions: readonly DimensionDef[];
  /** Only for the host namespace (agent-wide charts such as netdata.uptime). */
  hostOnly?: boolean;
}

function inc(id: string, name: string, counters: string | readonly string[]): DimensionDef {
  return {
    id,
    name,
    counters: typeof counters === 'string' ? [counters] : counters,
    algorithm: 'incremental',
    multiplier: 1,
    divisor: 1,
  };
}

const LINUX_CHARTS: readonly ChartDef[] = [
  {
    type: 'ip',
    id: 'tcphandshake',
    aliases: ['ipv4.tcphandshake'],
    family: 'tcp',
    context: 'ip.tcphandshake',
    title: 'TCP Handshake Issues',
    units: 'events/s',
    priority: 4900,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('EstabResets', 'EstabResets', 'EstabResets'),
      inc('OutRsts', 'OutRsts', 'OutRsts'),
      inc('AttemptFails', 'AttemptFails', 'AttemptFails'),
      inc('TCPSynRetrans', 'SynRetrans', 'TCPSynRetrans'),
    ],
  },
  {
    type: 'ip',
    id: 'tcpopens',
    aliases: ['ipv4.tcpopens'],
    family: 'tcp',
    context: 'ip.tcpopens',
    title: 'TCP Opens',
    units: 'connections/s',
    priority: 4901,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [inc('ActiveOpens', 'active', 'ActiveOpens'), inc('PassiveOpens', 'passive', 'PassiveOpens')],
  },
  {
    type: 'ip',
    id: 'tcperrors',
    aliases: ['ipv4.tcperrors'],
    family: 'tcp',
    context: 'ip.tcperrors',
    title: 'TCP Errors',
    units: 'packets/s',
    priority: 4902,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('InErrs', 'InErrs', 'InErrs'),
      inc('InCsumErrors', 'InCsumErrors', 'InCsumErrors'),
      inc('RetransSegs', 'RetransSegs', 'RetransSegs'),
    ],
  },
  {
    type: 'ip',
    id: 'tcpconnaborts',
    aliases: ['ipv4.tcpconnaborts'],
    family: 'tcp',
    context: 'ip.tcpconnaborts',
    title: 'TCP Connection Aborts',
    units: 'connections/s',
    priority: 4903,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('TCPAbortOnData', 'baddata', 'TCPAbortOnData'),
      inc('TCPAbortOnClose', 'userclosed', 'TCPAbortOnClose'),
      inc('TCPAbortOnMemory', 'nomemory', 'TCPAbortOnMemory'),
      inc('TCPAbortOnTimeout', 'timeout', 'TCPAbortOnTimeout'),
      inc('TCPAbortOnLinger', 'linger', 'TCPAbortOnLinger'),
      inc('TCPAbortFailed', 'failed', 'TCPAbortFailed'),
    ],
  },
  {
    type: 'ip',
    id: 'tcp_accept_queue',
    aliases: ['ipv4.tcp_accept_queue'],
    family: 'tcp',
    context: 'ip.tcp_accept_queue',
    title: 'TCP Accept Queue Issues',
    units: 'packets/s',
    priority: 4904,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('ListenOverflows', 'overflows', 'ListenOverflows'),
      inc('ListenDrops', 'drops', 'ListenDrops'),
    ],
  },
  {
    type: 'ip',
    id: 'tcp_syn_queue',
    aliases: ['ipv4.tcp_syn_queue'],
    family: 'tcp',
    context: 'ip.tcp_syn_queue',
    title: 'TCP SYN Queue Issues',
    units: 'packets/s',
    priority: 4905,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('TCPReqQFullDrop', 'drops', 'TCPReqQFullDrop'),
      inc('TCPReqQFullDoCookies', 'cookies', 'TCPReqQFullDoCookies'),
      inc('EmbryonicRsts', 'embryonic_rsts', 'EmbryonicRsts'),
    ],
  },
  {
    type: 'ip',
    id: 'tcp_syncookies',
    aliases: ['ipv4.tcp_syncookies'],
    family: 'tcp',
    context: 'ip.tcp_syncookies',
    title: 'TCP SYN Cookies',
    units: 'packets/s',
    priority: 4906,
    plugin: 'proc',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('SyncookiesRecv', 'received', 'SyncookiesRecv'),
      inc('SyncookiesSent', 'sent', 'SyncookiesSent'),
      inc('SyncookiesFailed', 'failed', 'SyncookiesFailed'),
    ],
  },
  {
    type: 'rstwatch',
    id: 'tcp_challenge_acks',
    aliases: [],
    family: 'tcp',
    context: 'rstwatch.tcp_challenge_acks',
    title: 'TCP Challenge ACKs (RFC 5961)',
    units: 'packets/s',
    priority: 4907,
    plugin: 'rstwatch',
    module: '/proc/net/netstat',
    chartType: 'line',
    dimensions: [
      inc('TCPChallengeACK', 'sent', 'TCPChallengeACK'),
      inc('TCPSYNChallenge', 'syn', 'TCPSYNChallenge'),
      inc('TCPACKSkippedChallenge', 'skipped', 'TCPACKSkippedChallenge'),
    ],
  },
];

/**
 * FreeBSD: Netdata's ipv4.tcphandshake mapping (freebsd_sysctl.c): EstabResets ← tcps_drops, ActiveOpens ←
 * tcps_connattempt, PassiveOpens ← tcps_accepts, AttemptFails ← tcps_conndrops. The collector already
 * renames those four; the other counters keep their libxo key names.
 */
const FREEBSD_CHARTS: readonly ChartDef[] = [
  {
    type: 'ip',
    id: 'tcphandshake',
    aliases: ['ipv4.tcphandshake'],
    family: 'tcp',
    context: 'ip.tcphandshake',
    title: 'TCP Handshake Issues',
    units: 'events/s',
    priority: 4900,
    plugin: 'freebsd',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    dimensions: [
      inc('EstabResets', 'EstabResets', 'EstabResets'),
      inc('ActiveOpens', 'ActiveOpens', 'ActiveOpens'),
      inc('PassiveOpens', 'PassiveOpens', 'PassiveOpens'),
      inc('AttemptFails', 'AttemptFails', 'AttemptFails'),
    ],
  },
  {
    type: 'ip',
    id: 'tcpopens',
    aliases: ['ipv4.tcpopens'],
    family: 'tcp',
    context: 'ip.tcpopens',
    title: 'TCP Opens',
    units: 'connections/s',
    priority: 4901,
    plugin: 'freebsd',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    dimensions: [inc('ActiveOpens', 'active', 'ActiveOpens'), inc('PassiveOpens', 'passive', 'PassiveOpens')],
  },
  {
    type: 'ip',
    id: 'tcperrors',
    aliases: ['ipv4.tcperrors'],
    family: 'tcp',
    context: 'ip.tcperrors',
    title: 'TCP Errors',
    units: 'packets/s',
    priority: 4902,
    plugin: 'freebsd',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    // Netdata's FreeBSD InErrs: bad offset + reassembly queue full + too short.
    dimensions: [
      inc('InErrs', 'InErrs', [
        'discard-bad-header-offset',
        'discard-reassembly-queue-full',
        'discard-too-short',
      ]),
      inc('InCsumErrors', 'InCsumErrors', 'discard-bad-checksum'),
      inc('RetransSegs', 'RetransSegs', 'sent-retransmitted-packets'),
    ],
  },
  {
    type: 'ip',
    id: 'tcp_accept_queue',
    aliases: ['ipv4.tcplistenissues'],
    family: 'tcp',
    context: 'ip.tcp_accept_queue',
    title: 'TCP Accept Queue Issues',
    units: 'packets/s',
    priority: 4904,
    plugin: 'freebsd',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    dimensions: [inc('ListenOverflows', 'overflows', 'listen-queue-overflows')],
  },
  {
    type: 'ip',
    id: 'tcp_syncookies',
    aliases: ['ipv4.tcpsyncookies'],
    family: 'tcp',
    context: 'ip.tcp_syncookies',
    title: 'TCP SYN Cookies',
    units: 'packets/s',
    priority: 4906,
    plugin: 'freebsd',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    dimensions: [
      inc('SyncookiesRecv', 'received', 'syncache.receivd-cookies'),
      inc('SyncookiesSent', 'sent', 'syncache.sent-cookies'),
    ],
  },
  {
    type: 'rstwatch',
    id: 'tcp_freebsd_resets',
    aliases: [],
    family: 'tcp',
    context: 'rstwatch.tcp_freebsd_resets',
    title: 'TCP Reset Handling (FreeBSD)',
    units: 'events/s',
    priority: 4907,
    plugin: 'rstwatch',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    dimensions: [
      inc('ignored_in_window_resets', 'ignored_in_window', 'ignored-in-window-resets'),
      inc('syncache_reset', 'syncache_reset', 'syncache.reset'),
      inc('received_after_close', 'after_close', 'received-after-close-packets'),
      inc('bad_connection_attempts', 'bad_syn', 'bad-connection-attempts'),
      inc('sent_control_packets', 'control_sent', 'sent-control-packets'),
    ],
  },
  {
    type: 'rstwatch',
    id: 'tcp_freebsd_drops',
    aliases: [],
    family: 'tcp',
    context: 'rstwatch.tcp_freebsd_drops',
    title: 'TCP Connections Dropped by Timer (FreeBSD)',
    units: 'connections/s',
    priority: 4908,
    plugin: 'rstwatch',
    module: 'net.inet.tcp.stats',
    chartType: 'line',
    dimensions: [
      inc('retransmit_timeout', 'timeout', 'connections-dropped-by-retransmit-timeout'),
      inc('keepalive', 'keepalive', 'connections-dropped-by-keepalives'),
      inc('persist_timeout', 'persist', 'connections-dropped-by-persist-timeout'),
      inc('finwait2_timeout', 'finwait2', 'connections-dropped-by-finwait2-timeout'),
    ],
  },
];

/** netdata.uptime: `$netdata.uptime.uptime` (seconds the agent has run) guards the reset alerts. */
export const UPTIME_CHART: ChartDef = {
  type: 'netdata',
  id: 'uptime',
  aliases: [],
  family: 'uptime',
  context: 'netdata.uptime',
  title: 'rstwatch agent uptime',
  units: 'seconds',
  priority: 130150,
  plugin: 'rstwatch',
  module: 'agent',
  chartType: 'line',
  hostOnly: true,
  dimensions: [
    { id: 'uptime', name: 'uptime', counters: ['uptime'], algorithm: 'absolute', multiplier: 1, divisor: 1 },
  ],
};

export function chartDefs(os: Os): readonly ChartDef[] {
  return os === 'linux' ? LINUX_CHARTS : FREEBSD_CHARTS;
}

/** A chart as instantiated for one namespace. */
export interface ChartInstance {
  /** Full id: `ip.tcphandshake` on the host, `netns_<label>.tcphandshake` elsewhere. */
  fullId: string;
  netns: string;
  def: ChartDef;
  /** Full ids by which `on:` may name it (fullId plus aliases, host only). */
  names: readonly string[];
  labels: Record<string, string>;
}

/** Namespace labels become part of chart ids: keep [A-Za-z0-9_] (Netdata sanitises ids the same way). */
export function sanitizeId(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}

export function instantiate(def: ChartDef, netns: string): ChartInstance {
  const host = netns === 'host';
  const type = host ? def.type : `netns_${sanitizeId(netns)}`;
  const fullId = `${type}.${def.id}`;
  return {
    fullId,
    netns,
    def,
    names: host ? [fullId, ...def.aliases] : [fullId],
    labels: { netns, source: def.plugin },
  };
}

/** The value of a dimension from a counter set: the sum of its counters, or undefined if any is missing. */
export function dimensionInput(
  dim: DimensionDef,
  counters: Readonly<Record<string, number>>,
): number | undefined {
  let sum = 0;
  for (const c of dim.counters) {
    const v = counters[c];
    if (v === undefined) return undefined;
    sum += v;
  }
  return (sum * dim.multiplier) / dim.divisor;
}
