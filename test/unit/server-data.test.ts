/**
 * `/api/v1/data` arithmetic against values written straight into the store's rings: windows (relative,
 * absolute, clamped to the data), points and grouping with Netdata 1.37's alignment, every grouping method
 * through the lookup engine's implementations, gtime resampling, each option, each format, the errors, and
 * the per-minute tier over a real SQLite history (with its cache).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryDb } from '../../src/store/history-db.js';
import { Store } from '../../src/store/store.js';
import { startStoreServer } from './server-harness.js';

/** The newest slot, a multiple of 60 + 47 so alignments are visible (47 as in the 1.37 example). */
const LAST = 1_800_000_047;

type S = Awaited<ReturnType<typeof startStoreServer>>;

/**
 * ip.tcphandshake with: EstabResets = t mod 7 (small ints), OutRsts = 0, AttemptFails = 10 + (t mod 5),
 * TCPSynRetrans = −(t mod 3) (negative, for abs), over [LAST − 599, LAST], with a gap at LAST − 20.
 */
function fill(store: Store): void {
  const c = store.chart('ip.tcphandshake')!;
  const [estab, out, fails, syn] = c.series;
  for (let t = LAST - 599; t <= LAST; t++) {
    const gap = t === LAST - 20;
    estab!.ring.put(t, gap ? Number.NaN : t % 7);
    out!.ring.put(t, gap ? Number.NaN : 0);
    fails!.ring.put(t, gap ? Number.NaN : 10 + (t % 5));
    syn!.ring.put(t, gap ? Number.NaN : -(t % 3));
  }
}

const estabAt = (t: number) => t % 7;
const failsAt = (t: number) => 10 + (t % 5);
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

let s: S;
beforeAll(async () => {
  const store = new Store({ updateEvery: 1, ringSeconds: 3600 });
  store.addNamespace('host', 'linux');
  fill(store);
  s = await startStoreServer(store, () => LAST);
});
afterAll(async () => {
  await s.close();
});

interface Json {
  labels: string[];
  data: (number | null)[][];
}
interface Wrap {
  after: number;
  before: number;
  points: number;
  view_update_every: number;
  result: Json;
  dimension_ids: string[];
  latest_values: (number | null)[];
  view_latest_values: (number | null)[];
  min: number;
  max: number;
  tier: number;
  db_points_per_tier: number[];
}

async function json(q: string): Promise<Json> {
  const r = await s.get(`/api/v1/data?chart=ip.tcphandshake&${q}`);
  expect(r.status, r.text).toBe(200);
  return r.json<Json>();
}
/** jsonwrap plus any other options (Netdata reads only the first `options=` of a query). */
async function wrap(q: string, options = ''): Promise<Wrap> {
  const r = await s.get(
    `/api/v1/data?chart=ip.tcphandshake&options=jsonwrap${options === '' ? '' : `,${options}`}&${q}`,
  );
  expect(r.status, r.text).toBe(200);
  return r.json<Wrap>();
}

