/*
 * A read-ahead thread for a regular capture file (src/packet/reader.ts readInLine): reads the file's chunks
 * in order with pread(2) into buffers TypeScript lent it, while the reading thread runs the engine on the
 * chunks already read. Included by engine.c (one translation unit).
 *
 * Why (docs/benchmarks.md, part 7, round 7): since the classification runs in the reading thread (classify.c),
 * the second core was idle while that thread spent ~0.12 s of the 1 GB benchmark capture in read(2) copying
 * the page cache. libuv's thread pool could not take it (a promise and an event-loop turn per chunk cost
 * more than the copy), nor a worker thread feeding a ring (pipe-reader.ts: slower still).
 *
 * The buffers are TypeScript's (Uint8Arrays of one chunk each, kept alive by it for the reader's life),
 * handed out in turn by `next`; the last two handed out are TypeScript's (its framer may still hold the end
 * of the previous chunk while it takes the next, as with readInLine's two buffers), the others the thread's. A read error is not described here: TypeScript reads that chunk again
 * itself to get the error Node gives (the same message as without this thread).
 */

#include <pthread.h>

#define RA_MAX_BUFS 8

typedef struct ReadAhead {
  int fd;
  int nbufs;
  size_t chunk;
  uint8_t *buf[RA_MAX_BUFS];
  int64_t len[RA_MAX_BUFS]; /* bytes read, -errno; -1 before it is read (with filled = 0) */
  int filled[RA_MAX_BUFS];
  int next_fill, next_take; /* counters, not indices: index = counter % nbufs */
  int stop, done;           /* done: the thread read the last chunk (short, an error) and ended */
  int started;
  /*
   * Decoding ahead (docs/benchmarks.md, part 7, round 8): for the engine that asked (engine, the reading
   * thread's), a classic pcap file's Ethernet records are decoded here, as js_pcap would, while that thread
   * runs the flow table on the chunks before. Set by this thread from the file header (chunk 0) before that
   * chunk is handed out, read by the reading thread after: the mutex orders them.
   */
  struct Engine *engine; /* cleared by whichever of the two goes first */
  int dec;               /* 1: decoding; 0: not a file this decodes (or it stopped) */
  int hdr_done;
  int le, link_type;
  double mul;              /* 1 (ns) or 1000 (µs), as js_pcap's */
  uint32_t snaplen;        /* the file header's; 0 there: no limit */
  int64_t rec_at;          /* the file offset of the next record's header */
  uint8_t carry[16];       /* the start of a record header cut by a chunk's end */
  int carry_len;
  Ahead *ahead[RA_MAX_BUFS]; /* one allocation (ahead[0]), a chunk's entries after the other's */
  uint32_t nahead[RA_MAX_BUFS];
  uint32_t ahead_cap;      /* entries per chunk; the rest of a denser chunk is decoded by js_pcap */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} ReadAhead;

/* The classic pcap file header (pcap.ts readHeader): only what js_pcap is given records of (16-byte record
 * headers, lengths as written: not Kuznetzov's variant, nor the versions that swapped caplen and len) on
 * Ethernet. Anything else: no decoding ahead. */
static void ra_header(ReadAhead *r, const uint8_t *b, size_t n) {
  r->dec = 0;
  if (n < 24) return;
  uint32_t m = u32_at(b, 1);
  int le;
  if (m == 0xa1b2c3d4U || m == 0xa1b23c4dU) le = 1;
  else if (be32(b) == 0xa1b2c3d4U || be32(b) == 0xa1b23c4dU) le = 0;
  else return;
  uint32_t magic = u32_at(b, le);
  uint32_t major = u16_at(b + 4, le), minor = u16_at(b + 6, le);
  if (major < 2 || major == 543 || (major == 2 && minor <= 3)) return;
  r->le = le;
  r->mul = magic == 0xa1b23c4dU ? 1 : 1000;
  r->snaplen = u32_at(b + 16, le);
  r->link_type = (int)(u32_at(b + 20, le) & 0xffff);
  if (r->link_type != 1) return;
  r->rec_at = 24;
  r->dec = 1;
}

/* One record wholly in the chunk, at `at`, decoded into the chunk's next entry, as js_pcap would. */
static void ra_decode(ReadAhead *r, int i, const uint8_t *b, size_t at, uint32_t caplen) {
  uint32_t cap = r->snaplen != 0 && caplen > r->snaplen ? r->snaplen : caplen;
  decode_record(&r->ahead[i][r->nahead[i]++], b, at, r->le, caplen, cap, 1);
}

