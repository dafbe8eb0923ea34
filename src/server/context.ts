/**
 * What every handler gets: the agent (read-only), settings that matter to answers, the clock, and facts
 * about this host computed once.
 */

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from '../internal/log.js';
import type { Os } from '../model/charts.js';
import type { ServerAgent } from './types.js';

export interface ServerContext {
  agent: ServerAgent;
  log: Logger;
  hostname: string;
  /** rstwatch's version (package.json). */
  version: string;
  os: Os;
  /** Wall clock, epoch milliseconds (injectable for tests). */
  nowMs(): number;
  /** The data folder (for the token file and captures), for status answers. */
  dataDir: string;
}

let cachedVersion: string | undefined;

/** rstwatch's version from package.json, read once. */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    cachedVersion = pkg.version ?? 'unknown';
  } catch {
    cachedVersion = 'unknown';
  }
  return cachedVersion;
}

export function makeContext(opts: {
  agent: ServerAgent;
  log: Logger;
  dataDir: string;
  nowMs?: () => number;
  hostname?: string;
}): ServerContext {
  return {
    agent: opts.agent,
    log: opts.log,
    hostname: opts.hostname ?? hostname(),
    version: packageVersion(),
    os: opts.agent.os ?? (process.platform === 'freebsd' ? 'freebsd' : 'linux'),
    nowMs: opts.nowMs ?? Date.now,
    dataDir: opts.dataDir,
  };
}

export function nowSec(ctx: ServerContext): number {
  return Math.floor(ctx.nowMs() / 1000);
}
