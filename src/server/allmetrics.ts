/**
 * Netdata's `/api/v1/allmetrics?format=prometheus|prometheus_all_hosts|json|shell` (api_v1_allmetrics.c,
 * exporting/prometheus; §4 of the semantics doc), over rstwatch's charts:
 *
 * - source=average (default): the average of each dimension since this scraper's previous request
 *   (scrapers are told apart by `server`, else by their address; the first request averages everything the
 *   ring holds), named `<prefix>_<context>_<units>_average` with `/s` → `_persec`, `%` → `_percent`;
 * - source=as-collected: the raw collected value, `<prefix>_<context>_total` (TYPE counter) for
 *   incremental dimensions and `<prefix>_<context>` (gauge) for absolute ones;
 * - source=sum: the average × the seconds averaged over (what the counter moved by), `_sum` suffix;
 * - labels `chart`, `family`, `dimension` (the name; the id with `names=no`), `timestamps=no` drops the
 *   millisecond timestamps, `types=yes` / `help=yes` add `# TYPE` / `# COMMENT` lines, `filter` keeps the
 *   charts whose id matches a simple pattern; shell and json formats print the same averages.
 *
 * Alert statuses are not part of Netdata's Prometheus output (§4); the shell format lists them at the end,
 * as Netdata's does. rstwatch's own metrics (alerts included) are on /metrics.
 */

import { compileDimensionPattern, patternMatch } from '../health/lookup.js';
import { statusName } from '../health/types.js';
import type { ChartEntry, Series } from '../store/store.js';
import { nowSec, type ServerContext } from './context.js';
import { fmtNumber } from './data-format.js';
import { ApiError, type Query } from './http.js';

const MAX_SCRAPERS = 64;

