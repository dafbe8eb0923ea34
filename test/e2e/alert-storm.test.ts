/**
 * End to end, the proof: the agent runs inside a network namespace (so the namespace is its host and
 * the shipped alarms bind to its ip.tcphandshake); after the agent has been up 70 s a bounded loop makes 300
 * refused connects per second for 40 s. The 10 s received-resets alert must go CLEAR → WARNING within one
 * evaluation of the storm passing 50/s, its notification must be decided 20 s later, and it must return to
 * CLEAR after the storm, with exactly those transitions in the log.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { BIN } from '../helpers/paths.js';

interface LogEntry {
  uniqueId: number;
  name: string;
  chart: string;
  when: number;
  oldStatus: number;
  newStatus: number;
  delay: number;
  delayUpToTimestamp: number;
  flags: number;
  execRunTimestamp: number;
}

const RATE = 300;
const STORM_SECONDS = 40;

/** A paced storm of refused connects on the namespace's loopback: RATE per second, bounded in count and time. */
const STORM = `
const net = require('node:net');
const total = ${RATE * STORM_SECONDS};
let started = 0, done = 0;
const t0 = Date.now();
const deadline = t0 + ${(STORM_SECONDS + 5) * 1000};
const tick = setInterval(() => {
  const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * ${RATE}));
  while (started < due) {
    started++;
    const s = net.connect({ host: '127.0.0.1', port: 9 });
    s.on('error', () => { done++; });
    s.on('connect', () => { s.destroy(); done++; });
  }
  if (started >= total || Date.now() > deadline) {
    clearInterval(tick);
    const end = setInterval(() => { if (done >= started || Date.now() > deadline + 5000) { clearInterval(end); process.stdout.write(String(done)); } }, 50);
  }
}, 10);
`;

describe.skipIf(!netnsAvailable())('the reset alert against a real storm', () => {
  let ns = '';
  let agent: ChildProcess | undefined;
  let log = '';
  const dataDir = mkdtempSync(join(tmpdir(), 'rw-storm-'));
  beforeAll(() => {
    ns = createNetns('rw-storm');
  });
  afterAll(() => {
    agent?.kill('SIGKILL');
    deleteNetns(ns);
  });

  it('CLEAR → WARNING → CLEAR, notified 20 s after the raise', async () => {
    const started = Date.now();
    agent = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        BIN,
        'agent',
        '--data-dir',
        dataDir,
        '--health-dir',
        join(dataDir, 'none'),
        '--flush-every',
        '5',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RSTWATCH_CONFIG: '/dev/null' } },
    );
    agent.stderr!.on('data', (d) => {
      log += d;
    });
    await new Promise((r) => setTimeout(r, 72_000 - (Date.now() - started)));
    expect(log).toContain('rstwatch agent started');
    const stormStart = Date.now() / 1000;
    const storm = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', STORM], {
      encoding: 'utf8',
      timeout: (STORM_SECONDS + 15) * 1000,
    });
    expect(Number(storm.stdout)).toBe(RATE * STORM_SECONDS);
    const stormEnd = Date.now() / 1000;
    // After the storm: the 10 s window empties, the next evaluation clears. Wait up to 35 s for it.
    const until = Date.now() + 35_000;
    while (
      Date.now() < until &&
      !/10s_ipv4_tcp_resets_received' of 'ip\.tcphandshake': WARNING → CLEAR/.test(log)
    ) {
      await new Promise((r) => setTimeout(r, 500));
    }
    const code = await new Promise((resolve) => {
      agent!.on('close', resolve);
      agent!.kill('SIGTERM');
    });
    expect(code).toBe(0);

    const r = spawnSync(
      process.execPath,
      [BIN, 'alerts', '--log', '--json', '--limit', '1000', '--data-dir', dataDir],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const entries = (JSON.parse(r.stdout) as LogEntry[])
      .filter((e) => e.name === '10s_ipv4_tcp_resets_received')
      .reverse();
    const transitions = entries.map((e) => `${e.oldStatus}->${e.newStatus}`);
    // REMOVED→UNINITIALIZED (linked), UNINITIALIZED→CLEAR, CLEAR→WARNING, WARNING→CLEAR: nothing else.
    expect(transitions).toEqual(['-2->0', '0->1', '1->3', '3->1']);
    const raise = entries[2]!;
    const clear = entries[3]!;
    // Evaluations are every 10 s: the raise comes at the first evaluation whose 10 s window averages > 50/s,
    // i.e. within 10 s + one evaluation of the storm's start.
    expect(raise.when).toBeGreaterThanOrEqual(Math.floor(stormStart));
    expect(raise.when).toBeLessThanOrEqual(stormStart + 2 + 10);
    expect(raise.delay).toBe(20);
    // Notified at the first evaluation at or after raise + 20 s (no-clear-notification: a surviving WARNING is
    // always executed), and the clear is never notified.
    expect(raise.flags & 0x4).toBe(0x4);
    expect(raise.execRunTimestamp).toBeGreaterThanOrEqual(raise.when + 20);
    expect(raise.execRunTimestamp).toBeLessThanOrEqual(raise.when + 20 + 10);
    expect(clear.when).toBeGreaterThan(stormEnd - 1);
    expect(clear.when).toBeLessThanOrEqual(stormEnd + 25);
    expect(clear.flags & 0x4).toBe(0);
    expect(log).toMatch(
      /notification alert=10s_ipv4_tcp_resets_received chart=ip\.tcphandshake status=WARNING/,
    );
  }, 200_000);
});
