/**
 * What TCP resets mean, in our own words: one topic per cause, used by `rstwatch explain`, the alerts, the
 * analyzer and the dashboard, so that every surface says the same thing. Data, not code: change the words
 * here and every surface follows (docs/explain.md lists the topics; its table is checked by a unit test).
 *
 * Conventions for the prose: plain language first, the kernel's names second. Text between backticks is
 * literal (a command, a sysctl setting, a configuration line) and is never broken across lines. Counter
 * names are the kernel's on Linux (`/proc/net/snmp` Tcp:, `/proc/net/netstat` TcpExt:) and, on FreeBSD,
 * Netdata's four names (AttemptFails, EstabResets, ActiveOpens, PassiveOpens) plus the libxo keys of
 * `netstat -s -p tcp --libxo json` (sub-containers prefixed: `syncache.sent-cookies`), exactly as
 * src/collect/{linux,freebsd}.ts report them. Tracepoint reasons are the `reason` field of
 * `tcp:tcp_send_reset` on Linux 6.10 and later (enum sk_rst_reason, include/net/rstreason.h).
 *
 * Facts come from the kernels' increment sites and the RFCs, as summarised in
 * shared/design/tcp-resets-field-guide.md §1 and §6: RFC 9293 (§3.5.1 half-open connections, §3.5.2 reset
 * generation, §3.5.3 reset processing, §3.10.7 segment arrival), RFC 5961 (RST/SYN/ACK validation and
 * challenge ACKs), RFC 1337 (TIME-WAIT assassination), RFC 2525 §2.17 (RST on close with unread data) and
 * RFC 4987 (SYN flooding and SYN cookies).
 */

export interface Topic {
  /** Stable kebab-case id: alerts, the analyzer and the dashboard refer to topics by it. */
  id: string;
  title: string;
  /** Other names `findTopic` accepts (lower-case kebab-case, never another topic's id). */
  aliases: string[];
  /** One sentence. */
  summary: string;
  /** What happens on the wire and in the kernels, and why; paragraphs separated by a blank line. */
  whatHappens: string;
  /** Counters (Linux names and FreeBSD libxo keys), tracepoint reasons, and capture signs (Zeek states). */
  howRstwatchDetects: string;
  /** Concrete steps, each with the exact command to run. */
  whatToDo: string[];
  /** The counters that move, by the names the collectors report them under. */
  counters: { linux: string[]; freebsd: string[] };
  /** `tcp:tcp_send_reset` reasons (Linux 6.10+) of the resets this cause makes. */
  tracepointReasons: string[];
  /** Ids of related topics. */
  seeAlso: string[];
}

/** Lines of one paragraph, joined with spaces (keeps the source readable). */
const s = (...lines: string[]): string => lines.join(' ');
/** Paragraphs, separated by a blank line. */
const prose = (...paragraphs: string[]): string => paragraphs.join('\n\n');

