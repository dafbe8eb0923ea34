/**
 * What a fuzz target is, and the oracle helpers the targets share.
 *
 * The oracle (docs/reliability.md, "Fuzzing"): bad input may only ever produce the module's own outcome — a
 * returned problem list, a RstwatchError or an ApiError — with a stable code that docs/errors.md lists and,
 * for problems in text, a position inside the text. Anything else thrown is a finding, as is a property a
 * target checks (OracleFailure), an input that runs longer than the time limit, or one that exhausts the
 * worker's heap.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../../../src/internal/errors.js';
import { RstwatchError } from '../../../src/internal/errors.js';
import { REPO } from './paths.js';

export interface FuzzTarget {
  name: string;
  /** One line: what is fed to what. */
  about: string;
  /** Longest input generated (seeds are cut to it). */
  maxLen: number;
  /** Line-oriented text: enables line mutations. */
  text: boolean;
  /** Tokens the mutator inserts (keywords, magic numbers). */
  dict?: readonly (string | Uint8Array)[];
  /**
   * Boundaries of the units the minimizer may remove whole (records, blocks): ascending offsets, the first
   * unit starting at the first, the last ending at the last. Text targets default to lines.
   */
  units?(data: Uint8Array): number[];
  /** Run once per worker before the seeds are read (e.g. start a server). */
  setup?(): Promise<void>;
  seeds(): Uint8Array[] | Promise<Uint8Array[]>;
  /** Throws on a finding; returns normally (or resolves) when the module behaved. */
  run(data: Uint8Array): void | Promise<void>;
  teardown?(): Promise<void>;
}

/** A property of the output that does not hold (as opposed to an exception out of the module). */
export class OracleFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OracleFailure';
  }
}

export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new OracleFailure(message);
}

let documented: Set<string> | undefined;

/**
 * Every `E_…`/`W_…` code named in docs/errors.md or in a page it links to for a family of codes (the health
 * codes live in health-config.md and health-expressions.md). Read once per worker.
 */
export function documentedCodes(): Set<string> {
  if (documented === undefined) {
    const docs = join(REPO, 'docs');
    let text = readFileSync(join(docs, 'errors.md'), 'utf8');
    for (const m of new Set(text.match(/\(([a-z0-9-]+\.md)/g) ?? [])) {
      const page = join(docs, m.slice(1));
      if (existsSync(page)) text += readFileSync(page, 'utf8');
    }
    documented = new Set(text.match(/\b[EW]_[A-Z0-9_]+\b/g) ?? []);
  }
  return documented;
}

const CODE = /^[EW]_[A-Z0-9_]+$/;

export function checkCode(code: string, where: string): void {
  check(CODE.test(code), `${where}: code ${JSON.stringify(code)} is not a stable E_/W_ code`);
  check(documentedCodes().has(code), `${where}: code ${code} is not listed in docs/errors.md`);
}

/**
 * Problems as every parser returns them: a documented code, a severity, a sentence, and a position that
 * points into the text (1-based line ≤ the number of lines, 1-based column ≥ 1).
 */
export function checkProblems(problems: readonly Problem[], text: string | undefined, what: string): void {
  check(Array.isArray(problems), `${what}: problems is not an array`);
  const lines = text === undefined ? Number.POSITIVE_INFINITY : text.split('\n').length;
  for (const p of problems) {
    checkCode(p.code, what);
    check(
      p.severity === 'error' || p.severity === 'warning',
      `${what}: ${p.code} has severity ${p.severity}`,
    );
    check(typeof p.message === 'string' && p.message.length > 0, `${what}: ${p.code} has no message`);
    if (p.line !== undefined) {
      check(
        Number.isInteger(p.line) && p.line >= 1 && p.line <= lines,
        `${what}: ${p.code} at line ${p.line} of a ${lines}-line text`,
      );
    }
    if (p.column !== undefined) {
      check(Number.isInteger(p.column) && p.column >= 1, `${what}: ${p.code} at column ${p.column}`);
    }
  }
}

/** Run fn; a RstwatchError with a documented code is an allowed outcome (returned), anything else is thrown. */
export function allowRstwatchError<T>(fn: () => T, what: string): T | RstwatchError {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RstwatchError) {
      checkCode(err.code, what);
      check(err.message.length > 0, `${what}: ${err.code} without a message`);
      return err;
    }
    throw err;
  }
}

const decoder = new TextDecoder();
export function utf8(data: Uint8Array): string {
  return decoder.decode(data);
}

const encoder = new TextEncoder();
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}
