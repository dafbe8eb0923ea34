/**
 * The whole alert engine (HealthEngine + Store + the shipped reset alerts) in simulated time, against
 * shared/design/netdata-health-semantics.md §2.5–2.6, §3, §5 and §7.
 *
 * How the expected numbers are computed (see test/helpers/health-sim.ts):
 * - S = SIM_START is the agent start and the first collection (at S + 0.2 s). The rate r(t) of second t is
 *   the counter increase between the collections at t − 0.8 and t + 0.2, so the stored slot is
 *   slot(t) = 0.2·r(t−1) + 0.8·r(t) (interpolation onto whole seconds, §5); slot S is a gap and the first
 *   slot after a gap is 0.8·r.
 * - At iterate(t) the newest slot is t, but the 10 s window ends at now − 1 (lookup.ts): `$this` is the mean
 *   of slots [t−10, t−1]. The 1m window (`-1m at -10s`) is [t−70, t−11] (§5, §7.8).
 * - The 10 s alerts first run at S+9 (runnable once now − 10 + 1 ≥ first slot, §3.2 rule 7), then every 10 s:
 *   at S+9+10k, never a multiple of 10 (S is). The 1m alerts first run at S+69 (now − 70 + 1 ≥ S), the same
 *   phase. netdata.uptime at t is t − S, so the guard `uptime > 60` holds from S+61 on.
 * - B = max(5, $1m); raise when `$this > 10·B`, hold while `$this > B` (§1.1).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AlarmEntry, FLAG } from '../../src/health/engine.js';
import { formatNumber } from '../../src/health/expr/index.js';
import { STATUS, type Status } from '../../src/health/types.js';
import {
  flagNames,
  formatRates,
  HealthSim,
  hasFlag,
  type Piece,
  parseRates,
  type Rate,
  SIM_START as S,
  shippedResetAlerts,
} from '../helpers/health-sim.js';

const R10 = '10s_ipv4_tcp_resets_received';
const R1M = '1m_ipv4_tcp_resets_received';
const S10 = '10s_ipv4_tcp_resets_sent';
const S1M = '1m_ipv4_tcp_resets_sent';

/** The entry of `name` written at `when` (exactly one). */
function entryAt(sim: HealthSim, name: string, when: number): AlarmEntry {
  const found = sim.entriesOf(name).filter((e) => e.when === when && !(e.oldStatus === -2));
  if (found.length !== 1) throw new Error(`${found.length} entries of ${name} at start+${when - S}`);
  return found[0]!;
}

/** How the evaluation trace shows a variable: `[ ${name} = value ]`. */
const traced = (name: string, v: string | number) => `[ \${${name}} = ${v} ]`;

/** Evaluation times of an alert, relative to S. */
function evalTimes(sim: HealthSim, name: string): number[] {
  return sim.evaluationsOf(name).map((e) => e.t - S);
}

describe('the harness itself', () => {
  it('expands the rate notation', () => {
    expect(parseRates('0x3 300x2 _x2 5 8x3~2')).toEqual([0, 0, 0, 300, 300, null, null, 5, 10, 6, 10]);
    expect(
      formatRates([
        { rate: 1, seconds: 2 },
        { rate: null, seconds: 3 },
      ]),
    ).toBe('1x2 _x3');
    expect(() => parseRates('3y2')).toThrow(/bad rate token/);
  });

  it('stores slot(t) = 0.2·r(t−1) + 0.8·r(t) and the 10 s lookup reads [t−10, t−1]', () => {
    // r = 0 for S..S+198, 80 from S+199: slot S+199 = 0.8·80 = 64, S+200.. = 80.
    const sim = new HealthSim().run('0x199 80x12');
    const ev = sim.evaluationAt(R10, S + 209);
    expect(ev.dbAfter).toBe(S + 199);
    expect(ev.dbBefore).toBe(S + 208);
    // (64 + 9·80) / 10 = 78.4
    expect(ev.value).toBeCloseTo(78.4, 9);
  });
});

