/**
 * Time-grouping methods of the `lookup:` line (§2.3): reduce the points of one dimension over the lookup
 * window to one value, the way Netdata's query engine does. Each method reproduces the behaviour of its
 * Netdata module (netdata/netdata, `src/web/api/queries/<method>/<method>.h`, cited per method below); the
 * code is ours (Netdata is GPL: behaviour only).
 *
 * Conventions shared by every method:
 * - Points arrive in time order, oldest first. Netdata never hands a gap, NaN or ±∞ to a grouping
 *   (`query_add_point_to_group` adds only `netdata_double_isnumber` values), so they are skipped here too.
 * - NaN is the result when Netdata flags the value RRDR_VALUE_EMPTY: no point at all, or (for the
 *   methods that check it) a result that is not a finite number. The lookup then drops the dimension.
 * - `group` is the number of slots in the window (Netdata's `r->view.group`), which `ses` and `des` use for
 *   their smoothing factor; it defaults to the number of points given.
 *
 * No allocation on the hot path: the lookup fills a scratch Float64Array and calls `groupBuffer`, which
 * may reorder that buffer (sorting methods).
 */

import type { CountifOp, GroupMethod } from './types.js';

/** Default percent of `trimmed-mean` / `trimmed-median` (health_config.c, `trimmed-*` without a number). */
export const DEFAULT_TRIM_PERCENT = 5;
/** Default of `percentile` without a number. */
export const DEFAULT_PERCENTILE = 95;
/** Default comparison value of `countif` (condition `==`). */
export const DEFAULT_COUNTIF_VALUE = 0;
/** `[web] ses max window` / `des max window` (ses.h, des.h): the smoothing window is capped at 15 points. */
export const SMOOTHING_MAX_WINDOW = 15;

/** `considered_equal_ndd()` of libnetdata: |a − b| < 1e-7. */
const EQUAL_EPSILON = 1e-7;

/** `netdata_double_isnumber()`: false for NaN and ±∞. */
function isNumber(v: number): boolean {
  return Number.isFinite(v);
}

function sortAscending(buf: Float64Array, n: number): void {
  // Inputs are finite (non-numbers were skipped), so the numeric typed-array sort is Netdata's qsort order.
  buf.subarray(0, n).sort();
}

/** Clamp a parameter the way the `*_create_internal` functions do (non-number → 0). */
function clampParam(v: number | undefined, def: number, max: number): number {
  if (v === undefined) return def;
  if (!isNumber(v) || v < 0) return 0;
  return v > max ? max : v;
}

// ---------------------------------------------------------------------------------------------------------
// Shared pieces

/**
 * `percentile_on_sorted_series()` (libnetdata statistical.c): linear interpolation at index p·(len − 1) of a
 * sorted slice; an index within 1e-7 of an integer takes that element.
 */
function percentileOnSorted(buf: Float64Array, off: number, len: number, p: number): number {
  if (len === 1) return buf[off]!;
  const pp = Math.max(0, Math.min(1, p));
  const index = pp * (len - 1);
  const lo = Math.floor(index);
  const hi = Math.ceil(index);
  if (hi >= len || lo === hi || Math.abs(index - lo) < EQUAL_EPSILON) return buf[off + lo]!;
  const weight = index - lo;
  return buf[off + lo]! + weight * (buf[off + hi]! - buf[off + lo]!);
}

/**
 * The slice average shared by `trimmed-mean` (trimmed_mean/trimmed_mean.h) and `percentile`
 * (percentile/percentile.h). `fraction` is the share of the sorted points to keep:
 * - slots = ⌊n·fraction⌋ (at least 1) points are averaged; the fractional remainder f = (fraction − slots/n)
 *   / (1/n) adds the next point with weight f and the last kept one again with weight 1 − f, and the divisor
 *   becomes slots + 1;
 * - non-negative data (min ≥ 0) is read from the smallest value up, data with a negative minimum from the
 *   largest value down (Netdata's choice, reproduced);
 * - `centered` (trimmed mean) starts ⌊(n − slots)/2⌋ points in from that end, so with an odd number of
 *   dropped points the far end loses one more; the percentile starts at the end itself: Netdata's
 *   "percentileN" is the mean of the lowest N % of the points, not an order statistic.
 * All points equal → that value. The same operation order as the C code, for identical rounding.
 */
