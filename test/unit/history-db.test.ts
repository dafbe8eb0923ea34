import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RstwatchError } from '../../src/internal/errors.js';
import { memoryLogger } from '../../src/internal/log.js';
import { BLOCK_SLOTS, HistoryDb, type SeriesKey } from '../../src/store/history-db.js';
import { type ChartEntry, Store } from '../../src/store/store.js';
import { BASE as T0, us } from '../helpers/series.js';

/** Per-second increments (the slot value at T0 + k for k ≥ 1). */
const inc = {
  AttemptFails: (k: number) => k % 7,
  EstabResets: (_k: number) => 2,
  TCPSynRetrans: (k: number) => Math.floor(k / 30),
};
type Dim = keyof typeof inc;

function countersAt(k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(inc)) {
    let c = 5000;
    for (let j = 1; j <= k; j++) c += f(j);
    out[name] = c;
  }
  return out;
}

const key = (dim: Dim | string, chart = 'ip.tcphandshake', netns = 'host'): SeriesKey => ({
  netns,
  chart,
  dim,
});

function range(from: number, to: number, step = 1): number[] {
  const out: number[] = [];
  for (let k = from; k <= to; k += step) out.push(k);
  return out;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

let dir: string;
let file: string;
const opened: HistoryDb[] = [];

function open(p = file, nowMs = T0 * 1000): HistoryDb {
  const db = HistoryDb.open(p, nowMs);
  opened.push(db);
  return db;
}

function hostStore(db: HistoryDb, opts: ConstructorParameters<typeof Store>[0] = {}) {
  const store = new Store({ db, ...opts });
  store.addNamespace('host', 'linux');
  return { store, hs: store.chart('ip.tcphandshake')! };
}

/** Ingest seconds from..to (counters on the boundaries), flushing every `flushEvery` seconds if given. */
function run(store: Store, from: number, to: number, flushEvery?: number): void {
  for (let k = from; k <= to; k++) {
    store.ingest('host', countersAt(k), us(k));
    if (flushEvery !== undefined && k % flushEvery === 0) expect(store.flush(T0 + k)).toBe(true);
  }
}

/** Slot values of one series on disk (tier 0) over [from, to] seconds after T0. */
function diskValues(db: HistoryDb, k: SeriesKey, from: number, to: number, every = 1): Map<number, number> {
  const out = new Map<number, number>();
  for (const b of db.blocksBetween(k, T0 - BLOCK_SLOTS * every, T0 + to)) {
    for (let i = 0; i < BLOCK_SLOTS; i++) {
      const t = b.block + i * b.every - T0;
      if (t >= from && t <= to) out.set(t, b.values[i]!);
    }
  }
  return out;
}

function afQuery(store: Store, hs: ChartEntry, after: number, before: number, method = 'average') {
  return store.query(hs, { after: T0 + after, before: T0 + before, method, dimensions: ['AttemptFails'] });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-'));
  file = path.join(dir, 'history.db');
});

