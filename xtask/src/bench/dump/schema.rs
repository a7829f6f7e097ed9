//! The measurement format `crib-bench suite` writes and `cargo xtask bench
//! dump` reads (one source: the bench binary includes this file by path).
//! Raw samples are kept so the report can be recomputed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One lane (host kernel, or the patched kernel in the VM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneRun {
    /// `host` or `vm`.
    pub lane: String,
    /// `uname -r` where the measurement ran.
    pub kernel: String,
    /// Ran under emulation (absolute times mean little).
    pub emulated: bool,
    pub sizes: Vec<SizeRun>,
    /// Engines that could not be measured at all, and why.
    pub notes: Vec<String>,
}

/// Every engine against one prepared process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeRun {
    /// Requested open fds and mappings.
    pub n: u64,
    /// Requested socket groups (TCP pair, UDP pair, unix stream + dgram pairs).
    pub socket_groups: u64,
    /// What the target reported once ready (its own /proc).
    pub target_fds: u64,
    pub target_maps: u64,
    pub engines: Vec<EngineRun>,
    /// Memory-map readers that are not engines (PROCMAP_QUERY, maps text),
    /// against the same process.
    #[serde(default)]
    pub mm_readers: Vec<MmReaderRun>,
    /// Dumps per second: resident server, procfs, cold `crib dump`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceRun>,
}

/// `crib serve` against a cold `crib dump` and procfs (`crib-bench`'s
/// `service`), whole dumps of the same process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceRun {
    /// Engine choice of the requests (`auto`: the best per operation).
    pub engine: String,
    /// Why the server could not be measured.
    pub unavailable: Option<String>,
    /// ns per served request (request, dump, image bytes back), engines
    /// loaded by an untimed first request.
    pub served_ns: Vec<u64>,
    /// `op=engine` pairs the server used.
    pub served_engines: String,
    /// ns per cold `crib dump` process (exec, load, dump, image written).
    pub cold_ns: Vec<u64>,
    pub cold_unavailable: Option<String>,
    /// ns per procfs dump in the bench process (whole dump, no image).
    pub procfs_ns: Vec<u64>,
}

/// One way of reading the memory map outside the engines
/// (`crib-bench`'s `mmreaders`), timed like an engine's `mm` operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MmReaderRun {
    /// `procmap_query` or `maps`.
    pub reader: String,
    /// Why it was not measured (e.g. a kernel before 6.11 for PROCMAP_QUERY).
    pub unavailable: Option<String>,
    /// ns per warm read.
    pub ns: Vec<u64>,
    /// VMAs one read found.
    pub vmas: u64,
    /// Syscalls of one read (counted by the reader itself).
    pub syscalls: Option<u64>,
}

/// One engine on one prepared process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineRun {
    /// `crib`, `upstream`, `procfs` or `criu`.
    pub engine: String,
    /// Why the engine was not measured (then everything else is empty).
    pub unavailable: Option<String>,
    /// Engine open (program load + verification for BPF engines), ns per open.
    pub load_ns: Vec<u64>,
    /// The trimmed CO-RE BTF (harness engine::core_btf) at the first open
    /// and at the last (`built in 41.0 ms, then cached`, `read from the
    /// cache`, `not used: ...`); BPF engines only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub core_btf: Vec<String>,
    /// The first dump after opening (page cache, BTF, maps still cold), ns.
    pub first_dump_ns: Option<u64>,
    /// Whole dump (the supported operations), ns per warm repetition.
    pub total_ns: Vec<u64>,
    /// Per operation (`task`, `files`, `mm`, `sockets`, `queues`).
    pub ops: BTreeMap<String, OpRun>,
    /// Record counts of the last dump (they must not change between reps).
    pub records: Records,
    /// Syscalls of one warm dump (a separate run under strace).
    pub syscalls: Option<Syscalls>,
    /// Syscalls of one engine open (program load), same run.
    pub load_syscalls: Option<Syscalls>,
    /// Where the CPU time goes (`--profile`: perf samples of one load and
    /// repeated warm dumps), hottest first.
    #[serde(default)]
    pub profile: Vec<ProfileEntry>,
    /// Where an engine open goes (`--profile`, BPF engines: perf samples of
    /// repeated opens): the open's steps by inclusive share, then the
    /// hottest symbols.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_profile: Vec<ProfileEntry>,
    /// `criu` only: CRIU's own statistics of the last dump (stats-dump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criu_stats: Option<CriuStats>,
}

/// CRIU's `stats-dump` image of one `criu dump` (decoded with crit):
/// where its time goes, memory separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriuStats {
    /// Freezing the tree (cgroup freezer or ptrace seize), us.
    pub freezing_us: u64,
    /// The tree stayed frozen (everything CRIU reads happens here), us.
    pub frozen_us: u64,
    /// Collecting memory pages (parasite, pagemap), us.
    pub memdump_us: u64,
    /// Writing the pages to the images, us.
    pub memwrite_us: u64,
    pub pages_scanned: u64,
    pub pages_written: u64,
}

/// One symbol of a perf profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    pub symbol: String,
    /// Share of samples in this symbol itself, percent.
    pub self_pct: f64,
    /// Share of samples in it or its callees, percent.
    pub children_pct: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpRun {
    /// ns per warm repetition; empty when unsupported.
    pub ns: Vec<u64>,
    /// Set when the engine refused the operation.
    pub unsupported: Option<String>,
    /// Items the engine marked `Unavailable` (e.g. queues it cannot read).
    pub unavailable_items: u64,
    pub syscalls: Option<Syscalls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    pub files: u64,
    pub mappings: u64,
    pub sockets: u64,
    pub pipes: u64,
    /// Queue bytes captured (socket queues + pipe buffers).
    pub queued_bytes: u64,
}

/// Counted from an strace of the region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Syscalls {
    pub total: u64,
    /// Bytes the kernel copied to user buffers by data-returning calls
    /// (read family, recv family, getdents64, readlink): the sum of their
    /// return values. Ring buffer records are read from shared memory and
    /// are not counted here.
    pub bytes_to_user: u64,
    pub by_name: BTreeMap<String, u64>,
}
