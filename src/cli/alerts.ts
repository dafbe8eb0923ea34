/**
 * rstwatch alerts — alert states and the alert log, read from the agent's database (the agent writes both
 * as it evaluates; WAL mode lets this read while the agent writes).
 */

import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describeContext } from '../attribute/alert-context.js';
import { AlertDb } from '../health/alert-db.js';
import type { SilencerState } from '../health/silencers.js';
import { statusName } from '../health/types.js';
import { assertNoProblems, defaultDataDir, resolveSettings } from '../internal/config.js';
import { errorMessage, RstwatchError } from '../internal/errors.js';
import { parse } from './args.js';
import type { Io } from './main.js';

const HELP = `Usage: rstwatch alerts [--all] [--json] [--data-dir DIR]
       rstwatch alerts --log [--after ID] [--limit N] [--json] [--data-dir DIR]
       rstwatch alerts silence|disable|reset|silencers …   (rstwatch alerts silence --help)

Shows the agent's alerts: each alert's status, value and last change; with --log, the transitions
(newest first) with their delay and whether a notification was sent; a reset alert's transition also
shows the top peers, local ports (with the listening process), remote ports and reasons that attribution
saw over the alert's lookup window.

Options:
  --log            the alert log instead of the states
  --after ID       with --log: only entries with a unique id above ID (Netdata's alarm_log?after=)
  --limit N        with --log: at most N entries (default 50)
  --all            states: every alert; without it, CRITICAL, WARNING and CLEAR ones (raised first), not
                   the UNDEFINED, UNINITIALIZED and REMOVED ones (such as the 1m_* baselines)
  --json           machine-readable output
  --data-dir DIR   the agent's data folder (default /var/lib/rstwatch as root, else $XDG_STATE_HOME/rstwatch)
  -h, --help       this text
`;

function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toFixed(3)).toString();
}

function time(t: number): string {
  return t > 0 ? new Date(t * 1000).toISOString().replace('.000Z', 'Z') : '-';
}

export async function run(argv: string[], io: Io): Promise<number> {
  // The silencer commands talk to the running agent's API (below).
  if (argv[0] !== undefined && (SILENCER_COMMANDS as readonly string[]).includes(argv[0]))
    return runSilencerCommand(argv[0] as (typeof SILENCER_COMMANDS)[number], argv.slice(1), io);
  const { values } = parse(argv, {
    log: { type: 'boolean', default: false },
    after: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const dataDir = values['data-dir'] ?? process.env.RSTWATCH_DATA_DIR ?? defaultDataDir();
  const path = join(dataDir, 'history.db');
  if (!existsSync(path)) {
    throw new RstwatchError('E_NO_AGENT_DATA', `no agent database at ${path}`, {
      hint: 'start the agent (`rstwatch agent`), or point --data-dir at its folder',
    });
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 });
  } catch (err) {
    throw dbError(path, err);
  }
  try {
    const hasLog = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'health_log'").get();
    if (!hasLog)
      throw new RstwatchError('E_NO_AGENT_DATA', `the agent at ${dataDir} has not evaluated any alert yet`);
    const adb = new AlertDb(db, { readonly: true });
    if (values.log) {
      const after = values.after === undefined ? 0 : Number(values.after);
      const limit = values.limit === undefined ? 50 : Number(values.limit);
      if (!Number.isInteger(after) || after < 0)
        throw new RstwatchError('E_USAGE', '--after must be a unique id (≥ 0)');
      if (!Number.isInteger(limit) || limit < 1)
        throw new RstwatchError('E_USAGE', '--limit must be a positive integer');
      const entries = adb.entries({ after, limit });
      if (values.json) {
        io.out(
          `${JSON.stringify(entries, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
        );
        return 0;
      }
      for (const e of entries) {
        const sent =
          e.flags & 0x4
            ? `notified ${time(e.execRunTimestamp)}`
            : e.flags & 0x2
              ? 'superseded'
              : e.flags & 0x1
                ? 'not notified'
                : `waits until ${time(e.delayUpToTimestamp)}`;
        io.out(
          `#${e.uniqueId} ${time(e.when)} ${e.name} on ${e.chart}: ${statusName(e.oldStatus)} → ${statusName(e.newStatus)}` +
            ` value ${fmt(e.newValue)} ${e.units} (was ${fmt(e.oldValue)}), delay ${e.delay}s, ${sent}\n`,
        );
        // Reset alerts carry who and why over their lookup window (src/attribute/alert-context.ts).
        if (e.context_extra?.top) for (const l of describeContext(e.context_extra)) io.out(`    ${l}\n`);
      }
      if (entries.length === 0) io.out('no transitions\n');
      return 0;
    }
    const order: Record<string, number> = {
      CRITICAL: 0,
      WARNING: 1,
      CLEAR: 2,
      UNDEFINED: 3,
      UNINITIALIZED: 4,
      REMOVED: 5,
    };
    const states = adb
      .states()
      .filter((s) => values.all || s.status === 'WARNING' || s.status === 'CRITICAL' || s.status === 'CLEAR')
      .sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || a.name.localeCompare(b.name));
    if (values.json) {
      io.out(`${JSON.stringify(states, null, 2)}\n`);
      return 0;
    }
    for (const s of states) {
      io.out(
        `${s.status.padEnd(13)} ${s.name.padEnd(40)} ${fmt(s.value).padStart(10)} ${s.units.padEnd(14)} ${s.chart}  since ${time(s.lastStatusChange)}\n`,
      );
    }
    if (states.length === 0) io.out('no alerts\n');
    return 0;
  } catch (err) {
    throw err instanceof RstwatchError ? err : dbError(path, err);
  } finally {
    db.close();
  }
}

