/**
 * Silencers in the alert engine, in simulated time (shared/design/netdata-health-semantics.md §3.3 "apply
 * silencers", §3.8 step 5): a SILENCED alert is evaluated and logged with the SILENCED flag (0x10) and not
 * notified; a DISABLED alert is not evaluated at all (no value, no status change, no log entry); RESET
 * restores both.
 */

import { describe, expect, it } from 'vitest';
import { FLAG } from '../../src/health/engine.js';
import { STATUS } from '../../src/health/types.js';
import { alarmJson } from '../../src/server/netdata-alarms.js';
import { HealthSim, hasFlag, SIM_START as S } from '../helpers/health-sim.js';

const probe = (delay = '') => `
 alarm: silence_probe
    on: ip.tcphandshake
lookup: average -10s unaligned absolute of AttemptFails
 every: 10s
  warn: $this > 50
${delay}
    to: sysadmin

 alarm: other_probe
    on: ip.tcphandshake
lookup: average -10s unaligned absolute of AttemptFails
 every: 10s
  warn: $this > 50
    to: sysadmin
`;
const NAME = 'silence_probe';

// AttemptFails 100/s for S+99..S+148, then 0: the probes run at S+9+10k; WARNING at S+109, CLEAR at S+159.
const SERIES = '0x99 100x50 0x60';

const transitions = (sim: HealthSim, name = NAME) =>
  sim.entries.filter((e) => e.name === name && e.oldStatus >= STATUS.CLEAR && e.newStatus >= STATUS.CLEAR);

describe('silencers in the engine', () => {
  it('baseline: without silencers both probes are notified WARNING then CLEAR', () => {
    const sim = new HealthSim({ config: probe() });
    sim.run(SERIES);
    for (const name of [NAME, 'other_probe']) {
      expect(sim.notificationsOf(name).map((n) => [n.t - S, n.newStatus])).toEqual([
        [109, STATUS.WARNING],
        [159, STATUS.CLEAR],
      ]);
    }
    expect(transitions(sim).some((e) => hasFlag(e, FLAG.SILENCED))).toBe(false);
  });

  it('SILENCE with a selector: transitions logged with SILENCED, not notified; other alerts notified', () => {
    const sim = new HealthSim({ config: probe() });
    sim.engine.silencers.command('SILENCE', { alarm: 'silence_*' });
    sim.run(SERIES);
    const logged = transitions(sim);
    expect(logged.map((e) => [e.when - S, e.newStatus])).toEqual([
      [109, STATUS.WARNING],
      [159, STATUS.CLEAR],
    ]);
    for (const e of logged) {
      expect(hasFlag(e, FLAG.SILENCED)).toBe(true);
      expect(hasFlag(e, FLAG.PROCESSED)).toBe(true);
      expect(hasFlag(e, FLAG.EXEC_RUN)).toBe(false);
    }
    expect(sim.notificationsOf(NAME)).toEqual([]);
    expect(sim.notificationsOf('other_probe')).toHaveLength(2);
    const rt = sim.engine.alerts.find((a) => a.compiled.config.name === NAME)!;
    expect(alarmJson(rt)).toMatchObject({ silenced: true, disabled: false });
    const other = sim.engine.alerts.find((a) => a.compiled.config.name === 'other_probe')!;
    expect(alarmJson(other)).toMatchObject({ silenced: false, disabled: false });
  });

  it('DISABLE: the alert is not evaluated (no value, no status change, no entry); RESET restores it', () => {
    const sim = new HealthSim({ config: probe() });
    sim.run('0x30');
    const rt = sim.engine.alerts.find((a) => a.compiled.config.name === NAME)!;
    expect(rt.status).toBe(STATUS.CLEAR);
    const entriesBefore = sim.entries.filter((e) => e.name === NAME).length;
    const evalsBefore = sim.evaluations.filter((e) => e.name === NAME).length;
    const lastUpdated = rt.lastUpdated;
    sim.engine.silencers.command('DISABLE', { chart: 'ip.tcphandshake', alarm: NAME });
    sim.run('0x69 100x50 0x11'); // raised from S+109 to S+158 while disabled, CLEAR at S+159
    expect(sim.entries.filter((e) => e.name === NAME).length).toBe(entriesBefore);
    expect(sim.evaluations.filter((e) => e.name === NAME).length).toBe(evalsBefore);
    expect(rt.lastUpdated).toBe(lastUpdated);
    expect(rt.status).toBe(STATUS.CLEAR);
    expect(alarmJson(rt)).toMatchObject({ disabled: true, silenced: false });
    // The other probe, not selected, saw the storm.
    expect(sim.notificationsOf('other_probe').map((n) => n.newStatus)).toEqual([
      STATUS.WARNING,
      STATUS.CLEAR,
    ]);
    expect(sim.notificationsOf(NAME)).toEqual([]);
    // RESET: evaluated again; a new storm raises and notifies it.
    sim.engine.silencers.command('RESET', {});
    sim.run('0x20 100x30 0x30');
    expect(rt.disabled).toBe(false);
    expect(sim.evaluations.filter((e) => e.name === NAME).length).toBeGreaterThan(evalsBefore);
    expect(sim.notificationsOf(NAME).map((n) => n.newStatus)).toEqual([STATUS.WARNING, STATUS.CLEAR]);
  });

  it('SILENCE ALL then RESET: the next transition is notified again', () => {
    const sim = new HealthSim({ config: probe() });
    sim.engine.silencers.command('SILENCE ALL', {});
    sim.run(SERIES);
    expect(sim.notifications).toEqual([]);
    expect(transitions(sim, 'other_probe').every((e) => hasFlag(e, FLAG.SILENCED))).toBe(true);
    sim.engine.silencers.command('RESET', {});
    sim.run('100x30 0x30');
    expect(sim.notificationsOf(NAME).map((n) => n.newStatus)).toEqual([STATUS.WARNING, STATUS.CLEAR]);
    const after = transitions(sim).slice(-2);
    expect(after.some((e) => hasFlag(e, FLAG.SILENCED))).toBe(false);
  });

  it('as Netdata, SILENCED is decided when the entry is made: a transition logged before the silencer still pages', () => {
    // delay up 30s: the WARNING of S+109 falls due at S+139; silenced at S+120, before that. Netdata sets the
    // entry's flag from the alert's flags at creation (§3.3) and step 5 reads the entry's flag only (§3.8).
    const sim = new HealthSim({ config: probe('delay: up 30s down 0s') });
    sim.run('0x99 100x21');
    const warning = transitions(sim).find((e) => e.newStatus === STATUS.WARNING)!;
    expect(warning.delayUpToTimestamp - S).toBe(139);
    sim.engine.silencers.command('SILENCE', { alarm: NAME });
    sim.run('100x29 0x40');
    expect(hasFlag(warning, FLAG.SILENCED)).toBe(false);
    expect(sim.notificationsOf(NAME).map((n) => [n.t - S, n.newStatus])).toEqual([[139, STATUS.WARNING]]);
    // The CLEAR that followed the silencer is flagged and not sent.
    const clear = transitions(sim).find((e) => e.newStatus === STATUS.CLEAR)!;
    expect(hasFlag(clear, FLAG.SILENCED)).toBe(true);
  });
});
