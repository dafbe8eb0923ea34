#!/usr/bin/env python3
"""Raw TCP segments and pcap reading for scripts/scenarios/scn.py (standard library only, no scapy).

IPv4 raw sockets get our own TCP checksum; IPv6 raw sockets have the kernel compute it (IPV6_CHECKSUM,
RFC 3542 §3.1). In both the kernel adds the IP header, with the TTL / hop limit asked for.
"""
import socket
import struct
import time

FLAG_BITS = {'F': 1, 'S': 2, 'R': 4, 'P': 8, 'A': 16}


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def raw_socket(src, ttl=None):
    """A raw TCP socket bound to `src`; the kernel adds the IP header (TTL / hop limit as given)."""
    if ':' in src:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
        # The kernel computes the TCP checksum at offset 16 over the IPv6 pseudo-header (RFC 3542 §3.1).
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_CHECKSUM, 16)
        if ttl:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, int(ttl))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        if ttl:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, int(ttl))
    s.bind((src, 0))
    return s


def send_segment(src, dst, tcp, ttl=None, sock=None):
    """Sends a TCP header + payload (checksum field ignored and recomputed) from src to dst."""
    tcp = bytearray(tcp)
    tcp[16:18] = b'\0\0'
    if ':' not in src:
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
        tcp[16:18] = struct.pack('!H', csum(pseudo + bytes(tcp)))
    s = sock or raw_socket(src, ttl)
    s.sendto(bytes(tcp), (dst, 0))
    if sock is None:
        s.close()


def tcp_header(sport, dport, flags, seq, ack, win=64240):
    fl = 0
    for ch in flags:
        fl |= FLAG_BITS[ch]
    return struct.pack('!HHIIBBHHH', int(sport), int(dport), int(seq) & 0xFFFFFFFF, int(ack) & 0xFFFFFFFF,
                       5 << 4, fl, win, 0, 0)


def send_raw(src, sport, dst, dport, flags, seq, ack, win=64240, ttl=None, sock=None):
    send_segment(src, dst, tcp_header(sport, dport, flags, seq, ack, win), ttl, sock)


def sniff_ack(raw_rx, sport, dport, deadline_sec=5):
    """The ACK field of the next segment with payload from sport to dport, seen on an IPv4 raw socket."""
    deadline = time.time() + deadline_sec
    while time.time() < deadline:
        try:
            pkt = raw_rx.recv(65535)
        except socket.timeout:
            break
        ihl = (pkt[0] & 15) * 4
        sp, dp, _seq, a = struct.unpack('!HHII', pkt[ihl:ihl + 12])
        doff = (pkt[ihl + 12] >> 4) * 4
        if sp == sport and dp == dport and len(pkt) > ihl + doff:
            return a
    return None


def pcap_segments(path):
    """(src, sport, dst, dport, tcp bytes) of every TCP segment of a pcap file (Ethernet or Linux SLL2)."""
    with open(path, 'rb') as f:
        data = f.read()
    magic = struct.unpack('<I', data[:4])[0]
    end = '<' if magic in (0xA1B2C3D4, 0xA1B23C4D) else '>'
    link = struct.unpack(end + 'I', data[20:24])[0] & 0xFFFF
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + 'I', data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if link == 1:
            etype, l3 = struct.unpack('!H', frame[12:14])[0], 14
        elif link == 276:
            etype, l3 = struct.unpack('!H', frame[0:2])[0], 20
        else:
            continue
        ip = frame[l3:]
        if etype == 0x0800 and ip[9] == 6:
            ihl = (ip[0] & 15) * 4
            total = struct.unpack('!H', ip[2:4])[0]
            src, dst, tcp = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), ip[ihl:total]
        elif etype == 0x86DD and ip[6] == 6:
            plen = struct.unpack('!H', ip[4:6])[0]
            src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
            dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
            tcp = ip[40:40 + plen]
        else:
            continue
        if len(tcp) >= 20:
            sp, dp = struct.unpack('!HH', tcp[:4])
            yield src, sp, dst, dp, tcp
