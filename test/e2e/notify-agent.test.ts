/**
 * The agent process with notifications wired in: an alert routed to `sysadmin` reaches a webhook receiver
 * the test runs, with the story in it; a broken notify.conf stops the agent before it starts, with the
 * position of the problem; `rstwatch notify test` sends through a role's methods and says what failed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cli, FIXTURES } from '../helpers/paths.js';

const PROBE = `
 alarm: e2e_notify_probe
    on: ip.tcphandshake
 lookup: average -2s unaligned absolute of AttemptFails
  every: 1s
   warn: $this >= 0
summary: Notification wiring probe
   info: always raised while the counters stand still. \`rstwatch explain refused\`.
     to: sysadmin
`;

function cliAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Hook {
  path: string;
  body: { title: string; text: string; event: Record<string, unknown> };
}

describe('agent → dispatcher → webhook', () => {
  let dir = '';
  let server: Server;
  let port = 0;
  const hooks: Hook[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rstwatch-notify-agent-'));
    mkdirSync(join(dir, 'health.d'));
    writeFileSync(join(dir, 'health.d', 'probe.conf'), PROBE);
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        hooks.push({ path: req.url ?? '', body: JSON.parse(body) as Hook['body'] });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    writeFileSync(
      join(dir, 'notify.conf'),
      `[notify]\nhostname = agent-e2e\n[role sysadmin]\nmethods = hook\n[method hook]\ntype = webhook\nurl = http://127.0.0.1:${port}/hook\n`,
    );
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers a transition of the running agent and stops cleanly', async () => {
    let log = '';
    const child: ChildProcess = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--data-dir',
        join(dir, 'data'),
        '--proc-root',
        join(FIXTURES, 'proc', 'linux-6.18'),
        '--health-dir',
        join(dir, 'health.d'),
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          RSTWATCH_CONFIG: '/dev/null',
          RSTWATCH_NOTIFY_CONFIG: join(dir, 'notify.conf'),
        },
      },
    );
    child.stderr!.on('data', (d) => {
      log += d;
    });
    const until = Date.now() + 30_000;
    while (!hooks.some((h) => h.body.event.name === 'e2e_notify_probe') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', resolve);
      child.kill('SIGTERM');
    });
    expect(code, log).toBe(0);
    const hook = hooks.find((h) => h.body.event.name === 'e2e_notify_probe');
    expect(hook, log).toBeDefined();
    expect(hook!.path).toBe('/hook');
    expect(hook!.body.event).toMatchObject({
      kind: 'transition',
      host: 'agent-e2e',
      status: 'WARNING',
      oldStatus: 'CLEAR',
      chart: 'ip.tcphandshake',
      recipient: 'sysadmin',
      nextSteps: ['rstwatch capture -i any --duration 60s', 'rstwatch explain refused'],
    });
    expect(hook!.body.title).toBe('[agent-e2e] WARNING: Notification wiring probe = 0 events/s');
    expect(log).toMatch(
      /notification alert=e2e_notify_probe chart=ip\.tcphandshake status=WARNING .*methods=hook/,
    );
    expect(log).toMatch(/"notification sent" alert=e2e_notify_probe status=WARNING method=hook attempt=1/);
    // Exactly one message for the one transition.
    expect(hooks.filter((h) => h.body.event.name === 'e2e_notify_probe')).toHaveLength(1);
    // The queue the agent left behind, read by the CLI.
    const q = cli(['notify', 'queue', '--data-dir', join(dir, 'data'), '--json']);
    expect(q.code, q.stderr).toBe(0);
    const rows = JSON.parse(q.stdout) as {
      state: string;
      method: string;
      attempts: number;
      event: { name: string };
    }[];
    expect(rows.filter((r) => r.event.name === 'e2e_notify_probe')).toEqual([
      expect.objectContaining({ state: 'sent', method: 'hook', attempts: 1 }),
    ]);
    const text = cli(['notify', 'queue', '--data-dir', join(dir, 'data')]);
    expect(text.stdout).toMatch(/^#\d+ \S+ sent +hook e2e_notify_probe CLEAR → WARNING attempts 1$/m);
  }, 60_000);

  it('refuses to start with a broken notify.conf, naming file, line and column', () => {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, '[role sysadmin]\nmethods = pager\n');
    const r = cli(
      ['agent', '--data-dir', join(dir, 'data-bad'), '--proc-root', join(FIXTURES, 'proc', 'linux-6.18')],
      {
        env: { RSTWATCH_CONFIG: '/dev/null', RSTWATCH_NOTIFY_CONFIG: bad },
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:2:11: error: E_CONFIG_VALUE: role sysadmin: unknown method "pager"`);
  });

  it('notify test: sends through the role, and fails with E_NOTIFY_SEND when the receiver is down', async () => {
    const before = hooks.length;
    // Not spawnSync: the receiver runs in this process and must answer while the command waits.
    const good = await cliAsync(['notify', 'test', 'sysadmin', '--notify-config', join(dir, 'notify.conf')]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^sent +hook \(webhook\): HTTP 204/m);
    expect(hooks.length).toBe(before + 1);
    expect(hooks.at(-1)!.body.event).toMatchObject({
      kind: 'test',
      recipient: 'sysadmin',
      name: 'rstwatch_notification_test',
    });
    const down = join(dir, 'down.conf');
    writeFileSync(
      down,
      '[role ops]\nmethods = hook\n[method hook]\ntype = webhook\nurl = http://127.0.0.1:9/x\ntimeout = 2s\n',
    );
    const bad = cli(['notify', 'test', 'ops', '--notify-config', down]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/^FAILED hook \(webhook\): 127\.0\.0\.1:9: ECONNREFUSED/m);
    expect(bad.stderr).toContain('E_NOTIFY_SEND');
    const none = cli(['notify', 'test', 'nobody', '--notify-config', down]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('E_NOTIFY_ROLE');
  });
});
