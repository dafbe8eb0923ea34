import { describe, expect, it } from 'vitest';
import { groupPoints } from '../../src/health/grouping.js';
import {
  compileDimensionPattern,
  dimensionSelected,
  lookupRunnable,
  lookupWindow,
  runLookup,
} from '../../src/health/lookup.js';
import type { LookupOptions, LookupSpec } from '../../src/health/types.js';
import { type ChartEntry, type Series, Store } from '../../src/store/store.js';
import { BASE as T0, us } from '../helpers/series.js';

/**
 * Per-second increments of each counter at second k (the slot value at T0 + k, k ≥ 1). AttemptFails grows
 * by k, so the mean over slots [a, b] is (a + b)/2 and names the window; OutRsts is never reported.
 */
const inc = {
  AttemptFails: (k: number) => k,
  EstabResets: (_k: number) => 2,
  TCPSynRetrans: (k: number) => (k % 2 === 0 ? 8 : 0),
};

function countersAt(k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(inc)) {
    let c = 1000;
    for (let j = 1; j <= k; j++) c += f(j);
    out[name] = c;
  }
  return out;
}

function hostStore(opts: ConstructorParameters<typeof Store>[0] = {}): { store: Store; hs: ChartEntry } {
  const store = new Store(opts);
  store.addNamespace('host', 'linux');
  return { store, hs: store.chart('ip.tcphandshake')! };
}

/** Collections at T0 + from … T0 + to (whole seconds); `gapAt` seconds are collected with the gap flag. */
function feed(store: Store, from: number, to: number, gapAt: readonly number[] = []): void {
  for (let k = from; k <= to; k++) store.ingest('host', countersAt(k), us(k), gapAt.includes(k));
}

function series(entry: ChartEntry, dim: string): Series {
  const s = entry.series.find((x) => x.dim.id === dim);
  if (!s) throw new Error(`no dimension ${dim}`);
  return s;
}

const NO_OPTIONS: LookupOptions = {
  absolute: false,
  unaligned: false,
  percentage: false,
  anomalyBit: false,
  combine: 'sum',
  null2zero: false,
  matchIds: false,
  matchNames: false,
};

function spec(
  over: Partial<Omit<LookupSpec, 'options'>> & { options?: Partial<LookupOptions> } = {},
): LookupSpec {
  return {
    method: 'average',
    after: -10,
    before: 0,
    dimensions: 'AttemptFails',
    source: 'test',
    ...over,
    options: { ...NO_OPTIONS, ...over.options },
  };
}

/** `average -10s unaligned absolute of AttemptFails` (the 10s_ip_tcp_resets_received lookup). */
const TEN_S = spec({ options: { unaligned: true, absolute: true } });
/** `average -1m at -10s unaligned absolute of AttemptFails` (the 1m helper). */
const ONE_M = spec({ after: -60, before: -10, options: { unaligned: true, absolute: true } });

const mean = (a: number, b: number) => (a + b) / 2;

