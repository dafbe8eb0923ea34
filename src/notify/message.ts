/**
 * From a transition to the story a notification tells: what the alert means (src/model/explain.ts, the one
 * source of truth for texts), its value against the baseline and thresholds, who and why (attribution's top
 * peers, ports and reasons when the transition carries them), and the exact commands to run next.
 *
 * `buildEvent` snapshots everything at decision time; `render` turns the snapshot into the text every
 * human-facing sender (Slack, e-mail, Alertmanager annotations, webhook `text`) shows.
 */

import type { AlarmEntry } from '../health/engine.js';
import type { AlertRuntime } from '../health/scheduler.js';
import { STATUS, statusName } from '../health/types.js';
import { findTopic } from '../model/explain.js';
import type { NotifyEvent, NotifyStatus, NotifyTop, NotifyTopEntry } from './types.js';

/** The capture command every reset notification suggests (rstwatch's capture CLI, bounded to a minute). */
export const CAPTURE_STEP = 'capture -i any --duration 60s';

/** Alerts without an `rstwatch explain` hint in their info fall back to a topic by name. */
const TOPIC_BY_NAME: [RegExp, string][] = [
  [/tcp_resets_(received|sent)/, 'refused'],
  [/listen_queue/, 'queue-full'],
  [/challenge_ack/, 'rst-injection'],
  [/syncookies/, 'syn-flood'],
  [/aborts_unread/, 'abort'],
  [/aborts_memory/, 'buffer-overflow'],
];

export function topicFor(name: string, info: string): string {
  for (const m of info.matchAll(/rstwatch explain ([a-z0-9-]+)/g)) {
    const t = findTopic(m[1]!);
    if (t) return t.id;
  }
  for (const [re, id] of TOPIC_BY_NAME) if (re.test(name)) return id;
  return 'reset';
}

function finite(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}

/** Netdata-style value text: up to two decimals, `nan` for no value. */
export function formatValue(v: number | null): string {
  if (v === null) return 'nan';
  return Number(v.toFixed(2)).toString();
}

export function valueString(v: number | null, units: string): string {
  return v === null ? '-' : `${formatValue(v)} ${units}`.trim();
}

/** The reset alerts' baseline alert: `10s_ipv4_tcp_resets_received` → `1m_ipv4_tcp_resets_received`. */
function baselineName(name: string): string | undefined {
  const m = /^10s_(ipv4|ip)_tcp_resets_(received|sent)$/.exec(name);
  return m ? `1m_${m[1]}_tcp_resets_${m[2]}` : undefined;
}

/** Read a `top` from a transition's context without trusting its shape (it comes from another module). */
export function extractTop(entry: AlarmEntry): NotifyTop | undefined {
  const holder = entry as unknown as Record<string, unknown>;
  for (const candidate of [holder.context, holder.context_extra]) {
    if (typeof candidate !== 'object' || candidate === null) continue;
    const top = (candidate as Record<string, unknown>).top;
    if (typeof top !== 'object' || top === null) continue;
    const t = top as Record<string, unknown>;
    const list = (x: unknown): NotifyTopEntry[] =>
      Array.isArray(x)
        ? x
            .filter(
              (e): e is NotifyTopEntry =>
                typeof e === 'object' &&
                e !== null &&
                typeof (e as NotifyTopEntry).key === 'string' &&
                typeof (e as NotifyTopEntry).count === 'number',
            )
            .slice(0, 5)
            .map((e) => ({
              key: e.key,
              count: e.count,
              ...(e.process && typeof e.process.name === 'string'
                ? { process: { name: e.process.name, pid: e.process.pid } }
                : {}),
            }))
        : [];
    return {
      windowSeconds: typeof t.windowSeconds === 'number' ? t.windowSeconds : 0,
      total: typeof t.total === 'number' ? t.total : 0,
      peers: list(t.peers),
      localPorts: list(t.localPorts),
      remotePorts: list(t.remotePorts),
      reasons: list(t.reasons),
    };
  }
  return undefined;
}

/** `[ ${name} = value ]` pairs of an evaluation trace (src/health/expr); `nan` and the like become null. */
export function traceValues(trace: string): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const m of trace.matchAll(/\[ \$\{([^}]+)\} = ([^\]]*?) \]/g)) {
    const n = Number(m[2]);
    out.set(m[1]!, Number.isFinite(n) ? n : null);
  }
  return out;
}

