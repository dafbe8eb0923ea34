/**
 * End to end: the agent process samples a namespace where the test makes real resets, writes its history,
 * exits cleanly on SIGTERM, and reads its history back after a restart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsAvailable, refusedConnects } from '../helpers/netns.js';
import { BIN } from '../helpers/paths.js';

function startAgent(dataDir: string, extra: string[]): { child: ChildProcess; log: () => string } {
  let log = '';
  const child = spawn(
    process.execPath,
    [BIN, 'agent', '--data-dir', dataDir, '--flush-every', '1', '--log-level', 'debug', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RSTWATCH_CONFIG: '/dev/null' } },
  );
  child.stderr!.on('data', (d) => {
    log += d;
  });
  child.stdout!.on('data', (d) => {
    log += d;
  });
  return { child, log: () => log };
}

async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('close', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/** Sum of the stored per-second values of one series: with count-preserving interpolation, the events. */
function storedSum(dbPath: string, chart: string, dim: string): { sum: number; points: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db
      .prepare(
        'SELECT vals FROM tier0 JOIN series ON series.id = tier0.series WHERE chart = ? AND dim = ? ORDER BY block',
      )
      .all(chart, dim) as { vals: Buffer }[];
    let sum = 0;
    let points = 0;
    for (const r of rows) {
      for (let i = 0; i + 8 <= r.vals.length; i += 8) {
        const v = r.vals.readDoubleLE(i);
        if (!Number.isNaN(v)) {
          sum += v;
          points++;
        }
      }
    }
    return { sum, points };
  } finally {
    db.close();
  }
}

describe.skipIf(!netnsAvailable())('rstwatch agent', () => {
  let ns = '';
  const dataDir = mkdtempSync(join(tmpdir(), 'rw-agent-'));
  beforeAll(() => {
    ns = createNetns('rw-agent');
  });
  afterAll(() => deleteNetns(ns));

  it('samples a namespace, stores per-second rates that add up to the resets, and stops cleanly', async () => {
    const a = startAgent(dataDir, ['--netns', ns]);
    await waitFor(() => a.log().includes('rstwatch agent started'), 10_000, 'the start line');
    const start = a.log();
    expect(start).toContain(`namespace ${ns}`);
    expect(start).toContain('cannot=none');
    // Let two samples pass so the series has its baseline, then make resets.
    await new Promise((r) => setTimeout(r, 2200));
    refusedConnects(ns, 30);
    await new Promise((r) => setTimeout(r, 3200));
    const code = await stop(a.child);
    expect(code).toBe(0);
    expect(a.log()).toContain('rstwatch agent stopped');
    expect(existsSync(join(dataDir, 'agent.pid'))).toBe(false);
    const chart = `netns_${ns.replace(/[^A-Za-z0-9_]/g, '_')}.tcphandshake`;
    const attempt = storedSum(join(dataDir, 'history.db'), chart, 'AttemptFails');
    expect(attempt.sum).toBeCloseTo(30, 6);
    expect(attempt.points).toBeGreaterThanOrEqual(4);
    expect(storedSum(join(dataDir, 'history.db'), chart, 'OutRsts').sum).toBeCloseTo(30, 6);
    const uptime = storedSum(join(dataDir, 'history.db'), 'netdata.uptime', 'uptime');
    expect(uptime.points).toBeGreaterThanOrEqual(4);
  }, 30_000);

  it('reads its history back after a restart', async () => {
    const a = startAgent(dataDir, ['--netns', ns]);
    await waitFor(() => a.log().includes('rstwatch agent started'), 10_000, 'the start line');
    const m = /loadedPoints=(\d+)/.exec(a.log());
    expect(Number(m?.[1])).toBeGreaterThan(100);
    expect(await stop(a.child)).toBe(0);
  }, 20_000);

  it('refuses a second agent on the same data folder', async () => {
    const a = startAgent(dataDir, []);
    await waitFor(() => a.log().includes('rstwatch agent started'), 10_000, 'the start line');
    const b = startAgent(dataDir, []);
    const codeB = await new Promise((r) => b.child.on('close', r));
    expect(codeB).toBe(3);
    expect(b.log()).toContain('E_AGENT_RUNNING');
    expect(await stop(a.child)).toBe(0);
  }, 20_000);

  it('a corrupt database is moved aside, not lost, and the agent runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-agent-corrupt-'));
    writeFileSync(join(dir, 'history.db'), Buffer.alloc(8192, 0x5a));
    const a = startAgent(dir, []);
    await waitFor(() => a.log().includes('rstwatch agent started'), 10_000, 'the start line');
    expect(a.log()).toContain('E_DB_CORRUPT');
    expect(await stop(a.child)).toBe(0);
    const aside = /movedTo=(\S+)/.exec(a.log())?.[1];
    expect(aside && existsSync(aside)).toBe(true);
  }, 20_000);

  it('a database that cannot be opened leaves the agent sampling in memory, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-agent-noopen-'));
    // A folder where the database file should be: SQLite cannot open it, for root too.
    mkdirSync(join(dir, 'history.db'));
    const a = startAgent(dir, []);
    await waitFor(() => a.log().includes('rstwatch agent started'), 10_000, 'the start line');
    expect(a.log()).toMatch(/E_DB_OPEN/);
    expect(a.log()).toMatch(/running with in-memory history only/);
    expect(a.log()).toMatch(/stores="?memory only/);
    expect(a.log()).toMatch(/cannot=.*keep history on disk \(E_DB_OPEN\)/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stop(a.child)).toBe(0);
    expect(a.log()).toMatch(/rstwatch agent stopped.*samples=[1-9]/);
  }, 20_000);

  it('SIGINT flushes the history and exits 0, like SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-agent-int-'));
    // Flushes every 60 s: only the shutdown flush can have written the samples.
    const a = startAgent(dir, ['--netns', ns, '--flush-every', '60']);
    await waitFor(() => a.log().includes('rstwatch agent started'), 10_000, 'the start line');
    await new Promise((r) => setTimeout(r, 2200));
    refusedConnects(ns, 7);
    await new Promise((r) => setTimeout(r, 2200));
    const code = await new Promise<number | null>((resolve) => {
      a.child.on('close', (c) => resolve(c));
      a.child.kill('SIGINT');
    });
    expect(code).toBe(0);
    expect(existsSync(join(dir, 'agent.pid'))).toBe(false);
    const chart = `netns_${ns.replace(/[^A-Za-z0-9_]/g, '_')}.tcphandshake`;
    expect(storedSum(join(dir, 'history.db'), chart, 'AttemptFails').sum).toBeCloseTo(7, 6);
  }, 20_000);

  it('a broken config file stops the agent before it starts, with file:line:column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-agent-conf-'));
    const conf = join(dir, 'rstwatch.conf');
    writeFileSync(conf, '[agent]\ninterval = often\n');
    const r = spawn(process.execPath, [BIN, 'agent', '--config', conf, '--data-dir', dir]);
    let err = '';
    r.stderr.on('data', (d) => {
      err += d;
    });
    return new Promise<void>((resolve) => {
      r.on('close', (code) => {
        expect(code).toBe(2);
        expect(err).toContain(`${conf}:2:12: error: E_CONFIG_VALUE`);
        resolve();
      });
    });
  });
});
