/**
 * The store: per-second rates of every chart dimension, in a ring per series (the alert engine's and the
 * API's working set), written in batches to the tiered SQLite history and read back at start so windows
 * that span a restart are answered.
 */

import type { Logger } from '../internal/log.js';
import {
  type ChartDef,
  type ChartInstance,
  chartDefs,
  type DimensionDef,
  dimensionInput,
  instantiate,
  type Os,
  UPTIME_CHART,
} from '../model/charts.js';
import { groupValues } from './group.js';
import { BLOCK_SLOTS, type HistoryDb, type SeriesKey } from './history-db.js';
import { AbsoluteValue, IncrementalRate } from './rates.js';
import { Ring } from './ring.js';

export interface StoreOptions {
  /** Seconds between slots (the sampling interval). */
  updateEvery?: number;
  /** Seconds of per-slot history held in memory per series. */
  ringSeconds?: number;
  gapAfterLostIterations?: number;
  db?: HistoryDb;
  /** Retention of tier 0 (per slot) and tier 1 (per minute), seconds. */
  tier0Seconds?: number;
  tier1Seconds?: number;
  log?: Logger;
}

export class Series {
  readonly key: SeriesKey;
  readonly dim: DimensionDef;
  readonly ring: Ring;
  private readonly rate: IncrementalRate | AbsoluteValue;
  /** Oldest slot written since the last flush (NaN: nothing to flush). */
  dirtyFrom = Number.NaN;
  readonly emit: (t: number, v: number) => void;

  constructor(key: SeriesKey, dim: DimensionDef, ring: Ring, ue: number, gapAfter: number) {
    this.key = key;
    this.dim = dim;
    this.ring = ring;
    this.rate = dim.algorithm === 'incremental' ? new IncrementalRate(ue, gapAfter) : new AbsoluteValue(ue);
    this.emit = (t, v) => {
      this.ring.put(t, v);
      if (!(t >= this.dirtyFrom)) this.dirtyFrom = t;
    };
  }

  /** The last collected raw value (Netdata's `<dimension>_raw` variable), NaN before any. */
  lastRaw = Number.NaN;
  /** Wall-clock seconds of this dimension's last collection (`<dimension>_last_collected_t`), NaN before any. */
  lastCollectedT = Number.NaN;

  push(tUs: number, value: number | undefined, gap: boolean): void {
    const v = value ?? Number.NaN;
    if (!Number.isNaN(v)) {
      this.lastRaw = v;
      this.lastCollectedT = Math.floor(tUs / 1e6);
    }
    if (this.rate instanceof IncrementalRate) this.rate.push(tUs, v, this.emit, gap);
    else this.rate.push(tUs, v, this.emit);
  }

  restart(): void {
    this.rate.reset();
  }
}

export interface ChartEntry {
  instance: ChartInstance;
  series: Series[];
  /** Collections ingested (Netdata's counter_done: alerts need at least two). */
  collections: number;
  /** Wall-clock seconds of the last collection ($last_collected_t), NaN before any. */
  lastCollectedT: number;
}

export interface QueryResult {
  value: number;
  /** First and last slot of the window actually used (Netdata's db_after / db_before). */
  after: number;
  before: number;
  /** Non-gap points that went into the value, over all dimensions. */
  points: number;
  dimensions: string[];
}

/** Which per-minute aggregate stands for a minute when a window reaches into tier 1. */
function minuteValueFor(method: string): 'avg' | 'min' | 'max' | 'sum' {
  if (method === 'min') return 'min';
  if (method === 'max') return 'max';
  if (method === 'sum' || method === 'incremental-sum') return 'sum';
  return 'avg';
}

export class Store {
  readonly updateEvery: number;
  readonly ringSeconds: number;
  private readonly gapAfter: number;
  private readonly db: HistoryDb | undefined;
  private readonly tier0Seconds: number;
  private readonly tier1Seconds: number;
  private readonly log: Logger | undefined;
  private readonly charts = new Map<string, ChartEntry>();
  /** Any of a chart's names (id, aliases) → its entry. */
  private readonly byName = new Map<string, ChartEntry>();
  private readonly byNetns = new Map<string, ChartEntry[]>();
  private lastAggregatedMinute = Number.NaN;
  private flushes = 0;
  /** Flush failures by error code, for status and /metrics. */
  readonly errors = new Map<string, number>();

