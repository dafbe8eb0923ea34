/**
 * rstwatch's own JSON under `/api/rstwatch/…`: attribution windows, agent status, doctor findings from the
 * agent's counters, and captures (start, list, download, analysis report). Shapes are documented in
 * docs/api.md; errors use the codes of docs/errors.md.
 */

import { createReadStream, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { FREEBSD_SYSCTLS } from '../collect/freebsd.js';
import { statusName } from '../health/types.js';
import { RstwatchError } from '../internal/errors.js';
import { type DoctorInput, diagnose, worstSeverity } from '../remedy/doctor.js';
import { readLinuxListeners, readLinuxSettings } from '../remedy/doctor-inputs.js';
import { nowSec, type ServerContext } from './context.js';
import { ApiError, BASE_HEADERS, type Query } from './http.js';
import type { CaptureInfo, CaptureRequest, RstDirection } from './types.js';

/** `10s`, `1m`, `1h` or plain seconds, 1 s … 1 h. */
export function parseWindow(text: string | undefined, def = 60): number {
  if (text === undefined || text === '') return def;
  const m = /^(\d{1,5})(s|m|h)?$/.exec(text.trim());
  if (!m)
    throw new ApiError(
      400,
      'E_API_PARAM',
      `window: expected 10s, 1m, 1h or seconds, got ${JSON.stringify(text)}`,
    );
  const n = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  if (n < 1 || n > 3600) throw new ApiError(400, 'E_API_PARAM', 'window: between 1s and 1h');
  return n;
}

function parseDirection(text: string | undefined): RstDirection | undefined {
  if (text === undefined || text === '' || text === 'all') return undefined;
  if (text === 'sent' || text === 'received') return text;
  throw new ApiError(400, 'E_API_PARAM', `direction: sent, received or all, got ${JSON.stringify(text)}`);
}

/** `/api/rstwatch/top?window=10s|1m|1h&direction=&limit=&netns=`. */
export function top(ctx: ServerContext, q: Query): Record<string, unknown> {
  const attr = ctx.agent.attribution;
  if (!attr) {
    throw new ApiError(
      503,
      'E_API_UNAVAILABLE',
      'reset attribution is not part of this agent (no tracepoint reader)',
    );
  }
  const windowSeconds = parseWindow(q.get('window'));
  const direction = parseDirection(q.get('direction'));
  const limit = q.int('limit', 10, 1, 100);
  const status = attr.status();
  const query: Parameters<typeof attr.top>[0] = { nowSec: nowSec(ctx), windowSeconds, limit };
  if (direction !== undefined) query.direction = direction;
  const netns = q.get('netns');
  if (netns !== undefined && netns !== '') query.netns = netns;
  return {
    windowSeconds,
    direction: direction ?? 'all',
    status,
    top: status.enabled ? attr.top(query) : null,
  };
}

function resetRates(ctx: ServerContext): Record<string, Record<string, number | null>> {
  const store = ctx.agent.store;
  const out: Record<string, Record<string, number | null>> = {};
  for (const c of store.allCharts()) {
    if (c.instance.def.context !== 'ip.tcphandshake') continue;
    const last = store.lastT(c);
    const rates: Record<string, number | null> = {};
    for (const s of c.series) {
      let n = 0;
      let sum = 0;
      if (!Number.isNaN(last)) {
        s.ring.forEach(last - 9 * store.updateEvery, last, (_t, v) => {
          if (Number.isFinite(v)) {
            n++;
            sum += v;
          }
        });
      }
      rates[s.dim.id] = n > 0 ? sum / n : null;
    }
    out[c.instance.netns] = rates;
  }
  return out;
}

/** `/api/rstwatch/status`: what the agent does and how it is doing. */
export function status(
  ctx: ServerContext,
  extra: { listen: string; tokenFile: string },
): Record<string, unknown> {
  const a = ctx.agent;
  const st = a.sampler.stats;
  const byStatus: Record<string, number> = {};
  const raised: { alert: string; chart: string; status: string; value: number; since: number }[] = [];
  for (const rt of a.health.alerts) {
    const s = statusName(rt.status);
    byStatus[s] = (byStatus[s] ?? 0) + 1;
    if (s === 'WARNING' || s === 'CRITICAL') {
      raised.push({
        alert: rt.compiled.config.name,
        chart: rt.chartId,
        status: s,
        value: rt.value,
        since: rt.lastStatusChange,
      });
    }
  }
  let attribution: unknown = null;
  try {
    attribution = a.attribution?.status() ?? null;
  } catch (err) {
    attribution = { enabled: false, reason: (err as Error).message };
  }
  return {
    application: 'rstwatch',
    version: ctx.version,
    hostname: ctx.hostname,
    os: ctx.os,
    now: nowSec(ctx),
    uptimeSeconds: a.sampler.uptimeSeconds(),
    collectors: a.collectors.map((c) => ({ netns: c.netns, reads: c.describe() })),
    sampler: {
      samples: st.samples,
      late: st.late,
      missed: st.missed,
      clockJumps: st.clockJumps,
      lastSampleAgeSeconds: Number.isNaN(st.lastSampleWallMs)
        ? null
        : (ctx.nowMs() - st.lastSampleWallMs) / 1000,
      lastDurationUs: st.lastDurationUs,
      errors: Object.fromEntries(st.errors),
    },
    store: {
      updateEvery: a.store.updateEvery,
      memorySeconds: a.store.ringSeconds,
      history: a.db ? a.db.path : null,
      charts: a.store.allCharts().length,
      errors: Object.fromEntries(a.store.errors),
    },
    resetRates10s: resetRates(ctx),
    alerts: { total: a.health.alerts.length, byStatus, raised },
    attribution,
    captures: a.captures ? a.captures.list().length : null,
    api: { listen: extra.listen, tokenFile: extra.tokenFile },
  };
}

/**
 * `/api/rstwatch/doctor?netns=host&interval=60`: rstwatch doctor's checks on the agent's own counters —
 * the newest read and one about `interval` seconds older — instead of sampling anew. Sysctls are read for
 * the agent's own namespace (files under /proc/sys/net belong to the opener's namespace); for another
 * namespace the settings checks report "not checked".
 */
export async function doctor(
  ctx: ServerContext,
  q: Query,
  procRoot: string,
  // The listening sockets (`ss -ltn`, a process per call): the server passes a shared, time-cached reader.
  readListeners: () => ReturnType<typeof readLinuxListeners> = () => readLinuxListeners(procRoot),
): Promise<Record<string, unknown>> {
  const tap = ctx.agent.counters;
  if (!tap) throw new ApiError(503, 'E_API_UNAVAILABLE', 'the agent keeps no raw counters for doctor');
  const netns = q.get('netns') ?? 'host';
  const interval = q.int('interval', 60, 1, 120);
  const after = tap.latest(netns);
  if (!after)
    throw new ApiError(
      404,
      'E_API_NETNS',
      `no counters for namespace ${JSON.stringify(netns)} (watched: ${tap.netnsList().join(', ')})`,
    );
  const before = tap.before(netns, interval * 1000) ?? after;
  let settings: Record<string, number | string | undefined> = {};
  const problems: unknown[] = [];
  let listeners: DoctorInput['listeners'];
  if (ctx.os === 'linux' && netns === 'host') {
    const s = readLinuxSettings(procRoot);
    settings = s.settings;
    problems.push(...s.problems);
    listeners = (await readListeners()).listeners;
  } else if (ctx.os === 'freebsd') {
    const read = after.settings ?? {};
    for (const name of FREEBSD_SYSCTLS) settings[name] = Object.hasOwn(read, name) ? read[name] : undefined;
  }
  const input: DoctorInput = {
    os: ctx.os,
    settings,
    before: { ...before.counters },
    after: { ...after.counters },
    intervalSeconds: (after.wallMs - before.wallMs) / 1000,
  };
  if (listeners !== undefined) input.listeners = listeners;
  const findings = diagnose(input);
  return {
    os: ctx.os,
    netns,
    intervalSeconds: input.intervalSeconds,
    settings: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, v ?? null])),
    findings,
    worst: worstSeverity(findings),
    problems,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Captures

