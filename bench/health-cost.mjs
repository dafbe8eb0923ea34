// Part 3: what evaluating alerts costs, in process, on the compiled code (dist/). The issue's target:
// "evaluation cost per alert per iteration with all stock Netdata configs loaded; ≤ 20 µs".
//
//   Loading: list + read, parse and compile every stock Netdata health file (/usr/lib/netdata/conf.d/health.d,
//   Debian's netdata-core) plus rstwatch's shipped defaults/health.d; the first call (cold, what the agent
//   pays once at start) and the median of warm calls.
//
//   Hot loop: a HealthEngine over a Store pre-fed with an hour of simulated per-second counters. Between two
//   timed `iterate(now)` calls the store gets `step` more seconds (untimed) and `now` advances by `step` = the
//   longest `every` of the bound alerts, so every alert is due at every iteration; the per-alert figure is the
//   iteration's time divided by the alerts it evaluated. Cases:
//     (a) the agent's own load with every stock file added (loadHealth: shipped + the stock folder as the
//         administrator's): only the alerts whose chart exists bind; without and with the agent's SQLite
//         persistence (AlertDb: a state row per evaluation, a row per transition).
//     (b) stress: every stock alert (284 in 1.37) rewritten as an `alarm:` on ipv4.tcphandshake, every 10s,
//         its lookup kept (method, window, options) with `of` pointing at one of the chart's dimensions, and
//         its calc/warn/crit kept with every variable that is not a built-in bound to a dimension of the chart
//         — so every alert binds and runs; also with persistence, with the variables left as written (they do
//         not resolve: the unknown-variable path), and with a counter feed that bursts so alerts flap.
//   Rounds interleave the cases; each round gives a median and a p99 per case; the report shows the median
//   over rounds. Iterations per round are sized from a warm-up so each case gets about the same time.
//
//   Per alert: each stress alert alone in its own engine (on one shared store), to find the expensive kinds.
//
//   Peer (unless --no-netdata): Netdata 1.37 runs the same stress file with its health engine on (its own
//   temporary folders, the proc plugin's TCP charts only, as in part 2, host namespace), while in this process
//   two HealthEngines (without and with persistence) run the same file on a Store fed from the host's /proc
//   once a second, iterate() once a second as the agent does. Over the same window: Netdata's cost is the CPU
//   time of its HEALTH thread (/proc/PID/task/TID/schedstat), divided by the evaluations it made (each alarm's
//   distinct `last_updated` values seen in /api/v1/alarms?all, polled every 5 s); ours is the time spent in
//   iterate() divided by the evaluations it made. Both include their idle once-a-second loop.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { validateExpression } from '../dist/cli/health.js';
import { LinuxCollector } from '../dist/collect/linux.js';
import { AlertDb } from '../dist/health/alert-db.js';
import { checkHealthPaths, listHealthFiles } from '../dist/health/check.js';
import { parseHealthConfig } from '../dist/health/config.js';
import { compileAlerts, loadHealth, SHIPPED_HEALTH_DIR } from '../dist/health/load.js';
import { HealthEngine } from '../dist/health/scheduler.js';
import { statusName } from '../dist/health/types.js';
import { chartDefs } from '../dist/model/charts.js';
import { HistoryDb } from '../dist/store/history-db.js';
import { Store } from '../dist/store/store.js';
import {
  alive,
  killTree,
  median,
  percentileSorted,
  release,
  sleep,
  trackDir,
  trackProcess,
  untrack,
} from './lib.mjs';
import { httpGet, NETDATA_BIN, netdataCommand, netdataVersion, prepareNetdata } from './netdata.mjs';

export const STOCK_HEALTH_DIR = '/usr/lib/netdata/conf.d/health.d';
const HOST = { hostname: 'rstwatch-bench', labels: { _os: 'linux', _hostname: 'rstwatch-bench' } };
/** Start of the simulated clock (epoch s): any fixed second will do. */
const T0 = 1_800_000_000;

const hr = () => process.hrtime.bigint();
const usSince = (t0) => Number(hr() - t0) / 1000;

// ---------------------------------------------------------------------------------------------------------
// Simulated counters
// ---------------------------------------------------------------------------------------------------------