const TOPIC_LIST: Topic[] = [
  {
    id: 'reset',
    title: 'What a TCP reset is',
    aliases: ['rst', 'resets', 'tcp-reset', 'econnreset', 'connection-reset-by-peer', 'resets-received'],
    summary:
      'A reset is a TCP segment with the RST flag: it ends a connection at once, without the orderly FIN exchange, and either end (or a device in between) can send one.',
    whatHappens: prose(
      s(
        'A TCP connection normally ends with a FIN from each side: both agree that everything was delivered.',
        'A reset is the emergency exit. One segment with the RST flag set, and the receiver drops the',
        'connection on the spot, throws away whatever was still queued and reports an error to the',
        'application: ECONNRESET ("connection reset by peer") on an open connection, ECONNREFUSED during',
        'connect(). Nobody acknowledges a reset and nobody retransmits it.',
      ),
      s(
        'A TCP sends a reset when a segment arrives that cannot belong to any connection it knows (a closed',
        'port, a connection it has forgotten), when the application aborts a connection, and when the kernel',
        'gives up on one (RFC 9293 §3.5.2). The receiver accepts a reset only if its sequence number fits the',
        'connection (RFC 9293 §3.5.3 and §3.10.7); Linux and FreeBSD go further and accept only the exact next',
        'sequence number, answering a merely plausible one with a challenge ACK (RFC 5961). Firewalls, load',
        'balancers and attackers can send resets too, in the name of either end.',
      ),
      s(
        'Most resets are harmless: a refused probe, a client that hung up early. What matters is a change in',
        'their rate: a service that stopped listening, a full queue, a peer that crashes, an attack.',
      ),
      s(
        'About Netdata\'s "received TCP resets" alert (10s_ipv4_tcp_resets_received, now',
        '10s_ip_tcp_resets_received): it averages AttemptFails, which is not a count of resets received.',
        'AttemptFails counts connection attempts that failed: our SYN answered by a RST (a refused connect),',
        'our connect() giving up after its SYN retries, and a half-open handshake on our side (SYN_RECV) killed',
        'by a RST or a new SYN from the peer. A RST that ends an established connection is counted in',
        'EstabResets instead (together with every other abrupt end of an established connection, timeouts',
        'included), and one aimed at a TIME_WAIT socket or rejected as out of window is counted nowhere. The',
        'sibling "sent TCP resets" alert is OutRsts: every RST the TCP stack itself sends (not those a firewall',
        'rule forges). On FreeBSD, Netdata maps AttemptFails to tcps_conndrops (embryonic connections',
        'dropped) and EstabResets to tcps_drops.',
      ),
    ),
    howRstwatchDetects: prose(
      s(
        'rstwatch reads the kernel counters every second (`rstwatch status`, the agent). Linux: AttemptFails,',
        'EstabResets and OutRsts from /proc/net/snmp, with ActiveOpens and PassiveOpens for scale, and the',
        'causes from the TcpExt: counters of /proc/net/netstat. FreeBSD: AttemptFails, EstabResets,',
        "ActiveOpens and PassiveOpens under Netdata's names and every key of `netstat -s -p tcp --libxo json`;",
        'FreeBSD has no count of RSTs sent, only sent-control-packets (SYN, FIN and RST together).',
      ),
      s(
        'Counters say how many, not who or why. On Linux 6.10 and later the tcp:tcp_send_reset tracepoint',
        'names a reason for every RST the kernel sends, which the agent uses to attribute resets to ports,',
        'peers and causes: NO_SOCKET (nothing to deliver the segment to), TCP_ABORT_ON_CLOSE and',
        'TCP_ABORT_ON_DATA (the application aborted), TCP_STATE (a zero-linger close or a forced close),',
        'TCP_KEEPALIVE_TIMEOUT (keepalive gave up), NOT_SPECIFIED when the kernel gives none. Older kernels',
        'fire the tracepoint only for resets sent by a full socket, so refusals are invisible there.',
      ),
      s(
        'A capture (`rstwatch capture`, `rstwatch analyze`) classifies every reset by connection state the way',
        'Zeek does: REJ (history Sr) for a refused SYN, RSTO or RSTR when the originator or the responder',
        'reset an established connection, RSTOS0, RSTRH or OTH for resets without a complete handshake.',
      ),
    ),
    whatToDo: [
      'See which counters move and how fast: `rstwatch status --watch` (rates per second, grouped by cause).',
      'Find who resets whom, on which port: `rstwatch capture -i any --duration 60s -w resets.pcap`, then `rstwatch analyze resets.pcap`.',
      "Look at the sockets behind a port: `ss -tanp 'sport = :443'` (as root it shows the owning process).",
      'Then read the topic of the counter that moves: refused (AttemptFails here, OutRsts on the server), abort (TCPAbortOnClose, TCPAbortOnData), queue-full (ListenOverflows), syn-flood (SyncookiesSent), challenge-ack (TCPChallengeACK), timeout (TCPAbortOnTimeout).',
      'Judge changes, not levels: a steady trickle of resets is normal on any busy host; the Netdata-style alert compares the last 10 seconds with the minute before.',
    ],
    counters: {
      linux: ['AttemptFails', 'EstabResets', 'OutRsts', 'ActiveOpens', 'PassiveOpens'],
      freebsd: ['AttemptFails', 'EstabResets', 'ActiveOpens', 'PassiveOpens', 'sent-control-packets'],
    },
    tracepointReasons: [
      'NO_SOCKET',
      'TCP_ABORT_ON_CLOSE',
      'TCP_ABORT_ON_DATA',
      'TCP_STATE',
      'TCP_KEEPALIVE_TIMEOUT',
      'NOT_SPECIFIED',
    ],
    seeAlso: ['refused', 'abort', 'half-open', 'queue-full', 'challenge-ack', 'timeout'],
  },
  {
    id: 'refused',
    title: 'Connection refused (nothing listening)',
    aliases: ['connection-refused', 'econnrefused', 'closed-port', 'port-closed', 'rej', 'no-socket'],
    summary:
      'A SYN reached a host where nothing listens on that address and port, and the host answered with a reset: the client sees "connection refused".',
    whatHappens: prose(
      s(
        "The client sends a SYN; the server's kernel finds no listening socket for that address and port and",
        "answers with a RST+ACK that acknowledges the SYN (sequence number 0, acknowledgment the client's",
        'initial sequence number plus one, window 0), as RFC 9293 §3.5.2 and §3.10.7.1 prescribe for a segment',
        'addressed to a connection that does not exist. connect() fails at once with ECONNREFUSED. No',
        'connection ever existed, so nothing was lost but the attempt.',
      ),
      s(
        'Usual causes: the service is down or restarting; it listens on another address (127.0.0.1 instead of',
        'all addresses, IPv4 only while the client uses IPv6) or another port; a container port that is not',
        'published; health checks or monitoring agents probing closed ports; clients with stale configuration.',
        'A firewall rule that rejects with a reset (`-j REJECT --reject-with tcp-reset`, nftables',
        "`reject with tcp reset`) sends the same packet, but the kernel's TCP counters and tracepoint do not",
        'see it. A FreeBSD host with net.inet.tcp.blackhole set to 1 or 2 sends no reset at all: the client',
        'times out instead.',
      ),
    ),
    howRstwatchDetects: s(
      'On the client, AttemptFails rises (Linux and FreeBSD: our SYN answered by a RST); compare it with',
      'ActiveOpens, the attempts made. On a Linux server OutRsts rises, and on Linux 6.10 or later each of',
      'these resets has tracepoint reason NO_SOCKET, with the port that was asked for; older kernels do not',
      'trace resets sent without a socket. FreeBSD has no separate counter for them. In a capture: a SYN',
      'answered by a RST+ACK within about one round trip and no SYN-ACK; Zeek conn_state REJ, history Sr.',
      'Many REJ from one source across many ports is a scan (see scan).',
    ),
    whatToDo: [
      'Find the refused port and the clients: `rstwatch capture -i any --duration 30s -w refused.pcap`, then `rstwatch analyze refused.pcap` (REJ connections by port and client); on Linux 6.10+ the agent attributes NO_SOCKET resets to ports.',
      'Check that the service listens where clients connect: `ss -ltnp` on Linux, `sockstat -l` on FreeBSD (address, port and process of every listening socket).',
      'If the failing attempts are made by this host (AttemptFails here), see where they go: `ss -tan state syn-sent`; fix the address or port, or start the service.',
      'If the refusals come from health checks or scanners you know, allow-list those peers in alert rules instead of silencing reset alerts.',
      'FreeBSD: `sysctl net.inet.tcp.blackhole` above 0 hides refusals (clients time out instead); `sysctl net.inet.tcp.log_in_vain=1` logs connection attempts to closed ports.',
    ],
    counters: { linux: ['AttemptFails', 'OutRsts', 'ActiveOpens'], freebsd: ['AttemptFails', 'ActiveOpens'] },
    tracepointReasons: ['NO_SOCKET'],
    seeAlso: ['scan', 'reset', 'half-open'],
  },
  {
    id: 'abort',
    title: 'Application abort (close with unread data, SO_LINGER 0)',
    aliases: ['application-abort', 'app-abort', 'linger', 'so-linger', 'zero-linger', 'unread-data'],
    summary:
      'An application ended a connection with a reset instead of a FIN: it closed while received data was still unread, or with SO_LINGER set to zero.',
    whatHappens: prose(
      s(
        "Two things make a kernel abort a connection on the application's behalf. First, close() while",
        'received data is still unread: the application will never read it, so the kernel tells the peer at',
        'once with a RST instead of a FIN, so that the peer does not believe its data was processed (RFC 2525',
        '§2.17). Second, SO_LINGER with a linger time of 0 turns close() into an abort (the ABORT call of RFC',
        '9293 §3.10.5): the send queue is thrown away and a RST goes out. Servers and proxies use zero linger',
        'on purpose to skip TIME_WAIT or to drop slow clients (nginx `reset_timedout_connection on;`,',
        'HAProxy `option nolinger`), and many HTTP clients close pooled connections that way. Linux also',
        'resets when data arrives for a socket the application has already closed.',
      ),
      s(
        'The peer gets ECONNRESET ("connection reset by peer") on its next read or write, or EPIPE, and the',
        'data it sent but that was not read is lost. Typical sources: a client that gives up before the',
        'response is complete (timeouts, users cancelling), a server that closes an idle keep-alive connection',
        'just as the client sends its next request, a proxy timing out its upstream.',
      ),
    ),
    howRstwatchDetects: s(
      'Linux counts the cause on the aborting host: TCPAbortOnClose (closed with unread data) and',
      'TCPAbortOnData (zero-linger close, or data arriving after close); OutRsts and EstabResets rise with',
      "them, and the peer's EstabResets rises when the RST arrives. Tracepoint reasons (Linux 6.10+):",
      'TCP_ABORT_ON_CLOSE for unread data, TCP_STATE for a zero-linger close (it goes through',
      'tcp_disconnect), TCP_ABORT_ON_DATA for data after close, TCP_DISCONNECT_WITH_DATA for a disconnect',
      'with data still to send. FreeBSD: a zero-linger close drops the connection with a RST and counts in',
      'EstabResets (tcps_drops); segments arriving after close are answered with a RST and counted in',
      'received-after-close-packets. In a capture: a RST (usually RST+ACK with the current sequence number)',
      'in place of a FIN, often right after the peer sent data; Zeek RSTO when the originator (the client)',
      'aborted, e.g. history ShADadR, RSTR when the responder did, e.g. ShADadr.',
    ),
    whatToDo: [
      'Find which side aborts and on which port: `rstwatch capture -i any --duration 60s -w aborts.pcap`, then `rstwatch analyze aborts.pcap` (RSTO: the client aborted; RSTR: the server did).',
      'Watch the reasons: `rstwatch status --watch` (group "Aborts by reason"); TCPAbortOnClose points at code that closes before reading everything, TCPAbortOnData at zero linger or late data.',
      'Make the aborting side read what it was sent before closing: drain the request body before replying and closing, read a response to the end, or call shutdown(SHUT_WR) and read until EOF.',
      'Look for zero linger in the application or proxy (nginx `reset_timedout_connection`, HAProxy `option nolinger`, Java `setSoLinger(true, 0)`) and keep it only where the resets are intended.',
      "For keep-alive races, make the client's idle timeout for pooled connections shorter than the server's keep-alive timeout, so the server never closes a connection the client is about to reuse.",
    ],
    counters: {
      linux: ['TCPAbortOnClose', 'TCPAbortOnData', 'OutRsts', 'EstabResets'],
      freebsd: ['EstabResets', 'received-after-close-packets'],
    },
    tracepointReasons: ['TCP_ABORT_ON_CLOSE', 'TCP_ABORT_ON_DATA', 'TCP_STATE', 'TCP_DISCONNECT_WITH_DATA'],
    seeAlso: ['reset', 'timeout', 'half-open'],
  },
  {
    id: 'half-open',
    title: 'Half-open connection (one side forgot it)',
    aliases: ['halfopen', 'stale-connection', 'lost-state', 'peer-reboot', 'nat-timeout'],
    summary:
      'One end still believes a connection is open while the other has lost it (a reboot, a crash, a NAT or firewall that expired the flow), so its next segment is answered with a reset.',
    whatHappens: prose(
      s(
        'RFC 9293 §3.5.1 calls a connection half-open when one side has closed or lost it without the other',
        'knowing. It happens when a host reboots or a process dies without its kernel sending anything, when',
        'a NAT gateway, load balancer or stateful firewall forgets an idle flow and drops or re-maps its',
        'packets, and when a path is cut long enough for one side to give up.',
      ),
      s(
        'Nothing happens until the side that still has the connection sends something. The other host has no',
        "socket for it and answers with a RST; the sender's read or write fails with ECONNRESET, often long",
        'after the real failure. If instead the restarted client opens a new connection from the same address',
        'and port, its SYN reaches a server that still has the old connection: the server answers with an ACK',
        'for the old connection (a challenge ACK, RFC 5961 §4), the client, still waiting for its SYN-ACK,',
        "resets that unexpected ACK, the reset closes the old connection, and the client's next SYN gets in.",
        'Middleboxes that expire idle flows silently are the usual cause between hosts that never rebooted.',
      ),
    ),
    howRstwatchDetects: s(
      'The side that still had the connection sees EstabResets rise (Linux and FreeBSD) and its application',
      'logs ECONNRESET; the side that had forgotten it sends the RST, counted in OutRsts, tracepoint reason',
      'NO_SOCKET. A client reconnecting from the same port shows as TCPSYNChallenge and TCPChallengeACK on the',
      'server and as a reset with reason TCP_INVALID_ACK_SEQUENCE from the client. Keepalive probes that',
      'find the peer gone end in connections-dropped-by-keepalives on FreeBSD. In a capture: data or an ACK',
      'after a long silence, answered by a RST, with no handshake in the capture; Zeek RSTRH (history Dr) or',
      'OTH. `rstwatch analyze` shows the idle time before each such reset.',
    ),
    whatToDo: [
      'Find the idle time after which the resets come (`rstwatch analyze FILE` on a capture from `rstwatch capture -i any --duration 300s -w idle.pcap`) and compare it with NAT, firewall and load-balancer flow timeouts; for Linux conntrack: `sysctl net.netfilter.nf_conntrack_tcp_timeout_established`.',
      'Keep long-lived idle connections alive with TCP keepalive at an interval below that timeout: per socket (SO_KEEPALIVE with TCP_KEEPIDLE), or `sysctl -w net.ipv4.tcp_keepalive_time=300` (Linux: applies to sockets that enable SO_KEEPALIVE; FreeBSD: `sysctl net.inet.tcp.keepidle=300000`, in milliseconds, applies to all sockets while net.inet.tcp.always_keepalive=1).',
      'After a reboot or failover, expect a burst of resets as clients notice: compare the times with `uptime` or `journalctl --list-boots`; a burst that stops is not a problem.',
      'Make clients retry idempotent requests on ECONNRESET, and validate or expire pooled connections before reusing them.',
    ],
    counters: {
      linux: ['EstabResets', 'OutRsts', 'TCPSYNChallenge', 'TCPChallengeACK'],
      freebsd: ['EstabResets', 'connections-dropped-by-keepalives'],
    },
    tracepointReasons: ['NO_SOCKET', 'TCP_INVALID_ACK_SEQUENCE'],
    seeAlso: ['challenge-ack', 'timeout', 'reset'],
  },
  {
    id: 'time-wait-assassination',
    title: 'TIME-WAIT assassination (RFC 1337)',
    aliases: ['time-wait', 'timewait', 'tw', 'tw-assassination', 'rfc1337', 'tcp-rfc1337'],
    summary:
      'A reset reaching a connection in TIME_WAIT ends the wait early, so stray segments of the old connection can reach a new one on the same addresses and ports.',
    whatHappens: prose(
      s(
        'The side that closes first keeps the finished connection in TIME_WAIT for a while (60 s on Linux;',
        'twice net.inet.tcp.msl, 60 s by default, on FreeBSD) so that late segments of the old connection die',
        'out before the same pair of addresses and ports is used again. RFC 1337 describes how a reset cuts',
        'this short: a late or duplicate segment reaches the other end, which no longer has the connection and',
        'answers with a RST; the RST arrives at the TIME_WAIT side and, under the original rules, deletes it.',
        'A new connection with the same addresses and ports can then open early and accept old data or lose',
        'synchronisation.',
      ),
      s(
        'It is rarely the cause of an outage; it matters on hosts that reuse ports quickly (proxies, NAT',
        'gateways, load generators) and when hunting corrupted data. Linux honours such a RST by default: with',
        'net.ipv4.tcp_rfc1337=0 a RST carrying exactly the expected sequence number ends TIME_WAIT, with 1 it',
        'is ignored (the kernel documentation is confusing; this is what the code does). FreeBSD always',
        'ignores a RST in TIME_WAIT.',
      ),
    ),
    howRstwatchDetects: s(
      "There is no counter for it, on Linux or FreeBSD: the TIME_WAIT socket disappears silently. Linux's",
      'TWKilled counts something else (TIME_WAIT sockets given a short timeout). The tcp:tcp_receive_reset',
      'tracepoint fires only for full sockets and misses it too; reason TCP_TIMEWAIT_SOCKET marks the',
      'opposite direction, a RST sent by a TIME_WAIT socket. Only a capture shows it: a RST after both FINs',
      'of a connection (Zeek leaves such a connection SF, with an R or r after F and f in its history),',
      'possibly followed by a new SYN on the same addresses and ports within the TIME_WAIT period;',
      '`rstwatch analyze` lists RSTs after both FINs apart from other resets.',
    ),
    whatToDo: [
      'Check the setting: `sysctl net.ipv4.tcp_rfc1337` (0, the default: such a RST ends TIME_WAIT).',
      'To make TIME_WAIT ignore resets: `sysctl -w net.ipv4.tcp_rfc1337=1`, and keep it across reboots with the line `net.ipv4.tcp_rfc1337 = 1` in /etc/sysctl.d/90-rstwatch.conf; it affects only sockets in TIME_WAIT.',
      'See how many connections wait: `ss -s` (the timewait count) and `ss -tan state time-wait`.',
      'Confirm on the wire before changing anything: `rstwatch capture -i any --duration 60s -w tw.pcap`, then `rstwatch analyze tw.pcap`.',
      'FreeBSD: nothing to change; TIME_WAIT already ignores resets.',
    ],
    counters: { linux: [], freebsd: [] },
    tracepointReasons: ['TCP_TIMEWAIT_SOCKET'],
    seeAlso: ['reset', 'abort', 'rst-injection'],
  },
  {
    id: 'queue-full',
    title: 'Listen (accept) queue overflow',
    aliases: [
      'backlog',
      'accept-queue',
      'listen-queue',
      'listen-overflow',
      'listenoverflows',
      'somaxconn',
      'abort-on-overflow',
    ],
    summary:
      'Clients completed the handshake faster than the application accepted them; the kernel dropped the extra connections, or reset them when told to.',
    whatHappens: prose(
      s(
        'A listening socket keeps finished handshakes in its accept queue until the application calls',
        'accept(). The queue holds at most the backlog the application passed to listen(), capped by',
        'net.core.somaxconn on Linux (4096 since 5.4) or kern.ipc.soacceptqueue on FreeBSD. When it is full',
        'and one more client completes its handshake, the kernel has nowhere to put the connection; Linux also',
        'drops new SYNs for as long as the queue stays full.',
      ),
      s(
        "Linux by default (net.ipv4.tcp_abort_on_overflow=0) ignores the client's final ACK and keeps the",
        'half-finished connection: it retransmits its SYN-ACK, the client (which believes it is connected and',
        'may have sent its request already) retransmits too, and the connection either gets in once there is',
        "room or, after net.ipv4.tcp_synack_retries, is forgotten, and the client's next segment is answered",
        'with a RST. With tcp_abort_on_overflow=1 the client is reset at once. FreeBSD answers with a RST by',
        'default (net.inet.tcp.syncache.rst_on_sock_fail=1); with 0 it waits for the client to retransmit.',
      ),
      s(
        'The cause is nearly always the application: too few workers, a blocked event loop, a slow start,',
        'a small listen() backlog, or a burst of clients after a restart.',
      ),
    ),
    howRstwatchDetects: s(
      'Linux: ListenOverflows (a completed handshake did not fit, or a SYN came while the queue was full)',
      'and ListenDrops (every drop at a listener, the overflows included) rise together; TCPSynRetrans rises',
      'with the retransmitted SYN-ACKs. With tcp_abort_on_overflow=1, EmbryonicRsts and OutRsts rise too and',
      "the resets carry tracepoint reason INVALID_SYN; when a forgotten client's segment reaches the",
      'listener, its RST has reason TCP_FLAGS. FreeBSD: listen-queue-overflows. In a capture: a complete',
      "handshake, the client's data retransmitted, duplicate SYN-ACKs from the server, then a RST from the",
      "server whose sequence number is the client's acknowledgment; Zeek RSTR with retransmissions in the",
      'history (e.g. ShADTr).',
    ),
    whatToDo: [
      'Look at the queues: `ss -ltn`; for a listening socket Recv-Q is the number of connections waiting for accept() and Send-Q the limit: Recv-Q at or near Send-Q means overflow. FreeBSD: `netstat -Lan` (qlen/incqlen/maxqlen).',
      'Watch the counters: `rstwatch status --watch` (group "Listen queue") or `nstat -az TcpExtListenOverflows TcpExtListenDrops`.',
      'Fix the application first: more workers or threads, accept in a loop, no slow work on the accepting thread.',
      'Raise the backlog where it is too small: the listen() backlog of the application (nginx: `listen 443 backlog=4096;`) and the cap, `sysctl -w net.core.somaxconn=8192` (FreeBSD `sysctl kern.ipc.soacceptqueue=8192`); keep them in /etc/sysctl.d/ (FreeBSD /etc/sysctl.conf).',
      'Leave `net.ipv4.tcp_abort_on_overflow` at 0 unless clients should fail fast and retry elsewhere: 1 turns every short burst into resets.',
    ],
    counters: {
      linux: ['ListenOverflows', 'ListenDrops', 'TCPSynRetrans', 'EmbryonicRsts', 'OutRsts'],
      freebsd: ['listen-queue-overflows'],
    },
    tracepointReasons: ['INVALID_SYN', 'TCP_FLAGS'],
    seeAlso: ['syn-queue', 'syn-flood', 'buffer-overflow'],
  },
  {
    id: 'syn-queue',
    title: 'SYN queue full',
    aliases: ['syn-backlog', 'request-queue', 'reqqfull', 'tcp-max-syn-backlog', 'syncache-overflow'],
    summary:
      'More half-finished handshakes than the SYN queue holds: without SYN cookies new SYNs are dropped silently, with cookies they are answered without keeping state.',
    whatHappens: prose(
      s(
        'For every SYN a listener receives, the kernel keeps a small record (a request socket on Linux, a',
        "syncache entry on FreeBSD) until the client's ACK completes the handshake. These records form the SYN",
        'queue, limited on Linux by the listen() backlog and net.ipv4.tcp_max_syn_backlog, on FreeBSD by the',
        'syncache limits (net.inet.tcp.syncache.bucketlimit and cachelimit). A SYN flood fills it on purpose; a',
        'burst of real clients, or many clients behind slow links, can fill it too.',
      ),
      s(
        'When it is full the kernel either drops the SYN (the client sees only a slow connect: it retransmits',
        'its SYN after 1 s, 2 s, 4 s…) or, with SYN cookies, answers anyway with a SYN-ACK that carries the',
        'connection in its sequence number and keeps nothing (see syncookies). No reset is sent: the sign is',
        'the missing answer. Resets come later, if at all, from clients that give up.',
      ),
    ),
    howRstwatchDetects: s(
      'Linux: TCPReqQFullDrop (SYN dropped, cookies off) or TCPReqQFullDoCookies together with',
      "SyncookiesSent (answered with a cookie); ListenDrops rises with the drops, and the clients' own",
      'TCPSynRetrans counts their repeated SYNs. The kernel logs "Possible SYN flooding on port N" once per',
      'listener. FreeBSD: syncache.bucket-overflow and syncache.cache-overflow, and syncache.sent-cookies',
      'when cookies take over. There is no tracepoint reason because no RST is sent. In a capture: SYNs',
      'without SYN-ACK and retransmitted SYNs; Zeek S0.',
    ),
    whatToDo: [
      'Tell a flood from a burst: `rstwatch status --watch` (groups "Listen queue" and "SYN cookies") and `ss -tan state syn-recv | wc -l`; many SYN_RECV entries from addresses that never complete is a flood (see syn-flood).',
      'Make sure SYN cookies are the fallback: `rstwatch syncookies status`; if they are off, `rstwatch syncookies enable --persist` (Linux net.ipv4.tcp_syncookies=1, FreeBSD net.inet.tcp.syncookies=1).',
      'For real load, raise the queue together with the accept queue: `sysctl -w net.ipv4.tcp_max_syn_backlog=8192`, the listen() backlog and net.core.somaxconn (see queue-full); FreeBSD: raise net.inet.tcp.syncache.cachelimit and bucketlimit in /boot/loader.conf (read at boot).',
      'Free the records of clients that never answer sooner: `sysctl -w net.ipv4.tcp_synack_retries=2` (default 5); FreeBSD `sysctl net.inet.tcp.syncache.rexmtlimit=1` (default 3).',
    ],
    counters: {
      linux: ['TCPReqQFullDrop', 'TCPReqQFullDoCookies', 'SyncookiesSent', 'ListenDrops', 'TCPSynRetrans'],
      freebsd: ['syncache.bucket-overflow', 'syncache.cache-overflow', 'syncache.sent-cookies'],
    },
    tracepointReasons: [],
    seeAlso: ['syncookies', 'syn-flood', 'queue-full'],
  },
  {
    id: 'buffer-overflow',
    title: 'Memory pressure, orphans and full buffers',
    aliases: ['memory', 'memory-pressure', 'oom', 'orphans', 'too-many-orphans', 'tcp-mem', 'buffers'],
    summary:
      'The kernel ran short of TCP memory or had too many orphaned sockets and reset connections to free them, or dropped data that did not fit the buffers.',
    whatHappens: prose(
      s(
        'TCP buffers come out of a shared budget: net.ipv4.tcp_mem on Linux (in pages: low, pressure, high)',
        'and mbuf clusters on FreeBSD (kern.ipc.nmbclusters). Sockets the application has closed but that',
        'still have data to deliver or a FIN to finish are orphans, limited on Linux by',
        'net.ipv4.tcp_max_orphans. When a Linux host is over these limits, it resets connections it cannot',
        'afford to keep (orphans first, at close and when their timers fire) and logs "too many orphaned',
        'sockets" or "out of memory -- consider tuning tcp_mem". Those resets come from the server with no',
        'application action before them.',
      ),
      s(
        'Short of that, full receive queues make the kernel drop or prune incoming data: the sender',
        'retransmits, connections slow down but stay up. Typical causes: many slow or stalled clients with',
        'large buffers, an application that stops reading its sockets, large tcp_rmem/tcp_wmem settings on a',
        'small host.',
      ),
    ),
    howRstwatchDetects: s(
      'Linux: TCPAbortOnMemory counts the resets (tracepoint reason TCP_ABORT_ON_MEMORY) and',
      'TCPMemoryPressures the times TCP entered memory pressure; TCPRcvQDrop, TCPBacklogDrop, PruneCalled,',
      'RcvPruned and TCPOFODrop count data dropped or pruned because buffers were full; TCPAbortFailed counts',
      'resets the kernel wanted to send but could not (no memory). FreeBSD has no counter of resets for',
      'memory; segments dropped because the reassembly queue was full are discard-reassembly-queue-full, and',
      'mbuf shortages show in `netstat -m`. In a capture: the server resets idle or closing connections with',
      'no request before; Zeek RSTR.',
    ),
    whatToDo: [
      "Check the kernel log: `journalctl -k | grep -E 'orphaned|out of memory'` (or `dmesg`).",
      'Compare use with limits: `cat /proc/net/sockstat` (orphan count, and mem in pages) against `sysctl net.ipv4.tcp_mem net.ipv4.tcp_max_orphans`.',
      'Find the sockets that hold memory: `ss -tmn` shows the buffers (skmem) of every socket; many FIN-WAIT-1 or LAST-ACK sockets with a full Send-Q point to stalled peers.',
      'Raise the limits if the host has memory to spare (`sysctl -w net.ipv4.tcp_max_orphans=262144`, and net.ipv4.tcp_mem in pages), or lower the per-socket maximums in net.ipv4.tcp_rmem and tcp_wmem; fix an application that leaves data unread.',
      'FreeBSD: `netstat -m` shows mbuf requests denied; raise kern.ipc.nmbclusters if there are any.',
    ],
    counters: {
      linux: [
        'TCPAbortOnMemory',
        'TCPMemoryPressures',
        'TCPRcvQDrop',
        'TCPBacklogDrop',
        'PruneCalled',
        'RcvPruned',
        'TCPOFODrop',
        'TCPAbortFailed',
      ],
      freebsd: ['discard-reassembly-queue-full'],
    },
    tracepointReasons: ['TCP_ABORT_ON_MEMORY'],
    seeAlso: ['queue-full', 'abort', 'timeout'],
  },
  {
    id: 'syn-flood',
    title: 'SYN flood (and its backscatter)',
    aliases: ['synflood', 'syn-attack', 'dos', 'ddos', 'backscatter'],
    summary:
      'Someone sends SYNs faster than handshakes complete, usually from forged addresses, to fill the SYN queue; the resets are mostly side effects.',
    whatHappens: prose(
      s(
        'A SYN flood (RFC 4987) sends connection requests, usually with forged source addresses, so that the',
        'server keeps a half-finished record for each and has no room left for real clients. The server',
        'answers every SYN with a SYN-ACK to the forged address and retransmits it several times.',
      ),
      s(
        'The resets are side effects. Where a forged address belongs to a live host, that host has no such',
        'connection and answers the unexpected SYN-ACK with a RST; on the server that RST removes the',
        'half-finished record and counts like a failed connection attempt. Seen from the innocent host, this is',
        '"backscatter": if your host gets SYN-ACKs or RSTs for connections it never opened, someone is flooding',
        'a victim in your name. Real clients that could not get in give up, or reset later.',
      ),
      s(
        "SYN cookies (see syncookies) take away the flood's effect: the server stops keeping state once the",
        'queue is full. A flood that fills the network link is a bandwidth problem only filtering upstream',
        'solves.',
      ),
    ),
    howRstwatchDetects: s(
      'On the target (Linux): TCPReqQFullDoCookies and SyncookiesSent rise (TCPReqQFullDrop when cookies are',
      'off), ListenDrops rises, and the SYN-ACK retransmissions show in TCPSynRetrans. Backscatter RSTs that',
      'hit queued handshakes count as EmbryonicRsts and AttemptFails, so Netdata\'s "resets received" alert',
      'can fire on a flooded server. SyncookiesRecv counts cookies real clients brought back, SyncookiesFailed',
      'ACKs whose cookie did not check out. FreeBSD: syncache.bucket-overflow, syncache.cache-overflow,',
      'syncache.sent-cookies and syncache.receivd-cookies, syncache.retransmitted for SYN-ACK',
      'retransmissions, syncache.stale for entries that timed out, syncache.reset for entries removed by a',
      'RST. On a host that receives backscatter: OutRsts rises with reason NO_SOCKET, answering SYN-ACKs it',
      'never asked for. In a capture: many SYNs from many addresses and ports and few ACKs; at a backscatter',
      'receiver, unsolicited SYN-ACKs and RSTs (Zeek RSTRH, SHR or OTH).',
    ),
    whatToDo: [
      'Confirm: `rstwatch status --watch` (groups "SYN cookies" and "Listen queue"), `ss -tan state syn-recv | wc -l`, and `journalctl -k | grep \'SYN flooding\'`.',
      "See the sources and target ports: `tcpdump -ni any -c 10000 -w syn.pcap 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'` (IPv4 only), then `rstwatch analyze syn.pcap`.",
      'Make sure SYN cookies are the fallback: `rstwatch syncookies status`, and `rstwatch syncookies enable --persist` if they are off. Do not leave tcp_syncookies=2 (Linux) or syncookies_only=1 (FreeBSD) on as a permanent setting (see syncookies).',
      'Give the queue room while the flood lasts: raise the listen() backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog, and lower `net.ipv4.tcp_synack_retries` (e.g. `sysctl -w net.ipv4.tcp_synack_retries=2`) so records for forged sources expire sooner.',
      'If the link itself is full, only upstream filtering helps: ask the provider or a DDoS protection service. Rate-limit SYNs per source at the firewall only when the sources are not forged.',
      'If your host only receives backscatter (unsolicited SYN-ACKs and RSTs), it is not the target: the RSTs it sends back are correct and nothing needs fixing locally.',
    ],
    counters: {
      linux: [
        'TCPReqQFullDoCookies',
        'TCPReqQFullDrop',
        'SyncookiesSent',
        'SyncookiesRecv',
        'SyncookiesFailed',
        'ListenDrops',
        'TCPSynRetrans',
        'EmbryonicRsts',
        'AttemptFails',
        'OutRsts',
      ],
      freebsd: [
        'syncache.bucket-overflow',
        'syncache.cache-overflow',
        'syncache.sent-cookies',
        'syncache.receivd-cookies',
        'syncache.retransmitted',
        'syncache.stale',
        'syncache.reset',
      ],
    },
    tracepointReasons: ['NO_SOCKET'],
    seeAlso: ['syncookies', 'syn-queue', 'scan'],
  },
  {
    id: 'rst-injection',
    title: 'Forged resets (blind RST injection)',
    aliases: ['rst-attack', 'injection', 'spoofed-rst', 'forged-rst', 'blind-reset', 'rst-flood'],
    summary:
      'A third party forges RST segments to tear down connections it is not part of; current kernels accept only an exact sequence number and challenge the rest.',
    whatHappens: prose(
      s(
        "Anyone who knows a connection's addresses and ports can send a RST in either end's name. Under the",
        'original rules any RST whose sequence number fell inside the receive window was accepted (RFC 9293',
        '§3.10.7), so a blind attacker needed only about 2^32 divided by the window size tries, fewer against',
        'large windows. RFC 5961 §3 closes that gap: a RST is accepted only if its sequence number is exactly',
        'the next one expected; one that is merely inside the window is answered with a challenge ACK, and the',
        'real peer, if it did mean to reset, then sends a RST with the right number. Out-of-window RSTs are',
        'dropped silently. Linux has worked this way since 3.6, FreeBSD by default',
        '(net.inet.tcp.insecure_rst=0).',
      ),
      s(
        'Forged resets come from censorship and intrusion-prevention devices on the path (they see the',
        'sequence numbers, so they inject exact ones, often several with stepped numbers), from attackers',
        'targeting long-lived connections such as BGP sessions, and from floods of random RSTs that mostly',
        'bounce off. Nothing in TCP stops a device on the path; only protecting the segments themselves does',
        '(TCP-AO or TCP-MD5 signatures, or a VPN).',
      ),
    ),
    howRstwatchDetects: s(
      'Rejected attempts are counted: on Linux TCPChallengeACK (challenge ACKs sent) and',
      'TCPACKSkippedChallenge (challenge ACKs held back by the rate limit); on FreeBSD',
      'ignored-in-window-resets (in-window RSTs with the wrong number). A forged RST that is accepted looks',
      'like any other reset: EstabResets rises, and segments the real peer sends afterwards are answered',
      'with RSTs of reason NO_SOCKET, counted in OutRsts. In a capture: a RST whose sequence number is not',
      'the expected one, a pure ACK from the receiver right after it (the challenge), a TTL, IP ID or set of',
      "TCP options that differs from the peer's other packets, or several RSTs with stepped sequence numbers;",
      "`rstwatch analyze` checks every RST's sequence number against its connection.",
    ),
    whatToDo: [
      'Make sure the kernel validates resets: Linux does from 3.6 on; on FreeBSD `sysctl net.inet.tcp.insecure_rst` must print 0.',
      'Watch `rstwatch status --watch` (group "RST validation (RFC 5961)"): a steady stream of challenge ACKs with no resets from real peers means someone is trying.',
      "Capture the affected connections: `rstwatch capture -i any --duration 120s -w rst.pcap`, then `rstwatch analyze rst.pcap`, and compare the TTL and IP ID of the RSTs with the peer's other packets: a different TTL points to a device on the path.",
      "Against a device on the path, protect the segments (TCP-AO or TCP-MD5 for BGP, a VPN; TLS alone does not help, the RST is below it) and take it up with the network's owner.",
      'Keep kernels current: before Linux 4.7 the global challenge ACK limit let an attacker infer sequence numbers (CVE-2016-5696); leave net.ipv4.tcp_challenge_ack_limit at its default.',
    ],
    counters: {
      linux: ['TCPChallengeACK', 'TCPACKSkippedChallenge', 'EstabResets', 'OutRsts'],
      freebsd: ['ignored-in-window-resets', 'EstabResets'],
    },
    tracepointReasons: ['NO_SOCKET'],
    seeAlso: ['challenge-ack', 'half-open', 'reset'],
  },
  {
    id: 'scan',
    title: 'Port scans (SYN and RST scans)',
    aliases: ['port-scan', 'portscan', 'syn-scan', 'rst-scan', 'nmap', 'fan-out'],
    summary:
      "One source probes many ports or hosts: closed ports answer with resets, and half-open scans of open ports end with the scanner's own reset.",
    whatHappens: prose(
      s(
        'A scanner sends SYNs to many ports (or many hosts) and reads the answers: a RST+ACK means closed, a',
        'SYN-ACK means open, silence means filtered. A SYN ("half-open") scan never completes the handshake:',
        "the scanner's own kernel, which knows nothing of the hand-made SYN, answers the SYN-ACK with a bare",
        'RST. A connect scan completes the handshake and then closes, often with a reset. ACK, FIN and similar',
        'scans send odd segments that are answered with RSTs whether the port is open or not.',
      ),
      s(
        'So a scan is a burst of resets in both directions, spread over many ports, from one or a few sources,',
        'at a pace no real client has. Your own security scanners, monitoring agents probing for services when',
        "they start, and the internet's background noise are the common sources; a scan is a warning sign,",
        'not damage.',
      ),
    ),
    howRstwatchDetects: s(
      'On the scanned Linux host: OutRsts rises, one RST per closed port, reason NO_SOCKET; ACKs sent to',
      "listening ports are answered with reason TCP_FLAGS; the scanner's RST after a SYN-ACK removes the",
      'pending handshake and counts as EmbryonicRsts and AttemptFails; connect scans add EstabResets.',
      "FreeBSD: syncache.reset (the scanner's RSTs removing handshakes), bad-connection-attempts (segments",
      'to a listening port that are not a plain SYN) and sent-control-packets. In a capture: fan-out, one',
      'source to many ports or hosts with tiny gaps, Zeek REJ (history Sr) for closed ports and RSTO (history',
      'ShR) for open ones; `rstwatch analyze` reports the fan-out per source.',
    ),
    whatToDo: [
      'Identify the source: `rstwatch capture -i any --duration 60s -w scan.pcap`, then `rstwatch analyze scan.pcap` (sources, ports touched, fan-out).',
      'If the source is yours (a vulnerability scanner, a monitoring agent at start-up), allow-list it in alert rules instead of muting reset alerts.',
      'If it is not, block it at the firewall, and check that nothing unexpected listens: `ss -ltnp` (Linux) or `sockstat -l` (FreeBSD).',
      'To answer closed ports with silence instead of resets: FreeBSD `sysctl net.inet.tcp.blackhole=2`; on Linux a firewall rule that drops traffic to closed ports. Legitimate clients then wait for a timeout instead of failing fast.',
    ],
    counters: {
      linux: ['OutRsts', 'EmbryonicRsts', 'AttemptFails', 'EstabResets'],
      freebsd: ['syncache.reset', 'bad-connection-attempts', 'sent-control-packets'],
    },
    tracepointReasons: ['NO_SOCKET', 'TCP_FLAGS'],
    seeAlso: ['refused', 'syn-flood', 'reset'],
  },
  {
    id: 'timeout',
    title: 'Timeouts: retransmission, keepalive and FIN_WAIT2',
    aliases: ['timeouts', 'keepalive', 'rto', 'retransmission-timeout', 'fin-wait2', 'finwait2', 'etimedout'],
    summary:
      'The kernel gave up on a connection whose peer stopped answering; depending on the timer it closes silently or sends a last reset.',
    whatHappens: prose(
      s(
        'When a peer stops acknowledging, TCP retransmits at growing intervals until a limit (RFC 9293',
        '§3.8.3): net.ipv4.tcp_retries2 (15, roughly 15 minutes) for data, tcp_syn_retries and',
        'tcp_synack_retries during the handshake. Then the application gets ETIMEDOUT. Linux sends no RST in',
        'that case, the peer being presumed gone; FreeBSD sends one when it drops a connection past the',
        'handshake.',
      ),
      s(
        'Keepalive (RFC 9293 §3.8.4), when a socket enables it, probes an idle connection after',
        'net.ipv4.tcp_keepalive_time (7200 s) and gives up after tcp_keepalive_probes unanswered probes sent',
        'tcp_keepalive_intvl apart; Linux then sends a RST. A connection the application has closed but whose',
        'peer never sends its FIN (stuck in FIN_WAIT2) is dropped after net.ipv4.tcp_fin_timeout (60 s),',
        "usually silently, or reset at close when the socket's TCP_LINGER2 is negative. On FreeBSD a zero",
        'window that never opens (the persist timer) ends a connection the same way.',
      ),
      s(
        'Timeouts point at the network or at a peer that hung or vanished: packet loss, a dead host, a',
        'half-open connection behind a middlebox that forgot the flow.',
      ),
    ),
    howRstwatchDetects: s(
      'Linux: TCPAbortOnTimeout counts connections given up by the retransmission, keepalive or SYN timers',
      '(a connect() that timed out also counts in AttemptFails, an established connection in EstabResets);',
      'TCPTimeouts counts retransmission timeouts, TCPKeepAlive keepalive probes sent, TCPSynRetrans',
      'handshake retransmissions, TCPAbortOnLinger resets at close because of a negative linger2. Tracepoint',
      'reasons: TCP_KEEPALIVE_TIMEOUT when keepalive gives up, TCP_ABORT_ON_LINGER for linger2, TCP_STATE for',
      'an orphan reset by its FIN_WAIT2 timer. FreeBSD: connections-dropped-by-retransmit-timeout,',
      'connections-dropped-by-keepalives, connections-dropped-by-persist-timeout and',
      'connections-dropped-by-finwait2-timeout, with EstabResets and AttemptFails for drops after and before',
      'the handshake. In a capture: a ladder of retransmissions, then silence (Linux) or a RST; a RST after',
      'several keepalive probes spaced tcp_keepalive_intvl apart.',
    ),
    whatToDo: [
      'See which timer fires: `rstwatch status --watch` (group "Aborts by reason" on Linux, "Drops by timer" on FreeBSD).',
      "Look at connections that are retrying: `ss -tnoi` shows each connection's timer and retransmission count; `ss -tno state fin-wait-2` lists those waiting for the peer's FIN.",
      'Check the path for loss: `mtr -rwc 100 PEER`, and the interface error and drop counters with `ip -s link`.',
      'Change the give-up points only with a reason: `sysctl -w net.ipv4.tcp_retries2=8` finds dead peers in about 100 s; shorter keepalive times suit idle connections behind NAT (see half-open); `net.ipv4.tcp_fin_timeout` bounds FIN_WAIT2. FreeBSD: net.inet.tcp.keepidle, keepintvl, keepcnt and net.inet.tcp.finwait2_timeout.',
    ],
    counters: {
      linux: [
        'TCPAbortOnTimeout',
        'TCPAbortOnLinger',
        'TCPTimeouts',
        'TCPKeepAlive',
        'TCPSynRetrans',
        'EstabResets',
        'AttemptFails',
      ],
      freebsd: [
        'connections-dropped-by-retransmit-timeout',
        'connections-dropped-by-keepalives',
        'connections-dropped-by-persist-timeout',
        'connections-dropped-by-finwait2-timeout',
        'EstabResets',
        'AttemptFails',
      ],
    },
    tracepointReasons: ['TCP_KEEPALIVE_TIMEOUT', 'TCP_ABORT_ON_LINGER', 'TCP_STATE'],
    seeAlso: ['half-open', 'abort', 'buffer-overflow'],
  },
  {
    id: 'syncookies',
    title: 'SYN cookies',
    aliases: ['syn-cookies', 'syn-cookie', 'syncookie', 'cookies', 'tcp-syncookies', 'syncookies-only'],
    summary:
      'A way to answer SYNs without keeping any state, by encoding the connection in the SYN-ACK sequence number: the standard fallback against SYN floods.',
    whatHappens: prose(
      s(
        'Normally a server remembers every SYN until the handshake completes. With SYN cookies it keeps',
        'nothing: it puts a keyed hash of the addresses, ports, a time counter and a rounded MSS into the',
        "sequence number of its SYN-ACK, and rebuilds the connection when the client's ACK brings that number",
        'back (RFC 4987 §3.6). A flood of forged SYNs then costs no memory. The price: whatever the server did',
        'not store is lost or approximated (the MSS is rounded to a few values; on Linux window scaling and',
        'SACK survive only when TCP timestamps carry them), and a lost SYN-ACK is not retransmitted.',
      ),
      s(
        'Linux: net.ipv4.tcp_syncookies = 0 never sends cookies, 1 (the default) sends them only while a',
        "listener's SYN queue is full, 2 sends them for every SYN (meant for testing; it degrades every",
        'connection). FreeBSD: net.inet.tcp.syncookies = 1 (the default) is the same fallback, cookies only',
        'when the syncache overflows. net.inet.tcp.syncookies_only = 1 switches the syncache off and answers',
        'every SYN with a cookie: it is not the way to "enable" SYN cookies (they already are), it costs every',
        'client its TCP options and SYN-ACK retransmission, and it does nothing against resets. The Linux',
        'equivalent of enabling cookies is tcp_syncookies=1, not 2.',
      ),
      s(
        'Cookies are not a cause of resets: they prevent the dropped SYNs that would otherwise become slow or',
        'failed connects. They cannot help against a flood that fills the network link.',
      ),
    ),
    howRstwatchDetects: s(
      'Linux: SyncookiesSent (cookies sent), SyncookiesRecv (valid cookies returned: connections saved),',
      'SyncookiesFailed (ACKs whose cookie did not check out: stale, forged, or a stray ACK), and',
      'TCPReqQFullDoCookies / TCPReqQFullDrop (SYN queue full: cookie sent / SYN dropped because cookies are',
      'off). FreeBSD: syncache.sent-cookies and syncache.receivd-cookies (sic: the key is misspelt).',
      'SyncookiesSent without SyncookiesRecv means nobody completes the handshake: a flood. Both rising',
      'together means real clients are being served by cookies: the SYN queue is too small for the load.',
      '`rstwatch syncookies status` shows the setting.',
    ),
    whatToDo: [
      'Check the setting: `rstwatch syncookies status` (or `sysctl net.ipv4.tcp_syncookies`; FreeBSD `sysctl net.inet.tcp.syncookies net.inet.tcp.syncookies_only`).',
      'If cookies are off, turn the fallback on: `rstwatch syncookies enable --dry-run` shows what would change, `rstwatch syncookies enable --persist` applies it and keeps it across reboots (Linux tcp_syncookies=1, FreeBSD syncookies=1).',
      'Keep net.inet.tcp.syncookies_only=0 on FreeBSD unless you deliberately trade connection quality for resistance during a sustained flood, and do not leave net.ipv4.tcp_syncookies=2 on Linux.',
      'If SyncookiesRecv rises with real traffic, the SYN queue is too small: raise the listen() backlog, net.core.somaxconn and net.ipv4.tcp_max_syn_backlog (see syn-queue).',
    ],
    counters: {
      linux: [
        'SyncookiesSent',
        'SyncookiesRecv',
        'SyncookiesFailed',
        'TCPReqQFullDoCookies',
        'TCPReqQFullDrop',
      ],
      freebsd: ['syncache.sent-cookies', 'syncache.receivd-cookies'],
    },
    tracepointReasons: [],
    seeAlso: ['syn-flood', 'syn-queue'],
  },
  {
    id: 'challenge-ack',
    title: 'Challenge ACKs (RFC 5961)',
    aliases: ['challenge', 'challenge-acks', 'rfc5961', 'tcpchallengeack', 'ignored-in-window-resets'],
    summary:
      'Instead of trusting a RST or SYN whose sequence number is plausible but not exact, the kernel answers with an ACK that only the real peer can act on.',
    whatHappens: prose(
      s(
        'RFC 5961 hardens three checks. A RST is accepted only if its sequence number is exactly the next one',
        'expected; one that is merely inside the window gets a challenge ACK (§3). A SYN on an established',
        'connection, which the old rules treated as a reason to reset, also gets a challenge ACK (§4). Data',
        'whose acknowledgment number is implausible is dropped, with a challenge ACK too (§5). The challenge',
        'ACK is a plain ACK carrying the current sequence numbers: a genuine peer that meant to reset replies',
        'with a RST that now matches exactly; a blind attacker never sees it.',
      ),
      s(
        'A few challenge ACKs are normal: a peer that restarted and reconnects from the same port (a',
        'half-open connection), a RST crossing a FIN in flight, a middlebox that rewrites sequence numbers',
        'badly. A high rate points to forged resets or SYNs. Linux rate-limits them per socket',
        '(net.ipv4.tcp_invalid_ratelimit) and overall (net.ipv4.tcp_challenge_ack_limit, unlimited by default',
        'in current kernels); before 4.7 a single global limit let an attacker infer sequence numbers',
        '(CVE-2016-5696).',
      ),
    ),
    howRstwatchDetects: s(
      'Linux: TCPChallengeACK counts challenge ACKs sent, TCPSYNChallenge SYNs received on established',
      'connections, TCPACKSkippedChallenge challenge ACKs held back by the per-socket limit. FreeBSD:',
      'ignored-in-window-resets counts in-window RSTs with the wrong number (answered with a challenge ACK',
      'unless net.inet.tcp.insecure_rst=1). The usual ends of a half-open connection: a peer that no longer',
      'has the connection answers the challenge with a RST of reason NO_SOCKET (exact this time), a client',
      'reconnecting from the same port with reason TCP_INVALID_ACK_SEQUENCE. In a capture: an',
      'inexact RST or a SYN on a live connection, a pure ACK from the receiver, then a RST with the exact',
      'number (a genuine peer) or nothing (a forgery).',
    ),
    whatToDo: [
      'Watch the rate next to the other resets: `rstwatch status --watch` (group "RST validation (RFC 5961)"). Challenge ACKs with TCPSYNChallenge while clients reconnect are the half-open case; challenge ACKs with no other reset activity suggest forged segments (see rst-injection).',
      'See who sends the inexact RSTs or SYNs: `rstwatch capture -i any --duration 60s -w challenge.pcap`, then `rstwatch analyze challenge.pcap`.',
      'Keep the defaults: `sysctl net.ipv4.tcp_challenge_ack_limit net.ipv4.tcp_invalid_ratelimit`; on FreeBSD `sysctl net.inet.tcp.insecure_rst` must print 0.',
    ],
    counters: {
      linux: ['TCPChallengeACK', 'TCPSYNChallenge', 'TCPACKSkippedChallenge'],
      freebsd: ['ignored-in-window-resets'],
    },
    tracepointReasons: ['NO_SOCKET', 'TCP_INVALID_ACK_SEQUENCE'],
    seeAlso: ['rst-injection', 'half-open'],
  },
];

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Every topic, in reading order (what a reset is first). Frozen: copy before changing anything. */
export const TOPICS: readonly Topic[] = deepFreeze(TOPIC_LIST);

