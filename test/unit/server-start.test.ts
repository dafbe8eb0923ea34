/**
 * How the agent starts its API (src/server/start.ts, index.ts): `listen` parsing, `none`, a port already
 * taken and an unusable token file (each logged with its code while the agent runs on without the API),
 * IPv6 loopback, and close() releasing the port even with an event stream open.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/internal/log.js';
import { parseListen, type ServerSettings } from '../../src/server/index.js';
import { startApi } from '../../src/server/start.js';
import { request, startHarness, WEB_FIXTURE } from './server-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'rw-api-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function settings(over: Partial<ServerSettings>): ServerSettings {
  return {
    listen: '127.0.0.1:0',
    dataDir: dir,
    procRoot: '/proc',
    apiTokenFile: '',
    apiMaxConnections: 64,
    apiRequestsPerSecond: 100,
    apiAllowOrigins: [],
    webDir: WEB_FIXTURE,
    ...over,
  };
}

describe('listen', () => {
  it.each([
    ['127.0.0.1:19911', { host: '127.0.0.1', port: 19911 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['19911', { host: '127.0.0.1', port: 19911 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
  ])('%s', (text, want) => {
    expect(parseListen(text)).toEqual(want);
  });

  it.each(['abc', ':80', '1.2.3.4:70000', '::1:80', '1.2.3.4:8x'])(
    '%s is refused with E_API_LISTEN',
    (text) => {
      expect(() => parseListen(text)).toThrow(expect.objectContaining({ code: 'E_API_LISTEN' }));
    },
  );
});

describe('startApi (what the agent calls)', () => {
  const h = startHarness();
  afterAll(async () => (await h).close());

  it('listen = none starts nothing', async () => {
    const log = memoryLogger();
    expect(await startApi(settings({ listen: 'none' }), (await h).agent, log)).toBeUndefined();
    expect(log.lines.join('\n')).toMatch(/API disabled/);
  });

  it('a port already taken: logged with E_API_LISTEN and a hint, no server, no throw', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const log = memoryLogger();
      expect(await startApi(settings({ listen: `127.0.0.1:${port}` }), (await h).agent, log)).toBeUndefined();
      const text = log.lines.join('\n');
      expect(text).toMatch(/EADDRINUSE.*keeps sampling and alerting without the API/);
      expect(text).toMatch(/code=E_API_LISTEN/);
      expect(text).toMatch(/hint=/);
    } finally {
      blocker.close();
    }
  });

  it('a token file that cannot be used: logged with E_API_TOKEN, no server', async () => {
    const tokenDir = join(dir, 'token-is-a-dir');
    mkdirSync(tokenDir);
    const log = memoryLogger();
    expect(await startApi(settings({ apiTokenFile: tokenDir }), (await h).agent, log)).toBeUndefined();
    expect(log.lines.join('\n')).toMatch(/code=E_API_TOKEN/);
  });

  it('IPv6 loopback works, and close() frees the port even with an event stream open', async () => {
    const log = memoryLogger();
    const s = await startApi(settings({ listen: '[::1]:0' }), (await h).agent, log);
    expect(s).toBeDefined();
    expect(s!.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await request(`${s!.url}/api/v1/info`)).status).toBe(200);
    const stream = await new Promise<import('node:http').IncomingMessage>((resolve) =>
      httpGet(`${s!.url}/api/rstwatch/stream`, resolve),
    );
    expect(stream.statusCode).toBe(200);
    const t0 = Date.now();
    await s!.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(s!.port, '::1', () => resolve());
    });
    again.close();
  });
});
