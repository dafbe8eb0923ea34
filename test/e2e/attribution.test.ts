/**
 * Attribution against the real kernel: two network namespaces joined by a veth pair, a bounded generator of
 * refused connects, zero-linger aborts and established resets (close with unread data) over IPv4 and IPv6,
 * and the kernel's own counters of each namespace as the oracle. Which counter each event answers to
 * (docs/attribution.md "Events and counters"):
 *   sent events of a namespace            = ΔOutRsts (tcp_v4_send_reset / tcp_v6_send_reset / tcp_send_active_reset)
 *   received events + active sent events  = ΔAttemptFails + ΔEstabResets, here, because every RST lands on a
 *     SYN_SENT socket (AttemptFails, tcp_done) or an ESTABLISHED one (EstabResets, tcp_set_state), and every
 *     active RST is sent by an ESTABLISHED socket that itself counts in EstabResets.
 * Tracepoints are global: other tests' resets arrive too, so only events with this test's addresses count.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningAttribution, startAttribution } from '../../src/attribute/attribution.js';
import type { TopEntry } from '../../src/attribute/types.js';
import { memoryLogger } from '../../src/internal/log.js';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { BIN, requireCapability } from '../helpers/paths.js';

const ok = netnsAvailable();
const haveSetpriv = spawnSync('setpriv', ['--version']).status === 0;
requireCapability(!ok || haveSetpriv, 'setpriv (util-linux)');

const N_REFUSED = 20; // per family
const N_ABORT = 15;
const N_UNREAD = 10;

function snmp(ns: string): Record<string, number> {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp', '/proc/net/netstat'], {
    encoding: 'utf8',
  });
  const out: Record<string, number> = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const h = lines[i]!.split(/\s+/);
    const v = lines[i + 1]!.split(/\s+/);
    if (h[0] !== v[0] || !/^(Tcp|TcpExt):$/.test(h[0] ?? '') || h[1] === v[1]) continue;
    h.slice(1).forEach((name, j) => {
      out[name] = Number(v[j + 1]);
    });
    i++;
  }
  return out;
}

/** The server side in namespace B: a listener for aborts and one that closes with unread data. */
const SERVER = `
  const net = require('node:net');
  const abort = net.createServer((c) => c.on('error', () => {}));
  // pauseOnConnect: nothing is read, so close() finds unread data and resets (tcp_close, data_was_unread)
  const unread = net.createServer({ pauseOnConnect: true }, (c) => { c.on('error', () => {}); setTimeout(() => c.destroy(), 30); });
  let up = 0;
  const ready = () => { if (++up === 4) process.stdout.write(JSON.stringify({ abort4: a4.address().port, abort6: a6.address().port, unread4: u4.address().port, unread6: u6.address().port }) + '\\n'); };
  const a4 = abort.listen(0, process.argv[1], ready);
  const abort6 = net.createServer((c) => c.on('error', () => {}));
  const a6 = abort6.listen(0, process.argv[2], ready);
  const u4 = unread.listen(0, process.argv[1], ready);
  const unread6 = net.createServer({ pauseOnConnect: true }, (c) => { c.on('error', () => {}); setTimeout(() => c.destroy(), 30); });
  const u6 = unread6.listen(0, process.argv[2], ready);
  setTimeout(() => process.exit(0), 60000).unref();
  process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;

/** The client side in namespace A: sequential, bounded, each step with a timeout. */
const CLIENT = `
  const net = require('node:net');
  const [b4, b6, ports, nr, na, nu] = [process.argv[1], process.argv[2], JSON.parse(process.argv[3]), +process.argv[4], +process.argv[5], +process.argv[6]];
  const step = (fn) => new Promise((res, rej) => { const t = setTimeout(() => rej(new Error('step timed out')), 3000); fn(() => { clearTimeout(t); res(); }); });
  const refused = (host) => step((done) => { const s = net.connect({ host, port: 9 }); s.on('error', (e) => { if (e.code !== 'ECONNREFUSED') throw e; done(); }); s.on('connect', () => { throw new Error('port 9 open'); }); });
  const abort = (host, port) => step((done) => { const s = net.connect({ host, port }, () => { s.resetAndDestroy(); done(); }); s.on('error', () => {}); });
  const unread = (host, port) => step((done) => { const s = net.connect({ host, port }, () => s.write('x'.repeat(500))); s.on('error', (e) => { if (e.code === 'ECONNRESET') done(); }); s.on('close', () => done()); });
  (async () => {
    for (let i = 0; i < nr; i++) { await refused(b4); await refused(b6); }
    for (let i = 0; i < na; i++) { await abort(b4, ports.abort4); await abort(b6, ports.abort6); }
    for (let i = 0; i < nu; i++) { await unread(b4, ports.unread4); await unread(b6, ports.unread6); }
    await new Promise((r) => setTimeout(r, 300));
    process.stdout.write('done');
  })().catch((e) => { console.error(e); process.exit(1); });`;

describe.skipIf(!ok)('attribution in two namespaces joined by a veth pair', () => {
  let nsA = '';
  let nsB = '';
  const x = 1 + Math.floor(Math.random() * 250);
  const y = 1 + Math.floor(Math.random() * 250);
  const A4 = `10.${x}.${y}.1`;
  const B4 = `10.${x}.${y}.2`;
  const A6 = `fd00:${x.toString(16)}:${y.toString(16)}::1`;
  const B6 = `fd00:${x.toString(16)}:${y.toString(16)}::2`;
  let attr: RunningAttribution;
  const log = memoryLogger();

  beforeAll(async () => {
    nsA = createNetns('attrA');
    nsB = createNetns('attrB');
    const vA = `va${process.pid % 100000}`;
    const vB = `vb${process.pid % 100000}`;
    execFileSync('ip', ['link', 'add', vA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vB, 'netns', nsB]);
    for (const [ns, dev, a4, a6] of [
      [nsA, vA, A4, A6],
      [nsB, vB, B4, B6],
    ] as const) {
      execFileSync('ip', ['-n', ns, 'addr', 'add', `${a4}/24`, 'dev', dev]);
      execFileSync('ip', ['-n', ns, 'addr', 'add', `${a6}/64`, 'dev', dev, 'nodad']);
      execFileSync('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    attr = await startAttribution({ log, os: 'linux', topK: 5000, pollMs: 50, checkEverySeconds: 0.2 });
    if (!attr.status().enabled) throw new Error(`attribution did not start: ${attr.status().reason}`);
  }, 30_000);

  afterAll(async () => {
    await attr?.close();
    if (nsA) deleteNetns(nsA);
    if (nsB) deleteNetns(nsB);
  });

  it('accounts for every reset the kernel counts in each namespace, with peers, ports and reasons', async () => {
    const server: ChildProcess = spawn('ip', ['netns', 'exec', nsB, process.execPath, '-e', SERVER, B4, B6], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      const ports = await new Promise<Record<string, number>>((resolve, reject) => {
        let buf = '';
        const t = setTimeout(() => reject(new Error('server did not start')), 10_000);
        server.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) {
            clearTimeout(t);
            resolve(JSON.parse(buf.split('\n')[0]!) as Record<string, number>);
          }
        });
      });
      const beforeA = snmp(nsA);
      const beforeB = snmp(nsB);
      const out = execFileSync(
        'ip',
        [
          'netns',
          'exec',
          nsA,
          process.execPath,
          '-e',
          CLIENT,
          B4,
          B6,
          JSON.stringify(ports),
          String(N_REFUSED),
          String(N_ABORT),
          String(N_UNREAD),
        ],
        { encoding: 'utf8', timeout: 90_000 },
      );
      expect(out).toBe('done');
      const afterA = snmp(nsA);
      const afterB = snmp(nsB);
      const d = (a: Record<string, number>, b: Record<string, number>, k: string) =>
        (a[k] ?? 0) - (b[k] ?? 0);
      const kernel = {
        A: {
          OutRsts: d(afterA, beforeA, 'OutRsts'),
          AttemptFails: d(afterA, beforeA, 'AttemptFails'),
          EstabResets: d(afterA, beforeA, 'EstabResets'),
        },
        B: {
          OutRsts: d(afterB, beforeB, 'OutRsts'),
          AttemptFails: d(afterB, beforeB, 'AttemptFails'),
          EstabResets: d(afterB, beforeB, 'EstabResets'),
        },
      };
      // The generator did what it says (else the comparison below proves nothing).
      expect(kernel).toEqual({
        A: { OutRsts: 2 * N_ABORT, AttemptFails: 2 * N_REFUSED, EstabResets: 2 * N_ABORT + 2 * N_UNREAD },
        B: {
          OutRsts: 2 * N_REFUSED + 2 * N_UNREAD,
          AttemptFails: 0,
          EstabResets: 2 * N_ABORT + 2 * N_UNREAD,
        },
      });

      // Everything of ours, from attribution's whole tuples over the last minutes.
      const ours = (): TopEntry[] => {
        attr.flush();
        const top = attr.top({
          nowSec: Math.floor(Date.now() / 1000) + 1,
          windowSeconds: 600,
          limit: 1_000_000,
        });
        return (top.tuples ?? []).filter((t) =>
          [A4, B4, A6, B6].some((a) => t.key.includes(` ${a}:`) || t.key.includes(`[${a}]`)),
        );
      };
      const count = (pred: (k: string) => boolean) =>
        ours()
          .filter((t) => pred(t.key))
          .reduce((s, t) => s + t.count, 0);
      const local = (k: string, a4: string, a6: string) =>
        k.split(' ')[2]!.startsWith(`${a4}:`) || k.split(' ')[2]!.startsWith(`[${a6}]`);
      const inA = (k: string) => local(k, A4, A6);
      const inB = (k: string) => local(k, B4, B6);
      const sentIn = (inNs: (k: string) => boolean) => count((k) => k.startsWith('sent ') && inNs(k));
      const recvIn = (inNs: (k: string) => boolean) => count((k) => k.startsWith('received ') && inNs(k));
      const activeSentIn = (inNs: (k: string) => boolean) =>
        count((k) => k.startsWith('sent ') && inNs(k) && !k.includes(' NO_SOCKET '));
      const deadline = Date.now() + 10_000;
      while (
        sentIn(inA) + sentIn(inB) + recvIn(inA) + recvIn(inB) < 4 * (N_REFUSED + N_ABORT + N_UNREAD) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // sent ↔ OutRsts, per namespace
      expect(sentIn(inA)).toBe(kernel.A.OutRsts);
      expect(sentIn(inB)).toBe(kernel.B.OutRsts);
      // received (+ active sends, which also count in EstabResets) ↔ AttemptFails + EstabResets
      expect(recvIn(inA) + activeSentIn(inA)).toBe(kernel.A.AttemptFails + kernel.A.EstabResets);
      expect(recvIn(inB) + activeSentIn(inB)).toBe(kernel.B.AttemptFails + kernel.B.EstabResets);

      // The right peers, ports and reasons, tuple by tuple (ephemeral ports aside).
      const shape = new Map<string, number>();
      for (const t of ours()) {
        const [dir, fam, l, , r, reason, state] = t.key.split(' ');
        const port = (hp: string) => Number(hp.slice(hp.lastIndexOf(':') + 1));
        const addr = (hp: string) => hp.slice(0, hp.lastIndexOf(':')).replace(/^\[|\]$/g, '');
        const named = (hp: string) => {
          const p = port(hp);
          const known = Object.entries(ports).find(([, v]) => v === p)?.[0] ?? (p === 9 ? 'closed9' : 'eph');
          return `${addr(hp)}:${known}`;
        };
        const k = `${dir} ${fam} ${named(l!)} ${named(r!)} ${reason} ${state}`;
        shape.set(k, (shape.get(k) ?? 0) + t.count);
      }
      expect(Object.fromEntries(shape)).toEqual({
        // refused: B's kernel answers the SYN for port 9 (no socket); A's SYN_SENT socket takes it
        [`sent ipv4 ${B4}:closed9 ${A4}:eph NO_SOCKET UNKNOWN`]: N_REFUSED,
        [`sent ipv6 ${B6}:closed9 ${A6}:eph NO_SOCKET UNKNOWN`]: N_REFUSED,
        [`received ipv4 ${A4}:eph ${B4}:closed9 NOT_REPORTED NOT_REPORTED`]: N_REFUSED,
        [`received ipv6 ${A6}:eph ${B6}:closed9 NOT_REPORTED NOT_REPORTED`]: N_REFUSED,
        // zero-linger abort by A: tcp_disconnect → reason TCP_STATE, socket already CLOSE
        [`sent ipv4 ${A4}:eph ${B4}:abort4 TCP_STATE TCP_CLOSE`]: N_ABORT,
        [`sent ipv6 ${A6}:eph ${B6}:abort6 TCP_STATE TCP_CLOSE`]: N_ABORT,
        [`received ipv4 ${B4}:abort4 ${A4}:eph NOT_REPORTED NOT_REPORTED`]: N_ABORT,
        [`received ipv6 ${B6}:abort6 ${A6}:eph NOT_REPORTED NOT_REPORTED`]: N_ABORT,
        // B closes with unread data: TCP_ABORT_ON_CLOSE
        [`sent ipv4 ${B4}:unread4 ${A4}:eph TCP_ABORT_ON_CLOSE TCP_CLOSE`]: N_UNREAD,
        [`sent ipv6 ${B6}:unread6 ${A6}:eph TCP_ABORT_ON_CLOSE TCP_CLOSE`]: N_UNREAD,
        [`received ipv4 ${A4}:eph ${B4}:unread4 NOT_REPORTED NOT_REPORTED`]: N_UNREAD,
        [`received ipv6 ${A6}:eph ${B6}:unread6 NOT_REPORTED NOT_REPORTED`]: N_UNREAD,
      });
      // and the per-dimension tops name them: B's port 9 among the local ports of sent resets
      const sent = attr.top({
        nowSec: Math.floor(Date.now() / 1000) + 1,
        windowSeconds: 600,
        direction: 'sent',
        limit: 1_000_000,
      });
      expect(sent.localPorts.find((e) => e.key === '9')?.count ?? 0).toBeGreaterThanOrEqual(2 * N_REFUSED);
      expect(sent.peers.find((e) => e.key === A4)?.count ?? 0).toBeGreaterThanOrEqual(N_REFUSED + N_UNREAD);
      expect(attr.status().lost).toBe(0);
    } finally {
      server.stdin?.end();
      server.kill();
    }
  }, 120_000);

  it('its instance is its own and protected: rmdir is refused while it reads; switched-off events come back', async () => {
    const dir = `/sys/kernel/tracing/instances/rstwatch-${process.pid}`;
    expect(existsSync(dir)).toBe(true);
    const r = spawnSync('rmdir', [dir], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/busy/i);
    writeFileSync(`${dir}/events/tcp/tcp_send_reset/enable`, '0');
    const end = Date.now() + 5000;
    while (!log.lines.some((l) => l.includes('restored')) && Date.now() < end)
      await new Promise((res) => setTimeout(res, 50));
    expect(log.lines.join('\n')).toMatch(/tcp_send_reset event was disabled; setting it up again/);
    expect(
      execFileSync('cat', [`${dir}/events/tcp/tcp_send_reset/enable`], { encoding: 'utf8' }).trim(),
    ).toBe('1');
    // the global buffer was never switched on by us
    expect(
      execFileSync('cat', ['/sys/kernel/tracing/events/tcp/tcp_send_reset/enable'], {
        encoding: 'utf8',
      }).trim(),
    ).toMatch(/^[0X]/);
  });

  it('removes a stale instance of a dead agent at start, and its own at close', async () => {
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
        .stdout,
    );
    const stale = `/sys/kernel/tracing/instances/rstwatch-${dead}`;
    mkdirSync(stale);
    const l2 = memoryLogger();
    const a2 = await startAttribution({ log: l2, os: 'linux', instanceName: `rstwatch-e2e2-${process.pid}` });
    try {
      expect(existsSync(stale)).toBe(false);
      expect(l2.lines.join('\n')).toMatch(new RegExp(`no longer running.*rstwatch-${dead}`));
    } finally {
      await a2.close();
    }
    expect(readdirSync('/sys/kernel/tracing/instances')).not.toContain(`rstwatch-e2e2-${process.pid}`);
  });

  it('not root: the agent runs on, and says once why attribution cannot', async () => {
    const data = mkdtempSync(join(tmpdir(), 'rstwatch-attr-nobody-'));
    chownSync(data, 65534, 65534);
    const child = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        'agent',
        '--data-dir',
        data,
        '--listen',
        'none',
      ],
      {
        env: { PATH: process.env.PATH, HOME: '/nonexistent', RSTWATCH_HEALTH_DIR: data },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
    });
    try {
      const end = Date.now() + 20_000;
      while (!err.includes('rstwatch agent started') && Date.now() < end && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(err).toMatch(/rstwatch agent started/);
      expect(err).toMatch(
        /attribution unavailable: attribution needs root to use tracefs.*code=E_ATTR_PERMISSION/,
      );
      expect(err).toMatch(/attribution="off: attribution needs root/);
      expect(err.match(/attribution unavailable/g)).toHaveLength(1);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
      rmSync(data, { recursive: true, force: true });
    }
  }, 30_000);
});
