/**
 * The HTML report of a real capture, opened in a real browser.
 *
 * 1. Real kernel resets: in a network namespace made here, tcpdump captures the loopback while a small Node
 *    program makes refused connects (IPv4 and IPv6, at three moments), zero-linger aborts
 *    (`resetAndDestroy`, IPv4 and IPv6) and normal connections.
 * 2. The built CLI writes `--html` and `--json` for it; the JSON is validated against docs/analyze.schema.json.
 * 3. Debian's Chromium (driven by playwright-core, installed by scripts/setup-test-env.sh) opens the page
 *    offline: no request may leave it, the CSP must let our own style and script run (the filter box
 *    appears, the cards are a grid) and report no violation, every SVG chart must have drawn bars, and the
 *    phone-sized view must not scroll sideways. Screenshots go to test-artifacts/ (gitignored) for a person.
 *
 * Needs root, `ip netns`, tcpdump and chromium: without them it is skipped with a warning, and in CI
 * (CI set) it fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisJson } from '../../src/report/json.js';
import { createNetns, deleteNetns, netnsAvailable } from '../helpers/netns.js';
import { cli, ROOT, requireCapability } from '../helpers/paths.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts');

const hasNetns = netnsAvailable();
const hasTcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' }).status === 0;
requireCapability(hasTcpdump, 'tcpdump');
const hasChromium = existsSync(CHROMIUM);
requireCapability(hasChromium, `chromium at ${CHROMIUM} (scripts/setup-test-env.sh installs it)`);
if (!hasChromium) console.warn(`SKIPPED: the browser half of report-html needs ${CHROMIUM}`);
const canCapture = hasNetns && hasTcpdump;

/** The traffic, run inside the namespace: every wait bounded, every socket closed. */
const TRAFFIC = `
const net = require('node:net');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const refused = (host, n) => (async () => { for (let i = 0; i < n; i++) await new Promise((res) => {
  const s = net.connect({ host, port: 9001, timeout: 2000 });
  s.on('error', res); s.on('timeout', () => { s.destroy(); res(); }); s.on('connect', () => { s.destroy(); res(); });
}); })();
const once = (host, port, onConnect) => new Promise((res) => {
  const c = net.connect({ host, port, timeout: 2000 }, () => onConnect(c));
  c.on('data', () => {}); c.on('error', res); c.on('close', res); c.on('timeout', () => { c.destroy(); res(); });
});
(async () => {
  // A server that aborts each connection with a zero-linger close (RST) once the request arrives.
  const aborter = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  await new Promise((r) => aborter.listen(7000, '::', r));
  const echo = net.createServer((s) => s.on('data', (d) => s.end(d)));
  await new Promise((r) => echo.listen(7002, '127.0.0.1', r));
  await refused('127.0.0.1', 30);
  await sleep(1100);
  for (const host of ['127.0.0.1', '::1']) for (let i = 0; i < 4; i++) await once(host, 7000, (c) => c.write('hello'));
  for (let i = 0; i < 5; i++) await once('127.0.0.1', 7002, (c) => c.end('ping'));
  await sleep(1100);
  await refused('::1', 12);
  aborter.close(); echo.close();
  process.stdout.write('done');
})();
`;

let work = '';
let pcapPath = '';
let htmlPath = '';
let report: AnalysisJson | undefined;

beforeAll(async () => {
  if (!canCapture) return;
  work = mkdtempSync(join(tmpdir(), 'rstwatch-report-html-'));
  pcapPath = join(work, 'resets.pcap');
  htmlPath = join(work, 'resets.html');
  const ns = createNetns('rwhtml');
  try {
    // `ip netns exec` execs tcpdump in place: the pid is tcpdump's.
    const td = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'tcpdump',
        '--immediate-mode',
        '-U',
        '-n',
        '-s',
        '200',
        '-i',
        'lo',
        '-w',
        pcapPath,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let tdErr = '';
    const exited = new Promise<void>((res) => td.on('exit', () => res()));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`tcpdump did not start: ${tdErr}`)), 15_000);
      td.stderr!.on('data', (d: Buffer) => {
        tdErr += d.toString();
        if (tdErr.includes('listening on')) {
          clearTimeout(timer);
          res();
        }
      });
      td.on('exit', () => rej(new Error(`tcpdump exited: ${tdErr}`)));
    });
    const t = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', TRAFFIC], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(t.stdout, t.stderr).toBe('done');
    await new Promise((r) => setTimeout(r, 300)); // let tcpdump write the last packets
    td.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (td.exitCode === null) td.kill('SIGKILL');
  } finally {
    deleteNetns(ns);
  }
  const r = cli(['analyze', pcapPath, '--json', '--html', htmlPath], { timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  report = JSON.parse(r.stdout) as AnalysisJson;
}, 120_000);

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

