/**
 * `/metrics`: rstwatch in the Prometheus text exposition format (0.0.4), following node_exporter and
 * prom-client conventions: a `rstwatch_` prefix, `_total` on counters, `# HELP` and `# TYPE` once per
 * family with its lines together, label values escaped, and a bounded label set everywhere (no label takes
 * a value from traffic except the top-K peers/ports, capped at K = 10 plus "other"). The names are the ones
 * agreed in the project's interfaces (fleet rules depend on them), listed in docs/api.md.
 */

import { STATUS } from '../health/types.js';
import { counterGroups } from '../model/counters.js';
import type { ServerContext } from './context.js';
import type { AttributionView, RstDirection } from './types.js';

/** Fields of /proc/net/snmp `Tcp:` (RFC 4022 tcp MIB); everything else the Linux collector reads is TcpExt. */
const LINUX_TCP_FIELDS: ReadonlySet<string> = new Set([
  'RtoAlgorithm',
  'RtoMin',
  'RtoMax',
  'MaxConn',
  'ActiveOpens',
  'PassiveOpens',
  'AttemptFails',
  'EstabResets',
  'CurrEstab',
  'InSegs',
  'OutSegs',
  'RetransSegs',
  'InErrs',
  'OutRsts',
  'InCsumErrors',
]);
/** Tcp fields that are settings or current values, not counters (RFC 4022: tcpCurrEstab is a gauge). */
const LINUX_TCP_GAUGES: ReadonlySet<string> = new Set([
  'RtoAlgorithm',
  'RtoMin',
  'RtoMax',
  'MaxConn',
  'CurrEstab',
]);
/** FreeBSD counters the collector renames to Netdata's (Linux) names. */
const FREEBSD_TCP_FIELDS: ReadonlySet<string> = new Set([
  'EstabResets',
  'AttemptFails',
  'ActiveOpens',
  'PassiveOpens',
]);

export const TOP_K = 10;
/** Window of the top-K gauges. */
export const TOP_WINDOW_SECONDS = 60;

