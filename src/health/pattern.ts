/**
 * Netdata simple patterns and the label filters built from them
 * (shared/design/netdata-health-semantics.md §2.2 "How label patterns are matched", §2.3 `of`).
 *
 * A simple pattern is a list of alternatives separated by spaces (or by the given separators): `*` is a
 * wildcard anywhere in an alternative, a leading `!` makes it negative, a backslash escapes the next character
 * (so a separator can be part of an alternative). The first alternative that matches decides: positive →
 * true, negative → false; none matches → undefined. An empty string never matches anything.
 *
 * Consecutive asterisks count as one. (Netdata reads `a**b` as `a` followed by the literal suffix `*b`: an
 * accident of its parser that nobody relies on.)
 *
 * @example
 * compileSimplePattern('!*.tmp *').matches('x.tmp') // false
 * compileSimplePattern('eth* !*').matches('lo')     // false
 * compileSimplePattern('eth*').matches('lo')        // undefined
 */

import type { LabelFilter } from './types.js';

/** Netdata's default separators: whitespace. */
export const DEFAULT_SEPARATORS = ' \t\r\n\f\v';
/** Separators of `lookup: … of DIMENSIONS`: a space is part of a dimension name. */
export const DIMENSION_SEPARATORS = ',|\t\r\n\f\v';

export interface SimplePattern {
  /** true: a positive alternative matched first; false: a negative one; undefined: none matched. */
  matches(s: string): boolean | undefined;
  /** The alternatives as parsed (for messages and tests). */
  readonly alternatives: readonly { negative: boolean; glob: string }[];
}

/** Does `s` match a glob whose only metacharacter is `*`? Case-sensitive unless told otherwise. */
export function globMatches(glob: string, s: string, caseSensitive = true): boolean {
  const g = caseSensitive ? glob : glob.toLowerCase();
  const t = caseSensitive ? s : s.toLowerCase();
  const parts = g.split('*');
  if (parts.length === 1) return g === t;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (first.length + last.length > t.length) return false;
  if (!t.startsWith(first) || !t.endsWith(last)) return false;
  // Middle parts, leftmost first, never overlapping the prefix or the suffix.
  let at = first.length;
  const end = t.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const p = parts[i] as string;
    if (p === '') continue;
    const k = t.indexOf(p, at);
    if (k < 0 || k + p.length > end) return false;
    at = k + p.length;
  }
  return true;
}

/**
 * Compile a simple pattern.
 * @param text the pattern list
 * @param separators characters that separate alternatives (default: whitespace)
 */
export function compileSimplePattern(
  text: string,
  separators: string = DEFAULT_SEPARATORS,
  opts: { caseSensitive?: boolean } = {},
): SimplePattern {
  const caseSensitive = opts.caseSensitive ?? true;
  const isSep = (c: string) => separators.includes(c);
  const alternatives: { negative: boolean; glob: string }[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && isSep(text[i] as string)) i++;
    let negative = false;
    if (text[i] === '!') {
      negative = true;
      i++;
    }
    if (i >= text.length) break;
    let buf = '';
    let escaped = false;
    while (i < text.length) {
      const c = text[i] as string;
      if (c === '\\' && !escaped) {
        escaped = true;
        i++;
        continue;
      }
      if (isSep(c) && !escaped) {
        i++;
        break;
      }
      buf += c;
      escaped = false;
      i++;
    }
    if (buf === '') continue;
    alternatives.push({ negative, glob: buf.replace(/\*+/g, '*') });
  }
  return {
    alternatives,
    matches(s: string): boolean | undefined {
      if (s === '') return undefined;
      for (const a of alternatives) if (globMatches(a.glob, s, caseSensitive)) return !a.negative;
      return undefined;
    },
  };
}

/** The filter of an alert that Netdata disables (`!*` as the whole value of a label key). Never matches. */
export const DISABLED_LABEL_FILTER: LabelFilter = [{ key: '*', patterns: '!*' }];

