/**
 * Alert silencers: the state behind Netdata's health management API (`/api/v1/manage/health`,
 * shared/design/netdata-health-semantics.md §3.3 "apply silencers", §3.8 step 5, §4 "Silencers").
 *
 * The state is one switch for every alert (`all`), one action (`type`: NONE, DISABLE or SILENCE) and a list of
 * selector sets. As in Netdata, the action is global: the last SILENCE or DISABLE command decides what every
 * selector set does. A selector set matches an alert when each selector it has matches positively (a Netdata
 * simple pattern: `*` wildcards, `!` negation, first match decides); an alert matched by any set gets the
 * action. DISABLE: the alert is not evaluated at all (pass 1 and 2 skip it). SILENCE: it is evaluated and
 * logged, its log entries carry the SILENCED flag, and no notification is sent for them.
 *
 * Persistence mirrors Netdata's `health.silencers.json` in its var folder: the LIST answer, written atomically
 * (temporary file, then rename) with mode 0600, read at start. A file that cannot be read or is not a
 * silencer list is a warning with a stable code (docs/errors.md) and the agent starts without silencers.
 */

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { errorMessage, sysCode } from '../internal/errors.js';
import type { Logger } from '../internal/log.js';
import { compileSimplePattern, type SimplePattern } from './pattern.js';

export type SilenceType = 'NONE' | 'DISABLE' | 'SILENCE';
/** What the silencers do to one alert. */
export type SilenceAction = 'none' | 'silence' | 'disable';

/**
 * Selector keys as stored and listed. Netdata's API also takes `template`, which sets the same selector as
 * `alarm` (both name the alert; a template's instances carry the template's name).
 */
export const SELECTOR_KEYS = ['alarm', 'chart', 'context', 'hosts'] as const;
export type SelectorKey = (typeof SELECTOR_KEYS)[number];
/** One selector set (one API request's selectors): simple patterns, all must match. */
export type Silencer = Partial<Record<SelectorKey, string>>;

/** The LIST answer and the persisted file. */
export interface SilencerState {
  all: boolean;
  type: SilenceType;
  silencers: Silencer[];
}

/** What a silencer looks at in an alert. */
export interface SilenceTarget {
  /** The alert's name (`10s_ip_tcp_resets_received`; foreach instances have their expanded name). */
  name: string;
  /** The chart id (`ip.tcphandshake`). */
  chart: string;
  /** Other names of the chart (aliases such as `ipv4.tcphandshake`). */
  chartNames?: readonly string[];
  context: string;
  hostname: string;
}

/** Bounds that keep a request or a file from growing the agent without limit. */
export const MAX_SILENCERS = 256;
export const MAX_PATTERN_CHARS = 1024;
/** A silencer file larger than this is not ours. */
const MAX_FILE_BYTES = 1024 * 1024;

export const SILENCERS_FILE = 'health.silencers.json';

export function emptyState(): SilencerState {
  return { all: false, type: 'NONE', silencers: [] };
}

interface CompiledSilencer {
  patterns: [SelectorKey, SimplePattern][];
}

function compile(s: Silencer): CompiledSilencer {
  const patterns: [SelectorKey, SimplePattern][] = [];
  for (const k of SELECTOR_KEYS) {
    const v = s[k];
    if (v !== undefined) patterns.push([k, compileSimplePattern(v)]);
  }
  return { patterns };
}

function selectorMatches(key: SelectorKey, p: SimplePattern, t: SilenceTarget): boolean {
  // Netdata's check_silenced: only a positive match counts (a negative or no match is "no").
  switch (key) {
    case 'alarm':
      return p.matches(t.name) === true;
    case 'chart':
      return p.matches(t.chart) === true || (t.chartNames ?? []).some((n) => p.matches(n) === true);
    case 'context':
      return p.matches(t.context) === true;
    case 'hosts':
      return p.matches(t.hostname) === true;
  }
}

function actionOf(type: SilenceType): SilenceAction {
  return type === 'DISABLE' ? 'disable' : type === 'SILENCE' ? 'silence' : 'none';
}

/**
 * The pure rule: what `state` does to the alert `t`. `all` applies the type to every alert; otherwise the
 * first selector set whose selectors all match applies it. Type NONE does nothing (selectors added without a
 * SILENCE or DISABLE command wait for one).
 */
export function matchSilencers(state: SilencerState, t: SilenceTarget): SilenceAction {
  return matchCompiled(state, state.silencers.map(compile), t);
}

