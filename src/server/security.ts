/**
 * The server's guards: the API token, Host and Origin checks, and a per-client rate limit.
 *
 * - Token: 32 random bytes, hex, in `<dataDir>/api.token` (mode 0600), created on first start. Requests that
 *   change state need `Authorization: Bearer <token>`; a browser page on another site cannot send that header
 *   to us without a CORS preflight we never grant, so the token is also the CSRF defence.
 * - Origin: a state-changing request from a browser must come from our own origin (Origin equal to the Host
 *   it addressed, or a configured one); `Sec-Fetch-Site: cross-site` is refused even without Origin.
 * - Host: while we listen on loopback, only loopback names are accepted in Host, so a DNS-rebinding page
 *   (evil.example resolving to 127.0.0.1) cannot read the API through the victim's browser.
 * - Rate: a token bucket per client address, in a bounded map (the least recently seen client is forgotten
 *   first), so neither a flood nor many addresses can grow memory.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { errorMessage, RstwatchError, sysCode } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import { ApiError } from './http.js';

const TOKEN_RE = /^[0-9a-f]{64}$/;

/**
 * Read the API token, creating it (exclusively, mode 0600) when the file does not exist. A file others can
 * read is tightened to 0600 with a warning; a file that is not a token is an error (never overwritten: it
 * may be something else the administrator pointed us at by mistake).
 */
export function ensureToken(path: string, log?: Logger): string {
  try {
    const token = randomBytes(32).toString('hex');
    writeFileSync(path, `${token}\n`, { flag: 'wx', mode: 0o600 });
    log?.info('created the API token', { file: path });
    return token;
  } catch (err) {
    if (sysCode(err) !== 'EEXIST') {
      throw new RstwatchError('E_API_TOKEN', `cannot create the API token ${path}: ${errorMessage(err)}`, {
        file: path,
        hint: 'check that the data folder is writable, or set "api token file"',
      });
    }
  }
  let st: ReturnType<typeof lstatSync>;
  let text: string;
  try {
    st = lstatSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new RstwatchError('E_API_TOKEN', `cannot read the API token ${path}: ${errorMessage(err)}`, {
      file: path,
    });
  }
  if (!TOKEN_RE.test(text)) {
    throw new RstwatchError('E_API_TOKEN', `${path} does not hold an API token (64 hex digits)`, {
      file: path,
      hint: 'delete it to have a new token created',
    });
  }
  if ((st.mode & 0o077) !== 0) {
    try {
      chmodSync(path, 0o600);
      log?.warn('the API token file was readable by others; its mode is now 0600', { file: path });
    } catch (err) {
      log?.warn(`the API token file is readable by others and cannot be fixed: ${errorMessage(err)}`, {
        file: path,
        code: 'E_API_TOKEN',
      });
    }
  }
  return text;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison of the bearer token (hashes first, so lengths never leak either). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** Is `host` (a Host header value, maybe with a port) a loopback name? */
export function isLoopbackHost(host: string): boolean {
  let name = host.trim().toLowerCase();
  if (name.startsWith('[')) {
    const end = name.indexOf(']');
    if (end < 0) return false;
    name = name.slice(1, end);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon >= 0 && name.indexOf(':') === colon) name = name.slice(0, colon);
  }
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1';
  return false;
}

