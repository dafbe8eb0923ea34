/**
 * Evaluation of Netdata health expressions (§2.5 of shared/design/netdata-health-semantics.md).
 *
 * The AST is compiled once into closures (cached per AST, so the Expression objects stay plain data); an
 * evaluation then allocates one small context object, the trace string and the result. Rules:
 * - is_true: NaN is false, ±∞ is true, |x| < 1e-7 is false (Netdata compares with considered_equal_ndd).
 * - AND/OR short-circuit and give 0/1; NOT gives !is_true.
 * - `< <= > >=` give 0 when either side is NaN.
 * - `==`: NaN==NaN → 1, ∞==∞ → 1 whatever the signs, NaN or ∞ against a finite number → 0, else |a−b| < 1e-7.
 *   `!=` is its negation.
 * - `+ - *`: a NaN operand → NaN, else an infinite operand → +∞ (no error).
 * - `/` and `%`: NaN → error VALUE_IS_NAN; ∞ → error VALUE_IS_INFINITE; divisor 0 → error VALUE_IS_INFINITE.
 * - unary `-` and `abs`: NaN → NaN, ±∞ → +∞. Unary `+` is the identity.
 * - `c ? a : b` evaluates only the chosen branch.
 * - An unknown variable is NaN and sets error UNKNOWN_VARIABLE. Errors do not stop the evaluation; the last
 *   one set wins (as in C, where every operator writes the same `*error`).
 * - At the end: a NaN result turns OK into VALUE_IS_NAN; an infinite one turns OK into VALUE_IS_INFINITE;
 *   otherwise UNKNOWN_VARIABLE is cleared to OK. Any remaining error makes the value NaN and `ok` false.
 */

import { type Expression, type ExprNode, formatNumber } from './parser.js';

/** Netdata's eval.h error codes. */
export const EVAL_ERROR = {
  OK: 0,
  MISSING_CLOSE_SUBEXPRESSION: 1,
  UNKNOWN_OPERAND: 2,
  MISSING_OPERAND: 3,
  MISSING_OPERATOR: 4,
  REMAINING_GARBAGE: 5,
  IF_THEN_ELSE_MISSING_ELSE: 6,
  INVALID_VALUE: 101,
  INVALID_NUMBER_OF_OPERANDS: 102,
  VALUE_IS_NAN: 103,
  VALUE_IS_INFINITE: 104,
  UNKNOWN_VARIABLE: 105,
} as const;
export type EvalErrorName = keyof typeof EVAL_ERROR;

/** Netdata's `expression_strerror` texts, which end the trace of a failed evaluation. */
const STRERROR: Record<number, string> = {
  0: 'success',
  1: 'missing closing parenthesis',
  2: 'unknown operand',
  3: 'expected operand',
  4: 'expected operator',
  5: 'remaining characters after expression',
  6: 'missing second sub-expression of inline conditional',
  101: 'invalid value structure - internal error',
  102: 'wrong number of operands for operation - internal error',
  103: 'value is unset',
  104: 'computed value is infinite',
  105: 'undefined variable',
};

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(EVAL_ERROR).map(([k, v]) => [v, k]));

/** The eval.h name of an error code (`VALUE_IS_NAN`), or `UNKNOWN_ERROR`. */
export function evalErrorName(code: number): string {
  return NAMES[code] ?? 'UNKNOWN_ERROR';
}

/** Netdata's description of an error code (`value is unset`), as alarm-notify.sh sees it in the trace. */
export function evalErrorMessage(code: number): string {
  return STRERROR[code] ?? 'unknown error';
}

/** Resolves a variable name (without `$`/braces); undefined = unknown variable. */
export type VariableLookup = (name: string) => number | undefined;

export interface EvalResult {
  /** False when the evaluation failed; `value` is then NaN. */
  ok: boolean;
  value: number;
  /** An EVAL_ERROR code. */
  error: number;
  /** The EVAL_ERROR name of `error`, e.g. `VALUE_IS_NAN`. */
  errorName: string;
  /** Netdata's error_msg: `[ ${this} = 12.3 ] [ undefined variable 'x' ] …`, plus the failure if any. */
  trace: string;
}

interface Ctx {
  lookup: VariableLookup;
  error: number;
  trace: string;
}
type Fn = (c: Ctx) => number;

const INF = Number.POSITIVE_INFINITY;
const NINF = Number.NEGATIVE_INFINITY;
const EPSILON = 0.0000001;

function isTrue(n: number): boolean {
  // NaN → false; ±∞ → true (|∞| < ε is false); |n| < 1e-7 → false.
  return !Number.isNaN(n) && !(Math.abs(n) < EPSILON);
}

function equal(a: number, b: number): number {
  const aNan = Number.isNaN(a);
  const bNan = Number.isNaN(b);
  if (aNan && bNan) return 1;
  const aInf = a === INF || a === NINF;
  const bInf = b === INF || b === NINF;
  if (aInf && bInf) return 1;
  if (aNan || bNan || aInf || bInf) return 0;
  return Math.abs(a - b) < EPSILON ? 1 : 0;
}

/** NaN/∞ rules shared by `+ - *`. */
function arith(a: number, b: number, r: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.NaN;
  if (a === INF || a === NINF || b === INF || b === NINF) return INF;
  return r;
}

