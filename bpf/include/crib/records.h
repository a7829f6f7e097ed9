/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0 */
/*
 * The CRIB wire format: binary records the BPF programs emit, through a BPF
 * ring buffer (SEC("crib") / SEC("syscall") programs: one record per sample)
 * or bpf_seq_write() (iterators: records back to back). Decoded by
 * harness/src/engine/wire.rs; keep the two in step (docs/bpf-programs.md).
 *
 * Rules:
 * - little-endian, explicit padding, no implicit holes;
 * - every record starts with struct crib_rec_hdr; hdr.len is the record's
 *   length in bytes including the header and any trailing variable part;
 * - layouts are append-only: a new field goes at the end of the fixed part
 *   and bumps that type's version; a decoder takes the prefix it knows;
 * - variable parts (paths, payload) are the LAST bytes of a record, their
 *   lengths given by fields of the fixed part, so a decoder that knows a
 *   shorter fixed part still finds them;
 * - a new record type gets a new number; old decoders report it as unknown.
 */
#ifndef CRIB_RECORDS_H
#define CRIB_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CRIB_PATH_MAX 512	/* bytes of path carried by FILE/VMA/UNIX */
#define CRIB_COMM_LEN 16

enum crib_rec_type {
	CRIB_REC_TASK = 1,
	CRIB_REC_FILE = 2,
	CRIB_REC_VMA = 3,
	CRIB_REC_INET = 4,
	CRIB_REC_UNIX = 5,
	CRIB_REC_SKB = 6,
	CRIB_REC_END = 7,
	CRIB_REC_ERROR = 8,
	CRIB_REC_BATCH = 9,
};

struct crib_rec_hdr {
	__u16 type;		/* enum crib_rec_type */
	__u16 version;		/* layout version of this type, from 1 */
	__u32 len;		/* whole record in bytes, header included */
};

/* Index of crib_rec_task.ns_ino[]. */
enum crib_ns {
	CRIB_NS_PID = 0,
	CRIB_NS_NET = 1,
	CRIB_NS_MNT = 2,
	CRIB_NS_UTS = 3,
	CRIB_NS_IPC = 4,
	CRIB_NS_USER = 5,
	CRIB_NS_CGROUP = 6,
	CRIB_NS_COUNT = 7,
};

/* Task identity. Pids as the initial pid namespace sees them, plus the
 * pid in the task's own (innermost) namespace. */
struct crib_rec_task {
	struct crib_rec_hdr hdr;
	__u32 tgid;
	__u32 pid;
	__u32 ppid;		/* real parent's tgid */
	__u32 ns_tgid;		/* tgid in the task's own pid namespace */
	__u32 ns_level;		/* depth of that namespace, 0 = initial */
	__u32 uid;		/* real uid/gid, initial user namespace */
	__u32 gid;
	__u32 _pad;
	__u64 ns_ino[CRIB_NS_COUNT];	/* namespace inode numbers, 0 = unknown */
	char comm[CRIB_COMM_LEN];
};
#define CRIB_REC_TASK_V1 1

/* One open file. */
struct crib_rec_file {
	struct crib_rec_hdr hdr;
	__s32 fd;
	__u32 flags;		/* f_flags (O_*) */
	__s64 pos;		/* f_pos */
	__u64 ino;
	__u64 size;		/* i_size */
	__u32 dev;		/* s_dev, kernel encoding (major << 20 | minor) */
	__u32 mode;		/* i_mode (S_IF* and permission bits) */
	__u32 mnt_id;
	__u32 fmode;		/* f_mode (FMODE_READ = 1, FMODE_WRITE = 2, ...) */
	__u32 nlink;		/* 0 = unlinked but open */
	__u32 cloexec;		/* 1 = close-on-exec set in the fd table */
	__u32 path_len;		/* bytes of path that follow (no NUL); 0 = none */
	__u32 path_ref;		/* v2: CRIB_PATH_SET/SAME | slot, or 0 (v1: 0) */
	/* char path[path_len] follows */
};
#define CRIB_REC_FILE_V1 1
#define CRIB_REC_FILE_V2 2

/* path_ref of FILE and VMA records, v2. Records of one program run name a
 * few files many times (libraries, data files): the run keeps a path slot
 * per file (CRIB_PCACHE_SLOTS of them), and a record says how its path
 * relates to them:
 *   0                    the path is the bytes that follow, nothing else;
 *   CRIB_PATH_SET | n    the bytes that follow, and slot n's path from now
 *                        on (until another SET of n) in this run;
 *   CRIB_PATH_SAME | n   no bytes follow (path_len 0): the path is slot
 *                        n's, set by an earlier record of this run.
 * A SAME of a slot the run has not set is a broken stream, never an
 * empty path. */
#define CRIB_PATH_SLOT_MASK 0xffffu
#define CRIB_PATH_SET (1u << 16)
#define CRIB_PATH_SAME (1u << 17)

enum crib_vma_special {
	CRIB_VMA_NONE = 0,	/* file-backed (path follows) or plain anonymous */
	CRIB_VMA_HEAP = 1,
	CRIB_VMA_STACK = 2,
	CRIB_VMA_NAMED = 3,	/* special mapping; its name ("[vdso]") follows */
};

