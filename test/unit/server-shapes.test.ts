/**
 * Every Netdata-compatible endpoint answers with Netdata's keys and JSON types. The field lists are the
 * semantics doc's §4 (shared/design/netdata-health-semantics.md: alarms, alarms_values, alarm_log,
 * alarm_count, data, allmetrics) and, for the endpoints §4 does not list (info, charts, chart, the jsonwrap
 * envelope), what Debian's netdata 1.37 prints (test/e2e/api-netdata.test.ts compares against it live).
 * The agent is simulated (health-sim): 70 quiet seconds then a 300/s storm, so 10s_ipv4_tcp_resets_received
 * is raised and the log has real transitions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, jsonType, shape, startHarness } from './server-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ series: '0x70 300x25' });
});
afterAll(async () => {
  await h.close();
});

/** §4: the keys of one alarm object, in Netdata's order, with their JSON types. */
const ALARM_KEYS: [string, string][] = [
  ['id', 'number'],
  ['config_hash_id', 'string'],
  ['name', 'string'],
  ['chart', 'string'],
  ['class', 'string'],
  ['component', 'string'],
  ['type', 'string'],
  ['active', 'boolean'],
  ['disabled', 'boolean'],
  ['silenced', 'boolean'],
  ['exec', 'string'],
  ['recipient', 'string'],
  ['source', 'string'],
  ['units', 'string'],
  ['summary', 'string'],
  ['info', 'string'],
  ['status', 'string'],
  ['last_status_change', 'number'],
  ['last_updated', 'number'],
  ['next_update', 'number'],
  ['update_every', 'number'],
  ['delay_up_duration', 'number'],
  ['delay_down_duration', 'number'],
  ['delay_max_duration', 'number'],
  ['delay_multiplier', 'number'],
  ['delay', 'number'],
  ['delay_up_to_timestamp', 'number'],
  ['warn_repeat_every', 'string'],
  ['crit_repeat_every', 'string'],
  ['value_string', 'string'],
  ['last_repeat', 'string'],
  ['times_repeat', 'number'],
  ['no_clear_notification', 'boolean'],
  ['lookup_dimensions', 'string'],
  ['db_after', 'number'],
  ['db_before', 'number'],
  ['lookup_method', 'string'],
  ['lookup_after', 'number'],
  ['lookup_before', 'number'],
  ['lookup_options', 'string'],
  ['warn', 'string'],
  ['warn_parsed', 'string'],
  ['green', 'null'],
  ['red', 'null'],
  ['value', 'number'],
];

/** §4 alarm_log item keys (current Netdata) plus 1.37's `family`; `silenced` is a string in 1.37. */
const LOG_KEYS: [string, string][] = [
  ['hostname', 'string'],
  ['utc_offset', 'number'],
  ['timezone', 'string'],
  ['unique_id', 'number'],
  ['alarm_id', 'number'],
  ['alarm_event_id', 'number'],
  ['config_hash_id', 'string'],
  ['transition_id', 'string'],
  ['name', 'string'],
  ['chart', 'string'],
  ['context', 'string'],
  ['family', 'string'],
  ['class', 'string'],
  ['component', 'string'],
  ['type', 'string'],
  ['processed', 'boolean'],
  ['updated', 'boolean'],
  ['exec_run', 'number'],
  ['exec_failed', 'boolean'],
  ['exec', 'string'],
  ['recipient', 'string'],
  ['exec_code', 'number'],
  ['source', 'string'],
  ['command', 'string'],
  ['units', 'string'],
  ['when', 'number'],
  ['duration', 'number'],
  ['non_clear_duration', 'number'],
  ['status', 'string'],
  ['old_status', 'string'],
  ['delay', 'number'],
  ['delay_up_to_timestamp', 'number'],
  ['updated_by_id', 'number'],
  ['updates_id', 'number'],
  ['value_string', 'string'],
  ['old_value_string', 'string'],
  ['last_repeat', 'string'],
  ['silenced', 'string'],
  ['summary', 'string'],
  ['info', 'string'],
  ['no_clear_notification', 'boolean'],
  ['value', 'number'],
  ['old_value', 'number'],
];

