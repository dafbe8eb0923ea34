/*
 * rstwatch's native analysis engine (Node-API, C11): the hot path of `rstwatch analyze` in one pass —
 * classic pcap records, the common frames (Ethernet + IPv4/IPv6 + TCP, as src/packet/decode.ts
 * simpleEthernet), the flow table (src/analyze/flows.ts) and the per-segment processing (segment.ts,
 * conn-state.ts, seq.ts) — on the very records the TypeScript code reads and writes (flow-record.ts and
 * reset-pool.ts layouts), so that everything around it (the reader's error handling, the classification,
 * the report) stays in TypeScript and the result is the same byte for byte.
 *
 * The TypeScript implementation is the reference: every function here says which one it follows, and
 * test/unit/native-engine.test.ts compares whole reports from both on the fixtures, the tcpdump corpus and
 * random inputs. A frame this code does not decode (another link type, VLAN, fragments, tunnels, …) is
 * handed back to TypeScript (decodeFrameAt), which feeds the decoded segment in again (engineObserve).
 *
 * Why (docs/benchmarks.md, part 7, round 4): in JavaScript the tracking alone cost ~3 s of CPU on the 1 GB
 * benchmark capture, split over two threads; the targets (tcpdump's wall time, 50× tshark) need it at a
 * fraction of that, and a hand-off between threads per segment already cost most of the reading thread.
 *
 * Numbers: every sequence number is kept as int32 in the records, as the TypeScript does; arithmetic on
 * them is done in uint32 and converted (the JavaScript `(a - b) | 0`). Values the TypeScript keeps as
 * JavaScript numbers (unsigned sequence numbers, -1 for "none", times) are doubles here.
 */

#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise() and MADV_HUGEPAGE */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/mman.h>

/* ---- layout: flow-record.ts (checked against the TypeScript values at creation) ---- */
enum {
  F_HASH = 0, F_V = 1, F_A0 = 2, F_A1 = 3, F_A2 = 4, F_A3 = 5, F_B0 = 6, F_B1 = 7, F_B2 = 8, F_B3 = 9,
  F_PA = 10, F_PB = 11, F_ORIG_IS_A = 12, F_ORIG_EP = 13, F_HANDSHAKE = 14, F_FLIPS = 15, F_HIST_SEEN = 16,
  F_HIST_LEN = 17, F_PENDING = 18, F_PENDING_RCV = 19, F_PENDING_ACK = 20, F_RESET_HEAD = 21,
  F_RESET_TAIL = 22, F_NRESETS = 23, F_KEPT0 = 24, F_DROPPED0 = 26,
  E_STATE = 0, E_PREV_STATE = 1, E_START_SEQ = 2, E_LAST_SEQ = 3, E_ACK_SEQ = 4, E_HIST_LAST_SYN = 5,
  E_HIST_LAST_FIN = 6, E_HIST_LAST_RST = 7, E_FIN_CNT = 8, E_RST_CNT = 9, E_DID_CLOSE = 10, E_RXMT_CNT = 11,
  E_RXMT_THRESH = 12, E_WIN0_CNT = 13, E_WIN0_THRESH = 14, E_GAP_CNT = 15, E_GAP_THRESH = 16, E_SYNS = 17,
  E_ISN = 18, E_NEXT_SEQ = 19, E_HAS_NEXT = 20, E_RAW_WINDOW = 21, E_WINDOW_ON_SYN = 22, E_MSS = 23,
  E_WSCALE = 24, E_SACK = 25, E_TIMESTAMPS = 26, E_ACKED_UNSEEN = 27, E_KEEPALIVE = 28, E_SYN_RETX = 29,
  E_SYNACK_RETX = 30, E_SENT_SYN = 31, E_SENT_SYNACK = 32, E_TTL_MIN = 33, E_TTL_MAX = 34, E_LAST_TTL = 35,
  E_LAST_IPID = 36, E_LAST_TSVAL = 37, E_LAST_HAS_TS = 38,
  E_STRIDE = 40, E_BASE = 28, I_STRIDE = 28 + 2 * 40,
  D_ID = 0, D_START = 1, D_LAST = 2, D_FIRST_FRAME = 3, D_LAST_FRAME = 4, D_PENDING_DEADLINE = 5,
  DE_FIRST_TIME = 0, DE_LAST_TIME = 1, DE_PACKETS = 2, DE_NON_RST = 3, DE_PAYLOAD = 4, DE_STRIDE = 5,
  DE_BASE = 6, D_STRIDE = 6 + 2 * 5,
  HIST_CAP = 24
};

/* ---- reset-pool.ts ---- */
enum {
  R_NEXT = 0, R_SENDER = 1, R_SEQ = 2, R_ACK = 3, R_FLAGS = 4, R_PAYLOAD = 5, R_JUDGMENT = 6,
  R_EXPECTED = 7, R_HAS_EXPECTED = 8, R_OFFSET = 9, R_WINDOW = 10, R_CHALLENGE = 11, R_SND_STATE = 12,
  R_RCV_STATE = 13, R_AFTER_FINS = 14, R_TTL = 15, R_IPID = 16, R_HAS_TS = 17, R_TSVAL = 18,
  R_PREV_TTL = 19, R_PREV_IPID = 20, R_PREV_HAS_TS = 21, R_PREV_TSVAL = 22, R_PREV_TTL_MIN = 23,
  R_PREV_TTL_MAX = 24, R_KEEPALIVE = 25, R_STRIDE = 26,
  RD_FRAME = 0, RD_TIME = 1, RD_CHALLENGE_FRAME = 2, RD_IDLE = 3, RD_PREV_PACKETS = 4, RD_STRIDE = 5,
  MAX_RESETS_PER_SIDE = 32, MAX_POOL_ENTRIES = 262144
};

/* words of one RST in an item (held_words): its int fields, then its doubles as two words each */
#define RES_WORDS (R_STRIDE + 2 * RD_STRIDE)
/* A connection's item at most: it records at most MAX_RESETS_PER_SIDE RSTs per side (the exchange area's size) */
#define HELD_WORDS_MAX (1 + I_STRIDE + 2 * D_STRIDE + HIST_CAP + 2 + 2 * MAX_RESETS_PER_SIDE * RES_WORDS)

/* ---- conn-state.ts ---- */
enum { EP_INACTIVE = 0, EP_SYN_SENT = 1, EP_SYN_ACK_SENT = 2, EP_PARTIAL = 3, EP_ESTABLISHED = 4,
       EP_CLOSED = 5, EP_RESET = 6 };
enum { HIST_SYN = 0x1, HIST_FIN = 0x2, HIST_RST = 0x4, HIST_FIN_RST = 0x8, HIST_DATA = 0x10,
       HIST_ACK = 0x20, HIST_MULTI = 0x40 };
#define TOO_LARGE_SEQ_DELTA 1048576
enum { T_FIN = 1, T_SYN = 2, T_RST = 4, T_ACK = 0x10, CONTROL = 7 };
enum { CH_S = 0x53, CH_H = 0x48, CH_F = 0x46, CH_R = 0x52, CH_D = 0x44, CH_A = 0x41, CH_Q = 0x51,
       CH_I = 0x49, CH_T = 0x54, CH_W = 0x57, CH_G = 0x47, CH_FLIP = 0x5e };
/* Why a flow left (held.ts CLOSED_BY). */
enum { WHY_FINISHED = 0, WHY_IDLE = 1, WHY_EVICTED = 2, WHY_REUSED = 3, WHY_END = 4 };

/* The layout values the TypeScript passes, in this order (native.ts LAYOUT). */
static const int32_t LAYOUT[] = { I_STRIDE, D_STRIDE, HIST_CAP, R_STRIDE, RD_STRIDE, F_NRESETS, E_LAST_HAS_TS,
                                  DE_PAYLOAD, R_KEEPALIVE, RD_PREV_PACKETS, MAX_RESETS_PER_SIDE,
                                  MAX_POOL_ENTRIES, 12 /* layout and interface version */ };
#define LAYOUT_N ((int)(sizeof(LAYOUT) / sizeof(LAYOUT[0])))

/* Bulk statistics (analyze.ts onPacket, for the frames decoded here), in the order native.ts reads them. */
enum { S_TCP, S_FIRST, S_LAST, S_TRUNCATED, S_MALFORMED, S_RSTS, S_RST4, S_RST6, S_RST_ACK, S_RST_BARE,
       S_PACKETS, S_BYTES, S_USED, S_AHEAD, S_N };
/* Table statistics (FlowTableStats) plus the connections that left. */
enum { T_FLOWS, T_ACTIVE, T_EVICTED, T_EXPIRED, T_REUSED, T_PACKETS, T_RESETS, T_LEFT, T_N };

/*
 * The RST tallies of analyze.ts (aggregate.ts BoundedCounter for senders, receivers and pairs, SecondsHistogram
 * for the timeline), kept here with the same rules so that the reading thread does not call TypeScript for
 * every RST (~35 ms of the 1 GB benchmark capture); TypeScript reads them back at the end (tallies()).
 * A key is the address words (IPv4: word 0 only), as the address cache names them.
 */
typedef struct {
  int nk;             /* words per key: 5 (v, address) or 9 (v, sender, receiver) */
  uint32_t cap, size; /* slots (a power of two), keys held */
  uint32_t max_keys;  /* BoundedCounter.maxKeys */
  int32_t *keys;
  uint32_t *hashes;
  double *counts; /* 0: a free slot */
  double dropped;
} Counter;

typedef struct {
  uint32_t cap, size, max_keys;
  double width; /* seconds per bucket: 1, doubling when more than max_keys buckets */
  double *secs;
  double *counts; /* 0: a free slot */
} Histogram;

typedef struct {
  int v;
  uint32_t src[4], dst[4];
  uint32_t sp, dp, seq, ack, tsval;
  int flags, window, len, ttl, ipid, mss, wscale, sack, has_ts;
} Pkt;

/*
 * What this addon hands to JavaScript as externals starts with a tag of its kind, so that one is never taken
 * for another (an engine passed where a classifier is wanted, say): a bad argument, not a crash.
 */
enum { TAG_ENGINE = 0x454e4731, TAG_CLASSIFIER = 0x434c5331, TAG_READER = 0x52454431 };

struct ReadAhead;

typedef struct Engine {
  uint32_t tag; /* TAG_ENGINE */
  /* the records, shared with TypeScript */
  int32_t *I;
  double *D;
  uint8_t *H;
  /* the exchange area: a leaving flow's RSTs, copied for TypeScript (MAX_RESETS_PER_SIDE * 2 entries) */
  int32_t *XI;
  double *XD;
  /* RST tallies: by sender, by receiver, by pair, by second */
  Counter talk[3];
  Histogram seconds;
  /* statistics */
  double *S;
  double *T;
  /* the reset pool (native memory) */
  int32_t *R;
  double *RD;
  int32_t pool_cap, pool_used, pool_free;
  /* the index and the LRU list (flows.ts) */
  int32_t max_flows;
  int32_t *buckets;
  uint32_t mask;
  int32_t *prev, *next, *free_slots;
  int32_t free_top;
  uint8_t *used, *spilled;
  int32_t head, tail, tail_slot;
  double tail_last;
  double idle_timeout, est_idle_timeout, closed_timeout, min_timeout, challenge_sec, close_delay;
  /* TypeScript's own: a new flow's record (flow-record.ts FRESH_I/FRESH_D), the likely server ports (flows.ts) */
  const int32_t *fresh_i;
  const double *fresh_d;
  const uint8_t *server_ports;
  double now;
  double next_id;
  /* callbacks into TypeScript (valid during a call only: env) */
  napi_env env;
  napi_ref refs[16];
  int nrefs;
  napi_ref cb_held, cb_attempt, cb_spill;
  /* the item ring to the classification worker (item-ring.ts), when there is one */
  int32_t *ring;
  int32_t *ring_ctl;
  uint32_t ring_mask;
  uint32_t ring_tail;
  napi_ref cb_full;
  /* the native classifier, when the connections are classified in this thread (classify.c) */
  struct Cls *cls;
  /* the read-ahead thread decoding records for js_pcap (readahead.c), while it reads */
  struct ReadAhead *ra;
  /* one connection's item being written (ring_held) */
  int32_t item[HELD_WORDS_MAX];
  int failed; /* a callback threw: stop, the exception goes up */
  int released; /* destroy() ran: every call is refused */
} Engine;

/* ---------------------------------------------------------------------------------------------------- */
/* callbacks */

static void call_js(Engine *e, napi_ref ref, int argc, const double *args) {
  if (e->failed) return;
  napi_env env = e->env;
  napi_value fn, recv, argv[4], result;
  napi_get_reference_value(env, ref, &fn);
  napi_get_undefined(env, &recv);
  for (int i = 0; i < argc; i++) napi_create_double(env, args[i], &argv[i]);
  if (napi_call_function(env, recv, fn, argc, argv, &result) != napi_ok) e->failed = 1;
}

/* ---- RST tallies (aggregate.ts) ---- */

static inline uint32_t fmix(uint32_t h);

static uint32_t key_hash(const int32_t *k, int nk) {
  uint32_t h = 0x811c9dc5U;
  for (int i = 0; i < nk; i++) h = (h ^ (uint32_t)k[i]) * 0x01000193U;
  return fmix(h);
}

/* free slots are those with count 0; counts start at 1 */
static void counter_alloc(Counter *c, uint32_t cap) {
  c->cap = cap;
  c->keys = malloc(sizeof(int32_t) * (size_t)c->nk * cap);
  c->hashes = malloc(sizeof(uint32_t) * cap);
  c->counts = calloc(cap, sizeof(double));
  if (!c->keys || !c->hashes || !c->counts) abort();
}

static void counter_put(Counter *c, const int32_t *k, uint32_t h, double n) {
  uint32_t mask = c->cap - 1;
  uint32_t i = h & mask;
  while (c->counts[i] != 0) i = (i + 1) & mask;
  memcpy(c->keys + (size_t)i * c->nk, k, sizeof(int32_t) * (size_t)c->nk);
  c->hashes[i] = h;
  c->counts[i] = n;
  c->size++;
}

