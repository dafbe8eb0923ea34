/**
 * The agent's database faults must not stop the agent (issue 8; docs/reliability.md, "Faults"):
 *
 *  - alert-log writes that fail (disk full, the file damaged under us) are counted and said once per code,
 *    and the engine goes on from memory — evaluating, logging, notifying. Unguarded, one failing write threw
 *    out of the engine's iteration every second: alerts froze and no notification left. Entries that could
 *    not be written are kept (bounded) and written with the next write that succeeds, so a disk that fills
 *    and frees again loses no transition;
 *  - the database file deleted (or replaced) while the agent runs: SQLite goes on writing into the open,
 *    unlinked file, which disappears at exit with all history and the alert log. The path is checked at
 *    every tick (one stat); when the file is gone it is said once (E_DB_DELETED), and at stop the open
 *    database is written back (VACUUM INTO) to the path, or next to it when something else took its place.
 */

import { existsSync, statSync } from 'node:fs';
import type { AlarmEntry } from '../health/engine.js';
import type { AlertRuntime, HealthPersistence } from '../health/scheduler.js';
import { errorMessage, sysCode } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import type { HistoryDb } from '../store/history-db.js';

/** At most this many unwritten entries are kept for a later write (a day of storms is far fewer). */
const MAX_UNWRITTEN = 10_000;

export function dbErrorCode(err: unknown): 'E_DB_FULL' | 'E_DB_CORRUPT' | 'E_DB_WRITE' {
  const c = sysCode(err) ?? '';
  if (c === 'SQLITE_FULL') return 'E_DB_FULL';
  if (c.startsWith('SQLITE_CORRUPT') || c === 'SQLITE_NOTADB') return 'E_DB_CORRUPT';
  return 'E_DB_WRITE';
}

/** Wrap the alert log's persistence so that a failing write is counted in `errors`, never thrown. */
export function guardPersistence(
  inner: HealthPersistence,
  errors: Map<string, number>,
  log: Logger,
): HealthPersistence & { unwritten(): number } {
  const unwritten = new Map<number, AlarmEntry>();
  // Alarm ids the database could not give: above any it would (ids count up from 1 per chart and name).
  let fallbackId = 1_000_000_000;
  const fail = (what: string, err: unknown) => {
    const code = dbErrorCode(err);
    errors.set(code, (errors.get(code) ?? 0) + 1);
    log.once(
      `alert-db-${code}`,
      'error',
      `cannot write the alert log (${what}): ${errorMessage(err)}; alerts go on in memory`,
      { code },
    );
  };
  const retry = () => {
    for (const [id, e] of unwritten) {
      try {
        inner.saveEntry(e);
        unwritten.delete(id);
      } catch {
        return;
      }
    }
    if (unwritten.size === 0) log.info('the alert log is written again; entries kept in memory were saved');
  };
  return {
    alarmId(chart: string, name: string): number {
      try {
        return inner.alarmId(chart, name);
      } catch (err) {
        fail('alarm id', err);
        return fallbackId++;
      }
    },
    saveEntry(entry: AlarmEntry): void {
      try {
        inner.saveEntry(entry);
      } catch (err) {
        fail('entry', err);
        if (unwritten.size < MAX_UNWRITTEN || unwritten.has(entry.uniqueId))
          unwritten.set(entry.uniqueId, entry);
        return;
      }
      unwritten.delete(entry.uniqueId);
      if (unwritten.size > 0) retry();
    },
    saveState(rt: AlertRuntime): void {
      try {
        inner.saveState(rt);
      } catch (err) {
        fail('state', err);
        return;
      }
      if (unwritten.size > 0) retry();
    },
    endIteration(): void {
      try {
        inner.endIteration?.();
      } catch (err) {
        // The buffered states stay in the inner buffer (one per alert) for the next iteration's write.
        fail('state', err);
      }
    },
    unwritten: () => unwritten.size,
  };
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Watches the database's path for the file being deleted or replaced under the open connection. */
export class DbFileWatch {
  private readonly db: HistoryDb;
  private readonly ino: number | undefined;
  private gone = false;
  private readonly errors: Map<string, number>;
  private readonly log: Logger;

  constructor(db: HistoryDb, errors: Map<string, number>, log: Logger) {
    this.db = db;
    this.ino = inodeOf(db.path);
    this.errors = errors;
    this.log = log;
  }

  get deleted(): boolean {
    return this.gone;
  }

  /** One stat; says it once when the file is no longer the one we have open. */
  check(): void {
    if (this.gone || this.ino === undefined) return;
    if (inodeOf(this.db.path) === this.ino) return;
    this.gone = true;
    this.errors.set('E_DB_DELETED', (this.errors.get('E_DB_DELETED') ?? 0) + 1);
    this.log.error(
      'the history database file was deleted or replaced while the agent runs; history and the alert log go on in the open file and are written back at stop',
      { code: 'E_DB_DELETED', file: this.db.path },
    );
  }

  /** At stop, before the connection closes: write the open database back where it can be found. */
  saveBack(nowMs: number): string | undefined {
    if (!this.gone) return undefined;
    const target = existsSync(this.db.path)
      ? `${this.db.path}.recovered-${Math.floor(nowMs / 1000)}`
      : this.db.path;
    try {
      this.db.connection.prepare('VACUUM INTO ?').run(target);
      this.log.info('wrote the open history database back', { file: target });
      return target;
    } catch (err) {
      this.log.error(`cannot write the open history database back: ${errorMessage(err)}`, {
        code: 'E_DB_DELETED',
        file: target,
      });
      return undefined;
    }
  }
}
