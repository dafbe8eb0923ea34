/**
 * Address text for reports: dotted quad for IPv4, RFC 5952 compressed form for IPv6.
 * Called once per connection when it is reported, never per packet.
 */

/** Formats an IPv4 address from its 32-bit value. */
export function formatIpv4(word: number): string {
  return `${(word >>> 24) & 255}.${(word >>> 16) & 255}.${(word >>> 8) & 255}.${word & 255}`;
}

/**
 * Formats an IPv6 address given as four 32-bit words (network order), RFC 5952: lower-case hex, no leading
 * zeros, the longest run (≥ 2) of zero groups replaced by "::" (the first on a tie).
 *
 * @example formatIpv6(0x20010db8, 0, 0, 1) // "2001:db8::1"
 */
export function formatIpv6(w0: number, w1: number, w2: number, w3: number): string {
  const groups = [
    w0 >>> 16,
    w0 & 0xffff,
    w1 >>> 16,
    w1 & 0xffff,
    w2 >>> 16,
    w2 & 0xffff,
    w3 >>> 16,
    w3 & 0xffff,
  ];
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number | undefined) => (g ?? 0).toString(16);
  if (bestLen < 2) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${head}::${tail}`;
}

/** Reads bytes [off, off+4) of a 16-byte address as an unsigned 32-bit number. */
export function word(bytes: Uint8Array, off: number): number {
  return ((bytes[off]! << 24) | (bytes[off + 1]! << 16) | (bytes[off + 2]! << 8) | bytes[off + 3]!) >>> 0;
}
