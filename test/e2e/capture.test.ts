/**
 * `rstwatch capture` against the real kernel and the real tcpdump, in two network namespaces joined by a veth
 * pair (with a VLAN on top): a bounded generator makes known refused connects and aborts over IPv4, IPv6 and
 * the VLAN; the capture must hold exactly the RSTs tshark finds on an unfiltered reference capture of the same
 * interface, and its analysis must name the refused connections. Then every failure path: not root, no
 * tcpdump, a bad interface, a full disk, tcpdump killed, Ctrl-C.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCapture } from '../../src/packet/reader.js';
import { netnsAvailable } from '../helpers/netns.js';
import { BIN, requireCapability } from '../helpers/paths.js';

const isRoot = process.getuid?.() === 0;
const haveNetns = netnsAvailable();
const haveTools = ['tcpdump', 'tshark', 'setpriv', 'timeout'].every(
  (c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0,
);
requireCapability(haveTools, 'tcpdump, tshark, setpriv and timeout');
if (!haveTools) console.warn('SKIPPED: capture e2e tests need tcpdump, tshark, setpriv and timeout');
const ok = isRoot && haveNetns && haveTools;

const tag = `rwcap${process.pid % 100000}`;
const NS_A = `${tag}-a`;
const NS_B = `${tag}-b`;
/** The "switch" namespace holding the VLAN-tagged wire. */
const NS_M = `${tag}-m`;
const tmp = mkdtempSync(join(tmpdir(), 'rw-cap-e2e-'));
chmodSync(tmp, 0o777);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Untagged: A vA — vB B. Over the VLAN: A wA — mA [M: mT1 ≡tag 100≡ mT2] mB — wB B. */
const NET = {
  a4: '10.231.0.1',
  b4: '10.231.0.2',
  a6: 'fd31::1',
  b6: 'fd31::2',
  va4: '10.231.100.1',
  vb4: '10.231.100.2',
  va6: 'fd31:100::1',
  vb6: 'fd31:100::2',
};

/**
 * The test kernel has no 802.1Q module (CONFIG_VLAN_8021Q unset) nor tc's vlan action, so the tags are put on
 * by a small user-space switch in namespace M (Python, AF_PACKET): frames from A (mA) leave on mT1 with VLAN
 * tag 100 and arrive tagged on mT2, go on untagged to B (mB); and back. The kernel moves a received tag into
 * the packet's metadata and libpcap puts it back (field guide §3.2), so a capture on mT2 holds 802.1Q frames
 * both ways. TCP checksums are recomputed because veth leaves them to "hardware" (CHECKSUM_PARTIAL) and a
 * frame re-sent through a packet socket is checked in full by the receiver.
 */
const SWITCH_PY = String.raw`
import select, socket, struct, sys, time
names = sys.argv[1:5]
deadline = time.time() + float(sys.argv[5])
socks = []
for n in names:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((n, 0))
    socks.append(s)
# mA -> mT1 (tag), mT2 -> mB (untag), mB -> mT2 (tag), mT1 -> mA (untag)
route = {0: (1, True), 2: (3, False), 3: (2, True), 1: (0, False)}
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return (~t) & 0xffff
def fix_tcp(f):
    et = struct.unpack('!H', f[12:14])[0]
    if et == 0x0800 and f[23] == 6:
        ihl = (f[14] & 15) * 4; total = struct.unpack('!H', f[16:18])[0]
        a, b = 14 + ihl, 14 + total
        pseudo = f[26:34] + struct.pack('!BBH', 0, 6, b - a)
    elif et == 0x86dd and f[20] == 6:
        a = 54; b = 54 + struct.unpack('!H', f[18:20])[0]
        pseudo = f[22:54] + struct.pack('!IxxxB', b - a, 6)
    else:
        return f
    seg = bytearray(f[a:b]); seg[16:18] = b'\0\0'
    seg[16:18] = struct.pack('!H', csum(pseudo + bytes(seg)))
    return f[:a] + bytes(seg) + f[b:]
print('up', flush=True)
while time.time() < deadline:
    ready, _, _ = select.select(socks, [], [], 0.5)
    for s in ready:
        data, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING: continue
        i = socks.index(s); out, tag = route[i]
        if data[12:14] == b'\x81\x00': data = data[:12] + data[16:]
        data = fix_tcp(data)
        if tag: data = data[:12] + b'\x81\x00' + struct.pack('!H', 100) + data[12:]
        socks[out].send(data)
`;

