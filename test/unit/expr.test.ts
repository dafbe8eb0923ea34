// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${name}` is the Netdata variable syntax under test, not a template
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EVAL_ERROR,
  type EvalResult,
  type Expression,
  type ExprNode,
  evaluate,
  formatExpression,
  formatNumber,
  MAX_DEPTH,
  MAX_NESTING,
  parseExpression,
} from '../../src/health/expr/index.js';

type Vars = Record<string, number>;

function parse(src: string): Expression {
  const r = parseExpression(src);
  if (!r.expr) throw new Error(`did not parse: ${src}: ${r.problems[0]?.message}`);
  expect(r.problems).toEqual([]);
  return r.expr;
}

/** Evaluate `src` with `vars`; `calls` receives every name looked up. */
function ev(src: string, vars: Vars = {}, calls: string[] = []): EvalResult {
  return evaluate(parse(src), (n) => {
    calls.push(n);
    return Object.hasOwn(vars, n) ? vars[n] : undefined;
  });
}

const { OK, VALUE_IS_NAN, VALUE_IS_INFINITE, UNKNOWN_VARIABLE } = EVAL_ERROR;
const NaN_ = Number.NaN;
const INF = Number.POSITIVE_INFINITY;
const NINF = Number.NEGATIVE_INFINITY;

describe('lexer: numbers and constants', () => {
  it.each([
    ['42', 42],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1.5E-2', 0.015],
    ['2e+2', 200],
    ['.5e1', 5],
    ['007', 7],
  ])('%s is %d', (src, value) => {
    const r = ev(src);
    expect(r).toMatchObject({ ok: true, value, error: OK });
  });

  it.each([
    ['nan == nan', 1],
    ['NaN == NULL', 1],
    ['null == Nan', 1],
    ['nan == 0', 0],
    ['inf == Infinity', 1],
    ['INF > 1e308', 1],
    ['iNfInItY > 1e308', 1],
    ['inf == 1', 0],
  ])('%s gives %d (nan/null are NaN, inf/infinity are +∞, any case)', (src, value) => {
    expect(ev(src)).toMatchObject({ ok: true, value });
  });

  it.each([
    ['nan', VALUE_IS_NAN],
    ['NULL', VALUE_IS_NAN],
    ['inf', VALUE_IS_INFINITE],
    ['INFINITY', VALUE_IS_INFINITE],
  ])('%s alone fails with error %d', (src, error) => {
    expect(ev(src)).toMatchObject({ ok: false, value: NaN_, error });
  });
});

describe('lexer: variables', () => {
  it.each([
    ['$netdata.uptime.uptime', ['netdata.uptime.uptime']],
    ['$a:b_c.d', ['a:b_c.d']],
    ['$a$b', ['a$b']],
    ['$1m_ip_tcp_resets_received', ['1m_ip_tcp_resets_received']],
    ['${name with spaces} + 1', ['name with spaces']],
    ['${a+b} * $c', ['a+b', 'c']],
    ['$a+$b', ['a', 'b']],
    ['$a-$b', ['a', 'b']],
    ['$a*$b/$c%$d', ['a', 'b', 'c', 'd']],
    ['$a<$b', ['a', 'b']],
    ['$a>=$b', ['a', 'b']],
    ['$a==$b', ['a', 'b']],
    ['$a!=$b', ['a', 'b']],
    ['$a&&$b', ['a', 'b']],
    ['$a||$b', ['a', 'b']],
    ['($a)?($b):($c)', ['a', 'b', 'c']],
    ['$b + $a * $b + ${a} - $c', ['b', 'a', 'c']],
    ['$x\t+\n$y\r', ['x', 'y']],
  ])('%s references %j', (src, names) => {
    expect(parse(src).variables).toEqual(names);
  });

  it('resolves a dotted name as one variable, and ${…} names without the braces', () => {
    expect(ev('$netdata.uptime.uptime', { 'netdata.uptime.uptime': 61 })).toMatchObject({
      ok: true,
      value: 61,
    });
    expect(ev('${name with spaces} + 1', { 'name with spaces': 2 })).toMatchObject({ ok: true, value: 3 });
    expect(ev('$a-1', { a: 5 })).toMatchObject({ ok: true, value: 4 });
  });

  it('accepts a name of 300 characters and rejects 301, in both spellings', () => {
    const n300 = 'v'.repeat(300);
    expect(parse(`$${n300} + 1`).variables).toEqual([n300]);
    expect(parse(`\${${n300}}`).variables).toEqual([n300]);
    for (const src of [`1 + $${n300}x`, `1 + \${${n300}x}`]) {
      const r = parseExpression(src);
      expect(r.expr).toBeUndefined();
      expect(r.problems).toMatchObject([
        { code: 'E_EXPR_VARIABLE_NAME_TOO_LONG', column: 5, severity: 'error' },
      ]);
      expect(r.problems[0]?.message).toContain('301 characters');
    }
  });
});

