// Part 2: what the running agent costs over a window, next to Netdata doing the same job in the same window.
//
// Both run at 1-second sampling, each with its own temporary folders. A bounded reset load runs on
// 127.0.0.1 of a network namespace the bench creates (default, --load netns): Netdata is started inside
// that namespace (`ip netns exec`), so its /proc/net/* are the namespace's; rstwatch runs in the host and
// watches the namespace with `--netns` (the way it is deployed), so it reads the host's files too: it
// does slightly more work than Netdata. With --load host the load runs on the host's loopback and both
// watch only the host namespace.
//
// For each process tree (Netdata spawns helper processes: every descendant is counted) we read /proc
// once a second: CPU time from /proc/<pid>/stat (utime+stime, plus cutime+cstime of reaped children),
// VmRSS and VmHWM from /proc/<pid>/status, and thread runtimes from schedstat for the per-second series.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartDefs, instantiate } from '../dist/model/charts.js';
import { alive, killTree, median, sleep, trackDir, trackNetns, trackProcess, untrack } from './lib.mjs';
import {
  effectiveSettings,
  NETDATA_BIN,
  netdataAverage,
  netdataCharts,
  netdataCommand,
  netdataVersion,
  prepareNetdata,
} from './netdata.mjs';
import { clockTicks, snapshotTree } from './proc-tree.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Start a process in its own process group, tracked for cleanup; stderr/stdout kept (bounded) for errors. */
function start(label, cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? ROOT,
  });
  const tracked = trackProcess(child.pid, label);
  const out = { stdout: '', stderr: '' };
  const keep = (k) => (d) => {
    out[k] += d.toString();
    if (out[k].length > 256 * 1024) out[k] = out[k].slice(-128 * 1024);
  };
  child.stdout.on('data', keep('stdout'));
  child.stderr.on('data', keep('stderr'));
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('error', (err) => resolve({ code: null, signal: null, error: err.message }));
  });
  return { label, child, pid: child.pid, out, exited, tracked };
}

async function waitFor(what, fn, timeoutMs, everyMs = 250) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      if (await fn()) return;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** Stop: SIGTERM, up to graceMs, then SIGKILL to the whole tree. Returns how it ended. */
async function stop(p, graceMs) {
  const t0 = performance.now();
  if (p.child.exitCode === null && p.child.signalCode === null) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  const timeout = sleep(graceMs).then(() => 'timeout');
  const r = await Promise.race([p.exited, timeout]);
  const ms = performance.now() - t0;
  if (r === 'timeout') {
    killTree(p.pid, 'SIGKILL');
    await p.exited;
  }
  // Whatever it left behind (helper processes) goes too.
  if (alive(p.pid)) killTree(p.pid, 'SIGKILL');
  untrack(p.tracked);
  return r === 'timeout' ? { code: null, signal: 'SIGKILL (did not stop in time)', ms } : { ...r, ms };
}

