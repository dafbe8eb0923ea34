/**
 * Netdata's alert endpoints (shared/design/netdata-health-semantics.md §4): `/api/v1/alarms`,
 * `/api/v1/alarms_values`, `/api/v1/alarm_log`, `/api/v1/alarm_count`. Keys follow Netdata: the union of
 * the fields §4 lists (current Netdata) and those Debian's netdata 1.37 prints (`family`, the string
 * `silenced` of the log), so tools written for either find what they read. NaN values print as null.
 */

import type { AlertDb } from '../health/alert-db.js';
import { type AlarmEntry, FLAG } from '../health/engine.js';
import { formatExpression } from '../health/expr/index.js';
import type { AlertRuntime } from '../health/scheduler.js';
import type { LookupOptions } from '../health/types.js';
import { STATUS, statusName } from '../health/types.js';
import { nowSec, type ServerContext } from './context.js';
import { ApiError, type Query } from './http.js';

/** Netdata prints its config hash as a UUID; ours is 32 hex digits of a SHA-256. */
function asUuid(hex: string): string {
  const h = /^[0-9a-f]{32}$/.test(hex) ? hex : '0'.repeat(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `format_value_and_unit`: the value with its units, `-` when there is none. */
export function valueString(v: number, units: string): string {
  if (!Number.isFinite(v)) return '-';
  const digits = Number.isInteger(v) ? 0 : Math.abs(v) < 1 ? 2 : 1;
  return `${v.toFixed(digits)} ${units}`.trim();
}

/** Lookup options as Netdata prints them: space-separated names, in its table order. */
export function lookupOptionsText(o: LookupOptions): string {
  const names: string[] = [];
  if (o.combine === 'min2max') names.push('min2max');
  if (o.absolute) names.push('absolute');
  if (o.null2zero) names.push('null2zero');
  if (o.percentage) names.push('percentage');
  if (o.unaligned) names.push('unaligned');
  if (o.matchIds) names.push('match-ids');
  if (o.matchNames) names.push('match-names');
  if (o.anomalyBit) names.push('anomaly-bit');
  if (o.combine === 'min' || o.combine === 'max' || o.combine === 'average') names.push(o.combine);
  return names.join(' ');
}

function alarmKey(rt: AlertRuntime): string {
  return `${rt.chartId}.${rt.compiled.config.name}`;
}

/** One alert as `/api/v1/alarms` prints it. */
export function alarmJson(rt: AlertRuntime): Record<string, unknown> {
  const cfg = rt.compiled.config;
  const def = rt.chart.instance.def;
  const units = cfg.units ?? def.units;
  const o: Record<string, unknown> = {
    id: rt.alarmId,
    config_hash_id: asUuid(rt.compiled.configHashId),
    name: cfg.name,
    chart: rt.chartId,
    family: def.family,
    class: cfg.class ?? 'Unknown',
    component: cfg.component ?? 'Unknown',
    type: cfg.type ?? 'Unknown',
    active: true,
    // The management API's silencers (src/health/silencers.ts), as Netdata's RRDCALC_FLAG_DISABLED/SILENCED.
    disabled: rt.disabled,
    silenced: rt.silenced,
    exec: cfg.exec ?? '',
    recipient: cfg.to ?? 'root',
    source: `line=${cfg.source.line},file=${cfg.source.file}`,
    units,
    summary: cfg.summary ?? cfg.name,
    info: cfg.info ?? '',
    status: statusName(rt.status),
    last_status_change: rt.lastStatusChange,
    last_updated: rt.lastUpdated,
    next_update: rt.nextUpdate,
    update_every: cfg.every,
    delay_up_duration: cfg.delay.up,
    delay_down_duration: cfg.delay.down,
    delay_max_duration: cfg.delay.max,
    delay_multiplier: cfg.delay.multiplier,
    delay: rt.delay.last,
    delay_up_to_timestamp: rt.delay.upToTimestamp,
    warn_repeat_every: String(cfg.repeat.warning),
    crit_repeat_every: String(cfg.repeat.critical),
    value_string: valueString(rt.value, units),
    last_repeat: String(rt.lastRepeat),
    times_repeat: rt.timesRepeat,
  };
  if (cfg.noClearNotification) o.no_clear_notification = true;
  if (cfg.lookup) {
    o.lookup_dimensions = cfg.lookup.dimensions === '' ? 'all' : cfg.lookup.dimensions;
    o.db_after = rt.dbAfter;
    o.db_before = rt.dbBefore;
    o.lookup_method = cfg.lookup.method;
    o.lookup_after = cfg.lookup.after;
    o.lookup_before = cfg.lookup.before;
    o.lookup_options = lookupOptionsText(cfg.lookup.options);
  }
  if (cfg.calc && rt.compiled.calc) {
    o.calc = cfg.calc.source;
    o.calc_parsed = formatExpression(rt.compiled.calc);
  }
  if (cfg.warn && rt.compiled.warn) {
    o.warn = cfg.warn.source;
    o.warn_parsed = formatExpression(rt.compiled.warn);
  }
  if (cfg.crit && rt.compiled.crit) {
    o.crit = cfg.crit.source;
    o.crit_parsed = formatExpression(rt.compiled.crit);
  }
  o.green = cfg.green ?? null;
  o.red = cfg.red ?? null;
  o.value = rt.value;
  return o;
}

function isActive(rt: AlertRuntime): boolean {
  return rt.status === STATUS.WARNING || rt.status === STATUS.CRITICAL;
}

function latestUniqueId(ctx: ServerContext): number {
  const all = ctx.agent.health.log.all;
  return all.length > 0 ? all[all.length - 1]!.uniqueId : 0;
}

/** `/api/v1/alarms`: active (WARNING, CRITICAL) by default, every alert with `all`. */
export function alarms(ctx: ServerContext, q: Query): Record<string, unknown> {
  const all = q.has('all');
  const out: Record<string, unknown> = {};
  for (const rt of ctx.agent.health.alerts) if (all || isActive(rt)) out[alarmKey(rt)] = alarmJson(rt);
  return {
    hostname: ctx.hostname,
    latest_alarm_log_unique_id: latestUniqueId(ctx),
    status: true,
    now: nowSec(ctx),
    alarms: out,
  };
}

/** `/api/v1/alarms_values`. */
export function alarmsValues(ctx: ServerContext, q: Query): Record<string, unknown> {
  const all = q.has('all');
  const out: Record<string, unknown> = {};
  for (const rt of ctx.agent.health.alerts) {
    if (!all && !isActive(rt)) continue;
    out[alarmKey(rt)] = {
      id: rt.alarmId,
      value: rt.value,
      last_updated: rt.lastUpdated,
      status: statusName(rt.status),
    };
  }
  return { hostname: ctx.hostname, alarms: out };
}

const STATUS_FILTERS: Record<string, (s: number) => boolean> = {
  RAISED: (s) => s >= STATUS.WARNING,
  WARNING: (s) => s === STATUS.WARNING,
  CRITICAL: (s) => s === STATUS.CRITICAL,
  CLEAR: (s) => s === STATUS.CLEAR,
  UNDEFINED: (s) => s === STATUS.UNDEFINED,
  UNINITIALIZED: (s) => s === STATUS.UNINITIALIZED,
  REMOVED: (s) => s === STATUS.REMOVED,
};

/** `/api/v1/alarm_count?status=&context=`: `[N]`; the default status is RAISED (WARNING or CRITICAL). */
export function alarmCount(ctx: ServerContext, q: Query): number[] {
  const statusText = (q.get('status') ?? 'RAISED').toUpperCase();
  const match = STATUS_FILTERS[statusText];
  if (!match) {
    throw new ApiError(
      400,
      'E_API_PARAM',
      `status: unknown status ${JSON.stringify(statusText)} (known: ${Object.keys(STATUS_FILTERS).join(', ')})`,
    );
  }
  const contexts = (q.get('context', 'ctx') ?? '')
    .split(/[,|]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  let n = 0;
  for (const rt of ctx.agent.health.alerts) {
    if (contexts.length > 0 && !contexts.includes(rt.chart.instance.def.context)) continue;
    if (match(rt.status)) n++;
  }
  return [n];
}

function tzInfo(): { offset: number; zone: string } {
  return {
    offset: -new Date().getTimezoneOffset() * 60,
    zone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
  };
}

/** One alarm-log entry as `/api/v1/alarm_log` prints it (§3.5 fields). */
export function logEntryJson(ctx: ServerContext, e: AlarmEntry, family: string): Record<string, unknown> {
  const tz = tzInfo();
  const file = /file=(.*)$/.exec(e.source)?.[1] ?? '';
  const line = /line=(\d+)/.exec(e.source)?.[1] ?? '0';
  return {
    hostname: ctx.hostname,
    utc_offset: tz.offset,
    timezone: tz.zone,
    unique_id: e.uniqueId,
    alarm_id: e.alarmId,
    alarm_event_id: e.alarmEventId,
    config_hash_id: asUuid(e.configHashId),
    transition_id: e.transitionId,
    name: e.name,
    chart: e.chart,
    context: e.context,
    family,
    class: e.classification,
    component: e.component,
    type: e.type,
    processed: (e.flags & FLAG.PROCESSED) !== 0,
    updated: (e.flags & FLAG.UPDATED) !== 0,
    exec_run: e.execRunTimestamp,
    exec_failed: (e.flags & FLAG.EXEC_FAILED) !== 0,
    exec: e.exec,
    recipient: e.recipient,
    exec_code: e.execCode,
    source: e.source,
    command: `rstwatch health check ${file} # line ${line}`,
    units: e.units,
    when: e.when,
    duration: e.duration,
    non_clear_duration: e.nonClearDuration,
    status: statusName(e.newStatus),
    old_status: statusName(e.oldStatus),
    delay: e.delay,
    delay_up_to_timestamp: e.delayUpToTimestamp,
    updated_by_id: e.updatedById,
    updates_id: e.updatesId,
    value_string: valueString(e.newValue, e.units),
    old_value_string: valueString(e.oldValue, e.units),
    last_repeat: String(e.lastRepeat),
    // Netdata 1.37 prints this one as a string.
    silenced: (e.flags & FLAG.SILENCED) !== 0 ? 'true' : 'false',
    summary: e.summary,
    info: e.info,
    no_clear_notification: (e.flags & FLAG.NO_CLEAR_NOTIFICATION) !== 0,
    value: e.newValue,
    old_value: e.oldValue,
  };
}

/** The in-memory log or, when the agent keeps one, the SQLite log (complete back to the retention). */
export function logEntries(
  ctx: ServerContext,
  alertDb: AlertDb | undefined,
  after: number,
  limit: number,
): AlarmEntry[] {
  if (alertDb) {
    try {
      return alertDb.entries({ after, limit });
    } catch (err) {
      ctx.log.once(
        'api-alarm-log-db',
        'warn',
        `alarm_log: reading the database failed, answering from memory: ${(err as Error).message}`,
      );
    }
  }
  const mem = ctx.agent.health.log.all.filter((e) => e.uniqueId > after);
  return mem.slice(-limit).reverse();
}

/** `/api/v1/alarm_log?after=UNIQUE_ID&chart=`: newest first, entries with unique_id > after (§4). */
export function alarmLog(
  ctx: ServerContext,
  alertDb: AlertDb | undefined,
  q: Query,
): Record<string, unknown>[] {
  const after = q.int('after', 0, 0, Number.MAX_SAFE_INTEGER);
  const chart = q.get('chart');
  const families = new Map<string, string>();
  for (const c of ctx.agent.store.allCharts()) families.set(c.instance.fullId, c.instance.def.family);
  let entries = logEntries(ctx, alertDb, after, 1000);
  if (chart !== undefined && chart !== '') {
    const entry = ctx.agent.store.chart(chart);
    const id = entry?.instance.fullId ?? chart;
    entries = entries.filter((e) => e.chart === id);
  }
  return entries.map((e) => logEntryJson(ctx, e, families.get(e.chart) ?? ''));
}