/* the same keys in a table of `cap` slots, those counted more than `above` (all: 0) */
static void counter_rebuild(Counter *c, uint32_t cap, double above) {
  Counter old = *c;
  c->size = 0;
  counter_alloc(c, cap);
  for (uint32_t i = 0; i < old.cap; i++)
    if (old.counts[i] != 0 && old.counts[i] > above)
      counter_put(c, old.keys + (size_t)i * old.nk, old.hashes[i], old.counts[i]);
  free(old.keys);
  free(old.hashes);
  free(old.counts);
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

/*
 * BoundedCounter.prune: the keys counted at or below the median count go (at least the median's own key:
 * its count is the median, so TypeScript's fallback — the first key when none went — never applies).
 */
static void counter_prune(Counter *c) {
  double *v = malloc(sizeof(double) * (c->size ? c->size : 1));
  if (v == NULL) abort();
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->cap; i++)
    if (c->counts[i] != 0) v[n++] = c->counts[i];
  qsort(v, n, sizeof(double), cmp_double);
  double median = n ? v[n >> 1] : 0;
  free(v);
  uint32_t before = c->size;
  counter_rebuild(c, c->cap, median);
  c->dropped += before - c->size;
}

/* BoundedCounter.add(key) */
static void counter_add(Counter *c, const int32_t *k) {
  uint32_t h = key_hash(k, c->nk);
  uint32_t mask = c->cap - 1;
  for (uint32_t i = h & mask; c->counts[i] != 0; i = (i + 1) & mask) {
    if (c->hashes[i] == h && memcmp(c->keys + (size_t)i * c->nk, k, sizeof(int32_t) * (size_t)c->nk) == 0) {
      c->counts[i] += 1;
      return;
    }
  }
  if (c->size >= c->max_keys) counter_prune(c);
  /* at most half full: max_keys + 1 keys fit a table of 2 (max_keys + 1) slots */
  if ((c->size + 1) * 2 > c->cap) counter_rebuild(c, c->cap * 2, 0);
  counter_put(c, k, h, 1);
}

static uint32_t sec_hash(double s) {
  uint64_t b;
  memcpy(&b, &s, sizeof b);
  return fmix((uint32_t)b ^ (uint32_t)(b >> 32));
}

static void histogram_alloc(Histogram *m, uint32_t cap) {
  m->cap = cap;
  m->secs = malloc(sizeof(double) * cap);
  m->counts = calloc(cap, sizeof(double));
  if (!m->secs || !m->counts) abort();
}

static void histogram_put(Histogram *m, double sec, double n) {
  uint32_t mask = m->cap - 1;
  uint32_t i = sec_hash(sec) & mask;
  for (; m->counts[i] != 0; i = (i + 1) & mask)
    if (m->secs[i] == sec) {
      m->counts[i] += n;
      return;
    }
  m->secs[i] = sec;
  m->counts[i] = n;
  m->size++;
}

/* the buckets again, each second s at floor(s / width) · width (width as it is now) */
static void histogram_rebuild(Histogram *m, uint32_t cap) {
  Histogram old = *m;
  m->size = 0;
  histogram_alloc(m, cap);
  for (uint32_t i = 0; i < old.cap; i++)
    if (old.counts[i] != 0) histogram_put(m, floor(old.secs[i] / m->width) * m->width, old.counts[i]);
  free(old.secs);
  free(old.counts);
}

/* SecondsHistogram.add(sec) */
static void histogram_add(Histogram *m, double sec) {
  double k = m->width == 1 ? sec : floor(sec / m->width) * m->width;
  if ((m->size + 1) * 2 > m->cap) histogram_rebuild(m, m->cap * 2);
  histogram_put(m, k, 1);
  if (m->size > m->max_keys) {
    m->width *= 2;
    histogram_rebuild(m, m->cap);
  }
}

/* analyze.ts tallyRst: one RST from address a to address b (words), in second `sec` */
static void tally_rst(Engine *e, int v, const uint32_t *a, const uint32_t *b, double sec) {
  int32_t k[9];
  int v6 = v == 6;
  k[0] = v6 ? 6 : 4;
  for (int i = 0; i < 4; i++) {
    k[1 + i] = i == 0 || v6 ? (int32_t)a[i] : 0;
    k[5 + i] = i == 0 || v6 ? (int32_t)b[i] : 0;
  }
  int32_t r[5] = { k[0], k[5], k[6], k[7], k[8] };
  counter_add(&e->talk[0], k);
  counter_add(&e->talk[1], r);
  counter_add(&e->talk[2], k);
  histogram_add(&e->seconds, sec);
}

static void tallies_free(Engine *e) {
  for (int i = 0; i < 3; i++) {
    free(e->talk[i].keys);
    free(e->talk[i].hashes);
    free(e->talk[i].counts);
    e->talk[i].keys = NULL;
    e->talk[i].hashes = NULL;
    e->talk[i].counts = NULL;
  }
  free(e->seconds.secs);
  free(e->seconds.counts);
  e->seconds.secs = e->seconds.counts = NULL;
}

/* ---------------------------------------------------------------------------------------------------- */
/* flow-record.ts FlowStore */

static inline int32_t *ep_at(Engine *e, int slot, int phys) {
  return e->I + (size_t)slot * I_STRIDE + E_BASE + phys * E_STRIDE;
}
static inline double *dep_at(Engine *e, int slot, int phys) {
  return e->D + (size_t)slot * D_STRIDE + DE_BASE + phys * DE_STRIDE;
}

static void add_letter(Engine *e, int slot, int code, int is_orig, int as_is) {
  int c = is_orig || as_is ? code : code | 0x20;
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  int n = f[F_HIST_LEN];
  if (n < HIST_CAP) {
    e->H[(size_t)slot * HIST_CAP + n] = (uint8_t)c;
  } else {
    /* history beyond HIST_CAP letters lives in a TypeScript string (FlowStore.spill) */
    double args[2] = { slot, c };
    e->spilled[slot] = 1;
    call_js(e, e->cb_spill, 2, args);
  }
  f[F_HIST_LEN] = n + 1;
}

