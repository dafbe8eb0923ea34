/**
 * Settings: embedded defaults, then the config file, then RSTWATCH_* environment variables, then flags
 * (architecture.md: flag > environment > file > default).
 *
 * The file is INI like netdata.conf (`[section]`, `key = value`, `#` comments), because the people who run
 * rstwatch already edit files of that shape. Keys are case-insensitive and `data dir`, `data-dir` and
 * `data_dir` are the same key. Every problem is reported with its line and column; an agent with a
 * broken configuration refuses to start rather than running with settings nobody asked for.
 */

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { errorMessage, type Problem, RstwatchError, sysCode } from './errors.js';

export interface Settings {
  /** Seconds between samples. */
  interval: number;
  dataDir: string;
  procRoot: string;
  netns: string[];
  /** Seconds between history writes. */
  flushEvery: number;
  /** Seconds of per-second history kept on disk (tier 0). */
  historySeconds: number;
  /** Days of per-minute history kept on disk (tier 1). */
  minuteHistoryDays: number;
  /** Seconds of per-second history held in memory. */
  memorySeconds: number;
  /** Netdata's `gap when lost iterations above`. */
  gapAfterLostIterations: number;
  listen: string;
  /** The API's bearer token file; '' = `<dataDir>/api.token` (docs/api.md). */
  apiTokenFile: string;
  /** Open API connections at most; more are answered 503. */
  apiMaxConnections: number;
  /** Requests per second per client address (token bucket, bursts of twice that). */
  apiRequestsPerSecond: number;
  /** Origins besides the API's own allowed to make state-changing requests (a reverse proxy's). */
  apiAllowOrigins: string[];
  /** The dashboard's files; '' = the package's web/ folder. */
  webDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The administrator's alert configurations (files here replace shipped files of the same name). */
  healthDir: string;
  /** Seconds of alert log kept (Netdata's `health log retention`, 5 days). */
  healthLogRetention: number;
  /** Notification routes and methods (docs/notifications.md); a missing default file means none. */
  notifyConfig: string;
  /** Most captures kept in <dataDir>/captures (docs/capture.md). */
  captureKeep: number;
  /** Most bytes of capture files kept there; also bounds one agent capture. */
  captureKeepBytes: number;
  /** Reset attribution from kernel tracepoints (docs/attribution.md). */
  attribution: boolean;
  /** Keys kept per second and dimension by attribution (the top-K bound). */
  attributionTopK: number;
  /** Debug: append every tick's raw counters to this file ('' = off; docs/reliability.md). */
  debugCountersFile: string;
}

type Kind = 'number' | 'string' | 'list' | 'level' | 'bool';
interface KeyDef {
  key: keyof Settings;
  kind: Kind;
  min?: number;
  max?: number;
  env: string;
}

