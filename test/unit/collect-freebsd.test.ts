import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FREEBSD_EXPECTED_KEYS,
  FREEBSD_SYSCTLS,
  FreeBsdCollector,
  parseNetstatTcp,
  parseSysctl,
} from '../../src/collect/freebsd.js';
import type { CommandResult, CommandRunner } from '../../src/collect/types.js';

const FIX = fileURLToPath(new URL('../fixtures/freebsd/', import.meta.url));
const netstatText = (c: string): string => readFileSync(`${FIX}${c}/netstat-s-p-tcp.json`, 'utf8');
const sysctlText = (c: string): string => readFileSync(`${FIX}${c}/sysctl.txt`, 'utf8');
const ok = (stdout: string, stderr = ''): CommandResult => ({ code: 0, stdout, stderr });

/** Leaves under statistics.tcp counted with JSON.parse, independently of the parser under test. */
function leafCount(text: string): number {
  const tcp = (JSON.parse(text) as { statistics: { tcp: Record<string, unknown> } }).statistics.tcp;
  let n = 0;
  for (const v of Object.values(tcp)) n += typeof v === 'object' && v !== null ? Object.keys(v).length : 1;
  return n;
}

const codes = (ps: { code: string }[]): string[] => ps.map((p) => p.code);

describe('parseNetstatTcp on the fixtures', () => {
  it('freebsd-14: Netdata names for the four handshake counters, libxo names for the rest', () => {
    const text = netstatText('freebsd-14');
    const { counters, problems } = parseNetstatTcp(text);
    expect(problems).toEqual([]);
    expect(counters.EstabResets).toBe(9876);
    expect(counters.AttemptFails).toBe(412);
    expect(counters.ActiveOpens).toBe(118233);
    expect(counters.PassiveOpens).toBe(402118);
    // Renamed, not duplicated.
    expect(counters['connection-drops']).toBeUndefined();
    expect(counters['connections-accepts']).toBeUndefined();
    expect(counters['ignored-in-window-resets']).toBe(1342);
    expect(counters['listen-queue-overflows']).toBe(57);
    expect(counters['sent-control-packets']).toBe(1148112);
    expect(counters['syncache.reset']).toBe(301);
    expect(counters['syncache.sent-cookies']).toBe(4127);
    expect(counters['syncache.receivd-cookies']).toBe(3988);
    expect(counters['hostcache.entries-added']).toBe(21877);
    expect(counters['tw.tw_resets']).toBe(412);
    expect(counters['TCP connection count by state.TIME_WAIT']).toBe(1873);
    expect(Object.keys(counters)).toHaveLength(leafCount(text));
  });

  it('busy-older-layout: counters above 2^32 exactly, the older key set, no warnings', () => {
    const text = netstatText('busy-older-layout');
    const { counters, problems } = parseNetstatTcp(text);
    expect(problems).toEqual([]);
    expect(counters.EstabResets).toBe(12884901893);
    expect(counters.PassiveOpens).toBe(52345678901);
    expect(counters.ActiveOpens).toBe(1234567);
    expect(counters.AttemptFails).toBe(98765);
    expect(counters['sent-control-packets']).toBe(4398046511104);
    expect(counters['discard-memory-problems']).toBe(0);
    expect(counters['ecn.ce-packets']).toBe(0);
    expect(counters['syncache.bucket-overflow']).toBe(3120987);
    expect(counters['tw.tw_resets']).toBeUndefined();
    expect(counters['discard-reassembly-queue-full']).toBeUndefined();
    expect(Object.keys(counters)).toHaveLength(leafCount(text));
  });

  it('junk: one E_NETSTAT_JUNK at 1:1 quoting what netstat printed', () => {
    const { counters, problems } = parseNetstatTcp(netstatText('junk'), 'netstat');
    expect(counters).toEqual({});
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      code: 'E_NETSTAT_JUNK',
      severity: 'error',
      file: 'netstat',
      line: 1,
      column: 1,
    });
    expect(problems[0]?.message).toContain('netstat: illegal option -- -');
  });

  it('truncated: the error sits at the cut, counters before it are kept, the half number is not', () => {
    const text = netstatText('truncated');
    expect(text.endsWith('"sent-cookies":41')).toBe(true);
    const { counters, problems } = parseNetstatTcp(text);
    expect(codes(problems)).toEqual(['E_NETSTAT_JUNK']);
    expect(problems[0]).toMatchObject({ line: 1, column: text.length + 1 });
    expect(problems[0]?.column).toBe(2640);
    expect(problems[0]?.message).toContain('ends in the middle');
    expect(counters.EstabResets).toBe(9876);
    expect(counters.PassiveOpens).toBe(402118);
    expect(counters['syncache.zone-failures']).toBe(0);
    expect(counters['syncache.sent-cookies']).toBeUndefined();
    expect(counters['syncache.receivd-cookies']).toBeUndefined();
  });
});

