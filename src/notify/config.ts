/**
 * The notification configuration (/etc/rstwatch/notify.conf): INI like rstwatch.conf, routed like Netdata's
 * roles. An alert's `to:` names roles; `[role NAME]` lists the methods of a role; `[method NAME]` says how a
 * method delivers. Netdata keeps the same idea in health_alarm_notify.conf (role_recipients_<method>[role]);
 * here a method is a named destination, so one role can page through Alertmanager and mail a list at once.
 *
 * Pure: `parseNotifyConfig(text, file)` returns the configuration and every problem with its line and
 * column, using the codes of the main configuration (E_CONFIG_*), so the agent refuses a broken file the
 * same way it refuses a broken rstwatch.conf.
 */

import { existsSync, readFileSync } from 'node:fs';
import { errorMessage, type Problem, sysCode } from '../internal/errors.js';
import type { MethodConfig, MethodType, NotifyConfig, RouteTarget } from './types.js';

export const DEFAULT_NOTIFY_FILE = '/etc/rstwatch/notify.conf';

/** Roles that never notify, whatever the file says (alarm-notify.sh skips them the same way). */
export const SILENT_ROLES: ReadonlySet<string> = new Set(['silent', 'disabled']);

/** Used for every role without its own section (Netdata's DEFAULT_RECIPIENT_*). */
export const DEFAULT_ROLE = 'default';

const METHOD_TYPES: readonly MethodType[] = ['exec', 'webhook', 'slack', 'alertmanager', 'email'];

export function emptyNotifyConfig(): NotifyConfig {
  return {
    concurrency: 4,
    retryFirstMs: 5_000,
    retryMaxMs: 10 * 60_000,
    giveUpAfterMs: 24 * 3600_000,
    maxPending: 10_000,
    command: 'rstwatch',
    roles: new Map(),
    methods: new Map(),
  };
}

function normKey(k: string): string {
  return k
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

/** `500ms`, `5s`, `2m`, `1h`, `1d`, or bare seconds → milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's'] ?? 1000;
  return Math.round(n * mult);
}

interface RawKey {
  key: string;
  value: string;
  line: number;
  /** Column of the value (value problems) and of the key (unknown keys). */
  column: number;
  keyColumn: number;
}
interface RawSection {
  kind: 'notify' | 'role' | 'method';
  name: string;
  line: number;
  keys: RawKey[];
}

/** Step 1: sections and `key = value` lines, with positions. */
function tokenize(text: string, file: string, problems: Problem[]): RawSection[] {
  const sections: RawSection[] = [];
  let current: RawSection | undefined;
  let sawHeader = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const rawLine = lines[i]!;
    const line = i + 1;
    const trimmed = rawLine.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const indent = rawLine.length - rawLine.trimStart().length;
    const at = (message: string, code: string, column = indent + 1): void => {
      problems.push({ code, message, severity: 'error', file, line, column });
    };
    if (trimmed.startsWith('[')) {
      current = undefined;
      sawHeader = true;
      if (!trimmed.endsWith(']')) {
        at('section header without "]"', 'E_CONFIG_SYNTAX');
        continue;
      }
      const words = trimmed.slice(1, -1).trim().split(/\s+/);
      const kind = (words[0] ?? '').toLowerCase();
      if (kind === 'notify' && words.length === 1) {
        current = { kind: 'notify', name: '', line, keys: [] };
      } else if ((kind === 'role' || kind === 'method') && words.length === 2) {
        const name = words[1]!;
        if (!/^[A-Za-z0-9_.@-]+$/.test(name)) {
          at(`${kind} name "${name}" may use letters, digits and _ . @ - only`, 'E_CONFIG_SECTION');
          continue;
        }
        current = { kind, name, line, keys: [] };
      } else {
        at(
          `unknown section [${trimmed.slice(1, -1).trim()}] (known: [notify], [role NAME], [method NAME])`,
          'E_CONFIG_SECTION',
        );
        continue;
      }
      sections.push(current);
      continue;
    }
    const eq = rawLine.indexOf('=');
    if (eq < 0) {
      at('expected "key = value"', 'E_CONFIG_SYNTAX');
      continue;
    }
    if (!current) {
      // A line in a section that was refused is reported once, at the header; outside any, here.
      if (!sawHeader) at('setting outside a section', 'E_CONFIG_SECTION');
      continue;
    }
    const rawValue = rawLine.slice(eq + 1);
    current.keys.push({
      key: normKey(rawLine.slice(0, eq)),
      value: rawValue.trim(),
      line,
      column: eq + 2 + (rawValue.length - rawValue.trimStart().length),
      keyColumn: indent + 1,
    });
  }
  return sections;
}

