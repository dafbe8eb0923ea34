/**
 * A capture from preparation to the valid file, with test/fixtures/bin/fake-tcpdump standing in for tcpdump
 * (it writes a real pcap and answers SIGINT as tcpdump does), so no root and no interface traffic is needed.
 * The same paths run against the real tcpdump in test/e2e/capture.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type CaptureEnv, CaptureRun, type CaptureSpec, prepareCapture } from '../../src/capture/capture.js';
import type { CommandRunner } from '../../src/collect/types.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { readCapture } from '../../src/packet/reader.js';
import { FIXTURES } from '../helpers/paths.js';

const FAKE = `${FIXTURES}/bin/fake-tcpdump`;
const tmp = mkdtempSync(join(tmpdir(), 'rw-caprun-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  for (const k of [
    'FAKE_TCPDUMP_MODE',
    'FAKE_TCPDUMP_LOG',
    'FAKE_TCPDUMP_INTERVAL_MS',
    'FAKE_TCPDUMP_PIDFILE',
  ])
    delete process.env[k];
});

let seq = 0;
function spec(o: Partial<CaptureSpec> = {}): CaptureSpec {
  seq++;
  return {
    iface: 'lo',
    limits: { durationSeconds: 0.6, maxBytes: 256 * 1024 * 1024 },
    file: join(tmp, `c${seq}.pcap`),
    format: 'pcap',
    ...o,
  };
}
const ENV: CaptureEnv = { os: 'linux', tcpdumpPath: FAKE, backstop: false, pollMs: 50, drainMs: 0 };

function logOf(): { file: string; calls: () => string[][] } {
  const file = join(tmp, `log-${++seq}.jsonl`);
  process.env.FAKE_TCPDUMP_LOG = file;
  return {
    file,
    calls: () => {
      try {
        return readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as string[]);
      } catch {
        return [];
      }
    },
  };
}

async function failure(p: Promise<unknown>): Promise<RstwatchError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RstwatchError) return e;
    throw e;
  }
  throw new Error('did not fail');
}

/** Every record of the file, read by our reader: the file must be a valid capture. */
async function validPackets(file: string): Promise<number> {
  const s = await readCapture(file, () => undefined);
  expect(s.problems).toEqual([]);
  expect(s.partial).toBe(false);
  return s.packets;
}

