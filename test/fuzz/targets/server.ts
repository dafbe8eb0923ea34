/**
 * The HTTP API: every route's query parsing through the real request handler (App.handle, in process, no
 * sockets), and a bounded loop of raw requests against the running server on loopback (request line,
 * headers and bodies as bytes, so malformed HTTP reaches Node's parser and the server's clientError path).
 *
 * The server is the test harness's (test/unit/server-harness.ts): a simulated agent with the shipped alerts,
 * plus an attribution view and a capture manager that only record what they are asked (the capture
 * manager checks that what reaches it was validated).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { CaptureInfo, CaptureRequest, CaptureView } from '../../../src/server/types.js';
import { type Harness, startHarness } from '../../unit/server-harness.js';
import { bytes, check, checkCode, type FuzzTarget, OracleFailure, utf8 } from '../engine/target.js';

let h: Harness | undefined;
let users = 0;
const captures = new Map<string, CaptureInfo>();

/** A capture manager that runs nothing: it checks the request the server validated and remembers it. */
const fakeCaptures: CaptureView = {
  start(req: CaptureRequest): CaptureInfo {
    const known = new Set(['iface', 'durationSeconds', 'maxPackets', 'maxBytes', 'filter', 'format']);
    for (const k of Object.keys(req)) if (!known.has(k)) throw new OracleFailure(`capture request with ${k}`);
    if (req.iface !== undefined && !/^[A-Za-z0-9_.:@-]{1,15}$/.test(req.iface))
      throw new OracleFailure(`capture iface ${JSON.stringify(req.iface)} passed validation`);
    for (const n of [req.durationSeconds, req.maxPackets, req.maxBytes]) {
      if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new OracleFailure(`capture limit ${n}`);
    }
    if (req.filter !== undefined && !/^[\x20-\x7e]*$/.test(req.filter))
      throw new OracleFailure('capture filter with control characters passed validation');
    const id = `c${captures.size % 4}`;
    const info: CaptureInfo = {
      id,
      state: 'done',
      startedAt: new Date(0).toISOString(),
      file: '/nonexistent/rstwatch-fuzz.pcap',
      bytes: 0,
      packets: 0,
      request: req,
    };
    captures.set(id, info);
    return info;
  },
  list: () => [...captures.values()],
  get: (id) => captures.get(id),
  report: async (id) => ({ id }),
  stop: (id) => {
    if (!captures.has(id)) throw new OracleFailure(`stop of unknown capture ${id} reached the manager`);
  },
};

async function setup(): Promise<void> {
  users++;
  if (h) return;
  h = await startHarness({
    limits: { requestsPerSecond: 1e9, burst: 1e9 },
    attribution: {
      status: () => ({ enabled: true, layout: 'sockaddr-reason', events: 3, lost: 0 }),
      top: (q) => ({
        windowSeconds: q.windowSeconds,
        total: 3,
        other: 0,
        peers: [{ key: '192.0.2.1', count: 3 }],
        localPorts: [{ key: '80', count: 3, process: { name: 'nginx', pid: 1 } }],
        remotePorts: [],
        reasons: [{ key: 'NO_SOCKET', count: 3 }],
        states: [],
      }),
    },
    captures: fakeCaptures,
  });
}

async function teardown(): Promise<void> {
  if (--users > 0 || !h) return;
  await h.close();
  h = undefined;
}

const internalErrors = () => h!.server.app.apiErrors.get('E_API_INTERNAL') ?? 0;

