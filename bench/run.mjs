#!/usr/bin/env node
// rstwatch benchmark: what the agent costs. `npm run bench` (builds first), or `node bench/run.mjs`.
//
//   1. Per-sample cost, in process: LinuxCollector.collectSync(), + Store.ingest(), the floor (reading the
//      two proc files), a 10-second history flush. Median and p99 in µs, median over rounds.
//   2. Agent cost over a window (default 300 s): `rstwatch agent` and Netdata (a fair peer, see
//      bench/netdata.mjs and docs/benchmarks.md) side by side under a bounded reset load; CPU % of one
//      core, peak RSS, RSS growth, per-second CPU pattern.
//   3. Alert evaluation cost (bench/health-cost.mjs): every stock Netdata health file loaded (parse +
//      compile time), µs per alert per iteration in a hot loop (the alerts that bind, and every stock
//      alert rebound to ip.tcphandshake), per alert kind, and the same file in Netdata's health engine and
//      ours over one window at the real once-a-second cadence (Netdata's HEALTH thread CPU per evaluation).
//   4. Reset attribution (bench/attribution-cost.mjs): RST storms of 10k/50k/100k per s in a namespace, the
//      share of the kernel's OutRsts attribution saw, agent CPU and peak RSS; idle cost with it on and off.
//   5. API latency (bench/api-cost.mjs): /api/v1/data over 24 h of per-second history and /metrics, 20
//      concurrent clients on loopback, paced and back to back; p50/p99 against the targets.
//   7. Capture analysis (bench/analyze-cost.mjs): `rstwatch analyze` on a ≥ 1 GB pcap of real loopback
//      traffic (bench/make-big-pcap.sh) against tcpdump, tshark and cat, interleaved rounds, medians; RST
//      count checked against tshark; where the time goes (rstwatch's reader alone, its reader + decoder
//      counting RSTs, the analysis on one thread: bench/analyze-stages.mjs); peak RSS on 3× the input and
//      on a synthetic SYN scan.
//   6. Dashboard first load (bench/dashboard-cost.mjs): Chromium opens the dashboard of a real agent, fresh
//      context each round; time to the first chart drawn against the 1-s target, and where it goes.
//
// Options (environment in brackets):
//   --seconds N      window length [BENCH_SECONDS] (default 300)
//   --quick          30-s window, fewer iterations
//   --warmup N       seconds between start and the window (default 20; 10 with --quick)
//   --rounds N       rounds of parts 1 and 3, sub-windows of part 2 (default 5)
//   --iterations N   timed calls per round in part 1 (default 20000)
//   --load netns|host  where the reset load runs [BENCH_LOAD] (default netns)
//   --rate N         refused connects per second (default 50); --abort-rate N resets/s (default 10)
//   --no-netdata     measure rstwatch alone (and no peer in part 3)
//   --sample-only / --window-only / --health-only: one part only; --no-health: skip part 3
//   --health-seconds N  the window of part 3's peer comparison (default 60; 30 with --quick)
//   --attribution-only: part 4 only; --no-attribution: skip it; --attribution-seconds N per storm (30; 10 quick)
//   --api-only: part 5 only; --no-api: skip it
//   --analyze-only: part 7 only; --no-analyze: skip it; --tshark-rounds N (default 1: ~1 min, ~3 GB each)
//   --dashboard-only: part 6 only; --no-dashboard: skip it
// Prints a human-readable report, then one line `BENCH_JSON {...}`. Exit 0 unless the bench itself failed:
// the targets are reported, not asserted.

import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAgentCost } from './agent-cost.mjs';
import { analyzeJson, printAnalyze, runAnalyzeCost } from './analyze-cost.mjs';
import { apiJson, printApi, runApiCost } from './api-cost.mjs';
import { runAttributionCost } from './attribution-cost.mjs';
import { dashboardJson, printDashboard, runDashboardCost } from './dashboard-cost.mjs';
import { runHealthCost } from './health-cost.mjs';
import { cleanupSync, fmt, installSignalCleanup, round, table } from './lib.mjs';
import { runSampleCost } from './sample-cost.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = { cpuPct: 0.5, peakRssMb: 80, sampleUs: 200, alertUs: 20 };

