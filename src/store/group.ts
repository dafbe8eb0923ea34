/**
 * Time-grouping methods: reduce the points of one dimension over a window to one value. Gaps (NaN) are
 * skipped before grouping, as Netdata's query engine skips empty points; no points → NaN (EMPTY).
 * The alert engine's lookup grammar names these methods; more are registered as it needs them.
 */

export type Reducer = (values: readonly number[]) => number;

const average: Reducer = (v) => {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
};
const sum: Reducer = (v) => {
  let s = 0;
  for (const x of v) s += x;
  return s;
};
const min: Reducer = (v) => Math.min(...v);
const max: Reducer = (v) => Math.max(...v);

export const REDUCERS = new Map<string, Reducer>([
  ['average', average],
  ['mean', average],
  ['avg', average],
  ['sum', sum],
  ['min', min],
  ['max', max],
]);

/** Group values (gaps included, skipped here). Returns NaN when no point is left. */
export function groupValues(method: string, values: readonly number[]): number {
  const reducer = REDUCERS.get(method);
  if (!reducer) throw new RangeError(`unknown grouping method ${method}`);
  const kept: number[] = [];
  for (const x of values) if (!Number.isNaN(x)) kept.push(x);
  if (kept.length === 0) return Number.NaN;
  return reducer(kept);
}
