// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Netdata's variables and traces are written `${name}`.
/**
 * The built-in variables of shared/design/netdata-health-semantics.md §2.6, at engine level: each alert
 * below computes one variable in its `calc` (or shows it in its warn trace), and every value is checked
 * against a number worked out by hand from the series.
 *
 * The series (per-second rates r(t), counters collected at t + 0.2 s, S = SIM_START):
 *   AttemptFails   0 for S..S+4, 10 for S+5..S+14, 30 from S+15       ('0x5 10x10 30x40')
 *   TCPSynRetrans  0 for S..S+2, 4 from S+3                            ('0x3 4x52')
 *   ActiveOpens    7 from S                                            ('7x55')
 * The raw counter after the collection of second t is its start (1000 for the handshake counters, 0 for the
 * others) plus every r(u) for u ≤ t. The stored slot t is 0.2·r(t−1) + 0.8·r(t), and 0.8·r(t) for the
 * first slot after the start (slot S itself is a gap): so AttemptFails slot S+11 = 10, S+15 = 2 + 24 = 26,
 * S+21 = 30; SynRetrans slot S+11 = 4; ActiveOpens slot S+1 = 5.6, later 7.
 *
 * Alerts without a lookup are runnable from the second collection (S+1) and run at S+1, S+11, …; those with
 * a `-10s` lookup from S+9, then S+19, … (§3.2). At iterate(t) the lookup window is [t−10, t−1].
 */

import { describe, expect, it } from 'vitest';
import { STATUS } from '../../src/health/types.js';
import { HealthSim, SIM_START as S } from '../helpers/health-sim.js';

const alarm = (name: string, body: string) => `
 alarm: ${name}
    on: ip.tcphandshake
 every: 10s
${body}
`;
const LOOKUP = 'lookup: average -10s unaligned of AttemptFails\n every: 10s';

const CONFIG = [
  alarm('v_now', 'calc: $now'),
  alarm('v_after', `${LOOKUP}\ncalc: $after`),
  alarm('v_before', `${LOOKUP}\ncalc: $before`),
  alarm('v_last_collected_t', 'calc: $last_collected_t'),
  alarm('v_update_every', 'calc: $update_every'),
  alarm('v_dim', 'calc: $AttemptFails'),
  alarm('v_dim_raw', 'calc: $AttemptFails_raw'),
  alarm('v_dim_last_collected_t', 'calc: $AttemptFails_last_collected_t'),
  alarm('v_dim_by_name', 'calc: $SynRetrans'),
  alarm('v_dim_by_id', 'calc: $TCPSynRetrans'),
  alarm('v_dim_name_raw', 'calc: $SynRetrans_raw'),
  alarm('v_braces', 'calc: ${AttemptFails_raw} - ${AttemptFails}'),
  alarm('v_this', `${LOOKUP}\ncalc: $this * 2\nwarn: $this > 1000`),
  alarm('v_status', 'calc: $status\nwarn: $this >= 0'),
  alarm('v_other_same_phase', `${LOOKUP}\ncalc: $v_after + 1`),
  alarm('v_other_other_phase', 'calc: $v_after'),
  alarm('v_uptime', 'calc: $netdata.uptime.uptime'),
  alarm('v_chart_dimension', 'calc: $ip.tcpopens.active'),
  alarm(
    'v_constants',
    'calc: $REMOVED*100000 + $UNDEFINED + $UNINITIALIZED*10 + $CLEAR*100 + $WARNING*1000 + $CRITICAL*10000',
  ),
  alarm('v_green_red', 'green: 10\nred: 20\ncalc: $green + $red'),
].join('');

/** r(t) of the series above. */
const rAttempt = (t: number) => (t < S + 5 ? 0 : t < S + 15 ? 10 : 30);
const rSyn = (t: number) => (t < S + 3 ? 0 : 4);
const sumTo = (r: (t: number) => number, t: number) => {
  let n = 0;
  for (let u = S; u <= t; u++) n += r(u);
  return n;
};
const slot = (r: (t: number) => number, t: number) =>
  t === S + 1 ? 0.8 * r(t) : 0.2 * r(t - 1) + 0.8 * r(t);

