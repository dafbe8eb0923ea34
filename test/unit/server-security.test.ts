/**
 * Every refusal of the API, each with its status and stable code: the token (missing, wrong, file mode and
 * content), other origins (Origin, Sec-Fetch-Site, form posts), DNS rebinding (Host), sizes (headers, URL,
 * body, chunked body), path traversal in all its spellings plus symbolic links, rate limit, slow headers,
 * connection cap, methods; and that refused requests change nothing (the capture manager is never called).
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/internal/log.js';
import { ensureToken, isLoopbackHost, RateLimiter, tokenMatches } from '../../src/server/security.js';
import type { CaptureInfo, CaptureRequest, CaptureView } from '../../src/server/types.js';
import { type Harness, request, startHarness, WEB_FIXTURE } from './server-harness.js';

/** A capture manager that records what it was asked and writes a small file per capture. */
class FakeCaptures implements CaptureView {
  readonly started: CaptureRequest[] = [];
  private readonly items = new Map<string, CaptureInfo>();
  constructor(private readonly dir: string) {}
  start(req: CaptureRequest): CaptureInfo {
    this.started.push(req);
    const id = `c${this.started.length}`;
    const file = join(this.dir, `${id}.pcapng`);
    writeFileSync(file, Buffer.from('0a0d0d0a', 'hex'));
    const info: CaptureInfo = {
      id,
      state: 'done',
      startedAt: new Date(0).toISOString(),
      file,
      bytes: 4,
      packets: 0,
      request: req,
    };
    this.items.set(id, info);
    return info;
  }
  list(): CaptureInfo[] {
    return [...this.items.values()];
  }
  get(id: string): CaptureInfo | undefined {
    return this.items.get(id);
  }
  async report(id: string): Promise<unknown> {
    return { id, resets: 0 };
  }
  stop(): void {}
}

/** Send raw bytes on a fresh connection; resolve with everything the server sent until it closed. */
function raw(
  port: number,
  chunks: (string | Buffer)[],
  gapMs = 0,
  maxMs = 8000,
): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sock = connect(port, '127.0.0.1');
    let text = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    const next = () => {
      if (i >= chunks.length || sock.destroyed) return;
      sock.write(chunks[i++]!);
      if (i < chunks.length) timer = setTimeout(next, gapMs);
    };
    const guard = setTimeout(() => {
      sock.destroy();
      resolve({ text, ms: Date.now() - t0 });
    }, maxMs);
    sock.on('connect', next);
    sock.on('data', (d) => {
      text += d.toString('latin1');
    });
    sock.on('close', () => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      resolve({ text, ms: Date.now() - t0 });
    });
    sock.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') return;
      reject(e);
    });
  });
}

function statusOf(rawText: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(rawText)?.[1] ?? 0);
}
function codeOf(rawText: string): string | undefined {
  const body = rawText.slice(rawText.indexOf('\r\n\r\n') + 4);
  try {
    return (JSON.parse(body) as { error: { code: string } }).error.code;
  } catch {
    return undefined;
  }
}

let h: Harness;
let captures: FakeCaptures;
const capDir = mkdtempSync(join(tmpdir(), 'rw-api-cap-'));
beforeAll(async () => {
  captures = new FakeCaptures(capDir);
  h = await startHarness({ captures, settings: { apiAllowOrigins: ['https://proxy.example'] } });
});
afterAll(async () => {
  await h.close();
  rmSync(capDir, { recursive: true, force: true });
});

const post = (path: string, headers: Record<string, string>, body = '{"durationSeconds":5}') =>
  request(h.url + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });

