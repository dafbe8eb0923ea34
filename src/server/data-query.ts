/**
 * `/api/v1/data`, the query: which dimensions, which window, how many points, grouped how — Netdata's
 * behaviour (api_v1_data.c, rrd2rrdr of 1.37, and shared/design/netdata-health-semantics.md §4–5), over
 * rstwatch's store. Formatting the result is data-format.ts.
 *
 * Window (what Netdata 1.37 answers, checked against Debian's netdata on this host):
 * - `before` ≤ 0 (or a small positive, negated) is relative to now; `after` relative is counted back from
 *   `before`, inclusive: after = before + after + 1 (after 0 → −600). Absolute epochs above 3 years pass
 *   unchanged. The window is then clamped to the chart's data (first_entry … last_entry).
 * - points = 0 → every stored point; otherwise group = ⌈available / points⌉ slots per output point, and
 *   unless `unaligned`, `before` is moved down to a multiple of group × update_every so a chart refreshed
 *   every second does not jitter; `after` then becomes before − points × group × update_every + update_every.
 * - Rows carry the time of their newest slot; each slot t covers (t − update_every, t].
 * - gtime (resampling, average only): group is rounded up to a multiple of gtime / update_every and the
 *   average becomes sum × gtime / (group × update_every): per-second data with gtime=60 reads per minute.
 *
 * Tiers: a window that starts before the ring and whose points span ≥ 60 s each reads the per-minute tier
 * (history-read.ts), as Netdata picks a higher tier for coarse queries; `tier=0|1` forces one. Methods other
 * than average, sum, min, max then group the minute averages (Netdata's tiers keep the same four numbers).
 */

import { groupBuffer } from '../health/grouping.js';
import { API_RELATIVE_TIME_MAX, compileDimensionPattern, dimensionSelected } from '../health/lookup.js';
import type { ChartEntry, Series, Store } from '../store/store.js';
import type { DataOptions, GroupSpec } from './data-options.js';
import type { HistoryReader } from './history-read.js';
import { ApiError } from './http.js';

export interface DataRequest {
  charts: ChartEntry[];
  /** The `dimensions` pattern ('' = all). */
  dimensions: string;
  after: number;
  before: number;
  points: number;
  group: GroupSpec;
  gtime: number;
  options: DataOptions;
  tier?: 0 | 1;
}

export interface DataColumn {
  id: string;
  name: string;
  series: Series;
  /** One value per row, oldest row first; NaN = no data (null). */
  values: Float64Array;
  /** The newest stored value of the series (jsonwrap latest_values). */
  latest: number;
}

export interface DataResult {
  columns: DataColumn[];
  /** Row times (epoch seconds, newest slot of each row), oldest first. */
  times: number[];
  after: number;
  before: number;
  /** Seconds per output row (Netdata's view_update_every). */
  viewUpdateEvery: number;
  updateEvery: number;
  firstEntry: number;
  lastEntry: number;
  tier: 0 | 1;
  /** Stored points read, per tier. */
  dbPoints: [number, number];
}

/** Beyond this many slots per series a window is answered from the per-minute tier. */
const MAX_TIER0_SLOTS = 2 * 86400;
/** Never more output rows than this (a 31-day window at one row per minute fits). */
const MAX_ROWS = 50_000;

let scratch = new Float64Array(1024);

