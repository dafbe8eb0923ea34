/**
 * rstwatch alerts — alert states and the alert log, read from the agent's database (the agent writes both
 * as it evaluates; WAL mode lets this read while the agent writes).
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describeContext } from '../attribute/alert-context.js';
import { AlertDb } from '../health/alert-db.js';
import { statusName } from '../health/types.js';
import { defaultDataDir } from '../internal/config.js';
import { RstwatchError } from '../internal/errors.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch alerts [--all] [--json] [--data-dir DIR]
       rstwatch alerts --log [--after ID] [--limit N] [--json] [--data-dir DIR]

Shows the agent's alerts: each alert's status, value and last change; with --log, the transitions
(newest first) with their delay and whether a notification was sent; a reset alert's transition also
shows the top peers, local ports (with the listening process), remote ports and reasons that attribution
saw over the alert's lookup window.

Options:
  --log            the alert log instead of the states
  --after ID       with --log: only entries with a unique id above ID (Netdata's alarm_log?after=)
  --limit N        with --log: at most N entries (default 50)
  --all            states: every alert; without it, CRITICAL, WARNING and CLEAR ones (raised first), not
                   the UNDEFINED, UNINITIALIZED and REMOVED ones (such as the 1m_* baselines)
  --json           machine-readable output
  --data-dir DIR   the agent's data folder (default /var/lib/rstwatch as root, else $XDG_STATE_HOME/rstwatch)
  -h, --help       this text
`;

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toFixed(3)).toString();
}

function time(t: number): string {
  return t > 0 ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : '-';
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    log: { type: 'boolean', default: false },
    after: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const dataDir = values['data-dir'] ?? process.env.RSTWATCH_DATA_DIR ?? defaultDataDir();
  const path = join(dataDir, 'history.db');
  if (!existsSync(path)) {
    throw new RstwatchError('E_NO_AGENT_DATA', `no agent database at ${path}`, {
      hint: 'start the agent (`rstwatch agent`), or point --data-dir at its folder',
    });
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 });
  } catch (err) {
    throw dbError(path, err);
  }
  try {
    const hasLog = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'health_log'").get();
    if (!hasLog)
      throw new RstwatchError('E_NO_AGENT_DATA', `the agent at ${dataDir} has not evaluated any alert yet`);
    const adb = new AlertDb(db, { readonly: true });
    if (values.log) {
      const after = values.after === undefined ? 0 : Number(values.after);
      const limit = values.limit === undefined ? 50 : Number(values.limit);
      if (!Number.isInteger(after) || after < 0)
        throw new RstwatchError('E_USAGE', '--after must be a unique id (≥ 0)');
      if (!Number.isInteger(limit) || limit < 1)
        throw new RstwatchError('E_USAGE', '--limit must be a positive integer');
      const entries = adb.entries({ after, limit });
      if (values.json) {
        io.out(
          `${JSON.stringify(entries, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
        );
        return 0;
      }
      for (const e of entries) {
        const sent =
          e.flags & 0x4
            ? `notified ${time(e.execRunTimestamp)}`
            : e.flags & 0x2
              ? 'superseded'
              : e.flags & 0x1
                ? 'not notified'
                : `waits until ${time(e.delayUpToTimestamp)}`;
        io.out(
          `#${e.uniqueId} ${time(e.when)} ${e.name} on ${e.chart}: ${statusName(e.oldStatus)} → ${statusName(e.newStatus)}` +
            ` value ${fmt(e.newValue)} ${e.units} (was ${fmt(e.oldValue)}), delay ${e.delay}s, ${sent}\n`,
        );
        // Reset alerts carry who and why over their lookup window (src/attribute/alert-context.ts).
        if (e.context_extra?.top) for (const l of describeContext(e.context_extra)) io.out(`    ${l}\n`);
      }
      if (entries.length === 0) io.out('no transitions\n');
      return 0;
    }
    const order: Record<string, number> = {
      CRITICAL: 0,
      WARNING: 1,
      CLEAR: 2,
      UNDEFINED: 3,
      UNINITIALIZED: 4,
      REMOVED: 5,
    };
    const states = adb
      .states()
      .filter((s) => values.all || s.status === 'WARNING' || s.status === 'CRITICAL' || s.status === 'CLEAR')
      .sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || a.name.localeCompare(b.name));
    if (values.json) {
      io.out(`${JSON.stringify(states, null, 2)}\n`);
      return 0;
    }
    for (const s of states) {
      io.out(
        `${s.status.padEnd(13)} ${s.name.padEnd(40)} ${fmt(s.value).padStart(10)} ${s.units.padEnd(14)} ${s.chart}  since ${time(s.lastStatusChange)}\n`,
      );
    }
    if (states.length === 0) io.out('no alerts\n');
    return 0;
  } catch (err) {
    throw err instanceof RstwatchError ? err : dbError(path, err);
  } finally {
    db.close();
  }
}

/** SQLite's failures as the catalogue's codes (docs/errors.md): never a stack trace for a bad file. */
function dbError(path: string, err: unknown): RstwatchError {
  const code = (err as { code?: unknown }).code;
  const why = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
    return new RstwatchError('E_DB_CORRUPT', `${path} is not a usable database: ${why}`, { cause: err });
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
    return new RstwatchError('E_DB_LOCKED', `${path} stayed locked for 2 s: ${why}`, { cause: err });
  return new RstwatchError('E_DB_READ', `cannot read ${path}: ${why}`, { cause: err });
}
