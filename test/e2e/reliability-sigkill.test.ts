/**
 * Issue 8, faults: SIGKILL during a database write, and restart. A real agent process watches a namespace
 * where a storm makes its alerts change state every second or two (every change is a write to the alert
 * log; every second the history is flushed and every alert's state saved), and is killed with SIGKILL at a
 * random moment, again and again (bounded), each time restarted on the same folder. After every kill:
 *  - `PRAGMA integrity_check` is ok;
 *  - every transition the agent logged (it logs one only after its write committed) is in the alert log,
 *    with the same alert, chart and statuses: nothing lost;
 *  - unique ids strictly increase, a restart continues above the last one, no (alarm, event id) or
 *    transition id twice, and per alert each entry starts where the previous one ended (or is the
 *    REMOVED→UNINITIALIZED of a start): nothing duplicated, nothing out of order;
 *  - every history row decodes (60 values, each a gap or a finite rate ≥ 0), every value flushed before
 *    is still there unchanged, and the newest flushed slot is at most a few seconds older than the kill.
 * A last clean start and SIGTERM end the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../src/health/types.js';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { BIN } from '../helpers/paths.js';

/** Kills (bounded; RW_RELIABILITY_KILLS raises it for a longer local run). */
const KILLS = Math.min(200, Number(process.env.RW_RELIABILITY_KILLS ?? 12));

const ALERTS = `
template: relkill_attempts
      on: ip.tcphandshake
  lookup: sum -1s unaligned absolute of AttemptFails
   every: 1s
    warn: $this > 5
    crit: $this > 60
    info: reliability SIGKILL test

template: relkill_rsts
      on: ip.tcphandshake
  lookup: average -2s unaligned absolute of OutRsts
   every: 1s
    warn: $this > 3
    info: reliability SIGKILL test

template: relkill_estab
      on: ip.tcphandshake
  lookup: sum -5s unaligned absolute of EstabResets
   every: 1s
    warn: $this > 0
    info: reliability SIGKILL test
`;

