/*
 * rstwatch's native classifier: the connection side of `rstwatch analyze` (src/analyze/flow-analysis.ts
 * ConnectionSide, causes.ts ContextBuilder, rules.ts decide, aggregate.ts ResetTally) in C, run by the
 * classification worker (classify-worker.ts) on the item ring the reading thread's engine writes
 * (item-ring.ts; items as flow-worker.ts ITEM_*). Included by engine.c (one translation unit: the record
 * layouts are defined there).
 *
 * Why (docs/benchmarks.md, part 7, round 7): in JavaScript the worker spent ~0.65 s of CPU on the 1 GB
 * benchmark capture, plus its collector and compiler threads, on a machine of two cores whose other core
 * reads: most of it moving each connection out of the ring into objects. Here a connection is read where
 * it lies and kept as its words.
 *
 * The TypeScript implementation is the reference: every function says which one it follows, and
 * test/unit/native-engine.test.ts compares whole reports (TypeScript in one thread against the engine with
 * this classifier) on random captures with tiny bounds, the corpus and the fixtures. What the report needs
 * as text — causes' examples, findings, the listed connections with their evidence — is made by TypeScript
 * from what classifier_export() hands back (native-classify.ts).
 *
 * Where TypeScript keys maps by address strings, this code keys them by the address words (v, w0..w3; an
 * IPv4 address has w1..w3 = 0), the same one-to-one naming. JavaScript Map insertion order never shows in
 * the result: every pruning (median weight) drops at least the median's own entry, and every list the
 * report shows is sorted by a total order.
 */

/* ---- causes.ts CAUSES order, Confidence, conn_state ---- */
enum { CA_REFUSED, CA_SCAN, CA_ABORT, CA_IDLE, CA_QUEUE, CA_TWA, CA_HALF_OPEN, CA_BACKSCATTER, CA_INJECTION,
       CA_RST_FLOOD, CA_UNEXPLAINED, CA_N };
enum { CONF_CERTAIN, CONF_LIKELY, CONF_POSSIBLE };
enum { CS_S0, CS_S1, CS_SF, CS_REJ, CS_S2, CS_S3, CS_RSTO, CS_RSTR, CS_RSTOS0, CS_RSTRH, CS_SH, CS_SHR, CS_OTH };
/* flow-worker.ts */
enum { K_ITEM_ATTEMPT = 1, K_ITEM_HELD = 2, K_ITEM_END = 3 };
/* causes.ts THRESHOLDS and ContextBuilder bounds */
#define SCAN_MIN_TARGETS 10
#define SCAN_WINDOW_SEC 60
#define FLOOD_MIN_RSTS 50
#define BACKSCATTER_MIN 5
#define IDLE_SEC 60
#define IDLE_LIKELY_SEC 300
#define MAX_ATTEMPTS_PER_SOURCE 10000
#define MAX_FLOOD_SOURCES 100000
#define MAX_SCATTER_PORTS 65536
/* flow-analysis.ts CONTEXT_REFRESH */
#define CONTEXT_REFRESH 16384

/* ---------------------------------------------------------------------------------------------------- */
/* a hash map from fixed-length keys (nk words) to an int32 value (an index into an entry array) */

typedef struct {
  uint32_t nk, cap, size;
  int32_t *keys;
  uint32_t *hashes;
  int32_t *vals; /* -1: a free slot */
} HMap;

static void hm_init(HMap *m, uint32_t nk, uint32_t cap) {
  m->nk = nk;
  m->cap = cap;
  m->size = 0;
  m->keys = malloc(sizeof(int32_t) * nk * (size_t)cap);
  m->hashes = malloc(sizeof(uint32_t) * (size_t)cap);
  m->vals = malloc(sizeof(int32_t) * (size_t)cap);
  if (!m->keys || !m->hashes || !m->vals) abort();
  memset(m->vals, 0xff, sizeof(int32_t) * (size_t)cap);
}

static void hm_free(HMap *m) {
  free(m->keys);
  free(m->hashes);
  free(m->vals);
  m->keys = NULL;
  m->hashes = NULL;
  m->vals = NULL;
  m->size = m->cap = 0;
}

static uint32_t hm_hash(const int32_t *k, uint32_t nk) {
  uint32_t h = 0x811c9dc5U;
  for (uint32_t i = 0; i < nk; i++) h = (h ^ (uint32_t)k[i]) * 0x01000193U;
  return fmix(h);
}

/* the slot holding key `k`, or the free slot where it would go */
static uint32_t hm_slot(const HMap *m, const int32_t *k, uint32_t h) {
  uint32_t mask = m->cap - 1;
  uint32_t i = h & mask;
  for (; m->vals[i] >= 0; i = (i + 1) & mask)
    if (m->hashes[i] == h && memcmp(m->keys + (size_t)i * m->nk, k, sizeof(int32_t) * m->nk) == 0) return i;
  return i;
}

static int32_t hm_get(const HMap *m, const int32_t *k) {
  if (m->size == 0) return -1;
  return m->vals[hm_slot(m, k, hm_hash(k, m->nk))];
}

static void hm_grow(HMap *m) {
  HMap old = *m;
  hm_init(m, old.nk, old.cap * 2);
  for (uint32_t i = 0; i < old.cap; i++) {
    if (old.vals[i] < 0) continue;
    uint32_t j = hm_slot(m, old.keys + (size_t)i * old.nk, old.hashes[i]);
    memcpy(m->keys + (size_t)j * m->nk, old.keys + (size_t)i * old.nk, sizeof(int32_t) * m->nk);
    m->hashes[j] = old.hashes[i];
    m->vals[j] = old.vals[i];
    m->size++;
  }
  hm_free(&old);
}

/* sets key `k` to `v` (a new key or a new value) */
static void hm_set(HMap *m, const int32_t *k, int32_t v) {
  uint32_t h = hm_hash(k, m->nk);
  uint32_t i = hm_slot(m, k, h);
  if (m->vals[i] < 0) {
    if ((m->size + 1) * 2 > m->cap) {
      hm_grow(m);
      i = hm_slot(m, k, h);
    }
    memcpy(m->keys + (size_t)i * m->nk, k, sizeof(int32_t) * m->nk);
    m->hashes[i] = h;
    m->size++;
  }
  m->vals[i] = v;
}

/* adds key `k` (a set); returns 1 if it was new */
static int hs_add(HMap *m, const int32_t *k) {
  uint32_t h = hm_hash(k, m->nk);
  uint32_t i = hm_slot(m, k, h);
  if (m->vals[i] >= 0) return 0;
  if ((m->size + 1) * 2 > m->cap) {
    hm_grow(m);
    i = hm_slot(m, k, h);
  }
  memcpy(m->keys + (size_t)i * m->nk, k, sizeof(int32_t) * m->nk);
  m->hashes[i] = h;
  m->vals[i] = 1;
  m->size++;
  return 1;
}

static void *grow_array(void *p, uint32_t *cap, uint32_t need, size_t size) {
  if (need <= *cap) return p;
  uint32_t c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  void *q = realloc(p, size * (size_t)c);
  if (q == NULL) abort();
  *cap = c;
  return q;
}

/* ---------------------------------------------------------------------------------------------------- */
/* an address as the maps key it: v (4 or 6) and four words, IPv4's last three 0 (addr-cache.ts names it) */

typedef struct {
  int32_t w[5];
} Addr;

static Addr addr_of(int v, const int32_t *words) {
  Addr a;
  int v6 = v == 6;
  a.w[0] = v6 ? 6 : 4;
  a.w[1] = words[0];
  a.w[2] = v6 ? words[1] : 0;
  a.w[3] = v6 ? words[2] : 0;
  a.w[4] = v6 ? words[3] : 0;
  return a;
}

/* ---------------------------------------------------------------------------------------------------- */
/* causes.ts ContextBuilder */

typedef struct {
  double time;
  int32_t target; /* index in the source's targets */
  int32_t rst;
} Attempt;

typedef struct {
  double targets, rst_probes, ports, hosts, peak, first, last;
} ScanSource;

typedef struct {
  Addr addr;
  Attempt *list;
  uint32_t n, cap;
  HMap targets; /* (host, port) → index */
  HMap hosts;   /* host → 1 */
  HMap ports;   /* port → 1 */
  double rst_probes;
  int dirty, has_result;
  ScanSource result;
} Source;

typedef struct {
  Addr addr;
  double rsts, first, last;
  HMap sources;
} FloodT;

typedef struct {
  Addr sender, receiver;
  double packets;
  HMap ports;
} ScatterT;

