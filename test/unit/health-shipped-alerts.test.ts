/**
 * Our own shipped alerts (defaults/health.d/rstwatch_resets.conf) in simulated time, and the shipped reset
 * alerts (tcp_resets.conf) on FreeBSD. The harness and its arithmetic are described in
 * test/helpers/health-sim.ts; in short:
 * - S = SIM_START; counters are collected at t + 0.2 s, so the stored per-second slot is
 *   slot(t) = 0.2·r(t−1) + 0.8·r(t), the first slot of a run of events is 0.8·r and the one after its end
 *   0.2·r: a burst of N events stores N in total.
 * - A lookup `-1m` reads the slots [t−60, t−1] at iterate(t); it is runnable from S+59 (§3.2 rule 7:
 *   now − 60 + 1 ≥ the first slot S), so the 1-minute alerts run at S+59, S+69, … A `-10s` lookup reads
 *   [t−10, t−1] and runs at S+9, S+19, …
 * - `sum` over a window of per-second slots is the number of events in it; `average` divides by 60 (10).
 * - None of these alerts has an `up` delay, so a raise is notified in the iteration that raises it; the
 *   `down` delays (5 or 10 minutes, multiplier 1.5) apply to clears, and to anything inside their window.
 */

import { describe, expect, it } from 'vitest';
import { parseHealthConfig } from '../../src/health/config.js';
import { FLAG } from '../../src/health/engine.js';
import { STATUS } from '../../src/health/types.js';
import { chartDefs } from '../../src/model/charts.js';
import { findTopic } from '../../src/model/explain.js';
import {
  HealthSim,
  hasFlag,
  RSTWATCH_RESETS_CONF,
  SIM_START as S,
  shippedOwnAlerts,
  shippedResetAlerts,
  TCP_RESETS_CONF,
} from '../helpers/health-sim.js';

const LISTEN = 'rstwatch_listen_queue_overflows';
const CHALLENGE = 'rstwatch_challenge_ack_surge';
const FREEBSD_IGNORED = 'rstwatch_freebsd_ignored_resets';
const COOKIES = 'rstwatch_syncookies_sent';
const UNREAD = 'rstwatch_aborts_unread_data';
const LINGER = 'rstwatch_aborts_linger_or_late_data';
const MEMORY = 'rstwatch_aborts_memory';
const TIMEOUT = 'rstwatch_aborts_timeout';

const own = (os: 'linux' | 'freebsd' = 'linux') =>
  new HealthSim({ config: shippedOwnAlerts(), file: RSTWATCH_RESETS_CONF, os });

/** Transitions relative to S: `[t − S, 'OLD→NEW', delay]`. */
const rel = (sim: HealthSim, name: string) =>
  sim.transitionsOf(name).map(([t, what, delay]) => [t - S, what, delay] as const);
/** Notifications relative to S: `[executed at − S, status]`. */
const sent = (sim: HealthSim, name: string) =>
  sim.notificationsOf(name).map((n) => [n.t - S, n.newStatus] as const);

describe('rstwatch_resets.conf loads and binds where its charts are', () => {
  it('parses without errors; every alert has a summary, an info, class/type/component and `to`', () => {
    const r = parseHealthConfig(shippedOwnAlerts(), RSTWATCH_RESETS_CONF);
    expect(r.problems).toEqual([]);
    expect(r.alerts.map((a) => a.name)).toEqual([
      LISTEN,
      CHALLENGE,
      FREEBSD_IGNORED,
      COOKIES,
      UNREAD,
      LINGER,
      MEMORY,
      TIMEOUT,
    ]);
    for (const a of r.alerts) {
      expect(a.kind, a.name).toBe('template');
      expect(a.summary, a.name).toBeTruthy();
      expect(a.info?.length, a.name).toBeGreaterThan(100);
      expect([a.class, a.type, a.component, a.to], a.name).toEqual([
        'Errors',
        'System',
        'Network',
        'sysadmin',
      ]);
      expect(a.every, a.name).toBe(10);
    }
  });

  it('Linux: everything but the FreeBSD alert; FreeBSD: listen queue, cookies and its in-window resets', () => {
    const names = (sim: HealthSim) => sim.engine.alerts.map((a) => `${a.compiled.config.name} ${a.chartId}`);
    expect(names(own('linux'))).toEqual([
      `${LISTEN} ip.tcp_accept_queue`,
      `${CHALLENGE} rstwatch.tcp_challenge_acks`,
      `${COOKIES} ip.tcp_syncookies`,
      `${UNREAD} ip.tcpconnaborts`,
      `${LINGER} ip.tcpconnaborts`,
      `${MEMORY} ip.tcpconnaborts`,
      `${TIMEOUT} ip.tcpconnaborts`,
    ]);
    // FreeBSD has no challenge-ACK or abort-reason counters (field guide §6.4): those charts do not exist.
    expect(names(own('freebsd'))).toEqual([
      `${LISTEN} ip.tcp_accept_queue`,
      `${FREEBSD_IGNORED} rstwatch.tcp_freebsd_resets`,
      `${COOKIES} ip.tcp_syncookies`,
    ]);
  });
});

