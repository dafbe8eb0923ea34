/**
 * Issue 8, found by the soak and the 10,000-connection test: attribution's listening-process map walked
 * every process's fds in one go every 5 s when asked (each /metrics scrape, each reset alert's transition).
 * With tens of thousands of sockets open — a connection flood, the very incident — that held the agent's
 * event loop for 300–650 ms and sampling was that late. A lookup now starts the walk in slices and answers
 * from the previous map; this test opens thousands of sockets in this process and checks that a lookup
 * returns at once while the whole walk takes long, that the event loop turns many times during the walk,
 * and that the walk still finds the listener.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessMap } from '../../src/attribute/procmap.js';

const SOCKETS = 3000;

describe('the listening-process map on a host with thousands of sockets', () => {
  const server = net.createServer((s) => s.on('error', () => {}));
  const clients: net.Socket[] = [];
  afterAll(() => {
    for (const c of clients) c.destroy();
    server.close();
  });

  it('a lookup never walks in one go: it returns at once, the loop keeps turning, the walk finds the listener', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    await Promise.all(
      Array.from(
        { length: SOCKETS },
        () =>
          new Promise<void>((resolve) => {
            const c = net.connect(port, '127.0.0.1', () => resolve());
            c.on('error', () => resolve());
            clients.push(c);
          }),
      ),
    );
    // The whole walk at once, for comparison (what every lookup did before).
    const whole = new ProcessMap();
    let t = performance.now();
    whole.refresh();
    const wholeMs = performance.now() - t;
    expect(whole.lookup(port)?.pid).toBe(process.pid);

    const map = new ProcessMap();
    t = performance.now();
    expect(map.lookup(port)).toBeUndefined();
    const lookupMs = performance.now() - t;
    let turns = 0;
    const spin = setInterval(() => turns++, 0);
    await map.idle();
    clearInterval(spin);
    expect(map.lookup(port)?.pid).toBe(process.pid);
    // Thousands of fd links to read: the whole walk takes a while; a lookup does not wait for it, and timers
    // keep running while it goes on.
    expect(lookupMs).toBeLessThan(Math.max(5, wholeMs / 10));
    expect(turns).toBeGreaterThanOrEqual(3);
  }, 30_000);
});