afterEach(() => {
  for (const db of opened.splice(0)) db.close();
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HistoryDb', () => {
  it('round-trips tier0 blocks (gaps included) and tier1 rows, and keeps them across a reopen', () => {
    const db = open();
    const id = db.seriesId(key('AttemptFails'));
    expect(db.seriesId(key('AttemptFails'))).toBe(id);
    expect(db.seriesId(key('EstabResets'))).not.toBe(id);
    const vals = new Float64Array(BLOCK_SLOTS).map((_, i) => (i % 5 === 0 ? Number.NaN : i * 0.25));
    db.transaction(() => {
      db.putBlock(id, T0, 1, vals);
      db.putBlock(id, T0 + 60, 1, new Float64Array(BLOCK_SLOTS).fill(3));
      db.putMinute(id, { t: T0 + 60, min: 0.25, avg: 7.5, max: 14.75, count: 48 });
      db.putMinute(id, { t: T0 + 120, min: Number.NaN, avg: Number.NaN, max: Number.NaN, count: 0 });
    });
    db.close();
    const db2 = open();
    const got = db2.blocksBetween(key('AttemptFails'), T0, T0 + 60);
    expect(got.map((b) => [b.block, b.every])).toEqual([
      [T0, 1],
      [T0 + 60, 1],
    ]);
    for (let i = 0; i < BLOCK_SLOTS; i++) {
      if (i % 5 === 0) expect(got[0]!.values[i]).toBeNaN();
      else expect(got[0]!.values[i]).toBe(i * 0.25);
    }
    expect([...got[1]!.values]).toEqual(Array(BLOCK_SLOTS).fill(3));
    expect(db2.blocksBetween(key('AttemptFails'), T0 + 1, T0 + 59)).toEqual([]);
    expect(db2.blocksSince(key('AttemptFails'), T0 + 1).map((b) => b.block)).toEqual([T0 + 60]);
    expect(db2.blocksSince(key('EstabResets'), 0)).toEqual([]);
    const rows = db2.minutesBetween(key('AttemptFails'), T0, T0 + 120);
    expect(rows[0]).toEqual({ t: T0 + 60, min: 0.25, avg: 7.5, max: 14.75, count: 48 });
    expect(rows[1]!.count).toBe(0);
    expect(rows[1]!.avg).toBeNaN();
    expect(db2.seriesId(key('AttemptFails'))).toBe(id);
    expect(db2.recoveredFrom).toBeUndefined();
  });

  it('a block written again replaces the old one (a flush rewrites the current block)', () => {
    const db = open();
    const id = db.seriesId(key('x'));
    db.putBlock(id, T0, 1, new Float64Array(BLOCK_SLOTS).fill(1));
    db.putBlock(id, T0, 1, new Float64Array(BLOCK_SLOTS).fill(2));
    const got = db.blocksBetween(key('x'), T0, T0);
    expect(got).toHaveLength(1);
    expect(got[0]!.values[59]).toBe(2);
  });

  it('moves a file of garbage aside as history.db.corrupt-<epoch>, keeps it, and starts a working database', () => {
    const garbage = Buffer.from('this is not a database, just garbage bytes\n'.repeat(200));
    fs.writeFileSync(file, garbage);
    const nowMs = (T0 + 42) * 1000 + 999;
    const db = open(file, nowMs);
    const aside = `${file}.corrupt-${T0 + 42}`;
    expect(db.recoveredFrom).toBe(aside);
    expect(fs.readFileSync(aside).equals(garbage)).toBe(true);
    expect(fs.readFileSync(file).subarray(0, 16).toString('latin1')).toBe('SQLite format 3\u0000');
    const id = db.seriesId(key('AttemptFails'));
    db.transaction(() => db.putBlock(id, T0, 1, new Float64Array(BLOCK_SLOTS).fill(4)));
    expect(db.blocksBetween(key('AttemptFails'), T0, T0)[0]!.values[0]).toBe(4);
  });

  it('moves aside a database whose pages are damaged (quick_check fails)', () => {
    const db = open();
    const id = db.seriesId(key('AttemptFails'));
    db.transaction(() => {
      for (let b = 0; b < 2000; b++) db.putBlock(id, T0 + b * 60, 1, new Float64Array(BLOCK_SLOTS).fill(b));
    });
    db.close();
    const buf = fs.readFileSync(file);
    for (let i = 4096 * 3; i < buf.length - 4096; i++) buf[i] = (i * 7) & 255;
    fs.writeFileSync(file, buf);
    const db2 = open(file, T0 * 1000);
    expect(db2.recoveredFrom).toBe(`${file}.corrupt-${T0}`);
    expect(fs.existsSync(`${file}.corrupt-${T0}`)).toBe(true);
    expect(db2.blocksSince(key('AttemptFails'), 0)).toEqual([]);
  });

  it('refuses a database written by a newer schema, without moving or changing it', () => {
    const db = open();
    db.connection.prepare("UPDATE meta SET value = '99' WHERE key = 'schema'").run();
    db.close();
    const before = fs.readFileSync(file);
    let err: unknown;
    try {
      open();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RstwatchError);
    expect((err as RstwatchError).message).toMatch(/newer rstwatch \(schema 99\)/);
    expect(fs.readdirSync(dir).filter((n) => n.includes('corrupt'))).toEqual([]);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    // The specific code, so that status and scripts can tell "upgrade" from "cannot open".
    expect((err as RstwatchError).code).toBe('E_DB_SCHEMA');
  });

  it('applyRetention deletes blocks and minute rows older than each tier keeps', () => {
    const db = open();
    const id = db.seriesId(key('AttemptFails'));
    const blk = new Float64Array(BLOCK_SLOTS).fill(1);
    for (const b of [T0 - 7200, T0 - 3660, T0 - 3600, T0 - 60, T0]) db.putBlock(id, b, 1, blk);
    for (const t of [T0 - 40 * 86400, T0 - 86400 - 60, T0 - 86400, T0]) {
      db.putMinute(id, { t, min: 1, avg: 1, max: 1, count: 60 });
    }
    expect(db.applyRetention(T0, 3600, 86400)).toEqual({ tier0: 2, tier1: 2 });
    expect(db.blocksSince(key('AttemptFails'), 0).map((b) => b.block - T0)).toEqual([-3600, -60, 0]);
    expect(db.minutesBetween(key('AttemptFails'), 0, T0 * 2).map((r) => r.t - T0)).toEqual([-86400, 0]);
    expect(db.applyRetention(T0, 3600, 86400)).toEqual({ tier0: 0, tier1: 0 });
  });
});

