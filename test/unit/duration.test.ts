import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration, roundHalfAway } from '../../src/health/duration.js';

const D = 86400;

describe('parseDuration()', () => {
  it.each([
    // bare numbers are seconds
    ['10', 10],
    ['+60', 60],
    ['-60', -60],
    ['0', 0],
    ['-0', 0],
    [' 60 ', 60],
    ['1705318200', 1705318200],
    // every unit
    ['5ns', 0],
    ['500000000ns', 1],
    ['499999999ns', 0],
    ['2000000us', 2],
    ['1500ms', 2],
    ['30s', 30],
    ['5m', 300],
    ['5min', 300],
    ['2h', 7200],
    ['7d', 7 * D],
    ['1w', 7 * D],
    ['1wk', 7 * D],
    ['1mo', 30 * D],
    ['1M', 30 * D], // month, as the unit table and Netdata 1.x mean it (current Netdata's strcasecmp finds `m` first)
    ['1q', 90 * D], // a quarter is 3 × 30 days
    ['1y', 365 * D],
    ['1Y', 365 * D],
    ['1a', 365 * D],
    // full names, singular and plural, any case
    ['1 nanosecond', 0],
    ['3000000000 nanoseconds', 3],
    ['2000000 microseconds', 2],
    ['1000 milliseconds', 1],
    ['30 sec', 30],
    ['30 secs', 30],
    ['1 second', 1],
    ['30 seconds', 30],
    ['30 SECONDS', 30],
    ['1 minute', 60],
    ['5 Minutes', 300],
    ['2 hr', 7200],
    ['2 hrs', 7200],
    ['1 hour', 3600],
    ['2 hours', 7200],
    ['1 day', D],
    ['7 DAYS', 7 * D],
    ['7days', 7 * D],
    ['1 week', 7 * D],
    ['2 weeks', 14 * D],
    ['1 month', 30 * D],
    ['2 months', 60 * D],
    ['1 quarter', 90 * D],
    ['2 quarters', 180 * D],
    ['1 year', 365 * D],
    ['2 years', 730 * D],
    ['1MS', 0], // no exact match: regardless of case it is ms
    ['1Min', 60],
    // fractions, rounded half away from zero
    ['1.5', 2],
    ['-1.5', -2],
    ['0.5m', 30],
    ['1.5 days', 1.5 * D],
    ['.5h', 1800],
    ['0.4', 0],
    ['2.5', 3],
    ['-2.5', -3],
    ['1e3', 1000],
    // compound forms; each part has its own sign; a leading `-` negates the whole
    ['1h30m', 5400],
    ['1h 30m', 5400],
    ['2 hours 30 minutes', 9000],
    ['15d-12h', 14.5 * D],
    ['1d-12h', 43200],
    ['2h-3h', -3600],
    ['-1h30m', -5400],
    ['-7d+1h', -(7 * D + 3600)],
    ['1.5.5', 2], // 1.5 and .5, as Netdata's number reader takes them
    // `ago` negates, once
    ['7 days ago', -7 * D],
    ['7d ago', -7 * D],
    ['2h30m ago', -9000],
    ['7 days AGO', -7 * D],
    ['7daysago', -7 * D],
    ['-7 days ago', -7 * D],
    // keywords
    ['never', 0],
    ['NEVER', 0],
    ['off', 0],
    ['Off', 0],
    // int range
    ['2147483647', 2147483647],
    ['-2147483648', -2147483648],
    ['68y', 68 * 365 * D],
  ])('%j is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toEqual({ seconds });
  });

  it.each([
    ['', 'empty duration'],
    ['   ', 'empty duration'],
    ['-', 'expected a number'],
    ['invalid', 'expected a number'],
    ['abc days', 'expected a number'],
    ['5 parsecs', "unknown unit 'parsecs'"],
    ['10x', "unknown unit 'x'"],
    ['ago', "'ago' without a duration"],
    ['5ago', "'ago' must follow a unit"],
    ['5 ago', "'ago' must follow a unit"],
    ['7 days ago extra', 'expected a number'],
    ['7 days agooo', 'expected a number'],
    ['7 ago days', "'ago' must follow a unit"],
    ['7d ago 1h', 'expected a number'],
    ['1h,30m', 'expected a number'],
    ['nan', 'expected a number'],
    ['inf', 'expected a number'],
    ['2147483648', 'out of range'],
    ['69y', 'out of range'],
    ['-2147483649', 'out of range'],
  ])('%j is an error (%s)', (text, message) => {
    const r = parseDuration(text);
    expect(r).toHaveProperty('error');
    expect((r as { error: string }).error).toContain(message);
  });

  it('never throws and always returns an int32 or an error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const r = parseDuration(s);
        if ('seconds' in r) {
          expect(Number.isInteger(r.seconds)).toBe(true);
          expect(Math.abs(r.seconds)).toBeLessThanOrEqual(2147483648);
        } else expect(typeof r.error).toBe('string');
      }),
    );
  });

  it('reads what it would print: N followed by a unit is N times the unit', () => {
    const units = { s: 1, m: 60, h: 3600, d: D, w: 7 * D } as const;
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(...Object.keys(units)), (n, u) => {
        expect(parseDuration(`${n}${u}`)).toEqual({ seconds: n * units[u as keyof typeof units] });
      }),
    );
  });
});

describe('roundHalfAway()', () => {
  it.each([
    [0.5, 1],
    [-0.5, -1],
    [2.5, 3],
    [-2.5, -3],
    [1.4, 1],
    [-1.4, -1],
    [-0.2, 0],
  ])('rounds %d to %d like C round()', (x, r) => {
    expect(roundHalfAway(x)).toBe(r);
  });
});
