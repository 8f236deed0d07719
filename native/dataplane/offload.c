/* TUN offloads: a TUN opened with IFF_VNET_HDR and TSO6 hands over TCP/IPv6 super-packets of up to
 * 64 KB, each with a virtio_net_hdr, and takes them back. Reading, a super-packet is split here into
 * the segments the kernel would have made (each with its own TCP checksum, in the batch's slots), so
 * that everything past the read sees ordinary packets. Writing, consecutive segments of one TCP flow
 * are joined into one super-packet and written with one writev; the kernel then moves one packet
 * through its stack instead of some 50. wireguard-go's tun/offload_linux.go is the model. */
#include "dataplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/if_tun.h>

#define IP6_HDR 40
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10
#define TCP_FLAG_CWR 0x80

/* The IPv6 pseudo-header (addresses from the packet, upper-layer length and next header) summed. */
static uint64_t pseudo_sum(const uint8_t *ip6, uint32_t upper_len, uint8_t proto) {
  uint64_t sum = checksum_add(0, ip6 + 8, 32);
  uint8_t tail[8] = {(uint8_t)(upper_len >> 24), (uint8_t)(upper_len >> 16), (uint8_t)(upper_len >> 8),
                     (uint8_t)upper_len, 0, 0, 0, proto};
  return checksum_add(sum, tail, 8);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

tun_offload_t *tun_offload_new(void) {
  tun_offload_t *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->buf = malloc(TUN_SUPER_BUF);
  if (!o->buf) {
    free(o);
    return NULL;
  }
  return o;
}

void tun_offload_free(tun_offload_t *o) {
  if (!o) return;
  free(o->buf);
  free(o);
}

/* Completes a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM): the sum from
 * csum_start to the end goes into the field at csum_start + csum_offset, which holds the
 * pseudo-header's sum already. Returns 0, or -1 when the header points outside the packet. */
static int complete_checksum(uint8_t *pkt, uint32_t len, const struct virtio_net_hdr *h) {
  uint32_t start = h->csum_start, at = (uint32_t)h->csum_start + h->csum_offset;
  if (start >= len || at + 2 > len) return -1;
  /* As the kernel's skb_checksum_help: 0 goes out as 0xffff, the same sum (UDP reads 0 as none). */
  uint16_t c = (uint16_t)~checksum_fold(checksum_add(0, pkt + start, len - start));
  if (c == 0) c = 0xffff;
  memcpy(pkt + at, &c, 2);
  return 0;
}

int tun_offload_accept(tun_offload_t *o, uint8_t *slot, uint32_t slot_len, uint32_t len) {
  const struct virtio_net_hdr *h = &o->hdr;
  if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
    if (len >= slot_len) return TUN_DROP_OVERSIZED;
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && complete_checksum(slot, len, h) < 0) return TUN_DROP_BAD;
    return TUN_PACKET;
  }
  if ((h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_TCPV6) return TUN_DROP_BAD;
  /* The part the read put in the slot goes in front of the rest, in one buffer. */
  if (len > TUN_SUPER_BUF || slot_len > TUN_SUPER_BUF) return TUN_DROP_OVERSIZED;
  memcpy(o->buf, slot, len < slot_len ? len : slot_len);
  uint32_t tcp = h->csum_start;
  if (len < IP6_HDR || (o->buf[0] >> 4) != 6 || tcp < IP6_HDR || tcp + 20 > len) return TUN_DROP_BAD;
  uint32_t hdr_len = tcp + (uint32_t)(o->buf[tcp + 12] >> 4) * 4;
  if (hdr_len < tcp + 20 || hdr_len > len || h->gso_size == 0) return TUN_DROP_BAD;
  if (hdr_len + h->gso_size >= slot_len) return TUN_DROP_OVERSIZED;
  o->len = len;
  o->hdr_len = hdr_len;
  o->next = 0;
  o->super_in++;
  return TUN_SUPER;
}

