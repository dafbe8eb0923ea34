/**
 * External programs found on PATH when rstwatch runs privileged (docs/security.md, "Programs rstwatch runs"):
 * never from a relative PATH entry (execvp reads `.` and empty entries from the current directory), and as root
 * never from a directory or a file another user could have written. And the capability mask that replaces
 * "uid is 0" in the checks before setns and mount.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../src/capture/system.js';
import { CAP, effectiveCaps, hasCapability } from '../../src/internal/caps.js';
import { runCommand } from '../../src/internal/run.js';
import { findProgram, untrustedDir } from '../../src/internal/which.js';
import { requireCapability } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
requireCapability(isRoot, 'root (the PATH checks apply to privileged processes)');
if (!isRoot) console.warn('SKIPPED: security-path tests need root');

let base: string;
let good: string;
let worldWritable: string;
let evilCwd: string;
let marker: string;

/** A program that leaves a marker when run (so "was it run?" is a file, not a guess). */
function evil(dir: string, name: string): string {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\necho ran >> ${marker}\necho EVIL\n`, { mode: 0o755 });
  chmodSync(f, 0o755);
  return f;
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'rw-sec-path-'));
  chmodSync(base, 0o755);
  marker = join(base, 'marker');
  good = join(base, 'good');
  mkdirSync(good, { mode: 0o755 });
  chmodSync(good, 0o755);
  writeFileSync(join(good, 'probe'), '#!/bin/sh\necho GOOD\n', { mode: 0o755 });
  chmodSync(join(good, 'probe'), 0o755);
  worldWritable = join(base, 'ww');
  mkdirSync(worldWritable);
  chmodSync(worldWritable, 0o1777); // like /tmp: sticky, still anybody can create a file here
  evil(worldWritable, 'probe');
  evilCwd = join(base, 'cwd');
  mkdirSync(evilCwd, { mode: 0o755 });
  evil(evilCwd, 'probe');
  evil(evilCwd, 'ss');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe.skipIf(!isRoot)('PATH lookups when privileged', () => {
  it('relative and empty entries are never searched', () => {
    expect(untrustedDir('.', false)).toMatch(/relative/);
    expect(untrustedDir('', true)).toMatch(/relative/);
    expect(untrustedDir('bin', true)).toMatch(/relative/);
    const cwd = process.cwd();
    process.chdir(evilCwd);
    try {
      expect(findProgram('probe', { pathEnv: `.:${good}` })).toBe(join(good, 'probe'));
      expect(findProgram('probe', { pathEnv: `:${good}` })).toBe(join(good, 'probe'));
      expect(findProgram('probe', { pathEnv: '.' })).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
  });

  it('a directory others can write (even sticky, like /tmp) is skipped as root, not for an ordinary user', () => {
    expect(untrustedDir(worldWritable, true)).toMatch(/writable by other users/);
    expect(findProgram('probe', { pathEnv: `${worldWritable}:${good}`, privileged: true })).toBe(
      join(good, 'probe'),
    );
    expect(findProgram('probe', { pathEnv: `${worldWritable}:${good}`, privileged: false })).toBe(
      join(worldWritable, 'probe'),
    );
  });

  it('a program owned by another user, or writable by others, is skipped as root', () => {
    const dir = join(base, 'owned');
    mkdirSync(dir, { mode: 0o755 });
    const f = evil(dir, 'probe');
    chownSync(f, 65534, 65534);
    expect(findProgram('probe', { pathEnv: `${dir}:${good}`, privileged: true })).toBe(join(good, 'probe'));
    chownSync(f, 0, 0);
    chmodSync(f, 0o777);
    expect(findProgram('probe', { pathEnv: `${dir}:${good}`, privileged: true })).toBe(join(good, 'probe'));
    chmodSync(f, 0o755);
    expect(findProgram('probe', { pathEnv: `${dir}:${good}`, privileged: true })).toBe(f);
  });

  it('a path with a slash is the administrator’s explicit choice (--tcpdump PATH) and is used as given', () => {
    expect(findProgram(join(worldWritable, 'probe'), { privileged: true })).toBe(
      join(worldWritable, 'probe'),
    );
    expect(findExecutable(join(good, 'probe'), '')).toBe(join(good, 'probe'));
    expect(findExecutable('probe', `.:${good}`)).toBe(join(good, 'probe'));
  });

  it('runCommand as root with PATH=.:… in a folder holding a fake ss runs the real one', async () => {
    rmSync(marker, { force: true });
    const cwd = process.cwd();
    const path = process.env.PATH;
    process.chdir(evilCwd);
    process.env.PATH = `.:${path ?? '/usr/bin:/bin'}`;
    try {
      const r = await runCommand('ss', ['-ltn']);
      expect(r.stdout).not.toContain('EVIL');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/State|Recv-Q/);
    } finally {
      process.chdir(cwd);
      process.env.PATH = path;
    }
    expect(existsSync(marker)).toBe(false); // the fake was never run
  });

  it('a program found nowhere safe fails like a missing one (ENOENT), without searching further', async () => {
    const r = await runCommand('probe', [], { timeoutMs: 5000 });
    expect(r.code).toBeNull();
    expect(r.error).toBe('spawn probe ENOENT');
  });
});

describe('capabilities instead of uid 0', () => {
  const status = (eff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${eff}\n`;
  it('reads CapEff and tests single capabilities', () => {
    expect(effectiveCaps(status('0000000000202002'))).toBe(0x202002n);
    expect(hasCapability(CAP.SYS_ADMIN, status('0000000000202002'))).toBe(true);
    expect(hasCapability(CAP.NET_RAW, status('0000000000202002'))).toBe(true);
    expect(hasCapability(CAP.DAC_OVERRIDE, status('0000000000202002'))).toBe(true);
    expect(hasCapability(CAP.NET_ADMIN, status('0000000000202002'))).toBe(false);
    // uid 0 without capabilities (systemd SecureBits=noroot, an empty bounding set) holds none.
    expect(hasCapability(CAP.SYS_ADMIN, status('0000000000000000'))).toBe(false);
  });
  it.skipIf(!isRoot)('this root test process has them all', () => {
    expect(hasCapability(CAP.SYS_ADMIN)).toBe(true);
    expect(hasCapability(CAP.NET_RAW)).toBe(true);
  });
});