const COUNTERS = [...new Set(chartDefs('linux').flatMap((d) => d.dimensions.flatMap((x) => x.counters)))];

/**
 * A store with the host's charts and a feed of per-second counters: each counter grows by its own base rate
 * (0–7/s) plus noise, deterministic (xorshift). `flapping`: a 30-s burst (×40) every 5 minutes.
 */
function simulatedStore({ flapping = false, seed = 0x9e3779b9 } = {}) {
  const store = new Store({ updateEvery: 1 });
  store.addNamespace('host', 'linux');
  const uptime = store.chart('netdata.uptime');
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const base = COUNTERS.map(() => Math.floor(rnd() * 8));
  const counters = Object.fromEntries(COUNTERS.map((n) => [n, 1_000_000]));
  let t = T0;
  let seconds = 0;
  const feed = (n) => {
    for (let k = 0; k < n; k++) {
      t += 1;
      seconds += 1;
      const burst = flapping && seconds % 300 < 30 ? 40 : 1;
      for (let j = 0; j < COUNTERS.length; j++) {
        counters[COUNTERS[j]] += Math.round((base[j] + rnd() * 2) * burst);
      }
      store.ingest('host', counters, t * 1e6);
      store.ingestChart(uptime, { uptime: seconds }, t * 1e6);
    }
    return t;
  };
  return { store, feed, now: () => t };
}

// ---------------------------------------------------------------------------------------------------------
// The stress file: every stock alert bound to ipv4.tcphandshake
// ---------------------------------------------------------------------------------------------------------

/** Variables every alert has (§2.6); anything else names a dimension, a chart.dimension or another alert. */
const BUILTIN_VARS = new Set([
  'this',
  'after',
  'before',
  'now',
  'status',
  'last_collected_t',
  'update_every',
  'green',
  'red',
  'REMOVED',
  'UNDEFINED',
  'UNINITIALIZED',
  'CLEAR',
  'WARNING',
  'CRITICAL',
]);
/** Dimensions of ipv4.tcphandshake whose id is also its name in rstwatch and in Netdata 1.37. */
const STRESS_DIMS = ['EstabResets', 'OutRsts', 'AttemptFails'];
const STRESS_CHART = 'ipv4.tcphandshake';
/** `$name` (up to whitespace or an operator) or `${any text}` (lexer.ts). */
const VARIABLE = /\$\{([^}]*)\}|\$([^\s&|!><=%+\-*/?(){}]+)/g;

/**
 * Netdata health configuration text with one `alarm:` per stock alert, all on ipv4.tcphandshake. `rebind`:
 * non-built-in variables become dimensions of the chart (each name always the same one); else as written.
 */
