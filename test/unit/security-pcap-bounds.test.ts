/**
 * Hostile captures and resource exhaustion (docs/security.md, "Reading captures"): crashes are the fuzzer's
 * (test/fuzz); here, the memory a small file can make the reader hold. A pcapng interface description is 20
 * bytes and each one is kept for the whole read, so a megabyte of gzip used to expand to 20 million of them
 * (3 GB of memory, measured). Now the reader stops after MAX_INTERFACES with E_CAPTURE_INTERFACE; a 64 KiB
 * interface name is cut to MAX_IFACE_NAME_BYTES; a snap length beyond libpcap's maximum is clamped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_IFACE_NAME_BYTES, MAX_INTERFACES } from '../../src/packet/parser.js';
import { readCapture } from '../../src/packet/reader.js';

const tmp = mkdtempSync(join(tmpdir(), 'rw-sec-pcap-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function shb(): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32LE(0x0a0d0d0a, 0);
  b.writeUInt32LE(28, 4);
  b.writeUInt32LE(0x1a2b3c4d, 8);
  b.writeUInt16LE(1, 12);
  b.writeBigInt64LE(-1n, 16);
  b.writeUInt32LE(28, 24);
  return b;
}

/** An interface description block, optionally with an if_name option of `nameBytes` bytes. */
function idb(nameBytes = 0): Buffer {
  const opt = nameBytes > 0 ? 4 + ((nameBytes + 3) & ~3) + 4 : 0; // if_name, then opt_endofopt
  const len = 20 + opt;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(len, 4);
  b.writeUInt16LE(1, 8); // Ethernet
  b.writeUInt32LE(262144, 12);
  if (nameBytes > 0) {
    b.writeUInt16LE(2, 16);
    b.writeUInt16LE(nameBytes, 18);
    b.fill(0x61, 20, 20 + nameBytes);
  }
  b.writeUInt32LE(len, len - 4);
  return b;
}

describe('pcapng interface descriptions are bounded', () => {
  it('a 1 MB gzip of a million IDBs stops at the limit, quickly, with E_CAPTURE_INTERFACE', async () => {
    const n = 1_000_000;
    const one = idb();
    const body = Buffer.alloc(n * one.length);
    for (let i = 0; i < n; i++) one.copy(body, i * one.length);
    const file = join(tmp, 'idb-bomb.pcapng.gz');
    writeFileSync(file, gzipSync(Buffer.concat([shb(), body]), { level: 9 }));
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const s = await readCapture(file, () => undefined);
    const ms = performance.now() - t0;
    expect(s.interfaces.length).toBe(MAX_INTERFACES);
    expect(s.partial).toBe(true);
    const p = s.problems.find((x) => x.code === 'E_CAPTURE_INTERFACE');
    expect(p?.message).toMatch(/more than 65536 interface descriptions/);
    expect(p?.offset).toBe(28 + MAX_INTERFACES * 20);
    // Before the bound: ~6 s and ~250 MB for this file; now it stops a sixteenth of the way in.
    expect(ms).toBeLessThan(3000);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  });

  it('a 64 KiB interface name keeps its first 256 bytes', async () => {
    const file = join(tmp, 'long-name.pcapng');
    writeFileSync(file, Buffer.concat([shb(), idb(60_000)]));
    const s = await readCapture(file, () => undefined);
    expect(s.problems).toEqual([]);
    expect(s.interfaces[0]?.name).toBe('a'.repeat(MAX_IFACE_NAME_BYTES));
  });
});

describe('classic pcap headers cannot ask for more than libpcap would', () => {
  it('a snap length of 4 GiB is clamped to 256 KiB per packet; a record claiming more is an error', async () => {
    const hdr = Buffer.alloc(24);
    hdr.writeUInt32LE(0xa1b2c3d4, 0);
    hdr.writeUInt16LE(2, 4);
    hdr.writeUInt16LE(4, 6);
    hdr.writeUInt32LE(0xffffffff, 16);
    hdr.writeUInt32LE(1, 20);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(0x7fffffff, 8); // caplen 2 GiB
    rec.writeUInt32LE(0x7fffffff, 12);
    const file = join(tmp, 'huge-caplen.pcap');
    writeFileSync(file, Buffer.concat([hdr, rec, Buffer.alloc(64)]));
    const s = await readCapture(file, () => undefined);
    expect(s.partial).toBe(true);
    expect(s.problems[0]?.code).toBe('E_CAPTURE_CAPLEN');
  });
});