function closedPort() {
  // A port on 127.0.0.1 nothing listens on: connecting must be refused.
  const tryPort = (port) =>
    new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
      s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
      s.on('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
  return (async () => {
    for (const p of [9, 47_813, 51_234, 58_901]) if (await tryPort(p)) return p;
    throw new Error('no closed port found on 127.0.0.1 for the load');
  })();
}

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

/** Linear least-squares slope of y over x. */
function slope(xs, ys) {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** Everything we report for one tree, from its per-second snapshots (first = window start, last = end). */
function metrics(samples, rounds) {
  const hz = clockTicks();
  const first = samples[0];
  const last = samples[samples.length - 1];
  const wallS = (last.t - first.t) / 1000;
  const cpuPct = ((last.ticks - first.ticks) / hz / wallS) * 100;
  const cpuPctSched = ((last.schedNs - first.schedNs) / 1e9 / wallS) * 100;
  const cpuUserPct = ((last.userTicks - first.userTicks) / hz / wallS) * 100;
  // Rounds: the window cut in equal parts, CPU % of each.
  const roundPct = [];
  for (let r = 0; r < rounds; r++) {
    const a = samples[Math.round((r * (samples.length - 1)) / rounds)];
    const b = samples[Math.round(((r + 1) * (samples.length - 1)) / rounds)];
    const s = (b.t - a.t) / 1000;
    if (s > 0) roundPct.push(((b.ticks - a.ticks) / hz / s) * 100);
  }
  // Per second, from thread runtimes (ns resolution): spikes and the 10-s pattern of the history flush.
  const perSecond = [];
  for (let i = 1; i < samples.length; i++) {
    const s = (samples[i].t - samples[i - 1].t) / 1000;
    const d = samples[i].schedNs - samples[i - 1].schedNs;
    if (s > 0 && d >= 0) perSecond.push((d / 1e9 / s) * 100);
  }
  const sorted = [...perSecond].sort((a, b) => a - b);
  const p = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))];
  const phases = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < perSecond.length; i++) phases[i % 10].push(perSecond[i]);
  const phaseMeans = phases.map((a) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : Number.NaN));
  const mean = perSecond.reduce((a, b) => a + b, 0) / Math.max(1, perSecond.length);
  const xs = samples.map((s) => (s.t - first.t) / 60_000);
  const rssMb = samples.map((s) => s.rssKb / 1024);
  return {
    wallSeconds: wallS,
    cpuPct,
    cpuPctRoundsMedian: median(roundPct),
    cpuPctRounds: roundPct,
    cpuPctSchedstat: cpuPctSched,
    cpuUserPct,
    cpuSystemPct: cpuPct - cpuUserPct,
    cpuUsPerSecond: (cpuPct / 100) * 1e6,
    perSecondCpuPct: {
      mean,
      p50: p(50),
      p95: p(95),
      max: sorted[sorted.length - 1],
      // Seconds into the window of the busiest second.
      maxAt: perSecond.indexOf(sorted[sorted.length - 1]) + 1,
    },
    // The busiest second of each 10-s cycle against the average second: ~1 when nothing periodic shows.
    tenSecondCycle: { phaseMeans, busiestOverMean: Math.max(...phaseMeans) / mean },
    peakRssMb: Math.max(...samples.map((s) => s.hwmKb)) / 1024,
    maxSampledRssMb: Math.max(...rssMb),
    startRssMb: rssMb[0],
    endRssMb: rssMb[rssMb.length - 1],
    rssGrowthMb: rssMb[rssMb.length - 1] - rssMb[0],
    rssSlopeMbPerMin: slope(xs, rssMb),
    endPssMb: last.pssKb / 1024,
    processes: Math.max(...samples.map((s) => s.pids.length)),
    comms: [...new Set(samples.flatMap((s) => s.comms))],
  };
}

/** rstwatch's own history: the average of one dimension over [from, to] (epoch s), read after it stopped. */
async function rstwatchAverage(dbPath, netns, chart, dim, from, to) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare('SELECT id FROM series WHERE netns = ? AND chart = ? AND dim = ?')
      .get(netns, chart, dim);
    if (!row) return { average: null, points: 0 };
    const blocks = db
      .prepare(
        'SELECT block, every, vals FROM tier0 WHERE series = ? AND block <= ? AND block + 60 * every > ?',
      )
      .all(row.id, to, from);
    let sum = 0;
    let n = 0;
    for (const b of blocks) {
      for (let i = 0; i < Math.floor(b.vals.byteLength / 8); i++) {
        const t = b.block + i * b.every;
        const v = b.vals.readDoubleLE(i * 8);
        if (t >= from && t <= to && !Number.isNaN(v)) {
          sum += v;
          n++;
        }
      }
    }
    return { average: n ? sum / n : null, points: n };
  } finally {
    db.close();
  }
}

/**
 * @param {{ seconds: number, warmup: number, rounds: number, load: 'netns'|'host', rate: number,
 *           abortRate: number, netdata: boolean, log: (s: string) => void }} o
 */
