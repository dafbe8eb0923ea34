/**
 * The debug counters file (`debug counters file = PATH`, `--debug-counters-file`): one JSON line per tick
 * with exactly what the sampler fed the store — the raw counters of every namespace, the tick's wall,
 * boundary and monotonic times, the gap flag, the uptime value — after a header line with what the alert
 * engine was built from. Two uses, both in docs/reliability.md:
 *
 *  - sampling lateness per tick (`t - b`), measured by the agent itself;
 *  - an offline replay (`replayCounterDump`): the same counters through a fresh Store and HealthEngine in
 *    simulated time must give the transitions the agent logged, one by one. The soak (bench/soak.mjs)
 *    checks that for an hour of storms; a transition that differs means the live path (timers, history,
 *    API reads, attribution) changed what the alert engine saw or did.
 *
 * Writes are synchronous appends (a few kB per tick): a SIGKILL loses at most the line being written, and
 * a write that fails is said once and stops the file, never the agent.
 */

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { AlarmEntry } from '../health/engine.js';
import { loadHealth } from '../health/load.js';
import { HealthEngine, type HealthPersistence } from '../health/scheduler.js';
import { errorMessage } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import type { Os } from '../model/charts.js';
import { Store } from '../store/store.js';
import type { SampleInfo } from './sampler.js';

export const DUMP_VERSION = 1;

/** The first line: what the store and the alert engine were built from. */
export interface DumpHeader {
  kind: 'rstwatch-counters';
  version: number;
  os: Os;
  hostname: string;
  /** Namespace labels in collector order (the order the store was given them). */
  namespaces: string[];
  store: { updateEvery: number; ringSeconds: number; gapAfterLostIterations: number };
  health: { user: string; shipped?: string };
  /** `health.announce()` time (epoch s) and the clocks the suspend check starts from. */
  announceSec: number;
  startWallMs: number;
  startMonoMs: number;
}

/** One tick. Short keys: an hour is 3,600 lines of a few kB. */
export interface DumpTick {
  /** Wall clock at the sample (epoch ms); the store's timestamp. */
  t: number;
  /** The second boundary the tick belongs to (epoch ms): lateness is t − b. */
  b: number;
  /** Monotonic ms the agent's suspend check used. */
  m: number;
  gap?: true;
  /** The wall clock went back to this second (store.clockWentBack). */
  back?: number;
  /** netdata.uptime's value. */
  up: number;
  /** Counters per namespace label. */
  ns: Record<string, Record<string, number>>;
}

export class CounterDump {
  private fd: number | undefined;
  private readonly path: string;
  private readonly log: Logger;

  constructor(path: string, header: DumpHeader, log: Logger) {
    this.path = path;
    this.log = log;
    try {
      this.fd = openSync(path, 'w', 0o600);
    } catch (err) {
      log.error(`cannot write the debug counters file ${path}: ${errorMessage(err)}`, {
        code: 'E_DEBUG_DUMP',
      });
      return;
    }
    this.write(header);
  }

  tick(wallMs: number, monoMs: number, s: SampleInfo): void {
    const ns: Record<string, Record<string, number>> = {};
    for (const r of s.results) ns[r.netns] = r.counters;
    const line: DumpTick = { t: wallMs, b: s.boundaryMs, m: monoMs, up: s.uptimeSeconds, ns };
    if (s.gap) line.gap = true;
    if (s.clockBackToSec !== undefined) line.back = s.clockBackToSec;
    this.write(line);
  }

  private write(v: DumpHeader | DumpTick): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, `${JSON.stringify(v)}\n`);
    } catch (err) {
      this.log.error(
        `writing the debug counters file ${this.path} failed; it stops here: ${errorMessage(err)}`,
        {
          code: 'E_DEBUG_DUMP',
        },
      );
      this.close();
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // nothing more to lose
    }
    this.fd = undefined;
  }
}

/**
 * Netdata's resume-from-suspend test (§3.2, health.c): realtime advanced more than twice as much as
 * monotonic time (plus a second of slack) since the last check. The agent and the replay both use this.
 */
export function resumedFromSuspend(
  prevWallMs: number,
  prevMonoMs: number,
  wallMs: number,
  monoMs: number,
): boolean {
  return wallMs - prevWallMs > 2 * (monoMs - prevMonoMs) + 1000;
}