/** `sysadmin`'s `methods = am mail|critical slack|nowarn|noclear`. */
function parseTargets(value: string): { targets: RouteTarget[]; error?: string } {
  const targets: RouteTarget[] = [];
  for (const word of value.split(/[\s,]+/).filter(Boolean)) {
    const [method, ...mods] = word.split('|');
    const t: RouteTarget = { method: method!, onlyCritical: false, noWarning: false, noClear: false };
    for (const m of mods) {
      if (m === 'critical') t.onlyCritical = true;
      else if (m === 'nowarn') t.noWarning = true;
      else if (m === 'noclear') t.noClear = true;
      else return { targets, error: `unknown modifier "|${m}" (known: |critical, |nowarn, |noclear)` };
    }
    targets.push(t);
  }
  return { targets };
}

const COMMON_METHOD_KEYS = ['type', 'timeout'];
const METHOD_KEYS: Record<MethodType, string[]> = {
  exec: ['command', 'retry_exit_codes'],
  webhook: ['url', 'header'],
  slack: ['url', 'channel', 'username'],
  alertmanager: ['url', 'resend_every', 'label', 'header'],
  email: ['smtp_host', 'smtp_port', 'security', 'from', 'to', 'user', 'password_file'],
};
const NOTIFY_KEYS = [
  'hostname',
  'concurrency',
  'retry_first',
  'retry_max',
  'give_up_after',
  'max_pending',
  'command',
];

export function parseNotifyConfig(text: string, file: string): { config: NotifyConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  const config = emptyNotifyConfig();
  config.file = file;
  const bad = (k: RawKey, message: string) =>
    problems.push({
      code: 'E_CONFIG_VALUE',
      message,
      severity: 'error',
      file,
      line: k.line,
      column: k.column,
    });
  const unknownKey = (k: RawKey, known: string[]) =>
    problems.push({
      code: 'E_CONFIG_KEY',
      message: `unknown setting "${k.key}" (known: ${known.join(', ')})`,
      severity: 'error',
      file,
      line: k.line,
      column: k.keyColumn,
    });
  const duration = (k: RawKey, minMs: number, maxMs: number): number | undefined => {
    const ms = parseDurationMs(k.value);
    if (ms === undefined)
      bad(k, `${k.key}: expected a duration like 30s, 5m or 1h, got ${JSON.stringify(k.value)}`);
    else if (ms < minMs || ms > maxMs)
      bad(k, `${k.key}: must be between ${minMs / 1000}s and ${maxMs / 1000}s`);
    else return ms;
    return undefined;
  };
  const integer = (k: RawKey, min: number, max: number): number | undefined => {
    const n = Number(k.value);
    if (k.value === '' || !Number.isInteger(n) || n < min || n > max) {
      bad(k, `${k.key}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(k.value)}`);
      return undefined;
    }
    return n;
  };
  const sections = tokenize(text, file, problems);
  const roleRefs: { role: string; target: RouteTarget; key: RawKey }[] = [];

  for (const sec of sections) {
    if (sec.kind === 'notify') {
      for (const k of sec.keys) {
        switch (k.key) {
          case 'hostname':
            if (k.value === '') bad(k, 'hostname: must not be empty');
            else config.hostname = k.value;
            break;
          case 'concurrency':
            config.concurrency = integer(k, 1, 64) ?? config.concurrency;
            break;
          case 'retry_first':
            config.retryFirstMs = duration(k, 100, 3_600_000) ?? config.retryFirstMs;
            break;
          case 'retry_max':
            config.retryMaxMs = duration(k, 1000, 86_400_000) ?? config.retryMaxMs;
            break;
          case 'give_up_after':
            config.giveUpAfterMs = duration(k, 60_000, 30 * 86_400_000) ?? config.giveUpAfterMs;
            break;
          case 'max_pending':
            config.maxPending = integer(k, 10, 1_000_000) ?? config.maxPending;
            break;
          case 'command':
            if (k.value === '') bad(k, 'command: must not be empty');
            else config.command = k.value;
            break;
          default:
            unknownKey(k, NOTIFY_KEYS);
        }
      }
      continue;
    }
    if (sec.kind === 'role') {
      if (config.roles.has(sec.name)) {
        problems.push({
          code: 'E_CONFIG_SECTION',
          message: `role ${sec.name} is defined twice`,
          severity: 'error',
          file,
          line: sec.line,
          column: 1,
        });
        continue;
      }
      const targets: RouteTarget[] = [];
      for (const k of sec.keys) {
        if (k.key !== 'methods') {
          unknownKey(k, ['methods']);
          continue;
        }
        const parsed = parseTargets(k.value);
        if (parsed.error) bad(k, `methods: ${parsed.error}`);
        for (const t of parsed.targets) {
          targets.push(t);
          roleRefs.push({ role: sec.name, target: t, key: k });
        }
      }
      config.roles.set(sec.name, targets);
      continue;
    }
    const m = parseMethod(sec, file, problems, { bad, unknownKey, duration, integer });
    if (m) {
      if (config.methods.has(m.name)) {
        problems.push({
          code: 'E_CONFIG_SECTION',
          message: `method ${m.name} is defined twice`,
          severity: 'error',
          file,
          line: sec.line,
          column: 1,
        });
      } else config.methods.set(m.name, m);
    }
  }
  for (const ref of roleRefs) {
    if (!config.methods.has(ref.target.method) && !problems.some((p) => p.line === ref.key.line)) {
      bad(
        ref.key,
        `role ${ref.role}: unknown method "${ref.target.method}" (defined: ${[...config.methods.keys()].join(', ') || 'none'})`,
      );
    }
  }
  if (config.retryMaxMs < config.retryFirstMs) config.retryMaxMs = config.retryFirstMs;
  return { config, problems };
}

