//! Report derivation and rendering on a synthetic lane (fixed samples, so
//! every figure is known): ratios, break-even, procfs fallback for gaps,
//! target checks, and snapshots of the table and the markdown.

#![allow(clippy::unwrap_used)]

use super::report::{lane_report, Machine, Report};
use super::schema::{
    EngineRun, LaneRun, MmReaderRun, OpRun, ProfileEntry, Records, SizeRun, Syscalls,
};
use super::{markdown, table};
use std::collections::BTreeMap;

fn sys(total: u64, bytes: u64) -> Option<Syscalls> {
    Some(Syscalls {
        total,
        bytes_to_user: bytes,
        by_name: [
            ("read".to_string(), total * 3 / 4),
            ("close".to_string(), total / 4),
        ]
        .into_iter()
        .filter(|(_, c)| *c > 0)
        .collect(),
    })
}

/// An engine whose every rep takes `per_op` ns per operation (scaled by n).
fn engine(name: &str, n: u64, per_op: [u64; 5], sc: [u64; 5], load: Option<u64>) -> EngineRun {
    let names = ["task", "files", "mm", "sockets", "queues"];
    let mut ops = BTreeMap::new();
    for (i, op) in names.iter().enumerate() {
        ops.insert(
            op.to_string(),
            OpRun {
                // Three reps with a small spread around the value.
                ns: vec![
                    per_op[i] * n,
                    per_op[i] * n * 11 / 10,
                    per_op[i] * n * 9 / 10,
                ],
                unsupported: None,
                unavailable_items: 0,
                syscalls: sys(sc[i] * n, sc[i] * n * 100),
            },
        );
    }
    let total_ns = (0..3)
        .map(|r| ops.values().map(|o: &OpRun| o.ns[r]).sum())
        .collect();
    let total_sys: u64 = sc.iter().map(|s| s * n).sum();
    EngineRun {
        engine: name.into(),
        unavailable: None,
        load_ns: load
            .map(|l| vec![l, l + 10, l - 10])
            .unwrap_or_else(|| vec![300, 200, 250]),
        core_btf: if name == "procfs" {
            Vec::new()
        } else {
            vec![
                "open 1: built in 41.0 ms, then cached".into(),
                "open 3: read from the cache".into(),
            ]
        },
        first_dump_ns: Some(per_op.iter().sum::<u64>() * n * 2),
        total_ns,
        ops,
        records: Records {
            files: n,
            mappings: n,
            sockets: 16,
            pipes: n / 10,
            queued_bytes: 66_368,
        },
        syscalls: sys(total_sys, total_sys * 100),
        load_syscalls: load.map(|_| Syscalls {
            total: 1495,
            ..Default::default()
        }),
        profile: vec![ProfileEntry {
            symbol: "copy_from_kernel_nofault".into(),
            self_pct: 19.1,
            children_pct: 19.9,
        }],
        open_profile: vec![ProfileEntry {
            symbol: "bpf_check".into(),
            self_pct: 0.2,
            children_pct: 61.5,
        }],
        criu_stats: None,
    }
}

fn unavailable(name: &str, why: &str) -> EngineRun {
    EngineRun {
        engine: name.into(),
        unavailable: Some(why.into()),
        load_ns: vec![],
        core_btf: Vec::new(),
        first_dump_ns: None,
        total_ns: vec![],
        ops: BTreeMap::new(),
        records: Records::default(),
        syscalls: None,
        load_syscalls: None,
        profile: Vec::new(),
        open_profile: Vec::new(),
        criu_stats: None,
    }
}

