/**
 * Scenario captures of real kernel resets (scripts/scenarios/make.sh: network namespaces, veth, tcpdump) and
 * of crafted segments (raw sockets), each with the verdict rstwatch must give its reset connections:
 * Zeek's conn_state and history, the cause and its confidence, and the cause of every single RST.
 *
 * - the committed fixtures (test/fixtures/pcap/scenarios, README there) through the library and the CLI's
 *   --json; per-4-tuple RST counts equal tshark's; an editcap pcap→pcapng conversion reads identically;
 * - the same captures made afresh by make.sh when root with `ip netns` (always in CI): the verdicts hold
 *   whatever the ports, ISNs and timings of the new run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnalysisReport, analyzeCapture } from '../../src/analyze/analyze.js';
import { canMakeNetns } from '../helpers/netns.js';
import { cli, FIXTURES, ROOT, requireCapability } from '../helpers/paths.js';

const DIR = join(FIXTURES, 'pcap/scenarios');
const MAKE = join(ROOT, 'scripts/scenarios/make.sh');

/** One kind of reset connection: how many of them, and what each must look like. */
interface Verdict {
  n?: number;
  connState: string;
  history: string;
  cause: string;
  confidence: string;
  /** Every RST of the connection as "side:cause/confidence" (default: one RST with the connection's cause). */
  resets: string[];
}

const v = (
  connState: string,
  history: string,
  cause: string,
  confidence: string,
  resets: string[],
  n = 1,
): Verdict => ({ n, connState, history, cause, confidence, resets });

/** Every scenario of make.sh with its verdict; docs/scenarios.md explains each. */
const EXPECTED: Record<string, { rsts: number; verdicts: Verdict[] }> = {
  '01-refused-v4': { rsts: 1, verdicts: [v('REJ', 'Sr', 'refused', 'certain', ['resp:refused/certain'])] },
  '01-refused-v6': { rsts: 1, verdicts: [v('REJ', 'Sr', 'refused', 'certain', ['resp:refused/certain'])] },
  '01-refused-v4-sll2': {
    rsts: 1,
    verdicts: [v('REJ', 'Sr', 'refused', 'certain', ['resp:refused/certain'])],
  },
  '02-abort-v4': { rsts: 1, verdicts: [v('RSTO', 'ShADadR', 'abort', 'likely', ['orig:abort/likely'])] },
  '02-abort-v6': { rsts: 1, verdicts: [v('RSTO', 'ShADadR', 'abort', 'likely', ['orig:abort/likely'])] },
  '03-unread-v4': { rsts: 1, verdicts: [v('RSTR', 'ShADar', 'abort', 'likely', ['resp:abort/likely'])] },
  '03-unread-v6': { rsts: 1, verdicts: [v('RSTR', 'ShADar', 'abort', 'likely', ['resp:abort/likely'])] },
  '04-keepalive-v4': {
    rsts: 1,
    verdicts: [v('RSTO', 'ShADadR', 'idle-timeout', 'likely', ['orig:idle-timeout/likely'])],
  },
  '04-keepalive-v6': {
    rsts: 1,
    verdicts: [v('RSTO', 'ShADadR', 'idle-timeout', 'likely', ['orig:idle-timeout/likely'])],
  },
  '05-overflow-v4': {
    rsts: 1,
    verdicts: [v('RSTR', 'ShADr', 'queue-overflow', 'likely', ['resp:queue-overflow/likely'])],
  },
  '05-overflow-v6': {
    rsts: 1,
    verdicts: [v('RSTR', 'ShADr', 'queue-overflow', 'likely', ['resp:queue-overflow/likely'])],
  },
  '05-overflow-v4-sll2': {
    rsts: 1,
    verdicts: [v('RSTR', 'ShADr', 'queue-overflow', 'likely', ['resp:queue-overflow/likely'])],
  },
  '05-overflow-noabort-v4': {
    rsts: 1,
    verdicts: [v('RSTR', 'ShADTr', 'queue-overflow', 'likely', ['resp:queue-overflow/likely'])],
  },
  '06-timewait-v4': {
    rsts: 1,
    verdicts: [
      v('SF', 'ShADadFftr', 'time-wait-assassination', 'likely', ['resp:time-wait-assassination/likely']),
    ],
  },
  '06-timewait-v6': {
    rsts: 1,
    verdicts: [
      v('SF', 'ShADadFftr', 'time-wait-assassination', 'likely', ['resp:time-wait-assassination/likely']),
    ],
  },
  '07-spoofed-rst-v4': {
    rsts: 1,
    verdicts: [v('RSTR', 'ShADardFf', 'injection', 'likely', ['resp:injection/likely'])],
  },
  '08-blind-injection-v4': {
    rsts: 5,
    verdicts: [
      v('RSTR', 'ShADadrrrrR', 'injection', 'likely', [
        'resp:injection/likely',
        'resp:injection/likely',
        'resp:injection/likely',
        'resp:injection/likely',
        'orig:half-open/likely',
      ]),
    ],
  },
  '09-syn-scan-v4': {
    rsts: 20,
    verdicts: [
      v('REJ', 'Sr', 'scan', 'likely', ['resp:scan/likely'], 18),
      v('RSTO', 'ShR', 'scan', 'likely', ['orig:scan/likely'], 2),
    ],
  },
  '10-rst-scan-v4': { rsts: 20, verdicts: [v('OTH', 'R', 'scan', 'likely', ['orig:scan/likely'], 20)] },
  '11-backscatter-v4': {
    rsts: 10,
    verdicts: [v('RSTO', '^hR', 'backscatter', 'likely', ['orig:backscatter/likely'], 10)],
  },
};
const NAMES = Object.keys(EXPECTED);