const CAPTURE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Linux IFNAMSIZ is 16 with the NUL: 15 characters, no slash or whitespace. */
const IFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;
const REQUEST_KEYS = new Set(['iface', 'durationSeconds', 'maxPackets', 'maxBytes', 'filter', 'format']);

function intField(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ApiError(400, 'E_API_PARAM', `${key}: an integer in ${min}..${max}`);
  }
  return v;
}

/** Validate a capture request body field by field; unknown keys are refused (a typo must not be ignored). */
export function parseCaptureRequest(body: Record<string, unknown>): CaptureRequest {
  for (const k of Object.keys(body)) {
    if (!REQUEST_KEYS.has(k))
      throw new ApiError(
        400,
        'E_API_PARAM',
        `unknown field ${JSON.stringify(k)} (known: ${[...REQUEST_KEYS].join(', ')})`,
      );
  }
  const req: CaptureRequest = {};
  if (body.iface !== undefined) {
    if (typeof body.iface !== 'string' || !IFACE.test(body.iface))
      throw new ApiError(400, 'E_API_PARAM', 'iface: an interface name (1–15 of A-Z a-z 0-9 _ . : @ -)');
    req.iface = body.iface;
  }
  const d = intField(body, 'durationSeconds', 1, 3600);
  if (d !== undefined) req.durationSeconds = d;
  const p = intField(body, 'maxPackets', 1, 10_000_000);
  if (p !== undefined) req.maxPackets = p;
  const b = intField(body, 'maxBytes', 1, 2 ** 31);
  if (b !== undefined) req.maxBytes = b;
  if (body.filter !== undefined) {
    // A BPF expression goes to tcpdump as one argument (never a shell); printable ASCII only, bounded.
    if (typeof body.filter !== 'string' || body.filter.length > 1024 || !/^[\x20-\x7e]*$/.test(body.filter)) {
      throw new ApiError(400, 'E_API_PARAM', 'filter: printable ASCII, at most 1024 characters');
    }
    req.filter = body.filter;
  }
  if (body.format !== undefined) {
    if (body.format !== 'pcap' && body.format !== 'pcapng')
      throw new ApiError(400, 'E_API_PARAM', 'format: pcap or pcapng');
    req.format = body.format;
  }
  return req;
}