/** Netdata 1.37 /api/v1/info keys and types (null: Netdata leaves it null when anonymous statistics are off). */
const INFO_KEYS: [string, string][] = [
  ['version', 'string'],
  ['uid', 'string'],
  ['mirrored_hosts', 'array'],
  ['mirrored_hosts_status', 'array'],
  ['alarms', 'object'],
  ['os_name', 'string'],
  ['os_id', 'string'],
  ['os_id_like', 'string'],
  ['os_version', 'string'],
  ['os_version_id', 'string'],
  ['os_detection', 'string'],
  ['cores_total', 'string'],
  ['total_disk_space', 'string'],
  ['cpu_freq', 'string'],
  ['ram_total', 'string'],
  ['kernel_name', 'string'],
  ['kernel_version', 'string'],
  ['architecture', 'string'],
  ['virtualization', 'string'],
  ['virt_detection', 'string'],
  ['container', 'string'],
  ['container_detection', 'string'],
  ['host_labels', 'object'],
  ['functions', 'object'],
  ['collectors', 'array'],
  ['cloud-enabled', 'boolean'],
  ['cloud-available', 'boolean'],
  ['agent-claimed', 'boolean'],
  ['aclk-available', 'boolean'],
  ['memory-mode', 'string'],
  ['multidb-disk-quota', 'number'],
  ['page-cache-size', 'number'],
  ['stream-enabled', 'boolean'],
  ['https-enabled', 'boolean'],
  ['buildinfo', 'string'],
  ['release-channel', 'string'],
  ['web-enabled', 'boolean'],
];

const CHART_KEYS: [string, string][] = [
  ['id', 'string'],
  ['name', 'string'],
  ['type', 'string'],
  ['family', 'string'],
  ['context', 'string'],
  ['title', 'string'],
  ['priority', 'number'],
  ['plugin', 'string'],
  ['module', 'string'],
  ['units', 'string'],
  ['data_url', 'string'],
  ['chart_type', 'string'],
  ['duration', 'number'],
  ['first_entry', 'number'],
  ['last_entry', 'number'],
  ['update_every', 'number'],
  ['dimensions', 'object'],
  ['chart_variables', 'object'],
  ['green', 'null'],
  ['red', 'null'],
  ['alarms', 'object'],
  ['chart_labels', 'object'],
  ['functions', 'object'],
];

const CHARTS_KEYS: [string, string][] = [
  ['hostname', 'string'],
  ['version', 'string'],
  ['release_channel', 'string'],
  ['os', 'string'],
  ['timezone', 'string'],
  ['update_every', 'number'],
  ['history', 'number'],
  ['memory_mode', 'string'],
  ['custom_info', 'string'],
  ['charts', 'object'],
  ['charts_count', 'number'],
  ['dimensions_count', 'number'],
  ['alarms_count', 'number'],
  ['rrd_memory_bytes', 'number'],
  ['hosts_count', 'number'],
  ['hosts', 'array'],
];

/** Netdata 1.37 jsonwrap envelope of /api/v1/data. */
const JSONWRAP_KEYS: [string, string][] = [
  ['api', 'number'],
  ['id', 'string'],
  ['name', 'string'],
  ['view_update_every', 'number'],
  ['update_every', 'number'],
  ['first_entry', 'number'],
  ['last_entry', 'number'],
  ['before', 'number'],
  ['after', 'number'],
  ['group', 'string'],
  ['options', 'string'],
  ['dimension_names', 'array'],
  ['dimension_ids', 'array'],
  ['functions', 'array'],
  ['latest_values', 'array'],
  ['view_latest_values', 'array'],
  ['dimensions', 'number'],
  ['points', 'number'],
  ['format', 'string'],
  ['db_points_per_tier', 'array'],
  ['result', 'object'],
  ['min', 'number'],
  ['max', 'number'],
];

function expectShape(o: Record<string, unknown>, keys: [string, string][], what: string): void {
  const got = shape(o);
  for (const [k, t] of keys) {
    expect(got[k], `${what}: key ${k}`).toBe(t);
  }
}

/** The expected keys appear in this order (extra keys of ours may sit between them). */
function expectOrder(o: Record<string, unknown>, keys: string[]): void {
  const actual = Object.keys(o).filter((k) => keys.includes(k));
  expect(actual).toEqual(keys.filter((k) => k in o));
}