describe('what each alert says agrees with `rstwatch explain` (src/model/explain.ts)', () => {
  // Each `info` names the topics to read (`rstwatch explain TOPIC`); each named topic must exist, and the
  // counter the alert watches must be one the topic says moves for that cause.
  const files: [string, string][] = [
    [RSTWATCH_RESETS_CONF, shippedOwnAlerts()],
    [TCP_RESETS_CONF, shippedResetAlerts()],
  ];
  const counterOf = (chartContext: string, dim: string): string[] => {
    const out = new Set<string>();
    for (const os of ['linux', 'freebsd'] as const)
      for (const def of chartDefs(os))
        if (def.context === chartContext || [`${def.type}.${def.id}`, ...def.aliases].includes(chartContext))
          for (const d of def.dimensions)
            if (d.id === dim || d.name === dim) for (const c of d.counters) out.add(c);
    return [...out];
  };

  for (const [file, text] of files) {
    const alerts = parseHealthConfig(text, file).alerts.filter((a) => a.info !== undefined);
    it.each(alerts.map((a) => [a.name, a] as const))('%s', (_name, a) => {
      const topics = [...(a.info ?? '').matchAll(/`rstwatch explain ([a-z-]+)`/g)].map((m) => m[1]!);
      // The 1m baselines describe themselves only; the others must send the reader somewhere.
      if (a.warn === undefined) return expect(topics).toEqual([]);
      expect(topics.length, 'names a topic').toBeGreaterThan(0);
      const counters = counterOf(a.on, a.lookup?.dimensions ?? '');
      expect(counters.length, `${a.lookup?.dimensions} is a dimension of ${a.on}`).toBeGreaterThan(0);
      for (const id of topics) expect(findTopic(id)?.id, `topic ${id}`).toBe(id);
      const listed = topics.flatMap((id) => {
        const t = findTopic(id)!;
        return [...t.counters.linux, ...t.counters.freebsd];
      });
      expect(
        counters.some((c) => listed.includes(c)),
        `${counters} in ${topics}`,
      ).toBe(true);
    });
  }
});

