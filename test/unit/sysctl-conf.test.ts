/**
 * Pure editing of sysctl configuration text: one line changed or added, everything else byte-identical.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dominantEol,
  effectiveSysctl,
  findSysctl,
  normalizeSysctlName,
  parseConfLine,
  setSysctl,
  splitLines,
  unifiedDiff,
} from '../../src/remedy/sysctl-conf.js';
import { requireCapability } from '../helpers/paths.js';

const NAME = 'net.ipv4.tcp_syncookies';

describe('parseConfLine', () => {
  it('reads assignments with any spacing, the "-" prefix, and skips comments and junk', () => {
    expect(parseConfLine('net.ipv4.tcp_syncookies=1')).toEqual({
      key: NAME,
      value: '1',
      ignoreFailure: false,
    });
    expect(parseConfLine('  net.ipv4.tcp_syncookies \t=\t 2  ')).toEqual({
      key: NAME,
      value: '2',
      ignoreFailure: false,
    });
    expect(parseConfLine('-net.ipv4.tcp_syncookies = 0')).toEqual({
      key: NAME,
      value: '0',
      ignoreFailure: true,
    });
    expect(parseConfLine('- net.ipv4.tcp_syncookies = 0')?.ignoreFailure).toBe(true);
    expect(parseConfLine('net.ipv4.tcp_syncookies = 1\r')?.value).toBe('1');
    expect(parseConfLine('# net.ipv4.tcp_syncookies = 1')).toBeUndefined();
    expect(parseConfLine('  ; net.ipv4.tcp_syncookies = 1')).toBeUndefined();
    expect(parseConfLine('net.ipv4.tcp_syncookies')).toBeUndefined();
    expect(parseConfLine('= 1')).toBeUndefined();
    expect(parseConfLine('')).toBeUndefined();
  });

  it('normalises slash-separated names as sysctl.d(5) says', () => {
    expect(normalizeSysctlName('net/ipv4/tcp_syncookies')).toBe(NAME);
    expect(normalizeSysctlName(NAME)).toBe(NAME);
    expect(normalizeSysctlName('net/ipv4/conf/eth0.100/rp_filter')).toBe('net.ipv4.conf.eth0/100.rp_filter');
    expect(normalizeSysctlName('net.ipv4.conf.eth0/100.rp_filter')).toBe('net.ipv4.conf.eth0/100.rp_filter');
  });
});

describe('findSysctl / effectiveSysctl', () => {
  const text = [
    '# net.ipv4.tcp_syncookies = 2',
    'net.ipv4.tcp_syncookies = 0',
    'net.ipv4.tcp_syncookies_extra = 5',
    'net/ipv4/tcp_syncookies=1',
    'net.ipv4.tcp_rfc1337 = 1',
    '',
  ].join('\n');
  it('finds every live assignment, in order, in both spellings; the last one is effective', () => {
    expect(findSysctl(text, NAME).map((e) => [e.line, e.value])).toEqual([
      [2, '0'],
      [4, '1'],
    ]);
    expect(effectiveSysctl(text, NAME)?.line).toBe(4);
    expect(effectiveSysctl('', NAME)).toBeUndefined();
  });
});

describe('setSysctl', () => {
  it('adds to an empty text (a file that does not exist yet), with a comment', () => {
    const r = setSysctl('', NAME, '1', { comment: ['Written by rstwatch.'] });
    expect(r.text).toBe('# Written by rstwatch.\nnet.ipv4.tcp_syncookies = 1\n');
    expect(r).toMatchObject({ changed: true, action: 'added', line: 2, shadowed: [] });
    expect(r.previous).toBeUndefined();
  });

  it('FreeBSD style writes name=value without blanks', () => {
    expect(setSysctl('', 'net.inet.tcp.syncookies', '1', { style: 'compact' }).text).toBe(
      'net.inet.tcp.syncookies=1\n',
    );
  });

  it('replaces the value in place, keeping odd spacing, the "-" prefix and trailing blanks', () => {
    const before = 'kernel.x = 1\n   -net.ipv4.tcp_syncookies\t=   0   \nvm.y = 2\n';
    const r = setSysctl(before, NAME, '1');
    expect(r.text).toBe('kernel.x = 1\n   -net.ipv4.tcp_syncookies\t=   1   \nvm.y = 2\n');
    expect(r).toMatchObject({ changed: true, action: 'replaced', line: 2, previous: '0' });
  });

  it('replaces a slash-spelled assignment and keeps its spelling', () => {
    expect(setSysctl('net/ipv4/tcp_syncookies=2\n', NAME, '1').text).toBe('net/ipv4/tcp_syncookies=1\n');
  });

  it('fills an empty value', () => {
    expect(setSysctl('net.ipv4.tcp_syncookies =\n', NAME, '1').text).toBe('net.ipv4.tcp_syncookies = 1\n');
    expect(setSysctl('net.ipv4.tcp_syncookies=\n', NAME, '1').text).toBe('net.ipv4.tcp_syncookies=1\n');
  });

  it('leaves a commented-out line alone and adds a live one at the end', () => {
    const before = '# net.ipv4.tcp_syncookies = 1\n; net.ipv4.tcp_syncookies = 2\nvm.y = 2\n';
    const r = setSysctl(before, NAME, '1');
    expect(r.text).toBe(`${before}net.ipv4.tcp_syncookies = 1\n`);
    expect(r).toMatchObject({ action: 'added', line: 4 });
  });

  it('with duplicates, changes the last one (the one sysctl applies) and reports the others', () => {
    const before = 'net.ipv4.tcp_syncookies = 0\nx = 1\nnet.ipv4.tcp_syncookies = 0\n';
    const r = setSysctl(before, NAME, '1');
    expect(r.text).toBe('net.ipv4.tcp_syncookies = 0\nx = 1\nnet.ipv4.tcp_syncookies = 1\n');
    expect(r).toMatchObject({ action: 'replaced', line: 3, shadowed: [1] });
  });

  it('duplicates whose last one already has the value: nothing to change', () => {
    const before = 'net.ipv4.tcp_syncookies = 0\nnet.ipv4.tcp_syncookies = 1\n';
    const r = setSysctl(before, NAME, '1');
    expect(r.text).toBe(before);
    expect(r).toMatchObject({ changed: false, action: 'unchanged', line: 2, shadowed: [1] });
  });

  it('keeps a missing final newline when replacing; gives the old last line one when appending', () => {
    expect(setSysctl('a = 1\nnet.ipv4.tcp_syncookies = 0', NAME, '1').text).toBe(
      'a = 1\nnet.ipv4.tcp_syncookies = 1',
    );
    const r = setSysctl('a = 1', NAME, '1');
    expect(r.text).toBe('a = 1\nnet.ipv4.tcp_syncookies = 1\n');
    expect(r.line).toBe(2);
  });

  it('CRLF files stay CRLF: the replaced line keeps its ending, an added line uses CRLF', () => {
    const before = 'a = 1\r\nnet.ipv4.tcp_syncookies = 0\r\nb = 2\r\n';
    expect(setSysctl(before, NAME, '1').text).toBe('a = 1\r\nnet.ipv4.tcp_syncookies = 1\r\nb = 2\r\n');
    expect(setSysctl('a = 1\r\nb = 2\r\n', NAME, '1').text).toBe(
      'a = 1\r\nb = 2\r\nnet.ipv4.tcp_syncookies = 1\r\n',
    );
    expect(dominantEol('a\r\nb\r\nc\n')).toBe('\r\n');
    expect(dominantEol('a\nb\n')).toBe('\n');
  });

  it('is idempotent: applying the result again returns the very same text, unchanged', () => {
    const samples = ['', 'x = 1', '# net.ipv4.tcp_syncookies = 1\n', ' -net/ipv4/tcp_syncookies =0 \r\n'];
    for (const s of samples) {
      const once = setSysctl(s, NAME, '2');
      const twice = setSysctl(once.text, NAME, '2');
      expect(twice.text).toBe(once.text);
      expect(twice.changed).toBe(false);
    }
  });

  it('property: only one line changes or one is appended; every other line is kept byte for byte', () => {
    const line = fc.oneof(
      fc.constantFrom(
        'net.ipv4.tcp_syncookies = 0',
        '-net.ipv4.tcp_syncookies=2',
        '# net.ipv4.tcp_syncookies = 1',
        'net/ipv4/tcp_syncookies =1',
        '',
        '   ',
        'kernel.x = 3',
      ),
      fc.string({ maxLength: 30 }).filter((s) => !s.includes('\n') && !s.includes('\r')),
    );
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 12 }),
        fc.boolean(),
        fc.constantFrom('0', '1', '2'),
        (ls, nl, v) => {
          const text = ls.join('\n') + (nl && ls.length > 0 ? '\n' : '');
          const r = setSysctl(text, NAME, v);
          expect(effectiveSysctl(r.text, NAME)?.value).toBe(v);
          const a = splitLines(text);
          const b = splitLines(r.text);
          if (r.action === 'replaced') {
            expect(b.length).toBe(a.length);
            const diff = a
              .map((l, i) => (l.text === b[i]!.text && l.eol === b[i]!.eol ? -1 : i))
              .filter((i) => i >= 0);
            expect(diff).toEqual([r.line - 1]);
          } else if (r.action === 'added') {
            expect(r.text.startsWith(text)).toBe(true);
          } else expect(r.text).toBe(text);
        },
      ),
    );
  });
});

describe('unifiedDiff', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-diff-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('equal texts give no diff', () => {
    expect(unifiedDiff('a\n', 'a\n', { before: 'x', after: 'x' })).toBe('');
  });

  it('a new file is a diff from /dev/null', () => {
    expect(unifiedDiff(undefined, 'a\nb\n', { before: 'f', after: 'f' })).toBe(
      '--- /dev/null\n+++ f\n@@ -0,0 +1,2 @@\n+a\n+b\n',
    );
  });

  it('a one-line change with context, removals before additions', () => {
    const before = ['1', '2', '3', '4', 'net.ipv4.tcp_syncookies = 0', '6', '7', '8', '9', ''].join('\n');
    const after = before.replace('= 0', '= 1');
    expect(unifiedDiff(before, after, { before: 'a/f', after: 'b/f' })).toBe(
      '--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-net.ipv4.tcp_syncookies = 0\n+net.ipv4.tcp_syncookies = 1\n 6\n 7\n 8\n',
    );
  });

  it('marks a last line without newline', () => {
    expect(unifiedDiff('a\nb', 'a\nb\nc\n', { before: 'f', after: 'f' })).toBe(
      '--- f\n+++ f\n@@ -1,2 +1,3 @@\n a\n-b\n\\ No newline at end of file\n+b\n+c\n',
    );
  });

  it('property: patch(1) turns the old text into the new one with our diff', () => {
    const hasPatch = spawnSync('patch', ['--version']).status === 0;
    requireCapability(hasPatch, 'patch(1) (Debian package patch)');
    if (!hasPatch) {
      console.warn('sysctl-conf.test: patch(1) is not installed: the patch property was not checked');
      return;
    }
    const line = fc.constantFrom('a', 'b', 'c', 'net.ipv4.tcp_syncookies = 1', '# x', '');
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 15 }),
        fc.array(line, { maxLength: 15 }),
        fc.boolean(),
        fc.boolean(),
        (a, b, na, nb) => {
          const before = a.join('\n') + (na && a.length > 0 ? '\n' : '');
          const after = b.join('\n') + (nb && b.length > 0 ? '\n' : '');
          const d = unifiedDiff(before, after, { before: 'f', after: 'f' });
          if (before === after) {
            expect(d).toBe('');
            return;
          }
          const f = join(dir, `f${n++}`);
          writeFileSync(f, before);
          writeFileSync(`${f}.diff`, d);
          const r = spawnSync('patch', ['-s', '-f', f, `${f}.diff`], { encoding: 'utf8' });
          expect(r.status, `${r.stdout}${r.stderr}\n${d}`).toBe(0);
          expect(readFileSync(f, 'utf8')).toBe(after);
        },
      ),
      { numRuns: 150 },
    );
  });
});
