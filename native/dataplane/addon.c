/* Node-API glue: channels handing packets to JS one batch at a time. A channel's fd is polled
 * either by the event loop (uv_poll), which calls the channel's batch handler, or by the thread's
 * poller: an epoll set that a dedicated packet thread drives itself, asking pollerNext for one
 * batch after another and dispatching them in JS. The poller skips what the event loop costs per
 * wakeup (a callback scope with a microtask checkpoint, timers, the loop's second epoll call for
 * its idle-time metrics) and a call from C into JS per batch, which at an ordinary load is most of
 * the forwarding cost outside the kernel. */
#include "addon.h"

/* ---- exported functions ---- */

/* tunOpen(name, mtu, txqueuelen, onBatch, onError, index, offload, multiQueue, attach)
 *   -> [handle, actualName, offloadOn]
 * index -1: polled by the event loop, which calls onBatch; else read by the poller under index.
 * offload: try TSO6 and checksum offload (offload.c); offloadOn says whether the kernel took them.
 * multiQueue: a device with one queue per packet worker; attach: a further queue of it, with the
 * offloads the first queue got (offload says which). */
static napi_value js_tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9], handle, result, v;
  char name[32], actual[16], what[40];
  size_t name_len;
  uint32_t mtu, qlen;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  if (name_len >= 16) {
    napi_throw_range_error(env, NULL, "interface name longer than 15 bytes");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_uint32(env, argv[1], &mtu));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[2], &qlen));
  if (!get_function(env, argv[3], "onBatch") || !get_function(env, argv[4], "onError"))
    return NULL;
  int32_t index;
  if (!get_index(env, argv[5], &index)) return NULL;
  bool offload = false, offload_on = false, multi_queue = false, attach = false;
  if (argc >= 7) NAPI_CALL(env, napi_get_value_bool(env, argv[6], &offload));
  if (argc >= 9) {
    NAPI_CALL(env, napi_get_value_bool(env, argv[7], &multi_queue));
    NAPI_CALL(env, napi_get_value_bool(env, argv[8], &attach));
  }
  tun_offload_t *o = offload ? tun_offload_new() : NULL;
  if (offload && !o) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  shared_t *sh;
  NAPI_CALL(env, napi_get_instance_data(env, (void **)&sh));
  /* Slots must hold this TUN's largest packet (and the tunnel packets carrying it). */
  uint32_t slot = SLOT_FOR_MTU(mtu > 65535 ? 65535 : mtu);
  if (slot > sh->b.slot && !shared_alloc(env, sh, slot)) {
    tun_offload_free(o);
    return NULL;
  }
  unsigned flags = (offload ? TUN_OPEN_OFFLOAD : 0) | (multi_queue ? TUN_OPEN_MULTI_QUEUE : 0) |
                   (attach ? TUN_OPEN_ATTACH : 0);
  int fd = tun_open(name, mtu, qlen, flags, &offload_on, actual, &where);
  if (!offload_on) {
    tun_offload_free(o);
    o = NULL;
  }
  snprintf(what, sizeof what, "tun %s", fd < 0 ? name : actual);
  if (fd < 0) {
    /* EACCES on open() is the device node's mode (0600 on some systems), not a capability. */
    bool node_mode = -fd == EACCES && strcmp(where, "open(/dev/net/tun)") == 0;
    napi_throw(env, errno_error(env, what, where, -fd,
                                node_mode ? "read-write access to /dev/net/tun" : "CAP_NET_ADMIN"));
    return NULL;
  }
  if (!(handle = chan_new(env, fd, CHAN_TUN, what, argv[3], argv[4], index))) {
    tun_offload_free(o);
    return NULL;
  }
  void *data;
  NAPI_CALL(env, napi_get_value_external(env, handle, &data));
  ((chan_t *)data)->offload = o;
  NAPI_CALL(env, napi_create_array_with_length(env, 3, &result));
  NAPI_CALL(env, napi_set_element(env, result, 0, handle));
  NAPI_CALL(env, napi_create_string_utf8(env, actual, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_element(env, result, 1, v));
  NAPI_CALL(env, napi_get_boolean(env, offload_on, &v));
  NAPI_CALL(env, napi_set_element(env, result, 2, v));
  return result;
}

/* tunOffloadStats(handle) -> [superIn, segmentsIn, superOut, joinedOut, bad]: super-packets read
 * and the segments made of them, super-packets written and the segments joined into them, reads
 * dropped for a header the splitter does not take. Zeros without offloads. */
