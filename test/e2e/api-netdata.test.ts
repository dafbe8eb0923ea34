/**
 * Live comparison with Debian's netdata (netdata-core 1.37): netdata runs in the test with its own folders,
 * web server on a free loopback port, only the proc plugin's /proc/net/netstat module (the TCP charts) and
 * its stock health configuration (read in place); rstwatch's server runs over the simulated agent of the
 * unit tests. For every Netdata-compatible endpoint the answers must have the same keys with the same JSON
 * types, recursively (values differ: two programs, two data sets). A null in Netdata's answer (a field it
 * leaves empty) accepts any type; keys that are data (chart ids, dimension ids, alarm names) are compared
 * through one representative entry.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireCapability } from '../helpers/paths.js';
import { type Harness, jsonType, startHarness } from '../unit/server-harness.js';

const NETDATA = '/usr/sbin/netdata';
const available = existsSync(NETDATA) && process.getuid?.() === 0;
requireCapability(available, 'Debian netdata-core (/usr/sbin/netdata) and root to run it');
if (!available) console.warn('SKIPPED: the live Netdata comparison needs netdata-core and root');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A netdata.conf of our own: the proc plugin's netstat module only, health on, notifications to /bin/true. */
function netdataConf(dir: string, port: number): string {
  const d = (p: string) => join(dir, p);
  const off = (names: string[]) => names.map((n) => `\t${n} = no`).join('\n');
  return `[global]
\trun as user = root
\thostname = rstwatch-compare
[db]
\tupdate every = 1
\tmode = ram
[directories]
\tconfig = ${d('etc')}
\tcache = ${d('cache')}
\tlib = ${d('lib')}
\tlog = ${d('log')}
\trun = ${d('run')}
\tlock = ${d('lib/lock')}
\tregistry = ${d('lib/registry')}
\thome = ${dir}
[logs]
\tdebug = ${d('log/debug.log')}
\terror = ${d('log/error.log')}
\taccess = ${d('log/access.log')}
\thealth = ${d('log/health.log')}
[health]
\tenabled = yes
\tscript to execute on alarm = /bin/true
[registry]
\tenabled = no
[web]
\tbind to = 127.0.0.1:${port}
\tweb server threads = 1
[plugins]
${off(['timex', 'idlejitter', 'netdata monitoring', 'tc', 'diskspace', 'cgroups', 'enable running new plugins', 'slabinfo', 'apps', 'perf', 'nfacct', 'statsd'])}
\tproc = yes
[plugin:proc]
${off(['/proc/net/dev', '/proc/stat', '/proc/uptime', '/proc/loadavg', '/proc/meminfo', '/proc/vmstat', '/proc/interrupts', '/proc/softirqs', '/proc/diskstats', '/proc/net/sockstat', '/proc/net/sockstat6', '/proc/net/snmp6', '/proc/pressure', '/proc/net/softnet_stat', '/proc/sys/kernel/random/entropy_avail', '/sys/fs/btrfs', '/proc/net/stat/conntrack', '/proc/mdstat', 'ipc', '/sys/class/power_supply', '/proc/pagetypeinfo', '/sys/kernel/mm/ksm', '/proc/net/wireless', '/proc/net/stat/synproxy', '/sys/devices/system/edac/mc', '/sys/devices/system/node', '/proc/spl/kstat/zfs/arcstats', '/sys/block/zram'])}
\t/proc/net/netstat = yes
[plugin:proc:/proc/net/netstat]
\tTCP SYN cookies = yes
\tTCP connection aborts = yes
\tTCP SYN queue = yes
\tTCP accept queue = yes
[plugin:proc:/proc/net/snmp]
\tipv4 TCP handshake issues = yes
\tipv4 TCP opens = yes
\tipv4 TCP errors = yes
`;
}

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}
async function getText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** Paths (dot-joined, `*` for one level of data keys) whose keys are data, not fields. */
const DICTIONARIES = new Set([
  'charts',
  'charts.*.dimensions',
  'charts.*.alarms',
  'dimensions',
  'alarms',
  'chart_labels',
  'charts.*.chart_labels',
  'host_labels',
  'charts.*.chart_variables',
  'chart_variables',
  'functions',
  'charts.*.functions',
]);

/** Differences between our value's shape and Netdata's, as readable strings; [] when ours has theirs. */
export function shapeDiff(ours: unknown, theirs: unknown, path = ''): string[] {
  const where = path === '' ? '(root)' : path;
  if (theirs === null) return [];
  const tt = jsonType(theirs);
  const ot = jsonType(ours);
  if (tt !== ot) return [`${where}: netdata has ${tt}, we have ${ot}`];
  if (tt === 'array') {
    const a = theirs as unknown[];
    const b = ours as unknown[];
    if (a.length === 0 || b.length === 0) return [];
    return shapeDiff(b[0], a[0], `${path}[0]`);
  }
  if (tt !== 'object') return [];
  const a = theirs as Record<string, unknown>;
  const b = ours as Record<string, unknown>;
  if (DICTIONARIES.has(path)) {
    // Keys are data: compare one entry of each (children of a dictionary are named `*`).
    const ta = Object.values(a);
    const tb = Object.values(b);
    if (ta.length === 0 || tb.length === 0) return [];
    return shapeDiff(tb[0], ta[0], `${path}.*`);
  }
  const out: string[] = [];
  for (const k of Object.keys(a)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (!(k in b)) {
      out.push(`${p}: missing (netdata has ${jsonType(a[k])})`);
      continue;
    }
    out.push(...shapeDiff(b[k], a[k], p));
  }
  return out;
}