function sliceAverage(buf: Float64Array, n: number, fraction: number, centered: boolean): number {
  if (n === 1) return buf[0]!;
  sortAscending(buf, n);
  const min = buf[0]!;
  const max = buf[n - 1]!;
  if (min === max) return min;

  let slots = Math.floor(n * fraction);
  if (slots === 0) slots = 1;
  const percentToUse = slots / n;
  const percentDelta = fraction - percentToUse;
  let interpolationWeight = 0;
  let lastWeight = 0;
  if (percentDelta > 0) {
    const percentOneSlot = (slots + 1) / n - percentToUse;
    interpolationWeight = percentDelta / percentOneSlot;
    lastWeight = 1 - interpolationWeight;
  }

  const skip = centered ? Math.floor((n - slots) / 2) : 0;
  let start: number;
  let stop: number;
  let last: number;
  let step: number;
  if (min >= 0 && max >= 0) {
    start = skip;
    stop = start + slots;
    last = stop - 1;
    step = 1;
  } else {
    start = n - 1 - skip;
    stop = start - slots;
    last = stop + 1;
    step = -1;
  }
  const interpolationSlot = stop;

  let value = 0;
  for (let i = start; i !== stop; i += step) value += buf[i]!;
  let counted = slots;
  if (interpolationWeight > 0 && interpolationSlot >= 0 && interpolationSlot < n) {
    value += buf[interpolationSlot]! * interpolationWeight;
    value += buf[last]! * lastWeight;
    counted++;
  }
  value = value / counted;
  return isNumber(value) ? value : Number.NaN;
}

/**
 * `median` and `trimmed-median` (median/median.h). `trim` is a fraction of the value *range*, not of the
 * points: values below min + (max − min)·trim and above max − (max − min)·trim are dropped, then the median
 * (percentile 0.5 with interpolation) of what is left. With a lone outlier the kept range can collapse onto
 * a single point — Netdata's behaviour, reproduced.
 */
function medianTrimmed(buf: Float64Array, n: number, trim: number): number {
  if (n === 1) return buf[0]!;
  sortAscending(buf, n);
  let start = 0;
  let end = n - 1;
  if (trim > 0) {
    const min = buf[0]!;
    const max = buf[n - 1]!;
    const delta = (max - min) * trim;
    const wantedMin = min + delta;
    const wantedMax = max - delta;
    for (start = 0; start < n; start++) if (buf[start]! >= wantedMin) break;
    if (start >= n) start = n - 1;
    for (end = n - 1; end > start; end--) if (buf[end]! <= wantedMax) break;
  }
  const value = start === end ? buf[start]! : percentileOnSorted(buf, start, end - start + 1, 0.5);
  return isNumber(value) ? value : Number.NaN;
}

/**
 * Sample standard deviation by Welford's method (stddev/stddev.h: `m_newS / (count − 1)`). One point → 0;
 * a non-finite result → EMPTY. Returns the mean through `welford.mean` for `cv`.
 */
const welford = { mean: 0, stddev: 0 };
function runWelford(buf: Float64Array, n: number): void {
  let oldM = buf[0]!;
  let newM = oldM;
  let oldS = 0;
  let newS = 0;
  for (let i = 1; i < n; i++) {
    const v = buf[i]!;
    const count = i + 1;
    newM = oldM + (v - oldM) / count;
    newS = oldS + (v - oldM) * (v - newM);
    oldM = newM;
    oldS = newS;
  }
  welford.mean = newM;
  welford.stddev = n > 1 ? Math.sqrt(newS / (n - 1)) : 0;
}

/** Smoothing factor of `ses` and `des`: 2 / (N + 1), N = min(window slots, 15) (ses.h, des.h). */
export function smoothingAlpha(group: number): number {
  const w = Math.min(Math.max(group, 1), SMOOTHING_MAX_WINDOW);
  return 2 / (w + 1);
}