static napi_value js_tun_offload_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "read"))) return NULL;
  const tun_offload_t *o = ch->offload;
  double values[5] = {0};
  if (o) {
    values[0] = (double)o->super_in;
    values[1] = (double)o->segments_in;
    values[2] = (double)o->super_out;
    values[3] = (double)o->joined_out;
    values[4] = (double)o->bad;
  }
  return number_array(env, values, 5);
}

/* tunSteer(handle, maxEntries) -> fd of the prefix map that chooses each packet's queue (steer.c) */
static napi_value js_tun_steer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  uint32_t max_entries;
  chan_t *ch;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "ioctl"))) return NULL;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[1], &max_entries));
  int fd = tun_steer_attach(ch->fd, max_entries, &where);
  if (fd < 0) {
    napi_throw(env, errno_error(env, ch->what, where, -fd, "CAP_BPF or CAP_SYS_ADMIN"));
    return NULL;
  }
  NAPI_CALL(env, napi_create_int32(env, fd, &result));
  return result;
}

/* tunSteerUpdate(mapFd, address (16 bytes), prefixLength, queue, add): adds a prefix's queue
 * (EEXIST when present) or removes it */
static napi_value js_tun_steer_update(napi_env env, napi_callback_info info) {
  size_t argc = 5, size;
  napi_value argv[5];
  int32_t map_fd;
  uint32_t len, queue;
  bool add;
  uint8_t *addr;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &map_fd));
  if (!get_array(env, argv[1], napi_uint8_array, (void **)&addr, &size, "address")) return NULL;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[2], &len));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[3], &queue));
  NAPI_CALL(env, napi_get_value_bool(env, argv[4], &add));
  if (size != 16 || len > 128) {
    napi_throw_range_error(env, NULL, "a prefix is 16 bytes and at most 128 bits");
    return NULL;
  }
  int rc = tun_steer_update(map_fd, addr, len, queue, add);
  if (rc < 0) {
    napi_throw(env, errno_error(env, "steering map", add ? "bpf(BPF_MAP_UPDATE_ELEM)" : "bpf(BPF_MAP_DELETE_ELEM)", -rc, NULL));
    return NULL;
  }
  return NULL;
}

/* udpOpen(addr, port, onBatch, onError, index, offload, shared, coalesce) -> handle
 * offload: send runs of datagrams to one destination segmented (UDP_SEGMENT) if the kernel does it
 * right (udp_segment_probe); for a shared socket, or one asked to coalesce, receive coalesced
 * datagrams (UDP_GRO, udp-gro.c: 4 MB of receive area) if the kernel does that right.
 * shared: a socket the firewall diverts many sessions' datagrams to (udp_shared_open), read by a
 * poller only: each batch also fills the original destinations. */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  uint32_t addr, port;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[0], &addr));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[1], &port));
  if (port > 65535) {
    napi_throw_range_error(env, NULL, "port out of range");
    return NULL;
  }
  if (!get_function(env, argv[2], "onBatch") || !get_function(env, argv[3], "onError"))
    return NULL;
  int32_t index;
  if (!get_index(env, argv[4], &index)) return NULL;
  struct in_addr a = {htonl(addr)};
  char what[40];
  snprintf(what, sizeof what, "udp %s:%u", inet_ntoa(a), port);
  bool segment = false, shared = false, coalesce = false;
  if (argc >= 6) NAPI_CALL(env, napi_get_value_bool(env, argv[5], &segment));
  if (argc >= 7) NAPI_CALL(env, napi_get_value_bool(env, argv[6], &shared));
  if (argc >= 8) NAPI_CALL(env, napi_get_value_bool(env, argv[7], &coalesce));
  if (shared && index < 0) {
    napi_throw_error(env, NULL, "a shared UDP socket is read by a poller only");
    return NULL;
  }
  int fd = shared ? udp_shared_open(addr, (uint16_t)port, &where) : udp_open(addr, (uint16_t)port, &where);
  if (fd < 0) {
    napi_throw(env, errno_error(env, what, where, -fd, shared ? "CAP_NET_ADMIN" : NULL));
    return NULL;
  }
  napi_value handle = chan_new(env, fd, CHAN_UDP, what, argv[2], argv[3], index);
  void *data;
  if (!handle) return NULL;
  NAPI_CALL(env, napi_get_value_external(env, handle, &data));
  chan_t *ch = data;
  ch->segment = segment && !shared && udp_segment_probe();
  ch->shared_udp = shared;
  /* Without it (refused, or out of memory) the socket reads one datagram per message. */
  if ((shared || coalesce) && segment && udp_gro_probe()) ch->gro = udp_gro_new(fd);
  return handle;
}

