/**
 * History on disk: SQLite in WAL mode (better-sqlite3), tiered like Netdata's dbengine.
 *
 * Why SQLite: embedded (no server to run), crash-safe with WAL (a SIGKILL never loses a committed batch),
 * one file a sysadmin can copy or inspect with `sqlite3`, and the alert log (another issue) lives in the
 * same file. Why better-sqlite3: synchronous calls cost microseconds; an async driver would add a thread hop
 * per statement for no gain in a process that writes a batch every few seconds.
 *
 * Layout:
 *  - tier0: per-slot values, one row per series and block of 60 slots (a minute at 1 s), as a Float64Array
 *    blob with NaN for gaps. One row per minute instead of one per second keeps the file and the B-tree
 *    small (≈ 0.5 kB per series-minute) and lets a flush rewrite the current block in place.
 *  - tier1: per-minute min / average / max / count of the non-gap points.
 * Writes are batched (the store calls flush() every few seconds, in one transaction), never per sample.
 */

import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';

export const BLOCK_SLOTS = 60;
const SCHEMA_VERSION = 1;
/** SQLite's page cache for the history database, KiB (see openRaw). */
export const PAGE_CACHE_KIB = 2000;

export interface SeriesKey {
  netns: string;
  chart: string;
  dim: string;
}

export interface MinuteRow {
  t: number;
  min: number;
  avg: number;
  max: number;
  count: number;
}

export interface BlockRow {
  block: number;
  every: number;
  values: Float64Array;
}

type Db = Database.Database;

/** True when an error from better-sqlite3 means the file is not a usable database. */
function isCorruption(err: unknown): boolean {
  const c = sysCode(err);
  return c === 'SQLITE_CORRUPT' || c === 'SQLITE_NOTADB' || (c?.startsWith('SQLITE_CORRUPT') ?? false);
}

export class HistoryDb {
  readonly path: string;
  private readonly db: Db;
  private readonly seriesIds = new Map<string, number>();
  private readonly stmt: {
    insertSeries: Database.Statement;
    selectSeries: Database.Statement;
    upsertBlock: Database.Statement;
    upsertMinute: Database.Statement;
    blocksSince: Database.Statement;
    minutesBetween: Database.Statement;
    blocksBetween: Database.Statement;
    firstBlock: Database.Statement;
  };
  /** Set when the file was unusable and moved aside at open. */
  readonly recoveredFrom?: string;

  private constructor(path: string, db: Db, recoveredFrom?: string) {
    this.path = path;
    this.db = db;
    if (recoveredFrom !== undefined) this.recoveredFrom = recoveredFrom;
    this.stmt = {
      insertSeries: db.prepare('INSERT OR IGNORE INTO series(netns, chart, dim) VALUES (?, ?, ?)'),
      selectSeries: db.prepare('SELECT id FROM series WHERE netns = ? AND chart = ? AND dim = ?'),
      upsertBlock: db.prepare(
        'INSERT INTO tier0(series, block, every, vals) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT(series, block) DO UPDATE SET every = excluded.every, vals = excluded.vals',
      ),
      upsertMinute: db.prepare(
        'INSERT INTO tier1(series, t, mn, avg, mx, n) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT(series, t) DO UPDATE SET mn = excluded.mn, avg = excluded.avg, mx = excluded.mx, n = excluded.n',
      ),
      blocksSince: db.prepare(
        'SELECT block, every, vals FROM tier0 WHERE series = ? AND block >= ? ORDER BY block',
      ),
      blocksBetween: db.prepare(
        'SELECT block, every, vals FROM tier0 WHERE series = ? AND block >= ? AND block <= ? ORDER BY block',
      ),
      firstBlock: db.prepare('SELECT MIN(block) AS b FROM tier0 WHERE series = ?'),
      minutesBetween: db.prepare(
        'SELECT t, mn, avg, mx, n FROM tier1 WHERE series = ? AND t >= ? AND t <= ? ORDER BY t',
      ),
    };
  }

