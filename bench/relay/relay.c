/* Reference relay for bench/dataplane.ts: the least a tunnel server must do for ONE client,
 * written the fast way, so that the broker daemon's data plane has a yardstick on the same
 * machine, topology and load generator.
 *
 *   relay --tun NAME --mtu N --prefix P/LEN --client A[:PORT] (--udp LOCAL:PORT | --raw41 | --tcp LOCAL:PORT)
 *
 *   TUN -> client: epoll wakeup, up to 64 read()s from the TUN (non-blocking, until EAGAIN),
 *                  keep IPv6 packets whose destination is inside the client's prefix, one
 *                  sendmmsg() to the client (UDP payload = the IPv6 packet; or protocol 41 on a
 *                  raw IPv4 socket, where the kernel adds the outer header).
 *   client -> TUN: one recvmmsg(64); keep datagrams from the client's IPv4 address whose inner
 *                  IPv6 source is inside its prefix (BCP 38, as the daemon checks); one write()
 *                  per packet to the TUN (a TUN takes one packet per write).
 *   --tcp:         one connection from the client (a greeting, one line read, "+OK attached", as
 *                  the daemon's data connection), each packet framed by a 2-byte length: TUN ->
 *                  client frames a batch into a buffer and writes it with one write() (what does not
 *                  fit the socket is dropped: the daemon keeps up to 256 KB, the relay nothing);
 *                  client -> TUN reads up to 64 KB and writes each whole frame to the TUN.
 *
 * Like the daemon: non-blocking fds polled level-triggered, one batch per wakeup and fd, 4 MB
 * socket buffers, TUN txqueuelen 4096, a full send queue drops the rest of the batch. Unlike it:
 * one client, no sessions, no counters per session, no control plane. The TUN routes (the pool
 * to the TUN) are the caller's job, as the daemon's pools are routed by the daemon.
 *
 * Prints "ready <tun name>" on stdout once the TUN and the socket are open; on SIGTERM/SIGINT
 * prints one JSON line of counters and exits 0. Needs CAP_NET_ADMIN (and CAP_NET_RAW for
 * --raw41). Built by bench/dataplane.ts with `cc -O2`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048 /* TUN MTU <= 1500, plus an IPv4 header on the raw socket */
#define SOCK_BUF (4 * 1024 * 1024)

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void die(const char *what) {
  fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr, "usage: relay --tun NAME --mtu N --prefix P/LEN --client A[:PORT] (--udp LOCAL:PORT | --raw41)\n");
  exit(2);
}

/* "a.b.c.d:port" (port optional when want_port is 0) into a sockaddr_in. */
static void parse_v4(const char *text, int want_port, struct sockaddr_in *out) {
  char host[64];
  const char *colon = strchr(text, ':');
  size_t n = colon ? (size_t)(colon - text) : strlen(text);
  if (n >= sizeof host) usage();
  memcpy(host, text, n);
  host[n] = 0;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  if (inet_pton(AF_INET, host, &out->sin_addr) != 1) usage();
  if (colon) out->sin_port = htons((uint16_t)atoi(colon + 1));
  else if (want_port) usage();
}

static uint8_t prefix_addr[16];
static int prefix_len;

static void parse_prefix(const char *text) {
  char addr[64];
  const char *slash = strchr(text, '/');
  if (!slash || (size_t)(slash - text) >= sizeof addr) usage();
  memcpy(addr, text, (size_t)(slash - text));
  addr[slash - text] = 0;
  if (inet_pton(AF_INET6, addr, prefix_addr) != 1) usage();
  prefix_len = atoi(slash + 1);
  if (prefix_len < 0 || prefix_len > 128) usage();
}

/* Is the IPv6 address at a inside the client's prefix? */
static inline int in_prefix(const uint8_t *a) {
  int full = prefix_len / 8, rest = prefix_len % 8;
  if (memcmp(a, prefix_addr, (size_t)full) != 0) return 0;
  if (rest == 0) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[full] & mask) == (prefix_addr[full] & mask);
}

static inline int is_ipv6(const uint8_t *p, size_t len) {
  return len >= 40 && (p[0] >> 4) == 6 && 40u + ((unsigned)p[4] << 8 | p[5]) <= len;
}

static int tun_open(const char *name, int mtu, char actual[IFNAMSIZ]) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("ioctl(TUNSETIFF)");
  memcpy(actual, ifr.ifr_name, IFNAMSIZ);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  ifr.ifr_mtu = mtu;
  if (ioctl(s, SIOCSIFMTU, &ifr) < 0) die("ioctl(SIOCSIFMTU)");
  ifr.ifr_qlen = 4096; /* the default 500 overflows near 130k packets/s */
  if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) die("ioctl(SIOCSIFTXQLEN)");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("ioctl(SIOCGIFFLAGS)");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("ioctl(SIOCSIFFLAGS)");
  close(s);
  return fd;
}

