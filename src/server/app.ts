/**
 * The request handler: guards (Host, rate, method, token and Origin for changes), the route table, the
 * per-second pulse (event stream, attributed-reset counter), and request accounting for /metrics. Routing
 * is a plain table, exact paths plus the capture routes with an id: no framework, no regular expressions
 * from requests.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AlertDb } from '../health/alert-db.js';
import { RstwatchError } from '../internal/errors.js';
import { readLinuxListeners } from '../remedy/doctor-inputs.js';
import { allmetrics, ScraperMemory } from './allmetrics.js';
import type { ServerContext } from './context.js';
import { HistoryReader } from './history-read.js';
import { ApiError, parseJsonObject, Query, readBody, send, sendError, sendJson, toJson } from './http.js';
import { manageHealth } from './manage-health.js';
import { AttributedCounter, MetricsCache } from './metrics.js';
import { alarmCount, alarmLog, alarms, alarmsValues } from './netdata-alarms.js';
import { chart, charts, info } from './netdata-charts.js';
import { dataEndpoint } from './netdata-data.js';
import {
  captureById,
  captureError,
  doctor,
  parseCaptureRequest,
  requireCaptures,
  sendCaptureFile,
  status,
  top,
} from './rstwatch-api.js';
import { checkHost, checkOrigin, checkScriptRead, checkToken, RateLimiter } from './security.js';
import { StaticFiles } from './static.js';
import { EventStream } from './stream.js';

export interface AppLimits {
  maxUrlBytes: number;
  maxBodyBytes: number;
  requestsPerSecond: number;
  burst: number;
  maxClients: number;
  maxStreamClients: number;
}

export interface AppOptions {
  ctx: ServerContext;
  token: string;
  tokenFile: string;
  listen: string;
  loopbackOnly: boolean;
  allowOrigins: readonly string[];
  webDir: string;
  procRoot: string;
  limits: AppLimits;
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  q: Query;
  path: string;
  client: string;
  /** Path parameters (the capture id). */
  id: string;
}

type Handler = (call: Call) => void | Promise<void>;

interface Route {
  /** A stable name for metrics (bounded label values). */
  name: string;
  methods: readonly string[];
  /** Changes state: token and same-origin required. */
  writes?: boolean;
  /** Reads something sensitive (capture contents): token required. */
  secret?: boolean;
  handler: Handler;
}

const READ = ['GET', 'HEAD'] as const;
/** How often the pulse brings the attributed-reset counter up to date when nobody scrapes (seconds). */
const ATTRIBUTED_TICK_SECONDS = 60;

/**
 * Response cache for identical data queries while no new sample has arrived (dashboards repeat them).
 * Bounded in entries, per answer and in total bytes, so a burst of large queries cannot grow the agent.
 */
class AnswerCache {
  private readonly map = new Map<string, { body: Buffer; type: string; headers: Record<string, string> }>();
  private epoch = '';
  private bytes = 0;
  constructor(
    private readonly maxEntries: number,
    private readonly maxBodyBytes: number,
    private readonly maxTotalBytes: number,
  ) {}
  get(key: string, epoch: string) {
    if (epoch !== this.epoch) {
      this.map.clear();
      this.bytes = 0;
      this.epoch = epoch;
      return undefined;
    }
    return this.map.get(key);
  }
  set(key: string, epoch: string, v: { body: Buffer; type: string; headers: Record<string, string> }): void {
    if (epoch !== this.epoch || v.body.length > this.maxBodyBytes) return;
    while (
      this.map.size > 0 &&
      (this.map.size >= this.maxEntries || this.bytes + v.body.length > this.maxTotalBytes)
    ) {
      const [first, old] = this.map.entries().next().value as [string, { body: Buffer }];
      this.map.delete(first);
      this.bytes -= old.body.length;
    }
    this.map.set(key, v);
    this.bytes += v.body.length;
  }
}

export class App {
  private readonly o: AppOptions;
  private readonly ctx: ServerContext;
  private readonly routes = new Map<string, Route>();
  private readonly limiter: RateLimiter;
  private readonly history: HistoryReader;
  private readonly alertDb: AlertDb | undefined;
  private readonly scrapers = new ScraperMemory();
  private readonly files: StaticFiles;
  private readonly cache = new AnswerCache(64, 256 * 1024, 4 * 1024 * 1024);
  private readonly metrics = new MetricsCache();
  private readonly doctorCache = new Map<string, { atMs: number; value: unknown }>();
  /** The listening sockets for doctor: one `ss` run shared by every request of 5 s (and by concurrent ones). */
  private listenersRead: { atMs: number; value: ReturnType<typeof readLinuxListeners> } | undefined;
  readonly stream: EventStream;
  readonly attributed = new AttributedCounter();
  /** When the attributed-reset counter last caught up (epoch seconds). */
  private attributedAt = Number.NEGATIVE_INFINITY;
  /** `handler status` → count, for rstwatch_http_requests_total. */
  readonly requests = new Map<string, number>();
  /** API error codes → count, for rstwatch_errors_total. */
  readonly apiErrors = new Map<string, number>();
  connections = 0;

