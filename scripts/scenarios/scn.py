#!/usr/bin/env python3
"""Traffic programs for scripts/scenarios/make.sh, run inside the scenario network namespaces.

Every role is bounded in time (socket timeouts, fixed sleeps) and prints one status line per step, which
make.sh waits for. Servers and clients are ordinary kernel sockets; the few hand-made segments (spoofed RSTs,
the old duplicate, scans, backscatter) go through raw sockets built with the standard library only (no scapy):
rawtcp.py.

Usage: scn.py ROLE ARGS...   (see the `ROLES` table at the bottom)
"""
import errno
import random
import socket
import struct
import sys
import time

from rawtcp import pcap_segments, raw_socket, send_raw, send_segment, sniff_ack


def out(*a):
    print(*a, flush=True)


def fam(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def ename(e):
    return errno.errorcode.get(e, str(e))


def listener(host, port, backlog=8):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(backlog)
    s.settimeout(10)
    return s


def connect(host, port, timeout=5):
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, int(port)))
    return s


def recv_until_eof(c, limit=10):
    c.settimeout(limit)
    while True:
        try:
            d = c.recv(4096)
        except OSError as e:
            out('recv-error', ename(e.errno))
            return e.errno
        if not d:
            return 0


# ---------------------------------------------------------------- servers

def srv_echo(host, port):
    """Accept one connection, read one message, answer, then read until EOF/RST and close."""
    s = listener(host, port)
    out('ready')
    c, peer = s.accept()
    out('peer', peer[1])
    c.settimeout(5)
    c.recv(4096)
    c.sendall(b'pong\n')
    recv_until_eof(c)
    c.close()
    out('closed')
    time.sleep(30)


def srv_unread(host, port):
    """Accept one connection and close it while the client's data sits unread: the kernel sends RST instead
    of FIN (tcp_close: data_was_unread → tcp_send_active_reset, RFC 2525 §2.17)."""
    s = listener(host, port)
    out('ready')
    c, _ = s.accept()
    time.sleep(0.5)  # the client's data arrives and is ACKed, never read
    c.close()
    out('closed-unread')
    time.sleep(30)


def srv_hold(host, port):
    """Accept one connection, answer one message, then keep it open (the peer will go silent on us)."""
    s = listener(host, port)
    out('ready')
    c, _ = s.accept()
    c.settimeout(5)
    c.recv(4096)
    c.sendall(b'pong\n')
    out('answered')
    time.sleep(30)


