/**
 * Read the kernel's own text rendering of the two reset events (a `trace` / `trace_pipe` line), for both
 * print formats (include/trace/events/tcp.h):
 *   ≥ 6.10 send:  `src=%pISpc dest=%pISpc state=%s reason=%s`
 *   ≤ 6.9 send and every receive: `family=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c daddrv6=%pI6c …`
 * The agent reads the binary ring buffer (see attribution.ts for why); this reader is the oracle the tests
 * hold the binary decoder to, and what docs/attribution.md's text-versus-binary measurement used.
 */

import { type Family, NOT_REPORTED, type RstEvent } from './types.js';

const HEAD = /\b(tcp_send_reset|tcp_receive_reset):\s(.*)$/;

function kv(body: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of body.trim().split(/\s+/)) {
    const eq = part.indexOf('=');
    if (eq > 0) m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

/** `127.0.0.1:9` or `[::1]:9` (%pISpc). */
function hostPort(text: string): { family: Family; addr: string; port: number } | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v6) return mapped(v6[1]!, Number(v6[2]));
  const v4 = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text);
  if (v4) return { family: 'ipv4', addr: v4[1]!, port: Number(v4[2]) };
  return undefined;
}

/** ::ffff:a.b.c.d is IPv4 on the wire: report it as such (as the binary decoder does). */
function mapped(addr: string, port: number): { family: Family; addr: string; port: number } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? { family: 'ipv4', addr: m[1]!, port } : { family: 'ipv6', addr: addr.toLowerCase(), port };
}

/** Parse one line; undefined for any other line (headers, other events). */
export function parseTraceLine(line: string): RstEvent | undefined {
  const h = HEAD.exec(line);
  if (!h) return undefined;
  const direction = h[1] === 'tcp_send_reset' ? 'sent' : 'received';
  const f = kv(h[2]!);
  const ev: RstEvent = {
    direction,
    family: 'ipv4',
    localAddr: '',
    localPort: 0,
    remoteAddr: '',
    remotePort: 0,
    reason: f.get('reason') ?? NOT_REPORTED,
    state: f.get('state') ?? NOT_REPORTED,
  };
  if (f.has('src')) {
    const s = hostPort(f.get('src')!);
    const d = hostPort(f.get('dest') ?? '');
    if (!s || !d) return undefined;
    ev.family = d.family;
    ev.localAddr = s.addr;
    ev.localPort = s.port;
    ev.remoteAddr = d.addr;
    ev.remotePort = d.port;
    return ev;
  }
  const sport = Number(f.get('sport'));
  const dport = Number(f.get('dport'));
  if (!Number.isInteger(sport) || !Number.isInteger(dport)) return undefined;
  ev.localPort = sport;
  ev.remotePort = dport;
  if (f.get('family') === 'AF_INET6') {
    const l = mapped(f.get('saddrv6') ?? '', sport);
    const r = mapped(f.get('daddrv6') ?? '', dport);
    ev.family = r.family;
    ev.localAddr = l.addr;
    ev.remoteAddr = r.addr;
  } else {
    ev.localAddr = f.get('saddr') ?? '';
    ev.remoteAddr = f.get('daddr') ?? '';
  }
  return ev;
}