describe('window and points', () => {
  it('after=-10: the last 10 slots, newest first, values as stored', async () => {
    const j = await json('after=-10&dimensions=AttemptFails');
    expect(j.labels).toEqual(['time', 'AttemptFails']);
    expect(j.data.map((r) => r[0])).toEqual(Array.from({ length: 10 }, (_, i) => LAST - i));
    expect(j.data.map((r) => r[1])).toEqual(Array.from({ length: 10 }, (_, i) => failsAt(LAST - i)));
  });

  it('points=3 over 6 s: groups of 2, before aligned down to a multiple of 2 (Netdata 1.37: 47 → 46, after 41)', async () => {
    const w = await wrap('after=-6&points=3&dimensions=EstabResets');
    expect(w.before).toBe(LAST - 1);
    expect(w.after).toBe(LAST - 6);
    expect(w.view_update_every).toBe(2);
    expect(w.result.data.map((r) => r[0])).toEqual([LAST - 1, LAST - 3, LAST - 5]);
    expect(w.result.data.map((r) => r[1])).toEqual([
      avg([estabAt(LAST - 2), estabAt(LAST - 1)]),
      avg([estabAt(LAST - 4), estabAt(LAST - 3)]),
      avg([estabAt(LAST - 6), estabAt(LAST - 5)]),
    ]);
  });

  it('unaligned keeps before at the newest slot', async () => {
    const w = await wrap('after=-6&points=3&dimensions=EstabResets', 'unaligned');
    expect(w.before).toBe(LAST);
    expect(w.result.data.map((r) => r[1])).toEqual([
      avg([estabAt(LAST - 1), estabAt(LAST)]),
      avg([estabAt(LAST - 3), estabAt(LAST - 2)]),
      avg([estabAt(LAST - 5), estabAt(LAST - 4)]),
    ]);
  });

  it('absolute epochs, a before in the past, and clamping to the data', async () => {
    const j = await json(`after=${LAST - 104}&before=${LAST - 100}&dimensions=AttemptFails`);
    expect(j.data.map((r) => r[0])).toEqual([LAST - 100, LAST - 101, LAST - 102, LAST - 103, LAST - 104]);
    const rel = await json('after=-5&before=-100&dimensions=AttemptFails');
    expect(rel.data.map((r) => r[0])).toEqual([LAST - 100, LAST - 101, LAST - 102, LAST - 103, LAST - 104]);
    // Asking for an hour returns the 600 s that exist (first_entry … last_entry).
    const w = await wrap('after=-3600&dimensions=AttemptFails');
    expect(w.points).toBe(600);
    expect(w.after).toBe(LAST - 599);
    // after=0 means the default 600 s.
    expect((await wrap('after=0&dimensions=AttemptFails')).points).toBe(600);
  });

  it('a gap is null; null2zero makes it 0', async () => {
    const j = await json(`after=${LAST - 21}&before=${LAST - 19}&dimensions=AttemptFails`);
    expect(j.data.map((r) => r[1])).toEqual([failsAt(LAST - 19), null, failsAt(LAST - 21)]);
    const z = await json(`after=${LAST - 21}&before=${LAST - 19}&dimensions=AttemptFails&options=null2zero`);
    expect(z.data.map((r) => r[1])).toEqual([failsAt(LAST - 19), 0, failsAt(LAST - 21)]);
    // Grouping skips the gap: the average of the other points of the group.
    const g = await json(
      `after=${LAST - 21}&before=${LAST - 19}&points=1&dimensions=AttemptFails&options=unaligned`,
    );
    expect(g.data[0]![1]).toBe(avg([failsAt(LAST - 21), failsAt(LAST - 19)]));
  });
});

describe('grouping methods (one group of 10 slots)', () => {
  const slots = Array.from({ length: 10 }, (_, i) => LAST - 9 + i);
  const vals = slots.map(failsAt);
  const sorted = [...vals].sort((a, b) => a - b);
  it.each([
    ['average', avg(vals)],
    ['sum', vals.reduce((a, b) => a + b, 0)],
    ['min', Math.min(...vals)],
    ['max', Math.max(...vals)],
    ['median', (sorted[4]! + sorted[5]!) / 2],
    ['incremental_sum', vals[9]! - vals[0]!],
    ['incremental-sum', vals[9]! - vals[0]!],
  ])('group=%s', async (group, expected) => {
    const j = await json(`after=-10&points=1&group=${group}&dimensions=AttemptFails&options=unaligned`);
    expect(j.data).toHaveLength(1);
    expect(j.data[0]![1]).toBeCloseTo(expected as number, 7);
  });

  it('every lookup method name is accepted (stddev, cv, ses, des, percentile95, trimmed-mean10, countif…)', async () => {
    for (const g of [
      'stddev',
      'cv',
      'ses',
      'des',
      'percentile95',
      'trimmed-mean10',
      'trimmed-median',
      'countif',
      'extremes',
      'latest',
    ]) {
      const j = await json(`after=-10&points=1&group=${g}&dimensions=AttemptFails&options=unaligned`);
      expect(typeof j.data[0]![1], g).toBe('number');
    }
    const latest = await json('after=-10&points=1&group=latest&dimensions=AttemptFails&options=unaligned');
    expect(latest.data[0]![1]).toBe(failsAt(LAST));
  });

  it('gtime=60 turns per-second averages into per-minute values (sum × 60 / (group × 1))', async () => {
    const w = await wrap('after=-120&points=1&gtime=60&dimensions=AttemptFails', 'unaligned');
    const xs = Array.from({ length: 120 }, (_, i) => LAST - 119 + i)
      .filter((t) => t !== LAST - 20)
      .map(failsAt);
    expect(w.result.data[0]![1]).toBeCloseTo((xs.reduce((a, b) => a + b, 0) * 60) / 120, 6);
  });
});

