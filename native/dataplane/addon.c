/* Node-API glue: channels handing packets to JS one batch at a time. A channel's fd is polled
 * either by the event loop (uv_poll), which calls the channel's batch handler, or by the thread's
 * poller: an epoll set that a dedicated packet thread drives itself, asking pollerNext for one
 * batch after another and dispatching them in JS. The poller skips what the event loop costs per
 * wakeup (a callback scope with a microtask checkpoint, timers, the loop's second epoll call for
 * its idle-time metrics) and a call from C into JS per batch, which at an ordinary load is most of
 * the forwarding cost outside the kernel. */
#include "dataplane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>
#include <sys/epoll.h>
#include <node_api.h>
#include <uv.h>

enum chan_kind { CHAN_TUN, CHAN_UDP, CHAN_RAW41, CHAN_STREAM };

/* Batches read per wakeup while they come back full: fewer trips through epoll under load, yet
 * a busy channel yields to the others and to the loop after 8 * 64 packets. */
#define ROUNDS_MAX 8

typedef struct chan chan_t;

/* A thread's poller: an epoll set of channels plus the thread's event loop (its backend fd), so
 * that pollerNext gives up as soon as the loop has work: a message from another thread, say.
 * Events of one epoll_wait are handed out over several pollerNext calls. Freed when it is closed
 * and every channel attached to it is gone. */
typedef struct {
  int epfd;          /* -1 once closed */
  int refs;          /* 1 while open, plus one per attached channel */
  struct epoll_event ev[BATCH_MAX];
  int nev, iev;      /* events of the last epoll_wait; the next one to serve */
  chan_t *cur;       /* channel whose last batch came back full: read again first */
  int rounds;        /* batches read from cur in a row */
  int loop_ready;    /* the loop's fd was among the events, or the deadline passed */
  int polled;        /* an epoll_wait happened since the deadline was set */
  int64_t deadline;  /* CLOCK_MONOTONIC ms */
  chan_t *dead;      /* closed channels the event array may still name, released before the next epoll_wait */
  chan_t *ready;     /* streams with whole packets buffered but no event to wake them: served before waiting */
  chan_t **chans;    /* open channels by index: the outbox names them so */
  int32_t nchans;
} poller_t;

/* Slots of the poller's state array. SEGMENTS: sends JS queued in the outbox; the next pollerNext
 * makes them first and sets SETTLED to their number (their results in the outbox's sent array). */
enum { STATE_COUNT, STATE_OVERSIZED, STATE_GENERATION, STATE_SEGMENTS, STATE_SETTLED, STATE_SLOTS };
/* Int32 fields per queued send in the outbox's segment array. */
enum { SEGMENT_FIELDS = 4 };

/* Sends of one batch queued by JS: packets (offset, length, address, port) of the shared batch,
 * and per send [channel index, first packet, packets, source address] and how many the kernel took. */
typedef struct {
  uint32_t *off, *len, *addr;
  uint16_t *port;
  int32_t *seg;
  uint32_t *sent;
  napi_ref off_ref, len_ref, addr_ref, port_ref, seg_ref, sent_ref;
} outbox_t;

/* The JS side of the shared batch. */
typedef struct {
  batch_t b;
  napi_ref buf, off, len, addr, port, state, clock;
  uint32_t *state_data; /* count and oversized of pollerNext's batch; generation of buf */
  double *clock_data;   /* wall-clock ms of the poller's last wakeup */
  outbox_t out;
  poller_t *poller;     /* this thread's, while open */
} shared_t;

/* Lives until both the channel is released (its uv handle closed; for a poller's, closed and no
 * longer named by the poller's pending events) and the JS External is finalized. */
struct chan {
  uv_poll_t poll;
  napi_env env;
  shared_t *shared;
  enum chan_kind kind;
  char what[40];     /* e.g. "tun dtcp0", "udp 0.0.0.0:4028": prefixes error messages */
  int fd;            /* -1 once closed */
  int handle_live;   /* uv_close callback not yet run */
  int external_live; /* External not yet finalized */
  napi_ref self;     /* keeps the External (and so the channel) alive while open */
  napi_ref on_batch, on_error;
  napi_async_context actx; /* event-loop channels only */
  napi_async_cleanup_hook_handle hook;
  poller_t *poller;        /* NULL: polled by the event loop */
  int32_t index;           /* the poller's name for it, chosen by JS */
  chan_t *next_dead;
  stream_t *stream;        /* CHAN_STREAM: its buffers */
  int out_armed;           /* CHAN_STREAM: the poller also waits for room to write */
  int in_ready;            /* CHAN_STREAM: on the poller's ready list */
  chan_t *next_ready;
};

static const napi_type_tag CHAN_TAG = {0x6474637064617461ULL, 0x706c616e65636831ULL};

/* Returns NULL from the calling function after throwing, unless a JS exception is pending. */
#define NAPI_CALL(env, call)                                                  \
  do {                                                                        \
    if ((call) != napi_ok) {                                                  \
      throw_napi_failure(env, #call);                                         \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

static void throw_napi_failure(napi_env env, const char *call) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, call);
}

/* A Node-style system error; the capability hint tells an operator what to grant. */
static napi_value errno_error(napi_env env, const char *what, const char *syscall, int err,
                              const char *cap) {
  char msg[256];
  napi_value code, message, error, v;
  if (cap && (err == EPERM || err == EACCES))
    snprintf(msg, sizeof msg, "%s: %s: %s (%s required)", what, syscall, strerror(err), cap);
  else
    snprintf(msg, sizeof msg, "%s: %s: %s", what, syscall, strerror(err));
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, error, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, error, "syscall", v);
  return error;
}

/* ---- channel lifecycle ---- */

