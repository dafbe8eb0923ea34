/**
 * The pure core of the alert engine: status from warn/crit results, transitions with Netdata's delay
 * (hysteresis) arithmetic, alarm-log entries with the UPDATED (superseded) rule, and the notification
 * decision. No I/O, no clock: `now` is always passed in, so every behaviour is testable in simulated time.
 *
 * Sections refer to shared/design/netdata-health-semantics.md.
 */

import { randomUUID } from 'node:crypto';
import type { AlertContextExtra } from '../attribute/alert-context.js';
import { STATUS, type Status } from './types.js';

/** §3.5 alarm-log entry flags (health.h). */
export const FLAG = {
  PROCESSED: 0x1,
  UPDATED: 0x2,
  EXEC_RUN: 0x4,
  EXEC_FAILED: 0x8,
  SILENCED: 0x10,
  RUN_ONCE: 0x20,
  EXEC_IN_PROGRESS: 0x40,
  IS_REPEATING: 0x80,
  SAVED: 0x10000000,
  NO_CLEAR_NOTIFICATION: 0x80000000,
} as const;

/** The result of evaluating a warn or crit expression, as pass 2 sees it. */
export type ExprOutcome = { ok: boolean; value: number } | undefined;

/**
 * §3.3 pass 2, `status_of` then the combination: a failed or non-finite evaluation is UNDEFINED, non-zero is
 * RAISED, zero is CLEAR; warn RAISED → WARNING, crit RAISED → CRITICAL, crit CLEAR only counts when warn said
 * nothing (UNDEFINED).
 */
export function decideStatus(warn: ExprOutcome, crit: ExprOutcome): Status {
  const of = (r: ExprOutcome): Status => {
    if (r === undefined) return STATUS.UNDEFINED;
    if (!r.ok || !Number.isFinite(r.value)) return STATUS.UNDEFINED;
    return r.value !== 0 ? STATUS.RAISED : STATUS.CLEAR;
  };
  const w = of(warn);
  const c = of(crit);
  let status: Status = STATUS.UNDEFINED;
  if (w === STATUS.CLEAR) status = STATUS.CLEAR;
  if (w === STATUS.RAISED) status = STATUS.WARNING;
  if (c === STATUS.CLEAR && status === STATUS.UNDEFINED) status = STATUS.CLEAR;
  if (c === STATUS.RAISED) status = STATUS.CRITICAL;
  return status;
}

export interface DelayConfig {
  up: number;
  down: number;
  /** A C float (Math.fround) as Netdata parses it. */
  multiplier: number;
  max: number;
}

export interface DelayState {
  upCurrent: number;
  downCurrent: number;
  last: number;
  upToTimestamp: number;
}

export function initialDelayState(cfg: DelayConfig): DelayState {
  return { upCurrent: cfg.up, downCurrent: cfg.down, last: 0, upToTimestamp: 0 };
}

/** `int(float(current) * M)` capped at max (health_delay_apply_multiplier): float multiply, truncation. */
function multiply(current: number, cfg: DelayConfig): number {
  const product = Math.fround(Math.fround(current) * Math.fround(cfg.multiplier));
  return Math.min(Math.trunc(product), cfg.max);
}

/**
 * §3.3–3.4: the delay of a status change at `now` from `oldStatus` to `newStatus`. Outside the previous
 * window the delays reset to the configured ones; inside it both advance by the multiplier, on every change.
 * "Up" and "down" compare numeric statuses, so UNINITIALIZED→CLEAR is up.
 */
export function applyDelay(
  state: DelayState,
  cfg: DelayConfig,
  oldStatus: Status,
  newStatus: Status,
  now: number,
): { state: DelayState; delay: number } {
  let up: number;
  let down: number;
  if (now > state.upToTimestamp) {
    up = cfg.up;
    down = cfg.down;
  } else {
    up = multiply(state.upCurrent, cfg);
    down = multiply(state.downCurrent, cfg);
  }
  const delay = newStatus > oldStatus ? up : down;
  return { state: { upCurrent: up, downCurrent: down, last: delay, upToTimestamp: now + delay }, delay };
}

