/**
 * The agent's HTTP server: Netdata-compatible API, /metrics, rstwatch's JSON and event stream, and the
 * dashboard's files. node:http directly (docs/api.md says why): no dependency, and every limit is ours to set.
 *
 * Limits against slow or greedy clients: header size (`maxHeaderSize`), time to send the headers and the
 * whole request (`headersTimeout`, `requestTimeout`, checked every `checkIntervalMs`), idle keep-alive
 * time, open connections (answered 503 beyond the cap), URL and body size, requests per second per client.
 * Protocol errors get a JSON answer with a stable code, then the connection is closed.
 *
 * @example
 * const server = await startServer({ agent, settings, log });
 * console.log(server.url); // http://127.0.0.1:19911
 * await server.close();
 */

import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import { App, type AppLimits } from './app.js';
import { makeContext } from './context.js';
import { errorBody } from './http.js';
import { ensureToken, isLoopbackAddress } from './security.js';
import { DEFAULT_WEB_DIR } from './static.js';
import type { ServerAgent } from './types.js';

/** The settings the server reads (a subset of the agent's Settings). */
export interface ServerSettings {
  /** `host:port`, `[v6]:port`, or `none` / `off` for no server. */
  listen: string;
  dataDir: string;
  procRoot: string;
  /** '' → `<dataDir>/api.token`. */
  apiTokenFile: string;
  apiMaxConnections: number;
  apiRequestsPerSecond: number;
  apiAllowOrigins: string[];
  /** '' → the package's web/ folder. */
  webDir: string;
}

export interface ServerLimits extends AppLimits {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  /**
   * At the cap, a new connection evicts the oldest one that has not completed a request for this long
   * (408 E_API_TIMEOUT), so idle or slow-header connections cannot keep real clients out for the whole
   * header timeout.
   */
  evictSilentAfterMs: number;
  /** How often Node checks the header/request timeouts. */
  checkIntervalMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxHeaderBytes: 8 * 1024,
  maxUrlBytes: 4 * 1024,
  maxBodyBytes: 64 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  evictSilentAfterMs: 2_000,
  checkIntervalMs: 1_000,
  requestsPerSecond: 100,
  burst: 200,
  maxClients: 1024,
  maxStreamClients: 16,
};

export interface StartServerOptions {
  agent: ServerAgent;
  settings: ServerSettings;
  log: Logger;
  /** Tests: tighter limits, a pinned clock. */
  limits?: Partial<ServerLimits>;
  nowMs?: () => number;
  /** Tests: no per-second pulse (call `pulse()` by hand). Otherwise it runs after each sample, or every second. */
  manualPulse?: boolean;
}

export interface RunningServer {
  /** `http://127.0.0.1:19911` (the real port when 0 was asked). */
  url: string;
  host: string;
  port: number;
  tokenFile: string;
  app: App;
  /** Run the per-second work now (tests). */
  pulse(): void;
  /**
   * Who checks header/request timeouts: `running`/`idle` — ours, while connections are open / none open;
   * `node` — Node's own interval (its internals were not found).
   */
  connectionsCheck(): 'running' | 'idle' | 'node';
  close(): Promise<void>;
}

