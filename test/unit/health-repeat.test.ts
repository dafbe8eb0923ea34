/**
 * `repeat:` (shared/design/netdata-health-semantics.md §3.3, §3.6, §3.8) in simulated time, and the pure
 * `step` / `repeatStep` of src/health/engine.ts that the scheduler runs for every alert.
 *
 * The rules, as the spec states them (Netdata's do_rc_status_change and process_repeating_alarms):
 * - A status change of a repeating alert restarts its repeat clock (`last_repeat = now`); a change to CLEAR
 *   also sets RUN_ONCE.
 * - Every iteration, once `delay_up_to_timestamp <= now`: WARNING repeats every `warning` seconds and
 *   CRITICAL every `critical` seconds (both clear RUN_ONCE); CLEAR after WARNING/CRITICAL repeats once
 *   only without RUN_ONCE — which every change to CLEAR has just set, so there is no repeated CLEAR: the
 *   CLEAR is notified once, through its log entry, when its down delay ends.
 * - A repeat is a fresh entry (IS_REPEATING), decided by §3.8 at once (a repeating entry may repeat the
 *   status last sent) and never put in the log list; its old status is the alert's `old_status`.
 * - Pass 3 (repeats) runs before pass 4 (the log's pending entries) in the same iteration.
 */

import { describe, expect, it } from 'vitest';
import {
  type AlertRules,
  type AlertState,
  initialDelayState,
  repeatStep,
  step,
} from '../../src/health/engine.js';
import { STATUS, type Status } from '../../src/health/types.js';
import { flagNames, HealthSim, SIM_START as S } from '../helpers/health-sim.js';

const probe = (delay: string) => `
 alarm: repeat_probe
    on: ip.tcphandshake
lookup: average -10s unaligned absolute of AttemptFails
 every: 10s
  warn: $this > 50
  crit: $this > 200
${delay}
repeat: warning 30s critical 10s
    to: sysadmin
`;
const NAME = 'repeat_probe';

// AttemptFails r = 100/s for S+99..S+148, 300/s for S+149..S+198, then 0. The alert runs at S+9+10k and
// reads [t−10, t−1]: S+109: (0.8·100 + 9·100)/10 = 98 → WARNING; S+119..S+149: 100; S+159: (0.2·100 +
// 0.8·300 + 9·300)/10 = 296 → CRITICAL; S+169..S+199: 300; S+209: 0.2·300/10 = 6 → CLEAR.
const SERIES = '0x99 100x50 300x50 0x101';

/** Notifications relative to S: `[t − S, 'OLD→NEW', repeat?]`. */
function notified(sim: HealthSim) {
  const name = (s: Status) =>
    ['REMOVED', 'UNDEFINED', 'UNINITIALIZED', 'CLEAR', 'RAISED', 'WARNING', 'CRITICAL'][s + 2];
  return sim
    .notificationsOf(NAME)
    .map((n) => [
      n.t - S,
      `${name(n.oldStatus)}→${name(n.newStatus)}`,
      sim.entries.includes(n.entry) ? 'transition' : 'repeat',
    ]);
}

