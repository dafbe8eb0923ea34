// Netdata as a fair peer for rstwatch's agent: the same kernel files (/proc/net/snmp and /proc/net/netstat),
// the same 1-second sampling, about the same charts, history kept on disk, and nothing else.
//
// The option names below are Netdata 1.37's, taken from the configuration a running netdata serves at
// /netdata.conf (Debian's netdata-core 1.37.1), not guessed; `effectiveSettings()` reads that page back
// from the benchmarked instance so the report shows what really ran.

import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NETDATA_BIN = '/usr/sbin/netdata';

/** [plugins] of Netdata 1.37: every internal and external plugin but proc is turned off. */
const PLUGINS = {
  timex: 'no',
  idlejitter: 'no',
  'netdata monitoring': 'no',
  tc: 'no',
  diskspace: 'no',
  proc: 'yes',
  cgroups: 'no',
  'enable running new plugins': 'no',
  slabinfo: 'no',
  apps: 'no',
  perf: 'no',
  nfacct: 'no',
  statsd: 'no',
};

/**
 * [plugin:proc] modules of Netdata 1.37. In 1.37 the `/proc/net/netstat` module reads /proc/net/netstat
 * and /proc/net/snmp (and /proc/net/snmp6): there is no separate `/proc/net/snmp` module to enable; the
 * snmp charts are configured in [plugin:proc:/proc/net/snmp].
 */
const PROC_MODULES = [
  '/proc/net/dev',
  '/proc/pagetypeinfo',
  '/proc/stat',
  '/proc/uptime',
  '/proc/loadavg',
  '/proc/sys/kernel/random/entropy_avail',
  '/proc/pressure',
  '/proc/interrupts',
  '/proc/softirqs',
  '/proc/vmstat',
  '/proc/meminfo',
  '/sys/kernel/mm/ksm',
  '/sys/block/zram',
  '/sys/devices/system/edac/mc',
  '/sys/devices/system/node',
  '/proc/net/wireless',
  '/proc/net/sockstat',
  '/proc/net/sockstat6',
  '/proc/net/netstat',
  '/proc/net/sctp/snmp',
  '/proc/net/softnet_stat',
  '/proc/net/ip_vs/stats',
  '/sys/class/infiniband',
  '/proc/net/stat/conntrack',
  '/proc/net/stat/synproxy',
  '/proc/diskstats',
  '/proc/mdstat',
  '/proc/net/rpc/nfsd',
  '/proc/net/rpc/nfs',
  '/proc/spl/kstat/zfs/arcstats',
  '/proc/spl/kstat/zfs/pool/state',
  '/sys/fs/btrfs',
  'ipc',
  '/sys/class/power_supply',
];
const KEEP_MODULE = '/proc/net/netstat';

/**
 * Charts of the two files: the TCP charts that match rstwatch's (ip.tcphandshake, tcpopens, tcperrors,
 * tcpconnaborts, tcp_syn_queue, tcp_accept_queue, tcp_syncookies) are forced on ("yes": created at
 * start, as rstwatch creates its charts, not only once a counter moves); IP/UDP/ICMP and the other TCP
 * charts, which rstwatch does not keep, are off.
 */
