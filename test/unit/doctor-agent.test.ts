/**
 * rstwatch doctor from the agent's history: the movement of each counter over the window equals what was
 * ingested, the CLI uses it when an agent runs on the data folder, and says why not when none does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { beforeFromMovement, liveAgentPid, readAgentMovement } from '../../src/remedy/doctor-agent.js';
import { HistoryDb } from '../../src/store/history-db.js';
import { Store } from '../../src/store/store.js';
import { cli, FIXTURES } from '../helpers/paths.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-doctor-agent-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * An agent's history ending at `endSec`: `seconds` per-second collections in which ListenOverflows grows by
 * `perSecond`, ListenDrops the same, TCPChallengeACK by 1 every other second, AttemptFails not at all.
 */
function seed(endSec: number, seconds: number, perSecond: number): void {
  const db = HistoryDb.open(path.join(dir, 'history.db'), endSec * 1000);
  const store = new Store({ db });
  store.addNamespace('host', 'linux');
  for (let k = 0; k <= seconds; k++) {
    const t = endSec - seconds + k;
    store.ingest(
      'host',
      {
        ListenOverflows: 1000 + perSecond * k,
        ListenDrops: 1000 + perSecond * k,
        TCPChallengeACK: 50 + Math.floor(k / 2),
        AttemptFails: 7,
      },
      t * 1e6,
    );
  }
  expect(store.flush(endSec)).toBe(true);
  db.close();
}

describe('readAgentMovement', () => {
  it('sums the per-second history of each counter over the window', () => {
    const end = Math.floor(Date.now() / 1000);
    seed(end, 120, 3);
    const r = readAgentMovement(dir, 'linux', 60, end, false);
    if (!r.ok) throw new Error(r.why);
    expect(r.movement.delta.ListenOverflows).toBeCloseTo(3 * 60, 6);
    expect(r.movement.delta.ListenDrops).toBeCloseTo(3 * 60, 6);
    expect(r.movement.delta.TCPChallengeACK).toBeCloseTo(30, 6);
    expect(r.movement.delta.AttemptFails).toBe(0);
    expect(r.movement.seconds).toBe(60);
    expect(r.movement.lastT).toBe(end);
    // A longer window than the history holds: what there is (120 s; the first collection is a gap).
    const all = readAgentMovement(dir, 'linux', 3600, end, false);
    if (!all.ok) throw new Error(all.why);
    expect(all.movement.seconds).toBe(120);
    expect(all.movement.delta.ListenOverflows).toBeCloseTo(3 * 120, 6);
  });

  it('needs a live agent unless told otherwise, and data in the window', () => {
    const end = Math.floor(Date.now() / 1000);
    expect(readAgentMovement(dir, 'linux', 60, end)).toMatchObject({ ok: false, code: 'E_NO_AGENT' });
    fs.writeFileSync(path.join(dir, 'agent.pid'), `${process.pid}\n`);
    expect(liveAgentPid(dir)).toBe(process.pid);
    expect(readAgentMovement(dir, 'linux', 60, end)).toMatchObject({ ok: false, code: 'E_NO_AGENT_DATA' });
    seed(end - 7200, 60, 1);
    const old = readAgentMovement(dir, 'linux', 60, end);
    expect(old).toMatchObject({ ok: false, code: 'E_NO_AGENT_DATA' });
    expect(old.ok ? '' : old.why).toMatch(/no data for the last 60 s/);
    // A pid file naming a process that is gone is not an agent.
    fs.writeFileSync(path.join(dir, 'agent.pid'), '999999999\n');
    expect(liveAgentPid(dir)).toBeUndefined();
  });

  it('before = now − movement, only for the counters the agent keeps', () => {
    expect(beforeFromMovement({ A: 100, B: 5, C: 9 }, { A: 40, B: 10 })).toEqual({ A: 60, B: 0 });
  });
});

describe('rstwatch doctor --source', () => {
  const proc = path.join(FIXTURES, 'proc/linux-6.18');

  /** The 6.18 fixture with the listen counters at `value` (the "now" the agent's movement is taken from). */
  function procWithListen(value: number): string {
    const root = path.join(dir, 'proc');
    fs.mkdirSync(path.join(root, 'net'), { recursive: true });
    fs.copyFileSync(path.join(proc, 'net/snmp'), path.join(root, 'net/snmp'));
    const [head, vals, ...rest] = fs.readFileSync(path.join(proc, 'net/netstat'), 'utf8').split('\n');
    const names = head!.split(' ');
    const v = vals!.split(' ');
    for (const n of ['ListenOverflows', 'ListenDrops']) v[names.indexOf(n)] = String(value);
    fs.writeFileSync(path.join(root, 'net/netstat'), [head, v.join(' '), ...rest].join('\n'));
    return root;
  }

  it('agent: findings from the agent history, named as such', () => {
    const end = Math.floor(Date.now() / 1000);
    const procNow = procWithListen(5000);
    seed(end, 90, 4);
    fs.writeFileSync(path.join(dir, 'agent.pid'), `${process.pid}\n`);
    const r = cli(['doctor', '--source', 'agent', '--data-dir', dir, '--proc-root', procNow, '--json']);
    const report = JSON.parse(r.stdout);
    expect(report.source).toMatchObject({ kind: 'agent', db: path.join(dir, 'history.db') });
    expect(report.intervalSeconds).toBeGreaterThanOrEqual(55);
    const listen = report.findings.find((f: { id: string }) => f.id === 'listen-queue');
    expect(listen?.severity, JSON.stringify(report.findings.map((f: { id: string }) => f.id))).toBe(
      'warning',
    );
    expect(listen.evidence.join('\n')).toMatch(/ListenOverflows \+2[0-9]{2} in [0-9]+ s .*now 5,?000/);
    expect(r.code).toBe(1);
    const text = cli(['doctor', '--source', 'agent', '--data-dir', dir, '--proc-root', procNow]);
    expect(text.stdout).toMatch(/counters from the agent's history, last \d+ s/);
  });

  it('agent without an agent: E_NO_AGENT, exit 3; auto falls back to sampling', () => {
    const r = cli(['doctor', '--source', 'agent', '--data-dir', dir, '--proc-root', proc]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_NO_AGENT/);
    const auto = cli(['doctor', '--data-dir', dir, '--proc-root', proc, '--interval', '0', '--json']);
    const report = JSON.parse(auto.stdout);
    expect(report.source.kind).toBe('sample');
    expect(report.source.note).toMatch(/no rstwatch agent is running/);
  });

  it('rejects a bad --source and --window', () => {
    expect(cli(['doctor', '--source', 'both']).code).toBe(2);
    expect(cli(['doctor', '--window', '0s']).code).toBe(2);
  });
});
