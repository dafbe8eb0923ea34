/**
 * The pure core of the alert engine (src/health/engine.ts) against netdata-health-semantics §3.3–3.8.
 */
import { describe, expect, it } from 'vitest';
import {
  type AlarmEntry,
  AlarmLog,
  applyDelay,
  type DelayConfig,
  decideStatus,
  FLAG,
  initialDelayState,
  notificationDecision,
} from '../../src/health/engine.js';
import { STATUS, type Status } from '../../src/health/types.js';

const TCP: DelayConfig = { up: 20, down: 3600, multiplier: Math.fround(1.2), max: 7200 };

describe('decideStatus (§3.3 pass 2)', () => {
  const ok = (value: number) => ({ ok: true, value });
  const failed = { ok: false, value: Number.NaN };
  it.each([
    ['no warn, no crit', undefined, undefined, STATUS.UNDEFINED],
    ['warn 0', ok(0), undefined, STATUS.CLEAR],
    ['warn 1', ok(1), undefined, STATUS.WARNING],
    ['warn -2 (non-zero raises)', ok(-2), undefined, STATUS.WARNING],
    ['warn failed', failed, undefined, STATUS.UNDEFINED],
    ['warn NaN', ok(Number.NaN), undefined, STATUS.UNDEFINED],
    ['warn inf', ok(Number.POSITIVE_INFINITY), undefined, STATUS.UNDEFINED],
    ['crit 0 alone', undefined, ok(0), STATUS.CLEAR],
    ['crit 1 over warn 0', ok(0), ok(1), STATUS.CRITICAL],
    ['crit 1 over warn 1', ok(1), ok(1), STATUS.CRITICAL],
    ['warn 1 crit 0', ok(1), ok(0), STATUS.WARNING],
    ['warn failed crit 0', failed, ok(0), STATUS.CLEAR],
    ['warn 0 crit failed', ok(0), failed, STATUS.CLEAR],
  ] as const)('%s', (_n, w, c, expected) => {
    expect(decideStatus(w, c)).toBe(expected);
  });
});

/** Apply a sequence of status changes at given times; return the delays. */
function delays(cfg: DelayConfig, changes: [number, Status][]): number[] {
  let state = initialDelayState(cfg);
  let status: Status = STATUS.CLEAR;
  const out: number[] = [];
  for (const [now, next] of changes) {
    const r = applyDelay(state, cfg, status, next, now);
    state = r.state;
    status = next;
    out.push(r.delay);
  }
  return out;
}

describe('delay arithmetic (§3.4)', () => {
  it('first raise after a quiet period: up delay; clear after the window: down delay', () => {
    expect(
      delays(TCP, [
        [1000, STATUS.WARNING],
        [1030, STATUS.CLEAR],
      ]),
    ).toEqual([20, 3600]);
  });

  it('flapping inside the window multiplies both, on every change: up 20→24→28→33→39…, down 3600→4320→5184→6220→7200', () => {
    // Every change lands inside the previous window (each before the last delay_up_to_timestamp).
    const changes: [number, Status][] = [];
    let t = 1000;
    for (let i = 0; i < 12; i++) {
      changes.push([t, i % 2 === 0 ? STATUS.WARNING : STATUS.CLEAR]);
      t += 1;
    }
    const d = delays(TCP, changes);
    // raises (even indices) get the current up delay, clears the current down delay
    const ups = d.filter((_, i) => i % 2 === 0);
    const downs = d.filter((_, i) => i % 2 === 1);
    // both advance on every change, so raises see every other step of the up sequence
    expect(ups).toEqual([20, 28, 39, 55, 79, 112]);
    expect(downs).toEqual([4320, 6220, 7200, 7200, 7200, 7200]);
  });

  it('the full up sequence when only raises happen inside the window', () => {
    let state = initialDelayState(TCP);
    const seq: number[] = [];
    for (let i = 0; i < 11; i++) {
      const r = applyDelay(state, TCP, STATUS.CLEAR, STATUS.WARNING, 1000 + i);
      state = r.state;
      seq.push(r.delay);
    }
    expect(seq).toEqual([20, 24, 28, 33, 39, 46, 55, 66, 79, 94, 112]);
  });

  it('the full down sequence, capped at max', () => {
    let state = initialDelayState(TCP);
    const seq: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = applyDelay(state, TCP, STATUS.WARNING, STATUS.CLEAR, 1000 + i);
      state = r.state;
      seq.push(r.delay);
    }
    expect(seq).toEqual([3600, 4320, 5184, 6220, 7200, 7200]);
  });

  it('delays reset once a change comes after the last window expired', () => {
    expect(
      delays(TCP, [
        [1000, STATUS.WARNING], // 20, window to 1020
        [1010, STATUS.CLEAR], // inside: 24 / 4320 → 4320, window to 5330
        [6000, STATUS.WARNING], // after 5330: reset → 20
      ]),
    ).toEqual([20, 4320, 20]);
  });

  it('UNINITIALIZED → CLEAR is an "up" transition (numeric compare)', () => {
    const r = applyDelay(initialDelayState(TCP), TCP, STATUS.UNINITIALIZED, STATUS.CLEAR, 100);
    expect(r.delay).toBe(20);
  });

  it('the documented example: up 10s down 15m multiplier 2 max 1h', () => {
    // WARNING 00:00:01 → notify 00:00:11; CLEAR 00:00:05 → 00:30:05 (15m × 2); WARNING 00:00:06 → up 10 × 2 × 2
    // = 40 s → 00:00:46. (The spec's prose says 00:00:26 next to "10s × 2 × 2"; the arithmetic gives 46.)
    const T = 1_700_000_000;
    const cfg: DelayConfig = { up: 10, down: 900, multiplier: 2, max: 3600 };
    const d = delays(cfg, [
      [T + 1, STATUS.WARNING],
      [T + 5, STATUS.CLEAR],
      [T + 6, STATUS.WARNING],
    ]);
    expect([1 + d[0]!, 5 + d[1]!, 6 + d[2]!]).toEqual([11, 1805, 46]);
  });
});

