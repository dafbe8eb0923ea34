/**
 * SYN cookie status and the other checks of `rstwatch doctor`, from the agent's own counters
 * (`/api/rstwatch/doctor`, src/remedy/doctor.ts): each finding with its severity (colour and word), the
 * evidence, and the exact command when one command fixes it.
 */

import type { DoctorJson, Finding } from './api.js';
import { codeText, h, replace } from './dom.js';

const SYN_IDS = new Set(['syncookies', 'syn-cookies-sent', 'syn-queue-drops']);

function finding(f: Finding): HTMLElement {
  return h(
    'div',
    { class: 'finding', 'data-id': f.id, 'data-severity': f.severity },
    h(
      'p',
      {},
      h('span', { class: 'badge', 'data-severity': f.severity }, f.severity),
      ' ',
      h('strong', {}, f.title),
    ),
    f.evidence.length > 0
      ? h(
          'ul',
          {},
          f.evidence.map((e) => h('li', {}, codeText(e))),
        )
      : null,
    f.fix ? h('p', {}, 'Fix: ', h('code', {}, f.fix)) : null,
    f.advice ? h('p', { class: 'muted' }, codeText(f.advice)) : null,
  );
}

export function renderDoctor(synEl: HTMLElement, otherEl: HTMLElement, d: DoctorJson | Error): void {
  if (d instanceof Error) {
    replace(synEl, h('p', { class: 'muted' }, `The checks are not available: ${d.message}`));
    replace(otherEl);
    return;
  }
  const syn = d.findings.filter((f) => SYN_IDS.has(f.id) || f.topic === 'syncookies');
  const other = d.findings.filter((f) => !syn.includes(f));
  const setting = d.settings['net.ipv4.tcp_syncookies'];
  const meaning: Record<string, string> = {
    '0': 'off: a full SYN queue drops new connections',
    '1': 'on when the SYN queue overflows (the default)',
    '2': 'always on',
  };
  replace(
    synEl,
    setting !== undefined && setting !== null
      ? h(
          'p',
          {},
          h('code', {}, `net.ipv4.tcp_syncookies = ${setting}`),
          ` — ${meaning[String(setting)] ?? 'unknown value'}`,
        )
      : null,
    syn.map(finding),
    h(
      'p',
      { class: 'muted' },
      `Namespace ${d.netns}, counters over the last ${Math.round(d.intervalSeconds)} s.`,
    ),
  );
  replace(otherEl, other.map(finding));
}