/** Bursts of refused connects in the namespace: 0.8 s at about 100/s, 0.8 s quiet; at most 240 s. */
const STORM = `
  const net = require('node:net');
  const t0 = Date.now();
  let inFlight = 0;
  const tick = () => {
    const el = Date.now() - t0;
    if (el > 240000) process.exit(0);
    if (el % 1600 < 800) {
      for (let i = 0; i < 2 && inFlight < 64; i++) {
        inFlight++;
        const s = net.connect({ host: '127.0.0.1', port: 9 });
        s.on('error', () => {}); s.on('close', () => inFlight--);
      }
    }
  };
  setInterval(tick, 20);
  process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;

interface Logged {
  id: number;
  name: string;
  chart: string;
  from: string;
  to: string;
}

const LINE = /"ALERT '([^']+)' of '([^']+)': (\w+) → (\w+)" value=\S+ delay=\d+ id=(\d+)/g;

function loggedTransitions(log: string): Logged[] {
  return [...log.matchAll(LINE)].map((m) => ({
    name: m[1]!,
    chart: m[2]!,
    from: m[3]!,
    to: m[4]!,
    id: Number(m[5]),
  }));
}

interface Row {
  unique_id: number;
  alarm_id: number;
  alarm_event_id: number;
  when_t: number;
  entry: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!netnsAvailable())('SIGKILL at random moments, restart on the same folder', () => {
  let ns = '';
  let storm: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  afterAll(() => {
    agent?.kill('SIGKILL');
    storm?.stdin?.end();
    storm?.kill('SIGKILL');
    if (ns) deleteNetns(ns);
  });

  it(
    `${KILLS} kills: no transition lost or duplicated, ids increasing, history intact up to the last flush`,
    async () => {
      ns = createNetns('rw-relkill');
      const dir = mkdtempSync(join(tmpdir(), 'rw-relkill-'));
      mkdirSync(join(dir, 'health.d'));
      writeFileSync(join(dir, 'health.d', 'relkill.conf'), ALERTS);
      writeFileSync(join(dir, 'notify.conf'), '');
      const dbFile = join(dir, 'data', 'history.db');
      storm = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', STORM], {
        stdio: ['pipe', 'ignore', 'inherit'],
      });

      const startAgent = (): { child: ChildProcess; log: () => string } => {
        let log = '';
        const child = spawn(
          process.execPath,
          [
            BIN,
            'agent',
            '--data-dir',
            join(dir, 'data'),
            '--netns',
            ns,
            '--listen',
            'none',
            '--attribution',
            'no',
            '--flush-every',
            '1',
            '--health-dir',
            join(dir, 'health.d'),
            '--notify-config',
            join(dir, 'notify.conf'),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RSTWATCH_CONFIG: '/dev/null' } },
        );
        child.stdout!.on('data', (d) => {
          log += d;
        });
        child.stderr!.on('data', (d) => {
          log += d;
        });
        return { child, log: () => log };
      };

      /** Non-NaN history values seen so far: `series/block/slot` → value. */
      const flushed = new Map<string, number>();
      let maxIdBefore = 0;
      let killsDuringRun = 0;
      const allLogged: Logged[] = [];
      for (let k = 0; k <= KILLS; k++) {
        const last = k === KILLS;
        const a = startAgent();
        agent = a.child;
        const exited = new Promise<number | null>((resolve) => a.child.on('close', (code) => resolve(code)));
        const spawnedAt = Date.now();
        // A random moment from 0.3 to 6 s after the spawn: during start (opening, announcing) or a run.
        const killAfterMs = last ? 4000 : 300 + Math.floor(Math.random() * 5700);
        let startLineAt = 0;
        while (Date.now() - spawnedAt < killAfterMs && a.child.exitCode === null) {
          await sleep(10);
          if (startLineAt === 0 && a.log().includes('rstwatch agent started')) startLineAt = Date.now();
        }
        expect(a.child.exitCode, a.log()).toBeNull();
        const startedBeforeKill = a.log().includes('rstwatch agent started');
        if (startedBeforeKill && !last) killsDuringRun++;
        const killSec = Math.floor(Date.now() / 1000);
        a.child.kill(last ? 'SIGTERM' : 'SIGKILL');
        const code = await exited;
        agent = undefined;
        if (last) expect(code, a.log()).toBe(0);
        const log = a.log();
        expect(log).not.toMatch(/E_AGENT_RUNNING|sampling failed|cannot write the alert log|E_DB_CORRUPT/);

        const db = new Database(dbFile);
        try {
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          const rows = db
            .prepare(
              'SELECT unique_id, alarm_id, alarm_event_id, when_t, entry FROM health_log ORDER BY unique_id',
            )
            .all() as Row[];
          const entries = rows.map((r) => ({ ...r, e: JSON.parse(r.entry) as Record<string, unknown> }));
          const byId = new Map(entries.map((r) => [r.unique_id, r]));

          // Nothing the agent logged is missing, and it is the same transition.
          const logged = loggedTransitions(log);
          allLogged.push(...logged);
          for (const l of logged) {
            const r = byId.get(l.id);
            expect(r, `transition ${l.id} logged before the kill is not in the alert log`).toBeDefined();
            expect([r!.e.name, r!.e.chart]).toEqual([l.name, l.chart]);
          }
          // A restart continues above every id stored before it.
          const idsThisRun = logged.map((l) => l.id);
          if (idsThisRun.length > 0) expect(Math.min(...idsThisRun)).toBeGreaterThan(maxIdBefore);
          maxIdBefore = Math.max(maxIdBefore, ...entries.map((r) => r.unique_id));

          // No duplicates; per alert, event ids increase and each entry starts where the previous one ended.
          const pairs = new Set(entries.map((r) => `${r.alarm_id}/${r.alarm_event_id}`));
          expect(pairs.size).toBe(entries.length);
          expect(new Set(entries.map((r) => r.e.transitionId)).size).toBe(entries.length);
          const lastOf = new Map<number, (typeof entries)[number]>();
          let prevWhen = 0;
          for (const r of entries) {
            expect(r.when_t).toBeGreaterThanOrEqual(prevWhen);
            prevWhen = r.when_t;
            const p = lastOf.get(r.alarm_id);
            if (p) {
              expect(r.alarm_event_id).toBeGreaterThan(p.alarm_event_id);
              if (r.e.oldStatus !== STATUS.REMOVED)
                expect(r.e.oldStatus, JSON.stringify([p.e, r.e])).toBe(p.e.newStatus);
            } else expect(r.e.oldStatus).toBe(STATUS.REMOVED);
            lastOf.set(r.alarm_id, r);
          }

          // History: every row decodes, nothing flushed before changed, the last flush is recent.
          const blocks = db
            .prepare('SELECT series, block, every, vals FROM tier0 ORDER BY series, block')
            .all() as { series: number; block: number; every: number; vals: Buffer }[];
          let newest = 0;
          for (const b of blocks) {
            expect(b.vals.length).toBe(60 * 8);
            for (let i = 0; i < 60; i++) {
              const v = b.vals.readDoubleLE(i * 8);
              const key = `${b.series}/${b.block}/${i}`;
              if (Number.isNaN(v)) {
                expect(flushed.has(key), `slot ${key} was flushed, now it is a gap`).toBe(false);
                continue;
              }
              expect(Number.isFinite(v) && v >= 0).toBe(true);
              const before = flushed.get(key);
              if (before !== undefined) expect(v, `slot ${key} changed after a restart`).toBe(before);
              flushed.set(key, v);
              newest = Math.max(newest, b.block + i * b.every);
            }
          }
          if (startLineAt > 0 && killSec * 1000 - startLineAt > 3000) {
            // Flushed every second: at most the tick in progress and the one before it are not on disk.
            expect(newest, `newest stored slot vs kill at ${killSec}`).toBeGreaterThanOrEqual(killSec - 3);
          }
        } finally {
          db.close();
        }
      }
      // The storm made the alerts change state across the runs (the checks above had something to check).
      const transitions = allLogged.filter((l) => l.from !== 'REMOVED');
      expect(transitions.length).toBeGreaterThan(KILLS);
      expect(
        allLogged.filter((l) => l.from === 'CLEAR' || l.from === 'WARNING' || l.from === 'CRITICAL').length,
      ).toBeGreaterThanOrEqual(3);
      expect(killsDuringRun).toBeGreaterThan(KILLS / 2);
      expect(flushed.size).toBeGreaterThan(100);
      console.log(
        `SIGKILL: ${KILLS} kills (${killsDuringRun} after the start line), ${transitions.length} transitions ` +
          `logged and found stored, max unique id ${maxIdBefore}, ${flushed.size} flushed history values unchanged`,
      );
    },
    60_000 + KILLS * 8_000,
  );
});