/* ClassifyContext: what build() found, looked up by address */
typedef struct {
  HMap scan; /* addr → index in scans */
  struct ScanOut {
    Addr addr;
    ScanSource s;
  } *scans;
  uint32_t nscan;
  HMap flood;
  struct FloodOut {
    Addr addr;
    double rsts, sources, first, last;
  } *floods;
  uint32_t nflood;
  HMap scat; /* (sender, receiver) → index */
  struct ScatOut {
    Addr sender, receiver;
    double packets, ports;
  } *scats;
  uint32_t nscat;
} Ctx;

typedef struct {
  uint32_t max_keys;
  double evicted;
  Source *src;
  uint32_t nsrc, capsrc;
  HMap src_index;
  FloodT *fl;
  uint32_t nfl, capfl;
  HMap fl_index;
  ScatterT *sc;
  uint32_t nsc, capsc;
  HMap sc_index;
} CtxBuilder;

static void source_free(Source *s) {
  free(s->list);
  hm_free(&s->targets);
  hm_free(&s->hosts);
  hm_free(&s->ports);
}

static int cmp_weight(const void *x, const void *y) { return cmp_double(x, y); }

/*
 * pruneByWeight: the entries weighing at or below the median go (at least the median's own: TypeScript's
 * fallback, the first key when none went, never applies); returns how many went. `weight(i)` of entry i,
 * `drop(i)` frees entry i's memory; the survivors move to the front and the index is made again.
 */
#define PRUNE_BY_WEIGHT(arr, n, index, nk, keyof, weightof, freeof, evicted)                                \
  do {                                                                                                      \
    double *ws_ = malloc(sizeof(double) * ((n) ? (n) : 1));                                                 \
    if (ws_ == NULL) abort();                                                                               \
    for (uint32_t i_ = 0; i_ < (n); i_++) ws_[i_] = weightof(&(arr)[i_]);                                   \
    qsort(ws_, (n), sizeof(double), cmp_weight);                                                            \
    double median_ = (n) ? ws_[(n) >> 1] : 0;                                                               \
    free(ws_);                                                                                              \
    uint32_t kept_ = 0;                                                                                     \
    for (uint32_t i_ = 0; i_ < (n); i_++) {                                                                 \
      if (weightof(&(arr)[i_]) <= median_) {                                                                \
        freeof(&(arr)[i_]);                                                                                 \
      } else {                                                                                              \
        if (kept_ != i_) (arr)[kept_] = (arr)[i_];                                                          \
        kept_++;                                                                                            \
      }                                                                                                     \
    }                                                                                                       \
    (evicted) += (double)((n) - kept_);                                                                     \
    (n) = kept_;                                                                                            \
    hm_free(&(index));                                                                                      \
    hm_init(&(index), (nk), 64);                                                                            \
    for (uint32_t i_ = 0; i_ < (n); i_++) hm_set(&(index), keyof(&(arr)[i_]), (int32_t)i_);               \
  } while (0)

static double src_weight(const Source *s) { return (double)s->n; }
static double fl_weight(const FloodT *f) { return f->rsts; }
static double sc_weight(const ScatterT *s) { return s->packets; }
static const int32_t *src_key(const Source *s) { return s->addr.w; }
static const int32_t *fl_key(const FloodT *f) { return f->addr.w; }
static void fl_free(FloodT *f) { hm_free(&f->sources); }
static void sc_free(ScatterT *s) { hm_free(&s->ports); }

static const int32_t *sc_key(const ScatterT *s) {
  /* the two addresses side by side in the struct: (sender, receiver) */
  return s->sender.w;
}

static void cb_init(CtxBuilder *b, uint32_t max_keys) {
  memset(b, 0, sizeof *b);
  b->max_keys = max_keys;
  hm_init(&b->src_index, 5, 64);
  hm_init(&b->fl_index, 5, 64);
  hm_init(&b->sc_index, 10, 64);
}

static void cb_free(CtxBuilder *b) {
  for (uint32_t i = 0; i < b->nsrc; i++) source_free(&b->src[i]);
  for (uint32_t i = 0; i < b->nfl; i++) fl_free(&b->fl[i]);
  for (uint32_t i = 0; i < b->nsc; i++) sc_free(&b->sc[i]);
  free(b->src);
  free(b->fl);
  free(b->sc);
  hm_free(&b->src_index);
  hm_free(&b->fl_index);
  hm_free(&b->sc_index);
}

/* ContextBuilder.attempt */
static void cb_attempt(CtxBuilder *b, const Addr *source, const Addr *host, int32_t port, double time, int rst) {
  int32_t i = hm_get(&b->src_index, source->w);
  if (i < 0) {
    if (b->nsrc >= b->max_keys)
      PRUNE_BY_WEIGHT(b->src, b->nsrc, b->src_index, 5, src_key, src_weight, source_free, b->evicted);
    b->src = grow_array(b->src, &b->capsrc, b->nsrc + 1, sizeof(Source));
    i = (int32_t)b->nsrc++;
    Source *s = &b->src[i];
    memset(s, 0, sizeof *s);
    s->addr = *source;
    hm_init(&s->targets, 6, 8);
    hm_init(&s->hosts, 5, 8);
    hm_init(&s->ports, 1, 8);
    s->dirty = 1;
    hm_set(&b->src_index, source->w, i);
  }
  Source *s = &b->src[i];
  if (s->n >= MAX_ATTEMPTS_PER_SOURCE) return;
  int32_t t[6];
  memcpy(t, host->w, sizeof host->w);
  t[5] = port;
  int32_t ti = hm_get(&s->targets, t);
  if (ti < 0) {
    ti = (int32_t)s->targets.size;
    hm_set(&s->targets, t, ti);
  }
  hs_add(&s->hosts, host->w);
  hs_add(&s->ports, &port);
  s->list = grow_array(s->list, &s->cap, s->n + 1, sizeof(Attempt));
  s->list[s->n].time = time;
  s->list[s->n].target = ti;
  s->list[s->n].rst = rst;
  s->n++;
  if (rst) s->rst_probes += 1;
  s->dirty = 1;
}

/* ContextBuilder.scatterAdd */
static void cb_scatter(CtxBuilder *b, const Addr *sender, const Addr *receiver, int32_t port) {
  int32_t k[10];
  memcpy(k, sender->w, sizeof sender->w);
  memcpy(k + 5, receiver->w, sizeof receiver->w);
  int32_t i = hm_get(&b->sc_index, k);
  if (i < 0) {
    if (b->nsc >= b->max_keys)
      PRUNE_BY_WEIGHT(b->sc, b->nsc, b->sc_index, 10, sc_key, sc_weight, sc_free, b->evicted);
    b->sc = grow_array(b->sc, &b->capsc, b->nsc + 1, sizeof(ScatterT));
    i = (int32_t)b->nsc++;
    ScatterT *s = &b->sc[i];
    s->sender = *sender;
    s->receiver = *receiver;
    s->packets = 0;
    hm_init(&s->ports, 1, 8);
    hm_set(&b->sc_index, k, i);
  }
  ScatterT *s = &b->sc[i];
  s->packets += 1;
  if (s->ports.size < MAX_SCATTER_PORTS) hs_add(&s->ports, &port);
}

/* the flood tally of receiver `recv` (made when new), ContextBuilder.add */
static FloodT *cb_flood(CtxBuilder *b, const Addr *recv, double time) {
  int32_t i = hm_get(&b->fl_index, recv->w);
  if (i < 0) {
    if (b->nfl >= b->max_keys)
      PRUNE_BY_WEIGHT(b->fl, b->nfl, b->fl_index, 5, fl_key, fl_weight, fl_free, b->evicted);
    b->fl = grow_array(b->fl, &b->capfl, b->nfl + 1, sizeof(FloodT));
    i = (int32_t)b->nfl++;
    FloodT *f = &b->fl[i];
    f->addr = *recv;
    f->rsts = 0;
    f->first = time;
    f->last = time;
    hm_init(&f->sources, 5, 8);
    hm_set(&b->fl_index, recv->w, i);
  }
  return &b->fl[i];
}

static int cmp_attempt_time(const void *x, const void *y) {
  double a = ((const Attempt *)x)->time, b = ((const Attempt *)y)->time;
  return a < b ? -1 : a > b;
}

/*
 * ContextBuilder.scanSource: 0 when not a scanner. The order of attempts with equal times changes no result
 * (the window's start depends on the time alone, and the count of targets only grows within equal times),
 * so an unstable sort gives what TypeScript's stable one gives.
 */
