/*
 * synflood: a bounded, paced generator of TCP SYNs for the attribution bench (bench/attribution-cost.mjs).
 *
 * It sends pre-built SYNs on a raw IPv4 socket (IPPROTO_TCP: the kernel writes the IP header, we write the
 * TCP header and its checksum) from SRC to DST:DPORT, cycling through SPORTS source ports from SPORT_BASE.
 * Run inside the bench's own network namespace, from and to an address of its loopback, to a port where
 * nothing listens: the kernel answers each SYN with one RST (tcp_v4_send_reset, reason NO_SOCKET), counts it
 * in the namespace's OutRsts and traces it with tcp:tcp_send_reset; that RST reaches no socket and is not
 * answered (RFC 793 §3.4: a RST is never sent in response to a RST).
 *
 * Why C: the python generator spends ~25 µs of interpreter per packet and saturates both cores of the bench
 * machine at ~38k SYN/s; here one sendmmsg(2) hands BATCH datagrams to the kernel per system call and the
 * per-packet cost left is the kernel's own (raw send, loopback, tcp_v4_rcv, the RST and its tracepoint).
 *
 * Pacing: batch k is due at t0 + k·BATCH/RATE on CLOCK_MONOTONIC (an absolute schedule, so sleep overshoot
 * does not accumulate: a late batch is followed at once by the next one until the schedule is met). It stops
 * at whichever comes first: SECONDS elapsed, COUNT packets sent, SIGINT/SIGTERM, or an alarm a few seconds
 * after SECONDS (a safety net if a send ever blocked). It prints one JSON line on stdout with what it sent.
 *
 * Usage: synflood SRC DST DPORT RATE SECONDS COUNT SPORT_BASE [SPORTS [BATCH]]
 *   RATE     packets per second (1 .. 10 000 000)     SECONDS  duration bound (0 < s ≤ 3600)
 *   COUNT    packet bound (1 .. 10^10)                 SPORTS   distinct source ports (1 .. 65535; 4096)
 *   BATCH    datagrams per sendmmsg (1 .. 1024; 64; smaller at low rates so a batch spans ≤ ~1 ms)
 * Exit status: 0 done, 2 bad arguments, 3 socket/send error (message on stderr).
 *
 * Our own code (no borrowed source); the checksum is RFC 1071's one's-complement sum over the RFC 793
 * pseudo-header and the TCP header.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TCP_HDR_BYTES 20

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void usage_error(const char *what, const char *value) {
    fprintf(stderr,
            "synflood: bad argument %s: '%s'\n"
            "usage: synflood SRC DST DPORT RATE SECONDS COUNT SPORT_BASE [SPORTS [BATCH]]\n",
            what, value);
    exit(2);
}

/* A whole decimal number within [lo, hi], or exit 2 naming the argument (no silent strtol clamping). */
static long long parse_int(const char *what, const char *s, long long lo, long long hi) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) usage_error(what, s);
    return v;
}

static double parse_seconds(const char *s) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 3600) usage_error("SECONDS", s);
    return v;
}

static struct in_addr parse_addr(const char *what, const char *s) {
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) usage_error(what, s);
    return a;
}

