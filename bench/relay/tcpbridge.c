/* The client end of IPv6 over TCP for bench/dataplane.ts: holds a TCP session's data connection
 * (greeting, `attach <token>`, `+OK attached`) for the whole run and bridges it to UDP on the
 * client's loopback, so that blast's "udp" generator, sink and pinger drive it unchanged: a
 * datagram to 127.0.0.1:IN (its payload an IPv6 packet) goes out as one frame (2-byte length, then
 * the packet), and each frame that comes back is sent as a datagram to 127.0.0.1:OUT.
 *
 *   tcpbridge --connect A:PORT --token T --in PORT --out PORT
 *
 * Batches both ways (recvmmsg 64 -> one write; 64 KB read -> one sendmmsg of up to 64), and while
 * the connection does not take what is pending, datagrams wait in their socket (and beyond its
 * buffer are dropped there, as a kernel queue would). Prints "ready" once attached; on
 * SIGTERM/SIGINT one JSON line of counters. Runs on the load side's CPU. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048
#define SOCK_BUF (4 * 1024 * 1024)

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void die(const char *what) {
  fprintf(stderr, "tcpbridge: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr, "usage: tcpbridge --connect A:PORT --token T --in PORT --out PORT\n");
  exit(2);
}

static void read_line(int fd, char *line, size_t size) {
  size_t n = 0;
  char c;
  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r != 1) die("read");
    if (c == '\n') break;
    if (n + 1 < size && c != '\r') line[n++] = c;
  }
  line[n] = 0;
}

int main(int argc, char **argv) {
  const char *connect_to = NULL, *token = NULL;
  int in_port = 0, out_port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--connect")) connect_to = argv[i + 1];
    else if (!strcmp(argv[i], "--token")) token = argv[i + 1];
    else if (!strcmp(argv[i], "--in")) in_port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--out")) out_port = atoi(argv[i + 1]);
    else usage();
  }
  if (!connect_to || !token || !in_port || !out_port) usage();
  char host[64];
  const char *colon = strchr(connect_to, ':');
  if (!colon || (size_t)(colon - connect_to) >= sizeof host) usage();
  memcpy(host, connect_to, (size_t)(colon - connect_to));
  host[colon - connect_to] = 0;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &server.sin_addr) != 1) usage();
  int conn = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (conn < 0 || connect(conn, (struct sockaddr *)&server, sizeof server) < 0) die("connect");
  char line[256];
  read_line(conn, line, sizeof line);
  char attach[128];
  int n = snprintf(attach, sizeof attach, "attach %s\r\n", token);
  if (write(conn, attach, (size_t)n) != n) die("write");
  read_line(conn, line, sizeof line);
  if (strcmp(line, "+OK attached") != 0) {
    fprintf(stderr, "tcpbridge: refused: %s\n", line);
    return 1;
  }
  int one = 1;
  setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK);

  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int v = SOCK_BUF;
  setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v);
  setsockopt(udp, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v);
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)in_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(udp, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
  struct sockaddr_in sink = {.sin_family = AF_INET, .sin_port = htons((uint16_t)out_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

  static uint8_t rx[BATCH][SLOT], out[BATCH * (SLOT + 2)], in[65536 + 2 + SLOT];
  static struct mmsghdr rmsg[BATCH], smsg[BATCH];
  static struct iovec riov[BATCH], siov[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i] = (struct iovec){.iov_base = rx[i], .iov_len = SLOT};
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
    smsg[i].msg_hdr.msg_name = &sink;
    smsg[i].msg_hdr.msg_namelen = sizeof sink;
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
  }
  size_t out_len = 0, out_done = 0, in_len = 0;
  unsigned long long up = 0, down = 0;
  printf("ready\n");
  fflush(stdout);

  while (!stopping) {
    /* Datagrams are taken only once what was framed before has gone out. */
    struct pollfd fds[2] = {{.fd = conn, .events = POLLIN | (out_done < out_len ? POLLOUT : 0)}, {.fd = udp, .events = out_done < out_len ? 0 : POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents & POLLIN) {
      int r = recvmmsg(udp, rmsg, BATCH, 0, NULL);
      out_len = out_done = 0;
      for (int i = 0; i < r; i++) {
        size_t l = rmsg[i].msg_len;
        out[out_len] = (uint8_t)(l >> 8);
        out[out_len + 1] = (uint8_t)l;
        memcpy(out + out_len + 2, rx[i], l);
        out_len += 2 + l;
        up++;
      }
    }
    if (out_done < out_len) {
      ssize_t w = write(conn, out + out_done, out_len - out_done);
      if (w > 0) out_done += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) die("write");
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(conn, in + in_len, sizeof in - in_len);
      if (r == 0) break;
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        die("read");
      }
      in_len += (size_t)r;
      size_t at = 0;
      for (int more = 1; more;) {
        int k = 0;
        while (in_len - at >= 2 && k < BATCH) {
          size_t l = (size_t)in[at] << 8 | in[at + 1];
          if (in_len - at < 2 + l) break;
          siov[k] = (struct iovec){.iov_base = in + at + 2, .iov_len = l};
          k++;
          at += 2 + l;
        }
        more = k == BATCH;
        for (int done = 0; done < k;) {
          int s = sendmmsg(udp, smsg + done, (unsigned)(k - done), 0);
          if (s <= 0) break;
          done += s;
          down += (unsigned)s;
        }
      }
      memmove(in, in + at, in_len - at);
      in_len -= at;
    }
  }
  printf("{\"up\":%llu,\"down\":%llu}\n", up, down);
  return 0;
}
