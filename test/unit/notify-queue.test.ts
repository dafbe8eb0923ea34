/**
 * The notification queue and dispatcher in simulated time: the backoff schedule, dedup by (transition,
 * method), order per alert, give-up, bounded concurrency, a notifier that never waits for a receiver, and
 * a restart that resends what was pending.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/internal/clock.js';
import { memoryLogger } from '../../src/internal/log.js';
import { emptyNotifyConfig } from '../../src/notify/config.js';
import { Dispatcher } from '../../src/notify/dispatch.js';
import { testEvent } from '../../src/notify/message.js';
import { backoffMs, NotifyQueue } from '../../src/notify/queue.js';
import type { NotifyConfig, NotifyEvent, Sender, SendResult } from '../../src/notify/types.js';

function event(alarmId: number, n: number, status: NotifyEvent['status'] = 'WARNING'): NotifyEvent {
  const e = testEvent({
    host: 'h',
    machineGuid: 'g',
    role: 'sysadmin',
    command: 'rstwatch',
    nowSec: 1000 + n,
  });
  return {
    ...e,
    kind: 'transition',
    alarmId,
    uniqueId: n,
    transitionId: `t-${alarmId}-${n}`,
    name: `alarm${alarmId}`,
    status,
  };
}

const QOPTS = { retryFirstMs: 1000, retryMaxMs: 60_000, giveUpAfterMs: 3_600_000, maxPending: 100 };

/** Let promise callbacks run (sends are async even when the fake sender answers at once). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** A sender whose answers the test scripts: a list of results consumed in order, then `ok`. */
class ScriptedSender implements Sender {
  readonly calls: { event: NotifyEvent; atMs: number }[] = [];
  private readonly script: SendResult[];
  private readonly clock: FakeClock;
  /** When set, sends hang until released (a receiver that never answers). */
  hang = false;
  private readonly hung: (() => void)[] = [];
  constructor(clock: FakeClock, script: SendResult[] = []) {
    this.clock = clock;
    this.script = [...script];
  }
  send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult> {
    this.calls.push({ event, atMs: this.clock.wallMs() });
    if (this.hang) {
      return new Promise((resolve) => {
        const done = () => resolve({ ok: false, retry: true, error: 'aborted' });
        signal.addEventListener('abort', done, { once: true });
        this.hung.push(() => resolve({ ok: true }));
      });
    }
    return Promise.resolve(this.script.shift() ?? { ok: true });
  }
  release(): void {
    for (const r of this.hung.splice(0)) r();
  }
}

function config(methods: string[], over: Partial<NotifyConfig> = {}): NotifyConfig {
  const c = { ...emptyNotifyConfig(), retryFirstMs: 1000, retryMaxMs: 60_000, ...over };
  c.roles.set(
    'sysadmin',
    methods.map((m) => ({ method: m, onlyCritical: false, noWarning: false, noClear: false })),
  );
  for (const m of methods)
    c.methods.set(m, {
      type: 'webhook',
      name: m,
      url: 'http://127.0.0.1:9/',
      headers: {},
      timeoutMs: 1000,
      line: 1,
    });
  return c;
}

describe('backoff', () => {
  it('doubles from the first delay, with equal jitter, capped', () => {
    const lo = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, 1000, 60_000, () => 0));
    const hi = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, 1000, 60_000, () => 0.999999));
    expect(lo).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(hi).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    expect(backoffMs(1000, 1000, 60_000, () => 0.5)).toBe(45_000); // no overflow for huge attempt counts
  });
});