/* udpCoalesced(handle) -> [reads, datagrams]: a socket's reads that carried several datagrams
 * (UDP_GRO), and how many they carried; zeros without receive offload */
static napi_value js_udp_coalesced(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "recvmmsg"))) return NULL;
  uint64_t coalesced, segments;
  udp_gro_stats(ch->gro, &coalesced, &segments);
  double values[2] = {(double)coalesced, (double)segments};
  return number_array(env, values, 2);
}

/* udpSegmentProbe() -> whether the kernel sends segmented UDP right (probed once per process) */
static napi_value js_udp_segment_probe(napi_env env, napi_callback_info info) {
  napi_value result;
  (void)info;
  NAPI_CALL(env, napi_get_boolean(env, udp_segment_probe(), &result));
  return result;
}

/* udpCoalesceProbe() -> whether the kernel hands over coalesced UDP right (probed once per process) */
static napi_value js_udp_coalesce_probe(napi_env env, napi_callback_info info) {
  napi_value result;
  (void)info;
  NAPI_CALL(env, napi_get_boolean(env, udp_gro_probe(), &result));
  return result;
}

/* udpSegments(handle) -> whether the socket sends segmented (it stops after a refusal) */
static napi_value js_udp_segments(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "sendmmsg"))) return NULL;
  NAPI_CALL(env, napi_get_boolean(env, ch->kind == CHAN_UDP && ch->segment, &result));
  return result;
}

/* raw41Open(addr, onBatch, onError, index, worker, workers) -> handle; addr 0 leaves the socket
 * unbound; with workers > 1 it keeps the packets whose outer source hashes to worker (steer.c) */
static napi_value js_raw41_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  uint32_t addr, worker = 0, workers = 1;
  const char *where = "";
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_uint32(env, argv[0], &addr));
  if (!get_function(env, argv[1], "onBatch") || !get_function(env, argv[2], "onError"))
    return NULL;
  int32_t index;
  if (!get_index(env, argv[3], &index)) return NULL;
  if (argc >= 6) {
    NAPI_CALL(env, napi_get_value_uint32(env, argv[4], &worker));
    NAPI_CALL(env, napi_get_value_uint32(env, argv[5], &workers));
  }
  if (workers == 0 || worker >= workers) {
    napi_throw_range_error(env, NULL, "worker must be below workers");
    return NULL;
  }
  int fd = raw41_open(addr, &where);
  if (fd >= 0 && workers > 1) {
    int rc = raw41_spread(fd, worker, workers);
    if (rc < 0) {
      close(fd);
      fd = rc;
      where = "setsockopt(SO_ATTACH_FILTER)";
    }
  }
  if (fd < 0) {
    napi_throw(env, errno_error(env, "raw41", where, -fd, "CAP_NET_RAW"));
    return NULL;
  }
  return chan_new(env, fd, CHAN_RAW41, "raw41", argv[1], argv[2], index);
}

/* streamOpen(fd, what, input, output, maxFrame, onBatch, onError, index) -> handle
 * Takes over a connected stream socket (it is made non-blocking and closed with the channel), with
 * `input` already read from the peer and `output` to send first. Read by the poller only. */
