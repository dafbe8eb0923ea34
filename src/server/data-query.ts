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
import { LOOKUP_METHODS } from '../health/lookup-parse.js';
import type { CountifOp, GroupMethod } from '../health/types.js';
import type { ChartEntry, Series, Store } from '../store/store.js';
import type { HistoryReader } from './history-read.js';
import { ApiError } from './http.js';

/** Options of `/api/v1/data` that change the answer. */
export interface DataOptions {
  abs: boolean;
  percentage: boolean;
  null2zero: boolean;
  nonzero: boolean;
  flip: boolean;
  jsonwrap: boolean;
  unaligned: boolean;
  seconds: boolean;
  ms: boolean;
  objectrows: boolean;
  matchIds: boolean;
  matchNames: boolean;
  /** How reduced formats (array, ssv) combine the dimensions of a row. */
  reduce: 'sum' | 'min' | 'max' | 'average' | 'min2max';
}

/** Every option name Netdata 1.37 accepts; the ones without an effect here are listed in docs/api.md. */
const OPTION_EFFECTS: Record<string, (o: DataOptions) => void> = {
  abs: (o) => {
    o.abs = true;
  },
  absolute: (o) => {
    o.abs = true;
  },
  absolute_sum: (o) => {
    o.abs = true;
  },
  'absolute-sum': (o) => {
    o.abs = true;
  },
  percentage: (o) => {
    o.percentage = true;
  },
  null2zero: (o) => {
    o.null2zero = true;
  },
  nonzero: (o) => {
    o.nonzero = true;
  },
  flip: (o) => {
    o.flip = true;
  },
  reversed: (o) => {
    o.flip = true;
  },
  reverse: (o) => {
    o.flip = true;
  },
  jsonwrap: (o) => {
    o.jsonwrap = true;
  },
  unaligned: (o) => {
    o.unaligned = true;
  },
  seconds: (o) => {
    o.seconds = true;
  },
  ms: (o) => {
    o.ms = true;
  },
  milliseconds: (o) => {
    o.ms = true;
  },
  objectrows: (o) => {
    o.objectrows = true;
  },
  'match-ids': (o) => {
    o.matchIds = true;
  },
  match_ids: (o) => {
    o.matchIds = true;
  },
  'match-names': (o) => {
    o.matchNames = true;
  },
  match_names: (o) => {
    o.matchNames = true;
  },
  min2max: (o) => {
    o.reduce = 'min2max';
  },
  min: (o) => {
    o.reduce = 'min';
  },
  max: (o) => {
    o.reduce = 'max';
  },
  average: (o) => {
    o.reduce = 'average';
  },
  sum: (o) => {
    o.reduce = 'sum';
  },
};

/** Accepted for compatibility, no effect on rstwatch's answer (docs/api.md explains each). */
const IGNORED_OPTIONS = new Set([
  'google_json',
  'google-json',
  'allow_past',
  'allow-past',
  'natural-points',
  'virtual-points',
  'anomaly-bit',
  'selected-tier',
  'raw',
  'all-dimensions',
  'details',
  'debug',
  'plan',
  'showcustomvars',
  'label-quotes',
  'group-by-labels',
  'minify',
  'long-json-keys',
  'mcp',
  'nodata',
  'return-jwar',
]);

export function defaultOptions(): DataOptions {
  return {
    abs: false,
    percentage: false,
    null2zero: false,
    nonzero: false,
    flip: false,
    jsonwrap: false,
    unaligned: false,
    seconds: false,
    ms: false,
    objectrows: false,
    matchIds: false,
    matchNames: false,
    reduce: 'sum',
  };
}

/** `options=a,b|c d` (Netdata separates with `,`, `|` and spaces). Unknown names are a 400. */
export function parseOptions(text: string | undefined): { options: DataOptions; names: string[] } {
  const o = defaultOptions();
  const names: string[] = [];
  if (text === undefined) return { options: o, names };
  for (const raw of text.split(/[,| ]+/)) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const effect = OPTION_EFFECTS[name];
    if (effect) effect(o);
    else if (!IGNORED_OPTIONS.has(name)) {
      throw new ApiError(400, 'E_API_PARAM', `options: unknown option ${JSON.stringify(raw)}`);
    }
    names.push(name);
  }
  return { options: o, names };
}

export interface GroupSpec {
  method: GroupMethod;
  param?: number;
  op?: CountifOp;
  /** The name as given (for jsonwrap). */
  name: string;
}