describe('lexer: words are case-insensitive', () => {
  it.each([
    ['1 AND 1', 1],
    ['1 and 0', 0],
    ['1 And 1', 1],
    ['0 Or 1', 1],
    ['0 OR 0', 0],
    ['NOT 0', 1],
    ['nOt 1', 0],
    ['not not 7', 1],
    ['ABS(-1)', 1],
    ['aBs(0 - 2)', 2],
    ['1 AND(1)', 1],
    ['0 or(1)', 1],
    ['not(0)', 1],
    ['notnot 1', 1], // re2c matches the word as a prefix: `not` `not` 1
    ['$a and$b', 1],
  ])('%s gives %d', (src, value) => {
    expect(ev(src, { a: 1, b: 1 })).toMatchObject({ ok: true, value });
  });
});

describe('precedence and associativity (Lemon grammar)', () => {
  it.each([
    // AND and OR share one level, left-associative (C would give 1 for the first one)
    ['1 || 0 && 0', 0],
    ['0 && 0 || 1', 1],
    ['0 || 1 AND 0', 0],
    ['1 || (0 && 0)', 1],
    // == and != bind looser than the relational operators
    ['1 == 2 < 3', 1],
    ['0 == 2 < 3', 0],
    ['3 > 2 == 1', 1],
    ['2 == 2 == 1', 1],
    ['3 - 1 == 2', 1],
    ['1 < 2 + 3', 1],
    ['2 + 3 > 4 == 1', 1],
    ['1 != 1 < 2', 0],
    // arithmetic
    ['1 + 2 * 3', 7],
    ['10 - 4 - 3', 3],
    ['2 * 3 % 4', 2],
    ['7 % 4 * 2', 6],
    ['12 / 2 / 3', 2],
    ['-2 * 3', -6],
    ['- - 2', 2],
    ['-(2 - 5)', 3],
    ['!0 + 1', 2],
    ['!1 == 0', 1],
    ['!2 * 5', 0],
    ['abs(-3) * 2', 6],
    ['-abs(-3)', -3],
    ['ABS(2 - 5)', 3],
    // ?: is the lowest and right-associative
    ['1 ? 2 : 0 ? 3 : 4', 2],
    ['0 ? 2 : 0 ? 3 : 4', 4],
    ['0 ? 2 : 1 ? 3 : 4', 3],
    ['0 || 1 ? 5 : 6', 5],
    ['1 ? 0 : 1 || 1', 0],
    ['1 ? 0 ? 7 : 8 : 9', 8],
    ['0 ? 1 : 2 + 3', 5],
  ])('%s = %d', (src, value) => {
    expect(ev(src)).toMatchObject({ ok: true, value, error: OK });
  });

  it.each([
    ['$a OR $b AND $c', '((${a} || ${b}) && ${c})'],
    ['$a == $b < $c', '(${a} == (${b} < ${c}))'],
    ['$a - $b - $c', '((${a} - ${b}) - ${c})'],
    ['$a ? $b : $c ? $d : $e', '(${a} ? ${b} : (${c} ? ${d} : ${e}))'],
    ['- ! $a * $b', '(-!${a} * ${b})'],
  ])('%s parses as %s', (src, printed) => {
    expect(formatExpression(parse(src))).toBe(printed);
  });
});

describe('evaluation: truth, logic and comparisons', () => {
  it.each<[string, Vars, number]>([
    ['nan && 1', {}, 0],
    ['nan || 0', {}, 0],
    ['!nan', {}, 1],
    ['inf && 1', {}, 1],
    ['!inf', {}, 0],
    ['$m && 1', { m: NINF }, 1],
    ['5 && 3', {}, 1],
    ['0 || 7', {}, 1],
    ['-2 || 0', {}, 1],
    ['0.00000001 || 0', {}, 0], // |x| < 1e-7 counts as zero (considered_equal_ndd)
    ['0.0000002 || 0', {}, 1],
    ['nan > 1', {}, 0],
    ['nan < 1', {}, 0],
    ['nan >= nan', {}, 0],
    ['nan <= 1', {}, 0],
    ['1 > nan', {}, 0],
    ['1 < inf', {}, 1],
    ['$m < -1e300', { m: NINF }, 1],
    ['nan == nan', {}, 1],
    ['inf == inf', {}, 1],
    ['inf == -inf', {}, 1],
    ['$p == $m', { p: INF, m: NINF }, 1],
    ['nan == 1', {}, 0],
    ['1 == nan', {}, 0],
    ['inf == 1', {}, 0],
    ['nan == inf', {}, 0],
    ['1 == 1.00000001', {}, 1],
    ['1 == 1.000001', {}, 0],
    ['nan != nan', {}, 0],
    ['nan != 1', {}, 1],
    ['$p != $m', { p: INF, m: NINF }, 0],
    ['1 != 2', {}, 1],
    ['1 <> 2', {}, 1],
    ['2 <> 2', {}, 0],
    ['1 = 1', {}, 1],
    ['2 = 1', {}, 0],
  ])('%s with %j gives %d', (src, vars, value) => {
    expect(ev(src, vars)).toMatchObject({ ok: true, value, error: OK });
  });
});

