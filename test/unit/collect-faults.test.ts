/**
 * Fault paths of the Linux collector and the history database that the happy-path tests never reach:
 * an unreadable proc file, a namespace whose process went away, an unopenable or damaged database.
 * Each must give its stable code with the file, never throw, and let the rest keep flowing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinuxCollector } from '../../src/collect/linux.js';
import { RstwatchError } from '../../src/internal/errors.js';
import { memoryLogger } from '../../src/internal/log.js';
import { HistoryDb } from '../../src/store/history-db.js';
import { Store } from '../../src/store/store.js';
import { FIXTURES } from '../helpers/paths.js';
import { BASE as T0, us } from '../helpers/series.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-faults-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A proc root whose net/ holds the 6.18 fixture files, so one of them can then be broken. */
function procTree(): string {
  const root = path.join(dir, 'proc');
  fs.mkdirSync(path.join(root, 'net'), { recursive: true });
  for (const f of ['snmp', 'netstat'])
    fs.copyFileSync(path.join(FIXTURES, 'proc/linux-6.18/net', f), path.join(root, 'net', f));
  return root;
}

describe('Linux collector faults', () => {
  it('an unreadable snmp file is E_PROC_UNREADABLE with its path, and the TcpExt counters still flow', () => {
    const root = procTree();
    // A directory where the file should be: read() fails with EISDIR even for root (chmod 000 would not).
    fs.rmSync(path.join(root, 'net/snmp'));
    fs.mkdirSync(path.join(root, 'net/snmp'));
    const r = new LinuxCollector({ procRoot: root }).collectSync();
    const p = r.problems.find((x) => x.code === 'E_PROC_UNREADABLE');
    expect(p).toMatchObject({ severity: 'error', file: path.join(root, 'net/snmp') });
    expect(p?.message).toMatch(/EISDIR/);
    expect(r.counters.AttemptFails).toBeUndefined();
    expect(r.counters.ListenOverflows).toBeTypeOf('number');
  });

  it('a missing file is E_PROC_MISSING, a file that turns to junk mid-run gives positions, and recovery is immediate', () => {
    const root = procTree();
    const c = new LinuxCollector({ procRoot: root });
    expect(c.collectSync().problems.filter((p) => p.severity === 'error')).toEqual([]);
    fs.rmSync(path.join(root, 'net/netstat'));
    const missing = c.collectSync();
    expect(missing.problems.map((p) => p.code)).toContain('E_PROC_MISSING');
    expect(missing.counters.AttemptFails).toBeTypeOf('number');
    fs.writeFileSync(path.join(root, 'net/netstat'), 'TcpExt: A B\nTcpExt: 1 x\n');
    const junk = c.collectSync();
    const bad = junk.problems.find((p) => p.file === path.join(root, 'net/netstat') && p.line === 2);
    expect(bad, JSON.stringify(junk.problems)).toBeDefined();
    expect(bad?.column).toBeGreaterThan(0);
    fs.copyFileSync(path.join(FIXTURES, 'proc/linux-6.18/net/netstat'), path.join(root, 'net/netstat'));
    expect(c.collectSync().problems.filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('--netns pid:N whose process exits is E_NETNS_GONE, reported, not thrown', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    const c = new LinuxCollector({ netns: `pid:${pid}` });
    const alive = c.collectSync();
    expect(alive.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(alive.counters.AttemptFails).toBeTypeOf('number');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const gone = c.collectSync();
    expect(gone.counters).toEqual({});
    expect(gone.problems).toEqual([
      expect.objectContaining({ code: 'E_NETNS_GONE', severity: 'error', file: `/proc/${pid}/ns/net` }),
    ]);
  });
});

describe('history database faults', () => {
  it('a data folder that cannot be created is E_DB_OPEN with the path', () => {
    // A regular file where the folder should be: mkdir fails for root too.
    const blocker = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocker, '');
    let err: unknown;
    try {
      HistoryDb.open(path.join(blocker, 'history.db'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RstwatchError);
    expect((err as RstwatchError).code).toBe('E_DB_OPEN');
    expect((err as RstwatchError).file).toBe(path.join(blocker, 'history.db'));
  });

  it('a block that cannot be read back at start is E_DB_READ for that series; the others load', () => {
    const file = path.join(dir, 'history.db');
    const db = HistoryDb.open(file, T0 * 1000);
    const store = new Store({ db });
    store.addNamespace('host', 'linux');
    for (let k = 0; k <= 30; k++) store.ingest('host', { AttemptFails: 100 + 3 * k, OutRsts: 50 + k }, us(k));
    expect(store.flush(T0 + 30)).toBe(true);
    db.close();

    const db2 = HistoryDb.open(file, T0 * 1000);
    const real = db2.blocksSince.bind(db2);
    // The damaged page: one series' read fails as SQLite would (SQLITE_CORRUPT), the rest are fine.
    db2.blocksSince = (key, since) => {
      if (key.dim === 'AttemptFails')
        throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
      return real(key, since);
    };
    const log = memoryLogger();
    const store2 = new Store({ db: db2, log });
    store2.addNamespace('host', 'linux');
    const loaded = store2.load(T0 + 40);
    expect(loaded).toBeGreaterThan(0);
    expect(store2.errors.get('E_DB_READ')).toBe(1);
    expect(log.lines.join('\n')).toMatch(/E_DB_READ/);
    const hs = store2.chart('ip.tcphandshake')!;
    const af = hs.series.find((s) => s.dim.id === 'AttemptFails')!;
    const out = hs.series.find((s) => s.dim.id === 'OutRsts')!;
    expect(af.ring.lastT).toBeNaN();
    expect(out.ring.get(T0 + 20)).toBe(1);
    db2.close();
  });
});