describe('§3.7 worked timeline with a concrete series (shipped 10s_ipv4_tcp_resets_received)', () => {
  // t0 = S+209 is an evaluation of the 10 s alert. AttemptFails per second:
  //   1/s until t0−12; 80/s t0−11..t0−1; 60/s t0..t0+9; 40/s t0+10..t0+19; 1/s t0+20..t0+88;
  //   80/s t0+89..t0+99; 1/s t0+100..t0+188; 80/s t0+189..t0+239; 1/s t0+240..t0+259.
  // Slots: t0−11 = 0.2+64 = 64.2, t0−10..t0−1 = 80, t0 = 16+48 = 64, t0+1..t0+9 = 60, t0+10 = 12+32 = 44,
  //   t0+11..t0+19 = 40, t0+20 = 8+0.8 = 8.8, then 1 …; t0+89 = 64.2, t0+90..t0+99 = 80, t0+100 = 16.8;
  //   t0+189 = 64.2, t0+190..t0+239 = 80, t0+240 = 16.8.
  const t0 = S + 209;
  const series = '1x198 80x11 60x10 40x10 1x69 80x11 1x89 80x51 1x20';
  let cached: HealthSim | undefined;
  const sim = () => {
    cached ??= new HealthSim().run(series);
    return cached;
  };

  it('10 s averages and baselines at each evaluation', () => {
    const s = sim();
    const expected: [number, number, number][] = [
      // [t, $this, $1m]
      // t0−10: this = (9·1 + 64.2)/10 = 7.32; 1m over [t0−80, t0−21] = 1
      [t0 - 10, 7.32, 1],
      // t0: this = 80; 1m over [t0−70, t0−11] = (59 + 64.2)/60
      [t0, 80, 123.2 / 60],
      // t0+10: this = (64 + 9·60)/10 = 60.4; 1m over [t0−60, t0−1] = (49 + 64.2 + 800)/60 = 15.22
      [t0 + 10, 60.4, 913.2 / 60],
      // t0+20: this = (44 + 9·40)/10 = 40.4; 1m over [t0−50, t0+9] = (39 + 64.2 + 800 + 64 + 540)/60
      [t0 + 20, 40.4, 1507.2 / 60],
      // t0+30: this = (8.8 + 9)/10 = 1.78; 1m over [t0−40, t0+19] = (29 + 64.2 + 800 + 604 + 404)/60
      [t0 + 30, 1.78, 1901.2 / 60],
      // t0+90: this = (9 + 64.2)/10; 1m over [t0+20, t0+79] = (8.8 + 59)/60
      [t0 + 90, 7.32, 67.8 / 60],
      // t0+100: this = 80; 1m over [t0+30, t0+89] = (59 + 64.2)/60
      [t0 + 100, 80, 123.2 / 60],
      // t0+110: this = (16.8 + 9)/10 = 2.58; 1m over [t0+40, t0+99] = (49 + 64.2 + 800)/60
      [t0 + 110, 2.58, 913.2 / 60],
      // t0+200: this = 80; 1m over [t0+130, t0+189] = (59 + 64.2)/60
      [t0 + 200, 80, 123.2 / 60],
      // t0+240: this = 80; 1m over [t0+170, t0+229] = (19 + 64.2 + 40·80)/60
      [t0 + 240, 80, 3283.2 / 60],
      // t0+250: this = (16.8 + 9)/10; 1m over [t0+180, t0+239] = (9 + 64.2 + 50·80)/60 = 67.89
      [t0 + 250, 2.58, 4073.2 / 60],
    ];
    for (const [t, v, b] of expected) {
      expect(s.evaluationAt(R10, t).value, `$this at t0+${t - t0}`).toBeCloseTo(v, 9);
      expect(s.evaluationAt(R1M, t).value, `$1m at t0+${t - t0}`).toBeCloseTo(b, 9);
    }
  });

  it('status sequence, transition times and delays: 20, 3600, 24, 5184, 33, then 3600 again', () => {
    // S+9: first run, uptime 9 → the guard is 0 → CLEAR; UNINITIALIZED→CLEAR is "up": delay 20 (§7.6).
    // t0: 80 > 10·5 → WARNING; t0 > S+29 (last delay window) → delays reset → up 20.
    // t0+10: 60.4 > 1·15.22, t0+20: 40.4 > 25.12 → held by the hysteresis.
    // t0+30: 1.78 ≤ 31.69 → CLEAR; t0+30 > t0+20 → reset → down 3600 (window to t0+3630).
    // t0+100: 80 > 50 → WARNING; t0+100 ≤ t0+3630 → both multiplied: up 24, down 4320 → 24 (to t0+124).
    // t0+110: 2.58 ≤ 15.22 → CLEAR; t0+110 ≤ t0+124 → multiplied again: up 28, down 5184 → 5184.
    // t0+200: 80 > 50 → WARNING; t0+200 ≤ t0+5294 → up 33 (28·1.2 = 33.6), down 6220 → 33 (to t0+233).
    // t0+210..t0+240 hold (80 > 15.2, 28.4, 41.6, 54.7); t0+250: 2.58 ≤ 67.89 → CLEAR; t0+250 > t0+233 →
    //   the delays reset (the last delay has fully elapsed) → down 3600, not 6220.
    expect(sim().transitionsOf(R10)).toEqual([
      [S + 9, 'UNINITIALIZED→CLEAR', 20],
      [t0, 'CLEAR→WARNING', 20],
      [t0 + 30, 'WARNING→CLEAR', 3600],
      [t0 + 100, 'CLEAR→WARNING', 24],
      [t0 + 110, 'WARNING→CLEAR', 5184],
      [t0 + 200, 'CLEAR→WARNING', 33],
      [t0 + 250, 'WARNING→CLEAR', 3600],
    ]);
    const statuses = sim()
      .evaluationsOf(R10)
      .filter((e) => e.t >= t0 - 10 && e.t <= t0 + 40)
      .map((e) => [e.t - t0, e.status]);
    expect(statuses).toEqual([
      [-10, STATUS.CLEAR],
      [0, STATUS.WARNING],
      [10, STATUS.WARNING],
      [20, STATUS.WARNING],
      [30, STATUS.CLEAR],
      [40, STATUS.CLEAR],
    ]);
  });

  it('delay_up_to_timestamp = when + delay; the status flips at once (the delay is for notifications only)', () => {
    const e1 = entryAt(sim(), R10, t0);
    expect([e1.delay, e1.delayUpToTimestamp]).toEqual([20, t0 + 20]);
    expect(sim().evaluationAt(R10, t0).status).toBe(STATUS.WARNING);
    const e4 = entryAt(sim(), R10, t0 + 110);
    expect(e4.delayUpToTimestamp).toBe(t0 + 110 + 5184);
  });

  it('notifications: the WARNING at t0 at t0+20, the one at t0+200 at t0+233; the flap at t0+100 never', () => {
    const n = sim().notificationsOf(R10);
    expect(n.map((x) => [x.t - t0, x.entry.when - t0, x.newStatus, x.recipient])).toEqual([
      [20, 0, STATUS.WARNING, 'silent'],
      [233, 200, STATUS.WARNING, 'silent'],
    ]);
    expect(sim().notifications.every((x) => x.name === R10)).toBe(true);
  });

  it('the superseded WARNING (t0+100, cleared at t0+110 < t0+124) is UPDATED and never processed or run', () => {
    const e3 = entryAt(sim(), R10, t0 + 100);
    const e4 = entryAt(sim(), R10, t0 + 110);
    // (Every entry of an alert with `options: no-clear-notification` carries the flag, as in Netdata.)
    expect(flagNames(e3)).toEqual(['UPDATED', 'NO_CLEAR_NOTIFICATION']);
    expect(e3.updatedById).toBe(e4.uniqueId);
    expect(e4.updatesId).toBe(e3.uniqueId);
    expect(e3.execRunTimestamp).toBe(0);
  });

  it('each CLEAR carries NO_CLEAR_NOTIFICATION; those superseded before their delay are UPDATED, never PROCESSED', () => {
    // The spec's §3.7 table says E2 (the CLEAR at t0+30, delay to t0+3630) "is processed at t ≥ 3630 and
    // skipped", but the WARNING at t0+100 supersedes it first (§3.5): it is UPDATED and never processed.
    for (const dt of [30, 110]) {
      const e = entryAt(sim(), R10, t0 + dt);
      expect(hasFlag(e, FLAG.NO_CLEAR_NOTIFICATION)).toBe(true);
      expect(hasFlag(e, FLAG.UPDATED)).toBe(true);
      expect(hasFlag(e, FLAG.PROCESSED)).toBe(false);
      expect(hasFlag(e, FLAG.EXEC_RUN)).toBe(false);
    }
    // The last CLEAR (t0+250, up to t0+3850) is still pending when the run ends (t0+259).
    const last = entryAt(sim(), R10, t0 + 250);
    expect(last.flags & (FLAG.PROCESSED | FLAG.UPDATED)).toBe(0);
    expect(sim().engine.log.pending()).toContain(last);
  });

  it('the notified WARNING was executed, then superseded by the CLEAR (UPDATED after EXEC_RUN)', () => {
    const e1 = entryAt(sim(), R10, t0);
    expect(flagNames(e1)).toEqual(['PROCESSED', 'UPDATED', 'EXEC_RUN', 'NO_CLEAR_NOTIFICATION']);
    expect(e1.execRunTimestamp).toBe(t0 + 20);
    expect(e1.updatedById).toBe(entryAt(sim(), R10, t0 + 30).uniqueId);
  });

  it('the other alerts: the sent pair stays CLEAR (OutRsts is 0), the 1m pair is UNDEFINED from S+69', () => {
    expect(sim().transitionsOf(S10)).toEqual([[S + 9, 'UNINITIALIZED→CLEAR', 20]]);
    expect(sim().transitionsOf(R1M)).toEqual([[S + 69, 'UNINITIALIZED→UNDEFINED', 0]]);
    expect(sim().transitionsOf(S1M)).toEqual([[S + 69, 'UNINITIALIZED→UNDEFINED', 0]]);
  });
});

