/**
 * The live view of a running capture: read tcpdump's growing file with our own reader and count what is in it.
 *
 * Why read the file rather than tcpdump's output: with -w tcpdump prints nothing per packet, and asking it
 * to also print (`--print`) makes it dissect every packet — the part of tcpdump with the most security
 * advisories — and doubles the work during an RST storm; a second tcpdump reading the interface would
 * double the capture cost and the privileges used. tcpdump -U flushes each packet whole, so the file is a
 * valid capture at any moment; our streaming reader (src/packet, zero allocation per packet) tails it for
 * the cost of one read per poll, and the counts shown are exactly what is in the file.
 */

import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatIpv4, formatIpv6, word } from '../analyze/addr.js';
import { decodeFrame } from '../packet/decode.js';
import { readCapture } from '../packet/reader.js';
import { newDecodedTcp, TCP } from '../packet/types.js';

/** Distinct sources remembered for the top list; later new ones are counted under "other". */
const MAX_SOURCES = 4096;

export interface LiveCounts {
  /** Records in the file so far. */
  packets: number;
  /** Of those, TCP segments with RST set (all of them, unless the filter was widened by hand). */
  rsts: number;
  /** Bytes of the file read so far. */
  bytes: number;
  /** RSTs per sending address. */
  sources: Map<string, number>;
  /** RSTs from sources beyond MAX_SOURCES. */
  otherSources: number;
}

export function topSources(c: LiveCounts, n: number): { key: string; count: number }[] {
  return [...c.sources]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([key, count]) => ({ key, count }));
}

/**
 * Bytes of a file that another process is still writing, as an async iterable: read what is there, wait
 * `pollMs`, read again; after `stop()` read to the end once more and finish. `onBytes` sees the total read.
 */
export class FileFollower {
  private stopped = false;
  private wake: (() => void) | undefined;
  bytes = 0;

  constructor(
    private readonly path: string,
    private readonly pollMs = 200,
  ) {}

  /** Finish after reading what the file holds now (call once the writer has exited). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async pause(): Promise<void> {
    if (this.stopped) return;
    const ac = new AbortController();
    this.wake = () => ac.abort();
    await sleep(this.pollMs, undefined, { signal: ac.signal }).catch(() => undefined);
    this.wake = undefined;
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    // The file appears when tcpdump has opened the interface.
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    while (fh === undefined) {
      try {
        fh = await open(this.path, 'r');
      } catch {
        if (this.stopped) return;
        await this.pause();
      }
    }
    const buf = new Uint8Array(1 << 20);
    try {
      for (;;) {
        const wasStopped = this.stopped;
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.bytes);
        if (bytesRead > 0) {
          this.bytes += bytesRead;
          // The reader keeps only what it needs across chunks, so a copy is safe to hand out.
          yield buf.slice(0, bytesRead);
          continue;
        }
        if (wasStopped) return;
        await this.pause();
      }
    } finally {
      await fh.close();
    }
  }
}

/** Count packets, RSTs and RST sources of a growing capture until the follower stops. */
export async function followCapture(follower: FileFollower, counts: LiveCounts): Promise<void> {
  const pkt = newDecodedTcp();
  await readCapture(Readable.from(follower.chunks(), { objectMode: false }), (rec) => {
    counts.packets++;
    counts.bytes = follower.bytes;
    if (decodeFrame(rec.linkType, rec.data, pkt) !== undefined) return;
    if ((pkt.flags & TCP.RST) === 0) return;
    counts.rsts++;
    const src =
      pkt.ipVersion === 6
        ? formatIpv6(word(pkt.src, 0), word(pkt.src, 4), word(pkt.src, 8), word(pkt.src, 12))
        : formatIpv4(word(pkt.src, 0));
    const seen = counts.sources.get(src);
    if (seen !== undefined) counts.sources.set(src, seen + 1);
    else if (counts.sources.size < MAX_SOURCES) counts.sources.set(src, 1);
    else counts.otherSources++;
  });
  counts.bytes = follower.bytes;
}

export function newLiveCounts(): LiveCounts {
  return { packets: 0, rsts: 0, bytes: 0, sources: new Map(), otherSources: 0 };
}