function entry(over: Partial<AlarmEntry>): AlarmEntry {
  return {
    uniqueId: 1,
    alarmId: 7,
    alarmEventId: 1,
    globalId: 0,
    configHashId: 'x',
    transitionId: 't',
    when: 0,
    duration: 0,
    nonClearDuration: 0,
    name: 'a',
    chart: 'c',
    context: 'c',
    classification: 'Errors',
    component: 'Network',
    type: 'System',
    exec: '',
    recipient: 'root',
    execRunTimestamp: 0,
    execCode: 0,
    source: '',
    units: '',
    summary: '',
    info: '',
    oldValue: 0,
    newValue: 0,
    oldStatus: STATUS.CLEAR,
    newStatus: STATUS.WARNING,
    flags: 0,
    delay: 0,
    delayUpToTimestamp: 0,
    updatedById: 0,
    updatesId: 0,
    lastRepeat: 0,
    expression: '',
    trace: '',
    ...over,
  };
}

describe('notification decision (§3.8)', () => {
  it.each([
    ['WARNING, never sent before', {}, undefined, true],
    ['UNDEFINED is never executed', { newStatus: STATUS.UNDEFINED }, undefined, false],
    [
      'UNINITIALIZED is never executed',
      { oldStatus: STATUS.REMOVED, newStatus: STATUS.UNINITIALIZED },
      undefined,
      false,
    ],
    [
      'CLEAR with no-clear-notification',
      { newStatus: STATUS.CLEAR, flags: FLAG.NO_CLEAR_NOTIFICATION },
      undefined,
      false,
    ],
    [
      'a first CLEAR is never notified',
      { oldStatus: STATUS.UNINITIALIZED, newStatus: STATUS.CLEAR },
      undefined,
      false,
    ],
    [
      'CLEAR after a sent WARNING',
      { oldStatus: STATUS.WARNING, newStatus: STATUS.CLEAR },
      { newStatus: STATUS.WARNING },
      true,
    ],
    ['WARNING again after a sent WARNING', {}, { newStatus: STATUS.WARNING }, false],
    [
      'WARNING again, no-clear-notification skips the check',
      { flags: FLAG.NO_CLEAR_NOTIFICATION },
      { newStatus: STATUS.WARNING },
      true,
    ],
    [
      'repeating WARNING after a sent WARNING',
      { flags: FLAG.IS_REPEATING },
      { newStatus: STATUS.WARNING },
      true,
    ],
    ['silenced', { flags: FLAG.SILENCED }, undefined, false],
    [
      'CRITICAL after WARNING',
      { oldStatus: STATUS.WARNING, newStatus: STATUS.CRITICAL },
      { newStatus: STATUS.WARNING },
      true,
    ],
  ] as const)('%s', (_n, over, last, send) => {
    const lastExec = last ? entry({ uniqueId: 0, ...last, flags: FLAG.EXEC_RUN }) : undefined;
    expect(notificationDecision(entry(over as Partial<AlarmEntry>), lastExec).send).toBe(send);
  });
});

describe('AlarmLog (§3.5)', () => {
  it('a new entry marks the previous one of the same alarm UPDATED and links them; other alarms untouched', () => {
    const log = new AlarmLog();
    const a = entry({ uniqueId: log.newUniqueId(), alarmId: 1 });
    const b = entry({ uniqueId: log.newUniqueId(), alarmId: 2 });
    log.add(a);
    log.add(b);
    const c = entry({
      uniqueId: log.newUniqueId(),
      alarmId: 1,
      oldStatus: STATUS.WARNING,
      newStatus: STATUS.CLEAR,
    });
    expect(log.add(c)).toBe(a);
    expect(a.flags & FLAG.UPDATED).toBeTruthy();
    expect(a.updatedById).toBe(c.uniqueId);
    expect(c.updatesId).toBe(a.uniqueId);
    expect(b.flags & FLAG.UPDATED).toBe(0);
    expect(log.pending().map((e) => e.uniqueId)).toEqual([b.uniqueId, c.uniqueId]);
  });

  it('ids increase and continue after restore()', () => {
    const log = new AlarmLog();
    log.restore(41, new Map([[3, 9]]));
    expect(log.newUniqueId()).toBe(42);
    expect(log.nextEventId(3)).toBe(10);
    expect(log.nextEventId(4)).toBe(1);
  });

  it('non-clear duration accumulates while the alarm stays raised', () => {
    const log = new AlarmLog();
    const a = entry({ uniqueId: 1, oldStatus: STATUS.CLEAR, newStatus: STATUS.WARNING, nonClearDuration: 0 });
    log.add(a);
    a.nonClearDuration = 0;
    const b = entry({
      uniqueId: 2,
      oldStatus: STATUS.WARNING,
      newStatus: STATUS.CRITICAL,
      nonClearDuration: 30,
    });
    log.add(b);
    const c = entry({
      uniqueId: 3,
      oldStatus: STATUS.CRITICAL,
      newStatus: STATUS.CLEAR,
      nonClearDuration: 40,
    });
    log.add(c);
    expect(c.nonClearDuration).toBe(70);
  });
});
