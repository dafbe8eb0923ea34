/**
 * The agent: settings → collectors → store (+ SQLite history) → sampler. Later issues hang the alert
 * engine, attribution, the API and notifications on the same store and clock.
 */

import { mkdirSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { attachAlertContext } from '../attribute/alert-context.js';
import { type AttributionOptions, disabledAttribution, startAttribution } from '../attribute/attribution.js';
import type { Attribution } from '../attribute/types.js';
import { LocalCaptureManager } from '../capture/manager.js';
import type { CaptureManager } from '../capture/types.js';
import { createCollectors } from '../collect/factory.js';
import type { Collector } from '../collect/types.js';
import { AlertDb } from '../health/alert-db.js';
import { AlarmLog } from '../health/engine.js';
import { loadHealth } from '../health/load.js';
import { HealthEngine } from '../health/scheduler.js';
import { SILENCERS_FILE, Silencers } from '../health/silencers.js';
import { type Clock, systemClock } from '../internal/clock.js';
import type { Settings } from '../internal/config.js';
import { errorMessage, formatProblem, RstwatchError } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import type { Os } from '../model/charts.js';
import { type Dispatcher, readNotifyConfig, startNotifications } from '../notify/index.js';
import { CounterTap } from '../server/counter-tap.js';
import type { RunningServer } from '../server/index.js';
import { startApi } from '../server/start.js';
import { HistoryDb } from '../store/history-db.js';
import { Store } from '../store/store.js';
import { CounterDump, POSTPONE_AFTER_SUSPEND_SECONDS, resumedFromSuspend } from './counter-dump.js';
import { checkDataDir, takePidFile } from './data-dir.js';
import { DbFileWatch, guardPersistence } from './db-guard.js';
import { Sampler } from './sampler.js';

export interface AgentDeps {
  clock?: Clock;
  log: Logger;
  os: Os;
  collectors?: Collector[];
  /** Folder of the shipped alert configurations (tests). */
  healthShippedDir?: string;
  /** FreeBSD command paths (tests). */
  netstatPath?: string;
  sysctlPath?: string;
  /** Attribution overrides (tests: a tracefs root, poll pace). */
  attribution?: Partial<AttributionOptions>;
}

export interface RunningAgent {
  store: Store;
  health: HealthEngine;
  sampler: Sampler;
  db: HistoryDb | undefined;
  collectors: Collector[];
  /** The latest raw counters of every namespace (the API's /metrics and doctor read them). */
  counters: CounterTap;
  /** The HTTP API (src/server), unless `listen = none` or it could not start. */
  server?: RunningServer;
  /** On-demand bounded RST captures (src/capture), one at a time, for the API. */
  captures?: CaptureManager;
  /** Who and why behind resets, from kernel tracepoints (src/attribute); status() says what it can see. */
  attribution?: Attribution;
  /** Called after every sample and its alert iteration (the API's per-second pulse); a throw is said once. */
  afterTick: Set<() => void>;
  stop(): Promise<void>;
}

export async function startAgent(settings: Settings, deps: AgentDeps): Promise<RunningAgent> {
  const clock = deps.clock ?? systemClock;
  const { log } = deps;
  // A broken notification configuration stops the agent before it takes anything (like rstwatch.conf).
  const notifyConfig = readNotifyConfig(settings.notifyConfig, log);
  const cannot: string[] = [];
  try {
    mkdirSync(settings.dataDir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw new RstwatchError(
      'E_DATA_DIR',
      `cannot create the data folder ${settings.dataDir}: ${errorMessage(err)}`,
      {
        file: settings.dataDir,
        hint: 'run as root, or set --data-dir to a folder you can write',
      },
    );
  }
  checkDataDir(settings.dataDir, log);
  const pidFile = join(settings.dataDir, 'agent.pid');
  takePidFile(pidFile);

  let db: HistoryDb | undefined;
  try {
    db = HistoryDb.open(join(settings.dataDir, 'history.db'), clock.wallMs());
    if (db.recoveredFrom) {
      log.error('the history database was corrupt; moved it aside and started a new one', {
        code: 'E_DB_CORRUPT',
        movedTo: db.recoveredFrom,
      });
    }
  } catch (err) {
    // Keep watching without history rather than not at all: the alert engine works from memory.
    const e = err instanceof RstwatchError ? err : new RstwatchError('E_DB_OPEN', errorMessage(err));
    log.error(`${e.message}; running with in-memory history only`, { code: e.code });
    cannot.push(`keep history on disk (${e.code})`);
  }

  const store = new Store({
    updateEvery: settings.interval,
    ringSeconds: settings.memorySeconds,
    gapAfterLostIterations: settings.gapAfterLostIterations,
    tier0Seconds: settings.historySeconds,
    tier1Seconds: settings.minuteHistoryDays * 86400,
    log,
    ...(db ? { db } : {}),
  });

  const copts: Parameters<typeof createCollectors>[0] = {
    os: deps.os,
    procRoot: settings.procRoot,
    netns: settings.netns,
  };
  if (deps.netstatPath !== undefined) copts.netstatPath = deps.netstatPath;
  if (deps.sysctlPath !== undefined) copts.sysctlPath = deps.sysctlPath;
  const counters = new CounterTap();
  const collectors = (deps.collectors ?? (await createCollectors(copts))).map((c) => counters.wrap(c));
  for (const c of collectors) store.addNamespace(c.netns, deps.os);
  const loaded = store.load(Math.floor(clock.wallMs() / 1000));

  // A first read to say, once and up front, what cannot be read.
  for (const c of collectors) {
    const r = await c.collect();
    const errors = r.problems.filter((p) => p.severity === 'error');
    if (Object.keys(r.counters).length === 0) {
      cannot.push(
        `read namespace ${c.netns} (${errors[0]?.code ?? 'no counters'}: ${errors[0]?.message ?? ''})`,
      );
    }
  }

  // Attribution (issue 5): when it cannot run (not root, no tracefs, FreeBSD) it says why once and the agent
  // goes on with counters only.
  const attribution = settings.attribution
    ? await startAttribution({
        log,
        os: deps.os,
        topK: settings.attributionTopK,
        procRoot: settings.procRoot,
        wallMs: () => clock.wallMs(),
        ...deps.attribution,
      })
    : disabledAttribution();

  // Alerts: shipped defaults plus the administrator's folder; a broken alert is reported and left out.
  const healthLoad = loadHealth({
    user: settings.healthDir,
    ...(deps.healthShippedDir ? { shipped: deps.healthShippedDir } : {}),
  });
  for (const p of healthLoad.problems) {
    if (p.severity === 'error') log.error(formatProblem(p), { code: p.code });
    else log.warn(formatProblem(p), { code: p.code });
  }
  let alertDb: AlertDb | undefined;
  const alarmLog = new AlarmLog();
  if (db) {
    try {
      alertDb = new AlertDb(db.connection);
      const last = alertDb.lastIds();
      alarmLog.restore(last.uniqueId, last.eventIds, last.executed);
      alertDb.applyRetention(Math.floor(clock.wallMs() / 1000), settings.healthLogRetention);
    } catch (err) {
      log.error(`cannot keep the alert log on disk: ${errorMessage(err)}`, { code: 'E_DB_OPEN' });
      alertDb = undefined;
    }
  }
  const host = hostname();
  // Notifications are decided by the engine (Netdata's rules) and delivered by src/notify through a
  // persistent queue in the same database: routes by role, retries, never blocking this tick.
  let healthRef: HealthEngine | undefined;
  const notify: Dispatcher = startNotifications({
    config: notifyConfig,
    db: db?.connection,
    clock,
    log,
    host,
    alerts: () => healthRef?.alerts ?? [],
  });
  const notifier = notify.notifier;
  const health = new HealthEngine({
    store,
    host: { hostname: host, labels: { _os: deps.os, _hostname: host } },
    alerts: healthLoad.alerts,
    log: alarmLog,
    notifier,
    logger: log,
    // The management API's silencers survive restarts, as Netdata's health.silencers.json (silencers.ts).
    silencers: Silencers.load(join(settings.dataDir, SILENCERS_FILE), log),
    // Guarded: a failing write (full disk, damaged file) is counted and said once; alerts go on (db-guard.ts).
    ...(alertDb ? { persistence: guardPersistence(alertDb, store.errors, log) } : {}),
  });
  healthRef = health;
  attachAlertContext(alarmLog, () => health.alerts, attribution);
  const announceSec = Math.floor(clock.wallMs() / 1000);
  health.announce(announceSec);
  const dbWatch = db ? new DbFileWatch(db, store.errors, log) : undefined;
  let lastRetention = clock.monoMs();
  let prevWall = clock.wallMs();
  let prevMono = clock.monoMs();
  // A debug record of every tick's input (docs/reliability.md): lateness and offline replay.
  const dump =
    settings.debugCountersFile === ''
      ? undefined
      : new CounterDump(
          settings.debugCountersFile,
          {
            kind: 'rstwatch-counters',
            version: 1,
            os: deps.os,
            hostname: host,
            namespaces: collectors.map((c) => c.netns),
            store: {
              updateEvery: settings.interval,
              ringSeconds: settings.memorySeconds,
              gapAfterLostIterations: settings.gapAfterLostIterations,
            },
            health: {
              user: settings.healthDir,
              ...(deps.healthShippedDir ? { shipped: deps.healthShippedDir } : {}),
            },
            announceSec,
            startWallMs: prevWall,
            startMonoMs: prevMono,
          },
          log,
        );

  const afterTick = new Set<() => void>();
  // Attribution's idle polls ride on the sample's wake-up (LiveAttribution.pulsedBy: issue 2, idle cost).
  if (attribution.pulsedBy && attribution.pulse) {
    attribution.pulsedBy(settings.interval * 1000);
    const pulse = attribution.pulse.bind(attribution);
    afterTick.add(pulse);
  }
  const sampler = new Sampler({
    clock,
    collectors,
    store,
    log,
    intervalSeconds: settings.interval,
    flushEverySeconds: settings.flushEvery,
    onTick: (wallMs, sample) => {
      // §3.2: realtime advancing more than twice as much as monotonic time is a resume from suspend.
      const mono = clock.monoMs();
      dump?.tick(wallMs, mono, sample);
      dbWatch?.check();
      if (resumedFromSuspend(prevWall, prevMono, wallMs, mono))
        health.postpone(Math.floor(wallMs / 1000) + POSTPONE_AFTER_SUSPEND_SECONDS);
      prevWall = wallMs;
      prevMono = mono;
      health.iterate(Math.floor(wallMs / 1000));
      for (const f of afterTick) {
        try {
          f();
        } catch (err) {
          log.once('after-tick', 'error', `per-second work after the sample failed: ${errorMessage(err)}`);
        }
      }
      if (alertDb && clock.monoMs() - lastRetention > 3600_000) {
        lastRetention = clock.monoMs();
        try {
          alertDb.applyRetention(Math.floor(wallMs / 1000), settings.healthLogRetention);
        } catch (err) {
          log.once('alert-retention', 'warn', `alert log retention failed: ${errorMessage(err)}`);
        }
      }
    },
  });
  sampler.start();
  log.info('rstwatch agent started', {
    reads: collectors.map((c) => c.describe()).join('; '),
    every: `${settings.interval}s`,
    stores: db ? db.path : 'memory only',
    loadedPoints: loaded,
    alerts: `${health.alerts.length} bound from ${healthLoad.alerts.length} loaded (${healthLoad.files.length} files)`,
    cannot: cannot.length > 0 ? cannot.join('; ') : 'none',
    attribution: (() => {
      const a = attribution.status();
      return a.enabled ? `on (${a.layout}): ${a.reason}` : `off: ${a.reason}`;
    })(),
  });

  // Captures: nothing runs until the API asks; a capture the previous agent left running is closed here.
  const captures = new LocalCaptureManager({
    dataDir: settings.dataDir,
    keep: settings.captureKeep,
    keepBytes: settings.captureKeepBytes,
    os: deps.os,
    log,
  });

  let stopped = false;
  const running: RunningAgent = {
    store,
    health,
    sampler,
    db,
    collectors,
    counters,
    captures,
    attribution,
    afterTick,
    async stop() {
      if (stopped) return;
      stopped = true;
      await running.server?.close();
      await captures.close();
      await sampler.stop();
      await attribution.close();
      await notify.stop();
      await Promise.all(collectors.map((c) => c.close()));
      dump?.close();
      dbWatch?.saveBack(clock.wallMs());
      db?.close();
      try {
        unlinkSync(pidFile);
      } catch {
        // already gone
      }
      log.info('rstwatch agent stopped', { samples: sampler.stats.samples });
    },
  };
  running.server = await startApi(settings, running, log);
  return running;
}
