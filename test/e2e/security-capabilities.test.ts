/**
 * Least privilege, proven (docs/security.md, "Least privilege"): the agent runs as uid 65534 (nobody) with
 * exactly CAP_DAC_OVERRIDE, CAP_NET_RAW and CAP_SYS_ADMIN — ambient, the bounding set cut to them,
 * no_new_privs — as contrib/systemd/rstwatch.service runs it, and everything works: sampling of the host and
 * of a namespace without processes (--netns NAME), reset attribution from tracefs, the API on loopback, a
 * capture through the API (tcpdump inheriting CAP_NET_RAW). Then each capability is dropped in turn and
 * exactly its feature stops, with its stable code: the set is minimal.
 *
 * Traffic: refused connections on the loopback of a namespace this test creates, and on the host's loopback
 * to a port nothing listens on (the capture runs in the agent's own namespace).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, deleteNetns, netnsAvailable, refusedConnects } from '../helpers/netns.js';
import { BIN, requireCapability } from '../helpers/paths.js';

const NOBODY = 65534;
const ALL = ['dac_override', 'net_raw', 'sys_admin'] as const;
type Cap = (typeof ALL)[number];
const BIT: Record<Cap, number> = { dac_override: 1, net_raw: 13, sys_admin: 21 };

const haveNetns = netnsAvailable();
const haveTools =
  haveNetns &&
  spawnSync('setpriv', ['--version']).status === 0 &&
  spawnSync('tcpdump', ['--version']).status === 0 &&
  readdirSync('/sys/kernel/tracing/events/tcp').includes('tcp_send_reset');
requireCapability(haveTools, 'setpriv (util-linux), tcpdump and tracefs with tcp:tcp_send_reset');
if (haveNetns && !haveTools) console.warn('SKIPPED: least-privilege tests need setpriv, tcpdump and tracefs');

const base = mkdtempSync(join(tmpdir(), 'rw-sec-caps-'));
chmodSync(base, 0o755); // nobody must reach its data folder without CAP_DAC_OVERRIDE
let ns = '';
beforeAll(() => {
  if (haveTools) ns = createNetns(`seccap-${process.pid}`);
});
afterAll(() => {
  if (ns) deleteNetns(ns);
  rmSync(base, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** n refused connections on the host's loopback, one after another. */
async function hostRefused(port: number, n: number): Promise<number> {
  let refused = 0;
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.setTimeout(2000, () => s.destroy());
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNREFUSED') refused++;
        resolve();
      });
      s.on('connect', () => {
        s.destroy();
        resolve();
      });
      s.on('close', () => resolve());
    });
  }
  return refused;
}

interface Agent {
  child: ChildProcess;
  url: string;
  dir: string;
  stderr: () => string;
  get: (path: string) => Promise<{ status: number; text: string }>;
  stop: () => Promise<number | null>;
}

