import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/store/ring.js';

const T0 = 1_767_225_600;

function held(r: Ring, after = -Infinity, before = Infinity): [number, number][] {
  const out: [number, number][] = [];
  r.forEach(after, before, (t, v) => out.push([t, v]));
  return out;
}

describe('Ring', () => {
  it('rejects a capacity that is not an integer ≥ 2', () => {
    expect(() => new Ring(1)).toThrow(RangeError);
    expect(() => new Ring(2.5)).toThrow(RangeError);
    expect(() => new Ring(2)).not.toThrow();
  });

  it('is empty at first: NaN times, size 0, get NaN, forEach calls nothing', () => {
    const r = new Ring(10);
    expect(r.size).toBe(0);
    expect(r.lastT).toBeNaN();
    expect(r.firstT).toBeNaN();
    expect(r.get(T0)).toBeNaN();
    expect(held(r)).toEqual([]);
  });

  it('put then get; firstT, lastT and size follow the slots held', () => {
    const r = new Ring(10);
    r.put(T0, 1.5);
    expect(r.get(T0)).toBe(1.5);
    expect(r.firstT).toBe(T0);
    expect(r.lastT).toBe(T0);
    expect(r.size).toBe(1);
    r.put(T0 + 1, 2);
    r.put(T0 + 2, 3);
    expect([r.get(T0), r.get(T0 + 1), r.get(T0 + 2)]).toEqual([1.5, 2, 3]);
    expect(r.firstT).toBe(T0);
    expect(r.lastT).toBe(T0 + 2);
    expect(r.size).toBe(3);
    // Outside the held range: NaN.
    expect(r.get(T0 - 1)).toBeNaN();
    expect(r.get(T0 + 3)).toBeNaN();
  });

  it('slots skipped between two puts become gaps, even if they held values a lap ago', () => {
    const r = new Ring(5);
    for (let i = 0; i < 5; i++) r.put(T0 + i, 10 + i);
    // Jump 3 slots ahead: T0+5 and T0+6 are skipped; their ring cells held T0+0 and T0+1.
    r.put(T0 + 7, 77);
    expect(r.get(T0 + 5)).toBeNaN();
    expect(r.get(T0 + 6)).toBeNaN();
    expect(r.get(T0 + 7)).toBe(77);
    expect(r.size).toBe(5);
    expect(r.firstT).toBe(T0 + 3);
    expect(held(r)).toEqual([
      [T0 + 3, 13],
      [T0 + 4, 14],
      [T0 + 5, Number.NaN],
      [T0 + 6, Number.NaN],
      [T0 + 7, 77],
    ]);
  });

  it('a put older than the newest slot overwrites it in place when still held, and is dropped otherwise', () => {
    const r = new Ring(4);
    for (let i = 0; i < 6; i++) r.put(T0 + i, i); // holds T0+2 … T0+5
    r.put(T0 + 3, 33);
    expect(r.get(T0 + 3)).toBe(33);
    expect(r.lastT).toBe(T0 + 5);
    expect(r.size).toBe(4);
    // T0+1 is no longer held: the value must not land in the cell that T0+5 now uses.
    r.put(T0 + 1, 11);
    expect(r.get(T0 + 1)).toBeNaN();
    expect(r.get(T0 + 5)).toBe(5);
    expect(held(r).map(([, v]) => v)).toEqual([2, 33, 4, 5]);
  });

  it('wraps around: only the newest `capacity` slots are held', () => {
    const r = new Ring(10);
    for (let i = 0; i < 25; i++) r.put(T0 + i, i * 2);
    expect(r.size).toBe(10);
    expect(r.firstT).toBe(T0 + 15);
    expect(r.lastT).toBe(T0 + 24);
    expect(r.get(T0 + 14)).toBeNaN();
    expect(r.get(T0 + 15)).toBe(30);
    expect(held(r).map(([t]) => t - T0)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(held(r).map(([, v]) => v)).toEqual([30, 32, 34, 36, 38, 40, 42, 44, 46, 48]);
  });

  it('a jump further than the capacity leaves only gaps before the new slot', () => {
    const r = new Ring(5);
    for (let i = 0; i < 5; i++) r.put(T0 + i, i + 1);
    r.put(T0 + 100, 9);
    expect(r.get(T0 + 100)).toBe(9);
    expect(r.lastT).toBe(T0 + 100);
    for (let t = T0 + 96; t < T0 + 100; t++) expect(r.get(t)).toBeNaN();
    for (let t = T0; t < T0 + 5; t++) expect(r.get(t)).toBeNaN();
    expect(held(r).filter(([, v]) => !Number.isNaN(v))).toEqual([[T0 + 100, 9]]);
  });

  it('truncateAfter drops newer slots, keeps older ones, and later puts start from there', () => {
    const r = new Ring(20);
    for (let i = 0; i < 10; i++) r.put(T0 + i, i);
    r.truncateAfter(T0 + 5);
    expect(r.lastT).toBe(T0 + 5);
    expect(r.size).toBe(6);
    expect(r.firstT).toBe(T0);
    expect(r.get(T0 + 5)).toBe(5);
    expect(r.get(T0 + 6)).toBeNaN();
    // A later put skipping T0+6 must not resurrect the old value of T0+6.
    r.put(T0 + 7, 70);
    expect(r.get(T0 + 6)).toBeNaN();
    expect(r.get(T0 + 7)).toBe(70);
    expect(r.size).toBe(8);
    // A time between slots truncates to the slot at or before it.
    r.truncateAfter(T0 + 3.5);
    expect(r.lastT).toBe(T0 + 3);
    expect(held(r).map(([, v]) => v)).toEqual([0, 1, 2, 3]);
  });

  it('truncateAfter at or after the newest slot changes nothing; before the oldest it empties the ring', () => {
    const r = new Ring(5);
    for (let i = 0; i < 8; i++) r.put(T0 + i, i); // holds T0+3 … T0+7
    r.truncateAfter(T0 + 7);
    r.truncateAfter(T0 + 100);
    expect(r.size).toBe(5);
    expect(r.lastT).toBe(T0 + 7);
    r.truncateAfter(T0 + 2);
    expect(r.size).toBe(0);
    expect(r.lastT).toBeNaN();
    expect(r.firstT).toBeNaN();
    expect(r.get(T0 + 3)).toBeNaN();
    r.put(T0 + 1, 42);
    expect(r.size).toBe(1);
    expect(held(r)).toEqual([[T0 + 1, 42]]);
    // Nothing of the old lap is visible after refilling.
    for (let t = T0 + 2; t <= T0 + 5; t++) r.put(t, Number.NaN);
    expect(held(r).filter(([, v]) => !Number.isNaN(v))).toEqual([[T0 + 1, 42]]);
  });

  it('truncateAfter on a wrapped ring keeps the right cells', () => {
    const r = new Ring(5);
    for (let i = 0; i < 8; i++) r.put(T0 + i, i); // holds T0+3 … T0+7
    r.truncateAfter(T0 + 4);
    expect(held(r)).toEqual([
      [T0 + 3, 3],
      [T0 + 4, 4],
    ]);
    expect(r.firstT).toBe(T0 + 3);
  });

  it('forEach visits [after, before] inclusive, clamped to the slots held, oldest first', () => {
    const r = new Ring(10);
    for (let i = 0; i < 10; i++) r.put(T0 + i, i);
    expect(held(r, T0 + 3, T0 + 5)).toEqual([
      [T0 + 3, 3],
      [T0 + 4, 4],
      [T0 + 5, 5],
    ]);
    expect(held(r, T0 - 50, T0 + 1).map(([t]) => t)).toEqual([T0, T0 + 1]);
    expect(held(r, T0 + 8, T0 + 50).map(([t]) => t)).toEqual([T0 + 8, T0 + 9]);
    expect(held(r, T0 + 2.5, T0 + 4.5).map(([t]) => t)).toEqual([T0 + 3, T0 + 4]);
    expect(held(r, T0 + 6, T0 + 5)).toEqual([]);
    expect(held(r, T0 + 20, T0 + 30)).toEqual([]);
  });

  it('updateEvery = 5: slots on multiples of 5, gaps and bounds in slots of 5 s', () => {
    const r = new Ring(4, 5);
    r.put(T0, 1);
    r.put(T0 + 5, 2);
    r.put(T0 + 20, 5);
    expect(r.size).toBe(4);
    expect(r.firstT).toBe(T0 + 5);
    expect(r.get(T0)).toBeNaN();
    expect(r.get(T0 + 5)).toBe(2);
    expect(r.get(T0 + 10)).toBeNaN();
    expect(r.get(T0 + 15)).toBeNaN();
    expect(held(r, T0 + 6, T0 + 100).map(([t]) => t - T0)).toEqual([10, 15, 20]);
    r.truncateAfter(T0 + 12);
    expect(r.lastT).toBe(T0 + 10);
    expect(r.size).toBe(2);
  });

  it('property: agrees with a model keyed by time (not by cell) under any puts and truncations', () => {
    const opArb = fc.record({
      kind: fc.constantFrom('put', 'put', 'put', 'trunc'),
      dt: fc.integer({ min: -15, max: 15 }),
      v: fc.integer({ min: -1000, max: 1000 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.array(opArb, { maxLength: 80 }), (cap, ops) => {
        const r = new Ring(cap);
        const model = new Map<number, number>();
        let last = Number.NaN;
        let count = 0;
        for (const op of ops) {
          const t = (count === 0 ? T0 : last) + op.dt;
          if (op.kind === 'put') {
            r.put(t, op.v);
            if (count === 0) {
              model.clear();
              model.set(t, op.v);
              last = t;
              count = 1;
            } else if (t <= last) {
              if (t > last - count) model.set(t, op.v);
            } else {
              const steps = t - last;
              for (let s = last + 1; s < t; s++) model.delete(s);
              model.set(t, op.v);
              count = Math.min(cap, count + steps);
              last = t;
            }
          } else {
            r.truncateAfter(t);
            if (count > 0 && t < last) {
              const first = last - count + 1;
              for (const k of [...model.keys()]) if (k > t) model.delete(k);
              if (t < first) {
                count = 0;
                last = Number.NaN;
              } else {
                count = t - first + 1;
                last = t;
              }
            }
          }
          if (r.size !== count) return false;
          if (!(r.lastT === last || (Number.isNaN(r.lastT) && Number.isNaN(last)))) return false;
        }
        const lo = count === 0 ? T0 - 40 : last - cap - 3;
        const hi = count === 0 ? T0 + 40 : last + 3;
        for (let s = lo; s <= hi; s++) {
          const want = count > 0 && s > last - count && s <= last ? (model.get(s) ?? Number.NaN) : Number.NaN;
          const got = r.get(s);
          if (!(got === want || (Number.isNaN(got) && Number.isNaN(want)))) return false;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
