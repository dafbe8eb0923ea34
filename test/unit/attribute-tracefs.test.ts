/**
 * Attribution around the kernel: tracefs discovery and its failure paths, stale instances, the whole
 * pipeline over a tracefs-shaped tree fed with the constructed 6.1 page, an instance that disappears, the
 * listening-process map, and alert context stored in the alert log.
 */
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ALERT_CONTEXT_LIMIT,
  attachAlertContext,
  describeContext,
  lookupWindow,
  resetAlertDirection,
} from '../../src/attribute/alert-context.js';
import { disabledAttribution, emptyTop, startAttribution } from '../../src/attribute/attribution.js';
import { ProcessMap, parseListeners } from '../../src/attribute/procmap.js';
import { findTracefs, removeStaleInstances, tracefsMounts } from '../../src/attribute/tracefs.js';
import { AlertDb } from '../../src/health/alert-db.js';
import { type AlarmEntry, AlarmLog } from '../../src/health/engine.js';
import { STATUS } from '../../src/health/types.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { memoryLogger } from '../../src/internal/log.js';
import { FIXTURES } from '../helpers/paths.js';

const T = `${FIXTURES}/tracefs`;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'rstwatch-attr-'));
  dirs.push(d);
  return d;
}

/** A tracefs-shaped tree of a kernel's fixture; `events: false` leaves the reset events out. */
function fakeTracefs(kernel: string, opts: { events?: boolean } = {}): string {
  const root = tmp();
  mkdirSync(join(root, 'instances'));
  mkdirSync(join(root, 'events', 'tcp'), { recursive: true });
  copyFileSync(`${T}/${kernel}/events/header_page`, join(root, 'events', 'header_page'));
  if (opts.events !== false) {
    for (const e of ['tcp_send_reset', 'tcp_receive_reset']) {
      mkdirSync(join(root, 'events', 'tcp', e));
      copyFileSync(`${T}/${kernel}/events/tcp/${e}/format`, join(root, 'events', 'tcp', e, 'format'));
    }
  }
  return root;
}