def srv_backlog(host, port, defer_sec='5'):
    """Listen with backlog 1 and TCP_DEFER_ACCEPT, never accepting. The deferral makes the order
    deterministic: a child socket is made at the client's first data, not at its bare handshake ACK
    (tcp_check_req drops that ACK), so the client decides which connection finds the accept queue full."""
    s = socket.socket(fam(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, int(defer_sec))
    s.bind((host, int(port)))
    s.listen(1)
    out('ready')
    time.sleep(60)


def srv_listen_many(host, *ports):
    socks = [listener(host, int(p)) for p in ports]
    out('ready', len(socks))
    time.sleep(60)


def srv_spoof(host, port):
    """Accept one connection; after the client's first data, send a spoofed RST (our own 4-tuple, sequence
    number in the client's window but not exact) through a raw socket, then finish the exchange normally.
    The client's kernel answers the RST with a challenge ACK and keeps the connection (RFC 5961 §3.2,
    tcp_validate_incoming → tcp_send_challenge_ack)."""
    raw_rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw_rx.settimeout(5)
    s = listener(host, port)
    out('ready')
    c, peer = s.accept()
    c.settimeout(5)
    c.recv(4096)
    ack = sniff_ack(raw_rx, peer[1], int(port))  # the client's data segment acknowledges our SND.NXT
    if ack is None:
        out('no-data-seen')
        sys.exit(1)
    off = 1000  # inside the client's receive window (64 KiB and more), not exact
    send_raw(host, port, peer[0], peer[1], 'R', ack + off, 0)
    out('spoofed-rst', 'seq=rcv_nxt+%d' % off)
    time.sleep(0.3)  # the client's challenge ACK
    c.sendall(b'pong\n')
    recv_until_eof(c)
    c.close()
    out('closed')
    time.sleep(30)


def srv_inject(host, port, ttl='37', step='16000'):
    """Accept one connection and answer one message; then an 'attacker' (a raw socket in this namespace,
    spoofing our address with a different TTL) sends RSTs to the client with stepped sequence numbers:
    RCV.NXT + 3, 2, 1 steps (in window: challenge ACKs, rate-limited per socket by tcp_invalid_ratelimit),
    then RCV.NXT itself, which the client's kernel accepts (tcp_reset). Our own socket still believes in the
    connection: its next data is answered by the client's kernel with a bare RST (no socket any more)."""
    raw_rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    raw_rx.settimeout(5)
    s = listener(host, port)
    out('ready')
    c, peer = s.accept()
    c.settimeout(5)
    c.recv(4096)
    ack = sniff_ack(raw_rx, peer[1], int(port))
    if ack is None:
        out('no-data-seen')
        sys.exit(1)
    pong = b'pong\n'
    c.sendall(pong)
    rcv_nxt = ack + len(pong)  # the client's RCV.NXT for us once the answer is in
    time.sleep(0.2)
    atk = raw_socket(host, ttl)
    for k in (3, 2, 1, 0):
        send_raw(host, port, peer[0], peer[1], 'R', rcv_nxt + k * int(step), 0, win=0, sock=atk)
        time.sleep(0.05)
    out('injected', 4, 'ttl', ttl)
    time.sleep(0.3)
    try:
        c.sendall(b'late\n')
        c.recv(4096)
        out('late-answer?!')
    except OSError as e:
        out('late-data', ename(e.errno))
    c.close()
    time.sleep(30)


# ---------------------------------------------------------------- clients

def cli_refused(host, port):
    try:
        connect(host, port)
        out('connected?!')
        sys.exit(1)
    except ConnectionRefusedError:
        out('refused')


def cli_abort(host, port):
    """Data both ways, then SO_LINGER {1, 0} and close: the kernel sends RST instead of FIN
    (tcp_close → tcp_disconnect → tcp_send_active_reset)."""
    s = connect(host, port)
    s.sendall(b'ping\n')
    s.recv(4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
    out('aborted')


def cli_unread(host, port):
    """Send data the server never reads; the server's close answers with RST."""
    s = connect(host, port)
    s.sendall(b'x' * 100)
    time.sleep(0.1)
    s.sendall(b'y' * 100)
    s.settimeout(3)
    try:
        d = s.recv(4096)
        out('recv', len(d))
    except ConnectionResetError:
        out('reset-by-server')
    time.sleep(30)


def cli_keepalive(host, port):
    """Aggressive keepalive (1 s idle, 1 s interval, 3 probes); the peer then goes silent. After the third
    unanswered probe the kernel sends RST+ACK and reports ETIMEDOUT (tcp_keepalive_timer →
    tcp_send_active_reset, reason TCP_KEEPALIVE_TIMEOUT)."""
    s = connect(host, port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    s.sendall(b'ping\n')
    s.recv(4096)
    out('established')
    # make.sh now blackholes us on the peer side; wait for the keepalive verdict.
    s.settimeout(20)
    try:
        d = s.recv(4096)
        out('recv', len(d))
    except OSError as e:
        out('keepalive-error', ename(e.errno))
    time.sleep(30)


def cli_overflow(host, port, wait_sec='1'):
    """Three connections to a backlog-1 TCP_DEFER_ACCEPT listener that never accepts. A's and B's first data
    make the two children the queue holds (sk_acceptq_is_full: more than backlog); C's data then finds it
    full (tcp_check_req → listen_overflow): RST at once with tcp_abort_on_overflow=1, else dropped."""
    def conn():
        s = connect(host, port)
        s.setblocking(False)
        return s
    a = conn()
    a.send(b'hello a\n')
    time.sleep(0.05)
    b, c = conn(), conn()
    time.sleep(0.05)
    b.send(b'hello b\n')
    time.sleep(0.05)
    c.send(b'hello c\n')
    deadline = time.time() + float(wait_sec)
    res = {}
    while time.time() < deadline:
        for name, s in (('a', a), ('b', b), ('c', c)):
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e and name not in res:
                res[name] = ename(e)
        if 'c' in res:
            break
        time.sleep(0.05)
    out('done', ' '.join('%s=%s' % (n, res.get(n, 'ok')) for n in 'abc'))
    time.sleep(60)  # keep the sockets open until make.sh stops the capture


def cli_tw(host, port):
    """Normal exchange, the client closes first (it ends in TIME-WAIT)."""
    s = connect(host, port)
    s.sendall(b'ping\n')
    s.recv(4096)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(5)
    s.recv(4096)  # the server's FIN
    out('local-port', s.getsockname()[1])
    s.close()
    out('closed')


def cli_hold(host, port):
    """Send one message, read the answer, then wait for more until EOF or an error."""
    s = connect(host, port)
    s.sendall(b'ping\n')
    s.settimeout(5)
    d = s.recv(4096)
    out('recv', len(d))
    try:
        d = s.recv(4096)
        out('eof' if not d else 'recv-more')
    except OSError as e:
        out('recv-error', ename(e.errno))
    time.sleep(30)


def cli_spoof(host, port):
    s = connect(host, port)
    s.sendall(b'ping\n')
    s.settimeout(5)
    d = s.recv(4096)
    out('recv', len(d))
    s.close()
    out('closed')


# ---------------------------------------------------------------- crafted traffic

def replay(pcap, src, sport, dst, dport):
    """Sends again, verbatim, the last data segment from src:sport to dst:dport found in a capture file: an
    old duplicate (RFC 1337 hazard H1). A TIME-WAIT socket answers it with an ACK (tcp_timewait_state_process,
    out-of-window → TCP_TW_ACK)."""
    last = None
    for s, sp, d, dp, tcp in pcap_segments(pcap):
        doff = (tcp[12] >> 4) * 4
        if s == src and sp == int(sport) and d == dst and dp == int(dport) and len(tcp) > doff:
            last = tcp
    if last is None:
        out('no-segment-found')
        sys.exit(1)
    send_segment(src, dst, last)
    out('replayed', len(last), 'bytes')


def syn_scan(src, sport, dst, first, count):
    """One source port, `count` destination ports: raw SYNs (no socket, so our kernel RSTs any SYN-ACK)."""
    rnd = random.Random(99)
    sock = raw_socket(src)
    for p in range(int(first), int(first) + int(count)):
        send_raw(src, sport, dst, p, 'S', rnd.getrandbits(32), 0, win=1024, sock=sock)
        time.sleep(0.01)
    time.sleep(0.3)
    out('scanned', count)


def rst_scan(src, sport, dst, first, count):
    """One source port, `count` destination ports: bare RSTs with random sequence numbers. The target's
    kernel drops a RST for which it has no socket without answering (tcp_v4_rcv no_tcp_socket, RFC 9293
    §3.10.7.1), open or closed port alike."""
    rnd = random.Random(7)
    sock = raw_socket(src)
    for p in range(int(first), int(first) + int(count)):
        send_raw(src, sport, dst, p, 'R', rnd.getrandbits(32), 0, win=0, sock=sock)
        time.sleep(0.01)
    time.sleep(0.3)
    out('rst-scanned', count)


def backscatter(src, sport, dst, count):
    """Unsolicited SYN-ACKs (what a SYN-flood victim sends to the spoofed sources): the target RSTs them."""
    rnd = random.Random(1337)
    sock = raw_socket(src)
    for _ in range(int(count)):
        send_raw(src, sport, dst, rnd.randrange(20000, 60000), 'SA', rnd.getrandbits(32), rnd.getrandbits(32),
                 sock=sock)
        time.sleep(0.01)
    time.sleep(0.3)
    out('backscattered', count)


ROLES = {
    'srv-echo': srv_echo, 'srv-unread': srv_unread, 'srv-hold': srv_hold, 'srv-backlog': srv_backlog,
    'srv-listen-many': srv_listen_many, 'srv-spoof': srv_spoof, 'srv-inject': srv_inject,
    'cli-refused': cli_refused, 'cli-abort': cli_abort, 'cli-unread': cli_unread, 'cli-keepalive': cli_keepalive,
    'cli-overflow': cli_overflow, 'cli-tw': cli_tw, 'cli-hold': cli_hold, 'cli-spoof': cli_spoof,
    'replay': replay, 'syn-scan': syn_scan, 'rst-scan': rst_scan, 'backscatter': backscatter,
}

if __name__ == '__main__':
    if len(sys.argv) < 2 or sys.argv[1] not in ROLES:
        sys.exit('usage: scn.py ROLE ARGS...; roles: ' + ' '.join(sorted(ROLES)))
    ROLES[sys.argv[1]](*sys.argv[2:])
