/**
 * FreeBSD collector: `netstat -s -p tcp --libxo json` for the counters of struct tcpstat, and `sysctl -i`
 * for the settings that change how resets are sent and accepted. Host only (VNET jails are not read).
 *
 * Key names and nesting are those of tcp_stats() in usr.bin/netstat/inet.c (FreeBSD): everything sits in
 * `"statistics"` (main.c) → `"tcp"`, with sub-containers `syncache`, `hostcache`, `sack`, `ecn`,
 * `tcp-signature`, `pmtud`, `tw` and `TCP connection count by state`. Keys differ between releases, so
 * every numeric key is kept under its own name and only FREEBSD_EXPECTED_KEYS are worth a warning.
 */

import { errorMessage, type Problem } from '../internal/errors.js';
import type { Collector, CollectResult, CommandResult, CommandRunner } from './types.js';

export const NETSTAT_ARGS: readonly string[] = ['-s', '-p', 'tcp', '--libxo', 'json'];

/** The four struct tcpstat fields Netdata charts on FreeBSD (freebsd_sysctl.c), under Netdata's names. */
const RENAMES: ReadonlyMap<string, string> = new Map([
  ['connection-drops', 'EstabResets'], // tcps_drops: includes accepting a valid RST
  ['embryonic-connections-dropped', 'AttemptFails'], // tcps_conndrops
  ['connection-requests', 'ActiveOpens'], // tcps_connattempt
  ['connections-accepts', 'PassiveOpens'], // tcps_accepts (inet.c spells it with an "s")
]);

/** Counters printed by every libxo-era inet.c we read; without them the reset charts have holes. */
export const FREEBSD_EXPECTED_KEYS: readonly string[] = [
  'EstabResets',
  'AttemptFails',
  'ActiveOpens',
  'PassiveOpens',
  'ignored-in-window-resets',
  'listen-queue-overflows',
  'bad-connection-attempts',
  'sent-control-packets',
  'received-after-close-packets',
  'connections-dropped-by-retransmit-timeout',
  'connections-dropped-by-keepalives',
  'syncache.reset',
  'syncache.bucket-overflow',
  'syncache.cache-overflow',
  'syncache.sent-cookies',
  'syncache.receivd-cookies', // sic: inet.c's key is misspelt
];

/**
 * Settings read with `sysctl -i` (sysctl(8): -i ignores unknown OIDs, so one name a kernel lacks does not
 * make the command fail). Descriptions are the kernel's own (tcp_syncache.c, tcp_input.c, uipc_socket.c).
 */
export const FREEBSD_SYSCTLS: readonly string[] = [
  'net.inet.tcp.syncookies', // "Use TCP SYN cookies if the syncache overflows"
  'net.inet.tcp.syncookies_only', // "Use only TCP SYN cookies"
  'net.inet.tcp.blackhole', // "Do not send RST on segments to closed ports"
  'net.inet.tcp.insecure_rst', // "Follow RFC793 instead of RFC5961 criteria for accepting RST packets"
  'net.inet.tcp.drop_synfin', // "Drop TCP packets with SYN+FIN set"
  'kern.ipc.soacceptqueue', // "Maximum listen socket pending connection accept queue size" (somaxconn)
];

const MAX_DEPTH = 32;
type Scalar = number | string | boolean | null;
const OBJECT = Symbol('object');
const ARRAY = Symbol('array');
type Value = Scalar | typeof OBJECT | typeof ARRAY;

class JsonStop {
  constructor(
    readonly offset: number,
    readonly what: string,
  ) {}
}

const STR = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUM = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LIT = /true|false|null/y;

/**
 * A small JSON reader that reports each object member (containing path, key, value, offset of the key) as
 * soon as the member is complete. Unlike JSON.parse it keeps what came before a syntax error (truncated
 * output) and gives the error's offset the same way on every Node version. A value is reported only once
 * the `,` or `}` after it has been seen, so a number cut by truncation is never taken for a whole one.
 */
