// Part 5 of the benchmark: what the API costs a client. A child process (as the agent would be) holds a
// store with 24 h of per-second history for every chart of the host — the last hour in memory, all of it in
// SQLite (tier 0 per second, tier 1 per minute), exactly as the agent keeps it with its defaults — the
// shipped alerts bound to it, the kernel's real counters for /metrics, and keeps adding one sample per
// second while clients measure, so the per-sample answer cache is as fresh as in a running agent.
//
// The clients (this process): `concurrency` loops on keep-alive connections, each bounded in requests and
// in time, measuring the latency of every request:
//   data-24h        /api/v1/data over 24 h in 720 points, the same URL for every client (a dashboard wall);
//   data-24h-mixed  24 h windows over 8 charts × 5 point counts × 3 groupings in a random order, so most
//                   requests miss the answer cache (the honest cost of a query);
//   data-1h-raw     the last hour at every stored point (3600 rows, the ring only);
//   metrics         /metrics (every Tcp/TcpExt counter, rates, alert states, agent health).
// Targets (issue 7): p99 ≤ 20 ms for data, ≤ 5 ms for /metrics.
//
// Run alone: `node bench/api-cost.mjs [--seconds-per-case N] [--concurrency N] [--requests N]`.

import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { percentileSorted, release, round, table, trackDir, trackProcess } from './lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
export const API_TARGETS = { dataP99Ms: 20, metricsP99Ms: 5 };

const HISTORY_SECONDS = 24 * 3600;
const CHARTS = [
  'ip.tcphandshake',
  'ip.tcpopens',
  'ip.tcperrors',
  'ip.tcpconnaborts',
  'ip.tcp_accept_queue',
  'ip.tcp_syn_queue',
  'ip.tcp_syncookies',
  'rstwatch.tcp_challenge_acks',
];

// ---------------------------------------------------------------------------------------------------------
// The server side (child process)

/** Counters that move like a busy host's: steady opens, some resets, a storm every few hours. */
function countersAt(t, c) {
  const storm = t % 10_800 < 120 ? 300 : 0;
  c.ActiveOpens += 40 + (t % 7);
  c.PassiveOpens += 55 + (t % 5);
  c.AttemptFails += 1 + (t % 3 === 0 ? 1 : 0) + storm;
  c.OutRsts += 2 + storm;
  c.EstabResets += t % 4 === 0 ? 1 : 0;
  c.TCPSynRetrans += t % 10 === 0 ? 1 : 0;
  c.InErrs += 0;
  c.RetransSegs += 3;
  c.TCPAbortOnData += t % 6 === 0 ? 1 : 0;
  c.TCPAbortOnClose += t % 9 === 0 ? 1 : 0;
  c.ListenOverflows += storm > 0 ? 5 : 0;
  c.ListenDrops += storm > 0 ? 5 : 0;
  c.TCPChallengeACK += t % 30 === 0 ? 1 : 0;
  return c;
}