static void poller_unref(poller_t *p) {
  if (--p->refs > 0) return;
  if (p->epfd >= 0) close(p->epfd);
  free(p->chans);
  free(p);
}

static void chan_release(chan_t *ch);

static void poller_release_dead(poller_t *p) {
  while (p->dead) {
    chan_t *ch = p->dead;
    p->dead = ch->next_dead;
    chan_release(ch);
  }
}

static void chan_release(chan_t *ch) {
  if (ch->stream) {
    stream_free(ch->stream);
    free(ch->stream);
    ch->stream = NULL;
  }
  napi_delete_reference(ch->env, ch->on_batch);
  napi_delete_reference(ch->env, ch->on_error);
  napi_delete_reference(ch->env, ch->self);
  if (!ch->poller) napi_async_destroy(ch->env, ch->actx);
  napi_remove_async_cleanup_hook(ch->hook);
  if (ch->poller) poller_unref(ch->poller);
  ch->handle_live = 0;
  if (!ch->external_live) free(ch);
}

static void on_handle_closed(uv_handle_t *h) {
  chan_release(h->data);
}

/* Stops polling before closing the fd, as libuv requires. Safe to call twice. */
static void chan_close(chan_t *ch) {
  if (ch->fd < 0) return;
  if (ch->poller) {
    poller_t *p = ch->poller;
    if (p->epfd >= 0) epoll_ctl(p->epfd, EPOLL_CTL_DEL, ch->fd, NULL);
    close(ch->fd);
    ch->fd = -1;
    if (p->cur == ch) p->cur = NULL;
    if (ch->in_ready) {
      chan_t **at = &p->ready;
      while (*at != ch) at = &(*at)->next_ready;
      *at = ch->next_ready;
      ch->in_ready = 0;
    }
    if (ch->index < p->nchans && p->chans[ch->index] == ch) p->chans[ch->index] = NULL;
    if (p->iev < p->nev) {
      ch->next_dead = p->dead;
      p->dead = ch;
    } else {
      chan_release(ch);
    }
    return;
  }
  uv_poll_stop(&ch->poll);
  close(ch->fd);
  ch->fd = -1;
  uv_close((uv_handle_t *)&ch->poll, on_handle_closed);
}

/* Environment teardown (process exit, worker termination): the loop must lose our handle. */
static void on_env_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  chan_close(arg);
}

static void chan_finalize(napi_env env, void *data, void *hint) {
  chan_t *ch = data;
  (void)env;
  (void)hint;
  ch->external_live = 0;
  if (!ch->handle_live) free(ch);
}