/** The agent as uid nobody with exactly `caps` (ambient and bounding), no_new_privs, watching `ns` too. */
async function startAgent(name: string, caps: readonly Cap[]): Promise<Agent> {
  const dir = join(base, name);
  mkdirSync(dir, { mode: 0o750 });
  chownSync(dir, NOBODY, NOBODY);
  const health = join(base, `${name}-health`);
  mkdirSync(health);
  const port = await freePort();
  const list = caps.map((c) => `+${c}`).join(',');
  const capArgs =
    caps.length === 0
      ? ['--inh-caps=-all', '--bounding-set=-all']
      : [`--inh-caps=-all,${list}`, `--ambient-caps=${list}`, `--bounding-set=-all,${list}`];
  const child = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      ...capArgs,
      '--nnp',
      process.execPath,
      BIN,
      'agent',
      '--data-dir',
      dir,
      '--listen',
      `127.0.0.1:${port}`,
      '--netns',
      ns,
      '--health-dir',
      health,
      '--attribution-top-k',
      '1000',
    ],
    { env: { PATH: process.env.PATH, HOME: '/nonexistent' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const end = Date.now() + 30_000;
  while (!err.includes('API listening') && child.exitCode === null && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  if (!err.includes('API listening')) {
    child.kill('SIGKILL');
    throw new Error(`agent ${name} did not start: ${err}`);
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    dir,
    stderr: () => err,
    get: async (path) => {
      const r = await fetch(url + path);
      return { status: r.status, text: await r.text() };
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await f();
    if (last !== undefined) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const capMask = (caps: readonly Cap[]) => caps.reduce((m, c) => m | (1n << BigInt(BIT[c])), 0n);

function procStatus(pid: number): { uid: number; eff: bigint; bnd: bigint } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string) =>
    /^(\w+):\s*(.*)$/m.exec(s.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[2];
  return {
    uid: Number(field('Uid')!.split(/\s+/)[1]),
    eff: BigInt(`0x${field('CapEff')}`),
    bnd: BigInt(`0x${field('CapBnd')}`),
  };
}

interface CaptureInfo {
  id: string;
  state: string;
  file: string;
  packets: number;
  error?: { code: string };
}

async function startCapture(a: Agent, body: object): Promise<CaptureInfo> {
  const token = readFileSync(join(a.dir, 'api.token'), 'utf8').trim();
  const r = await fetch(`${a.url}/api/rstwatch/captures`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(201);
  return (await r.json()) as CaptureInfo;
}

async function captureEnded(a: Agent, id: string): Promise<CaptureInfo> {
  return until(`capture ${id} to end`, async () => {
    const info = JSON.parse((await a.get(`/api/rstwatch/captures/${id}`)).text) as CaptureInfo;
    return info.state === 'running' ? undefined : info;
  });
}

describe.skipIf(!haveTools)(
  'the agent as nobody with CAP_DAC_OVERRIDE, CAP_NET_RAW, CAP_SYS_ADMIN only',
  () => {
    it('samples the host and a namespace, attributes resets, serves the API, captures', async () => {
      const a = await startAgent('all', ALL);
      try {
        const st = procStatus(a.child.pid!);
        expect(st.uid).toBe(NOBODY);
        expect(st.eff).toBe(capMask(ALL));
        expect(st.bnd).toBe(capMask(ALL));
        const status = JSON.parse((await a.get('/api/rstwatch/status')).text) as {
          attribution: { enabled: boolean };
          collectors: { netns: string }[];
        };
        expect(status.attribution.enabled).toBe(true);
        expect(status.collectors.map((c) => c.netns)).toEqual(['host', ns]);
        expect(a.stderr()).not.toMatch(/E_NETNS|E_ATTR|cannot=(?!none)/);

        // Sampling of a namespace no process lives in (nsenter holder, CAP_SYS_ADMIN): its counters are ours alone.
        const nsPort = await freePort();
        refusedConnects(ns, 40, nsPort);
        await until('the namespace counter', async () => {
          const m = (await a.get('/metrics')).text;
          return m.includes(`rstwatch_netstat_Tcp_AttemptFails_total{netns="${ns}"} 40\n`) ? true : undefined;
        });

        // Attribution (tracefs instance, CAP_DAC_OVERRIDE): the resets sent from the closed port.
        await until('attribution of the resets', async () => {
          const top = JSON.parse(
            (await a.get('/api/rstwatch/top?window=1m&direction=sent&limit=100')).text,
          ) as { top: { localPorts: { key: string; count: number }[] } | null };
          const p = top.top?.localPorts.find((x) => x.key === String(nsPort));
          return p !== undefined && p.count >= 40 ? p : undefined;
        });
        const instance = `rstwatch-${a.child.pid}`;
        expect(readdirSync('/sys/kernel/tracing/instances')).toContain(instance);

        // A capture through the API (tcpdump inherits CAP_NET_RAW): our 30 refused connections, exactly.
        const hostPort = await freePort();
        const cap = await startCapture(a, { iface: 'lo', durationSeconds: 4, filter: `port ${hostPort}` });
        await new Promise((r) => setTimeout(r, 1500)); // tcpdump opens the device
        expect(await hostRefused(hostPort, 30)).toBe(30);
        const done = await captureEnded(a, cap.id);
        expect(done.error).toBeUndefined();
        expect(done.state).toBe('done');
        expect(done.packets).toBe(60); // 30 SYNs and the 30 RSTs that refused them
        const fst = statSync(done.file);
        expect(fst.uid).toBe(NOBODY);
        expect(fst.mode & 0o777).toBe(0o600);
        const report = JSON.parse((await a.get(`/api/rstwatch/captures/${cap.id}/report`)).text) as {
          summary: { rsts: number };
        };
        expect(report.summary.rsts).toBe(30);

        expect(await a.stop()).toBe(0);
        expect(readdirSync('/sys/kernel/tracing/instances')).not.toContain(instance);
      } finally {
        await a.stop();
      }
    });

    it('each capability dropped stops exactly its feature, with its code', async () => {
      const without = (c: Cap) => ALL.filter((x) => x !== c);
      const [noDac, noRaw, noAdmin] = await Promise.all([
        startAgent('no-dac-override', without('dac_override')),
        startAgent('no-net-raw', without('net_raw')),
        startAgent('no-sys-admin', without('sys_admin')),
      ]);
      try {
        const status = async (a: Agent) =>
          JSON.parse((await a.get('/api/rstwatch/status')).text) as {
            attribution: { enabled: boolean; reason?: string };
          };
        // No CAP_DAC_OVERRIDE: attribution is off with E_ATTR_PERMISSION; the namespace is still sampled.
        expect((await status(noDac)).attribution.enabled).toBe(false);
        expect(noDac.stderr()).toMatch(/attribution unavailable: .*code=E_ATTR_PERMISSION/);
        await until('the namespace sampled without CAP_DAC_OVERRIDE', async () =>
          (await noDac.get('/metrics')).text.includes(
            `rstwatch_netstat_Tcp_AttemptFails_total{netns="${ns}"}`,
          )
            ? true
            : undefined,
        );
        // No CAP_NET_RAW: a capture fails with E_CAPTURE_PERMISSION; attribution runs.
        expect((await status(noRaw)).attribution.enabled).toBe(true);
        const cap = await startCapture(noRaw, { iface: 'lo', durationSeconds: 2 });
        const failed = await captureEnded(noRaw, cap.id);
        expect(failed.state).toBe('failed');
        expect(failed.error?.code).toBe('E_CAPTURE_PERMISSION');
        // No CAP_SYS_ADMIN: the namespace cannot be entered (E_NETNS_NO_PROCESS); the host is sampled.
        await until('E_NETNS_NO_PROCESS', async () =>
          /E_NETNS_NO_PROCESS: network namespace .* needs root \(CAP_SYS_ADMIN\)/.test(noAdmin.stderr())
            ? true
            : undefined,
        );
        expect((await status(noAdmin)).attribution.enabled).toBe(true);
        expect((await noAdmin.get('/metrics')).text).toMatch(
          /rstwatch_netstat_Tcp_AttemptFails_total\{netns="host"\}/,
        );
      } finally {
        await Promise.all([noDac.stop(), noRaw.stop(), noAdmin.stop()]);
      }
    });
  },
);