export interface EventContext {
  host: string;
  machineGuid: string;
  /** Every alert of the host (for the other-alerts arguments and referenced values). */
  alerts: readonly AlertRuntime[];
  /** How to run rstwatch in the suggested commands. */
  command: string;
}

export function buildEvent(entry: AlarmEntry, rt: AlertRuntime | undefined, ctx: EventContext): NotifyEvent {
  const others = ctx.alerts.filter((a) => a.alarmId !== entry.alarmId);
  const list = (status: number) =>
    others.filter((a) => a.status === status).map((a) => `${a.compiled.config.name}=${a.lastStatusChange}`);
  const byName = (name: string) => ctx.alerts.find((a) => a.compiled.config.name === name);
  // Values as they were when the status changed (the evaluation trace), not when the notification is due:
  // 20 s later the 1-minute baseline already contains the storm that raised the alert.
  const traced = traceValues(entry.trace);
  const valueAt = (name: string): number | null => {
    const t = traced.get(name);
    if (t !== undefined) return t;
    const ref = byName(name);
    return ref ? finite(ref.value) : null;
  };
  const references: NotifyEvent['references'] = [];
  for (const m of entry.expression.matchAll(/\$\{?([A-Za-z0-9_.]+)\}?/g)) {
    const name = m[1]!;
    if (byName(name) && !references.some((r) => r.name === name))
      references.push({ name, value: valueAt(name) });
  }
  const topic = findTopic(topicFor(entry.name, entry.info));
  const value = finite(entry.newValue);
  const event: NotifyEvent = {
    kind: 'transition',
    host: ctx.host,
    machineGuid: ctx.machineGuid,
    transitionId: entry.transitionId,
    uniqueId: entry.uniqueId,
    alarmId: entry.alarmId,
    alarmEventId: entry.alarmEventId,
    when: entry.when,
    name: entry.name,
    chart: entry.chart,
    context: typeof entry.context === 'string' ? entry.context : '',
    classification: entry.classification || 'Unknown',
    component: entry.component || 'Unknown',
    type: entry.type || 'Unknown',
    recipient: entry.recipient,
    status: statusName(entry.newStatus) as NotifyStatus,
    oldStatus: statusName(entry.oldStatus) as NotifyStatus,
    value,
    oldValue: finite(entry.oldValue),
    units: entry.units,
    summary: entry.summary || entry.name,
    info: entry.info,
    source: entry.source,
    durationSeconds: entry.duration,
    // §3.8 $15: the non-clear duration, or the duration for a repeating entry at WARNING or above.
    nonClearDurationSeconds:
      entry.flags & 0x80 && entry.newStatus >= STATUS.WARNING ? entry.duration : entry.nonClearDuration,
    expression: entry.expression,
    trace: entry.trace,
    otherWarnings: list(STATUS.WARNING),
    otherCriticals: list(STATUS.CRITICAL),
    raisedSince: rt && rt.status >= STATUS.WARNING ? rt.lastStatusChange : entry.when,
    references,
    nextSteps: [],
  };
  if (topic) {
    event.explain = {
      topic: topic.id,
      title: topic.title,
      summary: topic.summary,
      ...(topic.whatToDo[0] !== undefined ? { firstStep: topic.whatToDo[0] } : {}),
    };
  }
  const bName = baselineName(entry.name);
  const bAlert = bName ? byName(bName) : undefined;
  if (bName && bAlert) {
    // The shipped warn line: B = max(5, $1m_…); raise above 10·B, stay raised while above 1·B.
    const b = valueAt(bName);
    const eff = Math.max(5, b ?? 0);
    event.baseline = { name: bName, value: b, floor: 5, raiseAbove: 10 * eff, holdAbove: eff };
  }
  const top = extractTop(entry);
  if (top) event.top = top;
  const extra = (entry as unknown as { context_extra?: { attribution?: unknown } }).context_extra;
  if (typeof extra?.attribution === 'string' && extra.attribution !== '')
    event.attributionNote = extra.attribution;
  event.nextSteps = nextSteps(ctx.command, event.explain?.topic ?? 'reset');
  return event;
}

export function nextSteps(command: string, topic: string): string[] {
  return [`${command} ${CAPTURE_STEP}`, `${command} explain ${topic}`];
}