describe('the API token', () => {
  it('is created on first start: 64 hex digits, mode 0600, and kept across restarts', () => {
    expect(h.token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(h.server.tokenFile).mode & 0o777).toBe(0o600);
    expect(ensureToken(h.server.tokenFile)).toBe(h.token);
  });

  it('a token file others can read is tightened to 0600 with a warning; a file that is not a token is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-api-tok-'));
    try {
      const f = join(dir, 'api.token');
      writeFileSync(f, `${'ab'.repeat(32)}\n`);
      chmodSync(f, 0o644);
      const log = memoryLogger();
      expect(ensureToken(f, log)).toBe('ab'.repeat(32));
      expect(statSync(f).mode & 0o777).toBe(0o600);
      expect(log.lines.join('\n')).toMatch(/readable by others/);
      writeFileSync(f, 'password123\n');
      expect(() => ensureToken(f)).toThrow(expect.objectContaining({ code: 'E_API_TOKEN' }));
      const d = join(dir, 'adir');
      mkdirSync(d);
      expect(() => ensureToken(d)).toThrow(expect.objectContaining({ code: 'E_API_TOKEN' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compares in constant time and accepts only "Bearer <token>"', () => {
    expect(tokenMatches(`Bearer ${'a'.repeat(64)}`, 'a'.repeat(64))).toBe(true);
    expect(tokenMatches(`bearer   ${'a'.repeat(64)}`, 'a'.repeat(64))).toBe(true);
    expect(tokenMatches(`Basic ${'a'.repeat(64)}`, 'a'.repeat(64))).toBe(false);
    expect(tokenMatches('Bearer a', 'a'.repeat(64))).toBe(false);
    expect(tokenMatches(undefined, 'a'.repeat(64))).toBe(false);
  });
});

describe('state changes (starting a capture)', () => {
  it('no token → 401 E_API_UNAUTHORIZED with WWW-Authenticate; nothing started', async () => {
    const r = await post('/api/rstwatch/captures', {});
    expect(r.status).toBe(401);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_UNAUTHORIZED');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(captures.started).toHaveLength(0);
  });

  it('wrong token → 401; nothing started', async () => {
    const r = await post('/api/rstwatch/captures', { Authorization: `Bearer ${'0'.repeat(64)}` });
    expect(r.status).toBe(401);
    expect(r.json<{ error: { message: string } }>().error.message).toBe('wrong API token');
    expect(captures.started).toHaveLength(0);
  });

  it.each([
    ['another site', { Origin: 'http://evil.example' }],
    ['an opaque origin', { Origin: 'null' }],
    ['same host, another port', { Origin: 'http://127.0.0.1:1' }],
    ['a cross-site fetch without Origin', { 'Sec-Fetch-Site': 'cross-site' }],
    ['a same-site (other subdomain) fetch', { 'Sec-Fetch-Site': 'same-site' }],
  ])('from %s → 403 E_API_ORIGIN even with the token; nothing started', async (_what, headers) => {
    const r = await post('/api/rstwatch/captures', { Authorization: `Bearer ${h.token}`, ...headers });
    expect(r.status).toBe(403);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_ORIGIN');
    expect(captures.started).toHaveLength(0);
  });

  it('a form post (text/plain, what a cross-site <form> can send) → 415; nothing started', async () => {
    const r = await request(`${h.url}/api/rstwatch/captures`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.token}`, 'Content-Type': 'text/plain' },
      body: '{"durationSeconds":5}',
    });
    expect(r.status).toBe(415);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_MEDIA_TYPE');
    expect(captures.started).toHaveLength(0);
  });

  it('oversized body (declared, or chunked) → 413 E_API_TOO_LARGE; nothing started', async () => {
    const big = JSON.stringify({ filter: 'x'.repeat(70 * 1024) });
    const r = await post('/api/rstwatch/captures', { Authorization: `Bearer ${h.token}` }, big);
    expect(r.status).toBe(413);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_TOO_LARGE');
    const chunked = await raw(h.server.port, [
      `POST /api/rstwatch/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.token}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      ...Array.from({ length: 10 }, () => `2000\r\n${'x'.repeat(0x2000)}\r\n`),
      '0\r\n\r\n',
    ]);
    expect(statusOf(chunked.text)).toBe(413);
    expect(codeOf(chunked.text)).toBe('E_API_TOO_LARGE');
    expect(captures.started).toHaveLength(0);
  });

  it('bad JSON and unknown or invalid fields → 400 with the reason; nothing started', async () => {
    const auth = { Authorization: `Bearer ${h.token}` };
    const a = await post('/api/rstwatch/captures', auth, '{"durationSeconds":');
    expect(a.json<{ error: { code: string } }>().error.code).toBe('E_API_JSON');
    const b = await post('/api/rstwatch/captures', auth, '{"duration":5}');
    expect(b.json<{ error: { message: string } }>().error.message).toMatch(/unknown field "duration"/);
    const c = await post('/api/rstwatch/captures', auth, '{"iface":"eth0; rm -rf /"}');
    expect(c.status).toBe(400);
    const d = await post('/api/rstwatch/captures', auth, '{"durationSeconds":99999}');
    expect(d.status).toBe(400);
    expect(captures.started).toHaveLength(0);
  });

  it('with the token from our own origin (or an allowed one, or no browser at all) → 201', async () => {
    const auth = { Authorization: `Bearer ${h.token}` };
    const own = await post('/api/rstwatch/captures', {
      ...auth,
      Origin: h.url,
      'Sec-Fetch-Site': 'same-origin',
    });
    expect(own.status).toBe(201);
    expect(own.json<CaptureInfo>().request).toEqual({ durationSeconds: 5 });
    expect((await post('/api/rstwatch/captures', { ...auth, Origin: 'https://proxy.example' })).status).toBe(
      201,
    );
    expect((await post('/api/rstwatch/captures', auth)).status).toBe(201);
    expect(captures.started).toHaveLength(3);
  });

  it('capture downloads need the token too (packets are sensitive); ids are validated', async () => {
    expect((await h.get('/api/rstwatch/captures/c1/download')).status).toBe(401);
    const ok = await h.get('/api/rstwatch/captures/c1/download', { Authorization: `Bearer ${h.token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-disposition']).toBe('attachment; filename="rstwatch-c1.pcapng"');
    expect(Buffer.from(ok.text, 'latin1').length).toBe(4);
    const traversal = await h.get('/api/rstwatch/captures/..%2f..%2fetc/download', {
      Authorization: `Bearer ${h.token}`,
    });
    expect(traversal.status).toBe(400);
    expect((await h.get('/api/rstwatch/captures/nope', {})).status).toBe(404);
  });
});

describe('reads from other sites and DNS rebinding', () => {
  it('a Host that is not a loopback name → 403 E_API_HOST (a rebinding page cannot read the API)', async () => {
    const r = await h.get('/api/v1/info', { Host: 'evil.example' });
    expect(r.status).toBe(403);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_HOST');
    expect((await h.get('/api/v1/info', { Host: `localhost:${h.server.port}` })).status).toBe(200);
    expect((await h.get('/api/v1/info', { Host: '[::1]' })).status).toBe(200);
    expect(isLoopbackHost('127.1.2.3:80')).toBe(true);
    expect(isLoopbackHost('127.0.0.1.evil.example')).toBe(false);
    expect(isLoopbackHost('localhost.evil.example')).toBe(false);
  });

  it('no CORS headers: other origins cannot read answers in a browser', async () => {
    const r = await h.get('/api/v1/info', { Origin: 'http://evil.example' });
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect(r.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('sizes', () => {
  it('headers over 8 KiB → 431 E_API_HEADERS_TOO_LARGE', async () => {
    const r = await raw(h.server.port, [
      `GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`,
    ]);
    expect(statusOf(r.text)).toBe(431);
    expect(codeOf(r.text)).toBe('E_API_HEADERS_TOO_LARGE');
  });

  it('a request target over 4 KiB → 414 E_API_URI_TOO_LONG', async () => {
    const r = await h.get(`/api/v1/info?x=${'a'.repeat(5000)}`);
    expect(r.status).toBe(414);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_URI_TOO_LONG');
  });

  it('garbage instead of HTTP → 400 JSON, connection closed', async () => {
    const r = await raw(h.server.port, ['HELLO\r\n\r\n']);
    expect(statusOf(r.text)).toBe(400);
    expect(codeOf(r.text)).toBe('E_API_BAD_REQUEST');
  });
});

describe('static files: nothing outside the dashboard folder', () => {
  it('serves index.html with a CSP, scripts with their type, and 304 on a matching ETag', async () => {
    const r = await h.get('/');
    expect(r.status).toBe(200);
    expect(r.text).toContain('rstwatch server test fixture');
    expect(r.headers['content-security-policy']).toMatch(/default-src 'self'/);
    const js = await h.get('/sub/app.js');
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    const again = await h.get('/sub/app.js', { 'If-None-Match': String(js.headers.etag) });
    expect(again.status).toBe(304);
  });

  it.each([
    ['/../../../../etc/passwd', 400],
    ['/%2e%2e/%2e%2e/%2e%2e/etc/passwd', 400],
    ['/sub/..%2f..%2f..%2fetc%2fpasswd', 400],
    ['/sub/%2E%2E/%2E%2E/etc/passwd', 400],
    ['/..%5c..%5cetc%5cpasswd', 400],
    ['/index.html%00.js', 400],
    ['/%zz', 400],
    ['//etc/passwd', 404],
    ['/etc/passwd', 404],
    ['/.git/config', 404],
  ])('%s → %i, never the file', async (path, status) => {
    const r = await raw(h.server.port, [
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    ]);
    expect(statusOf(r.text)).toBe(status);
    expect(r.text).not.toMatch(/root:.*:0:0:/);
    expect(['E_API_BAD_PATH', 'E_API_NOT_FOUND']).toContain(codeOf(r.text));
  });

  it('a symbolic link out of the folder → 403 E_API_BAD_PATH; one inside it is fine', async () => {
    const web = mkdtempSync(join(tmpdir(), 'rw-api-web-'));
    writeFileSync(join(web, 'index.html'), readFileSync(join(WEB_FIXTURE, 'index.html')));
    symlinkSync('/etc/passwd', join(web, 'leak.txt'));
    symlinkSync('/etc', join(web, 'etc'));
    symlinkSync(join(web, 'index.html'), join(web, 'alias.html'));
    const s = await startHarness({ settings: { webDir: web } });
    try {
      for (const p of ['/leak.txt', '/etc/passwd', '/etc/hostname']) {
        const r = await s.get(p);
        expect(r.status, p).toBe(403);
        expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_BAD_PATH');
        expect(r.text).not.toMatch(/root:/);
      }
      expect((await s.get('/alias.html')).status).toBe(200);
    } finally {
      await s.close();
      rmSync(web, { recursive: true, force: true });
    }
  });
});

describe('methods and routes', () => {
  it('unknown API paths → 404 JSON; wrong methods → 405 with Allow', async () => {
    const nf = await h.get('/api/v1/nothing');
    expect(nf.status).toBe(404);
    expect(nf.json<{ error: { code: string } }>().error.code).toBe('E_API_NOT_FOUND');
    const m = await request(`${h.url}/api/v1/info`, { method: 'DELETE' });
    expect(m.status).toBe(405);
    expect(m.headers.allow).toBe('GET, HEAD');
    const put = await request(`${h.url}/`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
    const head = await request(`${h.url}/api/v1/info`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
  });
});

describe('limits on clients', () => {
  it('token bucket per client: beyond the burst → 429 E_API_RATE_LIMITED with Retry-After', async () => {
    const s = await startHarness({ limits: { requestsPerSecond: 2, burst: 5 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 8; i++) codes.push((await s.get('/api/v1/info')).status);
      expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(codes.slice(5)).toContain(429);
      const r = await s.get('/api/v1/info');
      expect(r.status).toBe(429);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_RATE_LIMITED');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await s.close();
    }
  });

  it('the bucket map is bounded: the least recently seen client is forgotten', () => {
    let now = 0;
    const rl = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 3, now: () => now });
    for (const c of ['a', 'b', 'c', 'd', 'e']) expect(rl.take(c)).toBe(0);
    expect(rl.size).toBe(3);
    expect(rl.take('e')).toBeGreaterThan(0);
    now += 1000;
    expect(rl.take('e')).toBe(0);
  });

  it('slow headers (slowloris) → 408 E_API_TIMEOUT and the connection is closed', async () => {
    const s = await startHarness({
      limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1500, checkIntervalMs: 250 },
    });
    try {
      // Node's timeout check runs only while connections are open (no wake-up of an idle agent for it);
      // on this Node its internals are found — 'node' here means they moved and the check is Node's again.
      expect(s.server.connectionsCheck()).toBe('idle');
      const bytes =
        'GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: abcdefghijklmnopqrstuvwxyz'.split('');
      // One byte every 250 ms: the whole header would take over 20 s; the server must give up near 1 s.
      let during = '';
      const probe = setTimeout(() => {
        during = s.server.connectionsCheck();
      }, 500);
      const r = await raw(s.server.port, bytes, 250, 10_000);
      clearTimeout(probe);
      expect(during).toBe('running');
      expect(statusOf(r.text)).toBe(408);
      expect(codeOf(r.text)).toBe('E_API_TIMEOUT');
      expect(r.ms).toBeLessThan(5000);
      await new Promise((res) => setTimeout(res, 50));
      expect(s.server.connectionsCheck()).toBe('idle');
    } finally {
      await s.close();
    }
  });

  it('open connections are capped: beyond the cap → 503 E_API_BUSY', async () => {
    const s = await startHarness({ limits: { maxConnections: 3 } });
    const held = [0, 1, 2].map(() => connect(s.server.port, '127.0.0.1'));
    try {
      await Promise.all(held.map((c) => new Promise((r) => c.on('connect', r))));
      await new Promise((r) => setTimeout(r, 50));
      const r = await raw(s.server.port, ['GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n']);
      expect(statusOf(r.text)).toBe(503);
      expect(codeOf(r.text)).toBe('E_API_BUSY');
    } finally {
      for (const c of held) c.destroy();
      await s.close();
    }
  });

  it('at the cap, the oldest connection silent for evictSilentAfterMs makes room (408 E_API_TIMEOUT); a fresh one does not', async () => {
    const s = await startHarness({ limits: { maxConnections: 3, evictSilentAfterMs: 300 } });
    const answers = new Map<number, string>();
    const held = [0, 1, 2].map((i) => {
      const c = connect(s.server.port, '127.0.0.1');
      answers.set(i, '');
      c.on('data', (d) => answers.set(i, answers.get(i) + d.toString()));
      c.on('error', () => {});
      return c;
    });
    try {
      await Promise.all(held.map((c) => new Promise((r) => c.on('connect', r))));
      // The first one completes a request (keep-alive): it is not silent any more.
      held[0]!.write('GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await new Promise((r) => held[0]!.once('data', r));
      // Too early: the silent ones are younger than 300 ms → the newcomer is refused.
      const early = await raw(s.server.port, ['GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n']);
      expect(codeOf(early.text)).toBe('E_API_BUSY');
      await new Promise((r) => setTimeout(r, 400));
      // Now the oldest silent one (held[1], not held[0] which asked) is evicted and the newcomer served.
      const late = await raw(s.server.port, [
        'GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
      ]);
      expect(statusOf(late.text)).toBe(200);
      await new Promise((r) => setTimeout(r, 50));
      expect(statusOf(answers.get(1)!)).toBe(408);
      expect(codeOf(answers.get(1)!)).toBe('E_API_TIMEOUT');
      expect(answers.get(2)).toBe('');
      expect(held[0]!.destroyed, answers.get(0)!.slice(-300)).toBe(false);
      expect(s.server.app.apiErrors.get('E_API_TIMEOUT')).toBe(1);
    } finally {
      for (const c of held) c.destroy();
      await s.close();
    }
  });

  it('event streams are capped too', async () => {
    const s = await startHarness({ limits: { maxStreamClients: 1 } });
    const first = connect(s.server.port, '127.0.0.1');
    try {
      await new Promise((r) => first.on('connect', r));
      first.write('GET /api/rstwatch/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await new Promise((r) => first.once('data', r));
      const r = await s.get('/api/rstwatch/stream');
      expect(r.status).toBe(503);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_BUSY');
    } finally {
      first.destroy();
      await s.close();
    }
  });
});

describe('internal errors', () => {
  it('a failing component answers 500 E_API_INTERNAL without details; the stack goes to the log', async () => {
    const s = await startHarness({
      attribution: {
        status: () => ({ enabled: true, layout: 'sockaddr-reason', events: 0, lost: 0 }),
        top: () => {
          throw new TypeError('boom in top');
        },
      },
    });
    try {
      const r = await s.get('/api/rstwatch/top?window=1m');
      expect(r.status).toBe(500);
      expect(r.json()).toEqual({
        error: { code: 'E_API_INTERNAL', message: 'internal error (logged)', status: 500 },
      });
      expect(r.text).not.toMatch(/boom|at /);
      expect(s.log.lines.join('\n')).toMatch(/boom in top/);
      // The server still answers.
      expect((await s.get('/api/v1/info')).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});
