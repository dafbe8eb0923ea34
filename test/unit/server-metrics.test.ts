/**
 * /metrics: parsed by Prometheus's own parser (`promtool check metrics`, Debian's prometheus package), with
 * its lint findings limited to the one we choose on purpose (the kernel's CamelCase counter names, as
 * node_exporter's `node_netstat_Tcp_AttemptFails` has them); every value checked against the simulated
 * agent: kernel counters, alert states, attribution top-K with "other", the cumulative per-reason counter,
 * the agent's health. /api/v1/allmetrics?format=prometheus goes through the same parser.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttributionQuery, AttributionTop, AttributionView } from '../../src/server/types.js';
import { requireCapability } from '../helpers/paths.js';
import { type Harness, startHarness } from './server-harness.js';

const PROMTOOL = '/usr/bin/promtool';
const hasPromtool = spawnSync(PROMTOOL, ['--version']).status === 0;
requireCapability(hasPromtool, 'promtool (Debian package prometheus)');
if (!hasPromtool)
  console.warn('SKIPPED: promtool is missing (bash scripts/setup-test-env.sh installs prometheus)');

/** promtool's verdict: exit 0 clean, 3 lint problems (listed on stderr/stdout), 1 a parse error. */
function promtool(text: string): { code: number | null; problems: string[] } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
  return { code: r.status, problems };
}

/** Samples of the exposition: name → [{labels, value}]. */
function samples(text: string): Map<string, { labels: Record<string, string>; value: number }[]> {
  const out = new Map<string, { labels: Record<string, string>; value: number }[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value: Number(m[4]) });
    out.set(m[1]!, list);
  }
  return out;
}

/**
 * Attribution that answers from fixed tables: per second 3 `NOT_SPECIFIED` + 1 `TCP_CLOSE` received and a
 * fifth event beyond the reasons listed (folded into "other"); per minute 15 peers and 12 ports, more than
 * the K = 10 /metrics keeps, one peer with characters that need escaping.
 */
class FakeAttribution implements AttributionView {
  readonly queries: AttributionQuery[] = [];
  status() {
    return { enabled: true, layout: 'sockaddr-reason' as const, events: 1234, lost: 5 };
  }
  top(q: AttributionQuery): AttributionTop {
    this.queries.push(q);
    const empty: AttributionTop = {
      windowSeconds: q.windowSeconds,
      total: 0,
      other: 0,
      peers: [],
      localPorts: [],
      remotePorts: [],
      reasons: [],
      states: [],
    };
    if (q.windowSeconds === 1) {
      if (q.direction !== 'received') return empty;
      return {
        ...empty,
        total: 5,
        reasons: [
          { key: 'NOT_SPECIFIED', count: 3 },
          { key: 'TCP_CLOSE', count: 1 },
        ],
      };
    }
    const peers = Array.from({ length: 15 }, (_, i) => ({
      key: i === 0 ? 'we"ird\\peer\n' : `10.0.0.${i}`,
      count: 15 - i,
    }));
    const localPorts = Array.from({ length: 12 }, (_, i) => ({ key: String(8000 + i), count: 12 - i }));
    const total = peers.reduce((a, p) => a + p.count, 0) + 7;
    const reasons = [
      { key: 'NOT_SPECIFIED', count: 100 },
      { key: 'TCP_ABORT_ON_DATA', count: 20 },
    ];
    return {
      ...empty,
      total,
      peers: peers.slice(0, q.limit ?? 100),
      localPorts: localPorts.slice(0, q.limit ?? 100),
      reasons,
    };
  }
}

let h: Harness;
const attr = new FakeAttribution();
beforeAll(async () => {
  h = await startHarness({ series: '0x70 300x25', attribution: attr });
  h.agent.store.errors.set('E_DB_WRITE', 2);
  h.stats.errors.set('E_PROC_UNREADABLE', 3);
  // Three pulses three simulated seconds apart: the per-reason counter adds each completed second once.
  for (let i = 0; i < 3; i++) {
    h.server.pulse();
    h.run('0x3');
  }
  h.server.pulse();
  await h.get('/api/v1/nothing');
});
afterAll(async () => {
  await h.close();
});