const KEYS: Record<string, KeyDef> = {
  interval: { key: 'interval', kind: 'number', min: 1, max: 60, env: 'RSTWATCH_INTERVAL' },
  data_dir: { key: 'dataDir', kind: 'string', env: 'RSTWATCH_DATA_DIR' },
  proc_root: { key: 'procRoot', kind: 'string', env: 'RSTWATCH_PROC_ROOT' },
  netns: { key: 'netns', kind: 'list', env: 'RSTWATCH_NETNS' },
  flush_every: { key: 'flushEvery', kind: 'number', min: 1, max: 3600, env: 'RSTWATCH_FLUSH_EVERY' },
  history_seconds: {
    key: 'historySeconds',
    kind: 'number',
    min: 3600,
    max: 90 * 86400,
    env: 'RSTWATCH_HISTORY_SECONDS',
  },
  minute_history_days: {
    key: 'minuteHistoryDays',
    kind: 'number',
    min: 1,
    max: 3650,
    env: 'RSTWATCH_MINUTE_HISTORY_DAYS',
  },
  memory_seconds: {
    key: 'memorySeconds',
    kind: 'number',
    min: 120,
    max: 86400,
    env: 'RSTWATCH_MEMORY_SECONDS',
  },
  gap_when_lost_iterations_above: {
    key: 'gapAfterLostIterations',
    kind: 'number',
    min: 0,
    max: 100,
    env: 'RSTWATCH_GAP_AFTER_LOST',
  },
  listen: { key: 'listen', kind: 'string', env: 'RSTWATCH_LISTEN' },
  api_token_file: { key: 'apiTokenFile', kind: 'string', env: 'RSTWATCH_API_TOKEN_FILE' },
  api_max_connections: {
    key: 'apiMaxConnections',
    kind: 'number',
    min: 1,
    max: 4096,
    env: 'RSTWATCH_API_MAX_CONNECTIONS',
  },
  api_requests_per_second: {
    key: 'apiRequestsPerSecond',
    kind: 'number',
    min: 1,
    max: 100_000,
    env: 'RSTWATCH_API_REQUESTS_PER_SECOND',
  },
  api_allow_origins: { key: 'apiAllowOrigins', kind: 'list', env: 'RSTWATCH_API_ALLOW_ORIGINS' },
  web_dir: { key: 'webDir', kind: 'string', env: 'RSTWATCH_WEB_DIR' },
  log_level: { key: 'logLevel', kind: 'level', env: 'RSTWATCH_LOG_LEVEL' },
  health_dir: { key: 'healthDir', kind: 'string', env: 'RSTWATCH_HEALTH_DIR' },
  health_log_retention: {
    key: 'healthLogRetention',
    kind: 'number',
    min: 3600,
    max: 3650 * 86400,
    env: 'RSTWATCH_HEALTH_LOG_RETENTION',
  },
  notify_config: { key: 'notifyConfig', kind: 'string', env: 'RSTWATCH_NOTIFY_CONFIG' },
  capture_keep: { key: 'captureKeep', kind: 'number', min: 1, max: 10_000, env: 'RSTWATCH_CAPTURE_KEEP' },
  capture_keep_bytes: {
    key: 'captureKeepBytes',
    kind: 'number',
    min: 1024 * 1024,
    max: 2 ** 50,
    env: 'RSTWATCH_CAPTURE_KEEP_BYTES',
  },
  attribution: { key: 'attribution', kind: 'bool', env: 'RSTWATCH_ATTRIBUTION' },
  attribution_top_k: {
    key: 'attributionTopK',
    kind: 'number',
    min: 1,
    max: 1000,
    env: 'RSTWATCH_ATTRIBUTION_TOP_K',
  },
  debug_counters_file: { key: 'debugCountersFile', kind: 'string', env: 'RSTWATCH_DEBUG_COUNTERS_FILE' },
};

export const DEFAULT_CONFIG_FILE = '/etc/rstwatch/rstwatch.conf';

/** Root keeps its state in /var/lib/rstwatch; everyone else in $XDG_STATE_HOME/rstwatch. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0) return '/var/lib/rstwatch';
  const xdg = env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(xdg, 'rstwatch');
}

export function defaults(env: NodeJS.ProcessEnv = process.env): Settings {
  return {
    interval: 1,
    dataDir: defaultDataDir(env),
    procRoot: '/proc',
    netns: [],
    flushEvery: 10,
    historySeconds: 25 * 3600,
    minuteHistoryDays: 31,
    memorySeconds: 3600,
    gapAfterLostIterations: 1,
    listen: '127.0.0.1:19911',
    apiTokenFile: '',
    apiMaxConnections: 64,
    apiRequestsPerSecond: 100,
    apiAllowOrigins: [],
    webDir: '',
    logLevel: 'info',
    healthDir: '/etc/rstwatch/health.d',
    healthLogRetention: 5 * 86400,
    notifyConfig: '/etc/rstwatch/notify.conf',
    captureKeep: 20,
    captureKeepBytes: 1024 ** 3,
    attribution: true,
    attributionTopK: 10,
    debugCountersFile: '',
  };
}

function normKey(k: string): string {
  return k
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

function convert(def: KeyDef, raw: string): { value?: Settings[keyof Settings]; error?: string } {
  const text = raw.trim();
  switch (def.kind) {
    case 'number': {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n))
        return { error: `expected a number, got ${JSON.stringify(text)}` };
      if (def.min !== undefined && n < def.min) return { error: `must be at least ${def.min}` };
      if (def.max !== undefined && n > def.max) return { error: `must be at most ${def.max}` };
      return { value: n };
    }
    case 'list':
      return { value: text === '' ? [] : text.split(/[\s,]+/).filter(Boolean) };
    case 'bool': {
      // netdata.conf spells booleans yes/no; true/false and on/off are accepted too.
      const t = text.toLowerCase();
      if (['yes', 'true', 'on', '1'].includes(t)) return { value: true };
      if (['no', 'false', 'off', '0'].includes(t)) return { value: false };
      return { error: `expected yes or no, got ${JSON.stringify(text)}` };
    }
    case 'level':
      if (!['debug', 'info', 'warn', 'error'].includes(text))
        return { error: 'expected debug, info, warn or error' };
      return { value: text };
    default:
      if (text === '') return { error: 'must not be empty' };
      return { value: text };
  }
}

/** Pure: parse the text of a config file. Sections other than [agent] are kept for later issues' parts. */
export function parseConfig(text: string, file: string): { values: Partial<Settings>; problems: Problem[] } {
  const values: Partial<Settings> = {};
  const problems: Problem[] = [];
  let section = '';
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const line = i + 1;
    const trimmed = rawLine.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    const indent = rawLine.length - rawLine.trimStart().length;
    if (trimmed.startsWith('[')) {
      if (!trimmed.endsWith(']')) {
        problems.push({
          code: 'E_CONFIG_SYNTAX',
          message: 'section header without "]"',
          severity: 'error',
          file,
          line,
          column: indent + 1,
        });
        return;
      }
      section = trimmed.slice(1, -1).trim().toLowerCase();
      if (section !== 'agent') {
        problems.push({
          code: 'E_CONFIG_SECTION',
          message: `unknown section [${section}] (known: [agent])`,
          severity: 'error',
          file,
          line,
          column: indent + 1,
        });
      }
      return;
    }
    const eq = rawLine.indexOf('=');
    if (eq < 0) {
      problems.push({
        code: 'E_CONFIG_SYNTAX',
        message: 'expected "key = value"',
        severity: 'error',
        file,
        line,
        column: indent + 1,
      });
      return;
    }
    if (section !== 'agent') {
      if (section === '') {
        problems.push({
          code: 'E_CONFIG_SECTION',
          message: 'setting outside a section (put it under [agent])',
          severity: 'error',
          file,
          line,
          column: indent + 1,
        });
      }
      return;
    }
    const key = normKey(rawLine.slice(0, eq));
    const def = KEYS[key];
    if (!def) {
      problems.push({
        code: 'E_CONFIG_KEY',
        message: `unknown setting "${key}" (known: ${Object.keys(KEYS).join(', ')})`,
        severity: 'error',
        file,
        line,
        column: indent + 1,
      });
      return;
    }
    const rawValue = rawLine.slice(eq + 1);
    const { value, error } = convert(def, rawValue);
    if (error !== undefined) {
      const col = eq + 2 + (rawValue.length - rawValue.trimStart().length);
      problems.push({
        code: 'E_CONFIG_VALUE',
        message: `${key}: ${error}`,
        severity: 'error',
        file,
        line,
        column: col,
      });
      return;
    }
    (values as Record<string, unknown>)[def.key] = value;
  });
  return { values, problems };
}