describe('repeat: warning 30s critical 10s, in simulated time', () => {
  it('no delay: WARNING every 30 s and CRITICAL every 10 s while raised; at CLEAR one notification and silence', () => {
    // S+109 CLEAR→WARNING (last_repeat = S+109): sent at once (delay 0). S+139: 30 s later → repeat.
    // S+159 WARNING→CRITICAL (last_repeat = S+159): sent; repeats at S+169, S+179, S+189, S+199.
    // S+209 CRITICAL→CLEAR: RUN_ONCE set, no repeat of the CLEAR; the CLEAR entry (delay 0) is sent once
    //   (the last one sent was a CRITICAL). Then nothing until the end (S+299).
    const sim = new HealthSim({ config: probe('') }).run(SERIES);
    expect(sim.transitionsOf(NAME)).toEqual([
      [S + 9, 'UNINITIALIZED→CLEAR', 0],
      [S + 109, 'CLEAR→WARNING', 0],
      [S + 159, 'WARNING→CRITICAL', 0],
      [S + 209, 'CRITICAL→CLEAR', 0],
    ]);
    expect(notified(sim)).toEqual([
      [109, 'CLEAR→WARNING', 'transition'],
      [139, 'CLEAR→WARNING', 'repeat'],
      [159, 'WARNING→CRITICAL', 'transition'],
      [169, 'WARNING→CRITICAL', 'repeat'],
      [179, 'WARNING→CRITICAL', 'repeat'],
      [189, 'WARNING→CRITICAL', 'repeat'],
      [199, 'WARNING→CRITICAL', 'repeat'],
      [209, 'CRITICAL→CLEAR', 'transition'],
    ]);
    const rt = sim.alert(NAME);
    expect(rt.timesRepeat).toBe(5);
    expect(rt.lastRepeat).toBe(S + 209);
    expect(rt.runOnce).toBe(true);
    // Repeats are fresh entries: their own unique and event ids, never in the log list.
    const repeats = sim.notificationsOf(NAME).filter((n) => !sim.entries.includes(n.entry));
    for (const n of repeats) {
      expect(flagNames(n.entry)).toEqual(['PROCESSED', 'EXEC_RUN', 'IS_REPEATING']);
      expect(n.entry.when).toBe(n.t);
      expect(n.entry.lastRepeat).toBe(n.t);
      expect(sim.engine.log.all).not.toContain(n.entry);
    }
    const ids = sim.notificationsOf(NAME).map((n) => n.entry.uniqueId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(sim.notificationsOf(NAME).map((n) => n.entry.alarmEventId)).size).toBe(8);
    // The CLEAR entry carries no RUN_ONCE (it is not a repeat) and was sent because a raise was sent.
    const clear = sim.entriesOf(NAME).find((e) => e.when === S + 209)!;
    expect(flagNames(clear)).toEqual(['PROCESSED', 'EXEC_RUN', 'IS_REPEATING']);
  });

  it('repeats wait for the delay: up 10s down 20s; at the end of the CRITICAL delay the repeat and the transition both go', () => {
    // S+9: UNINITIALIZED→CLEAR, up 10 (delay to S+19). S+109 CLEAR→WARNING: up 10 → delay to S+119; no
    //   repeat and no notification before S+119; S+119: the WARNING entry is sent (pass 4); S+139 repeat.
    // S+159 WARNING→CRITICAL: up 10 → delay to S+169. S+169: pass 3 first — delay over and last_repeat
    //   (S+159) + 10 ≤ S+169 → a CRITICAL repeat; then pass 4 processes the CRITICAL entry: the last
    //   executed entry *before it* is the WARNING → sent too. Netdata does the same (repeats are not in the
    //   log, and §3.8 step 4 looks at earlier unique ids only). S+179, S+189, S+199: repeats.
    // S+209 CRITICAL→CLEAR: down 20 → delay to S+229; RUN_ONCE: no repeat; S+229: the CLEAR is sent.
    const sim = new HealthSim({ config: probe('delay: up 10s down 20s') }).run(SERIES);
    expect(sim.transitionsOf(NAME)).toEqual([
      [S + 9, 'UNINITIALIZED→CLEAR', 10],
      [S + 109, 'CLEAR→WARNING', 10],
      [S + 159, 'WARNING→CRITICAL', 10],
      [S + 209, 'CRITICAL→CLEAR', 20],
    ]);
    expect(notified(sim)).toEqual([
      [119, 'CLEAR→WARNING', 'transition'],
      [139, 'CLEAR→WARNING', 'repeat'],
      [169, 'WARNING→CRITICAL', 'repeat'],
      [169, 'WARNING→CRITICAL', 'transition'],
      [179, 'WARNING→CRITICAL', 'repeat'],
      [189, 'WARNING→CRITICAL', 'repeat'],
      [199, 'WARNING→CRITICAL', 'repeat'],
      [229, 'CRITICAL→CLEAR', 'transition'],
    ]);
    // A repeat entry copies the alert's last delay (`rc->delay_last`).
    const r = sim.notificationsOf(NAME).find((n) => n.t === S + 179)!;
    expect([r.entry.delay, r.entry.delayUpToTimestamp]).toEqual([10, S + 189]);
  });

  it('no-clear-notification: repeats while raised, and the CLEAR is not sent at all', () => {
    const sim = new HealthSim({ config: `${probe('')}options: no-clear-notification\n` }).run(SERIES);
    const n = notified(sim);
    expect(n.map(([t]) => t)).toEqual([109, 139, 159, 169, 179, 189, 199]);
    const clear = sim.entriesOf(NAME).find((e) => e.when === S + 209)!;
    expect(flagNames(clear)).toEqual(['PROCESSED', 'IS_REPEATING', 'NO_CLEAR_NOTIFICATION']);
  });

  it('without repeat: nothing between the transitions', () => {
    const sim = new HealthSim({ config: probe('').replace(/^repeat:.*$/m, '') }).run(SERIES);
    expect(notified(sim)).toEqual([
      [109, 'CLEAR→WARNING', 'transition'],
      [159, 'WARNING→CRITICAL', 'transition'],
      [209, 'CRITICAL→CLEAR', 'transition'],
    ]);
    expect(sim.alert(NAME).timesRepeat).toBe(0);
  });
});