describe('/metrics', () => {
  it.skipIf(!hasPromtool)(
    'parses with promtool; the only lint is the kernel counters’ CamelCase (as node_exporter)',
    async () => {
      const r = await h.get('/metrics');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const p = promtool(r.text);
      expect(p.problems.filter((l) => /error while linting|parsing error/.test(l))).toEqual([]);
      const unexpected = p.problems.filter(
        (l) =>
          !/^rstwatch_netstat_(Tcp|TcpExt)_\w+ metric names should be written in 'snake_case' not 'camelCase'$/.test(
            l,
          ),
      );
      expect(unexpected).toEqual([]);
      expect(p.code === 0 || p.code === 3).toBe(true);
    },
  );

  it('each family: one HELP, one TYPE, its lines together; counters end in _total', async () => {
    const text = (await h.get('/metrics')).text;
    const seen = new Set<string>();
    let current = '';
    for (const line of text.trimEnd().split('\n')) {
      const t = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
      if (t) {
        expect(seen.has(t[1]!), `second TYPE for ${t[1]}`).toBe(false);
        seen.add(t[1]!);
        current = t[1]!;
        if (t[2] === 'counter') expect(t[1]).toMatch(/_total$/);
        continue;
      }
      if (line.startsWith('# HELP ')) continue;
      expect(line.split(/[{ ]/)[0]).toBe(current);
    }
    expect(seen.size).toBeGreaterThan(25);
    for (const name of seen) expect(name).toMatch(/^rstwatch_/);
  });

  it('every kernel counter with the latest value, Tcp gauges without _total', async () => {
    const m = samples((await h.get('/metrics')).text);
    const latest = h.tap.latest('host')!.counters;
    expect(m.get('rstwatch_netstat_Tcp_AttemptFails_total')).toEqual([
      { labels: { netns: 'host' }, value: latest.AttemptFails },
    ]);
    expect(latest.AttemptFails).toBeGreaterThan(7000);
    expect(m.get('rstwatch_netstat_TcpExt_ListenOverflows_total')?.[0]?.value).toBe(latest.ListenOverflows);
    expect(m.get('rstwatch_netstat_Tcp_CurrEstab')?.[0]?.value).toBe(3);
    const text = (await h.get('/metrics')).text;
    expect(text).toContain('# TYPE rstwatch_netstat_Tcp_CurrEstab gauge');
    expect(text).toMatch(
      /# HELP rstwatch_netstat_Tcp_AttemptFails_total \/proc\/net\/snmp Tcp AttemptFails: our connection attempts that failed/,
    );
  });

  it('alert status and value for every alert; the storm shows as WARNING (3)', async () => {
    const m = samples((await h.get('/metrics')).text);
    const status = m.get('rstwatch_alert_status')!;
    expect(status).toHaveLength(h.sim.engine.alerts.length);
    const raised = status.find((s) => s.labels.alert === '10s_ipv4_tcp_resets_received')!;
    expect(raised.labels).toEqual({
      alert: '10s_ipv4_tcp_resets_received',
      chart: 'ip.tcphandshake',
      netns: 'host',
    });
    expect(raised.value).toBe(3);
    const rt = h.sim.alert('10s_ipv4_tcp_resets_received');
    const value = m
      .get('rstwatch_alert_value')!
      .find((s) => s.labels.alert === '10s_ipv4_tcp_resets_received')!;
    expect(value.value).toBeCloseTo(rt.value, 6);
    expect(value.value).toBeGreaterThan(50);
  });

  it('per-second rates as gauges: the newest second and the 10-s mean', async () => {
    const m = samples((await h.get('/metrics')).text);
    const rows = m
      .get('rstwatch_chart_rate_per_second')!
      .filter((s) => s.labels.chart === 'ip.tcphandshake' && s.labels.dimension === 'AttemptFails');
    expect(rows.map((r) => r.labels.window).sort()).toEqual(['10s', '1s']);
    // The storm ended 9 s ago (3 × 3 quiet seconds): the last second is 0, the 10-s mean is not.
    expect(rows.find((r) => r.labels.window === '1s')!.value).toBe(0);
    expect(rows.find((r) => r.labels.window === '10s')!.value).toBeGreaterThan(0);
  });

  it('attribution: top-K peers, ports and reasons (K = 10) plus "other" = total − shown; escaped label values', async () => {
    const m = samples((await h.get('/metrics')).text);
    const peers = m.get('rstwatch_resets_top_peer')!.filter((s) => s.labels.direction === 'received');
    expect(peers).toHaveLength(11);
    const named = peers.filter((p) => p.labels.peer !== 'other');
    expect(named.map((p) => p.value)).toEqual([15, 14, 13, 12, 11, 10, 9, 8, 7, 6]);
    const total = Array.from({ length: 15 }, (_, i) => 15 - i).reduce((a, b) => a + b, 0) + 7;
    expect(peers.find((p) => p.labels.peer === 'other')!.value).toBe(
      total - (15 + 14 + 13 + 12 + 11 + 10 + 9 + 8 + 7 + 6),
    );
    expect(named[0]!.labels.peer).toBe('we\\"ird\\\\peer\\n');
    expect(peers.every((p) => p.labels.window === '1m')).toBe(true);
    const ports = m.get('rstwatch_resets_top_local_port')!.filter((s) => s.labels.direction === 'sent');
    expect(ports).toHaveLength(11);
    const reasons = m.get('rstwatch_resets_top_reason')!.filter((s) => s.labels.direction === 'received');
    expect(reasons.map((r) => [r.labels.reason, r.value])).toEqual([
      ['NOT_SPECIFIED', 100],
      ['TCP_ABORT_ON_DATA', 20],
      ['other', total - 120],
    ]);
    expect(m.get('rstwatch_attribution_events_total')![0]!.value).toBe(1234);
    expect(m.get('rstwatch_attribution_lost_total')![0]!.value).toBe(5);
  });

  it('rstwatch_resets_attributed_total adds each completed second once, by reason, "other" for the rest', async () => {
    const m = samples((await h.get('/metrics')).text);
    const rows = m.get('rstwatch_resets_attributed_total')!;
    const seconds = new Set(
      attr.queries.filter((q) => q.windowSeconds === 1 && q.direction === 'received').map((q) => q.nowSec),
    );
    // Each second asked about once (no double counting across pulses).
    expect(attr.queries.filter((q) => q.windowSeconds === 1 && q.direction === 'received').length).toBe(
      seconds.size,
    );
    const n = seconds.size;
    expect(n).toBeGreaterThanOrEqual(9);
    const get = (reason: string) =>
      rows.find((r) => r.labels.direction === 'received' && r.labels.reason === reason)?.value;
    expect(get('NOT_SPECIFIED')).toBe(3 * n);
    expect(get('TCP_CLOSE')).toBe(n);
    expect(get('other')).toBe(n);
  });

  it('the attributed-reset counter catches up once a minute and at each scrape, not at every pulse', async () => {
    const received = () => attr.queries.filter((q) => q.windowSeconds === 1 && q.direction === 'received');
    await h.get('/metrics'); // up to date now
    const asked = received().length;
    const last = Math.max(...received().map((q) => q.nowSec));
    for (let i = 0; i < 5; i++) {
      h.server.pulse();
      h.run('0x1');
    }
    expect(received().length).toBe(asked); // five pulses within the minute: no query
    const m = samples((await h.get('/metrics')).text);
    const added = received()
      .slice(asked)
      .map((q) => q.nowSec);
    expect(added).toEqual([1, 2, 3, 4, 5].map((i) => last + i)); // the five new seconds, each once
    const n = new Set(received().map((q) => q.nowSec)).size;
    const tcpClose = m
      .get('rstwatch_resets_attributed_total')!
      .find((r) => r.labels.direction === 'received' && r.labels.reason === 'TCP_CLOSE')?.value;
    expect(tcpClose).toBe(n);
    // A minute of pulses without a scrape: the pulse catches up on its own, once, every second once.
    const beforeMinute = received().length;
    const lastScraped = Math.max(...received().map((q) => q.nowSec));
    let pulsesThatAsked = 0;
    for (let i = 0; i < 62; i++) {
      const k = received().length;
      h.server.pulse();
      if (received().length > k) pulsesThatAsked++;
      h.run('0x1');
    }
    expect(pulsesThatAsked).toBe(1);
    const caughtUp = received()
      .slice(beforeMinute)
      .map((q) => q.nowSec);
    expect(caughtUp).toEqual(Array.from({ length: caughtUp.length }, (_, i) => lastScraped + 1 + i));
    expect(caughtUp.length).toBeGreaterThanOrEqual(58);
  });

  it('agent health: samples, last sample age, errors by code (sampler, store, API), build info', async () => {
    const m = samples((await h.get('/metrics')).text);
    expect(m.get('rstwatch_samples_total')![0]!.value).toBe(h.stats.samples);
    expect(m.get('rstwatch_last_sample_age_seconds')![0]!.value).toBeCloseTo(0.3, 6);
    const errors = Object.fromEntries(m.get('rstwatch_errors_total')!.map((e) => [e.labels.code, e.value]));
    expect(errors).toMatchObject({ E_DB_WRITE: 2, E_PROC_UNREADABLE: 3, E_API_NOT_FOUND: 1 });
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(m.get('rstwatch_build_info')![0]!.labels.version).toBe(pkg.version);
    const http = m.get('rstwatch_http_requests_total')!;
    expect(
      http.find((r) => r.labels.handler === 'metrics' && r.labels.code === '200')!.value,
    ).toBeGreaterThanOrEqual(1);
  });

  it.skipIf(!hasPromtool)(
    'allmetrics?format=prometheus parses too (Netdata names; only "no help text" lint)',
    async () => {
      for (const q of [
        'format=prometheus',
        'format=prometheus&types=yes&timestamps=no',
        'format=prometheus_all_hosts&source=as-collected&types=yes',
      ]) {
        const p = promtool((await h.get(`/api/v1/allmetrics?${q}`)).text);
        expect(
          p.problems.filter((l) => !/ no help text$/.test(l)),
          q,
        ).toEqual([]);
      }
    },
  );
});

describe('/metrics without attribution', () => {
  it('has no attribution families', async () => {
    const s = await startHarness();
    try {
      const text = (await s.get('/metrics')).text;
      expect(text).not.toMatch(/rstwatch_resets_top_peer|rstwatch_attribution_/);
      expect(text).toMatch(/^rstwatch_alert_status\{/m);
    } finally {
      await s.close();
    }
  });
});
