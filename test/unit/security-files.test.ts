/**
 * Files rstwatch writes in folders others may share (docs/security.md, "Files"): the HTML report of
 * `rstwatch analyze --html OUT` goes through a temporary file next to OUT — in /tmp that used to be the
 * predictable `.OUT.<pid>.tmp`, opened through any symbolic link found there, so a local user could make a
 * root `analyze` truncate a file of their choice. It is now a random name opened with O_EXCL.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURES } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'rw-sec-files-'));
chmodSync(tmp, 0o1777); // a shared folder, like /tmp
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CAPTURE = join(FIXTURES, 'pcap', 'scenarios', '01-refused-v4.pcap');

describe('analyze --html OUT in a shared folder', () => {
  it('a symbolic link at the old temporary name (.OUT.<pid>.tmp) is not written through', () => {
    const victim = join(tmp, 'victim');
    writeFileSync(victim, 'precious\n');
    const out = join(tmp, 'report.html');
    // The shell plants the link for its own pid, then execs node with the same pid: the attacker's best guess.
    const r = spawnSync(
      '/bin/sh',
      [
        '-c',
        `ln -s "$1" "$2/.report.html.$$.tmp" && exec "$3" "$4" analyze "$5" --html "$6"`,
        'sh',
        victim,
        tmp,
        process.execPath,
        BIN,
        CAPTURE,
        out,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(out, 'utf8')).toMatch(/<html/i);
    // Nothing left behind but the planted link itself.
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp') && !f.startsWith('.report.html.'))).toEqual([]);
  });

  it('OUT itself a symbolic link: replaced by the report (rename), the file it pointed to is untouched', () => {
    const victim = join(tmp, 'victim2');
    writeFileSync(victim, 'precious\n');
    const out = join(tmp, 'linked.html');
    symlinkSync(victim, out);
    const r = spawnSync(process.execPath, [BIN, 'analyze', CAPTURE, '--html', out], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(readFileSync(out, 'utf8')).toMatch(/<html/i);
  });
});
