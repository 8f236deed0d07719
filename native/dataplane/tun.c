/* TUN device: creation, link settings and packet I/O (one packet per read()/write()). */
#include "dataplane.h"

#include <errno.h>
#include <fcntl.h>
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

int tun_open(const char *name, uint32_t mtu, uint32_t txqueuelen, char actual_name[16],
             const char **where) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *where = "open(/dev/net/tun)";
    return -errno;
  }
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
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

int tun_read_batch(int fd, batch_t *b, int *err) {
  int n = 0;
  b->taken = b->oversized = 0;
  while (b->taken < BATCH_MAX) {
    uint32_t off = (uint32_t)n * b->stride;
    ssize_t r = dp_read(fd, b->buf + off, b->slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      /* Empty queue or a momentary memory shortage: try again on the next wakeup. */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOMEM && errno != ENOBUFS)
        *err = errno;
      break;
    }
    b->taken++;
    /* A cut packet reads as its full length (Linux tun) or at most the slot; the slot exceeds
     * the MTU it was sized for, so a read filling it is never a whole legitimate packet.
     * The slot is reused by the next read. */
    if ((size_t)r >= b->slot) {
      b->oversized++;
      continue;
    }
    b->off[n] = off;
    b->len[n] = (uint32_t)r;
    n++;
  }
  return n;
}

uint32_t tun_write_batch(int fd, const uint8_t *buf, const uint32_t *off, const uint32_t *len,
                         uint32_t count) {
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