/** `Time_Wait`, ` time wait ` and `time-wait` are the same name. */
function normalize(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
}

const BY_NAME: ReadonlyMap<string, Topic> = new Map(
  TOPICS.flatMap((t) => [t.id, ...t.aliases].map((name) => [normalize(name), t] as const)),
);

/** The topic with this id or alias (case, spaces and underscores do not matter). */
export function findTopic(idOrAlias: string): Topic | undefined {
  return BY_NAME.get(normalize(idOrAlias));
}

/** Optimal string alignment distance: Levenshtein plus swapping two neighbours (`tiem` → `time`) as one. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** How many edits a typo may have: one for very short words, at most three. */
function allowedEdits(length: number): number {
  return length <= 3 ? 1 : length <= 5 ? 2 : 3;
}

const MAX_SUGGESTIONS = 5;

/**
 * Topic ids close to `text`, best first: an id or alias that starts with or contains it, or one within a
 * few edits of it (typos, swapped letters). Empty when nothing is close.
 */
export function suggestTopics(text: string): string[] {
  const q = normalize(text);
  if (q === '') return [];
  const best = new Map<string, number>();
  for (const t of TOPICS) {
    for (const name of [t.id, ...t.aliases]) {
      let score: number;
      if (name === q) score = 0;
      else if (q.length >= 2 && name.startsWith(q)) score = 0.5;
      else if (q.length >= 4 && name.includes(q)) score = 0.75;
      else {
        const d = editDistance(q, name);
        if (d > allowedEdits(q.length)) continue;
        score = d;
      }
      const prev = best.get(t.id);
      if (prev === undefined || score < prev) best.set(t.id, score);
    }
  }
  const order = new Map(TOPICS.map((t, i) => [t.id, i]));
  return [...best]
    .sort(([a, sa], [b, sb]) => sa - sb || order.get(a)! - order.get(b)!)
    .slice(0, MAX_SUGGESTIONS)
    .map(([id]) => id);
}
