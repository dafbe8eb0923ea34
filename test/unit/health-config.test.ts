import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { run, validateExpression } from '../../src/cli/health.js';
import type { Io } from '../../src/cli/main.js';
import { checkHealthPaths } from '../../src/health/check.js';
import { collapseSpaces, fixAlertName, MAX_LINE_BYTES, parseHealthConfig } from '../../src/health/config.js';
import { LOOKUP_METHODS, parseLookup } from '../../src/health/lookup-parse.js';
import { DISABLED_LABEL_FILTER } from '../../src/health/pattern.js';
import type { AlertConfig, LookupSpec } from '../../src/health/types.js';
import type { Problem } from '../../src/internal/errors.js';
import { FIXTURES } from '../helpers/paths.js';

const HERE = { file: 'x.conf', line: 1, column: 1 };
const lookupOf = (text: string): LookupSpec => {
  const r = parseLookup(text, HERE);
  if (!r.lookup) throw new Error(`no lookup: ${JSON.stringify(r.problems)}`);
  return r.lookup;
};
const codes = (ps: readonly Problem[]) => ps.map((p) => p.code);
const at = (ps: readonly Problem[]) => ps.map((p) => `${p.line}:${p.column} ${p.code}`);
const errorsOf = (ps: readonly Problem[]) => ps.filter((p) => p.severity === 'error');

/** Parse text that holds one alert and return it, failing on any error. */
function one(text: string): AlertConfig {
  const r = parseHealthConfig(text, 't.conf');
  expect(errorsOf(r.problems)).toEqual([]);
  expect(r.alerts).toHaveLength(1);
  return r.alerts[0] as AlertConfig;
}

const BASE = 'alarm: a\non: c.d\n';

// ---------------------------------------------------------------------------------------------------------
// lookup:

describe('parseLookup(): methods', () => {
  it.each([
    ['average', 'average', undefined],
    ['avg', 'average', undefined],
    ['mean', 'average', undefined],
    ['min', 'min', undefined],
    ['max', 'max', undefined],
    ['sum', 'sum', undefined],
    ['median', 'median', undefined],
    ['trimmed-median', 'trimmed-median', 5],
    ['trimmed-median1', 'trimmed-median', 1],
    ['trimmed-median2', 'trimmed-median', 2],
    ['trimmed-median3', 'trimmed-median', 3],
    ['trimmed-median5', 'trimmed-median', 5],
    ['trimmed-median10', 'trimmed-median', 10],
    ['trimmed-median15', 'trimmed-median', 15],
    ['trimmed-median20', 'trimmed-median', 20],
    ['trimmed-median25', 'trimmed-median', 25],
    ['trimmed-mean', 'trimmed-mean', 5],
    ['trimmed-mean1', 'trimmed-mean', 1],
    ['trimmed-mean2', 'trimmed-mean', 2],
    ['trimmed-mean3', 'trimmed-mean', 3],
    ['trimmed-mean5', 'trimmed-mean', 5],
    ['trimmed-mean10', 'trimmed-mean', 10],
    ['trimmed-mean15', 'trimmed-mean', 15],
    ['trimmed-mean20', 'trimmed-mean', 20],
    ['trimmed-mean25', 'trimmed-mean', 25],
    ['percentile', 'percentile', 95],
    ['percentile25', 'percentile', 25],
    ['percentile50', 'percentile', 50],
    ['percentile75', 'percentile', 75],
    ['percentile80', 'percentile', 80],
    ['percentile90', 'percentile', 90],
    ['percentile95', 'percentile', 95],
    ['percentile97', 'percentile', 97],
    ['percentile98', 'percentile', 98],
    ['percentile99', 'percentile', 99],
    ['incremental_sum', 'incremental-sum', undefined],
    ['incremental-sum', 'incremental-sum', undefined],
    ['stddev', 'stddev', undefined],
    ['cv', 'cv', undefined],
    ['rsd', 'cv', undefined],
    ['coefficient-of-variation', 'cv', undefined],
    ['ses', 'ses', undefined],
    ['ema', 'ses', undefined],
    ['ewma', 'ses', undefined],
    ['des', 'des', undefined],
    ['countif', 'countif', 0],
    ['extremes', 'extremes', undefined],
    ['latest', 'latest', undefined],
  ])('%s → %s (param %s)', (name, method, param) => {
    const l = lookupOf(`${name} -10m`);
    expect(l.method).toBe(method);
    expect(l.methodParam).toBe(param);
    expect(l.after).toBe(-600);
    expect(l.before).toBe(0);
  });

  it('knows exactly the methods of the table', () => {
    expect(LOOKUP_METHODS.size).toBe(48);
  });

  it.each([
    ['trimmed-mean(10) -10m', 'trimmed-mean', 10],
    ['trimmed-mean(1.00) -10m', 'trimmed-mean', 1],
    ['trimmed-mean5(1.00) -10m', 'trimmed-mean', 1],
    ['trimmed-median(20) -10m', 'trimmed-median', 20],
    ['percentile(99) -5m', 'percentile', 99],
    ['percentile( 50 ) -5m', 'percentile', 50],
    ['percentile (75) -5m', 'percentile', 75],
    ['countif() -10m', 'countif', 0],
    ['countif(5)-10m', 'countif', 5],
  ])('%j → %s(%d)', (text, method, param) => {
    const l = lookupOf(text);
    expect(l.method).toBe(method);
    expect(l.methodParam).toBe(param);
  });

  it.each([
    ['countif(>0.5) -10m', '>', 0.5],
    ['countif(>=0.5) -10m', '>=', 0.5],
    ['countif(<.25) -10m', '<', 0.25],
    ['countif(<=2) -10m', '<=', 2],
    ['countif(!=0) -10m', '!=', 0],
    ['countif(<>0) -10m', '!=', 0],
    ['countif(!3) -10m', '!=', 3],
    ['countif(=1) -10m', '==', 1],
    ['countif(==1) -10m', '==', 1],
    ['countif(:1) -10m', '==', 1],
    ['countif(1) -10m', '==', 1],
    ['countif(> -1) -10m', '>', -1],
    ['countif -10m', '==', 0],
  ])('%j → countif %s %d', (text, op, value) => {
    const l = lookupOf(text);
    expect(l.countifOp).toBe(op);
    expect(l.methodParam).toBe(value);
  });

  it('has no countif operator on other methods', () => {
    expect(lookupOf('average -1m').countifOp).toBeUndefined();
  });
});

