/**
 * loadHealth (src/health/load.ts): the shipped folder and the administrator's, combined the way Netdata
 * combines its stock and user health.d (recursive_config_double_dir_load): a user file replaces the stock
 * file with the same relative path, an empty one therefore disables it, other user files add to the stock
 * ones. A broken alert is reported with file:line:column and left out; the rest load.
 */

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHealth, SHIPPED_HEALTH_DIR } from '../../src/health/load.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A fresh folder with the given files (relative path → text); `null` makes a dangling link. */
function folder(files: Record<string, string | null>): string {
  const root = mkdtempSync(join(tmpdir(), 'rstwatch-health-load-'));
  roots.push(root);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    if (text === null) symlinkSync(join(root, 'no-such-target.conf'), path);
    else writeFileSync(path, text);
  }
  return root;
}

const names = (r: ReturnType<typeof loadHealth>) => r.alerts.map((a) => a.config.name);
const OWN = [
  'rstwatch_listen_queue_overflows',
  'rstwatch_challenge_ack_surge',
  'rstwatch_freebsd_ignored_resets',
  'rstwatch_syncookies_sent',
  'rstwatch_aborts_unread_data',
  'rstwatch_aborts_linger_or_late_data',
  'rstwatch_aborts_memory',
  'rstwatch_aborts_timeout',
];
const RESETS = [
  '1m_ipv4_tcp_resets_received',
  '10s_ipv4_tcp_resets_received',
  '1m_ipv4_tcp_resets_sent',
  '10s_ipv4_tcp_resets_sent',
];

const simple = (name: string) => `
 alarm: ${name}
    on: ip.tcphandshake
lookup: average -10s unaligned of AttemptFails
 every: 10s
  warn: $this > 5
`;

describe('loadHealth', () => {
  it('the shipped folder alone: both files, every alert, no problem', () => {
    const r = loadHealth({ user: folder({}) });
    expect(r.files).toEqual([
      join(SHIPPED_HEALTH_DIR, 'rstwatch_resets.conf'),
      join(SHIPPED_HEALTH_DIR, 'tcp_resets.conf'),
    ]);
    expect(names(r)).toEqual([...OWN, ...RESETS]);
    expect(r.problems).toEqual([]);
  });

  it('a user folder that does not exist is no user folder', () => {
    const r = loadHealth({ user: join(folder({}), 'absent') });
    expect(names(r)).toEqual([...OWN, ...RESETS]);
    expect(r.problems).toEqual([]);
  });

  it('a user file replaces the shipped file of the same name; other user files add to the shipped ones', () => {
    const user = folder({ 'tcp_resets.conf': simple('my_resets'), 'extra.conf': simple('my_extra') });
    const r = loadHealth({ user });
    // Files in name order within each folder, the user's replacing the shipped one in its place.
    expect(r.files).toEqual([
      join(SHIPPED_HEALTH_DIR, 'rstwatch_resets.conf'),
      join(user, 'tcp_resets.conf'),
      join(user, 'extra.conf'),
    ]);
    expect(names(r)).toEqual([...OWN, 'my_resets', 'my_extra']);
    expect(r.alerts.find((a) => a.config.name === 'my_resets')?.config.source).toEqual({
      file: join(user, 'tcp_resets.conf'),
      line: 2,
      column: 2,
    });
    expect(r.problems).toEqual([]);
  });

  it('an empty user file disables the shipped one', () => {
    const r = loadHealth({ user: folder({ 'rstwatch_resets.conf': '' }) });
    expect(names(r)).toEqual(RESETS);
    const r2 = loadHealth({ user: folder({ 'tcp_resets.conf': '# switched off\n' }) });
    expect(names(r2)).toEqual(OWN);
  });

  it('replacement goes by relative path: sub/x.conf does not replace x.conf', () => {
    const shipped = folder({ 'x.conf': simple('stock_x'), 'sub/y.conf': simple('stock_y') });
    const user = folder({ 'sub/x.conf': simple('user_sub_x'), 'sub/y.conf': simple('user_y') });
    const r = loadHealth({ shipped, user });
    expect(names(r)).toEqual(['user_y', 'stock_x', 'user_sub_x']);
  });

  it('a broken alert is left out and reported with file, line and column; the others in the file load', () => {
    const text = [
      'alarm: ok_one', // 1
      'on: ip.tcphandshake',
      'lookup: average -10s of AttemptFails',
      'every: 10s',
      'warn: $this > 5', // 5
      '',
      'alarm: broken_expression',
      'on: ip.tcphandshake',
      'lookup: average -10s of AttemptFails',
      '  warn: ($this > 5 AND', // 10: nothing after AND (column 23 = the end of the line)
      '',
      'alarm: ok_two',
      'on: ip.tcphandshake',
      'calc: $AttemptFails',
      'every: 10s', // 15
      'crit: $this > 1 +* 2', // 16: `*` (column 18) where an operand must be
      '',
      'alarm: broken_every',
      'on: ip.tcphandshake',
      'calc: $AttemptFails', // 20
      'every: 0',
      '',
      'alarm: ok_three',
      'on: ip.tcphandshake',
      'calc: $AttemptFails', // 25
      'every: 10s',
      'warn: $this > 1',
    ].join('\n');
    const user = folder({ 'mine.conf': text });
    const r = loadHealth({ user });
    expect(names(r)).toEqual([...OWN, ...RESETS, 'ok_one', 'ok_three']);
    const file = join(user, 'mine.conf');
    expect(r.problems.map((p) => [p.code, p.severity, p.file, p.line, p.column])).toEqual([
      ['E_HEALTH_EVERY', 'error', file, 21, 8],
      ['E_EXPR_MISSING_OPERAND', 'error', file, 10, 23],
      ['E_EXPR_MISSING_OPERAND', 'error', file, 16, 18],
    ]);
    expect(r.problems[1]?.message).toMatch(/after `AND`/);
  });

  it('a dangling .conf link is reported (E_HEALTH_UNREADABLE) and the readable files still load', () => {
    const user = folder({ 'gone.conf': null, 'extra.conf': simple('my_extra') });
    const r = loadHealth({ user });
    expect(names(r)).toEqual([...OWN, ...RESETS, 'my_extra']);
    expect(r.problems.map((p) => [p.code, p.file])).toEqual([
      ['E_HEALTH_UNREADABLE', join(user, 'gone.conf')],
    ]);
  });
});
