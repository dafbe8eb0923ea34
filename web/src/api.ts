/**
 * The agent's API as the dashboard uses it (src/server/, docs/api.md): same-origin requests only, errors as
 * `{error: {code, message, status}}` turned into ApiFailure with the stable code (docs/errors.md).
 *
 * The token. Requests that change state (starting or stopping a capture, downloading one) need
 * `Authorization: Bearer <token>`, the token the agent keeps in `<data dir>/api.token` (mode 0600). The page
 * never gets it from the server — any local user can load the page, only the token file's owner may
 * capture — so the person at the browser supplies it: pasted into the token dialog, or once in the URL
 * fragment (`/#token=…`; a fragment is never sent to the server, and the page removes it at once). It is
 * kept in sessionStorage: this tab only, gone when the tab closes.
 */

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiFailure';
    this.status = status;
    this.code = code;
  }
}

const TOKEN_KEY = 'rstwatch.apiToken';
export const TOKEN_RE = /^[0-9a-f]{64}$/;

function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined; // storage disabled: the token lives in memory only
  }
}

let memoryToken: string | null = null;

export function getToken(): string | null {
  return storage()?.getItem(TOKEN_KEY) ?? memoryToken;
}

export function setToken(token: string | null): void {
  memoryToken = token;
  const s = storage();
  if (!s) return;
  if (token === null) s.removeItem(TOKEN_KEY);
  else s.setItem(TOKEN_KEY, token);
}

/** Take `#token=<hex>` from the address, keep it, and remove it from the address bar and history. */
export function takeTokenFromUrl(): void {
  const m = /(?:^#|&)token=([0-9a-fA-F]{64})(?:&|$)/.exec(location.hash);
  if (!m) return;
  setToken(m[1]!.toLowerCase());
  history.replaceState(history.state, '', location.pathname + location.search);
}

async function failure(res: Response): Promise<ApiFailure> {
  let code = `HTTP_${res.status}`;
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // not our JSON error: keep the HTTP status
  }
  return new ApiFailure(res.status, code, message);
}

async function request(path: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
  } catch (err) {
    throw new ApiFailure(0, 'E_NETWORK', `the agent did not answer (${(err as Error).message})`);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, signal ? { signal } : {});
  return (await res.json()) as T;
}

function authHeaders(): Record<string, string> {
  const token = getToken();
  if (token === null) throw new ApiFailure(401, 'E_API_UNAUTHORIZED', 'no API token set');
  return { Authorization: `Bearer ${token}` };
}

/** A state-changing POST with the token. */
export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

/** A GET that needs the token (capture downloads), as a Blob. */
export async function getBlobWithToken(path: string): Promise<Blob> {
  const res = await request(path, { headers: authHeaders() });
  return res.blob();
}

// ---------------------------------------------------------------------------------------------------------
// Shapes (the parts the dashboard reads; the server sends more).

export interface ChartMeta {
  id: string;
  netns: string;
  context: string;
  title: string;
  units: string;
  dimensions: { id: string; name: string }[];
}

/** The stream's first event. */
export interface Hello {
  now: number;
  updateEvery: number;
  charts: ChartMeta[];
  alerts: { alert: string; chart: string; status: string; value: number | null; lastStatusChange: number }[];
}

export interface SampleEvent {
  t: number;
  charts: Record<string, Record<string, number | null>>;
}

/** `/api/v1/alarms?all`, one alert. */
export interface AlarmJson {
  id: number;
  name: string;
  chart: string;
  status: string;
  value: number | null;
  value_string: string;
  units: string;
  summary: string;
  info: string;
  last_status_change: number;
  warn?: string;
  crit?: string;
}

export interface AlarmsJson {
  now: number;
  latest_alarm_log_unique_id: number;
  alarms: Record<string, AlarmJson>;
}

/** `/api/v1/alarm_log` entry (and the stream's `alert` event). */
export interface LogEntry {
  unique_id: number;
  name: string;
  chart: string;
  when: number;
  status: string;
  old_status: string;
  value: number | null;
  value_string: string;
  old_value_string: string;
  units: string;
  summary: string;
  info: string;
}

export interface StatusJson {
  hostname: string;
  version: string;
  os: string;
  now: number;
  uptimeSeconds: number;
  collectors: { netns: string; reads: string }[];
  sampler: { samples: number; lastSampleAgeSeconds: number | null };
  attribution: AttributionStatus | null;
  captures: number | null;
  api: { listen: string; tokenFile: string };
}

export interface AttributionStatus {
  enabled: boolean;
  layout: string | null;
  reason?: string;
  events: number;
  lost: number;
}

export interface TopEntry {
  key: string;
  count: number;
  process?: { name: string; pid: number };
}

export interface TopJson {
  windowSeconds: number;
  direction: string;
  status: AttributionStatus;
  top: {
    windowSeconds: number;
    total: number;
    other: number;
    peers: TopEntry[];
    localPorts: TopEntry[];
    remotePorts: TopEntry[];
    reasons: TopEntry[];
    states: TopEntry[];
    scope?: string;
  } | null;
}

export interface Finding {
  id: string;
  severity: string;
  title: string;
  evidence: string[];
  fix?: string;
  advice?: string;
  topic: string;
  unknown?: true;
}

export interface DoctorJson {
  os: string;
  netns: string;
  intervalSeconds: number;
  settings: Record<string, number | string | null>;
  findings: Finding[];
  worst: string;
}

export interface CaptureInfo {
  id: string;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  endedAt?: string;
  file: string;
  bytes: number;
  packets: number;
  error?: { code: string; message: string };
  request: { iface?: string; durationSeconds?: number; format?: string };
}
