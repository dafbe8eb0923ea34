/**
 * rstwatch doctor: the pure diagnosis (every check triggered and not triggered, thresholds at their
 * boundaries, partial inputs never throwing) and the gathering helpers on fixture trees.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type DoctorReport, doctorExitCode, renderDoctorText } from '../../src/cli/doctor.js';
import type { CommandRunner } from '../../src/collect/types.js';
import {
  type DoctorInput,
  diagnose,
  exitCodeFor,
  type Finding,
  LINUX_DOCTOR_SETTINGS,
  SEVERITIES,
  severityRank,
  THRESHOLDS,
  worstSeverity,
} from '../../src/remedy/doctor.js';
import {
  gatherDoctorInput,
  linuxSysctlFile,
  parseProcNetTcpListeners,
  parseSsListeners,
  readLinuxListeners,
  readLinuxSettings,
} from '../../src/remedy/doctor-inputs.js';
import { FIXTURES, ROOT } from '../helpers/paths.js';

/** The ids of src/model/explain.ts TOPICS, as given when doctor was written (checked against the file below). */
const TOPIC_IDS = [
  'reset',
  'refused',
  'abort',
  'half-open',
  'time-wait-assassination',
  'queue-full',
  'syn-queue',
  'buffer-overflow',
  'syn-flood',
  'rst-injection',
  'scan',
  'timeout',
  'syncookies',
  'challenge-ack',
];

const LINUX_IDS = [
  'syncookies',
  'listen-queue',
  'abort-on-overflow',
  'syn-cookies-sent',
  'syn-queue-drops',
  'challenge-ack',
  'rfc1337',
  'abort-on-close',
  'abort-on-data',
  'abort-on-memory',
  'abort-on-timeout',
];
const FREEBSD_IDS = [
  'syncookies',
  'syncookies-only',
  'listen-queue',
  'syncache-overflow',
  'syn-cookies-sent',
  'challenge-ack',
  'insecure-rst',
  'abort-on-timeout',
  'blackhole',
];

const LINUX_COUNTERS = [
  'ListenOverflows',
  'ListenDrops',
  'SyncookiesSent',
  'SyncookiesRecv',
  'SyncookiesFailed',
  'TCPReqQFullDoCookies',
  'TCPReqQFullDrop',
  'TCPChallengeACK',
  'TCPSYNChallenge',
  'TCPACKSkippedChallenge',
  'TCPAbortOnClose',
  'TCPAbortOnData',
  'TCPAbortOnMemory',
  'TCPAbortOnTimeout',
];
const FREEBSD_COUNTERS = [
  'listen-queue-overflows',
  'ignored-in-window-resets',
  'syncache.bucket-overflow',
  'syncache.cache-overflow',
  'syncache.sent-cookies',
  'syncache.receivd-cookies',
  'connections-dropped-by-retransmit-timeout',
  'connections-dropped-by-keepalives',
];

const zeros = (names: readonly string[], base = 1000): Record<string, number> =>
  Object.fromEntries(names.map((n) => [n, base]));

/** A healthy Linux machine: good settings, no counter moving over 10 s. */
function linux(over: Partial<DoctorInput> = {}): DoctorInput {
  return {
    os: 'linux',
    settings: {
      'net.ipv4.tcp_syncookies': 1,
      'net.ipv4.tcp_abort_on_overflow': 0,
      'net.ipv4.tcp_rfc1337': 1,
      'net.ipv4.tcp_max_syn_backlog': 4096,
      'net.core.somaxconn': 4096,
      'net.ipv4.tcp_challenge_ack_limit': 2147483647,
    },
    before: zeros(LINUX_COUNTERS),
    after: zeros(LINUX_COUNTERS),
    intervalSeconds: 10,
    ...over,
  };
}

function freebsd(over: Partial<DoctorInput> = {}): DoctorInput {
  return {
    os: 'freebsd',
    settings: {
      'net.inet.tcp.syncookies': 1,
      'net.inet.tcp.syncookies_only': 0,
      'net.inet.tcp.blackhole': 0,
      'net.inet.tcp.insecure_rst': 0,
      'net.inet.tcp.drop_synfin': 0,
      'kern.ipc.soacceptqueue': 4096,
    },
    before: zeros(FREEBSD_COUNTERS),
    after: zeros(FREEBSD_COUNTERS),
    intervalSeconds: 10,
    ...over,
  };
}

