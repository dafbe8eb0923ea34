/**
 * The parser of Netdata's health expression language, and the printer of its AST (§2.5 of
 * shared/design/netdata-health-semantics.md).
 *
 * Precedence follows Netdata's active Lemon grammar, lowest first:
 *   1. `? :` (right-associative)
 *   2. AND and OR on ONE level, left-associative: `a || b && c` is `(a || b) && c`
 *   3. `==` `!=`          4. `<` `<=` `>` `>=`          5. `+` `-`          6. `*` `/` `%`
 *   7. unary `+` `-` `!` (right)
 * plus the primaries `( e )`, `abs( e )`, numbers and variables.
 *
 * Parsing stops at the first error and returns it as a Problem with a stable code (`E_EXPR_<NAME>`, from
 * Netdata's eval.h names) and the file/line/column of the offending character. It never throws.
 */

import type { Problem } from '../../internal/errors.js';
import { Lexer, quoteSource, type Token, type TokenType } from './lexer.js';

export type BinaryOp = '&&' | '||' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';
export type UnaryOp = '+' | '-' | '!';

/** A node of the AST. `pos` is the 0-based offset in the source of the token that made the node. */
export type ExprNode =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'variable'; name: string; pos: number }
  | { kind: 'unary'; op: UnaryOp; operand: ExprNode; pos: number }
  | { kind: 'abs'; operand: ExprNode; pos: number }
  | { kind: 'binary'; op: BinaryOp; left: ExprNode; right: ExprNode; pos: number }
  | { kind: 'conditional'; test: ExprNode; ifTrue: ExprNode; ifFalse: ExprNode; pos: number };

export interface Expression {
  /** The text as given to parseExpression. */
  source: string;
  root: ExprNode;
  /** The variables referenced, without `$` or braces, deduplicated, in order of appearance. */
  variables: string[];
}

export interface SourceWhere {
  file?: string;
  line?: number;
  /** 1-based column where the expression text starts in its line (default 1). */
  column?: number;
}

/** How deeply parentheses, unary operators, `abs(` and `?:` may nest. */
export const MAX_NESTING = 256;
/** How deep the AST may be (long operator chains build deep trees; evaluation recurses over them). */
export const MAX_DEPTH = 1000;

const BINARY: Partial<Record<TokenType, BinaryOp>> = {
  and: '&&',
  or: '||',
  eq: '==',
  ne: '!=',
  lt: '<',
  le: '<=',
  gt: '>',
  ge: '>=',
  plus: '+',
  minus: '-',
  mul: '*',
  div: '/',
  mod: '%',
};

const LOGICAL: readonly TokenType[] = ['and', 'or'];
const EQUALITY: readonly TokenType[] = ['eq', 'ne'];
const RELATIONAL: readonly TokenType[] = ['lt', 'le', 'gt', 'ge'];
const ADDITIVE: readonly TokenType[] = ['plus', 'minus'];
const MULTIPLICATIVE: readonly TokenType[] = ['mul', 'div', 'mod'];

/** Tokens that can start an operand. */
function startsOperand(t: TokenType): boolean {
  return (
    t === 'number' ||
    t === 'variable' ||
    t === 'lparen' ||
    t === 'abs' ||
    t === 'not' ||
    t === 'plus' ||
    t === 'minus'
  );
}

class ParseFailure {
  constructor(
    readonly code: string,
    readonly offset: number,
    readonly message: string,
  ) {}
}

class Parser {
  private readonly lx: Lexer;
  private tok: Token;
  private prev: Token | undefined;
  private nesting = 0;
  readonly variables: string[] = [];
  private readonly seen = new Set<string>();

  constructor(
    readonly src: string,
    private readonly col: (offset: number) => number,
  ) {
    this.lx = new Lexer(src);
    this.tok = this.read();
  }