describe.runIf(available)('shapes against a live netdata 1.37', () => {
  let nd: ChildProcess | undefined;
  let dir = '';
  let base = '';
  let h: Harness;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rw-api-netdata-'));
    for (const sub of ['etc', 'cache', 'lib', 'lib/lock', 'lib/registry', 'log', 'run'])
      mkdirSync(join(dir, sub), { recursive: true });
    const port = await freePort();
    writeFileSync(join(dir, 'netdata.conf'), netdataConf(dir, port));
    nd = spawn(NETDATA, ['-D', '-c', join(dir, 'netdata.conf')], { stdio: 'ignore' });
    base = `http://127.0.0.1:${port}`;
    h = await startHarness({ series: '0x70 300x25' });
    // Netdata is ready when it has data, linked alarms with values, and a log.
    const until = Date.now() + 45_000;
    for (;;) {
      try {
        const log = (await getJson(`${base}/api/v1/alarm_log`)) as unknown[];
        const data = (await getJson(`${base}/api/v1/data?chart=ipv4.tcphandshake&after=-5`)) as {
          data: unknown[];
        };
        const vals = (await getJson(`${base}/api/v1/alarms_values?all`)) as {
          alarms: Record<string, { value: unknown }>;
        };
        if (
          log.length > 0 &&
          data.data.length >= 3 &&
          Object.values(vals.alarms).some((v) => v.value !== null)
        )
          break;
      } catch {
        // not up yet
      }
      if (Date.now() > until) throw new Error('netdata did not become ready in 45 s');
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 60_000);

  afterAll(async () => {
    if (nd && nd.exitCode === null) {
      const gone = new Promise((r) => nd!.once('exit', r));
      nd.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (nd.exitCode === null) nd.kill('SIGKILL');
    }
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const both = async (path: string, oursPath = path) => ({
    theirs: await getJson(base + path),
    ours: await getJson(h.url + oursPath),
  });

  it('the comparison can fail: a missing key and a wrong type are reported', () => {
    expect(shapeDiff({ charts: { x: { id: 1 } } }, { charts: { 'a.b.c': { id: 1, name: 'n' } } })).toEqual([
      'charts.*.name: missing (netdata has string)',
    ]);
    expect(shapeDiff({ a: 1 }, { a: 1, b: 'x' })).toEqual(['b: missing (netdata has string)']);
    expect(shapeDiff({ a: '1' }, { a: 1 })).toEqual(['a: netdata has number, we have string']);
    expect(shapeDiff({ a: [{ x: 1 }] }, { a: [{ x: 1, y: true }] })).toEqual([
      'a[0].y: missing (netdata has boolean)',
    ]);
  });

  it('/api/v1/info', async () => {
    const { theirs, ours } = await both('/api/v1/info');
    expect(shapeDiff(ours, theirs)).toEqual([]);
  });

  it('/api/v1/charts (top level and every chart field)', async () => {
    const { theirs, ours } = await both('/api/v1/charts');
    expect(shapeDiff(ours, theirs)).toEqual([]);
    const t = (theirs as { charts: Record<string, unknown> }).charts['ipv4.tcphandshake'];
    const o = (ours as { charts: Record<string, unknown> }).charts['ip.tcphandshake'];
    expect(t).toBeDefined();
    expect(shapeDiff(o, t, 'charts.*')).toEqual([]);
  });

  it('/api/v1/chart?chart=ipv4.tcphandshake (Netdata 1.37’s id; ours answers to it as an alias)', async () => {
    const { theirs, ours } = await both('/api/v1/chart?chart=ipv4.tcphandshake');
    expect(shapeDiff(ours, theirs)).toEqual([]);
    // Same dimension ids and names.
    expect((ours as { dimensions: unknown }).dimensions).toEqual(
      (theirs as { dimensions: unknown }).dimensions,
    );
  });

  it.each([
    ['json', '&after=-5'],
    ['jsonwrap', '&after=-6&points=3&options=jsonwrap'],
    ['objectrows', '&after=-3&options=objectrows'],
    ['datatable', '&after=-3&format=datatable'],
    ['array', '&after=-3&format=array'],
    ['csvjsonarray with seconds', '&after=-3&format=json&options=seconds'],
  ])('/api/v1/data %s', async (_name, q) => {
    const { theirs, ours } = await both(`/api/v1/data?chart=ipv4.tcphandshake${q}`);
    expect(shapeDiff(ours, theirs)).toEqual([]);
  });

  it('/api/v1/data csv, tsv, ssv: same header and row layout', async () => {
    for (const f of ['csv', 'tsv', 'markdown']) {
      const t = (await getText(`${base}/api/v1/data?chart=ipv4.tcphandshake&after=-3&format=${f}`))
        .trimEnd()
        .split('\n');
      const o = (await getText(`${h.url}/api/v1/data?chart=ipv4.tcphandshake&after=-3&format=${f}`))
        .trimEnd()
        .split('\n');
      expect(o[0], f).toBe(t[0]);
      expect(o.length, f).toBe(t.length);
      const pattern = (line: string) =>
        line.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, 'TIME').replace(/-?\d+(\.\d+)?/g, 'N');
      expect(pattern(o[o.length - 1]!), f).toBe(pattern(t[t.length - 1]!));
    }
    const ts = (await getText(`${base}/api/v1/data?chart=ipv4.tcphandshake&after=-3&format=ssv`))
      .trim()
      .split(' ');
    const os = (await getText(`${h.url}/api/v1/data?chart=ipv4.tcphandshake&after=-3&format=ssv`))
      .trim()
      .split(' ');
    expect(os.length).toBe(ts.length);
  });

  it('/api/v1/alarms?all: the reset alert with every Netdata key', async () => {
    const { theirs, ours } = await both('/api/v1/alarms?all');
    const t = (theirs as { alarms: Record<string, unknown> }).alarms[
      'ipv4.tcphandshake.10s_ipv4_tcp_resets_received'
    ];
    const o = (ours as { alarms: Record<string, unknown> }).alarms[
      'ip.tcphandshake.10s_ipv4_tcp_resets_received'
    ];
    expect(t).toBeDefined();
    expect(shapeDiff(o, t, 'alarms.*')).toEqual([]);
    expect(shapeDiff({ ...(ours as object), alarms: {} }, { ...(theirs as object), alarms: {} })).toEqual([]);
  });

  it('/api/v1/alarms_values?all', async () => {
    const { theirs, ours } = await both('/api/v1/alarms_values?all');
    expect(shapeDiff(ours, theirs)).toEqual([]);
  });

  it('/api/v1/alarm_log and ?after=', async () => {
    const { theirs, ours } = await both('/api/v1/alarm_log');
    expect((theirs as unknown[]).length).toBeGreaterThan(0);
    expect(shapeDiff(ours, theirs)).toEqual([]);
    const tid = (theirs as { unique_id: number }[])[0]!.unique_id;
    const after = (await getJson(`${base}/api/v1/alarm_log?after=${tid - 1}`)) as { unique_id: number }[];
    expect(after.every((e) => e.unique_id > tid - 1)).toBe(true);
  });

  it('/api/v1/alarm_count', async () => {
    const { theirs, ours } = await both('/api/v1/alarm_count?status=CLEAR');
    expect(jsonType(theirs)).toBe('array');
    expect(shapeDiff(ours, theirs)).toEqual([]);
    expect((ours as unknown[]).length).toBe(1);
  });

  it('/api/v1/allmetrics json, shell and prometheus', async () => {
    const { theirs, ours } = await both('/api/v1/allmetrics?format=json');
    const t = (theirs as Record<string, unknown>)['ipv4.tcphandshake'];
    const o = (ours as Record<string, unknown>)['ip.tcphandshake'];
    expect(shapeDiff(o, t, 'charts.*')).toEqual([]);
    const line = /^(netdata_[a-z0-9_]+)\{chart="[^"]+",family="[^"]+",dimension="[^"]+"\} -?[0-9.]+ \d{13}$/;
    const tp = (await getText(`${base}/api/v1/allmetrics?format=prometheus`))
      .split('\n')
      .filter((l) => l.includes('tcphandshake'));
    const op = (await getText(`${h.url}/api/v1/allmetrics?format=prometheus`))
      .split('\n')
      .filter((l) => l.includes('tcphandshake'));
    expect(tp.length).toBe(4);
    for (const l of [...tp, ...op]) expect(l).toMatch(line);
    expect(op.length).toBe(tp.length);
    const shellLine = /^NETDATA_[A-Z0-9_]+="-?\d+" {6}# .+$/;
    const ts = (await getText(`${base}/api/v1/allmetrics?format=shell`))
      .split('\n')
      .filter((l) => l.startsWith('NETDATA_IPV4_TCPHANDSHAKE_'));
    const os = (await getText(`${h.url}/api/v1/allmetrics?format=shell`))
      .split('\n')
      .filter((l) => l.startsWith('NETDATA_IP_TCPHANDSHAKE_'));
    expect(os.length).toBe(ts.length);
    for (const l of [...ts, ...os]) expect(l).toMatch(shellLine);
  });
});
