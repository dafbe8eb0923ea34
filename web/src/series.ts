/**
 * Per-second series as the dashboard keeps them, and the reset alerts' averages and thresholds computed from
 * them. Pure (no DOM): test/e2e/dashboard.test.ts checks these numbers against the real alert engine running
 * the shipped defaults/health.d/tcp_resets.conf.
 *
 * The shipped rule (Netdata's classic TCP reset alerts, defaults/health.d/tcp_resets.conf):
 *   baseline = `average -1m at -10s unaligned` — the one-minute average that ended 10 s ago;
 *   value    = `average -10s unaligned`;
 *   raised   when value > max(5, baseline) × 10, and, once raised, held while value > max(5, baseline) × 1.
 * The lookup windows follow src/health/lookup.ts (`lookupWindow`): with the newest stored slot L,
 * `-10s` reads slots [L − 9, L] and `-1m at -10s` reads [L − 69, L − 10]. Empty slots are skipped by the
 * average (Netdata's `average` ignores empty points); a window without any value is empty (null), and an
 * empty baseline makes both thresholds empty (NaN compares false in the warn expression, so nothing raises).
 */

/** The shipped reset alerts' numbers (see the file comment). */
export const RESET_RULE = {
  shortSeconds: 10,
  baselineSeconds: 60,
  baselineLagSeconds: 10,
  floorPerSecond: 5,
  raiseFactor: 10,
  holdFactor: 1,
} as const;

export type Value = number | null;

/**
 * The last `keepSeconds` of one chart, one slot per second, contiguous: a missing second is a null slot, so
 * index arithmetic is time arithmetic.
 */
export class ChartBuffer {
  readonly times: number[] = [];
  readonly columns: Map<string, Value[]>;
  readonly keepSeconds: number;

  constructor(dimensionIds: readonly string[], keepSeconds: number) {
    this.keepSeconds = keepSeconds;
    this.columns = new Map(dimensionIds.map((id) => [id, []]));
  }

  get lastT(): number {
    return this.times.length > 0 ? this.times[this.times.length - 1]! : Number.NaN;
  }

  clear(): void {
    this.times.length = 0;
    for (const c of this.columns.values()) c.length = 0;
  }

  /**
   * Put the slot `t` (epoch seconds). A slot older than the buffer is ignored, an existing one replaced,
   * a newer one appended after null slots for any seconds in between (at most `keepSeconds` of them).
   */
  put(t: number, row: Readonly<Record<string, Value | undefined>>): void {
    const last = this.lastT;
    if (!Number.isNaN(last) && t <= last) {
      const i = this.times.length - 1 - (last - t);
      if (i < 0) return;
      for (const [id, col] of this.columns) col[i] = finite(row[id]);
      return;
    }
    if (!Number.isNaN(last) && t - last > 1) {
      const from = Math.max(last + 1, t - this.keepSeconds);
      if (from > last + 1) this.clear();
      for (let s = from; s < t; s++) {
        this.times.push(s);
        for (const col of this.columns.values()) col.push(null);
      }
    }
    this.times.push(t);
    for (const [id, col] of this.columns) col.push(finite(row[id]));
    const extra = this.times.length - this.keepSeconds;
    if (extra > 0) {
      this.times.splice(0, extra);
      for (const col of this.columns.values()) col.splice(0, extra);
    }
  }

  column(id: string): Value[] {
    return this.columns.get(id) ?? [];
  }
}

function finite(v: Value | undefined): Value {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Averages and thresholds per slot, aligned with the input times. */
export interface ResetOverlay {
  avg10: Value[];
  baseline: Value[];
  /** max(floor, baseline) × raiseFactor: above this the alert raises. */
  raise: Value[];
  /** max(floor, baseline) × holdFactor: above this a raised alert stays raised. */
  hold: Value[];
}

/**
 * Mean of the non-null values of slots [i − from, i − to] (inclusive, from ≥ to ≥ 0), from prefix sums;
 * null when the window has no value, or when it starts more than one slot before the first one: the engine
 * does not run a lookup whose window the data does not reach yet (`lookupRunnable` in src/health/lookup.ts
 * allows one update_every of slack), so an agent's first 70 s have no baseline and cannot raise.
 */
function windowMean(sums: Float64Array, counts: Int32Array, i: number, from: number, to: number): Value {
  const hi = i - to; // inclusive
  if (hi < 0 || i - from < -1) return null;
  const lo = Math.max(0, i - from);
  const n = counts[hi + 1]! - counts[lo]!;
  if (n === 0) return null;
  return (sums[hi + 1]! - sums[lo]!) / n;
}

/** The reset alerts' numbers for every slot of a contiguous per-second series. */
export function resetOverlay(values: readonly Value[], rule = RESET_RULE): ResetOverlay {
  const n = values.length;
  const sums = new Float64Array(n + 1);
  const counts = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const ok = typeof v === 'number' && Number.isFinite(v);
    sums[i + 1] = sums[i]! + (ok ? v : 0);
    counts[i + 1] = counts[i]! + (ok ? 1 : 0);
  }
  const out: ResetOverlay = { avg10: [], baseline: [], raise: [], hold: [] };
  const lag = rule.baselineLagSeconds;
  for (let i = 0; i < n; i++) {
    out.avg10.push(windowMean(sums, counts, i, rule.shortSeconds - 1, 0));
    const b = windowMean(sums, counts, i, rule.baselineSeconds + lag - 1, lag);
    out.baseline.push(b);
    const floor = b === null ? null : Math.max(rule.floorPerSecond, b);
    out.raise.push(floor === null ? null : floor * rule.raiseFactor);
    out.hold.push(floor === null ? null : floor * rule.holdFactor);
  }
  return out;
}

/**
 * The status the shipped rule gives at one slot, from the previous status (the `$status >= $WARNING` of the
 * warn expression): 'WARNING' or 'CLEAR'; 'UNDEFINED' when there is no value at all. The uptime guard of the
 * shipped alert (nothing during the agent's first minute) is not modelled: the dashboard draws thresholds.
 */
export function ruleStatus(
  avg10: Value,
  baseline: Value,
  wasRaised: boolean,
  rule = RESET_RULE,
): 'WARNING' | 'CLEAR' | 'UNDEFINED' {
  if (avg10 === null) return 'UNDEFINED';
  if (baseline === null) return 'CLEAR';
  const threshold =
    Math.max(rule.floorPerSecond, baseline) * (wasRaised ? rule.holdFactor : rule.raiseFactor);
  return avg10 > threshold ? 'WARNING' : 'CLEAR';
}

/** The newest non-null value of a column, or null. */
export function lastValue(col: readonly Value[]): Value {
  for (let i = col.length - 1; i >= 0; i--) {
    const v = col[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** The largest value of a column, or null. */
export function maxValue(col: readonly Value[]): Value {
  let m: Value = null;
  for (const v of col) if (v !== null && (m === null || v > m)) m = v;
  return m;
}
