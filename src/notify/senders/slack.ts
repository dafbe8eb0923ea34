/**
 * Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat accept the same body): a `text`
 * fallback plus one attachment coloured by status, with the value, baseline, top talkers and next steps.
 */

import { formatValue, render, valueString } from '../message.js';
import type { NotifyEvent, Sender, SendResult, SlackMethod } from '../types.js';
import { postJson } from './http.js';

const COLOR: Record<string, string> = { CRITICAL: 'danger', WARNING: 'warning', CLEAR: 'good' };

export function slackBody(event: NotifyEvent, m: Pick<SlackMethod, 'channel' | 'username'>) {
  const { title, body } = render(event);
  const fields: { title: string; value: string; short: boolean }[] = [
    { title: 'Value', value: valueString(event.value, event.units), short: true },
    { title: 'Status', value: `${event.oldStatus} → ${event.status}`, short: true },
  ];
  if (event.baseline)
    fields.push({
      title: 'Baseline',
      value: `${formatValue(event.baseline.value)} (raise above ${formatValue(event.baseline.raiseAbove)})`,
      short: true,
    });
  if (event.top?.peers[0]) fields.push({ title: 'Top peer', value: event.top.peers[0].key, short: true });
  return {
    text: title,
    ...(m.channel ? { channel: m.channel } : {}),
    ...(m.username ? { username: m.username } : {}),
    attachments: [
      {
        fallback: title,
        color: event.kind === 'test' ? '#439FE0' : (COLOR[event.status] ?? '#777777'),
        title: `${event.summary} on ${event.host}`,
        text: body,
        fields,
        footer: `rstwatch · ${event.name} · ${event.chart}`,
        ts: event.when,
        mrkdwn_in: ['text'],
      },
    ],
  };
}

export function slackSender(m: SlackMethod): Sender {
  return {
    send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult> {
      return postJson(m.url, slackBody(event, m), { timeoutMs: m.timeoutMs, signal });
    },
  };
}