describe('window resolution (§5)', () => {
  it('`-10s unaligned` is exactly [last − 9, last]: mean of the last 10 rates, db_after/db_before', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 20);
    const r = runLookup(store, hs, TEN_S, T0 + 21);
    expect(r).toEqual({
      value: mean(11, 20),
      isNull: false,
      ok: true,
      dbAfter: T0 + 11,
      dbBefore: T0 + 20,
      dimensions: ['AttemptFails'],
    });
    // Later wall clock, same data: the window still ends at the last slot.
    expect(runLookup(store, hs, TEN_S, T0 + 25)).toMatchObject({ dbAfter: T0 + 11, dbBefore: T0 + 20 });
  });

  it('a last slot at `now` itself is beyond now − 1: the window shifts to [now − 10, now − 1]', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 20);
    const r = runLookup(store, hs, TEN_S, T0 + 20);
    expect(r.dbAfter).toBe(T0 + 10);
    expect(r.dbBefore).toBe(T0 + 19);
    expect(r.value).toBe(mean(10, 19));
  });

  it('`-1m at -10s unaligned` is [now − 70, now − 11] of the wall clock, whatever the last slot', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 100);
    const r = runLookup(store, hs, ONE_M, T0 + 100);
    expect(r).toMatchObject({ ok: true, isNull: false, dbAfter: T0 + 30, dbBefore: T0 + 89 });
    expect(r.value).toBe(mean(30, 89));
    const w = lookupWindow(ONE_M, T0 + 100, 1, T0 + 100);
    expect(w).toEqual({ after: T0 + 30, before: T0 + 89, group: 60 });
  });

  it('aligned, before = 0: the end is rounded down to a multiple of the window (the db end)', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 23);
    const aligned = runLookup(store, hs, spec(), T0 + 24);
    expect(aligned).toMatchObject({ dbAfter: T0 + 11, dbBefore: T0 + 20, value: mean(11, 20) });
    const unaligned = runLookup(store, hs, spec({ options: { unaligned: true } }), T0 + 24);
    expect(unaligned).toMatchObject({ dbAfter: T0 + 14, dbBefore: T0 + 23, value: mean(14, 23) });
  });

  it('aligned, relative before: the end is rounded up, into the future (empty slots skipped)', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 100);
    // before = now − 11 = T0 + 89 → next multiple of 60 s: T0 + 120; after = T0 + 61.
    const r = runLookup(store, hs, spec({ after: -60, before: -10 }), T0 + 100);
    expect(r).toMatchObject({ ok: true, dbAfter: T0 + 61, dbBefore: T0 + 120 });
    expect(r.value).toBe(mean(61, 100));
  });

  it('gaps inside the window are skipped, not averaged as zero', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 20, [15]);
    expect(series(hs, 'AttemptFails').ring.get(T0 + 15)).toBeNaN();
    const r = runLookup(store, hs, TEN_S, T0 + 21);
    const sum = 155 - 15; // 11 + … + 20 without 15
    expect(r.value).toBeCloseTo(sum / 9, 12);
    expect(r).toMatchObject({ dbAfter: T0 + 11, dbBefore: T0 + 20 });
  });

  it('update_every = 2: both ends on 2 s slots, 5 points in a 10 s window', () => {
    const { store, hs } = hostStore({ updateEvery: 2 });
    // Counter k² at even seconds: the slot at T0 + k holds (k² − (k − 2)²)/2 = 2k − 2 per second.
    for (let k = 0; k <= 20; k += 2) store.ingest('host', { AttemptFails: k * k }, us(k));
    expect(series(hs, 'AttemptFails').ring.get(T0 + 20)).toBe(38);
    const r = runLookup(store, hs, TEN_S, T0 + 21);
    // after = 20 − 10 + 1 = 11 → floored to 10; 5 slots; after = 20 − 10 + 2 = 12: slots 12 … 20.
    expect(r).toMatchObject({ dbAfter: T0 + 12, dbBefore: T0 + 20 });
    expect(r.value).toBe((22 + 26 + 30 + 34 + 38) / 5);
  });

  it('a window starting before the ring is read through the store (history path)', () => {
    const { store, hs } = hostStore({ ringSeconds: 120 });
    feed(store, 0, 200);
    const first = series(hs, 'AttemptFails').ring.firstT;
    expect(first).toBe(T0 + 81);
    const r = runLookup(store, hs, spec({ after: -60, before: -90, options: { unaligned: true } }), T0 + 201);
    expect(r).toMatchObject({ ok: true, dbAfter: T0 + 51, dbBefore: T0 + 110 });
    expect(r.value).toBe(mean(81, 110));
  });

  it('no queried dimension has data near the window → ok = false (HTTP 400), db_after = db_before = 0', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 100);
    // Requested window at now = T0 + 112 is [T0 + 102, T0 + 111]: last slot T0 + 100 is within 2·ue.
    expect(runLookup(store, hs, TEN_S, T0 + 112)).toMatchObject({ ok: true, dbBefore: T0 + 100 });
    const stale = runLookup(store, hs, TEN_S, T0 + 113);
    expect(stale).toEqual({
      value: Number.NaN,
      isNull: true,
      ok: false,
      dbAfter: 0,
      dbBefore: 0,
      dimensions: [],
    });
    const empty = hostStore();
    expect(runLookup(empty.store, empty.hs, TEN_S, T0 + 10).ok).toBe(false);
  });
});