/** `127.0.0.1:19911`, `[::1]:19911`, `localhost:80`, `19911` (loopback). */
export function parseListen(text: string): { host: string; port: number } {
  const t = text.trim();
  let host: string;
  let portText: string;
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(t);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (/^\d+$/.test(t)) {
    host = '127.0.0.1';
    portText = t;
  } else {
    const colon = t.lastIndexOf(':');
    if (colon <= 0 || t.indexOf(':') !== colon) {
      throw new RstwatchError(
        'E_API_LISTEN',
        `listen: expected host:port or [v6]:port, got ${JSON.stringify(text)}`,
      );
    }
    host = t.slice(0, colon);
    portText = t.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new RstwatchError(
      'E_API_LISTEN',
      `listen: the port must be 0..65535, got ${JSON.stringify(portText)}`,
    );
  }
  return { host, port };
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/** A raw HTTP/1.1 error answer for the socket level (before or instead of a request object). */
function rawAnswer(status: number, code: string, message: string, extra = ''): string {
  const body = JSON.stringify(errorBody(status, code, message));
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`
  );
}

/**
 * Node's HTTP server enforces `headersTimeout`/`requestTimeout` with an unref'd setInterval that runs from
 * listen to close, with connections or without: on an idle agent, a wake-up every `checkIntervalMs` for
 * nothing (strace: one of the three a second, issue 2). Take the interval's function and clear it, so the
 * caller runs the same check only while connections are open. Node keeps the interval under an internal
 * symbol (`http.server.connectionsCheckingInterval`, Node 18.4 to 22); when it is not there, undefined:
 * Node's own interval stays and the limits hold as before.
 */
export function takeConnectionsChecker(server: Server): (() => void) | undefined {
  const sym = Object.getOwnPropertySymbols(server).find(
    (k) => k.description === 'http.server.connectionsCheckingInterval',
  );
  if (sym === undefined) return undefined;
  const t = (server as unknown as Record<symbol, unknown>)[sym] as
    | (NodeJS.Timeout & { _onTimeout?: unknown })
    | undefined;
  if (t === undefined || typeof t._onTimeout !== 'function') return undefined;
  const check = t._onTimeout as () => void;
  clearInterval(t);
  return () => check();
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const { settings, log, agent } = opts;
  const limits: ServerLimits = {
    ...DEFAULT_LIMITS,
    maxConnections: settings.apiMaxConnections,
    requestsPerSecond: settings.apiRequestsPerSecond,
    burst: settings.apiRequestsPerSecond * 2,
    ...opts.limits,
  };
  const { host, port } = parseListen(settings.listen);
  const tokenFile =
    settings.apiTokenFile === '' ? join(settings.dataDir, 'api.token') : settings.apiTokenFile;
  const token = ensureToken(tokenFile, log);
  const ctx = makeContext({
    agent,
    log,
    dataDir: settings.dataDir,
    ...(opts.nowMs ? { nowMs: opts.nowMs } : {}),
  });
  const loopbackOnly = isLoopbackAddress(host);
  const app = new App({
    ctx,
    token,
    tokenFile,
    listen: settings.listen,
    loopbackOnly,
    allowOrigins: settings.apiAllowOrigins,
    webDir: settings.webDir === '' ? DEFAULT_WEB_DIR : settings.webDir,
    procRoot: settings.procRoot,
    limits,
  });
  const server: Server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
    (req, res) => {
      void app.handle(req, res);
    },
  );
  const sockets = new Set<Socket>();
  // Node's check of header/request timeouts, run only while connections are open (takeConnectionsChecker).
  let checker: (() => void) | undefined;
  let checking: NodeJS.Timeout | undefined;
  // Connections that have not completed a request yet, oldest first (a Map keeps insertion order), with
  // the time they were accepted (real time, not the tests' pinned clock): at the cap, the oldest of them
  // makes room if it has been silent for `evictSilentAfterMs`. Without this, a flood of idle connections
  // (or a slow-headers attack) holds the cap until the 10-s header timeout, and the operator's dashboard
  // gets 503 meanwhile.
  const silent = new Map<Socket, number>();
  server.on('request', (req) => {
    silent.delete(req.socket);
  });
  server.on('connection', (socket: Socket) => {
    if (sockets.size >= limits.maxConnections) {
      const oldest = silent.entries().next();
      if (!oldest.done && Date.now() - oldest.value[1] >= limits.evictSilentAfterMs) {
        const victim = oldest.value[0];
        silent.delete(victim);
        sockets.delete(victim);
        victim.end(
          rawAnswer(
            408,
            'E_API_TIMEOUT',
            `no request within ${limits.evictSilentAfterMs} ms while the API was at its connection cap`,
          ),
        );
        victim.destroySoon?.();
        app.apiErrors.set('E_API_TIMEOUT', (app.apiErrors.get('E_API_TIMEOUT') ?? 0) + 1);
      }
    }
    if (sockets.size >= limits.maxConnections) {
      socket.end(
        rawAnswer(
          503,
          'E_API_BUSY',
          `more than ${limits.maxConnections} open connections`,
          'Retry-After: 1\r\n',
        ),
      );
      socket.destroySoon?.();
      app.apiErrors.set('E_API_BUSY', (app.apiErrors.get('E_API_BUSY') ?? 0) + 1);
      return;
    }
    sockets.add(socket);
    silent.set(socket, Date.now());
    app.connections = sockets.size;
    if (checker !== undefined && checking === undefined) {
      checking = setInterval(checker, limits.checkIntervalMs);
      checking.unref();
    }
    socket.on('close', () => {
      sockets.delete(socket);
      silent.delete(socket);
      app.connections = sockets.size;
      if (sockets.size === 0 && checking !== undefined) {
        clearInterval(checking);
        checking = undefined;
      }
    });
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    let status = 400;
    let code = 'E_API_BAD_REQUEST';
    let message = 'malformed HTTP request';
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      code = 'E_API_HEADERS_TOO_LARGE';
      message = `request headers over ${limits.maxHeaderBytes} bytes`;
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      code = 'E_API_TIMEOUT';
      message = 'the request took too long to arrive';
    }
    app.apiErrors.set(code, (app.apiErrors.get(code) ?? 0) + 1);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(rawAnswer(status, code, message));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      const c = sysCode(err);
      reject(
        new RstwatchError('E_API_LISTEN', `cannot listen on ${settings.listen}: ${c ?? errorMessage(err)}`, {
          hint:
            c === 'EADDRINUSE'
              ? 'another program uses the port: set --listen to another one, or none'
              : 'check --listen',
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
  server.on('error', (err) =>
    log.error(`API server error: ${errorMessage(err)}`, { code: 'E_API_INTERNAL' }),
  );
  checker = takeConnectionsChecker(server);
  const addr = server.address();
  const realPort = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${realPort}`;

  let timer: NodeJS.Timeout | undefined;
  const pulse = () => app.pulse();
  if (!opts.manualPulse) {
    if (opts.agent.afterTick) opts.agent.afterTick.add(pulse);
    else {
      timer = setInterval(pulse, 1000);
      timer.unref();
    }
  }
  log.info('API listening', {
    url,
    token: tokenFile,
    loopbackOnly,
    dashboard: settings.webDir === '' ? DEFAULT_WEB_DIR : settings.webDir,
  });

  let closed = false;
  return {
    url,
    host,
    port: realPort,
    tokenFile,
    app,
    pulse: () => app.pulse(),
    connectionsCheck: () => (checker === undefined ? 'node' : checking === undefined ? 'idle' : 'running'),
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      if (checking !== undefined) clearInterval(checking);
      opts.agent.afterTick?.delete(pulse);
      app.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive and streaming connections would hold close() open: end them.
        server.closeAllConnections();
      });
    },
  };
}
