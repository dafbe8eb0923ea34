// The soak's RST storms, run inside the soak's network namespace (`ip netns exec NS node soak-storm.mjs`).
//
// Phases alternate: a storm of `rate` connection attempts per second for a while, then quiet. Each attempt
// is one of two kinds, half and half, so the reset counters of both directions move:
//  - a connect to 127.0.0.1:9 where nothing listens: the kernel answers the SYN with a RST
//    (tcp_v4_send_reset: OutRsts) and the client's SYN_SENT socket takes it (AttemptFails);
//  - a connect to our own listener, which answers and then aborts the connection (SO_LINGER 0 through
//    socket.resetAndDestroy()): a RST from an established socket (OutRsts, TCPAbortOnClose/OnData) that
//    the client takes in ESTABLISHED (EstabResets).
// The plan is drawn from a seeded generator, so two runs with the same seed make the same storms. At most
// 256 attempts are in flight; an attempt that finds the limit full is counted as skipped, not queued, so a
// slow machine lowers the storm instead of building a backlog. Ends at the plan's end, or when stdin closes
// (the driver died). Prints one JSON line of totals on stdout.

import net from 'node:net';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .map((a, i, all) => (a.startsWith('--') ? [a.slice(2), all[i + 1]] : null))
    .filter(Boolean),
);
const totalSeconds = Number(args.seconds ?? 3600);
let seed = Number(args.seed ?? 1) >>> 0;

/** mulberry32: small, seeded, good enough for a schedule. */
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Storm and quiet phases: storms 20–120 s at 20–400 attempts/s, quiet 30–150 s. */
function plan() {
  const phases = [];
  let t = 0;
  while (t < totalSeconds) {
    const storm = {
      from: t,
      seconds: 20 + Math.floor(random() * 100),
      rate: 20 + Math.floor(random() * 380),
    };
    phases.push(storm);
    t += storm.seconds;
    const quiet = { from: t, seconds: 30 + Math.floor(random() * 120), rate: 0 };
    phases.push(quiet);
    t += quiet.seconds;
  }
  return phases;
}

const phases = plan();
const totals = { refused: 0, aborted: 0, failed: 0, skipped: 0, phases: phases.length };
let inFlight = 0;
const MAX_IN_FLIGHT = 256;

const server = net.createServer((sock) => {
  sock.on('error', () => {});
  // Let the client's bytes arrive, then abort: the RST carries unread data (TCPAbortOnClose).
  sock.once('data', () => sock.resetAndDestroy());
});
server.listen(8080, '127.0.0.1');

function attempt(kind) {
  if (inFlight >= MAX_IN_FLIGHT) {
    totals.skipped++;
    return;
  }
  inFlight++;
  const s = net.connect({ host: '127.0.0.1', port: kind === 'refused' ? 9 : 8080 });
  let ended = false;
  const done = (ok) => {
    if (ended) return;
    ended = true;
    inFlight--;
    if (!ok) totals.failed++;
    s.destroy();
  };
  s.setTimeout(3000, () => done(false));
  s.on('connect', () => s.write('x'));
  s.on('error', (e) => {
    if (kind === 'refused' && e.code === 'ECONNREFUSED') {
      totals.refused++;
      done(true);
    } else if (kind === 'abort' && e.code === 'ECONNRESET') {
      totals.aborted++;
      done(true);
    } else done(false);
  });
  // A close without an error still ends the attempt, once.
  s.on('close', () => done(false));
}

const t0 = performance.now();
let made = 0;
const timer = setInterval(() => {
  const el = (performance.now() - t0) / 1000;
  if (el >= totalSeconds) {
    finish();
    return;
  }
  const ph = phases.find((p) => el >= p.from && el < p.from + p.seconds);
  if (!ph || ph.rate === 0) return;
  // Attempts owed since the phase began at its rate, in 10-ms steps.
  const owed = Math.floor((el - ph.from) * ph.rate) - (ph.made ?? 0);
  for (let i = 0; i < owed; i++) attempt((made++ & 1) === 0 ? 'refused' : 'abort');
  ph.made = (ph.made ?? 0) + Math.max(0, owed);
}, 10);

function finish() {
  clearInterval(timer);
  server.close();
  process.stdout.write(`${JSON.stringify({ ...totals, plan: phases.map(({ made: _m, ...p }) => p) })}\n`);
  setTimeout(() => process.exit(0), 200).unref();
}

process.stdin.on('end', finish);
process.stdin.resume();