/* FlowStore.seen: Zeek CheckHistory. Returns 1 if the letter was seen before. */
static int seen(Engine *e, int slot, int is_orig, int mask, int code) {
  int32_t m = is_orig ? mask : mask << 16;
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  int32_t s = f[F_HIST_SEEN];
  if ((s & m) == 0) {
    f[F_HIST_SEEN] = s | m;
    add_letter(e, slot, code, is_orig, 0);
    return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* conn-state.ts */

static inline int32_t sub32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t add32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static inline int32_t *role_ep(Engine *e, int slot, int responder) {
  int phys = e->I[(size_t)slot * I_STRIDE + F_ORIG_EP];
  return ep_at(e, slot, responder ? phys ^ 1 : phys);
}

static void set_state(int32_t *ep, int st) {
  int cur = ep[E_STATE];
  if (st != cur) {
    ep[E_PREV_STATE] = cur;
    ep[E_STATE] = st;
  }
}

static void flip_roles(Engine *e, int slot) {
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  f[F_ORIG_EP] ^= 1;
  f[F_FLIPS] += 1;
  add_letter(e, slot, CH_FLIP, 1, 1);
}

/* conn-state.ts scaled(): the next threshold (×10, kept below 2^32). */
static int32_t scaled(Engine *e, int slot, int is_orig, int code, int64_t cnt, int32_t thresh) {
  if (cnt == thresh) {
    add_letter(e, slot, code, is_orig, 0);
    int64_t next = (int64_t)thresh * 10;
    return next > 0xffffffffLL ? thresh : (int32_t)(uint32_t)next;
  }
  return thresh;
}

static void counted(Engine *e, int slot, int is_orig, int32_t *ep, int cnt_f, int thresh_f, int code) {
  int64_t cnt = (int64_t)ep[cnt_f] + 1;
  ep[cnt_f] = (int32_t)(uint32_t)cnt;
  ep[thresh_f] = scaled(e, slot, is_orig, code, cnt, ep[thresh_f]);
}
#define retransmission(e, slot, o, ep) counted(e, slot, o, ep, E_RXMT_CNT, E_RXMT_THRESH, CH_T)
#define zero_window(e, slot, o, ep) counted(e, slot, o, ep, E_WIN0_CNT, E_WIN0_THRESH, CH_W)
#define gap(e, slot, o, ep) counted(e, slot, o, ep, E_GAP_CNT, E_GAP_THRESH, CH_G)

static void reinit(int32_t *ep, int32_t seq, int32_t seq_end) {
  ep[E_START_SEQ] = seq;
  ep[E_ACK_SEQ] = seq;
  ep[E_LAST_SEQ] = seq_end;
}

static void init_endpoint(int32_t *ep, int syn, int32_t seq, int32_t seq_end) {
  switch (ep[E_STATE]) {
    case EP_INACTIVE:
      if (syn) {
        reinit(ep, seq, seq_end);
      } else {
        int32_t start = sub32(seq, 1);
        ep[E_START_SEQ] = start;
        ep[E_ACK_SEQ] = start;
        ep[E_LAST_SEQ] = seq;
      }
      break;
    case EP_SYN_SENT:
    case EP_SYN_ACK_SENT:
      if (syn && seq != ep[E_START_SEQ]) reinit(ep, seq, seq_end);
      break;
    case EP_ESTABLISHED:
    case EP_PARTIAL:
      if (syn) reinit(ep, seq, seq_end);
      break;
    case EP_RESET:
      if (syn && ep[E_PREV_STATE] == EP_INACTIVE) reinit(ep, seq, seq_end);
      break;
    default:
      break;
  }
}

static void update_history(Engine *e, int slot, int is_orig, int32_t *ep, int syn, int fin, int rst,
                           int has_ack, int32_t seq, int len) {
  int bits = syn + fin + rst;
  if (bits == 0) {
    if (len > 0) seen(e, slot, is_orig, HIST_DATA, CH_D);
    else if (has_ack) seen(e, slot, is_orig, HIST_ACK, CH_A);
    return;
  }
  int32_t rel = sub32(seq, ep[E_START_SEQ]);
  if (bits > 1) {
    if (fin && rst) seen(e, slot, is_orig, HIST_FIN_RST, CH_I);
    else seen(e, slot, is_orig, HIST_MULTI, CH_Q);
  } else if (syn) {
    int code = has_ack ? CH_H : CH_S;
    if (seen(e, slot, is_orig, HIST_SYN, code) && rel != ep[E_HIST_LAST_SYN]) add_letter(e, slot, code, is_orig, 0);
    ep[E_HIST_LAST_SYN] = rel;
  } else if (fin) {
    int32_t fin_seq = add32(rel, len);
    if (seen(e, slot, is_orig, HIST_FIN, CH_F) && fin_seq != ep[E_HIST_LAST_FIN]) add_letter(e, slot, CH_F, is_orig, 0);
    ep[E_HIST_LAST_FIN] = fin_seq;
  } else {
    if (seen(e, slot, is_orig, HIST_RST, CH_R) && rel != ep[E_HIST_LAST_RST]) add_letter(e, slot, CH_R, is_orig, 0);
    ep[E_HIST_LAST_RST] = rel;
  }
}

static void count_keepalive(int32_t *ep, int32_t *peer, int syn, int fin, int rst, int has_ack, int32_t seq,
                            int len) {
  peer[E_KEEPALIVE] = 0;
  if (rst) return;
  int st = ep[E_STATE];
  int probe = has_ack && !syn && !fin && len <= 1 && (st == EP_ESTABLISHED || st == EP_PARTIAL) &&
              seq == sub32(ep[E_LAST_SEQ], 1) && peer[E_RAW_WINDOW] != 0;
  ep[E_KEEPALIVE] = probe ? ep[E_KEEPALIVE] + 1 : 0;
}

static void update_last_seq(Engine *e, int slot, int is_orig, int32_t *ep, int32_t seq_end, int syn, int fin,
                            int rst, int len) {
  int32_t last = ep[E_LAST_SEQ];
  int32_t d = sub32(seq_end, last);
  if ((syn || rst) && (d > TOO_LARGE_SEQ_DELTA || d < -TOO_LARGE_SEQ_DELTA)) {
    /* implausible jump on a SYN/RST: keep the old value */
  } else if (fin && last == add32(ep[E_START_SEQ], 1)) {
    ep[E_LAST_SEQ] = seq_end;
  } else if (ep[E_STATE] == EP_RESET) {
    /* after a RST, sequence numbers are not trusted */
  } else if (d > 0) {
    ep[E_LAST_SEQ] = seq_end;
  } else if (len > 0) {
    retransmission(e, slot, is_orig, ep);
  }
}

static void inactive(Engine *e, int slot, int is_orig, int32_t *ep, int32_t *peer, int syn, int fin, int rst,
                     int has_ack, int32_t seq, int len) {
  if (syn) {
    if (is_orig) {
      set_state(ep, has_ack ? EP_SYN_ACK_SENT : EP_SYN_SENT);
    } else {
      if (!has_ack && peer[E_STATE] == EP_SYN_ACK_SENT && seq == ep[E_START_SEQ]) {
        flip_roles(e, slot);
        set_state(peer, EP_ESTABLISHED);
      }
      if (peer[E_STATE] == EP_SYN_SENT) set_state(peer, EP_ESTABLISHED);
      set_state(ep, EP_ESTABLISHED);
    }
  }
  if (fin) {
    set_state(ep, EP_CLOSED);
    ep[E_DID_CLOSE] = 1;
  }
  if (rst) {
    set_state(ep, EP_RESET);
    ep[E_DID_CLOSE] = 1;
  }
  if (ep[E_STATE] == EP_INACTIVE) {
    if (!is_orig && len == 0 && role_ep(e, slot, 0)[E_STATE] == EP_SYN_SENT) {
      /* some stacks ACK a SYN before answering it */
    } else if (has_ack && peer[E_STATE] == EP_ESTABLISHED) {
      set_state(ep, EP_ESTABLISHED);
    } else {
      set_state(ep, EP_PARTIAL);
    }
  }
}

static void update_state_machine(Engine *e, int slot, int is_orig, int32_t *ep, int32_t *peer, int syn, int fin,
                                 int rst, int has_ack, int32_t seq, int len) {
  switch (ep[E_STATE]) {
    case EP_INACTIVE:
      inactive(e, slot, is_orig, ep, peer, syn, fin, rst, has_ack, seq, len);
      break;
    case EP_SYN_SENT:
    case EP_SYN_ACK_SENT:
      if (fin) {
        set_state(ep, EP_CLOSED);
        ep[E_DID_CLOSE] = 1;
      }
      if (rst) {
        set_state(ep, EP_RESET);
        ep[E_DID_CLOSE] = 1;
      }
      break;
    case EP_ESTABLISHED:
    case EP_PARTIAL:
      if (syn && ep[E_STATE] == EP_PARTIAL && peer[E_STATE] == EP_INACTIVE && !has_ack) set_state(ep, EP_SYN_SENT);
      if (fin && !rst) {
        set_state(ep, EP_CLOSED);
        if (peer[E_STATE] == EP_RESET && peer[E_PREV_STATE] == EP_CLOSED) set_state(peer, EP_CLOSED);
        ep[E_DID_CLOSE] = 1;
      }
      if (rst) {
        set_state(ep, EP_RESET);
        ep[E_DID_CLOSE] = 1;
      }
      break;
    case EP_CLOSED:
      if (rst && peer[E_STATE] != EP_CLOSED) {
        set_state(ep, EP_RESET);
        ep[E_DID_CLOSE] = 1;
      }
      break;
    default:
      break;
  }
}

/* conn-state.ts processSegment */
static void process_segment(Engine *e, int slot, int is_orig, int32_t seq, int32_t ack, int flags, int len,
                            int window) {
  int32_t *ep = role_ep(e, slot, !is_orig);
  int32_t *peer = role_ep(e, slot, is_orig);
  int syn = (flags & T_SYN) != 0, fin = (flags & T_FIN) != 0, rst = (flags & T_RST) != 0;
  int has_ack = (flags & T_ACK) != 0;
  int seg_len = (rst ? 0 : len) + syn + fin;
  int32_t seq_end = add32(seq, seg_len);

  init_endpoint(ep, syn, seq, seq_end);
  update_history(e, slot, is_orig, ep, syn, fin, rst, has_ack, seq, len);
  count_keepalive(ep, peer, syn, fin, rst, has_ack, seq, len);
  if (window == 0 && !rst && peer[E_STATE] != EP_CLOSED && ep[E_STATE] != EP_RESET) zero_window(e, slot, is_orig, ep);
  if (fin) ep[E_FIN_CNT] += 1;
  if (rst) ep[E_RST_CNT] += 1;
  if (has_ack) {
    if (peer[E_STATE] == EP_INACTIVE) {
      int32_t base = sub32(ack, 1);
      peer[E_START_SEQ] = base;
      peer[E_ACK_SEQ] = base;
      peer[E_LAST_SEQ] = base;
    } else if (!rst && sub32(ack, peer[E_START_SEQ]) >= 0) {
      int32_t d = sub32(ack, peer[E_ACK_SEQ]);
      if (!(ack == 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) peer[E_ACK_SEQ] = ack;
    }
  }
  update_last_seq(e, slot, is_orig, ep, seq_end, syn, fin, rst, len);
  if (syn || fin || rst || ep[E_STATE] == EP_INACTIVE)
    update_state_machine(e, slot, is_orig, ep, peer, syn, fin, rst, has_ack, seq, len);
}

static int is_closed(Engine *e, int slot) {
  return ep_at(e, slot, 0)[E_DID_CLOSE] != 0 || ep_at(e, slot, 1)[E_DID_CLOSE] != 0;
}

static int is_finished(Engine *e, int slot) {
  int32_t *a = ep_at(e, slot, 0), *b = ep_at(e, slot, 1);
  return (a[E_DID_CLOSE] != 0 && b[E_DID_CLOSE] != 0) || a[E_STATE] == EP_RESET || b[E_STATE] == EP_RESET;
}

/* conn-state.ts isReuse (Zeek TCPSessionAdapter::IsReuse) */
static int is_reuse(Engine *e, int slot, int flags, int32_t seq) {
  if ((flags & T_SYN) == 0) return 0;
  int32_t *orig = role_ep(e, slot, 0), *resp = role_ep(e, slot, 1);
  int32_t *conn_orig = orig;
  if (flags & T_ACK) {
    if (orig[E_STATE] != EP_INACTIVE) return 0;
    conn_orig = resp;
  }
  if (!is_closed(e, slot)) {
    if (seq == conn_orig[E_START_SEQ]) return 0;
    if ((flags & T_ACK) == 0 && conn_orig[E_STATE] == EP_SYN_ACK_SENT && resp[E_STATE] == EP_INACTIVE &&
        seq == resp[E_START_SEQ])
      return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* reset-pool.ts, seq.ts, segment.ts */

static int pool_full(Engine *e) { return e->pool_free < 0 && e->pool_used >= MAX_POOL_ENTRIES; }

static int pool_take(Engine *e) {
  int32_t x = e->pool_free;
  if (x >= 0) {
    e->pool_free = e->R[(size_t)x * R_STRIDE + R_NEXT];
  } else {
    if (e->pool_used == e->pool_cap) {
      int32_t cap = e->pool_cap * 2;
      int32_t *R = realloc(e->R, (size_t)cap * R_STRIDE * sizeof(int32_t));
      double *RD = realloc(e->RD, (size_t)cap * RD_STRIDE * sizeof(double));
      if (R == NULL || RD == NULL) abort(); /* out of memory, as V8 would */
      e->R = R;
      e->RD = RD;
      e->pool_cap = cap;
    }
    x = e->pool_used++;
  }
  e->R[(size_t)x * R_STRIDE + R_NEXT] = -1;
  return x;
}

static void pool_release(Engine *e, int32_t x) {
  e->R[(size_t)x * R_STRIDE + R_NEXT] = e->pool_free;
  e->pool_free = x;
}

/* segment.ts windowShift */
static int window_shift(int32_t *rcv, int32_t *snd) {
  if (rcv[E_WINDOW_ON_SYN] != 0) return 0;
  if (rcv[E_SENT_SYN] == 0 && rcv[E_SENT_SYNACK] == 0) return -1;
  int rs = rcv[E_WSCALE];
  if (rs < 0) return 0;
  if (snd[E_SENT_SYN] == 0 && snd[E_SENT_SYNACK] == 0) return -1;
  if (snd[E_WSCALE] < 0) return 0;
  return rs < 14 ? rs : 14;
}

static inline double next_seq_of(int32_t *ep) {
  return ep[E_HAS_NEXT] != 0 ? (double)(uint32_t)ep[E_NEXT_SEQ] : -1;
}

enum { J_EXACT = 0, J_IN = 1, J_OUT = 2, J_UNKNOWN = 3 };

/* seq.ts judgeRst (RFC 5961 §3.2, RFC 9293 §3.10.7.3–4) */
static void judge_rst(uint32_t seq, uint32_t ack, int has_ack, double rcv_nxt, int32_t raw_window, int shift,
                      double syn_sent_snd_nxt, int *judgment, int32_t *offset, int64_t *window) {
  *offset = 0;
  *window = -1;
  if (syn_sent_snd_nxt >= 0) {
    *judgment = has_ack && (double)ack == syn_sent_snd_nxt ? J_EXACT : J_OUT;
    return;
  }
  if (rcv_nxt < 0) {
    *judgment = J_UNKNOWN;
    return;
  }
  int32_t off = (int32_t)(seq - (uint32_t)(int64_t)rcv_nxt);
  *offset = off;
  if (off == 0) {
    *window = raw_window < 0 || shift < 0 ? -1 : (int64_t)raw_window << shift;
    *judgment = J_EXACT;
    return;
  }
  if (raw_window < 0) {
    *judgment = J_UNKNOWN;
    return;
  }
  if (shift >= 0) {
    int64_t w = (int64_t)raw_window << shift;
    *window = w;
    *judgment = off > 0 && off < w ? J_IN : J_OUT;
    return;
  }
  if (off > 0 && off < raw_window) {
    *judgment = J_IN;
    *window = raw_window;
    return;
  }
  if (off > 0 && (int64_t)off < (int64_t)raw_window << 14) {
    *judgment = J_UNKNOWN;
    return;
  }
  *judgment = J_OUT;
}

/* segment.ts recordReset */
static void record_reset(Engine *e, int slot, const Pkt *p, int snd_phys, double frame) {
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  double *fd = e->D + (size_t)slot * D_STRIDE;
  double t = e->now;
  int kept = f[F_KEPT0 + snd_phys];
  if (kept >= MAX_RESETS_PER_SIDE || (kept > 0 && pool_full(e))) {
    f[F_DROPPED0 + snd_phys] += 1;
    f[F_PENDING] = -1;
    return;
  }
  f[F_KEPT0 + snd_phys] = kept + 1;
  int32_t *snd = ep_at(e, slot, snd_phys), *rcv = ep_at(e, slot, snd_phys ^ 1);
  double snd_non_rst = dep_at(e, slot, snd_phys)[DE_NON_RST];
  int has_ack = (p->flags & T_ACK) != 0;
  double rcv_next = next_seq_of(rcv), snd_next = next_seq_of(snd);
  int syn_sent = rcv[E_STATE] == EP_SYN_SENT && snd_non_rst == 0 && rcv_next >= 0;
  int judgment;
  int32_t offset;
  int64_t window;
  judge_rst(p->seq, p->ack, has_ack, snd_next, rcv[E_RAW_WINDOW], window_shift(rcv, snd),
            syn_sent ? rcv_next : -1, &judgment, &offset, &window);
  int prev = snd_non_rst > 0;
  double last = fd[D_LAST];
  int x = pool_take(e);
  int32_t *r = e->R + (size_t)x * R_STRIDE;
  double *rd = e->RD + (size_t)x * RD_STRIDE;
  r[R_SENDER] = snd_phys;
  r[R_SEQ] = (int32_t)p->seq;
  r[R_ACK] = (int32_t)p->ack;
  r[R_FLAGS] = p->flags;
  r[R_PAYLOAD] = p->len;
  r[R_JUDGMENT] = judgment;
  double expected = syn_sent ? rcv_next : snd_next;
  r[R_EXPECTED] = (int32_t)(uint32_t)(int64_t)expected;
  r[R_HAS_EXPECTED] = expected >= 0;
  r[R_OFFSET] = offset;
  r[R_WINDOW] = (int32_t)window;
  r[R_CHALLENGE] = 0;
  r[R_SND_STATE] = snd[E_STATE];
  r[R_RCV_STATE] = rcv[E_STATE];
  r[R_AFTER_FINS] = ep_at(e, slot, 0)[E_FIN_CNT] > 0 && ep_at(e, slot, 1)[E_FIN_CNT] > 0;
  r[R_TTL] = p->ttl;
  r[R_IPID] = p->ipid;
  r[R_HAS_TS] = p->has_ts;
  r[R_TSVAL] = (int32_t)p->tsval;
  r[R_PREV_TTL] = prev ? snd[E_LAST_TTL] : -1;
  r[R_PREV_IPID] = prev ? snd[E_LAST_IPID] : -1;
  r[R_PREV_HAS_TS] = prev && snd[E_LAST_HAS_TS] != 0;
  r[R_PREV_TSVAL] = snd[E_LAST_TSVAL];
  r[R_PREV_TTL_MIN] = snd[E_TTL_MIN];
  r[R_PREV_TTL_MAX] = snd[E_TTL_MAX];
  r[R_KEEPALIVE] = snd[E_KEEPALIVE];
  rd[RD_FRAME] = frame;
  rd[RD_TIME] = t;
  rd[RD_CHALLENGE_FRAME] = -1;
  rd[RD_IDLE] = last < 0 ? -1 : t - last;
  rd[RD_PREV_PACKETS] = snd_non_rst;
  int32_t tail = f[F_RESET_TAIL];
  if (tail < 0) f[F_RESET_HEAD] = x;
  else e->R[(size_t)tail * R_STRIDE + R_NEXT] = x;
  f[F_RESET_TAIL] = x;
  f[F_NRESETS] += 1;
  if (!syn_sent && snd_next >= 0) {
    f[F_PENDING] = x;
    f[F_PENDING_RCV] = snd_phys ^ 1;
    f[F_PENDING_ACK] = snd[E_NEXT_SEQ];
    fd[D_PENDING_DEADLINE] = t + e->challenge_sec;
  } else {
    f[F_PENDING] = -1;
  }
}

/* segment.ts segment: the general path */
static void segment(Engine *e, int slot, const Pkt *p, int is_orig, double frame) {
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  double *fd = e->D + (size_t)slot * D_STRIDE;
  double t = e->now;
  int ep_phys = is_orig ? f[F_ORIG_EP] : f[F_ORIG_EP] ^ 1;
  int32_t *ep = ep_at(e, slot, ep_phys), *peer = ep_at(e, slot, ep_phys ^ 1);
  double *dep = dep_at(e, slot, ep_phys);
  int flags = p->flags;
  int32_t seq = (int32_t)p->seq, ack = (int32_t)p->ack;
  int len = p->len;
  int syn = (flags & T_SYN) != 0, fin = (flags & T_FIN) != 0, rst = (flags & T_RST) != 0;
  int has_ack = (flags & T_ACK) != 0;

  int32_t pending = f[F_PENDING];
  if (pending >= 0) {
    if (t > fd[D_PENDING_DEADLINE]) {
      f[F_PENDING] = -1;
    } else if (ep_phys == f[F_PENDING_RCV] && has_ack && (flags & 7) == 0 && len == 0 && ack == f[F_PENDING_ACK]) {
      e->R[(size_t)pending * R_STRIDE + R_CHALLENGE] = 1;
      e->RD[(size_t)pending * RD_STRIDE + RD_CHALLENGE_FRAME] = frame;
      f[F_PENDING] = -1;
    }
  }
  if (rst) record_reset(e, slot, p, ep_phys, frame);

  int32_t flips = f[F_FLIPS];
  process_segment(e, slot, is_orig, seq, ack, flags, len, p->window);
  if (f[F_FLIPS] != flips) f[F_ORIG_IS_A] ^= 1;

  dep[DE_PACKETS] += 1;
  dep[DE_PAYLOAD] += len;
  if (dep[DE_FIRST_TIME] < 0) dep[DE_FIRST_TIME] = t;
  dep[DE_LAST_TIME] = t;
  int has_ts = p->has_ts;
  if (has_ts) ep[E_TIMESTAMPS] = 1;
  if (syn) {
    if (has_ack) {
      if (ep[E_SENT_SYNACK] != 0 && seq == ep[E_ISN]) ep[E_SYNACK_RETX] += 1;
      ep[E_SENT_SYNACK] = 1;
    } else {
      if (ep[E_SENT_SYN] != 0 && seq == ep[E_ISN]) ep[E_SYN_RETX] += 1;
      ep[E_SENT_SYN] = 1;
    }
    if (ep[E_SYNS] == 0 || seq != ep[E_ISN]) ep[E_ISN] = seq;
    ep[E_SYNS] += 1;
    if (p->mss >= 0) ep[E_MSS] = p->mss;
    if (p->wscale >= 0) ep[E_WSCALE] = p->wscale;
    if (p->sack) ep[E_SACK] = 1;
  }
  if (!rst) {
    dep[DE_NON_RST] += 1;
    int32_t end = add32(seq, len + syn + fin);
    if (ep[E_HAS_NEXT] == 0 || sub32(end, ep[E_NEXT_SEQ]) > 0) {
      ep[E_NEXT_SEQ] = end;
      ep[E_HAS_NEXT] = 1;
    }
    ep[E_RAW_WINDOW] = p->window;
    ep[E_WINDOW_ON_SYN] = syn;
    int ttl = p->ttl;
    ep[E_LAST_TTL] = ttl;
    ep[E_LAST_IPID] = p->ipid;
    ep[E_LAST_HAS_TS] = has_ts;
    ep[E_LAST_TSVAL] = has_ts ? (int32_t)p->tsval : -1;
    if (ep[E_TTL_MIN] < 0 || ttl < ep[E_TTL_MIN]) ep[E_TTL_MIN] = ttl;
    if (ttl > ep[E_TTL_MAX]) ep[E_TTL_MAX] = ttl;
    if (has_ack) {
      int32_t d = sub32(ack, peer[E_NEXT_SEQ]);
      if (!(ack == 0 && d > TOO_LARGE_SEQ_DELTA)) {
        if (peer[E_HAS_NEXT] == 0) {
          peer[E_NEXT_SEQ] = ack;
          peer[E_HAS_NEXT] = 1;
        } else if (d > 0) {
          if (!syn && !fin && dep_at(e, slot, ep_phys ^ 1)[DE_NON_RST] > 0) {
            peer[E_ACKED_UNSEEN] += 1;
            gap(e, slot, (ep_phys ^ 1) == f[F_ORIG_EP], peer);
          }
          peer[E_NEXT_SEQ] = ack;
        }
      }
      if (!syn && ep_phys == f[F_ORIG_EP] && ep[E_SENT_SYN] != 0 && peer[E_SENT_SYNACK] != 0) f[F_HANDSHAKE] = 1;
    }
  }
  fd[D_LAST] = t;
  fd[D_LAST_FRAME] = frame;
}

/* segment.ts plainSegment: no SYN, FIN or RST */
static void plain_segment(Engine *e, int slot, const Pkt *p, int is_orig, double frame) {
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  int orig_phys = f[F_ORIG_EP];
  int ep_phys = is_orig ? orig_phys : orig_phys ^ 1;
  int32_t *ep = ep_at(e, slot, ep_phys);
  int ep_state = ep[E_STATE];
  if (ep_state == EP_INACTIVE) {
    segment(e, slot, p, is_orig, frame);
    return;
  }
  double *fd = e->D + (size_t)slot * D_STRIDE;
  double t = e->now;
  int32_t *peer = ep_at(e, slot, ep_phys ^ 1);
  double *dep = dep_at(e, slot, ep_phys);
  int flags = p->flags;
  int32_t seq = (int32_t)p->seq, ack = (int32_t)p->ack;
  int len = p->len;
  int has_ack = (flags & T_ACK) != 0;

  int32_t pending = f[F_PENDING];
  if (pending >= 0) {
    if (t > fd[D_PENDING_DEADLINE]) {
      f[F_PENDING] = -1;
    } else if (ep_phys == f[F_PENDING_RCV] && has_ack && len == 0 && ack == f[F_PENDING_ACK]) {
      e->R[(size_t)pending * R_STRIDE + R_CHALLENGE] = 1;
      e->RD[(size_t)pending * RD_STRIDE + RD_CHALLENGE_FRAME] = frame;
      f[F_PENDING] = -1;
    }
  }
  if (len > 0) seen(e, slot, is_orig, HIST_DATA, CH_D);
  else if (has_ack) seen(e, slot, is_orig, HIST_ACK, CH_A);
  int peer_state = peer[E_STATE];
  int32_t last = ep[E_LAST_SEQ];
  peer[E_KEEPALIVE] = 0;
  int probe = has_ack && len <= 1 && (ep_state == EP_ESTABLISHED || ep_state == EP_PARTIAL) &&
              seq == sub32(last, 1) && peer[E_RAW_WINDOW] != 0;
  ep[E_KEEPALIVE] = probe ? ep[E_KEEPALIVE] + 1 : 0;
  if (p->window == 0 && peer_state != EP_CLOSED && ep_state != EP_RESET) zero_window(e, slot, is_orig, ep);
  if (has_ack) {
    if (peer_state == EP_INACTIVE) {
      int32_t base = sub32(ack, 1);
      peer[E_START_SEQ] = base;
      peer[E_ACK_SEQ] = base;
      peer[E_LAST_SEQ] = base;
    } else if (sub32(ack, peer[E_START_SEQ]) >= 0) {
      int32_t d = sub32(ack, peer[E_ACK_SEQ]);
      if (!(ack == 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) peer[E_ACK_SEQ] = ack;
    }
  }
  int32_t end = add32(seq, len);
  if (ep_state != EP_RESET) {
    if (sub32(end, last) > 0) ep[E_LAST_SEQ] = end;
    else if (len > 0) retransmission(e, slot, is_orig, ep);
  }

  dep[DE_PACKETS] += 1;
  dep[DE_PAYLOAD] += len;
  if (dep[DE_FIRST_TIME] < 0) dep[DE_FIRST_TIME] = t;
  dep[DE_LAST_TIME] = t;
  int has_ts = p->has_ts;
  if (has_ts) ep[E_TIMESTAMPS] = 1;
  dep[DE_NON_RST] += 1;
  if (ep[E_HAS_NEXT] == 0 || sub32(end, ep[E_NEXT_SEQ]) > 0) {
    ep[E_NEXT_SEQ] = end;
    ep[E_HAS_NEXT] = 1;
  }
  ep[E_RAW_WINDOW] = p->window;
  ep[E_WINDOW_ON_SYN] = 0;
  int ttl = p->ttl;
  ep[E_LAST_TTL] = ttl;
  ep[E_LAST_IPID] = p->ipid;
  ep[E_LAST_HAS_TS] = has_ts;
  ep[E_LAST_TSVAL] = has_ts ? (int32_t)p->tsval : -1;
  if (ep[E_TTL_MIN] < 0 || ttl < ep[E_TTL_MIN]) ep[E_TTL_MIN] = ttl;
  if (ttl > ep[E_TTL_MAX]) ep[E_TTL_MAX] = ttl;
  if (has_ack) {
    int32_t d = sub32(ack, peer[E_NEXT_SEQ]);
    if (!(ack == 0 && d > TOO_LARGE_SEQ_DELTA)) {
      if (peer[E_HAS_NEXT] == 0) {
        peer[E_NEXT_SEQ] = ack;
        peer[E_HAS_NEXT] = 1;
      } else if (d > 0) {
        if (dep_at(e, slot, ep_phys ^ 1)[DE_NON_RST] > 0) {
          peer[E_ACKED_UNSEEN] += 1;
          gap(e, slot, (ep_phys ^ 1) == orig_phys, peer);
        }
        peer[E_NEXT_SEQ] = ack;
      }
    }
    if (ep_phys == orig_phys && ep[E_SENT_SYN] != 0 && peer[E_SENT_SYNACK] != 0) f[F_HANDSHAKE] = 1;
  }
  fd[D_LAST] = t;
  fd[D_LAST_FRAME] = frame;
}

/* ---------------------------------------------------------------------------------------------------- */
/* flows.ts FlowTable */

static void unlink_slot(Engine *e, int slot) {
  if (slot == e->tail_slot) e->tail_slot = -1;
  uint32_t mask = e->mask;
  int32_t *bk = e->buckets;
  uint32_t i = (uint32_t)e->I[(size_t)slot * I_STRIDE + F_HASH] & mask;
  while (bk[2 * i] != slot + 1) i = (i + 1) & mask;
  bk[2 * i] = 0;
  for (uint32_t j = (i + 1) & mask; bk[2 * j] != 0; j = (j + 1) & mask) {
    uint32_t home = (uint32_t)bk[2 * j + 1] & mask;
    int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!between) {
      bk[2 * i] = bk[2 * j];
      bk[2 * i + 1] = bk[2 * j + 1];
      bk[2 * j] = 0;
      i = j;
    }
  }
  int32_t p = e->prev[slot], n = e->next[slot];
  if (p >= 0) e->next[p] = n;
  else e->head = n;
  if (n >= 0) e->prev[n] = p;
  else e->tail = p;
  e->prev[slot] = -1;
  e->next[slot] = -1;
  e->used[slot] = 0;
  e->free_slots[e->free_top++] = slot;
}

/* ---- the item ring (item-ring.ts): this engine writes the flow worker's items (flow-worker.ts) ---- */
/* In two cache lines, the producer's and the consumer's (item-ring.ts says why). */
enum {
  C_HEAD = 0,
  C_PRODUCER_WAITS = 1,
  C_TAIL = 16,
  C_CLOSED = 17,
  C_CONSUMER_WAITS = 18,
  C_CONSUMER_TID = 19,
  C_INTS = 32
};
enum { ITEM_ATTEMPT = 1, ITEM_HELD = 2 };

/*
 * Whether the consumer registered in the ring (C_CONSUMER_TID, item-ring.ts registerThread) has ended: its
 * thread is gone from /proc/self/task. A worker killed by its heap limit or by process.exit() closes nothing,
 * and this thread, blocked here, cannot run the event loop that would carry its 'exit' event. 0 when no
 * thread was registered or /proc cannot say (FreeBSD without linprocfs).
 */
static int consumer_gone(Engine *e) {
  int32_t tid = __atomic_load_n(&e->ring_ctl[C_CONSUMER_TID], __ATOMIC_SEQ_CST);
  if (tid <= 0) return 0;
  char path[48];
  snprintf(path, sizeof path, "/proc/self/task/%d", (int)tid);
  if (access(path, F_OK) == 0 || errno != ENOENT) return 0;
  return access("/proc/self/task", F_OK) == 0;
}

/* Waits (of 50 µs) between two looks at the consumer's thread: ~0.1 s. */
#define LIVENESS_SPINS 2000

/*
 * Waits until `n` words fit; returns the head to write at, or -1 when the consumer closed the ring or died
 * (an exception is then pending). The consumer notifies through V8's own futex emulation, which native code
 * cannot wait on: this sleeps 50 µs at a time instead (the ring only fills when classification is behind).
 */
static int64_t ring_reserve(Engine *e, uint32_t n) {
  int32_t *ctl = e->ring_ctl;
  if (n > e->ring_mask + 1) {
    napi_throw_error(e->env, "E_NATIVE", "an item does not fit the classification ring");
    e->failed = 1;
    return -1;
  }
  uint32_t head = (uint32_t)__atomic_load_n(&ctl[C_HEAD], __ATOMIC_SEQ_CST);
  /* the consumer's tail as last read: its cache line is fetched only when the ring looks full by it */
  if ((int32_t)(head - e->ring_tail) <= (int32_t)(e->ring_mask + 1 - n)) return head;
  uint32_t spins = 0;
  for (;;) {
    uint32_t tail = (uint32_t)__atomic_load_n(&ctl[C_TAIL], __ATOMIC_SEQ_CST);
    e->ring_tail = tail;
    if ((int32_t)(head - tail) <= (int32_t)(e->ring_mask + 1 - n)) return head;
    if (__atomic_load_n(&ctl[C_CLOSED], __ATOMIC_SEQ_CST) != 0) {
      napi_throw_error(e->env, "E_NATIVE", "the classification worker stopped taking connections");
      e->failed = 1;
      return -1;
    }
    if (++spins % LIVENESS_SPINS == 0 && consumer_gone(e)) {
      napi_throw_error(e->env, "E_NATIVE", "the classification worker ended without a word (it died)");
      e->failed = 1;
      return -1;
    }
    /* TypeScript may take items itself (a worker that never started: native.ts onFull) */
    call_js(e, e->cb_full, 0, NULL);
    if (e->failed) return -1;
    head = (uint32_t)__atomic_load_n(&ctl[C_HEAD], __ATOMIC_SEQ_CST);
    tail = (uint32_t)__atomic_load_n(&ctl[C_TAIL], __ATOMIC_SEQ_CST);
    e->ring_tail = tail;
    if ((int32_t)(head - tail) <= (int32_t)(e->ring_mask + 1 - n)) return head;
    struct timespec ts = { 0, 50000 };
    nanosleep(&ts, NULL);
  }
}

/* The consumer polls while it waits (classify-worker.ts): no wake-up per item. */
static void ring_publish(Engine *e, uint32_t head) {
  /* release: the item's words are visible before the head that covers them (one consumer) */
  __atomic_store_n(&e->ring_ctl[C_HEAD], (int32_t)head, __ATOMIC_RELEASE);
}

#define RW(h, v) (e->ring[(h) & e->ring_mask] = (int32_t)(v))

/* n words from `src` at ring position *h (one memcpy unless they wrap) */
static void ring_words(Engine *e, uint32_t *h, const int32_t *src, uint32_t n) {
  uint32_t at = *h & e->ring_mask;
  uint32_t first = e->ring_mask + 1 - at;
  if (first >= n) {
    memcpy(e->ring + at, src, n * sizeof(int32_t));
  } else {
    memcpy(e->ring + at, src, first * sizeof(int32_t));
    memcpy(e->ring, src + first, (n - first) * sizeof(int32_t));
  }
  *h += n;
}

/* The words of the item of the flow in `slot` (held_words) */
static uint32_t held_words_len(const Engine *e, int slot) {
  return 1 + I_STRIDE + 2 * D_STRIDE + HIST_CAP + 2 + (uint32_t)e->I[(size_t)slot * I_STRIDE + F_NRESETS] * RES_WORDS;
}

/*
 * held.ts serializeFlow's layout, without the count that follows it in the ring: why it left, the record
 * (its doubles as two words each), the history letters, no spill (a flow with one goes through TypeScript:
 * leave), the RSTs. Into `w` (held_words_len words); for the ring and for the classifier in this thread.
 */
static void held_words(const Engine *e, int slot, int why, int32_t *w) {
  const int32_t *f = e->I + (size_t)slot * I_STRIDE;
  uint32_t h = 0;
  w[h++] = why;
  memcpy(w + h, f, sizeof(int32_t) * I_STRIDE);
  h += I_STRIDE;
  memcpy(w + h, e->D + (size_t)slot * D_STRIDE, sizeof(double) * D_STRIDE);
  h += 2 * D_STRIDE;
  const uint8_t *hist = e->H + (size_t)slot * HIST_CAP;
  for (int i = 0; i < HIST_CAP; i++) w[h++] = hist[i];
  w[h++] = 0;
  w[h++] = f[F_NRESETS];
  for (int32_t x = f[F_RESET_HEAD]; x >= 0; x = e->R[(size_t)x * R_STRIDE + R_NEXT]) {
    memcpy(w + h, e->R + (size_t)x * R_STRIDE, sizeof(int32_t) * R_STRIDE);
    h += R_STRIDE;
    memcpy(w + h, e->RD + (size_t)x * RD_STRIDE, sizeof(double) * RD_STRIDE);
    h += 2 * RD_STRIDE;
  }
}

/* flow-worker.ts ITEM_ATTEMPT's 13 words: before, version, originator and responder words, responder port, start */
static void attempt_words(const Engine *e, int slot, double before, int32_t *w) {
  const int32_t *f = e->I + (size_t)slot * I_STRIDE;
  int orig_is_a = f[F_ORIG_IS_A] != 0;
  w[0] = (int32_t)before;
  w[1] = f[F_V] == 6 ? 6 : 4;
  memcpy(w + 2, f + (orig_is_a ? F_A0 : F_B0), sizeof(int32_t) * 4);
  memcpy(w + 6, f + (orig_is_a ? F_B0 : F_A0), sizeof(int32_t) * 4);
  w[10] = f[orig_is_a ? F_PB : F_PA];
  memcpy(w + 11, e->D + (size_t)slot * D_STRIDE + D_START, sizeof(double));
}

/* the item of a flow leaving the table, then the count of connections that left before (ITEM_HELD) */
static void ring_held(Engine *e, int slot, int why, double before) {
  uint32_t len = held_words_len(e, slot);
  int64_t at = ring_reserve(e, 2 + len + 1);
  if (at < 0) return;
  uint32_t h = (uint32_t)at;
  RW(h++, 2 + len + 1);
  RW(h++, ITEM_HELD);
  held_words(e, slot, why, e->item);
  ring_words(e, &h, e->item, len);
  RW(h++, (int32_t)before);
  ring_publish(e, h);
}

static void ring_attempt(Engine *e, int slot, double before) {
  int64_t at = ring_reserve(e, 2 + 13);
  if (at < 0) return;
  uint32_t h = (uint32_t)at;
  RW(h++, 2 + 13);
  RW(h++, ITEM_ATTEMPT);
  int32_t w[13];
  attempt_words(e, slot, before, w);
  ring_words(e, &h, w, 13);
  ring_publish(e, h);
}

struct Cls;
static void cls_engine_held(Engine *e, int slot, int why, double before);
static void cls_engine_attempt(Engine *e, int slot, double before);

/*
 * flows.ts leave(), as the flow worker's callbacks (flow-worker.ts) do it: a connection with resets goes to
 * TypeScript with its RSTs copied to the exchange area (held.ts takes them into its own pool); a failed
 * attempt without resets (originator SYNs, conn_state S0) goes as an attempt; the others are only counted.
 * Each call says how many connections had left before it.
 */
static void leave(Engine *e, int slot, int why) {
  int32_t *f = e->I + (size_t)slot * I_STRIDE;
  double before = e->T[T_LEFT];
  if (f[F_NRESETS] == 0) {
    int32_t *o = role_ep(e, slot, 0), *r = role_ep(e, slot, 1);
    /* QuietView.connState === 'S0' without resets: conn-state.ts connState with no endpoint in RESET */
    if (o[E_SYNS] > 0 && o[E_STATE] == EP_SYN_SENT && r[E_STATE] == EP_INACTIVE) {
      if (e->ring != NULL) {
        ring_attempt(e, slot, before);
      } else if (e->cls != NULL) {
        cls_engine_attempt(e, slot, before);
      } else {
        double args[2] = { before, slot };
        call_js(e, e->cb_attempt, 2, args);
      }
    }
  } else if ((e->ring != NULL || e->cls != NULL) && !e->spilled[slot]) {
    if (e->ring != NULL) ring_held(e, slot, why, before);
    else cls_engine_held(e, slot, why, before);
    for (int32_t x = f[F_RESET_HEAD]; x >= 0;) {
      int32_t nx = e->R[(size_t)x * R_STRIDE + R_NEXT];
      pool_release(e, x);
      x = nx;
    }
    f[F_RESET_HEAD] = -1;
    f[F_RESET_TAIL] = -1;
    f[F_NRESETS] = 0;
    f[F_PENDING] = -1;
  } else {
    int n = 0;
    for (int32_t x = f[F_RESET_HEAD]; x >= 0; x = e->R[(size_t)x * R_STRIDE + R_NEXT]) {
      memcpy(e->XI + (size_t)n * R_STRIDE, e->R + (size_t)x * R_STRIDE, R_STRIDE * sizeof(int32_t));
      memcpy(e->XD + (size_t)n * RD_STRIDE, e->RD + (size_t)x * RD_STRIDE, RD_STRIDE * sizeof(double));
      n++;
    }
    double args[4] = { before, slot, why, n };
    call_js(e, e->cb_held, 4, args);
    for (int32_t x = f[F_RESET_HEAD]; x >= 0;) {
      int32_t nx = e->R[(size_t)x * R_STRIDE + R_NEXT];
      pool_release(e, x);
      x = nx;
    }
    f[F_RESET_HEAD] = -1;
    f[F_RESET_TAIL] = -1;
    f[F_NRESETS] = 0;
    f[F_PENDING] = -1;
  }
  if (e->spilled[slot]) {
    /* the history string of this slot is forgotten */
    double args[2] = { slot, -1 };
    e->spilled[slot] = 0;
    call_js(e, e->cb_spill, 2, args);
  }
  e->T[T_LEFT] = before + 1;
  unlink_slot(e, slot);
}

static void remove_slot(Engine *e, int slot, int why) {
  e->T[T_ACTIVE] -= 1;
  leave(e, slot, why);
}

static void touch(Engine *e, int slot) {
  if (slot == e->head) return;
  int32_t p = e->prev[slot], n = e->next[slot];
  if (p >= 0) e->next[p] = n;
  if (n >= 0) e->prev[n] = p;
  else e->tail = p;
  e->prev[slot] = -1;
  e->next[slot] = e->head;
  if (e->head >= 0) e->prev[e->head] = slot;
  e->head = slot;
}

static void insert_slot(Engine *e, int slot, int32_t h) {
  if (slot == e->tail_slot) e->tail_slot = -1;
  int32_t *bk = e->buckets;
  uint32_t i = (uint32_t)h & e->mask;
  while (bk[2 * i] != 0) i = (i + 1) & e->mask;
  bk[2 * i] = slot + 1;
  bk[2 * i + 1] = h;
  e->used[slot] = 1;
  e->prev[slot] = -1;
  e->next[slot] = e->head;
  if (e->head >= 0) e->prev[e->head] = slot;
  e->head = slot;
  if (e->tail < 0) e->tail = slot;
  e->T[T_ACTIVE] += 1;
}

static void expire(Engine *e) {
  double now = e->now;
  double bumps = e->T[T_ACTIVE];
  while (e->tail >= 0) {
    int slot = e->tail;
    double idle = now - e->D[(size_t)slot * D_STRIDE + D_LAST];
    int finished = is_finished(e, slot);
    if (idle <= (finished ? e->closed_timeout : e->idle_timeout)) return;
    if (!finished && e->I[(size_t)slot * I_STRIDE + F_HANDSHAKE] != 0 && idle <= e->est_idle_timeout) {
      if (bumps-- <= 0) return;
      touch(e, slot);
      continue;
    }
    e->T[T_EXPIRED] += 1;
    remove_slot(e, slot, finished ? WHY_FINISHED : WHY_IDLE);
    if (e->failed) return;
  }
}

static inline uint32_t fmix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}

/* A segment's flow key, flow-key.ts flowKey: canonical order, (address, port) of A <= B, addresses as
 * unsigned words (an IPv4 address's words 1-3 are 0 in a Pkt), and its hash. Kept as its hash and which end
 * is A: the rest is the packet's own (key_of), so that a record decoded ahead (Ahead) is two cache lines, not
 * three. Pure: the read-ahead thread computes it with the decoding (readahead.c). */
typedef struct {
  int32_t h;
  int src_is_a;
} Key;

/*
 * One word of a Pkt the decoder has just stored, read as a word of its own: the compiler joined neighbouring
 * fields into one 8- or 16-byte load, which a store cannot forward — the load then waited for every older
 * store to reach the cache, in the read-ahead thread those of the entries before, cold lines (~45 ns a
 * record; docs/benchmarks.md, part 7, round 9).
 */
static inline uint32_t word_of(const uint32_t *x) {
  uint32_t v = *x;
  __asm__("" : "+r"(v));
  return v;
}

static inline void flow_key(const Pkt *p, Key *k) {
  int v6 = p->v == 6;
  uint32_t s0 = word_of(&p->src[0]), d0 = word_of(&p->dst[0]);
  uint32_t s1 = v6 ? word_of(&p->src[1]) : 0, s2 = v6 ? word_of(&p->src[2]) : 0, s3 = v6 ? word_of(&p->src[3]) : 0;
  uint32_t d1 = v6 ? word_of(&p->dst[1]) : 0, d2 = v6 ? word_of(&p->dst[2]) : 0, d3 = v6 ? word_of(&p->dst[3]) : 0;
  uint32_t sp = word_of(&p->sp), dp = word_of(&p->dp);
  int src_is_a;
  if (s0 != d0) src_is_a = s0 < d0;
  else if (s1 != d1) src_is_a = s1 < d1;
  else if (s2 != d2) src_is_a = s2 < d2;
  else if (s3 != d3) src_is_a = s3 < d3;
  else src_is_a = sp <= dp;
  uint32_t A0 = src_is_a ? s0 : d0, A1 = src_is_a ? s1 : d1, A2 = src_is_a ? s2 : d2, A3 = src_is_a ? s3 : d3;
  uint32_t B0 = src_is_a ? d0 : s0, B1 = src_is_a ? d1 : s1, B2 = src_is_a ? d2 : s2, B3 = src_is_a ? d3 : s3;
  uint32_t pa = src_is_a ? sp : dp, pb = src_is_a ? dp : sp;
  uint32_t x = A0 ^ (B0 * 0x9e3779b1U) ^ (((pa << 16) | pb) * 0x85ebca6bU) ^ (uint32_t)(v6 ? 6 : 4);
  if (v6) x ^= ((A1 ^ B3) * 0xc2b2ae35U) ^ ((A2 ^ B2) * 0x27d4eb2fU) ^ ((A3 ^ B1) * 0x165667b1U);
  k->h = (int32_t)fmix(x);
  k->src_is_a = src_is_a;
}

/*
 * A record decoded ahead (js_pcap's work for it, done by the read-ahead thread, readahead.c): where it lies in
 * its chunk, its header, decode_ethernet's answer and the flow key. js_pcap takes it in place of decoding the
 * record itself when it reaches that very offset of that very buffer with the same parameters (ra_ahead).
 */
typedef struct {
  uint32_t off;    /* the record header's offset in the chunk */
  uint32_t caplen; /* as written */
  uint32_t cap;    /* bytes decoded: caplen, at most the file header's snaplen */
  uint32_t ts_sec, ts_frac;
  int r; /* decode_ethernet's answer; p and k are valid for DEC_TCP */
  Pkt p;
  Key k;
} __attribute__((aligned(64))) Ahead;
_Static_assert(sizeof(Ahead) == 128, "a record decoded ahead fills two cache lines");

static void ra_ahead(Engine *e, const void *data, size_t off, int le, double mul, int link_type, const Ahead **A,
                     uint32_t *na, uint32_t *ai);
/* What decode_ethernet makes of a frame (decode.ts simpleEthernet's outcomes). */
enum { DEC_TCP = 0, DEC_TRUNCATED = 1, DEC_MALFORMED = 2, DEC_DECLINE = 3 };
static int decode_ethernet(const uint8_t *d, size_t off, size_t end, Pkt *p);

static inline uint32_t u32_at(const uint8_t *b, int le) {
  return le ? (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24)
            : ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static inline uint32_t u16_at(const uint8_t *b, int le) {
  return le ? (uint32_t)b[0] | ((uint32_t)b[1] << 8) : ((uint32_t)b[0] << 8) | b[1];
}

/* The classic pcap record at `at` of `b` (16-byte header, `caplen` as written, `cap` bytes of it decoded):
 * its timestamp, its frame (Ethernet, else declined) and flow key — js_pcap's and the read-ahead thread's. */
static void decode_record(Ahead *a, const uint8_t *b, size_t at, int le, uint32_t caplen, uint32_t cap,
                          int ethernet) {
  a->off = (uint32_t)at;
  a->caplen = caplen;
  a->cap = cap;
  a->ts_sec = u32_at(b + at, le);
  a->ts_frac = u32_at(b + at + 4, le);
  a->r = ethernet ? decode_ethernet(b, at + 16, at + 16 + cap, &a->p) : DEC_DECLINE;
  if (a->r == DEC_TCP) flow_key(&a->p, &a->k);
}

/* flows.ts observeKeyed; k is flow_key(p) */
static void observe(Engine *e, const Pkt *p, const Key *k, double ts_sec, double ts_nsec, double frame) {
  double t = ts_sec + ts_nsec / 1e9;
  e->now = t;
  int flags = p->flags;
  e->T[T_PACKETS] += 1;
  if (flags & T_RST) e->T[T_RESETS] += 1;
  int tail = e->tail;
  if (tail >= 0) {
    if (tail != e->tail_slot) {
      e->tail_slot = tail;
      e->tail_last = e->D[(size_t)tail * D_STRIDE + D_LAST];
      /* The tail is the next flow to leave (a new flow takes its slot when the table is full), a few
       * segments from now, and the one before it the next but one: their records, cold by then, are read
       * whole (is_finished, leave, held_words), the latter's D_LAST here when it becomes the tail. */
      const char *ri = (const char *)(e->I + (size_t)tail * I_STRIDE);
      for (size_t b = 0; b < I_STRIDE * sizeof(int32_t); b += 64) __builtin_prefetch(ri + b);
      __builtin_prefetch(ri + I_STRIDE * sizeof(int32_t) - 1);
      const char *rd = (const char *)(e->D + (size_t)tail * D_STRIDE);
      __builtin_prefetch(rd + 64);
      __builtin_prefetch(e->H + (size_t)tail * HIST_CAP);
      int32_t next_tail = e->prev[tail];
      if (next_tail >= 0) {
        __builtin_prefetch(e->D + (size_t)next_tail * D_STRIDE + D_LAST);
        __builtin_prefetch(e->I + (size_t)next_tail * I_STRIDE);
      }
      /* and the tail's index slot, which unlink_slot clears (its hash is in the line fetched a turn ago) */
      __builtin_prefetch(e->buckets + 2 * ((uint32_t)e->I[(size_t)tail * I_STRIDE + F_HASH] & e->mask), 1);
    }
    if (t - e->tail_last > e->min_timeout) {
      expire(e);
      if (e->failed) return;
    }
  }

  int src_is_a = k->src_is_a, v = p->v == 6 ? 6 : 4;
  const uint32_t *A = src_is_a ? p->src : p->dst, *B = src_is_a ? p->dst : p->src;
  int32_t h = k->h;
  uint32_t sp = p->sp, dp = p->dp;
  uint32_t pa = src_is_a ? sp : dp, pb = src_is_a ? dp : sp;

  int32_t *I = e->I;
  int32_t *bk = e->buckets;
  uint32_t mask = e->mask;
  int slot = -1;
  for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
    int32_t en = bk[2 * i];
    if (en == 0) break;
    if (bk[2 * i + 1] != h) continue;
    const int32_t *b = I + (size_t)(en - 1) * I_STRIDE;
    if ((uint32_t)b[F_A0] == A[0] && (uint32_t)b[F_B0] == B[0] && (uint32_t)b[F_PA] == pa &&
        (uint32_t)b[F_PB] == pb && b[F_V] == v && (uint32_t)b[F_A1] == A[1] && (uint32_t)b[F_A2] == A[2] &&
        (uint32_t)b[F_A3] == A[3] && (uint32_t)b[F_B1] == B[1] && (uint32_t)b[F_B2] == B[2] &&
        (uint32_t)b[F_B3] == B[3]) {
      slot = en - 1;
      break;
    }
  }

  if (slot >= 0 && (flags & T_SYN) && is_reuse(e, slot, flags, (int32_t)p->seq)) {
    e->T[T_REUSED] += 1;
    remove_slot(e, slot, WHY_REUSED);
    if (e->failed) return;
    slot = -1;
  }
  if (slot < 0) {
    if (e->free_top == 0) {
      int lru = e->tail;
      if (is_finished(e, lru) && t - e->D[(size_t)lru * D_STRIDE + D_LAST] > e->close_delay) {
        e->T[T_EXPIRED] += 1;
        remove_slot(e, lru, WHY_FINISHED);
      } else {
        e->T[T_EVICTED] += 1;
        remove_slot(e, lru, WHY_EVICTED);
      }
      if (e->failed) return;
    }
    slot = e->free_slots[--e->free_top];
    int32_t *b = I + (size_t)slot * I_STRIDE;
    double *db = e->D + (size_t)slot * D_STRIDE;
    memcpy(b, e->fresh_i, I_STRIDE * sizeof(int32_t));
    memcpy(db, e->fresh_d, D_STRIDE * sizeof(double));
    b[F_HASH] = h;
    b[F_V] = v;
    b[F_A0] = (int32_t)A[0];
    b[F_A1] = (int32_t)A[1];
    b[F_A2] = (int32_t)A[2];
    b[F_A3] = (int32_t)A[3];
    b[F_B0] = (int32_t)B[0];
    b[F_B1] = (int32_t)B[1];
    b[F_B2] = (int32_t)B[2];
    b[F_B3] = (int32_t)B[3];
    b[F_PA] = (int32_t)pa;
    b[F_PB] = (int32_t)pb;
    db[D_ID] = e->next_id++;
    db[D_START] = t;
    db[D_FIRST_FRAME] = frame;
    insert_slot(e, slot, h);
    e->T[T_FLOWS] += 1;
    int flip;
    if (flags & T_SYN) flip = (flags & T_ACK) != 0;
    else if (e->server_ports[sp]) flip = e->server_ports[dp] ? sp < dp : 1;
    else flip = 0;
    b[F_ORIG_IS_A] = (flip ? !src_is_a : src_is_a) ? 1 : 0;
    if (flip) flip_roles(e, slot);
  } else if (e->head != slot) {
    touch(e, slot);
  }
  int is_orig = src_is_a == (I[(size_t)slot * I_STRIDE + F_ORIG_IS_A] != 0);
  if ((flags & CONTROL) == 0) plain_segment(e, slot, p, is_orig, frame);
  else segment(e, slot, p, is_orig, frame);
  if (slot == e->tail_slot) e->tail_slot = -1;
}

typedef struct {
  double id;
  int32_t slot;
} Rest;

static int by_id(const void *x, const void *y) {
  double a = ((const Rest *)x)->id, b = ((const Rest *)y)->id;
  return a < b ? -1 : a > b;
}

/* flows.ts drain(): the remaining connections leave in start order */
static void drain(Engine *e) {
  Rest *rest = malloc(sizeof(Rest) * (size_t)e->max_flows);
  if (rest == NULL) abort();
  int n = 0;
  for (int slot = 0; slot < e->max_flows; slot++)
    if (e->used[slot]) {
      rest[n].id = e->D[(size_t)slot * D_STRIDE + D_ID];
      rest[n].slot = slot;
      n++;
    }
  qsort(rest, (size_t)n, sizeof(Rest), by_id);
  for (int i = 0; i < n && !e->failed; i++) leave(e, rest[i].slot, WHY_END);
  e->T[T_ACTIVE] = 0;
  free(rest);
}

/* ---------------------------------------------------------------------------------------------------- */
/* decode.ts simpleEthernet + tcp.ts decodeTcp */

static inline uint32_t be32(const uint8_t *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static int decode_tcp(const uint8_t *d, size_t off, size_t end, long declared, Pkt *p) {
  long avail = (long)end - (long)off;
  if (avail < 16) return DEC_TRUNCATED;
  int off_byte = d[off + 12];
  int hlen = (off_byte >> 4) * 4;
  if (hlen < 20) return DEC_MALFORMED;
  p->sp = ((uint32_t)d[off] << 8) | d[off + 1];
  p->dp = ((uint32_t)d[off + 2] << 8) | d[off + 3];
  p->seq = be32(d + off + 4);
  p->ack = be32(d + off + 8);
  p->flags = d[off + 13] | ((off_byte & 1) << 8);
  p->window = (d[off + 14] << 8) | d[off + 15];
  long total = declared >= 0 ? declared : avail;
  p->len = total > hlen ? (int)(total - hlen) : 0;
  p->mss = -1;
  p->wscale = -1;
  p->sack = 0;
  p->has_ts = 0;
  p->tsval = 0;
  size_t opt_end = off + (size_t)(hlen < avail ? hlen : avail);
  size_t q = off + 20;
  while (q < opt_end) {
    int kind = d[q];
    if (kind == 0) break;
    if (kind == 1) {
      q++;
      continue;
    }
    if (q + 1 >= opt_end) break;
    int len = d[q + 1];
    if (len < 2 || q + (size_t)len > opt_end) break;
    switch (kind) {
      case 2:
        if (len == 4) p->mss = (d[q + 2] << 8) | d[q + 3];
        break;
      case 3:
        if (len == 3) p->wscale = d[q + 2];
        break;
      case 4:
        if (len == 2) p->sack = 1;
        break;
      case 8:
        if (len == 10) {
          p->has_ts = 1;
          p->tsval = be32(d + q + 2);
        }
        break;
      default:
        break;
    }
    q += (size_t)len;
  }
  return DEC_TCP;
}

static int decode_ethernet(const uint8_t *d, size_t off, size_t end, Pkt *p) {
  if (end - off < 14) return DEC_DECLINE;
  int type = (d[off + 12] << 8) | d[off + 13];
  size_t ip = off + 14;
  if (type == 0x0800) {
    if (end - ip < 20) return DEC_DECLINE;
    int b0 = d[ip];
    if (b0 >> 4 != 4) return DEC_DECLINE;
    size_t ihl = (size_t)(b0 & 0x0f) * 4;
    if (ihl < 20 || end - ip < ihl) return DEC_DECLINE;
    size_t total = ((size_t)d[ip + 2] << 8) | d[ip + 3];
    if (total == 0 || total < ihl) return DEC_DECLINE;
    if ((((d[ip + 6] << 8) | d[ip + 7]) & 0x3fff) != 0) return DEC_DECLINE;
    if (d[ip + 9] != 6) return DEC_DECLINE;
    p->v = 4;
    p->ttl = d[ip + 8];
    p->ipid = (d[ip + 4] << 8) | d[ip + 5];
    p->src[0] = be32(d + ip + 12);
    p->dst[0] = be32(d + ip + 16);
    p->src[1] = p->src[2] = p->src[3] = 0;
    p->dst[1] = p->dst[2] = p->dst[3] = 0;
    size_t tend = ip + total < end ? ip + total : end;
    return decode_tcp(d, ip + ihl, tend, (long)(total - ihl), p);
  }
  if (type == 0x86dd) {
    if (end - ip < 40) return DEC_DECLINE;
    if (d[ip] >> 4 != 6) return DEC_DECLINE;
    size_t plen = ((size_t)d[ip + 4] << 8) | d[ip + 5];
    if (plen == 0 || d[ip + 6] != 6) return DEC_DECLINE;
    p->v = 6;
    p->ttl = d[ip + 7];
    p->ipid = -1;
    for (int i = 0; i < 4; i++) {
      p->src[i] = be32(d + ip + 8 + 4 * i);
      p->dst[i] = be32(d + ip + 24 + 4 * i);
    }
    size_t tend = ip + 40 + plen < end ? ip + 40 + plen : end;
    return decode_tcp(d, ip + 40, tend, (long)plen, p);
  }
  return DEC_DECLINE;
}

/* ---------------------------------------------------------------------------------------------------- */
/* N-API glue */

#define CHECK(call)                                                                                          \
  do {                                                                                                       \
    if ((call) != napi_ok) {                                                                                 \
      napi_throw_error(env, "E_NATIVE", "rstwatch native engine: " #call " failed");                         \
      return NULL;                                                                                           \
    }                                                                                                        \
  } while (0)

/* Throws "<what>: bad arguments" (a TypeError, E_NATIVE); NULL, for `return bad_args(...)`. */
static napi_value bad_args(napi_env env, const char *what) {
  char msg[64];
  snprintf(msg, sizeof msg, "%s: bad arguments", what);
  napi_throw_type_error(env, "E_NATIVE", msg);
  return NULL;
}

/*
 * Frees what the engine holds (references to the TypeScript arrays and callbacks, native memory): at once
 * by destroy() when an analysis ends, or by the finalizer when the engine is collected without it. Node-API
 * may run finalizers only after a later turn of the event loop, and a process that analyses capture after
 * capture without one (the fuzzer) would pile up engines: destroy() does not wait.
 */
static void ra_forget(Engine *e);
static void release_engine(napi_env env, Engine *e) {
  if (e->released) return;
  e->released = 1;
  ra_forget(e);
  for (int i = 0; i < e->nrefs; i++) napi_delete_reference(env, e->refs[i]);
  e->nrefs = 0;
  napi_delete_reference(env, e->cb_held);
  napi_delete_reference(env, e->cb_attempt);
  napi_delete_reference(env, e->cb_spill);
  tallies_free(e);
  if (e->cb_full != NULL) napi_delete_reference(env, e->cb_full);
  free(e->R);
  free(e->RD);
  free(e->buckets);
  free(e->prev);
  free(e->next);
  free(e->free_slots);
  free(e->used);
  free(e->spilled);
  e->R = NULL;
  e->RD = NULL;
  e->buckets = e->prev = e->next = e->free_slots = NULL;
  e->used = e->spilled = NULL;
  e->ring = NULL;
  e->cls = NULL;
}

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)hint;
  release_engine(env, data);
  free(data);
}

/* Pointer and length (in elements) of a typed array argument; keeps a reference so it outlives the call. */
static int typed(napi_env env, Engine *e, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) != napi_ok || type != want) return 0;
  if (e != NULL && e->nrefs < 16) napi_create_reference(env, v, 1, &e->refs[e->nrefs++]);
  return 1;
}


/*
 * Asks for transparent huge pages on the 2 MiB-aligned part of a large buffer the engine fills (the flow
 * records, the item ring): its pages are first touched here, one fault per 4 KiB page otherwise — ~10 µs
 * each on the benchmark VM, ~5,000 of them on the 1 GB capture (docs/benchmarks.md, part 7, round 7). Only
 * where the system leaves it to the program (THP "madvise", Debian's default); a refusal changes nothing.
 */
static void advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  const uintptr_t H2 = (uintptr_t)2 << 20;
  uintptr_t lo = ((uintptr_t)p + H2 - 1) & ~(H2 - 1), hi = ((uintptr_t)p + bytes) & ~(H2 - 1);
  if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

static double num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

/*
 * create(layout: Int32Array, I: Int32Array, D: Float64Array, H: Uint8Array, XI: Int32Array, XD: Float64Array,
 *        S: Float64Array, T: Float64Array, options: Float64Array [maxFlows, idle, establishedIdle, closed,
 *        challenge, closeDelay, maxTalkers, maxSeconds], onHeld, onAttempt, onSpill, freshI: Int32Array,
 *        freshD: Float64Array, serverPorts: Uint8Array) → engine
 * The last three are TypeScript's own tables (a new flow's record, the likely server ports), not copies.
 */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 15) return bad_args(env, "create");
  void *lay;
  size_t layn;
  if (!typed(env, NULL, argv[0], napi_int32_array, &lay, &layn) || layn != LAYOUT_N ||
      memcmp(lay, LAYOUT, sizeof LAYOUT) != 0) {
    napi_throw_error(env, "E_NATIVE_LAYOUT", "the native engine was built for another record layout");
    return NULL;
  }
  Engine *e = calloc(1, sizeof(Engine));
  if (e == NULL) abort();
  e->tag = TAG_ENGINE;
  void *ptr;
  size_t n;
  size_t dn, hn, xin, xdn, sn, tn, on, fin, fdn, pn;
  void *dp, *hp, *xip, *xdp, *sp, *tp, *op, *fip, *fdp, *pp;
  if (!typed(env, e, argv[1], napi_int32_array, &ptr, &n) || !typed(env, e, argv[2], napi_float64_array, &dp, &dn) ||
      !typed(env, e, argv[3], napi_uint8_array, &hp, &hn) || !typed(env, e, argv[4], napi_int32_array, &xip, &xin) ||
      !typed(env, e, argv[5], napi_float64_array, &xdp, &xdn) ||
      !typed(env, e, argv[6], napi_float64_array, &sp, &sn) || !typed(env, e, argv[7], napi_float64_array, &tp, &tn) ||
      !typed(env, NULL, argv[8], napi_float64_array, &op, &on) ||
      !typed(env, e, argv[12], napi_int32_array, &fip, &fin) || !typed(env, e, argv[13], napi_float64_array, &fdp, &fdn) ||
      !typed(env, e, argv[14], napi_uint8_array, &pp, &pn) || fin != I_STRIDE || fdn != D_STRIDE || pn != 65536 ||
      on < 8 || sn < S_N || tn < T_N ||
      xin < (size_t)2 * MAX_RESETS_PER_SIDE * R_STRIDE || xdn < (size_t)2 * MAX_RESETS_PER_SIDE * RD_STRIDE) {
    for (int i = 0; i < e->nrefs; i++) napi_delete_reference(env, e->refs[i]);
    free(e);
    return bad_args(env, "create");
  }
  const double *o = op;
  int32_t max = (int32_t)o[0];
  if (max < 1 || !(o[6] >= 1 && o[6] <= 1 << 24) || !(o[7] >= 1 && o[7] <= 1 << 24) || n < (size_t)max * I_STRIDE || dn < (size_t)max * D_STRIDE || hn < (size_t)max * HIST_CAP) {
    for (int i = 0; i < e->nrefs; i++) napi_delete_reference(env, e->refs[i]);
    free(e);
    napi_throw_type_error(env, "E_NATIVE", "create: record arrays too small");
    return NULL;
  }
  e->I = ptr;
  e->D = dp;
  e->H = hp;
  advise_huge(ptr, n * 4);
  advise_huge(dp, dn * 8);
  advise_huge(hp, hn);
  e->XI = xip;
  e->XD = xdp;
  e->S = sp;
  e->T = tp;
  e->max_flows = max;
  e->idle_timeout = o[1];
  e->est_idle_timeout = o[2] > o[1] ? o[2] : o[1];
  e->closed_timeout = o[3];
  e->min_timeout = o[1] < o[3] ? o[1] : o[3];
  e->challenge_sec = o[4];
  e->close_delay = o[5];
  e->fresh_i = fip;
  e->fresh_d = fdp;
  e->server_ports = pp;
  uint32_t size = 16;
  while (size < (uint32_t)max * 2) size *= 2;
  e->mask = size - 1;
  e->buckets = calloc((size_t)size * 2, sizeof(int32_t));
  e->prev = malloc(sizeof(int32_t) * (size_t)max);
  e->next = malloc(sizeof(int32_t) * (size_t)max);
  e->free_slots = malloc(sizeof(int32_t) * (size_t)max);
  e->used = calloc((size_t)max, 1);
  e->spilled = calloc((size_t)max, 1);
  e->pool_cap = 1024;
  e->R = malloc(sizeof(int32_t) * R_STRIDE * (size_t)e->pool_cap);
  e->RD = malloc(sizeof(double) * RD_STRIDE * (size_t)e->pool_cap);
  if (!e->buckets || !e->prev || !e->next || !e->free_slots || !e->used || !e->spilled || !e->R || !e->RD) abort();
  for (int32_t i = 0; i < max; i++) {
    e->prev[i] = -1;
    e->next[i] = -1;
    e->free_slots[i] = max - 1 - i;
  }
  e->free_top = max;
  e->pool_free = -1;
  e->head = e->tail = e->tail_slot = -1;
  for (int i = 0; i < 3; i++) {
    e->talk[i].nk = i == 2 ? 9 : 5; /* a sender's key is a pair's first five words */
    e->talk[i].max_keys = (uint32_t)o[6];
    counter_alloc(&e->talk[i], 64);
  }
  e->seconds.max_keys = (uint32_t)o[7];
  e->seconds.width = 1;
  histogram_alloc(&e->seconds, 64);
  napi_create_reference(env, argv[9], 1, &e->cb_held);
  napi_create_reference(env, argv[10], 1, &e->cb_attempt);
  napi_create_reference(env, argv[11], 1, &e->cb_spill);
  napi_value ext;
  CHECK(napi_create_external(env, e, finalize_engine, NULL, &ext));
  return ext;
}

