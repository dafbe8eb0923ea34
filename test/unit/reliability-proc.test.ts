/**
 * Issue 8, faults: proc files unreadable or garbled mid-run, under the whole agent in simulated time (the
 * collector alone is tested in test/unit/collect-faults.test.ts). Counters grow steadily — AttemptFails
 * (snmp) by 5/s, ListenOverflows (netstat) by 3/s — while one file at a time is broken for a few seconds:
 * made unreadable, filled with junk, cut short in the middle of a number, emptied, replaced by binary
 * garbage, removed. What must hold, every second:
 *  - a sample is taken and the other file's counters flow exactly (5/s);
 *  - the broken file's series holds either a gap or the true rate (3/s) — never an invented rate, in
 *    particular no spike when a value cut short (a smaller number) is followed by the real one;
 *  - each episode is said once, with file, line and column when there is one, and its end is said.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STATUS } from '../../src/health/types.js';
import { BASE } from '../helpers/series.js';
import { procFiles, type SimAgent, simAgent } from './reliability-harness.js';

let sim: SimAgent | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

type Breaker = (net: string, good: { snmp: string; netstat: string }) => void;

/** Each fault: what it does to the files, and the code the agent must report. */
const FAULTS: {
  name: string;
  code: string;
  file: 'snmp' | 'netstat';
  breakIt: Breaker;
  position?: boolean;
}[] = [
  {
    name: 'netstat unreadable (a folder in its place)',
    code: 'E_PROC_UNREADABLE',
    file: 'netstat',
    breakIt: (net) => {
      rmSync(join(net, 'netstat'));
      mkdirSync(join(net, 'netstat'));
    },
  },
  {
    name: 'netstat with junk in a value',
    code: 'E_PROC_VALUE',
    file: 'netstat',
    position: true,
    breakIt: (net, good) =>
      writeFileSync(join(net, 'netstat'), good.netstat.replace(/^(TcpExt: (?:\d+ ){22})\d+/m, '$1x7!')),
  },
  {
    name: 'netstat cut short in the middle of ListenOverflows',
    code: 'E_PROC_GARBLED',
    file: 'netstat',
    position: true,
    breakIt: (net, good) => {
      // The value line ends inside ListenOverflows' digits (the 23rd TcpExt field): "…12345" → "…12".
      const m = /^TcpExt: (?:\d+ ){22}(\d+)/m.exec(good.netstat)!;
      const cut = m.index + m[0].length - (m[1]!.length - 2);
      writeFileSync(join(net, 'netstat'), good.netstat.slice(0, cut));
    },
  },
  {
    name: 'netstat empty',
    code: 'E_PROC_NO_GROUP',
    file: 'netstat',
    breakIt: (net) => writeFileSync(join(net, 'netstat'), ''),
  },
  {
    name: 'netstat replaced by binary garbage',
    code: 'E_PROC_GARBLED',
    file: 'netstat',
    breakIt: (net) => {
      const junk = Buffer.alloc(3000);
      for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) % 256;
      writeFileSync(join(net, 'netstat'), junk);
    },
  },
  {
    name: 'snmp removed',
    code: 'E_PROC_MISSING',
    file: 'snmp',
    breakIt: (net) => rmSync(join(net, 'snmp')),
  },
  {
    name: 'snmp with the Tcp value line cut after four fields',
    code: 'E_PROC_GARBLED',
    file: 'snmp',
    breakIt: (net, good) =>
      writeFileSync(join(net, 'snmp'), good.snmp.replace(/^(Tcp: (?:-?\d+ ){4})[^\n]*$/m, '$1')),
  },
];

