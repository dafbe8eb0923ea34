/**
 * The "capture 60 s" action: start a bounded capture through the captures API (token required), show its
 * progress (elapsed seconds, packets, bytes — from the event stream, and polled as a fallback), let it be
 * stopped early, then fetch and render its analysis report. Earlier captures are listed with their reports
 * and a download (the download needs the token too: a capture holds packet headers).
 */

import {
  ApiFailure,
  type CaptureInfo,
  getBlobWithToken,
  getJson,
  getToken,
  postJson,
  setToken,
} from './api.js';
import { byId, h, replace } from './dom.js';
import { bytes, dateTime, num } from './format.js';
import { type ReportJson, renderReport } from './report.js';

export const CAPTURE_SECONDS = 60;

export class CaptureController {
  private readonly startBtn = byId<HTMLButtonElement>('capture-start');
  private readonly stopBtn = byId<HTMLButtonElement>('capture-stop');
  private readonly progressBox = byId('capture-progress');
  private readonly bar = byId<HTMLProgressElement>('capture-bar');
  private readonly statusEl = byId('capture-status');
  private readonly errorEl = byId('capture-error');
  private readonly reportEl = byId('capture-report');
  private readonly listEl = byId('capture-list');
  private current: CaptureInfo | undefined;
  private timer: number | undefined;
  private readonly known = new Map<string, CaptureInfo>();
  private readonly askToken: (reason: string) => Promise<boolean>;

  constructor(askToken: (reason: string) => Promise<boolean>) {
    this.askToken = askToken;
    this.startBtn.addEventListener('click', () => void this.start());
    this.stopBtn.addEventListener('click', () => void this.stop());
  }

  /** The captures API is missing from this agent: say so on the button's card. */
  unavailable(message: string): void {
    this.startBtn.disabled = true;
    this.showError(`Captures are not available here: ${message}`);
  }