/** Move counters by `delta` over the input's interval. */
function moved(input: DoctorInput, deltas: Record<string, number>): DoctorInput {
  const after = { ...input.after };
  for (const [k, d] of Object.entries(deltas)) after[k] = (input.before[k] ?? 0) + d;
  return { ...input, after };
}

function withSettings(input: DoctorInput, s: DoctorInput['settings']): DoctorInput {
  return { ...input, settings: { ...input.settings, ...s } };
}

function byId(findings: Finding[], id: string): Finding {
  const f = findings.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id} in ${findings.map((x) => x.id).join(', ')}`);
  return f;
}

describe('diagnose: a healthy machine', () => {
  it('Linux: one finding per check, all ok', () => {
    const fs = diagnose(linux());
    expect(fs.map((f) => f.id).sort()).toEqual([...LINUX_IDS].sort());
    expect(fs.filter((f) => f.severity !== 'ok')).toEqual([]);
    expect(worstSeverity(fs)).toBe('ok');
  });
  it('FreeBSD: one finding per check, all ok', () => {
    const fs = diagnose(freebsd());
    expect(fs.map((f) => f.id).sort()).toEqual([...FREEBSD_IDS].sort());
    expect(fs.filter((f) => f.severity !== 'ok')).toEqual([]);
  });
  it('the Linux sysctls read are the ones the checks use', () => {
    expect([...LINUX_DOCTOR_SETTINGS].sort()).toEqual(Object.keys(linux().settings).sort());
  });
});

interface Case {
  name: string;
  input: DoctorInput;
  id: string;
  severity: Finding['severity'];
  fix?: string | undefined;
  evidence?: RegExp;
  title?: RegExp;
}

// Interval is 10 s in every case: a delta of N is N/10 per second.
const linuxCases: Case[] = [
  {
    name: 'SYN cookies off',
    input: withSettings(linux(), { 'net.ipv4.tcp_syncookies': 0 }),
    id: 'syncookies',
    severity: 'warning',
    fix: 'rstwatch syncookies enable --persist',
    evidence: /net\.ipv4\.tcp_syncookies = 0/,
  },
  {
    name: 'SYN cookies on (string value from a file)',
    input: withSettings(linux(), { 'net.ipv4.tcp_syncookies': '1' }),
    id: 'syncookies',
    severity: 'ok',
  },
  {
    name: 'SYN cookies always (2)',
    input: withSettings(linux(), { 'net.ipv4.tcp_syncookies': 2 }),
    id: 'syncookies',
    severity: 'info',
    fix: 'sysctl -w net.ipv4.tcp_syncookies=1',
  },
  {
    name: 'listen overflows moving, slowly',
    input: moved(linux(), { ListenOverflows: 5, ListenDrops: 5 }),
    id: 'listen-queue',
    severity: 'warning',
    evidence: /ListenOverflows \+5 in 10 s \(0\.50\/s\), now 1005/,
    title: /Listen queue overflowing/,
  },
  {
    name: 'listen overflows at the critical rate',
    input: moved(linux(), { ListenOverflows: 10 * THRESHOLDS.listenCriticalPerSecond }),
    id: 'listen-queue',
    severity: 'critical',
  },
  {
    name: 'listen overflows just under the critical rate',
    input: moved(linux(), { ListenOverflows: 10 * THRESHOLDS.listenCriticalPerSecond - 1 }),
    id: 'listen-queue',
    severity: 'warning',
  },
  {
    name: 'ListenDrops alone',
    input: moved(linux(), { ListenDrops: 3 }),
    id: 'listen-queue',
    severity: 'warning',
    title: /Listener drops/,
  },
  {
    name: 'listen overflows with a small somaxconn suggest raising it',
    input: moved(withSettings(linux(), { 'net.core.somaxconn': 128 }), { ListenOverflows: 1 }),
    id: 'listen-queue',
    severity: 'warning',
    fix: 'sysctl -w net.core.somaxconn=4096',
    evidence: /net\.core\.somaxconn = 128/,
  },
  {
    name: 'listen queue quiet',
    input: linux(),
    id: 'listen-queue',
    severity: 'ok',
  },
  {
    name: 'a full accept queue without overflow in the interval',
    input: linux({ listeners: [{ local: '127.0.0.1:8080', queued: 2, backlog: 1 }] }),
    id: 'listen-queue',
    severity: 'info',
    evidence: /127\.0\.0\.1:8080: 2 waiting to be accepted, backlog 1 \(full\)/,
  },
  {
    name: 'abort_on_overflow=1 with overflows moving',
    input: moved(withSettings(linux(), { 'net.ipv4.tcp_abort_on_overflow': 1 }), { ListenOverflows: 4 }),
    id: 'abort-on-overflow',
    severity: 'warning',
    fix: 'sysctl -w net.ipv4.tcp_abort_on_overflow=0',
  },
  {
    name: 'abort_on_overflow=1, quiet',
    input: withSettings(linux(), { 'net.ipv4.tcp_abort_on_overflow': 1 }),
    id: 'abort-on-overflow',
    severity: 'info',
    fix: 'sysctl -w net.ipv4.tcp_abort_on_overflow=0',
  },
  {
    name: 'tcp_rfc1337=0',
    input: withSettings(linux(), { 'net.ipv4.tcp_rfc1337': 0 }),
    id: 'rfc1337',
    severity: 'info',
    fix: 'sysctl -w net.ipv4.tcp_rfc1337=1',
  },
  {
    name: 'challenge ACKs, a few',
    input: moved(linux(), { TCPChallengeACK: 3, TCPSYNChallenge: 1 }),
    id: 'challenge-ack',
    severity: 'info',
    evidence: /TCPSYNChallenge \+1/,
  },
  {
    name: 'challenge ACKs at 1/s',
    input: moved(linux(), { TCPChallengeACK: 10 * THRESHOLDS.challengeWarningPerSecond }),
    id: 'challenge-ack',
    severity: 'warning',
    evidence: /TCPChallengeACK \+10 in 10 s \(1\.00\/s\)/,
  },
  {
    name: 'unread-data closes',
    input: moved(linux(), { TCPAbortOnClose: 15 }),
    id: 'abort-on-close',
    severity: 'info',
    evidence: /TCPAbortOnClose \+15/,
  },
  {
    name: 'zero-linger aborts',
    input: moved(linux(), { TCPAbortOnData: 15 }),
    id: 'abort-on-data',
    severity: 'info',
  },
  {
    name: 'memory aborts',
    input: moved(linux(), { TCPAbortOnMemory: 1 }),
    id: 'abort-on-memory',
    severity: 'warning',
  },
  {
    name: 'memory aborts at the critical rate',
    input: moved(linux(), { TCPAbortOnMemory: 10 * THRESHOLDS.memoryCriticalPerSecond }),
    id: 'abort-on-memory',
    severity: 'critical',
  },
  {
    name: 'timeouts, a few',
    input: moved(linux(), { TCPAbortOnTimeout: 2 }),
    id: 'abort-on-timeout',
    severity: 'info',
  },
  {
    name: 'timeouts at 1/s',
    input: moved(linux(), { TCPAbortOnTimeout: 10 }),
    id: 'abort-on-timeout',
    severity: 'warning',
  },
  {
    name: 'SYN cookies sent',
    input: moved(linux(), { SyncookiesSent: 50, TCPReqQFullDoCookies: 50 }),
    id: 'syn-cookies-sent',
    severity: 'warning',
    evidence: /SyncookiesSent \+50 in 10 s \(5\.00\/s\)/,
  },
  {
    name: 'SYN cookies sent at exactly the critical rate (still a warning: > is critical)',
    input: moved(linux(), { SyncookiesSent: 10 * THRESHOLDS.cookiesCriticalPerSecond }),
    id: 'syn-cookies-sent',
    severity: 'warning',
  },
  {
    name: 'SYN cookies sent above the critical rate',
    input: moved(linux(), { TCPReqQFullDoCookies: 10 * THRESHOLDS.cookiesCriticalPerSecond + 1 }),
    id: 'syn-cookies-sent',
    severity: 'critical',
  },
  {
    name: 'SYN cookies sent with a small tcp_max_syn_backlog',
    input: moved(withSettings(linux(), { 'net.ipv4.tcp_max_syn_backlog': 256 }), { SyncookiesSent: 1 }),
    id: 'syn-cookies-sent',
    severity: 'warning',
    fix: 'sysctl -w net.ipv4.tcp_max_syn_backlog=4096',
  },
  {
    name: 'SYN cookies sent with tcp_syncookies=2 are not a flood',
    input: moved(withSettings(linux(), { 'net.ipv4.tcp_syncookies': 2 }), { SyncookiesSent: 5000 }),
    id: 'syn-cookies-sent',
    severity: 'info',
  },
  {
    name: 'SYNs dropped with cookies off',
    input: moved(withSettings(linux(), { 'net.ipv4.tcp_syncookies': 0 }), { TCPReqQFullDrop: 5 }),
    id: 'syn-queue-drops',
    severity: 'warning',
    fix: 'rstwatch syncookies enable --persist',
  },
  {
    name: 'SYNs dropped at the critical rate',
    input: moved(linux(), { TCPReqQFullDrop: 10 * THRESHOLDS.synDropCriticalPerSecond }),
    id: 'syn-queue-drops',
    severity: 'critical',
  },
];

const freebsdCases: Case[] = [
  {
    name: 'SYN cookies off',
    input: withSettings(freebsd(), { 'net.inet.tcp.syncookies': 0 }),
    id: 'syncookies',
    severity: 'warning',
    fix: 'rstwatch syncookies enable --persist',
    evidence: /net\.inet\.tcp\.syncookies = 0/,
  },
  {
    name: 'syncookies_only=1',
    input: withSettings(freebsd(), { 'net.inet.tcp.syncookies_only': 1 }),
    id: 'syncookies-only',
    severity: 'warning',
    fix: 'sysctl net.inet.tcp.syncookies_only=0',
  },
  {
    name: 'insecure_rst=1',
    input: withSettings(freebsd(), { 'net.inet.tcp.insecure_rst': 1 }),
    id: 'insecure-rst',
    severity: 'warning',
    fix: 'sysctl net.inet.tcp.insecure_rst=0',
  },
  {
    name: 'blackhole=2',
    input: withSettings(freebsd(), { 'net.inet.tcp.blackhole': 2 }),
    id: 'blackhole',
    severity: 'info',
    fix: 'sysctl net.inet.tcp.blackhole=0',
    evidence: /net\.inet\.tcp\.blackhole = 2/,
  },
  {
    name: 'ignored in-window resets, a few',
    input: moved(freebsd(), { 'ignored-in-window-resets': 4 }),
    id: 'challenge-ack',
    severity: 'info',
    evidence: /ignored-in-window-resets \+4/,
  },
  {
    name: 'ignored in-window resets at 5/s',
    input: moved(freebsd(), { 'ignored-in-window-resets': 50 }),
    id: 'challenge-ack',
    severity: 'warning',
  },
  {
    name: 'listen queue overflows',
    input: moved(freebsd(), { 'listen-queue-overflows': 7 }),
    id: 'listen-queue',
    severity: 'warning',
    evidence: /kern\.ipc\.soacceptqueue = 4096/,
  },
  {
    name: 'listen queue overflows, critical, small soacceptqueue',
    input: moved(withSettings(freebsd(), { 'kern.ipc.soacceptqueue': 128 }), {
      'listen-queue-overflows': 100,
    }),
    id: 'listen-queue',
    severity: 'critical',
    fix: 'sysctl kern.ipc.soacceptqueue=4096',
  },
  {
    name: 'syncache bucket overflow',
    input: moved(freebsd(), { 'syncache.bucket-overflow': 3 }),
    id: 'syncache-overflow',
    severity: 'warning',
  },
  {
    name: 'syncache overflow with cookies off, fast: SYNs dropped',
    input: moved(withSettings(freebsd(), { 'net.inet.tcp.syncookies': 0 }), {
      'syncache.cache-overflow': 10 * THRESHOLDS.syncacheCriticalPerSecond,
    }),
    id: 'syncache-overflow',
    severity: 'critical',
    fix: 'rstwatch syncookies enable --persist',
  },
  {
    name: 'cookies sent',
    input: moved(freebsd(), { 'syncache.sent-cookies': 20, 'syncache.receivd-cookies': 5 }),
    id: 'syn-cookies-sent',
    severity: 'warning',
    evidence: /syncache\.receivd-cookies \+5/,
  },
  {
    name: 'cookies sent above the critical rate',
    input: moved(freebsd(), { 'syncache.sent-cookies': 1001 }),
    id: 'syn-cookies-sent',
    severity: 'critical',
  },
  {
    name: 'cookies sent with syncookies_only=1 are not a flood',
    input: moved(withSettings(freebsd(), { 'net.inet.tcp.syncookies_only': 1 }), {
      'syncache.sent-cookies': 5000,
    }),
    id: 'syn-cookies-sent',
    severity: 'info',
  },
  {
    name: 'retransmit timeouts',
    input: moved(freebsd(), { 'connections-dropped-by-retransmit-timeout': 3 }),
    id: 'abort-on-timeout',
    severity: 'info',
  },
];

function checkCase(c: Case): void {
  const fs = diagnose(c.input);
  const f = byId(fs, c.id);
  expect(f.severity).toBe(c.severity);
  if (c.fix !== undefined) expect(f.fix).toBe(c.fix);
  if (c.evidence) expect(f.evidence.join('\n')).toMatch(c.evidence);
  if (c.title) expect(f.title).toMatch(c.title);
  expect(f.unknown).toBeUndefined();
}

describe('diagnose: each Linux check triggered and not', () => {
  it.each(linuxCases.map((c) => [c.name, c] as const))('%s', (_, c) => checkCase(c));
});

describe('diagnose: each FreeBSD check triggered and not', () => {
  it.each(freebsdCases.map((c) => [c.name, c] as const))('%s', (_, c) => checkCase(c));
});

describe('diagnose: missing or odd input is "not checked", never a crash', () => {
  it('no counters, no settings: every check is info + unknown, with a reason', () => {
    for (const os of ['linux', 'freebsd'] as const) {
      const fs = diagnose({ os, settings: {}, before: {}, after: {}, intervalSeconds: 3 });
      expect(fs.length).toBe(os === 'linux' ? LINUX_IDS.length : FREEBSD_IDS.length);
      for (const f of fs) {
        expect(f.severity).toBe('info');
        expect(f.unknown).toBe(true);
        expect(f.title).toMatch(/not checked/);
        expect(f.evidence.length).toBeGreaterThan(0);
      }
    }
  });
  it('--interval 0: settings checks run, movement checks say why they did not', () => {
    const fs = diagnose({ ...withSettings(linux(), { 'net.ipv4.tcp_syncookies': 0 }), intervalSeconds: 0 });
    expect(byId(fs, 'syncookies').severity).toBe('warning');
    const lq = byId(fs, 'listen-queue');
    expect(lq.unknown).toBe(true);
    expect(lq.evidence.join()).toMatch(/no interval/);
  });
  it('a counter that went backwards (reboot, namespace re-created) is not a movement', () => {
    const input = linux();
    const fs = diagnose({ ...input, after: { ...input.after, TCPAbortOnMemory: 3 } });
    const f = byId(fs, 'abort-on-memory');
    expect(f.unknown).toBe(true);
    expect(f.evidence.join()).toMatch(/went backwards/);
  });
  it('one counter of two missing (an older kernel): the other still decides', () => {
    const input = moved(linux(), { ListenOverflows: 2 });
    delete input.before.ListenDrops;
    delete input.after.ListenDrops;
    const f = byId(diagnose(input), 'listen-queue');
    expect(f.severity).toBe('warning');
    expect(f.evidence.join('\n')).toMatch(/ListenDrops: not reported/);
  });
  it('listen overflows: listeners not listed is said differently from none waiting', () => {
    const input = moved(linux(), { ListenOverflows: 1 });
    const unknown = byId(diagnose(input), 'listen-queue').evidence.join('\n');
    expect(unknown).toMatch(/could not be listed/);
    const none = byId(
      diagnose({ ...input, listeners: [{ local: '0.0.0.0:22', queued: 0, backlog: 128 }] }),
      'listen-queue',
    );
    expect(none.evidence.join('\n')).toMatch(/no listener has connections waiting/);
  });
  it('a setting with a non-numeric value is reported as such', () => {
    const f = byId(diagnose(withSettings(linux(), { 'net.ipv4.tcp_rfc1337': 'yes' })), 'rfc1337');
    expect(f.unknown).toBe(true);
    expect(f.evidence[0]).toMatch(/unexpected value "yes"/);
  });

  const counterName = fc.constantFrom(...LINUX_COUNTERS, ...FREEBSD_COUNTERS, '__proto__', 'constructor');
  const num = fc.oneof(
    fc.nat(),
    fc.double(),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 2 ** 64),
  );
  const settingName = fc.constantFrom(
    ...LINUX_DOCTOR_SETTINGS,
    'net.inet.tcp.syncookies',
    'net.inet.tcp.syncookies_only',
    'net.inet.tcp.blackhole',
    'net.inet.tcp.insecure_rst',
    'kern.ipc.soacceptqueue',
    'toString',
  );
  const settingValue = fc.oneof(
    fc.integer({ min: -2, max: 5 }),
    fc.constant(undefined),
    fc.string(),
    fc.constantFrom('0', '1', ' 2\n', 'x'),
    fc.double(),
  );
  const listener = fc.record(
    { local: fc.string(), queued: num, backlog: num },
    { requiredKeys: ['local', 'queued'] },
  );

  it('property: arbitrary partial inputs never throw and give well-formed findings', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            os: fc.constantFrom('linux', 'freebsd'),
            settings: fc.dictionary(settingName, settingValue),
            before: fc.dictionary(counterName, num),
            after: fc.dictionary(counterName, num),
            intervalSeconds: fc.oneof(num, fc.constant(3)),
            listeners: fc.array(listener, { maxLength: 8 }),
          },
          { requiredKeys: [] },
        ),
        (partial) => {
          const fs = diagnose(partial as unknown as DoctorInput);
          const ids = fs.map((f) => f.id);
          expect(new Set(ids).size).toBe(ids.length);
          expect(ids.sort()).toEqual(
            partial.os === 'freebsd' ? [...FREEBSD_IDS].sort() : [...LINUX_IDS].sort(),
          );
          for (const f of fs) {
            expect(SEVERITIES).toContain(f.severity);
            expect(TOPIC_IDS).toContain(f.topic);
            expect(typeof f.title).toBe('string');
            expect(f.evidence.every((e) => typeof e === 'string' && e.length > 0)).toBe(true);
            if (f.unknown) expect(f.severity).toBe('info');
            if (f.fix !== undefined) expect(f.fix).toMatch(/^(sysctl|rstwatch) /);
          }
          // Worst first.
          for (let i = 1; i < fs.length; i++)
            expect(severityRank(fs[i - 1]!.severity)).toBeGreaterThanOrEqual(severityRank(fs[i]!.severity));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: not even non-objects crash it', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (a, b, c) => {
        diagnose({
          os: 'linux',
          settings: a,
          before: b,
          after: c,
          intervalSeconds: 1,
        } as unknown as DoctorInput);
        diagnose(a as DoctorInput);
      }),
      { numRuns: 300 },
    );
  });
});

describe('severities and exit codes', () => {
  it('worst first; info findings that could not run come after real ones', () => {
    const input = moved(withSettings(linux(), { 'net.ipv4.tcp_rfc1337': 0 }), {
      ListenOverflows: 500,
      TCPChallengeACK: 1,
    });
    delete input.after.TCPAbortOnClose;
    const fs = diagnose(input);
    expect(fs[0]!.id).toBe('listen-queue');
    expect(fs[0]!.severity).toBe('critical');
    const infos = fs.filter((f) => f.severity === 'info').map((f) => [f.id, f.unknown === true]);
    expect(infos).toEqual([
      ['challenge-ack', false],
      ['rfc1337', false],
      ['abort-on-close', true],
    ]);
  });
  it('exit codes: 0 ok/info, 1 warning, 4 critical; 3 when nothing could be read', () => {
    expect(SEVERITIES.map(exitCodeFor)).toEqual([0, 0, 1, 4]);
    expect(worstSeverity([])).toBe('ok');
    expect(doctorExitCode({ worst: 'info' }, {}, {})).toBe(3);
    expect(doctorExitCode({ worst: 'warning' }, {}, {})).toBe(1);
    expect(doctorExitCode({ worst: 'critical' }, { a: 1 }, { a: 2 })).toBe(4);
    expect(doctorExitCode({ worst: 'ok' }, { a: 1 }, { a: 1 })).toBe(0);
  });
});

describe('the topics exist in rstwatch explain', () => {
  it('every topic a finding can carry is one of the explain TOPICS ids', async () => {
    const file = `${ROOT}src/model/explain.ts`;
    let ids = TOPIC_IDS;
    if (existsSync(file)) {
      const mod = (await import(/* @vite-ignore */ file)) as { TOPICS?: unknown };
      const t = mod.TOPICS;
      if (Array.isArray(t)) ids = t.map((x) => (typeof x === 'string' ? x : (x as { id: string }).id));
      else if (t instanceof Map) ids = [...t.keys()] as string[];
      else if (typeof t === 'object' && t !== null) ids = Object.keys(t);
      expect(ids.length).toBeGreaterThan(0);
    }
    const used = new Set<string>();
    const every = [...linuxCases, ...freebsdCases].map((c) => c.input);
    every.push(linux(), freebsd(), { os: 'linux', settings: {}, before: {}, after: {}, intervalSeconds: 0 });
    for (const input of every) for (const f of diagnose(input)) used.add(f.topic);
    for (const topic of used) expect(ids).toContain(topic);
  });
});

describe('text report', () => {
  it('one block per finding above ok, worst first, with evidence, fix and topic; passed checks listed', () => {
    const input = moved(withSettings(linux(), { 'net.ipv4.tcp_syncookies': 0 }), { ListenOverflows: 200 });
    const findings = diagnose(input);
    const report: DoctorReport = {
      os: 'linux',
      netns: 'web',
      source: { kind: 'sample' },
      intervalSeconds: 10,
      settings: {},
      findings,
      worst: worstSeverity(findings),
      problems: [],
    };
    const text = renderDoctorText(report);
    expect(text).toMatch(/^rstwatch doctor — linux, namespace web, counters sampled for 10\.0 s\n/);
    const crit = text.indexOf('CRITICAL  Listen queue overflowing');
    const warn = text.indexOf('WARNING   SYN cookies are off');
    expect(crit).toBeGreaterThan(0);
    expect(warn).toBeGreaterThan(crit);
    expect(text).toContain('· ListenOverflows +200 in 10 s (20.0/s), now 1200');
    expect(text).toContain('fix:  rstwatch syncookies enable --persist');
    expect(text).toContain('more: rstwatch explain queue-full');
    expect(text).toMatch(/Passed:\n {2}ok {2}Accept-queue overflows are not turned into resets/);
    expect(text).toMatch(/Worst: critical\./);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Gathering

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rw-doctor-'));
  tmpDirs.push(d);
  return d;
}

function writeSysctls(procRoot: string, values: Record<string, string>): void {
  for (const [name, v] of Object.entries(values)) {
    const file = linuxSysctlFile(procRoot, name);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, v);
  }
}

describe('doctor-inputs: Linux sysctls', () => {
  it('reads <procRoot>/sys/net/…; a missing file is unknown with a warning', () => {
    const root = tmp();
    writeSysctls(root, { 'net.ipv4.tcp_syncookies': '0\n', 'net.core.somaxconn': '4096\n' });
    const { settings, problems } = readLinuxSettings(root);
    expect(settings['net.ipv4.tcp_syncookies']).toBe(0);
    expect(settings['net.core.somaxconn']).toBe(4096);
    expect(settings['net.ipv4.tcp_rfc1337']).toBeUndefined();
    expect('net.ipv4.tcp_rfc1337' in settings).toBe(true);
    expect(problems.map((p) => p.code)).toEqual(
      Array(LINUX_DOCTOR_SETTINGS.length - 2).fill('W_SYSCTL_MISSING'),
    );
    expect(problems[0]!.severity).toBe('warning');
  });
  it('reads this machine’s /proc/sys (values are numbers)', () => {
    const { settings } = readLinuxSettings('/proc');
    if (existsSync('/proc/sys/net/ipv4/tcp_syncookies'))
      expect(typeof settings['net.ipv4.tcp_syncookies']).toBe('number');
  });
});

describe('doctor-inputs: listeners', () => {
  const procTcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 75607 1 0000 100 0 0 10 0
   1: 0100007F:EC52 0100007F:1F90 06 00000000:00000000 03:00001752 00000000     0        0 0 3 0000
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000 100 0 0 10 0
garbage line
`;
  it('/proc/net/tcp: LISTEN rows with their accept queue (little-endian host)', () => {
    expect(parseProcNetTcpListeners(procTcp, 4, true)).toEqual([
      { local: '127.0.0.1:8080', queued: 2 },
      { local: '0.0.0.0:22', queued: 0 },
    ]);
  });
  it('/proc/net/tcp on a big-endian host', () => {
    expect(parseProcNetTcpListeners(procTcp, 4, false)[0]!.local).toBe('1.0.0.127:8080');
  });
  it('/proc/net/tcp6: addresses compressed like ss prints them', () => {
    const text = `  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 1 1
   1: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
`;
    expect(parseProcNetTcpListeners(text, 6, true)).toEqual([
      { local: '[::1]:443', queued: 5 },
      { local: '[::]:22', queued: 0 },
    ]);
  });
  it('ss -ltn: Recv-Q is the accept queue, Send-Q the backlog', () => {
    const text = `State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
LISTEN 2      1          127.0.0.1:8080      0.0.0.0:*
LISTEN 0      4096           [::]:22            [::]:*
`;
    expect(parseSsListeners(text)).toEqual([
      { local: '127.0.0.1:8080', queued: 2, backlog: 1 },
      { local: '[::]:22', queued: 0, backlog: 4096 },
    ]);
  });
  it('a proc root other than /proc is read from its net/tcp, never with ss', async () => {
    const root = tmp();
    mkdirSync(join(root, 'net'));
    writeFileSync(join(root, 'net', 'tcp'), procTcp);
    const runner: CommandRunner = async () => {
      throw new Error('ss must not run for a fixture proc root');
    };
    const r = await readLinuxListeners(root, runner);
    expect(r.listeners?.map((l) => l.queued)).toEqual([2, 0]);
    expect((await readLinuxListeners(tmp(), runner)).listeners).toBeUndefined();
  });
  it('/proc with ss failing falls back to /proc/net/tcp', async () => {
    const runner: CommandRunner = async () => ({ code: null, stdout: '', stderr: '', error: 'ENOENT' });
    const r = await readLinuxListeners('/proc', runner);
    expect(r.source).toMatch(/net\/tcp/);
    expect(Array.isArray(r.listeners)).toBe(true);
  });
});

