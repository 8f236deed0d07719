/* Load generator, sink and pinger for bench/dataplane.ts, in C so that the load side is never
 * what limits the figures (one sendmmsg/recvmmsg of up to 64 packets per system call, no
 * allocation, no per-packet checksum).
 *
 *   blast tx udp   --src A [--sport P] --dst A --port P --inner-src V6 --inner-dst V6 --size N --rate PPS --seconds S --flow F
 *   blast tx raw41 --dst A --inner-src V6 --inner-dst V6 --size N --rate PPS --seconds S --flow F
 *   blast tx udp6  --dst V6 --port P --size N --rate PPS --seconds S --flow F
 *   blast rx udp   --src A --sport P --warmup W --window S --flow F
 *   blast rx raw41 --warmup W --window S --flow F
 *   blast rx udp6  --port P --warmup W --window S --flow F
 *   blast ping udp   --src A --sport P --dst A --port P --inner-src V6 --inner-dst V6 --count N --interval-ms I
 *   blast ping raw41 --dst A --inner-src V6 --inner-dst V6 --count N --interval-ms I
 *   blast ping bare  --dst V6 --count N --interval-ms I
 *
 * --sessions N (tx udp, raw41 and udp6): spread the packets over N tunnel sessions, round robin.
 * Session s (0..N-1) is the one whose server port is --port + s, whose client address is --src + s
 * (raw41) and whose /48 is the inner address's /48 + s (the 16 bits after the first 32 plus s): udp
 * sends to that port, raw41 from that address, both with an inner source in that /48; udp6 sends to
 * the address --dst with s added there. The daemon hands out ports and prefixes in that order;
 * bench/dataplane.ts checks that it did.
 *
 * Transports: "udp" = IPv4/UDP whose payload is a whole IPv6 packet (the DTCP UDP tunnel);
 * "raw41" = IPv6 inside IPv4 protocol 41 (a raw socket; the kernel adds and hands over the outer
 * header); "udp6" = plain IPv6 UDP, the external host's side; "bare" = ICMPv6 echo without any
 * tunnel (the kernel-forwarded reference path of the ping).
 *
 * Packets: --size is the size of the IPv6 packet (40 B header + 8 B UDP + payload), whatever the
 * outer encapsulation. Inner UDP goes from port 9001 to --inner-port (default 9000). The payload
 * starts with a 32-bit sequence number, its complement, the magic "DTCB" and the --flow number
 * (rx counts only its own flow, never stragglers of an earlier one): a sequence word and
 * its complement always add up to 0xffff in ones' complement, so the UDP checksum of a packet
 * never changes with its sequence number and is computed once per buffer.
 *
 * tx: --rate 0 sends flat out (blocking sockets: the kernel paces us); otherwise batches of
 *     rate x 200 us (1..64 packets) at absolute deadlines. Falling more than 20 ms behind
 *     skips ahead rather than bursting (counted as "behind"). Prints one JSON line at the end.
 * rx: prints "ready" once bound, counts valid packets until SIGTERM/SIGINT, then drains the queue
 *     and prints one JSON line: all packets, and those whose kernel receive timestamp falls in the
 *     window [first + W, first + W + S) (the rate at saturation is windowed / S), so that a sink
 *     scheduled late still measures when the forwarder delivered, not when it read.
 * ping: ICMPv6 echo requests one at a time (each waits for its reply, 1 s at most), prints
 *     the round-trip times in microseconds. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048
#define MAGIC 0x44544342u /* "DTCB" */
#define INNER_SPORT 9001

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void die(const char *what) {
  fprintf(stderr, "blast: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(const char *why) {
  fprintf(stderr, "blast: %s (see the comment at the top of blast.c)\n", why);
  exit(2);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t ns) {
  struct timespec t = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR && !stopping) {
  }
}

/* ---- options ---- */

static struct {
  const char *src, *dst, *inner_src, *inner_dst;
  int sport, port, inner_port, size, count, interval_ms, sessions;
  uint32_t flow;
  double rate, seconds, warmup, window;
} o = {.inner_port = 9000, .size = 100, .count = 100, .interval_ms = 10, .seconds = 1, .window = 1, .sessions = 1};

