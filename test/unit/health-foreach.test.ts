/**
 * `lookup: … foreach PATTERN` (docs/health-config.md): on a template, one alert per chart dimension whose id
 * or name matches, named `<template>_<dimension name>`, each reading its own dimension — Netdata's
 * rrdcalctemplate_check_rrddim_conditions_and_link (1.37–1.44). On an alarm it is ignored, with a warning,
 * as Netdata ignores it there. Arithmetic as in test/helpers/health-sim.ts: a `-1m` lookup reads
 * [t−60, t−1] and first runs at S+59; `sum` of the slots is the number of events.
 */

import { describe, expect, it } from 'vitest';
import { parseHealthConfig } from '../../src/health/config.js';
import { HealthSim, SIM_START as S } from '../helpers/health-sim.js';

const template = (lookup: string, extra = '') => `
template: abort_reason
      on: ip.tcpconnaborts
  lookup: ${lookup}
   every: 10s
    warn: $this > 0
${extra}`;

const bound = (sim: HealthSim) =>
  sim.engine.alerts.map((a) => `${a.compiled.config.name} of ${a.compiled.config.lookup?.dimensions}`);

describe('foreach on a template', () => {
  it('`foreach *`: one alert per dimension of ip.tcpconnaborts, each on its own dimension', () => {
    const sim = new HealthSim({ config: template('sum -1m unaligned absolute foreach *') });
    // Chart order; the suffix is the dimension's name (baddata = TCPAbortOnData, …).
    expect(bound(sim)).toEqual([
      'abort_reason_baddata of baddata',
      'abort_reason_userclosed of userclosed',
      'abort_reason_nomemory of nomemory',
      'abort_reason_timeout of timeout',
      'abort_reason_linger of linger',
      'abort_reason_failed of failed',
    ]);
    // 3 aborts on close with unread data at S+100: only that alert sees them. S+109: [S+49, S+108] = 3.
    sim.run({ TCPAbortOnClose: '0x100 3 0x70' });
    expect(sim.evaluationAt('abort_reason_userclosed', S + 109).value).toBeCloseTo(3, 9);
    expect(sim.transitionsOf('abort_reason_userclosed')).toEqual([
      [S + 59, 'UNINITIALIZED→CLEAR', 0],
      [S + 109, 'CLEAR→WARNING', 0],
      [S + 169, 'WARNING→CLEAR', 0],
    ]);
    for (const other of ['baddata', 'nomemory', 'timeout', 'linger', 'failed'])
      expect(sim.transitionsOf(`abort_reason_${other}`), other).toEqual([[S + 59, 'UNINITIALIZED→CLEAR', 0]]);
    // Each is its own alarm (its own id and log), sharing the template's configuration hash (Netdata copies it).
    const ids = new Set(sim.engine.alerts.map((a) => a.alarmId));
    expect(ids.size).toBe(6);
    expect(new Set(sim.engine.alerts.map((a) => a.compiled.configHashId)).size).toBe(1);
  });

  it('the pattern matches ids or names; `,` and `|` separate like spaces; `of` is replaced', () => {
    const sim = new HealthSim({
      config: template('sum -1m of TCPAbortOnMemory foreach TCPAbortOnData,linger|time*'),
    });
    expect(bound(sim)).toEqual([
      'abort_reason_baddata of baddata',
      'abort_reason_timeout of timeout',
      'abort_reason_linger of linger',
    ]);
  });

  it('a negative word excludes a dimension only if neither its id nor its name matches positively', () => {
    // `!nomemory *`: the name is excluded, but the id TCPAbortOnMemory matches `*` — Netdata takes a
    // dimension when `id matches || name matches`, so it stays. Excluding both works.
    expect(bound(new HealthSim({ config: template('sum -1m foreach !nomemory *') }))).toContain(
      'abort_reason_nomemory of nomemory',
    );
    expect(
      bound(new HealthSim({ config: template('sum -1m foreach !nomemory !TCPAbortOnMemory *') })),
    ).not.toContain('abort_reason_nomemory of nomemory');
  });

  it('no matching dimension: no alert at all', () => {
    expect(
      bound(
        new HealthSim({
          config: `${template('sum -1m foreach nothing*')}${template('sum -1m').replace('abort_reason', 'plain')}`,
        }),
      ),
    ).toEqual(['plain of ']);
  });

  it('other alerts can name an expanded one (`$abort_reason_userclosed`)', () => {
    const config = `${template('sum -1m unaligned foreach userclosed')}
 alarm: watcher
    on: ip.tcphandshake
lookup: sum -1m unaligned of AttemptFails
   every: 10s
    calc: $abort_reason_userclosed * 10
`;
    const sim = new HealthSim({ config }).run({ TCPAbortOnClose: '0x100 3 0x20' });
    expect(sim.evaluationAt('watcher', S + 109).value).toBeCloseTo(30, 9);
  });

  it('config: no warning for foreach on a template', () => {
    const r = parseHealthConfig(template('sum -1m foreach *'), 't.conf');
    expect(r.problems).toEqual([]);
    expect(r.alerts[0]?.lookup?.foreach).toBe('*');
  });
});

describe('foreach on an alarm', () => {
  const config = `
 alarm: not_expanded
    on: ip.tcpconnaborts
lookup: sum -1m unaligned of userclosed foreach *
 every: 10s
  warn: $this > 0
`;

  it('is ignored, with a warning at the word: one alert on its `of` dimensions', () => {
    const r = parseHealthConfig(config, 't.conf');
    expect(r.problems.map((p) => [p.code, p.severity, p.line, p.column])).toEqual([
      ['W_HEALTH_LOOKUP_FOREACH', 'warning', 4, 41],
    ]);
    const sim = new HealthSim({ config }).run({
      TCPAbortOnClose: '0x100 3 0x20',
      TCPAbortOnData: '0x100 5 0x20',
    });
    expect(bound(sim)).toEqual(['not_expanded of userclosed']);
    expect(sim.evaluationAt('not_expanded', S + 109).value).toBeCloseTo(3, 9);
  });
});
