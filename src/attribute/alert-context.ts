/**
 * Alert context: every transition of a reset alert carries who and why — the top peers, ports and reasons
 * attribution saw over the alert's own lookup window — so that a notification names a peer, not only a rate.
 */

import { STATUS } from '../health/types.js';
import type { AttributionTop, RstDirection, TopEntry } from './types.js';

/** What a transition of a reset alert stores in `AlarmEntry.context_extra`. */
export interface AlertContextExtra {
  top: AttributionTop;
  /** The seconds covered: (windowFrom, windowTo], epoch seconds — the lookup's `after`/`before`. */
  windowFrom: number;
  windowTo: number;
  direction?: RstDirection;
  /** Set when attribution could not say anything (why, one sentence). */
  attribution?: string;
}

/** Top entries kept per list in a transition (the issue asks for 5). */
export const ALERT_CONTEXT_LIMIT = 5;

/**
 * Reset alerts: Netdata's four `*_tcp_resets_{sent,received}` and rstwatch's own reset/abort alerts
 * (defaults/health.d). Their direction follows the name; an abort alert covers both.
 */
export function resetAlertDirection(name: string): { reset: boolean; direction?: RstDirection } {
  if (!/reset|abort/i.test(name)) return { reset: false };
  if (/sent|_out/i.test(name)) return { reset: true, direction: 'sent' };
  if (/received|_in\b/i.test(name)) return { reset: true, direction: 'received' };
  return { reset: true };
}

/**
 * The window an alert's lookup covers at `when`: `lookup: … -1m at -10s` reads (when−60, when−10]. Alerts
 * without a lookup (calc only) get the last minute.
 */
export function lookupWindow(
  when: number,
  lookup: { after: number; before: number } | undefined,
): { nowSec: number; windowSeconds: number } {
  if (!lookup || lookup.after >= 0) return { nowSec: when, windowSeconds: 60 };
  const to = when + Math.min(0, lookup.before);
  return { nowSec: to, windowSeconds: Math.max(1, to - (when + lookup.after)) };
}

function fmtList(list: TopEntry[] | undefined, withProcess = false): string {
  if (!list || list.length === 0) return '-';
  return list
    .map((e) => {
      const p = withProcess && e.process ? ` ${e.process.name}/${e.process.pid}` : '';
      return `${e.key}${p} (${e.count})`;
    })
    .join(', ');
}

/** Lines for `rstwatch alerts --log` (and any text notification). */
export function describeContext(ctx: AlertContextExtra): string[] {
  if (ctx.attribution !== undefined && ctx.top.total === 0) return [`attribution: ${ctx.attribution}`];
  const t = ctx.top;
  const dir = ctx.direction ? ` ${ctx.direction}` : '';
  const lines = [
    `${t.total} resets${dir} attributed over ${t.windowSeconds}s${t.other > 0 ? ` (${t.other} folded into "other")` : ''}`,
    `peers: ${fmtList(t.peers)}`,
    `local ports: ${fmtList(t.localPorts, true)}`,
    `remote ports: ${fmtList(t.remotePorts)}`,
    `reasons: ${fmtList(t.reasons)}`,
  ];
  return lines;
}

/** The parts of the alert engine the hook needs (structural: only health/'s status numbers are imported). */
interface AlarmLogLike<E extends EntryLike> {
  decorate: ((entry: E) => void) | undefined;
}
interface EntryLike {
  alarmId: number;
  name: string;
  when: number;
  oldStatus: number;
  newStatus: number;
  context_extra?: AlertContextExtra;
}
interface AlertLike {
  alarmId: number;
  compiled: { config: { lookup?: { after: number; before: number } } };
}

/**
 * Make every new entry of a reset alert carry the attribution of its lookup window. The hook runs inside
 * the alert engine's iteration, so it is cheap: one top-N over at most the window's seconds.
 */
export function attachAlertContext<E extends EntryLike>(
  log: AlarmLogLike<E>,
  alerts: () => readonly AlertLike[],
  attribution: {
    top(q: {
      nowSec: number;
      windowSeconds: number;
      direction?: RstDirection;
      limit?: number;
    }): AttributionTop;
    status(): { enabled: boolean; reason?: string };
    flush?: () => void;
  },
): void {
  // One top-N per (window, direction) per iteration: attribution is host-wide, so the transitions of one
  // evaluation over the same window (the same alert in several namespaces) get the same answer anyway.
  // The memo lives for one `when` (one iteration): a later iteration asks again.
  let memoWhen = Number.NaN;
  const memo = new Map<string, AttributionTop>();
  log.decorate = (entry) => {
    const kind = resetAlertDirection(entry.name);
    if (!kind.reset) return;
    // An alert's first evaluation that raises nothing (UNINITIALIZED → CLEAR or UNDEFINED) is not
    // notified, and a top-N there says nothing anyone asked: no context. At start that is every reset
    // alert of every namespace, and their top-N named the listeners from every process's open files — the
    // agent's costliest second (issue 2). A first evaluation that raises (started mid-storm) keeps it.
    if (
      entry.oldStatus === STATUS.UNINITIALIZED &&
      (entry.newStatus === STATUS.CLEAR || entry.newStatus === STATUS.UNDEFINED)
    )
      return;
    const rt = alerts().find((a) => a.alarmId === entry.alarmId);
    const w = lookupWindow(entry.when, rt?.compiled.config.lookup);
    if (entry.when !== memoWhen) {
      memoWhen = entry.when;
      memo.clear();
      attribution.flush?.();
    }
    const key = `${w.nowSec}/${w.windowSeconds}/${kind.direction ?? ''}`;
    let top = memo.get(key);
    if (top === undefined) {
      top = attribution.top({
        nowSec: w.nowSec,
        windowSeconds: w.windowSeconds,
        limit: ALERT_CONTEXT_LIMIT,
        ...(kind.direction ? { direction: kind.direction } : {}),
      });
      memo.set(key, top);
    }
    const ctx: AlertContextExtra = { top, windowFrom: w.nowSec - w.windowSeconds, windowTo: w.nowSec };
    if (kind.direction) ctx.direction = kind.direction;
    const st = attribution.status();
    if (!st.enabled && st.reason !== undefined) ctx.attribution = st.reason;
    entry.context_extra = ctx;
  };
}
