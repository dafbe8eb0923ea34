/**
 * rstwatch notify — check the notification configuration, send a test through a role's methods, and look
 * at the agent's notification queue.
 */

import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../internal/clock.js';
import { defaultDataDir, resolveSettings } from '../internal/config.js';
import { formatProblem, RstwatchError } from '../internal/errors.js';
import { createLogger } from '../internal/log.js';
import { DEFAULT_ROLE, loadNotifyConfig, route, SILENT_ROLES } from '../notify/config.js';
import { createSender } from '../notify/dispatch.js';
import { machineGuid } from '../notify/index.js';
import { testEvent } from '../notify/message.js';
import { NotifyQueue } from '../notify/queue.js';
import type { NotifyConfig } from '../notify/types.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch notify <check|test|queue> [options]

  check              read the notification configuration and list its roles and methods
  test [ROLE]        send a test notification through every method of ROLE (default sysadmin), now,
                     without the queue, and say what each receiver answered
  queue              the agent's notification queue (newest first): pending, sent, failed, dropped

Options:
  --notify-config FILE  the notification configuration (default: "notify config" of rstwatch.conf,
                        else /etc/rstwatch/notify.conf)
  --config FILE         rstwatch.conf to read "notify config" from
  --data-dir DIR        queue: the agent's data folder
  --state STATE         queue: only pending, sent, failed or dropped messages
  --limit N             queue: at most N messages (default 50)
  --json                machine-readable output
  -h, --help            this text
`;

function loadConfig(
  values: { 'notify-config'?: string | undefined; config?: string | undefined },
  io: Io,
): NotifyConfig {
  const resolved = resolveSettings(values.config === undefined ? {} : { configFile: values.config });
  const path = values['notify-config'] ?? resolved.settings.notifyConfig;
  const explicit = values['notify-config'] !== undefined || path !== '/etc/rstwatch/notify.conf';
  const { config, problems } = loadNotifyConfig(path, explicit);
  for (const p of problems) io.err(`${formatProblem(p)}\n`);
  const first = problems.find((p) => p.severity === 'error');
  if (first) {
    throw new RstwatchError(first.code, `${problems.length} problem(s) in ${path}`, {
      ...(first.file !== undefined ? { file: first.file } : {}),
      ...(first.line !== undefined ? { line: first.line } : {}),
      hint: 'see docs/notifications.md',
    });
  }
  if (!existsSync(path) && !explicit) config.file = undefined;
  return config;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      'notify-config': { type: 'string' },
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      state: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    true,
  );
  const [sub, ...rest] = positionals;
  if (values.help || sub === undefined) {
    io.out(HELP);
    return values.help ? 0 : 2;
  }
  if (sub === 'check') {
    const config = loadConfig(values, io);
    const summary = {
      file: config.file ?? null,
      roles: Object.fromEntries([...config.roles].map(([r, t]) => [r, t.map((x) => x.method)])),
      methods: Object.fromEntries([...config.methods].map(([n, m]) => [n, m.type])),
    };
    if (values.json) io.out(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      io.out(`${config.file ?? 'no notification configuration: transitions are only logged'}\n`);
      for (const [r, ms] of Object.entries(summary.roles))
        io.out(`role ${r}: ${ms.join(', ') || '(none)'}\n`);
      for (const [n, t] of Object.entries(summary.methods)) io.out(`method ${n}: ${t}\n`);
    }
    return 0;
  }
  if (sub === 'test') {
    const role = rest[0] ?? 'sysadmin';
    const config = loadConfig(values, io);
    if (SILENT_ROLES.has(role))
      throw new RstwatchError('E_NOTIFY_ROLE', `role ${role} never notifies (as in Netdata)`);
    const methods = route(config, role, 'WARNING', 'CLEAR');
    if (methods.length === 0) {
      throw new RstwatchError(
        'E_NOTIFY_ROLE',
        `role ${role} has no methods${config.roles.has(role) ? '' : ` (no [role ${role}] and no [role ${DEFAULT_ROLE}])`}`,
        { hint: 'add a [role NAME] section with "methods = …" (docs/notifications.md)' },
      );
    }
    const event = testEvent({
      host: config.hostname ?? hostname(),
      machineGuid: machineGuid(),
      role,
      command: config.command,
      nowSec: Math.floor(Date.now() / 1000),
    });
    const db = new Database(':memory:');
    const log = createLogger({ level: 'error' });
    const queue = new NotifyQueue(db, {
      retryFirstMs: 1000,
      retryMaxMs: 1000,
      giveUpAfterMs: 60_000,
      maxPending: 100,
    });
    let failures = 0;
    const results: { method: string; type: string; ok: boolean; detail: string }[] = [];
    for (const name of methods) {
      const m = config.methods.get(name)!;
      const sender = createSender(m, { db, clock: systemClock, log, queue, enqueue: () => {} });
      const r = await sender.send(event, new AbortController().signal);
      await sender.close?.();
      if (!r.ok) failures++;
      results.push({ method: name, type: m.type, ok: r.ok, detail: r.ok ? (r.detail ?? '') : r.error });
    }
    db.close();
    if (values.json) io.out(`${JSON.stringify(results, null, 2)}\n`);
    else
      for (const r of results)
        io.out(
          `${r.ok ? 'sent  ' : 'FAILED'} ${r.method} (${r.type})${r.detail ? `: ${r.detail.split('\n')[0]}` : ''}\n`,
        );
    if (failures > 0) {
      io.err(`rstwatch notify: ${failures} of ${results.length} methods failed (code E_NOTIFY_SEND)\n`);
      return 3;
    }
    return 0;
  }
  if (sub === 'queue') {
    const dataDir = values['data-dir'] ?? process.env.RSTWATCH_DATA_DIR ?? defaultDataDir();
    const path = join(dataDir, 'history.db');
    if (!existsSync(path))
      throw new RstwatchError('E_NO_AGENT_DATA', `no agent database at ${path}`, {
        hint: 'start the agent (`rstwatch agent`), or point --data-dir at its folder',
      });
    const state = values.state;
    if (state !== undefined && !['pending', 'sent', 'failed', 'dropped'].includes(state))
      throw new RstwatchError('E_USAGE', '--state must be pending, sent, failed or dropped');
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new RstwatchError('E_USAGE', '--limit must be a positive integer');
    const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 });
    try {
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'notify_queue'").get();
      const rows = has ? NotifyQueue.read(db, { ...(state ? { state } : {}), limit }) : [];
      if (values.json) {
        io.out(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      for (const m of rows) {
        const when = new Date(m.createdMs).toISOString().replace(/\.\d+Z$/, 'Z');
        io.out(
          `#${m.id} ${when} ${m.state.padEnd(7)} ${m.method} ${m.event.name} ${m.event.oldStatus} → ${m.event.status}` +
            ` attempts ${m.attempts}${m.state === 'pending' ? ` next ${new Date(m.nextAttemptMs).toISOString()}` : ''}` +
            `${m.lastError ? ` (${m.lastError})` : ''}\n`,
        );
      }
      if (rows.length === 0) io.out('no notifications\n');
      return 0;
    } finally {
      db.close();
    }
  }
  throw new RstwatchError('E_USAGE', `unknown notify subcommand "${sub}" (check, test, queue)`);
}