function compileDivision(l: Fn, r: Fn, modulo: boolean): Fn {
  return (c) => {
    const a = l(c);
    const b = r(c);
    if (Number.isNaN(a) || Number.isNaN(b)) {
      c.error = EVAL_ERROR.VALUE_IS_NAN;
      return Number.NaN;
    }
    if (a === INF || a === NINF || b === INF || b === NINF) {
      c.error = EVAL_ERROR.VALUE_IS_INFINITE;
      return INF;
    }
    if (b === 0) {
      c.error = EVAL_ERROR.VALUE_IS_INFINITE;
      return a >= 0 ? INF : NINF;
    }
    return modulo ? a % b : a / b;
  };
}

function compileBinary(op: string, l: Fn, r: Fn): Fn {
  switch (op) {
    case '&&':
      return (c) => (isTrue(l(c)) && isTrue(r(c)) ? 1 : 0);
    case '||':
      return (c) => (isTrue(l(c)) || isTrue(r(c)) ? 1 : 0);
    case '==':
      return (c) => {
        const a = l(c);
        return equal(a, r(c));
      };
    case '!=':
      return (c) => {
        const a = l(c);
        return 1 - equal(a, r(c));
      };
    // Plain JS comparisons are false when either side is NaN, like C's isgreater() and friends.
    case '<':
      return (c) => {
        const a = l(c);
        return a < r(c) ? 1 : 0;
      };
    case '<=':
      return (c) => {
        const a = l(c);
        return a <= r(c) ? 1 : 0;
      };
    case '>':
      return (c) => {
        const a = l(c);
        return a > r(c) ? 1 : 0;
      };
    case '>=':
      return (c) => {
        const a = l(c);
        return a >= r(c) ? 1 : 0;
      };
    case '+':
      return (c) => {
        const a = l(c);
        const b = r(c);
        return arith(a, b, a + b);
      };
    case '-':
      return (c) => {
        const a = l(c);
        const b = r(c);
        return arith(a, b, a - b);
      };
    case '*':
      return (c) => {
        const a = l(c);
        const b = r(c);
        return arith(a, b, a * b);
      };
    case '/':
      return compileDivision(l, r, false);
    case '%':
      return compileDivision(l, r, true);
    default:
      return invalid;
  }
}

/** A node the evaluator does not know (only possible with a hand-built AST): Netdata's INVALID_VALUE. */
const invalid: Fn = (c) => {
  c.error = EVAL_ERROR.INVALID_VALUE;
  return Number.NaN;
};

function compile(n: ExprNode): Fn {
  switch (n.kind) {
    case 'number': {
      const v = n.value;
      return () => v;
    }
    case 'variable': {
      const name = n.name;
      const found = '[ ${' + name + '} = ';
      const missing = "[ undefined variable '" + name + "' ] ";
      return (c) => {
        const v = c.lookup(name);
        if (v === undefined) {
          c.error = EVAL_ERROR.UNKNOWN_VARIABLE;
          c.trace += missing;
          return Number.NaN;
        }
        c.trace += found + formatNumber(v) + ' ] ';
        return v;
      };
    }
    case 'unary': {
      const f = compile(n.operand);
      if (n.op === '!') return (c) => (isTrue(f(c)) ? 0 : 1);
      if (n.op === '+') return f;
      return (c) => {
        const v = f(c);
        if (v === INF || v === NINF) return INF;
        return -v; // -NaN is NaN
      };
    }
    case 'abs': {
      const f = compile(n.operand);
      return (c) => Math.abs(f(c)); // NaN → NaN, ±∞ → +∞
    }
    case 'binary':
      return compileBinary(n.op, compile(n.left), compile(n.right));
    case 'conditional': {
      const t = compile(n.test);
      const a = compile(n.ifTrue);
      const b = compile(n.ifFalse);
      return (c) => (isTrue(t(c)) ? a(c) : b(c));
    }
    default:
      return invalid;
  }
}

const compiled = new WeakMap<ExprNode, Fn>();

/** The compiled form of an AST, built on first use. */
function compiledOf(root: ExprNode): Fn {
  let fn = compiled.get(root);
  if (fn === undefined) {
    fn = compile(root);
    compiled.set(root, fn);
  }
  return fn;
}

/**
 * Evaluate an expression as Netdata's `expression_evaluate` does.
 *
 * @param expr a parsed expression.
 * @param lookup resolves a variable name; undefined means unknown. Called once per variable occurrence
 *   actually evaluated (branches skipped by short-circuits and `?:` are not looked up).
 * @returns the value (NaN when not ok), the EVAL_ERROR code and name, and the trace of variable values.
 * @example evaluate(parseExpression('$this > 5').expr!, (n) => (n === 'this' ? 7 : undefined)) // value 1
 */
export function evaluate(expr: Expression, lookup: VariableLookup): EvalResult {
  const c: Ctx = { lookup, error: EVAL_ERROR.OK, trace: '' };
  let value = compiledOf(expr.root)(c);
  let error = c.error;
  if (Number.isNaN(value)) {
    if (error === EVAL_ERROR.OK) error = EVAL_ERROR.VALUE_IS_NAN;
  } else if (value === INF || value === NINF) {
    if (error === EVAL_ERROR.OK) error = EVAL_ERROR.VALUE_IS_INFINITE;
  } else if (error === EVAL_ERROR.UNKNOWN_VARIABLE) {
    // The expression came out finite despite the unknown variable: Netdata calls that a success.
    error = EVAL_ERROR.OK;
  }
  if (error === EVAL_ERROR.OK) return { ok: true, value, error, errorName: 'OK', trace: c.trace };
  value = Number.NaN;
  const failure = `failed to evaluate expression with error ${error} (${evalErrorMessage(error)})`;
  const trace = c.trace.length > 0 ? c.trace + '; ' + failure : failure;
  return { ok: false, value, error, errorName: evalErrorName(error), trace };
}
