/**
 * `GET|POST /api/v1/manage/health`: Netdata's health management API (its docs "Health management API";
 * shared/design/netdata-health-semantics.md §4 "Silencers"), over the engine's silencers
 * (src/health/silencers.ts).
 *
 * - `cmd=SILENCE ALL | DISABLE ALL | SILENCE | DISABLE | RESET | LIST`; selectors `alarm` (or `template`),
 *   `chart`, `context`, `hosts`, each a simple pattern. The selectors of one request form one new selector
 *   set. Commands answer in plain text, LIST in JSON (`{ all, type, silencers }`), as Netdata does.
 * - Every call needs the API token, even LIST (Netdata checks it for every command): Netdata's
 *   `X-Auth-Token: <token>` or our `Authorization: Bearer <token>`. A browser cannot add either header to a
 *   cross-site request without a CORS preflight we never grant, so a GET that changes state is still safe
 *   from CSRF; the Origin check of every state-changing request applies too (security.ts).
 * - Unlike Netdata, which ignores what it does not know, an unknown parameter or command is a 400: a typo
 *   at 3 a.m. must not look like a silencer that was set.
 */

import type { IncomingMessage } from 'node:http';
import {
  COMMANDS,
  type Command,
  MAX_PATTERN_CHARS,
  MAX_SILENCERS,
  parseCommand,
  type SelectorKey,
  type Silencer,
  type SilencerState,
} from '../health/silencers.js';
import type { ServerContext } from './context.js';
import { ApiError } from './http.js';
import { checkOrigin, type OriginPolicy, tokenMatches } from './security.js';

/** Accept the token as Netdata's `X-Auth-Token` or as our bearer token; refuse (401) otherwise. */
export function checkManageToken(req: IncomingMessage, token: string): void {
  const xAuth = req.headers['x-auth-token'];
  const bearer = req.headers.authorization;
  if (xAuth === undefined && bearer === undefined) {
    throw new ApiError(
      401,
      'E_API_UNAUTHORIZED',
      'managing alerts needs the API token: send X-Auth-Token: <token> or Authorization: Bearer <token>',
      { 'WWW-Authenticate': 'Bearer realm="rstwatch"' },
    );
  }
  const viaXAuth = typeof xAuth === 'string' && tokenMatches(`Bearer ${xAuth.trim()}`, token);
  const viaBearer = bearer !== undefined && tokenMatches(bearer, token);
  if (!viaXAuth && !viaBearer) {
    throw new ApiError(401, 'E_API_UNAUTHORIZED', 'wrong API token', {
      'WWW-Authenticate': 'Bearer realm="rstwatch", error="invalid_token"',
    });
  }
}

/** A parsed request: the command and the selectors of the new selector set. */
export interface ManageRequest {
  cmd: Command | undefined;
  selectors: Silencer;
}

const SELECTOR_ALIASES: Record<string, SelectorKey> = {
  alarm: 'alarm',
  template: 'alarm',
  chart: 'chart',
  context: 'context',
  hosts: 'hosts',
};

/** Parse the query (`?cmd=…&alarm=…`); every problem is a 400 naming the parameter. */
export function parseManageQuery(query: string): ManageRequest {
  const params = new URLSearchParams(query);
  let cmd: Command | undefined;
  let sawCmd = false;
  const selectors: Silencer = {};
  for (const [key, value] of params) {
    if (key === 'cmd') {
      if (sawCmd) throw new ApiError(400, 'E_API_PARAM', 'cmd: give one command per request');
      sawCmd = true;
      cmd = parseCommand(value);
      if (cmd === undefined) {
        throw new ApiError(
          400,
          'E_API_BAD_CMD',
          `cmd: unknown command ${JSON.stringify(value)}; one of ${COMMANDS.join(', ')}`,
        );
      }
      continue;
    }
    const sel = SELECTOR_ALIASES[key];
    if (sel === undefined) {
      throw new ApiError(
        400,
        'E_API_PARAM',
        `${key}: not a parameter of manage/health (cmd, alarm, template, chart, context, hosts)`,
      );
    }
    if (value.trim() === '') throw new ApiError(400, 'E_API_PARAM', `${key}: the pattern is empty`);
    if (value.length > MAX_PATTERN_CHARS)
      throw new ApiError(400, 'E_API_PARAM', `${key}: the pattern is over ${MAX_PATTERN_CHARS} characters`);
    if (selectors[sel] !== undefined)
      throw new ApiError(
        400,
        'E_API_PARAM',
        `${key}: given twice (alarm and template are the same selector)`,
      );
    selectors[sel] = value;
  }
  if (!sawCmd && Object.keys(selectors).length === 0) {
    throw new ApiError(400, 'E_API_PARAM', `cmd: missing; one of ${COMMANDS.join(', ')}, or selectors`);
  }
  if (cmd === 'LIST' && Object.keys(selectors).length > 0)
    throw new ApiError(400, 'E_API_PARAM', 'cmd: LIST takes no selectors');
  return { cmd, selectors };
}

export type ManageAnswer = { kind: 'text'; body: string } | { kind: 'json'; body: SilencerState };

/**
 * Handle one management request after the method and Host checks: Origin, token, parse, apply. The engine
 * re-applies the silencers at once, so `/api/v1/alarms` shows `disabled`/`silenced` on the next read.
 */
export function manageHealth(
  ctx: ServerContext,
  req: IncomingMessage,
  opts: { token: string; origin: OriginPolicy; client: string },
): ManageAnswer {
  checkOrigin(req, opts.origin);
  checkManageToken(req, opts.token);
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const parsed = parseManageQuery(q < 0 ? '' : url.slice(q + 1));
  const health = ctx.agent.health;
  if (parsed.cmd === 'LIST') return { kind: 'json', body: health.silencers.state };
  if (
    Object.keys(parsed.selectors).length > 0 &&
    parsed.cmd !== 'RESET' &&
    health.silencers.state.silencers.length >= MAX_SILENCERS
  ) {
    throw new ApiError(
      400,
      'E_API_PARAM',
      `there are already ${MAX_SILENCERS} selector sets; RESET first, or use wider patterns`,
    );
  }
  const result = health.silencers.command(parsed.cmd, parsed.selectors);
  health.refreshSilencers();
  if (result.changed) {
    const s = health.silencers.state;
    ctx.log.info('alert silencers changed through the API', {
      client: opts.client,
      cmd: parsed.cmd ?? '',
      all: s.all,
      type: s.type,
      silencers: s.silencers.length,
    });
  }
  return { kind: 'text', body: `${result.lines.join('\n')}\n` };
}