/** Seconds the alert checks wait after a resume (Netdata's `postpone alarms during hibernation for`). */
export const POSTPONE_AFTER_SUSPEND_SECONDS = 60;

/** Parse a dump; a torn last line (the agent was killed mid-write) is ignored, any other bad line is an error. */
export function readCounterDump(path: string): { header: DumpHeader; ticks: DumpTick[] } {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const ticks: DumpTick[] = [];
  let header: DumpHeader | undefined;
  for (let i = 0; i < lines.length; i++) {
    let v: unknown;
    try {
      v = JSON.parse(lines[i]!);
    } catch (err) {
      if (i === lines.length - 1) break;
      throw new Error(`${path}:${i + 1}: not JSON: ${errorMessage(err)}`);
    }
    if (i === 0) {
      const h = v as DumpHeader;
      if (h.kind !== 'rstwatch-counters' || h.version !== DUMP_VERSION)
        throw new Error(`${path}:1: not an rstwatch counters file of version ${DUMP_VERSION}`);
      header = h;
    } else ticks.push(v as DumpTick);
  }
  if (!header) throw new Error(`${path}: empty`);
  return { header, ticks };
}

/** The fields of a transition fixed when it is created (flags and links change later; these never do). */
export interface TransitionKey {
  when: number;
  chart: string;
  name: string;
  oldStatus: number;
  newStatus: number;
  oldValue: number;
  newValue: number;
  delay: number;
}

export function transitionKey(e: AlarmEntry): TransitionKey {
  return {
    when: e.when,
    chart: e.chart,
    name: e.name,
    oldStatus: e.oldStatus,
    newStatus: e.newStatus,
    oldValue: e.oldValue,
    newValue: e.newValue,
    delay: e.delay,
  };
}

/**
 * Replay a dump through a fresh Store and HealthEngine in simulated time, as the agent's tick does it:
 * clock-back, ingest per namespace, uptime, the suspend check, iterate. Returns every entry the engine
 * wrote to its log (transitions, and repeat notifications), in the order it created them — the order of
 * unique ids in the agent's alert log.
 */
export function replayCounterDump(dump: { header: DumpHeader; ticks: readonly DumpTick[] }): TransitionKey[] {
  const h = dump.header;
  const store = new Store({
    updateEvery: h.store.updateEvery,
    ringSeconds: h.store.ringSeconds,
    gapAfterLostIterations: h.store.gapAfterLostIterations,
  });
  for (const ns of h.namespaces) store.addNamespace(ns, h.os);
  const health = loadHealth({
    user: h.health.user,
    ...(h.health.shipped ? { shipped: h.health.shipped } : {}),
  });
  const created: TransitionKey[] = [];
  const seen = new Set<number>();
  const persistence: HealthPersistence = {
    alarmId: (() => {
      const ids = new Map<string, number>();
      return (chart: string, name: string) => {
        const k = `${chart}\u0000${name}`;
        if (!ids.has(k)) ids.set(k, ids.size + 1);
        return ids.get(k)!;
      };
    })(),
    saveEntry(e) {
      if (seen.has(e.uniqueId)) return;
      seen.add(e.uniqueId);
      created.push(transitionKey(e));
    },
    saveState() {},
  };
  const engine = new HealthEngine({
    store,
    host: { hostname: h.hostname, labels: { _os: h.os, _hostname: h.hostname } },
    alerts: health.alerts,
    persistence,
  });
  engine.announce(h.announceSec);
  let prevWall = h.startWallMs;
  let prevMono = h.startMonoMs;
  for (const k of dump.ticks) {
    if (k.back !== undefined) store.clockWentBack(k.back);
    const tUs = k.t * 1000;
    for (const ns of h.namespaces) store.ingest(ns, k.ns[ns] ?? {}, tUs, k.gap === true);
    const uptime = store.chart('netdata.uptime');
    if (uptime) store.ingestChart(uptime, { uptime: k.up }, tUs);
    if (resumedFromSuspend(prevWall, prevMono, k.t, k.m))
      engine.postpone(Math.floor(k.t / 1000) + POSTPONE_AFTER_SUSPEND_SECONDS);
    prevWall = k.t;
    prevMono = k.m;
    engine.iterate(Math.floor(k.t / 1000));
  }
  return created;
}