describe('the pure core: step (pass 2) and repeatStep (pass 3)', () => {
  const rules = (warning = 0, critical = 0): AlertRules => ({
    delay: { up: 20, down: 3600, multiplier: Math.fround(1.2), max: 7200 },
    repeat: { warning, critical },
  });
  const state = (over: Partial<AlertState> = {}): AlertState => ({
    status: STATUS.CLEAR,
    oldStatus: STATUS.UNINITIALIZED,
    value: 80,
    oldValue: 3,
    lastStatusChange: 1000,
    lastStatusChangeValue: 3,
    delay: initialDelayState(rules().delay),
    lastRepeat: 0,
    timesRepeat: 0,
    runOnce: false,
    ...over,
  });
  const raised = { ok: true, value: 1 };
  const clear = { ok: true, value: 0 };

  it('no change: the same state object back, no transition', () => {
    const s = state();
    const r = step(s, rules(), { warn: clear, crit: undefined }, 2000);
    expect(r.state).toBe(s);
    expect(r.transition).toBeUndefined();
  });

  it('a raise: the transition with its delay and duration; the state moves on; the input is not touched', () => {
    const s = state();
    const before = JSON.stringify(s);
    const r = step(s, rules(), { warn: raised, crit: undefined }, 2000);
    expect(r.transition).toEqual({
      when: 2000,
      oldStatus: STATUS.CLEAR,
      newStatus: STATUS.WARNING,
      oldValue: 3,
      newValue: 80,
      duration: 1000,
      delay: 20,
    });
    expect(r.state).toMatchObject({
      status: STATUS.WARNING,
      oldStatus: STATUS.CLEAR,
      lastStatusChange: 2000,
      lastStatusChangeValue: 80,
      delay: { upCurrent: 20, downCurrent: 3600, last: 20, upToTimestamp: 2020 },
      lastRepeat: 0,
      runOnce: false,
    });
    expect(JSON.stringify(s)).toBe(before);
    // Inside the window the next change multiplies both delays (§3.4): down 3600·1.2 = 4320.
    const back = step(r.state, rules(), { warn: clear, crit: undefined }, 2010);
    expect(back.transition?.delay).toBe(4320);
    // A crit RAISED wins over warn; an evaluation error is UNDEFINED.
    expect(step(s, rules(), { warn: raised, crit: raised }, 2000).state.status).toBe(STATUS.CRITICAL);
    expect(
      step(s, rules(), { warn: { ok: false, value: Number.NaN }, crit: undefined }, 2000).state.status,
    ).toBe(STATUS.UNDEFINED);
  });

  it('a repeating alert: a change restarts the repeat clock; a change to CLEAR sets RUN_ONCE', () => {
    const up = step(state(), rules(30, 10), { warn: raised, crit: undefined }, 2000).state;
    expect([up.lastRepeat, up.runOnce]).toEqual([2000, false]);
    const down = step({ ...up, runOnce: false }, rules(30, 10), { warn: clear, crit: undefined }, 2050).state;
    expect([down.lastRepeat, down.runOnce, down.oldStatus]).toEqual([2050, true, STATUS.WARNING]);
  });

  it.each([
    // [what, state, now, repeat at? (old→new), runOnce after, entry RUN_ONCE]
    ['not repeating', { status: STATUS.WARNING }, 5000, undefined, false, false, rules()],
    [
      'WARNING, interval not yet over',
      { status: STATUS.WARNING, lastRepeat: 4980 },
      5009,
      undefined,
      false,
      false,
      rules(30, 10),
    ],
    [
      'WARNING, 30 s after the last repeat',
      { status: STATUS.WARNING, oldStatus: STATUS.CLEAR, lastRepeat: 4980, runOnce: true },
      5010,
      [STATUS.CLEAR, STATUS.WARNING],
      true,
      false,
      rules(30, 10),
    ],
    [
      'CRITICAL every 10 s',
      { status: STATUS.CRITICAL, oldStatus: STATUS.WARNING, lastRepeat: 5000 },
      5010,
      [STATUS.WARNING, STATUS.CRITICAL],
      true,
      false,
      rules(30, 10),
    ],
    [
      'CRITICAL, but the delay of the last change is not over',
      {
        status: STATUS.CRITICAL,
        lastRepeat: 4000,
        delay: { upCurrent: 20, downCurrent: 3600, last: 20, upToTimestamp: 5011 },
      },
      5010,
      undefined,
      false,
      false,
      rules(30, 10),
    ],
    [
      'WARNING with a warning interval of 0: no repeat (critical only)',
      { status: STATUS.WARNING, lastRepeat: 0 },
      5000,
      undefined,
      false,
      false,
      rules(0, 10),
    ],
    [
      'CLEAR after a raise, RUN_ONCE set (as every change to CLEAR does): nothing',
      { status: STATUS.CLEAR, oldStatus: STATUS.WARNING, lastRepeat: 4000, runOnce: true },
      5000,
      undefined,
      true,
      false,
      rules(30, 10),
    ],
    [
      'CLEAR after a raise without RUN_ONCE: one repeat, with RUN_ONCE on the entry',
      { status: STATUS.CLEAR, oldStatus: STATUS.CRITICAL, lastRepeat: 4999, runOnce: false },
      5000,
      [STATUS.CRITICAL, STATUS.CLEAR],
      true,
      true,
      rules(30, 10),
    ],
    [
      'CLEAR after UNINITIALIZED: never',
      { status: STATUS.CLEAR, oldStatus: STATUS.UNINITIALIZED, lastRepeat: 0 },
      5000,
      undefined,
      false,
      false,
      rules(30, 10),
    ],
  ] as const)('repeatStep: %s', (_what, over, now, at, runOnceAfter, entryRunOnce, r) => {
    const s = state(over as Partial<AlertState>);
    const out = repeatStep(s, r, now);
    if (at === undefined) expect(out.repeat).toBeUndefined();
    else {
      expect(out.repeat).toMatchObject({
        when: now,
        oldStatus: at[0],
        newStatus: at[1],
        runOnce: entryRunOnce,
      });
      expect(out.state.lastRepeat).toBe(now);
      expect(out.state.timesRepeat).toBe(s.timesRepeat + 1);
    }
    expect(out.state.runOnce).toBe(runOnceAfter);
  });
});
