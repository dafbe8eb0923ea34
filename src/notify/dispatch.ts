/**
 * The dispatcher: the alert engine's notifier on one side, the senders on the other, the persistent queue
 * in between.
 *
 * `notifier(entry, alert)` runs inside the engine's iteration, i.e. on the sampling tick, so it does only
 * what is cheap and cannot wait: route the alert's roles to methods, snapshot the event, insert one row per
 * method (one SQLite transaction, tens of microseconds) and schedule a pump. Sending happens later, async,
 * at most `concurrency` at a time, each attempt with its own deadline: a dead receiver costs a timer, never
 * a late sample.
 */

import type Database from 'better-sqlite3';
import type { AlarmEntry } from '../health/engine.js';
import type { AlertRuntime } from '../health/scheduler.js';
import { statusName } from '../health/types.js';
import type { Clock } from '../internal/clock.js';
import { errorMessage } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import { route } from './config.js';
import { buildEvent } from './message.js';
import { NotifyQueue, type QueuedMessage } from './queue.js';
import { type AlertmanagerDeps, AlertmanagerSender } from './senders/alertmanager.js';
import { emailSender } from './senders/email.js';
import { execSender } from './senders/exec.js';
import { slackSender } from './senders/slack.js';
import { webhookSender } from './senders/webhook.js';
import type { MethodConfig, NotifyConfig, NotifyEvent, Sender } from './types.js';

export interface DispatcherOptions {
  config: NotifyConfig;
  /** The agent's SQLite connection (history.db); an in-memory database when the agent has none. */
  db: Database.Database;
  clock: Clock;
  log: Logger;
  host: string;
  machineGuid: string;
  /** The engine's alerts, for the other-alerts arguments, baselines and Alertmanager's live status. */
  alerts?: () => readonly AlertRuntime[];
  /** Replace the senders (tests). */
  senders?: Map<string, Sender>;
  random?: () => number;
}

export interface DispatcherStats {
  queued: number;
  sent: number;
  retried: number;
  failed: number;
  dropped: number;
}

/** A sender for one configured method; Alertmanager's needs the queue and database for its resends. */
export function createSender(m: MethodConfig, deps: AlertmanagerDeps): Sender {
  switch (m.type) {
    case 'exec':
      return execSender(m);
    case 'webhook':
      return webhookSender(m);
    case 'slack':
      return slackSender(m);
    case 'email':
      return emailSender(m);
    case 'alertmanager':
      return new AlertmanagerSender(m, deps);
  }
}

/** Finished messages are kept this long for `rstwatch notify queue`, then pruned. */
const KEEP_FINISHED_MS = 7 * 86_400_000;

export class Dispatcher {
  readonly queue: NotifyQueue;
  readonly stats: DispatcherStats = { queued: 0, sent: 0, retried: 0, failed: 0, dropped: 0 };
  private readonly opts: DispatcherOptions;
  private readonly senders: Map<string, Sender>;
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly abort = new AbortController();
  private cancelWake: (() => void) | undefined;
  private wakeAtMs = Number.POSITIVE_INFINITY;
  private stopped = false;
  private lastPruneMs = 0;

  constructor(opts: DispatcherOptions) {
    this.opts = opts;
    this.queue = new NotifyQueue(opts.db, {
      retryFirstMs: opts.config.retryFirstMs,
      retryMaxMs: opts.config.retryMaxMs,
      giveUpAfterMs: opts.config.giveUpAfterMs,
      maxPending: opts.config.maxPending,
      ...(opts.random ? { random: opts.random } : {}),
    });
    this.senders = opts.senders ?? new Map();
    if (!opts.senders)
      for (const m of opts.config.methods.values()) this.senders.set(m.name, this.makeSender(m));
    const pending = this.queue.pendingCount();
    if (pending > 0) opts.log.info('notifications left from the last run will be sent', { pending });
    this.kick();
  }

  private makeSender(m: MethodConfig): Sender {
    return createSender(m, {
      db: this.opts.db,
      clock: this.opts.clock,
      log: this.opts.log,
      queue: this.queue,
      statusOf: (alarmId) => {
        const rt = this.opts.alerts?.().find((a) => a.alarmId === alarmId);
        if (!rt) return undefined;
        return { status: statusName(rt.status), value: Number.isFinite(rt.value) ? rt.value : null };
      },
      enqueue: (event, method) => this.enqueue(event, [method]),
    });
  }

  /** The HealthEngine notifier: returns 0 (queued or nothing to send) or 1 (could not queue). */
  readonly notifier = (entry: AlarmEntry, rt: AlertRuntime): number => {
    try {
      const event = buildEvent(entry, rt, {
        host: this.opts.host,
        machineGuid: this.opts.machineGuid,
        alerts: this.opts.alerts?.() ?? [],
        command: this.opts.config.command,
      });
      const methods = route(this.opts.config, entry.recipient, event.status, event.oldStatus);
      // The line the agent has always logged for a decided notification, now with where it goes.
      this.opts.log.info('notification', {
        alert: entry.name,
        chart: entry.chart,
        status: event.status,
        old: event.oldStatus,
        to: entry.recipient,
        id: entry.uniqueId,
        methods: methods.length > 0 ? methods.join(',') : 'none',
      });
      if (methods.length > 0) this.enqueue(event, methods);
      return 0;
    } catch (err) {
      this.opts.log.error(`cannot queue a notification: ${errorMessage(err)}`, {
        code: 'E_NOTIFY_QUEUE',
        alert: entry.name,
      });
      return 1;
    }
  };

