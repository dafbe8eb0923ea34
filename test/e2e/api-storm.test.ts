/**
 * End to end: `rstwatch agent` runs inside a network namespace the test creates (so that namespace is its
 * host), a bounded storm of refused connects hits the namespace's loopback, and the agent's own API shows
 * it — /api/v1/alarms lists 10s_ipv4_tcp_resets_received raised, /metrics has rstwatch_alert_status 3 and the
 * kernel counters moved, /api/v1/data has the per-second rate, the log has the CLEAR → WARNING entry — and
 * the API refuses a state change without the token. HTTP goes through `ip netns exec` (the API listens on
 * the namespace's loopback).
 *
 * The alert file replaces the shipped tcp_resets.conf for this run with the same alert name but without the
 * one-minute uptime guard and with a 2-s `every`, so the test takes seconds instead of two minutes; the
 * shipped alert's timing against a storm is proven by alert-storm.test.ts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { BIN } from '../helpers/paths.js';

const RATE = 200;
const STORM_SECONDS = 12;

const STORM = `
const net = require('node:net');
const total = ${RATE * STORM_SECONDS};
let started = 0, done = 0;
const t0 = Date.now();
const deadline = t0 + ${(STORM_SECONDS + 5) * 1000};
const tick = setInterval(() => {
  const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * ${RATE}));
  while (started < due) {
    started++;
    const s = net.connect({ host: '127.0.0.1', port: 9 });
    s.on('error', () => { done++; });
    s.on('connect', () => { s.destroy(); done++; });
  }
  if (started >= total || Date.now() > deadline) {
    clearInterval(tick);
    const end = setInterval(() => { if (done >= started || Date.now() > deadline + 5000) { clearInterval(end); process.stdout.write(String(done)); } }, 50);
  }
}, 10);
`;

const ALERT = `
  alarm: 10s_ipv4_tcp_resets_received
     on: ip.tcphandshake
  class: Errors
   type: System
component: Network
 lookup: average -10s unaligned absolute of AttemptFails
  units: tcp resets/s
  every: 2s
   warn: $this > 50
  delay: up 20s down 60m multiplier 1.2 max 2h
options: no-clear-notification
summary: System TCP inbound resets
     to: silent
`;

/** One HTTP request made inside the namespace; never throws for an HTTP status. */
function nsFetch(
  ns: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): { status: number; text: string } {
  const script =
    'fetch(process.argv[1], { ...JSON.parse(process.argv[2]), signal: AbortSignal.timeout(10000) })' +
    '.then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, text: await r.text() })))' +
    '.catch((e) => { console.error(String(e)); process.exit(4); });';
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, process.execPath, '-e', script, url, JSON.stringify(init)],
    {
      encoding: 'utf8',
      timeout: 20_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (r.status !== 0) throw new Error(`fetch ${url} in ${ns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number; text: string };
}

describe.skipIf(!netnsAvailable())('the API of an agent under a reset storm', () => {
  let ns = '';
  let agent: ChildProcess | undefined;
  let log = '';
  const dir = mkdtempSync(join(tmpdir(), 'rw-api-e2e-'));
  const dataDir = join(dir, 'data');
  const healthDir = join(dir, 'health.d');
  const base = 'http://127.0.0.1:19911';

  beforeAll(async () => {
    ns = createNetns('rw-api');
    mkdirSync(healthDir);
    writeFileSync(join(healthDir, 'tcp_resets.conf'), ALERT);
    agent = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        BIN,
        'agent',
        '--data-dir',
        dataDir,
        '--health-dir',
        healthDir,
        '--listen',
        '127.0.0.1:19911',
        '--flush-every',
        '5',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RSTWATCH_CONFIG: '/dev/null' } },
    );
    agent.stderr!.on('data', (d) => {
      log += d;
    });
    const until = Date.now() + 20_000;
    while (!log.includes('API listening') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (!log.includes('API listening')) throw new Error(`the agent's API did not start:\n${log}`);
  }, 30_000);

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const gone = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
    deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the token file is made 0600, and a state change without it is refused', () => {
    const st = statSync(join(dataDir, 'api.token'));
    expect(st.mode & 0o777).toBe(0o600);
    const r = nsFetch(ns, `${base}/api/rstwatch/captures`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).error.code).toBe('E_API_UNAUTHORIZED');
  });

  it('storm → /api/v1/alarms shows the alert raised, /metrics shows it, data and log agree', async () => {
    // A few quiet seconds first: the alert must be evaluated CLEAR before the storm.
    const quietUntil = Date.now() + 15_000;
    let before = '';
    while (Date.now() < quietUntil) {
      before = nsFetch(ns, `${base}/metrics`).text;
      if (
        /rstwatch_alert_status\{alert="10s_ipv4_tcp_resets_received",chart="ip\.tcphandshake",netns="host"\} 1$/m.test(
          before,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(before).toMatch(
      /rstwatch_alert_status\{alert="10s_ipv4_tcp_resets_received",chart="ip\.tcphandshake",netns="host"\} 1$/m,
    );
    const active0 = JSON.parse(nsFetch(ns, `${base}/api/v1/alarms`).text) as { alarms: object };
    expect(Object.keys(active0.alarms)).toEqual([]);
    const failsBefore = Number(
      /^rstwatch_netstat_Tcp_AttemptFails_total\{netns="host"\} (\d+)$/m.exec(before)?.[1],
    );

    const storm = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', STORM], {
      encoding: 'utf8',
      timeout: (STORM_SECONDS + 15) * 1000,
    });
    expect(Number(storm.stdout)).toBe(RATE * STORM_SECONDS);

    let alarms: { alarms: Record<string, { status: string; value: number; chart: string }> } = { alarms: {} };
    const until = Date.now() + 15_000;
    while (Date.now() < until) {
      alarms = JSON.parse(nsFetch(ns, `${base}/api/v1/alarms`).text);
      if (Object.keys(alarms.alarms).length > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const a = alarms.alarms['ip.tcphandshake.10s_ipv4_tcp_resets_received'];
    expect(a, log).toBeDefined();
    expect(a!.status).toBe('WARNING');
    expect(a!.value).toBeGreaterThan(50);

    // The alert can be raised before the sampler has read the storm's last connects (it reads once a second):
    // scrape until the counter has caught up, for at most 5 s, and let the assertion below judge.
    const attemptFails = (text: string) =>
      Number(/^rstwatch_netstat_Tcp_AttemptFails_total\{netns="host"\} (\d+)$/m.exec(text)?.[1]);
    let metrics = nsFetch(ns, `${base}/metrics`).text;
    for (const end = Date.now() + 5_000; Date.now() < end; ) {
      if (attemptFails(metrics) - failsBefore >= RATE * STORM_SECONDS) break;
      await new Promise((r) => setTimeout(r, 250));
      metrics = nsFetch(ns, `${base}/metrics`).text;
    }
    expect(metrics).toMatch(
      /^rstwatch_alert_status\{alert="10s_ipv4_tcp_resets_received",chart="ip\.tcphandshake",netns="host"\} 3$/m,
    );
    const value = Number(
      /^rstwatch_alert_value\{alert="10s_ipv4_tcp_resets_received",chart="ip\.tcphandshake",netns="host"\} (\S+)$/m.exec(
        metrics,
      )?.[1],
    );
    expect(value).toBeGreaterThan(50);
    const failsAfter = attemptFails(metrics);
    // On loopback each refused connect is one AttemptFails (test/helpers/netns.ts).
    expect(failsAfter - failsBefore).toBeGreaterThanOrEqual(RATE * STORM_SECONDS);
    expect(metrics).toMatch(/^rstwatch_netstat_Tcp_OutRsts_total\{netns="host"\} \d+$/m);
    const p = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    expect(`${p.stdout}${p.stderr}`).not.toMatch(/parsing error|error while linting/);

    const data = JSON.parse(
      nsFetch(
        ns,
        `${base}/api/v1/data?chart=ip.tcphandshake&after=-30&dimensions=AttemptFails&points=1&group=max&options=unaligned`,
      ).text,
    ) as { data: number[][] };
    expect(data.data[0]![1]).toBeGreaterThan(RATE * 0.6);

    const logEntries = JSON.parse(nsFetch(ns, `${base}/api/v1/alarm_log`).text) as {
      name: string;
      status: string;
      old_status: string;
    }[];
    expect(
      logEntries.some(
        (e) =>
          e.name === '10s_ipv4_tcp_resets_received' && e.old_status === 'CLEAR' && e.status === 'WARNING',
      ),
    ).toBe(true);
    const count = JSON.parse(nsFetch(ns, `${base}/api/v1/alarm_count`).text);
    expect(count).toEqual([1]);
  }, 90_000);
});
