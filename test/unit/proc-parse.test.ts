import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseLinuxCounters } from '../../src/collect/linux.js';
import { ProcNetFastParser, parseProcNet } from '../../src/collect/proc-parse.js';
import { FIXTURES } from '../helpers/paths.js';

const read = (c: string, f: string) => readFileSync(`${FIXTURES}/proc/${c}/net/${f}`, 'latin1');

describe('parseProcNet', () => {
  it('pairs names with values by position within each pair', () => {
    const r = parseProcNet('Tcp: A B C\nTcp: 1 -1 3\nUdp: X\nUdp: 9\n', 'f');
    expect(r.problems).toEqual([]);
    expect(Object.fromEntries(r.groups.get('Tcp')!)).toEqual({ A: 1, B: -1, C: 3 });
    expect(r.groups.get('Udp')!.get('X')).toBe(9);
  });

  it('keeps only the wanted groups and does not validate the others', () => {
    const r = parseProcNet('Udp: X\nUdp: junk\nTcp: A\nTcp: 5\n', 'f', new Set(['Tcp']));
    expect(r.problems).toEqual([]);
    expect([...r.groups.keys()]).toEqual(['Tcp']);
  });

  it.each([
    ['non-numeric value', 'Tcp: A B\nTcp: 1 x2\n', 'E_PROC_VALUE', 2, 8],
    ['header without values', 'Tcp: A B\n', 'E_PROC_GARBLED', 1, 1],
    ['value line of another group', 'Tcp: A\nUdp: 1\n', 'E_PROC_GARBLED', 1, 1],
    ['no colon', 'garbage\n', 'E_PROC_GARBLED', 1, 1],
    ['fewer values than names', 'Tcp: A B C\nTcp: 1 2\n', 'E_PROC_GARBLED', 2, 1],
  ])('reports %s with its position', (_name, text, code, line, column) => {
    const r = parseProcNet(text, 'snmp');
    expect(r.problems[0]).toMatchObject({ code, file: 'snmp', line, column });
  });

  it('keeps the good pairs of a short value line, but not its last field (it may be cut mid-number)', () => {
    const r = parseProcNet('Tcp: A B C\nTcp: 1 2\n', 'f');
    expect(Object.fromEntries(r.groups.get('Tcp')!)).toEqual({ A: 1 });
    // Text that ends without the kernel's newline was cut too: "12345" may have been read as "12".
    const cut = parseProcNet('Tcp: A B\nTcp: 1 12', 'f');
    expect(Object.fromEntries(cut.groups.get('Tcp')!)).toEqual({ A: 1 });
    expect(cut.problems[0]).toMatchObject({ code: 'E_PROC_GARBLED', line: 2 });
    expect(Object.fromEntries(parseProcNet('Tcp: A B\nTcp: 1 12\n', 'f').groups.get('Tcp')!)).toEqual({
      A: 1,
      B: 12,
    });
  });

  it('never throws and only reports problems on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const r = parseProcNet(text, 'f');
        for (const p of r.problems) expect(p.code).toMatch(/^E_PROC_/);
      }),
      { numRuns: 2000 },
    );
  });

  it('recovers every pair from well-formed random files', () => {
    const name = fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,12}$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, fc.nat()), { selector: (t) => t[0], minLength: 1, maxLength: 40 }),
        (pairs) => {
          const text = `Tcp: ${pairs.map((p) => p[0]).join(' ')}\nTcp: ${pairs.map((p) => p[1]).join(' ')}\n`;
          const g = parseProcNet(text, 'f').groups.get('Tcp')!;
          for (const [k, v] of pairs) expect(g.get(k)).toBe(v);
        },
      ),
    );
  });
});

