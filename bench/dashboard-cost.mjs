// Part 6 of the benchmark: the dashboard's first load in Debian's Chromium (playwright-core), against a real
// `rstwatch agent` (temporary data folder, a free loopback port, the shipped alerts).
//
// Each round opens the page in a fresh browser context (empty cache, new connections) and reads the page's
// own marks (web/src/main.ts): `rstwatch-first-chart` — the first chart drawn with data, the number the
// target is about (issue 7: first render ≤ 1 s) — and, to see where the time goes, the response of the page,
// DOMContentLoaded (the bundle parsed and run), `rstwatch-stream-open` and `rstwatch-hello` (the event
// stream's first event, which carries the chart list). A second navigation in the same context measures a
// reload (files revalidated with ETag → 304). Bytes transferred are summed from Resource Timing.
//
// Run alone: `node bench/dashboard-cost.mjs [--rounds N] [--warmup SECONDS]` (after `npm run build`).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, percentileSorted, release, round, sleep, table, trackDir, trackProcess } from './lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
export const DASHBOARD_TARGETS = { firstChartMs: 1000 };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The page's marks and timings after the first chart is drawn (browser-side code as a string). */
const READ_MARKS = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? null;
  const resources = performance.getEntriesByType('resource');
  return {
    firstChartMs: mark('rstwatch-first-chart'),
    mainMs: mark('rstwatch-main'),
    responseEndMs: nav.responseEnd,
    domContentLoadedMs: nav.domContentLoadedEventStart,
    streamOpenMs: mark('rstwatch-stream-open'),
    helloMs: mark('rstwatch-hello'),
    loadEventMs: nav.loadEventStart,
    requests: resources.length + 1,
    transferBytes: resources.reduce((s, r) => s + (r.transferSize || 0), nav.transferSize || 0),
    historyPoints: Number(document.querySelector('#chart-received')?.dataset.points ?? 0),
  };
})()`;

async function waitMarks(page, timeoutMs) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = await page.evaluate(READ_MARKS);
    if (m.firstChartMs !== null) return m;
    if (Date.now() > until) throw new Error(`no chart was drawn within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const stats = (values) => {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { median: median(s), p90: percentileSorted(s, 90), max: s[s.length - 1] ?? Number.NaN, n: s.length };
};

export async function runDashboardCost(o = {}) {
  const log = o.log ?? ((s) => process.stderr.write(`${s}\n`));
  const rounds = o.rounds ?? 10;
  const warmupSeconds = o.warmupSeconds ?? 20;
  if (!existsSync(join(ROOT, 'web/app.js'))) throw new Error('web/app.js is missing: run `npm run build`');
  if (!existsSync(CHROMIUM))
    return { skipped: `no ${CHROMIUM} (scripts/setup-test-env.sh installs chromium)` };
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'rstwatch-bench-dash-'));
  const dirRes = trackDir(dir);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const agent = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/rstwatch.js'),
      'agent',
      '--data-dir',
      join(dir, 'data'),
      '--listen',
      `127.0.0.1:${port}`,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, RSTWATCH_CONFIG: '/dev/null', RSTWATCH_HEALTH_DIR: join(dir, 'health.d') },
    },
  );
  const agentRes = trackProcess(agent.pid, 'agent (dashboard bench)');
  let agentLog = '';
  agent.stderr.on('data', (d) => {
    agentLog += d;
  });
  let browser;
  try {
    const until = Date.now() + 20_000;
    while (!agentLog.includes('API listening') && Date.now() < until && agent.exitCode === null)
      await sleep(100);
    if (!agentLog.includes('API listening')) throw new Error(`the agent's API did not start:\n${agentLog}`);
    log(`  agent at ${base}; ${warmupSeconds} s of history first`);
    await sleep(warmupSeconds * 1000);
    browser = await chromium.launch({
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
    // One unmeasured load: Chromium's own first-start work (fonts, GPU process) is not the dashboard's.
    {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(base);
      await waitMarks(page, 15_000);
      await ctx.close();
    }
    const cold = [];
    const reload = [];
    for (let i = 0; i < rounds; i++) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      await page.goto(base);
      cold.push(await waitMarks(page, 15_000));
      await page.goto(`${base}/?netns=host`);
      reload.push(await waitMarks(page, 15_000));
      await ctx.close();
    }
    const pick = (arr, k) => stats(arr.map((m) => m[k]));
    return {
      rounds,
      warmupSeconds,
      loadAverage: loadavg()[0],
      cpus: cpus().length,
      historyPoints: median(cold.map((m) => m.historyPoints)),
      cold: {
        firstChartMs: pick(cold, 'firstChartMs'),
        responseEndMs: pick(cold, 'responseEndMs'),
        domContentLoadedMs: pick(cold, 'domContentLoadedMs'),
        mainMs: pick(cold, 'mainMs'),
        streamOpenMs: pick(cold, 'streamOpenMs'),
        helloMs: pick(cold, 'helloMs'),
        requests: median(cold.map((m) => m.requests)),
        transferKiB: median(cold.map((m) => m.transferBytes)) / 1024,
      },
      reload: {
        firstChartMs: pick(reload, 'firstChartMs'),
        transferKiB: median(reload.map((m) => m.transferBytes)) / 1024,
      },
    };
  } finally {
    await browser?.close().catch(() => undefined);
    release(agentRes);
    release(dirRes);
  }
}