const SNMP_CHARTS = {
  'ipv4 packets': 'no',
  'ipv4 fragments sent': 'no',
  'ipv4 fragments assembly': 'no',
  'ipv4 errors': 'no',
  'ipv4 TCP connections': 'no',
  'ipv4 TCP packets': 'no',
  'ipv4 TCP errors': 'yes',
  'ipv4 TCP opens': 'yes',
  'ipv4 TCP handshake issues': 'yes',
  'ipv4 UDP packets': 'no',
  'ipv4 UDP errors': 'no',
  'ipv4 ICMP packets': 'no',
  'ipv4 ICMP messages': 'no',
  'ipv4 UDPLite packets': 'no',
};
const NETSTAT_CHARTS = {
  bandwidth: 'no',
  'input errors': 'no',
  'multicast bandwidth': 'no',
  'broadcast bandwidth': 'no',
  'multicast packets': 'no',
  'broadcast packets': 'no',
  'ECN packets': 'no',
  'TCP reorders': 'no',
  'TCP SYN cookies': 'yes',
  'TCP out-of-order queue': 'no',
  'TCP connection aborts': 'yes',
  'TCP memory pressures': 'no',
  'TCP SYN queue': 'yes',
  'TCP accept queue': 'yes',
};
const SNMP6_CHARTS = Object.fromEntries(
  [
    'ipv6 packets',
    'ipv6 fragments sent',
    'ipv6 fragments assembly',
    'ipv6 errors',
    'ipv6 UDP packets',
    'ipv6 UDP errors',
    'ipv6 UDPlite packets',
    'ipv6 UDPlite errors',
    'bandwidth',
    'multicast bandwidth',
    'broadcast bandwidth',
    'multicast packets',
    'icmp',
    'icmp redirects',
    'icmp errors',
    'icmp echos',
    'icmp group membership',
    'icmp router',
    'icmp neighbor',
    'icmp mldv2',
    'icmp types',
    'ect',
  ].map((k) => [k, 'no']),
);

function section(name, kv) {
  return `[${name}]\n${Object.entries(kv)
    .map(([k, v]) => `\t${k} = ${v}`)
    .join('\n')}\n`;
}

/** The netdata.conf of the benchmark; every path under `dir`. */
export function netdataConfig({ dir, port, user }) {
  const d = (p) => join(dir, p);
  return [
    '# netdata.conf written by rstwatch bench/netdata.mjs: a fair peer for `rstwatch agent`.\n',
    section('global', {
      'run as user': user,
      hostname: 'rstwatch-bench',
    }),
    section('db', {
      'update every': 1,
      mode: 'dbengine',
      // rstwatch keeps two tiers (per second, per minute); Netdata's tier 1 is per minute at 1 s.
      'storage tiers': 2,
    }),
    section('directories', {
      config: d('etc'),
      cache: d('cache'),
      lib: d('lib'),
      log: d('log'),
      run: d('run'),
      lock: d('lib/lock'),
      registry: d('lib/registry'),
      home: dir,
    }),
    section('logs', {
      debug: d('log/debug.log'),
      error: d('log/error.log'),
      access: d('log/access.log'),
      health: d('log/health.log'),
    }),
    // rstwatch has no alert engine yet: an enabled health engine would be work the peer does and we don't.
    section('health', { enabled: 'no' }),
    section('registry', { enabled: 'no' }),
    // Loopback only; one thread. Used after the window to check what Netdata collected.
    section('web', {
      'bind to': `127.0.0.1:${port}`,
      'web server threads': 1,
      'allow connections from': 'localhost',
      'allow netdata.conf from': 'localhost',
    }),
    section('plugins', PLUGINS),
    section(
      'plugin:proc',
      Object.fromEntries(PROC_MODULES.map((m) => [m, m === KEEP_MODULE ? 'yes' : 'no'])),
    ),
    section('plugin:proc:/proc/net/netstat', NETSTAT_CHARTS),
    section('plugin:proc:/proc/net/snmp', SNMP_CHARTS),
    section('plugin:proc:/proc/net/snmp6', SNMP6_CHARTS),
  ].join('\n');
}

