// The soak (issue 8, item 3): the real agent for an hour (or --minutes N) under alternating RST storms and
// quiet periods in a network namespace, attribution on, the API polled like a dashboard and a Prometheus
// would. Not part of the test suite: `npm run soak` (docs/reliability.md has the figures of the last run).
//
// It reports, from the agent's own records:
//  - sampling lateness per tick (max, p99, p50): the agent writes every tick's wall and boundary times to its
//    debug counters file (--debug-counters-file); a tick later than 100 ms after its boundary fails the run,
//    and so does a missed boundary;
//  - RSS growth after the warm-up (VmRSS every 5 s): the median of the last window minus the median of the
//    window right after the warm-up (a tenth of the measured time, 1 to 10 minutes), at most 5 MB. The agent
//    keeps an hour of per-second data in memory (history rings, attribution's top-K per second), so a
//    steady state needs a warm-up of an hour: `--minutes 125 --warmup-minutes 65` measures the hour after;
//    shorter warm-ups measure the filling of those bounded structures too;
//  - the alert log against an OFFLINE REPLAY: the counters the agent collected (the same file) are replayed
//    through a fresh Store and HealthEngine in simulated time (dist/agent/counter-dump.js); every entry the
//    replay creates must equal the agent's, one by one (time, alert, chart, old/new status, old/new value,
//    delay), in the order of the agent's unique ids.
//
// Usage: node bench/soak.mjs [--minutes 60] [--warmup-minutes 5] [--seed 1] [--out FILE]
//        node bench/soak.mjs --analyze DIR     (the analysis again, over a kept run folder)
// Needs root (network namespace, tracefs) and a build (npm run soak builds first).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import {
  fmt,
  installSignalCleanup,
  median,
  percentileSorted,
  round,
  sleep,
  table,
  trackNetns,
  trackProcess,
  untrack,
} from './lib.mjs';
import { clockTicks, readStat, readStatusKb } from './proc-tree.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin/rstwatch.js');

const LATE_MS = 100;
const RSS_GROWTH_LIMIT_MB = 5;

// Alerts that change state every few storms, so the replay has many transitions to compare; the shipped
// alerts run too. Templates on the context bind to the host's chart and to the namespace's.
const SOAK_ALERTS = `
template: soak_resets_sent
      on: ip.tcphandshake
  lookup: average -10s unaligned absolute of OutRsts
   every: 5s
    warn: $this > (($status >= $WARNING) ? 10 : 30)
    crit: $this > (($status == $CRITICAL) ? 150 : 250)
   delay: down 20s multiplier 1.5 max 2m
    info: soak: resets sent

template: soak_resets_received
      on: ip.tcphandshake
  lookup: sum -10s unaligned absolute of EstabResets,AttemptFails
   every: 10s
    warn: $this > 500
   delay: up 10s down 30s
    info: soak: resets received
`;

