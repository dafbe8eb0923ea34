/**
 * What the agent calls: read the notification configuration (refusing a broken one, like rstwatch.conf)
 * and start the dispatcher on the agent's database.
 */

import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { AlertRuntime } from '../health/scheduler.js';
import type { Clock } from '../internal/clock.js';
import { formatProblem, RstwatchError } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import { DEFAULT_NOTIFY_FILE, loadNotifyConfig } from './config.js';
import { Dispatcher } from './dispatch.js';
import { secretWarnings } from './secrets.js';
import type { NotifyConfig } from './types.js';

export { Dispatcher } from './dispatch.js';

/** Load `path`; a problem in the file throws (the agent must not start with routes nobody asked for). */
export function readNotifyConfig(path: string, log?: Logger): NotifyConfig {
  const { config, problems } = loadNotifyConfig(path, path !== DEFAULT_NOTIFY_FILE);
  const errors = problems.filter((p) => p.severity === 'error');
  for (const p of problems) log?.error(formatProblem(p), { code: p.code });
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new RstwatchError(
      first.code,
      errors.length === 1 ? first.message : `${errors.length} problems in the notification configuration`,
      {
        ...(first.file !== undefined ? { file: first.file } : {}),
        ...(first.line !== undefined ? { line: first.line } : {}),
        ...(first.column !== undefined ? { column: first.column } : {}),
        hint: 'see docs/notifications.md',
      },
    );
  }
  for (const w of secretWarnings(config)) log?.warn(w.message, { code: w.code, file: w.file });
  return config;
}

/** Netdata passes its machine GUID as $28; ours is the OS's machine id (systemd, dbus), when there is one. */
export function machineGuid(): string {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(f, 'utf8').trim();
      if (id !== '') return id;
    } catch {
      // next
    }
  }
  return '';
}

export function startNotifications(opts: {
  config: NotifyConfig;
  db: Database.Database | undefined;
  clock: Clock;
  log: Logger;
  host: string;
  alerts: () => readonly AlertRuntime[];
}): Dispatcher {
  if (!opts.db && opts.config.methods.size > 0) {
    opts.log.warn('notifications are queued in memory only (no database): a restart loses undelivered ones', {
      code: 'E_NOTIFY_QUEUE',
    });
  }
  const dispatcher = new Dispatcher({
    config: opts.config,
    db: opts.db ?? new Database(':memory:'),
    clock: opts.clock,
    log: opts.log,
    host: opts.config.hostname ?? opts.host,
    machineGuid: machineGuid(),
    alerts: opts.alerts,
  });
  opts.log.info('notifications', {
    config: opts.config.file ?? 'none (transitions are only logged)',
    methods: [...opts.config.methods.keys()].join(',') || 'none',
    roles: [...opts.config.roles.keys()].join(',') || 'none',
  });
  return dispatcher;
}