describe('parseLinuxCounters on fixture trees', () => {
  it('linux-6.18 (captured): every Tcp and TcpExt counter by name', () => {
    const r = parseLinuxCounters(read('linux-6.18', 'snmp'), read('linux-6.18', 'netstat'));
    expect(r.problems).toEqual([]);
    expect(r.counters).toMatchObject({
      AttemptFails: 45,
      OutRsts: 85,
      EstabResets: 80,
      TCPAbortOnData: 20,
      TCPAbortOnClose: 20,
      MaxConn: -1,
    });
    expect(Object.keys(r.counters).length).toBe(15 + 135); // every Tcp and TcpExt field of this kernel
    expect(r.counters.InOctets).toBeUndefined(); // IpExt is not a TCP counter
  });

  it('reordered groups and fields give exactly the same counters', () => {
    const a = parseLinuxCounters(read('linux-6.18', 'snmp'), read('linux-6.18', 'netstat'));
    const b = parseLinuxCounters(read('reordered', 'snmp'), read('reordered', 'netstat'));
    expect(b.problems).toEqual([]);
    expect(b.counters).toEqual(a.counters);
  });

  it('linux-6.1 lacks only the later fields', () => {
    const a = parseLinuxCounters(read('linux-6.18', 'snmp'), read('linux-6.18', 'netstat'));
    const b = parseLinuxCounters(read('linux-6.1', 'snmp'), read('linux-6.1', 'netstat'));
    const missing = Object.keys(a.counters).filter((k) => !(k in b.counters));
    expect(missing.sort()).toEqual([
      'TCPAOBad',
      'TCPAODroppedIcmps',
      'TCPAOGood',
      'TCPAOKeyNotFound',
      'TCPAORequired',
      'TCPPLBRehash',
    ]);
  });

  it('linux-2.6.32: old layout still yields the reset counters', () => {
    const r = parseLinuxCounters(read('linux-2.6.32', 'snmp'), read('linux-2.6.32', 'netstat'));
    expect(r.problems).toEqual([]);
    expect(r.counters).toMatchObject({
      AttemptFails: 4113,
      EstabResets: 60214,
      OutRsts: 150233,
      ListenOverflows: 310,
      TCPAbortOnSyn: 0,
    });
    expect(r.counters.InCsumErrors).toBeUndefined();
    expect(r.counters.TCPSynRetrans).toBeUndefined();
  });

  it('garbled: problems with file, line and column; the rest still flows', () => {
    const r = parseLinuxCounters(read('garbled', 'snmp'), read('garbled', 'netstat'), {
      snmp: 'S',
      netstat: 'N',
    });
    const codes = r.problems.map((p) => `${p.code}@${p.file}:${p.line}`);
    expect(codes).toContain('E_PROC_VALUE@S:6');
    expect(codes).toContain('E_PROC_GARBLED@S:7'); // Udp header whose value line is junk
    expect(codes).toContain('E_PROC_GARBLED@S:8'); // the junk line itself
    expect(codes.some((c) => c.startsWith('E_PROC_GARBLED@N:'))).toBe(true);
    const value = r.problems.find((p) => p.code === 'E_PROC_VALUE')!;
    expect(value.column).toBe('Tcp: 1 200 120000 -1 85 40 '.length + 1);
    expect(r.counters.AttemptFails).toBeUndefined();
    expect(r.counters.OutRsts).toBe(85);
    expect(r.counters.SyncookiesSent).toBe(0); // first TcpExt values survive the cut line
    expect(r.counters.TCPAbortOnData).toBe(20); // field 54: before the cut
    expect(r.counters.TCPChallengeACK).toBeUndefined(); // after the cut
  });

  it('no Tcp groups at all is an error per file', () => {
    const r = parseLinuxCounters(read('no-tcp', 'snmp'), read('no-tcp', 'netstat'));
    expect(r.problems.map((p) => p.code)).toEqual(['E_PROC_NO_GROUP', 'E_PROC_NO_GROUP']);
    expect(r.counters).toEqual({});
  });
});

