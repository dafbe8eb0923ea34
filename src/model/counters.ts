/**
 * The reset-related counters, grouped the way a sysadmin reads them, each with one line of meaning.
 * Meanings follow the kernel's increment sites (shared/design/tcp-resets-field-guide.md §6.2 and §6.4),
 * not the names: AttemptFails is "connection attempts that failed", not "resets received".
 */

import type { Os } from './charts.js';

export interface CounterInfo {
  counter: string;
  meaning: string;
}

export interface CounterGroup {
  id: string;
  title: string;
  counters: readonly CounterInfo[];
}

const LINUX: readonly CounterGroup[] = [
  {
    id: 'handshake',
    title: 'Handshake failures',
    counters: [
      {
        counter: 'AttemptFails',
        meaning:
          'our connection attempts that failed: SYN answered by RST (port closed) or a half-open connection reset',
      },
      {
        counter: 'TCPSynRetrans',
        meaning: 'SYN and SYN-ACK retransmissions: handshakes that went unanswered at first',
      },
      {
        counter: 'EmbryonicRsts',
        meaning: 'half-open (SYN_RECV) connections killed by a RST or a SYN from the peer',
      },
      { counter: 'ActiveOpens', meaning: 'connections we opened (for scale: failures per attempt)' },
      { counter: 'PassiveOpens', meaning: 'connections we accepted (for scale)' },
    ],
  },
  {
    id: 'sent',
    title: 'Resets sent',
    counters: [
      {
        counter: 'OutRsts',
        meaning: 'segments we sent with RST: refused connections, local aborts, replies to stray segments',
      },
    ],
  },
  {
    id: 'established',
    title: 'Established resets',
    counters: [
      {
        counter: 'EstabResets',
        meaning: 'established connections that ended abruptly (a RST sent or received, or a timeout)',
      },
      {
        counter: 'InErrs',
        meaning:
          'segments received in error (bad checksum, bad header): not resets, but often seen with them',
      },
    ],
  },
  {
    id: 'aborts',
    title: 'Aborts by reason',
    counters: [
      {
        counter: 'TCPAbortOnData',
        meaning: 'reset because data arrived after close, or close with SO_LINGER 0',
      },
      { counter: 'TCPAbortOnClose', meaning: 'reset because the application closed with unread data' },
      {
        counter: 'TCPAbortOnMemory',
        meaning: 'reset because of memory pressure or too many orphaned sockets',
      },
      { counter: 'TCPAbortOnTimeout', meaning: 'given up after retransmission or keepalive timeouts' },
      {
        counter: 'TCPAbortOnLinger',
        meaning: 'reset in FIN_WAIT2 because tcp_fin_timeout / linger2 ran out',
      },
      { counter: 'TCPAbortFailed', meaning: 'wanted to send a RST but could not (no memory)' },
    ],
  },
  {
    id: 'listen',
    title: 'Listen queue',
    counters: [
      {
        counter: 'ListenOverflows',
        meaning: 'accept queue full: a completed handshake was dropped (application too slow to accept)',
      },
      { counter: 'ListenDrops', meaning: 'any drop at a listening socket (includes the overflows)' },
      { counter: 'TCPReqQFullDrop', meaning: 'SYN queue full and no SYN cookies: SYN dropped' },
      { counter: 'TCPReqQFullDoCookies', meaning: 'SYN queue full: answered with a SYN cookie instead' },
    ],
  },
  {
    id: 'syncookies',
    title: 'SYN cookies',
    counters: [
      {
        counter: 'SyncookiesSent',
        meaning: 'SYN cookies sent: the SYN queue overflowed (a SYN flood or a burst)',
      },
      { counter: 'SyncookiesRecv', meaning: 'valid SYN cookies returned: connections saved by cookies' },
      {
        counter: 'SyncookiesFailed',
        meaning: 'invalid SYN cookies received (stale, forged, or a plain stray ACK)',
      },
    ],
  },
  {
    id: 'challenge',
    title: 'RST validation (RFC 5961)',
    counters: [
      {
        counter: 'TCPChallengeACK',
        meaning:
          'challenge ACKs sent: in-window RSTs or SYNs with the wrong sequence (possible blind injection)',
      },
      {
        counter: 'TCPSYNChallenge',
        meaning: 'SYNs received on established connections (answered with a challenge ACK)',
      },
      { counter: 'TCPACKSkippedChallenge', meaning: 'challenge ACKs suppressed by the rate limit' },
    ],
  },
];

const FREEBSD: readonly CounterGroup[] = [
  {
    id: 'handshake',
    title: 'Handshake failures',
    counters: [
      {
        counter: 'AttemptFails',
        meaning: 'embryonic connections dropped before the SYN was answered (tcps_conndrops)',
      },
      { counter: 'bad-connection-attempts', meaning: 'bogus SYNs (e.g. premature ACK)' },
      { counter: 'ActiveOpens', meaning: 'connection requests we made (tcps_connattempt)' },
      { counter: 'PassiveOpens', meaning: 'connections we accepted (tcps_accepts)' },
    ],
  },
  {
    id: 'sent',
    title: 'Resets sent',
    counters: [
      {
        counter: 'sent-control-packets',
        meaning: 'control segments sent (SYN, FIN, RST): FreeBSD has no RST-only counter',
      },
    ],
  },
  {
    id: 'established',
    title: 'Established resets',
    counters: [
      {
        counter: 'EstabResets',
        meaning: 'connections dropped after the SYN was received, including by a valid RST (tcps_drops)',
      },
      {
        counter: 'ignored-in-window-resets',
        meaning: 'in-window RSTs with the wrong sequence, ignored with a challenge ACK',
      },
      {
        counter: 'received-after-close-packets',
        meaning: 'segments received after the socket closed (answered with RST)',
      },
    ],
  },
  {
    id: 'aborts',
    title: 'Drops by timer',
    counters: [
      {
        counter: 'connections-dropped-by-retransmit-timeout',
        meaning: 'given up after retransmission timeouts',
      },
      {
        counter: 'connections-dropped-by-keepalives',
        meaning: 'dropped because keepalive probes went unanswered',
      },
      {
        counter: 'connections-dropped-by-persist-timeout',
        meaning: 'dropped in persist (zero window) state',
      },
      {
        counter: 'connections-dropped-by-finwait2-timeout',
        meaning: 'dropped in FIN_WAIT_2 after the timeout',
      },
    ],
  },
  {
    id: 'listen',
    title: 'Listen queue',
    counters: [
      {
        counter: 'listen-queue-overflows',
        meaning: 'listen queue overflows: the application accepts too slowly',
      },
      { counter: 'syncache.bucket-overflow', meaning: 'syncache bucket overflows (SYN flood pressure)' },
      { counter: 'syncache.cache-overflow', meaning: 'syncache full (SYN flood pressure)' },
      { counter: 'syncache.reset', meaning: 'syncache entries removed by a RST' },
    ],
  },
  {
    id: 'syncookies',
    title: 'SYN cookies',
    counters: [
      {
        counter: 'syncache.sent-cookies',
        meaning: 'SYN cookies sent (syncache overflowed, or syncookies_only)',
      },
      { counter: 'syncache.receivd-cookies', meaning: 'valid SYN cookies returned' },
    ],
  },
];

export function counterGroups(os: Os): readonly CounterGroup[] {
  return os === 'linux' ? LINUX : FREEBSD;
}
