// Part 1: the cost of one sample, in process, on the compiled code (dist/): the collector alone, the
// collector plus the store's ingest, and the floor under both (reading the two proc files and nothing
// else). Each case runs `iterations` timed calls per round, rounds interleaved so a noisy moment of the
// machine hits every case alike; we keep each round's median and p99, and report the median over rounds.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinuxCollector } from '../dist/collect/linux.js';
import { HistoryDb } from '../dist/store/history-db.js';
import { Store } from '../dist/store/store.js';
import { median, percentileSorted, release, trackDir, trackNetns, trackProcess } from './lib.mjs';

/**
 * A namespace of our own for the `--netns` case, with a process living in it (as a container's namespace
 * has), so the collector reads /proc/<pid>/net without starting a helper. Needs root; undefined otherwise.
 */
function makeNamespace(log) {
  if (process.getuid?.() !== 0) return undefined;
  const name = `rstwatch-bench-s${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) {
    log(`  (no namespace case: ip netns add: ${r.stderr?.trim() || r.error?.message})`);
    return undefined;
  }
  const nsRes = trackNetns(name);
  const holder = spawn('ip', ['netns', 'exec', name, 'sleep', '3600'], { detached: true, stdio: 'ignore' });
  const holderRes = trackProcess(holder.pid, 'sample-cost namespace holder');
  return {
    name,
    release() {
      release(holderRes);
      release(nsRes);
    },
  };
}

const now = () => process.hrtime.bigint();

/** Time `fn` `n` times; returns the per-call durations in µs, sorted. */
function timeCalls(fn, n) {
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = now();
    fn(i);
    d[i] = Number(now() - t0) / 1000;
  }
  return d.sort();
}

function summarize(rounds) {
  return {
    medianUs: median(rounds.map((r) => r.medianUs)),
    p99Us: median(rounds.map((r) => r.p99Us)),
    minRoundMedianUs: Math.min(...rounds.map((r) => r.medianUs)),
    maxRoundMedianUs: Math.max(...rounds.map((r) => r.medianUs)),
    rounds,
  };
}

/**
 * @param {{ iterations: number, rounds: number, warmup: number, netns?: boolean, log: (s: string) => void }} o
 */
export async function runSampleCost(o) {
  const { iterations, rounds, warmup, log } = o;
  const snmp = '/proc/net/snmp';
  const netstat = '/proc/net/netstat';

  const host = new LinuxCollector();
  const first = host.collectSync();
  if (Object.keys(first.counters).length === 0) {
    throw new Error(`the collector read nothing: ${JSON.stringify(first.problems)}`);
  }

  // Store fed with simulated seconds: one slot per call, as the agent does once a second.
  const store = new Store({ updateEvery: 1 });
  store.addNamespace('host', 'linux');
  let tUs = Math.floor(Date.now() / 1000) * 1e6;
  const ingestStore = new Store({ updateEvery: 1 });
  ingestStore.addNamespace('host', 'linux');
  const ingestCounters = { ...first.counters };
  const base = ingestCounters.ActiveOpens ?? 0;
  let tIngestUs = tUs;

  const cases = [
    {
      id: 'floor',
      label: 'readFileSync snmp + netstat (floor)',
      fn: () => {
        readFileSync(snmp, 'latin1');
        readFileSync(netstat, 'latin1');
      },
    },
    { id: 'collect', label: 'LinuxCollector.collectSync() (host)', fn: () => host.collectSync() },
    {
      id: 'ingest',
      label: 'store.ingest() alone (host, counters moving)',
      fn: (i) => {
        ingestCounters.ActiveOpens = base + i;
        ingestCounters.AttemptFails = base + 2 * i;
        tIngestUs += 1e6;
        ingestStore.ingest('host', ingestCounters, tIngestUs);
      },
    },
    {
      id: 'collectIngest',
      label: 'collectSync() + store.ingest() (host)',
      fn: () => {
        const r = host.collectSync();
        tUs += 1e6;
        store.ingest('host', r.counters, tUs);
      },
    },
  ];

  let nsCollector;
  const ns = o.netns ? makeNamespace(log) : undefined;
  if (ns) {
    nsCollector = new LinuxCollector({ netns: ns.name, spawnHolder: false });
    let r = nsCollector.collectSync();
    // The holder needs a moment to enter the namespace.
    for (let i = 0; i < 40 && Object.keys(r.counters).length === 0; i++) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      r = nsCollector.collectSync();
    }
    if (Object.keys(r.counters).length > 0) {
      cases.push({
        id: 'collectNetns',
        label: 'collectSync() (--netns NAME, another namespace)',
        fn: () => nsCollector.collectSync(),
      });
    } else log(`  (skipping the namespace case: ${r.problems.map((p) => p.code).join(', ')})`);
  }

  // The periodic write: 10 slots of every host series into SQLite, what the agent does every 10 s.
  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-bench-flush-'));
  const dirRes = trackDir(dir);
  const db = HistoryDb.open(join(dir, 'history.db'));
  const fstore = new Store({ updateEvery: 1, db });
  fstore.addNamespace('host', 'linux');
  let fSec = Math.floor(Date.now() / 1000);
  const counters = { ...first.counters };
  const keys = Object.keys(counters);
  const flushIterations = Math.max(50, Math.min(500, Math.round(iterations / 40)));
  const flushCase = {
    id: 'flush10',
    label: 'store.flush() of 10 s (SQLite, host charts)',
    iterations: flushIterations,
    run: (n) => {
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        for (let s = 0; s < 10; s++) {
          fSec += 1;
          for (const k of keys) counters[k] += 1 + (s & 3);
          fstore.ingest('host', counters, fSec * 1e6);
        }
        const t0 = now();
        fstore.flush(fSec);
        d[i] = Number(now() - t0) / 1000;
      }
      return d.sort();
    },
  };

  log(`  warm-up: ${warmup} calls per case`);
  for (const c of cases) timeCalls(c.fn, warmup);
  flushCase.run(Math.min(50, flushCase.iterations));

  const results = new Map([...cases, flushCase].map((c) => [c.id, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const d = timeCalls(c.fn, iterations);
      results.get(c.id).push({ medianUs: percentileSorted(d, 50), p99Us: percentileSorted(d, 99) });
    }
    const d = flushCase.run(flushCase.iterations);
    results.get('flush10').push({ medianUs: percentileSorted(d, 50), p99Us: percentileSorted(d, 99) });
    log(`  round ${r + 1}/${rounds} done`);
  }
  db.close();
  release(dirRes);
  await host.close();
  await nsCollector?.close();
  ns?.release();

  const out = { iterations, rounds, warmup, flushIterations, cases: {} };
  for (const c of [...cases, flushCase]) {
    out.cases[c.id] = { label: c.label, ...summarize(results.get(c.id)) };
  }
  const floor = out.cases.floor.medianUs;
  out.ratioCollectToFloor = out.cases.collect.medianUs / floor;
  out.ratioCollectIngestToFloor = out.cases.collectIngest.medianUs / floor;
  out.series = store.allCharts().reduce((n, e) => n + e.series.length, 0);
  out.counters = keys.length;
  return out;
}
