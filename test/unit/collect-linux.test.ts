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
});
