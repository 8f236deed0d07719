/* Packet I/O for the DTCP userspace data plane: one TUN device, UDP/IPv4 sockets and a raw
 * IPv4 socket for protocol 41, each drained in batches. */
#ifndef DTCP_DATAPLANE_H
#define DTCP_DATAPLANE_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/virtio_net.h>

/* The packet path's system calls without glibc's cancellation-point wrappers: in a multithreaded
 * process (node) each wrapped call toggles asynchronous cancellation around the syscall, two
 * atomic operations per packet that measurably cost on the TUN write path. Nothing here is ever
 * cancelled. Same results and errno as the wrappers. */
static inline ssize_t dp_read(int fd, void *buf, size_t len) {
  return syscall(SYS_read, fd, buf, len);
}
static inline ssize_t dp_write(int fd, const void *buf, size_t len) {
  return syscall(SYS_write, fd, buf, len);
}
static inline ssize_t dp_readv(int fd, const struct iovec *iov, int n) {
  return syscall(SYS_readv, fd, iov, n);
}
static inline ssize_t dp_writev(int fd, const struct iovec *iov, int n) {
  return syscall(SYS_writev, fd, iov, n);
}
static inline int dp_recvmmsg(int fd, struct mmsghdr *v, unsigned n) {
  return (int)syscall(SYS_recvmmsg, fd, v, n, 0, NULL);
}
static inline int dp_sendmmsg(int fd, struct mmsghdr *v, unsigned n) {
  return (int)syscall(SYS_sendmmsg, fd, v, n, 0);
}
struct epoll_event;
static inline int dp_epoll_wait(int epfd, struct epoll_event *v, int n, int timeout_ms) {
  return (int)syscall(SYS_epoll_pwait, epfd, v, n, timeout_ms, NULL, 8);
}

/* Copies the data of the received control message of that level and type into data (len bytes);
 * false when the message has none that long. */
static inline bool cmsg_get(struct msghdr *h, int level, int type, void *data, size_t len) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == level && c->cmsg_type == type && c->cmsg_len >= CMSG_LEN(len)) {
      memcpy(data, CMSG_DATA(c), len);
      return true;
    }
  }
  return false;
}

/* Writes one control message (level, type, len bytes of data) at the start of buf, whose space
 * bytes are zeroed first; returns space, for msg_controllen. */
static inline size_t cmsg_put(void *buf, size_t space, int level, int type, const void *data, size_t len) {
  memset(buf, 0, space);
  struct cmsghdr *c = buf;
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(len);
  memcpy(CMSG_DATA(c), data, len);
  return space;
}

#define BATCH_MAX 64
/* A receive slot holds the largest legitimate packet of its environment: a TUN packet (≤ MTU), a UDP
 * payload (one inner packet) or a protocol-41 packet with its IPv4 header (≤ 60 bytes). Servers run
 * MTU ≤ 1480, so 2 KB; a TUN with a larger MTU (dtcpc allows up to 65535) widens the slots of its
 * environment to SLOT_FOR_MTU. A packet that does not fit is dropped and counted, never cut. */
#define SLOT_DEFAULT 2048
#define SLOT_FOR_MTU(mtu) ((((mtu) + 64 + 63) / 64) * 64) /* > mtu + 60: fits IPv4 options too */
/* Stride = slot + 64: not a power of two, so that the headers of one batch do not all map to the
 * same cache sets. */
#define SLOT_PAD 64
#define SOCK_BUF_BYTES (4 * 1024 * 1024)

/* One received batch plus scratch for the mmsg calls. Shared by all channels of a Node
 * environment: a batch is only valid while its callback runs, and sends never touch the
 * delivered arrays. Receive and send have separate headers, so that a send from inside a batch
 * callback leaves the prebuilt receive headers alone. */