static Engine *engine_of(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL || *(const uint32_t *)p != TAG_ENGINE ||
      ((Engine *)p)->released)
    return NULL;
  return p;
}

/*
 * The arguments of a call made with exactly `n` of them, the first being an engine: that engine, or NULL
 * with an exception pending.
 */
static Engine *engine_args(napi_env env, napi_callback_info info, napi_value *argv, size_t n, const char *what) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "E_NATIVE", "rstwatch native engine: napi_get_cb_info failed");
    return NULL;
  }
  Engine *e = argc == n ? engine_of(env, argv[0]) : NULL;
  if (e == NULL) bad_args(env, what);
  return e;
}

/* Stats of one frame decoded here: analyze.ts onPacket. */
/* how far ahead of the record being read js_pcap asks for the capture's bytes */
#define PREFETCH_BYTES 2048

static void count_frame(Engine *e, const Pkt *p, double t, double ts_sec) {
  double *S = e->S;
  if (t < S[S_FIRST]) S[S_FIRST] = t;
  if (t > S[S_LAST]) S[S_LAST] = t;
  S[S_TCP] += 1;
  if ((p->flags & T_RST) == 0) return;
  S[S_RSTS] += 1;
  if (p->v == 6) S[S_RST6] += 1;
  else S[S_RST4] += 1;
  if (p->flags & T_ACK) S[S_RST_ACK] += 1;
  else S[S_RST_BARE] += 1;
  tally_rst(e, p->v, p->src, p->dst, ts_sec);
}

