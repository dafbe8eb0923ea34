// Part 7 of `npm run bench`: what `rstwatch analyze` costs on a ≥ 1 GB capture, against tcpdump (libpcap +
// BPF), tshark and `cat` (the floor), in the same run (docs/benchmarks.md, "Capture analysis (part 7)").
// The machine may be shared: the load average is recorded at the start and the end of the timed rounds,
// and CPU time (user+sys, all threads) is reported beside wall time, being the steadier of the two.
//
//   the capture   bench/make-big-pcap.sh: real loopback traffic in a private namespace (cached in $TMPDIR)
//   timed         N rounds (default 5), the commands interleaved (order rotated each round), page cache warm;
//                 wall time and peak RSS from /usr/bin/time (wait4 rusage of the child); medians quoted.
//                 tshark takes ~1 min and ~3 GB on 1 GB, so it runs --tshark-rounds times (default 1).
//   stages        in the same rounds, rstwatch's reader alone and its reader + decoder counting RSTs (the job
//                 tcpdump's filter does; bench/analyze-stages.mjs), and the full analysis on two threads
//                 (`--threads 2`: the classification worker; one thread is the default since round 7) and
//                 with the TypeScript tracker (`--engine js`, the native engine's reference): where the time
//                 goes between tcpdump's job and the full classification.
//   checked       rstwatch's RST count equals tshark's (`tcp.flags.reset==1`), the decoder stage's too: a
//                 mismatch fails the part.
//   memory bound  peak RSS on the same capture 3× over (stdin, timestamps shifted so the copies follow each
//                 other) and on a synthetic SYN scan with millions of distinct 4-tuples (flow table full:
//                 eviction counted and reported), to show that RSS does not grow with the input.

import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin/rstwatch.js');
const STAGES = join(ROOT, 'bench/analyze-stages.mjs');
const TCPDUMP_FILTER = '(tcp[tcpflags] & tcp-rst != 0) or (ip6 and ip6[6]==6 and ip6[53] & 4 != 0)';
export const ANALYZE_TARGETS = { wallVsTcpdump: 1.0, tsharkVsRstwatch: 50, peakRssMb: 256 };

/**
 * The environment every timed command runs in: the search path, the home, the locale, the temporary folder and
 * rstwatch's own variables, nothing else of the shell that started the bench — a variable meant for other
 * programs must not weigh on one side. (The machine the numbers come from exports NODE_EXTRA_CA_CERTS, which
 * makes every Node process read and parse a certificate bundle before it runs a line: ~40 ms of `node -e 0`'s
 * ~100; NODE_OPTIONS could do anything. `startupCost` prints what it costs where the bench runs.)
 */
const MINIMAL_ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR'].includes(k) || k.startsWith('RSTWATCH_'),
  ),
);

/** `node -e 0` in the commands' environment and in the shell's: what the environment costs a Node start. */
async function startupCost() {
  const minimal = [];
  const inherited = [];
  for (let i = 0; i < 7; i++) {
    minimal.push((await timed(['node', '-e', '0'])).wallSec);
    inherited.push((await timed(['node', '-e', '0'], { env: process.env })).wallSec);
  }
  return { minimal: median(minimal), inherited: median(inherited) };
}

/** Runs `argv` under /usr/bin/time; stdout to `stdout` (a path, default /dev/null). → { wallSec, rssMb, cpuSec, code } */
function timed(argv, { stdout = '/dev/null', input, env = MINIMAL_ENV } = {}) {
  return new Promise((resolve, reject) => {
    const out = openSync(stdout, 'w');
    const fmtFile = join(
      tmpdir(),
      `rstwatch-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`,
    );
    const child = spawn('/usr/bin/time', ['-f', '%e %M %U %S', '-o', fmtFile, ...argv], {
      stdio: [input ? 'pipe' : 'ignore', out, 'pipe'],
      env,
    });
    let err = '';
    child.stderr.on('data', (d) => {
      if (err.length < 4000) err += d;
    });
    if (input) {
      input(child.stdin).catch((e) => child.stdin.destroy(e));
      child.stdin.on('error', () => {});
    }
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(out);
      let line = '';
      try {
        line = readFileSync(fmtFile, 'utf8').trim().split('\n').at(-1) ?? '';
      } catch {
        // no timing written: the command could not be run
      }
      rmSync(fmtFile, { force: true });
      const [wall, rssKb, user, sys] = line.split(' ').map(Number);
      if (!Number.isFinite(wall)) {
        reject(new Error(`${argv.join(' ')}: no timing (exit ${code}): ${err.trim().slice(0, 500)}`));
        return;
      }
      resolve({ wallSec: wall, rssMb: rssKb / 1024, cpuSec: user + sys, code, stderr: err });
    });
  });
}

