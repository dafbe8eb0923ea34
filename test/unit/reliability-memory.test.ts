/**
 * Issue 8, soak: memory is flat once the agent holds its hour of per-second data. The second soak
 * (docs/reliability.md, "Soak") measured 9.5 MB of RSS growth in the hour after an hour of warm-up; in
 * simulated time, with storms on and off, two structures kept growing after the first hour:
 *  - attribution's per-second ring (src/attribute/aggregate.ts): a slot was reused only when a later event
 *    fell on it, so each quiet second kept the bucket of a stormy second an hour or more old, and the ring
 *    filled with stale seconds for hours (the soak's plan: 1,693 buckets held at minute 60, 2,577 at 120);
 *  - the in-memory alert log (src/health/scheduler.ts): every transition stayed, with its attribution
 *    context, until 2,000 entries, although all of them are on disk;
 *  - off the heap, SQLite's page cache (src/store/history-db.ts): better-sqlite3's build gives every
 *    connection 16 MB of it, filled page by page as the history file grows (for a day: 25 h of seconds).
 * Each test runs hours of simulated time and checks the structure's size against what the last hour
 * needs, and the V8 heap after a full collection at hour 4 against hour 2.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/attribute/aggregate.js';
import { attachAlertContext } from '../../src/attribute/alert-context.js';
import type { RstEvent } from '../../src/attribute/types.js';
import { FLAG } from '../../src/health/engine.js';
import type { HealthPersistence } from '../../src/health/scheduler.js';
import { STATUS } from '../../src/health/types.js';
import { HistoryDb, PAGE_CACHE_KIB } from '../../src/store/history-db.js';
import { HealthSim } from '../helpers/health-sim.js';
import { FAST_ALERT, type SimAgent, simAgent } from './reliability-harness.js';

const HOUR = 3600;
const T0 = 1_700_000_000;

/** A full collection; `--expose-gc` switched on here when vitest's worker was started without it. */
function fullGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function heapAfterGcMB(): number {
  const gc = fullGc();
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
}

/** Storms and quiet periods like bench/soak-storm.mjs: storms 20–120 s, quiet 30–150 s, from a seed. */
function stormPlan(seconds: number, seed: number): boolean[] {
  let s = seed >>> 0;
  const random = () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const storm: boolean[] = [];
  while (storm.length < seconds) {
    const on = 20 + Math.floor(random() * 100);
    for (let i = 0; i < on; i++) storm.push(true);
    const off = 30 + Math.floor(random() * 120);
    for (let i = 0; i < off; i++) storm.push(false);
  }
  return storm.slice(0, seconds);
}

/**
 * One second of the soak's storm as attribution sees it: half the attempts refused (RST from port 9), half
 * aborted (RST from 8080), each RST seen sent and received, every client on its own ephemeral port — so
 * each closed second holds the full K keys in the port and tuple dimensions.
 */
function stormSecond(agg: Aggregator, sec: number, attempts: number, portFrom: number): number {
  let port = portFrom;
  for (let i = 0; i < attempts; i++) {
    port = port >= 60999 ? 32768 : port + 1;
    const refused = i % 2 === 0;
    const server = refused ? 9 : 8080;
    const sent: RstEvent = {
      direction: 'sent',
      family: 'ipv4',
      localAddr: '127.0.0.1',
      localPort: server,
      remoteAddr: '127.0.0.1',
      remotePort: port,
      reason: refused ? 'NO_SOCKET' : 'NOT_SPECIFIED',
      state: refused ? 'TCP_CLOSE' : 'TCP_ESTABLISHED',
    };
    agg.add(sent, sec);
    agg.add(
      {
        direction: 'received',
        family: 'ipv4',
        localAddr: '127.0.0.1',
        localPort: port,
        remoteAddr: '127.0.0.1',
        remotePort: server,
        reason: 'NOT_REPORTED',
        state: refused ? 'TCP_SYN_SENT' : 'TCP_ESTABLISHED',
      },
      sec,
    );
  }
  return port;
}