describe('rstwatch_listen_queue_overflows: sum of ListenOverflows over a minute', () => {
  it('a burst of 15 overflows → WARNING while it is in the window, CLEAR after, both notified', () => {
    // r = 3 for S+100..S+104: slots S+100 = 2.4, S+101..S+104 = 3, S+105 = 0.6 (15 in all).
    // S+109: [S+49, S+108] holds all 15 → 15 > 0 → WARNING (delay: no `up` → 0, notified at once).
    // S+159: [S+99, S+158] still 15; S+169: [S+109, S+168] = 0 → CLEAR; S+169 > S+109 (the raise's window)
    //   → the delays reset → down 5m = 300 → notified at S+469 (a WARNING was sent: not a "first CLEAR").
    const sim = own().run({ ListenOverflows: '0x100 3x5 0x400' });
    expect(sim.evaluationAt(LISTEN, S + 109).value).toBeCloseTo(15, 9);
    expect(sim.evaluationAt(LISTEN, S + 159).value).toBeCloseTo(15, 9);
    expect(sim.evaluationAt(LISTEN, S + 169).value).toBe(0);
    expect(rel(sim, LISTEN)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [169, 'WARNING→CLEAR', 300],
    ]);
    expect(sent(sim, LISTEN)).toEqual([
      [109, STATUS.WARNING],
      [469, STATUS.CLEAR],
    ]);
  });

  it('150 overflows in 30 s → WARNING, CRITICAL above 100, back down through WARNING; the flap back is never sent', () => {
    // r = 5 for S+100..S+129: slots S+100 = 4, S+101..S+129 = 5, S+130 = 1 (150 in all).
    // S+109: 4 + 8·5 = 44 → WARNING; S+119: 94; S+129: 4 + 28·5 = 144 > 100 → CRITICAL (S+129 > S+109:
    //   reset, up 0). S+169: [S+109, S+168] = 21·5 + 1 = 106 → still CRITICAL. S+179: [S+119, S+178] =
    //   11·5 + 1 = 56 → WARNING (down: reset → 300, window to S+479). S+189: 5 + 1 = 6 → WARNING.
    //   S+199: 0 → CLEAR inside the window → ×1.5 → down 450.
    // Sent: WARNING at S+109, CRITICAL at S+129. The WARNING of S+179 is superseded at S+199, before its
    //   S+479: never sent. The CLEAR at S+199 + 450 = S+649 (the last one sent was CRITICAL).
    const sim = own().run({ ListenOverflows: '0x100 5x30 0x600' });
    expect(
      [109, 119, 129, 169, 179, 189, 199].map((k) =>
        Number(sim.evaluationAt(LISTEN, S + k).value.toFixed(6)),
      ),
    ).toEqual([44, 94, 144, 106, 56, 6, 0]);
    expect(rel(sim, LISTEN)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [129, 'WARNING→CRITICAL', 0],
      [179, 'CRITICAL→WARNING', 300],
      [199, 'WARNING→CLEAR', 450],
    ]);
    expect(sent(sim, LISTEN)).toEqual([
      [109, STATUS.WARNING],
      [129, STATUS.CRITICAL],
      [649, STATUS.CLEAR],
    ]);
    const flap = sim.entriesOf(LISTEN).find((e) => e.when === S + 179)!;
    expect(hasFlag(flap, FLAG.UPDATED)).toBe(true);
    expect(hasFlag(flap, FLAG.EXEC_RUN)).toBe(false);
  });
});

describe('rstwatch_challenge_ack_surge: average TCPChallengeACK/s over a minute, raise > 20, hold > 5', () => {
  // r = 30 for S+100..S+159, 10 for S+160..S+219, 4 for S+220..S+279, then 0. Slots: S+100 = 24,
  // S+101..S+159 = 30, S+160 = 6 + 8 = 14, S+161..S+219 = 10, S+220 = 2 + 3.2 = 5.2, S+221..S+279 = 4,
  // S+280 = 0.8.
  const series = '0x100 30x60 10x60 4x60 0x100';

  it('raises only once the minute is above 20/s, holds down to 5/s, then clears', () => {
    const sim = own().run({ TCPChallengeACK: series });
    const v = (k: number) => sim.evaluationAt(CHALLENGE, S + k);
    // S+139: (24 + 38·30)/60 = 19.4 ≤ 20 → still CLEAR; S+149: (24 + 48·30)/60 = 24.4 → WARNING.
    expect(v(139).value).toBeCloseTo(19.4, 9);
    expect(v(139).status).toBe(STATUS.CLEAR);
    expect(v(149).value).toBeCloseTo(24.4, 9);
    expect(v(149).status).toBe(STATUS.WARNING);
    // S+219: [S+159, S+218] = (30 + 14 + 58·10)/60 = 10.4: would not raise (≤ 20), but holds (> 5).
    expect(v(219).value).toBeCloseTo(10.4, 9);
    expect(v(219).status).toBe(STATUS.WARNING);
    // S+269: (11·10 + 5.2 + 48·4)/60 = 5.12 > 5 → held; S+279: (10 + 5.2 + 58·4)/60 = 4.12 → CLEAR.
    expect(v(269).value).toBeCloseTo(5.12, 9);
    expect(v(269).status).toBe(STATUS.WARNING);
    expect(v(279).value).toBeCloseTo(4.12, 9);
    expect(v(279).status).toBe(STATUS.CLEAR);
    expect(v(269).warnTrace).toContain(`[ \${status} = 3 ]`);
    expect(rel(sim, CHALLENGE)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [149, 'CLEAR→WARNING', 0],
      [279, 'WARNING→CLEAR', 600],
    ]);
    expect(sent(sim, CHALLENGE)).toEqual([[149, STATUS.WARNING]]);
  });

  it('a steady 10/s (between the hold and the raise thresholds) never raises from CLEAR', () => {
    const sim = own().run({ TCPChallengeACK: '10x300' });
    expect(sim.evaluationAt(CHALLENGE, S + 299).value).toBeCloseTo(10, 9);
    expect(rel(sim, CHALLENGE)).toEqual([[59, 'UNINITIALIZED→CLEAR', 0]]);
  });
});