  private read(): Token {
    const t = this.lx.next();
    if (t.type === 'error') {
      const hint = t.hint === '' ? '' : `: ${t.hint}`;
      throw new ParseFailure(t.text, t.start, `${t.message} at column ${this.col(t.start)}${hint}`);
    }
    return t;
  }

  /** The current token (a method, so that TypeScript does not keep a narrowing across advance()). */
  private peek(): Token {
    return this.tok;
  }

  private advance(): Token {
    const t = this.tok;
    this.prev = t;
    this.tok = this.read();
    return t;
  }

  private show(t: Token): string {
    return t.type === 'end' ? 'the end of the expression' : quoteSource(this.src.slice(t.start, t.end));
  }

  private fail(code: string, t: Token, message: string): never {
    throw new ParseFailure(code, t.start, message);
  }

  private enter(t: Token): void {
    if (++this.nesting > MAX_NESTING)
      this.fail(
        'E_EXPR_TOO_DEEP',
        t,
        `the expression nests more than ${MAX_NESTING} levels deep at column ${this.col(t.start)}`,
      );
  }

  private leave(): void {
    this.nesting--;
  }

  private depthCheck(n: ExprNode, depth: number, at: Token): number {
    if (depth > MAX_DEPTH)
      this.fail(
        'E_EXPR_TOO_DEEP',
        at,
        `the expression is too long: more than ${MAX_DEPTH} nested operations at column ${this.col(at.start)}`,
      );
    depths.set(n, depth);
    return depth;
  }

  parseAll(): ExprNode {
    if (this.tok.type === 'end')
      this.fail(
        'E_EXPR_MISSING_OPERAND',
        this.tok,
        `the expression is empty at column ${this.col(this.tok.start)}`,
      );
    const root = this.ternary();
    const t = this.tok;
    if (t.type === 'end') return root;
    const at = `at column ${this.col(t.start)}`;
    if (startsOperand(t.type))
      this.fail('E_EXPR_MISSING_OPERATOR', t, `expected an operator before ${this.show(t)} ${at}`);
    if (t.type === 'rparen')
      this.fail('E_EXPR_REMAINING_GARBAGE', t, `unexpected \`)\` ${at}: no \`(\` is open`);
    if (t.type === 'colon')
      this.fail('E_EXPR_REMAINING_GARBAGE', t, `unexpected \`:\` ${at}: there is no \`?\` before it`);
    return this.fail('E_EXPR_REMAINING_GARBAGE', t, `unexpected ${this.show(t)} ${at} after the expression`);
  }

  private ternary(): ExprNode {
    const test = this.logical();
    if (this.tok.type !== 'qmark') return test;
    const q = this.advance();
    this.enter(q);
    const then = this.ternary();
    const t = this.peek();
    if (t.type !== 'colon') {
      if (startsOperand(t.type))
        this.fail(
          'E_EXPR_MISSING_OPERATOR',
          t,
          `expected an operator before ${this.show(t)} at column ${this.col(t.start)}`,
        );
      // `$a?$b:$c` reads `b:$c` as one name: colons (and `$`) belong to variable names.
      const p = this.prev;
      const ate =
        p?.type === 'variable' && p.text.includes(':')
          ? `; note that ${quoteSource(this.src.slice(p.start, p.end))} is one variable name, because colons belong to names: put a space before \`:\``
          : '';
      this.fail(
        'E_EXPR_IF_THEN_ELSE_MISSING_ELSE',
        t,
        `the \`?\` at column ${this.col(q.start)} has no \`:\` (else part); found ${this.show(t)} at column ${this.col(t.start)}${ate}`,
      );
    }
    this.advance();
    const otherwise = this.ternary();
    this.leave();
    const node: ExprNode = { kind: 'conditional', test, ifTrue: then, ifFalse: otherwise, pos: q.start };
    this.depthCheck(node, 1 + Math.max(depthOf(test), depthOf(then), depthOf(otherwise)), q);
    return node;
  }