describe('a capture run with a stand-in tcpdump', () => {
  it('stops at the duration with SIGINT and leaves a valid file with every packet counted', async () => {
    const run = new CaptureRun(await prepareCapture(spec(), ENV), ENV);
    await run.ready;
    const r = await run.done;
    expect(r.error).toBeUndefined();
    expect(r.stoppedBy).toBe('duration');
    expect(r.elapsedSeconds).toBeGreaterThanOrEqual(0.55);
    expect(r.elapsedSeconds).toBeLessThan(5);
    expect(r.packets).toBeGreaterThan(5);
    expect(await validPackets(r.file)).toBe(r.packets);
    expect(r.bytes).toBe(statSync(r.file).size);
    expect(r.rsts).toBe(r.packets);
    expect(r.kernelDrops).toBe(0);
    expect(r.top.map((t) => t.key).sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  });

  it('shows live progress read from the growing file', async () => {
    process.env.FAKE_TCPDUMP_INTERVAL_MS = '10';
    const run = new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 2, maxBytes: 1 << 20 } }), ENV),
      ENV,
    );
    await run.ready;
    await new Promise((r) => setTimeout(r, 700));
    const p = run.progress();
    expect(run.running).toBe(true);
    expect(p.packets).toBeGreaterThan(5);
    expect(p.rsts).toBe(p.packets);
    expect(p.bytes).toBeGreaterThan(24);
    expect(p.elapsedSeconds).toBeGreaterThan(0.5);
    expect(p.top[0]?.key).toMatch(/^10\.0\.0\.[123]$/);
    run.stop();
    const r = await run.done;
    expect(r.stoppedBy).toBe('interrupted');
    expect(r.error).toBeUndefined();
    expect(r.packets).toBeGreaterThanOrEqual(p.packets);
  });

  it('waits before SIGINT so the last packets reach the file (drain), but not on the packet limit', async () => {
    const env = { ...ENV, drainMs: 600 };
    const run = new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 10, maxBytes: 1 << 20 } }), env),
      env,
    );
    await run.ready;
    await new Promise((r) => setTimeout(r, 300));
    const asked = run.progress().elapsedSeconds;
    run.stop();
    expect(run.running).toBe(true);
    const r = await run.done;
    expect(r.stoppedBy).toBe('interrupted');
    expect(r.elapsedSeconds - asked).toBeGreaterThanOrEqual(0.55);
    expect(r.elapsedSeconds - asked).toBeLessThan(3);
  });

  it('the packet limit is tcpdump -c: it stops by itself', async () => {
    const log = logOf();
    const r = await new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 30, maxPackets: 7, maxBytes: 1 << 20 } }), ENV),
      ENV,
    ).done;
    expect(r.error).toBeUndefined();
    expect(r.stoppedBy).toBe('packets');
    expect(r.packets).toBe(7);
    expect(await validPackets(r.file)).toBe(7);
    const capture = log.calls().find((a) => !a.includes('-d'))!;
    expect(capture.slice(capture.indexOf('-c'), capture.indexOf('-c') + 2)).toEqual(['-c', '7']);
  });

  it('the byte limit: stops, and the file never exceeds it', async () => {
    process.env.FAKE_TCPDUMP_INTERVAL_MS = '2';
    const r = await new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 30, maxBytes: 4096 } }), ENV),
      ENV,
    ).done;
    expect(r.error).toBeUndefined();
    expect(r.stoppedBy).toBe('bytes');
    expect(statSync(r.file).size).toBeLessThanOrEqual(4096);
    expect(statSync(r.file).size).toBeGreaterThan(4096 - 70);
    expect(await validPackets(r.file)).toBe(r.packets);
  });

  it('a record torn at the end (as a full disk leaves it) is cut off', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'torn';
    const r = await new CaptureRun(await prepareCapture(spec(), ENV), ENV).done;
    expect(r.error).toBeUndefined();
    expect(r.cutBytes).toBe(30);
    expect(await validPackets(r.file)).toBe(r.packets);
  });

  it('tcpdump failing mid-capture: E_CAPTURE_TCPDUMP with its message, the packets before are kept', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'die';
    const r = await new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 10, maxBytes: 1 << 20 } }), ENV),
      ENV,
    ).done;
    expect(r.error?.code).toBe('E_CAPTURE_TCPDUMP');
    expect(r.error?.message).toContain('The interface went down');
    expect(r.stoppedBy).toBe('tcpdump-exited');
    expect(await validPackets(r.file)).toBe(3);
  });

  it('tcpdump killed by someone else: said so, the file is still valid', async () => {
    const pidFile = join(tmp, 'fake.pid');
    process.env.FAKE_TCPDUMP_PIDFILE = pidFile;
    const run = new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 10, maxBytes: 1 << 20 } }), ENV),
      ENV,
    );
    await run.ready;
    await new Promise((r) => setTimeout(r, 300));
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    const r = await run.done;
    expect(r.error?.code).toBe('E_CAPTURE_TCPDUMP');
    expect(r.error?.message).toMatch(/killed by SIGKILL \(not by rstwatch\)/);
    expect(r.packets).toBeGreaterThan(0);
    expect(await validPackets(r.file)).toBe(r.packets);
  });

  it('a tcpdump that ignores SIGINT is terminated, then killed, and the file kept', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'ignore-int';
    const env = { ...ENV, stopGraceMs: 300 };
    const r = await new CaptureRun(
      await prepareCapture(spec({ limits: { durationSeconds: 0.3, maxBytes: 1 << 20 } }), env),
      env,
    ).done;
    expect(r.error?.code).toBe('E_CAPTURE_TCPDUMP');
    expect(r.error?.message).toMatch(/did not stop/);
    expect(await validPackets(r.file)).toBe(r.packets);
  });

  it('a tcpdump that never starts listening is stopped after the start timeout', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'silent';
    const env = { ...ENV, startTimeoutSeconds: 0.5 };
    const r = await new CaptureRun(await prepareCapture(spec(), env), env).done;
    expect(r.error?.code).toBe('E_CAPTURE_TCPDUMP');
    expect(r.error?.message).toMatch(/did not start capturing/);
  });

  it('through the timeout(1) backstop: same arguments to tcpdump, SIGINT still stops it cleanly', async () => {
    const log = logOf();
    const env = { ...ENV, backstop: true };
    const prepared = await prepareCapture(spec(), env);
    expect(prepared.timeoutPath).toMatch(/\/timeout$/);
    const r = await new CaptureRun(prepared, env).done;
    expect(r.error).toBeUndefined();
    expect(r.stoppedBy).toBe('duration');
    expect(await validPackets(r.file)).toBe(r.packets);
    const capture = log.calls().find((a) => !a.includes('-d'))!;
    expect(capture).toEqual([
      '-n',
      '-i',
      'lo',
      '-U',
      '-B',
      '4096',
      '-w',
      prepared.rawFile,
      '--',
      prepared.filter,
    ]);
  });

  it('pcapng: captured as pcap, converted, the temporary file removed', async () => {
    const s = spec({ format: 'pcapng', file: join(tmp, 'n.pcapng') });
    const prepared = await prepareCapture(s, ENV);
    expect(prepared.rawFile).toBe(`${s.file}.part.pcap`);
    const r = await new CaptureRun(prepared, ENV).done;
    expect(r.error).toBeUndefined();
    expect(r.file).toBe(s.file);
    expect(r.format).toBe('pcapng');
    const sum = await readCapture(r.file, () => undefined);
    expect(sum.format).toBe('pcapng');
    expect(sum.packets).toBe(r.packets);
    expect(() => statSync(prepared.rawFile)).toThrow();
  });
});

