/**
 * Live charts with uPlot (docs/dashboard.md says why uPlot): one canvas per chart, redrawn with the last five
 * minutes each second. Colours come from the page's CSS variables, so the charts follow the light or dark
 * scheme; thresholds are dashed, so they differ from the data by more than colour.
 *
 * Each chart's figure carries what a test or a script may check without reading pixels: `data-points`
 * (values drawn), `data-max` (largest value of the main series in view), `data-raise` (the current raise
 * threshold, reset charts only) and `data-last-t` (the newest second drawn).
 */

import uPlot from 'uplot';
import { h, replace } from './dom.js';
import { axisNum, num } from './format.js';
import { type ChartBuffer, lastValue, maxValue, resetOverlay, type Value } from './series.js';

/** Seconds shown; the buffers keep 70 s more, so the first shown second already has its baseline. */
export const SHOWN_SECONDS = 300;
export const KEEP_SECONDS = SHOWN_SECONDS + 70;

export interface LineSpec {
  label: string;
  /** CSS variable with the colour. */
  color: string;
  width?: number;
  dash?: number[];
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** One uPlot chart filling its container's width. */
export class LiveChart {
  private plot: uPlot | undefined;
  private data: uPlot.AlignedData;
  private readonly el: HTMLElement;
  private readonly lines: readonly LineSpec[];
  private readonly observer: ResizeObserver;
  private lastWidth = 0;
  /** Called after each draw that had data (the first-render mark). */
  onDrawn: (() => void) | undefined;

  constructor(el: HTMLElement, lines: readonly LineSpec[]) {
    this.el = el;
    this.lines = lines;
    this.data = [[], ...lines.map(() => [])];
    this.observer = new ResizeObserver(() => {
      const w = this.width();
      if (this.plot && Math.abs(w - this.lastWidth) >= 2) {
        this.lastWidth = w;
        this.plot.setSize({ width: w, height: this.height() });
      }
    });
    this.observer.observe(el);
    this.build();
  }

  private width(): number {
    return Math.max(200, Math.floor(this.el.clientWidth));
  }

  private height(): number {
    return window.innerWidth < 560 ? 170 : 210;
  }

  /** (Re)create the plot, e.g. after the colour scheme changed. */
  build(): void {
    this.plot?.destroy();
    const text = cssVar('--muted');
    const grid = cssVar('--grid');
    const axis: uPlot.Axis = {
      stroke: text,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
    };
    this.lastWidth = this.width();
    const opts: uPlot.Options = {
      width: this.lastWidth,
      height: this.height(),
      cursor: { drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ ...axis }, { ...axis, size: 48, values: (_u, vals) => vals.map((v) => axisNum(v)) }],
      series: [
        { label: 'time' },
        ...this.lines.map(
          (l): uPlot.Series => ({
            label: l.label,
            stroke: cssVar(l.color),
            width: l.width ?? 1.5,
            ...(l.dash ? { dash: l.dash } : {}),
            points: { show: false },
            spanGaps: false,
            value: (_u, v) => num(v),
          }),
        ),
      ],
      hooks: {
        draw: [
          () => {
            if ((this.data[0]?.length ?? 0) > 0) this.onDrawn?.();
          },
        ],
      },
    };
    this.plot = new uPlot(opts, this.data, this.el);
  }

  setData(times: number[], columns: Value[][]): void {
    this.data = [times, ...columns] as uPlot.AlignedData;
    this.plot?.setData(this.data);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }
}

/** What one chart of the dashboard shows. */
export interface ViewSpec {
  /** Element id suffix: `chart-<key>`. */
  key: string;
  /** Chart context (the chart of the selected namespace with this context feeds it). */
  context: string;
  title: string;
  /** One line on what the numbers mean. */
  what: string;
  /** Dimensions drawn (ids); empty = every dimension of the chart. */
  dims: readonly string[];
  /** The reset alert watching the first dimension: draw averages (and thresholds when `alert` is set). */
  reset?: { alert?: string };
}

const PALETTE = ['--c-1', '--c-2', '--c-3', '--c-4', '--c-5', '--c-6'];

/** A chart card: the figure, its uPlot, its summary line. */
export class ChartView {
  readonly spec: ViewSpec;
  readonly figure: HTMLElement;
  private readonly plotEl: HTMLElement;
  private readonly nowEl: HTMLElement;
  readonly badgeEl: HTMLElement;
  private chart: LiveChart | undefined;
  private names: string[] = [];
  private dimIds: string[] = [];
  onFirstData: (() => void) | undefined;

  constructor(spec: ViewSpec) {
    this.spec = spec;
    this.plotEl = h('div', { class: 'plot', role: 'img', 'aria-label': `${spec.title}: no data yet` });
    this.nowEl = h('p', { class: 'now' }, 'waiting for data…');
    this.badgeEl = h('span', { class: 'alert-badge' });
    this.figure = h(
      'figure',
      { class: 'chart', id: `chart-${spec.key}`, 'data-points': 0 },
      h('figcaption', {}, h('h3', {}, spec.title), this.badgeEl, h('p', { class: 'what' }, spec.what)),
      this.plotEl,
      this.nowEl,
    );
  }

