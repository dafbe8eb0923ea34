/**
 * End to end: `rstwatch doctor` through the real binary (build first: npx tsc -p tsconfig.json).
 *
 * - Fixture runs (no privileges): FreeBSD through the fake netstat/sysctl pair, Linux through a proc root.
 * - Namespace runs (root + iproute2): a real listen-queue overflow provoked inside a namespace the test
 *   creates — a listener with backlog 1 that never accepts and a bounded burst of loopback connects —
 *   SYN cookies switched off in a namespace (never on the host), and a quiet namespace.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../../src/remedy/doctor.js';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { BIN, cli, FIXTURES } from '../helpers/paths.js';

interface Report {
  os: string;
  netns: string;
  intervalSeconds: number;
  settings: Record<string, number | string | null>;
  findings: Finding[];
  worst: string;
  problems: { code: string; message: string }[];
}

const FAKE_NETSTAT = `${FIXTURES}/bin/fake-netstat`;
const FAKE_SYSCTL = `${FIXTURES}/bin/fake-sysctl`;

function report(stdout: string): Report {
  return JSON.parse(stdout) as Report;
}

function find(r: Report, id: string): Finding {
  const f = r.findings.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id}: ${r.findings.map((x) => x.id).join(', ')}`);
  return f;
}

const above = (r: Report, severity: 'info' | 'warning'): Finding[] => {
  const rank = { ok: 0, info: 1, warning: 2, critical: 3 } as const;
  return r.findings.filter((f) => rank[f.severity] > rank[severity]);
};

function freebsd(fixture: string, args: string[] = []) {
  return cli(
    [
      'doctor',
      '--os',
      'freebsd',
      '--netstat',
      FAKE_NETSTAT,
      '--sysctl',
      FAKE_SYSCTL,
      '--interval',
      '0.2s',
      ...args,
    ],
    { env: { RW_FREEBSD_FIXTURE: fixture } },
  );
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rw-doctor-e2e-'));
  tmpDirs.push(d);
  return d;
}

describe('doctor through the CLI on fixtures', () => {
  it('is a registered command (src/cli/main.ts loads ./doctor.js)', () => {
    const r = cli(['doctor', '--help']);
    expect(r.stderr).not.toMatch(/unknown command/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: rstwatch doctor/);
  });

  it('usage errors exit 2', () => {
    expect(cli(['doctor', '--interval', 'soon']).code).toBe(2);
    expect(cli(['doctor', '--os', 'plan9']).code).toBe(2);
    expect(cli(['doctor', '--no-such-flag']).code).toBe(2);
    expect(cli(['doctor', '--interval', '2h']).code).toBe(2);
    expect(cli(['doctor', '--netns', '../etc']).code).toBe(2);
  });

  it('FreeBSD 14 defaults: every settings check passes, no movement between the reads, exit 0', () => {
    const r = freebsd(`${FIXTURES}/freebsd/freebsd-14`, ['--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = report(r.stdout);
    expect(o.os).toBe('freebsd');
    expect(o.netns).toBe('host');
    expect(o.intervalSeconds).toBeGreaterThanOrEqual(0.2);
    expect(o.settings['net.inet.tcp.syncookies']).toBe(1);
    expect(o.settings['kern.ipc.soacceptqueue']).toBe(4096);
    for (const id of ['syncookies', 'syncookies-only', 'insecure-rst', 'blackhole'])
      expect(find(o, id).severity).toBe('ok');
    // The fake prints the same counters twice: the movement checks ran and saw nothing.
    for (const id of ['listen-queue', 'challenge-ack', 'syn-cookies-sent', 'syncache-overflow'])
      expect(find(o, id).severity).toBe('ok');
    expect(find(o, 'listen-queue').evidence[0]).toMatch(
      /^listen-queue-overflows \+0 in 0\.\d s \(0\.00\/s\), now 57$/,
    );
    expect(o.worst).toBe('ok');
  });

  it('FreeBSD with blackhole=2: info only (closed ports send no RST), exit 0', () => {
    const r = freebsd(`${FIXTURES}/freebsd/busy-older-layout`, ['--json']);
    expect(r.code).toBe(0);
    const o = report(r.stdout);
    const f = find(o, 'blackhole');
    expect(f.severity).toBe('info');
    expect(f.fix).toBe('sysctl net.inet.tcp.blackhole=0');
    expect(f.topic).toBe('refused');
    expect(o.worst).toBe('info');
  });

  it('FreeBSD with cookies off, cookies only and insecure_rst: warnings worst first, exit 1', () => {
    const dir = tmp();
    copyFileSync(`${FIXTURES}/freebsd/freebsd-14/netstat-s-p-tcp.json`, join(dir, 'netstat-s-p-tcp.json'));
    writeFileSync(
      join(dir, 'sysctl.txt'),
      [
        'net.inet.tcp.syncookies: 0',
        'net.inet.tcp.syncookies_only: 1',
        'net.inet.tcp.blackhole: 1',
        'net.inet.tcp.insecure_rst: 1',
        'net.inet.tcp.drop_synfin: 0',
        'kern.ipc.soacceptqueue: 128',
        '',
      ].join('\n'),
    );
    const j = freebsd(dir, ['--json']);
    expect(j.code).toBe(1);
    const o = report(j.stdout);
    expect(o.worst).toBe('warning');
    expect(o.findings.slice(0, 3).map((f) => [f.id, f.severity])).toEqual([
      ['syncookies', 'warning'],
      ['syncookies-only', 'warning'],
      ['insecure-rst', 'warning'],
    ]);
    expect(find(o, 'syncookies').fix).toBe('rstwatch syncookies enable --persist');
    expect(find(o, 'syncookies-only').fix).toBe('sysctl net.inet.tcp.syncookies_only=0');
    expect(find(o, 'blackhole').severity).toBe('info');

    const t = freebsd(dir);
    expect(t.code).toBe(1);
    expect(t.stdout).toMatch(/^rstwatch doctor — freebsd, host namespace, counters sampled for 0\.\d s/);
    expect(t.stdout).toContain('WARNING   SYN cookies are off');
    expect(t.stdout).toContain('fix:  rstwatch syncookies enable --persist');
    expect(t.stdout).toContain('more: rstwatch explain syncookies');
    expect(t.stdout.indexOf('WARNING')).toBeLessThan(t.stdout.indexOf('info      Blackhole on'));
  });

  it('Linux proc root with tcp_syncookies=0: the settings are read under DIR/sys, exit 1', () => {
    const root = tmp();
    mkdirSync(join(root, 'net'));
    for (const f of ['snmp', 'netstat'])
      copyFileSync(`${FIXTURES}/proc/linux-6.18/net/${f}`, join(root, 'net', f));
    const sys = (name: string, v: string) => {
      const file = join(root, 'sys', ...name.split('.'));
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, `${v}\n`);
    };
    sys('net.ipv4.tcp_syncookies', '0');
    sys('net.ipv4.tcp_abort_on_overflow', '0');
    sys('net.ipv4.tcp_rfc1337', '0');
    sys('net.core.somaxconn', '4096');
    const r = cli(['doctor', '--json', '--os', 'linux', '--proc-root', root, '--interval', '0.2s']);
    expect(r.code).toBe(1);
    const o = report(r.stdout);
    expect(o.settings['net.ipv4.tcp_syncookies']).toBe(0);
    expect(o.settings['net.ipv4.tcp_max_syn_backlog']).toBeNull();
    expect(o.problems.map((p) => p.code)).toContain('W_SYSCTL_MISSING');
    expect(find(o, 'syncookies').severity).toBe('warning');
    expect(find(o, 'rfc1337').severity).toBe('info');
    expect(find(o, 'listen-queue').severity).toBe('ok');
    expect(o.findings[0]!.id).toBe('syncookies');
  });

  it('nothing readable at all: findings are "not checked" and the exit status is 3', () => {
    const r = cli(['doctor', '--json', '--os', 'linux', '--proc-root', tmp(), '--interval', '0']);
    expect(r.code).toBe(3);
    const o = report(r.stdout);
    expect(o.findings.every((f) => f.unknown === true)).toBe(true);
    expect(o.problems.map((p) => p.code)).toContain('E_PROC_MISSING');
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Resolve when the child exits, or kill it after `ms` (every wait here is bounded). */
function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  return { out: () => out, err: () => err };
}

