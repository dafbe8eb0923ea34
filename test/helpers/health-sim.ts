/**
 * The whole alert engine in simulated time: alert configuration text → compiled alerts → a Store with the
 * host namespace → one simulated second after another, the way the agent drives it (src/agent/agent.ts and
 * sampler.ts): each second t the counters are collected at t + 0.2 s, `netdata.uptime` gets the seconds since
 * the simulated agent started, then `engine.iterate(t)` runs. Every log entry, every evaluation and every
 * notification is recorded with its time.
 *
 * Rate notation (per-second events, one token per run of seconds, whitespace-separated):
 *
 *   `0x70 300x40 0x60`  70 s at 0/s, then 40 s at 300/s, then 60 s at 0/s
 *   `5`                 one second at 5/s (same as `5x1`)
 *   `_x15`              15 s with no collection (a gap; the counter does not advance)
 *   `8x3~2`             3 s alternating 8+2 and 8−2 per second (10, 6, 10): a wobble, same average
 *
 * The rate of second t is the counter increase between the collections at t − 1 + 0.2 and t + 0.2. With
 * Netdata's interpolation onto whole seconds (§5, src/store/rates.ts) the stored slot t is therefore
 * 0.2 · rate(t − 1) + 0.8 · rate(t); the first slot after a start or a gap is 0.8 · rate (counting starts at
 * the collection), and the slot of the collection that ends a gap is itself a gap.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseHealthConfig } from '../../src/health/config.js';
import { type AlarmEntry, AlarmLog, FLAG } from '../../src/health/engine.js';
import { compileAlerts } from '../../src/health/load.js';
import {
  type AlertRuntime,
  type CompiledAlert,
  HealthEngine,
  type HealthPersistence,
} from '../../src/health/scheduler.js';
import { type Status, statusName } from '../../src/health/types.js';
import { chartDefs, type Os } from '../../src/model/charts.js';
import { Store } from '../../src/store/store.js';

/** 2023-11-14T22:13:20Z: a multiple of 10, so "every 10 s from the first run" is never a multiple of 10. */
export const SIM_START = 1_700_000_000;

export const TCP_RESETS_CONF = fileURLToPath(
  new URL('../../defaults/health.d/tcp_resets.conf', import.meta.url),
);

export function shippedResetAlerts(): string {
  return readFileSync(TCP_RESETS_CONF, 'utf8');
}

/** Our own alerts (listen queue, challenge ACKs, SYN cookies, aborts, FreeBSD in-window resets). */
export const RSTWATCH_RESETS_CONF = fileURLToPath(
  new URL('../../defaults/health.d/rstwatch_resets.conf', import.meta.url),
);

export function shippedOwnAlerts(): string {
  return readFileSync(RSTWATCH_RESETS_CONF, 'utf8');
}

/** The dimensions of ip.tcphandshake (Linux), by counter name. */
export const HANDSHAKE_COUNTERS = ['EstabResets', 'OutRsts', 'AttemptFails', 'TCPSynRetrans'] as const;
export type HandshakeCounter = (typeof HANDSHAKE_COUNTERS)[number];
/**
 * A collector counter by the name the collectors report it under (src/collect/{linux,freebsd}.ts): the
 * handshake counters, or any counter a chart of the simulated OS is built from (`ListenOverflows`,
 * `TCPChallengeACK`, FreeBSD's `ignored-in-window-resets`, …). Unknown names are refused (typos).
 */
export type Counter = HandshakeCounter | (string & {});

/** Events in one second; null = not collected that second. */
export type Rate = number | null;

const TOKEN = /^(_|\d+(?:\.\d+)?)(?:x(\d+))?(?:~(\d+(?:\.\d+)?))?$/;