  /** SQLite reads made for history queries (tests check the per-minute cache). */
  get historyDbReads(): number {
    return this.history.dbReads;
  }

  constructor(o: AppOptions) {
    this.o = o;
    this.ctx = o.ctx;
    this.limiter = new RateLimiter({
      perSecond: o.limits.requestsPerSecond,
      burst: o.limits.burst,
      maxClients: o.limits.maxClients,
    });
    const db = o.ctx.agent.db;
    this.history = new HistoryReader(o.ctx.agent.store, db?.connection, o.ctx.nowMs);
    let alertDb: AlertDb | undefined;
    if (db) {
      try {
        alertDb = new AlertDb(db.connection, { readonly: true });
      } catch {
        alertDb = undefined;
      }
    }
    this.alertDb = alertDb;
    this.files = new StaticFiles(o.webDir);
    this.stream = new EventStream(o.ctx, o.limits.maxStreamClients);
    this.register();
  }

  private json(name: string, fn: (c: Call) => unknown): Route {
    return { name, methods: READ, handler: (c) => sendJson(c.res, 200, fn(c)) };
  }

  private register(): void {
    const ctx = this.ctx;
    const r = (path: string, route: Route) => this.routes.set(path, route);
    r(
      '/api/v1/info',
      this.json('info', () => info(ctx)),
    );
    r(
      '/api/v1/charts',
      this.json('charts', () => charts(ctx)),
    );
    r(
      '/api/v1/chart',
      this.json('chart', (c) => chart(ctx, c.q)),
    );
    r('/api/v1/data', { name: 'data', methods: READ, handler: (c) => this.data(c) });
    r(
      '/api/v1/alarms',
      this.json('alarms', (c) => alarms(ctx, c.q)),
    );
    r(
      '/api/v1/alarms_values',
      this.json('alarms_values', (c) => alarmsValues(ctx, c.q)),
    );
    r(
      '/api/v1/alarm_log',
      this.json('alarm_log', (c) => alarmLog(ctx, this.alertDb, c.q)),
    );
    r(
      '/api/v1/alarm_count',
      this.json('alarm_count', (c) => alarmCount(ctx, c.q)),
    );
    // Silencers (manage-health.ts): token (X-Auth-Token or bearer) and Origin checked there, for GET too.
    r('/api/v1/manage/health', {
      name: 'manage_health',
      methods: ['GET', 'POST'],
      handler: (c) => {
        const a = manageHealth(ctx, c.req, {
          token: this.o.token,
          origin: { allowOrigins: this.o.allowOrigins },
          client: c.client,
        });
        if (a.kind === 'json') sendJson(c.res, 200, a.body);
        else send(c.res, 200, 'text/plain; charset=utf-8', a.body);
      },
    });
    r('/api/v1/allmetrics', {
      name: 'allmetrics',
      methods: READ,
      handler: (c) => {
        const a = allmetrics(ctx, c.q, this.scrapers, c.client);
        send(c.res, 200, a.contentType, typeof a.body === 'string' ? a.body : toJson(a.body));
      },
    });
    r('/metrics', {
      name: 'metrics',
      methods: READ,
      handler: (c) =>
        send(
          c.res,
          200,
          'text/plain; version=0.0.4; charset=utf-8',
          this.metrics.render(ctx, {
            requests: this.requests,
            connections: this.connections,
            streamClients: this.stream.size,
            apiErrors: this.apiErrors,
            attributed: this.tickAttributed(),
          }),
        ),
    });
    r(
      '/api/rstwatch/top',
      this.json('top', (c) => top(ctx, c.q)),
    );
    r(
      '/api/rstwatch/status',
      this.json('status', () => status(ctx, { listen: this.o.listen, tokenFile: this.o.tokenFile })),
    );
    r('/api/rstwatch/doctor', {
      name: 'doctor',
      methods: READ,
      handler: async (c) => {
        // Doctor lists listening sockets with `ss` (a process per run): answers are reused for 5 s, so
        // repeated requests cost one run, not one each.
        const key = c.req.url ?? '';
        const now = this.ctx.nowMs();
        const hit = this.doctorCache.get(key);
        if (hit && now - hit.atMs < 5000) {
          sendJson(c.res, 200, hit.value);
          return;
        }
        const value = await doctor(ctx, c.q, this.o.procRoot, () => this.listeners());
        if (this.doctorCache.size >= 16) this.doctorCache.clear();
        this.doctorCache.set(key, { atMs: now, value });
        sendJson(c.res, 200, value);
      },
    });
    r('/api/rstwatch/stream', {
      name: 'stream',
      methods: ['GET'],
      handler: (c) => {
        if (this.stream.full)
          throw new ApiError(503, 'E_API_BUSY', 'too many event streams are open', { 'Retry-After': '5' });
        this.stream.attach(c.req, c.res);
      },
    });
    r('/api/rstwatch/captures', {
      name: 'captures',
      methods: ['GET', 'HEAD', 'POST'],
      handler: async (c) => {
        const captures = requireCaptures(ctx);
        if (c.req.method !== 'POST') {
          sendJson(c.res, 200, { captures: captures.list() });
          return;
        }
        this.guardWrite(c.req);
        const type = (c.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') {
          throw new ApiError(
            415,
            'E_API_MEDIA_TYPE',
            'send the capture request as Content-Type: application/json',
          );
        }
        const body = parseJsonObject(await readBody(c.req, this.o.limits.maxBodyBytes));
        const req = parseCaptureRequest(body);
        let info: ReturnType<typeof captures.start>;
        try {
          info = captures.start(req);
        } catch (err) {
          throw captureError(err);
        }
        ctx.log.info('capture started through the API', { id: info.id, client: c.client });
        sendJson(c.res, 201, info);
      },
    });
    r(
      'capture',
      this.json('capture', (c) => captureById(ctx, c.id)),
    );
    r('capture/download', {
      name: 'capture_download',
      methods: READ,
      secret: true,
      handler: (c) => sendCaptureFile(c.res, captureById(ctx, c.id), c.req.method === 'HEAD'),
    });
    r('capture/report', {
      name: 'capture_report',
      methods: READ,
      handler: async (c) => {
        const info = captureById(ctx, c.id);
        if (info.state === 'running')
          throw new ApiError(409, 'E_CAPTURE_RUNNING', `capture ${info.id} is still running`);
        try {
          sendJson(c.res, 200, await requireCaptures(ctx).report(info.id));
        } catch (err) {
          throw captureError(err);
        }
      },
    });
    r('capture/stop', {
      name: 'capture_stop',
      methods: ['POST'],
      writes: true,
      handler: (c) => {
        const info = captureById(ctx, c.id);
        try {
          requireCaptures(ctx).stop(info.id);
        } catch (err) {
          throw captureError(err);
        }
        sendJson(c.res, 202, requireCaptures(ctx).get(info.id) ?? info);
      },
    });
  }