static void parse_options(int argc, char **argv) {
  for (int i = 0; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage("an option lacks its value");
    if (!strcmp(a, "--src")) o.src = v;
    else if (!strcmp(a, "--dst")) o.dst = v;
    else if (!strcmp(a, "--inner-src")) o.inner_src = v;
    else if (!strcmp(a, "--inner-dst")) o.inner_dst = v;
    else if (!strcmp(a, "--sport")) o.sport = atoi(v);
    else if (!strcmp(a, "--port")) o.port = atoi(v);
    else if (!strcmp(a, "--inner-port")) o.inner_port = atoi(v);
    else if (!strcmp(a, "--size")) o.size = atoi(v);
    else if (!strcmp(a, "--count")) o.count = atoi(v);
    else if (!strcmp(a, "--interval-ms")) o.interval_ms = atoi(v);
    else if (!strcmp(a, "--rate")) o.rate = atof(v);
    else if (!strcmp(a, "--seconds")) o.seconds = atof(v);
    else if (!strcmp(a, "--warmup")) o.warmup = atof(v);
    else if (!strcmp(a, "--window")) o.window = atof(v);
    else if (!strcmp(a, "--flow")) o.flow = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--sessions")) o.sessions = atoi(v);
    else usage("unknown option");
  }
}

static struct sockaddr_in v4(const char *addr, int port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons((uint16_t)port);
  if (!addr || inet_pton(AF_INET, addr, &s.sin_addr) != 1) usage("bad or missing IPv4 address");
  return s;
}

static struct sockaddr_in6 v6(const char *addr, int port) {
  struct sockaddr_in6 s;
  memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons((uint16_t)port);
  if (addr && inet_pton(AF_INET6, addr, &s.sin6_addr) != 1) usage("bad IPv6 address");
  return s;
}

static void set_buffers(int fd, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) die("SO_RCVBUFFORCE");
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0) die("SO_SNDBUFFORCE");
}

/* The socket of a transport; udp binds --src:--sport (when given), every kind connects to the
 * peer when dst is non-NULL, so sends need no address and receives come from the peer only. */
static int open_socket(const char *kind, int icmp_bare) {
  int fd;
  if (!strcmp(kind, "udp")) {
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (o.src) {
      struct sockaddr_in local = v4(o.src, o.sport);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
    }
    if (o.dst && o.sessions == 1) {
      struct sockaddr_in peer = v4(o.dst, o.port);
      if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) die("connect");
    }
  } else if (!strcmp(kind, "raw41")) {
    fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IPV6);
    if (fd < 0) die("socket(raw41)");
    if (o.dst && o.sessions == 1 && !o.src) { /* with --src, each send names its source */
      struct sockaddr_in peer = v4(o.dst, 0);
      if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) die("connect");
    }
  } else if (!strcmp(kind, "udp6") || icmp_bare) {
    fd = icmp_bare ? socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6) : socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket(inet6)");
    if (!icmp_bare && !o.dst) {
      struct sockaddr_in6 local = v6(NULL, o.port);
      if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
    }
    if (o.dst && o.sessions == 1) {
      struct sockaddr_in6 peer = v6(o.dst, icmp_bare ? 0 : o.port);
      if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0) die("connect");
    }
  } else {
    usage("unknown transport");
  }
  set_buffers(fd, 256 * 1024 * 1024); /* room for a sink that is scheduled late */
  return fd;
}

/* ---- packets ---- */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += (uint32_t)p[i] << 8 | p[i + 1];
  if (n & 1) acc += (uint32_t)p[n - 1] << 8;
  return acc;
}

static uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)~acc;
}

