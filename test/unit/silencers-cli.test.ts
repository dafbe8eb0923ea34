/**
 * `rstwatch alerts silence|disable|reset|silencers` (src/cli/alerts.ts) through main(), against the real HTTP
 * server over a simulated agent (server-harness.ts): the command reads the agent's token file, calls
 * /api/v1/manage/health, and the engine's silencers change; refusals come back with the agent's code.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMain } from '../helpers/main-io.js';
import { type Harness, startHarness } from './server-harness.js';

let h: Harness;
let conn: string[];
beforeAll(async () => {
  h = await startHarness();
  conn = ['--listen', new URL(h.url).host, '--data-dir', h.dataDir, '--config', '/dev/null'];
});
afterAll(async () => {
  await h.close();
});

const alerts = (...args: string[]) => runMain(['alerts', ...args]);

describe('rstwatch alerts silence|disable|reset|silencers', () => {
  it('silence with selectors, list, disable --all, reset: the agent’s silencers follow', async () => {
    const s = await alerts('silence', '--alarm', '10s_*', '--hosts', 'sim', ...conn);
    expect(s.err).toBe('');
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/silenced for alerts matching the selectors/);
    expect(h.agent.health.silencers.state).toEqual({
      all: false,
      type: 'SILENCE',
      silencers: [{ alarm: '10s_*', hosts: 'sim' }],
    });
    const rt = h.agent.health.alerts.find((a) => a.compiled.config.name === '10s_ipv4_tcp_resets_received')!;
    expect(rt.silenced).toBe(true);
    const list = await alerts('silencers', ...conn);
    expect(list.out).toBe('alerts matching these selector sets are silenced:\n  alarm="10s_*" hosts="sim"\n');
    const json = await alerts('silencers', '--json', ...conn);
    expect(JSON.parse(json.out)).toEqual(h.agent.health.silencers.state);

    const d = await alerts('disable', '--all', ...conn);
    expect(d.code).toBe(0);
    expect(h.agent.health.silencers.state).toMatchObject({ all: true, type: 'DISABLE' });
    expect(h.agent.health.alerts.every((a) => a.disabled)).toBe(true);
    expect((await alerts('silencers', ...conn)).out).toBe('every alert is disabled\n');

    const r = await alerts('reset', ...conn);
    expect(r.code).toBe(0);
    expect(h.agent.health.silencers.state).toEqual({ all: false, type: 'NONE', silencers: [] });
    expect((await alerts('silencers', ...conn)).out).toMatch(/^no silencers/);
  });

  it('usage errors and the agent’s refusals have stable codes and a non-zero exit', async () => {
    const none = await alerts('silence', ...conn);
    expect(none.code).not.toBe(0);
    expect(none.err).toMatch(/E_USAGE/);
    const both = await alerts('disable', '--all', '--alarm', 'x', ...conn);
    expect(both.err).toMatch(/E_USAGE/);
    const badToken = await alerts('reset', ...conn, '--api-token-file', '/dev/null');
    expect(badToken.code).not.toBe(0);
    expect(badToken.err).toMatch(/E_API_UNAUTHORIZED/);
    const noAgent = await alerts(
      'silencers',
      '--listen',
      '127.0.0.1:1',
      '--data-dir',
      h.dataDir,
      '--config',
      '/dev/null',
    );
    expect(noAgent.code).not.toBe(0);
    expect(noAgent.err).toMatch(/E_NO_AGENT/);
    expect(h.agent.health.silencers.state.type).toBe('NONE');
  });
});
