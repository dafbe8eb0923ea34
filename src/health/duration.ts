/**
 * Durations of the health configuration language (`every: 10s`, `lookup: average -1m at -10s`,
 * `delay: up 20s down 60m`), as Netdata's `duration_parse_seconds` reads them
 * (shared/design/netdata-health-semantics.md §2.4).
 *
 * - A duration is one or more `NUMBER[UNIT]` parts: `10s`, `1h30m`, `15d-12h` (each part carries its own
 *   sign, so that one is 14.5 days), `2 hours 30 minutes`. A bare number is seconds. Fractions are allowed.
 * - A leading `-` negates the whole expression (`-1h30m` is −5400 s); an `ago` suffix negates it too,
 *   unless it is already negative (`-7d ago` is still −7 d).
 * - `never` and `off` are 0.
 * - Each part is rounded to nanoseconds, the sum to whole seconds (half away from zero, as C's `round`).
 *   The result must fit a C `int`.
 *
 * Units (full names singular or plural): ns, us, ms, s/sec/secs, m/min, h/hr/hrs, d, w/wk, mo/M (30 days),
 * q (quarter: 3 × 30 = 90 days), y/Y/a (365 days). A unit is matched exactly first and then regardless of
 * case. Netdata's current parser compares regardless of case only, so there `M` finds `m` first and means a
 * minute; we keep `M` = month, what the table intends and what Netdata ≤ 1.x (`config_parse_duration`) did.
 *
 * @example
 * parseDuration('-1m')      // { seconds: -60 }
 * parseDuration('1h30m')    // { seconds: 5400 }
 * parseDuration('2h ago')   // { seconds: -7200 }
 * parseDuration('10 parsecs') // { error: "unknown unit 'parsecs'" }
 */

export type DurationResult = { seconds: number } | { error: string };

const NS_PER_S = 1e9;
const NS_PER_MIN = 60 * NS_PER_S;
const NS_PER_HOUR = 60 * NS_PER_MIN;
const NS_PER_DAY = 24 * NS_PER_HOUR;
const NS_PER_MONTH = 30 * NS_PER_DAY;

/** In Netdata's order (smallest first): the first unit that matches wins. */
const UNITS: readonly (readonly [string, number])[] = [
  ['ns', 1],
  ['nanosecond', 1],
  ['nanoseconds', 1],
  ['us', 1e3],
  ['microsecond', 1e3],
  ['microseconds', 1e3],
  ['ms', 1e6],
  ['millisecond', 1e6],
  ['milliseconds', 1e6],
  ['s', NS_PER_S],
  ['sec', NS_PER_S],
  ['secs', NS_PER_S],
  ['second', NS_PER_S],
  ['seconds', NS_PER_S],
  ['m', NS_PER_MIN],
  ['min', NS_PER_MIN],
  ['minute', NS_PER_MIN],
  ['minutes', NS_PER_MIN],
  ['h', NS_PER_HOUR],
  ['hr', NS_PER_HOUR],
  ['hrs', NS_PER_HOUR],
  ['hour', NS_PER_HOUR],
  ['hours', NS_PER_HOUR],
  ['d', NS_PER_DAY],
  ['day', NS_PER_DAY],
  ['days', NS_PER_DAY],
  ['w', 7 * NS_PER_DAY],
  ['wk', 7 * NS_PER_DAY],
  ['week', 7 * NS_PER_DAY],
  ['weeks', 7 * NS_PER_DAY],
  ['mo', NS_PER_MONTH],
  ['M', NS_PER_MONTH],
  ['month', NS_PER_MONTH],
  ['months', NS_PER_MONTH],
  ['q', 3 * NS_PER_MONTH],
  ['quarter', 3 * NS_PER_MONTH],
  ['quarters', 3 * NS_PER_MONTH],
  ['y', 365 * NS_PER_DAY],
  ['Y', 365 * NS_PER_DAY],
  ['a', 365 * NS_PER_DAY],
  ['year', 365 * NS_PER_DAY],
  ['years', 365 * NS_PER_DAY],
];

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/** Netdata copies at most 15 characters of a unit before looking it up. */
const MAX_UNIT_CHARS = 15;

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;
const LETTERS = /^[A-Za-z]*/;
const SPACE = /^[ \t\n\v\f\r]*/;