export function requireCaptures(ctx: ServerContext): NonNullable<ServerContext['agent']['captures']> {
  const c = ctx.agent.captures;
  if (!c) throw new ApiError(503, 'E_API_UNAVAILABLE', 'captures are not part of this agent');
  return c;
}

export function captureById(ctx: ServerContext, id: string): CaptureInfo {
  if (!CAPTURE_ID.test(id))
    throw new ApiError(400, 'E_API_PARAM', 'capture id: letters, digits, _ and - only');
  const info = requireCaptures(ctx).get(id);
  if (!info) throw new ApiError(404, 'E_CAPTURE_NOT_FOUND', `no capture ${id}`);
  return info;
}

/** HTTP statuses of the capture manager's codes (src/capture); any other code is a 500. */
const CAPTURE_STATUS: Record<string, number> = {
  E_CAPTURE_BUSY: 409,
  E_CAPTURE_NOT_FOUND: 404,
  E_CAPTURE_FILTER: 400,
  E_CAPTURE_BAD_IFACE: 400,
  E_CAPTURE_LIMIT: 400,
  E_USAGE: 400,
  // The capture exists but its file cannot be read as a capture (the reader's codes, docs/captures.md): the
  // request was fine and so is the server, the content is not — 422 (RFC 9110 §15.5.21), not a 500.
  E_CAPTURE_EMPTY: 422,
  E_CAPTURE_MAGIC: 422,
  E_CAPTURE_VERSION: 422,
  E_CAPTURE_TRUNCATED: 422,
  E_CAPTURE_CAPLEN: 422,
  E_CAPTURE_BLOCK: 422,
  E_CAPTURE_INTERFACE: 422,
  E_CAPTURE_GZIP: 422,
  // What the host lacks to capture at all: unavailable here, not a server bug.
  E_CAPTURE_NO_TCPDUMP: 503,
  E_CAPTURE_PERMISSION: 503,
  // RFC 4918 §11.5: the server cannot store what the request needs.
  E_CAPTURE_DISK_FULL: 507,
  // E_CAPTURE_ANALYZE, E_CAPTURE_TCPDUMP, E_CAPTURE_WRITE, E_CAPTURE_READ stay 500: the agent's own
  // machinery failed, with its stable code in the body.
};

/** Map the capture manager's errors to HTTP, keeping their stable codes. */
export function captureError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RstwatchError) {
    const status = CAPTURE_STATUS[err.code] ?? 500;
    return new ApiError(status, err.code, err.message);
  }
  return new ApiError(500, 'E_API_INTERNAL', (err as Error)?.message ?? String(err));
}

/**
 * Stream a capture file. The path comes from the capture manager for this id — never from the request —
 * and must be a regular file.
 */
export function sendCaptureFile(res: ServerResponse, info: CaptureInfo, head: boolean): void {
  let size: number;
  try {
    const st = statSync(info.file);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch {
    throw new ApiError(404, 'E_CAPTURE_NOT_FOUND', `the file of capture ${info.id} is gone`);
  }
  const ext = info.request.format === 'pcap' || info.file.endsWith('.pcap') ? 'pcap' : 'pcapng';
  res.writeHead(200, {
    ...BASE_HEADERS,
    'Content-Type': 'application/vnd.tcpdump.pcap',
    'Content-Length': String(size),
    'Content-Disposition': `attachment; filename="rstwatch-${info.id}.${ext}"`,
  });
  if (head) {
    res.end();
    return;
  }
  const stream = createReadStream(info.file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