describe('Netdata-compatible shapes', () => {
  it('/api/v1/info has Netdata 1.37 keys and types', async () => {
    const r = await h.get('/api/v1/info');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const j = r.json<Record<string, unknown>>();
    expectShape(j, INFO_KEYS, 'info');
    expect(shape(j.alarms as Record<string, unknown>)).toEqual({
      normal: 'number',
      warning: 'number',
      critical: 'number',
    });
    // The storm raised one alert.
    expect((j.alarms as { warning: number }).warning).toBe(1);
    const status = (j.mirrored_hosts_status as Record<string, unknown>[])[0]!;
    expect(shape(status)).toMatchObject({
      guid: 'string',
      hostname: 'string',
      reachable: 'boolean',
      hops: 'number',
    });
    expect(j.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('/api/v1/charts lists every chart with Netdata keys', async () => {
    const j = (await h.get('/api/v1/charts')).json<Record<string, unknown>>();
    expectShape(j, CHARTS_KEYS, 'charts');
    const charts = j.charts as Record<string, Record<string, unknown>>;
    expect(Object.keys(charts)).toContain('ip.tcphandshake');
    expect(j.charts_count).toBe(Object.keys(charts).length);
    for (const [id, c] of Object.entries(charts)) {
      expectShape(c, CHART_KEYS, id);
      expectOrder(
        c,
        CHART_KEYS.map(([k]) => k),
      );
      for (const d of Object.values(c.dimensions as Record<string, unknown>))
        expect(shape(d as Record<string, unknown>)).toEqual({ name: 'string' });
    }
    const hs = charts['ip.tcphandshake']!;
    expect(hs.dimensions).toEqual({
      EstabResets: { name: 'EstabResets' },
      OutRsts: { name: 'OutRsts' },
      AttemptFails: { name: 'AttemptFails' },
      TCPSynRetrans: { name: 'SynRetrans' },
    });
    const alarm = (hs.alarms as Record<string, Record<string, unknown>>)['10s_ipv4_tcp_resets_received']!;
    expect(shape(alarm)).toEqual({ id: 'number', status: 'string', units: 'string', update_every: 'number' });
    expect(alarm.status).toBe('WARNING');
    expect(hs.last_entry).toBe(h.now());
    expect(hs.duration).toBe((hs.last_entry as number) - (hs.first_entry as number) + 1);
  });

  it('/api/v1/chart answers by id and by the Netdata 1.37 alias; unknown is 404, none is 400', async () => {
    const a = (await h.get('/api/v1/chart?chart=ip.tcphandshake')).json<Record<string, unknown>>();
    const b = (await h.get('/api/v1/chart?chart=ipv4.tcphandshake')).json<Record<string, unknown>>();
    expectShape(a, CHART_KEYS, 'chart');
    expect(b).toEqual(a);
    const missing = await h.get('/api/v1/chart?chart=nope.nope');
    expect(missing.status).toBe(404);
    expect(missing.json<{ error: { code: string } }>().error.code).toBe('E_API_CHART_NOT_FOUND');
    expect((await h.get('/api/v1/chart')).status).toBe(400);
  });

  it('/api/v1/data json is {labels, data} with time first, newest row first', async () => {
    const j = (await h.get('/api/v1/data?chart=ip.tcphandshake&after=-5')).json<{
      labels: string[];
      data: unknown[][];
    }>();
    expect(Object.keys(j)).toEqual(['labels', 'data']);
    expect(j.labels).toEqual(['time', 'EstabResets', 'OutRsts', 'AttemptFails', 'SynRetrans']);
    expect(j.data).toHaveLength(5);
    for (const row of j.data) {
      expect(row).toHaveLength(5);
      expect(row.map(jsonType)).toEqual(['number', 'number', 'number', 'number', 'number']);
    }
    expect(j.data.map((r) => r[0])).toEqual([0, 1, 2, 3, 4].map((i) => h.now() - i));
  });

  it('/api/v1/data jsonwrap has the 1.37 envelope', async () => {
    const j = (await h.get('/api/v1/data?chart=ip.tcphandshake&after=-6&points=3&options=jsonwrap')).json<
      Record<string, unknown>
    >();
    expectShape(j, JSONWRAP_KEYS, 'jsonwrap');
    expectOrder(
      j,
      JSONWRAP_KEYS.map(([k]) => k),
    );
    expect(j.dimension_ids).toEqual(['EstabResets', 'OutRsts', 'AttemptFails', 'TCPSynRetrans']);
    expect(j.dimension_names).toEqual(['EstabResets', 'OutRsts', 'AttemptFails', 'SynRetrans']);
    expect(j.points).toBe(3);
    expect(j.view_update_every).toBe(2);
  });

  it('/api/v1/data csv and tsv: a header line, then time and one value per dimension', async () => {
    for (const [format, sep] of [
      ['csv', ','],
      ['tsv', '\t'],
    ] as const) {
      const r = await h.get(`/api/v1/data?chart=ip.tcphandshake&after=-3&format=${format}`);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      // CRLF line ends, as Netdata's (RFC 4180).
      expect(r.text.endsWith('\r\n')).toBe(true);
      const lines = r.text.trimEnd().split('\r\n');
      expect(lines[0]).toBe(['time', 'EstabResets', 'OutRsts', 'AttemptFails', 'SynRetrans'].join(sep));
      expect(lines).toHaveLength(4);
      for (const l of lines.slice(1)) {
        const cells = l.split(sep);
        expect(cells[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
        expect(cells.slice(1).every((c) => /^-?\d+(\.\d+)?$/.test(c))).toBe(true);
      }
    }
  });

  it('/api/v1/alarms: active by default, every alert with ?all; §4 keys in order', async () => {
    const active = (await h.get('/api/v1/alarms')).json<Record<string, unknown>>();
    expect(shape(active)).toEqual({
      hostname: 'string',
      latest_alarm_log_unique_id: 'number',
      status: 'boolean',
      now: 'number',
      alarms: 'object',
    });
    const names = Object.keys(active.alarms as object);
    expect(names).toEqual(['ip.tcphandshake.10s_ipv4_tcp_resets_received']);
    const all = (await h.get('/api/v1/alarms?all')).json<{
      alarms: Record<string, Record<string, unknown>>;
    }>();
    expect(Object.keys(all.alarms).length).toBe(h.sim.engine.alerts.length);
    const a = all.alarms['ip.tcphandshake.10s_ipv4_tcp_resets_received']!;
    expectShape(a, ALARM_KEYS, 'alarm');
    expectOrder(
      a,
      ALARM_KEYS.map(([k]) => k),
    );
    expect(a.status).toBe('WARNING');
    expect(a.lookup_options).toBe('absolute unaligned');
    expect(a.lookup_after).toBe(-10);
    expect(a.delay_up_duration).toBe(20);
    // A baseline alert: no warn, a lookup, value a number.
    const base = all.alarms['ip.tcphandshake.1m_ipv4_tcp_resets_received']!;
    expect('warn' in base).toBe(false);
    expect(base.status).toBe('UNDEFINED');
    expect(jsonType(base.value)).toBe('number');
  });

  it('/api/v1/alarms_values: id, value, last_updated, status', async () => {
    const j = (await h.get('/api/v1/alarms_values?all')).json<{
      hostname: string;
      alarms: Record<string, Record<string, unknown>>;
    }>();
    expect(Object.keys(j)).toEqual(['hostname', 'alarms']);
    for (const v of Object.values(j.alarms)) {
      expect(Object.keys(v)).toEqual(['id', 'value', 'last_updated', 'status']);
      expect(shape(v)).toMatchObject({ id: 'number', last_updated: 'number', status: 'string' });
      expect(['number', 'null']).toContain(jsonType(v.value));
    }
    const active = (await h.get('/api/v1/alarms_values')).json<{ alarms: object }>();
    expect(Object.keys(active.alarms)).toEqual(['ip.tcphandshake.10s_ipv4_tcp_resets_received']);
  });

  it('/api/v1/alarm_log: newest first, §4 keys, ?after= compares unique_id (strictly greater)', async () => {
    const log = (await h.get('/api/v1/alarm_log')).json<Record<string, unknown>[]>();
    expect(log.length).toBe(h.sim.engine.log.all.length);
    const ids = log.map((e) => e.unique_id as number);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const raise = log.find((e) => e.name === '10s_ipv4_tcp_resets_received' && e.status === 'WARNING')!;
    expectShape(raise, LOG_KEYS, 'log entry');
    expectOrder(
      raise,
      LOG_KEYS.map(([k]) => k),
    );
    expect(raise.old_status).toBe('CLEAR');
    const announce = log.find((e) => e.old_status === 'REMOVED')!;
    // NaN values are null (the announce entry has no values).
    expect(announce.value).toBeNull();
    expect(announce.value_string).toBe('-');
    const pivot = ids[3]!;
    const after = (await h.get(`/api/v1/alarm_log?after=${pivot}`)).json<Record<string, unknown>[]>();
    expect(after.map((e) => e.unique_id)).toEqual(ids.filter((i) => i > pivot));
    const byChart = (await h.get('/api/v1/alarm_log?chart=ip.tcp_accept_queue')).json<
      Record<string, unknown>[]
    >();
    expect(byChart.length).toBeGreaterThan(0);
    expect(byChart.every((e) => e.chart === 'ip.tcp_accept_queue')).toBe(true);
    expect((await h.get('/api/v1/alarm_log?after=x')).status).toBe(400);
  });

  it('/api/v1/alarm_count: [N]; RAISED by default; status and context filters', async () => {
    expect((await h.get('/api/v1/alarm_count')).json()).toEqual([1]);
    expect((await h.get('/api/v1/alarm_count?status=WARNING')).json()).toEqual([1]);
    expect((await h.get('/api/v1/alarm_count?status=CRITICAL')).json()).toEqual([0]);
    const undefinedCount = h.sim.engine.alerts.filter((a) => a.status === -1).length;
    expect((await h.get('/api/v1/alarm_count?status=UNDEFINED')).json()).toEqual([undefinedCount]);
    expect((await h.get('/api/v1/alarm_count?context=ip.tcp_accept_queue&status=RAISED')).json()).toEqual([
      0,
    ]);
    expect((await h.get('/api/v1/alarm_count?context=ip.tcphandshake')).json()).toEqual([1]);
    const bad = await h.get('/api/v1/alarm_count?status=LOUD');
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: { code: string } }>().error.code).toBe('E_API_PARAM');
  });

  it('/api/v1/allmetrics: prometheus names as §4, json and shell as Netdata prints them', async () => {
    const p = await h.get('/api/v1/allmetrics?format=prometheus');
    expect(p.status).toBe(200);
    const line = p.text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('netdata_ip_tcphandshake_events_persec_average{') &&
          l.includes('dimension="AttemptFails"'),
      );
    expect(line).toMatch(
      /^netdata_ip_tcphandshake_events_persec_average\{chart="ip\.tcphandshake",family="tcp",dimension="AttemptFails"\} [0-9.]+ \d{13}$/,
    );
    expect(p.text).toContain('dimension="SynRetrans"');
    const raw = await h.get('/api/v1/allmetrics?format=prometheus&source=as-collected&timestamps=no');
    expect(raw.text).toMatch(
      /^netdata_ip_tcphandshake_total\{chart="ip\.tcphandshake",family="tcp",dimension="AttemptFails"\} \d+$/m,
    );
    const j = (await h.get('/api/v1/allmetrics?format=json')).json<Record<string, Record<string, unknown>>>();
    const hs = j['ip.tcphandshake']!;
    expect(shape(hs)).toEqual({
      name: 'string',
      family: 'string',
      context: 'string',
      units: 'string',
      last_updated: 'number',
      dimensions: 'object',
    });
    expect(shape((hs.dimensions as Record<string, Record<string, unknown>>).AttemptFails!)).toEqual({
      name: 'string',
      value: 'number',
    });
    const sh = (await h.get('/api/v1/allmetrics?format=shell')).text;
    expect(sh).toMatch(/^NETDATA_IP_TCPHANDSHAKE_ATTEMPTFAILS="\d+" {6}# events\/s$/m);
    expect(sh).toMatch(/^NETDATA_ALARM_IP_TCPHANDSHAKE_10S_IPV4_TCP_RESETS_RECEIVED_STATUS="WARNING"$/m);
    expect((await h.get('/api/v1/allmetrics?format=xml')).status).toBe(400);
  });
});