export function netdataVersion() {
  const r = spawnSync(NETDATA_BIN, ['-V'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout + r.stderr).trim().replace(/^netdata\s+/, '');
}

/** Make the folders and write the config; returns the config path. */
export function prepareNetdata({ dir, port, user }) {
  for (const sub of ['etc', 'cache', 'lib', 'lib/lock', 'lib/registry', 'log', 'run']) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  const conf = join(dir, 'netdata.conf');
  writeFileSync(conf, netdataConfig({ dir, port, user }));
  return conf;
}

/** The command that starts it (inside `netns` when given): foreground (-D), our config (-c). */
export function netdataCommand(conf, netns) {
  const args = ['-D', '-c', conf];
  return netns ? ['ip', ['netns', 'exec', netns, NETDATA_BIN, ...args]] : [NETDATA_BIN, args];
}

/**
 * GET a URL on 127.0.0.1, from inside `netns` when given (the web server listens on that namespace's
 * loopback): through `ip netns exec … node -e fetch(…)`.
 */
export function httpGet(url, netns, timeoutMs = 10_000) {
  if (!netns) {
    return fetch(url, { signal: AbortSignal.timeout(timeoutMs) }).then(async (r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r.text();
    });
  }
  const script =
    'fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2])) })' +
    '.then(async (r) => { if (!r.ok) { console.error("HTTP " + r.status); process.exit(3); }' +
    ' process.stdout.write(await r.text()); })' +
    '.catch((e) => { console.error(String(e)); process.exit(4); });';
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', netns, process.execPath, '-e', script, url, String(timeoutMs)],
      { encoding: 'utf8', timeout: timeoutMs + 5000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${url}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
  });
}

/** Parse the served netdata.conf: section → key → { value, set } (set: written in our file, else a default). */
export function parseNetdataConf(text) {
  const out = new Map();
  let cur;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = new Map();
      out.set(sec[1], cur);
      continue;
    }
    if (!cur) continue;
    const m = /^(#\s*)?([^=#]+?)\s*=\s*(.*)$/.exec(line);
    if (m) cur.set(m[2], { value: m[3], set: !m[1] });
  }
  return out;
}

/** What the running instance really does: which plugins and proc modules are on, per its own /netdata.conf. */
export async function effectiveSettings(base, netns) {
  const conf = parseNetdataConf(await httpGet(`${base}/netdata.conf`, netns));
  const on = (v) => v === 'yes' || v === 'auto' || v === 'on';
  const plugins = [...(conf.get('plugins') ?? new Map())]
    .filter(([k, v]) => !k.startsWith('check for') && on(v.value))
    .map(([k]) => k);
  const procModules = [...(conf.get('plugin:proc') ?? new Map())]
    .filter(([, v]) => on(v.value))
    .map(([k]) => k);
  const get = (s, k) => conf.get(s)?.get(k)?.value;
  return {
    plugins,
    procModules,
    updateEvery: get('db', 'update every'),
    dbMode: get('db', 'mode'),
    storageTiers: get('db', 'storage tiers'),
    health: get('health', 'enabled'),
    webBind: get('web', 'bind to'),
    unexpected: [
      ...plugins.filter((p) => p !== 'proc' && p !== 'enable running new plugins'),
      ...procModules.filter((m) => m !== KEEP_MODULE),
    ],
  };
}

/** Charts and dimensions the instance keeps. */
export async function netdataCharts(base, netns) {
  const j = JSON.parse(await httpGet(`${base}/api/v1/charts`, netns));
  const charts = Object.values(j.charts ?? {});
  return {
    charts: charts.map((c) => c.id).sort(),
    dimensions: charts.reduce((n, c) => n + Object.keys(c.dimensions ?? {}).length, 0),
  };
}

/** Average per-second value of each dimension of a chart over [after, before] (epoch s; absolute values). */
export async function netdataAverage(base, netns, chart, after, before) {
  const url =
    `${base}/api/v1/data?chart=${encodeURIComponent(chart)}&after=${after}&before=${before}` +
    '&points=1&group=average&format=json&options=abs';
  const j = JSON.parse(await httpGet(url, netns));
  const labels = j.labels ?? [];
  const row = j.data?.[0] ?? [];
  const out = {};
  for (let i = 1; i < labels.length; i++) out[labels[i]] = row[i];
  return out;
}