function topLine(label: string, entries: NotifyTopEntry[]): string | undefined {
  if (entries.length === 0) return undefined;
  const items = entries.map(
    (e) => `${e.key} (${e.count}${e.process ? `, ${e.process.name}[${e.process.pid}]` : ''})`,
  );
  return `${label}: ${items.join(', ')}`;
}

export interface Rendered {
  /** One line: `[host] WARNING: summary = 80 tcp resets/s`. */
  title: string;
  /** Paragraphs of plain text. */
  body: string;
}

const STATUS_WORD: Record<string, string> = {
  WARNING: 'WARNING',
  CRITICAL: 'CRITICAL',
  CLEAR: 'recovered',
};

export function render(e: NotifyEvent): Rendered {
  const word = e.kind === 'test' ? 'TEST' : (STATUS_WORD[e.status] ?? e.status);
  const title = `[${e.host}] ${word}: ${e.summary} = ${valueString(e.value, e.units)}`;
  const lines: string[] = [];
  lines.push(
    `${e.name} on ${e.chart} is ${e.status} (was ${e.oldStatus}) since ${new Date(e.when * 1000).toISOString()}: ` +
      `value ${valueString(e.value, e.units)}, before ${valueString(e.oldValue, e.units)}.`,
  );
  if (e.baseline) {
    const b = e.baseline;
    lines.push(
      `Baseline ${b.name} = ${valueString(b.value, e.units)} (floor ${b.floor}): raises above ${formatValue(b.raiseAbove)}, ` +
        `stays raised while above ${formatValue(b.holdAbove)} ${e.units}.`,
    );
  } else if (e.references.length > 0) {
    lines.push(
      `Compared with: ${e.references.map((r) => `${r.name} = ${formatValue(r.value)}`).join(', ')}.`,
    );
  }
  if (e.expression) lines.push(`Rule: ${e.expression}`);
  const paragraphs = [lines.join('\n')];
  if (e.explain) paragraphs.push(`What it means (${e.explain.title}): ${e.explain.summary}`);
  if (e.info) paragraphs.push(e.info);
  if (e.top) {
    const t = e.top;
    const tl = [
      topLine('Peers', t.peers),
      topLine('Local ports', t.localPorts),
      topLine('Remote ports', t.remotePorts),
      topLine('Reasons', t.reasons),
    ].filter((x): x is string => x !== undefined);
    if (tl.length > 0)
      paragraphs.push([`Top over the last ${t.windowSeconds}s (${t.total} resets):`, ...tl].join('\n'));
  }
  if (e.attributionNote && !(e.top && e.top.total > 0))
    paragraphs.push(`Who and why: not known here (${e.attributionNote}).`);
  paragraphs.push(['Next steps:', ...e.nextSteps.map((s) => `  ${s}`)].join('\n'));
  return { title, body: paragraphs.join('\n\n') };
}

/** The message `rstwatch notify test ROLE` sends: a WARNING that says it is a test, through every method. */
export function testEvent(opts: {
  host: string;
  machineGuid: string;
  role: string;
  command: string;
  nowSec: number;
}): NotifyEvent {
  const topic = findTopic('reset');
  return {
    kind: 'test',
    host: opts.host,
    machineGuid: opts.machineGuid,
    transitionId: `test-${opts.nowSec}-${Math.random().toString(36).slice(2, 10)}`,
    uniqueId: 0,
    alarmId: 0,
    alarmEventId: 0,
    when: opts.nowSec,
    name: 'rstwatch_notification_test',
    chart: 'ip.tcphandshake',
    context: 'ip.tcphandshake',
    classification: 'Test',
    component: 'Network',
    type: 'System',
    recipient: opts.role,
    status: 'WARNING',
    oldStatus: 'CLEAR',
    value: 0,
    oldValue: 0,
    units: 'tcp resets/s',
    summary: `Test notification for role ${opts.role}`,
    info: 'This is a test sent by `rstwatch notify test`; nothing is wrong.',
    source: 'line=0,file=rstwatch notify test',
    durationSeconds: 0,
    nonClearDurationSeconds: 0,
    expression: '',
    trace: '',
    otherWarnings: [],
    otherCriticals: [],
    raisedSince: opts.nowSec,
    ...(topic
      ? {
          explain: {
            topic: topic.id,
            title: topic.title,
            summary: topic.summary,
            ...(topic.whatToDo[0] ? { firstStep: topic.whatToDo[0] } : {}),
          },
        }
      : {}),
    references: [],
    nextSteps: nextSteps(opts.command, 'reset'),
  };
}
