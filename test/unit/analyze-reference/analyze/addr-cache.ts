/**
 * Address words → text, remembered in a small direct-mapped cache: counting RSTs by sender and receiver, and
 * naming the endpoints of every connection leaving the flow table, format an address only when it was not
 * among the recently seen ones (formatting was ~10 % of the allocations on a 1 GB capture).
 */

import { formatIpv4, formatIpv6 } from './addr.js';

const NAME_SLOTS = 4096;

/** Address words (IPv4 in w0, unsigned or signed 32-bit) → text; a direct-mapped cache of NAME_SLOTS entries. */
export class AddressNames {
  private readonly words = new Int32Array(NAME_SLOTS * 5);
  private readonly names: (string | undefined)[] = new Array<string | undefined>(NAME_SLOTS).fill(undefined);

  name(v: number, w0: number, w1: number, w2: number, w3: number): string {
    let h = Math.imul(w0 ^ v, 0x9e3779b1) ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ w3;
    h ^= h >>> 15;
    const slot = h & (NAME_SLOTS - 1);
    const at = slot * 5;
    const words = this.words;
    const cached = this.names[slot];
    if (
      cached !== undefined &&
      words[at] === v &&
      words[at + 1] === (w0 | 0) &&
      words[at + 2] === (w1 | 0) &&
      words[at + 3] === (w2 | 0) &&
      words[at + 4] === (w3 | 0)
    )
      return cached;
    const text = v === 6 ? formatIpv6(w0, w1, w2, w3) : formatIpv4(w0);
    words[at] = v;
    words[at + 1] = w0;
    words[at + 2] = w1;
    words[at + 3] = w2;
    words[at + 4] = w3;
    this.names[slot] = text;
    return text;
  }
}
