/**
 * The `/api/v1/data` endpoint: parameters → DataRequest (data-query.ts) → formatted body (data-format.ts),
 * with Netdata's `jsonwrap` envelope (the 1.37 keys).
 */

import { API_RELATIVE_TIME_MAX } from '../health/lookup.js';
import type { ChartEntry } from '../store/store.js';
import { nowSec, type ServerContext } from './context.js';
import { CONTENT_TYPES, formatResult, minMax, parseFormat } from './data-format.js';
import { parseGroup, parseOptions } from './data-options.js';
import { type DataRequest, runDataQuery } from './data-query.js';
import type { HistoryReader } from './history-read.js';
import { ApiError, type Query, toJson } from './http.js';

export interface Answer {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

const MAX_TIME = 100 * 365 * 86400 * 10;

function charts(ctx: ServerContext, q: Query): ChartEntry[] {
  const chart = q.get('chart');
  const context = q.get('context');
  const store = ctx.agent.store;
  if (chart !== undefined && chart !== '') {
    const e = store.chart(chart);
    if (!e) throw new ApiError(404, 'E_API_CHART_NOT_FOUND', `chart ${JSON.stringify(chart)} is not found`);
    return [e];
  }
  if (context !== undefined && context !== '') {
    const list = store.allCharts().filter((c) => c.instance.def.context === context);
    if (list.length === 0) {
      throw new ApiError(404, 'E_API_CHART_NOT_FOUND', `no chart has the context ${JSON.stringify(context)}`);
    }
    return list;
  }
  throw new ApiError(400, 'E_API_PARAM', 'chart: no chart or context given (chart=ip.tcphandshake)');
}

/** A safe file name for Content-Disposition (Netdata's `filename`). */
function dispositionName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  return clean === '' ? 'data' : clean;
}

export function dataEndpoint(ctx: ServerContext, history: HistoryReader, q: Query): Answer {
  const list = charts(ctx, q);
  const { options, names } = parseOptions(q.get('options'));
  const format = parseFormat(q.get('format'));
  const group = parseGroup(q.get('group'));
  const tierText = q.get('tier');
  let tier: 0 | 1 | undefined;
  if (tierText !== undefined && tierText !== '') {
    if (tierText !== '0' && tierText !== '1')
      throw new ApiError(400, 'E_API_PARAM', 'tier: 0 (per second) or 1 (per minute)');
    tier = tierText === '0' ? 0 : 1;
  }
  const req: DataRequest = {
    charts: list,
    dimensions: q.get('dimension', 'dim', 'dimensions', 'dims') ?? '',
    after: q.int('after', -600, -MAX_TIME, MAX_TIME),
    before: q.int('before', 0, -MAX_TIME, MAX_TIME),
    points: q.int('points', 0, 0, 100_000),
    group,
    gtime: q.int('gtime', 0, 0, API_RELATIVE_TIME_MAX),
    options,
  };
  if (tier !== undefined) req.tier = tier;
  const r = runDataQuery(ctx.agent.store, history, req, nowSec(ctx));
  const out = formatResult(r, format, options, {
    callback: q.get('callback'),
    tqx: q.get('tqx'),
    asValue: options.jsonwrap,
  });
  const headers: Record<string, string> = {};
  const filename = q.get('filename');
  if (filename !== undefined && filename !== '') {
    headers['Content-Disposition'] = `attachment; filename="${dispositionName(filename)}"`;
  }
  if (!options.jsonwrap) {
    return {
      status: 200,
      contentType: CONTENT_TYPES[format],
      body: out.text ?? toJson(out.json),
      headers,
    };
  }
  const chartId = list.length === 1 ? list[0]!.instance.fullId : `context:${list[0]!.instance.def.context}`;
  const idText =
    `chart://host:${ctx.hostname}/instance:${chartId}/dimensions:${req.dimensions === '' ? '*' : req.dimensions}` +
    `/after:${req.after}/before:${req.before}/points:${req.points}/group:${group.name}/options:${names.join(',')}`;
  const lastRow = r.times.length - 1;
  const { min, max } = minMax(r);
  const wrapped = {
    api: 1,
    id: idText,
    name: idText,
    view_update_every: r.viewUpdateEvery,
    update_every: r.updateEvery,
    first_entry: r.firstEntry,
    last_entry: r.lastEntry,
    before: r.before,
    after: r.after,
    group: group.name,
    options: [...names, req.points === 0 ? 'natural-points' : 'virtual-points'].join(','),
    dimension_names: r.columns.map((c) => c.name),
    dimension_ids: r.columns.map((c) => c.id),
    functions: [],
    latest_values: r.columns.map((c) => c.latest),
    view_latest_values: r.columns.map((c) => (lastRow >= 0 ? c.values[lastRow]! : Number.NaN)),
    dimensions: r.columns.length,
    points: r.times.length,
    format,
    db_points_per_tier: r.dbPoints,
    result: out.json ?? out.text,
    min,
    max,
    // Ours, beyond Netdata's keys: which tier answered (0 per second, 1 per minute).
    tier: r.tier,
  };
  return { status: 200, contentType: CONTENT_TYPES.json, body: toJson(wrapped), headers };
}
