/* Channels: one fd each (TUN, UDP, raw protocol 41, byte stream), polled by the event loop or by
 * the thread's poller, handing each batch read to JS; and the errors they report. */
#include "addon.h"

const napi_type_tag CHAN_TAG = {0x6474637064617461ULL, 0x706c616e65636831ULL};

void throw_napi_failure(napi_env env, const char *call) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, call);
}

/* A Node-style system error; the capability hint tells an operator what to grant. */
napi_value errno_error(napi_env env, const char *what, const char *syscall, int err,
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

void poller_unref(poller_t *p) {
  if (--p->refs > 0) return;
  if (p->epfd >= 0) close(p->epfd);
  if (p->udp_raw_fd >= 0) close(p->udp_raw_fd);
  free(p->many);
  free(p->chans);
  free(p);
}

static void chan_release(chan_t *ch);

void poller_release_dead(poller_t *p) {
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
  tun_offload_free(ch->offload);
  ch->offload = NULL;
  udp_gro_free(ch->gro);
  ch->gro = NULL;
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
void chan_close(chan_t *ch) {
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

uint32_t udp_chan_send(chan_t *ch, batch_t *b, const uint8_t *buf, const uint32_t *off, const uint32_t *len,
                       const uint32_t *addr, const uint16_t *port, uint32_t count) {
  if (ch->segment) return udp_send_segmented(ch->fd, b, buf, off, len, addr, port, count, &ch->segment);
  return sock_send_batch(ch->fd, b, buf, off, len, addr, port, 0, count);
}

/* One batch from the channel into the shared batch; see the read functions. */
int chan_read(chan_t *ch, batch_t *b, int *err) {
  b->taken = b->oversized = 0;
  if (ch->kind == CHAN_TUN) return tun_read_batch(ch->fd, ch->offload, b, err);
  if (ch->kind == CHAN_UDP && ch->gro) return udp_gro_recv_batch(ch->fd, ch->gro, b, ch->shared_udp, err);
  if (ch->kind == CHAN_UDP) return ch->shared_udp ? udp_shared_recv_batch(ch->fd, b, err) : udp_recv_batch(ch->fd, b, err);
  if (ch->kind == CHAN_STREAM) return stream_read_batch(ch->fd, ch->stream, b, err);
  return raw41_recv_batch(ch->fd, b, err);
}

const char *read_syscall(chan_t *ch) {
  return ch->kind == CHAN_TUN || ch->kind == CHAN_STREAM ? "read" : "recvmmsg";
}

/* The error a channel failed with, for JS; a stream's end and broken frames get words of their own. */
napi_value chan_error(napi_env env, chan_t *ch, const char *syscall, int err) {
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

/* Whole packets left in a stream's buffer, a TUN's super-packet or a shared socket's coalesced
 * datagrams not yet all handed out, wake no epoll: the poller serves the channel before waiting again. */
static bool chan_holds(const chan_t *ch) {
  switch (ch->kind) {
    case CHAN_STREAM: return stream_has_frame(ch->stream);
    case CHAN_TUN: return tun_has_held(ch->offload);
    case CHAN_UDP: return udp_gro_has_held(ch->gro);
    default: return false;
  }
}

void chan_mark_ready(chan_t *ch) {
  if (ch->in_ready || !chan_holds(ch)) return;
  ch->in_ready = 1;
  ch->next_ready = ch->poller->ready;
  ch->poller->ready = ch;
}

/* A stream with output pending is also polled for room to write; without, for reading only. */
void stream_arm(chan_t *ch) {
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
    /* The rest of a super-packet is served now: no event would come for it. At most 64 KB of
     * one-byte segments, so this ends. */
    if (round == ROUNDS_MAX - 1 && ch->fd >= 0 && chan_holds(ch)) round--;
  }
}

/* Wraps an open fd in a channel polled by the event loop, or by the thread's poller under `index`
 * when index >= 0; closes the fd on failure. */
napi_value chan_new(napi_env env, int fd, enum chan_kind kind, const char *what,
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
  if (kind == CHAN_UDP) {
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &sl) == 0) {
      ch->local_addr = ntohl(sin.sin_addr.s_addr);
      ch->local_port = ntohs(sin.sin_port);
    }
  }
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