type Conn = AnalysisReport['connections'][number];

const line = (c: {
  connState: string;
  history: string;
  cause: string;
  confidence: string;
  resets: readonly string[];
}) => `${c.connState} ${c.history} ${c.cause}/${c.confidence} [${c.resets.join(' ')}]`;

function actualVerdicts(conns: readonly Conn[]): string[] {
  return conns
    .map((c) => line({ ...c, resets: c.resets.map((r) => `${r.side}:${r.cause}/${r.confidence}`) }))
    .sort();
}

function expectedVerdicts(name: string): string[] {
  return EXPECTED[name]!.verdicts.flatMap((x) => new Array<string>(x.n ?? 1).fill(line(x))).sort();
}

/** Checks one report (library or CLI JSON: same fields) against the scenario's expectation. */
function checkReport(
  name: string,
  r: Pick<AnalysisReport, 'summary' | 'connections' | 'connectionsOmitted'>,
) {
  const want = EXPECTED[name]!;
  expect(r.summary.rsts, `${name}: RSTs`).toBe(want.rsts);
  expect(r.connectionsOmitted, name).toBe(0);
  expect(actualVerdicts(r.connections), `${name}: verdicts`).toEqual(expectedVerdicts(name));
  // Every RST of the capture is in a listed connection.
  expect(
    r.connections.reduce((n, c) => n + c.resets.length, 0),
    name,
  ).toBe(want.rsts);
}

/** "addr port" from the report's "a.b.c.d:port" / "[v6]:port". */
function endpoint(text: string): string {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(text);
  if (m === null) throw new Error(`bad endpoint ${text}`);
  return `${m[1]} ${m[2]}`;
}

/** RSTs per directed 4-tuple "src sport > dst dport", from our report. */
function ourTuples(r: AnalysisReport): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of r.connections) {
    for (const x of c.resets) {
      const [s, d] = x.side === 'orig' ? [c.orig, c.resp] : [c.resp, c.orig];
      const k = `${endpoint(s)} > ${endpoint(d)}`;
      m.set(k, (m.get(k) ?? 0) + 1);
    }
  }
  return m;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The same from tshark's dissection (`tshark -Y tcp.flags.reset==1 -T fields -e ip.src -e ipv6.src …`), for
 * many files in one tshark run (its start-up costs ~2 s): the files are concatenated with `mergecap -a`, and
 * each RST frame is given back to its file by the files' packet counts from `capinfos` (Wireshark's tools
 * throughout: our reader plays no part in the oracle).
 */