/* A frame js_pcap or js_pcapng decoded (r, not DEC_DECLINE), at time t: into the flow table when it is a TCP
 * segment, else counted as truncated or malformed — what TypeScript's onPacket does with it. */
static void take_frame(Engine *e, int r, const Pkt *p, const Key *k, double t, double ts_sec, double ts_nsec,
                       double frame) {
  if (r == DEC_TCP) {
    count_frame(e, p, t, ts_sec);
    observe(e, p, k, ts_sec, ts_nsec, frame);
    return;
  }
  double *S = e->S;
  if (t < S[S_FIRST]) S[S_FIRST] = t;
  if (t > S[S_LAST]) S[S_LAST] = t;
  S[r == DEC_TRUNCATED ? S_TRUNCATED : S_MALFORMED] += 1;
}

/* The end of a run of js_pcap or js_pcapng: its statistics, and the bytes it used (NULL: an exception from a
 * callback is pending). */
static napi_value run_result(napi_env env, Engine *e, size_t used, double packets, double bytes) {
  e->S[S_PACKETS] = packets;
  e->S[S_BYTES] = bytes;
  e->S[S_USED] = (double)used;
  if (e->failed) return NULL;
  napi_value out;
  CHECK(napi_create_double(env, (double)used, &out));
  return out;
}

