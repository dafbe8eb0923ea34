/**
 * Generic webhook: the whole event as JSON, plus the rendered title and text, POSTed to a URL. The
 * `Idempotency-Key` header (and `id` in the body) is the queue's dedup key, so a receiver can drop the
 * rare second delivery of a message it accepted just before the agent lost the answer.
 */

import { render } from '../message.js';
import type { NotifyEvent, Sender, SendResult, WebhookMethod } from '../types.js';
import { postJson } from './http.js';

export const WEBHOOK_SCHEMA_VERSION = 1;

export function webhookBody(event: NotifyEvent, method: string) {
  const { title, body } = render(event);
  return {
    version: WEBHOOK_SCHEMA_VERSION,
    id: `${event.transitionId}:${method}`,
    title,
    text: body,
    event,
  };
}

export function webhookSender(m: WebhookMethod): Sender {
  return {
    send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult> {
      return postJson(m.url, webhookBody(event, m.name), {
        headers: { 'idempotency-key': `${event.transitionId}:${m.name}`, ...m.headers },
        timeoutMs: m.timeoutMs,
        signal,
      });
    },
  };
}
