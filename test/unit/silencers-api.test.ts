/**
 * `/api/v1/manage/health` (src/server/manage-health.ts) through the real HTTP server over a simulated agent:
 * the token (Netdata's X-Auth-Token and our bearer), Netdata's commands and plain-text answers, the LIST
 * JSON shape, the refusals with their stable codes, and `/api/v1/alarms` showing `silenced`/`disabled`.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, request, startHarness } from './server-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const PATH = '/api/v1/manage/health';
const auth = () => ({ 'X-Auth-Token': h.token });
const errorCode = (r: { json<T>(): T }) => r.json<{ error: { code: string } }>().error.code;

type Alarm = { name: string; silenced: boolean; disabled: boolean };
async function alarmsByName(): Promise<Map<string, Alarm[]>> {
  const r = await h.get('/api/v1/alarms?all');
  expect(r.status).toBe(200);
  const out = new Map<string, Alarm[]>();
  for (const a of Object.values(r.json<{ alarms: Record<string, Alarm> }>().alarms)) {
    out.set(a.name, [...(out.get(a.name) ?? []), a]);
  }
  return out;
}

describe('manage/health: authentication', () => {
  it('no token → 401 E_API_UNAUTHORIZED with WWW-Authenticate, naming both headers; nothing changes', async () => {
    const r = await h.get(`${PATH}?cmd=SILENCE%20ALL`);
    expect(r.status).toBe(401);
    expect(errorCode(r)).toBe('E_API_UNAUTHORIZED');
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(r.text).toMatch(/X-Auth-Token/);
    expect(h.agent.health.silencers.state.all).toBe(false);
    const list = await h.get(`${PATH}?cmd=LIST`);
    expect(list.status).toBe(401);
  });
  it('a wrong X-Auth-Token or bearer → 401', async () => {
    expect((await h.get(`${PATH}?cmd=LIST`, { 'X-Auth-Token': 'f'.repeat(64) })).status).toBe(401);
    expect((await h.get(`${PATH}?cmd=LIST`, { Authorization: `Bearer ${'0'.repeat(64)}` })).status).toBe(401);
  });
  it('X-Auth-Token and Authorization: Bearer both work', async () => {
    const a = await h.get(`${PATH}?cmd=LIST`, auth());
    expect(a.status).toBe(200);
    const b = await h.get(`${PATH}?cmd=LIST`, { Authorization: `Bearer ${h.token}` });
    expect(b.status).toBe(200);
    expect(b.json()).toEqual(a.json());
  });
  it('another Origin is refused even with the token (403 E_API_ORIGIN)', async () => {
    const r = await h.get(`${PATH}?cmd=RESET`, { ...auth(), Origin: 'https://evil.example' });
    expect(r.status).toBe(403);
    expect(errorCode(r)).toBe('E_API_ORIGIN');
  });
});

describe('manage/health: commands', () => {
  it('bad command → 400 E_API_BAD_CMD; unknown parameter or empty pattern → 400 E_API_PARAM', async () => {
    const bad = await h.get(`${PATH}?cmd=MUTE`, auth());
    expect(bad.status).toBe(400);
    expect(errorCode(bad)).toBe('E_API_BAD_CMD');
    expect(bad.text).toMatch(/SILENCE ALL/);
    const typo = await h.get(`${PATH}?cmd=SILENCE&alarms=x`, auth());
    expect(typo.status).toBe(400);
    expect(errorCode(typo)).toBe('E_API_PARAM');
    expect(typo.text).toMatch(/alarms/);
    const empty = await h.get(`${PATH}?cmd=SILENCE&alarm=`, auth());
    expect(errorCode(empty)).toBe('E_API_PARAM');
    const nothing = await h.get(PATH, auth());
    expect(errorCode(nothing)).toBe('E_API_PARAM');
    expect(h.agent.health.silencers.state).toEqual({ all: false, type: 'NONE', silencers: [] });
  });

  it('SILENCE with selectors: plain-text answer, LIST shape, alarms show silenced; RESET clears', async () => {
    const r = await h.get(`${PATH}?cmd=SILENCE&alarm=*_received&hosts=sim`, auth());
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.text).toMatch(/silenced for alerts matching the selectors/);
    // One more request with selectors adds one more set (template is alarm's alias).
    const more = await h.get(`${PATH}?template=nothing_like_this`, auth());
    expect(more.status).toBe(200);
    const list = await h.get(`${PATH}?cmd=LIST`, auth());
    expect(list.headers['content-type']).toMatch(/^application\/json/);
    expect(list.json()).toEqual({
      all: false,
      type: 'SILENCE',
      silencers: [{ alarm: '*_received', hosts: 'sim' }, { alarm: 'nothing_like_this' }],
    });
    const alarms = await alarmsByName();
    const received = [...alarms.entries()].filter(([n]) => n.endsWith('_received'));
    expect(received.length).toBeGreaterThan(0);
    for (const [, list] of received)
      for (const a of list) expect(a).toMatchObject({ silenced: true, disabled: false });
    const sent = alarms.get('10s_ipv4_tcp_resets_sent');
    expect(sent?.[0]).toMatchObject({ silenced: false, disabled: false });

    const reset = await h.get(`${PATH}?cmd=RESET`, auth());
    expect(reset.text).toMatch(/enabled again/);
    expect((await h.get(`${PATH}?cmd=LIST`, auth())).json()).toEqual({
      all: false,
      type: 'NONE',
      silencers: [],
    });
    for (const list of (await alarmsByName()).values())
      for (const a of list) expect(a).toMatchObject({ silenced: false, disabled: false });
  });

  it('DISABLE ALL by POST (same query): every alert disabled and no longer evaluated; RESET resumes', async () => {
    const r = await request(`${h.url}${PATH}?cmd=DISABLE%20ALL`, { method: 'POST', headers: auth() });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/All alert checks are disabled/);
    for (const list of (await alarmsByName()).values())
      for (const a of list) expect(a).toMatchObject({ disabled: true, silenced: false });
    const before = h.agent.health.alerts.map((a) => a.lastUpdated);
    h.run('0x30');
    expect(h.agent.health.alerts.map((a) => a.lastUpdated)).toEqual(before);
    await h.get(`${PATH}?cmd=RESET`, auth());
    h.run('0x30');
    expect(h.agent.health.alerts.some((a, i) => a.lastUpdated > (before[i] ?? 0))).toBe(true);
  });

  it('a method other than GET or POST → 405', async () => {
    const r = await request(`${h.url}${PATH}?cmd=LIST`, { method: 'DELETE', headers: auth() });
    expect(r.status).toBe(405);
  });
});