describe('prepareCapture refuses before anything runs', () => {
  it('no tcpdump: E_CAPTURE_NO_TCPDUMP with the install commands', async () => {
    const e = await failure(prepareCapture(spec(), { os: 'linux', pathEnv: join(tmp, 'empty-bin') }));
    expect(e.code).toBe('E_CAPTURE_NO_TCPDUMP');
    expect(e.message).toMatch(/tcpdump is not installed/);
    expect(e.hint).toContain('apt-get install tcpdump');
  });

  it.each([
    ['perm', 'E_CAPTURE_PERMISSION'],
    ['nodev', 'E_CAPTURE_BAD_IFACE'],
    ['syntax', 'E_CAPTURE_FILTER'],
  ])('tcpdump -d failing with mode %s → %s', async (mode, code) => {
    process.env.FAKE_TCPDUMP_MODE = mode;
    expect((await failure(prepareCapture(spec(), ENV))).code).toBe(code);
  });

  it('an odd interface name is refused before tcpdump is ever run', async () => {
    const log = logOf();
    const e = await failure(prepareCapture(spec({ iface: 'lo;reboot' }), ENV));
    expect(e.code).toBe('E_CAPTURE_BAD_IFACE');
    expect(log.calls()).toEqual([]);
  });

  it('an interface that does not exist is refused (sysfs)', async () => {
    const log = logOf();
    const e = await failure(prepareCapture(spec({ iface: 'nosuch0' }), ENV));
    expect(e.code).toBe('E_CAPTURE_BAD_IFACE');
    expect(e.message).toBe('there is no interface named nosuch0 here');
    expect(log.calls()).toEqual([]);
  });

  it('an unbalanced --filter is refused with its column', async () => {
    const e = await failure(prepareCapture(spec({ userFilter: 'port 80) or (udp' }), ENV));
    expect(e.code).toBe('E_CAPTURE_FILTER');
    expect(e.column).toBe(8);
  });

  it('a folder that does not exist: E_CAPTURE_WRITE', async () => {
    const e = await failure(prepareCapture(spec({ file: join(tmp, 'no', 'such', 'x.pcap') }), ENV));
    expect(e.code).toBe('E_CAPTURE_WRITE');
  });

  it('the user filter is ANDed and passed as one argument to tcpdump -d', async () => {
    const log = logOf();
    const p = await prepareCapture(spec({ userFilter: ' port 443 ' }), ENV);
    expect(p.filter.startsWith('((port 443) and (')).toBe(true);
    expect(log.calls()).toEqual([['-d', '-i', 'lo', '--', p.filter]]);
  });

  it('a link without VLAN support (tcpdump -d says so): the filter is rebuilt without the VLAN branches', async () => {
    process.env.FAKE_TCPDUMP_MODE = 'novlan';
    const sys = join(tmp, 'sys-eth');
    mkdirSync(join(sys, 'class', 'net', 'weird0'), { recursive: true }); // no `type` file: unknown link
    const log = logOf();
    const p = await prepareCapture(spec({ iface: 'weird0' }), { ...ENV, sysRoot: sys });
    expect(p.vlan).toBe(false);
    expect(p.filter).not.toContain('vlan');
    const calls = log.calls();
    expect(calls).toHaveLength(2);
    expect(calls[0]![4]).toContain('vlan');
    expect(calls[1]![4]).toBe(p.filter);
  });

  it.each([
    ['65534', false], // ARPHRD_NONE (tun)
    ['1', true], // Ethernet
    ['772', true], // loopback
  ])('sysfs link type %s → VLAN branches %s', async (type, vlan) => {
    const sys = join(tmp, `sys-${type}`);
    mkdirSync(join(sys, 'class', 'net', 'if0'), { recursive: true });
    writeFileSync(join(sys, 'class', 'net', 'if0', 'type'), `${type}\n`);
    const p = await prepareCapture(spec({ iface: 'if0' }), { ...ENV, sysRoot: sys });
    expect(p.vlan).toBe(vlan);
    expect(p.filter.includes('vlan')).toBe(vlan);
  });

  it('Linux `any` is cooked: no VLAN branches, no retry', async () => {
    const log = logOf();
    const p = await prepareCapture(spec({ iface: undefined }), ENV);
    expect(p.iface).toBe('any');
    expect(p.vlan).toBe(false);
    expect(log.calls()).toHaveLength(1);
  });

  describe('FreeBSD', () => {
    const calls: string[] = [];
    const run: CommandRunner = async (cmd, args) => {
      calls.push(`${cmd} ${args.slice(0, 3).join(' ')}`);
      if (cmd === 'route') return { code: 0, stdout: '  route to: default\n  interface: em0\n', stderr: '' };
      if (cmd === 'ifconfig') return { code: 0, stdout: 'em0 lo0 vtnet1\n', stderr: '' };
      return { code: 0, stdout: '(000) ret #262144\n', stderr: '' };
    };
    const bsd: CaptureEnv = { os: 'freebsd', tcpdumpPath: FAKE, run, backstop: false };

    it('defaults to the interface of the default route (there is no "any")', async () => {
      const p = await prepareCapture(spec({ iface: undefined }), bsd);
      expect(p.iface).toBe('em0');
      expect(p.vlan).toBe(true);
      expect(calls).toContain('route -n get default');
    });

    it('refuses "any" and interfaces ifconfig -l does not list', async () => {
      expect((await failure(prepareCapture(spec({ iface: 'any' }), bsd))).code).toBe('E_CAPTURE_BAD_IFACE');
      expect((await failure(prepareCapture(spec({ iface: 'em7' }), bsd))).code).toBe('E_CAPTURE_BAD_IFACE');
    });

    it('without a default route: a clear error asking for -i', async () => {
      const noRoute: CommandRunner = async (cmd, args) =>
        cmd === 'route' ? { code: 1, stdout: '', stderr: 'route: route has not been found' } : run(cmd, args);
      const e = await failure(prepareCapture(spec({ iface: undefined }), { ...bsd, run: noRoute }));
      expect(e.code).toBe('E_CAPTURE_BAD_IFACE');
      expect(e.hint).toMatch(/-i/);
    });
  });
});
