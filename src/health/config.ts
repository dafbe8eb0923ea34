/**
 * Netdata health configuration files → AlertConfig[] plus every problem found, each with file, line,
 * column and a stable code (shared/design/netdata-health-semantics.md §2.1–2.4; docs/health-config.md).
 *
 * Netdata reads these files leniently: it logs a bad line and carries on, sometimes with an alert that
 * silently lost a line. We read the same language and accept everything Netdata accepts, but:
 *
 * - every problem is reported, with its position (Netdata logs some, ignores others);
 * - an alert with an error is left out, whole, and the others still load;
 * - things Netdata logs and ignores without changing what a correct alert does (unknown keys, unknown
 *   options, repeated keys) are warnings, so Netdata's own stock files give no errors.
 *
 * Expressions (calc/warn/crit) are kept as written; they are compiled elsewhere. A caller that wants them
 * checked here passes `validateExpression`.
 */

import type { Problem, Severity } from '../internal/errors.js';
import { parseDuration } from './duration.js';
import { editDistance, parseLookup } from './lookup-parse.js';
import { DISABLED_LABEL_FILTER, labelTokens, labelValueMeaning, parseLabelFilter } from './pattern.js';
import type { AlertConfig, ExpressionSource, LabelFilter, LookupSpec, SourcePos } from './types.js';

/** Netdata's line buffer is 4096 bytes with the terminating NUL: longer lines are cut and misread. */
export const MAX_LINE_BYTES = 4095;

export interface HealthConfigOptions {
  /**
   * Called for every calc/warn/crit expression, also in alerts that are left out for other reasons. An
   * error among the returned problems leaves the alert out. `e.source` may contain newlines where the
   * expression was continued with `\` (so positions of later lines come out right).
   */
  validateExpression?: (e: ExpressionSource) => Problem[];
}

export interface HealthConfigResult {
  /** The alerts that load: those without errors, in file order. */
  alerts: AlertConfig[];
  problems: Problem[];
  /** `alarm:` and `template:` lines found, including alerts left out. */
  counts: { alarms: number; templates: number };
}

/** Keys whose repetition is a warning; the others accumulate (options, the label patterns) or are ignored. */
const SINGLE_KEYS = new Set([
  'on',
  'class',
  'type',
  'component',
  'lookup',
  'calc',
  'every',
  'green',
  'red',
  'warn',
  'crit',
  'exec',
  'to',
  'units',
  'summary',
  'info',
  'delay',
  'repeat',
]);

const KNOWN_KEYS = [
  ...SINGLE_KEYS,
  'alarm',
  'template',
  'os',
  'hosts',
  'plugin',
  'module',
  'host labels',
  'chart labels',
  'options',
];

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const WS_CHARS = ' \t\n\v\f\r';
const isWs = (c: string | undefined) => c !== undefined && c !== '' && WS_CHARS.includes(c);

/** Netdata's `trim_all`: trim, and turn every run of whitespace into one space. */
export function collapseSpaces(s: string): string {
  return s.replace(/[ \t\n\v\f\r]+/g, ' ').replace(/^ | $/g, '');
}

/**
 * Netdata's `rrdvar_fix_name`: every byte that is not an ASCII letter, digit, `.` or `_` becomes `_`
 * (a two-byte UTF-8 character becomes `__`).
 */
export function fixAlertName(name: string): string {
  let out = '';
  for (const ch of name) {
    if (/^[A-Za-z0-9._]$/.test(ch)) out += ch;
    else out += '_'.repeat(Buffer.byteLength(ch, 'utf8'));
  }
  return out;
}