/* Calls fn from the event loop; a throw becomes an uncaught exception, as for any callback. */
static void call_js(chan_t *ch, napi_ref fn, size_t argc, napi_value *argv) {
  napi_env env = ch->env;
  napi_value cb, global, result;
  napi_get_reference_value(env, fn, &cb);
  napi_get_global(env, &global); /* napi_make_callback needs an object receiver */
  if (napi_make_callback(env, ch->actx, global, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

/* onBatch(buf, offsets, lengths, [addrs, [ports,]] count, oversized) */
static void deliver(chan_t *ch, int count) {
  napi_env env = ch->env;
  shared_t *sh = ch->shared;
  napi_value argv[7];
  size_t argc = 0;
  napi_get_reference_value(env, sh->buf, &argv[argc++]);
  napi_get_reference_value(env, sh->off, &argv[argc++]);
  napi_get_reference_value(env, sh->len, &argv[argc++]);
  if (ch->kind != CHAN_TUN) napi_get_reference_value(env, sh->addr, &argv[argc++]);
  if (ch->kind == CHAN_UDP) napi_get_reference_value(env, sh->port, &argv[argc++]);
  napi_create_uint32(env, (uint32_t)count, &argv[argc++]);
  napi_create_uint32(env, sh->b.oversized, &argv[argc++]);
  call_js(ch, ch->on_batch, argc, argv);
}

/* One batch from the channel into the shared batch; see the read functions. */
static int chan_read(chan_t *ch, batch_t *b, int *err) {
  b->taken = b->oversized = 0;
  if (ch->kind == CHAN_TUN) return tun_read_batch(ch->fd, b, err);
  if (ch->kind == CHAN_UDP) return udp_recv_batch(ch->fd, b, err);
  if (ch->kind == CHAN_STREAM) return stream_read_batch(ch->fd, ch->stream, b, err);
  return raw41_recv_batch(ch->fd, b, err);
}

static const char *read_syscall(chan_t *ch) {
  return ch->kind == CHAN_TUN || ch->kind == CHAN_STREAM ? "read" : "recvmmsg";
}

/* The error a channel failed with, for JS; a stream's end and broken frames get words of their own. */
static napi_value chan_error(napi_env env, chan_t *ch, const char *syscall, int err) {
  if (ch->kind == CHAN_STREAM && (err == STREAM_EOF || err == EMSGSIZE)) {
    char msg[160];
    napi_value code, message, error;
    if (err == STREAM_EOF)
      snprintf(msg, sizeof msg, "%s: closed by the peer", ch->what);
    else
      snprintf(msg, sizeof msg, "%s: a packet of %u bytes, over the largest of %u", ch->what,
               ch->stream->bad_frame, ch->stream->max_frame);
    napi_create_string_utf8(env, err == STREAM_EOF ? "EOF" : "EMSGSIZE", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    return error;
  }
  return errno_error(env, ch->what, syscall, err, NULL);
}

/* Whole packets left in a stream's buffer wake no epoll: the poller serves it before waiting again. */
static void stream_mark_ready(chan_t *ch) {
  if (ch->in_ready || !stream_has_frame(ch->stream)) return;
  ch->in_ready = 1;
  ch->next_ready = ch->poller->ready;
  ch->poller->ready = ch;
}

/* A stream with output pending is also polled for room to write; without, for reading only. */
static void stream_arm(chan_t *ch) {
  poller_t *p = ch->poller;
  int want = ch->stream->out_len > 0;
  if (want == ch->out_armed || !p || p->epfd < 0 || ch->fd < 0) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = ch};
  if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, ch->fd, &ev) == 0) ch->out_armed = want;
}

/* Reads batches until one comes back short (the queue is empty), the channel fails or closes, or
 * ROUNDS_MAX batches were read: polls are level-triggered, so anything left over wakes us again. */
static void on_poll(uv_poll_t *h, int status, int events) {
  chan_t *ch = h->data;
  batch_t *b = &ch->shared->b;
  (void)events;
  for (int round = 0; round < ROUNDS_MAX && ch->fd >= 0; round++) {
    napi_handle_scope scope;
    int err = 0, n = 0;
    if (status < 0)
      err = -status;
    else
      n = chan_read(ch, b, &err);
    /* Decided before the callback, which may open a TUN and so re-lay the shared batch. */
    int full = b->taken == BATCH_MAX;

    napi_open_handle_scope(ch->env, &scope);
    if (n > 0 || b->oversized > 0) deliver(ch, n);
    if (err && ch->fd >= 0) { /* the callback may have closed the channel already */
      napi_value e = errno_error(ch->env, ch->what, status < 0 ? "uv_poll" : read_syscall(ch), err, NULL);
      chan_close(ch);
      call_js(ch, ch->on_error, 1, &e);
    }
    napi_close_handle_scope(ch->env, scope);
    if (err || !full) break;
  }
}

/* Wraps an open fd in a channel polled by the event loop, or by the thread's poller under `index`
 * when index >= 0; closes the fd on failure. */
static napi_value chan_new(napi_env env, int fd, enum chan_kind kind, const char *what,
                           napi_value on_batch, napi_value on_error, int32_t index) {
  poller_t *poller = NULL;
  napi_value external, name;
  uv_loop_t *loop;
  chan_t *ch = calloc(1, sizeof *ch);
  int rc;
  if (!ch) {
    close(fd);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  ch->env = env;
  ch->kind = kind;
  snprintf(ch->what, sizeof ch->what, "%s", what);
  ch->fd = fd;
  ch->poll.data = ch;
  if (napi_get_instance_data(env, (void **)&ch->shared) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    free(ch);
    throw_napi_failure(env, "napi_get_uv_event_loop");
    return NULL;
  }
  if (index >= 0 && !(poller = ch->shared->poller)) {
    napi_throw(env, errno_error(env, ch->what, "epoll_ctl", EBADF, NULL));
    close(fd);
    free(ch);
    return NULL;
  }
  if (poller && index >= poller->nchans) {
    int32_t n = poller->nchans ? poller->nchans : 16;
    while (n <= index) n *= 2;
    chan_t **chans = realloc(poller->chans, (size_t)n * sizeof *chans);
    if (!chans) {
      close(fd);
      free(ch);
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    memset(chans + poller->nchans, 0, (size_t)(n - poller->nchans) * sizeof *chans);
    poller->chans = chans;
    poller->nchans = n;
  }
  if (poller) {
    ch->poller = poller;
    ch->index = index;
    poller->refs++;
  } else if ((rc = uv_poll_init(loop, &ch->poll, fd)) < 0) {
    napi_throw(env, errno_error(env, ch->what, "uv_poll_init", -rc, NULL));
    close(fd);
    free(ch);
    return NULL;
  }
  ch->handle_live = 1;
  if (napi_create_external(env, ch, chan_finalize, NULL, &external) != napi_ok) {
    chan_close(ch);
    throw_napi_failure(env, "napi_create_external");
    return NULL;
  }
  ch->external_live = 1;
  /* From here on closing the channel releases everything. */
  napi_create_string_utf8(env, "DTCP_DATAPLANE", NAPI_AUTO_LENGTH, &name);
  if (napi_type_tag_object(env, external, &CHAN_TAG) != napi_ok ||
      napi_create_reference(env, external, 1, &ch->self) != napi_ok ||
      napi_create_reference(env, on_batch, 1, &ch->on_batch) != napi_ok ||
      napi_create_reference(env, on_error, 1, &ch->on_error) != napi_ok ||
      (!poller && napi_async_init(env, NULL, name, &ch->actx) != napi_ok) ||
      napi_add_async_cleanup_hook(env, on_env_teardown, ch, &ch->hook) != napi_ok) {
    chan_close(ch);
    throw_napi_failure(env, "channel setup");
    return NULL;
  }
  if (poller) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ch};
    if (epoll_ctl(poller->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      napi_throw(env, errno_error(env, ch->what, "epoll_ctl", errno, NULL));
      chan_close(ch);
      return NULL;
    }
    poller->chans[index] = ch;
  } else if ((rc = uv_poll_start(&ch->poll, UV_READABLE, on_poll)) < 0) {
    napi_throw(env, errno_error(env, ch->what, "uv_poll_start", -rc, NULL));
    chan_close(ch);
    return NULL;
  }
  return external;
}

/* ---- argument helpers ---- */

/* The open channel behind a handle; syscall names the operation for the EBADF of a closed one. */
static chan_t *get_chan(napi_env env, napi_value v, const char *syscall) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, v, &CHAN_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "not a dataplane channel");
    return NULL;
  }
  chan_t *ch = data;
  if (ch->fd < 0) {
    napi_throw(env, errno_error(env, ch->what, syscall, EBADF, NULL));
    return NULL;
  }
  return ch;
}

