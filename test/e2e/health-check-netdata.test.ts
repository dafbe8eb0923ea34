/**
 * End to end: Netdata's own stock health configuration, from Debian's netdata-core package, through
 * `rstwatch health check`. The files are read where the package put them: Netdata is GPL, so they are never
 * copied into this repository.
 *
 * The package is installed if missing (as root). In CI a failure to install fails the run; elsewhere the
 * tests are skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, validateExpression } from '../../src/cli/health.js';
import type { Io } from '../../src/cli/main.js';
import { parseHealthConfig } from '../../src/health/config.js';
import type { AlertConfig } from '../../src/health/types.js';
import type { Problem } from '../../src/internal/errors.js';
import { cli, requireCapability } from '../helpers/paths.js';

const STOCK = '/usr/lib/netdata/conf.d/health.d';

function aptGet(args: string[]): boolean {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 900_000,
  });
  if (r.status !== 0) console.warn(`apt-get ${args.join(' ')} failed: ${r.stderr ?? r.error}`);
  return r.status === 0;
}

/** Make sure netdata-core's health.d is there; install it when we can. */
function ensureNetdataCore(): boolean {
  if (!existsSync(STOCK) && process.getuid?.() === 0) {
    const install = ['install', '-y', 'netdata-core'];
    if (!aptGet(install) || !existsSync(STOCK)) {
      aptGet(['update']);
      aptGet(install);
    }
  }
  const ok = existsSync(STOCK);
  requireCapability(ok, `Debian's netdata-core package (${STOCK}); installing it needs root and apt`);
  if (!ok) console.warn(`SKIPPED: ${STOCK} is missing and netdata-core could not be installed (runs in CI)`);
  return ok;
}

const available = ensureNetdataCore();

function stockFiles(): string[] {
  return readdirSync(STOCK)
    .filter((f) => f.length > 5 && f.endsWith('.conf'))
    .sort()
    .map((f) => join(STOCK, f));
}

/** Lines of the stock files that match `re`, counted with a plain regular expression. */
function countLines(re: RegExp): number {
  let n = 0;
  for (const f of stockFiles())
    for (const line of readFileSync(f, 'utf8').split('\n')) if (re.test(line)) n++;
  return n;
}

function memoryIo(): Io & { stdout: string; stderr: string } {
  const o = {
    stdout: '',
    stderr: '',
    isTty: false,
    out: (s: string) => {
      o.stdout += s;
    },
    err: (s: string) => {
      o.stderr += s;
    },
  };
  return o;
}

interface Report {
  files: number;
  alarms: number;
  templates: number;
  errors: number;
  warnings: number;
  problems: Problem[];
}