describe('built-in variables (§2.6), hand-computed', () => {
  const sim = new HealthSim({ config: CONFIG }).run({
    AttemptFails: '0x5 10x10 30x40',
    TCPSynRetrans: '0x3 4x52',
    ActiveOpens: '7x55',
  });
  const values = (name: string) => sim.evaluationsOf(name).map((e) => [e.t - S, e.value]);
  const NO_LOOKUP = [1, 11, 21, 31, 41, 51];
  const WITH_LOOKUP = [9, 19, 29, 39, 49];

  it('the series helpers agree with the literal anchors', () => {
    expect([slot(rAttempt, S + 11), slot(rAttempt, S + 15), slot(rAttempt, S + 21)]).toEqual([10, 26, 30]);
    expect(1000 + sumTo(rAttempt, S + 21)).toBe(1310);
  });

  it('$now is the iteration second', () => {
    expect(values('v_now')).toEqual(NO_LOOKUP.map((k) => [k, S + k]));
  });

  it('$after and $before are the lookup window [t−10, t−1] of this iteration', () => {
    expect(values('v_after')).toEqual(WITH_LOOKUP.map((k) => [k, S + k - 10]));
    expect(values('v_before')).toEqual(WITH_LOOKUP.map((k) => [k, S + k - 1]));
  });

  it('$last_collected_t is the second of the chart’s last collection (t + 0.2 s → t); $update_every 1', () => {
    expect(values('v_last_collected_t')).toEqual(NO_LOOKUP.map((k) => [k, S + k]));
    expect(values('v_update_every')).toEqual(NO_LOOKUP.map((k) => [k, 1]));
  });

  it('a dimension of the chart is its last stored value; `_raw` the last collected counter; `_last_collected_t` its time', () => {
    // S+1: slot 0 (r = 0); S+11: 10; S+21 … 30. Raw: 1000 at S+1, 1070 at S+11 (10·7), 1310 at S+21.
    expect(values('v_dim')).toEqual([
      [1, 0],
      [11, 10],
      [21, 30],
      [31, 30],
      [41, 30],
      [51, 30],
    ]);
    expect(values('v_dim_raw')).toEqual([
      [1, 1000],
      [11, 1070],
      [21, 1310],
      [31, 1610],
      [41, 1910],
      [51, 2210],
    ]);
    expect(values('v_dim_raw')).toEqual(NO_LOOKUP.map((k) => [k, 1000 + sumTo(rAttempt, S + k)]));
    expect(values('v_dim_last_collected_t')).toEqual(NO_LOOKUP.map((k) => [k, S + k]));
    // ${…} names the same variables: raw − stored.
    expect(values('v_braces')).toEqual(
      NO_LOOKUP.map((k) => [k, 1000 + sumTo(rAttempt, S + k) - (k === 1 ? 0 : slot(rAttempt, S + k))]),
    );
  });

  it('a dimension is found by its id (TCPSynRetrans) and by its name (SynRetrans)', () => {
    // SynRetrans slot S+1 = 0, then 4 (r = 4 from S+3); raw = 1000 + 4·(t − S − 2).
    expect(values('v_dim_by_name')).toEqual(NO_LOOKUP.map((k) => [k, k === 1 ? 0 : 4]));
    expect(values('v_dim_by_id')).toEqual(values('v_dim_by_name'));
    expect(values('v_dim_name_raw')).toEqual(NO_LOOKUP.map((k) => [k, 1000 + sumTo(rSyn, S + k)]));
    expect(values('v_dim_name_raw')[1]).toEqual([11, 1036]);
  });

  it('$this is the value after lookup and calc: the lookup average doubled, in the warn trace too', () => {
    // S+19: window [S+9, S+18] = slots 10,10,10,10,10,10 (S+9..S+14), 26 (S+15), 30,30,30 → 176/10 = 17.6.
    const ev = sim.evaluationAt('v_this', S + 19);
    expect(ev.value).toBeCloseTo(2 * 17.6, 9);
    expect(ev.warnTrace).toContain('[ ${this} = 35.2 ]');
    // S+29: all 30 → 60.
    expect(sim.evaluationAt('v_this', S + 29).value).toBeCloseTo(60, 9);
  });

  it('$status is the status before this evaluation: UNINITIALIZED (0) first, WARNING (3) after', () => {
    expect(sim.evaluationsOf('v_status').map((e) => [e.value, e.status])).toEqual([
      [0, STATUS.WARNING],
      ...Array.from({ length: 5 }, () => [3, STATUS.WARNING]),
    ]);
  });

  it('another alert by name: its value of this iteration (same phase), or of its last run (other phase)', () => {
    // Same phase (S+9+10k): pass 1 ran v_after first in file order → $v_after + 1 = (t − 10) + 1.
    expect(values('v_other_same_phase')).toEqual(WITH_LOOKUP.map((k) => [k, S + k - 9]));
    // Other phase (S+1+10k): at S+1 v_after has not run (NaN → the calc fails → NaN); at S+11 it is the
    // value v_after computed at S+9: S+9 − 10 = S − 1; at S+21 the one of S+19, …
    const other = values('v_other_other_phase');
    expect(other[0]![1]).toBeNaN();
    expect(other.slice(1)).toEqual([11, 21, 31, 41, 51].map((k) => [k, S + k - 12]));
  });

  it('$netdata.uptime.uptime (chart.dimension of another chart) is the agent’s uptime; $ip.tcpopens.active by name', () => {
    expect(values('v_uptime')).toEqual(NO_LOOKUP.map((k) => [k, k]));
    // ActiveOpens (name `active`) r = 7 from S: slot S+1 = 0.8·7 = 5.6, then 7.
    expect(values('v_chart_dimension')).toEqual(NO_LOOKUP.map((k) => [k, k === 1 ? 5.6 : 7]));
  });

  it('status constants have the code’s values; $green and $red are the alert’s constants', () => {
    // −2·100000 − 1 + 0 + 100 + 3000 + 40000
    expect(values('v_constants')).toEqual(NO_LOOKUP.map((k) => [k, -156901]));
    expect(values('v_green_red')).toEqual(NO_LOOKUP.map((k) => [k, 30]));
  });
});