/* The poller index argument of an open function: -1 (the event loop) or 0..2^30. */
static bool get_index(napi_env env, napi_value v, int32_t *index) {
  if (napi_get_value_int32(env, v, index) != napi_ok || *index < -1 || *index > (1 << 30)) {
    napi_throw_range_error(env, NULL, "poller index must be -1 or 0..2^30");
    return false;
  }
  return true;
}

static bool get_array(napi_env env, napi_value v, napi_typedarray_type want, void **data,
                      size_t *length, const char *what) {
  napi_typedarray_type type;
  /* napi_get_typedarray_info fails (without throwing) on anything but a typed array. */
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok ||
      type != want) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s has the wrong type", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

static bool get_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s must be a function", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

/* The packet arrays of a send: checked so that no slice reaches outside buf. */
typedef struct {
  uint8_t *buf;
  uint32_t *off, *len, *addr;
  uint16_t *port;
  uint32_t count;
} send_args_t;

static bool get_send_args(napi_env env, napi_value *argv, bool with_addr, bool with_port,
                          send_args_t *a) {
  size_t buflen, n_off, n_len, n_addr = 0, n_port = 0;
  size_t i = 0;
  if (!get_array(env, argv[i++], napi_uint8_array, (void **)&a->buf, &buflen, "buffer") ||
      !get_array(env, argv[i++], napi_uint32_array, (void **)&a->off, &n_off, "offsets") ||
      !get_array(env, argv[i++], napi_uint32_array, (void **)&a->len, &n_len, "lengths"))
    return false;
  a->addr = NULL;
  a->port = NULL;
  if (with_addr && !get_array(env, argv[i++], napi_uint32_array, (void **)&a->addr, &n_addr, "addrs"))
    return false;
  if (with_port && !get_array(env, argv[i++], napi_uint16_array, (void **)&a->port, &n_port, "ports"))
    return false;
  if (napi_get_value_uint32(env, argv[i], &a->count) != napi_ok ||
      a->count > n_off || a->count > n_len || (with_addr && a->count > n_addr) ||
      (with_port && a->count > n_port)) {
    napi_throw_range_error(env, NULL, "count exceeds an array's length");
    return false;
  }
  for (uint32_t k = 0; k < a->count; k++) {
    if ((uint64_t)a->off[k] + a->len[k] > buflen) {
      napi_throw_range_error(env, NULL, "packet slice outside the buffer");
      return false;
    }
  }
  return true;
}

/* ---- the shared batch ---- */

/* A buffer for BATCH_MAX slots of `slot` bytes (pages are touched only by packets received),
 * replacing any smaller one: JS only ever sees a buffer during its callback. */
static bool shared_alloc(napi_env env, shared_t *sh, uint32_t slot) {
  napi_value buf;
  napi_ref ref;
  void *data;
  if (napi_create_buffer(env, (size_t)BATCH_MAX * (slot + SLOT_PAD), &data, &buf) != napi_ok ||
      napi_create_reference(env, buf, 1, &ref) != napi_ok) {
    throw_napi_failure(env, "napi_create_buffer");
    return false;
  }
  if (sh->buf) napi_delete_reference(env, sh->buf);
  sh->buf = ref;
  if (sh->state_data) sh->state_data[STATE_GENERATION]++;
  batch_layout(&sh->b, data, slot);
  return true;
}

/* ---- exported functions ---- */

/* tunOpen(name, mtu, txqueuelen, onBatch, onError, index) -> [handle, actualName]
 * index -1: polled by the event loop, which calls onBatch; else read by the poller under index. */
static napi_value js_tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], handle, result, v;
  char name[32], actual[16], what[40];
  size_t name_len;
  uint32_t mtu, qlen;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  if (name_len >= 16) {
    napi_throw_range_error(env, NULL, "interface name longer than 15 bytes");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_uint32(env, argv[1], &mtu));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[2], &qlen));
  if (!get_function(env, argv[3], "onBatch") || !get_function(env, argv[4], "onError"))
    return NULL;
  int32_t index;
  if (!get_index(env, argv[5], &index)) return NULL;
  shared_t *sh;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  /* Slots must hold this TUN's largest packet (and the tunnel packets carrying it). */
  uint32_t slot = SLOT_FOR_MTU(mtu > 65535 ? 65535 : mtu);
  if (slot > sh->b.slot && !shared_alloc(env, sh, slot)) return NULL;
  int fd = tun_open(name, mtu, qlen, actual, &where);
  snprintf(what, sizeof what, "tun %s", fd < 0 ? name : actual);
  if (fd < 0) {
    /* EACCES on open() is the device node's mode (0600 on some systems), not a capability. */
    bool node_mode = -fd == EACCES && strcmp(where, "open(/dev/net/tun)") == 0;
    napi_throw(env, errno_error(env, what, where, -fd,
                                node_mode ? "read-write access to /dev/net/tun" : "CAP_NET_ADMIN"));
    return NULL;
  }
  if (!(handle = chan_new(env, fd, CHAN_TUN, what, argv[3], argv[4], index))) return NULL;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
  NAPI_CALL(env, napi_set_element(env, result, 0, handle));
  NAPI_CALL(env, napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_element(env, result, 1, v));
  return result;
}

/* udpOpen(addr, port, onBatch, onError, index) -> handle */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint32_t addr, port;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[0], &addr));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[1], &port));
  if (port > 65535) {
    napi_throw_range_error(env, NULL, "port out of range");
    return NULL;
  }
  if (!get_function(env, argv[2], "onBatch") || !get_function(env, argv[3], "onError"))
    return NULL;
  int32_t index;
  if (!get_index(env, argv[4], &index)) return NULL;
  struct in_addr a = {htonl(addr)};
  char what[40];
  snprintf(what, sizeof what, "udp %s:%u", inet_ntoa(a), port);
  int fd = udp_open(addr, (uint16_t)port, &where);
  if (fd < 0) {
    napi_throw(env, errno_error(env, what, where, -fd, NULL));
    return NULL;
  }
  return chan_new(env, fd, CHAN_UDP, what, argv[2], argv[3], index);
}

