/** Keeping tcpdump's file valid (cut to the last whole record) and the pcap → pcapng conversion. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pcapToPcapng, repairPcap, scanPcap } from '../../src/capture/pcapfile.js';
import { readCapture } from '../../src/packet/reader.js';
import { requireCapability } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'rw-cappcap-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A pcap of `n` records of growing sizes (60 + i bytes), ts = 1_800_000_000 + i s and i µs/ns. */
function pcap(n: number, o: { bigEndian?: boolean; nanos?: boolean; linkType?: number } = {}): Buffer {
  const le = !o.bigEndian;
  const w32 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  const w16 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const h = Buffer.alloc(24);
  w32(h, o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(h, 2, 4);
  w16(h, 4, 6);
  w32(h, 262144, 16);
  w32(h, o.linkType ?? 1, 20);
  const parts = [h];
  for (let i = 0; i < n; i++) {
    const data = Buffer.alloc(60 + i, i & 0xff);
    const r = Buffer.alloc(16);
    w32(r, 1_800_000_000 + i, 0);
    w32(r, o.nanos ? 123_456_789 + i : 654_321 + i, 4);
    w32(r, data.length, 8);
    w32(r, data.length + 4, 12);
    parts.push(r, data);
  }
  return Buffer.concat(parts);
}
const sizeOf = (n: number) =>
  24 + Array.from({ length: n }, (_, i) => 16 + 60 + i).reduce((a, b) => a + b, 0);

describe('repairPcap', () => {
  it('leaves a whole file alone', async () => {
    const f = join(tmp, 'whole.pcap');
    writeFileSync(f, pcap(5));
    const r = await repairPcap(f);
    expect(r).toMatchObject({ records: 5, validBytes: sizeOf(5), cutBytes: 0 });
    expect(statSync(f).size).toBe(sizeOf(5));
  });

  it.each([
    ['inside a record header', 7],
    ['inside record data', 16 + 20],
    ['one byte short of the record end', 16 + 60 + 5 - 1],
  ])('cuts a record torn %s (a full disk, a killed tcpdump)', async (_what, extra) => {
    const f = join(tmp, `torn-${extra}.pcap`);
    writeFileSync(f, pcap(6).subarray(0, sizeOf(5) + extra));
    const r = await repairPcap(f);
    expect(r).toMatchObject({ records: 5, validBytes: sizeOf(5), cutBytes: extra });
    expect(statSync(f).size).toBe(sizeOf(5));
    const s = await readCapture(f, () => undefined);
    expect(s.problems).toEqual([]);
    expect(s.packets).toBe(5);
  });

  it('cuts to the last whole record within a byte limit (--max-bytes is never exceeded)', async () => {
    const f = join(tmp, 'limit.pcap');
    writeFileSync(f, pcap(50));
    const r = await repairPcap(f, sizeOf(20) + 30);
    expect(r.records).toBe(20);
    expect(statSync(f).size).toBe(sizeOf(20));
    expect(statSync(f).size).toBeLessThanOrEqual(sizeOf(20) + 30);
  });

  it('reads big-endian and nanosecond files', async () => {
    const f = join(tmp, 'be.pcap');
    writeFileSync(f, pcap(4, { bigEndian: true, nanos: true }).subarray(0, sizeOf(3) + 10));
    const r = await repairPcap(f);
    expect(r.header).toEqual({ littleEndian: false, nanoseconds: true, snaplen: 262144, linkType: 1 });
    expect(r.records).toBe(3);
  });

  it('leaves a file that is not a pcap alone (the caller reports it)', async () => {
    const f = join(tmp, 'junk.pcap');
    writeFileSync(f, Buffer.from('this is not a capture file at all, not at all'));
    const r = await repairPcap(f);
    expect(r.header).toBeUndefined();
    expect(statSync(f).size).toBe(45);
  });

  it('a header-only file is valid with 0 records', async () => {
    const f = join(tmp, 'empty.pcap');
    writeFileSync(f, pcap(0));
    expect(await scanPcap(f)).toMatchObject({ records: 0, validBytes: 24, fileBytes: 24 });
  });

  it('walks records across its 1 MiB read chunks', async () => {
    const f = join(tmp, 'big.pcap');
    const n = 9000; // ≈ 5 MB: records cut by several chunk boundaries
    writeFileSync(f, pcap(n).subarray(0, sizeOf(n) - 3));
    const r = await repairPcap(f);
    expect(r.records).toBe(n - 1);
    expect(statSync(f).size).toBe(sizeOf(n - 1));
  });
});

describe('pcapToPcapng', () => {
  it.each([
    ['microseconds, little-endian', {}],
    ['nanoseconds, big-endian, Linux cooked v2', { nanos: true, bigEndian: true, linkType: 276 }],
  ])('keeps every record, its bytes, lengths and exact timestamp (%s)', async (_what, o) => {
    const src = join(tmp, 'src.pcap');
    const out = join(tmp, 'out.pcapng');
    writeFileSync(src, pcap(300, o));
    const before: string[] = [];
    await readCapture(src, (p) =>
      before.push(
        `${p.tsSec}.${p.tsNsec} ${p.caplen}/${p.origLen} ${p.linkType} ${Buffer.from(p.data).toString('hex')}`,
      ),
    );
    expect(await pcapToPcapng(src, out, 'eth0')).toBe(300);
    const after: string[] = [];
    const s = await readCapture(out, (p) =>
      after.push(
        `${p.tsSec}.${p.tsNsec} ${p.caplen}/${p.origLen} ${p.linkType} ${Buffer.from(p.data).toString('hex')}`,
      ),
    );
    expect(s.format).toBe('pcapng');
    expect(s.problems).toEqual([]);
    expect(s.interfaces[0]?.name).toBe('eth0');
    expect(after).toEqual(before);
    expect(readFileSync(out).readUInt32LE(0)).toBe(0x0a0d0d0a);
  });

  const tshark = spawnSync('tshark', ['--version']).status === 0;
  requireCapability(tshark, 'tshark');
  it.skipIf(!tshark)('tshark reads the pcapng with the same packets and times as the pcap', async () => {
    const src = join(tmp, 'ts.pcap');
    const out = join(tmp, 'ts.pcapng');
    writeFileSync(src, pcap(20, { nanos: true }));
    await pcapToPcapng(src, out, 'any');
    const fields = (f: string) =>
      spawnSync(
        'tshark',
        ['-r', f, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len'],
        {
          encoding: 'utf8',
        },
      ).stdout;
    const a = fields(src);
    expect(a.split('\n').filter(Boolean)).toHaveLength(20);
    expect(fields(out)).toBe(a);
  });

  it('an empty capture converts to a valid pcapng with its interface', async () => {
    const src = join(tmp, 'e.pcap');
    const out = join(tmp, 'e.pcapng');
    writeFileSync(src, pcap(0));
    expect(await pcapToPcapng(src, out, 'lo')).toBe(0);
    const s = await readCapture(out, () => undefined);
    expect(s).toMatchObject({ format: 'pcapng', packets: 0, problems: [] });
    expect(s.interfaces).toHaveLength(1);
  });

  it('refuses a source that is not a pcap and leaves no output behind', async () => {
    const src = join(tmp, 'notpcap');
    const out = join(tmp, 'never.pcapng');
    writeFileSync(src, 'nope');
    await expect(pcapToPcapng(src, out, 'lo')).rejects.toThrow(/not a classic pcap/);
    expect(() => statSync(out)).toThrow();
    expect(() => statSync(`${out}.tmp`)).toThrow();
  });
});
