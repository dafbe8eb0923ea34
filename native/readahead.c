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

typedef struct {
  int fd;
  int nbufs;
  size_t chunk;
  uint8_t *buf[RA_MAX_BUFS];
  int64_t len[RA_MAX_BUFS]; /* bytes read, -errno; -1 before it is read (with filled = 0) */
  int filled[RA_MAX_BUFS];
  int next_fill, next_take; /* counters, not indices: index = counter % nbufs */
  int stop, done;           /* done: the thread read the last chunk (short, an error) and ended */
  int started;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} ReadAhead;

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

/* Stops the thread (it ends after the read it is in) and waits for it. */
static void ra_stop(ReadAhead *r) {
  if (!r->started) return;
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->thread, NULL);
  r->started = 0;
}

/* stops the thread (if it runs) and frees the reader */
static void ra_release(void *p) {
  ReadAhead *r = p;
  ra_stop(r);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r);
}

static ReadAhead *ra_of(napi_env env, napi_value v) {
  Boxed *b = boxed_of(env, v, TAG_READER);
  return b != NULL ? b->p : NULL;
}

/*
 * readAhead(fd, buffers: Uint8Array[] (3 to 8, one chunk each, the same length)) → reader: starts the
 * thread, which reads the file from offset 0. TypeScript keeps the buffers alive until readAheadStop.
 */
static napi_value js_read_ahead(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double fd = argc == 2 ? num(env, argv[0]) : -1;
  uint32_t n = 0;
  bool is_array = false;
  if (argc != 2 || !(fd >= 0 && fd <= 1 << 30) || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
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
