import { describe, expect, it } from 'vitest';
import { type ChartEntry, type Series, Store } from '../../src/store/store.js';
import { BASE as T0, us } from '../helpers/series.js';

/** Per-second increments of each counter at second k (the slot value expected at T0 + k, k ≥ 1). */
const inc = {
  AttemptFails: (k: number) => k % 4,
  EstabResets: (_k: number) => 2,
  TCPSynRetrans: (k: number) => (k % 2 === 0 ? 8 : 0),
};

/** Cumulative counters at second k (counter value 1000 at k = 0). */
function countersAt(k: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(inc)) {
    let c = 1000;
    for (let j = 1; j <= k; j++) c += f(j);
    out[name] = c;
  }
  return out;
}

function ingestSeconds(
  store: Store,
  netns: string,
  from: number,
  to: number,
  counters: (k: number) => Record<string, number> = countersAt,
): void {
  for (let k = from; k <= to; k++) store.ingest(netns, counters(k), us(k));
}

function series(entry: ChartEntry, dim: string): Series {
  const s = entry.series.find((x) => x.dim.id === dim);
  if (!s) throw new Error(`no dimension ${dim} in ${entry.instance.fullId}`);
  return s;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe('Store: charts and names', () => {
  it("addNamespace('host', 'linux') creates ip.tcphandshake, also named ipv4.tcphandshake, and netdata.uptime", () => {
    const store = new Store();
    const entries = store.addNamespace('host', 'linux');
    const hs = store.chart('ip.tcphandshake');
    expect(hs).toBeDefined();
    expect(store.chart('ipv4.tcphandshake')).toBe(hs);
    expect(entries).toContain(hs);
    expect(hs!.instance.fullId).toBe('ip.tcphandshake');
    expect(hs!.instance.netns).toBe('host');
    expect(hs!.series.map((s) => s.dim.id)).toEqual([
      'EstabResets',
      'OutRsts',
      'AttemptFails',
      'TCPSynRetrans',
    ]);
    expect(hs!.series.map((s) => s.key)).toContainEqual({
      netns: 'host',
      chart: 'ip.tcphandshake',
      dim: 'AttemptFails',
    });
    const up = store.chart('netdata.uptime');
    expect(up).toBeDefined();
    expect(up!.instance.netns).toBe('host');
    expect(up!.series.map((s) => [s.dim.id, s.dim.algorithm])).toEqual([['uptime', 'absolute']]);
    expect(store.chart('ip.tcpopens')).toBeDefined();
  });

  it('another namespace gets netns_<label>.* charts with the same contexts and no uptime chart', () => {
    const store = new Store();
    store.addNamespace('host', 'linux');
    const web = store.addNamespace('web', 'linux');
    const hs = store.chart('netns_web.tcphandshake');
    expect(hs).toBeDefined();
    expect(web).toContain(hs);
    expect(hs!.instance.def.context).toBe('ip.tcphandshake');
    expect(hs!.instance.netns).toBe('web');
    expect(hs!.instance.labels).toMatchObject({ netns: 'web' });
    expect(hs!.series.map((s) => s.key.chart)).toEqual(Array(4).fill('netns_web.tcphandshake'));
    // The aliases stay with the host's chart.
    expect(store.chart('ipv4.tcphandshake')!.instance.netns).toBe('host');
    expect(web.some((e) => e.instance.def.context === 'netdata.uptime')).toBe(false);
    expect(store.chart('netns_web.uptime')).toBeUndefined();
    // Labels are sanitised into the id.
    store.addNamespace('ns-2.x', 'linux');
    expect(store.chart('netns_ns_2_x.tcphandshake')!.instance.netns).toBe('ns-2.x');
  });

  it('allCharts lists every chart in priority order', () => {
    const store = new Store();
    store.addNamespace('host', 'linux');
    const all = store.allCharts();
    const prios = all.map((e) => e.instance.def.priority);
    expect(prios).toEqual([...prios].sort((a, b) => a - b));
    expect(all[0]!.instance.fullId).toBe('ip.tcphandshake');
    expect(all.at(-1)!.instance.fullId).toBe('netdata.uptime');
  });

  it('freebsd charts follow the FreeBSD mapping', () => {
    const store = new Store();
    store.addNamespace('host', 'freebsd');
    const hs = store.chart('ipv4.tcphandshake')!;
    expect(hs.series.map((s) => s.dim.id)).toEqual([
      'EstabResets',
      'ActiveOpens',
      'PassiveOpens',
      'AttemptFails',
    ]);
  });
});

describe('Store: ingest and query', () => {
  function hostStore(opts: ConstructorParameters<typeof Store>[0] = {}): { store: Store; hs: ChartEntry } {
    const store = new Store(opts);
    store.addNamespace('host', 'linux');
    return { store, hs: store.chart('ip.tcphandshake')! };
  }

  it('stores one rate per second per dimension; the first collection is a gap', () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 20);
    const af = series(hs, 'AttemptFails');
    expect(af.ring.get(T0)).toBeNaN();
    for (let k = 1; k <= 20; k++) expect(af.ring.get(T0 + k)).toBe(inc.AttemptFails(k));
    expect(store.lastT(hs)).toBe(T0 + 20);
    expect(store.firstT(hs)).toBe(T0);
    // OutRsts was never collected: its dimension stays empty.
    expect(series(hs, 'OutRsts').ring.size).toBe(0);
  });

  it('each dimension keeps its own last collection time and raw value; the chart its latest', () => {
    const { store, hs } = hostStore();
    store.ingest('host', { AttemptFails: 10, TCPSynRetrans: 4 }, us(0.2));
    store.ingest('host', { AttemptFails: 12, TCPSynRetrans: 6 }, us(1.2));
    // The file holding TCPSynRetrans could not be read: only AttemptFails is collected for two seconds.
    store.ingest('host', { AttemptFails: 15 }, us(2.2));
    store.ingest('host', { AttemptFails: 19 }, us(3.2));
    expect(hs.lastCollectedT).toBe(T0 + 3);
    expect(series(hs, 'AttemptFails')).toMatchObject({ lastCollectedT: T0 + 3, lastRaw: 19 });
    expect(series(hs, 'TCPSynRetrans')).toMatchObject({ lastCollectedT: T0 + 1, lastRaw: 6 });
    expect(series(hs, 'OutRsts').lastCollectedT).toBeNaN();
  });

  it('lastT / firstT of a chart ignore dimensions that were never collected, wherever they are', () => {
    const { store, hs } = hostStore();
    // A kernel that does not report TCPSynRetrans, the chart's last dimension (OutRsts is missing too).
    ingestSeconds(store, 'host', 0, 10, (k) => {
      const c = countersAt(k);
      delete c.TCPSynRetrans;
      return c;
    });
    expect(series(hs, 'TCPSynRetrans').ring.size).toBe(0);
    expect(store.lastT(hs)).toBe(T0 + 10);
    expect(store.firstT(hs)).toBe(T0);
  });

  it('lastT of a chart is the newest slot over its dimensions', () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 10);
    // The last collection lacks AttemptFails: that dimension stops at T0 + 10, the others go on.
    store.ingest('host', { EstabResets: 99999, TCPSynRetrans: 99999 }, us(11));
    expect(series(hs, 'AttemptFails').ring.lastT).toBe(T0 + 10);
    expect(store.lastT(hs)).toBe(T0 + 11);
  });

  it("query average of AttemptFails over [after, before] is the mean of the slots' rates", () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 20);
    const r = store.query(hs, {
      after: T0 + 11,
      before: T0 + 20,
      method: 'average',
      dimensions: ['AttemptFails'],
    });
    expect(r.value).toBeCloseTo(mean(range(11, 20).map(inc.AttemptFails)), 12);
    expect(r.value).toBeCloseTo(1.5, 12);
    expect(r.points).toBe(10);
    expect(r.dimensions).toEqual(['AttemptFails']);
    // The gap of the first collection is skipped, not averaged as zero.
    const first = store.query(hs, { after: T0, before: T0 + 4, dimensions: ['AttemptFails'] });
    expect(first.points).toBe(4);
    expect(first.value).toBeCloseTo(mean([1, 2, 3, 0]), 12);
  });

  it('selects dimensions by name as well as by id', () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 10);
    const byName = store.query(hs, { after: T0 + 1, before: T0 + 10, dimensions: ['SynRetrans'] });
    expect(byName.dimensions).toEqual(['TCPSynRetrans']);
    expect(byName.value).toBeCloseTo(4, 12);
    const byId = store.query(hs, { after: T0 + 1, before: T0 + 10, dimensions: ['TCPSynRetrans'] });
    expect(byId.value).toBeCloseTo(4, 12);
    const none = store.query(hs, { after: T0 + 1, before: T0 + 10, dimensions: ['NoSuchDim'] });
    expect(none.value).toBeNaN();
    expect(none.dimensions).toEqual([]);
    expect(none.points).toBe(0);
  });

  it('combines the selected dimensions with a sum, skipping the empty ones', () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 20);
    const w = { after: T0 + 11, before: T0 + 20 };
    const all = store.query(hs, w);
    // EstabResets 2/s + AttemptFails 1.5/s + SynRetrans 4/s; OutRsts has no points.
    expect(all.value).toBeCloseTo(2 + 1.5 + 4, 12);
    expect(all.dimensions).toEqual(['EstabResets', 'AttemptFails', 'TCPSynRetrans']);
    expect(all.points).toBe(30);
    const two = store.query(hs, { ...w, dimensions: ['EstabResets', 'AttemptFails'] });
    expect(two.value).toBeCloseTo(3.5, 12);
    expect(store.query(hs, { ...w, method: 'sum', dimensions: ['AttemptFails'] }).value).toBe(15);
    expect(store.query(hs, { ...w, method: 'max', dimensions: ['AttemptFails'] }).value).toBe(3);
    expect(store.query(hs, { ...w, method: 'min', dimensions: ['AttemptFails'] }).value).toBe(0);
    expect(() => store.query(hs, { ...w, method: 'median-ish' })).toThrow(RangeError);
  });

  it('a counter missing from one collection is a lost iteration for that dimension only (interpolated)', () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 20, (k) => {
      const c = countersAt(k);
      if (k === 10) delete c.AttemptFails;
      return c;
    });
    const af = series(hs, 'AttemptFails');
    const er = series(hs, 'EstabResets');
    expect(af.ring.get(T0 + 9)).toBe(inc.AttemptFails(9));
    // Slots 10 and 11 share the change from 9 to 11 evenly.
    const shared = (inc.AttemptFails(10) + inc.AttemptFails(11)) / 2;
    expect(af.ring.get(T0 + 10)).toBeCloseTo(shared, 12);
    expect(af.ring.get(T0 + 11)).toBeCloseTo(shared, 12);
    expect(af.ring.get(T0 + 12)).toBe(inc.AttemptFails(12));
    for (let k = 1; k <= 20; k++) expect(er.ring.get(T0 + k)).toBe(2);
    const q = store.query(hs, { after: T0 + 9, before: T0 + 12, dimensions: ['AttemptFails'] });
    expect(q.points).toBe(4);
    expect(q.value).toBeCloseTo((inc.AttemptFails(9) + 2 * shared + inc.AttemptFails(12)) / 4, 12);
  });

  it('ingest(…, gap = true) restarts every series of the namespace, and only of that namespace', () => {
    const { store, hs } = hostStore();
    store.addNamespace('web', 'linux');
    const web = store.chart('netns_web.tcphandshake')!;
    for (let k = 0; k <= 10; k++) {
      store.ingest('host', countersAt(k), us(k), k === 5);
      store.ingest('web', countersAt(k), us(k));
    }
    for (const s of hs.series.filter((x) => x.ring.size > 0)) {
      expect(s.ring.get(T0 + 5)).toBeNaN();
      expect(s.ring.get(T0 + 6)).toBe(inc[s.dim.id as keyof typeof inc](6));
    }
    expect(series(web, 'EstabResets').ring.get(T0 + 5)).toBe(2);
  });

  it('namespaces are kept apart; an unknown namespace is ignored', () => {
    const { store, hs } = hostStore();
    store.addNamespace('web', 'linux');
    const web = store.chart('netns_web.tcphandshake')!;
    ingestSeconds(store, 'web', 0, 5, (k) => ({ AttemptFails: 100 * k }));
    ingestSeconds(store, 'nowhere', 0, 5);
    expect(series(web, 'AttemptFails').ring.get(T0 + 5)).toBe(100);
    expect(series(hs, 'AttemptFails').ring.size).toBe(0);
    expect(store.lastT(hs)).toBeNaN();
  });

  it('netdata.uptime is written only by ingestChart, as an absolute value', () => {
    const { store } = hostStore();
    const up = store.chart('netdata.uptime')!;
    store.ingest('host', { uptime: 77, ...countersAt(0) }, us(0));
    expect(up.series[0]!.ring.size).toBe(0);
    for (let k = 0; k <= 3; k++) store.ingestChart(up, { uptime: 10 + k }, us(k + 0.4));
    expect([0, 1, 2, 3].map((k) => up.series[0]!.ring.get(T0 + k))).toEqual([10, 11, 12, 13]);
  });

  it('clockWentBack drops the slots after the new time and restarts the series', () => {
    const { store, hs } = hostStore();
    ingestSeconds(store, 'host', 0, 30);
    store.clockWentBack(T0 + 20);
    const af = series(hs, 'AttemptFails');
    expect(store.lastT(hs)).toBe(T0 + 20);
    expect(af.ring.get(T0 + 20)).toBe(inc.AttemptFails(20));
    expect(af.ring.get(T0 + 21)).toBeNaN();
    // The clock now reads T0 + 20.5; counters kept growing meanwhile (10 more per second).
    const base = countersAt(30).AttemptFails!;
    for (let i = 0; i <= 5; i++) store.ingest('host', { AttemptFails: base + 10 * i }, us(20.5 + i));
    // First collection after the restart is a gap (no negative or stale value), then 10/s.
    expect(af.ring.get(T0 + 20)).toBeNaN();
    expect(af.ring.get(T0 + 21)).toBeCloseTo(5, 12);
    for (let k = 22; k <= 25; k++) expect(af.ring.get(T0 + k)).toBeCloseTo(10, 12);
    const q = store.query(hs, {
      after: T0 + 21,
      before: T0 + 30,
      method: 'max',
      dimensions: ['AttemptFails'],
    });
    expect(q.value).toBeCloseTo(10, 12);
    expect(q.points).toBe(5);
  });

  it('ringSeconds bounds what memory holds (never under two 60-slot blocks)', () => {
    const { store, hs } = hostStore({ ringSeconds: 150 });
    ingestSeconds(store, 'host', 0, 200);
    expect(store.firstT(hs)).toBe(T0 + 51);
    expect(store.lastT(hs)).toBe(T0 + 200);
    const q = store.query(hs, { after: T0, before: T0 + 200, method: 'sum', dimensions: ['EstabResets'] });
    expect(q.points).toBe(150);
    const small = hostStore({ ringSeconds: 30 });
    ingestSeconds(small.store, 'host', 0, 200);
    expect(small.store.firstT(small.hs)).toBe(T0 + 81);
  });

  it('updateEvery = 2: slots every 2 s, per-second values', () => {
    const { store, hs } = hostStore({ updateEvery: 2 });
    for (let k = 0; k <= 20; k += 2) store.ingest('host', { AttemptFails: 6 * k }, us(k));
    const af = series(hs, 'AttemptFails');
    expect(af.ring.get(T0)).toBeNaN();
    expect(af.ring.get(T0 + 2)).toBe(6);
    expect(store.query(hs, { after: T0 + 1, before: T0 + 20, dimensions: ['AttemptFails'] })).toMatchObject({
      value: 6,
      points: 10,
    });
  });
});