/** Expand the rate notation into one rate per second. */
export function parseRates(spec: string): Rate[] {
  const out: Rate[] = [];
  for (const tok of spec.trim().split(/\s+/)) {
    if (tok === '') continue;
    const m = TOKEN.exec(tok);
    if (!m) throw new Error(`bad rate token ${JSON.stringify(tok)} in ${JSON.stringify(spec)}`);
    const n = m[2] === undefined ? 1 : Number(m[2]);
    if (!(n >= 1)) throw new Error(`bad duration in ${JSON.stringify(tok)}`);
    if (m[1] === '_') {
      if (m[3] !== undefined) throw new Error(`a gap cannot wobble: ${JSON.stringify(tok)}`);
      for (let i = 0; i < n; i++) out.push(null);
      continue;
    }
    const r = Number(m[1]);
    const w = m[3] === undefined ? 0 : Number(m[3]);
    if (w > r) throw new Error(`wobble larger than the rate: ${JSON.stringify(tok)}`);
    for (let i = 0; i < n; i++) out.push(i % 2 === 0 ? r + w : r - w);
  }
  return out;
}

/** A run of seconds, for building notation strings (property tests). */
export interface Piece {
  rate: Rate;
  seconds: number;
}

export function formatRates(pieces: readonly Piece[]): string {
  return pieces.map((p) => `${p.rate === null ? '_' : p.rate}x${p.seconds}`).join(' ');
}

export interface SimOptions {
  /** Alert configuration text; default: the shipped defaults/health.d/tcp_resets.conf. */
  config?: string;
  /** File name used for positions; default the shipped file's path or `inline.conf`. */
  file?: string;
  /** Epoch second of the agent start and the first collection; default SIM_START. */
  start?: number;
  os?: Os;
  /** Collection instant within each second, microseconds; default 200 000 (t + 0.2 s). */
  phaseUs?: number;
  /** Exec code the notifier returns for an entry; default 0. */
  execCode?: (entry: AlarmEntry) => number;
  /** Where the engine persists entries and states (e.g. an AlertDb on a temporary file); default none. */
  persistence?: HealthPersistence;
}

export interface Notification {
  /** Simulated second of the iteration that executed it. */
  t: number;
  entry: AlarmEntry;
  name: string;
  newStatus: Status;
  oldStatus: Status;
  recipient: string;
}

/** One evaluation of one alert (an iteration in which it was runnable). */
export interface Evaluation {
  t: number;
  name: string;
  /** `$this` after lookup and calc. */
  value: number;
  /** Status after this evaluation. */
  status: Status;
  dbAfter: number;
  dbBefore: number;
  lastUpdated: number;
  nextUpdate: number;
  warnTrace: string;
}

/** The simulated host, agent and alert engine. */
export class HealthSim {
  readonly start: number;
  readonly os: Os;
  readonly phaseUs: number;
  readonly alerts: CompiledAlert[];
  store: Store;
  engine: HealthEngine;
  /** Epoch second the current agent process started (netdata.uptime counts from it). */
  agentStart: number;
  /** The next second to simulate. */
  t: number;
  /** Every log entry the engine wrote, in order (announce and iterations, across restarts). */
  readonly entries: AlarmEntry[] = [];
  readonly notifications: Notification[] = [];
  readonly evaluations: Evaluation[] = [];
  private readonly counters: Record<string, number> = {};
  /** Every counter name `run` and `second` accept (the simulated OS's chart counters, the handshake ones). */
  readonly counterNames: ReadonlySet<string>;
  private readonly execCode: (entry: AlarmEntry) => number;
  private readonly persistence: HealthPersistence | undefined;

  constructor(opts: SimOptions = {}) {
    const text = opts.config ?? shippedResetAlerts();
    const file = opts.file ?? (opts.config === undefined ? TCP_RESETS_CONF : 'inline.conf');
    const parsed = parseHealthConfig(text, file);
    const compiled = compileAlerts(parsed.alerts);
    const errors = [...parsed.problems, ...compiled.problems].filter((p) => p.severity === 'error');
    if (errors.length > 0 || compiled.alerts.length === 0)
      throw new Error(`alert configuration does not load: ${JSON.stringify(errors)}`);
    this.alerts = compiled.alerts;
    this.start = opts.start ?? SIM_START;
    this.os = opts.os ?? 'linux';
    this.phaseUs = opts.phaseUs ?? 200_000;
    this.execCode = opts.execCode ?? (() => 0);
    this.persistence = opts.persistence;
    for (const def of chartDefs(this.os))
      for (const dim of def.dimensions) for (const c of dim.counters) this.counters[c] = 0;
    for (const c of HANDSHAKE_COUNTERS) this.counters[c] = 1000;
    this.counterNames = new Set(Object.keys(this.counters));
    this.store = new Store();
    this.store.addNamespace('host', this.os);
    this.t = this.start;
    this.agentStart = this.start;
    this.engine = this.newEngine(new AlarmLog());
  }