describe('doctor-inputs: sampling', () => {
  it('Linux: two reads an interval apart; counters that moved between them become findings', async () => {
    const root = tmp();
    mkdirSync(join(root, 'net'));
    const t0 = `${FIXTURES}/proc/busy-server/t0/net`;
    const t1 = `${FIXTURES}/proc/busy-server/t1/net`;
    for (const f of ['snmp', 'netstat']) copyFileSync(join(t0, f), join(root, 'net', f));
    writeSysctls(root, Object.fromEntries(LINUX_DOCTOR_SETTINGS.map((n) => [n, '1\n'])));
    let clock = 0;
    let slept = 0;
    const g = await gatherDoctorInput({
      os: 'linux',
      procRoot: root,
      intervalSeconds: 3,
      now: () => clock,
      sleep: async (ms) => {
        // The "time" passes and the kernel counts: the second read sees t1.
        slept++;
        clock += ms;
        for (const f of ['snmp', 'netstat']) copyFileSync(join(t1, f), join(root, 'net', f));
      },
    });
    expect(slept).toBe(3);
    expect(g.input.intervalSeconds).toBe(3);
    expect(g.input.after.TCPAbortOnClose! - g.input.before.TCPAbortOnClose!).toBe(15);
    expect(g.problems).toEqual([]);
    const fs = diagnose(g.input);
    expect(byId(fs, 'abort-on-close').evidence[0]).toMatch(/^TCPAbortOnClose \+15 in 3\.0 s \(5\.00\/s\)/);
    expect(byId(fs, 'abort-on-data').severity).toBe('info');
    expect(byId(fs, 'syncookies').severity).toBe('ok');
  });

  it('interval 0 reads once: before and after are the same read, no sleep', async () => {
    let slept = false;
    const g = await gatherDoctorInput({
      os: 'linux',
      procRoot: `${FIXTURES}/proc/linux-6.18`,
      intervalSeconds: 0,
      sleep: async () => {
        slept = true;
      },
    });
    expect(slept).toBe(false);
    expect(g.input.before).toBe(g.input.after);
    expect(g.input.intervalSeconds).toBe(0);
    // The fixture tree has no sys/: every setting unknown, said once each.
    expect(Object.values(g.settings).every((v) => v === undefined)).toBe(true);
    expect(g.problems.filter((p) => p.code === 'W_SYSCTL_MISSING').length).toBe(LINUX_DOCTOR_SETTINGS.length);
  });

  it('FreeBSD: settings from sysctl -i, movement between two netstat reads', async () => {
    const fix = `${FIXTURES}/freebsd/freebsd-14`;
    const netstat0 = readFileSync(`${fix}/netstat-s-p-tcp.json`, 'utf8');
    const netstat1 = netstat0
      .replace('"listen-queue-overflows":57', '"listen-queue-overflows":87')
      .replace('"ignored-in-window-resets":1342', '"ignored-in-window-resets":1343');
    expect(netstat1).not.toBe(netstat0);
    let reads = 0;
    const runner: CommandRunner = async (cmd) => {
      if (cmd === '/usr/bin/netstat')
        return { code: 0, stdout: reads++ === 0 ? netstat0 : netstat1, stderr: '' };
      return {
        code: 0,
        stdout: readFileSync(`${fix}/sysctl.txt`, 'utf8').replace('syncookies: 1', 'syncookies: 0'),
        stderr: '',
      };
    };
    let clock = 0;
    const g = await gatherDoctorInput({
      os: 'freebsd',
      runner,
      intervalSeconds: 2,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    expect(g.settings['net.inet.tcp.syncookies']).toBe(0);
    expect(g.settings['kern.ipc.soacceptqueue']).toBe(4096);
    const fs = diagnose(g.input);
    expect(byId(fs, 'listen-queue').severity).toBe('critical'); // 30 in 2 s = 15/s
    expect(byId(fs, 'challenge-ack').severity).toBe('info');
    expect(byId(fs, 'syncookies').severity).toBe('warning');
    expect(byId(fs, 'syn-cookies-sent').severity).toBe('ok');
  });
});