async function serve(dir) {
  const { Store } = await import(dist('store/store.js'));
  const { HistoryDb } = await import(dist('store/history-db.js'));
  const { HealthEngine } = await import(dist('health/scheduler.js'));
  const { loadHealth } = await import(dist('health/load.js'));
  const { LinuxCollector } = await import(dist('collect/linux.js'));
  const { CounterTap } = await import(dist('server/counter-tap.js'));
  const { startServer } = await import(dist('server/index.js'));
  const { createLogger } = await import(dist('internal/log.js'));

  const t0 = performance.now();
  const db = HistoryDb.open(join(dir, 'history.db'));
  // The agent's defaults: 1 h in memory, 25 h per second and 31 days per minute on disk.
  const store = new Store({ updateEvery: 1, ringSeconds: 3600, db, tier0Seconds: 25 * 3600 });
  store.addNamespace('host', 'linux');
  const uptime = store.chart('netdata.uptime');
  const now0 = Math.floor(Date.now() / 1000);
  const start = now0 - HISTORY_SECONDS;
  const c = Object.fromEntries(
    [
      'ActiveOpens',
      'PassiveOpens',
      'AttemptFails',
      'OutRsts',
      'EstabResets',
      'TCPSynRetrans',
      'InErrs',
      'InCsumErrors',
      'RetransSegs',
      'TCPAbortOnData',
      'TCPAbortOnClose',
      'TCPAbortOnMemory',
      'TCPAbortOnTimeout',
      'TCPAbortOnLinger',
      'TCPAbortFailed',
      'ListenOverflows',
      'ListenDrops',
      'TCPReqQFullDrop',
      'TCPReqQFullDoCookies',
      'EmbryonicRsts',
      'SyncookiesRecv',
      'SyncookiesSent',
      'SyncookiesFailed',
      'TCPChallengeACK',
      'TCPSYNChallenge',
      'TCPACKSkippedChallenge',
    ].map((k) => [k, 1000]),
  );
  for (let t = start; t <= now0; t++) {
    const tUs = t * 1e6 + 1000;
    store.ingest('host', countersAt(t, c), tUs);
    if (uptime) store.ingestChart(uptime, { uptime: t - start }, tUs);
    if (t % 60 === 0) store.flush(t);
  }
  store.flush(now0);
  const fillMs = performance.now() - t0;
  // A running agent never made this much garbage at once: collect it before measuring.
  globalThis.gc?.();
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  let tickMsMax = 0;

  const health = loadHealth({});
  const engine = new HealthEngine({
    store,
    host: { hostname: 'bench', labels: { _os: 'linux', _hostname: 'bench' } },
    alerts: health.alerts,
  });
  engine.announce(now0);
  for (let t = now0 - 60; t <= now0; t += 10) engine.iterate(t);

  const tap = new CounterTap();
  const collector = new LinuxCollector();
  tap.record(collector.collectSync());
  const stats = {
    samples: 1,
    late: 0,
    missed: 0,
    clockJumps: 0,
    lastSampleWallMs: Date.now(),
    lastDurationUs: 80,
    maxDurationUs: 80,
    maxLatenessMs: 0,
    errors: new Map(),
  };
  const agent = {
    store,
    health: engine,
    sampler: { stats, uptimeSeconds: () => HISTORY_SECONDS },
    db,
    collectors: [{ netns: 'host', describe: () => 'bench' }],
    counters: tap,
    os: 'linux',
  };
  const server = await startServer({
    agent,
    settings: {
      listen: '127.0.0.1:0',
      dataDir: dir,
      procRoot: '/proc',
      apiTokenFile: '',
      apiMaxConnections: 256,
      apiRequestsPerSecond: 1_000_000,
      apiAllowOrigins: [],
      webDir: '',
    },
    log: createLogger({ level: 'warn' }),
  });
  // The live agent: one sample per second (rings, tier 1 on flush, alerts), as the sampler does.
  let t = now0;
  const timer = setInterval(() => {
    const tickStart = performance.now();
    t++;
    const tUs = t * 1e6 + 1000;
    store.ingest('host', countersAt(t, c), tUs);
    if (uptime) store.ingestChart(uptime, { uptime: t - start }, tUs);
    tap.record(collector.collectSync());
    stats.samples++;
    stats.lastSampleWallMs = Date.now();
    engine.iterate(t);
    if (t % 10 === 0) store.flush(t);
    tickMsMax = Math.max(tickMsMax, performance.now() - tickStart);
  }, 1000);
  process.send({
    url: server.url,
    fillMs,
    points: store.allCharts().reduce((n, ch) => n + ch.series.length, 0) * HISTORY_SECONDS,
  });
  process.on('message', async (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send({ cpuUs: u.user + u.system });
      return;
    }
    if (m === 'stop') {
      clearInterval(timer);
      process.send({
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
        sampleTickMaxMs: tickMsMax,
        heapUsedMb: process.memoryUsage().heapUsed / 1048576,
        rssMb: process.memoryUsage().rss / 1048576,
      });
      await server.close();
      db.close();
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// The client side

function get(agent, url) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const req = request(url, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (d) => {
        bytes += d.length;
      });
      res.on('end', () => resolve({ ms: performance.now() - t, status: res.statusCode, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * `concurrency` loops, each at most `requests` requests and `seconds` seconds; latencies of all. With
 * `intervalMs` each client starts a request every intervalMs (a dashboard or scraper polling: latency without
 * self-made queueing); with 0 the next request leaves as soon as the answer is in (saturation).
 */
async function runCase(base, pathFor, { concurrency, requests, seconds, intervalMs = 0 }) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const lat = [];
  let errors = 0;
  let bytes = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let seq = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      // Paced clients start spread over one interval, as independent pollers would.
      let next = performance.now() + (intervalMs * client) / concurrency;
      for (let i = 0; i < requests && performance.now() < deadline; i++) {
        if (intervalMs > 0) {
          const wait = next - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          next += intervalMs;
        }
        const r = await get(agent, base + pathFor(seq++));
        if (r.status !== 200) errors++;
        else {
          lat.push(r.ms);
          bytes += r.bytes;
        }
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  return {
    requests: lat.length,
    errors,
    p50Ms: percentileSorted(lat, 50),
    p99Ms: percentileSorted(lat, 99),
    maxMs: lat[lat.length - 1] ?? Number.NaN,
    perSecond: lat.length / wallS,
    avgBytes: lat.length > 0 ? bytes / lat.length : 0,
  };
}

/** A deterministic shuffle of the mixed queries (xorshift), so runs compare. */
function mixedPaths() {
  const paths = [];
  for (const chart of CHARTS)
    for (const points of [300, 600, 720, 1000, 1440])
      for (const group of ['average', 'max', 'sum'])
        paths.push(`/api/v1/data?chart=${chart}&after=-86400&points=${points}&group=${group}&format=json`);
  let x = 2463534242;
  for (let i = paths.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [paths[i], paths[j]] = [paths[j], paths[i]];
  }
  return paths;
}

function ask(child, what) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(what);
  });
}

export async function runApiCost(o) {
  const log = o.log ?? ((s) => process.stderr.write(`${s}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-bench-api-'));
  const dirRes = trackDir(dir);
  log(`  filling 24 h of per-second history (${CHARTS.length} charts + uptime) into ${dir}`);
  const child = fork(fileURLToPath(import.meta.url), ['--serve', dir], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [
      '--expose-gc',
      ...(process.env.API_BENCH_TRACE_GC ? ['--trace-gc'] : []),
      ...(process.env.API_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ],
  });
  const proc = trackProcess(child.pid, 'api server');
  try {
    const ready = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`the API server exited (${code}) before it was ready`)));
    });
    log(
      `  history filled in ${(ready.fillMs / 1000).toFixed(1)} s (${ready.points} points); server at ${ready.url}`,
    );
    // The very first 24-h query after start: SQLite reads of every minute, code not yet optimised.
    const cold = await get(
      new Agent(),
      `${ready.url}/api/v1/data?chart=ip.tcphandshake&after=-86400&points=720&group=average`,
    );
    const opts = { concurrency: o.concurrency, requests: o.requests, seconds: o.secondsPerCase };
    const mixed = mixedPaths();
    const cases = {
      data24h: {
        label: 'data: 24 h → 720 points, same URL for all clients',
        path: () => '/api/v1/data?chart=ip.tcphandshake&after=-86400&points=720&group=average&format=json',
      },
      data24hMixed: {
        label: 'data: 24 h, 120 different queries (8 charts × points × group)',
        path: (i) => mixed[i % mixed.length],
      },
      data1hRaw: {
        label: 'data: last hour, every point (3600 rows)',
        path: () => '/api/v1/data?chart=ip.tcphandshake&after=-3600&points=0&format=json',
      },
      metrics: { label: '/metrics', path: () => '/metrics' },
    };
    const out = {};
    for (const [mode, intervalMs] of [
      ['paced', o.intervalMs],
      ['saturated', 0],
    ]) {
      for (const [k, c] of Object.entries(cases)) {
        // Warm-up, as a dashboard that has been open a while: every distinct query once (the first one of
        // a series reads SQLite into the per-minute cache; its cost is reported as the cold query below).
        const warm = new Agent();
        for (let i = 0; i < (k === 'data24hMixed' ? mixed.length : 1); i++)
          await get(warm, ready.url + c.path(i));
        warm.destroy();
        log(
          `  ${mode}: ${c.label}: ${o.concurrency} clients, ${intervalMs > 0 ? `one request per ${intervalMs} ms each` : 'back to back'}, ≤ ${o.requests} requests each, ≤ ${o.secondsPerCase} s`,
        );
        const cpu0 = await ask(child, 'cpu');
        const r = await runCase(ready.url, c.path, { ...opts, intervalMs });
        const cpu1 = await ask(child, 'cpu');
        // The server's own CPU per answer: what a request costs, whatever else the machine is doing.
        const serverCpuUsPerRequest = (cpu1.cpuUs - cpu0.cpuUs) / Math.max(1, r.requests);
        out[`${mode}.${k}`] = { label: c.label, mode, kind: k, ...r, serverCpuUsPerRequest };
      }
    }
    const serverStats = new Promise((r) => child.once('message', r));
    child.send('stop');
    const server = await serverStats;
    await new Promise((r) => child.once('exit', r));
    return {
      coldQueryMs: cold.ms,
      loadAverage: loadavg().map((v) => round(v, 2)),
      cpus: cpus().length,
      concurrency: o.concurrency,
      intervalMs: o.intervalMs,
      fillSeconds: ready.fillMs / 1000,
      historySeconds: HISTORY_SECONDS,
      server,
      cases: out,
    };
  } finally {
    release(proc);
    release(dirRes);
  }
}

export function printApi(a) {
  const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '–');
  console.log(
    `\n## 5. API latency (${a.concurrency} concurrent keep-alive clients on loopback; server in its own process with 24 h of per-second history, 1 h in memory, sampling every second)\n`,
  );
  console.log(
    `paced: each client sends one request every ${a.intervalMs} ms (${Math.round((a.concurrency * 1000) / a.intervalMs)} requests/s in all);` +
      ' saturated: each client sends the next request as soon as the answer is in (capacity; latency there is queueing)\n',
  );
  const rows = [
    [
      'mode',
      'case',
      'requests',
      'errors',
      'p50',
      'p99',
      'max',
      'req/s',
      'server CPU/answer',
      'bytes/answer',
      'target p99',
    ],
  ];
  for (const c of Object.values(a.cases)) {
    const target = c.kind === 'metrics' ? API_TARGETS.metricsP99Ms : API_TARGETS.dataP99Ms;
    rows.push([
      c.mode,
      c.label,
      String(c.requests),
      String(c.errors),
      ms(c.p50Ms),
      ms(c.p99Ms),
      ms(c.maxMs),
      c.perSecond.toFixed(0),
      `${c.serverCpuUsPerRequest.toFixed(0)} µs`,
      c.avgBytes.toFixed(0),
      `${target} ms ${c.p99Ms <= target ? 'within' : 'OVER'}`,
    ]);
  }
  console.log(table(rows));
  const s = a.server;
  console.log(`the first 24-h query after the server started (cold): ${ms(a.coldQueryMs)}`);
  console.log(
    `machine: ${a.cpus} CPUs, load average at the end ${a.loadAverage.join(' / ')} (1 / 5 / 15 min)`,
  );
  console.log(
    `server: event-loop delay p99 ${ms(s.loopDelayP99Ms)}, max ${ms(s.loopDelayMaxMs)}; slowest sampling tick ${ms(s.sampleTickMaxMs)}; ` +
      `heap ${s.heapUsedMb.toFixed(0)} MB, RSS ${s.rssMb.toFixed(0)} MB`,
  );
}

export function apiJson(a) {
  return {
    concurrency: a.concurrency,
    intervalMs: a.intervalMs,
    loadAverage: a.loadAverage,
    coldQueryMs: round(a.coldQueryMs, 2),
    server: {
      loopDelayP99Ms: round(a.server.loopDelayP99Ms, 2),
      loopDelayMaxMs: round(a.server.loopDelayMaxMs, 2),
      sampleTickMaxMs: round(a.server.sampleTickMaxMs, 2),
      rssMb: round(a.server.rssMb, 1),
    },
    fillSeconds: round(a.fillSeconds, 1),
    cases: Object.fromEntries(
      Object.entries(a.cases).map(([k, c]) => [
        k,
        {
          requests: c.requests,
          errors: c.errors,
          p50Ms: round(c.p50Ms, 3),
          p99Ms: round(c.p99Ms, 3),
          maxMs: round(c.maxMs, 3),
          perSecond: round(c.perSecond, 0),
          serverCpuUsPerRequest: round(c.serverCpuUsPerRequest, 1),
          withinTarget: c.p99Ms <= (c.kind === 'metrics' ? API_TARGETS.metricsP99Ms : API_TARGETS.dataP99Ms),
        },
      ]),
    ),
  };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      'seconds-per-case': { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '20' },
      requests: { type: 'string', default: '2000' },
      'interval-ms': { type: 'string', default: '100' },
    },
  });
  if (values.serve) {
    serve(values.serve).catch((err) => {
      process.stderr.write(`api server: ${err?.stack ?? err}\n`);
      process.exit(1);
    });
  } else {
    const a = await runApiCost({
      secondsPerCase: Number(values['seconds-per-case']),
      concurrency: Number(values.concurrency),
      requests: Number(values.requests),
      intervalMs: Number(values['interval-ms']),
    });
    printApi(a);
    console.log(`\nBENCH_JSON ${JSON.stringify({ bench: 'rstwatch-api-cost', api: apiJson(a) })}`);
  }
}