describe('uptime guard: `$netdata.uptime.uptime > 60`', () => {
  // The agent runs 120 s at 0/s (S..S+119), is down 5 s, and starts again at R = S+125 with its history
  // (as loaded from disk). The new engine's alerts are runnable at R+1 (second collection; the data reach
  // back to S), so they run at R+1, R+11, …; uptime at R+k is k. The 1m baseline is available at once
  // (window [R+k−70, R+k−11] is zeros and the restart gap: 0 → B = 5), so only the guard can stop a raise.
  const R = S + 125;
  const restarted = () => {
    const sim = new HealthSim().run('0x120');
    sim.restart(5);
    expect(sim.t).toBe(R);
    return sim;
  };

  it('a 300/s storm in the first 60 s of uptime never raises', () => {
    // r = 300 for R+1..R+50: slot R+1 = 0.8·300 = 240 (first slot after the restart), R+2..R+50 = 300.
    const sim = restarted().run('0 300x50 0x30');
    // R+11: this = (240 + 9·300)/10 = 294 > 50, 1m = 0, but uptime 11: the AND stops at the guard.
    const ev = sim.evaluationAt(R10, R + 11);
    expect(ev.value).toBeCloseTo(294, 9);
    expect(sim.evaluationAt(R1M, R + 11).value).toBe(0);
    expect(ev.warnTrace).toContain(traced('netdata.uptime.uptime', 11));
    expect(ev.warnTrace).not.toContain(traced('this', '').slice(0, 9));
    // R+51: uptime 51, this = 300. R+61: uptime 61, but this = 0.2·300/10 = 6 ≤ 10·B (B = 249).
    expect(sim.evaluationAt(R10, R + 51).value).toBeCloseTo(300, 9);
    expect(sim.evaluationAt(R10, R + 61).value).toBeCloseTo(6, 9);
    expect(evalTimes(sim, R10).filter((t) => t >= R - S)).toEqual(
      [1, 11, 21, 31, 41, 51, 61, 71].map((k) => R - S + k),
    );
    const after = sim.transitionsOf(R10).filter(([t]) => t >= R);
    expect(after).toEqual([[R + 1, 'UNINITIALIZED→CLEAR', 20]]);
    expect(sim.notifications).toEqual([]);
  });

  it('the same storm 60 s later raises: same $this (294), same B (5), uptime 71', () => {
    // r = 300 for R+61..R+110: slot R+61 = 240, R+62.. = 300. R+71: this = 294; 1m over [R+1, R+60] = 0.
    const sim = restarted().run('0x61 300x50 0x20');
    const ev = sim.evaluationAt(R10, R + 71);
    expect(ev.value).toBeCloseTo(294, 9);
    expect(sim.evaluationAt(R1M, R + 71).value).toBe(0);
    expect(ev.warnTrace).toContain(traced('netdata.uptime.uptime', 71));
    const after = sim.transitionsOf(R10).filter(([t]) => t >= R);
    expect(after.slice(0, 2)).toEqual([
      [R + 1, 'UNINITIALIZED→CLEAR', 20],
      [R + 71, 'CLEAR→WARNING', 20],
    ]);
    // The unique ids continue across the restart (the agent restores them).
    const ids = sim.entries.map((e) => e.uniqueId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('hysteresis: raise above 10·max(5, B), hold above 1·max(5, B)', () => {
  const t0 = S + 209;

  it('80/s then 20/s stays WARNING (21.2 < 50 but > B), then 12/s clears (12.16 ≤ B = 17.93)', () => {
    // r: 0 until t0−12, 80 t0−11..t0−1, 20 t0..t0+9, 12 t0+10..t0+19, then 0.
    // Slots: t0−11 = 64, t0−10..t0−1 = 80, t0 = 16+16 = 32, t0+1..t0+9 = 20, t0+10 = 4+9.6 = 13.6, then 12.
    // t0: this 80, 1m (64)/60 → B = 5 → 80 > 50 → WARNING.
    // t0+10: this (32 + 180)/10 = 21.2; 1m over [t0−60, t0−1] = 864/60 = 14.4 → 21.2 > 14.4 → held
    //   (from CLEAR it would need > 144).
    // t0+20: this (13.6 + 108)/10 = 12.16; 1m over [t0−50, t0+9] = (864 + 212)/60 = 17.93 → CLEAR, although
    //   12.16 > 5: the hold threshold is the baseline, not the floor. The delay: t0+20 is not after the
    //   raise's window end (t0+20; `now > delay_up_to_timestamp` is false) → multiplied → down 4320.
    const sim = new HealthSim().run('0x198 80x11 20x10 12x10 0x30');
    expect(sim.evaluationAt(R10, t0 + 10).value).toBeCloseTo(21.2, 9);
    expect(sim.evaluationAt(R1M, t0 + 10).value).toBeCloseTo(14.4, 9);
    expect(sim.evaluationAt(R10, t0 + 20).value).toBeCloseTo(12.16, 9);
    expect(sim.evaluationAt(R1M, t0 + 20).value).toBeCloseTo(1076 / 60, 9);
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [t0, 'CLEAR→WARNING', 20],
      [t0 + 20, 'WARNING→CLEAR', 4320],
    ]);
  });

  it('a steady 20/s after the spike is held until the baseline catches up with it', () => {
    // t0+20: this 20 > 17.93 → held. t0+30: 1m over [t0−40, t0+19] = (864 + 212 + 200)/60 = 21.27 ≥ 20
    //   → CLEAR while still 20/s.
    const sim = new HealthSim().run('0x198 80x11 20x40');
    expect(sim.evaluationAt(R1M, t0 + 30).value).toBeCloseTo(1276 / 60, 9);
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [t0, 'CLEAR→WARNING', 20],
      [t0 + 30, 'WARNING→CLEAR', 3600],
    ]);
  });

  it('a steady 20/s from a quiet start never raises (20 ≤ 50)', () => {
    const sim = new HealthSim().run('0x100 20x200');
    expect(sim.transitionsOf(R10)).toEqual([[S + 9, 'UNINITIALIZED→CLEAR', 20]]);
  });

  it('with a baseline of 8/s the raise threshold is 80/s: 73.66 does not raise, 88.36 does', () => {
    // r: 8 for S..S+198, 75 for S+199..S+208, 8 for S+209..S+298, 90 for S+299..S+308, 8 after.
    // t1 = S+209: slots S+199 = 1.6 + 60 = 61.6, S+200..S+208 = 75 → this = (61.6 + 675)/10 = 73.66;
    //   1m over [S+139, S+198] = 8 → B = 8 → 73.66 ≤ 80 → CLEAR (it would raise against the floor 50).
    // t2 = S+309: slot S+299 = 1.6 + 72 = 73.6, S+300..S+308 = 90 → this = 88.36; 1m over [S+239, S+298] = 8
    //   (the spike's tail slot S+209 = 21.4 has left it) → 88.36 > 80 → WARNING.
    // S+319: this = (0.2·90 + 0.8·8 + 9·8)/10 = 9.64 ≤ B = (50·8 + 73.6 + 810)/60 = 21.39 → CLEAR, inside the
    //   raise's window (S+319 ≤ S+329) → down 3600·1.2 = 4320.
    const sim = new HealthSim().run('8x199 75x10 8x90 90x10 8x30');
    expect(sim.evaluationAt(R10, S + 209).value).toBeCloseTo(73.66, 9);
    expect(sim.evaluationAt(R1M, S + 209).value).toBeCloseTo(8, 9);
    expect(sim.evaluationAt(R10, S + 309).value).toBeCloseTo(88.36, 9);
    expect(sim.evaluationAt(R1M, S + 309).value).toBeCloseTo(8, 9);
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [S + 309, 'CLEAR→WARNING', 20],
      [S + 319, 'WARNING→CLEAR', 4320],
    ]);
  });

  it('the same 75/s spike over a quiet baseline raises (73.5 > 50)', () => {
    // slot S+199 = 0.8·75 = 60, S+200..S+208 = 75 → this = 73.5; B = 5.
    // S+219: this = 0.2·75/10 = 1.5 ≤ B = 735/60 = 12.25 → CLEAR inside the window (≤ S+229) → 4320.
    const sim = new HealthSim().run('0x199 75x10 0x30');
    expect(sim.evaluationAt(R10, S + 209).value).toBeCloseTo(73.5, 9);
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [S + 209, 'CLEAR→WARNING', 20],
      [S + 219, 'WARNING→CLEAR', 4320],
    ]);
  });
});

