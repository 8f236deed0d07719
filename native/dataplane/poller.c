/* The poller: an epoll set of channels that a dedicated packet thread drives itself through
 * pollerNext, and the outbox of sends JS queues for it. */
#include "addon.h"

static void stamp_clock(shared_t *sh);

/* pollerOpen(together) -> bool: opens this thread's poller; with together, the packets of several
 * sessions go out in one sendmmsg where they can. Returns whether UDP ones can (a raw UDP socket). */
napi_value js_poller_open(napi_env env, napi_callback_info info) {
  uv_loop_t *loop;
  shared_t *sh;
  size_t argc = 1;
  napi_value argv[1];
  bool together = true;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) NAPI_CALL(env, napi_get_value_bool(env, argv[0], &together));
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
  const char *where;
  p->udp_raw_fd = together ? udp_raw_open(&where) : -1;
  if (p->udp_raw_fd < 0) p->udp_raw_fd = -1;
  /* Without it, every session's packets go out on their own. */
  p->many = together ? calloc(1, sizeof *p->many) : NULL;
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
  napi_value udp_together;
  NAPI_CALL(env, napi_get_boolean(env, p->udp_raw_fd >= 0, &udp_together));
  return udp_together;
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

/* Resolves the queued sends once per flush into p->seg: each one's channel if the send is valid
 * (its channel open, every slice inside the shared buffer), else NULL. */
static void resolve_segments(shared_t *sh, poller_t *p, uint32_t segments) {
  outbox_t *o = &sh->out;
  size_t buflen = (size_t)BATCH_MAX * sh->b.stride;
  for (uint32_t k = 0; k < segments; k++) {
    int32_t index = o->seg[k * SEGMENT_FIELDS];
    uint32_t start = (uint32_t)o->seg[k * SEGMENT_FIELDS + 1], count = (uint32_t)o->seg[k * SEGMENT_FIELDS + 2];
    chan_t *ch = index >= 0 && index < p->nchans ? p->chans[index] : NULL;
    bool valid = ch && ch->fd >= 0 && start <= BATCH_MAX && count <= BATCH_MAX - start;
    for (uint32_t i = start; valid && i < start + count; i++)
      valid = (size_t)o->off[i] + o->len[i] <= buflen;
    p->seg[k].ch = valid ? ch : NULL;
    p->seg[k].start = start;
    p->seg[k].count = count;
    p->seg[k].source = (uint32_t)o->seg[k * SEGMENT_FIELDS + 3];
  }
}

/* A run this long to one UDP session goes out segmented on its own socket (one trip through the
 * kernel's stack) rather than one message per datagram with the others. */
#define SEGMENTED_RUN 8

/* A send that joins the others of its kind in one sendmmsg: a UDP one whose socket is bound to an
 * address (the wildcard would leave the source, and so the checksum, to the route) and that is not
 * a run to send segmented, or one on the shared protocol-41 socket. */
static bool joins(const chan_t *ch, uint32_t count, enum chan_kind kind, const chan_t *raw41) {
  if (!ch || ch->kind != kind) return false;
  return kind == CHAN_UDP ? ch->local_addr != 0 && !(ch->segment && count >= SEGMENTED_RUN) : ch == raw41;
}

/* The queued sends of several sessions of one kind (UDP on the raw UDP socket, or protocol 41 on
 * its socket) as one sendmmsg; returns a mask of the segments it made (the others are left to
 * their own sockets). */