const stripQuotes = (s: string) => s.replace(/["']/g, ' ');

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** A place in the logical line (after `\` continuations were joined) and where it came from. */
interface Segment {
  offset: number;
  line: number;
  column: number;
}

interface Draft {
  kind: 'alarm' | 'template';
  name: string;
  source: SourcePos;
  broken: boolean;
  /** Keys seen (lower case) → the line and value they had, for repeated-key warnings. */
  seen: Map<string, { line: number; value: string }>;
  on?: string;
  class?: string;
  type?: string;
  component?: string;
  /** Netdata's combined pattern strings: each new line is put in front of the earlier ones. */
  hostLabels?: string;
  chartLabels?: string;
  hostDisabled: boolean;
  chartDisabled: boolean;
  lookup?: LookupSpec;
  calc?: ExpressionSource;
  warn?: ExpressionSource;
  crit?: ExpressionSource;
  /** update_every: set by `every:`, and by `lookup:` (|AFTER| or its own `every`), the last one wins. */
  updateEvery: number;
  everyLine?: number;
  green?: number;
  red?: number;
  exec?: string;
  to?: string;
  units?: string;
  summary?: string;
  info?: string;
  delay: { up: number; down: number; multiplier: number; max: number };
  repeat: { warning: number; critical: number };
  noClearNotification: boolean;
}

/**
 * Parse one health configuration file.
 *
 * @param text the file's contents
 * @param file its path, for positions
 * @example
 * const { alerts, problems } = parseHealthConfig(readFileSync(path, 'utf8'), path);
 */
export function parseHealthConfig(
  text: string,
  file: string,
  opts: HealthConfigOptions = {},
): HealthConfigResult {
  return new Reader(file, opts).read(text);
}

class Reader {
  private readonly problems: Problem[] = [];
  private readonly alerts: AlertConfig[] = [];
  private readonly counts = { alarms: 0, templates: 0 };
  private cur: Draft | undefined;
  private segs: Segment[] = [];

  constructor(
    private readonly file: string,
    private readonly opts: HealthConfigOptions,
  ) {}

  read(text: string): HealthConfigResult {
    const lines = text.replace(/^\uFEFF/, '').split('\n');
    let buf: string | undefined;
    let tooLong = false;
    for (let n = 0; n < lines.length; n++) {
      const lineNo = n + 1;
      const raw = lines[n] as string;
      const physicalTooLong = utf8Length(raw.replace(/\r$/, '')) > MAX_LINE_BYTES;
      if (physicalTooLong)
        this.problem(
          'E_HEALTH_LINE_TOO_LONG',
          { line: lineNo, column: 1 },
          `line is longer than ${MAX_LINE_BYTES} bytes: Netdata reads it in pieces`,
          false,
        );
      if (buf === undefined) {
        let lead = 0;
        while (isWs(raw[lead])) lead++;
        const content = raw.slice(lead).replace(/[ \t\n\v\f\r]+$/, '');
        if (content === '' || content.startsWith('#')) continue;
        buf = content;
        this.segs = [{ offset: 0, line: lineNo, column: lead + 1 }];
        tooLong = physicalTooLong;
      } else {
        this.segs.push({ offset: buf.length, line: lineNo, column: 1 });
        buf = (buf + raw).replace(/[ \t\n\v\f\r]+$/, '');
        tooLong ||= physicalTooLong;
      }
      if (buf.endsWith('\\')) {
        buf = `${buf.slice(0, -1)} `;
        if (n < lines.length - 1) continue;
        buf = buf.replace(/[ \t\n\v\f\r]+$/, '');
      }
      if (utf8Length(buf) > MAX_LINE_BYTES && this.segs.length > 1) {
        this.problem(
          'E_HEALTH_LINE_TOO_LONG',
          this.locate(0),
          `line joined with \`\\\` is longer than ${MAX_LINE_BYTES} bytes: Netdata cuts it`,
          false,
        );
        tooLong = true;
      }
      this.line(buf, tooLong);
      buf = undefined;
    }
    this.finish();
    const problems = this.problems
      .map((p, i) => ({ p, i }))
      .sort((a, b) => (a.p.line ?? 0) - (b.p.line ?? 0) || (a.p.column ?? 0) - (b.p.column ?? 0) || a.i - b.i)
      .map((x) => x.p);
    return { alerts: this.alerts, problems, counts: this.counts };
  }

  // ---------------------------------------------------------------------------------------------------
  // Positions and problems

  private locate(offset: number): SourcePos {
    let seg = this.segs[0] as Segment;
    for (const s of this.segs) if (s.offset <= offset) seg = s;
    return { file: this.file, line: seg.line, column: seg.column + (offset - seg.offset) };
  }

  /** Report a problem; an error breaks the current alert unless `breaks` is false. */
  private problem(code: string, at: { line: number; column?: number }, message: string, breaks = true): void {
    const severity: Severity = code.startsWith('W_') ? 'warning' : 'error';
    const p: Problem = { code, message, severity, file: this.file, line: at.line };
    if (at.column !== undefined) p.column = at.column;
    this.problems.push(p);
    if (severity === 'error' && breaks && this.cur) this.cur.broken = true;
  }

  private add(problems: readonly Problem[]): void {
    for (const p of problems) {
      this.problems.push({ ...p, file: p.file ?? this.file });
      if (p.severity === 'error' && this.cur) this.cur.broken = true;
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Lines

  private line(text: string, tooLong: boolean): void {
    const colon = text.indexOf(':');
    if (colon < 0) {
      this.problem(
        'E_HEALTH_SYNTAX',
        this.locate(0),
        `expected 'key: value', found no ':' in ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`,
      );
      return;
    }
    const key = collapseSpaces(text.slice(0, colon));
    if (key === '') {
      this.problem('E_HEALTH_SYNTAX', this.locate(0), "missing key before ':'");
      return;
    }
    let vs = colon + 1;
    while (isWs(text[vs])) vs++;
    const raw = text.slice(vs);
    const value = collapseSpaces(raw);
    const lower = key.toLowerCase();
    const keyAt = this.locate(0);
    const valueAt = this.locate(vs);

    if (lower === 'alarm' || lower === 'template') {
      this.finish();
      this.start(lower, value, keyAt, valueAt);
      if (tooLong && this.cur) this.cur.broken = true;
      return;
    }
    const cur = this.cur;
    if (!cur) {
      this.problem(
        'E_HEALTH_KEY',
        keyAt,
        `'${key}' before any 'alarm:' or 'template:' line: it belongs to no alert`,
      );
      return;
    }
    if (tooLong) cur.broken = true;
    if (value === '') {
      this.problem('W_HEALTH_EMPTY_VALUE', this.locate(colon), `'${key}' has no value: line ignored`);
      return;
    }
    if (SINGLE_KEYS.has(lower)) {
      const before = cur.seen.get(lower);
      if (before) {
        const same = before.value === value;
        this.problem(
          'W_HEALTH_REPEATED_KEY',
          keyAt,
          same
            ? `'${key}' repeated (also on line ${before.line}, with the same value)`
            : `'${key}' repeated: line ${before.line} said ${JSON.stringify(before.value)}, this one wins`,
        );
      }
      cur.seen.set(lower, { line: keyAt.line, value });
    }
    this.keyValue(cur, key, lower, value, raw, vs, valueAt);
  }

  private start(kind: 'alarm' | 'template', value: string, keyAt: SourcePos, valueAt: SourcePos): void {
    if (kind === 'alarm') this.counts.alarms++;
    else this.counts.templates++;
    const name = fixAlertName(value);
    this.cur = {
      kind,
      name,
      source: keyAt,
      broken: false,
      seen: new Map(),
      hostDisabled: false,
      chartDisabled: false,
      updateEvery: 0,
      delay: { up: 0, down: 0, multiplier: 1, max: 0 },
      repeat: { warning: 0, critical: 0 },
      noClearNotification: false,
    };
    if (value === '') this.problem('E_HEALTH_SYNTAX', keyAt, `'${kind}:' needs a name`);
    else if (name !== value)
      this.problem(
        'W_HEALTH_NAME_FIXED',
        valueAt,
        `${kind} name ${JSON.stringify(value)} becomes '${name}' (only letters, digits, '.' and '_' are kept)`,
      );
  }

  /** One case per key: a long but flat dispatch, each case a line or two or a call. */
  private keyValue(
    cur: Draft,
    key: string,
    lower: string,
    value: string,
    raw: string,
    vs: number,
    valueAt: SourcePos,
  ): void {
    switch (lower) {
      case 'on':
        cur.on = value;
        return;
      case 'class':
        cur.class = stripQuotes(value);
        return;
      case 'type':
        cur.type = stripQuotes(value);
        return;
      case 'component':
        cur.component = stripQuotes(value);
        return;
      case 'exec':
        cur.exec = stripQuotes(value);
        return;
      case 'to':
        cur.to = stripQuotes(value);
        return;
      case 'units':
        cur.units = stripQuotes(value);
        return;
      case 'summary':
        cur.summary = stripQuotes(value);
        return;
      case 'info':
        cur.info = stripQuotes(value);
        return;
      case 'os':
        this.labels(cur, 'host', '_os', key, value, valueAt);
        return;
      case 'hosts':
        this.labels(cur, 'host', '_hostname', key, value, valueAt);
        return;
      case 'host labels':
        this.labels(cur, 'host', undefined, key, value, valueAt);
        return;
      case 'plugin':
        this.labels(cur, 'chart', '_collect_plugin', key, value, valueAt);
        return;
      case 'module':
        this.labels(cur, 'chart', '_collect_module', key, value, valueAt);
        return;
      case 'chart labels':
        this.labels(cur, 'chart', undefined, key, value, valueAt);
        return;
      case 'lookup':
        this.lookup(cur, raw, vs, valueAt);
        return;
      case 'every': {
        const d = parseDuration(value);
        if ('error' in d)
          this.problem('E_HEALTH_DURATION', valueAt, `every: invalid duration '${value}': ${d.error}`);
        else if (d.seconds <= 0)
          this.problem('E_HEALTH_EVERY', valueAt, `every: must be above 0, got '${value}'`);
        else {
          cur.updateEvery = d.seconds;
          cur.everyLine = valueAt.line;
        }
        return;
      }
      case 'green':
      case 'red': {
        if (!NUMBER.test(value)) {
          this.problem('E_HEALTH_VALUE', valueAt, `${lower}: expected a number, got '${value}'`);
          return;
        }
        if (lower === 'green') cur.green = Number(value);
        else cur.red = Number(value);
        return;
      }
      case 'calc':
        cur.calc = this.expression(raw, vs, valueAt);
        return;
      case 'warn':
        cur.warn = this.expression(raw, vs, valueAt);
        return;
      case 'crit':
        cur.crit = this.expression(raw, vs, valueAt);
        return;
      case 'delay':
        this.delay(cur, raw, vs);
        return;
      case 'repeat':
        this.repeat(cur, raw, vs);
        return;
      case 'options':
        for (const w of this.words(raw, vs)) {
          const o = w.text.toLowerCase();
          if (o === 'no-clear-notification' || o === 'no-clear') cur.noClearNotification = true;
          else this.problem('W_HEALTH_UNKNOWN_OPTION', w.at, `unknown option '${w.text}' (ignored)`);
        }
        return;
      case 'families':
      case 'charts':
        // Netdata ignores these legacy keys silently, but only in lower case.
        if (key === lower) return;
        break;
    }
    const near = KNOWN_KEYS.find((k) => editDistance(k, lower) <= (k.length > 4 ? 2 : 1));
    this.problem(
      'W_HEALTH_UNKNOWN_KEY',
      this.locate(0),
      `unknown key '${key}' (ignored)${near ? `: did you mean '${near}'?` : ''}`,
    );
  }

  /** The words of a value with their positions (offsets in the logical line start at `vs`). */
  private words(raw: string, vs: number): { text: string; at: SourcePos }[] {
    const out: { text: string; at: SourcePos }[] = [];
    const re = /[^ \t\n\v\f\r]+/g;
    for (let m = re.exec(raw); m; m = re.exec(raw)) out.push({ text: m[0], at: this.locate(vs + m.index) });
    return out;
  }

  private labels(
    cur: Draft,
    target: 'host' | 'chart',
    label: string | undefined,
    key: string,
    value: string,
    valueAt: SourcePos,
  ): void {
    const meaning = labelValueMeaning(value);
    if (meaning === 'any') return;
    if (meaning === 'disabled') {
      if (target === 'host') cur.hostDisabled = true;
      else cur.chartDisabled = true;
      return;
    }
    if (label === undefined) {
      if (!value.includes('=')) {
        this.problem('E_HEALTH_VALUE', valueAt, `${key}: expected 'name=pattern …', got '${value}'`);
        return;
      }
      const keyless = labelTokens(value).find((t) => t.keyless);
      if (keyless) {
        this.problem(
          'E_HEALTH_VALUE',
          valueAt,
          `${key}: '${keyless.pattern}' has no label name before it (write name=${keyless.pattern})`,
        );
        return;
      }
    }
    const piece = label === undefined ? value : `${label}=${value}`;
    if (target === 'host')
      cur.hostLabels = cur.hostLabels === undefined ? piece : `${piece} ${cur.hostLabels}`;
    else cur.chartLabels = cur.chartLabels === undefined ? piece : `${piece} ${cur.chartLabels}`;
  }

  private lookup(cur: Draft, raw: string, vs: number, valueAt: SourcePos): void {
    const r = parseLookup(raw, valueAt, (o) => this.locate(vs + o), cur.kind);
    this.add(r.problems);
    const spec = r.lookup;
    if (!spec) return;
    spec.source = collapseSpaces(spec.source);
    spec.dimensions = collapseSpaces(spec.dimensions);
    if (spec.foreach !== undefined) spec.foreach = collapseSpaces(spec.foreach);
    if (spec.every !== undefined && spec.every <= 0) {
      this.problem('E_HEALTH_EVERY', valueAt, `lookup: 'every' must be above 0, got ${spec.every}`);
      return;
    }
    const every = spec.every ?? Math.abs(spec.after);
    if (cur.everyLine !== undefined && every !== cur.updateEvery)
      this.problem(
        'W_HEALTH_EVERY_OVERRIDDEN',
        valueAt,
        `this lookup sets every to ${every}s (${spec.every === undefined ? '|AFTER|' : 'its own every'}), ` +
          `overriding 'every:' on line ${cur.everyLine} (${cur.updateEvery}s): put 'every:' after 'lookup:'`,
      );
    cur.lookup = spec;
    cur.updateEvery = every;
    cur.everyLine = undefined;
  }

  private expression(raw: string, vs: number, valueAt: SourcePos): ExpressionSource {
    const e: ExpressionSource = { source: raw, pos: valueAt };
    if (this.opts.validateExpression) {
      // Where the value was continued with `\`, give the validator a newline instead of the space that
      // replaced the backslash, so that positions on the later lines come out right.
      let multi = raw;
      for (const s of this.segs) {
        const k = s.offset - vs - 1;
        if (k >= 0 && k < multi.length) multi = `${multi.slice(0, k)}\n${multi.slice(k + 1)}`;
      }
      this.add(this.opts.validateExpression({ source: multi, pos: valueAt }));
    }
    return e;
  }

  private delay(cur: Draft, raw: string, vs: number): void {
    const words = this.words(raw, vs);
    let up: number | undefined;
    let down: number | undefined;
    let max: number | undefined;
    let multiplier: number | undefined;
    for (let k = 0; k < words.length; k += 2) {
      const w = words[k] as { text: string; at: SourcePos };
      const v = words[k + 1];
      const name = w.text.toLowerCase();
      if (name === 'up' || name === 'down' || name === 'max') {
        if (!v) {
          this.problem('E_HEALTH_DURATION', w.at, `delay: '${w.text}' needs a duration after it`);
          continue;
        }
        const d = parseDuration(v.text);
        if ('error' in d)
          this.problem('E_HEALTH_DURATION', v.at, `delay: invalid duration '${v.text}': ${d.error}`);
        else if (d.seconds < 0)
          this.problem('E_HEALTH_VALUE', v.at, `delay: '${w.text}' must not be negative`);
        else if (name === 'up') up = d.seconds;
        else if (name === 'down') down = d.seconds;
        else max = d.seconds;
      } else if (name === 'multiplier') {
        const m = v && NUMBER.test(v.text) ? Math.fround(Number(v.text)) : Number.NaN;
        if (!Number.isFinite(m) || m <= 0)
          this.problem(
            'E_HEALTH_VALUE',
            (v ?? w).at,
            `delay: multiplier must be a number above 0, got '${v?.text ?? ''}'`,
          );
        else multiplier = m;
      } else this.problem('W_HEALTH_UNKNOWN_KEYWORD', w.at, `delay: unknown keyword '${w.text}' (ignored)`);
    }
    // Netdata: what is not given falls back to 0 (up, down) and 1 (multiplier); a missing max is raised to
    // the larger of up·M and down·M, products in C float truncated to int, starting from the previous max.
    const d = cur.delay;
    d.up = up ?? 0;
    d.down = down ?? 0;
    d.multiplier = multiplier ?? 1;
    if (max !== undefined) d.max = max;
    else
      for (const base of [d.up, d.down]) {
        const product = Math.fround(Math.fround(base) * d.multiplier);
        if (Math.fround(d.max) < product) d.max = Math.trunc(product);
      }
  }

  private repeat(cur: Draft, raw: string, vs: number): void {
    const words = this.words(raw, vs);
    for (let k = 0; k < words.length; k += 2) {
      const w = words[k] as { text: string; at: SourcePos };
      const v = words[k + 1];
      const name = w.text.toLowerCase();
      if (name === 'off') {
        cur.repeat = { warning: 0, critical: 0 };
        return;
      }
      if (name !== 'warning' && name !== 'critical') {
        this.problem('W_HEALTH_UNKNOWN_KEYWORD', w.at, `repeat: unknown keyword '${w.text}' (ignored)`);
        continue;
      }
      if (!v) {
        this.problem('E_HEALTH_DURATION', w.at, `repeat: '${w.text}' needs a duration after it`);
        continue;
      }
      const d = parseDuration(v.text);
      if ('error' in d)
        this.problem('E_HEALTH_DURATION', v.at, `repeat: invalid duration '${v.text}': ${d.error}`);
      else if (d.seconds < 0)
        this.problem('E_HEALTH_VALUE', v.at, `repeat: '${w.text}' must not be negative`);
      else cur.repeat[name] = d.seconds;
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // End of an alert

  private finish(): void {
    const cur = this.cur;
    if (!cur) return;
    this.cur = undefined;
    const what = `${cur.kind} '${cur.name}'`;
    const fail = (code: string, message: string) => {
      this.problem(code, cur.source, message);
      cur.broken = true;
    };
    if (!cur.seen.has('on'))
      fail(
        'E_HEALTH_NO_ON',
        `${what} has no 'on:' line (the ${cur.kind === 'alarm' ? 'chart' : 'context'} it watches)`,
      );
    if (!cur.seen.has('every') && !cur.seen.has('lookup'))
      fail('E_HEALTH_EVERY', `${what} has neither 'every:' nor a 'lookup:' to take the interval from`);
    if (!['lookup', 'calc', 'warn', 'crit'].some((k) => cur.seen.has(k)))
      fail('E_HEALTH_NOTHING_TO_DO', `${what} has nothing to do: no lookup, calc, warn or crit`);
    if (cur.broken || cur.on === undefined) return;

    const hostLabels: LabelFilter = cur.hostDisabled
      ? DISABLED_LABEL_FILTER.map((e) => ({ ...e }))
      : parseLabelFilter(cur.hostLabels ?? '');
    const chartLabels: LabelFilter = cur.chartDisabled
      ? DISABLED_LABEL_FILTER.map((e) => ({ ...e }))
      : parseLabelFilter(cur.chartLabels ?? '');
    const a: AlertConfig = {
      kind: cur.kind,
      name: cur.name,
      on: cur.on,
      hostLabels,
      chartLabels,
      every: cur.updateEvery,
      delay: cur.delay,
      repeat: cur.repeat,
      noClearNotification: cur.noClearNotification,
      source: cur.source,
    };
    const optional = [
      'class',
      'type',
      'component',
      'lookup',
      'calc',
      'warn',
      'crit',
      'green',
      'red',
      'exec',
      'to',
      'units',
      'summary',
      'info',
    ] as const;
    for (const k of optional) if (cur[k] !== undefined) Object.assign(a, { [k]: cur[k] });
    this.alerts.push(a);
  }
}
