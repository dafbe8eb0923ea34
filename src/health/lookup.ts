/**
 * Lookup execution: what Netdata's health engine does for `lookup: METHOD AFTER [at BEFORE] [OPTIONS] [of
 * DIMENSIONS]` (§2.3, §5), over rstwatch's store. One call is Netdata's
 * `rrdset2value_api_v1(st, dimensions, points = 1, after, before, group, options | SELECTED_TIER)`:
 *
 * 1. Dimension selection (query_target.c `query_dimension_add`): the `of` simple pattern is tried on the id,
 *    then — only when the id did not match at all, positively or negatively — on the name. Dimensions whose
 *    retention does not touch the requested window ±2·update_every are not queried (`query_matches_retention`).
 *    With `percentage` the unselected dimensions are queried too, hidden, for the total.
 * 2. Window (libnetdata.c `rrdr_relative_window_to_absolute_query`, query-window.c
 *    `query_target_calculate_window`), see `lookupWindow`.
 * 3. Points (query-execute.c): the slots in [after, before]; `absolute` makes each positive; gaps skipped.
 * 4. Time grouping per dimension (grouping.ts); EMPTY dimensions are dropped.
 * 5. `percentage` (query-group-by-finalize.c `rrd2rrdr_convert_values_to_percentage_of_total`): each grouped
 *    value × 100 / the sum of the grouped values of every queried dimension (0 → 1).
 * 6. Dimension combine (value.c `rrdr2value`): sum, or min / max / average / min2max.
 * 7. No queried dimension → no rows → HTTP 400 (`ok = false`, db_after = db_before = 0, rrd2json.c).
 *
 * Hot path: no allocation beyond the result; points are read straight from each series' ring into a scratch
 * buffer (the store's `points()` is used only when the window starts before the ring, i.e. on disk).
 */

import type { ChartEntry, Series, Store } from '../store/store.js';
import { groupBuffer } from './grouping.js';
import type { LookupSpec } from './types.js';

export interface LookupResult {
  /** NaN when nothing (EMPTY) unless null2zero. */
  value: number;
  /** Netdata's value_is_null: no dimension had a value (the engine then sets NaN + DB_NAN). */
  isNull: boolean;
  /** false ↔ Netdata's "rrdr_rows == 0 → HTTP 400" (DB_ERROR). */
  ok: boolean;
  /** First slot of the window used (epoch s) — $after; 0 when !ok. */
  dbAfter: number;
  /** Last slot — $before; 0 when !ok. */
  dbBefore: number;
  /** Ids of the dimensions that went into the value. */
  dimensions: string[];
}

/** libnetdata `API_RELATIVE_TIME_MAX`: |t| up to 3 years is relative to now, beyond it is an epoch. */
export const API_RELATIVE_TIME_MAX = 3 * 365 * 86400;

// ---------------------------------------------------------------------------------------------------------
// The `of` dimension pattern (Netdata simple pattern, SIMPLE_PATTERN_EXACT, case-sensitive)

interface PatternWord {
  negative: boolean;
  /** The word split at `*`: parts[0] must be a prefix, the last part a suffix, the others in order. */
  parts: string[];
}

/** Separators of `of` patterns: `,` `|` and control whitespace; a space is part of the word. */
const PATTERN_SEPARATORS = /[,|\t\r\n\f\v]+/;

/** null = every dimension (`''`, `all`, `*`). */
export function compileDimensionPattern(text: string): PatternWord[] | null {
  const t = text.trim();
  if (t === '' || t === '*' || t.toLowerCase() === 'all') return null;
  const words: PatternWord[] = [];
  for (const raw of t.split(PATTERN_SEPARATORS)) {
    if (raw === '') continue;
    const negative = raw.startsWith('!');
    const body = negative ? raw.slice(1) : raw;
    words.push({ negative, parts: body.split('*') });
  }
  return words;
}

function globMatches(parts: readonly string[], s: string): boolean {
  const first = parts[0]!;
  if (parts.length === 1) return s === first;
  if (!s.startsWith(first)) return false;
  const lastPart = parts[parts.length - 1]!;
  const end = s.length - lastPart.length;
  if (end < first.length || !s.endsWith(lastPart)) return false;
  let pos = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (p === '') continue;
    const at = s.indexOf(p, pos);
    if (at < 0 || at + p.length > end) return false;
    pos = at + p.length;
  }
  return true;
}

/** 1 matched positively, −1 matched a `!` word, 0 no word matched (the first matching word decides). */
export function patternMatch(words: readonly PatternWord[], s: string): 1 | -1 | 0 {
  for (const w of words) if (globMatches(w.parts, s)) return w.negative ? -1 : 1;
  return 0;
}

/**
 * Is a dimension selected by the `of` pattern? Netdata (query_dimension_add): try the id when ids are
 * matched; try the name only when the id gave no match at all and names are matched (and the name differs
 * from the id, or ids are not matched). Neither option → both.
 */
