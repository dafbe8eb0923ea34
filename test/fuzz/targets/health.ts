// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${name}` is the Netdata variable syntax fed to the parser, not a template
/**
 * Health targets: the configuration reader (alarm/template files with lookup, durations, patterns, labels,
 * expressions, then compiled as the agent loads them) and the expression language on its own (lexer,
 * parser, evaluator, printer) with the printer's round trip as a property.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateExpression } from '../../../src/cli/health.js';
import { parseHealthConfig } from '../../../src/health/config.js';
import { parseDuration } from '../../../src/health/duration.js';
import {
  type Expression,
  type ExprNode,
  evaluate,
  formatExpression,
  formatNumber,
  parseExpression,
} from '../../../src/health/expr/index.js';
import { compileAlerts } from '../../../src/health/load.js';
import { parseLookup } from '../../../src/health/lookup-parse.js';
import { compileSimplePattern, parseLabelFilter } from '../../../src/health/pattern.js';
import { STATUS } from '../../../src/health/types.js';
import { HealthSim } from '../../helpers/health-sim.js';
import { FIXTURES, listFiles, NETDATA_HEALTH, REPO } from '../engine/paths.js';
import { bytes, check, checkProblems, type FuzzTarget, utf8 } from '../engine/target.js';

const HEALTH_DICT = [
  'alarm: ',
  'template: ',
  'on: ',
  'lookup: ',
  'calc: ',
  'every: ',
  'warn: ',
  'crit: ',
  'delay: ',
  'repeat: ',
  'options: no-clear-notification',
  'host labels: ',
  'chart labels: ',
  'os: linux',
  'hosts: *',
  'green: ',
  'red: ',
  'units: ',
  'to: sysadmin',
  'exec: ',
  'class: ',
  'type: ',
  'component: ',
  'info: ',
  'summary: ',
  'average -10s unaligned absolute of ',
  'sum -1m at -10s percentage of ',
  'percentile95 ',
  'incremental_sum ',
  'countif>=5 ',
  'trimmed_mean10 ',
  ' foreach ',
  ' match-ids ',
  ' match-names ',
  ' min2max ',
  'up 1m down 5m multiplier 1.5 max 1h',
  'warning 1m critical 10s',
  '$this',
  '${this}',
  '$status >= $WARNING',
  ' ? ',
  ' : ',
  '&&',
  '||',
  'abs(',
  '\\\n',
  '\n',
  '#',
  '1h30m',
  '-7d ago',
  'never',
];

function textSeeds(max: number): Uint8Array[] {
  const files = [
    ...listFiles(join(REPO, 'defaults', 'health.d')),
    ...listFiles(join(FIXTURES, 'health')),
    ...listFiles(NETDATA_HEALTH, (n) => n.endsWith('.conf')),
  ];
  return files.map((f) => {
    const t = readFileSync(f, 'utf8');
    // Cut at a line end so that a seed is a file's head, not half a line.
    const cut = t.length <= max ? t : t.slice(0, t.lastIndexOf('\n', max) + 1);
    return bytes(cut);
  });
}

export const healthConfigTarget: FuzzTarget = {
  name: 'health-config',
  about: 'health configuration (src/health/config.ts, lookup-parse, duration, pattern) parsed and compiled',
  maxLen: 4096,
  text: true,
  dict: HEALTH_DICT,
  seeds: () => textSeeds(4096),
  run(data) {
    const text = utf8(data);
    const r = parseHealthConfig(text, 'fuzz.conf', { validateExpression });
    checkProblems(r.problems, text, 'parseHealthConfig');
    check(
      r.alerts.length <= r.counts.alarms + r.counts.templates,
      `${r.alerts.length} alerts from ${r.counts.alarms} alarms and ${r.counts.templates} templates`,
    );
    const lines = text.split('\n').length;
    for (const a of r.alerts) {
      check(a.name.length > 0, 'an alert without a name');
      check(
        a.source.line >= 1 && a.source.line <= lines,
        `alert ${a.name} at line ${a.source.line} of ${lines}`,
      );
      check(Number.isFinite(a.every) && a.every > 0, `alert ${a.name} every ${a.every}`);
    }
    const compiled = compileAlerts(r.alerts);
    checkProblems(compiled.problems, text, 'compileAlerts');
  },
};

/**
 * The pieces a config line is split into, each fed directly too: one line of input per call, routed by
 * its first character (so that the mutator can grow any of them).
 */