function tsharkTuples(files: string[], tmp: string): Map<string, Map<string, number>> {
  const counts = run('capinfos', ['-T', '-r', '-c', ...files])
    .trim()
    .split('\n')
    .map((row) => Number(row.split('\t')[1]));
  expect(counts).toHaveLength(files.length);
  const all = join(tmp, 'all.pcapng');
  run('mergecap', ['-a', '-w', all, ...files]);
  const out = new Map<string, Map<string, number>>(files.map((f) => [f, new Map()]));
  const fields = ['frame.number', 'ip.src', 'ipv6.src', 'tcp.srcport', 'ip.dst', 'ipv6.dst', 'tcp.dstport'];
  const rows = run(
    'tshark',
    ['-n', '-r', all, '-Y', 'tcp.flags.reset==1', '-T', 'fields'].concat(fields.flatMap((f) => ['-e', f])),
  );
  for (const row of rows.split('\n')) {
    if (row === '') continue;
    const [frame, s4, s6, sp, d4, d6, dp] = row.split('\t');
    let n = Number(frame);
    let i = 0;
    while (n > counts[i]!) n -= counts[i++]!;
    const m = out.get(files[i]!)!;
    const k = `${s4 || s6} ${sp} > ${d4 || d6} ${dp}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return out;
}

const sorted = (m: Map<string, number>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

function have(cmd: string, arg = '--version'): boolean {
  const r = spawnSync(cmd, [arg], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}
const haveTshark = ['tshark', 'editcap', 'mergecap', 'capinfos'].every((t) => have(t, '-v'));
requireCapability(haveTshark, 'tshark, editcap, mergecap and capinfos (tshark, wireshark-common)');
if (!haveTshark) console.warn('SKIPPED: the tshark comparisons need tshark and editcap (they run in CI)');

describe('the committed scenario fixtures', () => {
  it('hold exactly the scenarios of make.sh, each listed with its verdict in the README', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.pcap'))
      .map((f) => f.slice(0, -'.pcap'.length))
      .sort();
    expect(files).toEqual([...NAMES].sort());
    const script = readFileSync(MAKE, 'utf8');
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    for (const name of NAMES) {
      expect(script, name).toContain(`"${name} s_`);
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\``));
      expect(row, `README row for ${name}`).toBeDefined();
      for (const x of EXPECTED[name]!.verdicts)
        for (const want of [x.connState, `\`${x.history}\``, x.cause]) expect(row, name).toContain(want);
    }
  });

  it.each(NAMES)('%s: conn_state, history and cause of every reset connection (library)', async (name) => {
    checkReport(name, await analyzeCapture(join(DIR, `${name}.pcap`)));
  });

  it.each(NAMES)('%s: the same through `rstwatch analyze --json`', (name) => {
    const r = cli(['analyze', join(DIR, `${name}.pcap`), '--json', '--max-connections', 'all']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    checkReport(name, JSON.parse(r.stdout) as AnalysisReport);
  });

  describe.skipIf(!haveTshark)('against tshark', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'rstwatch-scn-'));
    let theirs = new Map<string, Map<string, number>>();
    beforeAll(() => {
      theirs = tsharkTuples(
        NAMES.map((n) => join(DIR, `${n}.pcap`)),
        tmp,
      );
    }, 120_000);
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it.each(NAMES)('%s: RSTs per 4-tuple equal tshark’s', async (name) => {
      const file = join(DIR, `${name}.pcap`);
      const ours = ourTuples(await analyzeCapture(file));
      const t = theirs.get(file)!;
      expect([...t.values()].reduce((a, b) => a + b, 0)).toBe(EXPECTED[name]!.rsts);
      expect(sorted(ours)).toEqual(sorted(t));
    });

    it.each(NAMES)('%s: the pcapng conversion (editcap) gives the same analysis', async (name) => {
      const file = join(DIR, `${name}.pcap`);
      const ng = join(tmp, `${name}.pcapng`);
      const e = spawnSync('editcap', ['-F', 'pcapng', file, ng], { encoding: 'utf8' });
      expect(e.status, e.stderr).toBe(0);
      const a = await analyzeCapture(file, { name: 'x' });
      const b = await analyzeCapture(ng, { name: 'x' });
      expect(b.capture.format).toBe('pcapng');
      expect(a.capture.format).toBe('pcap');
      const { capture: _a, ...restA } = a;
      const { capture: _b, ...restB } = b;
      expect(restB).toEqual(restA);
      checkReport(name, b);
    });
  });
});

/** Fresh captures need root, `ip netns`, tcpdump and python3; CI has them all and must run this. */
const canLive = canMakeNetns() && have('tcpdump') && have('python3');
requireCapability(canLive, 'root, `ip netns`, tcpdump and python3 to make the scenario captures');
if (!canLive)
  console.warn('SKIPPED: fresh scenario captures need root, ip netns, tcpdump, python3 (run in CI)');

describe.skipIf(!canLive)('fresh captures from make.sh (real kernel, this machine)', () => {
  const out = mkdtempSync(join(tmpdir(), 'rstwatch-scn-live-'));
  let make: { status: number | null; stdout: string; stderr: string; pid: number } | undefined;
  let theirs = new Map<string, Map<string, number>>();

  beforeAll(() => {
    const r = spawnSync('bash', [MAKE, '-j', '4', out], { encoding: 'utf8', timeout: 150_000 });
    make = { status: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid ?? -1 };
    const files = NAMES.map((n) => join(out, `${n}.pcap`));
    if (haveTshark && files.every((f) => existsSync(f))) theirs = tsharkTuples(files, out);
  }, 240_000);

  afterAll(() => {
    rmSync(out, { recursive: true, force: true });
  });

  it('make.sh makes every scenario and leaves no namespace behind', () => {
    expect(make?.stderr ?? 'not run').toBe('');
    expect(make?.status).toBe(0);
    for (const name of NAMES) expect(existsSync(join(out, `${name}.pcap`)), name).toBe(true);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(left).not.toContain(`rscn-${make?.pid}-`);
  });

  it.each(NAMES)('%s: the same verdicts, and tshark’s RSTs per 4-tuple', async (name) => {
    const file = join(out, `${name}.pcap`);
    expect(existsSync(file), `${name}.pcap was not made: ${make?.stderr}`).toBe(true);
    const r = await analyzeCapture(file);
    checkReport(name, r);
    if (haveTshark) expect(sorted(ourTuples(r))).toEqual(sorted(theirs.get(file) ?? new Map()));
  });
});