/* The checksum of an upper-layer packet in IPv6 (RFC 8200 8.1 pseudo-header). */
static uint16_t l4_checksum(const uint8_t *ip6, const uint8_t *l4, size_t len, uint8_t proto) {
  uint32_t acc = sum16(ip6 + 8, 32, 0);
  acc += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + proto;
  uint16_t c = fold(sum16(l4, len, acc));
  return c == 0 && proto == 17 ? 0xffff : c;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_seq(uint8_t *payload, uint32_t seq) {
  put32(payload, seq);
  put32(payload + 4, ~seq);
}

/* The IPv6 header for a payload of plen bytes; returns the header's length (40). */
static size_t ip6_header(uint8_t *p, size_t plen, uint8_t next) {
  struct in6_addr s, d;
  if (!o.inner_src || !o.inner_dst || inet_pton(AF_INET6, o.inner_src, &s) != 1 || inet_pton(AF_INET6, o.inner_dst, &d) != 1)
    usage("--inner-src and --inner-dst must be IPv6 addresses");
  memset(p, 0, 40);
  p[0] = 0x60;
  p[4] = (uint8_t)(plen >> 8);
  p[5] = (uint8_t)plen;
  p[6] = next;
  p[7] = 64;
  memcpy(p + 8, &s, 16);
  memcpy(p + 24, &d, 16);
  return 40;
}

/* An IPv6/UDP packet of `size` bytes with sequence number 0 and its (seq-independent) checksum. */
static void build_udp6(uint8_t *p, size_t size) {
  size_t plen = size - 40;
  memset(p, 0, size);
  ip6_header(p, plen, 17);
  uint8_t *u = p + 40;
  u[0] = INNER_SPORT >> 8;
  u[1] = INNER_SPORT & 0xff;
  u[2] = (uint8_t)(o.inner_port >> 8);
  u[3] = (uint8_t)o.inner_port;
  u[4] = (uint8_t)(plen >> 8);
  u[5] = (uint8_t)plen;
  put_seq(u + 8, 0);
  put32(u + 16, MAGIC);
  put32(u + 20, o.flow);
  uint16_t c = l4_checksum(p, u, plen, 17);
  u[6] = (uint8_t)(c >> 8);
  u[7] = (uint8_t)c;
}

/* The sequence number of a received payload of this flow, or -1. */
static int64_t payload_seq(const uint8_t *pl, size_t len) {
  if (len < 16 || get32(pl + 8) != MAGIC || get32(pl + 12) != o.flow || get32(pl + 4) != ~get32(pl)) return -1;
  return get32(pl);
}

/* The sequence number inside a tunnelled IPv6/UDP packet, or -1. */
static int64_t packet_seq(const uint8_t *p, size_t len) {
  if (len < 64 || (p[0] >> 4) != 6 || p[6] != 17) return -1;
  return payload_seq(p + 48, len - 48);
}

/* ---- tx ---- */

/* Adds s to the 16 bits after the first 32 of an IPv6 address: the s-th /48 after it. */
static void next_48(uint8_t *addr, int s) {
  unsigned w = ((unsigned)addr[4] << 8 | addr[5]) + (unsigned)s;
  addr[4] = (uint8_t)(w >> 8);
  addr[5] = (uint8_t)w;
}

static int tx(const char *kind) {
  int is6 = !strcmp(kind, "udp6");
  if (o.size < 64 || o.size > SLOT - 64) usage("--size must be 64..1984");
  if (!o.dst) usage("--dst is required");
  if (o.sessions < 1 || o.sessions > 65535) usage("--sessions must be 1..65535");
  int fd = open_socket(kind, 0);
  static uint8_t buf[BATCH][SLOT];
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  size_t len = is6 ? (size_t)o.size - 48 : (size_t)o.size; /* udp6: the kernel adds IPv6 + UDP */
  size_t seq_at = is6 ? 0 : 48;
  for (int i = 0; i < BATCH; i++) {
    if (is6) {
      memset(buf[i], 0, len);
      put_seq(buf[i], 0);
      put32(buf[i] + 8, MAGIC);
      put32(buf[i] + 12, o.flow);
    } else {
      build_udp6(buf[i], len);
    }
    iov[i].iov_base = buf[i];
    iov[i].iov_len = len;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  /* Several sessions: a packet (udp: its inner source and checksum) and a destination per session. */
  int raw41 = !strcmp(kind, "raw41");
  uint8_t *per = NULL;
  struct sockaddr_in *names4 = NULL;
  struct sockaddr_in6 *names6 = NULL;
  /* raw41 from --src + s: IP_PKTINFO per session. */
  typedef union {
    char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } source_t;
  source_t *sources = NULL;
  unsigned cursor = 0;
  if (o.sessions > 1 || (raw41 && o.src)) {
    per = malloc((size_t)o.sessions * SLOT);
    names4 = calloc((size_t)o.sessions, sizeof *names4);
    names6 = calloc((size_t)o.sessions, sizeof *names6);
    sources = calloc((size_t)o.sessions, sizeof *sources);
    if (!per || !names4 || !names6 || !sources) die("malloc");
    if (raw41 && !o.src) usage("tx raw41 --sessions needs --src (the first session's client address)");
    for (int s = 0; s < o.sessions; s++) {
      uint8_t *p = per + (size_t)s * SLOT;
      memcpy(p, buf[0], len);
      if (is6) {
        names6[s] = v6(o.dst, o.port);
        next_48(names6[s].sin6_addr.s6_addr, s);
      } else {
        names4[s] = v4(o.dst, raw41 ? 0 : o.port + s);
        if (raw41) {
          struct in_pktinfo info;
          memset(&info, 0, sizeof info);
          info.ipi_spec_dst.s_addr = htonl(ntohl(v4(o.src, 0).sin_addr.s_addr) + (uint32_t)s);
          struct cmsghdr *c = &sources[s].align;
          c->cmsg_level = IPPROTO_IP;
          c->cmsg_type = IP_PKTINFO;
          c->cmsg_len = CMSG_LEN(sizeof info);
          memcpy(CMSG_DATA(c), &info, sizeof info);
        }
        next_48(p + 8, s);
        p[46] = p[47] = 0;
        uint16_t c = l4_checksum(p, p + 40, len - 40, 17);
        p[46] = (uint8_t)(c >> 8);
        p[47] = (uint8_t)c;
      }
    }
  }
  unsigned batch = BATCH;
  double interval = 0;
  if (o.rate > 0) {
    batch = (unsigned)ceil(o.rate * 200e-6);
    if (batch < 1) batch = 1;
    if (batch > BATCH) batch = BATCH;
    interval = batch * 1e9 / o.rate;
  }
  uint64_t start = now_ns(), end = start + (uint64_t)(o.seconds * 1e9);
  double next = (double)start;
  uint32_t seq = 0;
  unsigned long long sent = 0, errors = 0, behind = 0;
  while (!stopping) {
    uint64_t t = now_ns();
    if (t >= end) break;
    if (o.rate > 0) {
      if ((double)t < next) sleep_until((uint64_t)next);
      else if ((double)t > next + 20e6) {
        next = (double)t;
        behind++;
      }
      next += interval;
    }
    if (per) {
      for (unsigned i = 0; i < batch; i++) {
        unsigned s = (cursor + i) % (unsigned)o.sessions;
        iov[i].iov_base = per + (size_t)s * SLOT;
        msgs[i].msg_hdr.msg_name = is6 ? (void *)&names6[s] : (void *)&names4[s];
        msgs[i].msg_hdr.msg_namelen = is6 ? sizeof names6[s] : sizeof names4[s];
        msgs[i].msg_hdr.msg_control = raw41 ? sources[s].buf : NULL;
        msgs[i].msg_hdr.msg_controllen = raw41 ? sizeof sources[s].buf : 0;
      }
      cursor += batch;
    }
    for (unsigned i = 0; i < batch; i++) put_seq((uint8_t *)iov[i].iov_base + seq_at, seq + i);
    int r = sendmmsg(fd, msgs, batch, 0);
    if (r > 0) {
      seq += (uint32_t)r;
      sent += (unsigned)r;
    } else if (errno != EINTR) {
      errors++; /* e.g. ENOBUFS, or ECONNREFUSED after an ICMP error on the connected socket */
    }
  }
  double seconds = (double)(now_ns() - start) / 1e9;
  printf("{\"sent\":%llu,\"seconds\":%.4f,\"errors\":%llu,\"behind\":%llu,\"batch\":%u}\n", sent, seconds, errors, behind, batch);
  return 0;
}

/* ---- rx ---- */

static uint64_t ts_ns(const struct timespec *t) {
  return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

static int rx(const char *kind) {
  int is6 = !strcmp(kind, "udp6"), raw = !strcmp(kind, "raw41");
  if (!strcmp(kind, "udp") && (!o.src || !o.sport)) usage("rx udp needs --src and --sport");
  if (is6 && !o.port) usage("rx udp6 needs --port");
  o.dst = NULL; /* receive from anyone */
  int fd = open_socket(kind, 0);
  /* Packets are counted by the kernel's receive timestamp, not by when this process gets to read
   * them: a sink that is scheduled late still sees the rate at which the forwarder delivered. */
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) die("SO_TIMESTAMPNS");
  static uint8_t buf[BATCH][SLOT];
  static uint8_t ctl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = buf[i];
    iov[i].iov_len = SLOT;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  printf("ready\n");
  fflush(stdout);
  unsigned long long received = 0, windowed = 0, foreign = 0, reordered = 0, unstamped = 0;
  int64_t max_seq = -1;
  uint64_t first = 0, last = 0, w0 = 0, w1 = 0;
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int draining = 0;
  for (;;) {
    if (stopping && !draining) draining = 1; /* after the signal: read what is queued, then stop */
    if (!draining && poll(&pfd, 1, 100) <= 0) continue;
    for (int i = 0; i < BATCH; i++) {
      msgs[i].msg_hdr.msg_control = ctl[i];
      msgs[i].msg_hdr.msg_controllen = sizeof ctl[i];
    }
    int r = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (r <= 0) {
      if (draining) break;
      continue;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    for (int i = 0; i < r; i++) {
      const uint8_t *p = buf[i];
      size_t len = msgs[i].msg_len;
      int64_t seq;
      if (is6) {
        seq = payload_seq(p, len);
      } else {
        if (raw) {
          size_t ihl = len >= 20 ? (size_t)(p[0] & 0x0f) * 4 : 0;
          if (ihl < 20 || ihl > len) {
            foreign++;
            continue;
          }
          p += ihl;
          len -= ihl;
        }
        seq = packet_seq(p, len);
      }
      if (seq < 0) {
        foreign++;
        continue;
      }
      if (seq < max_seq) reordered++;
      else max_seq = seq;
      uint64_t t = 0;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) t = ts_ns((const struct timespec *)CMSG_DATA(c));
      if (t == 0) {
        t = ts_ns(&wall);
        unstamped++;
      }
      if (first == 0) {
        first = t;
        w0 = first + (uint64_t)(o.warmup * 1e9);
        w1 = w0 + (uint64_t)(o.window * 1e9);
      }
      if (t > last) last = t;
      received++;
      if (t >= w0 && t < w1) windowed++;
    }
  }
  printf("{\"received\":%llu,\"windowed\":%llu,\"window\":%.3f,\"maxSeq\":%lld,\"reordered\":%llu,\"foreign\":%llu,\"unstamped\":%llu,"
         "\"span\":%.4f}\n",
         received, windowed, o.window, (long long)max_seq, reordered, foreign, unstamped, first ? (double)(last - first) / 1e9 : 0.0);
  return 0;
}

/* ---- ping ---- */

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int ping(const char *kind) {
  int bare = !strcmp(kind, "bare"), raw = !strcmp(kind, "raw41");
  if (!o.dst) usage("--dst is required");
  int fd = open_socket(kind, bare);
  uint16_t id = (uint16_t)getpid();
  uint8_t pkt[SLOT], in[SLOT];
  const size_t data = 56; /* as ping(8) */
  uint32_t *rtt = calloc((size_t)o.count, sizeof *rtt);
  int received = 0;
  for (int n = 0; n < o.count && !stopping; n++) {
    size_t len;
    uint8_t *icmp;
    if (bare) { /* the kernel adds the IPv6 header and the ICMPv6 checksum */
      icmp = pkt;
      len = 8 + data;
    } else {
      ip6_header(pkt, 8 + data, 58);
      icmp = pkt + 40;
      len = 40 + 8 + data;
    }
    memset(icmp, 0, 8 + data);
    icmp[0] = 128; /* echo request */
    icmp[4] = (uint8_t)(id >> 8);
    icmp[5] = (uint8_t)id;
    icmp[6] = (uint8_t)(n >> 8);
    icmp[7] = (uint8_t)n;
    for (size_t i = 0; i < data; i++) icmp[8 + i] = (uint8_t)i;
    if (!bare) {
      uint16_t c = l4_checksum(pkt, icmp, 8 + data, 58);
      icmp[2] = (uint8_t)(c >> 8);
      icmp[3] = (uint8_t)c;
    }
    uint64_t t0 = now_ns(), deadline = t0 + 1000000000u;
    if (send(fd, pkt, len, 0) < 0) die("send");
    for (;;) {
      uint64_t t = now_ns();
      if (t >= deadline) break;
      struct pollfd pfd = {.fd = fd, .events = POLLIN};
      if (poll(&pfd, 1, (int)((deadline - t) / 1000000u) + 1) <= 0) continue;
      ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
      uint64_t t1 = now_ns();
      if (r <= 0) continue;
      const uint8_t *p = in;
      size_t plen = (size_t)r;
      if (raw) {
        size_t ihl = (size_t)(p[0] & 0x0f) * 4;
        if (ihl < 20 || ihl > plen) continue;
        p += ihl;
        plen -= ihl;
      }
      if (!bare) {
        if (plen < 48 || (p[0] >> 4) != 6 || p[6] != 58) continue;
        p += 40;
        plen -= 40;
      }
      if (plen < 8 || p[0] != 129 || (p[4] << 8 | p[5]) != id || (p[6] << 8 | p[7]) != (n & 0xffff)) continue;
      rtt[received++] = (uint32_t)((t1 - t0) / 1000u);
      break;
    }
    sleep_until(t0 + (uint64_t)o.interval_ms * 1000000u);
  }
  printf("{\"sent\":%d,\"received\":%d,\"rttUs\":[", o.count, received);
  qsort(rtt, (size_t)received, sizeof *rtt, cmp_u32);
  for (int i = 0; i < received; i++) printf("%s%u", i ? "," : "", rtt[i]);
  printf("]}\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) usage("usage: blast tx|rx|ping <transport> [options]");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us: paced batches leave on time */
  parse_options(argc - 3, argv + 3);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(argv[1], "tx")) return tx(argv[2]);
  if (!strcmp(argv[1], "rx")) return rx(argv[2]);
  if (!strcmp(argv[1], "ping")) return ping(argv[2]);
  usage("the first word is tx, rx or ping");
  return 2;
}
