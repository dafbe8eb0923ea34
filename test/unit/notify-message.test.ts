/**
 * What a notification says, built from a real transition of the shipped reset alert in simulated time:
 * meaning from src/model/explain.ts, value against baseline and thresholds, top talkers when the transition
 * carries them, the exact next commands; and the exact alarm-notify.sh argument vector, Slack and
 * Alertmanager bodies built from it.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { AlarmEntry } from '../../src/health/engine.js';
import type { AlertRuntime } from '../../src/health/scheduler.js';
import { FakeClock } from '../../src/internal/clock.js';
import { memoryLogger } from '../../src/internal/log.js';
import { findTopic } from '../../src/model/explain.js';
import { buildEvent, render, topicFor } from '../../src/notify/message.js';
import { NotifyQueue } from '../../src/notify/queue.js';
import { AlertmanagerSender } from '../../src/notify/senders/alertmanager.js';
import { execArgs } from '../../src/notify/senders/exec.js';
import { slackBody } from '../../src/notify/senders/slack.js';
import { webhookBody } from '../../src/notify/senders/webhook.js';
import type { NotifyEvent } from '../../src/notify/types.js';
import { HealthSim } from '../helpers/health-sim.js';

const NAME = '10s_ipv4_tcp_resets_received';
const TOP = {
  windowSeconds: 10,
  total: 812,
  other: 0,
  peers: [
    { key: '10.0.0.7', count: 700 },
    { key: '10.0.0.9', count: 112 },
  ],
  localPorts: [],
  remotePorts: [{ key: '5432', count: 812, process: { name: 'psql', pid: 4242 } }],
  reasons: [{ key: 'NO_SOCKET', count: 812 }],
  states: [],
};

/** The WARNING notification of a 80/s storm after a quiet start, built the moment the engine decides it. */
function stormEvent(withTop: boolean): { event: NotifyEvent; entry: AlarmEntry; sim: HealthSim } {
  const sim = new HealthSim();
  let event: NotifyEvent | undefined;
  let entry: AlarmEntry | undefined;
  let seen = 0;
  sim.run('0x199 80x40', () => {
    const n = sim.notificationsOf(NAME);
    if (n.length === seen) return;
    seen = n.length;
    const note = n[n.length - 1]!;
    entry = note.entry;
    if (withTop) (entry as unknown as { context_extra: unknown }).context_extra = { top: TOP };
    const rt: AlertRuntime = sim.alert(NAME);
    event = buildEvent(entry, rt, {
      host: 'web-1',
      machineGuid: 'guid-1',
      alerts: sim.engine.alerts,
      command: 'rstwatch',
    });
  });
  if (!event || !entry) throw new Error('the storm raised no notification');
  return { event, entry, sim };
}

