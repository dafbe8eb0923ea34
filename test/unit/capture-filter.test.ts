/**
 * The capture filter against the real libpcap: frames we build (IPv4, IPv4 with options and fragments,
 * IPv6, IPv6 behind an extension header, one and two VLAN tags, Linux cooked v2 as `-i any` writes it) are
 * written to pcap files, filtered with `tcpdump -r FILE <our filter>` (no root needed: the filter compiles for
 * the file's link type), and compared with what tshark's dissector says (`tcp.flags.reset==1`), and with
 * the corpus's RST-bearing files (census counts made with tshark).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkUserFilter, RST_IPV4, RST_IPV6, rstFilter } from '../../src/capture/filter.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { requireCapability, SHARED } from '../helpers/paths.js';

const has = (cmd: string) => spawnSync(cmd, ['--version'], { encoding: 'utf8' }).status === 0;
const tools = has('tcpdump') && has('tshark');
requireCapability(tools, 'tcpdump and tshark (scripts/setup-test-env.sh installs them)');
if (!tools) console.warn('SKIPPED: capture filter tests need tcpdump and tshark');

const tmp = mkdtempSync(join(tmpdir(), 'rw-capfilter-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---- frame builder ---------------------------------------------------------------------------------------
const F = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16 };

function tcp(sport: number, dport: number, flags: number): Buffer {
  const t = Buffer.alloc(20);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(1000, 4);
  t.writeUInt32BE(flags & F.ACK ? 5000 : 0, 8);
  t[12] = 0x50;
  t[13] = flags;
  t.writeUInt16BE(flags & F.RST ? 0 : 65535, 14);
  return t;
}

function ipv4(proto: number, payload: Buffer, o: { options?: number; fragOffset?: number } = {}): Buffer {
  const optBytes = (o.options ?? 0) * 4;
  const h = Buffer.alloc(20 + optBytes);
  h[0] = 0x40 | (5 + (o.options ?? 0));
  h.writeUInt16BE(h.length + payload.length, 2);
  h.writeUInt16BE(o.fragOffset ?? 0, 6); // offset in 8-byte units (flags 0)
  h[8] = 64;
  h[9] = proto;
  h.set([10, 0, 0, 1], 12);
  h.set([10, 0, 0, 2], 16);
  for (let i = 20; i < h.length; i++) h[i] = 1; // NOP options
  return Buffer.concat([h, payload]);
}

function ipv6(next: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payload.length, 4);
  h[6] = next;
  h[7] = 64;
  h[8] = 0xfd;
  h[23] = 1;
  h[24] = 0xfd;
  h[39] = 2;
  return Buffer.concat([h, payload]);
}

/** IPv6 with a hop-by-hop options header (8 bytes of PadN) before TCP. */
function ipv6HopByHop(payload: Buffer): Buffer {
  const hbh = Buffer.from([6, 0, 1, 4, 0, 0, 0, 0]);
  return ipv6(0, Buffer.concat([hbh, payload]));
}

/** Ethernet with optional tags, outermost first: [tpid, vid]. */
function eth(etherType: number, payload: Buffer, tags: [number, number][] = []): Buffer {
  const parts: Buffer[] = [Buffer.alloc(12, 0x02)];
  for (const [tpid, vid] of tags) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(tpid, 0);
    t.writeUInt16BE(vid, 2);
    parts.push(t);
  }
  const et = Buffer.alloc(2);
  et.writeUInt16BE(etherType, 0);
  parts.push(et, payload);
  return Buffer.concat(parts);
}

/** Linux cooked v2 (LINKTYPE 276), what tcpdump -i any writes. */
function sll2(proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(proto, 0);
  h.writeUInt32BE(2, 4);
  h.writeUInt16BE(1, 8);
  h[10] = 0;
  h[11] = 6;
  return Buffer.concat([h, payload]);
}

