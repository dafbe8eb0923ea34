/**
 * The lexer of Netdata's health expression language (§2.5 of shared/design/netdata-health-semantics.md).
 *
 * Behaviour follows Netdata's active lexer (re2c): whitespace is space, tab, CR and LF; numbers are decimal
 * with an optional fraction and exponent; `nan`/`null` and `inf`/`infinity` (any case) are constants;
 * `$name` runs until whitespace or one of `& | ! > < = % + - * / ? ( ) { }` (so dots, colons, underscores
 * and even `$` belong to the name); `${any text}` runs up to the first `}`. The words `and`, `or`, `not`,
 * `nan`, `null`, `inf`, `infinity` are matched as prefixes without a word boundary, as re2c does
 * (`notnot 1` is `! ! 1`, `andy` is `and` followed by the error `y`), and a word glued to `(` is a function
 * call of which only `abs(` exists (`and(`, `or(`, `not(` stay operators; `nan(` is an error).
 *
 * Errors are not thrown: the lexer returns an `error` token carrying the problem code and a message.
 */

/** Netdata's limit on variable names (EVAL_MAX_VARIABLE_NAME_LENGTH). */
export const MAX_VARIABLE_NAME_LENGTH = 300;

export type TokenType =
  | 'number'
  | 'variable'
  | 'and'
  | 'or'
  | 'not'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge'
  | 'plus'
  | 'minus'
  | 'mul'
  | 'div'
  | 'mod'
  | 'qmark'
  | 'colon'
  | 'lparen'
  | 'rparen'
  | 'abs'
  | 'end'
  | 'error';

export interface Token {
  type: TokenType;
  /** 0-based offset of the first character in the source. */
  start: number;
  /** 0-based offset just past the last character. */
  end: number;
  /** `number`: the constant. */
  value: number;
  /** `variable`: the name without `$`/braces; `error`: the problem code. */
  text: string;
  /** `error`: what is wrong, without the position (the parser adds `at column N` after it). */
  message: string;
  /** `error`: advice that follows the position, if any. */
  hint: string;
}

const C_TAB = 9;
const C_LF = 10;
const C_CR = 13;
const C_SPACE = 32;
const C_0 = 48;
const C_9 = 57;
const C_DOT = 46;

function isSpace(c: number): boolean {
  return c === C_SPACE || c === C_TAB || c === C_LF || c === C_CR;
}

function isDigit(c: number): boolean {
  return c >= C_0 && c <= C_9;
}

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isWordChar(c: number): boolean {
  return isWordStart(c) || isDigit(c);
}

/** Characters that end a `$name` (besides whitespace and the end of the text). */
const NAME_TERMINATORS = new Set([...'&|!><=%+-*/?(){}'].map((ch) => ch.charCodeAt(0)));

/** Words recognised as prefixes (longest first where one is a prefix of another). */
const WORDS: readonly { word: string; type: TokenType; value: number }[] = [
  { word: 'infinity', type: 'number', value: Number.POSITIVE_INFINITY },
  { word: 'inf', type: 'number', value: Number.POSITIVE_INFINITY },
  { word: 'nan', type: 'number', value: Number.NaN },
  { word: 'null', type: 'number', value: Number.NaN },
  { word: 'and', type: 'and', value: 0 },
  { word: 'or', type: 'or', value: 0 },
  { word: 'not', type: 'not', value: 0 },
];

/** Show a piece of source in a message, shortened if long. */
export function quoteSource(s: string): string {
  const one = s.replace(/[\r\n\t]/g, ' ');
  return '`' + (one.length > 24 ? one.slice(0, 21) + '...' : one) + '`';
}

/** A pull lexer: the parser asks for one token at a time, so the first error in reading order wins. */
export class Lexer {
  readonly src: string;
  private pos = 0;

  constructor(src: string) {
    this.src = src;
  }

  private tok(type: TokenType, start: number, end: number, value = 0, text = ''): Token {
    this.pos = end;
    return { type, start, end, value, text, message: '', hint: '' };
  }

  private err(code: string, start: number, end: number, message: string, hint = ''): Token {
    this.pos = end;
    return { type: 'error', start, end, value: 0, text: code, message, hint };
  }

  next(): Token {
    const s = this.src;
    const n = s.length;
    let i = this.pos;
    while (i < n && isSpace(s.charCodeAt(i))) i++;
    if (i >= n) return this.tok('end', n, n);
    const c = s.charCodeAt(i);
    const c1 = i + 1 < n ? s[i + 1] : '';
    switch (s[i]) {
      case '+':
        return this.tok('plus', i, i + 1);
      case '-':
        return this.tok('minus', i, i + 1);
      case '*':
        return this.tok('mul', i, i + 1);
      case '/':
        return this.tok('div', i, i + 1);
      case '%':
        return this.tok('mod', i, i + 1);
      case '?':
        return this.tok('qmark', i, i + 1);
      case ':':
        return this.tok('colon', i, i + 1);
      case '(':
        return this.tok('lparen', i, i + 1);
      case ')':
        return this.tok('rparen', i, i + 1);
      case '&':
        if (c1 === '&') return this.tok('and', i, i + 2);
        return this.err('E_EXPR_UNKNOWN_OPERAND', i, i + 1, 'a single `&`', 'write `&&` or `and`');
      case '|':
        if (c1 === '|') return this.tok('or', i, i + 2);
        return this.err('E_EXPR_UNKNOWN_OPERAND', i, i + 1, 'a single `|`', 'write `||` or `or`');
      case '!':
        if (c1 === '=') return this.tok('ne', i, i + 2);
        return this.tok('not', i, i + 1);
      case '=':
        if (c1 === '=') return this.tok('eq', i, i + 2);
        return this.tok('eq', i, i + 1);
      case '<':
        if (c1 === '=') return this.tok('le', i, i + 2);
        if (c1 === '>') return this.tok('ne', i, i + 2);
        return this.tok('lt', i, i + 1);
      case '>':
        if (c1 === '=') return this.tok('ge', i, i + 2);
        return this.tok('gt', i, i + 1);
      case '$':
        return this.variable(i);
    }
    if (isDigit(c) || (c === C_DOT && i + 1 < n && isDigit(s.charCodeAt(i + 1)))) return this.number(i);
    if (isWordStart(c)) return this.word(i);
    const ch = String.fromCodePoint(s.codePointAt(i) ?? c);
    return this.err('E_EXPR_UNKNOWN_OPERAND', i, i + ch.length, `unexpected character ${quoteSource(ch)}`);
  }

