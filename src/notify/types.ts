/**
 * Types of the notification module: the event snapshot every sender reads, the method configurations and
 * the sender interface. An event is rendered once, when the alert engine decides to notify, and stored
 * whole in the queue: a message resent after a restart says exactly what it said the first time.
 */

/** Top-K attribution of the resets behind a transition (a subset of src/attribute/types.ts AttributionTop). */
export interface NotifyTopEntry {
  key: string;
  count: number;
  process?: { name: string; pid: number };
}

export interface NotifyTop {
  windowSeconds: number;
  total: number;
  peers: NotifyTopEntry[];
  localPorts: NotifyTopEntry[];
  remotePorts: NotifyTopEntry[];
  reasons: NotifyTopEntry[];
}

/** Netdata's status names as notifications carry them (alarm-notify.sh $9/$10). */
export type NotifyStatus =
  | 'REMOVED'
  | 'UNDEFINED'
  | 'UNINITIALIZED'
  | 'CLEAR'
  | 'RAISED'
  | 'WARNING'
  | 'CRITICAL';

/**
 * Everything a notification says about one transition. The first block are the alarm-log fields of
 * netdata-health-semantics.md §3.5 that alarm-notify.sh receives (§3.8); the rest is rstwatch's story:
 * what it means, against what baseline, who and why, and what to do next.
 */
export interface NotifyEvent {
  /** `transition`: from the alert engine; `test`: `rstwatch notify test`; `resolve`: Alertmanager only. */
  kind: 'transition' | 'test' | 'resolve';
  host: string;
  machineGuid: string;
  transitionId: string;
  uniqueId: number;
  alarmId: number;
  alarmEventId: number;
  /** Epoch seconds of the transition. */
  when: number;
  name: string;
  chart: string;
  context: string;
  classification: string;
  component: string;
  type: string;
  /** The alert's `to:` (one or more roles separated by spaces). */
  recipient: string;
  status: NotifyStatus;
  oldStatus: NotifyStatus;
  /** NaN travels as null in JSON. */
  value: number | null;
  oldValue: number | null;
  units: string;
  summary: string;
  info: string;
  source: string;
  durationSeconds: number;
  nonClearDurationSeconds: number;
  /** The warn (or crit) expression and its evaluation trace. */
  expression: string;
  trace: string;
  /** Other alerts of the host, for alarm-notify.sh $22–$25: `name=last_status_change`. */
  otherWarnings: string[];
  otherCriticals: string[];
  /** When the alert entered its current raised status (Alertmanager's startsAt), epoch seconds. */
  raisedSince: number;
  /** What it means, from src/model/explain.ts. */
  explain?: { topic: string; title: string; summary: string; firstStep?: string };
  /** The value against its baseline and thresholds, for the Netdata-style reset alerts. */
  baseline?: { name: string; value: number | null; floor: number; raiseAbove: number; holdAbove: number };
  /** Values of other alerts the expression refers to (`$1m_ipv4_tcp_resets_received`). */
  references: { name: string; value: number | null }[];
  top?: NotifyTop;
  /** Why attribution could not say who and why (no tracefs, an old kernel), when it says so. */
  attributionNote?: string;
  /** The exact commands to run next. */
  nextSteps: string[];
}

/** A role's method, with Netdata's per-recipient severity modifiers (`|critical`, `|nowarn`, `|noclear`). */
export interface RouteTarget {
  method: string;
  onlyCritical: boolean;
  noWarning: boolean;
  noClear: boolean;
}

interface MethodBase {
  name: string;
  /** Per-attempt timeout, milliseconds. */
  timeoutMs: number;
  /** Where the method was defined, for messages. */
  line: number;
}

export interface ExecMethod extends MethodBase {
  type: 'exec';
  command: string;
  /** Exit codes that mean "try again later" (sysexits EX_TEMPFAIL by default); others are final. */
  retryExitCodes: number[];
}

export interface WebhookMethod extends MethodBase {
  type: 'webhook';
  url: string;
  headers: Record<string, string>;
}

export interface SlackMethod extends MethodBase {
  type: 'slack';
  url: string;
  channel?: string;
  username?: string;
}

export interface AlertmanagerMethod extends MethodBase {
  type: 'alertmanager';
  /** Base URL; alerts are POSTed to `<url>/api/v2/alerts`. */
  url: string;
  /** How often firing alerts are sent again (Prometheus resends every minute by default). */
  resendSeconds: number;
  labels: Record<string, string>;
  headers: Record<string, string>;
}

export interface EmailMethod extends MethodBase {
  type: 'email';
  host: string;
  port: number;
  /** `tls`: TLS from the first byte (465); `starttls`: must upgrade; `none`: plain; `auto`: upgrade if offered. */
  security: 'tls' | 'starttls' | 'none' | 'auto';
  from: string;
  to: string[];
  user?: string;
  passwordFile?: string;
}

export type MethodConfig = ExecMethod | WebhookMethod | SlackMethod | AlertmanagerMethod | EmailMethod;
export type MethodType = MethodConfig['type'];

export interface NotifyConfig {
  /** Hostname in messages and alarm-notify.sh $2 (default: the machine's). */
  hostname?: string;
  /** Messages sent at once, over all methods. */
  concurrency: number;
  /** First retry delay, milliseconds; doubles each attempt. */
  retryFirstMs: number;
  /** Longest retry delay, milliseconds. */
  retryMaxMs: number;
  /** A message not delivered after this long is dropped (logged), milliseconds. */
  giveUpAfterMs: number;
  /** Pending messages kept at most; beyond it new ones are dropped (logged). */
  maxPending: number;
  /** The `rstwatch` command in next steps (`sudo rstwatch` or a full path, when that is how it runs). */
  command: string;
  roles: Map<string, RouteTarget[]>;
  methods: Map<string, MethodConfig>;
  /** The file it came from, or undefined for the built-in empty configuration. */
  file?: string;
}

/** The outcome of one delivery attempt. */
export type SendResult =
  | { ok: true; detail?: string }
  /** `retry`: a transient failure (network, 5xx, timeout); false: final (4xx, bad script). */
  | { ok: false; retry: boolean; error: string };

export interface Sender {
  send(event: NotifyEvent, signal: AbortSignal): Promise<SendResult>;
  /** Periodic work (Alertmanager resends); optional. */
  close?(): Promise<void>;
}