export function dimensionSelected(
  words: readonly PatternWord[] | null,
  id: string,
  name: string,
  matchIds: boolean,
  matchNames: boolean,
): boolean {
  if (words === null) return true;
  let ids = matchIds;
  let names = matchNames;
  if (!ids && !names) {
    ids = true;
    names = true;
  }
  let ret: 1 | -1 | 0 = 0;
  if (ids) ret = patternMatch(words, id);
  if (ret === 0 && names && (name !== id || !ids)) ret = patternMatch(words, name);
  return ret === 1;
}

// ---------------------------------------------------------------------------------------------------------
// Window

export interface LookupWindowResult {
  /** First and last slot of the window, inclusive. */
  after: number;
  before: number;
  /** Slots in the window (Netdata's group: the one output point covers all of them). */
  group: number;
}

const win = { after: 0, before: 0 };

/**
 * `rrdr_relative_window_to_absolute()` with now = wall clock − 1 (`_query` variant): a relative before is
 * now + before (a positive value is negated), a relative after is before + after + 1 (0 → −600); flipped
 * ends are swapped; a before in the future shifts the whole window back to end at now − 1.
 */
function relativeToAbsolute(after: number, before: number, nowQ: number): void {
  let b = before;
  let a = after;
  if (Math.abs(b) <= API_RELATIVE_TIME_MAX) {
    if (b > 0) b = -b;
    b = nowQ + b;
  }
  if (Math.abs(a) <= API_RELATIVE_TIME_MAX) {
    if (a > 0) a = -a;
    if (a === 0) a = -600;
    a = b + a + 1;
  }
  if (a > b) {
    const t = b;
    b = a;
    a = t;
  }
  if (b > nowQ) {
    const delta = b - nowQ;
    b -= delta;
    a -= delta;
  }
  win.after = a;
  win.before = b;
}

const windowOut: LookupWindowResult = { after: 0, before: 0, group: 1 };

function computeWindow(
  after: number,
  before: number,
  unaligned: boolean,
  nowSec: number,
  ue: number,
  dbLast: number,
): LookupWindowResult {
  // query_target_calculate_window(), for points = 1 and natural points (relative windows always are).
  const alignedToDbEnd = before === 0;
  relativeToAbsolute(after, alignedToDbEnd ? dbLast : before, nowSec - 1);
  let b = win.before;
  let a = win.after;
  // Both ends floored to the granularity (the chart's update_every).
  b -= b % ue;
  a -= a % ue;
  let available = Math.trunc((b - a + 1) / ue);
  if (available <= 0) available = 1;
  // One output point: it groups every available slot.
  const group = available;
  const span = group * ue;
  if (!unaligned && b % span !== 0) {
    if (alignedToDbEnd) b -= b % span;
    else b += span - (b % span);
  }
  windowOut.after = b - span + ue;
  windowOut.before = b;
  windowOut.group = group;
  return windowOut;
}

/**
 * The window a lookup reads at `nowSec`, given the newest slot of the queried dimensions (`dbLast`, used
 * when before = 0). Examples (update_every 1): `-10s` → [last − 9, last] (last ≤ now − 1; a slot at `now`
 * itself shifts the window to [now − 10, now − 1]); `-1m at -10s unaligned` → [now − 70, now − 11].
 */
export function lookupWindow(
  spec: Pick<LookupSpec, 'after' | 'before'> & { options: { unaligned: boolean } },
  nowSec: number,
  updateEvery: number,
  dbLast: number,
): LookupWindowResult {
  const w = computeWindow(spec.after, spec.before, spec.options.unaligned, nowSec, updateEvery, dbLast);
  return { after: w.after, before: w.before, group: w.group };
}

// ---------------------------------------------------------------------------------------------------------
// Compiled lookups (cached per spec object and chart)

interface Selection {
  /** Series queried: the selected ones, plus (percentage) every other one, hidden. */
  series: Series[];
  visible: boolean[];
  /** Grouped value per queried series (NaN = EMPTY). */
  values: Float64Array;
  queried: Uint8Array;
}

interface Plan {
  words: PatternWord[] | null;
  selections: WeakMap<ChartEntry, Selection>;
}

const plans = new WeakMap<LookupSpec, Plan>();

function planOf(spec: LookupSpec): Plan {
  let p = plans.get(spec);
  if (!p) {
    p = { words: compileDimensionPattern(spec.dimensions), selections: new WeakMap() };
    plans.set(spec, p);
  }
  return p;
}

function selectionOf(plan: Plan, spec: LookupSpec, chart: ChartEntry): Selection {
  let sel = plan.selections.get(chart);
  if (!sel) {
    const series: Series[] = [];
    const visible: boolean[] = [];
    for (const s of chart.series) {
      const yes = dimensionSelected(
        plan.words,
        s.dim.id,
        s.dim.name,
        spec.options.matchIds,
        spec.options.matchNames,
      );
      if (yes || spec.options.percentage) {
        series.push(s);
        visible.push(yes);
      }
    }
    sel = {
      series,
      visible,
      values: new Float64Array(series.length),
      queried: new Uint8Array(series.length),
    };
    plan.selections.set(chart, sel);
  }
  return sel;
}

// ---------------------------------------------------------------------------------------------------------
// Reading points

let buf = new Float64Array(128);
let bufN = 0;
let bufAbs = false;

