/**
 * The capture area's contract with the agent's API (agreed between areas, see docs/architecture.md): a
 * bounded RST capture is requested, runs one at a time, and is listed, fetched, analysed and stopped by id.
 */

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

export interface CaptureManager {
  /** Throws RstwatchError E_CAPTURE_BUSY when a capture runs, or a usage code for a bad request. */
  start(req: CaptureRequest): CaptureInfo;
  list(): CaptureInfo[];
  get(id: string): CaptureInfo | undefined;
  /** The analysis report (`rstwatch analyze --json` schema), cached as JSON next to the capture. */
  report(id: string): Promise<unknown>;
  stop(id: string): void;
  close(): Promise<void>;
}

/** Why a capture ended. */
export type StopReason = 'duration' | 'packets' | 'bytes' | 'interrupted' | 'disk-full' | 'tcpdump-exited';
