/**
 * rstwatch's own endpoints: the event stream (hello, per-second samples with the stored values, alert
 * transitions as alarm-log entries, capture progress, and dropping a client that stops reading), agent
 * status, attribution windows, doctor findings from the agent's counters, and the capture routes.
 */
import { get as httpGet, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RstwatchError } from '../../src/internal/errors.js';
import { memoryLogger } from '../../src/internal/log.js';
import { makeContext } from '../../src/server/context.js';
import { EventStream } from '../../src/server/stream.js';
import type {
  AttributionQuery,
  AttributionTop,
  CaptureInfo,
  CaptureRequest,
  CaptureView,
} from '../../src/server/types.js';
import { type Harness, request, startHarness } from './server-harness.js';

interface Event {
  event: string;
  data: Record<string, unknown>;
}

/** A minimal EventSource: collects parsed events from a streaming response. */
function openStream(url: string): Promise<{
  events: Event[];
  res: IncomingMessage;
  waitFor(pred: (e: Event) => boolean, ms?: number): Promise<Event>;
  close(): void;
}> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, (res) => {
      const events: Event[] = [];
      let buf = '';
      const waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev === undefined || data === undefined) continue;
          const e = { event: ev, data: JSON.parse(data) as Record<string, unknown> };
          events.push(e);
          for (const w of [...waiters]) {
            if (w.pred(e)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(e);
            }
          }
        }
      });
      resolve({
        events,
        res,
        waitFor(pred, ms = 3000) {
          const found = events.find(pred);
          if (found) return Promise.resolve(found);
          return new Promise((ok, fail) => {
            const t = setTimeout(
              () =>
                fail(new Error(`no matching event in ${ms} ms; got ${events.map((e) => e.event).join(',')}`)),
              ms,
            );
            waiters.push({
              pred,
              resolve: (e) => {
                clearTimeout(t);
                ok(e);
              },
            });
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

class FakeCaptures implements CaptureView {
  items = new Map<string, CaptureInfo>();
  busy = false;
  stopped: string[] = [];
  start(req: CaptureRequest): CaptureInfo {
    if (this.busy) throw new RstwatchError('E_CAPTURE_BUSY', 'a capture is running');
    if (req.filter === 'tcp[') throw new RstwatchError('E_CAPTURE_FILTER', 'tcpdump rejects the filter');
    const id = `cap${this.items.size + 1}`;
    const info: CaptureInfo = {
      id,
      state: 'running',
      startedAt: '2027-01-01T00:00:00.000Z',
      file: `/nonexistent/${id}.pcapng`,
      bytes: 0,
      packets: 0,
      request: req,
    };
    this.items.set(id, info);
    return info;
  }
  list(): CaptureInfo[] {
    return [...this.items.values()];
  }
  get(id: string): CaptureInfo | undefined {
    return this.items.get(id);
  }
  /** A report fails with this code when set (the reader's or the analysis's error). */
  reportFails: string | undefined;
  async report(id: string): Promise<unknown> {
    if (this.reportFails) throw new RstwatchError(this.reportFails, `cannot analyse ${id}`);
    return { capture: id, resets: 42 };
  }
  stop(id: string): void {
    this.stopped.push(id);
    const i = this.items.get(id);
    if (i) this.items.set(id, { ...i, state: 'done', endedAt: '2027-01-01T00:01:00.000Z' });
  }
}

const topQueries: AttributionQuery[] = [];
let enabled = true;
const attribution = {
  status: () => ({
    enabled,
    layout: 'sockaddr-reason' as const,
    ...(enabled ? {} : { reason: 'no tracefs' }),
    events: 10,
    lost: 0,
  }),
  top: (q: AttributionQuery): AttributionTop => {
    topQueries.push(q);
    return {
      windowSeconds: q.windowSeconds,
      total: 3,
      other: 0,
      peers: [{ key: '10.1.1.1', count: 3 }],
      localPorts: [{ key: '80', count: 3 }],
      remotePorts: [],
      reasons: [{ key: 'NOT_SPECIFIED', count: 3 }],
      states: [],
    };
  },
};

let h: Harness;
const captures = new FakeCaptures();
beforeAll(async () => {
  h = await startHarness({ series: '0x70', attribution, captures });
});
afterAll(async () => {
  await h.close();
});

describe('/api/rstwatch/stream', () => {
  it('hello, then each new second as a sample, alert transitions, capture progress', async () => {
    const s = await openStream(`${h.url}/api/rstwatch/stream`);
    try {
      expect(s.res.headers['content-type']).toMatch(/^text\/event-stream/);
      const hello = await s.waitFor((e) => e.event === 'hello');
      const charts = hello.data.charts as { id: string; dimensions: { id: string }[] }[];
      expect(charts.map((c) => c.id)).toContain('ip.tcphandshake');
      expect(charts.map((c) => c.id)).not.toContain('netdata.uptime');
      expect((hello.data.alerts as { status: string }[]).every((a) => typeof a.status === 'string')).toBe(
        true,
      );

      h.run('300x25');
      h.server.pulse();
      const sample = await s.waitFor((e) => e.event === 'sample');
      const t = sample.data.t as number;
      expect(t).toBe(h.now());
      const stored = h.sim.store
        .chart('ip.tcphandshake')!
        .series.find((x) => x.dim.id === 'AttemptFails')!
        .ring.get(t);
      expect(
        (sample.data.charts as Record<string, Record<string, number>>)['ip.tcphandshake']!.AttemptFails,
      ).toBe(stored);
      expect(stored).toBeGreaterThan(250);
      const alert = await s.waitFor((e) => e.event === 'alert' && e.data.status === 'WARNING');
      expect(alert.data).toMatchObject({
        name: '10s_ipv4_tcp_resets_received',
        chart: 'ip.tcphandshake',
        old_status: 'CLEAR',
      });

      // A pulse without a new second sends no second sample.
      const samples = s.events.filter((e) => e.event === 'sample').length;
      h.server.pulse();
      await new Promise((r) => setTimeout(r, 100));
      expect(s.events.filter((e) => e.event === 'sample').length).toBe(samples);

      const started = await request(`${h.url}/api/rstwatch/captures`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${h.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ durationSeconds: 60, filter: 'tcp[tcpflags] & tcp-rst != 0' }),
      });
      expect(started.status).toBe(201);
      h.server.pulse();
      const cap = await s.waitFor((e) => e.event === 'capture');
      expect(cap.data).toMatchObject({ id: 'cap1', state: 'running' });
    } finally {
      s.close();
    }
  });

  it("rides on the agent's afterTick hook when there is one (no timer of its own), and leaves it on close", async () => {
    const t = await startHarness({ series: '0x70', afterTick: true });
    try {
      const hooks = t.agent.afterTick!;
      expect(hooks.size).toBe(1);
      const s = await openStream(`${t.url}/api/rstwatch/stream`);
      try {
        await s.waitFor((e) => e.event === 'hello');
        t.run('5x2');
        await new Promise((r) => setTimeout(r, 1300)); // more than a second: no timer sends it
        expect(s.events.filter((e) => e.event === 'sample')).toEqual([]);
        for (const f of hooks) f();
        const sample = await s.waitFor((e) => e.event === 'sample');
        expect(sample.data.t).toBe(t.now());
      } finally {
        s.close();
      }
    } finally {
      await t.close();
    }
    expect(t.agent.afterTick!.size).toBe(0);
  });

  it('a client that stops reading is dropped, not buffered without bound', () => {
    const ctx = makeContext({ agent: h.agent, log: memoryLogger(), dataDir: h.dataDir });
    const es = new EventStream(ctx, 4);
    let destroyed = false;
    const writes: string[] = [];
    const res = {
      writableLength: 0,
      writeHead() {},
      write(s: string) {
        writes.push(s);
        return true;
      },
      on() {},
      destroy() {
        destroyed = true;
      },
      end() {},
    };
    const req = { on() {} };
    es.attach(req as never, res as never);
    expect(es.size).toBe(1);
    expect(writes.some((w) => w.includes('event: hello'))).toBe(true);
    res.writableLength = 2 << 20;
    h.run('0x1');
    es.pulse();
    expect(destroyed).toBe(true);
    expect(es.size).toBe(0);
    expect(es.dropped).toBe(1);
  });
});

describe('/api/rstwatch/status, top, doctor', () => {
  it('status: what runs, the 10-s reset rates, raised alerts', async () => {
    const st = (await h.get('/api/rstwatch/status')).json<Record<string, unknown>>();
    expect(st).toMatchObject({ application: 'rstwatch', os: 'linux', api: { listen: '127.0.0.1:0' } });
    expect((st.alerts as { raised: { alert: string }[] }).raised.map((r) => r.alert)).toEqual([
      '10s_ipv4_tcp_resets_received',
    ]);
    expect((st.resetRates10s as Record<string, Record<string, number>>).host!.AttemptFails).toBeTypeOf(
      'number',
    );
    expect(st.captures).toBe(1);
    expect((st.sampler as { samples: number }).samples).toBe(h.stats.samples);
  });

  it('top: window, direction and limit reach the attribution; bad values are 400', async () => {
    topQueries.length = 0;
    const j = (await h.get('/api/rstwatch/top?window=10s&direction=received&limit=5')).json<
      Record<string, unknown>
    >();
    expect(topQueries).toEqual([{ nowSec: h.now(), windowSeconds: 10, limit: 5, direction: 'received' }]);
    expect(j).toMatchObject({ windowSeconds: 10, direction: 'received', status: { enabled: true } });
    expect((j.top as AttributionTop).peers).toEqual([{ key: '10.1.1.1', count: 3 }]);
    for (const [w, s] of [
      ['1m', 60],
      ['1h', 3600],
      ['300', 300],
    ] as const) {
      expect(
        (await h.get(`/api/rstwatch/top?window=${w}`)).json<{ windowSeconds: number }>().windowSeconds,
      ).toBe(s);
    }
    for (const bad of ['window=2h', 'window=ten', 'direction=up', 'limit=0']) {
      const r = await h.get(`/api/rstwatch/top?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_PARAM');
    }
    enabled = false;
    const off = (await h.get('/api/rstwatch/top?window=1m')).json<Record<string, unknown>>();
    expect(off.top).toBeNull();
    expect(off.status).toMatchObject({ enabled: false, reason: 'no tracefs' });
    enabled = true;
  });

  it('top without an attribution module → 503 E_API_UNAVAILABLE', async () => {
    const s = await startHarness();
    try {
      const r = await s.get('/api/rstwatch/top');
      expect(r.status).toBe(503);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_UNAVAILABLE');
      expect((await s.get('/api/rstwatch/captures')).status).toBe(503);
    } finally {
      await s.close();
    }
  });

  it('doctor: the checks over the agent’s own counters, the newest read against one `interval` older', async () => {
    // 40 s of listen-queue overflows at 50/s: the listen-queue check must see them.
    h.run({ AttemptFails: '0x40', ListenOverflows: '50x40' });
    const j = (await h.get('/api/rstwatch/doctor?interval=30')).json<{
      os: string;
      netns: string;
      intervalSeconds: number;
      findings: { id: string; severity: string; evidence: string[] }[];
      worst: string;
    }>();
    expect(j.os).toBe('linux');
    expect(j.netns).toBe('host');
    // Snapshots are kept 10 s apart: the newest one at least 30 s older than the latest read.
    expect(j.intervalSeconds).toBeGreaterThanOrEqual(30);
    expect(j.intervalSeconds).toBeLessThan(40);
    const lq = j.findings.find((f) => f.id === 'listen-queue')!;
    expect(lq.severity).toBe('critical');
    expect(lq.evidence.join(' ')).toMatch(/50/);
    expect(j.worst).toBe('critical');
    const missing = await h.get('/api/rstwatch/doctor?netns=elsewhere');
    expect(missing.status).toBe(404);
    expect(missing.json<{ error: { code: string } }>().error.code).toBe('E_API_NETNS');
  });
});

describe('/api/rstwatch/captures', () => {
  const auth = () => ({ Authorization: `Bearer ${h.token}`, 'Content-Type': 'application/json' });
  it('list, one by id, report (409 while running), stop with the token', async () => {
    const list = (await h.get('/api/rstwatch/captures')).json<{ captures: CaptureInfo[] }>();
    expect(list.captures.map((c) => c.id)).toEqual(['cap1']);
    expect((await h.get('/api/rstwatch/captures/cap1')).json<CaptureInfo>().state).toBe('running');
    const early = await h.get('/api/rstwatch/captures/cap1/report');
    expect(early.status).toBe(409);
    expect(early.json<{ error: { code: string } }>().error.code).toBe('E_CAPTURE_RUNNING');
    expect((await request(`${h.url}/api/rstwatch/captures/cap1/stop`, { method: 'POST' })).status).toBe(401);
    const stop = await request(`${h.url}/api/rstwatch/captures/cap1/stop`, {
      method: 'POST',
      headers: auth(),
    });
    expect(stop.status).toBe(202);
    expect(captures.stopped).toEqual(['cap1']);
    expect((await h.get('/api/rstwatch/captures/cap1/report')).json()).toEqual({
      capture: 'cap1',
      resets: 42,
    });
  });

  it('the manager’s refusals keep their codes: busy → 409, a bad filter → 400; a vanished file → 404', async () => {
    captures.busy = true;
    const busy = await request(`${h.url}/api/rstwatch/captures`, {
      method: 'POST',
      headers: auth(),
      body: '{}',
    });
    expect(busy.status).toBe(409);
    expect(busy.json<{ error: { code: string } }>().error.code).toBe('E_CAPTURE_BUSY');
    captures.busy = false;
    const bad = await request(`${h.url}/api/rstwatch/captures`, {
      method: 'POST',
      headers: auth(),
      body: '{"filter":"tcp["}',
    });
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: { code: string } }>().error.code).toBe('E_CAPTURE_FILTER');
    const gone = await h.get('/api/rstwatch/captures/cap1/download', { Authorization: `Bearer ${h.token}` });
    expect(gone.status).toBe(404);
    expect(gone.json<{ error: { code: string } }>().error.code).toBe('E_CAPTURE_NOT_FOUND');
  });

  it.each([
    ['E_CAPTURE_MAGIC', 422],
    ['E_CAPTURE_TRUNCATED', 422],
    ['E_CAPTURE_ANALYZE', 500],
  ])('a report that fails with %s is %i with that code', async (code, status) => {
    captures.reportFails = code;
    try {
      const res = await h.get('/api/rstwatch/captures/cap1/report');
      expect(res.status).toBe(status);
      expect(res.json<{ error: { code: string; status: number } }>().error).toMatchObject({ code, status });
    } finally {
      captures.reportFails = undefined;
    }
  });
});
