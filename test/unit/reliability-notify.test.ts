/**
 * Issue 8, faults: a notification receiver down for an hour, then back. The whole agent in simulated time
 * (its dispatcher retries on the agent's clock), a real webhook receiver on loopback: up, then closed for
 * an hour of storms (30 s of resets every 2 minutes: a raise and a clear each time), then listening again.
 * Every transition the engine decided to send must reach the receiver exactly once, in the order the engine
 * decided them. (The backoff schedule and dedup are unit-tested in test/unit/notify-queue.test.ts.)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { STATUS } from '../../src/health/types.js';
import { type SimAgent, simAgent } from './reliability-harness.js';

interface Received {
  uniqueId: number;
  transitionId: string;
  status: string;
}

function receiver(port: number, got: Received[]): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const j = JSON.parse(body) as { event: { uniqueId: number; transitionId: string; status: string } };
      got.push({ uniqueId: j.event.uniqueId, transitionId: j.event.transitionId, status: j.event.status });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const realTick = () => new Promise((r) => setTimeout(r, 1));

let sim: SimAgent | undefined;
let server: Server | undefined;
afterEach(async () => {
  server?.close();
  await sim?.stop();
  sim = undefined;
});

describe('a notification receiver down for an hour', () => {
  it('gets every transition decided meanwhile, once each, in order, when it is back', async () => {
    const got: Received[] = [];
    server = await receiver(0, got);
    const port = (server.address() as AddressInfo).port;
    sim = await simAgent({
      settings: { flushEvery: 10 },
      notifyConf: `[notify]\nretry first = 5s\nretry max = 10m\n\n[role default]\nmethods = hook\n\n[method hook]\ntype = webhook\nurl = http://127.0.0.1:${port}/hook\ntimeout = 2s\n`,
    });
    const s = sim;
    const step = async (seconds: number) => {
      for (let i = 0; i < seconds; i++) {
        await s.advance(1);
        // Real time for the sockets: a refused connect or an answer arrives within a few loop turns.
        if (i % 5 === 4 || seconds < 5) await realTick();
      }
    };
    await step(20);
    s.perSecond.AttemptFails = 50;
    await step(10);
    for (let i = 0; i < 200 && got.length < 1; i++) await realTick();
    expect(got.map((g) => g.status)).toEqual(['WARNING']);

    // Down: an hour of storms, 30 s of resets every 2 minutes.
    await new Promise<void>((r) => server!.close(() => r()));
    const decidedBefore = s.notified.length;
    for (let cycle = 0; cycle < 30; cycle++) {
      s.perSecond.AttemptFails = cycle === 0 ? 1 : 50;
      await step(30);
      s.perSecond.AttemptFails = 1;
      await step(90);
    }
    const decidedWhileDown = s.notified.slice(decidedBefore);
    expect(decidedWhileDown.length).toBeGreaterThanOrEqual(55);
    expect(got).toHaveLength(1);
    expect(s.log.lines.some((l) => /notification not delivered; will retry/.test(l))).toBe(true);
    expect(s.log.lines.some((l) => /E_NOTIFY_GAVE_UP/.test(l))).toBe(false);

    // Back: the retries reach it (the backoff is at most 10 min), one message per transition, in order.
    server = await receiver(port, got);
    for (let i = 0; i < 1800 && got.length < s.notified.length; i++) await step(1);
    await step(30);
    const decided = s.notified.map((e) => e.uniqueId);
    expect(got.map((g) => g.uniqueId)).toEqual(decided);
    expect(new Set(got.map((g) => g.transitionId)).size).toBe(got.length);
    // The statuses alternate as the storms did: nothing reordered inside the alert.
    const statuses = got.map((g) => g.status);
    for (let i = 1; i < statuses.length; i++) expect(statuses[i]).not.toBe(statuses[i - 1]);
    expect(s.agent.health.alerts[0]!.status).toBe(STATUS.CLEAR);
    console.log(
      `receiver down 1 h: ${decidedWhileDown.length} transitions decided while down, ${got.length} delivered in all, ` +
        `each once, in order`,
    );
  }, 120_000);
});
