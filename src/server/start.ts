/**
 * How the agent starts its API: unless `listen` is `none`, load the server (lazily: `rstwatch agent
 * --listen none` never loads it) and start it. A server that cannot start — port taken, token unreadable —
 * is logged with its code and the agent keeps sampling and alerting without it, as it keeps running without
 * history when the database cannot open.
 */

import { errorMessage, RstwatchError } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import type { RunningServer, ServerSettings } from './index.js';
import type { ServerAgent } from './types.js';

export function listenDisabled(text: string): boolean {
  const t = text.trim().toLowerCase();
  return t === 'none' || t === 'off' || t === 'no' || t === 'false';
}

export async function startApi(
  settings: ServerSettings,
  agent: ServerAgent,
  log: Logger,
): Promise<RunningServer | undefined> {
  if (listenDisabled(settings.listen)) {
    log.info('API disabled (listen = none)');
    return undefined;
  }
  try {
    const { startServer } = await import('./index.js');
    return await startServer({ agent, settings, log });
  } catch (err) {
    const e = err instanceof RstwatchError ? err : new RstwatchError('E_API_LISTEN', errorMessage(err));
    log.error(`${e.message}; the agent keeps sampling and alerting without the API`, {
      code: e.code,
      ...(e.hint !== undefined ? { hint: e.hint } : {}),
    });
    return undefined;
  }
}