  /**
   * `ss -ltn` at most once per 5 s: the answer cache above is keyed by URL, which a client varies at will
   * (`?interval=1…120`, any extra parameter), and every miss would otherwise start a process.
   */
  private listeners(): ReturnType<typeof readLinuxListeners> {
    const now = this.ctx.nowMs();
    const last = this.listenersRead;
    if (last && now - last.atMs < 5000 && now >= last.atMs) return last.value;
    const value = readLinuxListeners(this.o.procRoot);
    this.listenersRead = { atMs: now, value };
    return value;
  }

  private guardWrite(req: IncomingMessage): void {
    checkOrigin(req, { allowOrigins: this.o.allowOrigins });
    checkToken(req, this.o.token);
  }

  private data(c: Call): void {
    // Before the cache: a cached script answer must not reach another site either.
    const format = c.q.get('format');
    if (format === 'jsonp' || format === 'datasource') checkScriptRead(c.req);
    // Same URL, same sample, same second → same answer: dashboards poll identical queries. (The second
    // matters: relative windows count from now, and a stalled sampler must show as shrinking data.)
    const epoch = `${this.ctx.agent.sampler.stats.samples}|${Math.floor(this.ctx.nowMs() / 1000)}`;
    const key = c.req.url ?? '';
    const hit = this.cache.get(key, epoch);
    if (hit) {
      send(c.res, 200, hit.type, hit.body, hit.headers);
      return;
    }
    const a = dataEndpoint(this.ctx, this.history, c.q);
    const body = Buffer.from(a.body, 'utf8');
    this.cache.set(key, epoch, { body, type: a.contentType, headers: a.headers ?? {} });
    send(c.res, a.status, a.contentType, body, a.headers);
  }

