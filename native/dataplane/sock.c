/* UDP/IPv4 and raw IPv4 protocol 41 sockets, read with recvmmsg and written with sendmmsg. */
#include "dataplane.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* 4 MB buffers absorb bursts at a few hundred thousand packets/s. The FORCE variants ignore
 * net.core.[rw]mem_max but need CAP_NET_ADMIN; without it the plain option is capped. */
int set_buffer(int fd, int force_opt, int opt) {
  int v = SOCK_BUF_BYTES;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) == 0) return 0;
  if (errno != EPERM) return -1;
  return setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v);
}

/* transparent: for a shared UDP socket (udp_shared_open). */
static int sock_open(int type, int proto, int do_bind, uint32_t addr, uint16_t port, bool transparent,
                     const char **where) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    *where = "socket";
    return -errno;
  }
  if (set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF) < 0) {
    *where = "setsockopt(SO_RCVBUF)";
    goto fail;
  }
  if (set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF) < 0) {
    *where = "setsockopt(SO_SNDBUF)";
    goto fail;
  }
  int on = 1;
  if (transparent && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on) < 0) {
    *where = "setsockopt(IP_TRANSPARENT)";
    goto fail;
  }
  if (transparent && setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &on, sizeof on) < 0) {
    *where = "setsockopt(IP_RECVORIGDSTADDR)";
    goto fail;
  }
  if (do_bind) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(addr);
    sin.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
      *where = "bind";
      goto fail;
    }
  }
  return fd;
fail:;
  int err = errno;
  close(fd);
  return -err;
}

int udp_open(uint32_t addr, uint16_t port, const char **where) {
  return sock_open(SOCK_DGRAM, 0, 1, addr, port, false, where);
}

int udp_shared_open(uint32_t addr, uint16_t port, const char **where) {
  return sock_open(SOCK_DGRAM, 0, 1, addr, port, true, where);
}

/* Binding a raw socket only fixes the source address and filters on the destination. */
int raw41_open(uint32_t addr, const char **where) {
  return sock_open(SOCK_RAW, IPPROTO_IPV6, addr != 0, addr, 0, false, where);
}

void batch_layout(batch_t *b, uint8_t *buf, uint32_t slot) {
  b->buf = buf;
  b->slot = slot;
  b->stride = slot + SLOT_PAD;
  memset(b->rx, 0, sizeof b->rx);
  memset(b->tx, 0, sizeof b->tx);
  memset(b->tx_names, 0, sizeof b->tx_names);
  for (int i = 0; i < BATCH_MAX; i++) {
    b->rx_iov[i].iov_base = buf + (size_t)i * b->stride;
    b->rx_iov[i].iov_len = slot;
    b->rx[i].msg_hdr.msg_name = &b->rx_names[i];
    b->rx[i].msg_hdr.msg_namelen = sizeof b->rx_names[i];
    b->rx[i].msg_hdr.msg_iov = &b->rx_iov[i];
    b->rx[i].msg_hdr.msg_iovlen = 1;
    b->tx_names[i].sin_family = AF_INET;
    b->tx[i].msg_hdr.msg_name = &b->tx_names[i];
    b->tx[i].msg_hdr.msg_namelen = sizeof b->tx_names[i];
    b->tx[i].msg_hdr.msg_iov = &b->tx_iov[i];
    b->tx[i].msg_hdr.msg_iovlen = 1;
  }
}

/* One recvmmsg into the batch slots; returns the datagram count (0 when none or on error). */
static int recv_batch(int fd, batch_t *b, int *err) {
  int r;
  do r = dp_recvmmsg(fd, b->rx, BATCH_MAX);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOMEM && errno != ENOBUFS)
      *err = errno;
    r = 0;
  }
  b->taken = (uint32_t)r;
  b->oversized = 0;
  return r;
}

/* True when datagram i did not fit its slot (the kernel cut it): it is dropped and counted. Also
 * restores the name length that recvmmsg rewrote. */
static int cut(batch_t *b, int i) {
  struct msghdr *h = &b->rx[i].msg_hdr;
  h->msg_namelen = sizeof b->rx_names[i];
  if (!(h->msg_flags & MSG_TRUNC)) return 0;
  b->oversized++;
  return 1;
}

int udp_recv_batch(int fd, batch_t *b, int *err) {
  int n = recv_batch(fd, b, err), kept = 0;
  for (int i = 0; i < n; i++) {
    if (cut(b, i)) continue;
    b->off[kept] = (uint32_t)i * b->stride;
    b->len[kept] = b->rx[i].msg_len; /* 0 for an empty datagram (a NAT keepalive) */
    b->addr[kept] = ntohl(b->rx_names[i].sin_addr.s_addr);
    b->port[kept] = ntohs(b->rx_names[i].sin_port);
    kept++;
  }
  return kept;
}