export async function runAgentCost(o) {
  const { log } = o;
  if (process.platform !== 'linux') throw new Error('the agent benchmark needs Linux');
  const isRoot = process.getuid?.() === 0;
  if (o.load === 'netns' && !isRoot) {
    throw new Error('--load netns needs root (ip netns add); run as root or use --load host');
  }
  const withNetdata = o.netdata && existsSync(NETDATA_BIN);
  if (o.netdata && !withNetdata) {
    log(`  ${NETDATA_BIN} not found: measuring rstwatch alone (bash scripts/setup-bench-env.sh installs it)`);
  }

  // Another Netdata (a system service) would share the CPUs with the pair we measure: say so.
  const others = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'latin1').trim() === 'netdata';
      } catch {
        return false;
      }
    });
  if (others.length > 0)
    log(`  note: netdata already running (pid ${others.join(', ')}), not ours: results will be noisier`);

  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-bench-'));
  trackDir(dir);
  const total = o.warmup + o.seconds;
  const result = {
    seconds: o.seconds,
    warmupSeconds: o.warmup,
    rounds: o.rounds,
    load: o.load,
    clockTicks: clockTicks(),
    otherNetdataPids: others.map(Number),
  };

  // The namespace and a process that lives in it for the whole run (so rstwatch needs no helper of its own).
  let ns;
  let holder;
  if (o.load === 'netns') {
    ns = `rstwatch-bench-${process.pid}`;
    run('ip', ['netns', 'add', ns]);
    trackNetns(ns);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    holder = start('holder', 'ip', ['netns', 'exec', ns, 'sleep', String(total + 120)]);
    result.netns = ns;
  }
  const inNs = (cmd, args) => (ns ? ['ip', ['netns', 'exec', ns, cmd, ...args]] : [cmd, args]);

  // rstwatch: own data folder, an empty config file (no /etc/rstwatch, no RSTWATCH_* of the caller).
  const rwDir = join(dir, 'rstwatch');
  mkdirSync(rwDir);
  const rwConf = join(dir, 'rstwatch.conf');
  writeFileSync(rwConf, '[agent]\n');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RSTWATCH_')));
  const rwArgs = ['bin/rstwatch.js', 'agent', '--config', rwConf, '--data-dir', rwDir, '--interval', '1'];
  if (ns) rwArgs.push('--netns', ns);
  log(`  starting rstwatch: node ${rwArgs.join(' ')}`);
  const rw = start('rstwatch', process.execPath, rwArgs, { env });

  // The floor of any Node agent: a bare Node process whose only work is a 1-second timer (bounded).
  const idleScript = `setInterval(() => {}, 1000); setTimeout(() => process.exit(0), ${(total + 120) * 1000});`;
  const idle = start('node-idle', process.execPath, ['-e', idleScript], { env });

  let nd;
  let ndBase;
  if (withNetdata) {
    const ndDir = join(dir, 'netdata');
    const port = ns ? 19_999 : await freePort();
    const conf = prepareNetdata({ dir: ndDir, port, user: isRoot ? 'root' : userInfo().username });
    ndBase = `http://127.0.0.1:${port}`;
    const [cmd, args] = netdataCommand(conf, ns);
    log(`  starting netdata: ${cmd} ${args.join(' ')}`);
    nd = start('netdata', cmd, args, { env: { ...process.env, DO_NOT_TRACK: '1' } });
    result.netdataVersion = netdataVersion();
    result.netdataConfig = readFileSync(conf, 'utf8');
  }

  await waitFor(
    'rstwatch to start',
    () => {
      if (rw.child.exitCode !== null) throw new Error(`rstwatch exited: ${rw.out.stderr.trim()}`);
      return rw.out.stderr.includes('rstwatch agent started');
    },
    30_000,
  );
  result.rstwatchStartLine = rw.out.stderr.split('\n').find((l) => l.includes('rstwatch agent started'));
  if (nd) {
    await waitFor(
      'netdata to answer on its loopback',
      async () => {
        if (nd.child.exitCode !== null) throw new Error(`netdata exited: ${nd.out.stderr.trim()}`);
        const c = await netdataCharts(ndBase, ns);
        return c.charts.includes('ipv4.tcphandshake');
      },
      60_000,
      1000,
    );
  }

  // The load: started now, bounded by itself to warm-up + window + a margin.
  const loadSeconds = total + 5;
  const port = ns ? 9 : await closedPort();
  const [lcmd, largs] = inNs(process.execPath, [
    join(ROOT, 'bench/load.mjs'),
    '--seconds',
    String(loadSeconds),
    '--rate',
    String(o.rate),
    '--abort-rate',
    String(o.abortRate),
    '--port',
    String(port),
  ]);
  log(
    `  load: ${o.rate} refused connects/s + ${o.abortRate} reset connections/s on 127.0.0.1` +
      `${ns ? ` in ${ns}` : ' (host loopback)'} for ${loadSeconds} s`,
  );
  const load = start('load', lcmd, largs);

  log(`  warm-up ${o.warmup} s…`);
  await sleep(o.warmup * 1000);

  // The window: one reading of each tree per second, aligned to the start.
  const trees = [{ name: 'rstwatch', pid: rw.pid, samples: [] }];
  if (nd) trees.push({ name: 'netdata', pid: nd.pid, samples: [] });
  trees.push({ name: 'nodeIdle', pid: idle.pid, samples: [] });
  const t0 = performance.now();
  const wallStart = Date.now();
  log(`  measuring ${o.seconds} s…`);
  for (let i = 0; i <= o.seconds; i++) {
    const wait = t0 + i * 1000 - performance.now();
    if (wait > 0) await sleep(wait);
    const last = i === o.seconds;
    for (const tr of trees) {
      const s = snapshotTree(tr.pid, { pss: last });
      if (s.pids.length === 0) throw new Error(`${tr.name} is gone during the window`);
      tr.samples.push(s);
    }
    if (i > 0 && i % 60 === 0 && !last) log(`    ${i}/${o.seconds} s`);
  }
  const wallEnd = Date.now();

  for (const tr of trees) result[tr.name] = metrics(tr.samples, o.rounds);

  // What each of them saw (outside the window: the queries cost Netdata, not the measurement).
  const fromS = Math.ceil(wallStart / 1000);
  const toS = Math.floor(wallEnd / 1000) - 1;
  const sanity = {};
  if (nd) {
    try {
      sanity.netdataSettings = await effectiveSettings(ndBase, ns);
      sanity.netdataCharts = await netdataCharts(ndBase, ns);
      sanity.netdataTcphandshake = await netdataAverage(ndBase, ns, 'ipv4.tcphandshake', fromS, toS);
    } catch (err) {
      sanity.netdataError = err.message;
    }
  }

  const loadEnd = await stop(load, 10_000);
  const loadLine = load.out.stdout.trim().split('\n').pop();
  try {
    sanity.load = JSON.parse(loadLine);
  } catch {
    sanity.load = { error: `no result from the load generator (${loadEnd.signal ?? loadEnd.code})` };
  }

  result.rstwatchStop = await stop(rw, 20_000);
  result.rstwatchStderrLines = rw.out.stderr.trim().split('\n').length;
  result.rstwatchWarnings = rw.out.stderr
    .split('\n')
    .filter((l) => / (warn|error) /.test(l))
    .slice(0, 20);
  if (nd) result.netdataStop = await stop(nd, 30_000);
  await stop(idle, 2000);
  if (holder) await stop(holder, 2000);

  const def = chartDefs('linux').find((d) => d.id === 'tcphandshake');
  const chart = instantiate(def, ns ?? 'host').fullId;
  try {
    sanity.rstwatchAttemptFails = await rstwatchAverage(
      join(rwDir, 'history.db'),
      ns ?? 'host',
      chart,
      'AttemptFails',
      fromS,
      toS,
    );
    sanity.rstwatchChart = chart;
  } catch (err) {
    sanity.rstwatchError = err.message;
  }
  result.sanity = sanity;
  return result;
}