/**
 * Loopback in every spelling: 127.0.0.0/8 (RFC 1122 §3.2.1.3), ::1 (RFC 4291 §2.5.3) however it is written
 * (`0:0:0:0:0:0:0:1`), and IPv4-mapped loopback (`::ffff:127.0.0.1`, RFC 4291 §2.5.5.2), which a dual-stack
 * socket bound to it serves as loopback. BlockList compares addresses, not strings.
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Is a listen address loopback (so the Host check applies)? */
export function isLoopbackAddress(address: string): boolean {
  if (address === 'localhost') return true;
  const family = isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface OriginPolicy {
  /** Extra origins allowed to make state-changing requests (`https://proxy.example:8443`). */
  allowOrigins: readonly string[];
}

/** Refuse a request whose Host is not a loopback name while the server listens on loopback. */
export function checkHost(req: IncomingMessage, loopbackOnly: boolean): void {
  if (!loopbackOnly) return;
  const host = req.headers.host;
  if (host === undefined || !isLoopbackHost(host)) {
    throw new ApiError(
      403,
      'E_API_HOST',
      `Host ${JSON.stringify(host ?? '')} is not a loopback name; the API answers only to localhost`,
    );
  }
}

/** A state-changing request must not come from another site (CSRF): Origin and Sec-Fetch-Site checks. */
export function checkOrigin(req: IncomingMessage, policy: OriginPolicy): void {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new ApiError(403, 'E_API_ORIGIN', `cross-origin request refused (Sec-Fetch-Site: ${site})`);
  }
  if (origin === undefined) return;
  if (policy.allowOrigins.includes(origin)) return;
  let host: string;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    host = u.host;
  } catch {
    throw new ApiError(
      403,
      'E_API_ORIGIN',
      `cross-origin request refused (Origin ${JSON.stringify(origin)})`,
    );
  }
  if (host.toLowerCase() !== (req.headers.host ?? '').toLowerCase()) {
    throw new ApiError(403, 'E_API_ORIGIN', `cross-origin request refused (Origin ${origin})`);
  }
}

/**
 * Answers that are scripts (`format=jsonp`, `format=datasource`) can be read by any page that includes them with
 * `<script src>`: no Origin is sent and no CORS check applies, so the page's own callback receives the data.
 * Browsers label such a request `Sec-Fetch-Site: cross-site` or `same-site` (W3C Fetch Metadata) and usually
 * send the including page as Referer; both are refused, as is `Origin: null` (a sandboxed frame). Tools send
 * none of these headers and are served.
 */
export function checkScriptRead(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new ApiError(
      403,
      'E_API_ORIGIN',
      `a script answer (jsonp, datasource) for another site is refused (Sec-Fetch-Site: ${site})`,
    );
  }
  const host = (req.headers.host ?? '').toLowerCase();
  for (const from of [req.headers.origin, req.headers.referer]) {
    if (from === undefined || from === '') continue;
    let fromHost: string | undefined;
    try {
      fromHost = new URL(from).host.toLowerCase();
    } catch {
      fromHost = undefined;
    }
    if (fromHost !== host) {
      throw new ApiError(
        403,
        'E_API_ORIGIN',
        'a script answer (jsonp, datasource) for another site is refused (Origin or Referer is not this API)',
      );
    }
  }
}

/** Require the bearer token; the message never says which part was wrong beyond "missing" or "wrong". */
export function checkToken(req: IncomingMessage, token: string): void {
  const h = req.headers.authorization;
  if (h === undefined) {
    throw new ApiError(
      401,
      'E_API_UNAUTHORIZED',
      'this request changes state: send Authorization: Bearer <token>',
      {
        'WWW-Authenticate': 'Bearer realm="rstwatch"',
      },
    );
  }
  if (!tokenMatches(h, token)) {
    throw new ApiError(401, 'E_API_UNAUTHORIZED', 'wrong API token', {
      'WWW-Authenticate': 'Bearer realm="rstwatch", error="invalid_token"',
    });
  }
}

interface Bucket {
  tokens: number;
  lastMs: number;
}

/** Token buckets per client key, at most `maxClients` of them (least recently seen forgotten first). */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  readonly perSecond: number;
  readonly burst: number;
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(opts: { perSecond: number; burst?: number; maxClients?: number; now?: () => number }) {
    this.perSecond = opts.perSecond;
    this.burst = opts.burst ?? Math.max(1, opts.perSecond * 2);
    this.maxClients = opts.maxClients ?? 1024;
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Take one token for `key`; returns 0 when allowed, else the seconds until one is available. */
  take(key: string): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.lastMs) / 1000) * this.perSecond);
      b.lastMs = now;
    } else {
      if (this.buckets.size >= this.maxClients) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, lastMs: now };
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.perSecond;
  }
}