/** Escape a label value (exposition format: backslash, double quote, newline). */
export function esc(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Builds the exposition, one family at a time. */
class Exposition {
  private readonly out: string[] = [];
  family(
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    rows: [Record<string, string>, number][],
  ): void {
    if (rows.length === 0) return;
    this.out.push(
      `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
      `# TYPE ${name} ${type}`,
    );
    for (const [l, v] of rows) this.out.push(`${name}${labels(l)} ${num(v)}`);
  }
  text(): string {
    return `${this.out.join('\n')}\n`;
  }
}

/** Prometheus metric names allow [a-zA-Z0-9_:]; FreeBSD's libxo keys have dots and dashes. */
function metricSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * Cumulative reset counts by direction and kernel reason, built from the attribution's windows: each tick
 * adds the events of the seconds completed since the last (up to two seconds back, so late events are in).
 * The server ticks it once a minute and before every /metrics answer.
 * The agreed attribution interface answers windows only; this turns them into the monotonic counter
 * Prometheus wants.
 */
export class AttributedCounter {
  readonly counts = new Map<string, number>();
  private lastSecond = Number.NaN;
  /** At most this many distinct (direction, reason) series: the kernel has about 30 reset reasons. */
  private static readonly MAX_SERIES = 256;
  /** Seconds one tick may add after a gap (a stalled agent): five of the server's one-minute ticks. */
  static readonly CATCH_UP_SECONDS = 300;

  tick(attr: AttributionView, nowSec: number): void {
    const sec = nowSec - 2;
    if (!(sec > this.lastSecond)) {
      if (Number.isNaN(this.lastSecond)) this.lastSecond = sec;
      return;
    }
    // Catch up at most CATCH_UP_SECONDS: the server ticks this once a minute and at every scrape (not every
    // second: issue 2, idle cost); attribution keeps an hour, so nothing between two ticks is lost.
    const from = Math.max(this.lastSecond + 1, sec - (AttributedCounter.CATCH_UP_SECONDS - 1));
    for (let s = from; s <= sec; s++) {
      for (const direction of ['sent', 'received'] as RstDirection[]) {
        const top = attr.top({ nowSec: s, windowSeconds: 1, direction, limit: 64, only: ['reasons'] });
        let named = 0;
        for (const r of top.reasons) {
          this.add(`${direction}\u0000${r.key}`, r.count);
          named += r.count;
        }
        if (top.total > named) this.add(`${direction}\u0000other`, top.total - named);
      }
    }
    this.lastSecond = sec;
  }

  private add(key: string, n: number): void {
    if (n <= 0) return;
    if (!this.counts.has(key) && this.counts.size >= AttributedCounter.MAX_SERIES) {
      const dir = key.slice(0, key.indexOf('\u0000'));
      key = `${dir}\u0000other`;
    }
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
}

export interface MetricsExtras {
  /** HTTP requests answered, by handler and status code. */
  requests: Map<string, number>;
  connections: number;
  streamClients: number;
  apiErrors: Map<string, number>;
  attributed?: AttributedCounter;
}

function counterHelp(ctx: ServerContext): Map<string, string> {
  const m = new Map<string, string>();
  for (const g of counterGroups(ctx.os)) for (const c of g.counters) m.set(c.counter, c.meaning);
  return m;
}

function kernelCounters(ctx: ServerContext, x: Exposition): void {
  const tap = ctx.agent.counters;
  if (!tap) return;
  const netnsList = tap.netnsList();
  const names = new Set<string>();
  for (const ns of netnsList) for (const k of Object.keys(tap.latest(ns)?.counters ?? {})) names.add(k);
  const help = counterHelp(ctx);
  const linux = ctx.os === 'linux';
  for (const name of [...names].sort()) {
    const group = linux
      ? LINUX_TCP_FIELDS.has(name)
        ? 'Tcp'
        : 'TcpExt'
      : FREEBSD_TCP_FIELDS.has(name)
        ? 'Tcp'
        : 'tcp';
    const gauge = linux && LINUX_TCP_GAUGES.has(name);
    const metric = `rstwatch_netstat_${group}_${metricSafe(name)}${gauge ? '' : '_total'}`;
    const rows: [Record<string, string>, number][] = [];
    for (const ns of netnsList) {
      const v = tap.latest(ns)?.counters[name];
      if (v !== undefined) rows.push([{ netns: ns }, v]);
    }
    const source = linux
      ? group === 'Tcp'
        ? '/proc/net/snmp Tcp'
        : '/proc/net/netstat TcpExt'
      : 'FreeBSD net.inet.tcp.stats';
    x.family(
      metric,
      gauge ? 'gauge' : 'counter',
      `${source} ${name}${help.has(name) ? `: ${help.get(name)}` : ''}.`,
      rows,
    );
  }
}

function rates(ctx: ServerContext, x: Exposition): void {
  const store = ctx.agent.store;
  const rows: [Record<string, string>, number][] = [];
  for (const c of store.allCharts()) {
    if (c.instance.def.hostOnly) continue;
    const last = store.lastT(c);
    for (const s of c.series) {
      const l = { netns: c.instance.netns, chart: c.instance.fullId, dimension: s.dim.name };
      const v1 = Number.isNaN(last) ? Number.NaN : s.ring.get(last);
      let n = 0;
      let sum = 0;
      if (!Number.isNaN(last)) {
        s.ring.forEach(last - 9 * store.updateEvery, last, (_t, v) => {
          if (!Number.isFinite(v)) return;
          n++;
          sum += v;
        });
      }
      rows.push([{ ...l, window: '1s' }, v1]);
      rows.push([{ ...l, window: '10s' }, n > 0 ? sum / n : Number.NaN]);
    }
  }
  x.family(
    'rstwatch_chart_rate_per_second',
    'gauge',
    'Per-second rate of a chart dimension as rstwatch stores it: the newest second (window="1s") and the mean of the last 10 s (window="10s", what the 10s reset alerts average).',
    rows,
  );
}

function alerts(ctx: ServerContext, x: Exposition): void {
  const status: [Record<string, string>, number][] = [];
  const value: [Record<string, string>, number][] = [];
  for (const rt of ctx.agent.health.alerts) {
    const l = { alert: rt.compiled.config.name, chart: rt.chartId, netns: rt.chart.instance.netns };
    status.push([l, rt.status]);
    value.push([l, rt.value]);
  }
  x.family(
    'rstwatch_alert_status',
    'gauge',
    `Alert status with Netdata's codes: ${STATUS.REMOVED} REMOVED, ${STATUS.UNDEFINED} UNDEFINED, ${STATUS.UNINITIALIZED} UNINITIALIZED, ${STATUS.CLEAR} CLEAR, ${STATUS.WARNING} WARNING, ${STATUS.CRITICAL} CRITICAL.`,
    status,
  );
  x.family(
    'rstwatch_alert_value',
    'gauge',
    'The alert value ($this) at its last evaluation; NaN when it has none.',
    value,
  );
}

function attribution(ctx: ServerContext, x: Exposition, extras: MetricsExtras): void {
  const attr = ctx.agent.attribution;
  if (!attr) return;
  let st: ReturnType<AttributionView['status']>;
  try {
    st = attr.status();
  } catch {
    return;
  }
  x.family(
    'rstwatch_attribution_enabled',
    'gauge',
    'Whether reset attribution (kernel tracepoints) runs: 1 yes, 0 no.',
    [[{}, st.enabled ? 1 : 0]],
  );
  x.family('rstwatch_attribution_events_total', 'counter', 'Reset events read from the kernel tracepoints.', [
    [{}, st.events],
  ]);
  x.family(
    'rstwatch_attribution_lost_total',
    'counter',
    'Reset events the kernel dropped before rstwatch read them.',
    [[{}, st.lost]],
  );
  if (extras.attributed) {
    const rows: [Record<string, string>, number][] = [];
    for (const [k, v] of [...extras.attributed.counts].sort()) {
      const [direction, reason] = k.split('\u0000') as [string, string];
      rows.push([{ direction, reason }, v]);
    }
    x.family(
      'rstwatch_resets_attributed_total',
      'counter',
      'Resets seen by the tracepoints, by direction and kernel reason (sk_rst_reason; NOT_REPORTED on kernels without it).',
      rows,
    );
  }
  if (!st.enabled) return;
  const now = Math.floor(ctx.nowMs() / 1000);
  const peers: [Record<string, string>, number][] = [];
  const ports: [Record<string, string>, number][] = [];
  const reasons: [Record<string, string>, number][] = [];
  for (const direction of ['sent', 'received'] as RstDirection[]) {
    let top: ReturnType<AttributionView['top']>;
    try {
      top = attr.top({ nowSec: now, windowSeconds: TOP_WINDOW_SECONDS, direction, limit: TOP_K });
    } catch {
      continue;
    }
    const w = `${TOP_WINDOW_SECONDS / 60}m`;
    let shown = 0;
    for (const e of top.peers.slice(0, TOP_K)) {
      peers.push([{ direction, peer: e.key, window: w }, e.count]);
      shown += e.count;
    }
    peers.push([{ direction, peer: 'other', window: w }, Math.max(0, top.total - shown)]);
    shown = 0;
    for (const e of top.localPorts.slice(0, TOP_K)) {
      ports.push([{ direction, port: e.key, window: w }, e.count]);
      shown += e.count;
    }
    ports.push([{ direction, port: 'other', window: w }, Math.max(0, top.total - shown)]);
    shown = 0;
    for (const e of top.reasons.slice(0, TOP_K)) {
      reasons.push([{ direction, reason: e.key, window: w }, e.count]);
      shown += e.count;
    }
    reasons.push([{ direction, reason: 'other', window: w }, Math.max(0, top.total - shown)]);
  }
  x.family(
    'rstwatch_resets_top_peer',
    'gauge',
    `Resets in the last minute from/to the ${TOP_K} busiest peers; peer="other" is the rest.`,
    peers,
  );
  x.family(
    'rstwatch_resets_top_local_port',
    'gauge',
    `Resets in the last minute on the ${TOP_K} busiest local ports; port="other" is the rest.`,
    ports,
  );
  x.family(
    'rstwatch_resets_top_reason',
    'gauge',
    `Resets in the last minute for the ${TOP_K} most frequent kernel reasons; reason="other" is the rest.`,
    reasons,
  );
}

function agentHealth(ctx: ServerContext, x: Exposition, extras: MetricsExtras): void {
  const st = ctx.agent.sampler.stats;
  x.family('rstwatch_build_info', 'gauge', 'rstwatch build: version, Node.js version and OS; always 1.', [
    [{ version: ctx.version, node: process.version, os: ctx.os }, 1],
  ]);
  x.family('rstwatch_uptime_seconds', 'gauge', 'Seconds since the agent started sampling.', [
    [{}, ctx.agent.sampler.uptimeSeconds()],
  ]);
  x.family('rstwatch_samples_total', 'counter', 'Samples taken (every collector read once).', [
    [{}, st.samples],
  ]);
  x.family(
    'rstwatch_samples_late_total',
    'counter',
    'Samples taken more than 100 ms after their second boundary.',
    [[{}, st.late]],
  );
  x.family(
    'rstwatch_samples_missed_total',
    'counter',
    'Second boundaries with no sample (the previous one still running, or the process stopped).',
    [[{}, st.missed]],
  );
  x.family(
    'rstwatch_clock_jumps_total',
    'counter',
    'Wall-clock jumps or suspends detected (each recorded as a gap).',
    [[{}, st.clockJumps]],
  );
  const age = Number.isNaN(st.lastSampleWallMs)
    ? Number.NaN
    : Math.max(0, (ctx.nowMs() - st.lastSampleWallMs) / 1000);
  x.family(
    'rstwatch_last_sample_age_seconds',
    'gauge',
    'Seconds since the last sample; NaN before the first.',
    [[{}, age]],
  );
  x.family(
    'rstwatch_last_sample_duration_seconds',
    'gauge',
    'How long the last sample took to read and store.',
    [[{}, st.lastDurationUs / 1e6]],
  );
  const errors = new Map<string, number>();
  const add = (m: ReadonlyMap<string, number>) => {
    for (const [k, v] of m) errors.set(k, (errors.get(k) ?? 0) + v);
  };
  add(st.errors);
  add(ctx.agent.store.errors);
  add(extras.apiErrors);
  x.family(
    'rstwatch_errors_total',
    'counter',
    'Problems by stable code (docs/errors.md): collector reads, history writes, API errors.',
    [...errors].sort().map(([code, v]) => [{ code }, v]),
  );
  x.family(
    'rstwatch_http_requests_total',
    'counter',
    'API requests answered, by handler and HTTP status.',
    [...extras.requests].sort().map(([k, v]) => {
      const [handler, code] = k.split(' ') as [string, string];
      return [{ handler, code }, v];
    }),
  );
  x.family('rstwatch_http_connections', 'gauge', 'Open HTTP connections.', [[{}, extras.connections]]);
  x.family('rstwatch_stream_clients', 'gauge', 'Dashboards connected to the event stream.', [
    [{}, extras.streamClients],
  ]);
}

/** The families that change at most once a sample and once a second (the server caches this part). */
export function renderStable(ctx: ServerContext, extras: MetricsExtras): string {
  const x = new Exposition();
  kernelCounters(ctx, x);
  rates(ctx, x);
  alerts(ctx, x);
  attribution(ctx, x, extras);
  return x.text();
}

/** The families that change with every request (ages, request counts, connections). */
export function renderLive(ctx: ServerContext, extras: MetricsExtras): string {
  const x = new Exposition();
  agentHealth(ctx, x, extras);
  return x.text();
}

/** The whole /metrics page. */
export function renderMetrics(ctx: ServerContext, extras: MetricsExtras): string {
  return renderLive(ctx, extras) + renderStable(ctx, extras);
}

/**
 * /metrics with the stable part rendered once per (sample, second): scrapes within the same second cost
 * a string join. Keyed by the sample count and the wall-clock second.
 */
export class MetricsCache {
  private key = '';
  private stable = Buffer.alloc(0);
  /** The page as two buffers (live, then the cached stable part): no copy of the big part per scrape. */
  render(ctx: ServerContext, extras: MetricsExtras): [Buffer, Buffer] {
    const key = `${ctx.agent.sampler.stats.samples}|${Math.floor(ctx.nowMs() / 1000)}`;
    if (key !== this.key) {
      this.stable = Buffer.from(renderStable(ctx, extras), 'utf8');
      this.key = key;
    }
    return [Buffer.from(renderLive(ctx, extras), 'utf8'), this.stable];
  }
}