fn size(n: u64) -> SizeRun {
    let procfs = engine(
        "procfs",
        n,
        [10, 2000, 500, 300, 400],
        [1, 8, 1, 4, 3],
        None,
    );
    let crib = engine(
        "crib",
        n,
        [5, 100, 20, 10, 10],
        [0, 0, 0, 0, 0],
        Some(500_000),
    );
    let mut crib = crib;
    // crib: one syscall per op regardless of n (a PROG_RUN).
    for o in crib.ops.values_mut() {
        o.syscalls = sys(1, 0);
    }
    crib.syscalls = sys(5, 0);
    let mut upstream = engine(
        "upstream",
        n,
        [5, 150, 120, 900, 1],
        [0, 0, 0, 1, 0],
        Some(100_000_000),
    );
    let q = upstream.ops.get_mut("queues").unwrap();
    // Not one queue read: 2 per socket + the pipes.
    q.unavailable_items = 2 * 16 + n / 10;
    q.syscalls = sys(0, 0);
    SizeRun {
        n,
        socket_groups: 4,
        target_fds: n + 37,
        target_maps: n + 30,
        engines: vec![
            crib,
            upstream,
            procfs,
            unavailable("criu", "`criu check` fails on this kernel (6.18): vdso"),
        ],
        mm_readers: vec![
            MmReaderRun {
                reader: "procmap_query".into(),
                unavailable: None,
                ns: vec![50 * n, 55 * n, 45 * n],
                vmas: n + 30,
                syscalls: Some(n + 33),
            },
            MmReaderRun {
                reader: "maps".into(),
                unavailable: None,
                ns: vec![20 * n, 22 * n, 18 * n],
                vmas: n + 30,
                syscalls: Some(n / 800 + 3),
            },
        ],
        service: Some(super::schema::ServiceRun {
            engine: "auto".into(),
            unavailable: None,
            served_ns: vec![150 * n + 1_000_000, 160 * n + 1_000_000],
            served_engines: "task=crib files=crib mm=crib sockets=crib queues=crib".into(),
            cold_ns: vec![600_000_000 + 200 * n],
            cold_unavailable: None,
            procfs_ns: vec![3210 * n],
        }),
    }
}

fn lane() -> LaneRun {
    LaneRun {
        lane: "vm".into(),
        kernel: "6.12.117-crib".into(),
        emulated: true,
        sizes: vec![size(100), size(10_000)],
        notes: vec!["criu: `criu check` fails on this kernel (6.18): vdso".into()],
    }
}

