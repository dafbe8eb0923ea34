/**
 * End to end: real kernel resets inside a network namespace the test creates, read by the real CLI.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsAvailable, refusedConnects } from '../helpers/netns.js';
import { BIN, cli } from '../helpers/paths.js';

interface Ns {
  netns: string;
  counters: Record<string, number>;
  rates: Record<string, number | null>;
  problems: { code: string }[];
}
interface Out extends Ns {
  namespaces: Ns[];
}

function status(args: string[]): Out {
  const r = cli(['status', '--json', ...args]);
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Out;
}

const N = 25;

describe.skipIf(!netnsAvailable())('status --netns against real kernel resets', () => {
  let ns = '';
  beforeAll(() => {
    ns = createNetns('rw-status');
  });
  afterAll(() => deleteNetns(ns));

  it(`N=${N} refused connects show as exactly N more AttemptFails and OutRsts, host untouched`, () => {
    const before = status(['--interval', '0', '--netns', ns]);
    expect(before.namespaces.map((n) => n.netns)).toEqual(['host', ns]);
    const b = before.namespaces[1]!;
    expect(b.problems).toEqual([]);
    refusedConnects(ns, N);
    const after = status(['--interval', '0', '--netns', ns]);
    const a = after.namespaces[1]!;
    expect(a.counters.AttemptFails! - b.counters.AttemptFails!).toBe(N);
    expect(a.counters.OutRsts! - b.counters.OutRsts!).toBe(N);
    expect(a.counters.ActiveOpens! - b.counters.ActiveOpens!).toBe(N);
    // The host's view is the top level and the first namespace; the resets happened elsewhere.
    expect(after.counters.AttemptFails).toBe(before.counters.AttemptFails);
    expect(after.counters.OutRsts).toBe(before.counters.OutRsts);
  });

  it('rates over the interval are the counted resets per second', async () => {
    const child = spawn(process.execPath, [BIN, 'status', '--json', '--interval', '3s', '--netns', ns], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    await new Promise((r) => setTimeout(r, 700)); // the first read is done by now
    refusedConnects(ns, N);
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    const o = JSON.parse(stdout) as Out & { intervalSeconds: number };
    const x = o.namespaces[1]! as Ns & { intervalSeconds: number };
    expect(x.intervalSeconds).toBeGreaterThan(2.9);
    expect(x.rates.AttemptFails! * x.intervalSeconds).toBeCloseTo(N, 6);
    expect(x.rates.OutRsts! * x.intervalSeconds).toBeCloseTo(N, 6);
  });

  it('a namespace that does not exist is reported clearly; the host is still shown', () => {
    const r = cli(['status', '--json', '--interval', '0', '--netns', 'rw-no-such-namespace']);
    expect(r.code).toBe(3);
    const o = JSON.parse(r.stdout) as Out;
    expect(Object.keys(o.counters).length).toBeGreaterThan(10);
    const missing = o.namespaces[1]!;
    expect(missing.netns).toBe('rw-no-such-namespace');
    expect(missing.problems.map((p) => p.code)).toEqual(['E_NETNS_NOT_FOUND']);
  });

  it('pid:N reads the namespace of that process', async () => {
    const holder = spawn('ip', ['netns', 'exec', ns, 'sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const viaName = status(['--interval', '0', '--netns', ns]).namespaces[1]!;
      const viaPid = status(['--interval', '0', '--netns', `pid:${holder.pid}`]).namespaces[1]!;
      expect(viaPid.netns).toBe(`pid:${holder.pid}`);
      expect(viaPid.counters.AttemptFails).toBe(viaName.counters.AttemptFails);
      const viaPath = status(['--interval', '0', '--netns', `/run/netns/${ns}`]).namespaces[1]!;
      expect(viaPath.counters.OutRsts).toBe(viaName.counters.OutRsts);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