/** Flags use the same names as the file (`--data-dir`, `--flush-every`); values arrive as strings. */
export function resolveSettings(opts: {
  flags?: Record<string, string | string[] | undefined>;
  env?: NodeJS.ProcessEnv;
  configFile?: string;
}): { settings: Settings; source: string; problems: Problem[] } {
  const env = opts.env ?? process.env;
  const settings = defaults(env);
  const problems: Problem[] = [];
  let source = 'embedded defaults';
  const file =
    opts.configFile ??
    env.RSTWATCH_CONFIG ??
    (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (file !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({
        code: 'E_CONFIG_UNREADABLE',
        message: `cannot read: ${sysCode(err) ?? errorMessage(err)}`,
        severity: 'error',
        file,
      });
    }
    if (text !== undefined) {
      const parsed = parseConfig(text, file);
      problems.push(...parsed.problems);
      Object.assign(settings, parsed.values);
      source = file;
    }
  }
  const apply = (def: KeyDef, raw: string, where: string) => {
    const { value, error } = convert(def, raw);
    if (error !== undefined)
      problems.push({ code: 'E_CONFIG_VALUE', message: `${where}: ${error}`, severity: 'error' });
    else (settings as unknown as Record<string, unknown>)[def.key] = value;
  };
  for (const def of Object.values(KEYS)) {
    const v = env[def.env];
    if (v !== undefined && v !== '') apply(def, v, def.env);
  }
  for (const [name, def] of Object.entries(KEYS)) {
    const flag = opts.flags?.[name.replace(/_/g, '-')];
    if (flag === undefined) continue;
    if (Array.isArray(flag)) {
      if (def.kind === 'list') (settings as unknown as Record<string, unknown>)[def.key] = flag;
      else if (flag.length > 0) apply(def, flag[flag.length - 1]!, `--${name.replace(/_/g, '-')}`);
    } else apply(def, flag, `--${name.replace(/_/g, '-')}`);
  }
  return { settings, source, problems };
}

/** Throw one error listing every problem (for commands that must not start with a broken configuration). */
export function assertNoProblems(problems: Problem[]): void {
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length === 0) return;
  const first = errors[0]!;
  throw new RstwatchError(
    first.code,
    errors.length === 1 ? first.message : `${errors.length} configuration problems`,
    {
      ...(first.file !== undefined ? { file: first.file } : {}),
      ...(first.line !== undefined ? { line: first.line } : {}),
      ...(first.column !== undefined ? { column: first.column } : {}),
    },
  );
}