export const healthPartsTarget: FuzzTarget = {
  name: 'health-parts',
  about: 'lookup: values, durations, simple patterns and label filters (lookup-parse, duration, pattern)',
  maxLen: 512,
  text: true,
  dict: HEALTH_DICT,
  seeds: () =>
    [
      'laverage -10s unaligned absolute of OutRsts',
      'lsum -1m at -10s percentage foreach * of a,b',
      'lpercentile95 -1h every 10s of *',
      'lcountif>=5 -5m of x',
      'd1h30m',
      'd-7d ago',
      'd2 hours 30 minutes',
      'd15d-12h',
      'p*foo* !bar* baz',
      'pa\\ b|c',
      'fenv=prod role=!db* *',
      'f!*',
    ].map(bytes),
  run(data) {
    const text = utf8(data);
    const kind = text[0];
    const rest = text.slice(1);
    if (kind === 'l') {
      const r = parseLookup(rest, { file: 'f', line: 1, column: 9 });
      checkProblems(r.problems, undefined, 'parseLookup');
      if (r.lookup) {
        check(
          Number.isFinite(r.lookup.after) && Number.isFinite(r.lookup.before),
          'lookup window not finite',
        );
      }
    } else if (kind === 'd') {
      const r = parseDuration(rest);
      if ('seconds' in r) {
        check(Number.isInteger(r.seconds), `duration ${JSON.stringify(rest)} → ${r.seconds} s`);
        check(
          Math.abs(r.seconds) <= 2 ** 31,
          `duration ${JSON.stringify(rest)} → ${r.seconds} s does not fit an int`,
        );
      } else check(r.error.length > 0, 'duration error without a message');
    } else if (kind === 'p') {
      const p = compileSimplePattern(rest);
      for (const s of ['', 'foo', 'a b', rest, rest.slice(0, 8)]) {
        const m = p.matches(s);
        check(m === undefined || typeof m === 'boolean', 'pattern match not boolean');
      }
    } else {
      const f = parseLabelFilter(rest);
      check(Array.isArray(f), 'label filter not a list');
    }
  },
};

// ---- the engine ----

const STATUSES = new Set<number>(Object.values(STATUS));

/**
 * Alerts that load must also run: the configuration (only files that load without an error, as HealthSim
 * takes them) drives the engine for 40 simulated seconds of varied rates on both reset counters (quiet,
 * storms, gaps), the way the agent drives it. The engine may not throw, and every status, value and log
 * entry stays well-formed.
 */
export const healthRunTarget: FuzzTarget = {
  name: 'health-run',
  about:
    'alert configuration that loads, run by the engine in simulated time (src/health/scheduler.ts, lookup, engine, expr eval)',
  maxLen: 4096,
  text: true,
  dict: HEALTH_DICT,
  seeds: () => textSeeds(4096).filter((s) => !utf8(s).includes('broken')),
  run(data) {
    let sim: HealthSim;
    try {
      sim = new HealthSim({ config: utf8(data), file: 'fuzz.conf' });
    } catch {
      return; // a file with an error, or no alert: the agent leaves it out (health-config checks that path)
    }
    sim.run({
      AttemptFails: '0x5 50x5 _x2 1000x3 0x3 3x2~2 0x5 7x5 0x10',
      OutRsts: '1x8 _x1 400x6 0x10 90x5 0x10',
    });
    for (const rt of sim.engine.alerts) {
      check(STATUSES.has(rt.status), `alert ${rt.compiled.config.name} has status ${rt.status}`);
      check(typeof rt.value === 'number', `alert ${rt.compiled.config.name} value ${String(rt.value)}`);
    }
    for (const e of sim.entries) {
      check(
        STATUSES.has(e.newStatus) && STATUSES.has(e.oldStatus),
        `log entry ${e.oldStatus} → ${e.newStatus}`,
      );
      check(Number.isFinite(e.when), `log entry at ${e.when}`);
    }
  },
};

