/**
 * rstwatch doctor, the pure part: findings from the settings (sysctls) and the counter deltas over an
 * interval. No I/O, no clock: doctor-inputs.ts gathers, src/cli/doctor.ts prints.
 *
 * Every check yields exactly one finding, `ok` when it passed, so the output is a checklist. A check whose
 * inputs are missing (a counter the kernel lacks, a sysctl that could not be read, no interval) is never
 * a crash: it yields an `info` finding titled "… not checked" whose evidence says what was missing.
 * Meanings follow the kernel's increment sites (shared/design/tcp-resets-field-guide.md §6.1, §6.2, §6.4);
 * thresholds are in THRESHOLDS and docs/doctor.md.
 */

import type { Os } from '../model/charts.js';

export type FindingSeverity = 'ok' | 'info' | 'warning' | 'critical';

/** Least to most severe. */
export const SEVERITIES: readonly FindingSeverity[] = ['ok', 'info', 'warning', 'critical'];

/** The `rstwatch explain` topics findings point to (src/model/explain.ts TOPICS ids). */
export type TopicId =
  | 'reset'
  | 'refused'
  | 'abort'
  | 'half-open'
  | 'time-wait-assassination'
  | 'queue-full'
  | 'syn-queue'
  | 'buffer-overflow'
  | 'syn-flood'
  | 'rst-injection'
  | 'scan'
  | 'timeout'
  | 'syncookies'
  | 'challenge-ack';

export interface Finding {
  /** The check's stable id (the same whatever the severity): `syncookies`, `listen-queue`, … */
  id: string;
  severity: FindingSeverity;
  title: string;
  /** The numbers behind it: settings, counter movements with their rates over the interval. */
  evidence: string[];
  /** The exact command that fixes it, when one command does. */
  fix?: string;
  /** What else to do or look at, in a sentence or two (commands quoted). */
  advice?: string;
  /** `rstwatch explain <topic>` tells more. */
  topic: TopicId;
  /** Set (always with severity info) when the check could not run: its inputs were missing. */
  unknown?: true;
}

/** A listening socket and its accept queue, as `ss -ltn` (or /proc/net/tcp) shows it. */
export interface Listener {
  /** Local address:port as printed by ss (`127.0.0.1:8080`, `[::]:443`). */
  local: string;
  /** Connections completed and waiting for accept() (ss Recv-Q). */
  queued: number;
  /** The listen() backlog (ss Send-Q); unknown when read from /proc/net/tcp. */
  backlog?: number;
}

export interface DoctorInput {
  os: Os;
  /** Sysctl values by dotted name (`net.ipv4.tcp_syncookies`); undefined = could not be read. */
  settings: Record<string, number | string | undefined>;
  /** Counters at the start and at the end of the interval, by kernel name. */
  before: Record<string, number>;
  after: Record<string, number>;
  intervalSeconds: number;
  /** Listening sockets at the end of the interval, when they could be listed. */
  listeners?: readonly Listener[];
}

/** Where severities change. Rates are per second, averaged over the interval. */
export const THRESHOLDS = {
  /** ListenOverflows / ListenDrops / listen-queue-overflows: any movement is a warning; this rate is critical. */
  listenCriticalPerSecond: 10,
  /** TCPReqQFullDrop (SYNs dropped, no cookie): any movement is a warning; this rate is critical. */
  synDropCriticalPerSecond: 10,
  /** FreeBSD syncache overflows with syncookies=0 (each one a dropped SYN): this rate is critical. */
  syncacheCriticalPerSecond: 10,
  /** SYN cookies sent: any movement is a warning (a SYN flood or a burst); above this rate, critical. */
  cookiesCriticalPerSecond: 100,
  /** Challenge ACKs / ignored in-window RSTs: below this rate info, from it on a warning. */
  challengeWarningPerSecond: 1,
  /** Connections given up on timeouts: below this rate info, from it on a warning. */
  timeoutWarningPerSecond: 1,
  /** TCPAbortOnMemory: any movement is a warning; this rate is critical. */
  memoryCriticalPerSecond: 10,
  /** somaxconn / soacceptqueue / tcp_max_syn_backlog below this are worth raising when queues overflow. */
  queueLimitSuggested: 4096,
} as const;

export const EXIT_CODES: Readonly<Record<FindingSeverity, number>> = {
  ok: 0,
  info: 0,
  warning: 1,
  critical: 4,
};