function veth(a: string, nsA: string, b: string, nsB: string): void {
  ip('link', 'add', a, 'netns', nsA, 'type', 'veth', 'peer', 'name', b, 'netns', nsB);
}

function addrs(ns: string, dev: string, v4: string, v6: string): void {
  ip('-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev);
  ip('-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
  ip('-n', ns, 'link', 'set', dev, 'up');
}

let vlanSwitch: ChildProcess | undefined;
async function setupNamespaces(): Promise<void> {
  for (const ns of [NS_A, NS_B, NS_M]) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  veth('vA', NS_A, 'vB', NS_B);
  addrs(NS_A, 'vA', NET.a4, NET.a6);
  addrs(NS_B, 'vB', NET.b4, NET.b6);
  veth('wA', NS_A, 'mA', NS_M);
  veth('wB', NS_B, 'mB', NS_M);
  veth('mT1', NS_M, 'mT2', NS_M);
  addrs(NS_A, 'wA', NET.va4, NET.va6);
  addrs(NS_B, 'wB', NET.vb4, NET.vb6);
  for (const dev of ['mA', 'mB', 'mT1', 'mT2']) ip('-n', NS_M, 'link', 'set', dev, 'up');
  const py = join(tmp, 'vlan-switch.py');
  writeFileSync(py, SWITCH_PY);
  vlanSwitch = spawn('ip', ['netns', 'exec', NS_M, 'python3', py, 'mA', 'mT1', 'mT2', 'mB', '170'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    vlanSwitch!.stdout!.once('data', () => resolve());
    vlanSwitch!.once('exit', (c) => reject(new Error(`the VLAN switch exited ${c}`)));
  });
}

/** A server in B on port 8080 (the aborts' target), dual-stack; port 9 stays closed (the refusals). */
let server: ChildProcess | undefined;
function startServer(): Promise<void> {
  const script = `
    const net = require('node:net');
    const s = net.createServer((c) => { c.on('data', () => {}); c.on('error', () => {}); });
    s.listen(8080, '::', () => process.stdout.write('up\\n'));
    setTimeout(() => process.exit(0), 170000);`;
  server = spawn('ip', ['netns', 'exec', NS_B, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    server!.stdout!.once('data', () => resolve());
    server!.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
}

interface Traffic {
  refused: Record<string, number>;
  aborts: Record<string, number>;
}

/**
 * From A: `refused` connects to B's closed port 9 and `aborts` (connect, send, then RST via resetAndDestroy,
 * i.e. SO_LINGER 0) to B's port 8080, per destination address. Bounded: each connect waits at most 2 s.
 */
function generate(t: Traffic): { refused: number; aborts: number } {
  const script = `
    const net = require('node:net');
    const plan = ${JSON.stringify(t)};
    const one = (host, port, abort) => new Promise((done) => {
      const s = net.connect({ host, port, timeout: 2000 });
      s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code));
      s.on('timeout', () => { s.destroy(); done('timeout'); });
      s.on('connect', () => {
        if (!abort) { s.destroy(); return done('connected'); }
        s.write('hello', () => setTimeout(() => { s.resetAndDestroy(); done('aborted'); }, 20));
      });
    });
    (async () => {
      const got = { refused: 0, aborts: 0 };
      for (const [h, n] of Object.entries(plan.refused)) for (let i = 0; i < n; i++) if (await one(h, 9, false) === 'refused') got.refused++;
      for (const [h, n] of Object.entries(plan.aborts)) for (let i = 0; i < n; i++) if (await one(h, 8080, true) === 'aborted') got.aborts++;
      process.stdout.write(JSON.stringify(got));
    })();`;
  const out = execFileSync('ip', ['netns', 'exec', NS_A, process.execPath, '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as { refused: number; aborts: number };
}

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const p: Proc = { child, stdout: '', stderr: '', exit: Promise.resolve(null) };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    p.stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    p.stderr += d;
  });
  p.exit = new Promise((r) => child.on('close', (code) => r(code)));
  return p;
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `rstwatch capture …` inside a namespace (B unless said). */
function captureIn(args: string[], ns = NS_B): Proc {
  return start('ip', ['netns', 'exec', ns, process.execPath, BIN, 'capture', ...args]);
}

/** Unfiltered reference capture of an interface (in B unless said). */
async function reference(iface: string, file: string, ns = NS_B): Promise<Proc> {
  const p = start('ip', [
    'netns',
    'exec',
    ns,
    'tcpdump',
    '-n',
    '-i',
    iface,
    '-U',
    '--immediate-mode',
    '-w',
    file,
  ]);
  await until('the reference tcpdump', () => p.stderr.includes('listening on'));
  return p;
}

/** Every RST in a file, as tshark sees it: addresses, ports, raw seq/ack, flags, VLAN id; sorted. */
function tsharkRsts(file: string): string[] {
  const r = spawnSync(
    'tshark',
    [
      '-n',
      '-r',
      file,
      '-Y',
      'tcp.flags.reset==1',
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'ip.src',
      '-e',
      'ipv6.src',
      '-e',
      'tcp.srcport',
      '-e',
      'ip.dst',
      '-e',
      'ipv6.dst',
      '-e',
      'tcp.dstport',
      '-e',
      'tcp.seq_raw',
      '-e',
      'tcp.ack_raw',
      '-e',
      'tcp.flags',
      '-e',
      'vlan.id',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`tshark ${file}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function validCapture(file: string): Promise<number> {
  const s = await readCapture(file, () => undefined);
  expect(s.problems).toEqual([]);
  const t = spawnSync('tshark', ['-n', '-r', file], { encoding: 'utf8' });
  expect(t.status).toBe(0);
  expect(t.stderr).not.toMatch(/cut short|appears to be damaged|corrupt/i);
  return s.packets;
}

interface CaptureJson {
  capture: {
    state: string;
    packets: number;
    rsts: number;
    stoppedBy: string;
    file: string;
    error?: { code: string };
  };
  analysis: {
    summary: { rsts: number };
    causes: { cause: string; count: number; byConfidence: Record<string, number> }[];
  } | null;
}

describe.skipIf(!ok)('rstwatch capture in network namespaces (real kernel, real tcpdump)', () => {
  beforeAll(async () => {
    await setupNamespaces();
    await startServer();
  }, 60_000);
  afterAll(() => {
    server?.kill('SIGKILL');
    vlanSwitch?.kill('SIGKILL');
    for (const ns of [NS_A, NS_B, NS_M]) spawnSync('ip', ['netns', 'del', ns]);
  });

  it('holds exactly the RSTs tshark finds on the interface (IPv4, IPv6) and names the refused connections', async () => {
    const ref = await reference('vB', join(tmp, 'ref.pcap'));
    const out = join(tmp, 'ours.pcap');
    const cap = captureIn(['-i', 'vB', '--duration', '5s', '-w', out, '--json']);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets on vB'));
    const made = generate({ refused: { [NET.b4]: 12, [NET.b6]: 10 }, aborts: { [NET.b4]: 4, [NET.b6]: 3 } });
    expect(made).toEqual({ refused: 22, aborts: 7 });
    expect(await cap.exit).toBe(0);
    ref.child.kill('SIGINT');
    await ref.exit;

    const refRsts = tsharkRsts(join(tmp, 'ref.pcap'));
    const ours = tsharkRsts(out);
    expect(refRsts).toHaveLength(22 + 7); // one RST per refused connect and per abort
    expect(ours).toEqual(refRsts);
    expect(ours.filter((l) => l.includes('fd31'))).toHaveLength(10 + 3);

    const j = JSON.parse(cap.stdout) as CaptureJson;
    expect(j.capture).toMatchObject({ state: 'done', stoppedBy: 'duration', file: out, rsts: 29 });
    expect(j.capture.packets).toBe(await validCapture(out));
    expect(j.analysis?.summary.rsts).toBe(29);
    const refused = j.analysis?.causes.find((c) => c.cause === 'refused');
    expect(refused?.count).toBe(22);
    expect(refused?.byConfidence.certain).toBe(22);
  }, 90_000);

  it('on a VLAN-tagged veth: exactly the tagged RSTs tshark finds (IPv4, IPv6), refused named', async () => {
    const ref = await reference('mT2', join(tmp, 'ref-vlan.pcap'), NS_M);
    const out = join(tmp, 'vlan.pcap');
    const cap = captureIn(['-i', 'mT2', '--duration', '5s', '-w', out, '--json'], NS_M);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets on mT2'));
    const made = generate({
      refused: { [NET.vb4]: 8, [NET.vb6]: 6 },
      aborts: { [NET.vb4]: 3, [NET.vb6]: 2 },
    });
    expect(made).toEqual({ refused: 14, aborts: 5 });
    expect(await cap.exit).toBe(0);
    ref.child.kill('SIGINT');
    await ref.exit;

    const refRsts = tsharkRsts(join(tmp, 'ref-vlan.pcap'));
    expect(refRsts).toHaveLength(14 + 5);
    expect(refRsts.every((l) => l.endsWith('|100'))).toBe(true); // every one of them 802.1Q-tagged
    expect(tsharkRsts(out)).toEqual(refRsts);
    const j = JSON.parse(cap.stdout) as CaptureJson;
    expect(j.capture.packets).toBe(await validCapture(out));
    expect(j.analysis?.causes.find((c) => c.cause === 'refused')?.count).toBe(14);
  }, 90_000);

  it('-i any: the cooked capture holds the same RSTs as an unfiltered `any` capture', async () => {
    const ref = await reference('any', join(tmp, 'ref-any.pcap'));
    const out = join(tmp, 'any.pcap');
    const cap = captureIn(['--duration', '4s', '-w', out, '--json', '--rst-only']);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets on any'));
    generate({ refused: { [NET.b4]: 3, [NET.b6]: 2, [NET.vb4]: 3, [NET.vb6]: 2 }, aborts: {} });
    expect(await cap.exit).toBe(0);
    ref.child.kill('SIGINT');
    await ref.exit;
    const refRsts = tsharkRsts(join(tmp, 'ref-any.pcap'));
    expect(refRsts).toHaveLength(10);
    expect(tsharkRsts(out)).toEqual(refRsts);
    const j = JSON.parse(cap.stdout) as CaptureJson;
    expect(j.capture.packets).toBe(refRsts.length); // --rst-only: nothing but RSTs
  }, 60_000);

  it('--max-packets stops the real tcpdump after N packets', async () => {
    const out = join(tmp, 'max.pcap');
    const cap = captureIn([
      '-i',
      'vB',
      '--duration',
      '30s',
      '--max-packets',
      '5',
      '--rst-only',
      '-w',
      out,
      '--no-analyze',
    ]);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets'));
    generate({ refused: { [NET.b4]: 8 }, aborts: {} });
    expect(await cap.exit).toBe(0);
    expect(cap.stderr).toContain('(packet limit reached)');
    expect(await validCapture(out)).toBe(5);
  }, 60_000);

  it('--max-duration raises the 5-minute cap (here a 6-minute capture, ended by its packet limit)', async () => {
    const out = join(tmp, 'long.pcap');
    const cap = captureIn([
      '-i',
      'vB',
      '--duration',
      '6m',
      '--max-duration',
      '6m',
      '--max-packets',
      '1',
      '--rst-only',
      '-w',
      out,
      '--no-analyze',
    ]);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets'));
    expect(cap.stderr).toContain('at most 360 s, 1 packets');
    generate({ refused: { [NET.b4]: 1 }, aborts: {} });
    expect(await cap.exit).toBe(0);
    expect(await validCapture(out)).toBe(1);
  }, 60_000);

  it('Ctrl-C (SIGINT) stops it early: exit 0, a valid file, and the analysis', async () => {
    const out = join(tmp, 'int.pcap');
    const cap = captureIn(['-i', 'vB', '--duration', '60s', '-w', out, '--json']);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets'));
    generate({ refused: { [NET.b6]: 4 }, aborts: {} });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    // ip netns exec execs node, so the pid is rstwatch's own.
    cap.child.kill('SIGINT');
    expect(await cap.exit).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const j = JSON.parse(cap.stdout) as CaptureJson;
    expect(j.capture.stoppedBy).toBe('interrupted');
    expect(j.analysis?.causes.find((c) => c.cause === 'refused')?.count).toBe(4);
    expect(await validCapture(out)).toBe(j.capture.packets);
  }, 60_000);

  it('tcpdump killed mid-capture: E_CAPTURE_TCPDUMP, exit 3, and the file written so far is valid', async () => {
    const out = join(tmp, 'killed.pcap');
    const cap = captureIn(['-i', 'vB', '--duration', '60s', '-w', out, '--json']);
    await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets'));
    generate({ refused: { [NET.b4]: 5 }, aborts: {} });
    await until('the RSTs in the file', () => tsharkRsts(out).length === 5, 10_000);
    const pid = tcpdumpWriting(out);
    process.kill(pid, 'SIGKILL');
    expect(await cap.exit).toBe(3);
    expect(cap.stderr).toMatch(/E_CAPTURE_TCPDUMP: tcpdump was killed by SIGKILL \(not by rstwatch\)/);
    const j = JSON.parse(cap.stdout) as CaptureJson;
    expect(j.capture.state).toBe('failed');
    expect(tsharkRsts(out)).toHaveLength(5);
    expect(await validCapture(out)).toBe(j.capture.packets);
  }, 60_000);

  it('disk full while capturing: E_CAPTURE_DISK_FULL, exit 3, and what was captured is a valid file', async () => {
    const mnt = join(tmp, 'small');
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', `${tag}-full`, mnt]);
    try {
      const out = join(mnt, 'full.pcap');
      const cap = captureIn(['-i', 'vB', '--duration', '60s', '-w', out, '--json']);
      await until('rstwatch capture to listen', () => cap.stderr.includes('capturing TCP resets'));
      generate({ refused: { [NET.b4]: 6 }, aborts: {} });
      await until('the first RSTs in the file', () => tsharkRsts(out).length === 6, 10_000);
      // Someone else fills the file system to the last byte.
      let size = 2 * 1024 * 1024;
      while (size >= 1) {
        try {
          writeFileSync(join(mnt, 'filler'), Buffer.alloc(size), { flag: 'a' });
        } catch {
          size = Math.floor(size / 2);
        }
      }
      generate({ refused: { [NET.b4]: 20 }, aborts: {} });
      const code = await Promise.race([
        cap.exit,
        new Promise((r) => setTimeout(() => r('still running'), 15_000)),
      ]);
      expect(code).toBe(3);
      expect(cap.stderr).toMatch(/E_CAPTURE_DISK_FULL: the file system of .* is nearly full/);
      const j = JSON.parse(cap.stdout) as CaptureJson;
      expect(j.capture).toMatchObject({
        state: 'failed',
        stoppedBy: 'disk-full',
        error: { code: 'E_CAPTURE_DISK_FULL' },
      });
      expect(tsharkRsts(out).length).toBeGreaterThanOrEqual(6);
      expect(await validCapture(out)).toBe(j.capture.packets);
    } finally {
      spawnSync('umount', ['-l', mnt]);
    }
  }, 90_000);

  it('a TTY gets a live line with elapsed time, packets and top sources', async () => {
    const out = join(tmp, 'tty.pcap');
    // script(1) gives the command a terminal; stdout then is that terminal.
    const cmd = `ip netns exec ${NS_B} ${process.execPath} ${BIN} capture -i vB --duration 3s -w ${out} --no-analyze`;
    const p = start('script', ['-qfec', cmd, '/dev/null']);
    await until('rstwatch capture to listen', () => p.stdout.includes('capturing TCP resets'));
    generate({ refused: { [NET.b4]: 4, [NET.b6]: 2 }, aborts: {} });
    expect(await p.exit).toBe(0);
    expect(p.stdout).toMatch(
      /\r\x1b\[K {2}\d+\.\d s \/ 3 s {2}\d+ packets \(6 RSTs\) .* top: 10\.231\.0\.2 ×4, fd31::2 ×2/,
    );
  }, 60_000);
});

/** The tcpdump process writing `file` (found by its command line, not by name alone). */
function tcpdumpWriting(file: string): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('tcpdump') && argv.includes(file)) return Number(d);
    } catch {
      // gone
    }
  }
  throw new Error(`no tcpdump writing ${file}`);
}

describe.skipIf(!(isRoot && haveTools))('rstwatch capture refuses clearly', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = process.env, asNobody = false) => {
    const cmd = asNobody ? 'setpriv' : process.execPath;
    const argv = asNobody
      ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'capture', ...args]
      : [BIN, 'capture', ...args];
    return spawnSync(cmd, argv, { encoding: 'utf8', env, timeout: 30_000 });
  };

  it('not root: E_CAPTURE_PERMISSION, exit 3, and it says to run as root', () => {
    const r = run(
      ['-i', 'lo', '--duration', '1s', '-w', join(tmp, 'nobody.pcap')],
      { PATH: process.env.PATH, HOME: '/nonexistent' },
      true,
    );
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/error: E_CAPTURE_PERMISSION: not allowed to capture on lo/);
    expect(r.stderr).toMatch(/hint: run as root/);
  });

  it('no tcpdump on PATH: E_CAPTURE_NO_TCPDUMP with the install commands', () => {
    const bin = join(tmp, 'bin-without-tcpdump');
    execFileSync('mkdir', ['-p', bin]);
    const r = run(['-i', 'lo', '--duration', '1s', '-w', join(tmp, 'x.pcap')], { PATH: bin });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('error: E_CAPTURE_NO_TCPDUMP: tcpdump is not installed');
    for (const s of [
      'apt-get install tcpdump',
      'dnf install tcpdump',
      'apk add tcpdump',
      'pkg install tcpdump',
    ])
      expect(r.stderr).toContain(s);
  });

  const never = join(tmp, 'never.pcap');
  it.each([
    [['-i', 'nosuch0', '-w', never], 'E_CAPTURE_BAD_IFACE: there is no interface named nosuch0 here'],
    [['-i', 'lo;id', '-w', never], 'E_CAPTURE_BAD_IFACE: interface "lo;id" is not a valid name'],
    [
      ['-i', 'lo', '--duration', '10m', '-w', never],
      'E_CAPTURE_LIMIT: a 600 s capture is longer than the 300 s cap',
    ],
    [['-i', 'lo', '--filter', 'port 80) or (udp', '-w', never], 'E_CAPTURE_FILTER: --filter column 8'],
    [['-i', 'lo', '--filter', 'port eighty', '-w', never], 'E_CAPTURE_FILTER: tcpdump rejects the filter'],
    [['-i', 'lo', '-w', '-'], 'E_USAGE'],
  ])('%j → exit 2, %s', (args, msg) => {
    const r = run(args);
    expect(r.stderr).toContain(msg);
    expect(r.status).toBe(2);
  });
});