/** `group=` by any of the names `lookup:` accepts (average, median, percentile95, incremental_sum, …). */
export function parseGroup(text: string | undefined): GroupSpec {
  const name = text === undefined || text === '' ? 'average' : text;
  const m = LOOKUP_METHODS.get(name);
  if (!m) throw new ApiError(400, 'E_API_PARAM', `group: unknown grouping method ${JSON.stringify(name)}`);
  const g: GroupSpec = { method: m.method, name };
  if (m.param !== undefined) g.param = m.param;
  return g;
}

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
  let lastEntry = Number.NaN;
  let firstEntry = Number.NaN;
  let ringFirst = Number.NaN;
  for (const c of req.charts) {
    const l = store.lastT(c);
    if (!(l <= lastEntry)) lastEntry = l;
    const f = history.firstT(c);
    if (!(f >= firstEntry)) firstEntry = f;
    const rf = store.firstT(c);
    if (!(rf <= ringFirst)) ringFirst = rf;
  }
  const empty = (after: number, before: number): DataResult => ({
    columns: visible.map((s) => ({
      id: s.dim.id,
      name: labels.get(s)!,
      series: s,
      values: new Float64Array(0),
      latest: Number.NaN,
    })),
    times: [],
    after,
    before,
    viewUpdateEvery: ue,
    updateEvery: ue,
    firstEntry: Number.isNaN(firstEntry) ? 0 : firstEntry,
    lastEntry: Number.isNaN(lastEntry) ? 0 : lastEntry,
    tier: 0,
    dbPoints: [0, 0],
  });
  const w = absoluteWindow(req.after, req.before, nowSec);
  if (Number.isNaN(lastEntry)) return empty(w.after, w.before);
  let before = Math.min(w.before, lastEntry);
  let after = Math.max(w.after, firstEntry);
  before -= before % ue;
  after -= after % ue;
  if (before < after) return empty(w.after, w.before);

  const available0 = Math.floor((before - after) / ue) + 1;
  const group0 = req.points > 0 ? Math.ceil(available0 / Math.min(req.points, available0)) : 1;
  let tier: 0 | 1 = 0;
  if (req.tier === 1) tier = 1;
  else if (req.tier === undefined && history.hasDisk) {
    const needsDisk = Number.isNaN(ringFirst) || after < ringFirst;
    if ((needsDisk && group0 * ue >= 60) || available0 > MAX_TIER0_SLOTS) tier = 1;
  }
  if (tier === 0 && available0 > MAX_TIER0_SLOTS) {
    throw new ApiError(
      400,
      'E_API_PARAM',
      `tier=0 for ${available0} slots: ask for a shorter window or tier 1`,
    );
  }
  if (tier === 1 && !history.hasDisk)
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
  after = before - points * span + gran;

  const times: number[] = new Array(points);
  for (let r = 0; r < points; r++) times[r] = after + r * span + span - gran;

  // Read every queried series over [after, before] on the tier's grid, then group row by row.
  const slots = points * group;
  const read = (s: Series): { v: Float64Array; mn?: Float64Array; mx?: Float64Array; n?: Float64Array } => {
    if (tier === 0) {
      const v = new Float64Array(slots).fill(Number.NaN);
      const put = (t: number, x: number) => {
        const i = (t - after) / gran;
        if (i >= 0 && i < slots && Number.isInteger(i)) v[i] = x;
      };
      // The ring alone when it holds the window (no allocation per point); the store adds disk otherwise.
      if (after >= s.ring.firstT) s.ring.forEach(after, before, put);
      else for (const p of store.points(s, after, before)) put(p.t, p.v);
      return { v };
    }
    const v = new Float64Array(slots).fill(Number.NaN);
    const mn = new Float64Array(slots).fill(Number.NaN);
    const mx = new Float64Array(slots).fill(Number.NaN);
    const n = new Float64Array(slots);
    // Rows before the oldest data have nothing to read: keep the SQLite range to what exists.
    const from = Number.isNaN(firstEntry) ? after : Math.max(after, Math.ceil(firstEntry / 60) * 60);
    for (const m of history.minutes(s, from, before)) {
      const i = (m.t - after) / 60;
      if (i < 0 || i >= slots || !Number.isInteger(i)) continue;
      v[i] = m.avg;
      mn[i] = m.min;
      mx[i] = m.max;
      n[i] = m.count;
    }
    return { v, mn, mx, n };
  };

  const dbPoints: [number, number] = [0, 0];
  const grouped = new Map<Series, Float64Array>();
  const groupSeries = (s: Series): Float64Array => {
    const cached = grouped.get(s);
    if (cached) return cached;
    const d = read(s);
    const out = new Float64Array(points);
    const buf = scratchFor(group);
    const abs = req.options.abs;
    for (let r = 0; r < points; r++) {
      const base = r * group;
      let k = 0;
      let sum = 0;
      let cnt = 0;
      let mn = Number.NaN;
      let mx = Number.NaN;
      for (let j = 0; j < group; j++) {
        let x = d.v[base + j]!;
        if (!Number.isFinite(x)) continue;
        if (abs && x < 0) x = -x;
        buf[k++] = x;
        dbPoints[tier]++;
        if (tier === 1) {
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
      let value: number;
      if (k === 0) value = Number.NaN;
      else if (resamplingDivisor > 0) value = sum / resamplingDivisor;
      else if (tier === 1 && req.group.method === 'average') value = sum / cnt;
      else if (tier === 1 && req.group.method === 'sum') value = sum;
      else if (tier === 1 && req.group.method === 'min') value = mn;
      else if (tier === 1 && req.group.method === 'max') value = mx;
      else value = groupBuffer(req.group.method, buf, k, req.group.param, req.group.op, group);
      out[r] = value;
    }
    grouped.set(s, out);
    return out;
  };

  const columns: DataColumn[] = visible.map((s) => ({
    id: s.dim.id,
    name: labels.get(s)!,
    series: s,
    values: groupSeries(s),
    latest: s.ring.get(s.ring.lastT),
  }));

  if (req.options.percentage) {
    // Each value as a share of the row's total over every dimension of the chart, hidden ones included
    // (Netdata queries unselected dimensions hidden for this); a zero total counts as 1.
    const totals = new Float64Array(points);
    for (const s of all) {
      const g = groupSeries(s);
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

  let shown = columns;
  if (req.options.nonzero) {
    // Netdata hides dimensions whose values are all zero or empty, unless that would hide them all.
    const nz = columns.filter((c) => c.values.some((x) => Number.isFinite(x) && x !== 0));
    if (nz.length > 0) shown = nz;
  }
  return {
    columns: shown,
    times,
    after,
    before,
    viewUpdateEvery: span,
    updateEvery: ue,
    firstEntry: Number.isNaN(firstEntry) ? 0 : firstEntry,
    lastEntry,
    tier,
    dbPoints,
  };
}
