/**
 * Defaults the CLI shows in its help without loading the analyzer (cli/analyze.ts imports it lazily, after
 * the classification worker was started ahead: prestart.ts).
 */

/**
 * Default table size. A tracked flow is a ~610-byte record (flow-record.ts: 416 bytes of int32 fields, 128 of
 * doubles, 24 history letters, ~40 of index and LRU links) plus 144 bytes per RST it has seen (reset-pool.ts),
 * so 20,000 flows are ~12 MB whatever the capture (with one object per flow, round 1 of docs/benchmarks.md
 * part 7, they were ~2 KB each and this size was what kept the peak RSS under 256 MB). Finished flows leave
 * after Zeek's 5 s close delay when the table is full (not counted as evicted): on the 1 GB loopback capture
 * no flow is evicted; a synthetic SYN scan of 2 M probes evicts 1.98 M (counted and reported). Raise
 * --max-flows for captures with more live connections at once.
 */
export const DEFAULT_MAX_FLOWS = 20_000;
