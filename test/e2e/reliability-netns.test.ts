/**
 * Issue 8, faults: counters going backwards because the namespace was re-created. A real `ip netns del` and
 * `ip netns add` of the same name under a running agent started with `--netns NAME`: the agent must say the
 * namespace is gone, then read the NEW namespace (whose counters start again near zero: backwards), and
 * store per-second rates that add up to exactly the resets made in the old and the new namespace — no
 * negative rate, no spike at the reset, nothing read from the dead namespace.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { readCounterDump } from '../../src/agent/counter-dump.js';
import { createNetns, deleteNetns, netnsAvailable, refusedConnects } from '../helpers/netns.js';
import { BIN } from '../helpers/paths.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Every stored per-second value of one series, in time order (NaN = gap). */
function storedValues(dbPath: string, chart: string, dim: string): number[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db
      .prepare(
        'SELECT vals FROM tier0 JOIN series ON series.id = tier0.series WHERE chart = ? AND dim = ? ORDER BY block',
      )
      .all(chart, dim) as { vals: Buffer }[];
    const out: number[] = [];
    for (const r of rows) for (let i = 0; i + 8 <= r.vals.length; i += 8) out.push(r.vals.readDoubleLE(i));
    return out;
  } finally {
    db.close();
  }
}

describe.skipIf(!netnsAvailable())('a namespace deleted and re-created under the running agent', () => {
  let ns = '';
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
    if (ns) deleteNetns(ns);
  });

  it('is reported gone, then the new one is read: rates add up exactly, the reset is a gap', async () => {
    ns = createNetns('rw-relns');
    const dir = mkdtempSync(join(tmpdir(), 'rw-relns-'));
    writeFileSync(join(dir, 'notify.conf'), '');
    let log = '';
    child = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--data-dir',
        dir,
        '--netns',
        ns,
        '--listen',
        'none',
        '--attribution',
        'no',
        '--flush-every',
        '1',
        '--notify-config',
        join(dir, 'notify.conf'),
        '--debug-counters-file',
        join(dir, 'counters.jsonl'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RSTWATCH_CONFIG: '/dev/null' } },
    );
    child.stdout!.on('data', (d) => {
      log += d;
    });
    child.stderr!.on('data', (d) => {
      log += d;
    });
    await waitFor(() => log.includes('rstwatch agent started'), 15_000, 'the start line');
    expect(log).toContain('cannot=none');
    await sleep(2200);
    refusedConnects(ns, 20);
    await sleep(2200);

    execFileSync('ip', ['netns', 'del', ns]);
    await waitFor(() => /E_NETNS_NOT_FOUND/.test(log), 5000, 'the agent to see the namespace gone');
    await sleep(1500);
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await waitFor(() => /recovered.*E_NETNS_NOT_FOUND/.test(log), 5000, 'the agent to read it again');
    await sleep(2200);
    refusedConnects(ns, 15);
    await sleep(3200);

    const code = await new Promise<number | null>((resolve) => {
      child!.on('close', (c) => resolve(c));
      child!.kill('SIGTERM');
    });
    child = undefined;
    expect(code, log).toBe(0);
    // Said once while gone, and once when back.
    expect(log.match(/error .*E_NETNS_NOT_FOUND/g), log).toHaveLength(1);
    expect(log.match(/recovered .*E_NETNS_NOT_FOUND/g)).toHaveLength(1);

    // What the agent read, tick by tick: the old namespace's AttemptFails up to 20 or more, nothing while it
    // was gone, then the new namespace's, lower than before (the counters went backwards) and up by 15.
    const dump = readCounterDump(join(dir, 'counters.jsonl'));
    const seen = dump.ticks.map((k) => k.ns[ns]?.AttemptFails);
    const gone = seen.indexOf(undefined);
    expect(gone).toBeGreaterThan(0);
    const oldLast = seen[gone - 1]!;
    expect(oldLast).toBeGreaterThanOrEqual(20);
    const back = seen.findIndex((v, i) => i > gone && v !== undefined);
    expect(back, JSON.stringify(seen)).toBeGreaterThan(gone);
    const newFirst = seen[back]!;
    const newLast = seen[seen.length - 1]!;
    expect(newFirst).toBeLessThan(oldLast);
    expect(newLast - newFirst).toBe(15);

    // What it stored: exactly the 20 + 15 refused connections, no negative value, no spike at the reset.
    const chart = `netns_${ns.replace(/[^A-Za-z0-9_]/g, '_')}.tcphandshake`;
    const vals = storedValues(join(dir, 'history.db'), chart, 'AttemptFails').filter((v) => !Number.isNaN(v));
    const sum = vals.reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(35, 6);
    expect(Math.min(...vals)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...vals)).toBeLessThanOrEqual(20 + 1e-9);
    expect(readFileSync(join(dir, 'history.db')).length).toBeGreaterThan(0);
  }, 60_000);
});