describe('NaN and data gaps', () => {
  it('a 15 s collection gap during an active WARNING clears it (NaN > x is 0 → CLEAR, not UNDEFINED)', () => {
    const t0 = S + 209;
    // r: 0 until t0−12, 80 t0−11..t0+16, no collection t0+17..t0+31, 80 from t0+32.
    // t0: WARNING (this 80, B 5). t0+10: this 80 > 14.4. t0+20: the newest slot is t0+16, so the window is
    //   [t0+7, t0+16] (it ends at the last stored slot): 80 > B = (64 + 19·80)/60 = 26.4 → held.
    // t0+30, t0+31: not runnable (§3.2 rule 7: now − 10 − 1 > last slot t0+16): skipped, next_update stays.
    // t0+32: the collection at t0+32.2 ends the gap: slots t0+17..t0+32 are gaps and the newest slot is
    //   t0+32 → window [t0+22, t0+31], all gaps → $this = NaN → `NaN > …` = 0 → CLEAR (delay: t0+32 > t0+20
    //   → reset → 3600). The schedule is re-anchored: t0+42, t0+52, …
    // t0+42: this = (64 + 8·80)/9 = 78.22 (slot t0+32 is a gap, t0+33 = 0.8·80); $1m as computed at t0+40
    //   over [t0−30, t0+29] = (64 + 27·80)/47 = 47.32 → 78.22 ≤ 473 → stays CLEAR.
    // gap_probe: the same window with a plain `$this > 50` — a top-level comparison with NaN is 0 → CLEAR.
    const probe = `
 alarm: gap_probe
    on: ip.tcphandshake
lookup: average -10s unaligned absolute of AttemptFails
 every: 10s
  warn: $this > 50
`;
    const sim = new HealthSim({ config: shippedResetAlerts() + probe }).run('0x198 80x28 _x15 80x30');
    expect(sim.evaluationsOf('gap_probe').map((e) => [e.t - t0, e.status])).toContainEqual([
      32,
      STATUS.CLEAR,
    ]);
    expect(sim.evaluationAt('gap_probe', t0 + 32).value).toBeNaN();
    expect(sim.alert('gap_probe').warnResult?.ok).toBe(true);
    // … and with data back (78.22 > 50) it is WARNING again at t0+42: never UNDEFINED.
    expect(sim.transitionsOf('gap_probe').map(([t, w]) => [t - t0, w])).toEqual([
      [S + 9 - t0, 'UNINITIALIZED→CLEAR'],
      [0, 'CLEAR→WARNING'],
      [32, 'WARNING→CLEAR'],
      [42, 'CLEAR→WARNING'],
    ]);
    const ev20 = sim.evaluationAt(R10, t0 + 20);
    expect([ev20.dbAfter, ev20.dbBefore]).toEqual([t0 + 7, t0 + 16]);
    expect(ev20.value).toBeCloseTo(80, 9);
    expect(ev20.status).toBe(STATUS.WARNING);
    const ev32 = sim.evaluationAt(R10, t0 + 32);
    expect(ev32.value).toBeNaN();
    expect(ev32.status).toBe(STATUS.CLEAR);
    expect(evalTimes(sim, R10).filter((t) => t >= 209 && t <= 262)).toEqual([209, 219, 229, 241, 251, 261]);
    expect(sim.evaluationAt(R10, t0 + 42).value).toBeCloseTo(704 / 9, 9);
    expect(sim.evaluationAt(R1M, t0 + 40).value).toBeCloseTo(2224 / 47, 9);
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [t0, 'CLEAR→WARNING', 20],
      [t0 + 32, 'WARNING→CLEAR', 3600],
    ]);
    const clear = entryAt(sim, R10, t0 + 32);
    expect(clear.oldValue).toBeCloseTo(80, 9);
    expect(clear.newValue).toBeNaN();
    // The 1m alerts kept their schedule through the gap and never left UNDEFINED.
    expect(evalTimes(sim, R1M).filter((t) => t >= 229 && t <= 249)).toEqual([229, 239, 249]);
    expect(sim.transitionsOf(R1M)).toEqual([[S + 69, 'UNINITIALIZED→UNDEFINED', 0]]);
  });

  it('the 1m baseline alarms are permanently UNDEFINED after their first evaluation, whatever the data', () => {
    const sim = new HealthSim().run({
      AttemptFails: '0x80 300x30 _x20 1x40 500x5 0x100',
      OutRsts: '3x100 _x30 900x20 0x125',
    });
    for (const name of [R1M, S1M]) {
      expect(sim.transitionsOf(name)).toEqual([[S + 69, 'UNINITIALIZED→UNDEFINED', 0]]);
      const evs = sim.evaluationsOf(name);
      expect(evs.length).toBeGreaterThan(10);
      expect(evs.every((e) => e.status === STATUS.UNDEFINED)).toBe(true);
      expect(sim.alert(name).status).toBe(STATUS.UNDEFINED);
    }
  });

  it('before enough data the alerts are not runnable: UNINITIALIZED until S+9 (10 s lookup) and S+69 (1m)', () => {
    const sim = new HealthSim();
    sim.runUntil(S + 8);
    for (const name of [R10, S10, R1M, S1M]) {
      expect(sim.alert(name).status).toBe(STATUS.UNINITIALIZED);
      expect(sim.alert(name).lastUpdated).toBe(0);
    }
    sim.runUntil(S + 9);
    expect(sim.alert(R10).status).toBe(STATUS.CLEAR);
    expect(sim.alert(S10).status).toBe(STATUS.CLEAR);
    expect(sim.alert(R10).lastUpdated).toBe(S + 9);
    sim.runUntil(S + 68);
    expect(sim.alert(R1M).status).toBe(STATUS.UNINITIALIZED);
    expect(sim.alert(R1M).value).toBeNaN();
    sim.runUntil(S + 69);
    expect(sim.alert(R1M).status).toBe(STATUS.UNDEFINED);
    expect(sim.alert(S1M).status).toBe(STATUS.UNDEFINED);
    expect(evalTimes(sim, R10)[0]).toBe(9);
    expect(evalTimes(sim, R1M)).toEqual([69]);
  });
});

