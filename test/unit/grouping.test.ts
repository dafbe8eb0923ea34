import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupBuffer, groupPoints, smoothingAlpha } from '../../src/health/grouping.js';
import type { CountifOp, GroupMethod } from '../../src/health/types.js';

const ALL_METHODS: readonly GroupMethod[] = [
  'average',
  'min',
  'max',
  'sum',
  'median',
  'trimmed-median',
  'trimmed-mean',
  'percentile',
  'incremental-sum',
  'stddev',
  'cv',
  'ses',
  'des',
  'countif',
  'extremes',
  'latest',
];

/** Points in time order: 3 1 4 1 5 (sorted: 1 1 3 4 5, mean 2.8). */
const A = [3, 1, 4, 1, 5];

describe('groupPoints: each method on 3 1 4 1 5 (hand-computed)', () => {
  // Sample variance: Σ(x − 2.8)² = 0.04 + 3.24 + 1.44 + 3.24 + 4.84 = 12.8, / (5 − 1) = 3.2.
  const sd = Math.sqrt(3.2);
  const cases: [GroupMethod, number][] = [
    ['average', 2.8],
    ['sum', 14],
    ['min', 1],
    ['max', 5],
    ['median', 3],
    ['incremental-sum', 5 - 3],
    ['stddev', sd],
    ['cv', (100 * sd) / 2.8],
    // α = 2/(5+1) = 1/3: 3 → 7/3 → 26/9 → 61/27 → 257/81.
    ['ses', 257 / 81],
    // α = β = 1/3; level/trend: (3,3) → (−1/3, −16/9) → (−2/27, −89/81) → (−109/243, −625/729) → 1741/2187.
    ['des', 1741 / 2187],
    ['extremes', 5],
    ['latest', 5],
    // Percentile 95 of 5 points: 4.75 slots → 1 1 3 4 (= 9) + 0.75·5 + 0.25·4 again, / 5 = 13.75 / 5.
    ['percentile', 2.75],
    // Trimmed mean 5 %: keep 90 % = 4.5 slots from ⌊0.5/2⌋ = 0: 1 1 3 4 + 0.5·5 + 0.5·4, / 5 = 13.5 / 5.
    ['trimmed-mean', 2.7],
    // Trimmed median 5 %: range 1..5, keep [1.2, 4.8] → 3 4 → 3.5.
    ['trimmed-median', 3.5],
    // countif default `== 0`: no zero.
    ['countif', 0],
  ];
  it.each(cases)('%s', (method, want) => {
    expect(groupPoints(method, A)).toBeCloseTo(want, 12);
  });

  it('the table covers every method', () => {
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(ALL_METHODS));
  });
});

describe('countif: every operator (percentage of the points)', () => {
  const cases: [CountifOp, number, number][] = [
    ['==', 1, 40],
    ['!=', 1, 60],
    ['<', 3, 40],
    ['<=', 3, 60],
    ['>', 2, 60],
    ['>=', 4, 40],
    ['==', 2, 0],
    ['>=', 1, 100],
  ];
  it.each(cases)('x %s %d → %d %%', (op, value, want) => {
    expect(groupPoints('countif', A, value, op)).toBe(want);
  });

  it('compares exactly (no epsilon) and defaults to == 0', () => {
    expect(groupPoints('countif', [0.1 + 0.2, 0.3], 0.3, '==')).toBe(50);
    expect(groupPoints('countif', [0, 0, 5, 0])).toBe(75);
  });
});

describe('trimmed mean (trimmed_mean.h)', () => {
  const B = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100];
  it.each([
    // keep 90 % = 9 points from ⌊1/2⌋ = 0: 1..9 (only the top end is trimmed)
    [5, 5],
    // keep 80 % = 8 points from 1: 2..9
    [10, 5.5],
    // keep 50 % = 5 points from ⌊5/2⌋ = 2: 3..7
    [25, 5],
  ])('trimmed-mean %d %% of 1..9,100 = %d', (p, want) => {
    expect(groupPoints('trimmed-mean', B, p)).toBeCloseTo(want, 12);
  });

  it('defaults to 5 % and clamps the percent to [0, 50]', () => {
    expect(groupPoints('trimmed-mean', B)).toBeCloseTo(5, 12);
    // 0 % keeps everything.
    expect(groupPoints('trimmed-mean', B, 0)).toBeCloseTo(14.5, 12);
    // 50 % (and anything above) keeps ⌊10·0⌋ → 1 point, the 6th smallest from ⌊9/2⌋ = 4: 5.
    expect(groupPoints('trimmed-mean', B, 50)).toBe(5);
    expect(groupPoints('trimmed-mean', B, 80)).toBe(5);
  });

  it('data with a negative minimum is read from the top', () => {
    // -10 1 2 3 4 5 6 7 8 9, 10 %: keep 8 from index 9 − 1 = 8 downwards: 8..1 → 4.5
    expect(groupPoints('trimmed-mean', [-10, 1, 2, 3, 4, 5, 6, 7, 8, 9], 10)).toBeCloseTo(4.5, 12);
    // 5 %: keep 9 from index 9 downwards: 9..1 → 5 (the negative end is the one trimmed)
    expect(groupPoints('trimmed-mean', [-10, 1, 2, 3, 4, 5, 6, 7, 8, 9], 5)).toBeCloseTo(5, 12);
  });
});

