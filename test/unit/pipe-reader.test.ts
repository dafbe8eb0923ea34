/**
 * The pipe reader (src/packet/pipe-reader.ts, its thread pipe-worker.ts): a FIFO read by a thread of its own
 * into a ring of shared memory. The thread exists only in the compiled build, so this file imports dist/
 * (`npm test` builds first) and fails when dist/ is missing or older than the sources.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PacketRecord } from '../../src/packet/types.js';
import { ether, ipv4, pcap, tcp } from '../fixtures/pcap/build.js';

type PipeModule = typeof import('../../src/packet/pipe-reader.js');
type ReaderModule = typeof import('../../src/packet/reader.js');

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let pipeChunks: PipeModule['pipeChunks'];
let readCapture: ReaderModule['readCapture'];

beforeAll(async () => {
  const built = statSync(join(ROOT, 'dist/packet/pipe-worker.js')).mtimeMs;
  for (const f of readdirSync(join(ROOT, 'src/packet')))
    if (statSync(join(ROOT, 'src/packet', f)).mtimeMs > built)
      throw new Error(`dist/ is older than src/packet/${f}: run \`npm run build\` before this test`);
  pipeChunks = ((await import(join(ROOT, 'dist/packet/pipe-reader.js'))) as PipeModule).pipeChunks;
  readCapture = ((await import(join(ROOT, 'dist/packet/reader.js'))) as ReaderModule).readCapture;
});

const dir = mkdtempSync(join(tmpdir(), 'rw-pipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A FIFO and a writer that writes `parts` (`pause` ms between two) then closes, once a reader opens it. */
function fifoWriter(parts: Uint8Array[], pause = 0) {
  const path = join(dir, `fifo${n++}`);
  execFileSync('mkfifo', [path]);
  const writer = (async () => {
    const fh = await open(path, 'w');
    for (let i = 0; i < parts.length; i++) {
      if (i > 0 && pause > 0) await new Promise((r) => setTimeout(r, pause));
      await fh.write(parts[i]!);
    }
    await fh.close();
  })();
  return { path, writer };
}

/** The same, with its read end open here. */
async function fifo(parts: Uint8Array[], pause = 0) {
  const { path, writer } = fifoWriter(parts, pause);
  const reader = await open(path, 'r');
  return { path, reader, writer };
}

/** Deterministic bytes. */
function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 255;
  }
  return b;
}

describe('pipe reader (compiled build)', () => {
  it('hands over every byte in order, across the end of a small ring, in uneven pieces', async () => {
    const data = bytes(3_000_001, 7);
    const parts: Uint8Array[] = [];
    for (let i = 0, k = 0; i < data.length; k++) {
      const len = [1, 4093, 65_536, 100_003, 7][k % 5]!;
      parts.push(data.subarray(i, i + len));
      i += len;
    }
    const { reader, writer } = await fifo(parts);
    const got = new Uint8Array(data.length);
    let at = 0;
    let pieces = 0;
    const p = pipeChunks(reader.fd, undefined, 65_536);
    expect(p).toBeDefined();
    for await (const c of p!.chunks) {
      expect(c.length).toBeLessThanOrEqual(65_536);
      got.set(c, at);
      at += c.length;
      pieces++;
    }
    await writer;
    await p!.ended;
    await reader.close();
    expect(at).toBe(data.length);
    expect(Buffer.compare(got, data)).toBe(0);
    expect(pieces).toBeGreaterThan(3_000_001 / 65_536); // the 64 KiB ring went round ~46 times
  });

  it('a non-blocking read end (EAGAIN while the pipe is empty): waits for the data, loses none', async () => {
    const data = bytes(600_000, 11);
    const path = join(dir, `fifo${n++}`);
    execFileSync('mkfifo', [path]);
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = await open(path, 'w');
    const writer = (async () => {
      for (let i = 0; i < data.length; i += 150_000) {
        await w.write(data.subarray(i, i + 150_000));
        await new Promise((r) => setTimeout(r, 40));
      }
      await w.close();
    })();
    const p = pipeChunks(fd)!;
    const got: number[] = [];
    for await (const c of p.chunks) for (const b of c) got.push(b);
    await writer;
    await p.ended;
    closeSync(fd);
    expect(got.length).toBe(data.length);
    expect(Buffer.compare(Buffer.from(got), data)).toBe(0);
  });

  it('a read error ends the chunks with that error', async () => {
    // A descriptor that is not open: the first read fails (EBADF).
    const p = pipeChunks(987_654)!;
    await expect(p.chunks.next()).rejects.toThrow(/EBADF|bad file descriptor/i);
    await p.ended;
  });

  it('an abort ends the chunks at once, even while the thread waits in a read', async () => {
    const { reader, writer } = await fifo([bytes(1000, 3), new Uint8Array(0)], 2000);
    const controller = new AbortController();
    const p = pipeChunks(reader.fd, controller.signal)!;
    const first = await p.chunks.next();
    expect(first.value?.length).toBe(1000);
    const t0 = Date.now();
    setTimeout(() => controller.abort(), 100);
    expect((await p.chunks.next()).done).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500); // not after the writer's 2-s pause
    await writer;
    await p.ended;
    await reader.close();
  });

  it('readCapture over a FIFO: the same records as the file, plain and gzip', async () => {
    const recs = [];
    for (let i = 0; i < 20_000; i++)
      recs.push({
        data: ether(
          0x0800,
          ipv4(tcp({ flags: i % 7 ? 0x10 : 0x04, payload: new Array(i % 300).fill(i & 255) })),
        ),
      });
    const plain = pcap(recs);
    const read = async (src: string) => {
      const seen: Omit<PacketRecord, 'data' | 'buf' | 'dataOffset'>[] = [];
      let sum = 0;
      const s = await readCapture(src, (r) => {
        const { data, buf: _b, dataOffset: _o, ...rest } = r;
        seen.push(rest);
        for (let i = 0; i < data.length; i += 97) sum = (sum + data[i]!) | 0;
      });
      return { s, seen, sum };
    };
    const file = join(dir, 'plain.pcap');
    await (await open(file, 'w')).writeFile(plain);
    const want = await read(file);
    expect(want.s.packets).toBe(20_000);
    for (const body of [plain, gzipSync(plain)]) {
      const parts = [];
      for (let i = 0; i < body.length; i += 77_777) parts.push(body.subarray(i, i + 77_777));
      const { path, writer } = fifoWriter(parts); // readCapture opens the FIFO by its path
      const got = await read(path);
      await writer;
      expect(got).toEqual(want);
    }
  });
});