uint32_t tun_offload_segment(tun_offload_t *o, uint8_t *dst) {
  const uint8_t *src = o->buf;
  uint32_t tcp = o->hdr.csum_start, hdr_len = o->hdr_len, payload = o->len - hdr_len;
  uint32_t seg = payload - o->next < o->hdr.gso_size ? payload - o->next : o->hdr.gso_size;
  bool first = o->next == 0, last = o->next + seg >= payload;
  memcpy(dst, src, hdr_len);
  memcpy(dst + hdr_len, src + hdr_len + o->next, seg);
  put16(dst + 4, (uint16_t)(hdr_len - IP6_HDR + seg));
  uint8_t *th = dst + tcp;
  put32(th + 4, be32(src + tcp + 4) + o->next);
  if (!last) th[13] &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
  if (!first) th[13] &= (uint8_t)~TCP_FLAG_CWR;
  put16(th + 16, 0);
  uint32_t upper = hdr_len - tcp + seg;
  uint16_t c = (uint16_t)~checksum_fold(checksum_add(pseudo_sum(dst, upper, 6), th, upper));
  memcpy(th + 16, &c, 2);
  o->next += seg;
  o->segments_in++;
  if (last) o->len = 0;
  return hdr_len + seg;
}

/* A TCP/IPv6 packet (no extension headers) whose segments may be joined: ACK, perhaps PSH, and
 * nothing else; data; a header that fits the copy. Its TCP header offset is 40. */
static bool joinable(const uint8_t *p, uint32_t len, uint32_t *thl) {
  if (len < IP6_HDR + 20 || (p[0] >> 4) != 6 || p[6] != 6) return false;
  if ((uint32_t)(p[4] << 8 | p[5]) + IP6_HDR != len) return false;
  uint32_t h = (uint32_t)(p[IP6_HDR + 12] >> 4) * 4;
  uint8_t flags = p[IP6_HDR + 13];
  if (h < 20 || IP6_HDR + h >= len || IP6_HDR + h > TUN_JOIN_HDR) return false;
  if ((flags & ~TCP_FLAG_PSH) != TCP_FLAG_ACK) return false;
  *thl = h;
  return true;
}

/* Whether a TCP/IPv6 packet's checksum holds: a segment joined into a super-packet gets its checksum
 * from the kernel, so a damaged one must not be joined. */
static bool checksum_holds(const uint8_t *p, uint32_t len) {
  uint32_t upper = len - IP6_HDR;
  return checksum_fold(checksum_add(pseudo_sum(p, upper, 6), p + IP6_HDR, upper)) == 0xffff;
}

/* How many packets from i on are one flow's consecutive segments, joinable into one super-packet:
 * same addresses, ports, acknowledgement, header fields and options; each sequence number where
 * the last one ended; every segment as long as the first but the last, which may be shorter and
 * ends the run, as does PSH. */
static uint32_t run_length(const uint8_t *buf, const uint32_t *off, const uint32_t *len, uint32_t i,
                           uint32_t count, uint32_t *thl_out) {
  const uint8_t *a = buf + off[i];
  uint32_t thl;
  if (!joinable(a, len[i], &thl) || !checksum_holds(a, len[i])) return 1;
  uint32_t hdr = IP6_HDR + thl, gso = len[i] - hdr, total = gso;
  uint32_t seq = be32(a + IP6_HDR + 4) + gso;
  bool ended = (a[IP6_HDR + 13] & TCP_FLAG_PSH) != 0;
  uint32_t n = 1;
  while (!ended && i + n < count) {
    const uint8_t *b = buf + off[i + n];
    uint32_t blen = len[i + n], bthl;
    if (!joinable(b, blen, &bthl) || bthl != thl) break;
    uint32_t seg = blen - hdr;
    if (seg > gso || total + seg + thl > 65535) break;
    /* Version, traffic class, flow label; next header, hop limit; addresses; ports; then the ack,
     * and the options after the flags, checksum and urgent pointer. */
    if (memcmp(a, b, 4) != 0 || memcmp(a + 6, b + 6, 34) != 0 || memcmp(a + IP6_HDR, b + IP6_HDR, 4) != 0 ||
        memcmp(a + IP6_HDR + 8, b + IP6_HDR + 8, 4) != 0 || memcmp(a + IP6_HDR + 14, b + IP6_HDR + 14, 2) != 0 ||
        memcmp(a + IP6_HDR + 20, b + IP6_HDR + 20, thl - 20) != 0)
      break;
    if (be32(b + IP6_HDR + 4) != seq || !checksum_holds(b, blen)) break;
    total += seg;
    seq += seg;
    n++;
    ended = seg < gso || (b[IP6_HDR + 13] & TCP_FLAG_PSH) != 0;
  }
  *thl_out = thl;
  return n;
}