describe('NotifyQueue', () => {
  it('keeps one message per (transition, method), whatever is offered twice', () => {
    const q = new NotifyQueue(new Database(':memory:'), QOPTS);
    expect(q.enqueue(event(1, 1), ['a', 'b'], 0).added).toBe(2);
    expect(q.enqueue(event(1, 1), ['a', 'b', 'c'], 5).added).toBe(1);
    expect(q.pendingCount()).toBe(3);
    expect(
      q
        .list()
        .map((m) => `${m.transitionId}/${m.method}`)
        .sort(),
    ).toEqual(['t-1-1/a', 't-1-1/b', 't-1-1/c']);
  });

  it('offers only the oldest pending message of each alert and method, so nothing overtakes', () => {
    const q = new NotifyQueue(new Database(':memory:'), QOPTS);
    q.enqueue(event(1, 1), ['a'], 0);
    q.enqueue(event(1, 2, 'CLEAR'), ['a'], 0);
    q.enqueue(event(2, 3), ['a'], 0);
    const due = q.due(0, new Set(), 10);
    expect(due.map((m) => m.transitionId)).toEqual(['t-1-1', 't-2-3']);
    // The first one fails: its successor still waits behind it.
    q.markFailed(due[0]!.id, 0, 'down', true);
    q.markSent(due[1]!.id, 0);
    expect(q.due(0, new Set(), 10)).toEqual([]);
    expect(q.nextDueMs(new Set())).toBeGreaterThanOrEqual(500);
    const later = q.due(1000, new Set(), 10);
    expect(later.map((m) => m.transitionId)).toEqual(['t-1-1']);
    q.markSent(later[0]!.id, 1000);
    expect(q.due(1000, new Set(), 10).map((m) => m.transitionId)).toEqual(['t-1-2']);
  });

  it('ends a message a receiver refused, and gives up on one older than the limit; the next goes ahead', () => {
    const q = new NotifyQueue(new Database(':memory:'), { ...QOPTS, giveUpAfterMs: 60_000, random: () => 0 });
    q.enqueue(event(1, 1), ['a'], 0);
    q.enqueue(event(1, 2), ['a'], 0);
    q.enqueue(event(1, 3), ['a'], 0);
    const [first] = q.due(0, new Set(), 1);
    expect(q.markFailed(first!.id, 0, 'HTTP 400', false)).toEqual({ state: 'failed' });
    let now = 0;
    let r: ReturnType<NotifyQueue['markFailed']> = { state: 'pending' };
    const schedule: number[] = [];
    while (r.state === 'pending') {
      const [m] = q.due(now, new Set(), 1);
      expect(m!.transitionId).toBe('t-1-2');
      r = q.markFailed(m!.id, now, 'ECONNREFUSED', true);
      if (r.nextAttemptMs !== undefined) {
        schedule.push(r.nextAttemptMs - now);
        now = r.nextAttemptMs;
      }
    }
    expect(r.state).toBe('dropped');
    // 0.5+1+2+4+8+16 = 31.5 s; the next delay (30 s) would pass the 60 s limit: the 7th failure drops it.
    expect(schedule).toEqual([500, 1000, 2000, 4000, 8000, 16000]);
    expect(q.due(now, new Set(), 1)[0]!.transitionId).toBe('t-1-3');
    expect(q.list({ state: 'dropped' }).map((m) => m.attempts)).toEqual([schedule.length + 1]);
  });

  it('refuses new messages beyond the pending bound', () => {
    const q = new NotifyQueue(new Database(':memory:'), { ...QOPTS, maxPending: 10 });
    for (let i = 0; i < 4; i++) q.enqueue(event(i, i), ['a', 'b', 'c'], 0);
    expect(q.pendingCount()).toBe(10);
    expect(q.enqueue(event(9, 9), ['a'], 0)).toEqual({ added: 0, refused: ['a'] });
  });
});