// ---- expressions ----

/** Deterministic values for any variable name, among the awkward ones. */
const VALUES = [
  0,
  1,
  -1,
  0.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e300,
  -0,
  undefined,
];
function lookup(name: string): number | undefined {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return VALUES[h % VALUES.length];
}

function constants(n: ExprNode, out: number[]): void {
  switch (n.kind) {
    case 'number':
      out.push(n.value);
      return;
    case 'variable':
      return;
    case 'unary':
    case 'abs':
      constants(n.operand, out);
      return;
    case 'binary':
      constants(n.left, out);
      constants(n.right, out);
      return;
    case 'conditional':
      constants(n.test, out);
      constants(n.ifTrue, out);
      constants(n.ifFalse, out);
  }
}

const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

function reparse(printed: string, what: string): Expression {
  const r = parseExpression(printed);
  check(
    r.expr !== undefined,
    `${what} ${JSON.stringify(printed)} does not parse again: ${r.problems[0]?.message}`,
  );
  return r.expr;
}

/** The calc/warn/crit expressions of the shipped, fixture and Netdata files (continuation lines joined). */
function expressionSeeds(): Uint8Array[] {
  const out = new Set<string>();
  for (const file of textSeeds(1 << 20)) {
    const text = utf8(file).replace(/\\\n/g, ' ');
    for (const m of text.matchAll(/^\s*(?:calc|warn|crit):\s*(.+)$/gm)) out.add(m[1]!.trim());
  }
  return [...out].map(bytes);
}

export const exprTarget: FuzzTarget = {
  name: 'expr',
  about: 'expression lexer/parser/evaluator/printer (src/health/expr/): print → parse round trip',
  maxLen: 1024,
  text: false,
  dict: HEALTH_DICT.filter((d) => !d.includes(':') || d === ' : '),
  seeds: () =>
    [
      '$this > 5',
      '${this} > (($status >= $WARNING) ? (50) : (75))',
      'abs($this) > 1e3 && $x != nan || !$y',
      '($a + $b) * -$c / 2 % 3',
      '$this < inf and $z == -inf or not $q',
      '${system.cpu.user} >= 90.5',
      '$this <> 0 ? 1 : 0',
      '1 / 0',
      '.5e-3 - 007',
      '$1 + $_x_raw',
      '((((((((1))))))))',
    ]
      .map(bytes)
      .concat(expressionSeeds()),
  run(data) {
    const text = utf8(data);
    const r = parseExpression(text, { file: 'f', line: 3, column: 7 });
    checkProblems(r.problems, undefined, 'parseExpression');
    if (!r.expr) {
      check(r.problems.length > 0, 'no expression and no problem');
      return;
    }
    const v = evaluate(r.expr, lookup);
    check(v.ok ? Number.isFinite(v.value) : Number.isNaN(v.value), `evaluate: ok=${v.ok} value=${v.value}`);
    const printed = formatExpression(r.expr);
    const again = reparse(printed, 'printed');
    const printedAgain = formatExpression(again);
    check(printedAgain === printed, `printing is not stable: ${printed} → ${printedAgain}`);
    // Constants print with 7 decimals (Netdata's format): only when each one survives printing must the
    // reparsed expression give the same value.
    const cs: number[] = [];
    constants(r.expr.root, cs);
    if (cs.every((c) => same(Number(formatNumber(c).replace('nan', 'NaN').replace('inf', 'Infinity')), c))) {
      const w = evaluate(again, lookup);
      check(
        same(w.value, v.value) && w.ok === v.ok,
        `${JSON.stringify(text)} = ${v.value}, printed ${printed} = ${w.value}`,
      );
    }
  },
};