describe('Store with history on disk', () => {
  it('answers the same values after a restart (flush, close, reopen, load), and across the restart', () => {
    const db1 = open();
    const a = hostStore(db1);
    run(a.store, 0, 180);
    expect(a.store.flush(T0 + 180)).toBe(true);
    const before = range(0, 180).map((k) => a.hs.series.map((s) => s.ring.get(T0 + k)));
    const avgLastMinute = afQuery(a.store, a.hs, 121, 180);
    expect(avgLastMinute.value).toBeCloseTo(mean(range(121, 180).map(inc.AttemptFails)), 12);
    db1.close();

    // The agent restarts 20 s later.
    const db2 = open();
    const b = hostStore(db2);
    expect(b.store.load(T0 + 200)).toBe(3 * 180);
    const after = range(0, 180).map((k) => b.hs.series.map((s) => s.ring.get(T0 + k)));
    expect(after).toEqual(before);
    expect(afQuery(b.store, b.hs, 121, 180)).toEqual(avgLastMinute);
    expect(b.store.query(b.hs, { after: T0 + 1, before: T0 + 180 }).value).toBeCloseTo(
      mean(range(1, 180).map(inc.AttemptFails)) + 2 + mean(range(1, 180).map(inc.TCPSynRetrans)),
      12,
    );

    // New points after the restart: the first collection is a gap, then rates; a window spanning the restart
    // averages old points (from disk) and new ones, skipping the 20 s without data.
    run(b.store, 200, 230);
    expect(b.hs.series[2]!.ring.get(T0 + 200)).toBeNaN();
    const span = afQuery(b.store, b.hs, 171, 230);
    expect(span.points).toBe(10 + 30);
    expect(span.value).toBeCloseTo(mean([...range(171, 180), ...range(201, 230)].map(inc.AttemptFails)), 12);
    expect(b.store.flush(T0 + 230)).toBe(true);
    db2.close();

    // Third start with a ring of 120 s: older windows are answered from disk, newer ones from memory.
    const db3 = open();
    const c = hostStore(db3, { ringSeconds: 120 });
    c.store.load(T0 + 240);
    expect(c.store.firstT(c.hs)).toBe(T0 + 120);
    const old = afQuery(c.store, c.hs, 1, 60);
    expect(old.points).toBe(60);
    expect(old.value).toBeCloseTo(mean(range(1, 60).map(inc.AttemptFails)), 12);
    const mixed = afQuery(c.store, c.hs, 100, 230);
    expect(mixed.points).toBe(81 + 30);
    expect(mixed.value).toBeCloseTo(mean([...range(100, 180), ...range(201, 230)].map(inc.AttemptFails)), 12);
    expect(afQuery(c.store, c.hs, 100, 230, 'max').value).toBe(6);
  });

  it('writes tier1 minute rows (min/avg/max/count) with periodic flushes, rewriting the current minute', () => {
    const db = open();
    const { store } = hostStore(db);
    run(store, 0, 180, 10);
    const minutes = (dim: Dim) => db.minutesBetween(key(dim), T0, T0 + 3600);
    const want = (dim: Dim, m: number) => {
      const vs = range(m * 60 + 1, m * 60 + 60).map(inc[dim]);
      return { t: T0 + 60 * (m + 1), min: Math.min(...vs), avg: mean(vs), max: Math.max(...vs), count: 60 };
    };
    for (const dim of ['AttemptFails', 'EstabResets', 'TCPSynRetrans'] as const) {
      const rows = minutes(dim);
      expect(rows.map((r) => r.t - T0)).toEqual([60, 120, 180]);
      rows.forEach((r, m) => {
        const w = want(dim, m);
        expect(r).toMatchObject({ t: w.t, min: w.min, max: w.max, count: 60 });
        expect(r.avg).toBeCloseTo(w.avg, 12);
      });
    }
    // A minute in progress is written partially, then completed by later flushes.
    run(store, 181, 200, 10);
    expect(minutes('AttemptFails').at(-1)).toMatchObject({ t: T0 + 240, count: 20 });
    run(store, 201, 240, 10);
    const last = minutes('AttemptFails').at(-1)!;
    expect(last).toMatchObject({ t: T0 + 240, count: 60, min: 0, max: 6 });
    expect(last.avg).toBeCloseTo(want('AttemptFails', 3).avg, 12);
    // Dimensions never collected have no rows.
    expect(minutes('OutRsts' as Dim)).toEqual([]);
  });

  it('the first flush after several minutes still writes a minute row for every complete minute', () => {
    // E.g. flush every = 300 s (a valid setting), or the first flushes failed (disk full at start).
    const db = open();
    const { store } = hostStore(db);
    run(store, 0, 180);
    expect(store.flush(T0 + 180)).toBe(true);
    expect(diskValues(db, key('AttemptFails'), 1, 180).get(30)).toBe(inc.AttemptFails(30));
    const rows = db.minutesBetween(key('AttemptFails'), T0, T0 + 3600);
    expect(rows.map((r) => [r.t - T0, r.count])).toEqual([
      [60, 60],
      [120, 60],
      [180, 60],
    ]);
  });

  it('a failed flush is counted, logged once, does not throw, and its data is written by the next good flush', () => {
    const db = open();
    const log = memoryLogger();
    const { store } = hostStore(db, { log });
    run(store, 0, 30);
    expect(store.flush(T0 + 30)).toBe(true);
    // Make every tier1 write fail from now on: the whole flush transaction must roll back.
    db.connection.exec(
      "CREATE TEMP TRIGGER rw_fail BEFORE INSERT ON main.tier1 BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END",
    );
    run(store, 31, 50);
    let ok: boolean | undefined;
    expect(() => {
      ok = store.flush(T0 + 50);
    }).not.toThrow();
    expect(ok).toBe(false);
    expect(store.errors.get('E_DB_WRITE')).toBe(1);
    const onDisk = diskValues(db, key('AttemptFails'), 1, 59);
    expect(onDisk.get(30)).toBe(inc.AttemptFails(30));
    expect(onDisk.get(40)).toBeNaN(); // rolled back, nothing half-written
    run(store, 51, 55);
    expect(store.flush(T0 + 55)).toBe(false);
    expect(store.errors.get('E_DB_WRITE')).toBe(2);
    expect(log.lines.filter((l) => l.includes('E_DB_WRITE'))).toHaveLength(1);
    expect(log.lines[0]).toMatch(/simulated I\/O error/);

    db.connection.exec('DROP TRIGGER rw_fail');
    run(store, 56, 70);
    expect(store.flush(T0 + 70)).toBe(true);
    const all = diskValues(db, key('AttemptFails'), 1, 70);
    for (let k = 1; k <= 70; k++) expect([k, all.get(k)]).toEqual([k, inc.AttemptFails(k)]);
    expect(db.minutesBetween(key('AttemptFails'), T0 + 60, T0 + 60)[0]).toMatchObject({ count: 60, max: 6 });
    expect(store.errors.get('E_DB_WRITE')).toBe(2);
  });

  it('a flush on a closed database is counted and does not throw', () => {
    const db = open();
    const { store } = hostStore(db);
    run(store, 0, 10);
    db.close();
    let ok: boolean | undefined;
    expect(() => {
      ok = store.flush(T0 + 10);
    }).not.toThrow();
    expect(ok).toBe(false);
    expect(store.errors.get('E_DB_WRITE')).toBe(1);
  });

  it('a full disk is counted as E_DB_FULL and the data is written once space is back', () => {
    const db = open();
    const { store } = hostStore(db);
    run(store, 0, 20);
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    vi.spyOn(db, 'putBlock').mockImplementationOnce(() => {
      throw full;
    });
    expect(store.flush(T0 + 20)).toBe(false);
    expect(store.errors.get('E_DB_FULL')).toBe(1);
    expect(db.blocksSince(key('AttemptFails'), 0)).toEqual([]);
    expect(store.flush(T0 + 21)).toBe(true);
    expect(diskValues(db, key('AttemptFails'), 1, 20).get(20)).toBe(inc.AttemptFails(20));
  });

  it('the first flush applies the retention of each tier', () => {
    const db = open();
    const id = db.seriesId(key('AttemptFails'));
    db.putBlock(id, T0 - 2 * 86400, 1, new Float64Array(BLOCK_SLOTS).fill(1));
    db.putBlock(id, T0 - 1800, 1, new Float64Array(BLOCK_SLOTS).fill(1));
    db.putMinute(id, { t: T0 - 40 * 86400, min: 1, avg: 1, max: 1, count: 60 });
    db.putMinute(id, { t: T0 - 2 * 86400, min: 1, avg: 1, max: 1, count: 60 });
    const { store } = hostStore(db, { tier0Seconds: 3600, tier1Seconds: 31 * 86400 });
    run(store, 0, 10);
    expect(store.flush(T0 + 10)).toBe(true);
    expect(db.blocksSince(key('AttemptFails'), 0).map((b) => b.block - T0)).toEqual([-1800, 0]);
    expect(db.minutesBetween(key('AttemptFails'), 0, T0 * 2).map((r) => r.t - T0)).toEqual([-2 * 86400, 60]);
  });

  it('windows older than the per-second history are answered from the minute rows (tier 1)', () => {
    const db = open();
    const id = db.seriesId(key('AttemptFails'));
    // Two days ago: three complete minutes on disk with nothing per second left for them (retention took it).
    const old = T0 - 2 * 86400;
    const rows = [
      { t: old + 60, min: 1, avg: 2, max: 4, count: 60 },
      { t: old + 120, min: 0, avg: 5, max: 9, count: 60 },
      { t: old + 180, min: 3, avg: 3, max: 3, count: 30 },
    ];
    for (const r of rows) db.putMinute(id, r);
    const { store, hs } = hostStore(db, { ringSeconds: 120 });
    run(store, 0, 120, 60);
    const q = (method: string) => afQuery(store, hs, -2 * 86400, -2 * 86400 + 180, method);
    expect(q('average')).toMatchObject({ value: (2 + 5 + 3) / 3, points: 3 });
    expect(q('max').value).toBe(9);
    expect(q('min').value).toBe(0);
    expect(q('sum').value).toBe(2 * 60 + 5 * 60 + 3 * 30);
    // A window from two days ago to now: the minutes, then the per-second slots of today.
    const all = afQuery(store, hs, -2 * 86400, 120);
    expect(all.points).toBe(3 + 120);
    expect(all.value).toBeCloseTo(
      (2 +
        5 +
        3 +
        range(1, 120)
          .map(inc.AttemptFails)
          .reduce((a, b) => a + b)) /
        123,
      12,
    );
    // Where per-second blocks exist, they are used and the minute rows of the same time are not added.
    const today = afQuery(store, hs, 1, 120);
    expect(today.points).toBe(120);
  });

  it('reading history never writes: loading a series never seen adds no row', () => {
    const db = open();
    const { store } = hostStore(db);
    expect(store.load(T0)).toBe(0);
    expect(db.firstBlockT(key('AttemptFails'))).toBeNaN();
    expect(db.blocksSince(key('AttemptFails'), 0)).toEqual([]);
    const n = (db as unknown as { db: { prepare(q: string): { get(): { n: number } } } }).db
      .prepare('SELECT COUNT(*) AS n FROM series')
      .get().n;
    expect(n).toBe(0);
  });

  it('after the wall clock went back, the newest data wins on disk too', () => {
    const db = open();
    const { store } = hostStore(db);
    run(store, 0, 100);
    expect(store.flush(T0 + 100)).toBe(true);
    store.clockWentBack(T0 + 70);
    const base = countersAt(100).AttemptFails!;
    for (let i = 0; i <= 10; i++) store.ingest('host', { AttemptFails: base + 9 * i }, us(70.5 + i));
    expect(store.flush(T0 + 80)).toBe(true);
    const d = diskValues(db, key('AttemptFails'), 60, 119);
    expect(d.get(69)).toBe(inc.AttemptFails(69));
    expect(d.get(70)).toBeNaN();
    expect(d.get(75)).toBeCloseTo(9, 12);
    expect(d.get(90)).toBeNaN(); // named by the wrong clock: gone
  });

  it('keeps every flushed slot on disk when the ring is shorter than a block (interval 5 s, memory 120 s)', () => {
    const db = open();
    const { store } = hostStore(db, { updateEvery: 5, ringSeconds: 120 });
    for (let k = 0; k <= 600; k += 5) {
      store.ingest('host', { AttemptFails: 3 * k }, us(k));
      if (k % 10 === 0) expect(store.flush(T0 + k)).toBe(true);
    }
    const d = diskValues(db, key('AttemptFails'), 5, 600, 5);
    const lost = range(5, 600, 5).filter((k) => d.get(k) !== 3);
    expect(lost.length, `slots lost on disk (s after T0): ${lost.join(' ')}`).toBe(0);
  });
});
