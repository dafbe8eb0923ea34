/**
 * The fleet contrib: Prometheus rules checked and unit-tested with promtool, the Alertmanager example
 * checked with amtool, the systemd unit verified (and its exposure scored) by systemd-analyze, and a real
 * Prometheus (Debian's `prometheus`) scraping a fake exporter on loopback whose node_exporter and rstwatch
 * counters jump: the surge rules must go pending, then fire 20 s later (their `for:`), there too.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, requireCapability } from '../helpers/paths.js';

const RULES = join(ROOT, 'contrib/prometheus/rstwatch.rules.yml');
const RULES_TEST = join(ROOT, 'contrib/prometheus/rstwatch.rules.test.yml');
const UNIT = join(ROOT, 'contrib/systemd/rstwatch.service');
const AM_EXAMPLE = join(ROOT, 'contrib/alertmanager/alertmanager.yml');

const tools = ['/usr/bin/promtool', '/usr/bin/prometheus', '/usr/bin/amtool'].every((p) => existsSync(p));
requireCapability(tools, 'promtool, prometheus and amtool (Debian prometheus, prometheus-alertmanager)');
if (!tools) console.warn('SKIPPED: the fleet tests need Debian prometheus and prometheus-alertmanager');

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.runIf(tools)('contrib files', () => {
  it('promtool check rules: every rule parses', () => {
    const r = run('/usr/bin/promtool', ['check', 'rules', RULES]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS: 14 rules found');
  });

  it('promtool test rules: raise, hysteresis, keep_firing_for, a busy baseline, the agent mirror', () => {
    const r = run('/usr/bin/promtool', ['test', 'rules', RULES_TEST]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });

  it('promtool test rules fails when the hold clause (hysteresis) is taken out', () => {
    // The unit test must be able to fail: without the ALERTS self-reference the drop to 40/s ends the
    // pending alert before its 20 s, and the t=330 s expectation breaks.
    const dir = mkdtempSync(join(tmpdir(), 'rstwatch-rules-'));
    try {
      const broken = readFileSync(RULES, 'utf8').replaceAll(
        'ALERTS{alertname=',
        'ALERTS{nosuch="x",alertname=',
      );
      writeFileSync(join(dir, 'rstwatch.rules.yml'), broken);
      writeFileSync(join(dir, 'rstwatch.rules.test.yml'), readFileSync(RULES_TEST, 'utf8'));
      const r = run('/usr/bin/promtool', ['test', 'rules', join(dir, 'rstwatch.rules.test.yml')]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/alertname: TCPResetsReceivedSurge, time: 5m30s/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('amtool check-config: the Alertmanager example is valid', () => {
    const r = run('/usr/bin/amtool', ['check-config', AM_EXAMPLE]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });

  const systemdAnalyze = existsSync('/usr/bin/systemd-analyze');
  requireCapability(systemdAnalyze, 'systemd-analyze (Debian systemd)');
  if (!systemdAnalyze) console.warn('SKIPPED: systemd-analyze is missing; the unit is not verified');
  it.runIf(systemdAnalyze)('systemd-analyze verify: the unit is clean; its exposure is low', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rstwatch-unit-'));
    try {
      // verify checks that ExecStart exists: point it at this checkout's CLI.
      const unit = readFileSync(UNIT, 'utf8').replace(
        'ExecStart=/usr/bin/rstwatch agent',
        `ExecStart=${process.execPath} ${BIN} agent`,
      );
      expect(unit).toContain(`ExecStart=${process.execPath}`);
      writeFileSync(join(dir, 'rstwatch.service'), unit);
      const v = spawnSync('/usr/bin/systemd-analyze', ['verify', join(dir, 'rstwatch.service')], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(v.status, v.stderr).toBe(0);
      // Unknown keys and bad values are only warnings for systemd: any output is a failure here.
      expect(v.stderr.trim()).toBe('');
      const s = run('/usr/bin/systemd-analyze', ['security', '--offline=yes', join(dir, 'rstwatch.service')]);
      const m = /Overall exposure level for rstwatch\.service: (\d+(?:\.\d+)?)/.exec(s.out);
      expect(m, s.out).not.toBeNull();
      // 0 is a perfect sandbox, 10 none; measured 2.8 ("OK", docs/security.md).
      expect(Number(m![1])).toBeLessThanOrEqual(3.5);
      for (const line of [
        'CapabilityBoundingSet=CAP_DAC_OVERRIDE CAP_NET_RAW CAP_SYS_ADMIN',
        'DynamicUser=yes',
        'ProtectSystem=strict',
        'NoNewPrivileges=yes',
      ])
        expect(unit).toContain(line);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
}

describe.runIf(tools)('a real Prometheus scrapes a storm', () => {
  let exporter: Server | undefined;
  let prom: ChildProcess | undefined;
  let dir = '';

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => prom!.kill('SIGKILL'), 5000);
        prom!.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        prom!.kill('SIGTERM');
      });
    }
    await new Promise<void>((resolve) => (exporter ? exporter.close(() => resolve()) : resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the surge rules fire in Prometheus: pending at the storm, firing 20 s later, from both sources', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rstwatch-prom-'));
    // Counters grow with real time: 1/s, then 200/s once the storm starts.
    const t0 = Date.now();
    let stormAt = Number.POSITIVE_INFINITY;
    const count = (now: number) => {
      const quiet = (Math.min(now, stormAt) - t0) / 1000;
      const storm = Math.max(0, now - stormAt) / 1000;
      return Math.floor(1000 + quiet * 1 + storm * 200);
    };
    exporter = createServer((_req, res) => {
      const now = Date.now();
      const v = count(now);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        [
          '# TYPE node_netstat_Tcp_AttemptFails untyped',
          `node_netstat_Tcp_AttemptFails ${v}`,
          '# TYPE rstwatch_netstat_Tcp_AttemptFails_total counter',
          `rstwatch_netstat_Tcp_AttemptFails_total{netns="host"} ${v}`,
          '# TYPE rstwatch_uptime_seconds gauge',
          `rstwatch_uptime_seconds ${Math.floor((now - t0) / 1000) + 3600}`,
          '',
        ].join('\n'),
      );
    });
    await new Promise<void>((resolve) => exporter!.listen(0, '127.0.0.1', resolve));
    const exporterPort = (exporter.address() as { port: number }).port;
    const promPort = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${RULES}\n` +
        `scrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']\n`,
    );
    let promLog = '';
    prom = spawn(
      '/usr/bin/prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr!.on('data', (d) => {
      promLog = (promLog + d).slice(-4000);
    });
    const api = `http://127.0.0.1:${promPort}`;
    const poll = async <T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> => {
      const until = Date.now() + ms;
      for (;;) {
        try {
          const v = await probe();
          if (v !== undefined) return v;
        } catch {
          // not up yet
        }
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${promLog}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const alerts = async (): Promise<PromAlert[]> => {
      const r = await fetch(`${api}/api/v1/alerts`);
      return ((await r.json()) as { data: { alerts: PromAlert[] } }).data.alerts.filter(
        (a) => a.labels.alertname === 'TCPResetsReceivedSurge',
      );
    };
    await poll('Prometheus ready', 30_000, async () =>
      (await fetch(`${api}/-/ready`)).ok ? true : undefined,
    );
    // A baseline first: the 1-minute rate ending 10 s ago needs two samples in its window.
    await poll('a baseline', 40_000, async () => {
      const r = await fetch(`${api}/api/v1/query?query=node:tcp_attempt_fails:rate1m_offset10s`);
      const body = (await r.json()) as { data: { result: unknown[] } };
      return body.data.result.length > 0 ? true : undefined;
    });
    expect(await alerts()).toEqual([]);
    stormAt = Date.now();
    const pending = await poll('pending alerts', 20_000, async () => {
      const a = await alerts();
      return a.length === 2 && a.every((x) => x.state === 'pending') ? a : undefined;
    });
    const firing = await poll('firing alerts', 40_000, async () => {
      const a = await alerts();
      return a.length === 2 && a.every((x) => x.state === 'firing') ? a : undefined;
    });
    const firedAfterMs = Date.now() - stormAt;
    expect(firing.map((a) => a.labels.source).sort()).toEqual(['node_exporter', 'rstwatch']);
    expect(firing.find((a) => a.labels.source === 'rstwatch')!.labels.netns).toBe('host');
    // `for: 20s`: firing no sooner than 20 s after it went pending.
    for (const a of pending) expect(Date.parse(a.activeAt)).toBeGreaterThanOrEqual(stormAt - 1000);
    expect(firedAfterMs).toBeGreaterThanOrEqual(20_000);
    expect(firedAfterMs).toBeLessThan(40_000);
  }, 150_000);
});