describe('parseLookup(): window, options, dimensions', () => {
  it('reads the tcp_resets lookups', () => {
    expect(lookupOf('average -1m at -10s unaligned absolute of AttemptFails')).toEqual({
      method: 'average',
      after: -60,
      before: -10,
      options: {
        absolute: true,
        unaligned: true,
        percentage: false,
        anomalyBit: false,
        combine: 'sum',
        null2zero: false,
        matchIds: false,
        matchNames: false,
      },
      dimensions: 'AttemptFails',
      source: 'average -1m at -10s unaligned absolute of AttemptFails',
    });
    const ten = lookupOf('average -10s unaligned absolute of OutRsts');
    expect([ten.after, ten.before, ten.dimensions]).toEqual([-10, 0, 'OutRsts']);
  });

  it.each([
    ['absolute', 'absolute'],
    ['ABS', 'absolute'],
    ['absolute_sum', 'absolute'],
    ['unaligned', 'unaligned'],
    ['Unaligned', 'unaligned'],
    ['percentage', 'percentage'],
    ['anomaly-bit', 'anomalyBit'],
    ['null2zero', 'null2zero'],
    ['match-ids', 'matchIds'],
    ['match_ids', 'matchIds'],
    ['match-names', 'matchNames'],
    ['MATCH_NAMES', 'matchNames'],
  ] as const)('option %s sets %s', (word, flag) => {
    const l = lookupOf(`sum -1m ${word}`);
    expect(l.options[flag]).toBe(true);
    const others = Object.entries(l.options).filter(([k, v]) => k !== flag && k !== 'combine' && v);
    expect(others).toEqual([]);
  });

  it.each([
    ['', 'sum'],
    ['sum', 'sum'],
    ['min', 'min'],
    ['MAX', 'max'],
    ['average', 'average'],
    ['min2max', 'min2max'],
    ['average max', 'max'], // Netdata's priority: min, max, min2max, average
    ['min2max min', 'min'],
    ['average min2max', 'min2max'],
  ])('dimension options %j combine with %s', (opts, combine) => {
    expect(lookupOf(`max -1m ${opts}`).options.combine).toBe(combine);
  });

  it('takes at, every and options in any order', () => {
    const l = lookupOf('max -2h unaligned every 1m AT -15m percentage');
    expect([l.after, l.before, l.every, l.options.unaligned, l.options.percentage]).toEqual([
      -7200,
      -900,
      60,
      true,
      true,
    ]);
  });

  it.each([
    ['sum -1m', ''],
    ['sum -1m of all', ''],
    ['sum -1m OF ALL', ''],
    ['sum -1m of', ''],
    ['sum -1m of user,system,softirq', 'user,system,softirq'],
    ['sum -1m of !success,*', '!success,*'],
    ['sum -1m of read ops|write ops', 'read ops|write ops'],
    ['sum -1m of unaligned', 'unaligned'], // everything after `of` is dimensions
    ['sum -1m of all foreach *', 'all'],
  ])('%j has dimensions %j', (text, dims) => {
    const l = lookupOf(text);
    expect(l.dimensions).toBe(dims);
    expect(l.options.unaligned).toBe(false);
  });

  it('keeps `foreach` apart; on an alarm with a warning (Netdata expands it for templates only)', () => {
    const r = parseLookup('sum -10s of a,b foreach *', HERE);
    expect(r.lookup?.dimensions).toBe('a,b');
    expect(r.lookup?.foreach).toBe('*');
    expect(at(r.problems)).toEqual(['1:17 W_HEALTH_LOOKUP_FOREACH']);
    expect(r.problems[0]?.severity).toBe('warning');
    expect(parseLookup('max -10s foreach *', HERE).lookup?.foreach).toBe('*');
    const t = parseLookup('sum -10s of a,b foreach x|y', HERE, undefined, 'template');
    expect(t.lookup?.foreach).toBe('x|y');
    expect(t.problems).toEqual([]);
  });

  it('warns about unknown keywords, ignored parameters and a positive AFTER', () => {
    const r = parseLookup('average(5) 10m unaligend', HERE);
    expect(r.lookup?.after).toBe(600);
    expect(at(r.problems)).toEqual([
      '1:8 W_HEALTH_LOOKUP_PARAM',
      '1:12 W_HEALTH_LOOKUP_AFTER',
      '1:16 W_HEALTH_LOOKUP_KEYWORD',
    ]);
    expect(r.problems.every((p) => p.severity === 'warning')).toBe(true);
  });

  it.each([
    ['', '1:1 E_HEALTH_LOOKUP', 'expected a time-grouping method'],
    ['average', '1:8 E_HEALTH_LOOKUP', 'expected the AFTER duration'],
    ['percentile(95)', '1:15 E_HEALTH_LOOKUP', 'expected the AFTER duration'],
    ['Average -1m', '1:1 E_HEALTH_LOOKUP', "case-sensitive: write 'average'"],
    ['foo -10m', '1:1 E_HEALTH_LOOKUP', "unknown time-grouping method 'foo'"],
    ['average -xyz', '1:9 E_HEALTH_DURATION', "invalid AFTER duration '-xyz'"],
    ['average abc', '1:9 E_HEALTH_DURATION', 'invalid AFTER duration'],
    ['average 0', '1:9 E_HEALTH_LOOKUP', 'AFTER must not be 0'],
    ['average -1m at', '1:13 E_HEALTH_DURATION', "'at' needs a duration"],
    ['average -1m at soon', '1:16 E_HEALTH_DURATION', "invalid duration 'soon' after 'at'"],
    ['average -1m every x1', '1:19 E_HEALTH_DURATION', "after 'every'"],
    ['countif(>0.5 -10m', '1:8 E_HEALTH_LOOKUP', "missing ')'"],
    ['countif(>abc) -10m', '1:10 E_HEALTH_LOOKUP', "expected a number in 'countif(…)'"],
    ['percentile(abc) -10m', '1:12 E_HEALTH_LOOKUP', 'expected a number'],
    ['percentile(5 5) -10m', '1:14 E_HEALTH_LOOKUP', "expected ')'"],
    ['percentile(>5) -10m', '1:12 E_HEALTH_LOOKUP', 'only allowed with countif'],
    ['percentile(150) -10m', '1:12 E_HEALTH_LOOKUP', 'between 0 and 100'],
  ])('%j: %s (%s)', (text, where, message) => {
    const r = parseLookup(text, HERE);
    expect(r.lookup).toBeUndefined();
    expect(at(r.problems)).toEqual([where]);
    expect(r.problems[0]?.message).toContain(message);
  });

  it('reports columns relative to where the value starts', () => {
    const r = parseLookup('average -1m at soon', { file: 'f.conf', line: 7, column: 12 });
    expect(r.problems[0]).toMatchObject({ file: 'f.conf', line: 7, column: 27, severity: 'error' });
  });
});