/** SQLite's failures as the catalogue's codes (docs/errors.md): never a stack trace for a bad file. */
function dbError(path: string, err: unknown): RstwatchError {
  const code = (err as { code?: unknown }).code;
  const why = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT')
    return new RstwatchError('E_DB_CORRUPT', `${path} is not a usable database: ${why}`, { cause: err });
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
    return new RstwatchError('E_DB_LOCKED', `${path} stayed locked for 2 s: ${why}`, { cause: err });
  return new RstwatchError('E_DB_READ', `cannot read ${path}: ${why}`, { cause: err });
}

// ---------------------------------------------------------------------------------------------------------
// rstwatch alerts silence|disable|reset|silencers: the agent's /api/v1/manage/health (docs/alerts.md
// "Silencing"), with the token from the agent's token file. The agent owns the silencers (and their file);
// this only asks it, so a change applies at once and is kept across the agent's restarts.

export const SILENCER_COMMANDS = ['silence', 'disable', 'reset', 'silencers'] as const;
type SilencerCommand = (typeof SILENCER_COMMANDS)[number];

const SILENCE_HELP = `Usage: rstwatch alerts silence|disable (--alarm P | --chart P | --context P | --hosts P)… [connection]
       rstwatch alerts silence|disable --all [connection]
       rstwatch alerts reset [connection]
       rstwatch alerts silencers [--json] [connection]

Asks the running agent (its API, /api/v1/manage/health, as Netdata's health management API) to stop
notifying alerts (silence: still evaluated and logged) or to stop evaluating them (disable), to undo every
silencer (reset), or lists the silencers. Patterns are Netdata simple patterns ('*' wildcards, '!' negates,
spaces separate alternatives); the patterns of one command must all match (one selector set). The agent
keeps the silencers across restarts. SILENCE or DISABLE applies to every selector set, as in Netdata.

Options:
  --alarm P         alert names (10s_ipv4_tcp_resets_*)
  --chart P         chart ids (ip.tcphandshake)
  --context P       chart contexts
  --hosts P         host names
  --all             every alert
  --json            silencers: the agent's JSON answer
Connection (the agent's own settings by default):
  --config FILE          the agent's config file (its listen and api token file)
  --listen ADDR:PORT     the agent's API (default 127.0.0.1:19911)
  --data-dir DIR         the agent's data folder, for its api.token
  --api-token-file FILE  the token file (default DATA_DIR/api.token)
  -h, --help             this text
`;

