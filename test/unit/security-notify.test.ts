/**
 * Notifications as a security surface (docs/security.md, "Notifications"): secrets in notify.conf and the SMTP
 * password file are warned about when every user can read them (and never logged); a webhook receiver cannot
 * redirect the agent's POST elsewhere; a failure message names the receiver's host only, never a token in its
 * URL; an e-mail's headers cannot be extended by alert text, against a real SMTP conversation.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/internal/log.js';
import { readNotifyConfig } from '../../src/notify/index.js';
import { testEvent } from '../../src/notify/message.js';
import { emailSender } from '../../src/notify/senders/email.js';
import { postJson } from '../../src/notify/senders/http.js';
import type { EmailMethod, NotifyEvent } from '../../src/notify/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'rw-sec-notify-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const signal = new AbortController().signal;
const SECRET = 's3cr3t-0123456789';

function conf(name: string, text: string, mode: number): string {
  const f = join(tmp, name);
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

describe('secrets in notify.conf', () => {
  const withHeader = `[role sysadmin]\nmethods = hook\n\n[method hook]\ntype = webhook\nurl = https://hooks.example/x\nheader = Authorization: Bearer ${SECRET}\n`;
  it.each([
    ['a header', withHeader],
    ['a Slack URL', `[method chat]\ntype = slack\nurl = https://hooks.slack.com/services/T0/B0/${SECRET}\n`],
    [
      'a token in the query',
      `[method hook]\ntype = webhook\nurl = https://hooks.example/x?token=${SECRET}\n`,
    ],
    [
      'credentials in the URL',
      `[method am]\ntype = alertmanager\nurl = http://user:${SECRET}@am.example:9093\n`,
    ],
  ])(
    '%s in a world-readable file → W_NOTIFY_SECRETS_READABLE, the secret itself never logged',
    (_n, text) => {
      const log = memoryLogger();
      readNotifyConfig(conf(`readable-${_n.length}.conf`, text, 0o644), log);
      const all = log.lines.join('\n');
      expect(all).toMatch(/W_NOTIFY_SECRETS_READABLE/);
      expect(all).toMatch(/chmod 600/);
      expect(all).not.toContain(SECRET);
    },
  );

  it('the same file 0600 or 0640, or a world-readable file without secrets → no warning', () => {
    for (const mode of [0o600, 0o640]) {
      const log = memoryLogger();
      readNotifyConfig(conf(`private-${mode}.conf`, withHeader, mode), log);
      expect(log.lines.join('\n')).not.toMatch(/W_NOTIFY_SECRETS_READABLE/);
    }
    const log = memoryLogger();
    readNotifyConfig(
      conf('plain.conf', '[method hook]\ntype = webhook\nurl = https://hooks.example/rstwatch\n', 0o644),
      log,
    );
    expect(log.lines.join('\n')).not.toMatch(/W_NOTIFY_SECRETS_READABLE/);
  });

  it('an SMTP password file others can read → warning naming the method, not the password', () => {
    const pass = conf('smtp.pass', `${SECRET}\n`, 0o644);
    const text = `[method mail]\ntype = email\nsmtp host = 127.0.0.1\nfrom = a@b.example\nto = c@d.example\nuser = u\npassword file = ${pass}\n`;
    const log = memoryLogger();
    readNotifyConfig(conf('mail.conf', text, 0o600), log);
    const all = log.lines.join('\n');
    expect(all).toMatch(/W_NOTIFY_SECRETS_READABLE/);
    expect(all).toContain('the SMTP password file of method mail is readable by every user');
    expect(all).not.toContain(SECRET);
    chmodSync(pass, 0o600);
    const quiet = memoryLogger();
    readNotifyConfig(join(tmp, 'mail.conf'), quiet);
    expect(quiet.lines.join('\n')).not.toMatch(/password file/);
  });
});

describe('webhooks', () => {
  let target: Server;
  let redirector: Server;
  let targetHits = 0;
  let redirectUrl = '';
  beforeAll(async () => {
    target = createHttpServer((_req, res) => {
      targetHits++;
      res.end('ok');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const tport = (target.address() as { port: number }).port;
    redirector = createHttpServer((_req, res) => {
      res.writeHead(307, { Location: `http://127.0.0.1:${tport}/stolen` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    redirectUrl = `http://127.0.0.1:${(redirector.address() as { port: number }).port}/hook/${SECRET}?token=${SECRET}`;
  });
  afterAll(async () => {
    for (const s of [target, redirector]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('a redirect is not followed: the POST (and its headers) never reach the Location', async () => {
    const r = await postJson(
      redirectUrl,
      { a: 1 },
      { timeoutMs: 3000, signal, headers: { Authorization: `Bearer ${SECRET}` } },
    );
    expect(r.ok).toBe(false);
    expect(targetHits).toBe(0);
    if (!r.ok) {
      expect(r.error).toMatch(/^HTTP 307 from 127\.0\.0\.1:\d+/);
      expect(r.error).not.toContain(SECRET);
    }
  });

  it('a network failure names the host only, not the path or query that may hold a token', async () => {
    const r = await postJson(
      `http://127.0.0.1:1/hook/${SECRET}?token=${SECRET}`,
      {},
      { timeoutMs: 3000, signal },
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(/^127\.0\.0\.1:1: ECONNREFUSED/);
      expect(r.error).not.toContain(SECRET);
    }
  });
});

/** The smallest SMTP server that accepts one message (RFC 5321 §4.3.2 replies); resolves its DATA. */
function smtpServer(): Promise<{ server: TcpServer; port: number; message: Promise<string> }> {
  let deliver: (s: string) => void = () => undefined;
  const message = new Promise<string>((r) => {
    deliver = r;
  });
  const server = createTcpServer((sock) => {
    let buf = '';
    let inData = false;
    sock.write('220 test ESMTP\r\n');
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          deliver(buf.slice(0, end));
          buf = buf.slice(end + 5);
          inData = false;
          sock.write('250 queued\r\n');
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.slice(0, eol);
        buf = buf.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 test\r\n');
        else if (verb === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('250 ok\r\n');
      }
    });
    sock.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as { port: number }).port, message }),
    ),
  );
}