/* One memory mapping (the smaps/maps replacement). */
struct crib_rec_vma {
	struct crib_rec_hdr hdr;
	__u64 start;
	__u64 end;
	__u64 pgoff;		/* vm_pgoff, in pages */
	__u64 vm_flags;		/* VM_READ = 1, VM_WRITE = 2, VM_EXEC = 4, VM_SHARED = 8, ... */
	__u64 ino;		/* backing file inode, 0 = anonymous */
	__u32 dev;		/* backing file s_dev, kernel encoding */
	__u32 special;		/* enum crib_vma_special */
	__u32 path_len;		/* bytes of path/name that follow (no NUL) */
	__u32 path_ref;		/* v2: as crib_rec_file's (v1: 0) */
	/* char path[path_len] follows */
};
#define CRIB_REC_VMA_V1 1
#define CRIB_REC_VMA_V2 2

/* crib_rec_inet.valid bits: which groups of fields were read. */
#define CRIB_INET_TCP (1u << 0)
#define CRIB_INET_UDP (1u << 1)

/* crib_rec_inet.opts bits. */
#define CRIB_SOCKOPT_REUSEADDR (1u << 0)
#define CRIB_SOCKOPT_REUSEPORT (1u << 1)
#define CRIB_SOCKOPT_KEEPALIVE (1u << 2)
#define CRIB_SOCKOPT_BROADCAST (1u << 3)
#define CRIB_SOCKOPT_NODELAY (1u << 4)

/* crib_rec_inet.tcp_opts bits (negotiated TCP options). */
#define CRIB_TCPOPT_TIMESTAMPS (1u << 0)
#define CRIB_TCPOPT_SACK (1u << 1)
#define CRIB_TCPOPT_WSCALE (1u << 2)

/* An AF_INET / AF_INET6 socket. Ports in host byte order, addresses as on
 * the wire (IPv4 in the first 4 bytes). */
struct crib_rec_inet {
	struct crib_rec_hdr hdr;
	__u64 ino;		/* socket inode, matches crib_rec_file.ino */
	__u16 family;
	__u16 type;		/* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;
	__u8 state;		/* sk_state, TCP_* numbering */
	__u8 shutdown;
	__u16 sport;
	__u16 dport;
	__u32 bound_dev_if;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 rcvbuf;
	__u32 sndbuf;
	__u32 mark;
	__u32 opts;		/* CRIB_SOCKOPT_* */
	__u32 priority;
	__u32 rqueue_bytes;	/* sk_rmem_alloc */
	__u32 wqueue_bytes;	/* sk_wmem_queued */
	__u32 valid;		/* CRIB_INET_* */
	/* TCP, valid with CRIB_INET_TCP */
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 rcv_nxt;
	__u32 write_seq;
	__u32 copied_seq;
	__u32 snd_wnd;
	__u32 rcv_wnd;
	__u32 max_window;
	__u32 mss_cache;
	__u32 snd_wl1;
	__u32 rcv_wup;
	__u8 snd_wscale;
	__u8 rcv_wscale;
	__u8 tcp_opts;		/* CRIB_TCPOPT_* */
	__u8 _pad1;
	/* UDP, valid with CRIB_INET_UDP */
	__u32 udp_pending;	/* AF_INET/AF_INET6 while corked data waits, else 0 */
	__u32 udp_corkflag;	/* UDP_CORK set */
	__u32 udp_len;		/* bytes of the pending frame */
	__u32 _pad2;
};
#define CRIB_REC_INET_V1 1

/* An AF_UNIX socket. */
struct crib_rec_unix {
	struct crib_rec_hdr hdr;
	__u64 ino;
	__u64 peer_ino;		/* 0 = no peer */
	__u16 type;
	__u8 state;
	__u8 shutdown;
	__u32 rqueue_len;	/* skbs on the receive queue */
	__u32 path_len;		/* bytes of own sun_path (abstract: leading NUL) */
	__u32 peer_path_len;	/* bytes of the peer's sun_path */
	/* char path[path_len], then char peer_path[peer_path_len] follow */
};
#define CRIB_REC_UNIX_V1 1

/* crib_rec_skb.queue */
#define CRIB_QUEUE_WRITE 0
#define CRIB_QUEUE_RECEIVE 1
#define CRIB_QUEUE_PIPE 2	/* the bytes buffered in a pipe (sock_ino: the pipe's) */

/* crib_rec_skb.flags */
#define CRIB_SKB_FIRST (1u << 0)	/* first chunk of a frame */
#define CRIB_SKB_LAST (1u << 1)		/* last chunk of a frame */

/* The payload of one queued frame, or one chunk of it: chunks of a frame
 * share `index` and come with increasing `offset`; a decoder must check
 * that they add up to frame_len. Socket frames come whole in one record
 * (up to 65535 bytes; a longer frame arrives cut, which the decoder
 * reports). A pipe (CRIB_QUEUE_PIPE) is one stream sent in chunks: index
 * counts them, frame_len is 0 (unknown until the end), offset is the byte
 * offset, and CRIB_SKB_LAST marks the chunk that ends the data. */