describe('options', () => {
  it('absolute makes every point positive before grouping', () => {
    const { store } = hostStore();
    const up = store.chart('netdata.uptime')!;
    for (let k = 0; k <= 20; k++) store.ingestChart(up, { uptime: k % 2 === 0 ? -3 : 1 }, us(k));
    const of = { dimensions: 'uptime' };
    expect(runLookup(store, up, spec({ ...of, options: { unaligned: true } }), T0 + 21).value).toBe(-1);
    expect(
      runLookup(store, up, spec({ ...of, options: { unaligned: true, absolute: true } }), T0 + 21).value,
    ).toBe(2);
    expect(
      runLookup(store, up, spec({ ...of, method: 'min', options: { unaligned: true } }), T0 + 21).value,
    ).toBe(-3);
  });

  describe('dimension combine', () => {
    // Over [T0 + 11, T0 + 20]: AttemptFails 15.5, EstabResets 2, SynRetrans 4; OutRsts has no data.
    const { store, hs } = hostStore();
    feed(store, 0, 20);
    const at = (combine: LookupOptions['combine']) =>
      runLookup(store, hs, spec({ dimensions: 'all', options: { unaligned: true, combine } }), T0 + 21);

    it.each([
      ['sum', 21.5],
      ['min', 2],
      ['max', 15.5],
      ['average', 21.5 / 3],
      ['min2max', 13.5],
    ] as const)('%s → %d', (combine, want) => {
      const r = at(combine);
      expect(r.value).toBeCloseTo(want, 12);
      expect(r.dimensions).toEqual(['EstabResets', 'AttemptFails', 'TCPSynRetrans']);
    });

    it('with negative dimensions, before and after absolute', () => {
      const s2 = hostStore();
      for (let t = 0; t <= 20; t++) {
        series(s2.hs, 'EstabResets').ring.put(T0 + t, -5);
        series(s2.hs, 'AttemptFails').ring.put(T0 + t, 3);
      }
      const run = (combine: LookupOptions['combine'], absolute: boolean) =>
        runLookup(
          s2.store,
          s2.hs,
          spec({ dimensions: '*', options: { unaligned: true, combine, absolute } }),
          T0 + 21,
        ).value;
      expect([
        run('sum', false),
        run('min', false),
        run('max', false),
        run('average', false),
        run('min2max', false),
      ]).toEqual([-2, -5, 3, -1, 8]);
      expect([
        run('sum', true),
        run('min', true),
        run('max', true),
        run('average', true),
        run('min2max', true),
      ]).toEqual([8, 3, 5, 4, 2]);
    });
  });

  it('null2zero: dimensions without a value give 0, still flagged null', () => {
    const { store, hs } = hostStore();
    const af = series(hs, 'AttemptFails');
    for (let t = 0; t <= 20; t++) af.ring.put(T0 + t, t <= 10 ? t : Number.NaN);
    expect(runLookup(store, hs, TEN_S, T0 + 21)).toEqual({
      value: Number.NaN,
      isNull: true,
      ok: true,
      dbAfter: T0 + 11,
      dbBefore: T0 + 20,
      dimensions: [],
    });
    const z = runLookup(store, hs, spec({ options: { unaligned: true, null2zero: true } }), T0 + 21);
    expect(z).toMatchObject({ value: 0, isNull: true, ok: true });
    // A window with values is unaffected: [now − 16 − 9, now − 16], partly before the first slot T0.
    expect(
      runLookup(store, hs, spec({ before: -15, options: { unaligned: true, null2zero: true } }), T0 + 21),
    ).toMatchObject({ value: mean(0, 5), isNull: false, dbAfter: T0 - 4, dbBefore: T0 + 5 });
  });

  it('percentage: each dimension as a share of all dimensions (the unselected ones count in the total)', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 20);
    const r = runLookup(store, hs, spec({ options: { unaligned: true, percentage: true } }), T0 + 21);
    expect(r.value).toBeCloseTo((15.5 * 100) / 21.5, 12);
    expect(r.dimensions).toEqual(['AttemptFails']);
    const all = runLookup(
      store,
      hs,
      spec({ dimensions: 'all', options: { unaligned: true, percentage: true } }),
      T0 + 21,
    );
    expect(all.value).toBeCloseTo(100, 12);
    // Nothing selected: the hidden dimensions are still queried, so the query has rows (ok) but no value.
    const none = runLookup(
      store,
      hs,
      spec({ dimensions: 'NoSuch', options: { unaligned: true, percentage: true } }),
      T0 + 21,
    );
    expect(none).toMatchObject({ ok: true, isNull: true, dimensions: [] });
    expect(none.value).toBeNaN();
  });

  it('anomaly-bit: rstwatch has no anomaly detection → NaN, null', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 20);
    const r = runLookup(store, hs, spec({ options: { unaligned: true, anomalyBit: true } }), T0 + 21);
    expect(r).toMatchObject({ ok: true, isNull: true, dbAfter: T0 + 11, dbBefore: T0 + 20 });
    expect(r.value).toBeNaN();
  });
});