  /**
   * Open (or create) the database. A file that is not a database or is corrupt is moved aside as
   * `<name>.corrupt-<epoch>` — kept for inspection, never deleted — and a fresh one is created.
   */
  static open(path: string, now = Date.now()): HistoryDb {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new RstwatchError(
        'E_DB_OPEN',
        `cannot create the data folder for ${path}: ${errorMessage(err)}`,
        {
          file: path,
        },
      );
    }
    try {
      return new HistoryDb(path, HistoryDb.openRaw(path));
    } catch (err) {
      if (err instanceof RstwatchError) throw err;
      if (!isCorruption(err)) {
        throw new RstwatchError('E_DB_OPEN', `cannot open the history database: ${errorMessage(err)}`, {
          file: path,
          cause: err,
        });
      }
      const aside = `${path}.corrupt-${Math.floor(now / 1000)}`;
      for (const suffix of ['', '-wal', '-shm']) {
        try {
          renameSync(path + suffix, aside + suffix);
        } catch {
          // -wal/-shm may not exist
        }
      }
      return new HistoryDb(path, HistoryDb.openRaw(path), aside);
    }
  }

  private static openRaw(path: string): Db {
    const db = new Database(path, { timeout: 2000 });
    try {
      // Refuse a newer schema before changing anything in the file (journal mode, tables).
      const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
      if (hasMeta) {
        const v = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
          | { value: string }
          | undefined;
        if (v && Number(v.value) > SCHEMA_VERSION) {
          throw new RstwatchError(
            'E_DB_SCHEMA',
            `the history database was written by a newer rstwatch (schema ${v.value}); refusing to touch it`,
            { file: path },
          );
        }
      }
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a process crash loses nothing committed; only an OS crash may lose the last batch.
      db.pragma('synchronous = NORMAL');
      // A page cache that is small and full early. better-sqlite3 builds SQLite with
      // SQLITE_DEFAULT_CACHE_SIZE=-16000 (16 MB a connection; its deps/defines.gypi), eight times SQLite's own
      // default of 2,000 KiB (https://sqlite.org/pragma.html#pragma_cache_size). The cache keeps the pages
      // written until it is full, and this file grows for a day (tier 0 holds 25 h of seconds), so the agent's
      // RSS grew with the file for hours: ~1 MB an hour per namespace watched, part of the soak's RSS growth
      // (issue 8, docs/reliability.md). Flushes append at the end of each series and the alert engine and the
      // API read mostly the memory rings, so SQLite's own default is enough.
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS series(
          id INTEGER PRIMARY KEY, netns TEXT NOT NULL, chart TEXT NOT NULL, dim TEXT NOT NULL,
          UNIQUE(netns, chart, dim));
        CREATE TABLE IF NOT EXISTS tier0(
          series INTEGER NOT NULL, block INTEGER NOT NULL, every INTEGER NOT NULL, vals BLOB NOT NULL,
          PRIMARY KEY(series, block)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS tier1(
          series INTEGER NOT NULL, t INTEGER NOT NULL, mn REAL, avg REAL, mx REAL, n INTEGER NOT NULL,
          PRIMARY KEY(series, t)) WITHOUT ROWID;
      `);
      const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
        | { value: string }
        | undefined;
      if (!row) db.prepare("INSERT INTO meta(key, value) VALUES ('schema', ?)").run(String(SCHEMA_VERSION));
      else if (Number(row.value) > SCHEMA_VERSION) {
        throw new RstwatchError(
          'E_DB_SCHEMA',
          `the history database was written by a newer rstwatch (schema ${row.value}); refusing to touch it`,
          { file: path },
        );
      }
      // Integrity of the pages we are about to use: quick_check is fast and catches torn or foreign files.
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') {
        const e = new Error(`quick_check: ${String(check)}`) as Error & { code: string };
        e.code = 'SQLITE_CORRUPT';
        throw e;
      }
      return db;
    } catch (err) {
      db.close();
      if (sysCode(err) === 'SQLITE_BUSY') {
        throw new RstwatchError('E_DB_LOCKED', `the history database ${path} is locked by another process`, {
          file: path,
          hint: 'is another rstwatch agent running with the same data folder?',
        });
      }
      throw err;
    }
  }

  /** The id of a series for reading: undefined when it was never written (reads never write). */
  private existingSeriesId(key: SeriesKey): number | undefined {
    const k = `${key.netns}\u0000${key.chart}\u0000${key.dim}`;
    const cached = this.seriesIds.get(k);
    if (cached !== undefined) return cached;
    const row = this.stmt.selectSeries.get(key.netns, key.chart, key.dim) as { id: number } | undefined;
    if (row) this.seriesIds.set(k, row.id);
    return row?.id;
  }

  seriesId(key: SeriesKey): number {
    const k = `${key.netns}\u0000${key.chart}\u0000${key.dim}`;
    let id = this.seriesIds.get(k);
    if (id === undefined) {
      this.stmt.insertSeries.run(key.netns, key.chart, key.dim);
      const row = this.stmt.selectSeries.get(key.netns, key.chart, key.dim) as { id: number };
      id = row.id;
      this.seriesIds.set(k, id);
    }
    return id;
  }

  /** Run fn in one transaction (a flush). Throws RstwatchError E_DB_WRITE / E_DB_FULL; nothing is half-written. */
  transaction(fn: () => void): void {
    try {
      this.db.transaction(fn)();
    } catch (err) {
      const c = sysCode(err);
      throw new RstwatchError(
        c === 'SQLITE_FULL' ? 'E_DB_FULL' : 'E_DB_WRITE',
        c === 'SQLITE_FULL'
          ? `the disk holding ${this.path} is full; history is kept in memory and written when space is back`
          : `cannot write history to ${this.path}: ${errorMessage(err)}`,
        { file: this.path, cause: err },
      );
    }
  }

  putBlock(seriesId: number, block: number, every: number, values: Float64Array): void {
    this.stmt.upsertBlock.run(
      seriesId,
      block,
      every,
      Buffer.from(values.buffer, values.byteOffset, values.byteLength),
    );
  }

  putMinute(seriesId: number, row: MinuteRow): void {
    this.stmt.upsertMinute.run(
      seriesId,
      row.t,
      Number.isNaN(row.min) ? null : row.min,
      Number.isNaN(row.avg) ? null : row.avg,
      Number.isNaN(row.max) ? null : row.max,
      row.count,
    );
  }

  private decodeBlocks(rows: { block: number; every: number; vals: Buffer }[]): BlockRow[] {
    return rows.map((r) => {
      // Copy into an aligned buffer: SQLite's blob buffer offset need not be 8-byte aligned.
      const values = new Float64Array(BLOCK_SLOTS).fill(Number.NaN);
      const n = Math.min(BLOCK_SLOTS, Math.floor(r.vals.byteLength / 8));
      for (let i = 0; i < n; i++) values[i] = r.vals.readDoubleLE(i * 8);
      return { block: r.block, every: r.every, values };
    });
  }

  blocksSince(key: SeriesKey, since: number): BlockRow[] {
    const id = this.existingSeriesId(key);
    if (id === undefined) return [];
    const rows = this.stmt.blocksSince.all(id, since) as {
      block: number;
      every: number;
      vals: Buffer;
    }[];
    return this.decodeBlocks(rows);
  }

  blocksBetween(key: SeriesKey, after: number, before: number): BlockRow[] {
    const id = this.existingSeriesId(key);
    if (id === undefined) return [];
    const rows = this.stmt.blocksBetween.all(id, after, before) as {
      block: number;
      every: number;
      vals: Buffer;
    }[];
    return this.decodeBlocks(rows);
  }

  /** Start of the oldest per-slot block kept for a series (tier 0), NaN when none. */
  firstBlockT(key: SeriesKey): number {
    const id = this.existingSeriesId(key);
    if (id === undefined) return Number.NaN;
    const row = this.stmt.firstBlock.get(id) as { b: number | null } | undefined;
    return row?.b ?? Number.NaN;
  }

  minutesBetween(key: SeriesKey, after: number, before: number): MinuteRow[] {
    const id = this.existingSeriesId(key);
    if (id === undefined) return [];
    const rows = this.stmt.minutesBetween.all(id, after, before) as {
      t: number;
      mn: number | null;
      avg: number | null;
      mx: number | null;
      n: number;
    }[];
    return rows.map((r) => ({
      t: r.t,
      min: r.mn ?? Number.NaN,
      avg: r.avg ?? Number.NaN,
      max: r.mx ?? Number.NaN,
      count: r.n,
    }));
  }

  /** Delete what is older than the retention of each tier. */
  applyRetention(
    nowSec: number,
    tier0Seconds: number,
    tier1Seconds: number,
  ): { tier0: number; tier1: number } {
    // A block goes only when its last slot is out of retention (every = seconds per slot).
    const a = this.db
      .prepare(`DELETE FROM tier0 WHERE block + every * ${BLOCK_SLOTS} <= ?`)
      .run(nowSec - tier0Seconds);
    const b = this.db.prepare('DELETE FROM tier1 WHERE t < ?').run(nowSec - tier1Seconds);
    return { tier0: a.changes, tier1: b.changes };
  }

  /** The raw connection, for other parts of the agent that keep tables in the same file (the alert log). */
  get connection(): Db {
    return this.db;
  }

  close(): void {
    try {
      this.db.close();
    } catch {
      // closing twice or after a failed open is harmless
    }
  }
}