/*
 * pcap(engine, buf: Uint8Array, off, end, le, nsec, snaplen, linkType, maxPacketBytes, frame) → bytes used.
 * pcap.ts PcapParser.run for 16-byte records with lengths as written: stops before a record not wholly in
 * [off, end), one claiming more than maxPacketBytes, or one whose frame is not decoded here (TypeScript
 * takes it). S[S_PACKETS] and S[S_BYTES] say how many records and captured bytes were read.
 */
static napi_value js_pcap(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  Engine *e = engine_args(env, info, argv, 10, "pcap");
  if (e == NULL) return NULL;
  void *bp;
  size_t blen;
  if (!typed(env, NULL, argv[1], napi_uint8_array, &bp, &blen)) return bad_args(env, "pcap");
  const uint8_t *buf = bp;
  size_t off = (size_t)num(env, argv[2]);
  size_t end = (size_t)num(env, argv[3]);
  int le = num(env, argv[4]) != 0;
  double mul = num(env, argv[5]) != 0 ? 1 : 1000;
  double snaplen = num(env, argv[6]);
  int link_type = (int)num(env, argv[7]);
  double max = num(env, argv[8]);
  double frame = num(env, argv[9]);
  if (end > blen) end = blen;
  if (off > end) off = end;
  size_t start = off;
  e->env = env;
  e->failed = 0;
  double packets = 0, bytes = 0;
  /* The records the read-ahead thread decoded in this chunk, when buf is one of its buffers (ra_ahead). */
  const Ahead *A = NULL;
  uint32_t na = 0, ai = 0;
  ra_ahead(e, bp, off, le, mul, link_type, &A, &na, &ai);
  double taken = 0;
  Ahead own;
  /* Records lie ~200 bytes apart: too sparse for the hardware prefetcher to run ahead of this loop, which
   * perf showed waiting on each record's first load for a third of its time. Ask for the lines ahead. */
  size_t fetched = off;
  while (end - off >= 16 && !e->failed) {
    const Ahead *a;
    double cap;
    if (ai < na && A[ai].off == off) {
      /* decoded ahead: the same bytes, the same parameters, hence what decode_record would make here */
      a = &A[ai++];
      /* written by the other core: ask for the entry 16 records ahead, and the index slot of the flow of
       * the one 8 records ahead (its key was hashed by the other thread; its entry asked for 8 records ago) */
      __builtin_prefetch((const char *)(a + 16));
      __builtin_prefetch((const char *)(a + 16) + 64);
      if (ai + 8 < na && A[ai + 8].r == DEC_TCP)
        __builtin_prefetch(e->buckets + 2 * ((uint32_t)A[ai + 8].k.h & e->mask));
      if ((double)a->caplen > max || end - off - 16 < a->caplen) break;
      cap = (double)a->caplen < snaplen ? (double)a->caplen : snaplen;
      if (cap != (double)a->cap) {
        na = 0; /* another snaplen than the file header's: decoded here from now on */
        continue;
      }
      taken += a->r != DEC_DECLINE;
    } else {
      size_t ahead = off + PREFETCH_BYTES < end ? off + PREFETCH_BYTES : end;
      if (fetched < off) fetched = off; /* after records decoded ahead */
      for (; fetched < ahead; fetched += 64) __builtin_prefetch(buf + fetched);
      uint32_t caplen = u32_at(buf + off + 8, le);
      if ((double)caplen > max || end - off - 16 < caplen) break;
      cap = (double)caplen < snaplen ? (double)caplen : snaplen;
      decode_record(&own, buf, off, le, caplen, (uint32_t)cap, link_type == 1);
      a = &own;
    }
    int r = a->r;
    const Pkt *p = &a->p;
    const Key *k = &a->k;
    uint32_t ts_sec = a->ts_sec, ts_frac = a->ts_frac, caplen = a->caplen;
    if (r == DEC_DECLINE) break;
    double ts_nsec = (double)ts_frac * mul;
    double t = (double)ts_sec + ts_nsec / 1e9;
    frame += 1;
    packets += 1;
    bytes += cap;
    take_frame(e, r, p, k, t, (double)ts_sec, ts_nsec, frame);
    off += 16 + caplen;
  }
  e->S[S_AHEAD] += taken;
  return run_result(env, e, off - start, packets, bytes);
}