static int scan_source(Source *s, ScanSource *out) {
  if (s->targets.size < SCAN_MIN_TARGETS) return 0;
  qsort(s->list, s->n, sizeof(Attempt), cmp_attempt_time);
  uint32_t *in_win = calloc(s->targets.size, sizeof(uint32_t));
  if (in_win == NULL) abort();
  uint32_t distinct = 0, peak = 0, lo = 0;
  for (uint32_t hi = 0; hi < s->n; hi++) {
    const Attempt *at = &s->list[hi];
    if (in_win[at->target]++ == 0) distinct++;
    while (at->time - s->list[lo].time > SCAN_WINDOW_SEC) {
      if (--in_win[s->list[lo].target] == 0) distinct--;
      lo++;
    }
    if (distinct > peak) peak = distinct;
  }
  free(in_win);
  if (peak < SCAN_MIN_TARGETS) return 0;
  out->targets = s->targets.size;
  out->rst_probes = s->rst_probes;
  out->ports = s->ports.size;
  out->hosts = s->hosts.size;
  out->peak = peak;
  out->first = s->list[0].time;
  out->last = s->list[s->n - 1].time;
  return 1;
}

static void ctx_free(Ctx *c) {
  if (c == NULL) return;
  hm_free(&c->scan);
  hm_free(&c->flood);
  hm_free(&c->scat);
  free(c->scans);
  free(c->floods);
  free(c->scats);
  free(c);
}

/* ContextBuilder.build (a source whose attempts did not change keeps its result) */
static Ctx *cb_build(CtxBuilder *b) {
  Ctx *c = calloc(1, sizeof(Ctx));
  if (c == NULL) abort();
  hm_init(&c->scan, 5, 64);
  hm_init(&c->flood, 5, 64);
  hm_init(&c->scat, 10, 64);
  uint32_t cap = 0;
  for (uint32_t i = 0; i < b->nsrc; i++) {
    Source *s = &b->src[i];
    if (s->dirty) {
      s->has_result = scan_source(s, &s->result);
      s->dirty = 0;
    }
    if (!s->has_result) continue;
    c->scans = grow_array(c->scans, &cap, c->nscan + 1, sizeof(struct ScanOut));
    c->scans[c->nscan].addr = s->addr;
    c->scans[c->nscan].s = s->result;
    hm_set(&c->scan, s->addr.w, (int32_t)c->nscan);
    c->nscan++;
  }
  cap = 0;
  for (uint32_t i = 0; i < b->nfl; i++) {
    FloodT *f = &b->fl[i];
    if (f->rsts < FLOOD_MIN_RSTS) continue;
    c->floods = grow_array(c->floods, &cap, c->nflood + 1, sizeof(struct FloodOut));
    struct FloodOut *o = &c->floods[c->nflood];
    o->addr = f->addr;
    o->rsts = f->rsts;
    o->sources = f->sources.size;
    o->first = f->first;
    o->last = f->last;
    hm_set(&c->flood, f->addr.w, (int32_t)c->nflood);
    c->nflood++;
  }
  cap = 0;
  for (uint32_t i = 0; i < b->nsc; i++) {
    ScatterT *s = &b->sc[i];
    if (s->packets < BACKSCATTER_MIN) continue;
    c->scats = grow_array(c->scats, &cap, c->nscat + 1, sizeof(struct ScatOut));
    struct ScatOut *o = &c->scats[c->nscat];
    o->sender = s->sender;
    o->receiver = s->receiver;
    o->packets = s->packets;
    o->ports = s->ports.size;
    int32_t k[10];
    memcpy(k, s->sender.w, sizeof s->sender.w);
    memcpy(k + 5, s->receiver.w, sizeof s->receiver.w);
    hm_set(&c->scat, k, (int32_t)c->nscat);
    c->nscat++;
  }
  return c;
}

static const ScanSource *ctx_scanner(const Ctx *c, const Addr *a) {
  int32_t i = hm_get(&c->scan, a->w);
  return i < 0 ? NULL : &c->scans[i].s;
}

static const struct FloodOut *ctx_flood(const Ctx *c, const Addr *a) {
  int32_t i = hm_get(&c->flood, a->w);
  return i < 0 ? NULL : &c->floods[i];
}

static int ctx_backscatter(const Ctx *c, const Addr *sender, const Addr *receiver) {
  int32_t k[10];
  memcpy(k, sender->w, sizeof sender->w);
  memcpy(k + 5, receiver->w, sizeof receiver->w);
  return hm_get(&c->scat, k) >= 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* a held connection: its item's words (held.ts deserialize's layout) and what classification reads of them */

typedef struct {
  int side; /* 0: from the originator */
  int ack;  /* 'RST+ACK' rather than 'RST' */
  int judgment, challenge, after_fins, snd_state, keepalive;
  uint32_t seq;
  int32_t ttl, prev_ttl_min, prev_ttl_max;
  double time, idle, prev_packets;
} Reset;

typedef struct {
  int32_t *w; /* why, I, D (two words each), H, spill length, spill, resets count, resets */
  uint32_t nw, wcap;
  double id, start;
  Addr orig, resp;
  int32_t orig_port, resp_port;
  int conn_state, unsolicited_synack, failed_shape, handshake, synack_retx;
  int32_t o_syns, r_syns, o_rsts, r_rsts;
  double o_packets, r_packets, o_payload, r_payload;
  int32_t drop_o, drop_r;
  int nres;
  Reset *res;
  uint32_t rescap;
} Held;

static double word_double(const int32_t *w) {
  double d;
  memcpy(&d, w, sizeof d);
  return d;
}

/* conn-state.ts endpointSize (Zeek's Size) */
static double endpoint_size(const int32_t *ep, const int32_t *peer) {
  if (ep[E_PREV_STATE] == EP_SYN_SENT && ep[E_STATE] == EP_RESET && peer[E_STATE] == EP_INACTIVE) {
    uint32_t acked = (uint32_t)ep[E_ACK_SEQ] - (uint32_t)ep[E_START_SEQ];
    if (acked != 0 && acked != 1) return 0;
  }
  uint32_t last = (uint32_t)ep[E_LAST_SEQ] - (uint32_t)ep[E_START_SEQ];
  uint32_t acked = (uint32_t)ep[E_ACK_SEQ] - (uint32_t)ep[E_START_SEQ];
  uint32_t size = last > acked ? last : acked;
  if (size != 0) size--;
  if (ep[E_FIN_CNT] > 0 && size != 0) size--;
  return size;
}

/* conn-state.ts RSTOS0_RE /^\^?S[^HAFGIQ]*R.*$/ */
static int rstos0_shape(const uint8_t *h, uint32_t n) {
  uint32_t i = 0;
  if (i < n && h[i] == '^') i++;
  if (i >= n || h[i] != 'S') return 0;
  for (i++; i < n; i++) {
    if (h[i] == 'R') return 1;
    if (strchr("HAFGIQ", h[i]) != NULL) return 0;
  }
  return 0;
}

/* causes.ts isFailedAttempt's /^S+h[hR]*R/ */
static int failed_shape(const uint8_t *h, uint32_t n) {
  uint32_t i = 0;
  while (i < n && h[i] == 'S') i++;
  if (i == 0 || i >= n || h[i] != 'h') return 0;
  for (i++; i < n && h[i] == 'h'; i++) {
  }
  return i < n && h[i] == 'R';
}

/* conn-state.ts connState */
static int conn_state(int os, int rs, double osize, double rsize, const uint8_t *h, uint32_t n) {
  int o_inactive = os == EP_INACTIVE || os == EP_PARTIAL;
  int r_inactive = rs == EP_INACTIVE || rs == EP_PARTIAL;
  if (rs == EP_RESET) {
    if (os == EP_SYN_SENT || os == EP_SYN_ACK_SENT || (os == EP_RESET && osize == 0 && rsize == 0)) return CS_REJ;
    return o_inactive ? CS_RSTRH : CS_RSTR;
  }
  if (os == EP_RESET) {
    if (r_inactive) return rstos0_shape(h, n) ? CS_RSTOS0 : CS_OTH;
    return CS_RSTO;
  }
  if (rs == EP_CLOSED && os == EP_CLOSED) return CS_SF;
  if (os == EP_CLOSED) return r_inactive ? CS_SH : CS_S2;
  if (rs == EP_CLOSED) return o_inactive ? CS_SHR : CS_S3;
  if (os == EP_SYN_SENT && rs == EP_INACTIVE) return CS_S0;
  if (os == EP_ESTABLISHED && rs == EP_ESTABLISHED) return CS_S1;
  return CS_OTH;
}

/*
 * Reads what classification needs from the item's words (records.ts ConnectionRecord.load, ContextView,
 * loadReset; held.ts dropped); 0 when the words are not a whole item.
 */
