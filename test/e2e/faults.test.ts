/**
 * Faults from the foundation issue, against the real parts: a full disk (a tiny tmpfs the test mounts), a
 * database locked by another process, and status run as an unprivileged user.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RstwatchError } from '../../src/internal/errors.js';
import { HistoryDb } from '../../src/store/history-db.js';
import { Store } from '../../src/store/store.js';
import { BIN, requireCapability } from '../helpers/paths.js';

const isRoot = process.getuid?.() === 0;
requireCapability(isRoot, 'root (to mount a tmpfs and to switch to an unprivileged user)');
if (!isRoot) console.warn('SKIPPED: fault tests need root (they run in CI)');

/** Feed a store 1 s collections of a counter growing by `perSecond`. */
function feed(store: Store, fromSec: number, seconds: number, perSecond: number, startCount: number): number {
  let c = startCount;
  for (let s = 0; s < seconds; s++) {
    store.ingest(
      'host',
      { AttemptFails: c, OutRsts: c, EstabResets: 0, TCPSynRetrans: 0 },
      (fromSec + s) * 1e6 + 1000,
    );
    c += perSecond;
  }
  return c;
}

describe.skipIf(!isRoot)('a full disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-full-'));
  beforeAll(() => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  });
  afterAll(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('flush fails with E_DB_FULL, keeps the data in memory, and writes it once space is back', () => {
    const db = HistoryDb.open(join(dir, 'history.db'));
    const store = new Store({ db });
    store.addNamespace('host', 'linux');
    const t0 = 1_800_000_000;
    let c = feed(store, t0, 60, 5, 1000);
    expect(store.flush(t0 + 60)).toBe(true);
    // Fill the file system to the last byte.
    const filler = join(dir, 'filler');
    let size = 1024 * 1024;
    while (size >= 1) {
      try {
        writeFileSync(filler, Buffer.alloc(size), { flag: 'a' });
      } catch {
        size = Math.floor(size / 2);
      }
    }
    c = feed(store, t0 + 60, 240, 5, c);
    expect(store.flush(t0 + 300)).toBe(false);
    expect(store.errors.get('E_DB_FULL')).toBeGreaterThanOrEqual(1);
    // Space is back: the next flush writes what the failed one could not.
    rmSync(filler);
    expect(store.flush(t0 + 300)).toBe(true);
    db.close();
    const again = HistoryDb.open(join(dir, 'history.db'));
    const reread = new Store({ db: again, ringSeconds: 600 });
    reread.addNamespace('host', 'linux');
    reread.load(t0 + 300);
    const hs = reread.chart('ip.tcphandshake')!;
    const q = reread.query(hs, {
      after: t0 + 1,
      before: t0 + 299,
      method: 'sum',
      dimensions: ['AttemptFails'],
    });
    again.close();
    // 299 stored slots after the first (gap) sample, 5 per second each: nothing lost. (The collections are
    // 1 ms after each boundary, so the last boundary holds 0.999 s of the last interval: 0.005 short.)
    expect(q.value).toBeCloseTo(299 * 5, 1);
  });
});

describe('a locked database', () => {
  it('is reported as E_DB_LOCKED, not a crash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-lock-'));
    const path = join(dir, 'history.db');
    HistoryDb.open(path).close();
    const other = new Database(path);
    other.pragma('locking_mode = EXCLUSIVE');
    other.exec('BEGIN EXCLUSIVE');
    try {
      let err: unknown;
      try {
        HistoryDb.open(path);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RstwatchError);
      expect((err as RstwatchError).code).toBe('E_DB_LOCKED');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  }, 15_000);
});

/** Run the CLI as nobody (uid/gid 65534), with no supplementary groups. */
function asNobody(args: string[]) {
  return spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
      timeout: 20_000,
    },
  );
}

describe.skipIf(!isRoot)('status as an unprivileged user', () => {
  it('reads the host namespace without privileges', () => {
    const r = asNobody(['status', '--json', '--interval', '0.2s']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout) as { counters: Record<string, number>; rates: Record<string, number> };
    expect(o.counters.AttemptFails).toBeTypeOf('number');
    expect(o.rates.OutRsts).toBeGreaterThanOrEqual(0);
  });

  it('says clearly why an unpopulated namespace cannot be read without root', () => {
    const ns = `rw-nr-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const r = asNobody(['status', '--json', '--interval', '0', '--netns', ns]);
      expect(r.status).toBe(3);
      const o = JSON.parse(r.stdout) as { namespaces: { problems: { code: string; message: string }[] }[] };
      const p = o.namespaces[1]!.problems[0]!;
      expect(p.code).toBe('E_NETNS_NO_PROCESS');
      expect(p.message).toContain('needs root');
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });
});
