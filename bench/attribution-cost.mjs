// Part 4: what reset attribution costs and how much of a storm it sees.
//
// The agent (dist/agent/agent.js, attribution on, API off) runs in a child process of this file
// (`--agent DIR`); we read its CPU time (/proc/<pid>/stat utime+stime) and peak RSS (VmHWM). A bounded storm
// of RSTs is made in a network namespace the bench creates: a generator sends TCP SYNs on a raw socket from
// and to an address on the namespace's loopback, port 7, where nothing listens, so the kernel answers each
// with a RST (tcp_v4_send_reset, reason NO_SOCKET) that it counts in the namespace's OutRsts and traces with
// tcp:tcp_send_reset; the RST reaches no socket and is not answered (RFC 793: never a RST for a RST). For
// each rate (default 10k, 50k, 100k RST/s, 30 s each): the fraction of the namespace's ΔOutRsts that
// attribution counted for that peer (its `top` over the window, as the API would ask), the agent's CPU % of
// one core over the window, its peak RSS, the events the kernel dropped from the agent's buffers during the
// storm, and the machine's load (busy % of all cores from /proc/stat, load average). Then the idle cost:
// attribution on, no storm.
//
// The generator is bench/synflood.c, compiled at start with `cc -O2` into the bench's temporary folder:
// pre-built SYNs, sendmmsg(2) batches, paced on an absolute CLOCK_MONOTONIC schedule, bounded by duration
// and count. With no C compiler the bench falls back to the python3 generator below and says so; python
// spends ~25 µs per packet and saturates both cores of a 2-core machine at ~38k SYN/s.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { installSignalCleanup, sleep, trackDir, trackNetns, trackProcess, untrack } from './lib.mjs';
import { clockTicks, readStat, readStatusKb } from './proc-tree.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SYNFLOOD_C = join(ROOT, 'bench', 'synflood.c');
/** Source ports each generator process cycles through (as the python generator: 4096 from its base). */
const SPORTS_PER_PROC = 4096;

const SYN_PY = `
import socket, struct, sys, time
src, dst, dport, rate, secs, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
sa, da = socket.inet_aton(src), socket.inet_aton(dst)
pkts = []
for sport in range(base, base + 4096):
    h = struct.pack('!HHIIBBHHH', sport, dport, 12345, 0, 5 << 4, 0x02, 65535, 0, 0)
    c = csum(sa + da + struct.pack('!BBH', 0, 6, len(h)) + h)
    pkts.append(h[:16] + struct.pack('!H', c) + h[18:])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
sent = 0; t0 = time.monotonic(); n = len(pkts); addr = (dst, 0); send = s.sendto
while True:
    el = time.monotonic() - t0
    if el >= secs: break
    due = min(int(el * rate) - sent, 2000)
    if due <= 0:
        time.sleep(0.0005); continue
    for i in range(due): send(pkts[(sent + i) % n], addr)
    sent += due
print(sent)
`;

// ------------------------------------------------------------------------------------------------------
// The agent child: the real agent with attribution, answering queries on stdin with one JSON line each.
// ------------------------------------------------------------------------------------------------------
async function agentChild(dataDir) {
  const { startAgent } = await import(join(ROOT, 'dist/agent/agent.js'));
  const { defaults } = await import(join(ROOT, 'dist/internal/config.js'));
  const { createLogger } = await import(join(ROOT, 'dist/internal/log.js'));
  const settings = {
    ...defaults(),
    dataDir,
    listen: 'none',
    healthDir: join(dataDir, 'health.d'),
    attribution: process.env.BENCH_ATTRIBUTION !== 'no',
  };
  const log = createLogger({ level: 'warn' });
  const agent = await startAgent(settings, { log, os: 'linux' });
  const rl = createInterface({ input: process.stdin });
  process.stdout.write(`${JSON.stringify({ ready: true, status: agent.attribution?.status() })}\n`);
  for await (const line of rl) {
    const [cmd, nowSec, windowSeconds, peer] = line.trim().split(' ');
    if (cmd === 'top') {
      const a = agent.attribution;
      a?.flush?.();
      const top = a?.top({
        nowSec: Number(nowSec),
        windowSeconds: Number(windowSeconds),
        direction: 'sent',
        limit: 20,
      });
      const hit = top?.peers.find((p) => p.key === peer);
      process.stdout.write(
        `${JSON.stringify({ seen: hit?.count ?? 0, total: top?.total ?? 0, other: top?.other ?? 0, status: a?.status() })}\n`,
      );
    } else if (cmd === 'status') {
      process.stdout.write(`${JSON.stringify({ status: agent.attribution?.status() })}\n`);
    } else if (cmd === 'quit') break;
  }
  await agent.stop();
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------------
// The harness.
// ------------------------------------------------------------------------------------------------------
function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

function outRsts(ns) {
  const lines = run('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp']).split('\n');
  const i = lines.findIndex((l) => l.startsWith('Tcp:'));
  const names = lines[i].split(/\s+/);
  const values = lines[i + 1].split(/\s+/);
  return Number(values[names.indexOf('OutRsts')]);
}