function usage(msg) {
  process.stderr.write(`bench: ${msg}\n(see the header of bench/run.mjs for the options)\n`);
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      iterations: { type: 'string' },
      load: { type: 'string' },
      rate: { type: 'string', default: '50' },
      'abort-rate': { type: 'string', default: '10' },
      'no-netdata': { type: 'boolean', default: false },
      'sample-only': { type: 'boolean', default: false },
      'window-only': { type: 'boolean', default: false },
      'health-only': { type: 'boolean', default: false },
      'no-health': { type: 'boolean', default: false },
      'health-seconds': { type: 'string' },
      'attribution-only': { type: 'boolean', default: false },
      'no-attribution': { type: 'boolean', default: false },
      'api-only': { type: 'boolean', default: false },
      'no-api': { type: 'boolean', default: false },
      'analyze-only': { type: 'boolean', default: false },
      'no-analyze': { type: 'boolean', default: false },
      'tshark-rounds': { type: 'string' },
      'dashboard-only': { type: 'boolean', default: false },
      'no-dashboard': { type: 'boolean', default: false },
      'attribution-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    const head = readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 39);
    process.stdout.write(`${head.map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n`);
    process.exit(0);
  }
  const int = (v, name, min, max) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) usage(`${name} must be an integer in ${min}..${max}`);
    return n;
  };
  const secondsText = values.seconds ?? process.env.BENCH_SECONDS;
  const seconds =
    secondsText !== undefined ? int(secondsText, '--seconds', 5, 3600) : values.quick ? 30 : 300;
  const load = values.load ?? process.env.BENCH_LOAD ?? 'netns';
  if (load !== 'netns' && load !== 'host') usage('--load must be netns or host');
  return {
    seconds,
    quick: values.quick,
    warmup: values.warmup !== undefined ? int(values.warmup, '--warmup', 0, 600) : values.quick ? 10 : 20,
    rounds: values.rounds !== undefined ? int(values.rounds, '--rounds', 1, 50) : 5,
    iterations:
      values.iterations !== undefined
        ? int(values.iterations, '--iterations', 100, 1_000_000)
        : values.quick
          ? 5000
          : 20_000,
    load,
    rate: int(values.rate, '--rate', 0, 500),
    abortRate: int(values['abort-rate'], '--abort-rate', 0, 100),
    netdata: !values['no-netdata'],
    analyzeOnly: values['analyze-only'],
    analyze:
      !values['no-analyze'] &&
      !['sample-only', 'window-only', 'health-only', 'attribution-only', 'api-only', 'dashboard-only'].some(
        (k) => values[k],
      ),
    tsharkRounds:
      values['tshark-rounds'] !== undefined ? int(values['tshark-rounds'], '--tshark-rounds', 0, 10) : 1,
    dashboardOnly: values['dashboard-only'],
    dashboard:
      !values['no-dashboard'] &&
      !['sample-only', 'window-only', 'health-only', 'attribution-only', 'api-only'].some((k) => values[k]),
    sample:
      !values['window-only'] && !values['health-only'] && !values['attribution-only'] && !values['api-only'],
    window:
      !values['sample-only'] && !values['health-only'] && !values['attribution-only'] && !values['api-only'],
    health:
      !values['sample-only'] &&
      !values['window-only'] &&
      !values['no-health'] &&
      !values['attribution-only'] &&
      !values['api-only'],
    attribution:
      !values['sample-only'] &&
      !values['window-only'] &&
      !values['health-only'] &&
      !values['no-attribution'] &&
      !values['api-only'],
    api:
      !values['sample-only'] &&
      !values['window-only'] &&
      !values['health-only'] &&
      !values['attribution-only'] &&
      !values['no-api'],
    attributionSeconds:
      values['attribution-seconds'] !== undefined
        ? int(values['attribution-seconds'], '--attribution-seconds', 5, 600)
        : values.quick
          ? 10
          : 30,
    healthSeconds:
      values['health-seconds'] !== undefined
        ? int(values['health-seconds'], '--health-seconds', 10, 600)
        : values.quick
          ? 30
          : 60,
  };
}

