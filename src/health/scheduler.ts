/**
 * The health engine: binds alert configurations to charts, resolves variables, and runs Netdata's
 * per-host iteration (§3.3): pass 1 lookups and calcs of every due alert, pass 2 warn/crit and
 * transitions, pass 3 repeats, pass 4 notification decisions. One scheduler owns the timing: the agent calls
 * `iterate(now)` every second after sampling; each alert runs when its `next_update` has come (anchored to
 * its first run, §3.2).
 */

import type { Logger } from '../internal/log.js';
import type { ChartEntry, Store } from '../store/store.js';
import {
  type AlarmEntry,
  AlarmLog,
  type AlertState,
  type DelayState,
  type ExprOutcome,
  FLAG,
  initialDelayState,
  isRepeating,
  newTransitionId,
  notificationDecision,
  repeatStep,
  step,
  type Transition,
} from './engine.js';
import { type EvalResult, type Expression, evaluate } from './expr/index.js';
import { lookupRunnable, runLookup } from './lookup.js';
import { compileSimplePattern, labelFilterMatches } from './pattern.js';
import { type SilenceAction, Silencers } from './silencers.js';
import { type AlertConfig, STATUS, type Status, statusName } from './types.js';

export interface CompiledAlert {
  config: AlertConfig;
  calc?: Expression;
  warn?: Expression;
  crit?: Expression;
  /** Identifies the configuration text (Netdata's config_hash_id). */
  configHashId: string;
}

/** One alert bound to one chart: the pure state of engine.ts (AlertState) plus what the scheduler tracks. */
export interface AlertRuntime extends AlertState {
  alarmId: number;
  compiled: CompiledAlert;
  chart: ChartEntry;
  /** The chart id as shown to users (`ip.tcphandshake`). */
  chartId: string;
  status: Status;
  oldStatus: Status;
  value: number;
  oldValue: number;
  lastStatusChange: number;
  lastStatusChangeValue: number;
  lastUpdated: number;
  nextUpdate: number;
  dbAfter: number;
  dbBefore: number;
  delay: DelayState;
  runnable: boolean;
  dbError: boolean;
  dbNan: boolean;
  calcError: boolean;
  warnResult?: EvalResult;
  critResult?: EvalResult;
  lastRepeat: number;
  timesRepeat: number;
  runOnce: boolean;
  /** Matched by a DISABLE silencer: not evaluated at all (silencers.ts; Netdata's RRDCALC_FLAG_DISABLED). */
  disabled: boolean;
  /** Matched by a SILENCE silencer: evaluated and logged, never notified (RRDCALC_FLAG_SILENCED). */
  silenced: boolean;
}

export interface HealthHost {
  hostname: string;
  /** Host labels: at least `_os` and `_hostname`. */
  labels: Record<string, string>;
}

/** Receives the transitions whose notification is due and decided "send"; returns the exec code. */
export type Notifier = (entry: AlarmEntry, alert: AlertRuntime) => number;

/** Where the engine persists what it does (the agent's SQLite; tests pass nothing). */
export interface HealthPersistence {
  alarmId(chart: string, name: string): number;
  saveEntry(entry: AlarmEntry): void;
  /** An alert's state after its evaluation; may be buffered until `endIteration`. */
  saveState(alert: AlertRuntime): void;
  /**
   * Called once at the end of every iteration: write the states buffered by `saveState` (one transaction
   * for all of them, instead of one commit per alert and second).
   */
  endIteration?(): void;
}

export interface HealthEngineOptions {
  store: Store;
  host: HealthHost;
  alerts: readonly CompiledAlert[];
  log?: AlarmLog;
  notifier?: Notifier;
  persistence?: HealthPersistence;
  logger?: Logger;
  /** The management API's silencers (the agent's are kept in the data folder); default: none, in memory. */
  silencers?: Silencers;
}

const STATUS_VARS: Record<string, number> = {
  REMOVED: STATUS.REMOVED,
  UNDEFINED: STATUS.UNDEFINED,
  UNINITIALIZED: STATUS.UNINITIALIZED,
  CLEAR: STATUS.CLEAR,
  WARNING: STATUS.WARNING,
  CRITICAL: STATUS.CRITICAL,
};

/** Beyond this many entries, the in-memory alert log is pruned to what the rules need. */
export const MAX_LOG_ENTRIES_IN_MEMORY = 2000;
/** With persistence, entries older than this leave memory too (they are on disk): see pruneLog. */
export const LOG_MEMORY_SECONDS = 3600;