/* RFC 1071: 16-bit one's-complement sum, folded. Input in network byte order, even length. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc) {
    for (size_t i = 0; i + 1 < len; i += 2) acc += (uint32_t)((p[i] << 8) | p[i + 1]);
    return acc;
}

static uint16_t fold(uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

/* One SYN: 20-byte TCP header, no options, window 65535, checksum over the pseudo-header (RFC 793 §3.1). */
static void build_syn(uint8_t *h, struct in_addr src, struct in_addr dst, uint16_t sport, uint16_t dport,
                      uint32_t seq) {
    memset(h, 0, TCP_HDR_BYTES);
    h[0] = (uint8_t)(sport >> 8);
    h[1] = (uint8_t)sport;
    h[2] = (uint8_t)(dport >> 8);
    h[3] = (uint8_t)dport;
    h[4] = (uint8_t)(seq >> 24);
    h[5] = (uint8_t)(seq >> 16);
    h[6] = (uint8_t)(seq >> 8);
    h[7] = (uint8_t)seq;
    h[12] = 5 << 4; /* data offset: 5 words */
    h[13] = 0x02;   /* SYN */
    h[14] = 0xff;   /* window 65535 */
    h[15] = 0xff;
    uint8_t pseudo[12];
    memcpy(pseudo, &src.s_addr, 4);
    memcpy(pseudo + 4, &dst.s_addr, 4);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_TCP;
    pseudo[10] = 0;
    pseudo[11] = TCP_HDR_BYTES;
    uint16_t c = fold(sum16(h, TCP_HDR_BYTES, sum16(pseudo, sizeof pseudo, 0)));
    h[16] = (uint8_t)(c >> 8);
    h[17] = (uint8_t)c;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    /* EINTR (a signal) just returns: the loop re-checks stop_flag. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int main(int argc, char **argv) {
    if (argc < 8 || argc > 10) usage_error("count", argc < 8 ? "too few" : "too many");
    struct in_addr src = parse_addr("SRC", argv[1]);
    struct in_addr dst = parse_addr("DST", argv[2]);
    uint16_t dport = (uint16_t)parse_int("DPORT", argv[3], 1, 65535);
    long long rate = parse_int("RATE", argv[4], 1, 10000000);
    double seconds = parse_seconds(argv[5]);
    long long max_count = parse_int("COUNT", argv[6], 1, 10000000000LL);
    long long sport_base = parse_int("SPORT_BASE", argv[7], 1, 65535);
    long long sports = argc > 8 ? parse_int("SPORTS", argv[8], 1, 65535) : 4096;
    long long batch = argc > 9 ? parse_int("BATCH", argv[9], 1, 1024) : 64;
    if (sport_base + sports - 1 > 65535) usage_error("SPORT_BASE+SPORTS", argv[7]);
    /* A batch spans at most ~1 ms of the schedule, so low rates are not sent in visible bursts. */
    long long per_ms = rate / 1000;
    if (per_ms < 1) per_ms = 1;
    if (batch > per_ms) batch = per_ms;

    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
    if (fd < 0) {
        fprintf(stderr, "synflood: raw socket: %s (needs CAP_NET_RAW)\n", strerror(errno));
        return 3;
    }

    /* Every packet and its message header are built once; a batch is a window into these arrays, so the
       send loop does no per-packet work at all. The ring has a whole number of batches (≥ SPORTS). */
    size_t ring = (size_t)(((sports + batch - 1) / batch) * batch);
    uint8_t *pkts = calloc(ring, TCP_HDR_BYTES);
    struct iovec *iov = calloc(ring, sizeof *iov);
    struct mmsghdr *msgs = calloc(ring, sizeof *msgs);
    if (!pkts || !iov || !msgs) {
        fprintf(stderr, "synflood: out of memory for %zu packets\n", ring);
        return 3;
    }
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr = dst;
    for (size_t i = 0; i < ring; i++) {
        uint16_t sport = (uint16_t)(sport_base + (long long)(i % (size_t)sports));
        build_syn(pkts + i * TCP_HDR_BYTES, src, dst, sport, dport, 12345u + (uint32_t)i);
        iov[i].iov_base = pkts + i * TCP_HDR_BYTES;
        iov[i].iov_len = TCP_HDR_BYTES;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)seconds + 5);

    long long sent = 0;
    long long send_errors = 0; /* ENOBUFS/EAGAIN: the kernel refused a datagram (retried, not counted) */
    long long late_batches = 0; /* batches sent after their due time (the machine could not keep up) */
    size_t pos = 0;
    const double t0 = now_seconds();
    const double t_end = t0 + seconds;
    double t = t0;
    while (!stop_flag && sent < max_count) {
        double due = t0 + (double)sent / (double)rate;
        if (due >= t_end) break;
        t = now_seconds();
        if (t >= t_end) break;
        if (due > t) {
            sleep_until(due);
            continue; /* re-check the stop conditions after the sleep */
        }
        if (t - due > 0.001) late_batches++;
        long long want = batch;
        if (want > max_count - sent) want = max_count - sent;
        if ((size_t)want > ring - pos) want = (long long)(ring - pos);
        int n = sendmmsg(fd, &msgs[pos], (unsigned)want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS || errno == EAGAIN) {
                send_errors++;
                sleep_until(now_seconds() + 0.0001);
                continue;
            }
            fprintf(stderr, "synflood: sendmmsg: %s\n", strerror(errno));
            close(fd);
            return 3;
        }
        sent += n;
        pos = (pos + (size_t)n) % ring;
    }
    double elapsed = now_seconds() - t0;
    close(fd);
    /* Our CPU time includes the kernel's work done in our context: on loopback the SYN's receive, the RST
       and its tracepoint run in the softirq raised by our own send (dev_queue_xmit → loopback_xmit →
       netif_rx, processed at local_bh_enable), charged to us as system time. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"sent\":%lld,\"seconds\":%.6f,\"cpuSeconds\":%.3f,\"rate\":%lld,\"batch\":%lld,"
           "\"lateBatches\":%lld,\"sendErrors\":%lld}\n",
           sent, elapsed, cpu, rate, batch, late_batches, send_errors);
    return 0;
}
