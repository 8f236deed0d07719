/* IPv6 packets over a byte stream (a TCP connection, or one end of a socket pair whose other end
 * a TLS connection feeds): each packet is a 2-byte big-endian length, then the packet. Reads take
 * up to STREAM_READ_BYTES per read() and cut as many packets out of them as there are; writes
 * frame a batch's packets into the output buffer and send it with one write(). Both buffers are
 * bounded: a peer that floods is read no faster than packets are handed on, and one that stops
 * reading gets its packets dropped (and counted) once STREAM_OUT_BYTES wait. */
#include "dataplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int stream_init(stream_t *s, uint32_t max_frame, const uint8_t *in0, size_t in0_len,
                const uint8_t *out0, size_t out0_len) {
  memset(s, 0, sizeof *s);
  s->max_frame = max_frame;
  s->in_cap = STREAM_READ_BYTES + 2 + max_frame;
  s->out_cap = STREAM_OUT_BYTES;
  if (in0_len > s->in_cap || out0_len > s->out_cap) return -EINVAL;
  s->in = malloc(s->in_cap);
  s->out = malloc(s->out_cap);
  if (!s->in || !s->out) {
    stream_free(s);
    return -ENOMEM;
  }
  memcpy(s->in, in0, in0_len);
  s->in_len = (uint32_t)in0_len;
  memcpy(s->out, out0, out0_len);
  s->out_len = (uint32_t)out0_len;
  if (out0_len > 0) s->waiting_since = now_ms();
  return 0;
}

void stream_free(stream_t *s) {
  free(s->in);
  free(s->out);
  s->in = s->out = NULL;
}

/* Whether a whole frame waits in the input buffer (it can be cut without reading). */
int stream_has_frame(const stream_t *s) {
  if (s->in_len < 2) return 0;
  uint32_t len = (uint32_t)s->in[0] << 8 | s->in[1];
  return len > s->max_frame || s->in_len >= 2 + len;
}

/* Cuts whole frames out of the input buffer into the batch, from packet n on. */
static int cut_frames(stream_t *s, batch_t *b, int n, int *err) {
  uint32_t pos = 0;
  while (n < BATCH_MAX && s->in_len - pos >= 2) {
    uint32_t len = (uint32_t)s->in[pos] << 8 | s->in[pos + 1];
    if (len > s->max_frame || len > b->slot) {
      s->bad_frame = len;
      *err = EMSGSIZE;
      break;
    }
    if (s->in_len - pos < 2 + len) break;
    uint32_t at = (uint32_t)n * b->stride;
    memcpy(b->buf + at, s->in + pos + 2, len);
    b->off[n] = at;
    b->len[n] = len;
    n++;
    pos += 2 + len;
  }
  if (pos > 0) {
    memmove(s->in, s->in + pos, s->in_len - pos);
    s->in_len -= pos;
  }
  return n;
}

int stream_read_batch(int fd, stream_t *s, batch_t *b, int *err) {
  int n = cut_frames(s, b, 0, err);
  if (!*err && n < BATCH_MAX && !stream_has_frame(s)) {
    ssize_t r = dp_read(fd, s->in + s->in_len, s->in_cap - s->in_len);
    if (r > 0) {
      s->in_len += (uint32_t)r;
      n = cut_frames(s, b, n, err);
    } else if (r == 0) {
      /* Packets read before the end still go on; the end is reported on the next read. */
      if (n == 0) *err = STREAM_EOF;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      if (n == 0) *err = errno;
    }
  }
  /* Packets before a broken frame still go on; the break is reported by the next read. */
  if (*err == EMSGSIZE && n > 0) *err = 0;
  /* A full batch, or whole frames left over: the caller reads again before waiting. */
  b->taken = (n == BATCH_MAX || stream_has_frame(s)) ? BATCH_MAX : (uint32_t)n;
  b->oversized = 0;
  return n;
}

size_t stream_flush(int fd, stream_t *s, int *err) {
  while (s->out_len > 0) {
    ssize_t w = dp_write(fd, s->out, s->out_len);
    if (w > 0) {
      memmove(s->out, s->out + w, s->out_len - (size_t)w);
      s->out_len -= (uint32_t)w;
      s->waiting_since = s->out_len > 0 ? now_ms() : 0;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
    break;
  }
  return s->out_len;
}

uint32_t stream_send_batch(int fd, stream_t *s, const uint8_t *buf, const uint32_t *off,
                           const uint32_t *len, uint32_t count, int *err) {
  uint32_t taken = 0;
  int was_empty = s->out_len == 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t l = len[i];
    /* What does not fit is dropped, the rest of the batch with it: the sender counts the head it
     * was told went out, as with a full socket queue. */
    if (l > 0xffff || s->out_cap - s->out_len < 2 + l) break;
    s->out[s->out_len] = (uint8_t)(l >> 8);
    s->out[s->out_len + 1] = (uint8_t)l;
    memcpy(s->out + s->out_len + 2, buf + off[i], l);
    s->out_len += 2 + l;
    taken++;
  }
  if (was_empty && s->out_len > 0) s->waiting_since = now_ms();
  stream_flush(fd, s, err);
  return taken;
}

int64_t stream_waiting_ms(const stream_t *s) {
  return s->out_len > 0 && s->waiting_since > 0 ? now_ms() - s->waiting_since : 0;
}