typedef struct {
  uint8_t *buf;                 /* BATCH_MAX slots of stride bytes */
  uint32_t slot, stride;
  uint32_t *off, *len, *addr;   /* per packet; addr is the IPv4 source in host order */
  uint16_t *port;               /* per packet UDP source port */
  uint32_t *dst;                /* per packet original destination address (host order) and port, */
  uint16_t *dport;              /* from a shared UDP socket only (udp_shared_recv_batch) */
  uint32_t taken;               /* packets the last read took from the kernel, delivered or not */
  uint32_t oversized;           /* of those, dropped for not fitting a slot */
  /* Receive headers point at the slots: built by batch_layout, not per read. */
  struct mmsghdr rx[BATCH_MAX];
  struct iovec rx_iov[BATCH_MAX];
  struct sockaddr_in rx_names[BATCH_MAX];
  /* IP_ORIGDSTADDR of each datagram of a shared UDP socket; the headers point here for its reads only. */
  union {
    char buf[CMSG_SPACE(sizeof(struct sockaddr_in))];
    struct cmsghdr align;
  } rx_dst[BATCH_MAX];
  /* Send headers: only address, port and iovec change per packet. */
  struct mmsghdr tx[BATCH_MAX];
  struct iovec tx_iov[BATCH_MAX];
  struct sockaddr_in tx_names[BATCH_MAX];
  /* UDP_SEGMENT of each message that carries several datagrams (udp_send_segmented). */
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } tx_segment[BATCH_MAX];
  uint32_t tx_packets[BATCH_MAX]; /* datagrams per message */
  /* IP_PKTINFO naming the source address of one send call's packets, shared by its headers. */
  union {
    char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } tx_source;
} batch_t;

typedef struct tun_offload tun_offload_t;
typedef struct udp_gro udp_gro_t;

/* Sets a socket buffer (force_opt: SO_RCVBUFFORCE or SO_SNDBUFFORCE, opt the plain one) to
 * SOCK_BUF_BYTES, capped by the system's maximum without CAP_NET_ADMIN. Returns 0 or -1 (errno). */
int set_buffer(int fd, int force_opt, int opt);

/* Points the batch at buf (BATCH_MAX slots of slot + SLOT_PAD bytes) and builds the mmsg headers. */
void batch_layout(batch_t *b, uint8_t *buf, uint32_t slot);

/* Each open function returns an fd (non-blocking, close-on-exec) or -errno with *where naming
 * the failing call. */
/* TUN_OPEN_OFFLOAD: the TUN carries a virtio header on every packet and takes super-packets when
 * the probe passes; *offload_on says whether it did (else the TUN is as without).
 * TUN_OPEN_MULTI_QUEUE: the device may have several queues (one per packet worker);
 * TUN_OPEN_ATTACH: this fd is a further queue of a device that exists, with the offloads its
 * first queue got (no probe). */
enum { TUN_OPEN_OFFLOAD = 1, TUN_OPEN_MULTI_QUEUE = 2, TUN_OPEN_ATTACH = 4 };
int tun_open(const char *name, uint32_t mtu, uint32_t txqueuelen, unsigned flags, bool *offload_on,
             char actual_name[16], const char **where);
int udp_open(uint32_t addr, uint16_t port, const char **where);
/* A UDP socket for datagrams diverted to it by the firewall (nftables tproxy): IP_TRANSPARENT, and
 * each datagram's original destination read back (IP_RECVORIGDSTADDR). Bound to addr:port. */
int udp_shared_open(uint32_t addr, uint16_t port, const char **where);
int raw41_open(uint32_t addr, const char **where);

/* steer.c. Attaches the queue-choosing program to a multi-queue TUN; returns the fd of its
 * prefix map (at most max_entries prefixes) or -errno with *where naming the failing call. */
int tun_steer_attach(int tun_fd, uint32_t max_entries, const char **where);
/* Adds (EEXIST if present) or removes a prefix's queue; 0 or -errno. */
int tun_steer_update(int map_fd, const uint8_t addr[16], uint32_t len, uint32_t queue, bool add);
/* Keeps on a protocol-41 socket the packets whose outer source hashes to worker of workers. */
int raw41_spread(int fd, uint32_t worker, uint32_t workers);

/* Each read function fills b->off/len (and addr/port) with the packets that fit their slot and
 * returns their count; b->taken and b->oversized say how many were read and how many dropped.
 * *err is set to an errno that makes the fd unusable, and left 0 when the queue is merely empty. */
int tun_read_batch(int fd, tun_offload_t *o, batch_t *b, int *err);
int udp_recv_batch(int fd, batch_t *b, int *err);
/* Also fills b->dst and b->dport; a datagram without its original destination is dropped. One
 * that did not fit its slot is delivered with length SHARED_CUT, so that its session is charged. */
#define SHARED_CUT 0xffffffffu

/* udp-gro.c: a UDP socket's receive offload. udp_gro_new turns UDP_GRO on (NULL if refused);
 * udp_gro_recv_batch reads as udp_shared_recv_batch does (shared) or udp_recv_batch, the segments
 * of a coalesced datagram one per slot, holding what does not fit for the next call. */
