/**
 * A segment's flow key: the 4-tuple in canonical order (the lower (address, port) endpoint is "A"), which
 * way the segment goes, and the key's hash — computed by the flow table itself, or by the reading thread
 * before the segment is handed to the flow worker (packet-ring.ts), so that the worker does not spend its
 * time on it.
 */

/** Key words: A's address (4 words; IPv4 in the first), B's address, the ports, the direction, hash, version. */
export const K_A = 0;
export const K_B = 4;
export const K_PA = 8;
export const K_PB = 9;
/** 1 when the segment goes from A to B. */
export const K_SRC_IS_A = 10;
export const K_HASH = 11;
export const K_V = 12;
export const KEY_INTS = 13;

/** Murmur3's finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Bytes [o, o+4) as a signed 32-bit word. */
export function word32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

/**
 * Fills `key` (KEY_INTS int32 from `at`) for a segment of IP version `v` from `src`:`sp` to `dst`:`dp`
 * (addresses as 16 bytes, IPv4 in the first 4).
 */
export function flowKey(
  v: number,
  src: Uint8Array,
  dst: Uint8Array,
  sp: number,
  dp: number,
  key: Int32Array,
  at: number,
): void {
  const v6 = v === 6;
  const s0 = word32(src, 0);
  const d0 = word32(dst, 0);
  const s1 = v6 ? word32(src, 4) : 0;
  const s2 = v6 ? word32(src, 8) : 0;
  const s3 = v6 ? word32(src, 12) : 0;
  const d1 = v6 ? word32(dst, 4) : 0;
  const d2 = v6 ? word32(dst, 8) : 0;
  const d3 = v6 ? word32(dst, 12) : 0;
  // Canonical order: (address, port) of A <= B, addresses compared as unsigned words.
  let srcIsA: boolean;
  if (s0 !== d0) srcIsA = s0 >>> 0 < d0 >>> 0;
  else if (s1 !== d1) srcIsA = s1 >>> 0 < d1 >>> 0;
  else if (s2 !== d2) srcIsA = s2 >>> 0 < d2 >>> 0;
  else if (s3 !== d3) srcIsA = s3 >>> 0 < d3 >>> 0;
  else srcIsA = sp <= dp;
  const a0 = srcIsA ? s0 : d0;
  const a1 = srcIsA ? s1 : d1;
  const a2 = srcIsA ? s2 : d2;
  const a3 = srcIsA ? s3 : d3;
  const b0 = srcIsA ? d0 : s0;
  const b1 = srcIsA ? d1 : s1;
  const b2 = srcIsA ? d2 : s2;
  const b3 = srcIsA ? d3 : s3;
  const pa = srcIsA ? sp : dp;
  const pb = srcIsA ? dp : sp;
  key[at + K_A] = a0;
  key[at + K_A + 1] = a1;
  key[at + K_A + 2] = a2;
  key[at + K_A + 3] = a3;
  key[at + K_B] = b0;
  key[at + K_B + 1] = b1;
  key[at + K_B + 2] = b2;
  key[at + K_B + 3] = b3;
  key[at + K_PA] = pa;
  key[at + K_PB] = pb;
  key[at + K_SRC_IS_A] = srcIsA ? 1 : 0;
  key[at + K_V] = v6 ? 6 : 4;
  // Independent multiplies (they run in parallel), then a full avalanche: the hash only places flows in
  // the index, so any good mix will do.
  let x = a0 ^ Math.imul(b0, 0x9e3779b1) ^ Math.imul((pa << 16) | pb, 0x85ebca6b) ^ (v6 ? 6 : 4);
  if (v6)
    x ^= Math.imul(a1 ^ b3, 0xc2b2ae35) ^ Math.imul(a2 ^ b2, 0x27d4eb2f) ^ Math.imul(a3 ^ b1, 0x165667b1);
  key[at + K_HASH] = fmix(x);
}
