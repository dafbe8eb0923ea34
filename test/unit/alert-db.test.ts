// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Netdata's evaluation traces are written `${name}`.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AlertDb } from '../../src/health/alert-db.js';
import { type AlarmEntry, AlarmLog, FLAG, notificationDecision } from '../../src/health/engine.js';
import { STATUS, statusName } from '../../src/health/types.js';
import { HealthSim, shippedResetAlerts } from '../helpers/health-sim.js';

function entry(uniqueId: number, alarmId: number, over: Partial<AlarmEntry> = {}): AlarmEntry {
  return {
    uniqueId,
    alarmId,
    alarmEventId: uniqueId,
    globalId: 0,
    configHashId: 'h',
    transitionId: `t${uniqueId}`,
    when: 1000 + uniqueId,
    duration: 0,
    nonClearDuration: 0,
    name: 'a',
    chart: 'ip.tcphandshake',
    context: 'ip.tcphandshake',
    classification: 'Errors',
    component: 'Network',
    type: 'System',
    exec: '',
    recipient: 'sysadmin',
    execRunTimestamp: 0,
    execCode: 0,
    source: 'line=1,file=x',
    units: 'resets/s',
    summary: 's',
    info: 'i',
    oldValue: Number.NaN,
    newValue: 3.5,
    oldStatus: STATUS.CLEAR,
    newStatus: STATUS.WARNING,
    flags: 0,
    delay: 20,
    delayUpToTimestamp: 1020 + uniqueId,
    updatedById: 0,
    updatesId: 0,
    lastRepeat: 0,
    expression: '$this > 1',
    trace: '[ ${this} = 3.5 ] ',
    ...over,
  };
}

describe('AlertDb', () => {
  it('keeps entries with NaN values, newest first, filtered by unique id', () => {
    const adb = new AlertDb(new Database(':memory:'));
    adb.saveEntry(entry(1, 1));
    adb.saveEntry(entry(2, 1, { newStatus: STATUS.CLEAR, oldStatus: STATUS.WARNING, newValue: Number.NaN }));
    const all = adb.entries();
    expect(all.map((e) => e.uniqueId)).toEqual([2, 1]);
    expect(all[0]!.newValue).toBeNaN();
    expect(all[1]!.trace).toBe('[ ${this} = 3.5 ] ');
    expect(adb.entries({ after: 1 }).map((e) => e.uniqueId)).toEqual([2]);
  });

  it('alarm ids are stable per chart and name', () => {
    const adb = new AlertDb(new Database(':memory:'));
    const a = adb.alarmId('ip.tcphandshake', 'x');
    const b = adb.alarmId('ip.tcphandshake', 'y');
    expect(adb.alarmId('ip.tcphandshake', 'x')).toBe(a);
    expect(b).not.toBe(a);
  });

  it('after a restart the last executed entry per alarm comes back, so the same status is not sent twice', () => {
    const adb = new AlertDb(new Database(':memory:'));
    adb.saveEntry(entry(1, 7, { flags: FLAG.PROCESSED | FLAG.EXEC_RUN }));
    adb.saveEntry(entry(2, 8, { flags: FLAG.PROCESSED }));
    const last = adb.lastIds();
    expect(last.uniqueId).toBe(2);
    expect(last.executed.map((e) => e.uniqueId)).toEqual([1]);
    const log = new AlarmLog();
    log.restore(last.uniqueId, last.eventIds, last.executed);
    expect(log.newUniqueId()).toBe(3);
    const again = entry(3, 7);
    log.add(again);
    expect(notificationDecision(again, log.lastExecuted(7, again))).toEqual({
      send: false,
      reason: 'same-as-last-sent',
    });
    const clear = entry(4, 7, { oldStatus: STATUS.UNINITIALIZED, newStatus: STATUS.CLEAR });
    log.add(clear);
    // The last executed entry was a WARNING: this CLEAR is not a "first CLEAR" and is sent.
    expect(notificationDecision(clear, log.lastExecuted(7, clear)).send).toBe(true);
  });

  it('retention drops old entries only', () => {
    const adb = new AlertDb(new Database(':memory:'));
    adb.saveEntry(entry(1, 1, { when: 100 }));
    adb.saveEntry(entry(2, 1, { when: 10_000 }));
    expect(adb.applyRetention(10_100, 5000)).toBe(1);
    expect(adb.entries().map((e) => e.uniqueId)).toEqual([2]);
  });
});

describe('AlertDb state writes: one transaction per iteration', () => {
  /** Counts the transactions that write to health_state, through SQLite's own commit hook stand-in. */
  function countingDb(): { db: Database.Database; commits: () => number } {
    const db = new Database(':memory:');
    const realTransaction = db.transaction.bind(db);
    let commits = 0;
    db.transaction = ((fn: (...a: unknown[]) => unknown) => {
      const t = realTransaction(fn);
      return Object.assign((...a: unknown[]) => {
        const r = t(...a);
        commits++;
        return r;
      }, t);
    }) as typeof db.transaction;
    return { db, commits: () => commits };
  }

  it('an iteration writes every evaluated alert’s state in one transaction, the newest per alert', () => {
    const { db, commits } = countingDb();
    const adb = new AlertDb(db);
    const sim = new HealthSim({ config: shippedResetAlerts(), persistence: adb });
    // Checks start 60 s after the agent (the postponement); the shipped alerts run every 10 s.
    sim.run({ AttemptFails: '0x100 80x20' });
    const states = adb.states();
    expect(states.length).toBe(sim.engine.alerts.length);
    expect(sim.engine.alerts.length).toBeGreaterThan(3);
    // One transaction per iteration that evaluated something (one per 10 s here), never one per alert.
    let evaluatingSeconds = 0;
    const sim2 = new HealthSim({ config: shippedResetAlerts() });
    sim2.run({ AttemptFails: '0x100 80x20' }, (t) => {
      if (sim2.engine.alerts.some((a) => a.lastUpdated === t)) evaluatingSeconds++;
    });
    expect(evaluatingSeconds).toBeGreaterThanOrEqual(6);
    expect(commits()).toBe(evaluatingSeconds);
    for (const rt of sim.engine.alerts) {
      const row = states.find((r) => r.alarmId === rt.alarmId)!;
      expect(row.lastUpdated).toBe(rt.lastUpdated);
      expect(row.status).toBe(statusName(rt.status));
    }
  });

  it('saveState only buffers; endIteration writes; a failed write keeps the buffer for the next one', () => {
    const db = new Database(':memory:');
    const adb = new AlertDb(db);
    const sim = new HealthSim({ config: shippedResetAlerts(), persistence: adb });
    sim.run({ AttemptFails: '0x80' });
    const rt = sim.engine.alerts[0]!;
    const stored = () => adb.states().find((r) => r.alarmId === rt.alarmId)!.lastUpdated;
    const before = stored();
    adb.saveState({ ...rt, lastUpdated: before + 1000 });
    expect(stored()).toBe(before);
    db.pragma('query_only = 1');
    expect(() => adb.endIteration()).toThrow();
    db.pragma('query_only = 0');
    expect(stored()).toBe(before);
    adb.endIteration();
    expect(stored()).toBe(before + 1000);
  });
});