describe('dimension pattern (`of`)', () => {
  const { store, hs } = hostStore();
  feed(store, 0, 20);
  const dimsOf = (dimensions: string, o: Partial<LookupOptions> = {}) => {
    const r = runLookup(store, hs, spec({ dimensions, options: { unaligned: true, ...o } }), T0 + 21);
    return r.ok ? r.dimensions : 'HTTP 400';
  };

  it('`all`, `*` and empty select every dimension with data', () => {
    for (const d of ['all', 'ALL', '*', ''])
      expect(dimsOf(d)).toEqual(['EstabResets', 'AttemptFails', 'TCPSynRetrans']);
  });

  it('match-ids / match-names with a dimension whose id ≠ name (TCPSynRetrans / SynRetrans)', () => {
    expect(dimsOf('SynRetrans')).toEqual(['TCPSynRetrans']);
    expect(dimsOf('TCPSynRetrans')).toEqual(['TCPSynRetrans']);
    expect(dimsOf('SynRetrans', { matchIds: true })).toBe('HTTP 400');
    expect(dimsOf('SynRetrans', { matchNames: true })).toEqual(['TCPSynRetrans']);
    expect(dimsOf('TCPSynRetrans', { matchNames: true })).toBe('HTTP 400');
    expect(dimsOf('TCPSynRetrans', { matchIds: true })).toEqual(['TCPSynRetrans']);
    expect(dimsOf('SynRetrans', { matchIds: true, matchNames: true })).toEqual(['TCPSynRetrans']);
    const byName = runLookup(
      store,
      hs,
      spec({ dimensions: 'SynRetrans', options: { unaligned: true } }),
      T0 + 21,
    );
    expect(byName.value).toBe(4);
  });

  it('`!` negates; the first matching word decides; a negative id match stops the name', () => {
    expect(dimsOf('!AttemptFails,*')).toEqual(['EstabResets', 'TCPSynRetrans']);
    expect(dimsOf('*,!AttemptFails')).toEqual(['EstabResets', 'AttemptFails', 'TCPSynRetrans']);
    expect(dimsOf('!AttemptFails')).toBe('HTTP 400');
    expect(dimsOf('!TCPSynRetrans,SynRetrans')).toBe('HTTP 400');
    expect(dimsOf('!TCPSynRetrans,SynRetrans', { matchNames: true })).toEqual(['TCPSynRetrans']);
  });

  it('wildcards anywhere; `,` `|` and tabs separate, a space does not', () => {
    expect(dimsOf('*Fails')).toEqual(['AttemptFails']);
    expect(dimsOf('Attempt*s')).toEqual(['AttemptFails']);
    expect(dimsOf('*Syn*')).toEqual(['TCPSynRetrans']);
    expect(dimsOf('E*t*s')).toEqual(['EstabResets']);
    expect(dimsOf('Estab*|Attempt*')).toEqual(['EstabResets', 'AttemptFails']);
    expect(dimsOf('EstabResets,AttemptFails')).toEqual(['EstabResets', 'AttemptFails']);
    expect(dimsOf('EstabResets\tAttemptFails')).toEqual(['EstabResets', 'AttemptFails']);
    expect(dimsOf('EstabResets AttemptFails')).toBe('HTTP 400');
    expect(dimsOf('attemptfails')).toBe('HTTP 400');
  });

  it('the matcher on its own', () => {
    const p = compileDimensionPattern('!*Out*,*Rst*|Ab*c');
    expect(dimensionSelected(p, 'OutRsts', 'OutRsts', false, false)).toBe(false);
    expect(dimensionSelected(p, 'InRsts', 'x', false, false)).toBe(true);
    expect(dimensionSelected(p, 'Abxxc', 'x', false, false)).toBe(true);
    expect(dimensionSelected(p, 'Abxxcd', 'x', false, false)).toBe(false);
    expect(dimensionSelected(p, 'Ac', 'x', false, false)).toBe(false);
    expect(dimensionSelected(compileDimensionPattern('a*a'), 'a', 'a', true, false)).toBe(false);
    expect(dimensionSelected(compileDimensionPattern('a*a'), 'aa', 'aa', true, false)).toBe(true);
    expect(compileDimensionPattern(' all ')).toBeNull();
  });
});

