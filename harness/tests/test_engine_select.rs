//! Engine selection: BTF feature detection and per-operation plans.

use crib_harness::engine::features::{btf_names, WANTED};
use crib_harness::engine::{
    candidates, DumpEngine, EngineChoice, EngineKind, EngineResult, EngineSet, FilesDump,
    KernelFeatures, Plan,
};
use crib_harness::model::{
    FileRecord, MappingRecord, Operation, PipeRecord, SocketRecord, TaskRecord,
};
use std::collections::HashSet;

/// A minimal BTF blob: header + empty type section + the given strings.
fn btf_with(names: &[&str]) -> Vec<u8> {
    let mut strs = vec![0u8];
    for n in names {
        strs.extend_from_slice(n.as_bytes());
        strs.push(0);
    }
    let mut b = vec![0x9f, 0xeb, 1, 0];
    for v in [24u32, 0, 0, 0, strs.len() as u32] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&strs);
    b
}

fn features(names: &[&str]) -> KernelFeatures {
    let blob = btf_with(names);
    let set: HashSet<&str> = btf_names(&blob).unwrap_or_else(|e| panic!("{e}"));
    KernelFeatures::from_names(&set)
}

#[test]
fn stock_kernel_uses_upstream_where_it_can_and_procfs_for_queues() {
    let f = features(&[
        "bpf_iter__task_file",
        "bpf_iter__task_vma",
        "bpf_task_from_vpid",
    ]);
    assert_eq!(
        candidates(Operation::Files, &f),
        [EngineKind::Upstream, EngineKind::Procfs]
    );
    assert_eq!(
        candidates(Operation::MemoryMap, &f),
        [EngineKind::Upstream, EngineKind::Procfs]
    );
    assert_eq!(candidates(Operation::Queues, &f), [EngineKind::Procfs]);
}

#[test]
fn patched_kernel_prefers_crib_everywhere() {
    let f = features(WANTED);
    for op in Operation::ALL {
        assert_eq!(candidates(op, &f)[0], EngineKind::Crib, "{op:?}");
    }
}

#[test]
fn no_btf_means_procfs_only() {
    let f = KernelFeatures::default();
    for op in Operation::ALL {
        assert_eq!(candidates(op, &f), [EngineKind::Procfs], "{op:?}");
    }
    let plan = Plan::resolve(
        EngineChoice::Auto,
        &Operation::ALL,
        &f,
        &mut EngineSet::default(),
    );
    assert!(plan.steps.iter().all(|s| s.engine == EngineKind::Procfs));
    // Each step says why the BPF engines were not used.
    let mm = plan.step(Operation::MemoryMap).expect("mm step");
    assert_eq!(mm.passed_over.len(), 2, "{mm:?}");
    assert!(
        mm.explain().contains("crib kfuncs not present"),
        "{}",
        mm.explain()
    );
    assert!(
        mm.explain().contains("no task_vma BPF iterator"),
        "{}",
        mm.explain()
    );
}

#[test]
fn a_forced_engine_runs_what_it_implements() {
    let plan = Plan::resolve(
        EngineChoice::Fixed(EngineKind::Upstream),
        &Operation::ALL,
        &KernelFeatures::default(),
        &mut EngineSet::default(),
    );
    assert_eq!(
        plan.engine_for(Operation::Files),
        Some(EngineKind::Upstream)
    );
    assert_eq!(plan.engine_for(Operation::Queues), Some(EngineKind::Procfs));
    let plan = Plan::resolve(
        EngineChoice::Fixed(EngineKind::Crib),
        &Operation::ALL,
        &KernelFeatures::default(),
        &mut EngineSet::default(),
    );
    assert!(plan.steps.iter().all(|s| s.engine == EngineKind::Crib));
}

#[test]
fn malformed_btf_is_an_error_not_a_panic() {
    assert!(btf_names(&[]).is_err());
    assert!(btf_names(&[0x9f, 0xeb, 1, 0, 24, 0, 0]).is_err());
    let mut b = btf_with(&["x"]);
    b[20] = 0xff; // string length far past the end
    assert!(btf_names(&b).expect_err("too long").contains("beyond"));
}