udp_gro_t *udp_gro_new(int fd);
void udp_gro_free(udp_gro_t *g);
int udp_gro_recv_batch(int fd, udp_gro_t *g, batch_t *b, bool shared, int *err);
bool udp_gro_has_held(const udp_gro_t *g);
/* Reads that carried several datagrams, and how many they carried. */
void udp_gro_stats(const udp_gro_t *g, uint64_t *coalesced, uint64_t *segments);
/* Binds rx to a loopback port and sends it len bytes as one segmented send of size-byte segments
 * (the probes' real packet); 0 once the kernel took it, else -1. */
int loopback_segmented_send(int rx, const uint8_t *data, size_t len, uint16_t size);
/* Whether the kernel coalesces right: one segmented send over loopback, once per process. */
bool udp_gro_probe(void);
int udp_shared_recv_batch(int fd, batch_t *b, int *err);
int raw41_recv_batch(int fd, batch_t *b, int *err);

/* Send functions return how many packets the kernel accepted; refused packets are dropped. A
 * non-zero source (host order) makes the packets leave from that local address, whatever source
 * the route would give: a client drops tunnel packets from any address but the one it reached. */
/* Whether segments of a super-packet are still held: more to read without waiting for the fd. */
int tun_has_held(const tun_offload_t *o);
uint32_t tun_write_batch(int fd, tun_offload_t *o, const uint8_t *buf, const uint32_t *off,
                         const uint32_t *len, uint32_t count);
uint32_t sock_send_batch(int fd, batch_t *scratch, const uint8_t *buf, const uint32_t *off,
                         const uint32_t *len, const uint32_t *addr, const uint16_t *port,
                         uint32_t source, uint32_t count);

/* UDP segmentation offload (UDP_SEGMENT): runs of datagrams to one destination, all as long as the
 * first but the last, go to the kernel as one message that it cuts up as late as it can, so that
 * they pass its stack once. */
#define UDP_SEGMENT_BYTES 65507 /* the payload one IPv4 UDP datagram can carry */
/* Whether the kernel cuts up such a message right: one real two-datagram send over loopback,
 * made once per process and remembered. */
bool udp_segment_probe(void);
/* As sock_send_batch for a UDP socket, with such runs sent segmented. A kernel that refuses a
 * segmented send (EIO without checksum offload on the way out, say) clears *segment and the
 * packets go one by one from then on. */
uint32_t udp_send_segmented(int fd, batch_t *s, const uint8_t *buf, const uint32_t *off, const uint32_t *len,
                            const uint32_t *addr, const uint16_t *port, uint32_t count, bool *segment);

/* ---- the packets of many sessions in one system call (send-many.c) ---- */

/* One datagram: a payload slice of the buffer, and both ends (host order). */
typedef struct {
  uint32_t off, len, saddr, daddr;
  uint16_t sport, dport;
} udp_datagram_t;

/* Scratch for one sendmmsg of built UDP datagrams: each message its own header, source and name. */
typedef struct {
  struct mmsghdr msg[BATCH_MAX];
  struct iovec iov[BATCH_MAX][2];
  struct sockaddr_in name[BATCH_MAX];
  uint8_t hdr[BATCH_MAX][8];
  union {
    char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    struct cmsghdr align;
  } source[BATCH_MAX];
} send_many_t;

/* A raw IPPROTO_UDP socket that only sends: a filter drops everything it would receive (a raw
 * socket gets a copy of every UDP datagram of the host). Returns an fd or -errno. */
int udp_raw_open(const char **where);
/* Sends up to BATCH_MAX packets in one sendmmsg, each to its own destination and (saddr non-zero)
 * from its own source address: with udp, on the raw UDP socket, each with a UDP header built here
 * (ports and checksum); without, on a raw socket that takes the payload as it is (protocol 41).
 * Sets ok[i] for each the kernel took and returns their count. */
uint32_t send_many(int fd, send_many_t *s, const uint8_t *buf, const udp_datagram_t *d, uint32_t count,
                   int udp, uint8_t *ok);
/* The ones' complement sum of len bytes added to sum, words in memory order (RFC 1071: the result,
 * folded and stored back as it lies, is in network order), and that sum folded to 16 bits. */
uint64_t checksum_add(uint64_t sum, const uint8_t *p, uint32_t len);
uint16_t checksum_fold(uint64_t sum);
/* The UDP checksum of a datagram whose 8-byte header (checksum field zero) is hdr. */
uint16_t udp_checksum(uint32_t saddr, uint32_t daddr, const uint8_t *hdr, const uint8_t *payload,
                      uint32_t len);