/* Chunk `i` (file offset `base`, `n` bytes) just read: its records' headers followed, those wholly in it decoded. */
static void ra_chunk(ReadAhead *r, int i, int64_t base, size_t n) {
  const uint8_t *b = r->buf[i];
  r->nahead[i] = 0;
  if (!r->hdr_done) {
    r->hdr_done = 1;
    if (base != 0) r->dec = 0;
    else ra_header(r, b, n);
  }
  if (!r->dec || r->rec_at >= base + (int64_t)n) return;
  if (r->rec_at < base) {
    /* a header begun in the chunk before */
    size_t need = 16 - (size_t)r->carry_len;
    if (n < need) {
      memcpy(r->carry + r->carry_len, b, n);
      r->carry_len += (int)n;
      return;
    }
    memcpy(r->carry + r->carry_len, b, need);
    r->carry_len = 0;
    r->rec_at += 16 + (int64_t)u32_at(r->carry + 8, r->le);
    if (r->rec_at >= base + (int64_t)n) return;
  }
  size_t at = (size_t)(r->rec_at - base);
  while (at < n) {
    if (n - at < 16) {
      memcpy(r->carry, b + at, n - at);
      r->carry_len = (int)(n - at);
      break;
    }
    uint32_t caplen = u32_at(b + at + 8, r->le);
    if (n - at - 16 >= caplen && r->nahead[i] < r->ahead_cap) ra_decode(r, i, b, at, caplen);
    at += 16 + (size_t)caplen;
  }
  r->rec_at = base + (int64_t)at;
}

static void *ra_main(void *arg) {
  ReadAhead *r = arg;
  int64_t offset = 0;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    /* a free buffer: not holding an unread chunk, nor one of the two TypeScript has */
    while (!r->stop && r->next_fill - r->next_take + (r->next_take < 2 ? r->next_take : 2) >= r->nbufs)
      pthread_cond_wait(&r->cv, &r->mu);
    if (r->stop) {
      r->done = 1;
      pthread_cond_broadcast(&r->cv);
      pthread_mutex_unlock(&r->mu);
      return NULL;
    }
    int i = r->next_fill % r->nbufs;
    pthread_mutex_unlock(&r->mu);
    ssize_t n;
    do n = pread(r->fd, r->buf[i], r->chunk, (off_t)offset);
    while (n < 0 && errno == EINTR);
    int64_t got = n < 0 ? -(int64_t)errno : (int64_t)n;
    if (r->ahead_cap > 0) {
      if (got > 0) ra_chunk(r, i, offset, (size_t)got);
      else r->nahead[i] = 0;
    }
    pthread_mutex_lock(&r->mu);
    r->len[i] = got;
    r->filled[i] = 1;
    r->next_fill++;
    /* the end of the file (a regular file ends at its first short read, as readInLine), or an error */
    int last = got < 0 || (size_t)got < r->chunk;
    if (last) r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (last) return NULL;
    offset += got;
  }
}

/* The engine no longer takes records from here: after a stop TypeScript may free the buffers, and a new one
 * at the same address must not be taken for a chunk this decoded. */
static void ra_unlink(ReadAhead *r) {
  if (r->engine != NULL) r->engine->ra = NULL;
  r->engine = NULL;
}

/* Stops the thread (it ends after the read it is in) and waits for it. */
static void ra_stop(ReadAhead *r) {
  if (!r->started) return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->thread, NULL);
  r->started = 0;
  ra_unlink(r);
}

/* stops the thread (if it runs) and frees the reader */
static void ra_release(void *p) {
  ReadAhead *r = p;
  ra_stop(r);
  ra_unlink(r);
  free(r->ahead[0]);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

static void ra_forget(Engine *e) {
  if (e->ra != NULL) e->ra->engine = NULL;
  e->ra = NULL;
}

/*
 * For js_pcap: the records decoded ahead in the chunk whose buffer starts at `data` (A, na), and the first at
 * or after `off` (ai) — none when `data` is not one of this thread's buffers (the first chunk, which the
 * reader copies; a record cut by a chunk's end, which it carries) or the parameters are not the file
 * header's. Called by the reading thread on a chunk it took: this thread writes the entries of a buffer
 * before it hands it out, and refills it only after it was given back.
 */
static void ra_ahead(Engine *e, const void *data, size_t off, int le, double mul, int link_type, const Ahead **A,
                     uint32_t *na, uint32_t *ai) {
  *A = NULL;
  *na = *ai = 0;
  ReadAhead *r = e->ra;
  if (r == NULL || !r->dec || r->le != le || r->mul != mul || r->link_type != link_type) return;
  for (int i = 0; i < r->nbufs; i++) {
    if (r->buf[i] != data) continue;
    const Ahead *a = r->ahead[i];
    uint32_t lo = 0, hi = r->nahead[i];
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (a[mid].off < off) lo = mid + 1;
      else hi = mid;
    }
    *A = a;
    *na = r->nahead[i];
    *ai = lo;
    return;
  }
}

static ReadAhead *ra_of(napi_env env, napi_value v) {
  Boxed *b = boxed_of(env, v, TAG_READER);
  return b != NULL ? b->p : NULL;
}

/*
 * readAhead(fd, buffers: Uint8Array[] (3 to 8, one chunk each, the same length)[, engine]) → reader: starts
 * the thread, which reads the file from offset 0 — and, given the engine whose js_pcap will read the chunks,
 * decodes the records of a classic pcap file ahead for it (Ahead). TypeScript keeps the buffers alive until
 * readAheadStop.
 */