interface Helpers {
  bad: (k: RawKey, message: string) => void;
  unknownKey: (k: RawKey, known: string[]) => void;
  duration: (k: RawKey, minMs: number, maxMs: number) => number | undefined;
  integer: (k: RawKey, min: number, max: number) => number | undefined;
}

function validUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function parseMethod(
  sec: RawSection,
  file: string,
  problems: Problem[],
  h: Helpers,
): MethodConfig | undefined {
  const typeKey = sec.keys.find((k) => k.key === 'type');
  const type = typeKey?.value as MethodType | undefined;
  if (!typeKey || !type || !METHOD_TYPES.includes(type)) {
    problems.push({
      code: 'E_CONFIG_VALUE',
      message: `method ${sec.name}: type must be one of ${METHOD_TYPES.join(', ')}${typeKey ? `, got ${JSON.stringify(typeKey.value)}` : ' (missing)'}`,
      severity: 'error',
      file,
      line: typeKey?.line ?? sec.line,
      column: typeKey?.column ?? 1,
    });
    return undefined;
  }
  const known = [...COMMON_METHOD_KEYS, ...METHOD_KEYS[type]];
  const v: Record<string, string> = {};
  const headers: Record<string, string> = {};
  const labels: Record<string, string> = {};
  let timeoutMs = type === 'exec' ? 30_000 : 10_000;
  for (const k of sec.keys) {
    if (!known.includes(k.key)) {
      h.unknownKey(k, known);
      continue;
    }
    if (k.key === 'type') continue;
    if (k.key === 'timeout') {
      timeoutMs = h.duration(k, 100, 600_000) ?? timeoutMs;
    } else if (k.key === 'header') {
      // `header = Authorization: Bearer …` (repeatable), as curl -H spells it.
      const colon = k.value.indexOf(':');
      if (colon <= 0 || !/^[A-Za-z0-9-]+$/.test(k.value.slice(0, colon).trim()))
        h.bad(k, `header: expected "Name: value", got ${JSON.stringify(k.value)}`);
      else headers[k.value.slice(0, colon).trim()] = k.value.slice(colon + 1).trim();
    } else if (k.key === 'label') {
      for (const pair of k.value.split(/\s+/).filter(Boolean)) {
        const m = /^([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$/.exec(pair);
        if (!m)
          h.bad(k, `label: expected name=value with a Prometheus label name, got ${JSON.stringify(pair)}`);
        else labels[m[1]!] = m[2]!;
      }
    } else v[k.key] = k.value;
  }
  const need = (key: string): string | undefined => {
    const value = v[key];
    if (value === undefined || value === '') {
      problems.push({
        code: 'E_CONFIG_VALUE',
        message: `method ${sec.name} (${type}): "${key.replace(/_/g, ' ')}" is required`,
        severity: 'error',
        file,
        line: sec.line,
        column: 1,
      });
      return undefined;
    }
    return value;
  };
  const keyOf = (key: string): RawKey =>
    sec.keys.find((k) => k.key === key) ?? { key, value: '', line: sec.line, column: 1, keyColumn: 1 };
  const url = (): string | undefined => {
    const u = need('url');
    if (u !== undefined && !validUrl(u)) {
      h.bad(keyOf('url'), `url: expected an http:// or https:// URL, got ${JSON.stringify(u)}`);
      return undefined;
    }
    return u;
  };
  const base = { name: sec.name, timeoutMs, line: sec.line };
  switch (type) {
    case 'exec': {
      const command = need('command');
      if (command !== undefined && !command.startsWith('/'))
        h.bad(
          keyOf('command'),
          'command: must be an absolute path (it runs without a shell and without PATH)',
        );
      let retryExitCodes = [75];
      if (v.retry_exit_codes !== undefined) {
        const codes = v.retry_exit_codes
          .split(/[\s,]+/)
          .filter(Boolean)
          .map(Number);
        if (codes.some((c) => !Number.isInteger(c) || c < 1 || c > 255))
          h.bad(keyOf('retry_exit_codes'), 'retry exit codes: expected numbers from 1 to 255');
        else retryExitCodes = codes;
      }
      return command === undefined ? undefined : { ...base, type, command, retryExitCodes };
    }
    case 'webhook': {
      const u = url();
      return u === undefined ? undefined : { ...base, type, url: u, headers };
    }
    case 'slack': {
      const u = url();
      if (u === undefined) return undefined;
      return {
        ...base,
        type,
        url: u,
        ...(v.channel ? { channel: v.channel } : {}),
        ...(v.username ? { username: v.username } : {}),
      };
    }
    case 'alertmanager': {
      const u = url();
      let resendSeconds = 60;
      if (v.resend_every !== undefined) {
        const ms = h.duration(keyOf('resend_every'), 1000, 3_600_000);
        if (ms !== undefined) resendSeconds = ms / 1000;
      }
      return u === undefined
        ? undefined
        : { ...base, type, url: u.replace(/\/+$/, ''), resendSeconds, labels, headers };
    }
    case 'email': {
      const host = need('smtp_host');
      const from = need('from');
      const toText = need('to');
      let port = 25;
      if (v.smtp_port !== undefined) port = h.integer(keyOf('smtp_port'), 1, 65535) ?? port;
      const security = (v.security ?? 'auto') as 'tls' | 'starttls' | 'none' | 'auto';
      if (!['tls', 'starttls', 'none', 'auto'].includes(security))
        h.bad(keyOf('security'), 'security: expected tls, starttls, none or auto');
      const to = (toText ?? '').split(/[\s,]+/).filter(Boolean);
      for (const addr of [from ?? '', ...to])
        if (addr !== '' && !/^[^\s@<>]+@[^\s@<>]+$/.test(addr))
          h.bad(keyOf(addr === from ? 'from' : 'to'), `not an e-mail address: ${JSON.stringify(addr)}`);
      if (v.user !== undefined && v.password_file === undefined)
        h.bad(keyOf('user'), 'user: needs "password file" (a file readable only by the agent)');
      if (host === undefined || from === undefined || toText === undefined) return undefined;
      return {
        ...base,
        type,
        host,
        port,
        security,
        from,
        to,
        ...(v.user !== undefined ? { user: v.user } : {}),
        ...(v.password_file !== undefined ? { passwordFile: v.password_file } : {}),
      };
    }
  }
}

/**
 * Read the configuration: a missing default file means "no methods" (notifications are only logged); a
 * file named explicitly must exist.
 */
export function loadNotifyConfig(
  path: string,
  explicit: boolean,
): { config: NotifyConfig; problems: Problem[] } {
  if (!explicit && !existsSync(path)) return { config: emptyNotifyConfig(), problems: [] };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return {
      config: emptyNotifyConfig(),
      problems: [
        {
          code: 'E_CONFIG_UNREADABLE',
          message: `cannot read: ${sysCode(err) ?? errorMessage(err)}`,
          severity: 'error',
          file: path,
        },
      ],
    };
  }
  return parseNotifyConfig(text, path);
}

/**
 * The methods an alert's `to:` reaches, for a status change: every role named (spaces separate roles),
 * `silent` and `disabled` skipped, a role without a section falling back to `[role default]`, each method
 * once, after Netdata's per-recipient severity modifiers.
 */
export function route(config: NotifyConfig, recipient: string, status: string, oldStatus: string): string[] {
  const out: string[] = [];
  for (const role of recipient.split(/\s+/).filter(Boolean)) {
    if (SILENT_ROLES.has(role)) continue;
    const targets = config.roles.get(role) ?? config.roles.get(DEFAULT_ROLE) ?? [];
    for (const t of targets) {
      if (out.includes(t.method) || !config.methods.has(t.method)) continue;
      // alarm-notify.sh: `|critical` keeps CRITICAL and the CLEAR that ends one; `|nowarn` drops WARNING;
      // `|noclear` drops CLEAR.
      if (t.onlyCritical && !(status === 'CRITICAL' || (status === 'CLEAR' && oldStatus === 'CRITICAL')))
        continue;
      if (t.noWarning && status === 'WARNING') continue;
      if (t.noClear && status === 'CLEAR') continue;
      out.push(t.method);
    }
  }
  return out;
}