describe('Dispatcher in simulated time', () => {
  it('retries on the backoff schedule until the receiver comes back, then delivers each transition once, in order', async () => {
    const clock = new FakeClock();
    const down: SendResult = { ok: false, retry: true, error: 'ECONNREFUSED' };
    const a = new ScriptedSender(clock, [down, down, down, down]);
    const d = new Dispatcher({
      config: config(['a']),
      db: new Database(':memory:'),
      clock,
      log: memoryLogger(),
      host: 'h',
      machineGuid: 'g',
      senders: new Map([['a', a]]),
      random: () => 0,
    });
    const t0 = clock.wallMs();
    d.enqueue(event(1, 1), ['a']);
    d.enqueue(event(1, 2, 'CLEAR'), ['a']);
    // 1 ms steps: a result is handled in the same simulated millisecond the receiver answered.
    clock.advance(0);
    await settle();
    for (let i = 0; i < 9000; i++) {
      clock.advance(1);
      await settle();
    }
    // 4 failures of the WARNING at +0, +0.5 s, +1.5 s, +3.5 s; delivered at +7.5 s; then the CLEAR.
    expect(a.calls.map((c) => [c.event.transitionId, c.atMs - t0])).toEqual([
      ['t-1-1', 0],
      ['t-1-1', 500],
      ['t-1-1', 1500],
      ['t-1-1', 3500],
      ['t-1-1', 7500],
      ['t-1-2', 7500],
    ]);
    expect(d.stats).toMatchObject({ queued: 2, sent: 2, retried: 4, failed: 0, dropped: 0 });
    expect(d.queue.pendingCount()).toBe(0);
    await d.stop();
  });

  it('never lets the engine wait: the notifier returns while every receiver hangs; concurrency is bounded', async () => {
    const clock = new FakeClock();
    const senders = new Map<string, ScriptedSender>();
    for (const m of ['a', 'b', 'c']) {
      const s = new ScriptedSender(clock);
      s.hang = true;
      senders.set(m, s);
    }
    const d = new Dispatcher({
      config: config(['a', 'b', 'c'], { concurrency: 2 }),
      db: new Database(':memory:'),
      clock,
      log: memoryLogger(),
      host: 'h',
      machineGuid: 'g',
      senders,
    });
    const started = performance.now();
    for (let i = 1; i <= 5; i++) d.enqueue(event(i, i), ['a', 'b', 'c']);
    expect(performance.now() - started).toBeLessThan(200);
    clock.advance(10);
    await settle();
    const calls = () => [...senders.values()].reduce((n, s) => n + s.calls.length, 0);
    expect(calls()).toBe(2);
    for (const s of senders.values()) s.release();
    for (let i = 0; i < 50 && d.queue.pendingCount() > 0; i++) {
      clock.advance(10);
      await settle();
      for (const s of senders.values()) s.release();
    }
    expect(d.queue.pendingCount()).toBe(0);
    expect(calls()).toBe(15);
    await d.stop();
  });

  it('survives a restart: what was pending or in flight is sent by the next dispatcher on the same file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rstwatch-notify-q-')), 'history.db');
    const clock = new FakeClock();
    const first = new ScriptedSender(clock);
    first.hang = true;
    const db1 = new Database(file);
    const d1 = new Dispatcher({
      config: config(['a']),
      db: db1,
      clock,
      log: memoryLogger(),
      host: 'h',
      machineGuid: 'g',
      senders: new Map([['a', first]]),
    });
    d1.enqueue(event(1, 1), ['a']);
    d1.enqueue(event(1, 2, 'CLEAR'), ['a']);
    d1.enqueue(event(2, 3), ['a']);
    clock.advance(10);
    await settle();
    expect(first.calls.length).toBe(2); // alarm 1's head and alarm 2's, both hanging
    await d1.stop(100); // the grace period passes, the attempts are aborted: they stay pending
    db1.close();

    const db2 = new Database(file);
    const second = new ScriptedSender(clock);
    const log = memoryLogger();
    const d2 = new Dispatcher({
      config: config(['a']),
      db: db2,
      clock,
      log,
      host: 'h',
      machineGuid: 'g',
      senders: new Map([['a', second]]),
    });
    expect(log.lines.join('\n')).toMatch(/notifications left from the last run will be sent.*pending=3/);
    // The same transition offered again after the restart is not a second message.
    d2.enqueue(event(1, 1), ['a']);
    for (let i = 0; i < 10; i++) {
      clock.advance(10);
      await settle();
    }
    expect(second.calls.map((c) => c.event.transitionId).sort()).toEqual(['t-1-1', 't-1-2', 't-2-3']);
    const order = second.calls.map((c) => c.event.transitionId).filter((t) => t.startsWith('t-1-'));
    expect(order).toEqual(['t-1-1', 't-1-2']);
    expect(d2.queue.list({ state: 'sent' }).length).toBe(3);
    await d2.stop();
    db2.close();
  });
});
