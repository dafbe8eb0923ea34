/**
 * Secrets in the notification configuration: a `header` (Authorization: Bearer …), a Slack incoming-webhook
 * URL (the URL itself is the credential), a URL with `user:password@` or a query string (`?token=`), and the
 * SMTP password file. The agent reads them as root; a copy readable by every local user is a leaked
 * credential, so a world-readable notify.conf holding any of them, or a password file others can read, is
 * warned about at start (not refused: the file may be deliberately shared, and notifications matter more).
 * Nothing here is ever logged but the method names.
 */

import { statSync } from 'node:fs';
import type { Problem } from '../internal/errors.js';
import type { MethodConfig, NotifyConfig } from './types.js';

/** Why a method's configuration holds a secret, or undefined. */
export function secretOf(m: MethodConfig): string | undefined {
  if ((m.type === 'webhook' || m.type === 'alertmanager') && Object.keys(m.headers).length > 0)
    return 'a header';
  if (m.type === 'slack') return 'a Slack webhook URL';
  if (m.type === 'webhook' || m.type === 'alertmanager') {
    try {
      const u = new URL(m.url);
      if (u.password !== '' || u.username !== '') return 'credentials in the URL';
      if (u.search !== '') return 'a query string in the URL';
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function otherReadable(path: string, stat: (p: string) => { mode: number }): number | undefined {
  try {
    const mode = stat(path).mode & 0o7777;
    return (mode & 0o004) !== 0 ? mode : undefined;
  } catch {
    return undefined;
  }
}

/** Warnings about who else can read the secrets (W_NOTIFY_SECRETS_READABLE). */
export function secretWarnings(
  config: NotifyConfig,
  stat: (p: string) => { mode: number } = statSync,
): Problem[] {
  const out: Problem[] = [];
  const holders = [...config.methods.values()]
    .map((m) => [m.name, secretOf(m)] as const)
    .filter((x): x is readonly [string, string] => x[1] !== undefined);
  if (config.file !== undefined && holders.length > 0) {
    const mode = otherReadable(config.file, stat);
    if (mode !== undefined)
      out.push({
        code: 'W_NOTIFY_SECRETS_READABLE',
        message: `${config.file} is readable by every user (mode ${mode.toString(8)}) and holds secrets (${holders.map(([n, why]) => `method ${n}: ${why}`).join('; ')}); chmod 600 it`,
        severity: 'warning',
        file: config.file,
      });
  }
  for (const m of config.methods.values()) {
    if (m.type !== 'email' || m.passwordFile === undefined) continue;
    const mode = otherReadable(m.passwordFile, stat);
    if (mode !== undefined)
      out.push({
        code: 'W_NOTIFY_SECRETS_READABLE',
        message: `the SMTP password file of method ${m.name} is readable by every user (mode ${mode.toString(8)}); chmod 600 it`,
        severity: 'warning',
        file: m.passwordFile,
      });
  }
  return out;
}
