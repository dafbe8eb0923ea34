/**
 * Reading history for API queries, beyond what the store's rings hold:
 *
 * - per-minute aggregates (tier 1) for long windows, from the agent's SQLite file, with a per-series cache
 *   of the minutes that can no longer change (older than the ring plus one minute: the store rewrites only
 *   minutes it still holds, src/store/store.ts `flush`), so a dashboard asking for "the last 24 h" every few
 *   seconds reads SQLite once and then only the newest minutes, which come from the ring itself;
 * - the oldest slot on disk per chart, so a window is clamped to the data that exists (Netdata's
 *   first_entry), cached for a minute.
 *
 * The tables are the store's (history-db.ts); this module only reads them.
 */

import type Database from 'better-sqlite3';
import type { MinuteRow } from '../store/history-db.js';
import type { ChartEntry, Series, Store } from '../store/store.js';

/** At most this many minute rows cached per series (a little over a day). */
const CACHE_MINUTES_PER_SERIES = 1560;

interface CachedMinutes {
  /** Minute-end times covered, inclusive; rows sorted by t (missing minutes have no row). */
  lo: number;
  hi: number;
  rows: MinuteRow[];
}

export class HistoryReader {
  private readonly store: Store;
  private readonly oldestStmt: Database.Statement | undefined;
  private readonly minutesStmt: Database.Statement | undefined;
  private readonly cache = new Map<Series, CachedMinutes>();
  private readonly oldest = new Map<ChartEntry, { t: number; atMs: number }>();
  private readonly now: () => number;
  /** SQLite reads done (tests check the cache works). */
  dbReads = 0;

  constructor(store: Store, db: Database.Database | undefined, now: () => number = Date.now) {
    this.store = store;
    this.now = now;
    if (db) {
      this.oldestStmt = db.prepare(
        'SELECT MIN(t0.block) AS b FROM tier0 t0 JOIN series s ON s.id = t0.series WHERE s.netns = ? AND s.chart = ?',
      );
      this.minutesStmt = db.prepare(
        'SELECT t1.t AS t, t1.mn AS mn, t1.avg AS avg, t1.mx AS mx, t1.n AS n FROM tier1 t1 ' +
          'JOIN series s ON s.id = t1.series WHERE s.netns = ? AND s.chart = ? AND s.dim = ? ' +
          'AND t1.t >= ? AND t1.t <= ? ORDER BY t1.t',
      );
    }
  }

  get hasDisk(): boolean {
    return this.minutesStmt !== undefined;
  }

  /** Oldest slot of a chart in memory or on disk (NaN: no data at all). */
  firstT(entry: ChartEntry): number {
    const ring = this.store.firstT(entry);
    if (!this.oldestStmt) return ring;
    const c = this.oldest.get(entry);
    let disk: number;
    if (c && this.now() - c.atMs < 60_000) disk = c.t;
    else {
      this.dbReads++;
      const row = this.oldestStmt.get(entry.instance.netns, entry.instance.fullId) as { b: number | null };
      disk = row.b ?? Number.NaN;
      this.oldest.set(entry, { t: disk, atMs: this.now() });
    }
    if (Number.isNaN(disk)) return ring;
    if (Number.isNaN(ring)) return disk;
    return Math.min(ring, disk);
  }

  private readDb(s: Series, lo: number, hi: number): MinuteRow[] {
    if (!this.minutesStmt) return [];
    this.dbReads++;
    const rows = this.minutesStmt.all(s.key.netns, s.key.chart, s.key.dim, lo, hi) as {
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

  /** Minute rows of final minutes (t ≤ finalUntil) in [lo, hi], through the cache when it fits. */
  private finalMinutes(s: Series, lo: number, hi: number): MinuteRow[] {
    if (hi < lo) return [];
    if ((hi - lo) / 60 + 1 > CACHE_MINUTES_PER_SERIES) return this.readDb(s, lo, hi);
    let c = this.cache.get(s);
    if (c && lo >= c.lo && hi <= c.hi) return c.rows.filter((r) => r.t >= lo && r.t <= hi);
    if (c && hi >= c.lo - 60 && lo <= c.hi + 60) {
      // Extend the cached range on the side(s) missing, then trim it to the cap (keep the newest).
      const before = lo < c.lo ? this.readDb(s, lo, c.lo - 60) : [];
      const after = hi > c.hi ? this.readDb(s, c.hi + 60, hi) : [];
      c = { lo: Math.min(lo, c.lo), hi: Math.max(hi, c.hi), rows: [...before, ...c.rows, ...after] };
      const minLo = c.hi - (CACHE_MINUTES_PER_SERIES - 1) * 60;
      if (c.lo < minLo) {
        c.lo = minLo;
        c.rows = c.rows.filter((r) => r.t >= minLo);
      }
    } else {
      c = { lo, hi, rows: this.readDb(s, lo, hi) };
    }
    this.cache.set(s, c);
    return c.rows.filter((r) => r.t >= lo && r.t <= hi);
  }

  /**
   * Per-minute aggregates of one series for minute-end times in [lo, hi] (multiples of 60), as
   * `{t, min, avg, max, count}`. Minutes the ring still holds are computed from it (exact and current);
   * older ones come from tier 1 on disk.
   */
  minutes(s: Series, lo: number, hi: number): MinuteRow[] {
    const ue = this.store.updateEvery;
    const ringFirst = s.ring.firstT;
    // A minute (t − 60, t] is fully in the ring when t − 60 + ue ≥ ringFirst.
    const firstRingMinute = Number.isNaN(ringFirst)
      ? Number.POSITIVE_INFINITY
      : Math.ceil((ringFirst - ue + 60) / 60) * 60;
    const out = this.finalMinutes(s, lo, Math.min(hi, firstRingMinute - 60));
    for (let t = Math.max(lo, firstRingMinute); t <= hi; t += 60) {
      let n = 0;
      let sum = 0;
      let mn = Number.POSITIVE_INFINITY;
      let mx = Number.NEGATIVE_INFINITY;
      s.ring.forEach(t - 60 + ue, t, (_t, v) => {
        if (!Number.isFinite(v)) return;
        n++;
        sum += v;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      });
      if (n > 0) out.push({ t, min: mn, avg: sum / n, max: mx, count: n });
    }
    return out;
  }
}