fn report() -> Report {
    Report {
        generated: "2026-11-25 09:00 UTC".into(),
        machine: Machine {
            cpu: "AMD EPYC".into(),
            cores: 2,
            kernel: "6.18.44".into(),
            memory_gib: 24.0,
            os: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        quick: false,
        command: "cargo xtask bench dump".into(),
        lanes: vec![lane_report(lane())],
        skipped: vec!["host: not requested (--no-host)".into()],
    }
}

#[test]
fn ratios_and_break_even() {
    let r = lane_report(lane());
    let big = r.sizes.iter().find(|s| s.n == 10_000).unwrap();
    let crib = big.engines.iter().find(|e| e.engine == "crib").unwrap();
    let v = crib.vs_procfs.clone().unwrap();
    // files: 2000 vs 100 per fd -> 20x; mm: 500 vs 20 -> 25x.
    assert!((v.files_speedup.unwrap() - 20.0).abs() < 1e-9);
    assert!((v.mm_speedup.unwrap() - 25.0).abs() < 1e-9);
    // files syscalls: 8 * 10k vs 1.
    assert_eq!(v.files_syscall_ratio, Some(80_000.0));
    // Whole dump: procfs 3210 ns * n, crib 145 ns * n; load 0.5 ms.
    let per_dump_gain: f64 = (3210.0 - 145.0) * 10_000.0;
    assert_eq!(
        v.break_even_dumps,
        Some((500_000.0 / per_dump_gain).floor() as u64 + 1)
    );
    assert!(r.targets.iter().all(|t| t.met), "{:?}", r.targets);
    // procfs compares to itself.
    let p = big.engines.iter().find(|e| e.engine == "procfs").unwrap();
    assert_eq!(p.vs_procfs.clone().unwrap().dump_speedup, Some(1.0));
}

#[test]
fn gaps_take_procfs_cost() {
    let r = lane_report(lane());
    let small = &r.sizes[0];
    let up = small
        .engines
        .iter()
        .find(|e| e.engine == "upstream")
        .unwrap();
    assert_eq!(up.via_procfs, vec!["queues".to_string()]);
    // Own ops (5+150+120+900) + procfs queues (400), per n = 100, median rep.
    assert_eq!(
        up.dump.unwrap().median,
        (5 + 150 + 120 + 900 + 400) as f64 * 100.0
    );
    // Syscalls: own sockets (1 * n) + procfs queues (3 * n).
    assert_eq!(up.syscalls, Some(400));
    assert!(up.gaps[0].starts_with("queues: 42 item(s)"));
    let crib = small.engines.iter().find(|e| e.engine == "crib").unwrap();
    assert!(crib.via_procfs.is_empty());
}

#[test]
fn partial_ops_stay_the_engines_own() {
    let mut l = lane();
    // crib reads the socket queues but not the 10 pipe buffers.
    let crib = l.sizes[0]
        .engines
        .iter_mut()
        .find(|e| e.engine == "crib")
        .unwrap();
    crib.ops.get_mut("queues").unwrap().unavailable_items = 10;
    let r = lane_report(l);
    let crib = r.sizes[0]
        .engines
        .iter()
        .find(|e| e.engine == "crib")
        .unwrap();
    assert!(crib.via_procfs.is_empty());
    assert_eq!(
        crib.gaps,
        vec!["queues: 10 item(s) not readable".to_string()]
    );
    assert_eq!(
        crib.dump.unwrap().median,
        (5 + 100 + 20 + 10 + 10) as f64 * 100.0
    );
}

#[test]
fn missing_crib_fails_targets() {
    let mut l = lane();
    for s in &mut l.sizes {
        s.engines.retain(|e| e.engine != "crib");
    }
    let r = lane_report(l);
    assert!(r.targets.iter().all(|t| !t.met && t.got.is_none()));
}

#[test]
fn missed_target_is_reported() {
    let mut l = lane();
    let crib = l.sizes[1]
        .engines
        .iter_mut()
        .find(|e| e.engine == "crib")
        .unwrap();
    // crib files as slow as procfs / 2.
    crib.ops.get_mut("files").unwrap().ns = vec![10_000_000; 3];
    let r = lane_report(l);
    let t = r
        .targets
        .iter()
        .find(|t| t.what.contains("procfs speed, files"))
        .unwrap();
    assert!(!t.met);
    assert_eq!(t.got, Some(2.0));
}

#[test]
fn unread_queue_items_and_procmap_query_targets() {
    let r = lane_report(lane());
    let find = |what: &str| r.targets.iter().find(|t| t.what.contains(what)).unwrap();
    // PROCMAP_QUERY 50 ns vs crib mm 20 ns per VMA.
    assert!((find("PROCMAP_QUERY").got.unwrap() - 2.5).abs() < 1e-9);
    let unread = find("leaves unread");
    assert_eq!((unread.got, unread.met), (Some(0.0), true));
    let mut l = lane();
    let crib = l.sizes[1]
        .engines
        .iter_mut()
        .find(|e| e.engine == "crib")
        .unwrap();
    crib.ops.get_mut("queues").unwrap().unavailable_items = 5;
    let r = lane_report(l);
    let unread = r
        .targets
        .iter()
        .find(|t| t.what.contains("leaves unread"))
        .unwrap();
    assert_eq!((unread.got, unread.met), (Some(5.0), false));
    assert_eq!(unread.rule(), "<= 0");
}

#[test]
fn markdown_snapshot() {
    let r = report();
    let plots = |lane: &str| vec![format!("`target/bench/dump-{lane}-fds.svg`")];
    insta::assert_snapshot!(markdown::render(&r, &plots));
}

#[test]
fn table_snapshot() {
    insta::assert_snapshot!(table::render(&report()));
}

#[test]
fn report_json_round_trips() {
    let r = report();
    let text = serde_json::to_string(&r).unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn default_args_match_the_command_line_defaults() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: super::Args,
    }
    let parsed = <Cli as clap::Parser>::parse_from(["bench-dump"]).a;
    let d = super::Args::default();
    assert_eq!(parsed.vm_kernel, d.vm_kernel);
    assert_eq!(
        (
            parsed.quick,
            parsed.no_vm,
            parsed.no_host,
            parsed.profile,
            parsed.no_strace,
            parsed.docs,
            parsed.no_docs
        ),
        (
            d.quick,
            d.no_vm,
            d.no_host,
            d.profile,
            d.no_strace,
            d.docs,
            d.no_docs
        )
    );
    assert_eq!(parsed.reps, d.reps);
    assert!(parsed.from_json.is_none() && d.from_json.is_none());
}

#[test]
fn refused_op_has_no_syscall_ratio() {
    let mut l = lane();
    let crib = l.sizes[1]
        .engines
        .iter_mut()
        .find(|e| e.engine == "crib")
        .unwrap();
    let files = crib.ops.get_mut("files").unwrap();
    files.ns.clear();
    files.unsupported = Some("ring buffer full".into());
    let r = lane_report(l);
    let crib = r.sizes[1]
        .engines
        .iter()
        .find(|e| e.engine == "crib")
        .unwrap();
    let v = crib.vs_procfs.clone().unwrap();
    assert_eq!(v.files_syscall_ratio, None);
    assert_eq!(v.files_speedup, None);
    assert_eq!(crib.via_procfs, vec!["files".to_string()]);
    let t = r
        .targets
        .iter()
        .find(|t| t.what.contains("syscalls, files"))
        .unwrap();
    assert!(!t.met && t.got.is_none());
}