static int held_load(Held *c, uint8_t *hist, uint32_t hist_room) {
  const int32_t *w = c->w;
  uint32_t nw = c->nw;
  uint32_t base = 1 + I_STRIDE + 2 * D_STRIDE + HIST_CAP;
  if (nw < base + 2) return 0;
  const int32_t *I = w + 1;
  const int32_t *Dw = w + 1 + I_STRIDE;
  const int32_t *H = w + 1 + I_STRIDE + 2 * D_STRIDE;
  int32_t nspill = w[base];
  if (nspill < 0 || (uint32_t)nspill > nw - base - 2) return 0;
  int32_t nres = w[base + 1 + nspill];
  uint32_t res_at = base + 2 + (uint32_t)nspill;
  if (nres < 0 || (uint64_t)res_at + (uint64_t)nres * RES_WORDS > nw) return 0;
  /* the history: the letters in the record (F_HIST_LEN of them, HIST_CAP at most), then the spill */
  int32_t hl = I[F_HIST_LEN];
  uint32_t inline_n = hl < 0 ? 0 : (uint32_t)(hl < HIST_CAP ? hl : HIST_CAP);
  uint32_t hn = 0;
  for (uint32_t i = 0; i < inline_n && hn < hist_room; i++) hist[hn++] = (uint8_t)H[i];
  if (hl > HIST_CAP)
    for (int32_t i = 0; i < nspill && hn < hist_room; i++) hist[hn++] = (uint8_t)w[base + 1 + i];

  int v = I[F_V] == 6 ? 6 : 4;
  int orig_phys = I[F_ORIG_EP] != 0;
  int orig_is_a = I[F_ORIG_IS_A] != 0;
  Addr a = addr_of(v, I + F_A0), b = addr_of(v, I + F_B0);
  c->orig = orig_is_a ? a : b;
  c->resp = orig_is_a ? b : a;
  c->orig_port = orig_is_a ? I[F_PA] : I[F_PB];
  c->resp_port = orig_is_a ? I[F_PB] : I[F_PA];
  c->id = word_double(Dw + 2 * D_ID);
  c->start = word_double(Dw + 2 * D_START);
  const int32_t *o = I + E_BASE + orig_phys * E_STRIDE;
  const int32_t *r = I + E_BASE + (orig_phys ^ 1) * E_STRIDE;
  const int32_t *dO = Dw + 2 * (DE_BASE + orig_phys * DE_STRIDE);
  const int32_t *dR = Dw + 2 * (DE_BASE + (orig_phys ^ 1) * DE_STRIDE);
  c->o_syns = o[E_SYNS];
  c->r_syns = r[E_SYNS];
  c->o_rsts = o[E_RST_CNT];
  c->r_rsts = r[E_RST_CNT];
  c->o_packets = word_double(dO + 2 * DE_PACKETS);
  c->r_packets = word_double(dR + 2 * DE_PACKETS);
  c->o_payload = word_double(dO + 2 * DE_PAYLOAD);
  c->r_payload = word_double(dR + 2 * DE_PAYLOAD);
  c->handshake = I[F_HANDSHAKE] != 0;
  c->synack_retx = r[E_SYNACK_RETX];
  c->drop_o = I[F_DROPPED0 + orig_phys];
  c->drop_r = I[F_DROPPED0 + (orig_phys ^ 1)];
  /* conn-state.ts flowConnState */
  int os = o[E_STATE], rs = r[E_STATE];
  int r_inactive = rs == EP_INACTIVE || rs == EP_PARTIAL;
  if (os == EP_RESET && rs != EP_RESET && r_inactive)
    c->conn_state = rstos0_shape(hist, hn) ? CS_RSTOS0 : CS_OTH;
  else
    c->conn_state = conn_state(os, rs, endpoint_size(o, r), endpoint_size(r, o), hist, 0);
  /* causes.ts hasUnsolicitedSynAck's history test: replace('^', '') removes the first '^' only */
  c->unsolicited_synack = hn > 0 && (hist[0] == 'h' || (hist[0] == '^' && hn > 1 && hist[1] == 'h'));
  c->failed_shape = failed_shape(hist, hn);
  c->nres = nres;
  c->res = grow_array(c->res, &c->rescap, (uint32_t)nres + 1, sizeof(Reset));
  for (int32_t k = 0; k < nres; k++) {
    const int32_t *R = w + res_at + (uint32_t)k * RES_WORDS;
    const int32_t *RDw = R + R_STRIDE;
    Reset *x = &c->res[k];
    x->side = (R[R_SENDER] != 0) == orig_phys ? 0 : 1;
    x->ack = (R[R_FLAGS] & T_ACK) != 0;
    x->judgment = R[R_JUDGMENT];
    x->challenge = R[R_CHALLENGE] != 0;
    x->after_fins = R[R_AFTER_FINS] != 0;
    x->snd_state = R[R_SND_STATE];
    x->keepalive = R[R_KEEPALIVE];
    x->seq = (uint32_t)R[R_SEQ];
    x->ttl = R[R_TTL];
    x->prev_ttl_min = R[R_PREV_TTL_MIN];
    x->prev_ttl_max = R[R_PREV_TTL_MAX];
    x->time = word_double(RDw + 2 * RD_TIME);
    x->idle = word_double(RDw + 2 * RD_IDLE);
    x->prev_packets = word_double(RDw + 2 * RD_PREV_PACKETS);
  }
  return 1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* rules.ts decide */

static int is_rst_only(const Held *c) {
  return c->o_packets == c->o_rsts && c->r_packets == c->r_rsts && c->nres > 0;
}

static int has_unsolicited_synack(const Held *c) {
  return c->o_syns == 0 && c->r_syns > 0 && c->unsolicited_synack;
}

static int is_failed_attempt(const Held *c) {
  if (c->o_syns == 0) return 0;
  if (c->conn_state == CS_REJ || c->conn_state == CS_S0 || c->conn_state == CS_RSTOS0) return 1;
  return c->conn_state == CS_RSTO && c->o_payload == 0 && c->r_payload == 0 && c->failed_shape;
}

static int is_rst_probe(const Held *c, const Reset *r, const uint8_t *server_ports) {
  return !r->ack && !server_ports[(uint16_t)(r->side == 0 ? c->orig_port : c->resp_port)];
}

static int ttl_unlike_peer(const Reset *r) {
  return r->prev_packets > 0 && r->prev_ttl_min >= 0 && (r->ttl < r->prev_ttl_min || r->ttl > r->prev_ttl_max);
}

/* stepped(sameSideOf(c, r)) */
static int stepped_side(const Held *c, int side) {
  int n = 0, inexact = 0, distinct = 0;
  uint32_t first = 0;
  for (int i = 0; i < c->nres; i++) {
    const Reset *x = &c->res[i];
    if (x->side != side) continue;
    if (n == 0) first = x->seq;
    else if (x->seq != first) distinct = 1;
    if (x->judgment != 0) inexact = 1;
    n++;
  }
  return n >= 2 && distinct && inexact;
}

static int injection_count(const Held *c, const Reset *r) {
  int steps = c->nres >= 2 && stepped_side(c, r->side);
  return (r->challenge ? 1 : 0) + (ttl_unlike_peer(r) ? 1 : 0) + (steps ? 1 : 0);
}

static int established(const Held *c, const Reset *r) {
  return c->handshake || r->snd_state == EP_ESTABLISHED || r->snd_state == EP_PARTIAL || r->snd_state == EP_CLOSED;
}

static void decide(const Held *c, const Reset *r, const Ctx *ctx, const Addr *snd, const Addr *rcv,
                   const uint8_t *server_ports, int *cause, int *conf) {
#define PICK(ca, co)                                                                                         \
  do {                                                                                                       \
    *cause = (ca);                                                                                           \
    *conf = (co);                                                                                            \
    return;                                                                                                  \
  } while (0)
  if (is_rst_only(c)) {
    const struct FloodOut *fl = ctx_flood(ctx, rcv);
    const ScanSource *rs = ctx_scanner(ctx, snd);
    if (rs != NULL && rs->rst_probes > 0 && is_rst_probe(c, r, server_ports) && (fl == NULL || fl->sources <= 1))
      PICK(CA_SCAN, CONF_LIKELY);
    if (fl != NULL) PICK(CA_RST_FLOOD, CONF_LIKELY);
    if (r->ack && ctx_backscatter(ctx, snd, rcv)) PICK(CA_BACKSCATTER, CONF_POSSIBLE);
    PICK(CA_UNEXPLAINED, CONF_POSSIBLE);
  }
  if (has_unsolicited_synack(c) && r->side == 0)
    PICK(CA_BACKSCATTER, ctx_backscatter(ctx, &c->resp, &c->orig) ? CONF_LIKELY : CONF_POSSIBLE);
  if (r->challenge || ttl_unlike_peer(r))
    PICK(CA_INJECTION, r->challenge || injection_count(c, r) >= 2 ? CONF_LIKELY : CONF_POSSIBLE);
  const ScanSource *scanner = ctx_scanner(ctx, &c->orig);
  if (c->conn_state == CS_REJ && r->side == 1 && c->r_syns == 0) {
    if (scanner != NULL) PICK(CA_SCAN, CONF_LIKELY);
    PICK(CA_REFUSED, r->judgment == J_EXACT ? CONF_CERTAIN : CONF_LIKELY);
  }
  if (r->side == 0 && is_failed_attempt(c) && c->conn_state != CS_REJ) {
    if (scanner != NULL) PICK(CA_SCAN, CONF_LIKELY);
    if (c->r_syns > 0 && !c->handshake) PICK(CA_SCAN, CONF_POSSIBLE);
  }
  if (r->side == 1 && c->synack_retx > 0 && c->r_payload == 0)
    PICK(CA_QUEUE, c->handshake ? CONF_LIKELY : CONF_POSSIBLE);
  if (r->side == 1 && !r->ack && r->judgment == J_EXACT && c->handshake && c->r_syns > 0 &&
      c->r_packets - c->r_rsts == c->r_syns)
    PICK(CA_QUEUE, CONF_LIKELY);
  if (r->after_fins) PICK(CA_TWA, r->judgment == J_EXACT ? CONF_LIKELY : CONF_POSSIBLE);
  if (r->judgment == J_IN || (r->judgment == J_OUT && r->prev_packets > 0))
    PICK(CA_INJECTION, CONF_POSSIBLE);
  if (injection_count(c, r) > 0) PICK(CA_INJECTION, CONF_POSSIBLE);
  int est = established(c, r);
  if (r->keepalive > 0 && est && r->judgment != J_OUT) PICK(CA_IDLE, CONF_LIKELY);
  if (!r->ack && r->prev_packets > 0 && est && r->judgment != J_OUT)
    PICK(CA_HALF_OPEN, r->judgment == J_EXACT ? CONF_LIKELY : CONF_POSSIBLE);
  if (r->idle >= IDLE_SEC && est) PICK(CA_IDLE, r->idle >= IDLE_LIKELY_SEC ? CONF_LIKELY : CONF_POSSIBLE);
  if (r->ack && est && r->prev_packets > 0 && r->judgment == J_EXACT) PICK(CA_ABORT, CONF_LIKELY);
  PICK(CA_UNEXPLAINED, CONF_POSSIBLE);
#undef PICK
}

/* ---------------------------------------------------------------------------------------------------- */
/* aggregate.ts ResetTally */

/* a connection's label (connLabel: orig → resp) as words: orig address, orig port, resp address, resp port */
#define LABEL_WORDS 12

typedef struct {
  double count, by_conf[3];
  int nex;
  double ex_id[3];
  int32_t ex_label[3][LABEL_WORDS];
} CauseT;

/* a finding group's first reset: what findings.ts reads of it, and the order topGroups sorts by */
typedef struct {
  double conn_id;
  int32_t index;
  Addr orig, resp, sender, receiver;
  int32_t resp_port;
} First;

typedef struct {
  int32_t key[12]; /* cause, a (5 words), b (5 words), port */
  int cause;
  double count, conns, last_conn_id;
  int conf;
  First first;
} Group;

typedef struct {
  CauseT causes[CA_N];
  Group *g;
  uint32_t ng, capg, max_groups;
  HMap g_index;
  double *ports; /* by responder port */
  double groups_dropped, resets, from_orig;
} Tally;

static void tally_init(Tally *t, uint32_t max_groups) {
  memset(t, 0, sizeof *t);
  t->max_groups = max_groups;
  hm_init(&t->g_index, 12, 64);
  t->ports = calloc(65536, sizeof(double));
  if (t->ports == NULL) abort();
}

static void tally_free(Tally *t) {
  free(t->g);
  free(t->ports);
  hm_free(&t->g_index);
}

static void label_of(const Held *c, int32_t *l) {
  memcpy(l, c->orig.w, sizeof c->orig.w);
  l[5] = c->orig_port;
  memcpy(l + 6, c->resp.w, sizeof c->resp.w);
  l[11] = c->resp_port;
}

/* ResetTally.cause: counts, and the examples (distinct labels of the lowest connection ids) */
static void tally_cause(Tally *t, const Held *c, int cause, int conf, double n) {
  CauseT *s = &t->causes[cause];
  s->count += n;
  s->by_conf[conf] += n;
  double id = c->id;
  if (s->nex == 3 && id >= s->ex_id[2]) return;
  int32_t label[LABEL_WORDS];
  label_of(c, label);
  for (int at = 0; at < s->nex; at++) {
    if (memcmp(s->ex_label[at], label, sizeof label) != 0) continue;
    if (s->ex_id[at] <= id) return;
    for (int k = at; k + 1 < s->nex; k++) {
      s->ex_id[k] = s->ex_id[k + 1];
      memcpy(s->ex_label[k], s->ex_label[k + 1], sizeof label);
    }
    s->nex--;
    break;
  }
  int i = s->nex;
  while (i > 0 && s->ex_id[i - 1] > id) i--;
  /* insert at i (< 3: a fourth example would have returned above); the third goes when there are three */
  int moved = (s->nex < 3 ? s->nex : 2) - i;
  memmove(&s->ex_id[i + 1], &s->ex_id[i], sizeof(double) * (size_t)moved);
  memmove(s->ex_label[i + 1], s->ex_label[i], sizeof label * (size_t)moved);
  s->ex_id[i] = id;
  memcpy(s->ex_label[i], label, sizeof label);
  if (s->nex < 3) s->nex++;
}

static double group_weight(const Group *g) { return g->count; }
static const int32_t *group_key(const Group *g) { return g->key; }
static void group_free(Group *g) { (void)g; }

/* findingKey: the actors of the reset's group per cause (aggregate.ts findingParts) */
static void group_key_of(const Held *c, int cause, const Addr *sender, const Addr *receiver, int32_t *k) {
  memset(k, 0, sizeof(int32_t) * 12);
  k[0] = cause;
  switch (cause) {
  case CA_REFUSED:
    memcpy(k + 1, c->orig.w, sizeof c->orig.w);
    memcpy(k + 6, c->resp.w, sizeof c->resp.w);
    k[11] = c->resp_port;
    break;
  case CA_SCAN:
    memcpy(k + 1, c->orig.w, sizeof c->orig.w);
    break;
  case CA_QUEUE:
  case CA_ABORT:
  case CA_IDLE:
  case CA_TWA:
  case CA_HALF_OPEN:
    memcpy(k + 1, sender->w, sizeof sender->w);
    memcpy(k + 6, c->resp.w, sizeof c->resp.w);
    k[11] = c->resp_port;
    break;
  case CA_BACKSCATTER:
  case CA_INJECTION:
    memcpy(k + 1, sender->w, sizeof sender->w);
    memcpy(k + 6, receiver->w, sizeof receiver->w);
    break;
  case CA_RST_FLOOD:
    memcpy(k + 1, receiver->w, sizeof receiver->w);
    break;
  default:
    break;
  }
}

/* ResetTally.addCount: `n` resets like reset `index` of `c` */
static void tally_add(Tally *t, const Held *c, int index, int cause, int conf, double n) {
  const Reset *r = &c->res[index];
  t->resets += n;
  if (r->side == 0) t->from_orig += n;
  t->ports[(uint16_t)c->resp_port] += n;
  tally_cause(t, c, cause, conf, n);
  const Addr *sender = r->side == 0 ? &c->orig : &c->resp;
  const Addr *receiver = r->side == 0 ? &c->resp : &c->orig;
  int32_t k[12];
  group_key_of(c, cause, sender, receiver, k);
  int32_t gi = hm_get(&t->g_index, k);
  Group *g;
  if (gi < 0) {
    if (t->ng >= t->max_groups)
      PRUNE_BY_WEIGHT(t->g, t->ng, t->g_index, 12, group_key, group_weight, group_free, t->groups_dropped);
    t->g = grow_array(t->g, &t->capg, t->ng + 1, sizeof(Group));
    gi = (int32_t)t->ng++;
    g = &t->g[gi];
    memcpy(g->key, k, sizeof k);
    g->cause = cause;
    g->count = 0;
    g->conns = 0;
    g->conf = conf;
    g->last_conn_id = -1;
    g->first.conn_id = -1;
    hm_set(&t->g_index, k, gi);
  } else {
    g = &t->g[gi];
  }
  if (g->first.conn_id < 0 || c->id < g->first.conn_id) {
    g->first.conn_id = c->id;
    g->first.index = index;
    g->first.orig = c->orig;
    g->first.resp = c->resp;
    g->first.resp_port = c->resp_port;
    g->first.sender = *sender;
    g->first.receiver = *receiver;
  }
  g->count += n;
  if (g->last_conn_id != c->id) {
    g->conns += 1;
    g->last_conn_id = c->id;
  }
  if (conf > g->conf) g->conf = conf;
}

/* ---------------------------------------------------------------------------------------------------- */
/* flow-analysis.ts ConnectionSide */

typedef struct Cls {
  uint32_t max_listed, max_held;
  uint8_t server_ports[65536];
  CtxBuilder cb;
  Tally tally;
  Held *held;
  uint32_t nheld, capheld;
  int32_t *free_h;
  /* beside free_h: each free copy's words, asked for ahead without reading the copy (a miss of its own) */
  struct FreeWords {
    const int32_t *w;
    uint32_t bytes;
  } *free_w;
  uint32_t capfree_w;
  uint32_t nfree, capfree;
  int32_t *listed;
  uint32_t nlisted, caplisted;
  struct Waiting {
    double id;
    int32_t h;
  } *waiting; /* with their ids: sorted without a look into each connection */
  uint32_t nwaiting, capwaiting;
  Ctx *early;
  double early_at;
  Ctx *final_ctx;
  double connections, with_resets, classified_early, dropped, evicted;
  int ended;
  uint8_t *hist; /* scratch: one connection's history */
  uint32_t hist_cap;
  /* the ring */
  uint32_t tail, published;
} Cls;

static void cls_free(Cls *k) {
  if (k == NULL) return;
  cb_free(&k->cb);
  tally_free(&k->tally);
  for (uint32_t i = 0; i < k->nheld; i++) {
    free(k->held[i].w);
    free(k->held[i].res);
  }
  free(k->held);
  free(k->free_h);
  free(k->free_w);
  free(k->listed);
  free(k->waiting);
  free(k->hist);
  ctx_free(k->early);
  ctx_free(k->final_ctx);
  free(k);
}

static int32_t held_alloc(Cls *k) {
  if (k->nfree > 0) return k->free_h[--k->nfree];
  k->held = grow_array(k->held, &k->capheld, k->nheld + 1, sizeof(Held));
  memset(&k->held[k->nheld], 0, sizeof(Held));
  return (int32_t)k->nheld++;
}

static void held_release(Cls *k, int32_t h) {
  k->free_h = grow_array(k->free_h, &k->capfree, k->nfree + 1, sizeof(int32_t));
  k->free_w = grow_array(k->free_w, &k->capfree_w, k->nfree + 1, sizeof(struct FreeWords));
  k->free_w[k->nfree].w = k->held[h].w;
  k->free_w[k->nfree].bytes = k->held[h].wcap * (uint32_t)sizeof(int32_t);
  k->free_h[k->nfree++] = h;
}

/* ContextBuilder.add for a connection with resets */
static void cb_add(Cls *k, const Held *c) {
  CtxBuilder *b = &k->cb;
  if (is_failed_attempt(c)) cb_attempt(b, &c->orig, &c->resp, c->resp_port, c->start, 0);
  if (c->nres == 0) return;
  if (is_rst_only(c)) {
    for (int i = 0; i < c->nres; i++) {
      const Reset *r = &c->res[i];
      const Addr *recv = r->side == 0 ? &c->resp : &c->orig;
      const Addr *send = r->side == 0 ? &c->orig : &c->resp;
      if (is_rst_probe(c, r, k->server_ports))
        cb_attempt(b, send, recv, r->side == 0 ? c->resp_port : c->orig_port, r->time, 1);
      FloodT *f = cb_flood(b, recv, r->time);
      f->rsts += 1;
      if (f->sources.size < MAX_FLOOD_SOURCES) hs_add(&f->sources, send->w);
      if (r->time < f->first) f->first = r->time;
      if (r->time > f->last) f->last = r->time;
      if (r->ack) cb_scatter(b, send, recv, r->side == 0 ? c->resp_port : c->orig_port);
    }
  } else if (has_unsolicited_synack(c)) {
    cb_scatter(b, &c->resp, &c->orig, c->orig_port);
  }
}

/* ConnectionSide.classifyHeld / the tally's part of classifyListed: every reset, then the RSTs not recorded */
static void classify_held(Cls *k, int32_t h, const Ctx *ctx) {
  Held *c = &k->held[h];
  int last[2] = { -1, -1 }, last_cause[2] = { 0, 0 }, last_conf[2] = { 0, 0 };
  for (int i = 0; i < c->nres; i++) {
    const Reset *r = &c->res[i];
    const Addr *sa = r->side == 0 ? &c->orig : &c->resp;
    const Addr *ra = r->side == 0 ? &c->resp : &c->orig;
    int cause, conf;
    decide(c, r, ctx, sa, ra, k->server_ports, &cause, &conf);
    if (cause == CA_UNEXPLAINED) conf = CONF_POSSIBLE;
    tally_add(&k->tally, c, i, cause, conf, 1);
    last[r->side] = i;
    last_cause[r->side] = cause;
    last_conf[r->side] = conf;
  }
  if (c->drop_o + c->drop_r != 0) {
    k->dropped += c->drop_o + c->drop_r;
    if (c->drop_o > 0 && last[0] >= 0) tally_add(&k->tally, c, last[0], last_cause[0], last_conf[0], c->drop_o);
    if (c->drop_r > 0 && last[1] >= 0) tally_add(&k->tally, c, last[1], last_cause[1], last_conf[1], c->drop_r);
  }
}

static int by_waiting_id(const void *x, const void *y) {
  double a = ((const struct Waiting *)x)->id, b = ((const struct Waiting *)y)->id;
  return a < b ? -1 : a > b;
}

/* ConnectionSide.hold */
static void cls_hold(Cls *k, int32_t h) {
  k->waiting = grow_array(k->waiting, &k->capwaiting, k->nwaiting + 1, sizeof(struct Waiting));
  k->waiting[k->nwaiting].id = k->held[h].id;
  k->waiting[k->nwaiting++].h = h;
  if (k->nwaiting < k->max_held) return;
  qsort(k->waiting, k->nwaiting, sizeof(struct Waiting), by_waiting_id);
  uint32_t older = k->nwaiting >> 1;
  if (k->early == NULL || k->connections - k->early_at >= CONTEXT_REFRESH) {
    ctx_free(k->early);
    k->early = cb_build(&k->cb);
    k->early_at = k->connections;
  }
  for (uint32_t i = 0; i < older; i++) {
    /* 2,048 connections held since long ago: ask for the next ones' records (their RSTs a step later,
     * once the record that points to them is in) */
    if (i + 4 < older) {
      const char *n = (const char *)&k->held[k->waiting[i + 4].h];
      __builtin_prefetch(n);
      __builtin_prefetch(n + 64);
      __builtin_prefetch(n + 128);
    }
    if (i + 2 < older) __builtin_prefetch(k->held[k->waiting[i + 2].h].res);
    classify_held(k, k->waiting[i].h, k->early);
    held_release(k, k->waiting[i].h);
  }
  memmove(k->waiting, k->waiting + older, sizeof(struct Waiting) * (k->nwaiting - older));
  k->nwaiting -= older;
  k->classified_early += older;
}

/* ConnectionSide.held */
static void cls_held(Cls *k, int32_t h) {
  const Held *c = &k->held[h];
  k->connections += 1;
  cb_add(k, c);
  k->with_resets += 1;
  double id = c->id;
  if (k->nlisted < k->max_listed || (k->nlisted > 0 && id < k->held[k->listed[k->nlisted - 1]].id)) {
    k->listed = grow_array(k->listed, &k->caplisted, k->nlisted + 1, sizeof(int32_t));
    uint32_t i = k->nlisted;
    while (i > 0 && k->held[k->listed[i - 1]].id > id) i--;
    memmove(k->listed + i + 1, k->listed + i, sizeof(int32_t) * (k->nlisted - i));
    k->listed[i] = h;
    k->nlisted++;
    if (k->nlisted > k->max_listed) cls_hold(k, k->listed[--k->nlisted]);
  } else {
    cls_hold(k, h);
  }
}

/* ConnectionSide.finish (the tally's part; the listed connections stay held for the export) */
static void cls_finish(Cls *k, double connections, double evicted) {
  k->connections = connections;
  k->evicted = evicted;
  k->final_ctx = cb_build(&k->cb);
  if (k->nwaiting > 1) qsort(k->waiting, k->nwaiting, sizeof(struct Waiting), by_waiting_id);
  uint32_t i = 0, j = 0;
  while (i < k->nlisted || j < k->nwaiting) {
    if (j >= k->nwaiting || (i < k->nlisted && k->held[k->listed[i]].id < k->waiting[j].id)) {
      classify_held(k, k->listed[i++], k->final_ctx);
    } else {
      classify_held(k, k->waiting[j].h, k->final_ctx);
      held_release(k, k->waiting[j++].h);
    }
  }
  k->nwaiting = 0;
  k->ended = 1;
}

/* ---------------------------------------------------------------------------------------------------- */
/* the item ring's reading end (item-ring.ts ItemReader) */

static void cls_publish(Cls *k, int32_t *ctl) {
  if (k->published == k->tail) return;
  k->published = k->tail;
  __atomic_store_n(&ctl[C_TAIL], (int32_t)k->tail, __ATOMIC_RELEASE);
}

static void ring_copy(const int32_t *ring, uint32_t mask, uint32_t from, int32_t *dst, uint32_t n) {
  uint32_t at = from & mask;
  uint32_t first = mask + 1 - at;
  if (first >= n) {
    memcpy(dst, ring + at, n * sizeof(int32_t));
  } else {
    memcpy(dst, ring + at, first * sizeof(int32_t));
    memcpy(dst + first, ring, (n - first) * sizeof(int32_t));
  }
}

/* Held connection `h`, its words in place, leaves the table (ConnectionSide.catchUp, then held); 0: malformed */
static int held_take(Cls *k, int32_t h, double before) {
  Held *c = &k->held[h];
  uint32_t room = (uint32_t)HIST_CAP + (c->nw > (uint32_t)HIST_CAP ? c->nw : 0);
  k->hist = grow_array(k->hist, &k->hist_cap, room, 1);
  if (!held_load(c, k->hist, k->hist_cap)) {
    held_release(k, h);
    return 0;
  }
  k->connections = before;
  cls_held(k, h);
  return 1;
}

/*
 * One item (flow-worker.ts ITEM_*): its kind and its `len` words from `at` in `ring` (mask + 1 words, a power of
 * two). Returns 1, or 2 for the END item (the classification is then finished), or 0 when malformed (*why).
 */
static int cls_item(Cls *k, int32_t kind, const int32_t *ring, uint32_t mask, uint32_t at, uint32_t len,
                    const char **why) {
  int32_t small[16];
  if (kind == K_ITEM_HELD) {
    if (len < 2) {
      *why = "a malformed connection item";
      return 0;
    }
    int32_t h = held_alloc(k);
    Held *c = &k->held[h];
    /* the words without the last one (the count of connections that left before) */
    c->nw = len - 1;
    c->w = grow_array(c->w, &c->wcap, c->nw, sizeof(int32_t));
    ring_copy(ring, mask, at, c->w, c->nw);
    if (!held_take(k, h, (double)ring[(at + len - 1) & mask])) {
      *why = "a malformed connection item";
      return 0;
    }
  } else if (kind == K_ITEM_ATTEMPT) {
    if (len != 13) {
      *why = "a malformed attempt item";
      return 0;
    }
    ring_copy(ring, mask, at, small, len);
    k->connections = (double)small[0] + 1;
    Addr o = addr_of(small[1], small + 2), r = addr_of(small[1], small + 6);
    cb_attempt(&k->cb, &o, &r, small[10], word_double(small + 11), 0);
  } else if (kind == K_ITEM_END) {
    if (len != 3) {
      *why = "a malformed end item";
      return 0;
    }
    ring_copy(ring, mask, at, small, len);
    cls_finish(k, (double)small[0], word_double(small + 1));
    return 2;
  }
  /* other kinds: skipped, as flow-sink.ts ItemConsumer does */
  return 1;
}

/* An item from a flat buffer of `len` words (the engine's own, or TypeScript's: classifierTake). */
static int cls_item_flat(Cls *k, int32_t kind, const int32_t *words, uint32_t len, const char **why) {
  uint32_t mask = 1;
  while (mask < len) mask <<= 1;
  return cls_item(k, kind, words, mask - 1, 0, len, why);
}

/*
 * Takes items until the END item (returns 1), or until the ring is closed (0; *why says by whom). The
 * producer is not woken: it polls while the ring is full, as it does for the TypeScript consumer.
 */
static int cls_run(Cls *k, int32_t *ring, uint32_t mask, int32_t *ctl, const char **why) {
  uint32_t publish_every = (mask + 1) >> 4;
  for (;;) {
    uint32_t head = (uint32_t)__atomic_load_n(&ctl[C_HEAD], __ATOMIC_ACQUIRE);
    if (head == k->tail) {
      cls_publish(k, ctl);
      if (__atomic_load_n(&ctl[C_CLOSED], __ATOMIC_SEQ_CST) != 0) {
        *why = "the item ring was closed";
        return 0;
      }
      struct timespec ts = { 0, 200000 };
      nanosleep(&ts, NULL);
      continue;
    }
    while (k->tail != head) {
      uint32_t t = k->tail;
      uint32_t n = (uint32_t)ring[t & mask];
      int32_t kind = ring[(t + 1) & mask];
      if (n < 2 || n > mask + 1 || (int32_t)(head - t) < (int32_t)n) {
        *why = "a malformed item in the ring";
        return 0;
      }
      int r = cls_item(k, kind, ring, mask, t + 2, n - 2, why);
      if (r == 0) return 0;
      k->tail = t + n;
      if (r == 2) {
        cls_publish(k, ctl);
        return 1;
      }
      if ((uint32_t)(k->tail - k->published) >= publish_every) cls_publish(k, ctl);
    }
  }
}

/*
 * The engine's side when it classifies in its own thread (classifierAttach): a connection leaving its table,
 * written as the item the ring would carry (ring_held's layout) straight into a held connection's words, and
 * a failed attempt.
 */
static void cls_engine_held(Engine *e, int slot, int why, double before) {
  Cls *k = e->cls;
  int32_t held = held_alloc(k);
  Held *c = &k->held[held];
  c->nw = held_words_len(e, slot);
  c->w = grow_array(c->w, &c->wcap, c->nw, sizeof(int32_t));
  held_words(e, slot, why, c->w);
  if (!held_take(k, held, before)) {
    napi_throw_error(e->env, "E_NATIVE", "a malformed connection item");
    e->failed = 1;
  }
  /* The next connection with RSTs to leave takes the held copy freed last: its words are written whole
   * (held_words), and with ~5,000 held at a time that copy is seldom in cache — ask for it now. */
  if (k->nfree > 0) {
    const struct FreeWords *n = &k->free_w[k->nfree - 1];
    __builtin_prefetch(&k->held[k->free_h[k->nfree - 1]], 1);
    for (uint32_t b = 0; b < n->bytes && b < 1024; b += 64) __builtin_prefetch((const char *)n->w + b, 1);
  }
}

static void cls_engine_attempt(Engine *e, int slot, double before) {
  int32_t w[13];
  attempt_words(e, slot, before, w);
  const char *err = "";
  cls_item_flat(e->cls, K_ITEM_ATTEMPT, w, 13, &err);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Node-API */

static void cls_release(void *k) { cls_free(k); }

static Cls *cls_of(napi_env env, napi_value v) {
  Boxed *b = boxed_of(env, v, TAG_CLASSIFIER);
  return b != NULL ? b->p : NULL;
}

/*
 * classifier(options: Float64Array [maxListed, maxHeld, contextMaxKeys, maxGroups], serverPorts: Uint8Array)
 * → classifier
 */
static napi_value js_classifier(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *op, *pp;
  size_t on, pn;
  if (argc != 2 || !typed(env, NULL, argv[0], napi_float64_array, &op, &on) || on < 4 ||
      !typed(env, NULL, argv[1], napi_uint8_array, &pp, &pn) || pn != 65536)
    return bad_args(env, "classifier");
  const double *o = op;
  for (int i = 0; i < 4; i++)
    if (!(o[i] >= (i == 0 ? 0 : 1) && o[i] <= 1 << 30 && o[i] == floor(o[i]))) return bad_args(env, "classifier");
  Cls *k = calloc(1, sizeof(Cls));
  if (k == NULL) abort();
  k->max_listed = (uint32_t)o[0];
  k->max_held = (uint32_t)o[1];
  memcpy(k->server_ports, pp, 65536);
  cb_init(&k->cb, (uint32_t)o[2]);
  tally_init(&k->tally, (uint32_t)o[3]);
  return boxed_new(env, TAG_CLASSIFIER, k, cls_release);
}

/*
 * classifierRun(classifier, words: Int32Array, control: Int32Array) → true once the END item was taken;
 * throws (E_NATIVE) when the ring is closed or an item is malformed. Blocks this thread (the worker's) in the
 * meantime.
 */
static napi_value js_classifier_run(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Cls *k = argc == 3 ? cls_of(env, argv[0]) : NULL;
  void *wp, *cp;
  size_t wn, cn;
  if (k == NULL || k->ended || !typed(env, NULL, argv[1], napi_int32_array, &wp, &wn) ||
      !typed(env, NULL, argv[2], napi_int32_array, &cp, &cn) || cn < C_INTS || wn < 4096 || (wn & (wn - 1)) != 0)
    return bad_args(env, "classifierRun");
  int32_t *ctl = cp;
  k->tail = k->published = (uint32_t)__atomic_load_n(&ctl[C_TAIL], __ATOMIC_SEQ_CST);
  const char *why = "";
  if (!cls_run(k, wp, (uint32_t)wn - 1, ctl, &why)) {
    napi_throw_error(env, "E_NATIVE", why);
    return NULL;
  }
  napi_value t;
  CHECK(napi_get_boolean(env, true, &t));
  return t;
}

static size_t put_addr(double *o, size_t at, const Addr *a) {
  for (int i = 0; i < 5; i++) o[at++] = a->w[i];
  return at;
}

/*
 * classifierExport(classifier, which) → Float64Array, after the END item:
 *   0 [connections, withResets, flowsEvicted, fromOrig, resets, classifiedEarly, dropped, groupsDropped,
 *      contextEvicted, listed]
 *   1 per cause counted: cause, count, certain, likely, possible, examples, then per example its connection
 *     id and label (orig address (5 words), orig port, resp address, resp port)
 *   2 per responder port counted: port, count
 *   3 per finding group: cause, count, conns, confidence, then its first reset: connection id, index,
 *     orig (5), resp (5), resp port, sender (5), receiver (5)
 *   4 the context's scanners: address (5), targets, rstProbes, ports, hosts, peak, first, last
 *   5 floods: address (5), rsts, sources, first, last
 *   6 backscatter pairs: sender (5), receiver (5), packets, ports
 *   7 the listed connections, in id order: each its length, then its item words (held.ts deserialize)
 */
static napi_value js_classifier_export(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Cls *k = argc == 2 ? cls_of(env, argv[0]) : NULL;
  int which = k != NULL ? (int)num(env, argv[1]) : -1;
  if (k == NULL || !k->ended || which < 0 || which > 7) return bad_args(env, "classifierExport");
  const Ctx *ctx = k->final_ctx;
  size_t need = 0;
  switch (which) {
  case 0: need = 10; break;
  case 1: need = (size_t)CA_N * (6 + 3 * (1 + LABEL_WORDS)); break;
  case 2:
    for (uint32_t p = 0; p < 65536; p++) need += k->tally.ports[p] != 0 ? 2 : 0;
    break;
  case 3: need = (size_t)k->tally.ng * (4 + 2 + 5 * 4 + 1); break;
  case 4: need = (size_t)ctx->nscan * (5 + 7); break;
  case 5: need = (size_t)ctx->nflood * (5 + 4); break;
  case 6: need = (size_t)ctx->nscat * (10 + 2); break;
  case 7:
    for (uint32_t i = 0; i < k->nlisted; i++) need += 1 + k->held[k->listed[i]].nw;
    break;
  }
  void *data = NULL;
  napi_value ab, out;
  CHECK(napi_create_arraybuffer(env, (need ? need : 1) * sizeof(double), &data, &ab));
  double *o = data;
  size_t at = 0;
  switch (which) {
  case 0: {
    const double v[10] = { k->connections, k->with_resets, k->evicted, k->tally.from_orig, k->tally.resets,
                           k->classified_early, k->dropped, k->tally.groups_dropped, k->cb.evicted, k->nlisted };
    memcpy(o, v, sizeof v);
    at = 10;
    break;
  }
  case 1:
    for (int c = 0; c < CA_N; c++) {
      const CauseT *s = &k->tally.causes[c];
      if (s->count == 0) continue;
      o[at++] = c;
      o[at++] = s->count;
      for (int j = 0; j < 3; j++) o[at++] = s->by_conf[j];
      o[at++] = s->nex;
      for (int e = 0; e < s->nex; e++) {
        o[at++] = s->ex_id[e];
        for (int j = 0; j < LABEL_WORDS; j++) o[at++] = s->ex_label[e][j];
      }
    }
    break;
  case 2:
    for (uint32_t p = 0; p < 65536; p++) {
      if (k->tally.ports[p] == 0) continue;
      o[at++] = p;
      o[at++] = k->tally.ports[p];
    }
    break;
  case 3:
    for (uint32_t i = 0; i < k->tally.ng; i++) {
      const Group *g = &k->tally.g[i];
      o[at++] = g->cause;
      o[at++] = g->count;
      o[at++] = g->conns;
      o[at++] = g->conf;
      o[at++] = g->first.conn_id;
      o[at++] = g->first.index;
      at = put_addr(o, at, &g->first.orig);
      at = put_addr(o, at, &g->first.resp);
      o[at++] = g->first.resp_port;
      at = put_addr(o, at, &g->first.sender);
      at = put_addr(o, at, &g->first.receiver);
    }
    break;
  case 4:
    for (uint32_t i = 0; i < ctx->nscan; i++) {
      const ScanSource *s = &ctx->scans[i].s;
      at = put_addr(o, at, &ctx->scans[i].addr);
      const double v[7] = { s->targets, s->rst_probes, s->ports, s->hosts, s->peak, s->first, s->last };
      memcpy(o + at, v, sizeof v);
      at += 7;
    }
    break;
  case 5:
    for (uint32_t i = 0; i < ctx->nflood; i++) {
      const struct FloodOut *f = &ctx->floods[i];
      at = put_addr(o, at, &f->addr);
      o[at++] = f->rsts;
      o[at++] = f->sources;
      o[at++] = f->first;
      o[at++] = f->last;
    }
    break;
  case 6:
    for (uint32_t i = 0; i < ctx->nscat; i++) {
      const struct ScatOut *s = &ctx->scats[i];
      at = put_addr(o, at, &s->sender);
      at = put_addr(o, at, &s->receiver);
      o[at++] = s->packets;
      o[at++] = s->ports;
    }
    break;
  case 7:
    for (uint32_t i = 0; i < k->nlisted; i++) {
      const Held *c = &k->held[k->listed[i]];
      o[at++] = c->nw;
      for (uint32_t j = 0; j < c->nw; j++) o[at++] = c->w[j];
    }
    break;
  }
  CHECK(napi_create_typedarray(env, napi_float64_array, at, ab, 0, &out));
  return out;
}

/*
 * classifierAttach(engine, classifier): the engine classifies the connections leaving its table itself, in
 * this thread (no classification worker), instead of handing them to TypeScript. The classifier must outlive
 * the engine's use of it (TypeScript keeps both until the end).
 */
static napi_value js_classifier_attach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Engine *e = engine_args(env, info, argv, 2, "classifierAttach");
  if (e == NULL) return NULL;
  Cls *k = cls_of(env, argv[1]);
  if (k == NULL || k->ended || e->ring != NULL) return bad_args(env, "classifierAttach");
  e->cls = k;
  return NULL;
}

/*
 * classifierTake(classifier, kind, words: Int32Array, length): one item written by TypeScript (a connection
 * whose history spilled, the END item); throws (E_NATIVE) when malformed.
 */
static napi_value js_classifier_take(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Cls *k = argc == 4 ? cls_of(env, argv[0]) : NULL;
  void *wp;
  size_t wn;
  double len = k != NULL ? num(env, argv[3]) : -1;
  if (k == NULL || k->ended || !typed(env, NULL, argv[2], napi_int32_array, &wp, &wn) || !(len >= 0) ||
      len > (double)wn || len != floor(len))
    return bad_args(env, "classifierTake");
  const char *why = "";
  if (!cls_item_flat(k, (int32_t)num(env, argv[1]), wp, (uint32_t)len, &why)) {
    napi_throw_error(env, "E_NATIVE", why);
    return NULL;
  }
  return NULL;
}

/* classifierDestroy(classifier): frees its memory now (the finalizer would, later) */
static napi_value js_classifier_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Boxed *b = argc == 1 ? boxed_of(env, argv[0], TAG_CLASSIFIER) : NULL;
  if (b == NULL) return bad_args(env, "classifierDestroy");
  cls_free(b->p);
  b->p = NULL;
  return NULL;
}