describe('evaluation: arithmetic with NaN and ∞', () => {
  it.each<[string, Vars, number]>([
    // + - * : NaN in → NaN out, ∞ in → +∞ out whatever the sign, and no error on the way
    ['(nan + 1) == nan', {}, 1],
    ['(1 - nan) == nan', {}, 1],
    ['(nan * 0) == nan', {}, 1],
    ['($m + 1) > 0', { m: NINF }, 1],
    ['(1 - $m) > 0', { m: NINF }, 1],
    ['($m * 2) > 0', { m: NINF }, 1],
    ['(inf - inf) > 0', {}, 1],
    ['(0 * inf) > 0', {}, 1],
    ['(nan + inf) == nan', {}, 1],
    // unary minus and abs: NaN → NaN, ±∞ → +∞; unary plus changes nothing
    ['(-nan) == nan', {}, 1],
    ['(-inf) > 0', {}, 1],
    ['(-$m) > 0', { m: NINF }, 1],
    ['$m < 0', { m: NINF }, 1],
    ['(+$m) < 0', { m: NINF }, 1],
    ['abs($m) > 0', { m: NINF }, 1],
    ['abs(nan) == nan', {}, 1],
    ['abs(-2.5)', {}, 2.5],
    ['7 / 2', {}, 3.5],
    ['7 % 3', {}, 1],
    ['-7 % 3', {}, -1],
    ['7.5 % 2', {}, 1.5],
  ])('%s with %j gives %d', (src, vars, value) => {
    expect(ev(src, vars)).toMatchObject({ ok: true, value, error: OK });
  });

  it.each<[string, Vars, number]>([
    ['10 / 0', {}, VALUE_IS_INFINITE],
    ['-10 / 0', {}, VALUE_IS_INFINITE],
    ['0 / 0', {}, VALUE_IS_INFINITE],
    ['nan / 1', {}, VALUE_IS_NAN],
    ['1 / nan', {}, VALUE_IS_NAN],
    ['nan / 0', {}, VALUE_IS_NAN],
    ['inf / 2', {}, VALUE_IS_INFINITE],
    ['1 / inf', {}, VALUE_IS_INFINITE],
    ['5 % 0', {}, VALUE_IS_INFINITE],
    ['nan % 2', {}, VALUE_IS_NAN],
    ['inf % 2', {}, VALUE_IS_INFINITE],
    ['5 % inf', {}, VALUE_IS_INFINITE],
    // the error of / and % sticks even when the final result is finite
    ['(10 / 0) > 1', {}, VALUE_IS_INFINITE],
    ['(nan / 1) == nan', {}, VALUE_IS_NAN],
    ['(5 % 0) && 0', {}, VALUE_IS_INFINITE],
    // a NaN or ∞ final result is an error
    ['1 + nan', {}, VALUE_IS_NAN],
    ['inf + 1', {}, VALUE_IS_INFINITE],
    ['-nan', {}, VALUE_IS_NAN],
    ['-inf', {}, VALUE_IS_INFINITE],
    ['$m', { m: NINF }, VALUE_IS_INFINITE],
    ['$x', { x: NaN_ }, VALUE_IS_NAN],
  ])('%s with %j fails with error %d', (src, vars, error) => {
    const r = ev(src, vars);
    expect(r).toMatchObject({ ok: false, error });
    expect(r.value).toBeNaN();
    expect(r.errorName).toBe(error === VALUE_IS_NAN ? 'VALUE_IS_NAN' : 'VALUE_IS_INFINITE');
  });
});

