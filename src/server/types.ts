/**
 * What the HTTP server reads from the agent, and the agreed interfaces of the areas built in parallel
 * (attribution, captures), mirrored structurally so the server compiles and is tested before they land:
 * any object with these members fits, the real `RunningAgent` included.
 */

import type { SamplerStats } from '../agent/sampler.js';
import type { HealthEngine } from '../health/scheduler.js';
import type { Os } from '../model/charts.js';
import type { HistoryDb } from '../store/history-db.js';
import type { Store } from '../store/store.js';
import type { CounterTap } from './counter-tap.js';

export type RstDirection = 'sent' | 'received';

/** The agreed attribution interface (src/attribute/types.ts), the part the server reads. */
export interface TopEntry {
  key: string;
  count: number;
  process?: { name: string; pid: number };
}
export interface AttributionQuery {
  nowSec: number;
  windowSeconds: number;
  direction?: RstDirection;
  netns?: string;
  limit?: number;
  /** Only these lists are computed (src/attribute/types.ts). */
  only?: readonly ('peers' | 'localPorts' | 'remotePorts' | 'reasons' | 'states' | 'tuples')[];
}
export interface AttributionTop {
  windowSeconds: number;
  total: number;
  other: number;
  peers: TopEntry[];
  localPorts: TopEntry[];
  remotePorts: TopEntry[];
  reasons: TopEntry[];
  states: TopEntry[];
}
export interface AttributionStatus {
  enabled: boolean;
  layout: 'sockaddr-reason' | 'legacy-ports' | null;
  reason?: string;
  events: number;
  lost: number;
}
export interface AttributionView {
  status(): AttributionStatus;
  top(q: AttributionQuery): AttributionTop;
}

/** The agreed capture interface (src/capture/), the part the server uses. */
export interface CaptureRequest {
  iface?: string;
  durationSeconds?: number;
  maxPackets?: number;
  maxBytes?: number;
  filter?: string;
  format?: 'pcap' | 'pcapng';
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
  request: CaptureRequest;
}
export interface CaptureView {
  start(req: CaptureRequest): CaptureInfo;
  list(): CaptureInfo[];
  get(id: string): CaptureInfo | undefined;
  report(id: string): Promise<unknown>;
  stop(id: string): void;
}

/** The agent as the server sees it: read-only use of its parts (architecture: the server only reads). */
export interface ServerAgent {
  store: Store;
  health: HealthEngine;
  sampler: { readonly stats: SamplerStats; uptimeSeconds(): number };
  db: HistoryDb | undefined;
  collectors: readonly { readonly netns: string; describe(): string }[];
  /** Latest raw kernel counters per namespace (every Tcp/TcpExt counter, for /metrics and doctor). */
  counters?: CounterTap;
  attribution?: AttributionView;
  captures?: CaptureView;
  os?: Os;
  /**
   * Run after every sample (and its alert iteration). The server's per-second work (event stream, the
   * attributed-reset counter) rides on it instead of a timer of its own: one wake-up a second fewer, and
   * the stream sends a sample as soon as it exists.
   */
  afterTick?: Set<() => void>;
}