  /** `[0-9]+ ('.' [0-9]*)? | '.' [0-9]+`, then an optional `[eE][+-]?[0-9]+`. */
  private number(start: number): Token {
    const s = this.src;
    const n = s.length;
    let i = start;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i < n && s.charCodeAt(i) === C_DOT) {
      i++;
      while (i < n && isDigit(s.charCodeAt(i))) i++;
    }
    if (i < n && (s[i] === 'e' || s[i] === 'E')) {
      let j = i + 1;
      if (j < n && (s[j] === '+' || s[j] === '-')) j++;
      if (j < n && isDigit(s.charCodeAt(j))) {
        while (j < n && isDigit(s.charCodeAt(j))) j++;
        i = j;
      }
    }
    return this.tok('number', start, i, Number(s.slice(start, i)));
  }

  private word(start: number): Token {
    const s = this.src;
    const n = s.length;
    let i = start;
    while (i < n && isWordChar(s.charCodeAt(i))) i++;
    const word = s.slice(start, i);
    const lower = word.toLowerCase();
    if (i < n && s[i] === '(') {
      // A word glued to `(` is a function call; `and(`, `or(`, `not(` are operators before a parenthesis.
      if (lower === 'abs') return this.tok('abs', start, i + 1);
      for (const w of WORDS) if (w.type !== 'number' && lower === w.word) return this.tok(w.type, start, i);
      return this.err(
        'E_EXPR_UNKNOWN_OPERAND',
        start,
        i + 1,
        `unknown function ${quoteSource(word + '(')}`,
        'the only function is `abs(`',
      );
    }
    for (const w of WORDS) {
      if (lower.startsWith(w.word)) return this.tok(w.type, start, start + w.word.length, w.value);
    }
    if (lower === 'abs')
      return this.err(
        'E_EXPR_UNKNOWN_OPERAND',
        start,
        i,
        '`abs` without `(`',
        'write `abs(` with no space, as in `abs($this)`',
      );
    return this.err(
      'E_EXPR_UNKNOWN_OPERAND',
      start,
      i,
      `unknown word ${quoteSource(word)}`,
      'variables start with `$`; the words are and, or, not, nan, null, inf, infinity and abs(',
    );
  }

  private variable(start: number): Token {
    const s = this.src;
    const n = s.length;
    if (start + 1 < n && s[start + 1] === '{') {
      const close = s.indexOf('}', start + 2);
      if (close < 0)
        return this.err(
          'E_EXPR_UNKNOWN_OPERAND',
          start,
          n,
          `\`\${\` without its closing \`}\``,
          `write \`\${name}\``,
        );
      if (close === start + 2)
        return this.err('E_EXPR_UNKNOWN_OPERAND', start, close + 1, `empty variable name \`\${}\``);
      const name = s.slice(start + 2, close);
      if (name.length > MAX_VARIABLE_NAME_LENGTH) return this.tooLong(start, close + 1, name);
      return this.tok('variable', start, close + 1, 0, name);
    }
    let i = start + 1;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (isSpace(c) || NAME_TERMINATORS.has(c)) break;
      i++;
    }
    if (i === start + 1)
      return this.err(
        'E_EXPR_UNKNOWN_OPERAND',
        start,
        start + 1,
        '`$` without a variable name',
        `write \`$name\` or \`\${name}\``,
      );
    const name = s.slice(start + 1, i);
    if (name.length > MAX_VARIABLE_NAME_LENGTH) return this.tooLong(start, i, name);
    return this.tok('variable', start, i, 0, name);
  }

  private tooLong(start: number, end: number, name: string): Token {
    return this.err(
      'E_EXPR_VARIABLE_NAME_TOO_LONG',
      start,
      end,
      `variable name ${quoteSource('$' + name)} of ${name.length} characters`,
      `the limit is ${MAX_VARIABLE_NAME_LENGTH}`,
    );
  }
}

/** All tokens of `src`, up to and including the `end` token or the first `error` token. */
export function tokenize(src: string): Token[] {
  const lx = new Lexer(src);
  const out: Token[] = [];
  for (;;) {
    const t = lx.next();
    out.push(t);
    if (t.type === 'end' || t.type === 'error') return out;
  }
}