export class HealthEngine {
  readonly log: AlarmLog;
  private readonly store: Store;
  private readonly host: HealthHost;
  private readonly notifier: Notifier | undefined;
  private readonly persistence: HealthPersistence | undefined;
  private readonly logger: Logger | undefined;
  /** Silencers of the management API (`/api/v1/manage/health`); changed by the server, read every pass 1. */
  readonly silencers: Silencers;
  private readonly runtimes: AlertRuntime[] = [];
  /** Alert name → its instances (variables may name another alert). */
  private readonly byName = new Map<string, AlertRuntime[]>();
  private nextAlarmId = 1;
  private postponedUntil = 0;
  /** The `now` of the last iteration, to see the wall clock step back. */
  private lastNow = Number.NaN;
  /** The `now` of the last pass that pruned the log by age (pruneLog). */
  private lastAgePrune = Number.NEGATIVE_INFINITY;

  constructor(opts: HealthEngineOptions) {
    this.store = opts.store;
    this.host = opts.host;
    this.log = opts.log ?? new AlarmLog();
    this.notifier = opts.notifier;
    this.persistence = opts.persistence;
    this.logger = opts.logger;
    this.silencers = opts.silencers ?? new Silencers();
    for (const c of opts.alerts) this.bind(c);
  }

  get alerts(): readonly AlertRuntime[] {
    return this.runtimes;
  }

  /**
   * Attach one configuration to the charts it names (§2.2): `alarm` by chart id, name or alias; `template` by
   * context, once per matching chart. Host labels must match; chart labels must match.
   */
  private bind(c: CompiledAlert, now = Math.floor(Date.now() / 1000)): void {
    const cfg = c.config;
    if (!labelFilterMatches(cfg.hostLabels, this.host.labels)) return;
    const charts =
      cfg.kind === 'alarm'
        ? [this.store.chart(cfg.on)].filter((x): x is ChartEntry => x !== undefined)
        : this.store.allCharts().filter((e) => e.instance.def.context === cfg.on);
    for (const chart of charts) {
      const labels = {
        ...chart.instance.labels,
        _collect_plugin: chart.instance.def.plugin,
        _collect_module: chart.instance.def.module,
      };
      if (!labelFilterMatches(cfg.chartLabels, labels)) continue;
      for (const one of foreachDimension(c, chart)) this.attach(one, chart, now);
    }
  }

  private attach(c: CompiledAlert, chart: ChartEntry, now: number): void {
    const cfg = c.config;
    const chartId = chart.instance.fullId;
    if (this.runtimes.some((r) => r.chartId === chartId && r.compiled.config.name === cfg.name)) return;
    const alarmId = this.persistence?.alarmId(chartId, cfg.name) ?? this.nextAlarmId++;
    const rt: AlertRuntime = {
      alarmId,
      compiled: c,
      chart,
      chartId,
      status: STATUS.UNINITIALIZED,
      oldStatus: STATUS.UNINITIALIZED,
      value: Number.NaN,
      oldValue: Number.NaN,
      lastStatusChange: now,
      lastStatusChangeValue: Number.NaN,
      lastUpdated: 0,
      nextUpdate: 0,
      dbAfter: 0,
      dbBefore: 0,
      delay: initialDelayState(cfg.delay),
      runnable: false,
      dbError: false,
      dbNan: false,
      calcError: false,
      lastRepeat: 0,
      timesRepeat: 0,
      runOnce: false,
      disabled: false,
      silenced: false,
    };
    this.runtimes.push(rt);
    // A new alert has not seen the silencers yet: the next refresh applies them to every alert.
    this.silencerGeneration = -1;
    const list = this.byName.get(cfg.name) ?? [];
    list.push(rt);
    this.byName.set(cfg.name, list);
  }

  /** Write the REMOVED→UNINITIALIZED entry Netdata logs when an alert is linked to its chart (§3.1). */
  announce(now: number): void {
    this.refreshSilencers();
    for (const rt of this.runtimes) {
      rt.lastStatusChange = now;
      this.addEntry(rt, {
        when: now,
        oldStatus: STATUS.REMOVED,
        newStatus: STATUS.UNINITIALIZED,
        oldValue: Number.NaN,
        newValue: Number.NaN,
        duration: 0,
        delay: 0,
      });
    }
  }

