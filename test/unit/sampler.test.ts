import { describe, expect, it, vi } from 'vitest';
import { Sampler } from '../../src/agent/sampler.js';
import type { Collector, CollectResult } from '../../src/collect/types.js';
import { FakeClock } from '../../src/internal/clock.js';
import type { Problem } from '../../src/internal/errors.js';
import { memoryLogger } from '../../src/internal/log.js';
import { type ChartEntry, type Series, Store } from '../../src/store/store.js';
import { BASE as T0 } from '../helpers/series.js';

/** What the fake collector does on its n-th call (1-based). */
type Step = { counters: Record<string, number>; problems?: Problem[] } | 'reject' | 'throw-sync' | 'hang';

class ScriptedCollector implements Collector {
  readonly source = 'linux-proc' as const;
  calls = 0;
  constructor(
    readonly netns: string,
    private readonly script: (n: number) => Step,
  ) {}
  describe(): string {
    return `scripted counters for ${this.netns}`;
  }
  collect(): Promise<CollectResult> {
    const n = ++this.calls;
    const step = this.script(n);
    if (step === 'throw-sync') throw new Error('collector blew up synchronously');
    if (step === 'reject') return Promise.reject(new Error('collector blew up'));
    if (step === 'hang') return new Promise<CollectResult>(() => {});
    return Promise.resolve({
      source: this.source,
      netns: this.netns,
      counters: step.counters,
      problems: step.problems ?? [],
    });
  }
  async close(): Promise<void> {}
}

const settle = () => new Promise<void>((r) => setImmediate(r));

interface Rig {
  clock: FakeClock;
  store: Store;
  log: ReturnType<typeof memoryLogger>;
  sampler: Sampler;
  collector: ScriptedCollector;
  ticks: number[];
  hs: ChartEntry;
  af: Series;
  /**
   * Advance the fake clocks to each of the next `seconds` whole wall-clock seconds, letting each tick's async
   * part finish there (so it sees the clocks as they were at the tick).
   */
  advance(seconds: number): Promise<void>;
  /** Advance in steps of exactly 1000 ms, whatever the phase. */
  advanceRaw(seconds: number): Promise<void>;
}

/**
 * A sampler over a store with the host's Linux charts. The default collector reports counters that grow
 * with the monotonic clock (as kernel counters grow with real time): AttemptFails 5/s, EstabResets 2/s.
 * Wall clock starts at T0 + 0.25 s, so the first tick is at T0 + 1.
 */
function rig(
  opts: {
    script?: (n: number, counters: () => Record<string, number>) => Step;
    store?: ConstructorParameters<typeof Store>[0];
    flushEverySeconds?: number;
  } = {},
): Rig {
  const clock = new FakeClock(T0 * 1000 + 250, 5_000_000);
  const mono0 = clock.monoMs();
  const store = new Store(opts.store);
  store.addNamespace('host', 'linux');
  const log = memoryLogger();
  const ticks: number[] = [];
  const counters = () => {
    const s = (clock.monoMs() - mono0) / 1000;
    return { AttemptFails: 1000 + 5 * s, EstabResets: 50 + 2 * s };
  };
  const script = opts.script ?? (() => ({ counters: counters() }));
  const collector = new ScriptedCollector('host', (n) => script(n, counters));
  const sampler = new Sampler({
    clock,
    collectors: [collector],
    store,
    log,
    intervalSeconds: 1,
    flushEverySeconds: opts.flushEverySeconds ?? 10,
    onTick: (w) => ticks.push(w),
  });
  const hs = store.chart('ip.tcphandshake')!;
  const af = hs.series.find((s) => s.dim.id === 'AttemptFails')!;
  return {
    clock,
    store,
    log,
    sampler,
    collector,
    ticks,
    hs,
    af,
    async advance(seconds: number) {
      for (let i = 0; i < seconds; i++) {
        clock.advance(1000 - (clock.wallMs() % 1000));
        await settle();
      }
    },
    async advanceRaw(seconds: number) {
      for (let i = 0; i < seconds; i++) {
        clock.advance(1000);
        await settle();
      }
    },
  };
}

function slots(s: Series, from: number, to: number): number[] {
  const out: number[] = [];
  for (let k = from; k <= to; k++) out.push(s.ring.get(T0 + k));
  return out;
}