  constructor(opts: StoreOptions = {}) {
    this.updateEvery = opts.updateEvery ?? 1;
    this.ringSeconds = opts.ringSeconds ?? 3600;
    this.gapAfter = opts.gapAfterLostIterations ?? 1;
    this.db = opts.db;
    this.tier0Seconds = opts.tier0Seconds ?? 25 * 3600;
    this.tier1Seconds = opts.tier1Seconds ?? 31 * 86400;
    this.log = opts.log;
  }

  /** Create the charts of one namespace (and netdata.uptime with the host). */
  addNamespace(netns: string, os: Os): ChartEntry[] {
    const defs: ChartDef[] = [...chartDefs(os)];
    if (netns === 'host') defs.push(UPTIME_CHART);
    const entries: ChartEntry[] = [];
    // At least two blocks, so a flush never rewrites a block the ring no longer holds in the normal case.
    const slots = Math.max(2 * BLOCK_SLOTS, Math.ceil(this.ringSeconds / this.updateEvery));
    for (const def of defs) {
      const instance = instantiate(def, netns);
      if (this.charts.has(instance.fullId)) continue;
      const series = def.dimensions.map(
        (dim) =>
          new Series(
            { netns, chart: instance.fullId, dim: dim.id },
            dim,
            new Ring(slots, this.updateEvery),
            this.updateEvery,
            this.gapAfter,
          ),
      );
      const entry: ChartEntry = { instance, series, collections: 0, lastCollectedT: Number.NaN };
      this.charts.set(instance.fullId, entry);
      for (const n of instance.names) if (!this.byName.has(n)) this.byName.set(n, entry);
      entries.push(entry);
    }
    this.byNetns.set(netns, [...(this.byNetns.get(netns) ?? []), ...entries]);
    return entries;
  }

  /** Every chart, in priority order. */
  allCharts(): ChartEntry[] {
    return [...this.charts.values()].sort((a, b) => a.instance.def.priority - b.instance.def.priority);
  }

  /** A chart by id or alias (`ip.tcphandshake`, `ipv4.tcphandshake`). */
  chart(name: string): ChartEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * One collection of a namespace's counters at tUs (epoch microseconds). `gap` restarts every series of
   * the namespace (the sampler saw the clocks disagree). A counter absent from the set is a gap for its
   * dimension only.
   */
  ingest(netns: string, counters: Readonly<Record<string, number>>, tUs: number, gap = false): void {
    const entries = this.byNetns.get(netns);
    if (!entries) return;
    for (const entry of entries) {
      if (entry.instance.def.hostOnly) continue;
      this.ingestChart(entry, counters, tUs, gap);
    }
  }

  /** One collection for one chart only (agent-wide charts such as netdata.uptime). */
  ingestChart(entry: ChartEntry, counters: Readonly<Record<string, number>>, tUs: number, gap = false): void {
    let any = false;
    for (const s of entry.series) {
      const v = dimensionInput(s.dim, counters);
      if (v !== undefined) any = true;
      s.push(tUs, v, gap);
    }
    if (any) {
      entry.collections++;
      entry.lastCollectedT = Math.floor(tUs / 1e6);
    }
  }

  /**
   * The wall clock went backwards to `toSec`: slots after it were named by a wrong clock. Drop them from
   * memory (the newest data wins on disk too: blocks are rewritten from the rings) and restart every series.
   */
  clockWentBack(toSec: number): void {
    for (const entry of this.charts.values()) {
      for (const s of entry.series) {
        s.ring.truncateAfter(toSec);
        s.restart();
        if (s.dirtyFrom > toSec) s.dirtyFrom = Number.NaN;
      }
    }
  }

  /** Newest slot of a chart (Netdata's chart last_entry_t), NaN when empty. */
  lastT(entry: ChartEntry): number {
    let last = Number.NaN;
    for (const s of entry.series) {
      const t = s.ring.lastT;
      if (!Number.isNaN(t) && !(t <= last)) last = t;
    }
    return last;
  }