const RANK: Readonly<Record<FindingSeverity, number>> = { ok: 0, info: 1, warning: 2, critical: 3 };

export function severityRank(s: FindingSeverity): number {
  return RANK[s];
}

/** The most severe of the findings; `ok` for none. */
export function worstSeverity(findings: readonly Finding[]): FindingSeverity {
  let worst: FindingSeverity = 'ok';
  for (const f of findings) if (RANK[f.severity] > RANK[worst]) worst = f.severity;
  return worst;
}

export function exitCodeFor(severity: FindingSeverity): number {
  return EXIT_CODES[severity];
}

// ---------------------------------------------------------------------------------------------------------
// Reading the input defensively: anything may be missing, negative, NaN, or of the wrong type.

type Dict = Record<string, unknown>;

function asDict(v: unknown): Dict {
  return typeof v === 'object' && v !== null ? (v as Dict) : {};
}

function own(d: Dict, key: string): unknown {
  return Object.hasOwn(d, key) ? d[key] : undefined;
}

/** A setting as a number; `undefined` with the reason when unknown or not a number. */
type SettingValue = { value: number; shown: string } | { value: undefined; shown: string };

function setting(settings: Dict, name: string): SettingValue {
  const raw = own(settings, name);
  if (typeof raw === 'number' && Number.isFinite(raw)) return { value: raw, shown: `${name} = ${raw}` };
  if (typeof raw === 'string' && /^\s*-?\d{1,15}\s*$/.test(raw)) {
    const n = Number(raw.trim());
    return { value: n, shown: `${name} = ${n}` };
  }
  if (raw === undefined || raw === null)
    return { value: undefined, shown: `${name}: unknown (not readable)` };
  return { value: undefined, shown: `${name}: unexpected value ${JSON.stringify(String(raw)).slice(0, 60)}` };
}

interface Moved {
  name: string;
  delta: number;
  rate: number;
  now: number;
}

type Movement = { ok: true; m: Moved } | { ok: false; name: string; why: string };

function fmtNum(n: number): string {
  return Number.isSafeInteger(n) ? String(n) : n.toPrecision(6);
}

export function fmtRate(r: number): string {
  if (!Number.isFinite(r)) return String(r);
  const digits = r >= 100 ? 0 : r >= 10 ? 1 : 2;
  return `${r.toFixed(digits)}/s`;
}

function fmtSeconds(s: number): string {
  return `${s >= 10 ? s.toFixed(0) : s.toFixed(1)} s`;
}

class Ctx {
  readonly settings: Dict;
  readonly before: Dict;
  readonly after: Dict;
  readonly interval: number | undefined;
  readonly listeners: Listener[];
  /** False when the listening sockets could not be listed at all. */
  readonly listenersKnown: boolean;

  constructor(input: DoctorInput) {
    const i = asDict(input);
    this.settings = asDict(own(i, 'settings'));
    this.before = asDict(own(i, 'before'));
    this.after = asDict(own(i, 'after'));
    const iv = own(i, 'intervalSeconds');
    this.interval = typeof iv === 'number' && Number.isFinite(iv) && iv > 0 ? iv : undefined;
    const ls = own(i, 'listeners');
    this.listenersKnown = Array.isArray(ls);
    this.listeners = Array.isArray(ls) ? ls.filter(isListener) : [];
  }

  setting(name: string): SettingValue {
    return setting(this.settings, name);
  }

  move(name: string): Movement {
    if (this.interval === undefined)
      return { ok: false, name, why: `${name}: not sampled (no interval: --interval 0)` };
    const b = own(this.before, name);
    const a = own(this.after, name);
    if (!isCount(b) || !isCount(a)) {
      const missing =
        !isCount(b) && !isCount(a) ? 'not reported by this kernel (or unreadable)' : 'read once only';
      return { ok: false, name, why: `${name}: ${missing}` };
    }
    if (a < b)
      return {
        ok: false,
        name,
        why: `${name}: went backwards (${fmtNum(b)} → ${fmtNum(a)}), counters reset`,
      };
    const delta = a - b;
    return { ok: true, m: { name, delta, rate: delta / this.interval, now: a } };
  }

