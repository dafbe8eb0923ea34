/**
 * Issue 8, faults: the wall clock jumping ±1 h and the machine suspending, under the whole agent in
 * simulated time (the clock seam, src/internal/clock.ts). What must hold:
 *  - a forward step or a resume is a gap in the history, not an interpolated rate, and the alert checks
 *    wait 60 s (Netdata's `postpone alarms during hibernation for`), so an alert does not flap to UNDEFINED
 *    on the empty window around it;
 *  - a backward step leaves no alert waiting for its old next run (an hour of silence in Netdata): a storm
 *    that ends right after clears the alert, a new one raises it;
 *  - in every case the agent's alert log equals the offline replay of the counters it wrote to its debug
 *    counters file (the oracle of the soak, checked here where every tick is known).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readCounterDump, replayCounterDump, transitionKey } from '../../src/agent/counter-dump.js';
import { STATUS, statusName } from '../../src/health/types.js';
import { BASE } from '../helpers/series.js';
import { type SimAgent, simAgent } from './reliability-harness.js';

let sim: SimAgent | undefined;
afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

const sec = (s: SimAgent) => Math.floor(s.clock.wallMs() / 1000);
const changes = (s: SimAgent) =>
  s
    .storedLog()
    .filter((e) => e.oldStatus !== STATUS.REMOVED)
    .map((e) => `${e.when - BASE} ${statusName(e.oldStatus)}→${statusName(e.newStatus)}`);

function expectReplayEqual(s: SimAgent): void {
  const replay = replayCounterDump(readCounterDump(s.dumpFile));
  const stored = s.storedLog().map(transitionKey);
  expect(stored.length).toBeGreaterThan(1);
  expect(replay).toEqual(stored);
}

describe('wall clock and suspend, whole agent in simulated time', () => {
  it('+1 h step: a gap, checks postponed 60 s, then the storm that began meanwhile raises the alert', async () => {
    sim = await simAgent();
    await sim.advance(20);
    expect(changes(sim)).toEqual([expect.stringMatching(/^\d+ UNINITIALIZED→CLEAR$/)]);
    const rt = sim.agent.health.alerts[0]!;
    const before = rt.lastUpdated;
    expect(before).toBe(BASE + 20);

    sim.clock.jumpWall(3_600_000);
    sim.perSecond.AttemptFails = 50;
    await sim.advance(1);
    const jumpSec = sec(sim);
    expect(jumpSec).toBe(BASE + 3621);
    expect(sim.agent.sampler.stats.clockJumps).toBe(1);
    expect(sim.log.lines.join('\n')).toMatch(/alert checks postponed .*until=\d+/);
    // The 3,600 s the clock skipped are a gap, not 3,600 interpolated seconds.
    const af = sim.agent.store.chart('ip.tcphandshake')!.series.find((s) => s.dim.id === 'AttemptFails')!;
    for (const t of [BASE + 21, BASE + 1800, BASE + 3620]) expect(af.ring.get(t)).toBeNaN();

    // 59 more seconds: storm data arrives, but no check runs and nothing is logged.
    await sim.advance(59);
    expect(rt.lastUpdated).toBe(before);
    expect(changes(sim)).toHaveLength(1);
    expect(af.ring.get(sec(sim))).toBeCloseTo(50, 9);
    // The 60th second: checks resume, with a full window of storm data.
    await sim.advance(1);
    expect(rt.lastUpdated).toBe(jumpSec + 60);
    expect(changes(sim).slice(1)).toEqual([`${jumpSec + 60 - BASE} CLEAR→WARNING`]);
    expectReplayEqual(sim);
  });

  it('suspend for 30 min during a storm: a gap, no UNDEFINED flap, 60 s postponed, then normal', async () => {
    sim = await simAgent();
    sim.perSecond.AttemptFails = 50;
    await sim.advance(30);
    expect(changes(sim).at(-1)).toMatch(/→WARNING$/);
    const logged = changes(sim).length;
    // The machine sleeps: the wall clock moves, the monotonic clock and the counters do not.
    sim.clock.suspend(1_800_000);
    await sim.advance(1);
    const resumeSec = sec(sim);
    expect(resumeSec).toBe(BASE + 1831);
    expect(sim.agent.sampler.stats.clockJumps).toBe(1);
    const af = sim.agent.store.chart('ip.tcphandshake')!.series.find((s) => s.dim.id === 'AttemptFails')!;
    for (const t of [BASE + 31, BASE + 900, BASE + 1831]) expect(af.ring.get(t)).toBeNaN();
    // Without the postponement the first checks would see an all-gap window (UNDEFINED) and flap.
    const rt = sim.agent.health.alerts[0]!;
    await sim.advance(59);
    expect(rt.lastUpdated).toBe(BASE + 30);
    await sim.advance(30);
    expect(rt.lastUpdated).toBe(sec(sim));
    expect(statusName(rt.status)).toBe('WARNING');
    expect(changes(sim)).toHaveLength(logged);
    // The storm ends: the alert clears as it would have without the suspend.
    sim.perSecond.AttemptFails = 1;
    await sim.advance(10);
    expect(changes(sim).slice(logged)).toEqual([expect.stringMatching(/ WARNING→CLEAR$/)]);
    expectReplayEqual(sim);
  });

  it('−1 h step: alert timers move with the clock; the storm that ends clears the alert, the next raises it', async () => {
    sim = await simAgent();
    sim.perSecond.AttemptFails = 50;
    await sim.advance(30);
    expect(changes(sim).at(-1)).toMatch(/→WARNING$/);
    const logged = changes(sim).length;

    sim.clock.jumpWall(-3_600_000);
    sim.perSecond.AttemptFails = 1;
    await sim.advance(1);
    const backSec = sec(sim);
    expect(backSec).toBe(BASE + 30 - 3600 + 1);
    await sim.advance(9);
    const rt = sim.agent.health.alerts[0]!;
    // Checked every second on the new clock, not waiting for the old next run an hour ahead.
    expect(rt.lastUpdated).toBe(sec(sim));
    expect(rt.nextUpdate).toBe(sec(sim) + 1);
    const after = sim
      .storedLog()
      .filter((e) => e.oldStatus !== STATUS.REMOVED)
      .slice(logged);
    expect(after.map((e) => `${statusName(e.oldStatus)}→${statusName(e.newStatus)}`)).toEqual([
      'WARNING→CLEAR',
    ]);
    expect(after[0]!.when).toBeGreaterThanOrEqual(backSec);
    expect(after[0]!.when).toBeLessThanOrEqual(backSec + 7);
    // The time in WARNING is counted on the moved clock: 30 − 7 s or so, never negative.
    expect(after[0]!.duration).toBeGreaterThan(0);
    expect(after[0]!.duration).toBeLessThan(60);

    sim.perSecond.AttemptFails = 50;
    await sim.advance(6);
    expect(changes(sim).at(-1)).toMatch(/→WARNING$/);
    // Nothing after the new "now" survives in memory: the newest slot is this second.
    const af = sim.agent.store.chart('ip.tcphandshake')!.series.find((s) => s.dim.id === 'AttemptFails')!;
    expect(af.ring.lastT).toBe(sec(sim));
    // Unique ids keep increasing across the step, whatever the `when` of the entries.
    const ids = sim.storedLog().map((e) => e.uniqueId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(sim.log.lines.join('\n')).toMatch(
      /wall clock went back; alert timers moved with it"? bySeconds=3600/,
    );
    expectReplayEqual(sim);
  });

  it('a repeat and a delayed notification still come on time after a −1 h step', async () => {
    sim = await simAgent({
      health: `
 alarm: rel_repeat
    on: ip.tcphandshake
lookup: average -5s unaligned absolute of AttemptFails
 every: 1s
  warn: $this > 10
 delay: up 10s
repeat: warning 20s critical off
`,
    });
    sim.perSecond.AttemptFails = 50;
    await sim.advance(8);
    // The raise is logged, its notification waits for the 10-s up delay.
    const raised = sim.storedLog().find((e) => e.newStatus === STATUS.WARNING)!;
    expect(raised).toBeDefined();
    expect(sim.notified).toHaveLength(0);
    sim.clock.jumpWall(-3_600_000);
    const stepSec = sec(sim) - 3600;
    // Without moving the timers, the notification would wait an hour; here it comes 10 s after the raise.
    await sim.advance(12);
    expect(sim.notified.map((e) => e.uniqueId)).toEqual([raised.uniqueId]);
    const waited = raised.delay;
    expect(waited).toBe(10);
    // The repeat every 20 s keeps its rhythm on the moved clock.
    await sim.advance(40);
    const repeats = sim.notified.slice(1);
    expect(repeats.length).toBeGreaterThanOrEqual(1);
    expect(repeats.length).toBeLessThanOrEqual(2);
    for (const r of repeats) expect(r.when).toBeGreaterThan(stepSec);
    expectReplayEqual(sim);
  });
});