export function stressConfig(configs, { rebind = true } = {}) {
  const names = new Map();
  const varDims = new Map();
  const dimFor = (v) => {
    if (!varDims.has(v)) varDims.set(v, STRESS_DIMS[varDims.size % STRESS_DIMS.length]);
    return varDims.get(v);
  };
  const expr = (src) => {
    const oneLine = src.replace(/\\?\n\s*/g, ' ');
    if (!rebind) return oneLine;
    return oneLine.replace(VARIABLE, (m, braced, bare) =>
      BUILTIN_VARS.has(braced ?? bare) ? m : `\${${dimFor(braced ?? bare)}}`,
    );
  };
  const blocks = [];
  configs.forEach((c, i) => {
    let name = c.name.replace(/[^A-Za-z0-9_.]/g, '_');
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name}_${seen}`;
    const lines = [`alarm: ${name}`, `on: ${STRESS_CHART}`];
    if (c.lookup) {
      // Keep method, window and options; `of` (and `foreach`) → one dimension of the chart.
      let l = c.lookup.source.replace(/\s+(of|foreach)\s.*$/s, '');
      if (/\sof\s/.test(c.lookup.source)) l += ` of ${STRESS_DIMS[i % STRESS_DIMS.length]}`;
      lines.push(`lookup: ${l}`);
    }
    // After the lookup: a lookup line sets every to |after| in Netdata, overriding an earlier `every:`.
    lines.push('every: 10s', 'to: silent');
    if (c.green !== undefined) lines.push(`green: ${c.green}`);
    if (c.red !== undefined) lines.push(`red: ${c.red}`);
    for (const k of ['calc', 'warn', 'crit']) if (c[k]) lines.push(`${k}: ${expr(c[k].source)}`);
    blocks.push(lines.map((l, j) => (j === 0 ? l : `   ${l}`)).join('\n'));
  });
  return `# generated by rstwatch bench/health-cost.mjs from ${STOCK_HEALTH_DIR}\n\n${blocks.join('\n\n')}\n`;
}

function compileText(text, file) {
  const parsed = parseHealthConfig(text, file);
  const compiled = compileAlerts(parsed.alerts);
  const errors = [...parsed.problems, ...compiled.problems].filter((p) => p.severity === 'error');
  if (errors.length > 0) throw new Error(`the stress file does not load: ${JSON.stringify(errors[0])}`);
  return compiled.alerts;
}

// ---------------------------------------------------------------------------------------------------------
// Loading cost
// ---------------------------------------------------------------------------------------------------------

function timeLoading(stockDir, repeats) {
  const files = () => [...listHealthFiles(SHIPPED_HEALTH_DIR).files, ...listHealthFiles(stockDir).files];
  const cases = [
    {
      id: 'loadHealth',
      label: 'loadHealth(): list, read, parse, compile (as the agent at start)',
      fn: () => loadHealth({ user: stockDir }),
    },
    {
      id: 'read',
      label: '  list + read the files',
      fn: () => files().map((f) => [f, readFileSync(f, 'utf8')]),
    },
    {
      id: 'parse',
      label: '  parseHealthConfig() of every file',
      fn: (texts) => texts.flatMap(([f, t]) => parseHealthConfig(t, f).alerts),
      input: 'texts',
    },
    {
      id: 'compile',
      label: '  compileAlerts() of every alert',
      fn: (configs) => compileAlerts(configs),
      input: 'configs',
    },
    {
      id: 'check',
      label: 'checkHealthPaths() with expressions (`rstwatch health check`)',
      fn: () => checkHealthPaths([SHIPPED_HEALTH_DIR, stockDir], { validateExpression }),
    },
  ];
  const inputs = {};
  const out = {};
  // The first call of each (in this order, before anything else of the health code ran): cold.
  for (let r = 0; r <= repeats; r++) {
    for (const c of cases) {
      const arg = c.input ? inputs[c.input] : undefined;
      const t0 = hr();
      const v = c.fn(arg);
      const ms = usSince(t0) / 1000;
      if (c.id === 'read') inputs.texts = v;
      if (c.id === 'parse') inputs.configs = v;
      out[c.id] ??= { label: c.label, coldMs: ms, warm: [] };
      if (r > 0) out[c.id].warm.push(ms);
      if (c.id === 'loadHealth') out[c.id].result = v;
    }
  }
  const loaded = out.loadHealth.result;
  delete out.loadHealth.result;
  for (const c of Object.values(out)) {
    c.medianMs = median(c.warm);
    c.minMs = Math.min(...c.warm);
    delete c.warm;
  }
  return { cases: out, loaded, parsedConfigs: inputs.configs, files: inputs.texts.length };
}

// ---------------------------------------------------------------------------------------------------------
// Hot loop
// ---------------------------------------------------------------------------------------------------------

function makeCase({ id, label, alerts, flapping = false, persistDir }) {
  const sim = simulatedStore({ flapping });
  sim.feed(3600);
  let db;
  let persistence;
  if (persistDir) {
    db = HistoryDb.open(join(persistDir, `${id}.db`));
    persistence = new AlertDb(db.connection);
  }
  const engine = new HealthEngine({ store: sim.store, host: HOST, alerts, persistence });
  engine.announce(sim.now());
  const step = Math.max(1, ...engine.alerts.map((r) => r.compiled.config.every));
  const c = {
    id,
    label,
    loaded: alerts.length,
    bound: engine.alerts.length,
    step,
    engine,
    db,
    transitions: 0,
  };
  /** n timed iterations; per-alert µs sorted, whole-iteration µs sorted, evaluations. */
  c.run = (n) => {
    const perAlert = new Float64Array(n);
    const whole = new Float64Array(n);
    let evaluated = 0;
    for (let i = 0; i < n; i++) {
      const now = sim.feed(step);
      const t0 = hr();
      const added = engine.iterate(now);
      const us = usSince(t0);
      let e = 0;
      for (const rt of engine.alerts) if (rt.lastUpdated === now) e++;
      evaluated += e;
      c.transitions += added.length;
      whole[i] = us;
      perAlert[i] = e > 0 ? us / e : Number.NaN;
    }
    return { perAlert: perAlert.sort(), whole: whole.sort(), evaluated };
  };
  return c;
}

function summarize(rounds) {
  const pick = (k) => rounds.map((r) => r[k]);
  return {
    medianUs: median(pick('medianUs')),
    p99Us: median(pick('p99Us')),
    iterationMedianUs: median(pick('iterationMedianUs')),
    minRoundMedianUs: Math.min(...pick('medianUs')),
    maxRoundMedianUs: Math.max(...pick('medianUs')),
    rounds,
  };
}

/** Each stress alert alone in its engine (one shared store): which kinds cost the most. */
function perAlertCosts(alerts, iterations) {
  const sim = simulatedStore();
  sim.feed(3600);
  const engines = alerts.map((a) => new HealthEngine({ store: sim.store, host: HOST, alerts: [a] }));
  const empty = new HealthEngine({ store: sim.store, host: HOST, alerts: [] });
  const warm = 5;
  const times = engines.map(() => new Float64Array(iterations));
  const emptyTimes = new Float64Array(iterations);
  for (let i = 0; i < warm + iterations; i++) {
    const now = sim.feed(10);
    // Alternate the order so no alert always runs right after the feed (caches).
    const order = i % 2 ? engines.map((_, j) => engines.length - 1 - j) : engines.map((_, j) => j);
    for (const j of order) {
      const t0 = hr();
      engines[j].iterate(now);
      if (i >= warm) times[j][i - warm] = usSince(t0);
    }
    const t0 = hr();
    empty.iterate(now);
    if (i >= warm) emptyTimes[i - warm] = usSince(t0);
  }
  const rows = alerts.map((a, j) => {
    const d = times[j].sort();
    const lk = a.config.lookup;
    const dims = lk ? (lk.dimensions.trim() === '' ? 4 : 1) : 0;
    return {
      name: a.config.name,
      lookup: lk?.source ?? '',
      windowS: lk ? Math.abs(lk.after) : 0,
      points: lk ? Math.abs(lk.after) * dims : 0,
      calc: Boolean(a.calc),
      medianUs: percentileSorted(d, 50),
      p99Us: percentileSorted(d, 99),
      evaluated: engines[j].alerts[0]?.lastUpdated === sim.now(),
    };
  });
  const buckets = [
    ['no lookup (calc only)', (r) => r.windowS === 0],
    ['lookup ≤ 1 min', (r) => r.windowS > 0 && r.windowS <= 60],
    ['lookup 2–10 min', (r) => r.windowS > 60 && r.windowS <= 600],
    ['lookup > 10 min', (r) => r.windowS > 600],
  ].map(([label, f]) => {
    const rs = rows.filter(f);
    return {
      label,
      alerts: rs.length,
      medianUs: median(rs.map((r) => r.medianUs)),
      maxUs: rs.length ? Math.max(...rs.map((r) => r.medianUs)) : Number.NaN,
    };
  });
  // Marginal cost of a point read: least squares of the median over the points of the lookup alerts.
  const lk = rows.filter((r) => r.points > 0);
  const mx = lk.reduce((s, r) => s + r.points, 0) / lk.length;
  const my = lk.reduce((s, r) => s + r.medianUs, 0) / lk.length;
  let sxy = 0;
  let sxx = 0;
  for (const r of lk) {
    sxy += (r.points - mx) * (r.medianUs - my);
    sxx += (r.points - mx) ** 2;
  }
  const nsPerPoint = sxx > 0 ? (sxy / sxx) * 1000 : Number.NaN;
  const sorted = [...rows].sort((a, b) => b.medianUs - a.medianUs);
  return {
    iterations,
    alerts: rows.length,
    notEvaluated: rows.filter((r) => !r.evaluated).length,
    emptyEngineUs: percentileSorted(emptyTimes.sort(), 50),
    meanOfMediansUs: rows.reduce((s, r) => s + r.medianUs, 0) / rows.length,
    over20: rows.filter((r) => r.medianUs > 20).length,
    nsPerPoint,
    interceptUs: my - (nsPerPoint / 1000) * mx,
    buckets,
    slowest: sorted.slice(0, 6),
    fastest: sorted.slice(-3),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Peer: Netdata's health engine on the same file
// ---------------------------------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The HEALTH thread of a netdata process: its tid, or undefined. */
function healthThread(pid) {
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').startsWith('HEALTH')) return tid;
      } catch {
        // thread gone
      }
    }
  } catch {
    // process gone
  }
  return undefined;
}