/** Values that mean "no filter" and "disabled" when they are the whole value of a pattern key (§2.2). */
export function labelValueMeaning(value: string): 'any' | 'disabled' | 'filter' {
  const v = value.trim();
  if (v === '' || v === '*') return 'any';
  if (v === '!*' || v === '!* *') return 'disabled';
  return 'filter';
}

/** One `key=pattern` token of a label filter, in reading order. */
export interface LabelToken {
  key: string;
  /** The value pattern, with its `!` if negative. */
  pattern: string;
  /** Offset of the token in the (space-normalised) text. */
  offset: number;
  /** True when no `key=` came before this token. */
  keyless: boolean;
}

/**
 * Split `label=pattern …` the way Netdata does (`health_config_add_key_to_values`): spaces around `=` are
 * dropped, a token containing `=` sets the current key, bare tokens inherit it (`_os=linux freebsd` is two
 * patterns for `_os`), a `!` in front of a value negates it.
 */
export function labelTokens(value: string): LabelToken[] {
  const text = value.replace(/[ \t\n\v\f\r]+/g, ' ').replace(/ ?= ?/g, '=');
  const out: LabelToken[] = [];
  let key = '';
  let haveKey = false;
  const re = /[^ ]+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let token = m[0];
    let offset = m.index;
    const eq = token.lastIndexOf('=');
    if (eq >= 0) {
      // Netdata keeps the text between the last two `=` as the key (`a=b=c` is key b, value c).
      const prev = token.lastIndexOf('=', eq - 1);
      key = token.slice(prev + 1, eq);
      haveKey = true;
      offset += eq + 1;
      token = token.slice(eq + 1);
    }
    if (token === '') continue;
    out.push({ key, pattern: token, offset, keyless: !haveKey });
  }
  return out;
}

/**
 * Parse a label filter value (`host labels:`, `chart labels:`, or what `os:`/`hosts:`/`plugin:`/`module:`
 * become). `*` or empty is no filter ([]); `!*` disables the alert ({@link DISABLED_LABEL_FILTER}).
 * Patterns of the same key are kept together, in order.
 *
 * @example
 * parseLabelFilter('_os=linux freebsd') // [{ key: '_os', patterns: 'linux freebsd' }]
 */
export function parseLabelFilter(value: string): LabelFilter {
  const meaning = labelValueMeaning(value);
  if (meaning === 'any') return [];
  if (meaning === 'disabled') return DISABLED_LABEL_FILTER.map((e) => ({ ...e }));
  const filter: LabelFilter = [];
  for (const t of labelTokens(value)) {
    const entry = filter.find((e) => e.key === t.key);
    if (entry) entry.patterns += ` ${t.pattern}`;
    else filter.push({ key: t.key, patterns: t.pattern });
  }
  return filter;
}

function isDisabled(entry: { key: string; patterns: string }): boolean {
  return entry.key === '*' && entry.patterns === '!*';
}

/**
 * Does a label set pass a filter? Netdata's `pattern_array_label_match`: for each key, its patterns are tried
 * in order, each one as the simple pattern `[!]key=value` against every label written `name=value`; the
 * first pattern that matches a label (positively or negatively) decides for the key, and it must be
 * positive. All keys must pass. An empty filter passes everything; a host without the label fails.
 */
export function labelFilterMatches(filter: LabelFilter, labels: Record<string, string>): boolean {
  if (filter.length === 0) return true;
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  for (const entry of filter) {
    if (isDisabled(entry)) return false;
    let decision: boolean | undefined;
    for (const p of entry.patterns.split(/[ \t\n\v\f\r]+/)) {
      if (p === '') continue;
      // Netdata writes the pair as `[!]key=value` and reads the `!` from its front, so a key written
      // `!_os` negates too.
      const full = p.startsWith('!') ? `!${entry.key}=${p.slice(1)}` : `${entry.key}=${p}`;
      const negative = full.startsWith('!');
      const glob = (negative ? full.slice(1) : full).replace(/\*+/g, '*');
      if (pairs.some((pair) => globMatches(glob, pair))) {
        decision = !negative;
        break;
      }
    }
    if (decision !== true) return false;
  }
  return true;
}
