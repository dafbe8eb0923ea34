/**
 * rstwatch syncookies: Linux against a fake proc root and a --root temp dir, FreeBSD with a fake sysctl
 * runner. The real kernel is never touched here (test/e2e/syncookies.test.ts does that, in a namespace).
 */
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/syncookies.js';
import type { CommandResult, CommandRunner } from '../../src/collect/types.js';
import { RstwatchError } from '../../src/internal/errors.js';
import {
  type ApplyReport,
  type Backend,
  bootConfigFiles,
  linuxVerdict,
  type StatusReport,
  scanBootConfig,
} from '../../src/remedy/syncookies.js';
import { readFreeBsdSysctls, readLinuxSysctl } from '../../src/remedy/sysctl.js';
import { findSysctl } from '../../src/remedy/sysctl-conf.js';

const FIX = fileURLToPath(new URL('../fixtures/', import.meta.url));
const NAME = 'net.ipv4.tcp_syncookies';

let tmp = '';
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rw-syncookies-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

/** A fake proc root: the sysctl file (unless value is undefined) and the counters of a 6.18 kernel. */
function makeProc(value: string | undefined): string {
  const proc = join(tmp, 'proc');
  mkdirSync(join(proc, 'sys/net/ipv4'), { recursive: true });
  cpSync(join(FIX, 'proc/linux-6.18/net'), join(proc, 'net'), { recursive: true });
  if (value !== undefined) writeFileSync(join(proc, 'sys/net/ipv4/tcp_syncookies'), `${value}\n`);
  return proc;
}

