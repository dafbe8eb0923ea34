/**
 * A running API server over a simulated agent, for the server tests: the store and alert engine of
 * test/helpers/health-sim.ts (shipped alerts, simulated seconds), a sampler's statistics, the raw-counter tap,
 * optional fake attribution and capture managers, and an HTTP client that sends exactly the headers a test
 * gives (node:http, so Host and Origin can be forged).
 */

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SamplerStats } from '../../src/agent/sampler.js';
import { memoryLogger } from '../../src/internal/log.js';
import { CounterTap } from '../../src/server/counter-tap.js';
import {
  type RunningServer,
  type ServerLimits,
  type ServerSettings,
  startServer,
} from '../../src/server/index.js';
import type { AttributionView, CaptureView, ServerAgent } from '../../src/server/types.js';
import { HealthSim, type SimOptions, shippedOwnAlerts, shippedResetAlerts } from '../helpers/health-sim.js';
import { FIXTURES } from '../helpers/paths.js';

export const WEB_FIXTURE = join(FIXTURES, 'server-web');

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = unknown>(): T;
}

export function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        setHost: !opts.headers?.Host && !opts.headers?.host,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: <T>() => JSON.parse(text) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`timeout: ${url}`)));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export function samplerStats(over: Partial<SamplerStats> = {}): SamplerStats {
  return {
    samples: 0,
    late: 0,
    missed: 0,
    clockJumps: 0,
    lastSampleWallMs: Number.NaN,
    lastDurationUs: 0,
    maxDurationUs: 0,
    maxLatenessMs: 0,
    errors: new Map(),
    ...over,
  };
}

export interface HarnessOptions {
  sim?: SimOptions;
  /** AttemptFails notation run before the server starts (health-sim.ts); default 70 quiet seconds. */
  series?: string;
  limits?: Partial<ServerLimits>;
  settings?: Partial<ServerSettings>;
  attribution?: AttributionView;
  captures?: CaptureView;
  /** Give the agent an afterTick hook and let the server use it (no manual pulse). */
  afterTick?: boolean;
}

export interface Harness {
  sim: HealthSim;
  agent: ServerAgent;
  stats: SamplerStats;
  tap: CounterTap;
  server: RunningServer;
  url: string;
  token: string;
  dataDir: string;
  log: ReturnType<typeof memoryLogger>;
  /** Simulated "now" in epoch seconds (the server's clock). */
  now(): number;
  /** Run more simulated seconds (notation of health-sim.ts), counting samples and feeding the tap. */
  run(series: string | Record<string, string>): void;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  // Every shipped alert (tcp_resets.conf and rstwatch_resets.conf), unless the test brings its own.
  const sim = new HealthSim(opts.sim ?? { config: `${shippedResetAlerts()}\n${shippedOwnAlerts()}` });
  const stats = samplerStats();
  const tap = new CounterTap({ now: () => sim.t * 1000 });
  const totals: Record<string, number> = {
    AttemptFails: 0,
    OutRsts: 0,
    EstabResets: 0,
    CurrEstab: 3,
    ListenOverflows: 0,
    TCPAbortOnData: 0,
  };
  const run = (series: string | Record<string, string>) => {
    sim.run(series, (t) => {
      stats.samples++;
      stats.lastSampleWallMs = t * 1000 + 200;
      // The raw counters as the collector would report them: every host chart dimension's last raw value.
      for (const c of sim.store.allCharts()) {
        if (c.instance.netns !== 'host' || c.instance.def.hostOnly) continue;
        for (const s of c.series) if (Number.isFinite(s.lastRaw)) totals[s.dim.counters[0]!] = s.lastRaw;
      }
      tap.record(
        { source: 'linux-proc', netns: 'host', counters: { ...totals }, problems: [] },
        t * 1000 + 200,
      );
    });
  };
  run(opts.series ?? '0x70');
  const agent: ServerAgent = {
    store: sim.store,
    health: sim.engine,
    sampler: { stats, uptimeSeconds: () => sim.t - sim.agentStart },
    db: undefined,
    collectors: [{ netns: 'host', describe: () => 'simulated /proc/net/{snmp,netstat}' }],
    counters: tap,
    os: 'linux',
  };
  if (opts.attribution) agent.attribution = opts.attribution;
  if (opts.captures) agent.captures = opts.captures;
  if (opts.afterTick) agent.afterTick = new Set();
  // The server answers between collections: half a second after the newest stored slot, as a real agent
  // does most of each second (slot t is stored right after t).
  const nowMs = () => (sim.t - 1) * 1000 + 500;
  const dataDir = mkdtempSync(join(tmpdir(), 'rw-api-'));
  const log = memoryLogger('debug');
  const settings: ServerSettings = {
    listen: '127.0.0.1:0',
    dataDir,
    procRoot: '/proc',
    apiTokenFile: '',
    apiMaxConnections: 64,
    apiRequestsPerSecond: 10_000,
    apiAllowOrigins: [],
    webDir: WEB_FIXTURE,
    ...opts.settings,
  };
  const server = await startServer({
    agent,
    settings,
    log,
    nowMs: () => nowMs(),
    manualPulse: !opts.afterTick,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const token = readFileSync(server.tokenFile, 'utf8').trim();
  return {
    sim,
    agent,
    stats,
    tap,
    server,
    url: server.url,
    token,
    dataDir,
    log,
    now: () => Math.floor(nowMs() / 1000),
    run,
    get: (path, headers) => request(server.url + path, headers ? { headers } : {}),
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The JSON type of a value as the shape tests compare it: null, boolean, number, string, array, object. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Keys of an object with their JSON types, for readable expectations. */
export function shape(o: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, jsonType(v)]));
}

/**
 * A server over a bare store (no alerts): tests that write exact values into the rings and check the query
 * arithmetic. `nowSec` is the server's clock.
 */
export async function startStoreServer(
  store: import('../../src/store/store.js').Store,
  nowSec: () => number,
  db?: import('../../src/store/history-db.js').HistoryDb,
): Promise<{
  server: RunningServer;
  get(path: string): Promise<Response>;
  bump(): void;
  close(): Promise<void>;
}> {
  const { HealthEngine } = await import('../../src/health/scheduler.js');
  const health = new HealthEngine({
    store,
    host: { hostname: 't', labels: { _os: 'linux', _hostname: 't' } },
    alerts: [],
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'rw-api-'));
  const stats = samplerStats({ samples: 1 });
  const server = await startServer({
    agent: {
      store,
      health,
      sampler: { stats, uptimeSeconds: () => 100 },
      db,
      collectors: [],
      os: 'linux',
    },
    settings: {
      listen: '127.0.0.1:0',
      dataDir,
      procRoot: '/proc',
      apiTokenFile: '',
      apiMaxConnections: 64,
      apiRequestsPerSecond: 10_000,
      apiAllowOrigins: [],
      webDir: WEB_FIXTURE,
    },
    log: memoryLogger('warn'),
    nowMs: () => nowSec() * 1000 + 500,
    manualPulse: true,
  });
  return {
    server,
    get: (path) => request(server.url + path),
    /** A new sample arrived (answers cached for the previous one are stale). */
    bump: () => {
      stats.samples++;
    },
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