function ringValues(s: Series): number[] {
  const out: number[] = [];
  s.ring.forEach(-Infinity, Infinity, (_t, v) => out.push(v));
  return out;
}

describe('Sampler', () => {
  it('ticks on wall-clock second boundaries, one sample per second', async () => {
    const r = rig();
    r.sampler.start();
    await r.advanceRaw(10);
    expect(r.ticks).toEqual(Array.from({ length: 10 }, (_, i) => (T0 + 1 + i) * 1000));
    expect(r.collector.calls).toBe(10);
    expect(r.sampler.stats).toMatchObject({ samples: 10, late: 0, missed: 0, clockJumps: 0 });
    expect(r.sampler.stats.lastSampleWallMs).toBe((T0 + 10) * 1000);
  });

  it('stores one slot per second with the right rates (the first is a gap)', async () => {
    const r = rig();
    r.sampler.start();
    await r.advance(10);
    expect(r.af.ring.size).toBe(10);
    expect(r.af.ring.lastT).toBe(T0 + 10);
    const v = slots(r.af, 1, 10);
    expect(v[0]).toBeNaN();
    for (const x of v.slice(1)) expect(x).toBeCloseTo(5, 9);
    const q = r.store.query(r.hs, { after: T0 + 1, before: T0 + 10 });
    expect(q.points).toBe(18);
    expect(q.value).toBeCloseTo(5 + 2, 9);
  });

  it('netdata.uptime grows by one per second', async () => {
    const r = rig();
    r.sampler.start();
    await r.advance(10);
    const up = r.store.chart('netdata.uptime')!.series[0]!;
    // Started 0.75 s before the first tick: 0 s of uptime at T0 + 1, 9 s at T0 + 10.
    expect(slots(up, 1, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.sampler.uptimeSeconds()).toBeCloseTo(9.75, 9);
  });

  it('a forward wall-clock jump is a counted clock jump and a gap, not an interpolated rate', async () => {
    const r = rig({ store: { ringSeconds: 7200 } });
    r.sampler.start();
    await r.advance(5);
    r.clock.jumpWall(3_600_000);
    await r.advance(3);
    expect(r.sampler.stats.clockJumps).toBe(1);
    expect(r.sampler.stats.samples).toBe(8);
    expect(r.ticks.slice(5)).toEqual([3606, 3607, 3608].map((k) => (T0 + k) * 1000));
    expect(r.af.ring.get(T0 + 5)).toBeCloseTo(5, 9);
    expect(slots(r.af, 6, 3606).every(Number.isNaN)).toBe(true);
    expect(slots(r.af, 3607, 3608).map((x) => Math.round(x * 1e9) / 1e9)).toEqual([5, 5]);
    expect(Math.max(...ringValues(r.af).filter((x) => !Number.isNaN(x)))).toBeCloseTo(5, 9);
    expect(r.log.lines.filter((l) => l.includes('wall clock jumped'))).toHaveLength(1);
  });

  it('the gap after a forward jump comes from the clock check, even when lost iterations are tolerated', async () => {
    // With 100 lost iterations tolerated, only the clock check can tell a 30 s jump from 30 lost ticks.
    const r = rig({ store: { gapAfterLostIterations: 100 } });
    r.sampler.start();
    await r.advance(5);
    r.clock.jumpWall(30_000);
    await r.advance(3);
    expect(r.sampler.stats.clockJumps).toBe(1);
    expect(slots(r.af, 6, 36).every(Number.isNaN)).toBe(true);
    expect(r.af.ring.get(T0 + 37)).toBeCloseTo(5, 9);
  });

  it('a suspend is a counted clock jump and a gap', async () => {
    const r = rig();
    r.sampler.start();
    await r.advance(5);
    r.clock.suspend(120_000);
    await r.advance(4);
    expect(r.sampler.stats.clockJumps).toBe(1);
    expect(r.sampler.stats.samples).toBe(9);
    expect(slots(r.af, 6, 126).every(Number.isNaN)).toBe(true);
    expect(slots(r.af, 127, 129).map((x) => Math.round(x * 1e9) / 1e9)).toEqual([5, 5, 5]);
    expect(r.log.lines.some((l) => l.includes('suspended'))).toBe(true);
  });

  it('after the wall clock goes back, the slots it named are dropped and sampling continues', async () => {
    // 5/s until the jump; 9/s afterwards, so the slots re-sampled after the jump are recognisable.
    let afterJump = false;
    let fromJump = 0;
    const r = rig({
      script: (_n, counters) => {
        const c = counters();
        if (!afterJump) return { counters: c };
        return { counters: { ...c, AttemptFails: 5000 + 9 * ((r.clock.monoMs() - fromJump) / 1000) } };
      },
    });
    const back = vi.spyOn(r.store, 'clockWentBack');
    r.sampler.start();
    await r.advance(10); // slots T0+1 … T0+10, wall now T0 + 10
    r.clock.jumpWall(-5000); // wall now T0 + 5
    afterJump = true;
    fromJump = r.clock.monoMs();
    await r.advance(5); // wall back at T0 + 10
    expect(r.sampler.stats.samples, 'samples after 5 more seconds').toBeGreaterThanOrEqual(14);
    expect(r.sampler.stats.clockJumps).toBe(1);
    expect(back).toHaveBeenCalledTimes(1);
    const toSec = back.mock.calls[0]![0];
    expect(toSec).toBeGreaterThanOrEqual(T0 + 5);
    expect(toSec).toBeLessThanOrEqual(T0 + 7);
    expect(r.af.ring.lastT).toBe(T0 + 10);
    // The newest slots hold the rate measured after the jump, not the old clock's values.
    for (const x of slots(r.af, 8, 10)) expect(x).toBeCloseTo(9, 9);
    await r.advance(5);
    expect(r.sampler.stats.samples).toBeGreaterThanOrEqual(19);
    expect(r.af.ring.get(T0 + 15)).toBeCloseTo(9, 9);
    expect(r.sampler.stats.clockJumps).toBe(1);
  });

  it('logs a collector problem once while it persists, and "recovered" when it goes away', async () => {
    const problem: Problem = {
      code: 'E_TEST_UNREADABLE',
      message: 'cannot read /proc/net/netstat: permission denied',
      severity: 'error',
      file: '/proc/net/netstat',
    };
    const bad = new Set([3, 4, 5, 6, 9]);
    const r = rig({
      script: (n, counters) => ({ counters: counters(), problems: bad.has(n) ? [problem] : [] }),
    });
    r.sampler.start();
    await r.advance(6);
    const errLines = () => r.log.lines.filter((l) => / error .*E_TEST_UNREADABLE/.test(l));
    const recovered = () => r.log.lines.filter((l) => / info recovered .*code=E_TEST_UNREADABLE/.test(l));
    expect(errLines()).toHaveLength(1);
    expect(errLines()[0]).toContain('/proc/net/netstat: error: E_TEST_UNREADABLE: cannot read');
    expect(recovered()).toHaveLength(0);
    await r.advance(1); // call 7: the problem is gone
    expect(recovered()).toHaveLength(1);
    await r.advance(3); // call 9: back again (a new episode, logged again), call 10: gone again
    expect(errLines()).toHaveLength(2);
    expect(recovered()).toHaveLength(2);
    expect(r.sampler.stats.errors.get('E_TEST_UNREADABLE')).toBe(5);
    // The counters that were read kept flowing.
    expect(r.af.ring.get(T0 + 5)).toBeCloseTo(5, 9);
  });

  it('a warning problem is logged at warn level', async () => {
    const r = rig({
      script: (n, counters) => ({
        counters: counters(),
        problems: n <= 2 ? [{ code: 'W_TEST', message: 'partial read', severity: 'warning' }] : [],
      }),
    });
    r.sampler.start();
    await r.advance(3);
    expect(r.log.lines.filter((l) => l.includes(' warn ') && l.includes('W_TEST'))).toHaveLength(1);
    expect(r.log.lines.filter((l) => l.includes(' error '))).toHaveLength(0);
  });

  it('a collector that throws or rejects does not stop later ticks', async () => {
    const r = rig({
      script: (n, counters) => {
        if (n === 3 || n === 7) return 'reject';
        if (n === 5) return 'throw-sync';
        return { counters: counters() };
      },
    });
    r.sampler.start();
    await r.advance(10);
    expect(r.collector.calls).toBe(10);
    // A failing collector is a problem of its namespace for that tick (E_COLLECT_FAILED), not a lost tick.
    expect(r.sampler.stats.samples).toBe(10);
    expect(r.sampler.stats.errors.get('E_COLLECT_FAILED')).toBe(3);
    expect(r.sampler.stats.errors.get('E_INTERNAL')).toBeUndefined();
    expect(r.log.lines.filter((l) => l.includes('E_COLLECT_FAILED')).length).toBeGreaterThanOrEqual(1);
    expect(r.af.ring.lastT).toBe(T0 + 10);
    // A single failed tick is one lost iteration: interpolated, not a gap.
    for (const x of slots(r.af, 2, 10)) expect(x).toBeCloseTo(5, 9);
  });

  it('a collector that never answers does not stop later ticks', async () => {
    const r = rig({ script: (n, counters) => (n === 3 ? 'hang' : { counters: counters() }) });
    r.sampler.start();
    await r.advance(20);
    // However long a collection may take, sampling must resume: at least half of the 18 ticks after it.
    expect(r.sampler.stats.samples).toBeGreaterThanOrEqual(2 + 9);
    expect(r.af.ring.lastT).toBeGreaterThanOrEqual(T0 + 15);
  });

  it('flushes the store every flushEverySeconds and once more on stop; no tick after stop', async () => {
    const r = rig({ flushEverySeconds: 10 });
    const flush = vi.spyOn(r.store, 'flush');
    r.sampler.start();
    await r.advance(25);
    expect(flush.mock.calls.map((c) => c[0] - T0)).toEqual([11, 21]);
    await r.sampler.stop();
    expect(flush.mock.calls.map((c) => c[0] - T0)).toEqual([11, 21, 25]);
    const samples = r.sampler.stats.samples;
    await r.advance(5);
    expect(r.sampler.stats.samples).toBe(samples);
    expect(r.clock.pendingTimers()).toBe(0);
  });

  it('feeds each collector into its own namespace', async () => {
    const clock = new FakeClock(T0 * 1000 + 250);
    const store = new Store();
    store.addNamespace('host', 'linux');
    store.addNamespace('web', 'linux');
    let k = 0;
    const host = new ScriptedCollector('host', (n) => ({ counters: { AttemptFails: 3 * n } }));
    const web = new ScriptedCollector('web', (n) => ({ counters: { AttemptFails: 11 * n } }));
    const sampler = new Sampler({
      clock,
      collectors: [host, web],
      store,
      log: memoryLogger(),
      intervalSeconds: 1,
      flushEverySeconds: 60,
      onTick: () => k++,
    });
    sampler.start();
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await settle();
    }
    expect(k).toBe(5);
    const af = (chart: string) => store.chart(chart)!.series.find((s) => s.dim.id === 'AttemptFails')!;
    expect(af('ip.tcphandshake').ring.get(T0 + 5)).toBe(3);
    expect(af('netns_web.tcphandshake').ring.get(T0 + 5)).toBe(11);
  });

  it("reads a synchronous collector in place (no promise, no timer), and a throwing one is that tick's E_COLLECT_FAILED", async () => {
    const clock = new FakeClock(T0 * 1000 + 250);
    const store = new Store();
    store.addNamespace('host', 'linux');
    store.addNamespace('web', 'linux');
    let syncCalls = 0;
    let asyncCalls = 0;
    const sync = (netns: string, per: number) => ({
      netns,
      source: 'linux-proc' as const,
      describe: () => `sync ${netns}`,
      close: async () => {},
      collect: async (): Promise<CollectResult> => {
        asyncCalls++;
        throw new Error('the sampler must use collectSync');
      },
      collectSync: (): CollectResult => {
        syncCalls++;
        if (netns === 'web' && syncCalls === 4) throw new Error('sync read blew up');
        return { source: 'linux-proc', netns, counters: { AttemptFails: per * syncCalls }, problems: [] };
      },
    });
    const sampler = new Sampler({
      clock,
      collectors: [sync('host', 3), sync('web', 11)],
      store,
      log: memoryLogger(),
      intervalSeconds: 1,
      flushEverySeconds: 60,
    });
    sampler.start();
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await settle();
      // no collector timer is left pending between ticks: only the next tick's
      expect(clock.pendingTimers()).toBe(1);
    }
    await sampler.stop();
    expect(asyncCalls).toBe(0);
    expect(syncCalls).toBe(10);
    expect(sampler.stats.samples).toBe(5);
    expect(sampler.stats.errors.get('E_COLLECT_FAILED')).toBe(1);
    expect(store.chart('ip.tcphandshake')!.series.find((s) => s.dim.id === 'AttemptFails')!.ring.lastT).toBe(
      T0 + 5,
    );
  });
});
