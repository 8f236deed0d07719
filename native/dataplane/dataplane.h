/* Packet I/O for the DTCP userspace data plane: one TUN device, UDP/IPv4 sockets and a raw
 * IPv4 socket for protocol 41, each drained in batches. */
#ifndef DTCP_DATAPLANE_H
#define DTCP_DATAPLANE_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define BATCH_MAX 64
/* Room for the largest IPv4 datagram or TUN packet (MTU ≤ 65535), so nothing is ever truncated.
 * The stride is not a power of two so that the headers of one batch do not all map to the same
 * cache sets. */
#define SLOT_SIZE 65536
#define SLOT_STRIDE (SLOT_SIZE + 64)
#define SOCK_BUF_BYTES (4 * 1024 * 1024)

/* One received batch plus scratch for the mmsg calls. Shared by all channels of a Node
 * environment: a batch is only valid while its callback runs, and sends never touch the
 * delivered arrays. */
typedef struct {
  uint8_t *buf;                 /* BATCH_MAX slots of SLOT_STRIDE bytes */
  uint32_t *off, *len, *addr;   /* per packet; addr is the IPv4 source in host order */
  uint16_t *port;               /* per packet UDP source port */
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  struct sockaddr_in names[BATCH_MAX];
} batch_t;

/* Each open function returns an fd (non-blocking, close-on-exec) or -errno with *where naming
 * the failing call. */
int tun_open(const char *name, uint32_t mtu, uint32_t txqueuelen, char actual_name[16],
             const char **where);
int udp_open(uint32_t addr, uint16_t port, const char **where);
int raw41_open(uint32_t addr, const char **where);

/* Each read function fills b->off/len (and addr/port) and returns the packet count. *err is set
 * to an errno that makes the fd unusable, and left 0 when the queue is merely empty. */
int tun_read_batch(int fd, batch_t *b, int *err);
int udp_recv_batch(int fd, batch_t *b, int *err);
int raw41_recv_batch(int fd, batch_t *b, int *err);

/* Send functions return how many packets the kernel accepted; refused packets are dropped. */
uint32_t tun_write_batch(int fd, const uint8_t *buf, const uint32_t *off, const uint32_t *len,
                         uint32_t count);
uint32_t sock_send_batch(int fd, batch_t *scratch, const uint8_t *buf, const uint32_t *off,
                         const uint32_t *len, const uint32_t *addr, const uint16_t *port,
                         uint32_t count);

#endif