/** §3.5: one alarm-log entry. Times are epoch seconds. */
export interface AlarmEntry {
  uniqueId: number;
  alarmId: number;
  alarmEventId: number;
  /** Microsecond timestamp (Netdata's global_id). */
  globalId: number;
  configHashId: string;
  transitionId: string;
  when: number;
  duration: number;
  nonClearDuration: number;
  name: string;
  chart: string;
  context: string;
  classification: string;
  component: string;
  type: string;
  exec: string;
  recipient: string;
  execRunTimestamp: number;
  execCode: number;
  source: string;
  units: string;
  summary: string;
  info: string;
  oldValue: number;
  newValue: number;
  oldStatus: Status;
  newStatus: Status;
  flags: number;
  delay: number;
  delayUpToTimestamp: number;
  updatedById: number;
  updatesId: number;
  lastRepeat: number;
  /** The warn (or crit, when CRITICAL) expression and its evaluation trace (alarm-notify.sh $20, $21). */
  expression: string;
  trace: string;
  /**
   * Who and why behind a reset alert's transition: attribution's top peers, ports and reasons over the
   * lookup window (src/attribute/alert-context.ts). Not named `context`: that is Netdata's chart context.
   */
  context_extra?: AlertContextExtra;
}

/**
 * The in-memory alarm log: unique ids increase; adding an entry marks the previous entry of the same alarm
 * UPDATED (superseded) and links the two (health_alarm_log_add_entry, §3.5).
 */
export class AlarmLog {
  private entries: AlarmEntry[] = [];
  private nextUniqueId: number;
  private readonly eventIds = new Map<number, number>();
  /** Called with every new entry before it is stored (the agent adds attribution context here). */
  decorate: ((entry: AlarmEntry) => void) | undefined;

  constructor(firstUniqueId = 1) {
    this.nextUniqueId = firstUniqueId;
  }

  get all(): readonly AlarmEntry[] {
    return this.entries;
  }

  newUniqueId(): number {
    return this.nextUniqueId++;
  }

  /**
   * Restore after a restart: ids continue (alarm_event_id per alarm), and the last executed entry of each
   * alarm comes back into memory, because the "never the same status twice" and "never a first CLEAR" rules
   * (§3.8 step 4) look at the last executed entry of the alarm, which Netdata reads from its database.
   */
  restore(
    lastUniqueId: number,
    lastEventIds: Map<number, number>,
    lastExecuted: readonly AlarmEntry[] = [],
  ): void {
    this.nextUniqueId = Math.max(this.nextUniqueId, lastUniqueId + 1);
    for (const [k, v] of lastEventIds) this.eventIds.set(k, v);
    const known = new Set(this.entries.map((e) => e.uniqueId));
    const restored = lastExecuted
      .filter((e) => !known.has(e.uniqueId))
      .map((e) => ({ ...e, flags: e.flags | FLAG.PROCESSED }));
    this.entries = [...restored, ...this.entries].sort((a, b) => a.uniqueId - b.uniqueId);
  }

  nextEventId(alarmId: number): number {
    const n = (this.eventIds.get(alarmId) ?? 0) + 1;
    this.eventIds.set(alarmId, n);
    return n;
  }

  /** Add an entry; returns the entry it superseded, if any (now UPDATED). */
  add(entry: AlarmEntry): AlarmEntry | undefined {
    this.decorate?.(entry);
    this.entries.push(entry);
    for (let i = this.entries.length - 2; i >= 0; i--) {
      const old = this.entries[i]!;
      if (old.alarmId !== entry.alarmId) continue;
      if (old.flags & FLAG.UPDATED || old.updatedById !== 0) return undefined;
      old.flags |= FLAG.UPDATED;
      old.updatedById = entry.uniqueId;
      entry.updatesId = old.uniqueId;
      // §3.5: while the alarm stays non-clear across transitions, the non-clear duration accumulates.
      if (old.newStatus > STATUS.CLEAR && entry.oldStatus > STATUS.CLEAR)
        entry.nonClearDuration += old.nonClearDuration;
      return old;
    }
    return undefined;
  }