describe('parseNetstatTcp on bad input', () => {
  it('reports wrong types with the position of their key and keeps the good ones', () => {
    const text = [
      '{"statistics": {"tcp": {',
      '"connection-drops":"many",',
      '  "embryonic-connections-dropped":-1,',
      '"connection-requests":1.5,"connections-accepts":"42",',
      '"syncache": {"reset":[1],"stale":7}}}}',
    ].join('\n');
    const { counters, problems } = parseNetstatTcp(text, 'f.json');
    const fields = problems.filter((p) => p.code === 'E_NETSTAT_FIELD');
    expect(fields.map((p) => [p.line, p.column])).toEqual([
      [2, 1],
      [3, 3],
      [4, 1],
      [5, 14],
    ]);
    expect(fields[0]?.message).toBe('connection-drops is "many", not a counter');
    expect(fields[3]?.message).toBe('syncache.reset is an array, not a counter');
    expect(fields.every((p) => p.file === 'f.json' && p.severity === 'error')).toBe(true);
    expect(counters).toEqual({ PassiveOpens: 42, 'syncache.stale': 7 });
    // Present-but-bad keys get the field error only, not a second "missing" warning.
    const missing = problems.filter((p) => p.code === 'W_NETSTAT_MISSING').map((p) => p.message);
    expect(missing.some((m) => m.includes('EstabResets'))).toBe(false);
    expect(missing).toContain('netstat printed no "listen-queue-overflows"');
  });

  it('warns once per expected key that is absent, and only for those', () => {
    const json = JSON.parse(netstatText('freebsd-14')) as { statistics: { tcp: Record<string, unknown> } };
    delete json.statistics.tcp.syncache;
    delete json.statistics.tcp['connection-drops'];
    const { counters, problems } = parseNetstatTcp(JSON.stringify(json));
    expect(problems.every((p) => p.code === 'W_NETSTAT_MISSING' && p.severity === 'warning')).toBe(true);
    expect(problems.map((p) => p.message)).toEqual([
      'netstat printed no "connection-drops" (EstabResets)',
      'netstat printed no "syncache.reset"',
      'netstat printed no "syncache.bucket-overflow"',
      'netstat printed no "syncache.cache-overflow"',
      'netstat printed no "syncache.sent-cookies"',
      'netstat printed no "syncache.receivd-cookies"',
    ]);
    expect(counters.AttemptFails).toBe(412);
  });

  it('says when there is no statistics.tcp, or nothing at all', () => {
    expect(codes(parseNetstatTcp('{"statistics": {"udp": {"received-datagrams":1}}}').problems)).toEqual([
      'E_NETSTAT_NO_TCP',
    ]);
    expect(parseNetstatTcp('{"statistics": {"tcp": 5}}').problems[0]?.message).toBe(
      '"statistics"."tcp" is not an object',
    );
    const empty = parseNetstatTcp('  \n');
    expect(empty.problems).toMatchObject([
      { code: 'E_NETSTAT_JUNK', message: 'not libxo JSON: netstat printed nothing' },
    ]);
    expect(codes(parseNetstatTcp('{"statistics": {"tcp": {}}} trailing').problems)).toEqual([
      'E_NETSTAT_JUNK',
    ]);
  });

  it('accepts a quoted decimal (libxo quotes some fields) and nothing looser', () => {
    const { counters, problems } = parseNetstatTcp(
      '{"statistics":{"tcp":{"a":"17","b":"0x10","c":true,"d":null,"e":1e3,"f":18446744073709551615}}}',
    );
    // A uint64 above 2^53 loses precision in a JS number; it is kept (rates stay close enough), not refused.
    expect(counters).toMatchObject({ a: 17, e: 1000, f: 2 ** 64 });
    expect(counters.b).toBeUndefined();
    expect(problems.filter((p) => p.code === 'E_NETSTAT_FIELD').map((p) => p.message)).toEqual([
      'b is "0x10", not a counter',
      'c is true, not a counter',
      'd is null, not a counter',
    ]);
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const r = parseNetstatTcp(s);
        expect(Array.isArray(r.problems)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on JSON with random values, and keeps only non-negative integers', () => {
    const tcp = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json({ maxDepth: 4 }),
          tcp.map((t) => JSON.stringify({ statistics: { tcp: t } })),
        ),
        (s) => {
          const r = parseNetstatTcp(s);
          for (const v of Object.values(r.counters)) expect(Number.isInteger(v) && v >= 0).toBe(true);
          for (const p of r.problems)
            expect(p.code).toMatch(/^(E_NETSTAT_(JUNK|NO_TCP|FIELD)|W_NETSTAT_MISSING)$/);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never invents a value when the output is cut anywhere', () => {
    const text = netstatText('freebsd-14');
    const full = parseNetstatTcp(text).counters;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: text.trimEnd().length - 1 }), (cut) => {
        const r = parseNetstatTcp(text.slice(0, cut));
        expect(codes(r.problems)).toEqual(['E_NETSTAT_JUNK']);
        for (const [k, v] of Object.entries(r.counters)) expect(full[k]).toBe(v);
      }),
      { numRuns: 300 },
    );
  });

  it('does not overflow the stack on deep nesting', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const { problems } = parseNetstatTcp(deep);
    expect(problems).toMatchObject([{ code: 'E_NETSTAT_JUNK', line: 1, column: 34 }]);
    expect(problems[0]?.message).toContain('nesting deeper than 32 levels');
  });
});

