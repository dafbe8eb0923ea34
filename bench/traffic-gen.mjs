#!/usr/bin/env node
// Loopback traffic for the capture-analysis benchmark (bench/make-big-pcap.sh runs it inside a private
// network namespace while `tcpdump -i lo` records). Real kernel connections only, over IPv4 (127.0.0.0/8)
// and IPv6 (::1), in the mix the field guide §5 describes:
//
//   normal   request/response exchanges, then FIN both ways              (~ 45 % of the jobs)
//   refused  connect to a port nothing listens on: SYN → RST+ACK         (kernel tcp_v4/v6_send_reset)
//   abort    a few exchanges, then the client closes with SO_LINGER 0    (Node's resetAndDestroy: RST)
//   unread   the server closes with request bytes still unread           (tcp_close() sends RST, RFC 2525 §2.17)
//
//   usage: node bench/traffic-gen.mjs [--seconds N] [--concurrency N] [--ports BASE]
//
// Bounded: stops after --seconds (default 600) or on SIGTERM/SIGINT, whichever comes first, then prints one
// JSON line of counts on stdout. Only loopback addresses are used (the caller's namespace has nothing else).

import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '600' },
    concurrency: { type: 'string', default: '64' },
    ports: { type: 'string', default: '18000' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const base = Number(values.ports);
if (
  !(seconds > 0 && seconds <= 3600) ||
  !(concurrency >= 1 && concurrency <= 1024) ||
  !(base > 1024 && base < 60000)
) {
  process.stderr.write('traffic-gen: --seconds 1..3600, --concurrency 1..1024, --ports 1025..59999\n');
  process.exit(2);
}
const ECHO = base; // request/response server
const UNREAD = base + 1; // pauses on connect, then closes with the request unread
const CLOSED = base + 2; // nothing listens here

// Deterministic pseudo-random numbers (xorshift32) so two runs make the same mix.
let rng = 0x9e3779b9;
function rand() {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return (rng >>> 0) / 4294967296;
}
const between = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const PAYLOAD = Buffer.alloc(2048, 'x');

const counts = { normal: 0, refused: 0, abort: 0, unread: 0, errors: 0, exchanges: 0 };
let stopping = false;
const deadline = Date.now() + seconds * 1000;

// ---------------------------------------------------------------- servers (both families)

function echoServer(socket) {
  // Each request is one line-free chunk; answer each chunk with a response of a size it names in byte 0.
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    const want = 24 + (chunk.length % 160) * 2;
    socket.write(PAYLOAD.subarray(0, want));
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => {});
}

function unreadServer(socket) {
  // pauseOnConnect: nothing is read, so the client's request stays in the receive queue; closing then
  // makes the kernel send RST instead of FIN (tcp_close: "data was unread").
  socket.on('error', () => {});
  setTimeout(() => socket.destroy(), 2);
}

const servers = [];
async function listen(port, host, handler, opts = {}) {
  const s = createServer(opts, handler);
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port, host, backlog: 4096 }, resolve);
  });
  servers.push(s);
}

// ---------------------------------------------------------------- clients

function pickFamily() {
  // Half IPv4 from one of 16 source addresses of 127.0.0.0/8, half IPv6 from ::1.
  if (rand() < 0.5) return { host: '127.0.0.1', localAddress: `127.0.${between(0, 1)}.${between(2, 9)}` };
  return { host: '::1', localAddress: '::1' };
}

function normal(abort) {
  return new Promise((resolve) => {
    const fam = pickFamily();
    const s = connect({ port: ECHO, host: fam.host, localAddress: fam.localAddress, noDelay: true });
    let left = abort ? between(1, 4) : between(2, 16);
    const send = () => {
      const size = between(16, 300);
      const buf = PAYLOAD.subarray(0, size);
      s.write(buf);
    };
    s.on('connect', send);
    s.on('data', () => {
      counts.exchanges++;
      if (--left > 0 && !stopping) {
        send();
        return;
      }
      if (abort) {
        s.resetAndDestroy(); // SO_LINGER 0 + close: the kernel sends RST
        counts.abort++;
        resolve();
      } else {
        s.end();
      }
    });
    s.on('end', () => {
      counts.normal++;
    });
    s.on('close', () => resolve());
    s.on('error', () => {
      counts.errors++;
      resolve();
    });
  });
}

function refused() {
  return new Promise((resolve) => {
    const fam = pickFamily();
    const s = connect({ port: CLOSED, host: fam.host, localAddress: fam.localAddress });
    s.on('error', (e) => {
      if (e.code === 'ECONNREFUSED') counts.refused++;
      else counts.errors++;
      resolve();
    });
    s.on('connect', () => {
      counts.errors++; // something listens after all
      s.destroy();
      resolve();
    });
  });
}

function unread() {
  return new Promise((resolve) => {
    const fam = pickFamily();
    const s = connect({ port: UNREAD, host: fam.host, localAddress: fam.localAddress, noDelay: true });
    s.on('connect', () => s.write(PAYLOAD.subarray(0, between(50, 600))));
    s.on('error', () => {
      counts.unread++; // ECONNRESET: the server's RST
      resolve();
    });
    s.on('close', () => resolve());
  });
}

function job() {
  const r = rand();
  if (r < 0.45) return normal(false);
  if (r < 0.7) return refused();
  if (r < 0.85) return normal(true);
  return unread();
}

async function worker() {
  while (!stopping && Date.now() < deadline) await job();
}

// ---------------------------------------------------------------- main

async function main() {
  for (const host of ['127.0.0.1', '::1']) {
    await listen(ECHO, host, echoServer);
    await listen(UNREAD, host, unreadServer, { pauseOnConnect: true });
  }
  const stop = () => {
    stopping = true;
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const timer = setTimeout(stop, seconds * 1000);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  for (const s of servers) s.close();
  process.stdout.write(`${JSON.stringify(counts)}\n`);
  // Sockets the servers still hold (late FINs) must not keep the process alive past the bound.
  setTimeout(() => process.exit(0), 500).unref();
}

main().catch((err) => {
  process.stderr.write(`traffic-gen: ${err?.stack ?? err}\n`);
  process.exit(1);
});
