/**
 * Silencers in the whole agent (startAgent, simulated clock and /proc; reliability-harness.ts): the
 * silencers are read from `<data dir>/health.silencers.json` at start, so a silence set before a restart
 * still holds after it (a raised alert is logged SILENCED and not notified); a corrupt file is a warning
 * with its code and the agent runs without silencers.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAG } from '../../src/health/engine.js';
import { SILENCERS_FILE } from '../../src/health/silencers.js';
import { STATUS } from '../../src/health/types.js';
import { simAgent } from './reliability-harness.js';

describe('silencers across an agent restart', () => {
  it('a silence kept in the data folder holds after the restart: logged SILENCED, not notified', async () => {
    const first = await simAgent();
    const file = join(first.dir, 'data', SILENCERS_FILE);
    try {
      await first.advance(8);
      const r = first.agent.health.silencers.command('SILENCE', { alarm: 'rel_resets_*' });
      expect(r.changed).toBe(true);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ type: 'SILENCE' });
      await first.halt();

      const second = await simAgent({ dir: first.dir });
      try {
        expect(second.agent.health.silencers.state).toEqual({
          all: false,
          type: 'SILENCE',
          silencers: [{ alarm: 'rel_resets_*' }],
        });
        expect(second.log.lines.join('\n')).toMatch(/alert silencers restored/);
        await second.advance(8);
        second.perSecond.AttemptFails = 200;
        await second.advance(8);
        const raised = second.agent.health.log.all.filter(
          (e) => e.name === 'rel_resets_received' && e.newStatus === STATUS.WARNING,
        );
        expect(raised.length).toBeGreaterThan(0);
        for (const e of raised) expect(e.flags & FLAG.SILENCED).toBe(FLAG.SILENCED);
        expect(second.notified.filter((e) => e.name === 'rel_resets_received')).toEqual([]);
        const rt = second.agent.health.alerts.find((a) => a.compiled.config.name === 'rel_resets_received')!;
        expect(rt.silenced).toBe(true);
        expect(rt.status).toBe(STATUS.WARNING);
      } finally {
        await second.stop();
      }
    } catch (err) {
      await first.stop().catch(() => undefined);
      throw err;
    }
  });

  it('a corrupt silencer file: a warning with E_SILENCERS_CORRUPT, no silencers, alerts notified', async () => {
    const first = await simAgent();
    await first.halt();
    writeFileSync(join(first.dir, 'data', SILENCERS_FILE), '{"all": true, "type": "SILENCE"');
    const sim = await simAgent({ dir: first.dir });
    try {
      const warn = sim.log.lines.find((l) => l.includes('E_SILENCERS_CORRUPT'));
      expect(warn).toMatch(/ warn .*health\.silencers\.json is not a silencer list/);
      expect(sim.agent.health.silencers.state).toEqual({ all: false, type: 'NONE', silencers: [] });
      await sim.advance(8);
      sim.perSecond.AttemptFails = 200;
      await sim.advance(8);
      expect(sim.notified.filter((e) => e.newStatus === STATUS.WARNING).length).toBeGreaterThan(0);
    } finally {
      await sim.stop();
    }
  });
});
