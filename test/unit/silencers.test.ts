/**
 * Alert silencers (src/health/silencers.ts): matching with Netdata's simple patterns, the commands of the
 * health management API, and the file that keeps them across restarts.
 */

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  emptyState,
  matchSilencers,
  parseCommand,
  readSilencerFile,
  SILENCERS_FILE,
  type SilencerState,
  Silencers,
  type SilenceTarget,
} from '../../src/health/silencers.js';
import { memoryLogger } from '../../src/internal/log.js';

const RECEIVED: SilenceTarget = {
  name: '10s_ip_tcp_resets_received',
  chart: 'ip.tcphandshake',
  chartNames: ['ip.tcphandshake', 'ipv4.tcphandshake'],
  context: 'ip.tcphandshake',
  hostname: 'web1',
};
const LISTEN: SilenceTarget = {
  name: 'rstwatch_listen_overflows',
  chart: 'ip.tcp_listen_issues',
  context: 'ip.tcp_listen_issues',
  hostname: 'web1',
};

const state = (s: Partial<SilencerState>): SilencerState => ({ ...emptyState(), ...s });

describe('matchSilencers (Netdata check_silenced)', () => {
  it('nothing set: no action', () => {
    expect(matchSilencers(emptyState(), RECEIVED)).toBe('none');
  });
  it('all: the type applies to every alert', () => {
    expect(matchSilencers(state({ all: true, type: 'SILENCE' }), LISTEN)).toBe('silence');
    expect(matchSilencers(state({ all: true, type: 'DISABLE' }), RECEIVED)).toBe('disable');
  });
  it('a selector set matches when every selector it has matches (AND)', () => {
    const s = state({ type: 'SILENCE', silencers: [{ alarm: '*_received', hosts: 'web*' }] });
    expect(matchSilencers(s, RECEIVED)).toBe('silence');
    expect(matchSilencers(s, { ...RECEIVED, hostname: 'db1' })).toBe('none');
    expect(matchSilencers(s, LISTEN)).toBe('none');
  });
  it('any selector set may match (OR across sets)', () => {
    const s = state({ type: 'DISABLE', silencers: [{ alarm: 'nope' }, { context: 'ip.tcp_listen_issues' }] });
    expect(matchSilencers(s, LISTEN)).toBe('disable');
    expect(matchSilencers(s, RECEIVED)).toBe('none');
  });
  it('simple patterns: alternatives, negation first-match-wins, chart aliases', () => {
    const neg = state({ type: 'SILENCE', silencers: [{ alarm: '!*_received *tcp*' }] });
    expect(matchSilencers(neg, RECEIVED)).toBe('none');
    expect(matchSilencers(neg, { ...RECEIVED, name: '10s_ip_tcp_resets_sent' })).toBe('silence');
    const alias = state({ type: 'SILENCE', silencers: [{ chart: 'ipv4.*' }] });
    expect(matchSilencers(alias, RECEIVED)).toBe('silence');
    expect(matchSilencers(alias, LISTEN)).toBe('none');
  });
  it('type NONE: stored selectors do nothing', () => {
    expect(matchSilencers(state({ silencers: [{ alarm: '*' }] }), RECEIVED)).toBe('none');
  });
});

describe('parseCommand', () => {
  it('takes Netdata spellings in any case and spacing, refuses others', () => {
    expect(parseCommand('SILENCE ALL')).toBe('SILENCE ALL');
    expect(parseCommand(' disable   all ')).toBe('DISABLE ALL');
    expect(parseCommand('reset')).toBe('RESET');
    expect(parseCommand('SILENCEALL')).toBeUndefined();
    expect(parseCommand('mute')).toBeUndefined();
  });
});

describe('Silencers.command', () => {
  it('SILENCE ALL, DISABLE ALL, SILENCE/DISABLE with selectors, RESET: state after each', () => {
    const s = new Silencers();
    expect(s.command('SILENCE ALL', {}).changed).toBe(true);
    expect(s.state).toEqual({ all: true, type: 'SILENCE', silencers: [] });
    expect(s.match(LISTEN)).toBe('silence');
    s.command('DISABLE ALL', {});
    expect(s.state).toEqual({ all: true, type: 'DISABLE', silencers: [] });
    s.command('DISABLE', { alarm: '*_received' });
    expect(s.state).toEqual({ all: false, type: 'DISABLE', silencers: [{ alarm: '*_received' }] });
    expect(s.match(RECEIVED)).toBe('disable');
    expect(s.match(LISTEN)).toBe('none');
    // Each request with selectors adds one set; the type is global.
    s.command('SILENCE', { context: 'ip.tcp_listen_issues' });
    expect(s.state.silencers).toHaveLength(2);
    expect(s.match(RECEIVED)).toBe('silence');
    expect(s.match(LISTEN)).toBe('silence');
    const gen = s.generation;
    const r = s.command('RESET', {});
    expect(r.changed).toBe(true);
    expect(s.generation).toBe(gen + 1);
    expect(s.state).toEqual(emptyState());
    expect(s.match(RECEIVED)).toBe('none');
  });
  it('warns about requests that do nothing yet, and says when nothing changed', () => {
    const s = new Silencers();
    const noCmd = s.command(undefined, { alarm: 'x' });
    expect(noCmd.lines.join('\n')).toMatch(/WARNING: selectors are stored but do nothing/);
    s.command('RESET', {});
    const noSel = s.command('SILENCE', {});
    expect(noSel.lines.join('\n')).toMatch(
      /WARNING: SILENCE and DISABLE act only on alerts matching selectors/,
    );
    expect(s.command('SILENCE', {}).changed).toBe(false);
  });
});