describe('evaluation schedule anchored to the first run (§3.2)', () => {
  const extra = `
 alarm: every7_after_lookup
    on: ip.tcphandshake
lookup: average -10s unaligned of AttemptFails
 every: 7s
  warn: $this > 1000

 alarm: every7_before_lookup
    on: ip.tcphandshake
 every: 7s
lookup: average -10s unaligned of AttemptFails
  warn: $this > 1000

 alarm: every7_no_lookup
    on: ip.tcphandshake
  calc: $AttemptFails
 every: 7s
  warn: $this > 1000
`;

  it('every: 10s runs at T, T+10, … from the first runnable second; every: 7s likewise; lastUpdated/nextUpdate follow', () => {
    const sim = new HealthSim({ config: shippedResetAlerts() + extra });
    const seen: [number, number, number][] = [];
    sim.run('1x100', (t) => {
      const a = sim.alert(R10);
      seen.push([
        t - S,
        a.lastUpdated === 0 ? 0 : a.lastUpdated - S,
        a.nextUpdate === 0 ? 0 : a.nextUpdate - S,
      ]);
    });
    // Before S+9 nothing ran (0/0); then last = 9 + 10·⌊(k−9)/10⌋, next = last + 10.
    for (const [k, last, next] of seen) {
      if (k < 9) expect([last, next]).toEqual([0, 0]);
      else {
        const l = 9 + 10 * Math.floor((k - 9) / 10);
        expect([k, last, next]).toEqual([k, l, l + 10]);
      }
    }
    expect(evalTimes(sim, R10)).toEqual([9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
    expect(evalTimes(sim, R1M)).toEqual([69, 79, 89, 99]);
    // Not wall-clock multiples of 10 (S is one).
    expect(sim.evaluationsOf(R10).some((e) => e.t % 10 === 0)).toBe(false);
    // every: 7s after the lookup: first runnable at S+9 (10 s lookup), then +7.
    expect(evalTimes(sim, 'every7_after_lookup')).toEqual([
      9, 16, 23, 30, 37, 44, 51, 58, 65, 72, 79, 86, 93,
    ]);
    // §7.7: `every:` before `lookup:` is overridden by |after| = 10 s.
    expect(sim.alert('every7_before_lookup').compiled.config.every).toBe(10);
    expect(evalTimes(sim, 'every7_before_lookup')).toEqual([9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
    // No lookup: runnable once the chart was collected twice (S+1).
    expect(evalTimes(sim, 'every7_no_lookup')).toEqual([
      1, 8, 15, 22, 29, 36, 43, 50, 57, 64, 71, 78, 85, 92, 99,
    ]);
    const a7 = sim.alert('every7_after_lookup');
    expect([a7.lastUpdated, a7.nextUpdate]).toEqual([S + 93, S + 100]);
  });
});

describe('notification decisions (§3.8) in the engine', () => {
  it('shipped alert: a WARNING surviving its 20 s delay is sent at raise + 20 (to: silent is still "send"); its CLEAR is processed at clear + 3600 but never executed', () => {
    const t0 = S + 209;
    // r: 0 until t0−12, 80 for t0−11..t0+28, then 0. Evaluations: t0 80 → WARNING (delay 20, to t0+20);
    // t0+10, t0+20: 80 → held; t0+30: (9·80 + 16)/10 = 73.6 > B = (64 + 29·80)/60 = 39.73 → held;
    // t0+40: 0 → CLEAR; t0+40 > t0+20 → reset → down 3600 → processed at t0+3640.
    const sim = new HealthSim();
    const processedAt = new Map<number, number>();
    const watch = (t: number) => {
      for (const e of sim.entries)
        if (hasFlag(e, FLAG.PROCESSED) && !processedAt.has(e.uniqueId)) processedAt.set(e.uniqueId, t);
    };
    sim.run('0x198 80x40 0x60', watch);
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [t0, 'CLEAR→WARNING', 20],
      [t0 + 40, 'WARNING→CLEAR', 3600],
    ]);
    const warn = entryAt(sim, R10, t0);
    expect(sim.notifications.map((n) => [n.t, n.entry])).toEqual([[t0 + 20, warn]]);
    expect(sim.notifications[0]!.recipient).toBe('silent');
    expect(processedAt.get(warn.uniqueId)).toBe(t0 + 20);
    expect(warn.execRunTimestamp).toBe(t0 + 20);
    // The initial UNINITIALIZED→CLEAR (delay 20): processed at S+29, not executed (no-clear-notification).
    const first = entryAt(sim, R10, S + 9);
    expect(processedAt.get(first.uniqueId)).toBe(S + 29);
    expect(hasFlag(first, FLAG.EXEC_RUN)).toBe(false);
    // The REMOVED→UNINITIALIZED entries (delay 0) are processed at the first iteration, never executed.
    const announced = sim.entries.filter((e) => e.oldStatus === STATUS.REMOVED);
    expect(announced).toHaveLength(4);
    for (const e of announced) expect(processedAt.get(e.uniqueId)).toBe(S);

    const clear = entryAt(sim, R10, t0 + 40);
    sim.runUntil(t0 + 3639);
    expect(hasFlag(clear, FLAG.PROCESSED)).toBe(false);
    sim.runUntil(t0 + 3641);
    expect(flagNames(clear)).toEqual(['PROCESSED', 'NO_CLEAR_NOTIFICATION']);
    expect(sim.notifications).toHaveLength(1);
  });

  it('inline alert without no-clear-notification: first CLEAR not sent, CLEAR after a sent WARNING sent, same status twice not sent twice', () => {
    const config = `
 alarm: plain_resets_sent
    on: ip.tcphandshake
lookup: average -10s unaligned absolute of OutRsts
 every: 10s
  warn: $this > 50
 delay: up 20s down 60s multiplier 1.5 max 1h
    to: sysadmin
`;
    // Evaluations at S+9+10k. Each spike: OutRsts 100/s from t−11 to t+28 (40 s): this = 100 at t, t+10,
    // t+20, (9·100 + 20)/10 = 92 at t+30, 0 at t+40.
    // S+9: UNINITIALIZED→CLEAR, delay 20 → processed S+29: first CLEAR → not executed.
    // t1 = S+109: WARNING (reset → 20) → sent at t1+20. t1+40: CLEAR (t1+40 > t1+20 → reset → down 60)
    //   → sent at t1+100 (the last executed entry is a WARNING).
    // t2 = S+259: WARNING (t2 > t1+100 → 20) → sent at t2+20. t2+40: CLEAR, 60 → window to t2+100.
    // t3 = S+319 = t2+60 ≤ t2+100: WARNING with up 20·1.5 = 30 (down 90); the CLEAR of t2+40 is UPDATED and
    //   never sent. t3+30: processed, but the last executed entry (t2) is a WARNING → not sent.
    // t3+40: CLEAR (t3+40 > t3+30 → reset → 60) → sent at t3+100 (the last executed is still t2's WARNING).
    const t1 = S + 109;
    const t2 = S + 259;
    const t3 = S + 319;
    const sim = new HealthSim({ config });
    sim.run({ OutRsts: '0x98 100x40 0x110 100x40 0x20 100x40 0x82' });
    const name = 'plain_resets_sent';
    expect(sim.transitionsOf(name)).toEqual([
      [S + 9, 'UNINITIALIZED→CLEAR', 20],
      [t1, 'CLEAR→WARNING', 20],
      [t1 + 40, 'WARNING→CLEAR', 60],
      [t2, 'CLEAR→WARNING', 20],
      [t2 + 40, 'WARNING→CLEAR', 60],
      [t3, 'CLEAR→WARNING', 30],
      [t3 + 40, 'WARNING→CLEAR', 60],
    ]);
    expect(sim.notifications.map((n) => [n.t - S, n.entry.when - S, n.newStatus, n.recipient])).toEqual([
      [129, 109, STATUS.WARNING, 'sysadmin'],
      [209, 149, STATUS.CLEAR, 'sysadmin'],
      [279, 259, STATUS.WARNING, 'sysadmin'],
      [419, 359, STATUS.CLEAR, 'sysadmin'],
    ]);
    const firstClear = entryAt(sim, name, S + 9);
    expect(flagNames(firstClear)).toEqual(['PROCESSED', 'UPDATED']);
    expect(flagNames(entryAt(sim, name, t2 + 40))).toEqual(['UPDATED']);
    const sameAgain = entryAt(sim, name, t3);
    expect(hasFlag(sameAgain, FLAG.PROCESSED)).toBe(true);
    expect(hasFlag(sameAgain, FLAG.EXEC_RUN)).toBe(false);
  });
});

describe('notification memory across an agent restart (§3.8 step 4 looks up the persistent log)', () => {
  // Netdata finds "the last entry of this alarm_id with EXEC_RUN set" with a SQL query over health_log, and
  // alarm_id is stable per host + chart + name across restarts (§3.5, §3.8). So a restart of the agent does
  // not make it forget what it already notified. The harness restarts like agent.ts does: history reloaded,
  // a new engine, the log's unique and event ids restored, uptime from 0.
  const config = `
 alarm: plain_resets_sent
    on: ip.tcphandshake
lookup: average -10s unaligned absolute of OutRsts
 every: 10s
  warn: $this > 50
 delay: up 20s down 60s multiplier 1.5 max 1h
    to: sysadmin
`;
  const name = 'plain_resets_sent';

  it('a WARNING already notified before the restart is not notified again when it is still WARNING after it', () => {
    // Agent 1: OutRsts 100/s from S+98 → WARNING at S+109 (this 100), sent at S+129; it runs until S+139.
    // Down 5 s; agent 2 starts at R = S+145 with the storm still on. First run at R+1 (second collection):
    //   window [R−9, R] = slots S+136..S+139 (100) and the restart gap → 100 → UNINITIALIZED→WARNING, delay 20
    //   (fresh runtime). R+11: (80 + 9·100)/10 = 98, R+21: 100 → held; processed at R+21: the last executed
    //   entry of this alarm is the WARNING sent at S+129 → same status → not sent again.
    const sim = new HealthSim({ config }).run({ OutRsts: '0x98 100x42' });
    expect(sim.notificationsOf(name).map((n) => [n.t - S, n.newStatus])).toEqual([[129, STATUS.WARNING]]);
    sim.restart(5);
    const R = S + 145;
    sim.run({ OutRsts: '100x40' });
    expect(sim.transitionsOf(name).filter(([t]) => t >= R)).toEqual([[R + 1, 'UNINITIALIZED→WARNING', 20]]);
    const again = entryAt(sim, name, R + 1);
    expect(hasFlag(again, FLAG.PROCESSED)).toBe(true);
    expect(sim.notificationsOf(name).map((n) => [n.t - S, n.newStatus])).toEqual([[129, STATUS.WARNING]]);
  });

  it('the CLEAR of a WARNING notified before the restart is notified after it (it is not a "first CLEAR")', () => {
    // Agent 1: OutRsts 100/s for S+98..S+137 → WARNING at S+109, sent at S+129; S+139: (9·100 + 20)/10 = 92
    //   → still WARNING when the agent stops after S+139. Down 20 s; agent 2 starts at R = S+160, quiet.
    // R+1: window [S+151, S+160] is all gaps → NaN > 50 = 0 → UNINITIALIZED→CLEAR, delay 20 (up), processed at
    //   R+21: the last executed entry is the WARNING of S+109 → a different status → sent (to tell the
    //   recipients that what they were warned about is over).
    const sim = new HealthSim({ config }).run({ OutRsts: '0x98 100x40 0x2' });
    expect(sim.alert(name).status).toBe(STATUS.WARNING);
    sim.restart(20);
    const R = S + 160;
    sim.run({ OutRsts: '0x40' });
    expect(sim.transitionsOf(name).filter(([t]) => t >= R)).toEqual([[R + 1, 'UNINITIALIZED→CLEAR', 20]]);
    expect(sim.notificationsOf(name).map((n) => [n.t - S, n.newStatus])).toEqual([
      [129, STATUS.WARNING],
      [R + 21 - S, STATUS.CLEAR],
    ]);
  });
});

describe('delays across flaps, in the engine (§3.4)', () => {
  const T = S + 209;
  // r (background 0): 100 at T−11..T−1; 250 at T+19..T+29; 100 at T+89..T+99; later one more 100 spike.
  // T: this 100, B = 5 (1m = 80/60) → WARNING; reset → 20 (window to T+20).
  // T+10: this 0.2·100/10 = 2 ≤ B = (80 + 1000)/60 = 18 → CLEAR; T+10 ≤ T+20 → ×1.2: up 24, down 4320.
  // T+20: this 0.8·250/10 = 20 ≤ 10·B = 10·(1100/60) = 183 → stays CLEAR.
  // T+30: this 250 > 10·(1300/60) = 216.7 → WARNING; T+30 ≤ T+4330 → up 28, down 5184 → 28 (to T+58).
  // T+40: this 5 ≤ (1100 + 200 + 2500)/60 = 63.3 → CLEAR; T+40 ≤ T+58 → up 33, down 6220 → 6220.
  // T+100: this 100 > 10·5 (1m = (50 + 80)/60) → WARNING; ≤ T+6260 → up 39, down min(7464, 7200) → 39.
  // T+110: this 2 ≤ 18 → CLEAR; ≤ T+139 → up 46, down 7200 (capped) → 7200 (window to T+7310).
  const flaps = '0x198 100x11 0x19 250x11 0x59 100x11';
  const expectedFlaps: [number, string, number][] = [
    [T, 'CLEAR→WARNING', 20],
    [T + 10, 'WARNING→CLEAR', 4320],
    [T + 30, 'CLEAR→WARNING', 28],
    [T + 40, 'WARNING→CLEAR', 6220],
    [T + 100, 'CLEAR→WARNING', 39],
    [T + 110, 'WARNING→CLEAR', 7200],
  ];

  it('raise/clear/raise/clear/raise/clear inside the windows: 20, 4320, 28, 6220, 39, 7200; no WARNING is sent', () => {
    const sim = new HealthSim().run(`${flaps} 0x40`);
    expect(sim.transitionsOf(R10).slice(1)).toEqual(expectedFlaps);
    expect(sim.notifications).toEqual([]);
    for (const [t, what] of expectedFlaps)
      if (what.endsWith('WARNING'))
        expect(flagNames(entryAt(sim, R10, t))).toEqual(['UPDATED', 'NO_CLEAR_NOTIFICATION']);
  });

  it('a raise after the last window (T+7310) has expired resets the delays to 20', () => {
    // Quiet T+100..T+7308, spike T+7309..T+7319 → raise at T+7320 > T+7310 → reset → 20.
    const sim = new HealthSim().run(`${flaps} 0x7209 100x11 0x30`);
    expect(sim.transitionsOf(R10).slice(1, 8)).toEqual([...expectedFlaps, [T + 7320, 'CLEAR→WARNING', 20]]);
  });

  it('a raise exactly at the end of the window (now = delay_up_to_timestamp) still multiplies: 46·1.2 → 55', () => {
    // Spike T+7299..T+7309 → raise at T+7310; `now > delay_up_to_timestamp` is false → up 55 (55.2).
    const sim = new HealthSim().run(`${flaps} 0x7199 100x11 0x30`);
    expect(sim.transitionsOf(R10).slice(1, 8)).toEqual([...expectedFlaps, [T + 7310, 'CLEAR→WARNING', 55]]);
  });
});

describe('variables (§2.6)', () => {
  const V = S + 309;
  // r: 0 until S+227, 49 at S+228..S+238 (V−81..V−71), 0, 80 at S+298..S+308 (V−11..V−1).
  // Slots: S+228 = 39.2, S+229..S+238 = 49, S+239 = 9.8; S+298 = 64, S+299..S+308 = 80.
  // V−70: this = 49 ≤ 50 (B = 39.2/60 → 5): the burst itself never raises.
  // V−10: 1m over [S+229, S+288] = (490 + 9.8)/60 = 8.33. V: 1m over [S+239, S+298] = (9.8 + 64)/60 = 1.23.
  // At V: this = 80 > 10·max(5, 1.23) = 50 → WARNING — only with the 1m value of this very iteration
  // (pass 1 before pass 2): the previous one (8.33) would need 83.3.
  // V+10: this = 0.2·80/10 = 1.6 ≤ B = (64 + 800)/60 = 14.4 → CLEAR inside the raise's window → 4320.
  const series = '0x228 49x11 0x59 80x11 0x20';

  function check(sim: HealthSim) {
    expect(sim.evaluationAt(R1M, V - 10).value).toBeCloseTo(499.8 / 60, 9);
    const b = sim.evaluationAt(R1M, V).value;
    expect(b).toBeCloseTo(73.8 / 60, 9);
    const ev = sim.evaluationAt(R10, V);
    expect(ev.value).toBeCloseTo(80, 9);
    expect(ev.warnTrace).toContain(traced(R1M, formatNumber(b)));
    expect(ev.warnTrace).toContain(traced('netdata.uptime.uptime', V - S));
    expect(ev.warnTrace).toContain(traced('WARNING', 3));
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [V, 'CLEAR→WARNING', 20],
      [V + 10, 'WARNING→CLEAR', 4320],
    ]);
  }

  it('$1m_ipv4_tcp_resets_received is the value computed in the same iteration (shipped order)', () => {
    check(new HealthSim().run(series));
  });

  it('… also when the 10 s alert comes first in the file (pass 1 runs all lookups before any warn)', () => {
    const blocks = shippedResetAlerts().split(/\n(?=[ \t]*alarm:)/);
    expect(blocks).toHaveLength(5);
    const reordered = [blocks[0], blocks[2], blocks[1], blocks[4], blocks[3]].join('\n');
    const sim = new HealthSim({ config: reordered });
    expect(sim.engine.alerts.map((a) => a.compiled.config.name)).toEqual([R10, R1M, S10, S1M]);
    check(sim.run(series));
  });

  it('$netdata.uptime.uptime (chart.dimension), unknown variables, $this, $status, $WARNING = 3, $CRITICAL = 4', () => {
    const config = `
 alarm: uptime_probe
    on: ip.tcphandshake
  calc: $netdata.uptime.uptime
 every: 10s

 alarm: unknown_in_comparison
    on: ip.tcphandshake
  calc: 1
 every: 10s
  warn: $this > $no_such_variable

 alarm: unknown_alone
    on: ip.tcphandshake
  calc: 1
 every: 10s
  warn: $no_such_variable

 alarm: status_echo
    on: ip.tcphandshake
  calc: $status
 every: 10s
  warn: $this != $WARNING

 alarm: status_constants
    on: ip.tcphandshake
  calc: $WARNING * 10 + $CRITICAL
 every: 10s
  crit: $this == 34
`;
    // No lookup: runnable from the second collection, S+1; then S+11, S+21, …
    const sim = new HealthSim({ config }).run('0x42');
    expect(sim.evaluationsOf('uptime_probe').map((e) => [e.t - S, e.value])).toEqual([
      [1, 1],
      [11, 11],
      [21, 21],
      [31, 31],
      [41, 41],
    ]);
    expect(sim.alert('uptime_probe').status).toBe(STATUS.UNDEFINED);
    // `1 > NaN` is 0, a finite result: the unknown variable is forgiven → CLEAR.
    expect(sim.alert('unknown_in_comparison').status).toBe(STATUS.CLEAR);
    expect(sim.alert('unknown_in_comparison').warnResult?.trace).toContain(
      "undefined variable 'no_such_variable'",
    );
    // A bare unknown variable is NaN → the evaluation fails → UNDEFINED.
    expect(sim.alert('unknown_alone').status).toBe(STATUS.UNDEFINED);
    // $status is the status before this evaluation: 0 (UNINITIALIZED) → WARNING, 3 → CLEAR, 1 → WARNING …
    expect(sim.evaluationsOf('status_echo').map((e) => [e.value, e.status])).toEqual([
      [0, STATUS.WARNING],
      [3, STATUS.CLEAR],
      [1, STATUS.WARNING],
      [3, STATUS.CLEAR],
      [1, STATUS.WARNING],
    ]);
    expect(sim.alert('status_constants').value).toBe(34);
    expect(sim.alert('status_constants').status).toBe(STATUS.CRITICAL);
  });
});

