/**
 * Notifications against real receivers the test starts on loopback: Debian's prometheus-alertmanager, an
 * SMTP server on Debian's python3-aiosmtpd, node:http receivers for the webhook and Slack methods, and a
 * real script for exec. Transitions come from the real alert engine (simulated time, the shipped reset
 * alert routed to `sysadmin`) and go through the agent's dispatcher and its queue in a real SQLite file.
 *
 * Receivers down, the agent restarted, receivers up: every transition arrives exactly once at every
 * receiver, in order per alert. Then Alertmanager's resend and resolve: a WARNING whose CLEAR is never
 * notified (`no-clear-notification`) is resolved in Alertmanager once the alert is found CLEAR.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/internal/clock.js';
import { memoryLogger } from '../../src/internal/log.js';
import { parseNotifyConfig } from '../../src/notify/config.js';
import { Dispatcher } from '../../src/notify/dispatch.js';
import { HealthSim, shippedResetAlerts } from '../helpers/health-sim.js';
import { requireCapability } from '../helpers/paths.js';

const AM_BIN = '/usr/bin/prometheus-alertmanager';
const PY = '/usr/bin/python3';
const ok = existsSync(AM_BIN) && spawnSync(PY, ['-c', 'import aiosmtpd'], { timeout: 20_000 }).status === 0;
requireCapability(
  ok,
  'prometheus-alertmanager and python3-aiosmtpd (scripts/setup-test-env.sh installs them)',
);
if (!ok) console.warn('SKIPPED: notification receivers need prometheus-alertmanager and python3-aiosmtpd');

const SMTP_SERVER = `
import os, signal, sys
from aiosmtpd.controller import Controller
out, port = sys.argv[1], int(sys.argv[2])
class Handler:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        path = os.path.join(out, '%06d.eml' % Handler.n)
        with open(path + '.tmp', 'wb') as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + '.tmp', path)
        return '250 OK stored'
c = Controller(Handler(), hostname='127.0.0.1', port=port)
c.start()
print('ready', flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
c.stop()
`;

/** An alarm-notify.sh stand-in: exit 75 (try later) while the "down" file exists, else record its argv. */
const EXEC_SCRIPT = `#!/bin/sh
dir="$(dirname "$0")"
[ -e "$dir/exec-down" ] && { echo "receiver down" >&2; exit 75; }
f="$(mktemp "$dir/calls/call.XXXXXX")"
for a in "$@"; do printf '%s\\0' "$a"; done > "$f"
echo "recorded $#"
`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