describe('rstwatch_syncookies_sent: average cookies/s over 10 s, WARNING above 0, CRITICAL above 1000', () => {
  it('a few cookies warn; a 1500/s flood is CRITICAL; a repeated WARNING is not sent twice', () => {
    // r = 2 for S+100..S+102: slots 1.6, 2, 2, 0.4 (6) → S+109: [S+99, S+108] = 0.6 → WARNING (reset, 0);
    //   S+119: 0 → CLEAR (S+119 > S+109 → reset → down 600, window to S+719).
    // r = 1500 for S+153..S+182: slots S+153 = 1200, S+154..S+182 = 1500, S+183 = 300.
    //   S+159: (1200 + 5·1500)/10 = 870 → WARNING (inside the window: ×1.5 → up 0, down 900 → delay 0);
    //   S+169: 1500 → CRITICAL (S+169 > S+159 → reset → up 0); S+179: 1500; S+189: (4·1500 + 300)/10 = 630
    //   → WARNING (reset → down 600, to S+789); S+199: 0 → CLEAR (inside → ×1.5 → 900).
    // Sent: WARNING S+109; the CLEAR of S+119 is superseded before S+719: never; the WARNING of S+159 is
    //   processed at once but the last one sent was a WARNING too: not sent (§3.8 step 4); CRITICAL S+169;
    //   the WARNING of S+189 superseded at S+199 (< S+789): never; the CLEAR at S+199 + 900 = S+1099.
    const sim = own().run({ SyncookiesSent: '0x100 2x3 0x50 1500x30 0x930' });
    expect([109, 119, 159, 169, 179, 189, 199].map((k) => sim.evaluationAt(COOKIES, S + k).value)).toEqual([
      expect.closeTo(0.6, 9),
      0,
      expect.closeTo(870, 9),
      expect.closeTo(1500, 9),
      expect.closeTo(1500, 9),
      expect.closeTo(630, 9),
      0,
    ]);
    expect(rel(sim, COOKIES)).toEqual([
      [9, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [119, 'WARNING→CLEAR', 600],
      [159, 'CLEAR→WARNING', 0],
      [169, 'WARNING→CRITICAL', 0],
      [189, 'CRITICAL→WARNING', 600],
      [199, 'WARNING→CLEAR', 900],
    ]);
    expect(sent(sim, COOKIES)).toEqual([
      [109, STATUS.WARNING],
      [169, STATUS.CRITICAL],
      [1099, STATUS.CLEAR],
    ]);
    const again = sim.entriesOf(COOKIES).find((e) => e.when === S + 159)!;
    expect([hasFlag(again, FLAG.PROCESSED), hasFlag(again, FLAG.EXEC_RUN)]).toEqual([true, false]);
  });
});

describe('aborts by reason (ip.tcpconnaborts)', () => {
  it('close with unread data and zero linger / late data: raise above 20/s over a minute, hold above 5/s', () => {
    // Both counters r = 25 for S+100..S+169: slots S+100 = 20, S+101..S+169 = 25, S+170 = 5.
    // S+139: (20 + 38·25)/60 = 16.17 → CLEAR; S+149: (20 + 48·25)/60 = 20.33 → WARNING.
    // S+209: [S+149, S+208] = (21·25 + 5)/60 = 8.83 → held; S+219: (11·25 + 5)/60 = 4.67 → CLEAR (reset, 600).
    const sim = own().run({ TCPAbortOnClose: '0x100 25x70 0x100', TCPAbortOnData: '0x100 25x70 0x100' });
    for (const name of [UNREAD, LINGER]) {
      expect(sim.evaluationAt(name, S + 139).value, name).toBeCloseTo(970 / 60, 9);
      expect(sim.evaluationAt(name, S + 149).value, name).toBeCloseTo(1220 / 60, 9);
      expect(sim.evaluationAt(name, S + 209).value, name).toBeCloseTo(530 / 60, 9);
      expect(sim.evaluationAt(name, S + 219).value, name).toBeCloseTo(280 / 60, 9);
      expect(rel(sim, name), name).toEqual([
        [59, 'UNINITIALIZED→CLEAR', 0],
        [149, 'CLEAR→WARNING', 0],
        [219, 'WARNING→CLEAR', 600],
      ]);
      expect(sent(sim, name), name).toEqual([[149, STATUS.WARNING]]);
    }
    // The other reasons did not move.
    expect(rel(sim, MEMORY)).toEqual([[59, 'UNINITIALIZED→CLEAR', 0]]);
    expect(rel(sim, TIMEOUT)).toEqual([[59, 'UNINITIALIZED→CLEAR', 0]]);
  });

  it('each alert watches its own reason only', () => {
    const sim = own().run({ TCPAbortOnData: '0x100 25x70 0x30' });
    expect(rel(sim, LINGER).map(([t, w]) => [t, w])).toContainEqual([149, 'CLEAR→WARNING']);
    expect(rel(sim, UNREAD)).toEqual([[59, 'UNINITIALIZED→CLEAR', 0]]);
  });

  it('memory: a single reset under memory pressure is a WARNING for the minute it is in the window', () => {
    // r = 1 at S+100: slots S+100 = 0.8, S+101 = 0.2 → S+109: [S+49, S+108] = 1 → WARNING; S+159:
    // [S+99, S+158] = 1; S+169: [S+109, S+168] = 0 → CLEAR (down 600).
    const sim = own().run({ TCPAbortOnMemory: '0x100 1 0x100' });
    expect(sim.evaluationAt(MEMORY, S + 109).value).toBeCloseTo(1, 9);
    expect(sim.evaluationAt(MEMORY, S + 159).value).toBeCloseTo(1, 9);
    expect(rel(sim, MEMORY)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [169, 'WARNING→CLEAR', 600],
    ]);
    expect(sent(sim, MEMORY)).toEqual([[109, STATUS.WARNING]]);
  });

  it('timeouts: 12 in a minute raise (> 10); 5 more keep it raised (> 2) though 5 alone never raise', () => {
    // r = 4 for S+100..S+102: slots 3.2, 4, 4, 0.8 (12). r = 1 for S+153..S+157: 0.8, 1, 1, 1, 1, 0.2 (5).
    // S+109: 12 → WARNING. S+159: [S+99, S+158] = 17. S+169: [S+109, S+168] = 5 > 2 → held.
    // S+209: [S+149, S+208] = 5 → held; S+219: [S+159, S+218] = 0 → CLEAR.
    const sim = own().run({ TCPAbortOnTimeout: '0x100 4x3 0x50 1x5 0x100' });
    expect([109, 159, 169, 209, 219].map((k) => sim.evaluationAt(TIMEOUT, S + k).value)).toEqual([
      expect.closeTo(12, 9),
      expect.closeTo(17, 9),
      expect.closeTo(5, 9),
      expect.closeTo(5, 9),
      0,
    ]);
    expect(rel(sim, TIMEOUT)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [219, 'WARNING→CLEAR', 600],
    ]);
    const alone = own().run({ TCPAbortOnTimeout: '0x100 1x5 0x100' });
    expect(alone.evaluationAt(TIMEOUT, S + 109).value).toBeCloseTo(5, 9);
    expect(rel(alone, TIMEOUT)).toEqual([[59, 'UNINITIALIZED→CLEAR', 0]]);
  });
});

