/**
 * Configuration text: the agent's rstwatch.conf (parseConfig, resolveSettings), notify.conf
 * (parseNotifyConfig, route) and the sysctl.conf editor (setSysctl, unifiedDiff), the last with the
 * properties that make an edit safe to write over a system file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, resolveSettings } from '../../../src/internal/config.js';
import { parseNotifyConfig, route } from '../../../src/notify/config.js';
import {
  effectiveSysctl,
  joinLines,
  setSysctl,
  splitLines,
  unifiedDiff,
} from '../../../src/remedy/sysctl-conf.js';
import { REPO } from '../engine/paths.js';
import { bytes, check, checkProblems, type FuzzTarget, utf8 } from '../engine/target.js';

/** The ```ini blocks of a doc page, as seeds. */
function iniBlocks(doc: string): Uint8Array[] {
  const text = readFileSync(join(REPO, 'docs', doc), 'utf8');
  return [...text.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => bytes(m[1]!));
}

let tmp: string | undefined;

export const agentConfigTarget: FuzzTarget = {
  name: 'agent-config',
  about:
    'rstwatch.conf (src/internal/config.ts): parseConfig, then resolveSettings with the file and its lines as flags',
  maxLen: 4096,
  text: true,
  dict: [
    '[agent]',
    '[notify]',
    ' = ',
    'interval',
    'listen',
    'netns',
    'data dir',
    'flush_every',
    'api allow origins',
    'log level',
    'attribution',
    'yes',
    'no',
    '1e400',
    '-0',
    '0x10',
    '#',
    ';',
  ],
  seeds: () => [
    ...iniBlocks('configuration.md'),
    bytes(
      '[agent]\ninterval = 1\nlisten = 127.0.0.1:19911\nnetns = host, blue\nlog level = info\nattribution = yes\n',
    ),
  ],
  async setup() {
    // A file per run: on tmpfs when there is one, so the write costs microseconds, not a disk journal.
    tmp = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'rw-fuzz-config-'));
  },
  async teardown() {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  },
  run(data) {
    const text = utf8(data);
    const r = parseConfig(text, 'rstwatch.conf');
    checkProblems(r.problems, text, 'parseConfig');
    const flags: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0)
        flags[
          line
            .slice(0, eq)
            .trim()
            .replace(/[\s_]+/g, '-')
        ] = line.slice(eq + 1).trim();
    }
    const file = join(tmp!, 'rstwatch.conf');
    writeFileSync(file, text);
    const s = resolveSettings({ flags, env: {}, configFile: file });
    checkProblems(s.problems, undefined, 'resolveSettings');
    for (const [k, v] of Object.entries(s.settings)) {
      if (typeof v === 'number') check(Number.isFinite(v), `setting ${k} = ${v}`);
    }
  },
};

export const notifyConfigTarget: FuzzTarget = {
  name: 'notify-config',
  about: 'notify.conf (src/notify/config.ts): parseNotifyConfig and routing of every status change',
  maxLen: 4096,
  text: true,
  dict: [
    '[role ',
    '[method ',
    ']',
    ' = ',
    'type',
    'exec',
    'webhook',
    'slack',
    'alertmanager',
    'email',
    'url',
    'methods',
    '|critical',
    '|nowarn',
    '|noclear',
    'retry_first',
    'give_up_after',
    'concurrency',
    '5m',
    '1.5s',
  ],
  seeds: () => [
    ...iniBlocks('notifications.md'),
    bytes(
      '[role sysadmin]\nmethods = ops|critical mail\n[method ops]\ntype = webhook\nurl = http://127.0.0.1:9/\n',
    ),
  ],
  run(data) {
    const text = utf8(data);
    const r = parseNotifyConfig(text, 'notify.conf');
    checkProblems(r.problems, text, 'parseNotifyConfig');
    for (const role of ['sysadmin', 'default', 'silent', 'a b', ...r.config.roles.keys()]) {
      for (const [status, old] of [
        ['CRITICAL', 'CLEAR'],
        ['WARNING', 'CLEAR'],
        ['CLEAR', 'CRITICAL'],
        ['CLEAR', 'WARNING'],
      ] as const) {
        const methods = route(r.config, role, status, old);
        check(new Set(methods).size === methods.length, `route repeats a method: ${methods.join(',')}`);
        for (const m of methods)
          check(r.config.methods.has(m), `route names method ${m} that is not configured`);
      }
    }
  },
};