struct crib_rec_skb {
	struct crib_rec_hdr hdr;
	__u64 sock_ino;
	__s32 fd;
	__u16 queue;		/* CRIB_QUEUE_* */
	__u16 flags;		/* CRIB_SKB_* */
	__u32 index;		/* frame number within the queue, from 0 */
	__u32 frame_len;	/* payload bytes of the whole frame */
	__u32 offset;		/* offset of data[] in the frame payload */
	__u32 data_len;		/* bytes of data that follow */
	__u64 tstamp_ns;	/* skb->tstamp, 0 = none */
	__u8 addr[16];		/* receive queue: source address */
	__u16 port;		/* receive queue: source port, host order */
	__u16 family;		/* family of addr, 0 = none */
	__u32 mark;
	/* __u8 data[data_len] follows */
};
#define CRIB_REC_SKB_V1 1

/* Which program wrote an END/ERROR record. */
enum crib_prog_id {
	CRIB_PROG_TASK = 1,
	CRIB_PROG_FILES = 2,
	CRIB_PROG_VMAS = 3,
	CRIB_PROG_SOCKS = 4,
	CRIB_PROG_QUEUES = 5,
	CRIB_PROG_RESTORE = 6,
	CRIB_PROG_ALL_QUEUES = 7,
};

/* Last record of a ring-buffer dump: counters, so userspace can tell a
 * complete dump from a truncated one. */
struct crib_rec_end {
	struct crib_rec_hdr hdr;
	__u32 prog;		/* enum crib_prog_id */
	__s32 error;		/* 0 or the first -errno */
	__u32 records;		/* records emitted before this one */
	__u32 dropped;		/* records lost (ring buffer full) */
	/* v2 */
	__u32 expected;		/* what the kernel holds, to check the walk
				 * against (VMAs: mm->map_count when the walk
				 * ended); 0 = not counted */
	__u32 __pad;
};
#define CRIB_REC_END_V1 1
#define CRIB_REC_END_V2 2

/* Several records in one ring-buffer sample: after this header (len =
 * the whole sample), records back to back, each at an 8-byte aligned
 * offset from the end of the header (padding after a record is not part
 * of its hdr.len). No BATCH inside a BATCH. */
#define CRIB_REC_BATCH_V1 1

/* Something a program could not read; the dump goes on. */
struct crib_rec_error {
	struct crib_rec_hdr hdr;
	__u32 prog;		/* enum crib_prog_id */
	__s32 err;		/* -errno */
	__u64 arg;		/* the fd, inode or address being read */
};
#define CRIB_REC_ERROR_V1 1

/* Input of the ring-buffer programs (BPF_PROG_RUN ctx_in). */
struct crib_args {
	__s32 pid;		/* target, in the caller's pid namespace */
	__s32 fd;		/* single-fd programs: the fd; crib_dump_files,
				 * crib_dump_queues: first fd (resumed batch) */
	union {
		struct {
			__u32 queue;	/* crib_dump_queue: CRIB_QUEUE_* */
			__u32 flags;	/* crib_dump_queues: dump generation, else 0 */
		};
		__u64 start;	/* VMA programs: first address (resumed batch) */
	};
};

/* Input of crib_restore_udp_rcv: one datagram to queue on socket `fd` of
 * task `pid`. The payload (data_len bytes) is in the crib_restore_data map. */
struct crib_restore_args {
	__s32 pid;
	__s32 fd;
	__u32 data_len;
	__u32 _pad;
	__u64 tstamp_ns;	/* receive time, CLOCK_REALTIME ns; 0 = now */
	__u8 saddr[16];
	__u16 sport;		/* host order */
	__u16 family;
	__u32 mark;
	__u32 ifindex;		/* bpf_crib_skb_info v2 only */
	__u32 tos;		/* bpf_crib_skb_info v2 only */
};

#define CRIB_RESTORE_DATA_MAX 65536

/* The Rust decoder (harness/src/engine/wire.rs) hard-codes these sizes. */
_Static_assert(sizeof(struct crib_rec_hdr) == 8, "crib_rec_hdr");
_Static_assert(sizeof(struct crib_rec_task) == 112, "crib_rec_task");
_Static_assert(sizeof(struct crib_rec_file) == 72, "crib_rec_file");
_Static_assert(sizeof(struct crib_rec_vma) == 64, "crib_rec_vma");
_Static_assert(sizeof(struct crib_rec_inet) == 160, "crib_rec_inet");
_Static_assert(sizeof(struct crib_rec_unix) == 40, "crib_rec_unix");
_Static_assert(sizeof(struct crib_rec_skb) == 72, "crib_rec_skb");
_Static_assert(sizeof(struct crib_rec_end) == 32, "crib_rec_end");
_Static_assert(sizeof(struct crib_rec_error) == 24, "crib_rec_error");
_Static_assert(sizeof(struct crib_args) == 16, "crib_args");
_Static_assert(sizeof(struct crib_restore_args) == 56, "crib_restore_args");

#endif /* CRIB_RECORDS_H */