describe('options', () => {
  it('abs makes negative values positive', async () => {
    const plain = await json('after=-3&dimensions=TCPSynRetrans');
    expect(plain.data.some((r) => (r[1] as number) < 0)).toBe(true);
    const abs = await json('after=-3&dimensions=TCPSynRetrans&options=abs');
    expect(abs.data.map((r) => r[1])).toEqual(plain.data.map((r) => Math.abs(r[1] as number)));
  });

  it('percentage: each value as a share of the row total over every dimension (hidden ones included)', async () => {
    const j = await json('after=-3&dimensions=AttemptFails&options=percentage');
    for (const row of j.data) {
      const t = row[0] as number;
      const total = estabAt(t) + 0 + failsAt(t) + (t % 3);
      expect(row[1]).toBeCloseTo((failsAt(t) * 100) / total, 5);
    }
  });

  it('nonzero drops all-zero dimensions, but keeps all when all are zero', async () => {
    const j = await json('after=-3&options=nonzero');
    expect(j.labels).not.toContain('OutRsts');
    expect(j.labels).toContain('AttemptFails');
    const z = await json('after=-3&dimensions=OutRsts&options=nonzero');
    expect(z.labels).toEqual(['time', 'OutRsts']);
  });

  it('flip gives oldest first; ms gives millisecond times', async () => {
    const j = await json('after=-3&dimensions=AttemptFails&options=flip,ms');
    expect(j.data.map((r) => r[0])).toEqual([LAST - 2, LAST - 1, LAST].map((t) => t * 1000));
  });

  it('objectrows: rows as objects', async () => {
    const r = await s.get(
      '/api/v1/data?chart=ip.tcphandshake&after=-2&dimensions=AttemptFails|EstabResets&options=objectrows',
    );
    const j = r.json<{ data: Record<string, number>[] }>();
    expect(j.data[0]).toEqual({ time: LAST, EstabResets: estabAt(LAST), AttemptFails: failsAt(LAST) });
  });

  it('dimensions: by id, by name, negative patterns, match-names', async () => {
    expect((await json('after=-1&dimensions=TCPSynRetrans')).labels).toEqual(['time', 'SynRetrans']);
    expect((await json('after=-1&dimensions=SynRetrans')).labels).toEqual(['time', 'SynRetrans']);
    expect((await json('after=-1&dimensions=!OutRsts,*')).labels).toEqual([
      'time',
      'EstabResets',
      'AttemptFails',
      'SynRetrans',
    ]);
    expect((await json('after=-1&dims=Estab*|Out*')).labels).toEqual(['time', 'EstabResets', 'OutRsts']);
    // match-ids only: the name SynRetrans no longer matches.
    const r = await s.get(
      '/api/v1/data?chart=ip.tcphandshake&after=-1&dimensions=SynRetrans&options=match-ids',
    );
    expect(r.status).toBe(400);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_NO_DIMENSIONS');
  });

  it('jsonwrap values: latest, view_latest, min, max', async () => {
    const w = await wrap('after=-5&dimensions=AttemptFails');
    expect(w.latest_values).toEqual([failsAt(LAST)]);
    expect(w.view_latest_values).toEqual([failsAt(LAST)]);
    const xs = [0, 1, 2, 3, 4].map((i) => failsAt(LAST - i));
    expect(w.min).toBe(Math.min(...xs));
    expect(w.max).toBe(Math.max(...xs));
    expect(w.tier).toBe(0);
    expect(w.db_points_per_tier).toEqual([5, 0]);
  });
});

