/**
 * pcapng through the native engine (native/engine.c js_pcapng, pcapng.ts run): runs of plain enhanced packet
 * blocks on Ethernet interfaces are read and decoded in C; anything else — other blocks, interfaces of
 * another link type or of a resolution that is not a power of ten, EPBs with a direction in their options,
 * frames the engine does not decode, blocks cut by a chunk's end — stays with TypeScript. The report must be
 * the TypeScript engine's, byte for byte, and the engine must take exactly the plain blocks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { analyzeCapture } from '../../src/analyze/analyze.js';
import { NativeFlows, nativeEngine, nativeEngineError } from '../../src/analyze/native.js';
import { readCapture, setChunkBytes } from '../../src/packet/reader.js';
import { block, bytes, epb, idb, isb, pb, shb, spb } from '../fixtures/pcap/build.js';
import { arbPackets, frame, type Pkt, times } from './analyze-streams.js';

const dir = mkdtempSync(join(tmpdir(), 'rstwatch-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => setChunkBytes(1 << 20));

let files = 0;
function file(data: Uint8Array): string {
  const path = join(dir, `c${files++}.pcapng`);
  writeFileSync(path, data);
  return path;
}

function engine(): void {
  expect(nativeEngine(), `native engine unavailable: ${nativeEngineError()}`).toBeDefined();
}

/** The reports of the TypeScript engine and of the native one on the file at `path`. */
async function reports(path: string): Promise<{ js: string; native: string }> {
  const run = async (e: 'js' | 'native') =>
    JSON.stringify(await analyzeCapture(path, { engine: e, parallel: false, name: 'x' }));
  return { js: await run('js'), native: await run('native') };
}

/** The TCP frames the engine decoded itself (js_pcap / js_pcapng), reading `path`. */
async function takenByEngine(path: string): Promise<number> {
  const flows = new NativeFlows(
    nativeEngine()!,
    { maxConnections: 10 },
    { maxTalkers: 100, maxSeconds: 100 },
  );
  await readCapture(path, () => undefined, { bulk: flows });
  const n = flows.counts().tcp;
  await flows.finish();
  return n;
}

/** An interface as the generator draws it: link type, if_tsresol (undefined: 10^-6), if_tsoffset. */
interface Iface {
  link: number;
  tsresol: number | undefined;
  tsoffset: number;
}

/** Units per second of if_tsresol (pcapng.ts): 10^-n, or 2^-n with the top bit set. */
function unitsOf(tsresol: number | undefined): number {
  if (tsresol === undefined) return 1e6;
  return tsresol & 0x80 ? 2 ** (tsresol & 0x7f) : 10 ** tsresol;
}

/** What each packet becomes: an EPB (with or without a flags option), a PB, or an SPB. */
type Kind = 'epb' | 'epb-in' | 'epb-out' | 'epb-flags0' | 'pb' | 'spb';

/**
 * A pcapng capture of `pkts`: `sections` sections in the given byte orders, each with the interfaces drawn,
 * packets dealt to the interfaces in turn (a frame for a non-Ethernet interface loses its Ethernet header:
 * LINKTYPE_RAW), an ISB and an unknown block now and then.
 */
function pcapng(pkts: Pkt[], orders: boolean[], ifaces: Iface[], kinds: Kind[]): Uint8Array {
  const ts = times(pkts);
  const parts: number[][] = [];
  const per = Math.ceil(pkts.length / orders.length);
  orders.forEach((le, s) => {
    parts.push(shb(le));
    for (const f of ifaces) parts.push(idb(le, f.link, { tsresol: f.tsresol, tsoffset: f.tsoffset }));
    for (let i = s * per; i < Math.min(pkts.length, (s + 1) * per); i++) {
      const id = i % ifaces.length;
      const f = ifaces[id]!;
      let data = frame(pkts[i]!);
      if (f.link !== 1) data = data.slice(14);
      // microseconds since 1970 → the interface's units, minus its offset (whole seconds)
      const units = unitsOf(f.tsresol);
      const v = Math.floor(((ts[i]! - f.tsoffset * 1e6) * units) / 1e6);
      const tsHi = Math.floor(v / 4294967296);
      const tsLo = v >>> 0;
      const kind = kinds[i % kinds.length]!;
      if (kind === 'pb') parts.push(pb(le, id, data, { tsHi, tsLo }));
      else if (kind === 'spb') parts.push(spb(le, data));
      else {
        const flags = kind === 'epb-in' ? 1 : kind === 'epb-out' ? 2 : kind === 'epb-flags0' ? 0 : undefined;
        parts.push(epb(le, id, data, { tsHi, tsLo, flags }));
      }
      if (i % 37 === 5) parts.push(isb(le, id, { ifRecv: i, ifDrop: 0 }));
      if (i % 53 === 7) parts.push(block(le, 0x40000bad, [1, 2, 3, 4]));
    }
  });
  return bytes(...parts);
}