/* raw41Open(addr, onBatch, onError, index) -> handle; addr 0 leaves the socket unbound */
static napi_value js_raw41_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  uint32_t addr;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[0], &addr));
  if (!get_function(env, argv[1], "onBatch") || !get_function(env, argv[2], "onError"))
    return NULL;
  int32_t index;
  if (!get_index(env, argv[3], &index)) return NULL;
  int fd = raw41_open(addr, &where);
  if (fd < 0) {
    napi_throw(env, errno_error(env, "raw41", where, -fd, "CAP_NET_RAW"));
    return NULL;
  }
  return chan_new(env, fd, CHAN_RAW41, "raw41", argv[1], argv[2], index);
}

/* streamOpen(fd, what, input, output, maxFrame, onBatch, onError, index) -> handle
 * Takes over a connected stream socket (it is made non-blocking and closed with the channel), with
 * `input` already read from the peer and `output` to send first. Read by the poller only. */
static napi_value js_stream_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], external;
  int32_t fd, index;
  uint32_t max_frame;
  char what[40];
  size_t what_len, in_len, out_len;
  uint8_t *in, *out;
  void *data;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], what, sizeof what, &what_len));
  if (!get_array(env, argv[2], napi_uint8_array, (void **)&in, &in_len, "input") ||
      !get_array(env, argv[3], napi_uint8_array, (void **)&out, &out_len, "output"))
    return NULL;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[4], &max_frame));
  if (!get_function(env, argv[5], "onBatch") || !get_function(env, argv[6], "onError") ||
      !get_index(env, argv[7], &index))
    return NULL;
  if (index < 0) {
    napi_throw_range_error(env, NULL, "a stream is read by a poller only");
    return NULL;
  }
  if (fd < 0 || max_frame == 0 || max_frame > 0xffff) {
    napi_throw_range_error(env, NULL, "a stream needs an open fd and a largest packet of 1..65535 bytes");
    return NULL;
  }
  stream_t *st = calloc(1, sizeof *st);
  int rc = st ? stream_init(st, max_frame, in, in_len, out, out_len) : -ENOMEM;
  if (rc < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
    int err = rc < 0 ? -rc : errno;
    if (st) stream_free(st);
    free(st);
    close(fd);
    napi_throw(env, errno_error(env, what, rc < 0 ? "malloc" : "fcntl", err, NULL));
    return NULL;
  }
  if (!(external = chan_new(env, fd, CHAN_STREAM, what, argv[5], argv[6], index))) {
    stream_free(st);
    free(st);
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_external(env, external, &data));
  chan_t *ch = data;
  ch->stream = st;
  if (st->out_len > 0 || st->in_len > 0) {
    /* What came with it is handled as if the poller had just seen it. */
    int err = 0;
    stream_flush(fd, st, &err);
    stream_arm(ch);
    stream_mark_ready(ch);
  }
  return external;
}

/* streamSend(handle, buf, offsets, lengths, count) -> taken (framed and buffered or written) */
static napi_value js_stream_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  send_args_t a;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "write")) || !get_send_args(env, argv + 1, false, false, &a))
    return NULL;
  if (ch->kind != CHAN_STREAM) {
    napi_throw_type_error(env, NULL, "not a stream");
    return NULL;
  }
  int err = 0;
  uint32_t taken = stream_send_batch(ch->fd, ch->stream, a.buf, a.off, a.len, a.count, &err);
  stream_arm(ch);
  NAPI_CALL(env, napi_create_uint32(env, taken, &result));
  return result;
}

/* streamBacklog(handle) -> [bytes waiting to be written, ms they have made no progress] */
static napi_value js_stream_backlog(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "write"))) return NULL;
  if (ch->kind != CHAN_STREAM) {
    napi_throw_type_error(env, NULL, "not a stream");
    return NULL;
  }
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
  NAPI_CALL(env, napi_create_uint32(env, ch->stream->out_len, &v));
  NAPI_CALL(env, napi_set_element(env, result, 0, v));
  NAPI_CALL(env, napi_create_double(env, (double)stream_waiting_ms(ch->stream), &v));
  NAPI_CALL(env, napi_set_element(env, result, 1, v));
  return result;
}

/* dupFd(fd) -> a new close-on-exec fd for the same open file: a socket handed from Node to a channel */
static napi_value js_dup_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t fd;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    napi_throw(env, errno_error(env, "stream", "fcntl(F_DUPFD_CLOEXEC)", errno, NULL));
    return NULL;
  }
  NAPI_CALL(env, napi_create_int32(env, copy, &result));
  return result;
}

/* socketPair() -> [fd, fd]: a connected AF_UNIX stream pair (close-on-exec, blocking) */
static napi_value js_socket_pair(napi_env env, napi_callback_info info) {
  napi_value result, v;
  int fds[2];
  (void)info;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    napi_throw(env, errno_error(env, "stream", "socketpair", errno, NULL));
    return NULL;
  }
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
  for (uint32_t i = 0; i < 2; i++) {
    NAPI_CALL(env, napi_create_int32(env, fds[i], &v));
    NAPI_CALL(env, napi_set_element(env, result, i, v));
  }
  return result;
}

/* icmp6Send(ifname, packet): sends one ICMPv6 message (the kernel fills in its checksum) to the
 * all-nodes group ff02::1 on the interface, with hop limit 255 as neighbour discovery demands: a
 * client's router advertisements on its LAN when radvd is not installed. */