/**
 * A listener with backlog 1 that never accepts: node's event loop accepts on its own, so the process
 * blocks it (Atomics.wait, no CPU) right after listen() and exits by itself after 30 s at most.
 */
const LISTENER = `
  const net = require('node:net');
  net.createServer().listen({ port: 8080, host: '127.0.0.1', backlog: 1 }, () => {
    process.stdout.write('listening\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
    process.exit(0);
  });`;

/**
 * N loopback connects, one every 100 ms (so most land inside the sampling interval even when the doctor
 * starts slowly), each given up after 800 ms and destroyed; the process ends within N × 100 + 1000 ms.
 */
const burst = (n: number) => `
  const net = require('node:net');
  const socks = [];
  let i = 0;
  const tick = setInterval(() => {
    if (i++ === ${n}) return clearInterval(tick);
    const s = net.connect({ host: '127.0.0.1', port: 8080, timeout: 800 });
    s.on('error', () => {});
    s.on('timeout', () => s.destroy());
    socks.push(s);
  }, 100);
  setTimeout(() => { for (const s of socks) s.destroy(); process.exit(0); }, ${n} * 100 + 1000);`;

describe.skipIf(!netnsAvailable())('doctor --netns against a real kernel', () => {
  const made: string[] = [];
  const children: ChildProcess[] = [];
  let quiet = '';
  let listen = '';
  let cookies = '';

  beforeAll(() => {
    quiet = createNetns('rw-doc-quiet');
    made.push(quiet);
    listen = createNetns('rw-doc-listen');
    made.push(listen);
    cookies = createNetns('rw-doc-cookies');
    made.push(cookies);
  });

  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const ns of made) deleteNetns(ns);
  });

  it('a quiet namespace: nothing above info, exit 0, reported under its name', () => {
    const r = cli(['doctor', '--json', '--netns', quiet, '--interval', '1s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = report(r.stdout);
    expect(o.netns).toBe(quiet);
    expect(o.os).toBe('linux');
    expect(o.intervalSeconds).toBeGreaterThan(0.9);
    expect(o.settings['net.ipv4.tcp_syncookies']).toBe(1);
    expect(above(o, 'info')).toEqual([]);
    expect(find(o, 'listen-queue').severity).toBe('ok');
    expect(find(o, 'listen-queue').evidence[0]).toMatch(/^ListenOverflows \+0 in 1\.\d s/);
  });

  it('a real listen-queue overflow (backlog 1, never accepted, 20 connects) is reported', async () => {
    const listener = spawn('ip', ['netns', 'exec', listen, process.execPath, '-e', LISTENER], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(listener);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the listener did not start within 10 s')), 10_000);
      listener.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      listener.on('close', (code) => reject(new Error(`the listener exited early (${code})`)));
    });

    const doctor = spawn(process.execPath, [BIN, 'doctor', '--json', '--netns', listen, '--interval', '4s'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(doctor);
    const io = collect(doctor);
    const doctorDone = exited(doctor, 30_000);
    await new Promise((r) => setTimeout(r, 1000)); // its first read is done by now, or soon
    const connects = spawn('ip', ['netns', 'exec', listen, process.execPath, '-e', burst(20)], {
      stdio: 'ignore',
    });
    children.push(connects);
    expect(await exited(connects, 10_000)).toBe(0);
    const code = await doctorDone;
    expect(io.err()).toBe('');
    expect([1, 4]).toContain(code);
    const o = report(io.out());
    expect(o.netns).toBe(listen);
    const f = find(o, 'listen-queue');
    expect(['warning', 'critical']).toContain(f.severity);
    expect(f.topic).toBe('queue-full');
    expect(f.title).toMatch(/Listen queue overflowing/);
    const ev = f.evidence.join('\n');
    expect(ev).toMatch(/ListenOverflows \+[1-9]\d* in 4\.\d s \(\d+\.\d+\/s\)/);
    expect(ev).toMatch(/net\.core\.somaxconn = \d+/);
    expect(ev).toMatch(/net\.ipv4\.tcp_max_syn_backlog = \d+/);
    // The listener that is full: ss shows its backlog, /proc/net/tcp only its queue.
    expect(ev).toMatch(/listener 127\.0\.0\.1:8080: [2-9]\d* waiting to be accepted/);
    expect(o.worst).toBe(f.severity);
    listener.kill('SIGKILL');
  });

  it('SYN cookies switched off inside a namespace (only there) are reported, exit 1', () => {
    const hostBefore = readFileSync('/proc/sys/net/ipv4/tcp_syncookies', 'utf8');
    // In the namespace only: `ip netns exec` opens /proc/sys/net from inside it.
    let set = inNetns(cookies, ['sysctl', '-q', '-w', 'net.ipv4.tcp_syncookies=0']);
    if (set !== 0) set = inNetns(cookies, ['sh', '-c', 'echo 0 > /proc/sys/net/ipv4/tcp_syncookies']);
    expect(set).toBe(0);
    const r = cli(['doctor', '--json', '--netns', cookies, '--interval', '0']);
    expect(r.code).toBe(1);
    const o = report(r.stdout);
    expect(o.settings['net.ipv4.tcp_syncookies']).toBe(0);
    const f = find(o, 'syncookies');
    expect(f.severity).toBe('warning');
    expect(f.fix).toBe('rstwatch syncookies enable --persist');
    expect(f.evidence).toContain('net.ipv4.tcp_syncookies = 0');
    expect(o.worst).toBe('warning');
    // The host is untouched, and a doctor of the host does not see the namespace's setting.
    expect(readFileSync('/proc/sys/net/ipv4/tcp_syncookies', 'utf8')).toBe(hostBefore);
    const t = cli(['doctor', '--netns', cookies, '--interval', '0']);
    expect(t.code).toBe(1);
    expect(t.stdout).toContain(`namespace ${cookies}`);
    expect(t.stdout).toContain('WARNING   SYN cookies are off');
  });
});

function inNetns(netns: string, argv: string[]): number | null {
  return spawnSync('ip', ['netns', 'exec', netns, ...argv], { stdio: 'ignore', timeout: 10_000 }).status;
}
