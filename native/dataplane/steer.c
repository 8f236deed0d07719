/* Which packet worker gets a packet, when several share the forwarding (one TUN queue each).
 *
 * From the host: a multi-queue TUN asks an eBPF program which queue a packet goes to
 * (TUNSETSTEERINGEBPF). Ours looks the IPv6 destination up in a longest-prefix map filled with
 * each live session's address and prefix and the queue of the worker that owns the session, so a
 * session's packets reach the one thread that has its socket, binding and counters. Unknown
 * destinations go to queue 0 (counted there as no route).
 *
 * From clients over protocol 41: every raw socket receives every packet, so each worker's socket
 * keeps, by a classic filter, only the outer sources that hash to it (raw41_hash); a protocol-41
 * session is given to the worker its client's address hashes to. UDP and TCP sessions need
 * nothing: their sockets are their own. */
#include "dataplane.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_tun.h>

static long bpf(int cmd, union bpf_attr *attr) {
  return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

/* The map's key: a prefix length in bits, then the address (the kernel's bpf_lpm_trie_key). */
struct steer_key {
  uint32_t len;
  uint8_t addr[16];
};

int tun_steer_attach(int tun_fd, uint32_t max_entries, const char **where) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_LPM_TRIE;
  a.key_size = sizeof(struct steer_key);
  a.value_size = sizeof(uint32_t);
  a.max_entries = max_entries;
  a.map_flags = BPF_F_NO_PREALLOC; /* required for LPM tries: memory per entry as it is added */
  int map = (int)bpf(BPF_MAP_CREATE, &a);
  if (map < 0) {
    *where = "bpf(BPF_MAP_CREATE)";
    return -errno;
  }
  /* r6 = skb; key at fp-20: {128, destination}; r0 = *lookup(key) or 0. The TUN hands the program
   * the packet from its IPv6 header on; a packet too short for a destination goes to queue 0. */
  struct bpf_insn prog[] = {
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0),
      INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -20, 128),
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0),
      INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, 24),
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_10, 0, 0),
      INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, -16),
      INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 16),
      INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_load_bytes),
      INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 7, 0),
      INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map),
      INSN(0, 0, 0, 0, 0),
      INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
      INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -20),
      INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),
      INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_0, 0, 0),
      INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
      INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  a.insns = (uint64_t)(uintptr_t)prog;
  a.insn_cnt = sizeof prog / sizeof prog[0];
  a.license = (uint64_t)(uintptr_t)"GPL";
  int fd = (int)bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) {
    *where = "bpf(BPF_PROG_LOAD)";
    goto fail;
  }
  /* The device holds the program from now on. */
  int rc = ioctl(tun_fd, TUNSETSTEERINGEBPF, &fd);
  int err = errno;
  close(fd);
  if (rc < 0) {
    errno = err;
    *where = "ioctl(TUNSETSTEERINGEBPF)";
    goto fail;
  }
  return map;
fail:;
  int e = errno;
  close(map);
  return -e;
}

int tun_steer_update(int map_fd, const uint8_t addr[16], uint32_t len, uint32_t queue, bool add) {
  struct steer_key key = {.len = len};
  /* Bits past the prefix are zero, so that adding and deleting name the same entry. */
  for (uint32_t i = 0; i < 16; i++) {
    uint32_t bits = len > i * 8 ? len - i * 8 : 0;
    key.addr[i] = bits >= 8 ? addr[i] : (uint8_t)(addr[i] & (0xff00 >> bits));
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)map_fd;
  a.key = (uint64_t)(uintptr_t)&key;
  if (add) {
    a.value = (uint64_t)(uintptr_t)&queue;
    /* Two live sessions never share a prefix: a second one is refused, whichever worker has the first. */
    a.flags = BPF_NOEXIST;
    return bpf(BPF_MAP_UPDATE_ELEM, &a) < 0 ? -errno : 0;
  }
  return bpf(BPF_MAP_DELETE_ELEM, &a) < 0 ? -errno : 0;
}

int raw41_spread(int fd, uint32_t worker, uint32_t workers) {
  /* A = source; A = (A >> 16 ^ A) & 0xffff; keep the packet if A % workers == worker. */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
      BPF_STMT(BPF_MISC | BPF_TAX, 0),
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xffff),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, workers),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, worker, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0x7fffffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ? -errno : 0;
}