describe('FreeBSD', () => {
  it("rstwatch_freebsd_ignored_resets: netstat's ignored-in-window-resets, the same thresholds as challenge ACKs", () => {
    // The same series and arithmetic as the challenge ACK test above, on FreeBSD's counter.
    const sim = own('freebsd').run({ 'ignored-in-window-resets': '0x100 30x60 10x60 4x60 0x40' });
    expect(sim.evaluationAt(FREEBSD_IGNORED, S + 219).value).toBeCloseTo(10.4, 9);
    expect(rel(sim, FREEBSD_IGNORED)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [149, 'CLEAR→WARNING', 0],
      [279, 'WARNING→CLEAR', 600],
    ]);
    expect(sent(sim, FREEBSD_IGNORED)).toEqual([[149, STATUS.WARNING]]);
  });

  it('listen-queue-overflows and syncache.sent-cookies feed the same templates as on Linux', () => {
    const sim = own('freebsd').run({
      'listen-queue-overflows': '0x100 3x5 0x100',
      'syncache.sent-cookies': '0x100 2x3 0x30',
    });
    expect(rel(sim, LISTEN)).toEqual([
      [59, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [169, 'WARNING→CLEAR', 300],
    ]);
    expect(rel(sim, COOKIES).slice(0, 3)).toEqual([
      [9, 'UNINITIALIZED→CLEAR', 0],
      [109, 'CLEAR→WARNING', 0],
      [119, 'WARNING→CLEAR', 600],
    ]);
  });

  const R10 = '10s_ipv4_tcp_resets_received';
  const R1M = '1m_ipv4_tcp_resets_received';

  it('10s_ipv4_tcp_resets_received binds on FreeBSD (AttemptFails ← tcps_conndrops) and fires exactly as on Linux', () => {
    // The §3.7 series of health-sim.test.ts (t0 = S+209): on FreeBSD the chart is the same
    // ip.tcphandshake (alias ipv4.tcphandshake, Netdata's FreeBSD id), the same AttemptFails dimension.
    const series = '1x198 80x11 60x10 40x10 1x69 80x11 1x89 80x51 1x20';
    const bsd = new HealthSim({ os: 'freebsd' }).run(series);
    const linux = new HealthSim({ os: 'linux' }).run(series);
    expect(bsd.engine.alerts.map((a) => `${a.compiled.config.name} ${a.chartId}`)).toEqual([
      `${R1M} ip.tcphandshake`,
      `${R10} ip.tcphandshake`,
    ]);
    expect(bsd.alert(R10).chart.instance.names).toContain('ipv4.tcphandshake');
    expect(bsd.alert(R10).chart.instance.def.plugin).toBe('freebsd');
    const t0 = S + 209;
    expect(bsd.transitionsOf(R10)).toEqual([
      [S + 9, 'UNINITIALIZED→CLEAR', 20],
      [t0, 'CLEAR→WARNING', 20],
      [t0 + 30, 'WARNING→CLEAR', 3600],
      [t0 + 100, 'CLEAR→WARNING', 24],
      [t0 + 110, 'WARNING→CLEAR', 5184],
      [t0 + 200, 'CLEAR→WARNING', 33],
      [t0 + 250, 'WARNING→CLEAR', 3600],
    ]);
    expect(bsd.transitionsOf(R10)).toEqual(linux.transitionsOf(R10));
    expect(bsd.notificationsOf(R10).map((n) => [n.t - t0, n.newStatus])).toEqual([
      [20, STATUS.WARNING],
      [233, STATUS.WARNING],
    ]);
    expect(bsd.transitionsOf(R1M)).toEqual([[S + 69, 'UNINITIALIZED→UNDEFINED', 0]]);
  });

  it('an alarm written for Netdata on FreeBSD (`on: ipv4.tcphandshake`, _os=freebsd) binds to the same chart', () => {
    const netdataStyle = shippedResetAlerts()
      .replaceAll('on: ip.tcphandshake', 'on: ipv4.tcphandshake')
      .replaceAll('_os=linux freebsd', '_os=freebsd');
    const sim = new HealthSim({ os: 'freebsd', config: netdataStyle }).run('0x199 75x10 0x30');
    expect(sim.alert(R10).chartId).toBe('ip.tcphandshake');
    expect(sim.transitionsOf(R10).slice(1)).toEqual([
      [S + 209, 'CLEAR→WARNING', 20],
      [S + 219, 'WARNING→CLEAR', 4320],
    ]);
  });

  it('the sent pair does not bind on FreeBSD: struct tcpstat has no RST-only counter (only tcps_sndctrl)', () => {
    // _os=linux keeps them off, and with good reason: FreeBSD's ip.tcphandshake has no OutRsts dimension.
    const sim = new HealthSim({ os: 'freebsd' });
    const names = sim.engine.alerts.map((a) => a.compiled.config.name);
    expect(names).not.toContain('10s_ipv4_tcp_resets_sent');
    expect(names).not.toContain('1m_ipv4_tcp_resets_sent');
    const dims = sim.store.chart('ip.tcphandshake')!.series.map((s) => s.dim.id);
    expect(dims).toEqual(['EstabResets', 'ActiveOpens', 'PassiveOpens', 'AttemptFails']);
    expect(sim.counterNames.has('sent-control-packets')).toBe(true);
  });
});