function makeRoot(files: Record<string, string> = {}): string {
  const root = join(tmp, 'root');
  mkdirSync(root, { recursive: true });
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const kernel = (proc: string): string => readFileSync(join(proc, 'sys/net/ipv4/tcp_syncookies'), 'utf8');

/** Every file and directory under dir: type, mode, mtime and contents. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = statSync(p);
      if (e.isDirectory()) {
        out[p] = `dir ${st.mode} ${st.mtimeMs}`;
        walk(p);
      } else out[p] = `file ${st.mode} ${st.mtimeMs} ${readFileSync(p, 'latin1')}`;
    }
  };
  walk(dir);
  return out;
}

interface Ran {
  code: number;
  out: string;
  err: string;
  error?: RstwatchError;
}

async function cli(args: string[], deps: Parameters<typeof run>[2] = {}): Promise<Ran> {
  let out = '';
  let err = '';
  const io = {
    out: (s: string) => {
      out += s;
    },
    err: (s: string) => {
      err += s;
    },
    isTty: false,
  };
  try {
    const code = await run(args, io, { now: () => 1_700_000_000_000, ...deps });
    return { code, out, err };
  } catch (e) {
    if (!(e instanceof RstwatchError)) throw e;
    return { code: e.code.startsWith('E_USAGE') ? 2 : 3, out, err, error: e };
  }
}

const json = <T>(r: Ran): T => JSON.parse(r.out) as T;

describe('readLinuxSysctl', () => {
  it('reads the value and its integer; a missing file is E_SYSCTL_MISSING', () => {
    const proc = makeProc('2');
    expect(readLinuxSysctl(NAME, { procRoot: proc })).toEqual({
      name: NAME,
      source: join(proc, 'sys/net/ipv4/tcp_syncookies'),
      raw: '2',
      value: 2,
    });
    expect(readLinuxSysctl('net/ipv4/tcp_syncookies', { procRoot: proc }).value).toBe(2);
    expect(() => readLinuxSysctl('net.ipv4.tcp_nothing', { procRoot: proc })).toThrow(
      expect.objectContaining({ code: 'E_SYSCTL_MISSING' }),
    );
    writeFileSync(join(proc, 'sys/net/ipv4/tcp_rmem'), '4096\t131072\t6291456\n');
    expect(readLinuxSysctl('net.ipv4.tcp_rmem', { procRoot: proc })).toMatchObject({
      raw: '4096\t131072\t6291456',
      value: undefined,
    });
  });
});

describe('Linux: status', () => {
  it('shows the value with its meaning, the counters and a verdict; JSON has the same', async () => {
    const proc = makeProc('1');
    const root = makeRoot();
    const text = await cli(['status', '--os', 'linux', '--proc-root', proc, '--root', root]);
    expect(text.code).toBe(0);
    expect(text.out).toContain('net.ipv4.tcp_syncookies = 1');
    expect(text.out).toContain("SYN cookies when a listener's SYN queue overflows");
    expect(text.out).toContain('no sysctl file sets it: the kernel default (1) applies');
    expect(text.out).toMatch(/Verdict: /);
    const r = await cli(['status', '--json', '--os', 'linux', '--proc-root', proc, '--root', root]);
    const s = json<StatusReport>(r);
    expect(s.settings[0]).toMatchObject({ name: NAME, value: 1, known: true, boot: null });
    // The fixture's TcpExt values, read through the real collector.
    const netstat = readFileSync(join(proc, 'net/netstat'), 'utf8').split('\n');
    const names = netstat[0]!.split(' ');
    const vals = netstat[1]!.split(' ');
    const want = Number(vals[names.indexOf('SyncookiesSent')]);
    expect(s.counters.SyncookiesSent).toBe(want);
    expect(Object.keys(s.counters).sort()).toEqual(
      [
        'SyncookiesFailed',
        'SyncookiesRecv',
        'SyncookiesSent',
        'TCPReqQFullDoCookies',
        'TCPReqQFullDrop',
      ].sort(),
    );
    expect(s.verdict).toBe(linuxVerdict(1, s.counters));
  });

  it('explains 0 and 2', async () => {
    const proc = makeProc('0');
    const root = makeRoot();
    const off = json<StatusReport>(await cli(['status', '--json', '--proc-root', proc, '--root', root]));
    expect(off.settings[0]!.meaning).toMatch(/^off/);
    writeFileSync(join(proc, 'sys/net/ipv4/tcp_syncookies'), '2\n');
    const always = json<StatusReport>(await cli(['status', '--json', '--proc-root', proc, '--root', root]));
    expect(always.settings[0]!.meaning).toMatch(/^always/);
    expect(always.settings[0]!.meaning).toMatch(/window scaling, SACK/);
  });

  it('finds the boot value in systemd-sysctl order: later files win, /etc hides /usr/lib of the same name', async () => {
    const root = makeRoot({
      'usr/lib/sysctl.d/50-default.conf': 'net.ipv4.tcp_syncookies = 0\n',
      'etc/sysctl.d/50-default.conf': '# masks the /usr/lib one\n',
      'usr/lib/sysctl.d/60-vendor.conf': 'net.ipv4.tcp_syncookies = 2\n',
      'run/sysctl.d/70-run.conf': 'net.ipv4.tcp_syncookies=0\n',
      'etc/sysctl.d/80-admin.conf': '-net.ipv4.tcp_syncookies = 1\n',
      'usr/lib/sysctl.d/80-admin.conf': 'net.ipv4.tcp_syncookies = 0\n',
      'etc/sysctl.d/README': 'net.ipv4.tcp_syncookies = 0\n',
    });
    const boot = scanBootConfig('linux', NAME, root);
    expect(boot.settings.map((s) => [s.file.slice(root.length), s.value])).toEqual([
      ['/usr/lib/sysctl.d/60-vendor.conf', '2'],
      ['/run/sysctl.d/70-run.conf', '0'],
      ['/etc/sysctl.d/80-admin.conf', '1'],
    ]);
    expect(boot.effective).toMatchObject({
      file: join(root, 'etc/sysctl.d/80-admin.conf'),
      value: '1',
      ignoreFailure: true,
    });
    // /etc/sysctl.conf comes last (procps), unless it is linked in as 99-sysctl.conf (Debian): then once, there.
    writeFileSync(join(root, 'etc/sysctl.conf'), 'net.ipv4.tcp_syncookies = 0\n');
    writeFileSync(join(root, 'etc/sysctl.d/99-zz-late.conf'), 'net.ipv4.tcp_syncookies = 2\n');
    expect(scanBootConfig('linux', NAME, root).effective?.file).toBe(join(root, 'etc/sysctl.conf'));
    symlinkSync('../sysctl.conf', join(root, 'etc/sysctl.d/99-sysctl.conf'));
    const files = bootConfigFiles('linux', root).map((f) => f.slice(root.length));
    expect(files.at(-2)).toBe('/etc/sysctl.d/99-sysctl.conf');
    expect(files.at(-1)).toBe('/etc/sysctl.d/99-zz-late.conf');
    expect(files).not.toContain('/etc/sysctl.conf');
    expect(scanBootConfig('linux', NAME, root).effective?.value).toBe('2');

    const r = json<StatusReport>(
      await cli(['status', '--json', '--proc-root', makeProc('1'), '--root', root]),
    );
    expect(r.settings[0]!.boot).toMatchObject({ value: '2', numeric: 2, line: 1 });
    expect(r.settings[0]!.bootSources.length).toBe(5);
  });

  it('an unknown value in the kernel or at boot is E_SYSCTL_VALUE, exit 3, still shown', async () => {
    const proc = makeProc('7');
    const root = makeRoot({ 'etc/sysctl.conf': 'net.ipv4.tcp_syncookies = on\n' });
    const r = await cli(['status', '--json', '--proc-root', proc, '--root', root]);
    expect(r.code).toBe(3);
    const s = json<StatusReport>(r);
    expect(s.settings[0]).toMatchObject({ raw: '7', value: 7, known: false });
    expect(s.settings[0]!.meaning).toMatch(/unknown value "7"/);
    expect(s.problems.filter((p) => p.code === 'E_SYSCTL_VALUE').map((p) => p.file)).toEqual([
      join(proc, 'sys/net/ipv4/tcp_syncookies'),
      join(root, 'etc/sysctl.conf'),
    ]);
  });

  it('a missing /proc/sys file is E_SYSCTL_MISSING', async () => {
    const r = await cli(['status', '--proc-root', makeProc(undefined), '--root', makeRoot()]);
    expect(r.error?.code).toBe('E_SYSCTL_MISSING');
    expect(r.error?.message).toMatch(/CONFIG_SYN_COOKIES|IPv4/);
  });
});

describe('Linux: enable / disable', () => {
  it('enable sets 1, --always 2, disable 0; only the proc file changes without --persist', async () => {
    const proc = makeProc('0');
    const root = makeRoot({ 'etc/sysctl.conf': '# nothing\n' });
    const before = snapshot(root);
    const e = await cli(['enable', '--proc-root', proc, '--root', root]);
    expect(e.code).toBe(0);
    expect(kernel(proc)).toBe('1\n');
    expect(e.out).toMatch(/SYN cookies enabled \(net\.ipv4\.tcp_syncookies 0 → 1\)/);
    const a = json<ApplyReport>(
      await cli(['enable', '--always', '--json', '--proc-root', proc, '--root', root]),
    );
    expect(a.settings[0]).toMatchObject({ before: 1, target: 2, after: 2, changed: true });
    expect(kernel(proc)).toBe('2\n');
    await cli(['disable', '--proc-root', proc, '--root', root]);
    expect(kernel(proc)).toBe('0\n');
    expect(snapshot(root)).toEqual(before);
  });

  it('enabling twice: the second run says "already enabled" and writes nothing at all', async () => {
    const proc = makeProc('0');
    const root = makeRoot();
    const first = json<ApplyReport>(
      await cli(['enable', '--persist', '--json', '--proc-root', proc, '--root', root]),
    );
    expect(first.changed).toBe(true);
    expect(first.persist).toMatchObject({
      action: 'created',
      backup: null,
      file: join(root, 'etc/sysctl.d/90-rstwatch.conf'),
    });
    const dropin = readFileSync(join(root, 'etc/sysctl.d/90-rstwatch.conf'), 'utf8');
    expect(findSysctl(dropin, NAME).map((e) => e.value)).toEqual(['1']);
    expect(statSync(join(root, 'etc/sysctl.d/90-rstwatch.conf')).mode & 0o777).toBe(0o644);
    const snapRoot = snapshot(root);
    const snapProc = snapshot(proc);
    await new Promise((r) => setTimeout(r, 20)); // an mtime that changed would differ
    const second = await cli(['enable', '--persist', '--proc-root', proc, '--root', root]);
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/already enabled/);
    expect(snapshot(root)).toEqual(snapRoot);
    expect(snapshot(proc)).toEqual(snapProc);
    const j = json<ApplyReport>(
      await cli(['enable', '--persist', '--json', '--proc-root', proc, '--root', root]),
    );
    expect(j).toMatchObject({ changed: false, diff: '' });
  });

  it('--file edits the line in place, keeps comments, mode and owner, and backs the old file up', async () => {
    const proc = makeProc('0');
    const old =
      '# /etc/sysctl.conf - Configuration file for setting system variables\n' +
      '#net.ipv4.tcp_syncookies=1\n' +
      'kernel.printk = 3 4 1 3\n' +
      '  net.ipv4.tcp_syncookies   =   0   # trailing blanks stay\n'.replace('# trailing blanks stay', '') +
      'vm.swappiness=10\n';
    const root = makeRoot({ 'etc/sysctl.conf': old });
    const conf = join(root, 'etc/sysctl.conf');
    chmodSync(conf, 0o640);
    chownSync(conf, 0, 4);
    const r = json<ApplyReport>(
      await cli([
        'enable',
        '--persist',
        '--file',
        '/etc/sysctl.conf',
        '--json',
        '--proc-root',
        proc,
        '--root',
        root,
      ]),
    );
    expect(readFileSync(conf, 'utf8')).toBe(old.replace('=   0   ', '=   1   '));
    expect(r.persist).toMatchObject({ action: 'replaced', lines: { [NAME]: 4 } });
    expect(r.persist!.backup).toBe(`${conf}.rstwatch-bak-1700000000`);
    expect(readFileSync(r.persist!.backup!, 'utf8')).toBe(old);
    for (const f of [conf, r.persist!.backup!]) {
      expect(statSync(f).mode & 0o777).toBe(0o640);
      expect(statSync(f).gid).toBe(4);
    }
    expect(kernel(proc)).toBe('1\n');
    // Nothing else was left next to it (no temp file).
    expect(readdirSync(join(root, 'etc')).sort()).toEqual([
      'sysctl.conf',
      'sysctl.conf.rstwatch-bak-1700000000',
    ]);
    // A second backup in the same second gets its own name.
    await cli(['disable', '--persist', '--file', '/etc/sysctl.conf', '--proc-root', proc, '--root', root]);
    expect(readdirSync(join(root, 'etc')).sort()).toEqual([
      'sysctl.conf',
      'sysctl.conf.rstwatch-bak-1700000000',
      'sysctl.conf.rstwatch-bak-1700000000-2',
    ]);
  });

  it('duplicates: the last line is changed and a warning says so', async () => {
    const proc = makeProc('0');
    const root = makeRoot({
      'etc/sysctl.conf': 'net.ipv4.tcp_syncookies = 0\nnet.ipv4.tcp_syncookies = 0\n',
    });
    const r = await cli([
      'enable',
      '--persist',
      '--file',
      '/etc/sysctl.conf',
      '--proc-root',
      proc,
      '--root',
      root,
    ]);
    expect(readFileSync(join(root, 'etc/sysctl.conf'), 'utf8')).toBe(
      'net.ipv4.tcp_syncookies = 0\nnet.ipv4.tcp_syncookies = 1\n',
    );
    expect(r.err).toMatch(/W_SYSCTL_DUPLICATE: .*lines 1, 2; sysctl applies the last one, line 2/);
  });

  it('follows a symbolic link instead of replacing it (Debian 99-sysctl.conf → ../sysctl.conf)', async () => {
    const root = makeRoot({ 'etc/sysctl.conf': 'a = 1\n' });
    mkdirSync(join(root, 'etc/sysctl.d'));
    symlinkSync('../sysctl.conf', join(root, 'etc/sysctl.d/99-sysctl.conf'));
    const r = await cli([
      'enable',
      '--persist',
      '--file',
      '/etc/sysctl.d/99-sysctl.conf',
      '--proc-root',
      makeProc('1'),
      '--root',
      root,
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, 'etc/sysctl.conf'), 'utf8')).toBe(
      'a = 1\n# Added by rstwatch syncookies.\nnet.ipv4.tcp_syncookies = 1\n',
    );
    expect(statSync(join(root, 'etc/sysctl.d/99-sysctl.conf')).isFile()).toBe(true);
    expect(readdirSync(join(root, 'etc/sysctl.d'))).toEqual(['99-sysctl.conf']);
  });

  it('warns when a file applied later sets another value at boot', async () => {
    const root = makeRoot({ 'etc/sysctl.conf': 'net.ipv4.tcp_syncookies = 0\n' });
    const r = json<ApplyReport>(
      await cli(['enable', '--persist', '--json', '--proc-root', makeProc('0'), '--root', root]),
    );
    expect(r.warnings.map((w) => w.code)).toContain('W_SYSCTL_OVERRIDDEN');
    expect(r.warnings.find((w) => w.code === 'W_SYSCTL_OVERRIDDEN')!.message).toMatch(
      /at boot the value will be 0/,
    );
  });

  it('--dry-run prints both diffs and changes nothing: no file, no backup, no sysctl, same mtimes', async () => {
    const proc = makeProc('0');
    const root = makeRoot({ 'etc/sysctl.conf': '# c\nnet.ipv4.tcp_syncookies = 0\n' });
    const before = { ...snapshot(proc), ...snapshot(root) };
    await new Promise((r) => setTimeout(r, 20));
    for (const extra of [[], ['--file', '/etc/sysctl.conf']]) {
      const r = await cli([
        'enable',
        '--persist',
        '--dry-run',
        ...extra,
        '--proc-root',
        proc,
        '--root',
        root,
      ]);
      expect(r.code).toBe(0);
      expect(r.out).toContain('dry run');
      expect(r.out).toContain(`--- ${join(proc, 'sys/net/ipv4/tcp_syncookies')} (running)\n`);
      expect(r.out).toContain('@@ -1 +1 @@\n-0\n+1\n');
      if (extra.length === 0)
        expect(r.out).toContain(`--- /dev/null\n+++ ${join(root, 'etc/sysctl.d/90-rstwatch.conf')}\n`);
      else expect(r.out).toContain('-net.ipv4.tcp_syncookies = 0\n+net.ipv4.tcp_syncookies = 1\n');
    }
    const j = json<ApplyReport>(
      await cli(['disable', '--dry-run', '--json', '--proc-root', proc, '--root', root]),
    );
    expect(j).toMatchObject({ dryRun: true, changed: false, diff: '' });
    expect({ ...snapshot(proc), ...snapshot(root) }).toEqual(before);
  });

  it('an unknown value in the kernel or in the file: E_SYSCTL_VALUE and nothing changed', async () => {
    const proc = makeProc('7');
    const root = makeRoot({ 'etc/sysctl.conf': 'net.ipv4.tcp_syncookies = 0\n' });
    const before = { ...snapshot(proc), ...snapshot(root) };
    const k = await cli([
      'enable',
      '--persist',
      '--file',
      '/etc/sysctl.conf',
      '--proc-root',
      proc,
      '--root',
      root,
    ]);
    expect(k.code).toBe(3);
    expect(k.error?.code).toBe('E_SYSCTL_VALUE');
    expect(k.error?.message).toMatch(/"7"/);
    writeFileSync(join(proc, 'sys/net/ipv4/tcp_syncookies'), '0\n');
    writeFileSync(join(root, 'etc/sysctl.conf'), '# x\nnet.ipv4.tcp_syncookies = 7\n');
    const before2 = { ...snapshot(proc), ...snapshot(root) };
    const f = await cli([
      'enable',
      '--persist',
      '--file',
      '/etc/sysctl.conf',
      '--proc-root',
      proc,
      '--root',
      root,
    ]);
    expect(f.error?.code).toBe('E_SYSCTL_VALUE');
    expect(f.error?.file).toBe(join(root, 'etc/sysctl.conf'));
    expect(f.error?.line).toBe(2);
    expect({ ...snapshot(proc), ...snapshot(root) }).toEqual(before2);
    expect(before2).not.toEqual(before); // (the second case really had a different setup)
  });

  it('a missing /proc/sys file: E_SYSCTL_MISSING, nothing written', async () => {
    const proc = makeProc(undefined);
    const root = makeRoot();
    const r = await cli(['enable', '--persist', '--proc-root', proc, '--root', root]);
    expect(r.error?.code).toBe('E_SYSCTL_MISSING');
    expect(readdirSync(root)).toEqual([]);
    expect(readdirSync(join(proc, 'sys/net/ipv4'))).toEqual([]);
  });

  it('usage errors: no subcommand, --always with disable, --only on Linux, --file without --persist', async () => {
    const proc = makeProc('1');
    for (const args of [
      [],
      ['frobnicate'],
      ['disable', '--always'],
      ['enable', '--only'],
      ['enable', '--file', '/etc/sysctl.conf'],
      ['status', '--persist'],
      ['enable', '--root', join(tmp, 'nope')],
    ]) {
      const r = await cli([...args, '--os', 'linux', '--proc-root', proc]);
      expect(r.error?.code, args.join(' ')).toBe('E_USAGE');
    }
    expect(kernel(proc)).toBe('1\n');
  });
});

describe('Linux: failures leave nothing half-written', () => {
  /** The real fake-proc backend, with hooks to fail or lie. */
  function backend(
    proc: string,
    hooks: { writeFails?: boolean; readBackWrong?: boolean; preflightFails?: boolean },
  ) {
    const file = join(proc, 'sys/net/ipv4/tcp_syncookies');
    const writes: number[] = [];
    let wrote = false;
    const b: Backend = {
      label: () => file,
      read: async () => {
        const raw = readFileSync(file, 'utf8').trim();
        // Lies only after our write (the verification read).
        const shown = hooks.readBackWrong && wrote ? '0' : raw;
        return { name: NAME, source: file, raw: shown, value: Number(shown) };
      },
      preflight: async () => {
        if (hooks.preflightFails) throw new RstwatchError('E_SYSCTL_READONLY', 'read-only /proc/sys');
      },
      write: async (_n, v) => {
        writes.push(v);
        if (hooks.writeFails) throw new RstwatchError('E_SYSCTL_PERMISSION', 'nope');
        writeFileSync(file, `${v}\n`);
        wrote = true;
      },
    };
    return { b, writes };
  }

  it('the running value cannot be written: the edited file is put back and its backup removed', async () => {
    const proc = makeProc('0');
    const root = makeRoot({ 'etc/sysctl.conf': '# keep\nnet.ipv4.tcp_syncookies = 0\n' });
    const before = snapshot(root);
    const { b } = backend(proc, { writeFails: true });
    const r = await cli(
      ['enable', '--persist', '--file', '/etc/sysctl.conf', '--proc-root', proc, '--root', root],
      {
        backend: b,
      },
    );
    expect(r.error?.code).toBe('E_SYSCTL_PERMISSION');
    expect(r.error?.message).toMatch(/put back/);
    expect(readdirSync(join(root, 'etc'))).toEqual(['sysctl.conf']);
    expect(readFileSync(join(root, 'etc/sysctl.conf'), 'utf8')).toBe('# keep\nnet.ipv4.tcp_syncookies = 0\n');
    // Same contents; the file itself was replaced twice (atomically), so only its mtime may differ.
    const after = snapshot(root);
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(kernel(proc)).toBe('0\n');
  });

  it('a drop-in we created is removed again, with the directories we made', async () => {
    const proc = makeProc('0');
    const root = makeRoot({ 'etc/hostname': 'x\n' });
    const { b } = backend(proc, { writeFails: true });
    const r = await cli(['enable', '--persist', '--proc-root', proc, '--root', root], { backend: b });
    expect(r.error?.code).toBe('E_SYSCTL_PERMISSION');
    expect(readdirSync(join(root, 'etc'))).toEqual(['hostname']);
  });

  it('the file cannot be written (a directory in its place): the running value is not touched', async () => {
    const proc = makeProc('0');
    const root = makeRoot();
    mkdirSync(join(root, 'etc/sysctl.d/90-rstwatch.conf'), { recursive: true });
    const before = { ...snapshot(proc), ...snapshot(root) };
    const r = await cli(['enable', '--persist', '--proc-root', proc, '--root', root]);
    expect(r.error?.code).toBe('E_SYSCTL_WRITE');
    expect(r.error?.message).toMatch(/not a regular file/);
    expect({ ...snapshot(proc), ...snapshot(root) }).toEqual(before);
  });

  it('the preflight fails: no file is touched at all', async () => {
    const proc = makeProc('0');
    const root = makeRoot({ 'etc/sysctl.conf': 'net.ipv4.tcp_syncookies = 0\n' });
    const before = snapshot(root);
    const { b, writes } = backend(proc, { preflightFails: true });
    const r = await cli(
      ['enable', '--persist', '--file', '/etc/sysctl.conf', '--proc-root', proc, '--root', root],
      {
        backend: b,
      },
    );
    expect(r.error?.code).toBe('E_SYSCTL_READONLY');
    expect(snapshot(root)).toEqual(before);
    expect(writes).toEqual([]);
  });

  it('the value reads back wrong: E_SYSCTL_VERIFY, the old value is written back and the file restored', async () => {
    const proc = makeProc('0');
    const root = makeRoot();
    const { b, writes } = backend(proc, { readBackWrong: true });
    const r = await cli(['enable', '--persist', '--proc-root', proc, '--root', root], { backend: b });
    expect(r.error?.code).toBe('E_SYSCTL_VERIFY');
    expect(writes).toEqual([1, 0]);
    expect(kernel(proc)).toBe('0\n');
    expect(readdirSync(root)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// FreeBSD with a fake sysctl

interface FakeBsd {
  runner: CommandRunner;
  calls: string[];
  state: Record<string, number>;
}

/** A FreeBSD in miniature: sysctl -n / NAME=VALUE, service/rc.d reload applying ROOT/etc/sysctl.conf, netstat. */
function fakeBsd(
  root: string,
  state: Record<string, number>,
  opts: { serviceFails?: boolean; writeError?: string } = {},
): FakeBsd {
  const calls: string[] = [];
  const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '' });
  const fail = (stderr: string): CommandResult => ({ code: 1, stdout: '', stderr });
  const reload = (): CommandResult => {
    let text = '';
    try {
      text = readFileSync(join(root, 'etc/sysctl.conf'), 'utf8');
    } catch {}
    for (const name of Object.keys(state)) {
      const e = findSysctl(text, name).at(-1);
      if (e) state[name] = Number(e.value);
    }
    return ok();
  };
  const runner: CommandRunner = async (cmd, args) => {
    calls.push([cmd, ...args].join(' '));
    if (cmd === '/sbin/sysctl' && args[0] === '-n') {
      const v = state[args[1]!];
      return v === undefined ? fail(`sysctl: unknown oid '${args[1]}'`) : ok(`${v}\n`);
    }
    if (cmd === '/sbin/sysctl' && args.length === 1 && args[0]!.includes('=')) {
      const [name, value] = args[0]!.split('=') as [string, string];
      if (opts.writeError) return fail(`sysctl: ${args[0]}: ${opts.writeError}`);
      if (state[name] === undefined) return fail(`sysctl: unknown oid '${name}'`);
      const old = state[name];
      state[name] = Number(value);
      return ok(`${name}: ${old} -> ${value}\n`);
    }
    if (cmd === '/usr/sbin/service' && args.join(' ') === 'sysctl reload')
      return opts.serviceFails ? fail('service: not found') : reload();
    if (cmd === '/etc/rc.d/sysctl' && args.join(' ') === 'reload') return reload();
    if (cmd === '/usr/bin/netstat')
      return ok(readFileSync(join(FIX, 'freebsd/freebsd-14/netstat-s-p-tcp.json'), 'utf8'));
    return { code: null, stdout: '', stderr: '', error: `unexpected command ${cmd}` };
  };
  return { runner, calls, state };
}

const writesOf = (calls: string[]): string[] =>
  calls.filter((c) => c.startsWith('/sbin/sysctl ') && c.includes('='));

describe('FreeBSD (fake sysctl)', () => {
  it('readFreeBsdSysctls: one sysctl -n per name; a missing one is a problem, the others are read', async () => {
    const bsd = fakeBsd(makeRoot(), { 'net.inet.tcp.syncookies': 1 });
    const r = await readFreeBsdSysctls(['net.inet.tcp.syncookies', 'net.inet.tcp.nope'], bsd.runner);
    expect(r.values).toEqual({ 'net.inet.tcp.syncookies': 1 });
    expect(r.problems.map((p) => p.code)).toEqual(['E_SYSCTL_MISSING']);
    expect(bsd.calls).toEqual([
      '/sbin/sysctl -n net.inet.tcp.syncookies',
      '/sbin/sysctl -n net.inet.tcp.nope',
    ]);
  });

  it('status shows both knobs, explains them, and the cookie counters', async () => {
    const root = makeRoot({ 'etc/sysctl.conf': 'net.inet.tcp.syncookies=1\n' });
    const bsd = fakeBsd(root, { 'net.inet.tcp.syncookies': 1, 'net.inet.tcp.syncookies_only': 0 });
    const t = await cli(['status', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(t.code).toBe(0);
    expect(t.out).toContain('net.inet.tcp.syncookies = 1\n  SYN cookies when the syncache overflows');
    expect(t.out).toContain('net.inet.tcp.syncookies_only = 0\n  the syncache is used');
    expect(t.out).toContain(`at boot: 1, set by ${join(root, 'etc/sysctl.conf')} line 1`);
    const j = json<StatusReport>(
      await cli(['status', '--json', '--os', 'freebsd', '--root', root], { runner: bsd.runner }),
    );
    expect(j.settings.map((s) => [s.name, s.value])).toEqual([
      ['net.inet.tcp.syncookies', 1],
      ['net.inet.tcp.syncookies_only', 0],
    ]);
    expect(j.counters['syncache.sent-cookies']).toBe(4127);
    expect(j.counters['syncache.receivd-cookies']).toBe(3988);
    expect(j.verdict).toMatch(/4127 cookies sent/);
    expect(writesOf(bsd.calls)).toEqual([]);
  });

  it('status on a kernel without syncookies_only: a warning, the rest is shown', async () => {
    const bsd = fakeBsd(makeRoot(), { 'net.inet.tcp.syncookies': 0 });
    const r = await cli(['status', '--json', '--os', 'freebsd', '--root', join(tmp, 'root')], {
      runner: bsd.runner,
    });
    expect(r.code).toBe(0);
    const j = json<StatusReport>(r);
    expect(j.settings.map((x) => x.name)).toEqual(['net.inet.tcp.syncookies']);
    expect(j.problems.map((p) => p.code)).toEqual(['W_SYSCTL_MISSING']);
    expect(j.verdict).toMatch(/SYN cookies are off/);
  });

  it('enable --persist: net.inet.tcp.syncookies=1 in /etc/sysctl.conf, then service sysctl reload; syncookies_only never written', async () => {
    const root = makeRoot({
      'etc/sysctl.conf': '# FreeBSD\nnet.inet.tcp.syncookies=0\nkern.ipc.soacceptqueue=1024\n',
    });
    const bsd = fakeBsd(root, { 'net.inet.tcp.syncookies': 0, 'net.inet.tcp.syncookies_only': 0 });
    const r = await cli(['enable', '--persist', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, 'etc/sysctl.conf'), 'utf8')).toBe(
      '# FreeBSD\nnet.inet.tcp.syncookies=1\nkern.ipc.soacceptqueue=1024\n',
    );
    expect(bsd.state['net.inet.tcp.syncookies']).toBe(1);
    const reloadAt = bsd.calls.indexOf('/usr/sbin/service sysctl reload');
    expect(reloadAt).toBeGreaterThan(0);
    // The reload applied the file: no direct write was needed; the value was read back after it.
    expect(writesOf(bsd.calls)).toEqual([]);
    expect(bsd.calls.slice(reloadAt + 1)).toContain('/sbin/sysctl -n net.inet.tcp.syncookies');
    expect(bsd.calls.some((c) => c.includes('syncookies_only='))).toBe(false);
    expect(readFileSync(join(root, 'etc/sysctl.conf'), 'utf8')).not.toContain('syncookies_only');
    expect(readdirSync(join(root, 'etc')).some((f) => f.includes('rstwatch-bak'))).toBe(true);
  });

  it('without --persist: sysctl NAME=VALUE, no reload, no file', async () => {
    const root = makeRoot();
    const bsd = fakeBsd(root, { 'net.inet.tcp.syncookies': 0, 'net.inet.tcp.syncookies_only': 0 });
    const r = await cli(['enable', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(r.code).toBe(0);
    expect(writesOf(bsd.calls)).toEqual(['/sbin/sysctl net.inet.tcp.syncookies=1']);
    expect(bsd.calls.some((c) => c.includes('reload'))).toBe(false);
    expect(readdirSync(root)).toEqual([]);
    const d = await cli(['disable', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(d.code).toBe(0);
    expect(writesOf(bsd.calls)).toEqual([
      '/sbin/sysctl net.inet.tcp.syncookies=1',
      '/sbin/sysctl net.inet.tcp.syncookies=0',
    ]);
    expect(bsd.calls.some((c) => c.includes('syncookies_only='))).toBe(false);
  });

  it('service(8) failing: falls back to /etc/rc.d/sysctl reload', async () => {
    const root = makeRoot({ 'etc/sysctl.conf': '' });
    const bsd = fakeBsd(
      root,
      { 'net.inet.tcp.syncookies': 0, 'net.inet.tcp.syncookies_only': 0 },
      { serviceFails: true },
    );
    const r = json<ApplyReport>(
      await cli(['enable', '--persist', '--json', '--os', 'freebsd', '--root', root], { runner: bsd.runner }),
    );
    expect(r.reload.map((x) => [x.command, x.ok])).toEqual([
      ['/usr/sbin/service sysctl reload', false],
      ['/etc/rc.d/sysctl reload', true],
    ]);
    expect(bsd.state['net.inet.tcp.syncookies']).toBe(1);
  });

  it('--only: both set to 1, with a warning that says what it costs', async () => {
    const root = makeRoot();
    const bsd = fakeBsd(root, { 'net.inet.tcp.syncookies': 1, 'net.inet.tcp.syncookies_only': 0 });
    const r = await cli(['enable', '--only', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/W_SYSCTL_COOKIES_ONLY/);
    expect(r.err).toMatch(/never retransmitted/);
    expect(r.err).toMatch(/MSS is rounded down/);
    expect(r.err).toMatch(/window scale/);
    expect(r.err).toMatch(/syncache\(4\)/);
    expect(writesOf(bsd.calls)).toEqual(['/sbin/sysctl net.inet.tcp.syncookies_only=1']);
    // disable --only turns cookies-only off and leaves syncookies alone.
    await cli(['disable', '--only', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(bsd.state).toEqual({ 'net.inet.tcp.syncookies': 1, 'net.inet.tcp.syncookies_only': 0 });
    expect(writesOf(bsd.calls).at(-1)).toBe('/sbin/sysctl net.inet.tcp.syncookies_only=0');
  });

  it('a dry run with --only still warns, and runs no write or reload', async () => {
    const root = makeRoot();
    const bsd = fakeBsd(root, { 'net.inet.tcp.syncookies': 0, 'net.inet.tcp.syncookies_only': 0 });
    const r = await cli(['enable', '--only', '--persist', '--dry-run', '--os', 'freebsd', '--root', root], {
      runner: bsd.runner,
    });
    expect(r.err).toMatch(/W_SYSCTL_COOKIES_ONLY/);
    expect(r.out).toContain('+net.inet.tcp.syncookies=1\n+net.inet.tcp.syncookies_only=1\n');
    expect(bsd.calls.every((c) => c.startsWith('/sbin/sysctl -n '))).toBe(true);
    expect(readdirSync(root)).toEqual([]);
  });

  it('--always and --netns are refused on FreeBSD', async () => {
    const bsd = fakeBsd(makeRoot(), { 'net.inet.tcp.syncookies': 1 });
    expect((await cli(['enable', '--always', '--os', 'freebsd'], { runner: bsd.runner })).error?.code).toBe(
      'E_USAGE',
    );
    expect(
      (await cli(['status', '--netns', 'x', '--os', 'freebsd'], { runner: bsd.runner })).error?.code,
    ).toBe('E_NETNS_UNSUPPORTED');
    expect(bsd.calls).toEqual([]);
  });

  it('not root: E_SYSCTL_PERMISSION before anything is written', async () => {
    const root = makeRoot({ 'etc/sysctl.conf': 'x=1\n' });
    const before = snapshot(root);
    const bsd = fakeBsd(root, { 'net.inet.tcp.syncookies': 0, 'net.inet.tcp.syncookies_only': 0 });
    const r = await cli(['enable', '--persist', '--os', 'freebsd', '--root', root], {
      runner: bsd.runner,
      uid: 1000,
    });
    expect(r.error?.code).toBe('E_SYSCTL_PERMISSION');
    expect(writesOf(bsd.calls)).toEqual([]);
    expect(snapshot(root)).toEqual(before);
  });

  it('sysctl refuses the write: E_SYSCTL_PERMISSION, the file is put back', async () => {
    const root = makeRoot({ 'etc/sysctl.conf': 'x=1\n' });
    const bsd = fakeBsd(
      root,
      { 'net.inet.tcp.syncookies': 0, 'net.inet.tcp.syncookies_only': 0 },
      { writeError: 'Operation not permitted' },
    );
    const r = await cli(['enable', '--os', 'freebsd', '--root', root], { runner: bsd.runner });
    expect(r.error?.code).toBe('E_SYSCTL_PERMISSION');
    expect(readFileSync(join(root, 'etc/sysctl.conf'), 'utf8')).toBe('x=1\n');
    expect(readdirSync(join(root, 'etc'))).toEqual(['sysctl.conf']);
  });
});