static napi_value js_stream_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], external;
  int32_t fd, index;
  uint32_t max_frame;
  char what[40];
  size_t what_len, in_len, out_len;
  uint8_t *in, *out;
  void *data;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[1], what, sizeof what, &what_len));
  if (!get_array(env, argv[2], napi_uint8_array, (void **)&in, &in_len, "input") ||
      !get_array(env, argv[3], napi_uint8_array, (void **)&out, &out_len, "output"))
    return NULL;
  NAPI_CALL(env, napi_get_value_uint32(env, argv[4], &max_frame));
  if (!get_function(env, argv[5], "onBatch") || !get_function(env, argv[6], "onError") ||
      !get_index(env, argv[7], &index))
    return NULL;
  if (index < 0) {
    napi_throw_range_error(env, NULL, "a stream is read by a poller only");
    return NULL;
  }
  if (fd < 0 || max_frame == 0 || max_frame > 0xffff) {
    napi_throw_range_error(env, NULL, "a stream needs an open fd and a largest packet of 1..65535 bytes");
    return NULL;
  }
  stream_t *st = calloc(1, sizeof *st);
  int rc = st ? stream_init(st, max_frame, in, in_len, out, out_len) : -ENOMEM;
  if (rc < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
    int err = rc < 0 ? -rc : errno;
    if (st) stream_free(st);
    free(st);
    close(fd);
    napi_throw(env, errno_error(env, what, rc < 0 ? "malloc" : "fcntl", err, NULL));
    return NULL;
  }
  if (!(external = chan_new(env, fd, CHAN_STREAM, what, argv[5], argv[6], index))) {
    stream_free(st);
    free(st);
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_external(env, external, &data));
  chan_t *ch = data;
  ch->stream = st;
  if (st->out_len > 0 || st->in_len > 0) {
    /* What came with it is handled as if the poller had just seen it. */
    int err = 0;
    stream_flush(fd, st, &err);
    stream_arm(ch);
    chan_mark_ready(ch);
  }
  return external;
}

/* streamSend(handle, buf, offsets, lengths, count) -> taken (framed and buffered or written) */
static napi_value js_stream_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  send_args_t a;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "write")) || !get_send_args(env, argv + 1, false, false, &a))
    return NULL;
  if (ch->kind != CHAN_STREAM) {
    napi_throw_type_error(env, NULL, "not a stream");
    return NULL;
  }
  int err = 0;
  uint32_t taken = stream_send_batch(ch->fd, ch->stream, a.buf, a.off, a.len, a.count, &err);
  stream_arm(ch);
  NAPI_CALL(env, napi_create_uint32(env, taken, &result));
  return result;
}

/* streamBacklog(handle) -> [bytes waiting to be written, ms they have made no progress] */
static napi_value js_stream_backlog(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "write"))) return NULL;
  if (ch->kind != CHAN_STREAM) {
    napi_throw_type_error(env, NULL, "not a stream");
    return NULL;
  }
  double values[2] = {ch->stream->out_len, (double)stream_waiting_ms(ch->stream)};
  return number_array(env, values, 2);
}

/* closeFd(fd): closes an fd the addon handed out (Node warns when fs.closeSync closes one it did not open) */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  if (close(fd) < 0 && errno != EINTR) {
    napi_throw(env, errno_error(env, "fd", "close", errno, NULL));
    return NULL;
  }
  return NULL;
}

/* dupFd(fd) -> a new close-on-exec fd for the same open file: a socket handed from Node to a channel */
static napi_value js_dup_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t fd;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_int32(env, argv[0], &fd));
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    napi_throw(env, errno_error(env, "stream", "fcntl(F_DUPFD_CLOEXEC)", errno, NULL));
    return NULL;
  }
  NAPI_CALL(env, napi_create_int32(env, copy, &result));
  return result;
}

/* socketPair() -> [fd, fd]: a connected AF_UNIX stream pair (close-on-exec, blocking) */
static napi_value js_socket_pair(napi_env env, napi_callback_info info) {
  napi_value result, v;
  int fds[2];
  (void)info;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    napi_throw(env, errno_error(env, "stream", "socketpair", errno, NULL));
    return NULL;
  }
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &result));
  for (uint32_t i = 0; i < 2; i++) {
    NAPI_CALL(env, napi_create_int32(env, fds[i], &v));
    NAPI_CALL(env, napi_set_element(env, result, i, v));
  }
  return result;
}

/* icmp6Send(ifname, packet): sends one ICMPv6 message (the kernel fills in its checksum) to the
 * all-nodes group ff02::1 on the interface, with hop limit 255 as neighbour discovery demands: a
 * client's router advertisements on its LAN when radvd is not installed. */