describe.skipIf(!available)("Netdata's stock health.d", () => {
  it('checks with zero errors, and finds every alarm and template', async () => {
    const io = memoryIo();
    const code = await run(['check', '--json', STOCK], io);
    const report = JSON.parse(io.stdout) as Report;
    const errors = report.problems.filter((p) => p.severity === 'error');
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.files).toBe(stockFiles().length);
    expect(report.alarms).toBe(countLines(/^\s*alarm\s*:/i));
    expect(report.templates).toBe(countLines(/^\s*template\s*:/i));
    expect(report.alarms).toBeGreaterThan(0);
    expect(report.templates).toBeGreaterThan(0);
    // Warnings are only for things Netdata ignores too.
    for (const w of report.problems) expect(w.code).toMatch(/^W_HEALTH_/);
  });

  it('loads every alert, with a lookup wherever the file has one', () => {
    let alerts = 0;
    let lookups = 0;
    for (const f of stockFiles()) {
      const r = parseHealthConfig(readFileSync(f, 'utf8'), f, { validateExpression });
      expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(r.alerts).toHaveLength(r.counts.alarms + r.counts.templates);
      alerts += r.alerts.length;
      lookups += r.alerts.filter((a) => a.lookup).length;
      for (const a of r.alerts) expect(a.every).toBeGreaterThan(0);
    }
    expect(alerts).toBe(countLines(/^\s*(alarm|template)\s*:/i));
    expect(lookups).toBe(countLines(/^\s*lookup\s*:/i));
  });

  describe('tcp_resets.conf', () => {
    const file = join(STOCK, 'tcp_resets.conf');
    const text = available ? readFileSync(file, 'utf8') : '';
    const parsed = available ? parseHealthConfig(text, file, { validateExpression }) : undefined;

    /** The alert whose name matches, and the `key:` values its block in the file says. */
    function alert(name: RegExp): { a: AlertConfig; says: (key: string) => string | undefined } {
      const a = parsed?.alerts.find((x) => name.test(x.name));
      if (!a) throw new Error(`no alert matching ${name} in ${file}: ${parsed?.alerts.map((x) => x.name)}`);
      const lines = text.split('\n');
      const start = a.source.line - 1;
      let end = lines.findIndex((l, i) => i > start && /^\s*(alarm|template)\s*:/i.test(l));
      if (end < 0) end = lines.length;
      const block = lines.slice(start, end);
      const says = (key: string) =>
        block
          .map((l) => new RegExp(`^\\s*${key}\\s*:\\s*(.*?)\\s*$`, 'i').exec(l)?.[1])
          .find((v) => v !== undefined);
      return { a, says };
    }

    const absoluteUnaligned = {
      absolute: true,
      unaligned: true,
      percentage: false,
      anomalyBit: false,
      combine: 'sum',
      null2zero: false,
      matchIds: false,
      matchNames: false,
    };

    it('has no problems', () => {
      expect(parsed?.problems).toEqual([]);
      expect(parsed?.counts).toEqual({ alarms: 4, templates: 0 });
    });

    it.each([
      [/^10s_ip(v4)?_tcp_resets_received$/, 'AttemptFails', -10, 0],
      [/^10s_ip(v4)?_tcp_resets_sent$/, 'OutRsts', -10, 0],
      [/^1m_ip(v4)?_tcp_resets_received$/, 'AttemptFails', -60, -10],
      [/^1m_ip(v4)?_tcp_resets_sent$/, 'OutRsts', -60, -10],
    ])('%s: average %d s at %d s, absolute unaligned, of %s, every 10 s', (name, dims, after, before) => {
      const { a, says } = alert(name);
      expect(a.kind).toBe('alarm');
      // The chart was ipv4.tcphandshake until October 2023 (Netdata PR #16122): take what the file says.
      expect(a.on).toMatch(/^ip(v4)?\.tcphandshake$/);
      expect(a.on).toBe(says('on'));
      expect(a.lookup).toMatchObject({ method: 'average', after, before, dimensions: dims });
      expect(a.lookup?.options).toEqual(absoluteUnaligned);
      expect(a.every).toBe(10);
      expect(a.units).toBe('tcp resets/s');
      expect([a.class, a.type, a.component]).toEqual(['Errors', 'System', 'Network']);
      // `os: linux freebsd` (older files) and `host labels: _os=linux freebsd` (newer) are the same filter.
      const os = a.hostLabels.find((e) => e.key === '_os');
      expect(os?.patterns).toBe(dims === 'OutRsts' ? 'linux' : 'linux freebsd');
    });

    it.each([/^10s_ip(v4)?_tcp_resets_received$/, /^10s_ip(v4)?_tcp_resets_sent$/])(
      '%s: delay up 20 s down 3600 s multiplier 1.2 (C float) max 7200 s, no clear notification',
      (name) => {
        const { a, says } = alert(name);
        expect(a.delay).toEqual({ up: 20, down: 3600, multiplier: Math.fround(1.2), max: 7200 });
        expect(a.noClearNotification).toBe(true);
        // `to: silent` in Netdata since 2023, `sysadmin` in Debian's 1.37: take what the file says.
        expect(a.to).toBe(says('to'));
        expect(a.to).toMatch(/^(silent|sysadmin)$/);
        // The warn line compares with the 1m alarm of the same direction.
        const partner = a.name.replace(/^10s_/, '1m_');
        expect(a.warn?.source).toContain(`$${partner}`);
        expect(validateExpression(a.warn as NonNullable<AlertConfig['warn']>)).toEqual([]);
        expect(a.crit).toBeUndefined();
      },
    );

    it('keeps the 1m alarms without warn or crit (they only feed the 10s ones)', () => {
      for (const name of [/^1m_ip(v4)?_tcp_resets_received$/, /^1m_ip(v4)?_tcp_resets_sent$/]) {
        const { a } = alert(name);
        expect([a.warn, a.crit, a.calc]).toEqual([undefined, undefined, undefined]);
        expect(a.delay).toEqual({ up: 0, down: 0, multiplier: 1, max: 0 });
        expect(a.noClearNotification).toBe(false);
      }
    });
  });

  it('works through the real binary', () => {
    const probe = cli(['health', '--help']);
    expect(probe.code).toBe(0);
    expect(probe.stdout).toContain('rstwatch health check');
    const r = cli(['health', 'check', STOCK]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const summary = `${countLines(/^\s*alarm\s*:/i)} alarms, ${countLines(/^\s*template\s*:/i)} templates, 0 errors`;
    expect(lines).toContain(summary);
    for (const l of lines.slice(0, lines.indexOf(summary)))
      expect(l).toMatch(/^\/usr\/lib\/netdata\/conf\.d\/health\.d\/[^:]+\.conf:\d+:\d+: warning: W_HEALTH_/);
  });
});