function scratchFor(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/** Absolute window [after, before] from the request (see the module comment). */
function absoluteWindow(after: number, before: number, nowSec: number): { after: number; before: number } {
  let b = before;
  let a = after;
  if (Math.abs(b) <= API_RELATIVE_TIME_MAX) b = nowSec + (b > 0 ? -b : b);
  if (Math.abs(a) <= API_RELATIVE_TIME_MAX) {
    if (a === 0) a = -600;
    a = b + (a > 0 ? -a : a) + 1;
  }
  if (a > b) [a, b] = [b, a];
  return { after: a, before: b };
}

function selectColumns(req: DataRequest): { visible: Series[]; all: Series[]; labels: Map<Series, string> } {
  const words = compileDimensionPattern(req.dimensions);
  const visible: Series[] = [];
  const all: Series[] = [];
  const labels = new Map<Series, string>();
  const multi = req.charts.length > 1;
  for (const c of req.charts) {
    for (const s of c.series) {
      all.push(s);
      labels.set(s, multi ? `${c.instance.fullId}.${s.dim.name}` : s.dim.name);
      if (dimensionSelected(words, s.dim.id, s.dim.name, req.options.matchIds, req.options.matchNames)) {
        visible.push(s);
      }
    }
  }
  return { visible, all, labels };
}

/** Where the data of the queried charts starts and ends (NaN: none). */
interface Bounds {
  /** Newest slot of any chart (Netdata's last_entry). */
  last: number;
  /** Oldest slot in memory or on disk (first_entry). */
  first: number;
  /** Oldest slot still in the rings. */
  ringFirst: number;
}

function bounds(store: Store, history: HistoryReader, charts: readonly ChartEntry[]): Bounds {
  const b: Bounds = { last: Number.NaN, first: Number.NaN, ringFirst: Number.NaN };
  for (const c of charts) {
    const l = store.lastT(c);
    if (!(l <= b.last)) b.last = l;
    const f = history.firstT(c);
    if (!(f >= b.first)) b.first = f;
    const rf = store.firstT(c);
    if (!(rf <= b.ringFirst)) b.ringFirst = rf;
  }
  return b;
}

/** The grid a query reads and the rows it answers. */
interface Plan {
  tier: 0 | 1;
  /** Seconds per stored slot read (update_every, or 60 for tier 1). */
  gran: number;
  /** First and last slot read; rows × group slots in all. */
  after: number;
  before: number;
  points: number;
  group: number;
  /** gtime: the average becomes sum ÷ this (0: no resampling). */
  resamplingDivisor: number;
}

/**
 * Netdata's window arithmetic (module comment): clamp to the data, pick the tier, group slots into rows,
 * align, resample. undefined: nothing to answer (no data in the window).
 */
function plan(req: DataRequest, b: Bounds, ue: number, nowSec: number, hasDisk: boolean): Plan | undefined {
  const w = absoluteWindow(req.after, req.before, nowSec);
  if (Number.isNaN(b.last)) return undefined;
  let before = Math.min(w.before, b.last);
  let after = Math.max(w.after, b.first);
  before -= before % ue;
  after -= after % ue;
  if (before < after) return undefined;

  const available0 = Math.floor((before - after) / ue) + 1;
  const group0 = req.points > 0 ? Math.ceil(available0 / Math.min(req.points, available0)) : 1;
  let tier: 0 | 1 = 0;
  if (req.tier === 1) tier = 1;
  else if (req.tier === undefined && hasDisk) {
    const needsDisk = Number.isNaN(b.ringFirst) || after < b.ringFirst;
    if ((needsDisk && group0 * ue >= 60) || available0 > MAX_TIER0_SLOTS) tier = 1;
  }
  if (tier === 0 && available0 > MAX_TIER0_SLOTS) {
    throw new ApiError(
      400,
      'E_API_PARAM',
      `tier=0 for ${available0} slots: ask for a shorter window or tier 1`,
    );
  }
  if (tier === 1 && !hasDisk)
    throw new ApiError(400, 'E_API_PARAM', 'tier=1: this agent keeps no history on disk');
  const gran = tier === 1 ? 60 : ue;
  if (tier === 1) {
    // A minute row t covers (t − 60, t]: the first one inside the window ends at or after after + 59.
    before -= before % 60;
    after = Math.ceil(after / 60) * 60;
  }
  const available = Math.floor((before - after) / gran) + 1;
  let points = req.points > 0 ? Math.min(req.points, available) : available;
  let group = Math.ceil(available / points);
  let resamplingDivisor = 0;
  if (req.gtime > gran && req.group.method === 'average') {
    const rg = Math.floor(req.gtime / gran);
    if (group % rg !== 0) group += rg - (group % rg);
    resamplingDivisor = (group * gran) / req.gtime;
    points = Math.ceil(available / group);
  }
  const span = group * gran;
  if (!req.options.unaligned && group > 1 && before % span !== 0) before -= before % span;
  points = Math.min(points, MAX_ROWS);
  return { tier, gran, after: before - points * span + gran, before, points, group, resamplingDivisor };
}

/** One series' slots on the plan's grid (tier 1: the minute average, min, max and count per slot). */
interface Slots {
  v: Float64Array;
  mn?: Float64Array;
  mx?: Float64Array;
  n?: Float64Array;
}

function readSlots(store: Store, history: HistoryReader, s: Series, p: Plan, first: number): Slots {
  const slots = p.points * p.group;
  const v = new Float64Array(slots).fill(Number.NaN);
  if (p.tier === 0) {
    const put = (t: number, x: number) => {
      const i = (t - p.after) / p.gran;
      if (i >= 0 && i < slots && Number.isInteger(i)) v[i] = x;
    };
    // The ring alone when it holds the window (no allocation per point); the store adds disk otherwise.
    if (p.after >= s.ring.firstT) s.ring.forEach(p.after, p.before, put);
    else for (const pt of store.points(s, p.after, p.before)) put(pt.t, pt.v);
    return { v };
  }
  const mn = new Float64Array(slots).fill(Number.NaN);
  const mx = new Float64Array(slots).fill(Number.NaN);
  const n = new Float64Array(slots);
  // Rows before the oldest data have nothing to read: keep the SQLite range to what exists.
  const from = Number.isNaN(first) ? p.after : Math.max(p.after, Math.ceil(first / 60) * 60);
  for (const m of history.minutes(s, from, p.before)) {
    const i = (m.t - p.after) / 60;
    if (i < 0 || i >= slots || !Number.isInteger(i)) continue;
    v[i] = m.avg;
    mn[i] = m.min;
    mx[i] = m.max;
    n[i] = m.count;
  }
  return { v, mn, mx, n };
}

/**
 * Group a series' slots into rows with the request's method. Tier 1 is exact for average (count-weighted),
 * sum, min and max; other methods group the minute averages. Counts points read into `dbPoints`.
 */
function groupRows(d: Slots, p: Plan, req: DataRequest, dbPoints: [number, number]): Float64Array {
  const out = new Float64Array(p.points);
  const buf = scratchFor(p.group);
  const abs = req.options.abs;
  const method = req.group.method;
  for (let r = 0; r < p.points; r++) {
    const base = r * p.group;
    let k = 0;
    let sum = 0;
    let cnt = 0;
    let mn = Number.NaN;
    let mx = Number.NaN;
    for (let j = 0; j < p.group; j++) {
      let x = d.v[base + j]!;
      if (!Number.isFinite(x)) continue;
      if (abs && x < 0) x = -x;
      buf[k++] = x;
      dbPoints[p.tier]++;
      if (p.tier === 1) {
        const c = d.n![base + j]!;
        sum += x * c;
        cnt += c;
        const a = d.mn![base + j]!;
        const b = d.mx![base + j]!;
        const lo = abs ? Math.min(Math.abs(a), Math.abs(b)) : a;
        const hi = abs ? Math.max(Math.abs(a), Math.abs(b)) : b;
        if (!(lo >= mn)) mn = lo;
        if (!(hi <= mx)) mx = hi;
      } else {
        sum += x;
        cnt++;
      }
    }
    if (k === 0) out[r] = Number.NaN;
    else if (p.resamplingDivisor > 0) out[r] = sum / p.resamplingDivisor;
    else if (p.tier === 1 && method === 'average') out[r] = sum / cnt;
    else if (p.tier === 1 && method === 'sum') out[r] = sum;
    else if (p.tier === 1 && method === 'min') out[r] = mn;
    else if (p.tier === 1 && method === 'max') out[r] = mx;
    else out[r] = groupBuffer(method, buf, k, req.group.param, req.group.op, p.group);
  }
  return out;
}

/** Each value as a share of its row's total over `all` series (hidden ones included); 0 total → 1. */
function toPercentages(columns: DataColumn[], all: Float64Array[], points: number): void {
  const totals = new Float64Array(points);
  for (const g of all) {
    for (let r = 0; r < points; r++) {
      const x = g[r]!;
      if (Number.isFinite(x)) totals[r]! += Math.abs(x);
    }
  }
  for (const c of columns) {
    const pv = new Float64Array(points);
    for (let r = 0; r < points; r++) pv[r] = (c.values[r]! * 100) / (totals[r] === 0 ? 1 : totals[r]!);
    c.values = pv;
  }
}

export function runDataQuery(
  store: Store,
  history: HistoryReader,
  req: DataRequest,
  nowSec: number,
): DataResult {
  const ue = store.updateEvery;
  const { visible, all, labels } = selectColumns(req);
  if (visible.length === 0) {
    throw new ApiError(
      400,
      'E_API_NO_DIMENSIONS',
      `dimensions: no dimension matches ${JSON.stringify(req.dimensions)}`,
    );
  }
  const b = bounds(store, history, req.charts);
  const p = plan(req, b, ue, nowSec, history.hasDisk);
  const base = {
    updateEvery: ue,
    firstEntry: Number.isNaN(b.first) ? 0 : b.first,
    lastEntry: Number.isNaN(b.last) ? 0 : b.last,
  };
  if (!p) {
    const w = absoluteWindow(req.after, req.before, nowSec);
    const columns = visible.map((s) => ({
      id: s.dim.id,
      name: labels.get(s)!,
      series: s,
      values: new Float64Array(0),
      latest: Number.NaN,
    }));
    return {
      ...base,
      columns,
      times: [],
      after: w.after,
      before: w.before,
      viewUpdateEvery: ue,
      tier: 0,
      dbPoints: [0, 0],
    };
  }
  const span = p.group * p.gran;
  const times: number[] = new Array(p.points);
  for (let r = 0; r < p.points; r++) times[r] = p.after + r * span + span - p.gran;
  const dbPoints: [number, number] = [0, 0];
  const grouped = new Map<Series, Float64Array>();
  const rowsOf = (s: Series): Float64Array => {
    let g = grouped.get(s);
    if (!g) {
      g = groupRows(readSlots(store, history, s, p, b.first), p, req, dbPoints);
      grouped.set(s, g);
    }
    return g;
  };
  const columns: DataColumn[] = visible.map((s) => ({
    id: s.dim.id,
    name: labels.get(s)!,
    series: s,
    values: rowsOf(s),
    latest: s.ring.get(s.ring.lastT),
  }));
  // Netdata queries the unselected dimensions too, hidden, for the percentage's total.
  if (req.options.percentage) toPercentages(columns, all.map(rowsOf), p.points);
  let shown = columns;
  if (req.options.nonzero) {
    // Netdata hides dimensions whose values are all zero or empty, unless that would hide them all.
    const nz = columns.filter((c) => c.values.some((x) => Number.isFinite(x) && x !== 0));
    if (nz.length > 0) shown = nz;
  }
  return {
    ...base,
    columns: shown,
    times,
    after: p.after,
    before: p.before,
    viewUpdateEvery: span,
    tier: p.tier,
    dbPoints,
  };
}
