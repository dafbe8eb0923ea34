/**
 * The `lookup:` line of the health configuration language (Netdata's `health_parse_db_lookup`,
 * shared/design/netdata-health-semantics.md §2.3):
 *
 *   lookup: METHOD[(CONDITION VALUE)] AFTER [at BEFORE] [every DURATION] [OPTION…] [of DIMENSIONS]
 *
 * - METHOD is case-sensitive, as in Netdata (`average`, not `Average`); see {@link LOOKUP_METHODS}.
 * - AFTER is required (normally negative, `-10s`); BEFORE defaults to 0 (the latest data).
 * - Keywords and options are case-insensitive and may come in any order after AFTER.
 * - `of` takes the rest of the line, up to an optional ` foreach …`; `of all` means every dimension.
 * - `foreach` makes a template one alert per matching dimension (scheduler.ts binds them); on an `alarm:`
 *   Netdata ignores it (only templates are expanded since 1.3x), and so do we, with a warning.
 *
 * Every problem is reported with the column of the offending word. Netdata logs and ignores unknown
 * keywords; so do we, as warnings.
 */

import type { Problem } from '../internal/errors.js';
import { parseDuration } from './duration.js';
import type {
  CountifOp,
  DimensionCombine,
  GroupMethod,
  LookupOptions,
  LookupSpec,
  SourcePos,
} from './types.js';

interface MethodInfo {
  method: GroupMethod;
  /** The parameter the name implies (`trimmed-mean10` → 10) or its default. */
  param?: number;
}

const TRIMMED = [1, 2, 3, 5, 10, 15, 20, 25];
const PERCENTILES = [25, 50, 75, 80, 90, 95, 97, 98, 99];

/** Every method name Netdata's `time_grouping_parse` knows, plus `latest` (§2.3). */
export const LOOKUP_METHODS: ReadonlyMap<string, MethodInfo> = new Map<string, MethodInfo>([
  ['average', { method: 'average' }],
  ['avg', { method: 'average' }],
  ['mean', { method: 'average' }],
  ['min', { method: 'min' }],
  ['max', { method: 'max' }],
  ['sum', { method: 'sum' }],
  ['median', { method: 'median' }],
  ['trimmed-median', { method: 'trimmed-median', param: 5 }],
  ...TRIMMED.map((n): [string, MethodInfo] => [`trimmed-median${n}`, { method: 'trimmed-median', param: n }]),
  ['trimmed-mean', { method: 'trimmed-mean', param: 5 }],
  ...TRIMMED.map((n): [string, MethodInfo] => [`trimmed-mean${n}`, { method: 'trimmed-mean', param: n }]),
  ['percentile', { method: 'percentile', param: 95 }],
  ...PERCENTILES.map((n): [string, MethodInfo] => [`percentile${n}`, { method: 'percentile', param: n }]),
  ['incremental_sum', { method: 'incremental-sum' }],
  ['incremental-sum', { method: 'incremental-sum' }],
  ['stddev', { method: 'stddev' }],
  ['cv', { method: 'cv' }],
  ['rsd', { method: 'cv' }],
  ['coefficient-of-variation', { method: 'cv' }],
  ['ses', { method: 'ses' }],
  ['ema', { method: 'ses' }],
  ['ewma', { method: 'ses' }],
  ['des', { method: 'des' }],
  ['countif', { method: 'countif', param: 0 }],
  ['extremes', { method: 'extremes' }],
  ['latest', { method: 'latest' }],
]);

/** Lookup options (case-insensitive) and what each one sets. */
const FLAG_OPTIONS: Record<string, keyof Omit<LookupOptions, 'combine'>> = {
  absolute: 'absolute',
  abs: 'absolute',
  absolute_sum: 'absolute',
  unaligned: 'unaligned',
  percentage: 'percentage',
  'anomaly-bit': 'anomalyBit',
  null2zero: 'null2zero',
  'match-ids': 'matchIds',
  match_ids: 'matchIds',
  'match-names': 'matchNames',
  match_names: 'matchNames',
};

const COMBINE_OPTIONS: readonly DimensionCombine[] = ['min', 'max', 'min2max', 'average', 'sum'];
/** When several are given Netdata picks in this order (`dims_grouping_from_rrdr_options`). */
const COMBINE_PRIORITY: readonly DimensionCombine[] = ['min', 'max', 'min2max', 'average'];