  /** Oldest slot held for a chart, in memory or on disk. */
  firstT(entry: ChartEntry): number {
    let first = Number.NaN;
    for (const s of entry.series) {
      const t = s.ring.firstT;
      if (!Number.isNaN(t) && !(t >= first)) first = t;
    }
    return first;
  }

  /**
   * The slot values of one series over [after, before] (inclusive), from memory and, if older, from disk:
   * per-slot blocks (tier 0) where they are kept, and before them the per-minute rows (tier 1), one point
   * per minute at the minute's end — Netdata answers windows beyond tier 0 from its higher tiers the same way.
   * `minuteValue` picks the aggregate a minute contributes: min and max keep the extremes, `sum` gives the
   * minute's total (avg × slots), anything else the average.
   */
  points(
    s: Series,
    after: number,
    before: number,
    minuteValue: 'avg' | 'min' | 'max' | 'sum' = 'avg',
  ): { t: number; v: number }[] {
    const out: { t: number; v: number }[] = [];
    const ringFirst = s.ring.firstT;
    if (this.db && (Number.isNaN(ringFirst) || after < ringFirst)) {
      const until = Number.isNaN(ringFirst) ? before : Math.min(before, ringFirst - this.updateEvery);
      const span = BLOCK_SLOTS * this.updateEvery;
      let tier0First = Number.NaN;
      try {
        tier0First = this.db.firstBlockT(s.key);
      } catch (err) {
        this.errors.set('E_DB_READ', (this.errors.get('E_DB_READ') ?? 0) + 1);
        this.log?.once('points-read', 'error', `cannot read history: ${(err as Error).message}`, {
          code: 'E_DB_READ',
        });
        s.ring.forEach(after, before, (t, v) => out.push({ t, v }));
        return out;
      }
      // Minutes up to the first per-slot block (or the ring, with no blocks at all); the minute ending at
      // that slot shares one slot with it, which weighs nothing against the 59 others it brings.
      const minutesUntil = Number.isNaN(tier0First) ? until : Math.min(until, tier0First);
      if (after <= minutesUntil) {
        for (const m of this.db.minutesBetween(s.key, after, minutesUntil)) {
          const v =
            minuteValue === 'min'
              ? m.min
              : minuteValue === 'max'
                ? m.max
                : minuteValue === 'sum'
                  ? m.avg * m.count
                  : m.avg;
          out.push({ t: m.t, v });
        }
      }
      for (const b of this.db.blocksBetween(s.key, Math.floor(after / span) * span, until)) {
        for (let i = 0; i < BLOCK_SLOTS; i++) {
          const t = b.block + i * b.every;
          if (t >= after && t <= until) out.push({ t, v: b.values[i]! });
        }
      }
    }
    s.ring.forEach(after, before, (t, v) => out.push({ t, v }));
    return out;
  }

  /**
   * Group each selected dimension over [after, before] with `method`, then combine the dimensions with a
   * sum (Netdata's default in rrdr2value). Dimensions are selected by id or name; none given → all.
   */
  query(
    entry: ChartEntry,
    opts: { after: number; before: number; method?: string; dimensions?: readonly string[] },
  ): QueryResult {
    const method = opts.method ?? 'average';
    const wanted = opts.dimensions;
    let total = Number.NaN;
    let points = 0;
    const used: string[] = [];
    for (const s of entry.series) {
      if (wanted && !wanted.includes(s.dim.id) && !wanted.includes(s.dim.name)) continue;
      const pts = this.points(s, opts.after, opts.before, minuteValueFor(method));
      const v = groupValues(
        method,
        pts.map((p) => p.v),
      );
      if (Number.isNaN(v)) continue;
      for (const p of pts) if (!Number.isNaN(p.v)) points++;
      total = Number.isNaN(total) ? v : total + v;
      used.push(s.dim.id);
    }
    return { value: total, after: opts.after, before: opts.before, points, dimensions: used };
  }

