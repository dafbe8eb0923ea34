/** rstwatch agent — the daemon. SIGTERM/SIGINT flush the history and exit 0. */

import { startAgent } from '../agent/agent.js';
import { detectOs, parseOs } from '../collect/factory.js';
import { assertNoProblems, resolveSettings } from '../internal/config.js';
import { formatProblem } from '../internal/errors.js';
import { createLogger } from '../internal/log.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch agent [options]

Samples the kernel's TCP counters every interval, turns them into per-second rates on Netdata-like
charts (ip.tcphandshake, …) and keeps their history: per second in memory and on disk, per minute on
disk. Runs on embedded defaults; settings come from flags, then RSTWATCH_* variables, then the config
file (/etc/rstwatch/rstwatch.conf, section [agent]), then defaults.

Options:
  --config FILE              config file (default /etc/rstwatch/rstwatch.conf when it exists)
  --interval SECONDS         sampling interval (default 1)
  --data-dir DIR             history and state (default /var/lib/rstwatch as root,
                             else $XDG_STATE_HOME/rstwatch)
  --netns NS                 also watch this network namespace: NAME, /path or pid:N (repeatable)
  --proc-root DIR            read counters under DIR instead of /proc
  --flush-every SECONDS      how often history is written to disk (default 10)
  --history-seconds N        per-second history kept on disk (default 90000 = 25 h)
  --minute-history-days N    per-minute history kept on disk (default 31)
  --memory-seconds N         per-second history held in memory (default 3600)
  --gap-when-lost-iterations-above N
                             missed samples tolerated before a gap is recorded (default 1, as Netdata)
  --log-level LEVEL          debug, info, warn or error (default info)
  --health-dir DIR           alert configurations (Netdata health format) that add to or replace the
                             shipped ones, file by file (default /etc/rstwatch/health.d)
  --health-log-retention N   seconds of alert log kept (default 432000 = 5 days)
  --listen ADDR:PORT         the HTTP API and dashboard (default 127.0.0.1:19911; none = no server)
  --api-token-file FILE      bearer token for API calls that change state (default DATA_DIR/api.token)
  --api-max-connections N    open API connections at most (default 64)
  --api-requests-per-second N
                             API requests per second per client address (default 100)
  --api-allow-origins ORIGIN other origins allowed to change state (repeatable; default none)
  --web-dir DIR              the dashboard's files (default the package's web/)
  --notify-config FILE       notification routing, roles and methods (default /etc/rstwatch/notify.conf;
                             docs/notifications.md)
  --attribution yes|no       who and why from kernel tracepoints (default yes; needs root and tracefs;
                             docs/attribution.md)
  --attribution-top-k N      keys kept per second and dimension, the rest counted as other (default 10)
  --capture-keep N           captures kept in DATA_DIR/captures (default 20; docs/capture.md)
  --capture-keep-bytes N     bytes of captures kept there, also the cap of one agent capture (default 1 GiB)
  --debug-counters-file FILE debug: write every sample's raw counters to FILE, one JSON line per tick
                             (lateness and offline replay; docs/reliability.md)
  --os linux|freebsd         collector to use (default: this machine's)
  --netstat PATH, --sysctl PATH
                             FreeBSD programs to run (default /usr/bin/netstat, /sbin/sysctl)
  -h, --help                 this text
`;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    config: { type: 'string' },
    interval: { type: 'string' },
    'data-dir': { type: 'string' },
    netns: { type: 'string', multiple: true },
    'proc-root': { type: 'string' },
    'flush-every': { type: 'string' },
    'history-seconds': { type: 'string' },
    'minute-history-days': { type: 'string' },
    'memory-seconds': { type: 'string' },
    'gap-when-lost-iterations-above': { type: 'string' },
    'log-level': { type: 'string' },
    'health-dir': { type: 'string' },
    'health-log-retention': { type: 'string' },
    listen: { type: 'string' },
    'notify-config': { type: 'string' },
    'api-token-file': { type: 'string' },
    'api-max-connections': { type: 'string' },
    'api-requests-per-second': { type: 'string' },
    'api-allow-origins': { type: 'string', multiple: true },
    'web-dir': { type: 'string' },
    attribution: { type: 'string' },
    'capture-keep': { type: 'string' },
    'capture-keep-bytes': { type: 'string' },
    'debug-counters-file': { type: 'string' },
    'attribution-top-k': { type: 'string' },
    os: { type: 'string' },
    netstat: { type: 'string' },
    sysctl: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const { help: _h, config, os: osFlag, netstat, sysctl, ...flags } = values;
  const resolved = resolveSettings(config === undefined ? { flags } : { flags, configFile: config });
  for (const p of resolved.problems) io.err(`rstwatch agent: ${formatProblem(p)}\n`);
  assertNoProblems(resolved.problems);
  const settings = resolved.settings;
  const log = createLogger({ level: settings.logLevel });
  const os = osFlag === undefined ? detectOs() : parseOs(osFlag);
  // Signals are taken before the agent starts: a SIGTERM that lands while it is still starting (opening the
  // database, binding the API) must stop it cleanly too, not kill it with the default action.
  let signalled: string | undefined;
  let onSignal: ((signal: string) => void) | undefined;
  const handler = (signal: string) => {
    process.removeAllListeners('SIGTERM');
    process.removeAllListeners('SIGINT');
    signalled = signal;
    onSignal?.(signal);
  };
  process.once('SIGTERM', () => handler('SIGTERM'));
  process.once('SIGINT', () => handler('SIGINT'));
  const agent = await startAgent(settings, {
    log,
    os,
    ...(netstat !== undefined ? { netstatPath: netstat } : {}),
    ...(sysctl !== undefined ? { sysctlPath: sysctl } : {}),
  });
  log.info('settings', { from: resolved.source, dataDir: settings.dataDir });
  await new Promise<void>((resolve) => {
    onSignal = (signal: string) => {
      log.info('stopping', { signal });
      void agent.stop().then(resolve, (err) => {
        log.error(`stop failed: ${String(err)}`);
        resolve();
      });
    };
    if (signalled !== undefined) onSignal(signalled);
  });
  return 0;
}