  /** §3.2: may this alert run now? */
  private isRunnable(rt: AlertRuntime, now: number): boolean {
    const cfg = rt.compiled.config;
    if (rt.nextUpdate > now) return false;
    if (!(cfg.every > 0)) return false;
    if (rt.chart.collections < 2) return false;
    const first = this.store.firstT(rt.chart);
    if (Number.isNaN(first) || now + this.store.updateEvery < first) return false;
    if (cfg.lookup && cfg.lookup.after !== 0 && !lookupRunnable(this.store, rt.chart, cfg.lookup, now))
      return false;
    return true;
  }

  /** §2.6: resolve a variable for an alert; undefined = unknown. */
  private variable(rt: AlertRuntime, name: string, now: number): number | undefined {
    switch (name) {
      case 'this':
        return rt.value;
      case 'after':
        return rt.dbAfter;
      case 'before':
        return rt.dbBefore;
      case 'now':
        return now;
      case 'status':
        return rt.status;
      case 'last_collected_t':
        return rt.chart.lastCollectedT;
      case 'update_every':
        return this.store.updateEvery;
      case 'green':
        return rt.compiled.config.green ?? Number.NaN;
      case 'red':
        return rt.compiled.config.red ?? Number.NaN;
    }
    const st = STATUS_VARS[name];
    if (st !== undefined) return st;
    // A dimension of the alert's own chart, by id or name; `_raw` and `_last_collected_t` suffixes.
    const dim = this.dimensionValue(rt.chart, name);
    if (dim !== undefined) return dim;
    // Another alert with that name: the one on the chart sharing the most labels wins.
    const others = this.byName.get(name);
    if (others && others.length > 0) return this.closest(rt, others).value;
    // chart_or_context.dimension, split at the last dot, then earlier dots.
    for (let dot = name.lastIndexOf('.'); dot > 0; dot = name.lastIndexOf('.', dot - 1)) {
      const chartName = name.slice(0, dot);
      const dimName = name.slice(dot + 1);
      const byId = this.store.chart(chartName);
      const candidates = byId
        ? [byId]
        : this.store.allCharts().filter((e) => e.instance.def.context === chartName);
      let best: { v: number; score: number } | undefined;
      for (const c of candidates) {
        const v = this.dimensionValue(c, dimName);
        if (v === undefined) continue;
        const score = sharedLabels(c, rt.chart);
        if (!best || score > best.score) best = { v, score };
      }
      if (best) return best.v;
    }
    return undefined;
  }

  private dimensionValue(chart: ChartEntry, name: string): number | undefined {
    for (const s of chart.series) {
      if (s.dim.id === name || s.dim.name === name) return s.ring.get(s.ring.lastT);
      if (`${s.dim.id}_raw` === name || `${s.dim.name}_raw` === name) return s.lastRaw;
      if (`${s.dim.id}_last_collected_t` === name || `${s.dim.name}_last_collected_t` === name) {
        // The dimension's own time (Netdata's rd->last_collected_time), not the chart's: they differ when a
        // counter is missing from a collection while the chart's other counters are collected.
        return s.lastCollectedT;
      }
    }
    return undefined;
  }

  private closest(rt: AlertRuntime, others: AlertRuntime[]): AlertRuntime {
    let best = others[0]!;
    let bestScore = -1;
    for (const o of others) {
      const score = o.chart === rt.chart ? Number.POSITIVE_INFINITY : sharedLabels(o.chart, rt.chart);
      if (score > bestScore) {
        best = o;
        bestScore = score;
      }
    }
    return best;
  }

  private evalExpr(rt: AlertRuntime, expr: Expression, now: number): EvalResult {
    return evaluate(expr, (name) => this.variable(rt, name, now));
  }

  /**
   * After a resume from suspend Netdata postpones every health check (`postpone alarms during hibernation
   * for`, 60 s, §3.2): the data around the suspend is gaps, and alerts should not flap on them.
   */
  postpone(until: number): void {
    this.postponedUntil = Math.max(this.postponedUntil, until);
    this.logger?.info('alert checks postponed after a suspend or clock jump', { until });
  }