const CONDITIONS: readonly (readonly [string, CountifOp])[] = [
  ['==', '=='],
  ['!=', '!='],
  ['<>', '!='],
  ['<=', '<='],
  ['>=', '>='],
  ['=', '=='],
  [':', '=='],
  ['!', '!='],
  ['<', '<'],
  ['>', '>'],
];

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;
const WS = /[ \t\n\v\f\r]/;

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] as number;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j] as number;
      d[j] = Math.min(cur + 1, (d[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length] as number;
}

export function defaultLookupOptions(): LookupOptions {
  return {
    absolute: false,
    unaligned: false,
    percentage: false,
    anomalyBit: false,
    combine: 'sum',
    null2zero: false,
    matchIds: false,
    matchNames: false,
  };
}

export interface LookupParseResult {
  lookup?: LookupSpec;
  problems: Problem[];
}

/**
 * Parse the value of a `lookup:` line.
 *
 * @param text the value (after `lookup:`), trimmed
 * @param pos where `text` starts (file, line, column of its first character)
 * @param locate maps an offset in `text` to a position, for values joined from continuation lines
 *   (default: same line, `pos.column + offset`)
 * @returns the lookup, or none and the errors; warnings may come with a lookup
 * @example parseLookup('average -10s unaligned absolute of OutRsts', { file: 'tcp.conf', line: 9, column: 12 })
 */
export function parseLookup(
  text: string,
  pos: SourcePos,
  locate?: (offset: number) => SourcePos,
  kind: 'alarm' | 'template' = 'alarm',
): LookupParseResult {
  const where =
    locate ?? ((o: number) => ({ file: pos.file, line: pos.line, column: (pos.column ?? 1) + o }));
  const problems: Problem[] = [];
  const report = (code: string, offset: number, message: string, severity: 'error' | 'warning' = 'error') => {
    const at = where(offset);
    const p: Problem = { code, message, severity, file: at.file, line: at.line };
    if (at.column !== undefined) p.column = at.column;
    problems.push(p);
  };
  const fail = (code: string, offset: number, message: string): LookupParseResult => {
    report(code, offset, message);
    return { problems };
  };

  let i = 0;
  const skipWs = () => {
    while (i < text.length && WS.test(text[i] as string)) i++;
  };
  const word = (): { text: string; at: number } => {
    skipWs();
    const at = i;
    while (i < text.length && !WS.test(text[i] as string)) i++;
    return { text: text.slice(at, i), at };
  };

  // METHOD, up to whitespace or `(`.
  skipWs();
  const methodAt = i;
  while (i < text.length && !WS.test(text[i] as string) && text[i] !== '(') i++;
  const methodName = text.slice(methodAt, i);
  if (methodName === '')
    return fail('E_HEALTH_LOOKUP', methodAt, 'expected a time-grouping method, e.g. average');
  const info = LOOKUP_METHODS.get(methodName);
  if (!info) {
    const names = [...LOOKUP_METHODS.keys()];
    const other = names.find((k) => k.toLowerCase() === methodName.toLowerCase());
    const near = methodName.length > 3 ? names.find((k) => editDistance(k, methodName) <= 2) : undefined;
    const hint = other
      ? ` (method names are case-sensitive: write '${other}')`
      : near
        ? `: did you mean '${near}'?`
        : '';
    return fail('E_HEALTH_LOOKUP', methodAt, `unknown time-grouping method '${methodName}'${hint}`);
  }

  // (CONDITION VALUE)
  skipWs();
  let param = info.param;
  let countifOp: CountifOp | undefined = info.method === 'countif' ? '==' : undefined;
  if (text[i] === '(') {
    const open = i;
    const close = text.indexOf(')', open);
    if (close < 0) return fail('E_HEALTH_LOOKUP', open, `missing ')' after '${methodName}('`);
    const inner = text.slice(open + 1, close);
    let k = 0;
    const innerWs = () => {
      while (k < inner.length && WS.test(inner[k] as string)) k++;
    };
    innerWs();
    const cond = CONDITIONS.find(([s]) => inner.startsWith(s, k));
    if (cond) {
      if (info.method !== 'countif')
        return fail(
          'E_HEALTH_LOOKUP',
          open + 1 + k,
          `a condition ('${cond[0]}') is only allowed with countif`,
        );
      countifOp = cond[1];
      k += cond[0].length;
      innerWs();
    }
    const num = NUMBER.exec(inner.slice(k));
    let value: number | undefined;
    if (num) {
      value = Number(num[0]);
      k += num[0].length;
      innerWs();
    }
    if (k < inner.length)
      return fail(
        'E_HEALTH_LOOKUP',
        open + 1 + k,
        `expected ${value === undefined ? 'a number' : "')'"} in '${methodName}(…)', found '${inner.slice(k)}'`,
      );
    if (value !== undefined) {
      if (info.param === undefined)
        report(
          'W_HEALTH_LOOKUP_PARAM',
          open,
          `'${methodName}' takes no parameter: (${num?.[0]}) is ignored`,
          'warning',
        );
      else if (info.method !== 'countif' && (value < 0 || value > 100))
        return fail(
          'E_HEALTH_LOOKUP',
          open + 1,
          `'${methodName}' needs a percentage between 0 and 100, got ${value}`,
        );
      else param = value;
    }
    i = close + 1;
  }

  // AFTER (required)
  const after = word();
  if (after.text === '')
    return fail('E_HEALTH_LOOKUP', after.at, `expected the AFTER duration (e.g. -1m) after '${methodName}'`);
  const afterD = parseDuration(after.text);
  if ('error' in afterD)
    return fail('E_HEALTH_DURATION', after.at, `invalid AFTER duration '${after.text}': ${afterD.error}`);
  if (afterD.seconds === 0)
    return fail(
      'E_HEALTH_LOOKUP',
      after.at,
      'AFTER must not be 0 (Netdata treats such a lookup as no lookup at all)',
    );
  if (afterD.seconds > 0)
    report(
      'W_HEALTH_LOOKUP_AFTER',
      after.at,
      `AFTER is positive (${afterD.seconds}s): the query reads it as -${afterD.seconds}s; write it negative`,
      'warning',
    );

  const spec: LookupSpec = {
    method: info.method,
    after: afterD.seconds,
    before: 0,
    options: defaultLookupOptions(),
    dimensions: '',
    source: text,
  };
  const combines = new Set<DimensionCombine>();
  let broken = false;

  while (true) {
    const w = word();
    if (w.text === '') break;
    const key = w.text.toLowerCase();
    if (key === 'at' || key === 'every') {
      const v = word();
      if (v.text === '') {
        report('E_HEALTH_DURATION', w.at, `'${w.text}' needs a duration after it`);
        broken = true;
        break;
      }
      const d = parseDuration(v.text);
      if ('error' in d) {
        report('E_HEALTH_DURATION', v.at, `invalid duration '${v.text}' after '${w.text}': ${d.error}`);
        broken = true;
      } else if (key === 'at') spec.before = d.seconds;
      else spec.every = d.seconds;
      continue;
    }
    const flag = FLAG_OPTIONS[key];
    if (flag) {
      spec.options[flag] = true;
      continue;
    }
    if ((COMBINE_OPTIONS as readonly string[]).includes(key)) {
      combines.add(key as DimensionCombine);
      continue;
    }
    if (key === 'of') {
      skipWs();
      const rest = text.slice(i);
      // Netdata: the rest of the line, up to " foreach" (any case); `of all` alone means all dimensions.
      const fe = rest.search(/ foreach/i);
      const dims = fe < 0 ? rest : rest.slice(0, fe);
      if (rest !== '' && rest.toLowerCase() !== 'all') spec.dimensions = dims;
      if (fe < 0) break;
      i += fe + 1;
      continue;
    }
    if (key === 'foreach') {
      skipWs();
      spec.foreach = text.slice(i);
      // Netdata (rrdcalctemplate.c, 1.37–1.44) expands foreach for templates only; an alarm: keeps its `of`
      // dimensions and the foreach is unused. Netdata since 2024 (alert prototypes) has no foreach at all.
      if (kind === 'alarm')
        report(
          'W_HEALTH_LOOKUP_FOREACH',
          w.at,
          "'foreach' only applies to templates (as in Netdata): this alarm watches its 'of' dimensions together",
          'warning',
        );
      break;
    }
    report('W_HEALTH_LOOKUP_KEYWORD', w.at, `unknown lookup keyword '${w.text}' (ignored)`, 'warning');
  }
  if (broken) return { problems };

  spec.options.combine = COMBINE_PRIORITY.find((c) => combines.has(c)) ?? 'sum';
  if (param !== undefined) spec.methodParam = param;
  if (countifOp !== undefined) spec.countifOp = countifOp;
  return { lookup: spec, problems };
}