async function runSilencerCommand(cmd: SilencerCommand, argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    alarm: { type: 'string' },
    chart: { type: 'string' },
    context: { type: 'string' },
    hosts: { type: 'string' },
    all: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    config: { type: 'string' },
    listen: { type: 'string' },
    'data-dir': { type: 'string' },
    'api-token-file': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(SILENCE_HELP);
    return 0;
  }
  const selectors: [string, string][] = [];
  for (const k of ['alarm', 'chart', 'context', 'hosts'] as const) {
    const v = values[k];
    if (v !== undefined) selectors.push([k, v]);
  }
  const query = new URLSearchParams();
  if (cmd === 'silence' || cmd === 'disable') {
    if (values.all && selectors.length > 0)
      throw new RstwatchError('E_USAGE', '--all and selectors (--alarm, --chart, …) do not go together');
    if (!values.all && selectors.length === 0)
      throw new RstwatchError(
        'E_USAGE',
        `say which alerts to ${cmd}: --alarm, --chart, --context, --hosts, or --all`,
      );
    query.set('cmd', `${cmd.toUpperCase()}${values.all ? ' ALL' : ''}`);
    for (const [k, v] of selectors) query.set(k, v);
  } else {
    if (values.all || selectors.length > 0)
      throw new RstwatchError('E_USAGE', `${cmd} takes no --all or selectors`);
    query.set('cmd', cmd === 'reset' ? 'RESET' : 'LIST');
  }
  const {
    help: _h,
    config,
    alarm: _a,
    chart: _c,
    context: _x,
    hosts: _o,
    all: _l,
    json: _j,
    ...flags
  } = values;
  const resolved = resolveSettings(config === undefined ? { flags } : { flags, configFile: config });
  assertNoProblems(resolved.problems);
  const settings = resolved.settings;
  const tokenFile =
    settings.apiTokenFile === '' ? join(settings.dataDir, 'api.token') : settings.apiTokenFile;
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    throw new RstwatchError('E_API_TOKEN', `cannot read the API token ${tokenFile}: ${errorMessage(err)}`, {
      hint: 'run as the agent’s user (root), or point --data-dir / --api-token-file at the agent’s',
    });
  }
  const base = apiBase(settings.listen);
  const answer = await callAgent(
    `${base}/api/v1/manage/health?${query.toString().replace(/\+/g, '%20')}`,
    token,
  );
  if (cmd !== 'silencers') {
    io.out(answer);
    return 0;
  }
  const state = JSON.parse(answer) as SilencerState;
  if (values.json) {
    io.out(`${JSON.stringify(state, null, 2)}\n`);
    return 0;
  }
  const what = state.type === 'NONE' ? 'nothing' : state.type === 'SILENCE' ? 'silenced' : 'disabled';
  if (state.all && state.type !== 'NONE') io.out(`every alert is ${what}\n`);
  else if (state.silencers.length === 0) io.out('no silencers: every alert is evaluated and notified\n');
  else {
    io.out(`alerts matching these selector sets are ${what}:\n`);
    for (const s of state.silencers)
      io.out(
        `  ${Object.entries(s)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(' ')}\n`,
      );
  }
  return 0;
}

/** The agent's `listen` as a URL to call: a wildcard address is reached on loopback. */
function apiBase(listen: string): string {
  if (listen === 'none' || listen === '')
    throw new RstwatchError('E_USAGE', 'the agent runs without its API (listen none); nothing to ask', {
      hint: 'give --listen ADDR:PORT if it listens elsewhere',
    });
  const colon = listen.lastIndexOf(':');
  let host = colon < 0 ? listen : listen.slice(0, colon);
  const port = colon < 0 ? '19911' : listen.slice(colon + 1);
  if (host === '' || host === '0.0.0.0' || host === '*') host = '127.0.0.1';
  if (host === '[::]' || host === '::') host = '[::1]';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${port}`;
}

/** One bounded request to the agent; its error answers become errors with the agent's code. */
function callAgent(url: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { Authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) =>
        reject(new RstwatchError('E_NO_AGENT', `reading the agent's answer: ${err.message}`)),
      );
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) return resolve(text);
        let code = 'E_API_INTERNAL';
        let message = text.trim();
        try {
          const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          if (e?.code) code = e.code;
          if (e?.message) message = e.message;
        } catch {
          // Not our error shape: keep the text.
        }
        reject(new RstwatchError(code, `the agent refused (${res.statusCode}): ${message}`));
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err) =>
      reject(
        new RstwatchError(
          'E_NO_AGENT',
          `cannot reach the agent's API at ${url.split('/api/')[0]}: ${err.message}`,
          {
            hint: 'is the agent running? give --listen ADDR:PORT or --config if it listens elsewhere',
          },
        ),
      ),
    );
    req.end();
  });
}