static napi_value js_read_ahead(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double fd = argc >= 2 ? num(env, argv[0]) : -1;
  uint32_t n = 0;
  bool is_array = false;
  Engine *engine = NULL;
  if (argc == 3) {
    napi_valuetype t;
    if (napi_typeof(env, argv[2], &t) != napi_ok) return bad_args(env, "readAhead");
    if (t != napi_undefined && ((engine = engine_of(env, argv[2])) == NULL || engine->ra != NULL))
      return bad_args(env, "readAhead");
  }
  if (argc < 2 || !(fd >= 0 && fd <= 1 << 30) || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &n) != napi_ok || n < 3 || n > RA_MAX_BUFS)
    return bad_args(env, "readAhead");
  ReadAhead *r = calloc(1, sizeof(ReadAhead));
  if (r == NULL) abort();
  r->fd = (int)fd;
  r->nbufs = (int)n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    void *p;
    size_t len;
    if (napi_get_element(env, argv[1], i, &b) != napi_ok || !typed(env, NULL, b, napi_uint8_array, &p, &len) ||
        len == 0 || (i > 0 && len != r->chunk)) {
      free(r);
      return bad_args(env, "readAhead");
    }
    r->buf[i] = p;
    r->chunk = len;
  }
  /*
   * Huge pages for the buffers when TypeScript lent them as one area (native.ts readAhead: from a 2 MiB
   * boundary, hugeAlign): this thread is the first to write them, and 2,048 first touches of 4 KiB pages
   * (~10 µs each here) made the reading thread wait for the first chunks (docs/benchmarks.md, part 7,
   * round 9).
   */
  int contiguous = 1;
  for (uint32_t i = 1; i < n; i++) contiguous &= r->buf[i] == r->buf[0] + i * r->chunk;
  if (contiguous) advise_huge(r->buf[0], n * r->chunk);
  if (engine != NULL) {
    /* a record takes at least 16 bytes; typical ones ~100 and more: beyond this many, js_pcap decodes */
    r->ahead_cap = (uint32_t)(r->chunk / 64) + 1;
    size_t each = sizeof(Ahead) * r->ahead_cap;
    /* not huge pages: a chunk fills a third of its entries (~200-byte records), and a huge page's first
     * touch clears all of it: 14 MB more memory, no faster */
    uint8_t *all = NULL;
    if (posix_memalign((void **)&all, 64, each * n) != 0) abort(); /* an entry in two whole lines */
    for (uint32_t i = 0; i < n; i++) r->ahead[i] = (Ahead *)(all + i * each);
    r->engine = engine;
    engine->ra = r;
  }
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  if (pthread_create(&r->thread, NULL, ra_main, r) != 0) {
    ra_release(r);
    napi_throw_error(env, "E_NATIVE", "readAhead: no thread could be started");
    return NULL;
  }
  r->started = 1;
  return boxed_new(env, TAG_READER, r, ra_release);
}

/*
 * readAheadNext(reader) → the next chunk's length (0 at the end; −errno for a read that failed), in buffer
 * number (call count mod buffers); the chunk handed out two calls before goes back to the thread. Blocks
 * until it is read.
 */
static napi_value js_read_ahead_next(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ReadAhead *r = argc == 1 ? ra_of(env, argv[0]) : NULL;
  if (r == NULL) return bad_args(env, "readAheadNext");
  pthread_mutex_lock(&r->mu);
  int i = r->next_take % r->nbufs;
  while (!r->filled[i] && !(r->done && r->next_take >= r->next_fill)) pthread_cond_wait(&r->cv, &r->mu);
  int64_t got = 0;
  if (r->filled[i]) {
    got = r->len[i];
    r->filled[i] = 0;
    r->next_take++;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  napi_value out;
  CHECK(napi_create_double(env, (double)got, &out));
  return out;
}

/*
 * hugeAlign(bytes: Uint8Array) → the offset of the first 2 MiB boundary in it (0 when none): where a run of
 * buffers lent to readAhead begins so that their memory can be huge pages.
 */
static napi_value js_huge_align(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p;
  size_t len;
  if (argc != 1 || !typed(env, NULL, argv[0], napi_uint8_array, &p, &len)) return bad_args(env, "hugeAlign");
  const uintptr_t H2 = (uintptr_t)2 << 20;
  uintptr_t skip = (H2 - (uintptr_t)p % H2) % H2;
  napi_value out;
  CHECK(napi_create_double(env, skip < len ? (double)skip : 0, &out));
  return out;
}

/* readAheadStop(reader): the thread ends (after the read it is in); the buffers are TypeScript's again. */
static napi_value js_read_ahead_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ReadAhead *r = argc == 1 ? ra_of(env, argv[0]) : NULL;
  if (r == NULL) return bad_args(env, "readAheadStop");
  ra_stop(r);
  return NULL;
}