/** Busy and total jiffies of all CPUs together (/proc/stat's first line; idle + iowait are not busy). */
function machineJiffies() {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

/**
 * The SYN generator: bench/synflood.c compiled with `cc -O2` into `tmp`, or, with no C compiler, the python3
 * one (slower: the achieved rate says so). `undefined` when neither can run.
 */
function prepareGenerator(tmp) {
  const cc = process.env.CC || 'cc';
  const probe = spawnSync(cc, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  if (!probe.error && probe.status === 0) {
    const bin = join(tmp, 'synflood');
    const r = spawnSync(cc, ['-O2', '-Wall', '-o', bin, SYNFLOOD_C], { encoding: 'utf8', timeout: 120_000 });
    // A compiler that is there but fails on our file is a bug to see, not a reason to measure less.
    if (r.error || r.status !== 0)
      throw new Error(`${cc} -O2 -o ${bin} ${SYNFLOOD_C} failed: ${r.error?.message ?? r.stderr}`);
    return {
      kind: 'c',
      describe: `bench/synflood.c (${cc} -O2, sendmmsg batches of up to 64, paced)`,
      argv: (g) => [
        bin,
        g.peer,
        g.peer,
        '7',
        String(g.rate),
        String(g.seconds),
        String(g.count),
        String(g.sportBase),
      ],
      parse: (text) => JSON.parse(text),
    };
  }
  if (spawnSync('python3', ['--version'], { stdio: 'ignore' }).status !== 0) return undefined;
  const gen = join(tmp, 'syn.py');
  writeFileSync(gen, SYN_PY);
  return {
    kind: 'python',
    describe: `python3 raw-socket generator (fallback: no C compiler '${cc}'; ~38k SYN/s at most on 2 cores)`,
    argv: (g) => [
      'python3',
      gen,
      g.peer,
      g.peer,
      '7',
      String(g.rate),
      String(g.seconds),
      String(g.sportBase),
    ],
    parse: (text) => ({ sent: Number(text.trim()) }),
  };
}

/** Generator processes per storm: the C one reaches 100k SYN/s alone; python needs two above 50k/s. */
function generatorProcs(generator, rate) {
  const fromEnv = Number(process.env.BENCH_SYN_PROCS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1 && fromEnv <= 8) return fromEnv;
  if (generator.kind === 'c') return 1;
  return rate > 50_000 ? 2 : 1;
}

/** One generator process in the namespace; resolves with what it reports (bounded by its own timers). */
function runGenerator(ns, generator, g) {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, ...generator.argv(g)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const t = trackProcess(p.pid, 'syn generator');
    let text = '';
    // The generator stops itself after g.seconds (and an alarm 5 s later); this is the bench's own bound.
    const guard = setTimeout(() => p.kill('SIGKILL'), (g.seconds + 15) * 1000);
    p.stdout.on('data', (d) => {
      text += d;
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      clearTimeout(guard);
      untrack(t);
      if (code !== 0) reject(new Error(`syn generator exited with ${code ?? signal}`));
      else resolve(generator.parse(text));
    });
  });
}

function cpuSeconds(pid) {
  const s = readStat(pid);
  if (!s) return Number.NaN;
  return (s.utime + s.stime) / clockTicks();
}