uint32_t tun_offload_write(int fd, tun_offload_t *o, const uint8_t *buf, const uint32_t *off,
                           const uint32_t *len, uint32_t count) {
  uint32_t sent = 0;
  for (uint32_t i = 0; i < count;) {
    uint32_t thl = 0, n = run_length(buf, off, len, i, count, &thl);
    struct virtio_net_hdr h;
    memset(&h, 0, sizeof h);
    o->iov[0] = (struct iovec){.iov_base = &h, .iov_len = sizeof h};
    int iovcnt;
    if (n == 1) {
      o->iov[1] = (struct iovec){.iov_base = (void *)(buf + off[i]), .iov_len = len[i]};
      iovcnt = 2;
    } else {
      const uint8_t *first = buf + off[i], *lastp = buf + off[i + n - 1];
      uint32_t hdr = IP6_HDR + thl, total = 0;
      for (uint32_t k = 0; k < n; k++) {
        uint32_t seg = len[i + k] - hdr;
        o->iov[2 + k] = (struct iovec){.iov_base = (void *)(buf + off[i + k] + hdr), .iov_len = seg};
        total += seg;
      }
      memcpy(o->join, first, hdr);
      put16(o->join + 4, (uint16_t)(thl + total));
      o->join[IP6_HDR + 13] |= lastp[IP6_HDR + 13] & TCP_FLAG_PSH;
      /* A partial checksum: the pseudo-header's sum, folded, not complemented; the kernel adds the rest. */
      uint16_t c = checksum_fold(pseudo_sum(o->join, thl + total, 6));
      memcpy(o->join + IP6_HDR + 16, &c, 2);
      h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
      h.hdr_len = (uint16_t)hdr;
      h.gso_size = (uint16_t)(len[i] - hdr);
      h.csum_start = IP6_HDR;
      h.csum_offset = 16;
      o->iov[1] = (struct iovec){.iov_base = o->join, .iov_len = hdr};
      iovcnt = (int)n + 2;
    }
    ssize_t r;
    do r = dp_writev(fd, o->iov, iovcnt);
    while (r < 0 && errno == EINTR);
    /* A refusal (EINVAL for a packet that is not IPv4/IPv6, EIO while the link is down) concerns
     * these packets only. */
    if (r >= 0) {
      sent += n;
      if (n > 1) o->super_out++, o->joined_out += n;
    }
    i += n;
  }
  return sent;
}

/* Turns the offloads on and writes one two-segment super-packet, as a kernel that accepts the
 * header but refuses such writes would refuse it. The packet is loopback to loopback, which the
 * kernel drops on arrival from any other interface: it goes nowhere. Returns 0 or -errno. */
int tun_offload_probe(int fd, const char **where) {
  if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO6) < 0) {
    *where = "ioctl(TUNSETOFFLOAD)";
    return -errno;
  }
  uint8_t pkt[IP6_HDR + 20 + 2 * 8];
  memset(pkt, 0, sizeof pkt);
  pkt[0] = 0x60;
  put16(pkt + 4, 20 + 16);
  pkt[6] = 6;
  pkt[7] = 1;
  pkt[23] = 1; /* ::1 */
  pkt[39] = 1;
  put16(pkt + IP6_HDR, 9);
  put16(pkt + IP6_HDR + 2, 9);
  pkt[IP6_HDR + 12] = 5 << 4;
  pkt[IP6_HDR + 13] = TCP_FLAG_ACK;
  uint16_t c = checksum_fold(pseudo_sum(pkt, 20 + 16, 6));
  memcpy(pkt + IP6_HDR + 16, &c, 2);
  struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV6,
                             .hdr_len = IP6_HDR + 20, .gso_size = 8, .csum_start = IP6_HDR, .csum_offset = 16};
  struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof h}, {.iov_base = pkt, .iov_len = sizeof pkt}};
  if (writev(fd, iov, 2) < 0) {
    *where = "writev(super-packet probe)";
    return -errno;
  }
  return 0;
}