describe('parseSysctl', () => {
  it('reads name: value lines, numbers as numbers', () => {
    const { settings, problems } = parseSysctl(sysctlText('busy-older-layout'));
    expect(problems).toEqual([]);
    expect(settings).toEqual({
      'net.inet.tcp.syncookies': 1,
      'net.inet.tcp.syncookies_only': 0,
      'net.inet.tcp.blackhole': 2,
      'net.inet.tcp.insecure_rst': 0,
      'net.inet.tcp.drop_synfin': 1,
      'kern.ipc.soacceptqueue': 32768,
    });
  });

  it('keeps strings, reports unknown OIDs and junk lines with their line', () => {
    const text =
      "kern.ostype: FreeBSD\nsysctl: unknown oid 'net.inet.tcp.nosuch'\ngarbage\nnet.inet.tcp.blackhole: 1\n";
    const { settings, problems } = parseSysctl(text, 'sysctl');
    expect(settings).toEqual({ 'kern.ostype': 'FreeBSD', 'net.inet.tcp.blackhole': 1 });
    expect(problems).toEqual([
      {
        code: 'W_SYSCTL_UNKNOWN',
        message: 'this kernel has no net.inet.tcp.nosuch',
        severity: 'warning',
        file: 'sysctl',
        line: 2,
        column: 1,
      },
      {
        code: 'W_SYSCTL_JUNK',
        message: 'not a "name: value" line: "garbage"',
        severity: 'warning',
        file: 'sysctl',
        line: 3,
        column: 1,
      },
    ]);
  });
});

function fakeRunner(netstat: CommandResult, sysctl: CommandResult = ok(sysctlText('freebsd-14'))) {
  const calls: { cmd: string; args: string[]; timeoutMs: number | undefined }[] = [];
  const runner: CommandRunner = async (cmd, args, opts) => {
    calls.push({ cmd, args, timeoutMs: opts?.timeoutMs });
    return cmd.endsWith('netstat') ? netstat : sysctl;
  };
  return { runner, calls };
}