  private newEngine(log: AlarmLog): HealthEngine {
    const engine = new HealthEngine({
      store: this.store,
      host: { hostname: 'sim', labels: { _os: this.os, _hostname: 'sim' } },
      alerts: this.alerts,
      log,
      ...(this.persistence ? { persistence: this.persistence } : {}),
      notifier: (entry, rt) => {
        this.notifications.push({
          t: this.t,
          entry,
          name: rt.compiled.config.name,
          newStatus: entry.newStatus,
          oldStatus: entry.oldStatus,
          recipient: entry.recipient,
        });
        return this.execCode(entry);
      },
    });
    const before = log.all.length;
    engine.announce(this.t);
    this.entries.push(...log.all.slice(before));
    return engine;
  }

  /** Simulate one second: collect (unless every given rate is null), record uptime, iterate. */
  second(rates: Partial<Record<Counter, Rate>>): AlarmEntry[] {
    const t = this.t;
    const tUs = t * 1e6 + this.phaseUs;
    const given = Object.keys(rates).filter((c) => rates[c] !== undefined);
    for (const c of given)
      if (!this.counterNames.has(c)) throw new Error(`no counter ${c} on ${this.os} (a typo?)`);
    const missing = given.length > 0 && given.every((c) => rates[c] === null);
    const counters: Record<string, number> = {};
    if (!missing) {
      for (const c of new Set([...HANDSHAKE_COUNTERS, ...given])) {
        const r = rates[c] ?? 0;
        if (r === null) continue;
        this.counters[c] = (this.counters[c] ?? 0) + r;
      }
      // A counter whose rate is `_` this second is left out of the set: a gap for its dimension only.
      for (const [k, v] of Object.entries(this.counters)) if (rates[k] !== null) counters[k] = v;
    }
    // What the sampler does for a namespace whose read failed: an empty counter set (no chart collected).
    this.store.ingest('host', counters, tUs);
    const uptime = this.store.chart('netdata.uptime');
    if (!uptime) throw new Error('no netdata.uptime chart');
    this.store.ingestChart(uptime, { uptime: Math.floor((tUs - this.agentStart * 1e6) / 1e6) }, tUs);
    const added = this.engine.iterate(t);
    this.entries.push(...added);
    for (const rt of this.engine.alerts) {
      if (rt.lastUpdated !== t) continue;
      this.evaluations.push({
        t,
        name: rt.compiled.config.name,
        value: rt.value,
        status: rt.status,
        dbAfter: rt.dbAfter,
        dbBefore: rt.dbBefore,
        lastUpdated: rt.lastUpdated,
        nextUpdate: rt.nextUpdate,
        warnTrace: rt.warnResult?.trace ?? '',
      });
    }
    this.t++;
    return added;
  }

  /**
   * Simulate the rates in the notation: a string is the AttemptFails series (the `_received` alerts'
   * dimension); an object gives several counters, by collector name (shorter series are padded with 0/s).
   * A second at which every given series has `_` is a missing collection; otherwise `_` omits that counter
   * only. `onSecond(t)` runs after each iteration.
   */
  run(
    series: string | Partial<Record<Counter, string>>,
    onSecond?: (t: number, added: AlarmEntry[]) => void,
  ): this {
    const specs: Partial<Record<Counter, string>> =
      typeof series === 'string' ? { AttemptFails: series } : series;
    const expanded = new Map<string, Rate[]>();
    let len = 0;
    for (const [c, s] of Object.entries(specs)) {
      if (s === undefined) continue;
      if (!this.counterNames.has(c)) throw new Error(`no counter ${c} on ${this.os} (a typo?)`);
      const r = parseRates(s);
      expanded.set(c, r);
      len = Math.max(len, r.length);
    }
    for (let i = 0; i < len; i++) {
      const rates: Partial<Record<Counter, Rate>> = {};
      for (const [c, r] of expanded) rates[c] = i < r.length ? (r[i] ?? null) : 0;
      const t = this.t;
      const added = this.second(rates);
      onSecond?.(t, added);
    }
    return this;
  }