/** Request targets a dashboard and Netdata clients send, built from the simulated agent's charts. */
function seedTargets(): string[] {
  const charts = h!.agent.store.allCharts().map((c) => c.instance.fullId);
  const chart = charts[0] ?? 'ip.tcphandshake';
  const alert = h!.agent.health.alerts[0]?.compiled.config.name ?? 'x';
  return [
    '/api/v1/info',
    '/api/v1/charts',
    `/api/v1/chart?chart=${chart}`,
    `/api/v1/data?chart=${chart}&after=-60&before=0&points=10&group=average&format=json&options=jsonwrap|nonzero`,
    `/api/v1/data?chart=${chart}&after=-600&points=20&group=percentile95&format=csv&options=seconds,abs,null2zero`,
    `/api/v1/data?context=ip.tcphandshake&dimensions=OutRsts|AttemptFails&format=datatable&options=objectrows,ms&tier=1`,
    `/api/v1/data?chart=${chart}&format=jsonp&callback=cb&gtime=60&options=percentage,flip,unaligned,match-names`,
    `/api/v1/data?chart=${chart}&format=ssv&group=countif>=5&filename=x.csv`,
    '/api/v1/alarms?all',
    '/api/v1/alarms?active',
    '/api/v1/alarms_values?all',
    '/api/v1/alarm_log?after=0',
    `/api/v1/alarm_count?context=ip.tcphandshake&status=WARNING`,
    `/api/v1/alarm_variables?chart=${chart}`,
    '/api/v1/allmetrics?format=prometheus&prefix=netdata&timestamps=yes&source=average',
    '/api/v1/allmetrics?format=shell',
    '/api/v1/allmetrics?format=json',
    '/metrics',
    '/api/rstwatch/top?window=1m&direction=sent&limit=5',
    '/api/rstwatch/status',
    '/api/rstwatch/doctor',
    '/api/rstwatch/captures',
    '/api/rstwatch/captures/c0',
    '/api/rstwatch/captures/c0/report',
    '/api/rstwatch/captures/c0/download',
    '/',
    '/index.html',
    '/sub/%2e%2e/x',
    `/api/v1/alarms?${encodeURIComponent(alert)}`,
  ];
}

const API_DICT = [
  '?',
  '&',
  '=',
  '%',
  '%00',
  '%zz',
  '|',
  ',',
  '/api/v1/data?',
  '/api/v1/chart?chart=',
  '/api/rstwatch/captures/',
  'chart=',
  'context=',
  'after=',
  'before=',
  'points=',
  'group=',
  'gtime=',
  'format=',
  'options=',
  'dimensions=',
  'callback=',
  'filename=',
  'tier=',
  'window=',
  'direction=',
  'limit=',
  'netns=',
  'all',
  'jsonwrap',
  'percentage',
  'objectrows',
  'datatable',
  'csv',
  'jsonp',
  'html',
  'array',
  'csvjsonarray',
  'tsv',
  'markdown',
  'incremental_sum',
  'percentile',
  'trimmed_mean',
  'countif!=',
  '-1e309',
  '9007199254740993',
  'NaN',
  'Authorization: Bearer TOKEN',
  'Origin: http://127.0.0.1',
  'Content-Type: application/json',
  '{"iface":"lo","durationSeconds":1,"filter":"tcp"}',
  'POST ',
  'HEAD ',
];

// ---- in process ----

class FakeRes extends Writable {
  statusCode = 200;
  headersSent = false;
  headers: Record<string, string> = {};
  body: Buffer[] = [];
  req: IncomingMessage;
  constructor(req: IncomingMessage) {
    super();
    this.req = req;
  }
  writeHead(status: number, headers?: Record<string, string>): this {
    this.statusCode = status;
    this.headersSent = true;
    this.headers = headers ?? {};
    return this;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.body.push(Buffer.from(chunk));
    cb();
  }
}

/** "METHOD target\nHeader: value…\n\nbody" (method optional). */
function parseInput(
  text: string,
  token: string,
): { method: string; url: string; headers: Record<string, string>; body: string } {
  const withToken = text.replaceAll('TOKEN', token);
  const blank = withToken.indexOf('\n\n');
  const head = blank < 0 ? withToken : withToken.slice(0, blank);
  const body = blank < 0 ? '' : withToken.slice(blank + 2);
  const [first = '', ...rest] = head.split('\n');
  const m = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) (.*)$/.exec(first);
  const headers: Record<string, string> = { host: '127.0.0.1' };
  for (const l of rest) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  if (body !== '') headers['content-length'] = String(Buffer.byteLength(body));
  return { method: m ? m[1]! : 'GET', url: m ? m[2]! : first, headers, body };
}

