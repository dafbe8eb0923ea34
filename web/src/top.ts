/**
 * Who and why: the attribution API's top peers, ports, reasons and states over a window
 * (`/api/rstwatch/top`, fed by the kernel's tcp_send_reset / tcp_receive_reset tracepoints, src/attribute/).
 * When attribution is off or cannot run, its one-sentence reason is shown instead of empty lists.
 */

import { ApiFailure, type TopEntry, type TopJson } from './api.js';
import { h, replace } from './dom.js';
import { num } from './format.js';

const LISTS: { key: 'peers' | 'localPorts' | 'remotePorts' | 'reasons' | 'states'; title: string }[] = [
  { key: 'peers', title: 'Peers' },
  { key: 'localPorts', title: 'Local ports' },
  { key: 'remotePorts', title: 'Remote ports' },
  { key: 'reasons', title: 'Reasons (kernel)' },
  { key: 'states', title: 'TCP states' },
];

function entryLabel(e: TopEntry): string {
  return e.process ? `${e.key} (${e.process.name}[${e.process.pid}])` : e.key;
}

function list(id: string, title: string, entries: readonly TopEntry[], other: number): HTMLElement {
  const max = Math.max(1, ...entries.map((e) => e.count));
  return h(
    'div',
    { class: 'toplist', id: `top-${id}` },
    h('h3', {}, title),
    entries.length === 0
      ? h('p', { class: 'muted' }, 'none in this window')
      : h(
          'ol',
          {},
          entries.map((e) => {
            const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
            bar.style.width = `${(e.count / max) * 100}%`;
            return h(
              'li',
              { 'data-key': e.key, 'data-count': e.count },
              bar,
              h('span', { class: 'k' }, entryLabel(e)),
              h('span', { class: 'n' }, num(e.count)),
            );
          }),
        ),
    id === 'peers' && other > 0
      ? h('p', { class: 'muted' }, `${num(other)} more in "other" (top-K bound)`)
      : null,
  );
}

/** Render an answer of /api/rstwatch/top, or the reason there is none. */
export function renderTop(statusEl: HTMLElement, listsEl: HTMLElement, answer: TopJson | ApiFailure): void {
  if (answer instanceof ApiFailure) {
    statusEl.dataset.enabled = 'false';
    statusEl.textContent = `Attribution is not available: ${answer.message} (${answer.code}).`;
    replace(listsEl);
    return;
  }
  const st = answer.status;
  statusEl.dataset.enabled = String(st.enabled);
  if (!st.enabled || !answer.top) {
    statusEl.textContent = `Attribution is off: ${st.reason ?? 'no reason given'}. The counters above still work; a capture shows who and why.`;
    replace(listsEl);
    return;
  }
  const t = answer.top;
  const lost = st.lost > 0 ? ` ${num(st.lost)} events were lost (the kernel's buffer was full).` : '';
  statusEl.textContent =
    `${num(t.total)} resets in the last ${answer.windowSeconds >= 60 ? `${answer.windowSeconds / 60} min` : `${answer.windowSeconds} s`}` +
    ` (${answer.direction}).${st.reason ? ` Attribution ${st.reason.replace(/\.$/, '')}.` : ''}${lost}`;
  replace(
    listsEl,
    LISTS.map((l) => list(l.key, l.title, t[l.key] ?? [], t.other)),
  );
}