/*
 * pcapng(engine, buf, off, end, le, ifaces: Float64Array [linkType, units, nsMul, tsOffsetSec] per interface of
 * the section, maxPacketBytes, frame) → bytes used: the enhanced packet blocks from `off` on, as pcapng.ts's
 * need/consume/packet would read them, for as long as each is plain — a whole block in [off, end), its lengths
 * sane and equal, an Ethernet interface of the section whose resolution is 10^-n (n ≤ 9; nsMul ≠ 0), a
 * captured length within the block and maxPacketBytes, no direction in its options (the engine counts its
 * RSTs as of unknown direction) — and its frame one the engine decodes. Anything else stops the run there,
 * for TypeScript: another block, a problem to report, a frame left to onPacket. Statistics as pcap's.
 * Why: pcapng files went block by block through TypeScript and a call into the engine per segment, 2.4 s for
 * the 1 GB benchmark capture as pcapng against 0.65 s as pcap (docs/benchmarks.md, part 7, round 9).
 */
static napi_value js_pcapng(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  Engine *e = engine_args(env, info, argv, 8, "pcapng");
  if (e == NULL) return NULL;
  void *bp, *ip;
  size_t blen, niw;
  if (!typed(env, NULL, argv[1], napi_uint8_array, &bp, &blen) ||
      !typed(env, NULL, argv[5], napi_float64_array, &ip, &niw) || niw % 4 != 0)
    return bad_args(env, "pcapng");
  const uint8_t *buf = bp;
  const double *ifc = ip;
  size_t nif = niw / 4;
  size_t off = (size_t)num(env, argv[2]);
  size_t end = (size_t)num(env, argv[3]);
  int le = num(env, argv[4]) != 0;
  double max = num(env, argv[6]);
  double frame = num(env, argv[7]);
  if (end > blen) end = blen;
  if (off > end) off = end;
  size_t start = off;
  e->env = env;
  e->failed = 0;
  double packets = 0, bytes = 0;
  Ahead own;
  size_t fetched = off;
  while (end - off >= 32 && !e->failed) {
    if (u32_at(buf + off, le) != 6) break; /* not an EPB */
    uint32_t len = u32_at(buf + off + 4, le);
    if (len < 32 || len % 4 != 0 || len > (16u << 20) || len > end - off) break;
    if (u32_at(buf + off + len - 4, le) != len) break;
    uint32_t id = u32_at(buf + off + 8, le);
    if (id >= nif) break;
    const double *f = ifc + (size_t)id * 4;
    if (f[0] != 1 || f[2] == 0 || !(f[1] >= 1 && f[1] <= 1e9)) break;
    uint32_t caplen = u32_at(buf + off + 20, le);
    if (caplen > len - 32 || (double)caplen > max) break;
    /* epb_flags (option 2), bits 0-1: a direction is TypeScript's to count */
    int directed = 0;
    size_t oend = off + len - 4;
    for (size_t q = off + 28 + (((size_t)caplen + 3) & ~(size_t)3); q + 4 <= oend;) {
      uint32_t code = u16_at(buf + q, le), olen = u16_at(buf + q + 2, le);
      if (code == 0 || q + 4 + olen > oend) break;
      uint32_t dir = code == 2 && olen == 4 ? u32_at(buf + q + 4, le) & 3 : 0;
      if (dir == 1 || dir == 2) directed = 1;
      q += 4 + ((olen + 3) & ~3u);
    }
    if (directed) break;
    /* the timestamp as pcapng.ts timestamp(): units since 1970, exact below 2^53 seconds */
    uint64_t units = (uint64_t)f[1];
    uint64_t v = ((uint64_t)u32_at(buf + off + 12, le) << 32) | u32_at(buf + off + 16, le);
    uint64_t qs = v / units, rs = v % units;
    if (qs >> 53) break;
    double ts_sec = (double)qs + f[3];
    double ts_nsec = (double)rs * f[2];
    /* the lines of the blocks ahead, as js_pcap does for records */
    size_t ahead = off + PREFETCH_BYTES < end ? off + PREFETCH_BYTES : end;
    if (fetched < off) fetched = off;
    for (; fetched < ahead; fetched += 64) __builtin_prefetch(buf + fetched);
    own.r = decode_ethernet(buf, off + 28, off + 28 + caplen, &own.p);
    if (own.r == DEC_DECLINE) break;
    double t = ts_sec + ts_nsec / 1e9;
    frame += 1;
    packets += 1;
    bytes += caplen;
    if (own.r == DEC_TCP) flow_key(&own.p, &own.k);
    take_frame(e, own.r, &own.p, &own.k, t, ts_sec, ts_nsec, frame);
    off += len;
  }
  return run_result(env, e, off - start, packets, bytes);
}

