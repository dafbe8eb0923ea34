/**
 * End to end: the real CLI changing net.ipv4.tcp_syncookies of a network namespace the test creates, on the
 * real kernel. The host's own value is never changed (checked after every test) and nothing is written under
 * the real /etc: every file lives under a --root temp dir.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { BIN, cli, FIXTURES } from '../helpers/paths.js';

const HOST_FILE = '/proc/sys/net/ipv4/tcp_syncookies';

interface Status {
  netns: string;
  settings: { name: string; value: number; raw: string; boot: { file: string; value: string } | null }[];
  counters: Record<string, number>;
  verdict: string;
}
interface Apply {
  changed: boolean;
  dryRun: boolean;
  settings: { before: number; after: number; target: number }[];
  persist: { file: string; action: string; backup: string | null; changed: boolean } | null;
}

/** Every file under dir with mode, mtime and contents. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = statSync(p);
      out[p] = e.isDirectory()
        ? `dir ${st.mode} ${st.mtimeMs}`
        : `${st.mode} ${st.mtimeMs} ${readFileSync(p, 'latin1')}`;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(!netnsAvailable())('syncookies --netns against the real kernel', () => {
  let ns = '';
  let tmp = '';
  let host = '';
  const nsValue = (): string =>
    execFileSync('ip', ['netns', 'exec', ns, 'cat', HOST_FILE], { encoding: 'utf8' }).trim();
  const setNs = (v: number): void => {
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo ${v} > ${HOST_FILE}`]);
    expect(nsValue()).toBe(String(v));
  };
  const sc = (args: string[]) => cli(['syncookies', ...args]);
  const ok = (args: string[]) => {
    const r = sc(args);
    if (r.code !== 0)
      throw new Error(`syncookies ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r;
  };

  beforeAll(() => {
    host = readFileSync(HOST_FILE, 'utf8');
    ns = createNetns('rw-sc');
    tmp = mkdtempSync(join(tmpdir(), 'rw-sc-e2e-'));
  });
  afterEach(() => {
    expect(readFileSync(HOST_FILE, 'utf8'), "the host's own tcp_syncookies").toBe(host);
  });
  afterAll(() => {
    deleteNetns(ns);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('status --netns NS --json reads the namespace, names it, and has the counters', () => {
    setNs(0);
    const s = JSON.parse(ok(['status', '--netns', ns, '--json']).stdout) as Status;
    expect(s.netns).toBe(ns);
    expect(s.settings[0]).toMatchObject({ name: 'net.ipv4.tcp_syncookies', value: 0 });
    // A fresh namespace has seen no SYN at all.
    expect(s.counters).toEqual({
      SyncookiesSent: 0,
      SyncookiesRecv: 0,
      SyncookiesFailed: 0,
      TCPReqQFullDoCookies: 0,
      TCPReqQFullDrop: 0,
    });
    expect(s.verdict).toMatch(/SYN cookies are off/);
  });

  it('disable → 0, enable → 1, enable --always → 2, enable → 1; only the namespace changes', () => {
    setNs(1);
    ok(['disable', '--netns', ns]);
    expect(nsValue()).toBe('0');
    const e = ok(['enable', '--netns', ns]);
    expect(e.stdout).toMatch(/SYN cookies enabled \(net\.ipv4\.tcp_syncookies 0 → 1\)/);
    expect(nsValue()).toBe('1');
    const a = JSON.parse(ok(['enable', '--always', '--netns', ns, '--json']).stdout) as Apply;
    expect(a.settings[0]).toMatchObject({ before: 1, target: 2, after: 2 });
    expect(nsValue()).toBe('2');
    ok(['enable', '--netns', ns]);
    expect(nsValue()).toBe('1');
    expect(ok(['enable', '--netns', ns]).stdout).toMatch(/already enabled/);
  });

  it('enable --persist --root TMP writes the drop-in; a second run changes nothing at all', async () => {
    setNs(0);
    const root = join(tmp, 'persist');
    mkdirSync(root);
    const r = JSON.parse(
      ok(['enable', '--persist', '--root', root, '--netns', ns, '--json']).stdout,
    ) as Apply;
    const dropin = join(root, 'etc/sysctl.d/90-rstwatch.conf');
    expect(r.persist).toMatchObject({ file: dropin, action: 'created', backup: null });
    expect(readFileSync(dropin, 'utf8')).toMatch(/^net\.ipv4\.tcp_syncookies = 1$/m);
    expect(nsValue()).toBe('1');
    const before = snapshot(root);
    await new Promise((res) => setTimeout(res, 50));
    const again = ok(['enable', '--persist', '--root', root, '--netns', ns]);
    expect(again.stdout).toMatch(/already enabled/);
    expect(snapshot(root)).toEqual(before);
    expect(nsValue()).toBe('1');
    // status sees where boot sets it.
    const s = JSON.parse(ok(['status', '--root', root, '--netns', ns, '--json']).stdout) as Status;
    expect(s.settings[0]!.boot).toMatchObject({ file: dropin, value: '1' });
  });

  it('--file TMP/etc/sysctl.conf is edited in place, comments kept, with a backup', () => {
    setNs(0);
    const etc = join(tmp, 'file/etc');
    mkdirSync(etc, { recursive: true });
    const conf = join(etc, 'sysctl.conf');
    const old =
      '# /etc/sysctl.conf\n#net.ipv4.tcp_syncookies=1\nkernel.printk = 3 4 1 3\nnet.ipv4.tcp_syncookies=0\nvm.swappiness = 10\n';
    writeFileSync(conf, old);
    chmodSync(conf, 0o600);
    const r = JSON.parse(
      ok(['enable', '--persist', '--file', conf, '--netns', ns, '--json']).stdout,
    ) as Apply;
    expect(readFileSync(conf, 'utf8')).toBe(old.replace('tcp_syncookies=0', 'tcp_syncookies=1'));
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    expect(r.persist!.backup).toMatch(/sysctl\.conf\.rstwatch-bak-\d+$/);
    expect(readFileSync(r.persist!.backup!, 'utf8')).toBe(old);
    expect(readdirSync(etc).length).toBe(2);
    expect(nsValue()).toBe('1');
  });

  it('--dry-run changes neither the kernel value nor any file', () => {
    setNs(0);
    const root = join(tmp, 'dry');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/sysctl.conf'), 'net.ipv4.tcp_syncookies = 0\n');
    const before = snapshot(root);
    const r = ok([
      'enable',
      '--persist',
      '--file',
      '/etc/sysctl.conf',
      '--root',
      root,
      '--dry-run',
      '--netns',
      ns,
    ]);
    expect(r.stdout).toContain('@@ -1 +1 @@\n-0\n+1\n');
    expect(r.stdout).toContain('-net.ipv4.tcp_syncookies = 0\n+net.ipv4.tcp_syncookies = 1\n');
    expect(nsValue()).toBe('0');
    expect(snapshot(root)).toEqual(before);
  });

  describe('a read-only --root (tmpfs remounted ro)', () => {
    let ro = '';
    beforeAll(() => {
      ro = join(tmp, 'ro');
      mkdirSync(ro);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rw-sc-ro', ro]);
      mkdirSync(join(ro, 'etc'));
      writeFileSync(join(ro, 'etc/sysctl.conf'), 'net.ipv4.tcp_syncookies = 0\n');
      execFileSync('mount', ['-o', 'remount,ro', ro]);
    });
    afterAll(() => {
      spawnSync('umount', ['-l', ro]);
    });

    it('gives E_SYSCTL_READONLY and leaves the running value as it was (drop-in and --file)', () => {
      setNs(0);
      for (const extra of [[], ['--file', '/etc/sysctl.conf']]) {
        const r = sc(['enable', '--persist', ...extra, '--root', ro, '--netns', ns]);
        expect(r.code).toBe(3);
        expect(r.stderr).toMatch(/E_SYSCTL_READONLY/);
        expect(nsValue()).toBe('0');
      }
      expect(readFileSync(join(ro, 'etc/sysctl.conf'), 'utf8')).toBe('net.ipv4.tcp_syncookies = 0\n');
    });
  });

  it('not root: E_SYSCTL_PERMISSION, nothing changed (a fake proc root, run as nobody)', () => {
    const base = join(tmp, 'nobody');
    const proc = join(base, 'proc');
    mkdirSync(join(proc, 'sys/net/ipv4'), { recursive: true });
    cpSync(join(FIXTURES, 'proc/linux-6.18/net'), join(proc, 'net'), { recursive: true });
    writeFileSync(join(proc, 'sys/net/ipv4/tcp_syncookies'), '0\n');
    chmodSync(tmp, 0o755);
    for (const d of [base, proc, join(proc, 'sys'), join(proc, 'sys/net'), join(proc, 'sys/net/ipv4')])
      chmodSync(d, 0o755);
    const r = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        BIN,
        'syncookies',
        'enable',
        '--proc-root',
        proc,
        '--root',
        base,
        '--persist',
      ],
      { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: '/nonexistent' }, timeout: 20_000 },
    );
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/E_SYSCTL_PERMISSION/);
    expect(readFileSync(join(proc, 'sys/net/ipv4/tcp_syncookies'), 'utf8')).toBe('0\n');
    expect(readdirSync(base)).toEqual(['proc']);
  });
});