describe('percentile (percentile.h): the mean of the lowest N % of the points', () => {
  const C = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
  it.each([
    // 2.5 slots: (1 + 2 + 0.5·3 + 0.5·2) / 3
    [25, 5.5 / 3],
    // 5 slots: mean of 1..5
    [50, 3],
    // 9.5 slots: (45 + 0.5·10 + 0.5·9) / 10
    [95, 5.45],
    [100, 5.5],
  ])('percentile %d of 1..10 = %d', (p, want) => {
    expect(groupPoints('percentile', C, p)).toBeCloseTo(want, 12);
  });

  it('defaults to 95; 0 → the minimum; a negative minimum reads from the top', () => {
    expect(groupPoints('percentile', C)).toBeCloseTo(5.45, 12);
    expect(groupPoints('percentile', C, 0)).toBe(1);
    expect(groupPoints('percentile', [-1, 2, 3, 4], 50)).toBeCloseTo(3.5, 12);
  });
});

describe('median and trimmed median (median.h)', () => {
  it('median interpolates between the two middle points of an even count', () => {
    expect(groupPoints('median', [10, 1, 3, 2])).toBe(2.5);
    expect(groupPoints('median', [7])).toBe(7);
  });

  it('trimmed-median trims a share of the value range, not of the points', () => {
    // 10..50, 5 %: keep values in [12, 48] → 12 13 14 → 13 (the plain median is 12.5)
    expect(groupPoints('trimmed-median', [50, 10, 11, 12, 13, 14], 5)).toBe(13);
    expect(groupPoints('median', [50, 10, 11, 12, 13, 14])).toBe(12.5);
    // A lone outlier: only 100 is ≥ 1 + 99·5 % → Netdata returns 100.
    expect(groupPoints('trimmed-median', [1, 2, 3, 4, 100], 5)).toBe(100);
    expect(groupPoints('trimmed-median', [1, 2, 3, 4, 100], 0)).toBe(3);
  });
});

describe('ses / des (ses.h, des.h)', () => {
  it('α = 2/(N+1) with N = the window slots, capped at 15', () => {
    expect(smoothingAlpha(1)).toBe(1);
    expect(smoothingAlpha(10)).toBeCloseTo(2 / 11, 15);
    expect(smoothingAlpha(60)).toBeCloseTo(2 / 16, 15);
  });

  it('the window size comes from `group`, not from the number of points', () => {
    // group 3 → α = 0.5: 3 → 2 → 3 → 2 → 3.5
    expect(groupPoints('ses', A, undefined, undefined, 3)).toBeCloseTo(3.5, 12);
    // group 60 → α = 1/8: 3 → 2.75 → 2.90625 → 2.66796875 → 2.9594726...
    const a = 0.125;
    let l = 3;
    for (const x of A) l = a * x + (1 - a) * l;
    expect(groupPoints('ses', A, undefined, undefined, 60)).toBeCloseTo(l, 12);
    expect(l).toBeCloseTo(2.9594726, 6);
  });

  it('des re-applies the second point (level = x₁, trend = x₁ − x₀, then the update); one point → itself', () => {
    // group 3 → α = β = 1/2. (2, 2) → x=4: (4, 2) updated with 4 → level 5, trend 1.5 → x=6: 3 + 3.25.
    expect(groupPoints('des', [2, 4, 6])).toBeCloseTo(6.25, 12);
    // group 5 → α = β = 1/3: level 16/3, trend 16/9 → x=6: 2 + 2/3·(64/9) = 182/27.
    expect(groupPoints('des', [2, 4, 6], undefined, undefined, 5)).toBeCloseTo(182 / 27, 12);
    expect(groupPoints('des', [42])).toBe(42);
    expect(groupPoints('ses', [42])).toBe(42);
  });
});