describe('evaluation: unknown variables and short-circuits', () => {
  it.each<[string, Vars, number, string[]]>([
    ['1 ? 2 : $nope', {}, 2, []],
    ['0 ? $nope : 3', {}, 3, []],
    ['0 && $nope', {}, 0, []],
    ['0 AND $nope > 1', {}, 0, []],
    ['1 || $nope', {}, 1, []],
    ['$a ? $b : $c', { a: 0, b: 1, c: 2 }, 2, ['a', 'c']],
    ['$a ? $b : $c', { a: 5, b: 1, c: 2 }, 1, ['a', 'b']],
    ['$a || $b && $c', { a: 1, b: 0, c: 0 }, 0, ['a', 'c']],
  ])('%s with %j gives %d and looks up only %j', (src, vars, value, looked) => {
    const calls: string[] = [];
    expect(ev(src, vars, calls)).toMatchObject({ ok: true, value, error: OK });
    expect(calls).toEqual(looked);
  });

  it.each<[string, Vars, boolean, number, number]>([
    // a finite result clears UNKNOWN_VARIABLE
    ['$nope > 1', {}, true, 0, OK],
    ['$nope < 1', {}, true, 0, OK],
    ['1 && $nope', {}, true, 0, OK],
    ['!$nope', {}, true, 1, OK],
    ['$nope == nan', {}, true, 1, OK],
    ['$nope != 3', {}, true, 1, OK],
    // a NaN result keeps it
    ['$nope', {}, false, NaN_, UNKNOWN_VARIABLE],
    ['$nope + 1', {}, false, NaN_, UNKNOWN_VARIABLE],
    ['abs($nope)', {}, false, NaN_, UNKNOWN_VARIABLE],
    ['1 ? $nope : 0', {}, false, NaN_, UNKNOWN_VARIABLE],
    // the last error set wins: VALUE_IS_INFINITE from 1/0, then UNKNOWN_VARIABLE, then cleared by a finite result
    ['(1 / 0) > 0 && $nope < 1', {}, true, 0, OK],
    // ... and UNKNOWN_VARIABLE followed by VALUE_IS_NAN stays an error
    ['$nope < 1 || (nan / 2) > 1', {}, false, NaN_, VALUE_IS_NAN],
    // a variable found with a NaN value is not an error by itself
    ['$x > 1', { x: NaN_ }, true, 0, OK],
  ])('%s with %j: ok=%s value=%d error=%d', (src, vars, ok, value, error) => {
    expect(ev(src, vars)).toMatchObject({ ok, value, error });
  });
});

describe("Netdata's reset-alert warn expression", () => {
  const WARN =
    '$netdata.uptime.uptime > (1 * 60) AND $this > ((($1m_x < 5)?(5):($1m_x)) * (($status >= $WARNING) ? (1) : (10)))';
  const base: Vars = { 'netdata.uptime.uptime': 3600, this: 0, '1m_x': 3, status: 1, WARNING: 3 };

  it('references its variables in order', () => {
    expect(parse(WARN).variables).toEqual(['netdata.uptime.uptime', 'this', '1m_x', 'status', 'WARNING']);
  });

  it.each<[string, Vars, number]>([
    ['$this NaN (no data): finite 0, so CLEAR, not UNDEFINED', { this: NaN_ }, 0],
    ['$1m_x NaN: $this > NaN is 0', { this: 1000, '1m_x': NaN_ }, 0],
    ['$1m_x unknown: NaN, then 0, error cleared', { this: 1000, '1m_x': undefined as unknown as number }, 0],
    ['CLEAR, 1m average below 5: threshold 5 × 10 = 50, $this 51', { this: 51 }, 1],
    ['CLEAR, $this 50 is not above 50', { this: 50 }, 0],
    ['WARNING: threshold drops to 5 × 1 (hysteresis), $this 20', { this: 20, status: 3 }, 1],
    ['CLEAR: the same $this 20 does not raise', { this: 20, status: 1 }, 0],
    ['WARNING, 1m average 8: threshold 8, $this 9', { this: 9, '1m_x': 8, status: 3 }, 1],
    ['WARNING, 1m average 8: $this 7 clears', { this: 7, '1m_x': 8, status: 3 }, 0],
    ['CRITICAL (4) counts as >= WARNING', { this: 9, '1m_x': 8, status: 4 }, 1],
    ['uptime 30: short-circuit to 0', { 'netdata.uptime.uptime': 30, this: 1e9 }, 0],
    ['uptime exactly 60 is not above 60', { 'netdata.uptime.uptime': 60, this: 1e9 }, 0],
    ['$this +∞ is above anything finite', { this: INF }, 1],
  ])('%s', (_, vars, value) => {
    const v = { ...base, ...vars };
    for (const [k, x] of Object.entries(v)) if (x === undefined) delete v[k];
    expect(ev(WARN, v)).toMatchObject({ ok: true, value, error: OK, errorName: 'OK' });
  });

  it('does not look past the uptime test during the first minute', () => {
    const calls: string[] = [];
    const r = ev(WARN, { ...base, 'netdata.uptime.uptime': 30 }, calls);
    expect(calls).toEqual(['netdata.uptime.uptime']);
    expect(r.trace).toBe('[ ${netdata.uptime.uptime} = 30 ] ');
  });

  it('traces every variable it resolves, as Netdata does', () => {
    const r = ev(WARN, { ...base, this: 12.3, '1m_x': 3.25000004 });
    expect(r.trace).toBe(
      '[ ${netdata.uptime.uptime} = 3600 ] [ ${this} = 12.3 ] [ ${1m_x} = 3.25 ] [ ${status} = 1 ] [ ${WARNING} = 3 ] ',
    );
    const missing = ev(WARN, { 'netdata.uptime.uptime': 3600, this: NaN_, status: 3, WARNING: 3 });
    expect(missing).toMatchObject({ ok: true, value: 0 });
    expect(missing.trace).toBe(
      // `$1m_x < 5` is 0 for NaN, so the else branch looks `$1m_x` up a second time
      "[ ${netdata.uptime.uptime} = 3600 ] [ ${this} = nan ] [ undefined variable '1m_x' ] [ undefined variable '1m_x' ] [ ${status} = 3 ] [ ${WARNING} = 3 ] ",
    );
  });

  it('re-prints fully parenthesised', () => {
    expect(formatExpression(parse(WARN))).toBe(
      '((${netdata.uptime.uptime} > (1 * 60)) && (${this} > (((${1m_x} < 5) ? 5 : ${1m_x}) * ((${status} >= ${WARNING}) ? 1 : 10))))',
    );
  });
});