/** ring.forEach callback: keep numbers only (gaps are NaN), positive with `absolute`. */
function collect(_t: number, v: number): void {
  if (!Number.isFinite(v)) return;
  buf[bufN++] = bufAbs && v < 0 ? -v : v;
}

function readPoints(
  store: Store,
  s: Series,
  after: number,
  before: number,
  slots: number,
  abs: boolean,
): number {
  if (buf.length < slots) buf = new Float64Array(Math.max(slots, buf.length * 2));
  bufN = 0;
  bufAbs = abs;
  const ringFirst = s.ring.firstT;
  if (after >= ringFirst) {
    s.ring.forEach(after, before, collect);
  } else {
    // The window starts before the ring: the store reads the older part from disk (allocates; rare).
    const pts = store.points(s, after, before);
    if (buf.length < pts.length) buf = new Float64Array(pts.length);
    for (const p of pts) collect(p.t, p.v);
  }
  return bufN;
}

// ---------------------------------------------------------------------------------------------------------
// Public API

const FAILED: Omit<LookupResult, 'dimensions'> = {
  value: Number.NaN,
  isNull: true,
  ok: false,
  dbAfter: 0,
  dbBefore: 0,
};

/** Run a lookup on a chart at wall-clock second `nowSec` (§5). Never throws. */
export function runLookup(store: Store, chart: ChartEntry, spec: LookupSpec, nowSec: number): LookupResult {
  const plan = planOf(spec);
  const sel = selectionOf(plan, spec, chart);
  const ue = store.updateEvery;
  const opts = spec.options;

  // Which dimensions have data around the requested window (query_matches_retention, ±2·update_every)?
  relativeToAbsolute(spec.after, spec.before, nowSec - 1);
  const reqAfter = win.after - 2 * ue;
  const reqBefore = win.before + 2 * ue;
  let dbLast = Number.NaN;
  let queried = 0;
  for (let i = 0; i < sel.series.length; i++) {
    const ring = sel.series[i]!.ring;
    const first = ring.firstT;
    const last = ring.lastT;
    const ok = first <= reqBefore && last >= reqAfter; // false for NaN (never collected)
    sel.queried[i] = ok ? 1 : 0;
    if (ok) {
      queried++;
      if (!(last <= dbLast)) dbLast = last;
    }
  }
  if (queried === 0) return { ...FAILED, dimensions: [] };

  const w = computeWindow(spec.after, spec.before, opts.unaligned, nowSec, ue, dbLast);
  const after = w.after;
  const before = w.before;
  const group = w.group;

  // Time grouping, per queried dimension.
  let total = 0;
  for (let i = 0; i < sel.series.length; i++) {
    if (sel.queried[i] === 0) {
      sel.values[i] = Number.NaN;
      continue;
    }
    let v = Number.NaN;
    if (!opts.anomalyBit) {
      const n = readPoints(store, sel.series[i]!, after, before, group, opts.absolute);
      if (n > 0) v = groupBuffer(spec.method, buf, n, spec.methodParam, spec.countifOp, group);
    }
    sel.values[i] = v;
    if (!Number.isNaN(v)) total += v;
  }
  if (opts.percentage && total === 0) total = 1;

  // Dimension combine (rrdr2value).
  let dims = 0;
  let sum = 0;
  let min = Number.NaN;
  let max = Number.NaN;
  const used: string[] = [];
  for (let i = 0; i < sel.series.length; i++) {
    if (!sel.visible[i]) continue;
    let v = sel.values[i]!;
    if (Number.isNaN(v)) continue;
    if (opts.percentage) v = (v * 100) / total;
    if (dims === 0) {
      min = v;
      max = v;
    }
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    dims++;
    used.push(sel.series[i]!.dim.id);
  }
  if (dims === 0) {
    return {
      value: opts.null2zero ? 0 : Number.NaN,
      isNull: true,
      ok: true,
      dbAfter: after,
      dbBefore: before,
      dimensions: used,
    };
  }
  let value: number;
  switch (opts.combine) {
    case 'min2max':
      value = max - min;
      break;
    case 'average':
      value = sum / dims;
      break;
    case 'min':
      value = min;
      break;
    case 'max':
      value = max;
      break;
    default:
      value = sum;
  }
  if (opts.null2zero && !Number.isFinite(value)) value = 0;
  return { value, isNull: false, ok: true, dbAfter: after, dbBefore: before, dimensions: used };
}

/**
 * §3.2 rule 7: does the chart hold data for this lookup now? With off = before + after, Netdata needs
 * now + off + update_every ≥ the chart's first slot and now + off − update_every ≤ its last slot: about
 * |after| seconds of data, still fresh. A spec without lookup (after = 0) is always runnable here.
 */
export function lookupRunnable(store: Store, chart: ChartEntry, spec: LookupSpec, nowSec: number): boolean {
  if (spec.after === 0) return true;
  const first = store.firstT(chart);
  const last = store.lastT(chart);
  if (Number.isNaN(first) || Number.isNaN(last)) return false;
  const ue = store.updateEvery;
  const needed = nowSec + spec.before + spec.after;
  return !(needed + ue < first || needed - ue > last);
}