describe('attribution aggregator: an hour of seconds, not the union of every hour', () => {
  it('holds only the stormy seconds of the last hour, answers as before, and forgets all after a jump', () => {
    const agg = new Aggregator({ topK: 10, retentionSeconds: HOUR });
    const plan = stormPlan(4 * HOUR, 7);
    let port = 32768;
    const checked: number[] = [];
    for (let t = 0; t < plan.length; t++) {
      if (plan[t]) port = stormSecond(agg, T0 + t, 4, port);
      agg.tick(T0 + t);
      if (t > 0 && t % HOUR === 0) {
        // The ring may hold the seconds (now − retention, now] that saw events, and nothing older.
        let expected = 0;
        let events = 0;
        for (let u = t - HOUR + 1; u <= t; u++)
          if (plan[u]) {
            expected++;
            events += 4 * 2;
          }
        expect(agg.heldSeconds).toBe(expected);
        // Every event of the last hour is still counted: only seconds out of the retention went.
        expect(agg.top({ nowSec: T0 + t, windowSeconds: HOUR }).total).toBe(events);
        checked.push(agg.heldSeconds);
      }
    }
    // Storms cover about 40 % of the time: before the fix the ring held the union (90 % by hour 4).
    expect(checked).toHaveLength(3);
    for (const held of checked) expect(held).toBeLessThan(0.6 * HOUR);
    expect(agg.counters.expired).toBeGreaterThan(0);
    // The clock jumps two hours ahead: nothing in the ring is within the retention any more.
    agg.tick(T0 + plan.length + 2 * HOUR);
    expect(agg.heldSeconds).toBe(0);
    expect(agg.top({ nowSec: T0 + plan.length + 2 * HOUR, windowSeconds: HOUR }).total).toBe(0);
  });

  it('V8 heap after a full collection: hour 4 within 1.5 MB of hour 2 under storms on and off', () => {
    const agg = new Aggregator({ topK: 10, retentionSeconds: HOUR });
    const plan = stormPlan(4 * HOUR + 1, 11);
    let port = 32768;
    const heapMB: number[] = [];
    for (let t = 0; t < plan.length; t++) {
      if (plan[t]) port = stormSecond(agg, T0 + t, 20, port);
      agg.tick(T0 + t);
      if (t === 2 * HOUR || t === 4 * HOUR) heapMB.push(heapAfterGcMB());
    }
    // Before the fix: +3.9 MB here (the stale buckets of hours 1–2 that quiet seconds never replaced).
    expect(heapMB).toHaveLength(2);
    expect(heapMB[1]! - heapMB[0]!).toBeLessThan(1.5);
    expect(agg.heldSeconds).toBeLessThanOrEqual(HOUR);
  });
});