describe('alert log invariants (property over random rate series)', () => {
  const rate = fc.constantFrom<Rate>(0, 1, 4, 8, 20, 45, 80, 150, 400, null);
  const pieces = fc.array(
    fc.record({ rate, seconds: fc.integer({ min: 1, max: 45 }) }).map((p): Piece => p),
    { minLength: 1, maxLength: 14 },
  );
  const TEN = new Set([R10, S10]);

  it('ids increase, transitions chain, one pending entry per alarm, executions only after the delay and only if not superseded first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 90 }), pieces, pieces, (quiet, recv, sent) => {
        const sim = new HealthSim();
        const processedAt = new Map<number, number>();
        const onSecond = (t: number) => {
          const pending = new Map<number, number>();
          for (const e of sim.entries) {
            if (hasFlag(e, FLAG.PROCESSED) && !processedAt.has(e.uniqueId)) processedAt.set(e.uniqueId, t);
            if (!(e.flags & (FLAG.PROCESSED | FLAG.UPDATED)))
              pending.set(e.alarmId, (pending.get(e.alarmId) ?? 0) + 1);
          }
          for (const n of pending.values()) expect(n).toBeLessThanOrEqual(1);
          for (const rt of sim.engine.alerts) {
            const mine = sim.entries.filter((e) => e.alarmId === rt.alarmId);
            expect(mine[mine.length - 1]?.newStatus).toBe(rt.status);
          }
        };
        sim.run(`0x${quiet + 1}`, onSecond);
        sim.run({ AttemptFails: formatRates(recv), OutRsts: formatRates(sent) }, onSecond);
        const end = sim.t - 1;
        const byId = new Map(sim.entries.map((e) => [e.uniqueId, e]));

        // Unique ids strictly increase in log order.
        for (let i = 1; i < sim.entries.length; i++)
          expect(sim.entries[i]!.uniqueId).toBeGreaterThan(sim.entries[i - 1]!.uniqueId);

        const alarms = new Set(sim.entries.map((e) => e.alarmId));
        for (const id of alarms) {
          const mine = sim.entries.filter((e) => e.alarmId === id);
          expect([mine[0]!.oldStatus, mine[0]!.newStatus]).toEqual([STATUS.REMOVED, STATUS.UNINITIALIZED]);
          for (let i = 1; i < mine.length; i++) {
            const prev = mine[i - 1]!;
            const cur = mine[i]!;
            // Each transition starts where the previous one ended, and supersedes it.
            expect(cur.oldStatus).toBe(prev.newStatus);
            expect(cur.newStatus).not.toBe(cur.oldStatus);
            expect(hasFlag(prev, FLAG.UPDATED)).toBe(true);
            expect(prev.updatedById).toBe(cur.uniqueId);
            expect(cur.updatesId).toBe(prev.uniqueId);
          }
          expect(hasFlag(mine[mine.length - 1]!, FLAG.UPDATED)).toBe(false);
        }

        for (const e of sim.entries) {
          const updater = e.updatedById ? byId.get(e.updatedById) : undefined;
          const name = e.name;
          // Processed exactly when the delay ends (iterations run every second), unless superseded by then.
          const p = processedAt.get(e.uniqueId);
          const supersededInTime = updater !== undefined && updater.when <= e.delayUpToTimestamp;
          const due = !supersededInTime && e.delayUpToTimestamp <= end;
          expect(p, `processing of ${flagNames(e)} ${name} at ${e.when - S}`).toBe(
            due ? e.delayUpToTimestamp : undefined,
          );
          // Executed ⇒ processed, never before the delay; UPDATED + EXEC_RUN only when it ran before the
          // entry that superseded it was written (pass 2 supersedes before pass 4 notifies).
          if (hasFlag(e, FLAG.EXEC_RUN)) {
            expect(hasFlag(e, FLAG.PROCESSED)).toBe(true);
            expect(e.execRunTimestamp).toBeGreaterThanOrEqual(e.delayUpToTimestamp);
            if (updater) expect(e.execRunTimestamp).toBeLessThan(updater.when);
          }
          // The 10 s alerts (no-clear-notification): exactly the WARNINGs that outlive their delay are run.
          if (TEN.has(name)) {
            expect(hasFlag(e, FLAG.EXEC_RUN)).toBe(e.newStatus === STATUS.WARNING && due);
            expect([STATUS.REMOVED, STATUS.UNINITIALIZED, STATUS.CLEAR, STATUS.WARNING]).toContain(
              e.newStatus,
            );
          } else {
            expect(hasFlag(e, FLAG.EXEC_RUN)).toBe(false);
            expect([STATUS.UNINITIALIZED, STATUS.UNDEFINED] as Status[]).toContain(e.newStatus);
          }
        }
        for (const n of sim.notifications) {
          expect(n.t).toBeGreaterThanOrEqual(n.entry.delayUpToTimestamp);
          expect(n.t).toBe(n.entry.execRunTimestamp);
          expect(n.recipient).toBe('silent');
        }
      }),
      // HEALTH_SIM_RUNS=2000 for a longer hunt.
      { numRuns: Number(process.env.HEALTH_SIM_RUNS ?? 40) },
    );
  });
});
