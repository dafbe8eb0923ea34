/**
 * Golden outputs of `rstwatch status` on fixture trees. Regenerate after an intended change with
 * `UPDATE_GOLDEN=1 npx vitest run test/unit/status-golden.test.ts` and review the diff.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { buildNamespaceStatus, renderText } from '../../src/status/report.js';
import { cli, FIXTURES, ROOT } from '../helpers/paths.js';

const GOLDEN = `${ROOT}test/golden`;
const update = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const file = `${GOLDEN}/${name}`;
  if (update || !existsSync(file)) {
    if (!update && process.env.CI) throw new Error(`golden file ${name} is missing`);
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

/** Time and version vary between runs; nothing else may. */
function stable(json: string): string {
  const o = JSON.parse(json) as Record<string, unknown>;
  o.time = 'TIME';
  o.version = 'VERSION';
  // Paths of the checkout differ between machines (CI clones elsewhere).
  return `${JSON.stringify(o, null, 2)}\n`.split(FIXTURES).join('<fixtures>');
}

describe('status --json on fixture trees (via the CLI)', () => {
  it.each(['linux-6.18', 'linux-6.1', 'linux-2.6.32', 'reordered', 'garbled', 'missing-netstat'])(
    '%s',
    (c) => {
      const r = cli([
        'status',
        '--json',
        '--interval',
        '0',
        '--os',
        'linux',
        '--proc-root',
        `${FIXTURES}/proc/${c}`,
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const o = JSON.parse(r.stdout) as {
        source: string;
        netns: string;
        counters: Record<string, number>;
        rates: Record<string, number>;
      };
      expect(o.source).toBe('linux-proc');
      expect(o.netns).toBe('host');
      golden(`status-${c}.json`, stable(r.stdout));
    },
  );

  it('--watch --count N refreshes N times', () => {
    const r = cli([
      'status',
      '--watch',
      '--count',
      '3',
      '--interval',
      '100ms',
      '--json',
      '--proc-root',
      `${FIXTURES}/proc/linux-6.18`,
    ]);
    expect(r.code).toBe(0);
    const docs = r.stdout.split(/\n(?=\{)/).map((d) => JSON.parse(d) as { intervalSeconds: number });
    expect(docs).toHaveLength(3);
    for (const d of docs) expect(d.intervalSeconds).toBeGreaterThanOrEqual(0.09);
  });

  it('exit status 3 and a clear problem when nothing can be read', () => {
    const r = cli([
      'status',
      '--json',
      '--interval',
      '0',
      '--os',
      'linux',
      '--proc-root',
      `${FIXTURES}/proc/does-not-exist`,
    ]);
    expect(r.code).toBe(3);
    const o = JSON.parse(r.stdout) as { problems: { code: string; file: string }[] };
    expect(o.problems.map((p) => p.code)).toEqual(['E_PROC_MISSING', 'E_PROC_MISSING']);
    expect(o.problems[0]!.file).toBe(`${FIXTURES}/proc/does-not-exist/net/snmp`);
  });

  it('two namespaces whose labels map to one chart id are refused (exit 2)', () => {
    const r = cli(['status', '--interval', '0', '--netns', 'a-b', '--netns', 'a_b']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_NETNS_SPEC');
  });

  it('a bad flag is a usage error (exit 2) with a stable code', () => {
    const r = cli(['status', '--interval', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_USAGE');
  });
});

describe('status rates between two snapshots (busy-server t0 → t1, 2 s apart)', () => {
  const t0 = new LinuxCollector({ procRoot: `${FIXTURES}/proc/busy-server/t0` }).collectSync();
  const t1 = new LinuxCollector({ procRoot: `${FIXTURES}/proc/busy-server/t1` }).collectSync();
  const s = buildNamespaceStatus('linux', t0, t1, 2);

  it('rates are the counter deltas per second', () => {
    // 30 refused connects, 15 zero-linger aborts, 15 unread-data closes between the snapshots.
    expect(s.rates.AttemptFails).toBe(15);
    expect(s.rates.OutRsts).toBe(30);
    expect(s.rates.EstabResets).toBe(30);
    expect(s.rates.TCPAbortOnData).toBe(7.5);
    expect(s.rates.TCPAbortOnClose).toBe(7.5);
    expect(s.counters.AttemptFails).toBe(75);
  });

  it('a counter that went backwards has no rate (null), never a negative one', () => {
    const back = buildNamespaceStatus('linux', t1, t0, 2);
    expect(back.rates.AttemptFails).toBeNull();
    for (const v of Object.values(back.rates)) if (v !== null) expect(v).toBeGreaterThanOrEqual(0);
  });

  it('text rendering', () => {
    golden('status-busy-server.txt', renderText([s], new Date(Date.UTC(2026, 0, 1))));
  });
});

describe('status on FreeBSD fixtures (fake netstat/sysctl programs print constructed outputs)', () => {
  const bin = `${FIXTURES}/bin`;
  const run = (c: string) =>
    cli(
      [
        'status',
        '--json',
        '--interval',
        '0',
        '--os',
        'freebsd',
        '--netstat',
        `${bin}/fake-netstat`,
        '--sysctl',
        `${bin}/fake-sysctl`,
      ],
      { env: { RW_FREEBSD_FIXTURE: `${FIXTURES}/freebsd/${c}` } },
    );

  it('freebsd-14: Netdata names for the handshake counters, libxo names for the rest, settings', () => {
    const r = run('freebsd-14');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout) as {
      source: string;
      counters: Record<string, number>;
      settings: Record<string, number>;
    };
    expect(o.source).toBe('freebsd-netstat');
    expect(o.counters).toMatchObject({
      EstabResets: 9876,
      AttemptFails: 412,
      ActiveOpens: 118233,
      PassiveOpens: 402118,
    });
    expect(o.counters['ignored-in-window-resets']).toBe(1342);
    expect(o.settings['net.inet.tcp.syncookies']).toBe(1);
    golden('status-freebsd-14.json', stable(r.stdout));
  });

  it('junk output: exit 3 and a problem naming netstat', () => {
    const r = run('junk');
    expect(r.code).toBe(3);
    const o = JSON.parse(r.stdout) as { problems: { code: string }[] };
    expect(o.problems.map((p) => p.code)).toContain('E_NETSTAT_JUNK');
  });
});