describe('trace', () => {
  it.each<[string, Vars, string]>([
    ['$this + $x', { this: 12.3, x: 1 }, '[ ${this} = 12.3 ] [ ${x} = 1 ] '],
    ['$a + $a', { a: 2 }, '[ ${a} = 2 ] [ ${a} = 2 ] '],
    ['${name with spaces} > 0', { 'name with spaces': 1 }, '[ ${name with spaces} = 1 ] '],
    ['$x > 0', { x: 1 / 3 }, '[ ${x} = 0.3333333 ] '],
    ['$x > 0', { x: -2.5 }, '[ ${x} = -2.5 ] '],
    ['$x > 0', { x: NaN_ }, '[ ${x} = nan ] '],
    ['$x > 0', { x: NINF }, '[ ${x} = inf ] '],
    ['$x > 0', { x: 1e-9 }, '[ ${x} = 0 ] '],
    ['$x > 0', { x: 2.5e21 }, '[ ${x} = 2500000000000000000000 ] '],
    ['$nope > 0', {}, "[ undefined variable 'nope' ] "],
    ['1 > 0', {}, ''],
    [
      '$x / 0',
      { x: 5 },
      '[ ${x} = 5 ] ; failed to evaluate expression with error 104 (computed value is infinite)',
    ],
    [
      '$nope',
      {},
      "[ undefined variable 'nope' ] ; failed to evaluate expression with error 105 (undefined variable)",
    ],
    ['nan', {}, 'failed to evaluate expression with error 103 (value is unset)'],
  ])('%s with %j traces %j', (src, vars, trace) => {
    expect(ev(src, vars).trace).toBe(trace);
  });

  it.each<[number, string]>([
    [0, '0'],
    [-0, '-0'],
    [12.3, '12.3'],
    [100, '100'],
    [1 / 3, '0.3333333'],
    [2 / 3, '0.6666667'],
    [1e-9, '0'],
    [-1e-9, '-0'],
    [0.00390625, '0.0039062'], // an exact tie: glibc rounds half to even
    [0.01171875, '0.0117188'],
    [2 ** 53 + 2, '9007199254740994'],
    [1.5e22, '15000000000000000000000'],
    [NaN_, 'nan'],
    [INF, 'inf'],
    [NINF, 'inf'],
  ])('prints %d as %s (C %%0.7f, trailing zeros removed)', (x, s) => {
    expect(formatNumber(x)).toBe(s);
  });
});

