/* TUN device: creation, link settings and packet I/O (one packet per read()/write(), or with
 * offloads, super-packets through offload.c). */
#include "dataplane.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/if_tun.h>

/* Applies MTU and txqueuelen and sets IFF_UP through an ordinary socket, as `ip link` would. */
static int tun_configure(const char *name, uint32_t mtu, uint32_t txqueuelen, const char **where) {
  struct ifreq ifr;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *where = "socket";
    return -errno;
  }
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_mtu = (int)mtu;
  if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
    *where = "ioctl(SIOCSIFMTU)";
    goto fail;
  }
  ifr.ifr_qlen = (int)txqueuelen;
  if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) {
    *where = "ioctl(SIOCSIFTXQLEN)";
    goto fail;
  }
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    *where = "ioctl(SIOCGIFFLAGS)";
    goto fail;
  }
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
    *where = "ioctl(SIOCSIFFLAGS)";
    goto fail;
  }
  close(s);
  return 0;
fail:;
  int err = errno;
  close(s);
  return -err;
}

/* Creates (or attaches to) the device and brings it up; with vnet_hdr, every packet carries a
 * virtio header; multi_queue makes (or adds) one queue of a device that has several. */
static int tun_open_as(const char *name, uint32_t mtu, uint32_t txqueuelen, bool vnet_hdr,
                       bool multi_queue, char actual_name[16], const char **where) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *where = "open(/dev/net/tun)";
    return -errno;
  }
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0) | (multi_queue ? IFF_MULTI_QUEUE : 0);
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    *where = "ioctl(TUNSETIFF)";
    close(fd);
    return -err;
  }
  memcpy(actual_name, ifr.ifr_name, IFNAMSIZ); /* the kernel expands patterns like "dtcp%d" */
  int rc = tun_configure(actual_name, mtu, txqueuelen, where);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  return fd;
}

int tun_open(const char *name, uint32_t mtu, uint32_t txqueuelen, unsigned flags, bool *offload_on,
             char actual_name[16], const char **where) {
  bool multi_queue = flags & TUN_OPEN_MULTI_QUEUE;
  *offload_on = false;
  if (flags & TUN_OPEN_ATTACH) {
    /* The device's flags, virtio header included, are the same for every queue: the first
     * queue's probe decided them. */
    *offload_on = flags & TUN_OPEN_OFFLOAD;
    return tun_open_as(name, mtu, txqueuelen, *offload_on, multi_queue, actual_name, where);
  }
  if (flags & TUN_OPEN_OFFLOAD) {
    int fd = tun_open_as(name, mtu, txqueuelen, true, multi_queue, actual_name, where);
    if (fd < 0) return fd;
    const char *ignored;
    /* DTCP_TEST_REFUSE_OFFLOAD: the tests' stand-in for a kernel that refuses super-packets. */
    const char *refuse = getenv("DTCP_TEST_REFUSE_OFFLOAD");
    if (!(refuse && *refuse) && tun_offload_probe(fd, &ignored) == 0) {
      *offload_on = true;
      return fd;
    }
    /* Refused: the device as without offloads. A device of our own goes with the fd and is made
     * again under the name it had. */
    close(fd);
    name = actual_name;
  }
  return tun_open_as(name, mtu, txqueuelen, false, multi_queue, actual_name, where);
}

/* One read of a TUN with offloads: the virtio header, then the packet into the slot and, past
 * it, the offload buffer. Returns the packet's length, or -1 (errno). */
static ssize_t tun_read_vnet(int fd, tun_offload_t *o, uint8_t *slot, uint32_t slot_len) {
  struct iovec iov[3] = {{.iov_base = &o->hdr, .iov_len = sizeof o->hdr},
                         {.iov_base = slot, .iov_len = slot_len},
                         {.iov_base = o->buf + slot_len, .iov_len = TUN_SUPER_BUF - slot_len}};
  ssize_t r = dp_readv(fd, iov, 3);
  if (r < 0) return r;
  if ((size_t)r < sizeof o->hdr) {
    memset(&o->hdr, 0, sizeof o->hdr);
    return 0;
  }
  return r - (ssize_t)sizeof o->hdr;
}

int tun_read_batch(int fd, tun_offload_t *o, batch_t *b, int *err) {
  int n = 0;
  b->taken = b->oversized = 0;
  while (b->taken < BATCH_MAX) {
    uint32_t off = (uint32_t)n * b->stride;
    /* A held super-packet's segments first, one per slot. */
    if (o && o->len) {
      b->off[n] = off;
      b->len[n] = tun_offload_segment(o, b->buf + off);
      b->taken++;
      n++;
      continue;
    }
    ssize_t r = o ? tun_read_vnet(fd, o, b->buf + off, b->slot) : dp_read(fd, b->buf + off, b->slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* Empty queue or a momentary memory shortage: try again on the next wakeup. */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOMEM && errno != ENOBUFS)
        *err = errno;
      break;
    }
    b->taken++;
    if (o) {
      int what = tun_offload_accept(o, b->buf + off, b->slot, (uint32_t)r);
      /* A super-packet's slot is the first segment's; taken counts its segments as they go out. */
      if (what == TUN_SUPER) {
        b->taken--;
        continue;
      }
      if (what != TUN_PACKET) {
        if (what == TUN_DROP_BAD) o->bad++;
        b->oversized++;
        continue;
      }
    } else if ((size_t)r >= b->slot) {
      /* A cut packet reads as its full length (Linux tun) or at most the slot; the slot exceeds
       * the MTU it was sized for, so a read filling it is never a whole legitimate packet.
       * The slot is reused by the next read. */
      b->oversized++;
      continue;
    }
    b->off[n] = off;
    b->len[n] = (uint32_t)r;
    n++;
  }
  return n;
}

int tun_has_held(const tun_offload_t *o) {
  return o && o->len > 0;
}

uint32_t tun_write_batch(int fd, tun_offload_t *o, const uint8_t *buf, const uint32_t *off,
                         const uint32_t *len, uint32_t count) {
  if (o) return tun_offload_write(fd, o, buf, off, len, count);
  uint32_t sent = 0;
  for (uint32_t i = 0; i < count; i++) {
    ssize_t r;
    do r = dp_write(fd, buf + off[i], len[i]);
    while (r < 0 && errno == EINTR);
    /* A refusal (EINVAL for a packet that is not IPv4/IPv6, EIO while the link is down) concerns
     * this packet only. */
    if (r >= 0) sent++;
  }
  return sent;
}
