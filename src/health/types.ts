/**
 * Shared types of the health (alert) engine: configuration, lookups, expressions, statuses.
 * Semantics follow Netdata's health engine as specified in shared/design/netdata-health-semantics.md
 * (§2 language, §3 evaluation); section numbers below refer to that document.
 */

/** §3.1: the code's values (rrdcalc.h), not the documentation's. */
export const STATUS = {
  REMOVED: -2,
  UNDEFINED: -1,
  UNINITIALIZED: 0,
  CLEAR: 1,
  RAISED: 2,
  WARNING: 3,
  CRITICAL: 4,
} as const;
export type StatusName = keyof typeof STATUS;
export type Status = (typeof STATUS)[StatusName];

export function statusName(s: number): StatusName {
  for (const [k, v] of Object.entries(STATUS)) if (v === s) return k as StatusName;
  return 'UNDEFINED';
}

/** Where a piece of configuration came from. */
export interface SourcePos {
  file: string;
  line: number;
  column?: number;
}

/** Time-grouping methods of `lookup:` (§2.3), by canonical name. */
export type GroupMethod =
  | 'average'
  | 'min'
  | 'max'
  | 'sum'
  | 'median'
  | 'trimmed-median'
  | 'trimmed-mean'
  | 'percentile'
  | 'incremental-sum'
  | 'stddev'
  | 'cv'
  | 'ses'
  | 'des'
  | 'countif'
  | 'extremes'
  | 'latest';

export type CountifOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** How dimensions are combined after time grouping (lookup options `min`, `max`, `average`, `min2max`). */
export type DimensionCombine = 'sum' | 'min' | 'max' | 'average' | 'min2max';

export interface LookupOptions {
  absolute: boolean;
  unaligned: boolean;
  percentage: boolean;
  anomalyBit: boolean;
  combine: DimensionCombine;
  null2zero: boolean;
  /** Neither set → both ids and names are tried. */
  matchIds: boolean;
  matchNames: boolean;
}

export interface LookupSpec {
  method: GroupMethod;
  /** trimmed-* percent (default 5), percentile (default 95), countif value (default 0). */
  methodParam?: number;
  countifOp?: CountifOp;
  /** Seconds, relative (normally negative). */
  after: number;
  /** Seconds, 0 = the chart's latest data. */
  before: number;
  /** `every` inside the lookup line, if given. */
  every?: number;
  options: LookupOptions;
  /** The dimension pattern after `of` (simple pattern, separators `,|` and control whitespace); '' = all. */
  dimensions: string;
  /** The text after ` foreach`, if any. */
  foreach?: string;
  /** The lookup line as written. */
  source: string;
}

/** An expression as written, with where it was written; compiled by the engine's loader. */
export interface ExpressionSource {
  source: string;
  pos: SourcePos;
}

/** `label=pattern …` filters (host labels, chart labels): key → simple patterns (OR), keys AND-ed. */
export type LabelFilter = { key: string; patterns: string }[];

export interface AlertConfig {
  kind: 'alarm' | 'template';
  name: string;
  /** Chart id or name (alarm) or context (template). */
  on: string;
  class?: string;
  type?: string;
  component?: string;
  hostLabels: LabelFilter;
  chartLabels: LabelFilter;
  lookup?: LookupSpec;
  calc?: ExpressionSource;
  warn?: ExpressionSource;
  crit?: ExpressionSource;
  /** Seconds between evaluations (update_every). */
  every: number;
  green?: number;
  red?: number;
  exec?: string;
  to?: string;
  units?: string;
  summary?: string;
  info?: string;
  delay: { up: number; down: number; multiplier: number; max: number };
  repeat: { warning: number; critical: number };
  noClearNotification: boolean;
  /** Position of the `alarm:`/`template:` line. */
  source: SourcePos;
}