describe('history database: SQLite page cache', () => {
  /** Resident memory outside V8's heap and its external buffers, after a full collection (MB). */
  function nativeMB(): number {
    fullGc()();
    const m = process.memoryUsage();
    return (m.rss - m.heapTotal - m.external) / 1e6;
  }

  it('30 MB of history written grows native memory by the 2 MB page cache, not by 16 MB', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-mem-'));
    const db = HistoryDb.open(join(dir, 'history.db'), T0 * 1000);
    try {
      expect(db.connection.pragma('cache_size', { simple: true })).toBe(-PAGE_CACHE_KIB);
      const ids = Array.from({ length: 64 }, (_, i) =>
        db.seriesId({ netns: 'host', chart: 'ip.tcp', dim: `d${i}` }),
      );
      const values = new Float64Array(60).map((_, i) => i * 1.5);
      const before = nativeMB();
      // 64 series × 1,000 blocks of 60 seconds: the file grows as tier 0 does in ~18 hours of 30 series.
      for (let block = 0; block < 1000; block++)
        db.transaction(() => {
          for (const id of ids) db.putBlock(id, T0 + block * 60, 1, values);
        });
      const grownMB = nativeMB() - before;
      const fileMB =
        (statSync(join(dir, 'history.db')).size + statSync(join(dir, 'history.db-wal')).size) / 1e6;
      expect(fileMB).toBeGreaterThan(25);
      // Before the fix: +17 MB (better-sqlite3's SQLITE_DEFAULT_CACHE_SIZE=-16000).
      expect(grownMB).toBeLessThan(8);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('alert engine: the in-memory log keeps an hour when the log is on disk', () => {
  /** Persistence that keeps what it is given (the agent's is SQLite through db-guard.ts). */
  function recording(): HealthPersistence & { saved: Map<number, number> } {
    const saved = new Map<number, number>();
    const ids = new Map<string, number>();
    return {
      saved,
      alarmId(chart, name) {
        const k = `${chart} ${name}`;
        if (!ids.has(k)) ids.set(k, ids.size + 1);
        return ids.get(k)!;
      },
      saveEntry(e) {
        saved.set(e.uniqueId, e.newStatus);
      },
      saveState() {},
    };
  }
  // A storm of 30 s every 2 minutes, for 3 hours: a raise and a clear each time.
  const rates = Array.from({ length: 90 }, () => '50x30 1x90').join(' ');

  it('with persistence: older entries leave memory (not the ones the rules read); decisions unchanged', () => {
    const plain = new HealthSim({ config: FAST_ALERT, file: 'rel.conf' }).run(rates);
    const persistence = recording();
    const kept = new HealthSim({ config: FAST_ALERT, file: 'rel.conf', persistence }).run(rates);
    const key = (e: { uniqueId: number; when: number; oldStatus: number; newStatus: number }) =>
      `${e.uniqueId} ${e.when} ${e.oldStatus}→${e.newStatus}`;
    // The same transitions and notifications, pruned or not.
    expect(kept.entries.map(key)).toEqual(plain.entries.map(key));
    expect(kept.notifications.map((n) => key(n.entry))).toEqual(plain.notifications.map((n) => key(n.entry)));
    expect(plain.entries.length).toBeGreaterThan(170);
    // Without persistence the memory log is the only log: every entry stays (below the 2,000 cap).
    expect(plain.engine.log.all.length).toBe(plain.entries.length);
    // With it, every entry was saved, and memory holds the last hour (plus the rules' entries).
    for (const e of kept.entries) expect(persistence.saved.has(e.uniqueId)).toBe(true);
    const now = kept.t - 1;
    const memory = kept.engine.log.all;
    const lastHour = kept.entries.filter((e) => e.when > now - HOUR).length;
    expect(memory.length).toBeGreaterThanOrEqual(lastHour);
    expect(memory.length).toBeLessThanOrEqual(lastHour + 2);
    const older = memory.filter((e) => e.when <= now - HOUR - 60);
    expect(older.length).toBeLessThanOrEqual(1);
    for (const e of older) expect(e.flags & FLAG.EXEC_RUN).toBeTruthy();
  });
});

describe('whole agent in simulated time: the alert log and attribution stay flat after the first hour', () => {
  let sim: SimAgent | undefined;
  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  it('4 hours of storms: memory log = the last hour + what the rules need, all on disk, heap flat', async () => {
    sim = await simAgent();
    const s = sim;
    const agg = new Aggregator({ topK: 10, retentionSeconds: HOUR });
    // Attribution as the agent wires it (alert context on every transition of a reset alert), fed directly.
    attachAlertContext(s.agent.health.log, () => s.agent.health.alerts, {
      top: (q) => {
        agg.tick(q.nowSec);
        return agg.top(q);
      },
      status: () => ({ enabled: true }),
    });
    const plan = stormPlan(4 * HOUR + 1, 3);
    let port = 32768;
    const heapMB: number[] = [];
    const logSizes: number[] = [];
    const sec = () => Math.floor(s.clock.wallMs() / 1000);
    for (let t = 0; t < plan.length; t++) {
      // FAST_ALERT: average of AttemptFails over 5 s above 10 is WARNING, so each storm raises and clears.
      s.perSecond.AttemptFails = plan[t] ? 50 : 1;
      if (plan[t]) port = stormSecond(agg, sec() + 1, 20, port);
      agg.tick(sec() + 1);
      await s.advance(1);
      // The harness's own records (log lines, notified copies) are not the agent's memory.
      s.log.lines.length = 0;
      s.notified.length = 0;
      if (t > 0 && t % HOUR === 0) {
        const now = sec();
        const all = s.agent.health.log.all;
        logSizes.push(all.length);
        // Older than an hour and still in memory: only the newest entry of an alarm, its last executed
        // one, or one still waiting (§3.8 step 4 reads those).
        const newest = new Map<number, number>();
        for (const e of all) newest.set(e.alarmId, e.uniqueId);
        const old = all.filter(
          (e) =>
            e.when <= now - HOUR - 60 &&
            newest.get(e.alarmId) !== e.uniqueId &&
            !(e.flags & FLAG.EXEC_RUN) &&
            e.flags & (FLAG.PROCESSED | FLAG.UPDATED),
        );
        expect(old).toEqual([]);
        if (t === 2 * HOUR || t === 4 * HOUR) heapMB.push(heapAfterGcMB());
      }
    }
    // Each storm is a raise and a clear: ~50 transitions an hour. In memory: about one hour's worth.
    const stored = s.storedLog().filter((e) => e.oldStatus !== STATUS.REMOVED);
    expect(stored.length).toBeGreaterThan(150);
    expect(logSizes).toHaveLength(4);
    for (const n of logSizes.slice(1)) expect(n).toBeLessThan(stored.length / 2);
    // Nothing is lost: every entry in memory is the stored one, and the storms' reset alert has context.
    const byId = new Map(stored.map((e) => [e.uniqueId, e]));
    for (const e of s.agent.health.log.all.filter((x) => x.oldStatus !== STATUS.REMOVED))
      expect(byId.get(e.uniqueId)?.newStatus).toBe(e.newStatus);
    const raised = stored.filter((e) => e.newStatus === STATUS.WARNING);
    expect(raised.length).toBeGreaterThan(50);
    expect(raised.every((e) => (e.context_extra?.top.total ?? 0) > 0)).toBe(true);
    // The aggregator holds at most an hour; the whole heap is flat from hour 2 to hour 4.
    expect(agg.heldSeconds).toBeLessThanOrEqual(HOUR);
    expect(heapMB).toHaveLength(2);
    expect(heapMB[1]! - heapMB[0]!).toBeLessThan(1.5);
  }, 120_000);
});