  /**
   * The wall clock stepped back by `-shift` seconds (NTP step, manual change). Netdata compares next_update
   * with the new, earlier time and leaves every alert waiting: after a 1-hour step back, an hour without
   * checks, a raised alert that never clears and a storm that never raises one (docs/reliability.md). Here
   * every time still ahead moves with the clock — next run, delay window, repeat clock, postponement,
   * notifications waiting for their delay — so what was due in 3 s is still due in 3 s. Times already
   * logged (`when`) stay: they happened.
   */
  private shiftTimes(shift: number): void {
    const move = (t: number) => (t > 0 ? t + shift : t);
    for (const rt of this.runtimes) {
      rt.nextUpdate = move(rt.nextUpdate);
      rt.lastUpdated = move(rt.lastUpdated);
      rt.lastStatusChange = move(rt.lastStatusChange);
      rt.lastRepeat = move(rt.lastRepeat);
      rt.delay = { ...rt.delay, upToTimestamp: move(rt.delay.upToTimestamp) };
    }
    for (const e of this.log.pending()) e.delayUpToTimestamp = move(e.delayUpToTimestamp);
    this.postponedUntil = move(this.postponedUntil);
    this.logger?.warn('wall clock went back; alert timers moved with it', { bySeconds: -shift });
  }

  private silencerGeneration = -1;

  /**
   * Apply the silencers to every alert (Netdata's update_disabled_silenced, once per alert per pass 1): sets
   * `disabled` and `silenced`, and logs each alert whose silencing changed. Cheap when nothing changed; the
   * management API calls it after a command so `/api/v1/alarms` shows the change at once.
   */
  refreshSilencers(): void {
    const gen = this.silencers.generation;
    if (gen === this.silencerGeneration) return;
    this.silencerGeneration = gen;
    for (const rt of this.runtimes) {
      const action: SilenceAction = this.silencers.inactive
        ? 'none'
        : this.silencers.match({
            name: rt.compiled.config.name,
            chart: rt.chartId,
            chartNames: rt.chart.instance.names,
            context: rt.chart.instance.def.context,
            hostname: this.host.hostname,
          });
      const disabled = action === 'disable';
      const silenced = action === 'silence';
      if (disabled !== rt.disabled || silenced !== rt.silenced) {
        this.logger?.info(`alert '${rt.compiled.config.name}' of '${rt.chartId}': silencing changed`, {
          disabled,
          silenced,
        });
      }
      rt.disabled = disabled;
      rt.silenced = silenced;
    }
  }

  /** One iteration at wall-clock second `now`. Returns the entries added to the log. */
  iterate(now: number): AlarmEntry[] {
    const added: AlarmEntry[] = [];
    // Iterations come once per update_every: an earlier `now` is the wall clock stepping back.
    if (now < this.lastNow) this.shiftTimes(now - (this.lastNow + this.store.updateEvery));
    this.lastNow = now;
    if (now < this.postponedUntil) return added;
    const due: AlertRuntime[] = [];
    // Pass 1: values. Silencers first (§3.3 "apply silencers"): a DISABLED alert is skipped entirely — no
    // value, no status change, no log entry — as Netdata's update_disabled_silenced → `continue`.
    this.refreshSilencers();
    for (const rt of this.runtimes) {
      if (rt.disabled) {
        rt.runnable = false;
        continue;
      }
      rt.runnable = this.isRunnable(rt, now);
      if (!rt.runnable) continue;
      due.push(rt);
      const cfg = rt.compiled.config;
      rt.oldValue = rt.value;
      if (cfg.lookup && cfg.lookup.after !== 0) {
        const r = runLookup(this.store, rt.chart, cfg.lookup, now);
        rt.value = r.value;
        rt.dbAfter = r.dbAfter;
        rt.dbBefore = r.dbBefore;
        rt.dbError = !r.ok;
        rt.dbNan = r.isNull;
        if (!r.ok || r.isNull) rt.value = Number.NaN;
      }
      if (rt.compiled.calc) {
        const r = this.evalExpr(rt, rt.compiled.calc, now);
        rt.calcError = !r.ok;
        rt.value = r.ok ? r.value : Number.NaN;
      }
    }
    // Pass 2: statuses and transitions (engine.ts step: pure).
    for (const rt of due) {
      const { warn, crit } = rt.compiled;
      rt.warnResult = warn ? this.evalExpr(rt, warn, now) : undefined;
      rt.critResult = crit ? this.evalExpr(rt, crit, now) : undefined;
      const w: ExprOutcome = rt.warnResult && { ok: rt.warnResult.ok, value: rt.warnResult.value };
      const c: ExprOutcome = rt.critResult && { ok: rt.critResult.ok, value: rt.critResult.value };
      const r = step(rt, rt.compiled.config, { warn: w, crit: c }, now);
      if (r.state !== rt) Object.assign(rt, r.state);
      if (r.transition) added.push(this.addEntry(rt, r.transition));
      rt.lastUpdated = now;
      rt.nextUpdate = now + rt.compiled.config.every;
      this.persistence?.saveState(rt);
    }
    // Pass 3: repeats (§3.6; engine.ts repeatStep: pure).
    for (const rt of this.runtimes) {
      if (rt.disabled) continue;
      const r = repeatStep(rt, rt.compiled.config, now);
      if (r.state !== rt) Object.assign(rt, r.state);
      if (!r.repeat) continue;
      // A fresh entry, decided and sent at once and not inserted into the log list (§3.6).
      const entry = this.makeEntry(rt, r.repeat);
      if (r.repeat.runOnce) entry.flags |= FLAG.RUN_ONCE;
      entry.flags |= FLAG.PROCESSED;
      const decision = notificationDecision(entry, this.log.lastExecuted(entry.alarmId, entry));
      if (decision.send) this.send(entry, rt, now);
      else this.persistence?.saveEntry(entry);
    }
    // Pass 4: notifications.
    this.processNotifications(now);
    this.persistence?.endIteration?.();
    this.pruneLog(now);
    return added;
  }