describe('buildEvent from a real transition', () => {
  const { event, entry } = stormEvent(true);

  it('says what the alert means, from the explain topic its info names', () => {
    const refused = findTopic('refused')!;
    expect(event.explain).toEqual({
      topic: 'refused',
      title: refused.title,
      summary: refused.summary,
      firstStep: refused.whatToDo[0],
    });
    expect(event).toMatchObject({
      status: 'WARNING',
      oldStatus: 'CLEAR',
      name: NAME,
      chart: 'ip.tcphandshake',
    });
  });

  it('gives the value against the baseline and both thresholds of the shipped rule', () => {
    // A quiet minute before: the baseline is the floor 5, raise above 50, hold above 5.
    expect(event.baseline).toEqual({
      name: '1m_ipv4_tcp_resets_received',
      value: 0,
      floor: 5,
      raiseAbove: 50,
      holdAbove: 5,
    });
    expect(event.value).toBeGreaterThan(50);
    expect(event.references.map((r) => r.name)).toContain('1m_ipv4_tcp_resets_received');
  });

  it('names the exact next commands', () => {
    expect(event.nextSteps).toEqual(['rstwatch capture -i any --duration 60s', 'rstwatch explain refused']);
  });

  it('renders meaning, thresholds, top talkers and next steps into one text', () => {
    const { title, body } = render(event);
    expect(title).toMatch(/^\[web-1\] WARNING: System TCP inbound resets = \d+(\.\d+)? tcp resets\/s$/);
    expect(body).toContain(findTopic('refused')!.summary);
    expect(body).toContain('raises above 50, stays raised while above 5 tcp resets/s');
    expect(body).toContain('Peers: 10.0.0.7 (700), 10.0.0.9 (112)');
    expect(body).toContain('Remote ports: 5432 (812, psql[4242])');
    expect(body).toContain('Reasons: NO_SOCKET (812)');
    expect(body).toContain('  rstwatch capture -i any --duration 60s');
    expect(body).toContain('  rstwatch explain refused');
  });

  it('passes alarm-notify.sh its 33 positional arguments in order', () => {
    const args = execArgs(event);
    expect(args).toHaveLength(33);
    const v = event.value!.toFixed(2).replace(/\.?0+$/, '');
    expect(args.slice(0, 10)).toEqual([
      'silent',
      'web-1',
      String(entry.uniqueId),
      String(entry.alarmId),
      String(entry.alarmEventId),
      String(entry.when),
      NAME,
      'ip.tcphandshake',
      'WARNING',
      'CLEAR',
    ]);
    expect(args[10]).toBe(v);
    expect(args[12]).toMatch(/^line=\d+,file=.*tcp_resets\.conf$/);
    expect(args[15]).toBe('tcp resets/s');
    expect(args[16]).toBe(entry.info);
    expect(args[17]).toBe(`${v} tcp resets/s`);
    expect(args[19]).toBe(entry.expression);
    expect(args[20]).toBe(entry.trace);
    expect(args[25]).toBe('Errors');
    expect(args[26]).toMatch(/^sudo editor \+\d+ .*tcp_resets\.conf$/);
    expect(args.slice(27)).toEqual([
      'guid-1',
      entry.transitionId,
      'System TCP inbound resets',
      entry.context,
      'Network',
      'System',
    ]);
  });

  it('builds Slack, webhook and Alertmanager bodies from the same event', () => {
    const slack = slackBody(event, { channel: '#ops' });
    expect(slack.channel).toBe('#ops');
    expect(slack.attachments[0]!.color).toBe('warning');
    expect(slack.attachments[0]!.fields.map((f) => f.title)).toEqual([
      'Value',
      'Status',
      'Baseline',
      'Top peer',
    ]);
    const hook = webhookBody(event, 'hook');
    expect(hook).toMatchObject({ version: 1, id: `${event.transitionId}:hook`, event });
    const clock = new FakeClock(entry.when * 1000 + 5000);
    const db = new Database(':memory:');
    const am = new AlertmanagerSender(
      {
        type: 'alertmanager',
        name: 'am',
        url: 'http://127.0.0.1:9',
        resendSeconds: 60,
        labels: { team: 'net' },
        headers: {},
        timeoutMs: 1000,
        line: 1,
      },
      {
        db,
        clock,
        log: memoryLogger(),
        queue: new NotifyQueue(db, { retryFirstMs: 1, retryMaxMs: 1, giveUpAfterMs: 60_000, maxPending: 10 }),
        enqueue: () => {},
      },
    );
    const { alerts } = am.payload(event);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.labels).toEqual({
      alertname: NAME,
      instance: 'web-1',
      chart: 'ip.tcphandshake',
      severity: 'warning',
      source: 'rstwatch',
      team: 'net',
    });
    expect(alerts[0]!.startsAt).toBe(new Date(entry.when * 1000).toISOString());
    // Prometheus's rule: a firing alert ends 4 resend intervals from now unless sent again.
    expect(alerts[0]!.endsAt).toBe(new Date(entry.when * 1000 + 5000 + 240_000).toISOString());
    expect(alerts[0]!.annotations).toMatchObject({
      capture: 'rstwatch capture -i any --duration 60s',
      explain: 'rstwatch explain refused',
      top_peer: '10.0.0.7',
    });
    const clear = am.payload({ ...event, status: 'CLEAR', oldStatus: 'WARNING', when: entry.when + 100 });
    expect(clear.alerts[0]!.endsAt).toBe(new Date((entry.when + 100) * 1000).toISOString());
    void am.close();
  });
});

describe('without attribution', () => {
  it('leaves the top out rather than inventing one', () => {
    const { event } = stormEvent(false);
    expect(event.top).toBeUndefined();
    expect(render(event).body).not.toContain('Peers:');
  });

  it('says why attribution could not tell, when the transition says so', () => {
    const { entry, sim } = stormEvent(false);
    const extra = {
      top: { ...TOP, total: 0, peers: [], remotePorts: [], reasons: [] },
      attribution: 'tracefs is not mounted',
    };
    (entry as unknown as { context_extra: unknown }).context_extra = extra;
    const event = buildEvent(entry, sim.alert(NAME), {
      host: 'h',
      machineGuid: 'g',
      alerts: sim.engine.alerts,
      command: 'rstwatch',
    });
    expect(event.attributionNote).toBe('tracefs is not mounted');
    expect(render(event).body).toContain('Who and why: not known here (tracefs is not mounted).');
  });
});

describe('topicFor', () => {
  it.each([
    ['rstwatch_listen_queue_overflows', 'find it with ss. `rstwatch explain queue-full`.', 'queue-full'],
    ['rstwatch_syncookies_sent', '`rstwatch doctor` and `rstwatch explain syn-flood`.', 'syn-flood'],
    ['10s_ip_tcp_resets_sent', 'no hint here', 'refused'],
    ['some_alert', 'names `rstwatch explain nonsense` only', 'reset'],
  ])('%s → %s', (name, info, topic) => {
    expect(topicFor(name, info)).toBe(topic);
  });
});