export const apiQueryTarget: FuzzTarget = {
  name: 'api-query',
  about: "HTTP API request handling in process (src/server/app.ts and every route's query parsing)",
  maxLen: 2048,
  text: true,
  dict: API_DICT,
  setup,
  teardown,
  seeds: () => [
    ...seedTargets().map(bytes),
    bytes(
      'POST /api/rstwatch/captures\nAuthorization: Bearer TOKEN\nContent-Type: application/json\n\n{"iface":"lo","durationSeconds":5,"format":"pcapng"}',
    ),
    bytes('POST /api/rstwatch/captures/c0/stop\nAuthorization: Bearer TOKEN\n'),
    bytes('HEAD /api/v1/info'),
  ],
  async run(data) {
    const { method, url, headers, body } = parseInput(utf8(data), h!.token);
    const before = internalErrors();
    const req = Object.assign(Readable.from(body === '' ? [] : [Buffer.from(body)]), {
      url,
      method,
      headers,
      socket: { remoteAddress: '127.0.0.1' },
    }) as unknown as IncomingMessage;
    const res = new FakeRes(req);
    const finished = new Promise<void>((resolve) => {
      res.on('finish', resolve);
      res.on('close', resolve);
    });
    await h!.server.app.handle(req, res as unknown as ServerResponse);
    const streaming = (res.headers['Content-Type'] ?? '').startsWith('text/event-stream');
    if (streaming) {
      res.destroy();
      req.emit('close');
    } else await finished;
    check(internalErrors() === before, `${method} ${url} answered 500 E_API_INTERNAL (see the server log)`);
    const status = res.statusCode;
    check(Number.isInteger(status) && status >= 200 && status <= 599, `status ${status}`);
    const type = res.headers['Content-Type'] ?? '';
    const text = Buffer.concat(res.body).toString('utf8');
    if (method === 'HEAD' || streaming || status === 304) return;
    if (status >= 400) {
      const e = JSON.parse(text) as { error?: { code?: string; status?: number; message?: string } };
      check(e.error?.status === status, `error body status ${e.error?.status} for HTTP ${status}`);
      checkCode(e.error?.code ?? '', `${method} ${url}`);
      check((e.error?.message ?? '') !== '', 'error without a message');
    } else if (type.startsWith('application/json')) {
      try {
        JSON.parse(text);
      } catch (err) {
        throw new OracleFailure(`${method} ${url}: invalid JSON body (${(err as Error).message})`);
      }
    }
  },
};

// ---- over sockets ----

function rawRequest(port: number, payload: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(5000, () => s.destroy(new Error('the server did not answer within 5 s')));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err: Error & { code?: string }) => {
      // The server may reset a connection it refused (too large, malformed): that is an answer too.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE')
        resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(err);
    });
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.end(payload);
  });
}

let requestsSinceProbe = 0;

export const apiHttpTarget: FuzzTarget = {
  name: 'api-http',
  about: 'the running API server on loopback: raw HTTP requests (request line, headers, body) over TCP',
  maxLen: 4096,
  text: true,
  dict: [
    ...API_DICT,
    ' HTTP/1.1\r\n',
    'Host: 127.0.0.1\r\n',
    'Transfer-Encoding: chunked\r\n',
    'Content-Length: 5\r\n',
    '\r\n\r\n',
    'Connection: keep-alive\r\n',
    'Expect: 100-continue\r\n',
  ],
  setup,
  teardown,
  seeds: () => [
    ...seedTargets().map((t) => bytes(`GET ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)),
    bytes(
      'GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    ),
    bytes(
      'POST /api/rstwatch/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer TOKEN\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ifa\r\n0\r\n\r\n',
    ),
    bytes('GET /api/v1/info HTTP/1.0\r\n\r\n'),
    bytes('GET http://evil/ HTTP/1.1\r\nHost: evil.example\r\n\r\n'),
  ],
  async run(data) {
    const payload = bytes(utf8(data).replaceAll('TOKEN', h!.token));
    const before = internalErrors();
    const answer = await rawRequest(h!.server.port, payload);
    check(
      internalErrors() === before,
      `request answered 500 E_API_INTERNAL:\n${utf8(payload).slice(0, 300)}`,
    );
    if (answer !== '')
      check(answer.startsWith('HTTP/1.1 '), `not an HTTP answer: ${JSON.stringify(answer.slice(0, 40))}`);
    // Every so often: the server still answers a plain request.
    if (++requestsSinceProbe >= 500) {
      requestsSinceProbe = 0;
      const probe = await rawRequest(
        h!.server.port,
        bytes('GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
      );
      check(
        probe.startsWith('HTTP/1.1 200'),
        `the server stopped answering: ${JSON.stringify(probe.slice(0, 60))}`,
      );
    }
  },
};