  /**
   * Memory stays bounded: keep what the rules still look at — the pending entries, the newest entry of each
   * alarm and its last executed one (§3.8 step 4) — and drop the rest when the log passes
   * MAX_LOG_ENTRIES_IN_MEMORY. With persistence every entry is on disk (db-guard.ts keeps the ones a failed
   * write left), so the rest also goes once it is older than LOG_MEMORY_SECONDS: an hour of transitions
   * stays in memory, like every other per-second structure of the agent, and memory is flat after the first
   * hour instead of filling for hours towards the cap — with attribution context an entry is 1–2 KB, and
   * the soak's 180 transitions an hour added some 0.3 MB an hour to its growth (issue 8, docs/reliability.md).
   */
  private pruneLog(now: number): void {
    const all = this.log.all;
    const tooMany = all.length > MAX_LOG_ENTRIES_IN_MEMORY;
    // Checked once a minute (an O(entries) pass); a clock stepping back makes the next check come sooner.
    const byAge =
      this.persistence !== undefined && !(now >= this.lastAgePrune && now < this.lastAgePrune + 60);
    if (!tooMany && !byAge) return;
    if (byAge) this.lastAgePrune = now;
    const keepAfter = tooMany ? Number.POSITIVE_INFINITY : now - LOG_MEMORY_SECONDS;
    const newest = new Map<number, number>();
    const lastExec = new Map<number, number>();
    for (const e of all) {
      newest.set(e.alarmId, e.uniqueId);
      if (e.flags & FLAG.EXEC_RUN) lastExec.set(e.alarmId, e.uniqueId);
    }
    this.log.prune(
      (e) =>
        e.when > keepAfter ||
        newest.get(e.alarmId) === e.uniqueId ||
        lastExec.get(e.alarmId) === e.uniqueId ||
        !(e.flags & (FLAG.PROCESSED | FLAG.UPDATED)),
    );
  }

  private makeEntry(rt: AlertRuntime, t: Transition): AlarmEntry {
    const { when: now, oldStatus, newStatus, delay, oldValue, newValue, duration } = t;
    const cfg = rt.compiled.config;
    const exprSrc = newStatus === STATUS.CRITICAL ? cfg.crit : cfg.warn;
    const exprRes = newStatus === STATUS.CRITICAL ? rt.critResult : rt.warnResult;
    let flags = 0;
    if (cfg.noClearNotification) flags |= FLAG.NO_CLEAR_NOTIFICATION;
    if (isRepeating(cfg)) flags |= FLAG.IS_REPEATING;
    // §3.3: the entry of a silenced alert carries SILENCED, and §3.8 step 5 skips its notification.
    if (rt.silenced) flags |= FLAG.SILENCED;
    return {
      uniqueId: this.log.newUniqueId(),
      alarmId: rt.alarmId,
      alarmEventId: this.log.nextEventId(rt.alarmId),
      globalId: now * 1_000_000,
      configHashId: rt.compiled.configHashId,
      transitionId: newTransitionId(),
      when: now,
      duration,
      nonClearDuration: oldStatus > STATUS.CLEAR ? duration : 0,
      name: cfg.name,
      chart: rt.chartId,
      context: rt.chart.instance.def.context,
      classification: cfg.class ?? 'Unknown',
      component: cfg.component ?? 'Unknown',
      type: cfg.type ?? 'Unknown',
      exec: cfg.exec ?? '',
      recipient: cfg.to ?? 'root',
      execRunTimestamp: 0,
      execCode: 0,
      source: `line=${cfg.source.line},file=${cfg.source.file}`,
      units: cfg.units ?? rt.chart.instance.def.units,
      summary: cfg.summary ?? cfg.name,
      info: cfg.info ?? '',
      oldValue,
      newValue,
      oldStatus,
      newStatus,
      flags,
      delay,
      delayUpToTimestamp: now + delay,
      updatedById: 0,
      updatesId: 0,
      lastRepeat: rt.lastRepeat,
      expression: exprSrc?.source ?? '',
      trace: exprRes?.trace ?? '',
    };
  }