function walkJson(
  s: string,
  emit: (path: readonly string[], key: string, v: Value, at: number) => void,
): void {
  let i = 0;
  const stop = (what: string): never => {
    throw new JsonStop(i, i >= s.length ? 'the output ends in the middle of the JSON' : what);
  };
  const ws = (): void => {
    while (i < s.length && ' \t\n\r'.includes(s[i] ?? '')) i++;
  };
  const lex = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(s);
    if (m) i = re.lastIndex;
    return m?.[0];
  };
  const str = (): string => JSON.parse(lex(STR) ?? stop('expected a string')) as string;
  const composite = (path: readonly string[], depth: number, close: '}' | ']'): void => {
    i++;
    ws();
    if (s[i] === close) {
      i++;
      return;
    }
    for (;;) {
      ws();
      const at = i;
      const key = close === '}' ? str() : '';
      ws();
      if (close === '}' && s[i++] !== ':') stop('expected ":" after a key');
      const v = value(close === '}' ? [...path, key] : path, depth + 1);
      ws();
      const next = s[i];
      if (next !== ',' && next !== close) stop(`expected "," or "${close}"`);
      i++;
      if (close === '}') emit(path, key, v, at);
      if (next === close) return;
    }
  };
  const value = (path: readonly string[], depth: number): Value => {
    ws();
    if (depth > MAX_DEPTH) stop(`nesting deeper than ${MAX_DEPTH} levels`);
    const c = s[i];
    if (c === '{' || c === '[') {
      composite(path, depth, c === '{' ? '}' : ']');
      return c === '{' ? OBJECT : ARRAY;
    }
    if (c === '"') return str();
    const n = lex(NUM);
    if (n !== undefined) return Number(n);
    const l = lex(LIT);
    if (l !== undefined) return l === 'null' ? null : l === 'true';
    return stop(`unexpected ${JSON.stringify(c)}`);
  };
  value([], 0);
  ws();
  if (i < s.length) stop('text after the JSON');
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, column: offset - nl };
}

/** Counters are uint64. libxo prints them as bare numbers; a quoted decimal is taken too, nothing else. */
function toCounter(v: Value): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return Number(v);
  return undefined;
}

function describeValue(v: Value): string {
  if (v === OBJECT) return 'an object';
  if (v === ARRAY) return 'an array';
  return JSON.stringify(v);
}

/** Pure: counters from the text of `netstat -s -p tcp --libxo json`. Never throws. */
export function parseNetstatTcp(
  text: string,
  file = 'netstat -s -p tcp --libxo json',
): { counters: Record<string, number>; problems: Problem[] } {
  const counters: Record<string, number> = {};
  const problems: Problem[] = [];
  const seen = new Set<string>();
  let tcp = 'absent' as 'absent' | 'object' | 'other';
  let complete = true;
  const err = (code: string, message: string, at?: number): void => {
    const where = at === undefined ? {} : position(text, at);
    problems.push({ code, message, severity: 'error', file, ...where });
  };
  try {
    walkJson(text, (path, key, v, at) => {
      if (path.length === 1 && path[0] === 'statistics' && key === 'tcp')
        tcp = v === OBJECT ? 'object' : 'other';
      if (path[0] !== 'statistics' || path[1] !== 'tcp') return;
      tcp = 'object';
      if (v === OBJECT) return; // a sub-container: its members were reported already
      const inner = path.slice(2);
      const name = inner.length === 0 ? (RENAMES.get(key) ?? key) : `${inner.join('.')}.${key}`;
      seen.add(name);
      const n = toCounter(v);
      if (n === undefined)
        err('E_NETSTAT_FIELD', `${[...inner, key].join('.')} is ${describeValue(v)}, not a counter`, at);
      else if (name !== '__proto__') counters[name] = n;
    });
  } catch (e) {
    // Only JsonStop is expected; anything else is our bug, still reported rather than thrown at the agent.
    complete = false;
    const head = text.trimStart().split('\n')[0]?.slice(0, 80) ?? '';
    const what =
      text.trim() === '' ? 'netstat printed nothing' : e instanceof JsonStop ? e.what : errorMessage(e);
    const shown = head === '' || head.startsWith('{') ? '' : ` (output starts ${JSON.stringify(head)})`;
    err('E_NETSTAT_JUNK', `not libxo JSON: ${what}${shown}`, e instanceof JsonStop ? e.offset : undefined);
  }
  if (complete && tcp !== 'object') {
    err(
      'E_NETSTAT_NO_TCP',
      `${tcp === 'other' ? '"statistics"."tcp" is not an' : 'no "statistics"."tcp"'} object`,
    );
  }
  if (complete && tcp === 'object') {
    for (const k of FREEBSD_EXPECTED_KEYS) {
      if (seen.has(k)) continue;
      const libxo = [...RENAMES].find(([, to]) => to === k)?.[0];
      const message = `netstat printed no ${libxo === undefined ? `"${k}"` : `"${libxo}" (${k})`}`;
      problems.push({ code: 'W_NETSTAT_MISSING', message, severity: 'warning', file });
    }
  }
  return { counters, problems };
}

/** Pure: settings from `sysctl NAME…` output (`name: value` lines). Never throws. */
export function parseSysctl(
  text: string,
  file = 'sysctl',
): { settings: Record<string, number | string>; problems: Problem[] } {
  const settings: Record<string, number | string> = {};
  const problems: Problem[] = [];
  const lines = text.split('\n');
  for (const [idx, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const at = { severity: 'warning' as const, file, line: idx + 1, column: 1 };
    // Without -i, sysctl(8) warns "sysctl: unknown oid 'NAME'" (stderr) and goes on with the other names.
    const unknown = /^sysctl: unknown oid '([^']*)'/.exec(line);
    const colon = line.indexOf(': ');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (unknown) {
      problems.push({ code: 'W_SYSCTL_UNKNOWN', message: `this kernel has no ${unknown[1]}`, ...at });
    } else if (!/^[\w.%-]+$/.test(name)) {
      const message = `not a "name: value" line: ${JSON.stringify(line.slice(0, 80))}`;
      problems.push({ code: 'W_SYSCTL_JUNK', message, ...at });
    } else if (name !== '__proto__') {
      const value = line.slice(colon + 2).trim();
      settings[name] = /^-?\d{1,15}$/.test(value) ? Number(value) : value;
    }
  }
  return { settings, problems };
}