  /** Queue an event for these methods (deduplicated) and wake the pump. */
  enqueue(event: NotifyEvent, methods: readonly string[]): number {
    const r = this.queue.enqueue(event, methods, this.opts.clock.wallMs());
    this.stats.queued += r.added;
    if (r.refused.length > 0) {
      this.stats.dropped += r.refused.length;
      this.opts.log.error('notification queue full: message dropped', {
        code: 'E_NOTIFY_QUEUE_FULL',
        alert: event.name,
        methods: r.refused.join(','),
        max: this.opts.config.maxPending,
      });
    }
    this.opts.log.debug('notification queued', {
      alert: event.name,
      status: event.status,
      methods: methods.join(','),
      transition: event.transitionId,
    });
    this.kick();
    return r.added;
  }

  /** Run the pump soon (not inside the caller's stack: the engine's tick must return first). */
  private kick(): void {
    this.wake(0);
  }

  private wake(delayMs: number): void {
    if (this.stopped) return;
    const at = this.opts.clock.monoMs() + Math.max(0, delayMs);
    if (at >= this.wakeAtMs) return;
    this.cancelWake?.();
    this.wakeAtMs = at;
    this.cancelWake = this.opts.clock.setTimer(Math.max(0, delayMs), () => {
      this.wakeAtMs = Number.POSITIVE_INFINITY;
      this.cancelWake = undefined;
      this.pump();
    });
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.opts.clock.wallMs();
    try {
      if (now - this.lastPruneMs > 3_600_000) {
        this.lastPruneMs = now;
        this.queue.prune(now, KEEP_FINISHED_MS);
      }
      const busy = new Set(this.inFlight.keys());
      const free = this.opts.config.concurrency - this.inFlight.size;
      for (const msg of this.queue.due(now, busy, free)) {
        const p = this.attempt(msg).finally(() => {
          this.inFlight.delete(msg.id);
          this.kick();
        });
        this.inFlight.set(msg.id, p);
      }
      if (this.inFlight.size < this.opts.config.concurrency) {
        const next = this.queue.nextDueMs(new Set(this.inFlight.keys()));
        if (next !== undefined) this.wake(Math.max(0, next - this.opts.clock.wallMs()));
      }
    } catch (err) {
      // A database error must not stop sampling; try again a little later.
      this.opts.log.once('notify-pump', 'error', `notification queue: ${errorMessage(err)}`, {
        code: 'E_NOTIFY_QUEUE',
      });
      this.wake(5000);
    }
  }

  private async attempt(msg: QueuedMessage): Promise<void> {
    const sender = this.senders.get(msg.method);
    const log = this.opts.log;
    const fields = {
      alert: msg.event.name,
      status: msg.event.status,
      method: msg.method,
      attempt: msg.attempts + 1,
    };
    if (!sender) {
      // The method was removed from the configuration since the message was queued.
      this.queue.markFailed(msg.id, this.opts.clock.wallMs(), 'method no longer configured', false);
      this.stats.failed++;
      log.warn('notification dropped: its method is no longer configured', {
        ...fields,
        code: 'E_NOTIFY_GAVE_UP',
      });
      return;
    }
    let result: Awaited<ReturnType<Sender['send']>>;
    try {
      result = await sender.send(msg.event, this.abort.signal);
    } catch (err) {
      result = { ok: false, retry: true, error: errorMessage(err) };
    }
    if (this.stopped && !result.ok) return; // stays pending: sent again at the next start
    const now = this.opts.clock.wallMs();
    if (result.ok) {
      this.queue.markSent(msg.id, now);
      this.stats.sent++;
      log.info('notification sent', { ...fields, detail: result.detail?.slice(0, 200) });
      return;
    }
    const r = this.queue.markFailed(msg.id, now, result.error, result.retry);
    if (r.state === 'pending') {
      this.stats.retried++;
      log.warn('notification not delivered; will retry', {
        ...fields,
        code: 'E_NOTIFY_SEND',
        error: result.error,
        retryInSeconds: Math.round(((r.nextAttemptMs ?? now) - now) / 1000),
      });
    } else if (r.state === 'failed') {
      this.stats.failed++;
      log.error('notification refused by its receiver; not retried', {
        ...fields,
        code: 'E_NOTIFY_SEND',
        error: result.error,
      });
    } else {
      this.stats.dropped++;
      log.error('notification given up after retrying', {
        ...fields,
        code: 'E_NOTIFY_GAVE_UP',
        error: result.error,
      });
    }
  }

  /** Wait until nothing is in flight (tests, `notify test`). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight.values()]);
  }

  /**
   * Stop: no new attempts; attempts under way get `graceMs` to finish, then are aborted. Whatever was not
   * delivered stays pending in the database for the next start.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelWake?.();
    for (const s of this.senders.values()) await s.close?.();
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.inFlight.values()]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    this.abort.abort();
    await Promise.all([...this.inFlight.values()]);
  }
}
