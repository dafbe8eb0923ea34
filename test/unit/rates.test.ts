import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AbsoluteValue, IncrementalRate } from '../../src/store/rates.js';
import {
  BASE,
  type Collection,
  expectSlots,
  feed,
  feedEach,
  parseSeries,
  type Slot,
  us,
} from '../helpers/series.js';

/** Counter at time T (seconds after BASE) by linear interpolation between the collections around it. */
function interpolatedCounter(cols: readonly Collection[], T: number): number {
  const tUs = us(T);
  for (let j = 0; j + 1 < cols.length; j++) {
    const a = cols[j]!;
    const b = cols[j + 1]!;
    const ta = us(a.t);
    const tb = us(b.t);
    if (tUs > ta && tUs <= tb) return a.c + ((b.c - a.c) * (tUs - ta)) / (tb - ta);
  }
  throw new Error(`no collections around ${T}`);
}

function sumTimesUe(slots: readonly Slot[], ue: number): number {
  let s = 0;
  for (const x of slots) if (!Number.isNaN(x.v)) s += x.v * ue;
  return s;
}

describe('IncrementalRate: counters to per-second rates on slot boundaries', () => {
  it('a constant rate collected exactly on boundaries gives that rate in every slot after the first', () => {
    const cols = Array.from({ length: 11 }, (_, k) => ({ t: k, c: 100 + 7 * k, gap: false }));
    const slots = feed(new IncrementalRate(), cols);
    expectSlots(slots, [[0, Number.NaN], ...Array.from({ length: 10 }, (_, k) => [k + 1, 7] as const)]);
  });

  it('the first collection is one gap, and nothing else', () => {
    const slots = feed(new IncrementalRate(), parseSeries('5.4:1000'));
    expectSlots(slots, [[5, Number.NaN]]);
  });

  it('collections 0.3 s after the boundaries are interpolated onto the boundaries', () => {
    // 10/s collected at .3: slot 1 only counts (0.3, 1] (the first collection is the baseline), then 10/s.
    const slots = feed(new IncrementalRate(), parseSeries('0.3:1003 1.3:1013 2.3:1023 3.3:1033 4.3:1043'));
    expectSlots(slots, [
      [0, Number.NaN],
      [1, 7],
      [2, 10],
      [3, 10],
      [4, 10],
    ]);
  });

  it('uneven increments are split between slots in proportion to time', () => {
    // Counter 0 → 10 over (0.3, 1.3] and 10 → 30 over (1.3, 2.3]: C(1) = 7, C(2) = 10 + 20·0.7 = 24.
    const slots = feed(new IncrementalRate(), parseSeries('0.3:0 1.3:10 2.3:30 3.3:30'));
    expectSlots(slots, [
      [0, Number.NaN],
      [1, 7],
      [2, 17],
      [3, 6],
    ]);
  });

  it('the stored points add up to the counter change after the gap slot (offset collections)', () => {
    const cols = parseSeries('0.3:0 1.3:4 2.3:4 3.3:19 4.3:20 5.3:41 6.3:41 7.3:100 8.3:101 9.3:163');
    const slots = feed(new IncrementalRate(), cols);
    expect(slots.map((s) => s.t)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const lastT = slots.at(-1)!.t;
    const want = interpolatedCounter(cols, lastT) - cols[0]!.c;
    expect(want).toBeCloseTo(163 - 0.3 * 62, 9);
    expect(Math.abs(sumTimesUe(slots, 1) - want)).toBeLessThanOrEqual(1e-9 * want);
  });

  it('a counter going backwards is a gap, never a negative rate, and rates resume after it', () => {
    const slots = feed(new IncrementalRate(), parseSeries('0:0 1:10 2:20 3:5 4:15 5:25'));
    expectSlots(slots, [
      [0, Number.NaN],
      [1, 10],
      [2, 10],
      [3, Number.NaN],
      [4, 10],
      [5, 10],
    ]);
  });

  it('a counter going backwards between offset collections is a gap too', () => {
    const slots = feed(new IncrementalRate(), parseSeries('0.3:100 1.3:110 2.3:120 3.3:2 4.3:12 5.3:22'));
    expectSlots(slots, [
      [0, Number.NaN],
      [1, 7],
      [2, 10],
      [3, Number.NaN],
      [4, 7],
      [5, 10],
    ]);
  });

  it('a counter going backwards within the slot of the previous collection still leaves a gap', () => {
    // 2.3 → 2.8: slot 2 was already stored at 2.3. The reset at 2.8 turns slot 2 into the gap, exactly as a
    // first collection at 2.8 would (floor slot = gap), and slot 3 counts from the new baseline 3 at 2.8.
    const slots = feed(new IncrementalRate(), parseSeries('0.3:100 1.3:110 2.3:120 2.8:3 3.3:8 4.3:18'));
    expect(slots.every((s) => !(s.v < 0))).toBe(true);
    expectSlots(slots, [
      [0, Number.NaN],
      [1, 7],
      [2, 10],
      [2, Number.NaN],
      [3, 2],
      [4, 10],
    ]);
  });

  it('one lost iteration is interpolated (gap when lost iterations above 1)', () => {
    expectSlots(feed(new IncrementalRate(), parseSeries('0:0 1:10 3:30 4:40')), [
      [0, Number.NaN],
      [1, 10],
      [2, 10],
      [3, 10],
      [4, 10],
    ]);
    expectSlots(feed(new IncrementalRate(), parseSeries('0.3:0 1.3:10 3.3:30 4.3:40')), [
      [0, Number.NaN],
      [1, 7],
      [2, 10],
      [3, 10],
      [4, 10],
    ]);
  });

  it('two lost iterations are gaps, not an interpolated guess, and the series restarts', () => {
    expectSlots(feed(new IncrementalRate(), parseSeries('0:0 1:10 4:40 5:50 6:60')), [
      [0, Number.NaN],
      [1, 10],
      [2, Number.NaN],
      [3, Number.NaN],
      [4, Number.NaN],
      [5, 10],
      [6, 10],
    ]);
  });

  it('gapAfterLostIterations sets how many lost collections are tolerated', () => {
    // 0: any lost collection is a gap.
    expectSlots(feed(new IncrementalRate(1, 0), parseSeries('0:0 1:10 3:30 4:40')), [
      [0, Number.NaN],
      [1, 10],
      [2, Number.NaN],
      [3, Number.NaN],
      [4, 10],
    ]);
    // 3: three lost collections are still interpolated.
    expectSlots(feed(new IncrementalRate(1, 3), parseSeries('0:0 1:10 5:50 6:60')), [
      [0, Number.NaN],
      [1, 10],
      [2, 10],
      [3, 10],
      [4, 10],
      [5, 10],
      [6, 10],
    ]);
  });

  it('forceGap restarts the series: a gap slot, then rates from the new baseline', () => {
    expectSlots(feed(new IncrementalRate(), parseSeries('0:0 1:10 2:1000! 3:1010 4:1020')), [
      [0, Number.NaN],
      [1, 10],
      [2, Number.NaN],
      [3, 10],
      [4, 10],
    ]);
  });

  it('a counter that cannot be read (NaN, ±Infinity) is a lost iteration: one is interpolated, two are a gap', () => {
    // Netdata: a collector that skips an iteration does not store; the next collection interpolates across.
    expectSlots(feed(new IncrementalRate(), parseSeries('0:0 1:10 2:_ 3:30 4:40')), [
      [0, Number.NaN],
      [1, 10],
      [2, 10],
      [3, 10],
      [4, 10],
    ]);
    const rate = new IncrementalRate();
    const got: Slot[] = [];
    const emit = (t: number, v: number) => got.push({ t: t - BASE, v });
    rate.push(us(0), 0, emit);
    rate.push(us(1), 10, emit);
    rate.push(us(2), Number.POSITIVE_INFINITY, emit);
    expect(got).toHaveLength(2);
    rate.push(us(3), Number.NEGATIVE_INFINITY, emit);
    expect(got).toHaveLength(2);
    rate.push(us(4), 40, emit);
    rate.push(us(5), 45, emit);
    expectSlots(got, [
      [0, Number.NaN],
      [1, 10],
      [2, Number.NaN],
      [3, Number.NaN],
      [4, Number.NaN],
      [5, 5],
    ]);
  });

  it('updateEvery = 2: slots every 2 s, values per second, lost-iteration tolerance in intervals', () => {
    expectSlots(feed(new IncrementalRate(2), parseSeries('0:0 2:10 4:20 6:40')), [
      [0, Number.NaN],
      [2, 5],
      [4, 5],
      [6, 10],
    ]);
    // Collected on odd seconds: slot 2 only counts (1, 2]; 5/s afterwards.
    const cols = parseSeries('1:5 3:15 5:25 7:35');
    const slots = feed(new IncrementalRate(2), cols);
    expectSlots(slots, [
      [0, Number.NaN],
      [2, 2.5],
      [4, 5],
      [6, 5],
    ]);
    expect(sumTimesUe(slots, 2)).toBeCloseTo(interpolatedCounter(cols, 6) - 5, 9);
    // One lost interval (4 s) is interpolated, two (6 s) are gaps.
    expectSlots(feed(new IncrementalRate(2), parseSeries('0:0 2:10 6:30')), [
      [0, Number.NaN],
      [2, 5],
      [4, 5],
      [6, 5],
    ]);
    expectSlots(feed(new IncrementalRate(2), parseSeries('0:0 2:10 8:40 10:50')), [
      [0, Number.NaN],
      [2, 5],
      [4, Number.NaN],
      [6, Number.NaN],
      [8, Number.NaN],
      [10, 5],
    ]);
  });

  it('reset() forgets the series: the next value is a first collection (a gap) again', () => {
    const rate = new IncrementalRate();
    const a = feed(rate, parseSeries('10:0 11:10'));
    expectSlots(a, [
      [10, Number.NaN],
      [11, 10],
    ]);
    rate.reset();
    // The wall clock went back to 5: the series starts over there.
    expectSlots(feed(rate, parseSeries('5:20 6:30')), [
      [5, Number.NaN],
      [6, 10],
    ]);
  });

  it('several collections within one slot emit that slot once, at its boundary', () => {
    const per = feedEach(new IncrementalRate(), parseSeries('0:0 0.25:1 0.5:2 0.75:3 1:4 1.5:6 2:8'));
    expect(per.map((p) => p.length)).toEqual([1, 0, 0, 0, 1, 0, 1]);
    expectSlots(per.flat(), [
      [0, Number.NaN],
      [1, 4],
      [2, 4],
    ]);
  });
});

describe('IncrementalRate: properties', () => {
  interface Step {
    dtMs: number;
    inc: number;
    /** When set, the counter drops to this fraction of its value (a reset) instead of increasing. */
    resetTo: number | null;
  }
  const stepArb: fc.Arbitrary<Step> = fc.record({
    dtMs: fc.integer({ min: 1, max: 4000 }),
    inc: fc.integer({ min: 0, max: 1000 }),
    resetTo: fc.option(fc.double({ min: 0, max: 0.99, noNaN: true }), { freq: 8 }),
  });
  const scenarioArb = fc.record({
    ue: fc.constantFrom(1, 2, 5),
    gapAfter: fc.integer({ min: 0, max: 3 }),
    startUs: fc.integer({ min: 0, max: 59_999_999 }),
    c0: fc.integer({ min: 0, max: 1_000_000 }),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 80 }),
  });

  /** Absolute collections (t in seconds after BASE) and which of them are resets. */
  function build(s: { startUs: number; c0: number; steps: Step[] }): {
    cols: Collection[];
    resets: number[];
  } {
    let tUs = s.startUs;
    let c = s.c0;
    const cols: Collection[] = [{ t: tUs / 1e6, c, gap: false }];
    const resets: number[] = [];
    for (const st of s.steps) {
      tUs += st.dtMs * 1000;
      const next = st.resetTo !== null && c > 0 ? Math.floor(c * st.resetTo) : c + st.inc;
      if (next < c) resets.push(cols.length);
      c = next;
      cols.push({ t: tUs / 1e6, c, gap: false });
    }
    return { cols, resets };
  }

  it('never emits a negative value', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { cols } = build(s);
        for (const slot of feed(new IncrementalRate(s.ue, s.gapAfter), cols)) {
          if (slot.v < 0) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('emits slot times that never go back, on multiples of updateEvery; a slot emitted again only becomes a gap', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { cols } = build(s);
        const slots = feed(new IncrementalRate(s.ue, s.gapAfter), cols);
        for (let i = 0; i < slots.length; i++) {
          const t = slots[i]!.t;
          if ((BASE + t) % s.ue !== 0) return false;
          if (i > 0 && t < slots[i - 1]!.t) return false;
          if (i > 0 && t === slots[i - 1]!.t && !Number.isNaN(slots[i]!.v)) return false;
        }
        return slots.length >= 1;
      }),
      { numRuns: 300 },
    );
  });

  it('every reset leaves a gap by the time the slot holding the reset is stored', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { cols, resets } = build(s);
        const per = feedEach(new IncrementalRate(s.ue, s.gapAfter), cols);
        for (const i of resets) {
          const tReset = cols[i]!.t;
          const after = per.slice(i).flat();
          const holding = after.findIndex((x) => x.t >= tReset - 1e-9);
          if (holding < 0) continue; // the slot holding the reset was never stored
          if (!after.slice(0, holding + 1).some((x) => Number.isNaN(x.v))) return false;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('without resets or lost iterations, the points add up to the counter change since the first collection', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 5),
        fc.integer({ min: 0, max: 59_999_999 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(
          fc.tuple(fc.double({ min: 0.001, max: 1, noNaN: true }), fc.integer({ min: 0, max: 5000 })),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        (ue, startUs, c0, steps) => {
          let tUs = startUs;
          let c = c0;
          const cols: Collection[] = [{ t: tUs / 1e6, c, gap: false }];
          for (const [frac, inc] of steps) {
            // At most 2.5 intervals apart: within the default tolerance of one lost iteration.
            tUs += Math.max(1, Math.floor(frac * 2.5 * ue * 1e6));
            c += inc;
            cols.push({ t: tUs / 1e6, c, gap: false });
          }
          const slots = feed(new IncrementalRate(ue), cols);
          if (!Number.isNaN(slots[0]!.v)) return false;
          if (slots.slice(1).some((x) => Number.isNaN(x.v))) return false;
          if (slots.length < 2) return sumTimesUe(slots, ue) === 0;
          const want = interpolatedCounter(cols, slots.at(-1)!.t) - c0;
          return Math.abs(sumTimesUe(slots, ue) - want) <= 1e-9 * Math.max(1, Math.abs(want));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('AbsoluteValue (netdata.uptime)', () => {
  it('stores the collected value at its slot, once per slot', () => {
    const a = new AbsoluteValue();
    const got: Slot[] = [];
    const emit = (t: number, v: number) => got.push({ t: t - BASE, v });
    a.push(us(0.2), 0, emit);
    a.push(us(1.2), 1, emit);
    a.push(us(1.7), 99, emit);
    a.push(us(3.2), 3, emit);
    expectSlots(got, [
      [0, 0],
      [1, 1],
      [3, 3],
    ]);
    a.reset();
    a.push(us(3.9), 4, emit);
    expectSlots(got.slice(3), [[3, 4]]);
  });
});