/* Accepts the one TCP client and does the daemon's data-connection exchange; returns its fd. */
static int tcp_accept_client(const struct sockaddr_in *local) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (lfd < 0) die("socket");
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (const struct sockaddr *)local, sizeof *local) < 0) die("bind");
  if (listen(lfd, 1) < 0) die("listen");
  printf("listening\n");
  fflush(stdout);
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) die("accept");
  close(lfd);
  const char greeting[] = "+OK 00000000000000000000000000000000 relay\r\n";
  if (write(fd, greeting, sizeof greeting - 1) < 0) die("write");
  char c;
  do {
    if (read(fd, &c, 1) != 1) die("read");
  } while (c != '\n');
  const char attached[] = "+OK attached\r\n";
  if (write(fd, attached, sizeof attached - 1) < 0) die("write");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static int sock_open(int raw41, const struct sockaddr_in *local) {
  int fd = socket(AF_INET, (raw41 ? SOCK_RAW : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, raw41 ? IPPROTO_IPV6 : 0);
  if (fd < 0) die("socket");
  int v = SOCK_BUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) die("SO_RCVBUFFORCE");
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0) die("SO_SNDBUFFORCE");
  if (!raw41 && bind(fd, (const struct sockaddr *)local, sizeof *local) < 0) die("bind");
  return fd;
}

/* The --tcp loop: TUN -> framed batch, one write(); 64 KB read -> whole frames -> TUN. */
static int relay_tcp(int tun, int conn) {
  static uint8_t out[BATCH * (SLOT + 2)], in[65536 + 2 + SLOT];
  size_t in_len = 0;
  unsigned long long to_client = 0, to_tun = 0, drop_out = 0, drop_in = 0, wakeups = 0;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = tun};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, tun, &ev) < 0) die("epoll_ctl");
  ev.data.fd = conn;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev) < 0) die("epoll_ctl");
  while (!stopping) {
    struct epoll_event evs[2];
    int n = epoll_wait(ep, evs, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    wakeups++;
    for (int e = 0; e < n; e++) {
      if (evs[e].data.fd == tun) {
        size_t len = 0;
        int k = 0;
        for (; k < BATCH; k++) {
          ssize_t r = read(tun, out + len + 2, SLOT);
          if (r < 0) break;
          if (!is_ipv6(out + len + 2, (size_t)r) || !in_prefix(out + len + 2 + 24)) {
            drop_out++;
            continue;
          }
          out[len] = (uint8_t)(r >> 8);
          out[len + 1] = (uint8_t)r;
          len += 2 + (size_t)r;
          to_client++;
        }
        size_t done = 0;
        while (done < len) {
          ssize_t w = write(conn, out + done, len - done);
          if (w > 0) done += (size_t)w;
          else if (w < 0 && errno == EINTR) continue;
          else break; /* EAGAIN: the rest is dropped (the relay keeps no backlog) */
        }
        if (done < len) drop_out++;
      } else {
        ssize_t r = read(conn, in + in_len, sizeof in - in_len);
        if (r == 0) stopping = 1;
        if (r <= 0) continue;
        in_len += (size_t)r;
        size_t at = 0;
        while (in_len - at >= 2) {
          size_t l = (size_t)in[at] << 8 | in[at + 1];
          if (in_len - at < 2 + l) break;
          uint8_t *p = in + at + 2;
          at += 2 + l;
          if (l == 0) continue; /* keepalive */
          if (!is_ipv6(p, l) || !in_prefix(p + 8)) {
            drop_in++;
            continue;
          }
          ssize_t w;
          do w = write(tun, p, l);
          while (w < 0 && errno == EINTR);
          if (w < 0) drop_in++;
          else to_tun++;
        }
        memmove(in, in + at, in_len - at);
        in_len -= at;
      }
    }
  }
  printf("{\"toClient\":%llu,\"toTun\":%llu,\"dropToClient\":%llu,\"dropToTun\":%llu,\"wakeups\":%llu}\n", to_client, to_tun, drop_out,
         drop_in, wakeups);
  return 0;
}

