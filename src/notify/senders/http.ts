/**
 * One JSON POST with a deadline, for the HTTP senders. node:http directly (no connection pool): a
 * notification is rare, and a pooled socket to a receiver that restarted would fail the next message.
 *
 * Which failures are retried follows what the status codes mean (RFC 9110 §15): network errors, timeouts,
 * 408, 425, 429 and 5xx are transient; any other 4xx says the request itself is wrong and sending it again
 * cannot help.
 */

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SendResult } from '../types.js';

const MAX_ANSWER_BYTES = 64 * 1024;

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export function postJson(
  url: string,
  body: unknown,
  opts: { headers?: Record<string, string>; timeoutMs: number; signal: AbortSignal },
): Promise<SendResult> {
  const payload = Buffer.from(JSON.stringify(body));
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, retry: false, error: `not a URL: ${url}` });
  }
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const done = (r: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    const req = request(u, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': String(payload.length),
        'user-agent': 'rstwatch-notify',
        ...opts.headers,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, retry: true, error: `no answer from ${u.host} within ${opts.timeoutMs} ms` });
    }, opts.timeoutMs);
    const onAbort = () => {
      req.destroy();
      done({ ok: false, retry: true, error: 'stopped before an answer came' });
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => {
      done({ ok: false, retry: true, error: `${u.host}: ${err.code ?? err.message}` });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(c);
        size += c.length;
      });
      res.on('error', () => done({ ok: false, retry: true, error: `${u.host}: answer cut off` }));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8').slice(0, 300).trim();
        if (status >= 200 && status < 300) done({ ok: true, detail: `HTTP ${status}` });
        else
          done({
            ok: false,
            retry: isRetryableStatus(status),
            error: `HTTP ${status} from ${u.host}${text ? `: ${text}` : ''}`,
          });
      });
    });
    req.end(payload);
  });
}