/* ---- TUN offloads (offload.c) ---- */

/* A super-packet as read: its virtio header's 10 bytes aside, up to 64 KB of IPv6 packet. The
 * buffer also takes the part a read put in the batch's slot (up to SLOT_FOR_MTU(65535)). */
#define TUN_SUPER_BUF (2 * 65536 + 256)
/* IPv6 and TCP headers of a joined super-packet (TCP options up to 40 bytes). */
#define TUN_JOIN_HDR (40 + 60)

/* A TUN's offload state: the super-packet being split (one at a time, so at most 64 KB held) and
 * the scratch of joined writes. Counters for the log and tests. */
struct tun_offload {
  uint8_t *buf;                 /* TUN_SUPER_BUF: the held super-packet */
  uint32_t len, hdr_len, next;  /* its bytes (0: none held), header bytes, next segment's payload offset */
  struct virtio_net_hdr hdr;    /* the last read's */
  uint8_t join[TUN_JOIN_HDR];   /* the header of a joined write */
  struct iovec iov[BATCH_MAX + 2];
  uint64_t super_in, segments_in, super_out, joined_out, bad;
};

/* What tun_offload_accept made of a read. */
enum { TUN_PACKET, TUN_SUPER, TUN_DROP_OVERSIZED, TUN_DROP_BAD };

tun_offload_t *tun_offload_new(void);
void tun_offload_free(tun_offload_t *o);
/* Turns TSO6 and checksum offload on and writes a real super-packet; 0 or -errno (*where). */
int tun_offload_probe(int fd, const char **where);
/* Takes a read of len bytes (o->hdr filled, the first slot_len bytes in slot, the rest in
 * o->buf + slot_len): TUN_PACKET when the slot holds it whole (a partial checksum completed),
 * TUN_SUPER when it is held for splitting, else why it is dropped. */
int tun_offload_accept(tun_offload_t *o, uint8_t *slot, uint32_t slot_len, uint32_t len);
/* Writes the held super-packet's next segment to dst (the slot's size was checked on accept) and
 * returns its length; o->len is 0 after the last. */
uint32_t tun_offload_segment(tun_offload_t *o, uint8_t *dst);
/* As tun_write_batch, joining runs of one TCP flow's segments into super-packets. */
uint32_t tun_offload_write(int fd, tun_offload_t *o, const uint8_t *buf, const uint32_t *off,
                           const uint32_t *len, uint32_t count);

/* ---- byte streams (stream.c) ---- */

/* Bytes one read() may take: some 50 packets of 1280 bytes. */
#define STREAM_READ_BYTES (64 * 1024)
/* Framed packets waiting for a peer that reads slowly; past this, packets are dropped. */
#define STREAM_OUT_BYTES (256 * 1024)
/* The "errno" of a stream its peer closed. */
#define STREAM_EOF 100000

typedef struct {
  uint8_t *in, *out;
  uint32_t in_len, in_cap, out_len, out_cap;
  uint32_t max_frame;     /* the largest packet accepted from the peer */
  uint32_t bad_frame;     /* the length of the frame that broke the stream (EMSGSIZE) */
  int64_t waiting_since;  /* monotonic ms: output pending and no progress since; 0 when none pending */
} stream_t;

/* Buffers for a stream, holding in0 (bytes already read from the peer) and out0 (to send first).
 * Returns 0 or -errno. */
int stream_init(stream_t *s, uint32_t max_frame, const uint8_t *in0, size_t in0_len,
                const uint8_t *out0, size_t out0_len);
void stream_free(stream_t *s);
int stream_has_frame(const stream_t *s);
/* As the other read functions; *err is STREAM_EOF once the peer closed, EMSGSIZE for a frame over
 * max_frame (its length in bad_frame). */
int stream_read_batch(int fd, stream_t *s, batch_t *b, int *err);
/* Frames the packets into the output buffer (those that do not fit are dropped) and writes what
 * it can; returns how many were taken. *err is set when the connection failed. */
uint32_t stream_send_batch(int fd, stream_t *s, const uint8_t *buf, const uint32_t *off,
                           const uint32_t *len, uint32_t count, int *err);
/* Writes what is pending; returns the bytes still pending. */
size_t stream_flush(int fd, stream_t *s, int *err);
/* How long pending output has made no progress (ms); 0 when nothing is pending. */
int64_t stream_waiting_ms(const stream_t *s);

#endif
