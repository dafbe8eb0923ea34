/**
 * The rstwatch dashboard (docs/dashboard.md). Everything comes from the agent that serves the page:
 * - the event stream `/api/rstwatch/stream`: `hello` (charts and alert states), a `sample` every second,
 *   `alert` for each alarm-log entry, `capture` as a capture progresses;
 * - `/api/v1/data` for the minutes before the page opened, `/api/v1/alarms?all` and `/api/v1/alarm_log`
 *   (Netdata's shapes), `/api/rstwatch/top`, `/doctor`, `/status` and `/captures`.
 * The selected namespace is in the address (`?netns=NAME`), so a view can be bookmarked.
 */

import { AlertsTable, isTransition, renderTimeline, statusBadge, transitionText } from './alerts.js';
import {
  type AlarmJson,
  type AlarmsJson,
  ApiFailure,
  type CaptureInfo,
  type ChartMeta,
  type DoctorJson,
  getJson,
  getToken,
  type Hello,
  type LogEntry,
  type SampleEvent,
  type StatusJson,
  setToken,
  TOKEN_RE,
  type TopJson,
  takeTokenFromUrl,
} from './api.js';
import { CaptureController } from './capture.js';
import { ChartView, KEEP_SECONDS, OTHER_VIEWS, RESET_VIEWS } from './charts.js';
import { renderDoctor } from './doctor.js';
import { byId, h, replace } from './dom.js';
import { loadExplain } from './explain-lazy.js';
import { clock, num } from './format.js';
import { ChartBuffer } from './series.js';
import { renderTop } from './top.js';

interface State {
  hello: Hello | undefined;
  netns: string;
  /** Chart id → its last KEEP_SECONDS, for the charts of the selected namespace. */
  buffers: Map<string, ChartBuffer>;
  charts: Map<string, ChartMeta>;
  /** Samples that arrived while history was loading (replayed after it). */
  pending: SampleEvent[] | undefined;
  generation: number;
  alarms: Record<string, AlarmJson>;
  log: LogEntry[];
  status: StatusJson | undefined;
  lastSampleMs: number;
}

const state: State = {
  hello: undefined,
  netns: new URLSearchParams(location.search).get('netns') ?? 'host',
  buffers: new Map(),
  charts: new Map(),
  pending: undefined,
  generation: 0,
  alarms: {},
  log: [],
  status: undefined,
  lastSampleMs: 0,
};

const resetViews = RESET_VIEWS.map((s) => new ChartView(s));
const otherViews = OTHER_VIEWS.map((s) => new ChartView(s));
const views = [...resetViews, ...otherViews];
let alertsTable: AlertsTable;
let capture: CaptureController;

// ---------------------------------------------------------------------------------------------------------
// First render mark (bench/dashboard-cost.mjs reads it): the first chart drawn with data.

