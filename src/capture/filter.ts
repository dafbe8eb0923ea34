/**
 * The BPF filter of `rstwatch capture`: every TCP segment with RST set, over IPv4 and IPv6, untagged and
 * behind one or two VLAN tags — with the SYNs that opened connections, unless `--rst-only` — optionally
 * narrowed by the user's own expression.
 *
 * Why not tcpdump's `tcp[tcpflags] & tcp-rst != 0`: in libpcap 1.10 `tcp[]` only matches IPv4 (field guide
 * §2.3: `ip6 and tcp[…]` compiles to "expression rejects all packets"), so IPv6 is tested by hand on the fixed
 * header: next header 6 at `ip6[6]`, TCP flags at 40 + 13 = `ip6[53]` (RFC 8200 §3; RFC 9293 §3.1). That does
 * not see an IPv6 RST behind extension headers (documented in docs/capture.md).
 *
 * VLAN: libpcap's `vlan` keyword moves every later offset of the expression past the 4-byte tag, whatever
 * branch it is in (pcap-filter(7)). So the untagged test comes first, the tagged one after `vlan`, the
 * double-tagged (QinQ) one after a second `vlan`, and the user's expression is repeated inside each branch so
 * that it is read at the offsets of that branch. Cooked captures (`-i any`, LINUX_SLL/SLL2) have no VLAN
 * support in libpcap ("no VLAN support for Linux cooked v2"): the kernel hands them the frame with the tag
 * already removed, so the untagged test sees those packets.
 */

import { RstwatchError } from '../internal/errors.js';

/** RST over IPv4 (`tcp[]` handles the IHL and skips non-first fragments) or over IPv6 without extension headers. */
export const RST_IPV4 = 'tcp[13] & 4 != 0';
export const RST_IPV6 = 'ip6 and ip6[6] == 6 and ip6[53] & 4 != 0';
/**
 * …plus the SYNs that open connections (SYN set, ACK clear: 0x12 masked equals 0x02). A capture of RSTs alone
 * leaves the analyzer unable to tell a refused connection from anything else (an RST+ACK with nothing
 * before it); with the SYN it sees "SYN answered by RST" (RFC 9293 §3.10.7.1: a closed port answers a SYN
 * with <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>) and a scanner's fan-out. SYN-ACKs are left out on purpose:
 * without the final ACK and the data, SYN, SYN-ACK, RST reads as a half-open probe even when it was an
 * application abort; without the SYN-ACK such resets stay honestly "unexplained".
 */
export const RST_OR_SYN_IPV4 = 'tcp[13] & 4 != 0 or tcp[13] & 18 == 2';
export const RST_OR_SYN_IPV6 = 'ip6 and ip6[6] == 6 and (ip6[53] & 4 != 0 or ip6[53] & 18 == 2)';

/** Longest user expression accepted (tcpdump has no limit; a longer one is almost certainly a mistake). */
export const MAX_FILTER_CHARS = 2048;

/**
 * Check a user filter before it goes near tcpdump: printable text only, and balanced parentheses — an
 * unbalanced `port 80) or (udp` would otherwise escape the AND and widen the capture beyond RSTs.
 * Throws E_CAPTURE_FILTER with the 1-based column of the problem.
 */
export function checkUserFilter(text: string): string {
  const expr = text.trim();
  if (expr.length > MAX_FILTER_CHARS)
    throw new RstwatchError(
      'E_CAPTURE_FILTER',
      `--filter is ${expr.length} characters; at most ${MAX_FILTER_CHARS}`,
    );
  let depth = 0;
  let openedAt = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch < 0x20 || ch === 0x7f)
      throw new RstwatchError(
        'E_CAPTURE_FILTER',
        `--filter column ${i + 1}: control character 0x${ch.toString(16).padStart(2, '0')} is not allowed`,
        { column: i + 1 },
      );
    if (text[i] === '(') {
      if (depth === 0) openedAt = i + 1;
      depth++;
    } else if (text[i] === ')') {
      depth--;
      if (depth < 0)
        throw new RstwatchError('E_CAPTURE_FILTER', `--filter column ${i + 1}: ")" without a matching "("`, {
          column: i + 1,
        });
    }
  }
  if (depth > 0)
    throw new RstwatchError('E_CAPTURE_FILTER', `--filter column ${openedAt}: "(" is never closed`, {
      column: openedAt,
    });
  return expr;
}

export interface FilterOptions {
  /** Whether the link type has VLAN support in libpcap (Ethernet-like links: yes; cooked `any`: no). */
  vlan: boolean;
  /** The user's expression (already checked with checkUserFilter), ANDed to the RST test. */
  user?: string;
  /** Keep RSTs only, without the connection-opening SYNs (`--rst-only`: the field guide's plain filter). */
  rstOnly?: boolean;
}

/** The complete expression, passed to tcpdump as ONE argument (never through a shell). */
export function rstFilter(opts: FilterOptions): string {
  const user = opts.user?.trim();
  const ip = opts.rstOnly ? `(${RST_IPV4}) or (${RST_IPV6})` : `(${RST_OR_SYN_IPV4}) or (${RST_OR_SYN_IPV6})`;
  const branch = user ? `(${user}) and (${ip})` : ip;
  if (!opts.vlan) return `(${branch})`;
  return `(${branch}) or (vlan and ((${branch}) or (vlan and (${branch}))))`;
}