function matchCompiled(state: SilencerState, compiled: readonly CompiledSilencer[], t: SilenceTarget) {
  if (state.type === 'NONE') return 'none';
  if (state.all) return actionOf(state.type);
  for (const c of compiled) {
    if (c.patterns.length === 0) continue;
    if (c.patterns.every(([k, p]) => selectorMatches(k, p, t))) return actionOf(state.type);
  }
  return 'none';
}

/** A problem with a silencer file: its stable code and message (docs/errors.md). */
export interface SilencerFileProblem {
  code: 'E_SILENCERS_READ' | 'E_SILENCERS_CORRUPT' | 'E_SILENCERS_WRITE';
  message: string;
}

/** Validate a parsed silencer document; returns the state or what is wrong with it (with its position). */
export function parseSilencerState(doc: unknown): SilencerState | string {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'the top level is not an object';
  const o = doc as Record<string, unknown>;
  if (typeof o.all !== 'boolean') return '"all" is not true or false';
  if (o.type !== 'NONE' && o.type !== 'DISABLE' && o.type !== 'SILENCE')
    return '"type" is not "NONE", "DISABLE" or "SILENCE"';
  if (!Array.isArray(o.silencers)) return '"silencers" is not a list';
  if (o.silencers.length > MAX_SILENCERS) return `"silencers" has more than ${MAX_SILENCERS} entries`;
  const silencers: Silencer[] = [];
  for (const [i, s] of o.silencers.entries()) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return `silencers[${i}] is not an object`;
    const out: Silencer = {};
    for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
      if (!(SELECTOR_KEYS as readonly string[]).includes(k))
        return `silencers[${i}] has an unknown key "${k}"`;
      if (typeof v !== 'string' || v.trim() === '' || v.length > MAX_PATTERN_CHARS)
        return `silencers[${i}].${k} is not a pattern (a non-empty string of at most ${MAX_PATTERN_CHARS} characters)`;
      out[k as SelectorKey] = v;
    }
    if (Object.keys(out).length === 0) return `silencers[${i}] has no selector`;
    silencers.push(out);
  }
  return { all: o.all, type: o.type, silencers };
}

/**
 * Read a silencer file. Missing: empty state, no problem (the first start). Unreadable or not a silencer
 * list: empty state and a problem to report; the file is left as it is for the administrator to look at
 * (the next change through the API replaces it).
 */