static napi_value js_icmp6_send(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2];
  char ifname[32];
  size_t ifname_len;
  uint8_t *packet;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &ifname_len));
  if (!get_array(env, argv[1], napi_uint8_array, (void **)&packet, &len, "packet")) return NULL;
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    napi_throw(env, errno_error(env, ifname, "if_nametoindex", errno, NULL));
    return NULL;
  }
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) {
    napi_throw(env, errno_error(env, "icmp6", "socket", errno, "CAP_NET_RAW"));
    return NULL;
  }
  int hops = 255;
  struct sockaddr_in6 to;
  memset(&to, 0, sizeof to);
  to.sin6_family = AF_INET6;
  to.sin6_scope_id = ifindex;
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  int rc = setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0 ||
                   setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0
               ? -1
               : (int)sendto(fd, packet, len, 0, (struct sockaddr *)&to, sizeof to);
  int err = errno;
  close(fd);
  if (rc < 0) {
    napi_throw(env, errno_error(env, ifname, "sendto", err, NULL));
    return NULL;
  }
  return NULL;
}

/* tunPersist(handle, on): whether the device stays when its fd closes (TUNSETPERSIST) */
static napi_value js_tun_persist(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  chan_t *ch;
  bool on;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "ioctl(TUNSETPERSIST)"))) return NULL;
  if (ch->kind != CHAN_TUN) {
    napi_throw_type_error(env, NULL, "not a TUN device");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  if (ioctl(ch->fd, TUNSETPERSIST, on ? 1 : 0) < 0) {
    napi_throw(env, errno_error(env, ch->what, "ioctl(TUNSETPERSIST)", errno, "CAP_NET_ADMIN"));
    return NULL;
  }
  return NULL;
}

/* tunWrite(handle, buf, offsets, lengths, count) -> accepted */
static napi_value js_tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  send_args_t a;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "write")) || !get_send_args(env, argv + 1, false, false, &a))
    return NULL;
  if (ch->kind != CHAN_TUN) {
    napi_throw_type_error(env, NULL, "not a TUN device");
    return NULL;
  }
  NAPI_CALL(env, napi_create_uint32(env, tun_write_batch(ch->fd, a.buf, a.off, a.len, a.count), &result));
  return result;
}

/* udpSend(handle, buf, offsets, lengths, addrs, ports, count) -> sent
 * raw41Send(handle, buf, offsets, lengths, addrs, count, source) -> sent; source 0: the route's */
static napi_value sock_send(napi_env env, napi_callback_info info, enum chan_kind kind) {
  size_t argc = 7;
  napi_value argv[7], result;
  send_args_t a;
  chan_t *ch;
  uint32_t source = 0;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "sendmmsg")) ||
      !get_send_args(env, argv + 1, true, kind == CHAN_UDP, &a))
    return NULL;
  if (ch->kind != kind) {
    napi_throw_type_error(env, NULL, "wrong channel kind");
    return NULL;
  }
  if (kind == CHAN_RAW41 && napi_get_value_uint32(env, argv[6], &source) != napi_ok) {
    napi_throw_type_error(env, NULL, "source must be an IPv4 address as a number");
    return NULL;
  }
  uint32_t sent = sock_send_batch(ch->fd, &ch->shared->b, a.buf, a.off, a.len, a.addr, a.port, source, a.count);
  NAPI_CALL(env, napi_create_uint32(env, sent, &result));
  return result;
}

static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  return sock_send(env, info, CHAN_UDP);
}

static napi_value js_raw41_send(napi_env env, napi_callback_info info) {
  return sock_send(env, info, CHAN_RAW41);
}

/* localAddress(handle) -> [addr, port] */
static napi_value js_local_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  struct sockaddr_in sin;
  socklen_t sl = sizeof sin;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "getsockname"))) return NULL;
  if (getsockname(ch->fd, (struct sockaddr *)&sin, &sl) < 0) {
    napi_throw(env, errno_error(env, ch->what, "getsockname", errno, NULL));
    return NULL;
  }
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
  NAPI_CALL(env, napi_create_uint32(env, ntohl(sin.sin_addr.s_addr), &v));
  NAPI_CALL(env, napi_set_element(env, result, 0, v));
  NAPI_CALL(env, napi_create_uint32(env, ntohs(sin.sin_port), &v));
  NAPI_CALL(env, napi_set_element(env, result, 1, v));
  return result;
}

/* close(handle): idempotent */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool tagged = false;
  void *data;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (napi_check_object_type_tag(env, argv[0], &CHAN_TAG, &tagged) != napi_ok || !tagged) {
    napi_throw_type_error(env, NULL, "not a dataplane channel");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_external(env, argv[0], &data));
  chan_close(data);
  return NULL;
}

/* ---- the poller ---- */

static void stamp_clock(shared_t *sh);

/* pollerOpen(): opens this thread's poller */
static napi_value js_poller_open(napi_env env, napi_callback_info info) {
  uv_loop_t *loop;
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
  if (sh->poller) {
    napi_throw_error(env, NULL, "this thread has a poller already");
    return NULL;
  }
  poller_t *p = calloc(1, sizeof *p);
  if (!p) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  p->refs = 1;
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  /* The loop's own epoll fd is readable whenever the loop has an event to handle. */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (p->epfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, uv_backend_fd(loop), &ev) < 0) {
    int err = errno;
    const char *syscall = p->epfd < 0 ? "epoll_create1" : "epoll_ctl";
    poller_unref(p);
    napi_throw(env, errno_error(env, "poller", syscall, err, NULL));
    return NULL;
  }
  sh->poller = p;
  stamp_clock(sh);
  return NULL;
}

