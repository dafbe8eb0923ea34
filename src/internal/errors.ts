/**
 * Errors and problems with stable codes.
 *
 * Every failure a user can meet carries a `code` that never changes between releases (scripts and
 * alerting match on it) and a sentence a sysadmin understands at 3 a.m. Where the failure comes from
 * input, the position (file, line, column) travels with it. The catalogue lives in docs/errors.md.
 */

export type Severity = 'error' | 'warning';

/** A problem found while reading input: reported, never thrown through the hot path. */
export interface Problem {
  code: string;
  message: string;
  severity: Severity;
  file?: string;
  line?: number;
  column?: number;
}

export class RstwatchError extends Error {
  readonly code: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** What the user can do about it, when we know. */
  readonly hint?: string;

  constructor(
    code: string,
    message: string,
    where: { file?: string; line?: number; column?: number; hint?: string; cause?: unknown } = {},
  ) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause });
    this.name = 'RstwatchError';
    this.code = code;
    if (where.file !== undefined) this.file = where.file;
    if (where.line !== undefined) this.line = where.line;
    if (where.column !== undefined) this.column = where.column;
    if (where.hint !== undefined) this.hint = where.hint;
  }

  toProblem(severity: Severity = 'error'): Problem {
    const p: Problem = { code: this.code, message: this.message, severity };
    if (this.file !== undefined) p.file = this.file;
    if (this.line !== undefined) p.line = this.line;
    if (this.column !== undefined) p.column = this.column;
    return p;
  }
}

/** `file:line:column: code: message` — the form compilers use, so editors can jump to it. */
export function formatProblem(p: Problem): string {
  let where = '';
  if (p.file !== undefined) {
    where = p.file;
    if (p.line !== undefined) where += `:${p.line}`;
    if (p.line !== undefined && p.column !== undefined) where += `:${p.column}`;
    where += ': ';
  }
  return `${where}${p.severity}: ${p.code}: ${p.message}`;
}

/** The Node error code of a system error (`ENOENT`, `EACCES`, …), if there is one. */
export function sysCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Wrap anything thrown into a RstwatchError, keeping a RstwatchError as it is. */
export function asRstwatchError(err: unknown, code: string, context: string): RstwatchError {
  if (err instanceof RstwatchError) return err;
  return new RstwatchError(code, `${context}: ${errorMessage(err)}`, { cause: err });
}
