#!/usr/bin/env node
// A modest, bounded TCP reset load on 127.0.0.1 of whatever network namespace it runs in (the bench runs
// it with `ip netns exec` in a namespace it created, or on the host's loopback with --load host).
//
// Every 100 ms it makes rate/10 connection attempts to a closed port (each: AttemptFails +1 and OutRsts +1
// on loopback) and abortRate/10 connections to its own listener, which resets them at once
// (socket.resetAndDestroy(): an RST on an established connection, EstabResets on the client side).
// Bounded in count (rate × seconds, abortRate × seconds) and in time (it exits at seconds + 5 whatever
// happens), never more than 200 connections in flight. Prints one JSON line with what it did.
//
// Usage: node bench/load.mjs --seconds N [--rate 50] [--abort-rate 10] [--port 9]

import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    rate: { type: 'string', default: '50' },
    'abort-rate': { type: 'string', default: '10' },
    port: { type: 'string', default: '9' },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const abortRate = Number(values['abort-rate']);
const closedPort = Number(values.port);
if (
  !(seconds > 0 && seconds <= 3600) ||
  !(rate >= 0 && rate <= 1000) ||
  !(abortRate >= 0 && abortRate <= 1000)
) {
  process.stderr.write('load: --seconds 1..3600, --rate and --abort-rate 0..1000\n');
  process.exit(2);
}

const HOST = '127.0.0.1';
const MAX_IN_FLIGHT = 200;
const stats = { refused: 0, resets: 0, unexpected: 0, skipped: 0, attempts: 0 };
const maxRefused = Math.round(rate * seconds);
const maxResets = Math.round(abortRate * seconds);
let inFlight = 0;
let ticks = 0;
const totalTicks = Math.round(seconds * 10);

// Hard stop, whatever is pending.
const hardStop = setTimeout(() => finish('deadline'), (seconds + 5) * 1000);
hardStop.unref();

const server = net.createServer({ pauseOnConnect: true }, (sock) => {
  sock.on('error', () => {});
  sock.resetAndDestroy();
});
server.on('error', (err) => {
  process.stderr.write(`load: listener: ${err.message}\n`);
});

function attempt(port, expect) {
  if (inFlight >= MAX_IN_FLIGHT) {
    stats.skipped++;
    return;
  }
  inFlight++;
  stats.attempts++;
  const s = net.connect({ host: HOST, port, timeout: 2000 });
  let done = false;
  const end = (kind) => {
    if (done) return;
    done = true;
    inFlight--;
    stats[kind]++;
    s.destroy();
  };
  s.on('error', (e) => {
    if (expect === 'refused' && e.code === 'ECONNREFUSED') end('refused');
    else if (expect === 'resets' && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) end('resets');
    else end('unexpected');
  });
  s.on('timeout', () => end('unexpected'));
  s.on('close', () => end(expect === 'resets' ? 'resets' : 'unexpected'));
  s.on('connect', () => {
    if (expect === 'refused') end('unexpected');
    // resets: wait for the listener's RST ('error' ECONNRESET, or 'close' if the RST won the race)
  });
}

let sent = { refused: 0, resets: 0 };
function tick() {
  ticks++;
  // Spread the per-second counts evenly over the ten ticks of each second.
  const wantRefused = Math.min(maxRefused, Math.round((rate * ticks) / 10));
  const wantResets = Math.min(maxResets, Math.round((abortRate * ticks) / 10));
  while (sent.refused < wantRefused) {
    sent.refused++;
    attempt(closedPort, 'refused');
  }
  const { port } = server.address();
  while (sent.resets < wantResets) {
    sent.resets++;
    attempt(port, 'resets');
  }
  if (ticks >= totalTicks) {
    clearInterval(timer);
    waitDrain(Date.now() + 3000);
  }
}

function waitDrain(until) {
  if (inFlight === 0 || Date.now() > until) finish('done');
  else setTimeout(() => waitDrain(until), 50);
}

let finished = false;
function finish(why) {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  server.close();
  process.stdout.write(`${JSON.stringify({ ...stats, why, seconds, rate, abortRate })}\n`);
  process.exit(0);
}

process.once('SIGTERM', () => finish('SIGTERM'));
process.once('SIGINT', () => finish('SIGINT'));

let timer;
server.listen(0, HOST, () => {
  timer = setInterval(tick, 100);
  sent = { refused: 0, resets: 0 };
});
