/**
 * The senders' failure handling against real local processes and sockets: which failures are retried
 * (network errors, timeouts, 408/429/5xx, a script's EX_TEMPFAIL) and which are final (4xx, a missing
 * script, another exit code), deadlines that kill a hung script, and argv passed without a shell.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEvent } from '../../src/notify/message.js';
import { execSender } from '../../src/notify/senders/exec.js';
import { isRetryableStatus, postJson } from '../../src/notify/senders/http.js';
import type { ExecMethod } from '../../src/notify/types.js';

const event = testEvent({
  host: 'h',
  machineGuid: 'g',
  role: 'sysadmin',
  command: 'rstwatch',
  nowSec: 1_700_000_000,
});
const signal = new AbortController().signal;

describe('HTTP status classes', () => {
  it.each([
    [400, false],
    [401, false],
    [404, false],
    [408, true],
    [413, false],
    [425, true],
    [429, true],
    [500, true],
    [503, true],
  ])('%i retried: %s', (status, retry) => {
    expect(isRetryableStatus(status)).toBe(retry);
  });
});

describe('postJson against a local server', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const status = Number(req.url?.slice(1));
      if (req.url === '/hang') return; // never answers
      res.writeHead(Number.isFinite(status) ? status : 200).end('because');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('2xx is delivered; 4xx final with the answer; 5xx and timeouts retried', async () => {
    expect(await postJson(`${base}/202`, { a: 1 }, { timeoutMs: 2000, signal })).toEqual({
      ok: true,
      detail: 'HTTP 202',
    });
    const r400 = await postJson(`${base}/400`, {}, { timeoutMs: 2000, signal });
    expect(r400).toEqual({
      ok: false,
      retry: false,
      error: expect.stringMatching(/^HTTP 400 from 127\.0\.0\.1:\d+: because$/),
    });
    expect(await postJson(`${base}/503`, {}, { timeoutMs: 2000, signal })).toMatchObject({
      ok: false,
      retry: true,
    });
    const started = Date.now();
    const hung = await postJson(`${base}/hang`, {}, { timeoutMs: 300, signal });
    expect(hung).toMatchObject({ ok: false, retry: true, error: expect.stringContaining('within 300 ms') });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a closed port is a retried network error', async () => {
    expect(await postJson('http://127.0.0.1:9/', {}, { timeoutMs: 2000, signal })).toMatchObject({
      ok: false,
      retry: true,
      error: '127.0.0.1:9: ECONNREFUSED',
    });
  });
});

describe('exec', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-exec-'));
  const script = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  const method = (command: string, timeoutMs = 5000): ExecMethod => ({
    type: 'exec',
    name: 'script',
    command,
    retryExitCodes: [75],
    timeoutMs,
    line: 1,
  });

  it('passes every argument verbatim, without a shell', async () => {
    const out = join(dir, 'args');
    const rec = script('rec.sh', `for a in "$@"; do printf '%s\\0' "$a"; done > ${out}; echo done`);
    const hostile = { ...event, info: '$(touch /tmp/pwned-rstwatch); `id` && echo "quoted"' };
    const r = await execSender(method(rec)).send(hostile, signal);
    expect(r).toEqual({ ok: true, detail: 'done' });
    const args = readFileSync(out, 'utf8').split('\0').slice(0, -1);
    expect(args).toHaveLength(33);
    expect(args[16]).toBe(hostile.info);
  });

  it.each([
    ['exit 75', true, /exited with 75: try later/],
    ['exit 1', false, /exited with 1: try later/],
  ])('%s → retried %s', async (code, retry, message) => {
    const s = script(`code-${code.replace(' ', '')}.sh`, `echo "try later" >&2; ${code}`);
    const r = await execSender(method(s)).send(event, signal);
    expect(r).toMatchObject({ ok: false, retry });
    expect(r.ok ? '' : r.error).toMatch(message);
  });

  it('a missing script is final; a hung one is killed at its deadline and retried', async () => {
    expect(await execSender(method(join(dir, 'nope.sh'))).send(event, signal)).toMatchObject({
      ok: false,
      retry: false,
      error: expect.stringContaining('ENOENT'),
    });
    const slow = script('slow.sh', 'exec sleep 30');
    const started = Date.now();
    const r = await execSender(method(slow, 300)).send(event, signal);
    expect(r).toMatchObject({
      ok: false,
      retry: true,
      error: expect.stringContaining('ran longer than 300 ms'),
    });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
