/**
 * The progress bar with a simulated clock: silent unless stderr is a terminal and the size is known and large,
 * at most 10 redraws a second however often the reader reports, bytes/total, rate and ETA, erased at the end.
 */
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/report/progress.js';

const MiB = 1024 * 1024;

function harness(o: { isTty?: boolean; totalBytes?: number; columns?: number } = {}) {
  let t = 0;
  const written: string[] = [];
  const p = createProgress({
    totalBytes: o.totalBytes ?? 100 * MiB,
    isTty: o.isTty ?? true,
    columns: o.columns ?? 100,
    write: (s) => written.push(s),
    nowMs: () => t,
  });
  return {
    p,
    written,
    advance(ms: number) {
      t += ms;
    },
  };
}

describe('progress bar', () => {
  it('draws bytes read of the total, the rate and the time left', () => {
    const h = harness();
    h.advance(2000);
    h.p.update(25 * MiB);
    expect(h.written).toHaveLength(1);
    const line = h.written[0]!;
    expect(line.startsWith('\r\x1b[2K[')).toBe(true);
    expect(line).toContain(' 25%');
    expect(line).toContain('25.0 MiB / 100.0 MiB');
    expect(line).toContain('12.5 MiB/s'); // 25 MiB in 2 s
    expect(line).toContain('ETA 0:06'); // 75 MiB left at 12.5 MiB/s
    const bar = /\[(#*)(\.*)\]/.exec(line)!;
    const width = bar[1]!.length + bar[2]!.length;
    expect(bar[1]!.length).toBe(Math.round(width / 4));
    expect(line.length - '\r\x1b[2K'.length).toBeLessThan(100); // fits the terminal, last column free
  });

  it('redraws at most 10 times a second however often the reader reports', () => {
    const h = harness();
    // 10 s of reading, a 1 MiB chunk every millisecond (10,000 reports).
    for (let i = 1; i <= 10_000; i++) {
      h.advance(1);
      h.p.update(Math.min(100 * MiB, i * 10_486));
    }
    expect(h.p.draws).toBeLessThanOrEqual(101);
    expect(h.p.draws).toBeGreaterThanOrEqual(99);
    expect(h.written.length).toBe(h.p.draws);
  });

  it('erases its line at the end, once, and draws nothing after', () => {
    const h = harness();
    h.p.update(MiB);
    h.p.done();
    h.p.done();
    h.advance(1000);
    h.p.update(2 * MiB);
    expect(h.written).toEqual([expect.stringContaining('1.00 MiB'), '\r\x1b[2K']);
  });

  it('is silent when stderr is not a terminal, for unknown sizes and for small files', () => {
    for (const o of [{ isTty: false }, { totalBytes: 0 }, { totalBytes: 4 * MiB }]) {
      const h = harness(o);
      h.advance(500);
      h.p.update(MiB);
      h.p.done();
      expect(h.written, JSON.stringify(o)).toEqual([]);
    }
  });

  it('shows an unknown ETA before any byte arrived and never more than 100%', () => {
    const h = harness();
    h.p.update(0);
    expect(h.written[0]).toContain('ETA --:--');
    h.advance(200);
    h.p.update(150 * MiB); // a file that grew while being read
    expect(h.written[1]).toContain('100%');
    expect(h.written[1]).toMatch(/\[#+\]/);
  });
});

describe('progress bar width', () => {
  it('fits narrow terminals by dropping the bar, and takes 80 columns when the terminal says 0', () => {
    const narrow = harness({ columns: 50 });
    narrow.advance(1000);
    narrow.p.update(50 * MiB);
    const line = narrow.written[0]!.slice('\r\x1b[2K'.length);
    expect(line.length).toBeLessThan(50);
    expect(line).not.toContain('[');
    expect(line).toMatch(/^50%/);
    const zero = harness({ columns: 0 });
    zero.advance(1000);
    zero.p.update(50 * MiB);
    const z = zero.written[0]!.slice('\r\x1b[2K'.length);
    expect(z.length).toBeLessThan(80);
    expect(z).toMatch(/^\[#+\.+\] +50% {2}50\.0 MiB \/ 100\.0 MiB {2}50\.0 MiB\/s {2}ETA 0:01$/);
  });
});