const log = (s) => process.stderr.write(`${s}\n`);
const mb = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} MB` : '–');
const pct = (v, d = 3) => (Number.isFinite(v) ? `${v.toFixed(d)} %` : '–');
const pct2 = (v) => pct(v, 2);
const us = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} µs` : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN);
const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

function printSample(s) {
  const rows = [['case', 'median', 'p99', 'round medians (min…max)']];
  for (const c of Object.values(s.cases)) {
    rows.push([
      c.label,
      us(c.medianUs),
      us(c.p99Us),
      `${fmt(c.minRoundMedianUs, 1)}…${fmt(c.maxRoundMedianUs, 1)}`,
    ]);
  }
  console.log(
    `\n## 1. Per-sample cost (in process, ${s.iterations} calls × ${s.rounds} rounds; flush: ${s.flushIterations} × ${s.rounds})\n`,
  );
  console.log(table(rows));
  console.log(
    `\nours / floor: collectSync ${x(s.ratioCollectToFloor)}, collectSync + ingest ${x(s.ratioCollectIngestToFloor)}` +
      `  (${s.counters} counters parsed, ${s.series} series fed)`,
  );
  const c = s.cases.collectIngest;
  console.log(
    `target one sample ≤ ${TARGETS.sampleUs} µs: median ${us(c.medianUs)}, p99 ${us(c.p99Us)} → ` +
      `${c.medianUs <= TARGETS.sampleUs ? 'within' : 'OVER'} (median)` +
      `${c.p99Us <= TARGETS.sampleUs ? '' : '; the p99 is over'}`,
  );
}

