/**
 * Alerts: the states table (raised first), the transition timeline of the last hour and its list, and the
 * live announcement of raises and clears. What an alert means comes from the alert's own `info` and from
 * src/model/explain.ts (bundled in): every `rstwatch explain TOPIC` the info names is shown with the topic's
 * summary and steps, the same words `rstwatch explain` prints.
 *
 * Rows are kept and updated in place (keyed by alert and chart), so a reader's open explanation or keyboard
 * focus survives the refresh every few seconds.
 */

import type { AlarmJson, LogEntry } from './api.js';
import { codeText, h, replace, svg } from './dom.js';
import { loadExplain, type Topic } from './explain-lazy.js';
import { clock, dateTime, duration } from './format.js';

/** Severity order for sorting and the status symbol shown with the name (colour is never alone). */
const ORDER: Record<string, number> = {
  CRITICAL: 0,
  WARNING: 1,
  CLEAR: 2,
  UNDEFINED: 3,
  UNINITIALIZED: 4,
  REMOVED: 5,
};
const SYMBOL: Record<string, string> = {
  CRITICAL: '■',
  WARNING: '▲',
  CLEAR: '✓',
  UNDEFINED: '?',
  UNINITIALIZED: '…',
};

export function statusBadge(status: string): HTMLElement {
  return h(
    'span',
    { class: 'badge', 'data-status': status },
    h('span', { 'aria-hidden': 'true' }, SYMBOL[status] ?? '•'),
    status,
  );
}