function countifMatches(v: number, op: CountifOp, target: number): boolean {
  switch (op) {
    case '==':
      return v === target;
    case '!=':
      return v !== target;
    case '<':
      return v < target;
    case '<=':
      return v <= target;
    case '>':
      return v > target;
    case '>=':
      return v >= target;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

/**
 * Group the first `n` values of `buf` (finite, in time order). May reorder `buf[0, n)`. NaN = EMPTY.
 * `param`: trimmed-* percent, percentile percent, countif value. `group`: slots in the window (ses, des).
 */
export function groupBuffer(
  method: GroupMethod,
  buf: Float64Array,
  n: number,
  param?: number,
  op?: CountifOp,
  group?: number,
): number {
  if (n <= 0) return Number.NaN;
  switch (method) {
    // average/average.h: Σ / count.
    case 'average': {
      let s = 0;
      for (let i = 0; i < n; i++) s += buf[i]!;
      return s / n;
    }
    // sum/sum.h
    case 'sum': {
      let s = 0;
      for (let i = 0; i < n; i++) s += buf[i]!;
      return s;
    }
    // min/min.h: the smallest value (signed; the max-absolute behaviour is `extremes`).
    case 'min': {
      let m = buf[0]!;
      for (let i = 1; i < n; i++) if (buf[i]! < m) m = buf[i]!;
      return m;
    }
    // max/max.h
    case 'max': {
      let m = buf[0]!;
      for (let i = 1; i < n; i++) if (buf[i]! > m) m = buf[i]!;
      return m;
    }
    // median/median.h with percent 0.
    case 'median':
      return medianTrimmed(buf, n, 0);
    // median/median.h, `trimmed-medianN`: N clamped to [0, 50], default 5.
    case 'trimmed-median':
      return medianTrimmed(buf, n, clampParam(param, DEFAULT_TRIM_PERCENT, 50) / 100);
    // trimmed_mean/trimmed_mean.h: keep 1 − 2·N/100 of the points, N clamped to [0, 50], default 5.
    case 'trimmed-mean':
      return sliceAverage(buf, n, 1.0 - (clampParam(param, DEFAULT_TRIM_PERCENT, 50) / 100.0) * 2.0, true);
    // percentile/percentile.h: N clamped to [0, 100], default 95.
    case 'percentile':
      return sliceAverage(buf, n, clampParam(param, DEFAULT_PERCENTILE, 100) / 100.0, false);
    // incremental_sum/incremental_sum.h: last − first of the non-gap points; fewer than two → EMPTY.
    case 'incremental-sum':
      return n < 2 ? Number.NaN : buf[n - 1]! - buf[0]!;
    // stddev/stddev.h: sample standard deviation; one point → 0.
    case 'stddev': {
      runWelford(buf, n);
      return isNumber(welford.stddev) ? welford.stddev : Number.NaN;
    }
    // stddev/stddev.h, `tg_stddev_coefficient_of_variation_flush`: 100·σ/|mean|; one point → 0;
    // mean 0 (∞ or NaN) → EMPTY.
    case 'cv': {
      if (n === 1) return 0;
      runWelford(buf, n);
      const m = welford.mean;
      const v = (100.0 * welford.stddev) / (m < 0 ? -m : m);
      return isNumber(v) ? v : Number.NaN;
    }
    // ses/ses.h: level₀ = x₀, then level = α·x + (1 − α)·level for every point (the first included).
    case 'ses': {
      const alpha = smoothingAlpha(group ?? n);
      const other = 1.0 - alpha;
      let level = buf[0]!;
      for (let i = 0; i < n; i++) level = alpha * buf[i]! + other * level;
      return isNumber(level) ? level : Number.NaN;
    }
    // des/des.h: Holt's linear smoothing, α = β = 2/(N+1). First point: level = trend = x₀. Second point:
    // trend = x₁ − x₀ and level = x₁ before the update. Update: level' = α·x + (1 − α)·(level + trend),
    // trend' = β·(level' − level) + (1 − β)·trend. The result is the level.
    case 'des': {
      const alpha = smoothingAlpha(group ?? n);
      const other = 1.0 - alpha;
      let level = buf[0]!;
      let trend = level;
      for (let i = 1; i < n; i++) {
        const v = buf[i]!;
        if (i === 1) {
          trend = v - trend;
          level = v;
        }
        const lastLevel = level;
        level = alpha * v + other * (level + trend);
        trend = alpha * (level - lastLevel) + other * trend;
      }
      return isNumber(level) ? level : Number.NaN;
    }
    // countif/countif.h: the percentage (0–100) of points satisfying `x OP value`, exact comparison;
    // defaults `== 0`.
    case 'countif': {
      const target = param ?? DEFAULT_COUNTIF_VALUE;
      const cmp = op ?? '==';
      let matched = 0;
      for (let i = 0; i < n; i++) if (countifMatches(buf[i]!, cmp, target)) matched++;
      return (matched * 100) / n;
    }
    // extremes/extremes.h: the value with the largest magnitude, sign kept: only positives → max, only
    // negatives → min, both → whichever has the larger |x| (a tie goes to the negative), only zeros → 0.
    case 'extremes': {
      let pos = 0;
      let neg = 0;
      let max = 0;
      let min = 0;
      for (let i = 0; i < n; i++) {
        const v = buf[i]!;
        if (v > 0) {
          if (pos === 0 || v > max) max = v;
          pos++;
        } else if (v < 0) {
          if (neg === 0 || v < min) min = v;
          neg++;
        }
      }
      if (pos > 0 && neg > 0) return Math.abs(max) > Math.abs(min) ? max : min;
      if (pos > 0) return max;
      if (neg > 0) return min;
      return 0;
    }
    // latest/latest.h: the newest non-gap point.
    case 'latest':
      return buf[n - 1]!;
    default:
      return Number.NaN;
  }
}

let scratch = new Float64Array(64);

/**
 * Group `points` (in time order) with `method`. Gaps and other non-numbers are skipped, as Netdata never
 * adds them to a group. Returns NaN when nothing is left or the method flags the value empty. Never throws.
 */
export function groupPoints(
  method: GroupMethod,
  points: readonly number[],
  param?: number,
  op?: CountifOp,
  group?: number,
): number {
  if (scratch.length < points.length) scratch = new Float64Array(Math.max(points.length, scratch.length * 2));
  let n = 0;
  for (let i = 0; i < points.length; i++) {
    const v = points[i]!;
    if (typeof v === 'number' && isNumber(v)) scratch[n++] = v;
  }
  return groupBuffer(method, scratch, n, param, op, group ?? n);
}
