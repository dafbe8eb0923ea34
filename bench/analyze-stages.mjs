#!/usr/bin/env node
// The first stages of `rstwatch analyze` alone, for part 7 of the bench (bench/analyze-cost.mjs): where the
// time of an analysis goes, measured in the same run as tcpdump, tshark and the full analysis.
//
//   node bench/analyze-stages.mjs read FILE   rstwatch's capture reader: every record framed and handed to a
//                                             callback that does nothing (src/packet/reader.ts)
//   node bench/analyze-stages.mjs rsts FILE   the reader and the decoder on every frame, counting the TCP
//                                             segments with RST (IPv4 and IPv6): the job tcpdump's RST filter
//                                             does, done by rstwatch's own code (src/packet/decode.ts)
//
// Prints one JSON line: { packets, tcp, rsts }. Needs the build (dist/). Neither stage tracks connections:
// the difference between `rsts` and the full analysis is the flow table (Zeek's state machine on every
// segment), the classification of the resets and the hand-over between the two threads.

import { decodeFrameAt } from '../dist/packet/decode.js';
import { readCapture } from '../dist/packet/reader.js';
import { newDecodedTcp, TCP } from '../dist/packet/types.js';

const [mode, file] = process.argv.slice(2);
if ((mode !== 'read' && mode !== 'rsts') || file === undefined) {
  process.stderr.write('usage: node bench/analyze-stages.mjs read|rsts FILE\n');
  process.exit(2);
}

const pkt = newDecodedTcp();
// Counters in an object: a number in a closure variable updated per packet would be boxed each time.
const n = { packets: 0, tcp: 0, rsts: 0 };
const onPacket =
  mode === 'read'
    ? () => {
        n.packets++;
      }
    : (rec) => {
        n.packets++;
        const skip = decodeFrameAt(rec.linkType, rec.buf, rec.dataOffset, rec.dataOffset + rec.caplen, pkt);
        if (skip !== undefined) return;
        n.tcp++;
        if ((pkt.flags & TCP.RST) !== 0) n.rsts++;
      };
const summary = await readCapture(file, onPacket, {});
if (summary.problems.some((p) => p.severity === 'error')) {
  process.stderr.write(`${file}: ${summary.problems.map((p) => `${p.code}: ${p.message}`).join('; ')}\n`);
  process.exit(3);
}
process.stdout.write(`${JSON.stringify(n)}\n`);
