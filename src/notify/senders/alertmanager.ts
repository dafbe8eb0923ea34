/**
 * Alertmanager v2: `POST <url>/api/v2/alerts` with a JSON array of alerts (labels, annotations, startsAt,
 * endsAt). Alertmanager treats an alert it does not hear about again as resolved at its endsAt, so a client
 * must resend firing alerts periodically; Prometheus does so every minute with endsAt = now + 4 × the
 * resend interval, so a dead sender's alerts resolve by themselves a few minutes later. We do the same.
 *
 * The set of alerts we told Alertmanager are firing is kept in SQLite (`notify_am_firing`), so resends go
 * on after a restart. A transition to CLEAR resolves the alert (endsAt = the clear time). Netdata's reset
 * alerts never notify their CLEAR (`no-clear-notification`), so the resend tick also looks at the live
 * status: an alert found CLEAR is resolved through the queue; one whose status is unknown (an agent that
 * just started) is no longer resent and lapses at its endsAt instead of being resolved on a guess.
 */

import type Database from 'better-sqlite3';
import type { Clock } from '../../internal/clock.js';
import type { Logger } from '../../internal/log.js';
import { render, valueString } from '../message.js';
import type { NotifyQueue } from '../queue.js';
import { alarmKeyOf } from '../queue.js';
import type { AlertmanagerMethod, NotifyEvent, Sender, SendResult } from '../types.js';
import { postJson } from './http.js';

type Db = Database.Database;

export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertmanagerDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  queue: NotifyQueue;
  /** The live status of an alarm (CLEAR, WARNING, …), or undefined when the engine does not know it. */
  statusOf?: (alarmId: number) => { status: string; value: number | null } | undefined;
  /** Queue a resolve for this method (dedup by its transition id). */
  enqueue: (event: NotifyEvent, method: string) => void;
}

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

export function amLabels(
  e: NotifyEvent,
  extra: Record<string, string>,
  severityFrom: string,
): Record<string, string> {
  return {
    alertname: e.kind === 'test' ? 'rstwatch_notification_test' : e.name,
    instance: e.host,
    chart: e.chart,
    severity: severityFrom === 'CRITICAL' ? 'critical' : 'warning',
    source: 'rstwatch',
    ...extra,
  };
}

export function amAnnotations(e: NotifyEvent): Record<string, string> {
  const { title, body } = render(e);
  const a: Record<string, string> = {
    summary: title,
    description: body,
    value: valueString(e.value, e.units),
    transition_id: e.transitionId,
  };
  if (e.explain) a.explain = `${e.nextSteps[1] ?? ''}`.trim();
  if (e.nextSteps[0]) a.capture = e.nextSteps[0];
  if (e.top?.peers[0]) a.top_peer = e.top.peers[0].key;
  return a;
}

export class AlertmanagerSender implements Sender {
  private readonly m: AlertmanagerMethod;
  private readonly deps: AlertmanagerDeps;
  private readonly stmt: {
    get: Database.Statement;
    put: Database.Statement;
    del: Database.Statement;
    all: Database.Statement;
  };
  private cancelTick: (() => void) | undefined;
  private closed = false;
  private ticking = false;

  constructor(m: AlertmanagerMethod, deps: AlertmanagerDeps) {
    this.m = m;
    this.deps = deps;
    deps.db.exec(`CREATE TABLE IF NOT EXISTS notify_am_firing(
      method TEXT NOT NULL, alarm_key TEXT NOT NULL, alert TEXT NOT NULL, event TEXT NOT NULL,
      PRIMARY KEY(method, alarm_key))`);
    this.stmt = {
      get: deps.db.prepare('SELECT alert FROM notify_am_firing WHERE method = ? AND alarm_key = ?'),
      put: deps.db.prepare(
        'INSERT INTO notify_am_firing(method, alarm_key, alert, event) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT(method, alarm_key) DO UPDATE SET alert = excluded.alert, event = excluded.event',
      ),
      del: deps.db.prepare('DELETE FROM notify_am_firing WHERE method = ? AND alarm_key = ?'),
      all: deps.db.prepare('SELECT alarm_key, alert, event FROM notify_am_firing WHERE method = ?'),
    };
    this.schedule();
  }

  private get url(): string {
    return `${this.m.url}/api/v2/alerts`;
  }

  private nowSec(): number {
    return this.deps.clock.wallMs() / 1000;
  }

  /** Prometheus's rule: endsAt = now + 4 × resend interval for a firing alert. */
  private firingEnd(): string {
    return iso(this.nowSec() + 4 * this.m.resendSeconds);
  }