/** Pre-create what tracefs would create on mkdir, with the fixture's page as cpu0's buffer. */
function fakeInstance(root: string, name: string, kernel: string): string {
  const dir = join(root, 'instances', name);
  for (const e of ['tcp_send_reset', 'tcp_receive_reset'])
    mkdirSync(join(dir, 'events', 'tcp', e), { recursive: true });
  mkdirSync(join(dir, 'options'));
  mkdirSync(join(dir, 'per_cpu', 'cpu0'), { recursive: true });
  // A folder where trace_clock should be: the write fails, so events are bucketed by read time.
  mkdirSync(join(dir, 'trace_clock'));
  copyFileSync(`${T}/${kernel}/raw/cpu0.bin`, join(dir, 'per_cpu', 'cpu0', 'trace_pipe_raw'));
  // As the kernel writes it (ring_buffer_entries_cpu: 13 unread events in the fixture's page).
  writeFileSync(
    join(dir, 'per_cpu', 'cpu0', 'stats'),
    'entries: 13\noverrun: 2\ncommit overrun: 0\nbytes: 1224\noldest event ts:  1.000000\nnow ts:  2.000000\ndropped events: 3\nread events: 0\n',
  );
  return dir;
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('tracefs discovery and failure paths', () => {
  it('finds tracefs from the mount table', () => {
    expect(
      tracefsMounts(
        'proc /proc proc rw 0 0\ntracefs /sys/kernel/tracing tracefs rw 0 0\nnone /mnt/my\\040trace tracefs rw 0 0\n',
      ),
    ).toEqual(['/sys/kernel/tracing', '/mnt/my trace']);
  });

  it('no tracefs: a clear E_ATTR_NO_TRACEFS, and attribution says so once and keeps answering', async () => {
    const empty = tmp();
    await expect(
      findTracefs({ candidates: [join(empty, 'tracing')], mountsFile: join(empty, 'none'), mount: false }),
    ).rejects.toMatchObject({ code: 'E_ATTR_NO_TRACEFS' });
    const fs = join(empty, 'filesystems');
    writeFileSync(fs, 'nodev\tproc\nnodev\tsysfs\n');
    await expect(findTracefs({ candidates: [empty], mountsFile: fs, filesystemsFile: fs })).rejects.toThrow(
      /this kernel has no tracefs/,
    );
    const log = memoryLogger();
    const a = await startAttribution({ log, os: 'linux', tracefs: { root: join(empty, 'nothing') } });
    const a2 = await startAttribution({ log, os: 'linux', tracefs: { root: join(empty, 'nothing') } });
    expect(a.status()).toMatchObject({ enabled: false, layout: null, events: 0 });
    expect(a.status().reason).toMatch(/no tracefs at/);
    expect(a2.status().enabled).toBe(false);
    expect(log.lines.filter((l) => l.includes('attribution unavailable'))).toHaveLength(1);
    expect(log.lines[0]).toMatch(/code=E_ATTR_NO_TRACEFS/);
    expect(a.top({ nowSec: 1, windowSeconds: 10 })).toMatchObject({ total: 0, peers: [] });
    await a.close();
  });

  it('kernel without the events: E_ATTR_NO_EVENTS, no instance left behind', async () => {
    const root = fakeTracefs('6.18', { events: false });
    const log = memoryLogger();
    const a = await startAttribution({ log, os: 'linux', tracefs: { root } });
    expect(a.status().enabled).toBe(false);
    expect(a.status().reason).toMatch(/no tcp:tcp_send_reset tracepoint.*4\.15/);
    expect(log.lines.join('\n')).toMatch(/code=E_ATTR_NO_EVENTS/);
    expect(spawnSync('ls', [join(root, 'instances')], { encoding: 'utf8' }).stdout).toBe('');
  });

  it('FreeBSD: says that attribution is Linux-only', async () => {
    const log = memoryLogger();
    const a = await startAttribution({ log, os: 'freebsd' });
    expect(a.status()).toMatchObject({ enabled: false });
    expect(a.status().reason).toMatch(/Linux tracepoints.*freebsd/);
    expect(log.lines[0]).toMatch(/E_ATTR_UNSUPPORTED_OS/);
  });

  it('disabled by the setting', () => {
    expect(disabledAttribution().status()).toMatchObject({
      enabled: false,
      reason: 'disabled by the setting attribution = no',
    });
  });

  it('removes stale rstwatch-<pid> instances of dead agents only', () => {
    const root = fakeTracefs('6.18');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const deadPid = Number(dead.stdout);
    for (const n of [
      `rstwatch-${deadPid}`,
      `rstwatch-${process.pid}`,
      `rstwatch-${process.ppid}`,
      'rstwatch-record-1',
      'other',
    ])
      mkdirSync(join(root, 'instances', n));
    expect(removeStaleInstances(root)).toEqual([`rstwatch-${deadPid}`]);
    expect(existsSync(join(root, 'instances', `rstwatch-${process.ppid}`))).toBe(true);
    expect(existsSync(join(root, 'instances', `rstwatch-${process.pid}`))).toBe(true);
    expect(existsSync(join(root, 'instances', 'other'))).toBe(true);
  });
});

describe('the whole pipeline over a tracefs-shaped tree (6.1 constructed layout)', () => {
  it('configures its own instance, reads and aggregates, counts lost events, removes the instance', async () => {
    const root = fakeTracefs('6.1');
    const name = `rstwatch-unit-${process.pid}`;
    const dir = fakeInstance(root, name, '6.1');
    const log = memoryLogger();
    const seen: string[] = [];
    const a = await startAttribution({
      log,
      os: 'linux',
      tracefs: { root },
      instanceName: name,
      pollMs: 10,
      onEvent: (e) => seen.push(e.direction),
    });
    expect(a.status()).toMatchObject({ enabled: true, layout: 'legacy-ports' });
    expect(a.status().reason).toMatch(/before 6\.10.*not traced/);
    // it switched its own instance on, never the global switches
    expect(readFileSync(join(dir, 'events/tcp/tcp_send_reset/enable'), 'utf8')).toBe('1');
    expect(readFileSync(join(dir, 'options/overwrite'), 'utf8')).toBe('0');
    expect(readFileSync(join(dir, 'tracing_on'), 'utf8')).toBe('1');
    expect(existsSync(join(root, 'tracing_on'))).toBe(false);
    await waitFor(() => seen.length === 13);
    const st = a.status();
    expect(st.events).toBe(13);
    expect(st.lost).toBe(5); // overrun 2 + dropped 3 from per_cpu/cpu0/stats
    // A CPU whose stats say it holds nothing is not read: another page arrives in cpu0's pipe, but while
    // "entries: 0" the reader leaves it (an idle CPU costs a small read, not a failed one); the loss
    // counters come with the same read.
    const stats = join(dir, 'per_cpu', 'cpu0', 'stats');
    writeFileSync(stats, 'entries: 0\noverrun: 9\ndropped events: 3\n');
    appendFileSync(join(dir, 'per_cpu', 'cpu0', 'trace_pipe_raw'), readFileSync(`${T}/6.1/raw/cpu0.bin`));
    await waitFor(() => a.status().lost === 12);
    await new Promise((r) => setTimeout(r, 200)); // ~20 polls
    expect(a.status().events).toBe(13);
    writeFileSync(stats, 'entries: 13\noverrun: 9\ndropped events: 3\n');
    await waitFor(() => seen.length === 26);
    expect(a.status()).toMatchObject({ events: 26, lost: 12 });
    const top = a.top({ nowSec: Math.floor(Date.now() / 1000), windowSeconds: 60, limit: 5 });
    expect(top.total).toBe(26);
    expect(top.reasons).toEqual([{ key: 'NOT_REPORTED', count: 26 }]);
    expect(top.peers.map((p) => p.key).sort()).toEqual(['127.0.0.1', '::1']);
    const sent = a.top({ nowSec: Math.floor(Date.now() / 1000), windowSeconds: 60, direction: 'sent' });
    expect(sent.total).toBe(8);
    expect(sent.states).toEqual([{ key: 'TCP_CLOSE', count: 8 }]);
    await a.close();
    expect(existsSync(dir)).toBe(true); // rmdir of a non-empty plain folder fails; tracefs would remove it
    expect(log.lines.join('\n')).toMatch(/cannot remove the tracefs instance/);
  });

  it("idle polls ride on the pulse (the agent's sample): no wake-up of its own between pulses", async () => {
    const root = fakeTracefs('6.1');
    const name = `rstwatch-unit-pulse-${process.pid}`;
    const dir = fakeInstance(root, name, '6.1');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      // 64 MiB per CPU: the idle pace is its longest, 1000 ms.
      const a = await startAttribution({
        log: memoryLogger(),
        os: 'linux',
        tracefs: { root },
        instanceName: name,
        pollMs: 50,
        bufferKiB: 65536,
      });
      const live = a as unknown as { drain(): boolean; pulsedBy(ms: number): void; pulse(): void };
      let drains = 0;
      const drain = live.drain.bind(live);
      live.drain = () => {
        drains++;
        return drain();
      };
      vi.advanceTimersByTime(50);
      expect(drains).toBe(1);
      expect(a.status().events).toBe(13);
      const timer = () => (live as unknown as { timer?: NodeJS.Timeout }).timer;
      // Unpaced, the reader's timer does not keep a process alive.
      expect(timer()?.hasRef()).toBe(false);
      writeFileSync(join(dir, 'per_cpu', 'cpu0', 'stats'), 'entries: 0\noverrun: 0\ndropped events: 0\n');
      // Pulses every second: one poll per pulse and none in between.
      live.pulsedBy(1000);
      live.pulse();
      expect(drains).toBe(2);
      // Paced, the fallback timer is ref'd: each pulse clears it, and a cleared unref'd Node timer still
      // wakes the process at its old expiry.
      expect(timer()?.hasRef()).toBe(true);
      for (let i = 0; i < 5; i++) {
        vi.advanceTimersByTime(999);
        expect(drains).toBe(2 + i);
        vi.advanceTimersByTime(1);
        live.pulse();
        expect(drains).toBe(3 + i);
      }
      // The pulses stop: the reader's timer polls 50 ms after each missing one, then at its own pace.
      vi.advanceTimersByTime(1049);
      expect(drains).toBe(7);
      vi.advanceTimersByTime(1);
      expect(drains).toBe(8);
      vi.advanceTimersByTime(1000);
      expect(drains).toBe(9);
      vi.advanceTimersByTime(3000);
      expect(drains).toBe(12);
      // A period longer than the idle pace: polls at evenly spaced phases between pulses (2500 / 3).
      live.pulsedBy(2500);
      live.pulse();
      expect(drains).toBe(13);
      vi.advanceTimersByTime(834);
      expect(drains).toBe(14);
      vi.advanceTimersByTime(833);
      expect(drains).toBe(15);
      vi.advanceTimersByTime(832);
      expect(drains).toBe(15);
      vi.advanceTimersByTime(1);
      live.pulse();
      expect(drains).toBe(16);
      await a.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('an instance removed under it: notices, says so, and stops cleanly when it cannot restore it', async () => {
    const root = fakeTracefs('6.18');
    const name = `rstwatch-unit-gone-${process.pid}`;
    const dir = fakeInstance(root, name, '6.18');
    const log = memoryLogger();
    const a = await startAttribution({
      log,
      os: 'linux',
      tracefs: { root },
      instanceName: name,
      pollMs: 10,
      checkEverySeconds: 0.05,
    });
    await waitFor(() => a.status().events === 18);
    rmSync(dir, { recursive: true, force: true });
    await waitFor(() => !a.status().enabled);
    const st = a.status();
    expect(st.reason).toMatch(/the tracefs instance was removed, and restoring it failed/);
    expect(st.events).toBe(18); // what was counted stays
    const text = log.lines.join('\n');
    expect(text).toMatch(/code=E_ATTR_INSTANCE_GONE/);
    expect(text).toMatch(/attribution stopped/);
    // the aggregates stay queryable
    expect(a.top({ nowSec: Math.floor(Date.now() / 1000), windowSeconds: 60 }).total).toBe(18);
    await a.close();
  });

  it('an instance whose events were switched off is switched on again', async () => {
    const root = fakeTracefs('6.18');
    const name = `rstwatch-unit-off-${process.pid}`;
    const dir = fakeInstance(root, name, '6.18');
    const log = memoryLogger();
    const a = await startAttribution({
      log,
      os: 'linux',
      tracefs: { root },
      instanceName: name,
      pollMs: 10,
      checkEverySeconds: 0.05,
    });
    writeFileSync(join(dir, 'events/tcp/tcp_receive_reset/enable'), '0');
    await waitFor(() => log.lines.some((l) => l.includes('restored')));
    expect(readFileSync(join(dir, 'events/tcp/tcp_receive_reset/enable'), 'utf8')).toBe('1');
    expect(log.lines.join('\n')).toMatch(/tcp_receive_reset event was disabled; setting it up again/);
    expect(a.status().enabled).toBe(true);
    await a.close();
  });
});

describe('listening processes', () => {
  it('parses listening sockets of /proc/net/tcp and tcp6', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0',
      '   1: 0100007F:1F90 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0 100 0 0 10 0',
      '   2: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1',
    ].join('\n');
    expect(parseListeners(text)).toEqual(
      new Map([
        [80, [1111]],
        [443, [3333]],
      ]),
    );
  });

  it('finds this process as the listener of its own port, with a bounded, cached refresh', async () => {
    const net = await import('node:net');
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    let now = 0;
    const map = new ProcessMap({ now: () => now, refreshMs: 5000 });
    try {
      // The first lookup starts a refresh in the background (slices between which the event loop runs).
      expect(map.lookup(port)).toBeUndefined();
      await map.idle();
      expect(map.lookup(port)).toEqual({
        pid: process.pid,
        name: readFileSync('/proc/self/comm', 'utf8').trim(),
      });
      srv.close();
      now = 1000; // cached: still there
      expect(map.lookup(port)?.pid).toBe(process.pid);
      await map.idle();
      expect(map.lookup(port)?.pid).toBe(process.pid);
      now = 6000; // stale: answered from the old map while the refresh runs, then gone
      expect(map.lookup(port)?.pid).toBe(process.pid);
      await map.idle();
      expect(map.lookup(port)).toBeUndefined();
      const none = new ProcessMap({ maxFdLinks: 0 });
      none.refresh();
      expect(none.lookup(port)).toBeUndefined();
      // refresh() does the whole walk at once.
      const srv2 = net.createServer();
      await new Promise<void>((r) => srv2.listen(0, '127.0.0.1', () => r()));
      const port2 = (srv2.address() as { port: number }).port;
      map.refresh();
      expect(map.lookup(port2)?.pid).toBe(process.pid);
      srv2.close();
    } finally {
      srv.close();
    }
  });
});

describe('alert context', () => {
  function entry(over: Partial<AlarmEntry>): AlarmEntry {
    return {
      uniqueId: 1,
      alarmId: 7,
      alarmEventId: 1,
      globalId: 0,
      configHashId: 'h',
      transitionId: 't',
      when: 1_700_000_100,
      duration: 0,
      nonClearDuration: 0,
      name: '10s_ipv4_tcp_resets_sent',
      chart: 'ip.tcphandshake',
      context: 'ip.tcphandshake',
      classification: 'Errors',
      component: 'Network',
      type: 'System',
      exec: '',
      recipient: 'root',
      execRunTimestamp: 0,
      execCode: 0,
      source: 'x',
      units: 'resets/s',
      summary: '',
      info: '',
      oldValue: 0,
      newValue: 5,
      oldStatus: STATUS.CLEAR,
      newStatus: STATUS.WARNING,
      flags: 0,
      delay: 0,
      delayUpToTimestamp: 0,
      updatedById: 0,
      updatesId: 0,
      lastRepeat: 0,
      expression: '',
      trace: '',
      ...over,
    };
  }

  it('knows the reset alerts, their direction and their lookup window', () => {
    expect(resetAlertDirection('10s_ipv4_tcp_resets_sent')).toEqual({ reset: true, direction: 'sent' });
    expect(resetAlertDirection('1m_ipv4_tcp_resets_received')).toEqual({
      reset: true,
      direction: 'received',
    });
    expect(resetAlertDirection('rstwatch_aborts_unread_data')).toEqual({ reset: true });
    expect(resetAlertDirection('rstwatch_syncookies_sent')).toEqual({ reset: false });
    expect(lookupWindow(1000, { after: -60, before: -10 })).toEqual({ nowSec: 990, windowSeconds: 50 });
    expect(lookupWindow(1000, { after: -10, before: 0 })).toEqual({ nowSec: 1000, windowSeconds: 10 });
    expect(lookupWindow(1000, undefined)).toEqual({ nowSec: 1000, windowSeconds: 60 });
  });

  it('every new entry of a reset alert carries the top 5 of its window, stored whole in the alert log', async () => {
    const root = fakeTracefs('6.18');
    const name = `rstwatch-unit-ctx-${process.pid}`;
    fakeInstance(root, name, '6.18');
    const attr = await startAttribution({
      log: memoryLogger(),
      os: 'linux',
      tracefs: { root },
      instanceName: name,
      pollMs: 10,
    });
    await waitFor(() => attr.status().events === 18);
    const nowSec = Math.floor(Date.now() / 1000);
    const log = new AlarmLog();
    const queries: unknown[] = [];
    attachAlertContext(
      log,
      () => [{ alarmId: 7, compiled: { config: { lookup: { after: -10, before: 0 } } } }],
      {
        top: (q) => {
          queries.push(q);
          return attr.top(q);
        },
        status: () => attr.status(),
      },
    );
    const sent = entry({ when: nowSec });
    log.add(sent);
    const other = entry({ uniqueId: 2, alarmId: 8, name: 'rstwatch_syncookies_sent' });
    log.add(other);
    expect(queries).toEqual([{ nowSec, windowSeconds: 10, limit: ALERT_CONTEXT_LIMIT, direction: 'sent' }]);
    expect(other.context_extra).toBeUndefined();
    const ctx = sent.context_extra!;
    expect(ctx.direction).toBe('sent');
    expect(ctx.top.total).toBe(9);
    expect(ctx.top.reasons).toEqual([
      { key: 'NO_SOCKET', count: 5 },
      { key: 'TCP_ABORT_ON_CLOSE', count: 2 },
      { key: 'TCP_STATE', count: 2 },
    ]);
    expect(ctx.top.peers.length).toBeLessThanOrEqual(5);
    const db = new Database(':memory:');
    const adb = new AlertDb(db);
    adb.saveEntry(sent);
    const back = adb.entries()[0]!;
    expect(back.context_extra).toEqual(ctx);
    expect(describeContext(back.context_extra!).join('\n')).toMatch(
      /9 resets sent attributed over 10s\npeers: .*\nlocal ports: .*\nremote ports: .*\nreasons: NO_SOCKET \(5\), TCP_ABORT_ON_CLOSE \(2\), TCP_STATE \(2\)/,
    );
    db.close();
    await attr.close();
  });

  it('the transitions of one iteration share one top-N per window and direction; the next iteration asks again', () => {
    const log = new AlarmLog();
    const queries: Array<{ nowSec: number; windowSeconds: number; direction?: string }> = [];
    let flushes = 0;
    let answer = 0;
    const lookups: Record<number, { after: number; before: number }> = {
      1: { after: -60, before: 0 },
      2: { after: -60, before: 0 },
      3: { after: -60, before: -10 },
      4: { after: -60, before: 0 },
    };
    attachAlertContext(
      log,
      () =>
        Object.entries(lookups).map(([id, lookup]) => ({
          alarmId: Number(id),
          compiled: { config: { lookup } },
        })),
      {
        top: (q) => {
          queries.push(q);
          answer++;
          return { ...emptyTop(q.windowSeconds), total: answer };
        },
        status: () => ({ enabled: true }),
        flush: () => {
          flushes++;
        },
      },
    );
    const at = (when: number, alarmId: number, name: string, uniqueId: number) => {
      const e = entry({ when, alarmId, name, uniqueId });
      log.add(e);
      return e;
    };
    // One iteration: two abort alerts (two namespaces) over the same minute share an answer; the same
    // window but another direction, and another window, get their own.
    const a = at(5000, 1, 'rstwatch_aborts_timeout', 1);
    const b = at(5000, 2, 'rstwatch_aborts_timeout', 2);
    const c = at(5000, 4, '1m_ipv4_tcp_resets_sent', 3);
    const d = at(5000, 3, '1m_ipv4_tcp_resets_received', 4);
    expect(queries).toEqual([
      { nowSec: 5000, windowSeconds: 60, limit: ALERT_CONTEXT_LIMIT },
      { nowSec: 5000, windowSeconds: 60, limit: ALERT_CONTEXT_LIMIT, direction: 'sent' },
      { nowSec: 4990, windowSeconds: 50, limit: ALERT_CONTEXT_LIMIT, direction: 'received' },
    ]);
    expect(b.context_extra!.top).toBe(a.context_extra!.top);
    expect([a, c, d].map((e) => e.context_extra!.top.total)).toEqual([1, 2, 3]);
    expect(flushes).toBe(1);
    // The next iteration: asked again, after a flush.
    const e = at(5001, 1, 'rstwatch_aborts_timeout', 5);
    expect(queries).toHaveLength(4);
    expect(e.context_extra!.top.total).toBe(4);
    expect(flushes).toBe(2);
    // An alert's first evaluation that raises nothing gets no context (and costs no query); one that
    // raises does.
    for (const [uniqueId, newStatus] of [
      [6, STATUS.CLEAR],
      [7, STATUS.UNDEFINED],
    ] as const) {
      const first = entry({ when: 5002, alarmId: 2, name: 'rstwatch_aborts_timeout', uniqueId });
      first.oldStatus = STATUS.UNINITIALIZED;
      first.newStatus = newStatus;
      log.add(first);
      expect(first.context_extra).toBeUndefined();
    }
    expect(queries).toHaveLength(4);
    const raising = entry({ when: 5002, alarmId: 2, name: 'rstwatch_aborts_timeout', uniqueId: 8 });
    raising.oldStatus = STATUS.UNINITIALIZED;
    log.add(raising);
    expect(raising.context_extra!.top.total).toBe(5);
    expect(queries).toHaveLength(5);
  });

  it('when attribution is off the entry says why', () => {
    const log = new AlarmLog();
    attachAlertContext(log, () => [], disabledAttribution());
    const e = entry({});
    log.add(e);
    expect(e.context_extra?.attribution).toBe('disabled by the setting attribution = no');
    expect(describeContext(e.context_extra!)).toEqual([
      'attribution: disabled by the setting attribution = no',
    ]);
  });

  it('errors are RstwatchErrors with stable codes', async () => {
    await expect(findTracefs({ root: '/nonexistent-tracefs' })).rejects.toBeInstanceOf(RstwatchError);
  });
});
