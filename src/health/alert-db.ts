/**
 * The alert log and alert states in the agent's SQLite file (the same file as the history).
 *
 * Every transition is written when it happens, in its own statement: a SIGKILL right after never loses it,
 * and ids stay increasing across restarts (the next unique id is read back at start). Entries are stored
 * whole as JSON next to the columns queries need, so the API can return Netdata's fields unchanged.
 */

import type Database from 'better-sqlite3';
import type { AlarmEntry } from './engine.js';
import type { AlertRuntime, HealthPersistence } from './scheduler.js';
import { statusName } from './types.js';

type Db = Database.Database;

/** What `rstwatch alerts` shows for one alert. */
export interface AlertStateRow {
  alarmId: number;
  name: string;
  chart: string;
  context: string;
  status: string;
  value: number | null;
  units: string;
  lastStatusChange: number;
  lastUpdated: number;
  nextUpdate: number;
  dbAfter: number;
  dbBefore: number;
  summary: string;
}

const EXEC_RUN = 0x4;

/** Entries are stored as JSON, where NaN values became null. */
function parseEntry(text: string): AlarmEntry {
  return JSON.parse(text, (_k, v) => (v === null ? Number.NaN : v)) as AlarmEntry;
}

function nanToNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

export class AlertDb implements HealthPersistence {
  private readonly db: Db;
  private readonly stmt?: {
    insertId: Database.Statement;
    selectId: Database.Statement;
    upsertEntry: Database.Statement;
    upsertState: Database.Statement;
  };
  /** State rows (JSON) by alarm id, buffered by saveState until endIteration. */
  private readonly pendingStates = new Map<number, string>();

  constructor(db: Db, opts: { readonly?: boolean } = {}) {
    this.db = db;
    if (!opts.readonly)
      db.exec(`
      CREATE TABLE IF NOT EXISTS health_alarm_ids(
        id INTEGER PRIMARY KEY, chart TEXT NOT NULL, name TEXT NOT NULL, UNIQUE(chart, name));
      CREATE TABLE IF NOT EXISTS health_log(
        unique_id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL, alarm_event_id INTEGER NOT NULL,
        when_t INTEGER NOT NULL, entry TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS health_log_alarm ON health_log(alarm_id, unique_id);
      CREATE INDEX IF NOT EXISTS health_log_when ON health_log(when_t);
      CREATE TABLE IF NOT EXISTS health_state(alarm_id INTEGER PRIMARY KEY, state TEXT NOT NULL);
    `);
    // Readers (rstwatch alerts) only query: no statement that writes is prepared.
    if (opts.readonly) return;
    this.stmt = {
      insertId: db.prepare('INSERT OR IGNORE INTO health_alarm_ids(chart, name) VALUES (?, ?)'),
      selectId: db.prepare('SELECT id FROM health_alarm_ids WHERE chart = ? AND name = ?'),
      upsertEntry: db.prepare(
        'INSERT INTO health_log(unique_id, alarm_id, alarm_event_id, when_t, entry) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT(unique_id) DO UPDATE SET entry = excluded.entry',
      ),
      upsertState: db.prepare(
        'INSERT INTO health_state(alarm_id, state) VALUES (?, ?) ON CONFLICT(alarm_id) DO UPDATE SET state = excluded.state',
      ),
    };
  }

  private writer(): NonNullable<AlertDb['stmt']> {
    if (!this.stmt) throw new Error('AlertDb opened read-only');
    return this.stmt;
  }

  /** Stable per chart and alert name, across restarts (Netdata's alarm_id). */
  alarmId(chart: string, name: string): number {
    this.writer().insertId.run(chart, name);
    return (this.writer().selectId.get(chart, name) as { id: number }).id;
  }

  saveEntry(entry: AlarmEntry): void {
    this.writer().upsertEntry.run(
      entry.uniqueId,
      entry.alarmId,
      entry.alarmEventId,
      entry.when,
      JSON.stringify(entry),
    );
  }

  /**
   * Buffers the alert's state row; `endIteration` writes the buffered rows in one transaction. Each row was
   * its own commit before: with every stock Netdata alert loaded (284) that was 6 ms of SQLite per
   * iteration, ~21 µs per alert — four times the evaluation itself (docs/benchmarks.md, part 3).
   */
  saveState(rt: AlertRuntime): void {
    this.pendingStates.set(rt.alarmId, this.stateRow(rt));
  }

  /** Write the states buffered since the last call. A failure keeps them for the next call (bounded: one row per alert). */
  endIteration(): void {
    if (this.pendingStates.size === 0) return;
    const w = this.writer();
    this.db.transaction(() => {
      for (const [alarmId, row] of this.pendingStates) w.upsertState.run(alarmId, row);
    })();
    this.pendingStates.clear();
  }

  private stateRow(rt: AlertRuntime): string {
    const cfg = rt.compiled.config;
    const row: AlertStateRow = {
      alarmId: rt.alarmId,
      name: cfg.name,
      chart: rt.chartId,
      context: rt.chart.instance.def.context,
      status: statusName(rt.status),
      value: nanToNull(rt.value),
      units: cfg.units ?? rt.chart.instance.def.units,
      lastStatusChange: rt.lastStatusChange,
      lastUpdated: rt.lastUpdated,
      nextUpdate: rt.nextUpdate,
      dbAfter: rt.dbAfter,
      dbBefore: rt.dbBefore,
      summary: cfg.summary ?? cfg.name,
    };
    return JSON.stringify(row);
  }

  /**
   * The last unique id, each alarm's last event id, and each alarm's last executed entry (EXEC_RUN), to
   * continue after a restart as if the agent had never stopped.
   */
  lastIds(): { uniqueId: number; eventIds: Map<number, number>; executed: AlarmEntry[] } {
    const u = this.db.prepare('SELECT MAX(unique_id) AS m FROM health_log').get() as { m: number | null };
    const rows = this.db
      .prepare('SELECT alarm_id, MAX(alarm_event_id) AS e FROM health_log GROUP BY alarm_id')
      .all() as {
      alarm_id: number;
      e: number;
    }[];
    const executed: AlarmEntry[] = [];
    const recent = this.db.prepare(
      'SELECT entry FROM health_log WHERE alarm_id = ? ORDER BY unique_id DESC LIMIT 200',
    );
    for (const r of rows) {
      for (const row of recent.all(r.alarm_id) as { entry: string }[]) {
        const e = parseEntry(row.entry);
        if (e.flags & EXEC_RUN) {
          executed.push(e);
          break;
        }
      }
    }
    return { uniqueId: u.m ?? 0, eventIds: new Map(rows.map((r) => [r.alarm_id, r.e])), executed };
  }

  /** Entries with unique_id > after, newest first (Netdata's alarm_log?after=). */
  entries(opts: { after?: number; limit?: number } = {}): AlarmEntry[] {
    const rows = this.db
      .prepare('SELECT entry FROM health_log WHERE unique_id > ? ORDER BY unique_id DESC LIMIT ?')
      .all(opts.after ?? 0, opts.limit ?? 1000) as { entry: string }[];
    return rows.map((r) => parseEntry(r.entry));
  }

  states(): AlertStateRow[] {
    const rows = this.db.prepare('SELECT state FROM health_state ORDER BY alarm_id').all() as {
      state: string;
    }[];
    return rows.map((r) => JSON.parse(r.state) as AlertStateRow);
  }

  /** Drop log entries older than the retention (default 5 days, Netdata's `health log retention`). */
  applyRetention(nowSec: number, seconds: number): number {
    return this.db.prepare('DELETE FROM health_log WHERE when_t < ?').run(nowSec - seconds).changes;
  }
}
