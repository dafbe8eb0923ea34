/**
 * The analysis report: plain data, rendered by src/report/{json,text,html}.ts (schema: docs/analyze.md).
 */

import type { ReadProblem } from '../packet/types.js';
import type { CauseSummary, Counted } from './aggregate.js';
import type { CauseId, Confidence } from './causes.js';

export type { CauseSummary, Counted } from './aggregate.js';

export interface Finding {
  cause: CauseId;
  topic: string;
  confidence: Confidence;
  count: number;
  /** One plain-language sentence with what to do next. */
  text: string;
}

export interface ReportedReset {
  frame: number;
  time: number;
  side: 'orig' | 'resp';
  flags: 'RST' | 'RST+ACK';
  seq: number;
  expectedSeq: number;
  judgment: string;
  challengeAckFrame: number;
  cause: CauseId;
  topic: string;
  confidence: Confidence;
  evidence: string[];
}

export interface ReportedConnection {
  id: number;
  orig: string;
  resp: string;
  ipVersion: 4 | 6;
  startTime: number;
  durationSec: number;
  connState: string;
  history: string;
  origPackets: number;
  respPackets: number;
  /** Cause of the connection's first reset (each reset's own cause is in `resets`). */
  cause: CauseId;
  confidence: Confidence;
  evidence: string[];
  resets: ReportedReset[];
}

export interface AnalysisReport {
  source: string;
  capture: {
    format: string;
    variant: string;
    partial: boolean;
    bytes: number;
    problems: ReadProblem[];
    interfaces: number;
    drops: number | null;
  };
  summary: {
    packets: number;
    tcpSegments: number;
    decodeSkips: Record<string, number>;
    firstTime: number | null;
    lastTime: number | null;
    durationSec: number;
    connections: number;
    connectionsWithResets: number;
    flowsEvicted: number;
    rsts: number;
    rstIpv4: number;
    rstIpv6: number;
    rstAck: number;
    rstBare: number;
    rstInbound: number;
    rstOutbound: number;
    rstDirectionUnknown: number;
    /** RSTs sent by the connection's originator (client) and by its responder (server). */
    rstFromOrig: number;
    rstFromResp: number;
    /**
     * Connections with resets classified before the end of the capture to bound memory (0 unless more than
     * maxConnections + maxHeldConnections had resets): their cause used the scan/flood/backscatter context
     * known at that point, which may still have grown (e.g. the first attempts of a scan counted as refused).
     */
    classifiedEarly: number;
    /**
     * Top lists, findings or the scan/flood/backscatter context dropped their smallest keys to stay bounded:
     * counts below the top are partial.
     */
    topApproximate: boolean;
  };
  causes: CauseSummary[];
  /** `pairs`: who sent RSTs to whom, keyed "sender → receiver" (addresses). */
  top: { senders: Counted[]; receivers: Counted[]; ports: Counted[]; pairs: Counted[] };
  timeline: { startSec: number; bucketSec: number; counts: number[] };
  findings: Finding[];
  connections: ReportedConnection[];
  connectionsOmitted: number;
}
