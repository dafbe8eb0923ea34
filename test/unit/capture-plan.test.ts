/** Pure rules of `rstwatch capture`: limits and refusals, interface names, tcpdump's argument list, names. */
import { describe, expect, it } from 'vitest';
import { rstFilter } from '../../src/capture/filter.js';
import {
  CAPTURE_ID_RE,
  captureId,
  captureLimits,
  checkIfaceName,
  chooseFormat,
  DEFAULT_MAX_BYTES,
  parseBytes,
  tcpdumpArgs,
  tcpdumpCompileArgs,
  withBackstop,
} from '../../src/capture/plan.js';
import { classifyTcpdumpError, reserveFor } from '../../src/capture/prepare.js';
import { parseRouteGetInterface, TCPDUMP_INSTALL } from '../../src/capture/system.js';
import { RstwatchError } from '../../src/internal/errors.js';

function thrown(f: () => unknown): RstwatchError {
  try {
    f();
  } catch (e) {
    if (e instanceof RstwatchError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('captureLimits', () => {
  it('defaults: 60 s, no packet limit, 256 MiB', () => {
    expect(captureLimits({})).toEqual({ durationSeconds: 60, maxBytes: DEFAULT_MAX_BYTES });
    expect(DEFAULT_MAX_BYTES).toBe(256 * 1024 * 1024);
  });

  it('accepts up to 5 minutes without a raised cap', () => {
    expect(captureLimits({ durationSeconds: 300 }).durationSeconds).toBe(300);
    expect(captureLimits({ durationSeconds: 0.5 }).durationSeconds).toBe(0.5);
  });

  it('refuses more than 5 minutes, saying how to raise the cap', () => {
    const e = thrown(() => captureLimits({ durationSeconds: 301 }));
    expect(e.code).toBe('E_CAPTURE_LIMIT');
    expect(e.message).toBe('a 301 s capture is longer than the 300 s cap');
    expect(e.hint).toContain('--max-duration 301s');
  });

  it('a raised cap allows longer captures, and is itself bounded to a day', () => {
    expect(captureLimits({ durationSeconds: 600 }, 600).durationSeconds).toBe(600);
    expect(thrown(() => captureLimits({ durationSeconds: 601 }, 600)).code).toBe('E_CAPTURE_LIMIT');
    expect(thrown(() => captureLimits({ durationSeconds: 10 }, 86_401)).code).toBe('E_CAPTURE_LIMIT');
    expect(captureLimits({ durationSeconds: 86_400 }, 86_400).durationSeconds).toBe(86_400);
  });

  it.each([
    [{ durationSeconds: 0 }],
    [{ durationSeconds: -5 }],
    [{ durationSeconds: Number.NaN }],
    [{ maxPackets: 0 }],
    [{ maxPackets: 1.5 }],
    [{ maxPackets: 2 ** 31 }],
    [{ maxBytes: 4095 }],
    [{ maxBytes: 1e20 }],
  ])('refuses %j with E_CAPTURE_LIMIT', (req) => {
    expect(thrown(() => captureLimits(req)).code).toBe('E_CAPTURE_LIMIT');
  });

  it('keeps packet and byte limits', () => {
    expect(captureLimits({ maxPackets: 10, maxBytes: 4096, durationSeconds: 5 })).toEqual({
      durationSeconds: 5,
      maxPackets: 10,
      maxBytes: 4096,
    });
  });
});

describe('checkIfaceName', () => {
  it.each([
    'eth0',
    'any',
    'lo',
    'enp0s31f6',
    'br-1a2b3c4d5e6f',
    'veth.100',
    'em0',
    'vlan_10',
    '123456789012345',
  ])('accepts %s', (n) => {
    expect(checkIfaceName(n)).toBe(n);
  });
  it.each([
    ['', 'it is empty'],
    ['eth0;reboot', 'character 5 (";") is not a letter'],
    ['eth0 lo', 'character 5 (" ")'],
    ['$(id)', 'character 1 ("$")'],
    ['../etc', 'character 3 ("/")'],
    ['-w/etc/passwd', 'character 3 ("/")'],
    ['-i', 'must start with a letter'],
    ['.', 'must start with a letter'],
    ['1234567890123456', 'it is 16 characters long (at most 15)'],
    ['eth0:1', 'character 5 (":")'],
  ])('refuses %j: %s', (n, why) => {
    const e = thrown(() => checkIfaceName(n));
    expect(e.code).toBe('E_CAPTURE_BAD_IFACE');
    expect(e.message).toContain(why);
  });
});

describe("tcpdump's argument list", () => {
  const filter = rstFilter({ vlan: true, user: 'port 443 and host 10.0.0.1' });

  it('is a list (no shell), with -U, a 4 MiB buffer, no name resolution, and the filter as ONE argument after --', () => {
    const args = tcpdumpArgs({ iface: 'eth0', rawFile: '/var/lib/rstwatch/captures/x.pcap', filter });
    expect(args).toEqual([
      '-n',
      '-i',
      'eth0',
      '-U',
      '-B',
      '4096',
      '-w',
      '/var/lib/rstwatch/captures/x.pcap',
      '--',
      filter,
    ]);
    expect(args.filter((a) => a.includes('port 443'))).toHaveLength(1);
  });

  it('adds -c for a packet limit', () => {
    const args = tcpdumpArgs({ iface: 'any', rawFile: 'f', filter, maxPackets: 500 });
    expect(args.slice(args.indexOf('-c'), args.indexOf('-c') + 2)).toEqual(['-c', '500']);
    expect(args.indexOf('-c')).toBeLessThan(args.indexOf('--'));
  });

  it('compiles with -d on the same interface', () => {
    expect(tcpdumpCompileArgs('eth0', filter)).toEqual(['-d', '-i', 'eth0', '--', filter]);
  });

  it('wraps tcpdump in timeout(1) as a backstop: SIGINT 10 s after the duration, SIGKILL 5 s later', () => {
    expect(withBackstop('/usr/bin/timeout', 59.2, '/usr/bin/tcpdump', ['-n'])).toEqual({
      cmd: '/usr/bin/timeout',
      args: ['-s', 'INT', '-k', '5', '70', '/usr/bin/tcpdump', '-n'],
    });
    expect(withBackstop(undefined, 60, '/usr/bin/tcpdump', ['-n'])).toEqual({
      cmd: '/usr/bin/tcpdump',
      args: ['-n'],
    });
  });
});

describe('names and formats', () => {
  it('capture ids are timestamped, UTC, sortable, and never a path', () => {
    const d = new Date('2026-12-04T02:40:09.123Z');
    expect(captureId(d)).toBe('rst-20261204T024009Z');
    expect(captureId(d, 2)).toBe('rst-20261204T024009Z-2');
    expect(CAPTURE_ID_RE.test(captureId(d, 2))).toBe(true);
    for (const bad of ['../x', 'rst-20261204T024009Z/../../etc', 'rst-20261204T024009Z.pcap', ''])
      expect(CAPTURE_ID_RE.test(bad)).toBe(false);
  });

  it('format: as asked, else from the file name, else pcap', () => {
    expect(chooseFormat(undefined, undefined)).toBe('pcap');
    expect(chooseFormat(undefined, '/tmp/x.PCAPNG')).toBe('pcapng');
    expect(chooseFormat('pcap', '/tmp/x.pcapng')).toBe('pcap');
    expect(chooseFormat('pcapng', '/tmp/x')).toBe('pcapng');
    expect(thrown(() => chooseFormat('erf', undefined)).code).toBe('E_USAGE');
  });

  it.each([
    ['1048576', 1048576],
    ['512k', 512 * 1024],
    ['10M', 10 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['2MiB', 2 * 1024 ** 2],
  ])('parseBytes(%s) = %i', (t, n) => {
    expect(parseBytes(t, '--max-bytes')).toBe(n);
  });

  it('parseBytes refuses junk', () => {
    expect(thrown(() => parseBytes('ten', '--max-bytes')).code).toBe('E_USAGE');
    expect(thrown(() => parseBytes('-5', '--max-bytes')).code).toBe('E_USAGE');
  });

  it('the disk reserve is 1 % of the file system, between 1 MiB and 64 MiB', () => {
    expect(reserveFor(undefined)).toBe(1024 ** 2);
    expect(reserveFor(10 * 1024 ** 2)).toBe(1024 ** 2);
    expect(reserveFor(1000 * 1024 ** 2)).toBe(10 * 1024 ** 2);
    expect(reserveFor(1024 ** 4)).toBe(64 * 1024 ** 2);
  });
});

describe('FreeBSD default interface', () => {
  it('reads the interface of `route -n get default`', () => {
    const out = `   route to: default
destination: default
       mask: default
    gateway: 192.168.1.1
        fib: 0
  interface: em0
      flags: <UP,GATEWAY,DONE,STATIC>
`;
    expect(parseRouteGetInterface(out)).toBe('em0');
    expect(parseRouteGetInterface('route: route has not been found\n')).toBeUndefined();
  });
});

describe("tcpdump's complaints become stable codes", () => {
  it.each([
    [
      "tcpdump: eth0: You don't have permission to perform this capture on that device\n(socket: Operation not permitted)",
      'E_CAPTURE_PERMISSION',
    ],
    ['tcpdump: (cannot open BPF device) /dev/bpf: Permission denied', 'E_CAPTURE_PERMISSION'],
    ['tcpdump: nosuch: No such device exists\n(No such device exists)', 'E_CAPTURE_BAD_IFACE'],
    ["tcpdump: can't parse filter expression: syntax error", 'E_CAPTURE_FILTER'],
    ['tcpdump: expression rejects all packets', 'E_CAPTURE_FILTER'],
    ['tcpdump: /cap/x.pcap: No space left on device', 'E_CAPTURE_DISK_FULL'],
    ['tcpdump: /cap/x.pcap: Permission denied', 'E_CAPTURE_WRITE'],
    ['tcpdump: The interface went down', 'E_CAPTURE_TCPDUMP'],
  ])('%j → %s', (stderr, code) => {
    expect(classifyTcpdumpError(stderr, 'eth0', '/cap/x.pcap').code).toBe(code);
  });

  it('the permission error says to run as root', () => {
    expect(classifyTcpdumpError('socket: Operation not permitted', 'eth0').hint).toMatch(/root.*CAP_NET_RAW/);
  });

  it('the install hint names every supported system', () => {
    for (const s of [
      'apt-get install tcpdump',
      'dnf install tcpdump',
      'apk add tcpdump',
      'pkg install tcpdump',
      'FreeBSD',
    ])
      expect(TCPDUMP_INSTALL).toContain(s);
  });
});
