/**
 * `/api/v1/data` parameters that are words: `options` (Netdata 1.37's names; the ones without an effect here
 * are accepted and listed in docs/api.md, an unknown one is refused) and `group` (every method name of the
 * `lookup:` grammar).
 */

import { LOOKUP_METHODS } from '../health/lookup-parse.js';
import type { CountifOp, GroupMethod } from '../health/types.js';
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

type FlagOption = Exclude<keyof DataOptions, 'reduce'>;

/** Option names of Netdata 1.37 that change the answer, and what each sets. */
const FLAG_OPTIONS: Record<string, FlagOption> = {
  abs: 'abs',
  absolute: 'abs',
  absolute_sum: 'abs',
  'absolute-sum': 'abs',
  percentage: 'percentage',
  null2zero: 'null2zero',
  nonzero: 'nonzero',
  flip: 'flip',
  reversed: 'flip',
  reverse: 'flip',
  jsonwrap: 'jsonwrap',
  unaligned: 'unaligned',
  seconds: 'seconds',
  ms: 'ms',
  milliseconds: 'ms',
  objectrows: 'objectrows',
  'match-ids': 'matchIds',
  match_ids: 'matchIds',
  'match-names': 'matchNames',
  match_names: 'matchNames',
};

/** How `array`/`ssv` combine a row's dimensions (Netdata's rrdr2value options). */
const REDUCE_OPTIONS: Record<string, DataOptions['reduce']> = {
  min2max: 'min2max',
  min: 'min',
  max: 'max',
  average: 'average',
  sum: 'sum',
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
    const flag = FLAG_OPTIONS[name];
    const reduce = REDUCE_OPTIONS[name];
    if (flag !== undefined) o[flag] = true;
    else if (reduce !== undefined) o.reduce = reduce;
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