  async load(): Promise<void> {
    try {
      const { captures } = await getJson<{ captures: CaptureInfo[] }>('/api/rstwatch/captures');
      for (const c of captures) this.known.set(c.id, c);
      this.renderList();
      const running = captures.find((c) => c.state === 'running');
      if (running) this.follow(running);
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 503) this.unavailable(err.message);
    }
  }

  /** A `capture` event from the stream. */
  onEvent(info: CaptureInfo): void {
    this.known.set(info.id, info);
    this.renderList();
    if (this.current?.id === info.id) this.progress(info);
    else if (!this.current && info.state === 'running') this.follow(info);
  }

  private showError(text: string | null): void {
    this.errorEl.hidden = text === null;
    this.errorEl.textContent = text ?? '';
  }

  private async start(): Promise<void> {
    this.showError(null);
    if (getToken() === null && !(await this.askToken('Starting a capture needs the API token.'))) return;
    this.startBtn.disabled = true;
    try {
      const info = await postJson<CaptureInfo>('/api/rstwatch/captures', {
        durationSeconds: CAPTURE_SECONDS,
      });
      this.known.set(info.id, info);
      this.follow(info);
    } catch (err) {
      this.startBtn.disabled = false;
      if (err instanceof ApiFailure && err.status === 401) {
        setToken(null);
        this.showError(`The agent refused the token (${err.message}). Set it again and retry.`);
        if (await this.askToken('The agent refused the token.')) return this.start();
        return;
      }
      if (err instanceof ApiFailure && err.code === 'E_CAPTURE_BUSY') {
        this.showError(`${err.message}. Showing the running capture.`);
        await this.load();
        return;
      }
      this.showError(err instanceof ApiFailure ? `${err.message} (${err.code})` : String(err));
    }
  }

  private async stop(): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.stopBtn.disabled = true;
    try {
      const info = await postJson<CaptureInfo>(
        `/api/rstwatch/captures/${encodeURIComponent(cur.id)}/stop`,
        {},
      );
      this.progress(info);
    } catch (err) {
      this.stopBtn.disabled = false;
      if (err instanceof ApiFailure && err.status === 401) setToken(null);
      this.showError(err instanceof ApiFailure ? `Stop failed: ${err.message} (${err.code})` : String(err));
    }
  }

  private follow(info: CaptureInfo): void {
    this.current = info;
    this.startBtn.disabled = true;
    this.stopBtn.hidden = false;
    this.stopBtn.disabled = false;
    this.progressBox.hidden = false;
    this.reportEl.hidden = true;
    this.bar.max = info.request.durationSeconds ?? CAPTURE_SECONDS;
    this.progress(info);
    window.clearInterval(this.timer);
    // The stream tells packets and bytes; the poll covers a lost stream and moves the bar each second.
    this.timer = window.setInterval(() => void this.poll(), 1000);
  }

  private async poll(): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    try {
      this.progress(await getJson<CaptureInfo>(`/api/rstwatch/captures/${encodeURIComponent(cur.id)}`));
    } catch {
      // the next tick or the stream will tell
    }
  }

  private progress(info: CaptureInfo): void {
    if (!this.current || this.current.id !== info.id) return;
    this.current = info;
    this.known.set(info.id, info);
    const total = info.request.durationSeconds ?? CAPTURE_SECONDS;
    const elapsed = Math.min(total, (Date.now() - Date.parse(info.startedAt)) / 1000);
    const box = this.progressBox;
    box.dataset.state = info.state;
    box.dataset.packets = String(info.packets);
    if (info.state === 'running') {
      this.bar.value = Math.max(0, elapsed);
      this.statusEl.textContent = `Capturing: ${Math.floor(elapsed)} of ${total} s, ${num(info.packets)} packets, ${bytes(info.bytes)}.`;
      return;
    }
    window.clearInterval(this.timer);
    this.timer = undefined;
    this.current = undefined;
    this.stopBtn.hidden = true;
    this.startBtn.disabled = false;
    this.bar.value = this.bar.max;
    this.renderList();
    if (info.state === 'failed') {
      this.statusEl.textContent = `Capture ${info.id} failed.`;
      this.showError(`${info.error?.message ?? 'the capture failed'} (${info.error?.code ?? 'unknown'})`);
      return;
    }
    this.statusEl.textContent = `Capture ${info.id} done: ${num(info.packets)} packets, ${bytes(info.bytes)}. Analysing…`;
    void this.showReport(info);
  }

  async showReport(info: CaptureInfo): Promise<void> {
    this.reportEl.hidden = false;
    replace(this.reportEl, h('p', { class: 'muted' }, `Analysing capture ${info.id}…`));
    try {
      const report = await getJson<ReportJson>(
        `/api/rstwatch/captures/${encodeURIComponent(info.id)}/report`,
      );
      const download = h('button', { type: 'button', class: 'secondary' }, 'Download the capture');
      download.addEventListener('click', () => void this.download(info));
      replace(this.reportEl, renderReport(report, info.id), h('div', { class: 'actions' }, download));
      this.statusEl.textContent = `Capture ${info.id}: report ready.`;
      this.reportEl.focus();
    } catch (err) {
      replace(
        this.reportEl,
        h(
          'p',
          { class: 'error' },
          `No report: ${err instanceof ApiFailure ? `${err.message} (${err.code})` : String(err)}`,
        ),
      );
    }
  }

  private async download(info: CaptureInfo): Promise<void> {
    if (getToken() === null && !(await this.askToken('Downloading a capture needs the API token.'))) return;
    try {
      const blob = await getBlobWithToken(`/api/rstwatch/captures/${encodeURIComponent(info.id)}/download`);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `rstwatch-${info.id}.${info.request.format ?? 'pcap'}` });
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401) setToken(null);
      this.showError(
        err instanceof ApiFailure ? `Download failed: ${err.message} (${err.code})` : String(err),
      );
    }
  }

  private renderList(): void {
    const all = [...this.known.values()].sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1)).slice(0, 10);
    replace(
      this.listEl,
      all.length === 0 ? h('li', { class: 'muted' }, 'none yet') : null,
      all.map((c) => {
        const show = h(
          'button',
          { type: 'button', class: 'secondary', disabled: c.state !== 'done' },
          'Show report',
        );
        show.addEventListener('click', () => void this.showReport(c));
        return h(
          'li',
          { 'data-id': c.id, 'data-state': c.state },
          h(
            'span',
            {},
            `${dateTime(Date.parse(c.startedAt) / 1000)} — ${c.state}, ${num(c.packets)} packets, ${bytes(c.bytes)}`,
          ),
          c.error ? h('span', { class: 'error' }, c.error.code) : null,
          show,
        );
      }),
    );
  }
}