describe('proc files broken mid-run, whole agent in simulated time', () => {
  it('every fault: samples go on, the other file flows, the broken series is a gap or the truth, said once', async () => {
    sim = await simAgent();
    const s = sim;
    s.counters.ListenOverflows = 12345;
    s.perSecond = { AttemptFails: 5, EstabResets: 0, OutRsts: 5, ListenOverflows: 3 };
    await s.advance(10);
    const net = join(s.procRoot, 'net');
    const hs = s.agent.store.chart('ip.tcphandshake')!;
    const aq = s.agent.store.chart('ip.tcp_accept_queue')!;
    const af = hs.series.find((x) => x.dim.id === 'AttemptFails')!;
    const lo = aq.series.find((x) => x.dim.id === 'ListenOverflows')!;
    for (const f of FAULTS) {
      const from = Math.floor(s.clock.wallMs() / 1000) + 1;
      const errorsBefore = s.log.lines.filter((l) => l.includes(` error `)).length;
      const recoveredBefore = s.log.lines.filter((l) => / info recovered /.test(l)).length;
      // Four seconds broken (the counters still grow in the kernel), then four good ones.
      s.writeProc = false;
      for (let k = 0; k < 4; k++) {
        for (const [c, v] of Object.entries(s.perSecond)) s.counters[c] = (s.counters[c] ?? 0) + v;
        const good = procFiles(s.counters);
        writeFileSync(join(net, 'snmp'), good.snmp);
        rmSync(join(net, 'netstat'), { recursive: true, force: true });
        writeFileSync(join(net, 'netstat'), good.netstat);
        f.breakIt(net, good);
        for (const [c, v] of Object.entries(s.perSecond)) s.counters[c] = (s.counters[c] ?? 0) - v;
        await s.advance(1);
      }
      rmSync(join(net, 'netstat'), { recursive: true, force: true });
      s.writeProc = true;
      await s.advance(4);
      const to = Math.floor(s.clock.wallMs() / 1000);
      const where = `${f.name}, slots ${from - BASE}..${to - BASE}`;
      // The other file's series: exactly its rate, every second.
      const other = f.file === 'netstat' ? af : lo;
      const otherRate = f.file === 'netstat' ? 5 : 3;
      for (let t = from; t <= to; t++)
        expect(other.ring.get(t), `${where}: other file at ${t - BASE}`).toBeCloseTo(otherRate, 9);
      // The broken file's series: a gap or the truth, and the truth again by the end.
      const broken = f.file === 'netstat' ? lo : af;
      const brokenRate = f.file === 'netstat' ? 3 : 5;
      for (let t = from; t <= to; t++) {
        const v = broken.ring.get(t);
        if (!Number.isNaN(v)) expect(v, `${where}: broken file at ${t - BASE}`).toBeCloseTo(brokenRate, 9);
      }
      expect(broken.ring.get(to)).toBeCloseTo(brokenRate, 9);
      // Said once per problem (garbage may be two: no valid line, no TcpExt group), with its code and
      // position, and its end said.
      const said = s.log.lines.filter((l) => l.includes(' error ')).slice(errorsBefore);
      const codes = said.map((l) => /code=(\w+)/.exec(l)?.[1]);
      expect(new Set(codes).size, where).toBe(said.length);
      expect(said.length, where).toBeLessThanOrEqual(2);
      const main = said.find((l) => l.includes(`code=${f.code}`));
      expect(main, `${where}: ${said.join('\n')}`).toBeDefined();
      expect(main).toContain(join(net, f.file));
      if (f.position) expect(main).toMatch(new RegExp(`${f.file}:\\d+:\\d+: error`));
      expect(s.log.lines.filter((l) => / info recovered /.test(l)).length).toBeGreaterThan(recoveredBefore);
    }
    const seconds = Math.floor(s.clock.wallMs() / 1000) - BASE;
    expect(s.agent.sampler.stats.samples).toBe(seconds);
    expect(s.agent.sampler.stats.errors.get('E_INTERNAL')).toBeUndefined();
    // AttemptFails never went over 10/s: the alert on it never left CLEAR.
    const log = s.storedLog().filter((e) => e.oldStatus !== STATUS.REMOVED);
    expect(log.map((e) => e.newStatus)).toEqual([STATUS.CLEAR]);
  });
});
