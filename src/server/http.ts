/**
 * HTTP plumbing shared by every handler: the error type with a stable code, response writers, query and
 * body parsing with limits. Every error leaves the server as JSON `{"error": {code, message, status}}`
 * (docs/errors.md, "API"), never as a stack trace.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error answered to the client: HTTP status, stable code (docs/errors.md), one sentence. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; status: number };
}

export function errorBody(status: number, code: string, message: string): ErrorBody {
  return { error: { code, message, status } };
}

/** Headers every response carries: no sniffing, no framing, no caching of live data, no referrer leak. */
export const BASE_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
};

export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer | readonly Buffer[],
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const parts =
    typeof body === 'string' ? [Buffer.from(body, 'utf8')] : Buffer.isBuffer(body) ? [body] : body;
  let length = 0;
  for (const p of parts) length += p.length;
  res.writeHead(status, {
    ...BASE_HEADERS,
    'Content-Type': contentType,
    'Content-Length': String(length),
    ...headers,
  });
  // HEAD: the same headers, no body (RFC 9110 §9.3.2).
  if (res.req?.method === 'HEAD') {
    res.end();
    return;
  }
  for (let i = 0; i < parts.length - 1; i++) res.write(parts[i]);
  res.end(parts[parts.length - 1]);
}

/**
 * JSON with NaN and ±Infinity as null (Netdata prints NaN values as null, §4) — JSON.stringify already
 * writes non-finite numbers as null, so no replacer (a replacer function costs a call per value).
 */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, undefined, indent);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', toJson(value));
}

export function sendError(res: ServerResponse, err: ApiError): void {
  send(
    res,
    err.status,
    'application/json; charset=utf-8',
    toJson(errorBody(err.status, err.code, err.message)),
    err.headers,
  );
}

/**
 * Query parameters. Repeated keys keep the first value, as Netdata's parser does; `has()` is true for a
 * key given without a value (`/api/v1/alarms?all`).
 */
export class Query {
  private readonly params: URLSearchParams;
  constructor(params: URLSearchParams) {
    this.params = params;
  }
  has(key: string): boolean {
    return this.params.has(key);
  }
  get(...keys: string[]): string | undefined {
    for (const k of keys) {
      const v = this.params.get(k);
      if (v !== null) return v;
    }
    return undefined;
  }
  /** An integer parameter (Netdata's strtol semantics are lenient; ours say what was wrong). */
  int(name: string, def: number, min: number, max: number, ...aliases: string[]): number {
    const raw = this.get(name, ...aliases);
    if (raw === undefined || raw === '') return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || !Number.isInteger(n)) {
      throw new ApiError(400, 'E_API_PARAM', `${name}: expected an integer, got ${JSON.stringify(raw)}`);
    }
    if (n < min || n > max) throw new ApiError(400, 'E_API_PARAM', `${name}: must be in ${min}..${max}`);
    return n;
  }
}

/**
 * Read a request body of at most `limitBytes`. A Content-Length over the limit is refused before reading;
 * a chunked body is counted as it arrives and refused as soon as it passes the limit.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) {
    return Promise.reject(
      new ApiError(413, 'E_API_TOO_LARGE', `request body over ${limitBytes} bytes`, { Connection: 'close' }),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limitBytes) {
        failed = true;
        reject(
          new ApiError(413, 'E_API_TOO_LARGE', `request body over ${limitBytes} bytes`, {
            Connection: 'close',
          }),
        );
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) {
        failed = true;
        reject(new ApiError(400, 'E_API_BAD_REQUEST', `reading the request body failed: ${err.message}`));
      }
    });
  });
}

/** Parse a JSON object body; anything else is a 400 with the parser's position. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'E_API_JSON', `the body is not JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ApiError(400, 'E_API_JSON', 'the body must be a JSON object');
  }
  return v as Record<string, unknown>;
}
