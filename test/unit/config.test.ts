import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNetnsSpec } from '../../src/collect/netns.js';
import { defaults, parseConfig, resolveSettings } from '../../src/internal/config.js';
import { RstwatchError } from '../../src/internal/errors.js';

describe('config file', () => {
  it('parses keys in any spelling, comments and lists', () => {
    const r = parseConfig('# c\n[agent]\n  Data Dir = /x\nflush-every = 5\nnetns = a b,c\n; other\n', 'f');
    expect(r.problems).toEqual([]);
    expect(r.values).toEqual({ dataDir: '/x', flushEvery: 5, netns: ['a', 'b', 'c'] });
  });

  it.each([
    ['[agent\n', 'E_CONFIG_SYNTAX', 1, 1],
    ['[agent]\nnonsense\n', 'E_CONFIG_SYNTAX', 2, 1],
    ['[agent]\ninterval = fast\n', 'E_CONFIG_VALUE', 2, 12],
    ['[agent]\ninterval = 0\n', 'E_CONFIG_VALUE', 2, 12],
    ['[agent]\ncolour = blue\n', 'E_CONFIG_KEY', 2, 1],
    ['interval = 1\n', 'E_CONFIG_SECTION', 1, 1],
    ['[health]\n', 'E_CONFIG_SECTION', 1, 1],
  ])('%j → %s at line %i column %i', (text, code, line, column) => {
    const r = parseConfig(text, 'rstwatch.conf');
    expect(r.problems[0]).toMatchObject({ code, line, column, file: 'rstwatch.conf' });
  });

  it('reports every problem, not just the first', () => {
    const r = parseConfig('[agent]\ninterval = x\nflush every = y\ncolour = 1\n', 'f');
    expect(r.problems.map((p) => p.line)).toEqual([2, 3, 4]);
  });
});

describe('precedence: flag > environment > file > default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-config-'));
  const file = join(dir, 'rstwatch.conf');
  writeFileSync(file, '[agent]\ninterval = 5\nflush every = 20\nhistory seconds = 7200\n');

  it('applies each layer in order', () => {
    const r = resolveSettings({
      configFile: file,
      env: { RSTWATCH_FLUSH_EVERY: '30', RSTWATCH_INTERVAL: '2' },
      flags: { interval: '3' },
    });
    expect(r.problems).toEqual([]);
    expect(r.source).toBe(file);
    expect(r.settings.interval).toBe(3); // flag
    expect(r.settings.flushEvery).toBe(30); // env over file
    expect(r.settings.historySeconds).toBe(7200); // file over default
    expect(r.settings.minuteHistoryDays).toBe(defaults({}).minuteHistoryDays); // default
  });

  it('an unreadable file is a problem, not a crash', () => {
    const r = resolveSettings({ configFile: join(dir, 'nope.conf'), env: {} });
    expect(r.problems[0]).toMatchObject({ code: 'E_CONFIG_UNREADABLE' });
  });

  it('bad environment values are problems naming the variable', () => {
    const r = resolveSettings({ env: { RSTWATCH_INTERVAL: 'often' } });
    expect(r.problems[0]!.message).toContain('RSTWATCH_INTERVAL');
  });
});

describe('--netns specs', () => {
  it.each([
    ['host', { kind: 'host', label: 'host' }],
    ['web', { kind: 'name', label: 'web', name: 'web' }],
    ['/run/netns/x', { kind: 'path', label: '/run/netns/x', path: '/run/netns/x' }],
    ['pid:42', { kind: 'pid', label: 'pid:42', pid: 42 }],
  ])('%s', (spec, expected) => {
    expect(parseNetnsSpec(spec)).toEqual(expected);
  });

  it.each(['pid:0', 'pid:x', '../etc', 'a/b', 'x'.repeat(65)])('rejects %s with E_NETNS_SPEC', (spec) => {
    expect(() => parseNetnsSpec(spec)).toThrowError(RstwatchError);
    try {
      parseNetnsSpec(spec);
    } catch (e) {
      expect((e as RstwatchError).code).toBe('E_NETNS_SPEC');
    }
  });
});