function findUnit(unit: string): number | undefined {
  for (const [name, ns] of UNITS) if (name === unit) return ns;
  const lower = unit.toLowerCase();
  for (const [name, ns] of UNITS) if (name.toLowerCase() === lower) return ns;
  return undefined;
}

/** C `round`: halves go away from zero (JavaScript's Math.round sends −2.5 to −2). */
export function roundHalfAway(x: number): number {
  const r = Math.sign(x) * Math.round(Math.abs(x));
  return r === 0 ? 0 : r;
}

/** Parse a health-configuration duration into whole seconds. */
export function parseDuration(text: string): DurationResult {
  let i = 0;
  const skipSpace = () => {
    i += (SPACE.exec(text.slice(i)) as RegExpExecArray)[0].length;
  };
  skipSpace();
  if (i >= text.length) return { error: 'empty duration' };
  let sign = 1;
  if (text[i] === '-') {
    sign = -1;
    i++;
  }
  let ns = 0;
  let ago = false;
  let parsedAny = false;
  while (i < text.length) {
    skipSpace();
    if (i >= text.length) break;
    const rest = text.slice(i);
    if (/^(never|off)$/i.test(rest)) return { seconds: 0 };
    const num = NUMBER.exec(rest);
    if (!num) {
      if (rest.toLowerCase() === 'ago') {
        ago = true;
        i = text.length;
        break;
      }
      return { error: `expected a number at ${JSON.stringify(rest)}` };
    }
    const value = Number(num[0]);
    i += num[0].length;
    skipSpace();
    const unit = (LETTERS.exec(text.slice(i)) as RegExpExecArray)[0];
    i += unit.length;
    let perUnit: number | undefined;
    if (unit.length === 0) perUnit = NS_PER_S;
    else {
      // `7daysago`: a unit glued to `ago`.
      if (unit.length > 3 && unit.slice(-3).toLowerCase() === 'ago' && unit.length - 3 <= MAX_UNIT_CHARS) {
        perUnit = findUnit(unit.slice(0, -3));
        if (perUnit !== undefined) {
          ago = true;
          i -= 3;
        }
      }
      if (perUnit === undefined) {
        const u = unit.slice(0, MAX_UNIT_CHARS);
        // Netdata stops at `5ago` or `5 ago` without counting the 5, and then fails: ago needs a duration.
        if (u.toLowerCase() === 'ago') return { error: "'ago' must follow a unit, as in '5s ago'" };
        perUnit = findUnit(u);
        if (perUnit === undefined) return { error: `unknown unit '${unit}'` };
      }
    }
    if (!Number.isFinite(value)) return { error: `number out of range: ${num[0]}` };
    ns += roundHalfAway(value * perUnit);
    parsedAny = true;
  }
  if (!parsedAny && !ago) return { error: 'expected a number' };
  ns *= sign;
  skipSpace();
  if (!ago && i < text.length) {
    if (text.slice(i).toLowerCase() !== 'ago')
      return { error: `unexpected ${JSON.stringify(text.slice(i))}` };
    ago = true;
    i = text.length;
  }
  if (ago) {
    if (!parsedAny) return { error: "'ago' without a duration" };
    if (sign > 0) ns = -ns;
    skipSpace();
    if (i < text.length) return { error: `unexpected ${JSON.stringify(text.slice(i))} after 'ago'` };
  }
  const seconds = roundHalfAway(ns / NS_PER_S);
  if (!Number.isFinite(seconds) || seconds < INT_MIN || seconds > INT_MAX)
    return { error: `duration out of range (at most ${INT_MAX} seconds, about 68 years)` };
  return { seconds };
}

/** Type guard for the error branch. */
export function isDurationError(r: DurationResult): r is { error: string } {
  return 'error' in r;
}
