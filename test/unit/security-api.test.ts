/**
 * Security review of the HTTP API (docs/security.md, "HTTP API"): the findings that needed a fix, each proven
 * against a running server — answers that a page on another site could read by including them as a script
 * (JSONP, Google's datasource), a loopback listen address spelt so that the DNS-rebinding guard was off, and a
 * doctor endpoint whose `ss` run could be repeated at the request rate by varying the query.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Count the runs of `ss` (readLinuxListeners spawns it for every uncached doctor answer on the host).
const listenerReads = vi.hoisted(() => ({ count: 0 }));
vi.mock('../../src/remedy/doctor-inputs.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../../src/remedy/doctor-inputs.js')>();
  return {
    ...orig,
    readLinuxListeners: async (...args: Parameters<typeof orig.readLinuxListeners>) => {
      listenerReads.count++;
      // Slow enough that concurrent requests overlap, as they would with a real ss on a busy host.
      await new Promise((r) => setTimeout(r, 50));
      return orig.readLinuxListeners(...args);
    },
  };
});

import { isLoopbackAddress } from '../../src/server/security.js';
import { type Harness, startHarness } from './server-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const JSONP = '/api/v1/data?chart=ip.tcphandshake&after=-10&format=jsonp&callback=steal';
const DATASOURCE = '/api/v1/data?chart=ip.tcphandshake&after=-10&format=datasource&tqx=reqId:1';

describe('script-shaped answers (jsonp, datasource) are not readable by other sites', () => {
  // A page on another site can load any URL as <script src>; the browser sends no Origin and no CORS check
  // applies, so a JSONP answer hands the data to the page's own function. Browsers mark such requests
  // Sec-Fetch-Site: cross-site (Fetch Metadata, W3C) and usually send a Referer of the page.
  it.each([
    ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Dest': 'script' }],
    ['Sec-Fetch-Site: same-site (another port of localhost)', { 'Sec-Fetch-Site': 'same-site' }],
    ['a Referer from another origin', { Referer: 'http://evil.example/page.html' }],
    ['Origin null', { Origin: 'null' }],
  ])('%s → 403 E_API_ORIGIN, no data in the answer', async (_name, headers) => {
    for (const path of [JSONP, DATASOURCE]) {
      const r = await h.get(path, headers);
      expect(r.status, path).toBe(403);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_ORIGIN');
      expect(r.text).not.toContain('steal(');
      expect(r.text).not.toContain('setResponse');
    }
  });

  it('a cached answer is not handed to a cross-site request either', async () => {
    const first = await h.get(JSONP, { 'Sec-Fetch-Site': 'same-origin' });
    expect(first.status).toBe(200);
    expect(first.text.startsWith('steal(')).toBe(true);
    const again = await h.get(JSONP, { 'Sec-Fetch-Site': 'cross-site' });
    expect(again.status).toBe(403);
  });

  it('tools (no browser headers), the dashboard (same-origin) and our own Referer still get them', async () => {
    const port = new URL(h.url).port;
    const cases: Record<string, string>[] = [
      {},
      { 'Sec-Fetch-Site': 'same-origin' },
      { 'Sec-Fetch-Site': 'none' },
      { Referer: `http://127.0.0.1:${port}/index.html` },
    ];
    for (const headers of cases) {
      const r = await h.get(JSONP, headers);
      expect(r.status, JSON.stringify(headers)).toBe(200);
      expect(r.text.startsWith('steal(')).toBe(true);
    }
  });

  it('other formats are unaffected (browsers cannot read them cross-site without CORS)', async () => {
    const r = await h.get('/api/v1/data?chart=ip.tcphandshake&after=-10&format=csv', {
      'Sec-Fetch-Site': 'cross-site',
    });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('loopback listen addresses in every spelling keep the Host (DNS rebinding) check', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
  ])('%s → loopback %s', (addr, loopback) => {
    expect(isLoopbackAddress(addr)).toBe(loopback);
  });

  it('an agent listening on [::ffff:127.0.0.1] refuses a rebinding Host', async () => {
    const v4mapped = await startHarness({ settings: { listen: '[::ffff:127.0.0.1]:0' } });
    try {
      const r = await v4mapped.get('/api/v1/info', { Host: 'evil.example:19911' });
      expect(r.status).toBe(403);
      expect(r.json<{ error: { code: string } }>().error.code).toBe('E_API_HOST');
      const ok = await v4mapped.get('/api/v1/info', { Host: `127.0.0.1:${v4mapped.server.port}` });
      expect(ok.status).toBe(200);
    } finally {
      await v4mapped.close();
    }
  });
});

describe('doctor spawns ss at most once per 5 s, whatever the query says', () => {
  it('40 concurrent requests with varied parameters → one ss run', async () => {
    listenerReads.count = 0;
    const paths = Array.from(
      { length: 40 },
      (_, i) => `/api/rstwatch/doctor?interval=${(i % 20) + 1}&nonce=${i}`,
    );
    const answers = await Promise.all(paths.map((p) => h.get(p)));
    for (const a of answers) expect(a.status).toBe(200);
    expect(answers[0]!.json<{ netns: string }>().netns).toBe('host');
    expect(listenerReads.count).toBe(1);
    // Sequential requests in the same 5 s (the harness's clock stands still) reuse it as well.
    for (let i = 0; i < 5; i++) expect((await h.get(`/api/rstwatch/doctor?x=${i}`)).status).toBe(200);
    expect(listenerReads.count).toBe(1);
  });
});