const NAMES = [
  'net.ipv4.tcp_syncookies',
  'net/ipv4/tcp_syncookies',
  'net.inet.tcp.syncookies',
  'net.ipv4.conf.eth0/100.rp_filter',
  'kern.ipc.somaxconn',
];
const VALUES = ['0', '1', '2', '4096', '-1'];

/** Apply a unified diff made by unifiedDiff to `before`; undefined when it does not apply. */
function applyDiff(before: string, diff: string): string | undefined {
  const old = splitLines(before).map((l) => l.text + l.eol);
  const lines = diff.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let out = '';
  let at = 0; // next old line
  let i = 2; // after ---/+++
  while (i < lines.length) {
    const h = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(lines[i]!);
    if (!h) return undefined;
    const start = Number(h[1]) - (h[2] === '0' ? 0 : 1);
    while (at < start) out += old[at++] ?? '';
    i++;
    while (i < lines.length && !lines[i]!.startsWith('@@')) {
      const l = lines[i]!;
      const noEol = lines[i + 1] === '\\ No newline at end of file';
      const content = l.slice(1) + (noEol ? '' : '\n');
      if (l[0] === ' ' || l[0] === '-') {
        if (old[at] !== content) return undefined;
        at++;
      }
      if (l[0] === ' ' || l[0] === '+') out += content;
      i += noEol ? 2 : 1;
    }
  }
  while (at < old.length) out += old[at++];
  return out;
}

/** Byte 0 picks the name, the value and the style; the rest is the file. */
export const sysctlConfTarget: FuzzTarget = {
  name: 'sysctl-conf',
  about:
    'sysctl.conf editor (src/remedy/sysctl-conf.ts): the edit takes effect, is idempotent, touches one line; its diff applies',
  maxLen: 4096,
  text: true,
  dict: [...NAMES, ' = ', '=', '-', '#', ';', '\r\n', '\n', ' ', '\t'],
  seeds: () =>
    [
      '# kernel\nnet.ipv4.tcp_syncookies = 0\n',
      'net.ipv4.tcp_syncookies=1\r\nnet.ipv4.tcp_syncookies = 2\r\n',
      '-net/ipv4/tcp_syncookies = 0',
      '; c\nnet.inet.tcp.syncookies=0\nkern.ipc.somaxconn=128\n',
      '#net.ipv4.tcp_syncookies = 1\n\n',
      '',
    ].flatMap((t, i) => [0, 7, 13].map((sel) => bytes(String.fromCharCode((sel + i) & 0x7f) + t))),
  run(data) {
    if (data.length === 0) return;
    const sel = data[0]!;
    const text = utf8(data.subarray(1));
    const name = NAMES[sel % NAMES.length]!;
    const value = VALUES[(sel >> 3) % VALUES.length]!;
    const style = sel & 0x40 ? 'compact' : 'spaced';
    check(joinLines(splitLines(text)) === text, 'splitLines/joinLines do not give the text back');
    const r = setSysctl(text, name, value, { style, comment: ['set by fuzz'] });
    const eff = effectiveSysctl(r.text, name);
    check(
      eff !== undefined && eff.value === value,
      `after setting ${name}=${value} the file says ${eff?.value}`,
    );
    check(
      eff.line === r.line,
      `result names line ${r.line}, the effective assignment is on line ${eff.line}`,
    );
    const again = setSysctl(r.text, name, value, { style });
    check(!again.changed && again.text === r.text, 'setting the same value twice changes the file again');
    check(
      r.changed === (r.text !== text),
      `changed=${r.changed} but the text ${r.text === text ? 'is' : 'is not'} the same`,
    );
    if (r.action === 'replaced') {
      const a = splitLines(text);
      const b = splitLines(r.text);
      check(a.length === b.length, 'a replacement changed the number of lines');
      for (let k = 0; k < a.length; k++) {
        if (k === r.line - 1) continue;
        check(
          a[k]!.text === b[k]!.text && a[k]!.eol === b[k]!.eol,
          `a replacement changed line ${k + 1} too`,
        );
      }
    }
    if (r.action === 'added') check(r.text.startsWith(text), 'an append changed what was there');
    const diff = unifiedDiff(text, r.text, { before: 'a/sysctl.conf', after: 'b/sysctl.conf' });
    check(
      (diff === '') === !r.changed,
      `diff ${diff === '' ? 'empty' : 'not empty'} but changed=${r.changed}`,
    );
    if (diff !== '') {
      const applied = applyDiff(text, diff);
      check(applied === r.text, `the diff does not turn the old text into the new one:\n${diff}`);
    }
  },
};