function threadNs(pid, tid) {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
}

/** Netdata's alarms: key → { lastUpdated, status }. */
async function netdataAlarms(base) {
  const j = JSON.parse(await httpGet(`${base}/api/v1/alarms?all`));
  const out = new Map();
  for (const [k, a] of Object.entries(j.alarms ?? {})) {
    out.set(a.chart && a.name ? `${a.chart}.${a.name}` : k, {
      lastUpdated: a.last_updated,
      status: a.status,
    });
  }
  return out;
}

async function runPeer(o, stressText, agentAlerts, dir) {
  const { log } = o;
  if (!existsSync(NETDATA_BIN)) {
    return { skipped: `${NETDATA_BIN} not found (bash scripts/setup-bench-env.sh installs netdata-core)` };
  }
  const isRoot = process.getuid?.() === 0;
  const ndDir = join(dir, 'netdata');
  const port = await freePort();
  const conf = prepareNetdata({ dir: ndDir, port, user: isRoot ? 'root' : userInfo().username });
  mkdirSync(join(ndDir, 'health.d'));
  mkdirSync(join(ndDir, 'stock-health.d'));
  writeFileSync(join(ndDir, 'health.d', 'stress.conf'), stressText);
  // The part-2 config with the health engine on, reading only our file; notifications go nowhere.
  const text = readFileSync(conf, 'utf8')
    .replace(
      '[health]\n\tenabled = no\n',
      '[health]\n\tenabled = yes\n\tscript to execute on alarm = /bin/true\n',
    )
    .replace(
      '[directories]\n',
      `[directories]\n\thealth config = ${join(ndDir, 'health.d')}\n\tstock health config = ${join(ndDir, 'stock-health.d')}\n`,
    );
  if (!text.includes('enabled = yes'))
    return { skipped: 'could not turn health on in the generated netdata.conf' };
  writeFileSync(conf, text);

  // Ours: the same file, a store fed from the host's /proc once a second, as the agent does.
  const alerts = compileText(stressText, join(ndDir, 'health.d', 'stress.conf'));
  const collector = new LinuxCollector();
  const store = new Store({ updateEvery: 1 });
  store.addNamespace('host', 'linux');
  const uptime = store.chart('netdata.uptime');
  const dbs = [];
  const engine = (id, set, persist) => {
    let persistence;
    if (persist) {
      const db = HistoryDb.open(join(dir, `peer-${id}.db`));
      dbs.push(db);
      persistence = new AlertDb(db.connection);
    }
    const e = new HealthEngine({ store, host: HOST, alerts: set, persistence });
    return {
      id,
      engine: e,
      us: 0,
      cpuUs: 0,
      calls: 0,
      idleCalls: 0,
      idleUs: 0,
      evaluations: 0,
      evaluatedAlerts: new Set(),
    };
  };
  // The stress file (Netdata runs the same), and the agent's own load (a) for its cost at this cadence.
  const ours = [
    engine('engine', alerts, false),
    engine('engineDb', alerts, true),
    engine('agentSet', agentAlerts, false),
    engine('agentSetDb', agentAlerts, true),
  ];

  const [cmd, args] = netdataCommand(conf);
  log(`  starting netdata with health on: ${cmd} ${args.join(' ')}`);
  const child = spawn(cmd, args, {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, DO_NOT_TRACK: '1' },
  });
  const tracked = trackProcess(child.pid, 'netdata (health)');
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const started = Date.now();
  const base = `http://127.0.0.1:${port}`;

  let measuring = false;
  let stopTicks = false;
  let tickError;
  const tick = () => {
    const wallMs = Date.now();
    const tUs = wallMs * 1000;
    const r = collector.collectSync();
    store.ingest('host', r.counters, tUs);
    store.ingestChart(uptime, { uptime: Math.floor((wallMs - started) / 1000) }, tUs);
    const now = Math.floor(wallMs / 1000);
    const k = now % ours.length;
    const order = [...ours.slice(k), ...ours.slice(0, k)];
    for (const x of order) {
      const c0 = process.cpuUsage();
      const t0 = hr();
      x.engine.iterate(now);
      const us = usSince(t0);
      const c = process.cpuUsage(c0);
      if (!measuring) continue;
      x.us += us;
      x.cpuUs += c.user + c.system;
      x.calls++;
      let e = 0;
      for (const rt of x.engine.alerts) {
        if (rt.lastUpdated === now) {
          e++;
          x.evaluatedAlerts.add(rt.alarmId);
        }
      }
      x.evaluations += e;
      // A second in which nothing was due: the scan of every alert's schedule and data, no evaluation.
      if (e === 0) {
        x.idleCalls++;
        x.idleUs += us;
      }
    }
  };
  const ticking = (async () => {
    while (!stopTicks) {
      await sleep(1000 - (Date.now() % 1000) + 5);
      if (stopTicks) break;
      try {
        tick();
      } catch (err) {
        tickError = err;
        stopTicks = true;
      }
    }
  })();

  const result = { seconds: o.seconds, warmupSeconds: o.warmup, alertsInFile: alerts.length };
  try {
    result.netdataVersion = netdataVersion();
    // Up, with its alarms linked to the chart.
    let alarms;
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(1000)) {
      if (child.exitCode !== null) throw new Error('netdata exited at start');
      try {
        alarms = await netdataAlarms(base);
        if (alarms.size >= alerts.length) break;
      } catch {
        // not answering yet
      }
    }
    if (!alarms || alarms.size === 0) throw new Error('netdata never listed its alarms');
    result.netdataAlarms = alarms.size;
    const tid = healthThread(child.pid);
    if (!tid) throw new Error('no HEALTH thread in netdata');
    const warmLeft = o.warmup * 1000 - (Date.now() - started);
    log(`  netdata lists ${alarms.size} alarms; warm-up ${Math.max(0, Math.round(warmLeft / 1000))} s…`);
    if (warmLeft > 0) await sleep(warmLeft);

    // A consistent boundary: no evaluation between two polls, the thread's CPU time read between them.
    const boundary = async () => {
      for (let tries = 0; tries < 20; tries++) {
        const a = await netdataAlarms(base);
        const ns = threadNs(child.pid, tid);
        const b = await netdataAlarms(base);
        if ([...b].every(([k, v]) => a.get(k)?.lastUpdated === v.lastUpdated)) return { ns, alarms: b };
        await sleep(150);
      }
      throw new Error('netdata evaluated during every boundary attempt');
    };
    const seen = new Map();
    const remember = (m) => {
      for (const [k, v] of m) {
        if (!seen.has(k)) seen.set(k, new Set());
        seen.get(k).add(v.lastUpdated);
      }
    };
    const start = await boundary();
    measuring = true;
    const startWall = Date.now();
    log(`  measuring ${o.seconds} s (netdata HEALTH thread ${tid}, and our engines once a second)…`);
    while (Date.now() - startWall < o.seconds * 1000 - 5000) {
      await sleep(5000);
      remember(await netdataAlarms(base));
    }
    await sleep(Math.max(0, o.seconds * 1000 - (Date.now() - startWall)));
    const end = await boundary();
    measuring = false;
    remember(end.alarms);
    if (tickError) throw tickError;

    let evaluations = 0;
    let evaluatedAlarms = 0;
    for (const [k, set] of seen) {
      const from = start.alarms.get(k)?.lastUpdated ?? 0;
      const n = [...set].filter((t) => t > from).length;
      evaluations += n;
      if (n > 0) evaluatedAlarms++;
    }
    const statuses = {};
    for (const v of end.alarms.values()) statuses[v.status] = (statuses[v.status] ?? 0) + 1;
    const cpuUs = (end.ns - start.ns) / 1000;
    result.netdata = {
      cpuUs,
      evaluations,
      evaluatedAlarms,
      usPerEvaluation: evaluations > 0 ? cpuUs / evaluations : Number.NaN,
      statuses,
    };
    for (const x of ours) {
      const statusesOurs = {};
      for (const rt of x.engine.alerts) {
        const s = statusName(rt.status);
        statusesOurs[s] = (statusesOurs[s] ?? 0) + 1;
      }
      result[x.id] = {
        alerts: x.engine.alerts.length,
        us: x.us,
        cpuUs: x.cpuUs,
        calls: x.calls,
        idleCalls: x.idleCalls,
        idleUsPerCall: x.idleCalls > 0 ? x.idleUs / x.idleCalls : Number.NaN,
        evaluations: x.evaluations,
        evaluatedAlarms: x.evaluatedAlerts.size,
        usPerEvaluation: x.evaluations > 0 ? x.us / x.evaluations : Number.NaN,
        usPerEvaluationBusy: x.evaluations > 0 ? (x.us - x.idleUs) / x.evaluations : Number.NaN,
        statuses: statusesOurs,
      };
    }
    // Do the two engines agree? Status of each alarm both evaluated, at the end of the window.
    const mine = new Map(
      ours[0].engine.alerts.map((rt) => [`${STRESS_CHART}.${rt.compiled.config.name}`, rt]),
    );
    const differ = [];
    let compared = 0;
    let differWithLookup = 0;
    for (const [k, v] of end.alarms) {
      const rt = mine.get(k);
      if (!rt || v.status === 'UNINITIALIZED' || rt.lastUpdated === 0) continue;
      compared++;
      const s = statusName(rt.status);
      if (s === v.status) continue;
      differ.push(`${k.slice(STRESS_CHART.length + 1)}: netdata ${v.status}, ours ${s}`);
      // Without a lookup an alert reads the last second's values: the two engines run at different
      // moments of the second, so these can differ when the counters move.
      if (rt.compiled.config.lookup) differWithLookup++;
    }
    result.statusAgreement = { compared, agree: compared - differ.length, differWithLookup, differ };
    const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN);
    result.ratio = ratio(result.engine.usPerEvaluation, result.netdata.usPerEvaluation);
    result.ratioDb = ratio(result.engineDb.usPerEvaluation, result.netdata.usPerEvaluation);
  } finally {
    stopTicks = true;
    await ticking;
    const t0 = performance.now();
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    const r = await Promise.race([exited, sleep(20_000).then(() => 'timeout')]);
    if (r === 'timeout' || alive(child.pid)) killTree(child.pid, 'SIGKILL');
    untrack(tracked);
    result.netdataStop = r === 'timeout' ? { signal: 'SIGKILL' } : { ...r, ms: performance.now() - t0 };
    for (const db of dbs) db.close();
    await collector.close();
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * @param {{ rounds: number, budgetMs: number, perAlertIterations: number, peer: boolean,
 *           seconds: number, warmup: number, log: (s: string) => void }} o
 */
export async function runHealthCost(o) {
  const { log, rounds } = o;
  const stockDir = o.stockDir ?? STOCK_HEALTH_DIR;
  let stockFiles;
  try {
    stockFiles = listHealthFiles(stockDir).files;
  } catch {
    stockFiles = [];
  }
  if (stockFiles.length === 0) {
    throw new Error(`no stock Netdata health files in ${stockDir} (bash scripts/setup-bench-env.sh)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-bench-health-'));
  const dirRes = trackDir(dir);
  const out = { rounds, budgetMs: o.budgetMs, loadRepeats: o.loadRepeats, stockDir };

  log(`  loading: ${stockFiles.length} stock files + shipped, cold then ${o.loadRepeats} warm`);
  const loading = timeLoading(stockDir, o.loadRepeats);
  out.loading = {
    files: loading.files,
    alerts: loading.loaded.alerts.length,
    parsed: loading.parsedConfigs.length,
    errors: loading.loaded.problems.filter((p) => p.severity === 'error').length,
    warnings: loading.loaded.problems.filter((p) => p.severity !== 'error').length,
    cases: loading.cases,
  };

  // The stress sets: stock alerts only (not ours), parsed from the stock files.
  const stockConfigs = stockFiles.flatMap((f) => parseHealthConfig(readFileSync(f, 'utf8'), f).alerts);
  const stressText = stressConfig(stockConfigs);
  const stress = compileText(stressText, 'stress.conf');
  const stressAsWritten = compileText(
    stressConfig(stockConfigs, { rebind: false }),
    'stress-as-written.conf',
  );
  out.stressAlerts = stress.length;

  const cases = [
    makeCase({ id: 'agent', label: '(a) stock + shipped, bound ones', alerts: loading.loaded.alerts }),
    makeCase({
      id: 'agentDb',
      label: '(a) same, with the agent’s SQLite persistence',
      alerts: loading.loaded.alerts,
      persistDir: dir,
    }),
    makeCase({ id: 'stress', label: '(b) every stock alert on ip.tcphandshake', alerts: stress }),
    makeCase({
      id: 'stressDb',
      label: '(b) same, with the agent’s SQLite persistence',
      alerts: stress,
      persistDir: dir,
    }),
    makeCase({
      id: 'stressAsWritten',
      label: '(b) variables as written (unresolved)',
      alerts: stressAsWritten,
    }),
    makeCase({
      id: 'stressFlapping',
      label: '(b) bursting counters (alerts flap)',
      alerts: stress,
      flapping: true,
    }),
  ];

  // Warm-up, then iterations per round from the warm-up's cost: about budgetMs per case and round.
  for (const c of cases) {
    c.run(20); // cold: JIT, first transitions
    const iterUs = percentileSorted(c.run(20).whole, 50);
    c.iterations = Math.max(20, Math.min(3000, Math.round((o.budgetMs * 1000) / Math.max(1, iterUs))));
    c.warmTransitions = c.transitions;
  }
  log(`  hot loop: ${cases.map((c) => `${c.id} ${c.iterations}`).join(', ')} iterations × ${rounds} rounds`);
  const results = new Map(cases.map((c) => [c.id, []]));
  const evaluated = new Map(cases.map((c) => [c.id, { n: 0, it: 0 }]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const d = c.run(c.iterations);
      results.get(c.id).push({
        medianUs: percentileSorted(d.perAlert, 50),
        p99Us: percentileSorted(d.perAlert, 99),
        iterationMedianUs: percentileSorted(d.whole, 50),
      });
      const e = evaluated.get(c.id);
      e.n += d.evaluated;
      e.it += c.iterations;
    }
    log(`  round ${r + 1}/${rounds} done`);
  }
  out.cases = {};
  for (const c of cases) {
    const e = evaluated.get(c.id);
    out.cases[c.id] = {
      label: c.label,
      loaded: c.loaded,
      bound: c.bound,
      step: c.step,
      iterations: c.iterations,
      evaluatedPerIteration: e.n / e.it,
      transitionsPerIteration: (c.transitions - c.warmTransitions) / e.it,
      logEntries: c.engine.log.all.length,
      ...summarize(results.get(c.id)),
    };
    c.db?.close();
  }
  out.boundNames = cases[0].engine.alerts.map((rt) => `${rt.compiled.config.name} (${rt.chartId})`);

  log(`  per alert: ${stress.length} single-alert engines × ${o.perAlertIterations} iterations`);
  out.perAlert = perAlertCosts(stress, o.perAlertIterations);

  if (o.peer) {
    log('  peer: netdata’s health engine and ours on the same file, same window');
    try {
      out.peer = await runPeer(o, stressText, loading.loaded.alerts, dir);
    } catch (err) {
      out.peer = { skipped: `failed: ${err.message}` };
    }
  } else out.peer = { skipped: '--no-netdata' };
  release(dirRes);
  return out;
}