/** Topics an alert's text points at (`rstwatch explain refused`), in order, without repeats. */
export function topicsOf(text: string, findTopic: (id: string) => Topic | undefined): Topic[] {
  const out: Topic[] = [];
  for (const m of text.matchAll(/rstwatch explain ([a-z0-9-]+)/g)) {
    const t = findTopic(m[1]!);
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}

/** A topic's summary and steps (the words `rstwatch explain` prints). */
export function topicBlock(t: Topic): HTMLElement {
  return h(
    'div',
    { class: 'topic', 'data-topic': t.id },
    h('p', {}, h('strong', {}, `${t.title}. `), codeText(t.summary)),
    h(
      'ol',
      {},
      t.whatToDo.map((step) => h('li', {}, codeText(step))),
    ),
  );
}

/** "What this means": the alert's info, then each topic it names (added once explain.ts is loaded). */
export function explanation(info: string, summaryLabel = 'What this means'): HTMLElement {
  const details = h(
    'details',
    { class: 'explain' },
    h('summary', {}, summaryLabel),
    info ? h('p', {}, codeText(info)) : null,
  );
  void loadExplain().then(
    (findTopic) => details.append(...topicsOf(info, findTopic).map(topicBlock)),
    () => undefined, // the alert's own text stays
  );
  return details;
}

interface Row {
  tr: HTMLTableRowElement;
  state: HTMLElement;
  value: HTMLElement;
  since: HTMLElement;
  status: string;
}

export class AlertsTable {
  private readonly tbody: HTMLTableSectionElement;
  private readonly summaryEl: HTMLElement;
  private readonly rows = new Map<string, Row>();

  constructor(table: HTMLTableElement, summaryEl: HTMLElement) {
    this.tbody = table.tBodies[0]!;
    this.summaryEl = summaryEl;
  }

  /** Show the alerts of these charts (the selected namespace); count the raised ones elsewhere. */
  render(alarms: Record<string, AlarmJson>, charts: ReadonlySet<string>, nowSec: number): void {
    const mine = Object.entries(alarms).filter(([, a]) => charts.has(a.chart));
    const elsewhere = Object.values(alarms).filter(
      (a) => !charts.has(a.chart) && (a.status === 'WARNING' || a.status === 'CRITICAL'),
    );
    mine.sort(
      ([ka, a], [kb, b]) =>
        (ORDER[a.status] ?? 9) - (ORDER[b.status] ?? 9) || (ka < kb ? -1 : ka > kb ? 1 : 0),
    );
    const keep = new Set(mine.map(([k]) => k));
    for (const [k, r] of this.rows) {
      if (!keep.has(k)) {
        r.tr.remove();
        this.rows.delete(k);
      }
    }
    for (const [key, a] of mine) {
      let r = this.rows.get(key);
      if (!r) r = this.createRow(key, a);
      if (r.status !== a.status) {
        replace(r.state, statusBadge(a.status));
        r.status = a.status;
      }
      const raised = a.status === 'WARNING' || a.status === 'CRITICAL';
      r.tr.dataset.raised = String(raised);
      r.tr.dataset.status = a.status;
      r.value.textContent = a.value_string || '–';
      r.since.textContent = a.last_status_change > 0 ? `${duration(nowSec - a.last_status_change)} ago` : '–';
      r.since.title = a.last_status_change > 0 ? dateTime(a.last_status_change) : '';
      this.tbody.append(r.tr); // appending an attached row moves it: the sort order
    }
    const raised = mine.filter(([, a]) => a.status === 'WARNING' || a.status === 'CRITICAL').length;
    let text =
      mine.length === 0
        ? 'No alert watches this namespace.'
        : raised === 0
          ? `${mine.length} alerts, none raised.`
          : `${raised} of ${mine.length} alerts raised.`;
    if (elsewhere.length > 0) text += ` ${elsewhere.length} raised in other namespaces.`;
    this.summaryEl.textContent = text;
  }

  private createRow(key: string, a: AlarmJson): Row {
    const state = h('td', {}, statusBadge(a.status));
    const value = h('td', { class: 'num', 'data-label': 'Value' });
    const since = h('td', { class: 'num', 'data-label': 'Since' });
    const name = h(
      'td',
      {},
      h('div', { class: 'alert-name' }, a.name),
      h('div', { class: 'alert-chart' }, `${a.chart} — ${a.summary}`),
      explanation(a.info),
    );
    const tr = h(
      'tr',
      { 'data-key': key, 'data-alert': a.name, 'data-chart': a.chart },
      state,
      name,
      value,
      since,
    );
    const row: Row = { tr, state, value, since, status: a.status };
    this.rows.set(key, row);
    return row;
  }
}

/** Is this log entry a change worth showing (not the announce of a new alert, not its first evaluation)? */
export function isTransition(e: LogEntry): boolean {
  if (e.old_status === 'REMOVED' && e.status === 'UNINITIALIZED') return false;
  if (e.old_status === 'UNINITIALIZED') return false;
  return e.old_status !== e.status;
}

export function transitionText(e: LogEntry): string {
  return `${clock(e.when)} ${e.name} on ${e.chart}: ${e.old_status} → ${e.status} (${e.value_string})`;
}

/** The list (newest first, at most 50) and an SVG strip per alert over the last hour. */
export function renderTimeline(
  strip: HTMLElement,
  list: HTMLElement,
  entries: readonly LogEntry[],
  charts: ReadonlySet<string>,
  nowSec: number,
): void {
  const spanSec = 3600;
  const from = nowSec - spanSec;
  const mine = entries.filter((e) => charts.has(e.chart) && isTransition(e));
  const newest = [...mine].sort((a, b) => b.when - a.when || b.unique_id - a.unique_id);
  replace(
    list,
    newest
      .slice(0, 50)
      .map((e) =>
        h(
          'li',
          { 'data-status': e.status, 'data-alert': e.name },
          statusBadge(e.status),
          ' ',
          transitionText(e),
        ),
      ),
  );
  if (newest.length === 0) list.append(h('li', { class: 'muted' }, 'No transitions in this namespace yet.'));

  // Strip: one row per alert that changed in the hour; each segment coloured (and titled) by its status.
  const byAlert = new Map<string, LogEntry[]>();
  for (const e of [...mine].sort((a, b) => a.when - b.when || a.unique_id - b.unique_id)) {
    const k = `${e.chart}.${e.name}`;
    const arr = byAlert.get(k) ?? [];
    arr.push(e);
    byAlert.set(k, arr);
  }
  const keys = [...byAlert.keys()].filter((k) => byAlert.get(k)!.some((e) => e.when >= from));
  if (keys.length === 0) {
    replace(strip, h('p', { class: 'empty' }, 'Nothing changed in the last hour.'));
    strip.setAttribute('aria-label', 'No alert transitions in the last hour');
    return;
  }
  const W = 1000;
  const x = (t: number) => ((Math.max(from, Math.min(nowSec, t)) - from) / spanSec) * W;
  const rows = keys.map((k) => {
    const es = byAlert.get(k)!;
    const bar = svg('svg', { viewBox: `0 0 ${W} 10`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
    for (let j = 0; j < es.length; j++) {
      const e = es[j]!;
      const end = es[j + 1]?.when ?? nowSec;
      if (end < from) continue;
      const rect = svg('rect', {
        x: x(e.when),
        y: 0,
        width: Math.max(2, x(end) - x(e.when)),
        height: 10,
        class: `seg seg-${e.status}`,
        'data-status': e.status,
      });
      const title = svg('title');
      title.textContent = transitionText(e);
      rect.append(title);
      bar.append(rect);
    }
    return h('div', { class: 'tl-row' }, h('div', { class: 'tl-label' }, k), bar);
  });
  const axis = h(
    'div',
    { class: 'tl-axis' },
    h('span', {}, clock(from)),
    h('span', {}, `${clock(nowSec)} (now)`),
  );
  replace(strip, rows, axis);
  strip.setAttribute(
    'aria-label',
    `Alert states over the last hour: ${keys.length} alerts changed; the list below has every transition`,
  );
}
