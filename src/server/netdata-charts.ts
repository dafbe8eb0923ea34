/**
 * Netdata's `/api/v1/info`, `/api/v1/charts` and `/api/v1/chart`: the same keys and JSON types as Netdata
 * (field lists taken from Debian's netdata 1.37 answering on the same host; see test/unit/server-shapes and
 * the live comparison in test/e2e/api-netdata.test.ts). Values describe rstwatch's charts (src/model/charts.ts).
 */

import { readFileSync } from 'node:fs';
import { arch, cpus, release, totalmem, type } from 'node:os';
import { statusName } from '../health/types.js';
import type { ChartEntry } from '../store/store.js';
import type { ServerContext } from './context.js';
import { ApiError, type Query } from './http.js';

/** Netdata names its plugins `proc.plugin`, `freebsd.plugin`; ours keep their own name. */
function pluginName(plugin: string): string {
  return plugin === 'proc' || plugin === 'freebsd' ? `${plugin}.plugin` : plugin;
}

function osRelease(): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const line of readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line.trim());
      if (m) out[m[1]!] = m[3]!;
    }
  } catch {
    // not every system has it (FreeBSD before 13): the fields stay empty, as Netdata leaves them
  }
  return out;
}

/** A machine id as a UUID (Netdata's `uid`): /etc/machine-id when present. */
function machineGuid(): string {
  let hex = '';
  try {
    hex = readFileSync('/etc/machine-id', 'utf8').trim().toLowerCase();
  } catch {
    // keep the zero UUID
  }
  if (!/^[0-9a-f]{32}$/.test(hex)) hex = '0'.repeat(32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let hostFacts: { guid: string; release: Record<string, string> } | undefined;

function facts(): { guid: string; release: Record<string, string> } {
  hostFacts ??= { guid: machineGuid(), release: osRelease() };
  return hostFacts;
}

function alarmCounts(ctx: ServerContext): { normal: number; warning: number; critical: number } {
  const c = { normal: 0, warning: 0, critical: 0 };
  for (const rt of ctx.agent.health.alerts) {
    const s = statusName(rt.status);
    if (s === 'WARNING') c.warning++;
    else if (s === 'CRITICAL') c.critical++;
    else if (s === 'CLEAR') c.normal++;
  }
  return c;
}

/** `/api/v1/info`. */
export function info(ctx: ServerContext): Record<string, unknown> {
  const f = facts();
  const r = f.release;
  const store = ctx.agent.store;
  const charts = store.allCharts();
  const collectors = new Map<string, { plugin: string; module: string }>();
  for (const c of charts) {
    const p = { plugin: pluginName(c.instance.def.plugin), module: c.instance.def.module };
    collectors.set(`${p.plugin}\u0000${p.module}`, p);
  }
  return {
    version: `v${ctx.version}`,
    uid: f.guid,
    mirrored_hosts: [ctx.hostname],
    mirrored_hosts_status: [
      { guid: f.guid, hostname: ctx.hostname, reachable: true, hops: 0, claim_id: null, node_id: null },
    ],
    alarms: alarmCounts(ctx),
    os_name: r.NAME ?? '',
    os_id: r.ID ?? '',
    os_id_like: r.ID_LIKE ?? '',
    os_version: r.VERSION ?? '',
    os_version_id: r.VERSION_ID ?? '',
    os_detection: r.NAME ? '/etc/os-release' : '',
    cores_total: String(cpus().length),
    total_disk_space: '',
    cpu_freq: '',
    ram_total: String(totalmem()),
    kernel_name: type(),
    kernel_version: release(),
    architecture: arch(),
    virtualization: '',
    virt_detection: '',
    container: '',
    container_detection: '',
    host_labels: { _os: ctx.os, _hostname: ctx.hostname },
    functions: {},
    collectors: [...collectors.values()],
    'cloud-enabled': false,
    'cloud-available': false,
    'agent-claimed': false,
    'aclk-available': false,
    'memory-mode': ctx.agent.db ? 'dbengine' : 'ram',
    'multidb-disk-quota': 0,
    'page-cache-size': 0,
    'stream-enabled': false,
    'stream-compression': null,
    'hosts-available': 1,
    'https-enabled': false,
    buildinfo: 'rstwatch',
    'release-channel': 'stable',
    'web-enabled': true,
    'notification-methods': null,
    'exporting-enabled': null,
    'exporting-connectors': null,
    'allmetrics-prometheus-used': null,
    'allmetrics-shell-used': null,
    'allmetrics-json-used': null,
    'dashboard-used': null,
    'charts-count': charts.length,
    'metrics-count': charts.reduce((n, c) => n + c.series.length, 0),
    // Ours, beyond Netdata's keys: which program answers.
    application: 'rstwatch',
  };
}

/** One chart object, as in `/api/v1/charts` and `/api/v1/chart`. */
export function chartJson(ctx: ServerContext, entry: ChartEntry): Record<string, unknown> {
  const store = ctx.agent.store;
  const def = entry.instance.def;
  const id = entry.instance.fullId;
  const first = store.firstT(entry);
  const last = store.lastT(entry);
  const dimensions: Record<string, { name: string }> = {};
  for (const s of entry.series) dimensions[s.dim.id] = { name: s.dim.name };
  const alarms: Record<string, { id: number; status: string; units: string; update_every: number }> = {};
  for (const rt of ctx.agent.health.alerts) {
    if (rt.chart !== entry) continue;
    const cfg = rt.compiled.config;
    alarms[cfg.name] = {
      id: rt.alarmId,
      status: statusName(rt.status),
      units: cfg.units ?? def.units,
      update_every: cfg.every,
    };
  }
  const hasData = !Number.isNaN(first) && !Number.isNaN(last);
  return {
    id,
    name: id,
    type: id.slice(0, id.indexOf('.')),
    family: def.family,
    context: def.context,
    title: `${def.title} (${id})`,
    priority: def.priority,
    plugin: pluginName(def.plugin),
    module: def.module,
    units: def.units,
    data_url: `/api/v1/data?chart=${id}`,
    chart_type: def.chartType,
    duration: hasData ? last - first + store.updateEvery : 0,
    first_entry: hasData ? first : 0,
    last_entry: hasData ? last : 0,
    update_every: store.updateEvery,
    dimensions,
    chart_variables: {},
    green: null,
    red: null,
    alarms,
    chart_labels: {
      ...entry.instance.labels,
      _collect_plugin: pluginName(def.plugin),
      _collect_module: def.module,
    },
    functions: {},
  };
}

/** `/api/v1/charts`. */
export function charts(ctx: ServerContext): Record<string, unknown> {
  const store = ctx.agent.store;
  const all = store.allCharts();
  const out: Record<string, unknown> = {};
  let dims = 0;
  for (const c of all) {
    out[c.instance.fullId] = chartJson(ctx, c);
    dims += c.series.length;
  }
  let oldest = Number.NaN;
  for (const c of all) {
    const f = store.firstT(c);
    if (!(f >= oldest)) oldest = f;
  }
  let ringBytes = 0;
  for (const c of all) for (const s of c.series) ringBytes += s.ring.capacity * 8;
  return {
    hostname: ctx.hostname,
    version: `v${ctx.version}`,
    release_channel: 'stable',
    os: ctx.os,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
    update_every: store.updateEvery,
    history: Number.isNaN(oldest) ? 0 : Math.floor(ctx.nowMs() / 1000) - oldest,
    memory_mode: ctx.agent.db ? 'dbengine' : 'ram',
    custom_info: '',
    charts: out,
    charts_count: all.length,
    dimensions_count: dims,
    alarms_count: ctx.agent.health.alerts.length,
    rrd_memory_bytes: ringBytes,
    hosts_count: 1,
    hosts: [{ hostname: ctx.hostname }],
  };
}

/** Find a chart by `chart` (id or alias); 400 when none is given, 404 when unknown (Netdata's statuses). */
export function requireChart(ctx: ServerContext, q: Query): ChartEntry {
  const name = q.get('chart');
  if (name === undefined || name === '') {
    throw new ApiError(400, 'E_API_PARAM', 'chart: no chart given (chart=ip.tcphandshake)');
  }
  const entry = ctx.agent.store.chart(name);
  if (!entry) throw new ApiError(404, 'E_API_CHART_NOT_FOUND', `chart ${JSON.stringify(name)} is not found`);
  return entry;
}

/** `/api/v1/chart?chart=`. */
export function chart(ctx: ServerContext, q: Query): Record<string, unknown> {
  return chartJson(ctx, requireChart(ctx, q));
}
