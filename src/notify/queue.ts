/**
 * The persistent notification queue, in the agent's SQLite file (next to the history and the alert log).
 *
 * - At least once: a message is a row before anything is sent, and stays `pending` until a receiver
 *   accepted it. A crash or restart mid-send leaves it pending, so it is sent again at the next start.
 * - Deduplicated: one row per (transition id, method) — UNIQUE — so the same transition offered twice
 *   (a restart, a repeat of the decision) is one message per destination. Receivers get the pair as an
 *   idempotency key to drop the rare resend of a message they had accepted just before a crash.
 * - In order per alert: only the oldest pending message of each (method, alarm) is ever due, so a CLEAR
 *   never overtakes the WARNING it ends, even across retries.
 * - Retries back off exponentially with jitter ("equal jitter": half fixed, half random, so a fleet of
 *   agents that lost the same receiver do not retry in lockstep), capped at `retryMaxMs`; a message older
 *   than `giveUpAfterMs` is dropped, and the next one of its alert goes ahead.
 *
 * Times are wall-clock milliseconds: they must mean the same thing after a restart.
 */

import type Database from 'better-sqlite3';
import type { NotifyEvent } from './types.js';

type Db = Database.Database;

export type MessageState = 'pending' | 'sent' | 'failed' | 'dropped';

export interface QueuedMessage {
  id: number;
  transitionId: string;
  method: string;
  alarmKey: string;
  event: NotifyEvent;
  attempts: number;
  nextAttemptMs: number;
  createdMs: number;
  state: MessageState;
  lastError: string | null;
  doneMs: number | null;
}

export interface QueueOptions {
  retryFirstMs: number;
  retryMaxMs: number;
  giveUpAfterMs: number;
  maxPending: number;
  /** [0, 1); injected by tests for a deterministic schedule. */
  random?: () => number;
}

