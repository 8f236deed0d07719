/* The packets of many sessions in one sendmmsg. Every UDP session has a socket of its own (its
 * server port, as its client sees it), and a batch of sendmmsg can only go to one socket: once
 * packets from the TUN belong to many sessions, each would cost a system call of its own. A raw
 * IPPROTO_UDP socket takes each datagram with a UDP header of our making, so one call carries the
 * datagrams of every session, each from its session's address and port. Protocol 41 has one
 * socket for all sessions already; its packets of several sessions go out in one call too, each
 * message naming its own source address. */
#include "dataplane.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>

int udp_raw_open(const char **where) {
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    *where = "socket";
    return -errno;
  }
  /* Accept nothing: without the filter every UDP datagram of the host would be copied here. */
  struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
  struct sock_fprog prog = {.len = 1, .filter = &drop};
  const char *failed = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ? "setsockopt(SO_ATTACH_FILTER)"
                       : set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF) < 0                      ? "setsockopt(SO_SNDBUF)"
                                                                                             : NULL;
  if (!failed) return fd;
  int err = errno;
  close(fd);
  *where = failed;
  return -err;
}

/* Ones' complement sum of len bytes in memory order, 32 bits at a time (RFC 1071: the sum of the
 * words as they lie in memory is the network-order sum in this machine's order). */
uint64_t checksum_add(uint64_t sum, const uint8_t *p, uint32_t len) {
  uint32_t w;
  for (; len >= 4; p += 4, len -= 4) {
    memcpy(&w, p, 4);
    sum += w;
  }
  if (len >= 2) {
    uint16_t h;
    memcpy(&h, p, 2);
    sum += h;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint16_t last = 0;
    memcpy(&last, p, 1); /* the odd byte, padded with a zero after it */
    sum += last;
  }
  return sum;
}

uint16_t checksum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

uint16_t udp_checksum(uint32_t saddr, uint32_t daddr, const uint8_t *hdr, const uint8_t *payload,
                      uint32_t len) {
  uint32_t pseudo[3] = {htonl(saddr), htonl(daddr), htonl((IPPROTO_UDP << 16) | (8 + len))};
  uint64_t sum = checksum_add(0, (const uint8_t *)pseudo, sizeof pseudo);
  sum = checksum_add(sum, hdr, 8);
  sum = checksum_add(sum, payload, len);
  uint16_t folded = (uint16_t)~checksum_fold(sum);
  /* 0 means "no checksum" in UDP over IPv4: a computed 0 is sent as all ones. */
  return folded == 0 ? 0xffff : folded;
}

uint32_t send_many(int fd, send_many_t *s, const uint8_t *buf, const udp_datagram_t *d, uint32_t count,
                   int udp, uint8_t *ok) {
  if (count > BATCH_MAX) count = BATCH_MAX;
  for (uint32_t i = 0; i < count; i++) {
    struct msghdr *m = &s->msg[i].msg_hdr;
    memset(m, 0, sizeof *m);
    memset(&s->name[i], 0, sizeof s->name[i]);
    s->name[i].sin_family = AF_INET;
    s->name[i].sin_addr.s_addr = htonl(d[i].daddr);
    m->msg_name = &s->name[i];
    m->msg_namelen = sizeof s->name[i];
    ok[i] = 0;
    if (d[i].saddr != 0) {
      struct in_pktinfo info;
      memset(&info, 0, sizeof info);
      info.ipi_spec_dst.s_addr = htonl(d[i].saddr);
      m->msg_control = s->source[i].buf;
      m->msg_controllen = cmsg_put(s->source[i].buf, sizeof s->source[i].buf, IPPROTO_IP, IP_PKTINFO, &info, sizeof info);
    }
    if (!udp) {
      s->iov[i][0].iov_base = (void *)(buf + d[i].off);
      s->iov[i][0].iov_len = d[i].len;
      m->msg_iov = s->iov[i];
      m->msg_iovlen = 1;
      continue;
    }
    uint8_t *h = s->hdr[i];
    uint16_t sport = htons(d[i].sport), dport = htons(d[i].dport), ulen = htons((uint16_t)(8 + d[i].len));
    memcpy(h, &sport, 2);
    memcpy(h + 2, &dport, 2);
    memcpy(h + 4, &ulen, 2);
    memset(h + 6, 0, 2);
    uint16_t check = udp_checksum(d[i].saddr, d[i].daddr, h, buf + d[i].off, d[i].len);
    memcpy(h + 6, &check, 2);
    s->iov[i][0].iov_base = h;
    s->iov[i][0].iov_len = 8;
    s->iov[i][1].iov_base = (void *)(buf + d[i].off);
    s->iov[i][1].iov_len = d[i].len;
    m->msg_iov = s->iov[i];
    m->msg_iovlen = 2;
  }
  uint32_t sent = 0;
  /* As sock_send_batch: sendmmsg stops at the first refused message; the next call reports it. */
  for (uint32_t k = 0; k < count;) {
    int r = dp_sendmmsg(fd, s->msg + k, count - k);
    if (r > 0) {
      for (int j = 0; j < r; j++) ok[k + (uint32_t)j] = 1;
      k += (uint32_t)r;
      sent += (uint32_t)r;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      break; /* send queue full: drop the rest rather than queue without bound */
    } else {
      k++; /* this datagram was refused */
    }
  }
  return sent;
}