export interface FreeBsdCollectorOptions {
  runner: CommandRunner;
  netstatPath?: string;
  sysctlPath?: string;
  timeoutMs?: number;
}

function firstLines(text: string): string {
  const t = text.trim().split('\n').slice(0, 3).join(' / ');
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
}

export class FreeBsdCollector implements Collector {
  readonly netns = 'host';
  readonly source = 'freebsd-netstat' as const;
  private readonly runner: CommandRunner;
  private readonly netstatPath: string;
  private readonly sysctlPath: string;
  private readonly timeoutMs: number;

  constructor(opts: FreeBsdCollectorOptions) {
    this.runner = opts.runner;
    // Absolute paths of the base system, so a service's PATH does not matter.
    this.netstatPath = opts.netstatPath ?? '/usr/bin/netstat';
    this.sysctlPath = opts.sysctlPath ?? '/sbin/sysctl';
    this.timeoutMs = opts.timeoutMs ?? 5_000;
  }

  describe(): string {
    return `${this.netstatPath} ${NETSTAT_ARGS.join(' ')} and ${this.sysctlPath} -i (${FREEBSD_SYSCTLS.length} settings)`;
  }

  /** A runner that rejects (it should not) is treated like one that could not start the program. */
  private async run(cmd: string, args: readonly string[]): Promise<CommandResult> {
    try {
      return await this.runner(cmd, [...args], { timeoutMs: this.timeoutMs });
    } catch (e) {
      return { code: null, stdout: '', stderr: '', error: errorMessage(e) };
    }
  }

  async collect(): Promise<CollectResult> {
    const [ns, sc] = await Promise.all([
      this.run(this.netstatPath, NETSTAT_ARGS),
      this.run(this.sysctlPath, ['-i', ...FREEBSD_SYSCTLS]),
    ]);
    const problems: Problem[] = [];
    const result: CollectResult = {
      source: this.source,
      netns: this.netns,
      counters: this.readNetstat(ns, problems),
      problems,
    };
    const settings = this.readSysctl(sc, problems);
    if (settings !== undefined) result.settings = settings;
    return result;
  }

  private readNetstat(r: CommandResult, problems: Problem[]): Record<string, number> {
    const cmd = `${this.netstatPath} ${NETSTAT_ARGS.join(' ')}`;
    const say = (code: string, message: string, severity: Problem['severity'] = 'error'): void => {
      problems.push({ code, message, severity, file: cmd });
    };
    if (r.error !== undefined) {
      say(
        /timed out/i.test(r.error) ? 'E_NETSTAT_TIMEOUT' : 'E_NETSTAT_MISSING',
        `could not run ${cmd}: ${r.error}`,
      );
      return {};
    }
    const stderr = firstLines(r.stderr);
    if (r.code !== 0) {
      const why = r.code === null ? 'was killed by a signal' : `exited with code ${r.code}`;
      say('E_NETSTAT_FAILED', `${cmd} ${why}${stderr ? `: ${stderr}` : ''}`);
      // Its usage text is not worth a second (junk) error; JSON it still printed is kept.
      if (!r.stdout.trimStart().startsWith('{')) return {};
    } else if (stderr) {
      // netstat warns on stderr (xo_warn in fetch_stats) when a sysctl fails, and still exits 0.
      say('W_NETSTAT_STDERR', `${cmd} said: ${stderr}`, 'warning');
    }
    const parsed = parseNetstatTcp(r.stdout, cmd);
    problems.push(...parsed.problems);
    return parsed.counters;
  }

  /** Settings are context for the explanations, not counters: every sysctl problem is a warning. */
  private readSysctl(r: CommandResult, problems: Problem[]): Record<string, number | string> | undefined {
    const file = `${this.sysctlPath} -i`;
    const warn = (code: string, message: string): void => {
      problems.push({ code, message, severity: 'warning', file });
    };
    if (r.error !== undefined || r.code !== 0) {
      warn(
        'W_SYSCTL_FAILED',
        `${file}: ${r.error ?? `exited with code ${r.code ?? 'null'}: ${firstLines(r.stderr)}`}`,
      );
    }
    if (r.error !== undefined) return undefined;
    const parsed = parseSysctl(r.stdout, file);
    problems.push(...parsed.problems);
    for (const name of FREEBSD_SYSCTLS) {
      if (!(name in parsed.settings)) warn('W_SYSCTL_MISSING', `no value for ${name}`);
    }
    return parsed.settings;
  }

  async close(): Promise<void> {}
}