describe('time grouping through the lookup', () => {
  const { store, hs } = hostStore();
  feed(store, 0, 20, [15]);
  const at = (over: Parameters<typeof spec>[0]) =>
    runLookup(store, hs, spec({ ...over, options: { unaligned: true } }), T0 + 21).value;
  const pts = [11, 12, 13, 14, 16, 17, 18, 19, 20];

  it.each([
    ['max', 20],
    ['min', 11],
    ['sum', 140],
    ['incremental-sum', 9],
    ['latest', 20],
    ['median', 16],
  ] as const)('%s', (method, want) => {
    expect(at({ method })).toBe(want);
  });

  it('countif, percentile, trimmed mean take their parameters from the spec', () => {
    expect(at({ method: 'countif', countifOp: '>', methodParam: 15 })).toBeCloseTo((5 * 100) / 9, 12);
    expect(at({ method: 'percentile', methodParam: 50 })).toBeCloseTo(groupPoints('percentile', pts, 50), 12);
    expect(at({ method: 'trimmed-mean', methodParam: 25 })).toBeCloseTo(
      groupPoints('trimmed-mean', pts, 25),
      12,
    );
  });

  it('ses and des use the window size (10 slots, gap included) for α, not the 9 points', () => {
    const want = groupPoints('ses', pts, undefined, undefined, 10);
    expect(want).not.toBeCloseTo(groupPoints('ses', pts, undefined, undefined, 9), 6);
    expect(at({ method: 'ses' })).toBeCloseTo(want, 12);
    expect(at({ method: 'des' })).toBeCloseTo(groupPoints('des', pts, undefined, undefined, 10), 12);
  });
});

describe('lookupRunnable (§3.2 rule 7)', () => {
  it('`-10s` needs about 10 s of data', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 8);
    expect(lookupRunnable(store, hs, TEN_S, T0 + 8)).toBe(false);
    feed(store, 9, 9);
    expect(lookupRunnable(store, hs, TEN_S, T0 + 9)).toBe(true);
  });

  it('`-1m at -10s` needs about 70 s of data', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 68);
    expect(lookupRunnable(store, hs, ONE_M, T0 + 68)).toBe(false);
    feed(store, 69, 69);
    expect(lookupRunnable(store, hs, ONE_M, T0 + 69)).toBe(true);
  });

  it('stale data is not runnable; an empty chart is not runnable', () => {
    const { store, hs } = hostStore();
    feed(store, 0, 100);
    expect(lookupRunnable(store, hs, TEN_S, T0 + 111)).toBe(true);
    expect(lookupRunnable(store, hs, TEN_S, T0 + 112)).toBe(false);
    expect(lookupRunnable(store, hs, ONE_M, T0 + 171)).toBe(true);
    expect(lookupRunnable(store, hs, ONE_M, T0 + 172)).toBe(false);
    const empty = hostStore();
    expect(lookupRunnable(empty.store, empty.hs, TEN_S, T0)).toBe(false);
    expect(lookupRunnable(empty.store, empty.hs, spec({ after: 0 }), T0)).toBe(true);
  });
});