int udp_shared_recv_batch(int fd, batch_t *b, int *err) {
  for (int i = 0; i < BATCH_MAX; i++) {
    b->rx[i].msg_hdr.msg_control = b->rx_dst[i].buf;
    b->rx[i].msg_hdr.msg_controllen = sizeof b->rx_dst[i].buf;
  }
  int n = recv_batch(fd, b, err), kept = 0;
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &b->rx[i].msg_hdr;
    struct sockaddr_in dst;
    h->msg_namelen = sizeof b->rx_names[i];
    if (!cmsg_get(h, SOL_IP, IP_ORIGDSTADDR, &dst, sizeof dst)) {
      b->oversized++; /* cannot be a session's: dropped and counted with the cut ones */
      continue;
    }
    b->off[kept] = (uint32_t)i * b->stride;
    b->len[kept] = h->msg_flags & MSG_TRUNC ? SHARED_CUT : b->rx[i].msg_len;
    b->addr[kept] = ntohl(b->rx_names[i].sin_addr.s_addr);
    b->port[kept] = ntohs(b->rx_names[i].sin_port);
    b->dst[kept] = ntohl(dst.sin_addr.s_addr);
    b->dport[kept] = ntohs(dst.sin_port);
    kept++;
  }
  /* The other channels' reads take no control messages. */
  for (int i = 0; i < BATCH_MAX; i++) {
    b->rx[i].msg_hdr.msg_control = NULL;
    b->rx[i].msg_hdr.msg_controllen = 0;
  }
  return kept;
}

/* A raw IPv4 socket hands over the IPv4 header: skip it (its length varies with options). */
int raw41_recv_batch(int fd, batch_t *b, int *err) {
  int n = recv_batch(fd, b, err), kept = 0;
  for (int i = 0; i < n; i++) {
    if (cut(b, i)) continue;
    const uint8_t *p = b->buf + (size_t)i * b->stride;
    uint32_t total = b->rx[i].msg_len, ihl;
    if (total < 20) continue;
    ihl = (uint32_t)(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > total) continue;
    b->off[kept] = (uint32_t)i * b->stride + ihl;
    b->len[kept] = total - ihl;
    b->addr[kept] = ntohl(b->rx_names[i].sin_addr.s_addr);
    kept++;
  }
  return kept;
}

uint32_t sock_send_batch(int fd, batch_t *s, const uint8_t *buf, const uint32_t *off,
                         const uint32_t *len, const uint32_t *addr, const uint16_t *port,
                         uint32_t source, uint32_t count) {
  uint32_t sent = 0;
  void *control = NULL;
  size_t controllen = 0;
  if (source != 0) {
    struct in_pktinfo info;
    memset(&info, 0, sizeof info);
    info.ipi_spec_dst.s_addr = htonl(source);
    control = s->tx_source.buf;
    controllen = cmsg_put(s->tx_source.buf, sizeof s->tx_source.buf, IPPROTO_IP, IP_PKTINFO, &info, sizeof info);
  }
  for (uint32_t base = 0; base < count; base += BATCH_MAX) {
    uint32_t n = count - base < BATCH_MAX ? count - base : BATCH_MAX;
    /* Name pointers are fixed by batch_layout. */
    for (uint32_t k = 0; k < n; k++) {
      uint32_t i = base + k;
      s->tx_names[k].sin_addr.s_addr = htonl(addr[i]);
      s->tx_names[k].sin_port = htons(port ? port[i] : 0);
      s->tx_iov[k].iov_base = (void *)(buf + off[i]);
      s->tx_iov[k].iov_len = len[i];
      s->tx[k].msg_hdr.msg_iov = &s->tx_iov[k];
      s->tx[k].msg_hdr.msg_iovlen = 1;
      s->tx[k].msg_hdr.msg_control = control;
      s->tx[k].msg_hdr.msg_controllen = controllen;
    }
    /* sendmmsg stops at the first refused message; the next call reports its errno. */
    for (uint32_t k = 0; k < n;) {
      int r = dp_sendmmsg(fd, s->tx + k, n - k);
      if (r > 0) {
        k += (uint32_t)r;
        sent += (uint32_t)r;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        return sent; /* send queue full: drop the rest rather than queue without bound */
      } else {
        k++; /* this packet was refused (EMSGSIZE, EHOSTUNREACH, EPERM by a firewall...) */
      }
    }
  }
  return sent;
}

/* Where the run of datagrams from i ends: same destination, each as long as the first but the
 * last, which may be shorter; within the bytes and datagrams one message may carry. */
