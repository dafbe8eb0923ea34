/**
 * Counter series in simulated time, for the rate and store tests.
 *
 * Notation: whitespace-separated `<seconds>:<counter>` tokens, seconds relative to a base epoch second.
 *   `0.3:100 1.3:110 2.3:_ 3.3:130! 4.3:140`
 * `_` is a counter that could not be read (NaN); a trailing `!` forces a gap (the caller saw a clock jump).
 */

import { expect } from 'vitest';
import type { IncrementalRate } from '../../src/store/rates.js';

/** 2026-01-01T00:00:00Z: a multiple of 60, like every block and minute boundary. */
export const BASE = 1_767_225_600;

export interface Collection {
  /** Seconds after the base (may be fractional). */
  t: number;
  c: number;
  gap: boolean;
}

export interface Slot {
  /** Slot time, seconds after the base. */
  t: number;
  v: number;
}

export function parseSeries(spec: string): Collection[] {
  return spec
    .trim()
    .split(/\s+/)
    .map((tok) => {
      const m = /^(\d+(?:\.\d+)?):(_|-?\d+(?:\.\d+)?)(!?)$/.exec(tok);
      if (!m) throw new Error(`bad series token ${JSON.stringify(tok)}`);
      return { t: Number(m[1]), c: m[2] === '_' ? Number.NaN : Number(m[2]), gap: m[3] === '!' };
    });
}

/** Epoch microseconds of `t` seconds after `base`, as an exact integer. */
export function us(t: number, base = BASE): number {
  return base * 1e6 + Math.round(t * 1e6);
}

/** Push each collection into the rate and return what was emitted, slot times relative to base. */
export function feed(rate: IncrementalRate, cols: readonly Collection[], base = BASE): Slot[] {
  const out: Slot[] = [];
  for (const col of cols) rate.push(us(col.t, base), col.c, (t, v) => out.push({ t: t - base, v }), col.gap);
  return out;
}

/** Like feed, but one list of emitted slots per collection (what each push emitted). */
export function feedEach(rate: IncrementalRate, cols: readonly Collection[], base = BASE): Slot[][] {
  return cols.map((col) => {
    const out: Slot[] = [];
    rate.push(us(col.t, base), col.c, (t, v) => out.push({ t: t - base, v }), col.gap);
    return out;
  });
}

/** Assert slots equal `[t, v]` pairs: times exactly, values within 1e-9 (NaN matches NaN only). */
export function expectSlots(got: readonly Slot[], want: readonly (readonly [number, number])[]): void {
  const fmt = (s: readonly Slot[]) => s.map((x) => `${x.t}=${x.v}`).join(' ');
  const wantSlots = want.map(([t, v]) => ({ t, v }));
  const same =
    got.length === want.length &&
    got.every((g, i) => {
      const w = wantSlots[i]!;
      if (g.t !== w.t) return false;
      if (Number.isNaN(w.v)) return Number.isNaN(g.v);
      return Math.abs(g.v - w.v) <= 1e-9 * Math.max(1, Math.abs(w.v));
    });
  expect(fmt(got), 'emitted slots').toBe(same ? fmt(got) : fmt(wantSlots));
}
