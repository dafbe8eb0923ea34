/**
 * The Linux collector on the real /proc: its two files stay open and are read again from offset 0
 * (src/collect/linux.ts), so every read must see fresh counters and no read may leak a descriptor.
 */
import { readdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';

const openFds = () => readdirSync('/proc/self/fd').length;

describe('LinuxCollector on procfs', () => {
  it('reads fresh counters through its kept descriptors, and holds two descriptors, not one per read', async () => {
    const c = new LinuxCollector();
    const first = c.collectSync();
    expect(first.problems.filter((p) => p.severity === 'error')).toEqual([]);
    // Three loopback connections: ActiveOpens counts them (RFC 1213 tcpActiveOpens).
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => s.end());
        s.on('close', () => resolve());
        s.on('error', reject);
      });
    }
    await new Promise<void>((r) => server.close(() => r()));
    const second = c.collectSync();
    expect(second.counters.ActiveOpens! - first.counters.ActiveOpens!).toBeGreaterThanOrEqual(3);
    const fds = openFds();
    for (let i = 0; i < 50; i++) c.collectSync();
    expect(openFds()).toBe(fds);
    const fdsBeforeClose = openFds();
    await c.close();
    expect(openFds()).toBe(fdsBeforeClose - 2);
  });

  it('looks the namespace up again once per recheck interval while its files are open, not on every read', () => {
    // A namespace named by path (this process's own): netDir() stats the file and checks the pid's link.
    const count = (c: LinuxCollector) => {
      const h = (c as unknown as { handle: { netDir(): string } }).handle;
      const orig = h.netDir.bind(h);
      const n = { calls: 0 };
      h.netDir = () => {
        n.calls++;
        return orig();
      };
      return n;
    };
    const slow = new LinuxCollector({ netns: '/proc/self/ns/net', netnsRecheckMs: 60_000 });
    const slowCalls = count(slow);
    const a = slow.collectSync();
    for (let i = 0; i < 19; i++) slow.collectSync();
    const b = slow.collectSync();
    expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(b.counters.InSegs).toBeGreaterThanOrEqual(a.counters.InSegs!);
    expect(slowCalls.calls).toBe(1);
    const every = new LinuxCollector({ netns: '/proc/self/ns/net', netnsRecheckMs: 0 });
    const everyCalls = count(every);
    for (let i = 0; i < 20; i++) every.collectSync();
    expect(everyCalls.calls).toBe(20);
    // pid:N names a process: checked at every read whatever the interval, so its exit is said at once.
    const byPid = new LinuxCollector({ netns: `pid:${process.pid}`, netnsRecheckMs: 60_000 });
    const byPidCalls = count(byPid);
    for (let i = 0; i < 5; i++) byPid.collectSync();
    expect(byPidCalls.calls).toBe(5);
    return Promise.all([slow.close(), every.close(), byPid.close()]);
  });
});