describe('extremes, incremental-sum, stddev/cv edge cases', () => {
  it('extremes keeps the sign of the largest magnitude', () => {
    expect(groupPoints('extremes', [-7, 3, 5])).toBe(-7);
    expect(groupPoints('extremes', [-2, 3])).toBe(3);
    expect(groupPoints('extremes', [-1, -5])).toBe(-5);
    expect(groupPoints('extremes', [5, -5])).toBe(-5);
    expect(groupPoints('extremes', [0, 0])).toBe(0);
  });

  it('incremental-sum is last − first of the non-gap points; one point is empty', () => {
    expect(groupPoints('incremental-sum', [10, Number.NaN, 4, 7, Number.NaN])).toBe(-3);
    expect(groupPoints('incremental-sum', [10])).toBeNaN();
  });

  it('stddev and cv: one point → 0, mean 0 → cv empty', () => {
    expect(groupPoints('stddev', [4])).toBe(0);
    expect(groupPoints('cv', [4])).toBe(0);
    expect(groupPoints('cv', [-1, 1])).toBeNaN();
    expect(groupPoints('stddev', [-1, 1])).toBeCloseTo(Math.SQRT2, 12);
    expect(groupPoints('cv', [-2, -4])).toBeCloseTo((100 * Math.SQRT2) / 3, 12);
  });

  it('gaps (NaN) and infinities are skipped; nothing left → NaN for every method', () => {
    expect(groupPoints('average', [Number.NaN, 2, Number.POSITIVE_INFINITY, 4])).toBe(3);
    expect(groupPoints('latest', [1, 2, Number.NaN])).toBe(2);
    for (const m of ALL_METHODS) {
      expect(groupPoints(m, [])).toBeNaN();
      expect(groupPoints(m, [Number.NaN, Number.NaN])).toBeNaN();
    }
  });

  it('groupBuffer groups only the first n values', () => {
    const buf = new Float64Array([5, 1, 9, 1000]);
    expect(groupBuffer('max', buf, 3)).toBe(9);
    expect(groupBuffer('sum', buf, 0)).toBeNaN();
  });
});

describe('properties', () => {
  const anyDouble = fc.oneof(
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0),
  );
  const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 });

  it('grouping never throws and returns a number for any input', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALL_METHODS),
        fc.array(anyDouble, { maxLength: 80 }),
        fc.option(anyDouble, { nil: undefined }),
        fc.constantFrom<CountifOp>('==', '!=', '<', '<=', '>', '>='),
        fc.option(fc.integer({ min: -5, max: 200 }), { nil: undefined }),
        (m, xs, param, op, group) => {
          const v = groupPoints(m, xs, param, op, group);
          expect(typeof v).toBe('number');
        },
      ),
    );
  });

  it('average lies between min and max', () => {
    fc.assert(
      fc.property(fc.array(finite, { minLength: 1, maxLength: 60 }), (xs) => {
        const avg = groupPoints('average', xs);
        const tol = 1e-9 * Math.max(1, ...xs.map(Math.abs));
        expect(avg).toBeGreaterThanOrEqual(groupPoints('min', xs) - tol);
        expect(avg).toBeLessThanOrEqual(groupPoints('max', xs) + tol);
      }),
    );
  });

  it('percentile is non-decreasing in N on non-negative data (non-increasing with a negative minimum)', () => {
    fc.assert(
      fc.property(
        fc.array(finite, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (xs, p1, p2) => {
          const [lo, hi] = p1 <= p2 ? [p1, p2] : [p2, p1];
          const a = groupPoints('percentile', xs, lo);
          const b = groupPoints('percentile', xs, hi);
          const tol = 1e-9 * Math.max(1, ...xs.map(Math.abs));
          if (Math.min(...xs) >= 0) expect(a).toBeLessThanOrEqual(b + tol);
          else expect(a).toBeGreaterThanOrEqual(b - tol);
        },
      ),
    );
  });

  it('percentile, median and trimmed results stay within [min, max]', () => {
    fc.assert(
      fc.property(
        fc.array(finite, { minLength: 1, maxLength: 60 }),
        fc.constantFrom<GroupMethod>('percentile', 'median', 'trimmed-mean', 'trimmed-median'),
        fc.integer({ min: 0, max: 100 }),
        (xs, m, p) => {
          const v = groupPoints(m, xs, p);
          const tol = 1e-9 * Math.max(1, ...xs.map(Math.abs));
          expect(v).toBeGreaterThanOrEqual(Math.min(...xs) - tol);
          expect(v).toBeLessThanOrEqual(Math.max(...xs) + tol);
        },
      ),
    );
  });
});