function printWindow(w) {
  const r = w.rstwatch;
  const n = w.netdata;
  const z = w.nodeIdle;
  const has = Boolean(n);
  // withRatio false: a ratio of two growths or of process counts means nothing.
  const row = (label, get, f, withRatio = true) => {
    const a = get(r);
    const line = [label, f(a)];
    if (has) line.push(f(get(n)), withRatio ? x(ratio(a, get(n))) : '–');
    line.push(f(get(z)));
    return line;
  };
  const rows = [
    has
      ? ['metric', 'rstwatch', 'netdata', 'ratio (rstwatch/netdata)', 'bare node timer']
      : ['metric', 'rstwatch', 'bare node timer'],
  ];
  rows.push(row('CPU % of one core (whole window)', (m) => m.cpuPct, pct));
  rows.push(row(`CPU % of one core (median of ${w.rounds} sub-windows)`, (m) => m.cpuPctRoundsMedian, pct));
  rows.push(
    row(
      '  of which user / system',
      (m) => [m.cpuUserPct, m.cpuSystemPct],
      (v) => `${fmt(v[0], 3)} / ${fmt(v[1], 3)}`,
      false,
    ),
  );
  rows.push(row('CPU % (thread schedstat, cross-check)', (m) => m.cpuPctSchedstat, pct));
  rows.push(row('CPU time per second of wall time', (m) => m.cpuUsPerSecond, us));
  rows.push(row('1-s CPU %: p95', (m) => m.perSecondCpuPct.p95, pct2));
  rows.push(row('1-s CPU %: max', (m) => m.perSecondCpuPct.max, pct2));
  rows.push(row('  busiest second (s into the window)', (m) => m.perSecondCpuPct.maxAt, String, false));
  rows.push(row('10-s cycle: busiest second / mean', (m) => m.tenSecondCycle.busiestOverMean, x, false));
  rows.push(row('peak RSS (VmHWM, sum over the tree)', (m) => m.peakRssMb, mb));
  rows.push(row('RSS at window start', (m) => m.startRssMb, mb));
  rows.push(row('RSS at window end', (m) => m.endRssMb, mb));
  rows.push(row('RSS growth over the window', (m) => m.rssGrowthMb, mb, false));
  rows.push(
    row(
      'RSS trend (MB per minute)',
      (m) => m.rssSlopeMbPerMin,
      (v) => fmt(v, 3),
      false,
    ),
  );
  rows.push(row('PSS at window end', (m) => m.endPssMb, mb));
  rows.push(
    row(
      'processes in the tree',
      (m) => m.processes,
      (v) => String(v),
      false,
    ),
  );
  console.log(
    `\n## 2. Agent cost over ${w.seconds} s (after ${w.warmupSeconds} s warm-up; 1-s sampling; load: ${
      w.load === 'netns' ? `namespace ${w.netns}` : 'host loopback'
    })\n`,
  );
  console.log(table(rows));
  console.log(
    `\nCPU % per sub-window: rstwatch ${r.cpuPctRounds.map((v) => fmt(v, 3)).join(' ')}` +
      (has ? `; netdata ${n.cpuPctRounds.map((v) => fmt(v, 3)).join(' ')}` : ''),
  );
  console.log(
    `per-second CPU % by second of the 10-s cycle: rstwatch ${r.tenSecondCycle.phaseMeans.map((v) => fmt(v, 2)).join(' ')}`,
  );
  if (has) {
    console.log(
      `                                             netdata  ${n.tenSecondCycle.phaseMeans.map((v) => fmt(v, 2)).join(' ')}`,
    );
  }
  console.log(
    `targets: CPU ≤ ${TARGETS.cpuPct} % → ${pct(r.cpuPct)} ${r.cpuPct <= TARGETS.cpuPct ? 'within' : 'OVER'}; ` +
      `peak RSS ≤ ${TARGETS.peakRssMb} MB → ${mb(r.peakRssMb)} ${r.peakRssMb <= TARGETS.peakRssMb ? 'within' : 'OVER'}`,
  );
  const s = w.sanity;
  console.log('\nWhat each saw (average per second over the window):');
  if (s.load) {
    console.log(
      `  load generator: ${s.load.refused ?? '?'} refused, ${s.load.resets ?? '?'} reset connections, ` +
        `${s.load.unexpected ?? '?'} unexpected, ${s.load.skipped ?? '?'} skipped (${s.load.why ?? s.load.error})`,
    );
  }
  if (s.rstwatchAttemptFails) {
    console.log(
      `  rstwatch ${s.rstwatchChart} AttemptFails: ${fmt(s.rstwatchAttemptFails.average, 2)}/s over ${s.rstwatchAttemptFails.points} points`,
    );
  }
  if (s.rstwatchError) console.log(`  rstwatch history: ${s.rstwatchError}`);
  if (s.netdataTcphandshake) {
    console.log(
      `  netdata ipv4.tcphandshake: ${Object.entries(s.netdataTcphandshake)
        .map(([k, v]) => `${k} ${fmt(v, 2)}/s`)
        .join(', ')}`,
    );
  }
  if (s.netdataCharts) {
    console.log(
      `  netdata keeps ${s.netdataCharts.charts.length} charts, ${s.netdataCharts.dimensions} dimensions: ${s.netdataCharts.charts.join(' ')}`,
    );
  }
  if (s.netdataSettings) {
    const e = s.netdataSettings;
    console.log(
      `  netdata effective settings: plugins [${e.plugins.join(', ')}], proc modules [${e.procModules.join(', ')}], ` +
        `update every ${e.updateEvery}, db ${e.dbMode} (${e.storageTiers} tiers), health ${e.health}, web ${e.webBind}`,
    );
    if (e.unexpected.length > 0)
      console.log(`  WARNING: netdata runs more than the peer should: ${e.unexpected.join(', ')}`);
  }
  if (s.netdataError) console.log(`  netdata queries failed: ${s.netdataError}`);
  console.log(
    `  stop: rstwatch ${w.rstwatchStop.code ?? w.rstwatchStop.signal} in ${fmt(w.rstwatchStop.ms, 0)} ms` +
      (w.netdataStop
        ? `, netdata ${w.netdataStop.code ?? w.netdataStop.signal} in ${fmt(w.netdataStop.ms, 0)} ms`
        : ''),
  );
  if (w.rstwatchWarnings.length > 0)
    console.log(`  rstwatch warnings:\n    ${w.rstwatchWarnings.join('\n    ')}`);
}

const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '–');