interface AmAlertOut {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

describe.runIf(ok)('notifications to real receivers', () => {
  let dir = '';
  const ports = { am: 0, smtp: 0, http: 0 };
  let am: ChildProcess | undefined;
  let smtp: ChildProcess | undefined;
  let http: Server | undefined;
  const posts: { path: string; body: unknown; headers: Record<string, unknown> }[] = [];

  async function startAlertmanager(): Promise<void> {
    const cfg = join(dir, 'alertmanager.yml');
    writeFileSync(cfg, 'route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n');
    am = spawn(
      AM_BIN,
      [
        `--config.file=${cfg}`,
        `--storage.path=${join(dir, 'am-data')}`,
        `--web.listen-address=127.0.0.1:${ports.am}`,
        '--cluster.listen-address=',
      ],
      { stdio: 'ignore' },
    );
    await waitFor('Alertmanager ready', 30_000, async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${ports.am}/-/ready`);
        return r.ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  }

  async function startSmtp(): Promise<void> {
    smtp = spawn(PY, ['-c', SMTP_SERVER, join(dir, 'mail'), String(ports.smtp)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      smtp!.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      smtp!.once('exit', (code) => reject(new Error(`SMTP server exited with ${code}`)));
    });
  }

  async function startHttp(): Promise<void> {
    http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push({
          path: req.url ?? '',
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          headers: req.headers,
        });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => http!.listen(ports.http, '127.0.0.1', resolve));
  }

  async function amAlerts(): Promise<AmAlertOut[]> {
    const r = await fetch(`http://127.0.0.1:${ports.am}/api/v2/alerts`);
    return (await r.json()) as AmAlertOut[];
  }

  function configText(resendEvery: string): string {
    return `[notify]
hostname = e2e-host
retry first = 200ms
retry max = 1s
[role sysadmin]
methods = am mail chat hook script
[method am]
type = alertmanager
url = http://127.0.0.1:${ports.am}
resend every = ${resendEvery}
timeout = 2s
[method mail]
type = email
smtp host = 127.0.0.1
smtp port = ${ports.smtp}
security = none
from = rstwatch@e2e-host.example
to = ops@example.com
timeout = 3s
[method chat]
type = slack
url = http://127.0.0.1:${ports.http}/slack
[method hook]
type = webhook
url = http://127.0.0.1:${ports.http}/hook
header = X-Token: abc
[method script]
type = exec
command = ${join(dir, 'notify.sh')}
timeout = 5s
`;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rstwatch-notify-e2e-'));
    mkdirSync(join(dir, 'mail'));
    mkdirSync(join(dir, 'calls'));
    writeFileSync(join(dir, 'notify.sh'), EXEC_SCRIPT);
    chmodSync(join(dir, 'notify.sh'), 0o755);
    ports.am = await freePort();
    ports.smtp = await freePort();
    ports.http = await freePort();
  });

  afterAll(async () => {
    await stopChild(am);
    await stopChild(smtp);
    await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('receivers down, agent restarted, receivers up: each transition exactly once everywhere, in order per alert', async () => {
    const { config, problems } = parseNotifyConfig(configText('1m'), 'e2e.conf');
    expect(problems).toEqual([]);
    // The shipped reset alerts routed to sysadmin, with their CLEARs notified after 30 s (not 1 h).
    const alertText = shippedResetAlerts()
      .replaceAll('to: silent', 'to: sysadmin')
      .replaceAll('options: no-clear-notification', '')
      .replaceAll('down 60m', 'down 30s');
    const sim = new HealthSim({ config: alertText });
    const dbFile = join(dir, 'history.db');
    writeFileSync(join(dir, 'exec-down'), '');
    const start = (db: Database.Database) =>
      new Dispatcher({
        config,
        db,
        clock: systemClock,
        log: memoryLogger(),
        host: 'e2e-host',
        machineGuid: 'e2e-guid',
        alerts: () => sim.engine.alerts,
      });
    const db1 = new Database(dbFile);
    const d1 = start(db1);
    // Received: raise, clear, raise, clear. Sent: one raise at the end that stays raised.
    let fed = 0;
    const feed = (d: Dispatcher) => () => {
      for (; fed < sim.notifications.length; fed++) {
        const n = sim.notifications[fed]!;
        const rt = sim.engine.alerts.find((a) => a.alarmId === n.entry.alarmId)!;
        expect(d.notifier(n.entry, rt)).toBe(0);
      }
    };
    sim.run({ AttemptFails: '0x199 80x30 0x120 300x30 0x150', OutRsts: '0x500 200x40' }, feed(d1));
    const sent = sim.notifications.map((n) => `${n.name}:${n.oldStatus}->${n.newStatus}`);
    expect(sent).toEqual([
      '10s_ipv4_tcp_resets_received:1->3',
      '10s_ipv4_tcp_resets_received:3->1',
      '10s_ipv4_tcp_resets_received:1->3',
      '10s_ipv4_tcp_resets_received:3->1',
      '10s_ipv4_tcp_resets_sent:1->3',
    ]);
    const transitions = sim.notifications.length;
    // Every receiver is down: attempts fail and are retried.
    await waitFor('a few retries', 20_000, () =>
      d1.queue.list({ state: 'pending' }).some((m) => m.attempts >= 2) ? true : undefined,
    );
    expect(d1.stats.sent).toBe(0);
    await d1.stop();
    db1.close();

    // The agent restarts while the receivers come back.
    await startHttp();
    await startSmtp();
    await startAlertmanager();
    rmSync(join(dir, 'exec-down'));
    const db2 = new Database(dbFile);
    const d2 = start(db2);
    expect(d2.queue.pendingCount()).toBe(transitions * 5);
    // The same transition offered again (a restart re-deciding it) is no second message.
    const first = sim.notifications[0]!;
    d2.notifier(first.entry, sim.engine.alerts.find((a) => a.alarmId === first.entry.alarmId)!);
    await waitFor('the queue to drain', 60_000, () => (d2.queue.pendingCount() === 0 ? true : undefined));
    await d2.idle();
    expect(d2.queue.list({ state: 'sent' })).toHaveLength(transitions * 5);

    const ids = sim.notifications.map((n) => n.entry.transitionId);
    const order = (list: string[]) => list.map((t) => ids.indexOf(t));
    const increasingPerAlert = (list: string[]) => {
      const byAlarm = new Map<number, number[]>();
      for (const t of list) {
        const n = sim.notifications[ids.indexOf(t)]!;
        byAlarm.set(n.entry.alarmId, [...(byAlarm.get(n.entry.alarmId) ?? []), n.entry.uniqueId]);
      }
      for (const u of byAlarm.values()) expect(u).toEqual([...u].sort((a, b) => a - b));
    };

    // Webhook: the event, its idempotency key and the configured header.
    const hooks = posts.filter((p) => p.path === '/hook');
    const hookIds = hooks.map((p) => (p.body as { event: { transitionId: string } }).event.transitionId);
    expect(order(hookIds).sort()).toEqual(ids.map((_, i) => i));
    increasingPerAlert(hookIds);
    expect(hooks[0]!.headers['x-token']).toBe('abc');
    expect(hooks[0]!.headers['idempotency-key']).toBe(`${hookIds[0]}:hook`);
    // Slack: one message per transition, coloured by status.
    const slacks = posts.filter((p) => p.path === '/slack');
    expect(slacks).toHaveLength(transitions);
    const colors = slacks.map((p) => (p.body as { attachments: { color: string }[] }).attachments[0]!.color);
    expect(colors.filter((c) => c === 'warning')).toHaveLength(3);
    expect(colors.filter((c) => c === 'good')).toHaveLength(2);

    // exec: 33 arguments, one call per transition.
    const calls = readdirSync(join(dir, 'calls')).map((f) =>
      readFileSync(join(dir, 'calls', f), 'utf8')
        .split('\0')
        .slice(0, -1),
    );
    expect(calls).toHaveLength(transitions);
    for (const args of calls) expect(args).toHaveLength(33);
    expect(calls.map((a) => a[28]!).sort()).toEqual([...ids].sort());
    const byUnique = [...calls].sort((a, b) => Number(a[2]) - Number(b[2]));
    expect(byUnique.map((a) => `${a[6]}:${a[9]}->${a[8]}`)).toEqual([
      '10s_ipv4_tcp_resets_received:CLEAR->WARNING',
      '10s_ipv4_tcp_resets_received:WARNING->CLEAR',
      '10s_ipv4_tcp_resets_received:CLEAR->WARNING',
      '10s_ipv4_tcp_resets_received:WARNING->CLEAR',
      '10s_ipv4_tcp_resets_sent:CLEAR->WARNING',
    ]);
    expect(byUnique[0]!.slice(0, 2)).toEqual(['sysadmin', 'e2e-host']);

    // SMTP: one mail per transition, Message-ID from the dedup key, the story in the body.
    const mails = readdirSync(join(dir, 'mail'))
      .filter((f) => f.endsWith('.eml'))
      .map((f) => readFileSync(join(dir, 'mail', f), 'utf8'));
    expect(mails).toHaveLength(transitions);
    const messageIds = mails.map((m) => /^Message-ID: <([^>]+)>/im.exec(m)?.[1]);
    expect(new Set(messageIds).size).toBe(transitions);
    expect(messageIds.map((m) => m!.split('.mail@')[0]).sort()).toEqual([...ids].sort());
    // Files are named by arrival, and the two alerts' messages may arrive in either order: find the received
    // alert's first raise by its header rather than by position.
    const receivedRaise = mails.find(
      (m) =>
        /^X-Rstwatch-Alert: 10s_ipv4_tcp_resets_received\r?$/m.test(m) &&
        /^X-Rstwatch-Status: WARNING\r?$/m.test(m),
    );
    expect(receivedRaise).toMatch(/^Subject: \[e2e-host\] WARNING: System TCP inbound resets = /m);
    expect(mails.join('\n')).toContain('rstwatch capture -i any --duration 60s');

    // Alertmanager: the received alert was raised and resolved twice (not listed any more); the sent one fires.
    const active = await amAlerts();
    expect(active.map((a) => a.labels.alertname)).toEqual(['10s_ipv4_tcp_resets_sent']);
    expect(active[0]!.labels).toMatchObject({
      instance: 'e2e-host',
      severity: 'warning',
      chart: 'ip.tcphandshake',
    });
    expect(active[0]!.status.state).toBe('active');
    expect(active[0]!.annotations.capture).toBe('rstwatch capture -i any --duration 60s');
    const raised = sim.notifications[4]!.entry.when;
    expect(Date.parse(active[0]!.startsAt)).toBe(raised * 1000);
    await d2.stop();
    db2.close();
  }, 150_000);

  it('Alertmanager: firing alerts are resent, and a CLEAR that is never notified still resolves', async () => {
    if (!am) await startAlertmanager();
    const { config } = parseNotifyConfig(configText('1s'), 'e2e.conf');
    config.roles.set('sysadmin', [{ method: 'am', onlyCritical: false, noWarning: false, noClear: false }]);
    // The shipped alerts as they are (no-clear-notification), routed to sysadmin.
    const sim = new HealthSim({ config: shippedResetAlerts().replaceAll('to: silent', 'to: sysadmin') });
    const db = new Database(':memory:');
    const d = new Dispatcher({
      config,
      db,
      clock: systemClock,
      log: memoryLogger(),
      host: 'e2e-resend',
      machineGuid: 'g',
      alerts: () => sim.engine.alerts,
    });
    let fed = 0;
    const feed = () => {
      for (; fed < sim.notifications.length; fed++) {
        const n = sim.notifications[fed]!;
        d.notifier(n.entry, sim.engine.alerts.find((a) => a.alarmId === n.entry.alarmId)!);
      }
    };
    sim.run('0x199 80x40', feed);
    expect(sim.alert('10s_ipv4_tcp_resets_received').status).toBe(3);
    const mine = async () => (await amAlerts()).filter((a) => a.labels.instance === 'e2e-resend');
    const firstSeen = await waitFor('the WARNING in Alertmanager', 20_000, async () => {
      const a = await mine();
      return a.length === 1 ? a[0] : undefined;
    });
    // Resent every second: Alertmanager's endsAt moves forward.
    await waitFor('a resend', 10_000, async () => {
      const a = await mine();
      return a[0] && Date.parse(a[0].endsAt) > Date.parse(firstSeen.endsAt) ? true : undefined;
    });
    // The storm ends; the alert clears. Its CLEAR is not notified (no-clear-notification) …
    const before = sim.notifications.length;
    sim.run('0x60', feed);
    expect(sim.alert('10s_ipv4_tcp_resets_received').status).toBe(1);
    expect(sim.notifications.length).toBe(before);
    // … but the resend round sees it CLEAR and resolves it in Alertmanager.
    await waitFor('the alert resolved in Alertmanager', 20_000, async () =>
      (await mine()).length === 0 ? true : undefined,
    );
    expect(d.queue.list({ state: 'sent' }).map((m) => m.event.kind)).toEqual(['resolve', 'transition']);
    await d.stop();
    db.close();
  }, 90_000);
});