  /** `ListenOverflows +18 in 4.0 s (4.50/s), now 1234` */
  describe(m: Moved): string {
    return `${m.name} +${fmtNum(m.delta)} in ${fmtSeconds(this.interval ?? 0)} (${fmtRate(m.rate)}), now ${fmtNum(m.now)}`;
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

function isListener(v: unknown): v is Listener {
  const d = asDict(v);
  const backlog = own(d, 'backlog');
  return (
    typeof own(d, 'local') === 'string' &&
    isCount(own(d, 'queued')) &&
    (backlog === undefined || isCount(backlog))
  );
}

/** Movements of several counters that tell the same story: known ones, and notes for the unknown. */
function moves(ctx: Ctx, names: readonly string[]): { known: Moved[]; notes: string[] } {
  const known: Moved[] = [];
  const notes: string[] = [];
  for (const n of names) {
    const r = ctx.move(n);
    if (r.ok) known.push(r.m);
    else notes.push(r.why);
  }
  return { known, notes };
}

function maxRate(ms: readonly Moved[]): number {
  return ms.reduce((x, m) => Math.max(x, m.rate), 0);
}

function moving(ms: readonly Moved[]): boolean {
  return ms.some((m) => m.delta > 0);
}

function notChecked(id: string, topic: TopicId, what: string, evidence: string[]): Finding {
  const title = `${what.charAt(0).toUpperCase()}${what.slice(1)}: not checked`;
  return { id, severity: 'info', title, evidence, topic, unknown: true };
}

function finding(
  id: string,
  topic: TopicId,
  severity: FindingSeverity,
  title: string,
  evidence: string[],
  extra: { fix?: string | undefined; advice?: string | undefined } = {},
): Finding {
  // Key order is the JSON's: id, severity, title, evidence, fix, advice, topic.
  return {
    id,
    severity,
    title,
    evidence,
    ...(extra.fix === undefined ? {} : { fix: extra.fix }),
    ...(extra.advice === undefined ? {} : { advice: extra.advice }),
    topic,
  };
}

const CAPTURE_RST = "tcpdump -ni any 'tcp[tcpflags] & tcp-rst != 0'";

// ---------------------------------------------------------------------------------------------------------
// Linux checks

const L = {
  syncookies: 'net.ipv4.tcp_syncookies',
  abortOnOverflow: 'net.ipv4.tcp_abort_on_overflow',
  rfc1337: 'net.ipv4.tcp_rfc1337',
  maxSynBacklog: 'net.ipv4.tcp_max_syn_backlog',
  somaxconn: 'net.core.somaxconn',
  challengeLimit: 'net.ipv4.tcp_challenge_ack_limit',
} as const;

/** The sysctls the Linux checks read (doctor-inputs.ts reads exactly these). */
export const LINUX_DOCTOR_SETTINGS: readonly string[] = Object.values(L);

function linuxSyncookies(ctx: Ctx): Finding {
  const id = 'syncookies';
  const s = ctx.setting(L.syncookies);
  if (s.value === undefined) return notChecked(id, 'syncookies', 'SYN cookies', [s.shown]);
  const ev = [s.shown];
  if (s.value === 0) {
    const drops = ctx.move('TCPReqQFullDrop');
    if (drops.ok) ev.push(ctx.describe(drops.m));
    return finding(
      id,
      'syncookies',
      'warning',
      'SYN cookies are off: when the SYN queue fills, new connections are dropped',
      ev,
      {
        fix: 'rstwatch syncookies enable --persist',
        advice: `For this boot only: sysctl -w ${L.syncookies}=1 (1 = cookies only when the SYN queue overflows).`,
      },
    );
  }
  if (s.value === 1)
    return finding(id, 'syncookies', 'ok', 'SYN cookies on (used only when the SYN queue overflows)', ev);
  if (s.value === 2) {
    return finding(
      id,
      'syncookies',
      'info',
      'SYN cookies for every SYN (tcp_syncookies=2): TCP options are reduced on every connection',
      ev,
      {
        fix: `sysctl -w ${L.syncookies}=1`,
        advice:
          '2 is meant for testing or a sustained flood; 1 uses cookies only when the SYN queue overflows.',
      },
    );
  }
  return finding(id, 'syncookies', 'info', `SYN cookies: unexpected value ${s.value}`, ev, {
    fix: 'rstwatch syncookies enable --persist',
  });
}

function listenersEvidence(ctx: Ctx, max = 5): { lines: string[]; full: Listener[] } {
  const isFull = (l: Listener) => l.queued > 0 && l.backlog !== undefined && l.queued >= l.backlog;
  const full = ctx.listeners.filter(isFull);
  const waiting = ctx.listeners
    .filter((l) => l.queued > 0)
    .sort((a, b) => Number(isFull(b)) - Number(isFull(a)) || b.queued - a.queued);
  const lines = waiting.slice(0, max).map((l) => {
    const backlog = l.backlog === undefined ? 'backlog unknown' : `backlog ${l.backlog}`;
    return `listener ${l.local}: ${l.queued} waiting to be accepted, ${backlog}${isFull(l) ? ' (full)' : ''}`;
  });
  if (waiting.length > max)
    lines.push(`… and ${waiting.length - max} more listeners with a non-empty accept queue`);
  return { lines, full };
}

function queueLimitFix(
  name: string,
  s: SettingValue,
  command: (name: string, v: number) => string,
): string | undefined {
  if (s.value === undefined || s.value >= THRESHOLDS.queueLimitSuggested) return undefined;
  return command(name, THRESHOLDS.queueLimitSuggested);
}

const linuxSet = (name: string, v: number) => `sysctl -w ${name}=${v}`;
const bsdSet = (name: string, v: number) => `sysctl ${name}=${v}`;

function linuxListenQueue(ctx: Ctx): Finding {
  const id = 'listen-queue';
  const { known, notes } = moves(ctx, ['ListenOverflows', 'ListenDrops']);
  const somax = ctx.setting(L.somaxconn);
  const synBacklog = ctx.setting(L.maxSynBacklog);
  const { lines, full } = listenersEvidence(ctx);
  if (known.length === 0) return notChecked(id, 'queue-full', 'Listen queue overflows', notes);
  const ev = [
    ...known.map((m) => ctx.describe(m)),
    ...notes,
    `${somax.shown} (caps every listen() backlog)`,
    synBacklog.shown,
  ];
  if (!moving(known)) {
    if (full.length > 0) {
      return finding(
        id,
        'queue-full',
        'info',
        'An accept queue is full right now (no overflow counted in the interval)',
        [...ev, ...lines],
        {
          advice:
            'Watch it: the next connection to a full listener is dropped. `ss -ltn`: Recv-Q ≥ Send-Q marks it.',
        },
      );
    }
    return finding(id, 'queue-full', 'ok', 'No listen queue overflow in the interval', ev);
  }
  const overflows = known.find((m) => m.name === 'ListenOverflows');
  const severity = maxRate(known) >= THRESHOLDS.listenCriticalPerSecond ? 'critical' : 'warning';
  const title =
    overflows !== undefined && overflows.delta > 0
      ? 'Listen queue overflowing: completed handshakes dropped (an application accepts too slowly)'
      : 'Listener drops: connection requests dropped at a listening socket';
  const abort = ctx.setting(L.abortOnOverflow);
  if (abort.value === 1) ev.push(`${abort.shown}: each overflow is answered with a RST`);
  if (lines.length > 0) ev.push(...lines);
  else if (ctx.listenersKnown) ev.push('no listener has connections waiting at the end of the interval');
  else ev.push('the listening sockets could not be listed: `ss -ltn` shows them');
  return finding(id, 'queue-full', severity, title, ev, {
    fix: queueLimitFix(L.somaxconn, somax, linuxSet),
    advice:
      '`ss -ltn` shows the full listener (Recv-Q ≥ Send-Q): make that application accept faster or call ' +
      `listen() with a larger backlog (the kernel caps it at ${L.somaxconn}).`,
  });
}

function linuxAbortOnOverflow(ctx: Ctx): Finding {
  const id = 'abort-on-overflow';
  const s = ctx.setting(L.abortOnOverflow);
  if (s.value === undefined) return notChecked(id, 'queue-full', 'tcp_abort_on_overflow', [s.shown]);
  if (s.value === 0)
    return finding(id, 'queue-full', 'ok', 'Accept-queue overflows are not turned into resets', [s.shown]);
  const ov = ctx.move('ListenOverflows');
  const ev = [s.shown];
  if (ov.ok) ev.push(ctx.describe(ov.m));
  else ev.push(ov.why);
  const hot = ov.ok && ov.m.delta > 0;
  return finding(
    id,
    'queue-full',
    hot ? 'warning' : 'info',
    hot
      ? 'Accept-queue overflows are being answered with RST (tcp_abort_on_overflow=1)'
      : 'Accept-queue overflows would be answered with RST (tcp_abort_on_overflow=1)',
    ev,
    {
      fix: `sysctl -w ${L.abortOnOverflow}=0`,
      advice:
        'With 0 the kernel drops the final ACK and the client retries: a short burst then costs latency, not a reset.',
    },
  );
}

function linuxRfc1337(ctx: Ctx): Finding {
  const id = 'rfc1337';
  const topic = 'time-wait-assassination';
  const s = ctx.setting(L.rfc1337);
  if (s.value === undefined) return notChecked(id, topic, 'TIME-WAIT assassination (tcp_rfc1337)', [s.shown]);
  if (s.value !== 0)
    return finding(id, topic, 'ok', 'RSTs cannot kill TIME_WAIT sockets (tcp_rfc1337=1)', [s.shown]);
  return finding(
    id,
    topic,
    'info',
    'A RST can kill a TIME_WAIT socket early (TIME-WAIT assassination, RFC 1337)',
    [s.shown, 'no kernel counter counts these'],
    {
      fix: `sysctl -w ${L.rfc1337}=1`,
      advice: '0 is the kernel default; with 1 a RST received in TIME_WAIT is ignored.',
    },
  );
}

function challengeCheck(ctx: Ctx, counter: string, extra: string[], settingsEv: string[]): Finding {
  const id = 'challenge-ack';
  const main = ctx.move(counter);
  if (!main.ok) return notChecked(id, 'challenge-ack', 'Challenge ACKs (RFC 5961)', [main.why]);
  const others = moves(ctx, extra);
  const ev = [ctx.describe(main.m), ...others.known.map((m) => ctx.describe(m)), ...settingsEv];
  if (main.m.delta === 0)
    return finding(id, 'challenge-ack', 'ok', 'No suspicious in-window RST or SYN in the interval', ev);
  const severity = main.m.rate >= THRESHOLDS.challengeWarningPerSecond ? 'warning' : 'info';
  return finding(
    id,
    'challenge-ack',
    severity,
    'Challenge ACKs sent: in-window RSTs or SYNs with the wrong sequence (possibly blind RST injection)',
    ev,
    {
      advice: `Stale peers behind NAT cause a few; many, or bursts, point at spoofed RSTs: capture them with ${CAPTURE_RST} (rstwatch explain rst-injection).`,
    },
  );
}

function abortCheck(
  ctx: Ctx,
  id: string,
  counters: readonly string[],
  topic: TopicId,
  what: string,
  title: string,
  grade: (rate: number) => FindingSeverity,
  advice: string,
): Finding {
  const { known, notes } = moves(ctx, counters);
  if (known.length === 0) return notChecked(id, topic, what, notes);
  const ev = [...known.map((m) => ctx.describe(m)), ...notes];
  if (!moving(known)) return finding(id, topic, 'ok', `No ${what} in the interval`, ev);
  return finding(id, topic, grade(maxRate(known)), title, ev, { advice });
}

function linuxSynCookiesSent(ctx: Ctx): Finding {
  const id = 'syn-cookies-sent';
  const { known, notes } = moves(ctx, ['SyncookiesSent', 'TCPReqQFullDoCookies']);
  if (known.length === 0) return notChecked(id, 'syn-flood', 'SYN cookies sent', notes);
  const ctxCounters = moves(ctx, ['SyncookiesRecv', 'SyncookiesFailed']).known;
  const sc = ctx.setting(L.syncookies);
  const backlog = ctx.setting(L.maxSynBacklog);
  const ev = [
    ...known.map((m) => ctx.describe(m)),
    ...notes,
    ...ctxCounters.map((m) => ctx.describe(m)),
    sc.shown,
    backlog.shown,
  ];
  if (!moving(known))
    return finding(
      id,
      'syn-flood',
      'ok',
      'No SYN cookies sent in the interval (the SYN queue never overflowed)',
      ev,
    );
  if (sc.value === 2) {
    return finding(
      id,
      'syn-flood',
      'info',
      'SYN cookies sent for every SYN (tcp_syncookies=2), not a sign of a flood',
      ev,
    );
  }
  const severity = maxRate(known) > THRESHOLDS.cookiesCriticalPerSecond ? 'critical' : 'warning';
  return finding(
    id,
    'syn-flood',
    severity,
    'SYN cookies being sent: the SYN queue overflowed (a SYN flood or a connection burst, now)',
    ev,
    {
      fix: queueLimitFix(L.maxSynBacklog, backlog, linuxSet),
      advice:
        'Cookies keep legitimate clients connecting. SyncookiesFailed far above SyncookiesRecv suggests spoofed traffic; ' +
        '`ss -tn state syn-recv` shows the half-open connections and their sources.',
    },
  );
}

function linuxSynQueueDrops(ctx: Ctx): Finding {
  const id = 'syn-queue-drops';
  const m = ctx.move('TCPReqQFullDrop');
  if (!m.ok) return notChecked(id, 'syn-queue', 'SYN queue drops', [m.why]);
  const sc = ctx.setting(L.syncookies);
  const backlog = ctx.setting(L.maxSynBacklog);
  const ev = [ctx.describe(m.m), sc.shown, backlog.shown];
  if (m.m.delta === 0)
    return finding(id, 'syn-queue', 'ok', 'No SYN dropped for a full SYN queue in the interval', ev);
  const severity = m.m.rate >= THRESHOLDS.synDropCriticalPerSecond ? 'critical' : 'warning';
  return finding(
    id,
    'syn-queue',
    severity,
    'SYNs dropped: the SYN queue is full and no SYN cookie was sent',
    ev,
    {
      fix:
        sc.value === 0
          ? 'rstwatch syncookies enable --persist'
          : queueLimitFix(L.maxSynBacklog, backlog, linuxSet),
      advice: 'Clients see connect() hang and retry their SYN after 1 s, 3 s, 7 s…',
    },
  );
}

function linuxChecks(ctx: Ctx): Finding[] {
  const limit = ctx.setting(L.challengeLimit);
  return [
    linuxSyncookies(ctx),
    linuxListenQueue(ctx),
    linuxAbortOnOverflow(ctx),
    linuxSynCookiesSent(ctx),
    linuxSynQueueDrops(ctx),
    challengeCheck(
      ctx,
      'TCPChallengeACK',
      ['TCPSYNChallenge', 'TCPACKSkippedChallenge'],
      limit.value === undefined ? [] : [limit.shown],
    ),
    linuxRfc1337(ctx),
    abortCheck(
      ctx,
      'abort-on-close',
      ['TCPAbortOnClose'],
      'abort',
      'resets for closes with unread data',
      'Applications closed connections with unread data: each close sent a RST (TCPAbortOnClose)',
      () => 'info',
      'An application close()d while the peer’s data sat unread (RFC 2525 §2.17): read until EOF before closing, or find which with `ss -tnp`.',
    ),
    abortCheck(
      ctx,
      'abort-on-data',
      ['TCPAbortOnData'],
      'abort',
      'resets for data after close or zero linger',
      'Connections reset by zero-linger closes or data arriving after close (TCPAbortOnData)',
      () => 'info',
      'SO_LINGER {1, 0} closes send RST by design (load balancers, proxies); data arriving after shutdown does too.',
    ),
    abortCheck(
      ctx,
      'abort-on-memory',
      ['TCPAbortOnMemory'],
      'abort',
      'resets for memory pressure',
      'Connections reset for memory pressure or too many orphaned sockets (TCPAbortOnMemory)',
      (r) => (r >= THRESHOLDS.memoryCriticalPerSecond ? 'critical' : 'warning'),
      'Look at `cat /proc/net/sockstat` (orphan, mem) against net.ipv4.tcp_max_orphans and net.ipv4.tcp_mem; the kernel log says "too many orphaned sockets".',
    ),
    abortCheck(
      ctx,
      'abort-on-timeout',
      ['TCPAbortOnTimeout'],
      'timeout',
      'connections given up on timeouts',
      'Connections given up after retransmission or keepalive timeouts (TCPAbortOnTimeout)',
      (r) => (r >= THRESHOLDS.timeoutWarningPerSecond ? 'warning' : 'info'),
      'Peers vanished or the path loses packets; keepalive give-ups send a RST, retransmission give-ups send nothing.',
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// FreeBSD checks

const F = {
  syncookies: 'net.inet.tcp.syncookies',
  syncookiesOnly: 'net.inet.tcp.syncookies_only',
  blackhole: 'net.inet.tcp.blackhole',
  insecureRst: 'net.inet.tcp.insecure_rst',
  soacceptqueue: 'kern.ipc.soacceptqueue',
} as const;

function bsdSyncookies(ctx: Ctx): Finding {
  const id = 'syncookies';
  const s = ctx.setting(F.syncookies);
  if (s.value === undefined) return notChecked(id, 'syncookies', 'SYN cookies', [s.shown]);
  if (s.value !== 0)
    return finding(id, 'syncookies', 'ok', 'SYN cookies on (used when the syncache overflows)', [s.shown]);
  return finding(
    id,
    'syncookies',
    'warning',
    'SYN cookies are off: when the syncache overflows, new connections are dropped',
    [s.shown],
    {
      fix: 'rstwatch syncookies enable --persist',
      advice: `For this boot only: sysctl ${F.syncookies}=1 (the default).`,
    },
  );
}

function bsdSyncookiesOnly(ctx: Ctx): Finding {
  const id = 'syncookies-only';
  const s = ctx.setting(F.syncookiesOnly);
  if (s.value === undefined) return notChecked(id, 'syncookies', 'syncookies_only', [s.shown]);
  if (s.value === 0)
    return finding(id, 'syncookies', 'ok', 'The syncache is in use (syncookies_only=0)', [s.shown]);
  return finding(
    id,
    'syncookies',
    'warning',
    'Only SYN cookies, no syncache (syncookies_only=1): every connection pays the costs of cookies',
    [s.shown],
    {
      fix: `sysctl ${F.syncookiesOnly}=0`,
      advice:
        'Cookies-only means no SYN-ACK retransmission and reduced TCP options (MSS from a small table, approximate window scale). ' +
        `Keep it only for a sustained SYN flood; ${F.syncookies}=1 already falls back to cookies when the syncache overflows.`,
    },
  );
}

function bsdInsecureRst(ctx: Ctx): Finding {
  const id = 'insecure-rst';
  const s = ctx.setting(F.insecureRst);
  if (s.value === undefined) return notChecked(id, 'rst-injection', 'insecure_rst', [s.shown]);
  if (s.value === 0)
    return finding(id, 'rst-injection', 'ok', 'In-window RSTs are checked (RFC 5961)', [s.shown]);
  return finding(
    id,
    'rst-injection',
    'warning',
    'Any in-window RST is accepted (insecure_rst=1): blind RST injection is easier',
    [s.shown],
    {
      fix: `sysctl ${F.insecureRst}=0`,
    },
  );
}

function bsdListenQueue(ctx: Ctx): Finding {
  const id = 'listen-queue';
  const m = ctx.move('listen-queue-overflows');
  const q = ctx.setting(F.soacceptqueue);
  if (!m.ok) return notChecked(id, 'queue-full', 'Listen queue overflows', [m.why]);
  const ev = [ctx.describe(m.m), `${q.shown} (caps every listen() backlog)`];
  if (m.m.delta === 0) return finding(id, 'queue-full', 'ok', 'No listen queue overflow in the interval', ev);
  const severity = m.m.rate >= THRESHOLDS.listenCriticalPerSecond ? 'critical' : 'warning';
  return finding(
    id,
    'queue-full',
    severity,
    'Listen queue overflowing: connections dropped (an application accepts too slowly)',
    ev,
    {
      fix: queueLimitFix(F.soacceptqueue, q, bsdSet),
      advice:
        '`netstat -Lan` shows each listener’s queue (qlen/incqlen/maxqlen): make that application accept faster or give it a larger backlog.',
    },
  );
}

function bsdSyncacheOverflow(ctx: Ctx): Finding {
  const id = 'syncache-overflow';
  const { known, notes } = moves(ctx, ['syncache.bucket-overflow', 'syncache.cache-overflow']);
  if (known.length === 0) return notChecked(id, 'syn-queue', 'Syncache overflows', notes);
  const sc = ctx.setting(F.syncookies);
  const ev = [...known.map((m) => ctx.describe(m)), ...notes, sc.shown];
  if (!moving(known)) return finding(id, 'syn-queue', 'ok', 'No syncache overflow in the interval', ev);
  const dropped = sc.value === 0;
  const severity = dropped && maxRate(known) >= THRESHOLDS.syncacheCriticalPerSecond ? 'critical' : 'warning';
  return finding(
    id,
    'syn-queue',
    severity,
    dropped
      ? 'Syncache overflowing with SYN cookies off: SYNs dropped'
      : 'Syncache overflowing: SYN flood pressure (SYN cookies answer the overflow)',
    ev,
    dropped ? { fix: 'rstwatch syncookies enable --persist' } : {},
  );
}

function bsdCookiesSent(ctx: Ctx): Finding {
  const id = 'syn-cookies-sent';
  const m = ctx.move('syncache.sent-cookies');
  if (!m.ok) return notChecked(id, 'syn-flood', 'SYN cookies sent', [m.why]);
  const recv = ctx.move('syncache.receivd-cookies');
  const only = ctx.setting(F.syncookiesOnly);
  const ev = [ctx.describe(m.m), ...(recv.ok ? [ctx.describe(recv.m)] : []), only.shown];
  if (m.m.delta === 0) return finding(id, 'syn-flood', 'ok', 'No SYN cookies sent in the interval', ev);
  if (only.value === 1) {
    return finding(
      id,
      'syn-flood',
      'info',
      'SYN cookies sent for every SYN (syncookies_only=1), not a sign of a flood',
      ev,
    );
  }
  const severity = m.m.rate > THRESHOLDS.cookiesCriticalPerSecond ? 'critical' : 'warning';
  return finding(
    id,
    'syn-flood',
    severity,
    'SYN cookies being sent: the syncache overflowed (a SYN flood or a connection burst, now)',
    ev,
    {
      advice:
        'Cookies keep legitimate clients connecting; `netstat -Lan` shows which listener is under pressure.',
    },
  );
}

function bsdBlackhole(ctx: Ctx): Finding {
  const id = 'blackhole';
  const s = ctx.setting(F.blackhole);
  if (s.value === undefined) return notChecked(id, 'refused', 'blackhole', [s.shown]);
  if (s.value === 0)
    return finding(id, 'refused', 'ok', 'Closed ports answer with RST (blackhole=0)', [s.shown]);
  const what = s.value === 1 ? 'SYNs to closed ports get no RST' : 'segments to closed ports get no RST';
  return finding(
    id,
    'refused',
    'info',
    `Blackhole on: ${what} (fewer resets, slower failure for clients)`,
    [s.shown],
    {
      fix: `sysctl ${F.blackhole}=0`,
      advice:
        'Clients of a closed port wait for their connect() to time out instead of failing at once; keep it if that is the intent (scan resistance).',
    },
  );
}

function bsdChecks(ctx: Ctx): Finding[] {
  const insecure = ctx.setting(F.insecureRst);
  return [
    bsdSyncookies(ctx),
    bsdSyncookiesOnly(ctx),
    bsdListenQueue(ctx),
    bsdSyncacheOverflow(ctx),
    bsdCookiesSent(ctx),
    challengeCheck(ctx, 'ignored-in-window-resets', [], insecure.value === undefined ? [] : [insecure.shown]),
    bsdInsecureRst(ctx),
    abortCheck(
      ctx,
      'abort-on-timeout',
      ['connections-dropped-by-retransmit-timeout', 'connections-dropped-by-keepalives'],
      'timeout',
      'connections given up on timeouts',
      'Connections dropped after retransmission or keepalive timeouts',
      (r) => (r >= THRESHOLDS.timeoutWarningPerSecond ? 'warning' : 'info'),
      'Peers vanished or the path loses packets.',
    ),
    bsdBlackhole(ctx),
  ];
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Every check for the input's OS, worst first; among info findings, checks that could not run come last;
 * otherwise checks keep their documented order.
 * Never throws: missing or malformed inputs make the checks that need them "not checked".
 */
export function diagnose(input: DoctorInput): Finding[] {
  const ctx = new Ctx(input);
  const os = own(asDict(input), 'os');
  const all = os === 'freebsd' ? bsdChecks(ctx) : linuxChecks(ctx);
  return all
    .map((f, i) => ({ f, i }))
    .sort(
      (a, b) =>
        RANK[b.f.severity] - RANK[a.f.severity] ||
        Number(a.f.unknown === true) - Number(b.f.unknown === true) ||
        a.i - b.i,
    )
    .map((x) => x.f);
}