const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : '–');

export function printDashboard(d) {
  console.log('\n## 6. Dashboard first load (Chromium, fresh context each round)\n');
  if (d.skipped) {
    console.log(`skipped — ${d.skipped}`);
    return;
  }
  const row = (label, s) => [label, ms(s.median), ms(s.p90), ms(s.max)];
  console.log(
    table([
      ['since navigation start', 'median', 'p90', 'max'],
      row('page received', d.cold.responseEndMs),
      row('script started', d.cold.mainMs),
      row('script run (DOMContentLoaded)', d.cold.domContentLoadedMs),
      row('event stream opened', d.cold.streamOpenMs),
      row('stream hello (chart list)', d.cold.helloMs),
      row('first chart drawn (cold)', d.cold.firstChartMs),
      row('first chart drawn (reload, cached)', d.reload.firstChartMs),
    ]),
  );
  const f = d.cold.firstChartMs;
  console.log(
    `\n${d.rounds} rounds after ${d.warmupSeconds} s of agent history (${d.historyPoints} points drawn per chart); ` +
      `${d.cold.requests} requests, ${d.cold.transferKiB.toFixed(0)} KiB cold, ${d.reload.transferKiB.toFixed(0)} KiB on reload; ` +
      `load average ${d.loadAverage.toFixed(2)} on ${d.cpus} CPUs`,
  );
  console.log(
    `target first render ≤ ${DASHBOARD_TARGETS.firstChartMs} ms: median ${ms(f.median)}, max ${ms(f.max)} → ` +
      `${f.max <= DASHBOARD_TARGETS.firstChartMs ? 'within' : f.median <= DASHBOARD_TARGETS.firstChartMs ? 'within (median; the max is over)' : 'OVER'}`,
  );
}

export function dashboardJson(d) {
  if (d.skipped) return { skipped: d.skipped };
  const s = (x) => ({ medianMs: round(x.median, 1), p90Ms: round(x.p90, 1), maxMs: round(x.max, 1) });
  return {
    rounds: d.rounds,
    warmupSeconds: d.warmupSeconds,
    historyPoints: d.historyPoints,
    loadAverage: round(d.loadAverage, 2),
    firstChart: s(d.cold.firstChartMs),
    firstChartReload: s(d.reload.firstChartMs),
    domContentLoaded: s(d.cold.domContentLoadedMs),
    hello: s(d.cold.helloMs),
    requests: d.cold.requests,
    transferKiB: round(d.cold.transferKiB, 1),
    withinTarget: d.cold.firstChartMs.median <= DASHBOARD_TARGETS.firstChartMs,
  };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '10' }, warmup: { type: 'string', default: '20' } },
  });
  const { cleanupSync, installSignalCleanup } = await import('./lib.mjs');
  installSignalCleanup();
  try {
    const d = await runDashboardCost({ rounds: Number(values.rounds), warmupSeconds: Number(values.warmup) });
    printDashboard(d);
    console.log(
      `\nBENCH_JSON ${JSON.stringify({ bench: 'rstwatch-dashboard', dashboard: dashboardJson(d) })}`,
    );
  } finally {
    cleanupSync();
  }
}