/** A pcap whose record n has ts_sec = n, so `tcpdump -tt` prints which frames matched. */
function writePcap(name: string, linkType: number, frames: Buffer[]): string {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(262144, 16);
  hdr.writeUInt32LE(linkType, 20);
  const recs = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(i + 1, 0);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  const path = join(tmp, name);
  writeFileSync(path, Buffer.concat([hdr, ...recs]));
  return path;
}

/** Frame numbers (1-based) that `tcpdump -r FILE FILTER` keeps. */
function bpfMatches(file: string, filter: string): number[] {
  const r = spawnSync('tcpdump', ['-nn', '-tt', '-r', file, '--', filter], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpdump: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => Number.parseInt(l, 10));
}

function tsharkMatches(file: string, display: string): number[] {
  const r = spawnSync('tshark', ['-n', '-r', file, '-Y', display, '-T', 'fields', '-e', 'frame.number'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`tshark: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

interface Case {
  name: string;
  frame: Buffer;
  rst?: boolean;
  /** A connection-opening SYN (SYN without ACK). */
  syn?: boolean;
  port80?: boolean;
  /** tshark sees an RST that a BPF filter on the fixed IPv6 header cannot (documented limitation). */
  gap?: boolean;
}

const V4 = 0x0800;
const V6 = 0x86dd;
const Q = 0x8100;
const AD = 0x88a8;
const CASES: Case[] = [
  {
    name: 'IPv4 RST+ACK :80',
    frame: eth(V4, ipv4(6, tcp(80, 40000, F.RST | F.ACK))),
    rst: true,
    port80: true,
  },
  { name: 'IPv4 bare RST :81', frame: eth(V4, ipv4(6, tcp(81, 40001, F.RST))), rst: true },
  { name: 'IPv4 SYN :80', frame: eth(V4, ipv4(6, tcp(40002, 80, F.SYN))), syn: true, port80: true },
  { name: 'IPv4 SYN-ACK', frame: eth(V4, ipv4(6, tcp(80, 40002, F.SYN | F.ACK))), port80: true },
  { name: 'IPv4 ACK', frame: eth(V4, ipv4(6, tcp(40002, 80, F.ACK))), port80: true },
  { name: 'IPv4 FIN+ACK', frame: eth(V4, ipv4(6, tcp(40002, 80, F.FIN | F.ACK))), port80: true },
  {
    name: 'IPv4 with options, RST',
    frame: eth(V4, ipv4(6, tcp(80, 40003, F.RST), { options: 2 })),
    rst: true,
    port80: true,
  },
  // A non-first fragment: its bytes are not a TCP header, whatever byte 13 holds.
  { name: 'IPv4 non-first fragment', frame: eth(V4, ipv4(6, tcp(80, 40004, F.RST), { fragOffset: 185 })) },
  { name: 'IPv4 UDP', frame: eth(V4, ipv4(17, tcp(80, 40005, F.RST))) },
  { name: 'IPv6 RST :80', frame: eth(V6, ipv6(6, tcp(80, 40006, F.RST | F.ACK))), rst: true, port80: true },
  { name: 'IPv6 SYN :443', frame: eth(V6, ipv6(6, tcp(40007, 443, F.SYN))), syn: true },
  { name: 'IPv6 ACK', frame: eth(V6, ipv6(6, tcp(40007, 443, F.ACK))) },
  {
    name: 'IPv6 hop-by-hop, RST',
    frame: eth(V6, ipv6HopByHop(tcp(80, 40008, F.RST))),
    gap: true,
    port80: true,
  },
  {
    name: 'VLAN IPv4 RST :80',
    frame: eth(V4, ipv4(6, tcp(80, 40009, F.RST)), [[Q, 100]]),
    rst: true,
    port80: true,
  },
  { name: 'VLAN IPv4 RST :81', frame: eth(V4, ipv4(6, tcp(81, 40010, F.RST)), [[Q, 100]]), rst: true },
  {
    name: 'VLAN IPv6 RST :80',
    frame: eth(V6, ipv6(6, tcp(80, 40011, F.RST)), [[Q, 100]]),
    rst: true,
    port80: true,
  },
  {
    name: 'VLAN IPv4 SYN :80',
    frame: eth(V4, ipv4(6, tcp(40012, 80, F.SYN)), [[Q, 100]]),
    syn: true,
    port80: true,
  },
  { name: 'VLAN IPv4 ACK', frame: eth(V4, ipv4(6, tcp(40012, 80, F.ACK)), [[Q, 100]]), port80: true },
  {
    name: 'QinQ IPv4 RST :80',
    frame: eth(V4, ipv4(6, tcp(80, 40013, F.RST)), [
      [AD, 10],
      [Q, 100],
    ]),
    rst: true,
    port80: true,
  },
  {
    name: 'QinQ IPv6 RST :81',
    frame: eth(V6, ipv6(6, tcp(81, 40014, F.RST)), [
      [AD, 10],
      [Q, 100],
    ]),
    rst: true,
  },
  {
    name: 'QinQ IPv6 ACK',
    frame: eth(V6, ipv6(6, tcp(81, 40014, F.ACK)), [
      [AD, 10],
      [Q, 100],
    ]),
  },
];
const frameNumbers = (pred: (c: Case) => boolean) =>
  CASES.map((c, i) => (pred(c) ? i + 1 : 0)).filter((n) => n > 0);

describe.skipIf(!tools)('the capture filter, compiled by libpcap and run on crafted frames', () => {
  const file = writePcap(
    'cases.pcap',
    1,
    CASES.map((c) => c.frame),
  );

  it('tshark (the oracle) sees every RST we built, including the one behind an IPv6 extension header', () => {
    expect(tsharkMatches(file, 'tcp.flags.reset==1')).toEqual(
      frameNumbers((c) => c.rst === true || c.gap === true),
    );
  });

  it('--rst-only keeps exactly the RSTs tshark finds, untagged, VLAN and QinQ, except behind IPv6 extension headers', () => {
    const got = bpfMatches(file, rstFilter({ vlan: true, rstOnly: true }));
    expect(got).toEqual(frameNumbers((c) => c.rst === true));
    const oracle = tsharkMatches(file, 'tcp.flags.reset==1');
    expect(oracle.filter((n) => !got.includes(n)).map((n) => CASES[n - 1]!.name)).toEqual([
      'IPv6 hop-by-hop, RST',
    ]);
  });

  it('the default keeps the RSTs and the connection-opening SYNs, nothing else', () => {
    const got = bpfMatches(file, rstFilter({ vlan: true }));
    expect(got).toEqual(frameNumbers((c) => c.rst === true || c.syn === true));
    const oracle = tsharkMatches(file, 'tcp.flags.reset==1 || (tcp.flags.syn==1 && tcp.flags.ack==0)');
    expect(oracle.filter((n) => !got.includes(n))).toEqual(frameNumbers((c) => c.gap === true));
  });

  it("the user's filter is read at the offsets of each branch (VLAN and QinQ included)", () => {
    const got = bpfMatches(file, rstFilter({ vlan: true, rstOnly: true, user: 'port 80' }));
    expect(got).toEqual(frameNumbers((c) => c.rst === true && c.port80 === true));
    expect(got).toEqual(
      tsharkMatches(file, 'tcp.flags.reset==1 && tcp.port==80').filter((n) => !CASES[n - 1]!.gap),
    );
  });

  it('without the VLAN branches the tagged RSTs are lost (why the filter has them)', () => {
    const got = bpfMatches(file, rstFilter({ vlan: false, rstOnly: true }));
    expect(got).toEqual(
      frameNumbers((c) => c.rst === true && !c.name.startsWith('VLAN') && !c.name.startsWith('QinQ')),
    );
  });

  it("tcpdump's own tcp[tcpflags] filter misses IPv6 RSTs (field guide §2.3), ours does not", () => {
    const plain = bpfMatches(file, 'tcp[tcpflags] & tcp-rst != 0');
    expect(plain).not.toContain(CASES.findIndex((c) => c.name === 'IPv6 RST :80') + 1);
    expect(bpfMatches(file, `(${RST_IPV4}) or (${RST_IPV6})`)).toContain(
      CASES.findIndex((c) => c.name === 'IPv6 RST :80') + 1,
    );
  });

  it('on a Linux cooked v2 capture (-i any) the filter without VLAN matches IPv4 and IPv6 RSTs; with VLAN libpcap refuses it', () => {
    const frames = [
      sll2(V4, ipv4(6, tcp(80, 40000, F.RST))),
      sll2(V4, ipv4(6, tcp(40000, 80, F.ACK))),
      sll2(V6, ipv6(6, tcp(80, 40001, F.RST | F.ACK))),
      sll2(V6, ipv6(6, tcp(40002, 80, F.SYN))),
    ];
    const f = writePcap('sll2.pcap', 276, frames);
    expect(tsharkMatches(f, 'tcp.flags.reset==1')).toEqual([1, 3]);
    expect(bpfMatches(f, rstFilter({ vlan: false, rstOnly: true }))).toEqual([1, 3]);
    expect(bpfMatches(f, rstFilter({ vlan: false }))).toEqual([1, 3, 4]);
    const r = spawnSync('tcpdump', ['-r', f, '--', rstFilter({ vlan: true })], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no VLAN support/);
  });
});

describe.skipIf(!tools)('the capture filter on the corpus files with RSTs', () => {
  const census = readFileSync(`${SHARED}/corpus/tcpdump-tests.census.tsv`, 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t'))
    .filter((f) => f.length >= 5 && Number(f[3]) > 0);

  it('finds RST-bearing files in the census', () => {
    expect(census.length).toBeGreaterThanOrEqual(10);
  });

  it.each(census.map((f) => [f[0]!, Number(f[3])] as const))(
    '%s: as many RSTs as tshark (%i)',
    (name, want) => {
      const file = `${SHARED}/corpus/tcpdump-tests/${name}`;
      // Link types without VLAN support in libpcap (RAW, NULL) compile without the VLAN branches, as
      // prepareCapture does after tcpdump -d refuses them.
      let r = spawnSync('tcpdump', ['-nn', '-r', file, '--', rstFilter({ vlan: true, rstOnly: true })], {
        encoding: 'utf8',
      });
      if (r.status !== 0 && /VLAN/i.test(r.stderr))
        r = spawnSync('tcpdump', ['-nn', '-r', file, '--', rstFilter({ vlan: false, rstOnly: true })], {
          encoding: 'utf8',
        });
      expect(r.stderr).not.toMatch(/syntax error/);
      expect(r.stdout.split('\n').filter(Boolean).length).toBe(want);
    },
  );
});

describe('checkUserFilter', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof RstwatchError ? `${e.code}@${e.column ?? '-'}` : String(e);
    }
    return 'ok';
  };
  it.each([
    ['port 443', 'ok'],
    ['(port 443) and (host 10.0.0.1 or host 10.0.0.2)', 'ok'],
    ['port 80) or (udp', 'E_CAPTURE_FILTER@8'],
    ['(port 80', 'E_CAPTURE_FILTER@1'],
    ['host a and ((port 1)', 'E_CAPTURE_FILTER@12'],
    ['port 80\nor udp', 'E_CAPTURE_FILTER@8'],
    ['port 80\u0000', 'E_CAPTURE_FILTER@8'],
    ['x'.repeat(2049), 'E_CAPTURE_FILTER@-'],
  ])('%j → %s', (text, want) => {
    expect(code(() => checkUserFilter(text))).toBe(want);
  });

  it('cannot widen the capture: the user expression stays inside the AND in every branch', () => {
    const f = rstFilter({ vlan: true, user: 'port 443' });
    expect(f.split('(port 443) and (').length - 1).toBe(3);
    expect(rstFilter({ vlan: false, user: 'port 443' })).toBe(
      '((port 443) and ((tcp[13] & 4 != 0 or tcp[13] & 18 == 2) or (ip6 and ip6[6] == 6 and (ip6[53] & 4 != 0 or ip6[53] & 18 == 2))))',
    );
  });
});