const arbIface: fc.Arbitrary<Iface> = fc.record({
  link: fc.constantFrom(1, 1, 1, 101),
  tsresol: fc.constantFrom(undefined, 6, 9, 3, 0x80 | 20),
  tsoffset: fc.constantFrom(0, 0, 1000, -5),
});

describe('pcapng through the native engine', () => {
  it('gives the TypeScript engine’s report: sections, interfaces, resolutions, offsets, options, chunk ends', async () => {
    engine();
    await fc.assert(
      fc.asyncProperty(
        arbPackets(160),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
        fc.array(arbIface, { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom<Kind>('epb', 'epb', 'epb', 'epb-in', 'epb-out', 'epb-flags0', 'pb', 'spb'), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.constantFrom(64, 256, 1024, 1 << 20),
        async (pkts, orders, ifaces, kinds, chunk) => {
          setChunkBytes(chunk);
          const r = await reports(file(pcapng(pkts, orders, ifaces, kinds)));
          expect(r.native).toBe(r.js);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it('takes exactly the plain EPBs of Ethernet interfaces with a power-of-ten resolution', async () => {
    engine();
    await fc.assert(
      fc.asyncProperty(arbPackets(120), fc.boolean(), arbIface, async (pkts, le, iface) => {
        // one interface, every packet a plain EPB but every fifth with a direction (TypeScript's)
        const kinds: Kind[] = ['epb', 'epb', 'epb-flags0', 'epb', 'epb-in'];
        const path = file(pcapng(pkts, [le], [iface], kinds));
        const plain = iface.link === 1 && (iface.tsresol === undefined || iface.tsresol < 0x80);
        const expected = plain ? pkts.filter((_, i) => kinds[i % kinds.length] !== 'epb-in').length : 0;
        expect(await takenByEngine(path)).toBe(expected);
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  it('refuses an interface table that is not Float64Array rows of four (E_NATIVE), and takes nothing past its rows', async () => {
    engine();
    const flows = new NativeFlows(
      nativeEngine()!,
      { maxConnections: 10 },
      { maxTalkers: 10, maxSeconds: 10 },
    );
    const api = nativeEngine() as unknown as Record<string, (...args: unknown[]) => number>;
    const e = (flows as unknown as { engine: object }).engine;
    const pkts = fc.sample(arbPackets(20), { numRuns: 50, seed: 3 }).find((l) => l.length >= 5)!;
    const data = pcapng(pkts, [true], [{ link: 1, tsresol: undefined, tsoffset: 0 }], ['epb']);
    // The first EPB, and where the run of EPBs from it ends (at the ISB after the 6th packet, or the end).
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let first = 0;
    while (view.getUint32(first, true) !== 6) first += view.getUint32(first + 4, true);
    let run = first;
    while (run < data.length && view.getUint32(run, true) === 6) run += view.getUint32(run + 4, true);
    for (const bad of [new Float64Array(3), new Int32Array(4), [1, 1e6, 1000, 0], undefined]) {
      let thrown: unknown;
      try {
        api.pcapng!(e, data, first, data.length, 1, bad, 1 << 20, 0);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as { code?: string }).code).toBe('E_NATIVE');
    }
    // An empty table (no interface described) takes nothing; with interface 0 described, the EPBs up to the
    // first other block.
    expect(api.pcapng!(e, data, first, data.length, 1, new Float64Array(0), 1 << 20, 0)).toBe(0);
    expect(api.pcapng!(e, data, first, data.length, 1, Float64Array.of(1, 1e6, 1000, 0), 1 << 20, 0)).toBe(
      run - first,
    );
    expect(run - first).toBeGreaterThan(0);
    await flows.finish();
  });

  it('stops at a damaged block and leaves its problem to TypeScript (same report, same offset)', async () => {
    engine();
    const pkts = fc.sample(arbPackets(80), { numRuns: 50, seed: 7 }).find((l) => l.length >= 30)!;
    const good = pcapng(pkts, [true], [{ link: 1, tsresol: undefined, tsoffset: 0 }], ['epb']);
    // The 20th EPB's trailing length, then its caplen, made wrong; a block cut by the end of the file.
    const view = new DataView(good.buffer, good.byteOffset, good.byteLength);
    const epbs: number[] = [];
    for (let at = 0; at + 8 <= good.length; at += view.getUint32(at + 4, true))
      if (view.getUint32(at, true) === 6) epbs.push(at);
    const at = epbs[20]!;
    const len = view.getUint32(at + 4, true);
    const trailer = good.slice();
    new DataView(trailer.buffer).setUint32(at + len - 4, len + 4, true);
    const caplen = good.slice();
    new DataView(caplen.buffer).setUint32(at + 20, len, true);
    for (const data of [trailer, caplen, good.subarray(0, at + 20)]) {
      const r = await reports(file(data));
      expect(r.native).toBe(r.js);
      expect(JSON.parse(r.native).capture.problems.length).toBeGreaterThan(0);
    }
  });
});