describe('FreeBsdCollector', () => {
  it('runs netstat and sysctl -i with argument lists and merges what they print', async () => {
    const { runner, calls } = fakeRunner(ok(netstatText('freebsd-14')));
    const c = new FreeBsdCollector({ runner, timeoutMs: 1234 });
    expect(c.netns).toBe('host');
    expect(c.source).toBe('freebsd-netstat');
    expect(c.describe()).toContain('/usr/bin/netstat -s -p tcp --libxo json');
    const r = await c.collect();
    expect(calls).toEqual([
      { cmd: '/usr/bin/netstat', args: ['-s', '-p', 'tcp', '--libxo', 'json'], timeoutMs: 1234 },
      { cmd: '/sbin/sysctl', args: ['-i', ...FREEBSD_SYSCTLS], timeoutMs: 1234 },
    ]);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ source: 'freebsd-netstat', netns: 'host' });
    expect(r.counters.EstabResets).toBe(9876);
    expect(r.counters['syncache.reset']).toBe(301);
    expect(r.settings?.['net.inet.tcp.syncookies']).toBe(1);
    expect(r.settings?.['kern.ipc.soacceptqueue']).toBe(4096);
    await c.close();
  });

  it('uses the configured paths', async () => {
    const { runner, calls } = fakeRunner(ok(netstatText('freebsd-14')));
    await new FreeBsdCollector({ runner, netstatPath: '/opt/netstat', sysctlPath: '/opt/sysctl' }).collect();
    expect(calls.map((x) => x.cmd).sort()).toEqual(['/opt/netstat', '/opt/sysctl']);
  });

  it('a missing netstat is E_NETSTAT_MISSING; the settings still come', async () => {
    const { runner } = fakeRunner({
      code: null,
      stdout: '',
      stderr: '',
      error: 'spawn /usr/bin/netstat ENOENT',
    });
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(codes(r.problems)).toEqual(['E_NETSTAT_MISSING']);
    expect(r.problems[0]?.message).toContain('ENOENT');
    expect(r.counters).toEqual({});
    expect(r.settings?.['net.inet.tcp.blackhole']).toBe(0);
  });

  it('a runner that rejects is treated as a missing program, not thrown', async () => {
    const runner: CommandRunner = async () => {
      throw new Error('boom');
    };
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(codes(r.problems)).toEqual(['E_NETSTAT_MISSING', 'W_SYSCTL_FAILED']);
    expect(r.settings).toBeUndefined();
  });

  it('a non-zero exit is E_NETSTAT_FAILED with stderr, without a junk error on top', async () => {
    const stderr = 'netstat: tcp: unknown or uninstrumented protocol\n';
    const { runner } = fakeRunner({ code: 1, stdout: '', stderr });
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(codes(r.problems)).toEqual(['E_NETSTAT_FAILED']);
    expect(r.problems[0]?.message).toBe(
      '/usr/bin/netstat -s -p tcp --libxo json exited with code 1: netstat: tcp: unknown or uninstrumented protocol',
    );
    expect(r.problems[0]?.file).toBe('/usr/bin/netstat -s -p tcp --libxo json');
  });

  it('a timeout is E_NETSTAT_TIMEOUT', async () => {
    const { runner } = fakeRunner({
      code: null,
      stdout: '{"stat',
      stderr: '',
      error: 'timed out after 5000 ms',
    });
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(codes(r.problems)).toEqual(['E_NETSTAT_TIMEOUT']);
    expect(r.counters).toEqual({});
  });

  it('junk and truncated output become E_NETSTAT_JUNK with a position', async () => {
    const junk = await new FreeBsdCollector({ runner: fakeRunner(ok(netstatText('junk'))).runner }).collect();
    expect(junk.problems).toMatchObject([{ code: 'E_NETSTAT_JUNK', line: 1, column: 1 }]);
    const cut = await new FreeBsdCollector({
      runner: fakeRunner(ok(netstatText('truncated'))).runner,
    }).collect();
    expect(cut.problems).toMatchObject([{ code: 'E_NETSTAT_JUNK', line: 1, column: 2640 }]);
    expect(cut.counters.AttemptFails).toBe(412);
  });

  it('passes on what netstat said on stderr when it still exited 0', async () => {
    const stderr = 'netstat: sysctl net.inet.tcp.states: Operation not permitted\n';
    const { runner } = fakeRunner(ok(netstatText('freebsd-14'), stderr));
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(r.problems).toMatchObject([{ code: 'W_NETSTAT_STDERR', severity: 'warning' }]);
    expect(r.problems[0]?.message).toContain('Operation not permitted');
  });

  it('an OID this kernel lacks (skipped by -i) is one W_SYSCTL_MISSING; the rest is kept', async () => {
    const lines = sysctlText('freebsd-14')
      .split('\n')
      .filter((l) => !l.startsWith('net.inet.tcp.syncookies_only:'));
    const { runner } = fakeRunner(ok(netstatText('freebsd-14')), ok(lines.join('\n')));
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(r.problems).toMatchObject([
      { code: 'W_SYSCTL_MISSING', message: 'no value for net.inet.tcp.syncookies_only', severity: 'warning' },
    ]);
    expect(Object.keys(r.settings ?? {})).toHaveLength(FREEBSD_SYSCTLS.length - 1);
    expect(r.counters.EstabResets).toBe(9876);
  });

  it('a sysctl that fails (no -i support) still yields what it printed', async () => {
    const stdout = 'net.inet.tcp.syncookies: 1\nkern.ipc.soacceptqueue: 128\n';
    const sysctl = { code: 1, stdout, stderr: "sysctl: unknown oid 'net.inet.tcp.blackhole'\n" };
    const { runner } = fakeRunner(ok(netstatText('freebsd-14')), sysctl);
    const r = await new FreeBsdCollector({ runner }).collect();
    expect(r.settings).toEqual({ 'net.inet.tcp.syncookies': 1, 'kern.ipc.soacceptqueue': 128 });
    expect(codes(r.problems)).toEqual(['W_SYSCTL_FAILED', ...Array(4).fill('W_SYSCTL_MISSING')]);
    expect(r.problems[0]?.message).toContain("unknown oid 'net.inet.tcp.blackhole'");
    expect(r.problems.every((p) => p.severity === 'warning')).toBe(true);
  });

  it('FREEBSD_EXPECTED_KEYS are all produced by both layouts', () => {
    for (const c of ['freebsd-14', 'busy-older-layout']) {
      const { counters } = parseNetstatTcp(netstatText(c));
      for (const k of FREEBSD_EXPECTED_KEYS) expect(counters[k], `${c}: ${k}`).toBeTypeOf('number');
    }
  });
});