describe.runIf(canCapture)('report of a real capture (network namespace, tcpdump)', () => {
  it('classifies the kernel resets and validates against docs/analyze.schema.json', () => {
    const j = report!;
    const schema = JSON.parse(readFileSync(join(ROOT, 'docs/analyze.schema.json'), 'utf8')) as object;
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    const validate = ajv.compile(schema);
    expect(validate(j) ? '' : ajv.errorsText(validate.errors)).toBe('');
    // 42 refused connects (30 IPv4 + 12 IPv6) and 8 aborts, each with its RST seen once on loopback.
    const by = Object.fromEntries(j.causes.map((c) => [c.cause, c.count]));
    expect(by.refused).toBe(42);
    expect(by.abort).toBe(8);
    expect(j.summary).toMatchObject({ rsts: 50, rstIpv4: 34, rstIpv6: 16 });
    const rej = j.connections.filter((c) => c.cause === 'refused');
    expect(rej.every((c) => c.connState === 'REJ' && c.history === 'Sr')).toBe(true);
    expect(j.timeline.counts.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });

  it.runIf(hasChromium)(
    'opens offline in Chromium: no request leaves the page, CSP allows only ours, charts drawn, phone fits',
    async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      try {
        mkdirSync(ARTIFACTS, { recursive: true });
        for (const view of [
          { name: 'laptop', width: 1280, height: 900 },
          { name: 'phone', width: 390, height: 844 },
        ]) {
          const context = await browser.newContext({ offline: true, viewport: view });
          const requests: string[] = [];
          const problems: string[] = [];
          context.on('request', (req) => requests.push(req.url()));
          // Anything but the file itself would be a fetch: refuse it (and it is recorded above).
          await context.route(/^(?!file:)/, (route) => route.abort());
          const page = await context.newPage();
          page.on('console', (m) => {
            if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
          });
          page.on('pageerror', (e) => problems.push(e.message));
          await page.goto(`file://${htmlPath}`, { waitUntil: 'load' });

          expect(requests).toEqual([`file://${htmlPath}`]);
          expect(problems).toEqual([]); // a CSP violation would be reported here

          // Our script ran (the filter box appears) and our style applied (the cards are a grid).
          expect(await page.isVisible('#filter')).toBe(true);
          // (Browser-side code as strings: the test project compiles without the DOM library.)
          expect(await page.evaluate("getComputedStyle(document.querySelector('.cards')).display")).toBe(
            'grid',
          );

          const charts = await page.$$eval('svg.chart', (svgs) =>
            svgs.map((s) => {
              const box = s.getBoundingClientRect();
              const bars = [...s.querySelectorAll('rect.bar')].map((r) => r.getBoundingClientRect());
              return {
                cls: s.getAttribute('class'),
                width: box.width,
                height: box.height,
                bars: bars.length,
                drawn: bars.filter((b) => b.width > 0 && b.height > 0).length,
              };
            }),
          );
          expect(charts.length).toBe(6); // timeline, causes, senders, receivers, ports, pairs
          for (const c of charts) {
            expect(c.width, JSON.stringify(c)).toBeGreaterThan(100);
            expect(c.height, JSON.stringify(c)).toBeGreaterThan(20);
            expect(c.bars, JSON.stringify(c)).toBeGreaterThan(0);
            expect(c.drawn, JSON.stringify(c)).toBe(c.bars);
          }

          const rows = await page.$$eval('#conns tbody tr', (r) => r.length);
          expect(rows).toBe(report!.connections.length);
          await page.fill('#filter', 'abort');
          const shown = await page.evaluate(
            "[...document.querySelectorAll('#conns tbody tr')].filter((r) => !r.hidden).length",
          );
          expect(shown).toBe(report!.connections.filter((c) => c.cause === 'abort').length);
          await page.fill('#filter', '');

          if (view.name === 'phone') {
            const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
            expect(overflow).toBeLessThanOrEqual(1);
          }
          // Control: even a script running in the page cannot reach the network (CSP connect-src falls back
          // to default-src 'none'), and the attempt is reported, so the empty list above means something.
          const fetched = await page.evaluate(() =>
            fetch('http://127.0.0.1:9/leak').then(
              () => 'sent',
              () => 'refused',
            ),
          );
          expect(fetched).toBe('refused');
          expect(problems.join('\n')).toMatch(/Content Security Policy/);
          expect(requests).toEqual([`file://${htmlPath}`]);

          await page.evaluate('window.scrollTo(0, 0)');
          await page.screenshot({ path: join(ARTIFACTS, `report-${view.name}.png`), fullPage: false });
          await context.close();
        }
      } finally {
        await browser.close();
      }
    },
    120_000,
  );
});