describe('persistence (health.silencers.json)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rw-silencers-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('survives a restart of the state object: written atomically with mode 0600, read back the same', () => {
    const file = join(dir, SILENCERS_FILE);
    const log = memoryLogger();
    const first = Silencers.load(file, log);
    expect(first.state).toEqual(emptyState());
    first.command('SILENCE', { alarm: '*_received', hosts: 'web*' });
    first.command(undefined, { chart: 'ip.tcp_listen_issues' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // No temporary file is left next to it.
    expect(readdirSync(dir)).toEqual([SILENCERS_FILE]);
    // The file is the LIST shape.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      all: false,
      type: 'SILENCE',
      silencers: [{ alarm: '*_received', hosts: 'web*' }, { chart: 'ip.tcp_listen_issues' }],
    });
    const second = Silencers.load(file, log);
    expect(second.state).toEqual(first.state);
    expect(second.match(RECEIVED)).toBe('silence');
    expect(log.lines.join('\n')).toMatch(/alert silencers restored/);
    second.command('RESET', {});
    expect(Silencers.load(file).state).toEqual(emptyState());
  });

  it.each([
    ['not JSON', '{"all": tru', /E_SILENCERS_CORRUPT/, /position|Unexpected|JSON/],
    [
      'wrong type',
      '{"all": false, "type": "MUTE", "silencers": []}',
      /E_SILENCERS_CORRUPT/,
      /type.{0,3} is not/,
    ],
    [
      'unknown key',
      '{"all": false, "type": "SILENCE", "silencers": [{"families": "x"}]}',
      /E_SILENCERS_CORRUPT/,
      /silencers\[0\] has an unknown key .{0,3}families/,
    ],
    [
      'empty pattern',
      '{"all": false, "type": "SILENCE", "silencers": [{"alarm": " "}]}',
      /E_SILENCERS_CORRUPT/,
      /silencers\[0\]\.alarm/,
    ],
    ['an array', '[]', /E_SILENCERS_CORRUPT/, /top level/],
  ])(
    'a corrupt file (%s) is a warning with a stable code and no silencers, never a throw',
    (_n, text, code, why) => {
      const file = join(dir, SILENCERS_FILE);
      writeFileSync(file, text);
      const log = memoryLogger();
      const s = Silencers.load(file, log);
      expect(s.state).toEqual(emptyState());
      const warn = log.lines.find((l) => / warn /.test(l));
      expect(warn).toMatch(code);
      expect(warn).toMatch(why);
      // The bad file is left for the administrator until the next change replaces it.
      expect(readFileSync(file, 'utf8')).toBe(text);
      s.command('SILENCE ALL', {});
      expect(readSilencerFile(file).state).toEqual({ all: true, type: 'SILENCE', silencers: [] });
    },
  );

  it('an unreadable file (a folder in its place) is E_SILENCERS_READ; a missing one is silent', () => {
    const file = join(dir, SILENCERS_FILE);
    mkdirSync(file);
    expect(readSilencerFile(file).problem?.code).toBe('E_SILENCERS_READ');
    const missing = readSilencerFile(join(dir, 'nope.json'));
    expect(missing.problem).toBeUndefined();
    expect(missing.state).toEqual(emptyState());
  });

  it('a failed save keeps the change in memory and says it will not survive a restart', () => {
    const file = join(dir, 'no-such-folder', SILENCERS_FILE);
    const log = memoryLogger();
    const s = new Silencers({ file, logger: log });
    const r = s.command('DISABLE ALL', {});
    expect(r.changed).toBe(true);
    expect(s.match(RECEIVED)).toBe('disable');
    expect(r.lines.join('\n')).toMatch(/not saved.*E_SILENCERS_WRITE/);
    expect(log.lines.join('\n')).toMatch(/E_SILENCERS_WRITE/);
  });
});