// ---------------------------------------------------------------------------------------------------------
// parseHealthConfig

describe('parseHealthConfig(): keys', () => {
  it('reads every key of a full alarm', () => {
    const path = `${FIXTURES}/health/good.conf`;
    const r = parseHealthConfig(readFileSync(path, 'utf8'), path);
    expect(r.problems).toEqual([]);
    expect(r.counts).toEqual({ alarms: 1, templates: 1 });
    expect(r.alerts).toHaveLength(2);
    const a = r.alerts[0] as AlertConfig;
    expect(a).toEqual({
      kind: 'alarm',
      name: 'web_5xx_ratio',
      on: 'web_log_nginx.response_codes',
      class: 'Errors',
      type: 'Web Server',
      component: ' nginx ',
      hostLabels: [
        { key: '_virtualization', patterns: 'none' },
        { key: '_os', patterns: 'linux freebsd' },
      ],
      chartLabels: [
        { key: 'path', patterns: '/var/log/*' },
        { key: '_collect_module', patterns: 'web_log' },
        { key: '_collect_plugin', patterns: 'go.d.plugin' },
      ],
      lookup: {
        method: 'sum',
        after: -300,
        before: -60,
        every: 30,
        options: {
          absolute: true,
          unaligned: true,
          percentage: false,
          anomalyBit: false,
          combine: 'sum',
          null2zero: false,
          matchIds: false,
          matchNames: true,
        },
        dimensions: '5xx,4xx',
        source: 'sum -5m at -1m every 30s unaligned absolute match-names of 5xx,4xx',
      },
      calc: { source: '$this * 100 / ($this + 1)', pos: { file: path, line: 15, column: 11 } },
      warn: { source: '$this > $green', pos: { file: path, line: 19, column: 11 } },
      crit: { source: '$this > $red', pos: { file: path, line: 20, column: 11 } },
      every: 30,
      green: 1,
      red: 5,
      exec: '/usr/local/bin/notify.sh',
      to: 'webmaster',
      units: '%',
      summary: 'Web errors',
      info: 'share of responses that were errors over the last five minutes',
      delay: { up: 0, down: 900, multiplier: 1.5, max: 3600 },
      repeat: { warning: 3600, critical: 600 },
      noClearNotification: true,
      source: { file: path, line: 3, column: 4 },
    });
    expect(r.alerts[1]).toMatchObject({ kind: 'template', name: 'disk_free', on: 'disk.space', every: 60 });
    expect(r.alerts[1]?.lookup).toBeUndefined();
  });

  it('compares keys regardless of case and spacing', () => {
    const a = one('ALARM: a\nOn: c.d\nLOOKUP: average -1m\nHost   Labels: _os=linux\nEvery: 5s\n');
    expect([a.on, a.every, a.hostLabels]).toEqual(['c.d', 5, [{ key: '_os', patterns: 'linux' }]]);
  });

  it('splits at the first colon only', () => {
    const a = one(`${BASE}lookup: sum -1m\ninfo: see http://example.com:8080/x\n`);
    expect(a.info).toBe('see http://example.com:8080/x');
  });

  it('turns runs of whitespace in values into one space (but keeps expressions as written)', () => {
    const a = one(`${BASE}lookup: sum -1m\nto:  a \t b\nwarn: $this  >  1\n`);
    expect(a.to).toBe('a b');
    expect(a.warn?.source).toBe('$this  >  1');
    expect(collapseSpaces('  a \t\t b  ')).toBe('a b');
  });

  it('turns quotes into spaces in class, type, component, exec, to, units, summary and info', () => {
    const a = one(
      `${BASE}lookup: sum -1m\nclass: "E"\ntype: 'T'\ncomponent: C"\nexec: "x"\nto: 'r'\nunits: "%"\nsummary: a"b\ninfo: it's\n`,
    );
    expect([a.class, a.type, a.component, a.exec, a.to, a.units, a.summary, a.info]).toEqual([
      ' E ',
      ' T ',
      'C ',
      ' x ',
      ' r ',
      ' % ',
      'a b',
      'it s',
    ]);
  });

  it('maps os, hosts, plugin and module to labels; * is no filter; !* disables', () => {
    const a = one(
      `${BASE}lookup: sum -1m\nos: linux\nhosts: web* !db*\nplugin: proc\nmodule: /proc/net/snmp\n`,
    );
    expect(a.hostLabels).toEqual([
      { key: '_hostname', patterns: 'web* !db*' },
      { key: '_os', patterns: 'linux' },
    ]);
    expect(a.chartLabels).toEqual([
      { key: '_collect_module', patterns: '/proc/net/snmp' },
      { key: '_collect_plugin', patterns: 'proc' },
    ]);
    const any = one(`${BASE}lookup: sum -1m\nos: *\nhosts: *\nmodule: *\n`);
    expect([any.hostLabels, any.chartLabels]).toEqual([[], []]);
    const off = one(`${BASE}lookup: sum -1m\nos: linux\nhosts: !*\nmodule: !* *\n`);
    expect([off.hostLabels, off.chartLabels]).toEqual([DISABLED_LABEL_FILTER, DISABLED_LABEL_FILTER]);
  });

  it('puts later pattern lines first, as Netdata does, so they decide first', () => {
    const a = one(`${BASE}lookup: sum -1m\nos: linux\nos: !linux *\n`);
    expect(a.hostLabels).toEqual([{ key: '_os', patterns: '!linux * linux' }]);
  });

  it.each([
    ['host labels: linux', "expected 'name=pattern …'"],
    ['chart labels: linux a=b', "'linux' has no label name before it"],
  ])('rejects the label filter %j', (line, message) => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\n${line}\n`, 't.conf');
    expect(r.alerts).toEqual([]);
    expect(at(r.problems)).toEqual([`4:${line.indexOf(':') + 3} E_HEALTH_VALUE`]);
    expect(r.problems[0]?.message).toContain(message);
  });

  it('ORs options, with no-clear as an alias, and warns about unknown ones', () => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\noptions: frobnicate\noptions: No-Clear\n`, 't.conf');
    expect(r.alerts[0]?.noClearNotification).toBe(true);
    expect(at(r.problems)).toEqual(['4:10 W_HEALTH_UNKNOWN_OPTION']);
    expect(one(`${BASE}lookup: sum -1m\noptions: no-clear-notification\n`).noClearNotification).toBe(true);
    expect(one(`${BASE}lookup: sum -1m\n`).noClearNotification).toBe(false);
  });

  it('records green and red (the expressions keep $green and $red)', () => {
    const a = one(`${BASE}calc: $this\ngreen: 0.5\nred: -1e3\nevery: 1s\nwarn: $this > $green\n`);
    expect([a.green, a.red, a.warn?.source]).toEqual([0.5, -1000, '$this > $green']);
    const r = parseHealthConfig(`${BASE}calc: 1\nevery: 1\ngreen: lots\n`, 't.conf');
    expect(at(r.problems)).toEqual(['5:8 E_HEALTH_VALUE']);
  });

  it('keeps where each expression starts', () => {
    const a = one(`${BASE}every: 1\n  calc:   $a + 1\n   warn: $this > 1\ncrit:$this > 2\n`);
    expect([a.calc?.pos, a.warn?.pos, a.crit?.pos]).toEqual([
      { file: 't.conf', line: 4, column: 11 },
      { file: 't.conf', line: 5, column: 10 },
      { file: 't.conf', line: 6, column: 6 },
    ]);
  });

  it('sanitises alarm names like rrdvar_fix_name, with a warning', () => {
    expect(fixAlertName('a b-c/d.e_f9')).toBe('a_b_c_d.e_f9');
    expect(fixAlertName('é')).toBe('__');
    const r = parseHealthConfig('alarm: my  alert!\non: c.d\nlookup: sum -1m\n', 't.conf');
    expect(r.alerts[0]?.name).toBe('my_alert_');
    expect(at(r.problems)).toEqual(['1:8 W_HEALTH_NAME_FIXED']);
  });

  it('ignores families and charts silently, warns about other unknown keys', () => {
    const r = parseHealthConfig(
      `${BASE}lookup: sum -1m\nfamilies: *\ncharts: x\nlokup: y\ncolour: red\nFamilies: *\n`,
      't.conf',
    );
    expect(r.alerts).toHaveLength(1);
    expect(at(r.problems)).toEqual([
      '6:1 W_HEALTH_UNKNOWN_KEY',
      '7:1 W_HEALTH_UNKNOWN_KEY',
      '8:1 W_HEALTH_UNKNOWN_KEY',
    ]);
    expect(r.problems[0]?.message).toContain("did you mean 'lookup'?");
  });

  it('warns about repeated keys; the last value wins', () => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\nto: a\nto: b\nunits: x\nunits: x\n`, 't.conf');
    expect(r.alerts[0]?.to).toBe('b');
    expect(at(r.problems)).toEqual(['5:1 W_HEALTH_REPEATED_KEY', '7:1 W_HEALTH_REPEATED_KEY']);
    expect(r.problems[0]?.message).toContain('line 4 said "a"');
    expect(r.problems[1]?.message).toContain('same value');
  });
});

describe('parseHealthConfig(): every and lookup', () => {
  it('takes every from |AFTER| when there is no every:', () => {
    expect(one(`${BASE}lookup: average -1m\n`).every).toBe(60);
    expect(one(`${BASE}lookup: average 5m\n`).every).toBe(300);
  });

  it('lets every: after lookup: win', () => {
    expect(one(`${BASE}lookup: average -1m\nevery: 10s\n`).every).toBe(10);
  });

  it('lets lookup: override an earlier every:, with a warning', () => {
    const r = parseHealthConfig(`${BASE}every: 10s\nlookup: average -1m\n`, 't.conf');
    expect(r.alerts[0]?.every).toBe(60);
    expect(at(r.problems)).toEqual(['4:9 W_HEALTH_EVERY_OVERRIDDEN']);
    expect(r.problems[0]?.message).toContain("'every:' on line 3 (10s)");
  });

  it('takes the lookup own every over |AFTER|, and over an earlier every:', () => {
    expect(one(`${BASE}lookup: average -1m every 15s\n`).every).toBe(15);
    const r = parseHealthConfig(`${BASE}every: 10s\nlookup: average -1m every 15s\n`, 't.conf');
    expect(r.alerts[0]?.every).toBe(15);
    expect(codes(r.problems)).toEqual(['W_HEALTH_EVERY_OVERRIDDEN']);
    expect(one(`${BASE}lookup: average -1m every 15s\nevery: 5s\n`).every).toBe(5);
  });

  it('does not warn when the earlier every: equals what the lookup sets', () => {
    expect(parseHealthConfig(`${BASE}every: 1m\nlookup: average -1m\n`, 't.conf').problems).toEqual([]);
  });

  it.each([
    ['every: 0', '3:8 E_HEALTH_EVERY'],
    ['every: -10s', '3:8 E_HEALTH_EVERY'],
    ['every: 10 parsecs', '3:8 E_HEALTH_DURATION'],
    ['lookup: average -1m every -1s', '3:9 E_HEALTH_EVERY'],
  ])('rejects %j', (line, where) => {
    const r = parseHealthConfig(`${BASE}${line}\ncalc: 1\n`, 't.conf');
    expect(r.alerts).toEqual([]);
    expect(at(r.problems)).toEqual([where]);
  });
});

describe('parseHealthConfig(): delay and repeat', () => {
  const delay = (v: string) => one(`${BASE}lookup: sum -1m\ndelay: ${v}\n`).delay;

  it('defaults to no delay', () => {
    expect(one(`${BASE}lookup: sum -1m\n`).delay).toEqual({ up: 0, down: 0, multiplier: 1, max: 0 });
  });

  it.each([
    [
      'up 20s down 60m multiplier 1.2 max 2h',
      { up: 20, down: 3600, multiplier: Math.fround(1.2), max: 7200 },
    ],
    [
      'MAX 2h Multiplier 1.2 DOWN 60m Up 20s',
      { up: 20, down: 3600, multiplier: Math.fround(1.2), max: 7200 },
    ],
    // max defaults to max(up·M, down·M), products in C float truncated to int
    ['up 20s down 60m multiplier 1.2', { up: 20, down: 3600, multiplier: Math.fround(1.2), max: 4320 }],
    ['down 15m multiplier 1.5', { up: 0, down: 900, multiplier: 1.5, max: 1350 }],
    ['up 1m', { up: 60, down: 0, multiplier: 1, max: 60 }],
    ['up 10 down 15m multiplier 2', { up: 10, down: 900, multiplier: 2, max: 1800 }],
    ['up 7s multiplier 1.1', { up: 7, down: 0, multiplier: Math.fround(1.1), max: 7 }],
    ['up 0 down 0', { up: 0, down: 0, multiplier: 1, max: 0 }],
  ])('%j', (text, want) => {
    expect(delay(text)).toEqual(want);
  });

  it('stores the multiplier as a C float', () => {
    expect(delay('multiplier 1.2').multiplier).toBe(1.2000000476837158);
  });

  it('keeps the previous max when a later delay: line gives none (Netdata starts from it)', () => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\ndelay: max 1h\ndelay: up 1m\n`, 't.conf');
    expect(r.alerts[0]?.delay).toEqual({ up: 60, down: 0, multiplier: 1, max: 3600 });
    expect(codes(r.problems)).toEqual(['W_HEALTH_REPEATED_KEY']);
  });

  it.each([
    ['up', '4:8 E_HEALTH_DURATION'],
    ['up soon', '4:11 E_HEALTH_DURATION'],
    ['up -1s', '4:11 E_HEALTH_VALUE'],
    ['multiplier 0', '4:19 E_HEALTH_VALUE'],
    ['multiplier -1', '4:19 E_HEALTH_VALUE'],
    ['multiplier inf', '4:19 E_HEALTH_VALUE'],
    ['multiplier 1e39', '4:19 E_HEALTH_VALUE'], // overflows a C float
    ['multiplier x', '4:19 E_HEALTH_VALUE'],
    ['multiplier', '4:8 E_HEALTH_VALUE'],
  ])('rejects delay: %s', (text, where) => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\ndelay: ${text}\n`, 't.conf');
    expect(r.alerts).toEqual([]);
    expect(at(r.problems)).toEqual([where]);
  });

  it('warns about unknown delay keywords (and skips their value, as Netdata does)', () => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\ndelay: sideways 5s up 1s\n`, 't.conf');
    expect(r.alerts[0]?.delay.up).toBe(1);
    expect(at(r.problems)).toEqual(['4:8 W_HEALTH_UNKNOWN_KEYWORD']);
  });

  it.each([
    ['off', { warning: 0, critical: 0 }],
    ['OFF warning 1h', { warning: 0, critical: 0 }],
    ['warning 1h', { warning: 3600, critical: 0 }],
    ['critical 10m WARNING 2h', { warning: 7200, critical: 600 }],
  ])('repeat: %s', (text, want) => {
    expect(one(`${BASE}lookup: sum -1m\nrepeat: ${text}\n`).repeat).toEqual(want);
  });

  it('defaults repeat to off', () => {
    expect(one(`${BASE}lookup: sum -1m\n`).repeat).toEqual({ warning: 0, critical: 0 });
  });

  it.each([
    ['warning', '4:9 E_HEALTH_DURATION'],
    ['warning later', '4:17 E_HEALTH_DURATION'],
    ['critical -1m', '4:18 E_HEALTH_VALUE'],
    ['sometimes 1h', '4:9 W_HEALTH_UNKNOWN_KEYWORD'],
  ])('repeat: %s → %s', (text, where) => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\nrepeat: ${text}\n`, 't.conf');
    expect(at(r.problems)).toEqual([where]);
  });
});

describe('parseHealthConfig(): lines', () => {
  it('joins continuation lines; the backslash becomes a space; positions stay on the physical line', () => {
    const path = `${FIXTURES}/health/continued.conf`;
    const r = parseHealthConfig(readFileSync(path, 'utf8'), path, { validateExpression });
    const a = r.alerts;
    expect(a).toEqual([]);
    // The warn expression ends in `+` (column 41 of line 7): the operand is missing at the end of it.
    expect(at(r.problems)).toEqual(['7:42 E_EXPR_MISSING_OPERAND']);
    const without = parseHealthConfig(readFileSync(path, 'utf8').replace(/ \+\n/, '\n'), path, {
      validateExpression,
    });
    expect(without.problems).toEqual([]);
    const alert = without.alerts[0] as AlertConfig;
    expect(alert.lookup?.source).toBe('average -1m unaligned of used');
    expect(alert.lookup?.options.unaligned).toBe(true);
    expect(alert.info).toBe('one two');
    expect(alert.to).toBe('silent');
    expect(alert.warn?.pos).toEqual({ file: path, line: 6, column: 9 });
  });

  it('points lookup problems on a continuation line at that line', () => {
    const r = parseHealthConfig(`${BASE}lookup: average -1m \\\n   at soon\n`, 't.conf');
    expect(at(r.problems)).toEqual(['4:7 E_HEALTH_DURATION']);
  });

  it('ends a continuation at an empty line, and takes a comment inside one as text', () => {
    const a = one(`${BASE}lookup: sum -1m\ninfo: a \\\n# not a comment \\\nb\n`);
    expect(a.info).toBe('a # not a comment b');
    const b = one(`${BASE}lookup: sum -1m\ninfo: a \\\n\nto: x\n`);
    expect([b.info, b.to]).toEqual(['a', 'x']);
  });

  it('ends a continuation at the end of the file', () => {
    expect(one(`${BASE}lookup: sum -1m\ninfo: a \\`).info).toBe('a');
  });

  it('reads CRLF files and skips comments, blank lines and a byte-order mark', () => {
    const r = parseHealthConfig(
      '\uFEFF# c\r\n\r\n  alarm: a\r\n  on: c.d\r\n  # more\r\n  lookup: sum -1m\r\n',
      't.conf',
    );
    expect(r.problems).toEqual([]);
    expect(r.alerts[0]).toMatchObject({ name: 'a', on: 'c.d', every: 60, source: { line: 3, column: 3 } });
  });

  it('reports a line without a colon and a key before any alert', () => {
    const r = parseHealthConfig('on: c.d\nalarm: a\non: c.d\n  lookup sum -1m\nlookup: sum -1m\n', 't.conf');
    expect(at(r.problems)).toEqual(['1:1 E_HEALTH_KEY', '4:3 E_HEALTH_SYNTAX']);
    expect(r.alerts).toEqual([]);
  });

  it('ignores an empty value with a warning; an empty name is an error', () => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\nto:\nalarm:\non: c.d\nlookup: sum -1m\n`, 't.conf');
    expect(at(r.problems)).toEqual(['4:3 W_HEALTH_EMPTY_VALUE', '5:1 E_HEALTH_SYNTAX']);
    expect(r.alerts.map((x) => x.name)).toEqual(['a']);
    expect(r.counts).toEqual({ alarms: 2, templates: 0 });
  });

  it('rejects lines longer than Netdata reads', () => {
    const long = 'x'.repeat(MAX_LINE_BYTES);
    expect(
      parseHealthConfig(`${BASE}lookup: sum -1m\ninfo: ${long}\n`, 't.conf').problems.map((p) => p.code),
    ).toEqual(['E_HEALTH_LINE_TOO_LONG']);
    const ok = parseHealthConfig(`${BASE}lookup: sum -1m\ninfo: ${long.slice(6)}\n`, 't.conf');
    expect(ok.problems).toEqual([]);
    const joined = parseHealthConfig(
      `${BASE}lookup: sum -1m\ninfo: ${'y'.repeat(3000)} \\\n${'z'.repeat(3000)}\nalarm: b\non: c.d\nlookup: sum -1m\n`,
      't.conf',
    );
    expect(at(joined.problems)).toEqual(['4:1 E_HEALTH_LINE_TOO_LONG']);
    expect(joined.alerts.map((x) => x.name)).toEqual(['b']);
  });

  it('counts alarm: and template: lines', () => {
    const r = parseHealthConfig('alarm: a\ntemplate: b\nTemplate: c\n', 't.conf');
    expect(r.counts).toEqual({ alarms: 1, templates: 2 });
  });
});

describe('parseHealthConfig(): broken alerts', () => {
  it('leaves a broken alert out and loads the rest, reporting every problem', () => {
    const path = `${FIXTURES}/health/broken.conf`;
    const r = parseHealthConfig(readFileSync(path, 'utf8'), path);
    expect(r.alerts.map((a) => a.name)).toEqual(['first_ok', 'third_ok']);
    expect(r.counts).toEqual({ alarms: 2, templates: 1 });
    expect(r.problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.code}`)).toEqual([
      `${path}:11:9 E_HEALTH_LOOKUP`,
      `${path}:12:9 E_HEALTH_DURATION`,
    ]);
    expect(r.problems[0]?.message).toBe("unknown time-grouping method 'averag': did you mean 'average'?");
    expect(r.alerts[1]).toMatchObject({ kind: 'template', every: 10 });
  });

  it.each([
    ['alarm: a\nlookup: sum -1m\n', '1:1 E_HEALTH_NO_ON'],
    ['alarm: a\non: c.d\ncalc: 1\n', '1:1 E_HEALTH_EVERY'],
    ['alarm: a\non: c.d\nevery: 10s\n', '1:1 E_HEALTH_NOTHING_TO_DO'],
    ['alarm: a\n', '1:1 E_HEALTH_NO_ON,1:1 E_HEALTH_EVERY,1:1 E_HEALTH_NOTHING_TO_DO'],
  ])('rejects an alert that is incomplete: %j', (text, want) => {
    const r = parseHealthConfig(`${text}template: ok\non: x.y\nlookup: sum -1m\n`, 't.conf');
    expect(at(r.problems).join(',')).toBe(want);
    expect(r.alerts.map((a) => a.name)).toEqual(['ok']);
  });

  it('does not pile consequences on a broken lookup', () => {
    const r = parseHealthConfig('alarm: a\non: c.d\nlookup: nonsense -1m\n', 't.conf');
    expect(codes(r.problems)).toEqual(['E_HEALTH_LOOKUP']);
  });

  it('leaves out an alert whose expression does not parse, with the expression position', () => {
    const r = parseHealthConfig(`${BASE}lookup: sum -1m\n  warn: $this > > 1\n`, 't.conf', {
      validateExpression,
    });
    expect(r.alerts).toEqual([]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: 't.conf', line: 4, column: 17, severity: 'error' });
    expect(r.problems[0]?.code).toMatch(/^E_EXPR_/);
  });

  it('never throws, whatever the text', () => {
    const piece = fc.oneof(
      fc.string(),
      fc.constantFrom(
        'alarm: a',
        'template: t',
        'on: c.d',
        'lookup: ',
        'lookup: average -1m at -10s unaligned of x foreach *',
        'countif(>',
        'every: ',
        'delay: up',
        'delay: multiplier',
        'repeat: warning',
        'host labels: ',
        'os: !*',
        'warn: $this >',
        '\\',
        ':',
        '#',
        '=',
        '\r',
        '\t',
      ),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 30 }),
        fc.constantFrom('\n', ' ', '\\\n', ''),
        (parts, sep) => {
          const r = parseHealthConfig(parts.join(sep), 'f.conf', { validateExpression });
          for (const p of r.problems) {
            expect(p.file).toBe('f.conf');
            expect(p.line).toBeGreaterThanOrEqual(1);
            expect(p.code).toMatch(/^[EW]_[A-Z_]+$/);
          }
          for (const a of r.alerts) expect(a.every).toBeGreaterThan(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// checkHealthPaths and the CLI

describe('checkHealthPaths()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-health-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const alert = (name: string) => `alarm: ${name}\non: c.d\nlookup: sum -1m\n`;

  it('reads *.conf in a folder and its sub-folders, three levels deep, in name order', () => {
    const root = join(dir, 'tree');
    mkdirSync(join(root, 'b/c/d/e'), { recursive: true });
    writeFileSync(join(root, 'z.conf'), alert('z'));
    writeFileSync(join(root, 'a.conf'), alert('a'));
    writeFileSync(join(root, 'notes.txt'), 'not read');
    writeFileSync(join(root, '.conf'), 'not read: the name must be longer than .conf');
    writeFileSync(join(root, 'x.CONF'), 'not read: case-sensitive');
    writeFileSync(join(root, 'b/m.conf'), alert('m'));
    writeFileSync(join(root, 'b/c/d/deep.conf'), alert('deep'));
    writeFileSync(join(root, 'b/c/d/e/too-deep.conf'), alert('too_deep'));
    const r = checkHealthPaths([root]);
    expect([r.files, r.alarms, r.templates]).toEqual([4, 4, 0]);
    expect(r.problems.map((p) => [p.code, p.file])).toEqual([['W_HEALTH_TOO_DEEP', join(root, 'b/c/d/e')]]);
  });

  it('checks a file whatever its name, and reports paths it cannot read', () => {
    const f = join(dir, 'single.txt');
    writeFileSync(f, `${alert('s')}bogus line\n`);
    const r = checkHealthPaths([f, join(dir, 'missing.conf')]);
    expect(r.files).toBe(1);
    expect(r.problems.map((p) => `${p.file}:${p.line ?? '-'} ${p.code}`)).toEqual([
      `${f}:4 E_HEALTH_SYNTAX`,
      `${join(dir, 'missing.conf')}:- E_HEALTH_UNREADABLE`,
    ]);
  });

  it('reports an unreadable file and a dangling link', () => {
    const sub = join(dir, 'perm');
    mkdirSync(sub);
    writeFileSync(join(sub, 'locked.conf'), alert('l'));
    chmodSync(join(sub, 'locked.conf'), 0o000);
    symlinkSync(join(sub, 'nowhere.conf'), join(sub, 'dangling.conf'));
    const r = checkHealthPaths([sub]);
    const asRoot = process.getuid?.() === 0;
    expect(r.problems.map((p) => p.code)).toEqual(
      asRoot ? ['E_HEALTH_UNREADABLE'] : ['E_HEALTH_UNREADABLE', 'E_HEALTH_UNREADABLE'],
    );
  });

  it('warns about a folder without configuration files', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(checkHealthPaths([empty]).problems.map((p) => p.code)).toEqual(['W_HEALTH_NO_FILES']);
  });

  it('runs the expression validator', () => {
    const f = join(dir, 'expr.conf');
    writeFileSync(f, `${alert('e')}warn: $this >\n`);
    expect(checkHealthPaths([f]).problems).toEqual([]);
    expect(checkHealthPaths([f], { validateExpression }).problems.map((p) => p.code)).toEqual([
      'E_EXPR_MISSING_OPERAND',
    ]);
  });
});

describe('rstwatch health check', () => {
  function io(): Io & { stdout: string; stderr: string } {
    const o = {
      stdout: '',
      stderr: '',
      isTty: false,
      out: (s: string) => {
        o.stdout += s;
      },
      err: (s: string) => {
        o.stderr += s;
      },
    };
    return o;
  }

  it('prints problems as file:line:column: severity: CODE: message, then the summary; exit 1 on errors', async () => {
    const o = io();
    const path = `${FIXTURES}/health/broken.conf`;
    expect(await run(['check', path], o)).toBe(1);
    expect(o.stdout.split('\n')).toEqual([
      `${path}:11:9: error: E_HEALTH_LOOKUP: unknown time-grouping method 'averag': did you mean 'average'?`,
      `${path}:12:9: error: E_HEALTH_DURATION: every: invalid duration '10 parsecs': unknown unit 'parsecs'`,
      '2 alarms, 1 templates, 2 errors',
      '',
    ]);
  });

  it('exits 0 with warnings only, and counts them on a line of their own', async () => {
    const o = io();
    const dir = mkdtempSync(join(tmpdir(), 'rstwatch-health-cli-'));
    try {
      writeFileSync(join(dir, 'w.conf'), 'template: t\non: c\nlookup: sum -1m\ncolour: red\n');
      expect(await run(['check', dir, `${FIXTURES}/health/good.conf`], o)).toBe(0);
      expect(o.stdout).toMatch(/W_HEALTH_UNKNOWN_KEY: unknown key 'colour'/);
      expect(o.stdout).toMatch(/\n1 alarms, 2 templates, 0 errors\n1 warnings\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints JSON with --json', async () => {
    const o = io();
    expect(await run(['check', '--json', `${FIXTURES}/health/broken.conf`], o)).toBe(1);
    const j = JSON.parse(o.stdout) as {
      files: number;
      alarms: number;
      templates: number;
      errors: number;
      warnings: number;
      problems: Problem[];
    };
    expect({ ...j, problems: j.problems.map((p) => p.code) }).toEqual({
      files: 1,
      alarms: 2,
      templates: 1,
      errors: 2,
      warnings: 0,
      problems: ['E_HEALTH_LOOKUP', 'E_HEALTH_DURATION'],
    });
  });

  it('prints help, and refuses bad usage', async () => {
    const o = io();
    expect(await run(['check', '-h'], o)).toBe(0);
    expect(o.stdout).toContain('Usage: rstwatch health check');
    expect(await run(['--help'], o)).toBe(0);
    expect(await run([], o)).toBe(2);
    await expect(run(['check'], o)).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(run(['lint', 'x'], o)).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(run(['check', '--frobnicate', 'x'], o)).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});
