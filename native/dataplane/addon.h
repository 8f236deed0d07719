/* What the addon's files share: the channel, poller and shared-batch types, and the functions one
 * file calls in another. Not part of the packet I/O API (dataplane.h). */
#ifndef DTCP_ADDON_H
#define DTCP_ADDON_H

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
  chan_t *ready;     /* channels with whole packets held (a stream's buffer, a TUN's super-packet) but no
                      * event to wake them: served before waiting */
  chan_t **chans;    /* open channels by index: the outbox names them so */
  int32_t nchans;
  /* Sends the UDP datagrams of several sessions in one call (send-many.c); -1 when it could not be
   * opened (no CAP_NET_RAW): each session's socket sends its own. */
  int udp_raw_fd;
  send_many_t *many;   /* scratch of send_many */
  udp_datagram_t dgram[BATCH_MAX];
  uint8_t dgram_ok[BATCH_MAX];
  /* The outbox's sends as one flush resolved them: channel (NULL: invalid), packets, source. */
  struct {
    chan_t *ch;
    uint32_t start, count, source;
  } seg[BATCH_MAX];
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
  napi_ref buf, off, len, addr, port, state, clock, dst, dport;
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
  uint32_t local_addr;     /* CHAN_UDP: where the socket is bound (host order; 0: the wildcard) */
  bool segment;            /* CHAN_UDP: runs of datagrams to one destination go out segmented (UDP_SEGMENT) */
  bool shared_udp;         /* CHAN_UDP: receives the datagrams of many sessions (udp_shared_open) */
  udp_gro_t *gro;          /* a shared socket with receive offload on */
  uint16_t local_port;
  chan_t *next_dead;
  stream_t *stream;        /* CHAN_STREAM: its buffers */
  tun_offload_t *offload;  /* CHAN_TUN with offloads on: super-packets split and joined */
  int out_armed;           /* CHAN_STREAM: the poller also waits for room to write */
  int in_ready;            /* on the poller's ready list (a stream's or a TUN's packets held) */
  chan_t *next_ready;
};

/* Marks the Externals that are channels. */
extern const napi_type_tag CHAN_TAG;

/* Returns NULL from the calling function after throwing, unless a JS exception is pending. */
#define NAPI_CALL(env, call)                                                  \
  do {                                                                        \
    if ((call) != napi_ok) {                                                  \
      throw_napi_failure(env, #call);                                         \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

/* The packet arrays of a send: checked so that no slice reaches outside buf. */
typedef struct {
  uint8_t *buf;
  uint32_t *off, *len, *addr;
  uint16_t *port;
  uint32_t count;
} send_args_t;

/* ---- channel.c: errors, channels ---- */

void chan_close(chan_t *ch);
napi_value chan_error(napi_env env, chan_t *ch, const char *syscall, int err);
napi_value chan_new(napi_env env, int fd, enum chan_kind kind, const char *what,
                    napi_value on_batch, napi_value on_error, int32_t index);
int chan_read(chan_t *ch, batch_t *b, int *err);
napi_value errno_error(napi_env env, const char *what, const char *syscall, int err,
                       const char *cap);
void poller_release_dead(poller_t *p);
void poller_unref(poller_t *p);
const char *read_syscall(chan_t *ch);
void stream_arm(chan_t *ch);
/* Puts a channel with packets held on the poller's ready list. */
void chan_mark_ready(chan_t *ch);
void throw_napi_failure(napi_env env, const char *call);

/* Sends on a UDP channel: segmented where it may, else one message per datagram. */
uint32_t udp_chan_send(chan_t *ch, batch_t *b, const uint8_t *buf, const uint32_t *off, const uint32_t *len,
                       const uint32_t *addr, const uint16_t *port, uint32_t count);

/* ---- args.c: arguments, the shared batch ---- */

bool get_array(napi_env env, napi_value v, napi_typedarray_type want, void **data,
               size_t *length, const char *what);
chan_t *get_chan(napi_env env, napi_value v, const char *syscall);
bool get_function(napi_env env, napi_value v, const char *what);
bool get_index(napi_env env, napi_value v, int32_t *index);
bool get_send_args(napi_env env, napi_value *argv, bool with_addr, bool with_port,
                   send_args_t *a);
bool shared_alloc(napi_env env, shared_t *sh, uint32_t slot);
/* A JS array of these numbers (NULL after throwing). */
napi_value number_array(napi_env env, const double *values, uint32_t n);

/* ---- poller.c ---- */

void poller_close(shared_t *sh);
/* The poller's exported functions (pollerOpen, pollerNext, batch, outbox, pollerClose). */
napi_value js_poller_open(napi_env env, napi_callback_info info);
napi_value js_poller_next(napi_env env, napi_callback_info info);
napi_value js_batch(napi_env env, napi_callback_info info);
napi_value js_outbox(napi_env env, napi_callback_info info);
napi_value js_poller_close(napi_env env, napi_callback_info info);

#endif