  /** Route a path: exact routes, then `/api/rstwatch/captures/<id>[/download|/report|/stop]`. */
  private route(path: string): { route: Route; id: string } | undefined {
    const exact = this.routes.get(path);
    if (exact) return { route: exact, id: '' };
    const prefix = '/api/rstwatch/captures/';
    if (path.startsWith(prefix)) {
      const rest = path.slice(prefix.length).split('/');
      if (rest.length === 1 && rest[0] !== '') return { route: this.routes.get('capture')!, id: rest[0]! };
      if (rest.length === 2 && rest[0] !== '') {
        const sub = this.routes.get(`capture/${rest[1]}`);
        if (sub) return { route: sub, id: rest[0]! };
      }
    }
    return undefined;
  }

  private readonly counted = new WeakSet<ServerResponse>();

  /** Count the request once, under its handler's name, when its answer is finished. */
  private count(name: string, res: ServerResponse): void {
    if (this.counted.has(res)) return;
    this.counted.add(res);
    res.once('finish', () => {
      const key = `${name} ${res.statusCode}`;
      this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let name = 'other';
    try {
      const url = req.url ?? '/';
      if (Buffer.byteLength(url) > this.o.limits.maxUrlBytes) {
        throw new ApiError(
          414,
          'E_API_URI_TOO_LONG',
          `the request target is over ${this.o.limits.maxUrlBytes} bytes`,
        );
      }
      // Only origin-form targets ("/path?query"); never let "//host/…" or "http://…" be parsed as a URL.
      if (!url.startsWith('/'))
        throw new ApiError(400, 'E_API_BAD_PATH', 'the request target must start with /');
      checkHost(req, this.o.loopbackOnly);
      const client = req.socket.remoteAddress ?? 'unknown';
      const wait = this.limiter.take(client);
      if (wait > 0) {
        throw new ApiError(429, 'E_API_RATE_LIMITED', `too many requests from ${client}; slow down`, {
          'Retry-After': String(Math.max(1, Math.ceil(wait))),
        });
      }
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const query = new Query(new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
      const found = this.route(path);
      const method = req.method ?? 'GET';
      if (!found) {
        if (path.startsWith('/api/') || path === '/metrics') {
          throw new ApiError(404, 'E_API_NOT_FOUND', `no endpoint ${path}`);
        }
        name = 'static';
        this.count(name, res);
        if (method !== 'GET' && method !== 'HEAD') {
          throw new ApiError(405, 'E_API_METHOD', `${method} is not allowed here`, { Allow: 'GET, HEAD' });
        }
        this.files.serve(res, path, req.headers['if-none-match'], method === 'HEAD');
        return;
      }
      const { route, id } = found;
      name = route.name;
      this.count(name, res);
      if (!route.methods.includes(method)) {
        throw new ApiError(405, 'E_API_METHOD', `${method} is not allowed on ${path}`, {
          Allow: route.methods.join(', '),
        });
      }
      if (route.writes) this.guardWrite(req);
      if (route.secret) checkToken(req, this.o.token);
      await route.handler({ req, res, q: query, path, client, id });
    } catch (err) {
      this.count(name, res);
      this.fail(res, err);
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err instanceof RstwatchError) e = new ApiError(500, err.code, err.message);
    else {
      e = new ApiError(500, 'E_API_INTERNAL', 'internal error (logged)');
      this.ctx.log.once(
        `api-internal-${String(err)}`,
        'error',
        `API handler failed: ${(err as Error)?.stack ?? String(err)}`,
        {
          code: 'E_API_INTERNAL',
        },
      );
    }
    this.apiErrors.set(e.code, (this.apiErrors.get(e.code) ?? 0) + 1);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendError(res, e);
  }

  /** Once a second: stream events (and, once a minute, the attributed-reset counter). Never throws. */
  pulse(): void {
    try {
      this.stream.pulse();
    } catch (err) {
      this.ctx.log.once('api-stream', 'error', `event stream failed: ${(err as Error).message}`, {
        code: 'E_API_INTERNAL',
      });
    }
    // The attributed-reset counter catches up once a minute here and before every scrape (/metrics): two
    // top() calls a second for a counter nobody reads between scrapes were ~2 % of an idle agent's work.
    if (Math.floor(this.ctx.nowMs() / 1000) - this.attributedAt >= ATTRIBUTED_TICK_SECONDS)
      this.tickAttributed();
  }

  /** Bring the attributed-reset counter up to now (never throws); the counter, for /metrics. */
  private tickAttributed(): AttributedCounter {
    const attr = this.ctx.agent.attribution;
    if (!attr) return this.attributed;
    const nowSec = Math.floor(this.ctx.nowMs() / 1000);
    this.attributedAt = nowSec;
    try {
      if (attr.status().enabled) this.attributed.tick(attr, nowSec);
    } catch (err) {
      this.ctx.log.once('api-attributed', 'warn', `reading attribution failed: ${(err as Error).message}`);
    }
    return this.attributed;
  }

  close(): void {
    this.stream.close();
  }
}
