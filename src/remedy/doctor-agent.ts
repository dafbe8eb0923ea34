/**
 * rstwatch doctor, from the agent: when an agent is running on the data folder, the counter movements come
 * from its per-second history (the last `windowSeconds`, default a minute) instead of a fresh few-second
 * sample — a minute of evidence, at once, and the same numbers the alerts saw.
 *
 * The history holds per-second rates of chart dimensions (src/model/charts.ts). Every dimension made of one
 * incremental counter gives that counter's movement: Σ(rate × slot seconds) over the window, scaled back by
 * the dimension's divisor/multiplier. The counters' current totals are read now (one collection), and
 * `before = now − movement`, so the doctor's checks and evidence ("+18 in 60 s, now 1234") work unchanged.
 *
 * The database is opened read-only: the doctor never writes to the agent's files. The newest seconds not yet
 * flushed by the agent (`flush every`, default 10 s) are not on disk: the window ends at the last flushed slot.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { errorMessage, sysCode } from '../internal/errors.js';
import { chartDefs, instantiate, type Os } from '../model/charts.js';

export interface AgentMovement {
  /** Counter movement over the window by kernel name (only counters the agent keeps). */
  delta: Record<string, number>;
  /** Seconds the window covers: from the oldest to the newest slot with data, plus one slot. */
  seconds: number;
  /** Newest slot used (epoch seconds). */
  lastT: number;
  db: string;
}

export type AgentHistoryResult =
  | { ok: true; movement: AgentMovement }
  | { ok: false; why: string; code: 'E_NO_AGENT' | 'E_NO_AGENT_DATA' | 'E_DB_READ' };

/** The pid in `<dataDir>/agent.pid` when that process is alive. */
export function liveAgentPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'agent.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, owned by someone else (an agent running as root, doctor as a user).
    return sysCode(err) === 'EPERM' ? pid : undefined;
  }
}

/** counter → the host chart dimension made of it alone. */
function counterDimensions(os: Os): Map<string, { chart: string; dim: string; scale: number }> {
  const out = new Map<string, { chart: string; dim: string; scale: number }>();
  for (const def of chartDefs(os)) {
    const chart = instantiate(def, 'host').fullId;
    for (const d of def.dimensions) {
      if (d.algorithm !== 'incremental' || d.counters.length !== 1) continue;
      const c = d.counters[0]!;
      if (!out.has(c)) out.set(c, { chart, dim: d.id, scale: d.divisor / d.multiplier });
    }
  }
  return out;
}

/**
 * The counters' movement over the last `windowSeconds` of the agent's history on `dataDir` (host namespace),
 * or why it cannot be had. `nowSec` bounds the window's end (a clock seam for tests).
 */
export function readAgentMovement(
  dataDir: string,
  os: Os,
  windowSeconds: number,
  nowSec: number,
  requireLive = true,
): AgentHistoryResult {
  if (requireLive && liveAgentPid(dataDir) === undefined)
    return { ok: false, code: 'E_NO_AGENT', why: `no rstwatch agent is running on ${dataDir}` };
  const file = join(dataDir, 'history.db');
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    return { ok: false, code: 'E_NO_AGENT_DATA', why: `cannot open ${file}: ${errorMessage(err)}` };
  }
  try {
    const seriesStmt = db.prepare("SELECT id FROM series WHERE netns = 'host' AND chart = ? AND dim = ?");
    const blocksStmt = db.prepare(
      'SELECT block, every, vals FROM tier0 WHERE series = ? AND block > ? AND block <= ? ORDER BY block',
    );
    const from = nowSec - windowSeconds;
    // Blocks are 60 slots long: start one block earlier so the window's first slots are found.
    const perCounter = new Map<string, { sum: number; first: number; last: number; every: number }>();
    let newest = Number.NEGATIVE_INFINITY;
    for (const [counter, where] of counterDimensions(os)) {
      const row = seriesStmt.get(where.chart, where.dim) as { id: number } | undefined;
      if (!row) continue;
      const blocks = blocksStmt.all(row.id, from - 3600, nowSec) as {
        block: number;
        every: number;
        vals: Buffer;
      }[];
      let sum = 0;
      let first = Number.POSITIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      let every = 1;
      for (const b of blocks) {
        every = b.every;
        for (let i = 0; i + 8 <= b.vals.length; i += 8) {
          const t = b.block + (i / 8) * b.every;
          if (t <= from || t > nowSec) continue;
          const v = b.vals.readDoubleLE(i);
          if (Number.isNaN(v)) continue;
          sum += v * b.every * where.scale;
          if (t < first) first = t;
          if (t > last) last = t;
        }
      }
      if (!Number.isFinite(last)) continue;
      perCounter.set(counter, { sum, first, last, every });
      if (last > newest) newest = last;
    }
    if (perCounter.size === 0)
      return {
        ok: false,
        code: 'E_NO_AGENT_DATA',
        why: `the agent's history in ${file} has no data for the last ${windowSeconds} s yet`,
      };
    const delta: Record<string, number> = {};
    let oldest = Number.POSITIVE_INFINITY;
    let every = 1;
    for (const [c, m] of perCounter) {
      // The interpolation makes the slots add up to the counter's change; round away float dust.
      delta[c] = Math.round(m.sum * 1e6) / 1e6;
      if (m.first < oldest) oldest = m.first;
      every = m.every;
    }
    return {
      ok: true,
      movement: { delta, seconds: newest - oldest + every, lastT: newest, db: file },
    };
  } catch (err) {
    return { ok: false, code: 'E_DB_READ', why: `cannot read ${file}: ${errorMessage(err)}` };
  } finally {
    db.close();
  }
}

/** before = now − movement, for the counters the agent keeps; the others are left out (not moved). */
export function beforeFromMovement(
  now: Readonly<Record<string, number>>,
  delta: Readonly<Record<string, number>>,
): Record<string, number> {
  const before: Record<string, number> = {};
  for (const [c, d] of Object.entries(delta)) {
    const a = now[c];
    if (a !== undefined) before[c] = Math.max(0, a - d);
  }
  return before;
}