static napi_value js_icmp6_send(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2];
  char ifname[32];
  size_t ifname_len;
  uint8_t *packet;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  NAPI_CALL(env, napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &ifname_len));
  if (!get_array(env, argv[1], napi_uint8_array, (void **)&packet, &len, "packet")) return NULL;
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    napi_throw(env, errno_error(env, ifname, "if_nametoindex", errno, NULL));
    return NULL;
  }
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) {
    napi_throw(env, errno_error(env, "icmp6", "socket", errno, "CAP_NET_RAW"));
    return NULL;
  }
  int hops = 255;
  struct sockaddr_in6 to;
  memset(&to, 0, sizeof to);
  to.sin6_family = AF_INET6;
  to.sin6_scope_id = ifindex;
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  int rc = setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0 ||
                   setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0
               ? -1
               : (int)sendto(fd, packet, len, 0, (struct sockaddr *)&to, sizeof to);
  int err = errno;
  close(fd);
  if (rc < 0) {
    napi_throw(env, errno_error(env, ifname, "sendto", err, NULL));
    return NULL;
  }
  return NULL;
}

/* tunPersist(handle, on): whether the device stays when its fd closes (TUNSETPERSIST) */
static napi_value js_tun_persist(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  chan_t *ch;
  bool on;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "ioctl(TUNSETPERSIST)"))) return NULL;
  if (ch->kind != CHAN_TUN) {
    napi_throw_type_error(env, NULL, "not a TUN device");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  if (ioctl(ch->fd, TUNSETPERSIST, on ? 1 : 0) < 0) {
    napi_throw(env, errno_error(env, ch->what, "ioctl(TUNSETPERSIST)", errno, "CAP_NET_ADMIN"));
    return NULL;
  }
  return NULL;
}

/* tunWrite(handle, buf, offsets, lengths, count) -> accepted */
static napi_value js_tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  send_args_t a;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "write")) || !get_send_args(env, argv + 1, false, false, &a))
    return NULL;
  if (ch->kind != CHAN_TUN) {
    napi_throw_type_error(env, NULL, "not a TUN device");
    return NULL;
  }
  NAPI_CALL(env, napi_create_uint32(env, tun_write_batch(ch->fd, ch->offload, a.buf, a.off, a.len, a.count), &result));
  return result;
}

/* udpSend(handle, buf, offsets, lengths, addrs, ports, count) -> sent
 * raw41Send(handle, buf, offsets, lengths, addrs, count, source) -> sent; source 0: the route's */
static napi_value sock_send(napi_env env, napi_callback_info info, enum chan_kind kind) {
  size_t argc = 7;
  napi_value argv[7], result;
  send_args_t a;
  chan_t *ch;
  uint32_t source = 0;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "sendmmsg")) ||
      !get_send_args(env, argv + 1, true, kind == CHAN_UDP, &a))
    return NULL;
  if (ch->kind != kind) {
    napi_throw_type_error(env, NULL, "wrong channel kind");
    return NULL;
  }
  if (kind == CHAN_RAW41 && napi_get_value_uint32(env, argv[6], &source) != napi_ok) {
    napi_throw_type_error(env, NULL, "source must be an IPv4 address as a number");
    return NULL;
  }
  uint32_t sent = kind == CHAN_UDP ? udp_chan_send(ch, &ch->shared->b, a.buf, a.off, a.len, a.addr, a.port, a.count)
                                   : sock_send_batch(ch->fd, &ch->shared->b, a.buf, a.off, a.len, a.addr, NULL, source, a.count);
  NAPI_CALL(env, napi_create_uint32(env, sent, &result));
  return result;
}

static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  return sock_send(env, info, CHAN_UDP);
}

static napi_value js_raw41_send(napi_env env, napi_callback_info info) {
  return sock_send(env, info, CHAN_RAW41);
}

/* localAddress(handle) -> [addr, port] */
static napi_value js_local_address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  struct sockaddr_in sin;
  socklen_t sl = sizeof sin;
  chan_t *ch;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!(ch = get_chan(env, argv[0], "getsockname"))) return NULL;
  if (getsockname(ch->fd, (struct sockaddr *)&sin, &sl) < 0) {
    napi_throw(env, errno_error(env, ch->what, "getsockname", errno, NULL));
    return NULL;
  }
  double values[2] = {ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port)};
  return number_array(env, values, 2);
}

/* close(handle): idempotent */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool tagged = false;
  void *data;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (napi_check_object_type_tag(env, argv[0], &CHAN_TAG, &tagged) != napi_ok || !tagged) {
    napi_throw_type_error(env, NULL, "not a dataplane channel");
    return NULL;
  }
  NAPI_CALL(env, napi_get_value_external(env, argv[0], &data));
  chan_close(data);
  return NULL;
}

/* ---- module setup ---- */

