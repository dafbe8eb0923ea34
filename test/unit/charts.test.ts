import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseNetstatTcp } from '../../src/collect/freebsd.js';
import { parseLinuxCounters } from '../../src/collect/linux.js';
import { chartDefs, dimensionInput, instantiate, UPTIME_CHART } from '../../src/model/charts.js';
import { FIXTURES } from '../helpers/paths.js';

const linux = parseLinuxCounters(
  readFileSync(`${FIXTURES}/proc/linux-6.18/net/snmp`, 'latin1'),
  readFileSync(`${FIXTURES}/proc/linux-6.18/net/netstat`, 'latin1'),
).counters;
const freebsd = parseNetstatTcp(
  readFileSync(`${FIXTURES}/freebsd/freebsd-14/netstat-s-p-tcp.json`, 'utf8'),
).counters;

describe('chart definitions', () => {
  it.each([
    ['linux', linux],
    ['freebsd', freebsd],
  ] as const)('every %s dimension is fed by counters the collector really produces', (os, counters) => {
    for (const def of chartDefs(os)) {
      for (const dim of def.dimensions) {
        expect(
          dimensionInput(dim, counters),
          `${def.type}.${def.id} ${dim.id} ← ${dim.counters.join('+')}`,
        ).toBeTypeOf('number');
      }
    }
  });

  it('ip.tcphandshake has Netdata dimensions, ids and names (netdata-health-semantics §1.3)', () => {
    const hs = chartDefs('linux').find((c) => c.id === 'tcphandshake')!;
    expect(hs.dimensions.map((d) => [d.id, d.name, d.algorithm])).toEqual([
      ['EstabResets', 'EstabResets', 'incremental'],
      ['OutRsts', 'OutRsts', 'incremental'],
      ['AttemptFails', 'AttemptFails', 'incremental'],
      ['TCPSynRetrans', 'SynRetrans', 'incremental'],
    ]);
    const fb = chartDefs('freebsd').find((c) => c.id === 'tcphandshake')!;
    expect(fb.dimensions.map((d) => [d.id, d.counters])).toEqual([
      ['EstabResets', ['EstabResets']],
      ['ActiveOpens', ['ActiveOpens']],
      ['PassiveOpens', ['PassiveOpens']],
      ['AttemptFails', ['AttemptFails']],
    ]);
  });

  it('host charts answer to their Netdata ids and aliases; namespace charts get their own type and label', () => {
    const hs = chartDefs('linux').find((c) => c.id === 'tcphandshake')!;
    expect(instantiate(hs, 'host').names).toEqual(['ip.tcphandshake', 'ipv4.tcphandshake']);
    const ns = instantiate(hs, 'web-1');
    expect(ns.fullId).toBe('netns_web_1.tcphandshake');
    expect(ns.names).toEqual(['netns_web_1.tcphandshake']);
    expect(ns.labels.netns).toBe('web-1');
    expect(ns.def.context).toBe('ip.tcphandshake');
  });

  it('netdata.uptime is an absolute dimension named uptime', () => {
    expect(`${UPTIME_CHART.type}.${UPTIME_CHART.id}`).toBe('netdata.uptime');
    expect(UPTIME_CHART.dimensions[0]).toMatchObject({ id: 'uptime', algorithm: 'absolute' });
  });

  it('a dimension summing several counters is missing when any of them is', () => {
    const inErrs = chartDefs('freebsd').find((c) => c.id === 'tcperrors')!.dimensions[0]!;
    expect(
      dimensionInput(inErrs, {
        'discard-bad-header-offset': 1,
        'discard-reassembly-queue-full': 2,
        'discard-too-short': 3,
      }),
    ).toBe(6);
    expect(dimensionInput(inErrs, { 'discard-bad-header-offset': 1 })).toBeUndefined();
  });
});