function printHealth(h) {
  const l = h.loading;
  console.log(
    `\n## 3. Alert evaluation cost (in process; ${l.files} files: every stock Netdata health file + shipped)\n`,
  );
  const lrows = [['loading', 'first call (cold)', `median of ${h.loadRepeats} (warm)`]];
  for (const c of Object.values(l.cases)) lrows.push([c.label, ms(c.coldMs), ms(c.medianMs)]);
  console.log(table(lrows));
  console.log(
    `\n${l.parsed} alerts parsed, ${l.alerts} compiled (stock tcp_resets.conf replaces the shipped one of that name), ` +
      `${l.errors} errors, ${l.warnings} warnings`,
  );
  const rows = [
    [
      'case',
      'alerts',
      'µs per alert (median)',
      'p99',
      `target ${TARGETS.alertUs} µs`,
      'iterate() median',
      'transitions / iteration',
    ],
  ];
  for (const c of Object.values(h.cases)) {
    rows.push([
      c.label,
      c.bound === c.loaded ? String(c.bound) : `${c.bound} of ${c.loaded}`,
      us(c.medianUs),
      us(c.p99Us),
      c.medianUs <= TARGETS.alertUs ? 'within' : 'OVER',
      us(c.iterationMedianUs),
      fmt(c.transitionsPerIteration, 2),
    ]);
  }
  console.log(
    `\nHot loop: a store with 1 h of simulated per-second counters, now += the longest every (10 s) per ` +
      `iteration so every bound alert runs each time; ${h.rounds} rounds (iterations per round: ` +
      `${Object.values(h.cases)
        .map((c) => c.iterations)
        .join(', ')})\n`,
  );
  console.log(table(rows));
  console.log(`bound in (a): ${h.boundNames.join(', ')}`);
  const p = h.perAlert;
  console.log(
    `\nEach of the ${p.alerts} stress alerts alone in its engine (${p.iterations} iterations, median): ` +
      `mean ${us(p.meanOfMediansUs)}, ${p.over20} over ${TARGETS.alertUs} µs, ${p.notEvaluated} not evaluated; ` +
      `empty engine ${us(p.emptyEngineUs)}; ≈ ${fmt(p.nsPerPoint, 1)} ns per point a lookup reads ` +
      `+ ${us(p.interceptUs)}\n`,
  );
  const brows = [['kind', 'alerts', 'median', 'slowest']];
  for (const b of p.buckets) brows.push([b.label, String(b.alerts), us(b.medianUs), us(b.maxUs)]);
  console.log(table(brows));
  console.log(
    `slowest: ${p.slowest.map((r) => `${r.name} (${r.lookup || 'calc'}: ${fmt(r.medianUs, 1)} µs)`).join('; ')}`,
  );
  const peer = h.peer;
  if (!peer || peer.skipped) {
    console.log(`\nPeer (Netdata's health engine): skipped — ${peer?.skipped ?? 'not run'}`);
    return;
  }
  console.log(
    `\nThe stress file in Netdata ${peer.netdataVersion ?? '?'} and in ours, once a second, over the same ` +
      `${peer.seconds} s (after ${peer.warmupSeconds} s): Netdata's HEALTH thread CPU vs our iterate() time\n`,
  );
  const n = peer.netdata;
  const prow = (label, m, alerts, withRatio) => [
    label,
    String(alerts),
    `${m.evaluations} (${m.evaluatedAlarms})`,
    us(m.us ?? m.cpuUs),
    us((m.us ?? m.cpuUs) / peer.seconds),
    us(m.usPerEvaluation),
    withRatio ? x(ratio(m.usPerEvaluation, n.usPerEvaluation)) : '–',
    m.idleCalls === undefined ? '–' : `${m.idleCalls} × ${fmt(m.idleUsPerCall, 1)} µs`,
    us(m.usPerEvaluationBusy),
    m.us === undefined ? '–' : us(m.cpuUs),
  ];
  const prows = [
    [
      'engine',
      'alerts',
      'evaluations (alerts)',
      'time',
      'per second',
      'µs per evaluation',
      'ratio to netdata',
      'idle seconds',
      'µs per evaluation, busy seconds',
      'CPU (rusage)',
    ],
    prow('netdata HEALTH thread (stress file)', n, peer.netdataAlarms, false),
    prow('rstwatch HealthEngine (stress file)', peer.engine, peer.engine.alerts, true),
    prow('  + the agent’s SQLite persistence', peer.engineDb, peer.engineDb.alerts, true),
    prow('rstwatch, (a) bound alerts', peer.agentSet, peer.agentSet.alerts, false),
    prow('  + the agent’s SQLite persistence', peer.agentSetDb, peer.agentSetDb.alerts, false),
  ];
  console.log(table(prows));
  const a = peer.statusAgreement;
  console.log(
    `statuses at the end: ${a.agree} of ${a.compared} alarms evaluated by both agree; ` +
      `${a.differWithLookup} of the others have a lookup (the rest read the last second's values, ` +
      `which the two engines read at different moments)` +
      (a.differ.length > 0
        ? ` (differ: ${a.differ.slice(0, 6).join('; ')}${a.differ.length > 6 ? '; …' : ''})`
        : ''),
  );
}