static uint64_t outbox_flush_many(shared_t *sh, poller_t *p, uint32_t segments, enum chan_kind kind) {
  outbox_t *o = &sh->out;
  uint32_t sessions = 0, n = 0;
  chan_t *raw41 = NULL;
  for (uint32_t k = 0; kind == CHAN_RAW41 && !raw41 && k < segments; k++)
    if (p->seg[k].ch && p->seg[k].ch->kind == CHAN_RAW41) raw41 = p->seg[k].ch;
  int fd = kind == CHAN_UDP ? p->udp_raw_fd : raw41 ? raw41->fd : -1;
  if (fd < 0 || !p->many) return 0;
  for (uint32_t k = 0; k < segments; k++)
    if (joins(p->seg[k].ch, p->seg[k].count, kind, raw41)) sessions++;
  /* One session's packets go out in one call on its own socket anyway (UDP: checksums by the kernel). */
  if (sessions < 2) return 0;
  uint64_t made = 0;
  for (uint32_t k = 0; k < segments; k++) {
    chan_t *ch = p->seg[k].ch;
    uint32_t start = p->seg[k].start, count = p->seg[k].count;
    if (!joins(ch, count, kind, raw41) || count > BATCH_MAX - n) continue;
    made |= 1ull << k;
    uint32_t source = kind == CHAN_UDP ? ch->local_addr : p->seg[k].source;
    for (uint32_t i = start; i < start + count; i++, n++) {
      p->dgram[n] = (udp_datagram_t){.off = o->off[i], .len = o->len[i], .saddr = source, .daddr = o->addr[i],
                                     .sport = ch->local_port, .dport = kind == CHAN_UDP ? o->port[i] : 0};
    }
  }
  send_many(fd, p->many, sh->b.buf, p->dgram, n, kind == CHAN_UDP, p->dgram_ok);
  n = 0;
  for (uint32_t k = 0; k < segments; k++) {
    if (!(made & (1ull << k))) continue;
    uint32_t sent = 0;
    for (uint32_t i = 0; i < p->seg[k].count; i++, n++) sent += p->dgram_ok[n];
    o->sent[k] = sent;
  }
  return made;
}

/* Makes the sends queued in the outbox: each to its channel if that is still open, with every
 * slice checked against the shared buffer; what the kernel took goes to the sent array. UDP and
 * protocol-41 sends of several sessions go out together (outbox_flush_many). */
static void outbox_flush(shared_t *sh, poller_t *p, uint32_t segments) {
  outbox_t *o = &sh->out;
  batch_t *b = &sh->b;
  resolve_segments(sh, p, segments);
  uint64_t made = outbox_flush_many(sh, p, segments, CHAN_UDP) | outbox_flush_many(sh, p, segments, CHAN_RAW41);
  for (uint32_t k = 0; k < segments; k++) {
    if (made & (1ull << k)) continue;
    uint32_t start = p->seg[k].start, count = p->seg[k].count, source = p->seg[k].source;
    chan_t *ch = p->seg[k].ch;
    if (!ch)
      o->sent[k] = 0;
    else if (ch->kind == CHAN_TUN)
      o->sent[k] = tun_write_batch(ch->fd, ch->offload, b->buf, o->off + start, o->len + start, count);
    else if (ch->kind == CHAN_STREAM) {
      /* A failed connection shows as an error event on the next wait. */
      int err = 0;
      o->sent[k] = stream_send_batch(ch->fd, ch->stream, b->buf, o->off + start, o->len + start, count, &err);
      stream_arm(ch);
    } else if (ch->kind == CHAN_UDP)
      o->sent[k] = udp_chan_send(ch, b, b->buf, o->off + start, o->len + start, o->addr + start, o->port + start, count);
    else
      o->sent[k] = sock_send_batch(ch->fd, b, b->buf, o->off + start, o->len + start, o->addr + start, NULL, source, count);
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
napi_value js_poller_next(napi_env env, napi_callback_info info) {
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
      if (!err) chan_mark_ready(ch);
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

void poller_close(shared_t *sh) {
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
napi_value js_outbox(napi_env env, napi_callback_info info) {
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  outbox_t *o = &sh->out;
  napi_ref refs[] = {o->off_ref, o->len_ref, o->addr_ref, o->port_ref, o->seg_ref, o->sent_ref};
  return ref_array(env, refs, 6);
}

/* pollerClose(): idempotent; its channels must be closed first, they are never read again */
napi_value js_poller_close(napi_env env, napi_callback_info info) {
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  poller_close(sh);
  return NULL;
}

/* batch() -> [buf, offsets, lengths, addrs, ports, state, clock, dsts, dports]: what pollerNext
 * fills (dsts and dports for a shared UDP socket only). buf is replaced when a TUN with a larger MTU
 * opens; state[2] then changes. clock[0] is the wall-clock time (ms) of the poller's last wakeup. */
napi_value js_batch(napi_env env, napi_callback_info info) {
  shared_t *sh;
  (void)info;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  napi_ref refs[] = {sh->buf, sh->off, sh->len, sh->addr, sh->port, sh->state, sh->clock, sh->dst, sh->dport};
  return ref_array(env, refs, 9);
}