int main(int argc, char **argv) {
  const char *tun_name = NULL;
  int mtu = 1280, raw41 = 0, have_udp = 0, have_client = 0, tcp = 0;
  struct sockaddr_in local, client;
  memset(&local, 0, sizeof local);
  memset(&client, 0, sizeof client);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--raw41")) { raw41 = 1; continue; }
    if (!v) usage();
    if (!strcmp(a, "--tun")) tun_name = v;
    else if (!strcmp(a, "--mtu")) mtu = atoi(v);
    else if (!strcmp(a, "--prefix")) parse_prefix(v);
    else if (!strcmp(a, "--udp")) { parse_v4(v, 1, &local); have_udp = 1; }
    else if (!strcmp(a, "--tcp")) { parse_v4(v, 1, &local); tcp = 1; }
    else if (!strcmp(a, "--client")) { parse_v4(v, 0, &client); have_client = 1; }
    else usage();
    i++;
  }
  if (!tun_name || !have_client || raw41 + have_udp + tcp != 1 || (have_udp && client.sin_port == 0)) usage();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  char actual[IFNAMSIZ];
  int tun = tun_open(tun_name, mtu, actual);
  if (tcp) {
    printf("ready %s\n", actual);
    fflush(stdout);
    return relay_tcp(tun, tcp_accept_client(&local));
  }
  int sock = sock_open(raw41, &local);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = tun};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, tun, &ev) < 0) die("epoll_ctl");
  ev.data.fd = sock;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev) < 0) die("epoll_ctl");

  /* Separate buffers per direction; the send headers all name the client, set once. */
  static uint8_t tbuf[BATCH][SLOT], sbuf[BATCH][SLOT];
  static struct mmsghdr tmsg[BATCH], smsg[BATCH];
  static struct iovec tiov[BATCH], siov[BATCH];
  static struct sockaddr_in snames[BATCH];
  struct sockaddr_in dest = client;
  if (raw41) dest.sin_port = 0;
  for (int i = 0; i < BATCH; i++) {
    tiov[i].iov_base = tbuf[i];
    tmsg[i].msg_hdr.msg_name = &dest;
    tmsg[i].msg_hdr.msg_namelen = sizeof dest;
    tmsg[i].msg_hdr.msg_iov = &tiov[i];
    tmsg[i].msg_hdr.msg_iovlen = 1;
    siov[i].iov_base = sbuf[i];
    siov[i].iov_len = SLOT;
    smsg[i].msg_hdr.msg_name = &snames[i];
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }

  /* Counters: to the client / to the TUN, dropped (filtered, queue full, refused) and wakeups. */
  unsigned long long out = 0, in = 0, drop_out = 0, drop_in = 0, wakeups = 0;
  printf("ready %s\n", actual);
  fflush(stdout);

  while (!stopping) {
    struct epoll_event evs[2];
    int n = epoll_wait(ep, evs, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    wakeups++;
    for (int e = 0; e < n; e++) {
      if (evs[e].data.fd == tun) {
        int k = 0;
        while (k < BATCH) {
          ssize_t r = read(tun, tbuf[k], SLOT);
          if (r < 0) {
            if (errno == EINTR) continue;
            break; /* EAGAIN: the queue is empty */
          }
          if (!is_ipv6(tbuf[k], (size_t)r) || !in_prefix(tbuf[k] + 24)) {
            drop_out++;
            continue;
          }
          tiov[k].iov_len = (size_t)r;
          k++;
        }
        for (int done = 0; done < k;) {
          int r = sendmmsg(sock, tmsg + done, (unsigned)(k - done), 0);
          if (r > 0) {
            done += r;
            out += (unsigned)r;
          } else if (errno == EINTR) {
            continue;
          } else if (errno == EAGAIN || errno == ENOBUFS) {
            drop_out += (unsigned)(k - done);
            break;
          } else {
            drop_out++;
            done++;
          }
        }
      } else {
        for (int i = 0; i < BATCH; i++) smsg[i].msg_hdr.msg_namelen = sizeof snames[i];
        int r = recvmmsg(sock, smsg, BATCH, 0, NULL);
        if (r < 0) {
          if (errno == EINTR || errno == EAGAIN) continue;
          die("recvmmsg");
        }
        for (int i = 0; i < r; i++) {
          uint8_t *p = sbuf[i];
          size_t len = smsg[i].msg_len;
          if (snames[i].sin_addr.s_addr != client.sin_addr.s_addr) {
            drop_in++;
            continue;
          }
          if (raw41) { /* the raw socket hands over the IPv4 header */
            size_t ihl = len >= 20 ? (size_t)(p[0] & 0x0f) * 4 : 0;
            if (ihl < 20 || ihl > len) {
              drop_in++;
              continue;
            }
            p += ihl;
            len -= ihl;
          } else if (len == 0) {
            continue; /* keepalive */
          }
          if (!is_ipv6(p, len) || !in_prefix(p + 8)) {
            drop_in++;
            continue;
          }
          ssize_t w;
          do w = write(tun, p, len);
          while (w < 0 && errno == EINTR);
          if (w < 0) drop_in++;
          else in++;
        }
      }
    }
  }
  printf("{\"toClient\":%llu,\"toTun\":%llu,\"dropToClient\":%llu,\"dropToTun\":%llu,\"wakeups\":%llu}\n", out, in, drop_out,
         drop_in, wakeups);
  return 0;
}