  /** One left-associative binary level. */
  private level(ops: readonly TokenType[], next: () => ExprNode): ExprNode {
    let left = next();
    while (ops.includes(this.tok.type)) {
      const opTok = this.advance();
      const right = next();
      const node: ExprNode = { kind: 'binary', op: BINARY[opTok.type]!, left, right, pos: opTok.start };
      this.depthCheck(node, 1 + Math.max(depthOf(left), depthOf(right)), opTok);
      left = node;
    }
    return left;
  }

  private logical = (): ExprNode => this.level(LOGICAL, this.equality);
  private equality = (): ExprNode => this.level(EQUALITY, this.relational);
  private relational = (): ExprNode => this.level(RELATIONAL, this.additive);
  private additive = (): ExprNode => this.level(ADDITIVE, this.multiplicative);
  private multiplicative = (): ExprNode => this.level(MULTIPLICATIVE, this.unary);

  private unary = (): ExprNode => {
    const t = this.tok;
    if (t.type === 'not' || t.type === 'plus' || t.type === 'minus') {
      this.advance();
      this.enter(t);
      const operand = this.unary();
      this.leave();
      const op: UnaryOp = t.type === 'not' ? '!' : t.type === 'plus' ? '+' : '-';
      const node: ExprNode = { kind: 'unary', op, operand, pos: t.start };
      this.depthCheck(node, 1 + depthOf(operand), t);
      return node;
    }
    return this.primary();
  };

  private primary(): ExprNode {
    const t = this.tok;
    switch (t.type) {
      case 'number':
        this.advance();
        return { kind: 'number', value: t.value, pos: t.start };
      case 'variable': {
        this.advance();
        if (!this.seen.has(t.text)) {
          this.seen.add(t.text);
          this.variables.push(t.text);
        }
        return { kind: 'variable', name: t.text, pos: t.start };
      }
      case 'lparen':
      case 'abs': {
        this.advance();
        this.enter(t);
        const inner = this.ternary();
        if (this.tok.type !== 'rparen') {
          const c = this.tok;
          const open = t.type === 'abs' ? '`abs(`' : '`(`';
          if (startsOperand(c.type))
            this.fail(
              'E_EXPR_MISSING_OPERATOR',
              c,
              `expected an operator before ${this.show(c)} at column ${this.col(c.start)}`,
            );
          this.fail(
            'E_EXPR_MISSING_CLOSE_SUBEXPRESSION',
            c,
            `missing \`)\` to close the ${open} at column ${this.col(t.start)}; found ${this.show(c)} at column ${this.col(c.start)}`,
          );
        }
        this.advance();
        this.leave();
        if (t.type === 'lparen') return inner;
        const node: ExprNode = { kind: 'abs', operand: inner, pos: t.start };
        this.depthCheck(node, 1 + depthOf(inner), t);
        return node;
      }
      default: {
        const after = this.prev === undefined ? '' : ` after ${this.show(this.prev)}`;
        return this.fail(
          'E_EXPR_MISSING_OPERAND',
          t,
          `expected an operand${after} at column ${this.col(t.start)}, found ${this.show(t)}`,
        );
      }
    }
  }
}

/** Depth of each composite node, recorded while parsing (leaves are depth 1). */
const depths = new WeakMap<ExprNode, number>();
function depthOf(n: ExprNode): number {
  return depths.get(n) ?? 1;
}

/** Map a 0-based offset in `text` to the line/column of the configuration file. */
function locator(text: string, where: SourceWhere): (offset: number) => { line?: number; column: number } {
  const col0 = where.column ?? 1;
  return (offset) => {
    // Expressions are normally one line; a newline inside one moves to the next line of the file.
    let lines = 0;
    let lastNl = -1;
    for (let i = 0; i < offset && i < text.length; i++) {
      if (text.charCodeAt(i) === 10) {
        lines++;
        lastNl = i;
      }
    }
    const column = lastNl < 0 ? col0 + offset : offset - lastNl;
    return where.line === undefined ? { column } : { line: where.line + lines, column };
  };
}