static int64_t monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Packet handlers read this instead of calling Date.now(), a runtime call per batch. */
static void stamp_clock(shared_t *sh) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  sh->clock_data[0] = (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Makes the sends queued in the outbox: each to its channel if that is still open, with every
 * slice checked against the shared buffer; what the kernel took goes to the sent array. */
static void outbox_flush(shared_t *sh, poller_t *p, uint32_t segments) {
  outbox_t *o = &sh->out;
  batch_t *b = &sh->b;
  size_t buflen = (size_t)BATCH_MAX * b->stride;
  for (uint32_t k = 0; k < segments; k++) {
    int32_t index = o->seg[k * SEGMENT_FIELDS];
    uint32_t start = (uint32_t)o->seg[k * SEGMENT_FIELDS + 1], count = (uint32_t)o->seg[k * SEGMENT_FIELDS + 2];
    uint32_t source = (uint32_t)o->seg[k * SEGMENT_FIELDS + 3];
    chan_t *ch = index >= 0 && index < p->nchans ? p->chans[index] : NULL;
    bool valid = ch && ch->fd >= 0 && start <= BATCH_MAX && count <= BATCH_MAX - start;
    for (uint32_t i = start; valid && i < start + count; i++)
      valid = (size_t)o->off[i] + o->len[i] <= buflen;
    if (!valid)
      o->sent[k] = 0;
    else if (ch->kind == CHAN_TUN)
      o->sent[k] = tun_write_batch(ch->fd, b->buf, o->off + start, o->len + start, count);
    else if (ch->kind == CHAN_STREAM) {
      /* A failed connection shows as an error event on the next wait. */
      int err = 0;
      o->sent[k] = stream_send_batch(ch->fd, ch->stream, b->buf, o->off + start, o->len + start, count, &err);
      stream_arm(ch);
    } else
      o->sent[k] = sock_send_batch(ch->fd, b, b->buf, o->off + start, o->len + start, o->addr + start,
                                   ch->kind == CHAN_UDP ? o->port + start : NULL,
                                   ch->kind == CHAN_RAW41 ? source : 0, count);
  }
}

/* [index, error] for a channel that failed; it is closed. */
static napi_value poller_failure(napi_env env, chan_t *ch, const char *syscall, int err) {
  napi_value result, index, e = chan_error(env, ch, syscall, err);
  NAPI_CALL(env, napi_create_int32(env, ch->index, &index));
  chan_close(ch);
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
  NAPI_CALL(env, napi_set_element(env, result, 0, index));
  NAPI_CALL(env, napi_set_element(env, result, 1, e));
  return result;
}

/* pollerNext(timeoutMs) -> index | [index, error] | -1
 * First makes the sends queued in the outbox (see STATE_SEGMENTS). Then returns the next batch of
 * the poller's channels, in the shared batch (count and oversized in the state array), named by
 * its channel's index; or that channel's fatal read error (it is closed then); or -1 once the event
 * loop has work or the deadline has passed. timeoutMs >= 0 sets the deadline from now; -1 keeps
 * the last one. Blocks in epoll_wait while nothing is ready. */
static napi_value js_poller_next(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t timeout;
  shared_t *sh;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  poller_t *p = sh->poller;
  if (!p) {
    napi_throw(env, errno_error(env, "poller", "epoll_wait", EBADF, NULL));
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &timeout));
  uint32_t segments = sh->state_data[STATE_SEGMENTS];
  if (segments > 0) {
    sh->state_data[STATE_SEGMENTS] = 0;
    if (segments > BATCH_MAX) segments = BATCH_MAX;
    outbox_flush(sh, p, segments);
    sh->state_data[STATE_SETTLED] = segments;
  }
  if (timeout >= 0) {
    p->deadline = monotonic_ms() + timeout;
    p->polled = 0;
  }
  batch_t *b = &sh->b;
  for (;;) {
    chan_t *ch = p->cur;
    if (!ch) {
      if (p->iev < p->nev) {
        struct epoll_event *e = &p->ev[p->iev++];
        ch = e->data.ptr;
        if (!ch) {
          p->loop_ready = 1;
        } else if (ch->fd >= 0) { /* else closed since the epoll_wait */
          if (ch->kind == CHAN_STREAM && (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && ch->stream->out_len > 0) {
            int err = 0;
            stream_flush(ch->fd, ch->stream, &err);
            if (err) return poller_failure(env, ch, "write", err);
            stream_arm(ch);
          }
          if (ch->kind != CHAN_STREAM || (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
            p->cur = ch, p->rounds = 0;
        }
        continue;
      }
      if (p->ready) {
        ch = p->ready;
        p->ready = ch->next_ready;
        ch->in_ready = 0;
        p->cur = ch, p->rounds = 0;
        continue;
      }
      poller_release_dead(p);
      int64_t left = p->deadline - monotonic_ms();
      if (p->loop_ready || (p->polled && left <= 0)) {
        p->loop_ready = 0;
        NAPI_CALL(env, napi_create_int32(env, -1, &result));
        return result;
      }
      int n = dp_epoll_wait(p->epfd, p->ev, BATCH_MAX, left > 0 ? (int)left : 0);
      p->polled = 1;
      stamp_clock(sh);
      if (n < 0 && errno != EINTR) {
        napi_throw(env, errno_error(env, "poller", "epoll_wait", errno, NULL));
        return NULL;
      }
      p->nev = n > 0 ? n : 0;
      p->iev = 0;
      if (n == 0) p->loop_ready = 1; /* the deadline: give up */
      continue;
    }
    int err = 0, n = chan_read(ch, b, &err);
    if (err || b->taken < BATCH_MAX || ++p->rounds >= ROUNDS_MAX) {
      p->cur = NULL;
      if (!err && ch->kind == CHAN_STREAM) stream_mark_ready(ch);
    }
    if (err) return poller_failure(env, ch, read_syscall(ch), err);
    if (n > 0 || b->oversized > 0) {
      sh->state_data[STATE_COUNT] = (uint32_t)n;
      sh->state_data[STATE_OVERSIZED] = b->oversized;
      NAPI_CALL(env, napi_create_int32(env, ch->index, &result));
      return result;
    }
  }
}

static void poller_close(shared_t *sh) {
  poller_t *p = sh->poller;
  if (!p) return;
  sh->poller = NULL;
  close(p->epfd);
  p->epfd = -1;
  p->nev = p->iev = 0;
  p->cur = NULL;
  poller_release_dead(p);
  poller_unref(p);
}

/* A JS array of the referenced values. */
static napi_value ref_array(napi_env env, const napi_ref *refs, uint32_t n) {
  napi_value result, v;
  NAPI_CALL(env, napi_create_array_with_length(env, n, &result));
  for (uint32_t i = 0; i < n; i++) {
    NAPI_CALL(env, napi_get_reference_value(env, refs[i], &v));
    NAPI_CALL(env, napi_set_element(env, result, i, v));
  }
  return result;
}

/* outbox() -> [offsets, lengths, addrs, ports, segments, sent]: where JS queues sends */
static napi_value js_outbox(napi_env env, napi_callback_info info) {
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  outbox_t *o = &sh->out;
  napi_ref refs[] = {o->off_ref, o->len_ref, o->addr_ref, o->port_ref, o->seg_ref, o->sent_ref};
  return ref_array(env, refs, 6);
}

/* pollerClose(): idempotent; its channels must be closed first, they are never read again */
static napi_value js_poller_close(napi_env env, napi_callback_info info) {
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  poller_close(sh);
  return NULL;
}

/* batch() -> [buf, offsets, lengths, addrs, ports, state, clock]: what pollerNext fills. buf is
 * replaced when a TUN with a larger MTU opens; state[2] then changes. clock[0] is the wall-clock
 * time (ms) of the poller's last wakeup. */
static napi_value js_batch(napi_env env, napi_callback_info info) {
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  napi_ref refs[] = {sh->buf, sh->off, sh->len, sh->addr, sh->port, sh->state, sh->clock};
  return ref_array(env, refs, 7);
}

/* ---- module setup ---- */

static void shared_finalize(napi_env env, void *data, void *hint) {
  shared_t *sh = data;
  (void)hint;
  napi_delete_reference(env, sh->buf);
  napi_delete_reference(env, sh->off);
  napi_delete_reference(env, sh->len);
  napi_delete_reference(env, sh->addr);
  napi_delete_reference(env, sh->port);
  napi_delete_reference(env, sh->state);
  napi_delete_reference(env, sh->clock);
  napi_delete_reference(env, sh->out.off_ref);
  napi_delete_reference(env, sh->out.len_ref);
  napi_delete_reference(env, sh->out.addr_ref);
  napi_delete_reference(env, sh->out.port_ref);
  napi_delete_reference(env, sh->out.seg_ref);
  napi_delete_reference(env, sh->out.sent_ref);
  poller_close(sh);
  free(sh);
}

/* A typed array of BATCH_MAX * per elements. */
static bool new_typed_array_n(napi_env env, napi_typedarray_type type, size_t elem_size, size_t per,
                              void **data, napi_ref *ref) {
  napi_value ab, ta;
  if (napi_create_arraybuffer(env, BATCH_MAX * per * elem_size, data, &ab) != napi_ok ||
      napi_create_typedarray(env, type, BATCH_MAX * per, ab, 0, &ta) != napi_ok ||
      napi_create_reference(env, ta, 1, ref) != napi_ok) {
    throw_napi_failure(env, "napi_create_typedarray");
    return false;
  }
  return true;
}

static bool new_typed_array(napi_env env, napi_typedarray_type type, size_t elem_size,
                            void **data, napi_ref *ref) {
  return new_typed_array_n(env, type, elem_size, 1, data, ref);
}

/* One shared batch per environment (main thread or worker). */
static bool shared_init(napi_env env) {
  shared_t *sh = calloc(1, sizeof *sh);
  if (!sh) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  if (napi_set_instance_data(env, sh, shared_finalize, NULL) != napi_ok) {
    free(sh);
    throw_napi_failure(env, "napi_set_instance_data");
    return false;
  }
  return shared_alloc(env, sh, SLOT_DEFAULT) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.off, &sh->off) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.len, &sh->len) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.addr, &sh->addr) &&
         new_typed_array(env, napi_uint16_array, 2, (void **)&sh->b.port, &sh->port) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->state_data, &sh->state) &&
         new_typed_array(env, napi_float64_array, 8, (void **)&sh->clock_data, &sh->clock) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.off, &sh->out.off_ref) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.len, &sh->out.len_ref) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.addr, &sh->out.addr_ref) &&
         new_typed_array(env, napi_uint16_array, 2, (void **)&sh->out.port, &sh->out.port_ref) &&
         new_typed_array_n(env, napi_int32_array, 4, SEGMENT_FIELDS, (void **)&sh->out.seg, &sh->out.seg_ref) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.sent, &sh->out.sent_ref);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"tunOpen", NULL, js_tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWrite", NULL, js_tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunPersist", NULL, js_tun_persist, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"raw41Open", NULL, js_raw41_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"raw41Send", NULL, js_raw41_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localAddress", NULL, js_local_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamOpen", NULL, js_stream_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamSend", NULL, js_stream_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamBacklog", NULL, js_stream_backlog, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dupFd", NULL, js_dup_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketPair", NULL, js_socket_pair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmp6Send", NULL, js_icmp6_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerOpen", NULL, js_poller_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerNext", NULL, js_poller_next, NULL, NULL, NULL, napi_enumerable, NULL},
      {"batch", NULL, js_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"outbox", NULL, js_outbox, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerClose", NULL, js_poller_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (!shared_init(env)) return NULL;
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