describe('formats', () => {
  const q = '/api/v1/data?chart=ip.tcphandshake&after=-3&dimensions=AttemptFails|EstabResets';
  const rows = [LAST, LAST - 1, LAST - 2];
  it('array and ssv: one number per row, dimensions summed (min2max with the option)', async () => {
    const a = (await s.get(`${q}&format=array`)).json<number[]>();
    expect(a).toEqual(rows.map((t) => failsAt(t) + estabAt(t)));
    const ssv = (await s.get(`${q}&format=ssv`)).text;
    expect(ssv).toBe(rows.map((t) => failsAt(t) + estabAt(t)).join(' '));
    const comma = (await s.get(`${q}&format=ssvcomma&options=min2max`)).text;
    expect(comma).toBe(rows.map((t) => Math.abs(failsAt(t) - estabAt(t))).join(','));
  });

  it('csv with seconds, tsv, markdown, html', async () => {
    const csv = (await s.get(`${q}&format=csv&options=seconds`)).text;
    expect(csv).toBe(
      `time,EstabResets,AttemptFails\r\n${rows.map((t) => `${t},${estabAt(t)},${failsAt(t)}`).join('\r\n')}\r\n`,
    );
    const md = (await s.get(`${q}&format=markdown&options=seconds`)).text.split('\r\n');
    expect(md[0]).toBe('time|EstabResets|AttemptFails');
    expect(md[1]).toBe(':---:|:---:|:---:');
    const html = (await s.get(`${q}&format=html`)).text;
    expect(html).toContain('<tr><td>time</td><td>EstabResets</td><td>AttemptFails</td></tr>');
  });

  it('datatable, datasource (with the reqId of tqx), jsonp, csvjsonarray', async () => {
    const dt = (await s.get(`${q}&format=datatable`)).json<{
      cols: { label: string }[];
      rows: { c: { v: unknown }[] }[];
    }>();
    expect(dt.cols.map((c) => c.label)).toEqual(['time', '', '', 'EstabResets', 'AttemptFails']);
    expect(dt.rows[0]!.c[0]!.v).toMatch(/^Date\(\d+,\d+,\d+,\d+,\d+,\d+\)$/);
    expect(dt.rows[0]!.c[4]!.v).toBe(failsAt(LAST));
    const ds = (await s.get(`${q}&format=datasource&tqx=reqId:7`)).text;
    expect(ds).toMatch(
      /^google\.visualization\.Query\.setResponse\(\{version:'0\.6',reqId:'7',status:'ok',sig:'\d+',table:\{/,
    );
    const jp = await s.get(`${q}&format=jsonp&callback=my.cb`);
    expect(jp.headers['content-type']).toMatch(/javascript/);
    expect(jp.text).toMatch(/^my\.cb\(\{"labels":/);
    const bad = await s.get(`${q}&format=jsonp&callback=alert(1)//`);
    expect(bad.status).toBe(400);
    const cja = (await s.get(`${q}&format=csvjsonarray&options=seconds`)).json<unknown[][]>();
    expect(cja[0]).toEqual(['time', 'EstabResets', 'AttemptFails']);
    expect(cja[1]).toEqual([String(LAST), estabAt(LAST), failsAt(LAST)]);
  });

  it('filename sets an attachment with a safe name', async () => {
    const r = await s.get(`${q}&format=csv&filename=../../etc/x y.csv`);
    expect(r.headers['content-disposition']).toBe('attachment; filename=".._.._etc_x_y.csv"');
  });
});

describe('the answer cache', () => {
  it('repeats an answer while no new sample arrived, and recomputes after one', async () => {
    const store = new Store({ updateEvery: 1, ringSeconds: 3600 });
    store.addNamespace('host', 'linux');
    const fails = store.chart('ip.tcphandshake')!.series.find((x) => x.dim.id === 'AttemptFails')!;
    for (let t = LAST - 9; t <= LAST; t++) fails.ring.put(t, 1);
    const c = await startStoreServer(store, () => LAST);
    try {
      const q = '/api/v1/data?chart=ip.tcphandshake&after=-1&dimensions=AttemptFails&format=array';
      expect((await c.get(q)).json()).toEqual([1]);
      fails.ring.put(LAST, 7);
      // Same sample count and second: the cached answer.
      expect((await c.get(q)).json()).toEqual([1]);
      c.bump();
      expect((await c.get(q)).json()).toEqual([7]);
    } finally {
      await c.close();
    }
  });
});

describe('errors', () => {
  it.each([
    ['/api/v1/data', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=nope', 404, 'E_API_CHART_NOT_FOUND'],
    ['/api/v1/data?chart=ip.tcphandshake&options=shiny', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=ip.tcphandshake&group=bogus', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=ip.tcphandshake&format=pdf', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=ip.tcphandshake&after=yesterday', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=ip.tcphandshake&points=-1', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=ip.tcphandshake&dimensions=Nope', 400, 'E_API_NO_DIMENSIONS'],
    ['/api/v1/data?chart=ip.tcphandshake&tier=2', 400, 'E_API_PARAM'],
    ['/api/v1/data?chart=ip.tcphandshake&tier=1', 400, 'E_API_PARAM'],
  ])('%s → %i %s', async (path, status, code) => {
    const r = await s.get(path);
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const e = r.json<{ error: { code: string; message: string; status: number } }>().error;
    expect(e.code).toBe(code);
    expect(e.status).toBe(status);
    expect(e.message.length).toBeGreaterThan(5);
  });

  it('context= queries every chart of the context', async () => {
    const r = await s.get('/api/v1/data?context=ip.tcphandshake&after=-1&dimensions=AttemptFails');
    expect(r.json<Json>().labels).toEqual(['time', 'AttemptFails']);
  });
});

describe('per-minute tier over SQLite history', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-api-tier-'));
  let db: HistoryDb;
  let t1: S;
  /** 2 h of collections at 1 s, AttemptFails rising by (minute of the hour mod 4) + 1 each second. */
  const START = 1_800_003_600;
  const HOURS = 2;
  const END = START + HOURS * 3600;
  const rateAt = (t: number) => (Math.floor(t / 60) % 4) + 1;
  beforeAll(async () => {
    db = HistoryDb.open(join(dir, 'history.db'));
    const store = new Store({ updateEvery: 1, ringSeconds: 600, db, tier0Seconds: 25 * 3600 });
    store.addNamespace('host', 'linux');
    let c = 0;
    for (let t = START; t <= END; t++) {
      c += rateAt(t);
      store.ingest('host', { AttemptFails: c, OutRsts: 0, EstabResets: 0, TCPSynRetrans: 0 }, t * 1e6);
      if (t % 60 === 30) store.flush(t);
    }
    store.flush(END);
    t1 = await startStoreServer(store, () => END, db);
  });
  afterAll(async () => {
    await t1.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // 119 minutes: with points=60 each point spans 2 minutes (120 minute rows would need groups of 3).
  const W = 'after=-7140&points=60&dimensions=AttemptFails';
  it('a 2-hour window in 60 points reads tier 1 and matches the per-second truth', async () => {
    const r = await t1.get(`/api/v1/data?chart=ip.tcphandshake&${W}&options=jsonwrap`);
    const w = r.json<Wrap>();
    expect(w.tier).toBe(1);
    expect(w.view_update_every).toBe(120);
    expect(w.points).toBe(60);
    for (const [t, v] of w.result.data) {
      // Slot s holds the rate of (s−1, s]: the minute-end row t covers slots t−119 … t.
      const truth = avg(Array.from({ length: 120 }, (_, i) => rateAt(t! - 119 + i)));
      expect(v, `row ${t}`).toBeCloseTo(truth, 1);
    }
    // The same window forced to tier 0 agrees.
    const r0 = (await t1.get(`/api/v1/data?chart=ip.tcphandshake&${W}&tier=0&options=jsonwrap`)).json<Wrap>();
    expect(r0.tier).toBe(0);
    const byT = new Map(r0.result.data.map((row) => [row[0], row[1]]));
    for (const [t, v] of w.result.data) if (byT.has(t)) expect(v).toBeCloseTo(byT.get(t) as number, 1);
  });

  it('the final minutes are cached: a second query does not read them again', async () => {
    const before = t1.server.app.historyDbReads;
    await t1.get('/api/v1/data?chart=ip.tcphandshake&after=-7000&points=50&dimensions=AttemptFails');
    const after1 = t1.server.app.historyDbReads;
    await t1.get(
      '/api/v1/data?chart=ip.tcphandshake&after=-7000&points=50&dimensions=AttemptFails&group=max',
    );
    expect(t1.server.app.historyDbReads).toBe(after1);
    expect(after1).toBeGreaterThanOrEqual(before);
  });

  it('group=max and group=sum use the minute extremes and totals', async () => {
    const mx = (await t1.get(`/api/v1/data?chart=ip.tcphandshake&${W}&group=max`)).json<Json>();
    expect(mx.data).toHaveLength(60);
    for (const [t, v] of mx.data) {
      const truth = Math.max(...Array.from({ length: 120 }, (_, i) => rateAt(t! - 119 + i)));
      expect(v).toBe(truth);
    }
    const sum = (await t1.get(`/api/v1/data?chart=ip.tcphandshake&${W}&group=sum`)).json<Json>();
    const avgRows = (await t1.get(`/api/v1/data?chart=ip.tcphandshake&${W}`)).json<Json>();
    sum.data.forEach((row, i) => {
      expect(row[1]).toBeCloseTo((avgRows.data[i]![1] as number) * 120, 0);
    });
  });
});