function metricPart(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Netdata's unit conversion for metric names: `/s` → `_persec`, `%` → `_percent`. */
export function unitsSuffix(units: string): string {
  return metricPart(units.replace(/\/s$/, '_persec').replace(/%/g, '_percent')).toLowerCase();
}

function labelValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

type Source = 'average' | 'as-collected' | 'sum';

interface Sample {
  chart: ChartEntry;
  series: Series;
  value: number;
  /** Seconds the value averages over (sum = value × seconds). */
  seconds: number;
}

/** Remembers when each scraper last asked, so each gets the average since then (Netdata's `server`). */
export class ScraperMemory {
  private readonly last = new Map<string, number>();
  /** Previous scrape time (epoch s) of this scraper, and remember `now` as its new one. */
  swap(key: string, now: number): number | undefined {
    const prev = this.last.get(key);
    this.last.delete(key);
    if (this.last.size >= MAX_SCRAPERS) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    this.last.set(key, now);
    return prev;
  }
}

function selectedCharts(ctx: ServerContext, q: Query): ChartEntry[] {
  const filter = q.get('filter');
  const words = filter ? compileDimensionPattern(filter.replace(/ /g, '|')) : null;
  return ctx.agent.store.allCharts().filter((c) => {
    if (words === null) return true;
    return c.instance.names.some((n) => patternMatch(words, n) === 1);
  });
}

function samples(
  ctx: ServerContext,
  charts: ChartEntry[],
  source: Source,
  since: number | undefined,
): Sample[] {
  const store = ctx.agent.store;
  const ue = store.updateEvery;
  const out: Sample[] = [];
  for (const chart of charts) {
    const last = store.lastT(chart);
    for (const s of chart.series) {
      if (source === 'as-collected') {
        out.push({ chart, series: s, value: s.lastRaw, seconds: ue });
        continue;
      }
      if (Number.isNaN(last)) {
        out.push({ chart, series: s, value: Number.NaN, seconds: 0 });
        continue;
      }
      const from = since === undefined ? s.ring.firstT : Math.max(since + ue, s.ring.firstT);
      const to = Math.max(last, from);
      let n = 0;
      let sum = 0;
      s.ring.forEach(from, to, (_t, v) => {
        if (!Number.isFinite(v)) return;
        n++;
        sum += v;
      });
      const value = n > 0 ? sum / n : Number.NaN;
      out.push({ chart, series: s, value, seconds: n * ue });
    }
  }
  return out;
}

function parseSource(q: Query): Source {
  const s = (q.get('source', 'data') ?? 'average').toLowerCase();
  if (s === 'average' || s === 'as-collected' || s === 'sum') return s;
  if (s === 'as collected' || s === 'raw') return 'as-collected';
  throw new ApiError(
    400,
    'E_API_PARAM',
    `source: expected average, as-collected or sum, got ${JSON.stringify(s)}`,
  );
}

function yes(q: Query, name: string, def: boolean): boolean {
  const v = q.get(name);
  if (v === undefined || v === '') return def;
  return v === 'yes' || v === '1' || v === 'true';
}

function prometheus(ctx: ServerContext, q: Query, list: Sample[], source: Source, allHosts: boolean): string {
  const prefix = metricPart(q.get('prefix') ?? 'netdata');
  const names = yes(q, 'names', true);
  const timestamps = yes(q, 'timestamps', true);
  const types = yes(q, 'types', false);
  const help = yes(q, 'help', false);
  const nowMs = ctx.nowMs();
  const lines: string[] = [];
  const inst = allHosts ? `instance="${labelValue(ctx.hostname)}",` : '';
  lines.push(
    `${prefix}_info{instance="${labelValue(ctx.hostname)}",application="rstwatch",version="v${labelValue(ctx.version)}"} 1${timestamps ? ` ${nowMs}` : ''}`,
  );
  const typed = new Set<string>();
  for (const x of list) {
    const def = x.chart.instance.def;
    const ctxName = metricPart(def.context);
    let name: string;
    let type: 'gauge' | 'counter';
    let value = x.value;
    if (source === 'as-collected') {
      const incremental = x.series.dim.algorithm === 'incremental';
      name = incremental ? `${prefix}_${ctxName}_total` : `${prefix}_${ctxName}`;
      type = incremental ? 'counter' : 'gauge';
    } else if (source === 'sum') {
      name = `${prefix}_${ctxName}_${unitsSuffix(def.units)}_sum`;
      type = 'gauge';
      value = x.value * x.seconds;
    } else {
      name = `${prefix}_${ctxName}_${unitsSuffix(def.units)}_average`;
      type = 'gauge';
    }
    if (!Number.isFinite(value)) continue;
    if (!typed.has(name)) {
      typed.add(name);
      if (help)
        lines.push(`# COMMENT ${name}: chart "${x.chart.instance.fullId}", units "${def.units}", ${type}`);
      if (types) lines.push(`# TYPE ${name} ${type}`);
    }
    const dim = names ? x.series.dim.name : x.series.dim.id;
    const ts = timestamps ? ` ${(x.chart.lastCollectedT || Math.floor(nowMs / 1000)) * 1000}` : '';
    lines.push(
      `${name}{${inst}chart="${labelValue(x.chart.instance.fullId)}",family="${labelValue(def.family)}",dimension="${labelValue(dim)}"} ${fmtNumber(value)}${ts}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function json(list: Sample[]): Record<string, unknown> {
  const out: Record<
    string,
    {
      name: string;
      family: string;
      context: string;
      units: string;
      last_updated: number;
      dimensions: Record<string, { name: string; value: number }>;
    }
  > = {};
  for (const x of list) {
    const id = x.chart.instance.fullId;
    const def = x.chart.instance.def;
    out[id] ??= {
      name: id,
      family: def.family,
      context: def.context,
      units: def.units,
      last_updated: Number.isNaN(x.chart.lastCollectedT) ? 0 : x.chart.lastCollectedT,
      dimensions: {},
    };
    out[id].dimensions[x.series.dim.id] = { name: x.series.dim.name, value: x.value };
  }
  return out;
}

function shellName(s: string): string {
  return s.replace(/[^A-Za-z0-9]/g, '_').toUpperCase();
}

function shell(ctx: ServerContext, list: Sample[], prefix: string): string {
  const lines: string[] = [];
  let current: ChartEntry | undefined;
  let total = 0;
  const flush = () => {
    if (!current) return;
    lines.push(
      `${prefix}_${shellName(current.instance.fullId)}_VISIBLETOTAL="${fmtNumber(Math.round(total))}"      # ${current.instance.def.units}`,
      '',
    );
  };
  for (const x of list) {
    if (x.chart !== current) {
      flush();
      current = x.chart;
      total = 0;
      lines.push(`# chart: ${x.chart.instance.fullId} (name: ${x.chart.instance.fullId})`);
    }
    const v = Number.isFinite(x.value) ? Math.round(x.value) : 0;
    total += v;
    lines.push(
      `${prefix}_${shellName(x.chart.instance.fullId)}_${shellName(x.series.dim.name)}="${fmtNumber(v)}"      # ${x.chart.instance.def.units}`,
    );
  }
  flush();
  lines.push(`# ${prefix} ALARMS RUNNING`);
  for (const rt of ctx.agent.health.alerts) {
    const base = `${prefix}_ALARM_${shellName(rt.chartId)}_${shellName(rt.compiled.config.name)}`;
    const v = Number.isFinite(rt.value) ? Math.round(rt.value) : 0;
    lines.push(
      `${base}_VALUE="${fmtNumber(v)}"      # ${rt.compiled.config.units ?? rt.chart.instance.def.units}`,
    );
    lines.push(`${base}_STATUS="${statusName(rt.status)}"`);
  }
  return `${lines.join('\n')}\n`;
}

export interface AllmetricsAnswer {
  contentType: string;
  body: string | Record<string, unknown>;
}

export function allmetrics(
  ctx: ServerContext,
  q: Query,
  memory: ScraperMemory,
  client: string,
): AllmetricsAnswer {
  const format = (q.get('format') ?? 'shell').toLowerCase();
  const source = parseSource(q);
  const charts = selectedCharts(ctx, q);
  const key = q.get('server') ?? client;
  const since =
    format.startsWith('prometheus') && source !== 'as-collected' ? memory.swap(key, nowSec(ctx)) : undefined;
  const list = samples(ctx, charts, source, since);
  switch (format) {
    case 'prometheus':
    case 'prometheus_all_hosts':
      return {
        contentType: 'text/plain; version=0.0.4; charset=utf-8',
        body: prometheus(ctx, q, list, source, format === 'prometheus_all_hosts'),
      };
    case 'json':
      return { contentType: 'application/json; charset=utf-8', body: json(list) };
    case 'shell':
      return { contentType: 'text/plain; charset=utf-8', body: shell(ctx, list, 'NETDATA') };
    default:
      throw new ApiError(
        400,
        'E_API_PARAM',
        `format: expected prometheus, prometheus_all_hosts, json or shell, got ${JSON.stringify(format)}`,
      );
  }
}
