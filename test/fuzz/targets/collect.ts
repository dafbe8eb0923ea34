/**
 * Counter parsers: Linux /proc/net/{snmp,netstat} and FreeBSD `netstat -s -p tcp --libxo json` + `sysctl`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNetstatTcp, parseSysctl } from '../../../src/collect/freebsd.js';
import { parseLinuxCounters } from '../../../src/collect/linux.js';
import { ProcNetFastParser, parseProcNet } from '../../../src/collect/proc-parse.js';
import { FIXTURES, listFiles } from '../engine/paths.js';
import { check, checkProblems, type FuzzTarget, utf8 } from '../engine/target.js';

const counterOk = (v: number) => Number.isFinite(v) && Number.isInteger(v);

export const procTarget: FuzzTarget = {
  name: 'proc',
  about:
    '/proc/net/snmp and netstat parsers (src/collect/proc-parse.ts: the fast path agrees with the full one)',
  maxLen: 8192,
  text: true,
  dict: [
    'Tcp: ',
    'TcpExt: ',
    'IpExt: ',
    'Udp: ',
    ' -1',
    ' 18446744073709551615',
    ' 9007199254740993',
    '\t',
    '\n',
  ],
  seeds: () => listFiles(join(FIXTURES, 'proc')).map((f) => new Uint8Array(readFileSync(f))),
  run(data) {
    const text = utf8(data);
    const all = parseProcNet(text, 'snmp');
    checkProblems(all.problems, text, 'parseProcNet');
    for (const [group, fields] of all.groups) {
      check(group.length > 0 && !group.includes('\n'), `group name ${JSON.stringify(group)}`);
      for (const [name, v] of fields) check(counterOk(v), `${group}: ${name} = ${v}`);
    }
    const linux = parseLinuxCounters(text, text);
    checkProblems(linux.problems, text, 'parseLinuxCounters');
    for (const [name, v] of Object.entries(linux.counters)) check(counterOk(v), `counter ${name} = ${v}`);
    // The sampler's fast path: when it answers, the answer is the full parser's, and the file was clean.
    for (const group of ['Tcp', 'TcpExt']) {
      const buf = Buffer.from(text, 'latin1');
      const into: Record<string, number> = {};
      if (!new ProcNetFastParser([group]).parse(buf, buf.length, into)) {
        check(Object.keys(into).length === 0, `fast parser declined ${group} but wrote into the result`);
        continue;
      }
      const full = parseProcNet(buf.toString('latin1'), 'f', new Set([group]));
      check(full.problems.length === 0, `fast parser took ${group} where the full one found problems`);
      const want = full.groups.get(group);
      check(
        want !== undefined && want.size === Object.keys(into).length,
        `${group}: fast and full differ in size`,
      );
      for (const [name, v] of want ?? [])
        check(Object.is(into[name], v), `${group}: ${name} fast ${into[name]} full ${v}`);
    }
  },
};

/** Byte 0: even → the netstat JSON, odd → sysctl output; the rest is the text. */
export const freebsdTarget: FuzzTarget = {
  name: 'freebsd',
  about: 'FreeBSD netstat --libxo JSON and sysctl output parsers (src/collect/freebsd.ts)',
  maxLen: 16 * 1024,
  text: true,
  dict: [
    '{',
    '}',
    '[',
    ']',
    '"statistics"',
    '"tcp"',
    ': ',
    ', ',
    '"',
    '\\u0000',
    'null',
    'true',
    '1e400',
    '-0',
    '"__proto__"',
    "sysctl: unknown oid '",
  ],
  seeds: () =>
    listFiles(join(FIXTURES, 'freebsd'), (n) => n.endsWith('.json') || n.endsWith('.txt')).map((f) => {
      const body = readFileSync(f);
      const s = new Uint8Array(body.length + 1);
      s[0] = f.endsWith('.json') ? 0 : 1;
      s.set(body, 1);
      return s;
    }),
  run(data) {
    if (data.length === 0) return;
    const text = utf8(data.subarray(1));
    if ((data[0]! & 1) === 0) {
      const r = parseNetstatTcp(text, 'netstat.json');
      checkProblems(r.problems, text, 'parseNetstatTcp');
      for (const [name, v] of Object.entries(r.counters)) {
        check(counterOk(v) && v >= 0, `counter ${name} = ${v}`);
      }
      // The parser catches what its JSON reader throws; only its own stop (with a position) is expected.
      for (const p of r.problems) {
        if (p.code === 'E_NETSTAT_JUNK' && text.trim() !== '') {
          check(p.line !== undefined, `E_NETSTAT_JUNK without a position: ${p.message}`);
        }
      }
    } else {
      const r = parseSysctl(text, 'sysctl');
      checkProblems(r.problems, text, 'parseSysctl');
      for (const [name, v] of Object.entries(r.settings)) {
        check(typeof v === 'string' || counterOk(v), `setting ${name} = ${v}`);
        check(!name.includes('\n'), `setting name ${JSON.stringify(name)}`);
      }
    }
  },
};
