/* UDP receive offload (UDP_GRO) on the shared UDP sockets: the kernel hands over a run of
 * datagrams of one flow (a client's segmented send, or what the NIC coalesced) as one datagram of
 * up to 64 KB, with the size of its segments, so that the run passes the stack once. Here the
 * reads go to an area of GRO_MESSAGES × 64 KB and each datagram, or each segment of a coalesced
 * one, is copied into a batch slot; what does not fit the batch is held for the next read, as the
 * TUN holds a super-packet. The area is allocated once per socket; the pages a read does not reach
 * are never touched. */
#include "dataplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/udp.h>
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define GRO_MESSAGES BATCH_MAX
#define GRO_MESSAGE 65536 /* above the largest UDP payload, so no read is ever cut */

struct udp_gro {
  uint8_t *area;
  struct mmsghdr msgs[GRO_MESSAGES];
  struct iovec iov[GRO_MESSAGES];
  struct sockaddr_in names[GRO_MESSAGES];
  union {
    char buf[CMSG_SPACE(sizeof(struct sockaddr_in)) + CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctrl[GRO_MESSAGES];
  int count;    /* messages of the last read */
  int next;     /* the first not wholly handed out */
  uint32_t at;  /* of which this many bytes are */
  uint64_t coalesced, segments; /* reads carrying several datagrams, and those datagrams */
};

udp_gro_t *udp_gro_new(int fd) {
  int on = 1;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0) return NULL;
  udp_gro_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->area = malloc((size_t)GRO_MESSAGES * GRO_MESSAGE);
  if (!g->area) {
    free(g);
    return NULL;
  }
  return g;
}

void udp_gro_free(udp_gro_t *g) {
  if (!g) return;
  free(g->area);
  free(g);
}

bool udp_gro_has_held(const udp_gro_t *g) {
  return g && g->next < g->count;
}

void udp_gro_stats(const udp_gro_t *g, uint64_t *coalesced, uint64_t *segments) {
  *coalesced = g ? g->coalesced : 0;
  *segments = g ? g->segments : 0;
}

static int gro_read(int fd, udp_gro_t *g, int *err) {
  for (int i = 0; i < GRO_MESSAGES; i++) {
    g->iov[i] = (struct iovec){.iov_base = g->area + (size_t)i * GRO_MESSAGE, .iov_len = GRO_MESSAGE};
    g->msgs[i].msg_hdr = (struct msghdr){.msg_name = &g->names[i], .msg_namelen = sizeof g->names[i],
                                         .msg_iov = &g->iov[i], .msg_iovlen = 1,
                                         .msg_control = g->ctrl[i].buf, .msg_controllen = sizeof g->ctrl[i].buf};
  }
  int r;
  do r = dp_recvmmsg(fd, g->msgs, GRO_MESSAGES);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOMEM && errno != ENOBUFS) *err = errno;
    r = 0;
  }
  g->count = r;
  g->next = 0;
  g->at = 0;
  return r;
}

int udp_gro_recv_batch(int fd, udp_gro_t *g, batch_t *b, bool shared, int *err) {
  int n = 0;
  while (n < BATCH_MAX) {
    if (g->next >= g->count && gro_read(fd, g, err) == 0) break;
    struct msghdr *h = &g->msgs[g->next].msg_hdr;
    uint32_t total = g->msgs[g->next].msg_len;
    struct sockaddr_in dst = {0};
    int size = 0;
    uint32_t segment = cmsg_get(h, SOL_UDP, UDP_GRO, &size, sizeof size) && size > 0 ? (uint32_t)size : 0;
    if (shared && !cmsg_get(h, SOL_IP, IP_ORIGDSTADDR, &dst, sizeof dst)) {
      b->oversized++; /* cannot be a session's: dropped and counted */
      g->next++;
      continue;
    }
    if (g->at == 0 && segment > 0 && segment < total) {
      g->coalesced++;
      g->segments += (total + segment - 1) / segment;
    }
    /* A coalesced datagram in segments as they were sent; any other whole (an empty one too). */
    uint32_t piece = segment > 0 && segment < total ? segment : total;
    if (piece > total - g->at) piece = total - g->at;
    uint32_t off = (uint32_t)n * b->stride;
    b->off[n] = off;
    if (piece > b->slot && !shared) {
      b->oversized++; /* as a socket of its own counts what its slot cannot hold */
    } else if (piece > b->slot) {
      b->len[n] = SHARED_CUT;
    } else {
      memcpy(b->buf + off, g->area + (size_t)g->next * GRO_MESSAGE + g->at, piece);
      b->len[n] = piece;
    }
    b->addr[n] = ntohl(g->names[g->next].sin_addr.s_addr);
    b->port[n] = ntohs(g->names[g->next].sin_port);
    b->dst[n] = ntohl(dst.sin_addr.s_addr);
    b->dport[n] = ntohs(dst.sin_port);
    if (!(piece > b->slot && !shared)) n++;
    g->at += piece;
    if (g->at >= total) {
      g->next++;
      g->at = 0;
    }
  }
  b->taken = (uint32_t)n;
  return n;
}

bool udp_gro_probe(void) {
  /* 0: not yet probed; 1: works; -1: does not. Racing threads would both probe and agree. */
  static int result;
  if (result) return result > 0;
  bool ok = false;
  /* DTCP_TEST_REFUSE_OFFLOAD: the tests' stand-in for a kernel that does not coalesce. */
  const char *refuse = getenv("DTCP_TEST_REFUSE_OFFLOAD");
  if (refuse && *refuse) {
    result = -1;
    return false;
  }
  int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int on = 1;
  /* Three 100-byte segments in one send: a kernel that coalesces hands them over as one. */
  uint8_t data[300];
  for (int i = 0; i < 300; i++) data[i] = (uint8_t)i;
  if (rx < 0 || setsockopt(rx, SOL_UDP, UDP_GRO, &on, sizeof on) < 0 || loopback_segmented_send(rx, data, sizeof data, 100) < 0)
    goto done;
  uint8_t got[400];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } rctrl;
  struct iovec riov = {.iov_base = got, .iov_len = sizeof got};
  struct msghdr r = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rctrl.buf, .msg_controllen = sizeof rctrl.buf};
  struct pollfd p = {.fd = rx, .events = POLLIN};
  ssize_t len = poll(&p, 1, 200) == 1 ? recvmsg(rx, &r, MSG_DONTWAIT) : -1;
  int segment = 0;
  ok = len == (ssize_t)sizeof data && cmsg_get(&r, SOL_UDP, UDP_GRO, &segment, sizeof segment) && segment == 100 &&
       memcmp(got, data, sizeof data) == 0;
done:
  if (rx >= 0) close(rx);
  result = ok ? 1 : -1;
  return ok;
}