/*
 * observe(engine, P: Int32Array [v, src×4, dst×4, sp, dp, seq, ack, flags, window, len, ttl, ipid, mss,
 * wscale, sack, hasTs, tsval], tsSec, tsNsec, frame): a segment TypeScript decoded.
 */
static napi_value js_observe(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Engine *e = engine_args(env, info, argv, 5, "observe");
  if (e == NULL) return NULL;
  void *pp;
  size_t pn;
  if (!typed(env, NULL, argv[1], napi_int32_array, &pp, &pn) || pn < 24) return bad_args(env, "observe");
  const int32_t *P = pp;
  Pkt p;
  p.v = P[0];
  for (int i = 0; i < 4; i++) {
    /* an IPv4 address's words 1-3 are 0 in a Pkt, as decode_ip makes them (the key reads them) */
    p.src[i] = i == 0 || p.v == 6 ? (uint32_t)P[1 + i] : 0;
    p.dst[i] = i == 0 || p.v == 6 ? (uint32_t)P[5 + i] : 0;
  }
  p.sp = (uint32_t)P[9] & 0xffff; /* indexes server_ports: 16 bits whatever the caller passed */
  p.dp = (uint32_t)P[10] & 0xffff;
  p.seq = (uint32_t)P[11];
  p.ack = (uint32_t)P[12];
  p.flags = P[13];
  p.window = P[14];
  p.len = P[15];
  p.ttl = P[16];
  p.ipid = P[17];
  p.mss = P[18];
  p.wscale = P[19];
  p.sack = P[20];
  p.has_ts = P[21];
  p.tsval = (uint32_t)P[22];
  e->env = env;
  e->failed = 0;
  Key k;
  flow_key(&p, &k);
  observe(e, &p, &k, num(env, argv[2]), num(env, argv[3]), num(env, argv[4]));
  if (e->failed) return NULL;
  return NULL;
}

/* drain(engine): the connections still tracked leave (flows.ts drain). */
static napi_value js_drain(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Engine *e = engine_args(env, info, argv, 1, "drain");
  if (e == NULL) return NULL;
  e->env = env;
  e->failed = 0;
  drain(e);
  return NULL;
}

/*
 * ring(engine, words: Int32Array, control: Int32Array, onFull): from now on the connections leaving the table
 * are written to this item ring (item-ring.ts, on shared memory) instead of the callbacks; `onFull` is called
 * each time an item does not fit, before waiting for room.
 */
static napi_value js_ring(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Engine *e = engine_args(env, info, argv, 4, "ring");
  if (e == NULL) return NULL;
  void *wp, *cp;
  size_t wn, cn;
  if (e->ring != NULL || e->nrefs > 14 || !typed(env, e, argv[1], napi_int32_array, &wp, &wn) ||
      !typed(env, e, argv[2], napi_int32_array, &cp, &cn) || cn < C_INTS || wn < 4096 || (wn & (wn - 1)) != 0)
    return bad_args(env, "ring");
  e->ring = wp;
  advise_huge(wp, wn * 4);
  e->ring_ctl = cp;
  e->ring_mask = (uint32_t)wn - 1;
  e->ring_tail = (uint32_t)__atomic_load_n(&e->ring_ctl[C_TAIL], __ATOMIC_SEQ_CST);
  CHECK(napi_create_reference(env, argv[3], 1, &e->cb_full));
  return NULL;
}

/*
 * tally(engine, v, a0, a1, a2, a3, b0, b1, b2, b3, sec): a RST in a frame TypeScript decoded (analyze.ts
 * tallyRst), counted in its place among the engine's own.
 */
static napi_value js_tally(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  Engine *e = engine_args(env, info, argv, 11, "tally");
  if (e == NULL) return NULL;
  uint32_t a[4], b[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (uint32_t)(int64_t)num(env, argv[2 + i]);
    b[i] = (uint32_t)(int64_t)num(env, argv[6 + i]);
  }
  tally_rst(e, (int)num(env, argv[1]), a, b, num(env, argv[10]));
  return NULL;
}

/*
 * tallies(engine, which, out?: Float64Array): the RST tally `which` (0 senders, 1 receivers, 2 pairs:
 * the key words then the count for each key; 3 seconds: second, count), in no order, into `out`; without
 * `out`, how many numbers it needs. A counter's entries are followed by the keys it dropped, the seconds'
 * by the bucket width.
 */
static napi_value js_tallies(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Engine *e = argc >= 2 ? engine_of(env, argv[0]) : NULL;
  int which = e != NULL ? (int)num(env, argv[1]) : -1;
  if (which < 0 || which > 3) {
    return bad_args(env, "tallies");
  }
  size_t need = which < 3 ? (size_t)e->talk[which].size * (size_t)(e->talk[which].nk + 1) + 1
                          : (size_t)e->seconds.size * 2 + 1;
  napi_value out;
  if (argc < 3) {
    CHECK(napi_create_double(env, (double)need, &out));
    return out;
  }
  void *op;
  size_t on;
  if (!typed(env, NULL, argv[2], napi_float64_array, &op, &on) || on < need) {
    return bad_args(env, "tallies");
  }
  double *o = op;
  size_t at = 0;
  if (which < 3) {
    const Counter *c = &e->talk[which];
    for (uint32_t i = 0; i < c->cap; i++) {
      if (c->counts[i] == 0) continue;
      for (int j = 0; j < c->nk; j++) o[at++] = c->keys[(size_t)i * c->nk + j];
      o[at++] = c->counts[i];
    }
    o[at++] = c->dropped;
  } else {
    const Histogram *m = &e->seconds;
    for (uint32_t i = 0; i < m->cap; i++) {
      if (m->counts[i] == 0) continue;
      o[at++] = m->secs[i];
      o[at++] = m->counts[i];
    }
    o[at++] = m->width;
  }
  CHECK(napi_create_double(env, (double)at, &out));
  return out;
}

/* destroy(engine): the analysis is over (or failed): free the engine now (release_engine). */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  /* an engine (released or not: destroying twice does nothing), never another kind of native object */
  if (argc != 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL ||
      *(const uint32_t *)p != TAG_ENGINE) {
    return bad_args(env, "destroy");
  }
  release_engine(env, p);
  return NULL;
}

/*
 * A native object of the classifier or the read-ahead thread, handed to JavaScript as an external: freed by
 * its finalizer, or earlier by its stop/destroy call (then `p` is NULL and further calls are refused).
 */
typedef struct {
  uint32_t tag;
  void *p;
  void (*release)(void *);
} Boxed;

static void boxed_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Boxed *b = data;
  if (b->p != NULL) b->release(b->p);
  free(b);
}

/* `p` boxed as an external of kind `tag`, or NULL with an exception pending (`p` then released) */
static napi_value boxed_new(napi_env env, uint32_t tag, void *p, void (*release)(void *)) {
  Boxed *b = malloc(sizeof(Boxed));
  if (b == NULL) abort();
  b->tag = tag;
  b->p = p;
  b->release = release;
  napi_value out;
  if (napi_create_external(env, b, boxed_finalize, NULL, &out) != napi_ok) {
    release(p);
    free(b);
    napi_throw_error(env, "E_NATIVE", "rstwatch native engine: napi_create_external failed");
    return NULL;
  }
  return out;
}

/* The box of kind `tag` that `v` is (NULL: another value, or released) */
static Boxed *boxed_of(napi_env env, napi_value v, uint32_t tag) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL || *(const uint32_t *)p != tag) return NULL;
  Boxed *b = p;
  return b->p != NULL ? b : NULL;
}

/* the classification worker's half (classify-worker.ts): one translation unit with the layouts above */
#include "classify.c"
/* the reading thread's read-ahead (src/packet/reader.ts readInLine) */
#include "readahead.c"

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL },
    { "pcap", NULL, js_pcap, NULL, NULL, NULL, napi_default, NULL },
    { "pcapng", NULL, js_pcapng, NULL, NULL, NULL, napi_default, NULL },
    { "observe", NULL, js_observe, NULL, NULL, NULL, napi_default, NULL },
    { "drain", NULL, js_drain, NULL, NULL, NULL, napi_default, NULL },
    { "ring", NULL, js_ring, NULL, NULL, NULL, napi_default, NULL },
    { "destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL },
    { "tally", NULL, js_tally, NULL, NULL, NULL, napi_default, NULL },
    { "tallies", NULL, js_tallies, NULL, NULL, NULL, napi_default, NULL },
    { "classifier", NULL, js_classifier, NULL, NULL, NULL, napi_default, NULL },
    { "classifierRun", NULL, js_classifier_run, NULL, NULL, NULL, napi_default, NULL },
    { "classifierExport", NULL, js_classifier_export, NULL, NULL, NULL, napi_default, NULL },
    { "classifierDestroy", NULL, js_classifier_destroy, NULL, NULL, NULL, napi_default, NULL },
    { "classifierAttach", NULL, js_classifier_attach, NULL, NULL, NULL, napi_default, NULL },
    { "classifierTake", NULL, js_classifier_take, NULL, NULL, NULL, napi_default, NULL },
    { "readAhead", NULL, js_read_ahead, NULL, NULL, NULL, napi_default, NULL },
    { "readAheadNext", NULL, js_read_ahead_next, NULL, NULL, NULL, napi_default, NULL },
    { "readAheadStop", NULL, js_read_ahead_stop, NULL, NULL, NULL, napi_default, NULL },
    { "hugeAlign", NULL, js_huge_align, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value version;
  napi_create_int32(env, LAYOUT[LAYOUT_N - 1], &version);
  napi_set_named_property(env, exports, "layoutVersion", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
