/**
 * `rstwatch alerts` (src/cli/alerts.ts) against a real agent database in a temporary folder, written by the
 * real engine (HealthSim with AlertDb as its persistence, as agent.ts wires it): the states view (raised
 * first, --all, --json), the log (--log, --after, --limit, --json), and the errors (E_NO_AGENT_DATA, a file
 * that is not a database, bad arguments) through main(), so exit codes and stderr are the user's.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertDb, type AlertStateRow } from '../../src/health/alert-db.js';
import type { AlarmEntry } from '../../src/health/engine.js';
import { STATUS, statusName } from '../../src/health/types.js';
import { HealthSim, SIM_START as S, shippedOwnAlerts, shippedResetAlerts } from '../helpers/health-sim.js';
import { runMain } from '../helpers/main-io.js';
import { cli } from '../helpers/paths.js';

const roots: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'rstwatch-alerts-cli-'));
  roots.push(d);
  return d;
};
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const alerts = (...args: string[]) => runMain(['alerts', ...args]);

const iso = (t: number) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const R10 = '10s_ipv4_tcp_resets_received';
const LISTEN = 'rstwatch_listen_queue_overflows';

describe('rstwatch alerts, on a database the engine wrote', () => {
  let dir: string;
  let sim: HealthSim;
  beforeAll(() => {
    dir = tempDir();
    const db = new Database(join(dir, 'history.db'));
    db.pragma('journal_mode = WAL');
    sim = new HealthSim({
      config: shippedResetAlerts() + shippedOwnAlerts(),
      persistence: new AlertDb(db),
    });
    // AttemptFails 80/s from S+199: the 10 s alert is WARNING at S+209 and notified at S+229 (20 s delay).
    // ListenOverflows 5/s for S+170..S+199 (150): WARNING at S+179, CRITICAL at S+199 (4 + 28·5 = 144).
    // The run ends at S+238, both still raised.
    sim.run({ AttemptFails: '0x199 80x40', ListenOverflows: '0x170 5x30 0x39' });
    db.close();
  });

  it('states: CRITICAL, WARNING, then CLEAR, by name; UNDEFINED (the 1m baselines) left out', async () => {
    const r = await alerts('--data-dir', dir);
    expect([r.code, r.err]).toEqual([0, '']);
    const lines = r.out.trimEnd().split('\n');
    const shown = lines.map((l) => l.split(/\s+/).slice(0, 2).join(' '));
    const clear = sim.engine.alerts
      .filter((a) => a.status === STATUS.CLEAR)
      .map((a) => a.compiled.config.name)
      .sort((a, b) => a.localeCompare(b))
      .map((n) => `CLEAR ${n}`);
    expect(clear.length).toBeGreaterThan(5);
    expect(shown).toEqual([`CRITICAL ${LISTEN}`, `WARNING ${R10}`, ...clear]);
    expect(r.out).not.toContain('UNDEFINED');
    // One line in full: status, name, value, units, chart, the time of the last change.
    const rt = sim.alert(R10);
    expect(rt.value).toBeCloseTo(80, 9);
    expect(lines[1]).toBe(
      `${'WARNING'.padEnd(13)} ${R10.padEnd(40)} ${'80'.padStart(10)} ${'tcp resets/s'.padEnd(14)} ip.tcphandshake  since ${iso(S + 209)}`,
    );
  });

  it('--all: every alert the engine bound, the UNDEFINED baselines after the CLEAR ones', async () => {
    const r = await alerts('--all', '--data-dir', dir);
    expect(r.code).toBe(0);
    const statuses = r.out
      .trimEnd()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]);
    expect(statuses.length).toBe(sim.engine.alerts.length);
    expect(statuses.slice(0, 2)).toEqual(['CRITICAL', 'WARNING']);
    expect(statuses.slice(-2)).toEqual(['UNDEFINED', 'UNDEFINED']);
    // Its value of the last run (S+229): [S+159, S+218] = (64 + 19·80)/60 = 26.4.
    expect(r.out).toMatch(
      /^UNDEFINED\s+1m_ipv4_tcp_resets_received\s+26\.4 tcp resets\/s\s+ip\.tcphandshake/m,
    );
  });

  it('--json: the states as stored, NaN as null, equal to the engine’s', async () => {
    const r = await alerts('--all', '--json', '--data-dir', dir);
    const rows = JSON.parse(r.out) as AlertStateRow[];
    const byName = new Map(rows.map((x) => [x.name, x]));
    expect(rows).toHaveLength(sim.engine.alerts.length);
    for (const a of sim.engine.alerts) {
      const row = byName.get(a.compiled.config.name)!;
      expect(row.status).toBe(statusName(a.status));
      expect(row.lastStatusChange).toBe(a.lastStatusChange);
      expect(row.chart).toBe(a.chartId);
      if (Number.isNaN(a.value)) expect(row.value).toBeNull();
      else expect(row.value).toBeCloseTo(a.value, 9);
    }
  });

  it('--log: every transition, newest first, with what happened to its notification', async () => {
    const r = await alerts('--log', '--limit', '1000', '--data-dir', dir);
    expect(r.code).toBe(0);
    const heads = r.out.split('\n').filter((l) => l.startsWith('#'));
    const entries = [...sim.entries].sort((a, b) => b.uniqueId - a.uniqueId);
    expect(heads.map((l) => Number(/^#(\d+)/.exec(l)?.[1]))).toEqual(entries.map((e) => e.uniqueId));
    const line = (e: AlarmEntry) => heads.find((l) => l.startsWith(`#${e.uniqueId} `))!;
    // (64 + 9·80)/10 = 78.4 at S+209: slot S+199 = 0.8·80.
    const raise = sim.entriesOf(R10).find((e) => e.when === S + 209)!;
    expect(line(raise)).toBe(
      `#${raise.uniqueId} ${iso(S + 209)} ${R10} on ip.tcphandshake: CLEAR → WARNING value 78.4 tcp resets/s (was 0), delay 20s, notified ${iso(S + 229)}`,
    );
    // A superseded entry, one processed but not sent (the first CLEAR), one still waiting.
    const firstClear = sim.entriesOf(R10).find((e) => e.when === S + 9)!;
    expect(line(firstClear)).toMatch(
      /UNINITIALIZED → CLEAR value 0 tcp resets\/s \(was -\), delay 20s, superseded$/,
    );
    const crit = sim.entriesOf(LISTEN).find((e) => e.newStatus === STATUS.CRITICAL)!;
    expect(line(crit)).toMatch(/WARNING → CRITICAL value 144 overflows \(was 94\), delay 0s, notified /);
    const undef = sim.entriesOf('1m_ipv4_tcp_resets_received').find((e) => e.newStatus === STATUS.UNDEFINED)!;
    expect(line(undef)).toMatch(
      /UNINITIALIZED → UNDEFINED value 0 tcp resets\/s \(was -\), delay 0s, not notified$/,
    );
  });

  it('--log --after ID: only entries with a larger unique id (alarm_log?after=); --limit N: the newest N', async () => {
    const ids = sim.entries.map((e) => e.uniqueId).sort((a, b) => a - b);
    const cut = ids[Math.floor(ids.length / 2)]!;
    const after = await alerts(
      '--log',
      '--after',
      String(cut),
      '--limit',
      '1000',
      '--json',
      '--data-dir',
      dir,
    );
    const got = (JSON.parse(after.out) as AlarmEntry[]).map((e) => e.uniqueId);
    expect(got).toEqual(ids.filter((i) => i > cut).reverse());
    const limited = await alerts('--log', '--limit', '3', '--data-dir', dir);
    expect(limited.out.split('\n').filter((l) => l.startsWith('#'))).toHaveLength(3);
    const none = await alerts('--log', '--after', String(ids[ids.length - 1]), '--data-dir', dir);
    expect(none.out).toBe('no transitions\n');
  });

  it('--log --json: the entries with Netdata’s fields, NaN as null', async () => {
    const r = await alerts('--log', '--json', '--limit', '1000', '--data-dir', dir);
    const rows = JSON.parse(r.out) as (Omit<AlarmEntry, 'oldValue'> & { oldValue: number | null })[];
    const raise = rows.find((e) => e.name === R10 && e.when === S + 209)!;
    expect(raise).toMatchObject({
      oldStatus: STATUS.CLEAR,
      newStatus: STATUS.WARNING,
      delay: 20,
      recipient: 'silent',
    });
    const first = rows.find((e) => e.name === R10 && e.oldStatus === STATUS.REMOVED)!;
    expect(first.oldValue).toBeNull();
  });
});

describe('rstwatch alerts: errors', () => {
  it('E_NO_AGENT_DATA when the folder has no agent database (exit 3, a hint)', async () => {
    const dir = tempDir();
    const r = await alerts('--data-dir', dir);
    expect(r.code).toBe(3);
    expect(r.out).toBe('');
    expect(r.err).toContain('E_NO_AGENT_DATA');
    expect(r.err).toContain(join(dir, 'history.db'));
    expect(r.err).toContain('hint: start the agent');
  });

  it('the built binary says the same and exits 3 (npm test builds first)', () => {
    const dir = tempDir();
    const r = cli(['alerts', '--data-dir', dir]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^rstwatch alerts: .*E_NO_AGENT_DATA: no agent database at /);
  });

  it('E_NO_AGENT_DATA when the agent never evaluated an alert (a database without the alert log)', async () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'history.db'));
    db.exec('CREATE TABLE blocks(x INTEGER)');
    db.close();
    const r = await alerts('--log', '--data-dir', dir);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/E_NO_AGENT_DATA.*has not evaluated any alert yet/);
  });

  it('a file that is not a database: E_DB_CORRUPT, exit 3, no stack trace', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'history.db'),
      'this is not SQLite, it is a text file long enough to have a header\n'.repeat(20),
    );
    const r = await alerts('--data-dir', dir);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^rstwatch alerts: .*E_DB_CORRUPT/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['--log', '--after=-1'], '--after must be a unique id'],
    [['--log', '--after', 'abc'], '--after must be a unique id'],
    [['--log', '--limit', '0'], '--limit must be a positive integer'],
  ])('%j: E_USAGE, exit 2', async (args, message) => {
    const dir = tempDir();
    const db = new Database(join(dir, 'history.db'));
    new AlertDb(db);
    db.close();
    const r = await alerts(...args, '--data-dir', dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('E_USAGE');
    expect(r.err).toContain(message);
  });

  it('--help tells the truth: the options it parses, and CLEAR shown without --all', async () => {
    const r = await alerts('--help');
    expect(r.code).toBe(0);
    for (const opt of ['--log', '--after ID', '--limit N', '--all', '--json', '--data-dir DIR'])
      expect(r.out).toContain(opt);
    expect(r.out).toMatch(/--all\s+states: every alert; without it, CRITICAL, WARNING and CLEAR ones/);
    expect(r.out).not.toMatch(/include CLEAR/);
  });
});