  /** The most recent entry of an alarm that was executed (EXEC_RUN), for the "same status twice" rule. */
  lastExecuted(alarmId: number, before: AlarmEntry): AlarmEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e === before || e.alarmId !== alarmId) continue;
      if (e.uniqueId < before.uniqueId && e.flags & FLAG.EXEC_RUN) return e;
    }
    return undefined;
  }

  /** Entries waiting for their delay (not PROCESSED, not UPDATED), oldest first. */
  pending(): AlarmEntry[] {
    return this.entries.filter((e) => !(e.flags & (FLAG.PROCESSED | FLAG.UPDATED)));
  }

  /** Drop from memory what no longer matters: processed or superseded entries that were saved (§3.5). */
  prune(keep: (e: AlarmEntry) => boolean): void {
    this.entries = this.entries.filter(keep);
  }
}

export type NotifyDecision =
  | { send: true }
  | {
      send: false;
      reason:
        | 'status-not-notifiable'
        | 'no-clear-notification'
        | 'same-as-last-sent'
        | 'first-clear'
        | 'silenced';
    };

/**
 * §3.8 health_send_notification, steps 2–5, for an entry whose delay has expired and which is neither
 * PROCESSED nor UPDATED. `lastExec` is the latest executed entry of the same alarm.
 */
export function notificationDecision(entry: AlarmEntry, lastExec: AlarmEntry | undefined): NotifyDecision {
  if (entry.newStatus < STATUS.CLEAR) return { send: false, reason: 'status-not-notifiable' };
  const noClear = (entry.flags & FLAG.NO_CLEAR_NOTIFICATION) !== 0;
  if (entry.newStatus <= STATUS.CLEAR && noClear) return { send: false, reason: 'no-clear-notification' };
  if (!noClear) {
    const repeating = (entry.flags & FLAG.IS_REPEATING) !== 0;
    if (lastExec) {
      if (lastExec.newStatus === entry.newStatus && !repeating)
        return { send: false, reason: 'same-as-last-sent' };
    } else if (entry.newStatus === STATUS.CLEAR) {
      if (!(entry.flags & FLAG.RUN_ONCE && entry.oldStatus >= STATUS.RAISED))
        return { send: false, reason: 'first-clear' };
    }
  }
  if (entry.flags & FLAG.SILENCED) return { send: false, reason: 'silenced' };
  return { send: true };
}

export function newTransitionId(): string {
  return randomUUID();
}

// ---------------------------------------------------------------------------------------------------------
// The pure core of one alert: state in, transitions out (§3.3 pass 2 and §3.6 pass 3). The scheduler
// (scheduler.ts) does everything with side effects around it: lookups and calcs (pass 1), evaluating
// warn/crit with the variables, writing the log, persisting, notifying.

/** What the transition rules of one alert read and write; AlertRuntime (scheduler.ts) carries these fields. */
export interface AlertState {
  status: Status;
  /** The status before the last change (`rc->old_status`). */
  oldStatus: Status;
  /** `$this` after this iteration's lookup and calc (pass 1). */
  value: number;
  /** `$this` before this iteration's pass 1 (`rc->old_value`). */
  oldValue: number;
  lastStatusChange: number;
  lastStatusChangeValue: number;
  delay: DelayState;
  lastRepeat: number;
  timesRepeat: number;
  /** RRDCALC_FLAG_RUN_ONCE: the CLEAR after a raise has been dealt with (§3.6). */
  runOnce: boolean;
}

/** The configuration the rules need. */
export interface AlertRules {
  delay: DelayConfig;
  /** Seconds; 0 = no repeat for that status. */
  repeat: { warning: number; critical: number };
}