describe('ProcNetFastParser (the sampler fast path) agrees with parseProcNet', () => {
  const CASES = readdirSync(`${FIXTURES}/proc`).filter((c) => c !== 'README.md');

  /** The slow path's view of one file: counters of the wanted group, and whether it found no problem. */
  function slow(text: string, group: string): { clean: boolean; counters: Record<string, number> } {
    const r = parseProcNet(text, 'f', new Set([group]));
    const g = r.groups.get(group);
    return { clean: r.problems.length === 0 && g !== undefined, counters: g ? Object.fromEntries(g) : {} };
  }

  function fast(p: ProcNetFastParser, text: string): Record<string, number> | undefined {
    const buf = Buffer.from(text, 'latin1');
    const into: Record<string, number> = {};
    if (!p.parse(buf, buf.length, into)) {
      expect(into).toEqual({}); // declining leaves the caller's object untouched
      return undefined;
    }
    return into;
  }

  it.each(CASES)('fixture %s: same counters, and the real kernels take the fast path', (c) => {
    for (const [file, group] of [
      ['snmp', 'Tcp'],
      ['netstat', 'TcpExt'],
    ] as const) {
      let text: string;
      try {
        text = read(c, file);
      } catch {
        continue; // missing-netstat
      }
      const p = new ProcNetFastParser([group]);
      const want = slow(text, group);
      for (let round = 0; round < 2; round++) {
        // round 1 reuses the cached header layout
        const got = fast(p, text);
        if (want.clean) expect(got).toEqual(want.counters);
        else expect(got).toBeUndefined();
      }
      if (/^linux-/.test(c)) expect(want.clean).toBe(true);
    }
  });

  it('random files and their mutations: the fast answer, when given, is the clean slow answer', () => {
    const name = fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,10}$/);
    const value = fc.oneof(fc.nat(), fc.constant(-1), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
    const file = fc
      .uniqueArray(fc.tuple(name, value), { selector: (t) => t[0], minLength: 1, maxLength: 30 })
      .chain((pairs) =>
        fc.record({
          pairs: fc.constant(pairs),
          before: fc.constantFrom('', 'Ip: A B\nIp: 1 2\n', '\n'),
          after: fc.constantFrom('', 'Udp: X\nUdp: 7\n', 'TcpExt: Z\nTcpExt: 3\n'),
        }),
      );
    const mutation = fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.nat(), fc.constantFrom('cut', 'drop', 'flip', 'insert')),
    );
    fc.assert(
      fc.property(file, mutation, fc.integer({ min: 0, max: 255 }), ({ pairs, before, after }, mut, byte) => {
        const good = `${before}Tcp: ${pairs.map((p) => p[0]).join(' ')}\nTcp: ${pairs.map((p) => String(p[1])).join(' ')}\n${after}`;
        let text = good;
        if (mut) {
          const at = mut[0] % text.length;
          const ch = String.fromCharCode(byte);
          if (mut[1] === 'cut') text = text.slice(0, at);
          else if (mut[1] === 'drop') text = text.slice(0, at) + text.slice(at + 1);
          else if (mut[1] === 'flip') text = text.slice(0, at) + ch + text.slice(at + 1);
          else text = text.slice(0, at) + ch + text.slice(at);
        }
        const p = new ProcNetFastParser(['Tcp']);
        fast(p, good); // the layout cached from a good read, as in the agent
        const want = slow(text, 'Tcp');
        const got = fast(p, text);
        if (got !== undefined) {
          expect(want.clean).toBe(true);
          expect(got).toEqual(want.counters);
        }
        if (text === good) expect(got).toEqual(want.counters);
        // and back to the good file: the layout recovers
        expect(fast(p, good)).toEqual(slow(good, 'Tcp').counters);
      }),
      { numRuns: 3000 },
    );
  });

  it('numbers past 2^53 read exactly as Number() reads them', () => {
    const p = new ProcNetFastParser(['Tcp']);
    const big = ['9007199254740993', '18446744073709551615', '123456789012345678'];
    const got = fast(p, `Tcp: A B C\nTcp: ${big.join(' ')}\n`);
    expect(got).toEqual({ A: Number(big[0]), B: Number(big[1]), C: Number(big[2]) });
  });

  it('declines a value line cut mid-number (no final newline), so the slow path drops that field', () => {
    const p = new ProcNetFastParser(['Tcp']);
    expect(fast(p, 'Tcp: A B\nTcp: 1 12345\n')).toEqual({ A: 1, B: 12345 });
    expect(fast(p, 'Tcp: A B\nTcp: 1 12')).toBeUndefined();
  });
});