let firstDrawn = false;
/** Work that waits for the first chart (run once, right after it). */
const onFirstChart: (() => void)[] = [];
function markFirstChart(): void {
  if (firstDrawn) return;
  firstDrawn = true;
  performance.mark('rstwatch-first-chart');
  document.documentElement.dataset.firstChartMs = String(Math.round(performance.now()));
  window.setTimeout(() => {
    for (const f of onFirstChart.splice(0)) f();
  }, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Charts

/** The chart of the selected namespace with this context. */
function chartFor(context: string): ChartMeta | undefined {
  return state.hello?.charts.find((c) => c.netns === state.netns && c.context === context);
}

function redraw(chartId?: string): void {
  if (document.hidden) return;
  for (const v of views) {
    const meta = chartFor(v.spec.context);
    if (!meta || (chartId !== undefined && meta.id !== chartId)) continue;
    const buf = state.buffers.get(meta.id);
    if (buf) v.update(buf, meta.units);
  }
}

function alertBadges(): void {
  for (const v of resetViews) {
    const name = v.spec.reset?.alert;
    const meta = chartFor(v.spec.context);
    if (!name || !meta) {
      replace(v.badgeEl);
      continue;
    }
    const a = state.alarms[`${meta.id}.${name}`];
    if (!a) {
      replace(v.badgeEl, h('span', { class: 'muted' }, `no ${name} alert on this namespace`));
      v.figure.dataset.alertStatus = '';
      continue;
    }
    v.figure.dataset.alertStatus = a.status;
    replace(
      v.badgeEl,
      statusBadge(a.status),
      ' ',
      h('span', { class: 'muted' }, `${name}: ${a.value_string}`),
    );
  }
}

/** Load the selected namespace's charts (their last KEEP_SECONDS) and bind every view to them. */
async function selectNamespace(): Promise<void> {
  const gen = ++state.generation;
  state.buffers = new Map();
  state.charts = new Map();
  for (const v of views) {
    const meta = chartFor(v.spec.context);
    if (meta && !state.charts.has(meta.id)) {
      state.charts.set(meta.id, meta);
      state.buffers.set(
        meta.id,
        new ChartBuffer(
          meta.dimensions.map((d) => d.id),
          KEEP_SECONDS,
        ),
      );
    }
  }
  state.pending = [];
  // The requests go out first; building the charts (synchronous) overlaps with them. The charts below the
  // fold are built once the first chart is drawn (or after 300 ms), so they do not delay it.
  const loads = [...state.charts.values()].map((meta) => loadHistory(meta, gen));
  const bind = (list: readonly ChartView[]) => {
    for (const v of list) {
      const meta = chartFor(v.spec.context);
      v.bind(meta?.dimensions, `no ${v.spec.context} chart in namespace ${state.netns} on this system`);
      v.onFirstData = markFirstChart;
      const buf = meta ? state.buffers.get(meta.id) : undefined;
      if (meta && buf && buf.times.length > 0) v.update(buf, meta.units);
    }
  };
  bind(resetViews);
  let later = false;
  const bindLater = () => {
    if (later || gen !== state.generation) return;
    later = true;
    bind(otherViews);
  };
  if (firstDrawn) bindLater();
  else {
    onFirstChart.push(bindLater);
    window.setTimeout(bindLater, 300);
  }
  alertBadges();
  renderAlerts();
  await Promise.all(loads);
  if (gen !== state.generation) return;
  const pending = state.pending ?? [];
  state.pending = undefined;
  for (const s of pending) ingest(s);
  redraw();
  void refreshDoctor();
}

async function loadHistory(meta: ChartMeta, gen: number): Promise<void> {
  try {
    const q = `chart=${encodeURIComponent(meta.id)}&after=-${KEEP_SECONDS}&before=0&points=${KEEP_SECONDS}&options=flip|unaligned&format=json`;
    const d = await getJson<{ labels: string[]; data: (number | null)[][] }>(`/api/v1/data?${q}`);
    if (gen !== state.generation) return;
    const buf = state.buffers.get(meta.id)!;
    // Labels are dimension names (Netdata's JSON); the stream keys by id.
    const ids = d.labels.slice(1).map((name) => meta.dimensions.find((x) => x.name === name)?.id ?? name);
    for (const row of d.data) {
      const values: Record<string, number | null> = {};
      ids.forEach((id, i) => {
        values[id] = row[i + 1] ?? null;
      });
      buf.put(row[0]!, values);
    }
    // Draw this chart now (the first chart must not wait for the others); samples that came meanwhile go
    // in too (put() is idempotent per second, so replaying them again later is harmless).
    for (const s of state.pending ?? []) {
      const r = s.charts[meta.id];
      if (r) buf.put(s.t, r);
    }
    redraw(meta.id);
  } catch (err) {
    console.warn(`history of ${meta.id}: ${(err as Error).message}`);
  }
}

function ingest(s: SampleEvent): void {
  for (const [id, buf] of state.buffers) {
    const row = s.charts[id];
    if (row) buf.put(s.t, row);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Stream

function setConn(kind: 'connecting' | 'live' | 'lost', text: string): void {
  const el = byId('conn');
  el.dataset.state = kind;
  byId('conn-text').textContent = text;
}

function onHello(hello: Hello): void {
  if (performance.getEntriesByName('rstwatch-hello').length === 0) performance.mark('rstwatch-hello');
  state.hello = hello;
  const namespaces = [...new Set(hello.charts.map((c) => c.netns))].sort((a, b) =>
    a === 'host' ? -1 : b === 'host' ? 1 : a < b ? -1 : 1,
  );
  if (!namespaces.includes(state.netns)) state.netns = namespaces[0] ?? 'host';
  const select = byId<HTMLSelectElement>('netns');
  replace(
    select,
    namespaces.map((n) => h('option', { value: n, selected: n === state.netns }, n)),
  );
  setConn('live', 'Live');
  void selectNamespace();
}

function onSample(s: SampleEvent): void {
  state.lastSampleMs = Date.now();
  setConn('live', `Live — last sample ${clock(s.t)}`);
  if (state.pending) {
    state.pending.push(s);
    return;
  }
  ingest(s);
  redraw();
}

const live = () => byId('live');

function onAlert(e: LogEntry): void {
  state.log.push(e);
  if (state.log.length > 2000) state.log.splice(0, state.log.length - 2000);
  const key = `${e.chart}.${e.name}`;
  const a = state.alarms[key];
  if (a) {
    a.status = e.status;
    a.value = e.value;
    a.value_string = e.value_string;
    a.last_status_change = e.when;
  }
  const raised = (s: string) => s === 'WARNING' || s === 'CRITICAL';
  if (isTransition(e) && (raised(e.status) || raised(e.old_status))) {
    const el = live();
    el.dataset.status = e.status;
    el.textContent = `${e.status === 'CLEAR' ? '✓' : '▲'} ${transitionText(e)}`;
  }
  renderAlerts();
  alertBadges();
}

function connect(): void {
  performance.mark('rstwatch-stream-open');
  const es = new EventSource('/api/rstwatch/stream');
  const parse = <T>(ev: MessageEvent<string>): T | undefined => {
    try {
      return JSON.parse(ev.data) as T;
    } catch {
      return undefined;
    }
  };
  es.addEventListener('hello', (ev) => {
    const d = parse<Hello>(ev as MessageEvent<string>);
    if (d) onHello(d);
  });
  es.addEventListener('sample', (ev) => {
    const d = parse<SampleEvent>(ev as MessageEvent<string>);
    if (d) onSample(d);
  });
  es.addEventListener('alert', (ev) => {
    const d = parse<LogEntry>(ev as MessageEvent<string>);
    if (d) onAlert(d);
  });
  es.addEventListener('capture', (ev) => {
    const d = parse<CaptureInfo>(ev as MessageEvent<string>);
    if (d) capture.onEvent(d);
  });
  es.addEventListener('error', () => {
    setConn('lost', 'Connection to the agent lost; retrying…');
  });
}

// ---------------------------------------------------------------------------------------------------------
// Polled panels

function nsCharts(): Set<string> {
  return new Set((state.hello?.charts ?? []).filter((c) => c.netns === state.netns).map((c) => c.id));
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

function renderAlerts(): void {
  alertsTable.render(state.alarms, nsCharts(), nowSec());
  renderTimeline(byId('timeline'), byId('transitions'), state.log, nsCharts(), nowSec());
}

async function refreshAlarms(): Promise<void> {
  try {
    const a = await getJson<AlarmsJson>('/api/v1/alarms?all');
    state.alarms = a.alarms;
    renderAlerts();
    alertBadges();
  } catch (err) {
    byId('alerts-summary').textContent = `Alerts are not available: ${(err as Error).message}`;
  }
}

async function loadLog(): Promise<void> {
  try {
    const entries = await getJson<LogEntry[]>('/api/v1/alarm_log');
    const seen = new Set(state.log.map((e) => e.unique_id));
    for (const e of entries) if (!seen.has(e.unique_id)) state.log.push(e);
    renderAlerts();
  } catch (err) {
    console.warn(`alarm log: ${(err as Error).message}`);
  }
}

async function refreshTop(): Promise<void> {
  if (document.hidden) return;
  const w = byId<HTMLSelectElement>('top-window').value;
  const d = byId<HTMLSelectElement>('top-direction').value;
  let answer: TopJson | ApiFailure;
  try {
    answer = await getJson<TopJson>(`/api/rstwatch/top?window=${w}&direction=${d}&limit=10`);
  } catch (err) {
    answer = err instanceof ApiFailure ? err : new ApiFailure(0, 'E_NETWORK', String(err));
  }
  renderTop(byId('top-status'), byId('top-lists'), answer);
}

async function refreshDoctor(): Promise<void> {
  let d: DoctorJson | Error;
  try {
    d = await getJson<DoctorJson>(
      `/api/rstwatch/doctor?netns=${encodeURIComponent(state.netns)}&interval=60`,
    );
  } catch (err) {
    d = err as Error;
  }
  renderDoctor(byId('syncookie-findings'), byId('doctor-findings'), d);
}

async function refreshStatus(): Promise<void> {
  try {
    const s = await getJson<StatusJson>('/api/rstwatch/status');
    state.status = s;
    byId('host').textContent = `— ${s.hostname} (${s.os}, rstwatch ${s.version})`;
    document.title = `rstwatch — ${s.hostname}`;
    byId('token-command').textContent = `sudo cat ${s.api.tokenFile}`;
    if (s.captures === null) capture.unavailable('this agent has no capture manager');
  } catch (err) {
    setConn('lost', `The agent does not answer: ${(err as Error).message}`);
  }
}

function watchdog(): void {
  if (state.lastSampleMs > 0 && Date.now() - state.lastSampleMs > 5000) {
    setConn('lost', `No new sample for ${num(Math.round((Date.now() - state.lastSampleMs) / 1000))} s`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Token dialog

function tokenButton(): void {
  byId('token-button').textContent = getToken() === null ? 'API token: not set' : 'API token: set';
}

/** Ask for the token; resolves true when one was set. */
function askToken(reason: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('token-dialog');
  const input = byId<HTMLInputElement>('token-input');
  const err = byId('token-error');
  err.hidden = reason === '';
  err.textContent = reason;
  input.value = '';
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener('close', onClose);
      tokenButton();
      resolve(dialog.returnValue === 'save' && getToken() !== null);
    };
    dialog.addEventListener('close', onClose);
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
  });
}

function setupTokenDialog(): void {
  const form = byId<HTMLFormElement>('token-form');
  const input = byId<HTMLInputElement>('token-input');
  const err = byId('token-error');
  form.addEventListener('submit', (ev) => {
    const submitter = (ev as SubmitEvent).submitter as HTMLButtonElement | null;
    const action = submitter?.value ?? 'save';
    if (action === 'forget') setToken(null);
    if (action !== 'save') return;
    const token = input.value.trim().toLowerCase();
    if (!TOKEN_RE.test(token)) {
      ev.preventDefault();
      err.hidden = false;
      err.textContent = 'A token is 64 hexadecimal digits (the content of the token file).';
      input.focus();
      return;
    }
    setToken(token);
  });
  byId('token-button').addEventListener('click', () => void askToken(''));
  tokenButton();
}

// ---------------------------------------------------------------------------------------------------------

function main(): void {
  performance.mark('rstwatch-main');
  // The stream first: its hello (the chart list) gates the charts.
  connect();
  takeTokenFromUrl();
  const resetBox = byId('reset-charts');
  const otherBox = byId('other-charts');
  for (const v of resetViews) resetBox.append(v.figure);
  for (const v of otherViews) otherBox.append(v.figure);
  alertsTable = new AlertsTable(byId<HTMLTableElement>('alerts-table'), byId('alerts-summary'));
  capture = new CaptureController(askToken);
  setupTokenDialog();

  byId<HTMLSelectElement>('netns').addEventListener('change', (ev) => {
    state.netns = (ev.target as HTMLSelectElement).value;
    const url = new URL(location.href);
    url.searchParams.set('netns', state.netns);
    history.replaceState(history.state, '', url);
    void selectNamespace();
  });
  for (const id of ['top-window', 'top-direction'])
    byId(id).addEventListener('change', () => void refreshTop());
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    for (const v of views) v.rebuild();
    redraw();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      redraw();
      void refreshTop();
    }
  });

  void refreshAlarms();
  // The panels below the charts wait for the first chart (or a second at most): on a busy host the charts'
  // history should not queue behind them.
  let started = false;
  const rest = () => {
    if (started) return;
    started = true;
    void loadExplain();
    void refreshStatus();
    void loadLog();
    void refreshTop();
    void capture.load();
  };
  onFirstChart.push(rest);
  window.setTimeout(rest, 1000);
  window.setInterval(() => void refreshAlarms(), 5000);
  window.setInterval(() => void refreshTop(), 5000);
  window.setInterval(() => void refreshDoctor(), 30_000);
  window.setInterval(() => void refreshStatus(), 30_000);
  window.setInterval(watchdog, 1000);
  window.setInterval(() => renderAlerts(), 10_000);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
