/**
 * Reset attribution: the interfaces agreed between areas (the server, the dashboard and notifications read
 * them) and the one decoded event every layer below passes up.
 */

export type RstDirection = 'sent' | 'received';

export interface TopEntry {
  key: string;
  count: number;
  /** The process listening on a local port (agent's own network namespace only; see docs/attribution.md). */
  process?: { name: string; pid: number };
}

export interface AttributionQuery {
  nowSec: number;
  windowSeconds: number;
  direction?: RstDirection;
  /**
   * Accepted for the API's sake. Tracepoints are global and the old layout carries no namespace, so the
   * answer always covers every namespace of the host; `AttributionTop.scope` says so.
   */
  netns?: string;
  limit?: number;
  /**
   * Only these lists are worth computing (the others come back empty); all when absent. The per-second
   * reason counter of /metrics asks for `reasons` alone: no peer or tuple sums, and no walk of the
   * processes' open files to name the listener on a local port (issue 2/5: the agent's idle cost).
   */
  only?: readonly TopDimension[];
}

export type TopDimension = 'peers' | 'localPorts' | 'remotePorts' | 'reasons' | 'states' | 'tuples';

export interface AttributionTop {
  windowSeconds: number;
  /** Events seen in the window. */
  total: number;
  /** Events folded into the "other" bucket of the peers dimension by the per-second top-K bound. */
  other: number;
  peers: TopEntry[];
  localPorts: TopEntry[];
  remotePorts: TopEntry[];
  reasons: TopEntry[];
  states: TopEntry[];
  /**
   * Whole tuples `direction family local>remote:port reason state` (key) — what the e2e tests and
   * `rstwatch alerts --log` use to name a flow; optional, beyond the agreed fields.
   */
  tuples?: TopEntry[];
  /** Which namespaces the numbers cover (always "all": see `AttributionQuery.netns`). */
  scope?: 'all-namespaces';
}

export interface AttributionStatus {
  enabled: boolean;
  layout: 'sockaddr-reason' | 'legacy-ports' | null;
  /** Why not enabled / what it cannot see, one sentence. */
  reason?: string;
  events: number;
  lost: number;
}

export interface Attribution {
  status(): AttributionStatus;
  top(q: AttributionQuery): AttributionTop;
  close(): Promise<void>;
  /** Let a periodic caller drive idle polls (the agent's sample); then call pulse() every period. */
  pulsedBy?(periodMs: number): void;
  pulse?(): void;
}

export type Family = 'ipv4' | 'ipv6' | 'unknown';

/**
 * One reset, as decoded from a tracepoint record. "Local" is this host's side: the RST's sender for `sent`,
 * the socket that accepted it for `received`.
 */
export interface RstEvent {
  direction: RstDirection;
  family: Family;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  /** `sk_rst_reason` name (≥ 6.10 `tcp_send_reset`), or NOT_REPORTED when the event has no reason field. */
  reason: string;
  /** TCP state name as the event reports it (UNKNOWN for no socket), or NOT_REPORTED when it has none. */
  state: string;
}

/** Placeholder for dimensions the event layout does not carry. */
export const NOT_REPORTED = 'NOT_REPORTED';