describe('parse errors', () => {
  it.each<[string, string, number]>([
    ['', 'E_EXPR_MISSING_OPERAND', 1],
    ['   ', 'E_EXPR_MISSING_OPERAND', 4],
    ['1 +', 'E_EXPR_MISSING_OPERAND', 4],
    ['$this >', 'E_EXPR_MISSING_OPERAND', 8],
    ['* 2', 'E_EXPR_MISSING_OPERAND', 1],
    ['1 + * 2', 'E_EXPR_MISSING_OPERAND', 5],
    ['()', 'E_EXPR_MISSING_OPERAND', 2],
    ['1 ? : 2', 'E_EXPR_MISSING_OPERAND', 5],
    ['1 == == 2', 'E_EXPR_MISSING_OPERAND', 6],
    ['(1', 'E_EXPR_MISSING_CLOSE_SUBEXPRESSION', 3],
    ['((1)', 'E_EXPR_MISSING_CLOSE_SUBEXPRESSION', 5],
    ['abs(1', 'E_EXPR_MISSING_CLOSE_SUBEXPRESSION', 6],
    ['(1 : 2)', 'E_EXPR_MISSING_CLOSE_SUBEXPRESSION', 4],
    ['1 2', 'E_EXPR_MISSING_OPERATOR', 3],
    ['$a $b', 'E_EXPR_MISSING_OPERATOR', 4],
    ['(1 2)', 'E_EXPR_MISSING_OPERATOR', 4],
    ['1 (2)', 'E_EXPR_MISSING_OPERATOR', 3],
    ['1 ? 2 3 : 4', 'E_EXPR_MISSING_OPERATOR', 7],
    ['1.2.3', 'E_EXPR_MISSING_OPERATOR', 4],
    ['1)', 'E_EXPR_REMAINING_GARBAGE', 2],
    ['(1))', 'E_EXPR_REMAINING_GARBAGE', 4],
    ['1 : 2', 'E_EXPR_REMAINING_GARBAGE', 3],
    ['1 ? 2', 'E_EXPR_IF_THEN_ELSE_MISSING_ELSE', 6],
    ['1 ? 2 )', 'E_EXPR_IF_THEN_ELSE_MISSING_ELSE', 7],
    ['$a?$b:$c', 'E_EXPR_IF_THEN_ELSE_MISSING_ELSE', 9],
    ['1 # 2', 'E_EXPR_UNKNOWN_OPERAND', 3],
    ['$', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['1 + $', 'E_EXPR_UNKNOWN_OPERAND', 5],
    ['1 + $ 2', 'E_EXPR_UNKNOWN_OPERAND', 5],
    ['${}', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['1 + ${}', 'E_EXPR_UNKNOWN_OPERAND', 5],
    ['1 + ${abc', 'E_EXPR_UNKNOWN_OPERAND', 5],
    ['foo', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['this > 1', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['max(1, 2)', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['abs (1)', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['nan(1)', 'E_EXPR_UNKNOWN_OPERAND', 1],
    ['1 & 2', 'E_EXPR_UNKNOWN_OPERAND', 3],
    ['1 | 2', 'E_EXPR_UNKNOWN_OPERAND', 3],
    ['1 andy 2', 'E_EXPR_UNKNOWN_OPERAND', 6],
    ['1e', 'E_EXPR_UNKNOWN_OPERAND', 2],
    ['$x{y}', 'E_EXPR_UNKNOWN_OPERAND', 3],
    ['1 +\f2', 'E_EXPR_UNKNOWN_OPERAND', 4],
    ['1 ≥ 2', 'E_EXPR_UNKNOWN_OPERAND', 3],
  ])('%j: %s at column %d', (src, code, column) => {
    const r = parseExpression(src);
    expect(r.expr).toBeUndefined();
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ code, column, severity: 'error' });
    expect(r.problems[0]?.message).toContain(`column ${column}`);
  });

  it('reports the file, line and column in the file, with a message a person can act on', () => {
    const r = parseExpression('$this > 1 +', { file: 'tcp.conf', line: 7, column: 11 });
    expect(r.problems).toEqual([
      {
        code: 'E_EXPR_MISSING_OPERAND',
        message: 'expected an operand after `+` at column 22, found the end of the expression',
        severity: 'error',
        file: 'tcp.conf',
        line: 7,
        column: 22,
      },
    ]);
  });

  it('counts lines when the text spans several', () => {
    const r = parseExpression('1 +\n  * 2', { file: 'f', line: 10, column: 5 });
    expect(r.problems[0]).toMatchObject({ line: 11, column: 3, code: 'E_EXPR_MISSING_OPERAND' });
  });

  it('explains that a colon glued to a variable belongs to its name', () => {
    const r = parseExpression('$a?$b:$c');
    expect(r.problems[0]?.message).toContain('`$b:$c` is one variable name');
    expect(ev('$a ? $b : $c', { a: 1, b: 2, c: 3 }).value).toBe(2);
  });

  it('limits nesting and depth instead of overflowing the stack', () => {
    const ok = `${'('.repeat(MAX_NESTING - 1)}1${')'.repeat(MAX_NESTING - 1)}`;
    expect(ev(ok).value).toBe(1);
    const deep = parseExpression(`${'('.repeat(MAX_NESTING + 1)}1${')'.repeat(MAX_NESTING + 1)}`);
    expect(deep.problems[0]).toMatchObject({ code: 'E_EXPR_TOO_DEEP', column: MAX_NESTING + 1 });
    const chain = (n: number): string =>
      Array(n + 1)
        .fill('1')
        .join(' + ');
    expect(ev(chain(MAX_DEPTH - 1)).value).toBe(MAX_DEPTH);
    expect(parseExpression(chain(MAX_DEPTH)).problems[0]).toMatchObject({ code: 'E_EXPR_TOO_DEEP' });
    expect(parseExpression('-'.repeat(100_000) + '1').problems[0]).toMatchObject({ code: 'E_EXPR_TOO_DEEP' });
  });
});

describe('formatExpression', () => {
  it.each([
    ['$this > 5', '(${this} > 5)'],
    ['1 + 2 * 3', '(1 + (2 * 3))'],
    ['-$x', '-${x}'],
    ['!($a && $b)', '!(${a} && ${b})'],
    ['not $a or $b', '(!${a} || ${b})'],
    ['abs($x)', 'abs(${x})'],
    ['$a ? 1 : 2', '(${a} ? 1 : 2)'],
    ['0.123456789', '0.1234568'],
    ['1e-9 + 2.50', '(0 + 2.5)'],
    ['NaN + INF + null + infinity', '(((nan + inf) + nan) + inf)'],
    ['${a b} <> 1', '(${a b} != 1)'],
    ['$a = 1', '(${a} == 1)'],
    ['$a % 2', '(${a} % 2)'],
  ])('%s → %s', (src, printed) => {
    expect(formatExpression(parse(src))).toBe(printed);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties

const NAMES = ['this', 'status', 'WARNING', '1m_x', 'netdata.uptime.uptime', 'a:b', 'with space'];

/** Constants that print exactly with %0.7f (so that printing and re-parsing gives the same number). */
const constArb = fc.oneof(
  fc.integer({ min: 0, max: 1_000_000 }),
  fc.integer({ min: 0, max: 10_000_000 }).map((k) => k / 10_000),
  fc.constantFrom(0, 1, 5, 60, Number.NaN, Number.POSITIVE_INFINITY),
);

const astArb: fc.Arbitrary<ExprNode> = fc.letrec<{ node: ExprNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    constArb.map((value): ExprNode => ({ kind: 'number', value, pos: 0 })),
    fc.constantFrom(...NAMES).map((name): ExprNode => ({ kind: 'variable', name, pos: 0 })),
    fc
      .tuple(fc.constantFrom('+' as const, '-' as const, '!' as const), tie('node'))
      .map(([op, operand]): ExprNode => ({ kind: 'unary', op, operand, pos: 0 })),
    tie('node').map((operand): ExprNode => ({ kind: 'abs', operand, pos: 0 })),
    fc
      .tuple(
        fc.constantFrom(
          ...(['&&', '||', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%'] as const),
        ),
        tie('node'),
        tie('node'),
      )
      .map(([op, left, right]): ExprNode => ({ kind: 'binary', op, left, right, pos: 0 })),
    fc
      .tuple(tie('node'), tie('node'), tie('node'))
      .map(([test, t, e]): ExprNode => ({ kind: 'conditional', test, ifTrue: t, ifFalse: e, pos: 0 })),
  ),
})).node;

const valueArb = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(0, -0, 1, 3, 4, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-8),
  fc.double(),
);
const varsArb = fc.tuple(...NAMES.map(() => valueArb)).map((vs) => new Map(NAMES.map((n, i) => [n, vs[i]])));

function strip(n: ExprNode): unknown {
  switch (n.kind) {
    case 'number':
      return { k: 'n', v: Number.isNaN(n.value) ? 'nan' : n.value };
    case 'variable':
      return { k: 'v', name: n.name };
    case 'unary':
      return { k: 'u', op: n.op, a: strip(n.operand) };
    case 'abs':
      return { k: 'abs', a: strip(n.operand) };
    case 'binary':
      return { k: 'b', op: n.op, l: strip(n.left), r: strip(n.right) };
    case 'conditional':
      return { k: 'c', t: strip(n.test), a: strip(n.ifTrue), b: strip(n.ifFalse) };
  }
}

function run(expr: Expression, vars: Map<string, number | undefined>): EvalResult & { calls: string[] } {
  const calls: string[] = [];
  const r = evaluate(expr, (n) => {
    calls.push(n);
    return vars.get(n);
  });
  return { ...r, calls };
}

function sameResult(a: EvalResult, b: EvalResult): void {
  expect(Object.is(a.value, b.value) || (Number.isNaN(a.value) && Number.isNaN(b.value))).toBe(true);
  expect({ ok: a.ok, error: a.error, trace: a.trace }).toEqual({ ok: b.ok, error: b.error, trace: b.trace });
}

/** Precedence level of a node as the grammar sees it: 1 ?:, 2 and/or, 3 ==, 4 <, 5 +, 6 *, 7 unary, 8 primary. */
function level(n: ExprNode): number {
  switch (n.kind) {
    case 'conditional':
      return 1;
    case 'binary':
      return {
        '&&': 2,
        '||': 2,
        '==': 3,
        '!=': 3,
        '<': 4,
        '<=': 4,
        '>': 4,
        '>=': 4,
        '+': 5,
        '-': 5,
        '*': 6,
        '/': 6,
        '%': 6,
      }[n.op];
    case 'unary':
      return 7;
    default:
      return 8;
  }
}

type Spell = { ws: string[]; word: number[] };

/** Print with as few parentheses as the precedence rules allow, random spacing and spellings. */
function printMinimal(n: ExprNode, sp: Spell): string {
  let i = 0;
  const ws = (): string => sp.ws[i++ % sp.ws.length] ?? '';
  const pick = <T>(xs: readonly T[]): T => xs[(sp.word[i++ % sp.word.length] ?? 0) % xs.length]!;
  const wrap = (c: ExprNode, need: boolean): string => (need ? `(${ws()}${go(c)}${ws()})` : go(c));
  const go = (x: ExprNode): string => {
    switch (x.kind) {
      case 'number':
        if (Number.isNaN(x.value)) return pick(['nan', 'NaN', 'null', 'NULL']);
        if (x.value === Number.POSITIVE_INFINITY) return pick(['inf', 'INF', 'infinity', 'Infinity']);
        return formatNumber(x.value);
      case 'variable':
        // a `$name` needs a space after it (a glued `:` or word would become part of the name)
        return x.name.includes(' ') ? `\${${x.name}}` : pick([`$${x.name} `, `\${${x.name}}`]);
      case 'unary':
        return (
          (x.op === '!' ? pick(['!', 'not ', 'NOT ']) : x.op) + ws() + wrap(x.operand, level(x.operand) < 7)
        );
      case 'abs':
        return `${pick(['abs(', 'ABS(', 'Abs('])}${ws()}${go(x.operand)}${ws()})`;
      case 'binary': {
        const p = level(x);
        const op =
          x.op === '&&'
            ? pick([' && ', ' and ', ' AND '])
            : x.op === '||'
              ? pick([' || ', ' or ', ' Or '])
              : x.op === '=='
                ? pick(['==', '='])
                : x.op === '!='
                  ? pick(['!=', '<>'])
                  : x.op;
        return `${wrap(x.left, level(x.left) < p)}${ws()}${op}${ws()}${wrap(x.right, level(x.right) <= p)}`;
      }
      case 'conditional':
        return `${wrap(x.test, level(x.test) <= 1)}${ws()}?${ws()}${go(x.ifTrue)}${ws()}:${ws()}${go(x.ifFalse)}`;
    }
  };
  return go(n);
}

describe('properties', () => {
  const tokenish = fc
    .array(
      fc.constantFrom(
        '$a',
        '${b c}',
        '(',
        ')',
        '?',
        ':',
        '&&',
        'and',
        '||',
        'OR',
        '!',
        'not',
        '==',
        '=',
        '!=',
        '<>',
        '<',
        '<=',
        '>',
        '>=',
        '+',
        '-',
        '*',
        '/',
        '%',
        'abs(',
        '1',
        '2.5',
        '1e3',
        'nan',
        'inf',
        ' ',
        '$',
        '${',
        '}',
        '{',
        '#',
      ),
      { maxLength: 30 },
    )
    .map((xs) => xs.join(''));

  it('the parser never throws: it returns an expression or one positioned problem', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), tokenish), (src) => {
        const r = parseExpression(src, { file: 'x.conf', line: 3, column: 1 });
        if (r.expr) {
          expect(r.problems).toEqual([]);
          expect(r.expr.source).toBe(src);
          const e = evaluate(r.expr, () => 1);
          expect(typeof e.value).toBe('number');
        } else {
          expect(r.problems).toHaveLength(1);
          const p = r.problems[0]!;
          expect(p.code).toMatch(/^E_EXPR_[A-Z_]+$/);
          expect(p.file).toBe('x.conf');
          expect(p.column).toBeGreaterThanOrEqual(1);
          expect(p.column).toBeLessThanOrEqual(src.length + 1);
          expect(p.message).toContain(`column ${p.column}`);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parse → format → parse gives the same AST and the same evaluation', () => {
    fc.assert(
      fc.property(astArb, varsArb, (root, vars) => {
        const original: Expression = { source: '', root, variables: [] };
        const printed = formatExpression(original);
        const again = parse(printed);
        expect(strip(again.root)).toEqual(strip(root));
        expect(formatExpression(again)).toBe(printed);
        sameResult(run(again, vars), run(original, vars));
      }),
      { numRuns: 1000 },
    );
  });

  it('a minimally parenthesised, randomly spelled source parses back to the same AST', () => {
    const spell = fc.record({
      ws: fc.array(fc.constantFrom('', ' ', '  ', '\t'), { minLength: 1, maxLength: 7 }),
      word: fc.array(fc.nat(11), { minLength: 1, maxLength: 7 }),
    });
    fc.assert(
      fc.property(astArb, spell, varsArb, (root, sp, vars) => {
        const src = printMinimal(root, sp);
        const parsed = parse(src);
        expect(strip(parsed.root)).toEqual(strip(root));
        sameResult(run(parsed, vars), run(parse(formatExpression(parsed)), vars));
      }),
      { numRuns: 1000 },
    );
  });

  it('evaluate never throws and keeps its invariants', () => {
    fc.assert(
      fc.property(astArb, varsArb, (root, vars) => {
        const r = run({ source: '', root, variables: [] }, vars);
        expect(r.ok).toBe(r.error === OK);
        expect(r.errorName).toBe(Object.entries(EVAL_ERROR).find(([, v]) => v === r.error)?.[0]);
        if (r.ok) expect(Number.isFinite(r.value)).toBe(true);
        else {
          expect(r.value).toBeNaN();
          expect(r.trace).toMatch(/failed to evaluate expression with error \d+ \(.+\)$/);
        }
        const entries = r.trace.match(/\[ (\$\{|undefined variable ')/g) ?? [];
        expect(entries.length).toBe(r.calls.length);
        expect(r.calls.filter((n) => vars.get(n) === undefined).length).toBe(
          (r.trace.match(/\[ undefined variable '/g) ?? []).length,
        );
      }),
      { numRuns: 2000 },
    );
  });
});
