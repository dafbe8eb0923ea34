// Part 4: what reset attribution costs and how much of a storm it sees.
//
// The agent (dist/agent/agent.js, attribution on, API off) runs in a child process of this file
// (`--agent DIR`); we read its CPU time (/proc/<pid>/stat utime+stime) and peak RSS (VmHWM). A bounded storm
// of RSTs is made in a network namespace the bench creates: python3 sends TCP SYNs on a raw socket from and
// to an address on the namespace's loopback, port 7, where nothing listens, so the kernel answers each with
// a RST (tcp_v4_send_reset, reason NO_SOCKET) that it counts in the namespace's OutRsts and traces with
// tcp:tcp_send_reset; the RST reaches no socket and is not answered (RFC 793: never a RST for a RST). For
// each rate (default 10k, 50k, 100k RST/s, 30 s each): the fraction of the namespace's ΔOutRsts that
// attribution counted for that peer (its `top` over the window, as the API would ask), the agent's CPU % of
// one core over the window, its peak RSS. Then the idle cost: attribution on, no storm. The generator
// saturates at what one or two python processes can send on this machine; the achieved rate is reported.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep, trackDir, trackNetns, trackProcess, untrack } from './lib.mjs';
import { clockTicks, readStat, readStatusKb } from './proc-tree.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

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
  if (spawnSync('python3', ['--version']).status !== 0)
    return { skipped: 'needs python3 for the SYN generator' };
  const tmp = mkdtempSync(join(tmpdir(), 'rstwatch-bench-attr-'));
  const dirTrack = trackDir(tmp);
  const gen = join(tmp, 'syn.py');
  writeFileSync(gen, SYN_PY);
  const ns = `benchattr-${process.pid}`;
  const nsTrack = trackNetns(ns);
  // One address per storm, so a storm's count never includes the tail of the one before.
  const peerOf = (i) => `10.${100 + (process.pid % 100)}.${process.pid % 250}.${i + 1}`;
  run('ip', ['netns', 'add', ns]);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  for (let i = 0; i < rates.length; i++) run('ip', ['-n', ns, 'addr', 'add', `${peerOf(i)}/32`, 'dev', 'lo']);
  const out = { seconds, storms: [], idle: undefined, idleWithout: undefined };
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
      const startSec = Math.floor(Date.now() / 1000);
      const procs = rate > 50_000 ? 2 : 1;
      const w = await window(agent.child.pid, seconds, () =>
        Promise.all(
          Array.from(
            { length: procs },
            (_, i) =>
              new Promise((resolve) => {
                const p = spawn(
                  'ip',
                  [
                    'netns',
                    'exec',
                    ns,
                    'python3',
                    gen,
                    peer,
                    peer,
                    '7',
                    String(rate / procs),
                    String(seconds),
                    String(20000 + i * 5000),
                  ],
                  {
                    stdio: ['ignore', 'pipe', 'inherit'],
                  },
                );
                const t = trackProcess(p.pid, 'syn generator');
                let s = '';
                p.stdout.on('data', (d) => {
                  s += d;
                });
                p.on('exit', () => {
                  untrack(t);
                  resolve(Number(s.trim()));
                });
              }),
          ),
        ),
      );
      await sleep(1500);
      const counted = outRsts(ns) - before;
      const endSec = Math.floor(Date.now() / 1000);
      const q = await agent.query(endSec, endSec - startSec + 2, peer);
      const storm = {
        peer,
        targetRate: rate,
        synsSent: w.result.reduce((a, b) => a + b, 0),
        kernelOutRsts: counted,
        achievedRate: counted / seconds,
        attributed: q.seen,
        seenFraction: counted > 0 ? q.seen / counted : Number.NaN,
        lostInKernel: q.status?.lost ?? 0,
        cpuPct: w.cpuPct,
        peakRssMb: w.peakRssMb,
      };
      out.storms.push(storm);
      log(
        `  ${rate}/s target: ${Math.round(storm.achievedRate)} RST/s achieved, ${(100 * storm.seenFraction).toFixed(3)} % seen, ` +
          `CPU ${storm.cpuPct.toFixed(1)} %, peak RSS ${storm.peakRssMb.toFixed(1)} MB, lost ${storm.lostInKernel}`,
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
  // Standalone: node bench/attribution-cost.mjs [seconds] — prints the JSON result.
  const seconds = Number(process.argv[2] ?? 30);
  const r = await runAttributionCost({ seconds, idleSeconds: seconds });
  console.log(JSON.stringify(r, null, 2));
}