function jsonSummary(o, sample, window, health) {
  const pick = (m) =>
    m && {
      cpuPct: round(m.cpuPct, 4),
      cpuPctRoundsMedian: round(m.cpuPctRoundsMedian, 4),
      cpuPctRounds: m.cpuPctRounds.map((v) => round(v, 4)),
      cpuPctSchedstat: round(m.cpuPctSchedstat, 4),
      cpuUserPct: round(m.cpuUserPct, 4),
      cpuSystemPct: round(m.cpuSystemPct, 4),
      perSecondCpuPctP95: round(m.perSecondCpuPct.p95, 3),
      perSecondCpuPctMax: round(m.perSecondCpuPct.max, 3),
      perSecondCpuPctMaxAt: m.perSecondCpuPct.maxAt,
      tenSecondCycleBusiestOverMean: round(m.tenSecondCycle.busiestOverMean, 2),
      peakRssMb: round(m.peakRssMb, 1),
      startRssMb: round(m.startRssMb, 1),
      endRssMb: round(m.endRssMb, 1),
      rssGrowthMb: round(m.rssGrowthMb, 2),
      rssSlopeMbPerMin: round(m.rssSlopeMbPerMin, 4),
      endPssMb: round(m.endPssMb, 1),
      processes: m.processes,
    };
  const out = {
    bench: 'rstwatch-agent-cost',
    version: 1,
    time: new Date().toISOString(),
    machine: { kernel: release(), cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    options: o,
    targets: TARGETS,
  };
  if (sample) {
    out.sampleCost = {
      iterations: sample.iterations,
      rounds: sample.rounds,
      cases: Object.fromEntries(
        Object.entries(sample.cases).map(([k, c]) => [
          k,
          { medianUs: round(c.medianUs, 2), p99Us: round(c.p99Us, 2) },
        ]),
      ),
      ratioCollectToFloor: round(sample.ratioCollectToFloor, 2),
      ratioCollectIngestToFloor: round(sample.ratioCollectIngestToFloor, 2),
      withinTarget: sample.cases.collectIngest.medianUs <= TARGETS.sampleUs,
    };
  }
  if (window) {
    const r = window.rstwatch;
    const n = window.netdata;
    out.window = {
      seconds: window.seconds,
      warmupSeconds: window.warmupSeconds,
      load: window.load,
      netdataVersion: window.netdataVersion ?? null,
      rstwatch: pick(r),
      netdata: pick(n) ?? null,
      nodeIdle: pick(window.nodeIdle),
      ratio: n
        ? {
            cpuPct: round(ratio(r.cpuPct, n.cpuPct), 3),
            peakRssMb: round(ratio(r.peakRssMb, n.peakRssMb), 3),
            endRssMb: round(ratio(r.endRssMb, n.endRssMb), 3),
          }
        : null,
      withinTarget: { cpuPct: r.cpuPct <= TARGETS.cpuPct, peakRssMb: r.peakRssMb <= TARGETS.peakRssMb },
      sanity: {
        load: window.sanity.load,
        rstwatchAttemptFailsPerSec: round(window.sanity.rstwatchAttemptFails?.average, 2),
        netdataTcphandshake: window.sanity.netdataTcphandshake ?? null,
        netdataCharts: window.sanity.netdataCharts?.charts.length ?? null,
        netdataDimensions: window.sanity.netdataCharts?.dimensions ?? null,
        netdataUnexpected: window.sanity.netdataSettings?.unexpected ?? null,
      },
      rstwatchStopCode: window.rstwatchStop.code,
    };
  }
  if (health) {
    const r2 = (v) => round(v, 2);
    const peer = health.peer;
    const pm = (m) =>
      m && {
        evaluations: m.evaluations,
        alerts: m.evaluatedAlarms,
        us: r2(m.us ?? m.cpuUs),
        usPerEvaluation: r2(m.usPerEvaluation),
        usPerEvaluationBusy: r2(m.usPerEvaluationBusy),
        idleCalls: m.idleCalls,
        idleUsPerCall: r2(m.idleUsPerCall),
      };
    out.healthCost = {
      rounds: health.rounds,
      loading: {
        files: health.loading.files,
        parsed: health.loading.parsed,
        alerts: health.loading.alerts,
        errors: health.loading.errors,
        cases: Object.fromEntries(
          Object.entries(health.loading.cases).map(([k, c]) => [
            k,
            { coldMs: r2(c.coldMs), medianMs: r2(c.medianMs) },
          ]),
        ),
      },
      cases: Object.fromEntries(
        Object.entries(health.cases).map(([k, c]) => [
          k,
          {
            alerts: c.bound,
            loaded: c.loaded,
            iterations: c.iterations,
            medianUs: r2(c.medianUs),
            p99Us: r2(c.p99Us),
            iterationMedianUs: r2(c.iterationMedianUs),
            transitionsPerIteration: r2(c.transitionsPerIteration),
          },
        ]),
      ),
      perAlert: {
        meanUs: r2(health.perAlert.meanOfMediansUs),
        over20: health.perAlert.over20,
        nsPerPoint: r2(health.perAlert.nsPerPoint),
        buckets: health.perAlert.buckets.map((b) => ({ ...b, medianUs: r2(b.medianUs), maxUs: r2(b.maxUs) })),
        slowest: health.perAlert.slowest.map((r) => ({
          name: r.name,
          lookup: r.lookup,
          medianUs: r2(r.medianUs),
        })),
      },
      peer: peer.skipped
        ? { skipped: peer.skipped }
        : {
            seconds: peer.seconds,
            netdataVersion: peer.netdataVersion ?? null,
            netdata: pm(peer.netdata),
            rstwatch: pm(peer.engine),
            rstwatchPersist: pm(peer.engineDb),
            agentSet: pm(peer.agentSet),
            agentSetPersist: pm(peer.agentSetDb),
            ratio: r2(peer.ratio),
            ratioPersist: r2(peer.ratioDb),
            statusAgreement: {
              compared: peer.statusAgreement.compared,
              agree: peer.statusAgreement.agree,
              differWithLookup: peer.statusAgreement.differWithLookup,
            },
          },
      withinTarget: health.cases.agent.medianUs <= TARGETS.alertUs,
    };
  }
  return out;
}

/** Part 4 (bench/attribution-cost.mjs); targets from issue 5. */
function printAttribution(a) {
  console.log('\n## 4. Reset attribution (tracepoints, agent in a child process)\n');
  if (a.skipped) {
    console.log(`skipped: ${a.skipped}`);
    return;
  }
  const rows = [
    [
      'target RST/s',
      'achieved',
      'kernel OutRsts',
      'attributed',
      'seen',
      'lost in kernel',
      'agent CPU',
      'peak RSS',
      'generator CPU',
    ],
  ];
  for (const s of a.storms) {
    rows.push([
      String(s.targetRate),
      String(Math.round(s.achievedRate)),
      String(s.kernelOutRsts),
      String(s.attributed),
      pct(100 * s.seenFraction, 3),
      String(s.lostInKernel ?? '–'),
      pct2(s.cpuPct),
      mb(s.peakRssMb),
      s.generatorCpuPct == null ? '–' : pct2(s.generatorCpuPct),
    ]);
  }
  console.log(table(rows));
  if (a.generatorDescription) console.log(`generator: ${a.generatorDescription}`);
  console.log(
    `\nidle, attribution on: ${pct(a.idle?.cpuPct)} of one core; off: ${pct(a.idleWithout?.cpuPct)}` +
      ' (targets: ≥ 99 % seen at 50k/s, ≤ 100 % CPU, ≤ 150 MB, idle ≤ 0.5 %)',
  );
}

async function main() {
  const o = options();
  if (o.dashboardOnly) o.sample = o.window = o.health = o.attribution = o.api = false;
  if (o.analyzeOnly) o.sample = o.window = o.health = o.attribution = o.api = o.dashboard = false;
  installSignalCleanup();
  try {
    readFileSync(join(ROOT, 'dist/collect/linux.js'));
  } catch {
    usage('dist/ is missing: run `npm run build` first (npm run bench does)');
  }
  console.log(`# rstwatch agent benchmark — ${new Date().toISOString()}`);
  console.log(
    `kernel ${release()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
  );

  let sample;
  let window;
  let health;
  if (o.sample) {
    log('part 1: per-sample cost');
    sample = await runSampleCost({
      iterations: o.iterations,
      rounds: o.rounds,
      warmup: 2000,
      netns: true,
      log,
    });
    printSample(sample);
  }
  if (o.window) {
    log(`\npart 2: agent cost over ${o.seconds} s (+${o.warmup} s warm-up)`);
    window = await runAgentCost({
      seconds: o.seconds,
      warmup: o.warmup,
      rounds: o.rounds,
      load: o.load,
      rate: o.rate,
      abortRate: o.abortRate,
      netdata: o.netdata,
      log,
    });
    printWindow(window);
  }
  if (o.health) {
    log('\npart 3: alert evaluation cost');
    health = await runHealthCost({
      rounds: o.rounds,
      budgetMs: o.quick ? 40 : 120,
      loadRepeats: o.quick ? 5 : 20,
      perAlertIterations: o.quick ? 15 : 40,
      peer: o.netdata,
      seconds: o.healthSeconds,
      warmup: o.quick ? 15 : 20,
      log,
    });
    printHealth(health);
  }
  let attribution;
  if (o.attribution) {
    log('\npart 4: reset attribution cost');
    attribution = await runAttributionCost({
      seconds: o.attributionSeconds,
      idleSeconds: o.attributionSeconds,
      log,
    });
    printAttribution(attribution);
  }
  let api;
  if (o.api) {
    log('\npart 5: API latency');
    api = await runApiCost({
      secondsPerCase: o.quick ? 5 : 10,
      concurrency: 20,
      requests: 2000,
      intervalMs: 100,
      log,
    });
    printApi(api);
  }
  let dashboard;
  if (o.dashboard) {
    log('\npart 6: dashboard first load');
    dashboard = await runDashboardCost({ rounds: o.quick ? 5 : 10, warmupSeconds: o.quick ? 10 : 20, log });
    printDashboard(dashboard);
  }
  let analyze;
  if (o.analyze) {
    log('\npart 7: capture analysis');
    analyze = await runAnalyzeCost({
      rounds: o.rounds,
      tsharkRounds: o.tsharkRounds,
      copies: 3,
      scanProbes: 2_000_000,
      log,
    });
    printAnalyze(analyze, table);
  }
  cleanupSync();
  const summary = jsonSummary(o, sample, window, health);
  if (analyze) summary.analyzeCost = analyzeJson(analyze);
  if (dashboard) summary.dashboard = dashboardJson(dashboard);
  if (attribution) summary.attribution = attribution;
  if (api) summary.apiCost = apiJson(api);
  console.log(`\nBENCH_JSON ${JSON.stringify(summary)}`);
}

main().catch((err) => {
  process.stderr.write(`bench: failed: ${err?.stack ?? err}\n`);
  cleanupSync();
  process.exitCode = 1;
});