#[test]
fn a_btf_file_is_read_by_its_string_section_and_bad_files_are_named() {
    let dir = std::env::temp_dir().join(format!("crib-features-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let good = dir.join("good.btf");
    std::fs::write(
        &good,
        btf_with(&["bpf_iter__task_file", "bpf_crib_pipe_read"]),
    )
    .expect("write");
    let f = KernelFeatures::from_file(&good).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        f.iter_task_file && f.crib_pipe_read && !f.task_from_vpid,
        "{f:?}"
    );

    let mut cut = btf_with(&["bpf_iter__task_file"]);
    cut.truncate(cut.len() - 3);
    let short = dir.join("short.btf");
    std::fs::write(&short, cut).expect("write");
    let e = KernelFeatures::from_file(&short)
        .expect_err("truncated")
        .to_string();
    assert!(
        e.contains("short.btf") && e.contains("beyond the end"),
        "{e}"
    );

    let junk = dir.join("junk.btf");
    std::fs::write(&junk, [0u8; 40]).expect("write");
    let e = KernelFeatures::from_file(&junk)
        .expect_err("not BTF")
        .to_string();
    assert!(e.contains("junk.btf") && e.contains("magic"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_running_kernel_is_read_from_its_btf() {
    // The host and every VM kernel here have BTF; a kernel without it would
    // make this fail with the reason.
    let f = KernelFeatures::from_file(std::path::Path::new("/sys/kernel/btf/vmlinux"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        f.iter_task_file,
        "every supported kernel has the task_file iterator: {f:?}"
    );
}

/// An upstream engine whose VMA program the verifier refused: it can do
/// everything but the memory map. Never dumps (the plan only asks).
struct RefusedVma;

impl DumpEngine for RefusedVma {
    fn kind(&self) -> EngineKind {
        EngineKind::Upstream
    }
    fn task(&mut self, _: i32) -> EngineResult<TaskRecord> {
        unreachable!("the plan does not dump")
    }
    fn files(&mut self, _: i32) -> EngineResult<FilesDump> {
        unreachable!("the plan does not dump")
    }
    fn memory_map(&mut self, _: i32) -> EngineResult<Vec<MappingRecord>> {
        unreachable!("the plan does not dump")
    }
    fn sockets(&mut self, _: i32, _: &[FileRecord]) -> EngineResult<Vec<SocketRecord>> {
        unreachable!("the plan does not dump")
    }
    fn queues(
        &mut self,
        _: i32,
        _: &[FileRecord],
        _: &mut [SocketRecord],
        _: &mut [PipeRecord],
    ) -> EngineResult<()> {
        unreachable!("the plan does not dump")
    }
    fn check(&self, op: Operation) -> Result<(), String> {
        match op {
            Operation::MemoryMap => Err(
                "program dump_vma was rejected by this kernel's verifier: R1 type=untrusted_ptr_"
                    .into(),
            ),
            _ => Ok(()),
        }
    }
}

#[test]
fn a_refused_program_costs_only_its_own_operation_and_says_why() {
    let f = features(&[
        "bpf_iter__task",
        "bpf_iter__task_file",
        "bpf_iter__task_vma",
    ]);
    let mut set = EngineSet::default();
    set.insert(Box::new(RefusedVma));
    let plan = Plan::resolve(EngineChoice::Auto, &Operation::ALL, &f, &mut set);
    assert_eq!(
        plan.engine_for(Operation::Files),
        Some(EngineKind::Upstream)
    );
    assert_eq!(
        plan.engine_for(Operation::Sockets),
        Some(EngineKind::Upstream)
    );
    let mm = plan.step(Operation::MemoryMap).expect("mm step");
    assert_eq!(mm.engine, EngineKind::Procfs);
    assert_eq!(
        mm.explain(),
        "mm: procfs (crib passed over: crib kfuncs not present in this kernel (missing from its BTF: bpf_task_from_vpid, bpf_crib_file_from_fd, bpf_iter_crib_file_new, bpf_crib_sock_from_file, bpf_iter_crib_skb_new, bpf_iter_task_vma_new); upstream passed over: program dump_vma was rejected by this kernel's verifier: R1 type=untrusted_ptr_)"
    );
}

/// Every iterator target the upstream engine checks is a name detection
/// asks about (else `has_iter` says no on every kernel).
#[test]
fn every_iterator_target_is_detected() {
    for (prog, ctx) in crib_harness::engine::upstream::PROG_TARGETS {
        assert!(WANTED.contains(ctx), "{prog}: {ctx} not in WANTED");
        let f = features(&[ctx]);
        assert!(f.has_iter(ctx), "{prog}: {ctx}");
        assert!(!features(&[]).has_iter(ctx));
    }
}
