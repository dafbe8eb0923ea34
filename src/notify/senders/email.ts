/**
 * E-mail over SMTP with nodemailer. One message per transition and method, with a Message-ID made from the
 * dedup key: a resend after a lost answer carries the same id, which mail clients and list servers use to
 * drop duplicates. The password is read from a file at each send (never from the configuration itself),
 * so it can be rotated without a restart and never shows in `ps` or logs.
 */

import { readFile } from 'node:fs/promises';
import { createTransport } from 'nodemailer';
import { errorMessage } from '../../internal/errors.js';
import { render } from '../message.js';
import type { EmailMethod, NotifyEvent, Sender, SendResult } from '../types.js';

/** SMTP reply codes 4xx are temporary (RFC 5321 §4.2.1); 5xx are permanent. */
function smtpRetryable(err: unknown): boolean {
  const code = (err as { responseCode?: unknown }).responseCode;
  if (typeof code === 'number') return code < 500;
  return true; // connection refused, timeouts, TLS trouble: the server may come back
}

export function emailSender(m: EmailMethod): Sender {
  return {
    async send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult> {
      let pass: string | undefined;
      if (m.passwordFile !== undefined) {
        try {
          pass = (await readFile(m.passwordFile, 'utf8')).trim();
        } catch (err) {
          return {
            ok: false,
            retry: true,
            error: `cannot read the SMTP password file: ${errorMessage(err)}`,
          };
        }
      }
      const transport = createTransport({
        host: m.host,
        port: m.port,
        secure: m.security === 'tls',
        requireTLS: m.security === 'starttls',
        ignoreTLS: m.security === 'none',
        connectionTimeout: m.timeoutMs,
        greetingTimeout: m.timeoutMs,
        socketTimeout: m.timeoutMs,
        ...(m.user !== undefined && pass !== undefined ? { auth: { user: m.user, pass } } : {}),
      });
      const onAbort = () => transport.close();
      signal.addEventListener('abort', onAbort, { once: true });
      const { title, body } = render(event);
      const domain = m.from.split('@')[1] ?? 'rstwatch';
      try {
        const info = await transport.sendMail({
          from: m.from,
          to: m.to,
          subject: title,
          text: body,
          messageId: `<${event.transitionId}.${m.name}@${domain}>`,
          headers: {
            'X-Rstwatch-Alert': event.name,
            'X-Rstwatch-Status': event.status,
            'X-Rstwatch-Transition': event.transitionId,
          },
        });
        return { ok: true, detail: String(info.response ?? '') };
      } catch (err) {
        return {
          ok: false,
          retry: smtpRetryable(err),
          error: `SMTP ${m.host}:${m.port}: ${errorMessage(err)}`,
        };
      } finally {
        signal.removeEventListener('abort', onAbort);
        transport.close();
      }
    },
  };
}