function need(tool) {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${tool} is missing: run scripts/setup-bench-env.sh`);
}

function bigPcap(log) {
  log('  capture: bench/make-big-pcap.sh (cached in $TMPDIR/rstwatch-bench; first time ~4 min)');
  const r = spawnSync('bash', [join(ROOT, 'bench/make-big-pcap.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  const path = r.stdout.trim().split('\n').at(-1);
  if (r.status !== 0 || !path || !existsSync(path))
    throw new Error(`make-big-pcap.sh failed (exit ${r.status})`);
  return path;
}

/** Counts the lines tshark prints for the reset filter, timing it with /usr/bin/time. */
async function tsharkRun(file) {
  const countFile = join(tmpdir(), `rstwatch-bench-tshark-${process.pid}.txt`);
  const t = await timed(['tshark', '-n', '-r', file, '-Y', 'tcp.flags.reset==1'], { stdout: countFile });
  let lines = 0;
  const fh = await open(countFile, 'r');
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    for (let i = 0; i < bytesRead; i++) if (buf[i] === 10) lines++;
  }
  await fh.close();
  rmSync(countFile, { force: true });
  return { ...t, rsts: lines };
}

/**
 * Writes the classic pcap `file` `copies` times to `stream` as one capture: the header once, and each copy's
 * timestamps moved past the previous copy's last one, so the copies follow each other in time like one long
 * capture (the same connections again, minutes later). Little-endian µs/ns pcap only (what make-big-pcap makes).
 */
async function writeRepeated(file, copies, stream) {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(24);
  await fh.read(head, 0, 24, 0);
  if (head.readUInt32LE(0) !== 0xa1b2c3d4 && head.readUInt32LE(0) !== 0xa1b23c4d)
    throw new Error('writeRepeated: not a little-endian classic pcap');
  let failed;
  stream.once('error', (e) => {
    failed = e;
    stream.emit('drain'); // wake a writer waiting for drain: it throws `failed` next
  });
  const write = async (b) => {
    if (failed) throw failed;
    if (!stream.write(b)) await new Promise((resolve) => stream.once('drain', resolve));
    if (failed) throw failed;
  };
  await write(Buffer.from(head));
  const chunk = Buffer.alloc(4 << 20);
  let shift = 0;
  let spanSec = 0;
  for (let k = 0; k < copies; k++) {
    let pos = 24;
    let carry = Buffer.alloc(0);
    let first = -1;
    let last = 0;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const b = carry.length
        ? Buffer.concat([carry, chunk.subarray(0, bytesRead)])
        : chunk.subarray(0, bytesRead);
      let o = 0;
      while (b.length - o >= 16) {
        const caplen = b.readUInt32LE(o + 8);
        if (b.length - o < 16 + caplen) break;
        const sec = b.readUInt32LE(o);
        if (first < 0) first = sec;
        last = sec;
        b.writeUInt32LE(sec + shift, o);
        o += 16 + caplen;
      }
      await write(Buffer.from(b.subarray(0, o)));
      carry = Buffer.from(b.subarray(o));
    }
    spanSec = last - first + 600; // ten quiet minutes between copies: every flow of the last copy expires
    shift += spanSec;
  }
  await fh.close();
  stream.end();
}

/**
 * A synthetic SYN scan (classic pcap, Ethernet/IPv4): one scanner, `probes` SYNs to distinct (host, port)
 * targets 20 µs apart; every other target answers RST+ACK (closed port: REJ), the rest never answer (S0,
 * kept 5 min by the idle timeout) — millions of distinct 4-tuples alive at once, far past any flow table.
 */
export function writeScanPcap(path, probes) {
  const fd = openSync(path, 'w');
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20);
  writeSync(fd, hdr);
  const frame = (b, o, tUs, src, dst, sport, dport, seq, ack, flags) => {
    b.writeUInt32LE(Math.floor(tUs / 1e6), o);
    b.writeUInt32LE(tUs % 1e6, o + 4);
    b.writeUInt32LE(54, o + 8);
    b.writeUInt32LE(54, o + 12);
    const e = o + 16;
    b.fill(0, e, e + 54);
    b.writeUInt16BE(0x0800, e + 12);
    const ip = e + 14;
    b[ip] = 0x45;
    b.writeUInt16BE(40, ip + 2);
    b[ip + 8] = 64;
    b[ip + 9] = 6;
    b.writeUInt32BE(src >>> 0, ip + 12);
    b.writeUInt32BE(dst >>> 0, ip + 16);
    const t = ip + 20;
    b.writeUInt16BE(sport, t);
    b.writeUInt16BE(dport, t + 2);
    b.writeUInt32BE(seq >>> 0, t + 4);
    b.writeUInt32BE(ack >>> 0, t + 8);
    b[t + 12] = 0x50;
    b[t + 13] = flags;
    b.writeUInt16BE(flags === 0x02 ? 1024 : 0, t + 14);
    return o + 70;
  };
  const scanner = 0xc6336401; // 198.51.100.1 (TEST-NET-2): bytes in a file, never sent anywhere
  const buf = Buffer.alloc(70 * 2 * 4096);
  let o = 0;
  const t0 = 1_700_000_000 * 1e6;
  for (let i = 0; i < probes; i++) {
    const host = (0xcb007100 + (i % 200)) >>> 0; // 203.0.113.0/24 (TEST-NET-3)
    const dport = 1 + Math.floor(i / 200);
    const sport = 40000 + (i % 20000);
    const tUs = t0 + i * 20;
    const isn = Math.imul(i, 2654435761) >>> 0;
    o = frame(buf, o, tUs, scanner, host, sport, dport, isn, 0, 0x02);
    if (i % 2 === 0) o = frame(buf, o, tUs + 5, host, scanner, dport, sport, 0, isn + 1, 0x14);
    if (o > buf.length - 140) {
      writeSync(fd, buf, 0, o);
      o = 0;
    }
  }
  writeSync(fd, buf, 0, o);
  closeSync(fd);
}

function scanPcap(log, probes) {
  const dir = join(process.env.TMPDIR || '/tmp', 'rstwatch-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `scan-${probes}.pcap`);
  const want = 24 + probes * 70 + Math.ceil(probes / 2) * 70;
  if (!existsSync(path) || statSync(path).size !== want) {
    log(`  synthetic SYN scan: ${probes.toLocaleString('en-US')} probes → ${path}`);
    writeScanPcap(path, probes);
  }
  return path;
}

async function rstwatchReport(file, extraArgs = [], input) {
  const out = join(tmpdir(), `rstwatch-bench-report-${process.pid}.json`);
  const t = await timed(['node', CLI, 'analyze', '--json', ...extraArgs, input ? '-' : file], {
    stdout: out,
    input,
  });
  let report;
  try {
    report = JSON.parse(readFileSync(out, 'utf8'));
  } finally {
    rmSync(out, { force: true });
  }
  if (t.code !== 0) throw new Error(`rstwatch analyze exited ${t.code}: ${t.stderr.slice(0, 300)}`);
  return { ...t, report };
}

/**
 * @param {{ rounds: number, tsharkRounds: number, scanProbes: number, copies: number, log: (s: string) => void }} o
 */
export async function runAnalyzeCost(o) {
  const { log } = o;
  for (const tool of ['tcpdump', 'tshark', 'capinfos', '/usr/bin/time']) need(tool);
  if (!existsSync(join(ROOT, 'dist/cli/analyze.js'))) throw new Error('dist/ is missing: npm run build');
  const file = bigPcap(log);
  const bytes = statSync(file).size;
  const packets = Number(
    spawnSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' }).stdout.match(
      /Number of packets:\s*(\d+)/,
    )?.[1],
  );
  log(`  ${file}: ${(bytes / 1e9).toFixed(2)} GB, ${packets.toLocaleString('en-US')} packets`);

  // Warm the page cache (every command then reads from memory, as in the field guide §5).
  await timed(['cat', file]);
  const startup = await startupCost();
  log(
    `  node -e 0: ${startup.minimal.toFixed(3)} s in the commands' environment, ${startup.inherited.toFixed(3)} s in the shell's (medians of 7)`,
  );
  const loadStart = loadavg();

  const cmds = {
    cat: ['cat', file],
    tcpdump: ['tcpdump', '-r', file, TCPDUMP_FILTER, '-w', '/dev/null'],
    rstwatch: ['node', CLI, 'analyze', '--json', file],
    rstwatch2: ['node', CLI, 'analyze', '--json', '--threads', '2', file],
    rstwatchJs: ['node', CLI, 'analyze', '--json', '--engine', 'js', file],
    read: ['node', STAGES, 'read', file],
    decode: ['node', STAGES, 'rsts', file],
  };
  const runs = { cat: [], tcpdump: [], rstwatch: [], rstwatch2: [], rstwatchJs: [], read: [], decode: [] };
  const names = Object.keys(cmds);
  const stageOut = join(tmpdir(), `rstwatch-bench-stage-${process.pid}.json`);
  let decodeCounts;
  for (let r = 0; r < o.rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) {
      const t = await timed(cmds[name], name === 'decode' ? { stdout: stageOut } : {});
      if (t.code !== 0) throw new Error(`${name} exited ${t.code}: ${t.stderr.slice(0, 300)}`);
      runs[name].push(t);
      if (name === 'decode') {
        decodeCounts = JSON.parse(readFileSync(stageOut, 'utf8'));
        rmSync(stageOut, { force: true });
      }
    }
    log(
      `  round ${r + 1}/${o.rounds}: ${names.map((n) => `${n} ${runs[n].at(-1).wallSec.toFixed(2)} s`).join(', ')}`,
    );
  }
  const loadEnd = loadavg();
  const tshark = [];
  for (let r = 0; r < o.tsharkRounds; r++) {
    log(`  tshark ${r + 1}/${o.tsharkRounds} (about a minute)…`);
    tshark.push(await tsharkRun(file));
  }

  // What rstwatch found (one more run, JSON kept): its RST count must equal tshark's.
  const check = await rstwatchReport(file);
  const summary = check.report.summary;
  const tsharkRsts = tshark[0]?.rsts ?? Number.NaN;

  // Memory bound 1: the same capture 3× over through stdin.
  log(`  the capture ${o.copies}× over through stdin (RSS must not grow with the input)…`);
  const repeated = await rstwatchReport(file, [], (stdin) => writeRepeated(file, o.copies, stdin));
  // Memory bound 2: a SYN scan with millions of distinct 4-tuples (the flow table's worst case).
  const scanFile = scanPcap(log, o.scanProbes);
  log('  the synthetic SYN scan…');
  const scan = await rstwatchReport(scanFile);

  const med = (list, k) => median(list.map((t) => t[k]));
  const stat = (list) =>
    list.length === 0
      ? null
      : {
          rounds: list.length,
          wallSec: med(list, 'wallSec'),
          wallMinSec: Math.min(...list.map((t) => t.wallSec)),
          wallMaxSec: Math.max(...list.map((t) => t.wallSec)),
          rssMb: med(list, 'rssMb'),
          cpuSec: med(list, 'cpuSec'),
        };
  const res = {
    file,
    bytes,
    packets,
    machine: {
      cpus: cpus().length,
      loadAverageStart: loadStart.map((v) => Math.round(v * 100) / 100),
      loadAverageEnd: loadEnd.map((v) => Math.round(v * 100) / 100),
      // `node -e 0`, seconds: in the commands' environment (MINIMAL_ENV), in the shell's
      nodeStartSec: startup,
    },
    cat: stat(runs.cat),
    tcpdump: stat(runs.tcpdump),
    rstwatch: stat(runs.rstwatch),
    rstwatch2: stat(runs.rstwatch2),
    rstwatchJs: stat(runs.rstwatchJs),
    read: stat(runs.read),
    decode: stat(runs.decode),
    tshark: stat(tshark),
    rsts: {
      rstwatch: summary.rsts,
      decoder: decodeCounts.rsts,
      tshark: tsharkRsts,
      equal: summary.rsts === tsharkRsts && decodeCounts.rsts === tsharkRsts,
    },
    report: {
      connections: summary.connections,
      connectionsWithResets: summary.connectionsWithResets,
      flowsEvicted: summary.flowsEvicted,
      classifiedEarly: summary.classifiedEarly,
      causes: Object.fromEntries(check.report.causes.map((c) => [c.cause, c.count])),
    },
    repeated: {
      copies: o.copies,
      bytes: bytes * o.copies,
      wallSec: repeated.wallSec,
      rssMb: repeated.rssMb,
      rsts: repeated.report.summary.rsts,
      flowsEvicted: repeated.report.summary.flowsEvicted,
    },
    scan: {
      probes: o.scanProbes,
      bytes: statSync(scanFile).size,
      wallSec: scan.wallSec,
      rssMb: scan.rssMb,
      connections: scan.report.summary.connections,
      flowsEvicted: scan.report.summary.flowsEvicted,
      rsts: scan.report.summary.rsts,
      topCause: scan.report.causes[0]?.cause ?? null,
    },
  };
  res.ratio = {
    rstwatchVsTcpdump: res.rstwatch.wallSec / res.tcpdump.wallSec,
    // The same ratio taken round by round (the two ran seconds apart) and its median: on a shared machine
    // whose speed changes from minute to minute, a slow spell moves both commands of a round, and the
    // ratio of the two medians may take them from different spells. Printed beside it; the target is
    // judged on the ratio of the medians.
    rstwatchVsTcpdumpPaired: median(runs.rstwatch.map((t, i) => t.wallSec / runs.tcpdump[i].wallSec)),
    tsharkVsRstwatch: res.tshark ? res.tshark.wallSec / res.rstwatch.wallSec : Number.NaN,
    rstwatchVsCat: res.rstwatch.wallSec / res.cat.wallSec,
    cpuRstwatchVsTcpdump: res.rstwatch.cpuSec / res.tcpdump.cpuSec,
    twoThreadsVsTcpdump: res.rstwatch2.wallSec / res.tcpdump.wallSec,
    jsEngineVsTcpdump: res.rstwatchJs.wallSec / res.tcpdump.wallSec,
    decoderVsTcpdump: res.decode.wallSec / res.tcpdump.wallSec,
    readerVsTcpdump: res.read.wallSec / res.tcpdump.wallSec,
  };
  const peak = Math.max(res.rstwatch.rssMb, res.repeated.rssMb, res.scan.rssMb);
  res.withinTarget = {
    wallVsTcpdump: res.ratio.rstwatchVsTcpdump <= ANALYZE_TARGETS.wallVsTcpdump,
    tsharkVsRstwatch: res.ratio.tsharkVsRstwatch >= ANALYZE_TARGETS.tsharkVsRstwatch,
    peakRssMb: peak <= ANALYZE_TARGETS.peakRssMb,
  };
  if (!res.rsts.equal && Number.isFinite(tsharkRsts))
    throw Object.assign(
      new Error(
        `RST count differs: rstwatch ${summary.rsts}, its decoder stage ${decodeCounts.rsts}, tshark ${tsharkRsts}`,
      ),
      { res },
    );
  return res;
}

const sec = (v) => (Number.isFinite(v) ? `${v.toFixed(2)} s` : '–');
const mbText = (v) => (Number.isFinite(v) ? `${v.toFixed(0)} MB` : '–');
const times = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

/** The human-readable part of the report. `table` is bench/lib.mjs's. */
export function printAnalyze(a, table) {
  console.log(
    `\n## 7. Capture analysis (${(a.bytes / 1e9).toFixed(2)} GB, ${a.packets.toLocaleString('en-US')} packets of loopback traffic; medians of ${a.rstwatch.rounds} interleaved rounds, page cache warm)\n`,
  );
  const rows = [['command', 'wall (median)', 'min…max', 'CPU (user+sys)', 'peak RSS', 'rounds']];
  const row = (label, s) =>
    s &&
    rows.push([
      label,
      sec(s.wallSec),
      `${sec(s.wallMinSec)}…${sec(s.wallMaxSec)}`,
      sec(s.cpuSec),
      mbText(s.rssMb),
      String(s.rounds),
    ]);
  row('cat F > /dev/null (the floor)', a.cat);
  row('tcpdump -r F <RST filter, v4+v6> -w /dev/null', a.tcpdump);
  row('rstwatch analyze --json F > /dev/null', a.rstwatch);
  row("tshark -n -r F -Y 'tcp.flags.reset==1'", a.tshark);
  rows.push(['where the time goes:', '', '', '', '', '']);
  row("  rstwatch's reader alone (every record framed)", a.read);
  row("  rstwatch's reader + decoder counting RSTs (tcpdump's job)", a.decode);
  row('  rstwatch analyze --json --threads 2 F (classification worker)', a.rstwatch2);
  row('  rstwatch analyze --json --engine js F (TypeScript tracker)', a.rstwatchJs);
  console.log(table(rows));
  console.log(
    `machine: ${a.machine.cpus} CPUs; load average ${a.machine.loadAverageStart.join(' / ')} before the rounds, ${a.machine.loadAverageEnd.join(' / ')} after (1 / 5 / 15 min): on a shared machine wall times are inflated, CPU times less so`,
  );
  const r = a.ratio;
  console.log(
    `\nratios (wall, medians): rstwatch/tcpdump ${times(r.rstwatchVsTcpdump)} (target ≤ ${ANALYZE_TARGETS.wallVsTcpdump}×: ${a.withinTarget.wallVsTcpdump ? 'within' : 'OVER'}), ` +
      `paired round by round ${times(r.rstwatchVsTcpdumpPaired)}, tshark/rstwatch ${times(r.tsharkVsRstwatch)} (target ≥ ${ANALYZE_TARGETS.tsharkVsRstwatch}×: ${a.withinTarget.tsharkVsRstwatch ? 'within' : 'UNDER'}), ` +
      `rstwatch/cat ${times(r.rstwatchVsCat)}; CPU rstwatch/tcpdump ${times(r.cpuRstwatchVsTcpdump)}`,
  );
  console.log(
    `stages against tcpdump (wall): rstwatch's reader ${times(r.readerVsTcpdump)}, reader + decoder counting RSTs ${times(r.decoderVsTcpdump)}, ` +
      `full analysis (default) ${times(r.rstwatchVsTcpdump)}, with the classification worker (--threads 2) ${times(r.twoThreadsVsTcpdump)} (the TypeScript tracker: ${times(r.jsEngineVsTcpdump)}): the rest is connection tracking and classification`,
  );
  console.log(
    `RSTs: rstwatch ${a.rsts.rstwatch.toLocaleString('en-US')}, its decoder stage ${a.rsts.decoder.toLocaleString('en-US')}, tshark ${Number(a.rsts.tshark).toLocaleString('en-US')} → ${a.rsts.equal ? 'equal' : 'DIFFERENT'}; ` +
      `${a.report.connections.toLocaleString('en-US')} connections, ${a.report.connectionsWithResets.toLocaleString('en-US')} with resets, ` +
      `${a.report.flowsEvicted} evicted, ${a.report.classifiedEarly.toLocaleString('en-US')} classified early; causes ${Object.entries(
        a.report.causes,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
  );
  const mrows = [['input', 'size', 'wall', 'peak RSS', 'RSTs', 'flows evicted']];
  mrows.push([
    'the capture',
    `${(a.bytes / 1e9).toFixed(2)} GB`,
    sec(a.rstwatch.wallSec),
    mbText(a.rstwatch.rssMb),
    a.rsts.rstwatch.toLocaleString('en-US'),
    String(a.report.flowsEvicted),
  ]);
  mrows.push([
    `the capture ${a.repeated.copies}× over, via stdin`,
    `${(a.repeated.bytes / 1e9).toFixed(2)} GB`,
    sec(a.repeated.wallSec),
    mbText(a.repeated.rssMb),
    a.repeated.rsts.toLocaleString('en-US'),
    String(a.repeated.flowsEvicted),
  ]);
  mrows.push([
    `SYN scan, ${a.scan.probes.toLocaleString('en-US')} distinct 4-tuples`,
    `${(a.scan.bytes / 1e9).toFixed(2)} GB`,
    sec(a.scan.wallSec),
    mbText(a.scan.rssMb),
    a.scan.rsts.toLocaleString('en-US'),
    a.scan.flowsEvicted.toLocaleString('en-US'),
  ]);
  console.log(
    `\nMemory bound (peak RSS ≤ ${ANALYZE_TARGETS.peakRssMb} MB whatever the input: ${a.withinTarget.peakRssMb ? 'within' : 'OVER'})\n`,
  );
  console.log(table(mrows));
}

/** The part's entry in the BENCH_JSON line. */
export function analyzeJson(a) {
  const r = (v, d = 3) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : null);
  const s = (x) =>
    x && { rounds: x.rounds, wallSec: r(x.wallSec), cpuSec: r(x.cpuSec), rssMb: r(x.rssMb, 1) };
  return {
    file: { bytes: a.bytes, packets: a.packets },
    machine: a.machine,
    cat: s(a.cat),
    tcpdump: s(a.tcpdump),
    rstwatch: s(a.rstwatch),
    rstwatchTwoThreads: s(a.rstwatch2),
    rstwatchJsEngine: s(a.rstwatchJs),
    stages: { read: s(a.read), decodeRsts: s(a.decode) },
    tshark: s(a.tshark),
    ratio: Object.fromEntries(Object.entries(a.ratio).map(([k, v]) => [k, r(v)])),
    rsts: a.rsts,
    report: a.report,
    repeated: { ...a.repeated, wallSec: r(a.repeated.wallSec), rssMb: r(a.repeated.rssMb, 1) },
    scan: { ...a.scan, wallSec: r(a.scan.wallSec), rssMb: r(a.scan.rssMb, 1) },
    targets: ANALYZE_TARGETS,
    withinTarget: a.withinTarget,
  };
}