  private addEntry(rt: AlertRuntime, t: Transition): AlarmEntry {
    const { oldStatus, newStatus, delay, newValue } = t;
    const entry = this.makeEntry(rt, t);
    const superseded = this.log.add(entry);
    this.persistence?.saveEntry(entry);
    if (superseded) this.persistence?.saveEntry(superseded);
    const level = newStatus < STATUS.CLEAR && oldStatus === STATUS.REMOVED ? 'debug' : 'info';
    this.logger?.[level](
      `ALERT '${entry.name}' of '${entry.chart}': ${statusName(oldStatus)} → ${statusName(newStatus)}`,
      {
        value: Number.isNaN(newValue) ? 'nan' : Number(newValue.toFixed(3)),
        delay,
        id: entry.uniqueId,
      },
    );
    return entry;
  }

  /** §3.8: every entry neither PROCESSED nor UPDATED whose delay has expired. */
  private processNotifications(now: number): void {
    for (const entry of this.log.pending()) {
      if (now < entry.delayUpToTimestamp) continue;
      entry.flags |= FLAG.PROCESSED;
      const rt = this.runtimes.find((r) => r.alarmId === entry.alarmId);
      const decision = notificationDecision(entry, this.log.lastExecuted(entry.alarmId, entry));
      if (decision.send && rt) this.send(entry, rt, now);
      this.persistence?.saveEntry(entry);
    }
  }

  private send(entry: AlarmEntry, rt: AlertRuntime, now: number): void {
    entry.flags |= FLAG.EXEC_RUN;
    entry.execRunTimestamp = now;
    entry.execCode = this.notifier ? this.notifier(entry, rt) : 0;
    if (entry.execCode !== 0) entry.flags |= FLAG.EXEC_FAILED;
    this.persistence?.saveEntry(entry);
  }
}

/**
 * `lookup: … foreach PATTERN` on a template: one alert per dimension of the chart whose id or name matches
 * PATTERN, named `<template>_<dimension name>`, its lookup reading that dimension only (the `of` pattern is
 * replaced by the dimension's name). This is Netdata's rrdcalctemplate_check_rrddim_conditions_and_link
 * (1.37–1.44, `rrdcalc_alert_name_with_dimension`): the pattern is a simple pattern whose `,` and `|` count
 * as spaces (health_pattern_from_foreach), a dimension is taken when the id or the name matches positively,
 * and the configuration hash is the template's. A chart without matching dimensions gets no alert. An
 * `alarm:` with foreach is not expanded (Netdata expands templates only; config.ts warns).
 */
export function foreachDimension(c: CompiledAlert, chart: ChartEntry): CompiledAlert[] {
  const cfg = c.config;
  const lookup = cfg.lookup;
  if (cfg.kind !== 'template' || lookup?.foreach === undefined) return [c];
  const pattern = compileSimplePattern(lookup.foreach.replace(/[,|]/g, ' '));
  const out: CompiledAlert[] = [];
  for (const s of chart.series) {
    if (pattern.matches(s.dim.id) !== true && pattern.matches(s.dim.name) !== true) continue;
    const { foreach: _expanded, ...rest } = lookup;
    out.push({
      ...c,
      config: { ...cfg, name: `${cfg.name}_${s.dim.name}`, lookup: { ...rest, dimensions: s.dim.name } },
    });
  }
  return out;
}

function sharedLabels(a: ChartEntry, b: ChartEntry): number {
  let n = 0;
  for (const [k, v] of Object.entries(a.instance.labels)) if (b.instance.labels[k] === v) n++;
  return n;
}
