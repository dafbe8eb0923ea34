/**
 * The alert-log guard (src/agent/db-guard.ts) around the state writes batched per iteration: a failed batch
 * is counted and said once, never thrown into the engine's iteration, and written by the next one.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { guardPersistence } from '../../src/agent/db-guard.js';
import { AlertDb } from '../../src/health/alert-db.js';
import { memoryLogger } from '../../src/internal/log.js';
import { HealthSim, shippedResetAlerts } from '../helpers/health-sim.js';

describe('guardPersistence: batched state writes', () => {
  it('a failing batch is counted (E_DB_WRITE), not thrown; the next batch writes the states', () => {
    const db = new Database(':memory:');
    const errors = new Map<string, number>();
    const log = memoryLogger();
    const guarded = guardPersistence(new AlertDb(db), errors, log);
    const sim = new HealthSim({ config: shippedResetAlerts(), persistence: guarded });
    sim.run({ AttemptFails: '0x75' });
    const written = () => (db.prepare('SELECT COUNT(*) AS n FROM health_state').get() as { n: number }).n;
    expect(written()).toBe(sim.engine.alerts.length);
    db.prepare('DELETE FROM health_state').run();
    db.pragma('query_only = 1');
    // 20 s of iterations (two evaluations of the 10-s alerts) while every write fails: nothing escapes.
    expect(() => sim.run({ AttemptFails: '0x20' })).not.toThrow();
    expect(errors.get('E_DB_WRITE')).toBeGreaterThanOrEqual(2);
    expect(log.lines.filter((l) => l.includes('cannot write the alert log (state)'))).toHaveLength(1);
    expect(written()).toBe(0);
    db.pragma('query_only = 0');
    sim.run({ AttemptFails: '0x10' });
    expect(written()).toBe(sim.engine.alerts.length);
  });
});