  /** Bind to a chart of the selected namespace (its dimensions), or show why there is none. */
  bind(dimensions: { id: string; name: string }[] | undefined, whyNot: string): void {
    this.chart?.destroy();
    this.chart = undefined;
    this.figure.dataset.points = '0';
    if (!dimensions) {
      replace(this.plotEl, h('p', { class: 'absent' }, whyNot));
      this.plotEl.setAttribute('aria-label', `${this.spec.title}: ${whyNot}`);
      this.nowEl.textContent = '';
      return;
    }
    const wanted = this.spec.dims.length > 0 ? this.spec.dims : dimensions.map((d) => d.id);
    const present = wanted.filter((id) => dimensions.some((d) => d.id === id));
    if (present.length === 0) {
      const msg = `this system does not count ${wanted.join(', ')}`;
      replace(this.plotEl, h('p', { class: 'absent' }, msg));
      this.plotEl.setAttribute('aria-label', `${this.spec.title}: ${msg}`);
      this.nowEl.textContent = '';
      return;
    }
    this.dimIds = present;
    this.names = present.map((id) => dimensions.find((d) => d.id === id)?.name ?? id);
    replace(this.plotEl);
    let lines: LineSpec[];
    if (this.spec.reset) {
      lines = [
        { label: 'per second', color: '--c-rate', width: 1.5 },
        { label: '10 s average', color: '--c-avg10', width: 2 },
        { label: '1 min average (baseline)', color: '--c-avg1m', width: 2 },
      ];
      if (this.spec.reset.alert) {
        lines.push(
          { label: 'raises above', color: '--c-raise', width: 1.5, dash: [8, 4] },
          { label: 'stays raised above', color: '--c-hold', width: 1.5, dash: [2, 4] },
        );
      }
    } else {
      lines = this.names.map((name, i) => ({ label: name, color: PALETTE[i % PALETTE.length]! }));
    }
    this.chart = new LiveChart(this.plotEl, lines);
    this.chart.onDrawn = () => this.onFirstData?.();
  }

  rebuild(): void {
    this.chart?.build();
  }

  /** Redraw from the buffer (the last SHOWN_SECONDS). */
  update(buf: ChartBuffer, units: string): void {
    if (!this.chart) return;
    const n = buf.times.length;
    const from = Math.max(0, n - SHOWN_SECONDS);
    const times = buf.times.slice(from);
    let columns: Value[][];
    let main: Value[];
    let summary: string;
    if (this.spec.reset) {
      const all = buf.column(this.dimIds[0]!);
      const o = resetOverlay(all);
      main = all.slice(from);
      columns = [main, o.avg10.slice(from), o.baseline.slice(from)];
      const raise = lastValue(o.raise);
      summary =
        `now ${num(lastValue(all))}/s · 10 s average ${num(lastValue(o.avg10))}/s · ` +
        `1 min average ${num(lastValue(o.baseline))}/s`;
      if (this.spec.reset.alert) {
        columns.push(o.raise.slice(from), o.hold.slice(from));
        summary += ` · raises above ${num(raise)}/s, stays raised above ${num(lastValue(o.hold))}/s`;
        this.figure.dataset.raise = raise === null ? '' : String(raise);
      }
    } else {
      columns = this.dimIds.map((id) => buf.column(id).slice(from));
      main = columns.flat();
      summary = this.dimIds.map((id, i) => `${this.names[i]} ${num(lastValue(buf.column(id)))}`).join(' · ');
      summary = `now: ${summary} (${units})`;
    }
    const points = main.filter((v) => v !== null).length;
    const max = maxValue(main);
    this.figure.dataset.points = String(points);
    this.figure.dataset.max = max === null ? '' : String(max);
    this.figure.dataset.lastT = String(buf.lastT);
    this.nowEl.textContent = summary;
    this.plotEl.setAttribute(
      'aria-label',
      `${this.spec.title}, last ${SHOWN_SECONDS / 60} minutes: ${summary}`,
    );
    this.chart.setData(times, columns);
  }
}

export const RESET_VIEWS: readonly ViewSpec[] = [
  {
    key: 'received',
    context: 'ip.tcphandshake',
    title: 'Resets received (AttemptFails)',
    what: 'Our connection attempts answered by a reset, and half-open handshakes reset: usually a service this host talks to is down or a firewall rejects.',
    dims: ['AttemptFails'],
    reset: { alert: '10s_ipv4_tcp_resets_received' },
  },
  {
    key: 'sent',
    context: 'ip.tcphandshake',
    title: 'Resets sent (OutRsts)',
    what: 'Segments this host sent with RST: clients reaching ports where nothing listens, scans, or applications aborting connections.',
    dims: ['OutRsts'],
    reset: { alert: '10s_ipv4_tcp_resets_sent' },
  },
  {
    key: 'estab',
    context: 'ip.tcphandshake',
    title: 'Established connections reset (EstabResets)',
    what: 'Open connections that ended by a reset, sent or received. No shipped alert watches this counter.',
    dims: ['EstabResets'],
    reset: {},
  },
];

export const OTHER_VIEWS: readonly ViewSpec[] = [
  {
    key: 'aborts',
    context: 'ip.tcpconnaborts',
    title: 'Abort reasons',
    what: 'Why this host aborted connections with a reset: data after close, close with unread data, memory, timeout, linger.',
    dims: [],
  },
  {
    key: 'listen',
    context: 'ip.tcp_accept_queue',
    title: 'Listen (accept) queue',
    what: 'Completed handshakes dropped because an application accepts too slowly.',
    dims: [],
  },
  {
    key: 'synqueue',
    context: 'ip.tcp_syn_queue',
    title: 'SYN queue',
    what: 'Half-open connections dropped or answered with SYN cookies because the SYN queue was full.',
    dims: [],
  },
  {
    key: 'cookies',
    context: 'ip.tcp_syncookies',
    title: 'SYN cookies',
    what: 'SYN cookies sent when the SYN queue overflowed, and cookies received back (valid or failed).',
    dims: [],
  },
];