  /** Simulate until (and including) second `until` at a constant AttemptFails rate. */
  runUntil(until: number, rate = 0): this {
    const n = until - this.t + 1;
    if (n > 0) this.run(`${rate}x${n}`);
    return this;
  }

  /**
   * The agent stops for `downSeconds` (no collection, no iteration) and starts again: a new Store holding
   * the old history (as `Store.load` reads it back from disk), a new engine whose log continues the unique
   * ids (as the agent restores them from SQLite), uptime from 0, and the REMOVED→UNINITIALIZED entries.
   */
  restart(downSeconds: number): void {
    this.t += downSeconds;
    const old = this.store;
    const store = new Store();
    store.addNamespace('host', this.os);
    for (const entry of old.allCharts()) {
      const target = store.chart(entry.instance.fullId);
      if (!target) throw new Error(`chart ${entry.instance.fullId} missing after restart`);
      entry.series.forEach((s, i) => {
        const dst = target.series[i];
        if (!dst || s.ring.size === 0) return;
        s.ring.forEach(s.ring.firstT, s.ring.lastT, (t, v) => dst.ring.put(t, v));
      });
    }
    this.store = store;
    const log = new AlarmLog();
    // What agent.ts restores from AlertDb.lastIds(): the last unique id and each alarm's last event id.
    const lastId = this.entries.reduce((m, e) => Math.max(m, e.uniqueId), 0);
    const eventIds = new Map<number, number>();
    for (const e of this.entries)
      eventIds.set(e.alarmId, Math.max(eventIds.get(e.alarmId) ?? 0, e.alarmEventId));
    // … and each alarm's last executed entry (AlertDb.lastIds().executed).
    const executed = new Map<number, AlarmEntry>();
    for (const e of this.entries) if (e.flags & FLAG.EXEC_RUN) executed.set(e.alarmId, e);
    log.restore(lastId, eventIds, [...executed.values()]);
    this.agentStart = this.t;
    this.engine = this.newEngine(log);
  }

  /** The runtime of the alert with that name (exactly one). */
  alert(name: string): AlertRuntime {
    const found = this.engine.alerts.filter((a) => a.compiled.config.name === name);
    if (found.length !== 1) throw new Error(`${found.length} alerts named ${name}`);
    return found[0]!;
  }

  /** Log entries of one alert, oldest first (the REMOVED→UNINITIALIZED announce entry included). */
  entriesOf(name: string): AlarmEntry[] {
    return this.entries.filter((e) => e.name === name);
  }

  /** Transitions of one alert as `[when, 'OLD→NEW', delay]`, without the announce entry. */
  transitionsOf(name: string): [number, string, number][] {
    return this.entriesOf(name)
      .filter((e) => !(e.oldStatus === -2 && e.newStatus === 0))
      .map((e) => [e.when, `${statusName(e.oldStatus)}→${statusName(e.newStatus)}`, e.delay]);
  }

  evaluationsOf(name: string): Evaluation[] {
    return this.evaluations.filter((e) => e.name === name);
  }

  /** The evaluation of `name` at second t (throws when the alert did not run then). */
  evaluationAt(name: string, t: number): Evaluation {
    const e = this.evaluations.find((x) => x.name === name && x.t === t);
    if (!e) {
      const times = this.evaluationsOf(name)
        .map((x) => x.t - this.start)
        .join(',');
      throw new Error(`${name} did not run at start+${t - this.start}; it ran at start+{${times}}`);
    }
    return e;
  }

  notificationsOf(name: string): Notification[] {
    return this.notifications.filter((n) => n.name === name);
  }
}

/** Flags of an entry as names, for readable assertions. */
export function flagNames(e: AlarmEntry): string[] {
  return Object.entries(FLAG)
    .filter(([, v]) => (e.flags & v) !== 0)
    .map(([k]) => k);
}

export function hasFlag(e: AlarmEntry, flag: number): boolean {
  return (e.flags & flag) !== 0;
}