/** One status change, as the log entry will record it. */
export interface Transition {
  when: number;
  oldStatus: Status;
  newStatus: Status;
  oldValue: number;
  newValue: number;
  /** Seconds in the previous status. */
  duration: number;
  delay: number;
}

/** A repeat notification due now: a fresh entry, sent at once, never put in the log list (§3.6). */
export interface Repeat {
  when: number;
  oldStatus: Status;
  newStatus: Status;
  oldValue: number;
  newValue: number;
  duration: number;
  /** `rc->delay_last`, copied into the entry. */
  delay: number;
  /** The entry gets RUN_ONCE: the one CLEAR repeat after a raise. */
  runOnce: boolean;
}

export function isRepeating(rules: AlertRules): boolean {
  return rules.repeat.warning > 0 || rules.repeat.critical > 0;
}

/**
 * §3.3 pass 2 for one alert that ran this iteration: the status from the warn/crit outcomes, and on a change
 * the delay (§3.4) and the transition to log. Netdata's do_rc_status_change: the status flips at once; for
 * a repeating alert the repeat clock restarts at the change, and a change to CLEAR sets RUN_ONCE — so the
 * CLEAR is told through its log entry (after the down delay), not by a repeat.
 */
export function step(
  state: AlertState,
  rules: AlertRules,
  outcome: { warn: ExprOutcome; crit: ExprOutcome },
  now: number,
): { state: AlertState; transition?: Transition } {
  const status = decideStatus(outcome.warn, outcome.crit);
  if (status === state.status) return { state };
  const d = applyDelay(state.delay, rules.delay, state.status, status, now);
  const transition: Transition = {
    when: now,
    oldStatus: state.status,
    newStatus: status,
    oldValue: state.oldValue,
    newValue: state.value,
    duration: now - state.lastStatusChange,
    delay: d.delay,
  };
  const next: AlertState = {
    ...state,
    delay: d.state,
    lastStatusChangeValue: state.value,
    lastStatusChange: now,
    oldStatus: state.status,
    status,
  };
  if (isRepeating(rules)) {
    next.lastRepeat = now;
    if (status === STATUS.CLEAR) next.runOnce = true;
  }
  return { state: next, transition };
}

/**
 * §3.6 pass 3 for one alert, every iteration (process_repeating_alarms): once the delay of the last change
 * has passed, WARNING repeats every `repeat.warning` s and CRITICAL every `repeat.critical` s (each clears
 * RUN_ONCE); a CLEAR that follows WARNING/CRITICAL without RUN_ONCE repeats once (1 s). Since every change
 * to CLEAR sets RUN_ONCE (step), that branch only fires for state carried over from elsewhere.
 */
export function repeatStep(
  state: AlertState,
  rules: AlertRules,
  now: number,
): { state: AlertState; repeat?: Repeat } {
  if (!isRepeating(rules) || state.delay.upToTimestamp > now) return { state };
  let next = state;
  let every = 0;
  if (state.status === STATUS.WARNING) {
    if (state.runOnce) next = { ...state, runOnce: false };
    every = rules.repeat.warning;
  } else if (state.status === STATUS.CRITICAL) {
    if (state.runOnce) next = { ...state, runOnce: false };
    every = rules.repeat.critical;
  } else if (
    state.status === STATUS.CLEAR &&
    !state.runOnce &&
    (state.oldStatus === STATUS.WARNING || state.oldStatus === STATUS.CRITICAL)
  ) {
    every = 1;
  }
  if (every <= 0 || next.lastRepeat + every > now) return { state: next };
  const repeat: Repeat = {
    when: now,
    oldStatus: next.oldStatus,
    newStatus: next.status,
    oldValue: next.oldValue,
    newValue: next.value,
    duration: now - next.lastStatusChange,
    delay: next.delay.last,
    runOnce: !next.runOnce && next.status === STATUS.CLEAR,
  };
  return {
    state: { ...next, lastRepeat: now, timesRepeat: next.timesRepeat + 1, runOnce: true },
    repeat,
  };
}