static uint32_t segment_run(const uint32_t *len, const uint32_t *addr, const uint16_t *port, uint32_t i,
                            uint32_t count) {
  uint32_t size = len[i], total = size, j = i + 1;
  if (size == 0) return j; /* an empty datagram (a keepalive) cannot be segmented */
  while (j < count && j - i < BATCH_MAX && addr[j] == addr[i] && port[j] == port[i] && len[j] > 0 &&
         len[j] <= size && total + len[j] <= UDP_SEGMENT_BYTES) {
    total += len[j];
    if (len[j++] < size) break;
  }
  return j;
}

uint32_t udp_send_segmented(int fd, batch_t *s, const uint8_t *buf, const uint32_t *off, const uint32_t *len,
                            const uint32_t *addr, const uint16_t *port, uint32_t count, bool *segment) {
  uint32_t sent = 0;
  for (uint32_t base = 0; base < count && *segment;) {
    uint32_t n = count - base < BATCH_MAX ? count - base : BATCH_MAX, m = 0;
    for (uint32_t k = 0; k < n; m++) {
      uint32_t end = segment_run(len + base, addr + base, port + base, k, n);
      for (uint32_t i = k; i < end; i++) {
        s->tx_iov[i].iov_base = (void *)(buf + off[base + i]);
        s->tx_iov[i].iov_len = len[base + i];
      }
      struct msghdr *h = &s->tx[m].msg_hdr;
      s->tx_names[m].sin_addr.s_addr = htonl(addr[base + k]);
      s->tx_names[m].sin_port = htons(port[base + k]);
      h->msg_iov = &s->tx_iov[k];
      h->msg_iovlen = end - k;
      h->msg_control = NULL;
      h->msg_controllen = 0;
      if (end - k > 1) {
        uint16_t size = (uint16_t)len[base + k];
        h->msg_control = s->tx_segment[m].buf;
        h->msg_controllen = cmsg_put(s->tx_segment[m].buf, sizeof s->tx_segment[m].buf, SOL_UDP, UDP_SEGMENT, &size, sizeof size);
      }
      s->tx_packets[m] = end - k;
      k = end;
    }
    uint32_t done = 0; /* datagrams of this chunk accounted for */
    for (uint32_t k = 0; k < m;) {
      int r = dp_sendmmsg(fd, s->tx + k, m - k);
      if (r > 0) {
        for (int x = 0; x < r; x++, k++) {
          sent += s->tx_packets[k];
          done += s->tx_packets[k];
        }
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        return sent;
      } else if (s->tx_packets[k] > 1 && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
        /* Refused as a segmented send: this socket sends one by one from here on. */
        *segment = false;
        base += done;
        break;
      } else {
        done += s->tx_packets[k++]; /* refused (EMSGSIZE, EHOSTUNREACH, EPERM by a firewall...) */
      }
    }
    if (*segment) base += n;
    else return sent + sock_send_batch(fd, s, buf, off + base, len + base, addr + base, port + base, 0, count - base);
  }
  return sent;
}

int loopback_segmented_send(int rx, const uint8_t *data, size_t len, uint16_t size) {
  int tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t tolen = sizeof to;
  int ok = tx >= 0 && bind(rx, (struct sockaddr *)&to, sizeof to) == 0 && getsockname(rx, (struct sockaddr *)&to, &tolen) == 0;
  if (ok) {
    union {
      char buf[CMSG_SPACE(sizeof(uint16_t))];
      struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr h = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = cmsg_put(control.buf, sizeof control.buf, SOL_UDP, UDP_SEGMENT, &size, sizeof size)};
    ok = sendmsg(tx, &h, 0) == (ssize_t)len;
  }
  if (tx >= 0) close(tx);
  return ok ? 0 : -1;
}

bool udp_segment_probe(void) {
  /* 0: not yet probed; 1: works; -1: does not. Racing threads would both probe and agree. */
  static int known = 0;
  if (known) return known > 0;
  int works = 0;
  /* DTCP_TEST_REFUSE_OFFLOAD: the tests' stand-in for a kernel that refuses segmented sends. */
  const char *refuse = getenv("DTCP_TEST_REFUSE_OFFLOAD");
  if (refuse && *refuse) {
    known = -1;
    return false;
  }
  int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  uint8_t payload[2 * 100 + 40];
  memset(payload, 0xa5, sizeof payload);
  /* Three datagrams must arrive: 100, 100 and 40 bytes. */
  if (rx >= 0 && loopback_segmented_send(rx, payload, sizeof payload, 100) == 0) {
    uint8_t got[256];
    ssize_t want[3] = {100, 100, 40};
    works = 1;
    for (int i = 0; i < 3 && works; i++) {
      struct pollfd p = {.fd = rx, .events = POLLIN};
      works = poll(&p, 1, 200) == 1 && recv(rx, got, sizeof got, 0) == want[i];
    }
  }
  if (rx >= 0) close(rx);
  known = works ? 1 : -1;
  return works;
}