function startAgentChild(dataDir, attribution) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--agent', dataDir], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_ATTRIBUTION: attribution ? 'yes' : 'no' },
  });
  const tracked = trackProcess(child.pid, 'rstwatch agent (attribution bench)');
  const rl = createInterface({ input: child.stdout });
  const waiting = [];
  rl.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w({ exited: code });
  });
  const next = () => new Promise((r) => waiting.push(r));
  return {
    child,
    ready: next(),
    query(nowSec, windowSeconds, peer) {
      child.stdin.write(`top ${nowSec} ${windowSeconds} ${peer}\n`);
      return next();
    },
    status() {
      child.stdin.write('status\n');
      return next();
    },
    async stop() {
      child.stdin.write('quit\n');
      await new Promise((r) => child.once('exit', r));
      untrack(tracked);
    },
  };
}

/** Measure the agent over `seconds` while `during` runs; CPU % of one core and peak RSS. */
async function window(pid, seconds, during) {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const result = await during();
  const elapsed = (performance.now() - t0) / 1000;
  const c1 = cpuSeconds(pid);
  return {
    result,
    cpuPct: (100 * (c1 - c0)) / elapsed,
    peakRssMb: readStatusKb(pid).hwm / 1024,
    elapsed,
    seconds,
  };
}

export async function runAttributionCost(opts = {}) {
  const seconds = opts.seconds ?? 30;
  const rates = opts.rates ?? [10_000, 50_000, 100_000];
  const idleSeconds = opts.idleSeconds ?? 30;
  const log = opts.log ?? ((s) => process.stderr.write(`${s}\n`));
  if (process.getuid?.() !== 0) return { skipped: 'needs root (tracefs, network namespaces, raw sockets)' };
  const tmp = mkdtempSync(join(tmpdir(), 'rstwatch-bench-attr-'));
  const dirTrack = trackDir(tmp);
  const generator = prepareGenerator(tmp);
  if (!generator) {
    rmSync(tmp, { recursive: true, force: true });
    untrack(dirTrack);
    return { skipped: 'needs a C compiler (cc) or python3 for the SYN generator' };
  }
  log(`attribution bench: SYN generator ${generator.describe}`);
  const ns = `benchattr-${process.pid}`;
  const nsTrack = trackNetns(ns);
  // One address per storm, so a storm's count never includes the tail of the one before.
  const peerOf = (i) => `10.${100 + (process.pid % 100)}.${process.pid % 250}.${i + 1}`;
  run('ip', ['netns', 'add', ns]);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  for (let i = 0; i < rates.length; i++) run('ip', ['-n', ns, 'addr', 'add', `${peerOf(i)}/32`, 'dev', 'lo']);
  const out = {
    seconds,
    generator: generator.kind,
    generatorDescription: generator.describe,
    startedAt: new Date().toISOString(),
    storms: [],
    idle: undefined,
    idleWithout: undefined,
  };
  try {
    const agent = startAgentChild(join(tmp, 'data'), true);
    const ready = await agent.ready;
    if (ready.exited !== undefined) throw new Error(`the agent exited (${ready.exited}) before it was ready`);
    out.attributionStatus = ready.status;
    log(
      `attribution bench: agent pid ${agent.child.pid}, attribution ${ready.status?.enabled ? 'on' : `off (${ready.status?.reason})`}`,
    );
    await sleep(5000); // past start-up
    out.idle = await window(agent.child.pid, idleSeconds, () => sleep(idleSeconds * 1000));
    log(`  idle (attribution on): ${out.idle.cpuPct.toFixed(3)} % of one core`);
    for (const [ri, rate] of rates.entries()) {
      const peer = peerOf(ri);
      const before = outRsts(ns);
      const lostBefore = (await agent.status()).status?.lost ?? 0;
      const load1Before = loadavg()[0];
      const m0 = machineJiffies();
      const startSec = Math.floor(Date.now() / 1000);
      const procs = generatorProcs(generator, rate);
      const w = await window(agent.child.pid, seconds, () =>
        Promise.all(
          Array.from({ length: procs }, (_, i) =>
            runGenerator(ns, generator, {
              peer,
              rate: Math.round(rate / procs),
              seconds,
              // The count bound: exactly the schedule's packets, so a storm never outlasts its share.
              count: Math.round((rate / procs) * seconds),
              sportBase: 20000 + i * SPORTS_PER_PROC,
            }),
          ),
        ),
      );
      const m1 = machineJiffies();
      const load1After = loadavg()[0];
      await sleep(1500);
      const counted = outRsts(ns) - before;
      const endSec = Math.floor(Date.now() / 1000);
      const q = await agent.query(endSec, endSec - startSec + 2, peer);
      const reports = w.result;
      const storm = {
        peer,
        targetRate: rate,
        generatorProcs: procs,
        synsSent: reports.reduce((a, r) => a + r.sent, 0),
        generatorCpuPct: reports.every((r) => Number.isFinite(r.cpuSeconds))
          ? (100 * reports.reduce((a, r) => a + r.cpuSeconds, 0)) / w.elapsed
          : null,
        generatorLateBatches: reports.reduce((a, r) => a + (r.lateBatches ?? 0), 0),
        generatorSendErrors: reports.reduce((a, r) => a + (r.sendErrors ?? 0), 0),
        kernelOutRsts: counted,
        achievedRate: counted / seconds,
        attributed: q.seen,
        seenFraction: counted > 0 ? q.seen / counted : Number.NaN,
        lostInKernel: (q.status?.lost ?? 0) - lostBefore,
        lostInKernelTotal: q.status?.lost ?? 0,
        cpuPct: w.cpuPct,
        peakRssMb: w.peakRssMb,
        // All cores together: 100 % = every core busy (user, system, irq, softirq, steal).
        machineBusyPct: (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
        load1Before,
        load1After,
      };
      out.storms.push(storm);
      log(
        `  ${rate}/s target: ${Math.round(storm.achievedRate)} RST/s achieved, ${(100 * storm.seenFraction).toFixed(3)} % seen, ` +
          `CPU ${storm.cpuPct.toFixed(1)} %, peak RSS ${storm.peakRssMb.toFixed(1)} MB, lost ${storm.lostInKernel}; ` +
          `generator ${storm.synsSent} SYNs, ${storm.generatorCpuPct === null ? '?' : storm.generatorCpuPct.toFixed(1)} % CPU, ` +
          `${storm.generatorLateBatches} late batches; machine ${storm.machineBusyPct.toFixed(1)} % busy, ` +
          `load ${storm.load1Before.toFixed(2)} → ${storm.load1After.toFixed(2)}`,
      );
    }
    await agent.stop();
    if (opts.compareIdle !== false) {
      const off = startAgentChild(join(tmp, 'data-off'), false);
      await off.ready;
      await sleep(5000);
      out.idleWithout = await window(off.child.pid, idleSeconds, () => sleep(idleSeconds * 1000));
      log(`  idle (attribution off): ${out.idleWithout.cpuPct.toFixed(3)} % of one core`);
      await off.stop();
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    untrack(nsTrack);
    rmSync(tmp, { recursive: true, force: true });
    untrack(dirTrack);
  }
  return out;
}

if (process.argv[2] === '--agent') {
  await agentChild(process.argv[3]);
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Standalone: node bench/attribution-cost.mjs [SECONDS] [--rates 10000,50000,100000] [--idle-seconds N]
  // [--no-idle-off] — prints the JSON result (the storms' log lines go to stderr).
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      rates: { type: 'string' },
      'idle-seconds': { type: 'string' },
      'no-idle-off': { type: 'boolean', default: false },
    },
  });
  const seconds = Number(positionals[0] ?? 30);
  const rates = values.rates?.split(',').map(Number);
  if (
    !(seconds > 0 && seconds <= 600) ||
    rates?.some((r) => !Number.isInteger(r) || r < 1 || r > 1_000_000)
  ) {
    process.stderr.write(
      'usage: node bench/attribution-cost.mjs [SECONDS 1..600] [--rates R1,R2,…] [--idle-seconds N]\n',
    );
    process.exit(2);
  }
  const idleSeconds = Number(values['idle-seconds'] ?? seconds);
  installSignalCleanup();
  const r = await runAttributionCost({ seconds, idleSeconds, rates, compareIdle: !values['no-idle-off'] });
  console.log(JSON.stringify(r, null, 2));
}