  /** The alerts one queued message becomes. */
  payload(event: NotifyEvent): { alerts: AmAlert[]; firing: AmAlert | undefined } {
    const key = alarmKeyOf(event);
    const prevText = (this.stmt.get.get(this.m.name, key) as { alert: string } | undefined)?.alert;
    const prev = prevText ? (JSON.parse(prevText) as AmAlert) : undefined;
    const raised = event.kind !== 'resolve' && (event.status === 'WARNING' || event.status === 'CRITICAL');
    if (event.kind === 'test') {
      const test: AmAlert = {
        labels: amLabels(event, this.m.labels, 'WARNING'),
        annotations: amAnnotations(event),
        startsAt: iso(event.when),
        endsAt: iso(this.nowSec() + 300),
      };
      return { alerts: [test], firing: undefined };
    }
    if (raised) {
      const alert: AmAlert = {
        labels: amLabels(event, this.m.labels, event.status),
        annotations: amAnnotations(event),
        startsAt: iso(event.raisedSince),
        endsAt: this.firingEnd(),
      };
      const alerts = [alert];
      // WARNING → CRITICAL changes the severity label, i.e. the alert's identity: end the old one.
      if (prev && JSON.stringify(prev.labels) !== JSON.stringify(alert.labels))
        alerts.push({ ...prev, endsAt: iso(event.when) });
      return { alerts, firing: alert };
    }
    // A clear (or a resolve found by the resend tick): end what was firing, with the labels it had.
    const base: AmAlert = prev ?? {
      labels: amLabels(event, this.m.labels, event.oldStatus),
      annotations: amAnnotations(event),
      startsAt: iso(event.raisedSince),
      endsAt: '',
    };
    const resolved: AmAlert = { ...base, annotations: amAnnotations(event), endsAt: iso(event.when) };
    return { alerts: [resolved], firing: undefined };
  }

  async send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult> {
    const { alerts, firing } = this.payload(event);
    const r = await postJson(this.url, alerts, {
      headers: this.m.headers,
      timeoutMs: this.m.timeoutMs,
      signal,
    });
    if (r.ok && event.kind !== 'test') {
      const key = alarmKeyOf(event);
      if (firing) this.stmt.put.run(this.m.name, key, JSON.stringify(firing), JSON.stringify(event));
      else this.stmt.del.run(this.m.name, key);
    }
    return r;
  }

  private schedule(): void {
    if (this.closed) return;
    this.cancelTick = this.deps.clock.setTimer(this.m.resendSeconds * 1000, () => {
      void this.tick().finally(() => this.schedule());
    });
  }

  /** One resend round; public so tests can drive it. */
  async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      const rows = this.stmt.all.all(this.m.name) as { alarm_key: string; alert: string; event: string }[];
      const resend: AmAlert[] = [];
      for (const row of rows) {
        if (this.deps.queue.hasPending(this.m.name, row.alarm_key)) continue; // a transition is on its way
        const event = JSON.parse(row.event) as NotifyEvent;
        const live = this.deps.statusOf?.(event.alarmId);
        if (live?.status === 'CLEAR') {
          const now = Math.floor(this.nowSec());
          this.deps.enqueue(
            {
              ...event,
              kind: 'resolve',
              transitionId: `resolve:${event.alarmId}:${event.raisedSince}`,
              oldStatus: event.status,
              status: 'CLEAR',
              oldValue: event.value,
              value: live.value,
              when: now,
            },
            this.m.name,
          );
          continue;
        }
        if (live === undefined || (live.status !== 'WARNING' && live.status !== 'CRITICAL')) {
          // Unknown after a restart or REMOVED: stop vouching for it; Alertmanager ends it at its endsAt.
          this.stmt.del.run(this.m.name, row.alarm_key);
          continue;
        }
        const alert = JSON.parse(row.alert) as AmAlert;
        resend.push({ ...alert, endsAt: this.firingEnd() });
      }
      if (resend.length === 0) return;
      const ac = new AbortController();
      const r = await postJson(this.url, resend, {
        headers: this.m.headers,
        timeoutMs: this.m.timeoutMs,
        signal: ac.signal,
      });
      if (!r.ok)
        this.deps.log.once(
          `am-resend-${this.m.name}`,
          'warn',
          'cannot resend firing alerts to Alertmanager (will keep trying)',
          { code: 'E_NOTIFY_SEND', method: this.m.name, error: r.error },
        );
    } finally {
      this.ticking = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelTick?.();
  }
}