static void shared_finalize(napi_env env, void *data, void *hint) {
  shared_t *sh = data;
  (void)hint;
  napi_delete_reference(env, sh->buf);
  napi_delete_reference(env, sh->off);
  napi_delete_reference(env, sh->len);
  napi_delete_reference(env, sh->addr);
  napi_delete_reference(env, sh->port);
  napi_delete_reference(env, sh->state);
  napi_delete_reference(env, sh->clock);
  napi_delete_reference(env, sh->dst);
  napi_delete_reference(env, sh->dport);
  napi_delete_reference(env, sh->out.off_ref);
  napi_delete_reference(env, sh->out.len_ref);
  napi_delete_reference(env, sh->out.addr_ref);
  napi_delete_reference(env, sh->out.port_ref);
  napi_delete_reference(env, sh->out.seg_ref);
  napi_delete_reference(env, sh->out.sent_ref);
  poller_close(sh);
  free(sh);
}

/* A typed array of BATCH_MAX * per elements. */
static bool new_typed_array_n(napi_env env, napi_typedarray_type type, size_t elem_size, size_t per,
                              void **data, napi_ref *ref) {
  napi_value ab, ta;
  if (napi_create_arraybuffer(env, BATCH_MAX * per * elem_size, data, &ab) != napi_ok ||
      napi_create_typedarray(env, type, BATCH_MAX * per, ab, 0, &ta) != napi_ok ||
      napi_create_reference(env, ta, 1, ref) != napi_ok) {
    throw_napi_failure(env, "napi_create_typedarray");
    return false;
  }
  return true;
}

static bool new_typed_array(napi_env env, napi_typedarray_type type, size_t elem_size,
                            void **data, napi_ref *ref) {
  return new_typed_array_n(env, type, elem_size, 1, data, ref);
}

/* One shared batch per environment (main thread or worker). */
static bool shared_init(napi_env env) {
  shared_t *sh = calloc(1, sizeof *sh);
  if (!sh) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  if (napi_set_instance_data(env, sh, shared_finalize, NULL) != napi_ok) {
    free(sh);
    throw_napi_failure(env, "napi_set_instance_data");
    return false;
  }
  return shared_alloc(env, sh, SLOT_DEFAULT) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.off, &sh->off) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.len, &sh->len) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.addr, &sh->addr) &&
         new_typed_array(env, napi_uint16_array, 2, (void **)&sh->b.port, &sh->port) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->b.dst, &sh->dst) &&
         new_typed_array(env, napi_uint16_array, 2, (void **)&sh->b.dport, &sh->dport) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->state_data, &sh->state) &&
         new_typed_array(env, napi_float64_array, 8, (void **)&sh->clock_data, &sh->clock) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.off, &sh->out.off_ref) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.len, &sh->out.len_ref) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.addr, &sh->out.addr_ref) &&
         new_typed_array(env, napi_uint16_array, 2, (void **)&sh->out.port, &sh->out.port_ref) &&
         new_typed_array_n(env, napi_int32_array, 4, SEGMENT_FIELDS, (void **)&sh->out.seg, &sh->out.seg_ref) &&
         new_typed_array(env, napi_uint32_array, 4, (void **)&sh->out.sent, &sh->out.sent_ref);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"tunOpen", NULL, js_tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWrite", NULL, js_tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunPersist", NULL, js_tun_persist, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunOffloadStats", NULL, js_tun_offload_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunSteer", NULL, js_tun_steer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunSteerUpdate", NULL, js_tun_steer_update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSegments", NULL, js_udp_segments, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSegmentProbe", NULL, js_udp_segment_probe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpCoalesced", NULL, js_udp_coalesced, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpCoalesceProbe", NULL, js_udp_coalesce_probe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"raw41Open", NULL, js_raw41_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"raw41Send", NULL, js_raw41_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localAddress", NULL, js_local_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamOpen", NULL, js_stream_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamSend", NULL, js_stream_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"streamBacklog", NULL, js_stream_backlog, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dupFd", NULL, js_dup_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFd", NULL, js_close_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketPair", NULL, js_socket_pair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmp6Send", NULL, js_icmp6_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerOpen", NULL, js_poller_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerNext", NULL, js_poller_next, NULL, NULL, NULL, napi_enumerable, NULL},
      {"batch", NULL, js_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"outbox", NULL, js_outbox, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollerClose", NULL, js_poller_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (!shared_init(env)) return NULL;
  NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}
