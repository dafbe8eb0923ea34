/**
 * The sysctl writer under `--root DIR` (docs/security.md, "Sysctl files"): DIR is meant to be a system image,
 * so its symbolic links are resolved as that system would resolve them — inside DIR. A relative link that
 * climbs with `..` past DIR, or a directory link to an absolute path (`DIR/etc -> /etc`), used to make
 * `syncookies enable --persist --root DIR` write outside DIR (with the host's /etc as the worst case).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveUnderRoot } from '../../src/remedy/syncookies.js';
import { cli, FIXTURES } from '../helpers/paths.js';

const base = mkdtempSync(join(tmpdir(), 'rw-sec-root-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
let root: string;
let outside: string;
let proc: string;
beforeEach(() => {
  const t = join(base, String(++n));
  root = join(t, 'image');
  outside = join(t, 'host-etc');
  proc = join(t, 'proc');
  mkdirSync(outside, { recursive: true });
  mkdirSync(join(proc, 'sys', 'net', 'ipv4'), { recursive: true });
  writeFileSync(join(proc, 'sys', 'net', 'ipv4', 'tcp_syncookies'), '0\n');
  cpSync(join(FIXTURES, 'proc', 'busy-server', 't0', 'net'), join(proc, 'net'), { recursive: true });
  writeFileSync(join(outside, 'victim.conf'), 'victim = 1\n');
});

const enable = () =>
  cli(['syncookies', 'enable', '--persist', '--root', root, '--proc-root', proc, '--json']);

describe('--root DIR keeps every write inside DIR', () => {
  it('a relative link climbing past DIR is resolved inside DIR (chroot semantics)', () => {
    mkdirSync(join(root, 'etc', 'sysctl.d'), { recursive: true });
    const link = join(root, 'etc', 'sysctl.d', '90-rstwatch.conf');
    symlinkSync('../../../../../../../../host-etc/victim.conf', link);
    expect(resolveUnderRoot(root, link)).toBe(join(root, 'host-etc', 'victim.conf'));
    const r = enable();
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(outside, 'victim.conf'), 'utf8')).toBe('victim = 1\n');
    expect(readFileSync(join(root, 'host-etc', 'victim.conf'), 'utf8')).toMatch(
      /net\.ipv4\.tcp_syncookies = 1/,
    );
  });

  it('a directory link to an absolute path is followed inside DIR, not on the host', () => {
    mkdirSync(root, { recursive: true });
    symlinkSync(outside, join(root, 'etc')); // DIR/etc -> /…/host-etc, as an image's /etc -> /etc would
    const file = join(root, 'etc', 'sysctl.d', '90-rstwatch.conf');
    expect(resolveUnderRoot(root, file)).toBe(join(root, outside, 'sysctl.d', '90-rstwatch.conf'));
    const r = enable();
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(outside, 'victim.conf'), 'utf8')).toBe('victim = 1\n');
    expect(() => readFileSync(join(outside, 'sysctl.d', '90-rstwatch.conf'))).toThrow(/ENOENT/);
    expect(readFileSync(join(root, outside, 'sysctl.d', '90-rstwatch.conf'), 'utf8')).toMatch(
      /net\.ipv4\.tcp_syncookies = 1/,
    );
  });

  it('links that stay inside DIR work as before, and a loop is an error, not a hang', () => {
    mkdirSync(join(root, 'etc', 'sysctl.d'), { recursive: true });
    writeFileSync(join(root, 'etc', 'sysctl.conf'), '# image\n');
    symlinkSync('../sysctl.conf', join(root, 'etc', 'sysctl.d', '99-sysctl.conf'));
    expect(resolveUnderRoot(root, join(root, 'etc', 'sysctl.d', '99-sysctl.conf'))).toBe(
      join(root, 'etc', 'sysctl.conf'),
    );
    symlinkSync('/etc/sysctl.conf', join(root, 'abs-link'));
    expect(resolveUnderRoot(root, join(root, 'abs-link'))).toBe(join(root, 'etc', 'sysctl.conf'));
    symlinkSync('loop-b', join(root, 'loop-a'));
    symlinkSync('loop-a', join(root, 'loop-b'));
    expect(() => resolveUnderRoot(root, join(root, 'loop-a'))).toThrow(/too many levels of symbolic links/);
  });
});