describe('e-mail headers', () => {
  it('CR/LF in an alert name or chart cannot add a header (Bcc) to the message', async () => {
    const smtp = await smtpServer();
    try {
      const base = testEvent({
        host: 'h',
        machineGuid: 'g',
        role: 'sysadmin',
        command: 'rstwatch',
        nowSec: 1.7e9,
      });
      const event: NotifyEvent = {
        ...base,
        name: 'probe\r\nBcc: victim@evil.example',
        summary: 'resets\r\nBcc: victim2@evil.example',
        chart: 'ip.tcphandshake\r\nX-Injected: yes',
        info: 'line one\r\n.\r\nMAIL FROM:<evil@evil.example>',
      };
      const m: EmailMethod = {
        type: 'email',
        name: 'mail',
        line: 1,
        timeoutMs: 5000,
        host: '127.0.0.1',
        port: smtp.port,
        security: 'none',
        from: 'rstwatch@h.example',
        to: ['ops@h.example'],
      };
      const r = await emailSender(m).send(event, signal);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      const data = await smtp.message;
      const headers = data.slice(0, data.indexOf('\r\n\r\n'));
      expect(headers).not.toMatch(/^Bcc:/im);
      expect(headers).toMatch(/^Subject: .*resets/m); // the summary did reach the subject, flattened
      expect(headers).not.toMatch(/^X-Injected:/im);
      // The body's lone "." line was dot-stuffed (RFC 5321 §4.5.2), so it did not end the message early.
      expect(data).not.toMatch(/\r\n\.\r\nMAIL FROM/);
    } finally {
      smtp.server.close();
    }
  });
});