  /** Write what changed since the last flush, in one transaction. Never throws; failures are counted. */
  flush(nowSec: number): boolean {
    if (!this.db) return true;
    const db = this.db;
    const ue = this.updateEvery;
    const span = BLOCK_SLOTS * ue;
    const minuteStart = Math.floor(nowSec / 60) * 60;
    // Aggregate every minute touched since the last successful flush: from the oldest unwritten slot (the
    // first flush, or flushes that failed) and at least the minute aggregated last time (still growing then).
    let oldestDirty = Number.POSITIVE_INFINITY;
    for (const entry of this.charts.values())
      for (const s of entry.series) if (s.dirtyFrom < oldestDirty) oldestDirty = s.dirtyFrom;
    let fromMinute = Number.isNaN(this.lastAggregatedMinute) ? minuteStart : this.lastAggregatedMinute;
    if (Number.isFinite(oldestDirty))
      fromMinute = Math.min(fromMinute, Math.floor((oldestDirty - ue) / 60) * 60);
    fromMinute = Math.max(fromMinute, minuteStart - this.ringSeconds - 60);
    try {
      db.transaction(() => {
        for (const entry of this.charts.values()) {
          for (const s of entry.series) {
            if (!Number.isNaN(s.dirtyFrom)) {
              const last = s.ring.lastT;
              const ringFirst = s.ring.firstT;
              for (let block = Math.floor(s.dirtyFrom / span) * span; block <= last; block += span) {
                const values = new Float64Array(BLOCK_SLOTS);
                for (let i = 0; i < BLOCK_SLOTS; i++) values[i] = s.ring.get(block + i * ue);
                if (block < ringFirst) {
                  // Part of this block has left the ring: keep those slots as they are on disk.
                  const old = db.blocksBetween(s.key, block, block)[0];
                  if (old && old.every === ue) {
                    for (let i = 0; i < BLOCK_SLOTS && block + i * ue < ringFirst; i++)
                      values[i] = old.values[i]!;
                  }
                }
                db.putBlock(db.seriesId(s.key), block, ue, values);
              }
            }
            // Minute aggregates: every minute touched since the last flush, the current one included
            // (rewritten until it completes).
            for (let m = fromMinute; m <= minuteStart; m += 60) {
              let n = 0;
              let sum = 0;
              let mn = Number.POSITIVE_INFINITY;
              let mx = Number.NEGATIVE_INFINITY;
              s.ring.forEach(m + ue, m + 60, (_t, v) => {
                if (Number.isNaN(v)) return;
                n++;
                sum += v;
                if (v < mn) mn = v;
                if (v > mx) mx = v;
              });
              if (n > 0)
                db.putMinute(db.seriesId(s.key), { t: m + 60, min: mn, avg: sum / n, max: mx, count: n });
            }
          }
        }
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'E_DB_WRITE';
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
      this.log?.once(`flush-${code}`, 'error', (err as Error).message, { code, file: db.path });
      return false;
    }
    for (const entry of this.charts.values()) for (const s of entry.series) s.dirtyFrom = Number.NaN;
    this.lastAggregatedMinute = minuteStart;
    this.flushes++;
    if (this.flushes % 360 === 1) {
      try {
        db.applyRetention(nowSec, this.tier0Seconds, this.tier1Seconds);
      } catch (err) {
        this.log?.once('retention', 'warn', `retention cleanup failed: ${(err as Error).message}`);
      }
    }
    return true;
  }

  /** Load the last ringSeconds of every known series from disk (after a restart). Returns slots loaded. */
  load(nowSec: number): number {
    if (!this.db) return 0;
    const ue = this.updateEvery;
    let loaded = 0;
    const since = nowSec - this.ringSeconds;
    for (const entry of this.charts.values()) {
      for (const s of entry.series) {
        let blocks: ReturnType<HistoryDb['blocksSince']>;
        try {
          blocks = this.db.blocksSince(s.key, since - BLOCK_SLOTS * ue);
        } catch (err) {
          // A damaged page must not stop the agent: that series starts empty, the others load.
          this.errors.set('E_DB_READ', (this.errors.get('E_DB_READ') ?? 0) + 1);
          this.log?.once('load-read', 'error', `cannot read history: ${(err as Error).message}`, {
            code: 'E_DB_READ',
          });
          continue;
        }
        for (const b of blocks) {
          if (b.every !== ue) continue;
          for (let i = 0; i < BLOCK_SLOTS; i++) {
            const t = b.block + i * ue;
            const v = b.values[i]!;
            if (t < since || t > nowSec || Number.isNaN(v)) continue;
            s.ring.put(t, v);
            loaded++;
          }
        }
      }
    }
    return loaded;
  }
}