export function readSilencerFile(file: string): { state: SilencerState; problem?: SilencerFileProblem } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (sysCode(err) === 'ENOENT') return { state: emptyState() };
    return {
      state: emptyState(),
      problem: { code: 'E_SILENCERS_READ', message: `cannot read ${file}: ${errorMessage(err)}` },
    };
  }
  const corrupt = (why: string) => ({
    state: emptyState(),
    problem: {
      code: 'E_SILENCERS_CORRUPT' as const,
      message: `${file} is not a silencer list (${why}); starting without silencers`,
    },
  });
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) return corrupt(`over ${MAX_FILE_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // V8's message carries the position ("... in JSON at position 12").
    return corrupt(errorMessage(err));
  }
  const parsed = parseSilencerState(doc);
  return typeof parsed === 'string' ? corrupt(parsed) : { state: parsed };
}

/**
 * Write the state atomically: a temporary file in the same folder (mode 0600, exclusive, flushed to disk),
 * renamed over the old one, so a crash leaves either the old list or the new one, never half of one.
 */
export function writeSilencerFile(file: string, state: SilencerState): SilencerFileProblem | undefined {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    return undefined;
  } catch (err) {
    rmSync(tmp, { force: true });
    return {
      code: 'E_SILENCERS_WRITE',
      message: `cannot save the silencers to ${file}: ${errorMessage(err)}`,
    };
  }
}

/** The commands of the management API (Netdata's spelling). */
export const COMMANDS = ['SILENCE ALL', 'DISABLE ALL', 'SILENCE', 'DISABLE', 'RESET', 'LIST'] as const;
export type Command = (typeof COMMANDS)[number];

/** Read a `cmd` value: case and runs of spaces do not matter (`silence+all`); undefined when unknown. */
export function parseCommand(raw: string): Command | undefined {
  const norm = raw.trim().replace(/\s+/g, ' ').toUpperCase();
  return (COMMANDS as readonly string[]).includes(norm) ? (norm as Command) : undefined;
}

/** The outcome of one management request. */
export interface CommandResult {
  /** The plain-text answer, one line per message. */
  lines: string[];
  /** Whether the state changed (and was saved). */
  changed: boolean;
}

/**
 * The live silencers of one agent: the state, its compiled patterns, and the file it is kept in (none in
 * tests that do not need one).
 */
export class Silencers {
  private current: SilencerState;
  private compiled: CompiledSilencer[];
  readonly file: string | undefined;
  private readonly logger: Logger | undefined;
  /** Bumped on every change, so the engine re-applies the silencers only when they changed. */
  generation = 0;

  constructor(opts: { file?: string; logger?: Logger; state?: SilencerState } = {}) {
    this.file = opts.file;
    this.logger = opts.logger;
    this.current = opts.state ?? emptyState();
    this.compiled = this.current.silencers.map(compile);
  }

  /** Load the silencers kept in `file`; a bad file is logged as a warning and ignored (never thrown). */
  static load(file: string, logger?: Logger): Silencers {
    const { state, problem } = readSilencerFile(file);
    if (problem) logger?.warn(problem.message, { code: problem.code, file });
    else if (state.all || state.silencers.length > 0)
      logger?.info('alert silencers restored', {
        file,
        all: state.all,
        type: state.type,
        silencers: state.silencers.length,
      });
    return new Silencers({ file, ...(logger ? { logger } : {}), state });
  }

  /** A copy of the state (the LIST answer). */
  get state(): SilencerState {
    return {
      all: this.current.all,
      type: this.current.type,
      silencers: this.current.silencers.map((s) => ({ ...s })),
    };
  }

  /** True when nothing is silenced or disabled (the engine's fast path). */
  get inactive(): boolean {
    return this.current.type === 'NONE';
  }

  match(t: SilenceTarget): SilenceAction {
    return matchCompiled(this.current, this.compiled, t);
  }

  /**
   * Run one request: the command first (if any), then the selectors as one new selector set (if any), as a
   * Netdata request with both does. Throws nothing; validation of keys and values is the caller's (the
   * API). Returns the answer lines; the state is saved when it changed.
   */
  command(cmd: Command | undefined, selectors: Silencer): CommandResult {
    const lines: string[] = [];
    const next = this.state;
    switch (cmd) {
      case 'SILENCE ALL':
        next.all = true;
        next.type = 'SILENCE';
        lines.push('All alert notifications are silenced.');
        break;
      case 'DISABLE ALL':
        next.all = true;
        next.type = 'DISABLE';
        lines.push('All alert checks are disabled.');
        break;
      case 'SILENCE':
        next.all = false;
        next.type = 'SILENCE';
        lines.push('Notifications are silenced for alerts matching the selectors.');
        break;
      case 'DISABLE':
        next.all = false;
        next.type = 'DISABLE';
        lines.push('Checks are disabled for alerts matching the selectors.');
        break;
      case 'RESET':
        next.all = false;
        next.type = 'NONE';
        next.silencers = [];
        lines.push('All alert checks and notifications are enabled again.');
        break;
      case 'LIST':
      case undefined:
        break;
    }
    if (Object.keys(selectors).length > 0) {
      next.silencers.push({ ...selectors });
      lines.push(`Selector set added: ${describe(selectors)}.`);
    }
    // The two warnings Netdata gives for requests that do nothing yet.
    if (next.type === 'NONE' && next.silencers.length > 0)
      lines.push('WARNING: selectors are stored but do nothing until a SILENCE or DISABLE command is given.');
    if (next.type !== 'NONE' && !next.all && next.silencers.length === 0)
      lines.push('WARNING: SILENCE and DISABLE act only on alerts matching selectors, and none are defined.');
    const changed = JSON.stringify(next) !== JSON.stringify(this.current);
    if (changed) {
      this.current = next;
      this.compiled = next.silencers.map(compile);
      this.generation++;
      const problem = this.file !== undefined ? writeSilencerFile(this.file, next) : undefined;
      if (problem) {
        this.logger?.warn(problem.message, { code: problem.code });
        lines.push(
          `WARNING: the change applies now but was not saved and will be lost at restart (${problem.code}).`,
        );
      }
    }
    return { lines, changed };
  }
}

function describe(s: Silencer): string {
  return SELECTOR_KEYS.filter((k) => s[k] !== undefined)
    .map((k) => `${k}=${JSON.stringify(s[k])}`)
    .join(' ');
}