/** Delay before attempt `attempt + 1` after `attempt` failures (1-based): equal jitter, capped. */
export function backoffMs(attempt: number, firstMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, firstMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

interface Row {
  id: number;
  transition_id: string;
  method: string;
  alarm_key: string;
  event: string;
  attempts: number;
  next_attempt_ms: number;
  created_ms: number;
  state: MessageState;
  last_error: string | null;
  done_ms: number | null;
}

function toMessage(r: Row): QueuedMessage {
  return {
    id: r.id,
    transitionId: r.transition_id,
    method: r.method,
    alarmKey: r.alarm_key,
    event: JSON.parse(r.event) as NotifyEvent,
    attempts: r.attempts,
    nextAttemptMs: r.next_attempt_ms,
    createdMs: r.created_ms,
    state: r.state,
    lastError: r.last_error,
    doneMs: r.done_ms,
  };
}

export function alarmKeyOf(event: NotifyEvent): string {
  return event.kind === 'test' ? `test:${event.transitionId}` : `alarm:${event.alarmId}`;
}

export class NotifyQueue {
  private readonly db: Db;
  private readonly opts: QueueOptions;
  private readonly random: () => number;
  private readonly stmt: {
    insert: Database.Statement;
    pendingCount: Database.Statement;
    heads: Database.Statement;
    sent: Database.Statement;
    retry: Database.Statement;
    final: Database.Statement;
    get: Database.Statement;
    pendingFor: Database.Statement;
  };

  constructor(db: Db, opts: QueueOptions) {
    this.db = db;
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    db.exec(`
      CREATE TABLE IF NOT EXISTS notify_queue(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        transition_id TEXT NOT NULL, method TEXT NOT NULL, alarm_key TEXT NOT NULL,
        event TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,
        last_error TEXT, done_ms INTEGER,
        UNIQUE(transition_id, method));
      CREATE INDEX IF NOT EXISTS notify_queue_pending ON notify_queue(state, method, alarm_key, id);
    `);
    this.stmt = {
      insert: db.prepare(
        'INSERT OR IGNORE INTO notify_queue(transition_id, method, alarm_key, event, next_attempt_ms, created_ms) ' +
          'VALUES (?, ?, ?, ?, ?, ?)',
      ),
      pendingCount: db.prepare("SELECT COUNT(*) AS n FROM notify_queue WHERE state = 'pending'"),
      heads: db.prepare(
        'SELECT m.* FROM notify_queue m JOIN (' +
          "SELECT MIN(id) AS id FROM notify_queue WHERE state = 'pending' GROUP BY method, alarm_key" +
          ') h ON h.id = m.id ORDER BY m.next_attempt_ms, m.id',
      ),
      sent: db.prepare(
        "UPDATE notify_queue SET state = 'sent', attempts = attempts + 1, done_ms = ?, last_error = NULL WHERE id = ?",
      ),
      retry: db.prepare(
        'UPDATE notify_queue SET attempts = ?, next_attempt_ms = ?, last_error = ? WHERE id = ?',
      ),
      final: db.prepare(
        'UPDATE notify_queue SET state = ?, attempts = ?, done_ms = ?, last_error = ? WHERE id = ?',
      ),
      get: db.prepare('SELECT * FROM notify_queue WHERE id = ?'),
      pendingFor: db.prepare(
        "SELECT COUNT(*) AS n FROM notify_queue WHERE state = 'pending' AND method = ? AND alarm_key = ?",
      ),
    };
  }

  /**
   * One message per method (duplicates of an already queued pair are ignored). Returns the ids of the new
   * rows and the methods refused because the queue is full.
   */
  enqueue(
    event: NotifyEvent,
    methods: readonly string[],
    nowMs: number,
  ): { added: number; refused: string[] } {
    let added = 0;
    const refused: string[] = [];
    const json = JSON.stringify(event);
    const key = alarmKeyOf(event);
    this.db.transaction(() => {
      let pending = (this.stmt.pendingCount.get() as { n: number }).n;
      for (const m of methods) {
        if (pending >= this.opts.maxPending) {
          refused.push(m);
          continue;
        }
        const r = this.stmt.insert.run(event.transitionId, m, key, json, nowMs, nowMs);
        if (r.changes > 0) {
          added++;
          pending++;
        }
      }
    })();
    return { added, refused };
  }

  /** The messages to send now: heads of their (method, alarm) line, due, not already being sent. */
  due(nowMs: number, busy: ReadonlySet<number>, limit: number): QueuedMessage[] {
    if (limit <= 0) return [];
    const out: QueuedMessage[] = [];
    for (const r of this.stmt.heads.iterate() as IterableIterator<Row>) {
      if (r.next_attempt_ms > nowMs) break;
      if (busy.has(r.id)) continue;
      out.push(toMessage(r));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** When the next head falls due (wall ms), or undefined when nothing waits. */
  nextDueMs(busy: ReadonlySet<number>): number | undefined {
    for (const r of this.stmt.heads.iterate() as IterableIterator<Row>) {
      if (!busy.has(r.id)) return r.next_attempt_ms;
    }
    return undefined;
  }

  get(id: number): QueuedMessage | undefined {
    const r = this.stmt.get.get(id) as Row | undefined;
    return r ? toMessage(r) : undefined;
  }

  markSent(id: number, nowMs: number): void {
    this.stmt.sent.run(nowMs, id);
  }

  /**
   * A failed attempt. Transient failures are retried after the backoff unless the message is too old;
   * final ones (a 4xx answer, a script that refused) end it at once.
   */
  markFailed(
    id: number,
    nowMs: number,
    error: string,
    retry: boolean,
  ): { state: MessageState; nextAttemptMs?: number } {
    const m = this.get(id);
    if (!m) return { state: 'dropped' };
    const attempts = m.attempts + 1;
    if (!retry) {
      this.stmt.final.run('failed', attempts, nowMs, error, id);
      return { state: 'failed' };
    }
    const next = nowMs + backoffMs(attempts, this.opts.retryFirstMs, this.opts.retryMaxMs, this.random);
    if (next - m.createdMs > this.opts.giveUpAfterMs) {
      this.stmt.final.run('dropped', attempts, nowMs, error, id);
      return { state: 'dropped' };
    }
    this.stmt.retry.run(attempts, next, error, id);
    return { state: 'pending', nextAttemptMs: next };
  }

  pendingCount(): number {
    return (this.stmt.pendingCount.get() as { n: number }).n;
  }

  /** Whether a method still has undelivered messages for an alarm (Alertmanager resends wait for them). */
  hasPending(method: string, alarmKey: string): boolean {
    return (this.stmt.pendingFor.get(method, alarmKey) as { n: number }).n > 0;
  }

  /** Newest first, for `rstwatch notify queue`. */
  list(opts: { state?: MessageState; limit?: number } = {}): QueuedMessage[] {
    return NotifyQueue.read(this.db, opts);
  }

  /** The same on a read-only connection (the CLI reads while the agent writes; WAL allows it). */
  static read(db: Db, opts: { state?: string; limit?: number } = {}): QueuedMessage[] {
    const rows = (
      opts.state
        ? db
            .prepare('SELECT * FROM notify_queue WHERE state = ? ORDER BY id DESC LIMIT ?')
            .all(opts.state, opts.limit ?? 100)
        : db.prepare('SELECT * FROM notify_queue ORDER BY id DESC LIMIT ?').all(opts.limit ?? 100)
    ) as Row[];
    return rows.map(toMessage);
  }

  /** Forget finished messages older than `keepMs` (pending ones are never pruned). */
  prune(nowMs: number, keepMs: number): number {
    return this.db
      .prepare("DELETE FROM notify_queue WHERE state != 'pending' AND COALESCE(done_ms, created_ms) < ?")
      .run(nowMs - keepMs).changes;
  }
}