/**
 * Parse an expression.
 *
 * @param text the expression as written (for example the value of a `warn:` line).
 * @param where the file and line it comes from, and the column where `text` starts in that line.
 * @returns the expression, or the first problem found (code `E_EXPR_*`, with file/line/column).
 * @example parseExpression('$this > 5', { file: 'tcp.conf', line: 12, column: 11 })
 */
export function parseExpression(
  text: string,
  where: SourceWhere = {},
): { expr?: Expression; problems: Problem[] } {
  const loc = locator(text, where);
  try {
    const parser = new Parser(text, (o) => loc(o).column);
    const root = parser.parseAll();
    return { expr: { source: text, root, variables: parser.variables }, problems: [] };
  } catch (e) {
    let f: ParseFailure;
    if (e instanceof ParseFailure) f = e;
    else if (e instanceof RangeError)
      f = new ParseFailure('E_EXPR_TOO_DEEP', 0, 'the expression is nested too deeply to be parsed');
    else throw e;
    const p: Problem = { code: f.code, message: f.message, severity: 'error' };
    if (where.file !== undefined) p.file = where.file;
    const at = loc(f.offset);
    if (at.line !== undefined) p.line = at.line;
    p.column = at.column;
    return { problems: [p] };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Printing

/**
 * Print a number as Netdata prints constants and variable values (`print_parsed_as_constant`): `nan`, `inf`
 * (whatever the sign), otherwise C's `%0.7f` (NETDATA_DOUBLE_FORMAT) with trailing zeros and a trailing dot
 * removed: 12.3 → `12.3`, 1/3 → `0.3333333`, 1e-9 → `0`, -1e-9 → `-0`.
 */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY || x === Number.NEGATIVE_INFINITY) return 'inf';
  const neg = x < 0 || Object.is(x, -0);
  const ax = neg ? -x : x;
  let s: string;
  if (Number.isInteger(ax)) {
    // C prints the exact decimal value; String() gives the shortest round-trip form, which differs from 2^53.
    s = ax < 9007199254740992 ? String(ax) : BigInt(ax).toString();
  } else {
    s = ax.toFixed(7);
    // An exact tie at the 8th decimal (ax = k/256 with k odd): glibc rounds half to even, toFixed() rounds
    // half up. Truncate when the 7th decimal of the truncated value is even.
    if ((ax * 256) % 2 === 1) {
      const s8 = ax.toFixed(8);
      const last7 = s8.charCodeAt(s8.length - 2) - 48;
      if (last7 % 2 === 0) s = s8.slice(0, -1);
    }
    let end = s.length;
    while (end > 0 && s.charCodeAt(end - 1) === 48) end--;
    if (end > 0 && s.charCodeAt(end - 1) === 46) end--;
    s = s.slice(0, end);
  }
  return neg ? '-' + s : s;
}

function print(n: ExprNode): string {
  switch (n.kind) {
    case 'number':
      return formatNumber(n.value);
    case 'variable':
      return '${' + n.name + '}';
    case 'unary':
      return n.op + print(n.operand);
    case 'abs':
      return 'abs(' + print(n.operand) + ')';
    case 'binary':
      return '(' + print(n.left) + ' ' + n.op + ' ' + print(n.right) + ')';
    case 'conditional':
      return '(' + print(n.test) + ' ? ' + print(n.ifTrue) + ' : ' + print(n.ifFalse) + ')';
  }
}

/**
 * Re-print an expression from its AST, fully parenthesised, in the style of Netdata's `*_parsed` strings
 * (`warn_parsed` in /api/v1/alarms): `(${this} > 5)`, `!${x}`, `abs(${x})`, `(${a} ? 1 : 2)`. Constants are
 * printed with formatNumber(), so one with more than 7 decimals loses them, as in Netdata.
 */
export function formatExpression(expr: Expression): string {
  return print(expr.root);
}