function parseArgs(argv) {
  const o = { minutes: 60, warmupMinutes: undefined, seed: 1, out: '', analyze: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--minutes') o.minutes = Number(next());
    else if (a === '--warmup-minutes') o.warmupMinutes = Number(next());
    else if (a === '--seed') o.seed = Number(next());
    else if (a === '--out') o.out = next();
    else if (a === '--analyze') o.analyze = next();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'node bench/soak.mjs [--minutes 60] [--warmup-minutes 5] [--seed 1] [--out FILE]\n' +
          'node bench/soak.mjs --analyze DIR\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.minutes > 0 && o.minutes <= 24 * 60)) throw new Error('--minutes must be in (0, 1440]');
  o.warmupMinutes ??= Math.min(5, o.minutes / 4);
  return o;
}

async function waitFor(pred, ms, what) {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function get(url, path) {
  const r = await fetch(url + path, { signal: AbortSignal.timeout(10_000) });
  const body = await r.text();
  return { status: r.status, body };
}

/** Run the agent and the storms; everything the analysis needs is left in `dir`. */
async function run(o, dir) {
  const ns = `rw-soak-${process.pid}`;
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  const made = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ip netns add ${ns}: ${made.stderr.trim()} (run as root)`);
  trackNetns(ns);
  spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);

  const healthDir = join(dir, 'health.d');
  mkdirSync(healthDir, { recursive: true });
  writeFileSync(join(healthDir, 'soak.conf'), SOAK_ALERTS);
  // No notification methods: transitions are only logged (notifications have their own tests).
  writeFileSync(join(dir, 'notify.conf'), '');
  const dataDir = join(dir, 'data');
  const dumpFile = join(dir, 'counters.jsonl');
  let log = '';
  const agent = spawn(
    process.execPath,
    [
      BIN,
      'agent',
      '--data-dir',
      dataDir,
      '--netns',
      ns,
      '--listen',
      '127.0.0.1:0',
      '--health-dir',
      healthDir,
      '--attribution',
      'yes',
      '--debug-counters-file',
      dumpFile,
      '--notify-config',
      join(dir, 'notify.conf'),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, RSTWATCH_CONFIG: '/dev/null' },
    },
  );
  const agentRes = trackProcess(agent.pid, 'agent');
  agent.stdout.on('data', (d) => {
    log += d;
  });
  agent.stderr.on('data', (d) => {
    log += d;
  });
  await waitFor(
    () => /API listening"? url=(\S+)/.test(log) || agent.exitCode !== null,
    20_000,
    'the agent API',
  ).catch((err) => {
    throw new Error(`${err.message}; its log:\n${log}`);
  });
  if (agent.exitCode !== null) throw new Error(`the agent did not start:\n${log}`);
  const url = /API listening"? url=(\S+)/.exec(log)[1];
  const start = /rstwatch agent started.*/.exec(log)?.[0] ?? '';
  process.stdout.write(`soak: agent pid ${agent.pid}, ${url}, namespace ${ns}\n${start}\n`);
  if (!/attribution="?on/.test(start))
    process.stdout.write('soak: WARNING attribution is not on (see above)\n');

  const seconds = Math.round(o.minutes * 60);
  const storm = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      join(ROOT, 'bench/soak-storm.mjs'),
      '--seconds',
      String(seconds),
      '--seed',
      String(o.seed),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], detached: true },
  );
  const stormRes = trackProcess(storm.pid, 'storm');
  let stormOut = '';
  storm.stdout.on('data', (d) => {
    stormOut += d;
  });

  // A dashboard (data every 2 s) and a Prometheus (metrics every 10 s) read while the storms run.
  const rss = [];
  const api = { requests: 0, failures: 0 };
  const hz = clockTicks();
  const t0 = Date.now();
  const cpu0 = readStat(agent.pid);
  let nextMetrics = 0;
  const chart = `netns_${ns.replace(/[^A-Za-z0-9_]/g, '_')}.tcphandshake`;
  while (Date.now() - t0 < seconds * 1000) {
    const el = (Date.now() - t0) / 1000;
    const kb = readStatusKb(agent.pid);
    if (kb.rss === 0) throw new Error(`the agent died:\n${log.slice(-4000)}`);
    if (rss.length === 0 || el - rss[rss.length - 1].s >= 5) {
      // The machine's load next to each RSS sample: lateness on a busy machine is mostly waiting for a CPU.
      const load = Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0]);
      rss.push({ s: round(el, 1), kb: kb.rss, load });
    }
    try {
      api.requests++;
      const r = await get(url, `/api/v1/data?chart=${chart}&after=-600&points=300&format=json`);
      if (r.status !== 200) api.failures++;
      if (el >= nextMetrics) {
        nextMetrics = el + 10;
        api.requests++;
        if ((await get(url, '/metrics')).status !== 200) api.failures++;
      }
    } catch {
      api.failures++;
    }
    if (Math.floor(el) % 60 === 0 && el - Math.floor(el) < 2)
      process.stdout.write(
        `soak: ${Math.floor(el / 60)} of ${o.minutes} min, RSS ${(kb.rss / 1024).toFixed(1)} MB\n`,
      );
    await sleep(2000);
  }
  const cpu1 = readStat(agent.pid);
  let status = null;
  try {
    status = JSON.parse((await get(url, '/api/rstwatch/status')).body);
  } catch {
    // reported as null
  }
  storm.stdin.end();
  await waitFor(() => storm.exitCode !== null, 15_000, 'the storm generator').catch(() => {});
  untrack(stormRes);
  const exit = await new Promise((resolve) => {
    agent.on('close', (code) => resolve(code));
    agent.kill('SIGTERM');
  });
  untrack(agentRes);
  writeFileSync(join(dir, 'agent.log'), log);
  const runInfo = {
    startedAt: new Date(t0).toISOString(),
    minutes: o.minutes,
    warmupMinutes: o.warmupMinutes,
    seed: o.seed,
    cpus: cpus().length,
    namespace: ns,
    agentExit: exit,
    rss,
    api,
    cpuSecondsPerHour:
      ((cpu1.utime + cpu1.stime - cpu0.utime - cpu0.stime) / hz / ((Date.now() - t0) / 1000)) * 3600,
    storm: stormOut.trim() ? JSON.parse(stormOut.trim().split('\n').pop()) : null,
    attribution: status?.attribution ?? null,
  };
  writeFileSync(join(dir, 'run.json'), JSON.stringify(runInfo, null, 1));
}

/** Everything from the files a run left in `dir`. */
async function analyze(dir) {
  const runInfo = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  const { readCounterDump, replayCounterDump } = await import(join(ROOT, 'dist/agent/counter-dump.js'));
  const dump = readCounterDump(join(dir, 'counters.jsonl'));

  // Lateness: every tick's distance from its boundary; a boundary without a tick is a missed sample.
  const late = dump.ticks.map((k) => k.t - k.b).sort((a, b) => a - b);
  let missed = 0;
  for (let i = 1; i < dump.ticks.length; i++) {
    const step = dump.ticks[i].b - dump.ticks[i - 1].b;
    if (step > 1000) missed += Math.round(step / 1000) - 1;
  }
  const lateness = {
    ticks: late.length,
    maxMs: late[late.length - 1],
    p99Ms: percentileSorted(late, 99),
    p50Ms: percentileSorted(late, 50),
    over100ms: late.filter((v) => v > LATE_MS).length,
    missed,
  };

  // RSS: the median of a window right after the warm-up against the median of the last window (a tenth
  // of the measured time, 1–10 min): a single sample swings by tens of MB with the garbage collector.
  const w = runInfo.warmupMinutes * 60;
  const end = runInfo.rss.length > 0 ? runInfo.rss[runInfo.rss.length - 1].s : 0;
  const win = Math.min(600, Math.max(60, (end - w) / 10));
  const afterWarm = runInfo.rss.filter((p) => p.s >= w && p.s < w + win).map((p) => p.kb);
  const last = runInfo.rss.filter((p) => p.s >= end - win).map((p) => p.kb);
  const all = runInfo.rss.filter((p) => p.s >= w).map((p) => p.kb);
  const rss = {
    windowSeconds: win,
    afterWarmupMB: median(afterWarm) / 1024,
    endMB: median(last) / 1024,
    growthMB: (median(last) - median(afterWarm)) / 1024,
    maxMB: Math.max(...all) / 1024,
  };
  const loads = runInfo.rss.map((p) => p.load).filter((v) => Number.isFinite(v));
  const machine = {
    cpus: runInfo.cpus ?? null,
    loadAvg1mMean: loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length),
    loadAvg1mMax: Math.max(...loads),
  };

  // The alert log against the replay, entry by entry in unique-id order.
  const db = new Database(join(dir, 'data/history.db'), { readonly: true });
  const rows = db.prepare('SELECT entry FROM health_log ORDER BY unique_id').all();
  db.close();
  const parse = (t) => JSON.parse(t, (_k, v) => (v === null ? Number.NaN : v));
  const agentLog = rows.map((r) => {
    const e = parse(r.entry);
    return {
      when: e.when,
      chart: e.chart,
      name: e.name,
      oldStatus: e.oldStatus,
      newStatus: e.newStatus,
      oldValue: e.oldValue,
      newValue: e.newValue,
      delay: e.delay,
    };
  });
  const replay = replayCounterDump(dump);
  const same = (a, b) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  let firstDiff = -1;
  const n = Math.max(agentLog.length, replay.length);
  for (let i = 0; i < n && firstDiff < 0; i++) {
    const a = agentLog[i];
    const b = replay[i];
    if (!a || !b || !Object.keys(a).every((k) => same(a[k], b[k]))) firstDiff = i;
  }
  const changes = agentLog.filter((e) => e.oldStatus >= 0 && e.newStatus >= 0 && e.oldStatus !== e.newStatus);
  const alerts = {
    agentEntries: agentLog.length,
    replayEntries: replay.length,
    transitionsBetweenStates: changes.length,
    raised: changes.filter((e) => e.newStatus >= 3).length,
    equal: firstDiff < 0,
    firstDifference:
      firstDiff < 0
        ? null
        : { index: firstDiff, agent: agentLog[firstDiff] ?? null, replay: replay[firstDiff] ?? null },
  };

  const pass = {
    lateness: lateness.maxMs <= LATE_MS && lateness.missed === 0,
    rss: rss.growthMB <= RSS_GROWTH_LIMIT_MB,
    replay: alerts.equal && alerts.transitionsBetweenStates > 0,
    agentExit: runInfo.agentExit === 0,
  };
  return { run: runInfo, machine, lateness, rss, alerts, pass, ok: Object.values(pass).every(Boolean) };
}

function report(r) {
  const rows = [
    ['measure', 'value', 'limit', 'pass'],
    ['ticks', String(r.lateness.ticks), '', ''],
    ['lateness max', `${fmt(r.lateness.maxMs, 1)} ms`, `${LATE_MS} ms`, r.pass.lateness ? 'yes' : 'NO'],
    ['lateness p99', `${fmt(r.lateness.p99Ms, 1)} ms`, '', ''],
    ['lateness p50', `${fmt(r.lateness.p50Ms, 1)} ms`, '', ''],
    ['ticks > 100 ms late', String(r.lateness.over100ms), '0', ''],
    ['missed boundaries', String(r.lateness.missed), '0', ''],
    ['RSS after warm-up', `${fmt(r.rss.afterWarmupMB, 1)} MB`, '', ''],
    ['RSS at the end', `${fmt(r.rss.endMB, 1)} MB`, '', ''],
    ['RSS growth', `${fmt(r.rss.growthMB, 2)} MB`, `${RSS_GROWTH_LIMIT_MB} MB`, r.pass.rss ? 'yes' : 'NO'],
    ['RSS max', `${fmt(r.rss.maxMB, 1)} MB`, '', ''],
    ['alert log entries (agent)', String(r.alerts.agentEntries), '', ''],
    ['alert log entries (replay)', String(r.alerts.replayEntries), '', ''],
    ['state changes / raised', `${r.alerts.transitionsBetweenStates} / ${r.alerts.raised}`, '> 0', ''],
    ['replay equal, one by one', r.alerts.equal ? 'yes' : 'NO', '', r.pass.replay ? 'yes' : 'NO'],
    ['agent CPU', `${fmt(r.run.cpuSecondsPerHour, 1)} s/h`, '', ''],
    [
      'machine load (1-min avg, mean / max)',
      `${fmt(r.machine.loadAvg1mMean, 2)} / ${fmt(r.machine.loadAvg1mMax, 2)} on ${r.machine.cpus} CPUs`,
      '',
      '',
    ],
    ['API requests (failed)', `${r.run.api.requests} (${r.run.api.failures})`, '', ''],
  ];
  if (r.run.storm) {
    rows.push(['storm attempts (refused+aborted)', `${r.run.storm.refused}+${r.run.storm.aborted}`, '', '']);
  }
  if (r.run.attribution)
    rows.push([
      'attribution events (lost)',
      `${r.run.attribution.events} (${r.run.attribution.lost})`,
      '',
      '',
    ]);
  process.stdout.write(`\n${table(rows)}\n`);
  if (!r.alerts.equal)
    process.stdout.write(`first difference: ${JSON.stringify(r.alerts.firstDifference)}\n`);
  process.stdout.write(`\nsoak: ${r.ok ? 'PASS' : 'FAIL'}\n`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let dir = o.analyze;
  if (!dir) {
    if (process.getuid?.() !== 0) throw new Error('the soak needs root (network namespace, tracefs)');
    if (!existsSync(join(ROOT, 'dist/agent/counter-dump.js'))) throw new Error('build first: npm run build');
    installSignalCleanup();
    dir = mkdtempSync(join(tmpdir(), 'rstwatch-soak-'));
    process.stdout.write(`soak: ${o.minutes} min, warm-up ${o.warmupMinutes} min, files in ${dir}\n`);
    await run(o, dir);
  }
  const r = await analyze(dir);
  report(r);
  const out = o.out || join(dir, 'result.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(r, null, 1)}\n`);
  process.stdout.write(
    `soak: result in ${out}; run folder ${dir} (kept for --analyze; delete it when done)\n`,
  );
  process.exit(r.ok ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`soak: ${err.stack ?? err}\n`);
  // The exit handler (lib.mjs) stops the agent and the storms and deletes the namespace.
  process.exit(2);
});
